/*
 * clconvt-run end to end: the binary named by $CLCONVT_RUN is spawned on .npy files written here,
 * and its output is compared with the SPEC's known values and the float64 reference. Every error
 * case checks the exit code, a one-line message naming the problem, and that the output file was
 * neither created nor changed.
 */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L
#endif
#define _XOPEN_SOURCE 700 /* mknod, for private copies of /dev/null and /dev/full */

#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/un.h>
#include <unistd.h>

#include "clconvt.h"
#include "npy.h"
#include "reference.h"
#include "run_tool.h"
#include "tmpdir.h"

/* ---- Fixture ------------------------------------------------------------------------------- */

static char tmp_dir[256];

static void make_tmp_dir(void) {
    test_tmpdir_make(tmp_dir, sizeof tmp_dir, "cli");
}

static void remove_tmp_dir(void) {
    test_tmpdir_remove(tmp_dir);
}

TestSuite(cli, .init = make_tmp_dir, .fini = remove_tmp_dir, .timeout = 300);

/* ---- Helpers ------------------------------------------------------------------------------- */

static int file_exists(const char *path) {
    struct stat st;
    return stat(path, &st) == 0;
}

/*
 * Runs clconvt-run with args (NULL-terminated, without the program name); stdout and stderr go to
 * files in the temporary directory. Returns the exit status, or 128 + signal. A run that blocks
 * (on a FIFO, say) is killed and fails the test rather than hang the suite.
 */
static int run_cli(const char *const *args) {
    const char *exe = getenv("CLCONVT_RUN");
    cr_assert_not_null(exe, "CLCONVT_RUN is not set (run through meson test)");
    return test_run_tool_within(exe, args, test_tmp_path("stdout.txt"), test_tmp_path("stderr.txt"),
                                120);
}

static void write_npy(const char *name, npy_type type, int ndim, const int64_t *shape,
                      const void *data) {
    char err[512] = "";
    cr_assert_eq(npy_write(test_tmp_path(name), type, ndim, shape, data, err, sizeof err), 0, "%s",
                 err);
}

static void write_f32(const char *name, int ndim, const int64_t *shape, const float *data) {
    write_npy(name, NPY_F32, ndim, shape, data);
}

/* Runs args and asserts success with an empty stderr. */
static void expect_success(const char *const *args) {
    const int rc = run_cli(args);
    char *err = test_read_text(test_tmp_path("stderr.txt"));
    cr_assert_eq(rc, 0, "clconvt-run failed (%d): %s", rc, err);
    cr_assert_str_empty(err, "unexpected stderr: %s", err);
    free(err);
}

/* Reads output name, checks its type and shape, and returns its values as doubles. */
static double *read_output(const char *name, npy_type type, int ndim, const int64_t *shape) {
    npy_array a;
    char err[512] = "";
    cr_assert_eq(npy_read(test_tmp_path(name), &a, err, sizeof err), 0, "%s", err);
    cr_assert_eq(a.type, type, "output type %d, expected %d", a.type, type);
    cr_assert_eq(a.ndim, ndim, "output has %d dims, expected %d", a.ndim, ndim);
    for (int i = 0; i < ndim; ++i)
        cr_assert_eq(a.shape[i], shape[i], "output dim %d is %lld, expected %lld", i,
                     (long long)a.shape[i], (long long)shape[i]);
    double *out = malloc((a.count ? a.count : 1) * sizeof *out);
    npy_to_double(&a, out);
    npy_free(&a);
    return out;
}

/* Deterministic values in [-1, 1) of both signs. */
static uint64_t rng_state;

static void rng_seed(uint64_t seed) {
    rng_state = seed * 0x9E3779B97F4A7C15ull + 1;
}

static float rng_float(void) {
    rng_state = rng_state * 6364136223846793005ull + 1442695040888963407ull;
    return (float)((double)(rng_state >> 40) / (double)(1ull << 24) * 2.0 - 1.0);
}

static void fill_random(float *v, size_t n) {
    for (size_t i = 0; i < n; ++i)
        v[i] = rng_float();
}

static void to_double(const float *src, double *dst, size_t n) {
    for (size_t i = 0; i < n; ++i)
        dst[i] = src[i];
}

/* ---- The SPEC §5 known values ------------------------------------------------------------- */

/* x = arange(8).reshape(1, 2, 4), w = arange(12).reshape(2, 2, 3) (PyTorch order), b = [0, 1]. */
static const double known_y[2][8] = {{28, 62, 36, 78, 44, 94, 52, 62},
                                     {41, 93, 55, 121, 69, 149, 83, 93}};

static void write_known_ncl_pytorch(int batched) {
    float x[8], w[12];
    const float b[2] = {0, 1};
    for (int i = 0; i < 8; ++i)
        x[i] = (float)i;
    for (int i = 0; i < 12; ++i)
        w[i] = (float)i;
    const int64_t x_shape[3] = {1, 2, 4}, w_shape[3] = {2, 2, 3}, b_shape[1] = {2};
    write_f32("x.npy", batched ? 3 : 2, batched ? x_shape : x_shape + 1, x);
    write_f32("w.npy", 3, w_shape, w);
    write_f32("b.npy", 1, b_shape, b);
}

static void expect_known_ncl(const double *y) {
    for (int co = 0; co < 2; ++co)
        for (int o = 0; o < 8; ++o)
            cr_assert_eq(y[co * 8 + o], known_y[co][o], "y[%d][%d] = %g, expected %g", co, o,
                         y[co * 8 + o], known_y[co][o]);
}

/* The known-values run's output file name: (1, 2, 8) float32 holding known_y. */
static void expect_known_output(const char *name) {
    const int64_t shape[3] = {1, 2, 8};
    double *y = read_output(name, NPY_F32, 3, shape);
    expect_known_ncl(y);
    free(y);
}

Test(cli, known_values_ncl_pytorch_order) {
    write_known_ncl_pytorch(1);
    const char *args[] = {"--input",
                          test_tmp_path("x.npy"),
                          "--weight",
                          test_tmp_path("w.npy"),
                          "--bias",
                          test_tmp_path("b.npy"),
                          "--output",
                          test_tmp_path("y.npy"),
                          "--layout",
                          "ncl",
                          "--weight-order",
                          "pytorch",
                          "--stride",
                          "2",
                          "--padding",
                          "1",
                          "--output-padding",
                          "1",
                          NULL};
    expect_success(args);
    expect_known_output("y.npy");
}

Test(cli, known_values_nlc_max_order_by_default) {
    /* The same numbers with every array transposed: x (1, L, Cin), w (K, Cout, Cin). */
    float x[8], w[12];
    const float b[2] = {0, 1};
    for (int c = 0; c < 2; ++c)
        for (int l = 0; l < 4; ++l)
            x[l * 2 + c] = (float)(c * 4 + l);
    for (int ci = 0; ci < 2; ++ci)
        for (int co = 0; co < 2; ++co)
            for (int k = 0; k < 3; ++k)
                w[(k * 2 + co) * 2 + ci] = (float)((ci * 2 + co) * 3 + k);
    const int64_t x_shape[3] = {1, 4, 2}, w_shape[3] = {3, 2, 2}, b_shape[1] = {2};
    write_f32("x.npy", 3, x_shape, x);
    write_f32("w.npy", 3, w_shape, w);
    write_f32("b.npy", 1, b_shape, b);
    /* No --layout or --weight-order: MAX's defaults (nlc, max order) must apply. */
    const char *args[] = {
        "--input",    test_tmp_path("x.npy"), "--weight",           test_tmp_path("w.npy"),
        "--bias",     test_tmp_path("b.npy"), "--output",           test_tmp_path("y.npy"),
        "--stride=2", "--padding=1",          "--output-padding=1", NULL};
    expect_success(args);
    const int64_t shape[3] = {1, 8, 2};
    double *y = read_output("y.npy", NPY_F32, 3, shape);
    for (int o = 0; o < 8; ++o)
        for (int co = 0; co < 2; ++co)
            cr_assert_eq(y[o * 2 + co], known_y[co][o], "y[%d][%d]", o, co);
    free(y);
}

