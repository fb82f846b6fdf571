/* What the planner knows of a device: a few capabilities, not the device itself, so that a plan
 * can be made for a device profile without opening one. */
#ifndef CLCONVT_DEVICE_CAPS_H
#define CLCONVT_DEVICE_CAPS_H

#include <stddef.h>
#include <stdint.h>

#include "clconvt.h"

typedef struct device_caps {
    cl_device_type type;
    const char *vendor; /* borrowed; "" when unknown */
    uint64_t local_mem_bytes, max_alloc_bytes;
    size_t max_work_group_size; /* 0: no bound known */
    uint32_t compute_units;
    /* The private memory (bytes) one work-group's work-items may hold together; 0: no bound. */
    uint64_t private_budget_bytes;
    /* Work-items that run in lock step (NVIDIA's warp, AMD's wavefront, Intel's SIMD width); 0:
     * unknown (an opened device: OpenCL 1.2 reports it only per compiled kernel). */
    uint32_t subgroup_width;
    /* CL_DEVICE_GLOBAL_MEM_CACHE_SIZE: on a CPU runtime (PoCL) the last level, shared by every
     * core (32 MiB on the EPYC of BENCHMARKS.md); 0: unknown. */
    uint64_t global_cache_bytes;
    /* One core's level-1 data and level-2 caches, which OpenCL does not report: on a CPU device
     * read from Linux (sysfs, src/cpu_caches.c); 0: unknown (GPUs: local_mem_bytes is their
     * staging memory). The planner sizes phase_fold's cache blocks from them. */
    uint64_t core_l1_bytes, core_l2_bytes;
    /* CL_DEVICE_NATIVE_VECTOR_WIDTH_FLOAT: the floats of one of the device's vector registers as
     * its compiler uses them (PoCL: 16 with AVX-512, 8 with AVX2, 4 with SSE or NEON); 0: unknown.
     * The planner sizes CPU register tiles by it (clconvt_path_narrow_cpu,
     * src/paths/path.h). */
    uint32_t native_float_lanes;
} device_caps;

#endif
