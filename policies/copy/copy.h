/*
 * copy.h: the copy policy (docs/design/overview.md .overview.policies): bump allocation into blocks owned by
 * one thread, tracing by forwarding and copying, reclaiming by flipping the
 * whole space.
 *
 * .copy.halves: the two halves are sets of blocks from one block pool, not
 * contiguous ranges. The block state says which half a block is in: during
 * a collection every block that held objects at the flip is COPY_FROM;
 * blocks taken while copying are ALLOCATING then USED, i.e. to-space.
 * Outside a collection there is only one half (USED blocks): the one the
 * mutators allocate into. After the closure the from-space blocks go back
 * to the pool, dirty.
 * .copy.regions: a thread-local allocator is a main bump region plus an
 * overflow region for medium objects (more than 1/8 of a block) that do not
 * fit the rest of the main block, so a medium object never wastes the tail
 * of a block that small objects could still fill (Immix's overflow
 * allocation). Mutators' main region is their inline-path region; each GC
 * worker has its own regions for copying.
 * .copy.zero: memory handed to mutators is zero: a dirty block is cleared
 * when a mutator takes it (fresh chunks are zero). Blocks taken for copying
 * are not cleared: every byte an object occupies is copied over.
 * .copy.budget: the copy reserve. A block holding objects outside a
 * collection is charged twice its size to the heap budget: once for itself
 * and once for the to-space its survivors may need. Blocks taken while
 * copying are not charged (they use the reserve). At the end of a
 * collection the from-space charge is given back and the to-space blocks
 * are charged twice (forced: survivors must be kept); if that leaves the
 * heap over budget, every allocation fails until a later collection frees
 * enough, which ends in the VM's out-of-memory hook. Copying never fails
 * for want of budget, so it never leaves a half-copied heap.
 * .copy.forward: forwarding state in side metadata (core/forwarding.h);
 * the first worker to claim an object copies it, the others wait for its
 * pointer. After the collection the forwarding bits of the from-space are
 * cleared in bulk, block by block.
 * .copy.single: with one GC worker nothing can race for an object, so the
 * claim and the publication are plain stores instead of two locked
 * read-modify-writes per copied object (about a fifth of the cost of
 * copying a small object).
 * .copy.promote: a copy space may be a nursery whose survivors go to
 * another space (docs/design/generational.md .gen.promote): the trace
 * forwards with a placer that allocates there (mdn_copy_forward_object),
 * no to-space block is taken, and release frees every from-space block.
 * Its blocks are charged once, not twice: the other space takes the
 * survivors' blocks from the budget as it copies them in, and a mutator
 * refill leaves `headroom_bytes` of the budget free for them.
 * .copy.cap: a nursery is bounded in blocks, not only by the budget: a
 * mutator refill past the cap fails, which starts a collection.
 */
#ifndef MDN_POLICY_COPY_H
#define MDN_POLICY_COPY_H

#include "core/block_pool.h"
#include "core/bump.h"
#include "core/forwarding.h"
#include "core/policy.h"
#include "core/race.h"
#include "core/stats.h"
#include "core/trace.h"

#include <midden/vm.h>

#include <string.h>

/* Blocks of the half being evacuated. */
enum { MDN_COPY_BLOCK_FROM = MDN_BLOCK_POLICY };

#define MDN_COPY_POISON_BYTE 0xdb

/* Objects above this size use the overflow region when they do not fit. */
#define MDN_COPY_MEDIUM_SIZE (MDN_BLOCK_SIZE / 8)

typedef struct mdn_copy_space {
    mdn_block_pool pool;
    mdn_forwarding fwd;
    unsigned id;
    mdn_stats_state *stats;
    size_t blocks;      /* blocks holding objects, charged (.copy.budget) outside a collection */
    size_t from_blocks; /* blocks flipped to from-space by the last prepare */
    size_t to_blocks;   /* blocks that survivors filled in the last collection */
    bool in_collection;
    bool single_worker; /* .copy.single: the collection runs on one GC worker */
    /* .copy.promote: survivors are copied into another space (a nursery):
     * blocks are charged once, mutator refills leave headroom_bytes of the
     * budget free, release counts no live bytes of its own. */
    bool promotes;
    size_t headroom_bytes;
    /* .copy.cap: mutators take no block past this many blocks holding
     * objects; 0 means no cap (the budget alone limits the space). */
    size_t max_blocks;
} mdn_copy_space;

