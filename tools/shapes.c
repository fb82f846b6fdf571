/* The shapes-table reader of the tools (shapes.h). */
#include "shapes.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#include "file_open.h"
#include "tool_util.h"

#define SHAPES_MAX_FIELDS 64 /* most columns a shapes file may have */
#define SHAPES_MAX_DIM INT64_C(2147483647)

enum column {
    COL_NAME,
    COL_BATCH,
    COL_IN_CHANNELS,
    COL_OUT_CHANNELS,
    COL_KERNEL,
    COL_STRIDE,
    COL_PADDING,
    COL_OUTPUT_PADDING,
    COL_DILATION,
    COL_GROUPS,
    COL_LENGTH_IN,
    COL_LAYOUT,
    COL_BIAS,
    COL_DTYPE, /* optional: f32 when absent */
    COL_COUNT
};

static const char *const column_names[COL_COUNT] = {
    "name",           "batch",    "in_channels", "out_channels", "kernel", "stride", "padding",
    "output_padding", "dilation", "groups",      "length_in",    "layout", "bias",   "dtype",
};

/* Where messages go: the program, the file and the line being read. */
typedef struct reader {
    const char *program, *path;
    int line;
} reader;

#define SAY(r, format, ...)                                                                        \
    fprintf(stderr, "%s: %s:%d: " format "\n", (r)->program, (r)->path, (r)->line, __VA_ARGS__)

/* Strip leading and trailing blanks (spaces, tabs, CR, LF) in place. */
static char *trim(char *s) {
    while (*s == ' ' || *s == '\t' || *s == '\r' || *s == '\n')
        ++s;
    size_t n = strlen(s);
    while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r' || s[n - 1] == '\n'))
        s[--n] = '\0';
    return s;
}

/* Split line at commas in place into at most max trimmed fields; the count, or -1 for too many. */
static int split_fields(char *line, char **fields, int max) {
    int count = 0;
    for (char *start = line;;) {
        char *comma = strchr(start, ',');
        if (comma)
            *comma = '\0';
        if (count == max)
            return -1;
        fields[count++] = trim(start);
        if (!comma)
            return count;
        start = comma + 1;
    }
}

/* a * b into *out unless it overflows size_t; 0 on success. */
static int mul_size(size_t a, size_t b, size_t *out) {
    if (a != 0 && b > SIZE_MAX / a)
        return -1;
    *out = a * b;
    return 0;
}

/* The column map from the header's fields; 0, or -1 after a message. */
static int read_header(const reader *r, char **fields, int n, int map[COL_COUNT]) {
    for (int c = 0; c < COL_COUNT; ++c)
        map[c] = -1;
    for (int i = 0; i < n; ++i) {
        int c = 0;
        while (c < COL_COUNT && strcmp(fields[i], column_names[c]) != 0)
            ++c;
        if (c == COL_COUNT) {
            char known[256] = "";
            for (int k = 0; k < COL_COUNT; ++k)
                snprintf(known + strlen(known), sizeof known - strlen(known), "%s%s", k ? ", " : "",
                         column_names[k]);
            SAY(r, "unknown column '%s' in the header (known: %s)", fields[i], known);
            return -1;
        }
        if (map[c] >= 0) {
            SAY(r, "column '%s' appears twice in the header", fields[i]);
            return -1;
        }
        map[c] = i;
    }
    for (int c = 0; c < COL_COUNT; ++c)
        if (map[c] < 0 && c != COL_DTYPE) {
            SAY(r, "the header has no column '%s'", column_names[c]);
            return -1;
        }
    return 0;
}

