/*
 * collector.c: the collector side of the protocol and the phases every
 * plan reuses (docs/design/overview.md .overview.threads).
 *
 * .gc.stop: the requesting mutator becomes the coordinator: it sets
 * gc_requested and every other mutator's gc_pending, then waits until each
 * is PARKED or NATIVE. It is GC worker 0; the pool's other workers join it
 * for the parallel phases.
 * .gc.phases: retire every thread-local allocator; prepare; roots (global,
 * registered, each mutator's); transitive closure on the work-stealing
 * queues; weak processing (core/weak.c); release. Then resume the world.
 */
#include "core/heap.h"

#include "core/conservative.h"
#include "core/plan.h"
#include "core/trace.h"
#include "core/verify.h"
#include "core/weak.h"

#include <string.h>

#include <stdio.h>

static bool world_stopped(const mdn_heap *heap, const mdn_mutator *self) {
    MDN_FOR_EACH_MUTATOR(heap, m) {
        if (m != self && m->state == MDN_MUTATOR_RUNNING)
            return false;
    }
    return true;
}

void mdn_stop_others(mdn_heap *heap, mdn_mutator *self) {
    MDN_FOR_EACH_MUTATOR(heap, m) {
        if (m != self)
            __atomic_store_n(&m->fast.gc_pending, 1u, __ATOMIC_RELEASE);
    }
    if (heap->cons) {
        /* .cons.signals: threads that never poll are stopped by signals. */
        pthread_mutex_unlock(&heap->lock);
        mdn_conservative_stop_world(heap, self);
    } else {
        while (!world_stopped(heap, self))
            pthread_cond_wait(&heap->stopped_cond, &heap->lock);
        pthread_mutex_unlock(&heap->lock);
    }
}

typedef struct parallel_call {
    void (*fn)(mdn_tracer *t, void *arg);
    void *arg;
    mdn_heap *heap;
} parallel_call;

static void parallel_trampoline(unsigned worker, void *arg) {
    parallel_call *c = arg;
    c->fn(&c->heap->tracers[worker], c->arg);
}

void mdn_gc_parallel(mdn_heap *heap, void (*fn)(mdn_tracer *t, void *arg), void *arg) {
    parallel_call c = {fn, arg, heap};
    mdn_workers_run(heap->workers, parallel_trampoline, &c);
}

void mdn_tracer_share(mdn_tracer *t, bool all) {
    if (all) {
        /* .trace.fifo: the prefetch ring too (roots are enqueued into
         * worker 0's ring outside the closure). */
        for (; t->ring_head != t->ring_tail; t->ring_head++)
            mdn_deque_push(t->deque, t->ring[t->ring_head & (MDN_TRACE_FIFO - 1)]);
    }
    unsigned n = all ? t->nlocal : t->nlocal / 2;
    if (n == 0)
        return; /* also when there is no private stack (one worker): no memmove of NULL */
    for (unsigned i = 0; i < n; i++)
        mdn_deque_push(t->deque, t->local[i]);
    memmove(t->local, t->local + n, (t->nlocal - n) * sizeof *t->local);
    t->nlocal -= n;
}

static void closure_job(mdn_tracer *t, void *arg) {
    (void)arg;
    mdn_heap *heap = t->heap;
    mdn_obs_worker_begin(heap, t->worker);
    if (t->worker != 0) /* worker 0 prepared before tracing roots */
        plan_worker_prepare(heap, t);
    mdn_workqueue_drain(heap->queue, t->worker, plan_scan_item, heap);
    plan_worker_release(heap, t);
    mdn_obs_worker_end(heap, t->worker, t->objects_traced);
}

static void scan_roots(mdn_heap *heap) {
    mdn_tracer *t = &heap->tracers[0];
    mdn_vm_scan_roots(heap, t);
    pthread_mutex_lock(&heap->roots_lock);
    for (size_t i = 0; i < heap->nroots; i++) {
        mdn_objref *slots = heap->roots[i].start;
        for (size_t j = 0; j < heap->roots[i].count; j++)
            mdn_trace_slot(t, mdn_slot_from_ptr(&slots[j]));
    }
    pthread_mutex_unlock(&heap->roots_lock);
    if (heap->cons)
        mdn_conservative_scan_roots(heap, t);
    MDN_FOR_EACH_MUTATOR(heap, m) { mdn_vm_scan_mutator_roots(m, m->vm_thread, t); }
    mdn_weak_scan_roots(heap, t);
}

void mdn_gc_reclose(mdn_heap *heap) {
    mdn_tracer_share(&heap->tracers[0], true);
    mdn_gc_parallel(heap, closure_job, NULL);
    mdn_workqueue_reclaim(heap->queue);
}

static uint64_t lap(uint64_t *clock) {
    uint64_t now = mdn_now_ns();
    uint64_t d = now - *clock;
    *clock = now;
    return d;
}

/* The collection proper; world stopped, heap->lock not held. With the
 * verbose option it writes its report lines into `report` (printed once
 * the world runs again: a thread the signal stopped may hold the stdio
 * lock, .overview.tables). */
