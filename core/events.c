/*
 * events.c: event listeners and the points of a collection that the
 * timeline, the histogram and the listeners observe (obs.h).
 *
 * See docs/design/observability.md .obs.points for where the collector
 * calls in and .obs.listeners for how listeners are kept.
 */
#include "core/obs.h"

#include "core/conservative.h"
#include "core/heap.h"
#include "core/plan.h"

#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

const char *mdn_gc_trigger_name(mdn_gc_trigger trigger) {
    switch (trigger) {
    case MDN_TRIGGER_ALLOCATION:
        return "allocation";
    case MDN_TRIGGER_ALLOCATION_RETRY:
        return "allocation-retry";
    case MDN_TRIGGER_EXPLICIT:
        return "explicit";
    case MDN_TRIGGER_STRESS:
        return "stress";
    case MDN_TRIGGER_COUNT:
        break;
    }
    return "?";
}

int mdn_obs_tid(void) { return (int)syscall(SYS_gettid); }

bool mdn_obs_init(mdn_heap *heap, mdn_error *err) {
    mdn_obs_state *o = &heap->obs;
    memset(o, 0, sizeof *o);
    o->last_committed = __atomic_load_n(&heap->vm.committed, __ATOMIC_RELAXED);
    o->last_budget = heap->vm.budget;
    if (heap->options.trace[0] != '\0') {
        o->timeline = mdn_timeline_open(heap->options.trace, err);
        if (!o->timeline)
            return false;
        o->workers = calloc(heap->nworkers ? heap->nworkers : 1, sizeof *o->workers);
        if (!o->workers) {
            mdn_timeline_close(o->timeline, true);
            o->timeline = NULL;
            mdn_error_set(err, MDN_ERR_MEMORY, "cannot allocate the timeline's per-worker records");
            return false;
        }
    }
    o->create_ns = mdn_now_ns();
    return true;
}

void mdn_obs_destroy(mdn_heap *heap) {
    mdn_obs_state *o = &heap->obs;
    bool created = heap->plan != NULL && o->create_ns != 0; /* not a failed mdn_heap_create */
    if (created && heap->options.stats)
        mdn_summary_print(heap, stderr);
    if (created && heap->options.heap_histogram)
        mdn_histogram_print(heap, stderr);
    mdn_histogram_free(heap);
    if (o->timeline)
        mdn_timeline_close(o->timeline, true);
    o->timeline = NULL;
    free(o->workers);
    mdn_array_free(o->parked, o->parked_capacity, sizeof *o->parked);
    o->workers = NULL;
    o->parked = NULL;
}

/* ---- listeners (.obs.listeners) ------------------------------------------ */

/* A mutator may call these while running, and a collection may be waiting
 * for that thread, so they never wait for a collection: they wait only for
 * the collecting thread to finish calling the listeners of one event, which
 * waits for no thread. On a conservative heap the lock is held in a
 * critical section (.cons.locks), so the stop signal never stops a thread
 * that holds it. */
void mdn_event_listener_add(mdn_heap *heap, mdn_event_fn fn, void *data) {
    mdn_heap_check_api(heap, "event_listener_add");
    if (!fn)
        mdn_misuse("event_listener_add", "the listener function is NULL");
    mdn_lock_for_mutator(&heap->listeners_lock);
    mdn_obs_state *o = &heap->obs;
    for (unsigned i = 0; i < o->nlisteners; i++) {
        if (o->listeners[i].fn == fn && o->listeners[i].data == data) {
            mdn_unlock_for_mutator(&heap->listeners_lock);
            mdn_misuse("event_listener_add", "listener %p with data %p is already registered", (void *)fn, data);
        }
    }
    if (o->nlisteners == MDN_EVENT_LISTENERS_MAX) {
        mdn_unlock_for_mutator(&heap->listeners_lock);
        mdn_misuse("event_listener_add", "the heap already has the most listeners, %d", MDN_EVENT_LISTENERS_MAX);
    }
    o->listeners[o->nlisteners++] = (mdn_obs_listener){fn, data};
    mdn_unlock_for_mutator(&heap->listeners_lock);
}

void mdn_event_listener_remove(mdn_heap *heap, mdn_event_fn fn, void *data) {
    mdn_heap_check_api(heap, "event_listener_remove");
    mdn_lock_for_mutator(&heap->listeners_lock);
    mdn_obs_state *o = &heap->obs;
    for (unsigned i = 0; i < o->nlisteners; i++) {
        if (o->listeners[i].fn == fn && o->listeners[i].data == data) {
            memmove(&o->listeners[i], &o->listeners[i + 1], (o->nlisteners - i - 1) * sizeof o->listeners[0]);
            o->nlisteners--;
            mdn_unlock_for_mutator(&heap->listeners_lock);
            return;
        }
    }
    mdn_unlock_for_mutator(&heap->listeners_lock);
    mdn_misuse("event_listener_remove", "no listener %p with data %p is registered", (void *)fn, data);
}

static void fire(mdn_heap *heap, const mdn_obs_listener *listeners, unsigned n, const mdn_event *e) {
    for (unsigned i = 0; i < n; i++)
        listeners[i].fn(heap, e, listeners[i].data);
}

/* An event of the current collection; fired by the collecting thread with
 * the world stopped, holding the listeners' lock while it calls them, so a
 * listener removed is never called once mdn_event_listener_remove returns. */
