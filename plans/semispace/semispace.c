/*
 * The SemiSpace plan: a copying collector (Cheney 1970; parallel copying
 * on the shared worker pool).
 *
 * Spaces:  DEFAULT                → copy space (thread-local bump, moved by every collection)
 *          LARGE, anything > 8 KiB → large-object space (never moved, swept)
 *          IMMORTAL               → immortal space (never moved, never reclaimed)
 *          NONMOVING, and DEFAULT
 *          requests aligned > 8 B → non-moving size-class space (never moved, swept)
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
#include "core/plan.h"
#include "core/trace.h"
#include "policies/copy/copy.h"
#include "policies/immortal/immortal.h"
#include "policies/los/los.h"
#include "policies/nonmoving/nonmoving.h"

#include <stdio.h>
#include <stdlib.h>

const char mdn_plan_name_string[] = "semispace";
const bool plan_can_collect = true;
const bool plan_breadth_first = true;
const int mdn_plan_semispace_linked = 1;

enum { SPACE_COPY = 1, SPACE_LARGE = 2, SPACE_IMMORTAL = 3, SPACE_NONMOVING = 4 };

typedef struct semispace_plan {
    mdn_copy_space copy;
    mdn_los_space large;
    mdn_immortal_space immortal;
    mdn_nonmoving_space nonmoving;
} semispace_plan;

/* A mutator's buffers besides its inline-path region (the copy space's
 * main region). */
typedef struct semispace_mutator {
    mdn_bump_region overflow; /* medium objects of the copy space */
    mdn_bump_region immortal;
} semispace_mutator;

/* A GC worker's to-space allocator. */
typedef struct semispace_worker {
    mdn_copy_allocator copy;
} semispace_worker;

_Static_assert(sizeof(semispace_mutator) <= MDN_PLAN_MUTATOR_AREA, "mutator area");
_Static_assert(sizeof(semispace_worker) <= MDN_PLAN_TRACER_AREA, "tracer area");

static semispace_plan *plan_of(const mdn_heap *heap) { return heap->plan; }
static semispace_mutator *mutator_of(mdn_mutator *m) { return (semispace_mutator *)(void *)m->plan; }
static semispace_worker *worker_of(mdn_tracer *t) { return (semispace_worker *)(void *)t->plan; }

bool plan_create(mdn_heap *heap, mdn_error *err) {
    semispace_plan *p = calloc(1, sizeof *p);
    bool ok = p != NULL;
    ok = ok && mdn_copy_init(&p->copy, &heap->vm, SPACE_COPY, &heap->stats);
    ok = ok && mdn_los_init(&p->large, &heap->vm, SPACE_LARGE, &heap->stats);
    ok = ok && mdn_immortal_init(&p->immortal, &heap->vm, SPACE_IMMORTAL, &heap->stats);
    ok = ok && mdn_nonmoving_init(&p->nonmoving, &heap->vm, SPACE_NONMOVING, &heap->stats);
    if (!ok) {
        free(p);
        mdn_error_set(err, MDN_ERR_MEMORY, "semispace: cannot set up the spaces' metadata");
        return false;
    }
    heap->plan = p;
    return true;
}

void plan_destroy(mdn_heap *heap) {
    semispace_plan *p = plan_of(heap);
    mdn_nonmoving_destroy(&p->nonmoving);
    mdn_immortal_destroy(&p->immortal);
    mdn_los_destroy(&p->large);
    mdn_copy_destroy(&p->copy);
    free(p);
    heap->plan = NULL;
}

/* Buffers start empty: the first allocation of each kind takes a block. */
void plan_mutator_init(mdn_heap *heap, mdn_mutator *m) {
    (void)heap;
    semispace_mutator *sm = mutator_of(m);
    *mdn_mutator_bump(&m->fast) = (mdn_bump_region){0, 0};
    sm->overflow = (mdn_bump_region){0, 0};
    sm->immortal = (mdn_bump_region){0, 0};
}

void plan_mutator_retire(mdn_heap *heap, mdn_mutator *m) {
    semispace_plan *p = plan_of(heap);
    semispace_mutator *sm = mutator_of(m);
    mdn_copy_retire(&p->copy, mdn_mutator_bump(&m->fast));
    mdn_copy_retire(&p->copy, &sm->overflow);
    mdn_immortal_retire(&p->immortal, &sm->immortal);
}

void *plan_alloc(mdn_heap *heap, mdn_mutator *m, size_t bytes, size_t align, mdn_alloc_kind kind) {
    semispace_plan *p = plan_of(heap);
    if (kind == MDN_ALLOC_LARGE || bytes > MDN_LARGE_OBJECT_THRESHOLD)
        return mdn_los_alloc(&p->large, bytes);
    switch (kind) {
    case MDN_ALLOC_IMMORTAL:
        return mdn_immortal_alloc(&p->immortal, &mutator_of(m)->immortal, bytes, align);
    case MDN_ALLOC_NONMOVING:
        return mdn_nonmoving_alloc(&p->nonmoving, bytes, align);
    default:
        if (align > MDN_GRANULE_SIZE)
            return mdn_nonmoving_alloc(&p->nonmoving, bytes, align);
        return mdn_copy_alloc(&p->copy, mdn_mutator_bump(&m->fast), &mutator_of(m)->overflow, bytes);
    }
}

