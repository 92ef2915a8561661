/*
 * weakcost: the cost per collection of registered weak slots and
 * finalizers (docs/design/weak.md .weak.long, .final.choose).
 *
 * Usage: weakcost_<plan> WEAK FINAL REGISTER [COLLECTIONS [DEAD_PERCENT]]
 *   Builds WEAK weak boxes (short and long alternately) over live targets
 *   and FINAL live objects with (unordered) finalizers, all rooted through
 *   chunked tables, then runs COLLECTIONS full collections (default 10)
 *   and prints the mean pause and the mean weak-phase time. DEAD_PERCENT of
 *   the weak targets are dropped before the collections (default 0), so
 *   the first collection clears them. With REGISTER=0 the same heap is
 *   built (boxes hold their target in an ordinary field, finalizable
 *   objects are not registered): the baseline.
 * Heap options come from MDN_* variables (default heap 512M).
 */
#include "toyvm.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#define CHUNK 60000u

static void ignore_final(mdn_mutator *m, mdn_objref obj, void *data) { (void)m, (void)obj, (void)data; }

/* A rooted table of `n` slots in chunks; returns its root index. */
static size_t table(toyvm_thread *t, size_t n) {
    unsigned chunks = (unsigned)((n + CHUNK - 1) / CHUNK);
    size_t top = toyvm_push_root(t, toyvm_alloc(t, 30, chunks ? chunks : 1, 0, MDN_ALLOC_DEFAULT));
    for (unsigned c = 0; c < chunks; c++) {
        mdn_objref chunk = toyvm_alloc(t, 30, CHUNK, 0, MDN_ALLOC_DEFAULT);
        toyvm_set_ref(t, toyvm_root(t, top), c, chunk);
    }
    return top;
}

static void table_set(toyvm_thread *t, size_t top, size_t i, mdn_objref v) {
    toyvm_set_ref(t, toyvm_get_ref(toyvm_root(t, top), (unsigned)(i / CHUNK)), (unsigned)(i % CHUNK), v);
}

static mdn_objref table_get(toyvm_thread *t, size_t top, size_t i) {
    return toyvm_get_ref(toyvm_get_ref(toyvm_root(t, top), (unsigned)(i / CHUNK)), (unsigned)(i % CHUNK));
}

int main(int argc, char **argv) {
    if (argc < 4) {
        fprintf(stderr, "usage: %s WEAK FINAL REGISTER(0|1) [COLLECTIONS [DEAD_PERCENT]]\n", argv[0]);
        return 2;
    }
    size_t nweak = strtoull(argv[1], NULL, 10), nfinal = strtoull(argv[2], NULL, 10);
    int reg = atoi(argv[3]);
    unsigned collections = argc > 4 ? (unsigned)atoi(argv[4]) : 10;
    unsigned dead = argc > 5 ? (unsigned)atoi(argv[5]) : 0;
    mdn_options o;
    mdn_options_init(&o);
    o.heap_size = (size_t)512 << 20;
    mdn_error err;
    if (!mdn_options_from_env(&o, &err)) {
        fprintf(stderr, "weakcost: %s\n", err.message);
        return 2;
    }
    mdn_heap *h = mdn_heap_create(&o, &err);
    if (!h) {
        fprintf(stderr, "weakcost: %s\n", err.message);
        return 2;
    }
    toyvm_thread *t = toyvm_thread_attach(h);
    size_t targets = table(t, nweak), boxes = table(t, nweak), finals = table(t, nfinal);
    for (size_t i = 0; i < nweak; i++) {
        table_set(t, targets, i, toyvm_alloc(t, 31, 0, 8, MDN_ALLOC_DEFAULT));
        mdn_objref box = reg ? toyvm_alloc_weak(t, table_get(t, targets, i), 1, 0, i % 2 ? MDN_WEAK_LONG : MDN_WEAK_SHORT)
                             : toyvm_alloc(t, 33, 1, 0, MDN_ALLOC_DEFAULT);
        if (!reg)
            toyvm_set_ref(t, box, 0, table_get(t, targets, i));
        table_set(t, boxes, i, box);
    }
    for (size_t i = 0; i < nfinal; i++) {
        mdn_objref f = toyvm_alloc(t, 32, 0, 8, MDN_ALLOC_DEFAULT);
        table_set(t, finals, i, f);
        if (reg)
            mdn_finalizer_register(t->mutator, f, ignore_final, NULL, MDN_FINALIZE_UNORDERED);
    }
    for (size_t i = 0; i < nweak; i++)
        if (i % 100 < dead)
            table_set(t, targets, i, mdn_objref_null());
    mdn_collect(t->mutator, MDN_GC_FULL); /* settles the dead ones; not measured */
    mdn_stats before, after;
    mdn_stats_get(h, &before);
    for (unsigned c = 0; c < collections; c++)
        mdn_collect(t->mutator, MDN_GC_FULL);
    mdn_stats_get(h, &after);
    /* Check the result so the run is not only a timing. */
    size_t cleared = 0;
    for (size_t i = 0; i < nweak; i++) {
        mdn_objref w = toyvm_get_ref(table_get(t, boxes, i), 0);
        if (mdn_objref_is_null(w))
            cleared++;
        else if (!mdn_objref_eq(w, table_get(t, targets, i))) {
            fprintf(stderr, "weakcost: box %zu holds a stale reference\n", i);
            return 1;
        }
    }
    double n = collections ? collections : 1;
    printf("plan=%s gc_threads=%u weak=%zu final=%zu registered=%d collections=%u mean_pause_ms=%.3f "
           "mean_weak_phase_ms=%.3f cleared=%zu\n",
           mdn_plan_name(), mdn_heap_options(h)->gc_threads, nweak, nfinal, reg, collections,
           (double)(after.total_pause_ns - before.total_pause_ns) / n / 1e6,
           (double)(after.phase_ns[3] - before.phase_ns[3]) / n / 1e6, cleared);
    toyvm_pop_roots(t, 3);
    toyvm_thread_detach(t);
    mdn_heap_destroy(h);
    return 0;
}
