/*
 * Generational collection (docs/design/generational.md): an old object
 * that gets a reference to a young one through each barrier form keeps it
 * alive across a minor collection; a minor collection does not trace old
 * objects and frees young garbage, small and large; the remembered set
 * takes more objects than a buffer holds; minor and full collections
 * alternate; several mutators store through the barrier while others
 * collect; and the barrier verifier names a store that skipped the
 * barrier; the `nursery` and `nursery-percent` options bound what is
 * allocated between two collections; and on a growable heap minor
 * collections keep the limit the last full one set. Heaps poison
 * reclaimed memory and verify after every collection, so a young object
 * freed too early is a failure, not luck.
 * Each test runs with 1 and 2 GC threads.
 *
 * MDN_TEST_LABELS: threads
 */
#include "testutil.h"
#include "toyvm.h"

#include "mdn_check.h"
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MIB ((size_t)1 << 20)

static const unsigned gc_threads_of[] = {1, 2};

/* The tests choose minor or full themselves: the policy never upgrades a
 * default collection (policy_* tests check the policy). */
#define MINOR_ONLY "gen-full-alloc=100000,gen-min-yield=0,gen-full-threshold=100"

static mdn_heap *gen_heap(unsigned gc_threads) {
    return mdn_test_heap_with(64 * MIB, gc_threads, "poison=1,verify=1," MINOR_ONLY);
}

static uint64_t minors(mdn_heap *h) {
    mdn_stats st;
    mdn_stats_get(h, &st);
    return st.collections - st.full_collections;
}

static uint64_t fulls(mdn_heap *h) {
    mdn_stats st;
    mdn_stats_get(h, &st);
    return st.full_collections;
}

/* A young object with a recognisable payload word. */
static mdn_objref young(toyvm_thread *t, uint64_t mark) {
    mdn_objref o = toyvm_alloc(t, 3, 1, 16, MDN_ALLOC_DEFAULT);
    ck_assert(!mdn_objref_is_null(o));
    ((uint64_t *)toyvm_payload(o))[0] = mark;
    ((uint64_t *)toyvm_payload(o))[1] = ~mark;
    return o;
}

static void check_young(mdn_objref o, uint64_t mark) {
    ck_assert_msg(!mdn_objref_is_null(o), "lost the reference to object %llx", (unsigned long long)mark);
    uint64_t *p = toyvm_payload(o);
    ck_assert_msg(p[0] == mark && p[1] == ~mark, "object %llx was reclaimed (payload %llx %llx)",
                  (unsigned long long)mark, (unsigned long long)p[0], (unsigned long long)p[1]);
}

/* A collection the plan makes minor; fails if it was full. */
static void minor_collect(mdn_heap *h, toyvm_thread *t) {
    uint64_t m = minors(h), f = fulls(h);
    mdn_collect(t->mutator, MDN_GC_DEFAULT);
    ck_assert_msg(minors(h) == m + 1 && fulls(h) == f, "the collection was not minor");
}

/* An old object: allocated, rooted at a new shadow-stack slot, promoted by
 * a full collection. */
static size_t old_root(toyvm_thread *t, unsigned nrefs) {
    size_t r = toyvm_push_root(t, toyvm_alloc(t, 4, nrefs, 8, MDN_ALLOC_DEFAULT));
    ck_assert(!mdn_objref_is_null(toyvm_root(t, r)));
    return r;
}

/* A heap, a thread and one old object of `nrefs` fields in root `holder`. */
typedef struct fixture {
    mdn_heap *h;
    toyvm_thread *t;
    size_t holder;
} fixture;

static fixture start(mdn_heap *h, unsigned nrefs) {
    fixture f = {h, toyvm_thread_attach(h), 0};
    f.holder = old_root(f.t, nrefs);
    mdn_collect(f.t->mutator, MDN_GC_FULL);
    return f;
}

static void finish(fixture *f) {
    toyvm_thread_detach(f->t);
    mdn_heap_destroy(f->h);
}

enum { FORM_SINGLE, FORM_RANGE, FORM_MODIFIED, FORMS };

/* The old→young reference made through barrier form `form` (the young
 * object is held in no root) survives a minor collection, and then a full
 * one. */
