/* What the kernel paths share: the tiled weight layout, the phase grid and work-group, build
 * options, and the phase kernels' enqueue. */
#include <stdio.h>

#include "../error.h"
#include "../kernel_launch.h"
#include "../stride.h"
#include "path.h"

/* The default work-group: 2 position tiles x up to 8 channel tiles (the 8 share their inputs in
 * cache); an interleaved A/B on shapes.csv found 4 x 4 no better. */
#define LOCAL_POSITIONS 2
#define LOCAL_CHANNELS 8

int64_t clconvt_path_channel_tiles(const plan *p, const clconvt_params *params) {
    const int64_t tiles = p->cout_g_padded / p->tile_c;
    return p->path->channels_across_groups ? tiles : params->groups * tiles;
}

void clconvt_path_tiled_dims(const plan *p, const clconvt_params *params, int64_t dims[3]) {
    dims[0] = params->in_channels;
    dims[1] = params->kernel_length;
    dims[2] = p->cout_g_padded;
}

int64_t clconvt_path_tiled_index(const plan *p, const clconvt_params *params, int64_t g, int64_t k,
                                 int64_t ci_local, int64_t c) {
    const int64_t k_len = params->kernel_length, cin_g = params->in_channels / params->groups;
    return (((g * k_len + k) * (p->cout_g_padded / p->tile_c) + c / p->tile_c) * cin_g + ci_local) *
               p->tile_c +
           c % p->tile_c;
}

int64_t clconvt_path_phase_position_tiles(const plan *p, const clconvt_params *params,
                                          int64_t length_out, int64_t pad_left) {
    (void)pad_left;
    return clconvt_ceil_div(clconvt_ceil_div(length_out, params->stride), p->tile_p);
}

int64_t clconvt_path_phase_batch_items(const plan *p, const clconvt_params *params, int64_t batch) {
    (void)p;
    return batch * params->stride;
}

int clconvt_path_grid(const plan *p, const clconvt_params *params, int64_t batch,
                      int64_t length_out, int64_t pad_left, size_t global[3], size_t local[3]) {
    global[0] = (size_t)p->path->position_tiles(p, params, length_out, pad_left);
    global[1] = (size_t)clconvt_path_channel_tiles(p, params);
    global[2] = (size_t)p->path->batch_items(p, params, batch);
    if (p->path->batch_in_positions != NULL && p->path->batch_in_positions(p, params)) {
        global[0] *= global[2];
        global[2] = 1;
    }
    const int use_local = p->local[0] > 0;
    /* OpenCL 1.2 needs whole work-groups; the kernels skip work-items outside the output. */
    for (int d = 0; d < 3; ++d) {
        local[d] = (size_t)p->local[d];
        if (use_local)
            global[d] = (global[d] + local[d] - 1) / local[d] * local[d];
    }
    return use_local;
}

/*
 * A fixed work-group size. Left to the runtime, PoCL picks one from the global size, that is from
 * the input length, and compiles the kernel again for each new one: a hidden compile per length.
 * The channel extent is capped by the layer's channel tiles (a layer constant, so still no
 * compile per length), so that channel-starved layers do not run mostly empty work-groups.
 */
void clconvt_path_default_local(plan *p, const clconvt_params *params) {
    const int64_t channel_tiles = clconvt_path_channel_tiles(p, params);
    p->local[0] = LOCAL_POSITIONS;
    p->local[1] = channel_tiles < LOCAL_CHANNELS ? (int)channel_tiles : LOCAL_CHANNELS;
}

void clconvt_path_phase_local(plan *p, const clconvt_params *params, int phases_given) {
    if (params->stride >= 16) {
        /* Large strides (WaveGlow's 256): one phase's outputs are a stride apart, so a cache line
         * of output is written by many phases; running 16 phases of one tile back to back lets
         * them fill each line while it is still in cache (NCL waveglow_up: 22 -> 13 ms). */
        p->local[0] = p->local[1] = 1;
        p->local[2] = phases_given ? p->local[2] : 16;
        return;
    }
    clconvt_path_default_local(p, params);
}

int clconvt_path_narrow_cpu(const device_caps *caps) {
    return (caps->type & CL_DEVICE_TYPE_CPU) != 0 && caps->native_float_lanes != 0 &&
           caps->native_float_lanes < 16;
}

const plan *clconvt_path_usual(const kernel_path *path, const device_caps *caps) {
    return path->narrow_usual.path != NULL && clconvt_path_narrow_cpu(caps) ? &path->narrow_usual
                                                                            : &path->usual;
}

