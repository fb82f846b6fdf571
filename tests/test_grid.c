/*
 * The correctness grid: the library against the float64 reference over every parameter the
 * operator has. For each stride (one Criterion test each, so they spread over cores), dilation,
 * layout and weight order, K runs over 1..17 while the other parameters cycle through their cases
 * (every legal output_padding, symmetric, asymmetric and large padding, groups 1/2/3/depthwise,
 * bias on and off, N 0/1/3, lengths from 1 up) — deterministically, so a failure names a case that
 * reproduces. Channel counts avoid multiples of the tile widths.
 */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "grid_cases.h"
#include "support.h"

/* Layouts a run covers, as a bit mask. */
enum { NLC = 1 << CLCONVT_LAYOUT_NLC, NCL = 1 << CLCONVT_LAYOUT_NCL, BOTH = NLC | NCL };

static void run_dilations(int64_t stride, clconvt_dtype dtype, int cases_per_k, int layouts,
                          int64_t max_dilation) {
    int ran = 0, expected = 0;
    for (int64_t dilation = 1; dilation <= max_dilation; ++dilation)
        for (int layout = 0; layout < 2; ++layout)
            for (int order = 0; order < 2 && (layouts & (1 << layout)); ++order, expected += 17)
                for (int64_t k = 1; k <= 17; ++k)
                    for (int64_t i = 0; i < cases_per_k; ++i) {
                        grid_case c;
                        if (!grid_make_case(stride, dilation, k, i + order + 2 * layout,
                                            (clconvt_layout)layout, dtype, &c))
                            continue;
                        const clconvt_weight_order wo = (clconvt_weight_order)order;
                        const uint64_t seed = (uint64_t)(stride * 1000003 + k * 1009 + i);
                        const double error =
                            support_run_case(&c.params, c.batch, c.length_in, wo, seed);
                        cr_assert(error <= reference_error_bound(dtype),
                                  "normalised error %.3g > %.3g for %s", error,
                                  reference_error_bound(dtype),
                                  support_describe(&c.params, c.batch, c.length_in, wo));
                        ++ran;
                    }
    cr_assert_gt(ran, expected * cases_per_k * 9 / 10, "only %d cases were valid", ran);
}

static void run_layouts(int64_t stride, clconvt_dtype dtype, int cases_per_k, int layouts) {
    run_dilations(stride, dtype, cases_per_k, layouts, 3);
}

static void run_stride(int64_t stride, clconvt_dtype dtype, int cases_per_k) {
    run_layouts(stride, dtype, cases_per_k, BOTH);
}

#define STRIDE_TEST(s)                                                                             \
    Test(grid_f32, stride_##s, .timeout = 600) {                                                   \
        run_stride(s, CLCONVT_F32, 2);                                                             \
    }
STRIDE_TEST(1)
STRIDE_TEST(2)
STRIDE_TEST(3)
STRIDE_TEST(4)
STRIDE_TEST(5)
STRIDE_TEST(6)
STRIDE_TEST(7)
STRIDE_TEST(8)

/* Half-precision storage: the same grid on a few strides, against the reference computed on the
 * storage-rounded values, within the SPEC's looser bounds. */
Test(grid_f16, strides_1_2_5, .timeout = 600) {
    run_stride(1, CLCONVT_F16, 1);
    run_stride(2, CLCONVT_F16, 1);
    run_stride(5, CLCONVT_F16, 1);
}
Test(grid_bf16, strides_1_3_8, .timeout = 600) {
    run_stride(1, CLCONVT_BF16, 1);
    run_stride(3, CLCONVT_BF16, 1);
    run_stride(8, CLCONVT_BF16, 1);
}

