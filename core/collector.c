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
    if (t->worker != 0) /* worker 0 prepared before tracing roots */
        plan_worker_prepare(heap, t);
    mdn_workqueue_drain(heap->queue, t->worker, plan_scan_item, heap);
    plan_worker_release(heap, t);
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

/* The collection proper; world stopped, heap->lock not held. */
static void collect(mdn_heap *heap, bool full) {
    uint64_t start = mdn_now_ns(), clock = start;
    uint64_t phase[MDN_PHASE_COUNT] = {0};
    heap->current_full = full;
    MDN_FOR_EACH_MUTATOR(heap, m) {
        mdn_mutator_unhide_buffers(m);
        plan_mutator_retire(heap, m);
    }
    for (unsigned i = 0; i < heap->nworkers; i++) {
        heap->tracers[i].objects_traced = 0;
        heap->tracers[i].bytes_copied = 0;
    }
    plan_prepare(heap, full);
    /* Worker 0's copy allocator must exist before roots are traced: roots
     * are forwarded by worker 0 (.plan.phases). */
    plan_worker_prepare(heap, &heap->tracers[0]);
    phase[MDN_PHASE_PREPARE] = lap(&clock);
    scan_roots(heap);
    mdn_tracer_share(&heap->tracers[0], true);
    phase[MDN_PHASE_ROOTS] = lap(&clock);
    mdn_gc_parallel(heap, closure_job, NULL);
    mdn_workqueue_reclaim(heap->queue);
    phase[MDN_PHASE_CLOSURE] = lap(&clock);
    mdn_weak_process(heap);
    phase[MDN_PHASE_WEAK] = lap(&clock);
    size_t live = plan_release(heap);
    phase[MDN_PHASE_RELEASE] = lap(&clock);
    uint64_t copied = 0, traced = 0;
    for (unsigned i = 0; i < heap->nworkers; i++) {
        copied += heap->tracers[i].bytes_copied;
        traced += heap->tracers[i].objects_traced;
    }
    if (heap->options.verify)
        mdn_verify_heap(heap);
    mdn_heap_after_collection(heap, mdn_now_ns() - start);
    MDN_FOR_EACH_MUTATOR(heap, m) {
        plan_mutator_init(heap, m);
        if (mdn_mutator_should_hide(m))
            mdn_mutator_hide_buffers(m);
    }
    uint64_t pause = mdn_now_ns() - start;
    pthread_mutex_lock(&heap->lock);
    mdn_stats_state *s = &heap->stats;
    mdn_stats_record_pause(s, pause, full);
    heap->full_epoch += full;
    mdn_stats_count_copied(s, copied);
    s->live_bytes_after = live;
    for (int i = 0; i < MDN_PHASE_COUNT; i++)
        s->phase_ns[i] += phase[i];
    uint64_t number = s->collections;
    pthread_mutex_unlock(&heap->lock);
    if (heap->options.verbose >= 1)
        fprintf(stderr,
                "midden: gc %llu %s: pause %.3f ms, %llu objects traced, %zu bytes live, %llu bytes copied, "
                "%zu of %zu budget bytes used\n",
                (unsigned long long)number, full ? "full" : "default", (double)pause / 1e6,
                (unsigned long long)traced, live, (unsigned long long)copied, mdn_budget_used(&heap->vm),
                heap->vm.budget);
    if (heap->options.verbose >= 2)
        fprintf(stderr, "midden:   phases (ms): prepare %.3f roots %.3f closure %.3f weak %.3f release %.3f\n",
                (double)phase[0] / 1e6, (double)phase[1] / 1e6, (double)phase[2] / 1e6, (double)phase[3] / 1e6,
                (double)phase[4] / 1e6);
}

void mdn_gc_request(mdn_mutator *self, mdn_gc_kind kind) {
    mdn_heap *heap = self->heap;
    pthread_mutex_lock(&heap->lock);
    if (heap->gc_requested) {
        /* Another thread is collecting: this thread's request is served by
         * that collection (and any that follows it at once, which counts
         * this thread as parked: .protocol.repark in mutator.c). */
        int old = self->state;
        self->state = MDN_MUTATOR_PARKED;
        pthread_cond_broadcast(&heap->stopped_cond);
        while (heap->gc_requested)
            pthread_cond_wait(&heap->resume_cond, &heap->lock);
        self->state = old;
        pthread_mutex_unlock(&heap->lock);
        return;
    }
    heap->gc_requested = true;
    MDN_FOR_EACH_MUTATOR(heap, m) {
        if (m != self)
            __atomic_store_n(&m->fast.gc_pending, 1u, __ATOMIC_RELEASE);
    }
    while (!world_stopped(heap, self))
        pthread_cond_wait(&heap->stopped_cond, &heap->lock);
    pthread_mutex_unlock(&heap->lock);

    collect(heap, kind == MDN_GC_FULL);

    pthread_mutex_lock(&heap->lock);
    MDN_FOR_EACH_MUTATOR(heap, m) { __atomic_store_n(&m->fast.gc_pending, 0u, __ATOMIC_RELAXED); }
    heap->gc_requested = false;
    heap->gc_epoch++;
    pthread_cond_broadcast(&heap->resume_cond);
    pthread_mutex_unlock(&heap->lock);
}
