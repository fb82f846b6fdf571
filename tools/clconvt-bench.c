/*
 * clconvt-bench: times every row of a shapes table (bench/shapes.csv) on one OpenCL device and
 * checks each row's output against the float64 reference.
 *
 * Per row: the time of the very first forward of that shape in the process (layer creation,
 * weight and bias staging and program preparation included), the median and minimum of timed
 * forwards on device buffers (clconvt_layer_forward + clFinish, after two warm-up runs), GFLOP/s,
 * the SPEC's normalised error, the most device memory clconvt held, and the kernel plan.
 *
 * Exit status: 0 when every row ran and is within the SPEC's error bound for its dtype; 1 when a
 * row failed, exceeded its bound, or the shapes file or the device could not be used; 2 for a
 * usage error.
 */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include "clconvt.h"
#include "file_open.h"
#include "file_output.h"
#include "reference.h"
#include "tool_util.h"

#define BENCH_NAME_MAX 96   /* longest row name accepted, in bytes */
#define BENCH_LABEL_MAX 112 /* the name plus "@bf16" */
#define BENCH_MAX_FIELDS 64 /* most columns a shapes file may have */
#define BENCH_MAX_DIM 2147483647LL
#define BENCH_MAX_REPEAT 100000
#define BENCH_WARMUP 2
#define BENCH_SEED UINT64_C(0xbe9c4c0417d3a5e1)

static const char *const program = "clconvt-bench";

/* ---- Shapes file ---------------------------------------------------------------------------- */

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

/* One row of the shapes file, checked. */
typedef struct bench_row {
    char label[BENCH_LABEL_MAX]; /* the name, plus "@f16" / "@bf16" when not f32 */
    long line;                   /* its line in the file, for messages */
    clconvt_params params;
    int64_t batch, length_in, length_out;
    size_t n_x, n_w, n_b, n_y; /* element counts of input, weight, bias, output */
} bench_row;

/* What one row measured. */
typedef struct bench_result {
    int ran; /* 1 when every step succeeded (the error may still exceed the bound) */
    char plan[64];
    double first_ms, median_ms, min_ms, gflops, error;
    uint64_t peak_bytes;
} bench_result;

typedef struct bench_options {
    const char *shapes, *selector, *csv, *filter;
    int64_t repeat;
    int dtype_override; /* -1: the file's dtype column (or f32) */
} bench_options;

static int parse_dtype(const char *text, clconvt_dtype *out) {
    if (strcmp(text, "f32") == 0)
        *out = CLCONVT_F32;
    else if (strcmp(text, "f16") == 0)
        *out = CLCONVT_F16;
    else if (strcmp(text, "bf16") == 0)
        *out = CLCONVT_BF16;
    else
        return -1;
    return 0;
}

/* A decimal integer, digits only with an optional leading '-', in [min, max]; 0 on success. */
static int parse_integer(const char *text, int64_t min, int64_t max, int64_t *out) {
    const char *p = text;
    int negative = 0;
    if (*p == '-') {
        negative = 1;
        ++p;
    }
    if (*p == '\0')
        return -1;
    int64_t value = 0;
    for (; *p != '\0'; ++p) {
        if (*p < '0' || *p > '9')
            return -1;
        if (value > (INT64_MAX - (*p - '0')) / 10)
            return -1;
        value = value * 10 + (*p - '0');
    }
    if (negative)
        value = -value;
    if (value < min || value > max)
        return -1;
    *out = value;
    return 0;
}

/* a * b into *out unless it overflows size_t; 0 on success. */
static int mul_size(size_t a, size_t b, size_t *out) {
    if (a != 0 && b > SIZE_MAX / a)
        return -1;
    *out = a * b;
    return 0;
}

/* Strip leading and trailing blanks (spaces, tabs, CR) in place. */
static char *trim(char *s) {
    while (*s == ' ' || *s == '\t' || *s == '\r')
        ++s;
    size_t n = strlen(s);
    while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r' || s[n - 1] == '\n'))
        s[--n] = '\0';
    return s;
}

