/*
 * immix.h: the Immix policy (docs/design/overview.md .overview.policies; Blackburn & McKinley, PLDI 2008):
 * a mark-region space of 32 KiB blocks divided into 256-byte lines.
 * docs/design/immix.md explains the design; the tags below are cited from the code.
 *
 * .immix.lines: a line is live when its mark byte equals the space's mark
 * epoch. Marking stores the epoch of the collection in progress, so line
 * marks are never cleared between collections: lines marked by an earlier
 * collection simply hold an older epoch. After 255 epochs the byte wraps and
 * the table is cleared in bulk once.
 * .immix.conservative: an object of at most one line marks only the line it
 * starts in; it may end in the next line, so the allocator treats a line as
 * free only if it and the line before it are unmarked (the first line of a
 * block has no line before it: objects never cross blocks). A larger
 * (medium) object marks every line it spans.
 * .immix.objects: one mark bit per granule (object start), set with an
 * atomic fetch-or so each object is scanned once; cleared in bulk per block
 * when a collection starts.
 * .immix.alloc: a thread-local allocator bumps into the current hole (for a
 * mutator, the inline region of mdn_alloc) and finds the next hole by
 * scanning the line marks of its block; blocks come from the recyclable list
 * built by the last sweep first (consumed with an atomic index), then from
 * the free pool. An object larger than a line that does not fit the current
 * hole goes to a separate overflow block, so medium objects do not make the
 * allocator skip holes.
 * .immix.sweep: after marking, each block is classified free, recyclable or
 * full from its line marks alone; free blocks go back to the pool.
 * .immix.minor-sweep: with sticky marks a minor collection changes the line
 * marks only of blocks an allocator took since the last sweep (old objects
 * are already marked); it sweeps those and keeps the last sweep's figures
 * for the others.
 * .immix.defrag: when the last collection left free lines stranded in
 * recyclable blocks nobody used, when it reclaimed little, or on a full
 * collection, the blocks with the fewest estimated live bytes are chosen as
 * evacuation candidates (within the copy space available): recyclable
 * blocks by their live lines, full blocks by the sizes of the objects the
 * last collection marked in them. Their objects are copied by the GC
 * workers into fresh blocks, or marked in place when pinned or when copy
 * space runs out.
 * .immix.pin: a pinned bit per granule keeps an object from being evacuated;
 * a block's pinned flag is recomputed from its live pinned objects by each
 * sweep, so a dead pin stops blocking defragmentation.
 * .immix.aligned: an object allocated with an alignment above MDN_MIN_ALIGN
 * has the log2 of it in a byte table; evacuation copies it at that
 * alignment.
 * .immix.promote: objects of another space may be copied in during a
 * collection (a generational plan's nursery survivors); each copy is
 * marked as reached by the collection in progress, like an evacuated one.
 */
#ifndef MDN_POLICY_IMMIX_H
#define MDN_POLICY_IMMIX_H

#include "core/block_pool.h"
#include "core/bump.h"
#include "core/forwarding.h"
#include "core/policy.h"
#include "core/side_metadata.h"
#include "core/stats.h"
#include "core/trace.h"

#include <midden/vm.h>

#include <string.h>

/* Policy block states (vmspace block_state). */
enum {
    MDN_IMMIX_RECYCLABLE = MDN_BLOCK_POLICY,     /* on the recyclable list: has free lines */
    MDN_IMMIX_EVACUATING = MDN_BLOCK_POLICY + 1, /* evacuation candidate of this collection */
};

/* Objects above this size are medium: they mark every line they span. */
#define MDN_IMMIX_SMALL_MAX MDN_LINE_SIZE

