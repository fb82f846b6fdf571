/* The measuring harness of the tools (harness.h). */
#include "harness.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "reference.h"
#include "tool_util.h"

#define HARNESS_GUARD_BYTES 4096
#define HARNESS_PATTERN 0xFF /* every byte of the fill: NaN in f32, f16 and bf16 */

static int say(char *reason, size_t size, const char *format, ...)
    __attribute__((format(printf, 3, 4)));

static int say(char *reason, size_t size, const char *format, ...) {
    va_list args;
    va_start(args, format);
    vsnprintf(reason, size, format, args);
    va_end(args);
    return -1;
}

/* ---- Data ------------------------------------------------------------------------------------ */

/* The host input and output: 64-byte aligned, as PyTorch's tensors are, so that PoCL runs a
 * forward_host in them rather than through copies of its own (clconvt.h), as the peers' first
 * calls do in theirs. */
static void *aligned_host_array(size_t bytes) {
    const size_t rounded = (bytes + 63) / 64 * 64;
    return aligned_alloc(64, rounded ? rounded : 64);
}

void harness_data_free(harness_data *d) {
    free(d->weight);
    free(d->bias);
    free(d->input);
    free(d->output);
    free(d->ref);
    free(d->y);
    memset(d, 0, sizeof *d);
}

int harness_data_make(harness_data *d, const clconvt_params *params, int64_t batch,
                      int64_t length_in, uint64_t seed, char *reason, size_t size) {
    int rc = -1;
    memset(d, 0, sizeof *d);
    d->params = *params;
    d->batch = batch;
    d->length_in = length_in;
    const clconvt_params *p = &d->params;
    if (clconvt_output_length(p, length_in, &d->length_out) != CLCONVT_SUCCESS)
        return say(reason, size, "%s", clconvt_last_error());
    d->n_x = (size_t)(batch * p->in_channels * length_in);
    d->n_w = (size_t)(p->in_channels * (p->out_channels / p->groups) * p->kernel_length);
    d->n_b = (size_t)p->out_channels;
    d->n_y = (size_t)(batch * p->out_channels * d->length_out);
    d->elem = clconvt_dtype_size(p->dtype);
    float *x = malloc(d->n_x * sizeof *x);
    double *xd = malloc(d->n_x * sizeof *xd), *wd = malloc(d->n_w * sizeof *wd);
    double *bd = malloc(d->n_b * sizeof *bd);
    d->weight = malloc(d->n_w * sizeof *d->weight);
    d->bias = malloc(d->n_b * sizeof *d->bias);
    d->input = aligned_host_array(d->n_x * d->elem);
    d->output = aligned_host_array(d->n_y * d->elem);
    d->ref = malloc(d->n_y * sizeof *d->ref);
    d->y = malloc(d->n_y * sizeof *d->y);
    if (!x || !xd || !wd || !bd || !d->weight || !d->bias || !d->input || !d->output || !d->ref ||
        !d->y) {
        say(reason, size, "out of host memory");
        goto cleanup;
    }
    uint64_t state = seed;
    const double w_scale = 1.0 / sqrt((double)(p->out_channels / p->groups * p->kernel_length));
    if (reference_random_fill(&state, 1.0, p->dtype, x, xd, d->n_x) != CLCONVT_SUCCESS ||
        reference_random_fill(&state, w_scale, p->dtype, d->weight, wd, d->n_w) !=
            CLCONVT_SUCCESS ||
        reference_random_fill(&state, w_scale, p->dtype, d->bias, bd, d->n_b) != CLCONVT_SUCCESS ||
        clconvt_convert(x, CLCONVT_F32, d->input, p->dtype, d->n_x) != CLCONVT_SUCCESS) {
        say(reason, size, "preparing the data failed: %s", clconvt_last_error());
        goto cleanup;
    }
    if (reference_forward(p, xd, wd, p->has_bias ? bd : NULL, batch, length_in, d->ref) != 0) {
        say(reason, size, "the reference refused the parameters");
        goto cleanup;
    }
    rc = 0;
cleanup:
    free(x);
    free(xd);
    free(wd);
    free(bd);
    if (rc != 0)
        harness_data_free(d);
    return rc;
}

clconvt_status harness_stage(const harness_data *d, clconvt_layer *layer) {
    double unused;
    return harness_stage_timed(d, layer, &unused);
}

clconvt_status harness_stage_timed(const harness_data *d, clconvt_layer *layer,
                                   double *weight_seconds) {
    const double start = tool_now_seconds();
    clconvt_status st =
        clconvt_layer_set_weight(layer, d->weight, CLCONVT_WEIGHT_PYTORCH, CLCONVT_F32);
    *weight_seconds = tool_now_seconds() - start;
    if (st == CLCONVT_SUCCESS && d->params.has_bias)
        st = clconvt_layer_set_bias(layer, d->bias, CLCONVT_F32);
    return st;
}

double harness_error(harness_data *d, const void *output) {
    if (reference_from_storage(output, d->params.dtype, d->y, d->n_y) != CLCONVT_SUCCESS)
        return INFINITY;
    return reference_normalised_error(d->y, d->ref, d->n_y);
}

