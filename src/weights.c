/*
 * Weight staging at memory speed. The weight is walked in blocks of BLOCK_CI input channels x a
 * few output channels x every tap, small enough to stay in cache: a block is read from the
 * caller's array once (each input channel's part of it is one contiguous run in PyTorch order,
 * each (tap, output channel)'s one in MAX order), converted, scaled and rounded in place, then
 * scattered to the packed copy. The packed offsets come from the path's index function once per
 * (tap, input channel) and once per output channel, never per element.
 *
 * No MAX-order copy is kept: the packed copy holds every weight, already rounded to the layer's
 * dtype, so clconvt_weights_unpack rebuilds the MAX order from it exactly (a second 75 MB copy of
 * a large layer's weight was half of the staging's time, most of it faulting in fresh pages).
 *
 * A large weight is split by blocks of input channels between the calling thread and up to
 * STAGE_THREADS - 1 threads that it starts and joins before it returns. Most of a large layer's
 * staging is the kernel faulting in (and zeroing) the fresh pages of the packed copy, and faults
 * on different cores proceed together (a memset of 37.7 MB of fresh memory: 20-23 ms on one core
 * of this project's 2-core machine, 13-14 on two; bigvgan_up1's staging of as many bytes:
 * 27-37 ms -> 21-23). Every packed slot is written by one part only, so the copy does not depend
 * on how many threads ran.
 */
#include "weights.h"

#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dtype.h"
#include "error.h"

/* 64 input channels: a 256-byte run of an f32 MAX-order source per (tap, output channel), long
 * enough that the copy's rows (Cin apart) cost few TLB and cache misses. */
#define BLOCK_CI 64
/* A block's fp32 tile: stays in the L2 cache of current CPUs while it is scattered. */
#define BLOCK_BYTES 131072
/* Floats (one cache line) between the tile's rows: rows a power of two apart would share a few
 * cache sets and evict one another while a column of the tile is read. */
#define PAD 16
/* At most this many threads stage one weight (the copy is bound by memory, not by arithmetic). */
#define STAGE_THREADS 4
/* Weight elements per thread at least: a smaller part saves less than its thread costs. */
#define THREAD_ELEMENTS (1 << 18)

/* What the walk over the blocks needs, allocated once. */
typedef struct stage_walk {
    const clconvt_params *p;
    const plan *plan;
    const weight_source *src;
    int64_t cin, cin_g, cout_g, k_len, block_c;
    int64_t tile_j, tile_c, tile_k; /* strides of the tile: source order */
    int channels_inner;             /* the packed copy's loop: output channels innermost */
    int64_t *column;                /* [cout_g]: packed offset of output channel c from c = 0 */
    int64_t *row;                   /* [k_len][BLOCK_CI]: packed offset of (k, ci) at c = 0 */
    float *tile, *line;             /* the block; one MAX-order run of BLOCK_CI values */
    float *packed;
} stage_walk;

static void walk_free(stage_walk *w) {
    free(w->column);
    free(w->row);
    free(w->tile);
    free(w->line);
}

static int walk_init(stage_walk *w) {
    const int64_t per_c = w->k_len * BLOCK_CI * (int64_t)sizeof(float);
    w->block_c = BLOCK_BYTES / per_c > 1 ? BLOCK_BYTES / per_c : 1;
    if (w->block_c > w->cout_g)
        w->block_c = w->cout_g;
    if (w->src->order == CLCONVT_WEIGHT_PYTORCH) /* tile[j][c][k], like (Cin, Cout_g, K) */
        w->tile_k = 1, w->tile_c = w->k_len, w->tile_j = w->block_c * w->k_len + PAD;
    else /* tile[k][c][j], like (K, Cout_g, Cin) */
        w->tile_j = 1, w->tile_c = BLOCK_CI + PAD, w->tile_k = w->block_c * (BLOCK_CI + PAD);
    w->column = malloc((size_t)w->cout_g * sizeof *w->column);
    w->row = malloc((size_t)(w->k_len * BLOCK_CI) * sizeof *w->row);
    w->tile = malloc((size_t)(w->k_len * w->block_c + PAD) * (BLOCK_CI + PAD) * sizeof *w->tile);
    w->line = malloc(BLOCK_CI * sizeof *w->line);
    if (!w->column || !w->row || !w->tile || !w->line)
        return 0;
    const int64_t origin = clconvt_plan_packed_index(w->plan, w->p, 0, 0, 0, 0);
    for (int64_t c = 0; c < w->cout_g; ++c)
        w->column[c] = clconvt_plan_packed_index(w->plan, w->p, 0, 0, 0, c) - origin;
    const int64_t next_c = w->cout_g > 1 ? llabs(w->column[1]) : INT64_MAX;
    const int64_t next_ci =
        w->cin_g > 1 ? llabs(clconvt_plan_packed_index(w->plan, w->p, 0, 0, 1, 0) - origin)
                     : INT64_MAX;
    w->channels_inner = next_c <= next_ci;
    return 1;
}