START_TEST(old_to_young_survives_minor) {
    for (int form = 0; form < FORMS; form++) {
        fixture f = start(gen_heap(gc_threads_of[_i]), 4);
        mdn_heap *h = f.h;
        toyvm_thread *t = f.t;
        size_t holder = f.holder;
        mdn_objref y = young(t, 0xabc0 + (uint64_t)form);
        mdn_objref o = toyvm_root(t, holder);
        if (form == FORM_SINGLE) {
            toyvm_set_ref(t, o, 2, y);
        } else if (form == FORM_RANGE) {
            mdn_objref *fields = (mdn_objref *)mdn_address_to_ptr(mdn_slot_address(toyvm_ref_slot(o, 1)));
            fields[0] = y;
            fields[1] = y;
            mdn_write_barrier_range(t->mutator, o, toyvm_ref_slot(o, 1), 2);
        } else {
            mdn_slot_store(toyvm_ref_slot(o, 3), y); /* as native code would */
            mdn_object_modified(t->mutator, o);
        }
        y = mdn_objref_null();
        minor_collect(h, t);
        unsigned field = form == FORM_SINGLE ? 2 : form == FORM_RANGE ? 1 : 3;
        check_young(toyvm_get_ref(toyvm_root(t, holder), field), 0xabc0 + (uint64_t)form);
        /* Another minor collection: the object is old now and not remembered. */
        minor_collect(h, t);
        mdn_collect(t->mutator, MDN_GC_FULL);
        check_young(toyvm_get_ref(toyvm_root(t, holder), field), 0xabc0 + (uint64_t)form);
        finish(&f);
    }
}
END_TEST

/* Young objects reachable only through an array copy into an old array. */
START_TEST(bulk_copy_into_old_array) {
    enum { N = 300 };
    fixture f = start(gen_heap(gc_threads_of[_i]), N);
    mdn_heap *h = f.h;
    toyvm_thread *t = f.t;
    size_t dst = f.holder;
    size_t src = toyvm_push_root(t, toyvm_alloc(t, 5, N, 0, MDN_ALLOC_DEFAULT));
    for (unsigned i = 0; i < N; i++) {
        mdn_objref y = young(t, 0x5000 + i);
        toyvm_set_ref(t, toyvm_root(t, src), i, y);
    }
    toyvm_copy_refs(t, toyvm_root(t, dst), 0, toyvm_root(t, src), 0, N);
    toyvm_set_root(t, src, mdn_objref_null()); /* the young array dies */
    minor_collect(h, t);
    for (unsigned i = 0; i < N; i++)
        check_young(toyvm_get_ref(toyvm_root(t, dst), i), 0x5000 + i);
    finish(&f);
}
END_TEST

/* More logged objects than a mutator's buffer holds: every one of them is
 * remembered. */
START_TEST(remembered_set_overflow) {
    enum { N = 5000 };
    mdn_heap *h = gen_heap(gc_threads_of[_i]);
    toyvm_thread *t = toyvm_thread_attach(h);
    size_t list = old_root(t, N);
    for (unsigned i = 0; i < N; i++)
        toyvm_set_ref(t, toyvm_root(t, list), i, toyvm_alloc(t, 4, 1, 8, MDN_ALLOC_DEFAULT));
    mdn_collect(t->mutator, MDN_GC_FULL);
    for (unsigned i = 0; i < N; i++) {
        mdn_objref y = young(t, 0x7000 + i);
        toyvm_set_ref(t, toyvm_get_ref(toyvm_root(t, list), i), 0, y);
    }
    minor_collect(h, t);
    for (unsigned i = 0; i < N; i++)
        check_young(toyvm_get_ref(toyvm_get_ref(toyvm_root(t, list), i), 0), 0x7000 + i);
    toyvm_thread_detach(t);
    mdn_heap_destroy(h);
}
END_TEST

static uint64_t last_traced;
static void note_traced(mdn_heap *heap, const mdn_event *e, void *data) {
    (void)heap, (void)data;
    if (e->kind == MDN_EVENT_GC_END)
        last_traced = e->objects_traced;
}

/* A minor collection traces the young survivors and the remembered objects,
 * not the old graph; it frees young garbage, small and large; young large
 * objects that are reachable survive. */
