/*
 * The SemiSpace plan: a copying collector (Cheney 1970; parallel copying
 * on the shared worker pool).
 *
 * Spaces:  DEFAULT                → copy space (thread-local bump, moved by every collection)
 *          NONMOVING, and DEFAULT
 *          requests aligned > 8 B → non-moving size-class space (never moved, swept)
 *          IMMORTAL, LARGE, > 8 KiB → the common spaces (plans/common)
 * Objects that ask for more than granule alignment are not copied: a copy
 * could not keep an alignment it does not know, so they live in the
 * non-moving space, whose cells are aligned by size class.
 *
 * A collection: retire every allocator; flip (the copy space's blocks
 * become from-space); forward the roots and copy the transitive closure,
 * each GC worker into its own to-space blocks; release the from-space,
 * sweep the large-object and non-moving spaces. With one GC thread the
 * work queue is FIFO, so objects are copied in breadth-first order from
 * the roots, deterministically.
 *
 * Heap budget: the copy space charges each block twice (its copy reserve,
 * policies/copy/copy.h .copy.budget), so the mutators get about half the
 * budget for ordinary objects and every survivor fits in to-space. A
 * collection whose survivors need more than the reserve still completes;
 * the heap is then over budget and allocation ends in the VM's
 * out-of-memory hook.
 */
#include "plans/common/common.h"
#include "policies/copy/copy.h"
#include "policies/nonmoving/nonmoving.h"

#include <stdio.h>

const char mdn_plan_name_string[] = "semispace";
const bool plan_can_collect = true;
const bool plan_breadth_first = true;
const int mdn_plan_semispace_linked = 1;

/* docs/design/conservative.md .cons.pin */
const char *const plan_conservative_refusal =
    "it copies every default object at every collection, so an ambiguously referenced object cannot stay put";

enum { SPACE_COPY = MDN_SPACE_PLAN, SPACE_NONMOVING = MDN_SPACE_PLAN + 1 };

typedef struct semispace_plan {
    mdn_common_plan common;
    mdn_copy_space copy;
    mdn_nonmoving_space nonmoving;
} semispace_plan;

/* A mutator's copy-space buffer besides its inline region (the main one):
 * medium objects. A GC worker's to-space allocator. */
typedef struct semispace_mutator {
    mdn_bump_region overflow;
} semispace_mutator;

_Static_assert(sizeof(semispace_mutator) <= MDN_PLAN_OWN_MUTATOR_AREA, "mutator area");
_Static_assert(sizeof(mdn_copy_allocator) <= MDN_PLAN_TRACER_AREA, "tracer area");

static semispace_plan *plan_of(const mdn_heap *heap) { return heap->plan; }
static semispace_mutator *mutator_of(mdn_mutator *m) { return mdn_plan_mutator(m); }
static mdn_copy_allocator *worker_of(mdn_tracer *t) { return mdn_plan_worker(t); }

static void *ss_alloc(mdn_heap *heap, mdn_mutator *m, unsigned space, size_t bytes, size_t align,
                      mdn_alloc_kind kind) {
    (void)kind;
    semispace_plan *p = plan_of(heap);
    if (space == SPACE_NONMOVING || align > MDN_GRANULE_SIZE)
        return mdn_nonmoving_alloc(&p->nonmoving, bytes, align);
    return mdn_copy_alloc(&p->copy, mdn_mutator_bump(&m->fast), &mutator_of(m)->overflow, bytes);
}

/* Buffers start empty: the first allocation of each kind takes a block. */
static void ss_mutator_init(mdn_heap *heap, mdn_mutator *m) {
    (void)heap;
    *mdn_mutator_bump(&m->fast) = (mdn_bump_region){0, 0};
    mutator_of(m)->overflow = (mdn_bump_region){0, 0};
}

static void ss_mutator_retire(mdn_heap *heap, mdn_mutator *m) {
    mdn_copy_retire(&plan_of(heap)->copy, mdn_mutator_bump(&m->fast));
    mdn_copy_retire(&plan_of(heap)->copy, &mutator_of(m)->overflow);
}

static void ss_worker_prepare(mdn_heap *heap, mdn_tracer *t) {
    (void)heap;
    mdn_copy_allocator_init(worker_of(t));
}

static void ss_worker_release(mdn_heap *heap, mdn_tracer *t) { mdn_copy_allocator_retire(&plan_of(heap)->copy, worker_of(t)); }

static void ss_released(mdn_heap *heap) {
    semispace_plan *p = plan_of(heap);
    mdn_vmspace *vs = &heap->vm;
    if (heap->options.verbose >= 2)
        fprintf(stderr, "midden:   semispace: %zu from-space blocks released, survivors in %zu blocks\n",
                p->copy.from_blocks, p->copy.to_blocks);
    if (heap->options.verbose >= 1 && mdn_budget_used(vs) > vs->budget)
        fprintf(stderr,
                "midden: semispace: survivors need %zu bytes of copy space with their copy reserve; the heap is "
                "%zu bytes over its %zu-byte budget, so allocation fails until enough objects die\n",
                2 * p->copy.to_blocks * (size_t)MDN_BLOCK_SIZE, mdn_budget_used(vs) - vs->budget, vs->budget);
}

/* Copy-space objects move at every collection; the others never do. */
static bool ss_pin(mdn_heap *heap, mdn_objref obj, unsigned space) {
    (void)heap, (void)obj;
    return space != SPACE_COPY;
}

static const mdn_plan_space spaces[] = {{&mdn_copy_policy, offsetof(semispace_plan, copy)},
                                        {&mdn_nonmoving_policy, offsetof(semispace_plan, nonmoving)}};

const mdn_plan_desc plan_desc = {
    .state_size = sizeof(semispace_plan),
    .spaces = spaces,
    .nspaces = 2,
    .routes = {[MDN_ALLOC_DEFAULT] = SPACE_COPY,
               [MDN_ALLOC_NONMOVING] = SPACE_NONMOVING,
               [MDN_ALLOC_IMMORTAL] = MDN_SPACE_IMMORTAL,
               [MDN_ALLOC_LARGE] = MDN_SPACE_LARGE},
    .alloc = ss_alloc,
    .mutator_init = ss_mutator_init,
    .mutator_retire = ss_mutator_retire,
    .worker_prepare = ss_worker_prepare,
    .worker_release = ss_worker_release,
    .released = ss_released,
    .pin = ss_pin,
};

static MDN_ALWAYS_INLINE mdn_objref semispace_trace_own(mdn_tracer *t, mdn_objref obj, unsigned space) {
    semispace_plan *p = plan_of(t->heap);
    mdn_address start = mdn_vm_object_start(obj);
    if (MDN_LIKELY(space == SPACE_COPY))
        return mdn_copy_trace_object(&p->copy, worker_of(t), t, obj, start);
    return mdn_nonmoving_trace_object(&p->nonmoving, t, obj, start);
}

MDN_COMMON_TRACE(semispace_trace_own, 2)
