/*
 * The NoGC plan: allocate, never collect.
 *
 * Spaces:  only the common ones (plans/common): DEFAULT, NONMOVING and
 *          IMMORTAL → immortal, bumping in the inline fast path's region;
 *          LARGE and anything above 8 KiB → large-object space.
 * When the heap budget is used up, allocation reports out of memory. The
 * lower bound every collecting plan is measured against.
 */
#include "plans/common/common.h"

const char mdn_plan_name_string[] = "nogc";
const bool plan_can_collect = false;
const bool plan_breadth_first = false;
const int mdn_plan_nogc_linked = 1;

/* [snippet:nogc-plan] */
typedef struct nogc_plan {
    mdn_common_plan common; /* the large-object and immortal spaces */
} nogc_plan;

const mdn_plan_desc plan_desc = {
    .state_size = sizeof(nogc_plan),
    .routes = {[MDN_ALLOC_DEFAULT] = MDN_SPACE_IMMORTAL,
               [MDN_ALLOC_NONMOVING] = MDN_SPACE_IMMORTAL,
               [MDN_ALLOC_IMMORTAL] = MDN_SPACE_IMMORTAL,
               [MDN_ALLOC_LARGE] = MDN_SPACE_LARGE},
    .immortal_inline = true,
};
/* [/snippet] */

/* [snippet:nogc-trace] */
/* No space of its own: every reference is in a common space. */
static MDN_ALWAYS_INLINE mdn_objref nogc_trace_own(mdn_tracer *t, mdn_objref obj, unsigned space) {
    (void)space;
    mdn_common_no_space(t->heap, obj);
}

MDN_COMMON_TRACE(nogc_trace_own, 0)
/* [/snippet] */
