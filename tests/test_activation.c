/*
 * The fused input activation (clconvt_layer_set_input_activation): the layer against the float64
 * reference of the composition, activation then ConvTranspose1d (reference_activate, then
 * reference_forward), over the grid's shapes with every kernel path forced, every dtype and both
 * layouts, and over the golden cases' shapes with the planner's choice; the refusals; and that a
 * layer switches between activations (each kind its own program) and back to none.
 */
#include <criterion/criterion.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <unistd.h>

#include "grid_cases.h"
#include "npy.h"
#include "run_tool.h"
#include "support.h"
#include "tmpdir.h"

#define MAX_CIN 1024

/* Every path, forced; one the case does not suit is refused by clconvt_layer_create_with_plan
 * and skipped. */
static const char *const PLANS[] = {"phase", "phase_pos", "phase_fold", "phase_chan", "phase_dw",
                                    "gemm",
                                    /* phase_fold with position lanes (strides 5 to 8) */
                                    "phase_fold:vec=8,p=16,c=1"};
#define PLAN_COUNT (sizeof PLANS / sizeof PLANS[0])

/* The parameters a kind is tested with: HiFi-GAN's slope 0.1, an ELU alpha other than 1, and
 * Snake alphas that differ by channel, below and above 1. */
static int64_t make_alpha(clconvt_activation kind, int64_t in_channels, float *alpha) {
    switch (kind) {
    case CLCONVT_ACTIVATION_LEAKY_RELU: alpha[0] = 0.1f; return 1;
    case CLCONVT_ACTIVATION_ELU: alpha[0] = 0.7f; return 1;
    case CLCONVT_ACTIVATION_SNAKE:
        for (int64_t c = 0; c < in_channels; ++c)
            alpha[c] = 0.25f + 0.375f * (float)(c % 7);
        return in_channels;
    case CLCONVT_ACTIVATION_NONE: break;
    }
    return 0;
}

/* Whether this build and the case's parameters take the plan (NULL: the planner's choice). */
static int plan_fits(const clconvt_params *p, const char *plan) {
    if (!support_has_plan(plan))
        return 0;
    clconvt_layer *layer = NULL;
    if (clconvt_layer_create_with_plan(support_device(), p, plan, &layer) != CLCONVT_SUCCESS)
        return 0;
    clconvt_layer_release(layer);
    return 1;
}

static void check_case(const clconvt_params *p, const char *plan, clconvt_activation kind,
                       int64_t batch, int64_t length_in, clconvt_weight_order order,
                       uint64_t seed) {
    float alpha[MAX_CIN];
    cr_assert(p->in_channels <= MAX_CIN);
    const support_activation a = {kind, alpha, make_alpha(kind, p->in_channels, alpha)};
    const double error = support_run_case_activated(p, plan, &a, batch, length_in, order, seed);
    cr_assert(error <= reference_error_bound(p->dtype),
              "activation %d, plan %s: normalised error %.3g > %.3g for %s", (int)kind,
              plan ? plan : "(planner's)", error, reference_error_bound(p->dtype),
              support_describe(p, batch, length_in, order));
}

/* The grid's shapes (K 1..17, two cases each: groups, depthwise, padding, output_padding, bias,
 * batch and length cycling; dilation 1..3) on every path that takes them, each dtype and layout.
 * One stride per (kind, dtype, layout), so that each path compiles once per combination. In the
 * paths' kernels (CLCONVT_INPUT_ACTIVATION=kernel): activation_pass covers the separate pass. */
static void run_grid(clconvt_activation kind) {
    setenv("CLCONVT_INPUT_ACTIVATION", "kernel", 1); /* each test is a process of its own */
    for (int dtype = 0; dtype < 3; ++dtype)
        for (int layout = 0; layout < 2; ++layout) {
            const int64_t stride = 1 + ((int64_t)kind + 2 * dtype + layout) % 5;
            for (size_t plan = 0; plan < PLAN_COUNT; ++plan) {
                int ran = 0;
                for (int64_t k = 1; k <= 17; ++k)
                    for (int64_t i = 0; i < 2; ++i) {
                        grid_case c;
                        const int64_t dilation = 1 + (k + i) % 3;
                        if (!grid_make_case(stride, dilation, k, i + layout, (clconvt_layout)layout,
                                            (clconvt_dtype)dtype, &c) ||
                            !plan_fits(&c.params, PLANS[plan]))
                            continue;
                        const uint64_t seed = (uint64_t)(kind * 7919 + k * 131 + i + dtype * 17);
                        check_case(&c.params, PLANS[plan], kind, c.batch, c.length_in,
                                   (clconvt_weight_order)((k + i) % 2), seed);
                        ++ran;
                    }
                /* Each path takes some shape of each dtype and layout it supports. */
                if (ran == 0) {
                    clconvt_params probe;
                    clconvt_params_init(&probe, 6, 6, 3);
                    probe.groups = 6;
                    probe.stride = stride;
                    probe.layout = (clconvt_layout)layout;
                    probe.dtype = (clconvt_dtype)dtype;
                    cr_assert(!plan_fits(&probe, PLANS[plan]),
                              "plan %s ran no grid case (dtype %d, layout %d)", PLANS[plan], dtype,
                              layout);
                }
            }
        }
}

Test(activation_grid, leaky_relu, .timeout = 600) {
    run_grid(CLCONVT_ACTIVATION_LEAKY_RELU);
}
Test(activation_grid, elu, .timeout = 600) {
    run_grid(CLCONVT_ACTIVATION_ELU);
}
Test(activation_grid, snake, .timeout = 600) {
    run_grid(CLCONVT_ACTIVATION_SNAKE);
}

/* phase_fold's channels x phases tiles with the activation in the kernel: layers of up to two
 * taps (K a multiple of the stride) activate each block of 16 input channels once for both taps
 * (cl/phase_fold.cl, reduce_tile_activated). 40 input channels make two whole blocks and a part;
 * K 4 and 2 take that form in the interior tiles, K 3 and 6 (three taps) the per-tap one
 * throughout; every kind and storage dtype. */
static const char *const SHARED_TAPS_PLAN = "phase_fold:vec=16,p=6,c=16";

static void shared_taps_layer(clconvt_params *p, int64_t kernel_length, clconvt_dtype dtype) {
    clconvt_params_init(p, 40, 16, kernel_length);
    p->stride = 2;
    p->pad_left = p->pad_right = 1;
    p->has_bias = 1;
    p->layout = CLCONVT_LAYOUT_NCL;
    p->dtype = dtype;
}

Test(activation_grid, phase_fold_shared_taps, .timeout = 600) {
    setenv("CLCONVT_INPUT_ACTIVATION", "kernel", 1);
    support_require_plan("phase_fold");
    const int64_t kernels[] = {4, 2, 3, 6};
    for (int dtype = 0; dtype < 3; ++dtype)
        for (size_t k = 0; k < sizeof kernels / sizeof kernels[0]; ++k)
            for (int kind = 1; kind <= 3; ++kind) {
                clconvt_params p;
                shared_taps_layer(&p, kernels[k], (clconvt_dtype)dtype);
                check_case(&p, SHARED_TAPS_PLAN, (clconvt_activation)kind, 2, 61,
                           (clconvt_weight_order)(kind % 2), (uint64_t)(dtype * 31 + k * 7 + kind));
            }
}

