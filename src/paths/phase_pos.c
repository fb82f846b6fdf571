/* The NCL path (cl/phase_pos.cl): positions are contiguous in NCL rows, so a work-item's vectors
 * run over positions of one stride phase. */
#include "paths.h"

extern const char clconvt_source_phase_pos[];

/* On a CPU, a long reduction goes in chunks of 128 input channels so that a work-group's operands
 * stay in L1 (bigvgan's 768 and 1536 channels: 1.7-1.8x faster on PoCL). A CPU of narrow vectors
 * gets 24 positions x 4 channels in vectors of 8 (waveglow_up on AVX2: 63 -> 27-34 ms; 16 x 6
 * 42, 8 x 12 35). */
static int suits(const device_caps *caps, const clconvt_params *params, plan *out) {
    if (params->layout != CLCONVT_LAYOUT_NCL)
        return 0;
    const int cpu = (caps->type & CL_DEVICE_TYPE_CPU) != 0;
    const int narrow = clconvt_path_narrow_cpu(caps);
    const int64_t cin_g = params->in_channels / params->groups;
    const int64_t cout_g = params->out_channels / params->groups;
    *out = (plan){.path = &clconvt_path_phase_pos,
                  .vec = narrow ? 8 : 16,
                  .tile_p = narrow ? 24 : 32,
                  .tile_c = cout_g >= 12 && !narrow ? 12
                            : cout_g >= 3           ? 4
                                                    : 1,
                  .ci_chunk = cpu && cin_g > 256 ? 128 : 0};
    return 1;
}

static const char *check(const clconvt_params *params, const plan *p) {
    if (params->layout != CLCONVT_LAYOUT_NCL)
        return "phase_pos needs the NCL layout";
    const char *why = clconvt_path_check_vector(p);
    if (why == NULL && p->tile_p % p->vec != 0)
        why = "phase_pos needs p to be a multiple of vec";
    return why;
}

static private_memory private_floats(const plan *p, const clconvt_params *params) {
    (void)params;
    return clconvt_path_memory((int64_t)p->tile_p * p->tile_c,
                               2 * p->tile_p + p->vec); /* inputs, masks, lanes */
}

static void build_options(const plan *p, const clconvt_params *params, char *options, size_t size) {
    clconvt_path_options(p, params, PATH_OPTION_VEC | PATH_OPTION_PV | PATH_OPTION_CO_T,
                         p->tile_p / p->vec, 0, options, size);
}

const kernel_path clconvt_path_phase_pos = {
    .name = "phase_pos",
    .source = clconvt_source_phase_pos,
    .source_file = "phase_pos.cl",
    .kernel = "phase_pos_forward",
    .usual = {.path = &clconvt_path_phase_pos, .vec = 16, .tile_p = 32, .tile_c = 4},
    .narrow_usual = {.path = &clconvt_path_phase_pos, .vec = 8, .tile_p = 24, .tile_c = 4},
    .default_rank = 2,
    .suits = suits,
    .keys = PLAN_KEY_VEC | PLAN_KEY_P | PLAN_KEY_C | PLAN_KEY_LP | PLAN_KEY_LC | PLAN_KEY_CHUNK |
            PLAN_KEY_LR,
    .check = check,
    CLCONVT_PHASE_PATH_TILED,
    .private_memory = private_floats,
    .build_options = build_options,
};
