/* Side metadata: address → entry mapping, atomic set/test, bulk clear,
 * scanning, and concurrent setting from several threads. */
#include "core/side_metadata.h"

#include "testutil.h"

#include "mdn_check.h"
#include <pthread.h>
#include <stdlib.h>

static mdn_vmspace vs;

static void setup(void) { ck_assert(mdn_vmspace_init(&vs, 64 * MDN_CHUNK_SIZE, 64 * MDN_CHUNK_SIZE, NULL)); }
static void teardown(void) { mdn_vmspace_destroy(&vs); }

static mdn_address at(size_t offset) { return mdn_address_from_word(vs.start + offset); }

START_TEST(bits_set_test_clear) {
    mdn_side_metadata md;
    ck_assert(mdn_side_metadata_init(&md, &vs, MDN_LOG_GRANULE, 0, "test"));
    ck_assert(!mdn_side_bit_test(&md, at(64)));
    ck_assert(mdn_side_bit_set_atomic(&md, at(64)));
    ck_assert(!mdn_side_bit_set_atomic(&md, at(64))); /* second set reports no change */
    ck_assert(mdn_side_bit_test(&md, at(64)));
    ck_assert(!mdn_side_bit_test(&md, at(56)));
    ck_assert(!mdn_side_bit_test(&md, at(72)));
    /* Addresses inside one granule share the bit. */
    ck_assert(mdn_side_bit_test(&md, at(64 + 7)));
    mdn_side_bit_clear_atomic(&md, at(64));
    ck_assert(!mdn_side_bit_test(&md, at(64)));
    /* The last granule of the reservation is addressable. */
    mdn_address last = mdn_address_from_word(vs.end - 8);
    ck_assert(mdn_side_bit_set_atomic(&md, last));
    ck_assert(mdn_side_bit_test(&md, last));
    mdn_side_metadata_destroy(&md);
}
END_TEST

START_TEST(bytes_load_store_cas) {
    mdn_side_metadata md;
    ck_assert(mdn_side_metadata_init(&md, &vs, MDN_LOG_LINE, 3, "lines"));
    mdn_side_byte_store(&md, at(3 * MDN_LINE_SIZE), 7);
    ck_assert_uint_eq(mdn_side_byte_load(&md, at(3 * MDN_LINE_SIZE + 255)), 7);
    ck_assert_uint_eq(mdn_side_byte_load(&md, at(4 * MDN_LINE_SIZE)), 0);
    uint8_t expected = 7;
    ck_assert(mdn_side_byte_cas(&md, at(3 * MDN_LINE_SIZE), &expected, 9));
    expected = 7;
    ck_assert(!mdn_side_byte_cas(&md, at(3 * MDN_LINE_SIZE), &expected, 11));
    ck_assert_uint_eq(expected, 9);
    ck_assert_ptr_eq(mdn_side_byte_ptr(&md, at(3 * MDN_LINE_SIZE)) + 1, mdn_side_byte_ptr(&md, at(4 * MDN_LINE_SIZE)));
    mdn_side_metadata_destroy(&md);
}
END_TEST

/* .side.const: the accessors with a constant spec reach the entries the
 * general ones do, for each spec the trace loop uses, across the whole
 * reservation (its first and last entries included). */
