/*
 * The library against PyTorch: every case of tests/data/golden/cases.csv (made by
 * tools/gen_golden.py; see tests/data/golden/README.md), in both activation layouts and with the
 * weight in both orders, must match PyTorch's float64 output to the SPEC's fp32 bound. A
 * separate test checks that PyTorch's output agrees with tests/reference.c, so the reference the
 * other suites trust is itself checked against PyTorch.
 *
 * The cases are split by stride into a few tests so that Criterion can run them in parallel: each
 * new (stride, layout) costs the library a kernel compile.
 */
#include <criterion/criterion.h>

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clconvt.h"
#include "npy.h"
#include "reference.h"

#define GOLDEN_TOLERANCE 2e-5 /* SPEC section 6, fp32 */
#define REFERENCE_TOLERANCE 1e-12
#define MAX_CASES 1000
#define MAX_NAME 64
#define MAX_MANIFEST_BYTES (1 << 20)
#define NUM_FIELDS 13

static const char MANIFEST_HEADER[] =
    "name,batch,in_channels,out_channels,kernel,stride,pad_left,pad_right,output_padding,"
    "dilation,groups,bias,length_in";

typedef struct golden_case {
    char name[MAX_NAME];
    int64_t batch, in_channels, out_channels, kernel, stride, pad_left, pad_right;
    int64_t output_padding, dilation, groups, bias, length_in;
} golden_case;

typedef struct manifest {
    golden_case cases[MAX_CASES];
    int count;
} manifest;

/* The manifest is large-ish; keep it off the stack. One per test process. */
static manifest g_manifest;

/* ---- Small helpers --------------------------------------------------------------------------- */

static const char *data_dir(void) {
    const char *dir = getenv("CLCONVT_TEST_DATA");
    cr_assert(dir != NULL && dir[0] != '\0',
              "CLCONVT_TEST_DATA is not set (meson sets it to tests/data)");
    return dir;
}

/* malloc of count elements of size bytes, at least one element so that a zero count is legal. */
static void *xalloc(size_t count, size_t size) {
    cr_assert(size == 0 || count <= SIZE_MAX / size, "allocation size overflows");
    void *p = malloc((count ? count : 1) * size);
    cr_assert(p != NULL, "out of memory allocating %zu x %zu bytes", count, size);
    return p;
}

static int64_t output_length(const golden_case *c) {
    return (c->length_in - 1) * c->stride - c->pad_left - c->pad_right +
           c->dilation * (c->kernel - 1) + c->output_padding + 1;
}

/* ---- Manifest -------------------------------------------------------------------------------- */

/* A decimal integer filling all of [s, s+len): optional '-', then digits, nothing else. */
static int parse_int(const char *s, size_t len, int64_t *out) {
    char buf[32];
    if (len == 0 || len >= sizeof buf)
        return -1;
    memcpy(buf, s, len);
    buf[len] = '\0';
    for (size_t i = 0; i < len; ++i)
        if (!((buf[i] >= '0' && buf[i] <= '9') || (i == 0 && buf[i] == '-' && len > 1)))
            return -1;
    errno = 0;
    char *end = NULL;
    const long long v = strtoll(buf, &end, 10);
    if (errno != 0 || end != buf + len)
        return -1;
    *out = (int64_t)v;
    return 0;
}

static int valid_name(const char *s, size_t len) {
    if (len == 0 || len >= MAX_NAME)
        return 0;
    for (size_t i = 0; i < len; ++i) {
        const char ch = s[i];
        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
              ch == '_' || ch == '-'))
            return 0;
    }
    return 1;
}

/* Sizes beyond this are not what the golden set is for (and would overflow nothing below). */
#define SANE_MAX ((int64_t)1 << 24)

static int case_values_ok(const golden_case *c) {
    const int64_t v[] = {c->in_channels, c->out_channels, c->kernel,   c->stride,
                         c->dilation,    c->groups,       c->length_in};
    for (size_t i = 0; i < sizeof v / sizeof v[0]; ++i)
        if (v[i] < 1 || v[i] > SANE_MAX)
            return 0;
    if (c->batch < 0 || c->batch > SANE_MAX || c->pad_left < 0 || c->pad_left > SANE_MAX ||
        c->pad_right < 0 || c->pad_right > SANE_MAX || c->output_padding < 0 ||
        c->output_padding > SANE_MAX || (c->bias != 0 && c->bias != 1))
        return 0;
    if (c->in_channels % c->groups != 0 || c->out_channels % c->groups != 0)
        return 0;
    if (c->output_padding >= c->stride && c->output_padding >= c->dilation)
        return 0;
    return output_length(c) >= 1;
}

