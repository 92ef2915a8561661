/*
 * test_options.c: the heap options (core/options.c, docs/design/overview.md .overview.api): defaults,
 * every option at its bounds and in every accepted form, every rejected
 * form with the message it must give, environment variables, validation,
 * and the generated help and Markdown reference.
 */
#include "core/options.h"

#include <midden/midden.h>

#include "mdn_check.h"
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define KIB (UINT64_C(1) << 10)
#define MIB (UINT64_C(1) << 20)
#define GIB (UINT64_C(1) << 30)
#define TIB (UINT64_C(1) << 40)

/* The option names as the documentation promises them, independent of the table. */
static const char *const all_names[] = {"heap",         "gc-threads",     "verbose",         "verify",
                                        "stress",       "poison",         "defrag-headroom", "conservative", "conservative-past-end",
                                        "gen-full-threshold", "gen-full-alloc", "gen-min-yield", "nursery", "nursery-percent",
                                        "heap-policy",  "heap-max",       "heap-initial",    "heap-factor",  "heap-factor-min", "heap-gc-share", "heap-growth",  "heap-shrink",
                                        "heap-shrink-ratio", "heap-adaptive-c",
                                        "return-idle-gcs", "return-idle-ms", "stats",       "heap-histogram",
                                        "trace",        "env"};
static const char *const all_env_names[] = {"MDN_HEAP",         "MDN_GC_THREADS",  "MDN_VERBOSE",
                                            "MDN_VERIFY",       "MDN_STRESS",      "MDN_POISON",
                                            "MDN_DEFRAG_HEADROOM", "MDN_CONSERVATIVE", "MDN_CONSERVATIVE_PAST_END",
                                            "MDN_GEN_FULL_THRESHOLD", "MDN_GEN_FULL_ALLOC", "MDN_GEN_MIN_YIELD", "MDN_NURSERY",
                                            "MDN_NURSERY_PERCENT", "MDN_HEAP_POLICY", "MDN_HEAP_MAX", "MDN_HEAP_INITIAL",
                                            "MDN_HEAP_FACTOR", "MDN_HEAP_FACTOR_MIN", "MDN_HEAP_GC_SHARE", "MDN_HEAP_GROWTH", "MDN_HEAP_SHRINK", "MDN_HEAP_SHRINK_RATIO", "MDN_HEAP_ADAPTIVE_C",
                                            "MDN_RETURN_IDLE_GCS", "MDN_RETURN_IDLE_MS", "MDN_STATS",
                                            "MDN_HEAP_HISTOGRAM", "MDN_TRACE", "MDN_ENV"};
#define NAME_COUNT (sizeof all_names / sizeof all_names[0])

#define ck_assert_contains(hay, needle)                                                                      \
    ck_assert_msg(strstr((hay), (needle)) != NULL, "expected \"%s\" in \"%s\"", (needle), (hay))

/* Read a field by option name without going through the table. */
static uint64_t field_of(const mdn_options *o, const char *name) {
    if (strcmp(name, "heap") == 0)
        return o->heap_size;
    if (strcmp(name, "gc-threads") == 0)
        return o->gc_threads;
    if (strcmp(name, "verbose") == 0)
        return o->verbose;
    if (strcmp(name, "verify") == 0)
        return o->verify;
    if (strcmp(name, "stress") == 0)
        return o->stress;
    if (strcmp(name, "poison") == 0)
        return o->poison;
    if (strcmp(name, "defrag-headroom") == 0)
        return o->defrag_headroom;
    if (strcmp(name, "conservative") == 0)
        return o->conservative;
    if (strcmp(name, "conservative-past-end") == 0)
        return o->conservative_past_end;
    if (strcmp(name, "gen-full-threshold") == 0)
        return o->gen_full_threshold;
    if (strcmp(name, "gen-full-alloc") == 0)
        return o->gen_full_alloc;
    if (strcmp(name, "gen-min-yield") == 0)
        return o->gen_min_yield;
    if (strcmp(name, "nursery") == 0)
        return o->nursery;
    if (strcmp(name, "nursery-percent") == 0)
        return o->nursery_percent;
    if (strcmp(name, "heap-policy") == 0)
        return o->heap_policy;
    if (strcmp(name, "heap-max") == 0)
        return o->heap_max;
    if (strcmp(name, "heap-initial") == 0)
        return o->heap_initial;
    if (strcmp(name, "heap-factor") == 0)
        return o->heap_factor;
    if (strcmp(name, "heap-factor-min") == 0)
        return o->heap_factor_min;
    if (strcmp(name, "heap-gc-share") == 0)
        return o->heap_gc_share;
    if (strcmp(name, "heap-growth") == 0)
        return o->heap_growth;
    if (strcmp(name, "heap-shrink") == 0)
        return o->heap_shrink;
    if (strcmp(name, "heap-shrink-ratio") == 0)
        return o->heap_shrink_ratio;
    if (strcmp(name, "heap-adaptive-c") == 0)
        return o->heap_adaptive_c;
    if (strcmp(name, "return-idle-gcs") == 0)
        return o->return_idle_gcs;
    if (strcmp(name, "return-idle-ms") == 0)
        return o->return_idle_ms;
    if (strcmp(name, "stats") == 0)
        return o->stats;
    if (strcmp(name, "heap-histogram") == 0)
        return o->heap_histogram;
    if (strcmp(name, "trace") == 0) /* a string: its length */
        return strlen(o->trace);
    ck_abort_msg("no field for option %s", name);
    return 0;
}

static void assert_same(const mdn_options *a, const mdn_options *b) {
    ck_assert_uint_eq(a->heap_size, b->heap_size);
    ck_assert_uint_eq(a->gc_threads, b->gc_threads);
    ck_assert_uint_eq(a->verbose, b->verbose);
    ck_assert_int_eq(a->verify, b->verify);
    ck_assert_uint_eq(a->stress, b->stress);
    ck_assert_int_eq(a->poison, b->poison);
    ck_assert_uint_eq(a->defrag_headroom, b->defrag_headroom);
    ck_assert_int_eq(a->conservative, b->conservative);
    ck_assert_int_eq(a->conservative_past_end, b->conservative_past_end);
    ck_assert_uint_eq(a->nursery, b->nursery);
    ck_assert_uint_eq(a->nursery_percent, b->nursery_percent);
    ck_assert_int_eq(a->heap_shrink, b->heap_shrink);
    ck_assert_uint_eq(a->heap_policy, b->heap_policy);
    ck_assert_uint_eq(a->heap_max, b->heap_max);
    ck_assert_uint_eq(a->heap_initial, b->heap_initial);
    ck_assert_uint_eq(a->heap_factor, b->heap_factor);
    ck_assert_uint_eq(a->heap_factor_min, b->heap_factor_min);
    ck_assert_uint_eq(a->heap_gc_share, b->heap_gc_share);
    ck_assert_uint_eq(a->heap_adaptive_c, b->heap_adaptive_c);
    ck_assert_uint_eq(a->return_idle_gcs, b->return_idle_gcs);
    ck_assert_uint_eq(a->return_idle_ms, b->return_idle_ms);
    ck_assert_int_eq(a->stats, b->stats);
    ck_assert_int_eq(a->heap_histogram, b->heap_histogram);
    ck_assert_str_eq(a->trace, b->trace);
}

