/* Runs of host-side storage conversions, the dtype switch outside the loop (weight staging). */
#ifndef CLCONVT_DTYPE_H
#define CLCONVT_DTYPE_H

#include <stddef.h>

#include "clconvt.h"

/* dst[i] = src[i] as float32 (exact for every dtype), for count elements of src in dtype. */
void clconvt_dtype_load_run(const void *src, clconvt_dtype dtype, float *dst, size_t count);

/* v[i] = v[i] rounded to dtype (nearest even) and back: a value the dtype holds exactly. */
void clconvt_dtype_round_run(float *v, clconvt_dtype dtype, size_t count);

/* dst[i] = src[i] in dtype, for count values that dtype holds exactly or that it rounds. */
void clconvt_dtype_store_run(const float *src, void *dst, clconvt_dtype dtype, size_t count);

#endif
