/* The folded NCL path (cl/phase_fold.cl), dilation 1: a vector's lanes are channels x stride
 * phases, so all phases of a position go in one vector: whole-vector stores, inputs loaded once
 * for every phase (hifigan_v1_up2 on PoCL: 139 -> 217 GFLOP/s). */
#include <stdio.h>
#include <string.h>

#include "../stride.h"
#include "paths.h"
#include "phase_fold.h"

extern const char clconvt_source_phase_fold[];

/* Position tiles of one channel tile per work-group: they share the tile's weights, the large
 * operand here (the inputs a work-item reads are a few hundred bytes per chunk). */
#define LOCAL_FOLD_POSITIONS 8

/* Output channels per vector (its lanes are channels x stride phases), and taps per phase (the
 * short phases padded with zero weights). */
static int channels_per_vector(const plan *p, const clconvt_params *params) {
    return (int)(p->vec / params->stride);
}
static int64_t taps(const clconvt_params *params) {
    return clconvt_ceil_div(params->kernel_length, params->stride);
}

/* Register tiles per work-item (the plan's pt; 0 means 1). */
static int tiles_per_item(const plan *p) {
    return p->tiles_per_item > 1 ? p->tiles_per_item : 1;
}

/* Up to four vectors of channels (AVX-512: 4 x 6 of its 32 registers), fewer when the group has
 * fewer channels; on a CPU of narrow vectors as many as CLCONVT_NARROW_CPU_ACCUMULATORS floats hold
 * (AVX2: 2 x 6 vectors of 8, or 1 x 6 of 16). */
static int default_channels(const device_caps *caps, const plan *p, const clconvt_params *params) {
    const int64_t lc = channels_per_vector(p, params);
    const int64_t cout_g = params->out_channels / params->groups;
    int64_t most = 4;
    if (clconvt_path_narrow_cpu(caps)) {
        most = CLCONVT_NARROW_CPU_ACCUMULATORS / ((int64_t)p->tile_p * p->vec);
        most = most < 1 ? 1 : most;
    }
    const int64_t vectors = clconvt_ceil_div(cout_g, lc);
    return (int)(lc * (vectors < most ? vectors : most));
}

/* The narrowest vector (4, 8 or 16 lanes) that holds every phase of a stride, 0 past 16. */
static int narrowest_vector(int64_t stride) {
    return stride <= 4 ? 4 : stride <= 8 ? 8 : stride <= 16 ? 16 : 0;
}

/* Positions per work-item of a channel-starved layer: its one vector of channels x phases leaves
 * room in the register tile for more positions than the usual 4 x 6 (Conv-TasNet's 512->1, K16,
 * S8 on PoCL: p 6 0.69, p 16 0.51 ms min). */
#define STARVED_POSITIONS 16

/* The cache-blocked form of a channel-starved layer: STARVED_TILES register tiles per work-item,
 * reduced block by block of input channels sized to the core's L1 data cache. Each block's inputs
 * are then read row by row over STARVED_TILES x p positions while in L1, where one tile at a time
 * read 512 rows 16 KB apart per 16 positions (Conv-TasNet's 512->1, PoCL, min of 41 rounds of 5:
 * 0.51 ms unblocked, 0.40 with 4 tiles and a block of 16, 0.42 of 32, 0.55 of 64, 0.43 with 8
 * tiles). */
#define STARVED_TILES 4
/* The share of the L1 a block may fill: a quarter (the measured best above; the rest holds the
 * waiting tiles' accumulators, the outputs, and the other work-items' lines). */
#define BLOCK_L1_SHARE 4
/* Assumed when the device does not say: the L1 data cache of current x86 and Arm cores. */
#define DEFAULT_L1_BYTES ((uint64_t)32 << 10)
#define BLOCK_CHANNELS_MIN 4
#define BLOCK_CHANNELS_MAX 256

/* Bytes of one input channel in a block of plan p: its weights (CV vectors at every tap) and its
 * inputs (the p x pt positions of the work-item and the taps - 1 before them). */
static uint64_t block_bytes_per_channel(const plan *p, const clconvt_params *params) {
    const int64_t vectors = p->tile_c / channels_per_vector(p, params);
    const int64_t positions = (int64_t)p->tile_p * tiles_per_item(p) + taps(params) - 1;
    return (uint64_t)(taps(params) * vectors * p->vec + positions) * sizeof(float);
}