static void collect(mdn_heap *heap, bool requested_full, char *report, size_t report_size) {
    uint64_t start = mdn_now_ns(), clock = start;
    uint64_t phase[MDN_PHASE_COUNT] = {0};
    /* A generational plan may make a default request full, or minor. */
    bool full = plan_collection_full(heap, requested_full);
    heap->current_full = full;
    mdn_obs_gc_start(heap);
    MDN_FOR_EACH_MUTATOR(heap, m) {
        mdn_mutator_unhide_buffers(m);
        plan_mutator_retire(heap, m);
    }
    for (unsigned i = 0; i < heap->nworkers; i++) {
        heap->tracers[i].objects_traced = 0;
        heap->tracers[i].bytes_copied = 0;
    }
    plan_prepare(heap, requested_full);
    /* Worker 0's copy allocator must exist before roots are traced: roots
     * are forwarded by worker 0 (.plan.phases). */
    plan_worker_prepare(heap, &heap->tracers[0]);
    phase[MDN_PHASE_PREPARE] = lap(&clock);
    mdn_obs_phase(heap, MDN_GC_PHASE_ROOTS);
    scan_roots(heap);
    plan_scan_roots(heap, &heap->tracers[0]);
    mdn_tracer_share(&heap->tracers[0], true);
    phase[MDN_PHASE_ROOTS] = lap(&clock);
    mdn_obs_phase(heap, MDN_GC_PHASE_CLOSURE);
    mdn_gc_parallel(heap, closure_job, NULL);
    mdn_workqueue_reclaim(heap->queue);
    phase[MDN_PHASE_CLOSURE] = lap(&clock);
    mdn_obs_phase(heap, MDN_GC_PHASE_WEAK);
    mdn_weak_process(heap);
    /* After the weak phase, which may keep objects for finalization. */
    if (heap->cons)
        mdn_conservative_sweep(heap);
    phase[MDN_PHASE_WEAK] = lap(&clock);
    mdn_obs_phase(heap, MDN_GC_PHASE_RELEASE);
    size_t live = plan_release(heap);
    phase[MDN_PHASE_RELEASE] = lap(&clock);
    mdn_obs_phase(heap, MDN_GC_PHASE_RESUME);
    uint64_t copied = 0, traced = 0;
    for (unsigned i = 0; i < heap->nworkers; i++) {
        copied += heap->tracers[i].bytes_copied;
        traced += heap->tracers[i].objects_traced;
    }
    if (heap->options.verify)
        mdn_verify_heap(heap);
    mdn_heap_after_collection(heap, mdn_now_ns() - start);
    mdn_obs_gc_end(heap, live, traced);
    MDN_FOR_EACH_MUTATOR(heap, m) {
        plan_mutator_init(heap, m);
        if (mdn_mutator_should_hide(m))
            mdn_mutator_hide_buffers(m);
    }
    uint64_t pause = mdn_now_ns() - start;
    pthread_mutex_lock(&heap->lock);
    mdn_stats_state *s = &heap->stats;
    mdn_stats_record_pause(s, pause, full);
    mdn_stats_count_copied(s, copied);
    s->live_bytes_after = live;
    for (int i = 0; i < MDN_PHASE_COUNT; i++)
        s->phase_ns[i] += phase[i];
    uint64_t number = s->collections;
    pthread_mutex_unlock(&heap->lock);
    report[0] = 0;
    int used = 0;
    if (heap->options.verbose >= 1)
        used = snprintf(report, report_size,
                        "midden: gc %llu %s: pause %.3f ms, %llu objects traced, %zu bytes live, %llu bytes copied, "
                        "%zu of %zu budget bytes used\n",
                        (unsigned long long)number, full ? "full" : plan_partial_collection_name(),
                        (double)pause / 1e6, (unsigned long long)traced, live, (unsigned long long)copied,
                        mdn_budget_used(&heap->vm), heap->vm.budget);
    if (heap->options.verbose >= 2 && used >= 0 && (size_t)used < report_size)
        snprintf(report + used, report_size - (size_t)used,
                 "midden:   phases (ms): prepare %.3f roots %.3f closure %.3f weak %.3f release %.3f\n",
                 (double)phase[0] / 1e6, (double)phase[1] / 1e6, (double)phase[2] / 1e6, (double)phase[3] / 1e6,
                 (double)phase[4] / 1e6);
}

/* .alloc.fair: a served request whose thread has not yet taken its memory
 * when the next collection starts (it slept through the end of the last
 * one: .protocol.repark) holds an unreachable, uninitialised cell that this
 * collection may reclaim; the request goes back to the front of the queue
 * and is served again. World stopped. */
static void requeue_untaken(mdn_heap *heap) {
    MDN_FOR_EACH_MUTATOR(heap, m) {
        if (m->alloc_wait == MDN_ALLOC_WAIT_SERVED) {
            m->alloc_wait = MDN_ALLOC_WAIT_QUEUED;
            m->alloc_result = NULL;
            m->alloc_next = heap->alloc_waiters;
            heap->alloc_waiters = m;
        }
    }
}

