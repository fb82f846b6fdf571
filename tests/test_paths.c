/*
 * The table of kernel paths (src/paths/paths.h), iterated: every path of the build is complete,
 * named in the fuzz dictionary, refused by name where it does not fit, and, forced on a layer it
 * takes, gives the float64 reference's result on the device. A path added to the table is tested
 * here without a line of this file changing.
 */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clconvt.h"
#include "internal_device.h"
#include "device_profiles.h"
#include "paths/gpu_tiles.h"
#include "paths/paths.h"
#include "plan.h"
#include "plan_choice.h"
#include "reference.h"

Test(paths, every_descriptor_is_complete) {
    cr_assert_gt(clconvt_path_count, 0);
    for (size_t i = 0; i < clconvt_path_count; ++i) {
        const kernel_path *p = clconvt_paths[i];
        cr_assert(p->name && p->source && p->kernel, "path %zu: name, source and kernel", i);
        cr_assert_eq(p->usual.path, p, "%s: its usual plan is of another path", p->name);
        cr_assert(p->narrow_usual.path == NULL || p->narrow_usual.path == p,
                  "%s: its narrow usual plan is of another path", p->name);
        cr_assert(p->suits && p->check && p->packed_dims && p->packed_index && p->local_size &&
                      p->private_memory && p->build_options && p->enqueue,
                  "%s: a function is missing", p->name);
        if (p->enqueue == clconvt_path_enqueue_phase)
            cr_assert(p->position_tiles && p->batch_items, "%s: the phase enqueue needs its grid",
                      p->name);
        cr_assert_eq(clconvt_path_named(p->name, strlen(p->name)), p, "%s: found by name", p->name);
        for (size_t j = 0; j < i; ++j)
            cr_assert_str_neq(p->name, clconvt_paths[j]->name, "two paths named %s", p->name);
    }
}

/* The fuzzer's dictionary (tests/fuzz/dict/plan.dict) names every path. */
Test(paths, fuzz_dictionary_names_every_path) {
    const char *data = getenv("CLCONVT_TEST_DATA");
    cr_assert_not_null(data, "CLCONVT_TEST_DATA is not set");
    char path[4096], text[8192];
    snprintf(path, sizeof path, "%s/../fuzz/dict/plan.dict", data);
    FILE *file = fopen(path, "r");
    cr_assert_not_null(file, "%s", path);
    const size_t length = fread(text, 1, sizeof text - 1, file);
    fclose(file);
    text[length] = '\0';
    for (size_t i = 0; i < clconvt_path_count; ++i) {
        char quoted[128];
        snprintf(quoted, sizeof quoted, "\"%s\"\n", clconvt_paths[i]->name);
        cr_expect(strstr(text, quoted) != NULL, "%s does not name %s", path,
                  clconvt_paths[i]->name);
    }
}

/* The first of a few small layers (NCL, NLC, depthwise NLC; stride 3, dilation 1, bias) whose
 * plan the path takes: its index, or -1. */
static int layer_for(const kernel_path *path, clconvt_params *p) {
    for (int which = 0; which < 3; ++which) {
        clconvt_params_init(p, which == 2 ? 16 : 8, which == 2 ? 16 : 12, 5);
        p->stride = 3;
        p->pad_left = 1;
        p->has_bias = 1;
        p->layout = which == 0 ? CLCONVT_LAYOUT_NCL : CLCONVT_LAYOUT_NLC;
        p->groups = which == 2 ? 16 : 1;
        plan parsed;
        if (clconvt_plan_parse_for_device(test_device(), p, "test", path->name, &parsed) ==
            CLCONVT_SUCCESS)
            return which;
    }
    return -1;
}

/* The normalised error of a forward of batch samples of length_in on layer p with a forced plan,
 * against the float64 reference (random data from seed). */