/* The largest power of two from least up to most that is at most fit (least when none is). */
static uint64_t power_of_two_block(uint64_t fit, uint64_t least, uint64_t most) {
    uint64_t channels = least;
    while (channels * 2 <= fit && channels * 2 <= most)
        channels *= 2;
    return channels;
}

uint64_t clconvt_phase_fold_block_channels(const device_caps *caps, const plan *p,
                                           const clconvt_params *params) {
    const uint64_t l1 = caps->core_l1_bytes != 0 ? caps->core_l1_bytes : DEFAULT_L1_BYTES;
    const uint64_t fit = l1 / BLOCK_L1_SHARE / block_bytes_per_channel(p, params);
    return power_of_two_block(fit, BLOCK_CHANNELS_MIN, BLOCK_CHANNELS_MAX);
}

void clconvt_phase_fold_size_block(const device_caps *caps, plan *p, const clconvt_params *params) {
    if (p->path == &clconvt_path_phase_fold && tiles_per_item(p) > 1)
        p->ci_chunk = (int)clconvt_phase_fold_block_channels(caps, p, params);
}

/* The blocked form on a CPU of narrow vectors: its register tile reuses each weight over 6
 * positions only, so the weights' reuse has to come from the cache (AVX2, one round each:
 * bigvgan_up1 44.9 -> 32.1 ms, bigvgan_up2 45.4 -> 36.0, hifigan_v1_up3 10.8 -> 9.2, no row
 * slower). In vectors of 16 it was slower (encodec_up2, median of 5 processes: 7.4 -> 11.3 ms):
 * those keep the plain form. */
#define NARROW_TILES 4

/* The blocked form of tiles register tiles per work-item where it measured faster: a layer with
 * more input channels per group than two blocks (depthwise layers have one). */
static void block(const device_caps *caps, const clconvt_params *params, int tiles, plan *out) {
    plan blocked = *out;
    blocked.tiles_per_item = tiles;
    const uint64_t channels = clconvt_phase_fold_block_channels(caps, &blocked, params);
    if ((uint64_t)(params->in_channels / params->groups) < 2 * channels)
        return;
    blocked.ci_chunk = (int)channels;
    *out = blocked;
}

static void block_starved(const device_caps *caps, const clconvt_params *params, plan *out) {
    block(caps, params, STARVED_TILES, out);
    /* The positions of the usual work-group (LOCAL_FOLD_POSITIONS work-items of one tile) in
     * fewer work-items: with 8 of 4 tiles each, Conv-TasNet made 8 work-groups for 2 cores and
     * ran slower than with 2 (min of 41 rounds of 5 on the loaded machine: 0.69 vs 0.54 ms,
     * unblocked 0.54; medians 1.04, 0.99, 1.30). */
    if (out->tiles_per_item == STARVED_TILES) {
        out->local[0] = LOCAL_FOLD_POSITIONS / STARVED_TILES;
        out->local[1] = 1;
    }
}

/* The usual tile's reduction in blocks of input channels (CI_CHUNK, barriers between blocks)
 * when one channel tile's weights outgrow a quarter of the core's L2: the work-group's
 * LOCAL_FOLD_POSITIONS work-items then read each block from the L2 in turn, where each of them
 * streamed the whole panel from the L3 or memory. Blocks are the largest power of two of input
 * channels whose weights fill that quarter, halved until the group has two of them (Zen 5, 1 MiB
 * L2, medians of 3 interleaved processes: bigvgan_up1, 768 KiB per tile, 13.78 -> 11.93 ms with
 * blocks of 512; bigvgan_up2, 384 KiB, 13.73 -> 12.71 with 256; blocks of 64 were slower than
 * none, so smaller blocks than L2_BLOCK_CHANNELS_MIN are not taken, and hifigan_v1_up1's 256 KiB
 * per tile gained nothing: it keeps the plain form). */
#define PANEL_L2_SHARE 4
#define L2_BLOCK_CHANNELS_MIN 128

static uint64_t tile_weight_bytes_per_channel(const plan *p, const clconvt_params *params) {
    return (uint64_t)(taps(params) * (p->tile_c / channels_per_vector(p, params)) * p->vec) *
           sizeof(float);
}

static void block_for_l2(const device_caps *caps, const clconvt_params *params, plan *out) {
    if (caps->core_l2_bytes == 0)
        return;
    const uint64_t cin_g = (uint64_t)(params->in_channels / params->groups);
    const uint64_t fit =
        caps->core_l2_bytes / PANEL_L2_SHARE / tile_weight_bytes_per_channel(out, params);
    if (cin_g <= fit)
        return;
    /* At most half the group's channels, so that it has two blocks at least. */
    const uint64_t channels = power_of_two_block(fit < cin_g / 2 ? fit : cin_g / 2, 1, cin_g);
    if (channels >= L2_BLOCK_CHANNELS_MIN)
        out->ci_chunk = (int)channels;
}

