/*
 * forwarding.h: forwarding state for moving policies (docs/design/overview.md .overview.binding).
 *
 * .fwd.state: two bits per granule in side metadata say whether the object
 * starting there is NOT forwarded, BEING forwarded (a GC worker claimed it
 * and is copying) or FORWARDED. Four objects share a metadata byte, so
 * transitions are compare-and-swap / fetch-xor on the byte.
 * .fwd.pointer: once copied, the new reference overwrites the first word of
 * the old copy; it is published by the release store of FORWARDED, so a
 * reader that sees FORWARDED with acquire order reads the right pointer.
 * .fwd.race: exactly one worker wins the claim; a loser spins until the
 * winner publishes. The binding never sees a half-forwarded object: it is
 * only called on the winner's fresh copy.
 */
#ifndef MDN_CORE_FORWARDING_H
#define MDN_CORE_FORWARDING_H

#include "core/side_metadata.h"

#include <midden/vm.h>

#include <sched.h>

enum { MDN_FWD_NONE = 0, MDN_FWD_BUSY = 1, MDN_FWD_DONE = 2 };

/* One byte covers four granules. */
#define MDN_FWD_LOG_REGION (MDN_LOG_GRANULE + 2)

typedef struct mdn_forwarding {
    mdn_side_metadata bits; /* 2 bits per granule, stored as 1-byte entries of 4 granules */
} mdn_forwarding;

static inline bool mdn_forwarding_init(mdn_forwarding *f, const mdn_vmspace *vs) {
    /* One byte covers four granules: log_region = granule + 2. */
    return mdn_side_metadata_init(&f->bits, vs, MDN_FWD_LOG_REGION, 3, "forwarding");
}
static inline void mdn_forwarding_destroy(mdn_forwarding *f) { mdn_side_metadata_destroy(&f->bits); }

static inline unsigned mdn_forwarding_shift(mdn_address start) {
    return (unsigned)((start.value >> MDN_LOG_GRANULE) & 3u) * 2u;
}

/* The state of the object starting at `start` (acquire order). */
static inline unsigned mdn_forwarding_state(const mdn_forwarding *f, mdn_address start) {
    uint8_t *byte = mdn_side_byte_k(&f->bits, start, MDN_FWD_LOG_REGION, 3); /* .side.const */
    return (__atomic_load_n(byte, __ATOMIC_ACQUIRE) >> mdn_forwarding_shift(start)) & 3u;
}

/* Claim the object for copying: true if this caller must copy it. */
static inline bool mdn_forwarding_try_claim(const mdn_forwarding *f, mdn_address start) {
    uint8_t *byte = mdn_side_byte_k(&f->bits, start, MDN_FWD_LOG_REGION, 3);
    unsigned shift = mdn_forwarding_shift(start);
    uint8_t old = __atomic_load_n(byte, __ATOMIC_RELAXED);
    for (;;) {
        if ((old >> shift) & 3u)
            return false;
        uint8_t desired = (uint8_t)(old | (MDN_FWD_BUSY << shift));
        if (__atomic_compare_exchange_n(byte, &old, desired, true, __ATOMIC_ACQ_REL, __ATOMIC_RELAXED))
            return true;
    }
}

/* Publish the new location; only the claimer calls it. */
static inline void mdn_forwarding_complete(const mdn_forwarding *f, mdn_address start, mdn_objref to) {
    mdn_address_store_word(start, to.value);
    /* BUSY (01) ^ 11 = DONE (10). */
    __atomic_fetch_xor(mdn_side_byte_k(&f->bits, start, MDN_FWD_LOG_REGION, 3), (uint8_t)(3u << mdn_forwarding_shift(start)),
                       __ATOMIC_RELEASE);
}

/* Give up a claim without copying (e.g. no room to copy: the object stays). */
static inline void mdn_forwarding_abandon(const mdn_forwarding *f, mdn_address start) {
    __atomic_fetch_and(mdn_side_byte_k(&f->bits, start, MDN_FWD_LOG_REGION, 3), (uint8_t) ~(3u << mdn_forwarding_shift(start)),
                       __ATOMIC_RELEASE);
}

/* The forwarded reference of an object whose state is DONE. */
static inline mdn_objref mdn_forwarding_pointer(mdn_address start) {
    return mdn_objref_from_address(mdn_address_from_word(mdn_address_load_word(start)));
}

/* Wait for another worker's copy to be published; returns the new reference,
 * or the null reference if the claim was abandoned (object not moved). */
static inline mdn_objref mdn_forwarding_wait(const mdn_forwarding *f, mdn_address start) {
    unsigned spins = 0;
    for (;;) {
        unsigned st = mdn_forwarding_state(f, start);
        if (st == MDN_FWD_DONE)
            return mdn_forwarding_pointer(start);
        if (st == MDN_FWD_NONE)
            return mdn_objref_null();
        if (++spins > 64)
            sched_yield();
    }
}

/* Reset the states of [start, start+bytes) (bytes a multiple of 32). */
static inline void mdn_forwarding_clear(const mdn_forwarding *f, mdn_address start, size_t bytes) {
    mdn_side_clear_range(&f->bits, start, bytes);
}

#endif
