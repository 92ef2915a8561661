/*
 * weak.c: the weak phase: the binding's weak processor, weak slots and
 * ephemerons (docs/design/weak.md). Finalizers are in finalize.c.
 *
 * .weak.order (docs/design/weak.md): after the strong closure, the
 * fixpoint of ephemerons and the binding's processor; short slots; the
 * choice of finalizable objects; the ephemeron fixpoint again; long slots,
 * ephemeron clearing and the update of every registration.
 */
#include "core/weak.h"

#include "core/conservative.h"
#include "core/plan.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct mdn_weak_context {
    mdn_heap *heap;
    bool retained;
};

bool mdn_weak_create(mdn_heap *heap) {
    mdn_weak_state *st = calloc(1, sizeof *st);
    if (!st)
        return false;
    pthread_mutex_init(&st->lock, NULL);
    heap->weak = st;
    return true;
}

void mdn_weak_destroy(mdn_heap *heap) {
    mdn_weak_state *st = heap->weak;
    if (!st)
        return;
    mdn_array_free(st->slots, st->slots_capacity, sizeof *st->slots);
    mdn_array_free(st->ephemerons, st->ephemerons_capacity, sizeof *st->ephemerons);
    mdn_table_free(st->pending, st->pending_capacity * sizeof *st->pending);
    mdn_array_free(st->finals, st->finals_capacity, sizeof *st->finals);
    mdn_array_free(st->queue, st->queue_capacity, sizeof *st->queue);
    pthread_mutex_destroy(&st->lock);
    free(st);
    heap->weak = NULL;
}

/* .weak.fork: with the world stopped no mutator is inside a critical
 * section of the tables (none polls while holding the lock), but a thread
 * without a mutator may be (mdn_finalizers_pending, the setters). Taking
 * the lock waits for it, so the child's copy of the tables is whole. */
void mdn_weak_fork_prepare(mdn_heap *heap) { pthread_mutex_lock(&heap->weak->lock); }

void mdn_weak_fork_parent(mdn_heap *heap) { pthread_mutex_unlock(&heap->weak->lock); }

/* The child's one thread is the one that took the lock: it releases it,
 * which keeps the lock's history whole for ThreadSanitizer too. */
void mdn_weak_fork_child(mdn_heap *heap) { pthread_mutex_unlock(&heap->weak->lock); }

void mdn_weak_require_running(const mdn_mutator *m, const char *check) {
    mdn_mutator_check_api(m, check);
    if (m->state == MDN_MUTATOR_NATIVE)
        mdn_misuse(check, "mutator %p is in native state; call mdn_leave_native first", (const void *)m);
}

/* ---- tracing from the weak phase ---------------------------------------- */

/* .weak.retrace: the closure ended with every worker's plan state released;
 * worker 0 traces what the weak phase keeps alive, so its state is prepared
 * again first, and mdn_weak_reclose() runs the parallel closure from there. */
mdn_tracer *mdn_weak_tracer(mdn_heap *heap) {
    mdn_weak_state *st = heap->weak;
    if (!st->tracing) {
        plan_worker_prepare(heap, &heap->tracers[0]);
        st->tracing = true;
    }
    return &heap->tracers[0];
}

void mdn_weak_reclose(mdn_heap *heap) {
    mdn_weak_state *st = heap->weak;
    if (!st->tracing)
        return; /* nothing was traced */
    mdn_gc_reclose(heap);
    st->tracing = false;
    st->rounds++;
}

/* ---- the context of the binding's processor ----------------------------- */

bool mdn_weak_is_live(mdn_weak_context *ctx, mdn_objref obj) {
    return !mdn_objref_is_null(obj) && plan_object_is_reachable(ctx->heap, obj);
}

mdn_objref mdn_weak_forwarded(mdn_weak_context *ctx, mdn_objref obj) {
    if (mdn_objref_is_null(obj))
        return obj;
    if (!plan_object_is_reachable(ctx->heap, obj))
        mdn_misuse("weak_forwarded", "object %p is not reachable in this collection; test it with mdn_weak_is_live",
                   (void *)obj.value);
    return plan_object_forwarded(ctx->heap, obj);
}

bool mdn_weak_update(mdn_weak_context *ctx, mdn_slot slot) {
    mdn_objref obj = mdn_slot_load(slot);
    if (mdn_objref_is_null(obj))
        return false;
    if (!plan_object_is_reachable(ctx->heap, obj)) {
        mdn_slot_store(slot, mdn_objref_null());
        return false;
    }
    mdn_objref to = plan_object_forwarded(ctx->heap, obj);
    if (to.value != obj.value)
        mdn_slot_store(slot, to);
    return true;
}

