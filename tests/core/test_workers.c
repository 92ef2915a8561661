/* MDN_TEST_LABELS: threads */
/*
 * test_workers.c: the worker pool and the parallel work queue
 * (core/workers.h): every worker called once per job, repeated jobs, thread
 * start failure, and a generated work tree drained by 1 to 4 workers with
 * every item processed exactly once, breadth-first order for a lone worker,
 * and one queue reused over many phases.
 */
#include "core/workers.h"

#include <midden/midden.h>

#include "testutil.h"

#include "mdn_check.h"
#include <dirent.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#ifdef MDN_TSAN
#define TREE_ITEMS ((size_t)1 << 17)
#define PHASE_TREE_ITEMS ((size_t)1 << 13)
#define RUNS 300
#define EMPTY_PHASES 300
#else
#define TREE_ITEMS ((size_t)1 << 20)
#define PHASE_TREE_ITEMS ((size_t)1 << 15)
#define RUNS 1000
#define EMPTY_PHASES 2000
#endif

#define MAX_WORKERS 4

static double now_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void *idle_thread(void *arg) { return arg; }

/* Threads of this process, from /proc/self/task. The first call starts and
 * joins a thread so that any helper thread a sanitizer starts with the
 * first pthread_create is already counted. */
static unsigned thread_count(void) {
    static bool warmed_up;
    if (!warmed_up) {
        pthread_t t;
        ck_assert_int_eq(pthread_create(&t, NULL, idle_thread, NULL), 0);
        pthread_join(t, NULL);
        warmed_up = true;
    }
    DIR *dir = opendir("/proc/self/task");
    ck_assert_ptr_nonnull(dir);
    unsigned n = 0;
    for (struct dirent *e; (e = readdir(dir)) != NULL;)
        if (e->d_name[0] != '.')
            n++;
    closedir(dir);
    return n;
}

/* Threads of this process once the pool's joined threads have left it: a
 * joined thread's tid is released before the kernel removes its task, so
 * /proc/self/task may list it a moment longer (on a loaded machine, long
 * enough to be seen). Waits up to 5 s for the count to reach `want`. */
static unsigned thread_count_settled(unsigned want) {
    unsigned n = thread_count();
    for (int i = 0; i < 5000 && n != want; i++) {
        nanosleep(&(struct timespec){0, 1000000}, NULL);
        n = thread_count();
    }
    return n;
}

/* ---- the pool ------------------------------------------------------------ */

typedef struct job {
    unsigned count;
    _Atomic unsigned calls[MAX_WORKERS];
    pthread_t main_thread;
    _Atomic bool worker0_is_caller;
    _Atomic bool others_are_not_caller;
    uint64_t written[MAX_WORKERS]; /* plain writes, read by the caller after run */
    uint64_t round;
} job;

static void job_fn(unsigned worker, void *arg) {
    job *j = arg;
    if (worker >= j->count || worker >= MAX_WORKERS)
        return; /* reported below as a missing call */
    atomic_fetch_add_explicit(&j->calls[worker], 1, memory_order_relaxed);
    bool is_caller = pthread_equal(pthread_self(), j->main_thread) != 0;
    if (worker == 0)
        atomic_store(&j->worker0_is_caller, is_caller);
    else if (is_caller)
        atomic_store(&j->others_are_not_caller, false);
    j->written[worker] = j->round * 100 + worker;
}

START_TEST(test_pool_calls_each_worker_once) {
    static const unsigned counts[] = {1, 2, 3, 4};
    unsigned count = counts[_i];
    unsigned base = thread_count();
    mdn_error err = {0};
    mdn_workers *w = mdn_workers_create(count, &err);
    ck_assert_ptr_nonnull(w);
    ck_assert_uint_eq(mdn_workers_count(w), count);
    ck_assert_uint_eq(thread_count(), base + count - 1);
    job j;
    memset(&j, 0, sizeof j);
    j.count = count;
    j.main_thread = pthread_self();
    atomic_store(&j.others_are_not_caller, true);
    for (unsigned run = 0; run < RUNS; run++) {
        j.round = run;
        for (unsigned i = 0; i < MAX_WORKERS; i++)
            atomic_store(&j.calls[i], 0);
        atomic_store(&j.worker0_is_caller, false);
        mdn_workers_run(w, job_fn, &j);
        for (unsigned i = 0; i < count; i++) {
            MDN_EXPECT_EQ(atomic_load(&j.calls[i]), 1);
            MDN_EXPECT_EQ(j.written[i], (uint64_t)run * 100 + i);
        }
        MDN_EXPECT(atomic_load(&j.worker0_is_caller));
    }
    ck_assert(atomic_load(&j.others_are_not_caller));
    mdn_workers_destroy(w);
    ck_assert_uint_eq(thread_count_settled(base), base);
}
END_TEST

