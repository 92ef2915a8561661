/*
 * mdn_check.h: Check (<check.h>) for Midden's test suites, with assertions
 * that cost nothing when they pass.
 *
 * Check's ck_assert_msg(), which every ck_assert_* macro expands to, records
 * each passed assertion as the test's "last point reached" by writing a
 * message to the file the runner reads: one write(2) per passed assertion.
 * The suites check every object of large graphs one by one (a million-node
 * list, every shadowed object after every collection), so that bookkeeping
 * was over two million system calls in the conformance suite alone and
 * dominated its run time under the sanitizers. Here a passed assertion does
 * nothing; a failed one fails the test exactly as before, with its file,
 * line, expression and message. A test that crashes instead of failing an
 * assertion is reported at its last explicit mark_point() (or its start),
 * and the sanitizer builds print the crash's stack.
 *
 * Every test source includes this header instead of <check.h>. The tests of
 * conservative roots do not rely on the calls a passed assertion used to make
 * to overwrite dead stack: they clear it themselves (clear_stack.h).
 */
#ifndef MDN_TEST_MDN_CHECK_H
#define MDN_TEST_MDN_CHECK_H

#include <check.h>

#undef ck_assert_msg
#define ck_assert_msg(expr, ...)                                                                                     \
    ((expr) ? (void)0 : _ck_assert_failed(__FILE__, __LINE__, "Assertion '" #expr "' failed", ##__VA_ARGS__))

#endif
