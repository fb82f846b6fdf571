/* The search of one shape class (search.h). */
#include "search.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "candidates.h"
#include "harness.h"
#include "reference.h"
#include "tool_util.h"

#define TUNE_WARMUP 2
#define TUNE_WIN_RATIO 0.97   /* a candidate must beat the best by 3% in the same session */
#define TUNE_SLOW_RATIO 2.0   /* a warm-up this much slower than the best ends a candidate */
#define TUNE_COARSE_SHARE 0.6 /* of a class's time, before the fine search around the best */
#define TUNE_SEED UINT64_C(0x7e57da7a)

/* Where the search of a class stands. */
typedef struct search {
    const tune_row *row;
    const tune_config *config;
    harness_data data;
    harness_buffers buffers;
    const char *fault; /* test hook: CLCONVT_TUNE_FAULT (harness_check) */
    clconvt_layer *best, *default_layer;
    char best_plan[CLCONVT_EXPERIMENTAL_PLAN_MAX];
    double best_s, best_error, default_error;
} search;

/* Create, stage and check a layer with a plan. 0 with *out, or -1 with a reason. */
static int prepare_layer(search *s, const char *plan, int spoil, clconvt_layer **out, double *error,
                         char *reason, size_t size) {
    clconvt_layer *layer = NULL;
    clconvt_status st =
        clconvt_layer_create_with_plan(s->buffers.device, &s->data.params, plan, &layer);
    if (st == CLCONVT_SUCCESS)
        st = harness_stage(&s->data, layer);
    if (st != CLCONVT_SUCCESS) {
        snprintf(reason, size, "%s", clconvt_last_error());
        clconvt_layer_release(layer);
        return -1;
    }
    if (harness_check(&s->buffers, &s->data, layer, spoil ? s->fault : NULL, error, reason, size) !=
        0) {
        clconvt_layer_release(layer);
        return -1;
    }
    *out = layer;
    return 0;
}

/* Make layer (checked, with plan and error) the best so far. */
static void crown(search *s, clconvt_layer *layer, const char *plan, double seconds, double error,
                  int is_default) {
    if (s->best != s->default_layer)
        clconvt_layer_release(s->best);
    s->best = layer;
    s->best_s = seconds;
    s->best_error = error;
    snprintf(s->best_plan, sizeof s->best_plan, "%s", plan);
    if (is_default) {
        s->default_layer = layer;
        s->default_error = error;
    }
}

/* Measure one candidate against the best; what[size] says how it went. */
static void try_candidate(search *s, const char *plan, int is_default, char *what, size_t size) {
    char reason[1024];
    clconvt_layer *layer = NULL;
    double error = 0.0, warm = 0.0;
    harness_timing incumbent = {0}, mine = {0};
    if (prepare_layer(s, plan, !is_default, &layer, &error, reason, sizeof reason) != 0) {
        snprintf(what, size, "rejected: %s", reason);
        if (is_default)
            fprintf(stderr,
                    TUNE_PROGRAM ": warning: the built-in default plan fails the check for %s; "
                                 "please report this\n",
                    s->row->shape.name);
        return;
    }
    /* Warm-up; a candidate far slower than the best stops here. */
    for (int w = 0; w < TUNE_WARMUP && warm >= 0; ++w)
        warm = harness_time_forward(&s->buffers, &s->data, layer, reason, sizeof reason);
    if (warm < 0) {
        snprintf(what, size, "rejected: %s", reason);
    } else if (s->best != NULL && warm > TUNE_SLOW_RATIO * s->best_s) {
        snprintf(what, size, "%.3f ms in warm-up, far slower than %.3f ms", warm * 1e3,
                 s->best_s * 1e3);
    } else if (harness_measure(&s->buffers, &s->data, s->best ? s->best : layer,
                               s->best ? layer : NULL, s->config->repeat, &incumbent, &mine, reason,
                               sizeof reason) != 0) {
        snprintf(what, size, "rejected: %s", reason);
    } else if (s->best == NULL) {
        snprintf(what, size, "%.3f ms%s", incumbent.median * 1e3,
                 is_default ? " (the built-in default)" : "");
        crown(s, layer, plan, incumbent.median, error, is_default);
        layer = NULL;
    } else if (mine.median < TUNE_WIN_RATIO * incumbent.median) {
        snprintf(what, size, "%.3f ms vs %.3f ms: the new best", mine.median * 1e3,
                 incumbent.median * 1e3);
        crown(s, layer, plan, mine.median, error, 0);
        layer = NULL;
    } else {
        s->best_s = incumbent.median;
        snprintf(what, size, "%.3f ms vs %.3f ms of the best", mine.median * 1e3,
                 incumbent.median * 1e3);
    }
    clconvt_layer_release(layer);
}

/* The candidates, until the list or the time ends; the fine variants of the best come after the
 * coarse ones (or when the coarse share of the time is spent). Returns how many were tried. */