/* The same layers streamed in chunks give, byte for byte, the forward of the whole sequence:
 * the order of the sums does not depend on where the tiles fall. */
Test(activation_layer, phase_fold_shared_taps_streamed, .timeout = 300) {
    setenv("CLCONVT_INPUT_ACTIVATION", "kernel", 1);
    support_require_plan("phase_fold");
    enum { CIN = 40, COUT = 16, LENGTH = 97 };
    static float x[CIN * LENGTH], chunk[CIN * LENGTH], whole[COUT * 4 * LENGTH],
        streamed[COUT * 4 * LENGTH];
    static double v[CIN * LENGTH + CIN * COUT * 6];
    uint64_t state = 5;
    support_fill(v, CIN * LENGTH, &state, CLCONVT_F32);
    for (int i = 0; i < CIN * LENGTH; ++i)
        x[i] = (float)(2 * v[i]);
    support_fill(v, CIN * COUT * 6, &state, CLCONVT_F32);
    static float w[CIN * COUT * 6];
    for (int i = 0; i < CIN * COUT * 6; ++i)
        w[i] = (float)v[i];
    const float slope = 0.1f;
    for (int64_t kernel_length = 2; kernel_length <= 4; ++kernel_length) {
        clconvt_params p;
        shared_taps_layer(&p, kernel_length, CLCONVT_F32);
        p.has_bias = 0;
        clconvt_layer *layer = NULL;
        cr_assert_eq(clconvt_layer_create_with_plan(support_device(), &p, SHARED_TAPS_PLAN, &layer),
                     CLCONVT_SUCCESS, "%s", clconvt_last_error());
        cr_assert_eq(clconvt_layer_set_weight(layer, w, CLCONVT_WEIGHT_PYTORCH, CLCONVT_F32),
                     CLCONVT_SUCCESS, "%s", clconvt_last_error());
        cr_assert_eq(
            clconvt_layer_set_input_activation(layer, CLCONVT_ACTIVATION_LEAKY_RELU, &slope, 1),
            CLCONVT_SUCCESS, "%s", clconvt_last_error());
        int64_t length_out;
        cr_assert_eq(clconvt_output_length(&p, LENGTH, &length_out), CLCONVT_SUCCESS);
        cr_assert_eq(clconvt_layer_forward_host(layer, x, whole, 1, LENGTH), CLCONVT_SUCCESS, "%s",
                     clconvt_last_error());
        clconvt_stream *s = NULL;
        cr_assert_eq(clconvt_stream_create(layer, 1, &s), CLCONVT_SUCCESS, "%s",
                     clconvt_last_error());
        /* (1, CIN, n) chunks of 1 to 7 frames, then the finish; each output (1, COUT, m) is
         * appended row by row. */
        int64_t done = 0, emitted = 0;
        static float piece[COUT * 4 * LENGTH];
        for (int64_t n = 1; done <= LENGTH; n = n % 7 + 1) {
            const int64_t count = n < LENGTH - done ? n : LENGTH - done;
            for (int c = 0; c < CIN; ++c)
                memcpy(chunk + c * count, x + c * LENGTH + done, (size_t)count * sizeof *x);
            int64_t n_out = 0;
            const clconvt_status st =
                count == 0
                    ? clconvt_stream_finish_host(s, piece, COUT * 4 * LENGTH, &n_out)
                    : clconvt_stream_push_host(s, chunk, count, piece, COUT * 4 * LENGTH, &n_out);
            cr_assert_eq(st, CLCONVT_SUCCESS, "%s", clconvt_last_error());
            cr_assert_leq(emitted + n_out, length_out);
            for (int c = 0; c < COUT; ++c)
                memcpy(streamed + c * length_out + emitted, piece + c * n_out,
                       (size_t)n_out * sizeof *piece);
            emitted += n_out;
            done += count == 0 ? 1 : count; /* past LENGTH once finished */
        }
        cr_assert_eq(emitted, length_out);
        cr_assert(memcmp(streamed, whole, (size_t)(COUT * length_out) * sizeof *whole) == 0,
                  "K %lld: the streamed output differs from the whole forward",
                  (long long)kernel_length);
        clconvt_stream_release(s);
        clconvt_layer_release(layer);
    }
}

/* Channel vectors: a depthwise layer wide enough for phase_dw's whole vectors of channels (the
 * grid's depthwise cases have 6 channels, fewer than one vector: their lanes go one by one), each
 * lane with its own channel's alpha, in each dtype. */
Test(activation_grid, depthwise_channel_vectors, .timeout = 600) {
    setenv("CLCONVT_INPUT_ACTIVATION", "kernel", 1);
    for (int dtype = 0; dtype < 3; ++dtype) {
        clconvt_params p;
        clconvt_params_init(&p, 40, 40, 5);
        p.groups = 40;
        p.stride = 2;
        p.pad_left = p.pad_right = 1;
        p.has_bias = 1;
        p.dtype = (clconvt_dtype)dtype;
        for (int kind = 1; kind <= 3; ++kind)
            check_case(&p, "phase_dw", (clconvt_activation)kind, 2, 37, CLCONVT_WEIGHT_MAX,
                       (uint64_t)(dtype * 3 + kind));
    }
}

/* The activation as a pass of its own (the default but for small f32 layers): every kind, dtype and
 * layout on grid cases with the planner's choice (the pass runs before whichever path it is), and
 * on the gemm path. */
Test(activation_pass, kinds_dtypes_layouts, .timeout = 600) {
    setenv("CLCONVT_INPUT_ACTIVATION", "pass", 1); /* else small layers take the kernel */
    for (int kind = 1; kind <= 3; ++kind)
        for (int dtype = 0; dtype < 3; ++dtype)
            for (int layout = 0; layout < 2; ++layout)
                for (int64_t k = 1 + kind; k <= 17; k += 4) {
                    grid_case c;
                    if (!grid_make_case(2, 1 + k % 2, k, kind + layout, (clconvt_layout)layout,
                                        (clconvt_dtype)dtype, &c))
                        continue;
                    const char *plan =
                        dtype == 0 && k % 3 == 0 && support_has_plan("gemm") ? "gemm" : NULL;
                    check_case(&c.params, plan_fits(&c.params, plan) ? plan : NULL,
                               (clconvt_activation)kind, c.batch, c.length_in,
                               (clconvt_weight_order)(k % 2), (uint64_t)(k * 31 + dtype));
                }
}

/* The pass's rows longer than one work-item's run of values (cl/activation.cl's PASS_CHUNK, 256)
 * and more rows than one work-group's: long NCL rows, wide NLC rows (many channels). */
Test(activation_pass, long_and_wide_rows, .timeout = 600) {
    setenv("CLCONVT_INPUT_ACTIVATION", "pass", 1); /* else small layers take the kernel */
    static const struct {
        int64_t cin, length;
        clconvt_layout layout;
    } shapes[] = {{5, 1000, CLCONVT_LAYOUT_NCL}, {600, 5, CLCONVT_LAYOUT_NLC}};
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; ++s)
        for (int dtype = 0; dtype < 2; ++dtype)
            for (int kind = 1; kind <= 3; ++kind) {
                clconvt_params p;
                clconvt_params_init(&p, shapes[s].cin, 3, 4);
                p.stride = 2;
                p.layout = shapes[s].layout;
                p.dtype = (clconvt_dtype)dtype;
                check_case(&p, NULL, (clconvt_activation)kind, 3, shapes[s].length,
                           CLCONVT_WEIGHT_PYTORCH, (uint64_t)(s * 7 + dtype * 3 + kind));
            }
}

