/* heap.c: heap creation and destruction, registered roots, plan name. */
#include "core/heap.h"

#include "core/conservative.h"
#include "core/plan.h"
#include "core/weak.h"

#include "core/block_pool.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The policy `heap-policy=auto` picks when no heap size is given
 * (docs/design/sizing.md .sizing.default). */
#define MDN_DEFAULT_GROWING_POLICY MDN_HEAP_POLICY_GROWABLE

const char *mdn_plan_name(void) { return mdn_plan_name_string; }

void mdn_heap_check_api(const mdn_heap *heap, const char *check) {
    if (!heap)
        mdn_misuse(check, "the heap is NULL");
    if (heap->magic != MDN_HEAP_MAGIC)
        mdn_misuse(check, "%p is not a live heap (destroyed or never created)", (const void *)heap);
}

static size_t physical_memory(void) {
    long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
    if (pages <= 0 || page <= 0)
        return (size_t)1 << 32; /* unknown: assume 4 GiB */
    return (size_t)pages * (size_t)page;
}

bool mdn_heap_sizing_init(const mdn_options *opts, unsigned *policy, size_t *initial, size_t *max,
                          mdn_error *err) {
    unsigned p = opts->heap_policy;
    if (p == MDN_HEAP_POLICY_AUTO)
        p = opts->heap_size ? MDN_HEAP_POLICY_FIXED : MDN_DEFAULT_GROWING_POLICY;
    if (p == MDN_HEAP_POLICY_FIXED) {
        if (opts->heap_size == 0) {
            mdn_error_set(err, MDN_ERR_OPTION, "option 'heap-policy': fixed needs the heap size: set heap=SIZE");
            return false;
        }
        *policy = p;
        *initial = *max = opts->heap_size;
        return true;
    }
    if (opts->heap_size != 0) {
        mdn_error_set(err, MDN_ERR_OPTION,
                      "option 'heap-policy': %s conflicts with heap=%zu (a fixed heap); give heap-initial and "
                      "heap-max instead",
                      p == MDN_HEAP_POLICY_GROWABLE ? "growable" : "adaptive", opts->heap_size);
        return false;
    }
    size_t m = opts->heap_max;
    if (m == 0) {
        m = physical_memory() / 4;
        if (m < 64 * ((size_t)1 << 20))
            m = 64 * ((size_t)1 << 20);
    }
    if (opts->heap_initial > m) {
        mdn_error_set(err, MDN_ERR_OPTION, "option 'heap-initial': %zu is larger than heap-max (%zu)",
                      opts->heap_initial, m);
        return false;
    }
    *policy = p;
    *initial = opts->heap_initial;
    *max = m;
    return true;
}

mdn_heap *mdn_heap_create(const mdn_options *opts, mdn_error *err) {
    mdn_options merged;
    if (opts)
        merged = *opts;
    else
        mdn_options_init(&merged);
    /* The program's settings first, the environment last (env=0 opts out). */
    if (merged.env && !mdn_options_from_env(&merged, err))
        return NULL;
    opts = &merged;
    if (!mdn_options_validate(opts, err))
        return NULL;
    unsigned policy;
    size_t initial, max;
    if (!mdn_heap_sizing_init(opts, &policy, &initial, &max, err))
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
    /* .heap.reserve: room for the largest budget twice over plus slack for
     * chunks held partly empty by different spaces; address space is cheap. */
    size_t reserve = max * 2 + 64 * MDN_CHUNK_SIZE;
    if (!mdn_vmspace_init(&heap->vm, reserve, initial, err)) {
        free(heap);
        return NULL;
    }
    heap->vm.max = max;
    /* A plan that never collects has no trigger: its limit is the maximum. */
    if (!plan_can_collect)
        heap->vm.budget = max;
    heap->vm.poison = heap->options.poison;
    heap->sizing.policy = policy;
    heap->sizing.last_end_ns = heap->sizing.window_start_ns = mdn_now_ns();
    pthread_mutex_init(&heap->lock, NULL);
    pthread_cond_init(&heap->stopped_cond, NULL);
    pthread_cond_init(&heap->resume_cond, NULL);
    pthread_mutex_init(&heap->roots_lock, NULL);
    pthread_mutex_init(&heap->listeners_lock, NULL);
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
                heap->tracers[i].ring_room = MDN_TRACE_FIFO;
                heap->tracers[i].local = malloc(1024 * sizeof(uintptr_t));
                if (!heap->tracers[i].local) {
                    mdn_error_set(err, MDN_ERR_MEMORY, "cannot allocate the collector's work stacks");
                    mdn_heap_destroy(heap);
                    return NULL;
                }
            }
        }
    }
    if (heap->options.conservative && !mdn_conservative_create(heap, err)) {
        mdn_heap_destroy(heap);
        return NULL;
    }
    if (!mdn_obs_init(heap, err)) {
        mdn_heap_destroy(heap);
        return NULL;
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
    mdn_obs_destroy(heap);
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
    mdn_array_free(heap->roots, heap->roots_capacity, sizeof *heap->roots);
    mdn_conservative_destroy(heap);
    mdn_weak_destroy(heap);
    mdn_stats_destroy(&heap->stats);
    pthread_mutex_destroy(&heap->roots_lock);
    pthread_mutex_destroy(&heap->listeners_lock);
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
    mdn_lock_for_mutator(&heap->roots_lock);
    for (size_t i = 0; i < heap->nroots; i++) {
        if (heap->roots[i].start == start) {
            mdn_unlock_for_mutator(&heap->roots_lock);
            mdn_misuse("add_roots", "a root range starting at %p is already registered", (void *)start);
        }
    }
    heap->roots = mdn_array_reserve(heap->roots, heap->nroots, &heap->roots_capacity, sizeof *heap->roots, 8,
                                    "registering roots");
    heap->roots[heap->nroots].start = start;
    heap->roots[heap->nroots].count = count;
    heap->nroots++;
    mdn_unlock_for_mutator(&heap->roots_lock);
}

