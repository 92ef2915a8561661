/*
 * marksweep.h: the mark-sweep policy (docs/design/overview.md .overview.policies; docs/design/policies.md,
 * "Mark-sweep"): segregated size classes (.ms.classes), one class per 32 KiB
 * block (.ms.blocks), free lists threaded through free cells and owned by
 * one thread at a time, per-class lock-free lists of blocks to sweep
 * (.ms.lists), mark bits in side metadata set by any GC worker (.ms.marks),
 * classification after a collection and sweeping when an allocator takes a
 * block (.ms.lazy), zeroed cells (.ms.zero), an eager sweep for verification
 * (.ms.eager), and allocation counted per free list (.ms.count).
 */
#ifndef MDN_POLICY_MARKSWEEP_H
#define MDN_POLICY_MARKSWEEP_H

#include "core/block_pool.h"
#include "core/policy.h"
#include "core/side_metadata.h"
#include "core/stats.h"
#include "core/trace.h"

#include <midden/vm.h>

/* .ms.classes */
#define MDN_MARKSWEEP_EXACT_CLASSES 32u      /* classes 1..32: cell = 8·c bytes */
#define MDN_MARKSWEEP_GEOMETRIC_CLASSES 40u  /* classes 33..72: 8 per octave, 256..8192 */
#define MDN_MARKSWEEP_CLASSES (1u + MDN_MARKSWEEP_EXACT_CLASSES + MDN_MARKSWEEP_GEOMETRIC_CLASSES) /* 0 is no class */
#define MDN_MARKSWEEP_EXACT_MAX ((size_t)MDN_MARKSWEEP_EXACT_CLASSES * MDN_GRANULE_SIZE)  /* 256 */
#define MDN_MARKSWEEP_MAX_CELL ((size_t)8192)

_Static_assert(MDN_MARKSWEEP_MAX_CELL == MDN_LARGE_OBJECT_THRESHOLD, "classes cover the small objects");
_Static_assert(MDN_MARKSWEEP_EXACT_MAX == MDN_FREELIST_FAST_MAX, "the inline fast path indexes classes by granules");

/* Block states of the policy (.ms.blocks). */
enum { MDN_MARKSWEEP_BLOCK_SWEEPABLE = MDN_BLOCK_POLICY, MDN_MARKSWEEP_BLOCK_SWEPT = MDN_BLOCK_POLICY + 1 };

/* Cell size of class `c` (1..72). */
static inline size_t mdn_marksweep_cell_size(unsigned c) {
    if (c <= MDN_MARKSWEEP_EXACT_CLASSES)
        return (size_t)c << MDN_LOG_GRANULE;
    unsigned j = c - (MDN_MARKSWEEP_EXACT_CLASSES + 1), octave = j >> 3, step = (j & 7) + 1;
    return ((size_t)256 << octave) + ((size_t)step << (5 + octave));
}

/* .ms.phase: where a block's first cell starts: one word in when the
 * binding asks that objects start at 8 mod 16 (MDN_VM_INLINE_START_PHASE,
 * <midden/vm.h>), else at the block's first byte. */
#define MDN_MARKSWEEP_CELL_OFFSET ((size_t)MDN_VM_INLINE_START_PHASE)
/* The granule of the block's first cell, in the block's mark bits. */
#define MDN_MARKSWEEP_FIRST_GRANULE (MDN_MARKSWEEP_CELL_OFFSET >> MDN_LOG_GRANULE)

/* Cells in a block of class `c`. */
static inline size_t mdn_marksweep_cells_per_block(unsigned c) {
    return (MDN_BLOCK_SIZE - MDN_MARKSWEEP_CELL_OFFSET) / mdn_marksweep_cell_size(c);
}

/* The address of cell `i` of `block`. */
static inline uintptr_t mdn_marksweep_cell_at(mdn_address block, size_t cell, size_t i) {
    return block.value + MDN_MARKSWEEP_CELL_OFFSET + i * cell;
}

/* The smallest class whose cell holds `bytes` (1..8192). .ms.phase: with
 * cells one word into the block, only cells of a multiple of 16 bytes keep
 * every object at 8 mod 16, so sizes round up to 16 first. */
