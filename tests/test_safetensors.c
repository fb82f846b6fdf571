/*
 * Safetensors checkpoints and weight norm.
 *
 * Golden part: tests/data/safetensors/ holds checkpoints written by the safetensors package's own
 * save_file from PyTorch modules (tools/gen_safetensors.py), with outputs computed by torch in
 * float64 (PyTorch's weight_norm folding g and v). Each layer is loaded by name, run, and compared.
 * Corrupted part: broken files written here, one defect at a time, each refused with a message
 * naming the file, the tensor and the defect.
 */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L
#endif

#include <criterion/criterion.h>
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "clconvt.h"
#include "npy.h"
#include "reference.h"
#include "tmpdir.h"
#include "support.h"

/* ---- Fixture and helpers ------------------------------------------------------------------- */

static char tmp_dir[256];

static void make_tmp_dir(void) {
    test_tmpdir_make(tmp_dir, sizeof tmp_dir, "st");
}

static void remove_tmp_dir(void) {
    test_tmpdir_remove(tmp_dir);
}

TestSuite(safetensors, .init = make_tmp_dir, .fini = remove_tmp_dir, .timeout = 300);

/* A path in the golden data directory (one static buffer per call site is not needed: copies). */
static const char *data_path(const char *name) {
    static char paths[8][512];
    static int next;
    const char *dir = getenv("CLCONVT_TEST_DATA");
    cr_assert_not_null(dir, "CLCONVT_TEST_DATA is not set (run through meson test)");
    char *p = paths[next++ % 8];
    snprintf(p, 512, "%s/safetensors/%s", dir, name);
    return p;
}

/* Reads a golden .npy as doubles; its shape goes to shape[] (3-D expected). */
static double *read_npy(const char *name, int64_t shape[3]) {
    npy_array a;
    char err[512] = "";
    cr_assert_eq(npy_read(data_path(name), &a, err, sizeof err), 0, "%s", err);
    cr_assert_eq(a.ndim, 3, "%s is %d-D", name, a.ndim);
    memcpy(shape, a.shape, 3 * sizeof *shape);
    double *out = malloc(a.count * sizeof *out);
    npy_to_double(&a, out);
    npy_free(&a);
    return out;
}

/* The golden layers' parameters (tools/gen_safetensors.py's LAYERS). */
typedef struct golden_layer {
    const char *name; /* tensor prefix; also names x_<name>.npy and y_<name>_<dtype>.npy */
    int64_t cin, cout, k, stride, padding, output_padding, groups;
    int bias;
} golden_layer;

static const golden_layer ups0 = {"ups.0", 16, 8, 8, 4, 2, 0, 1, 1};
static const golden_layer ups1 = {"ups.1", 8, 4, 4, 2, 1, 0, 1, 1};
static const golden_layer grouped = {"grouped", 8, 6, 6, 3, 0, 1, 2, 0};
static const golden_layer square = {"square", 6, 5, 6, 3, 1, 0, 1, 0};

static clconvt_params params_of(const golden_layer *g, clconvt_layout layout, clconvt_dtype dtype) {
    clconvt_params p;
    clconvt_params_init(&p, g->cin, g->cout, g->k);
    p.stride = g->stride;
    p.pad_left = p.pad_right = g->padding;
    p.output_padding = g->output_padding;
    p.groups = g->groups;
    p.has_bias = g->bias;
    p.layout = layout;
    p.dtype = dtype;
    return p;
}

static clconvt_layer *make_layer(const clconvt_params *p) {
    clconvt_layer *layer = NULL;
    const clconvt_status st = clconvt_layer_create(support_device(), p, &layer);
    cr_assert_eq(st, CLCONVT_SUCCESS, "clconvt_layer_create: %s", clconvt_last_error());
    return layer;
}

/* (N, C, L) -> (N, L, C), or back with the two sizes swapped. */
static void transpose_last(const double *in, double *out, int64_t n, int64_t a, int64_t b) {
    for (int64_t i = 0; i < n; ++i)
        for (int64_t x = 0; x < a; ++x)
            for (int64_t y = 0; y < b; ++y)
                out[(i * b + y) * a + x] = in[(i * a + x) * b + y];
}

/*
 * Runs the golden input of g through a loaded layer and returns the normalised error against
 * y_<expect>.npy (x and y are PyTorch layout in the files; NLC transposes both).
 */
static double run_against(clconvt_layer *layer, const golden_layer *g, const char *expect) {
    clconvt_params p;
    clconvt_layer_get_params(layer, &p);
    char name[128];
    int64_t xs[3], ys[3];
    snprintf(name, sizeof name, "x_%s.npy", g->name);
    double *x = read_npy(name, xs);
    snprintf(name, sizeof name, "y_%s.npy", expect);
    double *ref = read_npy(name, ys);
    const size_t nx = (size_t)(xs[0] * xs[1] * xs[2]), ny = (size_t)(ys[0] * ys[1] * ys[2]);
    double *tx = malloc(nx * sizeof *tx), *ty = malloc(ny * sizeof *ty);
    double *y = malloc(ny * sizeof *y);
    const int nlc = p.layout == CLCONVT_LAYOUT_NLC;
    if (nlc) {
        transpose_last(x, tx, xs[0], xs[1], xs[2]);
        transpose_last(ref, ty, ys[0], ys[1], ys[2]);
    }
    void *xin = support_to_dtype(nlc ? tx : x, nx, p.dtype);
    void *yout = malloc(ny * clconvt_dtype_size(p.dtype));
    const clconvt_status st = clconvt_layer_forward_host(layer, xin, yout, xs[0], xs[2]);
    cr_assert_eq(st, CLCONVT_SUCCESS, "forward: %s", clconvt_last_error());
    support_from_dtype(yout, ny, p.dtype, y);
    const double e = reference_normalised_error(y, nlc ? ty : ref, ny);
    void *owned[] = {x, ref, tx, ty, y, xin, yout};
    for (size_t i = 0; i < sizeof owned / sizeof owned[0]; ++i)
        free(owned[i]);
    return e;
}

