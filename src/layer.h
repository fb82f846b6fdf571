/* The layer object, shared by the layer code and the kernel paths that enqueue its work. */
#ifndef CLCONVT_LAYER_H
#define CLCONVT_LAYER_H

#include "clconvt.h"
#include "device.h"
#include "plan.h"
#include "weights.h"

#include <pthread.h>

/* The input activation a forward applies (src/activation.c), in the path's kernel (plan with its
 * kind set, its work-group fit to program, built for it) or as a pass of its own before it
 * (separate: cl/activation.cl's program; plan and program then the layer's), and its parameters.
 * Without one: the layer's plan and program, and no parameters. */
typedef struct layer_activation {
    plan plan;
    cl_program program;  /* owned by the device's program cache, as separate */
    cl_program separate; /* NULL: none, or in the path's kernel */
    float alpha;         /* LeakyReLU's slope, ELU's alpha */
    cl_mem alphas;       /* Snake's alphas, Cin floats; NULL for the other kinds */
} layer_activation;

struct clconvt_layer {
    clconvt_device *device;
    clconvt_params params;
    plan plan;
    cl_program program; /* owned by the device's program cache */
    /* Guards the three below: set_weight, set_bias and set_input_activation may replace them
     * while other threads forward (a forward takes references to the buffers and a copy of the
     * activation it starts with, layer_buffers). */
    pthread_mutex_t lock;
    cl_mem
        weight;  /* packed for the plan's path, layer dtype; the only copy (get_weight reads it) */
    cl_mem bias; /* Cout elements, layer dtype; NULL until set */
    layer_activation activation;
    /* The activation pass's output for forwards on the device's queue (src/activation.c), kept
     * and grown to the largest input; scratch_lock is held from its pass's enqueue to its path's,
     * so that forwards of several threads use it in turn on the in-order queue. */
    pthread_mutex_t scratch_lock;
    cl_mem scratch;
    size_t scratch_bytes;
};

/* The weight and bias buffers one forward uses (bias NULL without one) and its activation, with
 * references of its own: a set_weight, set_bias or set_input_activation on another thread
 * meanwhile releases only the layer's. */
typedef struct layer_buffers {
    cl_mem weight, bias;
    layer_activation activation;
} layer_buffers;

void clconvt_layer_buffers_release(layer_buffers *buffers);

/* References to the layer's weight and bias as they are now, taken under its lock; fails with
 * CLCONVT_ERROR_NOT_READY (function names the caller) before they are set. */
clconvt_status clconvt_layer_acquire_buffers(clconvt_layer *layer, const char *function,
                                             layer_buffers *out);

/* ---- Checks of a caller's OpenCL objects (function names the caller in messages) ---- */

/* The bytes of a buffer a forward uses: in the buffer it is part of (itself, or a sub-buffer's
 * parent), from offset on. */
typedef struct buffer_span {
    cl_mem root;
    size_t offset, bytes;
} buffer_span;

/* parameter ("in") is a buffer of the device's context holding at least needed bytes. */
clconvt_status clconvt_check_buffer(const clconvt_device *device, const char *function,
                                    cl_mem buffer, const char *parameter, const char *name,
                                    size_t needed, buffer_span *span);
/* Every event of the wait list is valid and of the device's context. */
clconvt_status clconvt_check_wait_list(const clconvt_device *device, const char *function,
                                       cl_uint num_wait, const cl_event *wait_list);
/* The queue is of the device's context and device. */
clconvt_status clconvt_check_queue(const clconvt_device *device, const char *function,
                                   cl_command_queue queue);

/* clconvt_layer_set_weight once its arguments are checked, for a weight that may carry a
 * per-input-channel scale (weight norm): stage, upload, then swap under the lock. */
clconvt_status clconvt_layer_stage_weight(clconvt_layer *layer, const weight_source *src);

/*
 * Enqueue a forward on the layer's planned path, over batch samples of length_in inputs into
 * length_out outputs, with the given left padding: the layer's own, or, for one piece of a split
 * forward (forward_host.c), the crop that puts the piece's first output at 0.
 */
clconvt_status clconvt_layer_enqueue(clconvt_layer *layer, const layer_buffers *buffers,
                                     cl_command_queue queue, cl_mem in, cl_mem out, int64_t batch,
                                     int64_t length_in, int64_t length_out, int64_t pad_left,
                                     cl_uint num_wait, const cl_event *wait, cl_event *done);

/* The program of the layer's parameters for *plan from the device's program cache, and *plan's
 * work-group narrowed to what its kernel allows on the device. */
clconvt_status clconvt_layer_build(clconvt_device *device, const clconvt_params *params, plan *plan,
                                   cl_program *program);

/* The forward of clconvt_layer_enqueue with an activation of its own pass (src/activation.c):
 * the activated input into a scratch buffer after wait, then the path on it; the arguments as
 * clconvt_layer_enqueue's. */
clconvt_status clconvt_activation_enqueue(clconvt_layer *layer, const layer_buffers *buffers,
                                          cl_command_queue queue, cl_mem in, cl_mem out,
                                          int64_t batch, int64_t length_in, int64_t length_out,
                                          int64_t pad_left, cl_uint num_wait, const cl_event *wait,
                                          cl_event *done);

/* The path's enqueue of one forward (clconvt_layer_enqueue without the activation's pass). */
clconvt_status clconvt_layer_enqueue_path(clconvt_layer *layer, const layer_buffers *buffers,
                                          cl_command_queue queue, cl_mem in, cl_mem out,
                                          int64_t batch, int64_t length_in, int64_t length_out,
                                          int64_t pad_left, cl_uint num_wait, const cl_event *wait,
                                          cl_event *done);

/* What both forwards check and hold: the lengths and byte sizes of the whole forward, and the
 * references to the weight and bias it uses. */
typedef struct forward_setup {
    int64_t length_out;
    size_t in_bytes, out_bytes;
    layer_buffers buffers;
} forward_setup;

/* Checks shared by both forwards: the layer is ready, batch >= 0, and the lengths and byte sizes
 * of a whole forward are valid; function names the caller in messages. On success *setup holds
 * the buffers' references (clconvt_layer_forward_done releases them); on failure none. */
clconvt_status clconvt_layer_check_forward(clconvt_layer *layer, const char *function,
                                           int64_t batch, int64_t length_in, forward_setup *setup);

/* The end of a public forward: release setup's buffers, clear the error on success, return
 * status. */
clconvt_status clconvt_layer_forward_done(forward_setup *setup, clconvt_status status);

#endif