/* The shapes of tests/data/golden/cases.csv (the golden suite's PyTorch cases) with random data,
 * the planner's choice, f32, both layouts, the kind cycling with the case. */
Test(activation_golden, cases, .timeout = 600) {
    const char *dir = getenv("CLCONVT_TEST_DATA");
    cr_assert(dir != NULL, "CLCONVT_TEST_DATA is not set (meson sets it to tests/data)");
    char path[4096];
    snprintf(path, sizeof path, "%s/golden/cases.csv", dir);
    FILE *f = fopen(path, "r");
    cr_assert(f != NULL, "cannot open %s", path);
    char line[512];
    cr_assert(fgets(line, sizeof line, f) != NULL); /* the header */
    int cases = 0;
    while (fgets(line, sizeof line, f) != NULL) {
        char name[64];
        long long v[12];
        if (sscanf(line, "%63[^,],%lld,%lld,%lld,%lld,%lld,%lld,%lld,%lld,%lld,%lld,%lld,%lld",
                   name, &v[0], &v[1], &v[2], &v[3], &v[4], &v[5], &v[6], &v[7], &v[8], &v[9],
                   &v[10], &v[11]) != 13)
            continue;
        for (int layout = 0; layout < 2; ++layout) {
            clconvt_params p;
            clconvt_params_init(&p, v[1], v[2], v[3]);
            p.stride = v[4];
            p.pad_left = v[5];
            p.pad_right = v[6];
            p.output_padding = v[7];
            p.dilation = v[8];
            p.groups = v[9];
            p.has_bias = (int)v[10];
            p.layout = (clconvt_layout)layout;
            const clconvt_activation kind = (clconvt_activation)(1 + (cases + layout) % 3);
            check_case(&p, NULL, kind, v[0], v[11], (clconvt_weight_order)layout,
                       reference_hash(name));
        }
        ++cases;
    }
    fclose(f);
    cr_assert_gt(cases, 20, "only %d golden cases read from %s", cases, path);
}

/* ---- One layer, several activations ---------------------------------------------------------- */

typedef struct small_layer {
    clconvt_params params;
    clconvt_layer *layer;
    float x[2 * 5 * 9], w[5 * 3 * 4], y[2 * 3 * 20];
} small_layer;

static void small_make(small_layer *s) {
    clconvt_params_init(&s->params, 5, 3, 4);
    s->params.stride = 2;
    s->params.layout = CLCONVT_LAYOUT_NCL;
    double x[2 * 5 * 9], w[5 * 3 * 4];
    uint64_t state = 5;
    support_fill(x, 2 * 5 * 9, &state, CLCONVT_F32);
    support_fill(w, 5 * 3 * 4, &state, CLCONVT_F32);
    for (int i = 0; i < 2 * 5 * 9; ++i)
        s->x[i] = (float)(3 * x[i]);
    for (int i = 0; i < 5 * 3 * 4; ++i)
        s->w[i] = (float)w[i];
    cr_assert_eq(clconvt_layer_create(support_device(), &s->params, &s->layer), CLCONVT_SUCCESS,
                 "%s", clconvt_last_error());
    cr_assert_eq(clconvt_layer_set_weight(s->layer, s->w, CLCONVT_WEIGHT_PYTORCH, CLCONVT_F32),
                 CLCONVT_SUCCESS);
}

/* Forward into s->y; the output count. */
static size_t small_forward(small_layer *s) {
    memset(s->y, 0, sizeof s->y);
    cr_assert_eq(clconvt_layer_forward_host(s->layer, s->x, s->y, 2, 9), CLCONVT_SUCCESS, "%s",
                 clconvt_last_error());
    return 2 * 3 * 20;
}

/* The reference of s with activation kind: max |y - ref|. */
static double small_error(small_layer *s, clconvt_activation kind, const float *alpha) {
    double x[2 * 5 * 9], w[5 * 3 * 4], ref[2 * 3 * 20], alpha_d[5];
    for (int i = 0; i < 2 * 5 * 9; ++i)
        x[i] = s->x[i];
    for (int i = 0; i < 5 * 3 * 4; ++i)
        w[i] = s->w[i];
    for (int c = 0; c < 5 && alpha != NULL; ++c)
        alpha_d[c] = alpha[kind == CLCONVT_ACTIVATION_SNAKE ? c : 0];
    cr_assert_eq(reference_activate(&s->params, kind, alpha_d, 2, 9, x), 0);
    cr_assert_eq(reference_forward(&s->params, x, w, NULL, 2, 9, ref), 0);
    double worst = 0;
    const size_t n = small_forward(s);
    for (size_t i = 0; i < n; ++i)
        worst = fmax(worst, fabs(s->y[i] - ref[i]));
    return worst;
}

/* Each kind in turn on one layer (each is its own program: the outputs must follow), then none:
 * bit for bit the output of a layer that never had an activation. */
Test(activation_layer, switches_kinds_and_back_to_none) {
    small_layer s;
    small_make(&s);
    float plain[2 * 3 * 20];
    const size_t n = small_forward(&s);
    memcpy(plain, s.y, sizeof plain);
    const float slope = 0.2f, elu_alpha = 1.0f, snake[5] = {0.5f, 1.0f, 1.5f, 2.0f, 3.0f};
    cr_assert_eq(
        clconvt_layer_set_input_activation(s.layer, CLCONVT_ACTIVATION_LEAKY_RELU, &slope, 1),
        CLCONVT_SUCCESS, "%s", clconvt_last_error());
    cr_assert_lt(small_error(&s, CLCONVT_ACTIVATION_LEAKY_RELU, &slope), 1e-5);
    cr_assert_eq(clconvt_layer_set_input_activation(s.layer, CLCONVT_ACTIVATION_ELU, &elu_alpha, 1),
                 CLCONVT_SUCCESS, "%s", clconvt_last_error());
    cr_assert_lt(small_error(&s, CLCONVT_ACTIVATION_ELU, &elu_alpha), 1e-5);
    cr_assert_eq(clconvt_layer_set_input_activation(s.layer, CLCONVT_ACTIVATION_SNAKE, snake, 5),
                 CLCONVT_SUCCESS, "%s", clconvt_last_error());
    cr_assert_lt(small_error(&s, CLCONVT_ACTIVATION_SNAKE, snake), 1e-5);
    /* A new slope of the same kind compiles nothing new but changes the result. */
    const float steeper = 0.5f;
    cr_assert_eq(
        clconvt_layer_set_input_activation(s.layer, CLCONVT_ACTIVATION_LEAKY_RELU, &steeper, 1),
        CLCONVT_SUCCESS);
    cr_assert_lt(small_error(&s, CLCONVT_ACTIVATION_LEAKY_RELU, &steeper), 1e-5);
    cr_assert_eq(clconvt_layer_set_input_activation(s.layer, CLCONVT_ACTIVATION_NONE, NULL, 0),
                 CLCONVT_SUCCESS, "%s", clconvt_last_error());
    small_forward(&s);
    cr_assert_eq(memcmp(plain, s.y, n * sizeof *s.y), 0, "none is not the plain layer's output");
    clconvt_layer_release(s.layer);
}

