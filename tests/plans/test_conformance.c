/*
 * The plan conformance suite: runs unchanged on every plan.
 * MDN_TEST_LABELS: threads conformance
 *
 * Random object graphs mirrored in a shadow model (testutil/shadow.h) are
 * mutated, collected and compared; garbage must be reclaimed (plans that
 * collect); large, immortal and non-moving objects, registered and global
 * roots, deep and wide graphs; 1 and 2 GC threads; several mutator threads.
 */
#include "shadow.h"
#include "testutil.h"
#include "toyvm.h"

#include "mdn_check.h"
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Options from the environment (MDN_STRESS, MDN_VERIFY, MDN_POISON, ...),
 * so the suite also runs under GC stress and the heap verifier; the heap
 * size and GC threads are the test's own. */
static mdn_heap *make_heap(size_t bytes, unsigned gc_threads) {
    mdn_options o;
    mdn_options_init(&o);
    mdn_error env_err;
    ck_assert_msg(mdn_options_from_env(&o, &env_err), "%s", env_err.message);
    o.heap_size = bytes;
    o.gc_threads = gc_threads;
    mdn_error err;
    mdn_heap *h = mdn_heap_create(&o, &err);
    ck_assert_msg(h != NULL, "%s", err.message);
    return h;
}

static uint64_t collections(mdn_heap *h) {
    mdn_stats st;
    mdn_stats_get(h, &st);
    return st.collections;
}

/* Does the linked plan collect at all? (NoGC does not.) */
static bool plan_collects(void) {
    mdn_heap *h = make_heap((size_t)16 << 20, 1);
    toyvm_thread *t = toyvm_thread_attach(h);
    mdn_collect(t->mutator, MDN_GC_FULL);
    bool collects = collections(h) > 0;
    toyvm_thread_detach(t);
    mdn_heap_destroy(h);
    return collects;
}

static unsigned gc_threads_for(int i) { return i == 0 ? 1u : 2u; }

static void verify_or_fail(shadow_world *w, uint64_t seed, const char *where) {
    ck_assert_msg(shadow_verify(w), "%s: seed %llu, operation %llu: %s", where, (unsigned long long)seed,
                  (unsigned long long)w->ops, w->failure);
}

START_TEST(random_graph_survives_collections) {
    uint64_t seed = mdn_test_seed("random_graph_survives_collections");
    mdn_heap *h = make_heap((size_t)96 << 20, gc_threads_for(_i));
    toyvm_thread *t = toyvm_thread_attach(h);
    shadow_world w;
    shadow_world_init(&w, t, seed, 1, 48, 12, 4);
    for (int round = 0; round < 40; round++) {
        for (int k = 0; k < 500; k++)
            ck_assert_msg(shadow_step(&w, 200), "out of memory at operation %llu (seed %llu)",
                          (unsigned long long)w.ops, (unsigned long long)seed);
        verify_or_fail(&w, seed, "between collections");
        mdn_collect(t->mutator, round % 3 == 0 ? MDN_GC_FULL : MDN_GC_DEFAULT);
        verify_or_fail(&w, seed, "after a collection");
    }
    shadow_world_destroy(&w);
    toyvm_thread_detach(t);
    mdn_heap_destroy(h);
}
END_TEST

START_TEST(small_heap_collects_on_demand) {
    if (!plan_collects())
        return;
    uint64_t seed = mdn_test_seed("small_heap_collects_on_demand");
    mdn_heap *h = make_heap((size_t)12 << 20, gc_threads_for(_i));
    toyvm_thread *t = toyvm_thread_attach(h);
    shadow_world w;
    shadow_world_init(&w, t, seed, 2, 64, 8, 2);
    for (int k = 0; k < 60000; k++) {
        ck_assert_msg(shadow_step(&w, 0), "out of memory at operation %llu (seed %llu)", (unsigned long long)w.ops,
                      (unsigned long long)seed);
        if (k % 5000 == 4999)
            verify_or_fail(&w, seed, "periodic check");
    }
    ck_assert_uint_gt(collections(h), 0);
    mdn_collect(t->mutator, MDN_GC_DEFAULT);
    verify_or_fail(&w, seed, "final check");
    shadow_world_destroy(&w);
    toyvm_thread_detach(t);
    mdn_heap_destroy(h);
}
END_TEST

