/*
 * vmspace.h: the heap's one contiguous reservation, its chunk map and the
 * heap budget (docs/design/overview.md .overview.memory).
 *
 * .vmspace.chunks: the reservation is split into 4 MiB chunks; a space takes
 * whole chunks (a run of them for huge objects) and the chunk map records the
 * owning space, so address → space is one load.
 * .vmspace.blocks: per-block tables indexed by the block's number in the
 * reservation hold the block state (see block_pool.h) and link words for the
 * lock-free block stacks.
 * .vmspace.budget: spaces take bytes from the heap budget before they use
 * memory and give them back when they free it; a refused take is what
 * triggers a collection. The budget is the heap policy's current limit
 * (docs/design/sizing.md .sizing.limit), never above `max`; a refused take
 * records its size so the policy can make room for it (.sizing.refused).
 * .vmspace.warm: a released chunk stays committed on the heap-wide warm
 * stack, and any space's next chunk comes from its top (most recently freed
 * first) before fresh memory is touched (docs/design/sizing.md .sizing.warm).
 * Chunks idle on the stack for a while go back to the OS in whole runs
 * (mdn_vmspace_return_idle, .sizing.return).
 */
#ifndef MDN_CORE_VMSPACE_H
#define MDN_CORE_VMSPACE_H

#include "core/layout.h"
#include "core/util.h"

#include <midden/types.h>

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct mdn_error;
struct mdn_block_pool;

/* Space ids in the chunk map; 0 means the chunk is free. */
enum { MDN_SPACE_NONE = 0, MDN_SPACE_MAX = 15 };

typedef struct mdn_vmspace {
    uintptr_t start; /* first byte, chunk aligned */
    uintptr_t end;   /* one past the last byte */
    size_t nchunks;
    size_t nblocks;
    uint8_t *chunk_space;   /* space id per chunk */
    uint8_t *block_state;   /* per block, atomic byte */
    uint8_t *block_flags;   /* per block, owned by the block's owner */
    uint32_t *block_next;   /* per block link for lock-free stacks */
    pthread_mutex_t chunk_lock;
    size_t chunk_hint;
    size_t budget;          /* the heap policy's current limit in bytes (atomic) */
    size_t max;             /* the most the budget may grow to */
    size_t used;            /* bytes taken from the budget (atomic) */
    size_t refused;         /* bytes refused since the last collection (atomic) */
    size_t external;        /* bytes counted by mdn_external_alloc (atomic) */
    struct mdn_block_pool *pools[MDN_SPACE_MAX + 1]; /* block pools by space id */
    /* .vmspace.warm, under chunk_lock: indices of released, still committed
     * chunks, oldest first, and when each was released. */
    uint32_t *warm;
    size_t nwarm;
    uint64_t *chunk_freed_gc;  /* per chunk: collection count at release */
    uint64_t *chunk_freed_ns;  /* per chunk: time of release; 0 when not warm */
    uint32_t *scratch;         /* per chunk scratch for mdn_vmspace_return_idle */
    uint64_t gc_count;         /* collections so far (for idle ages) */
    size_t returned_bytes;     /* bytes given back to the OS by mdn_vmspace_return_idle */
    size_t committed;       /* bytes in acquired chunks (atomic) */
    size_t peak_committed;  /* most bytes in acquired chunks at once (atomic) */
    bool poison;            /* option `poison`: fill released blocks, protect released chunks */
} mdn_vmspace;

/* Reserve `reserve` bytes (rounded up to chunks) for a heap of `budget`
 * (also its maximum until the caller sets `max`). */
bool mdn_vmspace_init(mdn_vmspace *vs, size_t reserve, size_t budget, struct mdn_error *err);
void mdn_vmspace_destroy(mdn_vmspace *vs);

/* Take a run of `n` free chunks for `space`, committed and zero-filled.
 * Zero address when the reservation has no such run. */
mdn_address mdn_vmspace_acquire_chunks(mdn_vmspace *vs, size_t n, unsigned space);
/* The same, but the memory may hold old bytes: *zeroed says whether it is
 * known to be zero (a warm chunk is not). */
