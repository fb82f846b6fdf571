/* A staged weight's device copy: written in place through a mapping on CPU devices, whose buffers
 * are host memory, and copied from a host array elsewhere. */
#ifndef CLCONVT_WEIGHT_UPLOAD_H
#define CLCONVT_WEIGHT_UPLOAD_H

#include "device.h"
#include "plan.h"
#include "weights.h"

/* Stage src (clconvt_weights_stage) into a new read-only device buffer *buffer; on failure there
 * is none. */
clconvt_status clconvt_weights_upload(clconvt_device *device, const clconvt_params *params,
                                      const plan *plan, const weight_source *src, cl_mem *buffer);

/* The weight a buffer of clconvt_weights_upload holds, read back and unpacked to MAX order in the
 * layer's dtype (clconvt_weights_unpack) into max_order; on failure max_order is untouched. */
clconvt_status clconvt_weights_download(clconvt_device *device, const clconvt_params *params,
                                        const plan *plan, cl_mem buffer, void *max_order);

#endif
