#include "plan.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "number.h"
#include "tuning_db.h"

/* The default work-group: 2 position tiles x up to 8 channel tiles (the 8 share their inputs in
 * cache); an interleaved A/B on shapes.csv found 4 x 4 no better. */
#define LOCAL_POSITIONS 2
#define LOCAL_CHANNELS 8
#define LOCAL_FOLD_POSITIONS 8

extern const char clconvt_source_phase[];
extern const char clconvt_source_phase_pos[];
extern const char clconvt_source_phase_chan[];
extern const char clconvt_source_col2im[];
extern const char clconvt_source_phase_dw[];
extern const char clconvt_source_phase_fold[];

static const struct {
    const char *name, *kernel, *source;
    plan usual; /* the tile shape a forced plan starts from */
} PATHS[PATH_COUNT] = {
    [PATH_PHASE] = {"phase",
                    "phase_forward",
                    clconvt_source_phase,
                    {.path = PATH_PHASE, .vec = 1, .tile_p = 4, .tile_c = 4}},
    [PATH_PHASE_POS] = {"phase_pos",
                        "phase_pos_forward",
                        clconvt_source_phase_pos,
                        {.path = PATH_PHASE_POS, .vec = 16, .tile_p = 32, .tile_c = 4}},
    [PATH_PHASE_CHAN] = {"phase_chan",
                         "phase_chan_forward",
                         clconvt_source_phase_chan,
                         {.path = PATH_PHASE_CHAN, .vec = 16, .tile_p = 8, .tile_c = 16}},
    [PATH_PHASE_DW] = {"phase_dw",
                       "phase_dw_forward",
                       clconvt_source_phase_dw,
                       {.path = PATH_PHASE_DW, .vec = 16, .tile_p = 8, .tile_c = 16}},
    /* The kernel is the col2im half; one work-item per output element. */
    [PATH_GEMM] = {"gemm",
                   "col2im_forward",
                   clconvt_source_col2im,
                   {.path = PATH_GEMM, .vec = 1, .tile_p = 1, .tile_c = 1}},
    /* tile_c 0: four vectors of channels, however many channels a vector holds at this stride */
    [PATH_PHASE_FOLD] = {"phase_fold",
                         "phase_fold_forward",
                         clconvt_source_phase_fold,
                         {.path = PATH_PHASE_FOLD, .vec = 16, .tile_p = 6, .tile_c = 0}},
};

const char *clconvt_plan_path_name(plan_path path) {
    return PATHS[path].name;
}
const char *clconvt_plan_source(const plan *plan) {
    return PATHS[plan->path].source;
}
const char *clconvt_plan_kernel_name(const plan *plan) {
    return PATHS[plan->path].kernel;
}

/* phase_fold: output channels per vector (its lanes are channels x stride phases), and taps per
 * phase (the short phases padded with zero weights). */
static int fold_channels_per_vector(const plan *p, const clconvt_params *params) {
    return (int)(p->vec / params->stride);
}
static int64_t fold_taps(const clconvt_params *params) {
    return (params->kernel_length + params->stride - 1) / params->stride;
}

/* Up to four vectors of channels, fewer when the group has fewer channels. */
static int fold_default_channels(const plan *p, const clconvt_params *params) {
    const int64_t lc = fold_channels_per_vector(p, params);
    const int64_t cout_g = params->out_channels / params->groups;
    const int64_t vectors = (cout_g + lc - 1) / lc;
    return (int)(lc * (vectors < 4 ? vectors : 4));
}

/* Whether the planner picks phase_fold with its usual vector p (16 lanes): NCL, dilation 1, a
 * stride of 2..vec that fills at least 3/4 of the lanes (not 9..11), and enough channels to fill
 * a vector (channel-starved layers such as Conv-TasNet's single output channel are faster on
 * phase_pos). */
static int fold_fits(const plan *p, const clconvt_params *params) {
    const int64_t s = params->stride;
    if (params->layout != CLCONVT_LAYOUT_NCL || params->dilation != 1 || s < 2 || s > p->vec)
        return 0;
    const int64_t lc = fold_channels_per_vector(p, params);
    return 4 * s * lc >= 3 * p->vec && params->out_channels / params->groups >= lc;
}