mdn_address mdn_vmspace_acquire_chunks_dirty(mdn_vmspace *vs, size_t n, unsigned space, bool *zeroed);
/* Return a run of chunks to the heap-wide warm stack: the memory stays
 * committed for the next space that needs a chunk (and is made inaccessible
 * until acquired again when the heap poisons). */
void mdn_vmspace_release_chunks(mdn_vmspace *vs, mdn_address start, size_t n);
/* .sizing.return: give warm chunks released at least `after_gcs`
 * collections ago (0: no such rule) or at least `after_ns` ago (0: no such
 * rule) back to the OS, adjacent chunks as one range. Returns the bytes
 * given back. */
size_t mdn_vmspace_return_idle(mdn_vmspace *vs, uint64_t after_gcs, uint64_t after_ns);
/* Bytes in warm chunks (committed, owned by no space). */
size_t mdn_vmspace_warm_bytes(mdn_vmspace *vs);

static inline bool mdn_vmspace_contains(const mdn_vmspace *vs, mdn_address a) {
    return a.value - vs->start < vs->end - vs->start;
}
static inline size_t mdn_vmspace_chunk_index(const mdn_vmspace *vs, mdn_address a) {
    return (a.value - vs->start) >> MDN_LOG_CHUNK;
}
/* The space owning the chunk of `a`, MDN_SPACE_NONE outside the heap. */
static inline unsigned mdn_vmspace_space_of(const mdn_vmspace *vs, mdn_address a) {
    /* The reservation is nchunks whole chunks: the index's bound is the
     * containment test (one load fewer than mdn_vmspace_contains). */
    size_t i = mdn_vmspace_chunk_index(vs, a);
    if (MDN_UNLIKELY(i >= vs->nchunks))
        return MDN_SPACE_NONE;
    return __atomic_load_n(&vs->chunk_space[i], __ATOMIC_RELAXED);
}
static inline size_t mdn_vmspace_block_index(const mdn_vmspace *vs, mdn_address a) {
    return (a.value - vs->start) >> MDN_LOG_BLOCK;
}
static inline mdn_address mdn_vmspace_block_at(const mdn_vmspace *vs, size_t index) {
    return mdn_address_from_word(vs->start + (index << MDN_LOG_BLOCK));
}

/* The policy's current limit. */
static inline size_t mdn_budget_limit(const mdn_vmspace *vs) { return __atomic_load_n(&vs->budget, __ATOMIC_RELAXED); }
/* Record a refused request of `bytes` (.sizing.refused). */
static inline void mdn_budget_refuse(mdn_vmspace *vs, size_t bytes) {
    __atomic_fetch_add(&vs->refused, bytes, __ATOMIC_RELAXED);
}

/* Take `bytes` from the budget; false (and nothing taken, the refusal
 * recorded) if it would exceed it. */
static inline bool mdn_budget_take(mdn_vmspace *vs, size_t bytes) {
    size_t used = __atomic_load_n(&vs->used, __ATOMIC_RELAXED);
    do {
        if (used + bytes > mdn_budget_limit(vs) || used + bytes < used) {
            mdn_budget_refuse(vs, bytes);
            return false;
        }
    } while (!__atomic_compare_exchange_n(&vs->used, &used, used + bytes, true, __ATOMIC_RELAXED,
                                          __ATOMIC_RELAXED));
    return true;
}
/* Take `bytes` even past the budget (collector copy reserve). */
static inline void mdn_budget_force_take(mdn_vmspace *vs, size_t bytes) {
    __atomic_fetch_add(&vs->used, bytes, __ATOMIC_RELAXED);
}
static inline void mdn_budget_give(mdn_vmspace *vs, size_t bytes) {
    size_t old = __atomic_fetch_sub(&vs->used, bytes, __ATOMIC_RELAXED);
    MDN_ASSERT(old >= bytes);
    (void)old;
}
static inline size_t mdn_budget_used(const mdn_vmspace *vs) { return __atomic_load_n(&vs->used, __ATOMIC_RELAXED); }

#endif