static void fire_gc(mdn_heap *heap, mdn_event *e) {
    mdn_obs_state *o = &heap->obs;
    e->collection = o->number;
    e->full = o->full;
    e->trigger = mdn_gc_trigger_name(o->trigger);
    pthread_mutex_lock(&heap->listeners_lock);
    fire(heap, o->listeners, o->nlisteners, e);
    pthread_mutex_unlock(&heap->listeners_lock);
}

/* ---- the points of a collection (.obs.points) ---------------------------- */

void mdn_obs_request(mdn_heap *heap, mdn_gc_kind kind, mdn_gc_trigger trigger) {
    mdn_obs_state *o = &heap->obs;
    o->request_ns = mdn_now_ns();
    o->full = kind == MDN_GC_FULL;
    o->trigger = trigger;
    o->nparked = 0;
    if (o->timeline)
        o->tid = mdn_obs_tid();
}

void mdn_obs_parked_now(mdn_heap *heap) {
    mdn_obs_state *o = &heap->obs;
    if (!o->timeline)
        return;
    o->parked = mdn_array_reserve(o->parked, o->nparked, &o->parked_capacity, sizeof *o->parked, 16,
                                  "recording safepoint times for the timeline");
    o->parked[o->nparked++] = (mdn_obs_parked){mdn_now_ns(), mdn_obs_tid()};
}

void mdn_obs_gc_start(mdn_heap *heap) {
    mdn_obs_state *o = &heap->obs;
    o->stopped_ns = mdn_now_ns();
    o->number++;
    o->collections_by_trigger[o->trigger]++;
    memset(o->phase_ns, 0, sizeof o->phase_ns);
    if (o->timeline)
        memset(o->workers, 0, heap->nworkers * sizeof *o->workers);
    mdn_event e = {.kind = MDN_EVENT_GC_START, .time_ns = o->stopped_ns};
    fire_gc(heap, &e);
    mdn_obs_phase(heap, MDN_GC_PHASE_PREPARE);
}

void mdn_obs_phase(mdn_heap *heap, mdn_gc_phase phase) {
    mdn_obs_state *o = &heap->obs;
    o->phase_ns[phase] = mdn_now_ns();
    mdn_event e = {.kind = MDN_EVENT_PHASE, .time_ns = o->phase_ns[phase], .phase = phase};
    fire_gc(heap, &e);
}

void mdn_obs_worker_begin(mdn_heap *heap, unsigned worker) {
    mdn_obs_state *o = &heap->obs;
    if (!o->timeline)
        return;
    o->workers[worker].begin_ns = mdn_now_ns();
    o->workers[worker].tid = mdn_obs_tid();
}

void mdn_obs_worker_end(mdn_heap *heap, unsigned worker, uint64_t items) {
    mdn_obs_state *o = &heap->obs;
    if (!o->timeline)
        return;
    o->workers[worker].end_ns = mdn_now_ns();
    o->workers[worker].items = items;
}

void mdn_obs_gc_end(mdn_heap *heap, uint64_t live_bytes, uint64_t objects_traced) {
    mdn_obs_state *o = &heap->obs;
    o->live_bytes = live_bytes;
    o->objects_traced = objects_traced;
    uint64_t committed = __atomic_load_n(&heap->vm.committed, __ATOMIC_RELAXED);
    uint64_t budget = heap->vm.budget;
    if (committed != o->last_committed || budget != o->last_budget) {
        mdn_event e = {.kind = MDN_EVENT_HEAP_RESIZE, .time_ns = mdn_now_ns(), .old_committed = o->last_committed,
                       .new_committed = committed, .old_budget = o->last_budget, .new_budget = budget};
        o->last_committed = committed;
        o->last_budget = budget;
        fire_gc(heap, &e);
    }
    o->in_gc_end = true;
    if (heap->options.heap_histogram)
        mdn_histogram_update(heap);
    o->end_ns = mdn_now_ns();
    mdn_event e = {.kind = MDN_EVENT_GC_END, .time_ns = o->end_ns, .pause_ns = o->end_ns - o->request_ns,
                   .live_bytes = live_bytes, .objects_traced = objects_traced};
    fire_gc(heap, &e);
    o->in_gc_end = false;
}

void mdn_obs_resumed(mdn_heap *heap) {
    mdn_obs_state *o = &heap->obs;
    o->resumed_ns = mdn_now_ns();
    if (o->timeline)
        mdn_timeline_collection(heap);
}

void mdn_obs_out_of_memory(mdn_heap *heap, size_t bytes) {
    mdn_obs_state *o = &heap->obs;
    /* A copy: the listeners run with the world running and may do what a
     * mutator does (collect, add or remove listeners), so no lock is held
     * while they run (.obs.listeners). */
    mdn_obs_listener copy[MDN_EVENT_LISTENERS_MAX];
    mdn_lock_for_mutator(&heap->listeners_lock);
    unsigned n = o->nlisteners;
    memcpy(copy, o->listeners, n * sizeof copy[0]);
    mdn_unlock_for_mutator(&heap->listeners_lock);
    if (o->timeline)
        mdn_timeline_instant(o->timeline, o->create_ns, "out of memory", bytes);
    mdn_event e = {.kind = MDN_EVENT_OUT_OF_MEMORY, .time_ns = mdn_now_ns(), .request_bytes = bytes};
    fire(heap, copy, n, &e);
}