static void finish(plan *p, const clconvt_params *params) {
    /* Depthwise: the channel tile runs across groups, so pad the channel count instead. */
    const int64_t channels =
        p->path == PATH_PHASE_DW ? params->groups : params->out_channels / params->groups;
    p->cout_g_padded = (channels + p->tile_c - 1) / p->tile_c * p->tile_c;
}

void clconvt_plan_packed_dims(const plan *p, const clconvt_params *params, int64_t dims[3]) {
    dims[0] = p->path == PATH_PHASE_DW ? 1 : params->in_channels;
    dims[1] = params->kernel_length;
    dims[2] = p->cout_g_padded;
    if (p->path == PATH_PHASE_FOLD) { /* whole vectors (channels x phases) per tap of a phase */
        dims[1] = fold_taps(params) * p->vec;
        dims[2] = p->cout_g_padded / fold_channels_per_vector(p, params);
    }
}

size_t clconvt_plan_packed_count(const plan *p, const clconvt_params *params) {
    int64_t dims[3];
    clconvt_plan_packed_dims(p, params, dims);
    return (size_t)(dims[0] * dims[1] * dims[2]);
}

int64_t clconvt_plan_packed_index(const plan *p, const clconvt_params *params, int64_t g, int64_t k,
                                  int64_t ci_local, int64_t c) {
    const int64_t k_len = params->kernel_length, cin_g = params->in_channels / params->groups;
    switch (p->path) {
    case PATH_GEMM: /* W^T per group: (Cout_g * K) x Cin_g */
        return ((g * (params->out_channels / params->groups) + c) * k_len + k) * cin_g + ci_local;
    case PATH_PHASE_DW: /* [k][channel] */ return k * p->cout_g_padded + g;
    case PATH_PHASE_FOLD: { /* [group][channel tile][tap j][ci][vector][channel x phase] */
        const int64_t lc = fold_channels_per_vector(p, params), s = params->stride;
        const int64_t tiles = p->cout_g_padded / p->tile_c, vectors = p->tile_c / lc;
        const int64_t tile = c / p->tile_c, vector = c % p->tile_c / lc;
        return (((((g * tiles + tile) * fold_taps(params) + k / s) * cin_g + ci_local) * vectors +
                 vector) *
                    p->vec +
                c % lc * s + k % s);
    }
    default: /* [group][k][channel tile][ci][c in tile] */
        return (((g * k_len + k) * (p->cout_g_padded / p->tile_c) + c / p->tile_c) * cin_g +
                ci_local) *
                   p->tile_c +
               c % p->tile_c;
    }
}

int64_t clconvt_plan_position_tiles(const plan *p, const clconvt_params *params, int64_t length_out,
                                    int64_t pad_left) {
    const int64_t s = params->stride;
    if (p->path == PATH_PHASE_FOLD) { /* positions q that reach [0, length_out), all phases */
        const int64_t positions = (length_out - 1 + pad_left) / s - pad_left / s + 1;
        return (positions + p->tile_p - 1) / p->tile_p;
    }
    return ((length_out + s - 1) / s + p->tile_p - 1) / p->tile_p; /* per phase */
}

int64_t clconvt_plan_batch_items(const plan *p, const clconvt_params *params, int64_t batch) {
    return p->path == PATH_PHASE_FOLD ? batch : batch * params->stride;
}

int64_t clconvt_plan_channel_tiles(const plan *p, const clconvt_params *params) {
    if (p->path == PATH_PHASE_DW)
        return p->cout_g_padded / p->tile_c;
    return params->groups * (p->cout_g_padded / p->tile_c);
}

/*
 * A fixed work-group size. Left to the runtime, PoCL picks one from the global size, that is from
 * the input length, and compiles the kernel again for each new one: a hidden compile per length.
 * The channel extent is capped by the layer's channel tiles (a layer constant, so still no
 * compile per length), so that channel-starved layers do not run mostly empty work-groups.
 */