/* Loads g from file (prefix name) into a fresh layer and checks it against y_<expect>.npy. */
static void check_golden(const char *file, const char *name, const golden_layer *g,
                         const char *expect, clconvt_layout layout, clconvt_dtype dtype) {
    const clconvt_params p = params_of(g, layout, dtype);
    clconvt_layer *layer = make_layer(&p);
    const clconvt_status st =
        clconvt_layer_load_safetensors(layer, data_path(file), name, CLCONVT_WEIGHT_PYTORCH);
    cr_assert_eq(st, CLCONVT_SUCCESS, "load %s from %s: %s", name, file, clconvt_last_error());
    const double e = run_against(layer, g, expect);
    const double tol = reference_error_bound(dtype);
    cr_expect_leq(e, tol, "%s from %s as %s/%s: normalised error %g > %g", name, file,
                  layout == CLCONVT_LAYOUT_NCL ? "ncl" : "nlc", clconvt_dtype_name(dtype), e, tol);
    clconvt_layer_release(layer);
}

/* ---- Golden checkpoints -------------------------------------------------------------------- */

static const char *const file_tags[] = {"f32", "f16", "bf16"};

Test(safetensors, golden_every_layer_every_file_dtype) {
    const golden_layer *layers[] = {&ups0, &ups1, &grouped, &square};
    for (size_t f = 0; f < 3; ++f) {
        char file[64], expect[64];
        snprintf(file, sizeof file, "model_%s.safetensors", file_tags[f]);
        for (size_t l = 0; l < 4; ++l) {
            snprintf(expect, sizeof expect, "%s_%s", layers[l]->name, file_tags[f]);
            check_golden(file, layers[l]->name, layers[l], expect, CLCONVT_LAYOUT_NCL, CLCONVT_F32);
        }
    }
}

Test(safetensors, golden_max_order_checkpoints_are_detected) {
    /* The same layers stored as (K, Cout/groups, Cin), weight-norm pair included. */
    for (size_t f = 0; f < 3; ++f) {
        char file[64], expect[64];
        snprintf(file, sizeof file, "model_%s.safetensors", file_tags[f]);
        snprintf(expect, sizeof expect, "ups.1_%s", file_tags[f]);
        check_golden(file, "max.ups.1", &ups1, expect, CLCONVT_LAYOUT_NCL, CLCONVT_F32);
        snprintf(expect, sizeof expect, "ups.0_%s", file_tags[f]);
        check_golden(file, "max.ups.0", &ups0, expect, CLCONVT_LAYOUT_NLC, CLCONVT_F32);
    }
}

Test(safetensors, golden_layer_dtypes_and_layouts) {
    check_golden("model_f32.safetensors", "ups.0", &ups0, "ups.0_f32", CLCONVT_LAYOUT_NLC,
                 CLCONVT_F32);
    check_golden("model_f32.safetensors", "ups.0", &ups0, "ups.0_f32", CLCONVT_LAYOUT_NCL,
                 CLCONVT_F16);
    check_golden("model_f16.safetensors", "ups.0", &ups0, "ups.0_f16", CLCONVT_LAYOUT_NLC,
                 CLCONVT_F16);
    check_golden("model_bf16.safetensors", "ups.0", &ups0, "ups.0_bf16", CLCONVT_LAYOUT_NCL,
                 CLCONVT_BF16);
    check_golden("model_f32.safetensors", "grouped", &grouped, "grouped_f32", CLCONVT_LAYOUT_NLC,
                 CLCONVT_BF16);
}

Test(safetensors, ambiguous_order_follows_the_argument) {
    /* square.weight is (6, 5, 6) with Cin == K == 6: PyTorch order is right, MAX order wrong. */
    const clconvt_params p = params_of(&square, CLCONVT_LAYOUT_NCL, CLCONVT_F32);
    clconvt_layer *layer = make_layer(&p);
    const char *file = data_path("model_f32.safetensors");
    cr_assert_eq(clconvt_layer_load_safetensors(layer, file, "square", CLCONVT_WEIGHT_PYTORCH),
                 CLCONVT_SUCCESS, "%s", clconvt_last_error());
    cr_expect_leq(run_against(layer, &square, "square_f32"), 2e-5);
    cr_assert_eq(clconvt_layer_load_safetensors(layer, file, "square", CLCONVT_WEIGHT_MAX),
                 CLCONVT_SUCCESS, "%s", clconvt_last_error());
    const double e = run_against(layer, &square, "square_f32");
    cr_expect_gt(e, 0.05, "reading the ambiguous weight in MAX order should change the result");
    clconvt_layer_release(layer);
}

/* Folds g into v in double (PyTorch order), independently of the library. */
static void fold_reference(const float *g, const float *v, double *w, int64_t cin, int64_t rest) {
    for (int64_t ci = 0; ci < cin; ++ci) {
        double sum = 0.0;
        for (int64_t j = 0; j < rest; ++j)
            sum += (double)v[ci * rest + j] * v[ci * rest + j];
        for (int64_t j = 0; j < rest; ++j)
            w[ci * rest + j] = g[ci] * (double)v[ci * rest + j] / sqrt(sum);
    }
}

/* The golden ups.0 pair as float32 arrays (PyTorch order) from the .npy files. */
static void read_pair(float **g, float **v) {
    npy_array ga, va;
    char err[512] = "";
    cr_assert_eq(npy_read(data_path("ups.0.weight_g.npy"), &ga, err, sizeof err), 0, "%s", err);
    cr_assert_eq(npy_read(data_path("ups.0.weight_v.npy"), &va, err, sizeof err), 0, "%s", err);
    cr_assert(ga.type == NPY_F32 && va.type == NPY_F32 && ga.count == 16 && va.count == 16 * 8 * 8);
    *g = ga.data;
    *v = va.data;
}

