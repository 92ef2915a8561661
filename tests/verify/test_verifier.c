/*
 * The heap verifier catches planted corruption, on every plan.
 *
 * Each case builds a small rooted graph, runs a collection (so the heap is
 * in the state the verifier normally sees), plants one corruption without
 * allocating, and runs the verifier in a child process: it must abort with
 * a report that names the corrupted slot (and the holding object). A clean
 * heap must pass.
 */
#include "core/block_pool.h"
#include "core/heap.h"
#include "core/plan.h"
#include "core/poison.h"
#include "core/verify.h"
#include "testutil.h"
#include "toyvm.h"

#include "mdn_check.h"
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct graph {
    mdn_heap *heap;
    toyvm_thread *t;
    size_t base;            /* shadow-stack index of the holder */
    mdn_objref *registered; /* one registered root slot */
} graph;

enum { ROOT_HOLDER = 0, ROOT_TARGET = 1, ROOT_LARGE = 2, NROOTS = 3 };

/* holder (2 reference fields) -> target (64 zero payload bytes); a large
 * object in root 2; everything collected once. */
static void build(graph *g, bool poison) {
    mdn_options o;
    mdn_options_init(&o);
    o.heap_size = (size_t)32 << 20;
    o.gc_threads = 1;
    o.poison = poison;
    mdn_error err;
    g->heap = mdn_heap_create(&o, &err);
    if (!g->heap) {
        fprintf(stderr, "heap: %s\n", err.message);
        exit(3);
    }
    g->t = toyvm_thread_attach(g->heap);
    g->base = g->t->root_count;
    for (int i = 0; i < NROOTS; i++)
        toyvm_push_root(g->t, mdn_objref_null());
    toyvm_set_root(g->t, g->base + ROOT_HOLDER, toyvm_alloc(g->t, 20, 2, 16, MDN_ALLOC_DEFAULT));
    toyvm_set_root(g->t, g->base + ROOT_TARGET, toyvm_alloc(g->t, 21, 0, 64, MDN_ALLOC_DEFAULT));
    toyvm_set_root(g->t, g->base + ROOT_LARGE, toyvm_alloc(g->t, 22, 0, 20000, MDN_ALLOC_DEFAULT));
    toyvm_set_ref(g->t, toyvm_root(g->t, g->base + ROOT_HOLDER), 0, toyvm_root(g->t, g->base + ROOT_TARGET));
    g->registered = calloc(1, sizeof *g->registered);
    mdn_add_roots(g->heap, g->registered, 1);
    mdn_collect(g->t->mutator, MDN_GC_FULL);
}

static mdn_objref root(graph *g, int i) { return toyvm_root(g->t, g->base + (size_t)i); }

/* Run the verifier as a collection would: thread-local allocators retired. */
static size_t verify_now(graph *g) {
    plan_mutator_retire(g->heap, g->t->mutator);
    size_t n = mdn_verify_heap(g->heap);
    plan_mutator_init(g->heap, g->t->mutator);
    return n;
}

/* What the child reports back through its output. */
static char expect_slot[64], expect_holder[64];

static void note_field_slot(graph *g) {
    mdn_objref holder = root(g, ROOT_HOLDER);
    snprintf(expect_slot, sizeof expect_slot, "slot %p ", (void *)toyvm_ref_slot(holder, 1).value);
    snprintf(expect_holder, sizeof expect_holder, "of object %p", (void *)holder.value);
}

