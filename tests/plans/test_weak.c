/*
 * Weak slots, ephemerons, finalizers and the binding's weak processor, on
 * every plan with 1 and 2 GC threads (docs/design/weak.md). Heaps run
 * with the verifier, which also checks every weak slot after each
 * collection (.weak.verify). NoGC never collects: there the tests check
 * that nothing is cleared or finalized.
 * MDN_TEST_LABELS: threads
 */
#include "testutil.h"
#include "toyvm.h"

#include "mdn_check.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The collection after which every unreachable object is found: on a
 * generational plan a minor collection finds only the young ones and leaves
 * the old garbage (and its weak slots and finalizers) for a full one
 * (docs/design/weak.md .weak.queries), so the checks here ask for a full
 * collection there. */
#if MDN_PLAN_BARRIER == MDN_BARRIER_OBJECT
#define WEAK_GC MDN_GC_FULL
#else
#define WEAK_GC MDN_GC_DEFAULT
#endif

static unsigned gc_threads_for(int i) { return i == 0 ? 1u : 2u; }

static bool collects(void) { return strcmp(mdn_plan_name(), "nogc") != 0; }

/* A thread bound to a new 32 MiB heap with the verifier on; loop test i
 * uses gc_threads_for(i) GC threads. weak_done() ends both. */
static toyvm_thread *weak_thread(int i) {
    return toyvm_thread_attach(mdn_test_heap_with((size_t)32 << 20, gc_threads_for(i), "verify=1"));
}

static void weak_done(toyvm_thread *t) {
    mdn_heap *h = t->heap;
    toyvm_thread_detach(t);
    mdn_heap_destroy(h);
}

/* A leaf whose 16-byte payload holds `tag` twice. */
static mdn_objref leaf(toyvm_thread *t, uint64_t tag) {
    mdn_objref o = toyvm_alloc(t, 20, 0, 16, MDN_ALLOC_DEFAULT);
    ck_assert(!mdn_objref_is_null(o));
    uint64_t *p = toyvm_payload(o);
    p[0] = tag;
    p[1] = ~tag;
    return o;
}

static uint64_t tag_of(mdn_objref o) {
    const uint64_t *p = toyvm_payload(o);
    MDN_EXPECT_MSG(p[1] == ~p[0], "object %p: payload corrupted", (void *)o.value);
    return p[0];
}

/* ---- weak slots ----------------------------------------------------------- */

START_TEST(weak_slot_cleared_exactly_when_unreachable) {
    toyvm_thread *t = weak_thread(_i);
    for (int s = 0; s < 2; s++) {
        mdn_weak_strength strength = s ? MDN_WEAK_LONG : MDN_WEAK_SHORT;
        size_t target = toyvm_push_root(t, leaf(t, 7));
        size_t box = toyvm_push_root(t, toyvm_alloc_weak(t, toyvm_root(t, target), 1, 0, strength));
        /* The target also hangs off a strong holder: reachable two ways. */
        size_t holder = toyvm_push_root(t, toyvm_alloc(t, 21, 1, 0, MDN_ALLOC_DEFAULT));
        toyvm_set_ref(t, toyvm_root(t, holder), 0, toyvm_root(t, target));
        for (int round = 0; round < 3; round++) {
            mdn_objref before = toyvm_root(t, target);
            mdn_collect(t->mutator, round == 1 ? MDN_GC_FULL : WEAK_GC);
            mdn_objref now = toyvm_root(t, target);
            ck_assert_msg(mdn_objref_eq(toyvm_get_ref(toyvm_root(t, box), 0), now),
                          "round %d: weak slot holds %p, target is at %p", round,
                          (void *)toyvm_get_ref(toyvm_root(t, box), 0).value, (void *)now.value);
            if (strcmp(mdn_plan_name(), "semispace") == 0)
                ck_assert_msg(!mdn_objref_eq(before, now), "semispace moves every object");
            ck_assert_uint_eq(tag_of(now), 7);
        }
        /* Only the strong holder keeps it now: still not cleared. */
        toyvm_set_root(t, target, mdn_objref_null());
        mdn_collect(t->mutator, WEAK_GC);
        ck_assert(mdn_objref_eq(toyvm_get_ref(toyvm_root(t, box), 0), toyvm_get_ref(toyvm_root(t, holder), 0)));
        mdn_objref kept = toyvm_get_ref(toyvm_root(t, box), 0);
        ck_assert_uint_eq(tag_of(kept), 7);
        /* Unreachable: cleared by the next collection. */
        toyvm_set_ref(t, toyvm_root(t, holder), 0, mdn_objref_null());
        mdn_collect(t->mutator, WEAK_GC);
        if (collects())
            ck_assert_msg(mdn_objref_is_null(toyvm_get_ref(toyvm_root(t, box), 0)), "strength %d: not cleared", s);
        else
            ck_assert_uint_eq(tag_of(toyvm_get_ref(toyvm_root(t, box), 0)), 7);
        /* The slot stays registered while its box lives: reuse it. */
        toyvm_set_root(t, target, leaf(t, 8));
        toyvm_set_ref(t, toyvm_root(t, box), 0, toyvm_root(t, target));
        mdn_collect(t->mutator, WEAK_GC);
        ck_assert(mdn_objref_eq(toyvm_get_ref(toyvm_root(t, box), 0), toyvm_root(t, target)));
        toyvm_set_root(t, target, mdn_objref_null());
        mdn_collect(t->mutator, WEAK_GC);
        if (collects())
            ck_assert(mdn_objref_is_null(toyvm_get_ref(toyvm_root(t, box), 0)));
        toyvm_pop_roots(t, 3);
    }
    weak_done(t);
}
END_TEST