Test(safetensors, loaded_weight_is_the_fold_of_g_and_v) {
    float *g, *v;
    read_pair(&g, &v);
    const int64_t count = 16 * 8 * 8;
    double *w_pt = malloc(count * sizeof *w_pt), *w_max = malloc(count * sizeof *w_max);
    fold_reference(g, v, w_pt, 16, 8 * 8);
    reference_weight_pytorch_to_max(w_pt, w_max, 16, 8, 8);
    const clconvt_params p = params_of(&ups0, CLCONVT_LAYOUT_NCL, CLCONVT_F32);
    clconvt_layer *layer = make_layer(&p);
    cr_assert_eq(clconvt_layer_load_safetensors(layer, data_path("model_f32.safetensors"), "ups.0",
                                                CLCONVT_WEIGHT_MAX),
                 CLCONVT_SUCCESS, "%s", clconvt_last_error());
    float *got = malloc(count * sizeof *got);
    cr_assert_eq(clconvt_layer_get_weight(layer, got), CLCONVT_SUCCESS);
    for (int64_t i = 0; i < count; ++i)
        cr_assert(fabs(got[i] - w_max[i]) <= 1e-6 * fabs(w_max[i]) + 1e-12,
                  "weight[%lld] = %.9g, expected %.9g", (long long)i, got[i], w_max[i]);
    clconvt_layer_release(layer);
    free(g), free(v), free(w_pt), free(w_max), free(got);
}

/* ---- clconvt_layer_set_weight_norm --------------------------------------------------------- */

Test(safetensors, set_weight_norm_both_orders_and_dtypes) {
    float *g, *v;
    read_pair(&g, &v);
    const int64_t count = 16 * 8 * 8;
    const clconvt_params p = params_of(&ups0, CLCONVT_LAYOUT_NCL, CLCONVT_F32);
    clconvt_layer *layer = make_layer(&p);
    /* The golden bias, from the checkpoint (set_weight_norm stages only the weight). */
    cr_assert_eq(clconvt_layer_load_safetensors(layer, data_path("model_f32.safetensors"), "ups.0",
                                                CLCONVT_WEIGHT_MAX),
                 CLCONVT_SUCCESS, "%s", clconvt_last_error());
    /* Spoil the weight, so that only set_weight_norm can make the output right again. */
    float *zeros = calloc(count, sizeof *zeros);
    cr_assert_eq(clconvt_layer_set_weight(layer, zeros, CLCONVT_WEIGHT_MAX, CLCONVT_F32),
                 CLCONVT_SUCCESS);
    cr_assert_gt(run_against(layer, &ups0, "ups.0_f32"), 0.1);

    cr_assert_eq(clconvt_layer_set_weight_norm(layer, g, v, CLCONVT_WEIGHT_PYTORCH, CLCONVT_F32),
                 CLCONVT_SUCCESS, "%s", clconvt_last_error());
    cr_expect_leq(run_against(layer, &ups0, "ups.0_f32"), 2e-5, "PyTorch order");

    double *vd = malloc(count * sizeof *vd), *vmax = malloc(count * sizeof *vmax);
    float *vmax_f = malloc(count * sizeof *vmax_f);
    for (int64_t i = 0; i < count; ++i)
        vd[i] = v[i];
    reference_weight_pytorch_to_max(vd, vmax, 16, 8, 8);
    for (int64_t i = 0; i < count; ++i)
        vmax_f[i] = (float)vmax[i];
    cr_assert_eq(clconvt_layer_set_weight(layer, zeros, CLCONVT_WEIGHT_MAX, CLCONVT_F32),
                 CLCONVT_SUCCESS);
    cr_assert_eq(clconvt_layer_set_weight_norm(layer, g, vmax_f, CLCONVT_WEIGHT_MAX, CLCONVT_F32),
                 CLCONVT_SUCCESS, "%s", clconvt_last_error());
    cr_expect_leq(run_against(layer, &ups0, "ups.0_f32"), 2e-5, "MAX order");

    /* f16 host data: compare with the f16 checkpoint's expected output. */
    uint16_t *g16 = malloc(16 * sizeof *g16), *v16 = malloc(count * sizeof *v16);
    cr_assert_eq(clconvt_convert(g, CLCONVT_F32, g16, CLCONVT_F16, 16), CLCONVT_SUCCESS);
    cr_assert_eq(clconvt_convert(v, CLCONVT_F32, v16, CLCONVT_F16, count), CLCONVT_SUCCESS);
    cr_assert_eq(clconvt_layer_load_safetensors(layer, data_path("model_f16.safetensors"), "ups.0",
                                                CLCONVT_WEIGHT_MAX),
                 CLCONVT_SUCCESS, "%s", clconvt_last_error());
    cr_assert_eq(clconvt_layer_set_weight(layer, zeros, CLCONVT_WEIGHT_MAX, CLCONVT_F32),
                 CLCONVT_SUCCESS);
    cr_assert_eq(
        clconvt_layer_set_weight_norm(layer, g16, v16, CLCONVT_WEIGHT_PYTORCH, CLCONVT_F16),
        CLCONVT_SUCCESS, "%s", clconvt_last_error());
    cr_expect_leq(run_against(layer, &ups0, "ups.0_f16"), 2e-5, "f16 host data");
    clconvt_layer_release(layer);
    void *owned[] = {g, v, zeros, vd, vmax, vmax_f, g16, v16};
    for (size_t i = 0; i < sizeof owned / sizeof owned[0]; ++i)
        free(owned[i]);
}

