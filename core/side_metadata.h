/*
 * side_metadata.h: per-address metadata kept outside objects (docs/design/overview.md .overview.memory).
 *
 * .side.spec: a table covers the whole reservation; entry i describes the
 * region [start + i·2^log_region, ...) with 2^log_bits bits (1 or 8).
 * Address → entry is a subtraction and a shift. Tables are lazily backed
 * zero pages, so an untouched region costs nothing.
 * .side.atomic: marking runs on several GC threads at once: shared bytes of
 * a 1-bit table are set with fetch-or; a byte table is stored whole.
 * .side.bulk: clearing is per block or chunk with memset, never per object.
 * .side.const: the trace loop's accessors (the _k functions) take the
 * table's log_region as a compile-time constant and address the table from
 * its biased base, so an entry is a shift and an add from the address.
 */
#ifndef MDN_CORE_SIDE_METADATA_H
#define MDN_CORE_SIDE_METADATA_H

#include "core/util.h"
#include "core/vmspace.h"

#include <midden/types.h>

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct mdn_side_metadata {
    uintptr_t heap_start;
    uintptr_t heap_end;
    uint8_t *base;
    size_t bytes;
    unsigned log_region; /* log2 of the bytes one entry covers */
    unsigned log_bits;   /* 0: one bit per entry, 3: one byte per entry */
    /* .side.const: base less the byte offset of heap_start's entry, so the
     * byte of address a is biased + (a >> (log_region + 3 - log_bits)). */
    uintptr_t biased;
    const char *name;
} mdn_side_metadata;

/* A table over the reservation of `vs`. false if address space runs out. */
bool mdn_side_metadata_init(mdn_side_metadata *md, const mdn_vmspace *vs, unsigned log_region, unsigned log_bits,
                            const char *name);
void mdn_side_metadata_destroy(mdn_side_metadata *md);

static inline size_t mdn_side_index(const mdn_side_metadata *md, mdn_address a) {
    MDN_ASSERT(a.value >= md->heap_start && a.value < md->heap_end);
    return (a.value - md->heap_start) >> md->log_region;
}

/* ---- .side.const: tables whose log_region is a constant ---- */

/* The metadata byte holding the entry of `a` in a table of `log_bits` bits
 * per entry and `log_region` (both constants where this is inlined). */
static MDN_ALWAYS_INLINE uint8_t *mdn_side_byte_k(const mdn_side_metadata *md, mdn_address a, unsigned log_region,
                                                  unsigned log_bits) {
    MDN_ASSERT(md->log_region == log_region && md->log_bits == log_bits);
    MDN_ASSERT(a.value >= md->heap_start && a.value < md->heap_end);
    return (uint8_t *)(md->biased + (a.value >> (log_region + 3 - log_bits)));
}
/* The mask of `a`'s bit in its byte (a one-bit table). */
static MDN_ALWAYS_INLINE uint8_t mdn_side_mask_k(mdn_address a, unsigned log_region) {
    return (uint8_t)(1u << ((a.value >> log_region) & 7));
}
static MDN_ALWAYS_INLINE bool mdn_side_bit_test_k(const mdn_side_metadata *md, mdn_address a, unsigned log_region) {
    return (__atomic_load_n(mdn_side_byte_k(md, a, log_region, 0), __ATOMIC_RELAXED) &
            mdn_side_mask_k(a, log_region)) != 0;
}
/* Set the bits of `mask` in *byte, testing them first; true when this
 * call changed them. `atomic` when other threads may set bits of the same
 * byte at once (.side.atomic), else a plain store. */
