/**
 * @file weak.h
 * @brief Weak references, ephemerons, finalizers and binding-driven weak
 * processing (docs/design/weak.md).
 *
 * All of it works on every plan, moving ones included. A collection runs
 * the weak phase after the strong transitive closure, in this order:
 *
 * 1. the fixpoint: ephemerons whose holder and key are reachable have
 *    their values traced, and the binding's weak processor (if one is set
 *    with mdn_set_weak_processor()) is called, until neither retains
 *    anything more;
 * 2. short weak slots whose target is unreachable are cleared;
 * 3. finalizable objects that are unreachable are chosen (unordered, or
 *    ordered as in Boehm GC), kept alive with everything they reach and
 *    queued for mdn_run_finalizers();
 * 4. the ephemeron fixpoint again (finalization may have revived keys);
 * 5. long weak slots whose target is still unreachable are cleared, and
 *    ephemerons whose key is unreachable have key and value cleared;
 *    every surviving weak slot, ephemeron and registration is updated to
 *    its target's new address when the target moved.
 *
 * A registered slot lives inside a heap object (its holder), or outside
 * the heap (holder null). A slot inside a holder is remembered as the
 * holder and an offset, so it follows the holder when the holder moves,
 * and its registration ends when the holder dies. The binding must not
 * report registered weak slots or ephemeron fields from
 * mdn_vm_scan_object(): they are not traced.
 *
 * Registration functions take the calling thread's mutator (RUNNING) and
 * may be called from several threads at once.
 */
#ifndef MIDDEN_WEAK_H
#define MIDDEN_WEAK_H

#include <midden/types.h>
#include <midden/vm.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- binding-driven weak processing ------------------------------------ */

/** @brief The context handed to a weak processor (valid during the call only). */
typedef struct mdn_weak_context mdn_weak_context;

/**
 * @brief Has @p obj been reached by this collection so far?
 * @param ctx the context
 * @param obj a reference as it was before the collection, or as already updated
 * @return true if the object is reachable (it will survive the collection)
 */
bool mdn_weak_is_live(mdn_weak_context *ctx, mdn_objref obj);

/**
 * @brief The reference @p obj has after this collection.
 * @param ctx the context
 * @param obj a reachable object (see mdn_weak_is_live())
 * @return the new reference if the object moved, else @p obj
 */
mdn_objref mdn_weak_forwarded(mdn_weak_context *ctx, mdn_objref obj);

/**
 * @brief Update a weak slot: store the new reference of its target, or the
 * null reference if the target is unreachable.
 * @param ctx  the context
 * @param slot the slot (a null slot content is left alone)
 * @return true if the slot now holds a live reference
 */
bool mdn_weak_update(mdn_weak_context *ctx, mdn_slot slot);

/**
 * @brief Keep the target of @p slot alive: trace it as if it were a strong
 * field. The slot is updated if the target moves. After the processor
 * returns, the collector computes the closure of everything retained and,
 * if the processor returned true, calls it again.
 * @param ctx  the context
 * @param slot the slot (null content is ignored)
 * @return the slot's new content
 */
mdn_objref mdn_weak_retain(mdn_weak_context *ctx, mdn_slot slot);

/**
 * @brief A binding's weak processor, called during a collection (world
 * stopped, on one GC thread) after the strong closure.
 *
 * It may call the context functions on its own weak tables. Return true to
 * be called again after the closure of what it retained (when it retained
 * something, an ephemeron became live, or it still has work); false when
 * it has no further work. It must not allocate or call any other Midden
 * function.
 *
 * @param heap the heap being collected
 * @param ctx  the context
 * @param data the pointer given to mdn_set_weak_processor()
 * @return true to be called again
 */
typedef bool (*mdn_weak_processor)(mdn_heap *heap, mdn_weak_context *ctx, void *data);

/**
 * @brief Set (or with NULL remove) the heap's weak processor.
 * @param heap the heap
 * @param fn   the processor, or NULL
 * @param data passed to @p fn
 */
void mdn_set_weak_processor(mdn_heap *heap, mdn_weak_processor fn, void *data);

/* ---- built-in weak slots ------------------------------------------------ */

/** @brief When a weak slot is cleared (Boehm GC's disappearing links). */
typedef enum mdn_weak_strength {
    /** Cleared as soon as the target is unreachable, before finalization
     * (Java's WeakReference, GC_general_register_disappearing_link). */
    MDN_WEAK_SHORT = 0,
    /** Cleared only when the target is unreachable after finalization kept
     * what finalizers need (Java's PhantomReference, GC_register_long_link). */
    MDN_WEAK_LONG = 1,
} mdn_weak_strength;