/* Many boxes in a dead or alive pattern, the boxes themselves partly dead;
 * a slot outside the heap too. */
START_TEST(weak_slots_many_and_outside_the_heap) {
    toyvm_thread *t = weak_thread(_i);
    enum { N = 3000 };
    size_t boxes = toyvm_push_root(t, toyvm_alloc(t, 22, N, 0, MDN_ALLOC_DEFAULT));
    size_t targets = toyvm_push_root(t, toyvm_alloc(t, 22, N, 0, MDN_ALLOC_DEFAULT));
    mdn_objref *outside = malloc(sizeof *outside);
    ck_assert(outside != NULL);
    for (unsigned i = 0; i < N; i++) {
        mdn_objref l = leaf(t, i);
        toyvm_set_ref(t, toyvm_root(t, targets), i, l);
        mdn_objref b = toyvm_alloc_weak(t, l, 1, 8, i % 2 ? MDN_WEAK_LONG : MDN_WEAK_SHORT);
        toyvm_set_ref(t, toyvm_root(t, boxes), i, b);
    }
    *outside = toyvm_get_ref(toyvm_root(t, targets), 5);
    mdn_weak_register(t->mutator, mdn_objref_null(), mdn_slot_from_ptr(outside), MDN_WEAK_SHORT);
    for (unsigned i = 0; i < N; i++) {
        if (i % 3 == 0)
            toyvm_set_ref(t, toyvm_root(t, targets), i, mdn_objref_null());
        if (i % 7 == 0)
            toyvm_set_ref(t, toyvm_root(t, boxes), i, mdn_objref_null());
    }
    mdn_collect(t->mutator, MDN_GC_FULL);
    for (unsigned i = 0; i < N; i++) {
        mdn_objref b = toyvm_get_ref(toyvm_root(t, boxes), i);
        if (mdn_objref_is_null(b))
            continue;
        mdn_objref w = toyvm_get_ref(b, 0);
        if (i % 3 == 0 && collects()) {
            MDN_EXPECT_MSG(mdn_objref_is_null(w), "box %u not cleared", i);
        } else {
            MDN_EXPECT_EQ(tag_of(w), i);
            if (i % 3)
                MDN_EXPECT(mdn_objref_eq(w, toyvm_get_ref(toyvm_root(t, targets), i)));
        }
    }
    ck_assert(mdn_objref_eq(*outside, toyvm_get_ref(toyvm_root(t, targets), 5)));
    toyvm_set_ref(t, toyvm_root(t, targets), 5, mdn_objref_null());
    mdn_collect(t->mutator, WEAK_GC);
    if (collects())
        ck_assert(mdn_objref_is_null(*outside));
    mdn_weak_unregister(t->mutator, mdn_slot_from_ptr(outside));
    free(outside); /* no longer registered: the next collection must not touch it */
    mdn_collect(t->mutator, WEAK_GC);
    toyvm_pop_roots(t, 2);
    weak_done(t);
}
END_TEST

/* ---- finalizers ------------------------------------------------------------ */

typedef struct final_log {
    int in_run;        /* the test is inside mdn_run_finalizers */
    int ran;
    int outside_run;   /* finalizers that ran anywhere else (must stay 0) */
    uint64_t order[16];
    mdn_objref resurrect; /* a global root the finalizer may store into */
    bool do_resurrect;
    mdn_objref *seen_long; /* the long box's slot content when the finalizer ran */
    int notified;
    size_t notified_pending;
} final_log;

