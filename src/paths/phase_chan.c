/* The NLC path (cl/phase_chan.cl): channels are contiguous in NLC rows, so a work-item's vectors
 * run over output channels. */
#include "paths.h"

extern const char clconvt_source_phase_chan[];

/* 8 x 32 floats where the vectors are AVX-512's; on a CPU of narrow vectors 6 x 16 (vec 16:
 * 31.3 -> 14.7 ms, vec 8: 12.4 on hifigan_v1_up2_nlc, AVX2). */
static int suits(const device_caps *caps, const clconvt_params *params, plan *out) {
    const int64_t cout_g = params->out_channels / params->groups;
    if (params->layout != CLCONVT_LAYOUT_NLC || cout_g < 16)
        return 0;
    *out = clconvt_path_narrow_cpu(caps) ? clconvt_path_phase_chan.narrow_usual
                                         : (plan){.path = &clconvt_path_phase_chan,
                                                  .vec = 16,
                                                  .tile_p = 8,
                                                  .tile_c = cout_g >= 32 ? 32 : 16};
    return 1;
}

static const char *check(const clconvt_params *params, const plan *p) {
    if (params->layout != CLCONVT_LAYOUT_NLC)
        return "phase_chan needs the NLC layout";
    const char *why = clconvt_path_check_vector(p);
    if (why == NULL && p->tile_c % p->vec != 0)
        why = "phase_chan needs c to be a multiple of vec";
    return why;
}

static private_memory private_floats(const plan *p, const clconvt_params *params) {
    (void)params;
    return clconvt_path_memory((int64_t)p->tile_p * p->tile_c,
                               2 * p->tile_c + p->vec); /* weights, bias, lanes */
}

static void build_options(const plan *p, const clconvt_params *params, char *options, size_t size) {
    clconvt_path_options(p, params, PATH_OPTION_VEC | PATH_OPTION_TILE_P | PATH_OPTION_CV, 0,
                         p->tile_c / p->vec, options, size);
}

const kernel_path clconvt_path_phase_chan = {
    .name = "phase_chan",
    .source = clconvt_source_phase_chan,
    .source_file = "phase_chan.cl",
    .kernel = "phase_chan_forward",
    .usual = {.path = &clconvt_path_phase_chan, .vec = 16, .tile_p = 8, .tile_c = 16},
    .narrow_usual = {.path = &clconvt_path_phase_chan, .vec = 8, .tile_p = 6, .tile_c = 16},
    .default_rank = 4,
    .suits = suits,
    .keys = PLAN_KEY_VEC | PLAN_KEY_P | PLAN_KEY_C | PLAN_KEY_LP | PLAN_KEY_LC | PLAN_KEY_LR,
    .check = check,
    CLCONVT_PHASE_PATH_TILED,
    .private_memory = private_floats,
    .build_options = build_options,
};
