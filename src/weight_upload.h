/* A staged weight's device copy: written in place through a mapping on CPU devices, whose buffers
 * are host memory, and copied from a host array elsewhere. */
#ifndef CLCONVT_WEIGHT_UPLOAD_H
#define CLCONVT_WEIGHT_UPLOAD_H

#include "device.h"
#include "plan.h"
#include "weights.h"

/* Stage src (clconvt_weights_stage) into a new read-only device buffer *buffer and a new host copy
 * *staged; on failure neither exists. */
clconvt_status clconvt_weights_upload(clconvt_device *device, const clconvt_params *params,
                                      const plan *plan, const weight_source *src, cl_mem *buffer,
                                      staged_weight *staged);

#endif
