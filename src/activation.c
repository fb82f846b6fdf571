/* The fused input activation of a layer (clconvt_layer_set_input_activation): its checks, where
 * it runs (a pass of its own, cl/activation.cl, or the phase kernels' prologue in cl/common.cl),
 * its programs, its parameters, and the pass's enqueue. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "kernel_launch.h"
#include "layer.h"

/* Where a LeakyReLU on an f32 layer runs by default, by its multiply-adds per input value
 * (out_channels / groups x kernel_length): in the kernel below KERNEL_BELOW_WORK, and below
 * KERNEL_BELOW_WORK_TWO_TAPS for an NCL layer whose kernel spans at most two strides and is a
 * multiple of the stride (the usual upsampler, K = 2 x stride: phase_fold then activates each
 * input once for both taps, cl/phase_fold.cl); the others take a pass of their own (separate_pass).
 * The pass costs a read and a write of the whole input, the kernel an activation at each load of an
 * input value (once per channel tile, and per tap in the other layers). Measured with
 * clconvt-bench-activation on PoCL (BENCHMARKS.md, seventh session), fused / plain:
 * hifigan_v1_up4 (128) 1.04-1.10 in the kernel, 1.20-1.22 as the pass; hifigan_v1_up3 (256)
 * 1.06-1.08 against 1.11-1.18; encodec_up3 (512) a tie (0.98-1.07, 1.01-1.04); the rows of 1280
 * and more 1.05-1.2 in the kernel against 0.97-1.05; convtasnet_decoder (16) and depthwise_up
 * (6) are faster in the kernel. ELU's expm1 and Snake's sine cost too much to repeat at each
 * load: on convtasnet_decoder and depthwise_up the kernel took 1.3-4x the pass's time with
 * them. */
#define KERNEL_BELOW_WORK 128
#define KERNEL_BELOW_WORK_TWO_TAPS 512

/* cl/activation.cl's values per work-item, and rows per work-group. */
#define PASS_CHUNK 256
#define PASS_ROWS 16

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

extern const char clconvt_source_activation[];

/* Where the activation runs: in the path's kernel, as each input value is loaded, or as a pass of
 * its own over the input before it (cl/activation.cl), which a path that loads no input itself
 * needs. CLCONVT_INPUT_ACTIVATION=kernel or =pass chooses for the other paths; by default the
 * kernel for a LeakyReLU on an f32 layer of little work per input value (KERNEL_BELOW_WORK*),
 * else the pass: in f16 and bf16 the pass rounds the activated value to the dtype, as the header
 * documents, and the default keeps that. */
static int separate_pass(const clconvt_layer *layer, clconvt_activation kind) {
    if (layer->plan.path->input_read_elsewhere)
        return 1;
    const char *choice = getenv("CLCONVT_INPUT_ACTIVATION");
    if (choice != NULL && strcmp(choice, "kernel") == 0)
        return 0;
    if (choice != NULL && strcmp(choice, "pass") == 0)
        return 1;
    const clconvt_params *p = &layer->params;
    const int64_t work = p->out_channels / p->groups * p->kernel_length;
    /* NCL: phase_fold's tiles, which the planner gives such layers, share the activated inputs
     * between the taps; phase_chan's (NLC) activate them per tap. */
    const int two_taps = p->layout == CLCONVT_LAYOUT_NCL && p->dilation == 1 &&
                         p->kernel_length <= 2 * p->stride && p->kernel_length % p->stride == 0;
    return kind != CLCONVT_ACTIVATION_LEAKY_RELU || p->dtype != CLCONVT_F32 ||
           work >= (two_taps ? KERNEL_BELOW_WORK_TWO_TAPS : KERNEL_BELOW_WORK);
}

/* The program of the activation's own pass, for the layer's dtype and layout. */
static clconvt_status build_pass(clconvt_layer *layer, clconvt_activation kind,
                                 cl_program *program) {
    char options[128];
    snprintf(options, sizeof options, "-cl-std=CL1.2 -DDTYPE=%d -DLAYOUT_NCL=%d -DACTIVATION=%d",
             (int)layer->params.dtype, layer->params.layout == CLCONVT_LAYOUT_NCL, (int)kind);
    return clconvt_program_cache_get(layer->device->programs, clconvt_source_activation, options,
                                     program);
}

/* The activation as a forward will see it: where it runs, its program and its parameters. */
static clconvt_status make_activation(clconvt_layer *layer, clconvt_activation kind,
                                      const float *alpha, int64_t count, layer_activation *out) {
    *out = (layer_activation){layer->plan, layer->program, NULL, 0.0f, NULL};
    if (kind == CLCONVT_ACTIVATION_NONE)
        return CLCONVT_SUCCESS;
    clconvt_status status;
    if (separate_pass(layer, kind))
        status = build_pass(layer, kind, &out->separate);
    else {
        out->plan.activation = (int)kind;
        status = clconvt_layer_build(layer->device, &layer->params, &out->plan, &out->program);
    }
    if (status != CLCONVT_SUCCESS || kind != CLCONVT_ACTIVATION_SNAKE) {
        out->alpha = alpha[0];
        return status;
    }
    return clconvt_device_buffer_create(layer->device, CL_MEM_READ_ONLY | CL_MEM_COPY_HOST_PTR,
                                        (size_t)count * sizeof(float), (void *)alpha,
                                        "activation alphas", &out->alphas);
}

