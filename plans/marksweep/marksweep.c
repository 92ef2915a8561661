/*
 * The MarkSweep plan: a full-heap, non-moving, parallel mark-sweep collector.
 *
 * Spaces:  DEFAULT, NONMOVING       → mark-sweep space (size-class free lists,
 *                                     inline fast path up to 256 bytes)
 *          LARGE, anything > 8 KiB, → large-object space
 *          and requests whose alignment no size class serves
 *          IMMORTAL (up to 8 KiB)   → immortal space (thread-local bump)
 * Trigger: a refill that needs a fresh block when the heap budget is used
 *          (the core then collects, retries, collects fully, retries, and
 *          reports out of memory).
 * Phases:  prepare clears marks; the closure marks (side bits, fetch-or) on
 *          every GC worker; release classifies blocks and frees large
 *          objects; blocks are swept lazily by the allocator that takes them
 *          (policies/marksweep/marksweep.h, .ms.lazy). With verify=1 every
 *          block is swept eagerly and checked before the heap is verified.
 * Nothing moves, so pinning always succeeds.
 */
#include "marksweep_plan.h"

#include "core/plan.h"
#include "core/trace.h"

#include <stdlib.h>

const char mdn_plan_name_string[] = "marksweep";
const bool plan_can_collect = true;
const bool plan_breadth_first = false;
const int mdn_plan_marksweep_linked = 1;

/* The mutator's plan area: the mark-sweep allocator. The immortal space
 * bumps in mutator->fast's bump region, which the free-list fast path does
 * not use. */
typedef struct marksweep_mutator {
    mdn_marksweep_allocator ms;
} marksweep_mutator;

_Static_assert(sizeof(marksweep_mutator) <= MDN_PLAN_MUTATOR_AREA, "mutator plan area too small");

static marksweep_mutator *mutator_of(mdn_mutator *m) { return (marksweep_mutator *)(void *)m->plan; }

bool plan_create(mdn_heap *heap, mdn_error *err) {
    marksweep_plan *p = calloc(1, sizeof *p);
    bool ok = p && mdn_marksweep_init(&p->ms, &heap->vm, MARKSWEEP_SPACE_MS, &heap->stats, heap->options.poison) &&
              mdn_los_init(&p->large, &heap->vm, MARKSWEEP_SPACE_LARGE, &heap->stats) &&
              mdn_immortal_init(&p->immortal, &heap->vm, MARKSWEEP_SPACE_IMMORTAL, &heap->stats);
    if (!ok) {
        if (p) {
            mdn_immortal_destroy(&p->immortal);
            mdn_los_destroy(&p->large);
            mdn_marksweep_destroy(&p->ms);
            free(p);
        }
        mdn_error_set(err, MDN_ERR_MEMORY, "marksweep: cannot set up the spaces' metadata");
        return false;
    }
    heap->plan = p;
    return true;
}

void plan_destroy(mdn_heap *heap) {
    marksweep_plan *p = marksweep_plan_of(heap);
    mdn_immortal_destroy(&p->immortal);
    mdn_los_destroy(&p->large);
    mdn_marksweep_destroy(&p->ms);
    free(p);
    heap->plan = NULL;
}

void plan_mutator_init(mdn_heap *heap, mdn_mutator *m) {
    (void)heap;
    mdn_marksweep_allocator_init(&mutator_of(m)->ms, m->fast.free_lists);
}

void plan_mutator_retire(mdn_heap *heap, mdn_mutator *m) {
    marksweep_plan *p = marksweep_plan_of(heap);
    mdn_marksweep_allocator_retire(&p->ms, &mutator_of(m)->ms);
    mdn_immortal_retire(&p->immortal, mdn_mutator_bump(&m->fast));
}

void *plan_alloc(mdn_heap *heap, mdn_mutator *m, size_t bytes, size_t align, mdn_alloc_kind kind) {
    marksweep_plan *p = marksweep_plan_of(heap);
    if (kind == MDN_ALLOC_LARGE || bytes > MDN_LARGE_OBJECT_THRESHOLD)
        return mdn_los_alloc(&p->large, bytes);
    if (kind == MDN_ALLOC_IMMORTAL)
        return mdn_immortal_alloc(&p->immortal, mdn_mutator_bump(&m->fast), bytes, align);
    unsigned c = align <= MDN_MIN_ALIGN ? mdn_marksweep_size_class(bytes) : mdn_marksweep_class_for(bytes, align);
    if (c == 0) /* no class has cells with this alignment: pages do */
        return mdn_los_alloc(&p->large, bytes);
    return mdn_marksweep_alloc(&p->ms, &mutator_of(m)->ms, c);
}