void plan_prepare(mdn_heap *heap, bool full) {
    (void)full; /* every collection is full: the whole copy space is evacuated */
    semispace_plan *p = plan_of(heap);
    mdn_copy_prepare(&p->copy, heap->nworkers);
    mdn_los_prepare(&p->large);
    mdn_immortal_prepare(&p->immortal);
}

void plan_worker_prepare(mdn_heap *heap, mdn_tracer *t) {
    (void)heap;
    mdn_copy_allocator_init(&worker_of(t)->copy);
}

void plan_worker_release(mdn_heap *heap, mdn_tracer *t) {
    mdn_copy_allocator_retire(&plan_of(heap)->copy, &worker_of(t)->copy);
}

size_t plan_release(mdn_heap *heap) {
    semispace_plan *p = plan_of(heap);
    size_t from_blocks = p->copy.from_blocks;
    size_t to_bytes = mdn_copy_release(&p->copy, heap->options.poison);
    size_t large = mdn_los_sweep(&p->large);
    size_t nonmoving = mdn_nonmoving_sweep(&p->nonmoving);
    size_t immortal = mdn_immortal_used_bytes(&p->immortal);
    uint64_t copied = 0;
    for (unsigned i = 0; i < heap->nworkers; i++)
        copied += heap->tracers[i].bytes_copied;
    mdn_vmspace *vs = &heap->vm;
    if (heap->options.verbose >= 2)
        fprintf(stderr,
                "midden:   semispace: %zu from-space blocks released, survivors in %zu blocks; large %zu, "
                "non-moving %zu, immortal %zu bytes\n",
                from_blocks, p->copy.to_blocks, large, nonmoving, immortal);
    if (heap->options.verbose >= 1 && mdn_budget_used(vs) > vs->budget)
        fprintf(stderr,
                "midden: semispace: survivors need %zu bytes of copy space with their copy reserve; the heap is "
                "%zu bytes over its %zu-byte budget, so allocation fails until enough objects die\n",
                2 * to_bytes, mdn_budget_used(vs) - vs->budget, vs->budget);
    return (size_t)copied + large + nonmoving + immortal;
}

static inline mdn_objref semispace_trace_object(mdn_tracer *t, mdn_objref obj) {
    semispace_plan *p = plan_of(t->heap);
    mdn_address start = mdn_vm_object_start(obj);
    unsigned space = mdn_vmspace_space_of(&t->heap->vm, start);
    if (MDN_LIKELY(space == SPACE_COPY))
        return mdn_copy_trace_object(&p->copy, &worker_of(t)->copy, t, obj, start);
    switch (space) {
    case SPACE_LARGE:
        return mdn_los_trace_object(&p->large, t, obj);
    case SPACE_NONMOVING:
        return mdn_nonmoving_trace_object(&p->nonmoving, t, obj, start);
    case SPACE_IMMORTAL:
        return mdn_immortal_trace_object(&p->immortal, t, obj);
    default:
        mdn_fatal("semispace: traced a reference %p outside every space of the heap", (void *)obj.value);
    }
}

MDN_DEFINE_TRACE_SLOT(semispace_trace_object)

bool plan_pin_object(mdn_heap *heap, mdn_objref obj) {
    /* Copy-space objects move at every collection; the others never do. */
    return !mdn_copy_contains(&plan_of(heap)->copy, mdn_vm_object_start(obj));
}

bool plan_is_live_object(mdn_heap *heap, mdn_objref obj) {
    semispace_plan *p = plan_of(heap);
    mdn_address start = mdn_vm_object_start(obj);
    switch (mdn_vmspace_space_of(&heap->vm, start)) {
    case SPACE_COPY:
        return mdn_copy_is_live_block(&p->copy, start) && mdn_address_is_aligned(start, MDN_MIN_ALIGN);
    case SPACE_LARGE:
        return mdn_los_is_object_start(&p->large, start);
    case SPACE_NONMOVING:
        return mdn_nonmoving_is_object_start(&p->nonmoving, start);
    case SPACE_IMMORTAL:
        return mdn_address_is_aligned(start, MDN_MIN_ALIGN);
    default:
        return false;
    }
}

/* .verify.metadata: the spaces SemiSpace shares with every plan. */
void plan_verify_metadata(mdn_heap *heap) {
    semispace_plan *p = plan_of(heap);
    mdn_los_verify(&p->large);
    mdn_immortal_verify(&p->immortal);
}

/* The weak phase's queries (docs/design/weak.md .weak.queries). */
bool plan_object_is_reachable(mdn_heap *heap, mdn_objref obj) {
    semispace_plan *p = plan_of(heap);
    mdn_address start = mdn_vm_object_start(obj);
    switch (mdn_vmspace_space_of(&heap->vm, start)) {
    case SPACE_COPY:
        return !mdn_copy_in_from_space(&p->copy, start) || mdn_forwarding_state(&p->copy.fwd, start) == MDN_FWD_DONE;
    case SPACE_LARGE:
        return mdn_los_is_marked(&p->large, obj);
    case SPACE_NONMOVING:
        return mdn_side_bit_test(&p->nonmoving.marks, start);
    default:
        return true; /* immortal */
    }
}

mdn_objref plan_object_forwarded(mdn_heap *heap, mdn_objref obj) {
    semispace_plan *p = plan_of(heap);
    mdn_address start = mdn_vm_object_start(obj);
    if (mdn_copy_contains(&p->copy, start) && mdn_copy_in_from_space(&p->copy, start) &&
        mdn_forwarding_state(&p->copy.fwd, start) == MDN_FWD_DONE)
        return mdn_forwarding_pointer(start);
    return obj;
}
