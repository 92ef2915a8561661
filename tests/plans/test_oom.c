/* Out of memory, on every plan: a full heap ends in mdn_vm_out_of_memory;
 * toyvm's default hook prints the request, the heap size and the plan and
 * exits with TOYVM_OOM_EXIT_STATUS (checked in a child process); a hook
 * that returns makes mdn_alloc return NULL and the heap stays usable.
 * Every allocation kind, large objects, and several threads at once. */
#include "testutil.h"
#include "toyvm.h"

#include "mdn_check.h"
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static mdn_heap *small_heap(size_t bytes) {
    mdn_options o;
    mdn_options_init(&o);
    o.heap_size = bytes;
    o.gc_threads = 1;
    mdn_error err;
    mdn_heap *h = mdn_heap_create(&o, &err);
    if (!h) {
        fprintf(stderr, "heap_create: %s\n", err.message);
        exit(2);
    }
    return h;
}

/* Keep everything reachable until the heap is full. */
static void fill_heap_small(void *arg) {
    (void)arg;
    mdn_heap *h = small_heap((size_t)4 << 20);
    toyvm_thread *t = toyvm_thread_attach(h);
    for (;;) {
        mdn_objref o = toyvm_alloc(t, 2, 0, 100, MDN_ALLOC_DEFAULT);
        toyvm_push_root(t, o);
    }
}

static void fill_heap_large(void *arg) {
    (void)arg;
    mdn_heap *h = small_heap((size_t)4 << 20);
    toyvm_thread *t = toyvm_thread_attach(h);
    for (;;) {
        mdn_objref o = toyvm_alloc(t, 2, 0, 100000, MDN_ALLOC_DEFAULT);
        toyvm_push_root(t, o);
    }
}

/* The same with every allocation kind (LARGE of a small size: a page each). */
static void fill_heap_kind(void *arg) {
    mdn_alloc_kind kind = (mdn_alloc_kind)(intptr_t)arg;
    mdn_heap *h = small_heap((size_t)4 << 20);
    toyvm_thread *t = toyvm_thread_attach(h);
    for (;;)
        toyvm_push_root(t, toyvm_alloc(t, 2, 0, 100, kind));
}

/* Three threads fill the heap together; whichever fails first reports. */
static void *fill_thread(void *arg) {
    toyvm_thread *t = toyvm_thread_attach(arg);
    for (unsigned i = 0;; i++) {
        toyvm_push_root(t, toyvm_alloc(t, 2, 0, i % 50 == 0 ? 20000 : 100, MDN_ALLOC_DEFAULT));
        mdn_safepoint(t->mutator);
    }
    return NULL;
}

static void fill_heap_threads(void *arg) {
    (void)arg;
    mdn_options o;
    mdn_options_init(&o);
    o.heap_size = (size_t)4 << 20;
    o.gc_threads = 2;
    mdn_heap *h = mdn_heap_create(&o, NULL);
    pthread_t th[3];
    for (int i = 0; i < 3; i++)
        pthread_create(&th[i], NULL, fill_thread, h);
    for (int i = 0; i < 3; i++)
        pthread_join(th[i], NULL);
}

static void one_huge_request(void *arg) {
    (void)arg;
    mdn_heap *h = small_heap((size_t)4 << 20);
    toyvm_thread *t = toyvm_thread_attach(h);
    toyvm_alloc(t, 2, 0, (size_t)64 << 20, MDN_ALLOC_DEFAULT);
    fprintf(stderr, "allocation returned\n");
    exit(0);
}

static void expect_oom_exit_arg(void (*fn)(void *), void *arg, const char *size_text) {
    mdn_child_result r;
    mdn_run_in_child(fn, arg, &r);
    ck_assert_msg(r.exited, "child did not exit normally (signal %d); output:\n%s", r.signal, r.output);
    ck_assert_int_eq(r.exit_status, TOYVM_OOM_EXIT_STATUS);
    ck_assert_msg(strstr(r.output, "out of memory") != NULL, "output: %s", r.output);
    ck_assert_msg(strstr(r.output, "heap of 4194304 bytes") != NULL, "output: %s", r.output);
    ck_assert_msg(strstr(r.output, "plan " MDN_TEST_PLAN) != NULL, "output: %s", r.output);
    if (size_text)
        ck_assert_msg(strstr(r.output, size_text) != NULL, "output: %s", r.output);
}