void mdn_remove_roots(mdn_heap *heap, mdn_objref *start) {
    mdn_heap_check_api(heap, "remove_roots");
    mdn_lock_for_mutator(&heap->roots_lock);
    for (size_t i = 0; i < heap->nroots; i++) {
        if (heap->roots[i].start == start) {
            heap->roots[i] = heap->roots[--heap->nroots];
            mdn_unlock_for_mutator(&heap->roots_lock);
            return;
        }
    }
    mdn_unlock_for_mutator(&heap->roots_lock);
    mdn_misuse("remove_roots", "no root range starting at %p is registered", (void *)start);
}

/* ---- heap sizing (docs/design/sizing.md) ------------------------------------ */

/* .sizing.room: the least a growing heap may allocate after a collection
 * beyond what it refused: 32 Immix blocks, a quarter of a chunk. */
#define MDN_SIZING_ROOM ((size_t)1 << 20)

/* Square root by Newton's method (no libm in the core). */
static double square_root(double x) {
    if (x <= 0)
        return 0;
    double r = x > 1 ? x : 1;
    for (int i = 0; i < 80; i++)
        r = 0.5 * (r + x / r);
    return r;
}

/* .sizing.share: the growable factor, in percent, for a GC share of
 * heap-gc-share percent: with room R per byte in use, one window's GC time
 * over its mutator time is about k / R, so the share s measured at room R
 * gives k = R s / (1 - s), and the target share t needs R = k (1 - t) / t.
 * Between heap-factor-min and heap-factor; heap-factor before the first
 * window is measured. */
static unsigned share_factor(mdn_heap *heap, unsigned most) {
    const mdn_options *o = &heap->options;
    unsigned least = o->heap_factor_min < most ? o->heap_factor_min : most;
    if (!o->heap_gc_share || heap->sizing.window_room <= 0)
        return most;
    uint64_t wall = mdn_now_ns() - heap->sizing.window_start_ns;
    double share = wall ? (double)heap->sizing.window_gc_ns / (double)wall : 1.0;
    if (share > 0.99)
        share = 0.99;
    double k = heap->sizing.window_room * share / (1.0 - share);
    /* A quarter of each new window: one window's timing noise (a
     * descheduled GC thread) moves the factor little. */
    heap->sizing.gc_cost = heap->sizing.gc_cost > 0 ? 0.75 * heap->sizing.gc_cost + 0.25 * k : k;
    double target = o->heap_gc_share / 100.0;
    double percent = 100.0 * (1.0 + heap->sizing.gc_cost * (1.0 - target) / target);
    return percent >= most ? most : percent <= least ? least : (unsigned)percent;
}

/* .sizing.shrink: the bytes in use a growable limit is set for after a
 * full collection leaves `used`: the most since the bytes in use last fell
 * below 100/heap-shrink-ratio of it. Other policies: `used`. */
static size_t sized_for(mdn_heap *heap, size_t used) {
    if (heap->sizing.policy != MDN_HEAP_POLICY_GROWABLE)
        return used;
    size_t sized = heap->sizing.sized_used;
    if (used >= sized || (double)sized * 100.0 > (double)used * heap->options.heap_shrink_ratio)
        heap->sizing.sized_used = sized = used;
    return sized;
}

/* .sizing.limit: the policy's limit for `used` bytes in use after a
 * collection, before the bounds. */
