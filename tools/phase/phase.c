/*
 * phase: the heap-sizing phase program. Grows to LIVE_MIB of live objects,
 * drops to KEEP_MIB, then keeps allocating short-lived objects; prints the
 * process's resident set size (from /proc/self/statm) over time, one
 * "ms rss_kib phase" line per sample on stdout, for tools/phase-rss-plot.sh.
 *
 * Built against bench.h like the benchmarks (rss_phase_<plan> with toyvm,
 * rss_phase_boehm with Boehm GC), but not one of them: it measures memory
 * over time, not speed.
 */
#include "bench.h"

#include <stdio.h>
#include <unistd.h>

#define USAGE "phase [LIVE_MIB [KEEP_MIB [AFTER_MIB]]]   (default 256 8 2048)"
#define PAYLOAD 4000 /* small objects, below the large-object threshold */
#define SLOTS 65535

static double start;

static void sample(const char *phase) {
    FILE *f = fopen("/proc/self/statm", "r");
    unsigned long size = 0, resident = 0;
    if (!f || fscanf(f, "%lu %lu", &size, &resident) != 2)
        bench_wrong("cannot read /proc/self/statm");
    fclose(f);
    printf("%.1f %lu %s\n", (bench_now() - start) * 1000.0, resident * (unsigned long)sysconf(_SC_PAGESIZE) / 1024,
           phase);
}

int main(int argc, char **argv) {
    if (argc > 4)
        bench_usage(USAGE);
    long live_mib = argc > 1 ? bench_arg(argv[1], 1, 4096, USAGE) : 256;
    long keep_mib = argc > 2 ? bench_arg(argv[2], 1, 4096, USAGE) : 8;
    long after_mib = argc > 3 ? bench_arg(argv[3], 1, 1 << 20, USAGE) : 2048;
    size_t per_slot = (size_t)(live_mib << 20) / SLOTS; /* bytes per slot: a chain of objects */
    size_t chain = per_slot / PAYLOAD > 0 ? per_slot / PAYLOAD : 1;
    size_t keep_slots = (size_t)(keep_mib << 20) / (chain * PAYLOAD) + 1;
    if (keep_slots > SLOTS)
        keep_slots = SLOTS;

    start = bench_now();
    bench_vm *vm = bench_vm_start();
    bench_thread *t = bench_thread_attach(vm);
    bench_begin(vm);
    BENCH_ROOTS(t, f, 2);
    bench_root_set(t, f, 0, bench_new_object(t, SLOTS, 0));
    /* Grow: every slot holds a chain of `chain` objects linked by their one reference. */
    for (size_t s = 0; s < SLOTS; s++) {
        for (size_t i = 0; i < chain; i++) {
            bench_ref o = bench_new_object(t, 1, PAYLOAD);
            ((uint64_t *)bench_obj_payload(o))[0] = s;
            bench_ref table = bench_root(t, f, 0);
            bench_obj_set_ref(t, o, 0, bench_obj_ref(table, (unsigned)s));
            bench_obj_set_ref(t, table, (unsigned)s, o);
        }
        if (s % 1024 == 0)
            sample("grow");
    }
    sample("grow");
    /* Drop to the kept slots. */
    bench_ref table = bench_root(t, f, 0);
    for (size_t s = keep_slots; s < SLOTS; s++) {
        for (bench_ref o = bench_obj_ref(table, (unsigned)s); !bench_is_null(o);) {
            bench_ref next = bench_obj_ref(o, 0);
            bench_free(t, o);
            o = next;
        }
        bench_obj_set_ref(t, table, (unsigned)s, bench_null());
    }
    sample("drop");
    /* Keep allocating short-lived objects. */
    size_t n = (size_t)(after_mib << 20) / PAYLOAD;
    for (size_t i = 0; i < n; i++) {
        bench_ref o = bench_new_object(t, 0, PAYLOAD);
        ((uint64_t *)bench_obj_payload(o))[0] = i;
        bench_free(t, o);
        if (i % 2048 == 0)
            sample("steady");
    }
    sample("steady");
    for (size_t s = 0; s < keep_slots; s++) {
        table = bench_root(t, f, 0);
        for (bench_ref o = bench_obj_ref(table, (unsigned)s); !bench_is_null(o); o = bench_obj_ref(o, 0))
            if (((uint64_t *)bench_obj_payload(o))[0] != s)
                bench_wrong("a kept object changed");
    }
    BENCH_ROOTS_POP(t, f, 2);
    bench_end(vm);
    bench_thread_detach(t);
    bench_vm_finish(vm);
    return 0;
}
