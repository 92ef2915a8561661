/*
 * common.c: core/plan.h for every plan, from its plan_desc (common.h;
 * docs/design/policies.md .plan.common).
 */
#include "plans/common/common.h"

#include "core/verify.h"

#include <stdlib.h>

unsigned mdn_plan_create_fault;

/* The common part of a mutator's plan area: the immortal region, then the
 * modified-object buffer of a generational plan. */
typedef struct common_mutator {
    mdn_bump_region immortal;
    mdn_gen_buffer buffer;
} common_mutator;
_Static_assert(sizeof(common_mutator) <= MDN_COMMON_MUTATOR_AREA, "the common mutator area holds a region and a buffer");

static common_mutator *common_mutator_of(mdn_mutator *m) { return (common_mutator *)(void *)m->plan; }

/* A space of the heap: its policy and its state. */
typedef struct space_ref {
    const mdn_policy *policy;
    void *space;
} space_ref;

/* .plan.ids: the common spaces, then the plan's own. */
static unsigned nspaces(void) { return MDN_SPACE_PLAN - 1 + plan_desc.nspaces; }

static space_ref space_by_index(const mdn_heap *heap, unsigned i) {
    mdn_common_plan *c = mdn_common_of(heap);
    if (i == 0)
        return (space_ref){&mdn_los_policy, &c->large};
    if (i == 1)
        return (space_ref){&mdn_immortal_policy, &c->immortal};
    const mdn_plan_space *ps = &plan_desc.spaces[i - (MDN_SPACE_PLAN - 1)];
    return (space_ref){ps->policy, (char *)heap->plan + ps->offset};
}

/* The space with id `id`; policy NULL for an id of no space. */
static space_ref space_by_id(const mdn_heap *heap, unsigned id) {
    if (id == MDN_SPACE_NONE || id > nspaces())
        return (space_ref){NULL, NULL};
    return space_by_index(heap, id - 1);
}

static bool fault_at(unsigned step) { return mdn_plan_create_fault == step; }

/* .plan.cleanup: the one path for a failed creation, and for destruction:
 * destroy the first `n` spaces in reverse order of creation (a policy's
 * destroy accepts a space whose init failed), then the state. */
static void destroy_spaces(mdn_heap *heap, unsigned n) {
    while (n-- > 0) {
        space_ref r = space_by_index(heap, n);
        r.policy->destroy(r.space);
    }
    free(heap->plan);
    heap->plan = NULL;
}

bool plan_create(mdn_heap *heap, mdn_error *err) {
    MDN_CHECK(plan_desc.nspaces <= MDN_PLAN_MAX_SPACES && plan_desc.state_size >= sizeof(mdn_common_plan));
    heap->plan = fault_at(1) ? NULL : calloc(1, plan_desc.state_size);
    if (!heap->plan) {
        mdn_error_set(err, MDN_ERR_MEMORY, "%s: cannot allocate the plan's state", mdn_plan_name_string);
        return false;
    }
    for (unsigned i = 0; i < nspaces(); i++) {
        space_ref r = space_by_index(heap, i);
        if (!r.policy->init(r.space, heap, i + 1) || fault_at(i + 2)) {
            mdn_error_set(err, MDN_ERR_MEMORY, "%s: cannot set up the metadata of space %u (%s)",
                          mdn_plan_name_string, i + 1, r.policy->name);
            destroy_spaces(heap, i + 1);
            return false;
        }
    }
    if (plan_desc.generational) {
        mdn_common_plan *c = mdn_common_of(heap);
        if (!mdn_gen_init(&c->gen, heap)) {
            mdn_error_set(err, MDN_ERR_MEMORY, "%s: cannot set up the unlogged bits of the write barrier",
                          mdn_plan_name_string);
            destroy_spaces(heap, nspaces());
            return false;
        }
        /* .gen.sticky: the common spaces keep their marks across minor
         * collections and set the unlogged bits of what they mark. */
        c->large.unlogged = &c->gen.unlogged;
        c->immortal.unlogged = &c->gen.unlogged;
    }
    if (plan_desc.created)
        plan_desc.created(heap);
    return true;
}

void plan_destroy(mdn_heap *heap) {
    if (plan_desc.generational)
        mdn_gen_destroy(&mdn_common_of(heap)->gen);
    destroy_spaces(heap, nspaces());
}

static mdn_bump_region *immortal_region(mdn_mutator *m) {
    return plan_desc.immortal_inline ? mdn_mutator_bump(&m->fast) : &common_mutator_of(m)->immortal;
}

