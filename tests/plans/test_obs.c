/*
 * Observability on every plan: event listeners fire in order for every
 * collection, the timeline is valid JSON whose spans nest and cover every
 * collection the statistics report, the heap walk visits exactly the
 * objects the shadow model says are live, and the at-exit summary and
 * histogram print what the heap did.
 * MDN_TEST_LABELS: threads
 */
#include "shadow.h"
#include "testutil.h"
#include "toyvm.h"

#include "mdn_check.h"
#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* How reports name a collection that is not full: a generational plan's
 * (the plans with a write barrier) are minor collections. */
#define PARTIAL_NAME (MDN_PLAN_BARRIER == MDN_BARRIER_OBJECT ? "minor" : "default")

#define ck_assert_contains(hay, needle)                                                                      \
    ck_assert_msg(strstr((hay), (needle)) != NULL, "expected \"%s\" in \"%s\"", (needle), (hay))

static bool plan_collects(void) { return strcmp(MDN_TEST_PLAN, "nogc") != 0; }

/* ---- a small JSON parser ------------------------------------------------- */

typedef enum { J_NULL, J_BOOL, J_NUM, J_STR, J_ARR, J_OBJ } jkind;

typedef struct jval {
    jkind kind;
    double num;
    char *str;           /* J_STR */
    struct jval **items; /* J_ARR values, J_OBJ values */
    char **keys;         /* J_OBJ */
    size_t n;
} jval;

typedef struct jparser {
    const char *p;
    const char *error;
} jparser;

static void jskip(jparser *j) {
    while (*j->p == ' ' || *j->p == '\n' || *j->p == '\t' || *j->p == '\r')
        j->p++;
}

static jval *jnew(jkind k) {
    jval *v = calloc(1, sizeof *v);
    ck_assert_ptr_nonnull(v);
    v->kind = k;
    return v;
}

static char *jstring(jparser *j) {
    if (*j->p != '"') {
        j->error = "expected a string";
        return NULL;
    }
    j->p++;
    size_t cap = 16, n = 0;
    char *s = malloc(cap);
    while (*j->p != '"') {
        char c = *j->p++;
        if (c == '\0' || (unsigned char)c < 0x20) {
            j->error = "unterminated string or control character";
            free(s);
            return NULL;
        }
        if (c == '\\') {
            c = *j->p++;
            if (!strchr("\"\\/bfnrt", c)) { /* \u is not produced by the timeline */
                j->error = "bad escape";
                free(s);
                return NULL;
            }
        }
        if (n + 2 > cap)
            s = realloc(s, cap *= 2);
        s[n++] = c;
    }
    j->p++;
    s[n] = '\0';
    return s;
}

static jval *jparse_value(jparser *j);
static void jfree(jval *v);

/* The container so far and the pending key are freed on every error. */
static jval *jparse_container(jparser *j, bool object) {
    jval *v = jnew(object ? J_OBJ : J_ARR);
    j->p++;
    jskip(j);
    char close = object ? '}' : ']';
    if (*j->p == close) {
        j->p++;
        return v;
    }
    for (;;) {
        jskip(j);
        char *key = NULL;
        if (object) {
            key = jstring(j);
            if (!key) {
                jfree(v);
                return NULL;
            }
            jskip(j);
            if (*j->p++ != ':') {
                j->error = "expected ':'";
                free(key);
                jfree(v);
                return NULL;
            }
        }
        jval *item = jparse_value(j);
        if (!item) {
            free(key);
            jfree(v);
            return NULL;
        }
        v->items = realloc(v->items, (v->n + 1) * sizeof *v->items);
        v->keys = realloc(v->keys, (v->n + 1) * sizeof *v->keys);
        v->items[v->n] = item;
        v->keys[v->n] = key;
        v->n++;
        jskip(j);
        if (*j->p == ',') {
            j->p++;
            continue;
        }
        if (*j->p == close) {
            j->p++;
            return v;
        }
        j->error = "expected ',' or the end of a container";
        jfree(v);
        return NULL;
    }
}

static jval *jparse_value(jparser *j) {
    jskip(j);
    char c = *j->p;
    if (c == '{' || c == '[')
        return jparse_container(j, c == '{');
    if (c == '"') {
        char *s = jstring(j);
        if (!s)
            return NULL;
        jval *v = jnew(J_STR);
        v->str = s;
        return v;
    }
    if (strncmp(j->p, "true", 4) == 0 || strncmp(j->p, "false", 5) == 0) {
        jval *v = jnew(J_BOOL);
        v->num = c == 't';
        j->p += c == 't' ? 4 : 5;
        return v;
    }
    if (strncmp(j->p, "null", 4) == 0) {
        j->p += 4;
        return jnew(J_NULL);
    }
    if (c == '-' || (c >= '0' && c <= '9')) {
        char *end;
        jval *v = jnew(J_NUM);
        v->num = strtod(j->p, &end);
        j->p = end;
        return v;
    }
    j->error = "unexpected character";
    return NULL;
}

static jval *jparse(const char *text, const char **error) {
    jparser j = {text, NULL};
    jval *v = jparse_value(&j);
    if (v) {
        jskip(&j);
        if (*j.p != '\0') {
            j.error = "trailing characters";
            jfree(v);
            v = NULL;
        }
    }
    *error = j.error;
    return v;
}

