/*
 * fork.c: mdn_prepare_fork(), mdn_after_fork_parent(), mdn_after_fork_child()
 * (docs/design/observability.md .obs.fork).
 *
 * Before the fork the world is stopped as for a collection, so that no
 * other mutator is inside the allocator or holds a lock of the heap or of
 * a space, and the GC worker threads are joined, so that none holds the
 * work queue's locks. The parent restarts both. The child has only the
 * forking thread: the other mutators are unbound (their buffers retired),
 * the heap's locks are made anew and the workers are started again.
 */
#include "core/conservative.h"
#include "core/heap.h"
#include "core/obs.h"
#include "core/plan.h"
#include "core/weak.h"

#include <string.h>

/* The calling thread's bound mutator, or NULL. heap->lock held. */
static mdn_mutator *own_mutator(mdn_heap *heap) {
    pthread_t self = pthread_self();
    MDN_FOR_EACH_MUTATOR(heap, m) {
        if (pthread_equal(m->owner, self))
            return m;
    }
    return NULL;
}

static void restart_workers(mdn_heap *heap, const char *check) {
    if (!plan_can_collect)
        return;
    mdn_error err;
    heap->workers = mdn_workers_create(heap->nworkers, &err);
    if (!heap->workers)
        mdn_fatal("%s: cannot restart the GC workers: %s", check, err.message);
}

/* Let the world run again; heap->lock not held. */
static void resume_world(mdn_heap *heap) {
    pthread_mutex_lock(&heap->lock);
    MDN_FOR_EACH_MUTATOR(heap, m) { __atomic_store_n(&m->fast.gc_pending, 0u, __ATOMIC_RELAXED); }
    heap->forking = false;
    heap->gc_requested = false;
    pthread_cond_broadcast(&heap->resume_cond);
    pthread_mutex_unlock(&heap->lock);
}

void mdn_prepare_fork(mdn_heap *heap) {
    mdn_heap_check_api(heap, "prepare_fork");
    pthread_mutex_lock(&heap->lock);
    mdn_mutator *self = own_mutator(heap);
    if (self && self->state != MDN_MUTATOR_RUNNING) {
        pthread_mutex_unlock(&heap->lock);
        mdn_misuse("prepare_fork", "the calling thread's mutator %p is not running (in native state?)", (void *)self);
    }
    if (heap->forking) {
        pthread_mutex_unlock(&heap->lock);
        mdn_misuse("prepare_fork", "mdn_prepare_fork was already called; call mdn_after_fork_parent or "
                                   "mdn_after_fork_child first");
    }
    /* Wait out a collection; a running mutator that waits counts as parked
     * for it (as in mdn_gc_request). Atomic: a conservative heap's signal
     * stop reads the state without the lock (.cons.signals). */
    if (self)
        __atomic_store_n(&self->state, MDN_MUTATOR_PARKED, __ATOMIC_RELEASE);
    pthread_cond_broadcast(&heap->stopped_cond);
    while (heap->gc_requested)
        pthread_cond_wait(&heap->resume_cond, &heap->lock);
    if (self)
        __atomic_store_n(&self->state, MDN_MUTATOR_RUNNING, __ATOMIC_RELEASE);
    heap->gc_requested = true;
    heap->forking = true;
    heap->fork_owner = self;
    /* As for a collection; a conservative heap's threads that never poll
     * are stopped by signals (.cons.fork). */
    mdn_stop_others(heap, self);
    if (heap->workers) {
        mdn_workers_destroy(heap->workers);
        heap->workers = NULL;
    }
    mdn_weak_fork_prepare(heap);
    if (heap->obs.timeline)
        mdn_timeline_flush(heap->obs.timeline);
    fflush(stderr);
    fflush(stdout);
}

static void require_forking(mdn_heap *heap, const char *check) {
    mdn_heap_check_api(heap, check);
    if (!heap->forking)
        mdn_misuse(check, "mdn_prepare_fork was not called before fork()");
}

void mdn_after_fork_parent(mdn_heap *heap) {
    require_forking(heap, "after_fork_parent");
    mdn_weak_fork_parent(heap);
    restart_workers(heap, "after_fork_parent");
    if (heap->cons)
        mdn_conservative_resume_world(heap, heap->fork_owner);
    resume_world(heap);
}

void mdn_after_fork_child(mdn_heap *heap) {
    require_forking(heap, "after_fork_child");
    /* Only this thread exists: no lock is contended, but one may have been
     * copied in a locked state by a thread that is gone. */
    pthread_mutex_init(&heap->lock, NULL);
    pthread_cond_init(&heap->stopped_cond, NULL);
    pthread_cond_init(&heap->resume_cond, NULL);
    pthread_mutex_init(&heap->roots_lock, NULL);
    pthread_mutex_init(&heap->listeners_lock, NULL);
    mdn_weak_fork_child(heap);
    mdn_mutator *self = heap->fork_owner;
    for (mdn_mutator *m = heap->mutators, *next; m; m = next) {
        next = m->next;
        if (m != self)
            mdn_mutator_remove(m);
    }
    /* Requests waiting for memory (.alloc.fair) belonged to the threads
     * that are gone: the forking thread was not allocating. */
    heap->alloc_waiters = NULL;
    if (heap->cons)
        mdn_conservative_after_fork_child(heap, self);
    if (heap->obs.timeline) {
        mdn_timeline_close(heap->obs.timeline, false);
        heap->obs.timeline = NULL;
    }
    restart_workers(heap, "after_fork_child");
    resume_world(heap);
}
