/*
 * The mutator/collector protocol, on every plan.
 * MDN_TEST_LABELS: threads
 *
 * Several mutators allocate and poll, one spends long stretches in native
 * code, collections are requested from different threads, threads bind and
 * unbind while others collect. A collection must only ever see mutators
 * that are parked or native (checked from inside the collection through
 * toyvm's GC hook), and nothing may deadlock.
 */
#include "testutil.h"
#include "toyvm.h"

#include "mdn_check.h"
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum { THREADS = 4 };

typedef struct protocol_state {
    mdn_heap *heap;
    int in_window[THREADS];  /* 1 while a thread touches the heap between GC points */
    int violations;          /* collections that saw a thread in its window */
    int collections_seen;
    int stop;
    int native_released;     /* the long-native thread may come back */
} protocol_state;

static void check_world_stopped(mdn_heap *heap, void *arg) {
    protocol_state *s = arg;
    if (heap != s->heap)
        return;
    __atomic_fetch_add(&s->collections_seen, 1, __ATOMIC_RELAXED);
    for (int i = 0; i < THREADS; i++)
        if (__atomic_load_n(&s->in_window[i], __ATOMIC_ACQUIRE))
            __atomic_fetch_add(&s->violations, 1, __ATOMIC_RELAXED);
}

static mdn_heap *make_heap(size_t bytes, unsigned gc_threads) { return mdn_test_heap(bytes, gc_threads); }

static bool plan_collects(mdn_heap *h) {
    mdn_stats st;
    mdn_stats_get(h, &st);
    return st.collections > 0;
}

typedef struct worker_arg {
    protocol_state *s;
    int id;
    int iterations;
    bool ok;
} worker_arg;

/* Build a small list, then check it between GC points. */
static void *allocating_worker(void *p) {
    worker_arg *a = p;
    protocol_state *s = a->s;
    toyvm_thread *t = toyvm_thread_attach(s->heap);
    size_t r = toyvm_push_root(t, mdn_objref_null());
    uint64_t seed = 0x1234567ull + (uint64_t)a->id;
    a->ok = true;
    for (int it = 0; it < a->iterations; it++) {
        mdn_objref n = toyvm_alloc(t, 20, 1, 16, MDN_ALLOC_DEFAULT);
        __atomic_store_n(&s->in_window[a->id], 1, __ATOMIC_RELEASE);
        ((uint64_t *)toyvm_payload(n))[0] = (uint64_t)it;
        toyvm_set_ref(t, n, 0, (it % 64) ? toyvm_root(t, r) : mdn_objref_null());
        toyvm_set_root(t, r, n);
        /* Walk the list: it must be intact (nothing moved under us). */
        uint64_t expect = (uint64_t)it;
        for (mdn_objref c = toyvm_root(t, r); !mdn_objref_is_null(c); c = toyvm_get_ref(c, 0))
            if (((uint64_t *)toyvm_payload(c))[0] != expect--)
                a->ok = false;
        __atomic_store_n(&s->in_window[a->id], 0, __ATOMIC_RELEASE);
        mdn_safepoint(t->mutator);
        if (mdn_test_rand_below(&seed, 2000) == 0)
            mdn_collect(t->mutator, mdn_test_rand_below(&seed, 2) ? MDN_GC_FULL : MDN_GC_DEFAULT);
    }
    toyvm_pop_roots(t, 1);
    toyvm_thread_detach(t);
    return NULL;
}

/* Alternates between allocating and long stretches in native code. */
static void *native_worker(void *p) {
    worker_arg *a = p;
    protocol_state *s = a->s;
    toyvm_thread *t = toyvm_thread_attach(s->heap);
    size_t r = toyvm_push_root(t, toyvm_alloc(t, 21, 0, 64, MDN_ALLOC_DEFAULT));
    ((uint64_t *)toyvm_payload(toyvm_root(t, r)))[3] = 0xabcdef;
    a->ok = true;
    for (int it = 0; it < a->iterations; it++) {
        mdn_enter_native(t->mutator);
        usleep(200);
        mdn_leave_native(t->mutator);
        __atomic_store_n(&s->in_window[a->id], 1, __ATOMIC_RELEASE);
        if (((uint64_t *)toyvm_payload(toyvm_root(t, r)))[3] != 0xabcdef)
            a->ok = false;
        __atomic_store_n(&s->in_window[a->id], 0, __ATOMIC_RELEASE);
        for (int k = 0; k < 50; k++)
            toyvm_alloc(t, 22, 0, 100, MDN_ALLOC_DEFAULT);
        if (it % 25 == 0)
            mdn_collect(t->mutator, MDN_GC_DEFAULT);
    }
    toyvm_pop_roots(t, 1);
    toyvm_thread_detach(t);
    return NULL;
}