static void assert_defaults(const mdn_options *o) {
    ck_assert_uint_eq(o->heap_size, 0); /* unset: heap-policy sizes the heap */
    ck_assert_uint_eq(o->heap_policy, MDN_HEAP_POLICY_AUTO);
    ck_assert_uint_eq(o->heap_max, 0);
    ck_assert_uint_eq(o->heap_initial, 16 * MIB);
    ck_assert_uint_eq(o->heap_factor, 200);
    ck_assert_uint_eq(o->heap_factor_min, 125);
    ck_assert_uint_eq(o->heap_gc_share, 30);
    ck_assert(o->heap_shrink);
    ck_assert(!o->conservative_past_end);
    ck_assert_uint_eq(o->return_idle_gcs, 4);
    ck_assert_uint_eq(o->return_idle_ms, 2000);
    ck_assert_uint_eq(o->gc_threads, 0);
    ck_assert_uint_eq(o->verbose, 0);
    ck_assert(!o->verify);
    ck_assert_uint_eq(o->stress, 0);
    ck_assert(!o->poison);
    ck_assert_uint_eq(o->defrag_headroom, 2);
    ck_assert_uint_eq(o->nursery, 0); /* unset: nursery-percent of the heap limit */
    ck_assert_uint_eq(o->nursery_percent, 50);
    ck_assert(!o->stats);
    ck_assert(!o->heap_histogram);
    ck_assert_str_eq(o->trace, "");
    ck_assert(o->env);
}

/* Options with every field away from its default, to show a failure leaves them alone. */
static void init_nondefault(mdn_options *o) {
    mdn_options_init(o);
    o->heap_size = 96 * MIB;
    o->gc_threads = 3;
    o->verbose = 1;
    o->verify = true;
    o->stress = 8 * KIB;
    o->poison = true;
    o->defrag_headroom = 7;
    o->nursery = 4 * MIB;
    o->nursery_percent = 20;
    o->heap_policy = MDN_HEAP_POLICY_ADAPTIVE;
    o->heap_max = 512 * MIB;
    o->heap_initial = 8 * MIB;
    o->heap_factor = 300;
    o->heap_factor_min = 150;
    o->heap_gc_share = 5;
    o->heap_shrink = false;
    o->conservative_past_end = true;
    o->heap_adaptive_c = 77;
    o->return_idle_gcs = 9;
    o->return_idle_ms = 12;
    o->stats = true;
    o->heap_histogram = true;
    strcpy(o->trace, "before.json");
    o->env = false;
}

static void clear_env(void) {
    unsetenv("MDN_OPTIONS");
    for (size_t i = 0; i < NAME_COUNT; i++)
        unsetenv(all_env_names[i]);
}

/* ---- defaults and the table ------------------------------------------------ */

START_TEST(test_defaults) {
    mdn_options o;
    memset(&o, 0xab, sizeof o);
    mdn_options_init(&o);
    assert_defaults(&o);
    mdn_error err;
    ck_assert(mdn_options_validate(&o, &err));
    ck_assert_int_eq(err.code, MDN_OK);
}
END_TEST

START_TEST(test_table_is_consistent) {
    ck_assert_uint_eq(mdn_options_count(), NAME_COUNT);
    ck_assert_ptr_null(mdn_options_describe(NAME_COUNT));
    for (size_t i = 0; i < NAME_COUNT; i++) {
        const mdn_option_desc *d = mdn_options_find(all_names[i]);
        ck_assert_msg(d != NULL, "option %s missing from the table", all_names[i]);
        ck_assert_str_eq(d->name, all_names[i]);
    }
    for (size_t i = 0; i < mdn_options_count(); i++) {
        const mdn_option_desc *d = mdn_options_describe(i);
        ck_assert_ptr_eq(mdn_options_find(d->name), d);
        /* A default of 0 below the range means "unset" (options.h). */
        ck_assert_msg((d->min <= d->default_value || d->default_value == 0) && d->default_value <= d->max,
                      "%s: default outside range", d->name);
        if (d->type == MDN_OPTION_CHOICE) {
            const char *const *names = mdn_option_choices(d);
            size_t n = 0;
            while (names[n])
                n++;
            ck_assert_uint_eq(d->max + 1, n);
        }
        ck_assert_uint_lt(d->offset, sizeof(mdn_options));
        ck_assert_uint_gt(strlen(d->doc), 0);
        ck_assert_ptr_null(strpbrk(d->doc, "\n|"));
        ck_assert_uint_lt(strlen(d->name), 40);
        for (const char *s = d->name; *s; s++)
            ck_assert_msg((*s >= 'a' && *s <= 'z') || *s == '-', "%s: bad character in name", d->name);
        if (d->type == MDN_OPTION_UNSIGNED)
            ck_assert_uint_le(d->max, UINT_MAX);
        if (d->type == MDN_OPTION_BOOL)
            ck_assert(d->min == 0 && d->max == 1);
        for (size_t j = 0; j < i; j++)
            ck_assert_str_ne(mdn_options_describe(j)->name, d->name);
    }
    ck_assert_ptr_null(mdn_options_find("nope"));
    ck_assert_ptr_null(mdn_options_find(NULL));
    ck_assert_ptr_null(mdn_options_find("hea"));
}
END_TEST

START_TEST(test_table_ranges) {
    ck_assert_uint_eq(mdn_options_find("heap")->min, MIB);
    ck_assert_uint_eq(mdn_options_find("heap")->max, TIB);
    ck_assert_uint_eq(mdn_options_find("gc-threads")->max, 256);
    ck_assert_uint_eq(mdn_options_find("verbose")->max, 2);
    ck_assert_uint_eq(mdn_options_find("stress")->min, 0);
    ck_assert_uint_eq(mdn_options_find("stress")->max, TIB);
    ck_assert_uint_eq(mdn_options_find("defrag-headroom")->max, 50);
    ck_assert_int_eq(mdn_options_find("heap")->type, MDN_OPTION_SIZE);
    ck_assert_int_eq(mdn_options_find("stress")->type, MDN_OPTION_SIZE);
    ck_assert_int_eq(mdn_options_find("gc-threads")->type, MDN_OPTION_UNSIGNED);
    ck_assert_int_eq(mdn_options_find("verify")->type, MDN_OPTION_BOOL);
    ck_assert_int_eq(mdn_options_find("poison")->type, MDN_OPTION_BOOL);
    ck_assert_int_eq(mdn_options_find("stats")->type, MDN_OPTION_BOOL);
    ck_assert_int_eq(mdn_options_find("heap-histogram")->type, MDN_OPTION_BOOL);
    ck_assert_int_eq(mdn_options_find("trace")->type, MDN_OPTION_STRING);
    ck_assert_uint_eq(mdn_options_find("trace")->max, MDN_OPTION_STRING_SIZE - 1);
}
END_TEST

