/* The cases of the correctness grid (tests/test_grid.c), shared with the suites that run other
 * features over the same shapes (tests/test_activation.c). */
#ifndef CLCONVT_TEST_GRID_CASES_H
#define CLCONVT_TEST_GRID_CASES_H

#include <stdint.h>

#include "clconvt.h"

typedef struct grid_case {
    clconvt_params params;
    int64_t batch, length_in;
} grid_case;

/*
 * The i-th case for (stride, dilation, K): the other parameters cycle through their cases with
 * i (every legal output_padding, symmetric, asymmetric and large padding, groups 1/2/3/depthwise,
 * bias on and off, N 0/1/3, lengths from 1 up), deterministically. Returns 0 when it has no
 * valid output length.
 */
int grid_make_case(int64_t stride, int64_t dilation, int64_t k, int64_t i, clconvt_layout layout,
                   clconvt_dtype dtype, grid_case *out);

#endif
