/* Weight staging: from the caller's order and dtype to the layer's dtype, in MAX order (kept on the
 * host) and, as fp32 holding the same rounded values, in the packed layout the kernels read, both
 * in one pass over the caller's weight. */
#ifndef CLCONVT_WEIGHTS_H
#define CLCONVT_WEIGHTS_H

#include "clconvt.h"
#include "plan.h"

typedef struct staged_weight {
    void *max_order; /* (K, Cout_g, Cin) in the layer's dtype */
    size_t max_bytes;
} staged_weight;

/* A weight as the caller gives it. */
typedef struct weight_source {
    const void *host;
    clconvt_weight_order order;
    clconvt_dtype dtype;
    /* NULL, or one factor per input channel that every weight of that channel is multiplied by
     * (in double, before the rounding to the layer's dtype): weight norm's g / ||v||. */
    const double *scale;
} weight_source;

/*
 * Stage src for a layer of params and plan: *out gets a new MAX-order copy, packed (the caller's
 * clconvt_plan_packed_count(plan, params) floats) the packed copy with its padding zeroed. The
 * path's packed_index must be a sum of a part in (g, k, ci_local) and a part in c (path.h). On
 * failure nothing is allocated.
 */
clconvt_status clconvt_weights_stage(const clconvt_params *params, const plan *plan,
                                     const weight_source *src, float *packed, staged_weight *out);

void clconvt_weights_free(staged_weight *weight);

#endif