/* The string option: any characters but whitespace and commas, up to its length limit. */
START_TEST(test_string_option) {
    mdn_options o;
    mdn_error err;
    mdn_options_init(&o);
    ck_assert_msg(mdn_options_parse(&o, "trace=/tmp/run=1.json,verbose=1", &err), "%s", err.message);
    ck_assert_str_eq(o.trace, "/tmp/run=1.json");
    ck_assert(mdn_options_validate(&o, &err));
    ck_assert(mdn_options_set(&o, "trace", "x", &err));
    ck_assert_str_eq(o.trace, "x");
    char longest[MDN_OPTION_STRING_SIZE];
    memset(longest, 'a', sizeof longest - 1);
    longest[sizeof longest - 1] = '\0';
    ck_assert(mdn_options_set(&o, "trace", longest, &err));
    ck_assert_str_eq(o.trace, longest);
    ck_assert(mdn_options_validate(&o, &err));
    char too_long[MDN_OPTION_STRING_SIZE + 1];
    memset(too_long, 'b', sizeof too_long - 1);
    too_long[sizeof too_long - 1] = '\0';
    ck_assert(!mdn_options_set(&o, "trace", too_long, &err));
    ck_assert_contains(err.message, "too long");
    ck_assert_str_eq(o.trace, longest);
    ck_assert(!mdn_options_set(&o, "trace", "a b", &err));
    ck_assert_contains(err.message, "whitespace");
    ck_assert(!mdn_options_set(&o, "trace", "a,b", &err));
    ck_assert_contains(err.message, "comma");
    ck_assert(!mdn_options_parse(&o, "trace=", &err));
    ck_assert_contains(err.message, "empty");
    /* A field without its terminating NUL is outside the range. */
    memset(o.trace, 'c', sizeof o.trace);
    ck_assert(!mdn_options_validate(&o, &err));
    ck_assert_contains(err.message, "option 'trace'");
    clear_env();
    setenv("MDN_TRACE", "from-env.json", 1);
    mdn_options_init(&o);
    ck_assert_msg(mdn_options_from_env(&o, &err), "%s", err.message);
    ck_assert_str_eq(o.trace, "from-env.json");
    clear_env();
}
END_TEST

START_TEST(test_new_bool_options) {
    mdn_options o;
    mdn_error err;
    mdn_options_init(&o);
    ck_assert(mdn_options_parse(&o, "stats=1,heap-histogram=yes", &err));
    ck_assert(o.stats && o.heap_histogram);
    clear_env();
    setenv("MDN_STATS", "0", 1);
    setenv("MDN_HEAP_HISTOGRAM", "off", 1);
    ck_assert(mdn_options_from_env(&o, &err));
    ck_assert(!o.stats && !o.heap_histogram);
    clear_env();
}
END_TEST

/* ---- the environment at heap creation --------------------------------------- */

static size_t created_heap_size(const mdn_options *o, mdn_error *err) {
    mdn_heap *h = mdn_heap_create(o, err);
    if (!h)
        return 0;
    size_t bytes = mdn_heap_options(h)->heap_size;
    mdn_heap_destroy(h);
    return bytes;
}

/* mdn_heap_create applies MDN_* over the program's options unless env=0. */
START_TEST(test_heap_create_applies_the_environment) {
    mdn_error err;
    mdn_options o;
    mdn_options_init(&o);
    ck_assert(mdn_options_parse(&o, "heap=8M", &err));
    clear_env();
    ck_assert_uint_eq(created_heap_size(&o, &err), 8 * MIB);
    setenv("MDN_HEAP", "3M", 1);
    ck_assert_uint_eq(created_heap_size(&o, &err), 3 * MIB); /* the environment last */
    ck_assert_uint_eq(created_heap_size(NULL, &err), 3 * MIB); /* defaults too */
    setenv("MDN_OPTIONS", "heap=5M,verify=1", 1);
    unsetenv("MDN_HEAP");
    mdn_heap *h = mdn_heap_create(&o, &err);
    ck_assert_msg(h != NULL, "%s", err.message);
    ck_assert_uint_eq(mdn_heap_options(h)->heap_size, 5 * MIB);
    ck_assert(mdn_heap_options(h)->verify);
    mdn_heap_destroy(h);
    /* The opt-out, from the program. */
    setenv("MDN_HEAP", "3M", 1);
    ck_assert(mdn_options_parse(&o, "env=0", &err));
    ck_assert_uint_eq(created_heap_size(&o, &err), 8 * MIB);
    ck_assert_uint_eq(o.heap_size, 8 * MIB); /* the caller's options are not changed */
    clear_env();
}
END_TEST

/* A bad variable fails the creation and names the variable. */
START_TEST(test_heap_create_rejects_a_bad_variable) {
    mdn_error err;
    clear_env();
    setenv("MDN_HEAP", "lots", 1);
    ck_assert_ptr_null(mdn_heap_create(NULL, &err));
    ck_assert_int_ne(err.code, MDN_OK);
    ck_assert_contains(err.message, "MDN_HEAP");
    mdn_options o;
    mdn_options_init(&o);
    o.env = false;
    mdn_heap *h = mdn_heap_create(&o, &err);
    ck_assert_msg(h != NULL, "%s", err.message);
    mdn_heap_destroy(h);
    clear_env();
}
END_TEST

/* ---- valid input ------------------------------------------------------------ */

typedef struct valid_case {
    const char *text;
    const char *name;
    uint64_t value;
} valid_case;