/* Long inputs and real-model channel counts: many tiles per row, both layouts. */
Test(grid_long, real_shapes, .timeout = 600) {
    static const struct {
        int64_t cin, cout, k, stride, pad, groups, length;
    } shapes[] = {
        {64, 32, 4, 2, 1, 1, 3001},  /* HiFi-GAN last upsampler, odd length */
        {37, 19, 16, 8, 4, 1, 515},  /* HiFi-GAN first upsampler, odd channels */
        {12, 12, 6, 3, 2, 12, 2049}, /* depthwise */
        {40, 1, 16, 8, 0, 1, 1000},  /* Conv-TasNet decoder: one output channel */
        {8, 8, 100, 25, 0, 1, 77},   /* long kernel, WaveGlow-like */
    };
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; ++s)
        for (int layout = 0; layout < 2; ++layout) {
            clconvt_params p;
            clconvt_params_init(&p, shapes[s].cin, shapes[s].cout, shapes[s].k);
            p.stride = shapes[s].stride;
            p.pad_left = p.pad_right = shapes[s].pad;
            p.groups = shapes[s].groups;
            p.has_bias = 1;
            p.layout = (clconvt_layout)layout;
            const double error =
                support_run_case(&p, 2, shapes[s].length, (clconvt_weight_order)layout, 77 + s);
            cr_assert(error <= 2e-5, "normalised error %.3g for %s", error,
                      support_describe(&p, 2, shapes[s].length, (clconvt_weight_order)layout));
        }
}

/* Border tiles may load vectors that run into the neighbouring row and zero the lanes outside
 * their own; a neighbour holding infinities must still not reach another group's output (a
 * multiply by zero would turn them into NaNs). Group 1's rows are all infinite here, and group 0's
 * output must match the reference exactly as if they were not there. */
Test(grid_border, neighbour_rows_do_not_leak) {
    for (int layout = 0; layout < 2; ++layout) {
        clconvt_params p;
        clconvt_params_init(&p, 2, 2, 4);
        p.groups = 2;
        p.stride = 2;
        p.pad_left = p.pad_right = 1;
        p.layout = (clconvt_layout)layout;
        enum { N = 3, L = 37 };
        int64_t length_out;
        cr_assert_eq(clconvt_output_length(&p, L, &length_out), CLCONVT_SUCCESS);
        float x[N * 2 * L], w[2 * 1 * 4], y[N * 2 * 80];
        double xd[N * 2 * L], wd[8], ref[N * 2 * 80];
        uint64_t state = 99;
        support_fill(wd, 8, &state, CLCONVT_F32);
        support_fill(xd, N * 2 * L, &state, CLCONVT_F32);
        for (int i = 0; i < 8; ++i)
            w[i] = (float)wd[i];
        for (int n = 0; n < N; ++n)
            for (int c = 0; c < 2; ++c)
                for (int i = 0; i < L; ++i) {
                    const int at = layout ? (n * 2 + c) * L + i : (n * L + i) * 2 + c;
                    x[at] = c == 1 ? INFINITY : (float)xd[at];
                    xd[at] = x[at];
                }
        cr_assert_eq(reference_forward(&p, xd, wd, NULL, N, L, ref), 0);
        clconvt_layer *layer = NULL;
        cr_assert_eq(clconvt_layer_create(support_device(), &p, &layer), CLCONVT_SUCCESS);
        cr_assert_eq(clconvt_layer_set_weight(layer, w, CLCONVT_WEIGHT_PYTORCH, CLCONVT_F32),
                     CLCONVT_SUCCESS);
        cr_assert_eq(clconvt_layer_forward_host(layer, x, y, N, L), CLCONVT_SUCCESS, "%s",
                     clconvt_last_error());
        for (int n = 0; n < N; ++n)
            for (int64_t o = 0; o < length_out; ++o) {
                const int64_t at = layout ? (n * 2 + 0) * length_out + o : (n * length_out + o) * 2;
                cr_assert(fabs(y[at] - ref[at]) <= 1e-6 * (1 + fabs(ref[at])),
                          "layout %d n %d o %lld: %g, expected %g", layout, n, (long long)o, y[at],
                          ref[at]);
            }
        clconvt_layer_release(layer);
    }
}

/* The planner's CPU choices are tested on CPU devices only. */
static void skip_unless_cpu(void) {
    clconvt_device_info info;
    cr_assert_eq(clconvt_device_get_info(support_device(), &info), CLCONVT_SUCCESS);
    if (!(info.type & CL_DEVICE_TYPE_CPU))
        cr_skip_test("the planner's CPU choices; this device is not a CPU");
}

/* The planner's choice on a CPU device: phase_fold where it fits (the real models' NCL upsamplers),
 * phase_pos where it does not (one output channel at stride 2, stride 1, dilation 2, a stride of
 * 9 that would leave 7 of 16 lanes idle, WaveGlow's 256). */
