/*
 * toyvm.c: the binding functions of vm.h that stay calls in both forms:
 * the shadow-stack roots of each thread, the VM's global roots and the
 * out-of-memory hook. The object model and scanner are in toyvm_inline.h
 * (compiled into the collector) or toyvm_linked.c (the link-time form).
 */
#include "toyvm.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The VM's own state (not the heap's): global roots and the OOM policy. */
static pthread_mutex_t globals_lock = PTHREAD_MUTEX_INITIALIZER;
static mdn_objref **globals;
static size_t nglobals, globals_capacity;
static toyvm_oom_mode oom_mode = TOYVM_OOM_EXIT;
static uint64_t oom_count;
static void (*gc_hook)(mdn_heap *, void *);
static void *gc_hook_arg;

void toyvm_set_gc_hook(void (*hook)(mdn_heap *heap, void *arg), void *arg) {
    pthread_mutex_lock(&globals_lock);
    gc_hook = hook;
    gc_hook_arg = arg;
    pthread_mutex_unlock(&globals_lock);
}

void toyvm_set_oom_mode(toyvm_oom_mode mode) { __atomic_store_n(&oom_mode, mode, __ATOMIC_RELAXED); }
uint64_t toyvm_oom_count(void) { return __atomic_load_n(&oom_count, __ATOMIC_RELAXED); }

toyvm_thread *toyvm_thread_attach(mdn_heap *heap) {
    toyvm_thread *t = calloc(1, sizeof *t);
    if (!t) {
        fprintf(stderr, "toyvm: out of memory attaching a thread\n");
        exit(1);
    }
    t->heap = heap;
    t->root_capacity = 256;
    t->roots = malloc(t->root_capacity * sizeof *t->roots);
    if (!t->roots) {
        fprintf(stderr, "toyvm: out of memory attaching a thread\n");
        exit(1);
    }
    t->mutator = mdn_mutator_bind(heap, t);
    return t;
}

void toyvm_thread_detach(toyvm_thread *t) {
    mdn_mutator_unbind(t->mutator);
    free(t->roots);
    free(t);
}

void toyvm_grow_roots(toyvm_thread *t) {
    /* The collector reads the stack only while this thread is stopped, so a
     * plain realloc is safe. */
    size_t cap = t->root_capacity * 2;
    mdn_objref *grown = realloc(t->roots, cap * sizeof *grown);
    if (!grown) {
        fprintf(stderr, "toyvm: out of memory growing a shadow stack\n");
        exit(1);
    }
    t->roots = grown;
    t->root_capacity = cap;
}

void toyvm_add_global_root(mdn_objref *slot) {
    pthread_mutex_lock(&globals_lock);
    if (nglobals == globals_capacity) {
        size_t cap = globals_capacity ? globals_capacity * 2 : 16;
        mdn_objref **grown = realloc(globals, cap * sizeof *grown);
        if (!grown) {
            fprintf(stderr, "toyvm: out of memory adding a global root\n");
            exit(1);
        }
        globals = grown;
        globals_capacity = cap;
    }
    globals[nglobals++] = slot;
    pthread_mutex_unlock(&globals_lock);
}

void toyvm_remove_global_root(mdn_objref *slot) {
    pthread_mutex_lock(&globals_lock);
    for (size_t i = 0; i < nglobals; i++) {
        if (globals[i] == slot) {
            globals[i] = globals[--nglobals];
            break;
        }
    }
    pthread_mutex_unlock(&globals_lock);
}

/* ---- weak boxes and ephemerons (docs/design/weak.md .weak.toyvm) ------ */

/* [snippet:weak-box] */
mdn_objref toyvm_alloc_weak(toyvm_thread *t, mdn_objref target, unsigned nrefs, size_t payload,
                            mdn_weak_strength strength) {
    if (nrefs < 1) {
        fprintf(stderr, "toyvm: a weak box needs at least one reference field\n");
        abort();
    }
    size_t base = toyvm_push_root(t, target);
    mdn_objref box = toyvm_alloc(t, TOYVM_TYPE_WEAK, nrefs, payload, MDN_ALLOC_DEFAULT);
    if (!mdn_objref_is_null(box)) {
        toyvm_set_ref(t, box, 0, toyvm_root(t, base));
        mdn_weak_register(t->mutator, box, toyvm_ref_slot(box, 0), strength);
    }
    toyvm_pop_roots(t, 1);
    return box;
}
/* [/snippet] */

mdn_objref toyvm_alloc_ephemeron(toyvm_thread *t, mdn_objref key, mdn_objref value, unsigned nrefs, size_t payload) {
    if (nrefs < 2) {
        fprintf(stderr, "toyvm: an ephemeron needs at least two reference fields\n");
        abort();
    }
    size_t base = toyvm_push_root(t, key);
    toyvm_push_root(t, value);
    mdn_objref e = toyvm_alloc(t, TOYVM_TYPE_EPHEMERON, nrefs, payload, MDN_ALLOC_DEFAULT);
    if (!mdn_objref_is_null(e)) {
        toyvm_set_ref(t, e, 0, toyvm_root(t, base));
        toyvm_set_ref(t, e, 1, toyvm_root(t, base + 1));
        mdn_ephemeron_register(t->mutator, e, toyvm_ref_slot(e, 0), toyvm_ref_slot(e, 1));
    }
    toyvm_pop_roots(t, 2);
    return e;
}

/* ---- the binding contract ---------------------------------------------- */

void mdn_vm_scan_roots(mdn_heap *heap, mdn_tracer *tracer) {
    pthread_mutex_lock(&globals_lock);
    if (gc_hook)
        gc_hook(heap, gc_hook_arg);
    for (size_t i = 0; i < nglobals; i++)
        mdn_trace_slot(tracer, mdn_slot_from_ptr(globals[i]));
    pthread_mutex_unlock(&globals_lock);
}

void mdn_vm_scan_mutator_roots(mdn_mutator *mutator, void *vm_thread, mdn_tracer *tracer) {
    (void)mutator;
    toyvm_thread *t = vm_thread;
    __atomic_fetch_add(&t->root_scans, 1, __ATOMIC_RELEASE);
    for (size_t i = 0; i < t->root_count; i++)
        mdn_trace_slot(tracer, mdn_slot_from_ptr(&t->roots[i]));
}

void mdn_vm_out_of_memory(mdn_heap *heap, size_t bytes) {
    if (__atomic_load_n(&oom_mode, __ATOMIC_RELAXED) == TOYVM_OOM_RETURN) {
        __atomic_fetch_add(&oom_count, 1, __ATOMIC_RELAXED);
        return;
    }
    mdn_stats st;
    mdn_stats_get(heap, &st);
    fprintf(stderr,
            "toyvm: out of memory: could not allocate %zu bytes in a heap of %" PRIu64 " bytes (plan %s, %" PRIu64
            " collections)\n",
            bytes, st.heap_size, mdn_plan_name(), st.collections);
    fflush(stderr);
    exit(TOYVM_OOM_EXIT_STATUS);
}
