/*
 * clear_stack.h: overwrite the dead stack below the caller, for the tests
 * of conservative roots (docs/design/conservative.md .cons.stacks).
 *
 * A conservative collector scans every word between a stopped thread's
 * saved stack pointer and its stack base, and it cannot tell a live slot
 * from a dead one: alignment padding and slots a frame never writes keep
 * whatever an earlier, deeper call left there. A test that drops its last
 * reference to an object and expects the object reclaimed therefore calls
 * mdn_test_clear_stack() from the frame that then collects, so that the
 * frames of the collection lie over zeroed memory rather than over stale
 * copies of addresses.
 *
 * The compiler must not see through it: a local buffer that is only
 * written is dead, and a noinline function without effects is a call the
 * optimiser deletes (both happened to the earlier copies of this helper in
 * the Release build). The empty asm statement takes the buffer's address
 * and clobbers memory, so the stores and the call stay.
 */
#ifndef MDN_TEST_CLEAR_STACK_H
#define MDN_TEST_CLEAR_STACK_H

#include <string.h>

/* Bytes cleared below the caller's frame: more than the deepest call chain
 * of a collection, finalizers included. */
#define MDN_TEST_CLEARED_STACK 32768

/* Without AddressSanitizer's redzones around the buffer: memset() would
 * leave their bytes, at the very depths where the next calls' frames begin,
 * as they were. */
#if defined(__SANITIZE_ADDRESS__)
#define MDN_TEST_NO_REDZONES __attribute__((no_sanitize_address))
#else
#define MDN_TEST_NO_REDZONES
#endif

static __attribute__((noinline, unused)) MDN_TEST_NO_REDZONES void mdn_test_clear_stack(void) {
    char buf[MDN_TEST_CLEARED_STACK];
    memset(buf, 0, sizeof buf);
    __asm__ volatile("" : : "r"(buf) : "memory");
}

#endif
