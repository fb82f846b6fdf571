/* A private temporary directory per test (a Criterion fixture), removed with its contents, and
 * the files the tests keep in it. */
#ifndef CLCONVT_TEST_TMPDIR_H
#define CLCONVT_TEST_TMPDIR_H

#include <stddef.h>

/* Create $TMPDIR/clconvt-TAG-XXXXXX (or under /tmp) into dir[size]; fails the test if it can't.
 * test_tmp_path names files in it from then on. */
void test_tmpdir_make(char *dir, size_t size, const char *tag);

/* Remove dir with its files and subdirectories, read-only ones too, without following links
 * (best effort; a file is removed the same way). */
void test_tmpdir_remove(const char *dir);

/* The path of name in the directory test_tmpdir_make made. Each name gets its own buffer for the
 * whole test, so paths stay valid however many are in use (argument arrays hold them). */
const char *test_tmp_path(const char *name);

/* The whole file (malloc'd, NUL-terminated); fails the test when it cannot be read. */
char *test_read_text(const char *path);

/* Replace path's contents with text; fails the test when it cannot be written. */
void test_write_text(const char *path, const char *text);

/* Send this process's stderr to a file in the directory until test_capture_stderr_end, which
 * restores it and returns what was written (a static buffer, up to 8 KiB). */
void test_capture_stderr_begin(void);
const char *test_capture_stderr_end(void);

#endif
