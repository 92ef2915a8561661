/*
 * heap.h: the heap and mutator structures shared by core and plans.
 *
 * .heap.one-struct: all mutable state lives in the heap struct (no globals),
 * so a process may run several heaps.
 * .heap.plan-area: a mutator and a tracer each carry an aligned area the
 * plan uses for its thread-local allocators; the plan checks its struct
 * fits with a static assertion.
 */
#ifndef MDN_CORE_HEAP_H
#define MDN_CORE_HEAP_H

#include "core/binding.h"
#include "core/obs.h"
#include "core/stats.h"
#include "core/util.h"
#include "core/vmspace.h"
#include "core/workers.h"

#include <midden/midden.h>

#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <ucontext.h>

#define MDN_PLAN_MUTATOR_AREA 2048
#define MDN_PLAN_TRACER_AREA 1024

typedef enum mdn_mutator_state {
    MDN_MUTATOR_RUNNING = 1,
    MDN_MUTATOR_NATIVE = 2,
    MDN_MUTATOR_PARKED = 3,
    MDN_MUTATOR_UNBOUND = 4,
} mdn_mutator_state;

/* A failed allocation request waiting for a collection to serve it
 * (docs/design/thread-protocol.md .alloc.fair). */
typedef enum mdn_alloc_wait {
    MDN_ALLOC_WAIT_NONE = 0, /* no request waiting */
    MDN_ALLOC_WAIT_QUEUED,   /* on heap->alloc_waiters, not yet served */
    MDN_ALLOC_WAIT_SERVED,   /* served: the memory is in alloc_result */
    MDN_ALLOC_WAIT_OOM,      /* failed after a full collection with nothing allocated before it */
} mdn_alloc_wait;

#define MDN_MUTATOR_MAGIC 0x4d75744d64646e31ULL /* live mutator */
#define MDN_MUTATOR_DEAD 0x4465614d64646e30ULL  /* unbound mutator */
#define MDN_HEAP_MAGIC 0x486561704d64646eULL

struct mdn_mutator {
    mdn_mutator_fast fast; /* first: the inline fast paths read it */
    uint64_t magic;
    mdn_heap *heap;
    void *vm_thread;
    pthread_t owner;             /* the thread that bound it (mdn_after_fork_child) */
    int state;                   /* mdn_mutator_state, written under heap->lock */
    struct mdn_mutator *next;    /* heap's list of bound (or free) mutators */
    struct mdn_mutator *prev;
    size_t stress_count;         /* bytes since the last stress collection */
    bool force_slow;             /* stress/verify: every allocation takes the slow path */
    bool hidden;                 /* buffers hidden (force_slow, or NATIVE): fast paths fail */
    /* The real buffers while hidden are m->fast.held_limit and held_free_lists. */
    /* Conservative heaps only (core/conservative.h, .cons.stacks). */
    pthread_t thread;            /* the bound thread, for the stop signal */
    uintptr_t stack_base;        /* one past the highest address of its stack */
    uintptr_t stack_sp;          /* lowest live stack address, saved when it stopped */
    const void *saved_regs;      /* registers saved when it stopped (NULL: on the stack) */
    size_t saved_regs_bytes;
    /* .cons.critical: m->fast.in_critical and m->fast.stop_deferred. */
    int sig_stopped;             /* atomic: waiting in the stop-signal handler */
    int signalled;               /* atomic: the collector sent the stop signal */
    uint64_t deferred_epoch;     /* the stop epoch when a stop signal was deferred (.cons.critical) */
    ucontext_t native_ctx;       /* registers saved by mdn_enter_native */
    /* The waiting request (.alloc.fair); heap->lock, or world stopped. */
    int alloc_wait;              /* mdn_alloc_wait */
    size_t alloc_bytes, alloc_align;
    mdn_alloc_kind alloc_kind;
    void *alloc_result;
    struct mdn_mutator *alloc_next; /* next on heap->alloc_waiters */
    _Alignas(64) unsigned char plan[MDN_PLAN_MUTATOR_AREA];
};

struct mdn_verifier;