START_TEST(minor_collection_is_minor) {
    enum { OLD = 20000 };
    mdn_heap *h = gen_heap(gc_threads_of[_i]);
    toyvm_thread *t = toyvm_thread_attach(h);
    mdn_event_listener_add(h, note_traced, NULL);
    size_t chain = toyvm_push_root(t, mdn_objref_null());
    for (unsigned i = 0; i < OLD; i++) {
        mdn_objref n = toyvm_alloc(t, 4, 1, 8, MDN_ALLOC_DEFAULT);
        toyvm_init_ref(n, 0, toyvm_root(t, chain));
        toyvm_set_root(t, chain, n);
    }
    mdn_collect(t->mutator, MDN_GC_FULL);
    ck_assert_uint_ge(last_traced, OLD);
    minor_collect(h, t);
    ck_assert_msg(last_traced < 100, "a minor collection traced %llu objects of an old graph",
                  (unsigned long long)last_traced);
    mdn_stats before;
    mdn_stats_get(h, &before);
    for (unsigned i = 0; i < 64; i++) /* 4 MiB of young garbage, a quarter large */
        ck_assert(!mdn_objref_is_null(toyvm_alloc(t, 6, 0, i % 4 ? 40000 : 60000, MDN_ALLOC_DEFAULT)));
    for (unsigned i = 0; i < 20000; i++)
        ck_assert(!mdn_objref_is_null(toyvm_alloc(t, 6, 0, 48, MDN_ALLOC_DEFAULT)));
    size_t big = toyvm_push_root(t, toyvm_alloc(t, 7, 1, 50000, MDN_ALLOC_DEFAULT));
    mdn_objref y = young(t, 0xb16);
    toyvm_set_ref(t, toyvm_root(t, big), 0, y);
    minor_collect(h, t);
    mdn_stats after;
    mdn_stats_get(h, &after);
    ck_assert_msg(after.live_bytes_after < before.live_bytes_after + 256 * 1024,
                  "live bytes %llu after a minor collection of young garbage, %llu before",
                  (unsigned long long)after.live_bytes_after, (unsigned long long)before.live_bytes_after);
    check_young(toyvm_get_ref(toyvm_root(t, big), 0), 0xb16);
    /* The large object is old now: a young object stored into it survives. */
    toyvm_set_ref(t, toyvm_root(t, big), 0, young(t, 0xb17));
    minor_collect(h, t);
    check_young(toyvm_get_ref(toyvm_root(t, big), 0), 0xb17);
    mdn_event_listener_remove(h, note_traced, NULL);
    toyvm_thread_detach(t);
    mdn_heap_destroy(h);
}
END_TEST

/* Minor and full collections in turn, with the graph changing between
 * them through the barrier: the shadow of what each old slot should hold
 * is checked after every collection. Pinned objects stay where they are. */
START_TEST(minor_then_full_sequences) {
    enum { SLOTS = 512, ROUNDS = 12 };
    uint64_t seed = mdn_test_seed("minor_then_full_sequences");
    mdn_heap *h = gen_heap(gc_threads_of[_i]);
    toyvm_thread *t = toyvm_thread_attach(h);
    size_t arr = old_root(t, SLOTS);
    uint64_t *expect = calloc(SLOTS, sizeof *expect);
    size_t pinned = toyvm_push_root(t, toyvm_alloc(t, 8, 0, 8, MDN_ALLOC_NONMOVING));
    uintptr_t pinned_at = toyvm_root(t, pinned).value;
    for (unsigned round = 0; round < ROUNDS; round++) {
        for (unsigned k = 0; k < SLOTS / 4; k++) {
            unsigned i = (unsigned)mdn_test_rand_below(&seed, SLOTS);
            uint64_t mark = ((uint64_t)round << 32) | (k + 1);
            toyvm_set_ref(t, toyvm_root(t, arr), i, young(t, mark));
            expect[i] = mark;
        }
        if (round % 3 == 2)
            mdn_collect(t->mutator, MDN_GC_FULL);
        else
            minor_collect(h, t);
        for (unsigned i = 0; i < SLOTS; i++)
            if (expect[i])
                check_young(toyvm_get_ref(toyvm_root(t, arr), i), expect[i]);
        ck_assert_uint_eq(toyvm_root(t, pinned).value, pinned_at);
    }
    ck_assert_uint_ge(fulls(h), ROUNDS / 3);
    ck_assert_uint_ge(minors(h), ROUNDS / 2);
    free(expect);
    toyvm_thread_detach(t);
    mdn_heap_destroy(h);
}
END_TEST