Test(cli, unbatched_input_gives_unbatched_output) {
    write_known_ncl_pytorch(0);
    const char *args[] = {"--input",
                          test_tmp_path("x.npy"),
                          "--weight",
                          test_tmp_path("w.npy"),
                          "--bias",
                          test_tmp_path("b.npy"),
                          "--output",
                          test_tmp_path("y.npy"),
                          "--layout",
                          "ncl",
                          "--weight-order",
                          "pytorch",
                          "--stride",
                          "2",
                          "--padding",
                          "1",
                          "--output-padding",
                          "1",
                          NULL};
    expect_success(args);
    const int64_t shape[2] = {2, 8};
    double *y = read_output("y.npy", NPY_F32, 2, shape);
    expect_known_ncl(y);
    free(y);
}

Test(cli, no_bias_ones) {
    /* SPEC §5: x = ones(1,1,2), w = ones(1,1,2), stride 2, no bias -> [1,1,1,1]. */
    const float ones[2] = {1, 1};
    const int64_t x_shape[3] = {1, 1, 2}, w_shape[3] = {1, 1, 2};
    write_f32("x.npy", 3, x_shape, ones);
    write_f32("w.npy", 3, w_shape, ones);
    const char *args[] = {"--input",
                          test_tmp_path("x.npy"),
                          "--weight",
                          test_tmp_path("w.npy"),
                          "--output",
                          test_tmp_path("y.npy"),
                          "--layout",
                          "ncl",
                          "--weight-order",
                          "pytorch",
                          "--stride",
                          "2",
                          NULL};
    expect_success(args);
    const int64_t shape[3] = {1, 1, 4};
    double *y = read_output("y.npy", NPY_F32, 3, shape);
    for (int i = 0; i < 4; ++i)
        cr_assert_eq(y[i], 1.0);
    free(y);
}

/* ---- Random data against the float64 reference -------------------------------------------- */

/* One random case: shapes, parameters and the CLI arguments that express them. */
typedef struct random_case {
    clconvt_params p;
    int64_t batch;
    int64_t length;
    const char *padding_arg;
    clconvt_weight_order order;
    clconvt_dtype weight_dtype; /* the weight file's type (f32 or the run's dtype) */
    clconvt_dtype bias_dtype;
    double tolerance;
} random_case;

static npy_type npy_type_for(clconvt_dtype d) {
    return d == CLCONVT_F16 ? NPY_F16 : d == CLCONVT_BF16 ? NPY_U16 : NPY_F32;
}

/* Rounds values to dtype storage in place (what the library does to them). */
static void round_to(float *v, size_t n, clconvt_dtype dtype) {
    if (dtype == CLCONVT_F32)
        return;
    uint16_t *bits = malloc(n * sizeof *bits);
    cr_assert_eq(clconvt_convert(v, CLCONVT_F32, bits, dtype, n), CLCONVT_SUCCESS);
    cr_assert_eq(clconvt_convert(bits, dtype, v, CLCONVT_F32, n), CLCONVT_SUCCESS);
    free(bits);
}

/* Writes values (already rounded to dtype) as a file of type file_dtype. */
static void write_as(const char *name, clconvt_dtype file_dtype, int ndim, const int64_t *shape,
                     const float *v, size_t n) {
    if (file_dtype == CLCONVT_F32) {
        write_f32(name, ndim, shape, v);
        return;
    }
    uint16_t *bits = malloc(n * sizeof *bits);
    cr_assert_eq(clconvt_convert(v, CLCONVT_F32, bits, file_dtype, n), CLCONVT_SUCCESS);
    write_npy(name, npy_type_for(file_dtype), ndim, shape, bits);
    free(bits);
}

static void run_random_case(const random_case *c) {
    const clconvt_params *p = &c->p;
    const int64_t cin = p->in_channels, cout = p->out_channels, k = p->kernel_length;
    const int64_t cout_g = cout / p->groups;
    const int64_t lout = (c->length - 1) * p->stride - p->pad_left - p->pad_right +
                         p->dilation * (k - 1) + p->output_padding + 1;
    const size_t nx = (size_t)(c->batch * cin * c->length), nw = (size_t)(cin * cout_g * k);
    const size_t ny = (size_t)(c->batch * cout * lout);
    float *x = malloc(nx * sizeof *x), *w = malloc(nw * sizeof *w), *b = malloc(64 * sizeof *b);
    fill_random(x, nx);
    fill_random(w, nw);
    fill_random(b, (size_t)cout);
    round_to(x, nx, p->dtype);
    round_to(w, nw, p->dtype);
    round_to(b, (size_t)cout, p->dtype);

    const int ncl = p->layout == CLCONVT_LAYOUT_NCL;
    const int64_t x_shape[3] = {c->batch, ncl ? cin : c->length, ncl ? c->length : cin};
    const int64_t w_pt_shape[3] = {cin, cout_g, k}, w_max_shape[3] = {k, cout_g, cin};
    const int max = c->order == CLCONVT_WEIGHT_MAX;
    const int64_t b_shape[1] = {cout};
    write_as("x.npy", p->dtype, 3, x_shape, x, nx);
    write_as("w.npy", c->weight_dtype, 3, max ? w_max_shape : w_pt_shape, w, nw);
    write_as("b.npy", c->bias_dtype, 1, b_shape, b, (size_t)cout);

    char stride[32], out_pad[32], dilation[32], groups[32];
    snprintf(stride, sizeof stride, "%lld", (long long)p->stride);
    snprintf(out_pad, sizeof out_pad, "%lld", (long long)p->output_padding);
    snprintf(dilation, sizeof dilation, "%lld", (long long)p->dilation);
    snprintf(groups, sizeof groups, "%lld", (long long)p->groups);
    const char *args[] = {"--input",
                          test_tmp_path("x.npy"),
                          "--weight",
                          test_tmp_path("w.npy"),
                          "--output",
                          test_tmp_path("y.npy"),
                          "--stride",
                          stride,
                          "--padding",
                          c->padding_arg,
                          "--output-padding",
                          out_pad,
                          "--dilation",
                          dilation,
                          "--groups",
                          groups,
                          "--layout",
                          ncl ? "ncl" : "nlc",
                          "--weight-order",
                          max ? "max" : "pytorch",
                          "--dtype",
                          clconvt_dtype_name(p->dtype),
                          p->has_bias ? "--bias" : NULL,
                          test_tmp_path("b.npy"),
                          NULL};
    expect_success(args);

    double *xd = malloc(nx * sizeof *xd), *wd = malloc(nw * sizeof *wd), *w_pt = malloc(nw * 8);
    double *bd = malloc((size_t)cout * sizeof *bd), *ref = malloc(ny * sizeof *ref);
    to_double(x, xd, nx);
    to_double(w, wd, nw);
    to_double(b, bd, (size_t)cout);
    if (max)
        reference_weight_max_to_pytorch(wd, w_pt, cin, cout_g, k);
    else
        memcpy(w_pt, wd, nw * sizeof *wd);
    cr_assert_eq(reference_forward(p, xd, w_pt, p->has_bias ? bd : NULL, c->batch, c->length, ref),
                 0);
    const int64_t y_shape[3] = {c->batch, ncl ? cout : lout, ncl ? lout : cout};
    double *y = read_output("y.npy", npy_type_for(p->dtype), 3, y_shape);
    const double e = reference_normalised_error(y, ref, ny);
    cr_assert_leq(e, c->tolerance, "normalised error %g > %g", e, c->tolerance);
    void *owned[] = {x, w, b, xd, wd, w_pt, bd, ref, y};
    for (size_t i = 0; i < sizeof owned / sizeof owned[0]; ++i)
        free(owned[i]);
}