/* The pass's kernel on in into scratch, after wait; *done its end. */
static clconvt_status enqueue_pass(clconvt_layer *layer, const layer_activation *a,
                                   cl_command_queue queue, cl_mem in, cl_mem scratch, int64_t batch,
                                   int64_t length_in, cl_uint num_wait, const cl_event *wait,
                                   cl_event *done) {
    /* Rows of contiguous values (cl/activation.cl): NCL (sample, channel), NLC (sample,
     * position). */
    const int ncl = layer->params.layout == CLCONVT_LAYOUT_NCL;
    const cl_long channels = layer->params.in_channels;
    const cl_long rows = batch * (ncl ? channels : length_in), width = ncl ? length_in : channels;
    const cl_float alpha = a->alpha;
    const cl_mem alphas = a->alphas != NULL ? a->alphas : scratch; /* never read then */
    /* A fixed work-group (so that PoCL compiles no new kernel for a new length) of up to
     * PASS_ROWS rows. */
    size_t local[2] = {1, PASS_ROWS};
    local[1] = local[1] < layer->device->max_work_group_size ? local[1]
                                                             : layer->device->max_work_group_size;
    const size_t global[2] = {((size_t)width + PASS_CHUNK - 1) / PASS_CHUNK,
                              ((size_t)rows + local[1] - 1) / local[1] * local[1]};
    const kernel_argument args[] = {
        {sizeof in, &in},         {sizeof scratch, &scratch},   {sizeof rows, &rows},
        {sizeof width, &width},   {sizeof channels, &channels}, {sizeof alpha, &alpha},
        {sizeof alphas, &alphas},
    };
    const kernel_grid grid = {2, global, local, num_wait, wait, done};
    return clconvt_kernel_launch(a->separate, "activate_input", args, sizeof args / sizeof args[0],
                                 queue, &grid);
}

/* The layer's scratch buffer, grown to bytes if smaller (the old one is released: the runtime
 * frees it once the commands that use it are done); scratch_lock held. */
static clconvt_status layer_scratch(clconvt_layer *layer, size_t bytes, cl_mem *scratch) {
    if (layer->scratch_bytes < bytes) {
        clconvt_device_buffer_release(layer->device, layer->scratch);
        layer->scratch = NULL;
        layer->scratch_bytes = 0;
        const clconvt_status status = clconvt_device_buffer_create(
            layer->device, CL_MEM_READ_WRITE, bytes, NULL, "activated input", &layer->scratch);
        if (status != CLCONVT_SUCCESS)
            return status;
        layer->scratch_bytes = bytes;
    }
    *scratch = layer->scratch;
    return CLCONVT_SUCCESS;
}

clconvt_status clconvt_activation_enqueue(clconvt_layer *layer, const layer_buffers *buffers,
                                          cl_command_queue queue, cl_mem in, cl_mem out,
                                          int64_t batch, int64_t length_in, int64_t length_out,
                                          int64_t pad_left, cl_uint num_wait, const cl_event *wait,
                                          cl_event *done) {
    const size_t bytes = (size_t)(batch * layer->params.in_channels * length_in) *
                         clconvt_dtype_size(layer->params.dtype); /* checked by the forward */
    /* On the device's queue, which is in order, the layer's scratch buffer: allocating one per
     * forward cost PoCL as much as the pass on the large inputs (fresh pages for every forward).
     * A caller's queue may be out of order or run beside another: a buffer of its own, released
     * once enqueued (freed by the runtime once the commands that use it are done). */
    const int shared = queue == layer->device->queue;
    cl_mem scratch = NULL;
    cl_event activated = NULL;
    if (shared)
        pthread_mutex_lock(&layer->scratch_lock);
    clconvt_status status =
        shared ? layer_scratch(layer, bytes, &scratch)
               : clconvt_device_buffer_create(layer->device, CL_MEM_READ_WRITE, bytes, NULL,
                                              "activated input", &scratch);
    if (status == CLCONVT_SUCCESS)
        status = enqueue_pass(layer, &buffers->activation, queue, in, scratch, batch, length_in,
                              num_wait, wait, &activated);
    if (status == CLCONVT_SUCCESS)
        status = clconvt_layer_enqueue_path(layer, buffers, queue, scratch, out, batch, length_in,
                                            length_out, pad_left, 1, &activated, done);
    if (shared)
        pthread_mutex_unlock(&layer->scratch_lock);
    else
        clconvt_device_buffer_release(layer->device, scratch);
    if (activated != NULL)
        clReleaseEvent(activated);
    return status;
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