static void record_final(mdn_mutator *m, mdn_objref obj, void *data) {
    (void)m;
    final_log *log = data;
    if (!log->in_run)
        log->outside_run++;
    uint64_t tag = tag_of(toyvm_get_ref(obj, 0)); /* the child is intact */
    if (log->ran < 16)
        log->order[log->ran] = tag;
    log->ran++;
    if (log->do_resurrect)
        log->resurrect = obj;
}

static size_t run_finalizers(toyvm_thread *t, final_log *log) {
    log->in_run = 1;
    size_t n = mdn_run_finalizers(t->mutator);
    log->in_run = 0;
    return n;
}

static void notify(mdn_heap *h, size_t pending, void *data) {
    (void)h;
    final_log *log = data;
    log->notified++;
    log->notified_pending = pending;
}

/* An object with one field holding a leaf tagged `tag`. */
static mdn_objref with_child(toyvm_thread *t, uint64_t tag) {
    size_t r = toyvm_push_root(t, leaf(t, tag));
    mdn_objref o = toyvm_alloc(t, 23, 1, 8, MDN_ALLOC_DEFAULT);
    ck_assert(!mdn_objref_is_null(o));
    toyvm_set_ref(t, o, 0, toyvm_root(t, r));
    toyvm_pop_roots(t, 1);
    return o;
}

START_TEST(finalizer_runs_once_outside_collections_and_may_resurrect) {
    toyvm_thread *t = weak_thread(_i);
    mdn_heap *h = t->heap;
    static final_log log;
    memset(&log, 0, sizeof log);
    toyvm_add_global_root(&log.resurrect);
    mdn_set_finalizer_notifier(h, notify, &log);
    size_t obj = toyvm_push_root(t, with_child(t, 41));
    mdn_finalizer_register(t->mutator, toyvm_root(t, obj), record_final, &log, MDN_FINALIZE_UNORDERED);
    mdn_collect(t->mutator, WEAK_GC);
    ck_assert_int_eq(log.ran, 0);
    ck_assert_uint_eq(mdn_finalizers_pending(h), 0); /* still reachable */
    toyvm_set_root(t, obj, mdn_objref_null());
    mdn_collect(t->mutator, WEAK_GC);
    ck_assert_int_eq(log.ran, 0); /* never inside the collection */
    if (!collects()) {
        ck_assert_uint_eq(mdn_finalizers_pending(h), 0);
        ck_assert_uint_eq(run_finalizers(t, &log), 0);
        goto done;
    }
    ck_assert_uint_eq(mdn_finalizers_pending(h), 1);
    ck_assert_int_eq(log.notified, 1);
    ck_assert_uint_eq(log.notified_pending, 1);
    /* Reachable only from the queue: intact through more collections
     * (which move it on moving plans; the verifier checks the queue). */
    for (int i = 0; i < 3; i++) {
        mdn_objref junk = toyvm_alloc(t, 24, 0, 4000, MDN_ALLOC_DEFAULT);
        (void)junk;
        mdn_collect(t->mutator, i == 1 ? MDN_GC_FULL : WEAK_GC);
    }
    ck_assert_int_eq(log.notified, 1); /* no new finalizer was queued */
    log.do_resurrect = true;
    ck_assert_uint_eq(run_finalizers(t, &log), 1);
    ck_assert_int_eq(log.ran, 1);
    ck_assert_uint_eq(log.order[0], 41);
    ck_assert(!mdn_objref_is_null(log.resurrect));
    /* Resurrected: valid through collections, never finalized again. */
    for (int i = 0; i < 3; i++) {
        mdn_collect(t->mutator, WEAK_GC);
        ck_assert_uint_eq(tag_of(toyvm_get_ref(log.resurrect, 0)), 41);
        ck_assert_uint_eq(run_finalizers(t, &log), 0);
    }
    log.resurrect = mdn_objref_null();
    mdn_collect(t->mutator, WEAK_GC);
    ck_assert_uint_eq(run_finalizers(t, &log), 0);
    ck_assert_int_eq(log.ran, 1);
done:
    ck_assert_int_eq(log.outside_run, 0);
    toyvm_remove_global_root(&log.resurrect);
    weak_done(t);
}
END_TEST

/* A short and a long weak slot on a finalizable object: the short one is
 * cleared before the finalizer runs, the long one when the object is gone
 * after it ran. */