typedef struct mdn_immix_space {
    mdn_block_pool pool;
    mdn_vmspace *vs;
    unsigned id;
    mdn_stats_state *stats;
    mdn_side_metadata line_marks; /* one byte per line: the epoch that last marked it */
    mdn_side_metadata marks;      /* one bit per granule: object marked this collection */
    mdn_side_metadata pinned;     /* one bit per granule: object may never move */
    mdn_side_metadata medium;     /* one bit per granule: an object above a line starts here */
    mdn_side_metadata align_log;  /* one byte per granule: log2 of an alignment above 8, else 0 */
    mdn_forwarding fwd;           /* forwarding states for evacuation */
    uint8_t mark_epoch;           /* epoch of the last (or current) marking, 1..255 */

    /* Per block (indexed by the block's number in the reservation). */
    uint8_t *block_free_lines;  /* free lines found by the last sweep (recyclable blocks) */
    uint8_t *block_holes;       /* holes found by the last sweep; 0 = not a candidate */
    uint8_t *block_has_pinned;  /* some granule's pinned bit may be set (atomic) */
    uint8_t *block_has_aligned; /* some granule's align_log byte may be set */
    uint8_t *block_has_medium;  /* some granule's medium bit may be set (atomic, .immix.medium) */
    uintptr_t medium_biased;    /* block_has_medium less the reservation's first block number */
    uint8_t *block_full;        /* the last sweep found every line live; unchanged since */
    uint8_t *block_live_lines;  /* live lines found by the last sweep */
    uint8_t *block_young;       /* an allocator took the block since the last sweep (.immix.minor-sweep) */

    /* .immix.alloc: the recyclable list, rebuilt by every sweep. */
    uint32_t *recyclable;      /* block indices */
    size_t recyclable_count;
    size_t recyclable_next;    /* atomic: next entry to hand out */

    /* Headroom (.immix.defrag): mutators leave this many bytes of the budget
     * unused so that a collection has free blocks to copy into. */
    size_t reserve_bytes;
    unsigned headroom_percent;

    /* The collection in progress. */
    bool parallel;             /* more than one GC worker marks (.immix.objects) */
    bool defrag;               /* evacuating candidates this collection */
    size_t copy_blocks_left;   /* atomic: blocks copy allocators may still take */
    struct mdn_immix_candidate *candidates; /* scratch for candidate selection, a block's worth each */
    bool tight;                /* the last sweep reclaimed little (.immix.defrag) */
    bool never_evacuates;      /* a conservative heap's space: no pins needed (.immix.pin) */

    /* Figures of the last sweep. */
    size_t live_lines;
    size_t free_blocks;
    size_t recyclable_blocks;
    size_t full_blocks;
    size_t candidate_blocks;
    size_t evacuated_blocks;   /* candidates that ended free */

    /* Sticky mark bits (docs/design/generational.md .gen.sticky), set by a
     * generational plan: the unlogged bits its marking sets (.gen.unlog)
     * and the sweep clears in what it frees; NULL otherwise. */
    mdn_side_metadata *unlogged;
    bool minor;                /* the collection in progress is minor: no new epoch, marks kept */
    /* .immix.young-cap: bytes of blocks (free blocks whole, recyclable ones
     * by their free lines) mutators may take between two collections; 0:
     * no bound. Set by a generational plan before each refill. */
    size_t young_cap;          /* atomic */
    size_t young_taken;        /* atomic: taken since the last collection */
} mdn_immix_space;

/* A thread-local allocator: a mutator's (holes in recyclable blocks, then
 * free blocks; overflow block for medium objects) or a GC worker's copy
 * allocator (free blocks only, within the collection's copy space). */
typedef struct mdn_immix_allocator {
    mdn_immix_space *space;
    mdn_bump_region *hole;     /* the current hole: the mutator's inline region or `own` */
    mdn_bump_region own;
    uintptr_t hole_start;      /* start of the current hole, for allocation statistics */
    uintptr_t block;           /* block of the current hole; 0 when none */
    unsigned next_line;        /* where the search for the next hole resumes in `block` */
    bool copy;                 /* a copy allocator */
    bool unbounded;            /* a promotion allocator (.immix.promote) */
    mdn_bump_region overflow;  /* the overflow block; limit 0 when none */
    uintptr_t medium_cursor;   /* the hole's cursor after the last medium object placed or refused */
} mdn_immix_allocator;

/* The verbs of core/policy.h (.policy.verbs); the defrag headroom is the
 * heap's `defrag_headroom` option. */
bool mdn_immix_init(mdn_immix_space *s, mdn_heap *heap, unsigned id);
void mdn_immix_destroy(mdn_immix_space *s);