START_TEST(constant_spec_accessors_agree) {
    static const struct {
        unsigned log_region, log_bits;
    } specs[] = {{MDN_LOG_GRANULE, 0}, {MDN_LOG_PAGE, 0}, {MDN_LOG_LINE, 3}, {MDN_LOG_GRANULE + 2, 3}};
    size_t size = vs.end - vs.start;
    const size_t offsets[] = {0, 8, 56, 64, 512, 4096 + 24, MDN_CHUNK_SIZE - 8, 17 * MDN_CHUNK_SIZE + 200, size - 8};
    for (size_t k = 0; k < sizeof specs / sizeof specs[0]; k++) {
        mdn_side_metadata md;
        unsigned lr = specs[k].log_region, lb = specs[k].log_bits;
        ck_assert(mdn_side_metadata_init(&md, &vs, lr, lb, "test"));
        for (size_t j = 0; j < sizeof offsets / sizeof offsets[0]; j++) {
            mdn_address a = at(offsets[j]);
            size_t i = mdn_side_index(&md, a);
            uint8_t *expect = lb == 3 ? mdn_side_byte_ptr(&md, a) : &md.base[i >> 3];
            ck_assert_ptr_eq(mdn_side_byte_k(&md, a, lr, lb), expect);
            if (lb != 0)
                continue;
            ck_assert_uint_eq(mdn_side_mask_k(a, lr), 1u << (i & 7));
            unsigned bit;
            uint64_t *word = mdn_side_word_k(&md, a, lr, &bit);
            ck_assert_ptr_eq(word, (uint64_t *)(void *)md.base + (i >> 6));
            ck_assert_uint_eq(bit, i & 63);
            /* Setting through one accessor is seen by the other. */
            ck_assert(!mdn_side_bit_test_k(&md, a, lr));
            ck_assert(mdn_side_bit_set_k(&md, a, lr, j & 1));
            ck_assert(!mdn_side_bit_set_k(&md, a, lr, j & 1));
            ck_assert(mdn_side_bit_test(&md, a));
            ck_assert(mdn_side_bit_test_k(&md, a, lr));
            ck_assert_uint_eq((*word >> bit) & 1, 1);
            mdn_side_bit_clear_atomic(&md, a);
            ck_assert(!mdn_side_bit_test_k(&md, a, lr));
        }
        mdn_side_metadata_destroy(&md);
    }
}
END_TEST

START_TEST(bulk_clear_is_exact) {
    mdn_side_metadata md;
    ck_assert(mdn_side_metadata_init(&md, &vs, MDN_LOG_GRANULE, 0, "test"));
    /* Set every granule of blocks 0..3, clear block 1 and 2 only. */
    for (size_t off = 0; off < 4 * MDN_BLOCK_SIZE; off += 8)
        mdn_side_bit_set_atomic(&md, at(off));
    mdn_side_clear_range(&md, at(MDN_BLOCK_SIZE), 2 * MDN_BLOCK_SIZE);
    for (size_t off = 0; off < 4 * MDN_BLOCK_SIZE; off += 8) {
        bool in_cleared = off >= MDN_BLOCK_SIZE && off < 3 * MDN_BLOCK_SIZE;
        ck_assert_msg(mdn_side_bit_test(&md, at(off)) == !in_cleared, "offset %zu", off);
    }
    /* A large clear (whole chunks: the pages go back to the OS). */
    for (size_t off = 0; off < 3 * MDN_CHUNK_SIZE; off += 4096)
        mdn_side_bit_set_atomic(&md, at(off));
    mdn_side_clear_range(&md, at(MDN_CHUNK_SIZE), MDN_CHUNK_SIZE);
    ck_assert(mdn_side_bit_test(&md, at(MDN_CHUNK_SIZE - 4096)));
    ck_assert(!mdn_side_bit_test(&md, at(MDN_CHUNK_SIZE)));
    ck_assert(!mdn_side_bit_test(&md, at(2 * MDN_CHUNK_SIZE - 4096)));
    ck_assert(mdn_side_bit_test(&md, at(2 * MDN_CHUNK_SIZE)));
    /* Twenty chunks of a 1-bit table are 1.25 MiB of metadata: that clear
     * returns pages to the OS instead of writing zeros; the edges stay. */
    for (size_t off = 0; off < 24 * MDN_CHUNK_SIZE; off += 4096)
        mdn_side_bit_set_atomic(&md, at(off));
    mdn_side_clear_range(&md, at(MDN_CHUNK_SIZE + 8 * 64), 20 * MDN_CHUNK_SIZE);
    ck_assert(mdn_side_bit_test(&md, at(MDN_CHUNK_SIZE)));
    ck_assert(!mdn_side_bit_test(&md, at(MDN_CHUNK_SIZE + 4096)));
    ck_assert(!mdn_side_bit_test(&md, at(21 * MDN_CHUNK_SIZE - 4096)));
    ck_assert(mdn_side_bit_test(&md, at(21 * MDN_CHUNK_SIZE + 4096)));
    mdn_side_clear_all(&md);
    ck_assert(!mdn_side_bit_test(&md, at(0)));
    mdn_side_metadata_destroy(&md);
}
END_TEST

