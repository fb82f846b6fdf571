/* The candidate plans of a class (candidates.h). */
#include "candidates.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "reference.h"
#include "spaces.h"

#define PLAN_MAX CLCONVT_EXPERIMENTAL_PLAN_MAX

int candidates_open(candidate_list *list, const clconvt_device *device,
                    const clconvt_params *params) {
    *list = (candidate_list){device, params, 0, malloc(TUNE_MAX_CANDIDATES * sizeof *list->text)};
    return list->text == NULL ? -1 : 0;
}

void candidates_release(candidate_list *list) {
    free(list->text);
    list->text = NULL;
    list->count = 0;
}

/* candidates_add with more clconvt_experimental_plan_check flags (the cache block). */
static int add_checked(candidate_list *list, const char *text, int fit, unsigned more_flags) {
    char canon[PLAN_MAX];
    /* On a GPU, a tile over the register budget spills: never tried (README, "GPU tiles"). */
    const unsigned flags = CLCONVT_EXPERIMENTAL_PLAN_REGISTER_BUDGET | more_flags |
                           (fit ? CLCONVT_EXPERIMENTAL_PLAN_FIT_WORK_GROUP : 0u);
    if (list->count >= TUNE_MAX_CANDIDATES ||
        clconvt_experimental_plan_check(list->device, list->params, text, flags, canon,
                                        sizeof canon) != CLCONVT_SUCCESS)
        return 0;
    for (int i = 0; i < list->count; ++i)
        if (strcmp(list->text[i], canon) == 0)
            return 0;
    memcpy(list->text[list->count++], canon, sizeof canon);
    return 1;
}

int candidates_add(candidate_list *list, const char *text, int fit) {
    return add_checked(list, text, fit, 0);
}

/* Whether value v of axis a is tried for this layer. */
static int axis_allows(const tune_axis *a, int index, const clconvt_params *params) {
    const int64_t cout_g = params->out_channels / params->groups;
    const int v = a->value[index];
    if (!a->cap_by_cout_g || v <= cout_g)
        return 1;
    for (int i = 0; i < a->count; ++i) /* a smaller value covering Cout/groups wins */
        if (a->value[i] >= cout_g && a->value[i] < v)
            return 0;
    return 1;
}

/* Every combination of axes[k..] appended to prefix (which holds length bytes); flags: the
 * plan check's, CLCONVT_EXPERIMENTAL_PLAN_CACHE_BLOCK once an axis took TUNE_CACHE_BLOCK. */
static void enumerate(candidate_list *list, char *prefix, size_t length, const tune_axis *axes,
                      int n_axes, int k, unsigned flags) {
    if (k == n_axes) {
        add_checked(list, prefix, 1, flags);
        return;
    }
    const tune_axis *a = &axes[k];
    const int64_t cin_g = list->params->in_channels / list->params->groups;
    if (cin_g <= a->above_cin_g) { /* left out: the path's own choice */
        enumerate(list, prefix, length, axes, n_axes, k + 1, flags);
        return;
    }
    for (int i = 0; i < a->count; ++i) {
        if (!axis_allows(a, i, list->params))
            continue;
        if (a->value[i] == TUNE_CACHE_BLOCK) { /* the library writes the key */
            enumerate(list, prefix, length, axes, n_axes, k + 1,
                      flags | CLCONVT_EXPERIMENTAL_PLAN_CACHE_BLOCK);
            continue;
        }
        size_t used = length;
        if (a->value[i] != 0) {
            const char *sep = strchr(prefix, ':') ? "," : ":";
            used += (size_t)snprintf(prefix + used, PLAN_MAX - used, "%s%s=%d", sep, a->key,
                                     a->value[i]);
            if (a->key2 != NULL && used < PLAN_MAX)
                used += (size_t)snprintf(prefix + used, PLAN_MAX - used, ",%s=%d", a->key2,
                                         a->value2[i]);
        }
        if (used < PLAN_MAX)
            enumerate(list, prefix, used, axes, n_axes, k + 1, flags);
        prefix[length] = '\0';
    }
}

static void swap_entries(candidate_list *list, int i, int j) {
    char swap[PLAN_MAX];
    memcpy(swap, list->text[i], sizeof swap);
    memcpy(list->text[i], list->text[j], sizeof swap);
    memcpy(list->text[j], swap, sizeof swap);
}

int candidates_add_coarse(candidate_list *list, const char *shape_class) {
    const int first = list->count;
    for (size_t s = 0; s < TUNE_SPACE_COUNT; ++s) {
        const tune_space *space = &TUNE_SPACES[s];
        /* The library's table decides which paths exist (gemm needs a build with CLBlast). */
        if (!(space->layouts & (1u << list->params->layout)) || !clconvt_has_path(space->path))
            continue;
        char prefix[PLAN_MAX];
        const size_t length = (size_t)snprintf(prefix, sizeof prefix, "%s", space->path);
        enumerate(list, prefix, length, space->coarse, tune_axis_count(space->coarse), 0, 0);
    }
    uint64_t state = reference_hash(shape_class);
    for (int i = list->count - 1; i > first; --i)
        swap_entries(list, i,
                     first + (int)(reference_random_next(&state) % (uint64_t)(i - first + 1)));
    return list->count - first;
}

/* Whether the key of kv (length key_length) is one a fine axis of space sets. */
static int is_fine_key(const tune_space *space, int n_fine, const char *kv, size_t key_length) {
    for (int a = 0; a < n_fine; ++a)
        for (int k = 0; k < 2; ++k) {
            const char *key = k ? space->fine[a].key2 : space->fine[a].key;
            if (key && strlen(key) == key_length && strncmp(key, kv, key_length) == 0)
                return 1;
        }
    return 0;
}

int candidates_add_fine(candidate_list *list, const char *base) {
    const int first = list->count;
    const char *colon = strchr(base, ':');
    const size_t name_length = colon ? (size_t)(colon - base) : strlen(base);
    for (size_t s = 0; s < TUNE_SPACE_COUNT; ++s) {
        const tune_space *space = &TUNE_SPACES[s];
        const int n_fine = tune_axis_count(space->fine);
        if (n_fine == 0 || strlen(space->path) != name_length ||
            strncmp(space->path, base, name_length) != 0)
            continue;
        /* The base without the keys the fine axes set. */
        char prefix[PLAN_MAX];
        size_t length = (size_t)snprintf(prefix, sizeof prefix, "%s", space->path);
        for (const char *kv = colon; kv != NULL && *kv; kv = strchr(kv, ',')) {
            ++kv;
            const size_t kv_length = strcspn(kv, ",");
            if (!is_fine_key(space, n_fine, kv, strcspn(kv, "=,")) &&
                length + kv_length + 2 < sizeof prefix)
                length += (size_t)snprintf(prefix + length, sizeof prefix - length, "%s%.*s",
                                           strchr(prefix, ':') ? "," : ":", (int)kv_length, kv);
        }
        enumerate(list, prefix, length, space->fine, n_fine, 0, 0);
    }
    return list->count - first;
}

void candidates_move_up(candidate_list *list, int at, int n) {
    char(*moved)[PLAN_MAX] = malloc((size_t)n * sizeof *moved);
    if (moved == NULL || n <= 0 || at >= list->count - n) {
        free(moved);
        return;
    }
    memcpy(moved, list->text[list->count - n], (size_t)n * sizeof *moved);
    memmove(list->text[at + n], list->text[at], (size_t)(list->count - n - at) * sizeof *moved);
    memcpy(list->text[at], moved, (size_t)n * sizeof *moved);
    free(moved);
}
