/*
 * os.h: the operating-system layer: reserving, committing and returning
 * address space. The only place that calls mmap/mprotect/madvise.
 */
#ifndef MDN_CORE_OS_H
#define MDN_CORE_OS_H

#include <midden/types.h>

#include <stdbool.h>
#include <stddef.h>

/* Reserve `bytes` of address space aligned to `align`, inaccessible and not
 * backed. Zero address on failure. */
mdn_address mdn_os_reserve(size_t bytes, size_t align);
/* Reserve readable/writable, lazily backed, zero-filled memory (for side
 * tables): pages are backed on first touch. Zero address on failure. */
mdn_address mdn_os_reserve_zeroed(size_t bytes);
/* Make [start, start+bytes) readable and writable. false on failure. */
bool mdn_os_commit(mdn_address start, size_t bytes);
/* Give the pages back to the OS; they stay accessible and read as zero. */
void mdn_os_decommit(mdn_address start, size_t bytes);
/* Make [start, start+bytes) inaccessible (mdn_os_commit makes it usable again). */
void mdn_os_protect_none(mdn_address start, size_t bytes);
/* Give up a reservation. */
void mdn_os_release(mdn_address start, size_t bytes);

#endif
