/* What the parts of clconvt-tune share: a row of the shapes file with its shape class, the
 * settings of a run, and what the search of one class found. */
#ifndef CLCONVT_TUNE_H
#define CLCONVT_TUNE_H

#include "clconvt.h"
#include "shapes.h"

#define TUNE_PROGRAM "clconvt-tune"

typedef struct tune_row {
    shapes_row shape;
    char shape_class[CLCONVT_EXPERIMENTAL_CLASS_MAX];
} tune_row;

typedef struct tune_config {
    double deadline; /* tool_now_seconds() when the budget runs out */
    int repeat;      /* timed forwards per measurement */
} tune_config;

/* What the search of one class found. */
typedef struct tune_outcome {
    char plan[CLCONVT_EXPERIMENTAL_PLAN_MAX], default_plan[CLCONVT_EXPERIMENTAL_PLAN_MAX];
    double median_ms, default_ms, error; /* default_ms < 0: the default was not measured */
    int tried, candidates, complete;
} tune_outcome;

#endif