/* Parse one data line [s, s+len) into *c. Returns 0, or -1 with a reason in err. */
static int parse_line(const char *s, size_t len, golden_case *c, char *err, size_t err_size) {
    const char *fields[NUM_FIELDS];
    size_t lens[NUM_FIELDS];
    int n = 0;
    size_t start = 0;
    for (size_t i = 0; i <= len; ++i) {
        if (i == len || s[i] == ',') {
            if (n == NUM_FIELDS) {
                snprintf(err, err_size, "more than %d fields", NUM_FIELDS);
                return -1;
            }
            fields[n] = s + start;
            lens[n] = i - start;
            ++n;
            start = i + 1;
        }
    }
    if (n != NUM_FIELDS) {
        snprintf(err, err_size, "%d fields, expected %d", n, NUM_FIELDS);
        return -1;
    }
    if (!valid_name(fields[0], lens[0])) {
        snprintf(err, err_size, "bad case name (1 to %d of [A-Za-z0-9_-])", MAX_NAME - 1);
        return -1;
    }
    memcpy(c->name, fields[0], lens[0]);
    c->name[lens[0]] = '\0';
    int64_t *const dst[NUM_FIELDS - 1] = {
        &c->batch,     &c->in_channels,    &c->out_channels, &c->kernel, &c->stride, &c->pad_left,
        &c->pad_right, &c->output_padding, &c->dilation,     &c->groups, &c->bias,   &c->length_in};
    for (int f = 1; f < NUM_FIELDS; ++f) {
        if (parse_int(fields[f], lens[f], dst[f - 1]) != 0) {
            snprintf(err, err_size, "field %d is not a decimal integer", f + 1);
            return -1;
        }
    }
    if (!case_values_ok(c)) {
        snprintf(err, err_size, "parameters out of range or breaking an operator rule");
        return -1;
    }
    return 0;
}

/* Read and strictly check DATA/golden/cases.csv into g_manifest; fails the test on any problem. */
static void load_manifest(void) {
    char path[4096];
    const int plen = snprintf(path, sizeof path, "%s/golden/cases.csv", data_dir());
    cr_assert(plen > 0 && (size_t)plen < sizeof path, "data path too long");
    FILE *f = fopen(path, "rb");
    cr_assert(f != NULL, "cannot open %s: %s", path, strerror(errno));
    char *text = malloc(MAX_MANIFEST_BYTES + 1);
    cr_assert(text != NULL, "out of memory");
    const size_t size = fread(text, 1, MAX_MANIFEST_BYTES + 1, f);
    const int read_error = ferror(f);
    fclose(f);
    cr_assert(!read_error, "error reading %s", path);
    cr_assert(size <= MAX_MANIFEST_BYTES, "%s is larger than %d bytes", path, MAX_MANIFEST_BYTES);
    cr_assert(size > 0 && text[size - 1] == '\n', "%s is empty or does not end in a newline", path);
    text[size] = '\0';
    cr_assert(strlen(text) == size, "%s contains a NUL byte", path);

    g_manifest.count = 0;
    size_t pos = 0;
    int line_no = 0;
    while (pos < size) {
        const char *line = text + pos;
        const size_t len = (size_t)(strchr(line, '\n') - line);
        ++line_no;
        if (line_no == 1) {
            cr_assert(len == strlen(MANIFEST_HEADER) && memcmp(line, MANIFEST_HEADER, len) == 0,
                      "%s: line 1 is not the header \"%s\"", path, MANIFEST_HEADER);
        } else {
            cr_assert(g_manifest.count < MAX_CASES, "%s: more than %d cases", path, MAX_CASES);
            golden_case *c = &g_manifest.cases[g_manifest.count];
            char err[128];
            cr_assert(parse_line(line, len, c, err, sizeof err) == 0, "%s line %d: %s", path,
                      line_no, err);
            for (int i = 0; i < g_manifest.count; ++i)
                cr_assert(strcmp(g_manifest.cases[i].name, c->name) != 0,
                          "%s line %d: duplicate case name %s", path, line_no, c->name);
            ++g_manifest.count;
        }
        pos += len + 1;
    }
    free(text);
    cr_assert(g_manifest.count > 0, "%s lists no cases", path);
}

/* ---- One case's files ------------------------------------------------------------------------ */

