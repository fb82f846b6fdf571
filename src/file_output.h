/*
 * Writing an output file the way a careful user expects: whole or not at all where that is
 * possible, and never damaging what the path names. Shared by the library (the tuning database)
 * and the tools (clconvt-run's .npy output, clconvt-bench's CSV), which compile this file into
 * their helpers since the shared library does not export it.
 *
 * What the path names decides what happens:
 *   - nothing: a new file is written beside it and renamed into place on commit (mode 0666 less
 *     the umask), so a failure leaves no file;
 *   - a regular file: replaced the same way, keeping its permission bits; refused if it is
 *     read-only (no write permission bit, even for root) or the caller may not write it;
 *   - a symbolic link: followed; the file it leads to is treated by these rules, so the link stays
 *     a link and its target is replaced. A dangling link is refused (as cp refuses it);
 *   - a character device (/dev/null, a terminal) or a FIFO: written in place, never created,
 *     truncated or replaced; a FIFO without a reader is refused at once, not waited for. What was
 *     written to them cannot be taken back, so a failure there may leave part of the output;
 *   - a directory, a block device or a socket: refused.
 */
#ifndef CLCONVT_FILE_OUTPUT_H
#define CLCONVT_FILE_OUTPUT_H

#include <stddef.h>
#include <stdio.h>

typedef struct clconvt_output {
    FILE *file;   /* where the contents go, between begin and commit */
    char *target; /* the file written: the path, or the regular file a symbolic link leads to */
    char *temp;   /* the temporary file beside target, renamed over it on commit; NULL in place */
    int error;    /* the errno of the first failed clconvt_output_write, or 0 */
} clconvt_output;

/*
 * Decide how path is written (see above) and open it: 0, or -1 with why holding the reason, to
 * follow "PATH: " ("is read-only (mode 0444); ...", "is a FIFO with no reader; ..."). Nothing is
 * left to release after a failure.
 */
int clconvt_output_begin(clconvt_output *out, const char *path, char *why, size_t why_size);

/* Append size bytes; a failure is remembered and reported by clconvt_output_commit. */
void clconvt_output_write(clconvt_output *out, const void *data, size_t size);

/* Flush (and sync a file), then rename the temporary file over the target. 0, or -1 with why set
 * ("write failed: No space left on device"); either way everything is released. */
int clconvt_output_commit(clconvt_output *out, char *why, size_t why_size);

/* Give up: close, remove the temporary file, release everything. Safe to call twice. */
void clconvt_output_abort(clconvt_output *out);

#endif
