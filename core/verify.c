/* verify.c: reachability walk with an open-addressing visited set. */
#include "core/verify.h"

#include "core/heap.h"
#include "core/plan.h"

#include <stdlib.h>
#include <string.h>

typedef struct mdn_verifier {
    mdn_heap *heap;
    uintptr_t *set; /* open addressing, 0 = empty */
    size_t set_capacity, set_count;
    uintptr_t *stack;
    size_t stack_count, stack_capacity;
    uintptr_t current; /* object being scanned, 0 for roots */
    const char *root_kind;
} mdn_verifier;

static size_t hash_word(uintptr_t x) {
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    return (size_t)x;
}

static bool set_insert(mdn_verifier *v, uintptr_t key) {
    if ((v->set_count + 1) * 2 > v->set_capacity) {
        size_t cap = v->set_capacity ? v->set_capacity * 2 : 4096;
        uintptr_t *grown = calloc(cap, sizeof *grown);
        if (!grown)
            mdn_fatal("heap verifier: out of memory");
        for (size_t i = 0; i < v->set_capacity; i++) {
            if (v->set[i]) {
                size_t j = hash_word(v->set[i]) & (cap - 1);
                while (grown[j])
                    j = (j + 1) & (cap - 1);
                grown[j] = v->set[i];
            }
        }
        free(v->set);
        v->set = grown;
        v->set_capacity = cap;
    }
    size_t j = hash_word(key) & (v->set_capacity - 1);
    while (v->set[j]) {
        if (v->set[j] == key)
            return false;
        j = (j + 1) & (v->set_capacity - 1);
    }
    v->set[j] = key;
    v->set_count++;
    return true;
}

static void push(mdn_verifier *v, uintptr_t obj) {
    if (v->stack_count == v->stack_capacity) {
        size_t cap = v->stack_capacity ? v->stack_capacity * 2 : 4096;
        uintptr_t *grown = realloc(v->stack, cap * sizeof *grown);
        if (!grown)
            mdn_fatal("heap verifier: out of memory");
        v->stack = grown;
        v->stack_capacity = cap;
    }
    v->stack[v->stack_count++] = obj;
}

MDN_NORETURN static void report(const mdn_verifier *v, mdn_slot slot, mdn_objref obj, const char *what) {
    if (v->current)
        mdn_fatal("heap verifier: %s: slot %p of object %p holds %p (plan %s)", what, (void *)slot.value,
                  (void *)v->current, (void *)obj.value, mdn_plan_name_string);
    mdn_fatal("heap verifier: %s: %s root slot %p holds %p (plan %s)", what, v->root_kind, (void *)slot.value,
              (void *)obj.value, mdn_plan_name_string);
}

void mdn_verify_slot(mdn_tracer *t, mdn_slot slot) {
    mdn_verifier *v = t->verifier;
    mdn_objref obj = mdn_slot_load(slot);
    if (mdn_objref_is_null(obj))
        return;
    mdn_heap *heap = v->heap;
    if (mdn_vmspace_space_of(&heap->vm, mdn_objref_to_address(obj)) == MDN_SPACE_NONE)
        report(v, slot, obj, "reference outside every space");
    if (!plan_is_live_object(heap, obj))
        report(v, slot, obj, "reference to a dead or invalid object");
    size_t size = mdn_vm_object_size(obj);
    mdn_address start = mdn_vm_object_start(obj);
    if (size < MDN_WORD_SIZE || (size & (MDN_MIN_ALIGN - 1)) != 0)
        report(v, slot, obj, "object with an impossible size");
    mdn_address last = mdn_address_add(start, size - 1);
    if (mdn_vmspace_space_of(&heap->vm, last) != mdn_vmspace_space_of(&heap->vm, start))
        report(v, slot, obj, "object extends past its space");
    if (set_insert(v, obj.value))
        push(v, obj.value);
}

size_t mdn_verify_heap(mdn_heap *heap) {
    mdn_verifier v;
    memset(&v, 0, sizeof v);
    v.heap = heap;
    mdn_tracer t;
    memset(&t, 0, sizeof t);
    t.heap = heap;
    t.verifier = &v;
    v.root_kind = "global";
    mdn_vm_scan_roots(heap, &t);
    v.root_kind = "registered";
    pthread_mutex_lock(&heap->roots_lock);
    for (size_t i = 0; i < heap->nroots; i++)
        for (size_t j = 0; j < heap->roots[i].count; j++)
            mdn_trace_slot(&t, mdn_slot_from_ptr(&heap->roots[i].start[j]));
    pthread_mutex_unlock(&heap->roots_lock);
    v.root_kind = "mutator";
    MDN_FOR_EACH_MUTATOR(heap, m) { mdn_vm_scan_mutator_roots(m, m->vm_thread, &t); }
    while (v.stack_count) {
        v.current = v.stack[--v.stack_count];
        mdn_vm_scan_object(mdn_objref_from_address(mdn_address_from_word(v.current)), &t);
    }
    size_t reached = v.set_count;
    free(v.set);
    free(v.stack);
    if (heap->options.verbose >= 1)
        fprintf(stderr, "midden: verified %zu reachable objects\n", reached);
    return reached;
}
