/*
 * binding.c: tinyvm's side of Midden's binding contract (<midden/vm.h>).
 * Midden calls these functions directly: the object model, root scanning
 * and the out-of-memory hook. docs/porting.md walks through each one.
 */
#include "tinyvm.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>

/* [snippet:object-model] */
size_t mdn_vm_object_size(mdn_objref obj) {
    tv_value o = (tv_value)obj.value;
    return tv_object_bytes(tv_type_of(o), tv_length(o));
}

/* A tinyvm reference is the address of the object's header. A runtime
 * whose references point past a header (or carry tag bits) converts here. */
mdn_address mdn_vm_object_start(mdn_objref obj) { return mdn_objref_to_address(obj); }

mdn_objref mdn_vm_objref_from_start(mdn_address start) { return mdn_objref_from_address(start); }
/* [/snippet] */

/* [snippet:scan-object] */
/* Report the slots that hold references; fixnums and nil are skipped
 * (Midden treats every non-null word it is given as a reference). */
static void scan_values(tv_value *slots, size_t n, mdn_tracer *tracer) {
    for (size_t i = 0; i < n; i++) {
        if (tv_is_ref(slots[i]))
            mdn_trace_slot(tracer, mdn_slot_from_ptr(&slots[i]));
    }
}

void mdn_vm_scan_object(mdn_objref obj, mdn_tracer *tracer) {
    tv_value o = (tv_value)obj.value;
    switch (tv_type_of(o)) {
    case TV_PAIR:
    case TV_VECTOR:
        scan_values(tv_fields(o), tv_length(o), tracer);
        break;
    case TV_STRING: /* no references */
        break;
    }
}
/* [/snippet] */

/* [snippet:scan-roots] */
/* Global roots the VM scans itself: its global variables may hold fixnums,
 * so they cannot be a registered range. (The symbol table holds only
 * references or nil and is registered with mdn_add_roots: Midden scans it
 * and it must not be reported again here.) */
void mdn_vm_scan_roots(mdn_heap *heap, mdn_tracer *tracer) {
    (void)heap;
    scan_values(tv_globals, TV_GLOBALS, tracer);
}

/* One stopped thread's roots: its shadow stack. The thread is parked or in
 * native code, so its stack does not change while it is scanned. */
void mdn_vm_scan_mutator_roots(mdn_mutator *mutator, void *vm_thread, mdn_tracer *tracer) {
    (void)mutator;
    tv_thread *t = vm_thread;
    scan_values(t->stack, t->sp, tracer);
}
/* [/snippet] */

/* [snippet:oom] */
/* Called when an allocation fails even after a full collection. Returning
 * makes mdn_alloc() return NULL, and the heap stays usable: tinyvm turns
 * that into an error its caller handles. A runtime without a way to raise
 * errors would print a message and exit here instead. */
static atomic_uint oom_reports;

void mdn_vm_out_of_memory(mdn_heap *heap, size_t bytes) {
    (void)heap;
    (void)bytes;
    atomic_fetch_add(&oom_reports, 1);
}
/* [/snippet] */

unsigned tv_oom_reports(void) { return atomic_load(&oom_reports); }