/* The text columns of a row (name, layout, bias, dtype) into *row; 0, or -1 after a message. */
static int parse_words(const reader *r, char **fields, const int *map, int dtype_override,
                       shapes_row *row) {
    const char *name = fields[map[COL_NAME]];
    if (*name == '\0' || strlen(name) >= SHAPES_NAME_MAX || strpbrk(name, "\"@ \t") != NULL) {
        SAY(r, "column 'name' wants 1 to %d characters without quotes, '@' or blanks, got '%s'",
            SHAPES_NAME_MAX - 1, name);
        return -1;
    }
    clconvt_params *p = &row->params;
    const char *layout = fields[map[COL_LAYOUT]];
    if (strcmp(layout, "ncl") == 0)
        p->layout = CLCONVT_LAYOUT_NCL;
    else if (strcmp(layout, "nlc") == 0)
        p->layout = CLCONVT_LAYOUT_NLC;
    else {
        SAY(r, "column 'layout' wants ncl or nlc, got '%s'", layout);
        return -1;
    }
    const char *bias = fields[map[COL_BIAS]];
    if (strcmp(bias, "0") != 0 && strcmp(bias, "1") != 0) {
        SAY(r, "column 'bias' wants 0 or 1, got '%s'", bias);
        return -1;
    }
    p->has_bias = bias[0] == '1';
    p->dtype = CLCONVT_F32;
    const char *dtype = map[COL_DTYPE] >= 0 ? fields[map[COL_DTYPE]] : "";
    if (dtype_override >= 0)
        p->dtype = (clconvt_dtype)dtype_override;
    else if (*dtype != '\0' && clconvt_dtype_from_name(dtype, &p->dtype) != CLCONVT_SUCCESS) {
        SAY(r, "column 'dtype': %s", clconvt_last_error());
        return -1;
    }
    snprintf(row->name, sizeof row->name, "%s", name);
    if (p->dtype == CLCONVT_F32)
        snprintf(row->label, sizeof row->label, "%s", name);
    else
        snprintf(row->label, sizeof row->label, "%s@%s", name, clconvt_dtype_name(p->dtype));
    return 0;
}

/* The element counts of a row's tensors, each also within size_t as doubles; 0, or -1. */
static int count_elements(shapes_row *row) {
    const clconvt_params *p = &row->params;
    const size_t out_g = (size_t)(p->out_channels / p->groups);
    size_t t;
    row->n_b = (size_t)p->out_channels;
    return mul_size((size_t)row->batch, (size_t)p->in_channels, &t) != 0 ||
                   mul_size(t, (size_t)row->length_in, &row->n_x) != 0 ||
                   mul_size((size_t)p->in_channels, out_g, &t) != 0 ||
                   mul_size(t, (size_t)p->kernel_length, &row->n_w) != 0 ||
                   mul_size((size_t)row->batch, (size_t)p->out_channels, &t) != 0 ||
                   mul_size(t, (size_t)row->length_out, &row->n_y) != 0 ||
                   mul_size(row->n_y, sizeof(double), &t) != 0 ||
                   mul_size(row->n_x, sizeof(double), &t) != 0 ||
                   mul_size(row->n_w, sizeof(double), &t) != 0
               ? -1
               : 0;
}

/* Fill *row from the fields of one data line; 0, or -1 after a message. */
static int parse_row(const reader *r, char **fields, const int *map, int dtype_override,
                     shapes_row *row) {
    static const int64_t minimum[COL_COUNT] = {
        [COL_BATCH] = 1,  [COL_IN_CHANNELS] = 1, [COL_OUT_CHANNELS] = 1, [COL_KERNEL] = 1,
        [COL_STRIDE] = 1, [COL_DILATION] = 1,    [COL_GROUPS] = 1,       [COL_LENGTH_IN] = 1,
    };
    int64_t v[COL_COUNT] = {0};
    for (int c = COL_BATCH; c <= COL_LENGTH_IN; ++c) {
        const char *text = fields[map[c]];
        if (tool_parse_integer(text, minimum[c], SHAPES_MAX_DIM, &v[c]) != 0) {
            SAY(r, "column '%s' wants an integer in [%" PRId64 ", %" PRId64 "], got '%s'",
                column_names[c], minimum[c], SHAPES_MAX_DIM, text);
            return -1;
        }
    }
    memset(row, 0, sizeof *row);
    row->line = r->line;
    clconvt_params *p = &row->params;
    clconvt_params_init(p, v[COL_IN_CHANNELS], v[COL_OUT_CHANNELS], v[COL_KERNEL]);
    if (parse_words(r, fields, map, dtype_override, row) != 0)
        return -1;
    p->stride = v[COL_STRIDE];
    p->pad_left = p->pad_right = v[COL_PADDING];
    p->output_padding = v[COL_OUTPUT_PADDING];
    p->dilation = v[COL_DILATION];
    p->groups = v[COL_GROUPS];
    row->batch = v[COL_BATCH];
    row->length_in = v[COL_LENGTH_IN];
    if (clconvt_output_length(p, row->length_in, &row->length_out) != CLCONVT_SUCCESS) {
        fprintf(stderr, "%s: %s:%d (%s): %s\n", r->program, r->path, r->line, row->name,
                clconvt_last_error());
        return -1;
    }
    if (count_elements(row) != 0) {
        fprintf(stderr, "%s: %s:%d (%s): its tensors' byte counts overflow size_t\n", r->program,
                r->path, r->line, row->name);
        return -1;
    }
    return 0;
}

