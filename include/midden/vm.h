/**
 * @file vm.h
 * @brief The binding contract: what a language runtime defines for Midden.
 *
 * A binding defines the `mdn_vm_*` functions below as plain C symbols; the
 * library calls them directly, so link-time optimisation can inline them
 * (docs/design/overview.md .overview.binding). A binding can instead be
 * compiled into the collector: it supplies the object model and the object
 * scanner as a header of `static inline` definitions (see
 * ::MDN_VM_INLINE_HEADER), so the trace loop inlines them; only root
 * scanning and the out-of-memory hook stay calls. `mdn_vm_object_moved` is optional: leave it undefined and
 * Midden does not call it.
 *
 * Object-model rules every plan relies on:
 * - An object occupies `mdn_vm_object_size(obj)` contiguous bytes starting at
 *   `mdn_vm_object_start(obj)`, at least one word, and the size depends only
 *   on the object's own contents.
 * - Memory returned by mdn_alloc() is zeroed, so a freshly allocated object
 *   has null reference fields until the VM stores into them.
 * - The VM must initialise an object's header (whatever the size and scan
 *   functions read) before its next call that may collect: mdn_alloc(),
 *   mdn_safepoint(), mdn_collect() or mdn_leave_native().
 * - Moving plans copy the object's bytes and then overwrite the first word of
 *   the old copy with the forwarding pointer.
 *
 * What each function may read (a collection calls them on objects in every
 * state, so this is exact):
 * - mdn_vm_object_start() and mdn_vm_objref_from_start() read no memory:
 *   they are arithmetic on the reference or address. The collector calls
 *   mdn_vm_object_start() on every reference it finds in a slot, and a slot
 *   may still hold the reference of an object another GC thread has already
 *   moved, whose first word is now the forwarding pointer.
 * - mdn_vm_object_size() reads the object's own header. It is called only
 *   on an intact object: before the object is copied (by the thread that
 *   copies it), on the new copy, or on an object that does not move.
 * - mdn_vm_scan_object() reads the header and the fields, and is called
 *   only on the copy that stays (the new copy of a moved object).
 * - mdn_vm_object_moved() may read all of `to`; of `from` it may use the
 *   address only (its first word is the forwarding pointer).
 */
#ifndef MIDDEN_VM_H
#define MIDDEN_VM_H

#include <midden/types.h>

