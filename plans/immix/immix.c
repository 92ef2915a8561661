/*
 * The Immix plan: a mark-region collector with opportunistic
 * defragmentation (Blackburn & McKinley, PLDI 2008; docs/design/immix.md).
 *
 * Spaces:  DEFAULT ≤ 8 KiB     → immix (inline bump into the current hole up to
 *                                 one line; medium objects out of line, where
 *                                 they get their medium bit, .immix.medium)
 *          NONMOVING ≤ 8 KiB   → immix, pinned at allocation
 *          IMMORTAL            → immortal (thread-local bump, never reclaimed)
 *          LARGE, > 8 KiB      → large-object space
 * Objects asked for with an alignment above MDN_MIN_ALIGN are pinned too:
 * evacuation copies at MDN_MIN_ALIGN and would lose their alignment.
 *
 * Trigger: a collection runs when the budget refuses a block (the immix
 * space keeps the defrag headroom out of mutators' reach). Phases: prepare
 * advances the line-mark epoch, clears object marks and picks evacuation
 * candidates; the closure marks objects and lines, or evacuates candidates
 * with each GC worker's copy allocator; release sweeps the immix blocks
 * (free / recyclable / full, from line marks) and the large objects.
 */
#include "immix_plan.h"

#include "core/plan.h"
#include "core/trace.h"
#include "policies/immortal/immortal.h"
#include "policies/los/los.h"

#include <stdio.h>
#include <stdlib.h>

const char mdn_plan_name_string[] = "immix";
const bool plan_can_collect = true;
const bool plan_breadth_first = false;
const int mdn_plan_immix_linked = 1;

enum { SPACE_IMMIX = 1, SPACE_LARGE = 2, SPACE_IMMORTAL = 3 };

typedef struct immix_plan {
    mdn_immix_space immix;
    mdn_los_space large;
    mdn_immortal_space immortal;
} immix_plan;

/* The plan areas of a mutator and of a GC worker. */
typedef struct immix_mutator {
    mdn_immix_allocator immix;
    mdn_bump_region immortal;
} immix_mutator;

typedef struct immix_worker {
    mdn_immix_allocator copy;
} immix_worker;

_Static_assert(sizeof(immix_mutator) <= MDN_PLAN_MUTATOR_AREA, "immix mutator state fits the plan area");
_Static_assert(sizeof(immix_worker) <= MDN_PLAN_TRACER_AREA, "immix worker state fits the plan area");

static immix_plan *plan_of(const mdn_heap *heap) { return heap->plan; }
static immix_mutator *mutator_of(mdn_mutator *m) { return (immix_mutator *)(void *)m->plan; }
static immix_worker *worker_of(mdn_tracer *t) { return (immix_worker *)(void *)t->plan; }

mdn_immix_space *mdn_immix_plan_space(mdn_heap *heap) { return &plan_of(heap)->immix; }

bool plan_create(mdn_heap *heap, mdn_error *err) {
    immix_plan *p = calloc(1, sizeof *p);
    if (!p) {
        mdn_error_set(err, MDN_ERR_MEMORY, "immix: cannot allocate the plan");
        return false;
    }
    bool ok = mdn_immix_init(&p->immix, &heap->vm, SPACE_IMMIX, &heap->stats, heap->options.defrag_headroom);
    ok = mdn_los_init(&p->large, &heap->vm, SPACE_LARGE, &heap->stats) && ok;
    ok = mdn_immortal_init(&p->immortal, &heap->vm, SPACE_IMMORTAL, &heap->stats) && ok;
    heap->plan = p;
    if (!ok) {
        plan_destroy(heap);
        mdn_error_set(err, MDN_ERR_MEMORY, "immix: cannot set up the spaces' metadata");
        return false;
    }
    return true;
}

void plan_destroy(mdn_heap *heap) {
    immix_plan *p = plan_of(heap);
    mdn_immortal_destroy(&p->immortal);
    mdn_los_destroy(&p->large);
    mdn_immix_destroy(&p->immix);
    free(p);
    heap->plan = NULL;
}

void plan_mutator_init(mdn_heap *heap, mdn_mutator *m) {
    immix_mutator *im = mutator_of(m);
    mdn_immix_allocator_init(&im->immix, &plan_of(heap)->immix, mdn_mutator_bump(&m->fast), false);
    im->immortal.cursor = im->immortal.limit = 0;
}

void plan_mutator_retire(mdn_heap *heap, mdn_mutator *m) {
    immix_mutator *im = mutator_of(m);
    mdn_immix_allocator_retire(&im->immix);
    mdn_immortal_retire(&plan_of(heap)->immortal, &im->immortal);
}

void *plan_alloc(mdn_heap *heap, mdn_mutator *m, size_t bytes, size_t align, mdn_alloc_kind kind) {
    immix_plan *p = plan_of(heap);
    immix_mutator *im = mutator_of(m);
    if (kind == MDN_ALLOC_LARGE || bytes > MDN_LARGE_OBJECT_THRESHOLD)
        return mdn_los_alloc(&p->large, bytes);
    if (kind == MDN_ALLOC_IMMORTAL)
        return mdn_immortal_alloc(&p->immortal, &im->immortal, bytes, align);
    void *obj = mdn_immix_alloc(&im->immix, bytes, align);
    if (!obj)
        return NULL;
    if (bytes > MDN_IMMIX_SMALL_MAX)
        mdn_immix_note_medium(&p->immix, mdn_address_from_ptr(obj));
    if (kind == MDN_ALLOC_NONMOVING || align > MDN_MIN_ALIGN)
        mdn_immix_pin(&p->immix, mdn_address_from_ptr(obj));
    return obj;
}