/* Refusals: the status, a sentence naming the parameter, and nothing changed (the layer keeps
 * computing with the activation it had). */
static void refused(small_layer *s, clconvt_activation kind, const float *alpha, int64_t count,
                    const char *needle) {
    cr_assert_eq(clconvt_layer_set_input_activation(s->layer, kind, alpha, count),
                 CLCONVT_ERROR_INVALID_ARGUMENT, "kind %d count %lld was accepted", (int)kind,
                 (long long)count);
    const char *message = clconvt_last_error();
    cr_assert(strstr(message, "clconvt_layer_set_input_activation") != NULL, "%s", message);
    cr_assert(strstr(message, needle) != NULL, "\"%s\" does not say \"%s\"", message, needle);
}

Test(activation_layer, refusals_change_nothing) {
    small_layer s;
    small_make(&s);
    const float slope = 0.1f;
    cr_assert_eq(
        clconvt_layer_set_input_activation(s.layer, CLCONVT_ACTIVATION_LEAKY_RELU, &slope, 1),
        CLCONVT_SUCCESS);
    const float nan_[5] = {1, 1, 1, NAN, 1}, inf_[5] = {1, 1, 1, 1, INFINITY};
    const float minus_inf = -INFINITY, good[5] = {1, 1, 1, 1, 1};
    refused(&s, (clconvt_activation)4, &slope, 1, "kind=4");
    refused(&s, (clconvt_activation)-1, &slope, 1, "kind=-1");
    refused(&s, CLCONVT_ACTIVATION_LEAKY_RELU, &slope, 2, "count=2");
    refused(&s, CLCONVT_ACTIVATION_ELU, &slope, 0, "count=0");
    refused(&s, CLCONVT_ACTIVATION_SNAKE, good, 4, "count must be 5");
    refused(&s, CLCONVT_ACTIVATION_SNAKE, good, -1, "count=-1");
    refused(&s, CLCONVT_ACTIVATION_NONE, &slope, 1, "count=1");
    refused(&s, CLCONVT_ACTIVATION_LEAKY_RELU, NULL, 1, "alpha must not be NULL");
    refused(&s, CLCONVT_ACTIVATION_SNAKE, nan_, 5, "alpha[3]=nan");
    refused(&s, CLCONVT_ACTIVATION_SNAKE, inf_, 5, "alpha[4]=inf");
    refused(&s, CLCONVT_ACTIVATION_ELU, &minus_inf, 1, "alpha[0]=-inf is not finite");
    cr_assert_lt(small_error(&s, CLCONVT_ACTIVATION_LEAKY_RELU, &slope), 1e-5);
    cr_assert_eq(clconvt_layer_set_input_activation(NULL, CLCONVT_ACTIVATION_NONE, NULL, 0),
                 CLCONVT_ERROR_INVALID_ARGUMENT);
    clconvt_layer_release(s.layer);
}

/* The gemm path's pre-pass feeds GEMMs that read the input in chunks of positions when the column
 * buffer is bounded: the activated scratch must be read at the same offsets. */
Test(activation_layer, gemm_chunks_read_the_activated_input) {
    support_require_plan("gemm");
    setenv("CLCONVT_GEMM_COLUMN_BYTES", "4096", 1);
    for (int layout = 0; layout < 2; ++layout) {
        clconvt_params p;
        clconvt_params_init(&p, 7, 9, 5);
        p.stride = 3;
        p.pad_left = 2;
        p.has_bias = 1;
        p.layout = (clconvt_layout)layout;
        check_case(&p, "gemm", CLCONVT_ACTIVATION_SNAKE, 3, 200, CLCONVT_WEIGHT_MAX, 11);
    }
    unsetenv("CLCONVT_GEMM_COLUMN_BYTES");
}

/* ---- Snake's sine over wide ranges --------------------------------------------------------- */

/* A depthwise layer of K 1 and weight 1 is the activation itself: y = x + sin(a x)^2 / (a + 1e-9)
 * value by value, against float64, each within 1e-6 of |x| + 1 / a (the scale of the two terms;
 * the bound is the SPEC's f32 bound's twentieth), for |x| from 1e-3 to 1e8 and alphas from 0.01
 * to 40 (a x up to 4e9: cl/common.cl's sine_squared reduces a x by pi), NaN and infinities
 * through as sin gives them, in the pass (NCL and NLC: vectors of 16 and the rest) and in
 * phase_dw's kernel (channel vectors). */
/* A depthwise layer of C channels, K 1 and weight 1, the activation kind with alpha fused, run
 * where CLCONVT_INPUT_ACTIVATION says: the activation itself, value by value. */
static clconvt_layer *activation_only_layer(int64_t channels, clconvt_layout layout,
                                            const char *where, clconvt_activation kind,
                                            const float *alpha, int64_t count) {
    setenv("CLCONVT_INPUT_ACTIVATION", where, 1);
    clconvt_params p;
    clconvt_params_init(&p, channels, channels, 1);
    p.groups = channels;
    p.layout = layout;
    clconvt_layer *layer = NULL;
    cr_assert_eq(clconvt_layer_create(support_device(), &p, &layer), CLCONVT_SUCCESS, "%s",
                 clconvt_last_error());
    float w[MAX_CIN];
    cr_assert(channels <= MAX_CIN);
    for (int64_t c = 0; c < channels; ++c)
        w[c] = 1.0f;
    cr_assert_eq(clconvt_layer_set_weight(layer, w, CLCONVT_WEIGHT_PYTORCH, CLCONVT_F32),
                 CLCONVT_SUCCESS);
    cr_assert_eq(clconvt_layer_set_input_activation(layer, kind, alpha, count), CLCONVT_SUCCESS,
                 "%s", clconvt_last_error());
    return layer;
}

static void check_snake_range(clconvt_layout layout, const char *where) {
    enum { C = 37, L = 300 };
    float alpha[C];
    for (int c = 0; c < C; ++c)
        alpha[c] = 0.01f * powf(4000.0f, (float)c / (C - 1)) * (c % 2 ? -1.0f : 1.0f);
    clconvt_layer *layer =
        activation_only_layer(C, layout, where, CLCONVT_ACTIVATION_SNAKE, alpha, C);
    static float x[C * L], y[C * L];
    uint64_t state = 99;
    for (int i = 0; i < C * L; ++i) {
        const double u = (double)(reference_random_next(&state) >> 11) * 0x1p-53;
        x[i] = (float)(pow(10.0, -3.0 + 11.0 * u) * (i % 3 ? 1 : -1));
    }
    x[5] = NAN, x[6] = INFINITY, x[7] = -INFINITY, x[8] = 0.0f;
    cr_assert_eq(clconvt_layer_forward_host(layer, x, y, 1, L), CLCONVT_SUCCESS, "%s",
                 clconvt_last_error());
    for (int i = 0; i < C * L; ++i) {
        const int c = layout == CLCONVT_LAYOUT_NCL ? i / L : i % C;
        const double a = alpha[c], v = x[i], s = sin(a * v);
        const double ref = v + s * s / (a + 1e-9);
        if (isnan(ref) || isinf(v)) {
            cr_assert(isnan(y[i]), "%s: x=%g: %g, not NaN", where, v, (double)y[i]);
            continue;
        }
        cr_assert_leq(fabs(y[i] - ref), 1e-6 * (fabs(v) + 1 / fabs(a)),
                      "%s, layout %d: alpha %g, x %.9g: %.9g, not %.9g", where, (int)layout, a, v,
                      (double)y[i], ref);
    }
    clconvt_layer_release(layer);
    unsetenv("CLCONVT_INPUT_ACTIVATION");
}