Test(safetensors, set_weight_norm_refuses_bad_arguments_and_zero_channels) {
    clconvt_params p;
    clconvt_params_init(&p, 3, 2, 2);
    clconvt_layer *layer = make_layer(&p);
    float g[3] = {1, 2, 3}, v[12];
    for (int i = 0; i < 12; ++i)
        v[i] = (float)(i + 1);
    /* PyTorch order (3, 2, 2): channel 1 is v[4..8). */
    v[4] = v[5] = v[6] = v[7] = 0.0f;
    cr_assert_eq(clconvt_layer_set_weight_norm(layer, g, v, CLCONVT_WEIGHT_PYTORCH, CLCONVT_F32),
                 CLCONVT_ERROR_INVALID_PARAMETER);
    cr_expect_not_null(strstr(clconvt_last_error(), "all zeros for input channel 1"), "%s",
                       clconvt_last_error());
    /* Nothing was staged. */
    float w[12];
    cr_assert_eq(clconvt_layer_get_weight(layer, w), CLCONVT_ERROR_NOT_READY);
    /* In MAX order (2, 2, 3) the same values put no zero channel anywhere: accepted. */
    cr_assert_eq(clconvt_layer_set_weight_norm(layer, g, v, CLCONVT_WEIGHT_MAX, CLCONVT_F32),
                 CLCONVT_SUCCESS, "%s", clconvt_last_error());
    /* And the folded weight has per-channel norm |g|: channel 2 of MAX order is v[2], v[5], ... */
    cr_assert_eq(clconvt_layer_get_weight(layer, w), CLCONVT_SUCCESS);
    for (int ci = 0; ci < 3; ++ci) {
        double sum = 0;
        for (int j = 0; j < 4; ++j)
            sum += (double)w[j * 3 + ci] * w[j * 3 + ci];
        cr_expect(fabs(sqrt(sum) - g[ci]) < 1e-6 * g[ci], "channel %d norm %g != g %g", ci,
                  sqrt(sum), g[ci]);
    }
    cr_assert_eq(clconvt_layer_set_weight_norm(NULL, g, v, CLCONVT_WEIGHT_MAX, CLCONVT_F32),
                 CLCONVT_ERROR_INVALID_ARGUMENT);
    cr_assert_eq(clconvt_layer_set_weight_norm(layer, NULL, v, CLCONVT_WEIGHT_MAX, CLCONVT_F32),
                 CLCONVT_ERROR_INVALID_ARGUMENT);
    cr_expect_not_null(strstr(clconvt_last_error(), "g must not be NULL"), "%s",
                       clconvt_last_error());
    cr_assert_eq(clconvt_layer_set_weight_norm(layer, g, v, (clconvt_weight_order)7, CLCONVT_F32),
                 CLCONVT_ERROR_INVALID_ARGUMENT);
    cr_expect_not_null(strstr(clconvt_last_error(), "order=7"), "%s", clconvt_last_error());
    cr_assert_eq(clconvt_layer_set_weight_norm(layer, g, v, CLCONVT_WEIGHT_MAX, (clconvt_dtype)9),
                 CLCONVT_ERROR_INVALID_ARGUMENT);
    cr_expect_not_null(strstr(clconvt_last_error(), "host_dtype=9"), "%s", clconvt_last_error());
    clconvt_layer_release(layer);
}

/* ---- Loading rules ------------------------------------------------------------------------- */

/* Asserts status and that the message holds every fragment (NULL-terminated). */
static void expect_error(clconvt_status got, clconvt_status want, const char *const *fragments) {
    const char *message = clconvt_last_error();
    cr_assert_eq(got, want, "status %d (%s), expected %d; message: %s", (int)got,
                 clconvt_status_string(got), (int)want, message);
    for (const char *const *f = fragments; *f != NULL; ++f)
        cr_assert_not_null(strstr(message, *f), "message lacks \"%s\": %s", *f, message);
}

#define FRAGMENTS(...) ((const char *const[]){__VA_ARGS__, NULL})

Test(safetensors, bias_rules_name_the_setting) {
    const char *file = data_path("model_f32.safetensors");
    /* grouped has no bias in the file: a has_bias layer must refuse it. */
    clconvt_params p = params_of(&grouped, CLCONVT_LAYOUT_NCL, CLCONVT_F32);
    p.has_bias = 1;
    clconvt_layer *layer = make_layer(&p);
    expect_error(clconvt_layer_load_safetensors(layer, file, "grouped", CLCONVT_WEIGHT_MAX),
                 CLCONVT_ERROR_NOT_FOUND,
                 FRAGMENTS("model_f32.safetensors", "'grouped.bias'", "has_bias=1"));
    cr_assert_eq(clconvt_layer_get_weight(layer, (float[8 * 3 * 6]){0}), CLCONVT_ERROR_NOT_READY,
                 "a refused load must not stage the weight");
    clconvt_layer_release(layer);
    /* ups.1 has one: a layer without has_bias must refuse it, naming the setting. */
    p = params_of(&ups1, CLCONVT_LAYOUT_NCL, CLCONVT_F32);
    p.has_bias = 0;
    layer = make_layer(&p);
    expect_error(clconvt_layer_load_safetensors(layer, file, "ups.1", CLCONVT_WEIGHT_MAX),
                 CLCONVT_ERROR_SHAPE_MISMATCH, FRAGMENTS("'ups.1.bias'", "has_bias=0"));
    clconvt_layer_release(layer);
}

Test(safetensors, shape_and_name_errors) {
    const char *file = data_path("model_f32.safetensors");
    golden_layer wrong = ups1;
    wrong.cin = 7; /* the file has Cin 8 */
    clconvt_params p = params_of(&wrong, CLCONVT_LAYOUT_NCL, CLCONVT_F32);
    clconvt_layer *layer = make_layer(&p);
    expect_error(clconvt_layer_load_safetensors(layer, file, "ups.1", CLCONVT_WEIGHT_MAX),
                 CLCONVT_ERROR_SHAPE_MISMATCH,
                 FRAGMENTS("'ups.1.weight' has shape (8, 4, 4)", "(7, 4, 4) from PyTorch",
                           "(4, 4, 7) from MAX"));
    expect_error(clconvt_layer_load_safetensors(layer, file, "ups.9", CLCONVT_WEIGHT_MAX),
                 CLCONVT_ERROR_NOT_FOUND,
                 FRAGMENTS("no tensor 'ups.9.weight'", "'ups.9.weight_g' + 'ups.9.weight_v'",
                           "'ups.0'", "'max.ups.1'"));
    expect_error(clconvt_layer_load_safetensors(layer, file, "ups.1", (clconvt_weight_order)3),
                 CLCONVT_ERROR_INVALID_ARGUMENT, FRAGMENTS("order_if_ambiguous", "got 3"));
    expect_error(clconvt_layer_load_safetensors(layer, NULL, "ups.1", CLCONVT_WEIGHT_MAX),
                 CLCONVT_ERROR_INVALID_ARGUMENT, FRAGMENTS("path must not be NULL"));
    expect_error(clconvt_layer_load_safetensors(layer, test_tmp_path("absent.safetensors"), "ups.1",
                                                CLCONVT_WEIGHT_MAX),
                 CLCONVT_ERROR_FILE, FRAGMENTS("absent.safetensors: cannot open"));
    expect_error(clconvt_layer_load_safetensors(layer, tmp_dir, "ups.1", CLCONVT_WEIGHT_MAX),
                 CLCONVT_ERROR_FILE, FRAGMENTS("not a regular file"));
    clconvt_layer_release(layer);
}

