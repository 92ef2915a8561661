/*
 * midden_stress: the shadow-model stress tester, built once per plan as
 * stress_<plan>.
 *
 * Every mutator thread binds its own toyvm thread and runs its own shadow
 * world (testutil/shadow.h): random allocation of objects of random shapes
 * and kinds, linking and unlinking, roots on the shadow stack, in fixed and
 * in coming-and-going registered ranges and in globals, pinning, trips into
 * native state, explicit collections, weak boxes, ephemerons and
 * finalizable objects (testutil/shadow.h .shadow.weak). After every collection the thread
 * sees (its roots were scanned) and at random points, the graph reachable
 * from its roots is compared with the model. The first difference ends the
 * run: seed, plan, thread, operation number and the difference are printed
 * with a command line that replays the run, and the exit status is 1.
 *
 * Usage: stress_<plan> [name=value]...
 *   seed=N           random seed (default MDN_TEST_SEED, else a fixed seed)
 *   ops=N            operations per thread (default 100000)
 *   threads=N        mutator threads, 1..64 (default 1)
 *   collect-every=N  one explicit collection per N operations on average (0 = none; default 50000;
 *                    the small default heap makes most collections the allocator's own)
 *   check-every=N    one extra model check per N operations on average (0 = none; default 1000)
 *   corrupt-at=N     self-test: thread 0 flips a payload byte of a rooted object after operation N
 *                    (the run must then fail with a report)
 *   any heap option  heap=, gc-threads=, stress=, verify=, poison=, verbose=, ... (see mdn_options)
 * Heap options also come from the MDN_* environment variables; the
 * command line wins. Without heap=, a collecting plan gets 4M + 2M per
 * thread and a plan that never collects a budget that holds every
 * allocation of the run (at most 2 GiB: longer runs are cut short).
 *
 * Each thread's operations depend only on the seed and the thread number,
 * so a failure replays with the same seed (the interleaving with other
 * threads and collections may differ; with threads=1 and no stress it is
 * the same run).
 */
#include "shadow.h"
#include "testutil.h"
#include "toyvm.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define STRESS_MAX_THREADS 64

typedef struct stress_config {
    uint64_t seed;
    uint64_t ops;
    unsigned threads;
    unsigned collect_every;
    unsigned check_every;
    uint64_t corrupt_at; /* self-test: thread 0 corrupts a payload byte after this operation (0 = never) */
    bool heap_given;
    mdn_options options;
    char replay[1024]; /* the command-line arguments that replay this run */
} stress_config;

typedef struct stress_thread {
    const stress_config *cfg;
    mdn_heap *heap;
    unsigned index;
    pthread_t thread;
    /* results */
    uint64_t ops;
    uint64_t collections_seen;
    uint64_t checks;
    uint64_t range_toggles;
    uint64_t native_trips;
    size_t max_live;
} stress_thread;

static const char *program = "midden_stress";

static uint64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static uint64_t splitmix(uint64_t x) {
    x += 0x9E3779B97F4A7C15ULL;
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ULL;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBULL;
    return x ^ (x >> 31);
}

static void usage(const char *why) __attribute__((noreturn));
static void usage(const char *why) {
    fprintf(stderr,
            "%s: %s\nusage: %s [seed=N] [ops=N] [threads=N] [collect-every=N] [check-every=N] [heap option=value]...\n",
            program, why, program);
    exit(2);
}

static uint64_t parse_number(const char *name, const char *value, uint64_t max) {
    char *end;
    if (!*value || *value == '-')
        usage("a number is required");
    unsigned long long v = strtoull(value, &end, 0);
    if (*end || v > max) {
        char msg[128];
        snprintf(msg, sizeof msg, "bad value for %s: '%s'", name, value);
        usage(msg);
    }
    return v;
}

