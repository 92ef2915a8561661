/*
 * options.c: heap options driven by one table (docs/design/overview.md .overview.api; the accepted
 * forms are in options.h).
 *
 * Every entry point that changes options works on a copy and writes it back
 * only when the whole input was accepted, so a failure changes nothing.
 * Messages say where the text came from (an environment variable, when it
 * did), name the option, quote the value given and state the accepted form
 * with its range.
 */
#include "core/options.h"

#include "core/util.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define OPTIONS_KIB (UINT64_C(1) << 10)
#define OPTIONS_MIB (UINT64_C(1) << 20)
#define OPTIONS_GIB (UINT64_C(1) << 30)
#define OPTIONS_TIB (UINT64_C(1) << 40)

_Static_assert(SIZE_MAX >= OPTIONS_TIB, "the size ranges of the options table assume a 64-bit size_t");

/*
 * The offset of field f of mdn_options, with a compile-time check that the
 * field has the C type the option type stores into (size_t, unsigned, bool).
 */
#define OPTIONS_FIELD(f, ctype)                                                                   \
    (offsetof(mdn_options, f) +                                                                   \
     0 * sizeof(struct {                                                                          \
         _Static_assert(_Generic(((mdn_options *)0)->f, ctype: 1, default: 0),                    \
                        "mdn_options." #f " is not " #ctype);                                     \
         int unused;                                                                              \
     }))

/* The table: the one description of every option. Doc strings are ASCII and one line. */
static const mdn_option_desc options_table[] = {
    {"heap", MDN_OPTION_SIZE, MDN_HEAP_MIN_BYTES, 1 * OPTIONS_TIB, 0, OPTIONS_FIELD(heap_size, size_t),
     "a fixed heap of this many bytes; 0 (unset) lets heap-policy size the heap"},
    {"gc-threads", MDN_OPTION_UNSIGNED, 0, 256, 0, OPTIONS_FIELD(gc_threads, unsigned),
     "GC worker threads; 0 means one per core"},
    {"verbose", MDN_OPTION_UNSIGNED, 0, 2, 0, OPTIONS_FIELD(verbose, unsigned),
     "0 quiet, 1 a line per collection, 2 a line per phase"},
    {"verify", MDN_OPTION_BOOL, 0, 1, 0, OPTIONS_FIELD(verify, bool),
     "check the heap after every collection"},
    {"stress", MDN_OPTION_SIZE, 0, 1 * OPTIONS_TIB, 0, OPTIONS_FIELD(stress, size_t),
     "collect every N bytes allocated; 0 means off"},
    {"poison", MDN_OPTION_BOOL, 0, 1, 0, OPTIONS_FIELD(poison, bool),
     "fill reclaimed memory with a pattern"},
    {"defrag-headroom", MDN_OPTION_UNSIGNED, 0, 50, 2, OPTIONS_FIELD(defrag_headroom, unsigned),
     "percent of blocks kept free for evacuation"},
    {"conservative", MDN_OPTION_BOOL, 0, 1, 0, OPTIONS_FIELD(conservative, bool),
     "ambiguous roots: thread stacks, registers, static data; threads stopped by signals"},
    {"conservative-past-end", MDN_OPTION_BOOL, 0, 1, 0, OPTIONS_FIELD(conservative_past_end, bool),
     "conservative heaps: an ambiguous word is looked up one byte lower, so a pointer to an object's first byte keeps the object before it (for objects referenced after a header word)"},
    {"gen-full-threshold", MDN_OPTION_UNSIGNED, 1, 100, 80, OPTIONS_FIELD(gen_full_threshold, unsigned),
     "generational plans: a full collection follows a minor one that leaves more than this percent of the heap limit in use"},
    {"gen-full-alloc", MDN_OPTION_UNSIGNED, 10, 100000, 100, OPTIONS_FIELD(gen_full_alloc, unsigned),
     "generational plans on a growable or adaptive heap: a full collection follows once the bytes allocated since the last full one exceed this percent of the bytes in use after it, times up to 16 while full collections find few old objects dead"},
    {"gen-min-yield", MDN_OPTION_UNSIGNED, 0, 100, 10, OPTIONS_FIELD(gen_min_yield, unsigned),
     "generational plans: a full collection follows a minor one that reclaims less than this percent of the bytes allocated since the last collection"},
    {"nursery", MDN_OPTION_SIZE, 64 * OPTIONS_KIB, 1 * OPTIONS_TIB, 0, OPTIONS_FIELD(nursery, size_t),
     "genimmix, stickyimmix: the nursery's bound in bytes (a collection starts when it is full; on stickyimmix, young blocks taken since the last one); 0 (unset) means nursery-percent of the heap limit"},
    {"nursery-percent", MDN_OPTION_UNSIGNED, 1, 50, 50, OPTIONS_FIELD(nursery_percent, unsigned),
     "genimmix, stickyimmix: the nursery's bound as a percent of the heap limit, when nursery is unset"},
    {"heap-policy", MDN_OPTION_CHOICE, 0, 3, 0, OPTIONS_FIELD(heap_policy, unsigned),
     "heap sizing: auto (fixed if heap is set, else growable), fixed, growable or adaptive"},
    {"heap-max", MDN_OPTION_SIZE, 4 * OPTIONS_MIB, 1 * OPTIONS_TIB, 0, OPTIONS_FIELD(heap_max, size_t),
     "most a growing heap may take; 0 means a quarter of physical memory"},
    {"heap-initial", MDN_OPTION_SIZE, 4 * OPTIONS_MIB, 1 * OPTIONS_TIB, 16 * OPTIONS_MIB,
     OPTIONS_FIELD(heap_initial, size_t), "a growing heap's limit before its first collection"},
    {"heap-factor", MDN_OPTION_UNSIGNED, 110, 10000, 200, OPTIONS_FIELD(heap_factor, unsigned),
     "growable: the limit as a percentage of the heap in use after a collection"},
    {"heap-factor-min", MDN_OPTION_UNSIGNED, 110, 10000, 125, OPTIONS_FIELD(heap_factor_min, unsigned),
     "growable with heap-gc-share: the least factor the GC-share rule may choose (at most heap-factor)"},
    {"heap-gc-share", MDN_OPTION_UNSIGNED, 0, 90, 30, OPTIONS_FIELD(heap_gc_share, unsigned),
     "growable: choose the factor between heap-factor-min and heap-factor so that about this percent of the run is spent collecting; 0 means always heap-factor"},
    {"heap-growth", MDN_OPTION_UNSIGNED, 101, 10000, 0, OPTIONS_FIELD(heap_growth, unsigned),
     "growable: a collection raises the limit to at most this percentage of the limit before it (a heap whose live size grows overshoots it by less); 0 (unset) means no bound"},
    {"heap-shrink", MDN_OPTION_BOOL, 0, 1, 1, OPTIONS_FIELD(heap_shrink, bool),
     "growing heaps: the limit may fall after a collection; 0 keeps it at least at the highest it reached (a heap that grows and never shrinks)"},
    {"heap-shrink-ratio", MDN_OPTION_UNSIGNED, 100, 10000, 200, OPTIONS_FIELD(heap_shrink_ratio, unsigned),
     "growable: the heap stays sized for the most bytes in use a full collection left until they fall below 100/this of it (100: it follows them down at once)"},
    {"heap-adaptive-c", MDN_OPTION_UNSIGNED, 1, 1000000, 4000, OPTIONS_FIELD(heap_adaptive_c, unsigned),
     "adaptive: c in live + c*sqrt(live*allocation rate/collection rate)"},
    {"return-idle-gcs", MDN_OPTION_UNSIGNED, 0, 1000000, 4, OPTIONS_FIELD(return_idle_gcs, unsigned),
     "return heap memory unused for this many collections to the OS; 0 means no such rule"},
    {"return-idle-ms", MDN_OPTION_UNSIGNED, 0, 86400000, 2000, OPTIONS_FIELD(return_idle_ms, unsigned),
     "return heap memory unused for this many milliseconds to the OS; 0 means no such rule"},
    {"stats", MDN_OPTION_BOOL, 0, 1, 0, OPTIONS_FIELD(stats, bool),
     "print a summary table of the run to stderr when the heap is destroyed"},
    {"heap-histogram", MDN_OPTION_BOOL, 0, 1, 0, OPTIONS_FIELD(heap_histogram, bool),
     "print live objects and bytes by size class and space after the last collection"},
    {"trace", MDN_OPTION_STRING, 0, MDN_OPTION_STRING_SIZE - 1, 0, OPTIONS_FIELD(trace, char *),
     "write a Chrome trace-event timeline of every collection to this file; empty means off"},
    {"env", MDN_OPTION_BOOL, 0, 1, 1, OPTIONS_FIELD(env, bool),
     "mdn_heap_create applies the MDN_* environment variables over these options; 0 ignores them"},
};

/* The names of each CHOICE option, in the order of their values. */
static const char *const options_heap_policy_names[] = {"auto", "fixed", "growable", "adaptive", NULL};

const char *const *mdn_option_choices(const mdn_option_desc *d) {
    if (d && d->type == MDN_OPTION_CHOICE && strcmp(d->name, "heap-policy") == 0)
        return options_heap_policy_names;
    return NULL;
}

/* Does option d keep an unset default (0, outside its range) that stays accepted? */
static bool options_unset_ok(const mdn_option_desc *d, uint64_t v) {
    return v == 0 && d->default_value == 0 && d->min > 0;
}

#define OPTIONS_COUNT (sizeof options_table / sizeof options_table[0])

/* Longest quoted excerpt of user text in a message, so the form still fits. */
#define OPTIONS_ECHO_MAX 24
#define OPTIONS_ECHO_SIZE (OPTIONS_ECHO_MAX + 4)
/* Large enough for any formatted value ("18446744073709551615") or range. */
#define OPTIONS_VALUE_SIZE 48
/* Large enough for the accepted form of any option, with its range. */
#define OPTIONS_FORM_SIZE 160

static const char *const options_bool_true[] = {"1", "true", "yes", "on"};
static const char *const options_bool_false[] = {"0", "false", "no", "off"};

size_t mdn_options_count(void) { return OPTIONS_COUNT; }

const mdn_option_desc *mdn_options_describe(size_t i) { return i < OPTIONS_COUNT ? &options_table[i] : NULL; }

static const mdn_option_desc *options_lookup(const char *name, size_t len) {
    for (size_t i = 0; i < OPTIONS_COUNT; i++) {
        const char *n = options_table[i].name;
        if (strlen(n) == len && memcmp(n, name, len) == 0)
            return &options_table[i];
    }
    return NULL;
}

const mdn_option_desc *mdn_options_find(const char *name) {
    return name ? options_lookup(name, strlen(name)) : NULL;
}

/* ---- messages ------------------------------------------------------------ */

static MDN_PRINTF(2, 3) bool options_fail(mdn_error *err, const char *fmt, ...) {
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        err->code = MDN_ERR_OPTION;
        vsnprintf(err->message, sizeof err->message, fmt, ap);
        va_end(ap);
    }
    return false;
}