static double forward_error(const clconvt_params *p, const char *plan_text, int64_t batch,
                            int64_t length_in, uint64_t seed) {
    const int64_t cout_g = p->out_channels / p->groups;
    int64_t length_out;
    cr_assert_eq(clconvt_output_length(p, length_in, &length_out), CLCONVT_SUCCESS);
    const size_t nx = (size_t)(batch * p->in_channels * length_in);
    const size_t nw = (size_t)(p->in_channels * cout_g * p->kernel_length);
    const size_t ny = (size_t)(batch * p->out_channels * length_out), nb = (size_t)p->out_channels;
    float *x = malloc(nx * sizeof *x), *w = malloc(nw * sizeof *w), *b = malloc(nb * sizeof *b);
    float *y = malloc(ny * sizeof *y);
    double *xd = malloc(nx * sizeof *xd), *wd = malloc(nw * sizeof *wd);
    double *bd = malloc(nb * sizeof *bd), *yd = malloc(ny * sizeof *yd);
    double *ref = malloc(ny * sizeof *ref);
    cr_assert(x && w && b && y && xd && wd && bd && yd && ref);
    uint64_t state = seed;
    for (size_t k = 0; k < nx + nw + nb; ++k) {
        const double v = (double)(reference_random_next(&state) >> 40) / (1 << 23) - 1.0;
        if (k < nx)
            x[k] = (float)v, xd[k] = (float)v;
        else if (k < nx + nw)
            w[k - nx] = (float)v, wd[k - nx] = (float)v;
        else
            b[k - nx - nw] = (float)v, bd[k - nx - nw] = (float)v;
    }
    clconvt_layer *layer = NULL;
    cr_assert_eq(clconvt_layer_create_with_plan(test_device(), p, plan_text, &layer),
                 CLCONVT_SUCCESS, "%s: %s", plan_text, clconvt_last_error());
    cr_assert_eq(clconvt_layer_set_weight(layer, w, CLCONVT_WEIGHT_PYTORCH, CLCONVT_F32),
                 CLCONVT_SUCCESS, "%s", clconvt_last_error());
    if (p->has_bias)
        cr_assert_eq(clconvt_layer_set_bias(layer, b, CLCONVT_F32), CLCONVT_SUCCESS);
    cr_assert_eq(clconvt_layer_forward_host(layer, x, y, batch, length_in), CLCONVT_SUCCESS,
                 "%s: %s", plan_text, clconvt_last_error());
    clconvt_layer_release(layer);
    cr_assert_eq(reference_forward(p, xd, wd, p->has_bias ? bd : NULL, batch, length_in, ref), 0);
    for (size_t k = 0; k < ny; ++k)
        yd[k] = y[k];
    const double error = reference_normalised_error(yd, ref, ny);
    free(x), free(w), free(b), free(y), free(xd), free(wd), free(bd), free(yd), free(ref);
    return error;
}

/* Every path, forced by name, against the float64 reference. */
Test(paths, every_path_matches_the_reference) {
    for (size_t i = 0; i < clconvt_path_count; ++i) {
        const kernel_path *path = clconvt_paths[i];
        clconvt_params p;
        cr_assert_geq(layer_for(path, &p), 0, "%s takes none of the test layers", path->name);
        const double error = forward_error(&p, path->name, 2, 23, 11 + i);
        cr_expect_leq(error, reference_error_bound(CLCONVT_F32), "%s: normalised error %g",
                      path->name, error);
    }
}

/* phase_fold runs the samples x position tiles in the grid's dimension 0 when a channel tile's
 * weights exceed 32 KiB (src/paths/phase_fold.c): those layers, over several samples and border
 * tiles of every cut, give the reference's result; smaller ones keep the batch in dimension 2. */
