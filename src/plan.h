/* The planner: which kernel path and tile shape a layer uses. Depends only on the layer's
 * parameters and the device, never on the input length or batch. */
#ifndef CLCONVT_PLAN_H
#define CLCONVT_PLAN_H

#include "clconvt.h"
#include "device.h"

typedef struct plan {
    const char *name;  /* path name, for diagnostics */
    int tile_p;        /* positions of one phase per work-item */
    int tile_c;        /* output channels per work-item */
    int cout_g_padded; /* Cout/groups rounded up to a multiple of tile_c (packed weight rows) */
} plan;

void plan_choose(const clconvt_device *device, const clconvt_params *params, plan *out);

/* The -D options that specialise the phase kernel for a layer and plan. */
void plan_build_options(const clconvt_params *params, const plan *plan, char *options,
                        size_t size);

#endif