START_TEST(short_and_long_slots_around_a_finalizer) {
    toyvm_thread *t = weak_thread(_i);
    static final_log log;
    memset(&log, 0, sizeof log);
    size_t obj = toyvm_push_root(t, with_child(t, 5));
    size_t shortb = toyvm_push_root(t, toyvm_alloc_weak(t, toyvm_root(t, obj), 1, 0, MDN_WEAK_SHORT));
    size_t longb = toyvm_push_root(t, toyvm_alloc_weak(t, toyvm_root(t, obj), 1, 0, MDN_WEAK_LONG));
    mdn_finalizer_register(t->mutator, toyvm_root(t, obj), record_final, &log, MDN_FINALIZE_ORDERED);
    toyvm_set_root(t, obj, mdn_objref_null());
    mdn_collect(t->mutator, WEAK_GC);
    if (!collects()) {
        ck_assert(!mdn_objref_is_null(toyvm_get_ref(toyvm_root(t, shortb), 0)));
        ck_assert_uint_eq(run_finalizers(t, &log), 0);
        goto done;
    }
    ck_assert(mdn_objref_is_null(toyvm_get_ref(toyvm_root(t, shortb), 0)));
    mdn_objref kept = toyvm_get_ref(toyvm_root(t, longb), 0);
    ck_assert(!mdn_objref_is_null(kept));
    ck_assert_uint_eq(tag_of(toyvm_get_ref(kept, 0)), 5);
    ck_assert_int_eq(log.ran, 0);
    mdn_collect(t->mutator, WEAK_GC); /* queued: still kept */
    ck_assert(!mdn_objref_is_null(toyvm_get_ref(toyvm_root(t, longb), 0)));
    ck_assert_uint_eq(run_finalizers(t, &log), 1);
    mdn_collect(t->mutator, WEAK_GC);
    ck_assert(mdn_objref_is_null(toyvm_get_ref(toyvm_root(t, longb), 0)));
done:
    ck_assert_int_eq(log.outside_run, 0);
    toyvm_pop_roots(t, 3);
    weak_done(t);
}
END_TEST

/* A chain a -> b -> c -> d of finalizable objects dies at once. Ordered:
 * one finalizer per collection, in chain order; unordered: all at once.
 * A two-object cycle of ordered finalizable objects is never finalized. */
START_TEST(ordered_finalization_is_topological) {
    toyvm_thread *t = weak_thread(_i);
    static final_log log;
    for (int ordered = 0; ordered < 2; ordered++) {
        memset(&log, 0, sizeof log);
        enum { N = 4 };
        size_t base = t->root_count;
        /* Object i: field 0 a leaf tagged i, field 1 the next object. */
        for (unsigned i = 0; i < N; i++) {
            size_t c = toyvm_push_root(t, leaf(t, i));
            mdn_objref o = toyvm_alloc(t, 25, 2, 0, MDN_ALLOC_DEFAULT);
            toyvm_set_ref(t, o, 0, toyvm_root(t, c));
            toyvm_set_root(t, c, o);
        }
        /* Link, then register in reverse order, so table order is no help. */
        for (unsigned i = 0; i + 1 < N; i++)
            toyvm_set_ref(t, toyvm_root(t, base + i), 1, toyvm_root(t, base + i + 1));
        for (unsigned i = N; i-- > 0;)
            mdn_finalizer_register(t->mutator, toyvm_root(t, base + i), record_final, &log,
                                   ordered ? MDN_FINALIZE_ORDERED : MDN_FINALIZE_UNORDERED);
        toyvm_pop_roots(t, N);
        if (!collects()) {
            mdn_collect(t->mutator, WEAK_GC);
            ck_assert_uint_eq(run_finalizers(t, &log), 0);
            continue;
        }
        if (ordered) {
            for (unsigned i = 0; i < N; i++) {
                mdn_collect(t->mutator, WEAK_GC);
                ck_assert_uint_eq(run_finalizers(t, &log), 1);
                ck_assert_uint_eq(log.order[i], i);
            }
        } else {
            mdn_collect(t->mutator, WEAK_GC);
            ck_assert_uint_eq(run_finalizers(t, &log), N);
        }
        mdn_collect(t->mutator, WEAK_GC);
        ck_assert_uint_eq(run_finalizers(t, &log), 0);
        ck_assert_int_eq(log.ran, N);
        ck_assert_int_eq(log.outside_run, 0);
    }
    /* The cycle. */
    memset(&log, 0, sizeof log);
    size_t a = toyvm_push_root(t, with_child(t, 1));
    size_t b = toyvm_push_root(t, toyvm_alloc(t, 25, 2, 0, MDN_ALLOC_DEFAULT));
    toyvm_set_ref(t, toyvm_root(t, b), 0, toyvm_root(t, a));
    toyvm_set_ref(t, toyvm_root(t, a), 0, toyvm_root(t, b));
    toyvm_set_ref(t, toyvm_root(t, b), 1, leaf(t, 2));
    mdn_finalizer_register(t->mutator, toyvm_root(t, a), record_final, &log, MDN_FINALIZE_ORDERED);
    mdn_finalizer_register(t->mutator, toyvm_root(t, b), record_final, &log, MDN_FINALIZE_ORDERED);
    toyvm_pop_roots(t, 2);
    for (int i = 0; i < 3; i++) {
        mdn_collect(t->mutator, WEAK_GC);
        ck_assert_uint_eq(run_finalizers(t, &log), 0);
    }
    weak_done(t);
}
END_TEST

