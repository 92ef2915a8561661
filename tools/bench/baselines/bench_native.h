/**
 * @file bench_native.h
 * @brief The benchmark allocation interface (bench.h) over what a C
 * programmer would use instead of Midden: Boehm GC, or malloc/free with
 * explicit frees. Include bench.h, not this file.
 *
 * Selected at compile time:
 * - `BENCH_BACKEND_BOEHM`: GC_MALLOC (GC_MALLOC_ATOMIC for objects without
 *   references); `BENCH_BOEHM_TUNED` adds GC_set_all_interior_pointers(0)
 *   and one marker thread per core.
 * - `BENCH_BACKEND_MALLOC` with `BENCH_MALLOC_GLIBC`, `BENCH_MALLOC_MIMALLOC`
 *   (mi_malloc/mi_free) or `BENCH_MALLOC_JEMALLOC` (malloc/free resolved to
 *   libjemalloc, which the program links before libc).
 *
 * Nodes are plain C structs (two pointers, two int32: 24 bytes), as a C
 * program would write them; objects carry one header word (reference count
 * and payload size) before their references. Root frames are local arrays.
 * `BENCH_VARIANT` names the variant in the stats line.
 */
#ifndef MIDDEN_BENCH_NATIVE_H
#define MIDDEN_BENCH_NATIVE_H

#if defined(BENCH_BACKEND_BOEHM)
#define GC_THREADS 1
#include <gc/gc.h>
#include <pthread.h>
#elif defined(BENCH_MALLOC_MIMALLOC)
#include <mimalloc.h>
#elif defined(BENCH_MALLOC_JEMALLOC)
#include <jemalloc/jemalloc.h>
#elif !defined(BENCH_MALLOC_GLIBC)
#error "BENCH_BACKEND_MALLOC needs BENCH_MALLOC_GLIBC, BENCH_MALLOC_MIMALLOC or BENCH_MALLOC_JEMALLOC"
#endif

#include <sys/resource.h>
#include <unistd.h>

#ifndef BENCH_VARIANT
#error "define BENCH_VARIANT, the variant's name in the stats line"
#endif

/** @brief A reference to a heap object. */
typedef void *bench_ref;

/** @brief A tree node as a C program declares it. */
typedef struct bench_node {
    struct bench_node *left;  /**< left child */
    struct bench_node *right; /**< right child */
    int32_t ints[2];          /**< two integers of payload */
} bench_node;

/** @brief A general object: header, references, payload. */
typedef struct bench_object {
    uint32_t nrefs;        /**< reference fields */
    uint32_t payload;      /**< payload bytes */
    void *refs[];          /**< the references, then the payload */
} bench_object;

/** @brief One benchmark thread (nothing to keep per thread). */
typedef struct bench_thread {
    int unused; /**< placeholder */
} bench_thread;

/** @brief Most collections whose pauses are kept for percentiles. */
#define BENCH_MAX_PAUSES 65536

/** @brief Process-wide measurement state. */
typedef struct bench_vm {
    double start;            /**< bench_begin() time */
    uint64_t gc_no_start;    /**< collections before bench_begin() */
    uint64_t bytes_start;    /**< bytes allocated before bench_begin() */
    double pause_start;      /**< start of the collection in progress */
    double pause_total;      /**< seconds paused */
    double pause_max;        /**< longest pause */
    size_t npauses;          /**< pauses kept */
    bool measuring;          /**< between bench_begin() and bench_end() */
    double pauses[BENCH_MAX_PAUSES]; /**< the pauses, in seconds */
} bench_vm;

/** @brief The process's measurement state (the one global of a baseline). */
static bench_vm bench_vm_state;

#if defined(BENCH_BACKEND_BOEHM)
/** @brief Garbage is reclaimed by the collector. */
#define BENCH_EXPLICIT_FREE 0
/** @brief Allocate memory that may hold pointers. */
#define BENCH_RAW_ALLOC(n) GC_MALLOC(n)
/** @brief Allocate memory that holds no pointers. */
#define BENCH_RAW_ALLOC_ATOMIC(n) GC_MALLOC_ATOMIC(n)
/** @brief Nothing: the collector reclaims memory. */
#define BENCH_RAW_FREE(p) ((void)(p))
#else
/** @brief The program frees what it drops. */
#define BENCH_EXPLICIT_FREE 1
#if defined(BENCH_MALLOC_MIMALLOC)
#define BENCH_RAW_ALLOC(n) mi_malloc(n)
#define BENCH_RAW_FREE(p) mi_free(p)
#else
#define BENCH_RAW_ALLOC(n) malloc(n)
#define BENCH_RAW_FREE(p) free(p)
#endif
#define BENCH_RAW_ALLOC_ATOMIC(n) BENCH_RAW_ALLOC(n)
#endif