/* Several mutators store young objects into shared old arrays through the
 * barrier while each collects now and then. */
typedef struct shared {
    mdn_heap *heap;
    mdn_objref *arrays; /* registered roots: one old array per thread */
    unsigned nthreads;
} shared;

enum { MT_SLOTS = 256, MT_ROUNDS = 60 };

typedef struct worker_arg {
    shared *s;
    unsigned id;
} worker_arg;

static void *mt_worker(void *p) {
    worker_arg *a = p;
    shared *s = a->s;
    toyvm_thread *t = toyvm_thread_attach(s->heap);
    for (unsigned round = 0; round < MT_ROUNDS; round++) {
        /* Write into the next thread's array: other threads' objects. */
        mdn_objref arr = s->arrays[(a->id + 1) % s->nthreads];
        for (unsigned i = 0; i < MT_SLOTS; i++) {
            mdn_objref y = toyvm_alloc(t, 3, 1, 16, MDN_ALLOC_DEFAULT);
            ((uint64_t *)toyvm_payload(y))[0] = ((uint64_t)a->id << 40) | ((uint64_t)round << 16) | i;
            ((uint64_t *)toyvm_payload(y))[1] = ~((uint64_t *)toyvm_payload(y))[0];
            arr = s->arrays[(a->id + 1) % s->nthreads]; /* the allocation may have collected */
            toyvm_set_ref(t, arr, i, y);
        }
        if (round % 8 == a->id % 8)
            mdn_collect(t->mutator, MDN_GC_DEFAULT);
        mdn_safepoint(t->mutator);
    }
    toyvm_thread_detach(t);
    return NULL;
}

START_TEST(mutators_store_while_collecting) {
    enum { THREADS = 4 };
    shared s = {gen_heap(gc_threads_of[_i]), NULL, THREADS};
    mdn_objref arrays[THREADS];
    s.arrays = arrays;
    toyvm_thread *t = toyvm_thread_attach(s.heap);
    for (unsigned i = 0; i < THREADS; i++)
        arrays[i] = mdn_objref_null();
    mdn_add_roots(s.heap, arrays, THREADS);
    for (unsigned i = 0; i < THREADS; i++)
        arrays[i] = toyvm_alloc(t, 5, MT_SLOTS, 0, MDN_ALLOC_DEFAULT);
    mdn_collect(t->mutator, MDN_GC_FULL);
    mdn_enter_native(t->mutator);
    pthread_t th[THREADS];
    worker_arg args[THREADS];
    for (unsigned i = 0; i < THREADS; i++) {
        args[i] = (worker_arg){&s, i};
        ck_assert_int_eq(pthread_create(&th[i], NULL, mt_worker, &args[i]), 0);
    }
    for (unsigned i = 0; i < THREADS; i++)
        pthread_join(th[i], NULL);
    mdn_leave_native(t->mutator);
    mdn_collect(t->mutator, MDN_GC_DEFAULT);
    for (unsigned a = 0; a < THREADS; a++) {
        unsigned writer = (a + THREADS - 1) % THREADS;
        for (unsigned i = 0; i < MT_SLOTS; i++) {
            uint64_t mark = ((uint64_t)writer << 40) | ((uint64_t)(MT_ROUNDS - 1) << 16) | i;
            check_young(toyvm_get_ref(arrays[a], i), mark);
        }
    }
    ck_assert_uint_gt(minors(s.heap), 0);
    mdn_remove_roots(s.heap, arrays);
    toyvm_thread_detach(t);
    mdn_heap_destroy(s.heap);
}
END_TEST

/* .gen.policy: a minor collection that reclaims less than gen-min-yield
 * percent makes the next one full; any collection that leaves the heap
 * more than gen-full-threshold percent in use too. */
