/* The choice of a layer's plan (see plan_choice.h). */
#include "plan_choice.h"

#include <stdlib.h>

#include "error.h"
#include "tuning_db.h"

clconvt_status clconvt_plan_parse_for_device(const clconvt_device *device,
                                             const clconvt_params *params, const char *origin,
                                             const char *text, plan *out) {
    const device_caps caps = clconvt_device_caps(device);
    return clconvt_plan_parse(&caps, params, origin, text, out);
}

/* The database's plan for this device and layer, when it has one the planner accepts: 1. A plan
 * it refuses costs the warning of its file (once per file and process), and 0. */
static int database_plan(const clconvt_device *device, const clconvt_params *params, plan *out) {
    char shape_class[TUNING_CLASS_MAX], text[TUNING_PLAN_MAX], path[4096];
    if (clconvt_tuning_shape_class(params, shape_class, sizeof shape_class) != 0)
        return 0;
    tuning_identity identity;
    clconvt_tuning_identity_of(device, &identity);
    if (!clconvt_tuning_db_lookup(&identity, shape_class, text, sizeof text, path, sizeof path))
        return 0;
    if (clconvt_plan_parse_for_device(device, params, "its plan", text, out) == CLCONVT_SUCCESS)
        return 1;
    clconvt_tuning_db_ignore(path, shape_class, clconvt_last_error());
    return 0;
}

clconvt_status clconvt_plan_choose(const clconvt_device *device, const clconvt_params *params,
                                   const char *requested, plan *out, int *from_database) {
    int tuned = 0;
    clconvt_status status = CLCONVT_SUCCESS;
    const char *forced = getenv("CLCONVT_PLAN");
    if (requested != NULL && *requested != '\0')
        status = clconvt_plan_parse_for_device(device, params, "plan", requested, out);
    else if (forced != NULL && *forced != '\0')
        status = clconvt_plan_parse_for_device(device, params, "CLCONVT_PLAN", forced, out);
    else if (!(tuned = database_plan(device, params, out))) {
        const device_caps caps = clconvt_device_caps(device);
        clconvt_plan_default(&caps, params, out);
    }
    if (from_database != NULL)
        *from_database = tuned;
    return status;
}

void clconvt_plan_database_failed(const clconvt_device *device, const clconvt_params *params,
                                  plan *p, const char *reason) {
    char text[TUNING_PLAN_MAX + 64];
    clconvt_plan_format(p, text, sizeof text);
    clconvt_tuning_db_plan_failed(params, text, reason);
    const device_caps caps = clconvt_device_caps(device);
    clconvt_plan_default(&caps, params, p);
}
