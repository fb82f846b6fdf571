/* The tuning database file as clconvt-tune uses it, through the library's experimental section:
 * which classes it has for this device, recording a class, and the table of what it holds. */
#ifndef CLCONVT_TUNE_DATABASE_H
#define CLCONVT_TUNE_DATABASE_H

#include <stddef.h>

#include "clconvt.h"
#include "tune.h"

/* Fail at the start, not after the first class, when path cannot be written: begin the output as
 * the library will write it, then abandon it. 0, or -1 after a message. */
int tune_db_probe(const char *path);

/* Whether the file has this device's entry for a class: 1, 0, or -1 after a message (the file is
 * not a valid database). */
int tune_db_has(const char *path, const clconvt_device *device, const char *shape_class);

/* Record what the search of row's class found (merged with what the file holds now). 0, or -1
 * after a message (the file is then unchanged). */
int tune_db_save(const char *path, const clconvt_device *device, const tune_row *row,
                 const tune_outcome *o);

/* The table on stdout: per row, the recorded default and tuned medians of its class. */
void tune_db_print_table(const char *path, const clconvt_device *device, const tune_row *rows,
                         size_t count);

#endif
