/* MDN_TEST_LABELS: threads */
/*
 * test_deque.c: the Chase–Lev deque alone (core/deque.h): order of pop and
 * steal, growth, retired arrays, a randomised comparison with a simple
 * model, and an owner racing several thieves with every item checked to be
 * taken exactly once.
 */
#include "core/deque.h"

#include "testutil.h"

#include "mdn_check.h"
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#ifdef MDN_TSAN
#define RACE_ITEMS ((size_t)400000)
#define LAST_ITEM_ROUNDS 50000
#define SPEED_ITEMS ((size_t)200000)
#else
#define RACE_ITEMS ((size_t)2000000)
#define LAST_ITEM_ROUNDS 300000
#define SPEED_ITEMS ((size_t)4000000)
#endif

static double now_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static mdn_deque_array *current_array(mdn_deque *d) {
    return atomic_load_explicit(&d->array, memory_order_relaxed);
}

/* ---- one thread ---------------------------------------------------------- */

START_TEST(test_pop_is_lifo) {
    mdn_deque d;
    MDN_EXPECT(mdn_deque_init(&d, 4));
    for (uintptr_t i = 1; i <= 100; i++)
        mdn_deque_push(&d, i);
    MDN_EXPECT_EQ(mdn_deque_size(&d), 100);
    for (uintptr_t i = 100; i >= 1; i--) {
        uintptr_t x = 0;
        MDN_EXPECT(mdn_deque_pop(&d, &x));
        MDN_EXPECT_EQ(x, i);
    }
    uintptr_t x = 0;
    MDN_EXPECT(!mdn_deque_pop(&d, &x));
    MDN_EXPECT_EQ(mdn_deque_size(&d), 0);
    mdn_deque_check(&d);
    mdn_deque_destroy(&d);
}
END_TEST

START_TEST(test_steal_is_fifo) {
    mdn_deque d;
    MDN_EXPECT(mdn_deque_init(&d, 4));
    for (uintptr_t i = 1; i <= 100; i++)
        mdn_deque_push(&d, i);
    for (uintptr_t i = 1; i <= 100; i++) {
        uintptr_t x = 0;
        MDN_EXPECT_EQ(mdn_deque_steal(&d, &x), MDN_STEAL_SUCCESS);
        MDN_EXPECT_EQ(x, i);
    }
    uintptr_t x = 0;
    MDN_EXPECT_EQ(mdn_deque_steal(&d, &x), MDN_STEAL_EMPTY);
    mdn_deque_check(&d);
    mdn_deque_destroy(&d);
}
END_TEST

START_TEST(test_take_oldest_unshared_is_fifo) {
    mdn_deque d;
    MDN_EXPECT(mdn_deque_init(&d, 1));
    for (uintptr_t i = 0; i < 1000; i++)
        mdn_deque_push(&d, i);
    /* Interleave pushes with takes, as a lone breadth-first worker does. */
    uintptr_t expect = 0, next = 1000, x;
    while (mdn_deque_take_oldest_unshared(&d, &x)) {
        MDN_EXPECT_EQ(x, expect++);
        if (next < 5000)
            mdn_deque_push(&d, next++);
    }
    MDN_EXPECT_EQ(expect, 5000);
    mdn_deque_check(&d);
    mdn_deque_destroy(&d);
}
END_TEST

START_TEST(test_empty) {
    mdn_deque d;
    MDN_EXPECT(mdn_deque_init(&d, 2));
    uintptr_t x = 12345;
    /* Repeated failures must leave the indices consistent. */
    for (int i = 0; i < 10; i++) {
        MDN_EXPECT(!mdn_deque_pop(&d, &x));
        MDN_EXPECT_EQ(mdn_deque_steal(&d, &x), MDN_STEAL_EMPTY);
        MDN_EXPECT(!mdn_deque_take_oldest_unshared(&d, &x));
        MDN_EXPECT_EQ(mdn_deque_size(&d), 0);
    }
    MDN_EXPECT_EQ(x, 12345);
    mdn_deque_check(&d);
    mdn_deque_push(&d, 7);
    MDN_EXPECT_EQ(mdn_deque_size(&d), 1);
    MDN_EXPECT(mdn_deque_pop(&d, &x));
    MDN_EXPECT_EQ(x, 7);
    MDN_EXPECT(!mdn_deque_pop(&d, &x));
    mdn_deque_push(&d, 8);
    MDN_EXPECT_EQ(mdn_deque_steal(&d, &x), MDN_STEAL_SUCCESS);
    MDN_EXPECT_EQ(x, 8);
    MDN_EXPECT(!mdn_deque_pop(&d, &x));
    MDN_EXPECT_EQ(mdn_deque_steal(&d, &x), MDN_STEAL_EMPTY);
    mdn_deque_check(&d);
    mdn_deque_destroy(&d);
}
END_TEST