static const valid_case valid_cases[] = {
    {"heap=1M", "heap", MIB},
    {"heap=1T", "heap", TIB},
    {"heap=64M", "heap", 64 * MIB},
    {"heap=64m", "heap", 64 * MIB},
    {"heap=64MiB", "heap", 64 * MIB},
    {"heap=64mib", "heap", 64 * MIB},
    {"heap=64MIB", "heap", 64 * MIB},
    {"heap=1024K", "heap", MIB},
    {"heap=1024kiB", "heap", MIB},
    {"heap=2G", "heap", 2 * GIB},
    {"heap=2g", "heap", 2 * GIB},
    {"heap=1TiB", "heap", TIB},
    {"heap=1048576", "heap", MIB},
    {"heap=1099511627776", "heap", TIB},
    {"heap=0001M", "heap", MIB},
    {"heap=1023G", "heap", 1023 * GIB},
    {"heap=0", "heap", 0},
    {"heap-policy=fixed", "heap-policy", MDN_HEAP_POLICY_FIXED},
    {"heap-policy=Growable", "heap-policy", MDN_HEAP_POLICY_GROWABLE},
    {"heap-policy=ADAPTIVE", "heap-policy", MDN_HEAP_POLICY_ADAPTIVE},
    {"heap-policy=auto", "heap-policy", MDN_HEAP_POLICY_AUTO},
    {"heap-max=4M", "heap-max", 4 * MIB},
    {"heap-max=0", "heap-max", 0},
    {"heap-initial=1G", "heap-initial", GIB},
    {"heap-factor=150", "heap-factor", 150},
    {"heap-growth=120", "heap-growth", 120},
    {"heap-shrink-ratio=100", "heap-shrink-ratio", 100},
    {"heap-adaptive-c=1", "heap-adaptive-c", 1},
    {"return-idle-gcs=0", "return-idle-gcs", 0},
    {"return-idle-ms=86400000", "return-idle-ms", 86400000},
    {"gc-threads=0", "gc-threads", 0},
    {"gc-threads=256", "gc-threads", 256},
    {"gc-threads=8", "gc-threads", 8},
    {"gc-threads=0008", "gc-threads", 8},
    {"verbose=0", "verbose", 0},
    {"verbose=1", "verbose", 1},
    {"verbose=2", "verbose", 2},
    {"verify=1", "verify", 1},
    {"verify=true", "verify", 1},
    {"verify=yes", "verify", 1},
    {"verify=on", "verify", 1},
    {"verify=TRUE", "verify", 1},
    {"verify=On", "verify", 1},
    {"verify=0", "verify", 0},
    {"verify=false", "verify", 0},
    {"verify=no", "verify", 0},
    {"verify=off", "verify", 0},
    {"verify=OFF", "verify", 0},
    {"stress=0", "stress", 0},
    {"stress=1", "stress", 1},
    {"stress=4096K", "stress", 4 * MIB},
    {"stress=1t", "stress", TIB},
    {"stress=1099511627776", "stress", TIB},
    {"poison=1", "poison", 1},
    {"poison=yes", "poison", 1},
    {"poison=0", "poison", 0},
    {"poison=No", "poison", 0},
    {"conservative=on", "conservative", 1},
    {"conservative=false", "conservative", 0},
    {"conservative-past-end=1", "conservative-past-end", 1},
    {"conservative-past-end=off", "conservative-past-end", 0},
    {"heap-shrink=0", "heap-shrink", 0},
    {"heap-shrink=yes", "heap-shrink", 1},
    {"defrag-headroom=0", "defrag-headroom", 0},
    {"defrag-headroom=50", "defrag-headroom", 50},
    {"defrag-headroom=2", "defrag-headroom", 2},
    {"nursery=64K", "nursery", 64 * KIB},
    {"nursery=8M", "nursery", 8 * MIB},
    {"nursery=0", "nursery", 0},
    {"nursery-percent=1", "nursery-percent", 1},
    {"nursery-percent=50", "nursery-percent", 50},
    {"verbose=1,verbose=2", "verbose", 2},
    {"heap=8M,heap=2M", "heap", 2 * MIB},
};
#define VALID_COUNT ((int)(sizeof valid_cases / sizeof valid_cases[0]))

START_TEST(test_valid_input) {
    const valid_case *c = &valid_cases[_i];
    mdn_options o;
    mdn_error err;
    init_nondefault(&o);
    err.code = MDN_ERR_MEMORY;
    strcpy(err.message, "stale");
    ck_assert_msg(mdn_options_parse(&o, c->text, &err), "'%s' rejected: %s", c->text, err.message);
    ck_assert_int_eq(err.code, MDN_OK);
    ck_assert_str_eq(err.message, "");
    ck_assert_msg(field_of(&o, c->name) == c->value, "'%s' gave %llu, expected %llu", c->text,
                  (unsigned long long)field_of(&o, c->name), (unsigned long long)c->value);
    ck_assert(mdn_options_validate(&o, NULL));

    /* The same value through mdn_options_set(). */
    const char *eq = strrchr(c->text, '=');
    if (strchr(c->text, ',') == NULL) {
        char name[64];
        memcpy(name, c->text, (size_t)(eq - c->text));
        name[eq - c->text] = '\0';
        mdn_options s;
        init_nondefault(&s);
        ck_assert(mdn_options_set(&s, name, eq + 1, &err));
        ck_assert_uint_eq(field_of(&s, c->name), c->value);
    }
}
END_TEST

START_TEST(test_every_option_at_once) {
    mdn_options o;
    mdn_error err;
    mdn_options_init(&o);
    ck_assert(mdn_options_parse(
        &o, "heap=128M,gc-threads=2,verbose=1,verify=on,stress=1G,poison=yes,defrag-headroom=10", &err));
    ck_assert_uint_eq(o.heap_size, 128 * MIB);
    ck_assert_uint_eq(o.gc_threads, 2);
    ck_assert_uint_eq(o.verbose, 1);
    ck_assert(o.verify);
    ck_assert_uint_eq(o.stress, GIB);
    ck_assert(o.poison);
    ck_assert_uint_eq(o.defrag_headroom, 10);
}
END_TEST

START_TEST(test_parse_keeps_unnamed_fields) {
    mdn_options o, before;
    init_nondefault(&o);
    before = o;
    ck_assert(mdn_options_parse(&o, "verbose=2", NULL));
    before.verbose = 2;
    assert_same(&o, &before);
}
END_TEST

START_TEST(test_empty_string_changes_nothing) {
    mdn_options o, before;
    mdn_error err;
    init_nondefault(&o);
    before = o;
    ck_assert(mdn_options_parse(&o, "", &err));
    ck_assert_int_eq(err.code, MDN_OK);
    assert_same(&o, &before);
}
END_TEST

START_TEST(test_null_err_allowed) {
    mdn_options o, before;
    mdn_options_init(&o);
    ck_assert(mdn_options_parse(&o, "heap=2M", NULL));
    ck_assert_uint_eq(o.heap_size, 2 * MIB);
    before = o;
    ck_assert(!mdn_options_parse(&o, "heap=bogus", NULL));
    ck_assert(!mdn_options_set(&o, "nope", "1", NULL));
    ck_assert(mdn_options_set(&o, "verbose", "1", NULL));
    before.verbose = 1;
    assert_same(&o, &before);
    o.verbose = 9;
    ck_assert(!mdn_options_validate(&o, NULL));
}
END_TEST

START_TEST(test_null_arguments) {
    mdn_options o;
    mdn_error err;
    mdn_options_init(&o);
    ck_assert(!mdn_options_parse(NULL, "heap=1M", &err));
    ck_assert_int_eq(err.code, MDN_ERR_OPTION);
    ck_assert_contains(err.message, "opts");
    ck_assert(!mdn_options_parse(&o, NULL, &err));
    ck_assert_contains(err.message, "text");
    ck_assert(!mdn_options_set(&o, NULL, "1", &err));
    ck_assert_contains(err.message, "name");
    ck_assert(!mdn_options_set(&o, "heap", NULL, &err));
    ck_assert_contains(err.message, "value");
    ck_assert(!mdn_options_from_env(NULL, &err));
    ck_assert_int_eq(err.code, MDN_ERR_OPTION);
    ck_assert(!mdn_options_validate(NULL, &err));
    ck_assert_int_eq(err.code, MDN_ERR_OPTION);
    assert_defaults(&o);
}
END_TEST

/* ---- invalid input ------------------------------------------------------- */

typedef struct invalid_case {
    const char *text;
    const char *needles[6]; /* all must appear in the message; NULL-terminated */
} invalid_case;

#define SIZE_FORM "K, M, G or T"
#define BOOL_FORM "1/0, true/false, yes/no or on/off"
#define VALID_LIST "heap, gc-threads, verbose, verify, stress, poison, defrag-headroom, conservative"

