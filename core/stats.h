/*
 * stats.h: per-heap statistics (docs/design/overview.md .overview.stats): pause times and their
 * percentiles, per-phase time, allocation and memory figures.
 */
#ifndef MDN_CORE_STATS_H
#define MDN_CORE_STATS_H

#include <midden/midden.h>

#include <stdint.h>

enum { MDN_PHASE_PREPARE, MDN_PHASE_ROOTS, MDN_PHASE_CLOSURE, MDN_PHASE_WEAK, MDN_PHASE_RELEASE, MDN_PHASE_COUNT };

typedef struct mdn_stats_state {
    uint64_t collections;
    uint64_t full_collections;
    uint64_t *pauses;         /* every pause since the last reset, ns, sorted */
    size_t npauses;
    size_t pauses_capacity;
    uint64_t total_pause_ns;
    uint64_t max_pause_ns;
    uint64_t last_pause_ns;
    uint64_t bytes_allocated; /* atomic */
    uint64_t bytes_copied;    /* atomic */
    uint64_t live_bytes_after;
    uint64_t phase_ns[MDN_PHASE_COUNT];
    uint64_t harness_start_ns;
} mdn_stats_state;

void mdn_stats_init(mdn_stats_state *s);
void mdn_stats_destroy(mdn_stats_state *s);
/* Forget collections and allocation so far (mdn_harness_begin). */
void mdn_stats_reset(mdn_stats_state *s);
void mdn_stats_record_pause(mdn_stats_state *s, uint64_t ns, bool full);
/* Nearest-rank percentiles pcts[i] of the pauses since the last reset. */
void mdn_stats_pause_percentiles(const mdn_stats_state *s, const unsigned *pcts, uint64_t *out, size_t n);

static inline void mdn_stats_count_alloc(mdn_stats_state *s, uint64_t bytes) {
    __atomic_fetch_add(&s->bytes_allocated, bytes, __ATOMIC_RELAXED);
}
static inline void mdn_stats_count_copied(mdn_stats_state *s, uint64_t bytes) {
    __atomic_fetch_add(&s->bytes_copied, bytes, __ATOMIC_RELAXED);
}

#endif
