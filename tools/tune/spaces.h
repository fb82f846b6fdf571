/* The search space of each kernel path: which plan keys the tuner varies, and over what values. */
#ifndef CLCONVT_TUNE_SPACES_H
#define CLCONVT_TUNE_SPACES_H

#include <stddef.h>
#include <stdint.h>

#define TUNE_MAX_AXES 4
#define TUNE_CACHE_BLOCK (-1)

/* One parameter of a plan and the values the search gives it. */
typedef struct tune_axis {
    const char *key, *key2; /* plan keys; key2 pairs a second key with each value ("lp" x "lc") */
    int count;
    /* 0: the key is left out (the path's own choice); TUNE_CACHE_BLOCK: chunk only, the block
     * the library sizes from the device's caches for the candidate's tile */
    int value[8], value2[8];
    int cap_by_cout_g;   /* values above Cout/groups only up to the first that covers it */
    int64_t above_cin_g; /* used only when Cin/groups exceeds this; else left out */
} tune_axis;

/* A kernel path and its search: every combination of the coarse axes is a candidate (in a seeded
 * random order); then the fine axes are varied around the best. The library has the last word
 * (clconvt_experimental_plan_check): a combination it refuses for the layer (p not a multiple of
 * vec, the wrong layout, a dtype the path lacks) is never tried. Adding a path is one entry. */
typedef struct tune_space {
    const char *path;
    unsigned layouts; /* bit 1 << clconvt_layout for each layout the path serves */
    tune_axis coarse[TUNE_MAX_AXES];
    tune_axis fine[TUNE_MAX_AXES];
} tune_space;

extern const tune_space TUNE_SPACES[];
extern const size_t TUNE_SPACE_COUNT;

/* The number of axes in axes[TUNE_MAX_AXES] (they end at the first without a key). */
int tune_axis_count(const tune_axis *axes);

#endif
