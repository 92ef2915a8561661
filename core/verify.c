/*
 * verify.c: the heap verifier (verify.h).
 *
 * .verify.walk: a depth-first walk from every root with an open-addressing
 * visited set. Each reference is checked when it is first read (in a
 * space, aligned, not poisoned, live per plan_is_live_object, a size that
 * is not 0, a multiple of 8, within the budget and within one space:
 * .verify.sizes); the record of the object remembers the slot and the
 * holder that first reached it, so later checks can name them.
 * .verify.overlap: after the walk the reached objects are sorted by start;
 * two that overlap mean a reference into the middle of an object (or two
 * allocations sharing memory), which no per-object check can see when the
 * plan's liveness test is coarse (NoGC accepts any granule of its space).
 * .verify.blocks: after plan_release every thread-local allocator is
 * retired, so no block of any space may still be ALLOCATING.
 * .verify.metadata: finally the plan's optional plan_verify_metadata()
 * checks what only the plan knows (marks, line marks, block states).
 * .verify.visit: the walk and the overlap check also serve mdn_heap_walk()
 * (docs/design/observability.md .obs.walk): the reached objects, sorted
 * by start, are handed to a visitor.
 */
#include "core/verify.h"

#include "core/block_pool.h"
#include "core/conservative.h"
#include "core/heap.h"
#include "core/plan.h"
#include "core/poison.h"
#include "core/weak.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct verify_record {
    uintptr_t obj;    /* the reference */
    uintptr_t start;  /* mdn_vm_object_start */
    size_t size;
    uintptr_t slot;   /* the slot that first reached it */
    uintptr_t holder; /* the object holding that slot, 0 for a root */
    const char *root_kind;
} verify_record;

typedef struct mdn_verifier {
    mdn_heap *heap;
    uint32_t *set; /* open addressing over record indices + 1, 0 = empty */
    size_t set_capacity;
    verify_record *records;
    size_t nrecords, records_capacity;
    size_t *stack; /* record indices still to scan */
    size_t stack_count, stack_capacity;
    uintptr_t current; /* object being scanned, 0 for roots */
    const char *root_kind;
    /* .gen.verify: the barrier check (NULL otherwise), and whether the
     * object being scanned is old and not remembered. */
    bool (*is_old)(mdn_heap *heap, mdn_objref obj);
    bool (*is_remembered)(mdn_heap *heap, mdn_objref obj);
    bool current_unremembered_old;
} mdn_verifier;

static size_t hash_word(uintptr_t x) {
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    return (size_t)x;
}

/* The record index of `key`, inserting a new record if absent; *fresh says which. */
static size_t set_find_or_add(mdn_verifier *v, uintptr_t key, bool *fresh) {
    if ((v->nrecords + 1) * 2 > v->set_capacity) {
        size_t cap = v->set_capacity ? v->set_capacity * 2 : 8192;
        uint32_t *grown = mdn_table_alloc(cap * sizeof *grown);
        if (!grown)
            mdn_fatal("heap verifier: out of memory");
        for (size_t i = 0; i < v->set_capacity; i++) {
            if (v->set[i]) {
                size_t j = hash_word(v->records[v->set[i] - 1].obj) & (cap - 1);
                while (grown[j])
                    j = (j + 1) & (cap - 1);
                grown[j] = v->set[i];
            }
        }
        mdn_table_free(v->set, v->set_capacity * sizeof *v->set);
        v->set = grown;
        v->set_capacity = cap;
    }
    size_t j = hash_word(key) & (v->set_capacity - 1);
    while (v->set[j]) {
        if (v->records[v->set[j] - 1].obj == key) {
            *fresh = false;
            return v->set[j] - 1;
        }
        j = (j + 1) & (v->set_capacity - 1);
    }
    v->records = mdn_array_reserve(v->records, v->nrecords, &v->records_capacity, sizeof *v->records, 4096,
                                   "in the heap verifier");
    if (v->nrecords >= UINT32_MAX - 1)
        mdn_fatal("heap verifier: too many objects");
    v->set[j] = (uint32_t)(v->nrecords + 1);
    *fresh = true;
    return v->nrecords++;
}

static void push(mdn_verifier *v, size_t index) {
    v->stack = mdn_array_reserve(v->stack, v->stack_count, &v->stack_capacity, sizeof *v->stack, 4096,
                                 "in the heap verifier");
    v->stack[v->stack_count++] = index;
}