static const invalid_case invalid_cases[] = {
    /* unknown names, with the list of valid ones */
    {"hepa=1M", {"unknown option 'hepa'", VALID_LIST}},
    {"HEAP=1M", {"unknown option 'HEAP'", VALID_LIST}},
    {"gc_threads=2", {"unknown option 'gc_threads'", VALID_LIST}},
    {"heap-size=1M", {"unknown option 'heap-size'", VALID_LIST}},
    {"verbose=1,bogus=2", {"unknown option 'bogus'", VALID_LIST}},
    /* missing '=' */
    {"heap", {"option 'heap'", "missing '='", "heap=VALUE", SIZE_FORM, "1M..1T"}},
    {"verbose=1,verify", {"option 'verify'", "missing '='", BOOL_FORM}},
    {"foo", {"'foo'", "missing '='", VALID_LIST}},
    {"heap:64M", {"'heap:64M'", "missing '='", VALID_LIST}},
    /* empty name */
    {"=5", {"empty option name", "'=5'", VALID_LIST}},
    {"=", {"empty option name", VALID_LIST}},
    /* empty value */
    {"heap=", {"option 'heap'", "empty value", SIZE_FORM, "1M..1T"}},
    {"gc-threads=", {"option 'gc-threads'", "empty value", "decimal integer", "0..256"}},
    {"verify=", {"option 'verify'", "empty value", BOOL_FORM}},
    {"heap=1M,poison=", {"option 'poison'", "empty value", BOOL_FORM}},
    /* not a number */
    {"heap=abc", {"option 'heap'", "'abc' is not a number", SIZE_FORM, "1M..1T"}},
    {"heap=M", {"option 'heap'", "not a number"}},
    {"heap=+5M", {"option 'heap'", "not a number"}},
    {"gc-threads=many", {"option 'gc-threads'", "not a number", "decimal integer in 0..256"}},
    {"verbose=+1", {"option 'verbose'", "not a number", "0..2"}},
    {"defrag-headroom=.5", {"option 'defrag-headroom'", "not a number", "0..50"}},
    /* trailing characters */
    {"heap=64M7", {"option 'heap'", "'64M7' has trailing characters", SIZE_FORM}},
    {"heap=1.5G", {"option 'heap'", "trailing characters"}},
    {"heap=0x10", {"option 'heap'", "bad suffix"}},
    {"heap=64M=1", {"option 'heap'", "trailing characters"}},
    {"gc-threads=4x", {"option 'gc-threads'", "trailing characters", "0..256"}},
    {"gc-threads=4K", {"option 'gc-threads'", "trailing characters", "decimal integer"}},
    {"verbose=1;", {"option 'verbose'", "trailing characters"}},
    {"defrag-headroom=5%", {"option 'defrag-headroom'", "trailing characters", "0..50"}},
    /* heap sizing */
    {"heap-policy=elastic", {"option 'heap-policy'", "'elastic' is not a known name", "auto, fixed, growable, adaptive"}},
    {"heap-policy=2", {"option 'heap-policy'", "not a known name"}},
    {"heap-policy=", {"option 'heap-policy'", "empty value", "one of: auto"}},
    {"heap-max=2M", {"option 'heap-max'", "out of range", "4M..1T"}},
    {"heap-initial=0", {"option 'heap-initial'", "out of range", "4M..1T"}},
    {"heap-factor=100", {"option 'heap-factor'", "out of range", "110..10000"}},
    {"heap-adaptive-c=0", {"option 'heap-adaptive-c'", "out of range"}},
    {"return-idle-gcs=-1", {"option 'return-idle-gcs'", "negative"}},
    {"return-idle-ms=86400001", {"option 'return-idle-ms'", "out of range"}},
    /* bad suffix */
    {"heap=64X", {"option 'heap'", "'64X' has a bad suffix", SIZE_FORM, "1M..1T"}},
    {"heap=64MB", {"option 'heap'", "bad suffix", SIZE_FORM}},
    {"heap=64KB", {"option 'heap'", "bad suffix"}},
    {"heap=64Mi", {"option 'heap'", "bad suffix"}},
    {"heap=64MiBs", {"option 'heap'", "bad suffix"}},
    {"heap=64P", {"option 'heap'", "bad suffix"}},
    {"stress=1kk", {"option 'stress'", "bad suffix", "0..1T"}},
    /* negative */
    {"heap=-1M", {"option 'heap'", "'-1M' is negative", "1M..1T"}},
    {"gc-threads=-1", {"option 'gc-threads'", "is negative", "0..256"}},
    {"stress=-0", {"option 'stress'", "is negative", "0..1T"}},
    {"defrag-headroom=-5", {"option 'defrag-headroom'", "is negative", "0..50"}},
    /* overflow */
    {"heap=99999999999999999999G", {"option 'heap'", "is too large", "1M..1T"}},
    {"heap=18446744073709551616", {"option 'heap'", "is too large", "1M..1T"}},
    {"heap=18446744073709551615T", {"option 'heap'", "is too large"}},
    {"stress=16777216T", {"option 'stress'", "is too large", "0..1T"}},
    {"gc-threads=99999999999999999999999", {"option 'gc-threads'", "is too large", "0..256"}},
    /* out of range, with the range */
    {"heap=512K", {"option 'heap'", "'512K' is out of range", "1M..1T"}},
    {"heap=1K", {"option 'heap'", "out of range", "1M..1T"}},
    {"heap=1048575", {"option 'heap'", "out of range"}},
    {"heap=1025G", {"option 'heap'", "out of range", "1M..1T"}},
    {"heap=1099511627777", {"option 'heap'", "out of range"}},
    {"heap=2T", {"option 'heap'", "out of range"}},
    {"gc-threads=257", {"option 'gc-threads'", "out of range", "0..256"}},
    {"gc-threads=4294967296", {"option 'gc-threads'", "out of range", "0..256"}},
    {"gc-threads=18446744073709551615", {"option 'gc-threads'", "out of range"}},
    {"verbose=3", {"option 'verbose'", "out of range", "0..2"}},
    {"stress=1025G", {"option 'stress'", "out of range", "0..1T"}},
    {"defrag-headroom=51", {"option 'defrag-headroom'", "out of range", "0..50"}},
    {"nursery=32K", {"option 'nursery'", "'32K' is out of range", "64K..1T"}},
    {"nursery=2T", {"option 'nursery'", "out of range", "64K..1T"}},
    {"nursery=10%", {"option 'nursery'", "'10%' has trailing characters", "a size in 64K..1T"}},
    {"nursery=-1M", {"option 'nursery'", "is negative"}},
    {"nursery=4Q", {"option 'nursery'", "has a bad suffix"}},
    {"nursery-percent=0", {"option 'nursery-percent'", "out of range", "1..50"}},
    {"nursery-percent=51", {"option 'nursery-percent'", "out of range", "1..50"}},
    {"nursery-percent=10%", {"option 'nursery-percent'", "has trailing characters", "1..50"}},
    /* booleans */
    {"verify=2", {"option 'verify'", "'2' is not a boolean", BOOL_FORM}},
    {"verify=maybe", {"option 'verify'", "not a boolean", BOOL_FORM}},
    {"poison=tru", {"option 'poison'", "not a boolean", BOOL_FORM}},
    {"poison=-1", {"option 'poison'", "not a boolean"}},
    {"verify=yess", {"option 'verify'", "not a boolean"}},
    /* empty items */
    {"heap=1M,,verbose=1", {"empty item at offset 8", "no empty items"}},
    {",heap=1M", {"empty item at offset 0", "no empty items"}},
    {"heap=1M,", {"empty item at offset 8", "no empty items"}},
    {",", {"empty item", "no empty items"}},
    {",,", {"empty item"}},
    /* whitespace is rejected, never trimmed */
    {" heap=1M", {"option 'heap'", "whitespace", "nothing is trimmed"}},
    {"heap =1M", {"option 'heap'", "whitespace"}},
    {"\theap=1M", {"option 'heap'", "whitespace"}},
    {"heap= 1M", {"option 'heap'", "whitespace", "nothing is trimmed"}},
    {"heap=1M ", {"option 'heap'", "whitespace"}},
    {"heap=1 M", {"option 'heap'", "whitespace"}},
    {"heap=1M\n", {"option 'heap'", "whitespace"}},
    {"heap=1M, verbose=1", {"option 'verbose'", "whitespace"}},
    {"verify= yes", {"option 'verify'", "whitespace", BOOL_FORM}},
    {" ", {"' '", "missing '='"}},
    /* a later error undoes nothing, because nothing was applied */
    {"verbose=2,heap=1M,gc-threads=999", {"option 'gc-threads'", "out of range"}},
    /* control characters are not echoed raw */
    {"heap=\x01\x02", {"option 'heap'", "'?" "?'"}},
};
#define INVALID_COUNT ((int)(sizeof invalid_cases / sizeof invalid_cases[0]))

