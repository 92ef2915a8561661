/* immix.c: the Immix allocators, sweep, defragmentation and evacuation
 * (immix.h; docs/design/immix.md). */
#include "immix.h"

#include "core/os.h"
#include "core/poison.h"
#include "core/race.h"
#include "core/verify.h"

#include <stdlib.h>
#include <string.h>

/* A block considered for evacuation (.immix.defrag). */
struct mdn_immix_candidate {
    uint32_t block; /* number in the reservation */
    uint32_t live;  /* estimated live bytes */
    uint8_t holes;
};
typedef struct mdn_immix_candidate candidate_key;

static void *reserve_table(size_t bytes) {
    return mdn_address_to_ptr(mdn_os_reserve_zeroed(mdn_align_up(bytes ? bytes : 1, MDN_PAGE_SIZE)));
}

static void release_table(void *p, size_t bytes) {
    if (p)
        mdn_os_release(mdn_address_from_ptr(p), mdn_align_up(bytes ? bytes : 1, MDN_PAGE_SIZE));
}

bool mdn_immix_init(mdn_immix_space *s, mdn_heap *heap, unsigned id) {
    mdn_vmspace *vs = &heap->vm;
    mdn_stats_state *stats = &heap->stats;
    unsigned headroom_percent = heap->options.defrag_headroom;
    memset(s, 0, sizeof *s);
    s->vs = vs;
    s->id = id;
    s->stats = stats;
    s->mark_epoch = 1;
    s->headroom_percent = headroom_percent;
    s->never_evacuates = heap->options.conservative;
    /* .immix.defrag: the headroom, in whole blocks, kept from mutators. */
    s->reserve_bytes = (vs->budget / MDN_BLOCK_SIZE) * headroom_percent / 100 * MDN_BLOCK_SIZE;
    mdn_block_pool_init(&s->pool, vs, id);
    bool ok = mdn_side_metadata_init(&s->line_marks, vs, MDN_LOG_LINE, 3, "immix-line-mark") &&
              mdn_side_metadata_init(&s->marks, vs, MDN_LOG_GRANULE, 0, "immix-mark") &&
              mdn_side_metadata_init(&s->pinned, vs, MDN_LOG_GRANULE, 0, "immix-pinned") &&
              mdn_side_metadata_init(&s->medium, vs, MDN_LOG_GRANULE, 0, "immix-medium") &&
              mdn_side_metadata_init(&s->align_log, vs, MDN_LOG_GRANULE, 3, "immix-align") &&
              mdn_forwarding_init(&s->fwd, vs);
    s->block_free_lines = reserve_table(vs->nblocks);
    s->block_holes = reserve_table(vs->nblocks);
    s->block_has_pinned = reserve_table(vs->nblocks);
    s->block_has_aligned = reserve_table(vs->nblocks);
    s->block_has_medium = reserve_table(vs->nblocks);
    s->medium_biased = (uintptr_t)s->block_has_medium - (vs->start >> MDN_LOG_BLOCK); /* the reservation is chunk-aligned */
    s->block_full = reserve_table(vs->nblocks);
    s->block_live_lines = reserve_table(vs->nblocks);
    s->block_young = reserve_table(vs->nblocks);
    s->recyclable = reserve_table(vs->nblocks * sizeof(uint32_t));
    s->candidates = reserve_table(vs->nblocks * sizeof *s->candidates);
    return ok && s->block_free_lines && s->block_holes && s->block_has_pinned && s->block_has_aligned && s->block_has_medium &&
           s->block_full && s->block_live_lines && s->block_young && s->recyclable &&
           s->candidates;
}

void mdn_immix_destroy(mdn_immix_space *s) {
    size_t nblocks = s->vs->nblocks;
    release_table(s->block_free_lines, nblocks);
    release_table(s->block_holes, nblocks);
    release_table(s->block_has_pinned, nblocks);
    release_table(s->block_has_aligned, nblocks);
    release_table(s->block_has_medium, nblocks);
    release_table(s->block_full, nblocks);
    release_table(s->block_live_lines, nblocks);
    release_table(s->block_young, nblocks);
    release_table(s->recyclable, nblocks * sizeof(uint32_t));
    release_table(s->candidates, nblocks * sizeof *s->candidates);
    s->block_free_lines = s->block_holes = s->block_has_pinned = s->block_has_aligned = s->block_has_medium = s->block_full = NULL;
    s->block_live_lines = s->block_young = NULL;
    s->recyclable = NULL;
    s->candidates = NULL;
    mdn_forwarding_destroy(&s->fwd);
    mdn_side_metadata_destroy(&s->align_log);
    mdn_side_metadata_destroy(&s->medium);
    mdn_side_metadata_destroy(&s->pinned);
    mdn_side_metadata_destroy(&s->marks);
    mdn_side_metadata_destroy(&s->line_marks);
    mdn_block_pool_destroy(&s->pool);
}