/* ---- ephemerons -------------------------------------------------------------- */

/* A chain of `n` ephemerons: e[i] has key k[i] and a value that leads to
 * k[i+1] (directly, or through an extra object when `indirect`); the last
 * value is a leaf. Ephemerons are allocated and registered in the order
 * `perm` (reverse, or shuffled), so the table order is adversarial. Only
 * k[0] is rooted: the whole chain must survive; without k[0] every
 * ephemeron must be cleared, including those whose value reaches its own
 * key. */
static void ephemeron_chain(toyvm_thread *t, unsigned n, bool indirect, uint64_t *rng) {
    mdn_heap *h = t->heap;
    size_t keys = toyvm_push_root(t, toyvm_alloc(t, 26, n + 1, 0, MDN_ALLOC_DEFAULT));
    size_t ephs = toyvm_push_root(t, toyvm_alloc(t, 26, n, 0, MDN_ALLOC_DEFAULT));
    for (unsigned i = 0; i <= n; i++)
        toyvm_set_ref(t, toyvm_root(t, keys), i, leaf(t, 1000 + i));
    unsigned *perm = malloc(n * sizeof *perm);
    ck_assert(perm != NULL);
    for (unsigned i = 0; i < n; i++)
        perm[i] = n - 1 - i;
    if (rng)
        for (unsigned i = n; i > 1; i--) {
            unsigned j = (unsigned)mdn_test_rand_below(rng, i);
            unsigned x = perm[i - 1];
            perm[i - 1] = perm[j];
            perm[j] = x;
        }
    for (unsigned p = 0; p < n; p++) {
        unsigned i = perm[p];
        mdn_objref value = toyvm_get_ref(toyvm_root(t, keys), i + 1);
        if (indirect && i % 2) {
            size_t v = toyvm_push_root(t, value);
            mdn_objref box = toyvm_alloc(t, 27, 2, 0, MDN_ALLOC_DEFAULT);
            toyvm_set_ref(t, box, 0, toyvm_root(t, v));
            /* The value also reaches its own key: must not keep it alive. */
            toyvm_set_ref(t, box, 1, toyvm_get_ref(toyvm_root(t, keys), i));
            toyvm_pop_roots(t, 1);
            value = box;
        }
        mdn_objref e = toyvm_alloc_ephemeron(t, toyvm_get_ref(toyvm_root(t, keys), i), value, 2, 0);
        toyvm_set_ref(t, toyvm_root(t, ephs), i, e);
    }
    free(perm);
    size_t k0 = toyvm_push_root(t, toyvm_get_ref(toyvm_root(t, keys), 0));
    toyvm_set_root(t, keys, mdn_objref_null());
    for (int round = 0; round < 2; round++) {
        mdn_collect(t->mutator, round ? MDN_GC_FULL : WEAK_GC);
        mdn_objref key = toyvm_root(t, k0);
        for (unsigned i = 0; i < n; i++) {
            mdn_objref e = toyvm_get_ref(toyvm_root(t, ephs), i);
            MDN_EXPECT_MSG(mdn_objref_eq(toyvm_get_ref(e, 0), key), "n=%u: ephemeron %u has key %p, expected %p", n,
                           i, (void *)toyvm_get_ref(e, 0).value, (void *)key.value);
            MDN_EXPECT_EQ(tag_of(key), 1000 + i);
            mdn_objref v = toyvm_get_ref(e, 1);
            MDN_EXPECT_MSG(!mdn_objref_is_null(v), "n=%u: value %u cleared", n, i);
            key = toyvm_type(v) == 27 ? toyvm_get_ref(v, 0) : v;
        }
        MDN_EXPECT_EQ(tag_of(key), 1000 + n);
    }
    toyvm_set_root(t, k0, mdn_objref_null());
    mdn_collect(t->mutator, WEAK_GC);
    for (unsigned i = 0; i < n; i++) {
        mdn_objref e = toyvm_get_ref(toyvm_root(t, ephs), i);
        if (collects())
            MDN_EXPECT_MSG(mdn_objref_is_null(toyvm_get_ref(e, 0)) && mdn_objref_is_null(toyvm_get_ref(e, 1)),
                           "n=%u: ephemeron %u not cleared", n, i);
        else
            MDN_EXPECT(!mdn_objref_is_null(toyvm_get_ref(e, 1)));
    }
    toyvm_pop_roots(t, 3);
    (void)h;
}