#ifdef __cplusplus
extern "C" {
#endif

/** @brief An opaque heap. */
typedef struct mdn_heap mdn_heap;
/** @brief An opaque mutator: one VM thread's handle on a heap. */
typedef struct mdn_mutator mdn_mutator;
/** @brief An opaque tracer handed to scanning functions. */
typedef struct mdn_tracer mdn_tracer;

/**
 * @brief Report one reference slot to the collector.
 *
 * Called by the binding from mdn_vm_scan_object(), mdn_vm_scan_roots() and
 * mdn_vm_scan_mutator_roots(), once per slot. A slot holding the null
 * reference is allowed and ignored. A moving plan may store a new reference
 * into the slot before returning.
 *
 * @param tracer the tracer the scanning function received
 * @param slot   the field or root that holds a reference
 */
void mdn_trace_slot(mdn_tracer *tracer, mdn_slot slot);

/**
 * @brief Treat every aligned word of [start, start+bytes) as an ambiguous
 * reference: each word that points into an object of a conservative heap
 * (mdn_find_object()) keeps that object alive. For scanning functions of
 * conservatively scanned objects; the words are never changed.
 * @param tracer the tracer the scanning function received
 * @param start  first byte
 * @param bytes  length
 */
void mdn_trace_ambiguous(mdn_tracer *tracer, mdn_address start, size_t bytes);

/**
 * @brief The edge visitor an inline binding's scanner calls for one slot.
 *
 * Only for bindings compiled into the collector (the embedder-header form,
 * see ::MDN_VM_INLINE_HEADER): `mdn_vm_inline_scan_object()` receives the
 * collector's visitors and calls them for every reference slot. Because the
 * header's definitions are `static inline` and the visitors are constants
 * at the call, the compiler inlines both into the collector's trace loop.
 * A slot holding the null reference is allowed and ignored.
 *
 * @param tracer the tracer the scanner received
 * @param slot   the field that holds a reference
 */
typedef void (*mdn_slot_visitor)(mdn_tracer *tracer, mdn_slot slot);

/**
 * @brief The range visitor: @p count consecutive reference slots from @p first.
 *
 * The inline scanner's form for an array of references (each slot one
 * `mdn_objref` wide, consecutive in memory); equivalent to calling the
 * ::mdn_slot_visitor for each of them in order, but lets the collector run
 * one tight loop.
 *
 * @param tracer the tracer the scanner received
 * @param first  the first slot
 * @param count  how many slots (may be 0)
 */
typedef void (*mdn_range_visitor)(mdn_tracer *tracer, mdn_slot first, size_t count);

#ifdef MDN_DOXYGEN
/**
 * @brief Compile-time name of a binding's embedder header.
 *
 * A binding compiled into the collector supplies a header of `static
 * inline` definitions and builds the plan libraries with it through the
 * CMake function `midden_add_inline_binding()` (docs/porting.md), which
 * defines this macro as the header's name while compiling them. The header
 * defines, with exactly these names and signatures:
 *
 * - `static inline size_t mdn_vm_inline_object_size(mdn_objref obj)`
 * - `static inline mdn_address mdn_vm_inline_object_start(mdn_objref obj)`
 * - `static inline mdn_objref mdn_vm_inline_objref_from_start(mdn_address start)`
 * - `static inline void mdn_vm_inline_scan_object(mdn_objref obj, mdn_tracer *tracer,
 *    mdn_slot_visitor visit, mdn_range_visitor visit_range)`
 *
 * with the meaning of mdn_vm_object_size(), mdn_vm_object_start(),
 * mdn_vm_objref_from_start() and mdn_vm_scan_object() (the scanner reports
 * each slot through @p visit or a run of consecutive slots through
 * @p visit_range instead of calling mdn_trace_slot()). Such a binding does
 * not define those four link-time functions; it still defines the root
 * scanners and mdn_vm_out_of_memory(), which report slots with
 * mdn_trace_slot() as in the link-time form.
 */
#define MDN_VM_INLINE_HEADER "binding-header.h"
#endif

/**
 * @brief Where objects start: 0, or 8 for objects that start 8 bytes past
 * a 16-byte boundary.
 *
 * A binding whose objects begin with a one-word header and whose users
 * expect the bytes after it to be 16-byte aligned, as malloc's are on
 * x86-64, compiles the plan libraries and its own code with this macro set
 * to 8 (docs/design/conservative.md .cons.bdw-align). Objects allocated
 * with the minimum alignment then start at 8 mod 16: bump allocation skips
 * a word where a region starts on a 16-byte boundary, and mark-sweep
 * blocks begin their cells one word in. Such a binding asks for sizes that
 * are multiples of 16, so objects follow each other with no gap. Requests
 * aligned to more than 8 bytes are aligned as asked, and large objects
 * start on a page. Unset, it is 0 and objects are packed at 8-byte
 * alignment.
 */
#ifndef MDN_VM_INLINE_START_PHASE
#define MDN_VM_INLINE_START_PHASE 0
#endif
#if MDN_VM_INLINE_START_PHASE != 0 && MDN_VM_INLINE_START_PHASE != 8
#error "MDN_VM_INLINE_START_PHASE is 0 or 8"
#endif

/**
 * @brief Bytes occupied by @p obj, including its header; at least one word.
 * @param obj a reference to a live object
 * @return the object's size in bytes
 */
size_t mdn_vm_object_size(mdn_objref obj);

/**
 * @brief The address of the first byte of @p obj.
 * @param obj a reference to a live object
 * @return the object's start address
 */
mdn_address mdn_vm_object_start(mdn_objref obj);

/**
 * @brief The reference for the object starting at @p start.
 * @param start an object's start address
 * @return the reference the VM uses for that object
 */
mdn_objref mdn_vm_objref_from_start(mdn_address start);

/**
 * @brief Call mdn_trace_slot() for every reference slot of @p obj.
 * @param obj    the object to scan
 * @param tracer pass it on to mdn_trace_slot()
 */
void mdn_vm_scan_object(mdn_objref obj, mdn_tracer *tracer);

/**
 * @brief Call mdn_trace_slot() for every global root of the VM.
 *
 * Roots registered with mdn_add_roots() are scanned by Midden and must not
 * be reported again here.
 *
 * @param heap   the heap being collected
 * @param tracer pass it on to mdn_trace_slot()
 */
void mdn_vm_scan_roots(mdn_heap *heap, mdn_tracer *tracer);

/**
 * @brief Call mdn_trace_slot() for every root of one stopped thread.
 * @param mutator   the thread's mutator
 * @param vm_thread the pointer given to mdn_mutator_bind()
 * @param tracer    pass it on to mdn_trace_slot()
 */
void mdn_vm_scan_mutator_roots(mdn_mutator *mutator, void *vm_thread, mdn_tracer *tracer);

/**
 * @brief Optional hook called after a moving plan copied an object.
 *
 * Define it to update VM state keyed by address (identity hashes, handles).
 * Called during a collection, possibly from several GC threads at once.
 *
 * @param from the old reference: use its address only, do not read it (its
 *             first word now holds the forwarding pointer)
 * @param to   the new reference
 */
void mdn_vm_object_moved(mdn_objref from, mdn_objref to) __attribute__((weak));

/**
 * @brief Called when an allocation of @p bytes cannot be satisfied even after
 * a full collection.
 *
 * The binding may report and exit, or return; when it returns, mdn_alloc()
 * returns NULL and the heap stays usable.
 *
 * @param heap  the heap that is out of memory
 * @param bytes the size of the failed request
 */
void mdn_vm_out_of_memory(mdn_heap *heap, size_t bytes);

#ifdef __cplusplus
}
#endif

#endif /* MIDDEN_VM_H */
