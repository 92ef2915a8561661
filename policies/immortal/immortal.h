/*
 * immortal.h: the immortal policy (docs/design/overview.md .overview.policies): bump allocation into blocks
 * that are never reclaimed and never moved. Objects are marked during a
 * collection only so each reachable one is scanned once (its fields may
 * point into spaces that do move or reclaim).
 *
 * .immortal.partial: every collection retires every thread's region; the
 * rest of a partly used block is kept on a short list and handed to the
 * next refill that fits, instead of being lost (a thread that allocates an
 * immortal object now and then would otherwise waste most of a block per
 * collection). While a block is USED or ALLOCATING in this space its
 * vmspace link word (free-stack use only, and immortal blocks never return
 * to the free stack) holds the offset up to which its bytes were counted.
 */
#ifndef MDN_POLICY_IMMORTAL_H
#define MDN_POLICY_IMMORTAL_H

#include "core/block_pool.h"
#include "core/bump.h"
#include "core/policy.h"
#include "core/side_metadata.h"
#include "core/stats.h"
#include "core/trace.h"

#include <midden/vm.h>

/* Partly used blocks kept for reuse (.immortal.partial). */
#define MDN_IMMORTAL_PARTIAL_MAX 64
#define MDN_IMMORTAL_PARTIAL_MIN 1024 /* bytes left for a block to be worth keeping */

typedef struct mdn_immortal_space {
    mdn_block_pool pool;
    pthread_mutex_t partial_lock;
    mdn_bump_region partial[MDN_IMMORTAL_PARTIAL_MAX];
    size_t npartial;
    mdn_side_metadata marks; /* one bit per granule */
    unsigned id;
    mdn_stats_state *stats;  /* bytes allocated are counted per retired region */
    /* Generational plans (docs/design/generational.md .gen.sticky): marks
     * survive minor collections and marking sets the unlogged bit. */
    mdn_side_metadata *unlogged;
    bool minor;
} mdn_immortal_space;

/* The verbs of core/policy.h (.policy.verbs). */
bool mdn_immortal_init(mdn_immortal_space *s, mdn_heap *heap, unsigned id);
void mdn_immortal_destroy(mdn_immortal_space *s);

/* Slow path: bump in `r`, else take a fresh block from the budget. NULL when
 * the budget is used up. Memory is zeroed. */
void *mdn_immortal_alloc(mdn_immortal_space *s, mdn_bump_region *r, size_t size, size_t align);

/* Give up the region (count what it handed out). */
void mdn_immortal_retire(mdn_immortal_space *s, mdn_bump_region *r);

/* Clear marks before a collection. */
void mdn_immortal_prepare(mdn_immortal_space *s, mdn_heap *heap, bool full);
/* Nothing is reclaimed: returns the bytes in the space's blocks. */
size_t mdn_immortal_release(mdn_immortal_space *s, mdn_heap *heap);

static inline bool mdn_immortal_contains(const mdn_immortal_space *s, mdn_address a) {
    return mdn_vmspace_space_of(s->pool.vs, a) == s->id;
}

static inline mdn_objref mdn_immortal_trace_object(mdn_immortal_space *s, mdn_tracer *t, mdn_objref obj) {
    if (mdn_side_bit_set_k(&s->marks, mdn_vm_object_start(obj), MDN_LOG_GRANULE, true)) { /* .side.const */
        if (s->unlogged)
            mdn_side_bit_set_k(s->unlogged, mdn_objref_to_address(obj), MDN_LOG_GRANULE, true); /* .gen.unlog */
        mdn_tracer_enqueue(t, obj);
    }
    return obj;
}

static inline bool mdn_immortal_is_marked(const mdn_immortal_space *s, mdn_objref obj) {
    return mdn_side_bit_test(&s->marks, mdn_vm_object_start(obj));
}

/* Heap verifier (.verify.metadata): the block pool's free stack matches the
 * block states and no block of the space is ALLOCATING. World stopped. */
void mdn_immortal_verify(const mdn_immortal_space *s);
/* .policy.check: the kept partial regions lie in the space's blocks. */
void mdn_immortal_check(const mdn_immortal_space *s);
extern const mdn_policy mdn_immortal_policy;

/* Every aligned address of the space may be an object; all of them live. */
static inline bool mdn_immortal_is_live(const mdn_immortal_space *s, mdn_objref obj) {
    mdn_address start = mdn_vm_object_start(obj);
    return mdn_immortal_contains(s, start) && mdn_address_is_aligned(start, MDN_MIN_ALIGN);
}

/* .policy.reached: live is not reached here. Marked by the collection in
 * progress (between its closure and the next prepare): an unreached
 * immortal object stays valid itself, but the objects it points at may be
 * reclaimed, so the weak phase treats it as dead (docs/design/weak.md
 * .weak.queries). */
static inline bool mdn_immortal_is_reached(const mdn_immortal_space *s, mdn_objref obj) {
    return mdn_immortal_is_live(s, obj) && mdn_immortal_is_marked(s, obj);
}

/* Immortal objects never move. */
static inline mdn_objref mdn_immortal_forwarded(const mdn_immortal_space *s, mdn_objref obj) {
    (void)s;
    return obj;
}

/* Bytes in the space's blocks. */
size_t mdn_immortal_used_bytes(const mdn_immortal_space *s);

#endif
