/*
 * gen.h: the generational part of the common plan layer
 * (docs/design/generational.md): the unlogged bits the inline write barrier
 * tests (.gen.barrier), each mutator's modified-object buffer and the
 * remembered set it is flushed into (.gen.log, .gen.remset), and the
 * choice between minor and full collections (.gen.policy). A plan whose
 * plan_desc says `generational` gets all of it from plans/common; its own
 * spaces keep sticky marks (.gen.sticky) and set the unlogged bit of every
 * object they mark.
 */
#ifndef MDN_PLANS_GEN_H
#define MDN_PLANS_GEN_H

#include "core/heap.h"
#include "core/side_metadata.h"
#include "core/trace.h"

#include <pthread.h>

/* .gen.log: entries of a mutator's modified-object buffer. */
#define MDN_GEN_BUFFER_ENTRIES 62

/* .gen.backoff: the most rule (c) of .gen.policy is stretched. */
#define MDN_GEN_AGED_SCALE_MAX 16

typedef struct mdn_gen_buffer {
    size_t count;
    uintptr_t entries[MDN_GEN_BUFFER_ENTRIES];
} mdn_gen_buffer;

typedef struct mdn_gen {
    mdn_side_metadata unlogged; /* one bit per granule, indexed by the reference */
    uintptr_t bias;             /* mdn_mutator_fast.barrier_bias */
    pthread_mutex_t lock;       /* the remembered set */
    uintptr_t *remset;          /* .gen.remset: logged objects, flushed buffers */
    size_t nremset, remset_capacity;
    bool minor;                 /* the collection in progress is minor */
    bool next_full;             /* .gen.policy: the next default collection is full */
    size_t used_before;         /* budget used when the collection started */
    uint64_t allocated_mark;    /* bytes_allocated when the last collection ended */
    uint64_t allocated_since;   /* bytes allocated between the last collection and this one */
    uint64_t allocated_since_full; /* bytes allocated since the last full collection */
    size_t used_after_full;     /* budget used after the last full collection */
    size_t used_after;          /* budget used after the last collection, minor or full */
    unsigned aged_scale;        /* .gen.backoff: multiplier of gen-full-alloc, 1 to MDN_GEN_AGED_SCALE_MAX */
    bool aged;                  /* the collection in progress is full by rule (c) alone */
    bool next_aged;             /* the next one is full by rule (c) alone */
    /* Figures (verbose=2, tests). */
    uint64_t minor_collections, full_collections;
    uint64_t logged;            /* objects logged by the barrier, as of the last flush */
    uint64_t flushes;           /* buffers flushed into the remembered set */
    size_t last_remembered;     /* remembered objects scanned by the last minor collection */
    unsigned last_yield;        /* percent reclaimed of what was allocated, last minor collection */
} mdn_gen;

bool mdn_gen_init(mdn_gen *g, mdn_heap *heap);
void mdn_gen_destroy(mdn_gen *g);

/* A mutator's barrier state: the table's bias and an empty buffer. */
void mdn_gen_mutator_init(const mdn_gen *g, mdn_mutator *m, mdn_gen_buffer *b);
/* Move the buffer's entries to the remembered set (collection start,
 * unbind, a full buffer). */
void mdn_gen_flush(mdn_gen *g, mdn_gen_buffer *b);
/* .gen.log: the barrier's slow path. */
void mdn_gen_log(mdn_gen *g, mdn_gen_buffer *b, mdn_objref obj);

/* .gen.policy: decide at the start of a collection; returns true for full. */
bool mdn_gen_collection_full(mdn_gen *g, mdn_heap *heap, bool requested);
/* After the spaces' release: the figures the next decision uses. */
void mdn_gen_released(mdn_gen *g, mdn_heap *heap);
/* .gen.remset: a minor collection traces the remembered objects (worker
 * 0, after the roots); any collection then forgets them. */
void mdn_gen_scan_remembered(mdn_gen *g, mdn_heap *heap, mdn_tracer *t);

static inline bool mdn_gen_is_unlogged(const mdn_side_metadata *unlogged, mdn_objref obj) {
    return mdn_side_bit_test(unlogged, mdn_objref_to_address(obj));
}

/* .gen.unlog: a marked object is old after the collection: set its
 * unlogged bit so the barrier logs its next modification. `parallel`:
 * other GC workers set bits of the same bytes. */
static inline void mdn_gen_set_unlogged(const mdn_side_metadata *unlogged, mdn_objref obj, bool parallel) {
    mdn_side_bit_set(unlogged, mdn_objref_to_address(obj), parallel);
}

#endif
