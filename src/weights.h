/* Weight staging: from the caller's order and dtype to the layer's dtype, in MAX order (kept on the
 * host) and, as fp32 holding the same rounded values, in the packed layout the kernels read. */
#ifndef CLCONVT_WEIGHTS_H
#define CLCONVT_WEIGHTS_H

#include "clconvt.h"
#include "plan.h"

typedef struct staged_weight {
    void *max_order; /* (K, Cout_g, Cin) in the layer's dtype */
    void *packed;    /* [group][k][channel tile][ci in group][co in tile], zero padded */
    size_t max_bytes, packed_bytes;
} staged_weight;

clconvt_status clconvt_weights_stage(const clconvt_params *params, const plan *plan,
                                     const void *host, clconvt_weight_order order,
                                     clconvt_dtype host_dtype, staged_weight *out);

void clconvt_weights_free(staged_weight *weight);

#endif