START_TEST(garbage_is_reclaimed) {
    if (!plan_collects())
        return;
    /* 8 MiB heap, ~1 MiB live, 400 MiB allocated: only reuse makes it fit. */
    mdn_heap *h = make_heap((size_t)8 << 20, gc_threads_for(_i));
    toyvm_thread *t = toyvm_thread_attach(h);
    enum { LIVE = 8192 };
    size_t base = t->root_count;
    for (int i = 0; i < LIVE; i++)
        toyvm_push_root(t, mdn_objref_null());
    for (uint64_t i = 0; i < 4000000; i++) {
        mdn_objref o = toyvm_alloc(t, 8, 1, 80, MDN_ALLOC_DEFAULT);
        ((uint64_t *)toyvm_payload(o))[0] = i;
        toyvm_set_root(t, base + i % LIVE, o);
    }
    for (int i = 0; i < LIVE; i++) {
        mdn_objref o = toyvm_root(t, base + (size_t)i);
        ck_assert_uint_eq(((uint64_t *)toyvm_payload(o))[0] % LIVE, (uint64_t)i);
    }
    ck_assert_uint_gt(collections(h), 10);
    /* Large objects too: 64 KiB each, 4 live, 256 MiB allocated. */
    for (int i = 0; i < 4096; i++) {
        mdn_objref o = toyvm_alloc(t, 8, 0, 65536, MDN_ALLOC_DEFAULT);
        ((uint64_t *)toyvm_payload(o))[8191] = (uint64_t)i;
        toyvm_set_root(t, base + (size_t)(i % 4), o);
    }
    for (int i = 0; i < 4; i++)
        ck_assert_uint_eq(((uint64_t *)toyvm_payload(toyvm_root(t, base + (size_t)i)))[8191] % 4, (uint64_t)i);
    toyvm_pop_roots(t, LIVE);
    toyvm_thread_detach(t);
    mdn_heap_destroy(h);
}
END_TEST

START_TEST(immortal_and_nonmoving_objects_keep_referents) {
    mdn_heap *h = make_heap((size_t)32 << 20, gc_threads_for(_i));
    toyvm_thread *t = toyvm_thread_attach(h);
    size_t base = t->root_count;
    /* An immortal and a non-moving object each hold a chain of ordinary ones. */
    mdn_alloc_kind kinds[2] = {MDN_ALLOC_IMMORTAL, MDN_ALLOC_NONMOVING};
    for (int k = 0; k < 2; k++) {
        mdn_objref holder = toyvm_alloc(t, 10, 1, 16, kinds[k]);
        toyvm_push_root(t, holder);
        for (int i = 0; i < 1000; i++) {
            mdn_objref n = toyvm_alloc(t, 11, 1, 16, MDN_ALLOC_DEFAULT);
            ((uint64_t *)toyvm_payload(n))[0] = (uint64_t)(k * 1000 + i);
            holder = toyvm_root(t, base + (size_t)k);
            toyvm_set_ref(t, n, 0, toyvm_get_ref(holder, 0));
            toyvm_set_ref(t, holder, 0, n);
        }
    }
    uintptr_t nonmoving_at = toyvm_root(t, base + 1).value;
    for (int c = 0; c < 3; c++) {
        /* Garbage in between so collections have something to do. */
        for (int i = 0; i < 100000; i++)
            toyvm_alloc(t, 12, 0, 40, MDN_ALLOC_DEFAULT);
        mdn_collect(t->mutator, c == 2 ? MDN_GC_FULL : MDN_GC_DEFAULT);
        ck_assert_uint_eq(toyvm_root(t, base + 1).value, nonmoving_at);
        for (int k = 0; k < 2; k++) {
            mdn_objref n = toyvm_get_ref(toyvm_root(t, base + (size_t)k), 0);
            for (int i = 999; i >= 0; i--) {
                ck_assert(!mdn_objref_is_null(n));
                ck_assert_uint_eq(toyvm_type(n), 11);
                ck_assert_uint_eq(((uint64_t *)toyvm_payload(n))[0], (uint64_t)(k * 1000 + i));
                n = toyvm_get_ref(n, 0);
            }
            ck_assert(mdn_objref_is_null(n));
        }
    }
    toyvm_pop_roots(t, 2);
    toyvm_thread_detach(t);
    mdn_heap_destroy(h);
}
END_TEST