START_TEST(ephemeron_chains_in_adversarial_order) {
    toyvm_thread *t = weak_thread(_i);
    uint64_t rng = mdn_test_seed("ephemeron_chains_in_adversarial_order");
    static const unsigned lengths[] = {1, 2, 3, 10, 100, 1000};
    for (size_t l = 0; l < sizeof lengths / sizeof *lengths; l++) {
        ephemeron_chain(t, lengths[l], false, NULL);
        ephemeron_chain(t, lengths[l], true, NULL);
        ephemeron_chain(t, lengths[l], l % 2 == 0, &rng);
    }
    weak_done(t);
}
END_TEST

/* An ephemeron whose key is reachable only from a finalizable object that
 * dies: its value must be intact when the finalizer runs. */
START_TEST(ephemeron_value_kept_for_a_finalizer) {
    toyvm_thread *t = weak_thread(_i);
    static final_log log;
    memset(&log, 0, sizeof log);
    size_t key = toyvm_push_root(t, leaf(t, 9));
    size_t e = toyvm_push_root(t, toyvm_alloc_ephemeron(t, toyvm_root(t, key), leaf(t, 10), 2, 0));
    size_t obj = toyvm_push_root(t, toyvm_alloc(t, 28, 1, 0, MDN_ALLOC_DEFAULT));
    toyvm_set_ref(t, toyvm_root(t, obj), 0, toyvm_root(t, key));
    mdn_finalizer_register(t->mutator, toyvm_root(t, obj), record_final, &log, MDN_FINALIZE_UNORDERED);
    toyvm_set_root(t, key, mdn_objref_null());
    toyvm_set_root(t, obj, mdn_objref_null());
    mdn_collect(t->mutator, WEAK_GC);
    mdn_objref eph = toyvm_root(t, e);
    ck_assert(!mdn_objref_is_null(toyvm_get_ref(eph, 0)));
    ck_assert_uint_eq(tag_of(toyvm_get_ref(eph, 0)), 9);
    ck_assert_uint_eq(tag_of(toyvm_get_ref(eph, 1)), 10);
    if (collects()) {
        ck_assert_uint_eq(run_finalizers(t, &log), 1);
        mdn_collect(t->mutator, WEAK_GC);
        eph = toyvm_root(t, e);
        ck_assert(mdn_objref_is_null(toyvm_get_ref(eph, 0)));
        ck_assert(mdn_objref_is_null(toyvm_get_ref(eph, 1)));
    }
    toyvm_pop_roots(t, 3);
    weak_done(t);
}
END_TEST

/* Targets of every allocation kind, each holding a strong child, die at
 * once: their short and long weak slots and ephemerons are cleared and the
 * finalizable one is finalized with its child intact. The immortal space
 * never reclaims an object but does reclaim its unreachable children, so
 * there "unreachable" must mean "not reached by this collection": a weak
 * slot left pointing at an unreached immortal object would hand the
 * program an object whose fields point at freed memory (the verifier, on
 * here, reports that too). docs/design/weak.md .weak.queries */