/* A GC worker's copy allocator. */
typedef struct mdn_copy_allocator {
    mdn_bump_region main;
    mdn_bump_region overflow;
} mdn_copy_allocator;

/* The verbs of core/policy.h (.policy.verbs). */
bool mdn_copy_init(mdn_copy_space *s, mdn_heap *heap, unsigned id);
void mdn_copy_destroy(mdn_copy_space *s);

/* Mutator slow path: `main` is the thread's inline-path region, `overflow`
 * its medium-object region. Takes a new block (charged, zeroed) when
 * the object does not fit. NULL when the budget is used up. */
void *mdn_copy_alloc(mdn_copy_space *s, mdn_bump_region *main, mdn_bump_region *overflow, size_t size);
/* Give up a mutator region: its block holds objects (USED). */
void mdn_copy_retire(mdn_copy_space *s, mdn_bump_region *r);

/* The flip, world stopped, every region retired: the blocks holding objects
 * become from-space (heap->nworkers GC workers will copy). */
void mdn_copy_prepare(mdn_copy_space *s, mdn_heap *heap, bool full);
/* A GC worker's allocator: empty at the start, retired after the closure. */
void mdn_copy_allocator_init(mdn_copy_allocator *a);
void mdn_copy_allocator_retire(mdn_copy_space *s, mdn_copy_allocator *a);
/* Slow path for copying: a new to-space block. Never fails (aborts with a
 * message if the address-space reservation itself is exhausted). */
void *mdn_copy_alloc_to_space(mdn_copy_space *s, mdn_copy_allocator *a, size_t size);
/* After the closure: release the from-space, settle the budget (.copy.budget).
 * With the `poison` option the released blocks are filled with
 * MDN_COPY_POISON_BYTE, so a stale reference into them reads garbage at
 * once. Returns the bytes the GC workers copied (the live bytes). */
size_t mdn_copy_release(mdn_copy_space *s, mdn_heap *heap);
/* Heap verifier (.copy.verify) and structure check (.policy.check). */
void mdn_copy_verify(mdn_copy_space *s);
void mdn_copy_check(const mdn_copy_space *s);
extern const mdn_policy mdn_copy_policy;

static inline bool mdn_copy_contains(const mdn_copy_space *s, mdn_address a) {
    return mdn_vmspace_space_of(s->pool.vs, a) == s->id;
}

/* Is `start` in a from-space block (during a collection)? */
static inline bool mdn_copy_in_from_space(const mdn_copy_space *s, mdn_address start) {
    return mdn_block_state_get(s->pool.vs, start) == MDN_COPY_BLOCK_FROM;
}

/* Copy `size` bytes (a multiple of the word size). Small objects dominate:
 * a word loop beats a call for them. */
static inline void mdn_copy_bytes(void *to, const void *from, size_t size) {
    if (size <= 64) {
        uint64_t *d = to;
        const uint64_t *f = from;
        size_t i = 0;
        for (; i + 16 <= size; i += 16) {
            d[i / 8] = f[i / 8];
            d[i / 8 + 1] = f[i / 8 + 1];
        }
        if (i < size)
            d[i / 8] = f[i / 8];
    } else {
        memcpy(to, from, size);
    }
}

/* .copy.single: publish a copy with plain stores (one GC worker only). */
static inline void mdn_copy_forward_unshared(const mdn_copy_space *s, mdn_address start, mdn_objref to) {
    mdn_address_store_word(start, to.value);
    uint8_t *byte = mdn_side_byte_ptr(&s->fwd.bits, start);
    __atomic_store_n(byte, (uint8_t)(*byte | (MDN_FWD_DONE << mdn_forwarding_shift(start))), __ATOMIC_RELAXED);
}

