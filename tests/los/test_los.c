/* Large-object space: freed pages are reused and cleared, empty chunks go
 * back to the vmspace, dirty pages beyond the bound are decommitted, huge
 * objects get chunks of their own, and the budget returns to zero. */
#include "policies/los/los.h"

#include "core/poison.h"

#include "testutil.h"

#include "mdn_check.h"
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define PAGE ((size_t)MDN_PAGE_SIZE)

static mdn_heap heap; /* only its vmspace and statistics are used */
static mdn_los_space los;
#define vs (heap.vm)
#define stats (heap.stats)

static void setup(void) {
    ck_assert(mdn_vmspace_init(&vs, 64 * MDN_CHUNK_SIZE, 32 * MDN_CHUNK_SIZE, NULL));
    mdn_stats_init(&stats);
    ck_assert(mdn_los_init(&los, &heap, 1));
}

static void teardown(void) {
    mdn_los_destroy(&los);
    mdn_stats_destroy(&stats);
    mdn_vmspace_destroy(&vs);
}

static void *alloc_filled(size_t bytes, int fill) {
    unsigned char *p = mdn_los_alloc(&los, bytes);
    ck_assert_ptr_nonnull(p);
    memset(p, fill, bytes);
    return p;
}

static bool all_zero(const void *p, size_t bytes) {
    const unsigned char *b = p;
    for (size_t i = 0; i < bytes; i++)
        if (b[i])
            return false;
    return true;
}

/* A collection in which exactly the objects in `keep` survive. */
static void collect_keeping(void **keep, size_t n) {
    mdn_los_prepare(&los, &heap, true);
    for (size_t i = 0; i < n; i++)
        mdn_side_bit_set_atomic(&los.marks, mdn_address_from_ptr(keep[i]));
    mdn_los_release(&los, &heap);
}

/* Pages of [p, p+bytes) resident in memory. */
static size_t resident_pages(const void *p, size_t bytes) {
    size_t os_page = (size_t)sysconf(_SC_PAGESIZE);
    size_t n = (bytes + os_page - 1) / os_page;
    unsigned char *vec = malloc(n);
    ck_assert_ptr_nonnull(vec);
    ck_assert_int_eq(mincore((void *)p, bytes, vec), 0);
    size_t count = 0;
    for (size_t i = 0; i < n; i++)
        count += vec[i] & 1;
    free(vec);
    return count * os_page / PAGE;
}

/* The space's counters agree with its bitmaps and with the budget. */
static void check_consistent(size_t huge_charge) {
    size_t dirty = 0, live = 0;
    for (size_t i = 0; i < los.nchunks; i++) {
        const mdn_los_chunk *c = &los.chunks[i];
        if (i)
            ck_assert(los.chunks[i - 1].start < c->start);
        size_t used = 0, d = 0;
        for (size_t w = 0; w < MDN_LOS_PAGES_PER_CHUNK / 64; w++) {
            ck_assert((c->used[w] & c->dirty[w]) == 0);
            used += (size_t)__builtin_popcountll(c->used[w]);
            d += (size_t)__builtin_popcountll(c->dirty[w]);
        }
        ck_assert_uint_eq(MDN_LOS_PAGES_PER_CHUNK - used, c->free_pages);
        ck_assert_uint_eq(d, c->dirty_pages);
        ck_assert_uint_lt(c->free_pages, MDN_LOS_PAGES_PER_CHUNK + 1);
        dirty += d;
        live += used;
    }
    ck_assert_uint_eq(dirty * PAGE, los.dirty_bytes);
    ck_assert_uint_eq(live * PAGE + huge_charge, mdn_budget_used(&vs));
}

