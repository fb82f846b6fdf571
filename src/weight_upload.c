#include "weight_upload.h"

#include <stdlib.h>

#include "error.h"

/* The packed copy goes straight into the buffer's memory: no host array, no copy after. */
static clconvt_status upload_mapped(clconvt_device *device, const clconvt_params *params,
                                    const plan *plan, const weight_source *src, size_t bytes,
                                    cl_mem *out) {
    cl_mem buffer = NULL;
    clconvt_status status = clconvt_device_buffer_create(
        device, CL_MEM_READ_ONLY | CL_MEM_ALLOC_HOST_PTR, bytes, NULL, "weight", &buffer);
    if (status != CLCONVT_SUCCESS)
        return status;
    cl_int err;
    float *packed =
        clEnqueueMapBuffer(device->queue, buffer, CL_TRUE, CL_MAP_WRITE_INVALIDATE_REGION, 0, bytes,
                           0, NULL, NULL, &err);
    if (err != CL_SUCCESS) {
        clconvt_device_buffer_release(device, buffer);
        return clconvt_fail_cl("clEnqueueMapBuffer(weight)", err);
    }
    status = clconvt_weights_stage(params, plan, src, packed);
    /* The unmap is waited for, so that a forward on any queue (in order or not) sees the data. */
    cl_event unmapped = NULL;
    err = clEnqueueUnmapMemObject(device->queue, buffer, packed, 0, NULL, &unmapped);
    if (err != CL_SUCCESS)
        status = clconvt_fail_cl("clEnqueueUnmapMemObject(weight)", err);
    else {
        err = clWaitForEvents(1, &unmapped);
        clReleaseEvent(unmapped);
        if (err != CL_SUCCESS && status == CLCONVT_SUCCESS)
            status = clconvt_fail_cl("clWaitForEvents(weight unmap)", err);
    }
    if (status != CLCONVT_SUCCESS) {
        clconvt_device_buffer_release(device, buffer);
        return status;
    }
    *out = buffer;
    return CLCONVT_SUCCESS;
}

static clconvt_status upload_copied(clconvt_device *device, const clconvt_params *params,
                                    const plan *plan, const weight_source *src, size_t bytes,
                                    cl_mem *out) {
    float *packed = malloc(bytes);
    if (packed == NULL)
        return clconvt_fail(CLCONVT_ERROR_OUT_OF_HOST_MEMORY,
                            "out of host memory for a packed weight of %zu bytes", bytes);
    clconvt_status status = clconvt_weights_stage(params, plan, src, packed);
    if (status == CLCONVT_SUCCESS)
        status = clconvt_device_buffer_create(device, CL_MEM_READ_ONLY | CL_MEM_COPY_HOST_PTR,
                                              bytes, packed, "weight", out);
    free(packed);
    return status;
}

clconvt_status clconvt_weights_upload(clconvt_device *device, const clconvt_params *params,
                                      const plan *plan, const weight_source *src, cl_mem *buffer) {
    const size_t bytes = clconvt_plan_packed_count(plan, params) * sizeof(float);
    if (device->type & CL_DEVICE_TYPE_CPU)
        return upload_mapped(device, params, plan, src, bytes, buffer);
    return upload_copied(device, params, plan, src, bytes, buffer);
}

clconvt_status clconvt_weights_download(clconvt_device *device, const clconvt_params *params,
                                        const plan *plan, cl_mem buffer, void *max_order) {
    const size_t bytes = clconvt_plan_packed_count(plan, params) * sizeof(float);
    float *packed = malloc(bytes);
    if (packed == NULL)
        return clconvt_fail(CLCONVT_ERROR_OUT_OF_HOST_MEMORY,
                            "out of host memory for a packed weight of %zu bytes", bytes);
    /* Blocking; the staging's unmap or copy was complete before the buffer became the layer's. */
    const cl_int err =
        clEnqueueReadBuffer(device->queue, buffer, CL_TRUE, 0, bytes, packed, 0, NULL, NULL);
    clconvt_status status = err == CL_SUCCESS
                                ? clconvt_weights_unpack(params, plan, packed, max_order)
                                : clconvt_fail_cl("clEnqueueReadBuffer(weight)", err);
    free(packed);
    return status;
}
