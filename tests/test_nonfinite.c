/*
 * Non-finite values: an infinity or a NaN in the weight or in the input must reach exactly the
 * outputs it reaches in the float64 reference (the SPEC's scatter, which is PyTorch's result), on
 * every kernel path and storage dtype. A kernel that reads a zero for a tap outside the input, or
 * that pads a short phase with zero weights, and multiplies it anyway turns 0 x Inf into a NaN
 * where PyTorch is finite, or carries a NaN input to outputs it never touches.
 *
 * Each case is a small, border-heavy layer (most of its tiles overhang the input) with one kind
 * of non-finite value placed at a few weight taps (the first, a middle one and the last, which is
 * a padded phase's short tap when K is not a multiple of the stride) or at a few inputs (the first
 * and last of the buffer and one in the middle); the rest are random and small enough that
 * nothing overflows. Every output must be NaN exactly where the reference is NaN, the same
 * infinity where it is infinite, and elsewhere within the SPEC's bound, normalised over the finite
 * outputs.
 */
#include <criterion/criterion.h>
#include <criterion/logging.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "support.h"

typedef struct shape {
    int64_t cin, cout, k, stride, dilation, pad_left, pad_right, output_padding, groups, batch,
        length_in;
    int has_bias;
} shape;

static const shape SHAPES[] = {
    /* The report's layer: phases 2 and 3 have one tap fewer than 0 and 1. */
    {3, 8, 6, 4, 1, 0, 0, 0, 1, 2, 9, 0},
    /* Asymmetric padding, output_padding, two groups, bias. */
    {4, 6, 5, 2, 1, 2, 1, 1, 2, 2, 7, 1},
    /* Cropping more than a stride, three groups. */
    {6, 9, 7, 3, 1, 5, 2, 2, 3, 1, 6, 1},
    /* Dilation 2 (paths that take it). */
    {4, 5, 3, 3, 2, 1, 0, 1, 1, 2, 5, 1},
    /* Depthwise (every path; the only shape phase_dw takes). */
    {5, 5, 6, 4, 1, 1, 2, 0, 5, 2, 8, 1},
    /* Stride 1. */
    {3, 4, 4, 1, 1, 1, 1, 0, 1, 1, 6, 0},
    /* Long enough for interior tiles between the borders. */
    {3, 4, 6, 2, 1, 1, 1, 1, 1, 1, 40, 1},
};
#define SHAPE_COUNT (sizeof SHAPES / sizeof SHAPES[0])

/* Where the non-finite values go: +Inf, -Inf or NaN at every spot, or the three mixed. */
typedef enum { IN_WEIGHT, IN_INPUT } target;
enum { SPOTS = 3, KINDS = 4 };

/* The value at spot s for kind: 0 +Inf, 1 -Inf, 2 NaN, 3 mixed (+Inf, -Inf, NaN). */
static double special(int kind, int s) {
    static const double values[3] = {INFINITY, -INFINITY, NAN};
    return values[kind < 3 ? kind : s];
}

/* PyTorch-order weight index (ci, co_local, k). */
static size_t weight_at(const clconvt_params *p, int64_t ci, int64_t cl, int64_t k) {
    return (size_t)((ci * (p->out_channels / p->groups) + cl) * p->kernel_length + k);
}

/* The weight spots: the first tap of (0, 0); the last tap of a channel of group 0 (with mixed
 * values it meets the first spot's infinity); a middle tap of the last channels. */
static void place_in_weight(const clconvt_params *p, int kind, double *w) {
    const int64_t cin_g = p->in_channels / p->groups, cout_g = p->out_channels / p->groups;
    const int64_t k_last = p->kernel_length - 1;
    const size_t spots[SPOTS] = {
        weight_at(p, 0, 0, 0),
        weight_at(p, cin_g - 1, 0, k_last),
        weight_at(p, p->in_channels - 1, cout_g - 1, p->kernel_length / 2),
    };
    for (int s = 0; s < SPOTS; ++s)
        w[spots[s]] = special(kind, s);
}