static void nothing_fn(unsigned worker, void *arg) {
    (void)worker;
    (void)arg;
}

START_TEST(test_pool_create_destroy) {
    unsigned base = thread_count();
    for (unsigned round = 0; round < 50; round++) {
        mdn_workers *w = mdn_workers_create(1 + round % MAX_WORKERS, NULL);
        ck_assert_ptr_nonnull(w);
        for (unsigned r = 0; r < round % 3; r++)
            mdn_workers_run(w, nothing_fn, NULL);
        mdn_workers_destroy(w);
    }
    /* Every thread was joined. */
    ck_assert_uint_eq(thread_count_settled(base), base);
}
END_TEST

#ifndef MDN_SANITIZE
/* In a child: limit the address space so that thread stacks cannot be
 * mapped, and ask for many workers. */
static void create_without_address_space(void *arg) {
    (void)arg;
    long pages = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    if (f == NULL || fscanf(f, "%ld", &pages) != 1)
        exit(2);
    fclose(f);
    struct rlimit lim;
    lim.rlim_cur = lim.rlim_max = (rlim_t)pages * 4096 + ((rlim_t)32 << 20);
    if (setrlimit(RLIMIT_AS, &lim) != 0)
        exit(3);
    mdn_error err;
    memset(&err, 0, sizeof err);
    mdn_workers *w = mdn_workers_create(64, &err);
    if (w != NULL)
        exit(4);
    printf("code=%d message=%s\n", (int)err.code, err.message);
    exit(err.code == MDN_ERR_THREAD ? 0 : 5);
}

START_TEST(test_pool_thread_start_failure) {
    mdn_child_result res;
    mdn_run_in_child(create_without_address_space, NULL, &res);
    ck_assert_msg(res.exited && res.exit_status == 0, "child: exited=%d status=%d output=%s", res.exited,
                  res.exit_status, res.output);
    ck_assert_msg(strstr(res.output, "could not start GC worker thread") != NULL, "output: %s", res.output);
}
END_TEST
#endif

/* ---- the work queue ------------------------------------------------------ */

/*
 * The work tree: item k has children 2k+1 and 2k+2 below `items`. Roots are
 * the items of level `root_level` (heap numbering), so items above it are
 * never processed. A child's `parent` entry is written plainly before the
 * child is published, and checked when it is processed: the queue must
 * order the two.
 */
typedef struct tree {
    mdn_workqueue *q;
    size_t items;
    unsigned root_level;
    unsigned inject_every; /* children of every n-th item go to the injector (0: never) */
    bool push_half_the_roots;
    _Atomic uint32_t *seen;
    size_t *parent;
    size_t *order; /* with one worker: the processing order */
    size_t order_len;
    struct {
        _Alignas(64) size_t processed;
    } per_worker[MAX_WORKERS];
    _Atomic bool bad_parent;
} tree;

static size_t first_root(const tree *t) { return ((size_t)1 << t->root_level) - 1; }
static size_t root_end(const tree *t) { return ((size_t)2 << t->root_level) - 1; }

static void tree_visit(mdn_workqueue *q, unsigned worker, uintptr_t item, void *arg) {
    tree *t = arg;
    size_t k = (size_t)item;
    atomic_fetch_add_explicit(&t->seen[k], 1, memory_order_relaxed);
    size_t expect_parent = k >= root_end(t) ? (k - 1) / 2 : SIZE_MAX;
    if (t->parent[k] != expect_parent)
        atomic_store_explicit(&t->bad_parent, true, memory_order_relaxed);
    t->per_worker[worker].processed++;
    if (t->order != NULL)
        t->order[t->order_len++] = k;
    bool inject = t->inject_every != 0 && k % t->inject_every == 0;
    for (size_t c = 2 * k + 1; c <= 2 * k + 2 && c < t->items; c++) {
        t->parent[c] = k;
        if (inject)
            mdn_workqueue_inject(q, c);
        else if (c & 1)
            mdn_workqueue_push(q, worker, c);
        else
            mdn_deque_push(mdn_workqueue_deque(q, worker), c); /* the inlined form */
    }
}