mdn_objref mdn_weak_retain(mdn_weak_context *ctx, mdn_slot slot) {
    mdn_objref obj = mdn_slot_load(slot);
    if (mdn_objref_is_null(obj))
        return obj;
    if (!plan_object_is_reachable(ctx->heap, obj))
        ctx->retained = true;
    mdn_trace_slot(mdn_weak_tracer(ctx->heap), slot);
    return mdn_slot_load(slot);
}

void mdn_set_weak_processor(mdn_heap *heap, mdn_weak_processor fn, void *data) {
    mdn_heap_check_api(heap, "set_weak_processor");
    mdn_weak_state *st = heap->weak;
    mdn_lock_for_mutator(&st->lock);
    st->processor = fn;
    st->processor_data = data;
    mdn_unlock_for_mutator(&st->lock);
}

/* ---- registration --------------------------------------------------------- */

/* The offset of `slot` in `holder`, checked to lie inside it. */
static uintptr_t holder_offset(mdn_objref holder, mdn_slot slot, const char *check) {
    if ((slot.value & (MDN_WORD_SIZE - 1)) != 0)
        mdn_misuse(check, "slot %p is not word aligned", (void *)slot.value);
    if (mdn_objref_is_null(holder))
        return slot.value;
    mdn_address start = mdn_vm_object_start(holder);
    size_t size = mdn_vm_object_size(holder);
    if (slot.value < start.value || slot.value + MDN_WORD_SIZE > start.value + size)
        mdn_misuse(check, "slot %p is not inside its holder %p (%zu bytes at %p)", (void *)slot.value,
                   (void *)holder.value, size, (void *)start.value);
    return slot.value - holder.value;
}

void mdn_weak_register(mdn_mutator *m, mdn_objref holder, mdn_slot slot, mdn_weak_strength strength) {
    mdn_weak_require_running(m, "weak_register");
    if (strength != MDN_WEAK_SHORT && strength != MDN_WEAK_LONG)
        mdn_misuse("weak_register", "unknown weak strength %d", (int)strength);
    uintptr_t offset = holder_offset(holder, slot, "weak_register");
    mdn_weak_state *st = m->heap->weak;
    mdn_lock_for_mutator(&st->lock);
    st->slots = mdn_array_reserve(st->slots, st->nslots, &st->slots_capacity, sizeof *st->slots, 256,
                                  "registering a weak slot");
    st->slots[st->nslots++] = (mdn_weak_slot_entry){holder.value, offset, (uint8_t)strength};
    mdn_unlock_for_mutator(&st->lock);
}

void mdn_weak_unregister(mdn_mutator *m, mdn_slot slot) {
    mdn_weak_require_running(m, "weak_unregister");
    mdn_weak_state *st = m->heap->weak;
    mdn_lock_for_mutator(&st->lock);
    for (size_t i = 0; i < st->nslots; i++) {
        if (st->slots[i].holder == 0 && st->slots[i].offset == slot.value) {
            st->slots[i] = st->slots[--st->nslots];
            mdn_unlock_for_mutator(&st->lock);
            return;
        }
    }
    mdn_unlock_for_mutator(&st->lock);
    mdn_misuse("weak_unregister", "no weak slot at %p was registered without a holder", (void *)slot.value);
}

void mdn_ephemeron_register(mdn_mutator *m, mdn_objref holder, mdn_slot key, mdn_slot value) {
    mdn_weak_require_running(m, "ephemeron_register");
    if (mdn_objref_is_null(holder))
        mdn_misuse("ephemeron_register", "an ephemeron needs a holder object (the null reference was given)");
    if (key.value == value.value)
        mdn_misuse("ephemeron_register", "key and value are the same slot %p", (void *)key.value);
    uintptr_t ko = holder_offset(holder, key, "ephemeron_register");
    uintptr_t vo = holder_offset(holder, value, "ephemeron_register");
    mdn_weak_state *st = m->heap->weak;
    mdn_lock_for_mutator(&st->lock);
    st->ephemerons = mdn_array_reserve(st->ephemerons, st->nephemerons, &st->ephemerons_capacity,
                                       sizeof *st->ephemerons, 256, "registering an ephemeron");
    st->ephemerons[st->nephemerons++] = (mdn_ephemeron_entry){holder.value, ko, vo};
    mdn_unlock_for_mutator(&st->lock);
}

/* ---- the weak phase ------------------------------------------------------- */

static bool reachable(mdn_heap *heap, uintptr_t ref) {
    return plan_object_is_reachable(heap, mdn_objref_from_address(mdn_address_from_word(ref)));
}

static uintptr_t forwarded(mdn_heap *heap, uintptr_t ref) {
    return plan_object_forwarded(heap, mdn_objref_from_address(mdn_address_from_word(ref))).value;
}

