/* marksweep.c: block lists, sweeping, classification (.ms.lazy) and checks. */
#include "marksweep.h"

#include "core/os.h"

#include <string.h>

/* Mark bitmap bytes per block: one bit per granule. */
#define MS_MARK_BYTES (MDN_BLOCK_SIZE >> MDN_LOG_GRANULE >> 3)
#define MS_MARK_WORDS (MS_MARK_BYTES / sizeof(uint64_t))

unsigned mdn_marksweep_class_for(size_t bytes, size_t align) {
    if (bytes > MDN_MARKSWEEP_MAX_CELL || align > MDN_MARKSWEEP_MAX_CELL)
        return 0;
    if (MDN_MARKSWEEP_CELL_OFFSET && align > MDN_MIN_ALIGN)
        return 0;
    for (unsigned c = mdn_marksweep_size_class(bytes); c < MDN_MARKSWEEP_CLASSES; c++)
        if ((mdn_marksweep_cell_size(c) & (align - 1)) == 0)
            return c;
    return 0;
}

bool mdn_marksweep_init(mdn_marksweep_space *s, mdn_heap *heap, unsigned id) {
    mdn_vmspace *vs = &heap->vm;
    memset(s, 0, sizeof *s);
    s->id = id;
    s->stats = &heap->stats;
    s->poison = heap->options.poison;
    mdn_block_pool_init(&s->pool, vs, id);
    s->nblocks = vs->nblocks;
    size_t table = mdn_align_up(s->nblocks * sizeof *s->blocks, MDN_PAGE_SIZE);
    mdn_address t = mdn_os_reserve_zeroed(table);
    if (mdn_address_is_zero(t))
        return false;
    s->blocks = mdn_address_to_ptr(t);
    return mdn_side_metadata_init(&s->marks, vs, MDN_LOG_GRANULE, 0, "marksweep-mark");
}

void mdn_marksweep_destroy(mdn_marksweep_space *s) {
    if (s->blocks)
        mdn_os_release(mdn_address_from_ptr(s->blocks), mdn_align_up(s->nblocks * sizeof *s->blocks, MDN_PAGE_SIZE));
    mdn_side_metadata_destroy(&s->marks);
    mdn_block_pool_destroy(&s->pool);
    memset(s, 0, sizeof *s);
}

/* ---- the lists of blocks to sweep (.ms.lists) ---------------------------- */

static void list_push(mdn_marksweep_space *s, mdn_marksweep_block_list *l, size_t index) {
    uint32_t *next = s->pool.vs->block_next;
    uint64_t head = __atomic_load_n(&l->head, __ATOMIC_RELAXED);
    uint64_t desired;
    do {
        __atomic_store_n(&next[index], (uint32_t)(head & 0xffffffffu), __ATOMIC_RELAXED);
        desired = (((head >> 32) + 1) << 32) | (uint64_t)(index + 1);
    } while (!__atomic_compare_exchange_n(&l->head, &head, desired, true, __ATOMIC_RELEASE, __ATOMIC_RELAXED));
}

static bool list_pop(mdn_marksweep_space *s, mdn_marksweep_block_list *l, size_t *index) {
    uint32_t *next = s->pool.vs->block_next;
    uint64_t head = __atomic_load_n(&l->head, __ATOMIC_ACQUIRE);
    for (;;) {
        uint32_t top = (uint32_t)(head & 0xffffffffu);
        if (top == 0)
            return false;
        /* A stale link (another thread popped `top`) fails the tagged CAS. */
        uint32_t link = __atomic_load_n(&next[top - 1], __ATOMIC_RELAXED);
        uint64_t desired = (((head >> 32) + 1) << 32) | link;
        if (__atomic_compare_exchange_n(&l->head, &head, desired, true, __ATOMIC_ACQUIRE, __ATOMIC_ACQUIRE)) {
            *index = top - 1;
            return true;
        }
    }
}

/* ---- sweeping ------------------------------------------------------------ */

static inline const uint8_t *block_marks(const mdn_marksweep_space *s, mdn_address block) {
    return s->marks.base + (mdn_side_index(&s->marks, block) >> 3);
}

/* .ms.marks: the mark table is read and written only in aligned 64-bit
 * words (mdn_marksweep_mark sets bits in them), so bit g of a block is bit
 * g % 64 of word g / 64 whatever the byte order. */