static jval *jget(const jval *obj, const char *key) {
    if (!obj || obj->kind != J_OBJ)
        return NULL;
    for (size_t i = 0; i < obj->n; i++)
        if (strcmp(obj->keys[i], key) == 0)
            return obj->items[i];
    return NULL;
}

static const char *jstr(const jval *obj, const char *key) {
    jval *v = jget(obj, key);
    return v && v->kind == J_STR ? v->str : NULL;
}

/* A time in microseconds with three decimals, as integer nanoseconds. */
static int64_t jns(const jval *obj, const char *key) {
    jval *v = jget(obj, key);
    ck_assert_msg(v && v->kind == J_NUM, "event without numeric '%s'", key);
    return (int64_t)llround(v->num * 1000.0);
}

static void jfree(jval *v) {
    if (!v)
        return;
    for (size_t i = 0; i < v->n; i++) {
        jfree(v->items[i]);
        if (v->keys)
            free(v->keys[i]);
    }
    free(v->items);
    free(v->keys);
    free(v->str);
    free(v);
}

START_TEST(test_json_parser_rejects_bad_input) {
    static const char *const bad[] = {"{", "[1,]", "{\"a\" 1}", "[1 2]", "\"abc", "{} x", "[tru]"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        const char *error;
        ck_assert_msg(jparse(bad[i], &error) == NULL, "'%s' parsed", bad[i]);
        ck_assert_ptr_nonnull(error);
    }
    const char *error;
    jval *v = jparse("{\"a\":[1,2.5,\"x\"],\"b\":{\"c\":true}}", &error);
    ck_assert_ptr_nonnull(v);
    ck_assert_uint_eq(jget(v, "a")->n, 3);
    jfree(v);
}
END_TEST

/* ---- event listeners -------------------------------------------------------- */

typedef struct recorded {
    mdn_event_kind kind;
    uint64_t collection;
    mdn_gc_phase phase;
    bool full;
    char trigger[24];
} recorded;

typedef struct recorder {
    mdn_heap *heap;
    recorded *events;
    size_t n, cap;
    uint64_t resize_committed; /* new_committed of the last resize */
    int resize_chain_broken;   /* a resize whose old_* is not the previous new_* */
    uint64_t last_budget;
    size_t oom_bytes;
    int tag;                   /* which listener, to check the order of two */
    struct recorder *order;    /* shared log of (tag) calls */
    int *order_log;            /* shared by both listeners, ORDER_LOG entries */
    size_t *norder;
} recorder;

enum { ORDER_LOG = 1 << 16 };

static void record_event(mdn_heap *heap, const mdn_event *e, void *data) {
    recorder *r = data;
    ck_assert_ptr_eq(heap, r->heap);
    if (r->n == r->cap) {
        r->cap = r->cap ? r->cap * 2 : 256;
        r->events = realloc(r->events, r->cap * sizeof *r->events);
    }
    recorded *x = &r->events[r->n++];
    memset(x, 0, sizeof *x);
    x->kind = e->kind;
    x->collection = e->collection;
    x->phase = e->phase;
    x->full = e->full;
    if (e->trigger)
        snprintf(x->trigger, sizeof x->trigger, "%s", e->trigger);
    if (e->kind == MDN_EVENT_HEAP_RESIZE) {
        if (r->resize_committed && (e->old_committed != r->resize_committed || e->old_budget != r->last_budget))
            r->resize_chain_broken++;
        r->resize_committed = e->new_committed;
        r->last_budget = e->new_budget;
    }
    if (e->kind == MDN_EVENT_OUT_OF_MEMORY)
        r->oom_bytes = e->request_bytes;
    if (r->order_log && *r->norder < ORDER_LOG)
        r->order_log[(*r->norder)++] = r->tag;
}

/* Check the recorded sequence: per collection GC_START, the six phases in
 * order, at most one HEAP_RESIZE, GC_END; collection numbers 1, 2, ... */
static uint64_t check_sequence(const recorder *r) {
    uint64_t expect = 1;
    size_t i = 0;
    while (i < r->n) {
        const recorded *s = &r->events[i];
        if (s->kind == MDN_EVENT_OUT_OF_MEMORY) {
            i++;
            continue;
        }
        ck_assert_msg(s->kind == MDN_EVENT_GC_START, "event %zu: kind %d where a collection should start", i,
                      (int)s->kind);
        ck_assert_uint_eq(s->collection, expect);
        i++;
        for (int p = 0; p < MDN_GC_PHASE_COUNT; p++, i++) {
            ck_assert_msg(i < r->n, "collection %" PRIu64 " ends before its phases", expect);
            ck_assert_int_eq(r->events[i].kind, MDN_EVENT_PHASE);
            ck_assert_int_eq(r->events[i].phase, p);
            ck_assert_uint_eq(r->events[i].collection, expect);
            ck_assert_int_eq(r->events[i].full, s->full);
            ck_assert_str_eq(r->events[i].trigger, s->trigger);
        }
        if (i < r->n && r->events[i].kind == MDN_EVENT_HEAP_RESIZE)
            i++;
        ck_assert_msg(i < r->n && r->events[i].kind == MDN_EVENT_GC_END, "collection %" PRIu64 " has no end",
                      expect);
        ck_assert_uint_eq(r->events[i].collection, expect);
        i++;
        expect++;
    }
    return expect - 1;
}

