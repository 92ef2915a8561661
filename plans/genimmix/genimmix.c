/*
 * The GenImmix plan: a copying nursery over an Immix mature space
 * (Blackburn & McKinley, PLDI 2008, §4; the GenImmix of MMTk), with the
 * object-remembering write barrier of the generational layer
 * (docs/design/generational.md).
 *
 * Spaces:  DEFAULT ≤ 8 KiB       → nursery (copy policy: thread-local bump, emptied by every collection)
 *          NONMOVING, and DEFAULT
 *          requests aligned > 8 B → mature immix space, pinned or at their alignment (.gen.pinned)
 *          IMMORTAL, LARGE, > 8 KiB → the common spaces (plans/common)
 *
 * A collection, minor or full (.gen.policy), flips the whole nursery and
 * forwards each nursery object it reaches into the mature space
 * (.gen.promote), reporting the move to the binding; the nursery is then
 * released wholesale. A minor collection traces from the roots and the
 * remembered objects (.gen.remset) and keeps the mature space's marks
 * (.gen.sticky): a marked mature object is old and not traced, and
 * promoted objects are marked as they are copied in, so they are old
 * after it. A full collection is an Immix collection of the mature space
 * (new epoch, defragmentation) that promotes the nursery as well.
 *
 * The nursery is bounded by the `nursery` option (bytes) or, when that is
 * unset, by `nursery-percent` of the heap limit (.gen.nursery): a mutator
 * that would take a block past it, or into the mature space's headroom,
 * starts a collection. Nursery blocks are charged to the budget once
 * (policies/copy/copy.h .copy.promote); the survivors' mature blocks are
 * charged as they are taken.
 *
 * A conservative heap pins everything (docs/design/conservative.md
 * .cons.pin): the core routes every object to the mature space, and the
 * mutators' inline region bumps into its holes, as on StickyImmix.
 */
#include "plans/common/common.h"
#include "policies/copy/copy.h"
#include "policies/immix/immix.h"

#include <stdio.h>

const char mdn_plan_name_string[] = "genimmix";
const bool plan_can_collect = true;
const bool plan_breadth_first = false;
const int mdn_plan_genimmix_linked = 1;

enum { SPACE_NURSERY = MDN_SPACE_PLAN, SPACE_MATURE = MDN_SPACE_PLAN + 1 };

typedef struct genimmix_plan {
    mdn_common_plan common;
    mdn_copy_space nursery;
    mdn_immix_space mature;
} genimmix_plan;

/* A mutator: the nursery's medium-object region (its main region is the
 * inline one) and a mature-space allocator for pinned and aligned objects
 * (on a conservative heap, for all of them, in the inline region). */
typedef struct genimmix_mutator {
    mdn_bump_region overflow;
    mdn_immix_allocator mature;
} genimmix_mutator;

/* A GC worker: one allocator promotes (.immix.promote), one evacuates
 * mature candidates of a full collection within its copy space. */
typedef struct genimmix_worker {
    mdn_immix_allocator promote;
    mdn_immix_allocator evacuate;
} genimmix_worker;

_Static_assert(sizeof(genimmix_mutator) <= MDN_PLAN_OWN_MUTATOR_AREA, "mutator area");
_Static_assert(sizeof(genimmix_worker) <= MDN_PLAN_TRACER_AREA, "tracer area");

static genimmix_plan *plan_of(const mdn_heap *heap) { return heap->plan; }
static genimmix_mutator *mutator_of(mdn_mutator *m) { return mdn_plan_mutator(m); }
static genimmix_worker *worker_of(mdn_tracer *t) { return mdn_plan_worker(t); }

/* .gen.nursery: the nursery's bound in blocks; none while collections are
 * disabled. */
static size_t nursery_blocks(const mdn_heap *heap) { return mdn_common_nursery_bytes(heap) / MDN_BLOCK_SIZE; }

static void *gi_alloc(mdn_heap *heap, mdn_mutator *m, unsigned space, size_t bytes, size_t align,
                      mdn_alloc_kind kind) {
    genimmix_plan *p = plan_of(heap);
    genimmix_mutator *gm = mutator_of(m);
    if (space == SPACE_NURSERY && align <= MDN_MIN_ALIGN && !heap->options.conservative) {
        __atomic_store_n(&p->nursery.max_blocks, nursery_blocks(heap), __ATOMIC_RELAXED);
        return mdn_copy_alloc(&p->nursery, mdn_mutator_bump(&m->fast), &gm->overflow, bytes);
    }
    /* .gen.pinned: young in the mature space until a collection marks it. */
    return mdn_immix_alloc_object(&gm->mature, bytes, align, kind == MDN_ALLOC_NONMOVING);
}

static void gi_mutator_init(mdn_heap *heap, mdn_mutator *m) {
    genimmix_plan *p = plan_of(heap);
    genimmix_mutator *gm = mutator_of(m);
    gm->overflow = (mdn_bump_region){0, 0};
    bool cons = heap->options.conservative;
    if (!cons)
        *mdn_mutator_bump(&m->fast) = (mdn_bump_region){0, 0};
    mdn_immix_allocator_init(&gm->mature, &p->mature, cons ? mdn_mutator_bump(&m->fast) : NULL, false);
}

