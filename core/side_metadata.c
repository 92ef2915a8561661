/* side_metadata.c: table reservation, bulk clearing and bit scanning. */
#include "core/side_metadata.h"

#include "core/os.h"

#include <string.h>

bool mdn_side_metadata_init(mdn_side_metadata *md, const mdn_vmspace *vs, unsigned log_region, unsigned log_bits,
                            const char *name) {
    MDN_CHECK(log_bits == 0 || log_bits == 3);
    memset(md, 0, sizeof *md);
    size_t entries = (vs->end - vs->start) >> log_region;
    size_t bytes = log_bits == 0 ? (entries + 7) / 8 : entries;
    bytes = mdn_align_up(bytes ? bytes : 1, MDN_PAGE_SIZE);
    mdn_address base = mdn_os_reserve_zeroed(bytes);
    if (mdn_address_is_zero(base))
        return false;
    md->heap_start = vs->start;
    md->heap_end = vs->end;
    md->base = mdn_address_to_ptr(base);
    md->bytes = bytes;
    md->log_region = log_region;
    md->log_bits = log_bits;
    /* .side.const: the reservation is chunk aligned, so heap_start's entry
     * begins a 64-bit word of the table. */
    MDN_CHECK((vs->start & (((uintptr_t)64 << log_region) - 1)) == 0);
    md->biased = (uintptr_t)md->base - (vs->start >> (log_region + 3 - log_bits));
    md->name = name;
    return true;
}

void mdn_side_metadata_destroy(mdn_side_metadata *md) {
    if (md->base)
        mdn_os_release(mdn_address_from_ptr(md->base), md->bytes);
    memset(md, 0, sizeof *md);
}

static void byte_range(const mdn_side_metadata *md, mdn_address start, size_t bytes, size_t *first, size_t *count) {
    size_t i0 = mdn_side_index(md, start);
    size_t n = bytes >> md->log_region;
    if (md->log_bits == 0) {
        MDN_CHECK((i0 & 7) == 0 && (n & 7) == 0);
        i0 >>= 3;
        n >>= 3;
    }
    *first = i0;
    *count = n;
}

void mdn_side_clear_range(const mdn_side_metadata *md, mdn_address start, size_t bytes) {
    size_t first, count;
    byte_range(md, start, bytes, &first, &count);
    if (count >= 16 * MDN_PAGE_SIZE) {
        /* Whole pages go back to the OS and read as zero again (.side.bulk). */
        uintptr_t lo = mdn_align_up((uintptr_t)(md->base + first), MDN_PAGE_SIZE);
        uintptr_t hi = mdn_align_down_word((uintptr_t)(md->base + first + count), MDN_PAGE_SIZE);
        memset(md->base + first, 0, lo - (uintptr_t)(md->base + first));
        mdn_os_decommit(mdn_address_from_word(lo), hi - lo);
        memset((void *)hi, 0, (uintptr_t)(md->base + first + count) - hi);
        return;
    }
    memset(md->base + first, 0, count);
}

void mdn_side_clear_all(const mdn_side_metadata *md) { mdn_os_decommit(mdn_address_from_ptr(md->base), md->bytes); }

mdn_address mdn_side_bit_find_next(const mdn_side_metadata *md, mdn_address from, mdn_address to) {
    MDN_CHECK(md->log_bits == 0);
    if (!mdn_address_lt(from, to))
        return to;
    size_t i = mdn_side_index(md, from);
    size_t end = ((to.value - md->heap_start) + ((size_t)1 << md->log_region) - 1) >> md->log_region;
    while (i < end) {
        if ((i & 63) == 0 && i + 64 <= end) {
            uint64_t w;
            memcpy(&w, md->base + (i >> 3), sizeof w);
            if (w == 0) {
                i += 64;
                continue;
            }
            i += (size_t)__builtin_ctzll(w);
            break;
        }
        if ((__atomic_load_n(&md->base[i >> 3], __ATOMIC_RELAXED) >> (i & 7)) & 1u)
            break;
        i++;
    }
    if (i >= end)
        return to;
    return mdn_address_from_word(md->heap_start + (i << md->log_region));
}