/* Convert, scale and round count values of input channel ci in place (one run of the tile). */
static void finish_run(const stage_walk *w, float *run, int64_t count, int64_t ci) {
    if (w->src->scale != NULL) {
        const double scale = w->src->scale[ci];
        for (int64_t i = 0; i < count; ++i)
            run[i] = (float)((double)run[i] * scale);
    }
    clconvt_dtype_round_run(run, w->p->dtype, (size_t)count);
}

/* Read the block [ci0, ci0 + nb) x [c0, c0 + nc) x every tap into the tile. */
static void read_block(const stage_walk *w, int64_t ci0, int64_t nb, int64_t c0, int64_t nc) {
    const char *host = w->src->host;
    const size_t elem = clconvt_dtype_size(w->src->dtype);
    if (w->src->order == CLCONVT_WEIGHT_PYTORCH) {
        for (int64_t j = 0; j < nb; ++j) {
            const int64_t ci = ci0 + j, first = (ci * w->cout_g + c0) * w->k_len;
            float *run = w->tile + j * w->tile_j;
            clconvt_dtype_load_run(host + (size_t)first * elem, w->src->dtype, run,
                                   (size_t)(nc * w->k_len));
            finish_run(w, run, nc * w->k_len, ci);
        }
        return;
    }
    for (int64_t k = 0; k < w->k_len; ++k)
        for (int64_t c = 0; c < nc; ++c) {
            const int64_t first = (k * w->cout_g + c0 + c) * w->cin + ci0;
            float *run = w->tile + k * w->tile_k + c * w->tile_c;
            clconvt_dtype_load_run(host + (size_t)first * elem, w->src->dtype, run, (size_t)nb);
            if (w->src->scale != NULL)
                for (int64_t j = 0; j < nb; ++j)
                    run[j] = (float)((double)run[j] * w->src->scale[ci0 + j]);
            clconvt_dtype_round_run(run, w->p->dtype, (size_t)nb);
        }
}

/* The tile's block to the packed copy, the inner loop along the axis that is closer to
 * contiguous there (output channels in the tiled layouts, input channels in gemm's), so that
 * the writes stream rather than hop between lines. */
static void write_packed(const stage_walk *w, int64_t nb, int64_t c0, int64_t nc) {
    float *restrict packed = w->packed;
    const int64_t *restrict column = w->column + c0;
    const int64_t tile_j = w->tile_j, tile_c = w->tile_c;
    for (int64_t k = 0; k < w->k_len; ++k) {
        const float *restrict t = w->tile + k * w->tile_k;
        const int64_t *restrict row = w->row + k * BLOCK_CI;
        if (w->channels_inner)
            for (int64_t j = 0; j < nb; ++j) {
                float *restrict to = packed + row[j];
                const float *restrict from = t + j * tile_j;
                for (int64_t c = 0; c < nc; ++c)
                    to[column[c]] = from[c * tile_c];
            }
        else
            for (int64_t c = 0; c < nc; ++c) {
                float *restrict to = packed + column[c];
                const float *restrict from = t + c * tile_c;
                for (int64_t j = 0; j < nb; ++j)
                    to[row[j]] = from[j * tile_j];
            }
    }
}