static void expect_report_arg(void (*fn)(void *), void *arg, const char *what, bool names_holder) {
    mdn_child_result r;
    expect_slot[0] = expect_holder[0] = '\0';
    /* The child computes the addresses; they are printed on a line that
     * the parent reads back. */
    mdn_run_in_child(fn, arg, &r);
    if (getenv("MDN_TEST_SHOW_REPORTS"))
        fprintf(stderr, "---\n%s", r.output);
    ck_assert_msg(r.signaled && r.signal == SIGABRT, "the verifier did not abort (exited %d, status %d):\n%s",
                  r.exited, r.exit_status, r.output);
    ck_assert_msg(strstr(r.output, "heap verifier: ") != NULL, "no verifier report:\n%s", r.output);
    if (what)
        ck_assert_msg(strstr(r.output, what) != NULL, "report does not say '%s':\n%s", what, r.output);
    const char *line = strstr(r.output, "expect: ");
    ck_assert_msg(line != NULL, "child did not print its expectation:\n%s", r.output);
    char slot[64] = "", holder[64] = "";
    ck_assert_int_eq(sscanf(line, "expect: %63[^|]|%63[^\n]", slot, holder), 2);
    ck_assert_msg(strstr(r.output, slot) != NULL, "report does not name the slot '%s':\n%s", slot, r.output);
    if (names_holder)
        ck_assert_msg(strstr(r.output, holder) != NULL, "report does not name the holder '%s':\n%s", holder,
                      r.output);
    ck_assert_msg(strstr(r.output, "plan " MDN_TEST_PLAN) != NULL, "report does not name the plan:\n%s", r.output);
}

static void expect_report(void (*fn)(void *), const char *what, bool names_holder) {
    expect_report_arg(fn, NULL, what, names_holder);
}

static void announce(void) {
    fprintf(stderr, "expect: %s|%s\n", expect_slot, expect_holder);
    fflush(stderr);
}

/* ---- the planted corruptions (each runs in a child) -------------------- */

static void plant_interior_zero_word(void *arg) {
    (void)arg;
    graph g;
    build(&g, false);
    note_field_slot(&g);
    announce();
    mdn_objref target = root(&g, ROOT_TARGET);
    /* A reference to the middle of the target: its payload is zero, so the
     * "header" there claims a zero size. */
    toyvm_set_ref(g.t, root(&g, ROOT_HOLDER), 1, (mdn_objref){target.value + 24});
    verify_now(&g);
}

static void plant_interior_fake_header(void *arg) {
    (void)arg;
    graph g;
    build(&g, false);
    note_field_slot(&g);
    announce();
    mdn_objref target = root(&g, ROOT_TARGET);
    /* A plausible header inside the target's payload: only the liveness
     * test or the overlap check can tell. */
    uint64_t *payload = toyvm_payload(target);
    payload[2] = toyvm_make_header(23, 0, 16);
    toyvm_set_ref(g.t, root(&g, ROOT_HOLDER), 1, (mdn_objref){(uintptr_t)&payload[2]});
    verify_now(&g);
}

static void plant_outside_heap(void *arg) {
    (void)arg;
    graph g;
    build(&g, false);
    note_field_slot(&g);
    announce();
    static uint64_t not_in_heap[4] = {0};
    toyvm_set_ref(g.t, root(&g, ROOT_HOLDER), 1, mdn_objref_from_ptr(not_in_heap));
    verify_now(&g);
}

static void plant_freed_large_object(void *arg) {
    (void)arg;
    graph g;
    build(&g, false);
    note_field_slot(&g);
    announce();
    mdn_objref large = root(&g, ROOT_LARGE);
    toyvm_set_root(g.t, g.base + ROOT_LARGE, mdn_objref_null());
    mdn_collect(g.t->mutator, MDN_GC_FULL); /* frees it */
    toyvm_set_ref(g.t, root(&g, ROOT_HOLDER), 1, large); /* a dangling reference */
    verify_now(&g);
}

static void plant_poisoned_target(void *arg) {
    (void)arg;
    graph g;
    build(&g, true);
    note_field_slot(&g);
    announce();
    /* As if the target's memory had been reclaimed and poisoned while the
     * holder still referred to it. */
    mdn_objref target = root(&g, ROOT_TARGET);
    toyvm_set_root(g.t, g.base + ROOT_TARGET, mdn_objref_null());
    toyvm_set_ref(g.t, root(&g, ROOT_HOLDER), 0, mdn_objref_null());
    mdn_poison_range((void *)target.value, toyvm_object_bytes(0, 64));
    toyvm_set_ref(g.t, root(&g, ROOT_HOLDER), 1, target);
    verify_now(&g);
}

