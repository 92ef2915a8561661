/*
 * mutator.c: binding threads, the mutator side of the stop-the-world
 * protocol (docs/design/overview.md .overview.threads), and the allocation slow path (.overview.api).
 *
 * .protocol.states: a bound mutator is RUNNING, NATIVE or PARKED; the state
 * changes under heap->lock. A collection may run once every mutator other
 * than the requester is PARKED or NATIVE.
 * .protocol.poll: the requester sets each mutator's gc_pending word; a
 * running thread sees it at its next mdn_safepoint() or allocation slow path
 * and parks in mdn_safepoint_slow() until no collection is requested.
 * .protocol.native: a NATIVE thread is not waited for; leaving native (and
 * binding, unbinding) waits while a collection is requested.
 */
#include "core/heap.h"

#include "core/conservative.h"
#include "core/plan.h"

#include <stdlib.h>
#include <string.h>

void mdn_mutator_check_api(const mdn_mutator *m, const char *check) {
    if (!m)
        mdn_misuse(check, "the mutator is NULL");
    if (m->magic == MDN_MUTATOR_DEAD)
        mdn_misuse(check, "mutator %p has been unbound", (const void *)m);
    if (m->magic != MDN_MUTATOR_MAGIC)
        mdn_misuse(check, "%p is not a bound mutator", (const void *)m);
}

static void require_running(const mdn_mutator *m, const char *check) {
    mdn_mutator_check_api(m, check);
    if (m->state == MDN_MUTATOR_NATIVE)
        mdn_misuse(check, "mutator %p is in native state; call mdn_leave_native first", (const void *)m);
}

/* Park until no collection is requested. heap->lock held.
 * .protocol.repark: waiting for the epoch to change is not enough: another
 * thread may request the next collection before this one wakes, and that
 * collection counts this thread as parked; so wait until none is requested. */
static void park_locked(mdn_mutator *m) {
    mdn_heap *heap = m->heap;
    ucontext_t ctx; /* .cons.stacks: alive while parked */
    MDN_SAVE_CONTEXT(m, ctx);
    m->fast.stop_deferred = 0;
    __atomic_store_n(&m->state, MDN_MUTATOR_PARKED, __ATOMIC_RELEASE);
    mdn_obs_parked_now(heap);
    pthread_cond_broadcast(&heap->stopped_cond);
    while (heap->gc_requested)
        pthread_cond_wait(&heap->resume_cond, &heap->lock);
    __atomic_store_n(&m->state, MDN_MUTATOR_RUNNING, __ATOMIC_RELEASE);
}

void mdn_mutator_hide_buffers(mdn_mutator *m) {
    if (m->hidden)
        return;
    m->hidden = true;
    m->fast.held_limit = m->fast.bump_limit;
    m->fast.bump_limit = m->fast.bump_cursor;
    memcpy(m->fast.held_free_lists, m->fast.free_lists, sizeof m->fast.held_free_lists);
    memset(m->fast.free_lists, 0, sizeof m->fast.free_lists);
}

void mdn_mutator_unhide_buffers(mdn_mutator *m) {
    if (!m->hidden)
        return;
    m->hidden = false;
    m->fast.bump_limit = m->fast.held_limit;
    memcpy(m->fast.free_lists, m->fast.held_free_lists, sizeof m->fast.held_free_lists);
}

