/* stats.c: recording pauses, percentiles, and the harness line. */
#include "core/stats.h"

#include "core/heap.h"
#include "core/conservative.h"
#include "core/plan.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

void mdn_stats_init(mdn_stats_state *s) { memset(s, 0, sizeof *s); }

void mdn_stats_destroy(mdn_stats_state *s) {
    mdn_array_free(s->pauses, s->pauses_capacity, sizeof *s->pauses);
    memset(s, 0, sizeof *s);
}

void mdn_stats_reset(mdn_stats_state *s) {
    s->collections = 0;
    s->full_collections = 0;
    s->npauses = 0;
    s->total_pause_ns = 0;
    s->max_pause_ns = 0;
    s->last_pause_ns = 0;
    __atomic_store_n(&s->bytes_allocated, 0, __ATOMIC_RELAXED);
    __atomic_store_n(&s->bytes_copied, 0, __ATOMIC_RELAXED);
    memset(s->phase_ns, 0, sizeof s->phase_ns);
}

/* The pauses are kept sorted: each is inserted in its place (a memmove of
 * the longer ones, small beside a collection), so a percentile is one
 * index and reading the statistics, which programs may do often (the
 * Boehm-compatible library's GC_get_heap_size, at every collection's end
 * too), neither sorts nor allocates. */
void mdn_stats_record_pause(mdn_stats_state *s, uint64_t ns, bool full) {
    s->pauses = mdn_array_reserve(s->pauses, s->npauses, &s->pauses_capacity, sizeof *s->pauses, 64,
                                  "recording pause times");
    size_t lo = 0, hi = s->npauses;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (s->pauses[mid] <= ns)
            lo = mid + 1;
        else
            hi = mid;
    }
    memmove(&s->pauses[lo + 1], &s->pauses[lo], (s->npauses - lo) * sizeof *s->pauses);
    s->pauses[lo] = ns;
    s->npauses++;
    s->collections++;
    s->full_collections += full;
    s->total_pause_ns += ns;
    s->last_pause_ns = ns;
    if (ns > s->max_pause_ns)
        s->max_pause_ns = ns;
}

/* Nearest-rank percentile of the sorted pauses. */
static uint64_t percentile(const uint64_t *sorted, size_t n, unsigned pct) {
    if (n == 0)
        return 0;
    size_t rank = (n * pct + 99) / 100;
    if (rank == 0)
        rank = 1;
    return sorted[rank - 1];
}

void mdn_stats_pause_percentiles(const mdn_stats_state *s, const unsigned *pcts, uint64_t *out, size_t n) {
    for (size_t i = 0; i < n; i++)
        out[i] = percentile(s->pauses, s->npauses, pcts[i]);
}

void mdn_stats_get(mdn_heap *heap, mdn_stats *out) {
    mdn_heap_check_api(heap, "stats_get");
    if (!out)
        mdn_misuse("stats_get", "the output pointer is NULL");
    memset(out, 0, sizeof *out);
    mdn_lock_for_mutator(&heap->lock);
    const mdn_stats_state *s = &heap->stats;
    out->collections = s->collections;
    out->full_collections = s->full_collections;
    out->total_pause_ns = s->total_pause_ns;
    out->max_pause_ns = s->max_pause_ns;
    out->last_pause_ns = s->last_pause_ns;
    if (s->npauses) {
        static const unsigned pcts[] = {50, 99};
        uint64_t p[2];
        mdn_stats_pause_percentiles(s, pcts, p, 2);
        out->p50_pause_ns = p[0];
        out->p99_pause_ns = p[1];
    }
    out->bytes_allocated = __atomic_load_n(&s->bytes_allocated, __ATOMIC_RELAXED);
    out->bytes_copied = __atomic_load_n(&s->bytes_copied, __ATOMIC_RELAXED);
    out->live_bytes_after = s->live_bytes_after;
    out->heap_size = heap->vm.budget;
    out->committed_bytes = __atomic_load_n(&heap->vm.committed, __ATOMIC_RELAXED);
    out->peak_committed_bytes = __atomic_load_n(&heap->vm.peak_committed, __ATOMIC_RELAXED);
    memcpy(out->phase_ns, s->phase_ns, sizeof out->phase_ns);
    out->heap_limit_bytes = mdn_budget_limit(&heap->vm);
    out->heap_max_bytes = __atomic_load_n(&heap->vm.max, __ATOMIC_RELAXED);
    out->returned_bytes = heap->vm.returned_bytes;
    out->external_bytes = __atomic_load_n(&heap->vm.external, __ATOMIC_RELAXED);
    mdn_unlock_for_mutator(&heap->lock);
    /* Process-wide figures: the kernel's view of the memory the run touched. */
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) == 0) {
        out->minor_faults = (uint64_t)ru.ru_minflt;
        out->peak_rss_bytes = (uint64_t)ru.ru_maxrss * 1024u; /* Linux reports KiB */
    }
}

void mdn_harness_begin(mdn_heap *heap) {
    mdn_heap_check_api(heap, "harness_begin");
    mdn_lock_for_mutator(&heap->lock);
    mdn_stats_reset(&heap->stats);
    heap->stats.harness_start_ns = mdn_now_ns();
    mdn_unlock_for_mutator(&heap->lock);
}

void mdn_harness_end(mdn_heap *heap) {
    uint64_t end = mdn_now_ns();
    mdn_stats st;
    mdn_stats_get(heap, &st);
    uint64_t start = heap->stats.harness_start_ns;
    double ms = 1e-6;
    fprintf(stderr,
            "midden-stats: plan=%s time_ms=%.3f collections=%" PRIu64 " full_collections=%" PRIu64
            " total_pause_ms=%.3f max_pause_ms=%.3f p50_pause_ms=%.3f p99_pause_ms=%.3f allocated_bytes=%" PRIu64
            " live_bytes_after=%" PRIu64 " copied_bytes=%" PRIu64 " heap_bytes=%" PRIu64
            " peak_committed_bytes=%" PRIu64 " gc_threads=%u minor_faults=%" PRIu64 " peak_rss_bytes=%" PRIu64
            " heap_policy=%s heap_limit_bytes=%" PRIu64 " returned_bytes=%" PRIu64 "\n",
            mdn_plan_name_string, start ? (double)(end - start) * ms : 0.0, st.collections, st.full_collections,
            (double)st.total_pause_ns * ms, (double)st.max_pause_ns * ms, (double)st.p50_pause_ns * ms,
            (double)st.p99_pause_ns * ms, st.bytes_allocated, st.live_bytes_after, st.bytes_copied, st.heap_size,
            st.peak_committed_bytes, heap->nworkers, st.minor_faults, st.peak_rss_bytes,
            heap->sizing.policy == MDN_HEAP_POLICY_FIXED      ? "fixed"
            : heap->sizing.policy == MDN_HEAP_POLICY_ADAPTIVE ? "adaptive"
                                                              : "growable",
            st.heap_limit_bytes, st.returned_bytes);
    fflush(stderr);
}