static size_t policy_limit(mdn_heap *heap, size_t used, uint64_t pause_ns) {
    const mdn_options *o = &heap->options;
    switch (heap->sizing.policy) {
    case MDN_HEAP_POLICY_GROWABLE: {
        /* Atomic: mdn_heap_set_factor and mdn_heap_expand change them (.sizing.runtime). */
        unsigned factor = share_factor(heap, __atomic_load_n(&o->heap_factor, __ATOMIC_RELAXED));
        size_t floor = __atomic_load_n(&o->heap_initial, __ATOMIC_RELAXED);
        size_t limit = (size_t)((double)used * factor / 100.0);
        /* .sizing.growth: while the live size grows the limit rises by
         * steps, so the collection after the growth stops comes sooner. */
        size_t before = mdn_budget_limit(&heap->vm);
        if (o->heap_growth && limit > before) {
            size_t step = (size_t)((double)before * o->heap_growth / 100.0);
            if (limit > step)
                limit = step;
        }
        return limit > floor ? limit : floor;
    }
    case MDN_HEAP_POLICY_ADAPTIVE: {
        /* .sizing.adaptive: rates smoothed over collections; the
         * allocation rate per second of mutator time, the collection rate as
         * bytes in use per second of collection. */
        uint64_t now = mdn_now_ns();
        uint64_t allocated = __atomic_load_n(&heap->stats.bytes_allocated, __ATOMIC_RELAXED);
        uint64_t delta = allocated >= heap->sizing.last_allocated ? allocated - heap->sizing.last_allocated : allocated;
        uint64_t mutator_ns = now - heap->sizing.last_end_ns > pause_ns ? now - heap->sizing.last_end_ns - pause_ns : 1;
        double g = (double)delta * 1e9 / (double)mutator_ns;
        double s = (double)(used ? used : MDN_CHUNK_SIZE) * 1e9 / (double)(pause_ns ? pause_ns : 1);
        heap->sizing.alloc_rate = heap->sizing.alloc_rate > 0 ? 0.5 * heap->sizing.alloc_rate + 0.5 * g : g;
        heap->sizing.gc_rate = heap->sizing.gc_rate > 0 ? 0.5 * heap->sizing.gc_rate + 0.5 * s : s;
        double extra = (double)o->heap_adaptive_c *
                       square_root((double)used * heap->sizing.alloc_rate / heap->sizing.gc_rate);
        double limit = (double)used + extra;
        return limit > (double)SIZE_MAX / 2 ? SIZE_MAX / 2 : (size_t)limit;
    }
    default:
        return heap->vm.budget;
    }
}

void mdn_heap_after_collection(mdn_heap *heap, uint64_t pause_ns) {
    mdn_vmspace *vs = &heap->vm;
    vs->gc_count++;
    /* .sizing.pool: wholly free chunks become any space's. */
    mdn_vmspace_trim_pools(vs);
    size_t used = mdn_budget_used(vs);
    size_t refused = __atomic_exchange_n(&vs->refused, 0, __ATOMIC_RELAXED);
    heap->sizing.window_gc_ns += pause_ns;
    if (heap->sizing.policy != MDN_HEAP_POLICY_FIXED) {
        /* .sizing.minor: a minor collection leaves the old objects that died
         * in use, so only a full one measures the live size. */
        size_t limit = heap->current_minor ? mdn_budget_limit(vs) : policy_limit(heap, sized_for(heap, used), pause_ns);
        /* .sizing.room: after a collection the heap has room for what was
         * refused, a chunk, and the defragmentation headroom, so a request
         * fails again only at the maximum. */
        size_t max = __atomic_load_n(&vs->max, __ATOMIC_RELAXED);
        size_t room = (refused < max ? refused : max) + MDN_SIZING_ROOM +
                      (size_t)((double)limit * heap->options.defrag_headroom / 100.0);
        if (limit < used + room)
            limit = used + room;
        /* .sizing.keep: a heap that does not shrink keeps the limit it
         * reached. */
        size_t before = mdn_budget_limit(vs);
        if (limit < before && !heap->options.heap_shrink)
            limit = before;
        if (limit > max)
            limit = max;
        __atomic_store_n(&vs->budget, limit, __ATOMIC_RELAXED);
        if (!heap->current_minor) {
            /* .sizing.share: a new window at this limit. */
            heap->sizing.window_start_ns = mdn_now_ns();
            heap->sizing.window_gc_ns = 0;
            heap->sizing.window_room = used && limit > used ? (double)(limit - used) / (double)used : 0;
        }
    }
    heap->sizing.last_end_ns = mdn_now_ns();
    heap->sizing.last_allocated = __atomic_load_n(&heap->stats.bytes_allocated, __ATOMIC_RELAXED);
    /* .sizing.return */
    mdn_vmspace_return_idle(vs, heap->options.return_idle_gcs, (uint64_t)heap->options.return_idle_ms * 1000000u);
}

