/* os.c: mmap-based reservation and commitment (docs/design/overview.md .overview.memory). */
#include "core/os.h"

#include "core/util.h"

#include <sys/mman.h>

mdn_address mdn_os_reserve(size_t bytes, size_t align) {
    size_t len = bytes + align;
    void *p = mmap(NULL, len, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED)
        return mdn_address_zero();
    uintptr_t raw = (uintptr_t)p;
    uintptr_t start = (raw + align - 1) & ~(uintptr_t)(align - 1);
    /* Trim the unaligned head and the tail so only [start, start+bytes) stays. */
    if (start > raw)
        munmap(p, start - raw);
    uintptr_t end = start + bytes;
    if (raw + len > end)
        munmap((void *)end, raw + len - end);
    madvise((void *)start, bytes, MADV_HUGEPAGE);
    return mdn_address_from_word(start);
}

mdn_address mdn_os_reserve_zeroed(size_t bytes) {
    void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED)
        return mdn_address_zero();
    return mdn_address_from_ptr(p);
}

bool mdn_os_commit(mdn_address start, size_t bytes) {
    return mprotect(mdn_address_to_ptr(start), bytes, PROT_READ | PROT_WRITE) == 0;
}

void mdn_os_decommit(mdn_address start, size_t bytes) {
    if (madvise(mdn_address_to_ptr(start), bytes, MADV_DONTNEED) != 0)
        mdn_fatal("madvise(DONTNEED) failed for %zu bytes", bytes);
}

void mdn_os_protect_none(mdn_address start, size_t bytes) {
    if (mprotect(mdn_address_to_ptr(start), bytes, PROT_NONE) != 0)
        mdn_fatal("mprotect(PROT_NONE) failed for %zu bytes", bytes);
}

void mdn_os_release(mdn_address start, size_t bytes) {
    if (bytes)
        munmap(mdn_address_to_ptr(start), bytes);
}