static void tree_job(unsigned worker, void *arg) {
    tree *t = arg;
    if (t->push_half_the_roots) {
        unsigned n = mdn_workqueue_workers(t->q);
        for (size_t r = first_root(t); r < root_end(t); r++)
            if (r % 2 == 1 && (r / 2) % n == worker)
                mdn_workqueue_push(t->q, worker, r);
    }
    mdn_workqueue_drain(t->q, worker, tree_visit, t);
}

static void tree_reset(tree *t) {
    for (size_t k = 0; k < t->items; k++) {
        atomic_store_explicit(&t->seen[k], 0, memory_order_relaxed);
        t->parent[k] = SIZE_MAX;
    }
    for (unsigned i = 0; i < MAX_WORKERS; i++)
        t->per_worker[i].processed = 0;
    t->order_len = 0;
    atomic_store(&t->bad_parent, false);
}

static void tree_init(tree *t, mdn_workqueue *q, size_t items, unsigned root_level) {
    memset(t, 0, sizeof *t);
    t->q = q;
    t->items = items;
    t->root_level = root_level;
    t->seen = malloc(items * sizeof t->seen[0]);
    t->parent = malloc(items * sizeof t->parent[0]);
    ck_assert(t->seen != NULL && t->parent != NULL);
    tree_reset(t);
}

static void tree_free(tree *t) {
    free(t->seen);
    free(t->parent);
    free(t->order);
}

/* Inject the roots the workers do not push themselves, run, and check. */
static void tree_phase(tree *t, mdn_workers *w) {
    tree_reset(t);
    for (size_t r = first_root(t); r < root_end(t); r++)
        if (!t->push_half_the_roots || r % 2 == 0)
            mdn_workqueue_inject(t->q, r);
    mdn_workers_run(w, tree_job, t);
    size_t processed = 0;
    for (unsigned i = 0; i < MAX_WORKERS; i++)
        processed += t->per_worker[i].processed;
    MDN_EXPECT_EQ(processed, t->items - first_root(t));
    for (size_t k = 0; k < t->items; k++) {
        uint32_t n = atomic_load_explicit(&t->seen[k], memory_order_relaxed);
        if (n != (k >= first_root(t) ? 1u : 0u))
            ck_abort_msg("item %zu processed %u times", k, n);
    }
    MDN_EXPECT(!atomic_load(&t->bad_parent));
    mdn_workqueue_check(t->q);
}

START_TEST(test_queue_tree) {
    unsigned workers = (unsigned)_i; /* 1..4 */
    mdn_workers *w = mdn_workers_create(workers, NULL);
    mdn_workqueue *q = mdn_workqueue_create(workers);
    ck_assert(w != NULL && q != NULL);
    ck_assert_uint_eq(mdn_workqueue_workers(q), workers);
    mdn_workqueue_check(q);
    tree t;
    tree_init(&t, q, TREE_ITEMS, 5);
    t.push_half_the_roots = true;
    t.inject_every = 97;
    double t0 = now_seconds();
    tree_phase(&t, w);
    double t1 = now_seconds();
    fprintf(stderr, "workqueue: %u worker%s, %zu items in %.3f s (%.1f M items/s), per worker:", workers,
            workers == 1 ? "" : "s", t.items - first_root(&t), t1 - t0,
            (double)(t.items - first_root(&t)) / (t1 - t0) / 1e6);
    for (unsigned i = 0; i < workers; i++)
        fprintf(stderr, " %zu", t.per_worker[i].processed);
    fprintf(stderr, "\n");
    mdn_workqueue_reclaim(q);
    mdn_workqueue_check(q);
    tree_free(&t);
    mdn_workqueue_destroy(q);
    mdn_workers_destroy(w);
}
END_TEST

/* A lone worker is breadth-first: with heap numbering, exactly 0, 1, 2, ... */
START_TEST(test_queue_lone_worker_is_fifo) {
    static const unsigned levels[] = {0, 6}; /* one root, or a level of 64 roots */
    unsigned root_level = levels[_i];
    mdn_workers *w = mdn_workers_create(1, NULL);
    mdn_workqueue *q = mdn_workqueue_create(1);
    ck_assert(w != NULL && q != NULL);
    tree t;
    tree_init(&t, q, TREE_ITEMS, root_level);
    t.order = malloc(t.items * sizeof t.order[0]);
    ck_assert_ptr_nonnull(t.order);
    for (int phase = 0; phase < 2; phase++) {
        tree_phase(&t, w);
        MDN_EXPECT_EQ(t.order_len, t.items - first_root(&t));
        for (size_t i = 0; i < t.order_len; i++)
            if (t.order[i] != first_root(&t) + i)
                ck_abort_msg("position %zu: item %zu, expected %zu", i, t.order[i], first_root(&t) + i);
    }
    tree_free(&t);
    mdn_workqueue_destroy(q);
    mdn_workers_destroy(w);
}
END_TEST