static size_t block_index(const mdn_immix_space *s, uintptr_t block) {
    return mdn_vmspace_block_index(s->vs, mdn_address_from_word(block));
}

/* ---- allocators ------------------------------------------------------------ */

void mdn_immix_allocator_init(mdn_immix_allocator *a, mdn_immix_space *s, mdn_bump_region *region, bool copy) {
    memset(a, 0, sizeof *a);
    a->space = s;
    a->copy = copy;
    a->hole = region ? region : &a->own;
    a->hole->cursor = a->hole->limit = 0;
}

void mdn_immix_promotion_allocator_init(mdn_immix_allocator *a, mdn_immix_space *s) {
    mdn_immix_allocator_init(a, s, NULL, true);
    a->unbounded = true;
}

static void retire_hole(mdn_immix_allocator *a) {
    if (a->hole_start && !a->copy)
        mdn_stats_count_alloc(a->space->stats, a->hole->cursor - a->hole_start);
    a->hole_start = 0;
    a->hole->cursor = a->hole->limit = 0;
}

static void retire_block(mdn_immix_allocator *a, uintptr_t block) {
    mdn_block_state_set(a->space->vs, mdn_address_from_word(block), MDN_BLOCK_USED);
}

static void retire_overflow(mdn_immix_allocator *a) {
    if (!a->overflow.limit)
        return;
    uintptr_t block = a->overflow.limit - MDN_BLOCK_SIZE;
    if (!a->copy)
        mdn_stats_count_alloc(a->space->stats, a->overflow.cursor - block);
    retire_block(a, block);
    a->overflow.cursor = a->overflow.limit = 0;
}

void mdn_immix_allocator_retire(mdn_immix_allocator *a) {
    retire_hole(a);
    if (a->block)
        retire_block(a, a->block);
    a->block = 0;
    retire_overflow(a);
}

/* .immix.young-cap: would a block (free, or recyclable with at most a
 * block of free lines) take mutators past the bound? A soft check (threads
 * racing past it take a block each); the next collection resets it. */
static bool young_capped(mdn_immix_space *s) {
    size_t cap = __atomic_load_n(&s->young_cap, __ATOMIC_RELAXED);
    return cap && __atomic_load_n(&s->young_taken, __ATOMIC_RELAXED) + MDN_BLOCK_SIZE > cap;
}

static void young_take(mdn_immix_space *s, size_t bytes) {
    if (__atomic_load_n(&s->young_cap, __ATOMIC_RELAXED))
        __atomic_fetch_add(&s->young_taken, bytes, __ATOMIC_RELAXED);
}

/* Own a recyclable block from the list of the last sweep; 0 when none is
 * left. The atomic index hands every entry to exactly one thread. */
static uintptr_t take_recyclable(mdn_immix_space *s) {
    size_t count = s->recyclable_count;
    if (young_capped(s))
        return 0;
    if (__atomic_load_n(&s->recyclable_next, __ATOMIC_RELAXED) >= count)
        return 0;
    size_t i = __atomic_fetch_add(&s->recyclable_next, 1, __ATOMIC_RELAXED);
    if (i >= count)
        return 0;
    mdn_address block = mdn_vmspace_block_at(s->vs, s->recyclable[i]);
    bool owned = mdn_block_state_cas(s->vs, block, MDN_IMMIX_RECYCLABLE, MDN_BLOCK_ALLOCATING);
    MDN_CHECK(owned);
    (void)owned;
    s->block_young[s->recyclable[i]] = 1; /* .immix.minor-sweep */
    young_take(s, (size_t)s->block_free_lines[s->recyclable[i]] * MDN_LINE_SIZE);
    return block.value;
}

/* .immix.medium: clear the medium bits of block number `b` when its flag
 * says some may be set; a block that never held a medium object keeps its
 * bitmap untouched (and its pages unbacked). */
static void clear_medium(mdn_immix_space *s, size_t b, mdn_address block) {
    if (__atomic_load_n(&s->block_has_medium[b], __ATOMIC_RELAXED)) {
        mdn_side_clear_range(&s->medium, block, MDN_BLOCK_SIZE);
        __atomic_store_n(&s->block_has_medium[b], 0, __ATOMIC_RELAXED);
    }
}

/* Own a free block, taking its bytes from the budget. A mutator leaves the
 * headroom untouched; a copy allocator takes from the collection's copy
 * space. 0 when refused. */