/**
 * @brief Register a weak slot.
 *
 * The slot is never traced; after each collection it holds the null
 * reference if its target died, else the target's current reference.
 * The VM may store any reference (or null) into it at any time.
 *
 * @param m        the calling thread's mutator
 * @param holder   the heap object containing the slot, or the null reference
 *                 for a word-aligned slot outside the heap that stays valid
 *                 until mdn_weak_unregister()
 * @param slot     the slot
 * @param strength short or long
 */
void mdn_weak_register(mdn_mutator *m, mdn_objref holder, mdn_slot slot, mdn_weak_strength strength);

/**
 * @brief Unregister a weak slot outside the heap (holder null at registration).
 * Slots inside heap objects are unregistered when their holder dies.
 * @param m    the calling thread's mutator
 * @param slot the slot given to mdn_weak_register()
 */
void mdn_weak_unregister(mdn_mutator *m, mdn_slot slot);

/* ---- ephemerons ---------------------------------------------------------- */

/**
 * @brief Register an ephemeron: two slots of @p holder, a key and a value.
 *
 * While the holder and the key are reachable, the value is kept alive (and
 * what it reaches, which may make further keys reachable: the collector
 * computes the fixpoint). When the key dies, both slots are cleared. The
 * registration ends when the holder dies.
 *
 * @param m      the calling thread's mutator
 * @param holder the heap object containing both slots
 * @param key    the key slot
 * @param value  the value slot
 */
void mdn_ephemeron_register(mdn_mutator *m, mdn_objref holder, mdn_slot key, mdn_slot value);

/* ---- finalizers ---------------------------------------------------------- */

/**
 * @brief A finalizer, run by mdn_run_finalizers() on a mutator thread.
 *
 * The object is intact, and so is everything it reaches. The finalizer may
 * store @p obj anywhere (resurrection): the object then stays valid. If it
 * allocates or reaches a safepoint, it must first root @p obj in the VM's
 * usual way, since a collection may move it.
 *
 * @param m    the mutator running finalizers
 * @param obj  the object
 * @param data the pointer given at registration
 */
typedef void (*mdn_finalizer_fn)(mdn_mutator *m, mdn_objref obj, void *data);

/** @brief Which finalizable objects are ready when several die together. */
typedef enum mdn_finalizer_order {
    /** Ready as soon as unreachable (Java, Guile's no_order). */
    MDN_FINALIZE_UNORDERED = 0,
    /** Ready only when no other unreachable ordered finalizable object
     * reaches it (Boehm GC): if A reaches B, A's finalizer runs first, and B
     * is finalized in a later collection. Objects on a cycle through an
     * ordered finalizable object are never finalized. */
    MDN_FINALIZE_ORDERED = 1,
} mdn_finalizer_order;

/**
 * @brief Register a finalizer for @p obj. Each registration runs at most once;
 * register again (for example from the finalizer) to be finalized again.
 * @param m     the calling thread's mutator
 * @param obj   a live heap object
 * @param fn    the finalizer
 * @param data  passed to @p fn
 * @param order unordered or ordered
 */
void mdn_finalizer_register(mdn_mutator *m, mdn_objref obj, mdn_finalizer_fn fn, void *data,
                            mdn_finalizer_order order);

/**
 * @brief Run the finalizers that collections queued, on the calling thread,
 * until the queue is empty. Several threads may call it at once; each
 * finalizer runs once. Never called by Midden itself.
 * @param m the calling thread's mutator (RUNNING)
 * @return the number of finalizers run
 */
size_t mdn_run_finalizers(mdn_mutator *m);

/**
 * @brief Finalizers queued and not yet started.
 * @param heap the heap
 * @return the count
 */
size_t mdn_finalizers_pending(mdn_heap *heap);

/**
 * @brief Called at the end of a collection that queued finalizers, with the
 * world still stopped. It must only record the fact (set a flag, signal a
 * condition variable) for a mutator thread to call mdn_run_finalizers(); it
 * must not call Midden.
 * @param heap    the heap
 * @param pending finalizers now queued
 * @param data    the pointer given to mdn_set_finalizer_notifier()
 */
typedef void (*mdn_finalizer_notifier)(mdn_heap *heap, size_t pending, void *data);

/**
 * @brief Set (or with NULL remove) the heap's finalizer notifier.
 * @param heap the heap
 * @param fn   the notifier, or NULL
 * @param data passed to @p fn
 */
void mdn_set_finalizer_notifier(mdn_heap *heap, mdn_finalizer_notifier fn, void *data);

#ifdef __cplusplus
}
#endif

#endif /* MIDDEN_WEAK_H */
