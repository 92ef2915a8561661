/*
 * The MarkSweep plan: a full-heap, non-moving, parallel mark-sweep collector.
 *
 * Spaces:  DEFAULT, NONMOVING       → mark-sweep space (size-class free lists,
 *                                     inline fast path up to 256 bytes), or
 *                                     the large-object space when no size
 *                                     class has the alignment asked for
 *          IMMORTAL, LARGE, > 8 KiB → the common spaces (plans/common)
 * Trigger: a refill that needs a fresh block when the heap budget is used.
 * Phases:  prepare clears marks; the closure marks (side bits) on every GC
 *          worker; release classifies blocks and frees large objects;
 *          blocks are swept lazily by the allocator that takes them
 *          (policies/marksweep/marksweep.h, .ms.lazy); the verifier sweeps
 *          every block eagerly and checks it (.ms.eager).
 * Nothing moves, so pinning always succeeds.
 */
#include "marksweep_plan.h"

const char mdn_plan_name_string[] = "marksweep";
const bool plan_can_collect = true;
const bool plan_breadth_first = false;
const int mdn_plan_marksweep_linked = 1;

/* The plan's part of a mutator: the mark-sweep allocator. */
typedef struct marksweep_mutator {
    mdn_marksweep_allocator ms;
} marksweep_mutator;

_Static_assert(sizeof(marksweep_mutator) <= MDN_PLAN_OWN_MUTATOR_AREA, "mutator plan area too small");

static marksweep_mutator *mutator_of(mdn_mutator *m) { return mdn_plan_mutator(m); }

/* [snippet:marksweep-alloc] */
static void *ms_alloc(mdn_heap *heap, mdn_mutator *m, unsigned space, size_t bytes, size_t align,
                      mdn_alloc_kind kind) {
    unsigned c = align <= MDN_MIN_ALIGN ? mdn_marksweep_size_class(bytes) : mdn_marksweep_class_for(bytes, align);
    if (c == 0) /* no class has cells with this alignment: pages do */
        return mdn_common_alloc(heap, m, MDN_SPACE_LARGE, bytes, align, kind);
    (void)space;
    return mdn_marksweep_alloc(&marksweep_plan_of(heap)->ms, &mutator_of(m)->ms, c);
}
/* [/snippet] */

static void ms_mutator_init(mdn_heap *heap, mdn_mutator *m) {
    (void)heap;
    mdn_marksweep_allocator_init(&mutator_of(m)->ms, m->fast.free_lists);
}

static void ms_mutator_retire(mdn_heap *heap, mdn_mutator *m) {
    mdn_marksweep_allocator_retire(&marksweep_plan_of(heap)->ms, &mutator_of(m)->ms);
}

/* [snippet:marksweep-desc] */
static const mdn_plan_space spaces[] = {{&mdn_marksweep_policy, offsetof(marksweep_plan, ms)}};

const mdn_plan_desc plan_desc = {
    .state_size = sizeof(marksweep_plan),
    .spaces = spaces,
    .nspaces = 1,
    .routes = {[MDN_ALLOC_DEFAULT] = MARKSWEEP_SPACE_MS,
               [MDN_ALLOC_NONMOVING] = MARKSWEEP_SPACE_MS,
               [MDN_ALLOC_IMMORTAL] = MDN_SPACE_IMMORTAL,
               [MDN_ALLOC_LARGE] = MDN_SPACE_LARGE},
    .alloc = ms_alloc,
    .mutator_init = ms_mutator_init,
    .mutator_retire = ms_mutator_retire,
};
/* [/snippet] */

/* [snippet:marksweep-trace] */
static MDN_ALWAYS_INLINE mdn_objref marksweep_trace_own(mdn_tracer *t, mdn_objref obj, unsigned space) {
    (void)space;
    return mdn_marksweep_trace_object(&marksweep_plan_of(t->heap)->ms, t, obj);
}

MDN_COMMON_TRACE(marksweep_trace_own, 1)
/* [/snippet] */