START_TEST(test_invalid_input) {
    const invalid_case *c = &invalid_cases[_i];
    mdn_options o, before;
    mdn_error err;
    init_nondefault(&o);
    before = o;
    memset(&err, 0, sizeof err);
    ck_assert_msg(!mdn_options_parse(&o, c->text, &err), "'%s' accepted", c->text);
    ck_assert_int_eq(err.code, MDN_ERR_OPTION);
    ck_assert_uint_lt(strlen(err.message), MDN_ERROR_MESSAGE_SIZE - 1); /* not cut short */
    for (int k = 0; k < 6 && c->needles[k]; k++)
        ck_assert_contains(err.message, c->needles[k]);
    assert_same(&o, &before);

    /* Same answer with no error report, and from defaults. */
    ck_assert(!mdn_options_parse(&o, c->text, NULL));
    assert_same(&o, &before);
    mdn_options d;
    mdn_options_init(&d);
    ck_assert(!mdn_options_parse(&d, c->text, NULL));
    assert_defaults(&d);
}
END_TEST

static const char *form_of(const mdn_option_desc *d) {
    return d->type == MDN_OPTION_SIZE       ? "e.g. 64M"
           : d->type == MDN_OPTION_UNSIGNED ? "decimal integer"
           : d->type == MDN_OPTION_STRING   ? "without whitespace or commas"
           : d->type == MDN_OPTION_CHOICE   ? "one of: auto, fixed, growable, adaptive"
                                            : BOOL_FORM;
}

/* Long values are quoted in part, so the accepted form always fits in the message. */
START_TEST(test_long_values_keep_the_form) {
    char value[300];
    memset(value, '7', sizeof value - 2);
    value[sizeof value - 2] = 'x';
    value[sizeof value - 1] = '\0';
    for (size_t i = 0; i < NAME_COUNT; i++) {
        mdn_options o;
        mdn_error err;
        mdn_options_init(&o);
        ck_assert(!mdn_options_set(&o, all_names[i], value, &err));
        ck_assert_int_eq(err.code, MDN_ERR_OPTION);
        ck_assert_uint_lt(strlen(err.message), MDN_ERROR_MESSAGE_SIZE - 1);
        ck_assert_contains(err.message, all_names[i]);
        ck_assert_contains(err.message, "...");
        const mdn_option_desc *d = mdn_options_find(all_names[i]);
        ck_assert_contains(err.message, form_of(d));

        /* And from the environment, where the message also names the variable. */
        clear_env();
        setenv(all_env_names[i], value, 1);
        ck_assert(!mdn_options_from_env(&o, &err));
        ck_assert_uint_lt(strlen(err.message), MDN_ERROR_MESSAGE_SIZE - 1);
        ck_assert_contains(err.message, all_env_names[i]);
        ck_assert_contains(err.message, form_of(d));
        clear_env();
        assert_defaults(&o);
    }
    mdn_options o;
    mdn_error err;
    mdn_options_init(&o);
    ck_assert(!mdn_options_parse(&o, "a-very-long-option-name-that-does-not-exist-anywhere=1", &err));
    ck_assert_uint_lt(strlen(err.message), MDN_ERROR_MESSAGE_SIZE - 1);
    ck_assert_contains(err.message, VALID_LIST);
}
END_TEST

/* ---- mdn_options_set -------------------------------------------------------- */

START_TEST(test_set) {
    mdn_options o, before;
    mdn_error err;
    init_nondefault(&o);
    ck_assert(mdn_options_set(&o, "heap", "256M", &err));
    ck_assert_uint_eq(o.heap_size, 256 * MIB);
    ck_assert_int_eq(err.code, MDN_OK);
    before = o;

    ck_assert(!mdn_options_set(&o, "nope", "1", &err));
    ck_assert_contains(err.message, "unknown option 'nope'");
    ck_assert_contains(err.message, VALID_LIST);
    ck_assert(!mdn_options_set(&o, "", "1", &err));
    ck_assert_contains(err.message, "empty option name");
    ck_assert(!mdn_options_set(&o, "heap", "", &err));
    ck_assert_contains(err.message, "option 'heap'");
    ck_assert_contains(err.message, "empty value");
    ck_assert(!mdn_options_set(&o, "heap", " 1M", &err));
    ck_assert_contains(err.message, "whitespace");
    ck_assert(!mdn_options_set(&o, "heap ", "1M", &err));
    ck_assert_contains(err.message, "option 'heap'");
    ck_assert_contains(err.message, "whitespace");
    ck_assert(!mdn_options_set(&o, "heap", "1M,verbose=2", &err));
    ck_assert_contains(err.message, "option 'heap'");
    ck_assert(!mdn_options_set(&o, "heap=1M", "1M", &err));
    ck_assert_contains(err.message, "unknown option");
    ck_assert(!mdn_options_set(&o, "verbose", "3", &err));
    ck_assert_contains(err.message, "0..2");
    ck_assert_int_eq(err.code, MDN_ERR_OPTION);
    assert_same(&o, &before);
}
END_TEST

/* ---- environment ------------------------------------------------------------ */

START_TEST(test_env_unset_changes_nothing) {
    clear_env();
    setenv("MDN_TEST_SEED", "12", 1); /* other MDN_ variables are not options */
    setenv("MDN_HEAPSIZE", "12", 1);
    mdn_options o, before;
    mdn_error err;
    init_nondefault(&o);
    before = o;
    ck_assert(mdn_options_from_env(&o, &err));
    ck_assert_int_eq(err.code, MDN_OK);
    assert_same(&o, &before);
    unsetenv("MDN_TEST_SEED");
    unsetenv("MDN_HEAPSIZE");
}
END_TEST

