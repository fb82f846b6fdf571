/*
 * Streams: a layer run on a sequence that arrives in chunks of input frames, with exactly the
 * output of one forward of the whole sequence. Each push computes the outputs that became final
 * as one piece of that forward (stream_window.h): the layer's own enqueue (every path, every
 * plan) on a window of the held input halo followed by the new frames, with the left padding that
 * puts the piece's first output at 0. The stream holds only the halo the next outputs need.
 *
 * Every command of a push waits on the one before it, the first on the previous push's last
 * (the stream's `ready`) and the caller's wait list: queues may be out of order, and a caller may
 * push on different queues of the context. The windows alternate between two buffers: a push
 * copies the halo from the end of the last window into the other buffer, after it the new frames,
 * and runs the piece there. A push that fails leaves the stream as it was: it wrote only the
 * other buffer, which becomes the current one on success.
 */
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "layer.h"
#include "params.h"
#include "stream_window.h"

/* A device buffer that grows to what a push needs (its contents are not kept when it grows). */
typedef struct stream_buffer {
    cl_mem mem;
    size_t bytes;
} stream_buffer;

struct clconvt_stream {
    clconvt_layer *layer;
    int64_t batch;
    int64_t consumed;   /* input frames pushed since the start of the sequence */
    int64_t emitted;    /* output frames returned */
    int64_t halo_first; /* the sequence index of the halo's first frame */
    int finished;
    /* The last push's window, windows[current]: input frames [window_first, consumed), dense
     * (window_frames per row); it ends with the halo. The next push builds its own in the other. */
    stream_buffer windows[2];
    int current;
    int64_t window_first, window_frames;
    stream_buffer staged; /* the host push's output before it is read back */
    cl_event ready;       /* the last command of the last push, or NULL */
};

/* The frames of one side (in or out) of a piece: a dense (batch, frames, C) or (batch, C, frames)
 * array is `rows` rows of `frames` frames of `frame_bytes` each. */
typedef struct frame_rows {
    size_t rows, frame_bytes;
} frame_rows;

static frame_rows rows_of(const clconvt_stream *s, int64_t channels) {
    const clconvt_params *p = &s->layer->params;
    const size_t elem = clconvt_dtype_size(p->dtype);
    if (p->layout == CLCONVT_LAYOUT_NCL)
        return (frame_rows){(size_t)(s->batch * channels), elem};
    return (frame_rows){(size_t)s->batch, (size_t)channels * elem};
}

static clconvt_status reserve(clconvt_stream *s, stream_buffer *b, size_t bytes, const char *what) {
    if (b->bytes >= bytes)
        return CLCONVT_SUCCESS;
    cl_mem grown = NULL;
    const clconvt_status status = clconvt_device_buffer_create(s->layer->device, CL_MEM_READ_WRITE,
                                                               bytes, NULL, what, &grown);
    if (status != CLCONVT_SUCCESS)
        return status;
    /* Released now, freed by the runtime once the commands that use it are done. */
    clconvt_device_buffer_release(s->layer->device, b->mem);
    *b = (stream_buffer){grown, bytes};
    return CLCONVT_SUCCESS;
}

/* ---- The command chain of one push --------------------------------------------------------- */

typedef struct chain {
    cl_command_queue queue;
    cl_event *first; /* the first command's wait list: the stream's ready and the caller's */
    cl_uint first_count;
    cl_event last; /* the last command enqueued, NULL before the first */
} chain;

static clconvt_status chain_start(chain *c, const clconvt_stream *s, cl_command_queue queue,
                                  cl_uint n_wait, const cl_event *wait) {
    *c = (chain){queue, NULL, 0, NULL};
    c->first = malloc((n_wait + 1) * sizeof *c->first);
    if (c->first == NULL)
        return clconvt_fail(CLCONVT_ERROR_OUT_OF_HOST_MEMORY, "out of host memory for a wait list");
    if (n_wait > 0)
        memcpy(c->first, wait, n_wait * sizeof *wait);
    c->first_count = n_wait;
    if (s->ready != NULL)
        c->first[c->first_count++] = s->ready;
    return CLCONVT_SUCCESS;
}

