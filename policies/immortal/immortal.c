/* immortal.c: block refill and mark clearing for the immortal policy. */
#include "immortal.h"

#include "core/verify.h"

#include <string.h>

bool mdn_immortal_init(mdn_immortal_space *s, mdn_heap *heap, unsigned id) {
    mdn_vmspace *vs = &heap->vm;
    mdn_stats_state *stats = &heap->stats;
    memset(s, 0, sizeof *s);
    s->id = id;
    s->stats = stats;
    mdn_block_pool_init(&s->pool, vs, id);
    pthread_mutex_init(&s->partial_lock, NULL);
    return mdn_side_metadata_init(&s->marks, vs, MDN_LOG_GRANULE, 0, "immortal-mark");
}

void mdn_immortal_destroy(mdn_immortal_space *s) {
    pthread_mutex_destroy(&s->partial_lock);
    mdn_side_metadata_destroy(&s->marks);
    mdn_block_pool_destroy(&s->pool);
}

static uint32_t *counted_offset(const mdn_immortal_space *s, uintptr_t block) {
    return &s->pool.vs->block_next[mdn_vmspace_block_index(s->pool.vs, mdn_address_from_word(block))];
}

/* Take a kept partial block with room for `size` at `align` (.immortal.partial). */
static bool take_partial(mdn_immortal_space *s, mdn_bump_region *r, size_t size, size_t align) {
    bool found = false;
    pthread_mutex_lock(&s->partial_lock);
    for (size_t i = 0; i < s->npartial; i++) {
        mdn_bump_region *p = &s->partial[i];
        uintptr_t start = (p->cursor + (align - 1)) & ~(uintptr_t)(align - 1);
        if (start + size <= p->limit) {
            *r = *p;
            *p = s->partial[--s->npartial];
            found = true;
            break;
        }
    }
    pthread_mutex_unlock(&s->partial_lock);
    if (found)
        mdn_block_state_set(s->pool.vs, mdn_address_from_word(r->limit - MDN_BLOCK_SIZE), MDN_BLOCK_ALLOCATING);
    return found;
}

void *mdn_immortal_alloc(mdn_immortal_space *s, mdn_bump_region *r, size_t size, size_t align) {
    void *p = mdn_bump_alloc(r, size, align);
    if (p)
        return p;
    MDN_CHECK(size <= MDN_BLOCK_SIZE);
    mdn_bump_region fresh;
    if (take_partial(s, &fresh, size, align)) {
        mdn_immortal_retire(s, r);
        *r = fresh;
        return mdn_bump_alloc(r, size, align);
    }
    if (!mdn_budget_take(s->pool.vs, MDN_BLOCK_SIZE))
        return NULL;
    bool zeroed;
    mdn_address block = mdn_block_pool_acquire(&s->pool, &zeroed);
    if (mdn_address_is_zero(block)) {
        mdn_budget_give(s->pool.vs, MDN_BLOCK_SIZE);
        return NULL;
    }
    if (!zeroed)
        mdn_zero(mdn_address_to_ptr(block), MDN_BLOCK_SIZE);
    __atomic_store_n(counted_offset(s, block.value), 0u, __ATOMIC_RELAXED);
    mdn_immortal_retire(s, r);
    r->cursor = block.value;
    r->limit = block.value + MDN_BLOCK_SIZE;
    return mdn_bump_alloc(r, size, align);
}

void mdn_immortal_retire(mdn_immortal_space *s, mdn_bump_region *r) {
    if (!r->limit)
        return;
    /* The block stays full of immortal objects; it is never handed back. */
    uintptr_t block = r->limit - MDN_BLOCK_SIZE;
    /* Atomic: a thread popping the free stack may still read a stale link
     * word of a block another thread just took (.block.stack). */
    uint32_t *counted = counted_offset(s, block);
    mdn_stats_count_alloc(s->stats, r->cursor - (block + __atomic_load_n(counted, __ATOMIC_RELAXED)));
    __atomic_store_n(counted, (uint32_t)(r->cursor - block), __ATOMIC_RELAXED);
    mdn_block_state_set(s->pool.vs, mdn_address_from_word(block), MDN_BLOCK_USED);
    if (r->limit - r->cursor >= MDN_IMMORTAL_PARTIAL_MIN) {
        pthread_mutex_lock(&s->partial_lock);
        if (s->npartial < MDN_IMMORTAL_PARTIAL_MAX)
            s->partial[s->npartial++] = *r;
        pthread_mutex_unlock(&s->partial_lock);
    }
    r->cursor = r->limit = 0;
}

void mdn_immortal_prepare(mdn_immortal_space *s, mdn_heap *heap, bool full) {
    (void)heap, (void)full;
    if (s->minor)
        return; /* .gen.sticky */
    size_t n = mdn_block_pool_chunk_count(&s->pool);
    for (size_t i = 0; i < n; i++)
        mdn_side_clear_range(&s->marks, mdn_block_pool_chunk(&s->pool, i), MDN_CHUNK_SIZE);
}

size_t mdn_immortal_release(mdn_immortal_space *s, mdn_heap *heap) {
    (void)heap;
    return mdn_immortal_used_bytes(s);
}

size_t mdn_immortal_used_bytes(const mdn_immortal_space *s) {
    return (mdn_block_pool_chunk_count(&s->pool) * MDN_BLOCKS_PER_CHUNK - mdn_block_pool_free_count(&s->pool)) *
           MDN_BLOCK_SIZE;
}

void mdn_immortal_verify(const mdn_immortal_space *s) {
    mdn_block_pool_check(&s->pool);
    size_t n = mdn_block_pool_chunk_count(&s->pool);
    for (size_t i = 0; i < n; i++) {
        mdn_address chunk = mdn_block_pool_chunk(&s->pool, i);
        if (mdn_vmspace_space_of(s->pool.vs, chunk) != s->id)
            mdn_verify_fail("immortal chunk %p is not mapped to space %u", mdn_address_to_ptr(chunk), s->id);
        for (size_t b = 0; b < MDN_BLOCKS_PER_CHUNK; b++) {
            mdn_address block = mdn_address_add(chunk, b * MDN_BLOCK_SIZE);
            uint8_t st = mdn_block_state_get(s->pool.vs, block);
            if (st != MDN_BLOCK_FREE && st != MDN_BLOCK_USED)
                mdn_verify_fail("immortal block %p is in state %u", mdn_address_to_ptr(block), (unsigned)st);
        }
    }
}

/* .policy.check: the kept partial regions (.immortal.partial) are inside
 * blocks of the space, each with room left. */
void mdn_immortal_check(const mdn_immortal_space *s) {
    if (s->npartial > MDN_IMMORTAL_PARTIAL_MAX)
        mdn_verify_fail("immortal space %u keeps %zu partial blocks, at most %d", s->id, s->npartial,
                        MDN_IMMORTAL_PARTIAL_MAX);
    for (size_t i = 0; i < s->npartial; i++) {
        const mdn_bump_region *r = &s->partial[i];
        mdn_address block = mdn_address_from_word(r->limit - MDN_BLOCK_SIZE);
        if (r->cursor > r->limit || r->cursor < block.value || !mdn_address_is_aligned(block, MDN_BLOCK_SIZE) ||
            !mdn_immortal_contains(s, block))
            mdn_verify_fail("immortal partial region [%p, %p) is not the tail of a block of space %u",
                            (void *)r->cursor, (void *)r->limit, s->id);
    }
}

MDN_POLICY_DEFINE_REACHED(immortal, mdn_immortal_space);