/* Fills the fields reference_forward reads, without trusting the library's params_init. */
static clconvt_params make_params(int64_t cin, int64_t cout, int64_t k, int64_t stride,
                                  int64_t left, int64_t right, int64_t out_pad, int64_t dilation,
                                  int64_t groups, int has_bias, clconvt_layout layout,
                                  clconvt_dtype dtype) {
    return (clconvt_params){.in_channels = cin,
                            .out_channels = cout,
                            .kernel_length = k,
                            .stride = stride,
                            .pad_left = left,
                            .pad_right = right,
                            .output_padding = out_pad,
                            .dilation = dilation,
                            .groups = groups,
                            .has_bias = has_bias,
                            .layout = layout,
                            .dtype = dtype};
}

Test(cli, asymmetric_padding_against_reference) {
    rng_seed(1);
    const random_case c = {
        .p = make_params(3, 4, 4, 3, 1, 2, 1, 2, 1, 1, CLCONVT_LAYOUT_NCL, CLCONVT_F32),
        .batch = 2,
        .length = 7,
        .padding_arg = "1,2",
        .order = CLCONVT_WEIGHT_PYTORCH,
        .weight_dtype = CLCONVT_F32,
        .bias_dtype = CLCONVT_F32,
        .tolerance = 2e-5};
    run_random_case(&c);
}

Test(cli, groups_nlc_max_order_against_reference) {
    rng_seed(2);
    /* Cout comes from the weight's Cout/groups times --groups: 3 * 2 = 6. */
    const random_case c = {
        .p = make_params(4, 6, 5, 2, 2, 0, 0, 1, 2, 0, CLCONVT_LAYOUT_NLC, CLCONVT_F32),
        .batch = 3,
        .length = 9,
        .padding_arg = "2,0",
        .order = CLCONVT_WEIGHT_MAX,
        .weight_dtype = CLCONVT_F32,
        .bias_dtype = CLCONVT_F32,
        .tolerance = 2e-5};
    run_random_case(&c);
}

Test(cli, f16_storage_against_reference) {
    rng_seed(3);
    const random_case c = {
        .p = make_params(5, 3, 4, 2, 1, 1, 1, 1, 1, 1, CLCONVT_LAYOUT_NLC, CLCONVT_F16),
        .batch = 2,
        .length = 13,
        .padding_arg = "1",
        .order = CLCONVT_WEIGHT_MAX,
        .weight_dtype = CLCONVT_F16,
        .bias_dtype = CLCONVT_F32,
        .tolerance = 2e-3};
    run_random_case(&c);
}

Test(cli, bf16_storage_against_reference) {
    rng_seed(4);
    const random_case c = {
        .p = make_params(6, 4, 3, 3, 0, 2, 2, 1, 2, 1, CLCONVT_LAYOUT_NCL, CLCONVT_BF16),
        .batch = 1,
        .length = 11,
        .padding_arg = "0,2",
        .order = CLCONVT_WEIGHT_PYTORCH,
        .weight_dtype = CLCONVT_F32,
        .bias_dtype = CLCONVT_BF16,
        .tolerance = 1.6e-2};
    run_random_case(&c);
}

/* ---- Help and version ---------------------------------------------------------------------- */

Test(cli, help_documents_every_option) {
    const char *args[] = {"--help", NULL};
    cr_assert_eq(run_cli(args), 0);
    char *out = test_read_text(test_tmp_path("stdout.txt"));
    static const char *const needles[] = {"--input",
                                          "--weight",
                                          "--bias",
                                          "--output",
                                          "--stride",
                                          "--padding",
                                          "LEFT,RIGHT",
                                          "--output-padding",
                                          "--dilation",
                                          "--groups",
                                          "--layout",
                                          "nlc",
                                          "ncl",
                                          "--weight-order",
                                          "pytorch",
                                          "(K, Cout/groups, Cin)",
                                          "(Cin, Cout/groups, K)",
                                          "--dtype",
                                          "bf16",
                                          "--device",
                                          "--version",
                                          "Exit status"};
    for (size_t i = 0; i < sizeof needles / sizeof needles[0]; ++i)
        cr_assert_not_null(strstr(out, needles[i]), "--help does not mention %s", needles[i]);
    free(out);
}

Test(cli, version) {
    const char *args[] = {"--version", NULL};
    cr_assert_eq(run_cli(args), 0);
    char *out = test_read_text(test_tmp_path("stdout.txt"));
    cr_assert_not_null(strstr(out, "clconvt-run "), "%s", out);
    free(out);
}

/* ---- Errors -------------------------------------------------------------------------------- */

/* Asserts exit code, a single "clconvt-run: ..." line holding fragment, and no output file. */
static void expect_failure_once(const char *const *args, int code, const char *fragment) {
    const int rc = run_cli(args);
    char *err = test_read_text(test_tmp_path("stderr.txt"));
    cr_assert_eq(rc, code, "exit %d, expected %d; stderr: %s", rc, code, err);
    cr_assert_eq(strncmp(err, "clconvt-run: ", 13), 0, "stderr: %s", err);
    const char *newline = strchr(err, '\n');
    cr_assert(newline != NULL && newline[1] == '\0', "stderr is not one line: %s", err);
    cr_assert_not_null(strstr(err, fragment), "stderr lacks \"%s\": %s", fragment, err);
    free(err);
}

/*
 * Runs a failing command twice: with no output file (it must not appear) and with one already
 * there (it must be unchanged). args must name test_tmp_path("y.npy") as the output, if any.
 */
static void expect_failure(const char *const *args, int code, const char *fragment) {
    const char *out = test_tmp_path("y.npy");
    unlink(out);
    expect_failure_once(args, code, fragment);
    cr_assert(!file_exists(out), "a failed run created its output file");

    static const char sentinel[] = "not an npy file: must survive a failed run";
    FILE *f = fopen(out, "wb");
    cr_assert_not_null(f);
    fwrite(sentinel, 1, sizeof sentinel, f);
    fclose(f);
    expect_failure_once(args, code, fragment);
    char *now = test_read_text(out);
    cr_assert_eq(memcmp(now, sentinel, sizeof sentinel), 0, "a failed run changed its output");
    free(now);
    unlink(out);
    /* Nor may a temporary file be left beside it. */
    DIR *d = opendir(tmp_dir);
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        cr_assert_null(strstr(e->d_name, ".tmp"), "temporary file %s left", e->d_name);
    closedir(d);
}

/* Valid known-value files for the error cases to break one thing at a time. */
static void write_valid_files(void) {
    write_known_ncl_pytorch(1);
}

