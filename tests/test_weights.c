/*
 * Weight staging (src/weights.c) against the plain definition: every element goes to
 * the path's packed_index in fp32 (and, unpacked from there, to (K, Cout_g, Cin) order in the
 * layer's dtype, as clconvt_layer_get_weight gives it), rounded
 * once to the layer's dtype (after weight norm's factor, in double), padding zero. Every path of
 * the table, on CPU- and GPU-profile plans, both orders, every host and layer dtype, shapes that
 * leave partial blocks. A path added to the table is covered here without a line changing.
 */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "device_profiles.h"
#include "paths/paths.h"
#include "plan.h"
#include "reference.h"
#include "weights.h"

/* Shapes: Cin not a multiple of the 64-channel block, Cout_g not one of the channel block, a
 * long kernel (several channel blocks), groups, depthwise, K 1. */
static const struct {
    int64_t cin, cout, k, stride, groups;
} shapes[] = {
    {70, 45, 5, 3, 1}, {72, 48, 7, 2, 3}, {16, 16, 4, 2, 16}, {130, 9, 40, 8, 1},
    {5, 3, 1, 1, 1},   {67, 2, 16, 8, 1}, {33, 6, 15, 4, 3},
};

/* The value staging must produce for element i of the host array. */
static float expected_value(const void *host, clconvt_dtype host_dtype, size_t i,
                            const double *scale, int64_t ci, clconvt_dtype dtype) {
    float v, r;
    unsigned char held[4];
    cr_assert_eq(clconvt_convert((const char *)host + i * clconvt_dtype_size(host_dtype),
                                 host_dtype, &v, CLCONVT_F32, 1),
                 CLCONVT_SUCCESS);
    if (scale != NULL)
        v = (float)((double)v * scale[ci]);
    cr_assert_eq(clconvt_convert(&v, CLCONVT_F32, held, dtype, 1), CLCONVT_SUCCESS);
    cr_assert_eq(clconvt_convert(held, dtype, &r, CLCONVT_F32, 1), CLCONVT_SUCCESS);
    return r;
}

/* Stage one case (in `parts` parts; 0: as clconvt_weights_stage chooses) and compare both copies
 * with the definition, bit for bit. */
static void check_case(const clconvt_params *p, const plan *pl, clconvt_weight_order order,
                       clconvt_dtype host_dtype, int scaled, uint64_t seed, int parts) {
    const int64_t cin = p->in_channels, cout_g = p->out_channels / p->groups,
                  k_len = p->kernel_length;
    const int64_t cin_g = cin / p->groups;
    const size_t count = (size_t)(cin * cout_g * k_len),
                 packed_count = clconvt_plan_packed_count(pl, p);
    float *f = malloc(count * sizeof *f);
    void *host = malloc(count * clconvt_dtype_size(host_dtype));
    float *packed = malloc(packed_count * sizeof *packed),
          *want = calloc(packed_count, sizeof *want);
    void *want_max = malloc(count * clconvt_dtype_size(p->dtype));
    double *scale = malloc((size_t)cin * sizeof *scale);
    cr_assert(f && host && packed && want && want_max && scale);
    for (size_t i = 0; i < count; ++i)
        f[i] = (float)((double)(reference_random_next(&seed) >> 40) / (1 << 23) - 1.0);
    /* Values whose way back from the packed copy to the dtype is the least obvious: NaNs with
     * payloads, infinities, subnormals of each dtype, a value that rounds up to the next binade. */
    static const uint32_t special[] = {0x7fc12345u, 0xffa00001u, 0x7f800000u, 0xff800000u,
                                       0x00000001u, 0x80000400u, 0x33800000u, 0x3f7fffffu};
    for (size_t i = 0; i < sizeof special / sizeof special[0] && i < count; ++i)
        memcpy(&f[(i * 7919u) % count], &special[i], sizeof special[i]);
    for (int64_t ci = 0; ci < cin; ++ci)
        scale[ci] = 0.5 + (double)(reference_random_next(&seed) >> 44) / (1 << 20);
    cr_assert_eq(clconvt_convert(f, CLCONVT_F32, host, host_dtype, count), CLCONVT_SUCCESS);
    memset(packed, 0xa5, packed_count * sizeof *packed); /* padding must be cleared */
    for (int64_t ci = 0; ci < cin; ++ci)
        for (int64_t c = 0; c < cout_g; ++c)
            for (int64_t k = 0; k < k_len; ++k) {
                const size_t pytorch = (size_t)((ci * cout_g + c) * k_len + k);
                const size_t max = (size_t)((k * cout_g + c) * cin + ci);
                const float v = expected_value(host, host_dtype,
                                               order == CLCONVT_WEIGHT_PYTORCH ? pytorch : max,
                                               scaled ? scale : NULL, ci, p->dtype);
                cr_assert_eq(clconvt_convert(&v, CLCONVT_F32,
                                             (char *)want_max + max * clconvt_dtype_size(p->dtype),
                                             p->dtype, 1),
                             CLCONVT_SUCCESS);
                want[clconvt_plan_packed_index(pl, p, ci / cin_g, k, ci % cin_g, c)] = v;
            }
    const weight_source src = {host, order, host_dtype, scaled ? scale : NULL};
    cr_assert_eq(parts == 0 ? clconvt_weights_stage(p, pl, &src, packed)
                            : clconvt_weights_stage_in_parts(p, pl, &src, packed, parts),
                 CLCONVT_SUCCESS);
    const size_t max_bytes = count * clconvt_dtype_size(p->dtype);
    void *got_max = malloc(max_bytes);
    cr_assert(got_max);
    cr_assert_eq(clconvt_weights_unpack(p, pl, packed, got_max), CLCONVT_SUCCESS);
    char text[128];
    clconvt_plan_format(pl, text, sizeof text);
    cr_expect(memcmp(got_max, want_max, max_bytes) == 0,
              "%s Cin %lld Cout %lld K %lld groups %lld order %d host dtype %d dtype %d scaled %d: "
              "MAX order unpacked from the packed copy differs",
              text, (long long)cin, (long long)p->out_channels, (long long)k_len,
              (long long)p->groups, (int)order, (int)host_dtype, (int)p->dtype, scaled);
    cr_expect(memcmp(packed, want, packed_count * sizeof *packed) == 0,
              "%s Cin %lld Cout %lld K %lld groups %lld order %d host dtype %d dtype %d scaled %d: "
              "packed copy differs",
              text, (long long)cin, (long long)p->out_channels, (long long)k_len,
              (long long)p->groups, (int)order, (int)host_dtype, (int)p->dtype, scaled);
    free(got_max);
    free(f), free(host), free(packed), free(want), free(want_max), free(scale);
}

