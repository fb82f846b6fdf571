/*
 * clconvt_layer_forward_host: a forward on host memory. Work larger than a piece (64 MiB of
 * input or of output, at most one device allocation; CLCONVT_MAX_ALLOC_BYTES sets it) is split
 * into pieces that fit: whole samples when one sample fits, else one sample at a time in ranges of
 * output positions, each with the input range that reaches it (its halo). A piece is computed as a
 * smaller ConvTranspose1d whose left padding puts the piece's first output at 0; inputs outside
 * the range contribute nothing to it, so every piece is exact.
 *
 * On a CPU device a piece's kernels work in the caller's arrays themselves (CL_MEM_USE_HOST_PTR):
 * on PoCL that saves a copy each way and a fresh allocation of each buffer, whose first touch
 * faults in every page (hifigan_v1_up3's forward_host 12.9 -> 7.1 ms, the time of its forward on
 * device buffers; the first forward_host of encodec_up2 in a process 8.8-12.7 -> 6.0-6.4 ms). The
 * kernels wait on a gate that opens once every one of them is enqueued, so that a failure to
 * enqueue leaves out untouched, as clconvt.h promises.
 */
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
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
    /* The caller's arrays serve as each piece's buffers (see the top of the file): the input
     * unless the path's kernel does not read it itself (CLBlast's vector loads would need an
     * alignment that the caller's pointer need not have). */
    int wrap_in, wrap_out;
    cl_mem in_buffer, out_buffer; /* the buffers of the copies, when not wrapped */
} split;

/* Where a piece starts in the caller's input and output, in elements. Whole samples are
 * contiguous in either layout, a range of positions in NLC; in NCL a range of positions is a set
 * of row segments. */
static size_t input_offset(const split *s, const piece *pc) {
    const clconvt_params *p = &s->layer->params;
    const size_t cin = (size_t)p->in_channels, l_in = (size_t)s->length_in;
    return p->layout == CLCONVT_LAYOUT_NLC ? ((size_t)pc->n0 * l_in + (size_t)pc->i_lo) * cin
                                           : (size_t)pc->n0 * cin * l_in;
}

static size_t output_offset(const split *s, const piece *pc) {
    const clconvt_params *p = &s->layer->params;
    const size_t cout = (size_t)p->out_channels, l_out = (size_t)s->length_out;
    return p->layout == CLCONVT_LAYOUT_NLC ? ((size_t)pc->n0 * l_out + (size_t)pc->o_lo) * cout
                                           : (size_t)pc->n0 * cout * l_out;
}

static size_t input_bytes(const split *s, const piece *pc) {
    return (size_t)(pc->samples * s->layer->params.in_channels * (pc->i_hi - pc->i_lo)) * s->elem;
}

static size_t output_bytes(const split *s, const piece *pc) {
    return (size_t)(pc->samples * s->layer->params.out_channels * (pc->o_hi - pc->o_lo)) * s->elem;
}

/* Copy a piece's inputs to the device. *written completes with the copy (the queue may be out of
 * order: the kernel waits on it). */
