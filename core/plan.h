/*
 * plan.h: what every plan defines. A plan library links the core objects
 * with one plan's sources, so these are plain functions resolved at link
 * time: the core calls its plan directly, with no indirection.
 *
 * .plan.alloc: plan_alloc() serves a request the inline fast path could
 * not: bump or pop from the thread's buffers, refill them from the spaces,
 * or return NULL when the budget is used, which makes the core collect and
 * retry (and report out of memory after a full collection).
 * .plan.phases: a collection calls plan_prepare, then traces roots and the
 * transitive closure with plan_trace_object (inline, in the plan's
 * mdn_trace_slot), then plan_release. plan_worker_prepare/release bracket
 * the closure on every GC worker (for per-worker copy allocators).
 * Every plan defines these through plans/common (docs/design/policies.md
 * .plan.common).
 */
#ifndef MDN_CORE_PLAN_H
#define MDN_CORE_PLAN_H

#include "core/heap.h"

/* The plan's name, as mdn_plan_name() returns it. */
extern const char mdn_plan_name_string[];
/* false for plans that never collect (NoGC). */
extern const bool plan_can_collect;
/* true if a collection on one GC worker must scan objects in the order they
 * were reached (breadth first: Cheney order for a copying plan); false lets
 * a single worker use its private stack (depth first, fewer queue
 * operations). Several workers always use private stacks (.trace.local). */
extern const bool plan_breadth_first;

bool plan_create(mdn_heap *heap, mdn_error *err);
void plan_destroy(mdn_heap *heap);

void plan_mutator_init(mdn_heap *heap, mdn_mutator *m);
/* Give the mutator's buffers back to the spaces (collection start, unbind). */
void plan_mutator_retire(mdn_heap *heap, mdn_mutator *m);
/* `bytes` is rounded to MDN_MIN_ALIGN and `align` is at least MDN_MIN_ALIGN.
 * Returns zeroed memory, or NULL when a collection is needed. */
void *plan_alloc(mdn_heap *heap, mdn_mutator *m, size_t bytes, size_t align, mdn_alloc_kind kind);

/* At the start of a collection (world stopped, before the mutators are
 * retired): is it a full-heap collection? `requested` is true for
 * MDN_GC_FULL. A plan without generations answers `requested`; a
 * generational one decides between a minor and a full collection
 * (docs/design/generational.md .gen.policy). */
bool plan_collection_full(mdn_heap *heap, bool requested);
/* How reports name a collection that is not full: "minor" on a
 * generational plan, "default" on the others. */
const char *plan_partial_collection_name(void);
/* A collection (world stopped). `full` asks for a full-heap collection (as
 * requested: MDN_GC_FULL). */
void plan_prepare(mdn_heap *heap, bool full);
/* The plan's own roots, traced by worker 0 after the VM's and the
 * registered roots: a generational plan's remembered set in a minor
 * collection (.gen.remset). */
void plan_scan_roots(mdn_heap *heap, mdn_tracer *t);
void plan_worker_prepare(mdn_heap *heap, mdn_tracer *t);
void plan_worker_release(mdn_heap *heap, mdn_tracer *t);
/* Reclaim; returns the bytes live after the collection (an estimate). */
size_t plan_release(mdn_heap *heap);

bool plan_pin_object(mdn_heap *heap, mdn_objref obj);

/* The write barrier's slow path (mdn_write_barrier_slow): log `obj`, whose
 * unlogged bit the fast path found set, in m's modified-object buffer
 * (.gen.log). A plan without a barrier never gets the call; it fails. */
void plan_object_log(mdn_heap *heap, mdn_mutator *m, mdn_objref obj);

/* Does `obj` look like a valid object start in a live space? For the heap
 * verifier; may be conservative. */
bool plan_is_live_object(mdn_heap *heap, mdn_objref obj);

/* World stopped, after the closure (weak-reference processing): was `obj`
 * marked, forwarded or otherwise reached by this collection? An object of
 * a space that never reclaims (immortal) is reached only if the closure
 * visited it (docs/design/policies.md .policy.reached). */
bool plan_object_is_reachable(mdn_heap *heap, mdn_objref obj);
/* .policy.marks: the granule mark bitmap of space `space` if its policy
 * keeps one that answers plan_object_is_reachable for object starts, else
 * NULL. World stopped, between the closure and the next prepare. */
const struct mdn_side_metadata *plan_space_marks(const mdn_heap *heap, unsigned space);
/* The reference of `obj` after this collection: its copy if it moved, else
 * `obj`. World stopped, after the closure. */
mdn_objref plan_object_forwarded(mdn_heap *heap, mdn_objref obj);

/* Optional (.verify.metadata): check the plan's metadata after the heap
 * verifier's walk (world stopped, allocators retired): marks, line marks,
 * block states, free lists. Report with mdn_verify_fail(). A plan that
 * does not define it gets no call (weak symbol). */
void plan_verify_metadata(mdn_heap *heap) __attribute__((weak));

/* Optional: a plan that cannot pin objects (every object may move)
 * defines this as the reason it refuses the `conservative` option
 * (docs/design/conservative.md .cons.pin). */
extern const char *const plan_conservative_refusal __attribute__((weak));

#endif
