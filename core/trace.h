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

/* Move the older half of the private stack (all of it if `all`) to the
 * worker's deque, where other workers can steal it. */
void mdn_tracer_share(mdn_tracer *t, bool all);

/* The private stack, or the deque without one (.trace.local). */
static inline void mdn_tracer_push_local(mdn_tracer *t, uintptr_t obj) {
    if (t->local_capacity == 0) {
        mdn_deque_push(t->deque, obj);
        return;
    }
    if (MDN_UNLIKELY(t->nlocal == t->local_capacity))
        mdn_tracer_share(t, false);
    t->local[t->nlocal++] = obj;
}

/* Queue a newly reached object; a GC worker will scan it (.trace.local).
 * .trace.fifo: it enters the prefetch ring while the ring has room, its
 * first word prefetched now, and the private stack otherwise. */
static inline void mdn_tracer_enqueue(mdn_tracer *t, mdn_objref obj) {
    unsigned tail = t->ring_tail;
    if (MDN_LIKELY(tail - t->ring_head < t->ring_room)) {
        __builtin_prefetch((const void *)obj.value);
        t->ring[tail & (MDN_TRACE_FIFO - 1)] = obj.value;
        t->ring_tail = tail + 1;
        return;
    }
    mdn_tracer_push_local(t, obj.value);
}

/* The closure's work function (mdn_workqueue_drain): scan one object from
 * the queues and everything it leads to. Defined in each plan by
 * MDN_DEFINE_TRACE_SLOT, so the plan's trace_object and, with an inline
 * binding, the binding's scanner are inlined into it. */
void plan_scan_item(mdn_workqueue *q, unsigned worker, uintptr_t item, void *arg);

_Static_assert((MDN_TRACE_FIFO & (MDN_TRACE_FIFO - 1)) == 0, "the prefetch ring's size is a power of two");

/* Scan one object with the binding's scanner and the given visitors. */
static MDN_ALWAYS_INLINE void mdn_trace_scan_(mdn_tracer *t, uintptr_t obj, mdn_slot_visitor visit,
                                               mdn_range_visitor visit_range) {
#if MDN_BINDING_INLINE
    mdn_vm_inline_scan_object(mdn_objref_from_address(mdn_address_from_word(obj)), t, visit, visit_range);
#else
    (void)visit;
    (void)visit_range;
    mdn_vm_scan_object(mdn_objref_from_address(mdn_address_from_word(obj)), t);
#endif
}

/* .trace.loop: the body of plan_scan_item: `item` first, then the prefetch
 * ring, oldest first (.trace.fifo), and when it is empty the newest objects
 * of the private stack, moved into the ring (and prefetched) a ringful at a
 * time; sharing with idle workers now and then. Inlined with constant
 * visitors, so each slot is a few instructions of this loop and no call.
 * .trace.count: only this loop takes objects out of the ring, so the
 * objects it scanned are the item and the ring's advance, added to
 * objects_traced whenever the ring runs dry, and not counted one by one. */
static MDN_ALWAYS_INLINE void mdn_trace_drain_(mdn_workqueue *q, mdn_tracer *t, uintptr_t item,
                                                mdn_slot_visitor visit, mdn_range_visitor visit_range) {
    unsigned counted = t->ring_head;
    t->objects_traced++;
    mdn_trace_scan_(t, item, visit, visit_range);
    for (;;) {
        unsigned head = t->ring_head;
        if (MDN_UNLIKELY(head == t->ring_tail)) {
            t->objects_traced += head - counted;
            counted = head;
            unsigned n = t->nlocal;
            if (n == 0)
                return;
            unsigned take = n < MDN_TRACE_FIFO ? n : MDN_TRACE_FIFO;
            const uintptr_t *top = t->local + n;
            t->nlocal = n - take;
            for (unsigned i = 0; i < take; i++) {
                uintptr_t next = *--top;
                __builtin_prefetch((const void *)next);
                t->ring[(head + i) & (MDN_TRACE_FIFO - 1)] = next;
            }
            t->ring_tail = head + take;
        }
        uintptr_t obj = t->ring[head & (MDN_TRACE_FIFO - 1)];
        t->ring_head = head + 1;
        mdn_trace_scan_(t, obj, visit, visit_range);
        if (MDN_UNLIKELY((head & 127) == 0) && t->nlocal > 1 && mdn_workqueue_has_idle(q))
            mdn_tracer_share(t, false);
    }
}

