/* Thread-local error messages and the helpers that set them. */
#ifndef CLCONVT_ERROR_H
#define CLCONVT_ERROR_H

#include <stdatomic.h>

#include "clconvt.h"

/* Set the calling thread's message (printf-style) and return status, for `return fail(...)`. */
clconvt_status clconvt_fail(clconvt_status status, const char *format, ...)
    __attribute__((format(printf, 2, 3)));

/* Name of an OpenCL error code ("CL_OUT_OF_RESOURCES"), or "unknown OpenCL error". */
const char *clconvt_cl_error_name(cl_int code);

/* Report a failed OpenCL call: "clEnqueueNDRangeKernel failed with CL_INVALID_VALUE (-30)". */
clconvt_status clconvt_fail_cl(const char *call, cl_int code);

/* Print "clconvt: <message>" on stderr unless *warned was already set (it is set now): the one
 * warning of a kind, for what the library ignores or works around rather than fails on. */
void clconvt_warn_once(atomic_int *warned, const char *format, ...)
    __attribute__((format(printf, 2, 3)));

/* Clear the calling thread's message (at the start of a public call that succeeds). */
void clconvt_clear_error(void);

/* Return CLCONVT_ERROR_INVALID_ARGUMENT from the enclosing function when ptr is NULL. */
#define CLCONVT_CHECK_NOT_NULL(ptr, function)                                                      \
    do {                                                                                           \
        if ((ptr) == NULL)                                                                         \
            return clconvt_fail(CLCONVT_ERROR_INVALID_ARGUMENT, "%s: %s must not be NULL",         \
                                function, #ptr);                                                   \
    } while (0)

#endif