static uintptr_t take_free(mdn_immix_allocator *a) {
    mdn_immix_space *s = a->space;
    mdn_vmspace *vs = s->vs;
    if (a->copy) {
        size_t left = __atomic_load_n(&s->copy_blocks_left, __ATOMIC_RELAXED);
        do {
            if (a->unbounded) /* .immix.promote */
                break;
            if (left == 0)
                return 0;
        } while (!__atomic_compare_exchange_n(&s->copy_blocks_left, &left, left - 1, true, __ATOMIC_RELAXED,
                                              __ATOMIC_RELAXED));
        /* Within the copy space chosen at prepare, which may exceed the
         * free budget by the slack blocks (.immix.defrag). */
        if (!mdn_budget_take(vs, MDN_BLOCK_SIZE))
            mdn_budget_force_take(vs, MDN_BLOCK_SIZE);
    } else if (young_capped(s)) {
        return 0;
    } else if (mdn_budget_used(vs) + MDN_BLOCK_SIZE + s->reserve_bytes > vs->budget) {
        /* A soft check: two threads may both pass it and eat a block of the
         * headroom, never more than the budget (the take below is exact). */
        return 0;
    } else if (!mdn_budget_take(vs, MDN_BLOCK_SIZE)) {
        return 0;
    }
    bool zeroed;
    mdn_address block = mdn_block_pool_acquire(&s->pool, &zeroed);
    if (mdn_address_is_zero(block)) {
        mdn_budget_give(vs, MDN_BLOCK_SIZE);
        return 0;
    }
    size_t b = block_index(s, block.value);
    clear_medium(s, b, block);
    s->block_free_lines[b] = 0;
    s->block_holes[b] = 0;
    s->block_young[b] = 1; /* .immix.minor-sweep */
    /* Copies overwrite every byte they use and later holes are zeroed when
     * the allocator starts on them, so only mutator blocks need zeroing. */
    if (!a->copy) {
        young_take(s, MDN_BLOCK_SIZE);
        if (!zeroed)
            mdn_zero(mdn_address_to_ptr(block), MDN_BLOCK_SIZE);
    }
    return block.value;
}

/* Make [start, end) of the current block the current hole. */
static void start_hole(mdn_immix_allocator *a, uintptr_t start, uintptr_t end, bool zero) {
    mdn_immix_space *s = a->space;
    if (zero) {
        size_t b = block_index(s, a->block);
        mdn_address from = mdn_address_from_word(start);
        mdn_zero((void *)start, end - start);
        if (__atomic_load_n(&s->block_has_medium[b], __ATOMIC_RELAXED))
            mdn_side_clear_range(&s->medium, from, end - start);
        if (__atomic_load_n(&s->block_has_pinned[b], __ATOMIC_RELAXED))
            mdn_side_clear_range(&s->pinned, from, end - start);
        if (s->block_has_aligned[b])
            mdn_side_clear_range(&s->align_log, from, end - start);
    }
    a->hole->cursor = start;
    a->hole->limit = end;
    a->hole_start = start;
}

/* Move to the next hole: in the current block, else in a recyclable block
 * (mutators only), else a whole free block. false when the budget refuses. */
static bool next_hole(mdn_immix_allocator *a) {
    mdn_immix_space *s = a->space;
    retire_hole(a);
    for (;;) {
        if (a->block) {
            unsigned end;
            unsigned first = mdn_immix_find_hole(mdn_immix_line_marks_of(s, mdn_address_from_word(a->block)),
                                                 a->next_line, s->mark_epoch, &end);
            if (first < MDN_LINES_PER_BLOCK) {
                a->next_line = end;
                start_hole(a, a->block + ((uintptr_t)first << MDN_LOG_LINE), a->block + ((uintptr_t)end << MDN_LOG_LINE),
                           true);
                return true;
            }
            retire_block(a, a->block);
            a->block = 0;
        }
        uintptr_t block = a->copy ? 0 : take_recyclable(s);
        if (block) {
            a->block = block;
            a->next_line = 0;
            continue;
        }
        block = take_free(a);
        if (!block)
            return false;
        a->block = block;
        a->next_line = MDN_LINES_PER_BLOCK;
        start_hole(a, block, block + MDN_BLOCK_SIZE, false);
        return true;
    }
}

/* A medium object that did not fit the current hole (.immix.alloc). */
static void *overflow_alloc(mdn_immix_allocator *a, size_t size, size_t align) {
    void *p = mdn_bump_alloc(&a->overflow, size, align);
    if (p)
        return p;
    uintptr_t block = take_free(a);
    if (!block)
        return NULL;
    retire_overflow(a);
    a->overflow.cursor = block;
    a->overflow.limit = block + MDN_BLOCK_SIZE;
    return mdn_bump_alloc(&a->overflow, size, align);
}

/* .immix.alloc: a medium object, in the current hole if it fits. While
 * small objects still fill the hole it is kept and the object goes to the
 * overflow block. A mutator's hole that can hold no medium object, or that
 * nothing was allocated in since the last medium object, is given up for
 * the next hole (one per call, so a run of holes too small costs one
 * search each), which takes the object if it fits: recyclable lines serve
 * medium objects too. A copy allocator's holes are whole free blocks, so
 * it keeps to the overflow block. */