START_TEST(test_env_each_variable) {
    clear_env();
    setenv("MDN_HEAP", "256M", 1);
    setenv("MDN_GC_THREADS", "4", 1);
    setenv("MDN_VERBOSE", "2", 1);
    setenv("MDN_VERIFY", "yes", 1);
    setenv("MDN_STRESS", "1M", 1);
    setenv("MDN_POISON", "on", 1);
    setenv("MDN_DEFRAG_HEADROOM", "50", 1);
    mdn_options o;
    mdn_error err;
    mdn_options_init(&o);
    ck_assert_msg(mdn_options_from_env(&o, &err), "%s", err.message);
    ck_assert_uint_eq(o.heap_size, 256 * MIB);
    ck_assert_uint_eq(o.gc_threads, 4);
    ck_assert_uint_eq(o.verbose, 2);
    ck_assert(o.verify);
    ck_assert_uint_eq(o.stress, MIB);
    ck_assert(o.poison);
    ck_assert_uint_eq(o.defrag_headroom, 50);
    clear_env();
}
END_TEST

START_TEST(test_env_options_then_variables) {
    clear_env();
    setenv("MDN_OPTIONS", "heap=128M,verbose=1,gc-threads=3", 1);
    setenv("MDN_HEAP", "256M", 1);
    mdn_options o;
    mdn_error err;
    mdn_options_init(&o);
    ck_assert_msg(mdn_options_from_env(&o, &err), "%s", err.message);
    ck_assert_uint_eq(o.heap_size, 256 * MIB); /* the variable wins over MDN_OPTIONS */
    ck_assert_uint_eq(o.verbose, 1);
    ck_assert_uint_eq(o.gc_threads, 3);
    clear_env();
}
END_TEST

START_TEST(test_env_empty_variable) {
    mdn_options o, before;
    mdn_error err;
    init_nondefault(&o);
    before = o;
    for (size_t i = 0; i < NAME_COUNT; i++) {
        clear_env();
        setenv("MDN_OPTIONS", "verbose=2", 1);
        setenv(all_env_names[i], "", 1);
        ck_assert(!mdn_options_from_env(&o, &err));
        ck_assert_int_eq(err.code, MDN_ERR_OPTION);
        ck_assert_contains(err.message, all_env_names[i]);
        ck_assert_contains(err.message, all_names[i]);
        ck_assert_contains(err.message, "empty");
        assert_same(&o, &before);
    }
    clear_env();
    setenv("MDN_OPTIONS", "", 1);
    ck_assert(!mdn_options_from_env(&o, &err));
    ck_assert_int_eq(err.code, MDN_ERR_OPTION);
    ck_assert_contains(err.message, "MDN_OPTIONS");
    ck_assert_contains(err.message, "empty");
    assert_same(&o, &before);
    clear_env();
}
END_TEST

START_TEST(test_env_bad_values) {
    mdn_options o, before;
    mdn_error err;
    init_nondefault(&o);
    before = o;

    clear_env();
    setenv("MDN_OPTIONS", "heap=1M,,verbose=1", 1);
    ck_assert(!mdn_options_from_env(&o, &err));
    ck_assert_contains(err.message, "MDN_OPTIONS");
    ck_assert_contains(err.message, "empty item");
    assert_same(&o, &before);

    clear_env();
    setenv("MDN_OPTIONS", "heap=2M,verbose=0", 1); /* valid, but undone by the error below */
    setenv("MDN_GC_THREADS", "lots", 1);
    ck_assert(!mdn_options_from_env(&o, &err));
    ck_assert_int_eq(err.code, MDN_ERR_OPTION);
    ck_assert_contains(err.message, "MDN_GC_THREADS");
    ck_assert_contains(err.message, "option 'gc-threads'");
    ck_assert_contains(err.message, "0..256");
    assert_same(&o, &before);

    clear_env();
    setenv("MDN_HEAP", " 64M", 1);
    ck_assert(!mdn_options_from_env(&o, &err));
    ck_assert_contains(err.message, "MDN_HEAP");
    ck_assert_contains(err.message, "whitespace");
    assert_same(&o, &before);

    clear_env();
    setenv("MDN_VERIFY", "verify=1", 1); /* a variable holds a value, not an item */
    ck_assert(!mdn_options_from_env(&o, &err));
    ck_assert_contains(err.message, "MDN_VERIFY");
    ck_assert_contains(err.message, BOOL_FORM);
    assert_same(&o, &before);

    clear_env();
    setenv("MDN_OPTIONS", "nope=1", 1);
    ck_assert(!mdn_options_from_env(&o, &err));
    ck_assert_contains(err.message, "MDN_OPTIONS");
    ck_assert_contains(err.message, VALID_LIST);
    assert_same(&o, &before);

    clear_env();
    setenv("MDN_STRESS", "99999999999999999999G", 1);
    ck_assert(!mdn_options_from_env(&o, NULL));
    assert_same(&o, &before);
    clear_env();
}
END_TEST

/* ---- validation ------------------------------------------------------------- */

typedef struct range_case {
    const char *name;
    uint64_t bad;  /* outside the range */
    uint64_t good; /* a boundary inside it */
    const char *range;
} range_case;

static const range_case range_cases[] = {
    {"heap", MIB - 1, MIB, "1M..1T"},   {"heap", 1, 0, "1M..1T"},
    {"heap", TIB + 1, TIB, "1M..1T"},   {"gc-threads", 257, 256, "0..256"},
    {"gc-threads", UINT_MAX, 0, "0..256"}, {"verbose", 3, 2, "0..2"},
    {"stress", TIB + 1, TIB, "0..1T"},  {"stress", SIZE_MAX, 0, "0..1T"},
    {"defrag-headroom", 51, 50, "0..50"}, {"defrag-headroom", UINT_MAX, 0, "0..50"},
    {"heap-policy", 4, 3, "auto/fixed/growable/adaptive"}, {"heap-max", 4 * MIB - 1, 0, "4M..1T"},
    {"heap-initial", 0, 4 * MIB, "4M..1T"}, {"heap-factor", 109, 110, "110..10000"},
    {"heap-factor-min", 109, 110, "110..10000"}, {"heap-gc-share", 91, 90, "0..90"},
    {"heap-growth", 100, 101, "101..10000"},  {"heap-shrink-ratio", 99, 100, "100..10000"},
    {"heap-shrink-ratio", 10001, 10000, "100..10000"},
};
#define RANGE_COUNT ((int)(sizeof range_cases / sizeof range_cases[0]))

static void set_field(mdn_options *o, const char *name, uint64_t v) {
    if (strcmp(name, "heap") == 0)
        o->heap_size = (size_t)v;
    else if (strcmp(name, "gc-threads") == 0)
        o->gc_threads = (unsigned)v;
    else if (strcmp(name, "verbose") == 0)
        o->verbose = (unsigned)v;
    else if (strcmp(name, "stress") == 0)
        o->stress = (size_t)v;
    else if (strcmp(name, "defrag-headroom") == 0)
        o->defrag_headroom = (unsigned)v;
    else if (strcmp(name, "heap-policy") == 0)
        o->heap_policy = (unsigned)v;
    else if (strcmp(name, "heap-max") == 0)
        o->heap_max = (size_t)v;
    else if (strcmp(name, "heap-initial") == 0)
        o->heap_initial = (size_t)v;
    else if (strcmp(name, "heap-factor") == 0)
        o->heap_factor = (unsigned)v;
    else if (strcmp(name, "heap-factor-min") == 0)
        o->heap_factor_min = (unsigned)v;
    else if (strcmp(name, "heap-gc-share") == 0)
        o->heap_gc_share = (unsigned)v;
    else if (strcmp(name, "heap-growth") == 0)
        o->heap_growth = (unsigned)v;
    else if (strcmp(name, "heap-shrink-ratio") == 0)
        o->heap_shrink_ratio = (unsigned)v;
    else
        ck_abort_msg("no field for %s", name);
}

