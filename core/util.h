/*
 * util.h: assertions, named misuse checks, branch hints and small helpers
 * shared by every layer.
 */
#ifndef MDN_CORE_UTIL_H
#define MDN_CORE_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define MDN_LIKELY(x) __builtin_expect(!!(x), 1)
#define MDN_UNLIKELY(x) __builtin_expect(!!(x), 0)
#define MDN_NORETURN __attribute__((noreturn))
#define MDN_NOINLINE __attribute__((noinline))
#define MDN_ALWAYS_INLINE inline __attribute__((always_inline))
#define MDN_INLINE static inline __attribute__((always_inline))
#define MDN_PRINTF(f, a) __attribute__((format(printf, f, a)))
#define MDN_CACHE_LINE 64

/*
 * Zero `n` bytes of memory a mutator will be handed (a block, a hole, a
 * large object's pages), in pieces of at most MDN_ZERO_PIECE bytes
 * (docs/design/heap-layout.md .heap.zero): glibc's memset stores vectors
 * up to that size and switches to `rep stosb` above it, and clearing the
 * blocks, holes and pages the allocators hand out costs more that way on
 * the machines measured.
 */
#define MDN_ZERO_PIECE ((size_t)2048)
void mdn_zero(void *p, size_t n);

/* Print "midden: internal check failed ..." and abort. */
MDN_NORETURN void mdn_assert_fail(const char *expr, const char *file, int line);

/*
 * A broken invariant. MDN_ASSERT is on in debug builds (MDN_DEBUG) and off in
 * release builds; MDN_CHECK is always on and is for cheap checks off the hot
 * paths.
 */
#define MDN_CHECK(cond) ((cond) ? (void)0 : mdn_assert_fail(#cond, __FILE__, __LINE__))
#ifdef MDN_DEBUG
#define MDN_ASSERT(cond) MDN_CHECK(cond)
#else
#define MDN_ASSERT(cond) ((void)0)
#endif

/*
 * API misuse: print "midden: API misuse [check]: message" and abort. Every
 * check has a stable name so tests can assert which one fired (MPS-style
 * argument errors). Always on: these sit off the allocation fast path.
 */
MDN_NORETURN MDN_PRINTF(2, 3) void mdn_misuse(const char *check, const char *fmt, ...);

/* A fatal error outside the VM's control (the OS refused memory, ...). */
MDN_NORETURN MDN_PRINTF(1, 2) void mdn_fatal(const char *fmt, ...);

/* Monotonic time in nanoseconds. */
uint64_t mdn_now_ns(void);

/* Number of online processors, at least 1. */
unsigned mdn_cpu_count(void);

static inline bool mdn_is_power_of_two(size_t x) { return x != 0 && (x & (x - 1)) == 0; }
static inline size_t mdn_align_up(size_t x, size_t a) { return (x + a - 1) & ~(a - 1); }
static inline uintptr_t mdn_align_down_word(uintptr_t x, uintptr_t a) { return x & ~(a - 1); }

/* Set bits of a word: a portable count, since the baseline x86-64 target
 * has no popcnt instruction (the builtin would call into libgcc). */
static inline unsigned mdn_popcount64(uint64_t x) {
    x = x - ((x >> 1) & 0x5555555555555555ULL);
    x = (x & 0x3333333333333333ULL) + ((x >> 2) & 0x3333333333333333ULL);
    x = (x + (x >> 4)) & 0x0f0f0f0f0f0f0f0fULL;
    return (unsigned)((x * 0x0101010101010101ULL) >> 56);
}

/* .overview.tables: the core's own tables (growable arrays, hash sets,
 * work-queue arrays) are pages mapped from the OS, never malloc memory: a
 * collection, and a conservative heap's critical sections, must not wait
 * for a malloc lock that a thread stopped by the signal may hold. */

/* `bytes` (rounded up to whole pages) of zeroed memory, or NULL when
 * memory runs out. */
void *mdn_table_alloc(size_t bytes);
/* Resize a table from mdn_table_alloc (NULL with old_bytes 0: a new one);
 * the contents are kept, the new part is zero. NULL (the table untouched)
 * when memory runs out. */
void *mdn_table_resize(void *table, size_t old_bytes, size_t new_bytes);
/* Give a table back; NULL is ignored. `bytes` as it was allocated. */
void mdn_table_free(void *table, size_t bytes);

/* Make room for one more element in a growable array of `count` elements
 * of `size` bytes (a table): doubles `*capacity` (from `initial`, then to
 * whatever fills the pages) when full. Returns the (possibly moved) array;
 * aborts naming `what` if memory runs out. */
void *mdn_array_reserve(void *array, size_t count, size_t *capacity, size_t size, size_t initial, const char *what);
/* Give back an array grown by mdn_array_reserve (NULL is ignored). */
void mdn_array_free(void *array, size_t capacity, size_t size);

/* Sort `n` elements of `size` bytes (at most 64) in place by `compare`, as
 * qsort does but never allocating (.overview.tables: glibc's qsort takes
 * malloc memory for arrays above a kilobyte). Not stable. */
void mdn_sort(void *base, size_t n, size_t size, int (*compare)(const void *, const void *));

/* Fill an mdn_error (may be NULL) with a code and a formatted message. */
struct mdn_error;
MDN_PRINTF(3, 4) void mdn_error_set(struct mdn_error *err, int code, const char *fmt, ...);

#endif
