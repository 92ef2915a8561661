/*
 * Every space's metadata is checked by the heap verifier, on every plan
 * (docs/design/policies.md .policy.check, .verify.metadata): after a
 * collection each plan's own spaces and the common ones pass; then, in a
 * child process, one corruption of a space is planted and
 * plan_verify_metadata() must abort naming it:
 *   immix      a marked object's line without the collection's epoch (.immix.verify)
 *   copy       forwarding state left on a to-space (or nursery) object (.copy.verify)
 *   nonmoving  a free-list cell that holds an object (.nm.verify)
 *   marksweep  a marked cell on a swept free list (.ms.eager)
 *   los        a listed object that is no recorded object start (every plan)
 *   immortal   a kept partial region outside the space (every plan)
 * and a traced reference in no space is one fatal error naming the plan and
 * the address, on every plan (.plan.nospace).
 */
#include "core/plan.h"
#include "plans/common/common.h"
#include "policies/copy/copy.h"
#include "policies/immix/immix.h"
#include "policies/marksweep/marksweep.h"
#include "policies/nonmoving/nonmoving.h"
#include "testutil.h"
#include "toyvm.h"

#include "mdn_check.h"
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct fixture {
    mdn_heap *heap;
    toyvm_thread *t;
    mdn_objref small, nonmoving, large;
} fixture;

/* Rooted small, non-moving and large objects, a full collection, and the
 * allocators retired as the verifier sees them. */
static void build(fixture *f) {
    f->heap = mdn_test_heap((size_t)16 << 20, 1);
    f->t = toyvm_thread_attach(f->heap);
    size_t base = f->t->root_count;
    toyvm_push_root(f->t, toyvm_alloc(f->t, 40, 0, 48, MDN_ALLOC_DEFAULT));
    toyvm_push_root(f->t, toyvm_alloc(f->t, 41, 0, 48, MDN_ALLOC_NONMOVING));
    toyvm_push_root(f->t, toyvm_alloc(f->t, 42, 0, 20000, MDN_ALLOC_DEFAULT));
    for (int i = 0; i < 100; i++) /* garbage beside them: free cells and holes */
        toyvm_alloc(f->t, 43, 0, 48, i % 2 ? MDN_ALLOC_NONMOVING : MDN_ALLOC_DEFAULT);
    mdn_collect(f->t->mutator, MDN_GC_FULL);
    f->small = toyvm_root(f->t, base);
    f->nonmoving = toyvm_root(f->t, base + 1);
    f->large = toyvm_root(f->t, base + 2);
    plan_mutator_retire(f->heap, f->t->mutator);
}

/* The plan's own space of policy `name`, or NULL. */
static void *own_space(mdn_heap *h, const char *name) {
    for (unsigned i = 0; i < plan_desc.nspaces; i++)
        if (strcmp(plan_desc.spaces[i].policy->name, name) == 0)
            return (char *)h->plan + plan_desc.spaces[i].offset;
    return NULL;
}

typedef void plant_fn(fixture *f);
typedef struct plant_arg {
    plant_fn *plant; /* NULL: plant nothing */
} plant_arg;

/* In the child: build, plant, verify the spaces. */
static void plant_and_verify(void *arg) {
    const plant_arg *a = arg;
    fixture f;
    build(&f);
    if (a->plant)
        a->plant(&f);
    plan_verify_metadata(f.heap);
    fprintf(stderr, "verified\n");
    exit(0);
}

static void plant_immix_line(fixture *f) {
    mdn_immix_space *s = own_space(f->heap, "immix");
    mdn_address start = mdn_vm_object_start(f->small);
    ck_assert(mdn_immix_is_marked(s, start));
    uint8_t *lines = mdn_immix_line_marks_of(s, mdn_address_align_down(start, MDN_BLOCK_SIZE));
    lines[(start.value & (MDN_BLOCK_SIZE - 1)) >> MDN_LOG_LINE] = (uint8_t)(s->mark_epoch - 1);
}

static void plant_copy_forwarding(fixture *f) {
    mdn_copy_space *s = own_space(f->heap, "copy");
    mdn_objref o = f->small;
    if (!mdn_copy_contains(s, mdn_vm_object_start(o))) {
        /* A nursery (genimmix): the collection promoted the small object
         * out of it; a new one is in a block holding objects. */
        plan_mutator_init(f->heap, f->t->mutator);
        o = toyvm_alloc(f->t, 40, 0, 48, MDN_ALLOC_DEFAULT);
        plan_mutator_retire(f->heap, f->t->mutator);
    }
    ck_assert(mdn_copy_contains(s, mdn_vm_object_start(o)));
    ck_assert(mdn_forwarding_try_claim(&s->fwd, mdn_vm_object_start(o)));
}