static void fixed_local_size(const clconvt_params *params, plan *p) {
    const int phases_given = p->local[2] != 0;
    if (!phases_given)
        p->local[2] = 1;
    if (p->local[0] != 0)
        return;
    const int64_t channel_tiles = clconvt_plan_channel_tiles(p, params);
    const int wide = LOCAL_CHANNELS;
    if (p->path == PATH_PHASE_FOLD) {
        /* Position tiles of one channel tile: they share the tile's weights, the large operand
         * here (the inputs a work-item reads are a few hundred bytes per chunk). */
        p->local[0] = LOCAL_FOLD_POSITIONS;
        p->local[1] = 1;
        return;
    }
    if (params->stride >= 16 && p->path != PATH_GEMM) {
        /* Large strides (WaveGlow's 256): one phase's outputs are a stride apart, so a cache line
         * of output is written by many phases; running 16 phases of one tile back to back lets
         * them fill each line while it is still in cache (NCL waveglow_up: 22 -> 13 ms). */
        p->local[0] = p->local[1] = 1;
        p->local[2] = phases_given ? p->local[2] : 16;
        return;
    }
    p->local[0] = LOCAL_POSITIONS;
    p->local[1] = channel_tiles < wide ? (int)channel_tiles : wide;
}

/*
 * Private memory. The accumulators of one work-item are its register tile; past
 * REGISTER_TILE_MAX floats a kernel spills on every device and compiles for minutes (PoCL took
 * 140 s for phase:p=1024,c=1024, then overflowed its stack). Beyond the tile, a work-item keeps
 * the operands of one step and the staging arrays of its stores (each kernel's locals).
 */
#define REGISTER_TILE_MAX 1024

static int64_t accumulators(const plan *p, const clconvt_params *params) {
    switch (p->path) {
    case PATH_PHASE_FOLD: /* CV vectors of channels x phases, for each of p positions */
        return (int64_t)(p->tile_c / fold_channels_per_vector(p, params)) * p->tile_p * p->vec;
    case PATH_PHASE_DW: return (int64_t)p->tile_p * p->vec;
    case PATH_GEMM: return 1; /* col2im: one sum */
    default: return (int64_t)p->tile_p * p->tile_c;
    }
}

static int64_t private_floats(const plan *p, const clconvt_params *params) {
    const int64_t tile = accumulators(p, params);
    switch (p->path) {
    case PATH_PHASE: return tile + p->tile_p + p->tile_c;       /* inputs, weights */
    case PATH_PHASE_POS: return tile + 2 * p->tile_p + p->vec;  /* inputs, masks, lanes */
    case PATH_PHASE_CHAN: return tile + 2 * p->tile_c + p->vec; /* weights, bias, lanes */
    case PATH_PHASE_DW: return tile + 2 * p->vec;               /* weights, lanes */
    case PATH_PHASE_FOLD:
        return tile + p->tile_c / fold_channels_per_vector(p, params) * p->vec +
               p->vec; /* weights, lanes */
    default: return tile + 16;
    }
}

/* Work-items of the plan's work-group as the layer runs it: fit_work_group (layer.c) halves an
 * extent until the group fits the device's maximum. */
static uint64_t work_group_items(const clconvt_device *device, const plan *p) {
    const uint64_t items = (uint64_t)p->local[0] * (uint64_t)p->local[1] * (uint64_t)p->local[2];
    return device->max_work_group_size != 0 && items > device->max_work_group_size
               ? (uint64_t)device->max_work_group_size
               : items;
}

static uint64_t work_group_private_bytes(const clconvt_device *device, const plan *p,
                                         const clconvt_params *params) {
    return (uint64_t)private_floats(p, params) * sizeof(float) * work_group_items(device, p);
}

/* A built-in work-group that would exceed the device's private budget (a small RLIMIT_STACK) is
 * narrowed, never refused: the default plan must always run. */
static void fit_private_budget(const clconvt_device *device, const clconvt_params *params,
                               plan *p) {
    int *local = p->local;
    while (device->private_budget_bytes != 0 &&
           work_group_private_bytes(device, p, params) > device->private_budget_bytes &&
           (local[0] > 1 || local[1] > 1 || local[2] > 1))
        local[local[2] > 1 ? 2 : local[1] > 1 ? 1 : 0] /= 2;
}

/* The built-in choice. Few distinct tile shapes keep the number of programs (about a second
 * each on PoCL) bounded. */
