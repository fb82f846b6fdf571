/*
 * The cases of the oclgrind test (tests/oclgrind/oclgrind.sh runs this program under
 * `oclgrind --data-races`): every kernel path with forced plans (its CPU tile and GPU-like tiles),
 * every dtype it takes, both layouts where it takes them, on small shapes whose borders dominate
 * (L_in 1..17, odd channel counts, padding and output_padding at their limits, groups, depthwise,
 * dilation). Oclgrind's device reports several device types at once, so the planner is never
 * asked: every plan is forced. Each case is checked against the float64 reference within the
 * SPEC's bound; Oclgrind itself reports out-of-bounds accesses, races and barrier divergence on
 * stderr, which the script checks. One process runs every case, so that each program is compiled
 * once (Oclgrind compiles slowly).
 * Prints one line per case and "N cases, F failed"; exits 1 when any failed.
 * Usage: oclgrind_cases [SUBSTRING]   (only the plans containing SUBSTRING)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clconvt.h"
#include "reference.h"

/* A layer shape: channels, K, stride, padding (left, right), output_padding, dilation, groups,
 * bias, and the batch and input length it runs on. */
typedef struct shape {
    int cin, cout, k, stride, pad_left, pad_right, output_padding, dilation, groups, bias;
    int batch, length_in;
} shape;

/* What a plan takes beyond its layouts. */
enum needs {
    NEEDS_NOTHING = 0,
    NEEDS_DEPTHWISE = 1 << 0, /* groups = Cin = Cout */
    NEEDS_FOLD = 1 << 1,      /* dilation 1, a stride of at most FOLD_VEC */
    NEEDS_F32 = 1 << 2,       /* the gemm path: CLBlast's SGEMM */
};

enum layouts { NCL = 1 << CLCONVT_LAYOUT_NCL, NLC = 1 << CLCONVT_LAYOUT_NLC, BOTH = NCL | NLC };

typedef struct forced_plan {
    const char *plan;
    unsigned layouts;
    unsigned needs;
    int fold_vec; /* NEEDS_FOLD: the plan's vector width, the largest stride it takes */
    const shape *shapes;
    size_t count;
} forced_plan;

#define SHAPES(list) list, sizeof list / sizeof list[0]

/* Grouped and plain layers: odd channels, L_in 1..17, padding and output_padding at their
 * limits (output_padding = max(stride, dilation) - 1; padding leaving an output of 1 or 2). */
static const shape general[] = {
    /* cin cout k  s  pl pr op d  g  b  N  L */
    {3, 5, 3, 2, 0, 0, 1, 1, 1, 1, 1, 1},   /* one input, output_padding at its limit */
    {5, 7, 4, 3, 2, 1, 2, 1, 1, 1, 2, 9},   /* asymmetric padding */
    {6, 9, 5, 1, 2, 2, 0, 1, 3, 0, 1, 1},   /* pad leaves one output of a one-input layer */
    {4, 13, 3, 4, 1, 2, 3, 2, 1, 1, 1, 17}, /* dilation 2 with stride 4 */
    {1, 3, 7, 2, 3, 3, 1, 3, 1, 1, 1, 5},   /* one input channel, dilation 3 */
    {9, 15, 2, 5, 0, 3, 4, 1, 3, 1, 2, 7},  /* groups 3, odd channels per group */
    {2, 16, 1, 1, 0, 0, 0, 1, 2, 0, 1, 3},  /* K 1 */
    {13, 12, 3, 3, 2, 2, 2, 1, 1, 1, 1, 13},
    {5, 3, 3, 1, 0, 0, 2, 3, 1, 1, 3, 2},    /* output_padding limited by the dilation */
    {3, 5, 34, 17, 8, 8, 16, 1, 1, 1, 1, 3}, /* stride > 16: 16 phases per work-group */
};

/* Layers phase_fold takes: dilation 1, strides up to its vector (tests stride = vec too). */
static const shape folded[] = {
    {3, 5, 3, 2, 0, 0, 1, 1, 1, 1, 1, 1},  {5, 7, 4, 3, 2, 1, 2, 1, 1, 1, 2, 9},
    {9, 15, 2, 4, 0, 3, 3, 1, 3, 1, 1, 7}, {6, 12, 8, 8, 3, 4, 7, 1, 2, 0, 1, 17},
    {4, 9, 5, 2, 4, 4, 0, 1, 1, 1, 1, 3},  {2, 4, 16, 16, 0, 0, 15, 1, 1, 1, 1, 2},
};

