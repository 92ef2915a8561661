/* heap.c: heap creation and destruction, registered roots, plan name. */
#include "core/heap.h"

#include "core/plan.h"
#include "core/weak.h"

#include <stdlib.h>
#include <string.h>

const char *mdn_plan_name(void) { return mdn_plan_name_string; }

void mdn_heap_check_api(const mdn_heap *heap, const char *check) {
    if (!heap)
        mdn_misuse(check, "the heap is NULL");
    if (heap->magic != MDN_HEAP_MAGIC)
        mdn_misuse(check, "%p is not a live heap (destroyed or never created)", (const void *)heap);
}

mdn_heap *mdn_heap_create(const mdn_options *opts, mdn_error *err) {
    mdn_options defaults;
    if (!opts) {
        mdn_options_init(&defaults);
        opts = &defaults;
    }
    if (!mdn_options_validate(opts, err))
        return NULL;
    mdn_heap *heap = calloc(1, sizeof *heap);
    if (!heap) {
        mdn_error_set(err, MDN_ERR_MEMORY, "cannot allocate the heap structure");
        return NULL;
    }
    heap->options = *opts;
    if (heap->options.gc_threads == 0)
        heap->options.gc_threads = mdn_cpu_count();
#ifdef MDN_DEBUG
    heap->options.poison = true; /* debug builds always poison reclaimed memory */
#endif
    /* .heap.reserve: room for the budget twice over plus slack for chunks
     * held partly empty by different spaces; address space is cheap. */
    size_t reserve = opts->heap_size * 2 + 64 * MDN_CHUNK_SIZE;
    if (!mdn_vmspace_init(&heap->vm, reserve, opts->heap_size, err)) {
        free(heap);
        return NULL;
    }
    heap->vm.poison = heap->options.poison;
    pthread_mutex_init(&heap->lock, NULL);
    pthread_cond_init(&heap->stopped_cond, NULL);
    pthread_cond_init(&heap->resume_cond, NULL);
    pthread_mutex_init(&heap->roots_lock, NULL);
    mdn_stats_init(&heap->stats);
    heap->magic = MDN_HEAP_MAGIC;
    if (!mdn_weak_create(heap)) {
        mdn_error_set(err, MDN_ERR_MEMORY, "cannot allocate the weak reference tables");
        mdn_heap_destroy(heap);
        return NULL;
    }

    heap->nworkers = heap->options.gc_threads;
    if (plan_can_collect) {
        heap->workers = mdn_workers_create(heap->nworkers, err);
        heap->queue = heap->workers ? mdn_workqueue_create(heap->nworkers) : NULL;
        heap->tracers = heap->queue ? aligned_alloc(64, heap->nworkers * sizeof(mdn_tracer)) : NULL;
        if (!heap->tracers) {
            if (heap->workers && err && err->code == MDN_OK)
                mdn_error_set(err, MDN_ERR_MEMORY, "cannot allocate the collector's work queues");
            mdn_heap_destroy(heap);
            return NULL;
        }
        memset(heap->tracers, 0, heap->nworkers * sizeof(mdn_tracer));
        for (unsigned i = 0; i < heap->nworkers; i++) {
            heap->tracers[i].heap = heap;
            heap->tracers[i].worker = i;
            heap->tracers[i].deque = mdn_workqueue_deque(heap->queue, i);
            if (heap->nworkers > 1 || !plan_breadth_first) {
                heap->tracers[i].local_capacity = 1024;
                heap->tracers[i].local = malloc(1024 * sizeof(uintptr_t));
                if (!heap->tracers[i].local) {
                    mdn_error_set(err, MDN_ERR_MEMORY, "cannot allocate the collector's work stacks");
                    mdn_heap_destroy(heap);
                    return NULL;
                }
            }
        }
    }
    if (!plan_create(heap, err)) {
        heap->plan = NULL;
        mdn_heap_destroy(heap);
        return NULL;
    }
    if (err)
        err->code = MDN_OK, err->message[0] = '\0';
    return heap;
}

void mdn_heap_destroy(mdn_heap *heap) {
    mdn_heap_check_api(heap, "heap_destroy");
    if (heap->nmutators)
        mdn_misuse("heap_destroy", "%zu mutator(s) are still bound; unbind them first", heap->nmutators);
    if (heap->plan)
        plan_destroy(heap);
    for (mdn_mutator *m = heap->free_mutators, *next; m; m = next) {
        next = m->next;
        free(m);
    }
    if (heap->workers)
        mdn_workers_destroy(heap->workers);
    if (heap->queue)
        mdn_workqueue_destroy(heap->queue);
    for (unsigned i = 0; heap->tracers && i < heap->nworkers; i++)
        free(heap->tracers[i].local);
    free(heap->tracers);
    free(heap->roots);
    mdn_weak_destroy(heap);
    mdn_stats_destroy(&heap->stats);
    pthread_mutex_destroy(&heap->roots_lock);
    pthread_cond_destroy(&heap->resume_cond);
    pthread_cond_destroy(&heap->stopped_cond);
    pthread_mutex_destroy(&heap->lock);
    mdn_vmspace_destroy(&heap->vm);
    heap->magic = 0;
    free(heap);
}

const mdn_options *mdn_heap_options(const mdn_heap *heap) {
    mdn_heap_check_api(heap, "heap_options");
    return &heap->options;
}

void mdn_add_roots(mdn_heap *heap, mdn_objref *start, size_t count) {
    mdn_heap_check_api(heap, "add_roots");
    if (!start)
        mdn_misuse("add_roots", "the root range start is NULL");
    if (((uintptr_t)start & (sizeof(uintptr_t) - 1)) != 0)
        mdn_misuse("add_roots", "root range %p is not word aligned", (void *)start);
    pthread_mutex_lock(&heap->roots_lock);
    for (size_t i = 0; i < heap->nroots; i++) {
        if (heap->roots[i].start == start) {
            pthread_mutex_unlock(&heap->roots_lock);
            mdn_misuse("add_roots", "a root range starting at %p is already registered", (void *)start);
        }
    }
    heap->roots = mdn_array_reserve(heap->roots, heap->nroots, &heap->roots_capacity, sizeof *heap->roots, 8,
                                    "registering roots");
    heap->roots[heap->nroots].start = start;
    heap->roots[heap->nroots].count = count;
    heap->nroots++;
    pthread_mutex_unlock(&heap->roots_lock);
}

void mdn_remove_roots(mdn_heap *heap, mdn_objref *start) {
    mdn_heap_check_api(heap, "remove_roots");
    pthread_mutex_lock(&heap->roots_lock);
    for (size_t i = 0; i < heap->nroots; i++) {
        if (heap->roots[i].start == start) {
            heap->roots[i] = heap->roots[--heap->nroots];
            pthread_mutex_unlock(&heap->roots_lock);
            return;
        }
    }
    pthread_mutex_unlock(&heap->roots_lock);
    mdn_misuse("remove_roots", "no root range starting at %p is registered", (void *)start);
}
