/*
 * obs.h: observability and runtime services (docs/design/observability.md):
 * event listeners, the timeline, the at-exit summary, heap walking and the
 * live-object histogram, fork().
 *
 * The collector and the mutator code call into this module with single
 * calls at fixed points of a collection (.obs.points); everything else
 * lives in core/events.c, core/timeline.c, core/summary.c, core/heapwalk.c
 * and core/fork.c.
 */
#ifndef MDN_CORE_OBS_H
#define MDN_CORE_OBS_H

#include <midden/midden.h>

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Why a collection runs (mdn_event::trigger). */
typedef enum mdn_gc_trigger {
    MDN_TRIGGER_ALLOCATION = 0,       /* an allocation found the budget used */
    MDN_TRIGGER_ALLOCATION_RETRY = 1, /* the full collection before out of memory (.alloc.retry) */
    MDN_TRIGGER_EXPLICIT = 2,         /* mdn_collect() */
    MDN_TRIGGER_STRESS = 3,           /* the stress option */
    MDN_TRIGGER_COUNT
} mdn_gc_trigger;

const char *mdn_gc_trigger_name(mdn_gc_trigger trigger);

typedef struct mdn_obs_listener {
    mdn_event_fn fn;
    void *data;
} mdn_obs_listener;

/* A GC worker's part of the closure (.obs.timeline). */
typedef struct mdn_obs_worker_span {
    uint64_t begin_ns, end_ns;
    uint64_t items;
    int tid;
} mdn_obs_worker_span;

/* A mutator that parked for the current collection. */
typedef struct mdn_obs_parked {
    uint64_t parked_ns;
    int tid;
} mdn_obs_parked;

struct mdn_timeline;
struct mdn_histogram;

typedef struct mdn_obs_state {
    uint64_t create_ns;
    /* Listeners: changed, and read by the collecting thread while it
     * calls them, under heap->listeners_lock (.obs.listeners). */
    mdn_obs_listener listeners[MDN_EVENT_LISTENERS_MAX];
    unsigned nlisteners;
    bool in_gc_end; /* mdn_heap_walk() allowed */
    /* The current collection, written by the collecting thread. */
    uint64_t number;
    bool full;
    mdn_gc_trigger trigger;
    int tid;
    uint64_t request_ns, stopped_ns, resumed_ns;
    uint64_t phase_ns[MDN_GC_PHASE_COUNT]; /* when each phase began */
    uint64_t end_ns;                        /* GC_END */
    uint64_t live_bytes, objects_traced;
    uint64_t last_committed, last_budget;   /* at the previous HEAP_RESIZE check */
    uint64_t collections_by_trigger[MDN_TRIGGER_COUNT];
    /* Timeline only (NULL when tracing is off). */
    struct mdn_timeline *timeline;
    mdn_obs_worker_span *workers; /* one per GC worker */
    mdn_obs_parked *parked;       /* under heap->lock */
    size_t nparked, parked_capacity;
    /* heap-histogram only: the last collection's histogram. */
    struct mdn_histogram *histogram;
} mdn_obs_state;

/* Heap creation and destruction: open the timeline (false and err filled
 * if the file cannot be written); print the summary and the histogram,
 * close the timeline. */
bool mdn_obs_init(mdn_heap *heap, mdn_error *err);
void mdn_obs_destroy(mdn_heap *heap);

/* .obs.points, in the order a collection reaches them. */
/* The requester set gc_requested (heap->lock held). */
void mdn_obs_request(mdn_heap *heap, mdn_gc_kind kind, mdn_gc_trigger trigger);
/* A mutator parks for the requested collection (heap->lock held). */
void mdn_obs_parked_now(mdn_heap *heap);
/* The world is stopped: GC_START and the first phase. */
void mdn_obs_gc_start(mdn_heap *heap);
/* A phase begins (after PREPARE, which mdn_obs_gc_start begins). */
void mdn_obs_phase(mdn_heap *heap, mdn_gc_phase phase);
/* A GC worker starts and ends its part of the closure. */
void mdn_obs_worker_begin(mdn_heap *heap, unsigned worker);
void mdn_obs_worker_end(mdn_heap *heap, unsigned worker, uint64_t items);
/* After release and verification, world still stopped: HEAP_RESIZE, GC_END,
 * the histogram. */
void mdn_obs_gc_end(mdn_heap *heap, uint64_t live_bytes, uint64_t objects_traced);
/* The world runs again: the timeline records the collection. */
void mdn_obs_resumed(mdn_heap *heap);
/* A request failed after a full collection, before mdn_vm_out_of_memory(). */
void mdn_obs_out_of_memory(mdn_heap *heap, size_t bytes);

/* The calling thread's kernel thread id (timeline tracks). */
int mdn_obs_tid(void);

/* timeline.c */
struct mdn_timeline *mdn_timeline_open(const char *path, mdn_error *err);
/* Write the spans of the collection recorded in heap->obs. */
void mdn_timeline_collection(mdn_heap *heap);
void mdn_timeline_instant(struct mdn_timeline *tl, uint64_t create_ns, const char *name, uint64_t bytes);
void mdn_timeline_flush(struct mdn_timeline *tl);
/* Write the end of the JSON and close; `complete` false drops the file
 * handle without writing (a forked child). */
void mdn_timeline_close(struct mdn_timeline *tl, bool complete);

/* heapwalk.c: recompute the histogram of live objects (in GC_END). */
void mdn_histogram_update(mdn_heap *heap);
void mdn_histogram_print(mdn_heap *heap, FILE *out);
void mdn_histogram_free(mdn_heap *heap);

/* summary.c: the at-exit table (option stats). */
void mdn_summary_print(mdn_heap *heap, FILE *out);

#endif
