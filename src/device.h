/* The device handle: an OpenCL context, device and queue, their capabilities, and the programs
 * built for them. */
#ifndef CLCONVT_DEVICE_H
#define CLCONVT_DEVICE_H

#include "clconvt.h"
#include "program_cache.h"

struct clconvt_device {
    cl_platform_id platform;
    cl_device_id device;
    cl_context context;
    cl_command_queue queue;
    char *name, *vendor, *platform_name, *driver_version;
    cl_device_type type;
    uint64_t max_alloc_bytes, global_mem_bytes, local_mem_bytes;
    uint32_t compute_units;
    size_t max_work_group_size;
    int has_fp16;
    program_cache *programs;
};

#endif