const char *clconvt_path_check_vector(const plan *p) {
    return p->vec != 4 && p->vec != 8 && p->vec != 16 ? "vec must be 4, 8 or 16" : NULL;
}

void clconvt_path_options(const plan *p, const clconvt_params *params, unsigned macros, int pv,
                          int cv, char *options, size_t size) {
    const struct {
        unsigned macro;
        const char *name;
        long long value;
    } all[] = {
        {0, "STRIDE", (long long)params->stride},
        {PATH_OPTION_LAYOUT, "LAYOUT_NCL", params->layout == CLCONVT_LAYOUT_NCL ? 1 : 0},
        {0, "DTYPE", (long long)params->dtype},
        {PATH_OPTION_VEC, "VEC", p->vec},
        {PATH_OPTION_TILE_P, "TILE_P", p->tile_p},
        {PATH_OPTION_TILE_C, "TILE_C", p->tile_c},
        {PATH_OPTION_PV, "PV", pv},
        {PATH_OPTION_CO_T, "CO_T", p->tile_c},
        {PATH_OPTION_CV, "CV", cv},
        {PATH_OPTION_PT, "PT", p->tiles_per_item > 1 ? p->tiles_per_item : 1},
        {0, "CI_CHUNK", p->ci_chunk},
    };
    size_t used = (size_t)snprintf(options, size, "-cl-std=CL1.2 -cl-mad-enable");
    for (size_t i = 0; i < sizeof all / sizeof all[0] && used < size; ++i)
        if (all[i].macro == 0 || (macros & all[i].macro) != 0)
            used += (size_t)snprintf(options + used, size - used, " -D%s=%lld", all[i].name,
                                     all[i].value);
    /* Only with an activation: the options, and so the cached programs, of a layer without one
     * stay what they were. */
    if (p->activation != 0 && used < size)
        snprintf(options + used, size - used, " -DACTIVATION=%d", p->activation);
}

clconvt_status clconvt_path_enqueue_phase(const path_launch *l) {
    const clconvt_params *p = l->params;
    const plan *plan = l->plan;
    const phase_steps steps = clconvt_phase_steps(p);
    const cl_int has_bias = p->has_bias != 0, cin_g = (cl_int)(p->in_channels / p->groups);
    const cl_int cout_g = (cl_int)(p->out_channels / p->groups);
    const cl_int cout_pad = (cl_int)plan->cout_g_padded; /* checked at creation */
    const cl_int groups = (cl_int)p->groups, k_len = (cl_int)p->kernel_length;
    const cl_int dilation = (cl_int)p->dilation, tap_step = steps.tap_step, dm = steps.dm;
    const cl_long pad_left = l->pad_left, l_in = l->length_in, l_out = l->length_out, n = l->batch;
    /* Kernels take every buffer argument; without a bias the weight stands in, never read. */
    cl_mem in = l->in, out = l->out, weight = l->weight, bias = l->bias ? l->bias : weight;
    size_t global[3], local[3];
    const int use_local =
        clconvt_path_grid(plan, p, l->batch, l->length_out, l->pad_left, global, local);
    /* With an activation, its parameters follow (cl/common.cl's ACTIVATION_PARAMETERS); without
     * alphas of its own the weight stands in for them, never read. */
    const cl_float alpha = l->activation_alpha;
    const cl_mem alphas = l->activation_alphas ? l->activation_alphas : weight;
    const kernel_argument args[] = {
        {sizeof(cl_mem), &in},
        {sizeof(cl_mem), &weight},
        {sizeof(cl_mem), &bias},
        {sizeof(cl_mem), &out},
        {sizeof has_bias, &has_bias},
        {sizeof cin_g, &cin_g},
        {sizeof cout_g, &cout_g},
        {sizeof cout_pad, &cout_pad},
        {sizeof groups, &groups},
        {sizeof k_len, &k_len},
        {sizeof dilation, &dilation},
        {sizeof tap_step, &tap_step},
        {sizeof dm, &dm},
        {sizeof pad_left, &pad_left},
        {sizeof l_in, &l_in},
        {sizeof l_out, &l_out},
        {sizeof n, &n},
        {sizeof alpha, &alpha},
        {sizeof alphas, &alphas},
    };
    const cl_uint count = sizeof args / sizeof args[0] - (plan->activation == 0 ? 2 : 0);
    const kernel_grid grid = {3, global, use_local ? local : NULL, l->num_wait, l->wait, l->done};
    return clconvt_kernel_launch(l->program, plan->path->kernel, args, count, l->queue, &grid);
}