Test(safetensors, tensor_shape_reports_shape_and_dtype) {
    int64_t shape[CLCONVT_SAFETENSORS_MAX_DIMS];
    int ndim = -1;
    clconvt_dtype dtype = CLCONVT_F32;
    cr_assert_eq(clconvt_safetensors_tensor_shape(data_path("model_bf16.safetensors"),
                                                  "ups.0.weight_v", shape, &ndim, &dtype),
                 CLCONVT_SUCCESS, "%s", clconvt_last_error());
    cr_assert(ndim == 3 && shape[0] == 16 && shape[1] == 8 && shape[2] == 8 &&
              dtype == CLCONVT_BF16);
    cr_assert_eq(clconvt_safetensors_tensor_shape(data_path("model_f16.safetensors"),
                                                  "ups.0.weight_g", shape, &ndim, &dtype),
                 CLCONVT_SUCCESS, "%s", clconvt_last_error());
    cr_assert(ndim == 3 && shape[0] == 16 && shape[1] == 1 && shape[2] == 1 &&
              dtype == CLCONVT_F16);
    cr_assert_eq(clconvt_safetensors_tensor_shape(data_path("model_f32.safetensors"), "ups.1.bias",
                                                  shape, &ndim, NULL),
                 CLCONVT_SUCCESS, "%s", clconvt_last_error());
    cr_assert(ndim == 1 && shape[0] == 4);
    ndim = -1;
    expect_error(clconvt_safetensors_tensor_shape(data_path("model_f32.safetensors"), "nope", shape,
                                                  &ndim, &dtype),
                 CLCONVT_ERROR_NOT_FOUND, FRAGMENTS("has no tensor 'nope'"));
    cr_assert_eq(ndim, -1, "a failed call must not write");
    expect_error(clconvt_safetensors_tensor_shape(data_path("model_f32.safetensors"), "nope", NULL,
                                                  &ndim, &dtype),
                 CLCONVT_ERROR_INVALID_ARGUMENT, FRAGMENTS("shape must not be NULL"));
}

/* ---- Files written here -------------------------------------------------------------------- */

/* Writes the 8-byte little-endian length, header (length bytes of it) and data_size bytes of data
 * (a ramp, or zeros when data is NULL) to name in the temporary directory; returns the path. */
static const char *write_file(const char *name, uint64_t length, const char *header,
                              size_t data_size) {
    const char *path = test_tmp_path(name);
    FILE *f = fopen(path, "wb");
    cr_assert_not_null(f);
    unsigned char len[8];
    for (int i = 0; i < 8; ++i)
        len[i] = (unsigned char)(length >> (8 * i));
    fwrite(len, 1, 8, f);
    fwrite(header, 1, strlen(header), f);
    for (size_t i = 0; i < data_size; ++i)
        fputc((int)(i & 0x3f), f);
    fclose(f);
    return path;
}

static const char *write_st(const char *name, const char *header, size_t data_size) {
    return write_file(name, strlen(header), header, data_size);
}

/* A valid file: a is F32 (2, 3) at [0, 24), b is F16 (4,) at [24, 32), plus metadata. */
#define VALID_HEADER                                                                               \
    "{\"__metadata__\":{\"format\":\"pt\"},"                                                       \
    "\"a\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,24]},"                           \
    "\"b\":{\"dtype\":\"F16\",\"shape\":[4],\"data_offsets\":[24,32]}}"

static void expect_bad(const char *path, clconvt_status want, const char *const *fragments) {
    int64_t shape[CLCONVT_SAFETENSORS_MAX_DIMS];
    int ndim;
    /* "a" itself is always fine: the whole file is validated, not just the tensor asked for. */
    expect_error(clconvt_safetensors_tensor_shape(path, "a", shape, &ndim, NULL), want, fragments);
    cr_assert_not_null(strstr(clconvt_last_error(), path), "message lacks the path: %s",
                       clconvt_last_error());
}

Test(safetensors, written_valid_file_and_padding) {
    int64_t shape[CLCONVT_SAFETENSORS_MAX_DIMS];
    int ndim;
    clconvt_dtype dtype;
    const char *path = write_st("ok.safetensors", VALID_HEADER, 32);
    cr_assert_eq(clconvt_safetensors_tensor_shape(path, "a", shape, &ndim, &dtype), CLCONVT_SUCCESS,
                 "%s", clconvt_last_error());
    cr_assert(ndim == 2 && shape[0] == 2 && shape[1] == 3 && dtype == CLCONVT_F32);
    /* Writers may pad the header with spaces (for alignment). */
    path = write_st("padded.safetensors", VALID_HEADER "       ", 32);
    cr_assert_eq(clconvt_safetensors_tensor_shape(path, "b", shape, &ndim, &dtype), CLCONVT_SUCCESS,
                 "%s", clconvt_last_error());
    cr_assert(ndim == 1 && shape[0] == 4 && dtype == CLCONVT_F16);
    /* Scalars and empty tensors are legal. */
    path = write_st("scalar.safetensors",
                    "{\"s\":{\"dtype\":\"BF16\",\"shape\":[],\"data_offsets\":[0,2]},"
                    "\"e\":{\"dtype\":\"F32\",\"shape\":[0,5],\"data_offsets\":[2,2]}}",
                    2);
    cr_assert_eq(clconvt_safetensors_tensor_shape(path, "s", shape, &ndim, &dtype), CLCONVT_SUCCESS,
                 "%s", clconvt_last_error());
    cr_assert(ndim == 0 && dtype == CLCONVT_BF16);
}