#define X "--input", test_tmp_path("x.npy")
#define W "--weight", test_tmp_path("w.npy")
#define B "--bias", test_tmp_path("b.npy")
#define Y "--output", test_tmp_path("y.npy")
#define NCL_PT "--layout", "ncl", "--weight-order", "pytorch"

Test(cli, error_missing_input) {
    write_valid_files();
    const char *args[] = {W, Y, NCL_PT, NULL};
    expect_failure(args, 2, "missing required option --input");
}

Test(cli, error_missing_output_or_weight) {
    write_valid_files();
    const char *no_weight[] = {X, Y, NULL};
    expect_failure(no_weight, 2, "--weight");
    const char *no_output[] = {X, W, NULL};
    expect_failure_once(no_output, 2, "--output");
}

Test(cli, error_unknown_option) {
    write_valid_files();
    const char *args[] = {X, W, Y, NCL_PT, "--strid", "2", NULL};
    expect_failure(args, 2, "unknown option '--strid'");
    const char *positional[] = {X, W, Y, NCL_PT, "extra", NULL};
    expect_failure(positional, 2, "'extra'");
}

Test(cli, error_duplicate_option) {
    write_valid_files();
    const char *args[] = {X, W, Y, NCL_PT, "--stride", "2", "--stride=3", NULL};
    expect_failure(args, 2, "--stride given more than once");
}

Test(cli, error_bad_integers) {
    write_valid_files();
    static const char *const bad[] = {"2x", "", " 2", "0x2", "2.0", "99999999999999999999"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; ++i) {
        const char *args[] = {X, W, Y, NCL_PT, "--stride", bad[i], NULL};
        expect_failure(args, 2, "--stride");
    }
    const char *args[] = {X, W, Y, NCL_PT, "--stride", "2x", NULL};
    expect_failure(args, 2, "'2x'");
    const char *padding[] = {X, W, Y, NCL_PT, "--padding", "1,2,3", NULL};
    expect_failure(padding, 2, "LEFT,RIGHT");
    const char *padding2[] = {X, W, Y, NCL_PT, "--padding", "1,", NULL};
    expect_failure(padding2, 2, "--padding");
}

Test(cli, error_missing_value) {
    write_valid_files();
    const char *args[] = {X, W, Y, NCL_PT, "--stride", NULL};
    expect_failure(args, 2, "--stride needs a value");
    const char *args2[] = {X, W, Y, "--layout", "--weight-order", "pytorch", NULL};
    expect_failure(args2, 2, "--layout needs a value");
}

Test(cli, error_bad_layout_order_dtype) {
    write_valid_files();
    const char *layout[] = {X, W, Y, "--layout", "NCL", NULL};
    expect_failure(layout, 2, "--layout must be nlc or ncl, got 'NCL'");
    const char *order[] = {X, W, Y, "--weight-order", "torch", NULL};
    expect_failure(order, 2, "--weight-order");
    const char *dtype[] = {X, W, Y, "--dtype", "f64", NULL};
    expect_failure(dtype, 2, "--dtype must be f32, f16 or bf16");
}

Test(cli, error_nonexistent_input) {
    write_valid_files();
    const char *args[] = {"--input", test_tmp_path("nonexistent.npy"), W, Y, NCL_PT, NULL};
    expect_failure(args, 1, "nonexistent.npy: cannot open");
}

Test(cli, error_corrupted_npy) {
    write_valid_files();
    /* Cut the weight file short: its header promises 48 bytes of data. */
    const char *w = test_tmp_path("w.npy");
    struct stat st;
    cr_assert_eq(stat(w, &st), 0);
    cr_assert_eq(truncate(w, st.st_size - 8), 0);
    const char *args[] = {X, W, Y, NCL_PT, NULL};
    expect_failure(args, 1,
                   "w.npy: header says shape (2, 2, 3) with '<f4' = 48 bytes, but the file holds "
                   "40 bytes of data");
    FILE *f = fopen(test_tmp_path("x.npy"), "wb");
    fputs("garbage", f);
    fclose(f);
    expect_failure(args, 1, "not a .npy file");
}

Test(cli, error_channel_mismatch) {
    write_valid_files();
    float x[21] = {0};
    const int64_t shape[3] = {1, 3, 7};
    write_f32("x.npy", 3, shape, x);
    const char *args[] = {X, W, Y, NCL_PT, NULL};
    expect_failure(args, 1,
                   "x.npy has 3 channels (shape (1, 3, 7), layout ncl) but the weight expects "
                   "Cin = 2");
    /* The same file read as nlc has 7 channels. */
    const char *nlc[] = {X, W, Y, "--weight-order", "pytorch", NULL};
    expect_failure(nlc, 1, "has 7 channels");
}

Test(cli, error_bad_ranks) {
    write_valid_files();
    float v[8] = {0};
    const int64_t s1[1] = {8}, s4[4] = {1, 1, 2, 4};
    write_f32("x.npy", 1, s1, v);
    const char *args[] = {X, W, Y, NCL_PT, NULL};
    expect_failure(args, 1, "(N, Cin, L)");
    write_f32("x.npy", 4, s4, v);
    expect_failure(args, 1, "unbatched (Cin, L)");
    write_valid_files();
    const int64_t s2[2] = {2, 4};
    write_f32("w.npy", 2, s2, v);
    expect_failure(args, 1, "a weight is 3-D");
}

Test(cli, error_output_padding_rule) {
    write_valid_files();
    const char *args[] = {X, W, Y, NCL_PT, "--stride", "2", "--output-padding", "3", NULL};
    expect_failure(args, 1, "output_padding=3, stride=2, dilation=1");
}

Test(cli, error_library_parameter_validation) {
    write_valid_files();
    const char *stride0[] = {X, W, Y, NCL_PT, "--stride", "0", NULL};
    expect_failure(stride0, 1, "stride=0");
    const char *negative_pad[] = {X, W, Y, NCL_PT, "--padding", "0,-1", NULL};
    expect_failure(negative_pad, 1, "pad_right=-1");
    const char *too_small[] = {X, W, Y, NCL_PT, "--padding", "10", NULL};
    expect_failure(too_small, 1, "which is too small");
    /* Cin = 2 is not divisible by 3 groups. */
    const char *groups[] = {X, W, Y, NCL_PT, "--groups", "3", NULL};
    expect_failure(groups, 1, "divisible by groups");
    const char *groups0[] = {X, W, Y, NCL_PT, "--groups", "0", NULL};
    expect_failure(groups0, 1, "groups=0");
}

Test(cli, error_dtype_mismatch) {
    write_valid_files();
    const char *args[] = {X, W, Y, NCL_PT, "--dtype", "f16", NULL};
    expect_failure(args, 1, "x.npy holds '<f4' (f32) but --dtype is f16");
    /* An f16 input with a bf16 weight: the weight must be f32 or the run's type. */
    uint16_t h[12] = {0};
    const int64_t x_shape[3] = {1, 2, 4}, w_shape[3] = {2, 2, 3};
    write_npy("x.npy", NPY_F16, 3, x_shape, h);
    write_npy("w.npy", NPY_U16, 3, w_shape, h);
    expect_failure(args, 1, "--weight");
}

Test(cli, error_bias_length) {
    write_valid_files();
    const float b[3] = {0, 1, 2};
    const int64_t shape[1] = {3};
    write_f32("b.npy", 1, shape, b);
    const char *args[] = {X, W, B, Y, NCL_PT, NULL};
    expect_failure(args, 1, "Cout = 2");
}