/** @brief The null reference. @return null */
static inline bench_ref bench_null(void) { return NULL; }
/** @brief Whether @p r is null. @param r a reference @return true if null */
static inline bool bench_is_null(bench_ref r) { return r == NULL; }
/** @brief Whether two references are the same object. @param a one @param b other @return true if equal */
static inline bool bench_same(bench_ref a, bench_ref b) { return a == b; }

#if defined(BENCH_BACKEND_BOEHM)
/** @brief Collection events: time each collection (Boehm collects with the world stopped). */
static void GC_CALLBACK bench_gc_event_(GC_EventType ev) {
    bench_vm *vm = &bench_vm_state;
    if (!vm->measuring)
        return;
    if (ev == GC_EVENT_START) {
        vm->pause_start = bench_now();
    } else if (ev == GC_EVENT_END) {
        double p = bench_now() - vm->pause_start;
        vm->pause_total += p;
        if (p > vm->pause_max)
            vm->pause_max = p;
        if (vm->npauses < BENCH_MAX_PAUSES)
            vm->pauses[vm->npauses++] = p;
    }
}
#endif

/** @brief Start the allocator (Boehm: GC_INIT and its settings). @return the VM */
static inline bench_vm *bench_vm_start(void) {
#if defined(BENCH_BACKEND_BOEHM)
#if defined(BENCH_BOEHM_TUNED)
    GC_set_all_interior_pointers(0);
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    GC_set_markers_count(cores > 0 ? (unsigned)cores : 1u);
#endif
    GC_INIT();
#if defined(BENCH_BOEHM_TUNED)
    /* Marker threads otherwise start only with the program's second thread. */
    GC_start_mark_threads();
#endif
    GC_set_on_collection_event(bench_gc_event_);
#endif
    return &bench_vm_state;
}
/** @brief Nothing to tear down. @param vm the VM */
static inline void bench_vm_finish(bench_vm *vm) { (void)vm; }

/** @brief Start the measured part. @param vm the VM */
static inline void bench_begin(bench_vm *vm) {
#if defined(BENCH_BACKEND_BOEHM)
    vm->gc_no_start = GC_get_gc_no();
    vm->bytes_start = GC_get_total_bytes();
#endif
    vm->measuring = true;
    vm->start = bench_now();
}

