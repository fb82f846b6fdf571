#include "weights.h"

#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "params.h"

void clconvt_weights_free(staged_weight *weight) {
    free(weight->max_order);
    free(weight->packed);
    *weight = (staged_weight){0};
}

clconvt_status clconvt_weights_stage(const clconvt_params *p, const plan *plan, const void *host,
                                     clconvt_weight_order order, clconvt_dtype host_dtype,
                                     staged_weight *out) {
    const int64_t cin = p->in_channels, k_len = p->kernel_length, groups = p->groups;
    const int64_t cin_g = cin / groups, cout_g = p->out_channels / groups;
    const size_t count = (size_t)(cin * cout_g * k_len); /* validated not to overflow */
    const size_t packed_count = clconvt_plan_packed_count(plan, p);
    const size_t elem = clconvt_dtype_size(p->dtype);
    staged_weight w = {0};
    clconvt_status status = CLCONVT_SUCCESS;

    /* Convert to fp32 (exact for every source dtype) and round once to the layer's dtype; the
     * rounded values, exact in fp32, fill the MAX-order copy (in the layer's dtype) and the packed
     * one (in fp32, so that the kernels' inner loops convert nothing). */
    float *source = malloc(count * sizeof *source);
    float *max_f = malloc(count * sizeof *max_f);
    void *rounded = malloc(count * elem);
    float *packed = calloc(packed_count, sizeof *packed); /* padding columns stay zero */
    w.max_order = rounded;
    w.packed = packed;
    if (!source || !max_f || !rounded || !packed) {
        status = clconvt_fail(CLCONVT_ERROR_OUT_OF_HOST_MEMORY,
                              "out of host memory staging a weight of %zu elements", count);
        goto cleanup;
    }
    if ((status = clconvt_convert(host, host_dtype, source, CLCONVT_F32, count)) !=
            CLCONVT_SUCCESS ||
        (status = clconvt_convert(source, CLCONVT_F32, rounded, p->dtype, count)) !=
            CLCONVT_SUCCESS ||
        (status = clconvt_convert(rounded, p->dtype, source, CLCONVT_F32, count)) !=
            CLCONVT_SUCCESS)
        goto cleanup;
    for (int64_t ci = 0; ci < cin; ++ci) {
        const int64_t g = ci / cin_g, ci_local = ci % cin_g;
        for (int64_t c = 0; c < cout_g; ++c)
            for (int64_t k = 0; k < k_len; ++k) {
                const int64_t pytorch_index = (ci * cout_g + c) * k_len + k;
                const int64_t max_index = (k * cout_g + c) * cin + ci;
                const float v = source[order == CLCONVT_WEIGHT_PYTORCH ? pytorch_index : max_index];
                max_f[max_index] = v;
                packed[clconvt_plan_packed_index(plan, p, g, k, ci_local, c)] = v;
            }
    }
    if ((status = clconvt_convert(max_f, CLCONVT_F32, w.max_order, p->dtype, count)) !=
        CLCONVT_SUCCESS)
        goto cleanup;
    w.max_bytes = count * elem;
    w.packed_bytes = packed_count * sizeof *packed;
cleanup:
    free(source);
    free(max_f);
    if (status != CLCONVT_SUCCESS) {
        clconvt_weights_free(&w);
        return status;
    }
    *out = w;
    return CLCONVT_SUCCESS;
}
