/*
 * Multi-threaded GCBench: the main thread builds the stretch tree, then T
 * threads each run the GCBench phases (their own long-lived tree and array,
 * then the top-down and bottom-up trees of every depth) at the same time.
 * Each thread attaches its own mutator; allocation is its safepoint. While
 * the main thread waits for them it is outside the heap.
 */
#include "gcbench.h"

#include <pthread.h>

#define USAGE "mtgcbench THREADS [LONG_LIVED_DEPTH]   (1..64 threads; depth 6..22, default 16)"

/** @brief One worker's inputs and result. */
typedef struct worker {
    pthread_t thread;           /**< the thread */
    bench_vm *vm;               /**< the heap */
    const gcbench_params *p;    /**< parameters */
    pthread_barrier_t *barrier; /**< shared by the workers */
    bool ok;                    /**< every check passed */
} worker;

/* Wait for every worker, outside the heap so collections need not wait.
 * Starting together and holding the long-lived data until all are done
 * makes the threads' peaks coincide, so the live size (and the minimum
 * heap) does not depend on scheduling. */
static void wait_for_all(bench_thread *t, void *arg) {
    bench_enter_blocking(t);
    pthread_barrier_wait((pthread_barrier_t *)arg);
    bench_leave_blocking(t);
}

static void *worker_main(void *arg) {
    worker *w = (worker *)arg;
    bench_thread *t = bench_thread_attach(w->vm);
    wait_for_all(t, w->barrier);
    w->ok = gcbench_run_phases(t, w->p, NULL, wait_for_all, w->barrier);
    bench_thread_detach(t);
    return NULL;
}

int main(int argc, char **argv) {
    if (argc < 2 || argc > 3)
        bench_usage(USAGE);
    int nthreads = (int)bench_arg(argv[1], 1, 64, USAGE);
    int depth = argc == 3 ? (int)bench_arg(argv[2], 6, 22, USAGE) : 16;
    gcbench_params p = gcbench_params_for(depth);

    printf("Multi-threaded garbage collector test: %d threads\n", nthreads);
    printf("Live storage will peak at %zu bytes.\n", gcbench_live_estimate(&p) * (size_t)nthreads);
    fflush(stdout);

    bench_vm *vm = bench_vm_start();
    bench_thread *main_thread = bench_thread_attach(vm);
    bench_begin(vm);
    double start = bench_now();

    bool ok = gcbench_stretch(main_thread, &p);
    worker *workers = calloc((size_t)nthreads, sizeof *workers);
    if (workers == NULL)
        bench_oom();

    /* The main thread neither allocates nor polls while it waits: tell the
     * collector not to wait for it. */
    pthread_barrier_t barrier;
    pthread_barrier_init(&barrier, NULL, (unsigned)nthreads);
    bench_enter_blocking(main_thread);
    for (int i = 0; i < nthreads; i++) {
        workers[i].vm = vm;
        workers[i].p = &p;
        workers[i].barrier = &barrier;
        if (pthread_create(&workers[i].thread, NULL, worker_main, &workers[i]) != 0) {
            fprintf(stderr, "mtgcbench: cannot start thread %d\n", i);
            return BENCH_EXIT_USAGE;
        }
    }
    for (int i = 0; i < nthreads; i++) {
        pthread_join(workers[i].thread, NULL);
        ok = ok && workers[i].ok;
    }
    bench_leave_blocking(main_thread);
    pthread_barrier_destroy(&barrier);

    double elapsed = bench_now() - start;
    bench_end(vm);
    bench_thread_detach(main_thread);
    bench_vm_finish(vm);
    free(workers);
    if (!ok)
        bench_wrong("a GCBench tree or long-lived array is damaged in some thread");
    printf("%d threads ran GCBench phases of depths %d..%d: ok\n", nthreads, p.min_depth, p.max_depth);
    printf("Completed in %.0f msec\n", elapsed * 1e3);
    return 0;
}
