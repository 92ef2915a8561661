/*
 * race.h: test-only yield points in lock-free code
 * (docs/design/reliability.md .race.hooks).
 *
 * A race point is a place where another thread's interleaving decides
 * whether an algorithm is right: between reading a lock-free stack's link
 * and the compare-and-swap that uses it, or between claiming an object for
 * copying and publishing its copy. Tests install a hook there to yield,
 * sleep or run the conflicting operation themselves, so a fault that needs
 * a rare interleaving shows up every time. With no hook installed a race
 * point costs one relaxed load and a branch that is never taken.
 */
#ifndef MDN_CORE_RACE_H
#define MDN_CORE_RACE_H

#include "core/util.h"

/* The argument says where: the block pool, or the object being forwarded. */
typedef void (*mdn_race_hook)(void *where);

/* Between loading the free stack's top link and the CAS (core/block_pool.c). */
extern mdn_race_hook mdn_race_block_pop;
/* After this worker won the claim on an object and before it publishes the
 * copy (policies/copy, policies/immix evacuation). */
extern mdn_race_hook mdn_race_forward_claimed;

#define MDN_RACE_POINT(hook, where)                                                                                  \
    do {                                                                                                             \
        mdn_race_hook race_hook_ = __atomic_load_n(&(hook), __ATOMIC_RELAXED);                                       \
        if (MDN_UNLIKELY(race_hook_ != NULL))                                                                        \
            race_hook_(where);                                                                                       \
    } while (0)

/* Install or remove (NULL) a hook; tests only. */
static inline void mdn_race_set(mdn_race_hook *hook, mdn_race_hook fn) { __atomic_store_n(hook, fn, __ATOMIC_RELEASE); }

#endif
