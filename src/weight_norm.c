/* Weight norm: PyTorch's weight_norm(dim=0) on a ConvTranspose1d and MAX's
 * WeightNormConvTranspose1d store the weight as a magnitude g per input channel and a direction v;
 * the layer only ever needs their product, so it is computed while the weight is staged. */
#include "weight_norm.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>

#include "dtype.h"
#include "error.h"
#include "layer.h"

/* Values converted at a time: the staging reads v in the caller's dtype, never as a whole copy. */
#define CHUNK 4096

/* sum[ci] += the squares of v's values of channel ci, in v's order (the order of the sums). */
static clconvt_status add_squares(const clconvt_params *p, const void *v, clconvt_dtype v_dtype,
                                  clconvt_weight_order order, double *sum) {
    const int64_t cin = p->in_channels;
    const int64_t per_channel = (p->out_channels / p->groups) * p->kernel_length;
    const size_t elem = clconvt_dtype_size(v_dtype);
    float *x = malloc(CHUNK * sizeof *x);
    if (x == NULL)
        return clconvt_fail(CLCONVT_ERROR_OUT_OF_HOST_MEMORY,
                            "out of host memory for the weight norms of %lld input channels",
                            (long long)cin);
    /* PyTorch order (Cin, Cout_g, K): a contiguous run per channel; MAX (K, Cout_g, Cin): the
     * channel is the fastest axis, one run of Cin per (tap, output channel). */
    const int pytorch = order == CLCONVT_WEIGHT_PYTORCH;
    const int64_t runs = pytorch ? cin : per_channel, run = pytorch ? per_channel : cin;
    for (int64_t r = 0; r < runs; ++r)
        for (int64_t i0 = 0; i0 < run; i0 += CHUNK) {
            const int64_t n = run - i0 < CHUNK ? run - i0 : CHUNK;
            clconvt_dtype_load_run((const char *)v + (size_t)(r * run + i0) * elem, v_dtype, x,
                                   (size_t)n);
            for (int64_t i = 0; i < n; ++i) {
                const double d = x[i];
                sum[pytorch ? r : i0 + i] += d * d;
            }
        }
    free(x);
    return CLCONVT_SUCCESS;
}

clconvt_status clconvt_weight_norm_scales(const clconvt_params *p, const float *g, const void *v,
                                          clconvt_dtype v_dtype, clconvt_weight_order order,
                                          const char *what, double **out) {
    const int64_t cin = p->in_channels;
    double *scale = calloc((size_t)cin, sizeof *scale);
    if (scale == NULL)
        return clconvt_fail(CLCONVT_ERROR_OUT_OF_HOST_MEMORY,
                            "out of host memory for the weight norms of %lld input channels",
                            (long long)cin);
    /* Squared norms first, in double: a float sum over Cout_g*K terms would lose digits. */
    clconvt_status status = add_squares(p, v, v_dtype, order, scale);
    for (int64_t ci = 0; ci < cin && status == CLCONVT_SUCCESS; ++ci) {
        if (scale[ci] == 0.0)
            status = clconvt_fail(CLCONVT_ERROR_INVALID_PARAMETER,
                                  "%s is all zeros for input channel %lld, so its norm is 0 and "
                                  "w = g * v / ||v|| is undefined",
                                  what, (long long)ci);
        else
            scale[ci] = (double)g[ci] / sqrt(scale[ci]);
    }
    if (status != CLCONVT_SUCCESS) {
        free(scale);
        return status;
    }
    *out = scale;
    return CLCONVT_SUCCESS;
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
    double *scale = NULL;
    clconvt_status status = CLCONVT_SUCCESS;
    if (g32 == NULL) {
        status = clconvt_fail(CLCONVT_ERROR_OUT_OF_HOST_MEMORY,
                              "out of host memory folding a weight norm of %lld elements",
                              (long long)count);
        goto cleanup;
    }
    /* The product g * v / ||v|| is never stored: the staging multiplies as it rounds. */
    if ((status = clconvt_convert(g, host_dtype, g32, CLCONVT_F32, (size_t)p.in_channels)) !=
            CLCONVT_SUCCESS ||
        (status = clconvt_weight_norm_scales(&p, g32, v, host_dtype, order, "weight_v", &scale)) !=
            CLCONVT_SUCCESS)
        goto cleanup;
    status = clconvt_layer_stage_weight(layer, &(weight_source){v, order, host_dtype, scale});
cleanup:
    free(g32);
    free(scale);
    return status;
}