static void gi_mutator_retire(mdn_heap *heap, mdn_mutator *m) {
    genimmix_plan *p = plan_of(heap);
    genimmix_mutator *gm = mutator_of(m);
    if (!heap->options.conservative)
        mdn_copy_retire(&p->nursery, mdn_mutator_bump(&m->fast));
    mdn_copy_retire(&p->nursery, &gm->overflow);
    mdn_immix_allocator_retire(&gm->mature);
}

static void gi_worker_prepare(mdn_heap *heap, mdn_tracer *t) {
    genimmix_plan *p = plan_of(heap);
    mdn_immix_promotion_allocator_init(&worker_of(t)->promote, &p->mature);
    mdn_immix_allocator_init(&worker_of(t)->evacuate, &p->mature, NULL, true);
}

static void gi_worker_release(mdn_heap *heap, mdn_tracer *t) {
    (void)heap;
    mdn_immix_allocator_retire(&worker_of(t)->promote);
    mdn_immix_allocator_retire(&worker_of(t)->evacuate);
}

static void gi_released(mdn_heap *heap) {
    const genimmix_plan *p = plan_of(heap);
    const mdn_immix_space *s = &p->mature;
    if (heap->options.verbose >= 2)
        fprintf(stderr,
                "midden:   genimmix: %zu nursery blocks released (bound %zu); mature epoch %u, %zu live lines; "
                "blocks: %zu free, %zu recyclable, %zu full; %zu candidates, %zu evacuated\n",
                p->nursery.from_blocks, nursery_blocks(heap), (unsigned)s->mark_epoch, s->live_lines,
                s->free_blocks, s->recyclable_blocks, s->full_blocks, s->candidate_blocks, s->evacuated_blocks);
}

/* Nursery objects move at every collection; mature ones can be pinned. */
static bool gi_pin(mdn_heap *heap, mdn_objref obj, unsigned space) {
    if (space == SPACE_NURSERY)
        return false;
    mdn_immix_pin(&plan_of(heap)->mature, mdn_vm_object_start(obj));
    return true;
}

/* .gen.sticky: the mature space keeps its marks across minor collections
 * and sets the unlogged bits of what it marks; .gen.promote: the nursery
 * is emptied into it. */
static void gi_created(mdn_heap *heap) {
    genimmix_plan *p = plan_of(heap);
    p->mature.unlogged = mdn_common_unlogged(heap);
    p->nursery.promotes = true;
    /* .gen.nursery: nursery refills leave the mature space's headroom. */
    p->nursery.headroom_bytes = p->mature.reserve_bytes;
}

static void gi_prepare(mdn_heap *heap, bool full) {
    (void)full;
    genimmix_plan *p = plan_of(heap);
    p->mature.minor = p->common.gen.minor;
}

/* .gen.verify: mature and marked by an earlier collection; nursery objects
 * are young. */
static bool gi_is_old(mdn_heap *heap, mdn_objref obj, unsigned space) {
    return space == SPACE_MATURE && mdn_immix_is_marked(&plan_of(heap)->mature, mdn_vm_object_start(obj));
}

static const mdn_plan_space spaces[] = {{&mdn_copy_policy, offsetof(genimmix_plan, nursery)},
                                        {&mdn_immix_policy, offsetof(genimmix_plan, mature)}};

const mdn_plan_desc plan_desc = {
    .state_size = sizeof(genimmix_plan),
    .spaces = spaces,
    .nspaces = 2,
    .routes = {[MDN_ALLOC_DEFAULT] = SPACE_NURSERY,
               [MDN_ALLOC_NONMOVING] = SPACE_MATURE,
               [MDN_ALLOC_IMMORTAL] = MDN_SPACE_IMMORTAL,
               [MDN_ALLOC_LARGE] = MDN_SPACE_LARGE},
    .alloc = gi_alloc,
    .mutator_init = gi_mutator_init,
    .mutator_retire = gi_mutator_retire,
    .worker_prepare = gi_worker_prepare,
    .worker_release = gi_worker_release,
    .released = gi_released,
    .pin = gi_pin,
    .generational = true,
    .created = gi_created,
    .prepare = gi_prepare,
    .is_old = gi_is_old,
};

/* .gen.promote: a nursery survivor's copy goes to the worker's promotion
 * allocator. */
static MDN_ALWAYS_INLINE void *promote_place(mdn_copy_space *s, void *ctx, size_t size) {
    (void)s;
    return mdn_immix_alloc_promoted(ctx, size);
}

static MDN_ALWAYS_INLINE mdn_objref genimmix_trace_own(mdn_tracer *t, mdn_objref obj, unsigned space) {
    genimmix_plan *p = plan_of(t->heap);
    genimmix_worker *w = worker_of(t);
    if (MDN_LIKELY(space == SPACE_NURSERY))
        return mdn_copy_forward_object(&p->nursery, t, obj, mdn_vm_object_start(obj), promote_place, &w->promote);
    return mdn_immix_sticky_trace_object(&p->mature, t, obj, &w->evacuate);
}

MDN_COMMON_TRACE(genimmix_trace_own, 2)