/** @brief Order doubles, for qsort. */
static int bench_cmp_double_(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/** @brief End the measured part and print the stats line. @param vm the VM */
static inline void bench_end(bench_vm *vm) {
    double elapsed = bench_now() - vm->start;
    vm->measuring = false;
    uint64_t collections = 0, allocated = 0, heap = 0;
    unsigned gc_threads = 0;
#if defined(BENCH_BACKEND_BOEHM)
    collections = GC_get_gc_no() - vm->gc_no_start;
    allocated = GC_get_total_bytes() - vm->bytes_start;
    heap = GC_get_heap_size();
    gc_threads = (unsigned)GC_get_parallel() + 1u;
#endif
    double p50 = 0, p99 = 0;
    if (vm->npauses > 0) {
        qsort(vm->pauses, vm->npauses, sizeof vm->pauses[0], bench_cmp_double_);
        p50 = vm->pauses[(vm->npauses - 1) / 2];
        p99 = vm->pauses[(vm->npauses - 1) * 99 / 100];
    }
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    fprintf(stderr,
            "midden-stats: plan=%s time_ms=%.3f collections=%llu full_collections=%llu "
            "total_pause_ms=%.3f max_pause_ms=%.3f p50_pause_ms=%.3f p99_pause_ms=%.3f "
            "allocated_bytes=%llu live_bytes_after=0 copied_bytes=0 heap_bytes=%llu "
            "peak_committed_bytes=%llu gc_threads=%u\n",
            BENCH_VARIANT, elapsed * 1e3, (unsigned long long)collections,
            (unsigned long long)collections, vm->pause_total * 1e3, vm->pause_max * 1e3, p50 * 1e3,
            p99 * 1e3, (unsigned long long)allocated, (unsigned long long)heap,
            (unsigned long long)ru.ru_maxrss * 1024ull, gc_threads);
}

/** @brief Attach the calling thread (Boehm registers it through the pthread redirect). @param vm the VM @return the thread */
static inline bench_thread *bench_thread_attach(bench_vm *vm) {
    (void)vm;
    static bench_thread one;
    return &one;
}
/** @brief Nothing to do. @param t the thread */
static inline void bench_thread_detach(bench_thread *t) { (void)t; }
/** @brief Nothing to do. @param t the thread */
static inline void bench_enter_blocking(bench_thread *t) { (void)t; }
/** @brief Nothing to do. @param t the thread */
static inline void bench_leave_blocking(bench_thread *t) { (void)t; }
/** @brief Nothing to do. @param t the thread */
static inline void bench_safepoint(bench_thread *t) { (void)t; }

/** @brief A node with children @p l and @p r. @param t thread @param l left @param r right @return the node */
static inline bench_ref bench_new_node(bench_thread *t, bench_ref l, bench_ref r) {
    (void)t;
    bench_node *n = (bench_node *)BENCH_RAW_ALLOC(sizeof(bench_node));
    if (n == NULL)
        bench_oom();
    n->left = (bench_node *)l;
    n->right = (bench_node *)r;
    n->ints[0] = n->ints[1] = 0;
    return n;
}
/** @brief Left child. @param n a node @return the child */
static inline bench_ref bench_node_left(bench_ref n) { return ((bench_node *)n)->left; }
/** @brief Right child. @param n a node @return the child */
static inline bench_ref bench_node_right(bench_ref n) { return ((bench_node *)n)->right; }
/** @brief Set the left child. @param t thread @param n node @param v child */
static inline void bench_node_set_left(bench_thread *t, bench_ref n, bench_ref v) {
    (void)t;
    ((bench_node *)n)->left = (bench_node *)v;
}
/** @brief Set the right child. @param t thread @param n node @param v child */
static inline void bench_node_set_right(bench_thread *t, bench_ref n, bench_ref v) {
    (void)t;
    ((bench_node *)n)->right = (bench_node *)v;
}
/** @brief The node's two integers. @param n a node @return pointer to them */
static inline int32_t *bench_node_ints(bench_ref n) { return ((bench_node *)n)->ints; }

/**
 * @brief An object with @p nrefs null references and @p bytes of payload.
 * @param t     thread
 * @param nrefs reference fields
 * @param bytes payload bytes
 * @return the object
 */
static inline bench_ref bench_new_object(bench_thread *t, unsigned nrefs, size_t bytes) {
    (void)t;
    size_t size = sizeof(bench_object) + (size_t)nrefs * sizeof(void *) + ((bytes + 7u) & ~(size_t)7u);
    bench_object *o = (bench_object *)(nrefs ? BENCH_RAW_ALLOC(size) : BENCH_RAW_ALLOC_ATOMIC(size));
    if (o == NULL)
        bench_oom();
    o->nrefs = nrefs;
    o->payload = (uint32_t)bytes;
    for (unsigned i = 0; i < nrefs; i++)
        o->refs[i] = NULL;
    return o;
}
/** @brief Reference field @p i. @param o object @param i index @return the reference */
static inline bench_ref bench_obj_ref(bench_ref o, unsigned i) { return ((bench_object *)o)->refs[i]; }
/** @brief Set reference field @p i. @param t thread @param o object @param i index @param v value */
static inline void bench_obj_set_ref(bench_thread *t, bench_ref o, unsigned i, bench_ref v) {
    (void)t;
    ((bench_object *)o)->refs[i] = v;
}
/** @brief The payload. @param o object @return its first payload byte */
static inline void *bench_obj_payload(bench_ref o) {
    bench_object *b = (bench_object *)o;
    return (void *)&b->refs[b->nrefs];
}
/** @brief Free one object (malloc variants only). @param t thread @param o object or null */
static inline void bench_free(bench_thread *t, bench_ref o) {
    (void)t;
    if (o != NULL)
        BENCH_RAW_FREE(o);
}

/** @brief Declare a frame @p f of @p n roots, all null. */
#define BENCH_ROOTS(t, f, n) bench_ref f[n] = {0}
/** @brief Root @p i of frame @p f. */
#define bench_root(t, f, i) ((f)[i])
/** @brief Set root @p i of frame @p f. */
#define bench_root_set(t, f, i, v) ((f)[i] = (v))
/** @brief Nothing to pop. */
#define BENCH_ROOTS_POP(t, f, n) ((void)(f))

#endif /* MIDDEN_BENCH_NATIVE_H */
