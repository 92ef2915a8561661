/*
 * API misuse gives a named error, on every plan (MPS-style argument
 * errors). Each case runs in a child process, which must abort with
 * "midden: API misuse [<check>]: ..." naming the expected check (and a
 * word of the message); bad options are refused by mdn_heap_create with
 * MDN_ERR_OPTION and a message naming the option.
 */
#include "testutil.h"
#include "toyvm.h"

#include "mdn_check.h"
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static mdn_heap *new_heap(void) {
    mdn_options o;
    mdn_options_init(&o);
    o.heap_size = (size_t)16 << 20;
    o.gc_threads = 1;
    mdn_error err;
    mdn_heap *h = mdn_heap_create(&o, &err);
    if (!h) {
        fprintf(stderr, "heap: %s\n", err.message);
        exit(3);
    }
    return h;
}

static mdn_mutator *new_mutator(mdn_heap **heap_out) {
    mdn_heap *h = new_heap();
    if (heap_out)
        *heap_out = h;
    mdn_mutator *m = mdn_mutator_bind(h, NULL);
    /* Give it allocation buffers, so fast paths would have something to use. */
    for (int i = 0; i < 10; i++)
        *(uint64_t *)mdn_alloc(m, 16, 8, MDN_ALLOC_DEFAULT) = toyvm_make_header(1, 0, 16);
    return m;
}

static mdn_mutator *unbound_mutator(void) {
    mdn_mutator *m = new_mutator(NULL);
    mdn_mutator_unbind(m);
    return m;
}

static mdn_mutator *native_mutator(void) {
    mdn_mutator *m = new_mutator(NULL);
    mdn_enter_native(m);
    return m;
}

/* Keep the compiler from dropping calls whose result is unused. */
static void *volatile sink;

/* ---- the cases ------------------------------------------------------------ */