/* .sizing.runtime: the maximum, the floor and the factor change while the
 * heap runs; each is one atomic word, read by the policy after a collection
 * (and the budget by every block take). heap->lock orders the callers. */
static void require_growing(mdn_heap *heap, const char *check) {
    mdn_heap_check_api(heap, check);
    if (heap->sizing.policy == MDN_HEAP_POLICY_FIXED)
        mdn_misuse(check, "the heap has a fixed size (heap=%zu); only a growing heap can be resized",
                   heap->options.heap_size);
}

size_t mdn_heap_set_max(mdn_heap *heap, size_t bytes) {
    require_growing(heap, "heap_set_max");
    if (bytes < ((size_t)4 << 20))
        mdn_misuse("heap_set_max", "maximum %zu is below the 4 MiB minimum", bytes);
    mdn_vmspace *vs = &heap->vm;
    size_t reserved = (vs->end - vs->start - 64 * MDN_CHUNK_SIZE) / 2; /* .heap.reserve */
    if (bytes > reserved)
        bytes = reserved;
    mdn_lock_for_mutator(&heap->lock);
    __atomic_store_n(&vs->max, bytes, __ATOMIC_RELAXED);
    if (mdn_budget_limit(vs) > bytes)
        __atomic_store_n(&vs->budget, bytes, __ATOMIC_RELAXED);
    mdn_unlock_for_mutator(&heap->lock);
    return bytes;
}

bool mdn_heap_expand(mdn_heap *heap, size_t bytes) {
    require_growing(heap, "heap_expand");
    mdn_vmspace *vs = &heap->vm;
    mdn_lock_for_mutator(&heap->lock);
    size_t max = __atomic_load_n(&vs->max, __ATOMIC_RELAXED);
    size_t limit = mdn_budget_limit(vs);
    bool whole = bytes <= max - limit;
    limit = whole ? limit + bytes : max;
    __atomic_store_n(&vs->budget, limit, __ATOMIC_RELAXED);
    if (limit > heap->options.heap_initial)
        __atomic_store_n(&heap->options.heap_initial, limit, __ATOMIC_RELAXED);
    mdn_unlock_for_mutator(&heap->lock);
    return whole;
}

void mdn_heap_set_factor(mdn_heap *heap, unsigned percent) {
    mdn_heap_check_api(heap, "heap_set_factor");
    if (heap->sizing.policy != MDN_HEAP_POLICY_GROWABLE)
        mdn_misuse("heap_set_factor", "the heap's policy is not growable");
    if (percent < 110 || percent > 10000)
        mdn_misuse("heap_set_factor", "factor %u%% is outside 110..10000", percent);
    __atomic_store_n(&heap->options.heap_factor, percent, __ATOMIC_RELAXED);
}

void mdn_heap_set_collections_disabled(mdn_heap *heap, bool disabled) {
    mdn_heap_check_api(heap, "heap_set_collections_disabled");
    __atomic_store_n(&heap->collections_disabled, disabled, __ATOMIC_RELAXED);
}

bool mdn_heap_grow_for(mdn_heap *heap, size_t bytes) {
    mdn_vmspace *vs = &heap->vm;
    pthread_mutex_lock(&heap->lock);
    size_t max = __atomic_load_n(&vs->max, __ATOMIC_RELAXED);
    size_t limit = mdn_budget_limit(vs);
    bool grew = limit < max;
    if (grew) {
        size_t want = bytes + MDN_CHUNK_SIZE;
        __atomic_store_n(&vs->budget, want < max - limit ? limit + want : max, __ATOMIC_RELAXED);
    }
    pthread_mutex_unlock(&heap->lock);
    return grew;
}

void mdn_external_alloc(mdn_heap *heap, size_t bytes) {
    mdn_heap_check_api(heap, "external_alloc");
    __atomic_fetch_add(&heap->vm.external, bytes, __ATOMIC_RELAXED);
    mdn_budget_force_take(&heap->vm, bytes);
}

void mdn_external_free(mdn_heap *heap, size_t bytes) {
    mdn_heap_check_api(heap, "external_free");
    size_t have = __atomic_load_n(&heap->vm.external, __ATOMIC_RELAXED);
    do {
        if (bytes > have)
            mdn_misuse("external_free", "freeing %zu external bytes but only %zu are counted", bytes, have);
    } while (!__atomic_compare_exchange_n(&heap->vm.external, &have, have - bytes, true, __ATOMIC_RELAXED,
                                          __ATOMIC_RELAXED));
    mdn_budget_give(&heap->vm, bytes);
}