static void *medium_alloc(mdn_immix_allocator *a, size_t size, size_t align) {
    bool idle = a->hole->cursor == a->medium_cursor;
    void *p = mdn_bump_alloc(a->hole, size, align);
    if (!p && !a->copy && (idle || a->hole->limit - a->hole->cursor <= MDN_IMMIX_SMALL_MAX) && next_hole(a))
        p = mdn_bump_alloc(a->hole, size, align);
    a->medium_cursor = a->hole->cursor;
    return p ? p : overflow_alloc(a, size, align);
}

void *mdn_immix_alloc(mdn_immix_allocator *a, size_t size, size_t align) {
    MDN_ASSERT(size + align <= MDN_BLOCK_SIZE);
    if (size > MDN_IMMIX_SMALL_MAX)
        return medium_alloc(a, size, align);
    for (;;) {
        void *p = mdn_bump_alloc(a->hole, size, align);
        if (p)
            return p;
        if (!next_hole(a))
            return NULL;
    }
}

void *mdn_immix_alloc_object(mdn_immix_allocator *a, size_t size, size_t align, bool pinned) {
    void *obj = mdn_immix_alloc(a, size, align);
    if (!obj)
        return NULL;
    mdn_address start = mdn_address_from_ptr(obj);
    if (size > MDN_IMMIX_SMALL_MAX)
        mdn_immix_note_medium(a->space, start);
    /* .immix.pin: a space that never evacuates keeps every object where it
     * is without a pin, and a pinned bit per slow-path object would back
     * the whole pinned bitmap with memory. */
    if (pinned) {
        if (!a->space->never_evacuates)
            mdn_immix_pin(a->space, start);
    } else if (align > MDN_MIN_ALIGN)
        mdn_immix_note_aligned(a->space, start, align);
    return obj;
}

void mdn_immix_note_aligned(mdn_immix_space *s, mdn_address start, size_t align) {
    MDN_ASSERT(align > MDN_MIN_ALIGN && mdn_is_power_of_two(align) && mdn_address_is_aligned(start, align));
    s->block_has_aligned[mdn_vmspace_block_index(s->vs, start)] = 1;
    mdn_side_byte_store(&s->align_log, start, (uint8_t)__builtin_ctzll(align));
}

void mdn_immix_pin(mdn_immix_space *s, mdn_address start) {
    uint8_t *flag = &s->block_has_pinned[mdn_vmspace_block_index(s->vs, start)];
    if (!__atomic_load_n(flag, __ATOMIC_RELAXED))
        __atomic_store_n(flag, 1, __ATOMIC_RELAXED);
    mdn_side_bit_set_atomic(&s->pinned, start);
}

/* ---- collection ------------------------------------------------------------ */

/* Visit every block of the space's chunks. */
#define FOR_EACH_BLOCK(s, blk)                                                                                         \
    for (size_t c_ = 0, nc_ = mdn_block_pool_chunk_count(&(s)->pool); c_ < nc_; c_++)                                  \
        for (uintptr_t blk = mdn_block_pool_chunk(&(s)->pool, c_).value,                                              \
                       end_ = blk + MDN_CHUNK_SIZE;                                                                    \
             blk < end_; blk += MDN_BLOCK_SIZE)

/* Fewest estimated live bytes first; among equals, most holes first. */
static int by_live_bytes(const void *x, const void *y) {
    const candidate_key *a = x, *b = y;
    if (a->live != b->live)
        return a->live < b->live ? -1 : 1;
    if (a->holes != b->holes)
        return a->holes > b->holes ? -1 : 1;
    return a->block < b->block ? -1 : a->block > b->block;
}

/* .immix.defrag: choose the candidates with the fewest estimated live
 * bytes, as many as `copy_blocks` should hold. A candidate is freed only if
 * all its objects are copied, and objects left in place when copy space
 * runs out are spread over all candidates, so the copy allocators get more
 * than the estimate needs: the unused tails of each GC worker's last copy
 * block and overflow block are covered by COPY_SLACK_BLOCKS blocks per
 * worker, taken past the budget if need be; the sweep gives them back as
 * it frees the evacuated candidates. */
enum { COPY_SLACK_BLOCKS = 2 };

static void choose_candidates(mdn_immix_space *s, size_t ncand, size_t copy_blocks, unsigned workers) {
    candidate_key *keys = s->candidates;
    mdn_sort(keys, ncand, sizeof *keys, by_live_bytes);
    size_t room = copy_blocks * MDN_BLOCK_SIZE, chosen = 0;
    for (size_t i = 0; i < ncand && room > 0; i++) {
        if (keys[i].live > room)
            continue;
        room -= keys[i].live;
        mdn_block_state_set(s->vs, mdn_vmspace_block_at(s->vs, keys[i].block), MDN_IMMIX_EVACUATING);
        chosen++;
    }
    s->candidate_blocks = chosen;
    s->defrag = chosen > 0;
    s->copy_blocks_left = s->defrag ? copy_blocks + (size_t)workers * COPY_SLACK_BLOCKS : 0;
}