/* The input spots: the buffer's first and last values and one in the middle of a row. */
static void place_in_input(const clconvt_params *p, int64_t batch, int64_t length, int kind,
                           double *x) {
    const int64_t cin = p->in_channels;
    const int64_t at[SPOTS][3] = {
        {0, 0, 0}, {batch - 1, cin - 1, length - 1}, {0, cin / 2, length / 2}};
    for (int s = 0; s < SPOTS; ++s) {
        const int64_t n = at[s][0], c = at[s][1], i = at[s][2];
        const int64_t index = p->layout == CLCONVT_LAYOUT_NCL ? (n * cin + c) * length + i
                                                              : (n * length + i) * cin + c;
        x[index] = special(kind, s);
    }
}

/* Whether y is what ref is: NaN, the same infinity, or finite. */
static int same_class(double y, double ref) {
    return isnan(ref) ? isnan(y) : isinf(ref) ? y == ref : isfinite(y);
}

/* Compare y to ref: non-finite exactly where ref is, the same infinities, and the finite outputs
 * within bound of the largest finite reference value. Returns 0, or 1 with a line in why. */
static int compare(const double *y, const double *ref, size_t count, double bound, char *why,
                   size_t size) {
    double max_ref = 1e-30, max_diff = 0.0;
    size_t worst = 0, wrong = 0, first_wrong = 0;
    for (size_t i = 0; i < count; ++i) {
        if (!same_class(y[i], ref[i])) {
            first_wrong = wrong++ ? first_wrong : i;
        } else if (isfinite(ref[i])) {
            max_ref = fmax(max_ref, fabs(ref[i]));
            if (fabs(y[i] - ref[i]) > max_diff) {
                max_diff = fabs(y[i] - ref[i]);
                worst = i;
            }
        }
    }
    if (wrong) {
        snprintf(why, size, "output %zu is %g, the reference %g (%zu of %zu outputs differ so)",
                 first_wrong, y[first_wrong], ref[first_wrong], wrong, count);
        return 1;
    }
    if (max_diff <= bound * max_ref)
        return 0;
    snprintf(why, size, "normalised error %.3g > %.3g at output %zu (%g, the reference %g)",
             max_diff / max_ref, bound, worst, y[worst], ref[worst]);
    return 1;
}

static const char *const KIND_NAMES[KINDS] = {"+Inf", "-Inf", "NaN", "+Inf/-Inf/NaN"};

/* One layer: random data, the kind of value placed in the target, library against reference.
 * Returns whether it matched; a mismatch is logged. */
static int run_case(const clconvt_params *p, const char *plan, int64_t batch, int64_t length,
                    target where, int kind, uint64_t seed) {
    int64_t length_out = 0;
    cr_assert_eq(clconvt_output_length(p, length, &length_out), CLCONVT_SUCCESS);
    const size_t nx = (size_t)(batch * p->in_channels * length);
    const size_t ny = (size_t)(batch * p->out_channels * length_out);
    const size_t nw = (size_t)(p->in_channels * (p->out_channels / p->groups) * p->kernel_length);
    const size_t nb = (size_t)p->out_channels;
    double *x = malloc(nx * sizeof *x), *w = malloc(nw * sizeof *w), *b = malloc(nb * sizeof *b);
    double *ref = malloc(ny * sizeof *ref), *y = malloc(ny * sizeof *y);
    cr_assert(x && w && b && ref && y);
    uint64_t state = seed;
    support_fill(x, nx, &state, p->dtype);
    support_fill(w, nw, &state, p->dtype);
    support_fill(b, nb, &state, p->dtype);
    if (where == IN_WEIGHT)
        place_in_weight(p, kind, w);
    else
        place_in_input(p, batch, length, kind, x);
    cr_assert_eq(reference_forward(p, x, w, p->has_bias ? b : NULL, batch, length, ref), 0);
    support_forward(p, plan, batch, length, CLCONVT_WEIGHT_PYTORCH, x, w, b, y);
    char why[256];
    const int failed = compare(y, ref, ny, reference_error_bound(p->dtype), why, sizeof why);
    if (failed)
        cr_log_error("%s, %s in the %s: %s; %s", plan, KIND_NAMES[kind],
                     where == IN_WEIGHT ? "weight" : "input", why,
                     support_describe(p, batch, length, CLCONVT_WEIGHT_PYTORCH));
    free(x);
    free(w);
    free(b);
    free(ref);
    free(y);
    return !failed;
}