START_TEST(targets_of_every_kind) {
    static const mdn_alloc_kind kinds[] = {MDN_ALLOC_DEFAULT, MDN_ALLOC_NONMOVING, MDN_ALLOC_IMMORTAL, MDN_ALLOC_LARGE};
    enum { NKINDS = sizeof kinds / sizeof kinds[0] };
    toyvm_thread *t = weak_thread(_i);
    mdn_heap *h = t->heap;
    static final_log log;
    memset(&log, 0, sizeof log);
    size_t targets = toyvm_push_root(t, toyvm_alloc(t, 30, 2 * NKINDS, 0, MDN_ALLOC_DEFAULT));
    size_t boxes = toyvm_push_root(t, toyvm_alloc(t, 30, 3 * NKINDS, 0, MDN_ALLOC_DEFAULT));
    for (unsigned k = 0; k < NKINDS; k++) {
        for (unsigned j = 0; j < 2; j++) {
            size_t child = toyvm_push_root(t, leaf(t, 100 * k + j));
            mdn_objref o = toyvm_alloc(t, 31, 1, 8, kinds[k]);
            ck_assert(!mdn_objref_is_null(o));
            toyvm_set_ref(t, o, 0, toyvm_root(t, child));
            toyvm_set_ref(t, toyvm_root(t, targets), 2 * k + j, o);
            toyvm_pop_roots(t, 1);
        }
        mdn_objref o = toyvm_get_ref(toyvm_root(t, targets), 2 * k);
        toyvm_set_ref(t, toyvm_root(t, boxes), 3 * k, toyvm_alloc_weak(t, o, 1, 0, MDN_WEAK_SHORT));
        o = toyvm_get_ref(toyvm_root(t, targets), 2 * k);
        toyvm_set_ref(t, toyvm_root(t, boxes), 3 * k + 1, toyvm_alloc_weak(t, o, 1, 0, MDN_WEAK_LONG));
        o = toyvm_get_ref(toyvm_root(t, targets), 2 * k);
        toyvm_set_ref(t, toyvm_root(t, boxes), 3 * k + 2, toyvm_alloc_ephemeron(t, o, leaf(t, 100 * k + 50), 2, 0));
        mdn_finalizer_register(t->mutator, toyvm_get_ref(toyvm_root(t, targets), 2 * k + 1), record_final, &log,
                               k % 2 ? MDN_FINALIZE_ORDERED : MDN_FINALIZE_UNORDERED);
    }
    /* Reachable: every registration follows its target. */
    mdn_collect(t->mutator, MDN_GC_FULL);
    for (unsigned k = 0; k < NKINDS; k++) {
        mdn_objref o = toyvm_get_ref(toyvm_root(t, targets), 2 * k);
        for (unsigned j = 0; j < 3; j++)
            ck_assert_msg(mdn_objref_eq(toyvm_get_ref(toyvm_get_ref(toyvm_root(t, boxes), 3 * k + j), 0), o),
                          "kind %d, registration %u: does not hold its live target", (int)kinds[k], j);
        ck_assert_uint_eq(tag_of(toyvm_get_ref(o, 0)), 100 * k);
    }
    ck_assert_uint_eq(mdn_finalizers_pending(h), 0);
    /* Unreachable: all cleared, all finalized. Junk fills the memory the
     * children had, so a stale child would not read as intact. */
    toyvm_set_root(t, targets, mdn_objref_null());
    for (int round = 0; round < 2; round++) {
        mdn_collect(t->mutator, round ? MDN_GC_FULL : WEAK_GC);
        for (int j = 0; j < 64; j++)
            (void)leaf(t, 0xdead);
    }
    for (unsigned k = 0; k < NKINDS; k++) {
        mdn_objref b = toyvm_root(t, boxes);
        for (unsigned j = 0; j < 3; j++) {
            mdn_objref w = toyvm_get_ref(toyvm_get_ref(b, 3 * k + j), 0);
            if (collects())
                ck_assert_msg(mdn_objref_is_null(w), "kind %d, registration %u: the unreachable target %p was not cleared",
                              (int)kinds[k], j, (void *)w.value);
            else
                ck_assert_uint_eq(tag_of(toyvm_get_ref(w, 0)), 100 * k);
        }
        if (collects())
            ck_assert(mdn_objref_is_null(toyvm_get_ref(toyvm_get_ref(b, 3 * k + 2), 1)));
    }
    ck_assert_uint_eq(run_finalizers(t, &log), collects() ? NKINDS : 0);
    ck_assert_int_eq(log.ran, collects() ? NKINDS : 0);
    for (int k = 0; k < log.ran; k++) /* record_final checked each child's payload */
        ck_assert_uint_eq(log.order[k] % 100, 1);
    ck_assert_int_eq(log.outside_run, 0);
    toyvm_pop_roots(t, 2);
    weak_done(t);
}
END_TEST

/* ---- the binding's weak processor ------------------------------------------- */

/* A VM-side table outside the heap: weak entries, and key/value pairs the
 * processor treats as ephemerons with retain(). */
enum { VM_WEAK = 64, VM_PAIRS = 50 };
typedef struct vm_tables {
    mdn_objref weak[VM_WEAK];
    mdn_objref key[VM_PAIRS], value[VM_PAIRS];
    bool value_done[VM_PAIRS];
    int calls;
    int bad_forwarded;
} vm_tables;

