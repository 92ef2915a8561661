/*
 * The mark-sweep policy (policies/marksweep) and the MarkSweep plan.
 * MDN_TEST_LABELS: threads
 *
 * Size classes; sweeping a block (marked cells skipped, free cells zeroed,
 * address order); empty blocks back to the pool with their budget; lazy
 * sweeping when an allocator takes a block, and the eager path; reuse of
 * dead cells in a small heap; mark bits after parallel marking equal to
 * reachability; verify=1 and poison=1 runs of the shadow model.
 */
#include "plans/marksweep/marksweep_plan.h"
#include "shadow.h"
#include "testutil.h"
#include "toyvm.h"

#include "mdn_check.h"
#include <stdlib.h>
#include <string.h>

/* ---- size classes ----------------------------------------------------------- */

START_TEST(every_size_maps_to_a_tight_class) {
    size_t prev_cell = 0;
    for (unsigned c = 1; c < MDN_MARKSWEEP_CLASSES; c++) {
        size_t cell = mdn_marksweep_cell_size(c);
        ck_assert_msg(cell > prev_cell, "class %u: cell %zu not above %zu", c, cell, prev_cell);
        ck_assert_uint_eq(cell % MDN_GRANULE_SIZE, 0);
        ck_assert_uint_ge(mdn_marksweep_cells_per_block(c), 4);
        prev_cell = cell;
    }
    ck_assert_uint_eq(prev_cell, MDN_LARGE_OBJECT_THRESHOLD);
    for (size_t s = 1; s <= MDN_LARGE_OBJECT_THRESHOLD; s++) {
        unsigned c = mdn_marksweep_size_class(s);
        ck_assert_msg(c >= 1 && c < MDN_MARKSWEEP_CLASSES, "size %zu: class %u", s, c);
        size_t cell = mdn_marksweep_cell_size(c);
        ck_assert_msg(cell >= s, "size %zu: cell %zu too small", s, cell);
        ck_assert_msg(c == 1 || mdn_marksweep_cell_size(c - 1) < s, "size %zu: class %u is not the smallest", s, c);
        if (s <= MDN_FREELIST_FAST_MAX) {
            /* The inline fast path pops free_lists[(s + 7) / 8]. */
            ck_assert_uint_eq(c, (s + 7) / 8);
            ck_assert_uint_lt(cell - s, 8);
        } else {
            ck_assert_msg((cell - s) * 8 < s, "size %zu: cell %zu wastes more than 1/8", s, cell);
        }
    }
}
END_TEST

START_TEST(aligned_requests_find_aligned_cells) {
    for (size_t align = 16; align <= 8192; align *= 2) {
        for (size_t s = 8; s <= MDN_LARGE_OBJECT_THRESHOLD; s += 8) {
            unsigned c = mdn_marksweep_class_for(s, align);
            if (c == 0)
                continue;
            size_t cell = mdn_marksweep_cell_size(c);
            ck_assert_uint_ge(cell, s);
            ck_assert_msg(cell % align == 0, "size %zu align %zu: cell %zu", s, align, cell);
        }
        /* Small objects with alignments up to the page size have a class. */
        if (align <= MDN_PAGE_SIZE)
            ck_assert_uint_ne(mdn_marksweep_class_for(24, align), 0);
    }
    ck_assert_uint_eq(mdn_marksweep_class_for(8200, 8), 0);
}
END_TEST

/* ---- the policy on its own, over a private vmspace -------------------------- */

typedef struct fixture {
    mdn_heap heap; /* only its vmspace, statistics and options are used */
    mdn_marksweep_space ms;
    void *exact[MDN_FREELIST_FAST_CLASSES];
    mdn_marksweep_allocator a;
} fixture;

