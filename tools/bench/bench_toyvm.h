/**
 * @file bench_toyvm.h
 * @brief The benchmark allocation interface (bench.h) over the toyvm binding
 * and one Midden plan. Include bench.h, not this file.
 *
 * Nodes are toyvm nodes (toyvm_alloc_node(): two references and two int32,
 * 32 bytes with the header). Root frames are slots on the thread's shadow
 * stack; read them back with bench_root() after anything that can collect.
 */
#ifndef MIDDEN_BENCH_TOYVM_H
#define MIDDEN_BENCH_TOYVM_H

#include "toyvm.h"

/** @brief A reference to a heap object. */
typedef mdn_objref bench_ref;
/** @brief One benchmark thread. */
typedef toyvm_thread bench_thread;
/** @brief The process's heap. */
typedef struct bench_vm {
    mdn_heap *heap; /**< the Midden heap */
} bench_vm;

/** @brief Garbage is reclaimed by the collector, never freed by the program. */
#define BENCH_EXPLICIT_FREE 0

/** @brief toyvm type id of a bench_new_object() object. */
#define BENCH_TYPE_OBJECT 2u

/** @brief The null reference. @return null */
static inline bench_ref bench_null(void) { return mdn_objref_null(); }
/** @brief Whether @p r is null. @param r a reference @return true if null */
static inline bool bench_is_null(bench_ref r) { return mdn_objref_is_null(r); }
/** @brief Whether two references are the same object. @param a one @param b other @return true if equal */
static inline bool bench_same(bench_ref a, bench_ref b) { return mdn_objref_eq(a, b); }

/** @brief Make the heap with options from the `MDN_*` environment. @return the VM */
static inline bench_vm *bench_vm_start(void) {
    static bench_vm vm;
    mdn_options opts;
    mdn_error err;
    mdn_options_init(&opts);
    if (!mdn_options_from_env(&opts, &err)) {
        fprintf(stderr, "bench: %s\n", err.message);
        exit(BENCH_EXIT_USAGE);
    }
    vm.heap = mdn_heap_create(&opts, &err);
    if (vm.heap == NULL) {
        fprintf(stderr, "bench: cannot create the heap: %s\n", err.message);
        exit(err.code == MDN_ERR_OPTION ? BENCH_EXIT_USAGE : BENCH_EXIT_OOM);
    }
    return &vm;
}
/** @brief Destroy the heap. @param vm the VM */
static inline void bench_vm_finish(bench_vm *vm) { mdn_heap_destroy(vm->heap); }
/** @brief Start the measured part. @param vm the VM */
static inline void bench_begin(bench_vm *vm) { mdn_harness_begin(vm->heap); }
/** @brief End the measured part and print the stats line. @param vm the VM */
static inline void bench_end(bench_vm *vm) { mdn_harness_end(vm->heap); }

/** @brief Attach the calling thread. @param vm the VM @return the thread */
static inline bench_thread *bench_thread_attach(bench_vm *vm) { return toyvm_thread_attach(vm->heap); }
/** @brief Detach a thread. @param t the thread */
static inline void bench_thread_detach(bench_thread *t) { toyvm_thread_detach(t); }
/** @brief Stop touching the heap before a blocking call. @param t the thread */
static inline void bench_enter_blocking(bench_thread *t) { mdn_enter_native(t->mutator); }
/** @brief Touch the heap again after a blocking call. @param t the thread */
static inline void bench_leave_blocking(bench_thread *t) { mdn_leave_native(t->mutator); }
/** @brief Poll for a pending collection. @param t the thread */
static inline void bench_safepoint(bench_thread *t) { mdn_safepoint(t->mutator); }

/** @brief A node with children @p l and @p r. @param t thread @param l left @param r right @return the node */
static inline bench_ref bench_new_node(bench_thread *t, bench_ref l, bench_ref r) {
    bench_ref n = toyvm_alloc_node(t, l, r);
    if (mdn_objref_is_null(n))
        bench_oom();
    return n;
}
/** @brief Left child. @param n a node @return the child */
static inline bench_ref bench_node_left(bench_ref n) { return toyvm_get_ref(n, 0); }
/** @brief Right child. @param n a node @return the child */
static inline bench_ref bench_node_right(bench_ref n) { return toyvm_get_ref(n, 1); }
/** @brief Set the left child. @param t thread @param n node @param v child */
static inline void bench_node_set_left(bench_thread *t, bench_ref n, bench_ref v) { toyvm_set_ref(t, n, 0, v); }
/** @brief Set the right child. @param t thread @param n node @param v child */
static inline void bench_node_set_right(bench_thread *t, bench_ref n, bench_ref v) { toyvm_set_ref(t, n, 1, v); }
/** @brief The node's two integers. @param n a node @return pointer to them */
static inline int32_t *bench_node_ints(bench_ref n) { return (int32_t *)toyvm_payload(n); }

/**
 * @brief An object with @p nrefs null references and @p bytes of payload.
 * @param t     thread
 * @param nrefs reference fields
 * @param bytes payload bytes
 * @return the object
 */
static inline bench_ref bench_new_object(bench_thread *t, unsigned nrefs, size_t bytes) {
    bench_ref o = toyvm_alloc(t, BENCH_TYPE_OBJECT, nrefs, bytes, MDN_ALLOC_DEFAULT);
    if (mdn_objref_is_null(o))
        bench_oom();
    return o;
}
/** @brief Reference field @p i. @param o object @param i index @return the reference */
static inline bench_ref bench_obj_ref(bench_ref o, unsigned i) { return toyvm_get_ref(o, i); }
/** @brief Set reference field @p i. @param t thread @param o object @param i index @param v value */
static inline void bench_obj_set_ref(bench_thread *t, bench_ref o, unsigned i, bench_ref v) {
    toyvm_set_ref(t, o, i, v);
}
/** @brief The payload. @param o object @return its first payload byte */
static inline void *bench_obj_payload(bench_ref o) { return toyvm_payload(o); }
/** @brief Nothing: the collector reclaims garbage. @param t thread @param o object */
static inline void bench_free(bench_thread *t, bench_ref o) { (void)t; (void)o; }

/** @brief Push @p n null roots; returns the frame's base index. */
static inline size_t bench_roots_push_(bench_thread *t, unsigned n) {
    size_t base = t->root_count;
    for (unsigned i = 0; i < n; i++)
        toyvm_push_root(t, mdn_objref_null());
    return base;
}
/** @brief Declare a frame @p f of @p n roots, all null. */
#define BENCH_ROOTS(t, f, n) size_t f = bench_roots_push_((t), (n))
/** @brief Root @p i of frame @p f (re-read after anything that may collect). */
#define bench_root(t, f, i) toyvm_root((t), (f) + (i))
/** @brief Set root @p i of frame @p f. */
#define bench_root_set(t, f, i, v) toyvm_set_root((t), (f) + (i), (v))
/** @brief Pop frame @p f (of @p n roots, and anything pushed above it). */
#define BENCH_ROOTS_POP(t, f, n) toyvm_pop_roots((t), (t)->root_count - (f))

#endif /* MIDDEN_BENCH_TOYVM_H */
