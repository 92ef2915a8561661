/*
 * finalize.c: finalizers (include/midden/weak.h; docs/design/weak.md
 * .final). Registered objects sit in a side table; a collection moves the
 * unreachable ones that are ready to a queue, whose entries are roots
 * until mdn_run_finalizers() takes them on a mutator thread.
 */
#include "core/weak.h"

#include "core/conservative.h"
#include "core/plan.h"

#include <string.h>

void mdn_finalizer_register(mdn_mutator *m, mdn_objref obj, mdn_finalizer_fn fn, void *data,
                            mdn_finalizer_order order) {
    mdn_weak_require_running(m, "finalizer_register");
    if (mdn_objref_is_null(obj))
        mdn_misuse("finalizer_register", "cannot register a finalizer for the null reference");
    if (!fn)
        mdn_misuse("finalizer_register", "the finalizer function of object %p is NULL", (void *)obj.value);
    if (order != MDN_FINALIZE_UNORDERED && order != MDN_FINALIZE_ORDERED)
        mdn_misuse("finalizer_register", "unknown finalization order %d", (int)order);
    mdn_weak_state *st = m->heap->weak;
    mdn_lock_for_mutator(&st->lock);
    st->finals = mdn_array_reserve(st->finals, st->nfinals, &st->finals_capacity, sizeof *st->finals, 256,
                                   "registering a finalizer");
    st->finals[st->nfinals++] = (mdn_final_entry){obj, fn, data, (uint8_t)order, 0};
    mdn_unlock_for_mutator(&st->lock);
}

void mdn_set_finalizer_notifier(mdn_heap *heap, mdn_finalizer_notifier fn, void *data) {
    mdn_heap_check_api(heap, "set_finalizer_notifier");
    mdn_weak_state *st = heap->weak;
    mdn_lock_for_mutator(&st->lock);
    st->notifier = fn;
    st->notifier_data = data;
    mdn_unlock_for_mutator(&st->lock);
}

size_t mdn_finalizers_pending(mdn_heap *heap) {
    mdn_heap_check_api(heap, "finalizers_pending");
    mdn_weak_state *st = heap->weak;
    mdn_lock_for_mutator(&st->lock);
    size_t n = st->nqueue - st->queue_head;
    mdn_unlock_for_mutator(&st->lock);
    return n;
}

/* .final.run: take one entry at a time under the lock and run it outside
 * the lock, so a finalizer may allocate, collect, register and run
 * finalizers itself; the entry leaves the queue (and the roots) when it is
 * taken, so it runs exactly once. */
size_t mdn_run_finalizers(mdn_mutator *m) {
    mdn_weak_require_running(m, "run_finalizers");
    mdn_weak_state *st = m->heap->weak;
    size_t ran = 0;
    for (;;) {
        mdn_lock_for_mutator(&st->lock);
        if (st->queue_head == st->nqueue) {
            st->queue_head = st->nqueue = 0;
            mdn_unlock_for_mutator(&st->lock);
            return ran;
        }
        mdn_final_entry e = st->queue[st->queue_head++];
        mdn_unlock_for_mutator(&st->lock);
        e.fn(m, e.obj, e.data);
        ran++;
    }
}

/* .final.queue: queued objects are roots until their finalizer is taken. */
void mdn_weak_scan_roots(mdn_heap *heap, mdn_tracer *t) {
    mdn_weak_state *st = heap->weak;
    pthread_mutex_lock(&st->lock);
    for (size_t i = st->queue_head; i < st->nqueue; i++)
        mdn_trace_slot(t, mdn_slot_from_ptr(&st->queue[i].obj));
    pthread_mutex_unlock(&st->lock);
}

/* .final.choose: the candidates are the registered objects unreachable
 * after the strong fixpoint. An unordered candidate is ready. For ordered
 * ones (.final.ordered), the fields of each candidate not yet reached are
 * traced (not the candidate itself), then the closure runs: a candidate
 * reached now is reachable from another candidate (or from itself, a
 * cycle) and waits; the others are ready. Ready objects are traced (kept
 * with everything they reach for this cycle) and queued. */
void mdn_finalize_choose(mdn_heap *heap) {
    mdn_weak_state *st = heap->weak;
    bool ordered = false;
    for (size_t i = 0; i < st->nfinals; i++) {
        mdn_final_entry *e = &st->finals[i];
        e->candidate = !plan_object_is_reachable(heap, e->obj);
        ordered |= e->candidate && e->order == MDN_FINALIZE_ORDERED;
    }
    if (ordered) {
        for (size_t i = 0; i < st->nfinals; i++) {
            mdn_final_entry *e = &st->finals[i];
            /* A candidate reached already is not scanned in its old place:
             * it is queued for scanning in its new one. */
            if (e->candidate && e->order == MDN_FINALIZE_ORDERED && !plan_object_is_reachable(heap, e->obj))
                mdn_vm_scan_object(e->obj, mdn_weak_tracer(heap));
        }
        mdn_weak_reclose(heap);
    }
    size_t kept = 0, ready = 0;
    for (size_t i = 0; i < st->nfinals; i++) {
        mdn_final_entry *e = &st->finals[i];
        /* Decided before any ready object is traced, which could reach others. */
        e->candidate = e->candidate && (e->order == MDN_FINALIZE_UNORDERED || !plan_object_is_reachable(heap, e->obj));
        ready += e->candidate;
    }
    if (ready == 0)
        return;
    if (st->queue_head) {
        memmove(st->queue, st->queue + st->queue_head, (st->nqueue - st->queue_head) * sizeof *st->queue);
        st->nqueue -= st->queue_head;
        st->queue_head = 0;
    }
    for (size_t i = 0; i < st->nfinals; i++) {
        mdn_final_entry e = st->finals[i];
        if (e.candidate) {
            st->queue = mdn_array_reserve(st->queue, st->nqueue, &st->queue_capacity, sizeof *st->queue, 256,
                                          "queueing finalizers");
            mdn_final_entry *q = &st->queue[st->nqueue++];
            *q = e;
            mdn_trace_slot(mdn_weak_tracer(heap), mdn_slot_from_ptr(&q->obj));
        } else {
            st->finals[kept++] = e;
        }
    }
    st->nfinals = kept;
    st->queued += ready;
    mdn_weak_reclose(heap);
}

void mdn_finalize_update(mdn_heap *heap) {
    mdn_weak_state *st = heap->weak;
    for (size_t i = 0; i < st->nfinals; i++) {
        mdn_final_entry *e = &st->finals[i];
        if (!plan_object_is_reachable(heap, e->obj))
            mdn_fatal("weak phase: finalizable object %p was left unreachable (plan %s)", (void *)e->obj.value,
                      mdn_plan_name_string);
        e->obj = plan_object_forwarded(heap, e->obj);
    }
}
