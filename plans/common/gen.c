/*
 * gen.c: the generational part of the common plan layer (gen.h;
 * docs/design/generational.md).
 */
#include "plans/common/gen.h"

#include "core/plan.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

bool mdn_gen_init(mdn_gen *g, mdn_heap *heap) {
    if (!mdn_side_metadata_init(&g->unlogged, &heap->vm, MDN_LOG_GRANULE, 0, "unlogged"))
        return false;
    /* .gen.barrier: the byte of reference r is base[(r - start) >> 6]; the
     * reservation starts on a chunk boundary, so (start >> 6) is exact and
     * the bit within the byte is (r >> 3) & 7. */
    g->bias = (uintptr_t)g->unlogged.base - (g->unlogged.heap_start >> (MDN_LOG_GRANULE + 3));
    pthread_mutex_init(&g->lock, NULL);
    g->allocated_mark = 0;
    g->aged_scale = 1;
    return true;
}

void mdn_gen_destroy(mdn_gen *g) {
    if (!g->unlogged.base)
        return;
    pthread_mutex_destroy(&g->lock);
    mdn_array_free(g->remset, g->remset_capacity, sizeof *g->remset);
    g->remset = NULL;
    mdn_side_metadata_destroy(&g->unlogged);
}

void mdn_gen_mutator_init(const mdn_gen *g, mdn_mutator *m, mdn_gen_buffer *b) {
    b->count = 0;
    m->fast.barrier_bias = g->bias;
}

void mdn_gen_flush(mdn_gen *g, mdn_gen_buffer *b) {
    if (b->count == 0)
        return;
    pthread_mutex_lock(&g->lock);
    g->remset = mdn_array_reserve(g->remset, g->nremset + b->count - 1, &g->remset_capacity, sizeof *g->remset, 1024,
                                  "for the remembered set");
    for (size_t i = 0; i < b->count; i++)
        g->remset[g->nremset++] = b->entries[i];
    g->logged += b->count;
    g->flushes++;
    pthread_mutex_unlock(&g->lock);
    b->count = 0;
}

/* .gen.log: clear the bit with an atomic and; only the thread that saw it
 * set logs the object, so each object is logged once per cycle. */
void mdn_gen_log(mdn_gen *g, mdn_gen_buffer *b, mdn_objref obj) {
    mdn_address a = mdn_objref_to_address(obj);
    if (a.value < g->unlogged.heap_start || a.value >= g->unlogged.heap_end)
        mdn_misuse("write_barrier", "object %p is not in the heap", (void *)obj.value);
    size_t i = mdn_side_index(&g->unlogged, a);
    uint8_t mask = (uint8_t)(1u << (i & 7));
    if (!(__atomic_fetch_and(&g->unlogged.base[i >> 3], (uint8_t)~mask, __ATOMIC_RELAXED) & mask))
        return; /* another thread logged it first */
    /* Counted when the buffer is flushed, under the lock: a shared counter
     * here would be a contended cache line on every thread's slow path. */
    if (b->count == MDN_GEN_BUFFER_ENTRIES)
        mdn_gen_flush(g, b);
    b->entries[b->count++] = obj.value;
}

/* .gen.disarm: the next collection is full and reads no remembered set,
 * so clear the unlogged bits of every chunk in use: until that collection
 * marks objects again, no store takes the barrier's slow path. A plain
 * store of zeros, not a decommit: the pages are written again soon. */
static void disarm_barrier(mdn_gen *g, mdn_heap *heap) {
    const mdn_vmspace *vs = &heap->vm;
    size_t bytes = (size_t)MDN_CHUNK_SIZE >> (MDN_LOG_GRANULE + 3);
    for (size_t i = 0; i < vs->nchunks; i++) {
        if (__atomic_load_n(&vs->chunk_space[i], __ATOMIC_RELAXED) == MDN_SPACE_NONE)
            continue;
        mdn_address chunk = mdn_address_from_word(vs->start + (i << MDN_LOG_CHUNK));
        memset(g->unlogged.base + (mdn_side_index(&g->unlogged, chunk) >> 3), 0, bytes);
    }
}

/* .gen.backoff: after a full collection that left `used` bytes in use
 * under a heap limit of `limit`. One that left at least gen-min-yield
 * percent of the limit fewer bytes in use than the collection before it
 * found enough old objects that died to matter to the heap's size, and rule
 * (c) keeps its pace; one that rule (c) alone asked for and that found
 * fewer waits twice as long next time, up to MDN_GEN_AGED_SCALE_MAX
 * times. */