/* Lanes of a vector of vec lanes that whole channels x stride phases fill. */
static int64_t filled_lanes(int vec, int64_t stride) {
    return vec / stride * stride;
}

/* The built-in choice on a CPU: NCL, dilation 1, a stride of 2..16 whose phases fill at least 3/4
 * of the lanes (not 9..11). The usual 16-lane vector when the group has the vec / stride channels
 * to fill it; else (channel-starved, stride-heavy layers such as Conv-TasNet's 512->1 at stride 8)
 * the narrowest vector that holds the phases, so that (channel, phase) pairs are the M of a small
 * GEMM (M = 8 there) instead of a reduction per output, as phase_pos does it. A CPU of narrow
 * vectors takes vectors of 8 where 16 lanes would not fill better (strides 3 and 5 fill 15 of 16,
 * 6 of 8 and 5 of 8: encodec_up2 on AVX2, 9.2 ms in vectors of 8, 6.5 in 16), and vectors of 8
 * in the blocked form; a starved layer keeps the starved plan (on AVX2 too: p 8 was no faster than
 * 16). */
static int suits(const device_caps *caps, const clconvt_params *params, plan *out) {
    const plan *usual = &clconvt_path_phase_fold.usual;
    const int64_t s = params->stride, cout_g = params->out_channels / params->groups;
    if ((caps->type & CL_DEVICE_TYPE_CPU) == 0 || params->layout != CLCONVT_LAYOUT_NCL ||
        params->dilation != 1 || s < 2 || s > usual->vec)
        return 0;
    const int starved = cout_g < usual->vec / s;
    *out = *usual;
    if (starved) {
        out->vec = narrowest_vector(s);
        out->tile_p = STARVED_POSITIONS;
    } else if (clconvt_path_narrow_cpu(caps) && 2 * filled_lanes(8, s) >= filled_lanes(16, s)) {
        out->vec = 8;
    }
    const int64_t lc = channels_per_vector(out, params);
    if (!(4 * s * lc >= 3 * out->vec && cout_g >= lc))
        return 0;
    out->tile_c = default_channels(caps, out, params);
    if (starved)
        block_starved(caps, params, out);
    else if (clconvt_path_narrow_cpu(caps) && out->vec == (int)caps->native_float_lanes)
        block(caps, params, NARROW_TILES, out);
    else if (!clconvt_path_narrow_cpu(caps))
        block_for_l2(caps, params, out);
    return 1;
}

/* c 0 (the usual): four vectors of channels, however many channels a vector holds (on a CPU of
 * narrow vectors, as many as default_channels gives: a forced plan keeps vectors of 16 there, for
 * strides up to 16). */
static void complete(const device_caps *caps, plan *p, const clconvt_params *params) {
    if (p->tile_c == 0 && params->stride <= p->vec)
        p->tile_c = default_channels(caps, p, params);
}

static const char *check(const clconvt_params *params, const plan *p) {
    const char *why = clconvt_path_check_vector(p);
    if (why != NULL)
        return why;
    if (params->layout != CLCONVT_LAYOUT_NCL || params->dilation != 1)
        return "phase_fold needs the NCL layout and dilation 1";
    if (params->stride > p->vec)
        return "phase_fold needs the stride to be at most vec";
    if (p->tile_c % channels_per_vector(p, params) != 0)
        return "phase_fold needs c to be a multiple of vec / stride (channels per vector)";
    return NULL;
}

/* Whole vectors (channels x phases) per tap of a phase. */
static void packed_dims(const plan *p, const clconvt_params *params, int64_t dims[3]) {
    dims[0] = params->in_channels;
    dims[1] = taps(params) * p->vec;
    dims[2] = p->cout_g_padded / channels_per_vector(p, params);
}

/* [group][channel tile][tap j][ci][vector][channel x phase] */
static int64_t packed_index(const plan *p, const clconvt_params *params, int64_t g, int64_t k,
                            int64_t ci_local, int64_t c) {
    const int64_t cin_g = params->in_channels / params->groups;
    const int64_t lc = channels_per_vector(p, params), s = params->stride;
    const int64_t tiles = p->cout_g_padded / p->tile_c, vectors = p->tile_c / lc;
    const int64_t tile = c / p->tile_c, vector = c % p->tile_c / lc;
    return (((((g * tiles + tile) * taps(params) + k / s) * cin_g + ci_local) * vectors + vector) *
                p->vec +
            c % lc * s + k % s);
}

