/* Opening (by kind or selector), wrapping and describing OpenCL devices. */
#include "device.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>

#include "cpu_caches.h"
#include "error.h"
#include "number.h"

/* CL_PLATFORM_NOT_FOUND_KHR: what the ICD loader returns when no platform is installed. */
#define PLATFORM_NOT_FOUND (-1001)

/* Most platforms and devices we look at; more are ignored (and say so in errors). */
#define MAX_PLATFORMS 16
#define MAX_DEVICES 64

typedef struct candidate {
    cl_platform_id platform;
    cl_device_id device;
    unsigned platform_index, device_index;
    cl_device_type type;
    char name[256], platform_name[256];
} candidate;

/* A string device property, malloc'd; NULL (with the error set) on failure. */
static char *device_string(cl_device_id device, cl_device_info param, const char *param_name) {
    size_t size = 0;
    cl_int err = clGetDeviceInfo(device, param, 0, NULL, &size);
    char *value = err == CL_SUCCESS ? malloc(size + 1) : NULL;
    if (err == CL_SUCCESS && value == NULL) {
        clconvt_fail(CLCONVT_ERROR_OUT_OF_HOST_MEMORY, "out of host memory reading %s", param_name);
        return NULL;
    }
    if (err == CL_SUCCESS)
        err = clGetDeviceInfo(device, param, size, value, NULL);
    if (err != CL_SUCCESS) {
        free(value);
        char call[96];
        snprintf(call, sizeof call, "clGetDeviceInfo(%s)", param_name);
        clconvt_fail_cl(call, err);
        return NULL;
    }
    value[size] = '\0';
    return value;
}