Test(activation_layer, snake_over_wide_ranges) {
    check_snake_range(CLCONVT_LAYOUT_NCL, "pass");
    check_snake_range(CLCONVT_LAYOUT_NLC, "pass");
    check_snake_range(CLCONVT_LAYOUT_NLC, "kernel");
}

/* ELU value by value (activation_only_layer) against float64's alpha * expm1(x), each within
 * 1.5 units in the last place: x from -100 to -1e-8 (cl/common.cl's expm1_nonpositive: its
 * Taylor series near 0, its range reduction, -1 below -30), positive x unchanged, NaN, the
 * infinities, zeros; in the pass (NCL and NLC: vectors of 16 and the rest) and in the kernels. */
static void check_elu_values(clconvt_layout layout, const char *where) {
    enum { C = 7, L = 2000 };
    const float alpha = 0.7f;
    clconvt_layer *layer =
        activation_only_layer(C, layout, where, CLCONVT_ACTIVATION_ELU, &alpha, 1);
    static float x[C * L], y[C * L];
    uint64_t state = 7;
    for (int i = 0; i < C * L; ++i) {
        const double u = (double)(reference_random_next(&state) >> 11) * 0x1p-53;
        x[i] = (float)(i % 5 ? -pow(10.0, -8.0 + 10.0 * u) : 10.0 * u);
    }
    x[5] = NAN, x[6] = INFINITY, x[7] = -INFINITY, x[8] = 0.0f, x[9] = -0.0f, x[10] = -30.5f;
    cr_assert_eq(clconvt_layer_forward_host(layer, x, y, 1, L), CLCONVT_SUCCESS, "%s",
                 clconvt_last_error());
    for (int i = 0; i < C * L; ++i) {
        const double v = x[i], ref = v > 0 ? v : alpha * expm1(v);
        if (isnan(v) || isinf(v)) {
            cr_assert(isnan(v) ? isnan(y[i]) : y[i] == ref, "%s: x=%g: %g, not %g", where, v,
                      (double)y[i], ref);
            continue;
        }
        cr_assert_leq(fabs(y[i] - ref), 1.5 * 0x1p-23 * fabs(ref),
                      "%s, layout %d: x %.9g: %.9g, not %.9g", where, (int)layout, v, (double)y[i],
                      ref);
    }
    clconvt_layer_release(layer);
    unsetenv("CLCONVT_INPUT_ACTIVATION");
}

Test(activation_layer, elu_to_an_ulp_and_a_half) {
    for (int layout = 0; layout < 2; ++layout) {
        check_elu_values((clconvt_layout)layout, "pass");
        check_elu_values((clconvt_layout)layout, "kernel");
    }
}

/* ---- The pass's scratch buffer -----------------------------------------------------------------
 */

static uint64_t allocated_bytes(void) {
    clconvt_device_info info;
    cr_assert_eq(clconvt_device_get_info(support_device(), &info), CLCONVT_SUCCESS);
    return info.allocated_bytes;
}

/* One clconvt_layer_forward of length_in positions (batch 1) on device buffers of the test's own
 * (not counted in allocated_bytes) on queue (NULL: the device's), new data each time (a stale
 * activated input shows), against the reference. */
static void scratch_forward(small_layer *s, cl_command_queue queue, int64_t length_in,
                            uint64_t seed) {
    enum { CIN = 5, COUT = 3, K = 4, MAX_LENGTH = 64 };
    const int64_t length_out = (length_in - 1) * 2 + K;
    cr_assert(length_in <= MAX_LENGTH);
    double xd[CIN * MAX_LENGTH], wd[CIN * COUT * K], ref[COUT * (2 * MAX_LENGTH + K)];
    float x[CIN * MAX_LENGTH], y[COUT * (2 * MAX_LENGTH + K)];
    uint64_t state = seed;
    support_fill(xd, (size_t)(CIN * length_in), &state, CLCONVT_F32);
    for (int64_t i = 0; i < CIN * length_in; ++i)
        x[i] = (float)(xd[i] = 3 * xd[i]);
    for (int i = 0; i < CIN * COUT * K; ++i)
        wd[i] = s->w[i];
    const float slope = 0.1f;
    const double slope_d = slope;
    cr_assert_eq(
        reference_activate(&s->params, CLCONVT_ACTIVATION_LEAKY_RELU, &slope_d, 1, length_in, xd),
        0);
    cr_assert_eq(reference_forward(&s->params, xd, wd, NULL, 1, length_in, ref), 0);
    cl_int err;
    cl_context context = clconvt_device_context(support_device());
    cl_mem in = clCreateBuffer(context, CL_MEM_READ_ONLY | CL_MEM_COPY_HOST_PTR,
                               (size_t)(CIN * length_in) * sizeof(float), x, &err);
    cr_assert_eq(err, CL_SUCCESS);
    cl_mem out = clCreateBuffer(context, CL_MEM_WRITE_ONLY,
                                (size_t)(COUT * length_out) * sizeof(float), NULL, &err);
    cr_assert_eq(err, CL_SUCCESS);
    cl_command_queue q = queue != NULL ? queue : clconvt_device_queue(support_device());
    cr_assert_eq(clconvt_layer_forward(s->layer, queue, in, out, 1, length_in, 0, NULL, NULL),
                 CLCONVT_SUCCESS, "%s", clconvt_last_error());
    cr_assert_eq(clEnqueueReadBuffer(q, out, CL_TRUE, 0,
                                     (size_t)(COUT * length_out) * sizeof(float), y, 0, NULL, NULL),
                 CL_SUCCESS);
    for (int64_t i = 0; i < COUT * length_out; ++i)
        cr_assert_lt(fabs(y[i] - ref[i]), 1e-5, "length %lld: output %lld is %g, not %g",
                     (long long)length_in, (long long)i, (double)y[i], ref[i]);
    clReleaseMemObject(in);
    clReleaseMemObject(out);
}

/* On the device's queue the pass writes into a scratch buffer the layer keeps: one input's size
 * after the first forward, grown (the smaller one released) for a longer input, kept for a
 * shorter one, released with the layer. On a caller's queue a buffer of the forward's own. */
Test(activation_layer, pass_scratch_is_kept_and_grown) {
    setenv("CLCONVT_INPUT_ACTIVATION", "pass", 1);
    const uint64_t before = allocated_bytes();
    small_layer s;
    small_make(&s);
    const float slope = 0.1f;
    cr_assert_eq(
        clconvt_layer_set_input_activation(s.layer, CLCONVT_ACTIVATION_LEAKY_RELU, &slope, 1),
        CLCONVT_SUCCESS, "%s", clconvt_last_error());
    const uint64_t base = allocated_bytes();
    const uint64_t row = 5 * sizeof(float); /* Cin values per position */
    scratch_forward(&s, NULL, 20, 1);
    cr_assert_eq(allocated_bytes(), base + 20 * row);
    scratch_forward(&s, NULL, 20, 2);
    cr_assert_eq(allocated_bytes(), base + 20 * row);
    scratch_forward(&s, NULL, 50, 3);
    cr_assert_eq(allocated_bytes(), base + 50 * row, "grown: %llu bytes over the base, not %llu",
                 (unsigned long long)(allocated_bytes() - base), (unsigned long long)(50 * row));
    scratch_forward(&s, NULL, 7, 4);
    cr_assert_eq(allocated_bytes(), base + 50 * row);
    cl_int err;
    cl_command_queue own = clCreateCommandQueue(clconvt_device_context(support_device()),
                                                clconvt_device_id(support_device()), 0, &err);
    cr_assert_eq(err, CL_SUCCESS);
    scratch_forward(&s, own, 60, 5);
    cr_assert_eq(clFinish(own), CL_SUCCESS);
    cr_assert_eq(allocated_bytes(), base + 50 * row, "a caller's queue uses a buffer of its own");
    clReleaseCommandQueue(own);
    clconvt_layer_release(s.layer);
    cr_assert_eq(allocated_bytes(), before, "the scratch buffer outlives its layer");
    unsetenv("CLCONVT_INPUT_ACTIVATION");
}

