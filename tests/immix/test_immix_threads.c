/*
 * Immix under parallel collection: several mutator threads churn objects
 * of small and medium sizes into a small heap with two GC threads, with
 * defragmenting collections requested from different threads and pinned
 * objects among the churn. Every object carries its id and a checksum.
 * MDN_TEST_LABELS: threads
 */
#include "plans/immix/immix_plan.h"
#include "testutil.h"
#include "toyvm.h"

#include "mdn_check.h"
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { THREADS = 3, SLOTS = 3000, TYPE = 50 };

typedef struct churn_arg {
    mdn_heap *heap;
    unsigned tag;
    uint64_t seed;
    int steps;
    bool ok;
    char failure[256];
} churn_arg;

static uint64_t check_of(uint64_t id) { return id * 0xD6E8FEB86659FD93ULL ^ 0x5555; }

/* Payload: id, checksum, id of the referent (0 if none). */
static bool check_object(mdn_objref o, uint64_t id) {
    if (toyvm_type(o) != TYPE)
        return false;
    const uint64_t *p = toyvm_payload(o);
    if (p[0] != id || p[1] != check_of(id))
        return false;
    mdn_objref r = toyvm_get_ref(o, 0);
    if (mdn_objref_is_null(r))
        return p[2] == 0;
    const uint64_t *q = toyvm_payload(r);
    return toyvm_type(r) == TYPE && q[0] == p[2] && q[1] == check_of(p[2]);
}

static void report_failure(churn_arg *a, const char *what, size_t slot) {
    snprintf(a->failure, sizeof a->failure, "thread %u: %s at slot %zu (seed %llu)", a->tag, what, slot,
             (unsigned long long)a->seed);
    a->ok = false;
}

static void *churn(void *p) {
    churn_arg *a = p;
    toyvm_thread *t = toyvm_thread_attach(a->heap);
    mdn_objref *slots = calloc(SLOTS, sizeof *slots);
    uint64_t *ids = calloc(SLOTS, sizeof *ids);
    uintptr_t *pinned = calloc(SLOTS, sizeof *pinned);
    mdn_add_roots(a->heap, slots, SLOTS);
    uint64_t rng = a->seed, next_id = (uint64_t)a->tag << 40;
    a->ok = true;
    for (int step = 0; step < a->steps && a->ok; step++) {
        size_t i = (size_t)mdn_test_rand_below(&rng, SLOTS);
        size_t j = (size_t)mdn_test_rand_below(&rng, SLOTS);
        size_t payload = mdn_test_rand_below(&rng, 8) == 0 ? 300 + mdn_test_rand_below(&rng, 700)
                                                            : 24 + mdn_test_rand_below(&rng, 40);
        mdn_objref o = toyvm_alloc(t, TYPE, 1, payload, MDN_ALLOC_DEFAULT);
        uint64_t id = ++next_id;
        uint64_t *pl = toyvm_payload(o);
        pl[0] = id;
        pl[1] = check_of(id);
        if (ids[j]) {
            toyvm_set_ref(t, o, 0, slots[j]);
            pl[2] = ids[j];
        }
        if (pinned[i] && slots[i].value != pinned[i]) {
            report_failure(a, "pinned object moved", i);
            break;
        }
        slots[i] = o;
        ids[i] = id;
        pinned[i] = 0;
        if (mdn_test_rand_below(&rng, 50) == 0) {
            mdn_pin_object(t->mutator, o);
            pinned[i] = o.value;
        }
        if (step % 4000 == 3999)
            mdn_collect(t->mutator, (step / 4000) % 2 ? MDN_GC_FULL : MDN_GC_DEFAULT);
        mdn_safepoint(t->mutator);
        if (step % 1500 == 0 || step == a->steps - 1) {
            for (size_t k = 0; k < SLOTS && a->ok; k++) {
                if (ids[k] && !check_object(slots[k], ids[k]))
                    report_failure(a, "object corrupted", k);
                if (pinned[k] && slots[k].value != pinned[k])
                    report_failure(a, "pinned object moved", k);
            }
        }
    }
    mdn_remove_roots(a->heap, slots);
    free(slots);
    free(ids);
    free(pinned);
    toyvm_thread_detach(t);
    return NULL;
}

START_TEST(parallel_mutators_and_defragmentation) {
    uint64_t seed = mdn_test_seed("parallel_mutators_and_defragmentation");
    mdn_options o;
    mdn_options_init(&o);
    o.heap_size = (size_t)12 << 20;
    o.gc_threads = 2;
    o.verify = _i == 1;
    mdn_heap *h = mdn_heap_create(&o, NULL);
    ck_assert_ptr_nonnull(h);
    const int steps = _i == 1 ? 8000 : 30000;
    pthread_t th[THREADS];
    churn_arg args[THREADS];
    for (unsigned i = 0; i < THREADS; i++) {
        args[i] = (churn_arg){.heap = h, .tag = i + 1, .seed = seed + i * 1000003, .steps = steps};
        pthread_create(&th[i], NULL, churn, &args[i]);
    }
    for (unsigned i = 0; i < THREADS; i++) {
        pthread_join(th[i], NULL);
        ck_assert_msg(args[i].ok, "%s", args[i].failure);
    }
    mdn_stats st;
    mdn_stats_get(h, &st);
    /* Each thread asks for a collection every 4000 steps. Requests made at
     * the same time are served by one collection, so how many run depends
     * on scheduling; but every request is served by a collection that ends
     * after it was made, so there are at least as many as one thread asked
     * for (more when allocation triggers them). */
    ck_assert_uint_ge(st.collections, (uint64_t)(steps / 4000));
    mdn_heap_destroy(h);
}
END_TEST

int main(void) {
    Suite *s = suite_create("immix-threads");
    TCase *tc = tcase_create("immix");
    tcase_set_timeout(tc, 300);
    tcase_add_loop_test(tc, parallel_mutators_and_defragmentation, 0, 2);
    suite_add_tcase(s, tc);
    return mdn_run_suite(s);
}