START_TEST(policy_low_yield_then_full) {
    mdn_heap *h = mdn_test_heap_with(64 * MIB, gc_threads_of[_i], "gen-min-yield=50,gen-full-threshold=100,gen-full-alloc=100000");
    toyvm_thread *t = toyvm_thread_attach(h);
    mdn_collect(t->mutator, MDN_GC_FULL);
    size_t keep = toyvm_push_root(t, mdn_objref_null());
    for (unsigned i = 0; i < 40000; i++) { /* all of it survives: yield 0 */
        mdn_objref n = toyvm_alloc(t, 4, 1, 32, MDN_ALLOC_DEFAULT);
        toyvm_init_ref(n, 0, toyvm_root(t, keep));
        toyvm_set_root(t, keep, n);
    }
    minor_collect(h, t);
    uint64_t f = fulls(h);
    mdn_collect(t->mutator, MDN_GC_DEFAULT);
    ck_assert_msg(fulls(h) == f + 1, "a minor collection that reclaimed nothing was not followed by a full one");
    /* Garbage only: high yield, the next is minor again. */
    for (unsigned i = 0; i < 40000; i++)
        ck_assert(!mdn_objref_is_null(toyvm_alloc(t, 4, 1, 32, MDN_ALLOC_DEFAULT)));
    minor_collect(h, t);
    minor_collect(h, t);
    toyvm_thread_detach(t);
    mdn_heap_destroy(h);
}
END_TEST

START_TEST(policy_crowded_then_full) {
    mdn_heap *h = mdn_test_heap_with(16 * MIB, gc_threads_of[_i], "gen-min-yield=0,gen-full-threshold=30,gen-full-alloc=100000");
    toyvm_thread *t = toyvm_thread_attach(h);
    size_t keep = toyvm_push_root(t, mdn_objref_null());
    for (unsigned i = 0; i < 8 * 16; i++) { /* 8 MiB kept: half the heap */
        mdn_objref n = toyvm_alloc(t, 4, 1, 65536 - 16, MDN_ALLOC_DEFAULT);
        toyvm_init_ref(n, 0, toyvm_root(t, keep));
        toyvm_set_root(t, keep, n);
    }
    minor_collect(h, t);
    uint64_t f = fulls(h);
    mdn_collect(t->mutator, MDN_GC_DEFAULT);
    ck_assert_msg(fulls(h) == f + 1, "a minor collection that left half the heap in use was not followed by a full one");
    /* The full one left the heap as crowded: the next is full too. */
    mdn_collect(t->mutator, MDN_GC_DEFAULT);
    ck_assert_msg(fulls(h) == f + 2, "a full collection that left half the heap in use was not followed by a full one");
    /* Dropped, the objects leave the heap roomy: full, then minor again. */
    toyvm_set_root(t, keep, mdn_objref_null());
    mdn_collect(t->mutator, MDN_GC_DEFAULT);
    ck_assert_uint_eq(fulls(h), f + 3);
    uint64_t m = minors(h);
    mdn_collect(t->mutator, MDN_GC_DEFAULT);
    ck_assert_msg(minors(h) == m + 1 && fulls(h) == f + 3, "a collection after one that left the heap roomy was not minor");
    toyvm_thread_detach(t);
    mdn_heap_destroy(h);
}
END_TEST

/* .gen.disarm: a collection that leaves the heap crowded clears the
 * unlogged bits, since the next one is full; a store into an old object in
 * that cycle is found by the full trace, and the full collection that
 * leaves the heap roomy arms the barrier again for the minor one after it
 * (the verifier, on, checks every old-to-young reference before it). */