/* Entries of a tracer's prefetch ring (.trace.fifo); a power of two. */
#define MDN_TRACE_FIFO 8u

struct mdn_tracer {
    mdn_heap *heap;
    struct mdn_verifier *verifier; /* non-NULL: slots go to the heap verifier */
    mdn_deque *deque;      /* this worker's deque */
    unsigned worker;
    /* .trace.local: objects found while scanning go on this private stack
     * first (no fences); they move to the shared deque when it fills or when
     * another worker is idle. Capacity 0 (one worker of a plan that wants
     * breadth-first order) means push straight to the deque, whose
     * single-worker order is FIFO (Cheney order). */
    uintptr_t *local;
    unsigned nlocal;
    unsigned local_capacity;
    /* .trace.fifo: newly reached objects wait in this ring, their first
     * word prefetched, in front of the private stack: [ring_head,
     * ring_tail) (free-running counters). ring_room is MDN_TRACE_FIFO with
     * a private stack and 0 without one (objects go straight to the
     * deque). */
    unsigned ring_head, ring_tail, ring_room;
    uintptr_t ring[MDN_TRACE_FIFO];
    uint64_t objects_traced;
    uint64_t bytes_copied;
    _Alignas(64) unsigned char plan[MDN_PLAN_TRACER_AREA];
};

typedef struct mdn_root_range {
    mdn_objref *start;
    size_t count;
} mdn_root_range;

struct mdn_heap {
    uint64_t magic;
    mdn_options options;
    mdn_vmspace vm;
    void *plan;              /* the plan's state */

    /* Threads (docs/design/overview.md .overview.threads). */
    pthread_mutex_t lock;
    pthread_cond_t stopped_cond; /* a mutator parked, went native or unbound */
    pthread_cond_t resume_cond;  /* a collection ended */
    mdn_mutator *mutators;       /* bound mutators */
    size_t nmutators;
    mdn_mutator *free_mutators;  /* unbound, kept so misuse is detectable */
    bool gc_requested;           /* a collection is stopping or has stopped the world */
    uint64_t gc_epoch;           /* increments when a collection ends */
    bool forking;                /* between mdn_prepare_fork and an mdn_after_fork_* (core/fork.c) */
    mdn_mutator *fork_owner;     /* the forking thread's mutator, or NULL */
    mdn_mutator *alloc_waiters;  /* failed requests, oldest first (.alloc.fair) */
    bool collections_disabled;   /* atomic: grow instead of collecting (.sizing.disabled) */

    /* Collector. */
    mdn_workers *workers;
    mdn_workqueue *queue;
    mdn_tracer *tracers;         /* one per worker */
    unsigned nworkers;
    mdn_gc_kind current_kind;
    bool current_full;
    bool current_minor; /* a generational plan's minor collection (.sizing.minor) */

    /* Event listeners' array (core/obs.h), .obs.listeners. */
    pthread_mutex_t listeners_lock;

    /* Registered roots. */
    pthread_mutex_t roots_lock;
    mdn_root_range *roots;
    size_t nroots;
    size_t roots_capacity;

    mdn_stats_state stats;
    mdn_obs_state obs; /* core/obs.h */

    struct mdn_conservative *cons; /* non-NULL with the `conservative` option */
    struct mdn_weak_state *weak;   /* weak slots, ephemerons, finalizers (core/weak.h) */

    /* Heap sizing (docs/design/sizing.md), written with the world stopped. */
    struct {
        unsigned policy;         /* mdn_heap_policy, never AUTO */
        uint64_t last_end_ns;    /* when the last collection ended (or the heap was made) */
        uint64_t last_allocated; /* stats.bytes_allocated then */
        double alloc_rate;       /* smoothed bytes per mutator second */
        double gc_rate;          /* smoothed bytes in use after a collection per collection second */
        size_t sized_used;        /* the bytes in use a growable limit is set for (.sizing.shrink) */
        /* .sizing.share: the window since the last collection that set the limit. */
        uint64_t window_start_ns; /* when it began */
        uint64_t window_gc_ns;    /* collection time in it */
        double window_room;       /* its limit above the bytes in use, per byte in use; 0 before the first */
        double gc_cost;           /* smoothed estimate of that room times the GC share over the mutator share */
    } sizing;
};

