#include "plan.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "number.h"
#include "paths/gpu_tiles.h"
#include "paths/paths.h"
#include "stride.h"

/* Depthwise paths tile channels across groups: they pad the channel count instead. */
static void finish(plan *p, const clconvt_params *params) {
    const int64_t channels =
        p->path->channels_across_groups ? params->groups : params->out_channels / params->groups;
    p->cout_g_padded = clconvt_ceil_div(channels, p->tile_c) * p->tile_c;
}

void clconvt_plan_packed_dims(const plan *p, const clconvt_params *params, int64_t dims[3]) {
    p->path->packed_dims(p, params, dims);
}

size_t clconvt_plan_packed_count(const plan *p, const clconvt_params *params) {
    int64_t dims[3];
    clconvt_plan_packed_dims(p, params, dims);
    return (size_t)(dims[0] * dims[1] * dims[2]);
}

int64_t clconvt_plan_packed_index(const plan *p, const clconvt_params *params, int64_t g, int64_t k,
                                  int64_t ci_local, int64_t c) {
    return p->path->packed_index(p, params, g, k, ci_local, c);
}

int64_t clconvt_plan_channel_tiles(const plan *p, const clconvt_params *params) {
    return clconvt_path_channel_tiles(p, params);
}

/* A fixed work-group (the path's; see clconvt_path_default_local for why): the extents a plan
 * string left unset. */
static void fixed_local_size(const device_caps *caps, const clconvt_params *params, plan *p) {
    const int phases_given = p->local[2] != 0;
    if (!phases_given)
        p->local[2] = 1;
    if (p->local[0] == 0) {
        p->path->local_size(p, params, phases_given);
        clconvt_gpu_work_group(caps, p);
    }
}

/*
 * Private memory. The accumulators of one work-item are its register tile; past
 * REGISTER_TILE_MAX floats a kernel spills on every device and compiles for minutes (PoCL took
 * 140 s for phase:p=1024,c=1024, then overflowed its stack). Beyond the tile, a work-item keeps
 * the operands of one step and the staging arrays of its stores (each kernel's locals).
 */
#define REGISTER_TILE_MAX 1024

/* Work-items of the plan's work-group as the layer runs it: fit_work_group (layer.c) halves an
 * extent until the group fits the device's maximum. */
static uint64_t work_group_items(const device_caps *caps, const plan *p) {
    const uint64_t items = (uint64_t)p->local[0] * (uint64_t)p->local[1] * (uint64_t)p->local[2];
    return caps->max_work_group_size != 0 && items > caps->max_work_group_size
               ? (uint64_t)caps->max_work_group_size
               : items;
}

static uint64_t work_group_private_bytes(const device_caps *caps, const plan *p,
                                         const clconvt_params *params) {
    return (uint64_t)p->path->private_memory(p, params).floats * sizeof(float) *
           work_group_items(caps, p);
}

/* Halve one extent of the work-group (phases first, then channels, then positions); 0 when it
 * is one work-item already. */
static int narrow_once(int local[3]) {
    if (local[0] <= 1 && local[1] <= 1 && local[2] <= 1)
        return 0;
    local[local[2] > 1 ? 2 : local[1] > 1 ? 1 : 0] /= 2;
    return 1;
}

/* A built-in work-group that would exceed the device's private budget (a small RLIMIT_STACK) is
 * narrowed, never refused: the default plan must always run. */
static void fit_private_budget(const device_caps *caps, const clconvt_params *params, plan *p) {
    while (caps->private_budget_bytes != 0 &&
           work_group_private_bytes(caps, p, params) > caps->private_budget_bytes &&
           narrow_once(p->local))
        ;
}

void clconvt_plan_fit_work_group(plan *p, size_t limit) {
    while ((size_t)p->local[0] * (size_t)p->local[1] * (size_t)p->local[2] > limit &&
           narrow_once(p->local))
        ;
}

/* The built-in choice: the path of the lowest rank that suits the layer (src/paths/path.h). Few
 * distinct tile shapes keep the number of programs (about a second each on PoCL) bounded. */
void clconvt_plan_default(const device_caps *caps, const clconvt_params *params, plan *out) {
    int best = -1;
    for (size_t i = 0; i < clconvt_path_count; ++i) {
        const kernel_path *path = clconvt_paths[i];
        plan candidate;
        if ((best < 0 || path->default_rank < out->path->default_rank) &&
            path->suits(caps, params, &candidate)) {
            *out = candidate;
            best = (int)i;
        }
    }
    clconvt_gpu_tile(caps, params, out);
    finish(out, params);
    fixed_local_size(caps, params, out);
    fit_private_budget(caps, params, out);
}

/* Refuse a plan its kernel cannot run: a sentence naming where the plan came from. */
static clconvt_status refuse(const char *origin, const char *text, const char *why) {
    return clconvt_fail(CLCONVT_ERROR_INVALID_ARGUMENT, "%s \"%s\": %s", origin, text, why);
}