START_TEST(barrier_rearmed_after_crowded_cycle) {
    mdn_heap *h = mdn_test_heap_with(16 * MIB, gc_threads_of[_i],
                                     "poison=1,verify=1,gen-min-yield=0,gen-full-threshold=30,gen-full-alloc=100000");
    toyvm_thread *t = toyvm_thread_attach(h);
    size_t holder = old_root(t, 2);
    mdn_collect(t->mutator, MDN_GC_FULL);
    size_t keep = toyvm_push_root(t, mdn_objref_null());
    for (unsigned i = 0; i < 8 * 16; i++) { /* 8 MiB kept: half the heap */
        mdn_objref n = toyvm_alloc(t, 4, 1, 65536 - 16, MDN_ALLOC_DEFAULT);
        toyvm_init_ref(n, 0, toyvm_root(t, keep));
        toyvm_set_root(t, keep, n);
    }
    mdn_collect(t->mutator, MDN_GC_FULL); /* crowded: the next is full, the barrier disarmed */
    uint64_t f = fulls(h);
    mdn_objref y = young(t, 0xd15a);
    toyvm_set_ref(t, toyvm_root(t, holder), 0, y);
    y = mdn_objref_null();
    mdn_collect(t->mutator, MDN_GC_DEFAULT);
    ck_assert_msg(fulls(h) == f + 1, "a collection after one that left the heap crowded was not full");
    check_young(toyvm_get_ref(toyvm_root(t, holder), 0), 0xd15a);
    toyvm_set_root(t, keep, mdn_objref_null());
    mdn_collect(t->mutator, MDN_GC_DEFAULT); /* full again, and leaves the heap roomy */
    ck_assert_uint_eq(fulls(h), f + 2);
    y = young(t, 0xa2ed);
    toyvm_set_ref(t, toyvm_root(t, holder), 1, y);
    y = mdn_objref_null();
    minor_collect(h, t);
    check_young(toyvm_get_ref(toyvm_root(t, holder), 1), 0xa2ed);
    check_young(toyvm_get_ref(toyvm_root(t, holder), 0), 0xd15a);
    toyvm_thread_detach(t);
    mdn_heap_destroy(h);
}
END_TEST

/* ---- the barrier verifier ------------------------------------------------ */

static void plant_missing_barrier(void *arg) {
    (void)arg;
    fixture f = start(mdn_test_heap_with(32 * MIB, 1, "verify=1," MINOR_ONLY), 3);
    toyvm_thread *t = f.t;
    mdn_objref o = toyvm_root(t, f.holder);
    mdn_objref y = toyvm_alloc(t, 3, 1, 16, MDN_ALLOC_DEFAULT);
    /* The binding's bug: a store into an old object without the barrier. */
    mdn_slot_store(toyvm_ref_slot(o, 2), y);
    fprintf(stderr, "expect: slot %p (offset 24) of old object %p holds young object %p\n",
            (void *)toyvm_ref_slot(o, 2).value, (void *)o.value, (void *)y.value);
    fflush(stderr);
    mdn_collect(t->mutator, MDN_GC_DEFAULT);
    exit(0); /* not reached when the verifier works */
}

START_TEST(verifier_names_missing_barrier) {
    mdn_child_result r;
    mdn_run_in_child(plant_missing_barrier, NULL, &r);
    ck_assert_msg(r.signaled && r.signal == SIGABRT, "the verifier did not abort (exited %d, status %d):\n%s",
                  r.exited, r.exit_status, r.output);
    const char *line = strstr(r.output, "expect: ");
    ck_assert_msg(line != NULL, "no expectation printed:\n%s", r.output);
    char want[200];
    ck_assert_int_eq(sscanf(line, "expect: %199[^\n]", want), 1);
    ck_assert_msg(strstr(r.output, "heap verifier: missing write barrier: ") != NULL, "no barrier report:\n%s",
                  r.output);
    ck_assert_msg(strstr(r.output, want) != NULL, "the report does not name '%s':\n%s", want, r.output);
    ck_assert_msg(strstr(r.output, "plan " MDN_TEST_PLAN) != NULL, "no plan named:\n%s", r.output);
}
END_TEST

/* The same store through the barrier passes the check. */
START_TEST(verifier_accepts_barrier) {
    fixture f = start(mdn_test_heap_with(32 * MIB, 1, "verify=1," MINOR_ONLY), 3);
    toyvm_set_ref(f.t, toyvm_root(f.t, f.holder), 2, young(f.t, 0x600d));
    minor_collect(f.h, f.t);
    check_young(toyvm_get_ref(toyvm_root(f.t, f.holder), 2), 0x600d);
    finish(&f);
}
END_TEST

/* ---- the nursery bound (.gen.nursery) -------------------------------------- */

/* On genimmix the bound is the copying nursery's; on stickyimmix it is the
 * young blocks mutators may take between collections (.immix.young-cap). */