static void plant_stale_moved_reference(void *arg) {
    (void)arg;
    graph g;
    build(&g, false);
    note_field_slot(&g);
    mdn_objref before = root(&g, ROOT_TARGET);
    mdn_collect(g.t->mutator, MDN_GC_FULL);
    mdn_objref after = root(&g, ROOT_TARGET);
    if (after.value == before.value) {
        /* The plan did not move it (non-moving plans, or it stayed put). */
        fprintf(stderr, "not moved\n");
        fflush(stderr);
        _exit(0);
    }
    note_field_slot(&g);
    announce();
    /* The old copy's address: from-space, or a block freed by evacuation. */
    toyvm_set_ref(g.t, root(&g, ROOT_HOLDER), 1, before);
    verify_now(&g);
}

static void plant_registered_root_interior(void *arg) {
    (void)arg;
    graph g;
    build(&g, false);
    snprintf(expect_slot, sizeof expect_slot, "registered root slot %p ", (void *)g.registered);
    snprintf(expect_holder, sizeof expect_holder, "-");
    announce();
    g.registered[0] = (mdn_objref){root(&g, ROOT_TARGET).value + 32};
    verify_now(&g);
}

static void plant_allocating_block(void *arg) {
    (void)arg;
    graph g;
    build(&g, false);
    plan_mutator_retire(g.heap, g.t->mutator);
    mdn_address holder = mdn_objref_to_address(root(&g, ROOT_HOLDER));
    snprintf(expect_slot, sizeof expect_slot, "block %p ",
             mdn_address_to_ptr(mdn_vmspace_block_at(&g.heap->vm, mdn_vmspace_block_index(&g.heap->vm, holder))));
    snprintf(expect_holder, sizeof expect_holder, "-");
    announce();
    /* A block left owned by an allocator after the collection. */
    g.heap->vm.block_state[mdn_vmspace_block_index(&g.heap->vm, holder)] = MDN_BLOCK_ALLOCATING;
    mdn_verify_heap(g.heap);
}

/* .verify.sizes: a corrupt header of the target, reached only through the
 * holder's field 0. `arg` selects the size written into the header. */
enum { BAD_SIZE_ZERO, BAD_SIZE_UNALIGNED, BAD_SIZE_HUGE, BAD_SIZE_PAST_SPACE };

static void plant_bad_size(void *arg) {
    graph g;
    build(&g, false);
    mdn_objref holder = root(&g, ROOT_HOLDER), target = root(&g, ROOT_TARGET);
    toyvm_set_root(g.t, g.base + ROOT_TARGET, mdn_objref_null());
    snprintf(expect_slot, sizeof expect_slot, "slot %p ", (void *)toyvm_ref_slot(holder, 0).value);
    snprintf(expect_holder, sizeof expect_holder, "of object %p", (void *)holder.value);
    size_t size = 0;
    switch ((int)(intptr_t)arg) {
    case BAD_SIZE_ZERO:
        size = 0;
        break;
    case BAD_SIZE_UNALIGNED:
        size = toyvm_object_bytes(0, 64) - 4;
        break;
    case BAD_SIZE_HUGE:
        size = g.heap->vm.budget + 8;
        break;
    case BAD_SIZE_PAST_SPACE: {
        /* Up to the first byte past the chunks of the target's space. */
        const mdn_vmspace *vs = &g.heap->vm;
        unsigned space = mdn_vmspace_space_of(vs, mdn_objref_to_address(target));
        uintptr_t end = (target.value | (MDN_CHUNK_SIZE - 1)) + 1;
        while (mdn_vmspace_space_of(vs, mdn_address_from_word(end)) == space)
            end += MDN_CHUNK_SIZE;
        size = end - target.value + 8;
        if (size > vs->budget) {
            fprintf(stderr, "space runs %zu bytes past the object, more than the budget\n", size);
            _exit(4);
        }
        break;
    }
    }
    announce();
    *(uint64_t *)target.value = toyvm_make_header(21, 0, size);
    verify_now(&g);
}

