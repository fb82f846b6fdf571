/*
 * Opening files named by users (inputs, checkpoints, the tuning database, cache entries) without
 * ever blocking: a FIFO or a device in place of a file would make open() or read() wait for ever.
 * Shared by the library and the tools (which compile this file into their helpers, since the
 * shared library does not export it).
 */
#ifndef CLCONVT_FILE_OPEN_H
#define CLCONVT_FILE_OPEN_H

#include <stddef.h>
#include <stdio.h>
#include <sys/stat.h>

/* What a file of this mode is, for messages: "a FIFO", "a directory", "a character device", ... */
const char *clconvt_file_kind(mode_t mode);

/*
 * Open path read-only (close-on-exec) if it is a regular file. It is opened with O_NONBLOCK, so a
 * FIFO without writer or a device opens at once, checked with fstat, and only a regular file is
 * kept (O_NONBLOCK cleared again). Returns the descriptor with *st (if st is not NULL) filled in;
 * or -1 with errno set (ENOENT for a missing file, EINVAL for one that is not regular) and why
 * holding the reason, to follow "PATH: ": "cannot open: No such file or directory" or "is a FIFO,
 * not a regular file".
 */
int clconvt_open_regular(const char *path, struct stat *st, char *why, size_t why_size);

/* clconvt_open_regular as a stdio stream ("rb"); NULL with errno and why set on failure. */
FILE *clconvt_fopen_regular(const char *path, struct stat *st, char *why, size_t why_size);

#endif