START_TEST(find_next_set_bit) {
    mdn_side_metadata md;
    ck_assert(mdn_side_metadata_init(&md, &vs, MDN_LOG_GRANULE, 0, "test"));
    mdn_address end = at(MDN_BLOCK_SIZE);
    ck_assert(mdn_address_eq(mdn_side_bit_find_next(&md, at(0), end), end));
    size_t marks[] = {8, 16, 520, 4096, 8192 + 8, MDN_BLOCK_SIZE - 8};
    for (size_t i = 0; i < sizeof marks / sizeof *marks; i++)
        mdn_side_bit_set_atomic(&md, at(marks[i]));
    mdn_address cur = at(0);
    for (size_t i = 0; i < sizeof marks / sizeof *marks; i++) {
        cur = mdn_side_bit_find_next(&md, cur, end);
        ck_assert_uint_eq(cur.value - vs.start, marks[i]);
        cur = mdn_address_add(cur, 8);
    }
    ck_assert(mdn_address_eq(mdn_side_bit_find_next(&md, cur, end), end));
    mdn_side_metadata_destroy(&md);
}
END_TEST

typedef struct setter_arg {
    mdn_side_metadata *md;
    unsigned id, nthreads;
    size_t granules;
    size_t won;
} setter_arg;

/* Every thread sets every bit; exactly one thread must win each. Threads
 * start at different offsets so they contend on shared bytes. */
static void *setter(void *p) {
    setter_arg *a = p;
    for (size_t k = 0; k < a->granules; k++) {
        size_t g = (k + a->id * 997) % a->granules;
        if (mdn_side_bit_set_atomic(a->md, at(g * 8)))
            a->won++;
    }
    return NULL;
}

START_TEST(concurrent_set_one_winner_per_bit) {
    mdn_side_metadata md;
    ck_assert(mdn_side_metadata_init(&md, &vs, MDN_LOG_GRANULE, 0, "test"));
    enum { THREADS = 4 };
#ifdef MDN_TSAN
    size_t granules = 1 << 14;
#else
    size_t granules = 1 << 20;
#endif
    pthread_t th[THREADS];
    setter_arg args[THREADS];
    for (unsigned i = 0; i < THREADS; i++) {
        args[i] = (setter_arg){&md, i, THREADS, granules, 0};
        pthread_create(&th[i], NULL, setter, &args[i]);
    }
    size_t total = 0;
    for (unsigned i = 0; i < THREADS; i++) {
        pthread_join(th[i], NULL);
        total += args[i].won;
    }
    ck_assert_uint_eq(total, granules);
    for (size_t g = 0; g < granules; g++)
        ck_assert(mdn_side_bit_test(&md, at(g * 8)));
    ck_assert(!mdn_side_bit_test(&md, at(granules * 8)));
    mdn_side_metadata_destroy(&md);
}
END_TEST

int main(void) {
    Suite *s = suite_create("side_metadata");
    TCase *tc = tcase_create("core");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, bits_set_test_clear);
    tcase_add_test(tc, bytes_load_store_cas);
    tcase_add_test(tc, constant_spec_accessors_agree);
    tcase_add_test(tc, bulk_clear_is_exact);
    tcase_add_test(tc, find_next_set_bit);
    tcase_add_test(tc, concurrent_set_one_winner_per_bit);
    suite_add_tcase(s, tc);
    return mdn_run_suite(s);
}