static void plant_nonmoving_free_cell(fixture *f) {
    mdn_nonmoving_space *s = own_space(f->heap, "nonmoving");
    void *cell = NULL;
    for (int c = 0; c < MDN_NONMOVING_CLASSES && !cell; c++)
        cell = s->free[c];
    ck_assert_ptr_nonnull(cell);
    mdn_side_bit_set_atomic(&s->valid, mdn_address_from_ptr(cell));
}

static void plant_marksweep_marked_free_cell(fixture *f) {
    mdn_marksweep_space *s = own_space(f->heap, "marksweep");
    plan_verify_metadata(f->heap); /* sweeps every block: the lists exist */
    mdn_address block = mdn_address_align_down(mdn_vm_object_start(f->small), MDN_BLOCK_SIZE);
    void **cell = s->blocks[mdn_vmspace_block_index(&f->heap->vm, block)].swept_head;
    ck_assert_ptr_nonnull(cell);
    mdn_side_bit_set_atomic(&s->marks, mdn_address_from_ptr(cell));
}

static void plant_los_start(fixture *f) {
    mdn_side_bit_clear_atomic(&mdn_common_of(f->heap)->large.starts, mdn_vm_object_start(f->large));
}

static void plant_immortal_partial(fixture *f) {
    static _Alignas(MDN_BLOCK_SIZE) unsigned char outside[MDN_BLOCK_SIZE];
    mdn_immortal_space *s = &mdn_common_of(f->heap)->immortal;
    s->partial[s->npartial++] = (mdn_bump_region){(uintptr_t)outside + 64, (uintptr_t)outside + MDN_BLOCK_SIZE};
}

/* .plan.nospace: a root that points outside the heap; the collection (or,
 * on a plan that never collects, the reachability question) is fatal. */
static uint64_t not_in_heap[4];

static void plant_root_in_no_space(fixture *f) {
    mdn_objref bad = mdn_objref_from_ptr(not_in_heap);
    fprintf(stderr, "bad reference %p\n", (void *)bad.value);
    plan_mutator_init(f->heap, f->t->mutator);
    toyvm_push_root(f->t, bad);
    if (plan_can_collect)
        mdn_collect(f->t->mutator, MDN_GC_FULL);
    else
        plan_object_is_reachable(f->heap, bad);
}

static void expect_abort(plant_fn *plant, const char *what) {
    mdn_child_result r;
    plant_arg a = {plant};
    mdn_run_in_child(plant_and_verify, &a, &r);
    ck_assert_msg(r.signaled && r.signal == SIGABRT, "no abort (exited %d, status %d):\n%s", r.exited,
                  r.exit_status, r.output);
    ck_assert_msg(strstr(r.output, what) != NULL, "the report does not say '%s':\n%s", what, r.output);
}

START_TEST(clean_spaces_pass) {
    mdn_child_result r;
    plant_arg a = {NULL};
    mdn_run_in_child(plant_and_verify, &a, &r);
    ck_assert_msg(r.exited && r.exit_status == 0 && strstr(r.output, "verified"), "%s", r.output);
}
END_TEST

START_TEST(own_space_corruption_is_reported) {
    const char *name = plan_desc.spaces[_i].policy->name;
    fprintf(stderr, "%s: own space %d is %s\n", MDN_TEST_PLAN, _i, name);
    if (strcmp(name, "immix") == 0)
        expect_abort(plant_immix_line, "carries epoch");
    else if (strcmp(name, "copy") == 0)
        expect_abort(plant_copy_forwarding, "still has forwarding state");
    else if (strcmp(name, "nonmoving") == 0)
        expect_abort(plant_nonmoving_free_cell, "on a free list but holds an object");
    else if (strcmp(name, "marksweep") == 0)
        expect_abort(plant_marksweep_marked_free_cell, "granule_marked");
    else
        ck_abort_msg("no planted corruption for policy %s", name);
}
END_TEST

START_TEST(reference_in_no_space_is_fatal) {
    char what[128];
    snprintf(what, sizeof what, MDN_TEST_PLAN ": traced a reference %p that is in no space of the heap",
             (void *)not_in_heap);
    expect_abort(plant_root_in_no_space, what);
}
END_TEST

START_TEST(common_space_corruption_is_reported) {
    expect_abort(plant_los_start, "not a recorded object start");
    expect_abort(plant_immortal_partial, "is not the tail of a block");
}
END_TEST

int main(void) {
    Suite *s = suite_create("space_checks");
    TCase *tc = tcase_create(MDN_TEST_PLAN);
    tcase_add_test(tc, clean_spaces_pass);
    tcase_add_loop_test(tc, own_space_corruption_is_reported, 0, (int)plan_desc.nspaces);
    tcase_add_test(tc, common_space_corruption_is_reported);
    tcase_add_test(tc, reference_in_no_space_is_fatal);
    suite_add_tcase(s, tc);
    return mdn_run_suite(s);
}
