/*
 * heapwalk.c: mdn_heap_walk() and the live-object histogram (option
 * `heap-histogram`), docs/design/observability.md .obs.walk.
 *
 * The walk is the heap verifier's reachability walk from the roots
 * (core/verify.c .verify.visit), so it needs nothing from the plan beyond
 * what verification needs, and it checks every reference it follows.
 */
#include "core/heap.h"
#include "core/obs.h"
#include "core/plan.h"
#include "core/verify.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Size class k holds sizes in [2^k, 2^(k+1)); the smallest object is a word. */
#define HISTOGRAM_CLASSES 48
#define HISTOGRAM_SPACES 256

typedef struct histogram_cell {
    uint64_t objects;
    uint64_t bytes;
} histogram_cell;

struct mdn_histogram {
    uint64_t collection; /* the collection it was taken after, 0 = none yet */
    histogram_cell cells[HISTOGRAM_SPACES][HISTOGRAM_CLASSES];
};

size_t mdn_heap_walk(mdn_heap *heap, mdn_heap_walk_fn fn, void *data) {
    mdn_heap_check_api(heap, "heap_walk");
    if (!fn)
        mdn_misuse("heap_walk", "the callback is NULL");
    if (!heap->obs.in_gc_end)
        mdn_misuse("heap_walk", "called outside a collection-end event listener (MDN_EVENT_GC_END); the walk "
                                "needs the world stopped right after a collection");
    return mdn_verify_walk(heap, fn, data);
}

static unsigned size_class(size_t bytes) {
    unsigned k = 63u - (unsigned)__builtin_clzll((unsigned long long)bytes);
    return k < HISTOGRAM_CLASSES ? k : HISTOGRAM_CLASSES - 1;
}

static void count_object(mdn_objref obj, size_t bytes, unsigned space, void *data) {
    (void)obj;
    struct mdn_histogram *h = data;
    histogram_cell *c = &h->cells[space % HISTOGRAM_SPACES][size_class(bytes)];
    c->objects++;
    c->bytes += bytes;
}

void mdn_histogram_update(mdn_heap *heap) {
    struct mdn_histogram *h = heap->obs.histogram;
    if (!h) {
        h = heap->obs.histogram = mdn_table_alloc(sizeof *h); /* at a collection's end (.overview.tables) */
        if (!h)
            mdn_fatal("out of memory allocating the heap histogram");
    }
    memset(h, 0, sizeof *h);
    h->collection = heap->obs.number;
    mdn_verify_walk(heap, count_object, h);
}

void mdn_histogram_print(mdn_heap *heap, FILE *out) {
    const struct mdn_histogram *h = heap->obs.histogram;
    if (!h) {
        fprintf(out, "midden heap histogram (plan %s): no collection ran, so there is none\n", mdn_plan_name_string);
        return;
    }
    uint64_t objects = 0, bytes = 0;
    for (unsigned s = 0; s < HISTOGRAM_SPACES; s++)
        for (unsigned k = 0; k < HISTOGRAM_CLASSES; k++)
            objects += h->cells[s][k].objects, bytes += h->cells[s][k].bytes;
    fprintf(out, "midden heap histogram after collection %" PRIu64 " (plan %s): %" PRIu64 " live objects, %" PRIu64
                 " bytes\n",
            h->collection, mdn_plan_name_string, objects, bytes);
    fprintf(out, "  %5s  %-21s %12s %14s\n", "space", "size class (bytes)", "objects", "bytes");
    for (unsigned s = 0; s < HISTOGRAM_SPACES; s++) {
        uint64_t so = 0, sb = 0;
        for (unsigned k = 0; k < HISTOGRAM_CLASSES; k++) {
            const histogram_cell *c = &h->cells[s][k];
            if (!c->objects)
                continue;
            char range[48];
            snprintf(range, sizeof range, "%llu..%llu", 1ull << k, (2ull << k) - 1);
            fprintf(out, "  %5u  %-21s %12" PRIu64 " %14" PRIu64 "\n", s, range, c->objects, c->bytes);
            so += c->objects;
            sb += c->bytes;
        }
        if (so)
            fprintf(out, "  %5u  %-21s %12" PRIu64 " %14" PRIu64 "\n", s, "all", so, sb);
    }
    fflush(out);
}

void mdn_histogram_free(mdn_heap *heap) {
    mdn_table_free(heap->obs.histogram, sizeof *heap->obs.histogram);
    heap->obs.histogram = NULL;
}