START_TEST(test_listeners_fire_in_order) {
    uint64_t seed = mdn_test_seed("listeners_fire_in_order");
    mdn_heap *h = mdn_test_heap_with(24u << 20, 2, NULL);
    recorder r = {.heap = h}, second = {.heap = h};
    int *order_log = calloc(ORDER_LOG, sizeof *order_log);
    size_t norder = 0;
    r.tag = 1;
    second.tag = 2;
    r.order_log = second.order_log = order_log;
    r.norder = second.norder = &norder;
    mdn_event_listener_add(h, record_event, &r);
    mdn_event_listener_add(h, record_event, &second);
    toyvm_thread *t = toyvm_thread_attach(h);
    shadow_world w;
    shadow_world_init(&w, t, seed, 1, 64, 16, 8);
    int explicit_full = 0;
    for (int i = 0; i < 6000; i++) {
        ck_assert(shadow_step(&w, 0));
        if (i % 1500 == 1499) {
            mdn_collect(t->mutator, MDN_GC_FULL);
            explicit_full++;
        }
    }
    mdn_collect(t->mutator, MDN_GC_DEFAULT);
    ck_assert_msg(shadow_verify(&w), "%s", w.failure);
    /* Both listeners saw the same events, the first always before the second. */
    r.order_log = second.order_log = NULL;
    ck_assert_uint_eq(r.n, second.n);
    ck_assert_uint_eq(norder, r.n < ORDER_LOG / 2 ? 2 * r.n : ORDER_LOG);
    for (size_t i = 0; i + 1 < norder; i += 2) {
        MDN_EXPECT_EQ(order_log[i], 1);
        MDN_EXPECT_EQ(order_log[i + 1], 2);
    }
    free(order_log);
    mdn_event_listener_remove(h, record_event, &second);
    mdn_stats st;
    mdn_stats_get(h, &st);
    uint64_t collections = check_sequence(&r);
    ck_assert_uint_eq(collections, st.collections);
    if (plan_collects()) {
        ck_assert_uint_ge(collections, (uint64_t)explicit_full + 1);
        int explicit_seen = 0, full_seen = 0;
        for (size_t i = 0; i < r.n; i++) {
            if (r.events[i].kind != MDN_EVENT_GC_START)
                continue;
            explicit_seen += strcmp(r.events[i].trigger, "explicit") == 0;
            full_seen += r.events[i].full;
        }
        ck_assert_int_eq(explicit_seen, explicit_full + 1);
        ck_assert_uint_eq((uint64_t)full_seen, st.full_collections);
        /* The heap grew from nothing, so at least one resize was reported, and
         * each report starts where the previous one ended. */
        ck_assert_uint_gt(r.resize_committed, 0);
        ck_assert_int_eq(r.resize_chain_broken, 0);
    } else {
        ck_assert_uint_eq(r.n, 0);
    }
    /* After removal the second listener hears nothing more. */
    size_t before = second.n;
    mdn_collect(t->mutator, MDN_GC_DEFAULT);
    ck_assert_uint_eq(second.n, before);
    ck_assert_uint_eq(check_sequence(&r), collections + (plan_collects() ? 1 : 0));
    shadow_world_destroy(&w);
    toyvm_thread_detach(t);
    mdn_heap_destroy(h);
    free(r.events);
    free(second.events);
}
END_TEST

START_TEST(test_out_of_memory_event) {
    mdn_heap *h = mdn_test_heap_with(4u << 20, 1, NULL);
    recorder r = {.heap = h};
    mdn_event_listener_add(h, record_event, &r);
    toyvm_set_oom_mode(TOYVM_OOM_RETURN);
    toyvm_thread *t = toyvm_thread_attach(h);
    size_t slot = toyvm_push_root(t, mdn_objref_null());
    uint64_t ooms = toyvm_oom_count();
    for (int i = 0; i < 100000; i++) {
        mdn_objref o = toyvm_alloc(t, 1, 1, 4000, MDN_ALLOC_DEFAULT);
        if (mdn_objref_is_null(o))
            break;
        toyvm_set_ref(t, o, 0, toyvm_root(t, slot));
        toyvm_set_root(t, slot, o);
    }
    ck_assert_uint_eq(toyvm_oom_count(), ooms + 1);
    ck_assert_uint_eq(r.oom_bytes, toyvm_object_bytes(1, 4000));
    ck_assert_int_eq(r.events[r.n - 1].kind, MDN_EVENT_OUT_OF_MEMORY);
    check_sequence(&r);
    toyvm_set_oom_mode(TOYVM_OOM_EXIT);
    toyvm_set_root(t, slot, mdn_objref_null());
    toyvm_thread_detach(t);
    mdn_heap_destroy(h);
    free(r.events);
}
END_TEST

static void dummy_listener(mdn_heap *heap, const mdn_event *e, void *data) {
    (void)heap, (void)e, (void)data;
}

static void add_twice(void *arg) {
    mdn_heap *h = mdn_test_heap_with(4u << 20, 1, NULL);
    mdn_event_listener_add(h, dummy_listener, arg);
    mdn_event_listener_add(h, dummy_listener, arg);
}

static void remove_unknown(void *arg) {
    mdn_heap *h = mdn_test_heap_with(4u << 20, 1, NULL);
    mdn_event_listener_remove(h, dummy_listener, arg);
}