static bool options_ok(mdn_error *err) {
    if (err) {
        err->code = MDN_OK;
        err->message[0] = '\0';
    }
    return true;
}

/* Copy at most OPTIONS_ECHO_MAX characters of s for quoting; controls and
 * non-ASCII bytes become '?', and a cut is marked with "...". */
static const char *options_echo(char out[OPTIONS_ECHO_SIZE], const char *s, size_t len) {
    size_t n = len < OPTIONS_ECHO_MAX ? len : OPTIONS_ECHO_MAX;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        out[i] = (c >= 0x20 && c < 0x7f) ? (char)c : '?';
    }
    if (n < len) {
        memcpy(out + n, "...", 4);
    } else {
        out[n] = '\0';
    }
    return out;
}

static const char *options_names(char *out, size_t size) {
    size_t used = 0;
    out[0] = '\0';
    for (size_t i = 0; i < OPTIONS_COUNT && used < size; i++) {
        int n = snprintf(out + used, size - used, "%s%s", i ? ", " : "", options_table[i].name);
        if (n < 0)
            break;
        used += (size_t)n;
    }
    return out;
}

/* A size in the largest unit that divides it: 0, 1536, 512K, 64M, 1T. */
static const char *options_format_size(char out[OPTIONS_VALUE_SIZE], uint64_t v) {
    static const char units[] = "TGMK";
    for (int i = 0; i < 4 && v != 0; i++) {
        unsigned shift = 40u - 10u * (unsigned)i;
        if ((v & ((UINT64_C(1) << shift) - 1)) == 0) {
            snprintf(out, OPTIONS_VALUE_SIZE, "%llu%c", (unsigned long long)(v >> shift), units[i]);
            return out;
        }
    }
    snprintf(out, OPTIONS_VALUE_SIZE, "%llu", (unsigned long long)v);
    return out;
}