mdn_mutator *mdn_mutator_bind(mdn_heap *heap, void *vm_thread) {
    mdn_heap_check_api(heap, "mutator_bind");
    pthread_mutex_lock(&heap->lock);
    while (heap->gc_requested)
        pthread_cond_wait(&heap->resume_cond, &heap->lock);
    mdn_mutator *m = heap->free_mutators;
    if (m) {
        heap->free_mutators = m->next;
    } else {
        m = aligned_alloc(64, sizeof *m);
        if (!m)
            mdn_fatal("out of memory binding a mutator");
    }
    memset(m, 0, sizeof *m);
    m->magic = MDN_MUTATOR_MAGIC;
    m->heap = heap;
    m->vm_thread = vm_thread;
    m->owner = pthread_self();
    m->state = MDN_MUTATOR_RUNNING;
    /* .cons.valid: a conservative heap records every allocation, so the
     * inline fast path of mdn_alloc stays closed; mdn_alloc_conservative
     * uses the held buffers unless stress or verify sends every allocation
     * to the slow path (.cons.fast). */
    m->force_slow = heap->options.stress != 0 || heap->options.verify || heap->cons;
    if (heap->cons)
        mdn_conservative_bind(m);
    plan_mutator_init(heap, m);
    if (m->force_slow)
        mdn_mutator_hide_buffers(m);
    m->next = heap->mutators;
    if (heap->mutators)
        heap->mutators->prev = m;
    heap->mutators = m;
    heap->nmutators++;
    pthread_mutex_unlock(&heap->lock);
    return m;
}

void mdn_mutator_unbind(mdn_mutator *m) {
    require_running(m, "mutator_unbind");
    mdn_heap *heap = m->heap;
    mdn_critical_enter(m);
    pthread_mutex_lock(&heap->lock);
    if (heap->gc_requested)
        park_locked(m);
    mdn_mutator_remove(m);
    pthread_cond_broadcast(&heap->stopped_cond);
    pthread_mutex_unlock(&heap->lock);
}

void mdn_mutator_remove(mdn_mutator *m) {
    mdn_heap *heap = m->heap;
    mdn_mutator_unhide_buffers(m);
    plan_mutator_retire(heap, m);
    /* An unbound mutator's fast paths must fail, so that any use reaches a
     * slow path and its check (the struct stays on heap->free_mutators).
     * The barrier's table stays: a barrier on an unbound mutator reads it
     * and, when it takes the slow path, fails there by name. */
    uintptr_t barrier_bias = m->fast.barrier_bias;
    memset(&m->fast, 0, sizeof m->fast);
    m->fast.barrier_bias = barrier_bias;
    if (m->prev)
        m->prev->next = m->next;
    else
        heap->mutators = m->next;
    if (m->next)
        m->next->prev = m->prev;
    heap->nmutators--;
    m->magic = MDN_MUTATOR_DEAD;
    m->state = MDN_MUTATOR_UNBOUND;
    m->next = heap->free_mutators;
    m->prev = NULL;
    heap->free_mutators = m;
    if (heap->cons)
        mdn_conservative_unbind(m);
}

mdn_heap *mdn_mutator_heap(mdn_mutator *m) {
    mdn_mutator_check_api(m, "mutator_heap");
    return m->heap;
}

void *mdn_mutator_vm_thread(mdn_mutator *m) {
    mdn_mutator_check_api(m, "mutator_vm_thread");
    return m->vm_thread;
}

void mdn_safepoint_slow(mdn_mutator *m) {
    require_running(m, "safepoint");
    mdn_heap *heap = m->heap;
    mdn_critical_enter(m);
    pthread_mutex_lock(&heap->lock);
    if (heap->gc_requested)
        park_locked(m);
    pthread_mutex_unlock(&heap->lock);
    mdn_critical_leave(m);
}

void mdn_enter_native(mdn_mutator *m) {
    require_running(m, "enter_native");
    mdn_heap *heap = m->heap;
    mdn_critical_enter(m);
    if (heap->cons) {
        m->fast.conservative = 0; /* .cons.fast: closed while native */
        /* .cons.stacks: the registers stay in the mutator while native; the
         * stack is scanned from here up. */
        MDN_TAKE_CONTEXT(m, m->native_ctx, (uintptr_t)__builtin_frame_address(0));
    }
    pthread_mutex_lock(&heap->lock);
    /* Hide the buffers before the state says native: a conservative heap's
     * stop polls the state without the lock (.cons.signals), and a
     * collection that sees a native mutator takes its buffers over. */
    mdn_mutator_hide_buffers(m);
    __atomic_store_n(&m->state, MDN_MUTATOR_NATIVE, __ATOMIC_RELEASE);
    pthread_cond_broadcast(&heap->stopped_cond);
    pthread_mutex_unlock(&heap->lock);
    mdn_critical_leave(m);
}