/* Bytes of the objects marked in `block` by the last collection: its mark
 * bits still hold that marking until prepare clears them. Only for a block
 * the last sweep found full: nothing was allocated in it since, so every
 * marked object is still there, and the sum bounds what can be live now. */
/* The mark table is written a byte at a time (mdn_side_bit_set_atomic) and
 * scanned here 64 bits at a time: byte k's bit j is bit 8k + j of the word
 * only on a little-endian machine. */
_Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "marked_bytes() assumes little-endian words");
static size_t marked_bytes(const mdn_immix_space *s, mdn_address block) {
    const uint8_t *bits = &s->marks.base[mdn_side_index(&s->marks, block) >> 3];
    enum { WORDS = MDN_BLOCK_SIZE / MDN_GRANULE_SIZE / 64 };
    size_t bytes = 0;
    for (size_t w = 0; w < WORDS; w++) {
        uint64_t word;
        memcpy(&word, bits + w * sizeof word, sizeof word);
        while (word) {
            unsigned bit = (unsigned)__builtin_ctzll(word);
            word &= word - 1;
            mdn_address start = mdn_address_add(block, ((w * 64) + bit) * MDN_GRANULE_SIZE);
            bytes += mdn_vm_object_size(mdn_vm_objref_from_start(start));
        }
    }
    return bytes;
}

void mdn_immix_prepare(mdn_immix_space *s, mdn_heap *heap, bool full) {
    unsigned workers = heap->nworkers;
    s->parallel = workers > 1;
    /* docs/design/generational.md .gen.sticky: a minor collection keeps the
     * epoch and the object marks, so what earlier collections marked stays
     * live and is not traced again; it never defragments. */
    bool minor = s->minor;
    if (minor) {
        /* the epoch stays */
    } else if (s->mark_epoch == UINT8_MAX) {
        /* .immix.lines: a new epoch; on wrap-around, clear the table once. */
        for (size_t c = 0, n = mdn_block_pool_chunk_count(&s->pool); c < n; c++)
            mdn_side_clear_range(&s->line_marks, mdn_block_pool_chunk(&s->pool, c), MDN_CHUNK_SIZE);
        s->mark_epoch = 1;
    } else {
        s->mark_epoch++;
    }
    /* Free lines left in recyclable blocks that no allocator took. */
    size_t stranded = 0;
    for (size_t i = s->recyclable_next; i < s->recyclable_count; i++)
        stranded += s->block_free_lines[s->recyclable[i]];
    /* Recyclable blocks an allocator took may hold new objects in their
     * holes, which neither their line counts nor their marks show: they are
     * no candidates this time. */
    size_t taken = s->recyclable_next < s->recyclable_count ? s->recyclable_next : s->recyclable_count;
    for (size_t i = 0; i < taken; i++)
        s->block_holes[s->recyclable[i]] = 0;
    s->recyclable_count = 0;
    __atomic_store_n(&s->recyclable_next, 0, __ATOMIC_RELAXED);

    /* Defragment on a full collection; when at least a block's worth of
     * free lines sat unused in recyclable blocks (holes the allocators
     * could not use are fragmentation that costs memory); or when the last
     * sweep reclaimed little, where blocks whose every line holds a live
     * object may still be mostly dead bytes that only evacuation frees.
     * Those full blocks are estimated by the sizes of their marked objects,
     * read before the marks are cleared, only in the last two cases. */
    bool defrag = !minor && (full || stranded >= MDN_LINES_PER_BLOCK || s->tight);
    /* docs/design/conservative.md .cons.fast: a conservative heap never
     * evacuates (objects from the inline fast path are not pinned one by one). */
    if (s->never_evacuates)
        defrag = false;
    bool by_bytes = full || s->tight;
    size_t ncand = 0;
    FOR_EACH_BLOCK(s, block) {
        mdn_address b = mdn_address_from_word(block);
        uint8_t state = mdn_block_state_get(s->vs, b);
        if (state == MDN_BLOCK_FREE)
            continue;
        MDN_CHECK(state == MDN_BLOCK_USED || state == MDN_IMMIX_RECYCLABLE);
        if (state != MDN_BLOCK_USED)
            mdn_block_state_set(s->vs, b, MDN_BLOCK_USED);
        size_t i = block_index(s, block);
        if (defrag && !s->block_has_pinned[i]) {
            if (s->block_holes[i]) {
                /* Recyclable and untouched since the sweep: its live
                 * lines bound its live bytes. */
                uint32_t live = (uint32_t)(MDN_LINES_PER_BLOCK - s->block_free_lines[i]) * MDN_LINE_SIZE;
                s->candidates[ncand++] = (candidate_key){(uint32_t)i, live, s->block_holes[i]};
            } else if (by_bytes && s->block_full[i]) {
                /* Worth copying only when it frees a good part of a block. */
                size_t live = marked_bytes(s, b);
                if (live <= MDN_BLOCK_SIZE / 8 * 7) {
                    s->candidates[ncand++] = (candidate_key){(uint32_t)i, (uint32_t)live, s->block_holes[i]};
                }
            }
        }
        if (!minor)
            mdn_side_clear_range(&s->marks, b, MDN_BLOCK_SIZE);
    }

    s->defrag = false;
    s->candidate_blocks = 0;
    s->copy_blocks_left = 0;
    if (ncand == 0)
        return;
    size_t used = mdn_budget_used(s->vs);
    size_t free_blocks = used < s->vs->budget ? (s->vs->budget - used) / MDN_BLOCK_SIZE : 0;
    size_t headroom = s->reserve_bytes / MDN_BLOCK_SIZE;
    size_t copy_blocks = full ? free_blocks : (headroom < free_blocks ? headroom : free_blocks);
    if (copy_blocks == 0)
        return;
    choose_candidates(s, ncand, copy_blocks, workers);
}