static void parse(stress_config *cfg, int argc, char **argv) {
    memset(cfg, 0, sizeof *cfg);
    cfg->ops = 100000;
    cfg->threads = 1;
    cfg->collect_every = 50000;
    cfg->check_every = 1000;
    mdn_options_init(&cfg->options);
    mdn_error err;
    if (!mdn_options_from_env(&cfg->options, &err))
        usage(err.message);
    bool seed_given = false;
    for (int i = 1; i < argc; i++) {
        char name[64];
        const char *eq = strchr(argv[i], '=');
        if (!eq || (size_t)(eq - argv[i]) >= sizeof name)
            usage("arguments are name=value");
        memcpy(name, argv[i], (size_t)(eq - argv[i]));
        name[eq - argv[i]] = '\0';
        const char *value = eq + 1;
        if (strcmp(name, "seed") == 0) {
            cfg->seed = parse_number(name, value, UINT64_MAX);
            seed_given = true;
        } else if (strcmp(name, "ops") == 0) {
            cfg->ops = parse_number(name, value, UINT64_MAX / 2);
        } else if (strcmp(name, "threads") == 0) {
            cfg->threads = (unsigned)parse_number(name, value, STRESS_MAX_THREADS);
            if (cfg->threads == 0)
                usage("threads must be at least 1");
        } else if (strcmp(name, "collect-every") == 0) {
            cfg->collect_every = (unsigned)parse_number(name, value, UINT32_MAX);
        } else if (strcmp(name, "corrupt-at") == 0) {
            cfg->corrupt_at = parse_number(name, value, UINT64_MAX);
        } else if (strcmp(name, "check-every") == 0) {
            cfg->check_every = (unsigned)parse_number(name, value, UINT32_MAX);
        } else {
            if (!mdn_options_set(&cfg->options, name, value, &err))
                usage(err.message);
            if (strcmp(name, "heap") == 0)
                cfg->heap_given = true;
        }
    }
    if (!seed_given)
        cfg->seed = mdn_test_seed(program);
    if (getenv("MDN_HEAP") || getenv("MDN_OPTIONS"))
        cfg->heap_given = true; /* the environment chose (MDN_OPTIONS may hold heap=) */
}

/* Does the linked plan collect? NoGC does not, and then the budget must
 * hold everything the run allocates. */
static bool plan_collects(void) {
    mdn_options o;
    mdn_options_init(&o);
    o.heap_size = (size_t)8 << 20;
    o.gc_threads = 1;
    mdn_heap *h = mdn_heap_create(&o, NULL);
    if (!h) {
        fprintf(stderr, "%s: cannot create a probe heap\n", program);
        exit(2);
    }
    toyvm_thread *t = toyvm_thread_attach(h);
    mdn_collect(t->mutator, MDN_GC_FULL);
    mdn_stats st;
    mdn_stats_get(h, &st);
    toyvm_thread_detach(t);
    mdn_heap_destroy(h);
    return st.collections > 0;
}

static void print_replay(const stress_config *cfg) {
    fprintf(stderr, "%s: replay with: stress_%s seed=%" PRIu64 " %s\n", program, mdn_plan_name(), cfg->seed,
            cfg->replay);
}

static void thread_failed(stress_thread *st, shadow_world *w, const char *where) __attribute__((noreturn));
static void thread_failed(stress_thread *st, shadow_world *w, const char *where) {
    const stress_config *cfg = st->cfg;
    fprintf(stderr,
            "%s: FAILED plan=%s seed=%" PRIu64 " thread=%u operation=%" PRIu64 " collections-seen=%" PRIu64
            " (%s): %s\n",
            program, mdn_plan_name(), cfg->seed, st->index, w->ops, st->collections_seen, where, w->failure);
    print_replay(cfg);
    fflush(stderr);
    _exit(1); /* other threads may be parked in the collector: end now */
}

static void check(stress_thread *st, shadow_world *w, const char *where) {
    if (!shadow_verify(w))
        thread_failed(st, w, where);
    st->checks++;
    if (w->live_objects > st->max_live)
        st->max_live = w->live_objects;
}

/* Flip the last payload byte of the first rooted object: the model does
 * not know, so the next check must report it. */
static void corrupt_one_object(shadow_world *w) {
    for (size_t r = 0; r < w->nroots; r++) {
        mdn_objref *slot = shadow_root_slot(w, r);
        if (slot && !mdn_objref_is_null(*slot)) {
            uint8_t *payload = toyvm_payload(*slot);
            payload[toyvm_payload_bytes(*slot) - 1] ^= 0x5a;
            fprintf(stderr, "%s: corrupted the last payload byte of the object in root %zu\n", program, r);
            return;
        }
    }
}

static void *stress_main(void *arg) {
    stress_thread *st = arg;
    const stress_config *cfg = st->cfg;
    toyvm_thread *t = toyvm_thread_attach(st->heap);
    uint64_t seed = splitmix(cfg->seed + st->index);
    uint64_t rng = splitmix(seed) | 1;
    shadow_world w;
    shadow_world_init(&w, t, seed, st->index + 1, 48, 8, 4);
    shadow_world_enable_ranges(&w, 4, 6, 400);
    w.native_every = cfg->threads > 1 ? 250 : 1000;
    shadow_world_enable_weak(&w, 40);
    uint64_t scans = toyvm_root_scans(t);
    for (uint64_t k = 0; k < cfg->ops; k++) {
        if (!shadow_step(&w, cfg->collect_every)) {
            snprintf(w.failure, sizeof w.failure, "out of memory in a heap of %zu bytes",
                     mdn_heap_options(st->heap)->heap_size);
            thread_failed(st, &w, "allocation");
        }
        if (cfg->corrupt_at && st->index == 0 && w.ops == cfg->corrupt_at) {
            corrupt_one_object(&w);
            check(st, &w, "after the planted corruption");
        }
        mdn_safepoint(t->mutator);
        uint64_t now = toyvm_root_scans(t);
        if (now != scans) {
            st->collections_seen++;
            check(st, &w, "after a collection");
            scans = toyvm_root_scans(t); /* a verify=1 heap scans roots again */
        } else if (cfg->check_every && mdn_test_rand_below(&rng, cfg->check_every) == 0) {
            check(st, &w, "at a random point");
        }
    }
    mdn_collect(t->mutator, MDN_GC_FULL);
    check(st, &w, "after the final collection");
    st->ops = w.ops;
    st->range_toggles = w.range_toggles;
    st->native_trips = w.native_trips;
    shadow_world_destroy(&w);
    toyvm_thread_detach(t);
    return NULL;
}