static void expect_oom_exit(void (*fn)(void *), const char *size_text) { expect_oom_exit_arg(fn, NULL, size_text); }

START_TEST(every_kind_exhausts_heap) {
    expect_oom_exit_arg(fill_heap_kind, (void *)(intptr_t)_i, "allocate 112 bytes");
}
END_TEST

START_TEST(threads_exhaust_heap_together) { expect_oom_exit(fill_heap_threads, NULL); }
END_TEST

START_TEST(small_objects_exhaust_heap) { expect_oom_exit(fill_heap_small, "allocate 112 bytes"); }
END_TEST

START_TEST(large_objects_exhaust_heap) { expect_oom_exit(fill_heap_large, "allocate 100008 bytes"); }
END_TEST

START_TEST(request_larger_than_heap) { expect_oom_exit(one_huge_request, "allocate 67108872 bytes"); }
END_TEST

START_TEST(returning_hook_gives_null_and_heap_stays_usable) {
    toyvm_set_oom_mode(TOYVM_OOM_RETURN);
    mdn_heap *h = small_heap((size_t)8 << 20);
    toyvm_thread *t = toyvm_thread_attach(h);
    uint64_t ooms = toyvm_oom_count();
    size_t n = 0;
    for (;;) {
        mdn_objref o = toyvm_alloc(t, 2, 0, 200, MDN_ALLOC_DEFAULT);
        if (mdn_objref_is_null(o))
            break;
        toyvm_push_root(t, o);
        n++;
    }
    ck_assert_uint_eq(toyvm_oom_count(), ooms + 1);
    ck_assert_uint_gt(n, 1000);
    /* The objects allocated so far are intact. */
    for (size_t i = 0; i < n; i += 97)
        ck_assert_uint_eq(toyvm_size(toyvm_root(t, i)), toyvm_object_bytes(0, 200));
    /* A large request fails the same way. */
    ck_assert(mdn_objref_is_null(toyvm_alloc(t, 2, 0, (size_t)32 << 20, MDN_ALLOC_DEFAULT)));
    if (strcmp(MDN_TEST_PLAN, "nogc") != 0) {
        /* Drop the roots: a collecting plan serves allocations again. */
        toyvm_pop_roots(t, n);
        for (size_t i = 0; i < n; i++)
            ck_assert(!mdn_objref_is_null(toyvm_alloc(t, 2, 0, 200, MDN_ALLOC_DEFAULT)));
    }
    toyvm_thread_detach(t);
    mdn_heap_destroy(h);
    toyvm_set_oom_mode(TOYVM_OOM_EXIT);
}
END_TEST

/* Several threads with a returning hook: each fills the heap until it gets
 * NULL (allocations of every kind), then checks its objects, drops half of
 * them and allocates again; the heap verifier and poisoning are on. */
typedef struct oom_thread {
    mdn_heap *heap;
    pthread_barrier_t *barrier;
    unsigned index;
    size_t filled, reallocated;
    char failure[256];
} oom_thread;

static void wait_native(oom_thread *a, toyvm_thread *t) {
    /* Parked threads must not hold up a collection another thread needs. */
    mdn_enter_native(t->mutator);
    pthread_barrier_wait(a->barrier);
    mdn_leave_native(t->mutator);
}