Test(paths, phase_fold_folds_the_batch_into_positions) {
    clconvt_params p;
    /* 1024 input channels: over 32 KiB per channel tile with one vector of 8 too (AVX2's tiles) */
    clconvt_params_init(&p, 1024, 16, 16);
    p.stride = 8;
    p.pad_left = p.pad_right = 4;
    p.has_bias = 1;
    p.layout = CLCONVT_LAYOUT_NCL;
    plan parsed;
    /* lp=1: no work-items past the last tile, which could hide a wrong tile count */
    const char *plans[] = {"phase_fold", "phase_fold:p=5,pt=3,chunk=64,lp=1,lc=1",
                           "phase_fold:vec=8,p=7"};
    for (size_t i = 0; i < sizeof plans / sizeof plans[0]; ++i) {
        cr_assert_eq(clconvt_plan_parse_for_device(test_device(), &p, "test", plans[i], &parsed),
                     CLCONVT_SUCCESS, "%s", clconvt_last_error());
        size_t global[3], local[3];
        clconvt_path_grid(&parsed, &p, 3, 100, 4, global, local);
        cr_expect_eq(global[2], 1u, "%s", plans[i]);
        for (int64_t length_in = 1; length_in <= 13; length_in += 3) {
            const double error = forward_error(&p, plans[i], 3, length_in, 5 + (uint64_t)length_in);
            cr_expect_leq(error, reference_error_bound(CLCONVT_F32), "%s, L_in %lld: error %g",
                          plans[i], (long long)length_in, error);
        }
    }
    p.in_channels = 8; /* 8 x 2 taps x 8 channels x 8 phases x 4 bytes = 4 KiB */
    cr_assert_eq(clconvt_plan_parse_for_device(test_device(), &p, "test", "phase_fold", &parsed),
                 CLCONVT_SUCCESS);
    size_t global[3], local[3];
    clconvt_path_grid(&parsed, &p, 3, 100, 4, global, local);
    cr_expect_eq(global[2], 3u);
    cr_expect_leq(forward_error(&p, "phase_fold", 3, 10, 3), reference_error_bound(CLCONVT_F32));
}

/* A plan string naming a path of another build (or none) is refused with a sentence that says
 * which paths there are, or why the named one is absent. */
Test(paths, unknown_and_absent_paths_are_refused_by_name) {
    clconvt_params p;
    clconvt_params_init(&p, 8, 8, 3);
    static const char *const names[] = {"phase_none", "gemm"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; ++i) {
        const int present = clconvt_path_named(names[i], strlen(names[i])) != NULL;
        const char *absent = clconvt_path_absent(names[i], strlen(names[i]));
        cr_assert(!(present && absent), "%s is both present and absent", names[i]);
        if (present)
            continue;
        plan parsed;
        cr_assert_eq(clconvt_plan_parse_for_device(test_device(), &p, "test", names[i], &parsed),
                     absent != NULL ? CLCONVT_ERROR_UNSUPPORTED : CLCONVT_ERROR_INVALID_ARGUMENT);
        const char *message = clconvt_last_error();
        if (absent != NULL)
            cr_expect(strstr(message, "not in this build") != NULL, "%s", message);
        else
            for (size_t k = 0; k < clconvt_path_count; ++k)
                cr_expect(strstr(message, clconvt_paths[k]->name) != NULL, "%s: %s", message,
                          clconvt_paths[k]->name);
    }
}

/* ---- GPU tiles (src/paths/gpu_tiles.c) ----------------------------------------------------- */

/* Layers every path takes: NCL and NLC with many channels, depthwise NLC. */
static clconvt_params gpu_test_layer(int which) {
    clconvt_params p;
    clconvt_params_init(&p, which == 2 ? 64 : 256, which == 2 ? 64 : 128, 16);
    p.stride = 8;
    p.pad_left = p.pad_right = 4;
    p.layout = which == 0 ? CLCONVT_LAYOUT_NCL : CLCONVT_LAYOUT_NLC;
    p.groups = which == 2 ? 64 : 1;
    return p;
}

/* On every GPU profile, the built-in plan and each path forced by name hold at most the GPU
 * budget of accumulators (what tests/gpu/ found to compile without spills); on the CPU profile the
 * plans are the CPU's own (phase_pos forced: its usual 32 x 4 tile of 16-wide vectors). */
