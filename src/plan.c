#include "plan.h"

#include <stdio.h>

void plan_choose(const clconvt_device *device, const clconvt_params *params, plan *out) {
    (void)device; /* the tuning database will key on it */
    const int64_t cout_g = params->out_channels / params->groups;
    /* Few tile widths keep the number of programs (about a second each on PoCL) bounded:
     * wide for real channel counts, 4 for channel-starved layers, 1 for depthwise-like ones. */
    const int tile_c = cout_g >= 12 ? 16 : cout_g >= 3 ? 4 : 1;
    *out = (plan){
        .name = "phase",
        .tile_p = 4,
        .tile_c = tile_c,
        .cout_g_padded = (int)((cout_g + tile_c - 1) / tile_c * tile_c),
    };
}

void plan_build_options(const clconvt_params *params, const plan *plan, char *options,
                        size_t size) {
    snprintf(options, size,
             "-cl-std=CL1.2 -DSTRIDE=%lld -DLAYOUT_NCL=%d -DDTYPE=%d -DTILE_P=%d -DTILE_C=%d",
             (long long)params->stride, params->layout == CLCONVT_LAYOUT_NCL ? 1 : 0,
             (int)params->dtype, plan->tile_p, plan->tile_c);
}