static uintptr_t growth_item(size_t i) { return (uintptr_t)i * 2654435761u + 17; }

START_TEST(test_growth_keeps_contents) {
    unsigned log_capacity = (unsigned)_i; /* 1 and 2 */
    const size_t n = 150000;
    mdn_deque d;
    MDN_EXPECT(mdn_deque_init(&d, log_capacity));
    MDN_EXPECT_EQ(current_array(&d)->capacity, (size_t)1 << log_capacity);
    for (size_t i = 0; i < n; i++)
        mdn_deque_push(&d, growth_item(i));
    MDN_EXPECT_EQ(mdn_deque_size(&d), n);
    MDN_EXPECT(current_array(&d)->capacity >= n);
    ck_assert_ptr_nonnull(d.retired);
    mdn_deque_check(&d);
    /* Oldest half by steal, newest half by pop, meeting in the middle. */
    uintptr_t x;
    for (size_t i = 0; i < n / 2; i++) {
        MDN_EXPECT_EQ(mdn_deque_steal(&d, &x), MDN_STEAL_SUCCESS);
        MDN_EXPECT_EQ(x, growth_item(i));
    }
    for (size_t i = n; i-- > n / 2;) {
        MDN_EXPECT(mdn_deque_pop(&d, &x));
        MDN_EXPECT_EQ(x, growth_item(i));
    }
    MDN_EXPECT(!mdn_deque_pop(&d, &x));
    mdn_deque_destroy(&d);
}
END_TEST

START_TEST(test_growth_with_offset_indices) {
    /* Grow when top is far from zero, so the live items wrap the array. */
    mdn_deque d;
    MDN_EXPECT(mdn_deque_init(&d, 2));
    uintptr_t x;
    for (uintptr_t i = 0; i < 1003; i++) {
        mdn_deque_push(&d, i);
        MDN_EXPECT_EQ(mdn_deque_steal(&d, &x), MDN_STEAL_SUCCESS);
        MDN_EXPECT_EQ(x, i);
    }
    MDN_EXPECT_EQ(current_array(&d)->capacity, 4);
    for (uintptr_t i = 0; i < 100000; i++)
        mdn_deque_push(&d, i);
    for (uintptr_t i = 0; i < 100000; i++) {
        MDN_EXPECT(mdn_deque_take_oldest_unshared(&d, &x));
        MDN_EXPECT_EQ(x, i);
    }
    mdn_deque_check(&d);
    mdn_deque_destroy(&d);
}
END_TEST

START_TEST(test_reclaim) {
    mdn_deque d;
    MDN_EXPECT(mdn_deque_init(&d, 1));
    for (uintptr_t i = 0; i < 4096; i++)
        mdn_deque_push(&d, i);
    size_t retired = 0;
    for (mdn_deque_array *a = d.retired; a != NULL; a = a->retired_next)
        retired++;
    MDN_EXPECT_EQ(retired, 11); /* 2, 4, ..., 2048 */
    mdn_deque_reclaim(&d);
    ck_assert_ptr_null(d.retired);
    mdn_deque_reclaim(&d); /* idempotent */
    mdn_deque_check(&d);
    /* Contents and later growth are unaffected. */
    for (uintptr_t i = 4096; i < 10000; i++)
        mdn_deque_push(&d, i);
    uintptr_t x;
    for (uintptr_t i = 10000; i-- > 0;) {
        MDN_EXPECT(mdn_deque_pop(&d, &x));
        MDN_EXPECT_EQ(x, i);
    }
    mdn_deque_destroy(&d);
}
END_TEST

