/*
 * common.h: the layer every plan is built on (docs/design/policies.md
 * .plan.common). It owns the spaces every plan has — the large-object
 * space and the immortal space, at fixed space ids — and defines every
 * function of core/plan.h from a description the plan gives of itself:
 * its own spaces (each with its policy's verbs, core/policy.h), its
 * allocation routes, and its phase hooks.
 *
 * A plan file:
 *   - defines its state struct with `mdn_common_plan common;` first, then
 *     its own spaces;
 *   - defines `const mdn_plan_desc plan_desc` (.plan.desc);
 *   - defines a static inline function tracing a reference into one of its
 *     own spaces, `mdn_objref fn(mdn_tracer *, mdn_objref, unsigned space)`,
 *     and invokes MDN_COMMON_TRACE(fn, nspaces) once, which dispatches on
 *     the space id from the chunk map and defines mdn_trace_slot with
 *     MDN_DEFINE_TRACE_SLOT (.plan.dispatch).
 */
#ifndef MDN_PLANS_COMMON_H
#define MDN_PLANS_COMMON_H

#include "core/plan.h"
#include "core/policy.h"
#include "core/trace.h"
#include "policies/immortal/immortal.h"
#include "plans/common/gen.h"
#include "policies/los/los.h"

#include <stddef.h>

/* .plan.ids: fixed space ids; a plan's own spaces follow, in the order of
 * its plan_desc.spaces. */
enum { MDN_SPACE_LARGE = 1, MDN_SPACE_IMMORTAL = 2, MDN_SPACE_PLAN = 3 };
#define MDN_PLAN_MAX_SPACES (MDN_SPACE_MAX - MDN_SPACE_PLAN + 1)
#define MDN_ALLOC_KINDS 4

/* The first member of every plan's state. */
typedef struct mdn_common_plan {
    mdn_los_space large;
    mdn_immortal_space immortal;
    mdn_gen gen; /* used when plan_desc.generational */
} mdn_common_plan;

/* A space of the plan's own: its policy and where it lives in the plan's
 * state (offsetof). Its id is MDN_SPACE_PLAN + its index. */
typedef struct mdn_plan_space {
    const mdn_policy *policy;
    size_t offset;
} mdn_plan_space;

/* .plan.desc: what a plan says about itself. Hooks may be NULL. */
typedef struct mdn_plan_desc {
    size_t state_size;                    /* sizeof the plan's state */
    const mdn_plan_space *spaces;
    unsigned nspaces;
    /* .plan.routes: the space id serving each mdn_alloc_kind up to
     * MDN_LARGE_OBJECT_THRESHOLD bytes (larger requests go to the
     * large-object space on every plan). */
    uint8_t routes[MDN_ALLOC_KINDS];
    /* The immortal space bumps in the inline fast path's region (a plan
     * whose default route is immortal: NoGC). */
    bool immortal_inline;
    /* Serve a request routed to one of the plan's own spaces; may pass it
     * on with mdn_common_alloc. Needed when a route names an own space. */
    void *(*alloc)(mdn_heap *heap, mdn_mutator *m, unsigned space, size_t bytes, size_t align, mdn_alloc_kind kind);
    /* Thread-local allocators of the plan's own spaces (core/plan.h). */
    void (*mutator_init)(mdn_heap *heap, mdn_mutator *m);
    void (*mutator_retire)(mdn_heap *heap, mdn_mutator *m);
    void (*worker_prepare)(mdn_heap *heap, mdn_tracer *t);
    void (*worker_release)(mdn_heap *heap, mdn_tracer *t);
    /* After every space's release (reports, with the verbose option). */
    void (*released)(mdn_heap *heap);
    /* Pin an object of an own space; NULL: nothing of the plan moves. */
    bool (*pin)(mdn_heap *heap, mdn_objref obj, unsigned space);
    /* Generational plans (docs/design/generational.md): the layer keeps the
     * unlogged bits, the buffers and the remembered set, decides minor or
     * full (.gen.policy) and gives the common spaces sticky marks
     * (.gen.sticky); the plan's own spaces must keep sticky marks too and
     * set the unlogged bit of every object they mark (.gen.unlog). */
    bool generational;
    /* After every space was created (the plan wires its own spaces). */
    void (*created)(mdn_heap *heap);
    /* At the start of plan_prepare, before the spaces' prepare. */
    void (*prepare)(mdn_heap *heap, bool full);
    /* Generational: is `obj` of own space `space` old (marked by an earlier
     * collection)? For the barrier verifier (.gen.verify). */
    bool (*is_old)(mdn_heap *heap, mdn_objref obj, unsigned space);
} mdn_plan_desc;