static clconvt_status write_input(const split *s, const piece *pc, cl_command_queue queue,
                                  cl_event *written) {
    const clconvt_params *p = &s->layer->params;
    const size_t cin = (size_t)p->in_channels, length = (size_t)(pc->i_hi - pc->i_lo);
    const size_t l_in = (size_t)s->length_in;
    cl_int err;
    if (p->layout == CLCONVT_LAYOUT_NLC || length == l_in) {
        err = clEnqueueWriteBuffer(queue, s->in_buffer, CL_FALSE, 0, input_bytes(s, pc),
                                   (const char *)s->in + input_offset(s, pc) * s->elem, 0, NULL,
                                   written);
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
    const size_t l_out = (size_t)s->length_out;
    cl_int err;
    if (p->layout == CLCONVT_LAYOUT_NLC || length == l_out) {
        err = clEnqueueReadBuffer(queue, s->out_buffer, CL_TRUE, 0, output_bytes(s, pc),
                                  (char *)s->out + output_offset(s, pc) * s->elem, 1, &computed,
                                  NULL);
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

/* The piece's buffers: the caller's arrays wrapped (a contiguous piece), or the copies'. */
static clconvt_status piece_buffers(const split *s, const piece *pc, cl_mem *in, cl_mem *out) {
    clconvt_device *device = s->layer->device;
    clconvt_status status = CLCONVT_SUCCESS;
    *in = s->in_buffer;
    *out = s->out_buffer;
    if (s->wrap_in)
        status =
            clconvt_device_buffer_wrap(device, CL_MEM_READ_ONLY, input_bytes(s, pc),
                                       (char *)s->in + input_offset(s, pc) * s->elem, "input", in);
    if (s->wrap_out && status == CLCONVT_SUCCESS)
        status = clconvt_device_buffer_wrap(device, CL_MEM_READ_WRITE, output_bytes(s, pc),
                                            (char *)s->out + output_offset(s, pc) * s->elem,
                                            "output", out);
    return status;
}

/* Wait for event: the commands before it use the caller's arrays, so they must be over before
 * the call returns even when the wait fails (then the queue is finished and the event's status
 * read). */
static clconvt_status wait_for(cl_command_queue queue, cl_event event, const char *what) {
    const cl_int err = clWaitForEvents(1, &event);
    if (err == CL_SUCCESS)
        return CLCONVT_SUCCESS;
    cl_int state = CL_QUEUED;
    if (clFinish(queue) == CL_SUCCESS &&
        clGetEventInfo(event, CL_EVENT_COMMAND_EXECUTION_STATUS, sizeof state, &state, NULL) ==
            CL_SUCCESS &&
        state == CL_COMPLETE)
        return CLCONVT_SUCCESS;
    char call[64];
    snprintf(call, sizeof call, "clWaitForEvents(%s)", what);
    return clconvt_fail_cl(call, err);
}

/* Any negative status fails a user event, and with it every command waiting on it. */
#define GATE_FAILED (-1)

/* Open the gate that the kernels of a wrapped output wait on; or, after a failure to enqueue them
 * (status), fail it so that none of them runs, and finish the queue. */
static clconvt_status open_gate(cl_command_queue queue, cl_event gate, clconvt_status status) {
    cl_int err = CL_SUCCESS;
    if (status == CLCONVT_SUCCESS && (err = clSetUserEventStatus(gate, CL_COMPLETE)) != CL_SUCCESS)
        status = clconvt_fail_cl("clSetUserEventStatus", err);
    if (status != CLCONVT_SUCCESS) {
        clSetUserEventStatus(gate, GATE_FAILED);
        clFinish(queue);
    }
    return status;
}

/* Once computed is complete, map the wrapped output and unmap it: that makes the caller's array
 * hold what the kernels wrote where the runtime keeps a copy of its own. (The map comes after the
 * gate opens: PoCL 3.1 aborts when a failed gate fails a map waiting behind it.) */
static clconvt_status map_back(const split *s, const piece *pc, cl_command_queue queue, cl_mem out,
                               cl_event computed) {
    cl_int err;
    void *host = clEnqueueMapBuffer(queue, out, CL_TRUE, CL_MAP_READ, 0, output_bytes(s, pc), 1,
                                    &computed, NULL, &err);
    if (err != CL_SUCCESS) {
        wait_for(queue, computed, "output");
        return clconvt_fail_cl("clEnqueueMapBuffer(output)", err);
    }
    cl_event unmapped = NULL;
    if ((err = clEnqueueUnmapMemObject(queue, out, host, 0, NULL, &unmapped)) != CL_SUCCESS)
        return clconvt_fail_cl("clEnqueueUnmapMemObject(output)", err);
    const clconvt_status status = wait_for(queue, unmapped, "output");
    clReleaseEvent(unmapped);
    return status;
}

/* Write (unless wrapped), compute and read (or map) one piece, each command waiting on the one
 * before: the queue may be out of order (a wrapped caller's queue). The piece is over when this
 * returns, so the next piece's write into the same buffers comes after this piece's kernel. */
static clconvt_status run_piece(const split *s, const piece *pc) {
    const clconvt_params *p = &s->layer->params;
    clconvt_layer *layer = (clconvt_layer *)s->layer;
    cl_command_queue queue = layer->device->queue;
    /* The left padding that maps the piece's first input to its first output. */
    const int64_t pad = p->pad_left + pc->o_lo - pc->i_lo * p->stride;
    cl_mem in = NULL, out = NULL;
    cl_event gate = NULL, written = NULL, computed = NULL, wait[2];
    cl_uint num_wait = 0;
    cl_int err = CL_SUCCESS;
    clconvt_status status = piece_buffers(s, pc, &in, &out);
    if (status == CLCONVT_SUCCESS && s->wrap_out &&
        (gate = clCreateUserEvent(layer->device->context, &err)) == NULL)
        status = clconvt_fail_cl("clCreateUserEvent", err);
    if (status == CLCONVT_SUCCESS && !s->wrap_in)
        status = write_input(s, pc, queue, &written);
    if (gate != NULL)
        wait[num_wait++] = gate;
    if (written != NULL)
        wait[num_wait++] = written;
    if (status == CLCONVT_SUCCESS)
        status = clconvt_layer_enqueue(layer, s->buffers, queue, in, out, pc->samples,
                                       pc->i_hi - pc->i_lo, pc->o_hi - pc->o_lo, pad, num_wait,
                                       wait, &computed);
    if (gate != NULL) {
        status = open_gate(queue, gate, status);
        if (status == CLCONVT_SUCCESS)
            status = map_back(s, pc, queue, out, computed);
    } else if (status == CLCONVT_SUCCESS) {
        status = read_output(s, pc, queue, computed);
    }
    /* After a failure the copy may still be reading the caller's input: it must be done before
     * the call returns. */
    if (status != CLCONVT_SUCCESS && written != NULL)
        clWaitForEvents(1, &written);
    for (cl_uint i = 0; i < num_wait; ++i)
        clReleaseEvent(wait[i]);
    if (computed != NULL)
        clReleaseEvent(computed);
    if (s->wrap_in)
        clconvt_device_buffer_release(layer->device, in);
    if (s->wrap_out)
        clconvt_device_buffer_release(layer->device, out);
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

/* Whether the kernels work in the caller's arrays (see the top of the file): on a CPU device, when
 * every piece is contiguous in them (whole samples, or NLC), and when in and out do not overlap
 * (through the copies, a forward whose output overwrites its own input stays exact). */
static int works_in_place(const clconvt_layer *layer, const forward_setup *shape, const void *in,
                          const void *out, int64_t outputs) {
    if ((layer->device->type & CL_DEVICE_TYPE_CPU) == 0 ||
        (layer->params.layout == CLCONVT_LAYOUT_NCL && outputs < shape->length_out))
        return 0;
    const uintptr_t first_in = (uintptr_t)in, first_out = (uintptr_t)out;
    return first_in + shape->in_bytes <= first_out || first_out + shape->out_bytes <= first_in;
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
    split s = {.layer = layer,
               .buffers = &setup->buffers,
               .in = in,
               .out = out,
               .batch = batch,
               .length_in = length_in,
               .length_out = shape.length_out,
               .elem = elem};
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
    s.wrap_out = works_in_place(layer, &shape, in, out, outputs);
    s.wrap_in = s.wrap_out && !layer->plan.path->input_read_elsewhere;
    if (!s.wrap_in)
        status =
            clconvt_device_buffer_create(layer->device, CL_MEM_READ_ONLY, (size_t)max_inputs * elem,
                                         NULL, "input", &s.in_buffer);
    /* Read-write: the gemm path's col2im adds later chunks to what earlier ones wrote. */
    if (status == CLCONVT_SUCCESS && !s.wrap_out)
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