Test(cli, error_unwritable_output_directory) {
    write_valid_files();
    const char *args[] = {X, W, "--output", test_tmp_path("missing-dir/y.npy"), NCL_PT, NULL};
    expect_failure_once(args, 1, "missing-dir/y.npy");
}

Test(cli, error_no_matching_device_writes_nothing) {
    /* A failure after every file and parameter checked out: the device stage must not write. */
    unsetenv("CLCONVT_DEVICE");
    write_valid_files();
    const char *args[] = {X,   W, B, Y, NCL_PT, "--stride", "2", "--device", "no-such-device-xyz",
                          NULL};
    expect_failure(args, 1, "no-such-device-xyz");
}

/* ---- Checkpoints: --weights/--name and --weight-g/--weight-v ------------------------------ */

/* A file of the safetensors golden data (tests/data/safetensors, tools/gen_safetensors.py). */
static const char *golden_path(const char *name) {
    static char paths[8][512];
    static int next;
    const char *dir = getenv("CLCONVT_TEST_DATA");
    cr_assert_not_null(dir, "CLCONVT_TEST_DATA is not set (run through meson test)");
    char *p = paths[next++ % 8];
    snprintf(p, 512, "%s/safetensors/%s", dir, name);
    return p;
}

/* The golden expected output y_<name>.npy, (N, Cout, L_out) float64; count checked. */
static double *read_golden(const char *name, size_t count) {
    npy_array a;
    char err[512] = "", file[128];
    snprintf(file, sizeof file, "y_%s.npy", name);
    cr_assert_eq(npy_read(golden_path(file), &a, err, sizeof err), 0, "%s", err);
    cr_assert_eq(a.count, count, "%s holds %zu values, expected %zu", file, a.count, count);
    double *out = malloc(count * sizeof *out);
    npy_to_double(&a, out);
    npy_free(&a);
    return out;
}

/* Normalised error of tmp output y.npy (type, shape) against golden y_<expect>.npy. */
static double golden_error(const char *expect, npy_type type, int ndim, const int64_t *shape) {
    size_t count = 1;
    for (int i = 0; i < ndim; ++i)
        count *= (size_t)shape[i];
    double *y = read_output("y.npy", type, ndim, shape);
    double *ref = read_golden(expect, count);
    const double e = reference_normalised_error(y, ref, count);
    free(y);
    free(ref);
    return e;
}

#define CKPT(file) "--weights", golden_path(file)

Test(cli, checkpoint_weight_norm_layer_by_name) {
    /* HiFi-GAN-like ups.0: weight_g + weight_v + bias, PyTorch order, in each storage type. */
    static const char *const files[] = {"model_f32.safetensors", "model_f16.safetensors",
                                        "model_bf16.safetensors"};
    static const char *const expects[] = {"ups.0_f32", "ups.0_f16", "ups.0_bf16"};
    for (int i = 0; i < 3; ++i) {
        const char *args[] = {"--input",
                              golden_path("x_ups.0.npy"),
                              CKPT(files[i]),
                              "--name",
                              "ups.0",
                              "--layout",
                              "ncl",
                              "--stride",
                              "4",
                              "--padding",
                              "2",
                              Y,
                              NULL};
        expect_success(args);
        const int64_t shape[3] = {2, 8, 44};
        const double e = golden_error(expects[i], NPY_F32, 3, shape);
        cr_expect_leq(e, 2e-5, "%s: normalised error %g", files[i], e);
    }
}

Test(cli, checkpoint_max_order_nlc_and_f16) {
    /* max.ups.1 holds ups.1's weight as (K, Cout, Cin); run channels-last in f16 storage. */
    npy_array x;
    char err[512] = "";
    cr_assert_eq(npy_read(golden_path("x_ups.1.npy"), &x, err, sizeof err), 0, "%s", err);
    const int64_t n = 2, cin = 8, len = 11, cout = 4, lout = 22;
    float xt[2 * 11 * 8];
    uint16_t xh[2 * 11 * 8];
    const float *xs = x.data;
    for (int64_t b = 0; b < n; ++b)
        for (int64_t c = 0; c < cin; ++c)
            for (int64_t l = 0; l < len; ++l)
                xt[(b * len + l) * cin + c] = xs[(b * cin + c) * len + l];
    npy_free(&x);
    cr_assert_eq(clconvt_convert(xt, CLCONVT_F32, xh, CLCONVT_F16, sizeof xt / sizeof xt[0]),
                 CLCONVT_SUCCESS);
    const int64_t x_shape[3] = {n, len, cin};
    write_npy("x.npy", NPY_F16, 3, x_shape, xh);
    const char *args[] = {X,           CKPT("model_f32.safetensors"),
                          "--name",    "max.ups.1",
                          "--stride",  "2",
                          "--padding", "1",
                          "--dtype",   "f16",
                          Y,           NULL};
    expect_success(args);
    const int64_t shape[3] = {n, lout, cout};
    double *y = read_output("y.npy", NPY_F16, 3, shape);
    double *ref = read_golden("ups.1_f32", (size_t)(n * cout * lout));
    double *ref_nlc = malloc((size_t)(n * cout * lout) * sizeof *ref_nlc);
    for (int64_t b = 0; b < n; ++b)
        for (int64_t c = 0; c < cout; ++c)
            for (int64_t o = 0; o < lout; ++o)
                ref_nlc[(b * lout + o) * cout + c] = ref[(b * cout + c) * lout + o];
    const double e = reference_normalised_error(y, ref_nlc, (size_t)(n * cout * lout));
    cr_expect_leq(e, 2e-3, "normalised error %g", e);
    free(y), free(ref), free(ref_nlc);
}

Test(cli, checkpoint_ambiguous_order_uses_weight_order) {
    /* square.weight is (6, 5, 6): Cin == K, so only --weight-order can say which order it is. */
    const int64_t shape[3] = {2, 5, 34};
    const char *right[] = {"--input",
                           golden_path("x_square.npy"),
                           CKPT("model_f32.safetensors"),
                           "--name",
                           "square",
                           "--layout",
                           "ncl",
                           "--stride",
                           "3",
                           "--padding",
                           "1",
                           "--weight-order",
                           "pytorch",
                           Y,
                           NULL};
    expect_success(right);
    cr_expect_leq(golden_error("square_f32", NPY_F32, 3, shape), 2e-5);
    const char *wrong[] = {"--input",
                           golden_path("x_square.npy"),
                           CKPT("model_f32.safetensors"),
                           "--name",
                           "square",
                           "--layout",
                           "ncl",
                           "--stride",
                           "3",
                           "--padding",
                           "1",
                           Y,
                           NULL};
    expect_success(wrong);
    cr_expect_gt(golden_error("square_f32", NPY_F32, 3, shape), 0.05,
                 "the default --weight-order max should have read the weight differently");
}

/* Writes a safetensors file by hand: the 8-byte length, header, data. */
static void write_safetensors(const char *name, const char *header, const void *data, size_t size) {
    FILE *f = fopen(test_tmp_path(name), "wb");
    cr_assert_not_null(f);
    const uint64_t len = strlen(header);
    unsigned char len_bytes[8];
    for (int i = 0; i < 8; ++i)
        len_bytes[i] = (unsigned char)(len >> (8 * i));
    fwrite(len_bytes, 1, 8, f);
    fwrite(header, 1, len, f);
    fwrite(data, 1, size, f);
    fclose(f);
}