void plan_prepare(mdn_heap *heap, bool full) {
    immix_plan *p = plan_of(heap);
    mdn_immix_prepare(&p->immix, full, heap->nworkers);
    mdn_los_prepare(&p->large);
    mdn_immortal_prepare(&p->immortal);
}

void plan_worker_prepare(mdn_heap *heap, mdn_tracer *t) {
    mdn_immix_allocator_init(&worker_of(t)->copy, &plan_of(heap)->immix, NULL, true);
}

void plan_worker_release(mdn_heap *heap, mdn_tracer *t) {
    (void)heap;
    mdn_immix_allocator_retire(&worker_of(t)->copy);
}

size_t plan_release(mdn_heap *heap) {
    immix_plan *p = plan_of(heap);
    size_t candidates = p->immix.candidate_blocks;
    size_t live = mdn_immix_release(&p->immix);
    live += mdn_los_sweep(&p->large);
    live += mdn_immortal_used_bytes(&p->immortal);
    if (heap->options.verbose >= 2)
        fprintf(stderr,
                "midden:   immix: epoch %u, %zu live lines; blocks: %zu free, %zu recyclable, %zu full; "
                "%zu candidates, %zu evacuated\n",
                (unsigned)p->immix.mark_epoch, p->immix.live_lines, p->immix.free_blocks,
                p->immix.recyclable_blocks, p->immix.full_blocks, candidates, p->immix.evacuated_blocks);
    return live;
}

static inline mdn_objref immix_plan_trace_object(mdn_tracer *t, mdn_objref obj) {
    immix_plan *p = plan_of(t->heap);
    unsigned space = mdn_vmspace_space_of(&t->heap->vm, mdn_objref_to_address(obj));
    if (MDN_LIKELY(space == SPACE_IMMIX))
        return mdn_immix_trace_object(&p->immix, t, obj, &worker_of(t)->copy);
    if (space == SPACE_LARGE)
        return mdn_los_trace_object(&p->large, t, obj);
    MDN_CHECK(space == SPACE_IMMORTAL);
    return mdn_immortal_trace_object(&p->immortal, t, obj);
}

MDN_DEFINE_TRACE_SLOT(immix_plan_trace_object)

bool plan_pin_object(mdn_heap *heap, mdn_objref obj) {
    immix_plan *p = plan_of(heap);
    mdn_address start = mdn_vm_object_start(obj);
    if (mdn_immix_contains(&p->immix, start))
        mdn_immix_pin(&p->immix, start);
    return true; /* large and immortal objects never move */
}

bool plan_is_live_object(mdn_heap *heap, mdn_objref obj) {
    immix_plan *p = plan_of(heap);
    mdn_address start = mdn_vm_object_start(obj);
    if (!mdn_address_is_aligned(start, MDN_MIN_ALIGN))
        return false;
    switch (mdn_vmspace_space_of(&heap->vm, start)) {
    case SPACE_IMMIX: {
        uint8_t state = mdn_block_state_get(&heap->vm, mdn_address_align_down(start, MDN_BLOCK_SIZE));
        return mdn_immix_is_marked(&p->immix, start) && state != MDN_BLOCK_FREE && state != MDN_BLOCK_UNOWNED;
    }
    case SPACE_LARGE:
        return mdn_los_is_object_start(&p->large, start) && mdn_los_is_marked(&p->large, obj);
    case SPACE_IMMORTAL:
        return true;
    default:
        return false;
    }
}

/* .verify.metadata: the spaces Immix shares with every plan. */
void plan_verify_metadata(mdn_heap *heap) {
    immix_plan *p = plan_of(heap);
    mdn_los_verify(&p->large);
    mdn_immortal_verify(&p->immortal);
}

/* The weak phase's queries (docs/design/weak.md .weak.queries). */
bool plan_object_is_reachable(mdn_heap *heap, mdn_objref obj) {
    immix_plan *p = plan_of(heap);
    mdn_address start = mdn_vm_object_start(obj);
    switch (mdn_vmspace_space_of(&heap->vm, start)) {
    case SPACE_IMMIX:
        return mdn_immix_is_marked(&p->immix, start) ||
               (mdn_immix_is_candidate(&p->immix, start) && mdn_forwarding_state(&p->immix.fwd, start) == MDN_FWD_DONE);
    case SPACE_LARGE:
        return mdn_los_is_marked(&p->large, obj);
    default:
        return true; /* immortal */
    }
}

mdn_objref plan_object_forwarded(mdn_heap *heap, mdn_objref obj) {
    immix_plan *p = plan_of(heap);
    mdn_address start = mdn_vm_object_start(obj);
    if (mdn_immix_contains(&p->immix, start) && mdn_immix_is_candidate(&p->immix, start) &&
        mdn_forwarding_state(&p->immix.fwd, start) == MDN_FWD_DONE)
        return mdn_forwarding_pointer(start);
    return obj;
}