static fixture *fixture_new(size_t budget) {
    fixture *f = calloc(1, sizeof *f);
    mdn_error err;
    ck_assert_msg(mdn_vmspace_init(&f->heap.vm, budget * 2 + 8 * MDN_CHUNK_SIZE, budget, &err), "%s", err.message);
    mdn_stats_init(&f->heap.stats);
    ck_assert(mdn_marksweep_init(&f->ms, &f->heap, 1));
    mdn_marksweep_allocator_init(&f->a, f->exact);
    return f;
}

static void fixture_free(fixture *f) {
    mdn_marksweep_allocator_retire(&f->ms, &f->a);
    mdn_marksweep_destroy(&f->ms);
    mdn_stats_destroy(&f->heap.stats);
    mdn_vmspace_destroy(&f->heap.vm);
    free(f);
}

static uintptr_t block_of(const void *p) { return (uintptr_t)p & ~(uintptr_t)(MDN_BLOCK_SIZE - 1); }

static uint8_t state_of(fixture *f, uintptr_t block) {
    return mdn_block_state_get(&f->heap.vm, mdn_address_from_word(block));
}

/* Allocate every cell of one fresh block of class c, filling each with
 * `fill`; returns the block. */
static uintptr_t fill_block(fixture *f, unsigned c, int fill) {
    size_t n = mdn_marksweep_cells_per_block(c), cell = mdn_marksweep_cell_size(c);
    uintptr_t block = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char *p = mdn_marksweep_alloc(&f->ms, &f->a, c);
        ck_assert_ptr_nonnull(p);
        if (i == 0)
            block = block_of(p);
        ck_assert_uint_eq((uintptr_t)p, block + i * cell); /* address order */
        for (size_t k = 0; k < cell; k++)
            ck_assert(p[k] == 0);
        memset(p, fill, cell);
    }
    ck_assert_ptr_null(*mdn_marksweep_allocator_head(&f->a, c));
    ck_assert_uint_eq(state_of(f, block), MDN_BLOCK_ALLOCATING);
    return block;
}

/* A collection as the plan runs it, with `marked` cells of `block` reachable. */
static size_t collect_with_marks(fixture *f, uintptr_t block, unsigned c, bool (*marked)(size_t i)) {
    mdn_marksweep_allocator_retire(&f->ms, &f->a);
    mdn_marksweep_allocator_init(&f->a, f->exact);
    mdn_marksweep_prepare(&f->ms, &f->heap, true);
    size_t n = mdn_marksweep_cells_per_block(c), cell = mdn_marksweep_cell_size(c);
    for (size_t i = 0; i < n; i++)
        if (marked && marked(i))
            ck_assert(mdn_side_bit_set_atomic(&f->ms.marks, mdn_address_from_word(block + i * cell)));
    size_t live = mdn_marksweep_release(&f->ms, &f->heap);
    mdn_marksweep_check(&f->ms);
    return live;
}

static bool every_third(size_t i) { return i % 3 == 1; }
static bool first_and_last_few(size_t i) { return i < 3 || (i > 600 && i % 2 == 0); }

START_TEST(sweep_skips_marked_cells_and_zeroes_the_rest) {
    fixture *f = fixture_new((size_t)8 << 20);
    const unsigned c = 6; /* 48-byte cells */
    size_t n = mdn_marksweep_cells_per_block(c), cell = mdn_marksweep_cell_size(c);
    uintptr_t block = fill_block(f, c, 0xab);
    size_t marked = 0;
    for (size_t i = 0; i < n; i++)
        marked += every_third(i);
    ck_assert_uint_eq(collect_with_marks(f, block, c, every_third), marked * cell);
    /* Classified, not swept: dead cells still hold their old bytes. */
    ck_assert_uint_eq(state_of(f, block), MDN_MARKSWEEP_BLOCK_SWEEPABLE);
    ck_assert(((unsigned char *)block)[0] == 0xab);
    /* The allocator that takes the block sweeps it. */
    void *first = mdn_marksweep_alloc(&f->ms, &f->a, c);
    ck_assert_uint_eq((uintptr_t)first, block); /* cell 0 is free */
    ck_assert_uint_eq(state_of(f, block), MDN_BLOCK_ALLOCATING);
    /* The rest of the list: exactly the unmarked cells after cell 0, in
     * address order, zero except the link. */
    size_t i = 1;
    for (void **p = *mdn_marksweep_allocator_head(&f->a, c); p; p = *p, i++) {
        while (every_third(i))
            i++;
        ck_assert_uint_eq((uintptr_t)p, block + i * cell);
        for (size_t w = 1; w < cell / 8; w++)
            ck_assert_uint_eq(((uintptr_t *)p)[w], 0);
    }
    while (i < n && every_third(i))
        i++;
    ck_assert_uint_eq(i, n);
    for (size_t k = 0; k < n; k++) {
        unsigned char *p = (unsigned char *)(block + k * cell);
        if (every_third(k))
            for (size_t b = 0; b < cell; b++)
                ck_assert(p[b] == 0xab);
    }
    ck_assert(*(uintptr_t *)first == 0 && ((unsigned char *)first)[cell - 1] == 0);
    fixture_free(f);
}
END_TEST