Test(safetensors, corrupt_sizes) {
    expect_bad(write_file("short.safetensors", 0, "", 0), CLCONVT_ERROR_FILE,
               FRAGMENTS("header length 0 is too short for a JSON object"));
    const char *path = test_tmp_path("tiny.safetensors");
    FILE *f = fopen(path, "wb");
    fwrite("abc", 1, 3, f);
    fclose(f);
    expect_bad(path, CLCONVT_ERROR_FILE,
               FRAGMENTS("the file is 3 bytes long, too short for a safetensors file"));
    expect_bad(write_file("absurd.safetensors", UINT64_MAX, VALID_HEADER, 32), CLCONVT_ERROR_FILE,
               FRAGMENTS("header length field says 18446744073709551615 bytes"));
    /* Truncated inside the data area: b now reaches past its end. */
    expect_bad(write_st("truncated.safetensors", VALID_HEADER, 30), CLCONVT_ERROR_FILE,
               FRAGMENTS("tensor 'b'", "[24, 32] reach past the end of the 30-byte data area"));
    /* Truncated inside the header. */
    path = write_file("cut.safetensors", strlen(VALID_HEADER) + 100, VALID_HEADER, 0);
    expect_bad(path, CLCONVT_ERROR_FILE, FRAGMENTS("header length field says"));
    expect_bad(write_file("one.safetensors", 1, "{", 0), CLCONVT_ERROR_FILE,
               FRAGMENTS("too short for a JSON object"));
    /* Over the format's 100 MB header limit, in a sparse file that really is that long. */
    path = write_file("huge_header.safetensors", 100000001, "{", 0);
    cr_assert_eq(truncate(path, 8 + 100000001 + 16), 0);
    expect_bad(path, CLCONVT_ERROR_FILE, FRAGMENTS("exceeds the format's limit"));
    unlink(path);
}

Test(safetensors, corrupt_offsets) {
    expect_bad(write_st("range.safetensors",
                        "{\"a\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,24]},"
                        "\"b\":{\"dtype\":\"F16\",\"shape\":[4],\"data_offsets\":[32,40]}}",
                        32),
               CLCONVT_ERROR_FILE,
               FRAGMENTS("tensor 'b'", "[32, 40] reach past the end of the 32-byte data area"));
    expect_bad(write_st("overlap.safetensors",
                        "{\"a\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,24]},"
                        "\"b\":{\"dtype\":\"F16\",\"shape\":[4],\"data_offsets\":[16,24]}}",
                        24),
               CLCONVT_ERROR_FILE, FRAGMENTS("tensors 'a'", "and 'b'", "overlap"));
    expect_bad(write_st("hole.safetensors",
                        "{\"a\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,24]},"
                        "\"b\":{\"dtype\":\"F16\",\"shape\":[4],\"data_offsets\":[28,36]}}",
                        36),
               CLCONVT_ERROR_FILE,
               FRAGMENTS("bytes 24 to 28 of the data area belong to no tensor"));
    expect_bad(write_st("trailing.safetensors", VALID_HEADER, 40), CLCONVT_ERROR_FILE,
               FRAGMENTS("data area holds 40 bytes but its tensors end at byte 32"));
    expect_bad(write_st("reversed.safetensors",
                        "{\"a\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[8,0]}}", 8),
               CLCONVT_ERROR_FILE, FRAGMENTS("tensor 'a'", "[8, 0] end before they begin"));
    expect_bad(write_st("offsets3.safetensors",
                        "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8,9]}}", 8),
               CLCONVT_ERROR_FILE, FRAGMENTS("tensor 'a' has no \"data_offsets\" [begin, end]"));
    expect_bad(write_st("nooffsets.safetensors", "{\"a\":{\"dtype\":\"F32\",\"shape\":[2]}}", 8),
               CLCONVT_ERROR_FILE, FRAGMENTS("tensor 'a' has no \"data_offsets\""));
    expect_bad(write_st("negoffset.safetensors",
                        "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[-8,0]}}", 8),
               CLCONVT_ERROR_FILE, FRAGMENTS("data_offsets"));
}

Test(safetensors, corrupt_header_json) {
    expect_bad(write_st("badjson.safetensors", "{\"a\":{\"dtype\":\"F32\",", 0), CLCONVT_ERROR_FILE,
               FRAGMENTS("header is not valid JSON"));
    expect_bad(write_st("array.safetensors", "[1, 2, 3]", 0), CLCONVT_ERROR_FILE,
               FRAGMENTS("does not start with '{'"));
    expect_bad(write_st("garbage.safetensors", VALID_HEADER "xyz", 32), CLCONVT_ERROR_FILE,
               FRAGMENTS("data after its JSON object"));
    expect_bad(write_st("entry.safetensors", "{\"a\":[1,2]}", 0), CLCONVT_ERROR_FILE,
               FRAGMENTS("tensor 'a': its header entry is an array, not an object"));
    expect_bad(write_st("dup.safetensors",
                        "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
                        "\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}",
                        8),
               CLCONVT_ERROR_FILE, FRAGMENTS("tensor name 'a' appears more than once"));
    /* An empty header is a valid file with no tensors: the tensor is simply not there. */
    expect_bad(write_st("empty.safetensors", "{}", 0), CLCONVT_ERROR_NOT_FOUND,
               FRAGMENTS("has no tensor 'a'"));
}