static inline bool granule_marked(const uint8_t *marks, size_t g) {
    uint64_t w = __atomic_load_n((const uint64_t *)(const void *)marks + (g >> 6), __ATOMIC_RELAXED);
    return (w >> (g & 63)) & 1u;
}

/* Marked cells of a block (only cell starts are ever marked). */
static size_t count_marks(const mdn_marksweep_space *s, mdn_address block) {
    const uint8_t *marks = block_marks(s, block);
    size_t n = 0;
    for (size_t i = 0; i < MS_MARK_WORDS; i++) {
        uint64_t w = __atomic_load_n((const uint64_t *)(const void *)marks + i, __ATOMIC_RELAXED);
        if (w)
            n += mdn_popcount64(w);
    }
    return n;
}

/* Append cells [first, first+count) of a block to the list ending at *tail,
 * zeroing them first unless the memory is known to be zero. */
static void **link_run(void **tail, uintptr_t first, size_t cell, size_t count, bool zero) {
    if (zero)
        mdn_zero((void *)first, cell * count);
    for (size_t k = 0; k < count; k++, first += cell) {
        *tail = (void *)first;
        tail = (void **)first;
    }
    return tail;
}

/* Build the free list of a block of class c from its unmarked cells in
 * address order, zeroing them (.ms.zero). Returns the number of free cells. */
static size_t sweep_block(const mdn_marksweep_space *s, mdn_address block, unsigned c, void **head_out) {
    const uint8_t *marks = block_marks(s, block);
    size_t cell = mdn_marksweep_cell_size(c), n = mdn_marksweep_cells_per_block(c), step = cell >> MDN_LOG_GRANULE;
    void *head = NULL;
    void **tail = &head;
    size_t run = 0, nfree = 0;
    for (size_t i = 0; i < n; i++) {
        if (granule_marked(marks, MDN_MARKSWEEP_FIRST_GRANULE + i * step)) {
            if (run) {
                tail = link_run(tail, mdn_marksweep_cell_at(block, cell, i - run), cell, run, true);
                nfree += run;
                run = 0;
            }
            continue;
        }
        run++;
    }
    if (run) {
        tail = link_run(tail, mdn_marksweep_cell_at(block, cell, n - run), cell, run, true);
        nfree += run;
    }
    *tail = NULL;
    *head_out = head;
    return nfree;
}

static void install(mdn_marksweep_space *s, mdn_marksweep_allocator *a, unsigned c, size_t index, void *head, size_t nfree) {
    MDN_ASSERT(a->current[c] == 0);
    *mdn_marksweep_allocator_head(a, c) = head;
    a->current[c] = (uint32_t)(index + 1);
    mdn_stats_count_alloc(s->stats, nfree * mdn_marksweep_cell_size(c)); /* .ms.count */
}

/* The allocator's block of class c is used up: hand it back. */
static void retire_current(mdn_marksweep_space *s, mdn_marksweep_allocator *a, unsigned c) {
    if (!a->current[c])
        return;
    mdn_vmspace *vs = s->pool.vs;
    MDN_ASSERT(mdn_block_state_get(vs, mdn_vmspace_block_at(vs, a->current[c] - 1)) == MDN_BLOCK_ALLOCATING);
    mdn_block_state_set(vs, mdn_vmspace_block_at(vs, a->current[c] - 1), MDN_BLOCK_USED);
    a->current[c] = 0;
}

