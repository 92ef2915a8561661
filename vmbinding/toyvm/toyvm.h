/**
 * @file toyvm.h
 * @brief toyvm, the reference binding: a tiny object model and thread model
 * that tests, benchmarks and the porting guide use.
 *
 * Object layout: one header word, then `nrefs` reference fields, then an
 * untyped payload. The header packs a type id (bits 0–7), the number of
 * reference fields (bits 8–23) and the object size in bytes (bits 24–63).
 * Roots are precise: each thread keeps a shadow stack of reference slots,
 * and the VM has a table of global roots.
 */
#ifndef TOYVM_H
#define TOYVM_H

#include <midden/midden.h>

#include <stdint.h>
#include <string.h>

#ifdef __cplusplus
extern "C" {
#endif

/** @brief Largest number of reference fields of one object. */
#define TOYVM_MAX_REFS 0xffffu

/** @brief A toyvm thread: its mutator and its shadow stack of roots. */
typedef struct toyvm_thread {
    mdn_mutator *mutator;  /**< the thread's mutator */
    mdn_objref *roots;     /**< shadow stack slots */
    size_t root_count;     /**< slots in use */
    size_t root_capacity;  /**< slots allocated */
    mdn_heap *heap;        /**< the heap */
    uint64_t root_scans;   /**< times a collector (or the heap verifier) scanned this thread's roots; atomic */
} toyvm_thread;

/** @brief What toyvm's mdn_vm_out_of_memory() does. */
typedef enum toyvm_oom_mode {
    TOYVM_OOM_EXIT = 0,   /**< print a message and exit with status TOYVM_OOM_EXIT_STATUS */
    TOYVM_OOM_RETURN = 1, /**< count it and return, so mdn_alloc() returns NULL */
} toyvm_oom_mode;

/** @brief Exit status after an out-of-memory report in TOYVM_OOM_EXIT mode. */
#define TOYVM_OOM_EXIT_STATUS 75

/** @brief Choose what running out of memory does (process-wide). @param mode the mode */
void toyvm_set_oom_mode(toyvm_oom_mode mode);
/** @brief Times mdn_vm_out_of_memory() returned in TOYVM_OOM_RETURN mode. @return the count */
uint64_t toyvm_oom_count(void);

/**
 * @brief Bind the calling thread: make its mutator and an empty shadow stack.
 * @param heap the heap
 * @return the thread (free it with toyvm_thread_detach())
 */
toyvm_thread *toyvm_thread_attach(mdn_heap *heap);
/** @brief Unbind and free a thread. @param t the thread */
void toyvm_thread_detach(toyvm_thread *t);

/**
 * @brief How many times this thread's roots have been scanned: a cheap way
 * for the thread to notice that a collection ran since it last looked.
 * @param t the thread (the calling thread's own)
 * @return the count
 */
static inline uint64_t toyvm_root_scans(const toyvm_thread *t) {
    return __atomic_load_n(&t->root_scans, __ATOMIC_ACQUIRE);
}

/** @brief Grow the shadow stack; called by toyvm_push_root(). @param t the thread */
void toyvm_grow_roots(toyvm_thread *t);

/**
 * @brief Register a global root slot (scanned by mdn_vm_scan_roots()).
 * @param slot address of a variable holding a reference
 */
void toyvm_add_global_root(mdn_objref *slot);
/** @brief Unregister a global root slot. @param slot the slot given to toyvm_add_global_root() */
void toyvm_remove_global_root(mdn_objref *slot);

/** @brief Make a header word. @param type type id @param nrefs reference fields @param size bytes @return the header */
static inline uint64_t toyvm_make_header(unsigned type, unsigned nrefs, size_t size) {
    return (uint64_t)(type & 0xffu) | ((uint64_t)(nrefs & 0xffffu) << 8) | ((uint64_t)size << 24);
}

/** @brief Bytes needed for an object. @param nrefs reference fields @param payload payload bytes @return the size */
static inline size_t toyvm_object_bytes(unsigned nrefs, size_t payload) {
    return sizeof(uint64_t) + (size_t)nrefs * sizeof(uintptr_t) + ((payload + 7u) & ~(size_t)7u);
}

/** @brief The header word. @param o an object @return its header */
static inline uint64_t toyvm_header(mdn_objref o) { return *(const uint64_t *)o.value; }
/** @brief Type id. @param o an object @return the type */
static inline unsigned toyvm_type(mdn_objref o) { return (unsigned)(toyvm_header(o) & 0xffu); }
/** @brief Number of reference fields. @param o an object @return the count */
static inline unsigned toyvm_nrefs(mdn_objref o) { return (unsigned)((toyvm_header(o) >> 8) & 0xffffu); }
/** @brief Size in bytes. @param o an object @return the size */
static inline size_t toyvm_size(mdn_objref o) { return (size_t)(toyvm_header(o) >> 24); }
/** @brief Slot of reference field @p i. @param o an object @param i field index @return the slot */
static inline mdn_slot toyvm_ref_slot(mdn_objref o, unsigned i) {
    return mdn_slot_from_address(mdn_address_from_word(o.value + sizeof(uint64_t) + (uintptr_t)i * sizeof(uintptr_t)));
}
/** @brief Read reference field @p i. @param o an object @param i field index @return the reference */
static inline mdn_objref toyvm_get_ref(mdn_objref o, unsigned i) { return mdn_slot_load(toyvm_ref_slot(o, i)); }
/**
 * @brief Write reference field @p i of an existing object, through the
 * write barrier (mdn_write_barrier()).
 * @param t the calling thread
 * @param o an object
 * @param i field index
 * @param v the new reference
 */
static inline void toyvm_set_ref(toyvm_thread *t, mdn_objref o, unsigned i, mdn_objref v) {
    mdn_write_barrier(t->mutator, o, toyvm_ref_slot(o, i), v);
}
/**
 * @brief Initialise reference field @p i of an object the thread allocated
 * after its last call that may collect: a plain store, which needs no
 * barrier (mdn_write_barrier() states the rule).
 * @param o a just-allocated object
 * @param i field index
 * @param v the reference
 */
static inline void toyvm_init_ref(mdn_objref o, unsigned i, mdn_objref v) { mdn_slot_store(toyvm_ref_slot(o, i), v); }
/**
 * @brief Copy @p n reference fields from @p src (from field @p si) to
 * @p dst (from field @p di), as an array copy: one memmove(), then the
 * bulk barrier (mdn_write_barrier_range()). The ranges may overlap.
 * @param t   the calling thread
 * @param dst the object written
 * @param di  first field written
 * @param src the object read
 * @param si  first field read
 * @param n   fields to copy
 */
static inline void toyvm_copy_refs(toyvm_thread *t, mdn_objref dst, unsigned di, mdn_objref src, unsigned si,
                                   unsigned n) {
    mdn_slot first = toyvm_ref_slot(dst, di);
    memmove(mdn_address_to_ptr(mdn_slot_address(first)), mdn_address_to_ptr(mdn_slot_address(toyvm_ref_slot(src, si))),
            (size_t)n * sizeof(mdn_objref));
    mdn_write_barrier_range(t->mutator, dst, first, n);
}
/** @brief The payload. @param o an object @return pointer to its first payload byte */
static inline void *toyvm_payload(mdn_objref o) {
    return (void *)(o.value + sizeof(uint64_t) + (uintptr_t)toyvm_nrefs(o) * sizeof(uintptr_t));
}
/** @brief Payload size in bytes (rounded to words). @param o an object @return bytes */
static inline size_t toyvm_payload_bytes(mdn_objref o) {
    return toyvm_size(o) - sizeof(uint64_t) - (size_t)toyvm_nrefs(o) * sizeof(uintptr_t);
}

/**
 * @brief Allocate an object with zeroed fields and payload. May collect:
 * references held in C variables must be on the shadow stack across the call.
 * @param t       the thread
 * @param type    type id (0–255)
 * @param nrefs   reference fields (0–TOYVM_MAX_REFS)
 * @param payload payload bytes
 * @param kind    allocation kind
 * @return the object, or the null reference when out of memory in TOYVM_OOM_RETURN mode
 */
static inline mdn_objref toyvm_alloc(toyvm_thread *t, unsigned type, unsigned nrefs, size_t payload,
                                     mdn_alloc_kind kind) {
    size_t size = toyvm_object_bytes(nrefs, payload);
    void *p = mdn_alloc(t->mutator, size, MDN_MIN_ALIGN, kind);
    if (__builtin_expect(p == NULL, 0))
        return mdn_objref_null();
    *(uint64_t *)p = toyvm_make_header(type, nrefs, size);
    return mdn_objref_from_ptr(p);
}

/**
 * @brief Push a root; returns its index on the shadow stack.
 * @param t the thread
 * @param o the reference (may be null)
 * @return the slot index, for toyvm_root() and toyvm_set_root()
 */
static inline size_t toyvm_push_root(toyvm_thread *t, mdn_objref o) {
    if (__builtin_expect(t->root_count == t->root_capacity, 0))
        toyvm_grow_roots(t);
    t->roots[t->root_count] = o;
    return t->root_count++;
}
/** @brief Current value of root @p i (a moving plan may have updated it). @param t the thread @param i index @return the reference */
static inline mdn_objref toyvm_root(const toyvm_thread *t, size_t i) { return t->roots[i]; }
/** @brief Overwrite root @p i. @param t the thread @param i index @param o the reference */
static inline void toyvm_set_root(toyvm_thread *t, size_t i, mdn_objref o) { t->roots[i] = o; }
/** @brief Pop @p n roots. @param t the thread @param n how many */
static inline void toyvm_pop_roots(toyvm_thread *t, size_t n) { t->root_count -= n; }

/**
 * @brief Observe collections: @p hook is called once per collection, with
 * the world stopped, when the collector asks for the VM's global roots.
 * Tests use it to check the thread protocol. NULL removes the hook.
 * @param hook the function to call, or NULL
 * @param arg  passed to @p hook
 */
void toyvm_set_gc_hook(void (*hook)(mdn_heap *heap, void *arg), void *arg);

/** @brief Type id used by toyvm_alloc_node(). */
#define TOYVM_TYPE_NODE 1u

/**
 * @brief Allocate a GCBench/binary-trees node: two reference fields (left,
 * right) and two 32-bit integers of payload. @p left and @p right are rooted
 * across the allocation.
 * @param t     the thread
 * @param left  left child (may be null)
 * @param right right child (may be null)
 * @return the node, or null when out of memory in TOYVM_OOM_RETURN mode
 */
static inline mdn_objref toyvm_alloc_node(toyvm_thread *t, mdn_objref left, mdn_objref right) {
    size_t base = t->root_count;
    if (__builtin_expect(base + 2 > t->root_capacity, 0))
        toyvm_grow_roots(t);
    t->roots[base] = left;
    t->roots[base + 1] = right;
    t->root_count = base + 2;
    mdn_objref n = toyvm_alloc(t, TOYVM_TYPE_NODE, 2, 8, MDN_ALLOC_DEFAULT);
    if (!mdn_objref_is_null(n)) {
        toyvm_init_ref(n, 0, t->roots[base]);
        toyvm_init_ref(n, 1, t->roots[base + 1]);
    }
    t->root_count = base;
    return n;
}

/** @brief Type id of a weak box: reference field 0 is a registered weak slot, the others are strong. */
#define TOYVM_TYPE_WEAK 0xfeu
/** @brief Type id of an ephemeron: field 0 is the key, field 1 the value (neither traced), the others strong. */
#define TOYVM_TYPE_EPHEMERON 0xffu

/**
 * @brief Leading reference fields of @p o that toyvm does not report to the
 * collector (registered weak slots and ephemeron fields).
 * @param o an object
 * @return 1 for a weak box, 2 for an ephemeron, else 0
 */
static inline unsigned toyvm_unscanned_refs(mdn_objref o) {
    unsigned type = toyvm_type(o);
    return type == TOYVM_TYPE_WEAK ? 1u : type == TOYVM_TYPE_EPHEMERON ? 2u : 0u;
}

/**
 * @brief Allocate a weak box: @p nrefs reference fields (at least 1), of
 * which field 0 is weak (registered with mdn_weak_register()), holding
 * @p target. @p target is rooted across the allocation.
 * @param t        the thread
 * @param target   the weak field's first value (may be null)
 * @param nrefs    reference fields, at least 1
 * @param payload  payload bytes
 * @param strength short or long
 * @return the box, or null when out of memory in TOYVM_OOM_RETURN mode
 */
mdn_objref toyvm_alloc_weak(toyvm_thread *t, mdn_objref target, unsigned nrefs, size_t payload,
                            mdn_weak_strength strength);

/**
 * @brief Allocate an ephemeron: @p nrefs reference fields (at least 2), of
 * which field 0 is the key and field 1 the value (registered with
 * mdn_ephemeron_register()). @p key and @p value are rooted across the allocation.
 * @param t       the thread
 * @param key     the key (may be null)
 * @param value   the value (may be null)
 * @param nrefs   reference fields, at least 2
 * @param payload payload bytes
 * @return the ephemeron, or null when out of memory in TOYVM_OOM_RETURN mode
 */
mdn_objref toyvm_alloc_ephemeron(toyvm_thread *t, mdn_objref key, mdn_objref value, unsigned nrefs, size_t payload);

#ifdef __cplusplus
}
#endif

#endif /* TOYVM_H */