void plan_mutator_init(mdn_heap *heap, mdn_mutator *m) {
    *immortal_region(m) = (mdn_bump_region){0, 0};
    if (plan_desc.generational)
        mdn_gen_mutator_init(&mdn_common_of(heap)->gen, m, &common_mutator_of(m)->buffer);
    if (plan_desc.mutator_init)
        plan_desc.mutator_init(heap, m);
}

void plan_mutator_retire(mdn_heap *heap, mdn_mutator *m) {
    if (plan_desc.mutator_retire)
        plan_desc.mutator_retire(heap, m);
    mdn_immortal_retire(&mdn_common_of(heap)->immortal, immortal_region(m));
    /* .gen.remset: the buffer goes to the remembered set before the
     * collection looks at it. */
    if (plan_desc.generational)
        mdn_gen_flush(&mdn_common_of(heap)->gen, &common_mutator_of(m)->buffer);
}

void *mdn_common_alloc(mdn_heap *heap, mdn_mutator *m, unsigned space, size_t bytes, size_t align,
                       mdn_alloc_kind kind) {
    mdn_common_plan *c = mdn_common_of(heap);
    switch (space) {
    case MDN_SPACE_LARGE:
        return mdn_los_alloc(&c->large, bytes);
    case MDN_SPACE_IMMORTAL:
        return mdn_immortal_alloc(&c->immortal, immortal_region(m), bytes, align);
    default:
        MDN_CHECK(space - MDN_SPACE_PLAN < plan_desc.nspaces && plan_desc.alloc != NULL);
        return plan_desc.alloc(heap, m, space, bytes, align, kind);
    }
}

/* .plan.routes */
void *plan_alloc(mdn_heap *heap, mdn_mutator *m, size_t bytes, size_t align, mdn_alloc_kind kind) {
    MDN_CHECK((unsigned)kind < MDN_ALLOC_KINDS);
    unsigned space = bytes > MDN_LARGE_OBJECT_THRESHOLD ? MDN_SPACE_LARGE : plan_desc.routes[kind];
    return mdn_common_alloc(heap, m, space, bytes, align, kind);
}

/* .policy.check: in debug builds every space checks its structure where a
 * collection starts (before prepare) and ends (after release). */
static void check_spaces(const mdn_heap *heap) {
#ifdef MDN_DEBUG
    for (unsigned i = 0; i < nspaces(); i++) {
        space_ref r = space_by_index(heap, i);
        r.policy->check(r.space);
    }
#else
    (void)heap;
#endif
}

/* Own spaces first, so a plan's main space prepares and releases before the
 * common ones, as the plans did before the common layer. */
static space_ref space_in_phase_order(const mdn_heap *heap, unsigned k) {
    unsigned own = plan_desc.nspaces;
    return space_by_index(heap, k < own ? k + (MDN_SPACE_PLAN - 1) : k - own);
}

/* .gen.policy */
const char *plan_partial_collection_name(void) { return plan_desc.generational ? "minor" : "default"; }

bool plan_collection_full(mdn_heap *heap, bool requested) {
    if (!plan_desc.generational)
        return requested;
    mdn_common_plan *c = mdn_common_of(heap);
    bool full = mdn_gen_collection_full(&c->gen, heap, requested);
    heap->current_minor = !full;
    c->large.minor = !full;
    c->immortal.minor = !full;
    return full;
}

void plan_scan_roots(mdn_heap *heap, mdn_tracer *t) {
    if (plan_desc.generational)
        mdn_gen_scan_remembered(&mdn_common_of(heap)->gen, heap, t);
}

void plan_object_log(mdn_heap *heap, mdn_mutator *m, mdn_objref obj) {
    if (!plan_desc.generational)
        mdn_fatal("write_barrier: plan %s has no write barrier, but its slow path was called for object %p "
                  "(a program compiled with another plan's <midden/plan.h>?)",
                  mdn_plan_name_string, (void *)obj.value);
    mdn_gen_log(&mdn_common_of(heap)->gen, &common_mutator_of(m)->buffer, obj);
}

/* .gen.verify: old means marked by an earlier collection (the marks are
 * sticky until the next full collection prepares). */
static bool object_is_old(mdn_heap *heap, mdn_objref obj) {
    mdn_common_plan *c = mdn_common_of(heap);
    unsigned space = mdn_vmspace_space_of(&heap->vm, mdn_vm_object_start(obj));
    if (space == MDN_SPACE_LARGE)
        return mdn_los_is_marked(&c->large, obj);
    if (space == MDN_SPACE_IMMORTAL)
        return mdn_immortal_is_marked(&c->immortal, obj);
    return mdn_common_is_own(space, plan_desc.nspaces) && plan_desc.is_old(heap, obj, space);
}

