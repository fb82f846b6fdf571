/* The depthwise NLC path (cl/phase_dw.cl): one input and one output channel per group, vectors
 * over neighbouring channels (groups); the channel tile runs across groups. */
#include "paths.h"

extern const char clconvt_source_phase_dw[];

static int suits(const device_caps *caps, const clconvt_params *params, plan *out) {
    (void)caps;
    const int64_t cin_g = params->in_channels / params->groups;
    const int64_t cout_g = params->out_channels / params->groups;
    if (params->layout != CLCONVT_LAYOUT_NLC || cin_g != 1 || cout_g != 1 || params->groups < 8)
        return 0;
    const int vec = params->groups >= 16 ? 16 : 8;
    *out = (plan){.path = &clconvt_path_phase_dw, .vec = vec, .tile_p = 8, .tile_c = vec};
    return 1;
}

static const char *check(const clconvt_params *params, const plan *p) {
    if (params->layout != CLCONVT_LAYOUT_NLC || params->in_channels != params->groups ||
        params->out_channels != params->groups)
        return "phase_dw needs a depthwise layer (groups = Cin = Cout), NLC";
    const char *why = clconvt_path_check_vector(p);
    if (why == NULL && p->tile_c != p->vec)
        why = "phase_dw's channel tile is its vector: c must equal vec";
    return why;
}

/* [k][channel] */
static void packed_dims(const plan *p, const clconvt_params *params, int64_t dims[3]) {
    dims[0] = 1;
    dims[1] = params->kernel_length;
    dims[2] = p->cout_g_padded;
}

static int64_t packed_index(const plan *p, const clconvt_params *params, int64_t g, int64_t k,
                            int64_t ci_local, int64_t c) {
    (void)params;
    (void)ci_local;
    (void)c;
    return k * p->cout_g_padded + g;
}

static private_memory private_floats(const plan *p, const clconvt_params *params) {
    (void)params;
    return clconvt_path_memory((int64_t)p->tile_p * p->vec, 2 * p->vec); /* weights, lanes */
}

static void build_options(const plan *p, const clconvt_params *params, char *options, size_t size) {
    clconvt_path_options(p, params, PATH_OPTION_VEC | PATH_OPTION_TILE_P, 0, 0, options, size);
}

const kernel_path clconvt_path_phase_dw = {
    .name = "phase_dw",
    .source = clconvt_source_phase_dw,
    .source_file = "phase_dw.cl",
    .kernel = "phase_dw_forward",
    .usual = {.path = &clconvt_path_phase_dw, .vec = 16, .tile_p = 8, .tile_c = 16},
    .default_rank = 3,
    .suits = suits,
    .keys = PLAN_KEY_VEC | PLAN_KEY_P | PLAN_KEY_C | PLAN_KEY_LP | PLAN_KEY_LC | PLAN_KEY_LR,
    .channels_across_groups = 1,
    .tile_rule = "p x vec",
    .check = check,
    .packed_dims = packed_dims,
    .packed_index = packed_index,
    CLCONVT_PHASE_PATH_GRID,
    .private_memory = private_floats,
    .build_options = build_options,
};