/* Depthwise layers (groups = Cin = Cout), channels off the vector width. */
static const shape depthwise[] = {
    {3, 3, 3, 2, 0, 0, 1, 1, 3, 1, 1, 1},    {17, 17, 4, 3, 2, 1, 2, 1, 17, 1, 2, 9},
    {5, 5, 7, 1, 6, 6, 0, 2, 5, 0, 1, 7},    {9, 9, 3, 4, 1, 2, 3, 3, 9, 1, 1, 17},
    {16, 16, 5, 2, 4, 4, 1, 1, 16, 1, 1, 5},
};

/* The gemm path runs CLBlast's kernels too (slow under Oclgrind): few and small. */
static const shape small[] = {
    {3, 5, 3, 2, 1, 0, 1, 1, 1, 1, 1, 4},
    {4, 6, 2, 1, 0, 1, 0, 2, 2, 1, 2, 5},
    {5, 3, 3, 2, 1, 1, 1, 1, 1, 0, 1, 1},
};

/* Each path with its CPU tile (the planner's on PoCL) and GPU-like tiles (the planner's on a GPU:
 * src/paths/gpu_tiles.c's with their 64-item work-groups, and the larger ones GPUs got before it),
 * and small odd ones whose tiles overhang every border). */
static const forced_plan plans[] = {
    {"phase:p=4,c=4", BOTH, NEEDS_NOTHING, 0, SHAPES(general)},
    {"phase:p=3,c=5,lp=2,lc=2,lr=2", BOTH, NEEDS_NOTHING, 0, SHAPES(general)},
    {"phase:p=4,c=4", BOTH, NEEDS_NOTHING, 0, SHAPES(depthwise)},
    {"phase_pos:vec=16,p=32,c=4", NCL, NEEDS_NOTHING, 0, SHAPES(general)},
    {"phase_pos:vec=16,p=32,c=12", NCL, NEEDS_NOTHING, 0, SHAPES(general)},
    {"phase_pos:vec=16,p=32,c=12,lp=2,lc=8", NCL, NEEDS_NOTHING, 0, SHAPES(general)},
    {"phase_pos:vec=8,p=8,c=4,lp=12,lc=5", NCL, NEEDS_NOTHING, 0, SHAPES(general)},
    {"phase_pos:vec=4,p=8,c=3,chunk=2", NCL, NEEDS_NOTHING, 0, SHAPES(general)},
    {"phase_pos:vec=4,p=4,c=1,chunk=1", NCL, NEEDS_NOTHING, 0, SHAPES(depthwise)},
    {"phase_chan:vec=16,p=8,c=16", NLC, NEEDS_NOTHING, 0, SHAPES(general)},
    {"phase_chan:vec=16,p=8,c=32", NLC, NEEDS_NOTHING, 0, SHAPES(general)},
    {"phase_chan:vec=16,p=2,c=16,lp=32,lc=2", NLC, NEEDS_NOTHING, 0, SHAPES(general)},
    {"phase_chan:vec=4,p=3,c=8,lp=2,lc=2", NLC, NEEDS_NOTHING, 0, SHAPES(general)},
    {"phase_dw:vec=16,p=8,c=16", NLC, NEEDS_DEPTHWISE, 0, SHAPES(depthwise)},
    {"phase_dw:vec=8,p=8,c=8", NLC, NEEDS_DEPTHWISE, 0, SHAPES(depthwise)},
    {"phase_dw:vec=8,p=2,c=8,lp=64,lc=1", NLC, NEEDS_DEPTHWISE, 0, SHAPES(depthwise)},
    {"phase_dw:vec=4,p=3,c=4", NLC, NEEDS_DEPTHWISE, 0, SHAPES(depthwise)},
    {"phase_fold:vec=16,p=6", NCL, NEEDS_FOLD, 16, SHAPES(folded)},
    {"phase_fold:vec=16,p=2,lp=64,lc=1", NCL, NEEDS_FOLD, 16, SHAPES(folded)},
    {"phase_fold:vec=8,p=5,chunk=2", NCL, NEEDS_FOLD, 8, SHAPES(folded)},
    {"phase_fold:vec=8,p=4,pt=3,chunk=2", NCL, NEEDS_FOLD, 8, SHAPES(folded)},
    {"phase_fold:vec=8,p=16", NCL, NEEDS_FOLD, 8, SHAPES(folded)},
    {"phase_fold:vec=4,p=3,c=2,lp=2,lc=2", NCL, NEEDS_FOLD, 4, SHAPES(folded)},
    {"gemm", BOTH, NEEDS_F32, 0, SHAPES(small)},
};