void clconvt_plan_default(const clconvt_device *device, const clconvt_params *params, plan *out) {
    const int64_t cin_g = params->in_channels / params->groups;
    const int64_t cout_g = params->out_channels / params->groups;
    const int cpu = (device->type & CL_DEVICE_TYPE_CPU) != 0;
    if (CLCONVT_HAVE_CLBLAST && !cpu && params->dtype == CLCONVT_F32 && params->groups == 1 &&
        cin_g * cout_g >= 65536) {
        /* GPUs with large channel counts: CLBlast's tuned GEMM, then col2im. */
        *out = PATHS[PATH_GEMM].usual;
    } else if (cpu && fold_fits(&PATHS[PATH_PHASE_FOLD].usual, params)) {
        /* All phases of a position in one vector: whole-vector stores, inputs loaded once for
         * every phase (hifigan_v1_up2 on PoCL: 139 -> 217 GFLOP/s). */
        *out = PATHS[PATH_PHASE_FOLD].usual;
        out->tile_c = fold_default_channels(out, params);
    } else if (params->layout == CLCONVT_LAYOUT_NCL) {
        /* Positions are contiguous in NCL rows: vectorise over them. On a CPU, a long reduction
         * goes in chunks of 128 input channels so that a work-group's operands stay in L1
         * (bigvgan's 768 and 1536 channels: 1.7-1.8x faster on PoCL). */
        const int tile_c = cout_g >= 12 ? 12 : cout_g >= 3 ? 4 : 1;
        *out = (plan){.path = PATH_PHASE_POS,
                      .vec = 16,
                      .tile_p = 32,
                      .tile_c = tile_c,
                      .ci_chunk = cpu && cin_g > 256 ? 128 : 0};
    } else if (cin_g == 1 && cout_g == 1 && params->groups >= 8) {
        /* Depthwise, channels-last: vectorise over neighbouring channels. */
        const int vec = params->groups >= 16 ? 16 : 8;
        *out = (plan){.path = PATH_PHASE_DW, .vec = vec, .tile_p = 8, .tile_c = vec};
    } else if (cout_g >= 16) {
        /* Channels are contiguous in NLC rows: vectorise over output channels. */
        *out = (plan){
            .path = PATH_PHASE_CHAN, .vec = 16, .tile_p = 8, .tile_c = cout_g >= 32 ? 32 : 16};
    } else {
        /* Too few output channels per group to fill a vector: the scalar tile. */
        *out = (plan){.path = PATH_PHASE, .vec = 1, .tile_p = 4, .tile_c = cout_g >= 3 ? 4 : 1};
    }
    finish(out, params);
    fixed_local_size(params, out);
    fit_private_budget(device, params, out);
}

/* Refuse a plan its kernel cannot run: a sentence naming where the plan came from. */
static clconvt_status refuse(const char *origin, const char *text, const char *why) {
    return clconvt_fail(CLCONVT_ERROR_INVALID_ARGUMENT, "%s \"%s\": %s", origin, text, why);
}