START_TEST(empty_blocks_return_to_the_pool_with_their_budget) {
    fixture *f = fixture_new((size_t)8 << 20);
    uintptr_t blocks[3];
    for (int k = 0; k < 3; k++)
        blocks[k] = fill_block(f, 9, 0x5a);
    uintptr_t kept = fill_block(f, 4, 0x33);
    size_t used = mdn_budget_used(&f->heap.vm);
    ck_assert_uint_eq(used, 4 * MDN_BLOCK_SIZE);
    size_t free_before = mdn_block_pool_free_count(&f->ms.pool);
    /* Only `kept` has a marked cell. */
    size_t live = collect_with_marks(f, kept, 4, first_and_last_few);
    ck_assert_uint_gt(live, 0);
    for (int k = 0; k < 3; k++)
        ck_assert_uint_eq(state_of(f, blocks[k]), MDN_BLOCK_FREE);
    ck_assert_uint_eq(state_of(f, kept), MDN_MARKSWEEP_BLOCK_SWEEPABLE);
    ck_assert_uint_eq(mdn_block_pool_free_count(&f->ms.pool), free_before + 3);
    ck_assert_uint_eq(mdn_budget_used(&f->heap.vm), used - 3 * MDN_BLOCK_SIZE);
    /* A released block is dirty: taken for another class, it is zeroed. */
    for (size_t k = 0; k < 3 * mdn_marksweep_cells_per_block(40); k++) {
        unsigned char *p = mdn_marksweep_alloc(&f->ms, &f->a, 40);
        ck_assert_ptr_nonnull(p);
        for (size_t b = 0; b < mdn_marksweep_cell_size(40); b++)
            ck_assert(p[b] == 0);
    }
    fixture_free(f);
}
END_TEST

START_TEST(budget_refusal_makes_refill_fail) {
    fixture *f = fixture_new((size_t)4 * MDN_BLOCK_SIZE);
    for (int k = 0; k < 4; k++)
        fill_block(f, 2, 1);
    ck_assert_ptr_null(mdn_marksweep_alloc(&f->ms, &f->a, 2));
    ck_assert_ptr_null(mdn_marksweep_alloc(&f->ms, &f->a, 70));
    /* Nothing marked: everything comes back. */
    collect_with_marks(f, 0, 2, NULL);
    ck_assert_uint_eq(mdn_budget_used(&f->heap.vm), 0);
    ck_assert_ptr_nonnull(mdn_marksweep_alloc(&f->ms, &f->a, 70));
    fixture_free(f);
}
END_TEST