int main(int argc, char **argv) {
    static stress_config cfg;
    parse(&cfg, argc, argv);
    toyvm_set_oom_mode(TOYVM_OOM_RETURN); /* out of memory is a failure with a report */
    bool collects = plan_collects();
    if (!cfg.heap_given) {
        if (collects) {
            /* Small, so that most collections are the heap's own. */
            cfg.options.heap_size = ((size_t)4 << 20) + (size_t)cfg.threads * ((size_t)2 << 20);
        } else {
            /* About 1 KiB per operation covers the shapes shadow_step
             * draws; nothing is ever freed, so a long run is cut to what
             * 2 GiB holds. */
            const uint64_t cap = (uint64_t)2 << 30, per_op = 1024;
            uint64_t max_ops = (cap - ((uint64_t)64 << 20)) / per_op / cfg.threads;
            if (cfg.ops > max_ops) {
                fprintf(stderr, "%s: plan %s never collects: %" PRIu64 " operations per thread instead of %" PRIu64 "\n",
                        program, mdn_plan_name(), max_ops, cfg.ops);
                cfg.ops = max_ops;
            }
            cfg.options.heap_size = (size_t)(((uint64_t)64 << 20) + cfg.ops * cfg.threads * per_op);
        }
    }
    snprintf(cfg.replay, sizeof cfg.replay,
             "ops=%" PRIu64 " threads=%u collect-every=%u check-every=%u heap=%zu gc-threads=%u stress=%zu verify=%d "
             "poison=%d",
             cfg.ops, cfg.threads, cfg.collect_every, cfg.check_every, cfg.options.heap_size, cfg.options.gc_threads,
             cfg.options.stress, (int)cfg.options.verify, (int)cfg.options.poison);
    if (cfg.corrupt_at) {
        size_t len = strlen(cfg.replay);
        snprintf(cfg.replay + len, sizeof cfg.replay - len, " corrupt-at=%" PRIu64, cfg.corrupt_at);
    }
    mdn_error err;
    mdn_heap *heap = mdn_heap_create(&cfg.options, &err);
    if (!heap) {
        fprintf(stderr, "%s: %s\n", program, err.message);
        return 2;
    }
    fprintf(stderr, "%s: plan=%s seed=%" PRIu64 " %s\n", program, mdn_plan_name(), cfg.seed, cfg.replay);
    uint64_t start = now_ns();
    stress_thread th[STRESS_MAX_THREADS];
    memset(th, 0, sizeof th);
    for (unsigned i = 0; i < cfg.threads; i++) {
        th[i].cfg = &cfg;
        th[i].heap = heap;
        th[i].index = i;
        if (pthread_create(&th[i].thread, NULL, stress_main, &th[i]) != 0) {
            fprintf(stderr, "%s: cannot start thread %u\n", program, i);
            return 2;
        }
    }
    uint64_t ops = 0, seen = 0, checks = 0, toggles = 0, trips = 0;
    size_t live = 0;
    for (unsigned i = 0; i < cfg.threads; i++) {
        pthread_join(th[i].thread, NULL);
        ops += th[i].ops;
        seen += th[i].collections_seen;
        checks += th[i].checks;
        toggles += th[i].range_toggles;
        trips += th[i].native_trips;
        live += th[i].max_live;
    }
    mdn_stats s;
    mdn_stats_get(heap, &s);
    double secs = (double)(now_ns() - start) / 1e9;
    printf("%s: passed plan=%s seed=%" PRIu64 " threads=%u gc-threads=%u ops=%" PRIu64 " collections=%" PRIu64
           " full=%" PRIu64 " thread-collections-checked=%" PRIu64 " model-checks=%" PRIu64 " range-toggles=%" PRIu64
           " native-trips=%" PRIu64 " max-live-objects=%zu max-pause-ms=%.3f time-s=%.2f\n",
           program, mdn_plan_name(), cfg.seed, cfg.threads, mdn_heap_options(heap)->gc_threads, ops, s.collections,
           s.full_collections, seen, checks, toggles, trips, live, (double)s.max_pause_ns / 1e6, secs);
    mdn_heap_destroy(heap);
    return 0;
}
