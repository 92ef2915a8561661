/* MDN_TEST_LABELS: threads */
/* Block pool: ownership transitions, growth, reuse, and threads racing for
 * blocks (each block owned by exactly one thread at a time), with the ABA
 * interleaving of the free stack played out deterministically through the
 * pool's race point (docs/design/reliability.md .race.hooks). */
#include "core/block_pool.h"
#include "core/race.h"

#include "testutil.h"

#include "mdn_check.h"
#include <pthread.h>
#include <sched.h>
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

/* `threads` racers of `rounds` rounds each; every block has one owner. */
static void race(unsigned threads, size_t rounds) {
    mdn_block_pool pool;
    mdn_block_pool_init(&pool, &vs, 3);
    uint8_t *owner = calloc(vs.nblocks, 1);
    enum { MAX_THREADS = 8 };
    ck_assert_uint_le(threads, MAX_THREADS);
    pthread_t th[MAX_THREADS];
    racer_arg args[MAX_THREADS];
    for (unsigned i = 0; i < threads; i++) {
        args[i] = (racer_arg){&pool, owner, i + 1, rounds, 0};
        pthread_create(&th[i], NULL, racer, &args[i]);
    }
    for (unsigned i = 0; i < threads; i++) {
        pthread_join(th[i], NULL);
        ck_assert_uint_eq(args[i].conflicts, 0);
    }
    mdn_block_pool_check(&pool);
    /* All blocks are back: the pool never needed more than a chunk or two. */
    ck_assert_uint_eq(mdn_block_pool_free_count(&pool), mdn_block_pool_chunk_count(&pool) * MDN_BLOCKS_PER_CHUNK);
    free(owner);
    mdn_block_pool_destroy(&pool);
}

START_TEST(threads_racing_each_block_has_one_owner) {
#ifdef MDN_TSAN
    race(4, 2000);
#else
    race(4, 50000);
#endif
}
END_TEST

/* More racers than cores, each yielding between reading the top's link and
 * the compare-and-swap, so pops interleave with other threads' pops and
 * pushes of the same blocks (.block.stack). */
static void yield_hook(void *where) {
    (void)where;
    sched_yield();
}

START_TEST(yielding_racers_each_block_has_one_owner) {
    mdn_race_set(&mdn_race_block_pop, yield_hook);
#ifdef MDN_TSAN
    race(8, 500);
#else
    race(8, 1000);
#endif
    mdn_race_set(&mdn_race_block_pop, NULL);
}
END_TEST

/* The ABA case itself, on one thread: while a pop has read top A and its
 * link B, another pop takes A and B and A comes back. The top is A again but
 * its link is stale; only the head's tag makes the first pop's CAS fail, so
 * B (still owned) is not handed out a second time. */
static mdn_block_pool *aba_pool;
static mdn_address aba_taken;
static unsigned aba_calls;

static void aba_hook(void *where) {
    ck_assert_ptr_eq(where, aba_pool);
    if (aba_calls++)
        return;
    mdn_address a = mdn_block_pool_acquire(aba_pool, NULL);
    aba_taken = mdn_block_pool_acquire(aba_pool, NULL);
    mdn_block_pool_release(aba_pool, a, false);
}

START_TEST(aba_pop_does_not_hand_out_an_owned_block) {
    mdn_block_pool pool;
    mdn_block_pool_init(&pool, &vs, 3);
    mdn_address first = mdn_block_pool_acquire(&pool, NULL); /* grows the pool */
    ck_assert(!mdn_address_is_zero(first));
    aba_pool = &pool;
    aba_calls = 0;
    mdn_race_set(&mdn_race_block_pop, aba_hook);
    mdn_address got = mdn_block_pool_acquire(&pool, NULL);
    mdn_race_set(&mdn_race_block_pop, NULL);
    ck_assert_uint_ge(aba_calls, 2); /* the interleaving happened, and the pop retried */
    ck_assert(!mdn_address_is_zero(got) && !mdn_address_is_zero(aba_taken));
    ck_assert_msg(got.value != aba_taken.value, "block %p handed out twice", (void *)aba_taken.value);
    ck_assert_uint_eq(mdn_block_state_get(&vs, aba_taken), MDN_BLOCK_ALLOCATING);
    /* No later pop returns the owned block either. */
    mdn_address more[16];
    for (int i = 0; i < 16; i++) {
        more[i] = mdn_block_pool_acquire(&pool, NULL);
        ck_assert_msg(more[i].value != aba_taken.value, "block %p handed out twice", (void *)aba_taken.value);
    }
    mdn_block_pool_check(&pool);
    for (int i = 0; i < 16; i++)
        mdn_block_pool_release(&pool, more[i], true);
    mdn_block_pool_release(&pool, got, true);
    mdn_block_pool_release(&pool, aba_taken, true);
    mdn_block_pool_release(&pool, first, true);
    mdn_block_pool_check(&pool);
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
    tcase_add_test(tc, yielding_racers_each_block_has_one_owner);
    tcase_add_test(tc, aba_pop_does_not_hand_out_an_owned_block);
    suite_add_tcase(s, tc);
    return mdn_run_suite(s);
}