START_TEST(eager_sweep_builds_lists_the_allocator_adopts) {
    fixture *f = fixture_new((size_t)8 << 20);
    const unsigned c = 36; /* a geometric class: 384-byte cells */
    size_t n = mdn_marksweep_cells_per_block(c), cell = mdn_marksweep_cell_size(c);
    uintptr_t block = fill_block(f, c, 0x77);
    collect_with_marks(f, block, c, every_third);
    size_t nfree = 0;
    for (size_t i = 0; i < n; i++)
        nfree += !every_third(i);
    ck_assert_uint_eq(mdn_marksweep_sweep_all(&f->ms), nfree * cell);
    ck_assert_uint_eq(state_of(f, block), MDN_MARKSWEEP_BLOCK_SWEPT);
    ck_assert(((unsigned char *)block)[8] == 0); /* cell 0 was swept now */
    mdn_marksweep_check(&f->ms);
    for (size_t k = 0; k < nfree; k++) {
        unsigned char *p = mdn_marksweep_alloc(&f->ms, &f->a, c);
        ck_assert_uint_eq(block_of(p), block);
        ck_assert(!every_third(((uintptr_t)p - block) / cell));
        ck_assert(p[0] == 0 && p[cell - 1] == 0);
    }
    ck_assert_ptr_null(*mdn_marksweep_allocator_head(&f->a, c));
    fixture_free(f);
}
END_TEST

START_TEST(allocated_bytes_are_counted_per_retired_list) {
    fixture *f = fixture_new((size_t)8 << 20);
    for (int i = 0; i < 10; i++)
        ck_assert_ptr_nonnull(mdn_marksweep_alloc(&f->ms, &f->a, 3));
    for (int i = 0; i < 3; i++)
        ck_assert_ptr_nonnull(mdn_marksweep_alloc(&f->ms, &f->a, 50));
    /* Counted per refill: whole lists, before the cells are handed out ... */
    ck_assert_uint_eq(f->heap.stats.bytes_allocated, mdn_marksweep_cells_per_block(3) * 24 + mdn_marksweep_cells_per_block(50) * mdn_marksweep_cell_size(50));
    /* ... and made exact when the lists are retired. */
    mdn_marksweep_allocator_retire(&f->ms, &f->a);
    ck_assert_uint_eq(f->heap.stats.bytes_allocated, 10 * 24 + 3 * mdn_marksweep_cell_size(50));
    /* After a reset the subtraction stops at zero. */
    ck_assert_ptr_nonnull(mdn_marksweep_alloc(&f->ms, &f->a, 3));
    mdn_stats_reset(&f->heap.stats);
    mdn_marksweep_allocator_retire(&f->ms, &f->a);
    ck_assert_uint_eq(f->heap.stats.bytes_allocated, 0);
    fixture_free(f);
}
END_TEST

/* ---- the plan ------------------------------------------------------------------ */

static int cmp_uintptr(const void *a, const void *b) {
    uintptr_t x = *(const uintptr_t *)a, y = *(const uintptr_t *)b;
    return x < y ? -1 : x > y;
}

START_TEST(dead_cells_are_reused_in_a_small_heap) {
    mdn_heap *h = mdn_test_heap((size_t)4 << 20, 1);
    toyvm_thread *t = toyvm_thread_attach(h);
    enum { N = 20000 };
    uintptr_t *seen = malloc(N * sizeof *seen);
    size_t keep = toyvm_push_root(t, mdn_objref_null());
    for (int i = 0; i < N; i++) {
        mdn_objref o = toyvm_alloc(t, 3, 1, 32, MDN_ALLOC_DEFAULT);
        seen[i] = o.value;
        if (i % 100 == 0) { /* a few survive, chained from a root */
            toyvm_set_ref(t, o, 0, toyvm_root(t, keep));
            toyvm_set_root(t, keep, o);
        }
    }
    qsort(seen, N, sizeof *seen, cmp_uintptr);
    mdn_collect(t->mutator, MDN_GC_DEFAULT);
    /* Every allocation of the same size now lands in a cell used before. */
    for (int i = 0; i < 1000; i++) {
        mdn_objref o = toyvm_alloc(t, 3, 1, 32, MDN_ALLOC_DEFAULT);
        ck_assert_ptr_nonnull(bsearch(&o.value, seen, N, sizeof *seen, cmp_uintptr));
        ck_assert(mdn_objref_is_null(toyvm_get_ref(o, 0)));
    }
    /* Survivors are intact. */
    size_t survivors = 0;
    for (mdn_objref o = toyvm_root(t, keep); !mdn_objref_is_null(o); o = toyvm_get_ref(o, 0)) {
        ck_assert_uint_eq(toyvm_type(o), 3);
        survivors++;
    }
    ck_assert_uint_eq(survivors, N / 100);
    /* Far more than the heap, in steady state. */
    for (int i = 0; i < 400000; i++)
        toyvm_alloc(t, 3, 1, 32, MDN_ALLOC_DEFAULT);
    mdn_stats st;
    mdn_stats_get(h, &st);
    ck_assert_uint_gt(st.collections, 2);
    ck_assert_uint_gt(st.bytes_allocated, (uint64_t)3 * st.heap_size);
    ck_assert_uint_le(st.live_bytes_after, (uint64_t)1 << 20);
    free(seen);
    toyvm_pop_roots(t, 1);
    toyvm_thread_detach(t);
    mdn_heap_destroy(h);
}
END_TEST

