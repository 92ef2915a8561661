/*
 * The Immix plan: a mark-region collector with opportunistic
 * defragmentation (Blackburn & McKinley, PLDI 2008; docs/design/immix.md).
 *
 * Spaces:  DEFAULT ≤ 8 KiB     → immix (inline bump into the current hole up to
 *                                 one line; medium objects out of line, where
 *                                 they get their medium bit, .immix.medium)
 *          NONMOVING ≤ 8 KiB   → immix, pinned at allocation
 *          IMMORTAL, LARGE, > 8 KiB → the common spaces (plans/common)
 * Objects asked for with an alignment above MDN_MIN_ALIGN are not pinned:
 * evacuation copies them at their alignment (docs/design/immix.md
 * .immix.aligned).
 *
 * Trigger: a collection runs when the budget refuses a block (the immix
 * space keeps the defrag headroom out of mutators' reach). Phases: prepare
 * advances the line-mark epoch, clears object marks and picks evacuation
 * candidates; the closure marks objects and lines, or evacuates candidates
 * with each GC worker's copy allocator; release sweeps the immix blocks
 * (free / recyclable / full, from line marks) and the large objects.
 */
#include "immix_plan.h"

#include "plans/common/common.h"

#include <stdio.h>

/* plans/stickyimmix compiles this file again with IMMIX_PLAN_STICKY set:
 * the same plan with sticky mark bits and the write barrier
 * (docs/design/generational.md .gen.sticky). */
#ifndef IMMIX_PLAN_STICKY
#define IMMIX_PLAN_STICKY 0
#endif

#if IMMIX_PLAN_STICKY
const char mdn_plan_name_string[] = "stickyimmix";
const int mdn_plan_stickyimmix_linked = 1;
#else
const char mdn_plan_name_string[] = "immix";
const int mdn_plan_immix_linked = 1;
#endif
const bool plan_can_collect = true;
const bool plan_breadth_first = false;

enum { SPACE_IMMIX = MDN_SPACE_PLAN };

typedef struct immix_plan {
    mdn_common_plan common;
    mdn_immix_space immix;
} immix_plan;

/* The plan's part of a mutator, and a GC worker's: an immix allocator. */
_Static_assert(sizeof(mdn_immix_allocator) <= MDN_PLAN_OWN_MUTATOR_AREA, "immix mutator state fits the plan area");
_Static_assert(sizeof(mdn_immix_allocator) <= MDN_PLAN_TRACER_AREA, "immix worker state fits the plan area");

static immix_plan *plan_of(const mdn_heap *heap) { return heap->plan; }
static mdn_immix_allocator *mutator_of(mdn_mutator *m) { return mdn_plan_mutator(m); }
static mdn_immix_allocator *worker_of(mdn_tracer *t) { return mdn_plan_worker(t); }

mdn_immix_space *mdn_immix_plan_space(mdn_heap *heap) { return &plan_of(heap)->immix; }

static void *ix_alloc(mdn_heap *heap, mdn_mutator *m, unsigned space, size_t bytes, size_t align,
                      mdn_alloc_kind kind) {
    (void)heap, (void)space;
#if IMMIX_PLAN_STICKY
    /* .gen.nursery: minor collections every nursery's worth of young blocks
     * (.immix.young-cap). */
    __atomic_store_n(&plan_of(heap)->immix.young_cap, mdn_common_nursery_bytes(heap), __ATOMIC_RELAXED);
#endif
    return mdn_immix_alloc_object(mutator_of(m), bytes, align, kind == MDN_ALLOC_NONMOVING);
}

static void ix_mutator_init(mdn_heap *heap, mdn_mutator *m) {
    mdn_immix_allocator_init(mutator_of(m), &plan_of(heap)->immix, mdn_mutator_bump(&m->fast), false);
}

static void ix_mutator_retire(mdn_heap *heap, mdn_mutator *m) {
    (void)heap;
    mdn_immix_allocator_retire(mutator_of(m));
}

static void ix_worker_prepare(mdn_heap *heap, mdn_tracer *t) {
    mdn_immix_allocator_init(worker_of(t), &plan_of(heap)->immix, NULL, true);
}

static void ix_worker_release(mdn_heap *heap, mdn_tracer *t) {
    (void)heap;
    mdn_immix_allocator_retire(worker_of(t));
}

static void ix_released(mdn_heap *heap) {
    const mdn_immix_space *s = &plan_of(heap)->immix;
    if (heap->options.verbose >= 2)
        fprintf(stderr,
                "midden:   immix: epoch %u, %zu live lines; blocks: %zu free, %zu recyclable, %zu full; "
                "%zu candidates, %zu evacuated\n",
                (unsigned)s->mark_epoch, s->live_lines, s->free_blocks, s->recyclable_blocks, s->full_blocks,
                s->candidate_blocks, s->evacuated_blocks);
}

static bool ix_pin(mdn_heap *heap, mdn_objref obj, unsigned space) {
    (void)space;
    mdn_immix_pin(&plan_of(heap)->immix, mdn_vm_object_start(obj));
    return true;
}

#if IMMIX_PLAN_STICKY
/* .gen.sticky: the immix space keeps its marks across minor collections
 * and sets the unlogged bits of what it marks. */
static void sticky_created(mdn_heap *heap) { plan_of(heap)->immix.unlogged = mdn_common_unlogged(heap); }

static void sticky_prepare(mdn_heap *heap, bool full) {
    (void)full;
    plan_of(heap)->immix.minor = plan_of(heap)->common.gen.minor;
}

/* .gen.verify: marked by an earlier collection. */
static bool sticky_is_old(mdn_heap *heap, mdn_objref obj, unsigned space) {
    (void)space;
    return mdn_immix_is_marked(&plan_of(heap)->immix, mdn_vm_object_start(obj));
}
#endif

static const mdn_plan_space spaces[] = {{&mdn_immix_policy, offsetof(immix_plan, immix)}};

const mdn_plan_desc plan_desc = {
    .state_size = sizeof(immix_plan),
    .spaces = spaces,
    .nspaces = 1,
    .routes = {[MDN_ALLOC_DEFAULT] = SPACE_IMMIX,
               [MDN_ALLOC_NONMOVING] = SPACE_IMMIX,
               [MDN_ALLOC_IMMORTAL] = MDN_SPACE_IMMORTAL,
               [MDN_ALLOC_LARGE] = MDN_SPACE_LARGE},
    .alloc = ix_alloc,
    .mutator_init = ix_mutator_init,
    .mutator_retire = ix_mutator_retire,
    .worker_prepare = ix_worker_prepare,
    .worker_release = ix_worker_release,
    .released = ix_released,
    .pin = ix_pin,
#if IMMIX_PLAN_STICKY
    .generational = true,
    .created = sticky_created,
    .prepare = sticky_prepare,
    .is_old = sticky_is_old,
#endif
};

static MDN_ALWAYS_INLINE mdn_objref immix_trace_own(mdn_tracer *t, mdn_objref obj, unsigned space) {
    (void)space;
#if IMMIX_PLAN_STICKY
    return mdn_immix_sticky_trace_object(&plan_of(t->heap)->immix, t, obj, worker_of(t));
#else
    return mdn_immix_trace_object(&plan_of(t->heap)->immix, t, obj, worker_of(t));
#endif
}

MDN_COMMON_TRACE(immix_trace_own, 1)
