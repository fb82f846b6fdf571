/* Parameter rules and size arithmetic shared by the layer code. */
#ifndef CLCONVT_PARAMS_H
#define CLCONVT_PARAMS_H

#include <stdbool.h>

#include "clconvt.h"

/* a * b into *out; false (and *out untouched) when it overflows int64 or an operand is < 0. */
bool clconvt_mul_overflows(int64_t a, int64_t b, int64_t *out);

/*
 * Bytes of count elements of dtype, refusing (with a message naming what) a size that overflows
 * size_t or int64. what: e.g. "input" for "input of 3 x 8 x 100 elements".
 */
clconvt_status clconvt_tensor_bytes(const char *what, int64_t d0, int64_t d1, int64_t d2,
                                    clconvt_dtype dtype, size_t *bytes);

#endif