extern const mdn_plan_desc plan_desc;

/* .heap.plan-area: the common layer's part of a mutator's plan area (the
 * immortal region, then a generational plan's modified-object buffer)
 * comes first; the plan's own part follows. */
#define MDN_COMMON_MUTATOR_AREA 576
#define MDN_PLAN_OWN_MUTATOR_AREA (MDN_PLAN_MUTATOR_AREA - MDN_COMMON_MUTATOR_AREA)
static inline void *mdn_plan_mutator(mdn_mutator *m) { return m->plan + MDN_COMMON_MUTATOR_AREA; }
static inline void *mdn_plan_worker(mdn_tracer *t) { return t->plan; }

static inline mdn_common_plan *mdn_common_of(const mdn_heap *heap) { return (mdn_common_plan *)heap->plan; }

/* A generational plan's unlogged bits (.gen.barrier). */
static inline mdn_side_metadata *mdn_common_unlogged(const mdn_heap *heap) { return &mdn_common_of(heap)->gen.unlogged; }

/* docs/design/generational.md .gen.nursery: the bytes a generational
 * plan's mutators may allocate young between two collections: the
 * `nursery` option, else `nursery-percent` of the heap limit, at least a
 * block; 0 (no bound) while collections are disabled (the heap grows
 * instead, .sizing.disabled). */
size_t mdn_common_nursery_bytes(const mdn_heap *heap);

/* Serve a request from space `space` (any space of the plan). */
void *mdn_common_alloc(mdn_heap *heap, mdn_mutator *m, unsigned space, size_t bytes, size_t align,
                       mdn_alloc_kind kind);

/* .plan.nospace: a traced reference in no space of the heap; fatal, naming
 * the address. */
MDN_NORETURN void mdn_common_no_space(const mdn_heap *heap, mdn_objref obj);

/* Test hook (.plan.create-fault): when non-zero, plan creation fails at
 * that step (1: the plan's state; 2, 3, ...: the spaces in order of
 * creation, after the space was set up), as if memory had run out. */
extern unsigned mdn_plan_create_fault;

/* Is `space` one of the plan's `n` own spaces? */
static inline bool mdn_common_is_own(unsigned space, unsigned n) { return space - MDN_SPACE_PLAN < n; }

/* Dispatch a traced reference by the space id of its chunk: the plan's own
 * spaces first (`own(t, obj, space)`, for MDN_SPACE_PLAN ≤ space <
 * MDN_SPACE_PLAN + nspaces), then the common ones. The ambiguous scan
 * enters after the lookup when it already read the id
 * (docs/design/conservative.md .cons.find-space). */
#define MDN_COMMON_TRACE(own, nspaces)                                                                                 \
    static MDN_ALWAYS_INLINE mdn_objref mdn_common_trace_in_space(mdn_tracer *t, mdn_objref obj, unsigned space_) {    \
        if (MDN_LIKELY(mdn_common_is_own(space_, (nspaces))))                                                          \
            return own(t, obj, space_);                                                                                \
        mdn_common_plan *c_ = mdn_common_of(t->heap);                                                                  \
        if (space_ == MDN_SPACE_LARGE)                                                                                 \
            return mdn_los_trace_object(&c_->large, t, obj);                                                           \
        if (MDN_LIKELY(space_ == MDN_SPACE_IMMORTAL))                                                                  \
            return mdn_immortal_trace_object(&c_->immortal, t, obj);                                                   \
        mdn_common_no_space(t->heap, obj);                                                                             \
    }                                                                                                                  \
    static MDN_ALWAYS_INLINE mdn_objref mdn_common_trace_object(mdn_tracer *t, mdn_objref obj) {                       \
        return mdn_common_trace_in_space(t, obj, mdn_vmspace_space_of(&t->heap->vm, mdn_objref_to_address(obj)));      \
    }                                                                                                                  \
    MDN_DEFINE_TRACE_SLOT(mdn_common_trace_object, mdn_common_trace_in_space)

#endif
