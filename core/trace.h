/*
 * trace.h: what a plan includes to trace: enqueuing objects for scanning
 * and the definition of mdn_trace_slot() around the plan's inline
 * trace_object (docs/design/collector.md .plan.phases).
 *
 * .trace.slots: tracing works on slots: the plan's trace_object marks or
 * forwards the object, enqueues it the first time it is reached, and
 * returns its (possibly new) reference, which is stored back only when it
 * changed.
 */
#ifndef MDN_CORE_TRACE_H
#define MDN_CORE_TRACE_H

#include "core/deque.h"
#include "core/heap.h"
#include "core/verify.h"

/* Move the older half of the private stack (all of it if `all`) to the
 * worker's deque, where other workers can steal it. */
void mdn_tracer_share(mdn_tracer *t, bool all);

/* Queue a newly reached object; a GC worker will scan it (.trace.local). */
static inline void mdn_tracer_enqueue(mdn_tracer *t, mdn_objref obj) {
    if (t->local_capacity == 0) {
        mdn_deque_push(t->deque, obj.value);
        return;
    }
    if (MDN_UNLIKELY(t->nlocal == t->local_capacity))
        mdn_tracer_share(t, false);
    t->local[t->nlocal++] = obj.value;
}

/* Define mdn_trace_slot() for a plan whose trace function is
 * `mdn_objref fn(mdn_tracer *t, mdn_objref obj)`. */
#define MDN_DEFINE_TRACE_SLOT(fn)                                                                                      \
    void mdn_trace_slot(mdn_tracer *t, mdn_slot slot) {                                                                \
        mdn_objref obj = mdn_slot_load(slot);                                                                          \
        if (mdn_objref_is_null(obj))                                                                                   \
            return;                                                                                                    \
        if (MDN_UNLIKELY(t->verifier != NULL)) {                                                                       \
            mdn_verify_slot(t, slot);                                                                                  \
            return;                                                                                                    \
        }                                                                                                              \
        mdn_objref moved = fn(t, obj);                                                                                 \
        if (moved.value != obj.value)                                                                                  \
            mdn_slot_store(slot, moved);                                                                               \
    }

#endif
