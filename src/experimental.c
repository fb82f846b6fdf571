/*
 * The EXPERIMENTAL section of clconvt.h: thin wrappers over the planner (plan.h, plan_choice.h),
 * the device profiles (device_profiles.h) and the tuning database (tuning_db.h) for clconvt-tune
 * and clconvt-info, in terms of plan strings, shape classes and profile names only, so that the
 * tools link the public library and the internals may change under them.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "device.h"
#include "device_profiles.h"
#include "error.h"
#include "plan.h"
#include "paths/gpu_tiles.h"
#include "paths/path.h"
#include "paths/phase_fold.h"
#include "plan_choice.h"
#include "tuning_db.h"

/* Copy text to out[size], or fail naming the function and the bytes needed. */
static clconvt_status copy_out(const char *function, const char *text, char *out, size_t size) {
    const size_t need = strlen(text) + 1;
    if (need > size)
        return clconvt_fail(CLCONVT_ERROR_INVALID_ARGUMENT,
                            "%s: \"%s\" needs %zu bytes, size is %zu", function, text, need, size);
    memcpy(out, text, need);
    clconvt_clear_error();
    return CLCONVT_SUCCESS;
}

clconvt_status clconvt_experimental_plan_check(const clconvt_device *device,
                                               const clconvt_params *params, const char *text,
                                               unsigned flags, char *normalised, size_t size) {
    static const char *const function = "clconvt_experimental_plan_check";
    CLCONVT_CHECK_NOT_NULL(device, function);
    CLCONVT_CHECK_NOT_NULL(params, function);
    CLCONVT_CHECK_NOT_NULL(text, function);
    CLCONVT_CHECK_NOT_NULL(normalised, function);
    plan p, again;
    char canon[TUNING_PLAN_MAX], reread[TUNING_PLAN_MAX];
    clconvt_status st = clconvt_plan_parse_for_device(device, params, "plan", text, &p);
    if (st != CLCONVT_SUCCESS)
        return st;
    const device_caps caps = clconvt_device_caps(device);
    const char *over = clconvt_gpu_over_budget(&caps, params, &p);
    if ((flags & CLCONVT_EXPERIMENTAL_PLAN_REGISTER_BUDGET) && over != NULL)
        return clconvt_fail(CLCONVT_ERROR_INVALID_ARGUMENT, "%s: plan \"%s\": %s", function, text,
                            over);
    if (flags & CLCONVT_EXPERIMENTAL_PLAN_CACHE_BLOCK)
        clconvt_phase_fold_size_block(&caps, &p, params);
    const int64_t channel_tiles = clconvt_plan_channel_tiles(&p, params);
    if ((flags & CLCONVT_EXPERIMENTAL_PLAN_FIT_WORK_GROUP) && p.local[1] > channel_tiles)
        p.local[1] = (int)channel_tiles;
    clconvt_plan_format(&p, canon, sizeof canon);
    /* A narrowed work-group may break a rule of the path (lp and lc both or neither, say). */
    if ((st = clconvt_plan_parse_for_device(device, params, "plan", canon, &again)) !=
        CLCONVT_SUCCESS)
        return st;
    clconvt_plan_format(&again, reread, sizeof reread);
    if (strcmp(canon, reread) != 0)
        return clconvt_fail(CLCONVT_ERROR_INVALID_PARAMETER,
                            "%s: plan \"%s\" is written \"%s\", which reads back as \"%s\"",
                            function, text, canon, reread);
    return copy_out(function, canon, normalised, size);
}

clconvt_status clconvt_experimental_plan_default(const clconvt_device *device,
                                                 const clconvt_params *params, char *text,
                                                 size_t size) {
    static const char *const function = "clconvt_experimental_plan_default";
    CLCONVT_CHECK_NOT_NULL(device, function);
    CLCONVT_CHECK_NOT_NULL(params, function);
    CLCONVT_CHECK_NOT_NULL(text, function);
    const clconvt_status st = clconvt_params_validate(params);
    if (st != CLCONVT_SUCCESS)
        return st;
    plan p;
    char full[TUNING_PLAN_MAX];
    const device_caps caps = clconvt_device_caps(device);
    clconvt_plan_default(&caps, params, &p);
    clconvt_plan_format(&p, full, sizeof full);
    return copy_out(function, full, text, size);
}

/* ---- Device profiles --------------------------------------------------------------------------
 */