static inline unsigned mdn_marksweep_size_class(size_t bytes) {
    if (MDN_MARKSWEEP_CELL_OFFSET)
        bytes = (bytes + 15) & ~(size_t)15;
    if (bytes <= MDN_MARKSWEEP_EXACT_MAX)
        return (unsigned)((bytes + MDN_GRANULE_SIZE - 1) >> MDN_LOG_GRANULE);
    unsigned k = 63u - (unsigned)__builtin_clzll((unsigned long long)(bytes - 1)); /* 2^k < bytes <= 2^(k+1) */
    unsigned step = (unsigned)((bytes - ((size_t)1 << k) + ((size_t)1 << (k - 3)) - 1) >> (k - 3)); /* 1..8 */
    return MDN_MARKSWEEP_EXACT_CLASSES + (k - 8) * 8 + step;
}

/* The smallest class whose cells hold `bytes` and are `align`-aligned (a
 * power of two); 0 when there is none (the request belongs in the
 * large-object space). .ms.phase: cells one word into the block are never
 * aligned beyond 8 bytes. */
unsigned mdn_marksweep_class_for(size_t bytes, size_t align);

/* A thread's allocator: one free list per class. The lists of classes
 * 1..32 live in an array given at init (a mutator's fast.free_lists, where
 * the inline fast path pops them); the others live here. */
typedef struct mdn_marksweep_allocator {
    void **exact_heads;                        /* index = class, 1..32 */
    void *heads[MDN_MARKSWEEP_GEOMETRIC_CLASSES];     /* class 33 + i */
    uint32_t current[MDN_MARKSWEEP_CLASSES];          /* ALLOCATING block index + 1, 0 = none */
} mdn_marksweep_allocator;

/* Per-block table entry (.ms.blocks). */
typedef struct mdn_marksweep_block_info {
    void *swept_head;     /* SWEPT: the free list built by the eager sweep */
    uint16_t swept_free;  /* SWEPT: cells on it */
    uint8_t size_class;   /* the class, set when the block leaves the pool */
} mdn_marksweep_block_info;

typedef struct mdn_marksweep_block_list {
    _Alignas(MDN_CACHE_LINE) uint64_t head; /* (tag << 32) | (index + 1); 0 when empty */
} mdn_marksweep_block_list;

typedef struct mdn_marksweep_space {
    mdn_block_pool pool;
    mdn_side_metadata marks;      /* one bit per granule */
    mdn_marksweep_block_info *blocks;    /* per vmspace block */
    size_t nblocks;
    unsigned id;
    bool poison;                  /* fill reclaimed cells with MDN_MARKSWEEP_POISON_BYTE */
    mdn_stats_state *stats;
    mdn_marksweep_block_list lists[MDN_MARKSWEEP_CLASSES]; /* .ms.lists */
} mdn_marksweep_space;

#define MDN_MARKSWEEP_POISON_BYTE 0xdb

/* The verbs of core/policy.h (.policy.verbs); poisoning follows the heap's
 * `poison` option. */
bool mdn_marksweep_init(mdn_marksweep_space *s, mdn_heap *heap, unsigned id);
void mdn_marksweep_destroy(mdn_marksweep_space *s);

/* An allocator with empty lists; `exact_heads` has MDN_MARKSWEEP_EXACT_CLASSES + 1
 * entries (a mutator's fast.free_lists). */
void mdn_marksweep_allocator_init(mdn_marksweep_allocator *a, void **exact_heads);

/* The address of class c's free-list head. */
static inline void **mdn_marksweep_allocator_head(mdn_marksweep_allocator *a, unsigned c) {
    return c <= MDN_MARKSWEEP_EXACT_CLASSES ? &a->exact_heads[c] : &a->heads[c - (MDN_MARKSWEEP_EXACT_CLASSES + 1)];
}

/* Refill class c's list: sweep a block from the class's list, else take a
 * fresh block from the pool. false when the heap budget is used up. */
bool mdn_marksweep_refill(mdn_marksweep_space *s, mdn_marksweep_allocator *a, unsigned c);

/* A zeroed cell of class c; NULL when the budget is used up (collect). */
static inline void *mdn_marksweep_alloc(mdn_marksweep_space *s, mdn_marksweep_allocator *a, unsigned c) {
    void **head = mdn_marksweep_allocator_head(a, c);
    void **cell = (void **)*head;
    if (MDN_UNLIKELY(cell == NULL)) {
        if (!mdn_marksweep_refill(s, a, c))
            return NULL;
        cell = (void **)*head;
    }
    *head = *cell;
    *cell = NULL;
    return cell;
}

/* Give the allocator's blocks back (USED) and count what it handed out. */
void mdn_marksweep_allocator_retire(mdn_marksweep_space *s, mdn_marksweep_allocator *a);