Test(safetensors, corrupt_entries) {
    expect_bad(write_st("dtype.safetensors",
                        "{\"a\":{\"dtype\":\"F33\",\"shape\":[2,3],\"data_offsets\":[0,24]}}", 24),
               CLCONVT_ERROR_FILE,
               FRAGMENTS("tensor 'a' has dtype \"F33\", which is not a safetensors dtype"));
    expect_bad(write_st("dtypenum.safetensors",
                        "{\"a\":{\"dtype\":4,\"shape\":[2,3],\"data_offsets\":[0,24]}}", 24),
               CLCONVT_ERROR_FILE, FRAGMENTS("tensor 'a' has no \"dtype\" string, it is a number"));
    expect_bad(write_st("length.safetensors",
                        "{\"a\":{\"dtype\":\"F32\",\"shape\":[2,4],\"data_offsets\":[0,24]}}", 24),
               CLCONVT_ERROR_FILE,
               FRAGMENTS("tensor 'a': shape (2, 4) of F32 needs 8 x 4 bytes, but data_offsets "
                         "[0, 24] span 24 bytes"));
    expect_bad(write_st("negshape.safetensors",
                        "{\"a\":{\"dtype\":\"F32\",\"shape\":[2,-3],\"data_offsets\":[0,24]}}", 24),
               CLCONVT_ERROR_FILE,
               FRAGMENTS("tensor 'a': shape[1] is a number, not a non-negative"));
    expect_bad(write_st("fracshape.safetensors",
                        "{\"a\":{\"dtype\":\"F32\",\"shape\":[2.5],\"data_offsets\":[0,10]}}", 10),
               CLCONVT_ERROR_FILE, FRAGMENTS("shape[0]"));
    expect_bad(write_st("strshape.safetensors",
                        "{\"a\":{\"dtype\":\"F32\",\"shape\":\"2,3\",\"data_offsets\":[0,24]}}",
                        24),
               CLCONVT_ERROR_FILE, FRAGMENTS("tensor 'a' has no \"shape\" array, it is a string"));
    expect_bad(write_st("overflow.safetensors",
                        "{\"a\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296,16],"
                        "\"data_offsets\":[0,0]}}",
                        0),
               CLCONVT_ERROR_FILE, FRAGMENTS("tensor 'a'", "overflows 64 bits"));
    expect_bad(write_st("overflow2.safetensors",
                        "{\"a\":{\"dtype\":\"F64\",\"shape\":[4294967296,1073741824],"
                        "\"data_offsets\":[0,0]}}",
                        0),
               CLCONVT_ERROR_FILE, FRAGMENTS("tensor 'a'", "needs 4611686018427387904 x 8 bytes"));
    expect_bad(write_st("huge.safetensors",
                        "{\"a\":{\"dtype\":\"F32\",\"shape\":[1e300],\"data_offsets\":[0,0]}}", 0),
               CLCONVT_ERROR_FILE, FRAGMENTS("below 2^53"));
}

Test(safetensors, unsupported_dtype_and_names) {
    const char *path = write_st("ints.safetensors",
                                "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
                                "\"i.weight\":{\"dtype\":\"I64\",\"shape\":[1,1,1],"
                                "\"data_offsets\":[4,12]}}",
                                12);
    int64_t shape[CLCONVT_SAFETENSORS_MAX_DIMS];
    int ndim;
    expect_error(clconvt_safetensors_tensor_shape(path, "i.weight", shape, &ndim, NULL),
                 CLCONVT_ERROR_UNSUPPORTED,
                 FRAGMENTS("tensor 'i.weight' has dtype I64; clconvt reads F32, F16 and BF16"));
    clconvt_params p;
    clconvt_params_init(&p, 1, 1, 1);
    clconvt_layer *layer = make_layer(&p);
    expect_error(clconvt_layer_load_safetensors(layer, path, "i", CLCONVT_WEIGHT_MAX),
                 CLCONVT_ERROR_UNSUPPORTED, FRAGMENTS("'i.weight' has dtype I64"));
    /* Weight norm needs both halves; a layer has a plain weight or the pair, not both. */
    path = write_st("half.safetensors",
                    "{\"l.weight_v\":{\"dtype\":\"F32\",\"shape\":[1,1,1],\"data_offsets\":[0,4]}}",
                    4);
    expect_error(clconvt_layer_load_safetensors(layer, path, "l", CLCONVT_WEIGHT_MAX),
                 CLCONVT_ERROR_NOT_FOUND,
                 FRAGMENTS("has 'l.weight_v' but no 'l.weight_g' (weight norm needs both)"));
    path = write_st("both.safetensors",
                    "{\"l.weight\":{\"dtype\":\"F32\",\"shape\":[1,1,1],\"data_offsets\":[0,4]},"
                    "\"l.weight_g\":{\"dtype\":\"F32\",\"shape\":[1,1,1],\"data_offsets\":[4,8]},"
                    "\"l.weight_v\":{\"dtype\":\"F32\",\"shape\":[1,1,1],\"data_offsets\":[8,12]}}",
                    12);
    expect_error(clconvt_layer_load_safetensors(layer, path, "l", CLCONVT_WEIGHT_MAX),
                 CLCONVT_ERROR_FILE, FRAGMENTS("holds both 'l.weight'", "one or the other"));
    /* weight_g must hold Cin values. */
    path = write_st("gshape.safetensors",
                    "{\"l.weight_g\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                    "\"l.weight_v\":{\"dtype\":\"F32\",\"shape\":[1,1,1],\"data_offsets\":[8,12]}}",
                    12);
    expect_error(clconvt_layer_load_safetensors(layer, path, "l", CLCONVT_WEIGHT_MAX),
                 CLCONVT_ERROR_SHAPE_MISMATCH,
                 FRAGMENTS("'l.weight_g' has shape (2,)", "(1, 1, 1), (1,) or (1, 1, 1)"));
    clconvt_layer_release(layer);
}

/* cJSON keeps names as C strings: a "\u0000" in one would cut it short and load "l.weight" for
 * "l.weight\u0000junk". Such names are refused; an escaped backslash before u0000 is no NUL. */
