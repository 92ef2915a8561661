/**
 * @file toyvm_inline.h
 * @brief toyvm's embedder header: the object model and object scanner as
 * `static inline` definitions, compiled into the plan libraries that
 * toyvm uses (see ::MDN_VM_INLINE_HEADER and docs/porting.md).
 *
 * The link-time form of the same binding (toyvm_linked.c) defines the
 * external functions of <midden/vm.h> from these.
 */
#ifndef TOYVM_INLINE_H
#define TOYVM_INLINE_H

#include "toyvm.h"

#include <midden/vm.h>

/* [snippet:inline-object-model] */
/** @brief Bytes of @p obj. @param obj an object @return its size */
static inline size_t mdn_vm_inline_object_size(mdn_objref obj) { return toyvm_size(obj); }

/** @brief A toyvm reference is the object's start. @param obj an object @return its start */
static inline mdn_address mdn_vm_inline_object_start(mdn_objref obj) { return mdn_objref_to_address(obj); }

/** @brief The reference of the object at @p start. @param start a start @return the reference */
static inline mdn_objref mdn_vm_inline_objref_from_start(mdn_address start) { return mdn_objref_from_address(start); }

/**
 * @brief The reference fields follow the header word: one range, after
 * the untraced leading fields of weak boxes and ephemerons.
 * @param obj         the object
 * @param tracer      passed on to the visitor
 * @param visit       the per-slot visitor (toyvm has no separate fields)
 * @param visit_range the range visitor
 */
static inline void mdn_vm_inline_scan_object(mdn_objref obj, mdn_tracer *tracer, mdn_slot_visitor visit,
                                             mdn_range_visitor visit_range) {
    (void)visit;
    /* Weak boxes and ephemerons start with fields that are not traced
     * (docs/design/weak.md .weak.toyvm). */
    unsigned n = toyvm_nrefs(obj), skip = toyvm_unscanned_refs(obj);
    if (skip > n)
        skip = n;
    visit_range(tracer, toyvm_ref_slot(obj, skip), n - skip);
}
/* [/snippet] */

#endif /* TOYVM_INLINE_H */