START_TEST(registered_and_global_roots) {
    mdn_heap *h = make_heap((size_t)32 << 20, gc_threads_for(_i));
    toyvm_thread *t = toyvm_thread_attach(h);
    enum { N = 300 };
    mdn_objref *range = calloc(N, sizeof *range);
    mdn_add_roots(h, range, N);
    static mdn_objref global;
    toyvm_add_global_root(&global);
    for (int i = 0; i < N; i++) {
        mdn_objref o = toyvm_alloc(t, 13, 0, 24, i % 7 == 0 ? MDN_ALLOC_LARGE : MDN_ALLOC_DEFAULT);
        ((uint64_t *)toyvm_payload(o))[0] = (uint64_t)i * 7919;
        range[i] = o;
    }
    global = toyvm_alloc(t, 14, 0, 24, MDN_ALLOC_DEFAULT);
    ((uint64_t *)toyvm_payload(global))[1] = 0xfeedface;
    for (int c = 0; c < 4; c++) {
        for (int i = 0; i < 50000; i++)
            toyvm_alloc(t, 12, 0, 56, MDN_ALLOC_DEFAULT);
        mdn_collect(t->mutator, c % 2 ? MDN_GC_FULL : MDN_GC_DEFAULT);
        for (int i = 0; i < N; i++) {
            ck_assert_uint_eq(toyvm_type(range[i]), 13);
            ck_assert_uint_eq(((uint64_t *)toyvm_payload(range[i]))[0], (uint64_t)i * 7919);
        }
        ck_assert_uint_eq(toyvm_type(global), 14);
        ck_assert_uint_eq(((uint64_t *)toyvm_payload(global))[1], 0xfeedface);
    }
    mdn_remove_roots(h, range);
    toyvm_remove_global_root(&global);
    global = mdn_objref_null();
    mdn_collect(t->mutator, MDN_GC_FULL);
    free(range);
    toyvm_thread_detach(t);
    mdn_heap_destroy(h);
}
END_TEST

START_TEST(deep_list_and_wide_object) {
    mdn_heap *h = make_heap((size_t)160 << 20, gc_threads_for(_i));
    toyvm_thread *t = toyvm_thread_attach(h);
    enum { DEPTH = 1000000, WIDTH = 60000 };
    size_t r = toyvm_push_root(t, mdn_objref_null());
    for (int i = 0; i < DEPTH; i++) {
        mdn_objref n = toyvm_alloc(t, 15, 1, 8, MDN_ALLOC_DEFAULT);
        ((uint64_t *)toyvm_payload(n))[0] = (uint64_t)i;
        toyvm_set_ref(t, n, 0, toyvm_root(t, r));
        toyvm_set_root(t, r, n);
    }
    size_t wr = toyvm_push_root(t, toyvm_alloc(t, 16, WIDTH, 8, MDN_ALLOC_DEFAULT));
    for (int i = 0; i < WIDTH; i++) {
        mdn_objref leaf = toyvm_alloc(t, 17, 0, 8, MDN_ALLOC_DEFAULT);
        ((uint64_t *)toyvm_payload(leaf))[0] = (uint64_t)i;
        toyvm_set_ref(t, toyvm_root(t, wr), (unsigned)i, leaf);
    }
    mdn_collect(t->mutator, MDN_GC_FULL);
    mdn_collect(t->mutator, MDN_GC_DEFAULT);
    mdn_objref n = toyvm_root(t, r);
    for (int i = DEPTH - 1; i >= 0; i--) {
        ck_assert_uint_eq(((uint64_t *)toyvm_payload(n))[0], (uint64_t)i);
        n = toyvm_get_ref(n, 0);
    }
    ck_assert(mdn_objref_is_null(n));
    mdn_objref wide = toyvm_root(t, wr);
    for (int i = 0; i < WIDTH; i++)
        ck_assert_uint_eq(((uint64_t *)toyvm_payload(toyvm_get_ref(wide, (unsigned)i)))[0], (uint64_t)i);
    toyvm_pop_roots(t, 2);
    toyvm_thread_detach(t);
    mdn_heap_destroy(h);
}
END_TEST