/* ---- Buffers --------------------------------------------------------------------------------- */

void harness_buffers_release(harness_buffers *b) {
    cl_mem *all[] = {&b->view, &b->guarded, &b->out, &b->in}; /* the view before its parent */
    for (size_t i = 0; i < sizeof all / sizeof all[0]; ++i)
        if (*all[i])
            clReleaseMemObject(*all[i]);
    free(b->readback);
    memset(b, 0, sizeof *b);
}

/* The guarded output: its output region starts at an offset the device can address as a
 * sub-buffer, with guard bytes before and after it. */
static cl_int open_guarded(harness_buffers *b, cl_context context) {
    cl_uint align_bits = 0;
    cl_int err = clGetDeviceInfo(clconvt_device_id(b->device), CL_DEVICE_MEM_BASE_ADDR_ALIGN,
                                 sizeof align_bits, &align_bits, NULL);
    const size_t align = align_bits >= 8 ? align_bits / 8 : 1;
    b->front = (HARNESS_GUARD_BYTES + align - 1) / align * align;
    b->guarded_bytes = b->front + b->out_bytes + HARNESS_GUARD_BYTES;
    if (err == CL_SUCCESS)
        b->guarded = clCreateBuffer(context, CL_MEM_READ_WRITE, b->guarded_bytes, NULL, &err);
    if (err == CL_SUCCESS) {
        const cl_buffer_region region = {b->front, b->out_bytes};
        b->view = clCreateSubBuffer(b->guarded, CL_MEM_READ_WRITE, CL_BUFFER_CREATE_TYPE_REGION,
                                    &region, &err);
    }
    return err;
}

int harness_buffers_open(harness_buffers *b, clconvt_device *device, const harness_data *d,
                         int guarded, char *reason, size_t size) {
    memset(b, 0, sizeof *b);
    b->device = device;
    b->out_bytes = d->n_y * d->elem;
    const cl_context context = clconvt_device_context(device);
    const cl_command_queue queue = clconvt_device_queue(device);
    const unsigned char pattern = HARNESS_PATTERN;
    cl_int err = CL_SUCCESS;
    b->in = clCreateBuffer(context, CL_MEM_READ_ONLY | CL_MEM_COPY_HOST_PTR, d->n_x * d->elem,
                           d->input, &err);
    if (err == CL_SUCCESS)
        b->out = clCreateBuffer(context, CL_MEM_READ_WRITE, b->out_bytes, NULL, &err);
    /* A position the kernels never write then shows in the error. */
    if (err == CL_SUCCESS)
        err = clEnqueueFillBuffer(queue, b->out, &pattern, 1, 0, b->out_bytes, 0, NULL, NULL);
    if (err == CL_SUCCESS)
        err = clFinish(queue);
    if (err == CL_SUCCESS && guarded)
        err = open_guarded(b, context);
    if (err == CL_SUCCESS && guarded && (b->readback = malloc(b->guarded_bytes)) == NULL)
        err = CL_OUT_OF_HOST_MEMORY;
    if (err != CL_SUCCESS) {
        harness_buffers_release(b);
        return say(reason, size, "device buffers failed: OpenCL error %d", err);
    }
    return 0;
}

/* ---- The check ------------------------------------------------------------------------------- */

/* The test hook: spoil what a forward wrote (see harness_check). */
static cl_int inject_fault(harness_buffers *b, const harness_data *d, const char *fault) {
    cl_command_queue queue = clconvt_device_queue(b->device);
    const size_t mid = d->n_y / 2;
    if (strcmp(fault, "guard") == 0) {
        const unsigned char zero = 0;
        return clEnqueueWriteBuffer(queue, b->guarded, CL_TRUE, b->front + b->out_bytes, 1, &zero,
                                    0, NULL, NULL);
    }
    float value = NAN;
    if (strcmp(fault, "value") == 0) {
        double peak = 0.0;
        for (size_t i = 0; i < d->n_y; ++i)
            peak = fmax(peak, fabs(d->ref[i]));
        value = (float)(d->ref[mid] + 0.05 * peak);
    }
    unsigned char storage[4];
    clconvt_convert(&value, CLCONVT_F32, storage, d->params.dtype, 1);
    return clEnqueueWriteBuffer(queue, b->view, CL_TRUE, mid * d->elem, d->elem, storage, 0, NULL,
                                NULL);
}

/* Run layer into the guarded output and read all of it back. */
static int guarded_forward(harness_buffers *b, const harness_data *d, clconvt_layer *layer,
                           const char *fault, char *reason, size_t size) {
    cl_command_queue queue = clconvt_device_queue(b->device);
    const unsigned char pattern = HARNESS_PATTERN;
    cl_int err =
        clEnqueueFillBuffer(queue, b->guarded, &pattern, 1, 0, b->guarded_bytes, 0, NULL, NULL);
    if (err != CL_SUCCESS || (err = clFinish(queue)) != CL_SUCCESS)
        return say(reason, size, "filling the guarded output failed: OpenCL error %d", err);
    const clconvt_status st =
        clconvt_layer_forward(layer, NULL, b->in, b->view, d->batch, d->length_in, 0, NULL, NULL);
    if (st != CLCONVT_SUCCESS)
        return say(reason, size, "forward failed: %s", clconvt_last_error());
    if ((err = clFinish(queue)) != CL_SUCCESS ||
        (fault && *fault && (err = inject_fault(b, d, fault)) != CL_SUCCESS) ||
        (err = clEnqueueReadBuffer(queue, b->guarded, CL_TRUE, 0, b->guarded_bytes, b->readback, 0,
                                   NULL, NULL)) != CL_SUCCESS)
        return say(reason, size, "reading the output back failed: OpenCL error %d", err);
    return 0;
}