Test(safetensors, names_with_nul_are_refused) {
    const char *path = write_st("nul.safetensors",
                                "{\"l.weight\\u0000junk\":{\"dtype\":\"F32\",\"shape\":[1,1,1],"
                                "\"data_offsets\":[0,4]}}",
                                4);
    clconvt_params p;
    clconvt_params_init(&p, 1, 1, 1);
    clconvt_layer *layer = make_layer(&p);
    expect_error(
        clconvt_layer_load_safetensors(layer, path, "l", CLCONVT_WEIGHT_MAX), CLCONVT_ERROR_FILE,
        FRAGMENTS("nul.safetensors: a name in the header holds a NUL character (\\u0000)"));
    /* In the metadata too: any key cJSON would cut is refused. */
    path = write_st("nul_meta.safetensors",
                    "{\"__metadata__\":{\"a\\u0000b\":\"x\"},"
                    "\"l.weight\":{\"dtype\":\"F32\",\"shape\":[1,1,1],\"data_offsets\":[0,4]}}",
                    4);
    expect_error(clconvt_layer_load_safetensors(layer, path, "l", CLCONVT_WEIGHT_MAX),
                 CLCONVT_ERROR_FILE, FRAGMENTS("holds a NUL character"));
    /* "\\u0000" is a backslash, then "u0000": a legal name, loaded (and not "l.weight"). */
    path = write_st("backslash.safetensors",
                    "{\"l.weight\\\\u0000\":{\"dtype\":\"F32\",\"shape\":[1,1,1],"
                    "\"data_offsets\":[0,4]}}",
                    4);
    expect_error(clconvt_layer_load_safetensors(layer, path, "l", CLCONVT_WEIGHT_MAX),
                 CLCONVT_ERROR_NOT_FOUND, FRAGMENTS("has no tensor 'l.weight'"));
    int64_t shape[CLCONVT_SAFETENSORS_MAX_DIMS];
    int ndim = 0;
    cr_assert_eq(clconvt_safetensors_tensor_shape(path, "l.weight\\u0000", shape, &ndim, NULL),
                 CLCONVT_SUCCESS, "%s", clconvt_last_error());
    clconvt_layer_release(layer);
}

/* A FIFO (or a device) would block a read for ever: refused by kind, never read. */
Test(safetensors, fifo_is_refused_without_blocking) {
    const char *path = test_tmp_path("fifo.safetensors");
    cr_assert_eq(mkfifo(path, 0600), 0);
    expect_bad(path, CLCONVT_ERROR_FILE,
               FRAGMENTS("fifo.safetensors: is a FIFO, not a regular file"));
    clconvt_params p;
    clconvt_params_init(&p, 1, 1, 1);
    clconvt_layer *layer = make_layer(&p);
    expect_error(clconvt_layer_load_safetensors(layer, path, "", CLCONVT_WEIGHT_MAX),
                 CLCONVT_ERROR_FILE, FRAGMENTS("is a FIFO, not a regular file"));
    clconvt_layer_release(layer);
}

/* Float32 little-endian bytes of v into buf (for files written by hand). */
static void put_f32(unsigned char *buf, float v) {
    memcpy(buf, &v, 4);
}

Test(safetensors, empty_prefix_and_large_unused_tensors) {
    /*
     * A bare nn.ConvTranspose1d state_dict ("weight", "bias"), next to a 300 MB tensor the load
     * does not need. The file is sparse; reading it whole would be slow and use the memory.
     * x = ones(1, 1, 2), w = [1, 2] (1, 1, 2), b = [0.5], stride 2: y = [1.5, 2.5, 1.5, 2.5].
     */
    const char *path = test_tmp_path("bare.safetensors");
    const char *header = "{\"bias\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
                         "\"weight\":{\"dtype\":\"F32\",\"shape\":[1,1,2],\"data_offsets\":[4,12]},"
                         "\"zz.unused\":{\"dtype\":\"U8\",\"shape\":[300000000],"
                         "\"data_offsets\":[12,300000012]}}";
    write_file("bare.safetensors", strlen(header), header, 0);
    FILE *f = fopen(path, "r+b");
    unsigned char data[12];
    put_f32(data, 0.5f);
    put_f32(data + 4, 1.0f);
    put_f32(data + 8, 2.0f);
    fseek(f, 0, SEEK_END);
    fwrite(data, 1, sizeof data, f);
    fclose(f);
    cr_assert_eq(truncate(path, (off_t)(8 + strlen(header) + 300000012)), 0);

    clconvt_params p;
    clconvt_params_init(&p, 1, 1, 2);
    p.stride = 2;
    p.has_bias = 1;
    clconvt_layer *layer = make_layer(&p);
    cr_assert_eq(clconvt_layer_load_safetensors(layer, path, "", CLCONVT_WEIGHT_PYTORCH),
                 CLCONVT_SUCCESS, "%s", clconvt_last_error());
    const float x[2] = {1, 1};
    float y[4] = {0};
    cr_assert_eq(clconvt_layer_forward_host(layer, x, y, 1, 2), CLCONVT_SUCCESS, "%s",
                 clconvt_last_error());
    const float want[4] = {1.5f, 2.5f, 1.5f, 2.5f};
    for (int i = 0; i < 4; ++i)
        cr_expect_eq(y[i], want[i], "y[%d] = %g, expected %g", i, y[i], want[i]);

    /* A failed load (a corrupt file) leaves the loaded layer as it was. */
    expect_error(clconvt_layer_load_safetensors(layer, write_st("bad.safetensors", "[]", 0), "",
                                                CLCONVT_WEIGHT_MAX),
                 CLCONVT_ERROR_FILE, FRAGMENTS("bad.safetensors"));
    memset(y, 0, sizeof y);
    cr_assert_eq(clconvt_layer_forward_host(layer, x, y, 1, 2), CLCONVT_SUCCESS);
    for (int i = 0; i < 4; ++i)
        cr_expect_eq(y[i], want[i], "after a failed load: y[%d] = %g", i, y[i]);
    clconvt_layer_release(layer);
    unlink(path);
}
