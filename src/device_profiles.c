/*
 * The built-in device profiles. Each value is what the vendor's OpenCL driver reports for a
 * typical device of the class (clinfo), not the hardware's own figure where the two differ: the
 * planner of a real device reads what the driver reports, and a profile must plan as that device
 * would. Global memory is not kept (the planner does not read it); max_alloc_bytes is
 * CL_DEVICE_MAX_MEM_ALLOC_SIZE. GPUs have no private budget (0): they spill registers to memory
 * rather than crash, and their drivers bound the work-group per kernel instead. Cache sizes
 * (global_cache_bytes, core_l1_bytes, core_l2_bytes) are given for the CPU profile only: the GPU
 * ones are what a driver reports, not yet read from such a device (0: unknown), and the planner
 * sizes GPU tiles from local_mem_bytes.
 */
#include "device_profiles.h"

#include <stdio.h>
#include <string.h>

#define KIB ((uint64_t)1 << 10)
#define GIB ((uint64_t)1 << 30)

/* PoCL 3 on an x86-64 CPU of 2 threads (the CPU profiles below): all but the L2 per core and the
 * floats of a vector register. */
#define POCL_X86_CAPS(l2_bytes, float_lanes)                                                       \
    {                                                                                              \
        .type = CL_DEVICE_TYPE_CPU, .vendor = "AuthenticAMD", .local_mem_bytes = 1024 * KIB,       \
        .max_alloc_bytes = 2 * GIB, .max_work_group_size = 4096, .compute_units = 2,               \
        .private_budget_bytes = (8 * KIB * KIB) / 4, .global_cache_bytes = 32 * KIB * KIB,         \
        .core_l1_bytes = 32 * KIB, .core_l2_bytes = (l2_bytes),                                    \
        .native_float_lanes = (float_lanes)                                                        \
    }

