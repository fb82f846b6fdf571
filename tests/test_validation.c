/*
 * SPEC section 4 through the public API: every bad input gets the right status and a message that
 * names the parameter, its value and the rule; nothing is written to an output on failure; sizes
 * near INT64_MAX give an error, never undefined behaviour. Also the small public helpers: status
 * strings, the thread-local last error, params_init's defaults, output_length, and the dtype
 * conversions (round to nearest even, NaN, overflow, subnormals).
 *
 * Every layer here uses stride 2, NLC, f32 and 3..11 output channels per group (tile width 4), so
 * the suite compiles one kernel program (the UB-overflow case adds stride 16; the environment
 * variables' cases add the gemm path and a one-channel layer).
 */
#include <criterion/criterion.h>

#include <float.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "support.h"
#include "tmpdir.h"

/* ---- Helpers -------------------------------------------------------------------------------- */

/* Status want and a message containing every string of the NULL-terminated list. */
static void expect_error_at(int line, const char *call, clconvt_status got, clconvt_status want,
                            ...) {
    const char *message = clconvt_last_error();
    cr_assert_eq(got, want, "line %d: %s returned %d (%s), expected %d (%s); message: \"%s\"", line,
                 call, (int)got, clconvt_status_string(got), (int)want, clconvt_status_string(want),
                 message);
    va_list args;
    va_start(args, want);
    for (const char *part; (part = va_arg(args, const char *)) != NULL;)
        cr_assert(strstr(message, part) != NULL, "line %d: %s: message \"%s\" lacks \"%s\"", line,
                  call, message, part);
    va_end(args);
}
#define EXPECT_ERROR(call, want, ...)                                                              \
    expect_error_at(__LINE__, #call, (call), (want), __VA_ARGS__, (const char *)NULL)

#define EXPECT_OK(call)                                                                            \
    do {                                                                                           \
        clconvt_status status_ = (call);                                                           \
        cr_assert_eq(status_, CLCONVT_SUCCESS, "line %d: %s failed: %s: %s", __LINE__, #call,      \
                     clconvt_status_string(status_), clconvt_last_error());                        \
    } while (0)

static int is_identifier_char(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
}

/* word occurs in text with no identifier character on either side. */
static int contains_word(const char *text, const char *word) {
    const size_t n = strlen(word);
    for (const char *at = strstr(text, word); at != NULL; at = strstr(at + 1, word))
        if ((at == text || !is_identifier_char(at[-1])) && !is_identifier_char(at[n]))
            return 1;
    return 0;
}

/* CLCONVT_ERROR_INVALID_ARGUMENT naming the NULL argument (as a word) and saying NULL. */
static void expect_null_at(int line, const char *call, clconvt_status got, const char *name,
                           const char *not_named) {
    const char *message = clconvt_last_error();
    cr_assert_eq(got, CLCONVT_ERROR_INVALID_ARGUMENT,
                 "line %d: %s returned %d (%s), expected invalid argument; message: \"%s\"", line,
                 call, (int)got, clconvt_status_string(got), message);
    cr_assert(contains_word(message, name), "line %d: %s: message \"%s\" does not name \"%s\"",
              line, call, message, name);
    cr_assert(strstr(message, "NULL") != NULL, "line %d: %s: message \"%s\" does not say NULL",
              line, call, message);
    if (not_named != NULL)
        cr_assert(!contains_word(message, not_named),
                  "line %d: %s: message \"%s\" names \"%s\", which is not NULL", line, call,
                  message, not_named);
}
#define EXPECT_NULL(call, name, not_named) expect_null_at(__LINE__, #call, (call), name, not_named)

/* A valid layer configuration: every layer in this suite shares its (stride, layout, dtype, tile).
 */
static clconvt_params base_params(int has_bias) {
    clconvt_params p;
    clconvt_params_init(&p, 3, 5, 4);
    p.stride = 2;
    p.pad_left = p.pad_right = 1;
    p.output_padding = 1;
    p.has_bias = has_bias;
    return p;
}

/* A layer with its random data and the float64 reference output for (batch, length_in). */
typedef struct fixture {
    clconvt_params p;
    clconvt_layer *layer;
    int64_t batch, length_in, length_out;
    size_t nx, ny, nw, nb;
    double *x, *w, *b, *ref;
    float *xf, *w_max_f, *bf;
} fixture;

static float *to_floats(const double *v, size_t n) {
    float *f = malloc((n ? n : 1) * sizeof *f);
    cr_assert(f != NULL);
    for (size_t i = 0; i < n; ++i)
        f[i] = (float)v[i];
    return f;
}

/* Create the layer and data; set_weight (MAX order) and set_bias only when stage is nonzero. */
static void fixture_make(fixture *f, const clconvt_params *p, int64_t batch, int64_t length_in,
                         uint64_t seed, int stage) {
    *f = (fixture){.p = *p, .batch = batch, .length_in = length_in};
    EXPECT_OK(clconvt_output_length(p, length_in, &f->length_out));
    f->nx = (size_t)(batch * p->in_channels * length_in);
    f->ny = (size_t)(batch * p->out_channels * f->length_out);
    f->nw = (size_t)(p->in_channels * (p->out_channels / p->groups) * p->kernel_length);
    f->nb = (size_t)p->out_channels;
    f->x = malloc((f->nx + 1) * sizeof *f->x);
    f->w = malloc(f->nw * sizeof *f->w);
    f->b = malloc(f->nb * sizeof *f->b);
    f->ref = malloc((f->ny + 1) * sizeof *f->ref);
    double *w_max = malloc(f->nw * sizeof *w_max);
    cr_assert(f->x && f->w && f->b && f->ref && w_max);
    uint64_t state = seed;
    support_fill(f->x, f->nx, &state, CLCONVT_F32);
    support_fill(f->w, f->nw, &state, CLCONVT_F32);
    support_fill(f->b, f->nb, &state, CLCONVT_F32);
    cr_assert_eq(
        reference_forward(p, f->x, f->w, p->has_bias ? f->b : NULL, batch, length_in, f->ref), 0);
    reference_weight_pytorch_to_max(f->w, w_max, p->in_channels, p->out_channels / p->groups,
                                    p->kernel_length);
    f->xf = to_floats(f->x, f->nx);
    f->w_max_f = to_floats(w_max, f->nw);
    f->bf = to_floats(f->b, f->nb);
    free(w_max);
    EXPECT_OK(clconvt_layer_create(support_device(), p, &f->layer));
    if (stage) {
        EXPECT_OK(clconvt_layer_set_weight(f->layer, f->w_max_f, CLCONVT_WEIGHT_MAX, CLCONVT_F32));
        if (p->has_bias)
            EXPECT_OK(clconvt_layer_set_bias(f->layer, f->bf, CLCONVT_F32));
    }
}

static void fixture_free(fixture *f) {
    clconvt_layer_release(f->layer);
    free(f->x);
    free(f->w);
    free(f->b);
    free(f->ref);
    free(f->xf);
    free(f->w_max_f);
    free(f->bf);
}

/* forward_host on the fixture's input must match the reference. */
static void expect_forward_matches(const fixture *f) {
    float *y = malloc((f->ny + 1) * sizeof *y);
    double *yd = malloc((f->ny + 1) * sizeof *yd);
    cr_assert(y && yd);
    EXPECT_OK(clconvt_layer_forward_host(f->layer, f->xf, y, f->batch, f->length_in));
    for (size_t i = 0; i < f->ny; ++i)
        yd[i] = y[i];
    const double error = reference_normalised_error(yd, f->ref, f->ny);
    cr_assert(error <= reference_error_bound(CLCONVT_F32), "error %g against the reference", error);
    free(y);
    free(yd);
}

#define SENTINEL 0xA5

static unsigned char *sentinel_buffer(size_t bytes) {
    unsigned char *b = malloc(bytes);
    cr_assert(b != NULL);
    memset(b, SENTINEL, bytes);
    return b;
}

static void expect_untouched(const unsigned char *b, size_t bytes, const char *what) {
    for (size_t i = 0; i < bytes; ++i)
        cr_assert_eq(b[i], SENTINEL, "%s: byte %zu of the output was written", what, i);
}

/* A device buffer of bytes filled with the sentinel. */
static cl_mem device_buffer(size_t bytes) {
    cl_int err;
    cl_mem m = clCreateBuffer(clconvt_device_context(support_device()), CL_MEM_READ_WRITE, bytes,
                              NULL, &err);
    cr_assert_eq(err, CL_SUCCESS, "clCreateBuffer(%zu): %d", bytes, err);
    unsigned char *fill = sentinel_buffer(bytes);
    err = clEnqueueWriteBuffer(clconvt_device_queue(support_device()), m, CL_TRUE, 0, bytes, fill,
                               0, NULL, NULL);
    cr_assert_eq(err, CL_SUCCESS);
    free(fill);
    return m;
}

static void expect_device_untouched(cl_mem m, size_t bytes, const char *what) {
    unsigned char *back = malloc(bytes);
    cr_assert(back != NULL);
    cr_assert_eq(clFinish(clconvt_device_queue(support_device())), CL_SUCCESS);
    cr_assert_eq(clEnqueueReadBuffer(clconvt_device_queue(support_device()), m, CL_TRUE, 0, bytes,
                                     back, 0, NULL, NULL),
                 CL_SUCCESS);
    expect_untouched(back, bytes, what);
    free(back);
}

/* ---- Parameter rules ------------------------------------------------------------------------ */

typedef struct field {
    const char *name;
    size_t offset;
} field;

#define FIELD(f)                                                                                   \
    { #f, offsetof(clconvt_params, f) }

static void set_field(clconvt_params *p, const field *f, int64_t value) {
    memcpy((char *)p + f->offset, &value, sizeof value);
}

static const field POSITIVE[] = {
    FIELD(in_channels), FIELD(out_channels), FIELD(kernel_length),
    FIELD(stride),      FIELD(dilation),     FIELD(groups),
};
static const int64_t NOT_POSITIVE[] = {0, -1, -7, INT64_MIN};

Test(validation, non_positive_parameters) {
    char expect_value[96];
    for (size_t i = 0; i < sizeof POSITIVE / sizeof POSITIVE[0]; ++i)
        for (size_t j = 0; j < sizeof NOT_POSITIVE / sizeof NOT_POSITIVE[0]; ++j) {
            clconvt_params p = base_params(1);
            set_field(&p, &POSITIVE[i], NOT_POSITIVE[j]);
            snprintf(expect_value, sizeof expect_value, "%s=%lld", POSITIVE[i].name,
                     (long long)NOT_POSITIVE[j]);
            int64_t length_out = -12345;
            EXPECT_ERROR(clconvt_params_validate(&p), CLCONVT_ERROR_INVALID_PARAMETER,
                         POSITIVE[i].name, expect_value, "positive");
            EXPECT_ERROR(clconvt_output_length(&p, 4, &length_out), CLCONVT_ERROR_INVALID_PARAMETER,
                         expect_value, "positive");
            cr_assert_eq(length_out, -12345, "output_length wrote its result on failure");
        }
}

Test(validation, non_positive_parameters_refused_by_layer_create) {
    char expect_value[96];
    for (size_t i = 0; i < sizeof POSITIVE / sizeof POSITIVE[0]; ++i)
        for (size_t j = 0; j < 2; ++j) {
            clconvt_params p = base_params(1);
            set_field(&p, &POSITIVE[i], NOT_POSITIVE[j]);
            snprintf(expect_value, sizeof expect_value, "%s=%lld", POSITIVE[i].name,
                     (long long)NOT_POSITIVE[j]);
            clconvt_layer *layer = (clconvt_layer *)&expect_value; /* must stay as it is */
            EXPECT_ERROR(clconvt_layer_create(support_device(), &p, &layer),
                         CLCONVT_ERROR_INVALID_PARAMETER, expect_value, "positive");
            cr_assert_eq(layer, (clconvt_layer *)&expect_value, "*out written on failure");
        }
}

static const field NON_NEGATIVE[] = {FIELD(pad_left), FIELD(pad_right), FIELD(output_padding)};

Test(validation, negative_padding) {
    static const int64_t values[] = {-1, -3, INT64_MIN};
    char expect_value[96];
    for (size_t i = 0; i < sizeof NON_NEGATIVE / sizeof NON_NEGATIVE[0]; ++i)
        for (size_t j = 0; j < sizeof values / sizeof values[0]; ++j) {
            clconvt_params p = base_params(0);
            set_field(&p, &NON_NEGATIVE[i], values[j]);
            snprintf(expect_value, sizeof expect_value, "%s=%lld", NON_NEGATIVE[i].name,
                     (long long)values[j]);
            int64_t length_out;
            EXPECT_ERROR(clconvt_params_validate(&p), CLCONVT_ERROR_INVALID_PARAMETER,
                         NON_NEGATIVE[i].name, expect_value, "non-negative");
            EXPECT_ERROR(clconvt_output_length(&p, 4, &length_out), CLCONVT_ERROR_INVALID_PARAMETER,
                         expect_value, "non-negative");
        }
    /* Zero is fine for all three. */
    clconvt_params p = base_params(0);
    p.pad_left = p.pad_right = p.output_padding = 0;
    EXPECT_OK(clconvt_params_validate(&p));
}

Test(validation, output_padding_rule) {
    clconvt_params p = base_params(0);
    p.stride = 2;
    p.dilation = 1;
    p.output_padding = 3;
    EXPECT_ERROR(clconvt_params_validate(&p), CLCONVT_ERROR_INVALID_PARAMETER,
                 "output padding must be smaller than either stride or dilation, but got "
                 "output_padding=3, stride=2, dilation=1");
    clconvt_layer *layer = NULL;
    EXPECT_ERROR(clconvt_layer_create(support_device(), &p, &layer),
                 CLCONVT_ERROR_INVALID_PARAMETER,
                 "output padding must be smaller than either stride or dilation, but got "
                 "output_padding=3, stride=2, dilation=1");
    cr_assert_null(layer);

    /* Equal to both is also refused: the rule is strict. */
    p.output_padding = 2;
    p.dilation = 2;
    EXPECT_ERROR(clconvt_params_validate(&p), CLCONVT_ERROR_INVALID_PARAMETER,
                 "output_padding=2, stride=2, dilation=2");
    p.output_padding = 5;
    p.stride = 1;
    p.dilation = 5;
    EXPECT_ERROR(clconvt_params_validate(&p), CLCONVT_ERROR_INVALID_PARAMETER,
                 "output_padding=5, stride=1, dilation=5");

    /* Smaller than either one is enough (PyTorch's rule, looser than MAX's op < stride). */
    static const int64_t accepted[][3] = {
        /* output_padding, stride, dilation */
        {1, 2, 1}, {2, 2, 3}, {3, 1, 4}, {3, 2, 4}, {0, 1, 1}, {6, 7, 1}, {6, 1, 7},
    };
    for (size_t i = 0; i < sizeof accepted / sizeof accepted[0]; ++i) {
        p.output_padding = accepted[i][0];
        p.stride = accepted[i][1];
        p.dilation = accepted[i][2];
        EXPECT_OK(clconvt_params_validate(&p));
    }
}

Test(validation, output_padding_below_dilation_only_is_computed) {
    /* output_padding 3 >= stride 2 but < dilation 4: accepted, and the extra positions are right.
     */
    clconvt_params p = base_params(1);
    p.dilation = 4;
    p.output_padding = 3;
    p.pad_left = 0;
    p.pad_right = 2;
    int64_t length_out;
    EXPECT_OK(clconvt_output_length(&p, 7, &length_out));
    cr_assert_eq(length_out, (7 - 1) * 2 - 0 - 2 + 4 * (4 - 1) + 3 + 1);
    fixture f;
    fixture_make(&f, &p, 2, 7, 11, 1);
    expect_forward_matches(&f);
    fixture_free(&f);
}

Test(validation, channels_not_divisible_by_groups) {
    clconvt_params p = base_params(0);
    p.in_channels = 3;
    p.out_channels = 4;
    p.groups = 2;
    EXPECT_ERROR(clconvt_params_validate(&p), CLCONVT_ERROR_INVALID_PARAMETER, "in_channels=3",
                 "groups=2", "divisible");
    p.in_channels = 4;
    p.out_channels = 6;
    p.groups = 4;
    EXPECT_ERROR(clconvt_params_validate(&p), CLCONVT_ERROR_INVALID_PARAMETER, "out_channels=6",
                 "groups=4", "divisible");
    clconvt_layer *layer = NULL;
    EXPECT_ERROR(clconvt_layer_create(support_device(), &p, &layer),
                 CLCONVT_ERROR_INVALID_PARAMETER, "out_channels=6", "groups=4", "divisible");
    /* More groups than channels. */
    p.in_channels = 2;
    p.out_channels = 6;
    p.groups = 3;
    EXPECT_ERROR(clconvt_params_validate(&p), CLCONVT_ERROR_INVALID_PARAMETER, "in_channels=2",
                 "groups=3");
    /* Divisible both ways is fine, depthwise included. */
    p.in_channels = p.out_channels = p.groups = 6;
    EXPECT_OK(clconvt_params_validate(&p));
}

Test(validation, bad_enum_values) {
    clconvt_params p = base_params(0);
    p.layout = (clconvt_layout)7;
    EXPECT_ERROR(clconvt_params_validate(&p), CLCONVT_ERROR_INVALID_PARAMETER, "layout=7");
    p.layout = (clconvt_layout)-1;
    EXPECT_ERROR(clconvt_params_validate(&p), CLCONVT_ERROR_INVALID_PARAMETER, "layout=-1");
    clconvt_layer *layer = NULL;
    EXPECT_ERROR(clconvt_layer_create(support_device(), &p, &layer),
                 CLCONVT_ERROR_INVALID_PARAMETER, "layout=-1");
    p = base_params(0);
    p.dtype = (clconvt_dtype)9;
    EXPECT_ERROR(clconvt_params_validate(&p), CLCONVT_ERROR_INVALID_PARAMETER, "dtype=9");
    EXPECT_ERROR(clconvt_layer_create(support_device(), &p, &layer),
                 CLCONVT_ERROR_INVALID_PARAMETER, "dtype=9");
    cr_assert_null(layer);

    clconvt_device *device = NULL;
    EXPECT_ERROR(clconvt_device_open((clconvt_device_kind)9, NULL, &device),
                 CLCONVT_ERROR_INVALID_ARGUMENT, "kind=9");
    EXPECT_ERROR(clconvt_device_open((clconvt_device_kind)-2, "cpu", &device),
                 CLCONVT_ERROR_INVALID_ARGUMENT, "kind=-2");
    cr_assert_null(device);

    float src[2] = {1.0f, 2.0f}, dst[2] = {0};
    EXPECT_ERROR(clconvt_convert(src, (clconvt_dtype)9, dst, CLCONVT_F32, 2),
                 CLCONVT_ERROR_INVALID_ARGUMENT, "src_dtype", "9");
    EXPECT_ERROR(clconvt_convert(src, CLCONVT_F32, dst, (clconvt_dtype)3, 2),
                 CLCONVT_ERROR_INVALID_ARGUMENT, "dst_dtype", "3");
    cr_assert(dst[0] == 0.0f && dst[1] == 0.0f, "convert wrote on failure");
    cr_assert_eq(clconvt_dtype_size((clconvt_dtype)9), 0);
    cr_assert_str_eq(clconvt_dtype_name((clconvt_dtype)9), "unknown");
}

/* ---- Output length -------------------------------------------------------------------------- */

Test(validation, output_length_formula) {
    int checked = 0, refused = 0;
    char expect[128];
    for (int64_t stride = 1; stride <= 4; ++stride)
        for (int64_t k = 1; k <= 5; ++k)
            for (int64_t dilation = 1; dilation <= 3; ++dilation)
                for (int64_t pl = 0; pl <= 3; ++pl)
                    for (int64_t pr = 0; pr <= 2; ++pr)
                        for (int64_t op = 0; op < (stride > dilation ? stride : dilation); ++op)
                            for (int64_t l = 1; l <= 4; ++l) {
                                clconvt_params p;
                                clconvt_params_init(&p, 2, 3, k);
                                p.stride = stride;
                                p.dilation = dilation;
                                p.pad_left = pl;
                                p.pad_right = pr;
                                p.output_padding = op;
                                const int64_t want =
                                    (l - 1) * stride - pl - pr + dilation * (k - 1) + op + 1;
                                int64_t got = -777;
                                const clconvt_status st = clconvt_output_length(&p, l, &got);
                                if (want >= 1) {
                                    cr_assert_eq(st, CLCONVT_SUCCESS, "%s", clconvt_last_error());
                                    cr_assert_eq(got, want);
                                    cr_assert_str_empty(clconvt_last_error());
                                    ++checked;
                                } else {
                                    snprintf(expect, sizeof expect,
                                             "calculated output length is %lld, which is too "
                                             "small",
                                             (long long)want);
                                    expect_error_at(__LINE__, "clconvt_output_length", st,
                                                    CLCONVT_ERROR_INVALID_PARAMETER, expect,
                                                    (const char *)NULL);
                                    cr_assert_eq(got, -777);
                                    ++refused;
                                }
                            }
    cr_assert(checked > 1000 && refused > 50, "checked %d, refused %d", checked, refused);
}

Test(validation, output_length_minus_three) {
    /* L_in 1, K 1: L_out = 0 - pad_left - pad_right + 0 + 0 + 1 = -3 with pads (2, 2). */
    clconvt_params p = base_params(0);
    p.kernel_length = 1;
    p.pad_left = p.pad_right = 2;
    p.output_padding = 0;
    int64_t length_out = 99;
    EXPECT_ERROR(clconvt_output_length(&p, 1, &length_out), CLCONVT_ERROR_INVALID_PARAMETER,
                 "calculated output length is -3, which is too small");
    cr_assert_eq(length_out, 99);
    /* 0 is also too small; 1 is fine. */
    p.pad_right = 0;
    p.pad_left = 1;
    EXPECT_ERROR(clconvt_output_length(&p, 1, &length_out), CLCONVT_ERROR_INVALID_PARAMETER,
                 "calculated output length is 0, which is too small");
    p.pad_left = 0;
    EXPECT_OK(clconvt_output_length(&p, 1, &length_out));
    cr_assert_eq(length_out, 1);

    /* Through the layer: the layer exists (L_out depends on L_in), its forward refuses. */
    p.pad_left = p.pad_right = 2;
    clconvt_params ok = p;
    ok.pad_left = ok.pad_right = 0;
    fixture f;
    fixture_make(&f, &ok, 1, 3, 5, 1);
    clconvt_layer_release(f.layer);
    EXPECT_OK(clconvt_layer_create(support_device(), &p, &f.layer));
    EXPECT_OK(clconvt_layer_set_weight(f.layer, f.w_max_f, CLCONVT_WEIGHT_MAX, CLCONVT_F32));
    unsigned char *out = sentinel_buffer(64);
    EXPECT_ERROR(clconvt_layer_forward_host(f.layer, f.xf, out, 1, 1),
                 CLCONVT_ERROR_INVALID_PARAMETER,
                 "calculated output length is -3, which is too small");
    expect_untouched(out, 64, "L_out -3");
    /* L_in 3 gives 2*2 - 4 + 1 = 1: fine on the same layer. */
    EXPECT_OK(clconvt_layer_forward_host(f.layer, f.xf, out, 1, 3));
    free(out);
    fixture_free(&f);
}

Test(validation, length_in_and_batch) {
    clconvt_params p = base_params(0);
    int64_t length_out = 5;
    EXPECT_ERROR(clconvt_output_length(&p, 0, &length_out), CLCONVT_ERROR_INVALID_PARAMETER,
                 "length_in=0", "positive");
    EXPECT_ERROR(clconvt_output_length(&p, -4, &length_out), CLCONVT_ERROR_INVALID_PARAMETER,
                 "length_in=-4", "positive");
    EXPECT_ERROR(clconvt_output_length(&p, INT64_MIN, &length_out), CLCONVT_ERROR_INVALID_PARAMETER,
                 "length_in=-9223372036854775808");
    cr_assert_eq(length_out, 5);

    fixture f;
    fixture_make(&f, &p, 2, 6, 3, 1);
    const size_t out_bytes = f.ny * sizeof(float);
    unsigned char *out = sentinel_buffer(out_bytes);
    EXPECT_ERROR(clconvt_layer_forward_host(f.layer, f.xf, out, 2, 0),
                 CLCONVT_ERROR_INVALID_PARAMETER, "length_in=0");
    EXPECT_ERROR(clconvt_layer_forward_host(f.layer, f.xf, out, 2, -1),
                 CLCONVT_ERROR_INVALID_PARAMETER, "length_in=-1");
    /* N = 0 does not make L_in = 0 legal. */
    EXPECT_ERROR(clconvt_layer_forward_host(f.layer, f.xf, out, 0, 0),
                 CLCONVT_ERROR_INVALID_PARAMETER, "length_in=0");
    EXPECT_ERROR(clconvt_layer_forward_host(f.layer, f.xf, out, -1, 6),
                 CLCONVT_ERROR_INVALID_PARAMETER, "batch=-1", "non-negative");
    EXPECT_ERROR(clconvt_layer_forward_host(f.layer, f.xf, out, INT64_MIN, 6),
                 CLCONVT_ERROR_INVALID_PARAMETER, "batch=-9223372036854775808");
    expect_untouched(out, out_bytes, "bad batch or length");

    cl_mem in_m = device_buffer(f.nx * sizeof(float)), out_m = device_buffer(out_bytes);
    EXPECT_ERROR(clconvt_layer_forward(f.layer, NULL, in_m, out_m, -2, 6, 0, NULL, NULL),
                 CLCONVT_ERROR_INVALID_PARAMETER, "batch=-2");
    EXPECT_ERROR(clconvt_layer_forward(f.layer, NULL, in_m, out_m, 2, 0, 0, NULL, NULL),
                 CLCONVT_ERROR_INVALID_PARAMETER, "length_in=0");
    expect_device_untouched(out_m, out_bytes, "bad batch or length (cl_mem)");
    clReleaseMemObject(in_m);
    clReleaseMemObject(out_m);
    free(out);
    fixture_free(&f);
}

Test(validation, batch_zero_is_legal) {
    clconvt_params p = base_params(1);
    fixture f;
    fixture_make(&f, &p, 1, 5, 4, 1);
    unsigned char *out = sentinel_buffer(256);
    EXPECT_ERROR(clconvt_output_length(&p, 0, &(int64_t){0}), CLCONVT_ERROR_INVALID_PARAMETER,
                 "length_in=0"); /* leaves a message for the success below to clear */
    EXPECT_OK(clconvt_layer_forward_host(f.layer, f.xf, out, 0, 5));
    cr_assert_str_empty(clconvt_last_error());
    expect_untouched(out, 256, "N = 0 (host)");
    /* With no data at all: nothing is read or written. */
    EXPECT_OK(clconvt_layer_forward_host(f.layer, NULL, NULL, 0, 5));

    cl_mem out_m = device_buffer(256);
    cl_event done = NULL;
    EXPECT_OK(clconvt_layer_forward(f.layer, NULL, out_m, out_m, 0, 5, 0, NULL, &done));
    cr_assert_not_null(done, "no done event for N = 0");
    cr_assert_eq(clWaitForEvents(1, &done), CL_SUCCESS);
    cl_int exec = -1;
    cr_assert_eq(clGetEventInfo(done, CL_EVENT_COMMAND_EXECUTION_STATUS, sizeof exec, &exec, NULL),
                 CL_SUCCESS);
    cr_assert_eq(exec, CL_COMPLETE);
    clReleaseEvent(done);
    EXPECT_OK(clconvt_layer_forward(f.layer, NULL, NULL, NULL, 0, 5, 0, NULL, NULL));
    expect_device_untouched(out_m, 256, "N = 0 (cl_mem)");
    clReleaseMemObject(out_m);
    free(out);
    fixture_free(&f);
}

/* ---- Overflow ------------------------------------------------------------------------------- */

/* Status is TOO_LARGE or INVALID_PARAMETER and the message holds value_text. */
static void expect_refused_at(int line, const char *call, clconvt_status got,
                              const char *value_text) {
    const char *message = clconvt_last_error();
    cr_assert(got == CLCONVT_ERROR_TOO_LARGE || got == CLCONVT_ERROR_INVALID_PARAMETER,
              "line %d: %s returned %d (%s); message \"%s\"", line, call, (int)got,
              clconvt_status_string(got), message);
    cr_assert(strstr(message, value_text) != NULL, "line %d: %s: message \"%s\" lacks \"%s\"", line,
              call, message, value_text);
}
#define EXPECT_REFUSED(call, text) expect_refused_at(__LINE__, #call, (call), text)

Test(validation, overflowing_channels_and_kernel) {
    static const struct {
        int64_t cin, cout, k;
        const char *text;
    } cases[] = {
        {INT64_MAX, 1, 1, "9223372036854775807"},
        {1, INT64_MAX, 1, "9223372036854775807"},
        {1, 1, INT64_MAX, "9223372036854775807"},
        {INT64_MAX, INT64_MAX, INT64_MAX, "9223372036854775807"},
        {(int64_t)1 << 22, (int64_t)1 << 22, (int64_t)1 << 22, "4194304"},
        {(int64_t)1 << 31, (int64_t)1 << 31, 1, "2147483648"},
        {(int64_t)1 << 40, 1, (int64_t)1 << 21, "1099511627776"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; ++i) {
        clconvt_params p;
        clconvt_params_init(&p, cases[i].cin, cases[i].cout, cases[i].k);
        p.stride = 2;
        int64_t length_out = 0;
        EXPECT_REFUSED(clconvt_params_validate(&p), cases[i].text);
        EXPECT_REFUSED(clconvt_output_length(&p, 3, &length_out), cases[i].text);
        clconvt_layer *layer = NULL;
        EXPECT_REFUSED(clconvt_layer_create(support_device(), &p, &layer), cases[i].text);
        cr_assert_null(layer);
    }
    /* Representable but beyond the kernels' int arguments or the device's largest allocation. */
    static const struct {
        int64_t cin, cout, k;
        const char *text;
    } large[] = {
        {(int64_t)1 << 31, 1, 1, "in_channels=2147483648"},
        {1, (int64_t)1 << 31, 1, "out_channels=2147483648"},
        {1, 1, (int64_t)1 << 31, "kernel_length=2147483648"},
        {1 << 16, 1 << 16, 1 << 10, "65536"}, /* a 16 TiB packed weight */
    };
    for (size_t i = 0; i < sizeof large / sizeof large[0]; ++i) {
        clconvt_params p;
        clconvt_params_init(&p, large[i].cin, large[i].cout, large[i].k);
        p.stride = 2;
        EXPECT_OK(clconvt_params_validate(&p));
        clconvt_layer *layer = NULL;
        EXPECT_ERROR(clconvt_layer_create(support_device(), &p, &layer), CLCONVT_ERROR_TOO_LARGE,
                     large[i].text);
        cr_assert_null(layer);
    }
}

Test(validation, overflowing_stride_dilation_length) {
    clconvt_params p;
    clconvt_params_init(&p, 1, 1, 1);
    int64_t length_out = 0;
    /* stride = INT64_MAX / 2: L_in 3 gives exactly INT64_MAX, L_in 4 overflows. */
    p.stride = INT64_MAX / 2;
    EXPECT_OK(clconvt_params_validate(&p));
    EXPECT_OK(clconvt_output_length(&p, 3, &length_out));
    cr_assert_eq(length_out, INT64_MAX);
    length_out = 0;
    EXPECT_REFUSED(clconvt_output_length(&p, 4, &length_out), "overflow");
    EXPECT_REFUSED(clconvt_output_length(&p, INT64_MAX, &length_out), "overflow");
    cr_assert_eq(length_out, 0);
    clconvt_layer *layer = NULL;
    EXPECT_ERROR(clconvt_layer_create(support_device(), &p, &layer), CLCONVT_ERROR_TOO_LARGE,
                 "stride=4611686018427387903");
    cr_assert_null(layer);
    p.stride = INT64_MAX;
    EXPECT_OK(clconvt_output_length(&p, 1, &length_out));
    cr_assert_eq(length_out, 1);
    EXPECT_REFUSED(clconvt_output_length(&p, 2, &length_out), "overflow");

    /* length_in = INT64_MAX: fine with stride 1 and K 1, an overflow with anything more. */
    p.stride = 1;
    EXPECT_OK(clconvt_output_length(&p, INT64_MAX, &length_out));
    cr_assert_eq(length_out, INT64_MAX);
    p.kernel_length = 2;
    EXPECT_REFUSED(clconvt_output_length(&p, INT64_MAX, &length_out), "overflow");
    p.kernel_length = 1;
    p.output_padding = 0;
    p.stride = 2;
    EXPECT_REFUSED(clconvt_output_length(&p, INT64_MAX, &length_out), "9223372036854775807");

    /* dilation * (K - 1) overflowing. */
    p.stride = 1;
    p.dilation = INT64_MAX;
    p.kernel_length = 3;
    EXPECT_OK(clconvt_params_validate(&p));
    EXPECT_REFUSED(clconvt_output_length(&p, 1, &length_out), "overflow");
    /* The largest output_padding the rule allows, with the largest dilation. */
    p.kernel_length = 1;
    p.output_padding = INT64_MAX - 1;
    EXPECT_OK(clconvt_output_length(&p, 1, &length_out));
    cr_assert_eq(length_out, INT64_MAX);
    p.kernel_length = 2; /* one more tap than fits */
    EXPECT_REFUSED(clconvt_output_length(&p, 1, &length_out), "overflow");
}

Test(validation, overflowing_padding_message) {
    /* Huge padding: the true (negative) length does not fit int64; the message must still be
     * exact, not a wrapped value. */
    clconvt_params p;
    clconvt_params_init(&p, 1, 1, 1);
    p.pad_left = INT64_MAX;
    int64_t length_out = 0;
    EXPECT_ERROR(clconvt_output_length(&p, 1, &length_out), CLCONVT_ERROR_INVALID_PARAMETER,
                 "calculated output length is -9223372036854775806, which is too small");
    p.pad_right = INT64_MAX;
    EXPECT_ERROR(clconvt_output_length(&p, 1, &length_out), CLCONVT_ERROR_INVALID_PARAMETER,
                 "calculated output length is -18446744073709551613, which is too small");
    cr_assert_eq(length_out, 0);
}

Test(validation, overflowing_forward_sizes) {
    clconvt_params p = base_params(1);
    fixture f;
    fixture_make(&f, &p, 1, 6, 21, 1);
    const size_t out_bytes = f.ny * sizeof(float);
    unsigned char *out = sentinel_buffer(out_bytes);
    EXPECT_ERROR(clconvt_layer_forward_host(f.layer, f.xf, out, 1, INT64_MAX),
                 CLCONVT_ERROR_TOO_LARGE, "9223372036854775807");
    EXPECT_ERROR(clconvt_layer_forward_host(f.layer, f.xf, out, INT64_MAX, 6),
                 CLCONVT_ERROR_TOO_LARGE, "9223372036854775807");
    EXPECT_ERROR(clconvt_layer_forward_host(f.layer, f.xf, out, (int64_t)1 << 61, 6),
                 CLCONVT_ERROR_TOO_LARGE, "2305843009213693952");
    EXPECT_ERROR(clconvt_layer_forward_host(f.layer, f.xf, out, 1, INT64_MAX / 3),
                 CLCONVT_ERROR_TOO_LARGE, "3074457345618258602");
    expect_untouched(out, out_bytes, "overflowing forward_host");

    cl_mem in_m = device_buffer(f.nx * sizeof(float)), out_m = device_buffer(out_bytes);
    EXPECT_ERROR(clconvt_layer_forward(f.layer, NULL, in_m, out_m, 1, INT64_MAX, 0, NULL, NULL),
                 CLCONVT_ERROR_TOO_LARGE, "9223372036854775807");
    EXPECT_ERROR(clconvt_layer_forward(f.layer, NULL, in_m, out_m, INT64_MAX, 6, 0, NULL, NULL),
                 CLCONVT_ERROR_TOO_LARGE, "9223372036854775807");
    expect_device_untouched(out_m, out_bytes, "overflowing forward");
    clReleaseMemObject(in_m);
    clReleaseMemObject(out_m);
    free(out);
    fixture_free(&f);
}

Test(validation, overflowing_batch_times_stride) {
    /* batch = 2^60 with Cin = Cout = L_in = L_out = 1: every byte count fits int64, but
     * batch * stride (the kernel's third dimension) does not. A refusal either way is right; a
     * wrapped product is undefined behaviour (run this under -fsanitize=undefined to see it). */
    clconvt_params p;
    clconvt_params_init(&p, 1, 1, 1);
    p.stride = 16;
    clconvt_layer *layer = NULL;
    EXPECT_OK(clconvt_layer_create(support_device(), &p, &layer));
    const float one = 1.0f;
    EXPECT_OK(clconvt_layer_set_weight(layer, &one, CLCONVT_WEIGHT_PYTORCH, CLCONVT_F32));
    cl_mem in_m = device_buffer(64), out_m = device_buffer(64);
    const clconvt_status st =
        clconvt_layer_forward(layer, NULL, in_m, out_m, (int64_t)1 << 60, 1, 0, NULL, NULL);
    cr_assert(st == CLCONVT_ERROR_TOO_LARGE || st == CLCONVT_ERROR_SHAPE_MISMATCH,
              "got %d (%s): %s", (int)st, clconvt_status_string(st), clconvt_last_error());
    cr_assert(strstr(clconvt_last_error(), "1152921504606846976") != NULL ||
                  strstr(clconvt_last_error(), "input") != NULL,
              "message \"%s\" names neither the batch nor the input", clconvt_last_error());
    expect_device_untouched(out_m, 64, "batch * stride overflow");
    clReleaseMemObject(in_m);
    clReleaseMemObject(out_m);
    clconvt_layer_release(layer);
}

/* ---- Device buffers of the wrong size ------------------------------------------------------- */

Test(validation, device_buffers_too_small) {
    clconvt_params p = base_params(1);
    fixture f;
    fixture_make(&f, &p, 2, 6, 8, 1);
    const size_t in_bytes = f.nx * sizeof(float), out_bytes = f.ny * sizeof(float);
    char in_text[64], out_text[64];
    snprintf(in_text, sizeof in_text, "%zu", in_bytes);
    snprintf(out_text, sizeof out_text, "%zu", out_bytes);

    cl_mem in_short = device_buffer(in_bytes - sizeof(float));
    cl_mem out_short = device_buffer(out_bytes - sizeof(float));
    cl_mem in_m = device_buffer(in_bytes), out_m = device_buffer(out_bytes);
    EXPECT_ERROR(clconvt_layer_forward(f.layer, NULL, in_short, out_m, 2, 6, 0, NULL, NULL),
                 CLCONVT_ERROR_SHAPE_MISMATCH, "input", in_text);
    cr_assert(!contains_word(clconvt_last_error(), "output"), "%s", clconvt_last_error());
    EXPECT_ERROR(clconvt_layer_forward(f.layer, NULL, in_m, out_short, 2, 6, 0, NULL, NULL),
                 CLCONVT_ERROR_SHAPE_MISMATCH, "output", out_text);
    cr_assert(!contains_word(clconvt_last_error(), "input"), "%s", clconvt_last_error());
    /* Right for batch 1 but not for batch 2. */
    cl_mem in_half = device_buffer(in_bytes / 2);
    EXPECT_ERROR(clconvt_layer_forward(f.layer, NULL, in_half, out_m, 2, 6, 0, NULL, NULL),
                 CLCONVT_ERROR_SHAPE_MISMATCH, "input");
    /* Right for L_in 5 but not for 6. */
    EXPECT_ERROR(clconvt_layer_forward(f.layer, NULL, in_m, out_m, 2, 7, 0, NULL, NULL),
                 CLCONVT_ERROR_SHAPE_MISMATCH, "input");
    expect_device_untouched(out_m, out_bytes, "input too small");
    expect_device_untouched(out_short, out_bytes - sizeof(float), "output too small");

    /* Exactly the right sizes work, and give the right answer. */
    cl_command_queue queue = clconvt_device_queue(support_device());
    cr_assert_eq(clEnqueueWriteBuffer(queue, in_m, CL_TRUE, 0, in_bytes, f.xf, 0, NULL, NULL),
                 CL_SUCCESS);
    EXPECT_OK(clconvt_layer_forward(f.layer, NULL, in_m, out_m, 2, 6, 0, NULL, NULL));
    float *y = malloc(out_bytes);
    double *yd = malloc(f.ny * sizeof *yd);
    cr_assert(y && yd);
    cr_assert_eq(clEnqueueReadBuffer(queue, out_m, CL_TRUE, 0, out_bytes, y, 0, NULL, NULL),
                 CL_SUCCESS);
    for (size_t i = 0; i < f.ny; ++i)
        yd[i] = y[i];
    cr_assert(reference_normalised_error(yd, f.ref, f.ny) <= reference_error_bound(CLCONVT_F32));
    free(y);
    free(yd);
    clReleaseMemObject(in_short);
    clReleaseMemObject(out_short);
    clReleaseMemObject(in_half);
    clReleaseMemObject(in_m);
    clReleaseMemObject(out_m);
    fixture_free(&f);
}

/* ---- NULL arguments ------------------------------------------------------------------------- */

Test(validation, null_arguments) {
    clconvt_device *device = support_device();
    clconvt_params p = base_params(1);
    float values[4] = {0};
    int64_t length_out;

    EXPECT_NULL(clconvt_convert(NULL, CLCONVT_F32, values, CLCONVT_F16, 1), "src", "dst");
    EXPECT_NULL(clconvt_convert(values, CLCONVT_F32, NULL, CLCONVT_F16, 1), "dst", "src");
    EXPECT_OK(clconvt_convert(NULL, CLCONVT_F32, NULL, CLCONVT_F16, 0)); /* nothing to convert */

    EXPECT_NULL(clconvt_params_validate(NULL), "params", NULL);
    EXPECT_NULL(clconvt_output_length(NULL, 4, &length_out), "params", "length_out");
    EXPECT_NULL(clconvt_output_length(&p, 4, NULL), "length_out", "params");

    EXPECT_NULL(clconvt_device_open(CLCONVT_DEVICE_ANY, NULL, NULL), "out", NULL);
    cl_context context = clconvt_device_context(device);
    cl_device_id id = clconvt_device_id(device);
    clconvt_device *wrapped = NULL;
    EXPECT_NULL(clconvt_device_wrap(NULL, id, NULL, &wrapped), "context", "device");
    EXPECT_NULL(clconvt_device_wrap(context, NULL, NULL, &wrapped), "device", "context");
    EXPECT_NULL(clconvt_device_wrap(context, id, NULL, NULL), "out", "context");
    cr_assert_null(wrapped);
    clconvt_device_info info;
    EXPECT_NULL(clconvt_device_get_info(NULL, &info), "device", "info");
    EXPECT_NULL(clconvt_device_get_info(device, NULL), "info", "device");

    clconvt_layer *layer = NULL;
    EXPECT_NULL(clconvt_layer_create(NULL, &p, &layer), "device", "params");
    EXPECT_NULL(clconvt_layer_create(device, NULL, &layer), "params", "device");
    EXPECT_NULL(clconvt_layer_create(device, &p, NULL), "out", "params");
    cr_assert_null(layer);

    fixture f;
    fixture_make(&f, &p, 1, 4, 9, 1);
    EXPECT_NULL(clconvt_layer_set_weight(NULL, f.w_max_f, CLCONVT_WEIGHT_MAX, CLCONVT_F32), "layer",
                "host");
    EXPECT_NULL(clconvt_layer_set_weight(f.layer, NULL, CLCONVT_WEIGHT_MAX, CLCONVT_F32), "host",
                "layer");
    EXPECT_NULL(clconvt_layer_set_bias(NULL, f.bf, CLCONVT_F32), "layer", "host");
    EXPECT_NULL(clconvt_layer_set_bias(f.layer, NULL, CLCONVT_F32), "host", "layer");
    EXPECT_NULL(clconvt_layer_get_weight(NULL, f.w_max_f), "layer", "host");
    EXPECT_NULL(clconvt_layer_get_weight(f.layer, NULL), "host", "layer");

    const size_t out_bytes = f.ny * sizeof(float);
    unsigned char *out = sentinel_buffer(out_bytes);
    EXPECT_NULL(clconvt_layer_forward_host(NULL, f.xf, out, 1, 4), "layer", "in");
    EXPECT_NULL(clconvt_layer_forward_host(f.layer, NULL, out, 1, 4), "in", "out");
    EXPECT_NULL(clconvt_layer_forward_host(f.layer, f.xf, NULL, 1, 4), "out", "in");
    expect_untouched(out, out_bytes, "forward_host with a NULL argument");

    cl_mem in_m = device_buffer(f.nx * sizeof(float)), out_m = device_buffer(out_bytes);
    cl_event event = NULL;
    EXPECT_NULL(clconvt_layer_forward(NULL, NULL, in_m, out_m, 1, 4, 0, NULL, NULL), "layer", "in");
    EXPECT_NULL(clconvt_layer_forward(f.layer, NULL, NULL, out_m, 1, 4, 0, NULL, NULL), "in",
                "out");
    EXPECT_NULL(clconvt_layer_forward(f.layer, NULL, in_m, NULL, 1, 4, 0, NULL, NULL), "out", "in");
    EXPECT_NULL(clconvt_layer_forward(f.layer, NULL, in_m, out_m, 1, 4, 1, NULL, &event),
                "wait_list", NULL);
    cr_assert_null(event, "a failed forward returned an event");
    /* A wait list with num_wait 0 is a caller's mistake too. */
    EXPECT_ERROR(clconvt_layer_forward(f.layer, NULL, in_m, out_m, 1, 4, 0, &event, NULL),
                 CLCONVT_ERROR_INVALID_ARGUMENT, "num_wait=0", "wait_list");
    expect_device_untouched(out_m, out_bytes, "forward with a NULL argument");

    /* The functions without a status tolerate NULL. */
    clconvt_params_init(NULL, 1, 1, 1);
    cr_assert_eq(clconvt_layer_weight_count(NULL), 0);
    clconvt_layer_get_params(NULL, &p);
    clconvt_layer_get_params(f.layer, NULL);
    cr_assert_not_null(clconvt_layer_plan_name(NULL));
    cr_assert_null(clconvt_device_context(NULL));
    cr_assert_null(clconvt_device_id(NULL));
    cr_assert_null(clconvt_device_queue(NULL));
    clconvt_layer_release(NULL);
    clconvt_device_release(NULL);

    clReleaseMemObject(in_m);
    clReleaseMemObject(out_m);
    free(out);
    fixture_free(&f);
}

/* ---- Layer state ---------------------------------------------------------------------------- */

Test(validation, forward_before_weight_or_bias) {
    clconvt_params p = base_params(1);
    fixture f;
    fixture_make(&f, &p, 1, 5, 12, 0);
    const size_t out_bytes = f.ny * sizeof(float);
    unsigned char *out = sentinel_buffer(out_bytes);
    cl_mem in_m = device_buffer(f.nx * sizeof(float)), out_m = device_buffer(out_bytes);

    EXPECT_ERROR(clconvt_layer_forward_host(f.layer, f.xf, out, 1, 5), CLCONVT_ERROR_NOT_READY,
                 "weight");
    EXPECT_ERROR(clconvt_layer_forward(f.layer, NULL, in_m, out_m, 1, 5, 0, NULL, NULL),
                 CLCONVT_ERROR_NOT_READY, "weight");
    float *w_back = malloc(f.nw * sizeof *w_back);
    cr_assert(w_back != NULL);
    EXPECT_ERROR(clconvt_layer_get_weight(f.layer, w_back), CLCONVT_ERROR_NOT_READY, "weight");

    /* Weight but no bias on a has_bias layer. */
    EXPECT_OK(clconvt_layer_set_weight(f.layer, f.w_max_f, CLCONVT_WEIGHT_MAX, CLCONVT_F32));
    EXPECT_ERROR(clconvt_layer_forward_host(f.layer, f.xf, out, 1, 5), CLCONVT_ERROR_NOT_READY,
                 "bias");
    EXPECT_ERROR(clconvt_layer_forward(f.layer, NULL, in_m, out_m, 1, 5, 0, NULL, NULL),
                 CLCONVT_ERROR_NOT_READY, "bias");
    expect_untouched(out, out_bytes, "forward before the weight or bias");
    expect_device_untouched(out_m, out_bytes, "forward before the weight or bias");

    /* Once the bias is set, the same forward works. */
    EXPECT_OK(clconvt_layer_set_bias(f.layer, f.bf, CLCONVT_F32));
    expect_forward_matches(&f);

    /* set_bias on a layer without a bias. */
    clconvt_params no_bias = base_params(0);
    clconvt_layer *layer = NULL;
    EXPECT_OK(clconvt_layer_create(support_device(), &no_bias, &layer));
    EXPECT_ERROR(clconvt_layer_set_bias(layer, f.bf, CLCONVT_F32), CLCONVT_ERROR_INVALID_ARGUMENT,
                 "has_bias");
    clconvt_layer_release(layer);

    clReleaseMemObject(in_m);
    clReleaseMemObject(out_m);
    free(w_back);
    free(out);
    fixture_free(&f);
}

Test(validation, failed_set_weight_keeps_previous) {
    clconvt_params p = base_params(1);
    fixture f;
    fixture_make(&f, &p, 2, 9, 31, 1);
    /* Another weight the failed calls would install if they got that far. */
    float *other = malloc(f.nw * sizeof *other);
    float *w_back = malloc(f.nw * sizeof *w_back);
    cr_assert(other && w_back);
    for (size_t i = 0; i < f.nw; ++i)
        other[i] = 100.0f + (float)i;
    EXPECT_ERROR(clconvt_layer_set_weight(f.layer, other, (clconvt_weight_order)5, CLCONVT_F32),
                 CLCONVT_ERROR_INVALID_ARGUMENT, "order=5");
    EXPECT_ERROR(clconvt_layer_set_weight(f.layer, other, (clconvt_weight_order)-1, CLCONVT_F32),
                 CLCONVT_ERROR_INVALID_ARGUMENT, "order=-1");
    EXPECT_ERROR(clconvt_layer_set_weight(f.layer, other, CLCONVT_WEIGHT_MAX, (clconvt_dtype)9),
                 CLCONVT_ERROR_INVALID_ARGUMENT, "host_dtype=9");
    EXPECT_ERROR(clconvt_layer_set_bias(f.layer, other, (clconvt_dtype)7),
                 CLCONVT_ERROR_INVALID_ARGUMENT, "host_dtype=7");
    expect_forward_matches(&f);
    EXPECT_OK(clconvt_layer_get_weight(f.layer, w_back));
    cr_assert_arr_eq(w_back, f.w_max_f, f.nw * sizeof(float), "the staged weight changed");
    free(other);
    free(w_back);
    fixture_free(&f);
}

/* ---- Small helpers: status strings, last error, defaults ----------------------------------- */

Test(validation, status_strings) {
    const clconvt_status codes[] = {
        CLCONVT_SUCCESS,
        CLCONVT_ERROR_INVALID_ARGUMENT,
        CLCONVT_ERROR_INVALID_PARAMETER,
        CLCONVT_ERROR_SHAPE_MISMATCH,
        CLCONVT_ERROR_TOO_LARGE,
        CLCONVT_ERROR_OUT_OF_HOST_MEMORY,
        CLCONVT_ERROR_NO_DEVICE,
        CLCONVT_ERROR_OPENCL,
        CLCONVT_ERROR_BUILD,
        CLCONVT_ERROR_NOT_READY,
        CLCONVT_ERROR_UNSUPPORTED,
    };
    const size_t n = sizeof codes / sizeof codes[0];
    for (size_t i = 0; i < n; ++i) {
        const char *s = clconvt_status_string(codes[i]);
        cr_assert_not_null(s);
        cr_assert(s[0] != '\0', "status %d has an empty string", (int)codes[i]);
        for (size_t j = 0; j < i; ++j)
            cr_assert_str_neq(s, clconvt_status_string(codes[j]), "statuses %d and %d share \"%s\"",
                              (int)codes[i], (int)codes[j], s);
    }
    /* Unknown values still get a constant string, distinct from every real one. */
    const clconvt_status unknown[] = {(clconvt_status)1, (clconvt_status)-11,
                                      (clconvt_status)-1000};
    for (size_t i = 0; i < sizeof unknown / sizeof unknown[0]; ++i) {
        const char *s = clconvt_status_string(unknown[i]);
        cr_assert(s != NULL && s[0] != '\0');
        for (size_t j = 0; j < n; ++j)
            cr_assert_str_neq(s, clconvt_status_string(codes[j]));
    }
}

typedef struct thread_check {
    char before[256];  /* the new thread's message before it does anything */
    char after[256];   /* its message after its own failure */
    char cleared[256]; /* after a success */
} thread_check;

static void *fail_in_thread(void *arg) {
    thread_check *check = arg;
    snprintf(check->before, sizeof check->before, "%s", clconvt_last_error());
    clconvt_params p;
    clconvt_params_init(&p, 2, 2, 3);
    p.dilation = -42;
    (void)clconvt_params_validate(&p);
    snprintf(check->after, sizeof check->after, "%s", clconvt_last_error());
    p.dilation = 1;
    int64_t length_out;
    (void)clconvt_output_length(&p, 5, &length_out);
    snprintf(check->cleared, sizeof check->cleared, "%s", clconvt_last_error());
    return NULL;
}

Test(validation, last_error_is_thread_local) {
    cr_assert_str_empty(clconvt_last_error(), "a fresh thread has a message");
    clconvt_params p;
    clconvt_params_init(&p, 2, 2, 3);
    p.stride = -17;
    EXPECT_ERROR(clconvt_params_validate(&p), CLCONVT_ERROR_INVALID_PARAMETER, "stride=-17");
    char mine[256];
    snprintf(mine, sizeof mine, "%s", clconvt_last_error());

    thread_check check;
    memset(&check, 0, sizeof check);
    pthread_t thread;
    cr_assert_eq(pthread_create(&thread, NULL, fail_in_thread, &check), 0);
    cr_assert_eq(pthread_join(thread, NULL), 0);
    cr_assert_str_empty(check.before, "a new thread sees another thread's message: \"%s\"",
                        check.before);
    cr_assert(strstr(check.after, "dilation=-42") != NULL, "thread's message: \"%s\"", check.after);
    cr_assert_str_empty(check.cleared, "a success left \"%s\"", check.cleared);
    cr_assert_str_eq(clconvt_last_error(), mine, "another thread's calls changed this message");
}

Test(validation, success_clears_last_error) {
    clconvt_params bad;
    clconvt_params_init(&bad, 2, 2, 0);
    clconvt_params good;
    clconvt_params_init(&good, 3, 5, 4);
    good.stride = 2;
    int64_t length_out;
    float f = 1.0f;
    uint16_t h;
#define FAIL_THEN(call)                                                                            \
    do {                                                                                           \
        cr_assert_neq(clconvt_params_validate(&bad), CLCONVT_SUCCESS);                             \
        cr_assert(clconvt_last_error()[0] != '\0');                                                \
        EXPECT_OK(call);                                                                           \
        cr_assert_str_empty(clconvt_last_error(), "%s succeeded but left \"%s\"", #call,           \
                            clconvt_last_error());                                                 \
    } while (0)
    FAIL_THEN(clconvt_params_validate(&good));
    FAIL_THEN(clconvt_output_length(&good, 3, &length_out));
    FAIL_THEN(clconvt_convert(&f, CLCONVT_F32, &h, CLCONVT_F16, 1));
    clconvt_device *device = support_device();
    clconvt_device_info info;
    FAIL_THEN(clconvt_device_get_info(device, &info));
    clconvt_device *other = NULL;
    FAIL_THEN(clconvt_device_wrap(clconvt_device_context(device), clconvt_device_id(device), NULL,
                                  &other));
    clconvt_layer *layer = NULL;
    FAIL_THEN(clconvt_layer_create(other, &good, &layer));
    float w[3 * 5 * 4] = {0}, x[3 * 3] = {0}, y[5 * 9];
    FAIL_THEN(clconvt_layer_set_weight(layer, w, CLCONVT_WEIGHT_PYTORCH, CLCONVT_F32));
    FAIL_THEN(clconvt_layer_get_weight(layer, w));
    FAIL_THEN(clconvt_layer_forward_host(layer, x, y, 1, 3));
    clconvt_layer_release(layer);
    clconvt_device_release(other);
#undef FAIL_THEN
}

Test(validation, params_init_defaults) {
    clconvt_params p;
    memset(&p, 0x5a, sizeof p);
    clconvt_params_init(&p, 7, 9, 5);
    cr_assert_eq(p.in_channels, 7);
    cr_assert_eq(p.out_channels, 9);
    cr_assert_eq(p.kernel_length, 5);
    cr_assert_eq(p.stride, 1);
    cr_assert_eq(p.pad_left, 0);
    cr_assert_eq(p.pad_right, 0);
    cr_assert_eq(p.output_padding, 0);
    cr_assert_eq(p.dilation, 1);
    cr_assert_eq(p.groups, 1);
    cr_assert_eq(p.has_bias, 0);
    cr_assert_eq(p.layout, CLCONVT_LAYOUT_NLC);
    cr_assert_eq(p.dtype, CLCONVT_F32);
    EXPECT_OK(clconvt_params_validate(&p));
    /* The layer keeps a copy. */
    clconvt_layer *layer = NULL;
    p.stride = 2;
    EXPECT_OK(clconvt_layer_create(support_device(), &p, &layer));
    clconvt_params back;
    clconvt_layer_get_params(layer, &back);
    cr_assert_arr_eq(&back, &p, sizeof p);
    cr_assert_eq(clconvt_layer_weight_count(layer), 7 * 9 * 5);
    cr_assert(clconvt_layer_plan_name(layer)[0] != '\0');
    clconvt_layer_release(layer);
}

/* ---- dtype conversions ---------------------------------------------------------------------- */

static uint32_t bits_of(float f) {
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}

static float float_of(uint32_t u) {
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

static uint16_t to_half(float f) {
    uint16_t h;
    EXPECT_OK(clconvt_convert(&f, CLCONVT_F32, &h, CLCONVT_F16, 1));
    return h;
}

static uint16_t to_bf16(float f) {
    uint16_t h;
    EXPECT_OK(clconvt_convert(&f, CLCONVT_F32, &h, CLCONVT_BF16, 1));
    return h;
}

static float from_half(uint16_t h) {
    float f;
    EXPECT_OK(clconvt_convert(&h, CLCONVT_F16, &f, CLCONVT_F32, 1));
    return f;
}

static float from_bf16(uint16_t h) {
    float f;
    EXPECT_OK(clconvt_convert(&h, CLCONVT_BF16, &f, CLCONVT_F32, 1));
    return f;
}

static int half_is_nan(uint16_t h) {
    return (h & 0x7c00u) == 0x7c00u && (h & 0x3ffu) != 0;
}
static int bf16_is_nan(uint16_t h) {
    return (h & 0x7f80u) == 0x7f80u && (h & 0x7fu) != 0;
}

Test(validation, convert_f16_known_values) {
    static const struct {
        float value;
        uint16_t half;
    } cases[] = {
        {0.0f, 0x0000},
        {-0.0f, 0x8000},
        {1.0f, 0x3c00},
        {-2.0f, 0xc000},
        {65504.0f, 0x7bff}, /* the largest half */
        {65519.0f, 0x7bff}, /* below the halfway point to 65536: rounds down */
        {65519.99f, 0x7bff},
        {65520.0f, 0x7c00}, /* halfway, and 0x7bff is odd: rounds to infinity */
        {-65520.0f, 0xfc00},
        {1e10f, 0x7c00},
        {0x1.0p-14f, 0x0400}, /* the smallest normal */
        {0x1.0p-24f, 0x0001}, /* the smallest subnormal */
        {-0x1.0p-24f, 0x8001},
        {0x1.0p-25f, 0x0000}, /* halfway between 0 and 2^-24: to even, 0 */
        {-0x1.0p-25f, 0x8000},
        {0x1.000002p-25f, 0x0001}, /* just above halfway */
        {0x1.8p-24f, 0x0002},      /* 1.5 * 2^-24: halfway, to even 2 * 2^-24 */
        {0x1.4p-23f, 0x0002},      /* 2.5 * 2^-24: halfway, to even 2 * 2^-24 */
        {0x3ffp-24f, 0x03ff},      /* the largest subnormal */
        {0x7ffp-25f, 0x0400},      /* 1023.5 * 2^-24: halfway, to even (the smallest normal) */
        {0x7fdp-25f, 0x03fe},      /* 1022.5 * 2^-24: halfway, to even 1022 */
        {1e-30f, 0x0000},
        {-1e-30f, 0x8000},
        {1.0f + 0x1.0p-11f, 0x3c00}, /* halfway between 1 and 1 + 2^-10: to even, 1 */
        {1.0f + 0x3.0p-11f, 0x3c02}, /* halfway between 1 + 2^-10 and 1 + 2^-9: to 1 + 2^-9 */
        {1.0f + 0x1.0p-12f, 0x3c00},
        {1.0f + 0x3.0p-12f, 0x3c01}, /* above halfway */
        {2049.0f, 0x6800},           /* halfway between 2048 and 2050: 2048 */
        {2051.0f, 0x6802},           /* halfway between 2050 and 2052: 2052 */
        {INFINITY, 0x7c00},
        {-INFINITY, 0xfc00},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; ++i)
        cr_assert_eq(to_half(cases[i].value), cases[i].half, "%a -> 0x%04x, expected 0x%04x",
                     (double)cases[i].value, to_half(cases[i].value), cases[i].half);
    /* And back: exact. */
    cr_assert_eq(from_half(0x0001), 0x1.0p-24f);
    cr_assert_eq(from_half(0x8001), -0x1.0p-24f);
    cr_assert_eq(from_half(0x03ff), 0x3ffp-24f);
    cr_assert_eq(from_half(0x0400), 0x1.0p-14f);
    cr_assert_eq(from_half(0x7bff), 65504.0f);
    cr_assert_eq(from_half(0x7c00), INFINITY);
    cr_assert_eq(from_half(0xfc00), -INFINITY);
    cr_assert_eq(bits_of(from_half(0x8000)), 0x80000000u);
    /* NaN stays NaN both ways, including a NaN whose payload is only in the dropped bits. */
    cr_assert(half_is_nan(to_half(NAN)));
    cr_assert(half_is_nan(to_half(-NAN)));
    cr_assert(half_is_nan(to_half(float_of(0x7f800001u))), "signalling NaN became 0x%04x",
              to_half(float_of(0x7f800001u)));
    cr_assert(half_is_nan(to_half(float_of(0xffc00000u))));
    cr_assert(isnan(from_half(0x7e00)));
    cr_assert(isnan(from_half(0x7c01)));
    cr_assert(isnan(from_half(0xfe00)));
}

Test(validation, convert_f16_round_trip_every_value) {
    /* Every half: f16 -> f32 -> f16 is the identity (NaN stays NaN), f16 -> f32 is monotonic. */
    uint16_t *all = malloc(65536 * sizeof *all), *back = malloc(65536 * sizeof *back);
    float *wide = malloc(65536 * sizeof *wide);
    cr_assert(all && back && wide);
    for (uint32_t i = 0; i < 65536; ++i)
        all[i] = (uint16_t)i;
    EXPECT_OK(clconvt_convert(all, CLCONVT_F16, wide, CLCONVT_F32, 65536));
    EXPECT_OK(clconvt_convert(wide, CLCONVT_F32, back, CLCONVT_F16, 65536));
    for (uint32_t i = 0; i < 65536; ++i) {
        if (half_is_nan((uint16_t)i)) {
            cr_assert(isnan(wide[i]) && half_is_nan(back[i]), "NaN 0x%04x", i);
            continue;
        }
        cr_assert_eq(back[i], i, "0x%04x -> %a -> 0x%04x", i, (double)wide[i], back[i]);
        if (i > 0 && i < 0x7c00)
            cr_assert(wide[i] > wide[i - 1], "not monotonic at 0x%04x", i);
    }
    free(all);
    free(back);
    free(wide);
}

/* The half nearest to f (ties to even), found by search, not by bit tricks: an independent
 * oracle. Only for finite, non-NaN f. */
static uint16_t nearest_half(float f) {
    const double v = fabs((double)f);
    const uint16_t sign = signbit(f) ? 0x8000 : 0;
    if (v >= 65520.0)
        return sign | 0x7c00;
    uint32_t lo = 0, hi = 0x7bff; /* largest half whose value <= v, by bisection */
    while (lo < hi) {
        const uint32_t mid = (lo + hi + 1) / 2;
        if ((double)from_half((uint16_t)mid) <= v)
            lo = mid;
        else
            hi = mid - 1;
    }
    const double below = from_half((uint16_t)lo);
    if (below == v)
        return sign | (uint16_t)lo;
    const double above = lo == 0x7bff ? 65536.0 : from_half((uint16_t)(lo + 1));
    const double d_below = v - below, d_above = above - v;
    const uint32_t pick = d_below < d_above   ? lo
                          : d_above < d_below ? lo + 1
                          : (lo & 1u)         ? lo + 1
                                              : lo;
    return sign | (uint16_t)pick;
}

Test(validation, convert_f16_against_search) {
    /* A spread of binary32 patterns over every exponent (stride coprime with 2^32), plus the
     * halfway points between consecutive halves and their neighbours. */
    for (uint64_t u = 0; u < 0x100000000ull; u += 100003ull) {
        const float f = float_of((uint32_t)u);
        if (isnan(f))
            continue;
        cr_assert_eq(to_half(f), nearest_half(f), "%a (0x%08x)", (double)f, (unsigned)u);
    }
    for (uint32_t h = 0; h < 0x7bff; h += 7) {
        const double mid = ((double)from_half((uint16_t)h) + from_half((uint16_t)(h + 1))) / 2;
        const float f = (float)mid; /* exact: a half has 11 significant bits */
        cr_assert_eq((double)f, mid);
        const uint16_t even = (h & 1) ? (uint16_t)(h + 1) : (uint16_t)h;
        cr_assert_eq(to_half(f), even, "halfway above 0x%04x", h);
        cr_assert_eq(to_half(-f), 0x8000 | even);
        cr_assert_eq(to_half(nextafterf(f, 0.0f)), h, "just below halfway above 0x%04x", h);
        cr_assert_eq(to_half(nextafterf(f, INFINITY)), h + 1, "just above halfway, 0x%04x", h);
    }
}

Test(validation, convert_bf16_known_values) {
    const struct {
        float value;
        uint16_t bf16;
    } cases[] = {
        {0.0f, 0x0000},
        {-0.0f, 0x8000},
        {1.0f, 0x3f80},
        {1.0f + 0x1.0p-7f, 0x3f81},
        {1.0f + 0x1.0p-8f, 0x3f80}, /* halfway between 1 and 1 + 2^-7: to even, 1 */
        {1.0f + 0x3.0p-8f, 0x3f82}, /* halfway between 1 + 2^-7 and 1 + 2^-6: 1 + 2^-6 */
        {-(1.0f + 0x3.0p-8f), 0xbf82},
        {1.0f + 0x1.0p-8f + 0x1.0p-20f, 0x3f81}, /* just above halfway */
        {1.0f + 0x3.0p-8f - 0x1.0p-20f, 0x3f81}, /* just below halfway */
        {3.0f, 0x4040},
        {0x1.0p-133f, 0x0001},           /* the smallest bf16 subnormal */
        {0x1.0p-134f, 0x0000},           /* halfway to it: to even, 0 */
        {0x3.0p-134f, 0x0002},           /* 1.5 of it: to even, 2 */
        {0x1.fep127f, 0x7f7f},           /* the largest bf16 */
        {float_of(0x7f7f7fffu), 0x7f7f}, /* just below halfway to 2^128 */
        {float_of(0x7f7f8000u), 0x7f80}, /* halfway, 0x7f7f odd: infinity */
        {FLT_MAX, 0x7f80},
        {-FLT_MAX, 0xff80},
        {INFINITY, 0x7f80},
        {-INFINITY, 0xff80},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; ++i)
        cr_assert_eq(to_bf16(cases[i].value), cases[i].bf16, "%a -> 0x%04x, expected 0x%04x",
                     (double)cases[i].value, to_bf16(cases[i].value), cases[i].bf16);
    cr_assert_eq(from_bf16(0x3f82), 1.0f + 0x1.0p-6f);
    cr_assert_eq(from_bf16(0x0001), 0x1.0p-133f);
    cr_assert_eq(from_bf16(0xff80), -INFINITY);
    cr_assert(bf16_is_nan(to_bf16(NAN)));
    cr_assert(bf16_is_nan(to_bf16(float_of(0x7f800001u))), "signalling NaN became 0x%04x",
              to_bf16(float_of(0x7f800001u)));
    cr_assert(bf16_is_nan(to_bf16(float_of(0xff80ffffu))));
    cr_assert(bf16_is_nan(to_bf16(float_of(0x7fffffffu))), "0x7fffffff became 0x%04x",
              to_bf16(float_of(0x7fffffffu)));
    cr_assert(isnan(from_bf16(0x7fc0)));
    cr_assert(isnan(from_bf16(0x7f81)));
}

Test(validation, convert_bf16_against_nearest) {
    /* bf16 is a truncated binary32: the two candidates are the truncation and the next pattern. */
    for (uint64_t u = 0; u < 0x100000000ull; u += 65537ull) {
        const float f = float_of((uint32_t)u);
        if (isnan(f))
            continue;
        const uint16_t lo = (uint16_t)(u >> 16);
        const uint16_t hi = (uint16_t)(lo + 1);
        const double v = fabs((double)f), below = fabs((double)from_bf16(lo));
        /* Past the largest finite bf16 the next pattern is infinity, at 2^128 for rounding. */
        const double above = (hi & 0x7fffu) == 0x7f80u ? 0x1.0p128 : fabs((double)from_bf16(hi));
        const double d_below = v - below, d_above = above - v;
        uint16_t want = d_below < d_above ? lo : d_above < d_below ? hi : (lo & 1u) ? hi : lo;
        if (isinf(f))
            want = lo;
        cr_assert_eq(to_bf16(f), want, "%a (0x%08x) -> 0x%04x, expected 0x%04x", (double)f,
                     (unsigned)u, to_bf16(f), want);
    }
}

Test(validation, convert_between_half_types) {
    uint16_t h = 0x7bff, b;
    EXPECT_OK(clconvt_convert(&h, CLCONVT_F16, &b, CLCONVT_BF16, 1));
    cr_assert_eq(b, 0x4780, "65504 in bf16 is 65536 (to nearest), got 0x%04x", b);
    EXPECT_OK(clconvt_convert(&b, CLCONVT_BF16, &h, CLCONVT_F16, 1));
    cr_assert_eq(h, 0x7c00, "65536 in f16 overflows to infinity, got 0x%04x", h);
    h = 0x0001; /* 2^-24: exact in bf16 */
    EXPECT_OK(clconvt_convert(&h, CLCONVT_F16, &b, CLCONVT_BF16, 1));
    cr_assert_eq(b, 0x3380);
    /* Same dtype: a copy; in place is allowed. */
    uint16_t v[3] = {1, 2, 0x7e00};
    EXPECT_OK(clconvt_convert(v, CLCONVT_F16, v, CLCONVT_F16, 3));
    cr_assert(v[0] == 1 && v[1] == 2 && v[2] == 0x7e00);
    float f[2] = {1.5f, -2.25f}, g[2];
    EXPECT_OK(clconvt_convert(f, CLCONVT_F32, g, CLCONVT_F32, 2));
    cr_assert(g[0] == 1.5f && g[1] == -2.25f);
}

/* ---- Byte counts from environment variables ------------------------------------------------- */

static char env_dir[512];

static void env_dir_make(void) {
    test_tmpdir_make(env_dir, sizeof env_dir, "validation");
}

static void env_dir_remove(void) {
    test_tmpdir_remove(env_dir);
}

static int occurrences(const char *text, const char *word) {
    int n = 0;
    for (const char *at = strstr(text, word); at != NULL; at = strstr(at + 1, word))
        ++n;
    return n;
}

/* Two forwards with name=value: one warning naming both and the rule, and the default applies
 * (the result is right). plan: the layer's (the gemm path reads CLCONVT_GEMM_COLUMN_BYTES). */
static void expect_unusable_value_warned(const char *name, const char *value, const char *plan) {
    support_require_plan(plan);
    setenv(name, value, 1);
    const clconvt_params p = base_params(1);
    fixture f;
    fixture_make(&f, &p, 2, 19, 77, 0);
    clconvt_layer_release(f.layer);
    EXPECT_OK(clconvt_layer_create_with_plan(support_device(), &p, plan, &f.layer));
    EXPECT_OK(clconvt_layer_set_weight(f.layer, f.w_max_f, CLCONVT_WEIGHT_MAX, CLCONVT_F32));
    EXPECT_OK(clconvt_layer_set_bias(f.layer, f.bf, CLCONVT_F32));
    test_capture_stderr_begin();
    expect_forward_matches(&f);
    expect_forward_matches(&f);
    const char *captured = test_capture_stderr_end();
    char ignoring[128];
    snprintf(ignoring, sizeof ignoring, "ignoring %s=%s: not a whole number of bytes", name, value);
    cr_expect_eq(occurrences(captured, ignoring), 1, "expected one warning \"%s...\"; stderr: %s",
                 ignoring, captured);
    cr_expect(strstr(captured, "the default applies") != NULL, "stderr: %s", captured);
    fixture_free(&f);
}

Test(validation, max_alloc_bytes_garbage_is_warned, .init = env_dir_make, .fini = env_dir_remove) {
    expect_unusable_value_warned("CLCONVT_MAX_ALLOC_BYTES", "12x", NULL);
}

Test(validation, max_alloc_bytes_negative_is_warned, .init = env_dir_make, .fini = env_dir_remove) {
    expect_unusable_value_warned("CLCONVT_MAX_ALLOC_BYTES", "-600", NULL); /* strtoull wraps it */
}

Test(validation, max_alloc_bytes_zero_is_warned, .init = env_dir_make, .fini = env_dir_remove) {
    expect_unusable_value_warned("CLCONVT_MAX_ALLOC_BYTES", "0", NULL);
}

Test(validation, gemm_column_bytes_garbage_is_warned, .init = env_dir_make,
     .fini = env_dir_remove) {
    expect_unusable_value_warned("CLCONVT_GEMM_COLUMN_BYTES", "4k", "gemm");
}

Test(validation, gemm_column_bytes_too_large_is_warned, .init = env_dir_make,
     .fini = env_dir_remove) {
    expect_unusable_value_warned("CLCONVT_GEMM_COLUMN_BYTES", "99999999999999999999999", "gemm");
}

/* A piece too small for one output position blames the variable that made it so. */
Test(validation, too_large_names_max_alloc_bytes) {
    setenv("CLCONVT_MAX_ALLOC_BYTES", "389", 1);
    clconvt_params p = base_params(0);
    p.in_channels = 100; /* one input position: 400 bytes */
    fixture f;
    fixture_make(&f, &p, 1, 10, 5, 1);
    float *y = malloc(f.ny * sizeof *y);
    cr_assert(y != NULL);
    const clconvt_status st = clconvt_layer_forward_host(f.layer, f.xf, y, f.batch, f.length_in);
    cr_assert_eq(st, CLCONVT_ERROR_TOO_LARGE, "got %s: %s", clconvt_status_string(st),
                 clconvt_last_error());
    cr_expect(strstr(clconvt_last_error(), "CLCONVT_MAX_ALLOC_BYTES=389") != NULL, "%s",
              clconvt_last_error());
    cr_expect(strstr(clconvt_last_error(), "device") == NULL,
              "the message blames the device for the variable's limit: %s", clconvt_last_error());
    free(y);
    fixture_free(&f);
}

/* The 64 MiB piece target is a preference: one input position larger than it (but within the
 * device's largest allocation) is computed, not refused as too large for the device. */
Test(validation, position_above_piece_target_is_computed, .timeout = 300) {
    const int64_t cin = ((int64_t)64 << 20) / 4 + 1024; /* 4 KiB over 64 MiB per position */
    clconvt_device_info info;
    EXPECT_OK(clconvt_device_get_info(support_device(), &info));
    if (info.max_alloc_bytes < 2 * (uint64_t)cin * 4) {
        cr_skip_test("the device's largest allocation is below 128 MiB");
        return;
    }
    clconvt_params p;
    clconvt_params_init(&p, cin, 1, 1);
    float *x = malloc((size_t)cin * sizeof *x), *w = malloc((size_t)cin * sizeof *w), y = 0;
    cr_assert(x && w);
    /* Integers, so the sum is exact in any order: 1 at every 1024th channel. */
    for (int64_t i = 0; i < cin; ++i) {
        x[i] = 1.0f;
        w[i] = i % 1024 == 0 ? 1.0f : 0.0f;
    }
    clconvt_layer *layer = NULL;
    EXPECT_OK(clconvt_layer_create(support_device(), &p, &layer));
    EXPECT_OK(clconvt_layer_set_weight(layer, w, CLCONVT_WEIGHT_PYTORCH, CLCONVT_F32));
    EXPECT_OK(clconvt_layer_forward_host(layer, x, &y, 1, 1));
    cr_expect_eq(y, (float)(cin / 1024), "y = %g, expected %lld", (double)y,
                 (long long)(cin / 1024));
    clconvt_layer_release(layer);
    free(x);
    free(w);
}
