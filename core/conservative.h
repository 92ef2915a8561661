/*
 * conservative.h: conservative (ambiguous) roots, the valid-object bitmap
 * and the signal-based stop of threads that never poll
 * (docs/design/conservative.md).
 *
 * With the `conservative` option a heap keeps one bit per granule that is
 * set exactly for the starts of the objects that may be live
 * (.cons.valid), a page map for objects above the small-object bound
 * (.cons.find), a list of ambiguous root ranges, and for each mutator the
 * stack and register state saved when it stops (.cons.stacks). Nothing
 * here runs for heaps without the option.
 */
#ifndef MDN_CORE_CONSERVATIVE_H
#define MDN_CORE_CONSERVATIVE_H

#include "core/heap.h"
#include "core/side_metadata.h"

#include <midden/midden.h>

typedef struct mdn_ambiguous_range {
    uintptr_t start;
    uintptr_t end;
} mdn_ambiguous_range;

typedef struct mdn_conservative {
    mdn_side_metadata valid;      /* one bit per granule: an object starts here (.cons.valid) */
    uintptr_t *large_map;         /* per page: start of the large object covering it (.cons.find) */
    size_t large_map_bytes;
    pthread_mutex_t ranges_lock;
    mdn_ambiguous_range *ranges;  /* registered ambiguous roots */
    size_t nranges, ranges_capacity;
    mdn_ambiguous_range *excluded; /* static data excluded from scanning */
    size_t nexcluded, excluded_capacity;
    bool static_roots;            /* scan the writable segments of every loaded image */
    bool library_roots;           /* ... of the shared libraries too, not just the main program (atomic) */
    uint64_t stop_epoch;          /* increments when signal-stopped threads may resume */
    int suspend_signal, restart_signal;
} mdn_conservative;

/* Set up the conservative state of a heap created with the option; false
 * (err filled) when the plan cannot pin or memory runs out. */
bool mdn_conservative_create(mdn_heap *heap, mdn_error *err);
void mdn_conservative_destroy(mdn_heap *heap);

/* A mutator was bound on the calling thread: record the thread and its stack. */
void mdn_conservative_bind(mdn_mutator *m);
void mdn_conservative_unbind(mdn_mutator *m);

/* .cons.fast: let mdn_alloc_conservative use the held buffers (unless
 * stress or verify sends everything to the slow path). */
void mdn_conservative_open_fast_path(mdn_mutator *m);

/* Record a new object (valid bit, page map); `bytes` is its size. */
void mdn_conservative_note_alloc(mdn_heap *heap, void *start, size_t bytes);

/* World stopped, after the closure and before the plan's release: clear
 * the valid bits of objects the collection did not reach (.cons.valid). */
void mdn_conservative_sweep(mdn_heap *heap);

/* Trace every ambiguous root: registered ranges, static data, and each
 * mutator's saved registers and stack (.cons.stacks). World stopped. */
void mdn_conservative_scan_roots(mdn_heap *heap, mdn_tracer *t);

/* Stop every other RUNNING mutator with signals and wait until each is
 * stopped or parked (.cons.signals); then resume them. `self` is the
 * collecting thread's mutator. */
void mdn_conservative_stop_world(mdn_heap *heap, mdn_mutator *self);
void mdn_conservative_resume_world(mdn_heap *heap, mdn_mutator *self);

/* .cons.fork: in the child of a fork, after the other mutators were
 * removed: the ranges lock anew, nothing signalled. `self` may be NULL. */
void mdn_conservative_after_fork_child(mdn_heap *heap, mdn_mutator *self);

/* .cons.critical: a thread inside the core's entry points is not stopped
 * by the signal (it may hold a lock the collector needs); the signal sets
 * stop_deferred and the thread stops itself on leaving, or parks at the
 * safepoint it reaches first. */
static inline void mdn_critical_enter(mdn_mutator *m) {
    m->fast.in_critical++;
    __atomic_signal_fence(__ATOMIC_SEQ_CST);
}
static inline void mdn_critical_leave(mdn_mutator *m) {
    __atomic_signal_fence(__ATOMIC_SEQ_CST);
    m->fast.in_critical--;
    __atomic_signal_fence(__ATOMIC_SEQ_CST);
    if (MDN_UNLIKELY(m->fast.stop_deferred) && m->fast.in_critical == 0)
        mdn_critical_deferred_stop(m);
}

/* Save the calling thread's registers and stack pointer into `m` before it
 * blocks in the core (park, native, coordinating a collection). A macro so
 * the context is taken in the caller's frame: `ctx` must stay alive while
 * the thread is stopped. */
#define MDN_SAVE_CONTEXT(m, ctx)                                                                                       \
    do {                                                                                                               \
        if ((m)->heap->cons) {                                                                                         \
            getcontext(&(ctx));                                                                                        \
            (m)->saved_regs = &(ctx);                                                                                  \
            (m)->saved_regs_bytes = sizeof(ctx);                                                                       \
            (m)->stack_sp = (uintptr_t)&(ctx);                                                                         \
        }                                                                                                              \
    } while (0)

#endif
