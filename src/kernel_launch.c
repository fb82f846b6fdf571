#include "kernel_launch.h"

#include <stdio.h>

#include "error.h"

static clconvt_status launch_failed(const char *call, const char *name, cl_int err) {
    char what[128];
    snprintf(what, sizeof what, "%s(%s)", call, name);
    return clconvt_fail_cl(what, err);
}

clconvt_status clconvt_kernel_launch(cl_program program, const char *name,
                                     const kernel_argument *args, cl_uint count,
                                     cl_command_queue queue, const kernel_grid *grid) {
    cl_int err;
    cl_kernel kernel = clCreateKernel(program, name, &err);
    if (err != CL_SUCCESS)
        return launch_failed("clCreateKernel", name, err);
    for (cl_uint i = 0; i < count && err == CL_SUCCESS; ++i)
        err = clSetKernelArg(kernel, i, args[i].size, args[i].value);
    clconvt_status status = CLCONVT_SUCCESS;
    if (err != CL_SUCCESS)
        status = launch_failed("clSetKernelArg", name, err);
    else if ((err = clEnqueueNDRangeKernel(queue, kernel, grid->dims, NULL, grid->global,
                                           grid->local, grid->num_wait, grid->wait, grid->done)) !=
             CL_SUCCESS)
        status = launch_failed("clEnqueueNDRangeKernel", name, err);
    clReleaseKernel(kernel);
    return status;
}
