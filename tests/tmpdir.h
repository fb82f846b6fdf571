/* A private temporary directory per test suite (a Criterion fixture), removed with its contents. */
#ifndef CLCONVT_TEST_TMPDIR_H
#define CLCONVT_TEST_TMPDIR_H

#include <stddef.h>

/* Create $TMPDIR/clconvt-TAG-XXXXXX (or under /tmp) into dir[size]; fails the test if it can't. */
void test_tmpdir_make(char *dir, size_t size, const char *tag);

/* Remove dir with its files and subdirectories (best effort). */
void test_tmpdir_remove(const char *dir);

#endif
