/*
 * The shapes table the tools read (clconvt-bench, clconvt-tune): a CSV file whose header names the
 * columns, in any order: name, batch, in_channels, out_channels, kernel, stride, padding
 * (symmetric), output_padding, dilation, groups, length_in, layout (ncl|nlc), bias (0|1), and
 * optionally dtype (a name clconvt_dtype_from_name takes; f32 when absent or empty). Blank lines
 * and lines starting with '#' are skipped; a UTF-8 byte order mark is ignored; quoted fields, NUL
 * bytes, unknown or repeated columns are refused. Names are 1 to SHAPES_NAME_MAX - 1 characters
 * without quotes, '@' or blanks; two rows may not have the same label.
 *
 * Every message starts "PROGRAM: " and names the file, line, column and value.
 */
#ifndef CLCONVT_TOOLS_SHAPES_H
#define CLCONVT_TOOLS_SHAPES_H

#include <stddef.h>
#include <stdint.h>

#include "clconvt.h"

#define SHAPES_NAME_MAX 96   /* bytes of a row name, NUL included */
#define SHAPES_LABEL_MAX 112 /* the name plus "@bf16" */

/* One row, checked: its parameters give a valid output length and its tensors' element and byte
 * counts (as doubles, too) fit in size_t. */
typedef struct shapes_row {
    char name[SHAPES_NAME_MAX];
    char label[SHAPES_LABEL_MAX]; /* the name, plus "@f16" / "@bf16" when not f32 */
    int line;                     /* its line in the file, for messages */
    clconvt_params params;
    int64_t batch, length_in, length_out;
    size_t n_x, n_w, n_b, n_y; /* element counts of input, weight, bias, output */
} shapes_row;

/*
 * Read and check every row of the file at path (never waiting on a FIFO). dtype_override: -1, or
 * a clconvt_dtype that every row takes whatever its dtype column says. Returns 0 with *rows (the
 * caller frees it) and *count >= 1, or -1 after a message on stderr.
 */
int shapes_read(const char *program, const char *path, int dtype_override, shapes_row **rows,
                size_t *count);

#endif
