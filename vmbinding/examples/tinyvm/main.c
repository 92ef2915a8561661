/*
 * main.c: tinyvm's demonstration program. Two threads build and check
 * lists, vectors and strings while collections run; then the main thread
 * checks the global roots. Every result is checked and printed, so the
 * output is the same for every plan (only the "plan:" line differs).
 *
 *   tinyvm [OPTIONS]      run the demo; OPTIONS as for mdn_options_parse
 *   tinyvm --oom          fill a small heap and recover from out of memory
 *
 * The MDN_* environment variables apply too (MDN_VERIFY=1, MDN_STRESS=1M).
 */
#include "tinyvm.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static void fail(const char *what) {
    fprintf(stderr, "tinyvm: check failed: %s\n", what);
    exit(1);
}

static tv_value must(tv_thread *t, tv_value v) {
    if (t->out_of_memory)
        fail("unexpected out of memory");
    return v;
}

/* [snippet:list-loop] */
/* Build the list (1 2 ... n) and return the sum of its elements. */
static intptr_t build_and_sum(tv_thread *t, intptr_t n) {
    size_t frame = tv_frame_enter(t);
    tv_value *list = tv_local(t, TV_NIL);
    for (intptr_t i = n; i >= 1; i--) {
        *list = must(t, tv_cons(t, tv_fixnum(i), *list));
        mdn_safepoint(t->mutator);
    }
    intptr_t sum = 0;
    /* The cursor is a slot too: the safepoint may move what it points to. */
    tv_value *p = tv_local(t, *list);
    for (; *p != TV_NIL; *p = tv_cdr(*p)) {
        sum += tv_fixnum_value(tv_car(*p));
        /* A loop that does not allocate still polls: a collection
         * requested by another thread waits for this one. */
        mdn_safepoint(t->mutator);
    }
    tv_frame_leave(t, frame);
    return sum;
}
/* [/snippet] */

/* Fill a vector with lists of lengths 0..n-1 while allocating garbage,
 * collect, and return the total length. */
static size_t vector_of_lists(tv_thread *t, size_t n) {
    size_t frame = tv_frame_enter(t);
    tv_value *vec = tv_local(t, must(t, tv_vector(t, n)));
    tv_value *list = tv_local(t, TV_NIL);
    for (size_t i = 0; i < n; i++) {
        *list = TV_NIL;
        for (size_t j = 0; j < i; j++) {
            *list = must(t, tv_cons(t, tv_fixnum((intptr_t)j), *list));
            must(t, tv_cons(t, TV_NIL, TV_NIL)); /* garbage */
        }
        tv_set_field(t, *vec, i, *list); /* re-read *vec: it may have moved */
    }
    mdn_collect(t->mutator, MDN_GC_DEFAULT);
    size_t total = 0;
    for (size_t i = 0; i < n; i++)
        for (tv_value p = tv_fields(*vec)[i]; p != TV_NIL; p = tv_cdr(p))
            total++;
    tv_frame_leave(t, frame);
    return total;
}

/* [snippet:native] */
/* Copy a string out of the heap, then work on the copy in native state:
 * while native the thread must not touch the heap, and collections run
 * without waiting for it. */
static uint32_t checksum_in_native(tv_thread *t, tv_value str) {
    char copy[64];
    snprintf(copy, sizeof copy, "%s", tv_chars(str));
    mdn_enter_native(t->mutator);
    uint32_t h = 2166136261u;
    for (const char *c = copy; *c; c++)
        h = (h ^ (unsigned char)*c) * 16777619u;
    struct timespec pause = {0, 1000000}; /* stands in for a blocking call */
    nanosleep(&pause, NULL);
    mdn_leave_native(t->mutator); /* waits if a collection is running */
    return h;
}
/* [/snippet] */

typedef struct worker_result {
    int id;
    intptr_t sum;
    size_t lengths;
    size_t strings_ok;
    uint32_t checksum;
} worker_result;

static mdn_heap *heap;

/* [snippet:worker] */
static void *worker_main(void *arg) {
    worker_result *r = arg;
    tv_thread *t = tv_thread_attach(heap);
    r->sum = build_and_sum(t, 20000);
    r->lengths = vector_of_lists(t, 120);

    size_t frame = tv_frame_enter(t);
    tv_value *names = tv_local(t, must(t, tv_vector(t, 100)));
    char text[32];
    for (int i = 0; i < 100; i++) {
        snprintf(text, sizeof text, "w%d-item-%d", r->id, i);
        tv_value s = must(t, tv_string(t, text));
        tv_set_field(t, *names, (size_t)i, s);
        if (i % 10 == 0)
            must(t, tv_intern(t, text));
    }
    for (int i = 0; i < 100; i++) {
        snprintf(text, sizeof text, "w%d-item-%d", r->id, i);
        r->strings_ok += strcmp(tv_chars(tv_fields(*names)[i]), text) == 0;
        r->checksum ^= checksum_in_native(t, tv_fields(*names)[i]);
    }
    tv_frame_leave(t, frame);
    tv_thread_detach(t);
    return NULL;
}
/* [/snippet] */