/* Whether every guard byte still holds the pattern. */
static int guards_intact(const harness_buffers *b, char *reason, size_t size) {
    for (size_t i = 0; i < b->guarded_bytes; ++i) {
        if (i == b->front) {
            i += b->out_bytes - 1;
            continue;
        }
        if (b->readback[i] != HARNESS_PATTERN) {
            const int before = i < b->front;
            return say(reason, size,
                       "wrote outside its output: the guard byte %zu bytes %s changed",
                       before ? b->front - i : i - b->front - b->out_bytes + 1,
                       before ? "before the start of the output" : "after the end of the output");
        }
    }
    return 0;
}

int harness_check(harness_buffers *b, harness_data *d, clconvt_layer *layer, const char *fault,
                  double *error, char *reason, size_t size) {
    if (guarded_forward(b, d, layer, fault, reason, size) != 0 ||
        guards_intact(b, reason, size) != 0)
        return -1;
    if (reference_from_storage(b->readback + b->front, d->params.dtype, d->y, d->n_y) !=
        CLCONVT_SUCCESS)
        return say(reason, size, "converting the output failed: %s", clconvt_last_error());
    for (size_t i = 0; i < d->n_y; ++i)
        if (!isfinite(d->y[i]))
            return say(reason, size, "output element %zu of %zu is %s (never written?)", i, d->n_y,
                       isnan(d->y[i]) ? "NaN" : "infinite");
    *error = reference_normalised_error(d->y, d->ref, d->n_y);
    const double bound = reference_error_bound(d->params.dtype);
    if (*error > bound)
        return say(reason, size, "normalised error %.3g exceeds %.3g", *error, bound);
    return 0;
}

/* ---- Timing ---------------------------------------------------------------------------------- */

double harness_time_forward(harness_buffers *b, const harness_data *d, clconvt_layer *layer,
                            char *reason, size_t size) {
    const double t0 = tool_now_seconds();
    const clconvt_status st =
        clconvt_layer_forward(layer, NULL, b->in, b->out, d->batch, d->length_in, 0, NULL, NULL);
    const cl_int err = st == CLCONVT_SUCCESS ? clFinish(clconvt_device_queue(b->device)) : 0;
    if (st != CLCONVT_SUCCESS || err != CL_SUCCESS) {
        if (st != CLCONVT_SUCCESS)
            say(reason, size, "forward failed: %s", clconvt_last_error());
        else
            say(reason, size, "clFinish failed: OpenCL error %d", err);
        return -1.0;
    }
    return tool_now_seconds() - t0;
}

static harness_timing timing_of(double *times, int rounds) {
    const double median = tool_median(times, (size_t)rounds); /* sorts: times[0] is the min */
    return (harness_timing){median, times[0]};
}

int harness_measure(harness_buffers *b, const harness_data *d, clconvt_layer *a, clconvt_layer *c,
                    int rounds, harness_timing *ta, harness_timing *tc, char *reason, size_t size) {
    int rc = -1;
    double *times_a = malloc((size_t)rounds * sizeof *times_a);
    double *times_c = malloc((size_t)rounds * sizeof *times_c);
    if (times_a == NULL || times_c == NULL) {
        say(reason, size, "out of host memory");
        goto cleanup;
    }
    for (int r = 0; r < rounds; ++r) {
        clconvt_layer *first = (r % 2 && c) ? c : a, *second = first == a ? c : a;
        double *t_first = first == a ? times_a : times_c;
        double *t_second = first == a ? times_c : times_a;
        if ((t_first[r] = harness_time_forward(b, d, first, reason, size)) < 0)
            goto cleanup;
        if (second != NULL && (t_second[r] = harness_time_forward(b, d, second, reason, size)) < 0)
            goto cleanup;
    }
    *ta = timing_of(times_a, rounds);
    if (c != NULL)
        *tc = timing_of(times_c, rounds);
    rc = 0;
cleanup:
    free(times_a);
    free(times_c);
    return rc;
}

int harness_read_error(harness_buffers *b, harness_data *d, double *error, char *reason,
                       size_t size) {
    const cl_int err = clEnqueueReadBuffer(clconvt_device_queue(b->device), b->out, CL_TRUE, 0,
                                           b->out_bytes, d->output, 0, NULL, NULL);
    if (err != CL_SUCCESS)
        return say(reason, size, "reading the output back failed: OpenCL error %d", err);
    *error = harness_error(d, d->output);
    return 0;
}