/* Threads forwarding on one layer at once, all on the device's queue: they share the layer's
 * scratch buffer in turn (src/activation.c's scratch_lock), each output that of its own input. */
enum { THREADS = 4, THREAD_FORWARDS = 40, T_CIN = 5, T_COUT = 3, T_K = 4, T_LENGTH = 300 };
#define T_LENGTH_OUT ((T_LENGTH - 1) * 2 + T_K)

typedef struct thread_case {
    clconvt_layer *layer;
    float x[THREAD_FORWARDS][T_CIN * T_LENGTH];
    double ref[THREAD_FORWARDS][T_COUT * T_LENGTH_OUT];
    double worst;
    clconvt_status status;
} thread_case;

static void *thread_forwards(void *arg) {
    thread_case *t = arg;
    static _Thread_local float y[T_COUT * T_LENGTH_OUT];
    for (int f = 0; f < THREAD_FORWARDS && t->status == CLCONVT_SUCCESS; ++f) {
        t->status = clconvt_layer_forward_host(t->layer, t->x[f], y, 1, T_LENGTH);
        for (int i = 0; i < T_COUT * T_LENGTH_OUT && t->status == CLCONVT_SUCCESS; ++i)
            t->worst = fmax(t->worst, fabs(y[i] - t->ref[f][i]));
    }
    return NULL;
}

Test(activation_layer, threads_share_the_scratch_buffer, .timeout = 300) {
    setenv("CLCONVT_INPUT_ACTIVATION", "pass", 1);
    small_layer s;
    small_make(&s);
    const float slope = 0.1f;
    const double slope_d = slope;
    cr_assert_eq(
        clconvt_layer_set_input_activation(s.layer, CLCONVT_ACTIVATION_LEAKY_RELU, &slope, 1),
        CLCONVT_SUCCESS, "%s", clconvt_last_error());
    double w[T_CIN * T_COUT * T_K], xd[T_CIN * T_LENGTH];
    for (int i = 0; i < T_CIN * T_COUT * T_K; ++i)
        w[i] = s.w[i];
    static thread_case cases[THREADS];
    uint64_t state = 17;
    for (int t = 0; t < THREADS; ++t) {
        cases[t] = (thread_case){.layer = s.layer};
        for (int f = 0; f < THREAD_FORWARDS; ++f) {
            support_fill(xd, T_CIN * T_LENGTH, &state, CLCONVT_F32);
            for (int i = 0; i < T_CIN * T_LENGTH; ++i)
                cases[t].x[f][i] = (float)(xd[i] = 3 * xd[i]);
            cr_assert_eq(reference_activate(&s.params, CLCONVT_ACTIVATION_LEAKY_RELU, &slope_d, 1,
                                            T_LENGTH, xd),
                         0);
            cr_assert_eq(reference_forward(&s.params, xd, w, NULL, 1, T_LENGTH, cases[t].ref[f]),
                         0);
        }
    }
    pthread_t threads[THREADS];
    for (int t = 0; t < THREADS; ++t)
        cr_assert_eq(pthread_create(&threads[t], NULL, thread_forwards, &cases[t]), 0);
    for (int t = 0; t < THREADS; ++t)
        pthread_join(threads[t], NULL);
    for (int t = 0; t < THREADS; ++t) {
        cr_assert_eq(cases[t].status, CLCONVT_SUCCESS);
        cr_assert_lt(cases[t].worst, 1e-5, "thread %d: an output off by %g", t, cases[t].worst);
    }
    clconvt_layer_release(s.layer);
    unsetenv("CLCONVT_INPUT_ACTIVATION");
}

/* Whether a forward of a layer of these parameters (stride 2, NLC unless ncl_layout) with
 * activation kind (batch 1, 16 positions, on the device's queue) keeps a scratch buffer, that is
 * whether its activation runs as a pass. */
static int takes_the_pass_in(int ncl_layout, clconvt_activation kind, int64_t cout,
                             int64_t kernel_length, clconvt_dtype dtype) {
    clconvt_params p;
    clconvt_params_init(&p, 5, cout, kernel_length);
    p.stride = 2;
    p.dtype = dtype;
    p.layout = ncl_layout ? CLCONVT_LAYOUT_NCL : CLCONVT_LAYOUT_NLC;
    clconvt_layer *layer = NULL;
    cr_assert_eq(clconvt_layer_create(support_device(), &p, &layer), CLCONVT_SUCCESS, "%s",
                 clconvt_last_error());
    float *w = calloc((size_t)(5 * cout * kernel_length), sizeof *w);
    cr_assert(w != NULL);
    const float alpha[5] = {0.1f, 0.1f, 0.1f, 0.1f, 0.1f};
    cr_assert_eq(clconvt_layer_set_weight(layer, w, CLCONVT_WEIGHT_PYTORCH, CLCONVT_F32),
                 CLCONVT_SUCCESS);
    cr_assert_eq(clconvt_layer_set_input_activation(layer, kind, alpha,
                                                    kind == CLCONVT_ACTIVATION_SNAKE ? 5 : 1),
                 CLCONVT_SUCCESS, "%s", clconvt_last_error());
    free(w);
    cl_int err;
    cl_context context = clconvt_device_context(support_device());
    const size_t value = dtype == CLCONVT_F32 ? 4 : 2;
    cl_mem in = clCreateBuffer(context, CL_MEM_READ_WRITE, 5 * 16 * value, NULL, &err);
    cl_mem out = clCreateBuffer(context, CL_MEM_READ_WRITE,
                                (size_t)(cout * (15 * 2 + kernel_length)) * value, NULL, &err);
    cr_assert_eq(err, CL_SUCCESS);
    const uint64_t base = allocated_bytes();
    cr_assert_eq(clconvt_layer_forward(layer, NULL, in, out, 1, 16, 0, NULL, NULL), CLCONVT_SUCCESS,
                 "%s", clconvt_last_error());
    cr_assert_eq(clFinish(clconvt_device_queue(support_device())), CL_SUCCESS);
    const int pass = allocated_bytes() > base;
    clReleaseMemObject(in);
    clReleaseMemObject(out);
    clconvt_layer_release(layer);
    return pass;
}

static int takes_the_pass(clconvt_activation kind, int64_t cout, int64_t kernel_length,
                          clconvt_dtype dtype) {
    return takes_the_pass_in(0, kind, cout, kernel_length, dtype);
}