Test(cli, checkpoint_without_name_and_without_bias) {
    /* SPEC §5 ones case from a bare state_dict ("weight" only): no --name, no bias. */
    const float ones[2] = {1, 1};
    write_safetensors("bare.safetensors",
                      "{\"weight\":{\"dtype\":\"F32\",\"shape\":[1,1,2],\"data_offsets\":[0,8]}}",
                      ones, sizeof ones);
    const int64_t x_shape[3] = {1, 2, 1}; /* channels-last (the default): L = 2, Cin = 1 */
    write_f32("x.npy", 3, x_shape, ones);
    const char *args[] = {X, "--weights", test_tmp_path("bare.safetensors"), "--stride", "2",
                          Y, NULL};
    expect_success(args);
    const int64_t shape[3] = {1, 4, 1};
    double *y = read_output("y.npy", NPY_F32, 3, shape);
    for (int i = 0; i < 4; ++i)
        cr_expect_eq(y[i], 1.0, "y[%d] = %g", i, y[i]);
    free(y);
}

Test(cli, weight_g_weight_v_npy) {
    const int64_t shape[3] = {2, 8, 44};
    const char *args[] = {"--input",
                          golden_path("x_ups.0.npy"),
                          "--weight-g",
                          golden_path("ups.0.weight_g.npy"),
                          "--weight-v",
                          golden_path("ups.0.weight_v.npy"),
                          "--bias",
                          golden_path("ups.0.bias.npy"),
                          "--weight-order",
                          "pytorch",
                          "--layout",
                          "ncl",
                          "--stride",
                          "4",
                          "--padding",
                          "2",
                          Y,
                          NULL};
    expect_success(args);
    cr_expect_leq(golden_error("ups.0_f32", NPY_F32, 3, shape), 2e-5);
    /* Without the bias the output must differ: the bias really is applied. */
    const char *no_bias[] = {"--input",
                             golden_path("x_ups.0.npy"),
                             "--weight-g",
                             golden_path("ups.0.weight_g.npy"),
                             "--weight-v",
                             golden_path("ups.0.weight_v.npy"),
                             "--weight-order",
                             "pytorch",
                             "--layout",
                             "ncl",
                             "--stride",
                             "4",
                             "--padding",
                             "2",
                             Y,
                             NULL};
    expect_success(no_bias);
    cr_expect_gt(golden_error("ups.0_f32", NPY_F32, 3, shape), 1e-3);
}

Test(cli, checkpoint_usage_errors) {
    write_valid_files();
    const char *both[] = {X, W, CKPT("model_f32.safetensors"), Y, NULL};
    expect_failure(both, 2, "alternatives: give one");
    const char *bias[] = {X, CKPT("model_f32.safetensors"), B, Y, NULL};
    expect_failure(bias, 2, "--bias cannot be combined with --weights");
    const char *g_only[] = {X, "--weight-g", test_tmp_path("w.npy"), Y, NULL};
    expect_failure(g_only, 2, "--weight-g needs --weight-v too");
    const char *v_only[] = {X, "--weight-v", test_tmp_path("w.npy"), Y, NULL};
    expect_failure(v_only, 2, "--weight-v needs --weight-g too");
    const char *name_only[] = {X, W, "--name", "ups.0", Y, NULL};
    expect_failure(name_only, 2, "--name names a layer in a --weights checkpoint");
    const char *none[] = {X, Y, NULL};
    expect_failure(none, 2, "--weights CKPT.safetensors");
}

Test(cli, checkpoint_file_errors) {
    write_valid_files();
    const char *wrong_name[] = {X, CKPT("model_f32.safetensors"), "--name", "ups.7", Y, NULL};
    expect_failure(wrong_name, 1, "has no tensor 'ups.7.weight'");
    /* x.npy has 2 channels; ups.1's weight is (8, 4, 4). */
    const char *wrong_input[] = {X,   CKPT("model_f32.safetensors"), "--name", "ups.1", NCL_PT, Y,
                                 NULL};
    expect_failure(wrong_input, 1, "fits Cin = 2 (the input's channels) in neither order");
    /* With weight norm, Cin comes from weight_g, and the input is checked against it. */
    const char *wn_input[] = {X, CKPT("model_f32.safetensors"), "--name", "ups.0", NCL_PT, Y, NULL};
    expect_failure(wn_input, 1, "has 2 channels");
    /* A cut-short copy of a checkpoint: refused before any device work, output untouched. */
    FILE *in = fopen(golden_path("model_f32.safetensors"), "rb");
    cr_assert_not_null(in);
    char buf[4096];
    const size_t n = fread(buf, 1, sizeof buf, in);
    fclose(in);
    FILE *out = fopen(test_tmp_path("cut.safetensors"), "wb");
    fwrite(buf, 1, n, out);
    fclose(out);
    const char *cut[] = {X, "--weights", test_tmp_path("cut.safetensors"), "--name", "ups.1",
                         Y, NULL};
    expect_failure(cut, 1, "reach past the end of the");
    const char *missing[] = {X, "--weights", test_tmp_path("absent.safetensors"), Y, NULL};
    expect_failure(missing, 1, "absent.safetensors: cannot open");
    /* A weight_g of the wrong length (3 values for Cin = 2). */
    const float g[3] = {1, 2, 3};
    const int64_t g_shape[1] = {3};
    write_f32("g.npy", 1, g_shape, g);
    const char *bad_g[] = {
        X, "--weight-g", test_tmp_path("g.npy"), "--weight-v", test_tmp_path("w.npy"), NCL_PT,
        Y, NULL};
    expect_failure(bad_g, 1, "weight norm needs one value per input channel: (2, 1, 1)");
}

Test(cli, help_documents_checkpoints) {
    const char *args[] = {"--help", NULL};
    cr_assert_eq(run_cli(args), 0);
    char *out = test_read_text(test_tmp_path("stdout.txt"));
    static const char *const needles[] = {"--weights", "--name",      "--weight-g", "--weight-v",
                                          "weight_g",  "safetensors", "Cin == K"};
    for (size_t i = 0; i < sizeof needles / sizeof needles[0]; ++i)
        cr_assert_not_null(strstr(out, needles[i]), "--help does not mention %s", needles[i]);
    free(out);
}

/* ---- Messages ------------------------------------------------------------------------------ */

Test(cli, dtype_mismatch_names_each_accepted_type_once) {
    write_valid_files();
    double w[12] = {0};
    const int64_t w_shape[3] = {2, 2, 3};
    write_npy("w.npy", NPY_F64, 3, w_shape, w);
    const char *f32[] = {X, W, Y, NCL_PT, NULL};
    expect_failure(f32, 1,
                   "w.npy holds '<f8' (f64), but with --dtype f32 it must hold '<f4' (f32)\n");
    uint16_t h[8] = {0};
    const int64_t x_shape[3] = {1, 2, 4};
    write_npy("x.npy", NPY_F16, 3, x_shape, h);
    const char *f16[] = {X, W, Y, NCL_PT, "--dtype", "f16", NULL};
    expect_failure(f16, 1, "with --dtype f16 it must hold '<f4' (f32) or '<f2' (f16)\n");
}

