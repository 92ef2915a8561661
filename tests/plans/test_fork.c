/*
 * fork() on every plan: a parent with a populated heap forks; the child
 * allocates, collects, verifies its heap and exits 0; the parent keeps
 * going and verifies its heap. With one mutator and with several, where
 * the child keeps only the forking thread's mutator. The worlds make weak
 * boxes, ephemerons and finalizable objects (testutil/shadow.h
 * .shadow.weak), so the child's collections process registrations made
 * before the fork, and in the multi-threaded case a thread with no mutator
 * keeps taking the weak tables' lock while the parent forks
 * (docs/design/weak.md .weak.fork).
 * MDN_TEST_LABELS: threads
 */
#include "shadow.h"
#include "testutil.h"
#include "toyvm.h"

#include "mdn_check.h"
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

enum { OTHERS = 3 };

static mdn_heap *fork_heap(unsigned gc_threads) {
    mdn_options o;
    mdn_options_init(&o);
    o.heap_size = 48u << 20;
    o.gc_threads = gc_threads;
    o.verify = true; /* every collection runs the heap verifier */
    mdn_error err;
    mdn_heap *h = mdn_heap_create(&o, &err);
    ck_assert_msg(h != NULL, "%s", err.message);
    return h;
}

static int run_world(shadow_world *w, int steps, unsigned collect_every) {
    for (int i = 0; i < steps; i++)
        if (!shadow_step(w, collect_every))
            return 1;
    return 0;
}

/* The child's part: allocate, collect, verify; exit status 0 when all is
 * well. A collection waits for every bound mutator, so one left bound for
 * a thread that does not exist in the child would hang it. */
static void *collect_once(void *heap) {
    toyvm_thread *t = toyvm_thread_attach(heap);
    mdn_collect(t->mutator, MDN_GC_DEFAULT);
    toyvm_thread_detach(t);
    return NULL;
}

static __attribute__((noreturn)) void child_main(mdn_heap *h, shadow_world *w) {
    alarm(60); /* a lock copied in a locked state would hang the child: fail instead */
    mdn_after_fork_child(h);
    int bad = 0;
    if (!shadow_verify(w)) {
        fprintf(stderr, "child: before collecting: %s\n", w->failure);
        bad = 1;
    }
    bad |= run_world(w, 4000, 500);
    mdn_collect(w->thread->mutator, MDN_GC_FULL);
    if (!bad && !shadow_verify(w)) {
        fprintf(stderr, "child: %s\n", w->failure);
        bad = 1;
    }
    /* A new thread can bind and collect in the child. */
    pthread_t other;
    mdn_enter_native(w->thread->mutator);
    if (pthread_create(&other, NULL, collect_once, h) != 0 || pthread_join(other, NULL) != 0) {
        fprintf(stderr, "child: cannot run a second thread\n");
        bad = 1;
    }
    mdn_leave_native(w->thread->mutator);
    mdn_stats st;
    mdn_stats_get(h, &st);
    if (strcmp(MDN_TEST_PLAN, "nogc") != 0 && st.collections == 0) {
        fprintf(stderr, "child: no collection ran\n");
        bad = 1;
    }
    fflush(stderr);
    _exit(bad ? 3 : 0);
}

static void wait_child(pid_t pid) {
    int status = 0;
    pid_t r;
    while ((r = waitpid(pid, &status, 0)) < 0 && errno == EINTR) {
    }
    ck_assert_int_eq(r, pid);
    ck_assert_msg(WIFEXITED(status), "the child was killed by signal %d", WIFSIGNALED(status) ? WTERMSIG(status) : 0);
    ck_assert_msg(WEXITSTATUS(status) == 0, "the child exited with status %d", WEXITSTATUS(status));
}

/* Fork through the heap's fork protocol; the child runs child_main. */
static pid_t fork_world(mdn_heap *h, shadow_world *w) {
    mdn_prepare_fork(h);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0)
        child_main(h, w);
    mdn_after_fork_parent(h);
    return pid;
}

static void fork_single(unsigned gc_threads, const char *name) {
    uint64_t seed = mdn_test_seed(name);
    mdn_heap *h = fork_heap(gc_threads);
    toyvm_thread *t = toyvm_thread_attach(h);
    shadow_world w;
    shadow_world_init(&w, t, seed, 1, 48, 8, 8);
    shadow_world_enable_weak(&w, 40);
    ck_assert_int_eq(run_world(&w, 6000, 800), 0);
    ck_assert_msg(shadow_verify(&w), "%s", w.failure);
    for (int round = 0; round < 2; round++) {
        pid_t pid = fork_world(h, &w);
        ck_assert_int_eq(run_world(&w, 3000, 500), 0);
        mdn_collect(t->mutator, MDN_GC_FULL);
        ck_assert_msg(shadow_verify(&w), "%s", w.failure);
        wait_child(pid);
    }
    shadow_world_destroy(&w);
    toyvm_thread_detach(t);
    mdn_heap_destroy(h);
}

START_TEST(test_fork_single_thread) { fork_single(1, "fork_single_thread"); }
END_TEST

START_TEST(test_fork_single_thread_parallel_gc) { fork_single(3, "fork_single_thread_parallel_gc"); }
END_TEST

typedef struct other_arg {
    mdn_heap *heap;
    uint64_t seed;
    unsigned tag;
    int stop;
    int ready;
    int failed;
    char failure[512];
} other_arg;

