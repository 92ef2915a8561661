/*
 * glue.c: compiled into the plan libraries of an inline binding only
 * (midden_add_inline_binding() in cmake/MiddenPlans.cmake): the external
 * object-model functions of <midden/vm.h>, defined from the binding's
 * embedder header, for the code compiled once for every binding (the heap
 * verifier, the policies' out-of-line paths) and for anything else that
 * calls them by name (docs/design/collector.md .binding.forms).
 */
#include "core/binding.h"

#if !MDN_BINDING_INLINE
#error "core/binding/glue.c is only for plan libraries built with an embedder header (MDN_VM_INLINE_HEADER)"
#endif

static void glue_visit_slot(mdn_tracer *tracer, mdn_slot slot) { mdn_trace_slot(tracer, slot); }

static void glue_visit_range(mdn_tracer *tracer, mdn_slot first, size_t count) {
    for (size_t i = 0; i < count; i++)
        mdn_trace_slot(tracer, mdn_slot_from_address(mdn_address_from_word(first.value + i * sizeof(mdn_objref))));
}

/* The parentheses keep the names from expanding to the inline ones. */
size_t(mdn_vm_object_size)(mdn_objref obj) { return mdn_vm_inline_object_size(obj); }

mdn_address(mdn_vm_object_start)(mdn_objref obj) { return mdn_vm_inline_object_start(obj); }

mdn_objref(mdn_vm_objref_from_start)(mdn_address start) { return mdn_vm_inline_objref_from_start(start); }

void mdn_vm_scan_object(mdn_objref obj, mdn_tracer *tracer) {
    mdn_vm_inline_scan_object(obj, tracer, glue_visit_slot, glue_visit_range);
}
