/* The layer object, shared by the layer code and the kernel paths that enqueue its work. */
#ifndef CLCONVT_LAYER_H
#define CLCONVT_LAYER_H

#include "clconvt.h"
#include "device.h"
#include "plan.h"
#include "weights.h"

struct clconvt_layer {
    clconvt_device *device;
    clconvt_params params;
    plan plan;
    cl_program program; /* owned by the device's program cache */
    staged_weight weight_host;
    cl_mem weight; /* packed for the plan's path, layer dtype */
    cl_mem bias;   /* Cout elements, layer dtype; NULL until set */
};

/* The stride-phase constants every kernel takes (see cl/common.cl): with g = gcd(stride,
 * dilation), a phase's taps step by stride / g and their inputs by dilation / g. */
typedef struct phase_steps {
    cl_int tap_step, dm;
} phase_steps;

phase_steps layer_phase_steps(const clconvt_params *params);

/* ceil(a / b) for a >= 0, b > 0. */
static inline int64_t layer_ceil_div(int64_t a, int64_t b) {
    return a / b + (a % b != 0);
}

/* The gemm path (gemm_path.c): CLBlast GEMM into a bounded column buffer, then col2im. */
clconvt_status gemm_enqueue(clconvt_layer *layer, cl_command_queue queue, cl_mem in, cl_mem out,
                            int64_t batch, int64_t length_in, int64_t length_out, cl_uint num_wait,
                            const cl_event *wait, cl_event *done);

#endif