MDN_NORETURN static void report(const mdn_verifier *v, mdn_slot slot, mdn_objref obj, const char *what) {
    if (v->current)
        mdn_fatal("heap verifier: %s: slot %p of object %p holds %p (plan %s)", what, (void *)slot.value,
                  (void *)v->current, (void *)obj.value, mdn_plan_name_string);
    mdn_fatal("heap verifier: %s: %s root slot %p holds %p (plan %s)", what, v->root_kind, (void *)slot.value,
              (void *)obj.value, mdn_plan_name_string);
}

MDN_NORETURN static void report_size(const mdn_verifier *v, mdn_slot slot, mdn_objref obj, size_t size,
                                     const char *what) {
    char msg[160];
    snprintf(msg, sizeof msg, "%s (%zu bytes)", what, size);
    report(v, slot, obj, msg);
}

void mdn_verify_slot(mdn_tracer *t, mdn_slot slot) {
    mdn_verifier *v = t->verifier;
    mdn_objref obj = mdn_slot_load(slot);
    if (mdn_objref_is_null(obj))
        return;
    mdn_heap *heap = v->heap;
    if (obj.value == MDN_POISON_WORD)
        report(v, slot, obj, "reference read from poisoned (reclaimed) memory");
    mdn_address start = mdn_vm_object_start(obj);
    unsigned space = mdn_vmspace_space_of(&heap->vm, start);
    if (space == MDN_SPACE_NONE)
        report(v, slot, obj, "reference outside every space");
    if (!mdn_address_is_aligned(start, MDN_MIN_ALIGN))
        report(v, slot, obj, "reference to a misaligned object start");
    if (heap->vm.poison && mdn_is_poisoned_word(mdn_address_to_ptr(start)))
        report(v, slot, obj, "reference to poisoned (reclaimed) memory");
    if (!v->is_old && !plan_is_live_object(heap, obj))
        report(v, slot, obj, "reference to a dead or invalid object");
    /* .verify.sizes: each impossible size is reported by name. */
    size_t size = mdn_vm_object_size(obj);
    if (size == 0)
        report(v, slot, obj, "object of size 0");
    if ((size & (MDN_MIN_ALIGN - 1)) != 0)
        report_size(v, slot, obj, size, "object size is not a multiple of the 8-byte alignment");
    if (size > heap->vm.budget)
        report_size(v, slot, obj, size, "object size is larger than the heap budget");
    mdn_address last = mdn_address_add(start, size - 1);
    if (last.value < start.value || mdn_vmspace_space_of(&heap->vm, last) != space)
        report_size(v, slot, obj, size, "object extends past its space");
    if (v->current_unremembered_old && !v->is_old(heap, obj))
        mdn_fatal("heap verifier: missing write barrier: slot %p (offset %zu) of old object %p holds young object "
                  "%p, and the old object is not remembered (plan %s)",
                  (void *)slot.value, (size_t)(slot.value - v->current), (void *)v->current, (void *)obj.value,
                  mdn_plan_name_string);
    bool fresh;
    size_t i = set_find_or_add(v, obj.value, &fresh);
    if (fresh) {
        v->records[i] = (verify_record){obj.value, start.value, size, slot.value, v->current, v->root_kind};
        push(v, i);
    }
}

static int by_start(const void *a, const void *b) {
    const verify_record *x = a, *y = b;
    return x->start < y->start ? -1 : x->start > y->start;
}

MDN_NORETURN static void report_overlap(const verify_record *outer, const verify_record *inner) {
    char where[96];
    if (inner->holder)
        snprintf(where, sizeof where, "slot %p of object %p", (void *)inner->slot, (void *)inner->holder);
    else
        snprintf(where, sizeof where, "%s root slot %p", inner->root_kind, (void *)inner->slot);
    mdn_fatal("heap verifier: reference into the middle of an object: %s holds %p, inside object %p "
              "[%p, %p) (plan %s)",
              where, (void *)inner->obj, (void *)outer->obj, (void *)outer->start,
              (void *)(outer->start + outer->size), mdn_plan_name_string);
}

static void check_overlaps(mdn_verifier *v) {
    if (v->nrecords < 2)
        return; /* nothing reached (records NULL): qsort must not see it */
    mdn_sort(v->records, v->nrecords, sizeof *v->records, by_start);
    for (size_t i = 1; i < v->nrecords; i++) {
        const verify_record *prev = &v->records[i - 1];
        if (prev->start + prev->size > v->records[i].start)
            report_overlap(prev, &v->records[i]);
    }
}