static void alloc_zero_bytes(void) { sink = mdn_alloc(new_mutator(NULL), 0, 8, MDN_ALLOC_DEFAULT); }
static void alloc_absurd_size(void) { sink = mdn_alloc(new_mutator(NULL), (size_t)1 << 41, 8, MDN_ALLOC_DEFAULT); }
static void alloc_size_max(void) { sink = mdn_alloc(new_mutator(NULL), SIZE_MAX, 8, MDN_ALLOC_DEFAULT); }
static void alloc_align_not_power_of_two(void) { sink = mdn_alloc(new_mutator(NULL), 16, 24, MDN_ALLOC_DEFAULT); }
static void alloc_align_three(void) { sink = mdn_alloc(new_mutator(NULL), 16, 3, MDN_ALLOC_DEFAULT); }
static void alloc_align_zero(void) { sink = mdn_alloc(new_mutator(NULL), 16, 0, MDN_ALLOC_DEFAULT); }
static void alloc_align_too_large(void) { sink = mdn_alloc(new_mutator(NULL), 16, (size_t)1 << 20, MDN_ALLOC_DEFAULT); }
static void alloc_unknown_kind(void) { sink = mdn_alloc(new_mutator(NULL), 16, 8, (mdn_alloc_kind)9); }
static void alloc_after_unbind(void) { sink = mdn_alloc(unbound_mutator(), 16, 8, MDN_ALLOC_DEFAULT); }
static void alloc_large_after_unbind(void) { sink = mdn_alloc(unbound_mutator(), 100000, 8, MDN_ALLOC_LARGE); }
static void alloc_in_native(void) { sink = mdn_alloc(native_mutator(), 16, 8, MDN_ALLOC_DEFAULT); }
static void alloc_null_mutator(void) { sink = mdn_alloc_slow(NULL, 16, 8, MDN_ALLOC_DEFAULT); }
static void alloc_not_a_mutator(void) {
    /* Zeroed memory the size of any mutator: not one. */
    void *fake = aligned_alloc(64, 1 << 16);
    memset(fake, 0, 1 << 16);
    sink = mdn_alloc((mdn_mutator *)fake, 16, 8, MDN_ALLOC_DEFAULT);
}
static void unbind_twice(void) { mdn_mutator_unbind(unbound_mutator()); }
static void unbind_in_native(void) { mdn_mutator_unbind(native_mutator()); }
static void unbind_null(void) { mdn_mutator_unbind(NULL); }
static void collect_in_native(void) { mdn_collect(native_mutator(), MDN_GC_DEFAULT); }
static void collect_after_unbind(void) { mdn_collect(unbound_mutator(), MDN_GC_FULL); }
static void collect_unknown_kind(void) { mdn_collect(new_mutator(NULL), (mdn_gc_kind)5); }
static void leave_native_when_running(void) { mdn_leave_native(new_mutator(NULL)); }
static void leave_native_after_unbind(void) { mdn_leave_native(unbound_mutator()); }
static void enter_native_twice(void) { mdn_enter_native(native_mutator()); }
static void enter_native_after_unbind(void) { mdn_enter_native(unbound_mutator()); }
static void safepoint_after_unbind(void) { mdn_safepoint_slow(unbound_mutator()); }
static void safepoint_in_native(void) { mdn_safepoint_slow(native_mutator()); }
static void pin_null(void) { mdn_pin_object(new_mutator(NULL), mdn_objref_null()); }
static void pin_after_unbind(void) {
    mdn_heap *h;
    mdn_mutator *m = new_mutator(&h);
    void *p = mdn_alloc(m, 16, 8, MDN_ALLOC_DEFAULT);
    *(uint64_t *)p = toyvm_make_header(1, 0, 16);
    mdn_mutator_unbind(m);
    mdn_pin_object(m, mdn_objref_from_ptr(p));
}
static void mutator_heap_after_unbind(void) { sink = mdn_mutator_heap(unbound_mutator()); }
static void bind_null_heap(void) { sink = mdn_mutator_bind(NULL, NULL); }
static void bind_not_a_heap(void) {
    static uint64_t fake[512];
    sink = mdn_mutator_bind((mdn_heap *)fake, NULL);
}
static void destroy_with_bound_mutator(void) {
    mdn_heap *h;
    new_mutator(&h);
    mdn_heap_destroy(h);
}
static void destroy_null_heap(void) { mdn_heap_destroy(NULL); }
static void heap_options_null(void) { sink = (void *)mdn_heap_options(NULL); }
static void stats_null_heap(void) {
    mdn_stats st;
    mdn_stats_get(NULL, &st);
}
static void stats_null_output(void) { mdn_stats_get(new_heap(), NULL); }
static void add_roots_twice(void) {
    mdn_heap *h = new_heap();
    static mdn_objref range[4];
    mdn_add_roots(h, range, 4);
    mdn_add_roots(h, range, 2);
}
static void add_roots_null(void) { mdn_add_roots(new_heap(), NULL, 4); }
static void add_roots_misaligned(void) {
    static uint64_t words[4];
    mdn_add_roots(new_heap(), (mdn_objref *)((char *)words + 4), 2);
}
static void remove_roots_unregistered(void) {
    static mdn_objref range[4];
    mdn_remove_roots(new_heap(), range);
}
static void remove_roots_twice(void) {
    mdn_heap *h = new_heap();
    static mdn_objref range[4];
    mdn_add_roots(h, range, 4);
    mdn_remove_roots(h, range);
    mdn_remove_roots(h, range);
}
static void remove_roots_middle(void) {
    mdn_heap *h = new_heap();
    static mdn_objref range[4];
    mdn_add_roots(h, range, 4);
    mdn_remove_roots(h, &range[1]);
}

typedef struct misuse_case {
    const char *name;
    void (*fn)(void);
    const char *check; /* the bracketed check name */
    const char *word;  /* a word the message must contain */
} misuse_case;