/* .immix.pin: does a live (marked) object of `block` have its pinned bit?
 * Pinned objects are never evacuated, so they are marked where they are. */
static bool has_live_pin(const mdn_immix_space *s, mdn_address block) {
    const uint8_t *marks = &s->marks.base[mdn_side_index(&s->marks, block) >> 3];
    const uint8_t *pins = &s->pinned.base[mdn_side_index(&s->pinned, block) >> 3];
    for (size_t i = 0; i < MDN_BLOCK_SIZE / MDN_GRANULE_SIZE / 8; i++)
        if (__atomic_load_n(&marks[i], __ATOMIC_RELAXED) & __atomic_load_n(&pins[i], __ATOMIC_RELAXED))
            return true;
    return false;
}

/* After the sweep, for each hole of a recyclable block: .poison.dirty fills
 * it (start_hole zeroes a hole before the allocator uses it), and with
 * sticky marks the unlogged bits of the dead objects in it are cleared, so
 * objects allocated there start young (docs/design/generational.md
 * .gen.unlog). */
static void sweep_holes(const mdn_immix_space *s, mdn_address block, uint8_t epoch) {
    const uint8_t *marks = mdn_immix_line_marks_of(s, block);
    unsigned end;
    for (unsigned line = mdn_immix_find_hole(marks, 0, epoch, &end); line < MDN_LINES_PER_BLOCK;
         line = mdn_immix_find_hole(marks, end, epoch, &end)) {
        mdn_address hole = mdn_address_add(block, line * MDN_LINE_SIZE);
        if (s->vs->poison)
            mdn_poison_range(mdn_address_to_ptr(hole), (end - line) * MDN_LINE_SIZE);
        if (s->unlogged)
            mdn_side_clear_range(s->unlogged, hole, (end - line) * MDN_LINE_SIZE);
    }
}