static void walk_outside(void *arg) {
    mdn_heap *h = mdn_test_heap_with(4u << 20, 1, NULL);
    mdn_heap_walk(h, (mdn_heap_walk_fn)arg, NULL);
}

static void count_walk(mdn_objref obj, size_t bytes, unsigned space, void *data) {
    (void)obj, (void)bytes, (void)space;
    (*(size_t *)data)++;
}

START_TEST(test_misuse_is_named) {
    mdn_child_result res;
    mdn_run_in_child(add_twice, NULL, &res);
    ck_assert(res.signaled);
    ck_assert_contains(res.output, "[event_listener_add]");
    mdn_run_in_child(remove_unknown, NULL, &res);
    ck_assert(res.signaled);
    ck_assert_contains(res.output, "[event_listener_remove]");
    mdn_run_in_child(walk_outside, (void *)count_walk, &res);
    ck_assert(res.signaled);
    ck_assert_contains(res.output, "[heap_walk]");
}
END_TEST

/* ---- heap walking ------------------------------------------------------------ */

typedef struct walk_record {
    uint64_t *ids;
    size_t *sizes;
    size_t n, cap;
    size_t bytes;
    int walks;
    bool ordered;
    uintptr_t last;
} walk_record;

static void record_object(mdn_objref obj, size_t bytes, unsigned space, void *data) {
    (void)space;
    walk_record *w = data;
    if (w->n == w->cap) {
        w->cap = w->cap ? w->cap * 2 : 1024;
        w->ids = realloc(w->ids, w->cap * sizeof *w->ids);
        w->sizes = realloc(w->sizes, w->cap * sizeof *w->sizes);
    }
    ck_assert_uint_eq(bytes, toyvm_size(obj));
    if (obj.value <= w->last)
        w->ordered = false;
    w->last = obj.value;
    w->ids[w->n] = ((uint64_t *)toyvm_payload(obj))[0];
    w->sizes[w->n] = bytes;
    w->n++;
    w->bytes += bytes;
}

static void walk_at_end(mdn_heap *heap, const mdn_event *e, void *data) {
    walk_record *w = data;
    if (e->kind != MDN_EVENT_GC_END)
        return;
    w->n = 0;
    w->bytes = 0;
    w->ordered = true;
    w->last = 0;
    size_t visited = mdn_heap_walk(heap, record_object, w);
    ck_assert_uint_eq(visited, w->n);
    w->walks++;
}