static cl_uint chain_count(const chain *c) {
    return c->last != NULL ? 1 : c->first_count;
}

static const cl_event *chain_list(const chain *c) {
    return c->last != NULL ? &c->last : c->first_count > 0 ? c->first : NULL;
}

/* The command that gave `next` is now the last. */
static void chain_advance(chain *c, cl_event next) {
    if (c->last != NULL)
        clReleaseEvent(c->last);
    c->last = next;
}

/* After a failure, what was enqueued may still read the caller's memory: wait for it. */
static void chain_end(chain *c, clconvt_status status) {
    if (status != CLCONVT_SUCCESS && c->last != NULL)
        clWaitForEvents(1, &c->last);
    if (c->last != NULL)
        clReleaseEvent(c->last);
    free(c->first);
    c->last = NULL;
}

/* A marker, so that even a push that enqueues nothing honours the caller's wait list. */
static clconvt_status chain_marker(chain *c) {
    cl_event event = NULL;
    const cl_int err = clEnqueueMarkerWithWaitList(c->queue, chain_count(c), chain_list(c), &event);
    if (err != CL_SUCCESS)
        return clconvt_fail_cl("clEnqueueMarkerWithWaitList", err);
    chain_advance(c, event);
    return CLCONVT_SUCCESS;
}

/* Copy `count` frames from frame src_first of src (src_frames per row) to frame dst_first of dst
 * (dst_frames per row); exactly one of src and host is given. */
typedef struct frame_copy {
    cl_mem src;
    const void *host;
    int64_t src_frames, src_first, dst_frames, dst_first, count;
} frame_copy;

static clconvt_status chain_copy(chain *c, frame_rows rows, const frame_copy *f, cl_mem dst) {
    if (f->count == 0 || rows.rows == 0)
        return CLCONVT_SUCCESS;
    const size_t fb = rows.frame_bytes;
    const size_t src_origin[3] = {(size_t)f->src_first * fb, 0, 0};
    const size_t dst_origin[3] = {(size_t)f->dst_first * fb, 0, 0};
    const size_t region[3] = {(size_t)f->count * fb, rows.rows, 1};
    const size_t src_pitch = (size_t)f->src_frames * fb, dst_pitch = (size_t)f->dst_frames * fb;
    cl_event event = NULL;
    cl_int err;
    if (f->host != NULL)
        err = clEnqueueWriteBufferRect(c->queue, dst, CL_FALSE, dst_origin, src_origin, region,
                                       dst_pitch, 0, src_pitch, 0, f->host, chain_count(c),
                                       chain_list(c), &event);
    else
        err = clEnqueueCopyBufferRect(c->queue, f->src, dst, src_origin, dst_origin, region,
                                      src_pitch, 0, dst_pitch, 0, chain_count(c), chain_list(c),
                                      &event);
    if (err != CL_SUCCESS)
        return clconvt_fail_cl(f->host != NULL ? "clEnqueueWriteBufferRect(stream input)"
                                               : "clEnqueueCopyBufferRect(stream frames)",
                               err);
    chain_advance(c, event);
    return CLCONVT_SUCCESS;
}

/* ---- One push ------------------------------------------------------------------------------ */

/* What a push (or, with at_end, a finish) does: its new frames, from a buffer or host memory,
 * and where its outputs go. */
typedef struct push_request {
    const char *function;
    cl_mem in;
    const void *in_host;
    int64_t n_in;
    int at_end;
    cl_mem out; /* NULL: into host memory out_host, through the staged buffer */
    void *out_host;
    int64_t out_capacity;
} push_request;

/* A push that brings frames builds a new window; a finish, or an empty push, runs on the last. */
static int new_window(const push_request *r) {
    return r->n_in > 0;
}

/* The sizes of a push, fixed before anything is enqueued. */
typedef struct push_plan {
    int64_t consumed, emitted; /* after the push */
    int64_t window_first, window_frames, halo_first, pad;
    int64_t outputs; /* frames this push emits */
} push_plan;