void mdn_leave_native(mdn_mutator *m) {
    mdn_mutator_check_api(m, "leave_native");
    if (m->state != MDN_MUTATOR_NATIVE)
        mdn_misuse("leave_native", "mutator %p is not in native state", (void *)m);
    mdn_heap *heap = m->heap;
    mdn_critical_enter(m);
    pthread_mutex_lock(&heap->lock);
    /* Never re-enter the heap during a collection (.protocol.native). */
    while (heap->gc_requested)
        pthread_cond_wait(&heap->resume_cond, &heap->lock);
    __atomic_store_n(&m->state, MDN_MUTATOR_RUNNING, __ATOMIC_RELEASE);
    if (!m->force_slow)
        mdn_mutator_unhide_buffers(m);
    if (heap->cons)
        mdn_conservative_open_fast_path(m);
    pthread_mutex_unlock(&heap->lock);
    mdn_critical_leave(m);
}

void mdn_collect(mdn_mutator *m, mdn_gc_kind kind) {
    require_running(m, "collect");
    if (kind != MDN_GC_DEFAULT && kind != MDN_GC_FULL)
        mdn_misuse("collect", "unknown collection kind %d", (int)kind);
    if (!plan_can_collect)
        return;
    mdn_critical_enter(m);
    mdn_gc_request_for(m, kind, MDN_TRIGGER_EXPLICIT);
    mdn_critical_leave(m);
}

void mdn_write_barrier_slow(mdn_mutator *m, mdn_objref obj) {
    require_running(m, "write_barrier");
    if (mdn_objref_is_null(obj))
        mdn_misuse("write_barrier", "the object written is the null reference");
    plan_object_log(m->heap, m, obj);
}

bool mdn_pin_object(mdn_mutator *m, mdn_objref obj) {
    require_running(m, "pin_object");
    if (mdn_objref_is_null(obj))
        mdn_misuse("pin_object", "cannot pin the null reference");
    return plan_pin_object(m->heap, obj);
}

/* Largest request accepted: beyond it no heap could serve it. */
#define MDN_MAX_ALLOC_BYTES ((size_t)1 << 40)

static void *alloc_slow(mdn_mutator *m, size_t bytes, size_t align, mdn_alloc_kind kind);

void *mdn_mutator_try_alloc(mdn_mutator *m, size_t bytes, size_t align, mdn_alloc_kind kind) {
    mdn_mutator_unhide_buffers(m);
    void *p = plan_alloc(m->heap, m, bytes, align, kind);
    if (m->force_slow)
        mdn_mutator_hide_buffers(m);
    return p;
}

/* .cons.pin: nothing moves in a conservative heap; .cons.valid: every
 * object is recorded, after its first word is stored (.cons.fast). */
static void *alloc_conservative(mdn_mutator *m, size_t bytes, size_t align, mdn_alloc_kind kind, bool header,
                                uintptr_t first_word) {
    mdn_critical_enter(m);
    void *p = alloc_slow(m, bytes, align, kind == MDN_ALLOC_DEFAULT ? MDN_ALLOC_NONMOVING : kind);
    if (p) {
        if (header)
            *(uintptr_t *)p = first_word;
        mdn_conservative_note_alloc(m->heap, p, mdn_align_up(bytes, MDN_MIN_ALIGN));
    }
    mdn_critical_leave(m);
    return p;
}

