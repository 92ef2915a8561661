/*
 * layout.h: the heap's geometry, fixed at compile time (docs/design/overview.md .overview.memory).
 * Every size is a power of two so address arithmetic is shifts and masks.
 */
#ifndef MDN_CORE_LAYOUT_H
#define MDN_CORE_LAYOUT_H

#include <stddef.h>

#define MDN_LOG_PAGE 12
#define MDN_PAGE_SIZE ((size_t)1 << MDN_LOG_PAGE)

#define MDN_LOG_CHUNK 22 /* 4 MiB: the unit spaces take from the reservation */
#define MDN_CHUNK_SIZE ((size_t)1 << MDN_LOG_CHUNK)

#define MDN_LOG_BLOCK 15 /* 32 KiB: the unit thread-local allocators own */
#define MDN_BLOCK_SIZE ((size_t)1 << MDN_LOG_BLOCK)

#define MDN_LOG_LINE 8 /* 256 B: Immix's line (docs/design/immix.md .immix.line-size) */
#define MDN_LINE_SIZE ((size_t)1 << MDN_LOG_LINE)

#define MDN_LOG_GRANULE 3 /* 8 B: object alignment and the unit of side metadata */
#define MDN_GRANULE_SIZE ((size_t)1 << MDN_LOG_GRANULE)

#define MDN_BLOCKS_PER_CHUNK (MDN_CHUNK_SIZE / MDN_BLOCK_SIZE)
#define MDN_LINES_PER_BLOCK (MDN_BLOCK_SIZE / MDN_LINE_SIZE)

/* Objects above this size go to the large-object space in every plan. */
#define MDN_LARGE_OBJECT_THRESHOLD ((size_t)8192)

#endif
