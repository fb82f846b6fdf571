/*
 * clconvt_layer_forward_host: a forward on host memory. Work larger than a piece (64 MiB of
 * input or of output, at most one device allocation; CLCONVT_MAX_ALLOC_BYTES sets it) is split
 * into pieces that fit: whole samples when one sample fits, else one sample at a time in ranges of
 * output positions, each with the input range that reaches it (its halo). A piece is computed as a
 * smaller ConvTranspose1d whose left padding puts the piece's first output at 0; inputs outside
 * the range contribute nothing to it, so every piece is exact.
 */
#include <stdatomic.h>
#include <stdlib.h>

#include "env.h"
#include "error.h"
#include "layer.h"

/* Pieces aim at 64 MiB of input or output: on PoCL a 1 GiB layer ran 2.6x faster in 64 MiB
 * pieces than in one (streaming through the caches; measured with a 64 -> 32 channel, stride-2
 * layer at 4M positions). Larger work is split anyway. */
#define PIECE_TARGET_BYTES ((size_t)64 << 20)

/* The bytes one piece may allocate for its input or output, and what set them. */
typedef struct piece_limit {
    size_t bytes;
    int from_variable; /* CLCONVT_MAX_ALLOC_BYTES, below the device's largest allocation */
    int is_target;     /* PIECE_TARGET_BYTES: work that cannot be split to fit may exceed it */
} piece_limit;

/* The target, or CLCONVT_MAX_ALLOC_BYTES when set (tests use it to split small work); either
 * capped by the device's largest allocation. */
static piece_limit allocation_limit(const clconvt_device *device) {
    static atomic_int warned;
    const uint64_t largest = device->max_alloc_bytes;
    uint64_t bytes = PIECE_TARGET_BYTES;
    const int from_variable = clconvt_env_bytes("CLCONVT_MAX_ALLOC_BYTES", &warned, &bytes);
    if (bytes >= largest)
        return (piece_limit){(size_t)largest, 0, 0};
    return (piece_limit){(size_t)bytes, from_variable, !from_variable};
}

/* One piece: samples [n0, n0 + samples), outputs [o_lo, o_hi), inputs [i_lo, i_hi). */
typedef struct piece {
    int64_t n0, samples, o_lo, o_hi, i_lo, i_hi;
} piece;

typedef struct split {
    const clconvt_layer *layer;
    const layer_buffers *buffers; /* every piece uses the same weight and bias */
    const void *in;
    void *out;
    int64_t batch, length_in, length_out;
    size_t elem;
    cl_mem in_buffer, out_buffer;
} split;

/* Copy a piece's inputs to the device: whole samples are contiguous in either layout; a range of
 * positions is contiguous in NLC and a set of row segments in NCL. *written completes with the
 * copy (the queue may be out of order: the kernel waits on it). */
static clconvt_status write_input(const split *s, const piece *pc, cl_command_queue queue,
                                  cl_event *written) {
    const clconvt_params *p = &s->layer->params;
    const size_t cin = (size_t)p->in_channels, length = (size_t)(pc->i_hi - pc->i_lo);
    const size_t samples = (size_t)pc->samples, l_in = (size_t)s->length_in;
    cl_int err;
    if (p->layout == CLCONVT_LAYOUT_NLC || length == l_in) {
        const size_t first = p->layout == CLCONVT_LAYOUT_NLC
                                 ? ((size_t)pc->n0 * l_in + (size_t)pc->i_lo) * cin
                                 : (size_t)pc->n0 * cin * l_in;
        err =
            clEnqueueWriteBuffer(queue, s->in_buffer, CL_FALSE, 0, samples * cin * length * s->elem,
                                 (const char *)s->in + first * s->elem, 0, NULL, written);
        return err == CL_SUCCESS ? CLCONVT_SUCCESS
                                 : clconvt_fail_cl("clEnqueueWriteBuffer(input)", err);
    }
    const size_t buffer_origin[3] = {0, 0, 0};
    const size_t host_origin[3] = {(size_t)pc->i_lo * s->elem, (size_t)pc->n0 * cin, 0};
    const size_t region[3] = {length * s->elem, cin, 1};
    err =
        clEnqueueWriteBufferRect(queue, s->in_buffer, CL_FALSE, buffer_origin, host_origin, region,
                                 length * s->elem, 0, l_in * s->elem, 0, s->in, 0, NULL, written);
    return err == CL_SUCCESS ? CLCONVT_SUCCESS
                             : clconvt_fail_cl("clEnqueueWriteBufferRect(input)", err);
}