Test(paths, gpu_plans_keep_within_the_register_budget) {
    const char *gpus[] = {"sm90", "gfx1030", "gfx90a", "xe"};
    for (size_t g = 0; g < sizeof gpus / sizeof gpus[0]; ++g) {
        const device_caps *caps = &clconvt_device_profile_named(gpus[g])->caps;
        for (int which = 0; which < 3; ++which) {
            const clconvt_params params = gpu_test_layer(which);
            plan p;
            clconvt_plan_default(caps, &params, &p);
            cr_expect_null(clconvt_gpu_over_budget(caps, &params, &p), "%s: default %s", gpus[g],
                           p.path->name);
            for (size_t i = 0; i < clconvt_path_count; ++i)
                if (clconvt_plan_parse(caps, &params, "test", clconvt_paths[i]->name, &p) ==
                    CLCONVT_SUCCESS)
                    cr_expect_leq(p.path->private_memory(&p, &params).accumulators,
                                  CLCONVT_GPU_ACCUMULATORS_MAX, "%s: %s forced", gpus[g],
                                  clconvt_paths[i]->name);
        }
    }
    const device_caps *cpu = &clconvt_device_profile_named("cpu")->caps;
    const clconvt_params ncl = gpu_test_layer(0);
    plan p;
    clconvt_plan_default(cpu, &ncl, &p);
    cr_expect_str_eq(p.path->name, "phase_fold");
    cr_expect(clconvt_plan_parse(cpu, &ncl, "test", "phase_pos", &p) == CLCONVT_SUCCESS);
    cr_expect(p.vec == 16 && p.tile_p == 32 && p.tile_c == 4, "cpu: %d %d %d", p.vec, p.tile_p,
              p.tile_c);
}

/* The tuner's rule (CLCONVT_EXPERIMENTAL_PLAN_REGISTER_BUDGET): a tile over the budget is refused
 * on a GPU, never on a CPU. */
Test(paths, over_budget_tiles_are_refused_on_gpus_only) {
    const clconvt_params params = gpu_test_layer(0);
    const device_caps *sm90 = &clconvt_device_profile_named("sm90")->caps;
    const device_caps *cpu = &clconvt_device_profile_named("cpu")->caps;
    plan p;
    cr_assert_eq(clconvt_plan_parse(sm90, &params, "test", "phase_pos:vec=16,p=32,c=12", &p),
                 CLCONVT_SUCCESS);
    cr_expect_not_null(clconvt_gpu_over_budget(sm90, &params, &p));
    cr_expect_null(clconvt_gpu_over_budget(cpu, &params, &p));
    cr_assert_eq(clconvt_plan_parse(sm90, &params, "test", "phase_pos:vec=8,p=8,c=4", &p),
                 CLCONVT_SUCCESS);
    cr_expect_null(clconvt_gpu_over_budget(sm90, &params, &p));
}

/* ---- CPUs of narrow vectors (clconvt_path_narrow_cpu) -------------------------------------- */

/* An upsampler of stride s with K = 2 s (HiFi-GAN's, EnCodec's), and its plan on profile. */
static plan narrow_test_plan(const char *profile, int64_t s, clconvt_layout layout,
                             clconvt_params *params) {
    clconvt_params_init(params, 256, 128, 2 * s);
    params->stride = s;
    params->layout = layout;
    plan p;
    clconvt_plan_default(&clconvt_device_profile_named(profile)->caps, params, &p);
    return p;
}

/* On AVX2 (16 registers of 8 floats) each path's register tile holds at most 12 vectors of 8,
 * phase_fold takes vectors of 8 in the blocked form where they fill the lanes as well as 16
 * would, and 16 where they fill more (strides 3 and 5); on AVX-512 the tiles are as before. */
