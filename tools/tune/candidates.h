/* The list of plans the search of one class tries: the built-in default, every coarse combination
 * of each path's space (spaces.h), and later the fine variants of the best. */
#ifndef CLCONVT_TUNE_CANDIDATES_H
#define CLCONVT_TUNE_CANDIDATES_H

#include "clconvt.h"

#define TUNE_MAX_CANDIDATES 4096

typedef struct candidate_list {
    const clconvt_device *device;
    const clconvt_params *params;
    int count;
    char (*text)[CLCONVT_EXPERIMENTAL_PLAN_MAX]; /* TUNE_MAX_CANDIDATES entries */
} candidate_list;

/* An empty list for a layer; 0, or -1 when out of host memory. */
int candidates_open(candidate_list *list, const clconvt_device *device,
                    const clconvt_params *params);
void candidates_release(candidate_list *list);

/* Add a plan unless the library refuses it for this layer or it is there already (in the
 * library's spelling). With fit, a work-group wider than the layer's channel tiles is narrowed to
 * them. Returns 1 when added. */
int candidates_add(candidate_list *list, const char *text, int fit);

/* The coarse candidates of every path that fits the layout, in a random order seeded by the
 * class (so a run is reproducible). Returns how many were added. */
int candidates_add_coarse(candidate_list *list, const char *shape_class);

/* Variants of base (a plan string) with its path's fine axes set every way; how many. */
int candidates_add_fine(candidate_list *list, const char *base);

/* Move the last n entries of the list to position at (the fine variants are tried next). */
void candidates_move_up(candidate_list *list, int at, int n);

#endif