START_TEST(freed_pages_are_reused_and_cleared) {
    void *keep = alloc_filled(4 * PAGE, 0x11);
    unsigned char *victim = alloc_filled(5 * PAGE, 0xab);
    ck_assert_ptr_eq(victim, (unsigned char *)keep + 4 * PAGE);
    collect_keeping(&keep, 1);
    ck_assert_uint_eq(los.dirty_bytes, 5 * PAGE);
    ck_assert_uint_eq(los.decommitted_bytes, 0);
    ck_assert_uint_eq(mdn_budget_used(&vs), 4 * PAGE);
    /* The pages stayed committed: no system call on free. */
    ck_assert_uint_eq(resident_pages(victim, 5 * PAGE), 5);
    unsigned char *again = mdn_los_alloc(&los, 5 * PAGE - 100);
    ck_assert_ptr_eq(again, victim);
    ck_assert(all_zero(again, 5 * PAGE));
    ck_assert_uint_eq(los.dirty_bytes, 0);
    ck_assert_uint_eq(mdn_budget_used(&vs), 9 * PAGE);
    check_consistent(0);
    unsigned char *k = keep;
    for (size_t i = 0; i < 4 * PAGE; i++)
        ck_assert_uint_eq(k[i], 0x11);
}
END_TEST

START_TEST(run_mixing_dirty_and_clean_pages_is_zero) {
    void *keep = alloc_filled(4 * PAGE, 0x22);
    unsigned char *victim = alloc_filled(3 * PAGE, 0xcd);
    collect_keeping(&keep, 1);
    ck_assert_uint_eq(los.dirty_bytes, 3 * PAGE);
    /* Three dirty pages followed by clean ones. */
    unsigned char *p = mdn_los_alloc(&los, 6 * PAGE);
    ck_assert_ptr_eq(p, victim);
    ck_assert(all_zero(p, 6 * PAGE));
    /* A smaller object inside a dirty run leaves the rest dirty. */
    memset(p, 0xee, 6 * PAGE);
    collect_keeping(&keep, 1);
    unsigned char *q = mdn_los_alloc(&los, 2 * PAGE);
    ck_assert_ptr_eq(q, victim);
    ck_assert(all_zero(q, 2 * PAGE));
    ck_assert_uint_eq(los.dirty_bytes, 4 * PAGE);
    unsigned char *r = mdn_los_alloc(&los, 4 * PAGE);
    ck_assert_ptr_eq(r, q + 2 * PAGE);
    ck_assert(all_zero(r, 4 * PAGE));
    ck_assert_uint_eq(los.dirty_bytes, 0);
    check_consistent(0);
}
END_TEST

START_TEST(empty_chunk_goes_back_to_the_vmspace) {
    void *a = alloc_filled(10 * PAGE, 0x33);
    alloc_filled(3 * PAGE, 0x44);
    ck_assert_uint_eq(los.nchunks, 1);
    ck_assert_uint_eq(vs.committed - mdn_vmspace_warm_bytes(&vs), MDN_CHUNK_SIZE);
    collect_keeping(&a, 1);
    ck_assert_uint_eq(los.nchunks, 1);
    collect_keeping(NULL, 0);
    ck_assert_uint_eq(los.nchunks, 0);
    ck_assert_uint_eq(los.released_chunks, 1);
    ck_assert_uint_eq(los.dirty_bytes, 0);
    ck_assert_uint_eq(vs.committed - mdn_vmspace_warm_bytes(&vs), 0);
    ck_assert_uint_eq(mdn_vmspace_space_of(&vs, mdn_address_from_ptr(a)), MDN_SPACE_NONE);
    /* The chunk waits on the heap-wide warm stack (docs/design/sizing.md
     * .sizing.warm) until it has been idle long enough to go to the OS. */
    ck_assert_uint_eq(mdn_vmspace_warm_bytes(&vs), MDN_CHUNK_SIZE);
    ck_assert_uint_eq(mdn_vmspace_return_idle(&vs, 1000, 0), 0);
    ck_assert_uint_eq(mdn_vmspace_return_idle(&vs, 0, 1), MDN_CHUNK_SIZE);
    ck_assert_uint_eq(vs.committed, 0);
    ck_assert_uint_eq(mdn_vmspace_warm_bytes(&vs), 0);
    ck_assert_uint_eq(mdn_budget_used(&vs), 0);
    /* The space grows again from nothing, and the memory is zero. */
    unsigned char *b = mdn_los_alloc(&los, 10 * PAGE);
    ck_assert_ptr_nonnull(b);
    ck_assert(all_zero(b, 10 * PAGE));
    check_consistent(0);
}
END_TEST

