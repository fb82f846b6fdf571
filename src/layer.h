/* The layer object, shared by the layer code and the kernel paths that enqueue its work. */
#ifndef CLCONVT_LAYER_H
#define CLCONVT_LAYER_H

#include "clconvt.h"
#include "device.h"
#include "plan.h"
#include "weights.h"

#include <pthread.h>

struct clconvt_layer {
    clconvt_device *device;
    clconvt_params params;
    plan plan;
    cl_program program; /* owned by the device's program cache */
    /* Guards the three below: set_weight and set_bias may replace them while other threads
     * forward (a forward takes references to the buffers it starts with, layer_buffers). */
    pthread_mutex_t lock;
    staged_weight weight_host;
    cl_mem weight; /* packed for the plan's path, layer dtype */
    cl_mem bias;   /* Cout elements, layer dtype; NULL until set */
};

/* The weight and bias buffers one forward uses (bias NULL without one), with references of its
 * own: a set_weight or set_bias on another thread meanwhile releases only the layer's. */
typedef struct layer_buffers {
    cl_mem weight, bias;
} layer_buffers;

void clconvt_layer_buffers_release(layer_buffers *buffers);

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