/* A mutator allocator whose holes are `region` (the mutator's inline
 * region), or a copy allocator (region NULL, copy true). */
void mdn_immix_allocator_init(mdn_immix_allocator *a, mdn_immix_space *s, mdn_bump_region *region, bool copy);
/* .immix.promote: a GC worker's copy allocator for the survivors of a
 * nursery (docs/design/generational.md .gen.promote): free blocks like any
 * copy allocator, but not within the collection's copy space: it takes
 * them from the budget, past it if need be, and fails only when the
 * reservation has no block left. */
void mdn_immix_promotion_allocator_init(mdn_immix_allocator *a, mdn_immix_space *s);
/* Give the allocator's blocks back to the space (collection start, unbind,
 * end of a GC worker's closure). */
void mdn_immix_allocator_retire(mdn_immix_allocator *a);

/* Slow path: allocate `size` bytes (a multiple of MDN_MIN_ALIGN, at most a
 * block less the alignment) aligned to `align`. Zeroed memory for mutator
 * allocators. NULL when the budget refuses a block (or, for a copy
 * allocator, when the collection's copy space is used up). */
void *mdn_immix_alloc(mdn_immix_allocator *a, size_t size, size_t align);

/* A mutator's object: mdn_immix_alloc, then the notes the object needs (a
 * medium one's bit, .immix.medium; the pinned bit when `pinned`,
 * .immix.pin; else an alignment above MDN_MIN_ALIGN, .immix.aligned). */
void *mdn_immix_alloc_object(mdn_immix_allocator *a, size_t size, size_t align, bool pinned);

/* The block_has_medium flag of the block holding `a`, indexed by the
 * address's block number through the biased base (as side metadata is,
 * .side.const): the trace loop's test reads no other field. */
static MDN_ALWAYS_INLINE uint8_t *mdn_immix_medium_flag(const mdn_immix_space *s, mdn_address a) {
    return (uint8_t *)(s->medium_biased + (a.value >> MDN_LOG_BLOCK));
}

/* Record that the object just allocated at `start` is medium (above a
 * line), so tracing marks all its lines without reading it (.immix.medium).
 * Only the owner of the block writes these bits. */
static inline void mdn_immix_note_medium(mdn_immix_space *s, mdn_address start) {
    uint8_t *flag = mdn_immix_medium_flag(s, start);
    if (!__atomic_load_n(flag, __ATOMIC_RELAXED))
        __atomic_store_n(flag, 1, __ATOMIC_RELAXED);
    size_t i = mdn_side_index(&s->medium, start);
    uint8_t *byte = &s->medium.base[i >> 3];
    *byte = (uint8_t)(*byte | (1u << (i & 7)));
}

/* .immix.medium: is the object at `start` medium? The block's flag first,
 * a byte of a small table that stays in cache, and the granule's bit only
 * in a block that holds medium objects. */
static MDN_ALWAYS_INLINE bool mdn_immix_may_be_medium(const mdn_immix_space *s, mdn_address start) {
    return __atomic_load_n(mdn_immix_medium_flag(s, start), __ATOMIC_RELAXED) &&
           mdn_side_bit_test_k(&s->medium, start, MDN_LOG_GRANULE);
}

/* Record that the object just allocated at `start` asked for alignment
 * `align` (above MDN_MIN_ALIGN), so evacuation keeps it (.immix.aligned).
 * Only the owner of the block writes these entries. */
void mdn_immix_note_aligned(mdn_immix_space *s, mdn_address start, size_t align);

/* Pin the object starting at `start` (.immix.pin). */
void mdn_immix_pin(mdn_immix_space *s, mdn_address start);
static inline bool mdn_immix_is_pinned(const mdn_immix_space *s, mdn_address start) {
    return mdn_side_bit_test(&s->pinned, start);
}

/* Collection phases (world stopped). prepare: advance the epoch, clear
 * object marks, decide on defragmentation and choose candidates. `full`:
 * defragment as far as the free budget allows (heap->nworkers GC workers
 * will mark). */