Test(cli, half_a_weight_norm_pair_names_the_missing_tensor) {
    write_valid_files();
    const float one = 1;
    write_safetensors(
        "g_only.safetensors",
        "{\"l.weight_g\":{\"dtype\":\"F32\",\"shape\":[1,1,1],\"data_offsets\":[0,4]}}", &one,
        sizeof one);
    write_safetensors(
        "v_only.safetensors",
        "{\"l.weight_v\":{\"dtype\":\"F32\",\"shape\":[1,1,1],\"data_offsets\":[0,4]}}", &one,
        sizeof one);
    const char *g_only[] = {X, "--weights", test_tmp_path("g_only.safetensors"), "--name", "l",
                            Y, NULL};
    expect_failure(g_only, 1, "has 'l.weight_g' but no 'l.weight_v' (weight norm needs both)");
    const char *v_only[] = {X, "--weights", test_tmp_path("v_only.safetensors"), "--name", "l",
                            Y, NULL};
    expect_failure(v_only, 1, "has 'l.weight_v' but no 'l.weight_g' (weight norm needs both)");
}

/* ---- Special files: FIFOs, devices, links, read-only outputs ------------------------------ */

/* The known-values run (SPEC §5) writing to output. */
#define KNOWN_RUN(output)                                                                          \
    X, W, B, "--output", (output), NCL_PT, "--stride", "2", "--padding", "1", "--output-padding",  \
        "1", NULL

static mode_t lstat_mode(const char *path) {
    struct stat st;
    cr_assert_eq(lstat(path, &st), 0, "%s: %s", path, strerror(errno));
    return st.st_mode;
}

Test(cli, fifo_inputs_are_refused_without_blocking) {
    write_valid_files();
    const char *fifo = test_tmp_path("fifo");
    cr_assert_eq(mkfifo(fifo, 0600), 0);
    const char *input[] = {"--input", fifo, W, Y, NCL_PT, NULL};
    expect_failure(input, 1, "fifo: is a FIFO, not a regular file");
    const char *weight[] = {X, "--weight", fifo, Y, NCL_PT, NULL};
    expect_failure(weight, 1, "fifo: is a FIFO, not a regular file");
    const char *bias[] = {X, W, "--bias", fifo, Y, NCL_PT, NULL};
    expect_failure(bias, 1, "fifo: is a FIFO, not a regular file");
    const char *weights[] = {X, "--weights", fifo, Y, NULL};
    expect_failure(weights, 1, "fifo: is a FIFO, not a regular file");
    const char *directory[] = {"--input", tmp_dir, W, Y, NCL_PT, NULL};
    expect_failure(directory, 1, "is a directory, not a regular file");
    cr_assert(S_ISFIFO(lstat_mode(fifo)));
}

Test(cli, fifo_tuning_database_is_ignored_with_a_warning) {
    write_valid_files();
    const char *fifo = test_tmp_path("tuning.json");
    cr_assert_eq(mkfifo(fifo, 0600), 0);
    setenv("CLCONVT_TUNING_DB", fifo, 1);
    const char *args[] = {KNOWN_RUN(test_tmp_path("y.npy"))};
    cr_assert_eq(run_cli(args), 0);
    char *err = test_read_text(test_tmp_path("stderr.txt"));
    cr_assert_not_null(strstr(err, "ignoring tuning database"), "stderr: %s", err);
    cr_assert_not_null(
        strstr(err, "tuning.json (CLCONVT_TUNING_DB): is a FIFO, not a regular file"), "stderr: %s",
        err);
    free(err);
    expect_known_output("y.npy");
}

/*
 * A private copy of the character device major:minor in the temporary directory, so that a
 * regression damages the copy, not the machine's /dev; NULL where mknod is not allowed (not root).
 */
static const char *device_copy(const char *name, unsigned major, unsigned minor) {
    const char *path = test_tmp_path(name);
    if (mknodat(AT_FDCWD, path, S_IFCHR | 0666, makedev(major, minor)) != 0)
        return NULL;
    const int fd = open(path, O_WRONLY);
    if (fd < 0) { /* a nodev file system */
        unlink(path);
        return NULL;
    }
    close(fd);
    return path;
}

static void expect_character_device(const char *path, unsigned major, unsigned minor) {
    struct stat st;
    cr_assert_eq(lstat(path, &st), 0, "%s: %s", path, strerror(errno));
    cr_assert(S_ISCHR(st.st_mode), "%s is no longer a character device (mode %o, %lld bytes)", path,
              (unsigned)st.st_mode, (long long)st.st_size);
    cr_assert(st.st_rdev == makedev(major, minor), "%s is another device now", path);
}

/* The device itself only after its copy passed (or where nobody may replace it: not root). */
static int may_use_the_real_device(const char *copy) {
    return copy != NULL || geteuid() != 0;
}

Test(cli, output_to_dev_null_writes_in_place) {
    write_valid_files();
    const char *copy = device_copy("null", 1, 3);
    if (copy != NULL) {
        const char *args[] = {KNOWN_RUN(copy)};
        expect_success(args);
        expect_character_device(copy, 1, 3);
    }
    if (may_use_the_real_device(copy)) {
        const char *args[] = {KNOWN_RUN("/dev/null")};
        expect_success(args);
        expect_character_device("/dev/null", 1, 3);
    }
    cr_assert(!file_exists(test_tmp_path("y.npy")));
}

Test(cli, output_to_dev_full_reports_the_write_error) {
    write_valid_files();
    const char *copy = device_copy("full", 1, 7);
    if (copy != NULL) {
        const char *args[] = {KNOWN_RUN(copy)};
        expect_failure_once(args, 1, "full: write failed: No space left on device");
        expect_character_device(copy, 1, 7);
    }
    if (may_use_the_real_device(copy)) {
        const char *args[] = {KNOWN_RUN("/dev/full")};
        expect_failure_once(args, 1, "/dev/full: write failed: No space left on device");
        expect_character_device("/dev/full", 1, 7);
    }
}

