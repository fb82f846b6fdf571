/* OpenCL interposer for failure injection and reference counting; see cl_shim.h. */
#define _GNU_SOURCE /* RTLD_NEXT */

#include "cl_shim.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <CL/cl.h>

/* ---- State --------------------------------------------------------------------------------- */

typedef struct tracked {
    void *handle;
    const char *kind;   /* "cl_mem", ... */
    const char *origin; /* the call that first gave us a reference */
    unsigned long call; /* its number (0 when paused) */
    long refs;          /* references we hold now */
} tracked;

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static unsigned long calls, fail_at;
static const char *failed_call;
static int paused;
static tracked *objects;
static size_t object_count, object_capacity;
static char errors[4096];
static size_t errors_used;

static void note_error(const char *format, ...) __attribute__((format(printf, 1, 2)));

/* Called with the lock held. */
static void note_error(const char *format, ...) {
    if (errors_used >= sizeof errors - 1)
        return;
    va_list args;
    va_start(args, format);
    const int n = vsnprintf(errors + errors_used, sizeof errors - errors_used, format, args);
    va_end(args);
    if (n > 0)
        errors_used += (size_t)n < sizeof errors - errors_used ? (size_t)n : sizeof errors;
}

void shim_reset(void) {
    pthread_mutex_lock(&lock);
    calls = fail_at = 0;
    failed_call = NULL;
    paused = 0;
    object_count = 0;
    errors[0] = '\0';
    errors_used = 0;
    pthread_mutex_unlock(&lock);
}

void shim_fail_at(unsigned long n) {
    pthread_mutex_lock(&lock);
    fail_at = n;
    pthread_mutex_unlock(&lock);
}

unsigned long shim_calls(void) {
    pthread_mutex_lock(&lock);
    const unsigned long n = calls;
    pthread_mutex_unlock(&lock);
    return n;
}

const char *shim_failed_call(void) {
    pthread_mutex_lock(&lock);
    const char *name = failed_call;
    pthread_mutex_unlock(&lock);
    return name;
}

void shim_pause(void) {
    pthread_mutex_lock(&lock);
    ++paused;
    pthread_mutex_unlock(&lock);
}

void shim_resume(void) {
    pthread_mutex_lock(&lock);
    --paused;
    pthread_mutex_unlock(&lock);
}

/* Count a call; 1 when it is the one to fail. */
static int inject(const char *name) {
    pthread_mutex_lock(&lock);
    int fail = 0;
    if (!paused && ++calls == fail_at) {
        failed_call = name;
        fail = 1;
    }
    pthread_mutex_unlock(&lock);
    return fail;
}

/* Called with the lock held. */
static tracked *find(void *handle) {
    for (size_t i = 0; i < object_count; ++i)
        if (objects[i].handle == handle)
            return &objects[i];
    return NULL;
}

/* Called with the lock held; NULL when out of memory (noted). */
static tracked *add(void *handle, const char *kind, const char *origin) {
    if (object_count == object_capacity) {
        const size_t capacity = object_capacity ? 2 * object_capacity : 256;
        tracked *more = realloc(objects, capacity * sizeof *more);
        if (more == NULL) {
            note_error("shim: out of memory tracking objects\n");
            return NULL;
        }
        objects = more;
        object_capacity = capacity;
    }
    tracked *t = &objects[object_count++];
    *t = (tracked){handle, kind, origin, paused ? 0 : calls, 0};
    return t;
}

/* A new object handed to the caller with one reference. */
static void track_new(void *handle, const char *kind, const char *origin) {
    if (handle == NULL)
        return;
    pthread_mutex_lock(&lock);
    tracked *t = find(handle);
    if (t != NULL && t->refs > 0)
        note_error("%s returned %s %p, which still has %ld references from %s\n", origin, kind,
                   handle, t->refs, t->origin);
    if (t == NULL)
        t = add(handle, kind, origin);
    else
        *t = (tracked){handle, kind, origin, paused ? 0 : calls, 0};
    if (t != NULL)
        t->refs = 1;
    pthread_mutex_unlock(&lock);
}

