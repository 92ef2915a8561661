/*
 * deque.c: the Chase–Lev deque, following the C11 formulation of Lê, Pop,
 * Cohen & Zappa Nardelli, "Correct and Efficient Work-Stealing for Weak
 * Memory Models" (PPoPP 2013), figure 1.
 *
 * Indices grow without bound (64-bit, so they never wrap in practice); an
 * index i lives in slot i & (capacity - 1). top only ever grows, and only by
 * a successful compare-and-swap, which is what decides who gets an item.
 *
 * Departures from the paper's text, none of which weakens it:
 *  - push publishes with a release store to bottom instead of a release
 *    fence followed by a relaxed store. The two give the same
 *    synchronisation here (a thief's acquire load of bottom), and the store
 *    form is one a race detector understands.
 *  - the array pointer is stored with release and loaded with acquire (the
 *    paper uses consume, which compilers treat as acquire anyway).
 *  - under MDN_TSAN, the two seq_cst fences (pop: between the store to
 *    bottom and the load of top; steal: between the load of top and the load
 *    of bottom) are replaced by making those accesses seq_cst themselves.
 *    ThreadSanitizer does not model fences; with seq_cst accesses the
 *    store-buffering outcome the fences forbid (owner and thief both missing
 *    each other's update) is forbidden by the single total order instead.
 *    What TSan does and does not check: docs/design/collector.md .deque.tsan.
 */
#include "core/deque.h"

#include "core/util.h"

#include <stdlib.h>

/* The orders of the accesses on either side of the two seq_cst fences. */
#ifdef MDN_TSAN
#define DEQUE_FENCE_SEQ_CST() ((void)0)
#define DEQUE_POP_BOTTOM_STORE memory_order_seq_cst
#define DEQUE_POP_TOP_LOAD memory_order_seq_cst
#define DEQUE_STEAL_LOAD memory_order_seq_cst
#else
#define DEQUE_FENCE_SEQ_CST() atomic_thread_fence(memory_order_seq_cst)
#define DEQUE_POP_BOTTOM_STORE memory_order_relaxed
#define DEQUE_POP_TOP_LOAD memory_order_relaxed
#define DEQUE_STEAL_LOAD memory_order_acquire
#endif

/* Tables, not malloc memory: arrays grow and go during collections
 * (.overview.tables). */
static size_t deque_array_bytes(size_t capacity) { return sizeof(mdn_deque_array) + capacity * sizeof(uintptr_t); }

static void deque_array_free(mdn_deque_array *a) {
    if (a)
        mdn_table_free(a, deque_array_bytes(a->capacity));
}

static mdn_deque_array *deque_array_new(size_t capacity) {
    mdn_deque_array *a = mdn_table_alloc(deque_array_bytes(capacity));
    if (a == NULL)
        return NULL;
    a->capacity = capacity;
    a->retired_next = NULL;
    return a;
}

static inline uintptr_t deque_array_get(mdn_deque_array *a, int64_t i) {
    return atomic_load_explicit(&a->items[(size_t)i & (a->capacity - 1)], memory_order_relaxed);
}

static inline void deque_array_put(mdn_deque_array *a, int64_t i, uintptr_t item) {
    atomic_store_explicit(&a->items[(size_t)i & (a->capacity - 1)], item, memory_order_relaxed);
}

bool mdn_deque_init(mdn_deque *d, unsigned log_capacity) {
    if (log_capacity >= sizeof(size_t) * 8 - 4)
        return false;
    mdn_deque_array *a = deque_array_new((size_t)1 << log_capacity);
    if (a == NULL)
        return false;
    atomic_init(&d->top, 0);
    atomic_init(&d->bottom, 0);
    atomic_init(&d->array, a);
    d->retired = NULL;
    return true;
}

void mdn_deque_destroy(mdn_deque *d) {
    mdn_deque_reclaim(d);
    deque_array_free(atomic_load_explicit(&d->array, memory_order_relaxed));
    atomic_store_explicit(&d->array, NULL, memory_order_relaxed);
}

/*
 * Owner only. Thieves may be reading the old array while we copy: the slots
 * [t, b) hold the same items in both arrays, and the old array stays
 * allocated on the retired list, so a thief that loaded the old pointer still
 * reads a correct item (its CAS on top decides whether it keeps it).
 */
MDN_NOINLINE static mdn_deque_array *deque_grow(mdn_deque *d, mdn_deque_array *old, int64_t t, int64_t b) {
    size_t capacity = old->capacity * 2;
    if (capacity < old->capacity)
        mdn_fatal("work deque: capacity overflow at %zu items", old->capacity);
    mdn_deque_array *a = deque_array_new(capacity);
    if (a == NULL)
        mdn_fatal("work deque: out of memory growing to %zu items", capacity);
    for (int64_t i = t; i < b; i++)
        deque_array_put(a, i, deque_array_get(old, i));
    old->retired_next = d->retired;
    d->retired = old;
    atomic_store_explicit(&d->array, a, memory_order_release);
    return a;
}