/* The names of the paths whose keys include key, "a and b" (a, b, c and d), into text[size]. */
static void key_takers(unsigned key, char *text, size_t size) {
    size_t count = 0, seen = 0, used = 0;
    for (size_t i = 0; i < clconvt_path_count; ++i)
        count += (clconvt_paths[i]->keys & key) != 0;
    text[0] = '\0';
    for (size_t i = 0; i < clconvt_path_count && used < size; ++i)
        if (clconvt_paths[i]->keys & key) {
            ++seen;
            const char *separator = seen == 1 ? "" : seen == count ? " and " : ", ";
            used += (size_t)snprintf(text + used, size - used, "%s%s", separator,
                                     clconvt_paths[i]->name);
        }
}

/* Refuse a key given to a path that does not take it (value: its field, 0 when not given). */
static clconvt_status check_key_taken(const char *origin, const char *text, const plan *p,
                                      unsigned key, const char *name, int value) {
    if (value == 0 || (p->path->keys & key))
        return CLCONVT_SUCCESS;
    char takers[256];
    key_takers(key, takers, sizeof takers);
    return clconvt_fail(CLCONVT_ERROR_INVALID_ARGUMENT, "%s \"%s\": only %s take%s %s", origin,
                        text, takers, strstr(takers, " and ") ? "" : "s", name);
}

/* Check a plan's shape against what its kernel supports. */
static clconvt_status check_shape(const char *origin, const char *text,
                                  const clconvt_params *params, const plan *p) {
    const char *why = p->path->check(params, p);
    if (why != NULL)
        return refuse(origin, text, why);
    clconvt_status status = check_key_taken(origin, text, p, PLAN_KEY_CHUNK, "chunk", p->ci_chunk);
    if (status == CLCONVT_SUCCESS)
        status = check_key_taken(origin, text, p, PLAN_KEY_PT, "pt", p->tiles_per_item);
    if (status != CLCONVT_SUCCESS)
        return status;
    if ((p->local[0] == 0) != (p->local[1] == 0))
        return refuse(origin, text, "give both lp and lc, or neither");
    if (p->local[2] > 1 && p->path->no_lr)
        return clconvt_fail(CLCONVT_ERROR_INVALID_ARGUMENT, "%s \"%s\": the %s path takes no lr",
                            origin, text, p->path->name);
    return CLCONVT_SUCCESS;
}

/* How each path's register tile counts, in plan keys: "p x c; phase_dw: p x vec; ...". */
static void tile_rules(char *text, size_t size) {
    size_t used = (size_t)snprintf(text, size, "p x c");
    for (size_t i = 0; i < clconvt_path_count && used < size; ++i)
        if (clconvt_paths[i]->tile_rule != NULL)
            used += (size_t)snprintf(text + used, size - used, "; %s: %s", clconvt_paths[i]->name,
                                     clconvt_paths[i]->tile_rule);
}

/* Refuse a plan whose work-items, or whose work-group, would hold more private memory than the
 * device can: a crash or a silently wrong result otherwise. */
static clconvt_status check_private_memory(const device_caps *caps, const char *origin,
                                           const char *text, const clconvt_params *params,
                                           const plan *p) {
    const private_memory memory = p->path->private_memory(p, params);
    if (memory.accumulators > REGISTER_TILE_MAX) {
        char rules[256];
        tile_rules(rules, sizeof rules);
        return clconvt_fail(CLCONVT_ERROR_INVALID_ARGUMENT,
                            "%s \"%s\": its register tile holds %lld accumulators per work-item, "
                            "more than the %d a kernel may hold (%s)",
                            origin, text, (long long)memory.accumulators, REGISTER_TILE_MAX, rules);
    }
    const uint64_t bytes = work_group_private_bytes(caps, p, params);
    if (caps->private_budget_bytes != 0 && bytes > caps->private_budget_bytes)
        return clconvt_fail(CLCONVT_ERROR_INVALID_ARGUMENT,
                            "%s \"%s\": its work-group of %llu work-items would hold %llu bytes of "
                            "private memory (%lld per work-item), more than the %llu this device "
                            "gives a work-group (a quarter of the thread stack, RLIMIT_STACK); "
                            "lower lp, lc, lr, p or c",
                            origin, text, (unsigned long long)work_group_items(caps, p),
                            (unsigned long long)bytes,
                            (long long)memory.floats * (long long)sizeof(float),
                            (unsigned long long)caps->private_budget_bytes);
    return CLCONVT_SUCCESS;
}

/* In the order of the plan_key bits (src/paths/path.h). */
static const char *const KEYS[] = {"vec", "p", "c", "lp", "lc", "chunk", "lr", "pt"};
#define KEY_COUNT (sizeof KEYS / sizeof KEYS[0])
#define CHUNK_KEY 5         /* the one key that may be 0 */
#define PLAN_VALUE_MAX 4096 /* the largest value of any key */

static int *key_fields(plan *p, int *fields[KEY_COUNT]) {
    int *const all[KEY_COUNT] = {&p->vec,      &p->tile_p,   &p->tile_c,   &p->local[0],
                                 &p->local[1], &p->ci_chunk, &p->local[2], &p->tiles_per_item};
    memcpy(fields, all, sizeof all);
    return fields[0];
}

