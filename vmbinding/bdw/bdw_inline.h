/*
 * bdw_inline.h: the Boehm-compatible library's object model and object
 * scanner as static inline definitions (docs/design/conservative.md
 * .cons.bdw-header): the embedder header its plan libraries are compiled
 * with (docs/design/collector.md .binding.forms), so the trace loop
 * inlines the conservative scan of every object. bdw.c uses the same
 * header helpers.
 */
#ifndef MDN_BDW_INLINE_H
#define MDN_BDW_INLINE_H

#include <midden/vm.h>

#include <stdint.h>

/* .cons.bdw-align: the plans and bdw.c start objects at 8 mod 16. */
#if MDN_VM_INLINE_START_PHASE != 8
#error "the Boehm-compatible library is compiled with MDN_VM_INLINE_START_PHASE=8 (vmbinding/bdw/CMakeLists.txt)"
#endif

/* Kinds are Boehm GC's kind indices (.cons.kinds): the four predefined
 * ones, then those GC_new_kind makes, scanned by their descriptor. */
enum {
    KIND_PTRFREE = 0,
    KIND_NORMAL = 1,
    KIND_UNCOLLECTABLE = 2,
    KIND_ATOMIC_UNCOLLECTABLE = 3,
    KIND_FIRST_CUSTOM = 4,
    KIND_MAX = 64
};

/* .cons.bdw-header: (size / 8) << 28 | (offset / 8) << 6 | kind. A zero
 * header is an object whose allocation has not returned yet: it covers two
 * words, the header and the first user word, and holds nothing to scan. */
#define HDR_SIZE_SHIFT 28
#define HDR_OFFSET_SHIFT 6
#define HDR_OFFSET_MASK 0x3fffffu
#define HDR_KIND_MASK 0x3fu
#define HDR_MIN_OBJECT 16u

static inline uintptr_t hdr_make(size_t size, size_t offset, unsigned kind) {
    return ((uintptr_t)(size >> 3) << HDR_SIZE_SHIFT) | ((uintptr_t)(offset >> 3) << HDR_OFFSET_SHIFT) | kind;
}
static inline size_t hdr_size(uintptr_t h) { return h ? (size_t)(h >> HDR_SIZE_SHIFT) << 3 : HDR_MIN_OBJECT; }
static inline size_t hdr_offset(uintptr_t h) {
    return h ? (size_t)((h >> HDR_OFFSET_SHIFT) & HDR_OFFSET_MASK) << 3 : 8;
}
static inline unsigned hdr_kind(uintptr_t h) { return (unsigned)(h & HDR_KIND_MASK); }
static inline int kind_is_uncollectable(unsigned kind) {
    return kind == KIND_UNCOLLECTABLE || kind == KIND_ATOMIC_UNCOLLECTABLE;
}

/* An object of a kind made by GC_new_kind, scanned per the kind's
 * descriptor (bdw.c, .cons.kinds). */
void bdw_scan_custom(mdn_objref obj, uintptr_t header, mdn_tracer *tracer);

/* An object's reference is its start, where its header is. */
static inline size_t mdn_vm_inline_object_size(mdn_objref obj) {
    return hdr_size(*(const uintptr_t *)mdn_objref_to_ptr(obj));
}
static inline mdn_address mdn_vm_inline_object_start(mdn_objref obj) { return mdn_objref_to_address(obj); }
static inline mdn_objref mdn_vm_inline_objref_from_start(mdn_address start) { return mdn_objref_from_address(start); }

/* Normal and uncollectable objects are scanned conservatively after the
 * header, pointer-free ones never, the other kinds by their descriptor;
 * there are no exact slots. */
static inline void mdn_vm_inline_scan_object(mdn_objref obj, mdn_tracer *tracer, mdn_slot_visitor visit,
                                             mdn_range_visitor visit_range) {
    (void)visit, (void)visit_range;
    uintptr_t h = *(const uintptr_t *)mdn_objref_to_ptr(obj);
    unsigned kind = hdr_kind(h);
    if (kind == KIND_NORMAL || kind == KIND_UNCOLLECTABLE)
        mdn_trace_ambiguous(tracer, mdn_address_add(mdn_objref_to_address(obj), sizeof(uintptr_t)),
                            hdr_size(h) - sizeof(uintptr_t));
    else if (__builtin_expect(kind >= KIND_FIRST_CUSTOM, 0))
        bdw_scan_custom(obj, h, tracer);
}

#endif /* MDN_BDW_INLINE_H */
