/*
 * A kernel path: one cl/ kernel and the C side that plans, packs for and launches it, described by
 * one const kernel_path (src/paths/NAME.c) listed in the table of src/paths/paths.c. The planner
 * (src/plan.c) and the layer (src/layer.c) know paths only through these descriptors.
 *
 * Adding a path: its cl/NAME.cl (and its line in cl/meson.build's kernel_names), its
 * src/paths/NAME.c exporting a kernel_path, its X(NAME) line in src/paths/paths.h (the table of
 * src/paths/paths.c is built from that list) and its line in src/meson.build's path_sources.
 */
#ifndef CLCONVT_PATH_H
#define CLCONVT_PATH_H

#include <stddef.h>
#include <stdint.h>

#include "../device_caps.h"
#include "clconvt.h"

typedef struct kernel_path kernel_path;

typedef struct plan {
    const kernel_path *path;
    int vec;               /* vector width (1 for the scalar path) */
    int tile_p;            /* positions of one phase per work-item (phase_fold: of all phases) */
    int tile_c;            /* output channels per work-item */
    int64_t cout_g_padded; /* Cout/groups (depthwise: groups) rounded up to whole tiles */
    int ci_chunk;          /* input channels per reduction chunk between barriers; 0: no chunks */
    int local[3]; /* work-group extent over (position tiles, channel tiles, phases); 0: unset */
    /* The fused input activation (clconvt_activation), -DACTIVATION: part of the program, not of
     * plan strings (the layer's setter sets it, src/activation.c). */
    int activation;
    /* Register tiles of tile_p positions per work-item, reduced block by block of ci_chunk input
     * channels (phase_fold's cache-blocked form); 0 or 1: one, as a plain tile. */
    int tiles_per_item;
} plan;

/* The keys of a plan string, in the order clconvt_plan_format writes them (src/plan.c's KEYS). */
enum plan_key {
    PLAN_KEY_VEC = 1 << 0,
    PLAN_KEY_P = 1 << 1,
    PLAN_KEY_C = 1 << 2,
    PLAN_KEY_LP = 1 << 3,
    PLAN_KEY_LC = 1 << 4,
    PLAN_KEY_CHUNK = 1 << 5,
    PLAN_KEY_LR = 1 << 6,
    PLAN_KEY_PT = 1 << 7,
};

/* One forward as the layer hands it to a path: over batch samples of length_in inputs into
 * length_out outputs with the given left padding, after wait, *done (when not NULL) its end. */
typedef struct path_launch {
    clconvt_device *device;
    const clconvt_params *params;
    const plan *plan;
    cl_program program;  /* built from the path's source with its build options */
    cl_mem weight, bias; /* packed weight; bias NULL without one */
    cl_command_queue queue;
    cl_mem in, out;
    /* The input activation's parameters (plan->activation its kind): LeakyReLU's slope or ELU's
     * alpha, and Snake's per-channel alphas (Cin floats; NULL for the other kinds). */
    float activation_alpha;
    cl_mem activation_alphas;
    int64_t batch, length_in, length_out, pad_left;
    cl_uint num_wait;
    const cl_event *wait;
    cl_event *done;
} path_launch;

/* The private memory of one work-item, in floats: its register tile (accumulators) and all. */
typedef struct private_memory {
    int64_t accumulators, floats;
} private_memory;

struct kernel_path {
    const char *name;        /* in plan strings */
    const char *source;      /* the kernel's text (cl/common.cl + cl/NAME.cl) */
    const char *source_file; /* that NAME.cl, the file of cl/ it comes from */
    const char *kernel;      /* its entry point */
    plan usual;              /* the tile shape a forced plan starts from */
    /* Its counterpart on a CPU of narrow vectors (clconvt_path_narrow_cpu); path NULL: usual. */
    plan narrow_usual;
    /* The built-in choice: of the paths whose suits() writes a plan for this device and layer,
     * the one of the lowest rank. */
    int default_rank;
    int (*suits)(const device_caps *caps, const clconvt_params *params, plan *out);
    unsigned keys;        /* the plan_keys that apply to it: clconvt_plan_format writes these */
    int parse_from_usual; /* a forced plan starts from usual even when the default is this path */
    int no_lr;            /* refuses lr > 1 */
    int channels_across_groups; /* the channel tile runs across groups (depthwise) */
    /* Nonzero when the grid's dimension 0 runs over batch items x position tiles (the item the
     * slower) and its dimension 2 is 1; NULL: never. */
    int (*batch_in_positions)(const plan *p, const clconvt_params *params);
    /* Its kernel loads no input (gemm: CLBlast reads it), so an input activation runs before it
     * as a pass of its own (src/activation.c). */
    int input_read_elsewhere;
    const char *tile_rule; /* its register tile in plan keys, when not "p x c" */
    /* After the plan string's keys: fill in what follows from them (may be NULL). */
    void (*complete)(const device_caps *caps, plan *p, const clconvt_params *params);
    /* NULL when the kernel runs this plan on this layer, else why not (a phrase). */
    const char *(*check)(const clconvt_params *params, const plan *p);
    /* The packed weight: three factors of its element count, and where weight (group g, tap k,
     * input channel ci_local of the group, output channel c of the group) goes. */
    void (*packed_dims)(const plan *p, const clconvt_params *params, int64_t dims[3]);
    int64_t (*packed_index)(const plan *p, const clconvt_params *params, int64_t g, int64_t k,
                            int64_t ci_local, int64_t c);
    /* The grid: work-items over positions and over the third dimension (batch items). */
    int64_t (*position_tiles)(const plan *p, const clconvt_params *params, int64_t length_out,
                              int64_t pad_left);
    int64_t (*batch_items)(const plan *p, const clconvt_params *params, int64_t batch);
    /* The default work-group extents local[0] and local[1] (local[2] too unless phases_given). */
    void (*local_size)(plan *p, const clconvt_params *params, int phases_given);
    private_memory (*private_memory)(const plan *p, const clconvt_params *params);
    /* The -D options its kernel reads. */
    void (*build_options)(const plan *p, const clconvt_params *params, char *options, size_t size);
    clconvt_status (*enqueue)(const path_launch *launch);
};