typedef struct case_data {
    float *x;  /* (N, Cin, L_in) */
    float *w;  /* (Cin, Cout_g, K), PyTorch order */
    float *b;  /* (Cout) or NULL */
    double *y; /* (N, Cout, L_out) */
    size_t x_count, w_count, y_count;
    int64_t length_out;
} case_data;

static void free_case_data(case_data *d) {
    free(d->x);
    free(d->w);
    free(d->b);
    free(d->y);
    memset(d, 0, sizeof *d);
}

/*
 * Read DATA/golden/<name>/<file> and check its type and shape. Returns malloc'ed data (NULL on
 * failure, after a cr_expect failure naming the case).
 */
static void *read_checked(const golden_case *c, const char *file, npy_type type, int ndim,
                          const int64_t *shape, size_t *count) {
    char path[4096];
    const int plen = snprintf(path, sizeof path, "%s/golden/%s/%s", data_dir(), c->name, file);
    cr_assert(plen > 0 && (size_t)plen < sizeof path, "data path too long");
    npy_array a;
    char err[512];
    if (npy_read(path, &a, err, sizeof err) != 0) {
        cr_expect(0, "case %s: %s", c->name, err);
        return NULL;
    }
    int ok = a.type == type && a.ndim == ndim;
    for (int i = 0; ok && i < ndim; ++i)
        ok = a.shape[i] == shape[i];
    if (!ok) {
        cr_expect(0, "case %s: %s has the wrong type or shape for the manifest's parameters",
                  c->name, file);
        npy_free(&a);
        return NULL;
    }
    *count = a.count;
    void *data = a.data;
    if (data == NULL) /* an empty array may come back without a buffer */
        data = xalloc(1, npy_type_size(type));
    return data;
}

static int load_case(const golden_case *c, case_data *d) {
    memset(d, 0, sizeof *d);
    d->length_out = output_length(c);
    const int64_t x_shape[3] = {c->batch, c->in_channels, c->length_in};
    const int64_t w_shape[3] = {c->in_channels, c->out_channels / c->groups, c->kernel};
    const int64_t b_shape[1] = {c->out_channels};
    const int64_t y_shape[3] = {c->batch, c->out_channels, d->length_out};
    size_t b_count = 0;
    d->x = read_checked(c, "x.npy", NPY_F32, 3, x_shape, &d->x_count);
    d->w = read_checked(c, "w.npy", NPY_F32, 3, w_shape, &d->w_count);
    d->y = read_checked(c, "y.npy", NPY_F64, 3, y_shape, &d->y_count);
    if (c->bias)
        d->b = read_checked(c, "b.npy", NPY_F32, 1, b_shape, &b_count);
    if (!d->x || !d->w || !d->y || (c->bias && !d->b)) {
        free_case_data(d);
        return -1;
    }
    return 0;
}

static void case_params(const golden_case *c, clconvt_layout layout, clconvt_params *p) {
    clconvt_params_init(p, c->in_channels, c->out_channels, c->kernel);
    p->stride = c->stride;
    p->pad_left = c->pad_left;
    p->pad_right = c->pad_right;
    p->output_padding = c->output_padding;
    p->dilation = c->dilation;
    p->groups = c->groups;
    p->has_bias = (int)c->bias;
    p->layout = layout;
    p->dtype = CLCONVT_F32;
}

/* ---- The reference against PyTorch ----------------------------------------------------------- */

static double *to_double(const float *src, size_t count) {
    double *dst = xalloc(count, sizeof *dst);
    for (size_t i = 0; i < count; ++i)
        dst[i] = src[i];
    return dst;
}

static void check_reference(const golden_case *c) {
    case_data d;
    if (load_case(c, &d) != 0)
        return;
    clconvt_params p;
    case_params(c, CLCONVT_LAYOUT_NCL, &p);
    double *x = to_double(d.x, d.x_count);
    double *w = to_double(d.w, d.w_count);
    double *b = c->bias ? to_double(d.b, (size_t)c->out_channels) : NULL;
    double *ref = xalloc(d.y_count, sizeof *ref);
    const int rc = reference_forward(&p, x, w, b, c->batch, c->length_in, ref);
    cr_expect(rc == 0, "case %s: reference_forward refused the parameters", c->name);
    if (rc == 0) {
        const double err = reference_normalised_error(d.y, ref, d.y_count);
        cr_expect(err <= REFERENCE_TOLERANCE,
                  "case %s: PyTorch and tests/reference.c differ: normalised error %.3g > %.0e",
                  c->name, err, REFERENCE_TOLERANCE);
    }
    free(x);
    free(w);
    free(b);
    free(ref);
    free_case_data(&d);
}