/* Resolve the sizing options: the policy, the first limit and the maximum.
 * false with a message naming the options when they conflict. */
bool mdn_heap_sizing_init(const mdn_options *opts, unsigned *policy, size_t *initial, size_t *max,
                          mdn_error *err);
/* After a collection's release, world stopped (docs/design/sizing.md
 * .sizing.after): give wholly free chunks to the heap-wide pool, set the
 * next limit, return idle memory. `pause_ns` is the collection's duration. */
void mdn_heap_after_collection(mdn_heap *heap, uint64_t pause_ns);

/* Validate a heap handed to the API; `check` names the calling function. */
void mdn_heap_check_api(const mdn_heap *heap, const char *check);

/* Validate a mutator handed to the API; `check` names the calling function. */
void mdn_mutator_check_api(const mdn_mutator *m, const char *check);

/* Stop the world and collect (docs/design/overview.md .overview.threads). Called by a RUNNING mutator; if
 * another thread's collection is under way, parks until it ends instead. */
void mdn_gc_request(mdn_mutator *m, mdn_gc_kind kind);
/* The same, saying why (mdn_gc_request: an allocation, or its full retry). */
void mdn_gc_request_for(mdn_mutator *m, mdn_gc_kind kind, mdn_gc_trigger trigger);

/* Stop the world and collect for the failed request recorded in m's
 * alloc_bytes/alloc_align/alloc_kind (.alloc.fair): the request joins the
 * queue of waiting requests unless it is on it already, and the collection
 * (this thread's or another's) serves the queue before the world resumes.
 * Returns the served memory, or NULL with *oom set when the request failed
 * after a full collection with nothing allocated before it, or NULL with
 * *oom clear when it is still waiting (ask again with MDN_GC_FULL). */
void *mdn_gc_request_for_alloc(mdn_mutator *m, mdn_gc_kind kind, bool *oom);

/* One attempt of plan_alloc for m (its buffers unhidden around it). Called
 * by m's thread, or by a collector for a parked m (.alloc.fair). */
void *mdn_mutator_try_alloc(mdn_mutator *m, size_t bytes, size_t align, mdn_alloc_kind kind);

/* Run `fn` on every tracer in parallel (the GC worker pool). */
void mdn_gc_parallel(mdn_heap *heap, void (*fn)(mdn_tracer *t, void *arg), void *arg);

/* For each bound mutator (world stopped, or under heap->lock). */
#define MDN_FOR_EACH_MUTATOR(heap, m) for (mdn_mutator *m = (heap)->mutators; m; m = m->next)

/* Save/restore the real allocation buffers of a mutator whose fast paths
 * must fail: force_slow (stress, verify) or NATIVE (so an allocation in
 * native state reaches the slow path and its misuse check). Both are
 * idempotent; mdn_mutator_should_hide() says whether buffers stay hidden
 * outside the slow path. */
static inline bool mdn_mutator_should_hide(const mdn_mutator *m) {
    return m->force_slow || m->state == MDN_MUTATOR_NATIVE;
}
void mdn_mutator_unhide_buffers(mdn_mutator *m);
/* Retire a mutator's buffers, unlink it and keep it as unbound
 * (heap->lock held, or the only thread: mdn_after_fork_child). */
void mdn_mutator_remove(mdn_mutator *m);

/* Ask every mutator but `self` to stop and wait until each is parked,
 * native or (conservative heaps, .cons.signals) stopped by the signal.
 * heap->lock held on entry, released on return. */
void mdn_stop_others(mdn_heap *heap, mdn_mutator *self);

/* .sizing.disabled: raise the current limit by `bytes` and a chunk, up to
 * the maximum; false when it is already at the maximum. */
bool mdn_heap_grow_for(mdn_heap *heap, size_t bytes);
void mdn_mutator_hide_buffers(mdn_mutator *m);

#endif