/* Split line at commas in place into at most max trimmed fields; the count, or -1 for too many. */
static int split_fields(char *line, char **fields, int max) {
    int count = 0;
    char *start = line;
    for (;;) {
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

/* Fill *row from the fields of one data line; map[c] is the field index of column c or -1. On
 * failure prints "FILE:LINE: ..." and returns -1. */
static int parse_row(const char *path, long line, char **fields, const int *map, int dtype_override,
                     bench_row *row) {
    static const int64_t minimum[COL_COUNT] = {
        [COL_BATCH] = 1,  [COL_IN_CHANNELS] = 1, [COL_OUT_CHANNELS] = 1, [COL_KERNEL] = 1,
        [COL_STRIDE] = 1, [COL_DILATION] = 1,    [COL_GROUPS] = 1,       [COL_LENGTH_IN] = 1,
    };
    int64_t v[COL_COUNT] = {0};
    for (int c = COL_BATCH; c <= COL_LENGTH_IN; ++c) {
        const char *text = fields[map[c]];
        if (parse_integer(text, minimum[c], BENCH_MAX_DIM, &v[c]) != 0) {
            fprintf(stderr,
                    "%s: %s:%ld: column '%s' wants an integer in [%" PRId64 ", %lld], got '%s'\n",
                    program, path, line, column_names[c], minimum[c], BENCH_MAX_DIM, text);
            return -1;
        }
    }

    const char *name = fields[map[COL_NAME]];
    if (*name == '\0' || strlen(name) >= BENCH_NAME_MAX || strpbrk(name, "\"@ \t") != NULL) {
        fprintf(stderr,
                "%s: %s:%ld: column 'name' wants 1 to %d characters without quotes, '@' or "
                "blanks, got '%s'\n",
                program, path, line, BENCH_NAME_MAX - 1, name);
        return -1;
    }

    clconvt_layout layout;
    const char *layout_text = fields[map[COL_LAYOUT]];
    if (strcmp(layout_text, "ncl") == 0)
        layout = CLCONVT_LAYOUT_NCL;
    else if (strcmp(layout_text, "nlc") == 0)
        layout = CLCONVT_LAYOUT_NLC;
    else {
        fprintf(stderr, "%s: %s:%ld: column 'layout' wants ncl or nlc, got '%s'\n", program, path,
                line, layout_text);
        return -1;
    }

    const char *bias_text = fields[map[COL_BIAS]];
    if (strcmp(bias_text, "0") != 0 && strcmp(bias_text, "1") != 0) {
        fprintf(stderr, "%s: %s:%ld: column 'bias' wants 0 or 1, got '%s'\n", program, path, line,
                bias_text);
        return -1;
    }

    clconvt_dtype dtype = CLCONVT_F32;
    if (dtype_override >= 0)
        dtype = (clconvt_dtype)dtype_override;
    else if (map[COL_DTYPE] >= 0 && parse_dtype(fields[map[COL_DTYPE]], &dtype) != 0) {
        fprintf(stderr, "%s: %s:%ld: column 'dtype' wants f32, f16 or bf16, got '%s'\n", program,
                path, line, fields[map[COL_DTYPE]]);
        return -1;
    }

    memset(row, 0, sizeof *row);
    row->line = line;
    if (dtype == CLCONVT_F32)
        snprintf(row->label, sizeof row->label, "%s", name);
    else
        snprintf(row->label, sizeof row->label, "%s@%s", name, clconvt_dtype_name(dtype));
    clconvt_params *p = &row->params;
    clconvt_params_init(p, v[COL_IN_CHANNELS], v[COL_OUT_CHANNELS], v[COL_KERNEL]);
    p->stride = v[COL_STRIDE];
    p->pad_left = p->pad_right = v[COL_PADDING];
    p->output_padding = v[COL_OUTPUT_PADDING];
    p->dilation = v[COL_DILATION];
    p->groups = v[COL_GROUPS];
    p->has_bias = bias_text[0] == '1';
    p->layout = layout;
    p->dtype = dtype;
    row->batch = v[COL_BATCH];
    row->length_in = v[COL_LENGTH_IN];

    const clconvt_status st = clconvt_output_length(p, row->length_in, &row->length_out);
    if (st != CLCONVT_SUCCESS) {
        fprintf(stderr, "%s: %s:%ld: row '%s': %s\n", program, path, line, name,
                clconvt_last_error());
        return -1;
    }
    /* Every factor is at most 2^31 - 1 (L_out may be larger), so check each product. */
    const size_t out_g = (size_t)(p->out_channels / p->groups);
    size_t t;
    if (mul_size((size_t)row->batch, (size_t)p->in_channels, &t) != 0 ||
        mul_size(t, (size_t)row->length_in, &row->n_x) != 0 ||
        mul_size((size_t)p->in_channels, out_g, &t) != 0 ||
        mul_size(t, (size_t)p->kernel_length, &row->n_w) != 0 ||
        mul_size((size_t)row->batch, (size_t)p->out_channels, &t) != 0 ||
        mul_size(t, (size_t)row->length_out, &row->n_y) != 0 ||
        mul_size(row->n_y, sizeof(double), &t) != 0 ||
        mul_size(row->n_x, sizeof(double), &t) != 0 ||
        mul_size(row->n_w, sizeof(double), &t) != 0) {
        fprintf(stderr, "%s: %s:%ld: row '%s': its tensors' byte counts overflow size_t\n", program,
                path, line, name);
        return -1;
    }
    row->n_b = (size_t)p->out_channels;
    return 0;
}

/* Read and check every row of the shapes file, keeping those whose label contains filter. */
static int load_rows(const bench_options *opt, bench_row **rows_out, size_t *count_out) {
    int rc = -1;
    FILE *f = NULL;
    char *line = NULL;
    size_t line_size = 0;
    bench_row *rows = NULL;
    size_t count = 0, capacity = 0;
    int map[COL_COUNT];
    int have_header = 0, header_fields = 0;
    long line_no = 0;

    for (int c = 0; c < COL_COUNT; ++c)
        map[c] = -1;
    char why[256];
    if (!(f = clconvt_fopen_regular(opt->shapes, NULL, why, sizeof why))) { /* never a FIFO */
        fprintf(stderr, "%s: shapes file '%s': %s\n", program, opt->shapes, why);
        goto cleanup;
    }
    for (;;) {
        errno = 0;
        const ssize_t got = getline(&line, &line_size, f);
        if (got < 0) {
            if (ferror(f)) {
                fprintf(stderr, "%s: reading '%s': %s\n", program, opt->shapes, strerror(errno));
                goto cleanup;
            }
            break;
        }
        ++line_no;
        if (strlen(line) != (size_t)got) {
            fprintf(stderr, "%s: %s:%ld: the line holds a NUL byte\n", program, opt->shapes,
                    line_no);
            goto cleanup;
        }
        char *text = line;
        if (line_no == 1 && strncmp(text, "\xef\xbb\xbf", 3) == 0)
            text += 3; /* a UTF-8 byte order mark */
        text = trim(text);
        if (*text == '\0' || *text == '#')
            continue; /* blank lines and comments */
        if (strchr(text, '"')) {
            fprintf(stderr, "%s: %s:%ld: quoted fields are not supported\n", program, opt->shapes,
                    line_no);
            goto cleanup;
        }
        char *fields[BENCH_MAX_FIELDS];
        const int n = split_fields(text, fields, BENCH_MAX_FIELDS);
        if (n < 0) {
            fprintf(stderr, "%s: %s:%ld: more than %d columns\n", program, opt->shapes, line_no,
                    BENCH_MAX_FIELDS);
            goto cleanup;
        }

        if (!have_header) {
            for (int i = 0; i < n; ++i) {
                int c = 0;
                while (c < COL_COUNT && strcmp(fields[i], column_names[c]) != 0)
                    ++c;
                if (c == COL_COUNT) {
                    fprintf(stderr,
                            "%s: %s:%ld: unknown column '%s' in the header (known: name, batch, "
                            "in_channels, out_channels, kernel, stride, padding, output_padding, "
                            "dilation, groups, length_in, layout, bias, dtype)\n",
                            program, opt->shapes, line_no, fields[i]);
                    goto cleanup;
                }
                if (map[c] >= 0) {
                    fprintf(stderr, "%s: %s:%ld: column '%s' appears twice in the header\n",
                            program, opt->shapes, line_no, fields[i]);
                    goto cleanup;
                }
                map[c] = i;
            }
            for (int c = 0; c < COL_COUNT; ++c) {
                if (map[c] < 0 && c != COL_DTYPE) {
                    fprintf(stderr, "%s: %s:%ld: the header has no column '%s'\n", program,
                            opt->shapes, line_no, column_names[c]);
                    goto cleanup;
                }
            }
            header_fields = n;
            have_header = 1;
            continue;
        }

        if (n != header_fields) {
            fprintf(stderr, "%s: %s:%ld: %d fields, but the header has %d columns\n", program,
                    opt->shapes, line_no, n, header_fields);
            goto cleanup;
        }
        bench_row row;
        if (parse_row(opt->shapes, line_no, fields, map, opt->dtype_override, &row) != 0)
            goto cleanup;
        for (size_t i = 0; i < count; ++i) {
            if (strcmp(rows[i].label, row.label) == 0) {
                fprintf(stderr, "%s: %s:%ld: row '%s' is already on line %ld\n", program,
                        opt->shapes, line_no, row.label, rows[i].line);
                goto cleanup;
            }
        }
        /* Rows are all checked (and duplicates found) before the filter drops any. */
        if (count == capacity) {
            const size_t new_capacity = capacity ? 2 * capacity : 16;
            bench_row *grown = realloc(rows, new_capacity * sizeof *rows);
            if (!grown) {
                fprintf(stderr, "%s: out of host memory reading '%s'\n", program, opt->shapes);
                goto cleanup;
            }
            rows = grown;
            capacity = new_capacity;
        }
        rows[count++] = row;
    }
    if (!have_header) {
        fprintf(stderr, "%s: '%s' has no header line\n", program, opt->shapes);
        goto cleanup;
    }

    if (opt->filter) {
        size_t kept = 0;
        for (size_t i = 0; i < count; ++i)
            if (strstr(rows[i].label, opt->filter))
                rows[kept++] = rows[i];
        if (kept == 0 && count > 0) {
            fprintf(stderr, "%s: no row of '%s' has a name containing '%s'\n", program, opt->shapes,
                    opt->filter);
            goto cleanup;
        }
        count = kept;
    }
    if (count == 0) {
        fprintf(stderr, "%s: '%s' has no rows\n", program, opt->shapes);
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

/* ---- Running a row -------------------------------------------------------------------------- */

/* A row's seed depends on its name only, so --filter and row order do not change its data. */
static uint64_t row_seed(const char *label) {
    char name[BENCH_LABEL_MAX];
    snprintf(name, sizeof name, "%.*s", (int)strcspn(label, "@"), label);
    return BENCH_SEED ^ reference_hash(name);
}

static void report_status(const bench_row *row, const char *what, clconvt_status st) {
    fprintf(stderr, "%s: row '%s' (line %ld): %s failed (%s): %s\n", program, row->label, row->line,
            what, clconvt_status_string(st), clconvt_last_error());
}

static void report_cl(const bench_row *row, const char *what, cl_int err) {
    fprintf(stderr, "%s: row '%s' (line %ld): %s failed with OpenCL error %d\n", program,
            row->label, row->line, what, (int)err);
}

/* Run one row: first call, reference check, timed forwards on device buffers. 0 on success (the
 * error may still exceed the bound: the caller judges), -1 after printing what failed. */
static int run_row(clconvt_device *device, const bench_row *row, int64_t repeat,
                   bench_result *res) {
    int rc = -1;
    const clconvt_params *p = &row->params;
    const clconvt_dtype dtype = p->dtype;
    const size_t esize = clconvt_dtype_size(dtype);
    clconvt_layer *layer = NULL;
    cl_mem in_buffer = NULL, out_buffer = NULL;
    float *xf = NULL, *wf = NULL, *bf = NULL;
    double *xd = NULL, *wd = NULL, *bd = NULL, *yd = NULL, *ref = NULL, *times = NULL;
    void *xs = NULL, *ws = NULL, *bs = NULL, *ys = NULL;
    clconvt_status st;
    cl_int err;

    memset(res, 0, sizeof *res);
    xf = malloc(row->n_x * sizeof *xf);
    wf = malloc(row->n_w * sizeof *wf);
    bf = malloc(row->n_b * sizeof *bf);
    xd = malloc(row->n_x * sizeof *xd);
    wd = malloc(row->n_w * sizeof *wd);
    bd = malloc(row->n_b * sizeof *bd);
    yd = malloc(row->n_y * sizeof *yd);
    ref = malloc(row->n_y * sizeof *ref);
    xs = malloc(row->n_x * esize);
    ws = malloc(row->n_w * esize);
    bs = malloc(row->n_b * esize);
    ys = malloc(row->n_y * esize);
    times = malloc((size_t)repeat * sizeof *times);
    if (!xf || !wf || !bf || !xd || !wd || !bd || !yd || !ref || !xs || !ws || !bs || !ys ||
        !times) {
        fprintf(stderr, "%s: row '%s' (line %ld): out of host memory\n", program, row->label,
                row->line);
        goto cleanup;
    }

    /* PyTorch's default bound for this weight is 1/sqrt(fan_in), fan_in = Cout_g * K. */
    uint64_t state = row_seed(row->label);
    const double w_scale = 1.0 / sqrt((double)(p->out_channels / p->groups * p->kernel_length));
    /* Values dtype stores exactly, so the reference sees exactly the library's inputs. */
    if ((st = reference_random_fill(&state, 1.0, dtype, xf, xd, row->n_x)) != CLCONVT_SUCCESS ||
        (st = reference_random_fill(&state, w_scale, dtype, wf, wd, row->n_w)) != CLCONVT_SUCCESS ||
        (st = reference_random_fill(&state, w_scale, dtype, bf, bd, row->n_b)) != CLCONVT_SUCCESS ||
        (st = clconvt_convert(xf, CLCONVT_F32, xs, dtype, row->n_x)) != CLCONVT_SUCCESS ||
        (st = clconvt_convert(wf, CLCONVT_F32, ws, dtype, row->n_w)) != CLCONVT_SUCCESS ||
        (st = clconvt_convert(bf, CLCONVT_F32, bs, dtype, row->n_b)) != CLCONVT_SUCCESS) {
        report_status(row, "clconvt_convert", st);
        goto cleanup;
    }

    /* The very first forward of this shape in the process: everything a caller waits for. */
    clconvt_device_reset_peak(device);
    const double t_first = tool_now_seconds();
    if ((st = clconvt_layer_create(device, p, &layer)) != CLCONVT_SUCCESS) {
        report_status(row, "clconvt_layer_create", st);
        goto cleanup;
    }
    if ((st = clconvt_layer_set_weight(layer, ws, CLCONVT_WEIGHT_PYTORCH, dtype)) !=
        CLCONVT_SUCCESS) {
        report_status(row, "clconvt_layer_set_weight", st);
        goto cleanup;
    }
    if (p->has_bias && (st = clconvt_layer_set_bias(layer, bs, dtype)) != CLCONVT_SUCCESS) {
        report_status(row, "clconvt_layer_set_bias", st);
        goto cleanup;
    }
    if ((st = clconvt_layer_forward_host(layer, xs, ys, row->batch, row->length_in)) !=
        CLCONVT_SUCCESS) {
        report_status(row, "clconvt_layer_forward_host", st);
        goto cleanup;
    }
    res->first_ms = (tool_now_seconds() - t_first) * 1e3;
    clconvt_device_info info;
    if ((st = clconvt_device_get_info(device, &info)) != CLCONVT_SUCCESS) {
        report_status(row, "clconvt_device_get_info", st);
        goto cleanup;
    }
    res->peak_bytes = info.peak_allocated_bytes;
    snprintf(res->plan, sizeof res->plan, "%s", clconvt_layer_plan_name(layer));

    if (reference_forward(p, xd, wd, p->has_bias ? bd : NULL, row->batch, row->length_in, ref) !=
        0) {
        fprintf(stderr, "%s: row '%s' (line %ld): the reference refused the parameters\n", program,
                row->label, row->line);
        goto cleanup;
    }
    if ((st = reference_from_storage(ys, dtype, yd, row->n_y)) != CLCONVT_SUCCESS) {
        report_status(row, "clconvt_convert", st);
        goto cleanup;
    }
    const double host_error = reference_normalised_error(yd, ref, row->n_y);

    /* Timed runs on our own device buffers; the output starts as all-ones bits (NaN in every
     * dtype), so a position the kernels never write shows in the error. */
    const cl_context context = clconvt_device_context(device);
    const cl_command_queue queue = clconvt_device_queue(device);
    in_buffer = clCreateBuffer(context, CL_MEM_READ_ONLY | CL_MEM_COPY_HOST_PTR, row->n_x * esize,
                               xs, &err);
    if (!in_buffer) {
        report_cl(row, "clCreateBuffer(input)", err);
        goto cleanup;
    }
    out_buffer = clCreateBuffer(context, CL_MEM_READ_WRITE, row->n_y * esize, NULL, &err);
    if (!out_buffer) {
        report_cl(row, "clCreateBuffer(output)", err);
        goto cleanup;
    }
    const unsigned char nan_bits = 0xff;
    if ((err = clEnqueueFillBuffer(queue, out_buffer, &nan_bits, 1, 0, row->n_y * esize, 0, NULL,
                                   NULL)) != CL_SUCCESS ||
        (err = clFinish(queue)) != CL_SUCCESS) {
        report_cl(row, "clEnqueueFillBuffer(output)", err);
        goto cleanup;
    }
    for (int64_t r = -BENCH_WARMUP; r < repeat; ++r) {
        const double t0 = tool_now_seconds();
        st = clconvt_layer_forward(layer, NULL, in_buffer, out_buffer, row->batch, row->length_in,
                                   0, NULL, NULL);
        if (st != CLCONVT_SUCCESS) {
            report_status(row, "clconvt_layer_forward", st);
            goto cleanup;
        }
        if ((err = clFinish(queue)) != CL_SUCCESS) {
            report_cl(row, "clFinish", err);
            goto cleanup;
        }
        if (r >= 0)
            times[r] = tool_now_seconds() - t0;
    }
    if ((err = clEnqueueReadBuffer(queue, out_buffer, CL_TRUE, 0, row->n_y * esize, ys, 0, NULL,
                                   NULL)) != CL_SUCCESS) {
        report_cl(row, "clEnqueueReadBuffer(output)", err);
        goto cleanup;
    }
    if ((st = reference_from_storage(ys, dtype, yd, row->n_y)) != CLCONVT_SUCCESS) {
        report_status(row, "clconvt_convert", st);
        goto cleanup;
    }
    const double timed_error = reference_normalised_error(yd, ref, row->n_y);

    const double median = tool_median(times, (size_t)repeat); /* sorts: times[0] is the min */
    const double flops = 2.0 * (double)row->batch * (double)row->length_in *
                         (double)p->in_channels * (double)(p->out_channels / p->groups) *
                         (double)p->kernel_length;
    res->median_ms = median * 1e3;
    res->min_ms = times[0] * 1e3;
    res->gflops = median > 0.0 ? flops / median * 1e-9 : 0.0;
    res->error = timed_error > host_error ? timed_error : host_error;
    if (isnan(timed_error) || isnan(host_error))
        res->error = INFINITY;
    res->ran = 1;
    rc = 0;
cleanup:
    if (in_buffer)
        clReleaseMemObject(in_buffer);
    if (out_buffer)
        clReleaseMemObject(out_buffer);
    clconvt_layer_release(layer);
    free(xf);
    free(wf);
    free(bf);
    free(xd);
    free(wd);
    free(bd);
    free(yd);
    free(ref);
    free(xs);
    free(ws);
    free(bs);
    free(ys);
    free(times);
    return rc;
}

/* ---- Output --------------------------------------------------------------------------------- */

/* The CSV is written as src/file_output.h says (atomically for a file, in place for a device or
 * FIFO), begun before any row runs so that an unwritable path fails at once. */
#define CSV_HEADER                                                                                 \
    "name,plan,median_ms,min_ms,gflops,normalised_error,peak_device_bytes,first_call_ms\n"

typedef struct csv_output {
    const char *path;
    clconvt_output out;
} csv_output;

static int csv_begin(csv_output *csv, const char *path) {
    char why[512];
    csv->path = path;
    if (clconvt_output_begin(&csv->out, path, why, sizeof why) != 0) {
        fprintf(stderr, "%s: --csv '%s': %s\n", program, path, why);
        return -1;
    }
    return 0;
}

/* Drop the output (after a failure, or when nothing is to be written). */
static void csv_abort(csv_output *csv) {
    clconvt_output_abort(&csv->out);
}

/* Write the rows that ran and commit the file; the temporary is gone either way. */
static int csv_commit(csv_output *csv, const bench_row *rows, const bench_result *results,
                      size_t count) {
    char line[1024], why[512];
    clconvt_output_write(&csv->out, CSV_HEADER, strlen(CSV_HEADER));
    for (size_t i = 0; i < count; ++i) {
        const bench_result *r = &results[i];
        if (!r->ran)
            continue;
        snprintf(line, sizeof line, "%s,%s,%.4f,%.4f,%.3f,%.3e,%" PRIu64 ",%.3f\n", rows[i].label,
                 r->plan, r->median_ms, r->min_ms, r->gflops, r->error, r->peak_bytes, r->first_ms);
        clconvt_output_write(&csv->out, line, strlen(line));
    }
    if (clconvt_output_commit(&csv->out, why, sizeof why) != 0) {
        fprintf(stderr, "%s: --csv '%s': %s\n", program, csv->path, why);
        return -1;
    }
    return 0;
}

static void usage(FILE *to) {
    fprintf(
        to,
        "usage: clconvt-bench --shapes FILE.csv [--device SEL] [--repeat N] [--csv OUT.csv]\n"
        "                     [--dtype f32|f16|bf16] [--filter SUBSTRING] [--help]\n"
        "\n"
        "Times ConvTranspose1d for every row of a shapes table on one OpenCL device and checks\n"
        "each row against a float64 reference.\n"
        "\n"
        "  --shapes FILE  CSV with a header naming the columns, in any order: name, batch,\n"
        "                 in_channels, out_channels, kernel, stride, padding (symmetric),\n"
        "                 output_padding, dilation, groups, length_in, layout (ncl|nlc), bias\n"
        "                 (0|1), and optionally dtype (f32|f16|bf16, default f32). Blank lines\n"
        "                 and lines starting with '#' are skipped.\n"
        "  --device SEL   gpu, cpu, any, P:D or a device/platform name substring\n"
        "                 (default: a GPU if there is one, else a CPU; CLCONVT_DEVICE overrides)\n"
        "  --repeat N     timed forwards per row after %d warm-up runs (default 10)\n"
        "  --csv OUT      also write the results as CSV: name,plan,median_ms,min_ms,gflops,\n"
        "                 normalised_error,peak_device_bytes,first_call_ms\n"
        "  --dtype T      storage dtype of every row, overriding the dtype column\n"
        "  --filter S     run only the rows whose name contains S (names of rows that are not\n"
        "                 f32 end in @f16 or @bf16)\n"
        "  --help         this text\n"
        "\n"
        "Per row: first_call_ms is the wall time of layer create + set_weight + set_bias + the\n"
        "first forward_host (program preparation included); median_ms and min_ms time\n"
        "clconvt_layer_forward on device buffers followed by clFinish; gflops is\n"
        "2*N*L_in*Cin*(Cout/groups)*K over the median; normalised_error is the worse of the\n"
        "first forward_host output and the last timed output against the float64 reference\n"
        "(max|y - ref| / max|ref|; bounds f32 2e-5, f16 2e-3, bf16 1.6e-2); peak_device_bytes\n"
        "is the most device memory clconvt held during the first call (weights, input, output).\n"
        "\n"
        "Exit status: 0 when every row ran within its error bound; 1 when a row failed or\n"
        "exceeded its bound (the CSV still lists every row that ran), or the file or device\n"
        "is unusable; 2 on a usage error.\n",
        BENCH_WARMUP);
}

static int parse_options(int argc, char **argv, bench_options *opt) {
    memset(opt, 0, sizeof *opt);
    opt->repeat = 10;
    opt->dtype_override = -1;
    for (int a = 1; a < argc; ++a) {
        const char *arg = argv[a];
        if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) {
            usage(stdout);
            return 1;
        }
        static const char *const valued[] = {"--shapes", "--device", "--repeat",
                                             "--csv",    "--dtype",  "--filter"};
        int known = 0;
        for (size_t i = 0; i < sizeof valued / sizeof *valued; ++i)
            known |= strcmp(arg, valued[i]) == 0;
        if (!known) {
            fprintf(stderr, "%s: unknown option '%s' (try --help)\n", program, arg);
            return -1;
        }
        if (a + 1 >= argc) {
            fprintf(stderr, "%s: %s needs a value\n", program, arg);
            return -1;
        }
        const char *value = argv[++a];
        if (strcmp(arg, "--shapes") == 0)
            opt->shapes = value;
        else if (strcmp(arg, "--device") == 0)
            opt->selector = value;
        else if (strcmp(arg, "--csv") == 0)
            opt->csv = value;
        else if (strcmp(arg, "--filter") == 0)
            opt->filter = value;
        else if (strcmp(arg, "--repeat") == 0) {
            if (parse_integer(value, 1, BENCH_MAX_REPEAT, &opt->repeat) != 0) {
                fprintf(stderr, "%s: --repeat wants an integer in [1, %d], got '%s'\n", program,
                        BENCH_MAX_REPEAT, value);
                return -1;
            }
        } else {
            clconvt_dtype dtype;
            if (parse_dtype(value, &dtype) != 0) {
                fprintf(stderr, "%s: --dtype wants f32, f16 or bf16, got '%s'\n", program, value);
                return -1;
            }
            opt->dtype_override = (int)dtype;
        }
    }
    if (!opt->shapes) {
        fprintf(stderr, "%s: --shapes FILE.csv is required (try --help)\n", program);
        return -1;
    }
    if (opt->csv && *opt->csv == '\0') {
        fprintf(stderr, "%s: --csv wants a file name\n", program);
        return -1;
    }
    return 0;
}

int main(int argc, char **argv) {
    bench_options opt;
    const int parsed = parse_options(argc, argv, &opt);
    if (parsed != 0)
        return parsed > 0 ? 0 : 2;

    int rc = 1;
    bench_row *rows = NULL;
    bench_result *results = NULL;
    clconvt_device *device = NULL;
    csv_output csv = {0};
    size_t count = 0;

    if (load_rows(&opt, &rows, &count) != 0)
        goto cleanup;
    if (opt.csv && csv_begin(&csv, opt.csv) != 0)
        goto cleanup;
    if (!(results = calloc(count, sizeof *results))) {
        fprintf(stderr, "%s: out of host memory\n", program);
        goto cleanup;
    }

    clconvt_status st = clconvt_device_open(CLCONVT_DEVICE_ANY, opt.selector, &device);
    clconvt_device_info info;
    if (st == CLCONVT_SUCCESS)
        st = clconvt_device_get_info(device, &info);
    if (st != CLCONVT_SUCCESS) {
        fprintf(stderr, "%s: opening the device failed (%s): %s\n", program,
                clconvt_status_string(st), clconvt_last_error());
        goto cleanup;
    }
    printf("device: %s (platform %s, %s, driver %s, %" PRIu32 " compute units)\n", info.name,
           info.platform, tool_device_type_name(info.type), info.driver_version,
           info.compute_units);
    const char *affinity = getenv("POCL_AFFINITY");
    if (strstr(info.platform, "Portable Computing Language") != NULL &&
        (info.type & CL_DEVICE_TYPE_CPU) && (affinity == NULL || strcmp(affinity, "1") != 0))
        fprintf(stderr,
                "%s: note: POCL_AFFINITY=1 is not set; PoCL's worker threads may then share a core "
                "in some processes, and a row's timings come out up to 2x slower in those (see "
                "README.md, \"Environment variables\")\n",
                program);
    printf("shapes: %s, %zu row%s, %d warm-up + %" PRId64 " timed forwards each\n\n", opt.shapes,
           count, count == 1 ? "" : "s", BENCH_WARMUP, opt.repeat);

    int width = 4;
    for (size_t i = 0; i < count; ++i)
        if ((int)strlen(rows[i].label) > width)
            width = (int)strlen(rows[i].label);
    printf("%-*s  %-12s %10s %10s %9s %11s %9s %10s  %s\n", width, "name", "plan", "median ms",
           "min ms", "GFLOP/s", "norm error", "peak MiB", "first ms", "check");
    fflush(stdout);

    size_t failed = 0, exceeded = 0;
    for (size_t i = 0; i < count; ++i) {
        const bench_row *row = &rows[i];
        bench_result *res = &results[i];
        fprintf(stderr, "[%zu/%zu] %s ...\n", i + 1, count, row->label);
        if (run_row(device, row, opt.repeat, res) != 0) {
            ++failed;
            printf("%-*s  %-12s %10s %10s %9s %11s %9s %10s  %s\n", width, row->label, "-", "-",
                   "-", "-", "-", "-", "-", "ERROR");
            fflush(stdout);
            continue;
        }
        const double bound = reference_error_bound(row->params.dtype);
        const int ok = res->error <= bound;
        exceeded += !ok;
        printf("%-*s  %-12s %10.4f %10.4f %9.2f %11.3e %9.2f %10.1f  %s\n", width, row->label,
               res->plan, res->median_ms, res->min_ms, res->gflops, res->error,
               (double)res->peak_bytes / (1024.0 * 1024.0), res->first_ms, ok ? "ok" : "FAIL");
        fflush(stdout);
        if (!ok)
            fprintf(stderr,
                    "%s: row '%s' (line %ld): normalised error %.3e exceeds the SPEC bound %.1e "
                    "for %s\n",
                    program, row->label, row->line, res->error, bound,
                    clconvt_dtype_name(row->params.dtype));
    }

    const int csv_failed = opt.csv && csv_commit(&csv, rows, results, count) != 0;
    printf("\n");
    if (failed == 0 && exceeded == 0)
        printf("all %zu rows ran within the SPEC error bounds\n", count);
    else
        printf("%zu of %zu rows failed to run, %zu exceeded the SPEC error bound\n", failed, count,
               exceeded);
    if (failed || exceeded)
        fprintf(stderr, "%s: %zu row%s failed to run, %zu exceeded the error bound\n", program,
                failed, failed == 1 ? "" : "s", exceeded);
    rc = failed || exceeded || csv_failed ? 1 : 0;
cleanup:
    csv_abort(&csv);
    clconvt_device_release(device);
    free(results);
    free(rows);
    return rc;
}
