/*
 * immix_plan.h: what the Immix plan exposes beyond core/plan.h, for its own
 * tests and tools: the Immix space of a heap, to read block statistics.
 */
#ifndef MDN_PLAN_IMMIX_H
#define MDN_PLAN_IMMIX_H

#include "policies/immix/immix.h"

#include <midden/midden.h>

/* The Immix space of a heap created by the immix plan. */
mdn_immix_space *mdn_immix_plan_space(mdn_heap *heap);

#endif