static void *oom_worker(void *p) {
    oom_thread *a = p;
    toyvm_thread *t = toyvm_thread_attach(a->heap);
    static const mdn_alloc_kind kinds[] = {MDN_ALLOC_DEFAULT, MDN_ALLOC_DEFAULT, MDN_ALLOC_DEFAULT,
                                           MDN_ALLOC_NONMOVING, MDN_ALLOC_LARGE};
    for (size_t i = 0;; i++) {
        size_t payload = i % 97 == 0 ? 12000 : 64 + 8 * (i % 20);
        mdn_objref o = toyvm_alloc(t, 3, 0, payload, kinds[i % 5]);
        if (mdn_objref_is_null(o))
            break;
        uint64_t *w = toyvm_payload(o);
        w[0] = ((uint64_t)a->index << 32) | i;
        w[toyvm_payload_bytes(o) / 8 - 1] = ~w[0];
        toyvm_push_root(t, o);
        a->filled++;
    }
    wait_native(a, t);
    for (size_t i = 0; i < a->filled && !a->failure[0]; i++) {
        uint64_t *w = toyvm_payload(toyvm_root(t, i));
        if (w[0] != (((uint64_t)a->index << 32) | i) || w[toyvm_payload_bytes(toyvm_root(t, i)) / 8 - 1] != ~w[0])
            snprintf(a->failure, sizeof a->failure, "thread %u: object %zu changed after out of memory", a->index, i);
    }
    bool collects = strcmp(MDN_TEST_PLAN, "nogc") != 0;
    if (collects) {
        /* Drop every other object: about half the heap comes free. */
        for (size_t i = 0; i < a->filled; i += 2)
            toyvm_set_root(t, i, mdn_objref_null());
    }
    wait_native(a, t);
    if (collects) {
        for (size_t i = 0; i < a->filled / 4 && !a->failure[0]; i++) {
            mdn_objref o = toyvm_alloc(t, 3, 0, 64 + 8 * (i % 20), MDN_ALLOC_DEFAULT);
            if (mdn_objref_is_null(o))
                snprintf(a->failure, sizeof a->failure, "thread %u: allocation %zu of %zu failed after freeing",
                         a->index, i, a->filled / 4);
            else
                a->reallocated++;
        }
        for (size_t i = 1; i < a->filled && !a->failure[0]; i += 2) {
            uint64_t *w = toyvm_payload(toyvm_root(t, i));
            if (w[0] != (((uint64_t)a->index << 32) | i))
                snprintf(a->failure, sizeof a->failure, "thread %u: kept object %zu changed", a->index, i);
        }
    }
    toyvm_pop_roots(t, a->filled);
    toyvm_thread_detach(t);
    return NULL;
}

START_TEST(returning_hook_with_threads_keeps_live_data) {
    toyvm_set_oom_mode(TOYVM_OOM_RETURN);
    mdn_options o;
    mdn_options_init(&o);
    o.heap_size = (size_t)12 << 20;
    o.gc_threads = 2;
    o.verify = true;
    o.poison = true;
    mdn_error err;
    mdn_heap *h = mdn_heap_create(&o, &err);
    ck_assert_msg(h != NULL, "%s", err.message);
    enum { T = 3 };
    pthread_barrier_t barrier;
    pthread_barrier_init(&barrier, NULL, T);
    oom_thread args[T];
    pthread_t th[T];
    for (unsigned i = 0; i < T; i++) {
        memset(&args[i], 0, sizeof args[i]);
        args[i] = (oom_thread){.heap = h, .barrier = &barrier, .index = i};
        pthread_create(&th[i], NULL, oom_worker, &args[i]);
    }
    size_t filled = 0;
    for (unsigned i = 0; i < T; i++) {
        pthread_join(th[i], NULL);
        ck_assert_msg(args[i].failure[0] == '\0', "%s", args[i].failure);
        filled += args[i].filled;
    }
    ck_assert_uint_gt(filled, 1000);
    ck_assert_uint_ge(toyvm_oom_count(), T);
    pthread_barrier_destroy(&barrier);
    mdn_heap_destroy(h);
    toyvm_set_oom_mode(TOYVM_OOM_EXIT);
}
END_TEST

int main(void) {
    Suite *s = suite_create("oom");
    TCase *tc = tcase_create(MDN_TEST_PLAN);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, small_objects_exhaust_heap);
    tcase_add_test(tc, large_objects_exhaust_heap);
    tcase_add_test(tc, request_larger_than_heap);
    tcase_add_test(tc, returning_hook_gives_null_and_heap_stays_usable);
    tcase_add_loop_test(tc, every_kind_exhausts_heap, MDN_ALLOC_DEFAULT, MDN_ALLOC_LARGE + 1);
    tcase_add_test(tc, threads_exhaust_heap_together);
    tcase_add_test(tc, returning_hook_with_threads_keeps_live_data);
    suite_add_tcase(s, tc);
    return mdn_run_suite(s);
}