/* The packed offsets of block [ci0, ci0 + nb)'s input channels at every tap, at c = 0. */
static void fill_rows(stage_walk *w, int64_t ci0, int64_t nb) {
    for (int64_t j = 0; j < nb; ++j) {
        const int64_t ci = ci0 + j, g = ci / w->cin_g;
        for (int64_t k = 0; k < w->k_len; ++k)
            w->row[k * BLOCK_CI + j] =
                clconvt_plan_packed_index(w->plan, w->p, g, k, ci - g * w->cin_g, 0);
    }
}

/* The blocks of input channels [ci_lo, ci_hi) (ci_lo a multiple of BLOCK_CI). */
static void walk(stage_walk *w, int64_t ci_lo, int64_t ci_hi) {
    for (int64_t ci0 = ci_lo; ci0 < ci_hi; ci0 += BLOCK_CI) {
        const int64_t nb = ci_hi - ci0 < BLOCK_CI ? ci_hi - ci0 : BLOCK_CI;
        fill_rows(w, ci0, nb);
        for (int64_t c0 = 0; c0 < w->cout_g; c0 += w->block_c) {
            const int64_t nc = w->cout_g - c0 < w->block_c ? w->cout_g - c0 : w->block_c;
            read_block(w, ci0, nb, c0, nc);
            write_packed(w, nb, c0, nc);
        }
    }
}

/* The walk's shape for a layer of p and plan (src may be NULL: unpacking reads no source). */
static int walk_open(stage_walk *w, const clconvt_params *p, const plan *plan,
                     const weight_source *src) {
    static const weight_source max_order = {NULL, CLCONVT_WEIGHT_MAX, CLCONVT_F32, NULL};
    *w = (stage_walk){.p = p, .plan = plan, .src = src != NULL ? src : &max_order};
    w->cin = p->in_channels, w->k_len = p->kernel_length;
    w->cin_g = w->cin / p->groups, w->cout_g = p->out_channels / p->groups;
    if (walk_init(w))
        return 1;
    walk_free(w);
    return 0;
}

/* One thread's share of a staging: first the floats [zero_lo, zero_hi) of the packed copy are
 * zeroed (its padding, when it has any), then the input channels [ci_lo, ci_hi) are staged. */
typedef struct stage_part {
    stage_walk walk;
    size_t zero_lo, zero_hi;
    int64_t ci_lo, ci_hi;
} stage_part;

static void *zero_part(void *arg) {
    stage_part *part = arg;
    memset(part->walk.packed + part->zero_lo, 0,
           (part->zero_hi - part->zero_lo) * sizeof *part->walk.packed);
    return NULL;
}

static void *walk_part(void *arg) {
    stage_part *part = arg;
    walk(&part->walk, part->ci_lo, part->ci_hi);
    return NULL;
}

/* run on every part: part 0 on the calling thread, the others on threads of their own, joined
 * before it returns. A part whose thread does not start runs on the calling thread instead. */
static void run_parts(stage_part *parts, int count, void *(*run)(void *)) {
    pthread_t threads[STAGE_THREADS];
    int started[STAGE_THREADS] = {0};
    for (int i = 1; i < count; ++i)
        started[i] = pthread_create(&threads[i], NULL, run, &parts[i]) == 0;
    run(&parts[0]);
    for (int i = 1; i < count; ++i) {
        if (started[i])
            pthread_join(threads[i], NULL);
        else
            run(&parts[i]);
    }
}

/* How many parts a weight of count elements is staged in by default: one per core, at most
 * STAGE_THREADS, each of THREAD_ELEMENTS at least. */
static int default_parts(size_t count) {
    const long cores = sysconf(_SC_NPROCESSORS_ONLN);
    size_t parts = count / THREAD_ELEMENTS;
    if (cores > 0 && parts > (size_t)cores)
        parts = (size_t)cores;
    return parts < STAGE_THREADS ? (int)parts : STAGE_THREADS;
}

