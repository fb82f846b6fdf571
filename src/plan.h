/* The planner: which kernel path and tile shape a layer uses. Depends only on the layer's
 * parameters and the device, never on the input length or batch. */
#ifndef CLCONVT_PLAN_H
#define CLCONVT_PLAN_H

#include "clconvt.h"
#include "device.h"

typedef enum plan_path {
    PATH_PHASE = 0,  /* generic: scalar register tile, any layout (phase.cl) */
    PATH_PHASE_POS,  /* NCL: vectors over positions of a phase (phase_pos.cl) */
    PATH_PHASE_CHAN, /* NLC: vectors over output channels (phase_chan.cl) */
    PATH_PHASE_DW,   /* NLC depthwise: vectors over channels (phase_dw.cl) */
    PATH_GEMM,       /* CLBlast GEMM into a column buffer, then col2im (gemm_path.c) */
    PATH_PHASE_FOLD, /* NCL, dilation 1: vector lanes are channels x phases (phase_fold.cl) */
    PATH_COUNT
} plan_path;

typedef struct plan {
    plan_path path;
    int vec;               /* vector width (1 for the scalar path) */
    int tile_p;            /* positions of one phase per work-item (phase_fold: of all phases) */
    int tile_c;            /* output channels per work-item */
    int64_t cout_g_padded; /* Cout/groups (depthwise: groups) rounded up to whole tiles */
    int ci_chunk;          /* input channels per reduction chunk between barriers; 0: no chunks */
    int local[3]; /* work-group extent over (position tiles, channel tiles, phases); 0: unset */
} plan;

/* Name of a path ("phase", "phase_pos", "phase_chan", "phase_dw", "gemm", "phase_fold"). */
const char *clconvt_plan_path_name(plan_path path);

/*
 * Choose a plan: requested (a plan string, from clconvt_layer_create_with_plan) if not NULL, else
 * CLCONVT_PLAN if set, else the tuning database's (src/tuning_db.h), else the built-in choice. A
 * plan string is a path name optionally followed by ":key=value,..." with keys vec, p (positions),
 * c (channels), lp and lc (work-group extents) and chunk (input channels per reduction chunk); an
 * unusable one is refused with a message. *from_database, when not NULL, gets 1 when the plan is
 * the tuning database's, else 0.
 */
clconvt_status clconvt_plan_choose(const clconvt_device *device, const clconvt_params *params,
                                   const char *requested, plan *out, int *from_database);

/* The built-in choice (what clconvt_plan_choose gives without a plan string or database). */
void clconvt_plan_default(const clconvt_device *device, const clconvt_params *params, plan *out);

/* Parse a plan string; origin names where it came from in error messages ("CLCONVT_PLAN"). */
clconvt_status clconvt_plan_parse(const clconvt_device *device, const clconvt_params *params,
                                  const char *origin, const char *text, plan *out);

/* The plan string that clconvt_plan_parse would read back as this plan. */
void clconvt_plan_format(const plan *plan, char *text, size_t size);

/* The kernel's source text and entry point for a plan. */
const char *clconvt_plan_source(const plan *plan);
const char *clconvt_plan_kernel_name(const plan *plan);

/* Elements of the packed weight, and where weight (group g, tap k, input channel ci_local of the
 * group, output channel c of the group) goes in it: the layout the plan's kernel reads. */
size_t clconvt_plan_packed_count(const plan *plan, const clconvt_params *params);
/* Three factors whose product is that count, for an overflow-checked size. */
void clconvt_plan_packed_dims(const plan *plan, const clconvt_params *params, int64_t dims[3]);
int64_t clconvt_plan_packed_index(const plan *plan, const clconvt_params *params, int64_t g,
                                  int64_t k, int64_t ci_local, int64_t c);

/* Work-items along the channel dimension of the grid (before rounding to work-groups). */
int64_t clconvt_plan_channel_tiles(const plan *plan, const clconvt_params *params);

/* Work-items along the position dimension of the grid, and along the third (batch x phases, or
 * batch alone where a work-item covers every phase), for an output of length_out. */
int64_t clconvt_plan_position_tiles(const plan *plan, const clconvt_params *params,
                                    int64_t length_out, int64_t pad_left);
int64_t clconvt_plan_batch_items(const plan *plan, const clconvt_params *params, int64_t batch);

/* The -D options that specialise the kernel for a layer and plan. */
void clconvt_plan_build_options(const clconvt_params *params, const plan *plan, char *options,
                                size_t size);

#endif