static const clconvt_dtype dtypes[] = {CLCONVT_F32, CLCONVT_F16, CLCONVT_BF16};

static int takes(const forced_plan *fp, clconvt_layout layout, clconvt_dtype dtype,
                 const shape *s) {
    if (!(fp->layouts & (1u << layout)))
        return 0;
    if ((fp->needs & NEEDS_F32) && dtype != CLCONVT_F32)
        return 0;
    if ((fp->needs & NEEDS_FOLD) && (s->dilation != 1 || s->stride > fp->fold_vec))
        return 0;
    if ((fp->needs & NEEDS_DEPTHWISE) && !(s->groups == s->cin && s->groups == s->cout))
        return 0;
    return 1;
}

static clconvt_params params_of(const shape *s, clconvt_layout layout, clconvt_dtype dtype) {
    clconvt_params p;
    clconvt_params_init(&p, s->cin, s->cout, s->k);
    p.stride = s->stride;
    p.pad_left = s->pad_left;
    p.pad_right = s->pad_right;
    p.output_padding = s->output_padding;
    p.dilation = s->dilation;
    p.groups = s->groups;
    p.has_bias = s->bias;
    p.layout = layout;
    p.dtype = dtype;
    return p;
}

/* The case's data: random values already rounded to the dtype, as floats (for the library) and
 * doubles (for the reference), and the outputs. */
typedef struct case_data {
    size_t nx, nw, nb, ny;
    float *xf, *wf, *bf;
    double *x, *w, *b, *ref, *y;
    void *x_storage, *y_storage;
} case_data;

static void case_data_free(case_data *d) {
    void *all[] = {d->xf, d->wf, d->bf, d->x, d->w, d->b, d->ref, d->y, d->x_storage, d->y_storage};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; ++i)
        free(all[i]);
}

static int case_data_alloc(case_data *d, const clconvt_params *p, const shape *s,
                           int64_t length_out) {
    const size_t elem = clconvt_dtype_size(p->dtype);
    d->nx = (size_t)s->batch * (size_t)s->cin * (size_t)s->length_in;
    d->nw = (size_t)s->cin * (size_t)(s->cout / s->groups) * (size_t)s->k;
    d->nb = (size_t)s->cout;
    d->ny = (size_t)s->batch * (size_t)s->cout * (size_t)length_out;
    d->xf = malloc(d->nx * sizeof(float));
    d->wf = malloc(d->nw * sizeof(float));
    d->bf = malloc(d->nb * sizeof(float));
    d->x = malloc(d->nx * sizeof(double));
    d->w = malloc(d->nw * sizeof(double));
    d->b = malloc(d->nb * sizeof(double));
    d->ref = malloc(d->ny * sizeof(double));
    d->y = malloc(d->ny * sizeof(double));
    d->x_storage = malloc(d->nx * elem);
    d->y_storage = malloc(d->ny * elem);
    return d->xf && d->wf && d->bf && d->x && d->w && d->b && d->ref && d->y && d->x_storage &&
           d->y_storage;
}

/* Run one case; NULL when it ran and is within the bound, else what went wrong. *error gets
 * the normalised error when it ran. */