static int run_candidates(search *s, candidate_list *list, int coarse_count, double stop,
                          int *fine_added) {
    const double class_start = tool_now_seconds();
    const double coarse_stop = class_start + TUNE_COARSE_SHARE * (stop - class_start);
    double default_cost = 0.0, worst_cost = 0.0; /* seconds per candidate, start to end */
    int index = 0;
    for (;;) {
        if (!*fine_added && s->best != NULL &&
            (index > coarse_count || tool_now_seconds() >= coarse_stop)) {
            *fine_added = 1;
            const int n = candidates_add_fine(list, s->best_plan);
            candidates_move_up(list, index, n);
            fprintf(stderr, TUNE_PROGRAM ":   %d fine variants of the best so far (%s)\n", n,
                    s->best_plan);
        }
        if (index >= list->count)
            break;
        const char *text = list->text[index];
        const int is_default = index == 0;
        /* Start a candidate only if the dearest one so far (the default's cost until one has
         * ended) and the final measurement still fit: a started compile cannot be interrupted,
         * costs differ by path (a phase_fold compile takes twice a phase one), and a class that
         * overruns its stop takes the time of the classes after it. */
        const double started = tool_now_seconds();
        const double expected = index > 1 ? worst_cost : default_cost;
        if (!is_default && started + expected + 4 * s->config->repeat * s->best_s > stop)
            break;
        ++index;
        char what[1400];
        try_candidate(s, text, is_default, what, sizeof what);
        fprintf(stderr, TUNE_PROGRAM ":   %d/%d %s  %s\n", index, list->count, text, what);
        const double cost = tool_now_seconds() - started;
        if (is_default)
            default_cost = cost;
        else if (cost > worst_cost)
            worst_cost = cost;
    }
    return index;
}

/* The last word: the best against the default, interleaved, twice as many rounds. */
static int final_measurement(search *s, tune_outcome *result) {
    if (s->default_layer == NULL || s->best == s->default_layer)
        return 0;
    char reason[1024];
    harness_timing d = {0}, w = {0};
    if (harness_measure(&s->buffers, &s->data, s->default_layer, s->best, 2 * s->config->repeat, &d,
                        &w, reason, sizeof reason) != 0) {
        fprintf(stderr, TUNE_PROGRAM ": the final measurement of %s failed: %s\n",
                s->row->shape.name, reason);
        return -1;
    }
    result->default_ms = d.median * 1e3;
    result->median_ms = w.median * 1e3;
    if (w.median >= d.median) {
        fprintf(stderr,
                TUNE_PROGRAM ":   %s measured %.3f ms against the default's %.3f ms at the end: "
                             "the default stays\n",
                s->best_plan, w.median * 1e3, d.median * 1e3);
        snprintf(result->plan, sizeof result->plan, "%s", result->default_plan);
        result->median_ms = d.median * 1e3;
        result->error = s->default_error;
    }
    return 0;
}

/* The candidate list of a class, the built-in default first; -1 after a message. */
static int list_candidates(clconvt_device *device, const tune_row *row, candidate_list *list,
                           tune_outcome *result, int *coarse_count) {
    const shapes_row *shape = &row->shape;
    if (candidates_open(list, device, &shape->params) != 0) {
        fprintf(stderr, TUNE_PROGRAM ": out of host memory\n");
        return -1;
    }
    if (clconvt_experimental_plan_default(device, &shape->params, result->default_plan,
                                          sizeof result->default_plan) != CLCONVT_SUCCESS) {
        fprintf(stderr, TUNE_PROGRAM ": the planner refused %s: %s\n", shape->name,
                clconvt_last_error());
        return -1;
    }
    candidates_add(list, result->default_plan, 0);
    *coarse_count = candidates_add_coarse(list, row->shape_class);
    return 0;
}

int tune_search_class(clconvt_device *device, const tune_row *row, double stop,
                      const tune_config *config, tune_outcome *result) {
    int rc = -1, coarse_count = 0, fine_added = 0;
    char reason[1024];
    const shapes_row *shape = &row->shape;
    search s = {.row = row, .config = config, .fault = getenv("CLCONVT_TUNE_FAULT")};
    candidate_list list = {0};
    memset(result, 0, sizeof *result);
    const uint64_t seed = reference_hash(row->shape_class) ^ TUNE_SEED;
    if (harness_data_make(&s.data, &shape->params, shape->batch, shape->length_in, seed, reason,
                          sizeof reason) != 0 ||
        harness_buffers_open(&s.buffers, device, &s.data, 1, reason, sizeof reason) != 0) {
        fprintf(stderr, TUNE_PROGRAM ": preparing %s failed: %s\n", shape->name, reason);
        goto cleanup;
    }
    if (list_candidates(device, row, &list, result, &coarse_count) != 0)
        goto cleanup;
    const int tried = run_candidates(&s, &list, coarse_count, stop, &fine_added);
    result->tried = tried;
    result->candidates = list.count;
    result->complete = fine_added && tried == list.count;
    if (s.best == NULL) {
        fprintf(stderr, TUNE_PROGRAM ": no plan passed the check for %s\n", shape->name);
        goto cleanup;
    }
    snprintf(result->plan, sizeof result->plan, "%s", s.best_plan);
    result->median_ms = s.best_s * 1e3;
    result->error = s.best_error;
    result->default_ms = s.default_layer != NULL ? s.best_s * 1e3 : -1.0;
    rc = final_measurement(&s, result);
cleanup:
    if (s.best != s.default_layer)
        clconvt_layer_release(s.best);
    clconvt_layer_release(s.default_layer);
    candidates_release(&list);
    harness_buffers_release(&s.buffers);
    harness_data_free(&s.data);
    return rc;
}
