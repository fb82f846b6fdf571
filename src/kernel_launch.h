/* One launch of a kernel: created from its program, its arguments set, enqueued, released. */
#ifndef CLCONVT_KERNEL_LAUNCH_H
#define CLCONVT_KERNEL_LAUNCH_H

#include "clconvt.h"

/* One kernel argument, as clSetKernelArg takes it. */
typedef struct kernel_argument {
    size_t size;
    const void *value;
} kernel_argument;

/* The grid and the events of one launch: dims dimensions of global work-items, in work-groups
 * of local (NULL: the runtime's choice); the kernel waits for wait[0..num_wait) and *done (when
 * not NULL) completes with it. */
typedef struct kernel_grid {
    cl_uint dims;
    const size_t *global, *local;
    cl_uint num_wait;
    const cl_event *wait;
    cl_event *done;
} kernel_grid;

/* Enqueue kernel `name` of program on queue with args[0..count) over grid. A failure of any of
 * the calls is reported with the call and the kernel's name; the kernel object is released
 * either way (the runtime keeps an enqueued kernel until it has run). */
clconvt_status clconvt_kernel_launch(cl_program program, const char *name,
                                     const kernel_argument *args, cl_uint count,
                                     cl_command_queue queue, const kernel_grid *grid);

#endif
