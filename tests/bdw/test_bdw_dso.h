/* test_bdw_dso.c: roots held in a shared library's bss. */
#ifndef TEST_BDW_DSO_H
#define TEST_BDW_DSO_H

enum { BDW_DSO_ROOTS = 100 };
void **bdw_dso_roots(void);

#endif
