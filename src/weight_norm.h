/* Weight normalisation (w = g * v / ||v||, the norm per input channel) folded into the staging of a
 * plain weight, once, when a weight is staged. */
#ifndef CLCONVT_WEIGHT_NORM_H
#define CLCONVT_WEIGHT_NORM_H

#include "clconvt.h"

/*
 * The factors g / ||v|| per input channel of v (the layer's weight shape in order, in v_dtype),
 * computed in double, into *out (Cin doubles; the caller frees them). what names v in errors (for
 * example "ups.0.weight_v"). Fails, allocating nothing, when an input channel's v is all zeros.
 */
clconvt_status clconvt_weight_norm_scales(const clconvt_params *params, const float *g,
                                          const void *v, clconvt_dtype v_dtype,
                                          clconvt_weight_order order, const char *what,
                                          double **out);

#endif