/* Mark bits after a parallel marking equal reachability computed here. */
START_TEST(parallel_mark_bits_are_exact) {
    uint64_t seed = mdn_test_seed("parallel_mark_bits_are_exact");
    mdn_heap *h = mdn_test_heap((size_t)256 << 20, 2);
    toyvm_thread *t = toyvm_thread_attach(h);
    marksweep_plan *p = marksweep_plan_of(h);
    enum { N = 200000, ROOTS = 64 };
    mdn_objref *objs = malloc(N * sizeof *objs);
    size_t base = t->root_count;
    for (int i = 0; i < ROOTS; i++)
        toyvm_push_root(t, mdn_objref_null());
    for (int i = 0; i < N; i++) {
        unsigned nrefs = (unsigned)mdn_test_rand_below(&seed, 4);
        size_t payload = 8 * mdn_test_rand_below(&seed, 40);
        mdn_objref o = toyvm_alloc(t, 30, nrefs, payload, MDN_ALLOC_DEFAULT);
        objs[i] = o;
        for (unsigned f = 0; f < nrefs && i > 0; f++)
            toyvm_set_ref(t, o, f, objs[mdn_test_rand_below(&seed, (uint64_t)i)]);
        /* Root some objects for a while; what they reach survives only if
         * still reachable at the end. */
        toyvm_set_root(t, base + mdn_test_rand_below(&seed, ROOTS), o);
    }
    mdn_collect(t->mutator, MDN_GC_FULL);
    /* Reachability by depth-first search from the roots. */
    bool *reach = calloc(N, sizeof *reach);
    mdn_objref *stack = malloc(N * sizeof *stack);
    size_t sp = 0;
    uintptr_t *sorted = malloc(N * sizeof *sorted);
    for (int i = 0; i < N; i++)
        sorted[i] = objs[i].value;
    qsort(sorted, N, sizeof *sorted, cmp_uintptr);
    uint8_t *seen = calloc(N, 1);
    for (int i = 0; i < ROOTS; i++) {
        mdn_objref r = toyvm_root(t, base + (size_t)i);
        if (!mdn_objref_is_null(r))
            stack[sp++] = r;
    }
    size_t reachable = 0;
    while (sp) {
        mdn_objref o = stack[--sp];
        uintptr_t *at = bsearch(&o.value, sorted, N, sizeof *sorted, cmp_uintptr);
        ck_assert_ptr_nonnull(at);
        if (seen[at - sorted])
            continue;
        seen[at - sorted] = 1;
        reachable++;
        for (unsigned f = 0; f < toyvm_nrefs(o); f++) {
            mdn_objref c = toyvm_get_ref(o, f);
            if (!mdn_objref_is_null(c))
                stack[sp++] = c;
        }
    }
    size_t marked = 0;
    for (int i = 0; i < N; i++) {
        bool is_reachable = seen[i] != 0;
        bool is_marked = mdn_marksweep_is_marked(&p->ms, mdn_address_from_word(sorted[i]));
        ck_assert_msg(is_reachable == is_marked, "object %p: reachable %d, marked %d", (void *)sorted[i],
                      is_reachable, is_marked);
        marked += is_marked;
    }
    ck_assert_uint_eq(marked, reachable);
    ck_assert_uint_gt(reachable, 1000);
    ck_assert_uint_lt(reachable, N);
    free(reach);
    free(stack);
    free(sorted);
    free(seen);
    free(objs);
    toyvm_pop_roots(t, ROOTS);
    toyvm_thread_detach(t);
    mdn_heap_destroy(h);
}
END_TEST