void mdn_immix_prepare(mdn_immix_space *s, mdn_heap *heap, bool full);
/* Sweep (.immix.sweep); returns live bytes (live lines × line size). */
size_t mdn_immix_release(mdn_immix_space *s, mdn_heap *heap);
/* Heap verifier (.immix.verify) and structure check (.policy.check). */
void mdn_immix_verify(mdn_immix_space *s);
void mdn_immix_check(const mdn_immix_space *s);
extern const mdn_policy mdn_immix_policy;

/* ---- line marks and holes ---- */

static inline uint8_t *mdn_immix_line_marks_of(const mdn_immix_space *s, mdn_address block) {
    return mdn_side_byte_ptr(&s->line_marks, block);
}

/*
 * .immix.sweep: a block's 128 line marks read eight at a time into a
 * 128-bit map, bit i set when line i holds the epoch (`marked`), and the
 * map of its free lines (.immix.conservative: line i and line i-1 both
 * unmarked; line 0 when it is unmarked), so counting lines and finding
 * holes are a few word operations instead of a loop over bytes.
 */
_Static_assert(MDN_LINES_PER_BLOCK == 128, "a block's line map is two words");
_Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "line maps read marks as little-endian words");
typedef struct mdn_immix_line_map {
    uint64_t marked[2];
    uint64_t free[2];
} mdn_immix_line_map;

static inline mdn_immix_line_map mdn_immix_line_map_of(const uint8_t *marks, uint8_t epoch) {
    const uint64_t ones = 0x0101010101010101ULL, highs = 0x7f7f7f7f7f7f7f7fULL;
    mdn_immix_line_map m;
    for (unsigned half = 0; half < 2; half++) {
        uint64_t bits = 0;
        for (unsigned w = 0; w < 8; w++) {
            uint64_t x;
            memcpy(&x, marks + half * 64 + w * 8, sizeof x);
            x ^= ones * epoch;                             /* a marked line's byte is now 0 */
            uint64_t zero = ~(((x & highs) + highs) | x | highs); /* 0x80 in each zero byte */
            bits |= (((zero >> 7) * 0x0102040810204080ULL) >> 56) << (w * 8); /* one bit per byte */
        }
        m.marked[half] = bits;
    }
    m.free[0] = ~m.marked[0] & ~(m.marked[0] << 1);
    m.free[1] = ~m.marked[1] & ~((m.marked[1] << 1) | (m.marked[0] >> 63));
    return m;
}

/* The first set bit of a 128-bit map at or after `from`; 128 when none. */
static inline unsigned mdn_immix_line_map_next(const uint64_t map[2], unsigned from) {
    for (unsigned half = from >> 6; half < 2; half++) {
        uint64_t w = map[half];
        if (half == from >> 6)
            w &= ~(uint64_t)0 << (from & 63);
        if (w)
            return half * 64 + (unsigned)__builtin_ctzll(w);
    }
    return MDN_LINES_PER_BLOCK;
}

/*
 * Find the next hole in a block whose line marks are `marks` (one byte per
 * line, MDN_LINES_PER_BLOCK of them), starting at line `from`: the first
 * free line i >= from (.immix.conservative), up to the next marked line.
 * Returns the hole's first line and sets *end to one past its last line;
 * returns MDN_LINES_PER_BLOCK when there is no hole.
 */
static inline unsigned mdn_immix_find_hole(const uint8_t *marks, unsigned from, uint8_t epoch, unsigned *end) {
    *end = MDN_LINES_PER_BLOCK;
    if (from >= MDN_LINES_PER_BLOCK)
        return MDN_LINES_PER_BLOCK;
    mdn_immix_line_map m = mdn_immix_line_map_of(marks, epoch);
    unsigned first = mdn_immix_line_map_next(m.free, from);
    if (first < MDN_LINES_PER_BLOCK)
        *end = mdn_immix_line_map_next(m.marked, first);
    return first;
}

/* Count free lines and holes of a block by the rule of mdn_immix_find_hole;
 * returns the number of live (marked) lines. */
