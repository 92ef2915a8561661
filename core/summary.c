/*
 * summary.c: the table printed when the heap is destroyed (option `stats`,
 * docs/design/observability.md .obs.summary). Its figures cover the time
 * since the heap was created or since mdn_harness_begin(), as those of
 * mdn_stats_get() do; the process figures (RSS, page faults) come from
 * getrusage() and cover the whole process.
 */
#include "core/heap.h"
#include "core/obs.h"
#include "core/plan.h"

#include <inttypes.h>
#include <stdio.h>
#include <sys/resource.h>

static double ms(uint64_t ns) { return (double)ns / 1e6; }
static double mib(uint64_t bytes) { return (double)bytes / (1024.0 * 1024.0); }

void mdn_summary_print(mdn_heap *heap, FILE *out) {
    uint64_t now = mdn_now_ns();
    mdn_stats st;
    mdn_stats_get(heap, &st);
    static const unsigned pcts[] = {50, 95, 99};
    uint64_t p[3];
    pthread_mutex_lock(&heap->lock);
    mdn_stats_pause_percentiles(&heap->stats, pcts, p, 3);
    uint64_t since = heap->stats.harness_start_ns > heap->obs.create_ns ? heap->stats.harness_start_ns
                                                                        : heap->obs.create_ns;
    pthread_mutex_unlock(&heap->lock);
    uint64_t run = now - since;
    double run_s = (double)run / 1e9;
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    const mdn_obs_state *o = &heap->obs;
    fprintf(out, "midden summary (plan %s, %u GC thread%s, since %s)\n", mdn_plan_name_string, heap->nworkers,
            heap->nworkers == 1 ? "" : "s", heap->stats.harness_start_ns ? "mdn_harness_begin" : "heap creation");
    fprintf(out, "  %-22s %" PRIu64 " (%s %" PRIu64 ", full %" PRIu64 ")\n", "collections", st.collections,
            plan_partial_collection_name(), st.collections - st.full_collections, st.full_collections);
    fprintf(out, "  %-22s allocation %" PRIu64 ", allocation-retry %" PRIu64 ", explicit %" PRIu64
                 ", stress %" PRIu64 " (heap lifetime)\n",
            "triggers", o->collections_by_trigger[MDN_TRIGGER_ALLOCATION],
            o->collections_by_trigger[MDN_TRIGGER_ALLOCATION_RETRY], o->collections_by_trigger[MDN_TRIGGER_EXPLICIT],
            o->collections_by_trigger[MDN_TRIGGER_STRESS]);
    fprintf(out, "  %-22s p50 %.3f  p95 %.3f  p99 %.3f  max %.3f\n", "pause (ms)", ms(p[0]), ms(p[1]), ms(p[2]),
            ms(st.max_pause_ns));
    fprintf(out, "  %-22s %.3f ms of %.3f ms run time (%.1f%%)\n", "time in GC", ms(st.total_pause_ns), ms(run),
            run ? 100.0 * (double)st.total_pause_ns / (double)run : 0.0);
    fprintf(out, "  %-22s %.1f MiB (%.1f MiB/s)\n", "allocated", mib(st.bytes_allocated),
            run_s > 0 ? mib(st.bytes_allocated) / run_s : 0.0);
    fprintf(out, "  %-22s %.1f MiB after the last collection, %.1f MiB copied in all\n", "live", mib(st.live_bytes_after),
            mib(st.bytes_copied));
    fprintf(out, "  %-22s %.1f MiB now, %.1f MiB peak, budget %.1f MiB\n", "committed heap", mib(st.committed_bytes),
            mib(st.peak_committed_bytes), mib(st.heap_size));
    fprintf(out, "  %-22s %.1f MiB (process)\n", "peak RSS", (double)ru.ru_maxrss / 1024.0);
    fprintf(out, "  %-22s %ld minor, %ld major (process)\n", "page faults", ru.ru_minflt, ru.ru_majflt);
    fprintf(out, "  %-22s %u\n", "GC threads", heap->nworkers);
    fflush(out);
}