Test(cli, output_to_a_fifo_writes_to_its_reader) {
    write_valid_files();
    const char *fifo = test_tmp_path("out.fifo");
    cr_assert_eq(mkfifo(fifo, 0600), 0);
    /* The reader is this process: opened before the run, read after it (the 184-byte output
     * fits in the pipe's buffer, so the tool never waits for it). */
    const int reader = open(fifo, O_RDONLY | O_NONBLOCK);
    cr_assert_geq(reader, 0, "%s", strerror(errno));
    const char *args[] = {KNOWN_RUN(fifo)};
    expect_success(args);
    cr_assert(S_ISFIFO(lstat_mode(fifo)), "the FIFO was replaced");
    char data[4096];
    const ssize_t n = read(reader, data, sizeof data);
    close(reader);
    cr_assert_gt(n, 0, "nothing came through the FIFO");
    const int copy = open(test_tmp_path("y.npy"), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    cr_assert_eq(write(copy, data, (size_t)n), n);
    close(copy);
    expect_known_output("y.npy");
}

Test(cli, output_to_a_fifo_without_reader_fails_at_once) {
    write_valid_files();
    const char *fifo = test_tmp_path("out.fifo");
    cr_assert_eq(mkfifo(fifo, 0600), 0);
    const char *args[] = {KNOWN_RUN(fifo)};
    expect_failure_once(args, 1, "out.fifo: is a FIFO with no reader");
    cr_assert(S_ISFIFO(lstat_mode(fifo)), "the FIFO was replaced");
}

Test(cli, output_kinds_that_are_refused) {
    write_valid_files();
    const char *socket_path = test_tmp_path("out.sock");
    const int sock = socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un address = {.sun_family = AF_UNIX};
    cr_assert_lt(strlen(socket_path), sizeof address.sun_path);
    strcpy(address.sun_path, socket_path);
    cr_assert_eq(bind(sock, (const struct sockaddr *)&address, sizeof address), 0, "%s",
                 strerror(errno));
    const char *to_socket[] = {KNOWN_RUN(socket_path)};
    expect_failure_once(to_socket, 1, "out.sock: is a socket; an output must be a regular file");
    cr_assert(S_ISSOCK(lstat_mode(socket_path)), "the socket was replaced");
    close(sock);
    const char *to_directory[] = {KNOWN_RUN(tmp_dir)};
    expect_failure_once(to_directory, 1, "is a directory; an output must be a regular file");
    /* A block device (loop0's numbers; it is never opened) where mknod is allowed. */
    const char *block = test_tmp_path("block");
    if (mknodat(AT_FDCWD, block, S_IFBLK | 0600, makedev(7, 0)) == 0) {
        const char *to_block[] = {KNOWN_RUN(block)};
        expect_failure_once(to_block, 1, "block: is a block device; an output must be");
        cr_assert(S_ISBLK(lstat_mode(block)), "the block device was replaced");
    }
}

Test(cli, output_through_a_symbolic_link_replaces_its_target) {
    write_valid_files();
    test_write_text(test_tmp_path("target.npy"), "old contents");
    const char *link = test_tmp_path("link.npy");
    cr_assert_eq(symlink("target.npy", link), 0); /* relative: resolved from the link's directory */
    const char *args[] = {KNOWN_RUN(link)};
    expect_success(args);
    cr_assert(S_ISLNK(lstat_mode(link)), "the link was replaced by a file");
    char target[64] = "";
    cr_assert_gt(readlink(link, target, sizeof target - 1), 0);
    cr_assert_str_eq(target, "target.npy");
    expect_known_output("target.npy");
    /* A dangling link is not written through (as cp refuses to). */
    const char *dangling = test_tmp_path("dangling.npy");
    cr_assert_eq(symlink("missing/nothing.npy", dangling), 0);
    const char *to_dangling[] = {KNOWN_RUN(dangling)};
    expect_failure_once(to_dangling, 1, "dangling.npy: is a dangling symbolic link");
    cr_assert(S_ISLNK(lstat_mode(dangling)));
}

Test(cli, read_only_output_is_refused) {
    write_valid_files();
    const char *out = test_tmp_path("y.npy");
    test_write_text(out, "keep me");
    cr_assert_eq(chmod(out, 0444), 0);
    const char *args[] = {KNOWN_RUN(out)};
    expect_failure_once(args, 1, "y.npy: is read-only");
    char *now = test_read_text(out);
    cr_assert_str_eq(now, "keep me", "a read-only output was replaced");
    free(now);
    cr_assert_eq(lstat_mode(out) & 07777, 0444);
    chmod(out, 0644);
}

Test(cli, replacing_an_output_keeps_its_permissions) {
    write_valid_files();
    const char *out = test_tmp_path("y.npy");
    test_write_text(out, "private");
    cr_assert_eq(chmod(out, 0600), 0);
    const char *args[] = {KNOWN_RUN(out)};
    expect_success(args);
    cr_assert_eq(lstat_mode(out) & 07777, 0600, "mode %o", lstat_mode(out) & 07777);
}

Test(cli, help_documents_special_outputs) {
    const char *args[] = {"--help", NULL};
    cr_assert_eq(run_cli(args), 0);
    char *out = test_read_text(test_tmp_path("stdout.txt"));
    static const char *const needles[] = {"/dev/null", "FIFO", "symbolic link", "read-only"};
    for (size_t i = 0; i < sizeof needles / sizeof needles[0]; ++i)
        cr_assert_not_null(strstr(out, needles[i]), "--help does not mention %s", needles[i]);
    free(out);
}

/* ---- --chunk: the stream API ------------------------------------------------------------------
 */

/* The bytes of a file (its length in *size). */
static unsigned char *read_bytes(const char *path, size_t *size) {
    FILE *f = fopen(path, "rb");
    cr_assert_not_null(f, "%s", path);
    unsigned char *data = malloc(1 << 20);
    *size = fread(data, 1, 1 << 20, f);
    fclose(f);
    return data;
}

/* --chunk N writes the very file the run without it writes: NCL and NLC, batch 2, f32 and bf16,
 * chunks of one frame, of a few and of more than the input. */
Test(cli, chunk_gives_identical_output) {
    static const char *const chunks[] = {"1", "3", "7", "1000"};
    for (int c = 0; c < 4; ++c) {
        const int ncl = c % 2, bf16 = c >= 2;
        const clconvt_dtype dtype = bf16 ? CLCONVT_BF16 : CLCONVT_F32;
        const int64_t cin = 5, cout = 3, k = 6, length = 19;
        float x[2 * 5 * 19], w[5 * 3 * 6], b[3];
        rng_seed(40 + (uint64_t)c);
        fill_random(x, sizeof x / sizeof x[0]);
        fill_random(w, sizeof w / sizeof w[0]);
        fill_random(b, 3);
        round_to(x, sizeof x / sizeof x[0], dtype);
        const int64_t x_shape[3] = {2, ncl ? cin : length, ncl ? length : cin};
        const int64_t w_shape[3] = {cin, cout, k}, b_shape[1] = {cout};
        write_as("x.npy", dtype, 3, x_shape, x, sizeof x / sizeof x[0]);
        write_f32("w.npy", 3, w_shape, w);
        write_f32("b.npy", 1, b_shape, b);
        const char *layout = ncl ? "ncl" : "nlc";
        /* The same arguments, then "--chunk", N (args[20], [21]) or nothing. */
        const char *args[] = {X,
                              W,
                              B,
                              "--output",
                              test_tmp_path("y.npy"),
                              "--layout",
                              layout,
                              "--dtype",
                              bf16 ? "bf16" : "f32",
                              "--stride",
                              "2",
                              "--padding",
                              "2,1",
                              "--output-padding",
                              "1",
                              "--weight-order",
                              "pytorch",
                              NULL,
                              NULL,
                              NULL,
                              NULL};
        expect_success(args);
        size_t expected_size, got_size;
        unsigned char *expected = read_bytes(test_tmp_path("y.npy"), &expected_size);
        for (int n = 0; n < 4; ++n) {
            args[20] = "--chunk";
            args[21] = chunks[n];
            expect_success(args);
            unsigned char *got = read_bytes(test_tmp_path("y.npy"), &got_size);
            cr_assert_eq(got_size, expected_size);
            cr_assert(memcmp(got, expected, got_size) == 0, "--chunk %s, %s, %s: other output",
                      chunks[n], layout, bf16 ? "bf16" : "f32");
            free(got);
        }
        free(expected);
    }
}

Test(cli, chunk_errors_and_help) {
    write_valid_files();
    const char *zero[] = {X, W, Y, NCL_PT, "--chunk", "0", NULL};
    expect_failure(zero, 2, "--chunk must be a positive number of input frames, got '0'");
    const char *word[] = {X, W, Y, NCL_PT, "--chunk", "many", NULL};
    expect_failure(word, 2, "--chunk expects an integer, got 'many'");
    const char *help[] = {"--help", NULL};
    cr_assert_eq(run_cli(help), 0);
    char *out = test_read_text(test_tmp_path("stdout.txt"));
    cr_assert_not_null(strstr(out, "--chunk N"), "--help does not mention --chunk");
    free(out);
}
