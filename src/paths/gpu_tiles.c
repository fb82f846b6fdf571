/*
 * The GPU tiles (gpu_tiles.h). The gate of tests/gpu/ is a register budget: at most 128 registers
 * on sm_90 (so that 4 warps of 32 fit per SM quarter's 16K registers), and on AMD an occupancy of
 * 8 waves on gfx1030 and 4 on gfx90a, that is at most 128 VGPRs on both (1024 VGPRs per wave32
 * SIMD lane on RDNA2, 512 per wave64 lane on CDNA2). One budget, so one table for every GPU
 * class: gfx1030 and gfx90a need not be told apart (a real device's name would tell; its caps
 * need not). Intel's GRF (128 registers of SIMD lanes) is bounded alike; no free back end
 * measures it (tests/gpu/ compiles its plans for spir64 only).
 */
#include "gpu_tiles.h"

#include <stddef.h>

#include "paths.h"

/* 64 work-items: two warps of 32, one wave64, two wave32s, four Intel SIMD16 sub-groups. */
#define CLCONVT_GPU_WORK_GROUP 64

/* A path's GPU register tile: vec (0: the path's own), p, and c at most (0: the path's own; -1:
 * one vector of channels, phase_fold's vec / stride). Every tile holds at most
 * CLCONVT_GPU_ACCUMULATORS_MAX accumulators; the offline compiles measured (f32/f16/bf16, the
 * worst over tests/gpu/'s rows; sm_90 registers, AMD VGPRs): phase 4 x 4: 80, 70; phase_pos vec 8,
 * 8 x 4: 126, 95; phase_chan vec 16, 2 x 16: 93, 123; phase_dw vec 8, 2 x 8: 84 VGPRs in f16,
 * where vec 16 took 139 (occupancy 3 on gfx90a); phase_fold 2 positions x one vector of 16:
 * 103, 111. */
typedef struct gpu_tile {
    const kernel_path *path;
    int vec, tile_p, tile_c;
} gpu_tile;

static const gpu_tile TILES[] = {
    {&clconvt_path_phase, 0, 4, 4},        {&clconvt_path_phase_pos, 8, 8, 4},
    {&clconvt_path_phase_chan, 16, 2, 16}, {&clconvt_path_phase_dw, 8, 2, 8},
    {&clconvt_path_phase_fold, 16, 2, -1},
};

int clconvt_gpu_device(const device_caps *caps) {
    return (caps->type & CL_DEVICE_TYPE_GPU) != 0 && (caps->type & CL_DEVICE_TYPE_CPU) == 0;
}

void clconvt_gpu_tile(const device_caps *caps, const clconvt_params *params, plan *p) {
    if (!clconvt_gpu_device(caps))
        return;
    for (size_t i = 0; i < sizeof TILES / sizeof TILES[0]; ++i) {
        const gpu_tile *t = &TILES[i];
        if (t->path != p->path)
            continue;
        if (t->vec != 0)
            p->vec = t->vec;
        p->tile_p = t->tile_p;
        if (t->tile_c < 0)
            p->tile_c = params->stride <= p->vec ? (int)(p->vec / params->stride) : p->tile_c;
        else if (t->tile_c > 0 && p->tile_c > t->tile_c)
            p->tile_c = t->tile_c;
    }
}

void clconvt_gpu_work_group(const device_caps *caps, plan *p) {
    const int others = p->local[1] * p->local[2];
    if (clconvt_gpu_device(caps) && others > 0 && p->local[0] * others < CLCONVT_GPU_WORK_GROUP)
        p->local[0] = CLCONVT_GPU_WORK_GROUP / others > 0 ? CLCONVT_GPU_WORK_GROUP / others : 1;
}

const char *clconvt_gpu_over_budget(const device_caps *caps, const clconvt_params *params,
                                    const plan *p) {
    if (!clconvt_gpu_device(caps) ||
        p->path->private_memory(p, params).accumulators <= CLCONVT_GPU_ACCUMULATORS_MAX)
        return NULL;
    return "its register tile holds more accumulators than a GPU work-item's budget of 32 "
           "(more spill or cut occupancy: tests/gpu/)";
}