static const misuse_case cases[] = {
    {"alloc_zero_bytes", alloc_zero_bytes, "alloc", "zero-byte"},
    {"alloc_absurd_size", alloc_absurd_size, "alloc", "limit"},
    {"alloc_size_max", alloc_size_max, "alloc", "limit"},
    {"alloc_align_not_power_of_two", alloc_align_not_power_of_two, "alloc", "power of two"},
    {"alloc_align_three", alloc_align_three, "alloc", "power of two"},
    {"alloc_align_zero", alloc_align_zero, "alloc", "power of two"},
    {"alloc_align_too_large", alloc_align_too_large, "alloc", "page size"},
    {"alloc_unknown_kind", alloc_unknown_kind, "alloc", "kind"},
    {"alloc_after_unbind", alloc_after_unbind, "alloc", "unbound"},
    {"alloc_large_after_unbind", alloc_large_after_unbind, "alloc", "unbound"},
    {"alloc_in_native", alloc_in_native, "alloc", "native"},
    {"alloc_null_mutator", alloc_null_mutator, "alloc", "NULL"},
    {"alloc_not_a_mutator", alloc_not_a_mutator, "alloc", "not a bound mutator"},
    {"unbind_twice", unbind_twice, "mutator_unbind", "unbound"},
    {"unbind_in_native", unbind_in_native, "mutator_unbind", "native"},
    {"unbind_null", unbind_null, "mutator_unbind", "NULL"},
    {"collect_in_native", collect_in_native, "collect", "native"},
    {"collect_after_unbind", collect_after_unbind, "collect", "unbound"},
    {"collect_unknown_kind", collect_unknown_kind, "collect", "kind"},
    {"leave_native_when_running", leave_native_when_running, "leave_native", "not in native"},
    {"leave_native_after_unbind", leave_native_after_unbind, "leave_native", "unbound"},
    {"enter_native_twice", enter_native_twice, "enter_native", "native"},
    {"enter_native_after_unbind", enter_native_after_unbind, "enter_native", "unbound"},
    {"safepoint_after_unbind", safepoint_after_unbind, "safepoint", "unbound"},
    {"safepoint_in_native", safepoint_in_native, "safepoint", "native"},
    {"pin_null", pin_null, "pin_object", "null"},
    {"pin_after_unbind", pin_after_unbind, "pin_object", "unbound"},
    {"mutator_heap_after_unbind", mutator_heap_after_unbind, "mutator_heap", "unbound"},
    {"bind_null_heap", bind_null_heap, "mutator_bind", "NULL"},
    {"bind_not_a_heap", bind_not_a_heap, "mutator_bind", "not a live heap"},
    {"destroy_with_bound_mutator", destroy_with_bound_mutator, "heap_destroy", "still bound"},
    {"destroy_null_heap", destroy_null_heap, "heap_destroy", "NULL"},
    {"heap_options_null", heap_options_null, "heap_options", "NULL"},
    {"stats_null_heap", stats_null_heap, "stats_get", "NULL"},
    {"stats_null_output", stats_null_output, "stats_get", "NULL"},
    {"add_roots_twice", add_roots_twice, "add_roots", "already registered"},
    {"add_roots_null", add_roots_null, "add_roots", "NULL"},
    {"add_roots_misaligned", add_roots_misaligned, "add_roots", "aligned"},
    {"remove_roots_unregistered", remove_roots_unregistered, "remove_roots", "no root range"},
    {"remove_roots_twice", remove_roots_twice, "remove_roots", "no root range"},
    {"remove_roots_middle", remove_roots_middle, "remove_roots", "no root range"},
};
#define NCASES ((int)(sizeof cases / sizeof cases[0]))

static void run_case(void *arg) { ((const misuse_case *)arg)->fn(); }

START_TEST(misuse_names_its_check) {
    const misuse_case *c = &cases[_i];
    mdn_child_result r;
    mdn_run_in_child(run_case, (void *)c, &r);
    char expected[96];
    snprintf(expected, sizeof expected, "midden: API misuse [%s]: ", c->check);
    ck_assert_msg(r.signaled && r.signal == SIGABRT, "%s: the child did not abort (exited %d, status %d):\n%s",
                  c->name, r.exited, r.exit_status, r.output);
    const char *line = strstr(r.output, expected);
    ck_assert_msg(line != NULL, "%s: expected '%s', got:\n%s", c->name, expected, r.output);
    char first[512];
    snprintf(first, sizeof first, "%s", line);
    first[strcspn(first, "\n")] = '\0';
    ck_assert_msg(strstr(first, c->word) != NULL, "%s: message lacks '%s':\n%s", c->name,
                  c->word, r.output);
}
END_TEST

/* Options out of range: no heap, MDN_ERR_OPTION, the option named. */
typedef struct option_case {
    const char *name; /* the option the message must name */
    void (*set)(mdn_options *o);
} option_case;

