/*
 * marksweep_plan.h: the MarkSweep plan's spaces, for its own tests and
 * tools (a VM never includes this).
 */
#ifndef MDN_PLAN_MARKSWEEP_H
#define MDN_PLAN_MARKSWEEP_H

#include "policies/immortal/immortal.h"
#include "policies/los/los.h"
#include "policies/marksweep/marksweep.h"

enum { MARKSWEEP_SPACE_MS = 1, MARKSWEEP_SPACE_LARGE = 2, MARKSWEEP_SPACE_IMMORTAL = 3 };

typedef struct marksweep_plan {
    mdn_marksweep_space ms;
    mdn_los_space large;
    mdn_immortal_space immortal;
} marksweep_plan;

static inline marksweep_plan *marksweep_plan_of(mdn_heap *heap) { return (marksweep_plan *)heap->plan; }

#endif
