/*
 * block_pool.h: a space's blocks and their ownership (docs/design/overview.md .overview.memory).
 *
 * .block.states: every block of a space's chunks has a state byte in the
 * vmspace table. FREE blocks sit on the pool's lock-free stack; a thread
 * that pops one owns it as ALLOCATING and is the only thread that may
 * allocate into it; it hands it back as USED (or a policy state). Every
 * transition is an atomic store or compare-and-swap on the state byte.
 * .block.stack: the free stack is a Treiber stack over block indices with a
 * 32-bit tag in the head word against ABA; links live in the vmspace's
 * per-block table, which is never unmapped while the heap lives.
 * .block.grow: when the stack is empty the pool takes a new chunk (under the
 * vmspace's chunk lock, once per 128 blocks): the heap-wide warm stack's
 * top if there is one (its blocks then start DIRTY), else fresh memory.
 * .block.trim: after a collection, chunks whose every block is FREE go back
 * to the heap-wide warm stack, so any space can take them next
 * (docs/design/sizing.md .sizing.pool).
 */
#ifndef MDN_CORE_BLOCK_POOL_H
#define MDN_CORE_BLOCK_POOL_H

#include "core/vmspace.h"

#include <midden/types.h>

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum mdn_block_state {
    MDN_BLOCK_UNOWNED = 0,    /* not in any space */
    MDN_BLOCK_FREE = 1,       /* on the pool's free stack */
    MDN_BLOCK_ALLOCATING = 2, /* owned by one thread's allocator */
    MDN_BLOCK_USED = 3,       /* retired: holds objects */
    MDN_BLOCK_POLICY = 8,     /* first state a policy may define */
} mdn_block_state;

/* Per-block flags (vmspace block_flags), written only by the block's owner. */
enum { MDN_BLOCK_FLAG_DIRTY = 1 }; /* memory may be non-zero */

typedef struct mdn_block_pool {
    mdn_vmspace *vs;
    unsigned space;
    uint64_t free_head;     /* (tag << 32) | (index + 1); 0 when empty (atomic) */
    size_t free_count;      /* blocks on the stack (atomic, approximate) */
    pthread_mutex_t chunks_lock;
    uintptr_t *chunks;      /* chunk starts, in acquisition order */
    size_t nchunks;         /* published with release order */
    size_t chunks_capacity;
} mdn_block_pool;

void mdn_block_pool_init(mdn_block_pool *pool, mdn_vmspace *vs, unsigned space);
/* Give every chunk back to the vmspace. */
void mdn_block_pool_destroy(mdn_block_pool *pool);

/* Pop a FREE block and own it (state ALLOCATING). Takes a new chunk when
 * empty. Zero address when the reservation is exhausted. *zeroed tells
 * whether the memory is known to be zero. */
mdn_address mdn_block_pool_acquire(mdn_block_pool *pool, bool *zeroed);
/* Push a block back as FREE; `dirty` when it may hold non-zero bytes. */
void mdn_block_pool_release(mdn_block_pool *pool, mdn_address block, bool dirty);

/* .block.trim: give chunks whose every block is FREE back to the vmspace's
 * warm stack. World stopped. Returns the number of chunks given back. */
size_t mdn_block_pool_trim(mdn_block_pool *pool);
/* Trim every pool registered with `vs` (pools register at init). */
size_t mdn_vmspace_trim_pools(mdn_vmspace *vs);

/* Number of chunks and chunk i (stable while no thread grows the pool, e.g.
 * during a collection). */
static inline size_t mdn_block_pool_chunk_count(const mdn_block_pool *pool) {
    return __atomic_load_n(&pool->nchunks, __ATOMIC_ACQUIRE);
}
static inline mdn_address mdn_block_pool_chunk(const mdn_block_pool *pool, size_t i) {
    return mdn_address_from_word(pool->chunks[i]);
}
static inline size_t mdn_block_pool_free_count(const mdn_block_pool *pool) {
    return __atomic_load_n(&pool->free_count, __ATOMIC_RELAXED);
}

static inline uint8_t mdn_block_state_get(const mdn_vmspace *vs, mdn_address block) {
    return __atomic_load_n(&vs->block_state[mdn_vmspace_block_index(vs, block)], __ATOMIC_ACQUIRE);
}
static inline void mdn_block_state_set(const mdn_vmspace *vs, mdn_address block, uint8_t state) {
    __atomic_store_n(&vs->block_state[mdn_vmspace_block_index(vs, block)], state, __ATOMIC_RELEASE);
}
/* Atomically move a block from `from` to `to`; false if it was not in `from`. */
static inline bool mdn_block_state_cas(const mdn_vmspace *vs, mdn_address block, uint8_t from, uint8_t to) {
    return __atomic_compare_exchange_n(&vs->block_state[mdn_vmspace_block_index(vs, block)], &from, to, false,
                                       __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE);
}
static inline uint8_t mdn_block_flags_get(const mdn_vmspace *vs, mdn_address block) {
    return vs->block_flags[mdn_vmspace_block_index(vs, block)];
}
static inline void mdn_block_flags_set(const mdn_vmspace *vs, mdn_address block, uint8_t flags) {
    vs->block_flags[mdn_vmspace_block_index(vs, block)] = flags;
}

/* Debug check of the pool's invariants (free stack ⇔ FREE states). Only
 * when no other thread uses the pool. */
void mdn_block_pool_check(const mdn_block_pool *pool);

#endif