/* The slot at `offset` in the holder's copy after this collection (the
 * holder is reachable), or the absolute slot when there is no holder. */
static mdn_slot slot_in(mdn_heap *heap, uintptr_t holder, uintptr_t offset) {
    if (holder == 0)
        return mdn_slot_from_address(mdn_address_from_word(offset));
    return mdn_slot_from_address(mdn_address_from_word(forwarded(heap, holder) + offset));
}

/* .weak.ephemeron.fixpoint: trace the value of every pending ephemeron
 * whose holder and key are reachable, run the closure, and repeat until a
 * pass traces nothing. Values are traced on worker 0; each closure runs on
 * every GC worker. */
static void ephemeron_fixpoint(mdn_heap *heap, size_t *npending) {
    mdn_weak_state *st = heap->weak;
    bool progress = true;
    while (progress && *npending) {
        progress = false;
        size_t kept = 0;
        for (size_t i = 0; i < *npending; i++) {
            mdn_ephemeron_entry *e = &st->ephemerons[st->pending[i]];
            if (!reachable(heap, e->holder)) {
                st->pending[kept++] = st->pending[i];
                continue;
            }
            mdn_slot key = slot_in(heap, e->holder, e->key_offset);
            mdn_objref k = mdn_slot_load(key);
            if (mdn_objref_is_null(k) || !plan_object_is_reachable(heap, k)) {
                st->pending[kept++] = st->pending[i];
                continue;
            }
            mdn_trace_slot(mdn_weak_tracer(heap), slot_in(heap, e->holder, e->value_offset));
            progress = true;
        }
        *npending = kept;
        if (progress)
            mdn_weak_reclose(heap);
    }
}

/* .weak.processor: the binding's processor and the ephemerons, until
 * neither keeps anything more alive. */
static void strong_fixpoint(mdn_heap *heap, size_t *npending) {
    mdn_weak_state *st = heap->weak;
    mdn_weak_context ctx = {heap, false};
    bool call = st->processor != NULL;
    do {
        ephemeron_fixpoint(heap, npending);
        if (!call)
            break;
        ctx.retained = false;
        call = st->processor(heap, &ctx, st->processor_data);
        mdn_weak_reclose(heap);
    } while (call || ctx.retained);
}

/* Clear or update the slot of a weak entry whose holder may be unreachable
 * (.weak.short: the holder may yet be kept by finalization, so its old copy
 * is updated; if it is not kept, the store lands in garbage). */
static void settle_slot(mdn_heap *heap, mdn_slot slot) {
    mdn_objref target = mdn_slot_load(slot);
    if (mdn_objref_is_null(target))
        return;
    if (!plan_object_is_reachable(heap, target)) {
        mdn_slot_store(slot, mdn_objref_null());
        heap->weak->cleared++;
        return;
    }
    mdn_objref to = plan_object_forwarded(heap, target);
    if (to.value != target.value)
        mdn_slot_store(slot, to);
}

static void clear_short(mdn_heap *heap) {
    mdn_weak_state *st = heap->weak;
    for (size_t i = 0; i < st->nslots; i++) {
        mdn_weak_slot_entry *e = &st->slots[i];
        if (e->strength != MDN_WEAK_SHORT)
            continue;
        mdn_slot slot = e->holder && !reachable(heap, e->holder)
                            ? mdn_slot_from_address(mdn_address_from_word(e->holder + e->offset))
                            : slot_in(heap, e->holder, e->offset);
        settle_slot(heap, slot);
    }
}

/* .weak.long: the last pass over the slots: drop entries whose holder
 * died, settle long slots, and move every holder reference to its copy. */
static void settle_slots(mdn_heap *heap) {
    mdn_weak_state *st = heap->weak;
    size_t kept = 0;
    for (size_t i = 0; i < st->nslots; i++) {
        mdn_weak_slot_entry e = st->slots[i];
        if (e.holder) {
            if (!reachable(heap, e.holder))
                continue;
            e.holder = forwarded(heap, e.holder);
        }
        if (e.strength == MDN_WEAK_LONG)
            settle_slot(heap, slot_in(heap, e.holder, e.offset));
        st->slots[kept++] = e;
    }
    st->nslots = kept;
}

/* .weak.ephemeron.clear: drop ephemerons whose holder died; clear key and
 * value of those whose key died; update the rest. */