START_TEST(dirty_pages_beyond_the_bound_are_decommitted) {
    los.dirty_limit = 8 * PAGE;
    /* Kept one-page objects separate the freed runs of 10, 2, 30 and 4 pages. */
    static const size_t sizes[] = {10, 2, 30, 4};
    void *keep[5];
    unsigned char *freed[4];
    keep[0] = alloc_filled(PAGE, 1);
    for (size_t i = 0; i < 4; i++) {
        freed[i] = alloc_filled(sizes[i] * PAGE, 0x55);
        keep[i + 1] = alloc_filled(PAGE, 1);
    }
    for (size_t i = 0; i < 4; i++)
        ck_assert_uint_eq(resident_pages(freed[i], sizes[i] * PAGE), sizes[i]);
    collect_keeping(keep, 5);
    /* 46 dirty pages: the 30- and 10-page runs go, 6 pages stay. */
    ck_assert_uint_eq(los.decommitted_bytes, 40 * PAGE);
    ck_assert_uint_eq(los.dirty_bytes, 6 * PAGE);
    ck_assert_uint_le(los.dirty_bytes, los.dirty_limit);
    ck_assert_uint_eq(resident_pages(freed[0], 10 * PAGE), 0);
    ck_assert_uint_eq(resident_pages(freed[2], 30 * PAGE), 0);
    ck_assert_uint_eq(resident_pages(freed[1], 2 * PAGE), 2);
    ck_assert_uint_eq(resident_pages(freed[3], 4 * PAGE), 4);
    check_consistent(0);
    /* Decommitted pages read as zero when handed out again. */
    unsigned char *p = mdn_los_alloc(&los, 30 * PAGE);
    ck_assert_ptr_eq(p, freed[2]);
    ck_assert(all_zero(p, 30 * PAGE));
    unsigned char *q = mdn_los_alloc(&los, 4 * PAGE);
    ck_assert_ptr_eq(q, freed[0]);
    ck_assert(all_zero(q, 4 * PAGE));
    check_consistent(0);
}
END_TEST

/* With no explicit bound the sweep keeps dirty pages up to the policy's
 * current limit (at least 4 MiB), and follows the limit as it moves. */
START_TEST(default_bound_follows_the_limit) {
    ck_assert_uint_eq(los.dirty_limit, 0);
    ck_assert_uint_eq(mdn_los_dirty_bound(&los), 32 * MDN_CHUNK_SIZE);
    vs.budget = 256u << 20;
    ck_assert_uint_eq(mdn_los_dirty_bound(&los), 256u << 20);
    vs.budget = 1u << 20;
    ck_assert_uint_eq(mdn_los_dirty_bound(&los), 4u << 20);
    los.dirty_limit = 8 * PAGE;
    ck_assert_uint_eq(mdn_los_dirty_bound(&los), 8 * PAGE);
}
END_TEST

/* A warm chunk (released by another space) is taken without clearing it:
 * its pages count as dirty and each allocation clears only its own run. */
START_TEST(warm_chunk_is_cleared_per_run) {
    mdn_address other = mdn_vmspace_acquire_chunks(&vs, 1, 2);
    ck_assert(!mdn_address_is_zero(other));
    memset(mdn_address_to_ptr(other), 0x99, MDN_CHUNK_SIZE);
    mdn_vmspace_release_chunks(&vs, other, 1);
    unsigned char *p = mdn_los_alloc(&los, 3 * PAGE);
    ck_assert_ptr_eq(p, mdn_address_to_ptr(other));
    ck_assert(all_zero(p, 3 * PAGE));
    /* The rest of the chunk was not touched: still the old bytes, dirty. */
    ck_assert_uint_eq(p[3 * PAGE], 0x99);
    ck_assert_uint_eq(los.dirty_bytes, MDN_CHUNK_SIZE - 3 * PAGE);
    unsigned char *q = mdn_los_alloc(&los, 2 * PAGE);
    ck_assert_ptr_eq(q, p + 3 * PAGE);
    ck_assert(all_zero(q, 2 * PAGE));
    check_consistent(0);
}
END_TEST

