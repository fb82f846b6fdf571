/* The search of one shape class: the built-in default first, then the candidates (candidates.h),
 * each checked against the float64 reference before it may win (harness.h), each timed
 * interleaved with the best so far, until the class's share of the budget is spent. */
#ifndef CLCONVT_TUNE_SEARCH_H
#define CLCONVT_TUNE_SEARCH_H

#include "clconvt.h"
#include "tune.h"

/*
 * Search the class of row on device until stop (seconds, tool_now_seconds clock). Returns 0 with
 * *result, or -1 when no plan passed the check (after messages on stderr).
 */
int tune_search_class(clconvt_device *device, const tune_row *row, double stop,
                      const tune_config *config, tune_outcome *result);

#endif