bool mdn_marksweep_refill(mdn_marksweep_space *s, mdn_marksweep_allocator *a, unsigned c) {
    MDN_ASSERT(c >= 1 && c < MDN_MARKSWEEP_CLASSES);
    mdn_vmspace *vs = s->pool.vs;
    retire_current(s, a, c);
    size_t index;
    /* .ms.lazy: reuse a block of this class first, sweeping it now. */
    while (list_pop(s, &s->lists[c], &index)) {
        mdn_address block = mdn_vmspace_block_at(vs, index);
        uint8_t state = mdn_block_state_get(vs, block);
        MDN_CHECK(state == MDN_MARKSWEEP_BLOCK_SWEEPABLE || state == MDN_MARKSWEEP_BLOCK_SWEPT);
        MDN_ASSERT(s->blocks[index].size_class == c);
        mdn_block_state_set(vs, block, MDN_BLOCK_ALLOCATING);
        void *head;
        size_t nfree;
        if (state == MDN_MARKSWEEP_BLOCK_SWEPT) {
            head = s->blocks[index].swept_head;
            nfree = s->blocks[index].swept_free;
            s->blocks[index].swept_head = NULL;
        } else {
            nfree = sweep_block(s, block, c, &head);
        }
        if (nfree == 0) {
            mdn_block_state_set(vs, block, MDN_BLOCK_USED);
            continue;
        }
        install(s, a, c, index, head, nfree);
        return true;
    }
    /* A fresh block: this is where the heap budget triggers collections. */
    if (!mdn_budget_take(vs, MDN_BLOCK_SIZE))
        return false;
    bool zeroed;
    mdn_address block = mdn_block_pool_acquire(&s->pool, &zeroed);
    if (mdn_address_is_zero(block)) {
        mdn_budget_give(vs, MDN_BLOCK_SIZE);
        return false;
    }
    index = mdn_vmspace_block_index(vs, block);
    s->blocks[index].size_class = (uint8_t)c;
    s->blocks[index].swept_head = NULL;
    if (!zeroed)
        mdn_zero(mdn_address_to_ptr(block), MDN_BLOCK_SIZE);
    size_t n = mdn_marksweep_cells_per_block(c);
    void *head = NULL;
    void **tail = link_run(&head, mdn_marksweep_cell_at(block, 0, 0), mdn_marksweep_cell_size(c), n, false);
    *tail = NULL;
    install(s, a, c, index, head, n);
    return true;
}

void mdn_marksweep_allocator_init(mdn_marksweep_allocator *a, void **exact_heads) {
    memset(a, 0, sizeof *a);
    a->exact_heads = exact_heads;
    for (unsigned c = 0; c <= MDN_MARKSWEEP_EXACT_CLASSES; c++)
        exact_heads[c] = NULL;
}

void mdn_marksweep_allocator_retire(mdn_marksweep_space *s, mdn_marksweep_allocator *a) {
    uint64_t leftover = 0;
    for (unsigned c = 1; c < MDN_MARKSWEEP_CLASSES; c++) {
        void **head = mdn_marksweep_allocator_head(a, c);
        size_t cells = 0;
        for (void **p = *head; p; p = *p)
            cells++;
        leftover += cells * mdn_marksweep_cell_size(c);
        *head = NULL;
        retire_current(s, a, c);
    }
    /* .ms.count: cells never handed out were counted by their refill. The
     * figure may have been reset since (mdn_harness_begin): never below 0. */
    uint64_t counted = __atomic_load_n(&s->stats->bytes_allocated, __ATOMIC_RELAXED);
    while (leftover && !__atomic_compare_exchange_n(&s->stats->bytes_allocated, &counted,
                                                    counted > leftover ? counted - leftover : 0, true,
                                                    __ATOMIC_RELAXED, __ATOMIC_RELAXED)) {
    }
}

/* ---- collection ----------------------------------------------------------- */

void mdn_marksweep_prepare(mdn_marksweep_space *s, mdn_heap *heap, bool full) {
    (void)heap, (void)full; /* every collection is full */
    mdn_vmspace *vs = s->pool.vs;
    size_t nchunks = mdn_block_pool_chunk_count(&s->pool);
    for (size_t i = 0; i < nchunks; i++) {
        mdn_address chunk = mdn_block_pool_chunk(&s->pool, i);
        size_t first = mdn_vmspace_block_index(vs, chunk);
        for (size_t b = 0; b < MDN_BLOCKS_PER_CHUNK; b++) {
            uint8_t state = __atomic_load_n(&vs->block_state[first + b], __ATOMIC_RELAXED);
            MDN_CHECK(state != MDN_BLOCK_ALLOCATING); /* every allocator was retired */
            if (state != MDN_BLOCK_FREE)
                memset((void *)block_marks(s, mdn_address_add(chunk, b * MDN_BLOCK_SIZE)), 0, MS_MARK_BYTES);
        }
    }
}

/* poison: fill the unmarked cells of a block. */
static void poison_free_cells(const mdn_marksweep_space *s, mdn_address block, unsigned c) {
    const uint8_t *marks = block_marks(s, block);
    size_t cell = mdn_marksweep_cell_size(c), n = mdn_marksweep_cells_per_block(c), step = cell >> MDN_LOG_GRANULE;
    for (size_t i = 0; i < n; i++)
        if (!granule_marked(marks, MDN_MARKSWEEP_FIRST_GRANULE + i * step))
            memset((void *)mdn_marksweep_cell_at(block, cell, i), MDN_MARKSWEEP_POISON_BYTE, cell);
}

