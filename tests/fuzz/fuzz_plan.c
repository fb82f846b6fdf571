/*
 * Fuzz target: the kernel-plan strings of clconvt_layer_create_with_plan and CLCONVT_PLAN
 * (clconvt_plan_parse and clconvt_plan_format in src/plan.c), for layers of fuzzed parameters on a
 * stand-in CPU or GPU device (no OpenCL: the planner reads only the device's type).
 *
 * Input: the layer's parameters (a few bytes, drawn so that edge values such as INT_MAX channels
 * come up), then the plan text.
 *
 * Properties checked besides "no crash, no sanitizer report", for layers that
 * clconvt_layer_create would accept (validated, channels, K, stride and dilation <= INT_MAX):
 * - the built-in plan and any accepted plan are sane: a known path, a vector width the path
 *   supports, positive tiles, Cout/groups (the depthwise path: the channels) padded up to the
 *   next multiple of the channel tile (never below), positive work-group extents;
 * - clconvt_plan_format's text parses back to the very same plan (clconvt_layer_plan promises a
 * string that clconvt_layer_create_with_plan takes);
 * - a refused plan gets CLCONVT_ERROR_INVALID_ARGUMENT and a message naming where it came from,
 *   or CLCONVT_ERROR_TOO_LARGE for channel counts whose padding to the tile passes INT_MAX (the
 *   built-in plan too: it may refuse nothing else).
 */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_support.h"
#include "paths/paths.h"
#include "plan_choice.h"
#include "tuning_db.h"

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc;
    (void)argv;
    /* The built-in plan, not whatever a tuning database on this machine says. */
    clconvt_tuning_db_set_enabled(0);
    return 0;
}

static int64_t draw_channels(const uint8_t **p, const uint8_t *end) {
    static const int64_t edges[] = {1,
                                    2,
                                    3,
                                    4,
                                    7,
                                    8,
                                    12,
                                    15,
                                    16,
                                    17,
                                    31,
                                    32,
                                    33,
                                    64,
                                    255,
                                    INT_MAX,
                                    INT_MAX - 1,
                                    INT_MAX - 31,
                                    (int64_t)INT_MAX + 1};
    const unsigned v = *p < end ? *(*p)++ : 0;
    return v < 128 ? edges[v % (sizeof edges / sizeof edges[0])] : (int64_t)(v - 127);
}

static void check_sane(const clconvt_params *params, const plan *p, const char *what) {
    /* The depthwise path tiles channels across groups: it pads the channel count instead. */
    int known = 0;
    for (size_t i = 0; i < clconvt_path_count; ++i)
        known |= p->path == clconvt_paths[i];
    FUZZ_CHECK(known, "%s: a path not in the table", what);
    const int64_t cout_g =
        p->path->channels_across_groups ? params->groups : params->out_channels / params->groups;
    FUZZ_CHECK(p->vec == 1 || p->vec == 4 || p->vec == 8 || p->vec == 16, "%s: vec %d", what,
               p->vec);
    FUZZ_CHECK(p->tile_p >= 1 && p->tile_c >= 1, "%s: tile %d x %d", what, p->tile_p, p->tile_c);
    FUZZ_CHECK(p->ci_chunk >= 0, "%s: chunk %d", what, p->ci_chunk);
    FUZZ_CHECK(p->cout_g_padded >= cout_g && p->cout_g_padded % p->tile_c == 0 &&
                   p->cout_g_padded - cout_g < p->tile_c,
               "%s: %lld channels (per group) padded to %lld for channel tile %d", what,
               (long long)cout_g, (long long)p->cout_g_padded, p->tile_c);
    for (int d = 0; d < 3; ++d)
        FUZZ_CHECK(p->local[d] >= 1, "%s: local[%d] = %d", what, d, p->local[d]);
}

