/*
 * toyvm_linked.c: the link-time form of toyvm's object model: the external
 * functions of <midden/vm.h>, for a plan library built without the
 * embedder header (toyvm_linked_<plan>; the inline form is
 * toyvm_inline.h, compiled into midden_<plan>_toyvm).
 */
#include "toyvm_inline.h"

static void visit_slot(mdn_tracer *tracer, mdn_slot slot) { mdn_trace_slot(tracer, slot); }

static void visit_range(mdn_tracer *tracer, mdn_slot first, size_t count) {
    for (size_t i = 0; i < count; i++)
        mdn_trace_slot(tracer, mdn_slot_from_address(mdn_address_from_word(first.value + i * sizeof(mdn_objref))));
}

size_t mdn_vm_object_size(mdn_objref obj) { return mdn_vm_inline_object_size(obj); }

mdn_address mdn_vm_object_start(mdn_objref obj) { return mdn_vm_inline_object_start(obj); }

mdn_objref mdn_vm_objref_from_start(mdn_address start) { return mdn_vm_inline_objref_from_start(start); }

void mdn_vm_scan_object(mdn_objref obj, mdn_tracer *tracer) {
    mdn_vm_inline_scan_object(obj, tracer, visit_slot, visit_range);
}