/* Positions q that reach [0, length_out), all phases. */
static int64_t position_tiles(const plan *p, const clconvt_params *params, int64_t length_out,
                              int64_t pad_left) {
    const int64_t s = params->stride;
    const int64_t positions = (length_out - 1 + pad_left) / s - pad_left / s + 1;
    return clconvt_ceil_div(positions, (int64_t)p->tile_p * tiles_per_item(p));
}

/* A work-item covers every phase. */
static int64_t batch_items(const plan *p, const clconvt_params *params, int64_t batch) {
    (void)p;
    (void)params;
    return batch;
}

static void local_size(plan *p, const clconvt_params *params, int phases_given) {
    (void)params;
    (void)phases_given;
    p->local[0] = LOCAL_FOLD_POSITIONS;
    p->local[1] = 1;
}

/* CV vectors of channels x phases, for each of p positions. */
static private_memory private_floats(const plan *p, const clconvt_params *params) {
    const int64_t vectors = p->tile_c / channels_per_vector(p, params);
    const int64_t tile = vectors * p->tile_p * p->vec;
    /* weights, lanes; the accumulators of the other tiles wait in private memory */
    return (private_memory){tile, tile * tiles_per_item(p) + vectors * p->vec + p->vec};
}

/* PV: positions per work-item; CV: vectors of channels x phases. */
/* A channel tile's weights larger than an L1 cache are reused over the whole batch from the L2:
 * the samples x position tiles in dimension 0, so that PoCL, which runs work-groups in the order of
 * their linear id (dimension 0 fastest), runs one channel tile's work over the batch back to back,
 * where a batch dimension outside the channel tiles streamed every weight from memory once per
 * sample (hifigan_v1_train: 8 MB, 16 times; process CPU time 29 -> 23 ms). Smaller weights stay in
 * cache anyway, and then sample by sample keeps the reads and writes sequential (depthwise_up,
 * 32 bytes of weights per tile: folded 1.4 -> 1.9 ms). */
#define FOLD_PANEL_BYTES ((int64_t)32 << 10)

static int batch_in_positions(const plan *p, const clconvt_params *params) {
    const int64_t cin_g = params->in_channels / params->groups;
    return taps(params) * cin_g * p->tile_c / channels_per_vector(p, params) * p->vec *
               (int64_t)sizeof(float) >
           FOLD_PANEL_BYTES;
}

static void build_options(const plan *p, const clconvt_params *params, char *options, size_t size) {
    clconvt_path_options(p, params,
                         PATH_OPTION_VEC | PATH_OPTION_PV | PATH_OPTION_CO_T | PATH_OPTION_CV |
                             PATH_OPTION_PT,
                         p->tile_p, p->tile_c / channels_per_vector(p, params), options, size);
    const size_t used = strlen(options);
    if (batch_in_positions(p, params) && used < size)
        snprintf(options + used, size - used, " -DFOLD_BATCH=1");
}

const kernel_path clconvt_path_phase_fold = {
    .name = "phase_fold",
    .source = clconvt_source_phase_fold,
    .source_file = "phase_fold.cl",
    .kernel = "phase_fold_forward",
    /* tile_c 0: four vectors of channels, however many a vector holds at this stride */
    .usual = {.path = &clconvt_path_phase_fold, .vec = 16, .tile_p = 6, .tile_c = 0},
    .default_rank = 1,
    .suits = suits,
    .keys = PLAN_KEY_VEC | PLAN_KEY_P | PLAN_KEY_C | PLAN_KEY_LP | PLAN_KEY_LC | PLAN_KEY_CHUNK |
            PLAN_KEY_LR | PLAN_KEY_PT,
    .parse_from_usual = 1, /* its default c follows vec */
    .batch_in_positions = batch_in_positions,
    .tile_rule = "p x vec x c / (vec / stride)",
    .complete = complete,
    .check = check,
    .packed_dims = packed_dims,
    .packed_index = packed_index,
    .position_tiles = position_tiles,
    .batch_items = batch_items,
    .local_size = local_size,
    .private_memory = private_floats,
    .build_options = build_options,
    .enqueue = clconvt_path_enqueue_phase,
};
