/* The core's tables (docs/design/overview.md .overview.tables): arrays
 * grown by mdn_array_reserve keep their contents and come zeroed, tables
 * resize in place of realloc, mdn_sort orders like qsort without
 * allocating, and the recorded pauses stay sorted, so the percentiles of
 * the statistics are the nearest-rank ones of a sorted copy. */
#include "core/stats.h"
#include "core/util.h"

#include "testutil.h"

#include "mdn_check.h"
#include <stdlib.h>
#include <string.h>

START_TEST(arrays_grow_keeping_their_contents) {
    uint64_t *a = NULL;
    size_t cap = 0;
    for (size_t i = 0; i < 100000; i++) {
        a = mdn_array_reserve(a, i, &cap, sizeof *a, 16, "in the test");
        ck_assert_uint_gt(cap, i);
        ck_assert_uint_eq(a[i], 0); /* fresh room is zero */
        a[i] = i * 7 + 1;
    }
    for (size_t i = 0; i < 100000; i++)
        ck_assert_uint_eq(a[i], i * 7 + 1);
    mdn_array_free(a, cap, sizeof *a);
    mdn_array_free(NULL, 0, sizeof *a);
}
END_TEST

START_TEST(tables_resize_and_zero_the_new_part) {
    unsigned char *t = mdn_table_alloc(100);
    ck_assert_ptr_nonnull(t);
    memset(t, 0xab, 100);
    t = mdn_table_resize(t, 100, 1 << 20);
    ck_assert_ptr_nonnull(t);
    for (size_t i = 0; i < 100; i++)
        ck_assert_uint_eq(t[i], 0xab);
    for (size_t i = 4096; i < (1 << 20); i += 4096)
        ck_assert_uint_eq(t[i], 0);
    t = mdn_table_resize(t, 1 << 20, 50); /* shrinking keeps the start */
    ck_assert_uint_eq(t[49], 0xab);
    mdn_table_free(t, 50);
}
END_TEST

typedef struct record {
    uint32_t key;
    uint32_t tag;
    uint64_t pad[2];
} record;

static int by_key(const void *a, const void *b) {
    const record *x = a, *y = b;
    return x->key < y->key ? -1 : x->key > y->key;
}

START_TEST(sort_orders_like_qsort) {
    static const size_t sizes[] = {0, 1, 2, 3, 7, 64, 1000, 4097};
    uint64_t seed = mdn_test_seed("sort_orders_like_qsort");
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
        size_t n = sizes[s];
        record *mine = calloc(n + 1, sizeof *mine), *ref = calloc(n + 1, sizeof *ref);
        ck_assert(mine && ref);
        for (size_t i = 0; i < n; i++) {
            mine[i].key = (uint32_t)(mdn_test_rand(&seed) % (n / 2 + 1)); /* with ties */
            mine[i].tag = (uint32_t)i;
        }
        memcpy(ref, mine, n * sizeof *ref);
        mdn_sort(mine, n, sizeof *mine, by_key);
        qsort(ref, n, sizeof *ref, by_key);
        uint64_t tags = 0, ref_tags = 0;
        for (size_t i = 0; i < n; i++) {
            ck_assert_uint_eq(mine[i].key, ref[i].key);
            tags += mine[i].tag * 2654435761u;
            ref_tags += ref[i].tag * 2654435761u;
        }
        ck_assert_uint_eq(tags, ref_tags); /* the same elements, permuted */
        free(mine);
        free(ref);
    }
}
END_TEST

static int compare_u64(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

START_TEST(pauses_stay_sorted_for_the_percentiles) {
    mdn_stats_state s;
    mdn_stats_init(&s);
    enum { N = 3001 };
    uint64_t *copy = malloc(N * sizeof *copy);
    ck_assert_ptr_nonnull(copy);
    uint64_t seed = mdn_test_seed("pauses_stay_sorted_for_the_percentiles");
    static const unsigned pcts[] = {1, 50, 90, 99, 100};
    for (size_t i = 0; i < N; i++) {
        uint64_t ns = mdn_test_rand(&seed) % 5000;
        copy[i] = ns;
        mdn_stats_record_pause(&s, ns, (i & 3) == 0);
        if (i % 500 != 0 && i != N - 1)
            continue;
        size_t n = i + 1;
        uint64_t *sorted = malloc(n * sizeof *sorted);
        ck_assert_ptr_nonnull(sorted);
        memcpy(sorted, copy, n * sizeof *sorted);
        qsort(sorted, n, sizeof *sorted, compare_u64);
        uint64_t got[5];
        mdn_stats_pause_percentiles(&s, pcts, got, 5);
        for (size_t k = 0; k < 5; k++) {
            size_t rank = (n * pcts[k] + 99) / 100;
            ck_assert_uint_eq(got[k], sorted[(rank ? rank : 1) - 1]);
        }
        free(sorted);
    }
    ck_assert_uint_eq(s.collections, N);
    ck_assert_uint_eq(s.full_collections, (N + 3) / 4);
    free(copy);
    mdn_stats_destroy(&s);
}
END_TEST

int main(void) {
    Suite *s = suite_create("tables");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, arrays_grow_keeping_their_contents);
    tcase_add_test(tc, tables_resize_and_zero_the_new_part);
    tcase_add_test(tc, sort_orders_like_qsort);
    tcase_add_test(tc, pauses_stay_sorted_for_the_percentiles);
    suite_add_tcase(s, tc);
    return mdn_run_suite(s);
}