void plan_prepare(mdn_heap *heap, bool full) {
    (void)full; /* every collection is full */
    marksweep_plan *p = marksweep_plan_of(heap);
    mdn_marksweep_prepare(&p->ms);
    mdn_los_prepare(&p->large);
    mdn_immortal_prepare(&p->immortal);
}

void plan_worker_prepare(mdn_heap *heap, mdn_tracer *t) { (void)heap, (void)t; }
void plan_worker_release(mdn_heap *heap, mdn_tracer *t) { (void)heap, (void)t; }

size_t plan_release(mdn_heap *heap) {
    marksweep_plan *p = marksweep_plan_of(heap);
    size_t live = mdn_marksweep_release(&p->ms);
    live += mdn_los_sweep(&p->large);
    live += mdn_immortal_used_bytes(&p->immortal);
    if (heap->options.verify) {
        mdn_marksweep_sweep_all(&p->ms);
        mdn_marksweep_check(&p->ms);
    }
    return live;
}

static inline mdn_objref marksweep_trace_object(mdn_tracer *t, mdn_objref obj) {
    marksweep_plan *p = marksweep_plan_of(t->heap);
    unsigned space = mdn_vmspace_space_of(&t->heap->vm, mdn_objref_to_address(obj));
    if (MDN_LIKELY(space == MARKSWEEP_SPACE_MS))
        return mdn_marksweep_trace_object(&p->ms, t, obj);
    if (space == MARKSWEEP_SPACE_LARGE)
        return mdn_los_trace_object(&p->large, t, obj);
    return mdn_immortal_trace_object(&p->immortal, t, obj);
}

MDN_DEFINE_TRACE_SLOT(marksweep_trace_object)

bool plan_pin_object(mdn_heap *heap, mdn_objref obj) {
    (void)heap, (void)obj;
    return true; /* nothing ever moves */
}

/* For the verifier, which runs right after a collection: a live object is a
 * marked cell start, a large-object start, or an aligned immortal address. */
bool plan_is_live_object(mdn_heap *heap, mdn_objref obj) {
    marksweep_plan *p = marksweep_plan_of(heap);
    mdn_address start = mdn_vm_object_start(obj);
    switch (mdn_vmspace_space_of(&heap->vm, start)) {
    case MARKSWEEP_SPACE_MS:
        return mdn_marksweep_is_cell_start(&p->ms, start) && mdn_marksweep_is_marked(&p->ms, start);
    case MARKSWEEP_SPACE_LARGE:
        return mdn_los_is_object_start(&p->large, start);
    case MARKSWEEP_SPACE_IMMORTAL:
        return mdn_address_is_aligned(start, MDN_MIN_ALIGN);
    default:
        return false;
    }
}

/* .verify.metadata: the mark-sweep space checks itself in plan_release
 * (mdn_marksweep_check, with verify=1); here the spaces it shares with every plan. */
void plan_verify_metadata(mdn_heap *heap) {
    marksweep_plan *p = marksweep_plan_of(heap);
    mdn_los_verify(&p->large);
    mdn_immortal_verify(&p->immortal);
}

/* The weak phase's queries (docs/design/weak.md .weak.queries): nothing moves. */
bool plan_object_is_reachable(mdn_heap *heap, mdn_objref obj) {
    marksweep_plan *p = marksweep_plan_of(heap);
    mdn_address start = mdn_vm_object_start(obj);
    switch (mdn_vmspace_space_of(&heap->vm, start)) {
    case MARKSWEEP_SPACE_MS:
        return mdn_marksweep_is_marked(&p->ms, start);
    case MARKSWEEP_SPACE_LARGE:
        return mdn_los_is_marked(&p->large, obj);
    default:
        return true; /* immortal */
    }
}

mdn_objref plan_object_forwarded(mdn_heap *heap, mdn_objref obj) {
    (void)heap;
    return obj;
}