START_TEST(huge_objects_get_their_own_chunks) {
    size_t big = MDN_CHUNK_SIZE + 3 * PAGE;
    void *small = alloc_filled(3 * PAGE, 0x66);
    unsigned char *h = mdn_los_alloc(&los, big);
    ck_assert_ptr_nonnull(h);
    ck_assert(mdn_address_is_aligned(mdn_address_from_ptr(h), MDN_CHUNK_SIZE));
    ck_assert(all_zero(h, big));
    memset(h, 0x77, big);
    ck_assert_uint_eq(mdn_budget_used(&vs), 3 * PAGE + 2 * MDN_CHUNK_SIZE);
    ck_assert(mdn_los_is_object_start(&los, mdn_address_from_ptr(h)));
    check_consistent(2 * MDN_CHUNK_SIZE);
    void *keep[2] = {small, h};
    collect_keeping(keep, 2);
    ck_assert_uint_eq(h[big - 1], 0x77);
    collect_keeping(&small, 1);
    ck_assert(!mdn_los_is_object_start(&los, mdn_address_from_ptr(h)));
    ck_assert_uint_eq(mdn_budget_used(&vs), 3 * PAGE);
    ck_assert_uint_eq(vs.committed - mdn_vmspace_warm_bytes(&vs), MDN_CHUNK_SIZE);
    /* Huge objects never count as dirty pages. */
    ck_assert_uint_eq(los.dirty_bytes, 0);
    unsigned char *h2 = mdn_los_alloc(&los, big);
    ck_assert_ptr_nonnull(h2);
    ck_assert(all_zero(h2, big));
    collect_keeping(NULL, 0);
    ck_assert_uint_eq(mdn_budget_used(&vs), 0);
    ck_assert_uint_eq(vs.committed - mdn_vmspace_warm_bytes(&vs), 0);
}
END_TEST

/* Random sizes and survivors over many collections: every allocation is
 * zero, survivors keep their bytes, counters match the bitmaps, and the
 * budget returns to zero at the end. */
START_TEST(random_churn_keeps_accounting_exact) {
    enum { SLOTS = 96, ROUNDS = 60 };
    uint64_t rng = mdn_test_seed("random_churn_keeps_accounting_exact") | 1;
    los.dirty_limit = 64 * PAGE;
    unsigned char *obj[SLOTS] = {0};
    size_t size[SLOTS] = {0};
    unsigned char fill[SLOTS] = {0};
    size_t huge_charge = 0;
    for (int round = 0; round < ROUNDS; round++) {
        for (size_t i = 0; i < SLOTS; i++) {
            if (obj[i] && mdn_test_rand_below(&rng, 3))
                continue;
            size_t bytes = mdn_test_rand_below(&rng, 40) == 0
                               ? MDN_CHUNK_SIZE + mdn_test_rand_below(&rng, MDN_CHUNK_SIZE / 2)
                               : 8 * 1024 + mdn_test_rand_below(&rng, 120 * 1024);
            unsigned char *p = mdn_los_alloc(&los, bytes);
            if (!p)
                continue; /* budget full this round; the old object stays */
            ck_assert(all_zero(p, mdn_align_up(bytes, PAGE)));
            if (obj[i] && size[i] >= MDN_CHUNK_SIZE)
                huge_charge -= mdn_align_up(size[i], MDN_CHUNK_SIZE);
            if (bytes >= MDN_CHUNK_SIZE)
                huge_charge += mdn_align_up(bytes, MDN_CHUNK_SIZE);
            obj[i] = p;
            size[i] = bytes;
            fill[i] = (unsigned char)(1 + mdn_test_rand_below(&rng, 255));
            memset(p, fill[i], bytes);
        }
        void *keep[SLOTS];
        size_t n = 0;
        for (size_t i = 0; i < SLOTS; i++)
            if (obj[i])
                keep[n++] = obj[i];
        collect_keeping(keep, n);
        ck_assert_uint_le(los.dirty_bytes, los.dirty_limit);
        check_consistent(huge_charge);
        for (size_t i = 0; i < SLOTS; i++) {
            if (!obj[i])
                continue;
            ck_assert_uint_eq(obj[i][0], fill[i]);
            ck_assert_uint_eq(obj[i][size[i] - 1], fill[i]);
            ck_assert_uint_eq(obj[i][size[i] / 2], fill[i]);
        }
    }
    collect_keeping(NULL, 0);
    ck_assert_uint_eq(mdn_budget_used(&vs), 0);
    ck_assert_uint_eq(los.live_bytes, 0);
    ck_assert_uint_eq(los.nchunks, 0);
    ck_assert_uint_eq(los.nobjects, 0);
    ck_assert_uint_eq(vs.committed - mdn_vmspace_warm_bytes(&vs), 0);
}
END_TEST