static void check_blocks(mdn_heap *heap) {
    const mdn_vmspace *vs = &heap->vm;
    for (size_t c = 0; c < vs->nchunks; c++) {
        unsigned space = __atomic_load_n(&vs->chunk_space[c], __ATOMIC_RELAXED);
        if (space == MDN_SPACE_NONE)
            continue;
        for (size_t b = c * MDN_BLOCKS_PER_CHUNK; b < (c + 1) * MDN_BLOCKS_PER_CHUNK; b++) {
            if (__atomic_load_n(&vs->block_state[b], __ATOMIC_RELAXED) == MDN_BLOCK_ALLOCATING)
                mdn_verify_fail("block %p of space %u is still ALLOCATING after the collection retired every "
                                "allocator",
                                mdn_address_to_ptr(mdn_vmspace_block_at(vs, b)), space);
        }
    }
}

void mdn_verify_fail(const char *fmt, ...) {
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    mdn_fatal("heap verifier: metadata: %s (plan %s)", msg, mdn_plan_name_string);
}

static size_t walk(mdn_heap *heap, mdn_heap_walk_fn visit, void *data, bool (*is_old)(mdn_heap *, mdn_objref),
                   bool (*is_remembered)(mdn_heap *, mdn_objref)) {
    mdn_verifier v;
    memset(&v, 0, sizeof v);
    v.heap = heap;
    v.is_old = is_old;
    v.is_remembered = is_remembered;
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
    /* .verify.ambiguous: the ambiguous roots too, or an object reachable
     * only from a stack, a register, static data or a registered range is
     * never checked. Found through the valid bitmap, which the collection
     * has cleared of every object it did not reach. */
    if (heap->cons) {
        v.root_kind = "ambiguous";
        mdn_conservative_scan_roots(heap, &t);
    }
    /* The weak tables' holders and targets are checked after a collection
     * only: before a minor one the young objects are not marked yet, and
     * weak references need no barrier (every collection processes every
     * registration, docs/design/weak.md .weak.queries). */
    if (!is_old) {
        v.root_kind = "weak slot, ephemeron or finalizer";
        mdn_weak_verify(heap, &t);
    }
    while (v.stack_count) {
        v.current = v.records[v.stack[--v.stack_count]].obj;
        if (is_old) {
            mdn_objref cur = mdn_objref_from_address(mdn_address_from_word(v.current));
            v.current_unremembered_old = is_old(heap, cur) && !is_remembered(heap, cur);
        }
        mdn_vm_scan_object(mdn_objref_from_address(mdn_address_from_word(v.current)), &t);
    }
    size_t reached = v.nrecords;
    check_overlaps(&v);
    for (size_t i = 0; visit && i < v.nrecords; i++) {
        const verify_record *r = &v.records[i];
        visit(mdn_objref_from_address(mdn_address_from_word(r->obj)), r->size,
              mdn_vmspace_space_of(&heap->vm, mdn_address_from_word(r->start)), data);
    }
    mdn_table_free(v.set, v.set_capacity * sizeof *v.set);
    mdn_array_free(v.records, v.records_capacity, sizeof *v.records);
    mdn_array_free(v.stack, v.stack_capacity, sizeof *v.stack);
    return reached;
}

size_t mdn_verify_walk(mdn_heap *heap, mdn_heap_walk_fn visit, void *data) {
    return walk(heap, visit, data, NULL, NULL);
}

size_t mdn_verify_barriers(mdn_heap *heap, bool (*is_old)(mdn_heap *heap, mdn_objref obj),
                           bool (*is_remembered)(mdn_heap *heap, mdn_objref obj)) {
    size_t reached = walk(heap, NULL, NULL, is_old, is_remembered);
    if (heap->options.verbose >= 1)
        fprintf(stderr, "midden: verified the write barrier on %zu reachable objects\n", reached);
    return reached;
}

size_t mdn_verify_heap(mdn_heap *heap) {
    size_t reached = mdn_verify_walk(heap, NULL, NULL);
    check_blocks(heap);
    if (plan_verify_metadata)
        plan_verify_metadata(heap);
    if (heap->options.verbose >= 1)
        fprintf(stderr, "midden: verified %zu reachable objects\n", reached);
    return reached;
}
