/*
 * The default tiles of GPUs: one table, by kernel path, of the register tile (vector width, p x c)
 * and work-group a GPU gets instead of the CPU-shaped ones of src/paths/ (tests/gpu/ compiles them
 * offline for sm_90, gfx1030 and gfx90a and fails on spills, >128 registers or low occupancy).
 * Every GPU class (NVIDIA, AMD, Intel, others) gets the same tiles: the bounds the tiles are
 * chosen for are the same register budget on each (see gpu_tiles.c). A CPU is left as it is.
 */
#ifndef CLCONVT_GPU_TILES_H
#define CLCONVT_GPU_TILES_H

#include "../device_caps.h"
#include "clconvt.h"
#include "path.h"

/* Accumulators (floats of the register tile) one GPU work-item may hold: measured with
 * tests/gpu/offline_compile.py, 32 keep every path and dtype at or below 126 registers on sm_90
 * (and 123 VGPRs on AMD), with no spill; 64 take phase_pos and phase_chan to 118-148. */
#define CLCONVT_GPU_ACCUMULATORS_MAX 32

/* Whether the planner treats the device as a GPU: what a real device reports, a GPU and not a
 * CPU (CL_DEVICE_TYPE), the same field the built-in profiles fill. */
int clconvt_gpu_device(const device_caps *caps);

/* On a GPU, the path's GPU register tile in place of p's vec, p and c (p's path chosen, before
 * the plan's keys and its padded channel count); nothing elsewhere. */
void clconvt_gpu_tile(const device_caps *caps, const clconvt_params *params, plan *p);

/* On a GPU, a default work-group (the path's, just set) widened over positions to
 * CLCONVT_GPU_WORK_GROUP work-items: whole warps and wavefronts; nothing elsewhere. */
void clconvt_gpu_work_group(const device_caps *caps, plan *p);

/* NULL when p fits a GPU work-item's register budget (or the device is no GPU), else why not. */
const char *clconvt_gpu_over_budget(const device_caps *caps, const clconvt_params *params,
                                    const plan *p);

#endif