static clconvt_status plan_push(const clconvt_stream *s, const push_request *r, push_plan *pp) {
    const clconvt_params *p = &s->layer->params;
    const int64_t consumed = s->consumed + r->n_in;
    int64_t emitted = clconvt_stream_final_outputs(p, consumed);
    if (r->at_end && consumed > 0) {
        const clconvt_status status = clconvt_output_length(p, consumed, &emitted);
        if (status != CLCONVT_SUCCESS)
            return status;
    }
    pp->consumed = consumed;
    pp->emitted = emitted;
    pp->outputs = emitted - s->emitted;
    pp->window_first = !new_window(r) ? s->window_first : s->consumed > 0 ? s->halo_first : 0;
    pp->window_frames = consumed - pp->window_first;
    pp->halo_first = consumed > 0 ? clconvt_stream_first_input(p, emitted, consumed) : 0;
    pp->pad = clconvt_stream_piece_pad(p, pp->window_first, s->emitted);
    if (pp->outputs > r->out_capacity)
        return clconvt_fail(CLCONVT_ERROR_SHAPE_MISMATCH,
                            "%s: out_capacity=%lld frames is too small: this call emits %lld "
                            "output frames (clconvt_stream_max_output gives a bound); nothing was "
                            "written and the stream is unchanged",
                            r->function, (long long)r->out_capacity, (long long)pp->outputs);
    return CLCONVT_SUCCESS;
}

/* Grow the buffers the push writes, before it enqueues anything. */
static clconvt_status reserve_push(clconvt_stream *s, const push_request *r, const push_plan *pp) {
    const clconvt_params *p = &s->layer->params;
    size_t bytes = 0;
    clconvt_status status = clconvt_tensor_bytes("stream window", s->batch, p->in_channels,
                                                 pp->window_frames, p->dtype, &bytes);
    if (status == CLCONVT_SUCCESS && new_window(r))
        status = reserve(s, &s->windows[!s->current], bytes, "stream window");
    if (status == CLCONVT_SUCCESS && r->out == NULL)
        status = clconvt_tensor_bytes("stream output", s->batch, p->out_channels, pp->outputs,
                                      p->dtype, &bytes);
    if (status == CLCONVT_SUCCESS && r->out == NULL && pp->outputs > 0)
        status = reserve(s, &s->staged, bytes, "stream output");
    return status;
}

/* Enqueue the push's commands on c: the window (the halo, the new frames), the piece, the
 * read-back. */
static clconvt_status enqueue_push(clconvt_stream *s, const push_request *r, const push_plan *pp,
                                   const layer_buffers *buffers, chain *c) {
    const clconvt_params *p = &s->layer->params;
    const frame_rows in_rows = rows_of(s, p->in_channels);
    const int64_t held = s->consumed - pp->window_first;
    cl_mem last = s->windows[s->current].mem;
    cl_mem window = new_window(r) ? s->windows[!s->current].mem : last;
    const frame_copy halo_in = {
        last, NULL, s->window_frames, s->halo_first - s->window_first, pp->window_frames, 0, held};
    const frame_copy new_in = {r->in, r->in_host, r->n_in, 0, pp->window_frames, held, r->n_in};
    clconvt_status status =
        new_window(r) ? chain_copy(c, in_rows, &halo_in, window) : CLCONVT_SUCCESS;
    if (status == CLCONVT_SUCCESS && new_window(r))
        status = chain_copy(c, in_rows, &new_in, window);
    cl_mem out = r->out != NULL ? r->out : s->staged.mem;
    if (status == CLCONVT_SUCCESS && pp->outputs > 0) {
        cl_event computed = NULL;
        status = clconvt_layer_enqueue(s->layer, buffers, c->queue, window, out, s->batch,
                                       pp->window_frames, pp->outputs, pp->pad, chain_count(c),
                                       chain_list(c), &computed);
        if (status == CLCONVT_SUCCESS)
            chain_advance(c, computed);
    }
    if (status == CLCONVT_SUCCESS && r->out == NULL && pp->outputs > 0) {
        const frame_rows out_rows = rows_of(s, p->out_channels);
        const size_t bytes = out_rows.rows * out_rows.frame_bytes * (size_t)pp->outputs;
        const cl_int err = clEnqueueReadBuffer(c->queue, out, CL_TRUE, 0, bytes, r->out_host,
                                               chain_count(c), chain_list(c), NULL);
        if (err != CL_SUCCESS)
            status = clconvt_fail_cl("clEnqueueReadBuffer(stream output)", err);
    }
    if (status == CLCONVT_SUCCESS && c->last == NULL)
        status = chain_marker(c);
    /* A host push returns once the caller's input has been read (even when it emits nothing). */
    cl_int err = CL_SUCCESS;
    if (status == CLCONVT_SUCCESS && r->out == NULL &&
        (err = clWaitForEvents(1, &c->last)) != CL_SUCCESS)
        status = clconvt_fail_cl("clWaitForEvents(stream push)", err);
    return status;
}

