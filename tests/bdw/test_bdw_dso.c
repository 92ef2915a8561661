/* A shared library for the Boehm GC API tests (test_bdw_api.c): its bss is
 * a shared library's, which GC_no_dls takes out of the roots. The array is
 * reached through a function, so no copy of it is made in the program. */
#include "test_bdw_dso.h"

static void *roots[BDW_DSO_ROOTS];

void **bdw_dso_roots(void) { return roots; }