/* The plan's trace function for an object whose space is known:
 * `mdn_objref fn(mdn_tracer *t, mdn_objref obj, unsigned space)`. */
typedef mdn_objref (*mdn_space_tracer)(mdn_tracer *t, mdn_objref obj, unsigned space);

/* .trace.ambiguous: every aligned word of [start, start+bytes) that points
 * into an object of a conservative heap (.cons.find) is handed to `visit`
 * as a slot holding the object; nothing moves in such a heap (.cons.pin),
 * so the slot is a local copy. Inlined with the plan's edge tracer, a word
 * is a range check, the valid-bitmap lookup and the plan's mark. With
 * `in_space` (a constant, or NULL), an object whose space the lookup
 * found goes straight to it (.cons.find-space). */
static MDN_ALWAYS_INLINE void mdn_trace_ambiguous_(mdn_tracer *t, mdn_address start, size_t bytes,
                                                    mdn_slot_visitor visit, mdn_space_tracer in_space) {
    const mdn_cons_view v = mdn_conservative_view(t->heap); /* .cons.find-view */
    uintptr_t lo = mdn_align_up(start.value, sizeof(uintptr_t));
    uintptr_t hi = mdn_align_down_word(start.value + bytes, sizeof(uintptr_t));
    for (uintptr_t p = lo; p < hi; p += sizeof(uintptr_t)) {
        uintptr_t w = mdn_conservative_foreign_word(p);
        if (w - v.base > v.span) /* not even one past the heap's end (.cons.past-end) */
            continue;
        mdn_objref at;
        unsigned space;
        mdn_objref obj = mdn_cons_view_find(&v, w, &at, in_space ? &space : NULL);
        if (!mdn_objref_is_null(obj)) {
            if (in_space && space != MDN_SPACE_NONE) {
                in_space(t, obj, space);
            } else {
                mdn_objref slot = obj;
                visit(t, mdn_slot_from_ptr(&slot));
            }
        }
        if (MDN_UNLIKELY(!mdn_objref_is_null(at))) { /* .cons.past-end */
            mdn_objref slot = at;
            visit(t, mdn_slot_from_ptr(&slot));
        }
    }
}

/* Define, for a plan whose trace function is the static inline
 * `mdn_objref fn(mdn_tracer *t, mdn_objref obj)`, and `in_space` its part
 * after the space lookup (an mdn_space_tracer):
 * - mdn_trace_slot(), which root scanners and link-time bindings call once
 *   per slot (and which hands slots to the heap verifier when one runs);
 * - mdn_trace_ambiguous() (.trace.ambiguous), tracing with `in_space`
 *   inline, or `fn` when the lookup did not read the space;
 * - plan_scan_item(), the closure's scan loop (.trace.loop), whose slot and
 *   range visitors trace with `fn` inline. The closure's tracers never
 *   belong to the verifier, so the loop's visitors do not test for it. */
#define MDN_DEFINE_TRACE_SLOT(fn, in_space)                                                                            \
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
            mdn_trace_ambiguous_(t, start, bytes, mdn_trace_slot, NULL);                                               \
        else                                                                                                           \
            mdn_trace_ambiguous_(t, start, bytes, mdn_trace_edge_, in_space);                                          \
    }                                                                                                                  \
    __attribute__((flatten)) void plan_scan_item(mdn_workqueue *q, unsigned worker, uintptr_t item, void *arg) {       \
        mdn_heap *heap_ = arg;                                                                                         \
        mdn_trace_drain_(q, &heap_->tracers[worker], item, mdn_trace_edge_, mdn_trace_range_);                        \
    }

#endif