#define DEVICE_PROFILE "device" /* the profile of the device passed in */

_Static_assert(CLCONVT_EXPERIMENTAL_OPTIONS_MAX >= PLAN_OPTIONS_MAX,
               "the public options buffer holds what a layer builds with");

const char *clconvt_experimental_profile_name(size_t index, const char **description) {
    if (index >= clconvt_device_profile_count)
        return NULL;
    if (description != NULL)
        *description = clconvt_device_profiles[index].description;
    return clconvt_device_profiles[index].name;
}

clconvt_status clconvt_experimental_profile_check(const char *profile) {
    CLCONVT_CHECK_NOT_NULL(profile, "clconvt_experimental_profile_check");
    if (strcmp(profile, DEVICE_PROFILE) != 0 && clconvt_device_profile_named(profile) == NULL) {
        char names[256];
        clconvt_device_profile_names(names, sizeof names);
        return clconvt_fail(CLCONVT_ERROR_INVALID_ARGUMENT,
                            "profile \"%s\" is not one of %s (or \"" DEVICE_PROFILE
                            "\", the device clconvt opens)",
                            profile, names);
    }
    clconvt_clear_error();
    return CLCONVT_SUCCESS;
}

/* The capabilities of a profile, or of device for "device". */
static clconvt_status profile_caps(const char *function, const char *profile,
                                   const clconvt_device *device, device_caps *caps) {
    const clconvt_status st = clconvt_experimental_profile_check(profile);
    if (st != CLCONVT_SUCCESS)
        return st;
    const device_profile *named = clconvt_device_profile_named(profile);
    if (named != NULL) {
        *caps = named->caps;
        return CLCONVT_SUCCESS;
    }
    if (device == NULL)
        return clconvt_fail(
            CLCONVT_ERROR_INVALID_ARGUMENT,
            "%s: the profile \"" DEVICE_PROFILE "\" needs a device, but device is NULL", function);
    *caps = clconvt_device_caps(device);
    return CLCONVT_SUCCESS;
}

clconvt_status clconvt_experimental_plan_for_profile(const char *profile,
                                                     const clconvt_device *device,
                                                     const clconvt_params *params,
                                                     int64_t length_in,
                                                     clconvt_experimental_kernel_plan *out) {
    static const char *const function = "clconvt_experimental_plan_for_profile";
    CLCONVT_CHECK_NOT_NULL(params, function);
    CLCONVT_CHECK_NOT_NULL(out, function);
    device_caps caps;
    int64_t length_out;
    clconvt_status st = profile_caps(function, profile, device, &caps);
    if (st == CLCONVT_SUCCESS)
        st = clconvt_output_length(params, length_in, &length_out);
    if (st != CLCONVT_SUCCESS)
        return st;
    /* A layer on such a device honours CLCONVT_PLAN: so does its plan here (never the tuning
     * database, which holds plans of devices measured, not of classes). */
    plan p;
    const char *forced = getenv("CLCONVT_PLAN");
    if (forced != NULL && *forced != '\0') {
        if ((st = clconvt_plan_parse(&caps, params, "CLCONVT_PLAN", forced, &p)) != CLCONVT_SUCCESS)
            return st;
    } else
        clconvt_plan_default(&caps, params, &p);
    if (caps.max_work_group_size != 0)
        clconvt_plan_fit_work_group(&p, caps.max_work_group_size);
    clconvt_experimental_kernel_plan kp = {
        .kernel = p.path->kernel, .source_file = p.path->source_file, .source = p.path->source};
    clconvt_plan_format(&p, kp.plan, sizeof kp.plan);
    clconvt_plan_build_options(params, &p, kp.options, sizeof kp.options);
    clconvt_path_grid(&p, params, 1, length_out, params->pad_left, kp.global, kp.local);
    *out = kp;
    clconvt_clear_error();
    return CLCONVT_SUCCESS;
}

clconvt_status clconvt_experimental_shape_class(const clconvt_params *params, char *text,
                                                size_t size) {
    static const char *const function = "clconvt_experimental_shape_class";
    CLCONVT_CHECK_NOT_NULL(params, function);
    CLCONVT_CHECK_NOT_NULL(text, function);
    const clconvt_status st = clconvt_params_validate(params);
    if (st != CLCONVT_SUCCESS)
        return st;
    char full[TUNING_CLASS_MAX];
    clconvt_tuning_shape_class(params, full, sizeof full);
    return copy_out(function, full, text, size);
}

