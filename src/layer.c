/* Layers: creation, weight and bias staging, and the forward pass. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "layer.h"
#include "params.h"
#include "plan_choice.h"
#include "weight_upload.h"

/* Values the kernel takes as int must fit one. */
static clconvt_status require_int(const char *name, int64_t value) {
    if (value > INT_MAX)
        return clconvt_fail(CLCONVT_ERROR_TOO_LARGE,
                            "%s=%lld is larger than the kernels support (%d)", name,
                            (long long)value, INT_MAX);
    return CLCONVT_SUCCESS;
}

/* Shrink the plan's work-group to what the compiled kernel allows on this device (a GPU may
 * allow fewer work-items for a kernel with many registers than its device maximum). */
static clconvt_status fit_work_group(clconvt_device *device, cl_program program, plan *plan) {
    cl_int err;
    cl_kernel kernel = clCreateKernel(program, plan->path->kernel, &err);
    if (err != CL_SUCCESS)
        return clconvt_fail_cl("clCreateKernel", err);
    size_t limit = 0;
    err = clGetKernelWorkGroupInfo(kernel, device->device, CL_KERNEL_WORK_GROUP_SIZE, sizeof limit,
                                   &limit, NULL);
    clReleaseKernel(kernel);
    if (err != CL_SUCCESS)
        return clconvt_fail_cl("clGetKernelWorkGroupInfo(CL_KERNEL_WORK_GROUP_SIZE)", err);
    clconvt_plan_fit_work_group(plan, limit);
    return CLCONVT_SUCCESS;
}

clconvt_status clconvt_layer_build(clconvt_device *device, const clconvt_params *params, plan *plan,
                                   cl_program *program) {
    char options[PLAN_OPTIONS_MAX];
    clconvt_plan_build_options(params, plan, options, sizeof options);
    clconvt_status status =
        clconvt_program_cache_get(device->programs, plan->path->source, options, program);
    return status == CLCONVT_SUCCESS ? fit_work_group(device, *program, plan) : status;
}

/* Check the packed weight's size for layer->plan, and get its program and work-group. */
static clconvt_status prepare_plan(clconvt_layer *layer) {
    const clconvt_params *params = &layer->params;
    size_t packed_bytes;
    int64_t packed_dims[3];
    clconvt_plan_packed_dims(&layer->plan, params, packed_dims);
    clconvt_status status = clconvt_tensor_bytes("packed weight", packed_dims[0], packed_dims[1],
                                                 packed_dims[2], CLCONVT_F32, &packed_bytes);
    if (status == CLCONVT_SUCCESS)
        status = require_int("the channel count padded to whole tiles", layer->plan.cout_g_padded);
    if (status == CLCONVT_SUCCESS && packed_bytes > layer->device->max_alloc_bytes)
        status = clconvt_fail(CLCONVT_ERROR_TOO_LARGE,
                              "the packed weight (%zu bytes for in_channels=%lld, "
                              "out_channels/groups=%lld, kernel_length=%lld) exceeds the device's "
                              "largest allocation of %llu bytes",
                              packed_bytes, (long long)params->in_channels,
                              (long long)(params->out_channels / params->groups),
                              (long long)params->kernel_length,
                              (unsigned long long)layer->device->max_alloc_bytes);
    if (status == CLCONVT_SUCCESS)
        status = clconvt_layer_build(layer->device, params, &layer->plan, &layer->program);
    if (status == CLCONVT_SUCCESS)
        layer->activation = (layer_activation){layer->plan, layer->program, NULL, 0.0f, NULL};
    return status;
}

clconvt_status clconvt_layer_create(clconvt_device *device, const clconvt_params *params,
                                    clconvt_layer **out) {
    return clconvt_layer_create_with_plan(device, params, NULL, out);
}