clconvt_status clconvt_weights_stage_in_parts(const clconvt_params *p, const plan *plan,
                                              const weight_source *src, float *packed, int n) {
    const size_t count = (size_t)(p->in_channels * (p->out_channels / p->groups) *
                                  p->kernel_length); /* validated not to overflow */
    const int64_t blocks = (p->in_channels + BLOCK_CI - 1) / BLOCK_CI;
    if (n > blocks)
        n = (int)blocks;
    if (n > STAGE_THREADS)
        n = STAGE_THREADS;
    if (n < 1)
        n = 1;
    stage_part parts[STAGE_THREADS];
    for (int i = 0; i < n; ++i)
        if (!walk_open(&parts[i].walk, p, plan, src)) {
            while (i-- > 0)
                walk_free(&parts[i].walk);
            return clconvt_fail(CLCONVT_ERROR_OUT_OF_HOST_MEMORY,
                                "out of host memory staging a weight of %zu elements", count);
        }
    const size_t packed_count = clconvt_plan_packed_count(plan, p);
    for (int i = 0; i < n; ++i) {
        stage_part *part = &parts[i];
        part->walk.packed = packed;
        part->zero_lo = packed_count / (size_t)n * (size_t)i;
        part->zero_hi = i + 1 < n ? packed_count / (size_t)n * (size_t)(i + 1) : packed_count;
        part->ci_lo = blocks * i / n * BLOCK_CI;
        part->ci_hi = i + 1 < n ? blocks * (i + 1) / n * BLOCK_CI : p->in_channels;
    }
    /* Every slot is written when there is no padding (the index is one-to-one); otherwise the
     * zeroing is finished everywhere before any part writes a weight. */
    if (packed_count != count)
        run_parts(parts, n, zero_part);
    run_parts(parts, n, walk_part);
    for (int i = 0; i < n; ++i)
        walk_free(&parts[i].walk);
    return CLCONVT_SUCCESS;
}

clconvt_status clconvt_weights_stage(const clconvt_params *p, const plan *plan,
                                     const weight_source *src, float *packed) {
    const size_t count = (size_t)(p->in_channels * (p->out_channels / p->groups) *
                                  p->kernel_length); /* validated not to overflow */
    return clconvt_weights_stage_in_parts(p, plan, src, packed, default_parts(count));
}

/* One block of the packed copy back to MAX order: a run of nb input channels per (tap, output
 * channel), gathered through the same offsets the staging scattered to. */
static void unpack_block(const stage_walk *w, const float *packed, int64_t ci0, int64_t nb,
                         void *max_order) {
    const size_t elem = clconvt_dtype_size(w->p->dtype);
    float *restrict line = w->line;
    for (int64_t k = 0; k < w->k_len; ++k) {
        const int64_t *restrict row = w->row + k * BLOCK_CI;
        for (int64_t c = 0; c < w->cout_g; ++c) {
            const float *restrict from = packed + w->column[c];
            for (int64_t j = 0; j < nb; ++j)
                line[j] = from[row[j]];
            const int64_t first = (k * w->cout_g + c) * w->cin + ci0;
            /* The values are the dtype's already: storing them is exact. */
            clconvt_dtype_store_run(line, (char *)max_order + (size_t)first * elem, w->p->dtype,
                                    (size_t)nb);
        }
    }
}

clconvt_status clconvt_weights_unpack(const clconvt_params *p, const plan *plan,
                                      const float *packed, void *max_order) {
    stage_walk w;
    if (!walk_open(&w, p, plan, NULL))
        return clconvt_fail(CLCONVT_ERROR_OUT_OF_HOST_MEMORY,
                            "out of host memory reading a weight back");
    for (int64_t ci0 = 0; ci0 < w.cin; ci0 += BLOCK_CI) {
        const int64_t nb = w.cin - ci0 < BLOCK_CI ? w.cin - ci0 : BLOCK_CI;
        fill_rows(&w, ci0, nb);
        unpack_block(&w, packed, ci0, nb, max_order);
    }
    walk_free(&w);
    return CLCONVT_SUCCESS;
}