/* Copy a piece's outputs back once computed is complete, waiting for the copy. */
static clconvt_status read_output(const split *s, const piece *pc, cl_command_queue queue,
                                  cl_event computed) {
    const clconvt_params *p = &s->layer->params;
    const size_t cout = (size_t)p->out_channels, length = (size_t)(pc->o_hi - pc->o_lo);
    const size_t samples = (size_t)pc->samples, l_out = (size_t)s->length_out;
    cl_int err;
    if (p->layout == CLCONVT_LAYOUT_NLC || length == l_out) {
        const size_t first = p->layout == CLCONVT_LAYOUT_NLC
                                 ? ((size_t)pc->n0 * l_out + (size_t)pc->o_lo) * cout
                                 : (size_t)pc->n0 * cout * l_out;
        err =
            clEnqueueReadBuffer(queue, s->out_buffer, CL_TRUE, 0, samples * cout * length * s->elem,
                                (char *)s->out + first * s->elem, 1, &computed, NULL);
        return err == CL_SUCCESS ? CLCONVT_SUCCESS
                                 : clconvt_fail_cl("clEnqueueReadBuffer(output)", err);
    }
    const size_t buffer_origin[3] = {0, 0, 0};
    const size_t host_origin[3] = {(size_t)pc->o_lo * s->elem, (size_t)pc->n0 * cout, 0};
    const size_t region[3] = {length * s->elem, cout, 1};
    err = clEnqueueReadBufferRect(queue, s->out_buffer, CL_TRUE, buffer_origin, host_origin, region,
                                  length * s->elem, 0, l_out * s->elem, 0, s->out, 1, &computed,
                                  NULL);
    return err == CL_SUCCESS ? CLCONVT_SUCCESS
                             : clconvt_fail_cl("clEnqueueReadBufferRect(output)", err);
}

/* Write, compute and read one piece, each command waiting on the one before: the queue may be
 * out of order (a wrapped caller's queue). The read blocks, so the next piece's write into the same
 * buffers comes after this piece's kernel. */
static clconvt_status run_piece(const split *s, const piece *pc) {
    const clconvt_params *p = &s->layer->params;
    clconvt_layer *layer = (clconvt_layer *)s->layer;
    cl_command_queue queue = layer->device->queue;
    /* The left padding that maps the piece's first input to its first output. */
    const int64_t pad = p->pad_left + pc->o_lo - pc->i_lo * p->stride;
    cl_event written = NULL, computed = NULL;
    clconvt_status status = write_input(s, pc, queue, &written);
    if (status == CLCONVT_SUCCESS)
        status = clconvt_layer_enqueue(layer, s->buffers, queue, s->in_buffer, s->out_buffer,
                                       pc->samples, pc->i_hi - pc->i_lo, pc->o_hi - pc->o_lo, pad,
                                       1, &written, &computed);
    if (status == CLCONVT_SUCCESS)
        status = read_output(s, pc, queue, computed);
    /* After a failure the copy may still be reading the caller's input: it must be done before
     * the call returns. */
    if (status != CLCONVT_SUCCESS && written != NULL)
        clWaitForEvents(1, &written);
    if (written != NULL)
        clReleaseEvent(written);
    if (computed != NULL)
        clReleaseEvent(computed);
    return status;
}

/* floor(a / b) for b > 0 and any a. */
static int64_t floor_div(int64_t a, int64_t b) {
    return a >= 0 ? a / b : -((-a + b - 1) / b);
}

/* The inputs that reach outputs [o_lo, o_hi): from the first whose last tap can land at o_lo
 * (rounded down, so the piece's left padding stays >= 0) to the last whose first tap can. */
static void input_range(const clconvt_params *p, int64_t length_in, piece *pc) {
    const int64_t reach = p->dilation * (p->kernel_length - 1);
    int64_t lo = floor_div(pc->o_lo + p->pad_left - reach, p->stride);
    int64_t hi = floor_div(pc->o_hi - 1 + p->pad_left, p->stride) + 1;
    lo = lo < 0 ? 0 : lo;
    hi = hi > length_in ? length_in : hi;
    if (hi <= lo) { /* no input reaches these outputs: any one input adds nothing to them */
        lo = lo < length_in ? lo : length_in - 1;
        hi = lo + 1;
    }
    pc->i_lo = lo;
    pc->i_hi = hi;
}

/* Samples and outputs per piece for pieces of at most limit bytes of input and of output: whole
 * samples when one fits, else one sample in ranges of outputs. 0 when not even one output position
 * with the inputs that reach it fits. */