/* Collections taken by `bytes` of short-lived small objects. */
static uint64_t collections_for(const char *extra, size_t bytes) {
    char opts[160];
    snprintf(opts, sizeof opts, MINOR_ONLY ",%s", extra);
    mdn_heap *h = mdn_test_heap_with(64 * MIB, 1, opts);
    toyvm_thread *t = toyvm_thread_attach(h);
    mdn_stats st;
    mdn_stats_get(h, &st);
    uint64_t before = st.collections;
    size_t each = toyvm_object_bytes(1, 40);
    for (size_t n = 0; n < bytes; n += each)
        MDN_EXPECT(!mdn_objref_is_null(toyvm_alloc(t, 3, 1, 40, MDN_ALLOC_DEFAULT)));
    mdn_stats_get(h, &st);
    toyvm_thread_detach(t);
    mdn_heap_destroy(h);
    return st.collections - before;
}

static void assert_about(uint64_t got, uint64_t want, const char *what) {
    ck_assert_msg(got * 10 >= want * 9 && got * 10 <= want * 11 + 10, "%s: %llu collections, expected about %llu",
                  what, (unsigned long long)got, (unsigned long long)want);
}

START_TEST(nursery_size_bounds_the_nursery) {
    /* 64 MiB allocated: a 1 MiB nursery fills 64 times, a 4 MiB one 16. */
    assert_about(collections_for("nursery=1M", 64 * MIB), 64, "nursery=1M");
    assert_about(collections_for("nursery=4M", 64 * MIB), 16, "nursery=4M");
}
END_TEST

START_TEST(nursery_percent_bounds_the_nursery) {
    /* Of a 64 MiB heap: 5% is 3.2 MiB (102 blocks), 20% 12.8 MiB (409 blocks). */
    assert_about(collections_for("nursery-percent=5", 64 * MIB), 64 * MIB / (102 * 32768), "nursery-percent=5");
    assert_about(collections_for("nursery-percent=20", 64 * MIB), 64 * MIB / (409 * 32768), "nursery-percent=20");
    /* The byte bound wins when both are set. */
    assert_about(collections_for("nursery=2M,nursery-percent=20", 64 * MIB), 32, "nursery=2M");
}
END_TEST

/* .sizing.minor: on a growable heap a minor collection keeps the limit the
 * last full one set, raised only to leave room: the old objects that died
 * since are still in use, and twice them is no measure of the live size.
 * The heap's floor is 64 MiB; each round promotes 2 MiB that then dies, so
 * 24 rounds leave 48 MiB of old garbage, less than the limit (no crowding,
 * so no full collection) but enough to have made the limit about 100 MiB
 * when every collection set it to twice what was in use. */
START_TEST(minor_collections_keep_the_growable_limit) {
    mdn_heap *h = mdn_test_heap_with(0, gc_threads_of[_i], "heap-policy=growable,heap-initial=64M,heap-max=1G," MINOR_ONLY);
    toyvm_thread *t = toyvm_thread_attach(h);
    /* 1 MiB that stays live: the aged rule (.gen.policy) measures what was
     * allocated against what the last full collection found live. */
    for (size_t n = 0; n < MIB; n += toyvm_object_bytes(0, 2000))
        toyvm_push_root(t, toyvm_alloc(t, 2, 0, 2000, MDN_ALLOC_DEFAULT));
    mdn_collect(t->mutator, MDN_GC_FULL);
    for (int round = 0; round < 24; round++) {
        size_t base = t->root_count;
        for (size_t n = 0; n < 2 * MIB; n += toyvm_object_bytes(0, 2000))
            toyvm_push_root(t, toyvm_alloc(t, 2, 0, 2000, MDN_ALLOC_DEFAULT));
        uint64_t m0 = minors(h), f0 = fulls(h);
        mdn_collect(t->mutator, MDN_GC_DEFAULT);
        ck_assert_msg(fulls(h) == f0, "round %d: %llu minor, %llu full collections", round,
                      (unsigned long long)(minors(h) - m0), (unsigned long long)(fulls(h) - f0));
        toyvm_pop_roots(t, t->root_count - base);
    }
    ck_assert_uint_eq(fulls(h), 1);
    mdn_stats st;
    mdn_stats_get(h, &st);
    ck_assert_msg(st.heap_limit_bytes <= 64 * MIB, "limit %llu MiB after minor collections with 48 MiB of old garbage",
                  (unsigned long long)(st.heap_limit_bytes / MIB));
    toyvm_thread_detach(t);
    mdn_heap_destroy(h);
}
END_TEST

