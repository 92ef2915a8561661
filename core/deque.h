/*
 * deque.h: the Chase–Lev work-stealing deque (Chase & Lev, SPAA 2005) with
 * the C11 memory orders of Lê, Pop, Cohen & Zappa Nardelli (PPoPP 2013).
 *
 * One owner thread pushes and pops at the bottom (LIFO); any thread steals
 * from the top (FIFO). The array grows on push; retired arrays are kept until
 * mdn_deque_reclaim() (called when no thief can be running) or destroy, so a
 * thief never reads freed memory. Items are words (object references).
 */
#ifndef MDN_CORE_DEQUE_H
#define MDN_CORE_DEQUE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct mdn_deque_array {
    size_t capacity; /* a power of two */
    struct mdn_deque_array *retired_next;
    _Atomic uintptr_t items[];
} mdn_deque_array;

typedef struct mdn_deque {
    _Alignas(64) _Atomic int64_t top;
    _Alignas(64) _Atomic int64_t bottom;
    _Atomic(mdn_deque_array *) array;
    mdn_deque_array *retired; /* owner-only list of outgrown arrays */
} mdn_deque;

typedef enum mdn_steal_result {
    MDN_STEAL_EMPTY = 0,   /* nothing to steal */
    MDN_STEAL_SUCCESS = 1, /* *out holds the item */
    MDN_STEAL_RETRY = 2,   /* lost a race; the deque may still hold items */
} mdn_steal_result;

/* Initialise with room for 2^log_capacity items. false if out of memory. */
bool mdn_deque_init(mdn_deque *d, unsigned log_capacity);
void mdn_deque_destroy(mdn_deque *d);

/* Owner only. Grows the array when full (aborts if memory runs out). */
void mdn_deque_push(mdn_deque *d, uintptr_t item);

/* Owner only: take the most recently pushed item. false when empty. */
bool mdn_deque_pop(mdn_deque *d, uintptr_t *out);

/*
 * Owner only, and only while no other thread can steal from the deque (a
 * deque that is never shared): take the oldest item, FIFO, without the
 * fence and compare-and-swap of a steal. false when empty.
 */
bool mdn_deque_take_oldest_unshared(mdn_deque *d, uintptr_t *out);

/* Any thread: take the oldest item. */
mdn_steal_result mdn_deque_steal(mdn_deque *d, uintptr_t *out);

/* Approximate size (exact when no other thread is active). */
size_t mdn_deque_size(const mdn_deque *d);

/* Free retired arrays; only when no other thread can be stealing. */
void mdn_deque_reclaim(mdn_deque *d);

/* Check the invariants (aborts naming the broken one); only when no other
 * thread is using the deque. */
void mdn_deque_check(const mdn_deque *d);

#endif