/* "(phase, phase_pos, ...)": the paths of this build, into text[size]. */
static void path_names(char *text, size_t size) {
    size_t used = 0;
    for (size_t i = 0; i < clconvt_path_count && used < size; ++i)
        used += (size_t)snprintf(text + used, size - used, "%s%s", i == 0 ? "(" : ", ",
                                 clconvt_paths[i]->name);
    if (used < size)
        snprintf(text + used, size - used, ")");
}

clconvt_status clconvt_plan_parse(const device_caps *caps, const clconvt_params *params,
                                  const char *origin, const char *text, plan *out) {
    plan p;
    clconvt_plan_default(caps, params, &p);
    const char *colon = strchr(text, ':');
    const size_t name_length = colon ? (size_t)(colon - text) : strlen(text);
    const kernel_path *path = clconvt_path_named(text, name_length);
    const char *absent = path == NULL ? clconvt_path_absent(text, name_length) : NULL;
    if (absent != NULL) /* a path of clconvt, not of this build: unsupported, not invalid */
        return clconvt_fail(CLCONVT_ERROR_UNSUPPORTED, "%s \"%s\": %s", origin, text, absent);
    if (path == NULL) {
        char names[256], why[300];
        path_names(names, sizeof names);
        snprintf(why, sizeof why, "names no kernel path %s", names);
        return refuse(origin, text, why);
    }
    /* Another path: start from its usual shape (some paths always do: parse_from_usual). */
    if (p.path != path || path->parse_from_usual) {
        p = *clconvt_path_usual(path, caps);
        clconvt_gpu_tile(caps, params, &p);
    }
    int *fields[KEY_COUNT];
    key_fields(&p, fields);
    int given[KEY_COUNT] = {0};
    for (const char *s = colon; s != NULL && *s; s = strchr(s, ',')) {
        ++s;
        const size_t item = strcspn(s, ","), key_length = strcspn(s, "=,");
        size_t k = 0;
        while (k < KEY_COUNT &&
               !(strlen(KEYS[k]) == key_length && strncmp(s, KEYS[k], key_length) == 0))
            ++k;
        if (key_length == item)
            return refuse(origin, text, "expected key=value pairs separated by commas");
        if (k == KEY_COUNT)
            return refuse(origin, text, "unknown key (vec, p, c, lp, lc, chunk, lr, pt)");
        if (given[k]++)
            return clconvt_fail(CLCONVT_ERROR_INVALID_ARGUMENT,
                                "%s \"%s\": the key %s is given twice", origin, text, KEYS[k]);
        /* Whole digits only: "vec=4294967312" must not wrap to 16, nor "-1" pass as a number. */
        uint64_t value;
        const uint64_t lowest = k == CHUNK_KEY ? 0 : 1;
        if (!clconvt_parse_decimal(s + key_length + 1, item - key_length - 1, PLAN_VALUE_MAX,
                                   &value) ||
            value < lowest)
            return clconvt_fail(CLCONVT_ERROR_INVALID_ARGUMENT,
                                "%s \"%s\": %s=%.*s must be a whole number in %d..%d", origin, text,
                                KEYS[k], (int)(item - key_length - 1), s + key_length + 1,
                                (int)lowest, PLAN_VALUE_MAX);
        *fields[k] = (int)value;
    }
    if (path->complete != NULL)
        path->complete(caps, &p, params);
    clconvt_status status = check_shape(origin, text, params, &p);
    if (status != CLCONVT_SUCCESS)
        return status;
    finish(&p, params);
    fixed_local_size(caps, params, &p);
    if ((status = check_private_memory(caps, origin, text, params, &p)) != CLCONVT_SUCCESS)
        return status;
    *out = p;
    return CLCONVT_SUCCESS;
}

/* Whether a plan string states this key for this path (the others do not apply to it); chunk
 * also when 0, since the default may chunk. */
static int key_applies(const kernel_path *path, size_t key) {
    return (path->keys & (1u << key)) != 0;
}

int clconvt_plan_equal(const plan *a, const plan *b) {
    return a->path == b->path && a->vec == b->vec && a->tile_p == b->tile_p &&
           a->tile_c == b->tile_c && a->cout_g_padded == b->cout_g_padded &&
           a->ci_chunk == b->ci_chunk && a->local[0] == b->local[0] && a->local[1] == b->local[1] &&
           a->local[2] == b->local[2] && a->activation == b->activation &&
           a->tiles_per_item == b->tiles_per_item;
}

void clconvt_plan_format(const plan *p, char *text, size_t size) {
    int *fields[KEY_COUNT];
    key_fields((plan *)p, fields);
    size_t used = (size_t)snprintf(text, size, "%s", p->path->name);
    const char *separator = ":";
    for (size_t k = 0; k < KEY_COUNT && used < size; ++k)
        if (key_applies(p->path, k) && (*fields[k] != 0 || k == CHUNK_KEY)) {
            used += (size_t)snprintf(text + used, size - used, "%s%s=%d", separator, KEYS[k],
                                     *fields[k]);
            separator = ",";
        }
}

void clconvt_plan_build_options(const clconvt_params *params, const plan *plan, char *options,
                                size_t size) {
    plan->path->build_options(plan, params, options, size);
}
