/*
 * testutil.h: helpers shared by the Check test suites: running a function in
 * a child process and capturing what it printed and how it ended (for tests
 * of out-of-memory and misuse paths, which exit or abort), and printed,
 * replayable random seeds (fixed by default, overridable).
 */
#ifndef MDN_TESTUTIL_H
#define MDN_TESTUTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct mdn_child_result {
    bool exited;      /* ended with exit(); status in exit_status */
    int exit_status;
    bool signaled;    /* killed by a signal; number in signal */
    int signal;
    char output[8192]; /* stdout and stderr together, NUL-terminated, truncated */
} mdn_child_result;

/* Run fn(arg) in a forked child; fn should end the process itself (a return
 * is exit status 0). */
void mdn_run_in_child(void (*fn)(void *), void *arg, mdn_child_result *out);

/* A seed from MDN_TEST_SEED, or else a fixed default derived from the test
 * name; printed to stderr with the test name so a failure replays. */
uint64_t mdn_test_seed(const char *test_name);

struct Suite;
struct mdn_heap;

/* Run every test of `suite` and free it; the process exit status. */
int mdn_run_suite(struct Suite *suite);

/* A heap of `bytes` with `gc_threads` GC threads, other options default;
 * fails the current test if it cannot be created. */
struct mdn_heap *mdn_test_heap(size_t bytes, unsigned gc_threads);

/* The same, with further options parsed from `extra` (may be NULL). */
struct mdn_heap *mdn_test_heap_with(size_t bytes, unsigned gc_threads, const char *extra);

/* Checks for loops over many items: Check records every passing ck_assert
 * (a write to its log), which dominates such loops; these call into Check
 * only on failure. Use them in files that include <check.h>. */
#define MDN_EXPECT_MSG(cond, ...)                                                                                      \
    do {                                                                                                               \
        if (!(cond))                                                                                                   \
            ck_abort_msg(__VA_ARGS__);                                                                                 \
    } while (0)
#define MDN_EXPECT(cond) MDN_EXPECT_MSG(cond, "%s:%d: expected %s", __FILE__, __LINE__, #cond)
#define MDN_EXPECT_EQ(x, y)                                                                                            \
    do {                                                                                                               \
        uintmax_t x_ = (uintmax_t)(x), y_ = (uintmax_t)(y);                                                            \
        MDN_EXPECT_MSG(x_ == y_, "%s:%d: expected %s == %s, got %ju and %ju", __FILE__, __LINE__, #x, #y, x_, y_);     \
    } while (0)

/* xorshift64*: a small deterministic generator for tests. */
static inline uint64_t mdn_test_rand(uint64_t *state) {
    uint64_t x = *state;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *state = x;
    return x * 0x2545F4914F6CDD1DULL;
}

/* Uniform in [0, n). */
static inline uint64_t mdn_test_rand_below(uint64_t *state, uint64_t n) { return mdn_test_rand(state) % n; }

/* A graph whose objects are shared by many slots, for parallel forwarding
 * tests: ids [0, hubs) are hubs, [hubs, hubs + mid) mid objects, the rest
 * leaves. The target id of field f of object i: hubs point to the next hub
 * and to mid objects, mid objects to hubs, leaves to hubs (fields 0 and 1)
 * and to mid objects. */
static inline size_t mdn_test_sharing_target(uint64_t *seed, size_t i, unsigned f, size_t hubs, size_t mid) {
    if (i < hubs)
        return f == 0 ? (i + 1) % hubs : hubs + mdn_test_rand_below(seed, mid);
    if (i < hubs + mid)
        return mdn_test_rand_below(seed, hubs);
    return f < 2 ? mdn_test_rand_below(seed, hubs) : hubs + mdn_test_rand_below(seed, mid);
}

#endif