clconvt_status clconvt_layer_create_with_plan(clconvt_device *device, const clconvt_params *params,
                                              const char *plan, clconvt_layer **out) {
    CLCONVT_CHECK_NOT_NULL(device, "clconvt_layer_create");
    CLCONVT_CHECK_NOT_NULL(params, "clconvt_layer_create");
    CLCONVT_CHECK_NOT_NULL(out, "clconvt_layer_create");
    clconvt_status status = clconvt_params_validate(params);
    if (status != CLCONVT_SUCCESS)
        return status;
    if ((status = require_int("in_channels", params->in_channels)) != CLCONVT_SUCCESS ||
        (status = require_int("out_channels", params->out_channels)) != CLCONVT_SUCCESS ||
        (status = require_int("kernel_length", params->kernel_length)) != CLCONVT_SUCCESS ||
        (status = require_int("stride", params->stride)) != CLCONVT_SUCCESS ||
        (status = require_int("dilation", params->dilation)) != CLCONVT_SUCCESS)
        return status;
    clconvt_layer *layer = calloc(1, sizeof *layer);
    if (layer == NULL)
        return clconvt_fail(CLCONVT_ERROR_OUT_OF_HOST_MEMORY, "out of host memory for a layer");
    if (pthread_mutex_init(&layer->lock, NULL) != 0) {
        free(layer);
        return clconvt_fail(CLCONVT_ERROR_OUT_OF_HOST_MEMORY, "pthread_mutex_init failed");
    }
    if (pthread_mutex_init(&layer->scratch_lock, NULL) != 0) {
        pthread_mutex_destroy(&layer->lock);
        free(layer);
        return clconvt_fail(CLCONVT_ERROR_OUT_OF_HOST_MEMORY, "pthread_mutex_init failed");
    }
    layer->device = device;
    layer->params = *params;
    int tuned = 0;
    status = clconvt_plan_choose(device, params, plan, &layer->plan, &tuned);
    if (status == CLCONVT_SUCCESS)
        status = prepare_plan(layer);
    if (status != CLCONVT_SUCCESS && tuned) {
        /* The database is advice: a plan of it that fails here (a newer driver, a database
         * from another build of clconvt) must not cost the user the layer. */
        clconvt_plan_database_failed(device, params, &layer->plan, clconvt_last_error());
        status = prepare_plan(layer);
    }
    if (status != CLCONVT_SUCCESS) {
        pthread_mutex_destroy(&layer->scratch_lock);
        pthread_mutex_destroy(&layer->lock);
        free(layer);
        return status;
    }
    *out = layer;
    clconvt_clear_error();
    return CLCONVT_SUCCESS;
}

void clconvt_layer_release(clconvt_layer *layer) {
    if (layer == NULL)
        return;
    clconvt_device_buffer_release(layer->device, layer->weight);
    clconvt_device_buffer_release(layer->device, layer->bias);
    clconvt_device_buffer_release(layer->device, layer->activation.alphas);
    clconvt_device_buffer_release(layer->device, layer->scratch);
    pthread_mutex_destroy(&layer->scratch_lock);
    pthread_mutex_destroy(&layer->lock);
    free(layer);
}

int64_t clconvt_layer_weight_count(const clconvt_layer *layer) {
    if (layer == NULL)
        return 0;
    const clconvt_params *p = &layer->params;
    return p->in_channels * (p->out_channels / p->groups) * p->kernel_length;
}

void clconvt_layer_get_params(const clconvt_layer *layer, clconvt_params *params) {
    if (layer != NULL && params != NULL)
        *params = layer->params;
}

clconvt_status clconvt_layer_plan(const clconvt_layer *layer, char *text, size_t size) {
    CLCONVT_CHECK_NOT_NULL(layer, "clconvt_layer_plan");
    CLCONVT_CHECK_NOT_NULL(text, "clconvt_layer_plan");
    char full[256];
    clconvt_plan_format(&layer->plan, full, sizeof full);
    if (strlen(full) >= size)
        return clconvt_fail(CLCONVT_ERROR_INVALID_ARGUMENT,
                            "clconvt_layer_plan: the plan \"%s\" needs %zu bytes, size is %zu",
                            full, strlen(full) + 1, size);
    memcpy(text, full, strlen(full) + 1);
    clconvt_clear_error();
    return CLCONVT_SUCCESS;
}

const char *clconvt_layer_plan_name(const clconvt_layer *layer) {
    return layer ? layer->plan.path->name : "none";
}

/* A read-only device buffer holding bytes copied from host. */
static clconvt_status upload(clconvt_layer *layer, const void *host, size_t bytes, const char *what,
                             cl_mem *out) {
    return clconvt_device_buffer_create(layer->device, CL_MEM_READ_ONLY | CL_MEM_COPY_HOST_PTR,
                                        bytes, (void *)host, what, out);
}