/* What a path takes. */
enum { NLC = 1 << CLCONVT_LAYOUT_NLC, NCL = 1 << CLCONVT_LAYOUT_NCL, BOTH = NLC | NCL };
typedef struct path_rules {
    int layouts, depthwise_only, dilation_1_only, f32_only;
} path_rules;

static int takes(const path_rules *rules, const shape *s, int layout) {
    const int depthwise = s->groups == s->cin && s->groups == s->cout;
    return (rules->layouts & (1 << layout)) && (depthwise || !rules->depthwise_only) &&
           (s->dilation == 1 || !rules->dilation_1_only);
}

/* Every shape the path takes, in each of its layouts and dtypes, with every kind of value in the
 * weight and in the input, for each plan: the path's usual tiles, and odd ones (NULL: none). */
static void run_path(const char *const plans[2], path_rules rules) {
    static const clconvt_dtype dtypes[] = {CLCONVT_F32, CLCONVT_F16, CLCONVT_BF16};
    int ran = 0, failed = 0;
    for (size_t pl = 0; pl < 2 && plans[pl] != NULL; ++pl)
        support_require_plan(plans[pl]);
    for (size_t pl = 0; pl < 2 && plans[pl] != NULL; ++pl)
        for (size_t d = 0; d < (rules.f32_only ? 1 : 3); ++d)
            for (size_t i = 0; i < SHAPE_COUNT; ++i)
                for (int layout = 0; layout < 2; ++layout) {
                    const shape *s = &SHAPES[i];
                    if (!takes(&rules, s, layout))
                        continue;
                    clconvt_params p;
                    clconvt_params_init(&p, s->cin, s->cout, s->k);
                    p.stride = s->stride;
                    p.dilation = s->dilation;
                    p.pad_left = s->pad_left;
                    p.pad_right = s->pad_right;
                    p.output_padding = s->output_padding;
                    p.groups = s->groups;
                    p.has_bias = s->has_bias;
                    p.layout = (clconvt_layout)layout;
                    p.dtype = dtypes[d];
                    for (int where = 0; where < 2; ++where)
                        for (int kind = 0; kind < KINDS; ++kind) {
                            const uint64_t seed = (uint64_t)(i * 131 + (size_t)kind * 7 + where);
                            failed += !run_case(&p, plans[pl], s->batch, s->length_in,
                                                (target)where, kind, seed);
                            ++ran;
                        }
                }
    cr_assert_gt(ran, 0);
    cr_assert_eq(failed, 0,
                 "%d of %d cases put NaN or Inf where the reference does not (or "
                 "missed one); see the log",
                 failed, ran);
}

#define PLANS(usual, odd) ((const char *const[2]){usual, odd})

Test(nonfinite, phase, .timeout = 600) {
    run_path(PLANS("phase", "phase:p=3,c=5"), (path_rules){BOTH, 0, 0, 0});
}
Test(nonfinite, phase_pos, .timeout = 600) {
    run_path(PLANS("phase_pos", "phase_pos:vec=4,p=8,c=3,chunk=2"), (path_rules){NCL, 0, 0, 0});
}
Test(nonfinite, phase_chan, .timeout = 600) {
    run_path(PLANS("phase_chan", "phase_chan:vec=4,p=3,c=8"), (path_rules){NLC, 0, 0, 0});
}
Test(nonfinite, phase_dw, .timeout = 600) {
    run_path(PLANS("phase_dw", "phase_dw:vec=4,p=3,c=4"), (path_rules){NLC, 1, 0, 0});
}
Test(nonfinite, phase_fold, .timeout = 600) {
    run_path(PLANS("phase_fold", "phase_fold:vec=8,p=5,chunk=2"), (path_rules){NCL, 0, 1, 0});
}
Test(nonfinite, phase_fold_blocked, .timeout = 600) {
    run_path(PLANS("phase_fold:vec=16,p=4,pt=3", "phase_fold:vec=8,p=4,pt=4,chunk=2"),
             (path_rules){NCL, 0, 1, 0});
}
Test(nonfinite, gemm, .timeout = 600) {
    run_path(PLANS("gemm", NULL), (path_rules){BOTH, 0, 0, 1});
}
