/* The generic path (cl/phase.cl): a scalar register tile of positions x channels, any layout. The
 * fallback of the built-in choice: too few output channels per group to fill a vector. */
#include "paths.h"

extern const char clconvt_source_phase[];

static int suits(const device_caps *caps, const clconvt_params *params, plan *out) {
    (void)caps;
    const int64_t cout_g = params->out_channels / params->groups;
    *out =
        (plan){.path = &clconvt_path_phase, .vec = 1, .tile_p = 4, .tile_c = cout_g >= 3 ? 4 : 1};
    return 1;
}

static void complete(const device_caps *caps, plan *p, const clconvt_params *params) {
    (void)caps;
    (void)params;
    p->vec = 1; /* scalar: a vec key is read but means nothing */
}

static const char *check(const clconvt_params *params, const plan *p) {
    (void)params;
    (void)p;
    return NULL;
}

static private_memory private_floats(const plan *p, const clconvt_params *params) {
    (void)params;
    return clconvt_path_memory((int64_t)p->tile_p * p->tile_c,
                               p->tile_p + p->tile_c); /* inputs, weights */
}

static void build_options(const plan *p, const clconvt_params *params, char *options, size_t size) {
    clconvt_path_options(p, params, PATH_OPTION_LAYOUT | PATH_OPTION_TILE_P | PATH_OPTION_TILE_C, 0,
                         0, options, size);
}

const kernel_path clconvt_path_phase = {
    .name = "phase",
    .source = clconvt_source_phase,
    .source_file = "phase.cl",
    .kernel = "phase_forward",
    .usual = {.path = &clconvt_path_phase, .vec = 1, .tile_p = 4, .tile_c = 4},
    .default_rank = 5,
    .suits = suits,
    .keys = PLAN_KEY_P | PLAN_KEY_C | PLAN_KEY_LP | PLAN_KEY_LC | PLAN_KEY_LR,
    .complete = complete,
    .check = check,
    CLCONVT_PHASE_PATH_TILED,
    .private_memory = private_floats,
    .build_options = build_options,
};