static void adjust_aged_scale(mdn_gen *g, const mdn_heap *heap, size_t used, size_t limit) {
    bool found = used < g->used_after &&
                 (double)(g->used_after - used) * 100.0 >= (double)heap->options.gen_min_yield * (double)limit;
    if (found)
        g->aged_scale = 1;
    else if (g->aged && g->aged_scale < MDN_GEN_AGED_SCALE_MAX)
        g->aged_scale *= 2;
}

/* .gen.policy */
bool mdn_gen_collection_full(mdn_gen *g, mdn_heap *heap, bool requested) {
    bool full = requested || g->next_full;
    g->minor = !full;
    g->aged = !requested && g->next_aged;
    g->used_before = mdn_budget_used(&heap->vm);
    uint64_t now = __atomic_load_n(&heap->stats.bytes_allocated, __ATOMIC_RELAXED);
    /* The statistics restart at mdn_harness_begin: count from there. */
    g->allocated_since = now >= g->allocated_mark ? now - g->allocated_mark : now;
    if (full)
        g->full_collections++;
    else
        g->minor_collections++;
    return full;
}

void mdn_gen_released(mdn_gen *g, mdn_heap *heap) {
    size_t used = mdn_budget_used(&heap->vm);
    size_t limit = mdn_budget_limit(&heap->vm);
    bool crowded = (double)used * 100.0 > (double)heap->options.gen_full_threshold * (double)limit;
    bool low_yield = false;
    if (g->minor) {
        size_t reclaimed = g->used_before > used ? g->used_before - used : 0;
        uint64_t allocated = g->allocated_since;
        g->last_yield = allocated ? (unsigned)(reclaimed * 100 / allocated > 100 ? 100 : reclaimed * 100 / allocated)
                                  : 100;
        low_yield = allocated != 0 && g->last_yield < heap->options.gen_min_yield;
    }
    g->allocated_since_full = g->minor ? g->allocated_since_full + g->allocated_since : 0;
    if (!g->minor)
        g->used_after_full = used;
    /* Old objects that died are only found by a full collection: on a heap
     * whose policy follows the live size, one follows once enough was
     * allocated (and so may have been promoted and died) since the last.
     * A fixed heap relies on the other two rules. */
    if (!g->minor)
        adjust_aged_scale(g, heap, used, limit);
    bool aged = heap->sizing.policy != MDN_HEAP_POLICY_FIXED &&
                (double)g->allocated_since_full * 100.0 >
                    (double)heap->options.gen_full_alloc * g->aged_scale *
                        (double)(g->used_after_full ? g->used_after_full : 1);
    /* A heap left crowded by any collection, full or minor, has too little
     * room for a minor collection to pay: what it could reclaim is less
     * than what the next full one finds among the old objects. */
    bool by_size = crowded || (g->minor && low_yield);
    g->next_full = by_size || (g->minor && aged);
    g->next_aged = g->next_full && !by_size;
    g->used_after = used;
    if (g->next_full)
        disarm_barrier(g, heap);
    g->allocated_mark = __atomic_load_n(&heap->stats.bytes_allocated, __ATOMIC_RELAXED);
    if (heap->options.verbose >= 2)
        fprintf(stderr,
                "midden:   generations: %s collection, %zu remembered objects, yield %u%%, %zu of %zu bytes in "
                "use%s\n",
                g->minor ? "minor" : "full", g->minor ? g->last_remembered : (size_t)0, g->minor ? g->last_yield : 0,
                used, limit, g->next_full ? "; the next collection is full" : "");
}

/* .gen.remset: the remembered objects are old and stay so; the barrier is
 * armed on them again and their fields traced. */
void mdn_gen_scan_remembered(mdn_gen *g, mdn_heap *heap, mdn_tracer *t) {
    (void)heap;
    if (g->minor) {
        for (size_t i = 0; i < g->nremset; i++) {
            mdn_objref obj = mdn_objref_from_address(mdn_address_from_word(g->remset[i]));
            mdn_gen_set_unlogged(&g->unlogged, obj, false);
            mdn_tracer_enqueue(t, obj);
        }
        g->last_remembered = g->nremset;
    }
    g->nremset = 0;
}
