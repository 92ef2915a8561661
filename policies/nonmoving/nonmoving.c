/* nonmoving.c: size classes, cell allocation and the sweep (.nm.*). */
#include "nonmoving.h"

#include "core/poison.h"
#include "core/verify.h"

#include <string.h>

/* Cell sizes: word multiples growing by about 1/4 per step, every power of
 * two included (for aligned requests). */
static const uint16_t class_size[MDN_NONMOVING_CLASSES] = {
    16,  24,  32,  48,  64,   80,   96,   112,  128,  160,  192,  224,  256,  320,  384,  448,  512,
    640, 768, 896, 1024, 1280, 1536, 1792, 2048, 2560, 3072, 3584, 4096, 5120, 6144, 7168, 8192,
};

static int class_for(size_t size, size_t align) {
    for (int c = 0; c < MDN_NONMOVING_CLASSES; c++)
        if (class_size[c] >= size && class_size[c] % align == 0)
            return c;
    return -1;
}

bool mdn_nonmoving_fits(size_t size, size_t align) { return class_for(size, align) >= 0; }

bool mdn_nonmoving_init(mdn_nonmoving_space *s, mdn_heap *heap, unsigned id) {
    mdn_vmspace *vs = &heap->vm;
    mdn_stats_state *stats = &heap->stats;
    memset(s, 0, sizeof *s);
    s->id = id;
    s->stats = stats;
    mdn_block_pool_init(&s->pool, vs, id);
    pthread_mutex_init(&s->lock, NULL);
    return mdn_side_metadata_init(&s->valid, vs, MDN_LOG_GRANULE, 0, "nonmoving-valid") &&
           mdn_side_metadata_init(&s->marks, vs, MDN_LOG_GRANULE, 0, "nonmoving-mark") &&
           mdn_side_metadata_init(&s->block_class, vs, MDN_LOG_BLOCK, 3, "nonmoving-class");
}

void mdn_nonmoving_destroy(mdn_nonmoving_space *s) {
    mdn_side_metadata_destroy(&s->block_class);
    mdn_side_metadata_destroy(&s->marks);
    mdn_side_metadata_destroy(&s->valid);
    pthread_mutex_destroy(&s->lock);
    mdn_block_pool_destroy(&s->pool);
}

/* Push the cells of `block` that hold no object, highest first so the list
 * hands them out in address order. Lock held (or world stopped). */
static void push_free_cells(mdn_nonmoving_space *s, mdn_address block, int c) {
    size_t cell = class_size[c], n = MDN_BLOCK_SIZE / cell;
    void *head = s->free[c];
    for (size_t i = n; i-- > 0;) {
        mdn_address a = mdn_address_add(block, i * cell);
        if (mdn_side_bit_test(&s->valid, a))
            continue;
        *(void **)mdn_address_to_ptr(a) = head;
        head = mdn_address_to_ptr(a);
    }
    s->free[c] = head;
}

static bool grow_class(mdn_nonmoving_space *s, int c) {
    if (!mdn_budget_take(s->pool.vs, MDN_BLOCK_SIZE))
        return false;
    mdn_address block = mdn_block_pool_acquire(&s->pool, NULL);
    if (mdn_address_is_zero(block)) {
        mdn_budget_give(s->pool.vs, MDN_BLOCK_SIZE);
        return false;
    }
    mdn_block_state_set(s->pool.vs, block, MDN_BLOCK_USED);
    mdn_side_byte_store(&s->block_class, block, (uint8_t)(c + 1));
    s->nblocks++;
    push_free_cells(s, block, c);
    return true;
}

void *mdn_nonmoving_alloc(mdn_nonmoving_space *s, size_t size, size_t align) {
    int c = class_for(size, align);
    if (c < 0)
        return NULL;
    pthread_mutex_lock(&s->lock);
    if (!s->free[c] && !grow_class(s, c)) {
        pthread_mutex_unlock(&s->lock);
        return NULL;
    }
    void **cell = s->free[c];
    s->free[c] = *cell;
    mdn_side_bit_set_atomic(&s->valid, mdn_address_from_ptr(cell));
    s->live_bytes += class_size[c];
    pthread_mutex_unlock(&s->lock);
    memset(cell, 0, class_size[c]);
    mdn_stats_count_alloc(s->stats, size);
    return cell;
}

void mdn_nonmoving_prepare(mdn_nonmoving_space *s, mdn_heap *heap, bool full) {
    (void)heap, (void)full;
    for (size_t i = 0, n = mdn_block_pool_chunk_count(&s->pool); i < n; i++)
        mdn_side_clear_range(&s->marks, mdn_block_pool_chunk(&s->pool, i), MDN_CHUNK_SIZE);
}

