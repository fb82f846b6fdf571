/* Stand-ins for the device functions the gemm path's enqueue calls (src/paths/gemm.c), for fuzz
 * targets that plan for a stand-in device and never enqueue: the planner's table holds every
 * path, so its file is linked, but the device code it would call is not under test. */
#include <stdlib.h>

#include "device.h"
#include "error.h"

clconvt_status clconvt_device_buffer_create(clconvt_device *device, cl_mem_flags flags,
                                            size_t bytes, void *host, const char *what,
                                            cl_mem *out) {
    (void)device;
    (void)flags;
    (void)bytes;
    (void)host;
    *out = NULL;
    return clconvt_fail(CLCONVT_ERROR_OPENCL, "no device for the %s in a fuzz target", what);
}

void clconvt_device_buffer_release(clconvt_device *device, cl_mem buffer) {
    (void)device;
    (void)buffer;
}
