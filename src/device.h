/* The device handle: an OpenCL context, device and queue, their capabilities, and the programs
 * built for them. */
#ifndef CLCONVT_DEVICE_H
#define CLCONVT_DEVICE_H

#include <pthread.h>
#include <stdatomic.h>

#include "clconvt.h"
#include "device_caps.h"
#include "program_cache.h"

/* Work a kernel path left on a device to undo before its context goes (see release_hook). */
typedef void (*device_hook)(clconvt_device *device);

/* A buffer clconvt_device_buffer_create made, and its size. */
typedef struct device_buffer_size {
    cl_mem buffer;
    size_t bytes;
} device_buffer_size;

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
    /* The private memory (bytes) one work-group's work-items may hold together; 0: no bound. PoCL
     * keeps every work-item's private variables of a work-group on one worker thread's stack. */
    uint64_t private_budget_bytes;
    /* CL_DEVICE_GLOBAL_MEM_CACHE_SIZE, and one core's L1 data and L2 caches (CPU devices, from
     * sysfs; 0: unknown): device_caps.h. */
    uint64_t global_cache_bytes, core_l1_bytes, core_l2_bytes;
    uint32_t native_float_lanes; /* CL_DEVICE_NATIVE_VECTOR_WIDTH_FLOAT */
    int has_fp16;
    program_cache *programs;
    /* Set by a path that cached something of the context outside clconvt (the gemm path: CLBlast's
     * programs); called before the context is released. A hook, so that the device calls no path.
     */
    _Atomic(device_hook) release_hook;
    atomic_uint_fast64_t allocated_bytes, peak_allocated_bytes; /* device buffers we made */
    /* The size of every buffer clconvt_device_buffer_create made and clconvt_device_buffer_release
     * has not yet released, so that the release needs no OpenCL call (which may fail) to count it.
     */
    pthread_mutex_t buffers_lock;
    int buffers_lock_ready;
    device_buffer_size *buffers;
    size_t buffer_count, buffer_capacity;
};

/* clCreateBuffer, counted in the device's allocated and peak byte totals; what names the buffer
 * in an error ("input"). */
clconvt_status clconvt_device_buffer_create(clconvt_device *device, cl_mem_flags flags,
                                            size_t bytes, void *host, const char *what,
                                            cl_mem *out);

/* A buffer over the caller's memory at host (CL_MEM_USE_HOST_PTR added to flags): not counted in
 * the totals, as clconvt allocates nothing for it. */
clconvt_status clconvt_device_buffer_wrap(clconvt_device *device, cl_mem_flags flags, size_t bytes,
                                          void *host, const char *what, cl_mem *out);

/* Release a buffer made by clconvt_device_buffer_create or _wrap (NULL is ignored). */
void clconvt_device_buffer_release(clconvt_device *device, cl_mem buffer);

/* The capabilities the planner sees (borrowing the device's strings). */
static inline device_caps clconvt_device_caps(const clconvt_device *device) {
    return (device_caps){.type = device->type,
                         .vendor = device->vendor ? device->vendor : "",
                         .local_mem_bytes = device->local_mem_bytes,
                         .max_alloc_bytes = device->max_alloc_bytes,
                         .max_work_group_size = device->max_work_group_size,
                         .compute_units = device->compute_units,
                         .private_budget_bytes = device->private_budget_bytes,
                         .global_cache_bytes = device->global_cache_bytes,
                         .core_l1_bytes = device->core_l1_bytes,
                         .core_l2_bytes = device->core_l2_bytes,
                         .native_float_lanes = device->native_float_lanes};
}

#endif
