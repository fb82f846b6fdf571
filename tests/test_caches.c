/*
 * The cache sizes the planner reads (src/device_caps.h): one core's L1 data and L2 caches from
 * Linux's sysfs (src/cpu_caches.c), CL_DEVICE_GLOBAL_MEM_CACHE_SIZE from OpenCL, and phase_fold's
 * cache blocks sized from them (src/paths/phase_fold.c).
 */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L
#endif

#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "clconvt.h"
#include "cpu_caches.h"
#include "device.h"
#include "device_profiles.h"
#include "internal_device.h"
#include "paths/phase_fold.h"
#include "plan.h"
#include "plan_choice.h"
#include "tmpdir.h"

static char tmp_dir[256];

static void setup(void) {
    test_tmpdir_make(tmp_dir, sizeof tmp_dir, "caches");
}

static void teardown(void) {
    test_tmpdir_remove(tmp_dir);
}

TestSuite(caches, .init = setup, .fini = teardown, .timeout = 300);

/* One cache of the fake sysfs tree: index<i>/{level,type,size}. */
static void write_cache(int index, const char *level, const char *type, const char *size) {
    char name[64];
    snprintf(name, sizeof name, "index%d", index);
    cr_assert_eq(mkdir(test_tmp_path(name), 0700), 0);
    const char *const files[][2] = {{"level", level}, {"type", type}, {"size", size}};
    for (size_t f = 0; f < 3; ++f) {
        char path[96], text[64];
        snprintf(path, sizeof path, "index%d/%s", index, files[f][0]);
        snprintf(text, sizeof text, "%s\n", files[f][1]);
        test_write_text(test_tmp_path(path), text);
    }
}

/* A Zen-4-like core with a 48 KiB L1d (Golden Cove's): the data cache, not the instruction one,
 * and the L2, not the shared L3. */
Test(caches, sysfs_gives_the_l1_data_and_l2_sizes) {
    write_cache(0, "1", "Instruction", "32K");
    write_cache(1, "1", "Data", "48K");
    write_cache(2, "2", "Unified", "2048K");
    write_cache(3, "3", "Unified", "32768K");
    uint64_t l1 = 1, l2 = 1;
    clconvt_cpu_caches_read(tmp_dir, &l1, &l2);
    cr_expect_eq(l1, 48u << 10);
    cr_expect_eq(l2, 2u << 20);
}

Test(caches, malformed_or_missing_caches_are_unknown) {
    write_cache(0, "1", "Data", "32Q");
    write_cache(1, "2", "Unified", "1M");
    uint64_t l1 = 1, l2 = 1;
    clconvt_cpu_caches_read(tmp_dir, &l1, &l2);
    cr_expect_eq(l1, 0u, "\"32Q\" is no size");
    cr_expect_eq(l2, 1u << 20);
    clconvt_cpu_caches_read(test_tmp_path("absent"), &l1, &l2);
    cr_expect(l1 == 0 && l2 == 0);
}

/* An opened CPU device carries this machine's caches, and OpenCL's global cache size. */
Test(caches, a_cpu_device_reports_its_core_caches) {
    const clconvt_device *device = test_device();
    const device_caps caps = clconvt_device_caps(device);
    if (!(caps.type & CL_DEVICE_TYPE_CPU))
        cr_skip_test("the test device is not a CPU");
    uint64_t l1, l2;
    clconvt_cpu_caches_read(CLCONVT_CPU_CACHE_ROOT, &l1, &l2);
    cr_expect_eq(caps.core_l1_bytes, l1);
    cr_expect_eq(caps.core_l2_bytes, l2);
    cl_ulong global_cache = 0;
    cr_assert_eq(clGetDeviceInfo(clconvt_device_id(device), CL_DEVICE_GLOBAL_MEM_CACHE_SIZE,
                                 sizeof global_cache, &global_cache, NULL),
                 CL_SUCCESS);
    cr_expect_eq(caps.global_cache_bytes, global_cache);
}

/* Conv-TasNet's decoder, 512->1, K16, S8: channel-starved (M = 8 channel x phase pairs). */
static clconvt_params starved_layer(void) {
    clconvt_params p;
    clconvt_params_init(&p, 512, 1, 16);
    p.stride = 8;
    p.layout = CLCONVT_LAYOUT_NCL;
    return p;
}

static plan default_plan(uint64_t l1_bytes, const clconvt_params *params) {
    device_caps caps = clconvt_device_profile_named("cpu")->caps;
    caps.core_l1_bytes = l1_bytes;
    plan p;
    clconvt_plan_default(&caps, params, &p);
    return p;
}

/* The weights (2 taps x 8 lanes) and inputs (4 tiles x 16 positions + 1) of one input channel. */
#define STARVED_BYTES_PER_CHANNEL ((2 * 8 + 4 * 16 + 1) * 4)

/* The block is the largest power of two whose bytes fill at most a quarter of the L1: 8 KiB -> 4
 * channels, 32 KiB -> 16, 128 KiB -> 64. A planner that ignored the cache size would give one
 * block for all three. */
