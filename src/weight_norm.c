/* Weight norm: PyTorch's weight_norm(dim=0) on a ConvTranspose1d and MAX's
 * WeightNormConvTranspose1d store the weight as a magnitude g per input channel and a direction v;
 * the layer only ever needs their product, so it is computed once and staged as a plain weight. */
#include "weight_norm.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>

#include "error.h"

/* Which input channel element i of a weight in order belongs to. */
static int64_t input_channel_of(int64_t i, const clconvt_params *p, clconvt_weight_order order) {
    const int64_t cout_g = p->out_channels / p->groups;
    if (order == CLCONVT_WEIGHT_PYTORCH) /* (Cin, Cout_g, K): a contiguous block per channel */
        return i / (cout_g * p->kernel_length);
    return i % p->in_channels; /* (K, Cout_g, Cin): the channel is the fastest axis */
}

clconvt_status clconvt_weight_norm_fold(const clconvt_params *p, const float *g, float *v,
                                        clconvt_weight_order order, const char *what) {
    const int64_t cin = p->in_channels;
    const int64_t count = cin * (p->out_channels / p->groups) * p->kernel_length;
    clconvt_status status = CLCONVT_SUCCESS;
    double *scale = calloc((size_t)cin, sizeof *scale);
    if (scale == NULL)
        return clconvt_fail(CLCONVT_ERROR_OUT_OF_HOST_MEMORY,
                            "out of host memory for the weight norms of %lld input channels",
                            (long long)cin);
    /* Squared norms first, in double: a float sum over Cout_g*K terms would lose digits. */
    for (int64_t i = 0; i < count; ++i) {
        const double x = v[i];
        scale[input_channel_of(i, p, order)] += x * x;
    }
    for (int64_t ci = 0; ci < cin; ++ci) {
        if (scale[ci] == 0.0) {
            status = clconvt_fail(CLCONVT_ERROR_INVALID_PARAMETER,
                                  "%s is all zeros for input channel %lld, so its norm is 0 and "
                                  "w = g * v / ||v|| is undefined",
                                  what, (long long)ci);
            goto cleanup;
        }
        scale[ci] = (double)g[ci] / sqrt(scale[ci]);
    }
    for (int64_t i = 0; i < count; ++i)
        v[i] = (float)((double)v[i] * scale[input_channel_of(i, p, order)]);
cleanup:
    free(scale);
    return status;
}

/* The public entry: convert g and v to float32, fold, stage as a plain float32 weight. */
clconvt_status clconvt_layer_set_weight_norm(clconvt_layer *layer, const void *g, const void *v,
                                             clconvt_weight_order order, clconvt_dtype host_dtype) {
    CLCONVT_CHECK_NOT_NULL(layer, "clconvt_layer_set_weight_norm");
    CLCONVT_CHECK_NOT_NULL(g, "clconvt_layer_set_weight_norm");
    CLCONVT_CHECK_NOT_NULL(v, "clconvt_layer_set_weight_norm");
    /* Checked here, not left to set_weight: the fold itself depends on the order. */
    if (order != CLCONVT_WEIGHT_MAX && order != CLCONVT_WEIGHT_PYTORCH)
        return clconvt_fail(CLCONVT_ERROR_INVALID_ARGUMENT,
                            "clconvt_layer_set_weight_norm: order must be CLCONVT_WEIGHT_MAX (0) "
                            "or CLCONVT_WEIGHT_PYTORCH (1), but got order=%d",
                            (int)order);
    if (clconvt_dtype_size(host_dtype) == 0)
        return clconvt_fail(CLCONVT_ERROR_INVALID_ARGUMENT,
                            "clconvt_layer_set_weight_norm: host_dtype must be CLCONVT_F32, "
                            "CLCONVT_F16 or CLCONVT_BF16, but got host_dtype=%d",
                            (int)host_dtype);
    clconvt_params p;
    clconvt_layer_get_params(layer, &p);
    const int64_t count = clconvt_layer_weight_count(layer);
    if ((uint64_t)count > SIZE_MAX / sizeof(float))
        return clconvt_fail(CLCONVT_ERROR_TOO_LARGE,
                            "clconvt_layer_set_weight_norm: a float32 copy of the %lld-element "
                            "weight does not fit in memory",
                            (long long)count);
    float *g32 = malloc((size_t)p.in_channels * sizeof *g32);
    float *w = malloc((size_t)count * sizeof *w);
    clconvt_status status = CLCONVT_SUCCESS;
    if (g32 == NULL || w == NULL) {
        status = clconvt_fail(CLCONVT_ERROR_OUT_OF_HOST_MEMORY,
                              "out of host memory folding a weight norm of %lld elements",
                              (long long)count);
        goto cleanup;
    }
    if ((status = clconvt_convert(g, host_dtype, g32, CLCONVT_F32, (size_t)p.in_channels)) !=
            CLCONVT_SUCCESS ||
        (status = clconvt_convert(v, host_dtype, w, CLCONVT_F32, (size_t)count)) !=
            CLCONVT_SUCCESS ||
        (status = clconvt_weight_norm_fold(&p, g32, w, order, "weight_v")) != CLCONVT_SUCCESS)
        goto cleanup;
    status = clconvt_layer_set_weight(layer, w, order, CLCONVT_F32);
cleanup:
    free(g32);
    free(w);
    return status;
}