static void heap_too_small(mdn_options *o) { o->heap_size = 4096; }
static void heap_too_large(mdn_options *o) { o->heap_size = (size_t)2 << 40; }
static void gc_threads_too_many(mdn_options *o) { o->gc_threads = 1000; }
static void verbose_too_high(mdn_options *o) { o->verbose = 3; }
static void stress_too_large(mdn_options *o) { o->stress = (size_t)2 << 40; }
static void headroom_too_high(mdn_options *o) { o->defrag_headroom = 51; }
/* Heap sizing (docs/design/sizing.md): ranges, and the combinations that conflict. */
static void policy_unknown(mdn_options *o) { o->heap_policy = 4; }
static void policy_fixed_without_heap(mdn_options *o) { o->heap_policy = MDN_HEAP_POLICY_FIXED; }
static void policy_growable_with_heap(mdn_options *o) {
    o->heap_policy = MDN_HEAP_POLICY_GROWABLE;
    o->heap_size = 64 << 20;
}
static void policy_adaptive_with_heap(mdn_options *o) {
    o->heap_policy = MDN_HEAP_POLICY_ADAPTIVE;
    o->heap_size = 64 << 20;
}
static void max_too_small(mdn_options *o) { o->heap_max = 1 << 20; }
static void max_too_large(mdn_options *o) { o->heap_max = (size_t)2 << 40; }
static void initial_too_small(mdn_options *o) { o->heap_initial = 1 << 20; }
static void initial_above_max(mdn_options *o) {
    o->heap_max = 32 << 20;
    o->heap_initial = 64 << 20;
}
static void factor_too_small(mdn_options *o) { o->heap_factor = 100; }
static void factor_too_large(mdn_options *o) { o->heap_factor = 10001; }
static void factor_min_too_small(mdn_options *o) { o->heap_factor_min = 109; }
static void gc_share_too_large(mdn_options *o) { o->heap_gc_share = 91; }
static void adaptive_c_zero(mdn_options *o) { o->heap_adaptive_c = 0; }
static void idle_gcs_too_large(mdn_options *o) { o->return_idle_gcs = 1000001; }
static void idle_ms_too_large(mdn_options *o) { o->return_idle_ms = 86400001; }

static const option_case option_cases[] = {
    {"heap", heap_too_small},       {"heap", heap_too_large},
    {"gc-threads", gc_threads_too_many}, {"verbose", verbose_too_high}, {"stress", stress_too_large},
    {"defrag-headroom", headroom_too_high},
    {"heap-policy", policy_unknown}, {"heap-policy", policy_fixed_without_heap},
    {"heap-policy", policy_growable_with_heap}, {"heap-policy", policy_adaptive_with_heap},
    {"heap-max", max_too_small}, {"heap-max", max_too_large}, {"heap-initial", initial_too_small},
    {"heap-initial", initial_above_max}, {"heap-factor", factor_too_small}, {"heap-factor", factor_too_large},
    {"heap-factor-min", factor_min_too_small}, {"heap-gc-share", gc_share_too_large},
    {"heap-adaptive-c", adaptive_c_zero}, {"return-idle-gcs", idle_gcs_too_large},
    {"return-idle-ms", idle_ms_too_large},
};
#define NOPTION_CASES ((int)(sizeof option_cases / sizeof option_cases[0]))

START_TEST(options_out_of_range_are_refused) {
    const option_case *c = &option_cases[_i];
    mdn_options o;
    mdn_options_init(&o);
    c->set(&o);
    mdn_error err;
    memset(&err, 0, sizeof err);
    ck_assert_ptr_null(mdn_heap_create(&o, &err));
    ck_assert_int_eq(err.code, MDN_ERR_OPTION);
    ck_assert_msg(strstr(err.message, c->name) != NULL, "message does not name '%s': %s", c->name, err.message);
    ck_assert_ptr_null(mdn_heap_create(&o, NULL)); /* no error report asked for: still refused */
}
END_TEST

int main(void) {
    fprintf(stderr, "misuse: %d named checks, %d refused option settings\n", NCASES, NOPTION_CASES);
    Suite *s = suite_create("misuse");
    TCase *tc = tcase_create(MDN_TEST_PLAN);
    tcase_set_timeout(tc, 120);
    tcase_add_loop_test(tc, misuse_names_its_check, 0, NCASES);
    tcase_add_loop_test(tc, options_out_of_range_are_refused, 0, NOPTION_CASES);
    suite_add_tcase(s, tc);
    return mdn_run_suite(s);
}
