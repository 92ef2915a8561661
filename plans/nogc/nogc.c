/*
 * The NoGC plan: allocate, never collect.
 *
 * Spaces:  default, NONMOVING, IMMORTAL → immortal (thread-local bump)
 *          LARGE and anything above 8 KiB → large-object space
 * When the heap budget is used up, allocation reports out of memory. The
 * lower bound every collecting plan is measured against.
 */
#include "core/plan.h"
#include "core/trace.h"
#include "policies/immortal/immortal.h"
#include "policies/los/los.h"

#include <stdlib.h>

const char mdn_plan_name_string[] = "nogc";
const bool plan_can_collect = false;
const bool plan_breadth_first = false;
const int mdn_plan_nogc_linked = 1;

/* [snippet:nogc-spaces] */
enum { SPACE_IMMORTAL = 1, SPACE_LARGE = 2 };

typedef struct nogc_plan {
    mdn_immortal_space immortal;
    mdn_los_space large;
} nogc_plan;
/* [/snippet] */

static nogc_plan *plan_of(mdn_heap *heap) { return heap->plan; }

bool plan_create(mdn_heap *heap, mdn_error *err) {
    nogc_plan *p = calloc(1, sizeof *p);
    if (!p || !mdn_immortal_init(&p->immortal, &heap->vm, SPACE_IMMORTAL, &heap->stats) ||
        !mdn_los_init(&p->large, &heap->vm, SPACE_LARGE, &heap->stats)) {
        free(p);
        mdn_error_set(err, MDN_ERR_MEMORY, "nogc: cannot set up the spaces' metadata");
        return false;
    }
    heap->plan = p;
    return true;
}

void plan_destroy(mdn_heap *heap) {
    nogc_plan *p = plan_of(heap);
    mdn_los_destroy(&p->large);
    mdn_immortal_destroy(&p->immortal);
    free(p);
    heap->plan = NULL;
}

void plan_mutator_init(mdn_heap *heap, mdn_mutator *m) { (void)heap, (void)m; }

void plan_mutator_retire(mdn_heap *heap, mdn_mutator *m) {
    mdn_immortal_retire(&plan_of(heap)->immortal, mdn_mutator_bump(&m->fast));
}

/* [snippet:nogc-alloc] */
void *plan_alloc(mdn_heap *heap, mdn_mutator *m, size_t bytes, size_t align, mdn_alloc_kind kind) {
    nogc_plan *p = plan_of(heap);
    if (kind == MDN_ALLOC_LARGE || bytes > MDN_LARGE_OBJECT_THRESHOLD)
        return mdn_los_alloc(&p->large, bytes);
    return mdn_immortal_alloc(&p->immortal, mdn_mutator_bump(&m->fast), bytes, align);
}
/* [/snippet] */

/* NoGC never collects; the phase hooks exist only to complete the plan
 * interface and are never reached (plan_can_collect is false). */
void plan_prepare(mdn_heap *heap, bool full) { (void)heap, (void)full; }
void plan_worker_prepare(mdn_heap *heap, mdn_tracer *t) { (void)heap, (void)t; }
void plan_worker_release(mdn_heap *heap, mdn_tracer *t) { (void)heap, (void)t; }
size_t plan_release(mdn_heap *heap) { return mdn_budget_used(&heap->vm); }

/* [snippet:nogc-trace] */
static inline mdn_objref nogc_trace_object(mdn_tracer *t, mdn_objref obj) {
    nogc_plan *p = plan_of(t->heap);
    if (mdn_los_contains(&p->large, mdn_objref_to_address(obj)))
        return mdn_los_trace_object(&p->large, t, obj);
    return mdn_immortal_trace_object(&p->immortal, t, obj);
}

MDN_DEFINE_TRACE_SLOT(nogc_trace_object)
/* [/snippet] */

bool plan_pin_object(mdn_heap *heap, mdn_objref obj) {
    (void)heap, (void)obj;
    return true; /* nothing ever moves */
}

bool plan_is_live_object(mdn_heap *heap, mdn_objref obj) {
    nogc_plan *p = plan_of(heap);
    mdn_address start = mdn_vm_object_start(obj);
    if (mdn_los_contains(&p->large, start))
        return mdn_los_is_object_start(&p->large, start);
    return mdn_immortal_contains(&p->immortal, start) && mdn_address_is_aligned(start, MDN_MIN_ALIGN);
}

void plan_verify_metadata(mdn_heap *heap) {
    nogc_plan *p = plan_of(heap);
    mdn_immortal_verify(&p->immortal);
    mdn_los_verify(&p->large);
}

/* The weak phase's queries (docs/design/weak.md .weak.queries): NoGC never
 * collects, so everything is reachable and nothing moves. */
bool plan_object_is_reachable(mdn_heap *heap, mdn_objref obj) {
    (void)heap, (void)obj;
    return true;
}

mdn_objref plan_object_forwarded(mdn_heap *heap, mdn_objref obj) {
    (void)heap;
    return obj;
}
