/*
 * nonmoving.h: a small non-moving, reclaiming space for plans whose main
 * space moves objects: segregated size classes, mark bits, sweep.
 *
 * .nm.cells: each block holds cells of one size class (recorded in a byte
 * per block). Free cells of a class are on one list linked through their
 * first word; a valid bit per granule marks the cells that hold objects.
 * .nm.alloc: allocation takes the space's lock (objects that must not move
 * are rare next to ordinary ones) and clears the whole cell, so memory is
 * zero whatever the cell held before.
 * .nm.sweep: after a collection, each valid but unmarked cell is freed; a
 * block with no live cell goes back to the pool and the budget; the free
 * lists are rebuilt in block order. Marks stay until the next prepare
 * clears them, so after a collection a marked valid cell is a live object
 * (is_live).
 * .nm.align: a cell size that is a multiple of the alignment gives aligned
 * cells (blocks are block aligned), so any alignment up to a page is
 * served by choosing the class.
 */
#ifndef MDN_POLICY_NONMOVING_H
#define MDN_POLICY_NONMOVING_H

#include "core/block_pool.h"
#include "core/policy.h"
#include "core/side_metadata.h"
#include "core/stats.h"
#include "core/trace.h"

#include <midden/vm.h>

#include <pthread.h>

/* Largest object the space takes. */
#define MDN_NONMOVING_MAX_SIZE ((size_t)8192)
#define MDN_NONMOVING_CLASSES 33

typedef struct mdn_nonmoving_space {
    mdn_block_pool pool;
    mdn_side_metadata valid;       /* one bit per granule: a cell holding an object starts here */
    mdn_side_metadata marks;       /* one bit per granule */
    mdn_side_metadata block_class; /* one byte per block: class index + 1, 0 when unused */
    pthread_mutex_t lock;
    void *free[MDN_NONMOVING_CLASSES];
    size_t live_bytes;             /* bytes of cells holding objects */
    size_t nblocks;                /* blocks in use (charged to the budget) */
    unsigned id;
    mdn_stats_state *stats;
} mdn_nonmoving_space;

/* The verbs of core/policy.h (.policy.verbs). */
bool mdn_nonmoving_init(mdn_nonmoving_space *s, mdn_heap *heap, unsigned id);
void mdn_nonmoving_destroy(mdn_nonmoving_space *s);

/* Zeroed memory for `size` bytes aligned to `align` (a power of two up to
 * a page). NULL when the budget is used up or no class fits (size too
 * large for the space: the caller routes it elsewhere). */
void *mdn_nonmoving_alloc(mdn_nonmoving_space *s, size_t size, size_t align);
/* Can the space serve this request at all? */
bool mdn_nonmoving_fits(size_t size, size_t align);

/* Before the closure: clear the marks. */
void mdn_nonmoving_prepare(mdn_nonmoving_space *s, mdn_heap *heap, bool full);
/* After the closure: free unmarked objects (.nm.sweep). Returns the bytes
 * still live. */
size_t mdn_nonmoving_release(mdn_nonmoving_space *s, mdn_heap *heap);
/* Heap verifier (.nm.verify) and structure check (.policy.check). */
void mdn_nonmoving_verify(mdn_nonmoving_space *s);
void mdn_nonmoving_check(const mdn_nonmoving_space *s);
extern const mdn_policy mdn_nonmoving_policy;

static inline bool mdn_nonmoving_contains(const mdn_nonmoving_space *s, mdn_address a) {
    return mdn_vmspace_space_of(s->pool.vs, a) == s->id;
}

static MDN_ALWAYS_INLINE mdn_objref mdn_nonmoving_trace_object(mdn_nonmoving_space *s, mdn_tracer *t, mdn_objref obj,
                                                               mdn_address start) {
    if (mdn_side_bit_set_atomic(&s->marks, start))
        mdn_tracer_enqueue(t, obj);
    return obj;
}

static inline bool mdn_nonmoving_is_object_start(const mdn_nonmoving_space *s, mdn_address a) {
    return mdn_nonmoving_contains(s, a) && mdn_side_bit_test(&s->valid, a);
}

/* A cell holding an object that the collection marked. */
static inline bool mdn_nonmoving_is_live(const mdn_nonmoving_space *s, mdn_objref obj) {
    mdn_address start = mdn_vm_object_start(obj);
    return mdn_nonmoving_is_object_start(s, start) && mdn_side_bit_test(&s->marks, start);
}

static inline mdn_objref mdn_nonmoving_forwarded(const mdn_nonmoving_space *s, mdn_objref obj) {
    (void)s;
    return obj;
}

#endif