void *mdn_alloc_slow(mdn_mutator *m, size_t bytes, size_t align, mdn_alloc_kind kind) {
    require_running(m, "alloc");
    if (!m->heap->cons)
        return alloc_slow(m, bytes, align, kind);
    return alloc_conservative(m, bytes, align, kind, false, 0);
}

void *mdn_alloc_conservative_slow(mdn_mutator *m, size_t bytes, size_t align, mdn_alloc_kind kind,
                                  uintptr_t first_word) {
    require_running(m, "alloc_conservative");
    if (!m->heap->cons)
        mdn_misuse("alloc_conservative", "the heap was not created with the conservative option");
    if (bytes < sizeof(uintptr_t))
        mdn_misuse("alloc_conservative", "%zu bytes cannot hold the first word", bytes);
    return alloc_conservative(m, bytes, align, kind, true, first_word);
}

static void *alloc_slow(mdn_mutator *m, size_t bytes, size_t align, mdn_alloc_kind kind) {
    if (bytes == 0)
        mdn_misuse("alloc", "zero-byte allocation (objects are at least one byte)");
    if (bytes > MDN_MAX_ALLOC_BYTES)
        mdn_misuse("alloc", "allocation of %zu bytes is larger than the %zu-byte limit", bytes, MDN_MAX_ALLOC_BYTES);
    if (!mdn_is_power_of_two(align))
        mdn_misuse("alloc", "alignment %zu is not a power of two", align);
    if (align > MDN_PAGE_SIZE)
        mdn_misuse("alloc", "alignment %zu is larger than the page size %zu", align, MDN_PAGE_SIZE);
    if ((unsigned)kind > MDN_ALLOC_LARGE)
        mdn_misuse("alloc", "unknown allocation kind %d", (int)kind);
    /* .protocol.poll: the slow path is a safepoint too, so a thread that
     * only allocates cannot hold up another thread's collection. */
    mdn_safepoint(m);
    mdn_heap *heap = m->heap;
    size_t size = mdn_align_up(bytes, MDN_MIN_ALIGN);
    if (align < MDN_MIN_ALIGN)
        align = MDN_MIN_ALIGN;

    /* .sizing.disabled: no stress collection while collections are
     * disabled; the count goes on, so the first slow-path allocation after
     * they are enabled again collects. */
    if (heap->options.stress && plan_can_collect) {
        m->stress_count += size;
        if (m->stress_count >= heap->options.stress &&
            !__atomic_load_n(&heap->collections_disabled, __ATOMIC_RELAXED)) {
            m->stress_count = 0;
            mdn_gc_request_for(m, MDN_GC_DEFAULT, MDN_TRIGGER_STRESS);
        }
    }
    /* .alloc.retry: collect once as the plan would, then fully, before
     * declaring the heap exhausted; .alloc.fair: a failed request waits in
     * a queue that each collection serves, oldest first, before the world
     * resumes, so other threads cannot take what was freed for it. It is
     * out of memory only when it fails right after a full collection with
     * nothing allocated before it. */
    void *p = mdn_mutator_try_alloc(m, size, align, kind);
    if (MDN_LIKELY(p != NULL))
        return p;
    /* .sizing.disabled: grow instead of collecting, up to the maximum. */
    while (__atomic_load_n(&heap->collections_disabled, __ATOMIC_RELAXED) && mdn_heap_grow_for(heap, size)) {
        p = mdn_mutator_try_alloc(m, size, align, kind);
        if (p)
            return p;
    }
    if (plan_can_collect) {
        m->alloc_bytes = size;
        m->alloc_align = align;
        m->alloc_kind = kind;
        bool oom = false;
        for (mdn_gc_kind gc = MDN_GC_DEFAULT; !oom; gc = MDN_GC_FULL) {
            p = mdn_gc_request_for_alloc(m, gc, &oom);
            if (p)
                return p;
        }
    }
    mdn_obs_out_of_memory(heap, bytes);
    mdn_vm_out_of_memory(heap, bytes);
    return NULL;
}
