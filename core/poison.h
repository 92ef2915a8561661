/*
 * poison.h: filling reclaimed memory with a recognisable pattern (option
 * `poison`, forced on in debug builds), so that a stale pointer into freed
 * or evacuated memory reads 0xdbdbdbdb... and fails fast: as a header it
 * gives an absurd size, as a reference it points outside the heap.
 *
 * .poison.dirty: poisoned memory is dirty; allocators that hand it out
 * again must zero it (mdn_alloc returns zeroed memory), which they do for
 * blocks whose DIRTY flag is set. mdn_block_pool_release() poisons the
 * blocks it takes back and marks them dirty when the heap poisons.
 */
#ifndef MDN_CORE_POISON_H
#define MDN_CORE_POISON_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define MDN_POISON_BYTE 0xdbu
#define MDN_POISON_WORD ((uintptr_t)0xdbdbdbdbdbdbdbdbULL)

/* Fill [addr, addr+bytes) with MDN_POISON_BYTE. */
static inline void mdn_poison_range(void *addr, size_t bytes) { memset(addr, (int)MDN_POISON_BYTE, bytes); }

/* Does the word at `addr` hold the poison pattern? */
static inline int mdn_is_poisoned_word(const void *addr) { return *(const uintptr_t *)addr == MDN_POISON_WORD; }

#endif