static int compare_ids(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

START_TEST(test_walk_matches_shadow_model) {
    uint64_t seed = mdn_test_seed("walk_matches_shadow_model");
    mdn_heap *h = mdn_test_heap_with(32u << 20, 2, NULL);
    walk_record wr = {0};
    mdn_event_listener_add(h, walk_at_end, &wr);
    toyvm_thread *t = toyvm_thread_attach(h);
    shadow_world w;
    shadow_world_init(&w, t, seed, 3, 48, 8, 8);
    for (int round = 0; round < 4; round++) {
        for (int i = 0; i < 3000; i++)
            ck_assert(shadow_step(&w, 0));
        mdn_collect(t->mutator, round & 1 ? MDN_GC_FULL : MDN_GC_DEFAULT);
        if (!plan_collects()) {
            ck_assert_int_eq(wr.walks, 0);
            continue;
        }
        /* The model drops what is unreachable; what remains is what the walk saw. */
        ck_assert_msg(shadow_verify(&w), "%s", w.failure);
        ck_assert(wr.ordered);
        size_t live = 0, live_bytes = 0;
        uint64_t *model = malloc((w.objs_capacity + 1) * sizeof *model);
        for (size_t i = 0; i < w.objs_capacity; i++) {
            if (w.objs[i]) {
                model[live++] = w.objs[i]->id;
                live_bytes += toyvm_object_bytes(w.objs[i]->nrefs, w.objs[i]->payload);
            }
        }
        ck_assert_uint_eq(live, w.live_objects);
        ck_assert_uint_eq(wr.n, live);
        ck_assert_uint_eq(wr.bytes, live_bytes);
        qsort(model, live, sizeof *model, compare_ids);
        qsort(wr.ids, wr.n, sizeof *wr.ids, compare_ids);
        for (size_t i = 0; i < live; i++)
            MDN_EXPECT_MSG(model[i] == wr.ids[i], "object %zu: the model has id %#" PRIx64 ", the walk %#" PRIx64, i,
                           model[i], wr.ids[i]);
        free(model);
    }
    mdn_event_listener_remove(h, walk_at_end, &wr);
    shadow_world_destroy(&w);
    toyvm_thread_detach(t);
    mdn_heap_destroy(h);
    free(wr.ids);
    free(wr.sizes);
}
END_TEST

/* ---- the at-exit summary and histogram ---------------------------------------- */

typedef struct summary_run {
    uint64_t seed;
    size_t live_at_end; /* written by the child: not visible; recomputed in the parent */
} summary_run;

static void run_with_summary(void *arg) {
    summary_run *s = arg;
    mdn_heap *h = mdn_test_heap_with(24u << 20, 2, "stats=1,heap-histogram=1");
    walk_record wr = {0};
    mdn_event_listener_add(h, walk_at_end, &wr);
    toyvm_thread *t = toyvm_thread_attach(h);
    shadow_world w;
    shadow_world_init(&w, t, s->seed, 4, 32, 8, 8);
    for (int i = 0; i < 5000; i++)
        shadow_step(&w, 0);
    mdn_collect(t->mutator, MDN_GC_FULL);
    mdn_stats st;
    mdn_stats_get(h, &st);
    /* What the summary and histogram must say, for the parent to compare. */
    printf("expect: collections=%" PRIu64 " full=%" PRIu64 " walked=%zu bytes=%zu\n", st.collections,
           st.full_collections, wr.n, wr.bytes);
    fflush(stdout);
    shadow_world_destroy(&w);
    toyvm_thread_detach(t);
    mdn_heap_destroy(h);
    free(wr.ids);
    free(wr.sizes);
    exit(0);
}

START_TEST(test_summary_and_histogram) {
    summary_run s = {mdn_test_seed("summary_and_histogram"), 0};
    mdn_child_result res;
    mdn_run_in_child(run_with_summary, &s, &res);
    ck_assert_msg(res.exited && res.exit_status == 0, "%s", res.output);
    unsigned long long collections, full, walked, bytes;
    const char *e = strstr(res.output, "expect: ");
    ck_assert_ptr_nonnull(e);
    ck_assert_int_eq(sscanf(e, "expect: collections=%llu full=%llu walked=%llu bytes=%llu", &collections, &full,
                            &walked, &bytes),
                     4);
    char line[160];
    ck_assert_contains(res.output, "midden summary (plan " MDN_TEST_PLAN ", 2 GC threads");
    snprintf(line, sizeof line, "collections            %llu (%s %llu, full %llu)", collections, PARTIAL_NAME,
             collections - full, full);
    ck_assert_contains(res.output, line);
    ck_assert_contains(res.output, "pause (ms)             p50 ");
    ck_assert_contains(res.output, " p95 ");
    ck_assert_contains(res.output, " p99 ");
    ck_assert_contains(res.output, "time in GC");
    ck_assert_contains(res.output, "MiB/s");
    ck_assert_contains(res.output, "peak RSS");
    ck_assert_contains(res.output, "page faults");
    ck_assert_contains(res.output, "GC threads             2");
    if (plan_collects()) {
        snprintf(line, sizeof line, "midden heap histogram after collection %llu (plan %s): %llu live objects, %llu bytes",
                 collections, MDN_TEST_PLAN, walked, bytes);
        ck_assert_contains(res.output, line);
        /* The per-space totals add up to the whole. */
        unsigned long long sum_objects = 0, sum_bytes = 0;
        for (const char *p = res.output; (p = strstr(p, " all ")) != NULL; p++) {
            unsigned long long o, b;
            ck_assert_int_eq(sscanf(p, " all %llu %llu", &o, &b), 2);
            sum_objects += o;
            sum_bytes += b;
        }
        ck_assert_uint_eq(sum_objects, walked);
        ck_assert_uint_eq(sum_bytes, bytes);
    } else {
        ck_assert_contains(res.output, "no collection ran");
    }
}
END_TEST

/* ---- the timeline ------------------------------------------------------------ */

typedef struct span {
    const char *name;
    int64_t tid;
    int64_t begin, end;
    const jval *ev;
} span;

static bool within(const span *inner, const span *outer) {
    return inner->begin >= outer->begin && inner->end <= outer->end;
}

static int by_begin(const void *a, const void *b) {
    const span *x = a, *y = b;
    if (x->tid != y->tid)
        return x->tid < y->tid ? -1 : 1;
    if (x->begin != y->begin)
        return x->begin < y->begin ? -1 : 1;
    return x->end > y->end ? -1 : x->end < y->end; /* outer first */
}

typedef struct ttsp_thread {
    mdn_heap *heap;
    int ready, stop;
    uint64_t passes; /* safepoints passed */
} ttsp_thread;

static void *safepointing(void *arg) {
    ttsp_thread *a = arg;
    toyvm_thread *t = toyvm_thread_attach(a->heap);
    __atomic_store_n(&a->ready, 1, __ATOMIC_RELEASE);
    while (!__atomic_load_n(&a->stop, __ATOMIC_ACQUIRE)) {
        mdn_safepoint(t->mutator);
        __atomic_fetch_add(&a->passes, 1, __ATOMIC_RELEASE);
    }
    toyvm_thread_detach(t);
    return NULL;
}

static char *read_file(const char *path) {
    FILE *f = fopen(path, "r");
    ck_assert_msg(f != NULL, "cannot open %s", path);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *text = malloc((size_t)n + 1);
    ck_assert_uint_eq(fread(text, 1, (size_t)n, f), (size_t)n);
    text[n] = '\0';
    fclose(f);
    return text;
}

static const char *const phase_span_names[MDN_GC_PHASE_COUNT] = {"prepare", "roots",   "closure",
                                                                 "weak",    "release", "resume"};

/* Parse the timeline and check it against the statistics. */
static void check_timeline(const char *path, uint64_t collections, unsigned workers, bool with_ttsp) {
    char *text = read_file(path);
    const char *error;
    jval *root = jparse(text, &error);
    ck_assert_msg(root != NULL, "%s is not JSON: %s", path, error);
    jval *events = jget(root, "traceEvents");
    ck_assert_msg(events && events->kind == J_ARR, "no traceEvents array");
    span *spans = calloc(events->n + 1, sizeof *spans);
    size_t nspans = 0, counters = 0;
    for (size_t i = 0; i < events->n; i++) {
        const jval *ev = events->items[i];
        const char *ph = jstr(ev, "ph");
        ck_assert_ptr_nonnull(ph);
        ck_assert_ptr_nonnull(jstr(ev, "name"));
        ck_assert_ptr_nonnull(jget(ev, "pid"));
        if (strcmp(ph, "C") == 0 && strcmp(jstr(ev, "name"), "heap") == 0) {
            ck_assert_ptr_nonnull(jget(jget(ev, "args"), "committed"));
            counters++;
        }
        if (strcmp(ph, "X") != 0)
            continue;
        span *s = &spans[nspans++];
        s->name = jstr(ev, "name");
        s->tid = (int64_t)jget(ev, "tid")->num;
        s->begin = jns(ev, "ts");
        s->end = s->begin + jns(ev, "dur");
        s->ev = ev;
    }
    ck_assert_uint_eq(counters, collections);
    /* Spans on one thread nest: each starts after and ends before its
     * enclosing span, or starts after it ended. */
    qsort(spans, nspans, sizeof *spans, by_begin);
    span *stack[64];
    size_t depth = 0;
    for (size_t i = 0; i < nspans; i++) {
        while (depth && (stack[depth - 1]->tid != spans[i].tid || stack[depth - 1]->end <= spans[i].begin))
            depth--;
        if (depth)
            ck_assert_msg(within(&spans[i], stack[depth - 1]), "span '%s' [%" PRId64 ", %" PRId64
                          ") overlaps '%s' [%" PRId64 ", %" PRId64 ") without nesting",
                          spans[i].name, spans[i].begin, spans[i].end, stack[depth - 1]->name,
                          stack[depth - 1]->begin, stack[depth - 1]->end);
        ck_assert_uint_lt(depth, 64);
        stack[depth++] = &spans[i];
    }
    /* Every collection the statistics count has one span, numbered 1..N,
     * holding the stop span and the phases in order. */
    uint64_t seen = 0;
    size_t ttsp = 0, work = 0;
    for (size_t i = 0; i < nspans; i++) {
        if (strcmp(spans[i].name, "time to safepoint") == 0)
            ttsp++;
        if (strcmp(spans[i].name, "GC work") == 0)
            work++;
        if (strcmp(spans[i].name, "collection") != 0)
            continue;
        const jval *args = jget(spans[i].ev, "args");
        uint64_t number = (uint64_t)jget(args, "number")->num;
        ck_assert_uint_ge(number, 1);
        ck_assert_uint_le(number, collections);
        seen |= 0; /* counted below */
        const char *kind = jstr(args, "kind"), *trigger = jstr(args, "trigger");
        ck_assert(kind && (strcmp(kind, "full") == 0 || strcmp(kind, PARTIAL_NAME) == 0));
        ck_assert_ptr_nonnull(trigger);
        int64_t prev_end = spans[i].begin;
        int found_stop = 0;
        for (int p = 0; p < MDN_GC_PHASE_COUNT; p++) {
            int found = 0;
            for (size_t j = 0; j < nspans; j++) {
                if (spans[j].tid != spans[i].tid || strcmp(spans[j].name, phase_span_names[p]) != 0 ||
                    !within(&spans[j], &spans[i]))
                    continue;
                found++;
                ck_assert_int_ge(spans[j].begin, prev_end);
                prev_end = spans[j].end;
            }
            ck_assert_msg(found == 1, "collection %" PRIu64 ": %d '%s' spans", number, found, phase_span_names[p]);
        }
        for (size_t j = 0; j < nspans; j++)
            found_stop += spans[j].tid == spans[i].tid && strcmp(spans[j].name, "stop the world") == 0 &&
                          within(&spans[j], &spans[i]);
        ck_assert_int_eq(found_stop, 1);
        seen++;
    }
    ck_assert_uint_eq(seen, collections);
    /* Numbers are distinct: N spans with numbers in 1..N. */
    uint8_t *numbered = calloc(collections + 1, 1);
    for (size_t i = 0; i < nspans; i++) {
        if (strcmp(spans[i].name, "collection") != 0)
            continue;
        uint64_t number = (uint64_t)jget(jget(spans[i].ev, "args"), "number")->num;
        ck_assert_msg(!numbered[number], "collection %" PRIu64 " appears twice", number);
        numbered[number] = 1;
    }
    free(numbered);
    ck_assert_uint_eq(work, collections * workers);
    if (with_ttsp)
        ck_assert_uint_eq(ttsp, collections);
    free(spans);
    jfree(root);
    free(text);
}

static void trace_path(char *out, size_t size, const char *what) {
    snprintf(out, size, "%s/midden-test-%s-%s-%d.json", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp",
             MDN_TEST_PLAN, what, (int)getpid());
}

START_TEST(test_timeline_covers_every_collection) {
    uint64_t seed = mdn_test_seed("timeline_covers_every_collection");
    char path[256], opts[320];
    trace_path(path, sizeof path, "single");
    snprintf(opts, sizeof opts, "trace=%s", path);
    snprintf(opts, sizeof opts, "trace=%s,stress=16K", path);
    mdn_heap *h = mdn_test_heap_with(16u << 20, 2, opts);
    toyvm_thread *t = toyvm_thread_attach(h);
    shadow_world w;
    shadow_world_init(&w, t, seed, 5, 48, 8, 8);
    /* Hundreds of collections: the timeline buffer fills and is written
     * out more than once. */
    for (int i = 0; i < 40000; i++) {
        ck_assert(shadow_step(&w, 0));
        if (i % 4000 == 0)
            mdn_collect(t->mutator, MDN_GC_FULL);
    }
    ck_assert_msg(shadow_verify(&w), "%s", w.failure);
    mdn_stats st;
    mdn_stats_get(h, &st);
    /* Bounded memory: the full buffer was written out before the end. */
    struct stat before_end;
    ck_assert_int_eq(stat(path, &before_end), 0);
    if (plan_collects())
        ck_assert_int_gt(before_end.st_size, 128 * 1024);
    shadow_world_destroy(&w);
    toyvm_thread_detach(t);
    mdn_heap_destroy(h);
    if (plan_collects())
        ck_assert_uint_gt(st.collections, 200);
    check_timeline(path, st.collections, 2, false);
    unlink(path);
}
END_TEST

START_TEST(test_timeline_time_to_safepoint) {
    char path[256], opts[320];
    trace_path(path, sizeof path, "ttsp");
    snprintf(opts, sizeof opts, "trace=%s", path);
    mdn_heap *h = mdn_test_heap_with(64u << 20, 1, opts);
    toyvm_thread *t = toyvm_thread_attach(h);
    ttsp_thread arg = {h, 0, 0, 0};
    pthread_t other;
    ck_assert_int_eq(pthread_create(&other, NULL, safepointing, &arg), 0);
    while (!__atomic_load_n(&arg.ready, __ATOMIC_ACQUIRE))
        mdn_safepoint(t->mutator);
    for (int i = 0; i < 20; i++) {
        /* Wait until the other thread runs again (it passed a safepoint after
         * the last collection), so that each collection waits for it. */
        uint64_t seen = __atomic_load_n(&arg.passes, __ATOMIC_ACQUIRE);
        while (__atomic_load_n(&arg.passes, __ATOMIC_ACQUIRE) < seen + 2)
            sched_yield();
        mdn_collect(t->mutator, i & 1 ? MDN_GC_FULL : MDN_GC_DEFAULT);
    }
    __atomic_store_n(&arg.stop, 1, __ATOMIC_RELEASE);
    mdn_enter_native(t->mutator); /* so the other thread can unbind during a collection it might wait for */
    pthread_join(other, NULL);
    mdn_leave_native(t->mutator);
    mdn_stats st;
    mdn_stats_get(h, &st);
    toyvm_thread_detach(t);
    mdn_heap_destroy(h);
    ck_assert_uint_eq(st.collections, plan_collects() ? 20 : 0);
    check_timeline(path, st.collections, 1, true);
    unlink(path);
}
END_TEST

START_TEST(test_trace_file_error_is_named) {
    mdn_options o;
    mdn_options_init(&o);
    ck_assert(mdn_options_parse(&o, "trace=/nonexistent-dir/x.json", NULL));
    mdn_error err;
    ck_assert_ptr_null(mdn_heap_create(&o, &err));
    ck_assert_int_eq(err.code, MDN_ERR_OPTION);
    ck_assert_contains(err.message, "option 'trace'");
    ck_assert_contains(err.message, "/nonexistent-dir/x.json");
}
END_TEST

/* .obs.listeners: a running mutator adds and removes a listener in a loop
 * while another thread collects. Adding and removing once waited for the
 * collection to end while the collection waited for that mutator to stop,
 * which hung both (the timeout fails it); and a listener is never called
 * once its removal has returned. */
typedef struct churned {
    int registered; /* atomic: between the add and the end of the remove */
    int calls;      /* atomic */
    int late;       /* atomic: calls after the remove returned */
} churned;

static void churned_event(mdn_heap *heap, const mdn_event *e, void *data) {
    (void)heap, (void)e;
    churned *c = data;
    if (!__atomic_load_n(&c->registered, __ATOMIC_ACQUIRE))
        __atomic_fetch_add(&c->late, 1, __ATOMIC_RELAXED);
    __atomic_fetch_add(&c->calls, 1, __ATOMIC_RELAXED);
}

typedef struct churn_arg {
    mdn_heap *heap;
    churned listener;
    int stop;   /* atomic */
    int rounds; /* atomic */
} churn_arg;

static void *churn_listeners(void *arg) {
    churn_arg *a = arg;
    toyvm_thread *me = toyvm_thread_attach(a->heap);
    while (!__atomic_load_n(&a->stop, __ATOMIC_ACQUIRE)) {
        __atomic_store_n(&a->listener.registered, 1, __ATOMIC_RELEASE);
        mdn_event_listener_add(a->heap, churned_event, &a->listener);
        (void)toyvm_alloc(me, 1, 2, 16, MDN_ALLOC_DEFAULT);
        mdn_event_listener_remove(a->heap, churned_event, &a->listener);
        __atomic_store_n(&a->listener.registered, 0, __ATOMIC_RELEASE);
        mdn_safepoint(me->mutator);
        __atomic_fetch_add(&a->rounds, 1, __ATOMIC_RELEASE);
    }
    toyvm_thread_detach(me);
    return NULL;
}

START_TEST(test_listener_changes_never_wait_for_a_collection) {
    mdn_heap *h = mdn_test_heap_with(8u << 20, 2, NULL);
    toyvm_thread *t = toyvm_thread_attach(h);
    churn_arg a = {.heap = h};
    pthread_t th;
    ck_assert_int_eq(pthread_create(&th, NULL, churn_listeners, &a), 0);
    while (__atomic_load_n(&a.rounds, __ATOMIC_ACQUIRE) == 0)
        mdn_safepoint(t->mutator);
    for (int i = 0; i < 300; i++) {
        (void)toyvm_alloc(t, 1, 2, 16, MDN_ALLOC_DEFAULT);
        mdn_collect(t->mutator, i % 4 == 3 ? MDN_GC_FULL : MDN_GC_DEFAULT);
    }
    __atomic_store_n(&a.stop, 1, __ATOMIC_RELEASE);
    /* The other thread may start a collection before it sees `stop`; that
     * collection must not wait for this thread, blocked in the join. */
    mdn_enter_native(t->mutator);
    int joined = pthread_join(th, NULL);
    mdn_leave_native(t->mutator);
    ck_assert_int_eq(joined, 0);
    ck_assert_int_gt(a.rounds, 0);
    ck_assert_msg(a.listener.late == 0, "a removed listener was called %d times after its removal returned",
                  a.listener.late);
    /* Removed, it hears no more collections. */
    int calls = a.listener.calls;
    mdn_collect(t->mutator, MDN_GC_FULL);
    ck_assert_int_eq(a.listener.calls, calls);
    toyvm_thread_detach(t);
    mdn_heap_destroy(h);
}
END_TEST

static uint64_t traced_at_end;
static void note_gc_end(mdn_heap *heap, const mdn_event *e, void *data) {
    (void)heap, (void)data;
    if (e->kind == MDN_EVENT_GC_END)
        traced_at_end = e->objects_traced;
}

/* Grow a tree of `depth` levels, fan-out 3, under the object in root
 * `root`; returns how many objects it has, that one included. */
static uint64_t grow_tree(toyvm_thread *t, size_t root, unsigned depth) {
    uint64_t n = 1;
    if (depth > 1) {
        for (unsigned i = 0; i < 3; i++) {
            size_t child = toyvm_push_root(t, toyvm_alloc(t, 18, 3, 8, MDN_ALLOC_DEFAULT));
            n += grow_tree(t, child, depth - 1);
            toyvm_set_ref(t, toyvm_root(t, root), i, toyvm_root(t, child));
            toyvm_pop_roots(t, 1);
        }
    }
    return n;
}

/* docs/design/collector.md .trace.count: a full collection's GC-end event
 * reports each reached object once, with 1 and 2 GC threads, through the
 * prefetch ring, the private stack and a wide object's range. */
START_TEST(test_gc_end_counts_each_reached_object) {
    mdn_heap *h = mdn_test_heap_with(64u << 20, 1 + (unsigned)_i, NULL);
    toyvm_thread *t = toyvm_thread_attach(h);
    mdn_event_listener_add(h, note_gc_end, NULL);
    mdn_collect(t->mutator, MDN_GC_FULL);
    uint64_t baseline = traced_at_end; /* what the heap holds without the test's graph */
    enum { WIDTH = 3000, DEPTH = 5 };
    size_t wide = toyvm_push_root(t, toyvm_alloc(t, 16, WIDTH, 8, MDN_ALLOC_DEFAULT));
    uint64_t expected = 1;
    for (unsigned i = 0; i < WIDTH; i++) {
        size_t tree = toyvm_push_root(t, toyvm_alloc(t, 18, 3, 8, MDN_ALLOC_DEFAULT));
        expected += grow_tree(t, tree, i % DEPTH + 1);
        toyvm_set_ref(t, toyvm_root(t, wide), i, toyvm_root(t, tree));
        toyvm_pop_roots(t, 1);
    }
    for (int round = 0; round < 3; round++) {
        mdn_collect(t->mutator, MDN_GC_FULL);
        ck_assert_msg(traced_at_end == baseline + expected, "a full collection traced %" PRIu64
                      " objects; the heap holds %" PRIu64 " reachable ones (%" PRIu64 " of them the test's)",
                      traced_at_end, baseline + expected, expected);
    }
    mdn_event_listener_remove(h, note_gc_end, NULL);
    toyvm_thread_detach(t);
    mdn_heap_destroy(h);
}
END_TEST

static Suite *obs_suite(void) {
    Suite *s = suite_create("obs/" MDN_TEST_PLAN);
    TCase *tc = tcase_create("obs");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, test_json_parser_rejects_bad_input);
    tcase_add_test(tc, test_listeners_fire_in_order);
    tcase_add_test(tc, test_listener_changes_never_wait_for_a_collection);
    tcase_add_test(tc, test_out_of_memory_event);
    tcase_add_test(tc, test_misuse_is_named);
    tcase_add_test(tc, test_walk_matches_shadow_model);
    tcase_add_test(tc, test_summary_and_histogram);
    tcase_add_test(tc, test_timeline_covers_every_collection);
    tcase_add_test(tc, test_timeline_time_to_safepoint);
    tcase_add_test(tc, test_trace_file_error_is_named);
    if (plan_collects()) /* NoGC sends no GC-end event */
        tcase_add_loop_test(tc, test_gc_end_counts_each_reached_object, 0, 2);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return mdn_run_suite(obs_suite()); }
