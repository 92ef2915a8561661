/* util.c: failure reporting, time and processor count. */
#define _GNU_SOURCE /* mremap */
#include "core/util.h"

#include "core/layout.h"

#include <midden/midden.h>

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
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

static size_t table_bytes(size_t bytes) { return mdn_align_up(bytes ? bytes : 1, MDN_PAGE_SIZE); }

void *mdn_table_alloc(size_t bytes) { return mdn_table_resize(NULL, 0, bytes); }

void *mdn_table_resize(void *table, size_t old_bytes, size_t new_bytes) {
    new_bytes = table_bytes(new_bytes);
    void *p;
    if (!table) {
        p = mmap(NULL, new_bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    } else {
        old_bytes = table_bytes(old_bytes);
        if (old_bytes == new_bytes)
            return table;
        p = mremap(table, old_bytes, new_bytes, MREMAP_MAYMOVE);
    }
    return p == MAP_FAILED ? NULL : p;
}

void mdn_table_free(void *table, size_t bytes) {
    if (table)
        munmap(table, table_bytes(bytes));
}

void *mdn_array_reserve(void *array, size_t count, size_t *capacity, size_t size, size_t initial, const char *what) {
    if (count < *capacity)
        return array;
    size_t old_bytes = *capacity * size;
    size_t bytes = table_bytes((*capacity ? *capacity * 2 : initial) * size);
    void *grown = mdn_table_resize(array, old_bytes, bytes);
    if (!grown)
        mdn_fatal("out of memory %s", what);
    *capacity = bytes / size;
    return grown;
}

void mdn_array_free(void *array, size_t capacity, size_t size) { mdn_table_free(array, capacity * size); }

static void swap_elements(char *a, char *b, size_t size) {
    char t[64];
    memcpy(t, a, size);
    memcpy(a, b, size);
    memcpy(b, t, size);
}

/* Heapsort: sift element `root` down the heap of the first `n` elements. */
static void sift_down(char *base, size_t root, size_t n, size_t size, int (*compare)(const void *, const void *)) {
    for (;;) {
        size_t child = 2 * root + 1;
        if (child >= n)
            return;
        if (child + 1 < n && compare(base + child * size, base + (child + 1) * size) < 0)
            child++;
        if (compare(base + root * size, base + child * size) >= 0)
            return;
        swap_elements(base + root * size, base + child * size, size);
        root = child;
    }
}

void mdn_sort(void *base, size_t n, size_t size, int (*compare)(const void *, const void *)) {
    if (size > 64)
        mdn_fatal("mdn_sort: elements of %zu bytes are above the 64-byte bound", size);
    char *b = base;
    if (n < 2)
        return;
    for (size_t i = n / 2; i-- > 0;)
        sift_down(b, i, n, size, compare);
    for (size_t end = n - 1; end > 0; end--) {
        swap_elements(b, b + end * size, size);
        sift_down(b, 0, end, size, compare);
    }
}

/* Called through a volatile pointer: knowing each piece's bound, the
 * compiler would otherwise expand the call inline as `rep stosq`, the very
 * instruction the pieces avoid. */
static void *(*volatile const zero_pieces)(void *, int, size_t) = memset;

void mdn_zero(void *p, size_t n) {
    unsigned char *c = p;
    while (n) {
        size_t piece = n < MDN_ZERO_PIECE ? n : MDN_ZERO_PIECE;
        zero_pieces(c, 0, piece);
        c += piece;
        n -= piece;
    }
}
