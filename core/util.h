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

/* Make room for one more element in a growable array of `count` elements
 * of `size` bytes: doubles `*capacity` (from `initial`) when full. Returns
 * the (possibly moved) array; aborts naming `what` if memory runs out. */
void *mdn_array_reserve(void *array, size_t count, size_t *capacity, size_t size, size_t initial, const char *what);

/* Fill an mdn_error (may be NULL) with a code and a formatted message. */
struct mdn_error;
MDN_PRINTF(3, 4) void mdn_error_set(struct mdn_error *err, int code, const char *fmt, ...);

#endif
