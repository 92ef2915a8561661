/* block_pool.c: the lock-free free-block stack and chunk growth. */
#include "core/block_pool.h"

#include "core/poison.h"
#include "core/race.h"

#include <stdlib.h>
#include <string.h>

mdn_race_hook mdn_race_block_pop;
mdn_race_hook mdn_race_forward_claimed;

void mdn_block_pool_init(mdn_block_pool *pool, mdn_vmspace *vs, unsigned space) {
    memset(pool, 0, sizeof *pool);
    pool->vs = vs;
    pool->space = space;
    pthread_mutex_init(&pool->chunks_lock, NULL);
    MDN_CHECK(space <= MDN_SPACE_MAX);
    vs->pools[space] = pool; /* .block.trim */
}

void mdn_block_pool_destroy(mdn_block_pool *pool) {
    for (size_t i = 0; i < pool->nchunks; i++)
        mdn_vmspace_release_chunks(pool->vs, mdn_address_from_word(pool->chunks[i]), 1);
    mdn_array_free(pool->chunks, pool->chunks_capacity, sizeof *pool->chunks);
    pthread_mutex_destroy(&pool->chunks_lock);
    if (pool->vs && pool->vs->pools[pool->space] == pool)
        pool->vs->pools[pool->space] = NULL;
    memset(pool, 0, sizeof *pool);
}

static void push_free(mdn_block_pool *pool, size_t index) {
    uint64_t head = __atomic_load_n(&pool->free_head, __ATOMIC_RELAXED);
    uint64_t next;
    do {
        __atomic_store_n(&pool->vs->block_next[index], (uint32_t)(head & 0xffffffffu), __ATOMIC_RELAXED);
        next = (((head >> 32) + 1) << 32) | (uint64_t)(index + 1);
    } while (!__atomic_compare_exchange_n(&pool->free_head, &head, next, true, __ATOMIC_RELEASE, __ATOMIC_RELAXED));
    __atomic_fetch_add(&pool->free_count, 1, __ATOMIC_RELAXED);
}

static bool pop_free(mdn_block_pool *pool, size_t *index) {
    uint64_t head = __atomic_load_n(&pool->free_head, __ATOMIC_ACQUIRE);
    for (;;) {
        uint32_t top = (uint32_t)(head & 0xffffffffu);
        if (top == 0)
            return false;
        /* The link may be stale if another thread popped `top` meanwhile;
         * the tag makes the CAS below fail in that case (.block.stack). */
        uint32_t link = __atomic_load_n(&pool->vs->block_next[top - 1], __ATOMIC_RELAXED);
        MDN_RACE_POINT(mdn_race_block_pop, pool); /* .race.hooks */
        uint64_t next = (((head >> 32) + 1) << 32) | link;
        if (__atomic_compare_exchange_n(&pool->free_head, &head, next, true, __ATOMIC_ACQUIRE, __ATOMIC_ACQUIRE)) {
            *index = top - 1;
            __atomic_fetch_sub(&pool->free_count, 1, __ATOMIC_RELAXED);
            return true;
        }
    }
}

static bool grow(mdn_block_pool *pool) {
    pthread_mutex_lock(&pool->chunks_lock);
    /* Another thread may have grown the pool while this one waited. */
    if (__atomic_load_n(&pool->free_head, __ATOMIC_ACQUIRE) & 0xffffffffu) {
        pthread_mutex_unlock(&pool->chunks_lock);
        return true;
    }
    bool zeroed;
    mdn_address chunk = mdn_vmspace_acquire_chunks_dirty(pool->vs, 1, pool->space, &zeroed);
    if (mdn_address_is_zero(chunk)) {
        pthread_mutex_unlock(&pool->chunks_lock);
        return false;
    }
    /* Readers index `chunks` only while the pool cannot grow (during a
     * collection), so the array may move now. */
    pool->chunks = mdn_array_reserve(pool->chunks, pool->nchunks, &pool->chunks_capacity, sizeof *pool->chunks, 16,
                                     "growing a block pool");
    pool->chunks[pool->nchunks] = chunk.value;
    __atomic_store_n(&pool->nchunks, pool->nchunks + 1, __ATOMIC_RELEASE);
    size_t first = mdn_vmspace_block_index(pool->vs, chunk);
    /* Push in reverse so blocks are handed out in address order. */
    for (size_t i = MDN_BLOCKS_PER_CHUNK; i-- > 0;) {
        __atomic_store_n(&pool->vs->block_state[first + i], (uint8_t)MDN_BLOCK_FREE, __ATOMIC_RELAXED);
        pool->vs->block_flags[first + i] = zeroed ? 0 : MDN_BLOCK_FLAG_DIRTY;
        push_free(pool, first + i);
    }
    pthread_mutex_unlock(&pool->chunks_lock);
    return true;
}

