/*
 * trace.h: what a plan includes to trace: enqueuing objects for scanning
 * and, around the plan's inline trace_object, the per-slot tracer and the
 * scan loop of the closure (docs/design/collector.md .plan.phases,
 * .trace.loop).
 *
 * .trace.slots: tracing works on slots: the plan's trace_object marks or
 * forwards the object, enqueues it the first time it is reached, and
 * returns its (possibly new) reference, which is stored back only when it
 * changed.
 */
#ifndef MDN_CORE_TRACE_H
#define MDN_CORE_TRACE_H

#include "core/conservative.h"
#include "core/deque.h"
#include "core/heap.h"
#include "core/verify.h"
#include "core/workers.h"

#define MDN_ALWAYS_INLINE inline __attribute__((always_inline))

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

/* The closure's work function (mdn_workqueue_drain): scan one object from
 * the queues and everything it leads to. Defined in each plan by
 * MDN_DEFINE_TRACE_SLOT, so the plan's trace_object and, with an inline
 * binding, the binding's scanner are inlined into it. */
void plan_scan_item(mdn_workqueue *q, unsigned worker, uintptr_t item, void *arg);

/* .trace.fifo: objects taken from the private stack wait in a ring of
 * MDN_TRACE_FIFO entries, their first word prefetched, before they are
 * scanned, so the cache miss on an object's header overlaps the scanning of
 * the objects ahead of it. */
#define MDN_TRACE_FIFO 8u

/* Scan one object with the binding's scanner and the given visitors. */
static MDN_ALWAYS_INLINE void mdn_trace_scan_(mdn_tracer *t, uintptr_t obj, mdn_slot_visitor visit,
                                               mdn_range_visitor visit_range) {
    t->objects_traced++;
#if MDN_BINDING_INLINE
    mdn_vm_inline_scan_object(mdn_objref_from_address(mdn_address_from_word(obj)), t, visit, visit_range);
#else
    (void)visit;
    (void)visit_range;
    mdn_vm_scan_object(mdn_objref_from_address(mdn_address_from_word(obj)), t);
#endif
}

/* .trace.loop: the body of plan_scan_item: `item` first, then the private
 * stack through the prefetch ring (.trace.fifo), sharing with idle workers
 * now and then. Inlined with constant visitors, so each slot is a few
 * instructions of this loop and no call. */
static MDN_ALWAYS_INLINE void mdn_trace_drain_(mdn_workqueue *q, mdn_tracer *t, uintptr_t item,
                                                mdn_slot_visitor visit, mdn_range_visitor visit_range) {
    uintptr_t fifo[MDN_TRACE_FIFO];
    unsigned head = 0, count = 0;
    mdn_trace_scan_(t, item, visit, visit_range);
    for (;;) {
        while (count < MDN_TRACE_FIFO && t->nlocal) {
            uintptr_t next = t->local[--t->nlocal];
            __builtin_prefetch((const void *)next);
            fifo[(head + count++) % MDN_TRACE_FIFO] = next;
        }
        if (count == 0)
            return;
        uintptr_t obj = fifo[head];
        head = (head + 1) % MDN_TRACE_FIFO;
        count--;
        mdn_trace_scan_(t, obj, visit, visit_range);
        if (MDN_UNLIKELY((++t->since_share & 127) == 0) && t->nlocal > 1 && mdn_workqueue_has_idle(q))
            mdn_tracer_share(t, false);
    }
}

/* .trace.ambiguous: every aligned word of [start, start+bytes) that points
 * into an object of a conservative heap (.cons.find) is handed to `visit`
 * as a slot holding the object; nothing moves in such a heap (.cons.pin),
 * so the slot is a local copy. Inlined with the plan's edge tracer, a word
 * is a range check, the valid-bitmap lookup and the plan's mark. */