START_TEST(test_validate_ranges) {
    const range_case *c = &range_cases[_i];
    mdn_options o;
    mdn_error err;
    mdn_options_init(&o);
    set_field(&o, c->name, c->good);
    ck_assert_msg(mdn_options_validate(&o, &err), "%s", err.message);
    ck_assert_int_eq(err.code, MDN_OK);
    set_field(&o, c->name, c->bad);
    ck_assert(!mdn_options_validate(&o, &err));
    ck_assert_int_eq(err.code, MDN_ERR_OPTION);
    char needle[64];
    snprintf(needle, sizeof needle, "option '%s'", c->name);
    ck_assert_contains(err.message, needle);
    ck_assert_contains(err.message, c->range);
}
END_TEST

START_TEST(test_validate_bool_representation) {
    static const size_t offsets[] = {offsetof(mdn_options, verify), offsetof(mdn_options, poison)};
    static const char *const names[] = {"option 'verify'", "option 'poison'"};
    for (int i = 0; i < 2; i++) {
        mdn_options o;
        mdn_error err;
        mdn_options_init(&o);
        unsigned char two = 2;
        memcpy((char *)&o + offsets[i], &two, 1);
        ck_assert(!mdn_options_validate(&o, &err));
        ck_assert_contains(err.message, names[i]);
    }
}
END_TEST

START_TEST(test_validate_all_boundaries) {
    mdn_options o;
    mdn_error err;
    mdn_options_init(&o);
    ck_assert(mdn_options_parse(&o, "heap=1M,gc-threads=0,verbose=0,verify=0,stress=0,poison=0,defrag-headroom=0",
                                &err));
    ck_assert(mdn_options_validate(&o, &err));
    ck_assert(mdn_options_parse(&o, "heap=1T,gc-threads=256,verbose=2,verify=1,stress=1T,poison=1,defrag-headroom=50",
                                &err));
    ck_assert(mdn_options_validate(&o, &err));
}
END_TEST

/* ---- help and reference ------------------------------------------------------ */

static char *capture(void (*print)(FILE *)) {
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    ck_assert_ptr_nonnull(f);
    print(f);
    ck_assert_int_eq(fclose(f), 0);
    return buf;
}

START_TEST(test_help_lists_every_option) {
    char *text = capture(mdn_options_print_help);
    for (size_t i = 0; i < NAME_COUNT; i++) {
        ck_assert_contains(text, all_names[i]);
        ck_assert_contains(text, all_env_names[i]);
    }
    for (size_t i = 0; i < mdn_options_count(); i++)
        ck_assert_contains(text, mdn_options_describe(i)->doc);
    ck_assert_contains(text, "MDN_OPTIONS");
    ck_assert_contains(text, "1M..1T");
    ck_assert_contains(text, "0..256");
    ck_assert_contains(text, "64M");
    ck_assert_contains(text, "on/off");
    free(text);
}
END_TEST

START_TEST(test_markdown_lists_every_option) {
    char *text = capture(mdn_options_write_markdown);
    ck_assert_contains(text, "| Option |");
    ck_assert_contains(text, "|---|");
    for (size_t i = 0; i < NAME_COUNT; i++) {
        char row[64];
        snprintf(row, sizeof row, "| `%s` | `%s` |", all_names[i], all_env_names[i]);
        ck_assert_contains(text, row);
    }
    ck_assert_contains(text, "| `heap` | `MDN_HEAP` | size | 1M..1T | `0` | a fixed heap of this many bytes;");
    ck_assert_contains(text, "| `heap-policy` | `MDN_HEAP_POLICY` | choice | auto/fixed/growable/adaptive | `auto` |");
    ck_assert_contains(text, "| `defrag-headroom` | `MDN_DEFRAG_HEADROOM` | unsigned | 0..50 | `2` |");
    ck_assert_contains(text, "| `verify` | `MDN_VERIFY` | bool | false/true | `false` |");
    /* every table row has the same number of cells */
    size_t rows = 0;
    for (char *line = text; line && *line == '|'; line = strchr(line, '\n'), line = line ? line + 1 : NULL) {
        size_t bars = 0;
        for (char *s = line; *s && *s != '\n'; s++)
            bars += *s == '|' && (s == line || s[-1] != '\\');
        ck_assert_uint_eq(bars, 7);
        rows++;
    }
    ck_assert_uint_eq(rows, NAME_COUNT + 2);
    free(text);
}
END_TEST

static Suite *options_suite(void) {
    Suite *s = suite_create("options");
    TCase *tc = tcase_create("table");
    tcase_add_test(tc, test_defaults);
    tcase_add_test(tc, test_table_is_consistent);
    tcase_add_test(tc, test_table_ranges);
    tcase_add_test(tc, test_string_option);
    tcase_add_test(tc, test_new_bool_options);
    suite_add_tcase(s, tc);

    tc = tcase_create("parse");
    tcase_add_loop_test(tc, test_valid_input, 0, VALID_COUNT);
    tcase_add_test(tc, test_every_option_at_once);
    tcase_add_test(tc, test_parse_keeps_unnamed_fields);
    tcase_add_test(tc, test_empty_string_changes_nothing);
    tcase_add_test(tc, test_null_err_allowed);
    tcase_add_test(tc, test_null_arguments);
    tcase_add_loop_test(tc, test_invalid_input, 0, INVALID_COUNT);
    tcase_add_test(tc, test_long_values_keep_the_form);
    tcase_add_test(tc, test_set);
    suite_add_tcase(s, tc);

    tc = tcase_create("env");
    tcase_add_test(tc, test_env_unset_changes_nothing);
    tcase_add_test(tc, test_env_each_variable);
    tcase_add_test(tc, test_env_options_then_variables);
    tcase_add_test(tc, test_env_empty_variable);
    tcase_add_test(tc, test_env_bad_values);
    tcase_add_test(tc, test_heap_create_applies_the_environment);
    tcase_add_test(tc, test_heap_create_rejects_a_bad_variable);
    suite_add_tcase(s, tc);

    tc = tcase_create("validate");
    tcase_add_loop_test(tc, test_validate_ranges, 0, RANGE_COUNT);
    tcase_add_test(tc, test_validate_bool_representation);
    tcase_add_test(tc, test_validate_all_boundaries);
    suite_add_tcase(s, tc);

    tc = tcase_create("docs");
    tcase_add_test(tc, test_help_lists_every_option);
    tcase_add_test(tc, test_markdown_lists_every_option);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) {
    SRunner *sr = srunner_create(options_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
