/*
 * The StickyImmix plan: Immix with generations in place, by sticky mark
 * bits (Demmers et al., POPL 1990; the StickyImmix of MMTk), and an
 * object-remembering write barrier (docs/design/generational.md).
 *
 * Spaces, routes, allocation and full collections are the Immix plan's
 * (plans/immix/immix.c, compiled here again with IMMIX_PLAN_STICKY). What
 * differs:
 *  - .gen.sticky: a minor collection keeps the line-mark epoch and every
 *    object mark: an object marked by an earlier collection is old, and is
 *    neither traced through nor reclaimed. It traces from the roots and the
 *    remembered objects (.gen.remset), marks the young objects it reaches,
 *    and the sweep reclaims the lines and large objects of the young ones
 *    it did not reach. Young survivors are not copied.
 *  - .gen.unlog: every object marked gets its unlogged bit, so the
 *    barrier logs the first store into it after the collection; objects
 *    allocated since the last collection have the bit clear (young objects
 *    need no barrier).
 *  - .gen.policy: a default collection is minor unless the last minor one
 *    reclaimed little or left the heap crowded (options gen-min-yield and
 *    gen-full-threshold); a full collection is an ordinary Immix one.
 */
#define IMMIX_PLAN_STICKY 1
#include "plans/immix/immix.c"