static void settle_ephemerons(mdn_heap *heap) {
    mdn_weak_state *st = heap->weak;
    size_t kept = 0;
    for (size_t i = 0; i < st->nephemerons; i++) {
        mdn_ephemeron_entry e = st->ephemerons[i];
        if (!reachable(heap, e.holder))
            continue;
        e.holder = forwarded(heap, e.holder);
        mdn_slot key = slot_in(heap, e.holder, e.key_offset);
        mdn_slot value = slot_in(heap, e.holder, e.value_offset);
        mdn_objref k = mdn_slot_load(key);
        if (!mdn_objref_is_null(k) && plan_object_is_reachable(heap, k)) {
            mdn_objref to = plan_object_forwarded(heap, k);
            if (to.value != k.value)
                mdn_slot_store(key, to);
        } else {
            if (!mdn_objref_is_null(k))
                st->cleared++;
            mdn_slot_store(key, mdn_objref_null());
            mdn_slot_store(value, mdn_objref_null());
        }
        st->ephemerons[kept++] = e;
    }
    st->nephemerons = kept;
}

void mdn_weak_process(mdn_heap *heap) {
    mdn_weak_state *st = heap->weak;
    pthread_mutex_lock(&st->lock);
    st->rounds = 0;
    st->cleared = 0;
    st->queued = 0;
    st->tracing = false;
    if (st->nslots == 0 && st->nephemerons == 0 && st->nfinals == 0 && st->processor == NULL) {
        pthread_mutex_unlock(&st->lock);
        return;
    }
    if (st->nephemerons > UINT32_MAX)
        mdn_fatal("too many ephemerons (%zu)", st->nephemerons);
    if (st->pending_capacity < st->nephemerons) {
        mdn_table_free(st->pending, st->pending_capacity * sizeof *st->pending);
        st->pending_capacity = st->nephemerons;
        st->pending = mdn_table_alloc(st->pending_capacity * sizeof *st->pending);
        if (!st->pending)
            mdn_fatal("out of memory in the weak phase (%zu ephemerons)", st->nephemerons);
    }
    size_t npending = st->nephemerons;
    for (size_t i = 0; i < npending; i++)
        st->pending[i] = (uint32_t)i;

    strong_fixpoint(heap, &npending);
    clear_short(heap);
    mdn_finalize_choose(heap);
    ephemeron_fixpoint(heap, &npending);
    settle_slots(heap);
    settle_ephemerons(heap);
    mdn_finalize_update(heap);
    MDN_CHECK(!st->tracing);

    size_t pending = st->nqueue - st->queue_head;
    mdn_finalizer_notifier notify = st->queued ? st->notifier : NULL;
    void *notify_data = st->notifier_data;
    if (heap->options.verbose >= 2)
        fprintf(stderr,
                "midden:   weak: %zu slots, %zu ephemerons, %zu finalizers registered; %zu cleared, %zu finalizers "
                "queued (%zu pending), %u extra closures\n",
                st->nslots, st->nephemerons, st->nfinals, st->cleared, st->queued, pending, st->rounds);
    pthread_mutex_unlock(&st->lock);
    if (notify)
        notify(heap, pending, notify_data);
}

/* .weak.verify: after the collection every registration's holder is live
 * and every slot holds null or a live object; the verifier checks each
 * reference as it checks a strong field (dead, freed, poisoned, moved). */
void mdn_weak_verify(mdn_heap *heap, mdn_tracer *t) {
    mdn_weak_state *st = heap->weak;
    pthread_mutex_lock(&st->lock);
    for (size_t i = 0; i < st->nslots; i++) {
        mdn_weak_slot_entry *e = &st->slots[i];
        if (e->holder && !plan_is_live_object(heap, mdn_objref_from_address(mdn_address_from_word(e->holder))))
            mdn_fatal("heap verifier: the holder %p of weak slot %p is not a live object (plan %s)",
                      (void *)e->holder, (void *)(e->holder + e->offset), mdn_plan_name_string);
        mdn_trace_slot(t, mdn_slot_from_address(mdn_address_from_word(e->holder + e->offset)));
    }
    for (size_t i = 0; i < st->nephemerons; i++) {
        mdn_ephemeron_entry *e = &st->ephemerons[i];
        if (!plan_is_live_object(heap, mdn_objref_from_address(mdn_address_from_word(e->holder))))
            mdn_fatal("heap verifier: the holder %p of an ephemeron is not a live object (plan %s)",
                      (void *)e->holder, mdn_plan_name_string);
        mdn_trace_slot(t, mdn_slot_from_address(mdn_address_from_word(e->holder + e->key_offset)));
        mdn_trace_slot(t, mdn_slot_from_address(mdn_address_from_word(e->holder + e->value_offset)));
    }
    for (size_t i = 0; i < st->nfinals; i++)
        mdn_trace_slot(t, mdn_slot_from_ptr(&st->finals[i].obj));
    for (size_t i = st->queue_head; i < st->nqueue; i++)
        mdn_trace_slot(t, mdn_slot_from_ptr(&st->queue[i].obj));
    pthread_mutex_unlock(&st->lock);
}
