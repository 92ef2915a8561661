/*
 * churn: medium and large objects (300 B to 64 KiB) in a rotating live set.
 *
 * A table holds LIVE objects. Each step allocates an object of a random size
 * (three in four medium, 300 B to 8 KiB; one in four large, 8 KiB to
 * 64 KiB; roughly log-uniform within each), fills its payload with a pattern
 * derived from its serial number, and replaces a random entry of the table,
 * so lifetimes vary and the heap fragments. The replaced object's pattern is
 * spot-checked before it is dropped; every eighth of the run and at the end
 * every live payload is checked word by word and summed against the value
 * computed from the serial numbers. This exercises medium-object (overflow)
 * allocation, size classes and the large-object space.
 */
#include "bench.h"

#define USAGE "churn [ALLOCATIONS_IN_THOUSANDS [LIVE_OBJECTS]]   (default 200 2048)"

/** @brief Word @p i of the payload of the object with serial @p serial. */
static inline uint64_t churn_word(uint64_t serial, size_t i) {
    return serial * 0x9e3779b97f4a7c15ull + (uint64_t)i;
}

/** @brief A payload size in bytes, a multiple of 8. */
static size_t churn_size(bench_rng *rng) {
    unsigned bits = bench_rng_below(rng, 4) != 0 ? 8u + (unsigned)bench_rng_below(rng, 5)   /* 256 .. 8 Ki */
                                                 : 13u + (unsigned)bench_rng_below(rng, 3); /* 8 Ki .. 64 Ki */
    size_t size = ((size_t)1 << bits) + (size_t)bench_rng_below(rng, (uint64_t)1 << bits);
    if (size < 300)
        size = 300;
    if (size > 65536)
        size = 65536;
    return (size + 7u) & ~(size_t)7u;
}

/** @brief Check the first, middle and last words of a payload. */
static bool churn_spot_check(bench_ref o, uint64_t serial, size_t bytes) {
    const uint64_t *w = (const uint64_t *)bench_obj_payload(o);
    size_t n = bytes / 8;
    return w[0] == churn_word(serial, 0) && w[n / 2] == churn_word(serial, n / 2) &&
           w[n - 1] == churn_word(serial, n - 1);
}

/** @brief Check every live payload; adds their words to @p sum. */
static bool churn_full_check(bench_ref table, size_t live, const uint64_t *serials, const size_t *sizes,
                             uint64_t *sum) {
    for (size_t s = 0; s < live; s++) {
        bench_ref o = bench_obj_ref(table, (unsigned)s);
        if (bench_is_null(o)) {
            if (serials[s] != 0)
                return false;
            continue;
        }
        const uint64_t *w = (const uint64_t *)bench_obj_payload(o);
        for (size_t i = 0; i < sizes[s] / 8; i++) {
            if (w[i] != churn_word(serials[s], i))
                return false;
            *sum += w[i];
        }
    }
    return true;
}

int main(int argc, char **argv) {
    if (argc > 3)
        bench_usage(USAGE);
    long allocations = (argc > 1 ? bench_arg(argv[1], 1, 100000000, USAGE) : 200) * 1000L;
    size_t live = (size_t)(argc > 2 ? bench_arg(argv[2], 1, 65535, USAGE) : 2048);

    uint64_t *serials = calloc(live, sizeof *serials);
    size_t *sizes = calloc(live, sizeof *sizes);
    if (serials == NULL || sizes == NULL)
        bench_oom();
    bench_rng rng = {0x636875726e ^ (uint64_t)live};
    bool ok = true;
    uint64_t allocated_bytes = 0;

    bench_vm *vm = bench_vm_start();
    bench_thread *t = bench_thread_attach(vm);
    bench_begin(vm);

    BENCH_ROOTS(t, f, 1);
    bench_root_set(t, f, 0, bench_new_object(t, (unsigned)live, 0));
    long checkpoint = allocations / 8 > 0 ? allocations / 8 : 1;

    for (long k = 1; k <= allocations && ok; k++) {
        size_t slot = (size_t)bench_rng_below(&rng, live);
        size_t bytes = churn_size(&rng);
        bench_ref obj = bench_new_object(t, 0, bytes);
        uint64_t *w = (uint64_t *)bench_obj_payload(obj);
        for (size_t i = 0; i < bytes / 8; i++)
            w[i] = churn_word((uint64_t)k, i);
        allocated_bytes += bytes;

        bench_ref table = bench_root(t, f, 0);
        bench_ref old = bench_obj_ref(table, (unsigned)slot);
        if (!bench_is_null(old)) {
            ok = churn_spot_check(old, serials[slot], sizes[slot]);
            bench_free(t, old);
        }
        bench_obj_set_ref(t, table, (unsigned)slot, obj);
        serials[slot] = (uint64_t)k;
        sizes[slot] = bytes;

        if (k % checkpoint == 0) {
            uint64_t sum = 0;
            ok = ok && churn_full_check(bench_root(t, f, 0), live, serials, sizes, &sum);
        }
    }

    uint64_t sum = 0, expected = 0;
    ok = ok && churn_full_check(bench_root(t, f, 0), live, serials, sizes, &sum);
    for (size_t s = 0; s < live; s++)
        for (size_t i = 0; serials[s] != 0 && i < sizes[s] / 8; i++)
            expected += churn_word(serials[s], i);
    ok = ok && sum == expected;

    for (size_t s = 0; s < live; s++)
        bench_free(t, bench_obj_ref(bench_root(t, f, 0), (unsigned)s));
    bench_free(t, bench_root(t, f, 0));
    BENCH_ROOTS_POP(t, f, 1);
    bench_end(vm);
    bench_thread_detach(t);
    bench_vm_finish(vm);
    free(serials);
    free(sizes);

    if (!ok)
        bench_wrong("a live payload does not hold its pattern");
    printf("churn: %ld allocations, %.1f MiB of payload, %zu live objects: checksum %016llx ok\n", allocations,
           (double)allocated_bytes / 1048576.0, live, (unsigned long long)sum);
    return 0;
}