const device_profile clconvt_device_profiles[] = {
    {
        /* NVIDIA's OpenCL on H100 / H200 (sm_90): CL_DEVICE_LOCAL_MEM_SIZE is 48 KiB (a work-group
         * may not opt in to the 227 KiB of shared memory as CUDA can),
         * CL_DEVICE_MAX_WORK_GROUP_SIZE 1024, 132 SMs (H100 SXM5, H200), a warp of 32, and
         * CL_DEVICE_MAX_MEM_ALLOC_SIZE a quarter of the global memory: 20 GiB of H100's 80 GB. */
        .name = "sm90",
        .description = "NVIDIA sm_90 (H100, H200): 132 SMs, 48 KiB local memory, warp 32",
        .caps = {.type = CL_DEVICE_TYPE_GPU,
                 .vendor = "NVIDIA Corporation",
                 .local_mem_bytes = 48 * KIB,
                 .max_alloc_bytes = 20 * GIB,
                 .max_work_group_size = 1024,
                 .compute_units = 132,
                 .subgroup_width = 32},
    },
    {
        /* ROCm's OpenCL on RDNA2 (gfx1030: RX 6800 XT, 6900 XT, PRO W6800): 64 KiB of LDS per
         * work-group, CL_DEVICE_MAX_WORK_GROUP_SIZE 256 (ROCclr's OpenCL default,
         * GPU_MAX_WORKGROUP_SIZE; HIP allows 1024), 40 compute units as ROCm counts them on the
         * RX 6900 XT (work-group processors of two CUs each), wave32 (the default for OpenCL on
         * RDNA), and a largest allocation of about 15 GiB of its 16 GiB. */
        .name = "gfx1030",
        .description = "AMD RDNA2 gfx1030 (RX 6900 XT): 40 WGPs, 64 KiB local memory, wave32",
        .caps = {.type = CL_DEVICE_TYPE_GPU,
                 .vendor = "Advanced Micro Devices, Inc.",
                 .local_mem_bytes = 64 * KIB,
                 .max_alloc_bytes = 15 * GIB,
                 .max_work_group_size = 256,
                 .compute_units = 40,
                 .subgroup_width = 32},
    },
    {
        /* ROCm's OpenCL on CDNA2 (gfx90a: one MI250X die, MI210): 64 KiB of LDS, work-groups of
         * 256 (as gfx1030), 110 compute units (one MI250X GCD; MI210 has 104), wave64, and a
         * largest allocation of about 56 GiB of the die's 64 GiB. */
        .name = "gfx90a",
        .description = "AMD CDNA2 gfx90a (MI250X die, MI210): 110 CUs, 64 KiB local memory, wave64",
        .caps = {.type = CL_DEVICE_TYPE_GPU,
                 .vendor = "Advanced Micro Devices, Inc.",
                 .local_mem_bytes = 64 * KIB,
                 .max_alloc_bytes = 56 * GIB,
                 .max_work_group_size = 256,
                 .compute_units = 110,
                 .subgroup_width = 64},
    },
    {
        /* Intel's compute runtime (NEO) on Xe-HPG (Arc A770): 64 KiB of SLM, work-groups of 1024,
         * 512 compute units (EUs, as NEO counts them), sub-groups of 8, 16 or 32 with 16 the usual
         * choice of its compiler, and allocations of at most 4 GiB (NEO's limit without
         * -cl-intel-greater-than-4GB-buffer-required). Xe-HPC (Max 1550) reports the same limits
         * but for its 1024 EUs and 128 KiB of SLM. */
        .name = "xe",
        .description = "Intel Xe-HPG (Arc A770): 512 EUs, 64 KiB local memory, subgroup 16",
        .caps = {.type = CL_DEVICE_TYPE_GPU,
                 .vendor = "Intel(R) Corporation",
                 .local_mem_bytes = 64 * KIB,
                 .max_alloc_bytes = 4 * GIB,
                 .max_work_group_size = 1024,
                 .compute_units = 512,
                 .subgroup_width = 16},
    },
    {
        /* PoCL 3 on an x86-64 CPU (pocl-opencl-icd, what CI runs; clinfo on the build machine):
         * 1 MiB of "local" memory (ordinary memory), work-groups of 4096, a largest allocation of
         * 2 GiB; compute units are the machine's threads (2 there). A work-group runs on one
         * thread with every work-item's private memory on its stack: a quarter of Linux's default
         * 8 MiB stack (device.c's private_budget), which the planner narrows work-groups to.
         * PoCL reports no sub-groups (0). Its CL_DEVICE_GLOBAL_MEM_CACHE_SIZE is the L3 (32 MiB
         * on the Zen 4 EPYC of BENCHMARKS.md); a core's L1 data (32 KiB) and L2 (1 MiB) caches
         * come from sysfs (src/cpu_caches.c). */
        .name = "cpu",
        .description = "PoCL on an x86-64 CPU (AVX-512): 1 MiB local memory, work-groups of 4096",
        .caps = POCL_X86_CAPS(1024 * KIB, 16),
    },
    {
        /* The same on an x86-64 CPU of AVX2 and no AVX-512 (PoCL's "haswell" target; clinfo on a
         * Zen 3 EPYC of the same machine kind): CL_DEVICE_NATIVE_VECTOR_WIDTH_FLOAT 8, a 512 KiB
         * L2 per core; the rest as above. The planner gives it tiles of narrow vectors
         * (clconvt_path_narrow_cpu). */
        .name = "cpu-avx2",
        .description = "PoCL on an x86-64 CPU (AVX2): 1 MiB local memory, work-groups of 4096",
        .caps = POCL_X86_CAPS(512 * KIB, 8),
    },
};

const size_t clconvt_device_profile_count =
    sizeof clconvt_device_profiles / sizeof clconvt_device_profiles[0];

const device_profile *clconvt_device_profile_named(const char *name) {
    for (size_t i = 0; name != NULL && i < clconvt_device_profile_count; ++i)
        if (strcmp(clconvt_device_profiles[i].name, name) == 0)
            return &clconvt_device_profiles[i];
    return NULL;
}

void clconvt_device_profile_names(char *text, size_t size) {
    size_t used = 0;
    text[0] = '\0';
    for (size_t i = 0; i < clconvt_device_profile_count && used < size; ++i)
        used += (size_t)snprintf(text + used, size - used, "%s%s", i == 0 ? "" : ", ",
                                 clconvt_device_profiles[i].name);
}