/* The shadow model with the eager sweep and its checks on every collection
 * (verify=1), then with reclaimed memory poisoned. */
static void shadow_run(bool verify, bool poison, unsigned gc_threads) {
    uint64_t seed = mdn_test_seed(verify ? "shadow_with_verify" : "shadow_with_poison");
    mdn_options o;
    mdn_options_init(&o);
    o.heap_size = (size_t)10 << 20;
    o.gc_threads = gc_threads;
    o.verify = verify;
    o.poison = poison;
    mdn_error err;
    mdn_heap *h = mdn_heap_create(&o, &err);
    ck_assert_msg(h != NULL, "%s", err.message);
    toyvm_thread *t = toyvm_thread_attach(h);
    shadow_world w;
    shadow_world_init(&w, t, seed, 3, 48, 8, 2);
    for (int k = 0; k < 30000; k++) {
        ck_assert_msg(shadow_step(&w, 3000), "out of memory at operation %llu (seed %llu)",
                      (unsigned long long)w.ops, (unsigned long long)seed);
        if (k % 5000 == 4999)
            ck_assert_msg(shadow_verify(&w), "seed %llu: %s", (unsigned long long)seed, w.failure);
    }
    mdn_collect(t->mutator, MDN_GC_FULL);
    ck_assert_msg(shadow_verify(&w), "seed %llu: %s", (unsigned long long)seed, w.failure);
    mdn_stats st;
    mdn_stats_get(h, &st);
    ck_assert_uint_gt(st.collections, 1);
    shadow_world_destroy(&w);
    toyvm_thread_detach(t);
    mdn_heap_destroy(h);
}

START_TEST(shadow_model_with_verify) { shadow_run(true, false, _i + 1); }
END_TEST

START_TEST(shadow_model_with_poison) { shadow_run(false, true, _i + 1); }
END_TEST

int main(void) {
    Suite *s = suite_create("marksweep");
    TCase *classes = tcase_create("classes");
    tcase_add_test(classes, every_size_maps_to_a_tight_class);
    tcase_add_test(classes, aligned_requests_find_aligned_cells);
    suite_add_tcase(s, classes);
    TCase *policy = tcase_create("policy");
    tcase_add_test(policy, sweep_skips_marked_cells_and_zeroes_the_rest);
    tcase_add_test(policy, empty_blocks_return_to_the_pool_with_their_budget);
    tcase_add_test(policy, budget_refusal_makes_refill_fail);
    tcase_add_test(policy, eager_sweep_builds_lists_the_allocator_adopts);
    tcase_add_test(policy, allocated_bytes_are_counted_per_retired_list);
    suite_add_tcase(s, policy);
    TCase *plan = tcase_create("plan");
    tcase_set_timeout(plan, 300);
    tcase_add_test(plan, dead_cells_are_reused_in_a_small_heap);
    tcase_add_test(plan, parallel_mark_bits_are_exact);
    tcase_add_loop_test(plan, shadow_model_with_verify, 0, 2);
    tcase_add_loop_test(plan, shadow_model_with_poison, 0, 2);
    suite_add_tcase(s, plan);
    return mdn_run_suite(s);
}
