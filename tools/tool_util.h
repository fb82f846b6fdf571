/* Small helpers the tools share (not part of the library): a monotonic clock, the median of a set
 * of timings, the name of a device type, and a strict decimal integer reader. */
#ifndef CLCONVT_TOOL_UTIL_H
#define CLCONVT_TOOL_UTIL_H

#include <stddef.h>
#include <stdint.h>

#include <CL/cl.h>

/* Seconds on the monotonic clock, for timing intervals. */
double tool_now_seconds(void);

/* The median of n >= 1 values (the mean of the middle two when n is even). Sorts values ascending
 * in place, so values[0] is the minimum afterwards. */
double tool_median(double *values, size_t n);

/* "GPU", "CPU", "accelerator" or "other": the first of those the type includes. */
const char *tool_device_type_name(cl_device_type type);

/* A decimal integer: digits only, with an optional leading '-', in [min, max]. 0 with *out, or -1
 * (*out untouched) for anything else: blanks, a '+', an overflow, a value out of range. */
int tool_parse_integer(const char *text, int64_t min, int64_t max, int64_t *out);

#endif