/* ---- The library against PyTorch ------------------------------------------------------------- */

static clconvt_device *open_device(void) {
    clconvt_device *dev = NULL;
    const clconvt_status st = clconvt_device_open(CLCONVT_DEVICE_ANY, NULL, &dev);
    cr_assert(st == CLCONVT_SUCCESS && dev != NULL, "clconvt_device_open: %s: %s",
              clconvt_status_string(st), clconvt_last_error());
    return dev;
}

static const char *layout_name(clconvt_layout layout) {
    return layout == CLCONVT_LAYOUT_NCL ? "NCL" : "NLC";
}

static const char *order_name(clconvt_weight_order order) {
    return order == CLCONVT_WEIGHT_PYTORCH ? "PyTorch-order" : "MAX-order";
}

/* (N, C, L) -> (N, L, C) */
static void ncl_to_nlc(const float *src, float *dst, int64_t n, int64_t c, int64_t len) {
    for (int64_t b = 0; b < n; ++b)
        for (int64_t ch = 0; ch < c; ++ch)
            for (int64_t i = 0; i < len; ++i)
                dst[(b * len + i) * c + ch] = src[(b * c + ch) * len + i];
}

/* Library output in the given layout -> float64 in (N, C, L). */
static void output_to_ncl(const float *src, double *dst, clconvt_layout layout, int64_t n,
                          int64_t c, int64_t len) {
    for (int64_t b = 0; b < n; ++b)
        for (int64_t ch = 0; ch < c; ++ch)
            for (int64_t i = 0; i < len; ++i)
                dst[(b * c + ch) * len + i] = layout == CLCONVT_LAYOUT_NCL
                                                  ? src[(b * c + ch) * len + i]
                                                  : src[(b * len + i) * c + ch];
}

/* Compare out (NCL, float64) with the golden y; on failure name the case and the worst element. */
static void compare(const golden_case *c, const case_data *d, const double *out,
                    clconvt_layout layout, clconvt_weight_order order, const char *plan) {
    const double err = reference_normalised_error(out, d->y, d->y_count);
    if (err <= GOLDEN_TOLERANCE)
        return;
    size_t worst = 0;
    double worst_diff = -1.0;
    for (size_t i = 0; i < d->y_count; ++i) {
        const double diff = fabs(out[i] - d->y[i]);
        if (isnan(diff) || diff > worst_diff) {
            worst = i;
            worst_diff = isnan(diff) ? INFINITY : diff;
            if (isnan(diff))
                break;
        }
    }
    const int64_t len = d->length_out, ch = c->out_channels;
    cr_expect(0,
              "case %s [%s, %s weight, plan %s]: normalised error %.3g > %.0e; worst at "
              "(n=%" PRId64 ", co=%" PRId64 ", o=%" PRId64 "): got %.9g, PyTorch %.9g",
              c->name, layout_name(layout), order_name(order), plan, err, GOLDEN_TOLERANCE,
              (int64_t)worst / (ch * len), (int64_t)worst / len % ch, (int64_t)worst % len,
              d->y_count ? out[worst] : 0.0, d->y_count ? d->y[worst] : 0.0);
}