Test(paths, narrow_cpus_get_tiles_of_their_registers) {
    const device_caps *avx2 = &clconvt_device_profile_named("cpu-avx2")->caps;
    const device_caps *avx512 = &clconvt_device_profile_named("cpu")->caps;
    cr_assert(clconvt_path_narrow_cpu(avx2) && !clconvt_path_narrow_cpu(avx512));
    clconvt_params params;
    for (int64_t s = 2; s <= 8; ++s) {
        const plan p = narrow_test_plan("cpu-avx2", s, CLCONVT_LAYOUT_NCL, &params);
        const int vec = s == 3 || s == 5 ? 16 : 8;
        cr_expect_str_eq(p.path->name, "phase_fold", "stride %lld", (long long)s);
        cr_expect(p.vec == vec && p.tile_p == 6 && p.tile_c == 96 / (6 * vec) * (vec / s),
                  "stride %lld: vec %d p %d c %d", (long long)s, p.vec, p.tile_p, p.tile_c);
        cr_expect_leq(p.path->private_memory(&p, &params).accumulators,
                      CLCONVT_NARROW_CPU_ACCUMULATORS, "stride %lld", (long long)s);
        if (vec == 8)
            cr_expect(p.tiles_per_item == 4 && p.ci_chunk >= 4 && 256 >= 2 * p.ci_chunk,
                      "stride %lld: pt %d chunk %d", (long long)s, p.tiles_per_item, p.ci_chunk);
        else
            cr_expect(p.tiles_per_item <= 1 && p.ci_chunk == 0, "stride %lld", (long long)s);
        const plan wide = narrow_test_plan("cpu", s, CLCONVT_LAYOUT_NCL, &params);
        cr_expect(wide.vec == 16 && wide.tile_p == 6 && wide.tile_c == 4 * (16 / s) &&
                      wide.tiles_per_item <= 1,
                  "cpu, stride %lld: vec %d p %d c %d pt %d", (long long)s, wide.vec, wide.tile_p,
                  wide.tile_c, wide.tiles_per_item);
    }
    plan p = narrow_test_plan("cpu-avx2", 8, CLCONVT_LAYOUT_NLC, &params);
    cr_expect(strcmp(p.path->name, "phase_chan") == 0 && p.vec == 8 && p.tile_p == 6 &&
                  p.tile_c == 16,
              "nlc: %s vec %d p %d c %d", p.path->name, p.vec, p.tile_p, p.tile_c);
    p = narrow_test_plan("cpu", 8, CLCONVT_LAYOUT_NLC, &params);
    cr_expect(p.vec == 16 && p.tile_p == 8 && p.tile_c == 32, "cpu nlc");
    /* Forced by name, a path starts from the tile of the device's registers (phase_fold: vectors
     * of 16, which hold every stride it takes, and one vector of channels). */
    narrow_test_plan("cpu-avx2", 8, CLCONVT_LAYOUT_NCL, &params);
    cr_assert_eq(clconvt_plan_parse(avx2, &params, "test", "phase_pos", &p), CLCONVT_SUCCESS);
    cr_expect(p.vec == 8 && p.tile_p == 24 && p.tile_c == 4, "phase_pos: %d %d %d", p.vec, p.tile_p,
              p.tile_c);
    cr_assert_eq(clconvt_plan_parse(avx2, &params, "test", "phase_fold:p=4", &p), CLCONVT_SUCCESS);
    cr_expect(p.vec == 16 && p.tile_p == 4 && p.tile_c == 2, "phase_fold:p=4: %d %d %d", p.vec,
              p.tile_p, p.tile_c);
    cr_assert_eq(clconvt_plan_parse(avx512, &params, "test", "phase_fold:p=4", &p),
                 CLCONVT_SUCCESS);
    cr_expect(p.vec == 16 && p.tile_c == 8, "cpu phase_fold:p=4: %d %d", p.vec, p.tile_c);
    params.stride = 9; /* over 8: vectors of 16, forced as built in */
    cr_expect_eq(clconvt_plan_parse(avx2, &params, "test", "phase_fold", &p), CLCONVT_SUCCESS);
}

/* The AVX2 plans of small layers of each kind, forced on the test device (whatever its vectors),
 * give the reference's result: the blocked form in vectors of 8 over border tiles, vectors of 16
 * at stride 5, phase_chan and phase_pos. */