/* .gen.backoff: on a growable heap whose old objects all stay live, each
 * full collection that rule (c) of .gen.policy asks for finds nothing, so
 * the next waits twice as long, up to MDN_GEN_AGED_SCALE_MAX times: over
 * 64 times the live size of garbage the unstretched rule runs a full
 * collection after about every minor one (some 30 of them), the stretched
 * one about 6. When the old objects then die, a full collection still
 * finds them within a bounded allocation, and the limit falls. The factor
 * is heap-factor's (heap-gc-share=0, .sizing.share), so the limit is twice
 * the live size whatever the collections cost. */
START_TEST(policy_aged_full_backs_off) {
    mdn_heap *h = mdn_test_heap_with(0, gc_threads_of[_i],
                                     "heap-policy=growable,heap-initial=4M,heap-max=1G,heap-gc-share=0,"
                                     "gen-full-threshold=100,gen-min-yield=10");
    toyvm_thread *t = toyvm_thread_attach(h);
    const size_t live = 8 * MIB, object = toyvm_object_bytes(0, 2000);
    size_t base = t->root_count;
    for (size_t n = 0; n < live; n += object)
        toyvm_push_root(t, toyvm_alloc(t, 2, 0, 2000, MDN_ALLOC_DEFAULT));
    mdn_collect(t->mutator, MDN_GC_FULL);
    uint64_t f0 = fulls(h), m0 = minors(h);
    for (size_t n = 0; n < 64 * live; n += object)
        ck_assert(!mdn_objref_is_null(toyvm_alloc(t, 2, 0, 2000, MDN_ALLOC_DEFAULT)));
    uint64_t f = fulls(h) - f0, m = minors(h) - m0;
    ck_assert_msg(m >= 32, "only %llu minor collections", (unsigned long long)m);
    ck_assert_msg(f <= 10, "%llu full and %llu minor collections with no old object dying", (unsigned long long)f,
                  (unsigned long long)m);
    mdn_stats st;
    mdn_stats_get(h, &st);
    size_t limit = st.heap_limit_bytes;
    ck_assert_uint_ge(limit, 2 * live);
    toyvm_pop_roots(t, t->root_count - base);
    f0 = fulls(h);
    size_t n = 0;
    for (; n < 64 * live && (fulls(h) == f0 || st.heap_limit_bytes >= limit); n += object) {
        ck_assert(!mdn_objref_is_null(toyvm_alloc(t, 2, 0, 2000, MDN_ALLOC_DEFAULT)));
        mdn_stats_get(h, &st);
    }
    ck_assert_msg(st.heap_limit_bytes < limit, "limit %zu MiB after %zu MiB allocated since the old objects died",
                  (size_t)(st.heap_limit_bytes / MIB), n / MIB);
    toyvm_thread_detach(t);
    mdn_heap_destroy(h);
}
END_TEST

static Suite *gen_suite(void) {
    Suite *s = suite_create("gen");
    TCase *tc = tcase_create("gen");
    tcase_set_timeout(tc, 120);
    tcase_add_loop_test(tc, old_to_young_survives_minor, 0, 2);
    tcase_add_loop_test(tc, bulk_copy_into_old_array, 0, 2);
    tcase_add_loop_test(tc, remembered_set_overflow, 0, 2);
    tcase_add_loop_test(tc, minor_collection_is_minor, 0, 2);
    tcase_add_loop_test(tc, minor_then_full_sequences, 0, 2);
    tcase_add_loop_test(tc, mutators_store_while_collecting, 0, 2);
    tcase_add_loop_test(tc, policy_low_yield_then_full, 0, 2);
    tcase_add_loop_test(tc, policy_crowded_then_full, 0, 2);
    tcase_add_loop_test(tc, policy_aged_full_backs_off, 0, 2);
    tcase_add_loop_test(tc, barrier_rearmed_after_crowded_cycle, 0, 2);
    tcase_add_test(tc, verifier_names_missing_barrier);
    tcase_add_test(tc, verifier_accepts_barrier);
    tcase_add_loop_test(tc, minor_collections_keep_the_growable_limit, 0, 2);
    tcase_add_test(tc, nursery_size_bounds_the_nursery);
    tcase_add_test(tc, nursery_percent_bounds_the_nursery);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return mdn_run_suite(gen_suite()); }
