/* Weight staging: from the caller's order and dtype to the layer's dtype, as fp32 holding the
 * rounded values, in the packed layout the kernels read, in one pass over the caller's weight; and
 * back from that packed copy to MAX order (clconvt_layer_get_weight). */
#ifndef CLCONVT_WEIGHTS_H
#define CLCONVT_WEIGHTS_H

#include "clconvt.h"
#include "plan.h"

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
 * Stage src for a layer of params and plan into packed (the caller's
 * clconvt_plan_packed_count(plan, params) floats), its padding zeroed. The path's packed_index
 * must be a sum of a part in (g, k, ci_local) and a part in c (path.h). Fails only when out of
 * host memory (for its small index tables), with packed untouched. A large weight is staged by
 * up to 4 threads together, the calling thread among them, all joined before it returns.
 */
clconvt_status clconvt_weights_stage(const clconvt_params *params, const plan *plan,
                                     const weight_source *src, float *packed);

/* The same, the work split by blocks of input channels into n parts (clamped to 1..4 and to the
 * blocks there are), each but the first on a thread started and joined here (clconvt_weights_stage
 * picks n from the weight's size and the host's cores). The packed copy does not depend on n. */
clconvt_status clconvt_weights_stage_in_parts(const clconvt_params *params, const plan *plan,
                                              const weight_source *src, float *packed, int n);

/*
 * The weight of a packed copy staged for params and plan, in MAX order (K, Cout_g, Cin) and the
 * layer's dtype, into max_order (clconvt_layer_weight_count elements): exactly what was staged,
 * since the packed values are the dtype's. Fails only when out of host memory.
 */
clconvt_status clconvt_weights_unpack(const clconvt_params *params, const plan *plan,
                                      const float *packed, void *max_order);

#endif
