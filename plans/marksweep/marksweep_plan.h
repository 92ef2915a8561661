/*
 * marksweep_plan.h: the MarkSweep plan's state, for its own tests and tools
 * (a VM never includes this).
 */
#ifndef MDN_PLAN_MARKSWEEP_H
#define MDN_PLAN_MARKSWEEP_H

#include "plans/common/common.h"
#include "policies/marksweep/marksweep.h"

/* [snippet:marksweep-state] */
enum { MARKSWEEP_SPACE_MS = MDN_SPACE_PLAN };

typedef struct marksweep_plan {
    mdn_common_plan common;
    mdn_marksweep_space ms;
} marksweep_plan;
/* [/snippet] */

static inline marksweep_plan *marksweep_plan_of(mdn_heap *heap) { return (marksweep_plan *)heap->plan; }

#endif