static const char *options_format_value(char out[OPTIONS_VALUE_SIZE], const mdn_option_desc *d, uint64_t v) {
    switch (d->type) {
    case MDN_OPTION_SIZE:
        return options_format_size(out, v);
    case MDN_OPTION_STRING: /* v is a length; the only default is the empty string */
        if (v == 0) {
            snprintf(out, OPTIONS_VALUE_SIZE, "\"\"");
            return out;
        }
        snprintf(out, OPTIONS_VALUE_SIZE, "%llu characters", (unsigned long long)v);
        return out;
    case MDN_OPTION_BOOL:
        if (v <= 1) {
            snprintf(out, OPTIONS_VALUE_SIZE, "%s", v ? "true" : "false");
            return out;
        }
        break;
    case MDN_OPTION_UNSIGNED:
        break;
    case MDN_OPTION_CHOICE:
        if (v <= d->max) {
            snprintf(out, OPTIONS_VALUE_SIZE, "%s", mdn_option_choices(d)[v]);
            return out;
        }
        break;
    }
    snprintf(out, OPTIONS_VALUE_SIZE, "%llu", (unsigned long long)v);
    return out;
}

/* "a/b/c" for a CHOICE option. */
static const char *options_format_choices(char *out, size_t size, const mdn_option_desc *d, const char *sep) {
    size_t used = 0;
    out[0] = '\0';
    const char *const *names = mdn_option_choices(d);
    for (size_t i = 0; names && names[i] && used < size; i++) {
        int n = snprintf(out + used, size - used, "%s%s", i ? sep : "", names[i]);
        if (n < 0)
            break;
        used += (size_t)n;
    }
    return out;
}