static clconvt_status check_dtype_argument(const char *function, clconvt_dtype dtype) {
    if (clconvt_dtype_size(dtype) == 0)
        return clconvt_fail(CLCONVT_ERROR_INVALID_ARGUMENT,
                            "%s: host_dtype must be CLCONVT_F32, CLCONVT_F16 or CLCONVT_BF16, but "
                            "got host_dtype=%d",
                            function, (int)dtype);
    return CLCONVT_SUCCESS;
}

clconvt_status clconvt_layer_set_weight(clconvt_layer *layer, const void *host,
                                        clconvt_weight_order order, clconvt_dtype host_dtype) {
    CLCONVT_CHECK_NOT_NULL(layer, "clconvt_layer_set_weight");
    CLCONVT_CHECK_NOT_NULL(host, "clconvt_layer_set_weight");
    if (order != CLCONVT_WEIGHT_MAX && order != CLCONVT_WEIGHT_PYTORCH)
        return clconvt_fail(CLCONVT_ERROR_INVALID_ARGUMENT,
                            "clconvt_layer_set_weight: order must be CLCONVT_WEIGHT_MAX (0) or "
                            "CLCONVT_WEIGHT_PYTORCH (1), but got order=%d",
                            (int)order);
    clconvt_status status = check_dtype_argument("clconvt_layer_set_weight", host_dtype);
    if (status != CLCONVT_SUCCESS)
        return status;
    return clconvt_layer_stage_weight(layer, &(weight_source){host, order, host_dtype, NULL});
}

clconvt_status clconvt_layer_stage_weight(clconvt_layer *layer, const weight_source *src) {
    cl_mem buffer = NULL;
    clconvt_status status =
        clconvt_weights_upload(layer->device, &layer->params, &layer->plan, src, &buffer);
    if (status != CLCONVT_SUCCESS)
        return status;
    /* Only now, with everything in hand, replace the old weight: a failure above changed nothing.
     * Forwards running meanwhile hold references of their own to the old buffer. */
    pthread_mutex_lock(&layer->lock);
    cl_mem old = layer->weight;
    layer->weight = buffer;
    pthread_mutex_unlock(&layer->lock);
    clconvt_device_buffer_release(layer->device, old);
    clconvt_clear_error();
    return CLCONVT_SUCCESS;
}

clconvt_status clconvt_layer_set_bias(clconvt_layer *layer, const void *host,
                                      clconvt_dtype host_dtype) {
    CLCONVT_CHECK_NOT_NULL(layer, "clconvt_layer_set_bias");
    CLCONVT_CHECK_NOT_NULL(host, "clconvt_layer_set_bias");
    if (!layer->params.has_bias)
        return clconvt_fail(CLCONVT_ERROR_INVALID_ARGUMENT,
                            "clconvt_layer_set_bias: the layer was created with has_bias=0");
    clconvt_status status = check_dtype_argument("clconvt_layer_set_bias", host_dtype);
    if (status != CLCONVT_SUCCESS)
        return status;
    const size_t count = (size_t)layer->params.out_channels;
    const size_t bytes = count * clconvt_dtype_size(layer->params.dtype);
    void *converted = malloc(bytes);
    if (converted == NULL)
        return clconvt_fail(CLCONVT_ERROR_OUT_OF_HOST_MEMORY, "out of host memory for a bias");
    /* Through fp32, so that the rounding matches the weight's (one rounding to the layer dtype). */
    float *as_f32 = malloc(count * sizeof *as_f32);
    cl_mem buffer = NULL;
    if (as_f32 == NULL)
        status = clconvt_fail(CLCONVT_ERROR_OUT_OF_HOST_MEMORY, "out of host memory for a bias");
    if (status == CLCONVT_SUCCESS)
        status = clconvt_convert(host, host_dtype, as_f32, CLCONVT_F32, count);
    if (status == CLCONVT_SUCCESS)
        status = clconvt_convert(as_f32, CLCONVT_F32, converted, layer->params.dtype, count);
    if (status == CLCONVT_SUCCESS)
        status = upload(layer, converted, bytes, "bias", &buffer);
    free(as_f32);
    free(converted);
    if (status != CLCONVT_SUCCESS)
        return status;
    pthread_mutex_lock(&layer->lock);
    cl_mem old = layer->bias;
    layer->bias = buffer;
    pthread_mutex_unlock(&layer->lock);
    clconvt_device_buffer_release(layer->device, old);
    clconvt_clear_error();
    return CLCONVT_SUCCESS;
}

