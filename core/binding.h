/*
 * binding.h: how the collector reaches the binding's object model
 * (docs/design/collector.md .binding.forms).
 *
 * Link-time form (MDN_VM_INLINE_HEADER undefined): mdn_vm_object_size,
 * mdn_vm_object_start, mdn_vm_objref_from_start and mdn_vm_scan_object are
 * the binding's external functions of <midden/vm.h>.
 *
 * Inline form: the plan library is compiled with the binding's embedder
 * header (MDN_VM_INLINE_HEADER, set by midden_add_inline_binding()); the
 * names of the object model expand to its static inline definitions, so
 * the policies' trace functions and the trace loop inline them. Code
 * compiled once for every binding (the core sources) still calls the external
 * names, which core/binding/glue.c defines from the same header.
 */
#ifndef MDN_CORE_BINDING_H
#define MDN_CORE_BINDING_H

#include <midden/vm.h>

#ifdef MDN_VM_INLINE_HEADER
#include MDN_VM_INLINE_HEADER

#define MDN_BINDING_INLINE 1
#define mdn_vm_object_size(obj) mdn_vm_inline_object_size(obj)
#define mdn_vm_object_start(obj) mdn_vm_inline_object_start(obj)
#define mdn_vm_objref_from_start(start) mdn_vm_inline_objref_from_start(start)
#else
#define MDN_BINDING_INLINE 0
#endif

#endif