static const char *options_format_range(char out[OPTIONS_VALUE_SIZE], const mdn_option_desc *d) {
    char lo[OPTIONS_VALUE_SIZE], hi[OPTIONS_VALUE_SIZE];
    if (d->type == MDN_OPTION_BOOL) {
        snprintf(out, OPTIONS_VALUE_SIZE, "false/true");
    } else if (d->type == MDN_OPTION_CHOICE) {
        options_format_choices(out, OPTIONS_VALUE_SIZE, d, "/");
    } else if (d->type == MDN_OPTION_STRING) {
        snprintf(out, OPTIONS_VALUE_SIZE, "%llu..%llu chars", (unsigned long long)d->min,
                 (unsigned long long)d->max);
    } else {
        snprintf(out, OPTIONS_VALUE_SIZE, "%s..%s", options_format_value(lo, d, d->min),
                 options_format_value(hi, d, d->max));
    }
    return out;
}

static const char *options_type_name(mdn_option_type t) {
    switch (t) {
    case MDN_OPTION_SIZE:
        return "size";
    case MDN_OPTION_UNSIGNED:
        return "unsigned";
    case MDN_OPTION_BOOL:
        return "bool";
    case MDN_OPTION_CHOICE:
        return "choice";
    case MDN_OPTION_STRING:
        return "string";
    }
    return "?";
}

/* What option d accepts, with its range: "a size in 1M..1T: digits ...". */
static const char *options_expected(char out[OPTIONS_FORM_SIZE], const mdn_option_desc *d) {
    char range[OPTIONS_VALUE_SIZE];
    options_format_range(range, d);
    switch (d->type) {
    case MDN_OPTION_SIZE:
        snprintf(out, OPTIONS_FORM_SIZE,
                 "a size in %s: digits with an optional suffix K, M, G or T (powers of 1024), e.g. 64M", range);
        break;
    case MDN_OPTION_UNSIGNED:
        snprintf(out, OPTIONS_FORM_SIZE, "a decimal integer in %s", range);
        break;
    case MDN_OPTION_BOOL:
        snprintf(out, OPTIONS_FORM_SIZE, "a boolean: 1/0, true/false, yes/no or on/off");
        break;
    case MDN_OPTION_CHOICE:
        snprintf(out, OPTIONS_FORM_SIZE, "one of: %s", options_format_choices(range, sizeof range, d, ", "));
        break;
    case MDN_OPTION_STRING:
        snprintf(out, OPTIONS_FORM_SIZE, "a string of %llu..%llu characters without whitespace or commas",
                 (unsigned long long)d->min, (unsigned long long)d->max);
        break;
    }
    return out;
}

/*
 * Report a bad value for option d: "<origin>option 'heap': '<value>'
 * <problem>; expected <form>". origin is "" or names an environment
 * variable. An empty value is not quoted.
 */
static bool options_fail_value(mdn_error *err, const char *origin, const mdn_option_desc *d, const char *problem,
                               const char *value, size_t len) {
    char echo[OPTIONS_ECHO_SIZE], form[OPTIONS_FORM_SIZE];
    options_expected(form, d);
    if (len == 0)
        return options_fail(err, "%soption '%s': %s; expected %s", origin, d->name, problem, form);
    return options_fail(err, "%soption '%s': '%s' %s; expected %s", origin, d->name, options_echo(echo, value, len),
                        problem, form);
}