static MDN_ALWAYS_INLINE bool mdn_side_set_in_byte(uint8_t *byte, uint8_t mask, bool atomic) {
    uint8_t old = __atomic_load_n(byte, __ATOMIC_RELAXED);
    if (old & mask)
        return false;
    if (atomic)
        return (__atomic_fetch_or(byte, mask, __ATOMIC_RELAXED) & mask) == 0;
    __atomic_store_n(byte, (uint8_t)(old | mask), __ATOMIC_RELAXED);
    return true;
}
/* Set the bit; true when this call changed it from 0 to 1. */
static MDN_ALWAYS_INLINE bool mdn_side_bit_set_k(const mdn_side_metadata *md, mdn_address a, unsigned log_region,
                                                 bool atomic) {
    return mdn_side_set_in_byte(mdn_side_byte_k(md, a, log_region, 0), mdn_side_mask_k(a, log_region), atomic);
}
/* The aligned 64-bit word holding `a`'s bit, and the bit's index in it. */
static MDN_ALWAYS_INLINE uint64_t *mdn_side_word_k(const mdn_side_metadata *md, mdn_address a, unsigned log_region,
                                                   unsigned *bit) {
    *bit = (unsigned)((a.value >> log_region) & 63);
    return (uint64_t *)((uintptr_t)mdn_side_byte_k(md, a, log_region, 0) & ~(uintptr_t)7);
}

/* ---- one bit per region ---- */

static inline bool mdn_side_bit_test(const mdn_side_metadata *md, mdn_address a) {
    size_t i = mdn_side_index(md, a);
    return (__atomic_load_n(&md->base[i >> 3], __ATOMIC_RELAXED) >> (i & 7)) & 1u;
}
/* Set the bit; true when this call changed it from 0 to 1. */
static inline bool mdn_side_bit_set_atomic(const mdn_side_metadata *md, mdn_address a) {
    size_t i = mdn_side_index(md, a);
    return mdn_side_set_in_byte(&md->base[i >> 3], (uint8_t)(1u << (i & 7)), true);
}
/* Set the bit, testing it first; `atomic` as for mdn_side_set_in_byte. */
static inline void mdn_side_bit_set(const mdn_side_metadata *md, mdn_address a, bool atomic) {
    size_t i = mdn_side_index(md, a);
    mdn_side_set_in_byte(&md->base[i >> 3], (uint8_t)(1u << (i & 7)), atomic);
}
static inline void mdn_side_bit_clear_atomic(const mdn_side_metadata *md, mdn_address a) {
    size_t i = mdn_side_index(md, a);
    __atomic_fetch_and(&md->base[i >> 3], (uint8_t) ~(1u << (i & 7)), __ATOMIC_RELAXED);
}

/* ---- one byte per region ---- */

static inline uint8_t mdn_side_byte_load(const mdn_side_metadata *md, mdn_address a) {
    return __atomic_load_n(&md->base[mdn_side_index(md, a)], __ATOMIC_RELAXED);
}
static inline uint8_t mdn_side_byte_load_acquire(const mdn_side_metadata *md, mdn_address a) {
    return __atomic_load_n(&md->base[mdn_side_index(md, a)], __ATOMIC_ACQUIRE);
}
static inline void mdn_side_byte_store(const mdn_side_metadata *md, mdn_address a, uint8_t v) {
    __atomic_store_n(&md->base[mdn_side_index(md, a)], v, __ATOMIC_RELAXED);
}
static inline void mdn_side_byte_store_release(const mdn_side_metadata *md, mdn_address a, uint8_t v) {
    __atomic_store_n(&md->base[mdn_side_index(md, a)], v, __ATOMIC_RELEASE);
}
/* Compare-and-swap; on failure *expected gets the current value. */
static inline bool mdn_side_byte_cas(const mdn_side_metadata *md, mdn_address a, uint8_t *expected, uint8_t desired) {
    return __atomic_compare_exchange_n(&md->base[mdn_side_index(md, a)], expected, desired, false,
                                       __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE);
}
/* Pointer to the byte of address `a`, for scans over a block's entries. */
static inline uint8_t *mdn_side_byte_ptr(const mdn_side_metadata *md, mdn_address a) {
    return &md->base[mdn_side_index(md, a)];
}

/* Clear the entries of [start, start+bytes). For a 1-bit table the range
 * must cover whole metadata bytes (8 regions). */
void mdn_side_clear_range(const mdn_side_metadata *md, mdn_address start, size_t bytes);
/* Clear the whole table (pages go back to the OS). */
void mdn_side_clear_all(const mdn_side_metadata *md);
/* Lowest address in [from, to) whose bit is set, or `to`. 1-bit tables. */
mdn_address mdn_side_bit_find_next(const mdn_side_metadata *md, mdn_address from, mdn_address to);

#endif