Test(paths, narrow_cpu_plans_match_the_reference) {
    const device_caps *avx2 = &clconvt_device_profile_named("cpu-avx2")->caps;
    const struct {
        int64_t cin, cout, k, s;
        clconvt_layout layout;
    } layers[] = {{80, 12, 8, 4, CLCONVT_LAYOUT_NCL},
                  {72, 9, 10, 5, CLCONVT_LAYOUT_NCL},
                  {20, 24, 16, 8, CLCONVT_LAYOUT_NLC},
                  {12, 7, 40, 20, CLCONVT_LAYOUT_NCL}};
    const char *expected[] = {"phase_fold:vec=8,", "phase_fold:vec=16,", "phase_chan:vec=8,",
                              "phase_pos:vec=8,"};
    for (size_t i = 0; i < sizeof layers / sizeof layers[0]; ++i) {
        clconvt_params params;
        clconvt_params_init(&params, layers[i].cin, layers[i].cout, layers[i].k);
        params.stride = layers[i].s;
        params.pad_left = params.pad_right = 1;
        params.has_bias = 1;
        params.layout = layers[i].layout;
        plan p;
        clconvt_plan_default(avx2, &params, &p);
        char text[256];
        clconvt_plan_format(&p, text, sizeof text);
        cr_expect(strncmp(text, expected[i], strlen(expected[i])) == 0, "%s", text);
        if (i == 0)
            cr_expect(p.tiles_per_item == 4, "%s: not blocked", text);
        const double error = forward_error(&params, text, 2, 29, 101 + i);
        cr_expect_leq(error, reference_error_bound(CLCONVT_F32), "%s: normalised error %g", text,
                      error);
    }
}

/* On a CPU of 16-float vectors, a channel tile whose weights outgrow a quarter of the core's L2 is
 * reduced in blocks of input channels (bigvgan's upsamplers on the cpu profile's 1 MiB L2); the
 * smaller ones, one whose blocks would be under 128 channels (32 taps per phase), and a device of
 * unknown L2 keep the plain form. The blocked form with one register tile per work-item matches
 * the reference, blocks that do not divide the channels included. */
Test(paths, wide_cpus_block_tiles_that_outgrow_the_l2) {
    const device_caps *wide = &clconvt_device_profile_named("cpu")->caps;
    const struct {
        int64_t cin, cout, k, s;
        int chunk;
    } layers[] = {
        {1536, 768, 8, 4, 512}, {768, 384, 8, 4, 256}, {512, 256, 16, 8, 0}, {384, 32, 64, 2, 0}};
    for (size_t i = 0; i < sizeof layers / sizeof layers[0]; ++i) {
        clconvt_params params;
        clconvt_params_init(&params, layers[i].cin, layers[i].cout, layers[i].k);
        params.stride = layers[i].s;
        params.layout = CLCONVT_LAYOUT_NCL;
        plan p;
        clconvt_plan_default(wide, &params, &p);
        cr_expect(strcmp(p.path->name, "phase_fold") == 0 && p.ci_chunk == layers[i].chunk &&
                      p.tiles_per_item <= 1,
                  "%lld -> %lld: %s chunk %d pt %d", (long long)layers[i].cin,
                  (long long)layers[i].cout, p.path->name, p.ci_chunk, p.tiles_per_item);
        device_caps unknown = *wide;
        unknown.core_l2_bytes = 0;
        clconvt_plan_default(&unknown, &params, &p);
        cr_expect_eq(p.ci_chunk, 0, "unknown L2, %lld -> %lld", (long long)layers[i].cin,
                     (long long)layers[i].cout);
    }
    clconvt_params params;
    clconvt_params_init(&params, 80, 24, 8);
    params.stride = 4;
    params.pad_left = params.pad_right = 2;
    params.has_bias = 1;
    params.layout = CLCONVT_LAYOUT_NCL;
    const char *plans[] = {"phase_fold:vec=16,p=6,c=16,chunk=32",
                           "phase_fold:vec=16,p=6,c=8,chunk=16"};
    for (size_t i = 0; i < sizeof plans / sizeof plans[0]; ++i) {
        const double error = forward_error(&params, plans[i], 2, 53, 211 + i);
        cr_expect_leq(error, reference_error_bound(CLCONVT_F32), "%s: normalised error %g",
                      plans[i], error);
    }
}