static int piece_extent(const clconvt_params *p, const forward_setup *shape, int64_t batch,
                        size_t elem, size_t limit, int64_t *samples, int64_t *outputs) {
    const size_t sample_in = shape->in_bytes / (size_t)batch;
    const size_t sample_out = shape->out_bytes / (size_t)batch;
    *samples = 1;
    *outputs = shape->length_out;
    if (sample_in <= limit && sample_out <= limit) {
        const size_t fit_in = limit / sample_in, fit_out = limit / sample_out;
        const size_t fit = fit_in < fit_out ? fit_in : fit_out;
        *samples = (int64_t)fit < batch ? (int64_t)fit : batch;
        return 1;
    }
    const size_t in_position = (size_t)p->in_channels * elem;
    const size_t out_position = (size_t)p->out_channels * elem;
    const int64_t reach = p->dilation * (p->kernel_length - 1);
    /* Outputs per piece: their bytes fit, and so do the inputs reaching them, at most
     * (outputs + reach) / stride + 2. */
    const int64_t by_out = (int64_t)(limit / out_position);
    const int64_t by_in = ((int64_t)(limit / in_position) - 2) * p->stride - reach;
    *outputs = by_out < by_in ? by_out : by_in;
    *outputs = *outputs < shape->length_out ? *outputs : shape->length_out;
    return *outputs >= 1;
}

/* clconvt_layer_forward_host once the layer is ready and the shape valid (setup). */
static clconvt_status forward_in_pieces(clconvt_layer *layer, const forward_setup *setup,
                                        const void *in, void *out, int64_t batch,
                                        int64_t length_in) {
    static const char *const function = "clconvt_layer_forward_host";
    const forward_setup shape = *setup;
    if (batch == 0)
        return CLCONVT_SUCCESS;
    CLCONVT_CHECK_NOT_NULL(in, function);
    CLCONVT_CHECK_NOT_NULL(out, function);
    const clconvt_params *p = &layer->params;
    const size_t elem = clconvt_dtype_size(p->dtype);
    clconvt_status status = CLCONVT_SUCCESS;
    split s = {layer,     &setup->buffers,  in,   out,  batch,
               length_in, shape.length_out, elem, NULL, NULL};
    piece_limit limit = allocation_limit(layer->device);
    int64_t samples, outputs;
    int fits = piece_extent(p, &shape, batch, elem, limit.bytes, &samples, &outputs);
    if (!fits && limit.is_target) { /* the target is a preference, the device's limit a rule */
        limit = (piece_limit){(size_t)layer->device->max_alloc_bytes, 0, 0};
        fits = piece_extent(p, &shape, batch, elem, limit.bytes, &samples, &outputs);
    }
    if (!fits && limit.from_variable)
        return clconvt_fail(CLCONVT_ERROR_TOO_LARGE,
                            "%s: one output position with the inputs that reach it needs more "
                            "than CLCONVT_MAX_ALLOC_BYTES=%zu bytes, the most it lets a piece of "
                            "the work allocate",
                            function, limit.bytes);
    if (!fits)
        return clconvt_fail(CLCONVT_ERROR_TOO_LARGE,
                            "%s: one output position with the inputs that reach it needs more "
                            "than the device's largest allocation (%zu bytes)",
                            function, limit.bytes);
    /* A piece of outputs reads at most (outputs + reach) / stride + 2 inputs (input_range). */
    const int64_t piece_inputs =
        outputs == shape.length_out
            ? length_in
            : (outputs + p->dilation * (p->kernel_length - 1)) / p->stride + 2;
    const int64_t max_inputs = samples * p->in_channels * piece_inputs;
    status = clconvt_device_buffer_create(layer->device, CL_MEM_READ_ONLY,
                                          (size_t)max_inputs * elem, NULL, "input", &s.in_buffer);
    /* Read-write: the gemm path's col2im adds later chunks to what earlier ones wrote. */
    if (status == CLCONVT_SUCCESS)
        status = clconvt_device_buffer_create(layer->device, CL_MEM_READ_WRITE,
                                              (size_t)(samples * p->out_channels * outputs) * elem,
                                              NULL, "output", &s.out_buffer);
    for (int64_t n0 = 0; status == CLCONVT_SUCCESS && n0 < batch; n0 += samples)
        for (int64_t o_lo = 0; status == CLCONVT_SUCCESS && o_lo < shape.length_out;
             o_lo += outputs) {
            piece pc = {n0,   batch - n0 < samples ? batch - n0 : samples,
                        o_lo, shape.length_out - o_lo < outputs ? shape.length_out : o_lo + outputs,
                        0,    length_in};
            if (outputs < shape.length_out)
                input_range(p, length_in, &pc);
            status = run_piece(&s, &pc);
        }
    clconvt_device_buffer_release(layer->device, s.in_buffer);
    clconvt_device_buffer_release(layer->device, s.out_buffer);
    return status;
}

clconvt_status clconvt_layer_forward_host(clconvt_layer *layer, const void *in, void *out,
                                          int64_t batch, int64_t length_in) {
    static const char *const function = "clconvt_layer_forward_host";
    CLCONVT_CHECK_NOT_NULL(layer, function);
    forward_setup setup;
    clconvt_status status = clconvt_layer_check_forward(layer, function, batch, length_in, &setup);
    if (status == CLCONVT_SUCCESS)
        status = forward_in_pieces(layer, &setup, in, out, batch, length_in);
    return clconvt_layer_forward_done(&setup, status);
}