clconvt_status clconvt_layer_get_weight(const clconvt_layer *layer, void *host) {
    CLCONVT_CHECK_NOT_NULL(layer, "clconvt_layer_get_weight");
    CLCONVT_CHECK_NOT_NULL(host, "clconvt_layer_get_weight");
    /* The lock is the layer's, not part of its value: taking it changes nothing the caller sees.
     * The reference keeps the weight read back whole if a set_weight replaces it meanwhile. */
    pthread_mutex_t *lock = (pthread_mutex_t *)&layer->lock;
    pthread_mutex_lock(lock);
    const cl_mem weight = layer->weight;
    const cl_int err = weight != NULL ? clRetainMemObject(weight) : CL_SUCCESS;
    pthread_mutex_unlock(lock);
    if (weight == NULL)
        return clconvt_fail(CLCONVT_ERROR_NOT_READY,
                            "clconvt_layer_get_weight: the layer has no weight yet");
    if (err != CL_SUCCESS)
        return clconvt_fail_cl("clRetainMemObject(weight)", err);
    /* No host copy is kept: the device's packed copy is the weight (src/weights.c). */
    const clconvt_status status =
        clconvt_weights_download(layer->device, &layer->params, &layer->plan, weight, host);
    clReleaseMemObject(weight);
    if (status == CLCONVT_SUCCESS)
        clconvt_clear_error();
    return status;
}

void clconvt_layer_buffers_release(layer_buffers *buffers) {
    if (buffers->weight != NULL)
        clReleaseMemObject(buffers->weight);
    if (buffers->bias != NULL)
        clReleaseMemObject(buffers->bias);
    if (buffers->activation.alphas != NULL)
        clReleaseMemObject(buffers->activation.alphas);
    *buffers = (layer_buffers){NULL, NULL, {{0}, NULL, NULL, 0.0f, NULL}};
}

clconvt_status clconvt_layer_forward_done(forward_setup *setup, clconvt_status status) {
    /* The runtime keeps the buffers enqueued commands use until they are done. */
    clconvt_layer_buffers_release(&setup->buffers);
    if (status == CLCONVT_SUCCESS)
        clconvt_clear_error();
    return status;
}

clconvt_status clconvt_layer_acquire_buffers(clconvt_layer *layer, const char *function,
                                             layer_buffers *out) {
    clconvt_status status = CLCONVT_SUCCESS;
    cl_int err = CL_SUCCESS;
    *out = (layer_buffers){NULL, NULL, {{0}, NULL, NULL, 0.0f, NULL}};
    pthread_mutex_lock(&layer->lock);
    const cl_mem weight = layer->weight, bias = layer->bias;
    const layer_activation activation = layer->activation;
    if (weight == NULL)
        status = clconvt_fail(CLCONVT_ERROR_NOT_READY,
                              "%s: the layer's weight has not been set (clconvt_layer_set_weight)",
                              function);
    else if (layer->params.has_bias && bias == NULL)
        status = clconvt_fail(CLCONVT_ERROR_NOT_READY,
                              "%s: the layer has has_bias=1 but its bias has not been set "
                              "(clconvt_layer_set_bias)",
                              function);
    else if ((err = clRetainMemObject(weight)) != CL_SUCCESS)
        status = clconvt_fail_cl("clRetainMemObject(weight)", err);
    else if (bias != NULL && (err = clRetainMemObject(bias)) != CL_SUCCESS) {
        clReleaseMemObject(weight);
        status = clconvt_fail_cl("clRetainMemObject(bias)", err);
    } else if (activation.alphas != NULL &&
               (err = clRetainMemObject(activation.alphas)) != CL_SUCCESS) {
        clReleaseMemObject(weight);
        if (bias != NULL)
            clReleaseMemObject(bias);
        status = clconvt_fail_cl("clRetainMemObject(alphas)", err);
    }
    pthread_mutex_unlock(&layer->lock);
    if (status == CLCONVT_SUCCESS)
        *out = (layer_buffers){weight, bias, activation};
    return status;
}