static bool vm_process(mdn_heap *h, mdn_weak_context *ctx, void *data) {
    (void)h;
    vm_tables *vt = data;
    vt->calls++;
    bool more = false;
    for (int i = 0; i < VM_PAIRS; i++) {
        if (vt->value_done[i] || mdn_objref_is_null(vt->key[i]) || !mdn_weak_is_live(ctx, vt->key[i]))
            continue;
        mdn_weak_update(ctx, mdn_slot_from_ptr(&vt->key[i]));
        mdn_weak_retain(ctx, mdn_slot_from_ptr(&vt->value[i]));
        vt->value_done[i] = true;
        more = true;
    }
    if (more)
        return true;
    /* The fixpoint is reached: clear what died. */
    for (int i = 0; i < VM_PAIRS; i++) {
        if (!vt->value_done[i]) {
            vt->key[i] = vt->value[i] = mdn_objref_null();
        }
        vt->value_done[i] = false;
    }
    for (int i = 0; i < VM_WEAK; i++) {
        mdn_objref old = vt->weak[i];
        if (!mdn_objref_is_null(old) && mdn_weak_is_live(ctx, old) &&
            !mdn_objref_eq(mdn_weak_forwarded(ctx, old), mdn_weak_forwarded(ctx, mdn_weak_forwarded(ctx, old))))
            vt->bad_forwarded++;
        mdn_weak_update(ctx, mdn_slot_from_ptr(&vt->weak[i]));
    }
    return false;
}

START_TEST(binding_weak_processor) {
    toyvm_thread *t = weak_thread(_i);
    mdn_heap *h = t->heap;
    static vm_tables vt;
    memset(&vt, 0, sizeof vt);
    mdn_set_weak_processor(h, vm_process, &vt);
    size_t strong = toyvm_push_root(t, toyvm_alloc(t, 29, VM_WEAK, 0, MDN_ALLOC_DEFAULT));
    for (int i = 0; i < VM_WEAK; i++) {
        mdn_objref l = leaf(t, (uint64_t)i);
        vt.weak[i] = l;
        if (i % 2)
            toyvm_set_ref(t, toyvm_root(t, strong), (unsigned)i, l);
    }
    /* Pairs chained backwards: value i is key i-1; only key VM_PAIRS-1 rooted. */
    size_t lastkey = toyvm_push_root(t, mdn_objref_null());
    for (int i = 0; i < VM_PAIRS; i++) {
        mdn_objref k = leaf(t, 500 + (uint64_t)i);
        vt.key[i] = k;
        if (i > 0)
            vt.value[i] = vt.key[i - 1];
        toyvm_set_root(t, lastkey, k);
    }
    vt.value[0] = leaf(t, 499);
    mdn_collect(t->mutator, WEAK_GC);
    for (int i = 0; i < VM_WEAK; i++) {
        if (i % 2 || !collects())
            ck_assert_uint_eq(tag_of(vt.weak[i]), (uint64_t)i);
        else
            ck_assert_msg(mdn_objref_is_null(vt.weak[i]), "entry %d not cleared", i);
        if (i % 2)
            ck_assert(mdn_objref_eq(vt.weak[i], toyvm_get_ref(toyvm_root(t, strong), (unsigned)i)));
    }
    ck_assert(mdn_objref_eq(vt.key[VM_PAIRS - 1], toyvm_root(t, lastkey)));
    for (int i = 0; i < VM_PAIRS; i++) {
        ck_assert_uint_eq(tag_of(vt.key[i]), 500 + (uint64_t)i);
        ck_assert_uint_eq(tag_of(vt.value[i]), 499 + (uint64_t)i);
    }
    if (collects())
        ck_assert_int_ge(vt.calls, VM_PAIRS + 1); /* one call per link, then the last */
    ck_assert_int_eq(vt.bad_forwarded, 0);
    toyvm_set_root(t, lastkey, mdn_objref_null());
    mdn_collect(t->mutator, WEAK_GC);
    for (int i = 0; i < VM_PAIRS && collects(); i++)
        ck_assert(mdn_objref_is_null(vt.key[i]) && mdn_objref_is_null(vt.value[i]));
    mdn_set_weak_processor(h, NULL, NULL);
    toyvm_pop_roots(t, 2);
    weak_done(t);
}
END_TEST

static Suite *weak_suite(void) {
    Suite *s = suite_create("weak");
    TCase *tc = tcase_create("weak");
    tcase_set_timeout(tc, 300);
    tcase_add_loop_test(tc, weak_slot_cleared_exactly_when_unreachable, 0, 2);
    tcase_add_loop_test(tc, weak_slots_many_and_outside_the_heap, 0, 2);
    tcase_add_loop_test(tc, finalizer_runs_once_outside_collections_and_may_resurrect, 0, 2);
    tcase_add_loop_test(tc, short_and_long_slots_around_a_finalizer, 0, 2);
    tcase_add_loop_test(tc, ordered_finalization_is_topological, 0, 2);
    tcase_add_loop_test(tc, ephemeron_chains_in_adversarial_order, 0, 2);
    tcase_add_loop_test(tc, ephemeron_value_kept_for_a_finalizer, 0, 2);
    tcase_add_loop_test(tc, binding_weak_processor, 0, 2);
    tcase_add_loop_test(tc, targets_of_every_kind, 0, 2);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return mdn_run_suite(weak_suite()); }
