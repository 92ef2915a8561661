/* MDN_TEST_LABELS: threads */
/* Allocation under thread contention (docs/design/thread-protocol.md
 * .alloc.retry, .alloc.fair): eight threads allocate nothing but 16-byte
 * garbage in a heap of the minimum size (twice that for semispace, whose
 * copy reserve takes half). Nothing is ever live, so every request can be
 * served after a collection; an out-of-memory report is spurious. The
 * out-of-memory hook returns (TOYVM_OOM_RETURN) and the test counts the
 * reports.
 *
 * MDN_CONTENTION_RUNS (runs of the scenario) and MDN_CONTENTION_ALLOCS
 * (allocations per thread per run) size it; the defaults suit CI and the
 * soak registration (MIDDEN_SOAK) runs the full 100 x 2,000,000. The
 * default, 100 runs of 300,000, reported out of memory in 6 to 11 runs of
 * 100 on every collecting plan before .alloc.fair. */
#include "testutil.h"
#include "toyvm.h"

#include "mdn_check.h"
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { THREADS = 8 };

static unsigned long env_or(const char *name, unsigned long fallback) {
    const char *v = getenv(name);
    if (!v || !*v)
        return fallback;
    char *end;
    unsigned long n = strtoul(v, &end, 0);
    if (*end != '\0' || n == 0) {
        fprintf(stderr, "%s=%s: expected a positive number\n", name, v);
        exit(2);
    }
    return n;
}

typedef struct garbage_thread {
    mdn_heap *heap;
    pthread_barrier_t *start;
    unsigned long allocs;
    unsigned long failed;
} garbage_thread;

static void *garbage_worker(void *p) {
    garbage_thread *a = p;
    toyvm_thread *t = toyvm_thread_attach(a->heap);
    mdn_enter_native(t->mutator);
    pthread_barrier_wait(a->start);
    mdn_leave_native(t->mutator);
    for (unsigned long i = 0; i < a->allocs; i++) {
        /* 8 bytes of header and 8 of payload: 16 bytes. */
        if (mdn_objref_is_null(toyvm_alloc(t, 1, 0, 8, MDN_ALLOC_DEFAULT)))
            a->failed++;
    }
    toyvm_thread_detach(t);
    return NULL;
}

START_TEST(garbage_only_threads_never_run_out_of_memory) {
    unsigned long runs = env_or("MDN_CONTENTION_RUNS", 100);
    unsigned long allocs = env_or("MDN_CONTENTION_ALLOCS", 300000);
    size_t heap_bytes = strcmp(MDN_TEST_PLAN, "semispace") == 0 ? 2 * MDN_HEAP_MIN_BYTES : MDN_HEAP_MIN_BYTES;
    toyvm_set_oom_mode(TOYVM_OOM_RETURN);
    unsigned long bad_runs = 0, reports = 0;
    for (unsigned long run = 0; run < runs; run++) {
        mdn_heap *h = mdn_test_heap(heap_bytes, 2);
        pthread_barrier_t start;
        pthread_barrier_init(&start, NULL, THREADS);
        garbage_thread args[THREADS];
        pthread_t th[THREADS];
        for (unsigned i = 0; i < THREADS; i++) {
            args[i] = (garbage_thread){.heap = h, .start = &start, .allocs = allocs};
            pthread_create(&th[i], NULL, garbage_worker, &args[i]);
        }
        unsigned long failed = 0;
        for (unsigned i = 0; i < THREADS; i++) {
            pthread_join(th[i], NULL);
            failed += args[i].failed;
        }
        pthread_barrier_destroy(&start);
        mdn_heap_destroy(h);
        reports += failed;
        bad_runs += failed != 0;
    }
    toyvm_set_oom_mode(TOYVM_OOM_EXIT);
    fprintf(stderr, "%s: %lu of %lu runs (%d threads x %lu allocations) reported out of memory, %lu reports\n",
            MDN_TEST_PLAN, bad_runs, runs, THREADS, allocs, reports);
    ck_assert_msg(bad_runs == 0, "%lu of %lu runs reported out of memory (%lu reports) with nothing live", bad_runs,
                  runs, reports);
}
END_TEST

int main(void) {
    Suite *s = suite_create("contention");
    TCase *tc = tcase_create(MDN_TEST_PLAN);
    tcase_set_timeout(tc, 0);
    tcase_add_test(tc, garbage_only_threads_never_run_out_of_memory);
    suite_add_tcase(s, tc);
    return mdn_run_suite(s);
}