static inline unsigned mdn_immix_count_lines(const uint8_t *marks, uint8_t epoch, unsigned *free_lines,
                                             unsigned *holes) {
    mdn_immix_line_map m = mdn_immix_line_map_of(marks, epoch);
    uint64_t starts0 = m.free[0] & ~(m.free[0] << 1);
    uint64_t starts1 = m.free[1] & ~((m.free[1] << 1) | (m.free[0] >> 63));
    *free_lines = mdn_popcount64(m.free[0]) + mdn_popcount64(m.free[1]);
    *holes = mdn_popcount64(starts0) + mdn_popcount64(starts1);
    return mdn_popcount64(m.marked[0]) + mdn_popcount64(m.marked[1]);
}

/* Mark the lines of a reached object (.immix.conservative). Several workers
 * may store the same epoch into a line; the load first avoids writing a
 * shared cache line that already holds it. */
static inline void mdn_immix_mark_lines(const mdn_immix_space *s, mdn_address start, size_t size) {
    uint8_t epoch = s->mark_epoch;
    uint8_t *line = mdn_side_byte_k(&s->line_marks, start, MDN_LOG_LINE, 3); /* .side.const */
    if (MDN_LIKELY(size <= MDN_IMMIX_SMALL_MAX)) {
        if (__atomic_load_n(line, __ATOMIC_RELAXED) != epoch)
            __atomic_store_n(line, epoch, __ATOMIC_RELAXED);
        return;
    }
    size_t n = ((start.value + size - 1) >> MDN_LOG_LINE) - (start.value >> MDN_LOG_LINE) + 1;
    for (size_t i = 0; i < n; i++)
        if (__atomic_load_n(&line[i], __ATOMIC_RELAXED) != epoch)
            __atomic_store_n(&line[i], epoch, __ATOMIC_RELAXED);
}

/* ---- tracing ---- */

/* Out of line: an object in an evacuation candidate block. */
mdn_objref mdn_immix_evacuate(mdn_immix_space *s, mdn_tracer *t, mdn_objref obj, mdn_address start,
                              mdn_immix_allocator *copy);

static inline bool mdn_immix_contains(const mdn_immix_space *s, mdn_address a) {
    return mdn_vmspace_space_of(s->vs, a) == s->id;
}

static inline bool mdn_immix_is_candidate(const mdn_immix_space *s, mdn_address start) {
    return mdn_block_state_get(s->vs, mdn_address_align_down(start, MDN_BLOCK_SIZE)) == MDN_IMMIX_EVACUATING;
}

/* Set the mark bit of the object at `start`; true when this call set it.
 * .immix.objects: with several workers the bit is set with an atomic
 * fetch-or (bits of neighbouring objects share the byte); a lone worker
 * owns the whole table and skips the locked instruction, which costs more
 * than the rest of marking an object. */
static inline bool mdn_immix_mark_object(const mdn_immix_space *s, mdn_address start) {
    return mdn_side_bit_set_k(&s->marks, start, MDN_LOG_GRANULE, s->parallel); /* .side.const */
}

/* A copy just placed at `start` by a copy allocator (evacuated, or
 * promoted, .immix.promote): mark it reached by the collection in progress,
 * note its size and alignment, and set its unlogged bit on a generational
 * heap (docs/design/generational.md .gen.unlog). */
static inline void mdn_immix_note_copy(mdn_immix_space *s, mdn_address start, size_t size, size_t align) {
    mdn_immix_mark_object(s, start);
    mdn_immix_mark_lines(s, start, size);
    if (s->unlogged)
        mdn_side_bit_set(s->unlogged, mdn_objref_to_address(mdn_vm_objref_from_start(start)), s->parallel);
    if (size > MDN_IMMIX_SMALL_MAX)
        mdn_immix_note_medium(s, start);
    if (align > MDN_MIN_ALIGN)
        mdn_immix_note_aligned(s, start, align);
}

/* .immix.promote: room for a promoted object of `size` bytes in the
 * promotion allocator `a`, marked with mdn_immix_note_copy. Fatal when the
 * reservation is exhausted. */
static MDN_ALWAYS_INLINE void *mdn_immix_alloc_promoted(mdn_immix_allocator *a, size_t size) {
    void *p = mdn_bump_alloc(a->hole, size, MDN_MIN_ALIGN);
    if (MDN_UNLIKELY(p == NULL)) {
        p = mdn_immix_alloc(a, size, MDN_MIN_ALIGN);
        if (p == NULL)
            mdn_fatal("immix space: the heap's address-space reservation has no block left for promoted objects; "
                      "raise the heap size");
    }
    mdn_immix_note_copy(a->space, mdn_address_from_ptr(p), size, MDN_MIN_ALIGN);
    return p;
}