mdn_address mdn_block_pool_acquire(mdn_block_pool *pool, bool *zeroed) {
    size_t index;
    while (!pop_free(pool, &index)) {
        if (!grow(pool))
            return mdn_address_zero();
    }
    mdn_address block = mdn_vmspace_block_at(pool->vs, index);
    bool owned = mdn_block_state_cas(pool->vs, block, MDN_BLOCK_FREE, MDN_BLOCK_ALLOCATING);
    MDN_CHECK(owned);
    (void)owned;
    if (zeroed)
        *zeroed = (mdn_block_flags_get(pool->vs, block) & MDN_BLOCK_FLAG_DIRTY) == 0;
    return block;
}

void mdn_block_pool_release(mdn_block_pool *pool, mdn_address block, bool dirty) {
    MDN_ASSERT(mdn_vmspace_space_of(pool->vs, block) == pool->space);
    uint8_t old = mdn_block_state_get(pool->vs, block);
    MDN_CHECK(old != MDN_BLOCK_FREE && old != MDN_BLOCK_UNOWNED);
    if (pool->vs->poison) { /* .poison.dirty */
        mdn_poison_range(mdn_address_to_ptr(block), MDN_BLOCK_SIZE);
        dirty = true;
    }
    mdn_block_flags_set(pool->vs, block, dirty ? MDN_BLOCK_FLAG_DIRTY : 0);
    mdn_block_state_set(pool->vs, block, MDN_BLOCK_FREE);
    push_free(pool, mdn_vmspace_block_index(pool->vs, block));
}

void mdn_block_pool_check(const mdn_block_pool *pool) {
    size_t on_stack = 0;
    uint64_t head = __atomic_load_n(&pool->free_head, __ATOMIC_ACQUIRE);
    for (uint32_t top = (uint32_t)(head & 0xffffffffu); top != 0; top = pool->vs->block_next[top - 1]) {
        MDN_CHECK(pool->vs->block_state[top - 1] == MDN_BLOCK_FREE);
        MDN_CHECK(on_stack++ <= pool->nchunks * MDN_BLOCKS_PER_CHUNK);
    }
    size_t free_states = 0;
    for (size_t c = 0; c < pool->nchunks; c++) {
        size_t first = mdn_vmspace_block_index(pool->vs, mdn_address_from_word(pool->chunks[c]));
        MDN_CHECK(mdn_vmspace_space_of(pool->vs, mdn_address_from_word(pool->chunks[c])) == pool->space);
        for (size_t i = 0; i < MDN_BLOCKS_PER_CHUNK; i++)
            free_states += pool->vs->block_state[first + i] == MDN_BLOCK_FREE;
    }
    MDN_CHECK(free_states == on_stack);
    MDN_CHECK(on_stack == pool->free_count);
}

/* .block.trim: world stopped. A chunk whose every block is FREE leaves the
 * pool for the heap-wide warm stack (which marks its blocks UNOWNED); the
 * free stack keeps its order minus those blocks. */
size_t mdn_block_pool_trim(mdn_block_pool *pool) {
    mdn_vmspace *vs = pool->vs;
    size_t kept = 0, gone = 0;
    for (size_t c = 0; c < pool->nchunks; c++) {
        mdn_address chunk = mdn_address_from_word(pool->chunks[c]);
        size_t first = mdn_vmspace_block_index(vs, chunk);
        size_t nfree = 0;
        for (size_t i = 0; i < MDN_BLOCKS_PER_CHUNK; i++)
            nfree += vs->block_state[first + i] == MDN_BLOCK_FREE;
        if (nfree == MDN_BLOCKS_PER_CHUNK) {
            mdn_vmspace_release_chunks(vs, chunk, 1);
            gone++;
        } else {
            pool->chunks[kept++] = pool->chunks[c];
        }
    }
    if (gone == 0)
        return 0;
    __atomic_store_n(&pool->nchunks, kept, __ATOMIC_RELEASE);
    /* Relink the survivors top down, in the same order. */
    uint64_t head = pool->free_head;
    uint32_t top = 0, *link = &top;
    size_t count = 0;
    for (uint32_t b = (uint32_t)(head & 0xffffffffu); b != 0; b = vs->block_next[b - 1]) {
        if (vs->block_state[b - 1] != MDN_BLOCK_FREE)
            continue;
        *link = b;
        link = &vs->block_next[b - 1];
        count++;
    }
    *link = 0;
    __atomic_store_n(&pool->free_head, (((head >> 32) + 1) << 32) | top, __ATOMIC_RELEASE);
    __atomic_store_n(&pool->free_count, count, __ATOMIC_RELAXED);
    return gone;
}

size_t mdn_vmspace_trim_pools(mdn_vmspace *vs) {
    size_t gone = 0;
    for (unsigned i = 0; i <= MDN_SPACE_MAX; i++)
        if (vs->pools[i])
            gone += mdn_block_pool_trim(vs->pools[i]);
    return gone;
}
