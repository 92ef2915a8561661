/* copy.c: block refill, the flip, and releasing the from-space (.copy.*). */
#include "copy.h"

#include "core/verify.h"

#include <string.h>

bool mdn_copy_init(mdn_copy_space *s, mdn_heap *heap, unsigned id) {
    mdn_vmspace *vs = &heap->vm;
    mdn_stats_state *stats = &heap->stats;
    memset(s, 0, sizeof *s);
    s->id = id;
    s->stats = stats;
    mdn_block_pool_init(&s->pool, vs, id);
    return mdn_forwarding_init(&s->fwd, vs);
}

void mdn_copy_destroy(mdn_copy_space *s) {
    mdn_forwarding_destroy(&s->fwd);
    mdn_block_pool_destroy(&s->pool);
}

static void set_region(mdn_bump_region *r, mdn_address block) {
    r->cursor = block.value;
    r->limit = block.value + MDN_BLOCK_SIZE;
}

/* The block of a region (its limit is always the block's end). */
static mdn_address region_block(const mdn_bump_region *r) { return mdn_address_from_word(r->limit - MDN_BLOCK_SIZE); }

/* The budget charge of a block holding objects: twice its size with the
 * copy reserve (.copy.budget), once in a nursery (.copy.promote). */
static size_t block_charge(const mdn_copy_space *s) { return s->promotes ? MDN_BLOCK_SIZE : 2 * MDN_BLOCK_SIZE; }

/* A block for a mutator: charged (.copy.budget), zeroed (.copy.zero). */
static bool take_mutator_block(mdn_copy_space *s, mdn_bump_region *r) {
    mdn_vmspace *vs = s->pool.vs;
    /* .copy.cap: a soft check; threads racing past it take a block each. */
    size_t cap = __atomic_load_n(&s->max_blocks, __ATOMIC_RELAXED);
    if (cap && __atomic_load_n(&s->blocks, __ATOMIC_RELAXED) >= cap)
        return false;
    /* .copy.promote: a soft check like the cap's, leaving the headroom. */
    if (s->headroom_bytes && mdn_budget_used(vs) + MDN_BLOCK_SIZE + s->headroom_bytes > mdn_budget_limit(vs))
        return false;
    size_t charge = block_charge(s);
    if (!mdn_budget_take(vs, charge))
        return false;
    bool zeroed;
    mdn_address block = mdn_block_pool_acquire(&s->pool, &zeroed);
    if (mdn_address_is_zero(block)) {
        mdn_budget_give(vs, charge);
        return false;
    }
    /* The atomic updates (block count, retiring the old region counts the
     * bytes it handed out) come before the clearing: a locked instruction
     * right after it would wait for 32 KiB of stores to drain. */
    __atomic_fetch_add(&s->blocks, 1, __ATOMIC_RELAXED);
    mdn_copy_retire(s, r);
    if (!zeroed)
        mdn_zero(mdn_address_to_ptr(block), MDN_BLOCK_SIZE);
    set_region(r, block);
    return true;
}

void *mdn_copy_alloc(mdn_copy_space *s, mdn_bump_region *main, mdn_bump_region *overflow, size_t size) {
    MDN_CHECK(size <= MDN_BLOCK_SIZE);
    void *p = mdn_bump_alloc(main, size, MDN_GRANULE_SIZE);
    if (p)
        return p;
    if (size > MDN_COPY_MEDIUM_SIZE) {
        /* .copy.regions: keep the main block's tail for small objects. */
        p = mdn_bump_alloc(overflow, size, MDN_GRANULE_SIZE);
        if (p)
            return p;
        if (!take_mutator_block(s, overflow))
            return NULL;
        return mdn_bump_alloc(overflow, size, MDN_GRANULE_SIZE);
    }
    if (!take_mutator_block(s, main))
        return NULL;
    return mdn_bump_alloc(main, size, MDN_GRANULE_SIZE);
}

void mdn_copy_retire(mdn_copy_space *s, mdn_bump_region *r) {
    if (!r->limit)
        return;
    mdn_address block = region_block(r);
    mdn_block_state_set(s->pool.vs, block, MDN_BLOCK_USED);
    mdn_stats_count_alloc(s->stats, r->cursor - block.value);
    r->cursor = r->limit = 0;
}

/* Run `body` for every block of the space whose state is `state`. */
#define FOR_EACH_BLOCK_IN_STATE(s, state, block, body)                                                                 \
    do {                                                                                                               \
        size_t nchunks_ = mdn_block_pool_chunk_count(&(s)->pool);                                                      \
        for (size_t c_ = 0; c_ < nchunks_; c_++) {                                                                     \
            mdn_address chunk_ = mdn_block_pool_chunk(&(s)->pool, c_);                                                 \
            for (size_t b_ = 0; b_ < MDN_BLOCKS_PER_CHUNK; b_++) {                                                     \
                mdn_address block = mdn_address_add(chunk_, b_ << MDN_LOG_BLOCK);                                      \
                if (mdn_block_state_get((s)->pool.vs, block) == (state)) {                                             \
                    body;                                                                                              \
                }                                                                                                      \
            }                                                                                                          \
        }                                                                                                              \
    } while (0)

