/* The planner: which kernel path (src/paths/) and tile shape a layer uses. Depends only on the
 * layer's parameters and the device's capabilities, never on the input length or batch, nor on
 * the environment or the tuning database (src/plan_choice.h weighs those). */
#ifndef CLCONVT_PLAN_H
#define CLCONVT_PLAN_H

#include "clconvt.h"
#include "device_caps.h"
#include "paths/path.h"

/* The built-in choice. */
void clconvt_plan_default(const device_caps *caps, const clconvt_params *params, plan *out);

/* Narrow the plan's work-group until it holds at most limit work-items, halving an extent at a
 * time (phases, then channels, then positions): what a layer does for its compiled kernel's
 * CL_KERNEL_WORK_GROUP_SIZE, and a device profile for its largest work-group. */
void clconvt_plan_fit_work_group(plan *p, size_t limit);

/* Parse a plan string; origin names where it came from in error messages ("CLCONVT_PLAN"). A plan
 * string is a path name optionally followed by ":key=value,..." with keys vec, p (positions), c
 * (channels), lp, lc and lr (work-group extents) and chunk (input channels per reduction chunk);
 * an unusable one is refused with a message. */
clconvt_status clconvt_plan_parse(const device_caps *caps, const clconvt_params *params,
                                  const char *origin, const char *text, plan *out);

/* The plan string that clconvt_plan_parse would read back as this plan. */
void clconvt_plan_format(const plan *plan, char *text, size_t size);

/* 1 when a and b are the same plan, field by field (a plan has padding, which memcmp would
 * compare: garbage where a copy left it). */
int clconvt_plan_equal(const plan *a, const plan *b);

/* Elements of the packed weight, and where weight (group g, tap k, input channel ci_local of the
 * group, output channel c of the group) goes in it: the layout the plan's kernel reads. */
size_t clconvt_plan_packed_count(const plan *plan, const clconvt_params *params);
/* Three factors whose product is that count, for an overflow-checked size. */
void clconvt_plan_packed_dims(const plan *plan, const clconvt_params *params, int64_t dims[3]);
int64_t clconvt_plan_packed_index(const plan *plan, const clconvt_params *params, int64_t g,
                                  int64_t k, int64_t ci_local, int64_t c);

/* Work-items along the channel dimension of the grid (before rounding to work-groups). */
int64_t clconvt_plan_channel_tiles(const plan *plan, const clconvt_params *params);

/* The -D options that specialise the plan's kernel for a layer, in options[size]; a layer's fit
 * in PLAN_OPTIONS_MAX bytes. */
#define PLAN_OPTIONS_MAX 256
void clconvt_plan_build_options(const clconvt_params *params, const plan *plan, char *options,
                                size_t size);

#endif