/* clconvt_plan_format's text must parse back to the same plan. */
static void check_round_trip(const clconvt_device *device, const clconvt_params *params,
                             const plan *p, const char *what) {
    char text[512];
    clconvt_plan_format(p, text, sizeof text);
    plan again;
    memset(&again, 0, sizeof again);
    const clconvt_status st =
        clconvt_plan_parse_for_device(device, params, "round trip", text, &again);
    FUZZ_CHECK(st == CLCONVT_SUCCESS,
               "%s: clconvt_plan_format gave \"%s\", which clconvt_plan_parse refuses: %s", what,
               text, clconvt_last_error());
    FUZZ_CHECK(clconvt_plan_equal(&again, p), "%s: \"%s\" parses to another plan", what, text);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const uint8_t *p = data, *end = data + size;
    const unsigned flags = p < end ? *p++ : 0;
    clconvt_params params;
    const int64_t cin = draw_channels(&p, end), cout = draw_channels(&p, end);
    const int64_t k = p < end ? 1 + *p++ % 32 : 1;
    clconvt_params_init(&params, cin, cout, k);
    params.stride = p < end ? 1 + *p++ % 16 : 1;
    params.dilation = 1 + (flags >> 6);
    params.groups = flags & 1 ? cin : flags & 2 ? 2 : 1;
    params.layout = flags & 4 ? CLCONVT_LAYOUT_NCL : CLCONVT_LAYOUT_NLC;
    params.dtype = (clconvt_dtype)((flags >> 3) % 3);
    params.has_bias = (flags >> 5) & 1;
    /* What clconvt_layer_create accepts before it plans. */
    if (clconvt_params_validate(&params) != CLCONVT_SUCCESS || params.in_channels > INT_MAX ||
        params.out_channels > INT_MAX)
        return 0;

    clconvt_device device;
    memset(&device, 0, sizeof device);
    device.type = flags & 0x80 ? CL_DEVICE_TYPE_GPU : CL_DEVICE_TYPE_CPU;
    device.max_work_group_size = 4096;
    device.compute_units = 8;

    /* The built-in choice (no plan requested, CLCONVT_PLAN unset). It may refuse only channel
     * counts that, rounded up to a channel tile (at most 4096), would pass INT_MAX. */
    const int64_t most_channels =
        params.out_channels > params.groups ? params.out_channels / params.groups : params.groups;
    const int near_int_max = most_channels > INT_MAX - 4096;
    plan chosen;
    const clconvt_status chose = clconvt_plan_choose(&device, &params, NULL, &chosen, NULL);
    FUZZ_CHECK(chose == CLCONVT_SUCCESS || (chose == CLCONVT_ERROR_TOO_LARGE && near_int_max),
               "the built-in plan failed: %s", clconvt_last_error());
    if (chose == CLCONVT_SUCCESS) {
        check_sane(&params, &chosen, "built-in plan");
        check_round_trip(&device, &params, &chosen, "built-in plan");
    }

    /* The rest of the input is a plan string. */
    const size_t len = (size_t)(end - p);
    char *text = malloc(len + 1);
    FUZZ_CHECK(text != NULL, "out of memory");
    memcpy(text, p, len);
    text[len] = '\0';
    plan requested;
    const clconvt_status st =
        clconvt_plan_parse_for_device(&device, &params, "fuzz plan", text, &requested);
    if (st == CLCONVT_SUCCESS) {
        check_sane(&params, &requested, text);
        check_round_trip(&device, &params, &requested, text);
    } else if (st == CLCONVT_ERROR_TOO_LARGE) {
        FUZZ_CHECK(near_int_max, "clconvt_plan_parse: too large? %s", clconvt_last_error());
    } else {
        FUZZ_CHECK(st == CLCONVT_ERROR_INVALID_ARGUMENT, "clconvt_plan_parse failed with %s",
                   clconvt_status_string(st));
        FUZZ_CHECK(strncmp(clconvt_last_error(), "fuzz plan \"", 11) == 0,
                   "the refusal does not say where the plan came from: %s", clconvt_last_error());
    }
    free(text);
    return 0;
}