size_t mdn_nonmoving_release(mdn_nonmoving_space *s, mdn_heap *heap) {
    (void)heap;
    pthread_mutex_lock(&s->lock);
    memset(s->free, 0, sizeof s->free);
    size_t nchunks = mdn_block_pool_chunk_count(&s->pool);
    size_t live = 0;
    /* Backwards, so the rebuilt lists start at the lowest free cell. */
    for (size_t ci = nchunks; ci-- > 0;) {
        mdn_address chunk = mdn_block_pool_chunk(&s->pool, ci);
        for (size_t b = MDN_BLOCKS_PER_CHUNK; b-- > 0;) {
            mdn_address block = mdn_address_add(chunk, b << MDN_LOG_BLOCK);
            int c = (int)mdn_side_byte_load(&s->block_class, block) - 1;
            if (c < 0)
                continue;
            size_t cell = class_size[c], n = MDN_BLOCK_SIZE / cell, kept = 0;
            for (size_t i = 0; i < n; i++) {
                mdn_address a = mdn_address_add(block, i * cell);
                if (!mdn_side_bit_test(&s->valid, a))
                    continue;
                if (mdn_side_bit_test(&s->marks, a)) {
                    kept++;
                } else {
                    if (s->pool.vs->poison) /* .poison.dirty: cells are zeroed when handed out */
                        mdn_poison_range(mdn_address_to_ptr(a), cell);
                    mdn_side_bit_clear_atomic(&s->valid, a);
                }
            }
            if (kept == 0) {
                mdn_side_byte_store(&s->block_class, block, 0);
                mdn_block_pool_release(&s->pool, block, true);
                mdn_budget_give(s->pool.vs, MDN_BLOCK_SIZE);
                s->nblocks--;
                continue;
            }
            live += kept * cell;
            push_free_cells(s, block, c);
        }
    }
    s->live_bytes = live;
    pthread_mutex_unlock(&s->lock);
    return live;
}

/* .policy.check: the blocks with a class are the space's blocks in use. */
void mdn_nonmoving_check(const mdn_nonmoving_space *s) {
    size_t n = 0;
    for (size_t ci = 0, nchunks = mdn_block_pool_chunk_count(&s->pool); ci < nchunks; ci++) {
        mdn_address chunk = mdn_block_pool_chunk(&s->pool, ci);
        for (size_t b = 0; b < MDN_BLOCKS_PER_CHUNK; b++) {
            mdn_address block = mdn_address_add(chunk, b << MDN_LOG_BLOCK);
            unsigned c = mdn_side_byte_load(&s->block_class, block);
            uint8_t st = mdn_block_state_get(s->pool.vs, block);
            if (c > MDN_NONMOVING_CLASSES || (c != 0) != (st == MDN_BLOCK_USED))
                mdn_verify_fail("non-moving block %p has class %u in state %u", mdn_address_to_ptr(block), c,
                                (unsigned)st);
            n += c != 0;
        }
    }
    if (n != s->nblocks)
        mdn_verify_fail("non-moving space %u has %zu blocks with a class, counts %zu", s->id, n, s->nblocks);
}

/* .nm.verify: the free lists agree with the valid bits: every listed cell
 * is a cell start of a block of its class that holds no object, and the
 * cells holding objects add up to the space's live bytes. */
void mdn_nonmoving_verify(mdn_nonmoving_space *s) {
    pthread_mutex_lock(&s->lock);
    for (int c = 0; c < MDN_NONMOVING_CLASSES; c++) {
        for (void **cell = s->free[c]; cell; cell = *cell) {
            mdn_address a = mdn_address_from_ptr(cell);
            mdn_address block = mdn_address_align_down(a, MDN_BLOCK_SIZE);
            if (!mdn_nonmoving_contains(s, a) || (int)mdn_side_byte_load(&s->block_class, block) != c + 1 ||
                (a.value - block.value) % class_size[c] != 0)
                mdn_verify_fail("non-moving free list of %u-byte cells holds %p, not such a cell", class_size[c],
                                (void *)cell);
            if (mdn_side_bit_test(&s->valid, a))
                mdn_verify_fail("non-moving cell %p is on a free list but holds an object", (void *)cell);
        }
    }
    size_t live = 0;
    for (size_t ci = 0, nchunks = mdn_block_pool_chunk_count(&s->pool); ci < nchunks; ci++) {
        mdn_address chunk = mdn_block_pool_chunk(&s->pool, ci);
        for (size_t b = 0; b < MDN_BLOCKS_PER_CHUNK; b++) {
            mdn_address block = mdn_address_add(chunk, b << MDN_LOG_BLOCK);
            int c = (int)mdn_side_byte_load(&s->block_class, block) - 1;
            for (size_t i = 0; c >= 0 && i < MDN_BLOCK_SIZE / class_size[c]; i++)
                live += mdn_side_bit_test(&s->valid, mdn_address_add(block, i * class_size[c])) ? class_size[c] : 0;
        }
    }
    if (live != s->live_bytes)
        mdn_verify_fail("non-moving cells hold %zu bytes of objects, the space counts %zu", live, s->live_bytes);
    pthread_mutex_unlock(&s->lock);
}

MDN_POLICY_DEFINE(nonmoving, mdn_nonmoving_space);
