/* MDN_TEST_LABELS: threads */
/* Block pool: ownership transitions, growth, reuse, and threads racing for
 * blocks (each block owned by exactly one thread at a time). */
#include "core/block_pool.h"

#include "testutil.h"

#include <check.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

static mdn_vmspace vs;

static void setup(void) { ck_assert(mdn_vmspace_init(&vs, 32 * MDN_CHUNK_SIZE, 32 * MDN_CHUNK_SIZE, NULL)); }
static void teardown(void) { mdn_vmspace_destroy(&vs); }

START_TEST(acquire_release_states) {
    mdn_block_pool pool;
    mdn_block_pool_init(&pool, &vs, 1);
    bool zeroed = false;
    mdn_address b = mdn_block_pool_acquire(&pool, &zeroed);
    ck_assert(!mdn_address_is_zero(b));
    ck_assert(zeroed);
    ck_assert(mdn_address_is_aligned(b, MDN_BLOCK_SIZE));
    ck_assert_uint_eq(mdn_vmspace_space_of(&vs, b), 1);
    ck_assert_uint_eq(mdn_block_state_get(&vs, b), MDN_BLOCK_ALLOCATING);
    ck_assert_uint_eq(mdn_block_pool_chunk_count(&pool), 1);
    ck_assert_uint_eq(mdn_block_pool_free_count(&pool), MDN_BLOCKS_PER_CHUNK - 1);
    /* The block is memory we can write. */
    memset(mdn_address_to_ptr(b), 0xab, MDN_BLOCK_SIZE);
    ck_assert(mdn_block_state_cas(&vs, b, MDN_BLOCK_ALLOCATING, MDN_BLOCK_USED));
    ck_assert(!mdn_block_state_cas(&vs, b, MDN_BLOCK_ALLOCATING, MDN_BLOCK_USED));
    mdn_block_pool_release(&pool, b, true);
    ck_assert_uint_eq(mdn_block_state_get(&vs, b), MDN_BLOCK_FREE);
    mdn_block_pool_check(&pool);
    /* LIFO reuse: the dirty block comes back first and says so. */
    mdn_address again = mdn_block_pool_acquire(&pool, &zeroed);
    ck_assert(mdn_address_eq(again, b));
    ck_assert(!zeroed);
    mdn_block_pool_release(&pool, again, false);
    mdn_block_pool_check(&pool);
    mdn_block_pool_destroy(&pool);
    ck_assert_uint_eq(mdn_vmspace_space_of(&vs, b), MDN_SPACE_NONE);
}
END_TEST

START_TEST(blocks_come_in_address_order_and_grow) {
    mdn_block_pool pool;
    mdn_block_pool_init(&pool, &vs, 2);
    mdn_address prev = mdn_address_zero();
    for (size_t i = 0; i < 3 * MDN_BLOCKS_PER_CHUNK; i++) {
        mdn_address b = mdn_block_pool_acquire(&pool, NULL);
        ck_assert(!mdn_address_is_zero(b));
        if (i % MDN_BLOCKS_PER_CHUNK != 0)
            ck_assert_uint_eq(b.value, prev.value + MDN_BLOCK_SIZE);
        prev = b;
    }
    ck_assert_uint_eq(mdn_block_pool_chunk_count(&pool), 3);
    ck_assert_uint_eq(mdn_block_pool_free_count(&pool), 0);
    mdn_block_pool_destroy(&pool);
}
END_TEST

START_TEST(exhausted_reservation_returns_zero) {
    mdn_vmspace small;
    ck_assert(mdn_vmspace_init(&small, 2 * MDN_CHUNK_SIZE, 2 * MDN_CHUNK_SIZE, NULL));
    mdn_block_pool pool;
    mdn_block_pool_init(&pool, &small, 1);
    for (size_t i = 0; i < 2 * MDN_BLOCKS_PER_CHUNK; i++)
        ck_assert(!mdn_address_is_zero(mdn_block_pool_acquire(&pool, NULL)));
    ck_assert(mdn_address_is_zero(mdn_block_pool_acquire(&pool, NULL)));
    mdn_block_pool_destroy(&pool);
    mdn_vmspace_destroy(&small);
}
END_TEST

