/* Allocation correctness, run on every plan: alignment, zeroed memory, no
 * overlap, contents preserved, every allocation kind, large objects, the
 * options plumbing, and bind/unbind. The heap is large enough that no
 * collection runs while addresses are compared. */
#include "testutil.h"
#include "toyvm.h"

#include "mdn_check.h"
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

static mdn_heap *heap;
static toyvm_thread *t;

static void setup(void) {
    mdn_options o;
    mdn_options_init(&o);
    o.heap_size = (size_t)512 << 20;
    o.gc_threads = 1;
    mdn_error err;
    heap = mdn_heap_create(&o, &err);
    ck_assert_msg(heap != NULL, "%s", err.message);
    t = toyvm_thread_attach(heap);
}

static void teardown(void) {
    toyvm_thread_detach(t);
    mdn_heap_destroy(heap);
}

static uint64_t collections(void) {
    mdn_stats st;
    mdn_stats_get(heap, &st);
    return st.collections;
}

typedef struct span {
    uintptr_t start, end;
} span;

static int by_start(const void *a, const void *b) {
    const span *x = a, *y = b;
    return x->start < y->start ? -1 : x->start > y->start;
}

START_TEST(plan_name_matches_build) { ck_assert_str_eq(mdn_plan_name(), MDN_TEST_PLAN); }
END_TEST

START_TEST(small_objects_aligned_zeroed_disjoint) {
    enum { N = 20000 };
    span *spans = malloc(N * sizeof *spans);
    uint64_t seed = mdn_test_seed("small_objects_aligned_zeroed_disjoint");
    uint64_t before = collections();
    for (int i = 0; i < N; i++) {
        size_t bytes = 1 + mdn_test_rand_below(&seed, 600);
        unsigned char *p = mdn_alloc(t->mutator, bytes, 8, MDN_ALLOC_DEFAULT);
        ck_assert_ptr_nonnull(p);
        ck_assert_uint_eq((uintptr_t)p % MDN_MIN_ALIGN, 0);
        size_t nonzero = bytes;
        for (size_t k = 0; k < bytes && nonzero == bytes; k++)
            if (p[k] != 0)
                nonzero = k;
        ck_assert_msg(nonzero == bytes, "byte %zu of a %zu-byte allocation is not zero", nonzero, bytes);
        /* Make it a valid toyvm object so collecting plans can walk it. */
        size_t size = (bytes + 7) & ~(size_t)7;
        *(uint64_t *)p = toyvm_make_header(9, 0, size);
        memset(p + 8, (int)(i & 0xff), size > 8 ? size - 8 : 0);
        spans[i] = (span){(uintptr_t)p, (uintptr_t)p + size};
    }
    ck_assert_uint_eq(collections(), before);
    qsort(spans, N, sizeof *spans, by_start);
    for (int i = 1; i < N; i++)
        ck_assert_msg(spans[i - 1].end <= spans[i].start, "objects overlap at %p", (void *)spans[i].start);
    free(spans);
}
END_TEST

START_TEST(alignments_are_honoured) {
    size_t aligns[] = {1, 2, 4, 8, 16, 32, 64, 128, 256, 1024, 4096};
    for (size_t i = 0; i < sizeof aligns / sizeof *aligns; i++) {
        for (int rep = 0; rep < 5; rep++) {
            void *p = mdn_alloc(t->mutator, 24, aligns[i], MDN_ALLOC_DEFAULT);
            ck_assert_ptr_nonnull(p);
            ck_assert_msg((uintptr_t)p % (aligns[i] < 8 ? 8 : aligns[i]) == 0, "align %zu gave %p", aligns[i], p);
            *(uint64_t *)p = toyvm_make_header(9, 0, 24);
        }
    }
}
END_TEST

START_TEST(contents_preserved_across_allocations) {
    enum { N = 5000 };
    size_t base = t->root_count;
    for (int i = 0; i < N; i++) {
        mdn_objref o = toyvm_alloc(t, 3, 1, 16, MDN_ALLOC_DEFAULT);
        ck_assert(!mdn_objref_is_null(o));
        uint64_t *pay = toyvm_payload(o);
        pay[0] = (uint64_t)i * 2654435761u;
        pay[1] = ~(uint64_t)i;
        if (i > 0)
            toyvm_set_ref(t, o, 0, toyvm_root(t, base + (size_t)i - 1));
        toyvm_push_root(t, o);
    }
    for (int i = 0; i < N; i++) {
        mdn_objref o = toyvm_root(t, base + (size_t)i);
        ck_assert_uint_eq(toyvm_type(o), 3);
        ck_assert_uint_eq(toyvm_nrefs(o), 1);
        uint64_t *pay = toyvm_payload(o);
        ck_assert_uint_eq(pay[0], (uint64_t)i * 2654435761u);
        ck_assert_uint_eq(pay[1], ~(uint64_t)i);
        if (i > 0)
            ck_assert(mdn_objref_eq(toyvm_get_ref(o, 0), toyvm_root(t, base + (size_t)i - 1)));
    }
    toyvm_pop_roots(t, N);
}
END_TEST

START_TEST(every_kind_allocates) {
    mdn_alloc_kind kinds[] = {MDN_ALLOC_DEFAULT, MDN_ALLOC_NONMOVING, MDN_ALLOC_IMMORTAL, MDN_ALLOC_LARGE};
    for (size_t k = 0; k < 4; k++) {
        for (int i = 0; i < 100; i++) {
            mdn_objref o = toyvm_alloc(t, 4, 2, 40, kinds[k]);
            ck_assert(!mdn_objref_is_null(o));
            ck_assert_uint_eq(toyvm_size(o), toyvm_object_bytes(2, 40));
            ck_assert(mdn_objref_is_null(toyvm_get_ref(o, 0)));
            ck_assert(mdn_objref_is_null(toyvm_get_ref(o, 1)));
        }
    }
}
END_TEST