typedef struct mt_arg {
    mdn_heap *heap;
    uint64_t seed;
    unsigned tag;
    int steps;
    bool ok;
    char failure[600];
} mt_arg;

static void *mt_worker(void *p) {
    mt_arg *a = p;
    toyvm_thread *t = toyvm_thread_attach(a->heap);
    shadow_world w;
    shadow_world_init(&w, t, a->seed, a->tag, 32, 4, 1);
    a->ok = true;
    for (int k = 0; k < a->steps && a->ok; k++) {
        if (!shadow_step(&w, 400)) {
            snprintf(a->failure, sizeof a->failure, "out of memory at operation %llu", (unsigned long long)w.ops);
            a->ok = false;
        }
        mdn_safepoint(t->mutator);
        if (k % 2000 == 1999 && !shadow_verify(&w)) {
            snprintf(a->failure, sizeof a->failure, "thread %u operation %llu: %s", a->tag, (unsigned long long)w.ops,
                     w.failure);
            a->ok = false;
        }
    }
    if (a->ok && !shadow_verify(&w)) {
        snprintf(a->failure, sizeof a->failure, "thread %u final: %s", a->tag, w.failure);
        a->ok = false;
    }
    shadow_world_destroy(&w);
    toyvm_thread_detach(t);
    return NULL;
}

START_TEST(multithreaded_mutators) {
    uint64_t seed = mdn_test_seed("multithreaded_mutators");
    mdn_heap *h = make_heap((size_t)128 << 20, gc_threads_for(_i));
    enum { T = 4 };
    pthread_t th[T];
    mt_arg args[T];
    for (unsigned i = 0; i < T; i++) {
        args[i] = (mt_arg){.heap = h, .seed = seed + i * 7777, .tag = i + 1, .steps = 12000};
        pthread_create(&th[i], NULL, mt_worker, &args[i]);
    }
    for (unsigned i = 0; i < T; i++) {
        pthread_join(th[i], NULL);
        ck_assert_msg(args[i].ok, "seed %llu: %s", (unsigned long long)seed, args[i].failure);
    }
    mdn_heap_destroy(h);
}
END_TEST

int main(void) {
    Suite *s = suite_create("conformance");
    TCase *tc = tcase_create(MDN_TEST_PLAN);
    tcase_set_timeout(tc, 300);
    tcase_add_loop_test(tc, random_graph_survives_collections, 0, 2);
    tcase_add_loop_test(tc, small_heap_collects_on_demand, 0, 2);
    tcase_add_loop_test(tc, garbage_is_reclaimed, 0, 2);
    tcase_add_loop_test(tc, immortal_and_nonmoving_objects_keep_referents, 0, 2);
    tcase_add_loop_test(tc, registered_and_global_roots, 0, 2);
    tcase_add_loop_test(tc, deep_list_and_wide_object, 0, 2);
    tcase_add_loop_test(tc, multithreaded_mutators, 0, 2);
    suite_add_tcase(s, tc);
    return mdn_run_suite(s);
}
