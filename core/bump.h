/*
 * bump.h: the bump region every bump-allocating policy shares. A region is
 * [cursor, limit) inside a block its thread owns; its layout matches the
 * first two words of mdn_mutator_fast so the default space of a bump plan
 * allocates straight from the inline fast path.
 */
#ifndef MDN_CORE_BUMP_H
#define MDN_CORE_BUMP_H

#include "core/util.h"

#include <midden/midden.h>

#include <stddef.h>
#include <stdint.h>

typedef struct mdn_bump_region {
    uintptr_t cursor;
    uintptr_t limit;
} mdn_bump_region;

_Static_assert(offsetof(mdn_mutator_fast, bump_cursor) == offsetof(mdn_bump_region, cursor), "bump layout");
_Static_assert(offsetof(mdn_mutator_fast, bump_limit) == offsetof(mdn_bump_region, limit), "bump layout");

/* The mutator's inline-path region. */
static inline mdn_bump_region *mdn_mutator_bump(mdn_mutator_fast *f) { return (mdn_bump_region *)(void *)f; }

/* Bump `size` bytes aligned to `align`; NULL if the region is too small.
 * With MDN_VM_INLINE_START_PHASE 8 (<midden/vm.h>), an object of the
 * minimum alignment starts at 8 mod 16 (.cons.bdw-align); the cursor is
 * always 8-aligned, so setting bit 3 is the next such address. */
static inline void *mdn_bump_alloc(mdn_bump_region *r, size_t size, size_t align) {
#if MDN_VM_INLINE_START_PHASE
    uintptr_t start = align <= MDN_MIN_ALIGN ? (r->cursor | MDN_VM_INLINE_START_PHASE)
                                             : (r->cursor + (align - 1)) & ~(uintptr_t)(align - 1);
#else
    uintptr_t start = (r->cursor + (align - 1)) & ~(uintptr_t)(align - 1);
#endif
    uintptr_t end = start + size;
    if (MDN_UNLIKELY(end > r->limit || end < start))
        return NULL;
    r->cursor = end;
    return (void *)start;
}

#endif