START_TEST(large_objects_zeroed_page_aligned_disjoint) {
    enum { N = 64 };
    span spans[N];
    uint64_t seed = mdn_test_seed("large_objects");
    for (int i = 0; i < N; i++) {
        size_t payload = 8192 + mdn_test_rand_below(&seed, 200000);
        if (i == 7)
            payload = (size_t)6 << 20; /* larger than a chunk */
        mdn_objref o = toyvm_alloc(t, 5, 0, payload, MDN_ALLOC_DEFAULT);
        ck_assert(!mdn_objref_is_null(o));
        unsigned char *pay = toyvm_payload(o);
        for (size_t k = 0; k < payload; k += 511)
            ck_assert(pay[k] == 0);
        memset(pay, i + 1, toyvm_payload_bytes(o));
        spans[i] = (span){o.value, o.value + toyvm_size(o)};
        toyvm_push_root(t, o);
    }
    for (int i = 0; i < N; i++) {
        mdn_objref o = toyvm_root(t, t->root_count - N + (size_t)i);
        unsigned char *pay = toyvm_payload(o);
        size_t n = toyvm_payload_bytes(o);
        ck_assert(pay[0] == (unsigned char)(i + 1) && pay[n / 2] == (unsigned char)(i + 1) &&
                  pay[n - 1] == (unsigned char)(i + 1));
    }
    qsort(spans, N, sizeof *spans, by_start);
    for (int i = 1; i < N; i++)
        ck_assert(spans[i - 1].end <= spans[i].start);
    toyvm_pop_roots(t, N);
}
END_TEST

START_TEST(stats_count_allocation) {
    mdn_stats before, after;
    mdn_stats_get(heap, &before);
    for (int i = 0; i < 10000; i++)
        toyvm_alloc(t, 1, 0, 24, MDN_ALLOC_DEFAULT);
    mdn_stats_get(heap, &after);
    ck_assert_uint_ge(after.bytes_allocated, before.bytes_allocated);
    ck_assert_uint_eq(after.heap_size, (size_t)512 << 20);
    ck_assert_uint_ge(after.peak_committed_bytes, after.committed_bytes);
    ck_assert_uint_gt(after.committed_bytes, 0);
}
END_TEST

START_TEST(options_reach_the_heap) {
    const mdn_options *o = mdn_heap_options(heap);
    ck_assert_uint_eq(o->heap_size, (size_t)512 << 20);
    ck_assert_uint_eq(o->gc_threads, 1);
    mdn_options def;
    mdn_options_init(&def);
    def.gc_threads = 0; /* resolved to the number of cores */
    mdn_heap *h = mdn_heap_create(&def, NULL);
    ck_assert_ptr_nonnull(h);
    ck_assert_uint_ge(mdn_heap_options(h)->gc_threads, 1);
    mdn_heap_destroy(h);
}
END_TEST

START_TEST(bad_options_are_refused_by_heap_create) {
    mdn_options o;
    mdn_options_init(&o);
    o.heap_size = 12; /* below the minimum */
    mdn_error err;
    ck_assert_ptr_null(mdn_heap_create(&o, &err));
    ck_assert_int_eq(err.code, MDN_ERR_OPTION);
    ck_assert_ptr_nonnull(strstr(err.message, "heap"));
}
END_TEST

typedef struct thread_arg {
    mdn_heap *heap;
    int id;
    int ok;
} thread_arg;

static void *worker(void *p) {
    thread_arg *a = p;
    toyvm_thread *me = toyvm_thread_attach(a->heap);
    size_t base = me->root_count;
    for (int i = 0; i < 2000; i++) {
        mdn_objref o = toyvm_alloc(me, 6, 0, 16, MDN_ALLOC_DEFAULT);
        ((uint64_t *)toyvm_payload(o))[0] = ((uint64_t)a->id << 32) | (uint64_t)i;
        toyvm_push_root(me, o);
        mdn_safepoint(me->mutator);
    }
    a->ok = 1;
    for (int i = 0; i < 2000; i++)
        if (((uint64_t *)toyvm_payload(toyvm_root(me, base + (size_t)i)))[0] != (((uint64_t)a->id << 32) | (uint64_t)i))
            a->ok = 0;
    toyvm_thread_detach(me);
    return NULL;
}

START_TEST(threads_bind_allocate_unbind) {
    enum { T = 4 };
    pthread_t th[T];
    thread_arg args[T];
    for (int round = 0; round < 3; round++) {
        for (int i = 0; i < T; i++) {
            args[i] = (thread_arg){heap, i, 0};
            pthread_create(&th[i], NULL, worker, &args[i]);
        }
        for (int i = 0; i < T; i++) {
            pthread_join(th[i], NULL);
            ck_assert(args[i].ok);
        }
    }
}
END_TEST

int main(void) {
    Suite *s = suite_create("alloc");
    TCase *tc = tcase_create(MDN_TEST_PLAN);
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, plan_name_matches_build);
    tcase_add_test(tc, small_objects_aligned_zeroed_disjoint);
    tcase_add_test(tc, alignments_are_honoured);
    tcase_add_test(tc, contents_preserved_across_allocations);
    tcase_add_test(tc, every_kind_allocates);
    tcase_add_test(tc, large_objects_zeroed_page_aligned_disjoint);
    tcase_add_test(tc, stats_count_allocation);
    tcase_add_test(tc, options_reach_the_heap);
    tcase_add_test(tc, bad_options_are_refused_by_heap_create);
    tcase_add_test(tc, threads_bind_allocate_unbind);
    suite_add_tcase(s, tc);
    return mdn_run_suite(s);
}
