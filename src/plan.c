#include "plan.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"

extern const char clconvt_source_phase[];
extern const char clconvt_source_phase_pos[];

static const struct {
    const char *name, *kernel, *source;
} PATHS[PATH_COUNT] = {
    [PATH_PHASE] = {"phase", "phase_forward", clconvt_source_phase},
    [PATH_PHASE_POS] = {"phase_pos", "phase_pos_forward", clconvt_source_phase_pos},
};

const char *plan_path_name(plan_path path) {
    return PATHS[path].name;
}
const char *plan_source(const plan *plan) {
    return PATHS[plan->path].source;
}
const char *plan_kernel_name(const plan *plan) {
    return PATHS[plan->path].kernel;
}

static void finish(plan *p, int64_t cout_g) {
    p->cout_g_padded = (int)((cout_g + p->tile_c - 1) / p->tile_c * p->tile_c);
}

/* The built-in choice. Few distinct tile shapes keep the number of programs (about half a second
 * each on PoCL) bounded. */
static void default_plan(const clconvt_params *params, plan *out) {
    const int64_t cout_g = params->out_channels / params->groups;
    if (params->layout == CLCONVT_LAYOUT_NCL) {
        const int tile_c = cout_g >= 12 ? 12 : cout_g >= 3 ? 4 : 1;
        *out = (plan){.path = PATH_PHASE_POS, .vec = 16, .tile_p = 32, .tile_c = tile_c};
    } else {
        const int tile_c = cout_g >= 12 ? 16 : cout_g >= 3 ? 4 : 1;
        *out = (plan){.path = PATH_PHASE, .vec = 1, .tile_p = 4, .tile_c = tile_c};
    }
    finish(out, cout_g);
}

/* Parse CLCONVT_PLAN: "phase" or "phase_pos", optionally ":vec=16,p=32,c=12". */
static clconvt_status forced_plan(const char *text, const clconvt_params *params, plan *out) {
    plan p;
    default_plan(params, &p);
    const char *colon = strchr(text, ':');
    const size_t name_length = colon ? (size_t)(colon - text) : strlen(text);
    int found = 0;
    for (int i = 0; i < PATH_COUNT; ++i)
        if (strlen(PATHS[i].name) == name_length &&
            strncmp(PATHS[i].name, text, name_length) == 0) {
            found = 1;
            if (p.path != (plan_path)i) /* another path's tiles: start from its usual shape */
                p = (plan){.path = (plan_path)i,
                           .vec = i == PATH_PHASE ? 1 : 16,
                           .tile_p = i == PATH_PHASE ? 4 : 32,
                           .tile_c = 4};
        }
    if (!found)
        return clconvt_fail(CLCONVT_ERROR_INVALID_ARGUMENT,
                            "CLCONVT_PLAN=\"%s\" names no kernel path (phase, phase_pos)", text);
    for (const char *s = colon; s != NULL && *s; s = strchr(s, ',')) {
        ++s;
        char key[8];
        int value, used;
        if (sscanf(s, "%7[a-z]=%d%n", key, &value, &used) != 2 || (s[used] && s[used] != ',') ||
            value < 1 || value > 64)
            return clconvt_fail(CLCONVT_ERROR_INVALID_ARGUMENT,
                                "CLCONVT_PLAN=\"%s\": expected key=value with a value in 1..64 at "
                                "\"%s\"",
                                text, s);
        if (strcmp(key, "vec") == 0)
            p.vec = value;
        else if (strcmp(key, "p") == 0)
            p.tile_p = value;
        else if (strcmp(key, "c") == 0)
            p.tile_c = value;
        else
            return clconvt_fail(CLCONVT_ERROR_INVALID_ARGUMENT,
                                "CLCONVT_PLAN=\"%s\": unknown key \"%s\" (vec, p, c)", text, key);
    }
    if (p.path == PATH_PHASE_POS) {
        if (params->layout != CLCONVT_LAYOUT_NCL)
            return clconvt_fail(CLCONVT_ERROR_INVALID_ARGUMENT,
                                "CLCONVT_PLAN=\"%s\": phase_pos needs the NCL layout", text);
        if ((p.vec != 4 && p.vec != 8 && p.vec != 16) || p.tile_p % p.vec != 0)
            return clconvt_fail(CLCONVT_ERROR_INVALID_ARGUMENT,
                                "CLCONVT_PLAN=\"%s\": phase_pos needs vec 4, 8 or 16 and p a "
                                "multiple of vec",
                                text);
    } else {
        p.vec = 1;
    }
    finish(&p, params->out_channels / params->groups);
    *out = p;
    return CLCONVT_SUCCESS;
}

clconvt_status plan_choose(const clconvt_device *device, const clconvt_params *params, plan *out) {
    (void)device; /* the tuning database will key on it */
    const char *forced = getenv("CLCONVT_PLAN");
    if (forced != NULL && *forced != '\0')
        return forced_plan(forced, params, out);
    default_plan(params, out);
    return CLCONVT_SUCCESS;
}

void plan_build_options(const clconvt_params *params, const plan *plan, char *options,
                        size_t size) {
    snprintf(options, size,
             "-cl-std=CL1.2 -cl-mad-enable -DSTRIDE=%lld -DLAYOUT_NCL=%d -DDTYPE=%d -DVEC=%d "
             "-DTILE_P=%d -DTILE_C=%d -DPV=%d -DCO_T=%d",
             (long long)params->stride, params->layout == CLCONVT_LAYOUT_NCL ? 1 : 0,
             (int)params->dtype, plan->vec, plan->tile_p, plan->tile_c, plan->tile_p / plan->vec,
             plan->tile_c);
}