/* The push succeeded: its window is the current one, c's last command ends the push. */
static void commit_push(clconvt_stream *s, const push_request *r, const push_plan *pp, chain *c) {
    if (new_window(r)) {
        s->current = !s->current;
        s->window_first = pp->window_first;
        s->window_frames = pp->window_frames;
    }
    s->consumed = pp->consumed;
    s->emitted = pp->emitted;
    s->halo_first = pp->halo_first;
    s->finished = r->at_end;
    if (s->ready != NULL)
        clReleaseEvent(s->ready);
    s->ready = c->last; /* the chain's reference, now the stream's */
    c->last = NULL;
}

static clconvt_status run_push(clconvt_stream *s, const push_request *r, cl_command_queue queue,
                               cl_uint n_wait, const cl_event *wait, int64_t *n_out,
                               cl_event *done) {
    if (s->finished)
        return clconvt_fail(CLCONVT_ERROR_INVALID_ARGUMENT,
                            "%s: the stream's sequence was finished (clconvt_stream_finish); call "
                            "clconvt_stream_reset to start a new one",
                            r->function);
    push_plan pp;
    clconvt_status status = plan_push(s, r, &pp);
    layer_buffers buffers = {0};
    if (status == CLCONVT_SUCCESS)
        status = clconvt_layer_acquire_buffers(s->layer, r->function, &buffers);
    if (status == CLCONVT_SUCCESS)
        status = reserve_push(s, r, &pp);
    chain c = {NULL, NULL, 0, NULL};
    if (status == CLCONVT_SUCCESS)
        status = chain_start(&c, s, queue, n_wait, wait);
    if (status == CLCONVT_SUCCESS)
        status = enqueue_push(s, r, &pp, &buffers, &c);
    cl_int err = CL_SUCCESS;
    if (status == CLCONVT_SUCCESS && done != NULL && (err = clRetainEvent(c.last)) != CL_SUCCESS)
        status = clconvt_fail_cl("clRetainEvent(done)", err);
    if (status == CLCONVT_SUCCESS) {
        if (done != NULL)
            *done = c.last;
        commit_push(s, r, &pp, &c);
        *n_out = pp.outputs;
    }
    chain_end(&c, status);
    clconvt_layer_buffers_release(&buffers);
    if (status == CLCONVT_SUCCESS)
        clconvt_clear_error();
    return status;
}

/* ---- Checks of the arguments --------------------------------------------------------------- */

static clconvt_status check_counts(const clconvt_stream *s, const char *function, int64_t n_in,
                                   int64_t out_capacity) {
    const clconvt_params *p = &s->layer->params;
    if (n_in < 0)
        return clconvt_fail(CLCONVT_ERROR_INVALID_ARGUMENT,
                            "%s: n_in must be a non-negative number of input frames, but got "
                            "n_in=%lld",
                            function, (long long)n_in);
    if (out_capacity < 0)
        return clconvt_fail(CLCONVT_ERROR_INVALID_ARGUMENT,
                            "%s: out_capacity must be a non-negative number of output frames, but "
                            "got out_capacity=%lld",
                            function, (long long)out_capacity);
    /* The sequence's frames times the stride (and a margin for the padding) must fit int64. */
    if (n_in > INT64_MAX / 4 / p->stride - s->consumed)
        return clconvt_fail(CLCONVT_ERROR_TOO_LARGE,
                            "%s: n_in=%lld makes the sequence too long (%lld frames were pushed "
                            "before)",
                            function, (long long)n_in, (long long)s->consumed);
    size_t bytes;
    clconvt_status status =
        clconvt_tensor_bytes("stream input", s->batch, p->in_channels, n_in, p->dtype, &bytes);
    if (status == CLCONVT_SUCCESS)
        status = clconvt_tensor_bytes("stream output", s->batch, p->out_channels, out_capacity,
                                      p->dtype, &bytes);
    return status;
}