#define DEVICE_SCALAR(device, param, var)                                                          \
    do {                                                                                           \
        cl_int err_ = clGetDeviceInfo(device, param, sizeof(var), &(var), NULL);                   \
        if (err_ != CL_SUCCESS)                                                                    \
            return clconvt_fail_cl("clGetDeviceInfo(" #param ")", err_);                           \
    } while (0)

/* Read the capabilities the planner and error messages need, once. */
/*
 * A CPU runtime runs a work-group on one worker thread, with the private variables of all its
 * work-items on that thread's stack (PoCL: a plan with 4 KiB of registers per work-item and 4096
 * work-items crashed, or, worse, gave wrong results). Threads get the process's default stack,
 * RLIMIT_STACK's soft limit in glibc (2 MiB when unlimited): a quarter of it is left to a
 * work-group, the rest to the runtime. GPUs spill to memory instead; their drivers bound the
 * work-group by the registers a kernel uses (CL_KERNEL_WORK_GROUP_SIZE).
 */
static uint64_t private_budget(cl_device_type type) {
    if (!(type & CL_DEVICE_TYPE_CPU))
        return 0;
    struct rlimit limit;
    uint64_t stack = (uint64_t)2 << 20;
    if (getrlimit(RLIMIT_STACK, &limit) == 0 && limit.rlim_cur != RLIM_INFINITY)
        stack = (uint64_t)limit.rlim_cur;
    return stack / 4;
}

static clconvt_status read_capabilities(clconvt_device *d) {
    cl_ulong max_alloc, global_mem, local_mem, global_cache;
    cl_uint units, float_lanes;
    size_t group_size;
    DEVICE_SCALAR(d->device, CL_DEVICE_TYPE, d->type);
    DEVICE_SCALAR(d->device, CL_DEVICE_MAX_MEM_ALLOC_SIZE, max_alloc);
    DEVICE_SCALAR(d->device, CL_DEVICE_GLOBAL_MEM_SIZE, global_mem);
    DEVICE_SCALAR(d->device, CL_DEVICE_LOCAL_MEM_SIZE, local_mem);
    DEVICE_SCALAR(d->device, CL_DEVICE_GLOBAL_MEM_CACHE_SIZE, global_cache);
    DEVICE_SCALAR(d->device, CL_DEVICE_MAX_COMPUTE_UNITS, units);
    DEVICE_SCALAR(d->device, CL_DEVICE_MAX_WORK_GROUP_SIZE, group_size);
    DEVICE_SCALAR(d->device, CL_DEVICE_NATIVE_VECTOR_WIDTH_FLOAT, float_lanes);
    DEVICE_SCALAR(d->device, CL_DEVICE_PLATFORM, d->platform);
    d->max_alloc_bytes = max_alloc;
    d->global_mem_bytes = global_mem;
    d->local_mem_bytes = local_mem;
    d->compute_units = units;
    d->max_work_group_size = group_size;
    d->private_budget_bytes = private_budget(d->type);
    d->global_cache_bytes = global_cache;
    d->native_float_lanes = float_lanes;
    /* A CPU runtime runs on this machine's cores: their caches, which OpenCL does not report. */
    if (d->type & CL_DEVICE_TYPE_CPU)
        clconvt_cpu_caches_read(CLCONVT_CPU_CACHE_ROOT, &d->core_l1_bytes, &d->core_l2_bytes);
    d->name = device_string(d->device, CL_DEVICE_NAME, "CL_DEVICE_NAME");
    d->vendor = d->name ? device_string(d->device, CL_DEVICE_VENDOR, "CL_DEVICE_VENDOR") : NULL;
    d->driver_version =
        d->vendor ? device_string(d->device, CL_DRIVER_VERSION, "CL_DRIVER_VERSION") : NULL;
    char *extensions = d->driver_version
                           ? device_string(d->device, CL_DEVICE_EXTENSIONS, "CL_DEVICE_EXTENSIONS")
                           : NULL;
    if (extensions == NULL)
        return CLCONVT_ERROR_OPENCL; /* the message is already set */
    d->has_fp16 = strstr(extensions, "cl_khr_fp16") != NULL;
    free(extensions);
    size_t size = 0;
    cl_int err = clGetPlatformInfo(d->platform, CL_PLATFORM_NAME, 0, NULL, &size);
    if (err == CL_SUCCESS && (d->platform_name = malloc(size + 1)) == NULL)
        return clconvt_fail(CLCONVT_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
    if (err == CL_SUCCESS)
        err = clGetPlatformInfo(d->platform, CL_PLATFORM_NAME, size, d->platform_name, NULL);
    if (err != CL_SUCCESS)
        return clconvt_fail_cl("clGetPlatformInfo(CL_PLATFORM_NAME)", err);
    d->platform_name[size] = '\0';
    return CLCONVT_SUCCESS;
}

void clconvt_device_release(clconvt_device *d) {
    if (d == NULL)
        return;
    const device_hook hook = atomic_load(&d->release_hook);
    if (hook != NULL)
        hook(d);
    clconvt_program_cache_destroy(d->programs);
    if (d->buffers_lock_ready)
        pthread_mutex_destroy(&d->buffers_lock);
    free(d->buffers);
    if (d->queue)
        clReleaseCommandQueue(d->queue);
    if (d->context)
        clReleaseContext(d->context);
    if (d->device)
        clReleaseDevice(d->device);
    free(d->name);
    free(d->vendor);
    free(d->platform_name);
    free(d->driver_version);
    free(d);
}

/* Take one reference to each of context/device/queue (the queue may be NULL: we make one). */
static clconvt_status device_from_handles(cl_context context, cl_device_id device,
                                          cl_command_queue queue, clconvt_device **out) {
    clconvt_status status = CLCONVT_SUCCESS;
    cl_int err;
    clconvt_device *d = calloc(1, sizeof *d);
    if (d == NULL)
        return clconvt_fail(CLCONVT_ERROR_OUT_OF_HOST_MEMORY, "out of host memory for a device");
    if (pthread_mutex_init(&d->buffers_lock, NULL) != 0) {
        free(d);
        return clconvt_fail(CLCONVT_ERROR_OUT_OF_HOST_MEMORY, "pthread_mutex_init failed");
    }
    d->buffers_lock_ready = 1;
    if ((err = clRetainContext(context)) != CL_SUCCESS) {
        status = clconvt_fail_cl("clRetainContext", err);
        goto cleanup;
    }
    d->context = context;
    if ((err = clRetainDevice(device)) != CL_SUCCESS) {
        status = clconvt_fail_cl("clRetainDevice", err);
        goto cleanup;
    }
    d->device = device;
    if (queue != NULL) {
        if ((err = clRetainCommandQueue(queue)) != CL_SUCCESS) {
            status = clconvt_fail_cl("clRetainCommandQueue", err);
            goto cleanup;
        }
        d->queue = queue;
    } else {
        d->queue = clCreateCommandQueue(context, device, 0, &err);
        if (err != CL_SUCCESS) {
            d->queue = NULL;
            status = clconvt_fail_cl("clCreateCommandQueue", err);
            goto cleanup;
        }
    }
    if ((status = read_capabilities(d)) != CLCONVT_SUCCESS)
        goto cleanup;
    status = clconvt_program_cache_create(context, device, &d->programs);
cleanup:
    if (status != CLCONVT_SUCCESS) {
        clconvt_device_release(d);
        return status;
    }
    *out = d;
    return CLCONVT_SUCCESS;
}

/* device is one of the context's (a context made for other devices cannot run its kernels). */
static clconvt_status check_device_in_context(cl_context context, cl_device_id device) {
    cl_uint count = 0;
    cl_device_id *devices = NULL;
    cl_int err = clGetContextInfo(context, CL_CONTEXT_NUM_DEVICES, sizeof count, &count, NULL);
    if (err == CL_SUCCESS && (devices = calloc(count ? count : 1, sizeof *devices)) == NULL)
        return clconvt_fail(CLCONVT_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
    if (err == CL_SUCCESS)
        err = clGetContextInfo(context, CL_CONTEXT_DEVICES, count * sizeof *devices, devices, NULL);
    int found = 0;
    for (cl_uint i = 0; err == CL_SUCCESS && i < count; ++i)
        found |= devices[i] == device;
    free(devices);
    if (err == CL_INVALID_CONTEXT)
        return clconvt_fail(CLCONVT_ERROR_INVALID_ARGUMENT,
                            "clconvt_device_wrap: context is not a valid cl_context "
                            "(clGetContextInfo failed with CL_INVALID_CONTEXT)");
    if (err != CL_SUCCESS)
        return clconvt_fail_cl("clGetContextInfo(CL_CONTEXT_DEVICES)", err);
    if (!found)
        return clconvt_fail(CLCONVT_ERROR_INVALID_ARGUMENT,
                            "clconvt_device_wrap: device is not one of the context's %u "
                            "device%s (CL_CONTEXT_DEVICES)",
                            (unsigned)count, count == 1 ? "" : "s");
    return CLCONVT_SUCCESS;
}

clconvt_status clconvt_device_wrap(cl_context context, cl_device_id device, cl_command_queue queue,
                                   clconvt_device **out) {
    CLCONVT_CHECK_NOT_NULL(out, "clconvt_device_wrap");
    CLCONVT_CHECK_NOT_NULL(context, "clconvt_device_wrap");
    CLCONVT_CHECK_NOT_NULL(device, "clconvt_device_wrap");
    clconvt_status status = check_device_in_context(context, device);
    if (status != CLCONVT_SUCCESS)
        return status;
    if (queue != NULL) {
        cl_context queue_context;
        cl_device_id queue_device;
        cl_int err = clGetCommandQueueInfo(queue, CL_QUEUE_CONTEXT, sizeof queue_context,
                                           &queue_context, NULL);
        if (err == CL_SUCCESS)
            err = clGetCommandQueueInfo(queue, CL_QUEUE_DEVICE, sizeof queue_device, &queue_device,
                                        NULL);
        if (err != CL_SUCCESS)
            return clconvt_fail_cl("clGetCommandQueueInfo", err);
        if (queue_context != context || queue_device != device)
            return clconvt_fail(CLCONVT_ERROR_INVALID_ARGUMENT,
                                "clconvt_device_wrap: the queue belongs to another %s",
                                queue_context != context ? "context" : "device");
    }
    status = device_from_handles(context, device, queue, out);
    if (status == CLCONVT_SUCCESS)
        clconvt_clear_error();
    return status;
}

/* Every device of every platform, in (platform, device) index order. */
static clconvt_status list_candidates(candidate *list, size_t *count) {
    cl_platform_id platforms[MAX_PLATFORMS];
    cl_uint num_platforms = 0;
    cl_int err = clGetPlatformIDs(MAX_PLATFORMS, platforms, &num_platforms);
    *count = 0;
    if (err == PLATFORM_NOT_FOUND || (err == CL_SUCCESS && num_platforms == 0))
        return CLCONVT_SUCCESS;
    if (err != CL_SUCCESS)
        return clconvt_fail_cl("clGetPlatformIDs", err);
    if (num_platforms > MAX_PLATFORMS)
        num_platforms = MAX_PLATFORMS;
    for (cl_uint p = 0; p < num_platforms; ++p) {
        cl_device_id devices[MAX_DEVICES];
        cl_uint num_devices = 0;
        err = clGetDeviceIDs(platforms[p], CL_DEVICE_TYPE_ALL, MAX_DEVICES, devices, &num_devices);
        if (err == CL_DEVICE_NOT_FOUND)
            continue;
        if (err != CL_SUCCESS)
            return clconvt_fail_cl("clGetDeviceIDs", err);
        if (num_devices > MAX_DEVICES)
            num_devices = MAX_DEVICES;
        for (cl_uint i = 0; i < num_devices && *count < MAX_DEVICES; ++i) {
            candidate *c = &list[(*count)++];
            c->platform = platforms[p];
            c->device = devices[i];
            c->platform_index = p;
            c->device_index = i;
            if ((err = clGetDeviceInfo(devices[i], CL_DEVICE_TYPE, sizeof c->type, &c->type,
                                       NULL)) != CL_SUCCESS ||
                (err = clGetDeviceInfo(devices[i], CL_DEVICE_NAME, sizeof c->name, c->name,
                                       NULL)) != CL_SUCCESS)
                return clconvt_fail_cl("clGetDeviceInfo", err);
            if ((err = clGetPlatformInfo(platforms[p], CL_PLATFORM_NAME, sizeof c->platform_name,
                                         c->platform_name, NULL)) != CL_SUCCESS)
                return clconvt_fail_cl("clGetPlatformInfo(CL_PLATFORM_NAME)", err);
            c->name[sizeof c->name - 1] = c->platform_name[sizeof c->platform_name - 1] = '\0';
        }
    }
    return CLCONVT_SUCCESS;
}

static int contains_ignoring_case(const char *haystack, const char *needle) {
    const size_t n = strlen(needle);
    for (; *haystack; ++haystack) {
        size_t i = 0;
        while (i < n && haystack[i] &&
               tolower((unsigned char)haystack[i]) == tolower((unsigned char)needle[i]))
            ++i;
        if (i == n)
            return 1;
    }
    return n == 0;
}

/* Rank of a device for a kind: lower is better, -1 means excluded. */
static int rank(const candidate *c, clconvt_device_kind kind) {
    const int gpu = (c->type & CL_DEVICE_TYPE_GPU) != 0, cpu = (c->type & CL_DEVICE_TYPE_CPU) != 0;
    switch (kind) {
    case CLCONVT_DEVICE_GPU: return gpu ? 0 : -1;
    case CLCONVT_DEVICE_CPU: return cpu ? 0 : -1;
    case CLCONVT_DEVICE_ANY: return gpu ? 0 : cpu ? 1 : 2;
    }
    return -1;
}

/* Whether a selector has the shape of an index pair "P:D" (digits, possibly signed, on both sides
 * of one colon). Device names may hold colons (AMD's "gfx90a:sramecc+:xnack-"), so only this
 * shape is read as indices; anything else is a name. */
static int looks_like_index_pair(const char *selector) {
    for (int side = 0; side < 2; ++side) {
        selector += *selector == '+' || *selector == '-';
        const size_t digits = strspn(selector, "0123456789");
        if (digits == 0)
            return 0;
        selector += digits;
        if (side == 0 && *selector++ != ':')
            return 0;
    }
    return *selector == '\0';
}

/* Read "P:D" strictly: unsigned whole numbers that fit 32 bits ("4294967296:0" and "0:-0" must
 * not wrap to 0:0). */
static int parse_index_pair(const char *selector, unsigned *p, unsigned *d) {
    const size_t colon = strcspn(selector, ":");
    uint64_t platform, device;
    if (!clconvt_parse_decimal(selector, colon, UINT32_MAX, &platform) ||
        !clconvt_parse_decimal(selector + colon + 1, strlen(selector + colon + 1), UINT32_MAX,
                               &device))
        return 0;
    *p = (unsigned)platform;
    *d = (unsigned)device;
    return 1;
}

/* The kind a keyword selector names ("gpu", "cpu", "any", in any case); 0 if it is none. */
static int keyword_kind(const char *selector, clconvt_device_kind *kind) {
    static const struct {
        const char *name;
        clconvt_device_kind kind;
    } keywords[] = {
        {"gpu", CLCONVT_DEVICE_GPU}, {"cpu", CLCONVT_DEVICE_CPU}, {"any", CLCONVT_DEVICE_ANY}};
    for (size_t i = 0; i < sizeof keywords / sizeof keywords[0]; ++i)
        if (strcasecmp(selector, keywords[i].name) == 0) {
            *kind = keywords[i].kind;
            return 1;
        }
    return 0;
}

/* Refuse a selector of the index-pair shape whose numbers are not plain 32-bit indices. */
static clconvt_status check_selector(const char *selector, int from_env) {
    unsigned p, d;
    if (selector == NULL || !looks_like_index_pair(selector) || parse_index_pair(selector, &p, &d))
        return CLCONVT_SUCCESS;
    return clconvt_fail(CLCONVT_ERROR_INVALID_ARGUMENT,
                        "%s \"%s\": a device index pair P:D takes two whole numbers without "
                        "sign, each below 2^32 (the indices clconvt-info lists)",
                        from_env ? "CLCONVT_DEVICE" : "selector", selector);
}

static const candidate *select_candidate(const candidate *list, size_t count,
                                         clconvt_device_kind kind, const char *selector) {
    unsigned p, d;
    if (selector != NULL && *selector != '\0' && !keyword_kind(selector, &kind)) {
        if (looks_like_index_pair(selector)) {
            if (parse_index_pair(selector, &p, &d))
                for (size_t i = 0; i < count; ++i)
                    if (list[i].platform_index == p && list[i].device_index == d)
                        return &list[i];
            return NULL;
        }
        for (size_t i = 0; i < count; ++i)
            if (contains_ignoring_case(list[i].name, selector) ||
                contains_ignoring_case(list[i].platform_name, selector))
                return &list[i];
        return NULL;
    }
    const candidate *best = NULL;
    for (size_t i = 0; i < count; ++i) {
        const int r = rank(&list[i], kind);
        if (r >= 0 && (best == NULL || r < rank(best, kind)))
            best = &list[i];
    }
    return best;
}

static const char *kind_name(clconvt_device_kind kind) {
    switch (kind) {
    case CLCONVT_DEVICE_ANY: return "any";
    case CLCONVT_DEVICE_GPU: return "gpu";
    case CLCONVT_DEVICE_CPU: return "cpu";
    }
    return "unknown";
}

static clconvt_status no_device(const candidate *list, size_t count, clconvt_device_kind kind,
                                const char *selector, int from_env) {
    char known[2048] = "";
    size_t used = 0;
    for (size_t i = 0; i < count && used < sizeof known; ++i)
        used += (size_t)snprintf(known + used, sizeof known - used, "%s%u:%u %s (%s)",
                                 i ? "; " : "", list[i].platform_index, list[i].device_index,
                                 list[i].name, list[i].platform_name);
    return clconvt_fail(CLCONVT_ERROR_NO_DEVICE,
                        "no OpenCL device matches %s%s%s; devices present: %s",
                        selector && *selector ? "selector \"" : "kind ",
                        selector && *selector ? selector : kind_name(kind),
                        from_env ? "\" (from CLCONVT_DEVICE)" : (selector && *selector ? "\"" : ""),
                        count ? known
                              : "none (is an OpenCL driver such as pocl-opencl-icd "
                                "installed?)");
}

clconvt_status clconvt_device_open(clconvt_device_kind kind, const char *selector,
                                   clconvt_device **out) {
    CLCONVT_CHECK_NOT_NULL(out, "clconvt_device_open");
    if (kind != CLCONVT_DEVICE_ANY && kind != CLCONVT_DEVICE_GPU && kind != CLCONVT_DEVICE_CPU)
        return clconvt_fail(CLCONVT_ERROR_INVALID_ARGUMENT,
                            "clconvt_device_open: kind must be CLCONVT_DEVICE_ANY, _GPU or _CPU, "
                            "but got kind=%d",
                            (int)kind);
    const char *env = getenv("CLCONVT_DEVICE");
    const int from_env = env != NULL && *env != '\0';
    if (from_env) {
        selector = env;
        kind = CLCONVT_DEVICE_ANY;
    }
    clconvt_status status = check_selector(selector, from_env);
    if (status != CLCONVT_SUCCESS)
        return status;
    candidate *list = calloc(MAX_DEVICES, sizeof *list);
    if (list == NULL)
        return clconvt_fail(CLCONVT_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
    size_t count = 0;
    status = list_candidates(list, &count);
    const candidate *chosen = NULL;
    if (status == CLCONVT_SUCCESS) {
        chosen = select_candidate(list, count, kind, selector);
        if (chosen == NULL)
            status = no_device(list, count, kind, selector, from_env);
    }
    cl_context context = NULL;
    if (status == CLCONVT_SUCCESS) {
        const cl_context_properties properties[] = {CL_CONTEXT_PLATFORM,
                                                    (cl_context_properties)chosen->platform, 0};
        cl_int err;
        context = clCreateContext(properties, 1, &chosen->device, NULL, NULL, &err);
        if (err != CL_SUCCESS)
            status = clconvt_fail_cl("clCreateContext", err);
    }
    if (status == CLCONVT_SUCCESS)
        status = device_from_handles(context, chosen->device, NULL, out);
    if (context != NULL)
        clReleaseContext(context); /* the handle holds its own reference */
    free(list);
    if (status == CLCONVT_SUCCESS)
        clconvt_clear_error();
    return status;
}

clconvt_status clconvt_device_get_info(const clconvt_device *d, clconvt_device_info *info) {
    if (d == NULL)
        return clconvt_fail(CLCONVT_ERROR_INVALID_ARGUMENT,
                            "clconvt_device_get_info: device must not be NULL");
    CLCONVT_CHECK_NOT_NULL(info, "clconvt_device_get_info");
    *info = (clconvt_device_info){
        .name = d->name,
        .vendor = d->vendor,
        .platform = d->platform_name,
        .driver_version = d->driver_version,
        .type = d->type,
        .max_alloc_bytes = d->max_alloc_bytes,
        .global_mem_bytes = d->global_mem_bytes,
        .local_mem_bytes = d->local_mem_bytes,
        .compute_units = d->compute_units,
        .max_work_group_size = d->max_work_group_size,
        .has_fp16 = d->has_fp16,
        .programs_built = clconvt_program_cache_builds(d->programs),
        .allocated_bytes = atomic_load(&d->allocated_bytes),
        .peak_allocated_bytes = atomic_load(&d->peak_allocated_bytes),
    };
    /* Two loads, not one snapshot: an allocation in between (which adds to the total before it
     * raises the peak) must not show a peak below the total. */
    if (info->peak_allocated_bytes < info->allocated_bytes)
        info->peak_allocated_bytes = info->allocated_bytes;
    clconvt_clear_error();
    return CLCONVT_SUCCESS;
}

/* clCreateBuffer, its failure named by what the buffer is for. */
static clconvt_status create_buffer(clconvt_device *device, cl_mem_flags flags, size_t bytes,
                                    void *host, const char *what, cl_mem *out) {
    cl_int err;
    *out = clCreateBuffer(device->context, flags, bytes, host, &err);
    if (err == CL_SUCCESS)
        return CLCONVT_SUCCESS;
    char call[96];
    snprintf(call, sizeof call, "clCreateBuffer(%s, %zu bytes)", what, bytes);
    return clconvt_fail_cl(call, err);
}

clconvt_status clconvt_device_buffer_create(clconvt_device *device, cl_mem_flags flags,
                                            size_t bytes, void *host, const char *what,
                                            cl_mem *out) {
    cl_mem buffer;
    clconvt_status status = create_buffer(device, flags, bytes, host, what, &buffer);
    if (status != CLCONVT_SUCCESS)
        return status;
    pthread_mutex_lock(&device->buffers_lock);
    if (device->buffer_count == device->buffer_capacity) {
        const size_t capacity = device->buffer_capacity ? 2 * device->buffer_capacity : 16;
        device_buffer_size *more = realloc(device->buffers, capacity * sizeof *device->buffers);
        if (more != NULL) {
            device->buffers = more;
            device->buffer_capacity = capacity;
        }
    }
    const int recorded = device->buffer_count < device->buffer_capacity;
    if (recorded)
        device->buffers[device->buffer_count++] = (device_buffer_size){buffer, bytes};
    pthread_mutex_unlock(&device->buffers_lock);
    if (!recorded) {
        clReleaseMemObject(buffer);
        return clconvt_fail(CLCONVT_ERROR_OUT_OF_HOST_MEMORY,
                            "out of host memory recording a %zu-byte %s buffer", bytes, what);
    }
    const uint_fast64_t now = atomic_fetch_add(&device->allocated_bytes, bytes) + bytes;
    uint_fast64_t peak = atomic_load(&device->peak_allocated_bytes);
    while (now > peak && !atomic_compare_exchange_weak(&device->peak_allocated_bytes, &peak, now))
        ;
    *out = buffer;
    return CLCONVT_SUCCESS;
}

clconvt_status clconvt_device_buffer_wrap(clconvt_device *device, cl_mem_flags flags, size_t bytes,
                                          void *host, const char *what, cl_mem *out) {
    return create_buffer(device, flags | CL_MEM_USE_HOST_PTR, bytes, host, what, out);
}

void clconvt_device_buffer_release(clconvt_device *device, cl_mem buffer) {
    if (buffer == NULL)
        return;
    size_t bytes = 0;
    pthread_mutex_lock(&device->buffers_lock);
    for (size_t i = 0; i < device->buffer_count; ++i)
        if (device->buffers[i].buffer == buffer) {
            bytes = device->buffers[i].bytes;
            device->buffers[i] = device->buffers[--device->buffer_count];
            break;
        }
    pthread_mutex_unlock(&device->buffers_lock);
    atomic_fetch_sub(&device->allocated_bytes, bytes);
    clReleaseMemObject(buffer);
}

cl_context clconvt_device_context(const clconvt_device *d) {
    return d ? d->context : NULL;
}
cl_device_id clconvt_device_id(const clconvt_device *d) {
    return d ? d->device : NULL;
}
cl_command_queue clconvt_device_queue(const clconvt_device *d) {
    return d ? d->queue : NULL;
}

void clconvt_device_reset_peak(clconvt_device *d) {
    if (d != NULL)
        atomic_store(&d->peak_allocated_bytes, atomic_load(&d->allocated_bytes));
}