/* Random pushes, pops, steals and FIFO takes against an array model. */
START_TEST(test_mixed_against_model) {
    uint64_t rng = mdn_test_seed("deque/mixed_against_model");
    enum { CAP = 1 << 18 };
    uintptr_t *model = malloc(CAP * sizeof *model);
    ck_assert_ptr_nonnull(model);
    size_t head = 0, tail = 0; /* model holds [head, tail) */
    mdn_deque d;
    MDN_EXPECT(mdn_deque_init(&d, 1));
    uintptr_t next = 1, x;
    for (int step = 0; step < 200000 && tail < CAP; step++) {
        unsigned op = (unsigned)mdn_test_rand_below(&rng, 10);
        if (op < 5) {
            mdn_deque_push(&d, next);
            model[tail++] = next++;
        } else if (op < 7) {
            bool ok = mdn_deque_pop(&d, &x);
            MDN_EXPECT(ok == (head < tail));
            if (ok)
                MDN_EXPECT_EQ(x, model[--tail]);
        } else if (op < 9) {
            mdn_steal_result r = mdn_deque_steal(&d, &x);
            MDN_EXPECT_EQ(r, head < tail ? MDN_STEAL_SUCCESS : MDN_STEAL_EMPTY);
            if (r == MDN_STEAL_SUCCESS)
                MDN_EXPECT_EQ(x, model[head++]);
        } else {
            bool ok = mdn_deque_take_oldest_unshared(&d, &x);
            MDN_EXPECT(ok == (head < tail));
            if (ok)
                MDN_EXPECT_EQ(x, model[head++]);
        }
        MDN_EXPECT_EQ(mdn_deque_size(&d), tail - head);
        if (step % 10000 == 0) {
            mdn_deque_check(&d);
            mdn_deque_reclaim(&d);
        }
    }
    while (head < tail) {
        MDN_EXPECT(mdn_deque_pop(&d, &x));
        MDN_EXPECT_EQ(x, model[--tail]);
    }
    mdn_deque_check(&d);
    mdn_deque_destroy(&d);
    free(model);
}
END_TEST

START_TEST(test_speed_push_pop) {
    mdn_deque d;
    MDN_EXPECT(mdn_deque_init(&d, 10));
    const size_t batch = 1024;
    uintptr_t sum = 0, expect = 0, x;
    double t0 = now_seconds();
    for (size_t done = 0; done < SPEED_ITEMS; done += batch) {
        for (size_t i = 0; i < batch; i++) {
            mdn_deque_push(&d, done + i);
            expect += done + i;
        }
        while (mdn_deque_pop(&d, &x))
            sum += x;
    }
    double t1 = now_seconds();
    for (size_t done = 0; done < SPEED_ITEMS; done += batch) {
        for (size_t i = 0; i < batch; i++)
            mdn_deque_push(&d, done + i);
        while (mdn_deque_steal(&d, &x) == MDN_STEAL_SUCCESS)
            sum += x;
    }
    double t2 = now_seconds();
    MDN_EXPECT_EQ(sum, expect * 2);
    fprintf(stderr, "deque: push+pop %.1f M items/s, push+steal (uncontended) %.1f M items/s\n",
            (double)SPEED_ITEMS / (t1 - t0) / 1e6, (double)SPEED_ITEMS / (t2 - t1) / 1e6);
    mdn_deque_destroy(&d);
}
END_TEST

/* ---- an owner against thieves -------------------------------------------- */

#define MAX_THIEVES 3

typedef struct race {
    mdn_deque deque;
    size_t items;
    _Atomic uint32_t *taken; /* times each item was taken */
    uintptr_t *payload;      /* written by the owner before the push, plainly */
    _Atomic bool done;       /* the owner has emptied the deque for good */
    uint64_t seed;
} race;

typedef struct thief {
    race *r;
    size_t stolen;
    size_t retries;
    bool in_order; /* each thief's steals are increasing */
    bool payload_ok;
} thief;

static uintptr_t payload_of(uintptr_t i) { return i ^ (uintptr_t)0x5a5a5a5a5a5aULL; }

static void *thief_main(void *p) {
    thief *th = p;
    race *r = th->r;
    uintptr_t last = 0;
    bool first = true;
    th->in_order = th->payload_ok = true;
    for (;;) {
        bool done = atomic_load_explicit(&r->done, memory_order_acquire);
        uintptr_t x;
        mdn_steal_result res = mdn_deque_steal(&r->deque, &x);
        if (res == MDN_STEAL_SUCCESS) {
            atomic_fetch_add_explicit(&r->taken[x], 1, memory_order_relaxed);
            if (r->payload[x] != payload_of(x))
                th->payload_ok = false;
            if (!first && x <= last)
                th->in_order = false;
            first = false;
            last = x;
            th->stolen++;
        } else if (res == MDN_STEAL_RETRY) {
            th->retries++;
        } else if (done) {
            return NULL;
        }
    }
}

static size_t owner_take(race *r, size_t *popped) {
    uintptr_t x;
    if (!mdn_deque_pop(&r->deque, &x))
        return 0;
    atomic_fetch_add_explicit(&r->taken[x], 1, memory_order_relaxed);
    MDN_EXPECT_EQ(r->payload[x], payload_of(x));
    (*popped)++;
    return 1;
}

