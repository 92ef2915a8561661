/**
 * @file bench.h
 * @brief What every benchmark program shares: the allocation interface
 * (selected at compile time), a seeded random generator, a clock and the
 * failure exits.
 *
 * A benchmark is written once against the interface below and compiled once
 * per back end:
 *
 * - `BENCH_BACKEND_TOYVM`: the toyvm binding over one Midden plan
 *   (bench_toyvm.h); references held across an allocation live in a root
 *   frame on the shadow stack, because a moving plan may update them.
 * - `BENCH_BACKEND_BOEHM`, `BENCH_BACKEND_MALLOC`: the baselines
 *   (baselines/bench_native.h); root frames are plain local arrays and
 *   compile away, and with malloc the program frees what it drops
 *   (`BENCH_EXPLICIT_FREE`).
 *
 * The interface, implemented by each back end:
 *
 * | name | meaning |
 * | --- | --- |
 * | `bench_ref` | a reference to a heap object |
 * | `bench_vm_start()` / `bench_vm_finish()` | make / destroy the heap (options from `MDN_*`) |
 * | `bench_begin()` / `bench_end()` | bracket the measured part; `bench_end` prints the `midden-stats:` line |
 * | `bench_thread_attach()` / `bench_thread_detach()` | per-thread handle |
 * | `bench_enter_blocking()` / `bench_leave_blocking()` | around a blocking call such as pthread_join |
 * | `bench_safepoint()` | poll for a pending collection |
 * | `bench_new_node(t, l, r)` | a tree node: left, right, two int32 (l and r are rooted by the call) |
 * | `bench_node_left/right`, `bench_node_set_left/right`, `bench_node_ints` | node fields |
 * | `bench_new_object(t, nrefs, bytes)` | an object with @c nrefs null references and @c bytes of payload (contents undefined) |
 * | `bench_obj_ref`, `bench_obj_set_ref`, `bench_obj_payload` | object fields |
 * | `bench_free(t, o)` | free one object when `BENCH_EXPLICIT_FREE`, else nothing |
 * | `BENCH_ROOTS(t, f, n)`, `bench_root(t, f, i)`, `bench_root_set(t, f, i, v)`, `BENCH_ROOTS_POP(t, f, n)` | a frame of @c n roots |
 */
#ifndef MIDDEN_BENCH_H
#define MIDDEN_BENCH_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/** @brief Exit status of a benchmark whose result is wrong. */
#define BENCH_EXIT_WRONG 1
/** @brief Exit status for bad arguments or options. */
#define BENCH_EXIT_USAGE 2
/** @brief Exit status when the heap is exhausted (same as toyvm's). */
#define BENCH_EXIT_OOM 75

/** @brief Monotonic time in seconds. @return seconds since an arbitrary start */
static inline double bench_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/** @brief Report a wrong result and exit with BENCH_EXIT_WRONG. @param what what was wrong */
static inline void bench_wrong(const char *what) {
    fprintf(stderr, "bench: wrong result: %s\n", what);
    exit(BENCH_EXIT_WRONG);
}

/** @brief Report a bad argument and exit with BENCH_EXIT_USAGE. @param usage the usage line */
static inline void bench_usage(const char *usage) {
    fprintf(stderr, "usage: %s\n", usage);
    exit(BENCH_EXIT_USAGE);
}

/** @brief Report exhausted memory and exit with BENCH_EXIT_OOM. */
static inline void bench_oom(void) {
    fprintf(stderr, "bench: out of memory\n");
    exit(BENCH_EXIT_OOM);
}

/**
 * @brief Parse a decimal command-line argument within a range.
 * @param text  the argument
 * @param lo    smallest accepted value
 * @param hi    largest accepted value
 * @param usage usage line printed when the argument is bad
 * @return the value
 */
static inline long bench_arg(const char *text, long lo, long hi, const char *usage) {
    char *end;
    long v = strtol(text, &end, 10);
    if (end == text || *end != '\0' || v < lo || v > hi) {
        fprintf(stderr, "bench: bad argument '%s' (expected %ld..%ld)\n", text, lo, hi);
        bench_usage(usage);
    }
    return v;
}

/** @brief A splitmix64 generator: small, fast and seedable. */
typedef struct bench_rng {
    uint64_t state; /**< the generator state */
} bench_rng;

/** @brief Next 64 random bits. @param r the generator @return the bits */
static inline uint64_t bench_rng_next(bench_rng *r) {
    uint64_t z = (r->state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/** @brief A random number in [0, n). @param r the generator @param n the bound, > 0 @return the number */
static inline uint64_t bench_rng_below(bench_rng *r, uint64_t n) {
    return (uint64_t)(((unsigned __int128)bench_rng_next(r) * n) >> 64);
}

/** @brief A 64-bit mixing function (the splitmix64 finaliser). @param x input @return mixed bits */
static inline uint64_t bench_mix(uint64_t x) {
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

#if defined(BENCH_BACKEND_TOYVM)
#include "bench_toyvm.h"
#elif defined(BENCH_BACKEND_BOEHM) || defined(BENCH_BACKEND_MALLOC)
#include "baselines/bench_native.h"
#else
#error "define BENCH_BACKEND_TOYVM, BENCH_BACKEND_BOEHM or BENCH_BACKEND_MALLOC"
#endif

#endif /* MIDDEN_BENCH_H */