static bool object_is_remembered(mdn_heap *heap, mdn_objref obj) {
    return !mdn_gen_is_unlogged(mdn_common_unlogged(heap), obj);
}

void plan_prepare(mdn_heap *heap, bool full) {
    check_spaces(heap);
    if (plan_desc.generational && mdn_common_of(heap)->gen.minor && heap->options.verify)
        mdn_verify_barriers(heap, object_is_old, object_is_remembered);
    if (plan_desc.prepare)
        plan_desc.prepare(heap, full);
    for (unsigned k = 0; k < nspaces(); k++) {
        space_ref r = space_in_phase_order(heap, k);
        r.policy->prepare(r.space, heap, full);
    }
}

void plan_worker_prepare(mdn_heap *heap, mdn_tracer *t) {
    if (plan_desc.worker_prepare)
        plan_desc.worker_prepare(heap, t);
}

void plan_worker_release(mdn_heap *heap, mdn_tracer *t) {
    if (plan_desc.worker_release)
        plan_desc.worker_release(heap, t);
}

size_t plan_release(mdn_heap *heap) {
    size_t live = 0;
    for (unsigned k = 0; k < nspaces(); k++) {
        space_ref r = space_in_phase_order(heap, k);
        live += r.policy->release(r.space, heap);
    }
    if (plan_desc.generational)
        mdn_gen_released(&mdn_common_of(heap)->gen, heap);
    if (plan_desc.released)
        plan_desc.released(heap);
    check_spaces(heap);
    return live;
}

void mdn_common_no_space(const mdn_heap *heap, mdn_objref obj) {
    (void)heap;
    mdn_fatal("%s: traced a reference %p that is in no space of the heap", mdn_plan_name_string,
              (void *)obj.value);
}

bool plan_pin_object(mdn_heap *heap, mdn_objref obj) {
    unsigned space = mdn_vmspace_space_of(&heap->vm, mdn_vm_object_start(obj));
    if (space >= MDN_SPACE_PLAN && plan_desc.pin)
        return plan_desc.pin(heap, obj, space);
    return true; /* the common spaces never move objects */
}

/* .plan.is-live: one answer per space, from its policy. */
static space_ref space_of_object(const mdn_heap *heap, mdn_objref obj) {
    mdn_address start = mdn_vm_object_start(obj);
    if (!mdn_address_is_aligned(start, MDN_MIN_ALIGN))
        return (space_ref){NULL, NULL};
    return space_by_id(heap, mdn_vmspace_space_of(&heap->vm, start));
}

const mdn_side_metadata *plan_space_marks(const mdn_heap *heap, unsigned space) {
    space_ref r = space_by_id(heap, space);
    return r.policy && r.policy->marks ? r.policy->marks(r.space) : NULL;
}

bool plan_is_live_object(mdn_heap *heap, mdn_objref obj) {
    space_ref r = space_of_object(heap, obj);
    return r.policy && r.policy->is_live(r.space, obj);
}

/* .policy.reached: reached by the collection in progress (the weak phase). */
bool plan_object_is_reachable(mdn_heap *heap, mdn_objref obj) {
    space_ref r = space_of_object(heap, obj);
    if (!r.policy)
        mdn_common_no_space(heap, obj);
    return r.policy->is_reached(r.space, obj);
}

mdn_objref plan_object_forwarded(mdn_heap *heap, mdn_objref obj) {
    space_ref r = space_of_object(heap, obj);
    if (!r.policy)
        mdn_common_no_space(heap, obj);
    return r.policy->forwarded(r.space, obj);
}

/* .verify.metadata: every space checks its structure (.policy.check), then
 * verifies its metadata against its objects. */
void plan_verify_metadata(mdn_heap *heap) {
    for (unsigned i = 0; i < nspaces(); i++) {
        space_ref r = space_by_index(heap, i);
        r.policy->check(r.space);
        r.policy->verify(r.space);
    }
}

size_t mdn_common_nursery_bytes(const mdn_heap *heap) {
    if (__atomic_load_n(&heap->collections_disabled, __ATOMIC_RELAXED))
        return 0;
    size_t bytes = heap->options.nursery;
    if (!bytes)
        bytes = mdn_budget_limit(&heap->vm) / 100 * heap->options.nursery_percent;
    return bytes < MDN_BLOCK_SIZE ? MDN_BLOCK_SIZE : bytes;
}
