/* Weight normalisation (w = g * v / ||v||, the norm per input channel) folded into a plain weight,
 * once, when a weight is staged. */
#ifndef CLCONVT_WEIGHT_NORM_H
#define CLCONVT_WEIGHT_NORM_H

#include "clconvt.h"

/*
 * Fold g (Cin values) into v (the layer's weight shape in order, float32) in place, so that v
 * becomes the weight. Norms and products are computed in double. what names v in errors (for
 * example "ups.0.weight_v"). Fails, changing nothing, when an input channel's v is all zeros.
 */
clconvt_status clconvt_weight_norm_fold(const clconvt_params *params, const float *g, float *v,
                                        clconvt_weight_order order, const char *what);

#endif