/* By default a LeakyReLU on an f32 layer of less than 128 multiply-adds per input value
 * (out_channels / groups x kernel_length) runs in its kernel, and of less than 512 when the layer
 * is NCL and its kernel a multiple of the stride of at most two strides; the other layers, every
 * f16 or bf16 layer and the other kinds (ELU's expm1, Snake's sine: too dear to repeat at each
 * load) take the pass (src/activation.c, KERNEL_BELOW_WORK*). */
Test(activation_layer, default_place_by_work_per_input) {
    const clconvt_activation leaky = CLCONVT_ACTIVATION_LEAKY_RELU;
    unsetenv("CLCONVT_INPUT_ACTIVATION");
    cr_assert(!takes_the_pass(leaky, 3, 4, CLCONVT_F32), "12 multiply-adds per input: kernel");
    cr_assert(!takes_the_pass(leaky, 31, 4, CLCONVT_F32), "124: in the kernel");
    cr_assert(takes_the_pass(leaky, 32, 4, CLCONVT_F32), "128: the pass");
    cr_assert(!takes_the_pass_in(1, leaky, 32, 4, CLCONVT_F32), "NCL, K 4 = 2 x 2, 128: kernel");
    cr_assert(!takes_the_pass_in(1, leaky, 127, 4, CLCONVT_F32), "NCL, K 4, 508: kernel");
    cr_assert(takes_the_pass_in(1, leaky, 128, 4, CLCONVT_F32), "NCL, K 4, 512: the pass");
    cr_assert(!takes_the_pass_in(1, leaky, 20, 6, CLCONVT_F32), "NCL, K 6 (3 taps), 120: kernel");
    cr_assert(takes_the_pass_in(1, leaky, 32, 6, CLCONVT_F32), "NCL, K 6 (3 taps), 192: pass");
    cr_assert(takes_the_pass_in(1, leaky, 64, 3, CLCONVT_F32), "NCL, K 3 (odd), 192: the pass");
    cr_assert(takes_the_pass(leaky, 3, 4, CLCONVT_F16), "f16: the pass (rounded to the dtype)");
    cr_assert(takes_the_pass(CLCONVT_ACTIVATION_ELU, 3, 4, CLCONVT_F32), "ELU: the pass");
    cr_assert(takes_the_pass(CLCONVT_ACTIVATION_SNAKE, 3, 4, CLCONVT_F32), "Snake: the pass");
    setenv("CLCONVT_INPUT_ACTIVATION", "pass", 1);
    cr_assert(takes_the_pass(leaky, 3, 4, CLCONVT_F32), "CLCONVT_INPUT_ACTIVATION=pass");
    setenv("CLCONVT_INPUT_ACTIVATION", "kernel", 1);
    cr_assert(!takes_the_pass(CLCONVT_ACTIVATION_SNAKE, 32, 4, CLCONVT_F32),
              "CLCONVT_INPUT_ACTIVATION=kernel");
    unsetenv("CLCONVT_INPUT_ACTIVATION");
}

/* ---- clconvt-run --input-activation ---------------------------------------------------------- */

static char cli_dir[256];

static void cli_setup(void) {
    test_tmpdir_make(cli_dir, sizeof cli_dir, "activation_cli");
}

static void cli_teardown(void) {
    test_tmpdir_remove(cli_dir);
}

TestSuite(activation_cli, .init = cli_setup, .fini = cli_teardown, .timeout = 300);

/* The CLI cases: NCL, x (2, CIN, L), the weight in PyTorch order (CIN, COUT, K), stride 2. */
enum { CLI_N = 2, CLI_CIN = 3, CLI_COUT = 4, CLI_K = 4, CLI_L = 7, CLI_LOUT = 2 * (CLI_L - 1) + 4 };

typedef struct cli_data {
    float x[CLI_N * CLI_CIN * CLI_L], w[CLI_CIN * CLI_COUT * CLI_K], alpha[CLI_CIN];
} cli_data;

static void cli_write_npy(const char *name, int ndim, const int64_t *shape, const float *data) {
    char err[512] = "";
    cr_assert_eq(npy_write(test_tmp_path(name), NPY_F32, ndim, shape, data, err, sizeof err), 0,
                 "%s", err);
}

static void cli_make(cli_data *d) {
    double v[CLI_N * CLI_CIN * CLI_L + CLI_CIN * CLI_COUT * CLI_K];
    uint64_t state = 21;
    support_fill(v, CLI_N * CLI_CIN * CLI_L, &state, CLCONVT_F32);
    for (int i = 0; i < CLI_N * CLI_CIN * CLI_L; ++i)
        d->x[i] = (float)(3 * v[i]);
    support_fill(v, CLI_CIN * CLI_COUT * CLI_K, &state, CLCONVT_F32);
    for (int i = 0; i < CLI_CIN * CLI_COUT * CLI_K; ++i)
        d->w[i] = (float)v[i];
    for (int c = 0; c < CLI_CIN; ++c)
        d->alpha[c] = 0.5f + (float)c;
    const int64_t xs[3] = {CLI_N, CLI_CIN, CLI_L}, ws[3] = {CLI_CIN, CLI_COUT, CLI_K};
    cli_write_npy("x.npy", 3, xs, d->x);
    cli_write_npy("w.npy", 3, ws, d->w);
}

/* Run clconvt-run with the common arguments and then extra (NULL-terminated, at most 6). */
static int cli_run(const char *const *extra) {
    const char *exe = getenv("CLCONVT_RUN");
    cr_assert_not_null(exe, "CLCONVT_RUN is not set (run through meson test)");
    const char *args[32] = {"--input",  test_tmp_path("x.npy"),
                            "--output", test_tmp_path("y.npy"),
                            "--layout", "ncl",
                            "--stride", "2"};
    int n = 8;
    for (int i = 0; extra[i] != NULL && n < 31; ++i)
        args[n++] = extra[i];
    args[n] = NULL;
    return test_run_tool_within(exe, args, test_tmp_path("out.txt"), test_tmp_path("err.txt"), 120);
}

/* y.npy against the reference of the activation (kind, alpha) and the layer. */
static void cli_expect(const cli_data *d, clconvt_activation kind, const float *alpha) {
    npy_array y;
    char err[512] = "";
    cr_assert_eq(npy_read(test_tmp_path("y.npy"), &y, err, sizeof err), 0, "%s", err);
    cr_assert_eq(y.count, (size_t)(CLI_N * CLI_COUT * CLI_LOUT));
    double x[CLI_N * CLI_CIN * CLI_L], w[CLI_CIN * CLI_COUT * CLI_K], a[CLI_CIN];
    double ref[CLI_N * CLI_COUT * CLI_LOUT], got[CLI_N * CLI_COUT * CLI_LOUT];
    for (int i = 0; i < CLI_N * CLI_CIN * CLI_L; ++i)
        x[i] = d->x[i];
    for (int i = 0; i < CLI_CIN * CLI_COUT * CLI_K; ++i)
        w[i] = d->w[i];
    for (int c = 0; c < CLI_CIN; ++c)
        a[c] = alpha[kind == CLCONVT_ACTIVATION_SNAKE ? c : 0];
    npy_to_double(&y, got);
    npy_free(&y);
    clconvt_params p;
    clconvt_params_init(&p, CLI_CIN, CLI_COUT, CLI_K);
    p.stride = 2;
    p.layout = CLCONVT_LAYOUT_NCL;
    cr_assert_eq(reference_activate(&p, kind, a, CLI_N, CLI_L, x), 0);
    cr_assert_eq(reference_forward(&p, x, w, NULL, CLI_N, CLI_L, ref), 0);
    const double e = reference_normalised_error(got, ref, CLI_N * CLI_COUT * CLI_LOUT);
    cr_assert_leq(e, 2e-5, "activation %d: normalised error %g", (int)kind, e);
}