/* One queue, many phases: the termination state must reset every time. */
START_TEST(test_queue_reused_for_phases) {
    unsigned workers = (unsigned)_i; /* 1..4 */
    uint64_t rng = mdn_test_seed("workers/queue_reused_for_phases");
    mdn_workers *w = mdn_workers_create(workers, NULL);
    mdn_workqueue *q = mdn_workqueue_create(workers);
    ck_assert(w != NULL && q != NULL);
    tree t;
    tree_init(&t, q, PHASE_TREE_ITEMS, 0);
    for (int phase = 0; phase < 50; phase++) {
        t.root_level = (unsigned)mdn_test_rand_below(&rng, 8);
        t.push_half_the_roots = mdn_test_rand_below(&rng, 2) != 0;
        t.inject_every = (unsigned)mdn_test_rand_below(&rng, 3) * 50;
        tree_phase(&t, w);
        if (phase % 10 == 9)
            mdn_workqueue_reclaim(q);
    }
    tree_free(&t);
    mdn_workqueue_destroy(q);
    mdn_workers_destroy(w);
}
END_TEST

typedef struct tiny {
    mdn_workqueue *q;
    _Atomic unsigned processed;
    bool push_one; /* worker 1 (or 0) pushes a single item before draining */
} tiny;

static void tiny_visit(mdn_workqueue *q, unsigned worker, uintptr_t item, void *arg) {
    (void)q;
    (void)worker;
    (void)item;
    tiny *t = arg;
    atomic_fetch_add_explicit(&t->processed, 1, memory_order_relaxed);
}

static void tiny_job(unsigned worker, void *arg) {
    tiny *t = arg;
    if (t->push_one && worker == mdn_workqueue_workers(t->q) - 1)
        mdn_workqueue_push(t->q, worker, 1);
    mdn_workqueue_drain(t->q, worker, tiny_visit, t);
}

/* Phases with no work or a single item: termination and reset at speed. */
START_TEST(test_queue_empty_phases) {
    unsigned workers = (unsigned)_i;
    mdn_workers *w = mdn_workers_create(workers, NULL);
    mdn_workqueue *q = mdn_workqueue_create(workers);
    ck_assert(w != NULL && q != NULL);
    tiny t = {.q = q};
    unsigned expect = 0;
    for (unsigned phase = 0; phase < EMPTY_PHASES; phase++) {
        t.push_one = phase % 3 == 1;
        expect += t.push_one;
        if (phase % 3 == 2) {
            mdn_workqueue_inject(q, 2);
            expect++;
        }
        mdn_workers_run(w, tiny_job, &t);
        MDN_EXPECT_EQ(atomic_load(&t.processed), expect);
    }
    mdn_workqueue_check(q);
    mdn_workqueue_destroy(q);
    mdn_workers_destroy(w);
}
END_TEST

static Suite *workers_suite(void) {
    Suite *s = suite_create("workers");
    TCase *tc = tcase_create("pool");
    tcase_add_loop_test(tc, test_pool_calls_each_worker_once, 0, 4);
    tcase_add_test(tc, test_pool_create_destroy);
#ifndef MDN_SANITIZE
    tcase_add_test(tc, test_pool_thread_start_failure);
#endif
    tcase_set_timeout(tc, 60);
    suite_add_tcase(s, tc);

    tc = tcase_create("workqueue");
    tcase_add_loop_test(tc, test_queue_tree, 1, MAX_WORKERS + 1);
    tcase_add_loop_test(tc, test_queue_lone_worker_is_fifo, 0, 2);
    tcase_add_loop_test(tc, test_queue_reused_for_phases, 1, MAX_WORKERS + 1);
    tcase_add_loop_test(tc, test_queue_empty_phases, 1, MAX_WORKERS + 1);
    tcase_set_timeout(tc, 120);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) {
    SRunner *sr = srunner_create(workers_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
