/* Plan creation fails cleanly at every step, on every plan: with the test
 * hook mdn_plan_create_fault (plans/common/common.h, .plan.create-fault)
 * creation fails at step 1 (the plan's state), 2, 3, ... (each space, once
 * it is set up); mdn_heap_create then returns NULL with MDN_ERR_MEMORY and
 * a message naming the plan, and nothing leaks: no mapping is left behind
 * (the spaces' metadata is mapped memory, which the leak checker does not
 * see: /proc/self/maps must not grow), and under AddressSanitizer the leak
 * checker runs after every failed creation (.plan.cleanup). */
#include "plans/common/common.h"
#include "testutil.h"

#include "mdn_check.h"
#include <stdio.h>
#include <string.h>

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/lsan_interface.h>
#define LEAKS_FOUND() __lsan_do_recoverable_leak_check()
#else
#define LEAKS_FOUND() 0
#endif

/* Bytes of the process's mappings. */
static size_t mapped_bytes(void) {
    FILE *f = fopen("/proc/self/maps", "r");
    ck_assert_ptr_nonnull(f);
    size_t total = 0;
    unsigned long lo, hi;
    char line[512];
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "%lx-%lx", &lo, &hi) == 2)
            total += hi - lo;
    fclose(f);
    return total;
}

static mdn_heap *create(mdn_error *err) {
    mdn_options o;
    mdn_options_init(&o);
    o.heap_size = (size_t)8 << 20;
    o.gc_threads = 2;
    return mdn_heap_create(&o, err);
}

START_TEST(creation_fails_cleanly_at_every_step) {
    /* A first heap settles what stays mapped (thread stacks kept for reuse). */
    mdn_error err0;
    mdn_heap *h0 = create(&err0);
    ck_assert_msg(h0 != NULL, "%s", err0.message);
    mdn_heap_destroy(h0);
    size_t mapped = mapped_bytes();
    unsigned step = 1;
    for (;; step++) {
        mdn_plan_create_fault = step;
        mdn_error err;
        mdn_heap *h = create(&err);
        if (h) {
            mdn_heap_destroy(h);
            break;
        }
        ck_assert_int_eq(err.code, MDN_ERR_MEMORY);
        ck_assert_msg(strstr(err.message, MDN_TEST_PLAN) != NULL, "step %u: \"%s\" names no plan", step, err.message);
        ck_assert_msg(LEAKS_FOUND() == 0, "step %u (%s) leaks", step, err.message);
        size_t now = mapped_bytes();
        ck_assert_msg(now <= mapped, "step %u (%s) leaves %zu bytes more mapped", step, err.message, now - mapped);
        ck_assert_uint_lt(step, 64);
    }
    mdn_plan_create_fault = 0;
    /* The state, the two common spaces and the plan's own. */
    ck_assert_uint_eq(step - 1, 1 + (MDN_SPACE_PLAN - 1) + plan_desc.nspaces);
    mdn_error err;
    mdn_heap *h = create(&err);
    ck_assert_msg(h != NULL, "%s", err.message);
    mdn_heap_destroy(h);
    ck_assert_int_eq(LEAKS_FOUND(), 0);
}
END_TEST

int main(void) {
    Suite *s = suite_create("create");
    TCase *tc = tcase_create("create");
    tcase_add_test(tc, creation_fails_cleanly_at_every_step);
    suite_add_tcase(s, tc);
    return mdn_run_suite(s);
}