/* ---- tests ---------------------------------------------------------------- */

START_TEST(clean_heap_passes) {
    graph g;
    build(&g, false);
    g.registered[0] = root(&g, ROOT_LARGE);
    ck_assert_uint_eq(verify_now(&g), 3);
    toyvm_set_ref(g.t, root(&g, ROOT_HOLDER), 1, root(&g, ROOT_HOLDER)); /* a cycle is fine */
    ck_assert_uint_eq(verify_now(&g), 3);
    mdn_remove_roots(g.heap, g.registered);
    free(g.registered);
    toyvm_pop_roots(g.t, NROOTS);
    toyvm_thread_detach(g.t);
    mdn_heap_destroy(g.heap);
}
END_TEST

START_TEST(interior_pointer_with_zero_header) { expect_report(plant_interior_zero_word, NULL, true); }
END_TEST

START_TEST(interior_pointer_with_plausible_header) { expect_report(plant_interior_fake_header, NULL, true); }
END_TEST

START_TEST(pointer_outside_the_heap) { expect_report(plant_outside_heap, "reference outside every space", true); }
END_TEST

START_TEST(pointer_to_freed_large_object) {
    /* NoGC never frees anything. */
    if (!plan_can_collect)
        return;
    expect_report(plant_freed_large_object, NULL, true);
}
END_TEST

START_TEST(pointer_to_poisoned_memory) { expect_report(plant_poisoned_target, "poisoned", true); }
END_TEST

START_TEST(pointer_to_an_old_copy) {
    mdn_child_result r;
    mdn_run_in_child(plant_stale_moved_reference, NULL, &r);
    if (r.exited && r.exit_status == 0 && strstr(r.output, "not moved"))
        return;
    expect_report(plant_stale_moved_reference, NULL, true);
}
END_TEST

START_TEST(registered_root_into_an_object) { expect_report(plant_registered_root_interior, NULL, false); }
END_TEST

START_TEST(block_left_allocating) { expect_report(plant_allocating_block, "still ALLOCATING", false); }
END_TEST

START_TEST(object_of_size_zero) { expect_report_arg(plant_bad_size, (void *)BAD_SIZE_ZERO, "object of size 0", true); }
END_TEST

START_TEST(object_of_unaligned_size) {
    expect_report_arg(plant_bad_size, (void *)BAD_SIZE_UNALIGNED, "object size is not a multiple of the 8-byte alignment",
                  true);
}
END_TEST

START_TEST(object_larger_than_the_heap) {
    expect_report_arg(plant_bad_size, (void *)BAD_SIZE_HUGE, "object size is larger than the heap budget", true);
}
END_TEST

START_TEST(object_past_its_space) {
    expect_report_arg(plant_bad_size, (void *)BAD_SIZE_PAST_SPACE, "object extends past its space", true);
}
END_TEST

int main(void) {
    Suite *s = suite_create("verifier");
    TCase *tc = tcase_create(MDN_TEST_PLAN);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, clean_heap_passes);
    tcase_add_test(tc, interior_pointer_with_zero_header);
    tcase_add_test(tc, interior_pointer_with_plausible_header);
    tcase_add_test(tc, pointer_outside_the_heap);
    tcase_add_test(tc, pointer_to_freed_large_object);
    tcase_add_test(tc, pointer_to_poisoned_memory);
    tcase_add_test(tc, pointer_to_an_old_copy);
    tcase_add_test(tc, registered_root_into_an_object);
    tcase_add_test(tc, block_left_allocating);
    tcase_add_test(tc, object_of_size_zero);
    tcase_add_test(tc, object_of_unaligned_size);
    tcase_add_test(tc, object_larger_than_the_heap);
    tcase_add_test(tc, object_past_its_space);
    suite_add_tcase(s, tc);
    return mdn_run_suite(s);
}