static void run_layout(clconvt_device *dev, const golden_case *c, const case_data *d,
                       const float *w_max, clconvt_layout layout) {
    clconvt_params p;
    case_params(c, layout, &p);
    int64_t length_out = -1;
    clconvt_status st = clconvt_output_length(&p, c->length_in, &length_out);
    cr_expect(st == CLCONVT_SUCCESS && length_out == d->length_out,
              "case %s [%s]: clconvt_output_length gave %s, %" PRId64 "; expected %" PRId64,
              c->name, layout_name(layout), clconvt_status_string(st), length_out, d->length_out);

    clconvt_layer *layer = NULL;
    st = clconvt_layer_create(dev, &p, &layer);
    if (st != CLCONVT_SUCCESS) {
        cr_expect(0, "case %s [%s]: clconvt_layer_create: %s: %s", c->name, layout_name(layout),
                  clconvt_status_string(st), clconvt_last_error());
        return;
    }
    const int64_t w_count = clconvt_layer_weight_count(layer);
    cr_expect(w_count == (int64_t)d->w_count,
              "case %s [%s]: clconvt_layer_weight_count is %" PRId64 ", expected %zu", c->name,
              layout_name(layout), w_count, d->w_count);
    if (c->bias) {
        st = clconvt_layer_set_bias(layer, d->b, CLCONVT_F32);
        cr_expect(st == CLCONVT_SUCCESS, "case %s [%s]: clconvt_layer_set_bias: %s: %s", c->name,
                  layout_name(layout), clconvt_status_string(st), clconvt_last_error());
    }

    const float *in = d->x;
    float *x_nlc = NULL;
    if (layout == CLCONVT_LAYOUT_NLC) {
        x_nlc = xalloc(d->x_count, sizeof *x_nlc);
        ncl_to_nlc(d->x, x_nlc, c->batch, c->in_channels, c->length_in);
        in = x_nlc;
    }
    float *out = xalloc(d->y_count, sizeof *out);
    double *out_ncl = xalloc(d->y_count, sizeof *out_ncl);

    const clconvt_weight_order orders[2] = {CLCONVT_WEIGHT_PYTORCH, CLCONVT_WEIGHT_MAX};
    for (int oi = 0; oi < 2; ++oi) {
        const clconvt_weight_order order = orders[oi];
        st = clconvt_layer_set_weight(layer, order == CLCONVT_WEIGHT_PYTORCH ? d->w : w_max, order,
                                      CLCONVT_F32);
        if (st != CLCONVT_SUCCESS) {
            cr_expect(0, "case %s [%s, %s weight]: clconvt_layer_set_weight: %s: %s", c->name,
                      layout_name(layout), order_name(order), clconvt_status_string(st),
                      clconvt_last_error());
            continue;
        }
        /* NaN everywhere first, so that a position the library never writes cannot pass. */
        for (size_t i = 0; i < d->y_count; ++i)
            out[i] = NAN;
        st = clconvt_layer_forward_host(layer, in, out, c->batch, c->length_in);
        if (st != CLCONVT_SUCCESS) {
            cr_expect(0, "case %s [%s, %s weight]: clconvt_layer_forward_host: %s: %s", c->name,
                      layout_name(layout), order_name(order), clconvt_status_string(st),
                      clconvt_last_error());
            continue;
        }
        output_to_ncl(out, out_ncl, layout, c->batch, c->out_channels, d->length_out);
        compare(c, d, out_ncl, layout, order, clconvt_layer_plan_name(layer));
    }
    free(out_ncl);
    free(out);
    free(x_nlc);
    clconvt_layer_release(layer);
}

static void run_case(clconvt_device *dev, const golden_case *c) {
    case_data d;
    if (load_case(c, &d) != 0)
        return;
    /* MAX order is the PyTorch array with its axes reversed; the values are exact in fp32. */
    const int64_t cout_g = c->out_channels / c->groups;
    double *w_pt = to_double(d.w, d.w_count);
    double *w_max_d = xalloc(d.w_count, sizeof *w_max_d);
    reference_weight_pytorch_to_max(w_pt, w_max_d, c->in_channels, cout_g, c->kernel);
    float *w_max = xalloc(d.w_count, sizeof *w_max);
    for (size_t i = 0; i < d.w_count; ++i)
        w_max[i] = (float)w_max_d[i];

    run_layout(dev, c, &d, w_max, CLCONVT_LAYOUT_NCL);
    run_layout(dev, c, &d, w_max, CLCONVT_LAYOUT_NLC);

    free(w_max);
    free(w_max_d);
    free(w_pt);
    free_case_data(&d);
}

/* Run every manifest case whose stride is in [lo, hi]. */
static void run_strides(int64_t lo, int64_t hi) {
    load_manifest();
    clconvt_device *dev = open_device();
    int ran = 0;
    for (int i = 0; i < g_manifest.count; ++i) {
        const golden_case *c = &g_manifest.cases[i];
        if (c->stride < lo || c->stride > hi)
            continue;
        run_case(dev, c);
        ++ran;
    }
    clconvt_device_release(dev);
    cr_expect(ran > 0, "no golden case has a stride in [%" PRId64 ", %" PRId64 "]", lo, hi);
}

/* ---- Tests ----------------------------------------------------------------------------------- */

/* The manifest parses strictly, and PyTorch's y agrees with the float64 reference (no device). */
Test(golden, pytorch_matches_reference) {
    load_manifest();
    for (int i = 0; i < g_manifest.count; ++i)
        check_reference(&g_manifest.cases[i]);
}

/* Together these cover every stride (the last is open-ended), so no case is skipped. */
Test(golden, strides_1_2) {
    run_strides(1, 2);
}

Test(golden, strides_3_4) {
    run_strides(3, 4);
}

Test(golden, strides_5_6) {
    run_strides(5, 6);
}

Test(golden, strides_7_up) {
    run_strides(7, INT64_MAX);
}