/* The caller's buffer holds `frames` frames of `channels` channels (when it is needed). */
static clconvt_status check_frames_buffer(const clconvt_stream *s, const char *function,
                                          cl_mem buffer, const char *parameter, const char *name,
                                          int64_t channels, int64_t frames) {
    if (frames == 0)
        return CLCONVT_SUCCESS;
    if (buffer == NULL)
        return clconvt_fail(CLCONVT_ERROR_INVALID_ARGUMENT,
                            "%s: %s must not be NULL when it has frames (%lld)", function,
                            parameter, (long long)frames);
    const frame_rows rows = rows_of(s, channels);
    buffer_span span;
    return clconvt_check_buffer(s->layer->device, function, buffer, parameter, name,
                                rows.rows * rows.frame_bytes * (size_t)frames, &span);
}

/* The device-buffer variants' queue and wait list; *queue becomes the device's when NULL. */
static clconvt_status check_enqueue(const clconvt_stream *s, const char *function,
                                    cl_command_queue *queue, cl_uint n_wait, const cl_event *wait) {
    const clconvt_device *device = s->layer->device;
    if ((n_wait > 0) != (wait != NULL))
        return clconvt_fail(CLCONVT_ERROR_INVALID_ARGUMENT, "%s: n_wait=%u but wait is %s",
                            function, (unsigned)n_wait, wait ? "not NULL" : "NULL");
    clconvt_status status = CLCONVT_SUCCESS;
    if (*queue == NULL)
        *queue = device->queue;
    else
        status = clconvt_check_queue(device, function, *queue);
    if (status == CLCONVT_SUCCESS)
        status = clconvt_check_wait_list(device, function, n_wait, wait);
    return status;
}

/* ---- The public functions ------------------------------------------------------------------ */

clconvt_status clconvt_stream_create(clconvt_layer *layer, int64_t batch, clconvt_stream **out) {
    static const char *const function = "clconvt_stream_create";
    CLCONVT_CHECK_NOT_NULL(layer, function);
    CLCONVT_CHECK_NOT_NULL(out, function);
    if (batch < 1 || batch > INT64_MAX / 2 / layer->params.stride)
        return clconvt_fail(CLCONVT_ERROR_INVALID_ARGUMENT,
                            "%s: batch must be a positive number of sequences, but got batch=%lld",
                            function, (long long)batch);
    clconvt_stream *s = calloc(1, sizeof *s);
    if (s == NULL)
        return clconvt_fail(CLCONVT_ERROR_OUT_OF_HOST_MEMORY, "out of host memory for a stream");
    s->layer = layer;
    s->batch = batch;
    *out = s;
    clconvt_clear_error();
    return CLCONVT_SUCCESS;
}

clconvt_status clconvt_stream_max_output(const clconvt_stream *s, int64_t n_in, int64_t *max_out) {
    static const char *const function = "clconvt_stream_max_output";
    CLCONVT_CHECK_NOT_NULL(s, function);
    CLCONVT_CHECK_NOT_NULL(max_out, function);
    const clconvt_status status = check_counts(s, function, n_in, 0);
    if (status != CLCONVT_SUCCESS)
        return status;
    /* A push emits at most stride frames per input frame; a finish at most the tail. */
    *max_out = n_in * s->layer->params.stride + clconvt_stream_tail_outputs(&s->layer->params);
    clconvt_clear_error();
    return CLCONVT_SUCCESS;
}

clconvt_status clconvt_stream_push_host(clconvt_stream *s, const void *in, int64_t n_in, void *out,
                                        int64_t out_capacity, int64_t *n_out) {
    static const char *const function = "clconvt_stream_push_host";
    CLCONVT_CHECK_NOT_NULL(s, function);
    CLCONVT_CHECK_NOT_NULL(n_out, function);
    clconvt_status status = check_counts(s, function, n_in, out_capacity);
    if (status != CLCONVT_SUCCESS)
        return status;
    if (n_in > 0)
        CLCONVT_CHECK_NOT_NULL(in, function);
    if (out_capacity > 0)
        CLCONVT_CHECK_NOT_NULL(out, function);
    const push_request r = {function, NULL, in, n_in, 0, NULL, out, out_capacity};
    return run_push(s, &r, s->layer->device->queue, 0, NULL, n_out, NULL);
}