/* Start of a collection (world stopped): clear the marks of every block in use. */
void mdn_marksweep_prepare(mdn_marksweep_space *s, mdn_heap *heap, bool full);
/* After the closure: classify every block (.ms.lazy). Returns live bytes
 * (marked cells times their size). */
size_t mdn_marksweep_release(mdn_marksweep_space *s, mdn_heap *heap);
/* Sweep every block waiting on a list now (.ms.eager); world stopped.
 * Returns the bytes of free cells found. */
size_t mdn_marksweep_sweep_all(mdn_marksweep_space *s);
/* Check the invariants (world stopped; aborts on a violation): block states
 * against lists and tables, SWEPT lists exact (unmarked, zeroed cells). */
void mdn_marksweep_check(const mdn_marksweep_space *s);
/* Heap verifier: sweep every waiting block eagerly, then check (.ms.eager):
 * the mark bits agree with every free list. */
void mdn_marksweep_verify(mdn_marksweep_space *s);
extern const mdn_policy mdn_marksweep_policy;

static inline bool mdn_marksweep_contains(const mdn_marksweep_space *s, mdn_address a) {
    return mdn_vmspace_space_of(s->pool.vs, a) == s->id;
}

/* Set the mark bit of `start`; true when this call set it. The table is
 * read and written in aligned 64-bit words here (its base is page aligned),
 * so the parallel case is one `lock bts`. With one GC worker nobody else
 * writes marks during the closure: a plain read-modify-write serves and lets
 * the processor overlap the cache misses of successive marks, which a locked
 * instruction would serialise. */
static inline bool mdn_marksweep_mark(const mdn_marksweep_space *s, mdn_address start, bool parallel) {
    unsigned bit;
    uint64_t *word = mdn_side_word_k(&s->marks, start, MDN_LOG_GRANULE, &bit); /* .side.const */
    uint64_t mask = (uint64_t)1 << bit;
    uint64_t old = __atomic_load_n(word, __ATOMIC_RELAXED);
    if (old & mask)
        return false;
    if (!parallel) {
        __atomic_store_n(word, old | mask, __ATOMIC_RELAXED);
        return true;
    }
    return (__atomic_fetch_or(word, mask, __ATOMIC_RELAXED) & mask) == 0;
}

static MDN_ALWAYS_INLINE mdn_objref mdn_marksweep_trace_object(mdn_marksweep_space *s, mdn_tracer *t, mdn_objref obj) {
    if (mdn_marksweep_mark(s, mdn_vm_object_start(obj), t->heap->nworkers > 1))
        mdn_tracer_enqueue(t, obj);
    return obj;
}

/* Read in the same 64-bit words mdn_marksweep_mark writes (.ms.marks). */
static inline bool mdn_marksweep_is_marked(const mdn_marksweep_space *s, mdn_address start) {
    size_t i = mdn_side_index(&s->marks, start);
    const uint64_t *word = (const uint64_t *)(const void *)s->marks.base + (i >> 6);
    return (__atomic_load_n(word, __ATOMIC_RELAXED) >> (i & 63)) & 1u;
}

/* .policy.marks: marks are set only at cell starts of blocks in use. */
static inline const mdn_side_metadata *mdn_marksweep_marks(const mdn_marksweep_space *s) { return &s->marks; }

/* Is `a` (in this space) the start of a cell of a block in use? */
bool mdn_marksweep_is_cell_start(const mdn_marksweep_space *s, mdn_address a);

/* A marked cell start (marks stay until the next prepare). */
static inline bool mdn_marksweep_is_live(const mdn_marksweep_space *s, mdn_objref obj) {
    mdn_address start = mdn_vm_object_start(obj);
    return mdn_marksweep_contains(s, start) && mdn_marksweep_is_cell_start(s, start) &&
           mdn_marksweep_is_marked(s, start);
}

/* Nothing moves. */
static inline mdn_objref mdn_marksweep_forwarded(const mdn_marksweep_space *s, mdn_objref obj) {
    (void)s;
    return obj;
}

/* The class of the block holding `a` (in this space, block in use). */
static inline unsigned mdn_marksweep_block_class(const mdn_marksweep_space *s, mdn_address a) {
    return s->blocks[mdn_vmspace_block_index(s->pool.vs, a)].size_class;
}

/* Bytes in the space's blocks that are not FREE. */
size_t mdn_marksweep_used_bytes(const mdn_marksweep_space *s);

#endif