size_t mdn_immix_release(mdn_immix_space *s, mdn_heap *heap) {
    uint8_t epoch = s->mark_epoch;
    __atomic_store_n(&s->young_taken, 0, __ATOMIC_RELAXED); /* .immix.young-cap */
    /* .immix.minor-sweep: a conservative root may mark a dead object of
     * any block (.cons.pin), so a conservative heap sweeps them all. */
    bool sweep_young_only = s->minor && !heap->options.conservative;
    size_t live_lines = 0, nfree = 0, nrecyclable = 0, nfull = 0, evacuated = 0, reclaimed_lines = 0;
    FOR_EACH_BLOCK(s, block) {
        mdn_address b = mdn_address_from_word(block);
        uint8_t state = mdn_block_state_get(s->vs, b);
        if (state == MDN_BLOCK_FREE)
            continue;
        MDN_CHECK(state == MDN_BLOCK_USED || state == MDN_IMMIX_EVACUATING);
        size_t i = block_index(s, block);
        if (sweep_young_only && !s->block_young[i]) {
            /* Untouched since the last sweep: its figures stand. */
            live_lines += s->block_live_lines[i];
            if (s->block_free_lines[i]) {
                reclaimed_lines += s->block_free_lines[i];
                mdn_block_state_set(s->vs, b, MDN_IMMIX_RECYCLABLE);
                s->recyclable[s->recyclable_count++] = (uint32_t)i;
                nrecyclable++;
            } else {
                nfull++;
            }
            continue;
        }
        s->block_young[i] = 0;
        unsigned free_lines, holes;
        unsigned live = mdn_immix_count_lines(mdn_immix_line_marks_of(s, b), epoch, &free_lines, &holes);
        s->block_live_lines[i] = (uint8_t)live;
        if (state == MDN_IMMIX_EVACUATING)
            mdn_forwarding_clear(&s->fwd, b, MDN_BLOCK_SIZE); /* forwarded copies are now garbage */
        live_lines += live;
        if (live != 0 && s->block_has_pinned[i] && !has_live_pin(s, b)) {
            /* .immix.pin: every pinned object of the block died. */
            mdn_side_clear_range(&s->pinned, b, MDN_BLOCK_SIZE);
            s->block_has_pinned[i] = 0;
        }
        if (live == 0) {
            evacuated += state == MDN_IMMIX_EVACUATING;
            s->block_free_lines[i] = 0;
            s->block_holes[i] = 0;
            s->block_full[i] = 0;
            if (s->block_has_pinned[i]) {
                mdn_side_clear_range(&s->pinned, b, MDN_BLOCK_SIZE);
                s->block_has_pinned[i] = 0;
            }
            if (s->block_has_aligned[i]) {
                mdn_side_clear_range(&s->align_log, b, MDN_BLOCK_SIZE);
                s->block_has_aligned[i] = 0;
            }
            if (s->unlogged) /* .gen.unlog */
                mdn_side_clear_range(s->unlogged, b, MDN_BLOCK_SIZE);
            mdn_block_pool_release(&s->pool, b, true);
            mdn_budget_give(s->vs, MDN_BLOCK_SIZE);
            nfree++;
        } else if (free_lines > 0) {
            s->block_free_lines[i] = (uint8_t)free_lines;
            s->block_holes[i] = (uint8_t)holes;
            if (s->vs->poison || s->unlogged)
                sweep_holes(s, b, epoch);
            s->block_full[i] = 0;
            reclaimed_lines += free_lines;
            mdn_block_state_set(s->vs, b, MDN_IMMIX_RECYCLABLE);
            s->recyclable[s->recyclable_count++] = (uint32_t)i;
            nrecyclable++;
        } else {
            s->block_free_lines[i] = 0;
            s->block_holes[i] = 0;
            s->block_full[i] = 1;
            if (state != MDN_BLOCK_USED)
                mdn_block_state_set(s->vs, b, MDN_BLOCK_USED);
            nfull++;
        }
    }
    s->defrag = false;
    s->copy_blocks_left = 0;
    /* .immix.defrag: less than an eighth of the swept lines reclaimed (free
     * blocks and free lines of recyclable blocks): the next collection
     * looks for sparse full blocks too. */
    reclaimed_lines += nfree * MDN_LINES_PER_BLOCK;
    s->tight = reclaimed_lines * 8 < (nfree + nrecyclable + nfull) * MDN_LINES_PER_BLOCK;
    s->live_lines = live_lines;
    s->free_blocks = nfree;
    s->recyclable_blocks = nrecyclable;
    s->full_blocks = nfull;
    s->evacuated_blocks = evacuated;
    return live_lines * MDN_LINE_SIZE;
}

size_t mdn_immix_used_blocks(const mdn_immix_space *s) {
    return mdn_block_pool_chunk_count(&s->pool) * MDN_BLOCKS_PER_CHUNK - mdn_block_pool_free_count(&s->pool);
}

/* ---- evacuation ------------------------------------------------------------ */

/* Mark an object of a candidate block where it is (pinned, or no copy
 * space). The mark bit is set before the claim is given up, so a worker
 * that claims the object next sees it marked and does not copy it. */
static mdn_objref mark_in_place(mdn_immix_space *s, mdn_tracer *t, mdn_objref obj, mdn_address start, size_t size) {
    mdn_immix_mark_object(s, start);
    mdn_immix_mark_lines(s, start, size);
    if (s->unlogged) /* docs/design/generational.md .gen.unlog */
        mdn_side_bit_set(s->unlogged, mdn_objref_to_address(obj), s->parallel);
    mdn_forwarding_abandon(&s->fwd, start);
    mdn_tracer_enqueue(t, obj);
    return obj;
}