static void run_race(unsigned thieves, bool last_item_mode) {
    race r;
    memset(&r, 0, sizeof r);
    r.items = last_item_mode ? (size_t)LAST_ITEM_ROUNDS * 2 : RACE_ITEMS;
    r.taken = calloc(r.items, sizeof r.taken[0]);
    r.payload = calloc(r.items, sizeof r.payload[0]);
    MDN_EXPECT(r.taken != NULL && r.payload != NULL);
    MDN_EXPECT(mdn_deque_init(&r.deque, 2)); /* grow while thieves run */
    atomic_init(&r.done, false);
    uint64_t rng = mdn_test_seed(last_item_mode ? "deque/race_last_item" : "deque/race");

    thief th[MAX_THIEVES];
    pthread_t threads[MAX_THIEVES];
    for (unsigned i = 0; i < thieves; i++) {
        memset(&th[i], 0, sizeof th[i]);
        th[i].r = &r;
        MDN_EXPECT_EQ(pthread_create(&threads[i], NULL, thief_main, &th[i]), 0);
    }
    double t0 = now_seconds();
    size_t popped = 0;
    if (last_item_mode) {
        /* One or two items at a time: nearly every pop races a steal for
         * the last item. */
        for (size_t i = 0; i < r.items;) {
            size_t k = 1 + (size_t)mdn_test_rand_below(&rng, 2);
            for (size_t j = 0; j < k && i < r.items; j++, i++) {
                r.payload[i] = payload_of(i);
                mdn_deque_push(&r.deque, i);
            }
            while (owner_take(&r, &popped)) {
            }
        }
    } else {
        for (size_t i = 0; i < r.items; i++) {
            r.payload[i] = payload_of(i);
            mdn_deque_push(&r.deque, i);
            uint64_t dice = mdn_test_rand(&rng);
            if ((dice & 3) == 0) {
                for (unsigned k = (unsigned)(dice >> 8) % 3; k > 0; k--)
                    owner_take(&r, &popped);
            }
            if ((dice >> 16) % 50000 == 0)
                while (owner_take(&r, &popped)) {
                }
        }
        while (owner_take(&r, &popped)) {
        }
    }
    uintptr_t x;
    MDN_EXPECT(!mdn_deque_pop(&r.deque, &x));
    atomic_store_explicit(&r.done, true, memory_order_release);
    size_t stolen = 0, retries = 0;
    for (unsigned i = 0; i < thieves; i++) {
        pthread_join(threads[i], NULL);
        ck_assert_msg(th[i].in_order, "thief %u stole out of order", i);
        ck_assert_msg(th[i].payload_ok, "thief %u saw an unpublished payload", i);
        stolen += th[i].stolen;
        retries += th[i].retries;
    }
    double t1 = now_seconds();
    for (size_t i = 0; i < r.items; i++) {
        uint32_t n = atomic_load_explicit(&r.taken[i], memory_order_relaxed);
        if (n != 1)
            ck_abort_msg("item %zu taken %u times", i, n);
    }
    MDN_EXPECT_EQ(popped + stolen, r.items);
    fprintf(stderr,
            "deque race%s: %zu items, %u thieves: popped %zu, stolen %zu (", last_item_mode ? " (last item)" : "",
            r.items, thieves, popped, stolen);
    for (unsigned i = 0; i < thieves; i++)
        fprintf(stderr, "%s%zu", i ? "/" : "", th[i].stolen);
    fprintf(stderr, "), lost races %zu, %.2f s\n", retries, t1 - t0);
    mdn_deque_check(&r.deque);
    mdn_deque_reclaim(&r.deque);
    mdn_deque_destroy(&r.deque);
    free(r.taken);
    free(r.payload);
}

START_TEST(test_race_thieves) { run_race((unsigned)_i, false); }
END_TEST

START_TEST(test_race_last_item) { run_race((unsigned)_i, true); }
END_TEST

static Suite *deque_suite(void) {
    Suite *s = suite_create("deque");
    TCase *tc = tcase_create("single-thread");
    tcase_add_test(tc, test_pop_is_lifo);
    tcase_add_test(tc, test_steal_is_fifo);
    tcase_add_test(tc, test_take_oldest_unshared_is_fifo);
    tcase_add_test(tc, test_empty);
    tcase_add_loop_test(tc, test_growth_keeps_contents, 1, 3);
    tcase_add_test(tc, test_growth_with_offset_indices);
    tcase_add_test(tc, test_reclaim);
    tcase_add_test(tc, test_mixed_against_model);
    tcase_add_test(tc, test_speed_push_pop);
    tcase_set_timeout(tc, 60);
    suite_add_tcase(s, tc);

    tc = tcase_create("concurrent");
    tcase_add_loop_test(tc, test_race_thieves, 2, MAX_THIEVES + 1);
    tcase_add_loop_test(tc, test_race_last_item, 1, MAX_THIEVES + 1);
    tcase_set_timeout(tc, 120);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) {
    SRunner *sr = srunner_create(deque_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
