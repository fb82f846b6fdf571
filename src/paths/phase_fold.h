/* What the planner's tests and tools may ask of phase_fold's planning (src/paths/phase_fold.c). */
#ifndef CLCONVT_PHASE_FOLD_H
#define CLCONVT_PHASE_FOLD_H

#include <stdint.h>

#include "path.h"

/* The input channels per block (CI_CHUNK) of plan p's cache-blocked form: the largest power of two
 * in 4..256 whose weights and inputs fill at most a quarter of one core's L1 data cache
 * (caps->core_l1_bytes; 32 KiB when unknown). */
uint64_t clconvt_phase_fold_block_channels(const device_caps *caps, const plan *p,
                                           const clconvt_params *params);

/* When p is a cache-blocked phase_fold plan (pt above 1), set its chunk to that block (the
 * tuner's cache-block candidates); any other plan is left as it is. */
void clconvt_phase_fold_size_block(const device_caps *caps, plan *p, const clconvt_params *params);

#endif