static clconvt_status check_shape(const clconvt_layer *layer, int64_t batch, int64_t length_in,
                                  forward_setup *shape) {
    const clconvt_params *p = &layer->params;
    if (batch < 0)
        return clconvt_fail(CLCONVT_ERROR_INVALID_PARAMETER,
                            "batch must be a non-negative integer, but got batch=%lld",
                            (long long)batch);
    clconvt_status status = clconvt_output_length(p, length_in, &shape->length_out);
    if (status == CLCONVT_SUCCESS)
        status = clconvt_tensor_bytes("input", batch, p->in_channels, length_in, p->dtype,
                                      &shape->in_bytes);
    if (status == CLCONVT_SUCCESS)
        status = clconvt_tensor_bytes("output", batch, p->out_channels, shape->length_out, p->dtype,
                                      &shape->out_bytes);
    if (status == CLCONVT_SUCCESS && batch > INT64_MAX / 2 / p->stride)
        status = clconvt_fail(CLCONVT_ERROR_TOO_LARGE, "batch=%lld is too large", (long long)batch);
    return status;
}

clconvt_status clconvt_layer_check_forward(clconvt_layer *layer, const char *function,
                                           int64_t batch, int64_t length_in, forward_setup *setup) {
    clconvt_status status = clconvt_layer_acquire_buffers(layer, function, &setup->buffers);
    if (status == CLCONVT_SUCCESS &&
        (status = check_shape(layer, batch, length_in, setup)) != CLCONVT_SUCCESS)
        clconvt_layer_buffers_release(&setup->buffers);
    return status;
}

/* One property of a caller's cl_mem: CL_INVALID_MEM_OBJECT is the caller's mistake, another error
 * the runtime's. */
static clconvt_status mem_info(cl_mem buffer, const char *name, cl_mem_info param,
                               const char *param_name, size_t size, void *value) {
    const cl_int err = clGetMemObjectInfo(buffer, param, size, value, NULL);
    if (err == CL_SUCCESS)
        return CLCONVT_SUCCESS;
    char call[96];
    snprintf(call, sizeof call, "clGetMemObjectInfo(%s, %s)", name, param_name);
    if (err != CL_INVALID_MEM_OBJECT)
        return clconvt_fail_cl(call, err);
    return clconvt_fail(CLCONVT_ERROR_INVALID_ARGUMENT,
                        "%s failed with %s (%d): is it a valid cl_mem?", call,
                        clconvt_cl_error_name(err), (int)err);
}