/* A retain that succeeded: objects we did not create (root devices, the caller's) start here. */
static void track_retain(void *handle, const char *kind, const char *origin) {
    pthread_mutex_lock(&lock);
    tracked *t = find(handle);
    if (t == NULL || t->refs == 0) {
        if (t == NULL)
            t = add(handle, kind, origin);
        else
            *t = (tracked){handle, kind, origin, paused ? 0 : calls, 0};
    }
    if (t != NULL)
        t->refs++;
    pthread_mutex_unlock(&lock);
}

/* A release: it must drop a reference someone took while the shim was watching. */
static void track_release(void *handle, const char *kind, const char *origin) {
    if (handle == NULL)
        return;
    pthread_mutex_lock(&lock);
    tracked *t = find(handle);
    if (t == NULL || t->refs <= 0)
        note_error("%s(%p): %s %s\n", origin, handle, kind,
                   t == NULL ? "never retained or created while watched" : "released once more");
    else
        t->refs--;
    pthread_mutex_unlock(&lock);
}

int shim_check_balance(char *report, size_t size) {
    pthread_mutex_lock(&lock);
    size_t used = 0;
    int bad = errors_used > 0;
    if (size > 0)
        report[0] = '\0';
    if (errors_used > 0 && size > 0)
        used += (size_t)snprintf(report, size, "%s", errors);
    for (size_t i = 0; i < object_count; ++i) {
        const tracked *t = &objects[i];
        if (t->refs == 0)
            continue;
        bad = 1;
        if (used < size)
            used += (size_t)snprintf(
                report + used, size - used, "%s %p from %s (call %lu): %ld reference%s left\n",
                t->kind, t->handle, t->origin, t->call, t->refs, t->refs == 1 ? "" : "s");
    }
    pthread_mutex_unlock(&lock);
    return bad ? -1 : 0;
}

size_t shim_live_objects(void) {
    pthread_mutex_lock(&lock);
    size_t live = 0;
    for (size_t i = 0; i < object_count; ++i)
        live += objects[i].refs > 0;
    pthread_mutex_unlock(&lock);
    return live;
}

/* The real entry point, from the next object in the lookup order (libOpenCL). */
static void *lookup(const char *name) {
    void *f = dlsym(RTLD_NEXT, name);
    if (f == NULL) {
        fprintf(stderr, "cl_shim: no real %s (%s)\n", name, dlerror());
        abort();
    }
    return f;
}