START_TEST(budget_take_and_give) {
    mdn_vmspace v;
    ck_assert(mdn_vmspace_init(&v, 4 * MDN_CHUNK_SIZE, 100, NULL));
    ck_assert(mdn_budget_take(&v, 60));
    ck_assert(!mdn_budget_take(&v, 41));
    ck_assert(mdn_budget_take(&v, 40));
    ck_assert_uint_eq(mdn_budget_used(&v), 100);
    mdn_budget_give(&v, 100);
    ck_assert_uint_eq(mdn_budget_used(&v), 0);
    ck_assert(!mdn_budget_take(&v, SIZE_MAX));
    mdn_vmspace_destroy(&v);
}
END_TEST

typedef struct racer_arg {
    mdn_block_pool *pool;
    uint8_t *owner; /* per block index: which thread owns it now (0 = none) */
    unsigned id;
    size_t rounds;
    size_t conflicts;
} racer_arg;

/* Take a handful of blocks, stamp them as ours, check nobody else holds
 * them, give them back; repeat. */
static void *racer(void *p) {
    racer_arg *a = p;
    enum { HOLD = 8 };
    mdn_address held[HOLD];
    for (size_t r = 0; r < a->rounds; r++) {
        for (int i = 0; i < HOLD; i++) {
            held[i] = mdn_block_pool_acquire(a->pool, NULL);
            if (mdn_address_is_zero(held[i]))
                abort();
            size_t idx = mdn_vmspace_block_index(&vs, held[i]);
            uint8_t none = 0;
            if (!__atomic_compare_exchange_n(&a->owner[idx], &none, (uint8_t)a->id, false, __ATOMIC_ACQ_REL,
                                             __ATOMIC_ACQUIRE))
                a->conflicts++;
            *(volatile uint64_t *)mdn_address_to_ptr(held[i]) = a->id;
        }
        for (int i = 0; i < HOLD; i++) {
            size_t idx = mdn_vmspace_block_index(&vs, held[i]);
            if (*(volatile uint64_t *)mdn_address_to_ptr(held[i]) != a->id)
                a->conflicts++;
            __atomic_store_n(&a->owner[idx], 0, __ATOMIC_RELEASE);
            mdn_block_pool_release(a->pool, held[i], true);
        }
    }
    return NULL;
}

START_TEST(threads_racing_each_block_has_one_owner) {
    mdn_block_pool pool;
    mdn_block_pool_init(&pool, &vs, 3);
    uint8_t *owner = calloc(vs.nblocks, 1);
    enum { THREADS = 4 };
#ifdef MDN_TSAN
    size_t rounds = 2000;
#else
    size_t rounds = 50000;
#endif
    pthread_t th[THREADS];
    racer_arg args[THREADS];
    for (unsigned i = 0; i < THREADS; i++) {
        args[i] = (racer_arg){&pool, owner, i + 1, rounds, 0};
        pthread_create(&th[i], NULL, racer, &args[i]);
    }
    for (unsigned i = 0; i < THREADS; i++) {
        pthread_join(th[i], NULL);
        ck_assert_uint_eq(args[i].conflicts, 0);
    }
    mdn_block_pool_check(&pool);
    /* All blocks are back: the pool never needed more than a chunk or two. */
    ck_assert_uint_eq(mdn_block_pool_free_count(&pool), mdn_block_pool_chunk_count(&pool) * MDN_BLOCKS_PER_CHUNK);
    free(owner);
    mdn_block_pool_destroy(&pool);
}
END_TEST

int main(void) {
    Suite *s = suite_create("block_pool");
    TCase *tc = tcase_create("core");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, acquire_release_states);
    tcase_add_test(tc, blocks_come_in_address_order_and_grow);
    tcase_add_test(tc, exhausted_reservation_returns_zero);
    tcase_add_test(tc, budget_take_and_give);
    tcase_add_test(tc, threads_racing_each_block_has_one_owner);
    suite_add_tcase(s, tc);
    return mdn_run_suite(s);
}