clconvt_status clconvt_experimental_identity_of(const clconvt_device *device,
                                                clconvt_experimental_identity *out) {
    CLCONVT_CHECK_NOT_NULL(device, "clconvt_experimental_identity_of");
    CLCONVT_CHECK_NOT_NULL(out, "clconvt_experimental_identity_of");
    tuning_identity id;
    clconvt_tuning_identity_of(device, &id);
    *out = (clconvt_experimental_identity){id.vendor, id.name, id.driver, id.type,
                                           device->platform_name ? device->platform_name : ""};
    clconvt_clear_error();
    return CLCONVT_SUCCESS;
}

/* ---- Database entries ------------------------------------------------------------------------ */

/* Read the database at path: CLCONVT_SUCCESS with *root (NULL when the file does not exist), or
 * CLCONVT_ERROR_FILE naming the file and the problem. */
static clconvt_status read_root(const char *path, cJSON **root) {
    char reason[512];
    const int read = clconvt_tuning_db_read(path, root, reason, sizeof reason);
    if (read < 0)
        return clconvt_fail(CLCONVT_ERROR_FILE, "tuning database %s: %s", path, reason);
    return CLCONVT_SUCCESS;
}

static double number_member(const cJSON *object, const char *key) {
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(object, key);
    return cJSON_IsNumber(item) ? item->valuedouble : -1.0;
}

static void string_member(const cJSON *object, const char *key, char *out, size_t size) {
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(object, key);
    snprintf(out, size, "%s", cJSON_IsString(item) ? item->valuestring : "");
}

static void entry_of(const cJSON *record, clconvt_experimental_tuning_entry *e) {
    memset(e, 0, sizeof *e);
    string_member(record, "plan", e->plan, sizeof e->plan);
    string_member(record, "default_plan", e->default_plan, sizeof e->default_plan);
    string_member(record, "shape", e->shape, sizeof e->shape);
    e->median_ms = number_member(record, "median_ms");
    e->default_ms = number_member(record, "default_ms");
    e->max_error = number_member(record, "max_error");
    e->batch = (int64_t)number_member(record, "batch");
    e->length_in = (int64_t)number_member(record, "length_in");
    e->tried = (int)number_member(record, "tried");
    e->candidates = (int)number_member(record, "candidates");
    e->complete = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(record, "complete"));
}

/* The record of a class in this device's entry of root, or NULL. */
static cJSON *class_of(cJSON *root, const clconvt_device *device, const char *shape_class) {
    tuning_identity id;
    clconvt_tuning_identity_of(device, &id);
    cJSON *mine = root ? clconvt_tuning_db_device_entry(root, &id, 0) : NULL;
    return mine ? cJSON_GetObjectItemCaseSensitive(
                      cJSON_GetObjectItemCaseSensitive(mine, "classes"), shape_class)
                : NULL;
}

clconvt_status clconvt_experimental_tuning_db_get(const char *path, const clconvt_device *device,
                                                  const char *shape_class,
                                                  clconvt_experimental_tuning_entry *entry,
                                                  int *found) {
    static const char *const function = "clconvt_experimental_tuning_db_get";
    CLCONVT_CHECK_NOT_NULL(path, function);
    CLCONVT_CHECK_NOT_NULL(device, function);
    CLCONVT_CHECK_NOT_NULL(shape_class, function);
    CLCONVT_CHECK_NOT_NULL(entry, function);
    CLCONVT_CHECK_NOT_NULL(found, function);
    cJSON *root = NULL;
    const clconvt_status st = read_root(path, &root);
    if (st != CLCONVT_SUCCESS)
        return st;
    const cJSON *record = class_of(root, device, shape_class);
    *found = record != NULL;
    if (record != NULL)
        entry_of(record, entry);
    cJSON_Delete(root);
    clconvt_clear_error();
    return CLCONVT_SUCCESS;
}

static double round_ms(double ms) {
    return round(ms * 1e4) / 1e4;
}