Test(grid_paths, planner_choice_on_cpu) {
    skip_unless_cpu();
    static const struct {
        int64_t cin, cout, k, stride, dilation;
        const char *path;
    } cases[] = {
        {512, 256, 16, 8, 1, "phase_fold"}, {64, 32, 4, 2, 1, "phase_fold"},
        {256, 128, 10, 5, 1, "phase_fold"}, {80, 80, 32, 16, 1, "phase_fold"},
        {512, 1, 16, 8, 1, "phase_fold"},   {64, 1, 4, 2, 1, "phase_pos"},
        {64, 32, 3, 1, 1, "phase_pos"},     {64, 32, 4, 2, 2, "phase_pos"},
        {64, 32, 18, 9, 1, "phase_pos"},    {80, 80, 1024, 256, 1, "phase_pos"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; ++i) {
        clconvt_params p;
        clconvt_params_init(&p, cases[i].cin, cases[i].cout, cases[i].k);
        p.stride = cases[i].stride;
        p.dilation = cases[i].dilation;
        p.layout = CLCONVT_LAYOUT_NCL;
        clconvt_layer *layer = NULL;
        cr_assert_eq(clconvt_layer_create(support_device(), &p, &layer), CLCONVT_SUCCESS,
                     "case %zu: %s", i, clconvt_last_error());
        cr_expect_str_eq(clconvt_layer_plan_name(layer), cases[i].path, "case %zu: %s", i,
                         clconvt_layer_plan_name(layer));
        clconvt_layer_release(layer);
    }
}

/* Channel-starved, stride-heavy layers on a CPU: (output channel, phase) pairs fill the narrowest
 * vector that holds the phases, an M = vec GEMM with 16 positions per work-item (Conv-TasNet's
 * 512->1 at stride 8: vec 8); with channels for 16 lanes, the usual plan (on a CPU of AVX2's
 * vectors of 8, its usual plan: src/paths/phase_fold.c). */
Test(grid_paths, planner_folds_starved_layers) {
    skip_unless_cpu();
    cl_uint lanes = 0;
    cr_assert_eq(clGetDeviceInfo(clconvt_device_id(support_device()),
                                 CL_DEVICE_NATIVE_VECTOR_WIDTH_FLOAT, sizeof lanes, &lanes, NULL),
                 CL_SUCCESS);
    static const struct {
        int64_t cin, cout, k, stride;
        const char *plan, *narrow_plan; /* narrow_plan NULL: the same */
    } cases[] = {
        {512, 1, 16, 8, "phase_fold:vec=8,p=16,c=1", NULL},
        {64, 1, 6, 3, "phase_fold:vec=4,p=16,c=1", NULL},
        {64, 1, 12, 6, "phase_fold:vec=8,p=16,c=1", NULL},
        {64, 2, 16, 8, "phase_fold:vec=16,p=6,c=2", "phase_fold:vec=8,p=6,c=2"},
        {64, 1, 32, 16, "phase_fold:vec=16,p=6,c=1", NULL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; ++i) {
        clconvt_params p;
        clconvt_params_init(&p, cases[i].cin, cases[i].cout, cases[i].k);
        p.stride = cases[i].stride;
        p.layout = CLCONVT_LAYOUT_NCL;
        clconvt_layer *layer = NULL;
        cr_assert_eq(clconvt_layer_create(support_device(), &p, &layer), CLCONVT_SUCCESS,
                     "case %zu: %s", i, clconvt_last_error());
        char text[128];
        cr_assert_eq(clconvt_layer_plan(layer, text, sizeof text), CLCONVT_SUCCESS);
        const char *plan =
            lanes < 16 && cases[i].narrow_plan != NULL ? cases[i].narrow_plan : cases[i].plan;
        cr_expect(strncmp(text, plan, strlen(plan)) == 0 && text[strlen(plan)] == ',',
                  "case %zu: %s, expected %s,...", i, text, plan);
        clconvt_layer_release(layer);
    }
}

/* Every kernel path, forced through CLCONVT_PLAN with tile shapes the planner would not pick
 * (odd tiles, narrow vectors, chunks that split the reduction unevenly), over the grid on a few
 * strides. Criterion runs each test in its own process, so the variable stays local to it. */
static void run_forced(const char *forced, const char *path, int layouts) {
    support_require_plan(forced);
    setenv("CLCONVT_PLAN", forced, 1);
    clconvt_params p;
    clconvt_params_init(&p, 8, 8, 3);
    p.layout = layouts & NCL ? CLCONVT_LAYOUT_NCL : CLCONVT_LAYOUT_NLC;
    clconvt_layer *layer = NULL;
    cr_assert_eq(clconvt_layer_create(support_device(), &p, &layer), CLCONVT_SUCCESS, "%s: %s",
                 forced, clconvt_last_error());
    cr_assert_str_eq(clconvt_layer_plan_name(layer), path, "CLCONVT_PLAN=%s was not taken", forced);
    clconvt_layer_release(layer);
    static const int64_t strides[] = {1, 3, 8};
    for (size_t s = 0; s < sizeof strides / sizeof strides[0]; ++s)
        run_layouts(strides[s], CLCONVT_F32, 1, layouts);
}

Test(grid_paths, phase_odd_tiles, .timeout = 600) {
    run_forced("phase:p=3,c=5,lp=1,lc=2,lr=3", "phase", BOTH);
}
Test(grid_paths, phase_pos_narrow, .timeout = 600) {
    run_forced("phase_pos:vec=8,p=16,c=3", "phase_pos", NCL);
}
Test(grid_paths, phase_pos_chunked, .timeout = 600) {
    run_forced("phase_pos:vec=16,p=32,c=12,chunk=5,lp=3,lc=2", "phase_pos", NCL);
}
Test(grid_paths, phase_chan_narrow, .timeout = 600) {
    run_forced("phase_chan:vec=4,p=3,c=8,lp=2,lc=1,lr=3", "phase_chan", NLC);
}
Test(grid_paths, phase_chan_wide, .timeout = 600) {
    run_forced("phase_chan:vec=16,p=8,c=32", "phase_chan", NLC);
}
/* f16 and bf16 inputs decoded 8 channels at a time: groups of 1 to 9 input channels (a partial
 * block, never a neighbouring group's channels), tiles at both borders. */
Test(grid_paths, phase_chan_half, .timeout = 600) {
    static const char *const plans[] = {"phase_chan:vec=16,p=8,c=32", "phase_chan:vec=4,p=3,c=8"};
    for (size_t i = 0; i < sizeof plans / sizeof plans[0]; ++i) {
        setenv("CLCONVT_PLAN", plans[i], 1);
        run_dilations(2 + 3 * (int64_t)i, CLCONVT_F16, 1, NLC, 2);
        run_dilations(2 + 3 * (int64_t)i, CLCONVT_BF16, 1, NLC, 2);
    }
}
/* phase_fold runs NCL layers with dilation 1 and a stride up to its vector width: every such
 * stride, channel counts that leave partial vectors and tiles, borders on both sides. */
static void run_fold(const char *forced, int64_t max_stride) {
    setenv("CLCONVT_PLAN", forced, 1);
    for (int64_t stride = 1; stride <= max_stride; ++stride)
        run_dilations(stride, CLCONVT_F32, 2, NCL, 1);
}
Test(grid_paths, phase_fold_default, .timeout = 600) {
    run_fold("phase_fold", 16);
}
Test(grid_paths, phase_fold_narrow_chunked, .timeout = 600) {
    run_fold("phase_fold:vec=8,p=5,chunk=3,lp=3,lc=2", 8);
}
/* The cache-blocked form: register tiles of p positions, pt per work-item, reduced in blocks of
 * chunk input channels (chunks that split the reduction unevenly, and tiles past the output). */
Test(grid_paths, phase_fold_blocked, .timeout = 600) {
    run_fold("phase_fold:vec=8,p=3,pt=3,chunk=2,lp=2,lc=2", 8);
}
Test(grid_paths, phase_fold_half, .timeout = 600) {
    setenv("CLCONVT_PLAN", "phase_fold", 1);
    static const int64_t strides[] = {2, 5, 8};
    for (size_t s = 0; s < sizeof strides / sizeof strides[0]; ++s) {
        run_dilations(strides[s], CLCONVT_F16, 1, NCL, 1);
        run_dilations(strides[s], CLCONVT_BF16, 1, NCL, 1);
    }
}
/* f16 and bf16 inputs decoded p at a time, as one vector (p a vector width): the channel-starved
 * plans' p 16, and p 4. */
Test(grid_paths, phase_fold_half_vector_inputs, .timeout = 600) {
    static const char *const plans[] = {"phase_fold:vec=8,p=16", "phase_fold:vec=16,p=4"};
    static const int64_t strides[] = {3, 8};
    for (size_t i = 0; i < sizeof plans / sizeof plans[0]; ++i) {
        setenv("CLCONVT_PLAN", plans[i], 1);
        for (size_t s = 0; s < sizeof strides / sizeof strides[0]; ++s) {
            run_dilations(strides[s], CLCONVT_F16, 1, NCL, 1);
            run_dilations(strides[s], CLCONVT_BF16, 1, NCL, 1);
        }
    }
}
/* A plan forced on the NCL grid of one stride. */
typedef struct plan_case {
    const char *plan;
    int64_t stride;
} plan_case;
static void run_plan_cases(const plan_case *cases, size_t count, int with_f32) {
    for (size_t i = 0; i < count; ++i) {
        setenv("CLCONVT_PLAN", cases[i].plan, 1);
        if (with_f32)
            run_dilations(cases[i].stride, CLCONVT_F32, 2, NCL, 1);
        run_dilations(cases[i].stride, CLCONVT_F16, 1, NCL, 1);
        run_dilations(cases[i].stride, CLCONVT_BF16, 1, NCL, 1);
    }
}
/* f16 and bf16 inputs decoded as a vector wider than p (the usual p 6 in 8 lanes, p 3 in 4, p 11
 * in 16), the lanes past p discarded; tiles whose wider vector would pass the row's end take the
 * border loop. The epilogue encodes each finished vector once: channels' biases in their lanes,
 * partial channel vectors (vec 16 at stride 5 holds 3 channels and a spare lane). */
Test(grid_paths, phase_fold_half_wide_inputs, .timeout = 600) {
    static const plan_case cases[] = {{"phase_fold:vec=16,p=6", 5},
                                      {"phase_fold:vec=8,p=3", 8},
                                      {"phase_fold:vec=4,p=11,c=2", 3}};
    run_plan_cases(cases, sizeof cases / sizeof cases[0], 0);
}
/* One vector of channels (c = vec / stride) and p a vector width: the lanes hold positions
 * (cl/phase_fold.cl's POSITION_LANES). Strides that leave spare lanes (3 in 4, 5 in 8), phases
 * past K on the last tap, both borders, the cache-blocked form, every dtype. */
Test(grid_paths, phase_fold_position_lanes, .timeout = 600) {
    static const plan_case cases[] = {{"phase_fold:vec=8,p=16,c=1", 8},
                                      {"phase_fold:vec=4,p=8,c=1", 3},
                                      {"phase_fold:vec=16,p=4,c=2", 8},
                                      {"phase_fold:vec=8,p=16,c=1,pt=3,chunk=2,lp=2,lc=1", 5},
                                      {"phase_fold:vec=16,p=8,c=8", 2}};
    run_plan_cases(cases, sizeof cases / sizeof cases[0], 1);
}
Test(grid_paths, gemm, .timeout = 600) {
    run_forced("gemm", "gemm", BOTH);
}
/* A column buffer of 4 KiB holds a few positions of one sample: the batch and the length are
 * split into many chunks, and later chunks add into outputs the earlier ones wrote. */
Test(grid_paths, gemm_split_columns, .timeout = 600) {
    setenv("CLCONVT_GEMM_COLUMN_BYTES", "4096", 1);
    run_forced("gemm", "gemm", BOTH);
}

/* Depthwise layers (groups = Cin = Cout) in NLC take their own path, vectorised over channels;
 * channel counts that leave a partial vector, every stride, dilation and K. */
static void run_depthwise(const char *forced) {
    if (forced != NULL)
        setenv("CLCONVT_PLAN", forced, 1);
    static const int64_t channels[] = {5, 16, 21, 40};
    int ran = 0;
    for (int64_t stride = 1; stride <= 8; ++stride)
        for (int64_t dilation = 1; dilation <= 3; ++dilation)
            for (int64_t k = 1; k <= 17; k += 2) {
                const int64_t c = channels[(stride + k) % 4];
                clconvt_params p;
                clconvt_params_init(&p, c, c, k);
                p.groups = c;
                p.stride = stride;
                p.dilation = dilation;
                p.pad_left = (k + stride) % 4;
                p.pad_right = k / 3;
                p.output_padding = (k + dilation) % (stride > dilation ? stride : dilation);
                p.has_bias = (int)(k % 3 != 0);
                const int64_t batch = 1 + k % 3, length = 3 + (k * 7) % 40;
                int64_t length_out;
                if (clconvt_output_length(&p, length, &length_out) != CLCONVT_SUCCESS)
                    continue;
                const clconvt_weight_order order = (clconvt_weight_order)(k % 2);
                const double error = support_run_case(&p, batch, length, order, (uint64_t)k);
                cr_assert(error <= 2e-5, "normalised error %.3g for %s", error,
                          support_describe(&p, batch, length, order));
                ++ran;
            }
    cr_assert_gt(ran, 150);
}

Test(grid_paths, phase_dw_default, .timeout = 600) {
    run_depthwise(NULL);
}
Test(grid_paths, phase_dw_narrow, .timeout = 600) {
    run_depthwise("phase_dw:vec=4,p=3,c=4,lp=3,lc=2,lr=2");
}

/* forward_host splits work larger than one device allocation: with the limit lowered to 8 KiB,
 * these cases run as many pieces, by samples and by ranges of outputs with their input halos. */
Test(grid_split, small_allocations, .timeout = 600) {
    setenv("CLCONVT_MAX_ALLOC_BYTES", "8192", 1);
    static const int64_t strides[] = {1, 2, 5, 8};
    for (size_t s = 0; s < sizeof strides / sizeof strides[0]; ++s)
        run_stride(strides[s], CLCONVT_F32, 1);
}

/* A layer with every weight 1 (the plan forced unless NULL) run on x, one sample of `length`
 * positions, into y; returns the layer, for its plan's name, to be released by the caller. */
static clconvt_layer *run_all_ones(const clconvt_params *p, const char *plan, const float *ones,
                                   const void *x, void *y, int64_t length) {
    clconvt_layer *layer = NULL;
    cr_assert_eq(clconvt_layer_create_with_plan(support_device(), p, plan, &layer), CLCONVT_SUCCESS,
                 "%s", clconvt_last_error());
    cr_assert_eq(clconvt_layer_set_weight(layer, ones, CLCONVT_WEIGHT_MAX, CLCONVT_F32),
                 CLCONVT_SUCCESS);
    cr_assert_eq(clconvt_layer_forward_host(layer, x, y, 1, length), CLCONVT_SUCCESS, "%s",
                 clconvt_last_error());
    return layer;
}

/* Every 16-bit pattern through an identity layer (K = stride, every weight 1, so each input comes
 * back `stride` times): the kernels' own f16 and bf16 decoders and encoders must give back every
 * value, subnormals, infinities and NaNs included (-0 comes back as +0, as from any sum that
 * starts at zero). At stride 1, NCL takes phase_pos (vector decode, scalar encode) and depthwise
 * NLC takes phase_dw (vector decode and encode); forced phase_fold encodes vectors of `stride`. */
static void identity_all_patterns(clconvt_dtype dtype, clconvt_layout layout, int64_t stride,
                                  const char *plan) {
    enum { PATTERNS = 65536, CHANNELS = 16, MAX_STRIDE = 8 };
    cr_assert(stride <= MAX_STRIDE);
    const int64_t channels = layout == CLCONVT_LAYOUT_NCL ? 1 : CHANNELS;
    const int64_t length = PATTERNS / channels;
    clconvt_params p;
    clconvt_params_init(&p, channels, channels, stride);
    p.stride = stride;
    p.groups = channels;
    p.layout = layout;
    p.dtype = dtype;
    uint16_t *x = malloc(PATTERNS * sizeof *x), *y = malloc(PATTERNS * stride * sizeof *y);
    float *ones = malloc(CHANNELS * MAX_STRIDE * sizeof *ones);
    float *xf = malloc(PATTERNS * sizeof *xf), *yf = malloc(PATTERNS * stride * sizeof *yf);
    cr_assert(x && y && ones && xf && yf);
    for (int i = 0; i < PATTERNS; ++i)
        x[i] = (uint16_t)i;
    for (int c = 0; c < CHANNELS * MAX_STRIDE; ++c)
        ones[c] = 1.0f;
    clconvt_layer *layer = run_all_ones(&p, plan, ones, x, y, length);
    cr_assert_eq(clconvt_convert(x, dtype, xf, CLCONVT_F32, PATTERNS), CLCONVT_SUCCESS);
    cr_assert_eq(clconvt_convert(y, dtype, yf, CLCONVT_F32, PATTERNS * stride), CLCONVT_SUCCESS);
    for (int i = 0; i < PATTERNS; ++i)
        for (int64_t r = 0; r < stride; ++r) {
            /* input position i / channels of channel i % channels comes back at outputs
             * (i / channels) * stride + r of that channel */
            const int64_t o = ((i / channels) * stride + r) * channels + i % channels;
            cr_assert(isnan(xf[i]) ? isnan(yf[o]) : yf[o] == xf[i],
                      "%s %s stride %lld: pattern 0x%04x (%g) came back as 0x%04x (%g) via %s",
                      clconvt_dtype_name(dtype), layout == CLCONVT_LAYOUT_NCL ? "ncl" : "nlc",
                      (long long)stride, i, (double)xf[i], y[o], (double)yf[o],
                      clconvt_layer_plan_name(layer));
        }
    clconvt_layer_release(layer);
    free(x);
    free(y);
    free(ones);
    free(xf);
    free(yf);
}

/* The identity above only meets values the storage holds exactly; this checks the kernels'
 * rounding. K = 2 * stride, every weight 1: output o is x[q] + x[q - 1] (q = o / stride), a float
 * sum that the kernel encodes, to be bit for bit what the host's encoder (clconvt_convert, round
 * to nearest even) makes of the same sum. Inputs: at odd positions every other 16-bit pattern, in
 * a scrambled order; at even positions half a unit in the last place of the next input (signs
 * alternating), so that half the sums are ties, where round-half-up and round-to-even differ. */
static void sums_round_like_host(clconvt_dtype dtype, int64_t stride, const char *plan) {
    enum { PATTERNS = 65536 };
    clconvt_params p;
    clconvt_params_init(&p, 1, 1, 2 * stride);
    p.stride = stride;
    p.layout = CLCONVT_LAYOUT_NCL;
    p.dtype = dtype;
    const int64_t length_out = (PATTERNS + 1) * stride;
    uint16_t *x = malloc(PATTERNS * sizeof *x), *y = malloc(length_out * sizeof *y);
    uint16_t *expected = malloc(length_out * sizeof *expected);
    float *xf = malloc(PATTERNS * sizeof *xf), *sums = malloc(length_out * sizeof *sums);
    float ones[16];
    cr_assert(x && y && expected && xf && sums && 2 * stride <= 16);
    const int mantissa_bits = dtype == CLCONVT_F16 ? 10 : 7;
    for (int i = PATTERNS - 1; i >= 0; --i) {
        x[i] = (uint16_t)((uint32_t)i * 40503u); /* odd multiplier: a permutation */
        float next;
        if (i % 2 == 0 && i + 1 < PATTERNS &&
            clconvt_convert(&x[i + 1], dtype, &next, CLCONVT_F32, 1) == CLCONVT_SUCCESS &&
            isfinite(next) && next != 0.0f) {
            const float half_ulp = ldexpf(i % 4 ? 1.0f : -1.0f, ilogbf(next) - mantissa_bits - 1);
            cr_assert_eq(clconvt_convert(&half_ulp, CLCONVT_F32, &x[i], dtype, 1), CLCONVT_SUCCESS);
        }
    }
    for (int k = 0; k < 16; ++k)
        ones[k] = 1.0f;
    cr_assert_eq(clconvt_convert(x, dtype, xf, CLCONVT_F32, PATTERNS), CLCONVT_SUCCESS);
    for (int64_t o = 0; o < length_out; ++o) {
        const int64_t q = o / stride;
        volatile float sum = 0.0f; /* the kernel's order: 0 + x[q], then + x[q - 1] */
        sum = sum + (q < PATTERNS ? xf[q] : 0.0f);
        sum = sum + (q >= 1 ? xf[q - 1] : 0.0f);
        sums[o] = sum;
    }
    cr_assert_eq(clconvt_convert(sums, CLCONVT_F32, expected, dtype, length_out), CLCONVT_SUCCESS);
    clconvt_layer *layer = run_all_ones(&p, plan, ones, x, y, PATTERNS);
    for (int64_t o = 0; o < length_out; ++o) {
        const int nan = isnan(sums[o]);
        const int same = nan ? (dtype == CLCONVT_F16 ? (y[o] & 0x7c00) == 0x7c00 && (y[o] & 0x3ff)
                                                     : (y[o] & 0x7f80) == 0x7f80 && (y[o] & 0x7f))
                             : y[o] == expected[o];
        cr_assert(same, "%s stride %lld via %s: output %lld = %a rounded to 0x%04x, host 0x%04x",
                  clconvt_dtype_name(dtype), (long long)stride, clconvt_layer_plan_name(layer),
                  (long long)o, (double)sums[o], y[o], expected[o]);
    }
    clconvt_layer_release(layer);
    free(x);
    free(y);
    free(expected);
    free(xf);
    free(sums);
}

static void every_pattern(clconvt_dtype dtype) {
    identity_all_patterns(dtype, CLCONVT_LAYOUT_NCL, 1, NULL);
    identity_all_patterns(dtype, CLCONVT_LAYOUT_NLC, 1, NULL);
    identity_all_patterns(dtype, CLCONVT_LAYOUT_NCL, 2, "phase_fold");
    identity_all_patterns(dtype, CLCONVT_LAYOUT_NCL, 3, "phase_fold");
    identity_all_patterns(dtype, CLCONVT_LAYOUT_NCL, 8, "phase_fold");
    sums_round_like_host(dtype, 1, NULL);
    sums_round_like_host(dtype, 3, "phase_fold");
    sums_round_like_host(dtype, 8, "phase_fold");
    sums_round_like_host(dtype, 8, "phase_pos");
}
Test(grid_storage, f16_every_pattern) {
    every_pattern(CLCONVT_F16);
}
Test(grid_storage, bf16_every_pattern) {
    every_pattern(CLCONVT_BF16);
}

/* clconvt_layer_plan's string reads back, through clconvt_layer_create_with_plan, as the same
 * plan: for the planner's choices on every path, and for forced plans (chunk=0 included). */
Test(grid_paths, plan_strings_round_trip) {
    static const struct {
        int64_t cin, cout, groups;
        clconvt_layout layout;
        const char *forced;
    } cases[] = {
        {768, 384, 1, CLCONVT_LAYOUT_NCL, NULL},
        {768, 384, 1, CLCONVT_LAYOUT_NCL, "phase_pos:chunk=0"},
        {768, 384, 1, CLCONVT_LAYOUT_NCL, "phase_fold:vec=8,p=4,chunk=16"},
        {768, 384, 1, CLCONVT_LAYOUT_NCL, "phase_fold:vec=16,p=6,c=16,pt=8,chunk=32"},
        {64, 3, 1, CLCONVT_LAYOUT_NCL, "phase_fold:vec=4,c=3"},
        {64, 3, 1, CLCONVT_LAYOUT_NCL, "phase"},
        {64, 32, 1, CLCONVT_LAYOUT_NLC, NULL},
        {64, 3, 1, CLCONVT_LAYOUT_NLC, NULL},
        {32, 32, 32, CLCONVT_LAYOUT_NLC, NULL},
        {64, 32, 1, CLCONVT_LAYOUT_NLC, "gemm"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; ++i) {
        if (!support_has_plan(cases[i].forced))
            continue; /* gemm, in a build without CLBlast */
        clconvt_params p;
        clconvt_params_init(&p, cases[i].cin, cases[i].cout, 8);
        p.stride = 4;
        p.groups = cases[i].groups;
        p.layout = cases[i].layout;
        clconvt_layer *first = NULL, *second = NULL;
        cr_assert_eq(clconvt_layer_create_with_plan(support_device(), &p, cases[i].forced, &first),
                     CLCONVT_SUCCESS, "case %zu: %s", i, clconvt_last_error());
        char text[256], again[256];
        cr_assert_eq(clconvt_layer_plan(first, text, sizeof text), CLCONVT_SUCCESS);
        cr_assert_eq(clconvt_layer_create_with_plan(support_device(), &p, text, &second),
                     CLCONVT_SUCCESS, "case %zu: \"%s\" does not read back: %s", i, text,
                     clconvt_last_error());
        cr_assert_eq(clconvt_layer_plan(second, again, sizeof again), CLCONVT_SUCCESS);
        cr_assert_str_eq(again, text, "case %zu", i);
        clconvt_layer_release(first);
        clconvt_layer_release(second);
    }
}