#define CLI_W "--weight", test_tmp_path("w.npy"), "--weight-order", "pytorch"

Test(activation_cli, leaky_relu_and_elu) {
    cli_data d;
    cli_make(&d);
    const char *leaky[] = {CLI_W, "--input-activation", "leaky_relu:0.1", NULL};
    cr_assert_eq(cli_run(leaky), 0, "%s", test_read_text(test_tmp_path("err.txt")));
    const float slope = 0.1f, alpha = 0.5f;
    cli_expect(&d, CLCONVT_ACTIVATION_LEAKY_RELU, &slope);
    const char *elu[] = {CLI_W, "--input-activation=elu:0.5", NULL};
    cr_assert_eq(cli_run(elu), 0, "%s", test_read_text(test_tmp_path("err.txt")));
    cli_expect(&d, CLCONVT_ACTIVATION_ELU, &alpha);
}

Test(activation_cli, snake_alphas_from_npy_in_both_shapes) {
    cli_data d;
    cli_make(&d);
    const int64_t dac[3] = {1, CLI_CIN, 1}, flat[1] = {CLI_CIN};
    cli_write_npy("alpha.npy", 3, dac, d.alpha);
    cli_write_npy("alpha_flat.npy", 1, flat, d.alpha);
    char spec[600];
    snprintf(spec, sizeof spec, "snake:%s", test_tmp_path("alpha.npy"));
    const char *args[] = {CLI_W, "--input-activation", spec, NULL};
    cr_assert_eq(cli_run(args), 0, "%s", test_read_text(test_tmp_path("err.txt")));
    cli_expect(&d, CLCONVT_ACTIVATION_SNAKE, d.alpha);
    snprintf(spec, sizeof spec, "snake:%s", test_tmp_path("alpha_flat.npy"));
    cr_assert_eq(cli_run(args), 0, "%s", test_read_text(test_tmp_path("err.txt")));
    cli_expect(&d, CLCONVT_ACTIVATION_SNAKE, d.alpha);
}

/* A safetensors file with the tensors "ups.weight" (the weight, PyTorch order) and
 * "act.alpha" (the alphas, (1, Cin, 1) as DAC stores them), both F32. */
static void write_checkpoint(const cli_data *d, const char *path) {
    char header[512];
    const size_t wb = sizeof d->w, ab = sizeof d->alpha;
    int n = snprintf(
        header, sizeof header,
        "{\"act.alpha\":{\"dtype\":\"F32\",\"shape\":[1,%d,1],\"data_offsets\":[0,%zu]},"
        "\"ups.weight\":{\"dtype\":\"F32\",\"shape\":[%d,%d,%d],\"data_offsets\":[%zu,%zu]}}",
        CLI_CIN, ab, CLI_CIN, CLI_COUT, CLI_K, ab, ab + wb);
    while (n % 8 != 0)
        header[n++] = ' ';
    FILE *f = fopen(path, "wb");
    cr_assert_not_null(f);
    const uint64_t length = (uint64_t)n; /* little-endian hosts only, as the library */
    cr_assert_eq(fwrite(&length, 8, 1, f), 1);
    cr_assert_eq(fwrite(header, 1, (size_t)n, f), (size_t)n);
    cr_assert_eq(fwrite(d->alpha, 1, ab, f), ab);
    cr_assert_eq(fwrite(d->w, 1, wb, f), wb);
    cr_assert_eq(fclose(f), 0);
}

Test(activation_cli, snake_alphas_by_name_from_the_checkpoint) {
    cli_data d;
    cli_make(&d);
    write_checkpoint(&d, test_tmp_path("model.safetensors"));
    const char *args[] = {"--weights",
                          test_tmp_path("model.safetensors"),
                          "--name",
                          "ups",
                          "--input-activation",
                          "snake:@act.alpha",
                          NULL};
    cr_assert_eq(cli_run(args), 0, "%s", test_read_text(test_tmp_path("err.txt")));
    cli_expect(&d, CLCONVT_ACTIVATION_SNAKE, d.alpha);
    /* The weight is no Snake alpha: its shape is refused, by name. */
    const char *wrong[] = {"--weights",
                           test_tmp_path("model.safetensors"),
                           "--name",
                           "ups",
                           "--input-activation",
                           "snake:@ups.weight",
                           NULL};
    cr_assert_eq(cli_run(wrong), 1);
    char *err = test_read_text(test_tmp_path("err.txt"));
    cr_assert_not_null(strstr(err, "tensor 'ups.weight'"), "%s", err);
    cr_assert_not_null(strstr(err, "one alpha per input channel: (3,) or (1, 3, 1)"), "%s", err);
    free(err);
}

/* A refused --input-activation: the exit status, the message and no output file. */
static void cli_refused(const char *const *extra, int code, const char *fragment) {
    unlink(test_tmp_path("y.npy"));
    cr_assert_eq(cli_run(extra), code, "%s", test_read_text(test_tmp_path("err.txt")));
    char *err = test_read_text(test_tmp_path("err.txt"));
    cr_assert_not_null(strstr(err, fragment), "stderr lacks \"%s\": %s", fragment, err);
    free(err);
    cr_assert_neq(access(test_tmp_path("y.npy"), F_OK), 0, "a refused run wrote its output");
}

Test(activation_cli, refusals) {
    cli_data d;
    cli_make(&d);
    const int64_t wrong_shape[1] = {CLI_CIN - 1};
    cli_write_npy("short.npy", 1, wrong_shape, d.alpha);
    char spec[600];
    snprintf(spec, sizeof spec, "snake:%s", test_tmp_path("short.npy"));
    const char *relu[] = {CLI_W, "--input-activation", "relu:1", NULL};
    cli_refused(relu, 2, "--input-activation must be leaky_relu:SLOPE, elu:ALPHA, snake:FILE.npy");
    const char *slope[] = {CLI_W, "--input-activation", "leaky_relu:0.1x", NULL};
    cli_refused(slope, 2, "expects a finite number after 'leaky_relu:', got '0.1x'");
    const char *nan_[] = {CLI_W, "--input-activation", "elu:nan", NULL};
    cli_refused(nan_, 2, "expects a finite number");
    const char *no_file[] = {CLI_W, "--input-activation", "snake:", NULL};
    cli_refused(no_file, 2, "needs FILE.npy or @NAME");
    const char *no_ckpt[] = {CLI_W, "--input-activation", "snake:@alpha", NULL};
    cli_refused(no_ckpt, 2, "snake:@alpha names a tensor of a --weights checkpoint");
    const char *shape[] = {CLI_W, "--input-activation", spec, NULL};
    cli_refused(shape, 1, "has shape (2,), but Snake needs one alpha per input channel");
    const char *help[] = {"--help", NULL};
    cr_assert_eq(cli_run(help), 0);
    char *out = test_read_text(test_tmp_path("out.txt"));
    cr_assert_not_null(strstr(out, "--input-activation snake:@NAME"), "%s", out);
    free(out);
}
