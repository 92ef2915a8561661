/*
 * verify.h: the heap verifier (option `verify=1`, design §9). After a
 * collection it walks the graph reachable from every root and checks that
 * each reference is a live object of a live space with a sane size; the
 * first violation aborts with a report naming the slot, the reference and
 * the object that holds it.
 */
#ifndef MDN_CORE_VERIFY_H
#define MDN_CORE_VERIFY_H

#include <midden/midden.h>

/* Verify the whole heap; world stopped. Returns the number of objects
 * reached; aborts on the first violation. */
size_t mdn_verify_heap(mdn_heap *heap);

/* Called by mdn_trace_slot() while a verifier runs. */
void mdn_verify_slot(mdn_tracer *t, mdn_slot slot);

#endif
