/* Stride arithmetic shared by the planner, the kernel paths and the tuning database's shape
 * classes: a low header with no dependency but the public one. */
#ifndef CLCONVT_STRIDE_H
#define CLCONVT_STRIDE_H

#include <stdint.h>

#include "clconvt.h"

/* ceil(a / b) for a >= 0, b > 0. */
static inline int64_t clconvt_ceil_div(int64_t a, int64_t b) {
    return a / b + (a % b != 0);
}

/* The greatest common divisor of a, b >= 0 (a when b is 0). */
static inline int64_t clconvt_gcd(int64_t a, int64_t b) {
    while (b != 0) {
        const int64_t t = a % b;
        a = b;
        b = t;
    }
    return a;
}

/* The stride-phase constants every kernel takes (see cl/common.cl): with g = gcd(stride,
 * dilation), a phase's taps step by stride / g and their inputs by dilation / g. */
typedef struct phase_steps {
    cl_int tap_step, dm;
} phase_steps;

static inline phase_steps clconvt_phase_steps(const clconvt_params *params) {
    const int64_t g = clconvt_gcd(params->stride, params->dilation);
    return (phase_steps){(cl_int)(params->stride / g), (cl_int)(params->dilation / g)};
}

#endif