/* Where the copy of an object of `size` bytes goes: a fresh `size`-byte
 * area that the caller fills. A to-space block of the space itself, or a
 * space of another policy (.copy.promote). `ctx` is the placer's state. */
typedef void *(*mdn_copy_place_fn)(mdn_copy_space *s, void *ctx, size_t size);

/* Forward `obj` (whose start is `start`, in this space): copy it on first
 * reach to where `place` says and enqueue the copy for scanning; return its
 * new reference. Objects outside from-space are returned unchanged. Always
 * inlined, so a constant `place` is inlined too. */
static MDN_ALWAYS_INLINE mdn_objref mdn_copy_forward_object(mdn_copy_space *s, mdn_tracer *t, mdn_objref obj,
                                                            mdn_address start, mdn_copy_place_fn place, void *ctx) {
    if (!mdn_copy_in_from_space(s, start))
        return obj;
    if (mdn_forwarding_state(&s->fwd, start) == MDN_FWD_DONE)
        return mdn_forwarding_pointer(start);
    if (!s->single_worker && !mdn_forwarding_try_claim(&s->fwd, start)) {
        mdn_objref to = mdn_forwarding_wait(&s->fwd, start);
        MDN_CHECK(!mdn_objref_is_null(to)); /* claims are never abandoned */
        return to;
    }
    MDN_RACE_POINT(mdn_race_forward_claimed, mdn_address_to_ptr(start)); /* docs/design/reliability.md .race.hooks */
    size_t size = mdn_vm_object_size(obj);
    void *copy = place(s, ctx, size);
    mdn_copy_bytes(copy, mdn_address_to_ptr(start), size);
    mdn_objref to = mdn_vm_objref_from_start(mdn_address_from_ptr(copy));
    if (s->single_worker)
        mdn_copy_forward_unshared(s, start, to);
    else
        mdn_forwarding_complete(&s->fwd, start, to);
    t->bytes_copied += size;
    if (mdn_vm_object_moved)
        mdn_vm_object_moved(obj, to);
    mdn_tracer_enqueue(t, to);
    return to;
}

/* The space's own to-space: `ctx` is the GC worker's copy allocator. */
static MDN_ALWAYS_INLINE void *mdn_copy_place_to_space(mdn_copy_space *s, void *ctx, size_t size) {
    mdn_copy_allocator *a = ctx;
    void *copy = mdn_bump_alloc(&a->main, size, MDN_GRANULE_SIZE);
    if (MDN_UNLIKELY(copy == NULL))
        copy = mdn_copy_alloc_to_space(s, a, size);
    return copy;
}

/* Forward `obj` into the space's to-space with the worker's allocator `a`. */
static MDN_ALWAYS_INLINE mdn_objref mdn_copy_trace_object(mdn_copy_space *s, mdn_copy_allocator *a, mdn_tracer *t,
                                                          mdn_objref obj, mdn_address start) {
    return mdn_copy_forward_object(s, t, obj, start, mdn_copy_place_to_space, a);
}

/* Reached by the collection: copied out of from-space (after the closure),
 * or in a block holding objects (to-space; after the collection the only
 * half). */
static inline bool mdn_copy_is_live(const mdn_copy_space *s, mdn_objref obj) {
    mdn_address start = mdn_vm_object_start(obj);
    if (!mdn_copy_contains(s, start) || !mdn_address_is_aligned(start, MDN_MIN_ALIGN))
        return false;
    uint8_t st = mdn_block_state_get(s->pool.vs, start);
    if (st == MDN_COPY_BLOCK_FROM)
        return mdn_forwarding_state(&s->fwd, start) == MDN_FWD_DONE;
    return st == MDN_BLOCK_USED || st == MDN_BLOCK_ALLOCATING;
}

/* The new reference of an object copied by the collection in progress. */
static inline mdn_objref mdn_copy_forwarded(const mdn_copy_space *s, mdn_objref obj) {
    mdn_address start = mdn_vm_object_start(obj);
    if (mdn_copy_in_from_space(s, start) && mdn_forwarding_state(&s->fwd, start) == MDN_FWD_DONE)
        return mdn_forwarding_pointer(start);
    return obj;
}

#endif