size_t mdn_marksweep_release(mdn_marksweep_space *s, mdn_heap *heap) {
    (void)heap;
    mdn_vmspace *vs = s->pool.vs;
    for (unsigned c = 0; c < MDN_MARKSWEEP_CLASSES; c++)
        __atomic_store_n(&s->lists[c].head, 0, __ATOMIC_RELAXED);
    size_t live = 0;
    size_t nchunks = mdn_block_pool_chunk_count(&s->pool);
    /* Backwards, so that the stacks hand blocks out in address order. */
    for (size_t i = nchunks; i-- > 0;) {
        mdn_address chunk = mdn_block_pool_chunk(&s->pool, i);
        size_t first = mdn_vmspace_block_index(vs, chunk);
        for (size_t b = MDN_BLOCKS_PER_CHUNK; b-- > 0;) {
            size_t index = first + b;
            uint8_t state = __atomic_load_n(&vs->block_state[index], __ATOMIC_RELAXED);
            if (state == MDN_BLOCK_FREE)
                continue;
            MDN_CHECK(state == MDN_BLOCK_USED || state == MDN_MARKSWEEP_BLOCK_SWEEPABLE || state == MDN_MARKSWEEP_BLOCK_SWEPT);
            mdn_address block = mdn_vmspace_block_at(vs, index);
            unsigned c = s->blocks[index].size_class;
            s->blocks[index].swept_head = NULL;
            size_t marked = count_marks(s, block);
            if (marked == 0) {
                if (s->poison)
                    memset(mdn_address_to_ptr(block), MDN_MARKSWEEP_POISON_BYTE, MDN_BLOCK_SIZE);
                mdn_block_pool_release(&s->pool, block, true);
                mdn_budget_give(vs, MDN_BLOCK_SIZE);
                continue;
            }
            live += marked * mdn_marksweep_cell_size(c);
            if (marked == mdn_marksweep_cells_per_block(c)) {
                mdn_block_state_set(vs, block, MDN_BLOCK_USED);
                continue;
            }
            if (s->poison)
                poison_free_cells(s, block, c);
            mdn_block_state_set(vs, block, MDN_MARKSWEEP_BLOCK_SWEEPABLE);
            list_push(s, &s->lists[c], index);
        }
    }
    return live;
}

size_t mdn_marksweep_sweep_all(mdn_marksweep_space *s) {
    mdn_vmspace *vs = s->pool.vs;
    size_t free_bytes = 0;
    for (unsigned c = 1; c < MDN_MARKSWEEP_CLASSES; c++) {
        uint32_t top = (uint32_t)(__atomic_load_n(&s->lists[c].head, __ATOMIC_ACQUIRE) & 0xffffffffu);
        for (; top; top = __atomic_load_n(&vs->block_next[top - 1], __ATOMIC_RELAXED)) {
            size_t index = top - 1;
            mdn_address block = mdn_vmspace_block_at(vs, index);
            if (mdn_block_state_get(vs, block) == MDN_MARKSWEEP_BLOCK_SWEEPABLE) {
                void *head;
                size_t nfree = sweep_block(s, block, c, &head);
                s->blocks[index].swept_head = head;
                s->blocks[index].swept_free = (uint16_t)nfree;
                mdn_block_state_set(vs, block, MDN_MARKSWEEP_BLOCK_SWEPT);
            }
            free_bytes += (size_t)s->blocks[index].swept_free * mdn_marksweep_cell_size(c);
        }
    }
    return free_bytes;
}

bool mdn_marksweep_is_cell_start(const mdn_marksweep_space *s, mdn_address a) {
    const mdn_vmspace *vs = s->pool.vs;
    uint8_t state = mdn_block_state_get(vs, a);
    if (state == MDN_BLOCK_FREE || state == MDN_BLOCK_UNOWNED)
        return false;
    unsigned c = mdn_marksweep_block_class(s, a);
    if (c == 0 || c >= MDN_MARKSWEEP_CLASSES)
        return false;
    uintptr_t first = mdn_marksweep_cell_at(mdn_address_from_word(a.value & ~(uintptr_t)(MDN_BLOCK_SIZE - 1)), 0, 0);
    if (a.value < first)
        return false;
    size_t offset = a.value - first, cell = mdn_marksweep_cell_size(c);
    return offset % cell == 0 && offset / cell < mdn_marksweep_cells_per_block(c);
}