/* Check a plan's shape against what its kernel supports. */
static clconvt_status check_shape(const char *origin, const char *text,
                                  const clconvt_params *params, const plan *p) {
    if (p->path == PATH_PHASE_POS && params->layout != CLCONVT_LAYOUT_NCL)
        return refuse(origin, text, "phase_pos needs the NCL layout");
    if (p->path == PATH_PHASE_CHAN && params->layout != CLCONVT_LAYOUT_NLC)
        return refuse(origin, text, "phase_chan needs the NLC layout");
    if (p->path == PATH_PHASE_DW &&
        (params->layout != CLCONVT_LAYOUT_NLC || params->in_channels != params->groups ||
         params->out_channels != params->groups))
        return refuse(origin, text, "phase_dw needs a depthwise layer (groups = Cin = Cout), NLC");
    if ((p->path == PATH_PHASE_POS || p->path == PATH_PHASE_CHAN || p->path == PATH_PHASE_DW ||
         p->path == PATH_PHASE_FOLD) &&
        p->vec != 4 && p->vec != 8 && p->vec != 16)
        return refuse(origin, text, "vec must be 4, 8 or 16");
    if (p->path == PATH_PHASE_FOLD) {
        if (params->layout != CLCONVT_LAYOUT_NCL || params->dilation != 1)
            return refuse(origin, text, "phase_fold needs the NCL layout and dilation 1");
        if (params->stride > p->vec)
            return refuse(origin, text, "phase_fold needs the stride to be at most vec");
        if (p->tile_c % fold_channels_per_vector(p, params) != 0)
            return refuse(origin, text,
                          "phase_fold needs c to be a multiple of vec / stride (channels per "
                          "vector)");
    }
    if (p->path == PATH_PHASE_POS && p->tile_p % p->vec != 0)
        return refuse(origin, text, "phase_pos needs p to be a multiple of vec");
    if (p->path == PATH_PHASE_DW && p->tile_c != p->vec)
        return refuse(origin, text, "phase_dw's channel tile is its vector: c must equal vec");
    if (p->path == PATH_PHASE_CHAN && p->tile_c % p->vec != 0)
        return refuse(origin, text, "phase_chan needs c to be a multiple of vec");
    if (p->path == PATH_GEMM && params->dtype != CLCONVT_F32)
        return refuse(origin, text, "the gemm path (CLBlast SGEMM) needs f32 storage");
    if (p->path == PATH_GEMM && (p->vec != 1 || p->tile_p != 1 || p->tile_c != 1))
        return refuse(origin, text, "the gemm path takes no vec, p or c");
    if (p->ci_chunk != 0 && p->path != PATH_PHASE_POS && p->path != PATH_PHASE_FOLD)
        return refuse(origin, text, "only phase_pos and phase_fold take chunk");
    if ((p->local[0] == 0) != (p->local[1] == 0))
        return refuse(origin, text, "give both lp and lc, or neither");
    if (p->local[2] > 1 && p->path == PATH_GEMM)
        return refuse(origin, text, "the gemm path takes no lr");
    return CLCONVT_SUCCESS;
}

/* Refuse a plan whose work-items, or whose work-group, would hold more private memory than the
 * device can: a crash or a silently wrong result otherwise. */
static clconvt_status check_private_memory(const clconvt_device *device, const char *origin,
                                           const char *text, const clconvt_params *params,
                                           const plan *p) {
    const int64_t tile = accumulators(p, params);
    if (tile > REGISTER_TILE_MAX)
        return clconvt_fail(CLCONVT_ERROR_INVALID_ARGUMENT,
                            "%s \"%s\": its register tile holds %lld accumulators per work-item, "
                            "more than the %d a kernel may hold (p x c; phase_dw: p x vec; "
                            "phase_fold: p x vec x c / (vec / stride))",
                            origin, text, (long long)tile, REGISTER_TILE_MAX);
    const uint64_t bytes = work_group_private_bytes(device, p, params);
    if (device->private_budget_bytes != 0 && bytes > device->private_budget_bytes)
        return clconvt_fail(CLCONVT_ERROR_INVALID_ARGUMENT,
                            "%s \"%s\": its work-group of %llu work-items would hold %llu bytes of "
                            "private memory (%lld per work-item), more than the %llu this device "
                            "gives a work-group (a quarter of the thread stack, RLIMIT_STACK); "
                            "lower lp, lc, lr, p or c",
                            origin, text, (unsigned long long)work_group_items(device, p),
                            (unsigned long long)bytes,
                            (long long)private_floats(p, params) * (long long)sizeof(float),
                            (unsigned long long)device->private_budget_bytes);
    return CLCONVT_SUCCESS;
}

static const char *const KEYS[] = {"vec", "p", "c", "lp", "lc", "chunk", "lr"};
#define KEY_COUNT (sizeof KEYS / sizeof KEYS[0])
#define CHUNK_KEY 5         /* the one key that may be 0 */
#define PLAN_VALUE_MAX 4096 /* the largest value of any key */

static int *key_fields(plan *p, int *fields[KEY_COUNT]) {
    int *const all[KEY_COUNT] = {&p->vec,      &p->tile_p,   &p->tile_c,  &p->local[0],
                                 &p->local[1], &p->ci_chunk, &p->local[2]};
    memcpy(fields, all, sizeof all);
    return fields[0];
}