static int run_demo(const char *option_text) {
    /* [snippet:heap-create] */
    mdn_options options;
    mdn_error err;
    mdn_options_init(&options);
    /* The program's settings; mdn_heap_create applies the MDN_* environment
     * over them (unless env=0). */
    if (!mdn_options_parse(&options, option_text, &err)) {
        fprintf(stderr, "tinyvm: %s\n", err.message);
        return 2;
    }
    heap = mdn_heap_create(&options, &err);
    if (!heap) {
        fprintf(stderr, "tinyvm: %s\n", err.message);
        return 2;
    }
    tv_symbols_register(heap);
    /* [/snippet] */
    printf("plan: %s\n", mdn_plan_name());
    if (strcmp(mdn_version_string(), MDN_VERSION_STRING) != 0)
        fail("headers and library versions differ");

    tv_thread *main_thread = tv_thread_attach(heap);
    tv_globals[0] = must(main_thread, tv_string(main_thread, "a global string"));
    tv_globals[1] = tv_fixnum(42);
    tv_globals[2] = must(main_thread, tv_cons(main_thread, tv_fixnum(7), TV_NIL));

    /* [snippet:join] */
    enum { WORKERS = 2 };
    pthread_t threads[WORKERS];
    worker_result results[WORKERS];
    /* The main thread stays bound but waits in native state: a bound,
     * running thread blocked in pthread_join would stop every collection. */
    mdn_enter_native(main_thread->mutator);
    for (int i = 0; i < WORKERS; i++) {
        memset(&results[i], 0, sizeof results[i]);
        results[i].id = i;
        if (pthread_create(&threads[i], NULL, worker_main, &results[i]) != 0)
            fail("pthread_create");
    }
    for (int i = 0; i < WORKERS; i++)
        pthread_join(threads[i], NULL);
    mdn_leave_native(main_thread->mutator);
    /* [/snippet] */

    for (int i = 0; i < WORKERS; i++)
        printf("worker %d: sum %" PRIdPTR ", list lengths %zu, strings %zu/100, checksum %08" PRIx32 "\n",
               results[i].id, results[i].sum, results[i].lengths, results[i].strings_ok, results[i].checksum);

    mdn_collect(main_thread->mutator, MDN_GC_FULL);
    printf("globals: \"%s\" %" PRIdPTR " (%" PRIdPTR ")\n", tv_chars(tv_globals[0]),
           tv_fixnum_value(tv_globals[1]), tv_fixnum_value(tv_car(tv_globals[2])));
    size_t nsymbols = tv_symbol_count();
    tv_value symbol = tv_intern(main_thread, "w1-item-90");
    printf("symbols: %zu interned, \"w1-item-90\" %s\n", nsymbols,
           nsymbols == tv_symbol_count() && symbol != TV_NIL ? "found" : "missing");

    mdn_stats stats;
    mdn_stats_get(heap, &stats);
    if (getenv("TINYVM_STATS"))
        fprintf(stderr, "tinyvm: %" PRIu64 " collections, max pause %.3f ms\n", stats.collections,
                (double)stats.max_pause_ns / 1e6);

    /* [snippet:teardown] */
    tv_thread_detach(main_thread);
    tv_symbols_unregister(heap);
    mdn_heap_destroy(heap); /* every thread must be unbound first */
    /* [/snippet] */
    printf("ok\n");
    return 0;
}

/* Keep a growing list alive in a small heap until an allocation fails,
 * then drop it and carry on. */
static int run_oom(void) {
    mdn_options options;
    mdn_error err;
    mdn_options_init(&options);
    if (!mdn_options_parse(&options, "heap=4M,gc-threads=1", &err)) {
        fprintf(stderr, "tinyvm: %s\n", err.message);
        return 2;
    }
    heap = mdn_heap_create(&options, &err);
    if (!heap) {
        fprintf(stderr, "tinyvm: %s\n", err.message);
        return 2;
    }
    tv_thread *t = tv_thread_attach(heap);
    /* [snippet:oom-recover] */
    size_t frame = tv_frame_enter(t);
    tv_value *list = tv_local(t, TV_NIL);
    size_t length = 0;
    while (!t->out_of_memory) {
        tv_value cell = tv_cons(t, tv_fixnum((intptr_t)length), *list);
        if (cell != TV_NIL)
            *list = cell, length++;
    }
    tv_frame_leave(t, frame); /* drop the list */
    t->out_of_memory = false;
    /* [/snippet] */
    printf("out of memory: reported %s, list of more than 1000 cells: %s\n", tv_oom_reports() >= 1 ? "yes" : "no",
           length > 1000 ? "yes" : "no");
    tv_thread_detach(t);
    mdn_heap_destroy(heap);
    return 0;
}

int main(int argc, char **argv) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (argc > 1 && strcmp(argv[1], "--oom") == 0)
        return run_oom();
    return run_demo(argc > 1 ? argv[1] : "");
}