void mdn_deque_push(mdn_deque *d, uintptr_t item) {
    int64_t b = atomic_load_explicit(&d->bottom, memory_order_relaxed);
    int64_t t = atomic_load_explicit(&d->top, memory_order_acquire);
    mdn_deque_array *a = atomic_load_explicit(&d->array, memory_order_relaxed);
    if (MDN_UNLIKELY(b - t > (int64_t)a->capacity - 1))
        a = deque_grow(d, a, t, b);
    deque_array_put(a, b, item);
    atomic_store_explicit(&d->bottom, b + 1, memory_order_release);
}

bool mdn_deque_pop(mdn_deque *d, uintptr_t *out) {
    int64_t b = atomic_load_explicit(&d->bottom, memory_order_relaxed) - 1;
    mdn_deque_array *a = atomic_load_explicit(&d->array, memory_order_relaxed);
    atomic_store_explicit(&d->bottom, b, DEQUE_POP_BOTTOM_STORE);
    DEQUE_FENCE_SEQ_CST();
    int64_t t = atomic_load_explicit(&d->top, DEQUE_POP_TOP_LOAD);
    if (MDN_LIKELY(t < b)) {
        /* More than one item: no thief can reach slot b. */
        *out = deque_array_get(a, b);
        return true;
    }
    bool taken = false;
    if (t == b) {
        /* The last item: race the thieves for it through top. */
        uintptr_t item = deque_array_get(a, b);
        if (atomic_compare_exchange_strong_explicit(&d->top, &t, t + 1, memory_order_seq_cst,
                                                    memory_order_relaxed)) {
            *out = item;
            taken = true;
        }
    }
    /* Empty now (t == b) or already (t > b): restore bottom to top. */
    atomic_store_explicit(&d->bottom, b + 1, memory_order_relaxed);
    return taken;
}

bool mdn_deque_take_oldest_unshared(mdn_deque *d, uintptr_t *out) {
    int64_t t = atomic_load_explicit(&d->top, memory_order_relaxed);
    int64_t b = atomic_load_explicit(&d->bottom, memory_order_relaxed);
    if (t >= b)
        return false;
    mdn_deque_array *a = atomic_load_explicit(&d->array, memory_order_relaxed);
    *out = deque_array_get(a, t);
    atomic_store_explicit(&d->top, t + 1, memory_order_relaxed);
    return true;
}

mdn_steal_result mdn_deque_steal(mdn_deque *d, uintptr_t *out) {
    int64_t t = atomic_load_explicit(&d->top, DEQUE_STEAL_LOAD);
    DEQUE_FENCE_SEQ_CST();
    int64_t b = atomic_load_explicit(&d->bottom, DEQUE_STEAL_LOAD);
    if (t >= b)
        return MDN_STEAL_EMPTY;
    mdn_deque_array *a = atomic_load_explicit(&d->array, memory_order_acquire);
    uintptr_t item = deque_array_get(a, t);
    if (!atomic_compare_exchange_strong_explicit(&d->top, &t, t + 1, memory_order_seq_cst,
                                                 memory_order_relaxed))
        return MDN_STEAL_RETRY;
    *out = item;
    return MDN_STEAL_SUCCESS;
}

size_t mdn_deque_size(const mdn_deque *d) {
    /* bottom first: top only grows, so a later top can only shrink the size. */
    int64_t b = atomic_load_explicit(&d->bottom, memory_order_relaxed);
    int64_t t = atomic_load_explicit(&d->top, memory_order_relaxed);
    return b > t ? (size_t)(b - t) : 0;
}

void mdn_deque_reclaim(mdn_deque *d) {
#ifdef MDN_DEBUG
    mdn_deque_check(d);
#endif
    mdn_deque_array *a = d->retired;
    while (a != NULL) {
        mdn_deque_array *next = a->retired_next;
        deque_array_free(a);
        a = next;
    }
    d->retired = NULL;
}

void mdn_deque_check(const mdn_deque *d) {
    mdn_deque *m = (mdn_deque *)d;
    mdn_deque_array *a = atomic_load_explicit(&m->array, memory_order_relaxed);
    MDN_CHECK(a != NULL);
    MDN_CHECK(mdn_is_power_of_two(a->capacity));
    int64_t t = atomic_load_explicit(&m->top, memory_order_relaxed);
    int64_t b = atomic_load_explicit(&m->bottom, memory_order_relaxed);
    MDN_CHECK(t >= 0);
    MDN_CHECK(t <= b);
    MDN_CHECK(b - t <= (int64_t)a->capacity);
    for (mdn_deque_array *r = m->retired; r != NULL; r = r->retired_next)
        MDN_CHECK(r->capacity < a->capacity);
}