/* Each path forced on each shape it takes, with the plan a CPU and a GPU would get. */
static int cases_of(const kernel_path *path, clconvt_dtype dtype) {
    static const char *const profiles[] = {"cpu", "sm90"};
    int cases = 0;
    for (size_t s = 0; s < 2 * (sizeof shapes / sizeof shapes[0]); ++s)
        for (size_t q = 0; q < sizeof profiles / sizeof profiles[0]; ++q) {
            clconvt_params p;
            const size_t shape = s / 2;
            clconvt_params_init(&p, shapes[shape].cin, shapes[shape].cout, shapes[shape].k);
            p.stride = shapes[shape].stride;
            p.groups = shapes[shape].groups;
            p.layout = s % 2 ? CLCONVT_LAYOUT_NLC : CLCONVT_LAYOUT_NCL;
            p.dtype = dtype;
            const device_profile *profile = clconvt_device_profile_named(profiles[q]);
            cr_assert_not_null(profile);
            plan pl;
            if (clconvt_plan_parse(&profile->caps, &p, "test", path->name, &pl) != CLCONVT_SUCCESS)
                continue;
            for (int order = 0; order < 2; ++order)
                for (int host_dtype = 0; host_dtype < 3; ++host_dtype)
                    for (int scaled = 0; scaled < 2; ++scaled)
                        check_case(&p, &pl, (clconvt_weight_order)order, (clconvt_dtype)host_dtype,
                                   scaled, 1 + s + 7 * q, 0);
            ++cases;
        }
    return cases;
}

Test(weights, every_path_stages_as_defined) {
    for (size_t i = 0; i < clconvt_path_count; ++i) {
        int cases = 0;
        for (int dtype = 0; dtype < 3; ++dtype)
            cases += cases_of(clconvt_paths[i], (clconvt_dtype)dtype);
        cr_expect_gt(cases, 0, "%s takes none of the test shapes", clconvt_paths[i]->name);
    }
}

/* A weight of five channel blocks (the last partial) staged in 1 to 4 parts, each but the first on
 * a thread of its own: the parts take unequal runs of blocks, and a padded copy is zeroed in parts
 * before any weight is written. The copy must be the definition's whatever the split. */
Test(weights, staging_in_parts_matches_the_definition) {
    for (size_t i = 0; i < clconvt_path_count; ++i)
        for (int parts = 1; parts <= 4; ++parts) {
            clconvt_params p;
            clconvt_params_init(&p, 300, 45, 5);
            p.stride = 3;
            plan pl;
            if (clconvt_plan_parse(&clconvt_device_profile_named("cpu")->caps, &p, "test",
                                   clconvt_paths[i]->name, &pl) != CLCONVT_SUCCESS)
                continue;
            check_case(&p, &pl, CLCONVT_WEIGHT_PYTORCH, CLCONVT_F32, 1, 40 + parts, parts);
            check_case(&p, &pl, CLCONVT_WEIGHT_MAX, CLCONVT_BF16, 0, 50 + parts, parts);
        }
}

/* staging reads packed offsets as a part in (g, k, ci_local) plus a part in c (weights.h): every
 * path's index function must be of that form. */
Test(weights, packed_index_separates_output_channels) {
    for (size_t i = 0; i < clconvt_path_count; ++i)
        for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; ++s) {
            clconvt_params p;
            clconvt_params_init(&p, shapes[s].cin, shapes[s].cout, shapes[s].k);
            p.stride = shapes[s].stride;
            p.groups = shapes[s].groups;
            plan pl;
            if (clconvt_plan_parse(&clconvt_device_profile_named("cpu")->caps, &p, "test",
                                   clconvt_paths[i]->name, &pl) != CLCONVT_SUCCESS)
                continue;
            const int64_t cin_g = p.in_channels / p.groups, cout_g = p.out_channels / p.groups;
            const int64_t origin = clconvt_plan_packed_index(&pl, &p, 0, 0, 0, 0);
            for (int64_t g = 0; g < p.groups; ++g)
                for (int64_t k = 0; k < p.kernel_length; ++k)
                    for (int64_t ci = 0; ci < cin_g; ++ci) {
                        const int64_t row = clconvt_plan_packed_index(&pl, &p, g, k, ci, 0);
                        for (int64_t c = 0; c < cout_g; ++c)
                            cr_assert_eq(clconvt_plan_packed_index(&pl, &p, g, k, ci, c),
                                         row + clconvt_plan_packed_index(&pl, &p, 0, 0, 0, c) -
                                             origin,
                                         "%s", clconvt_paths[i]->name);
                    }
        }
}