static MDN_ALWAYS_INLINE void mdn_trace_ambiguous_(mdn_tracer *t, mdn_address start, size_t bytes,
                                                    mdn_slot_visitor visit) {
    const mdn_heap *heap = t->heap;
    uintptr_t base = heap->vm.start, span = heap->vm.end - heap->vm.start;
    uintptr_t lo = mdn_align_up(start.value, sizeof(uintptr_t));
    uintptr_t hi = mdn_align_down_word(start.value + bytes, sizeof(uintptr_t));
    for (uintptr_t p = lo; p < hi; p += sizeof(uintptr_t)) {
        uintptr_t w = mdn_conservative_foreign_word(p);
        if (w - base > span) /* not even one past the heap's end (.cons.past-end) */
            continue;
        mdn_objref at;
        mdn_objref obj = mdn_conservative_find_(heap, w, &at);
        if (!mdn_objref_is_null(obj)) {
            mdn_objref slot = obj;
            visit(t, mdn_slot_from_ptr(&slot));
        }
        if (MDN_UNLIKELY(!mdn_objref_is_null(at))) { /* .cons.past-end */
            mdn_objref slot = at;
            visit(t, mdn_slot_from_ptr(&slot));
        }
    }
}

/* Define, for a plan whose trace function is the static inline
 * `mdn_objref fn(mdn_tracer *t, mdn_objref obj)`:
 * - mdn_trace_slot(), which root scanners and link-time bindings call once
 *   per slot (and which hands slots to the heap verifier when one runs);
 * - mdn_trace_ambiguous() (.trace.ambiguous), tracing with `fn` inline;
 * - plan_scan_item(), the closure's scan loop (.trace.loop), whose slot and
 *   range visitors trace with `fn` inline. The closure's tracers never
 *   belong to the verifier, so the loop's visitors do not test for it. */
#define MDN_DEFINE_TRACE_SLOT(fn)                                                                                      \
    static MDN_ALWAYS_INLINE void mdn_trace_edge_(mdn_tracer *t, mdn_slot slot) {                                      \
        mdn_objref obj = mdn_slot_load(slot);                                                                          \
        if (mdn_objref_is_null(obj))                                                                                   \
            return;                                                                                                    \
        mdn_objref moved = fn(t, obj);                                                                                 \
        if (moved.value != obj.value)                                                                                  \
            mdn_slot_store(slot, moved);                                                                               \
    }                                                                                                                  \
    static MDN_ALWAYS_INLINE void mdn_trace_range_(mdn_tracer *t, mdn_slot first, size_t count) {                      \
        for (size_t i = 0; i < count; i++)                                                                             \
            mdn_trace_edge_(t, mdn_slot_from_address(mdn_address_from_word(first.value + i * sizeof(mdn_objref))));   \
    }                                                                                                                  \
    void mdn_trace_slot(mdn_tracer *t, mdn_slot slot) {                                                                \
        if (MDN_UNLIKELY(t->verifier != NULL)) {                                                                       \
            if (!mdn_objref_is_null(mdn_slot_load(slot)))                                                              \
                mdn_verify_slot(t, slot);                                                                              \
            return;                                                                                                    \
        }                                                                                                              \
        mdn_trace_edge_(t, slot);                                                                                      \
    }                                                                                                                  \
    __attribute__((flatten)) void mdn_trace_ambiguous(mdn_tracer *t, mdn_address start, size_t bytes) {                \
        if (MDN_UNLIKELY(t->verifier != NULL))                                                                         \
            mdn_trace_ambiguous_(t, start, bytes, mdn_trace_slot);                                                     \
        else                                                                                                           \
            mdn_trace_ambiguous_(t, start, bytes, mdn_trace_edge_);                                                    \
    }                                                                                                                  \
    __attribute__((flatten)) void plan_scan_item(mdn_workqueue *q, unsigned worker, uintptr_t item, void *arg) {       \
        mdn_heap *heap_ = arg;                                                                                         \
        mdn_trace_drain_(q, &heap_->tracers[worker], item, mdn_trace_edge_, mdn_trace_range_);                        \
    }

#endif