size_t mdn_marksweep_used_bytes(const mdn_marksweep_space *s) {
    return (mdn_block_pool_chunk_count(&s->pool) * MDN_BLOCKS_PER_CHUNK - mdn_block_pool_free_count(&s->pool)) *
           MDN_BLOCK_SIZE;
}

/* ---- checking -------------------------------------------------------------- */

static void check_swept_list(const mdn_marksweep_space *s, mdn_address block, unsigned c) {
    const mdn_marksweep_block_info *info = &s->blocks[mdn_vmspace_block_index(s->pool.vs, block)];
    const uint8_t *marks = block_marks(s, block);
    size_t cell = mdn_marksweep_cell_size(c), n = 0;
    uintptr_t prev = 0, first = mdn_marksweep_cell_at(block, 0, 0);
    for (void **p = info->swept_head; p; p = *p) {
        uintptr_t at = (uintptr_t)p;
        MDN_CHECK(at >= block.value && at < block.value + MDN_BLOCK_SIZE);
        MDN_CHECK(at >= first && (at - first) % cell == 0 && at > prev); /* cell starts, address order */
        MDN_CHECK(!granule_marked(marks, (at - block.value) >> MDN_LOG_GRANULE));
        for (size_t w = 1; w < cell / sizeof(uintptr_t); w++)
            MDN_CHECK(((uintptr_t *)p)[w] == 0);
        prev = at;
        n++;
    }
    MDN_CHECK(n == info->swept_free);
    MDN_CHECK(n + count_marks(s, block) == mdn_marksweep_cells_per_block(c));
}

void mdn_marksweep_check(const mdn_marksweep_space *s) {
    const mdn_vmspace *vs = s->pool.vs;
    mdn_block_pool_check(&s->pool);
    /* Every block on class c's list is SWEEPABLE or SWEPT and of class c ... */
    size_t listed = 0;
    for (unsigned c = 0; c < MDN_MARKSWEEP_CLASSES; c++) {
        uint32_t top = (uint32_t)(__atomic_load_n(&s->lists[c].head, __ATOMIC_ACQUIRE) & 0xffffffffu);
        MDN_CHECK(c != 0 || top == 0);
        for (; top; top = __atomic_load_n(&vs->block_next[top - 1], __ATOMIC_RELAXED)) {
            mdn_address block = mdn_vmspace_block_at(vs, top - 1);
            uint8_t state = mdn_block_state_get(vs, block);
            MDN_CHECK(state == MDN_MARKSWEEP_BLOCK_SWEEPABLE || state == MDN_MARKSWEEP_BLOCK_SWEPT);
            MDN_CHECK(s->blocks[top - 1].size_class == c);
            if (state == MDN_MARKSWEEP_BLOCK_SWEPT)
                check_swept_list(s, block, c);
            MDN_CHECK(listed++ <= vs->nblocks);
        }
    }
    /* ... and every such block is on a list; FREE blocks carry no marks. */
    size_t waiting = 0;
    size_t nchunks = mdn_block_pool_chunk_count(&s->pool);
    for (size_t i = 0; i < nchunks; i++) {
        mdn_address chunk = mdn_block_pool_chunk(&s->pool, i);
        for (size_t b = 0; b < MDN_BLOCKS_PER_CHUNK; b++) {
            mdn_address block = mdn_address_add(chunk, b * MDN_BLOCK_SIZE);
            uint8_t state = mdn_block_state_get(vs, block);
            if (state == MDN_MARKSWEEP_BLOCK_SWEEPABLE || state == MDN_MARKSWEEP_BLOCK_SWEPT)
                waiting++;
            else if (state == MDN_BLOCK_FREE)
                MDN_CHECK(count_marks(s, block) == 0);
            else
                MDN_CHECK(state == MDN_BLOCK_USED || state == MDN_BLOCK_ALLOCATING);
        }
    }
    MDN_CHECK(waiting == listed);
}

/* .ms.eager: the heap verifier sweeps every waiting block, so every free
 * list of the space exists and is checked against the mark bits. */
void mdn_marksweep_verify(mdn_marksweep_space *s) {
    mdn_marksweep_sweep_all(s);
    mdn_marksweep_check(s);
}

MDN_POLICY_DEFINE_MARKED(marksweep, mdn_marksweep_space);