START_TEST(collections_see_every_mutator_stopped) {
    protocol_state s;
    memset(&s, 0, sizeof s);
    s.heap = make_heap((size_t)24 << 20, _i == 0 ? 1 : 2);
    toyvm_set_gc_hook(check_world_stopped, &s);
    pthread_t th[THREADS];
    worker_arg args[THREADS];
    for (int i = 0; i < THREADS; i++) {
        args[i] = (worker_arg){&s, i, i == THREADS - 1 ? 400 : 30000, false};
        pthread_create(&th[i], NULL, i == THREADS - 1 ? native_worker : allocating_worker, &args[i]);
    }
    for (int i = 0; i < THREADS; i++) {
        pthread_join(th[i], NULL);
        ck_assert_msg(args[i].ok, "thread %d saw its objects change between GC points", i);
    }
    toyvm_set_gc_hook(NULL, NULL);
    ck_assert_int_eq(s.violations, 0);
    if (plan_collects(s.heap))
        ck_assert_int_gt(s.collections_seen, 10);
    mdn_heap_destroy(s.heap);
}
END_TEST

/* A thread stays native until the others have collected many times: the
 * collector must not wait for it. */
static void *long_native(void *p) {
    worker_arg *a = p;
    protocol_state *s = a->s;
    toyvm_thread *t = toyvm_thread_attach(s->heap);
    size_t r = toyvm_push_root(t, toyvm_alloc(t, 23, 1, 32, MDN_ALLOC_DEFAULT));
    ((uint64_t *)toyvm_payload(toyvm_root(t, r)))[0] = 777;
    mdn_enter_native(t->mutator);
    while (!__atomic_load_n(&s->native_released, __ATOMIC_ACQUIRE))
        usleep(1000);
    mdn_leave_native(t->mutator);
    a->ok = ((uint64_t *)toyvm_payload(toyvm_root(t, r)))[0] == 777 && toyvm_type(toyvm_root(t, r)) == 23;
    toyvm_pop_roots(t, 1);
    toyvm_thread_detach(t);
    return NULL;
}

START_TEST(native_thread_is_not_waited_for) {
    protocol_state s;
    memset(&s, 0, sizeof s);
    s.heap = make_heap((size_t)32 << 20, 2);
    pthread_t th;
    worker_arg arg = {&s, 0, 0, false};
    pthread_create(&th, NULL, long_native, &arg);
    toyvm_thread *t = toyvm_thread_attach(s.heap);
    for (int i = 0; i < 30; i++) {
        for (int k = 0; k < 2000; k++)
            toyvm_alloc(t, 24, 0, 40, MDN_ALLOC_DEFAULT);
        mdn_collect(t->mutator, i % 2 ? MDN_GC_FULL : MDN_GC_DEFAULT);
    }
    __atomic_store_n(&s.native_released, 1, __ATOMIC_RELEASE);
    pthread_join(th, NULL);
    ck_assert(arg.ok);
    toyvm_thread_detach(t);
    mdn_heap_destroy(s.heap);
}
END_TEST

static void *binder(void *p) {
    worker_arg *a = p;
    for (int it = 0; it < a->iterations; it++) {
        toyvm_thread *t = toyvm_thread_attach(a->s->heap);
        size_t r = toyvm_push_root(t, mdn_objref_null());
        for (int k = 0; k < 200; k++) {
            mdn_objref n = toyvm_alloc(t, 25, 1, 8, MDN_ALLOC_DEFAULT);
            toyvm_set_ref(t, n, 0, toyvm_root(t, r));
            toyvm_set_root(t, r, n);
        }
        int len = 0;
        for (mdn_objref c = toyvm_root(t, r); !mdn_objref_is_null(c); c = toyvm_get_ref(c, 0))
            len++;
        if (len != 200)
            a->ok = false;
        toyvm_pop_roots(t, 1);
        toyvm_thread_detach(t);
    }
    return NULL;
}

START_TEST(bind_and_unbind_during_collections) {
    protocol_state s;
    memset(&s, 0, sizeof s);
    s.heap = make_heap((size_t)96 << 20, 2);
    enum { B = 3 };
    pthread_t th[B];
    worker_arg args[B];
    for (int i = 0; i < B; i++) {
        args[i] = (worker_arg){&s, i, 300, true};
        pthread_create(&th[i], NULL, binder, &args[i]);
    }
    toyvm_thread *t = toyvm_thread_attach(s.heap);
    for (int i = 0; i < 200; i++) {
        for (int k = 0; k < 500; k++)
            toyvm_alloc(t, 26, 0, 24, MDN_ALLOC_DEFAULT);
        mdn_collect(t->mutator, MDN_GC_DEFAULT);
    }
    for (int i = 0; i < B; i++) {
        pthread_join(th[i], NULL);
        ck_assert(args[i].ok);
    }
    toyvm_thread_detach(t);
    mdn_heap_destroy(s.heap);
}
END_TEST

int main(void) {
    Suite *su = suite_create("protocol");
    TCase *tc = tcase_create(MDN_TEST_PLAN);
    tcase_set_timeout(tc, 300);
    tcase_add_loop_test(tc, collections_see_every_mutator_stopped, 0, 2);
    tcase_add_test(tc, native_thread_is_not_waited_for);
    tcase_add_test(tc, bind_and_unbind_during_collections);
    suite_add_tcase(su, tc);
    return mdn_run_suite(su);
}
