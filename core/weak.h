/*
 * weak.h: the weak phase of a collection (include/midden/weak.h;
 * docs/design/weak.md): weak slots, ephemerons, finalizers and the
 * binding's weak processor, kept in side tables outside the heap.
 */
#ifndef MDN_CORE_WEAK_H
#define MDN_CORE_WEAK_H

#include "core/heap.h"

#include <midden/weak.h>

/* A registered weak slot (.weak.holder): `where` is the holder's reference
 * before the latest collection, or 0 for a slot outside the heap; `offset`
 * is the slot's address minus the holder reference (the slot's address
 * itself when there is no holder). */
typedef struct mdn_weak_slot_entry {
    uintptr_t holder;
    uintptr_t offset;
    uint8_t strength; /* mdn_weak_strength */
} mdn_weak_slot_entry;

typedef struct mdn_ephemeron_entry {
    uintptr_t holder;
    uintptr_t key_offset;
    uintptr_t value_offset;
} mdn_ephemeron_entry;

typedef struct mdn_final_entry {
    mdn_objref obj;
    mdn_finalizer_fn fn;
    void *data;
    uint8_t order;     /* mdn_finalizer_order */
    uint8_t candidate; /* unreachable when this collection chose (finalize.c) */
} mdn_final_entry;

typedef struct mdn_weak_state {
    pthread_mutex_t lock; /* registrations and the finalizer queue (mutators) */
    mdn_weak_slot_entry *slots;
    size_t nslots, slots_capacity;
    mdn_ephemeron_entry *ephemerons;
    size_t nephemerons, ephemerons_capacity;
    uint32_t *pending; /* ephemerons whose value is not traced yet (one collection) */
    size_t pending_capacity;
    mdn_final_entry *finals; /* registered, not yet queued */
    size_t nfinals, finals_capacity;
    mdn_final_entry *queue; /* ready to run: [queue_head, nqueue) */
    size_t queue_head, nqueue, queue_capacity;
    mdn_weak_processor processor;
    void *processor_data;
    mdn_finalizer_notifier notifier;
    void *notifier_data;
    /* One collection's weak phase. */
    bool tracing; /* worker 0's copy allocator is prepared (.weak.retrace) */
    unsigned rounds;
    size_t cleared, queued;
} mdn_weak_state;

bool mdn_weak_create(mdn_heap *heap);
void mdn_weak_destroy(mdn_heap *heap);

/* Roots phase: the queued finalizable objects (.final.queue). */
void mdn_weak_scan_roots(mdn_heap *heap, mdn_tracer *t);
/* The weak phase, after the strong closure (world stopped). */
void mdn_weak_process(mdn_heap *heap);
/* Heap verifier: report every weak slot, ephemeron field and finalizable
 * object to the verifier's tracer `t` (.weak.verify). */
void mdn_weak_verify(mdn_heap *heap, mdn_tracer *t);

/* collector.c: the closure again, from what worker 0 traced since
 * (.weak.retrace). Worker 0's plan state must be prepared. */
void mdn_gc_reclose(mdn_heap *heap);

/* Shared by weak.c and finalize.c (world stopped). */
mdn_tracer *mdn_weak_tracer(mdn_heap *heap);
void mdn_weak_reclose(mdn_heap *heap);
/* finalize.c: choose, keep alive and queue the finalizable objects that
 * are unreachable (.final.choose). */
void mdn_finalize_choose(mdn_heap *heap);
/* finalize.c: update the registered objects' references (after the weak phase). */
void mdn_finalize_update(mdn_heap *heap);

/* fork.c (.weak.fork): prepare holds the table lock across fork() (world
 * stopped), the parent releases it, the child makes it anew. */
void mdn_weak_fork_prepare(mdn_heap *heap);
void mdn_weak_fork_parent(mdn_heap *heap);
void mdn_weak_fork_child(mdn_heap *heap);

/* The calling thread's mutator must be bound and RUNNING. */
void mdn_weak_require_running(const mdn_mutator *m, const char *check);

#endif