static void *other_main(void *p) {
    other_arg *a = p;
    toyvm_thread *t = toyvm_thread_attach(a->heap);
    shadow_world w;
    shadow_world_init(&w, t, a->seed, a->tag, 32, 4, 4);
    shadow_world_enable_weak(&w, 40);
    __atomic_store_n(&a->ready, 1, __ATOMIC_RELEASE);
    /* A fixed amount of work, so the heap the test needs does not depend on
     * timing (NoGC never reclaims), then safepoints until told to stop. */
    for (int i = 0; i < 4000 && !__atomic_load_n(&a->stop, __ATOMIC_ACQUIRE); i++) {
        if (!shadow_step(&w, 700)) {
            a->failed = 1;
            break;
        }
    }
    while (!__atomic_load_n(&a->stop, __ATOMIC_ACQUIRE))
        mdn_safepoint(t->mutator);
    if (!a->failed && !shadow_verify(&w)) {
        a->failed = 1;
        snprintf(a->failure, sizeof a->failure, "%s", w.failure);
    }
    shadow_world_destroy(&w);
    toyvm_thread_detach(t);
    return NULL;
}

/* A thread without a mutator that keeps asking for the number of pending
 * finalizers, which takes the weak tables' lock. */
typedef struct poller_arg {
    mdn_heap *heap;
    int stop;
    uint64_t polls;
} poller_arg;

static void *poller_main(void *p) {
    poller_arg *a = p;
    while (!__atomic_load_n(&a->stop, __ATOMIC_ACQUIRE)) {
        (void)mdn_finalizers_pending(a->heap);
        a->polls++;
    }
    return NULL;
}

START_TEST(test_fork_multi_thread) {
    uint64_t seed = mdn_test_seed("fork_multi_thread");
    mdn_heap *h = fork_heap(2);
    toyvm_thread *t = toyvm_thread_attach(h);
    shadow_world w;
    shadow_world_init(&w, t, seed, 1, 48, 8, 8);
    shadow_world_enable_weak(&w, 40);
    poller_arg poller = {.heap = h};
    pthread_t poller_thread;
    ck_assert_int_eq(pthread_create(&poller_thread, NULL, poller_main, &poller), 0);
    other_arg others[OTHERS];
    pthread_t threads[OTHERS];
    for (unsigned i = 0; i < OTHERS; i++) {
        others[i] = (other_arg){.heap = h, .seed = seed + 1 + i, .tag = 2 + i};
        ck_assert_int_eq(pthread_create(&threads[i], NULL, other_main, &others[i]), 0);
    }
    for (unsigned i = 0; i < OTHERS; i++)
        while (!__atomic_load_n(&others[i].ready, __ATOMIC_ACQUIRE))
            mdn_safepoint(t->mutator);
    for (int round = 0; round < 3; round++) {
        ck_assert_int_eq(run_world(&w, 2000, 600), 0);
        pid_t pid = fork_world(h, &w);
        ck_assert_int_eq(run_world(&w, 2000, 600), 0);
        ck_assert_msg(shadow_verify(&w), "%s", w.failure);
        mdn_enter_native(t->mutator); /* waiting for the child must not hold up the other threads */
        wait_child(pid);
        mdn_leave_native(t->mutator);
    }
    for (unsigned i = 0; i < OTHERS; i++)
        __atomic_store_n(&others[i].stop, 1, __ATOMIC_RELEASE);
    __atomic_store_n(&poller.stop, 1, __ATOMIC_RELEASE);
    mdn_enter_native(t->mutator);
    for (unsigned i = 0; i < OTHERS; i++)
        pthread_join(threads[i], NULL);
    pthread_join(poller_thread, NULL);
    mdn_leave_native(t->mutator);
    for (unsigned i = 0; i < OTHERS; i++)
        ck_assert_msg(!others[i].failed, "thread %u: %s", i, others[i].failure);
    mdn_collect(t->mutator, MDN_GC_FULL);
    ck_assert_msg(shadow_verify(&w), "%s", w.failure);
    shadow_world_destroy(&w);
    toyvm_thread_detach(t);
    mdn_heap_destroy(h);
}
END_TEST

static void fork_twice(void *arg) {
    (void)arg;
    mdn_heap *h = fork_heap(1);
    mdn_prepare_fork(h);
    mdn_prepare_fork(h);
}

static void after_without_prepare(void *arg) {
    (void)arg;
    mdn_heap *h = fork_heap(1);
    mdn_after_fork_parent(h);
}

START_TEST(test_fork_misuse_is_named) {
    mdn_child_result res;
    mdn_run_in_child(fork_twice, NULL, &res);
    ck_assert(res.signaled);
    ck_assert_msg(strstr(res.output, "[prepare_fork]") != NULL, "%s", res.output);
    mdn_run_in_child(after_without_prepare, NULL, &res);
    ck_assert(res.signaled);
    ck_assert_msg(strstr(res.output, "[after_fork_parent]") != NULL, "%s", res.output);
}
END_TEST

static Suite *fork_suite(void) {
    Suite *s = suite_create("fork/" MDN_TEST_PLAN);
    TCase *tc = tcase_create("fork");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, test_fork_single_thread);
    tcase_add_test(tc, test_fork_single_thread_parallel_gc);
#if defined(__SANITIZE_THREAD__)
    /* ThreadSanitizer cannot follow a child of a multi-threaded process
     * that starts threads (its GC workers): the case runs in the other
     * builds only. */
    fprintf(stderr, "fork: the multi-threaded parent case is skipped under ThreadSanitizer\n");
    (void)test_fork_multi_thread;
#else
    tcase_add_test(tc, test_fork_multi_thread);
#endif
    tcase_add_test(tc, test_fork_misuse_is_named);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return mdn_run_suite(fork_suite()); }
