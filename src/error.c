#include "error.h"

#include <stdarg.h>
#include <stdio.h>

/* Long enough for a build log excerpt; messages are truncated, never overflowed. */
static _Thread_local char last_error[8192];

const char *clconvt_last_error(void) {
    return last_error;
}

void clconvt_clear_error(void) {
    last_error[0] = '\0';
}

clconvt_status clconvt_fail(clconvt_status status, const char *format, ...) {
    va_list args;
    va_start(args, format);
    vsnprintf(last_error, sizeof last_error, format, args);
    va_end(args);
    return status;
}

clconvt_status clconvt_fail_cl(const char *call, cl_int code) {
    clconvt_status status = CLCONVT_ERROR_OPENCL;
    if (code == CL_OUT_OF_HOST_MEMORY)
        status = CLCONVT_ERROR_OUT_OF_HOST_MEMORY;
    return clconvt_fail(status, "%s failed with %s (%d)", call, clconvt_cl_error_name(code),
                        (int)code);
}

const char *clconvt_status_string(clconvt_status status) {
    switch (status) {
    case CLCONVT_SUCCESS: return "success";
    case CLCONVT_ERROR_INVALID_ARGUMENT: return "invalid argument";
    case CLCONVT_ERROR_INVALID_PARAMETER: return "invalid parameter";
    case CLCONVT_ERROR_SHAPE_MISMATCH: return "shape mismatch";
    case CLCONVT_ERROR_TOO_LARGE: return "too large";
    case CLCONVT_ERROR_OUT_OF_HOST_MEMORY: return "out of host memory";
    case CLCONVT_ERROR_NO_DEVICE: return "no matching OpenCL device";
    case CLCONVT_ERROR_OPENCL: return "OpenCL error";
    case CLCONVT_ERROR_BUILD: return "kernel build failed";
    case CLCONVT_ERROR_NOT_READY: return "layer not ready";
    case CLCONVT_ERROR_UNSUPPORTED: return "unsupported";
    case CLCONVT_ERROR_FILE: return "bad or unreadable file";
    case CLCONVT_ERROR_NOT_FOUND: return "tensor not found";
    }
    return "unknown status";
}

const char *clconvt_cl_error_name(cl_int code) {
    switch (code) {
#define NAME(c)                                                                                    \
    case c: return #c;
        NAME(CL_SUCCESS)
        NAME(CL_DEVICE_NOT_FOUND)
        NAME(CL_DEVICE_NOT_AVAILABLE)
        NAME(CL_COMPILER_NOT_AVAILABLE)
        NAME(CL_MEM_OBJECT_ALLOCATION_FAILURE)
        NAME(CL_OUT_OF_RESOURCES)
        NAME(CL_OUT_OF_HOST_MEMORY)
        NAME(CL_PROFILING_INFO_NOT_AVAILABLE)
        NAME(CL_MEM_COPY_OVERLAP)
        NAME(CL_BUILD_PROGRAM_FAILURE)
        NAME(CL_MAP_FAILURE)
        NAME(CL_MISALIGNED_SUB_BUFFER_OFFSET)
        NAME(CL_EXEC_STATUS_ERROR_FOR_EVENTS_IN_WAIT_LIST)
        NAME(CL_COMPILE_PROGRAM_FAILURE)
        NAME(CL_LINKER_NOT_AVAILABLE)
        NAME(CL_LINK_PROGRAM_FAILURE)
        NAME(CL_INVALID_VALUE)
        NAME(CL_INVALID_DEVICE_TYPE)
        NAME(CL_INVALID_PLATFORM)
        NAME(CL_INVALID_DEVICE)
        NAME(CL_INVALID_CONTEXT)
        NAME(CL_INVALID_QUEUE_PROPERTIES)
        NAME(CL_INVALID_COMMAND_QUEUE)
        NAME(CL_INVALID_HOST_PTR)
        NAME(CL_INVALID_MEM_OBJECT)
        NAME(CL_INVALID_BINARY)
        NAME(CL_INVALID_BUILD_OPTIONS)
        NAME(CL_INVALID_PROGRAM)
        NAME(CL_INVALID_PROGRAM_EXECUTABLE)
        NAME(CL_INVALID_KERNEL_NAME)
        NAME(CL_INVALID_KERNEL_DEFINITION)
        NAME(CL_INVALID_KERNEL)
        NAME(CL_INVALID_ARG_INDEX)
        NAME(CL_INVALID_ARG_VALUE)
        NAME(CL_INVALID_ARG_SIZE)
        NAME(CL_INVALID_KERNEL_ARGS)
        NAME(CL_INVALID_WORK_DIMENSION)
        NAME(CL_INVALID_WORK_GROUP_SIZE)
        NAME(CL_INVALID_WORK_ITEM_SIZE)
        NAME(CL_INVALID_GLOBAL_OFFSET)
        NAME(CL_INVALID_EVENT_WAIT_LIST)
        NAME(CL_INVALID_EVENT)
        NAME(CL_INVALID_OPERATION)
        NAME(CL_INVALID_BUFFER_SIZE)
        NAME(CL_INVALID_GLOBAL_WORK_SIZE)
        NAME(CL_INVALID_PROPERTY)
        NAME(CL_INVALID_COMPILER_OPTIONS)
        NAME(CL_INVALID_LINKER_OPTIONS)
        NAME(CL_INVALID_DEVICE_PARTITION_COUNT)
#undef NAME
    }
    return "unknown OpenCL error";
}

void clconvt_warn_once(atomic_int *warned, const char *format, ...) {
    if (atomic_exchange(warned, 1))
        return;
    char message[8192];
    va_list args;
    va_start(args, format);
    vsnprintf(message, sizeof message, format, args);
    va_end(args);
    fprintf(stderr, "clconvt: %s\n", message);
    fflush(stderr);
}