clconvt_status clconvt_stream_finish_host(clconvt_stream *s, void *out, int64_t out_capacity,
                                          int64_t *n_out) {
    static const char *const function = "clconvt_stream_finish_host";
    CLCONVT_CHECK_NOT_NULL(s, function);
    CLCONVT_CHECK_NOT_NULL(n_out, function);
    clconvt_status status = check_counts(s, function, 0, out_capacity);
    if (status != CLCONVT_SUCCESS)
        return status;
    if (out_capacity > 0)
        CLCONVT_CHECK_NOT_NULL(out, function);
    const push_request r = {function, NULL, NULL, 0, 1, NULL, out, out_capacity};
    return run_push(s, &r, s->layer->device->queue, 0, NULL, n_out, NULL);
}

clconvt_status clconvt_stream_push(clconvt_stream *s, cl_command_queue queue, cl_mem in,
                                   int64_t n_in, cl_mem out, int64_t out_capacity, int64_t *n_out,
                                   cl_uint n_wait, const cl_event *wait, cl_event *done) {
    static const char *const function = "clconvt_stream_push";
    CLCONVT_CHECK_NOT_NULL(s, function);
    CLCONVT_CHECK_NOT_NULL(n_out, function);
    clconvt_status status = check_counts(s, function, n_in, out_capacity);
    if (status == CLCONVT_SUCCESS)
        status = check_enqueue(s, function, &queue, n_wait, wait);
    if (status == CLCONVT_SUCCESS)
        status =
            check_frames_buffer(s, function, in, "in", "input", s->layer->params.in_channels, n_in);
    if (status == CLCONVT_SUCCESS)
        status = check_frames_buffer(s, function, out, "out", "output",
                                     s->layer->params.out_channels, out_capacity);
    if (status != CLCONVT_SUCCESS)
        return status;
    const push_request r = {function, in, NULL, n_in, 0, out, NULL, out_capacity};
    return run_push(s, &r, queue, n_wait, wait, n_out, done);
}

clconvt_status clconvt_stream_finish(clconvt_stream *s, cl_command_queue queue, cl_mem out,
                                     int64_t out_capacity, int64_t *n_out, cl_uint n_wait,
                                     const cl_event *wait, cl_event *done) {
    static const char *const function = "clconvt_stream_finish";
    CLCONVT_CHECK_NOT_NULL(s, function);
    CLCONVT_CHECK_NOT_NULL(n_out, function);
    clconvt_status status = check_counts(s, function, 0, out_capacity);
    if (status == CLCONVT_SUCCESS)
        status = check_enqueue(s, function, &queue, n_wait, wait);
    if (status == CLCONVT_SUCCESS)
        status = check_frames_buffer(s, function, out, "out", "output",
                                     s->layer->params.out_channels, out_capacity);
    if (status != CLCONVT_SUCCESS)
        return status;
    const push_request r = {function, NULL, NULL, 0, 1, out, NULL, out_capacity};
    return run_push(s, &r, queue, n_wait, wait, n_out, done);
}

void clconvt_stream_reset(clconvt_stream *s) {
    if (s == NULL)
        return;
    /* The buffers (and ready, which orders the next push after the last one's commands) stay. */
    s->consumed = s->emitted = s->halo_first = s->window_first = s->window_frames = 0;
    s->finished = 0;
}

void clconvt_stream_release(clconvt_stream *s) {
    if (s == NULL)
        return;
    clconvt_device *device = s->layer->device;
    if (s->ready != NULL)
        clReleaseEvent(s->ready);
    clconvt_device_buffer_release(device, s->windows[0].mem);
    clconvt_device_buffer_release(device, s->windows[1].mem);
    clconvt_device_buffer_release(device, s->staged.mem);
    free(s);
}