#define MEM_INFO(buffer, name, param, var)                                                         \
    mem_info(buffer, name, param, #param, sizeof(var), &(var))

static const char *mem_type_name(cl_mem_object_type type) {
    switch (type) {
    case CL_MEM_OBJECT_IMAGE1D: return "1-D image";
    case CL_MEM_OBJECT_IMAGE1D_ARRAY: return "1-D image array";
    case CL_MEM_OBJECT_IMAGE1D_BUFFER: return "1-D image buffer";
    case CL_MEM_OBJECT_IMAGE2D: return "2-D image";
    case CL_MEM_OBJECT_IMAGE2D_ARRAY: return "2-D image array";
    case CL_MEM_OBJECT_IMAGE3D: return "3-D image";
    }
    return "memory object of another kind (a pipe?)";
}

clconvt_status clconvt_check_buffer(const clconvt_device *device, const char *function,
                                    cl_mem buffer, const char *parameter, const char *name,
                                    size_t needed, buffer_span *span) {
    cl_mem_object_type type = 0;
    cl_context context = NULL;
    cl_mem parent = NULL;
    size_t size = 0, offset = 0;
    clconvt_status status = MEM_INFO(buffer, name, CL_MEM_TYPE, type);
    if (status == CLCONVT_SUCCESS && type != CL_MEM_OBJECT_BUFFER)
        return clconvt_fail(CLCONVT_ERROR_INVALID_ARGUMENT,
                            "%s: %s is not a buffer but a %s (CL_MEM_TYPE 0x%x): the %s must be a "
                            "cl_mem of clCreateBuffer or clCreateSubBuffer",
                            function, parameter, mem_type_name(type), (unsigned)type, name);
    if (status == CLCONVT_SUCCESS)
        status = MEM_INFO(buffer, name, CL_MEM_CONTEXT, context);
    if (status == CLCONVT_SUCCESS && context != device->context)
        return clconvt_fail(CLCONVT_ERROR_INVALID_ARGUMENT,
                            "%s: %s is a buffer of another context than the layer's device's "
                            "(CL_MEM_CONTEXT)",
                            function, parameter);
    if (status == CLCONVT_SUCCESS)
        status = MEM_INFO(buffer, name, CL_MEM_SIZE, size);
    if (status == CLCONVT_SUCCESS && size < needed)
        return clconvt_fail(CLCONVT_ERROR_SHAPE_MISMATCH,
                            "%s buffer holds %zu bytes but the forward needs %zu", name, size,
                            needed);
    if (status == CLCONVT_SUCCESS)
        status = MEM_INFO(buffer, name, CL_MEM_ASSOCIATED_MEMOBJECT, parent);
    if (status == CLCONVT_SUCCESS && parent != NULL)
        status = MEM_INFO(buffer, name, CL_MEM_OFFSET, offset);
    *span = (buffer_span){parent != NULL ? parent : buffer, offset, needed};
    return status;
}

/* The forward reads its input while it writes its output (in tiles, across kernels): the two
 * must not share a byte. */
static clconvt_status check_no_overlap(const buffer_span *in, const buffer_span *out) {
    if (in->root != out->root || in->offset >= out->offset + out->bytes ||
        out->offset >= in->offset + in->bytes)
        return CLCONVT_SUCCESS;
    return clconvt_fail(CLCONVT_ERROR_INVALID_ARGUMENT,
                        "clconvt_layer_forward: in and out overlap (bytes %zu to %zu and %zu to "
                        "%zu of one buffer): the output must not be written over the input",
                        in->offset, in->offset + in->bytes, out->offset, out->offset + out->bytes);
}

clconvt_status clconvt_check_wait_list(const clconvt_device *device, const char *function,
                                       cl_uint num_wait, const cl_event *wait_list) {
    for (cl_uint i = 0; i < num_wait; ++i) {
        cl_context context = NULL;
        const cl_int err =
            clGetEventInfo(wait_list[i], CL_EVENT_CONTEXT, sizeof context, &context, NULL);
        if (err == CL_INVALID_EVENT)
            return clconvt_fail(CLCONVT_ERROR_INVALID_ARGUMENT,
                                "%s: wait_list[%u] is not a valid event "
                                "(clGetEventInfo failed with CL_INVALID_EVENT)",
                                function, (unsigned)i);
        if (err != CL_SUCCESS)
            return clconvt_fail_cl("clGetEventInfo(CL_EVENT_CONTEXT)", err);
        if (context != device->context)
            return clconvt_fail(CLCONVT_ERROR_INVALID_ARGUMENT,
                                "%s: wait_list[%u] is an event of another "
                                "context than the layer's device's",
                                function, (unsigned)i);
    }
    return CLCONVT_SUCCESS;
}

clconvt_status clconvt_check_queue(const clconvt_device *device, const char *function,
                                   cl_command_queue queue) {
    cl_context context;
    cl_device_id id;
    cl_int err = clGetCommandQueueInfo(queue, CL_QUEUE_CONTEXT, sizeof context, &context, NULL);
    if (err == CL_SUCCESS)
        err = clGetCommandQueueInfo(queue, CL_QUEUE_DEVICE, sizeof id, &id, NULL);
    if (err != CL_SUCCESS)
        return clconvt_fail_cl("clGetCommandQueueInfo", err);
    if (context != device->context || id != device->device)
        return clconvt_fail(CLCONVT_ERROR_INVALID_ARGUMENT,
                            "%s: queue belongs to another %s than the layer's device", function,
                            context != device->context ? "context" : "device");
    return CLCONVT_SUCCESS;
}

clconvt_status clconvt_layer_enqueue(clconvt_layer *layer, const layer_buffers *buffers,
                                     cl_command_queue queue, cl_mem in, cl_mem out, int64_t batch,
                                     int64_t length_in, int64_t length_out, int64_t pad_left,
                                     cl_uint num_wait, const cl_event *wait, cl_event *done) {
    if (buffers->activation.separate != NULL)
        return clconvt_activation_enqueue(layer, buffers, queue, in, out, batch, length_in,
                                          length_out, pad_left, num_wait, wait, done);
    return clconvt_layer_enqueue_path(layer, buffers, queue, in, out, batch, length_in, length_out,
                                      pad_left, num_wait, wait, done);
}

clconvt_status clconvt_layer_enqueue_path(clconvt_layer *layer, const layer_buffers *buffers,
                                          cl_command_queue queue, cl_mem in, cl_mem out,
                                          int64_t batch, int64_t length_in, int64_t length_out,
                                          int64_t pad_left, cl_uint num_wait, const cl_event *wait,
                                          cl_event *done) {
    const path_launch launch = {
        .device = layer->device,
        .params = &layer->params,
        .plan = &buffers->activation.plan,
        .program = buffers->activation.program,
        .weight = buffers->weight,
        .bias = buffers->bias,
        .queue = queue,
        .in = in,
        .out = out,
        .activation_alpha = buffers->activation.alpha,
        .activation_alphas = buffers->activation.alphas,
        .batch = batch,
        .length_in = length_in,
        .length_out = length_out,
        .pad_left = pad_left,
        .num_wait = num_wait,
        .wait = wait,
        .done = done,
    };
    return layer->plan.path->enqueue(&launch);
}

/* clconvt_layer_forward once the layer is ready and the shape valid (setup). */
static clconvt_status forward_with(clconvt_layer *layer, const forward_setup *setup,
                                   cl_command_queue queue, cl_mem in, cl_mem out, int64_t batch,
                                   int64_t length_in, cl_uint num_wait, const cl_event *wait_list,
                                   cl_event *done) {
    static const char *const function = "clconvt_layer_forward";
    clconvt_status status;
    if (queue == NULL)
        queue = layer->device->queue;
    else if ((status = clconvt_check_queue(layer->device, function, queue)) != CLCONVT_SUCCESS)
        return status;
    if ((status = clconvt_check_wait_list(layer->device, function, num_wait, wait_list)) !=
        CLCONVT_SUCCESS)
        return status;
    if (batch == 0) {
        /* Nothing to compute, but the caller's event contract still holds. */
        cl_int err = CL_SUCCESS;
        if (done != NULL)
            err = clEnqueueMarkerWithWaitList(queue, num_wait, wait_list, done);
        return err == CL_SUCCESS ? CLCONVT_SUCCESS
                                 : clconvt_fail_cl("clEnqueueMarkerWithWaitList", err);
    }
    CLCONVT_CHECK_NOT_NULL(in, function);
    CLCONVT_CHECK_NOT_NULL(out, function);
    buffer_span in_span, out_span;
    if ((status = clconvt_check_buffer(layer->device, function, in, "in", "input", setup->in_bytes,
                                       &in_span)) != CLCONVT_SUCCESS ||
        (status = clconvt_check_buffer(layer->device, function, out, "out", "output",
                                       setup->out_bytes, &out_span)) != CLCONVT_SUCCESS ||
        (status = check_no_overlap(&in_span, &out_span)) != CLCONVT_SUCCESS)
        return status;
    return clconvt_layer_enqueue(layer, &setup->buffers, queue, in, out, batch, length_in,
                                 setup->length_out, layer->params.pad_left, num_wait, wait_list,
                                 done);
}

clconvt_status clconvt_layer_forward(clconvt_layer *layer, cl_command_queue queue, cl_mem in,
                                     cl_mem out, int64_t batch, int64_t length_in, cl_uint num_wait,
                                     const cl_event *wait_list, cl_event *done) {
    static const char *const function = "clconvt_layer_forward";
    CLCONVT_CHECK_NOT_NULL(layer, function);
    if ((num_wait > 0) != (wait_list != NULL))
        return clconvt_fail(CLCONVT_ERROR_INVALID_ARGUMENT, "%s: num_wait=%u but wait_list is %s",
                            function, (unsigned)num_wait, wait_list ? "not NULL" : "NULL");
    forward_setup setup;
    clconvt_status status = clconvt_layer_check_forward(layer, function, batch, length_in, &setup);
    if (status == CLCONVT_SUCCESS)
        status = forward_with(layer, &setup, queue, in, out, batch, length_in, num_wait, wait_list,
                              done);
    return clconvt_layer_forward_done(&setup, status);
}