Test(caches, starved_blocks_follow_the_l1_size) {
    const clconvt_params params = starved_layer();
    const uint64_t sizes[] = {8u << 10, 32u << 10, 128u << 10};
    const int blocks[] = {4, 16, 64};
    for (size_t i = 0; i < 3; ++i) {
        const plan p = default_plan(sizes[i], &params);
        cr_assert_str_eq(p.path->name, "phase_fold");
        cr_expect_eq(p.tiles_per_item, 4);
        cr_expect_eq(p.local[0], 2, "8 / pt position tiles per work-group: %d", p.local[0]);
        cr_expect_eq(p.ci_chunk, blocks[i], "L1 %llu: chunk %d", (unsigned long long)sizes[i],
                     p.ci_chunk);
        cr_expect_leq((uint64_t)p.ci_chunk * STARVED_BYTES_PER_CHANNEL, sizes[i] / 4);
        cr_expect_gt((uint64_t)p.ci_chunk * 2 * STARVED_BYTES_PER_CHANNEL, sizes[i] / 4);
    }
    /* A device that does not say: 32 KiB, the L1d of current x86 and Arm cores. */
    cr_expect_eq(default_plan(0, &params).ci_chunk, 16);
}

/* Only where it measured faster: not the layers with channels to fill the vectors, nor those with
 * fewer input channels than two blocks (depthwise: one per group). */
Test(caches, other_layers_stay_unblocked) {
    clconvt_params wide;
    clconvt_params_init(&wide, 512, 256, 16);
    wide.stride = 8;
    wide.layout = CLCONVT_LAYOUT_NCL;
    clconvt_params depthwise;
    clconvt_params_init(&depthwise, 512, 512, 6);
    depthwise.stride = 3;
    depthwise.groups = 512;
    depthwise.layout = CLCONVT_LAYOUT_NCL;
    clconvt_params narrow = starved_layer();
    narrow.in_channels = 24; /* fewer than two blocks of 16 */
    const clconvt_params *layers[] = {&wide, &depthwise, &narrow};
    for (size_t i = 0; i < 3; ++i) {
        const plan p = default_plan(32u << 10, layers[i]);
        cr_assert_str_eq(p.path->name, "phase_fold", "layer %zu", i);
        cr_expect(p.tiles_per_item <= 1 && p.ci_chunk == 0, "layer %zu: pt %d chunk %d", i,
                  p.tiles_per_item, p.ci_chunk);
    }
}

/* The block helper itself: a plan of more tiles has more inputs per channel, so smaller blocks. */
Test(caches, block_channels_shrink_with_the_tiles) {
    const clconvt_params params = starved_layer();
    const device_caps *cpu = &clconvt_device_profile_named("cpu")->caps;
    plan p = default_plan(32u << 10, &params);
    const uint64_t four = clconvt_phase_fold_block_channels(cpu, &p, &params);
    p.tiles_per_item = 16;
    cr_expect_lt(clconvt_phase_fold_block_channels(cpu, &p, &params), four);
}

/* clconvt-tune's cache-block candidates (its chunk axis's TUNE_CACHE_BLOCK): the plan check with
 * CLCONVT_EXPERIMENTAL_PLAN_CACHE_BLOCK gives a cache-blocked phase_fold plan the block the
 * planner sizes for the device and the tile, whatever chunk the text says (3: never a block), and
 * leaves a plan without the blocked form as it is. */
Test(caches, tuner_blocks_are_sized_from_the_device) {
    const clconvt_device *device = test_device();
    const device_caps caps = clconvt_device_caps(device);
    const clconvt_params params = starved_layer();
    const char *blocked = "phase_fold:vec=8,p=16,c=1,lp=2,lc=1,chunk=3,pt=4";
    plan p;
    cr_assert_eq(clconvt_plan_parse_for_device(device, &params, "plan", blocked, &p),
                 CLCONVT_SUCCESS, "%s", clconvt_last_error());
    p.ci_chunk = (int)clconvt_phase_fold_block_channels(&caps, &p, &params);
    cr_assert_neq(p.ci_chunk, 3);
    char expected[CLCONVT_EXPERIMENTAL_PLAN_MAX], got[CLCONVT_EXPERIMENTAL_PLAN_MAX];
    clconvt_plan_format(&p, expected, sizeof expected);
    cr_assert_eq(clconvt_experimental_plan_check(device, &params, blocked,
                                                 CLCONVT_EXPERIMENTAL_PLAN_CACHE_BLOCK, got,
                                                 sizeof got),
                 CLCONVT_SUCCESS, "%s", clconvt_last_error());
    cr_expect_str_eq(got, expected);
    const char *plain = "phase_fold:vec=8,p=16,c=1,chunk=3";
    char unflagged[CLCONVT_EXPERIMENTAL_PLAN_MAX];
    cr_assert_eq(
        clconvt_experimental_plan_check(device, &params, plain, 0, unflagged, sizeof unflagged),
        CLCONVT_SUCCESS);
    cr_assert_eq(clconvt_experimental_plan_check(device, &params, plain,
                                                 CLCONVT_EXPERIMENTAL_PLAN_CACHE_BLOCK, got,
                                                 sizeof got),
                 CLCONVT_SUCCESS);
    cr_expect_str_eq(got, unflagged);
}