/* ---- values ---------------------------------------------------------------- */

static bool options_is_space(char c) {
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

static bool options_has_space(const char *s, size_t len) {
    for (size_t i = 0; i < len; i++)
        if (options_is_space(s[i]))
            return true;
    return false;
}

static bool options_is_digit(char c) { return c >= '0' && c <= '9'; }

static bool options_is_alpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }

static char options_lower(char c) { return (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c; }

static bool options_equal_nocase(const char *s, size_t len, const char *word) {
    if (strlen(word) != len)
        return false;
    for (size_t i = 0; i < len; i++)
        if (options_lower(s[i]) != word[i])
            return false;
    return true;
}

/* The leading decimal digits of s[0, len): their count, the value in *out,
 * and *overflow when it exceeds UINT64_MAX. */
static size_t options_digits(const char *s, size_t len, uint64_t *out, bool *overflow) {
    uint64_t v = 0;
    size_t i = 0;
    *overflow = false;
    for (; i < len && options_is_digit(s[i]); i++) {
        unsigned d = (unsigned)(s[i] - '0');
        if (v > (UINT64_MAX - d) / 10)
            *overflow = true;
        else
            v = v * 10 + d;
    }
    *out = v;
    return i;
}

/* The scale of a size suffix ("", K, M, G, T, each optionally + "iB", in
 * either case), or 0 with *problem set. */
static unsigned options_size_shift(const char *s, size_t len, const char **problem) {
    static const char units[] = "kmgt";
    if (len == 0)
        return 0;
    const char *u = strchr(units, options_lower(s[0]));
    if (s[0] == '\0' || u == NULL) {
        *problem = options_is_alpha(s[0]) ? "has a bad suffix" : "has trailing characters";
        return 0;
    }
    if (len == 1 || (len == 3 && options_lower(s[1]) == 'i' && options_lower(s[2]) == 'b'))
        return 10u * (unsigned)(u - units + 1);
    *problem = options_is_alpha(s[1]) ? "has a bad suffix" : "has trailing characters";
    return 0;
}

/* Parse a size or unsigned value and check its range. */
static bool options_parse_number(const mdn_option_desc *d, const char *value, size_t len, uint64_t *out,
                                 const char *origin, mdn_error *err) {
    if (value[0] == '-')
        return options_fail_value(err, origin, d, "is negative", value, len);
    uint64_t v;
    bool overflow;
    size_t n = options_digits(value, len, &v, &overflow);
    if (n == 0)
        return options_fail_value(err, origin, d, "is not a number", value, len);
    unsigned shift = 0;
    if (d->type == MDN_OPTION_SIZE) {
        const char *problem = NULL;
        shift = options_size_shift(value + n, len - n, &problem);
        if (problem)
            return options_fail_value(err, origin, d, problem, value, len);
    } else if (n < len) {
        return options_fail_value(err, origin, d, "has trailing characters", value, len);
    }
    if (overflow || v > (UINT64_MAX >> shift))
        return options_fail_value(err, origin, d, "is too large", value, len);
    v <<= shift;
    if ((v < d->min || v > d->max) && !options_unset_ok(d, v))
        return options_fail_value(err, origin, d, "is out of range", value, len);
    *out = v;
    return true;
}

static bool options_parse_bool(const mdn_option_desc *d, const char *value, size_t len, uint64_t *out,
                               const char *origin, mdn_error *err) {
    for (size_t i = 0; i < sizeof options_bool_true / sizeof options_bool_true[0]; i++) {
        if (options_equal_nocase(value, len, options_bool_true[i])) {
            *out = 1;
            return true;
        }
        if (options_equal_nocase(value, len, options_bool_false[i])) {
            *out = 0;
            return true;
        }
    }
    return options_fail_value(err, origin, d, "is not a boolean", value, len);
}

static bool options_parse_choice(const mdn_option_desc *d, const char *value, size_t len, uint64_t *out,
                                 const char *origin, mdn_error *err) {
    const char *const *names = mdn_option_choices(d);
    for (size_t i = 0; names[i]; i++) {
        if (options_equal_nocase(value, len, names[i])) {
            *out = i;
            return true;
        }
    }
    return options_fail_value(err, origin, d, "is not a known name", value, len);
}

static void options_store(mdn_options *o, const mdn_option_desc *d, uint64_t v) {
    char *field = (char *)o + d->offset;
    switch (d->type) {
    case MDN_OPTION_SIZE:
        *(size_t *)field = (size_t)v;
        break;
    case MDN_OPTION_UNSIGNED:
    case MDN_OPTION_CHOICE:
        *(unsigned *)field = (unsigned)v;
        break;
    case MDN_OPTION_BOOL:
        *(bool *)field = v != 0;
        break;
    case MDN_OPTION_STRING: /* only the default, the empty string, is stored as a number */
        MDN_CHECK(v == 0);
        field[0] = '\0';
        break;
    }
}

/* The field as a number; a bool is read as its byte so that validation can
 * see a representation other than 0 or 1. */
static uint64_t options_load(const mdn_options *o, const mdn_option_desc *d) {
    const char *field = (const char *)o + d->offset;
    switch (d->type) {
    case MDN_OPTION_SIZE:
        return *(const size_t *)field;
    case MDN_OPTION_UNSIGNED:
    case MDN_OPTION_CHOICE:
        return *(const unsigned *)field;
    case MDN_OPTION_STRING: /* its length; MDN_OPTION_STRING_SIZE when not terminated */
        return strnlen(field, MDN_OPTION_STRING_SIZE);
    case MDN_OPTION_BOOL:
        break;
    }
    unsigned char byte;
    memcpy(&byte, field, 1);
    return byte;
}

/* Parse value[0, len) for option d and store it into o. */
static bool options_apply_value(mdn_options *o, const mdn_option_desc *d, const char *value, size_t len,
                                const char *origin, mdn_error *err) {
    if (len == 0)
        return options_fail_value(err, origin, d, "empty value", value, len);
    if (options_has_space(value, len))
        return options_fail_value(err, origin, d, "contains whitespace (nothing is trimmed)", value, len);
    if (d->type == MDN_OPTION_STRING) {
        if (memchr(value, ',', len))
            return options_fail_value(err, origin, d, "contains a comma", value, len);
        if (len < d->min || len > d->max)
            return options_fail_value(err, origin, d, len > d->max ? "is too long" : "is too short", value, len);
        char *field = (char *)o + d->offset;
        memcpy(field, value, len);
        field[len] = '\0';
        return true;
    }
    uint64_t v = 0;
    bool ok = d->type == MDN_OPTION_BOOL     ? options_parse_bool(d, value, len, &v, origin, err)
              : d->type == MDN_OPTION_CHOICE ? options_parse_choice(d, value, len, &v, origin, err)
                                             : options_parse_number(d, value, len, &v, origin, err);
    if (ok)
        options_store(o, d, v);
    return ok;
}

/* Apply name[0, nlen) = value[0, vlen). */
static bool options_apply_setting(mdn_options *o, const char *name, size_t nlen, const char *value, size_t vlen,
                                  const char *origin, mdn_error *err) {
    char names[176], echo_name[OPTIONS_ECHO_SIZE], echo_value[OPTIONS_ECHO_SIZE];
    if (nlen == 0)
        return options_fail(err, "%sempty option name in '=%s'; write name=value with a name from: %s", origin,
                            options_echo(echo_value, value, vlen), options_names(names, sizeof names));
    const mdn_option_desc *d = options_lookup(name, nlen);
    if (d == NULL && options_has_space(name, nlen)) {
        size_t start = 0, end = nlen;
        while (start < end && options_is_space(name[start]))
            start++;
        while (end > start && options_is_space(name[end - 1]))
            end--;
        const mdn_option_desc *trimmed = options_lookup(name + start, end - start);
        if (trimmed)
            return options_fail(err,
                                "%soption '%s': whitespace around the name in '%s' (nothing is trimmed); "
                                "write %s=VALUE",
                                origin, trimmed->name, options_echo(echo_name, name, nlen), trimmed->name);
    }
    if (d == NULL)
        return options_fail(err, "%sunknown option '%s'; valid options: %s", origin,
                            options_echo(echo_name, name, nlen), options_names(names, sizeof names));
    return options_apply_value(o, d, value, vlen, origin, err);
}

/* Apply a comma-separated list of name=value items (see options.h). */
static bool options_apply_list(mdn_options *o, const char *text, const char *origin, mdn_error *err) {
    char names[176], echo[OPTIONS_ECHO_SIZE];
    if (text[0] == '\0')
        return true;
    const char *p = text;
    for (;;) {
        size_t len = strcspn(p, ",");
        if (len == 0)
            return options_fail(err,
                                "%sempty item at offset %zu; write name=value items separated by single commas, "
                                "with no empty items",
                                origin, (size_t)(p - text));
        const char *eq = memchr(p, '=', len);
        if (eq == NULL) {
            const mdn_option_desc *d = options_lookup(p, len);
            if (d) {
                char form[OPTIONS_FORM_SIZE];
                return options_fail(err, "%soption '%s': missing '='; write %s=VALUE where VALUE is %s", origin,
                                    d->name, d->name, options_expected(form, d));
            }
            return options_fail(err, "%sitem '%s' is not name=value (missing '='); valid options: %s", origin,
                                options_echo(echo, p, len), options_names(names, sizeof names));
        }
        if (!options_apply_setting(o, p, (size_t)(eq - p), eq + 1, len - (size_t)(eq - p) - 1, origin, err))
            return false;
        if (p[len] == '\0')
            return true;
        p += len + 1;
    }
}

/* ---- the API ---------------------------------------------------------------- */

void mdn_options_init(mdn_options *opts) {
    memset(opts, 0, sizeof *opts);
    for (size_t i = 0; i < OPTIONS_COUNT; i++)
        options_store(opts, &options_table[i], options_table[i].default_value);
}

bool mdn_options_parse(mdn_options *opts, const char *text, mdn_error *err) {
    if (opts == NULL || text == NULL)
        return options_fail(err, "mdn_options_parse: %s is NULL", opts == NULL ? "opts" : "text");
    mdn_options copy = *opts;
    if (!options_apply_list(&copy, text, "", err))
        return false;
    *opts = copy;
    return options_ok(err);
}

bool mdn_options_set(mdn_options *opts, const char *name, const char *value, mdn_error *err) {
    if (opts == NULL || name == NULL || value == NULL)
        return options_fail(err, "mdn_options_set: %s is NULL",
                            opts == NULL ? "opts" : name == NULL ? "name" : "value");
    mdn_options copy = *opts;
    if (!options_apply_setting(&copy, name, strlen(name), value, strlen(value), "", err))
        return false;
    *opts = copy;
    return options_ok(err);
}

/* MDN_ + the name upper-cased, '-' as '_'. */
static const char *options_env_name(char out[64], const mdn_option_desc *d) {
    size_t n = 0;
    memcpy(out, "MDN_", 4);
    n = 4;
    for (const char *s = d->name; *s && n < 63; s++)
        out[n++] = *s == '-' ? '_' : (*s >= 'a' && *s <= 'z') ? (char)(*s - 'a' + 'A') : *s;
    out[n] = '\0';
    return out;
}

bool mdn_options_from_env(mdn_options *opts, mdn_error *err) {
    if (opts == NULL)
        return options_fail(err, "mdn_options_from_env: opts is NULL");
    mdn_options copy = *opts;
    const char *list = getenv("MDN_OPTIONS");
    if (list != NULL) {
        if (list[0] == '\0')
            return options_fail(err, "environment variable MDN_OPTIONS is set but empty (unset it to keep the "
                                     "defaults); expected name=value items separated by commas");
        if (!options_apply_list(&copy, list, "environment variable MDN_OPTIONS: ", err))
            return false;
    }
    for (size_t i = 0; i < OPTIONS_COUNT; i++) {
        const mdn_option_desc *d = &options_table[i];
        char var[64], origin[96];
        const char *value = getenv(options_env_name(var, d));
        if (value == NULL)
            continue;
        snprintf(origin, sizeof origin, "environment variable %s: ", var);
        if (value[0] == '\0')
            return options_fail_value(err, origin, d, "empty value (unset the variable to keep the default)",
                                      value, 0);
        if (!options_apply_value(&copy, d, value, strlen(value), origin, err))
            return false;
    }
    *opts = copy;
    return options_ok(err);
}

bool mdn_options_validate(const mdn_options *opts, mdn_error *err) {
    if (opts == NULL)
        return options_fail(err, "mdn_options_validate: opts is NULL");
    for (size_t i = 0; i < OPTIONS_COUNT; i++) {
        const mdn_option_desc *d = &options_table[i];
        uint64_t v = options_load(opts, d);
        if ((v < d->min || v > d->max) && !options_unset_ok(d, v)) {
            char value[OPTIONS_VALUE_SIZE], range[OPTIONS_VALUE_SIZE];
            return options_fail(err, "option '%s' is %s, outside its range %s", d->name,
                                options_format_value(value, d, v), options_format_range(range, d));
        }
    }
    return options_ok(err);
}

/* ---- help and reference -------------------------------------------------- */

void mdn_options_print_help(FILE *out) {
    int name_w = (int)strlen("NAME"), range_w = (int)strlen("RANGE"), default_w = (int)strlen("DEFAULT");
    char range[OPTIONS_VALUE_SIZE], def[OPTIONS_VALUE_SIZE], var[64];
    for (size_t i = 0; i < OPTIONS_COUNT; i++) {
        const mdn_option_desc *d = &options_table[i];
        int n = (int)strlen(d->name);
        int r = (int)strlen(options_format_range(range, d));
        int f = (int)strlen(options_format_value(def, d, d->default_value));
        name_w = n > name_w ? n : name_w;
        range_w = r > range_w ? r : range_w;
        default_w = f > default_w ? f : default_w;
    }
    fprintf(out, "Midden options: name=value items separated by commas, no spaces (heap=64M,gc-threads=2).\n"
                 "From the environment: MDN_OPTIONS holds such a list and is applied first, then one\n"
                 "variable per option, e.g. MDN_HEAP=256M, MDN_GC_THREADS=4.\n\n");
    fprintf(out, "  %-*s  %-8s  %-*s  %-*s  %s\n", name_w, "NAME", "TYPE", range_w, "RANGE", default_w, "DEFAULT",
            "DESCRIPTION");
    for (size_t i = 0; i < OPTIONS_COUNT; i++) {
        const mdn_option_desc *d = &options_table[i];
        fprintf(out, "  %-*s  %-8s  %-*s  %-*s  %s (%s)\n", name_w, d->name, options_type_name(d->type), range_w,
                options_format_range(range, d), default_w, options_format_value(def, d, d->default_value), d->doc,
                options_env_name(var, d));
    }
    fprintf(out, "\nsize:     digits with an optional suffix K, M, G or T (powers of 1024), which may be\n"
                 "          followed by iB; either case: 64M, 64m, 64MiB. Nothing else (no MB, no spaces).\n"
                 "unsigned: digits.\n"
                 "bool:     1/0, true/false, yes/no, on/off, in either case.\n"
                 "choice:   one of the names in RANGE, in either case.\n"
                 "A size whose default is 0 is unset by default and accepts 0 (unset) besides its range.\n");
}

/* Write s with the characters that would end a Markdown table cell escaped. */
static void options_markdown_cell(FILE *out, const char *s) {
    for (; *s; s++) {
        if (*s == '|' || *s == '<' || *s == '*' || *s == '_' || *s == '\\' || *s == '`')
            fputc('\\', out);
        fputc(*s, out);
    }
}

void mdn_options_write_markdown(FILE *out) {
    char range[OPTIONS_VALUE_SIZE], def[OPTIONS_VALUE_SIZE], var[64];
    fprintf(out, "| Option | Environment | Type | Range | Default | Description |\n"
                 "|---|---|---|---|---|---|\n");
    for (size_t i = 0; i < OPTIONS_COUNT; i++) {
        const mdn_option_desc *d = &options_table[i];
        fprintf(out, "| `%s` | `%s` | %s | %s | `%s` | ", d->name, options_env_name(var, d),
                options_type_name(d->type), options_format_range(range, d),
                options_format_value(def, d, d->default_value));
        options_markdown_cell(out, d->doc);
        fprintf(out, " |\n");
    }
    fprintf(out,
            "\n"
            "Options are `name=value` items separated by commas, with no spaces and no empty items, "
            "for example `heap=64M,gc-threads=2,verbose=1`; an option given twice takes the last value. "
            "The environment variable `MDN_OPTIONS` holds such a list and is applied first; then one "
            "variable per option (the name upper-cased, `-` as `_`) sets that option. Unset variables "
            "are ignored; a variable set to the empty string is an error.\n"
            "\n"
            "- *size*: digits with an optional suffix `K`, `M`, `G` or `T` (powers of 1024), which may be "
            "followed by `iB`, in either case: `64M`, `64m`, `64MiB`. `MB` and spaces are rejected.\n"
            "- *unsigned*: digits.\n"
            "- *bool*: `1`/`0`, `true`/`false`, `yes`/`no`, `on`/`off`, in either case.\n"
            "- *choice*: one of the names in the range column, in either case.\n"
            "\n"
            "An option whose default is `0` outside its range is unset by default and accepts `0` "
            "(unset) besides its range.\n");
}