clconvt_status clconvt_plan_parse(const clconvt_device *device, const clconvt_params *params,
                                  const char *origin, const char *text, plan *out) {
    plan p;
    clconvt_plan_default(device, params, &p);
    const char *colon = strchr(text, ':');
    const size_t name_length = colon ? (size_t)(colon - text) : strlen(text);
    int found = 0;
    for (int i = 0; i < PATH_COUNT; ++i)
        if (strlen(PATHS[i].name) == name_length &&
            strncmp(PATHS[i].name, text, name_length) == 0) {
            found = 1;
            /* Another path: start from its usual shape; phase_fold always does, since its
             * default c follows vec. */
            if (p.path != (plan_path)i || i == PATH_PHASE_FOLD)
                p = PATHS[i].usual;
        }
    if (!found)
        return refuse(origin, text,
                      "names no kernel path (phase, phase_pos, phase_chan, phase_dw, gemm, "
                      "phase_fold)");
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
            return refuse(origin, text, "unknown key (vec, p, c, lp, lc, chunk, lr)");
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
    if (p.path == PATH_PHASE)
        p.vec = 1;
    if (p.path == PATH_PHASE_FOLD && p.tile_c == 0 && params->stride <= p.vec)
        p.tile_c = fold_default_channels(&p, params);
    clconvt_status status = check_shape(origin, text, params, &p);
    if (status != CLCONVT_SUCCESS)
        return status;
    finish(&p, params);
    fixed_local_size(params, &p);
    if ((status = check_private_memory(device, origin, text, params, &p)) != CLCONVT_SUCCESS)
        return status;
    *out = p;
    return CLCONVT_SUCCESS;
}

/* Whether a plan string states this key for this path (the others do not apply to it). */
static int key_applies(plan_path path, size_t key) {
    if (path == PATH_GEMM)
        return key >= 3 && key != CHUNK_KEY; /* lp, lc, lr */
    if (key == 0)
        return path != PATH_PHASE; /* vec */
    if (key == CHUNK_KEY)
        return path == PATH_PHASE_POS ||
               path == PATH_PHASE_FOLD; /* chunk, also when 0: the default may chunk */
    return 1;
}

void clconvt_plan_format(const plan *p, char *text, size_t size) {
    int *fields[KEY_COUNT];
    key_fields((plan *)p, fields);
    size_t used = (size_t)snprintf(text, size, "%s", PATHS[p->path].name);
    const char *separator = ":";
    for (size_t k = 0; k < KEY_COUNT && used < size; ++k)
        if (key_applies(p->path, k) && (*fields[k] != 0 || k == CHUNK_KEY)) {
            used += (size_t)snprintf(text + used, size - used, "%s%s=%d", separator, KEYS[k],
                                     *fields[k]);
            separator = ",";
        }
}

clconvt_status clconvt_plan_choose(const clconvt_device *device, const clconvt_params *params,
                                   const char *requested, plan *out, int *from_database) {
    int tuned = 0;
    clconvt_status status = CLCONVT_SUCCESS;
    const char *forced = getenv("CLCONVT_PLAN");
    if (requested != NULL && *requested != '\0')
        status = clconvt_plan_parse(device, params, "plan", requested, out);
    else if (forced != NULL && *forced != '\0')
        status = clconvt_plan_parse(device, params, "CLCONVT_PLAN", forced, out);
    else if (!(tuned = clconvt_tuning_db_choose(device, params, out)))
        clconvt_plan_default(device, params, out);
    if (from_database != NULL)
        *from_database = tuned;
    return status;
}

void clconvt_plan_build_options(const clconvt_params *params, const plan *plan, char *options,
                                size_t size) {
    /* Each path reads the macros it needs; the others are harmless. PV and CV: position and
     * channel vectors per work-item (phase_fold: positions, and vectors of channels x phases). */
    const int fold = plan->path == PATH_PHASE_FOLD;
    const int pv = fold ? plan->tile_p : plan->tile_p / plan->vec;
    const int cv =
        fold ? plan->tile_c / fold_channels_per_vector(plan, params) : plan->tile_c / plan->vec;
    snprintf(options, size,
             "-cl-std=CL1.2 -cl-mad-enable -DSTRIDE=%lld -DLAYOUT_NCL=%d -DDTYPE=%d -DVEC=%d "
             "-DTILE_P=%d -DTILE_C=%d -DPV=%d -DCO_T=%d -DCV=%d -DCI_CHUNK=%d",
             (long long)params->stride, params->layout == CLCONVT_LAYOUT_NCL ? 1 : 0,
             (int)params->dtype, plan->vec, plan->tile_p, plan->tile_c, pv, plan->tile_c, cv,
             plan->ci_chunk);
}