/* .poison.los: with poisoning, a freed object's pages read poison while
 * they stay dirty, fault once the bound decommits them, and are zeroed and
 * usable when handed out again; a freed huge object's chunks fault. */
static void read_first_word(void *p) {
    volatile const unsigned char *b = p;
    exit(b[0] == 0 ? 3 : 4); /* reached only if the read did not fault */
}

static bool all_poison(const void *p, size_t bytes) {
    const unsigned char *b = p;
    for (size_t i = 0; i < bytes; i++)
        if (b[i] != MDN_POISON_BYTE)
            return false;
    return true;
}

static void expect_fault(void *p) {
    mdn_child_result r;
    mdn_run_in_child(read_first_word, p, &r);
    ck_assert_msg(r.signaled && (r.signal == SIGSEGV || r.signal == SIGBUS),
                  "reading freed memory at %p did not fault (exit status %d)", p, r.exit_status);
}

START_TEST(freed_objects_read_poison_or_fault) {
    vs.poison = true;
    los.dirty_limit = 8 * PAGE;
    void *keep[3];
    keep[0] = alloc_filled(PAGE, 1);
    unsigned char *stale = alloc_filled(5 * PAGE, 0xab);
    keep[1] = alloc_filled(PAGE, 1);
    unsigned char *trimmed = alloc_filled(30 * PAGE, 0xcd);
    keep[2] = alloc_filled(PAGE, 1);
    unsigned char *huge = mdn_los_alloc(&los, MDN_CHUNK_SIZE);
    ck_assert_ptr_nonnull(huge);
    memset(huge, 0xef, MDN_CHUNK_SIZE);
    collect_keeping(keep, 3);
    /* 35 dirty pages: the 30-page run is decommitted, 5 stay. */
    ck_assert_uint_eq(los.decommitted_bytes, 30 * PAGE);
    ck_assert(all_poison(stale, 5 * PAGE));
    expect_fault(trimmed);
    expect_fault(trimmed + 29 * PAGE);
    expect_fault(huge);
    /* Handed out again: zeroed and writable. */
    unsigned char *p = mdn_los_alloc(&los, 30 * PAGE);
    ck_assert_ptr_eq(p, trimmed);
    ck_assert(all_zero(p, 30 * PAGE));
    memset(p, 0x12, 30 * PAGE);
    unsigned char *q = mdn_los_alloc(&los, 5 * PAGE);
    ck_assert_ptr_eq(q, stale);
    ck_assert(all_zero(q, 5 * PAGE));
    check_consistent(0);
}
END_TEST

int main(void) {
    Suite *s = suite_create("los");
    TCase *tc = tcase_create("los");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, freed_pages_are_reused_and_cleared);
    tcase_add_test(tc, run_mixing_dirty_and_clean_pages_is_zero);
    tcase_add_test(tc, empty_chunk_goes_back_to_the_vmspace);
    tcase_add_test(tc, dirty_pages_beyond_the_bound_are_decommitted);
    tcase_add_test(tc, default_bound_follows_the_limit);
    tcase_add_test(tc, warm_chunk_is_cleared_per_run);
    tcase_add_test(tc, huge_objects_get_their_own_chunks);
    tcase_add_test(tc, random_churn_keeps_accounting_exact);
    tcase_add_test(tc, freed_objects_read_poison_or_fault);
    suite_add_tcase(s, tc);
    return mdn_run_suite(s);
}