/* Set object[key] = item, replacing what was there. 0, or -1 (item freed) when out of memory. */
static int set_member(cJSON *object, const char *key, cJSON *item) {
    if (item == NULL)
        return -1;
    if (cJSON_GetObjectItemCaseSensitive(object, key) != NULL)
        return cJSON_ReplaceItemInObjectCaseSensitive(object, key, item) ? 0 : -1;
    if (!cJSON_AddItemToObject(object, key, item)) {
        cJSON_Delete(item);
        return -1;
    }
    return 0;
}

/* The record of a class, as the database holds it (NULL when out of memory). */
static cJSON *record_of(const clconvt_experimental_tuning_entry *e) {
    char error[32];
    snprintf(error, sizeof error, "%.3g", e->max_error); /* three digits are plenty */
    const int measured = e->default_ms >= 0;
    cJSON *r = cJSON_CreateObject();
    const int ok =
        r != NULL && cJSON_AddStringToObject(r, "plan", e->plan) &&
        cJSON_AddNumberToObject(r, "median_ms", round_ms(e->median_ms)) &&
        cJSON_AddStringToObject(r, "default_plan", e->default_plan) &&
        (!measured || cJSON_AddNumberToObject(r, "default_ms", round_ms(e->default_ms))) &&
        (!measured ||
         cJSON_AddNumberToObject(r, "speedup", round(e->default_ms / e->median_ms * 1e3) / 1e3)) &&
        cJSON_AddNumberToObject(r, "max_error", strtod(error, NULL)) &&
        cJSON_AddStringToObject(r, "shape", e->shape) &&
        cJSON_AddNumberToObject(r, "batch", (double)e->batch) &&
        cJSON_AddNumberToObject(r, "length_in", (double)e->length_in) &&
        cJSON_AddNumberToObject(r, "tried", e->tried) &&
        cJSON_AddNumberToObject(r, "candidates", e->candidates) &&
        cJSON_AddBoolToObject(r, "complete", e->complete);
    if (!ok) {
        cJSON_Delete(r);
        return NULL;
    }
    return r;
}

/* Put the record of a class and this device's platform and time into root. */
static clconvt_status merge(cJSON *root, const clconvt_device *device, const char *shape_class,
                            const clconvt_experimental_tuning_entry *entry) {
    char updated[32];
    const time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(updated, sizeof updated, "%Y-%m-%dT%H:%M:%SZ", &tm);
    tuning_identity id;
    clconvt_tuning_identity_of(device, &id);
    cJSON *mine = clconvt_tuning_db_device_entry(root, &id, 1);
    cJSON *classes = mine ? cJSON_GetObjectItemCaseSensitive(mine, "classes") : NULL;
    const char *platform = device->platform_name ? device->platform_name : "";
    if (classes == NULL || set_member(mine, "platform", cJSON_CreateString(platform)) != 0 ||
        set_member(mine, "updated", cJSON_CreateString(updated)) != 0 ||
        set_member(classes, shape_class, record_of(entry)) != 0)
        return clconvt_fail(CLCONVT_ERROR_OUT_OF_HOST_MEMORY,
                            "clconvt_experimental_tuning_db_put: out of host memory");
    return CLCONVT_SUCCESS;
}

clconvt_status clconvt_experimental_tuning_db_put(const char *path, const clconvt_device *device,
                                                  const char *shape_class,
                                                  const clconvt_experimental_tuning_entry *entry) {
    static const char *const function = "clconvt_experimental_tuning_db_put";
    CLCONVT_CHECK_NOT_NULL(path, function);
    CLCONVT_CHECK_NOT_NULL(device, function);
    CLCONVT_CHECK_NOT_NULL(shape_class, function);
    CLCONVT_CHECK_NOT_NULL(entry, function);
    cJSON *root = NULL;
    clconvt_status st = read_root(path, &root);
    if (st == CLCONVT_SUCCESS && root == NULL && (root = clconvt_tuning_db_new()) == NULL)
        st = clconvt_fail(CLCONVT_ERROR_OUT_OF_HOST_MEMORY, "%s: out of host memory", function);
    if (st == CLCONVT_SUCCESS)
        st = merge(root, device, shape_class, entry);
    char reason[512];
    if (st == CLCONVT_SUCCESS && clconvt_tuning_db_write(path, root, reason, sizeof reason) != 0)
        st = clconvt_fail(CLCONVT_ERROR_FILE, "cannot write the tuning database %s: %s", path,
                          reason);
    cJSON_Delete(root);
    if (st == CLCONVT_SUCCESS)
        clconvt_clear_error();
    return st;
}
