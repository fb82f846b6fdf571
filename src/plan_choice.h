/* The choice of a layer's plan: a forced plan string, else CLCONVT_PLAN, else the tuning
 * database's plan string for the device and the layer's shape class, else the planner's built-in
 * choice. Above both the planner (plan.h) and the database (tuning_db.h), which know nothing of
 * each other. */
#ifndef CLCONVT_PLAN_CHOICE_H
#define CLCONVT_PLAN_CHOICE_H

#include "clconvt.h"
#include "device.h"
#include "plan.h"

/*
 * Choose a plan: requested (a plan string, from clconvt_layer_create_with_plan) if not NULL or
 * empty, else CLCONVT_PLAN if set, else the tuning database's (src/tuning_db.h), else the built-in
 * choice. A plan string the planner refuses is refused with its message, except the database's:
 * that costs one warning and the built-in choice. *from_database, when not NULL, gets 1 when the
 * plan is the database's, else 0.
 */
clconvt_status clconvt_plan_choose(const clconvt_device *device, const clconvt_params *params,
                                   const char *requested, plan *out, int *from_database);

/* clconvt_plan_parse for an open device. */
clconvt_status clconvt_plan_parse_for_device(const clconvt_device *device,
                                             const clconvt_params *params, const char *origin,
                                             const char *text, plan *out);

/* The database's plan *p failed on the device for reason (a newer driver, a database from another
 * build of clconvt): say so once (re-running clconvt-tune fixes it) and replace it with the
 * built-in choice. */
void clconvt_plan_database_failed(const clconvt_device *device, const clconvt_params *params,
                                  plan *p, const char *reason);

#endif