#define NEXT(fn)                                                                                   \
    static __typeof__(&fn) next_;                                                                  \
    if (next_ == NULL)                                                                             \
    next_ = (__typeof__(&fn))lookup(#fn)

/* A call returning cl_int. */
#define STATUS_CALL(fn, ...)                                                                       \
    do {                                                                                           \
        if (inject(#fn))                                                                           \
            return CL_OUT_OF_RESOURCES;                                                            \
        NEXT(fn);                                                                                  \
        return next_(__VA_ARGS__);                                                                 \
    } while (0)

/* A call returning a new object of type, with its error code in errp. */
#define CREATE_CALL(type, fn, errp, ...)                                                           \
    do {                                                                                           \
        if (inject(#fn)) {                                                                         \
            if ((errp) != NULL)                                                                    \
                *(errp) = CL_OUT_OF_RESOURCES;                                                     \
            return NULL;                                                                           \
        }                                                                                          \
        NEXT(fn);                                                                                  \
        type object_ = next_(__VA_ARGS__);                                                         \
        track_new(object_, #type, #fn);                                                            \
        return object_;                                                                            \
    } while (0)

/* An enqueue that may hand back an event. */
#define EVENT_CALL(fn, event, ...)                                                                 \
    do {                                                                                           \
        if (inject(#fn))                                                                           \
            return CL_OUT_OF_RESOURCES;                                                            \
        NEXT(fn);                                                                                  \
        const cl_int status_ = next_(__VA_ARGS__);                                                 \
        if (status_ == CL_SUCCESS && (event) != NULL)                                              \
            track_new(*(event), "cl_event", #fn);                                                  \
        return status_;                                                                            \
    } while (0)

#define RETAIN_CALL(fn, type, object)                                                              \
    do {                                                                                           \
        if (inject(#fn))                                                                           \
            return CL_OUT_OF_RESOURCES;                                                            \
        NEXT(fn);                                                                                  \
        const cl_int status_ = next_(object);                                                      \
        if (status_ == CL_SUCCESS)                                                                 \
            track_retain(object, #type, #fn);                                                      \
        return status_;                                                                            \
    } while (0)

/* Released before forwarding: the handle may be reused as soon as the runtime frees it. */
#define RELEASE_CALL(fn, type, object)                                                             \
    do {                                                                                           \
        NEXT(fn);                                                                                  \
        track_release(object, #type, #fn);                                                         \
        return next_(object);                                                                      \
    } while (0)

/* ---- Platforms, devices, contexts, queues -------------------------------------------------- */

cl_int CL_API_CALL clGetPlatformIDs(cl_uint num_entries, cl_platform_id *platforms,
                                    cl_uint *num_platforms) {
    STATUS_CALL(clGetPlatformIDs, num_entries, platforms, num_platforms);
}

cl_int CL_API_CALL clGetPlatformInfo(cl_platform_id platform, cl_platform_info name, size_t size,
                                     void *value, size_t *size_ret) {
    STATUS_CALL(clGetPlatformInfo, platform, name, size, value, size_ret);
}

cl_int CL_API_CALL clGetDeviceIDs(cl_platform_id platform, cl_device_type type, cl_uint num_entries,
                                  cl_device_id *devices, cl_uint *num_devices) {
    STATUS_CALL(clGetDeviceIDs, platform, type, num_entries, devices, num_devices);
}

cl_int CL_API_CALL clGetDeviceInfo(cl_device_id device, cl_device_info name, size_t size,
                                   void *value, size_t *size_ret) {
    STATUS_CALL(clGetDeviceInfo, device, name, size, value, size_ret);
}

cl_int CL_API_CALL clRetainDevice(cl_device_id device) {
    RETAIN_CALL(clRetainDevice, cl_device_id, device);
}

cl_int CL_API_CALL clReleaseDevice(cl_device_id device) {
    RELEASE_CALL(clReleaseDevice, cl_device_id, device);
}

cl_context CL_API_CALL clCreateContext(const cl_context_properties *properties, cl_uint num_devices,
                                       const cl_device_id *devices,
                                       void(CL_CALLBACK *notify)(const char *, const void *, size_t,
                                                                 void *),
                                       void *user_data, cl_int *errcode_ret) {
    CREATE_CALL(cl_context, clCreateContext, errcode_ret, properties, num_devices, devices, notify,
                user_data, errcode_ret);
}

cl_int CL_API_CALL clGetContextInfo(cl_context context, cl_context_info name, size_t size,
                                    void *value, size_t *size_ret) {
    STATUS_CALL(clGetContextInfo, context, name, size, value, size_ret);
}

cl_int CL_API_CALL clRetainContext(cl_context context) {
    RETAIN_CALL(clRetainContext, cl_context, context);
}

cl_int CL_API_CALL clReleaseContext(cl_context context) {
    RELEASE_CALL(clReleaseContext, cl_context, context);
}

cl_command_queue CL_API_CALL clCreateCommandQueue(cl_context context, cl_device_id device,
                                                  cl_command_queue_properties properties,
                                                  cl_int *errcode_ret) {
    CREATE_CALL(cl_command_queue, clCreateCommandQueue, errcode_ret, context, device, properties,
                errcode_ret);
}

cl_int CL_API_CALL clGetCommandQueueInfo(cl_command_queue queue, cl_command_queue_info name,
                                         size_t size, void *value, size_t *size_ret) {
    STATUS_CALL(clGetCommandQueueInfo, queue, name, size, value, size_ret);
}

cl_int CL_API_CALL clRetainCommandQueue(cl_command_queue queue) {
    RETAIN_CALL(clRetainCommandQueue, cl_command_queue, queue);
}

cl_int CL_API_CALL clReleaseCommandQueue(cl_command_queue queue) {
    RELEASE_CALL(clReleaseCommandQueue, cl_command_queue, queue);
}

cl_int CL_API_CALL clFlush(cl_command_queue queue) {
    STATUS_CALL(clFlush, queue);
}

cl_int CL_API_CALL clFinish(cl_command_queue queue) {
    STATUS_CALL(clFinish, queue);
}

/* ---- Memory -------------------------------------------------------------------------------- */

cl_mem CL_API_CALL clCreateBuffer(cl_context context, cl_mem_flags flags, size_t size,
                                  void *host_ptr, cl_int *errcode_ret) {
    CREATE_CALL(cl_mem, clCreateBuffer, errcode_ret, context, flags, size, host_ptr, errcode_ret);
}

cl_mem CL_API_CALL clCreateSubBuffer(cl_mem buffer, cl_mem_flags flags, cl_buffer_create_type type,
                                     const void *info, cl_int *errcode_ret) {
    CREATE_CALL(cl_mem, clCreateSubBuffer, errcode_ret, buffer, flags, type, info, errcode_ret);
}

cl_int CL_API_CALL clGetMemObjectInfo(cl_mem memobj, cl_mem_info name, size_t size, void *value,
                                      size_t *size_ret) {
    STATUS_CALL(clGetMemObjectInfo, memobj, name, size, value, size_ret);
}

cl_int CL_API_CALL clRetainMemObject(cl_mem memobj) {
    RETAIN_CALL(clRetainMemObject, cl_mem, memobj);
}

cl_int CL_API_CALL clReleaseMemObject(cl_mem memobj) {
    RELEASE_CALL(clReleaseMemObject, cl_mem, memobj);
}

cl_int CL_API_CALL clEnqueueReadBuffer(cl_command_queue queue, cl_mem buffer, cl_bool blocking,
                                       size_t offset, size_t size, void *ptr, cl_uint num_events,
                                       const cl_event *wait_list, cl_event *event) {
    EVENT_CALL(clEnqueueReadBuffer, event, queue, buffer, blocking, offset, size, ptr, num_events,
               wait_list, event);
}

cl_int CL_API_CALL clEnqueueWriteBuffer(cl_command_queue queue, cl_mem buffer, cl_bool blocking,
                                        size_t offset, size_t size, const void *ptr,
                                        cl_uint num_events, const cl_event *wait_list,
                                        cl_event *event) {
    EVENT_CALL(clEnqueueWriteBuffer, event, queue, buffer, blocking, offset, size, ptr, num_events,
               wait_list, event);
}

cl_int CL_API_CALL clEnqueueReadBufferRect(cl_command_queue queue, cl_mem buffer, cl_bool blocking,
                                           const size_t *buffer_origin, const size_t *host_origin,
                                           const size_t *region, size_t buffer_row_pitch,
                                           size_t buffer_slice_pitch, size_t host_row_pitch,
                                           size_t host_slice_pitch, void *ptr, cl_uint num_events,
                                           const cl_event *wait_list, cl_event *event) {
    EVENT_CALL(clEnqueueReadBufferRect, event, queue, buffer, blocking, buffer_origin, host_origin,
               region, buffer_row_pitch, buffer_slice_pitch, host_row_pitch, host_slice_pitch, ptr,
               num_events, wait_list, event);
}

cl_int CL_API_CALL clEnqueueWriteBufferRect(cl_command_queue queue, cl_mem buffer, cl_bool blocking,
                                            const size_t *buffer_origin, const size_t *host_origin,
                                            const size_t *region, size_t buffer_row_pitch,
                                            size_t buffer_slice_pitch, size_t host_row_pitch,
                                            size_t host_slice_pitch, const void *ptr,
                                            cl_uint num_events, const cl_event *wait_list,
                                            cl_event *event) {
    EVENT_CALL(clEnqueueWriteBufferRect, event, queue, buffer, blocking, buffer_origin, host_origin,
               region, buffer_row_pitch, buffer_slice_pitch, host_row_pitch, host_slice_pitch, ptr,
               num_events, wait_list, event);
}

cl_int CL_API_CALL clEnqueueFillBuffer(cl_command_queue queue, cl_mem buffer, const void *pattern,
                                       size_t pattern_size, size_t offset, size_t size,
                                       cl_uint num_events, const cl_event *wait_list,
                                       cl_event *event) {
    EVENT_CALL(clEnqueueFillBuffer, event, queue, buffer, pattern, pattern_size, offset, size,
               num_events, wait_list, event);
}

cl_int CL_API_CALL clEnqueueCopyBuffer(cl_command_queue queue, cl_mem src, cl_mem dst,
                                       size_t src_offset, size_t dst_offset, size_t size,
                                       cl_uint num_events, const cl_event *wait_list,
                                       cl_event *event) {
    EVENT_CALL(clEnqueueCopyBuffer, event, queue, src, dst, src_offset, dst_offset, size,
               num_events, wait_list, event);
}

cl_int CL_API_CALL clEnqueueCopyBufferRect(cl_command_queue queue, cl_mem src, cl_mem dst,
                                           const size_t *src_origin, const size_t *dst_origin,
                                           const size_t *region, size_t src_row_pitch,
                                           size_t src_slice_pitch, size_t dst_row_pitch,
                                           size_t dst_slice_pitch, cl_uint num_events,
                                           const cl_event *wait_list, cl_event *event) {
    EVENT_CALL(clEnqueueCopyBufferRect, event, queue, src, dst, src_origin, dst_origin, region,
               src_row_pitch, src_slice_pitch, dst_row_pitch, dst_slice_pitch, num_events,
               wait_list, event);
}

void *CL_API_CALL clEnqueueMapBuffer(cl_command_queue queue, cl_mem buffer, cl_bool blocking,
                                     cl_map_flags flags, size_t offset, size_t size,
                                     cl_uint num_events, const cl_event *wait_list, cl_event *event,
                                     cl_int *errcode_ret) {
    if (inject("clEnqueueMapBuffer")) {
        if (errcode_ret != NULL)
            *errcode_ret = CL_OUT_OF_RESOURCES;
        return NULL;
    }
    NEXT(clEnqueueMapBuffer);
    cl_int status = CL_SUCCESS;
    void *mapped =
        next_(queue, buffer, blocking, flags, offset, size, num_events, wait_list, event, &status);
    if (errcode_ret != NULL)
        *errcode_ret = status;
    if (status == CL_SUCCESS && event != NULL)
        track_new(*event, "cl_event", "clEnqueueMapBuffer");
    return mapped;
}

cl_int CL_API_CALL clEnqueueUnmapMemObject(cl_command_queue queue, cl_mem memobj, void *mapped,
                                           cl_uint num_events, const cl_event *wait_list,
                                           cl_event *event) {
    EVENT_CALL(clEnqueueUnmapMemObject, event, queue, memobj, mapped, num_events, wait_list, event);
}

/* ---- Programs and kernels ------------------------------------------------------------------ */

cl_program CL_API_CALL clCreateProgramWithSource(cl_context context, cl_uint count,
                                                 const char **strings, const size_t *lengths,
                                                 cl_int *errcode_ret) {
    CREATE_CALL(cl_program, clCreateProgramWithSource, errcode_ret, context, count, strings,
                lengths, errcode_ret);
}

cl_program CL_API_CALL clCreateProgramWithBinary(cl_context context, cl_uint num_devices,
                                                 const cl_device_id *devices, const size_t *lengths,
                                                 const unsigned char **binaries,
                                                 cl_int *binary_status, cl_int *errcode_ret) {
    CREATE_CALL(cl_program, clCreateProgramWithBinary, errcode_ret, context, num_devices, devices,
                lengths, binaries, binary_status, errcode_ret);
}

cl_int CL_API_CALL clBuildProgram(cl_program program, cl_uint num_devices,
                                  const cl_device_id *devices, const char *options,
                                  void(CL_CALLBACK *notify)(cl_program, void *), void *user_data) {
    STATUS_CALL(clBuildProgram, program, num_devices, devices, options, notify, user_data);
}

cl_int CL_API_CALL clCompileProgram(cl_program program, cl_uint num_devices,
                                    const cl_device_id *devices, const char *options,
                                    cl_uint num_headers, const cl_program *headers,
                                    const char **header_names,
                                    void(CL_CALLBACK *notify)(cl_program, void *),
                                    void *user_data) {
    STATUS_CALL(clCompileProgram, program, num_devices, devices, options, num_headers, headers,
                header_names, notify, user_data);
}

cl_program CL_API_CALL clLinkProgram(cl_context context, cl_uint num_devices,
                                     const cl_device_id *devices, const char *options,
                                     cl_uint num_programs, const cl_program *programs,
                                     void(CL_CALLBACK *notify)(cl_program, void *), void *user_data,
                                     cl_int *errcode_ret) {
    CREATE_CALL(cl_program, clLinkProgram, errcode_ret, context, num_devices, devices, options,
                num_programs, programs, notify, user_data, errcode_ret);
}

cl_int CL_API_CALL clGetProgramInfo(cl_program program, cl_program_info name, size_t size,
                                    void *value, size_t *size_ret) {
    STATUS_CALL(clGetProgramInfo, program, name, size, value, size_ret);
}

cl_int CL_API_CALL clGetProgramBuildInfo(cl_program program, cl_device_id device,
                                         cl_program_build_info name, size_t size, void *value,
                                         size_t *size_ret) {
    STATUS_CALL(clGetProgramBuildInfo, program, device, name, size, value, size_ret);
}

cl_int CL_API_CALL clRetainProgram(cl_program program) {
    RETAIN_CALL(clRetainProgram, cl_program, program);
}

cl_int CL_API_CALL clReleaseProgram(cl_program program) {
    RELEASE_CALL(clReleaseProgram, cl_program, program);
}

cl_kernel CL_API_CALL clCreateKernel(cl_program program, const char *name, cl_int *errcode_ret) {
    CREATE_CALL(cl_kernel, clCreateKernel, errcode_ret, program, name, errcode_ret);
}

cl_int CL_API_CALL clCreateKernelsInProgram(cl_program program, cl_uint num_kernels,
                                            cl_kernel *kernels, cl_uint *num_kernels_ret) {
    if (inject("clCreateKernelsInProgram"))
        return CL_OUT_OF_RESOURCES;
    NEXT(clCreateKernelsInProgram);
    cl_uint made = 0;
    const cl_int status = next_(program, num_kernels, kernels, &made);
    if (num_kernels_ret != NULL)
        *num_kernels_ret = made;
    for (cl_uint i = 0; status == CL_SUCCESS && kernels != NULL && i < made; ++i)
        track_new(kernels[i], "cl_kernel", "clCreateKernelsInProgram");
    return status;
}

cl_int CL_API_CALL clGetKernelInfo(cl_kernel kernel, cl_kernel_info name, size_t size, void *value,
                                   size_t *size_ret) {
    STATUS_CALL(clGetKernelInfo, kernel, name, size, value, size_ret);
}

cl_int CL_API_CALL clGetKernelWorkGroupInfo(cl_kernel kernel, cl_device_id device,
                                            cl_kernel_work_group_info name, size_t size,
                                            void *value, size_t *size_ret) {
    STATUS_CALL(clGetKernelWorkGroupInfo, kernel, device, name, size, value, size_ret);
}

cl_int CL_API_CALL clSetKernelArg(cl_kernel kernel, cl_uint index, size_t size, const void *value) {
    STATUS_CALL(clSetKernelArg, kernel, index, size, value);
}

cl_int CL_API_CALL clRetainKernel(cl_kernel kernel) {
    RETAIN_CALL(clRetainKernel, cl_kernel, kernel);
}

cl_int CL_API_CALL clReleaseKernel(cl_kernel kernel) {
    RELEASE_CALL(clReleaseKernel, cl_kernel, kernel);
}

cl_int CL_API_CALL clEnqueueNDRangeKernel(cl_command_queue queue, cl_kernel kernel, cl_uint dims,
                                          const size_t *offset, const size_t *global,
                                          const size_t *local, cl_uint num_events,
                                          const cl_event *wait_list, cl_event *event) {
    EVENT_CALL(clEnqueueNDRangeKernel, event, queue, kernel, dims, offset, global, local,
               num_events, wait_list, event);
}

/* ---- Events -------------------------------------------------------------------------------- */

cl_int CL_API_CALL clEnqueueMarkerWithWaitList(cl_command_queue queue, cl_uint num_events,
                                               const cl_event *wait_list, cl_event *event) {
    EVENT_CALL(clEnqueueMarkerWithWaitList, event, queue, num_events, wait_list, event);
}

cl_int CL_API_CALL clEnqueueBarrierWithWaitList(cl_command_queue queue, cl_uint num_events,
                                                const cl_event *wait_list, cl_event *event) {
    EVENT_CALL(clEnqueueBarrierWithWaitList, event, queue, num_events, wait_list, event);
}

cl_int CL_API_CALL clWaitForEvents(cl_uint num_events, const cl_event *events) {
    STATUS_CALL(clWaitForEvents, num_events, events);
}

cl_int CL_API_CALL clGetEventInfo(cl_event event, cl_event_info name, size_t size, void *value,
                                  size_t *size_ret) {
    STATUS_CALL(clGetEventInfo, event, name, size, value, size_ret);
}

cl_int CL_API_CALL clGetEventProfilingInfo(cl_event event, cl_profiling_info name, size_t size,
                                           void *value, size_t *size_ret) {
    STATUS_CALL(clGetEventProfilingInfo, event, name, size, value, size_ret);
}

cl_event CL_API_CALL clCreateUserEvent(cl_context context, cl_int *errcode_ret) {
    CREATE_CALL(cl_event, clCreateUserEvent, errcode_ret, context, errcode_ret);
}

cl_int CL_API_CALL clSetUserEventStatus(cl_event event, cl_int status) {
    STATUS_CALL(clSetUserEventStatus, event, status);
}

cl_int CL_API_CALL clSetEventCallback(cl_event event, cl_int type,
                                      void(CL_CALLBACK *notify)(cl_event, cl_int, void *),
                                      void *user_data) {
    STATUS_CALL(clSetEventCallback, event, type, notify, user_data);
}

cl_int CL_API_CALL clRetainEvent(cl_event event) {
    RETAIN_CALL(clRetainEvent, cl_event, event);
}

cl_int CL_API_CALL clReleaseEvent(cl_event event) {
    RELEASE_CALL(clReleaseEvent, cl_event, event);
}

const char *const shim_functions[] = {
    "clGetPlatformIDs",
    "clGetPlatformInfo",
    "clGetDeviceIDs",
    "clGetDeviceInfo",
    "clRetainDevice",
    "clReleaseDevice",
    "clCreateContext",
    "clGetContextInfo",
    "clRetainContext",
    "clReleaseContext",
    "clCreateCommandQueue",
    "clGetCommandQueueInfo",
    "clRetainCommandQueue",
    "clReleaseCommandQueue",
    "clFlush",
    "clFinish",
    "clCreateBuffer",
    "clCreateSubBuffer",
    "clGetMemObjectInfo",
    "clRetainMemObject",
    "clReleaseMemObject",
    "clEnqueueReadBuffer",
    "clEnqueueWriteBuffer",
    "clEnqueueReadBufferRect",
    "clEnqueueWriteBufferRect",
    "clEnqueueFillBuffer",
    "clEnqueueCopyBuffer",
    "clEnqueueCopyBufferRect",
    "clEnqueueMapBuffer",
    "clEnqueueUnmapMemObject",
    "clCreateProgramWithSource",
    "clCreateProgramWithBinary",
    "clBuildProgram",
    "clCompileProgram",
    "clLinkProgram",
    "clGetProgramInfo",
    "clGetProgramBuildInfo",
    "clRetainProgram",
    "clReleaseProgram",
    "clCreateKernel",
    "clCreateKernelsInProgram",
    "clGetKernelInfo",
    "clGetKernelWorkGroupInfo",
    "clSetKernelArg",
    "clRetainKernel",
    "clReleaseKernel",
    "clEnqueueNDRangeKernel",
    "clEnqueueMarkerWithWaitList",
    "clEnqueueBarrierWithWaitList",
    "clWaitForEvents",
    "clGetEventInfo",
    "clGetEventProfilingInfo",
    "clCreateUserEvent",
    "clSetUserEventStatus",
    "clSetEventCallback",
    "clRetainEvent",
    "clReleaseEvent",
    NULL,
};
