/* The fused input activation of a layer (clconvt_layer_set_input_activation): its checks, its
 * program and its parameters. The kernels apply it in cl/common.cl's prologue. */
#include <math.h>

#include "error.h"
#include "layer.h"

static const char *const function = "clconvt_layer_set_input_activation";

/* The count of alphas each kind takes, or -1 for a kind that does not exist. */
static int64_t alpha_count(const clconvt_layer *layer, clconvt_activation kind) {
    switch (kind) {
    case CLCONVT_ACTIVATION_NONE: return 0;
    case CLCONVT_ACTIVATION_LEAKY_RELU:
    case CLCONVT_ACTIVATION_ELU: return 1;
    case CLCONVT_ACTIVATION_SNAKE: return layer->params.in_channels;
    }
    return -1;
}

static const char *kind_name(clconvt_activation kind) {
    switch (kind) {
    case CLCONVT_ACTIVATION_NONE: return "CLCONVT_ACTIVATION_NONE";
    case CLCONVT_ACTIVATION_LEAKY_RELU: return "CLCONVT_ACTIVATION_LEAKY_RELU";
    case CLCONVT_ACTIVATION_ELU: return "CLCONVT_ACTIVATION_ELU";
    case CLCONVT_ACTIVATION_SNAKE: return "CLCONVT_ACTIVATION_SNAKE";
    }
    return "?";
}

static clconvt_status check_arguments(const clconvt_layer *layer, clconvt_activation kind,
                                      const float *alpha, int64_t count) {
    const int64_t expected = alpha_count(layer, kind);
    if (expected < 0)
        return clconvt_fail(CLCONVT_ERROR_INVALID_ARGUMENT,
                            "%s: kind must be CLCONVT_ACTIVATION_NONE (0), "
                            "CLCONVT_ACTIVATION_LEAKY_RELU (1), CLCONVT_ACTIVATION_ELU (2) or "
                            "CLCONVT_ACTIVATION_SNAKE (3), but got kind=%d",
                            function, (int)kind);
    if (count != expected)
        return clconvt_fail(CLCONVT_ERROR_INVALID_ARGUMENT,
                            "%s: count must be %lld for %s (%s), but got count=%lld", function,
                            (long long)expected, kind_name(kind),
                            kind == CLCONVT_ACTIVATION_SNAKE ? "one alpha per input channel"
                            : expected == 1                  ? "one parameter"
                                                             : "no parameter",
                            (long long)count);
    if (count > 0 && alpha == NULL)
        return clconvt_fail(CLCONVT_ERROR_INVALID_ARGUMENT,
                            "%s: alpha must not be NULL for %s (count=%lld)", function,
                            kind_name(kind), (long long)count);
    for (int64_t i = 0; i < count; ++i)
        if (!isfinite(alpha[i]))
            return clconvt_fail(CLCONVT_ERROR_INVALID_ARGUMENT,
                                "%s: alpha[%lld]=%g is not finite: the parameters of %s must be "
                                "finite numbers",
                                function, (long long)i, (double)alpha[i], kind_name(kind));
    return CLCONVT_SUCCESS;
}

/* The activation as a forward will see it: the program of its kind and its parameters. */
static clconvt_status make_activation(clconvt_layer *layer, clconvt_activation kind,
                                      const float *alpha, int64_t count, layer_activation *out) {
    *out = (layer_activation){layer->plan, layer->program, 0.0f, NULL};
    if (kind == CLCONVT_ACTIVATION_NONE)
        return CLCONVT_SUCCESS;
    out->plan.activation = (int)kind;
    clconvt_status status =
        clconvt_layer_build(layer->device, &layer->params, &out->plan, &out->program);
    if (status != CLCONVT_SUCCESS || kind != CLCONVT_ACTIVATION_SNAKE) {
        out->alpha = alpha[0];
        return status;
    }
    return clconvt_device_buffer_create(layer->device, CL_MEM_READ_ONLY | CL_MEM_COPY_HOST_PTR,
                                        (size_t)count * sizeof(float), (void *)alpha,
                                        "activation alphas", &out->alphas);
}

clconvt_status clconvt_layer_set_input_activation(clconvt_layer *layer, clconvt_activation kind,
                                                  const float *alpha, int64_t count) {
    CLCONVT_CHECK_NOT_NULL(layer, function);
    clconvt_status status = check_arguments(layer, kind, alpha, count);
    layer_activation activation;
    if (status == CLCONVT_SUCCESS)
        status = make_activation(layer, kind, alpha, count, &activation);
    if (status != CLCONVT_SUCCESS)
        return status;
    /* Everything is in hand: replace the old activation (forwards running meanwhile hold a copy
     * of it, and references to its alphas, of their own). */
    pthread_mutex_lock(&layer->lock);
    const cl_mem old = layer->activation.alphas;
    layer->activation = activation;
    pthread_mutex_unlock(&layer->lock);
    clconvt_device_buffer_release(layer->device, old);
    clconvt_clear_error();
    return CLCONVT_SUCCESS;
}