/* Append row to *rows (capacity *capacity, *count used); 0, or -1 after a message. */
static int append(const reader *r, const shapes_row *row, shapes_row **rows, size_t *count,
                  size_t *capacity) {
    for (size_t i = 0; i < *count; ++i)
        if (strcmp((*rows)[i].label, row->label) == 0) {
            SAY(r, "row '%s' is already on line %d", row->label, (*rows)[i].line);
            return -1;
        }
    if (*count == *capacity) {
        const size_t larger = *capacity ? 2 * *capacity : 16;
        shapes_row *grown = realloc(*rows, larger * sizeof *grown);
        if (grown == NULL) {
            fprintf(stderr, "%s: out of host memory reading %s\n", r->program, r->path);
            return -1;
        }
        *rows = grown;
        *capacity = larger;
    }
    (*rows)[(*count)++] = *row;
    return 0;
}

/* One line of the file: skipped, the header, or a row. 0, or -1 after a message. */
static int read_line(reader *r, char *line, size_t length, int map[COL_COUNT], int *header_fields,
                     int dtype_override, shapes_row **rows, size_t *count, size_t *capacity) {
    if (strlen(line) != length) {
        SAY(r, "%s", "the line holds a NUL byte");
        return -1;
    }
    if (r->line == 1 && strncmp(line, "\xef\xbb\xbf", 3) == 0)
        line += 3; /* a UTF-8 byte order mark */
    char *text = trim(line);
    if (*text == '\0' || *text == '#')
        return 0; /* blank lines and comments */
    if (strchr(text, '"')) {
        SAY(r, "%s", "quoted fields are not supported");
        return -1;
    }
    char *fields[SHAPES_MAX_FIELDS];
    const int n = split_fields(text, fields, SHAPES_MAX_FIELDS);
    if (n < 0) {
        SAY(r, "more than %d columns", SHAPES_MAX_FIELDS);
        return -1;
    }
    if (*header_fields == 0) {
        *header_fields = n;
        return read_header(r, fields, n, map);
    }
    if (n != *header_fields) {
        SAY(r, "%d columns, the header has %d", n, *header_fields);
        return -1;
    }
    shapes_row row;
    if (parse_row(r, fields, map, dtype_override, &row) != 0)
        return -1;
    return append(r, &row, rows, count, capacity);
}

int shapes_read(const char *program, const char *path, int dtype_override, shapes_row **rows_out,
                size_t *count_out) {
    int rc = -1, header_fields = 0, map[COL_COUNT];
    reader r = {program, path, 0};
    char *line = NULL, why[256];
    size_t line_size = 0, count = 0, capacity = 0;
    shapes_row *rows = NULL;
    FILE *f = clconvt_fopen_regular(path, NULL, why, sizeof why); /* never waits on a FIFO */
    if (f == NULL) {
        fprintf(stderr, "%s: cannot use the shapes file %s: %s\n", program, path, why);
        goto cleanup;
    }
    for (;;) {
        errno = 0;
        const ssize_t got = getline(&line, &line_size, f);
        if (got < 0)
            break;
        ++r.line;
        if (read_line(&r, line, (size_t)got, map, &header_fields, dtype_override, &rows, &count,
                      &capacity) != 0)
            goto cleanup;
    }
    if (ferror(f)) {
        fprintf(stderr, "%s: reading %s failed: %s\n", program, path, strerror(errno));
        goto cleanup;
    }
    if (count == 0) {
        fprintf(stderr, "%s: %s has no shapes (a header line, then one line each)\n", program,
                path);
        goto cleanup;
    }
    *rows_out = rows;
    *count_out = count;
    rows = NULL;
    rc = 0;
cleanup:
    free(rows);
    free(line);
    if (f)
        fclose(f);
    return rc;
}