void mdn_copy_prepare(mdn_copy_space *s, mdn_heap *heap, bool full) {
    (void)full; /* every collection evacuates the whole space */
    unsigned workers = heap->nworkers;
    size_t n = 0;
    FOR_EACH_BLOCK_IN_STATE(s, MDN_BLOCK_USED, block, {
        mdn_block_state_set(s->pool.vs, block, MDN_COPY_BLOCK_FROM);
        n++;
    });
    /* Every region was retired before the flip. */
    size_t allocating = 0;
    FOR_EACH_BLOCK_IN_STATE(s, MDN_BLOCK_ALLOCATING, block, allocating++);
    MDN_CHECK(allocating == 0);
    MDN_CHECK(n == __atomic_load_n(&s->blocks, __ATOMIC_RELAXED));
    s->from_blocks = n;
    s->in_collection = true;
    s->single_worker = workers == 1;
}

void mdn_copy_allocator_init(mdn_copy_allocator *a) { memset(a, 0, sizeof *a); }

static void retire_to_space(mdn_copy_space *s, mdn_bump_region *r) {
    if (!r->limit)
        return;
    mdn_block_state_set(s->pool.vs, region_block(r), MDN_BLOCK_USED);
    r->cursor = r->limit = 0;
}

void mdn_copy_allocator_retire(mdn_copy_space *s, mdn_copy_allocator *a) {
    retire_to_space(s, &a->main);
    retire_to_space(s, &a->overflow);
}

static void take_to_space_block(mdn_copy_space *s, mdn_bump_region *r) {
    mdn_address block = mdn_block_pool_acquire(&s->pool, NULL);
    if (mdn_address_is_zero(block))
        mdn_fatal("copy space: the heap's address-space reservation has no room left for to-space "
                  "(%zu blocks in from-space); raise the heap size",
                  s->from_blocks);
    retire_to_space(s, r);
    set_region(r, block);
}

void *mdn_copy_alloc_to_space(mdn_copy_space *s, mdn_copy_allocator *a, size_t size) {
    MDN_CHECK(s->in_collection && size <= MDN_BLOCK_SIZE);
    mdn_bump_region *r = &a->main;
    if (size > MDN_COPY_MEDIUM_SIZE) {
        void *p = mdn_bump_alloc(&a->overflow, size, MDN_GRANULE_SIZE);
        if (p)
            return p;
        r = &a->overflow;
    }
    take_to_space_block(s, r);
    return mdn_bump_alloc(r, size, MDN_GRANULE_SIZE);
}

size_t mdn_copy_release(mdn_copy_space *s, mdn_heap *heap) {
    bool poison = heap->options.poison;
    MDN_CHECK(s->in_collection);
    mdn_vmspace *vs = s->pool.vs;
    size_t to = 0, from = 0;
    FOR_EACH_BLOCK_IN_STATE(s, MDN_BLOCK_USED, block, to++);
    FOR_EACH_BLOCK_IN_STATE(s, MDN_COPY_BLOCK_FROM, block, {
        mdn_forwarding_clear(&s->fwd, block, MDN_BLOCK_SIZE);
        if (poison)
            memset(mdn_address_to_ptr(block), MDN_COPY_POISON_BYTE, MDN_BLOCK_SIZE);
        mdn_block_pool_release(&s->pool, block, true);
        from++;
    });
    MDN_CHECK(from == s->from_blocks);
    /* .copy.budget: charge the survivors' blocks first so `used` never
     * drops below what is really held. */
    mdn_budget_force_take(vs, to * block_charge(s));
    mdn_budget_give(vs, from * block_charge(s));
    __atomic_store_n(&s->blocks, to, __ATOMIC_RELAXED);
    s->to_blocks = to;
    s->in_collection = false;
    if (s->promotes) /* .copy.promote: the survivors' space counts them */
        return 0;
    uint64_t copied = 0;
    for (unsigned i = 0; i < heap->nworkers; i++)
        copied += heap->tracers[i].bytes_copied;
    return (size_t)copied;
}

/* .policy.check: outside a collection no block is in from-space and the
 * blocks holding objects are the ones charged; during one, the
 * from-space is what the flip made it. */
void mdn_copy_check(const mdn_copy_space *s) {
    size_t used = 0, from = 0;
    FOR_EACH_BLOCK_IN_STATE(s, MDN_BLOCK_USED, block, used++);
    FOR_EACH_BLOCK_IN_STATE(s, MDN_COPY_BLOCK_FROM, block, from++);
    if (s->in_collection ? from != s->from_blocks : from != 0)
        mdn_verify_fail("copy space %u has %zu from-space blocks %s", s->id, from,
                        s->in_collection ? "where the flip made a different number" : "outside a collection");
    if (!s->in_collection && used != __atomic_load_n(&s->blocks, __ATOMIC_RELAXED))
        mdn_verify_fail("copy space %u has %zu blocks holding objects, charges %zu", s->id, used, s->blocks);
}

/* .copy.verify: after a collection nothing is in from-space and no
 * forwarding state is left in the blocks holding objects (a reached object
 * in from-space is reported by the heap walk, through is_live). */
void mdn_copy_verify(mdn_copy_space *s) {
    FOR_EACH_BLOCK_IN_STATE(s, MDN_BLOCK_USED, block, {
        for (size_t off = 0; off < MDN_BLOCK_SIZE; off += MDN_GRANULE_SIZE) {
            mdn_address a = mdn_address_add(block, off);
            if (mdn_forwarding_state(&s->fwd, a) != MDN_FWD_NONE)
                mdn_verify_fail("copy space %u: %p in a to-space block still has forwarding state %u", s->id,
                                mdn_address_to_ptr(a), mdn_forwarding_state(&s->fwd, a));
        }
    });
}

MDN_POLICY_DEFINE(copy, mdn_copy_space);