/* ---- Helpers the paths share (src/paths/shared.c) ------------------------------------------ */

/* The descriptor fields of a phase path (one work-item per position tile of one stride phase,
 * cl/common.cl's KERNEL_ARGUMENTS), and of one whose weight has the tiled layout too. */
#define CLCONVT_PHASE_PATH_GRID                                                                    \
    .position_tiles = clconvt_path_phase_position_tiles,                                           \
    .batch_items = clconvt_path_phase_batch_items, .local_size = clconvt_path_phase_local,         \
    .enqueue = clconvt_path_enqueue_phase
#define CLCONVT_PHASE_PATH_TILED                                                                   \
    .packed_dims = clconvt_path_tiled_dims, .packed_index = clconvt_path_tiled_index,              \
    CLCONVT_PHASE_PATH_GRID

/* A work-item's private memory: its register tile of accumulators, and the floats of its other
 * operands. */
static inline private_memory clconvt_path_memory(int64_t accumulators, int64_t operands) {
    return (private_memory){accumulators, accumulators + operands};
}

/* Work-items along the channel dimension of the grid (before rounding to work-groups). */
int64_t clconvt_path_channel_tiles(const plan *p, const clconvt_params *params);

/* The tiled weight layout [group][k][channel tile][ci][c in tile]. */
void clconvt_path_tiled_dims(const plan *p, const clconvt_params *params, int64_t dims[3]);
int64_t clconvt_path_tiled_index(const plan *p, const clconvt_params *params, int64_t g, int64_t k,
                                 int64_t ci_local, int64_t c);

/* One work-item per position tile of one phase, per sample and phase. */
int64_t clconvt_path_phase_position_tiles(const plan *p, const clconvt_params *params,
                                          int64_t length_out, int64_t pad_left);
int64_t clconvt_path_phase_batch_items(const plan *p, const clconvt_params *params, int64_t batch);

/* The NDRange of one launch over batch samples of length_out outputs: global[] the work-items
 * (position tiles, channel tiles, batch items) rounded up to whole work-groups of local[], the
 * plan's; returns 0 when the plan leaves the work-group to the runtime (local[] then unused). */
int clconvt_path_grid(const plan *p, const clconvt_params *params, int64_t batch,
                      int64_t length_out, int64_t pad_left, size_t global[3], size_t local[3]);

/* The default work-group: position tiles x up to 8 channel tiles. */
void clconvt_path_default_local(plan *p, const clconvt_params *params);
/* The phase paths' work-group: the default, or 16 phases of one tile for large strides. */
void clconvt_path_phase_local(plan *p, const clconvt_params *params, int phases_given);

/* NULL when vec is 4, 8 or 16, else the reason. */
const char *clconvt_path_check_vector(const plan *p);

/* Whether caps is a CPU whose vector registers hold fewer than 16 floats
 * (CL_DEVICE_NATIVE_VECTOR_WIDTH_FLOAT 8 with AVX2, 4 with SSE or NEON). The usual tiles are sized
 * for AVX-512's 32 registers of 16 floats; on AVX2's 16 registers of 8 the same tiles took 2-3x
 * their time (a Zen 3 EPYC, BENCHMARKS.md's ninth session): such CPUs get register tiles of at
 * most CLCONVT_NARROW_CPU_ACCUMULATORS floats. */
int clconvt_path_narrow_cpu(const device_caps *caps);
#define CLCONVT_NARROW_CPU_ACCUMULATORS 96 /* 12 of AVX2's 16 registers */

/* The tile a forced plan of path starts from on this device: its narrow_usual on a CPU of narrow
 * vectors, where it has one, else its usual. */
const plan *clconvt_path_usual(const kernel_path *path, const device_caps *caps);

/* The -D options of a kernel. macros: which of the PATH_OPTION_s it reads besides STRIDE, DTYPE
 * and CI_CHUNK (cl/common.cl's, read by all); pv and cv: position and channel vectors per
 * work-item. */
enum path_option {
    PATH_OPTION_LAYOUT = 1 << 0,
    PATH_OPTION_VEC = 1 << 1,
    PATH_OPTION_TILE_P = 1 << 2,
    PATH_OPTION_TILE_C = 1 << 3,
    PATH_OPTION_PV = 1 << 4,
    PATH_OPTION_CO_T = 1 << 5,
    PATH_OPTION_CV = 1 << 6,
    PATH_OPTION_PT = 1 << 7,
};
void clconvt_path_options(const plan *p, const clconvt_params *params, unsigned macros, int pv,
                          int cv, char *options, size_t size);

/* The phase paths' enqueue: every phase kernel takes the same arguments (cl/common.cl's
 * KERNEL_ARGUMENTS). */
clconvt_status clconvt_path_enqueue_phase(const path_launch *launch);

#endif
