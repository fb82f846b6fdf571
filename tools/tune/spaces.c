/* The search spaces of the kernel paths (spaces.h). */
#include "spaces.h"

#include "clconvt.h"

#define LAYOUT_BIT(layout) (1u << (layout))
#define ANY_LAYOUT (LAYOUT_BIT(CLCONVT_LAYOUT_NCL) | LAYOUT_BIT(CLCONVT_LAYOUT_NLC))

/* count and value of an axis from its values: VALUES(8, 16). */
#define VALUES(...)                                                                                \
    .count = (int)(sizeof((int[]){__VA_ARGS__}) / sizeof(int)), .value = {__VA_ARGS__}

/* The work-group shapes (position tiles x channel tiles) every vector path tries. */
#define WORK_GROUPS .key = "lp", .key2 = "lc", VALUES(1, 2, 4, 8), .value2 = {16, 8, 4, 2}

const tune_space TUNE_SPACES[] = {
    {.path = "phase",
     .layouts = ANY_LAYOUT,
     .coarse = {{.key = "p", VALUES(2, 4, 8)},
                {.key = "c", VALUES(1, 4, 8, 16), .cap_by_cout_g = 1}}},
    {.path = "phase_pos",
     .layouts = LAYOUT_BIT(CLCONVT_LAYOUT_NCL),
     .coarse = {{.key = "vec", VALUES(8, 16)},
                {.key = "p", VALUES(8, 16, 32, 48, 64)}, /* 8: GPU tiles (vec 8, c <= 4) */
                {.key = "c", VALUES(1, 4, 6, 8, 12, 16), .cap_by_cout_g = 1}},
     .fine = {{WORK_GROUPS}, {.key = "chunk", VALUES(0, 64, 128, 256), .above_cin_g = 128}}},
    {.path = "phase_chan",
     .layouts = LAYOUT_BIT(CLCONVT_LAYOUT_NLC),
     .coarse = {{.key = "vec", VALUES(8, 16)},
                {.key = "p", VALUES(2, 4, 6, 8, 12)}, /* 2: GPU tiles (2 x 16) */
                {.key = "c", VALUES(16, 32, 48), .cap_by_cout_g = 1}},
     .fine = {{WORK_GROUPS}}},
    {.path = "phase_dw", /* depthwise only: the library refuses it for other layers */
     .layouts = LAYOUT_BIT(CLCONVT_LAYOUT_NLC),
     .coarse = {{.key = "vec", .key2 = "c", VALUES(8, 16), .value2 = {8, 16}},
                {.key = "p", VALUES(2, 4, 8, 12, 16)}}, /* 2: GPU tiles (2 x 16) */
     .fine = {{WORK_GROUPS}}},
    {.path = "phase_fold", /* c: channels; a vector holds vec / stride of them */
     .layouts = LAYOUT_BIT(CLCONVT_LAYOUT_NCL),
     /* vec 4 and p 16: the channel-starved layers (one vector of channels x phases, whose
      * lanes then hold positions: cl/phase_fold.cl's POSITION_LANES) */
     .coarse = {{.key = "vec", VALUES(4, 8, 16)},
                {.key = "p", VALUES(1, 2, 4, 6, 8, 12, 16)}, /* 1, 2: GPU tiles */
                {.key = "c", VALUES(2, 4, 6, 8, 16, 32), .cap_by_cout_g = 1}},
     .fine = {{.key = "lp", .key2 = "lc", VALUES(1, 4, 8, 16), .value2 = {1, 1, 1, 2}},
              /* the block sized from the device's L1 (with pt), and fixed ones */
              {.key = "chunk", VALUES(0, TUNE_CACHE_BLOCK, 16, 32, 64)},
              /* pt: the cache-blocked form (with a chunk, its weight blocks) */
              {.key = "pt", VALUES(0, 4, 8)}}},
    {.path = "gemm", .layouts = ANY_LAYOUT},
};
const size_t TUNE_SPACE_COUNT = sizeof TUNE_SPACES / sizeof TUNE_SPACES[0];

int tune_axis_count(const tune_axis *axes) {
    int n = 0;
    while (n < TUNE_MAX_AXES && axes[n].key != NULL)
        ++n;
    return n;
}