static const char *run_case(clconvt_device *device, const char *plan, const clconvt_params *p,
                            const shape *s, uint64_t seed, double *error) {
    int64_t length_out = 0;
    if (clconvt_output_length(p, s->length_in, &length_out) != CLCONVT_SUCCESS)
        return clconvt_last_error();
    case_data d = {0};
    const char *why = NULL;
    clconvt_layer *layer = NULL;
    uint64_t state = seed;
    if (!case_data_alloc(&d, p, s, length_out))
        why = "out of memory";
    else if (reference_random_fill(&state, 1.0, p->dtype, d.xf, d.x, d.nx) != CLCONVT_SUCCESS ||
             reference_random_fill(&state, 1.0, p->dtype, d.wf, d.w, d.nw) != CLCONVT_SUCCESS ||
             reference_random_fill(&state, 1.0, p->dtype, d.bf, d.b, d.nb) != CLCONVT_SUCCESS ||
             clconvt_convert(d.xf, CLCONVT_F32, d.x_storage, p->dtype, d.nx) != CLCONVT_SUCCESS ||
             clconvt_layer_create_with_plan(device, p, plan, &layer) != CLCONVT_SUCCESS ||
             clconvt_layer_set_weight(layer, d.wf, CLCONVT_WEIGHT_PYTORCH, CLCONVT_F32) !=
                 CLCONVT_SUCCESS ||
             (p->has_bias && clconvt_layer_set_bias(layer, d.bf, CLCONVT_F32) != CLCONVT_SUCCESS) ||
             clconvt_layer_forward_host(layer, d.x_storage, d.y_storage, s->batch, s->length_in) !=
                 CLCONVT_SUCCESS ||
             reference_from_storage(d.y_storage, p->dtype, d.y, d.ny) != CLCONVT_SUCCESS)
        why = clconvt_last_error();
    else if (reference_forward(p, d.x, d.w, p->has_bias ? d.b : NULL, s->batch, s->length_in,
                               d.ref) != 0)
        why = "the reference refused the case";
    else {
        *error = reference_normalised_error(d.y, d.ref, d.ny);
        if (!(*error <= reference_error_bound(p->dtype)))
            why = "error beyond the SPEC's bound";
    }
    clconvt_layer_release(layer);
    case_data_free(&d);
    return why;
}

static void describe(char *text, size_t size, const char *plan, const clconvt_params *p,
                     const shape *s) {
    snprintf(text, size,
             "%s %s %s Cin=%d Cout=%d K=%d stride=%d pad=(%d,%d) output_padding=%d dilation=%d "
             "groups=%d bias=%d N=%d L_in=%d",
             plan, p->layout == CLCONVT_LAYOUT_NCL ? "ncl" : "nlc", clconvt_dtype_name(p->dtype),
             s->cin, s->cout, s->k, s->stride, s->pad_left, s->pad_right, s->output_padding,
             s->dilation, s->groups, s->bias, s->batch, s->length_in);
}

int main(int argc, char **argv) {
    const char *only = argc > 1 ? argv[1] : "";
    clconvt_device *device = NULL;
    if (clconvt_device_open(CLCONVT_DEVICE_ANY, NULL, &device) != CLCONVT_SUCCESS) {
        fprintf(stderr, "oclgrind_cases: %s\n", clconvt_last_error());
        return 1;
    }
    clconvt_device_info info;
    if (clconvt_device_get_info(device, &info) == CLCONVT_SUCCESS)
        printf("device: %s (%s)\n", info.name, info.platform);
    int cases = 0, failed = 0;
    for (size_t i = 0; i < sizeof plans / sizeof plans[0]; ++i) {
        const forced_plan *fp = &plans[i];
        char name[64];
        snprintf(name, sizeof name, "%.*s", (int)strcspn(fp->plan, ":"), fp->plan);
        if (strstr(fp->plan, only) == NULL || !clconvt_has_path(name))
            continue;
        for (size_t t = 0; t < sizeof dtypes / sizeof dtypes[0]; ++t)
            for (int layout = CLCONVT_LAYOUT_NLC; layout <= CLCONVT_LAYOUT_NCL; ++layout)
                for (size_t j = 0; j < fp->count; ++j) {
                    const shape *s = &fp->shapes[j];
                    if (!takes(fp, (clconvt_layout)layout, dtypes[t], s))
                        continue;
                    const clconvt_params p = params_of(s, (clconvt_layout)layout, dtypes[t]);
                    char what[320];
                    describe(what, sizeof what, fp->plan, &p, s);
                    double error = 0;
                    const char *why =
                        run_case(device, fp->plan, &p, s, reference_hash(what), &error);
                    ++cases;
                    if (why != NULL)
                        ++failed;
                    printf("%s %s: error %.3g%s%s\n", why ? "FAIL" : "ok", what, error,
                           why ? ": " : "", why ? why : "");
                    fflush(stdout);
                }
    }
    clconvt_device_release(device);
    printf("%d cases, %d failed\n", cases, failed);
    return failed != 0 || cases == 0;
}
