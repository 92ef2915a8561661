/*
 * verify.h: the heap verifier (option `verify=1`, docs/design/overview.md .overview.stats). After a
 * collection it walks the graph reachable from every root and checks that
 * each reference is an aligned, unpoisoned, live object start of a live
 * space with a sane size inside one space, that no two reached objects
 * overlap (a reference into the middle of an object), that no block is
 * left ALLOCATING, and then the plan's own metadata through the optional
 * plan_verify_metadata() (core/plan.h). The first violation aborts with a
 * report naming the slot, the reference and the object that holds it.
 */
#ifndef MDN_CORE_VERIFY_H
#define MDN_CORE_VERIFY_H

#include "core/util.h"

#include <midden/midden.h>

/* Verify the whole heap; world stopped, every thread-local allocator
 * retired. Returns the number of objects reached; aborts on the first
 * violation. */
size_t mdn_verify_heap(mdn_heap *heap);

/* The walk and overlap check of mdn_verify_heap() alone (.verify.visit):
 * call visit (if not NULL) for every reached object in address order.
 * Returns the number of objects reached; aborts on the first violation. */
size_t mdn_verify_walk(mdn_heap *heap, mdn_heap_walk_fn visit, void *data);

/* .gen.verify (docs/design/generational.md): before a minor collection
 * (world stopped, buffers flushed), walk everything reachable and abort,
 * naming the object, the slot and the target, at the first reference from
 * an old object that is not remembered to a young one: a store that
 * skipped the write barrier. References are checked as by the walk above,
 * except for liveness (young objects are not marked yet). Returns the
 * number of objects reached. */
size_t mdn_verify_barriers(mdn_heap *heap, bool (*is_old)(mdn_heap *heap, mdn_objref obj),
                           bool (*is_remembered)(mdn_heap *heap, mdn_objref obj));

/* Called by mdn_trace_slot() while a verifier runs. */
void mdn_verify_slot(mdn_tracer *t, mdn_slot slot);

/* For plan_verify_metadata(): report an inconsistency and abort with
 * "heap verifier: metadata: <message> (plan <name>)". */
MDN_NORETURN MDN_PRINTF(1, 2) void mdn_verify_fail(const char *fmt, ...);

#endif
