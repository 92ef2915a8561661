/* util.c: failure reporting, time and processor count. */
#include "core/util.h"

#include <midden/midden.h>

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

void mdn_assert_fail(const char *expr, const char *file, int line) {
    fprintf(stderr, "midden: internal check failed: %s (%s:%d)\n", expr, file, line);
    fflush(stderr);
    abort();
}

void mdn_misuse(const char *check, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "midden: API misuse [%s]: ", check);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    fflush(stderr);
    abort();
}

void mdn_fatal(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fputs("midden: fatal: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    fflush(stderr);
    abort();
}

uint64_t mdn_now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

unsigned mdn_cpu_count(void) {
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n < 1 ? 1u : (unsigned)n;
}

void mdn_error_set(struct mdn_error *err, int code, const char *fmt, ...) {
    if (!err)
        return;
    err->code = (mdn_error_code)code;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->message, sizeof err->message, fmt, ap);
    va_end(ap);
}

void *mdn_array_reserve(void *array, size_t count, size_t *capacity, size_t size, size_t initial, const char *what) {
    if (count < *capacity)
        return array;
    size_t cap = *capacity ? *capacity * 2 : initial;
    void *grown = realloc(array, cap * size);
    if (!grown)
        mdn_fatal("out of memory %s", what);
    *capacity = cap;
    return grown;
}