mdn_objref mdn_immix_evacuate(mdn_immix_space *s, mdn_tracer *t, mdn_objref obj, mdn_address start,
                              mdn_immix_allocator *copy) {
    if (mdn_side_bit_test(&s->marks, start))
        return obj; /* already marked in place */
    if (mdn_forwarding_state(&s->fwd, start) == MDN_FWD_DONE)
        return mdn_forwarding_pointer(start);
    if (!mdn_forwarding_try_claim(&s->fwd, start)) {
        /* Another worker is copying it, or marking it in place. */
        mdn_objref moved = mdn_forwarding_wait(&s->fwd, start);
        return mdn_objref_is_null(moved) ? obj : moved;
    }
    if (mdn_side_bit_test(&s->marks, start)) {
        /* Marked in place by a worker whose claim this one followed. */
        mdn_forwarding_abandon(&s->fwd, start);
        return obj;
    }
    MDN_RACE_POINT(mdn_race_forward_claimed, mdn_address_to_ptr(start)); /* docs/design/reliability.md .race.hooks */
    size_t size = mdn_vm_object_size(obj);
    /* .immix.pin: a candidate block has no pinned object (its flag was
     * clear when it was chosen, and nothing pins during a collection). */
    MDN_ASSERT(!mdn_immix_is_pinned(s, start));
    /* .immix.aligned: keep an alignment above MDN_MIN_ALIGN. */
    size_t align = MDN_MIN_ALIGN;
    if (MDN_UNLIKELY(s->block_has_aligned[block_index(s, start.value)])) {
        uint8_t log = mdn_side_byte_load(&s->align_log, start);
        if (log)
            align = (size_t)1 << log;
    }
    void *to = mdn_immix_alloc(copy, size, align);
    if (!to)
        return mark_in_place(s, t, obj, start, size);
    memcpy(to, mdn_address_to_ptr(start), size);
    mdn_address new_start = mdn_address_from_ptr(to);
    mdn_objref moved = mdn_vm_objref_from_start(new_start);
    mdn_immix_note_copy(s, new_start, size, align);
    mdn_forwarding_complete(&s->fwd, start, moved);
    if (mdn_vm_object_moved)
        mdn_vm_object_moved(obj, moved);
    t->bytes_copied += size;
    mdn_tracer_enqueue(t, moved);
    return moved;
}

/* ---- checking ---------------------------------------------------------------- */

/* .policy.check: every block of the space is in a state of the phase, and
 * the recyclable list built by the last sweep holds recyclable blocks. */
void mdn_immix_check(const mdn_immix_space *s) {
    FOR_EACH_BLOCK(s, block) {
        uint8_t st = mdn_block_state_get(s->vs, mdn_address_from_word(block));
        if (st != MDN_BLOCK_FREE && st != MDN_BLOCK_USED && st != MDN_BLOCK_ALLOCATING && st != MDN_IMMIX_RECYCLABLE &&
            st != MDN_IMMIX_EVACUATING)
            mdn_verify_fail("immix block %p is in state %u", (void *)block, (unsigned)st);
    }
    if (s->recyclable_count > s->vs->nblocks)
        mdn_verify_fail("immix recyclable list holds %zu blocks of %zu", s->recyclable_count, s->vs->nblocks);
    for (size_t i = __atomic_load_n(&s->recyclable_next, __ATOMIC_RELAXED); i < s->recyclable_count; i++) {
        mdn_address b = mdn_vmspace_block_at(s->vs, s->recyclable[i]);
        if (mdn_block_state_get(s->vs, b) != MDN_IMMIX_RECYCLABLE || !mdn_immix_contains(s, b))
            mdn_verify_fail("immix recyclable list entry %zu is block %p, not a recyclable block of space %u", i,
                            mdn_address_to_ptr(b), s->id);
    }
}

/* .immix.verify: after a collection every object marked by it lies in a
 * block in use and its lines carry the collection's epoch: the line it
 * starts in, and every line it spans if it is medium (.immix.conservative). */
void mdn_immix_verify(mdn_immix_space *s) {
    uint8_t epoch = s->mark_epoch;
    FOR_EACH_BLOCK(s, block) {
        mdn_address b = mdn_address_from_word(block);
        uint8_t st = mdn_block_state_get(s->vs, b);
        const uint8_t *lines = mdn_immix_line_marks_of(s, b);
        for (size_t off = 0; off < MDN_BLOCK_SIZE; off += MDN_GRANULE_SIZE) {
            mdn_address start = mdn_address_add(b, off);
            if (!mdn_immix_is_marked(s, start))
                continue;
            if (st == MDN_BLOCK_FREE)
                mdn_verify_fail("immix object %p is marked in a free block", mdn_address_to_ptr(start));
            size_t size = mdn_side_bit_test(&s->medium, start)
                              ? mdn_vm_object_size(mdn_vm_objref_from_start(start))
                              : MDN_GRANULE_SIZE;
            size_t last = (off + size - 1) / MDN_LINE_SIZE;
            for (size_t l = off / MDN_LINE_SIZE; l <= last && l < MDN_LINES_PER_BLOCK; l++)
                if (lines[l] != epoch)
                    mdn_verify_fail("immix object %p is marked but its line %zu carries epoch %u, not the "
                                    "collection's %u",
                                    mdn_address_to_ptr(start), l, (unsigned)lines[l], (unsigned)epoch);
        }
    }
}

MDN_POLICY_DEFINE_MARKED(immix, mdn_immix_space);