/* .alloc.fair: serve the waiting requests, oldest first, before any other
 * thread runs. After a full collection a request that fails when nothing
 * was allocated before it is out of memory; one that fails behind a served
 * request stays at its place in the queue (.alloc.retry). World stopped. */
static void serve_waiters(mdn_heap *heap, bool full) {
    bool served = false;
    mdn_mutator **link = &heap->alloc_waiters;
    while (*link) {
        mdn_mutator *w = *link;
        void *p = mdn_mutator_try_alloc(w, w->alloc_bytes, w->alloc_align, w->alloc_kind);
        if (p) {
            w->alloc_result = p;
            w->alloc_wait = MDN_ALLOC_WAIT_SERVED;
            served = true;
        } else if (full && !served) {
            w->alloc_wait = MDN_ALLOC_WAIT_OOM;
        } else {
            link = &w->alloc_next;
            continue;
        }
        *link = w->alloc_next;
        w->alloc_next = NULL;
    }
}

/* mdn_gc_request_for with heap->lock held on entry and on return. */
static void gc_request_locked(mdn_mutator *self, mdn_gc_kind kind, mdn_gc_trigger trigger) {
    mdn_heap *heap = self->heap;
    ucontext_t ctx; /* .cons.stacks: this thread's registers, alive until it returns */
    MDN_SAVE_CONTEXT(self, ctx);
    if (heap->gc_requested) {
        /* Another thread is collecting: this thread's request is served by
         * that collection (and any that follows it at once, which counts
         * this thread as parked: .protocol.repark in mutator.c). */
        int old = self->state;
        /* Atomic: the signal-based stop reads it without the lock (.cons.signals). */
        __atomic_store_n(&self->state, MDN_MUTATOR_PARKED, __ATOMIC_RELEASE);
        mdn_obs_parked_now(heap);
        pthread_cond_broadcast(&heap->stopped_cond);
        while (heap->gc_requested)
            pthread_cond_wait(&heap->resume_cond, &heap->lock);
        __atomic_store_n(&self->state, old, __ATOMIC_RELEASE);
        return;
    }
    heap->gc_requested = true;
    mdn_obs_request(heap, kind, trigger);
    mdn_stop_others(heap, self);

    bool full = kind == MDN_GC_FULL;
    char report[512];
    requeue_untaken(heap);
    collect(heap, full, report, sizeof report);
    serve_waiters(heap, full);
    mdn_obs_resumed(heap);
    if (heap->cons)
        mdn_conservative_resume_world(heap, self);
    if (report[0])
        fputs(report, stderr);

    pthread_mutex_lock(&heap->lock);
    MDN_FOR_EACH_MUTATOR(heap, m) { __atomic_store_n(&m->fast.gc_pending, 0u, __ATOMIC_RELAXED); }
    heap->gc_requested = false;
    heap->gc_epoch++;
    pthread_cond_broadcast(&heap->resume_cond);
}

void mdn_gc_request(mdn_mutator *self, mdn_gc_kind kind) {
    mdn_gc_request_for(self, kind, kind == MDN_GC_FULL ? MDN_TRIGGER_ALLOCATION_RETRY : MDN_TRIGGER_ALLOCATION);
}

void mdn_gc_request_for(mdn_mutator *self, mdn_gc_kind kind, mdn_gc_trigger trigger) {
    mdn_heap *heap = self->heap;
    pthread_mutex_lock(&heap->lock);
    gc_request_locked(self, kind, trigger);
    pthread_mutex_unlock(&heap->lock);
}

void *mdn_gc_request_for_alloc(mdn_mutator *self, mdn_gc_kind kind, bool *oom) {
    mdn_heap *heap = self->heap;
    pthread_mutex_lock(&heap->lock);
    if (self->alloc_wait == MDN_ALLOC_WAIT_NONE) {
        /* Join the queue at its end: older requests are served first. */
        self->alloc_wait = MDN_ALLOC_WAIT_QUEUED;
        self->alloc_result = NULL;
        self->alloc_next = NULL;
        mdn_mutator **link = &heap->alloc_waiters;
        while (*link)
            link = &(*link)->alloc_next;
        *link = self;
    }
    gc_request_locked(self, kind, kind == MDN_GC_FULL ? MDN_TRIGGER_ALLOCATION_RETRY : MDN_TRIGGER_ALLOCATION);
    /* Take the verdict under the lock, before another collection can start
     * and requeue a served request (requeue_untaken). */
    void *p = NULL;
    *oom = false;
    if (self->alloc_wait == MDN_ALLOC_WAIT_SERVED || self->alloc_wait == MDN_ALLOC_WAIT_OOM) {
        p = self->alloc_result;
        *oom = self->alloc_wait == MDN_ALLOC_WAIT_OOM;
        self->alloc_wait = MDN_ALLOC_WAIT_NONE;
        self->alloc_result = NULL;
    }
    pthread_mutex_unlock(&heap->lock);
    return p;
}