/* Mark (or evacuate) an object of the space; returns its reference after
 * the collection. `copy` is the calling worker's copy allocator. `sticky`
 * (a constant): set the unlogged bit of an object marked now
 * (docs/design/generational.md .gen.unlog); an object marked by an earlier
 * collection is old and is not traced again (.gen.sticky). */
static MDN_ALWAYS_INLINE mdn_objref mdn_immix_trace_object_(mdn_immix_space *s, mdn_tracer *t, mdn_objref obj,
                                                            mdn_immix_allocator *copy, bool sticky) {
    mdn_address start = mdn_vm_object_start(obj);
    if (MDN_UNLIKELY(s->defrag) && mdn_immix_is_candidate(s, start))
        return mdn_immix_evacuate(s, t, obj, start, copy);
    if (mdn_immix_mark_object(s, start)) {
        /* .immix.medium: a small object marks its first line, which needs
         * no read of the object; its header is fetched while it waits in
         * the prefetch ring (.trace.fifo). */
        if (MDN_UNLIKELY(mdn_immix_may_be_medium(s, start)))
            mdn_immix_mark_lines(s, start, mdn_vm_object_size(obj));
        else
            mdn_immix_mark_lines(s, start, MDN_GRANULE_SIZE);
        if (sticky)
            mdn_side_bit_set_k(s->unlogged, mdn_objref_to_address(obj), MDN_LOG_GRANULE, s->parallel);
        mdn_tracer_enqueue(t, obj);
    }
    return obj;
}

static MDN_ALWAYS_INLINE mdn_objref mdn_immix_trace_object(mdn_immix_space *s, mdn_tracer *t, mdn_objref obj,
                                                           mdn_immix_allocator *copy) {
    return mdn_immix_trace_object_(s, t, obj, copy, false);
}

/* The same with sticky mark bits (a generational plan). */
static MDN_ALWAYS_INLINE mdn_objref mdn_immix_sticky_trace_object(mdn_immix_space *s, mdn_tracer *t, mdn_objref obj,
                                                                  mdn_immix_allocator *copy) {
    return mdn_immix_trace_object_(s, t, obj, copy, true);
}

/* .policy.marks: the object mark bitmap; with no evacuation (a conservative
 * heap) its bits are exactly the live object starts of blocks in use. */
static inline const mdn_side_metadata *mdn_immix_marks(const mdn_immix_space *s) { return &s->marks; }

static inline bool mdn_immix_is_marked(const mdn_immix_space *s, mdn_address start) {
    return mdn_side_bit_test(&s->marks, start);
}

/* Reached by the collection: marked in a block in use, or (during the
 * collection) evacuated. */
static inline bool mdn_immix_is_live(const mdn_immix_space *s, mdn_objref obj) {
    mdn_address start = mdn_vm_object_start(obj);
    if (!mdn_immix_contains(s, start) || !mdn_address_is_aligned(start, MDN_MIN_ALIGN))
        return false;
    uint8_t state = mdn_block_state_get(s->vs, mdn_address_align_down(start, MDN_BLOCK_SIZE));
    if (state == MDN_BLOCK_FREE || state == MDN_BLOCK_UNOWNED)
        return false;
    return mdn_immix_is_marked(s, start) ||
           (state == MDN_IMMIX_EVACUATING && mdn_forwarding_state(&s->fwd, start) == MDN_FWD_DONE);
}

/* The new reference of an object evacuated by the collection in progress. */
static inline mdn_objref mdn_immix_forwarded(const mdn_immix_space *s, mdn_objref obj) {
    mdn_address start = mdn_vm_object_start(obj);
    if (mdn_immix_is_candidate(s, start) && mdn_forwarding_state(&s->fwd, start) == MDN_FWD_DONE)
        return mdn_forwarding_pointer(start);
    return obj;
}

/* Blocks of the space that are not free. */
size_t mdn_immix_used_blocks(const mdn_immix_space *s);

#endif
