/*
 * The phase gather for the PyTorch layout (N, C, L) with the stride phases folded into the vector
 * lanes: dilation 1, STRIDE <= VEC.
 *
 * phase_pos gives each work-item one phase, so its outputs are STRIDE apart and every store is a
 * scattered one, and the STRIDE phases of one position load the same inputs again. Here a vector
 * holds LC = VEC / STRIDE output channels x STRIDE phases: lane c * STRIDE + r of the vector for
 * position q is output o = q * STRIDE + r - pad_left of channel c. With dilation 1 every phase
 * reads the same input at tap j, x[q - j] (tap j of phase r is k = r + j * STRIDE), so the inner
 * loop is a GEMM micro-kernel: per input channel and tap, CV packed weight vectors (lanes: channel
 * x phase; zero where k >= K) and PV broadcast inputs, CV x PV vector FMAs. Each channel's
 * outputs for one position are STRIDE contiguous values, stored as one vector. Tiles at the
 * borders, and the last tap when K is not a multiple of STRIDE, skip the positions outside the
 * input and zero the input in the lanes past K, so that an infinity or a NaN reaches exactly the
 * outputs it reaches in the reference scatter.
 *
 * -D specialisation beyond common.cl (which is prepended): VEC (4, 8 or 16), PV positions, CV
 * vectors of channels (CO_T = CV * VEC / STRIDE channels per work-item), CI_CHUNK (0: reduce over
 * all input channels at once; else chunks of input channels with a barrier between them, so that
 * a work-group's weights for one chunk stay in the L1 cache of a CPU). Inputs are loaded with
 * LOAD_INPUT (one value broadcast over the lanes), outputs finished with FINISH_OUTPUT and stored
 * with STORE_FINISHED* (common.cl's prologue and epilogue).
 *
 * Packed weights: [group][channel tile][tap j][ci][cv][lane], taps = ceil(K / STRIDE).
 */

/* Defaults of the -D options above, so that this kernel compiles on its own. */
#ifndef VEC
#define VEC 16
#endif
#ifndef PV
#define PV 6
#endif
#ifndef CV
#define CV 4
#endif

#define LC (VEC / STRIDE)
#define CO_TILE (CV * LC)
#if STRIDE > VEC
#error "phase_fold needs STRIDE <= VEC"
#endif

typedef CAT(float, VEC) floatv;
typedef CAT(int, VEC) intv;

/* The phase of each lane: lane c * STRIDE + r holds phase r. */
static inline intv lane_phases(void) {
    int lanes[VEC];
#pragma unroll
    for (int l = 0; l < VEC; ++l)
        lanes[l] = l % STRIDE;
    return CAT(vload, VEC)(0, lanes);
}

/* The CV weight vectors of input channel ci at one tap. */
static inline void load_weights(floatv wv[CV], __global const float *wj, int ci) {
#pragma unroll
    for (int v = 0; v < CV; ++v)
        wv[v] = CAT(vload, VEC)(0, wj + ((long)ci * CV + v) * VEC);
}

/* Write the STRIDE outputs of one channel for one position; lanes[r] is phase r. */
static inline void store_phases(__global store_t *y_row, long o0, long length_out,
                                const float *lanes, bool whole) {
#if STRIDE == 2 || STRIDE == 3 || STRIDE == 4 || STRIDE == 8 || STRIDE == 16
    if (whole) {
        STORE_FINISHEDV(STRIDE, y_row + o0, CAT(vload, STRIDE)(0, lanes));
        return;
    }
#endif
#pragma unroll
    for (int r = 0; r < STRIDE; ++r) {
        const long o = o0 + r;
        if (whole || (o >= 0 && o < length_out))
            STORE_FINISHED(y_row, o, lanes[r]);
    }
}

__kernel void phase_fold_forward(KERNEL_ARGUMENTS) {
    const long n = (long)get_global_id(2);
    const int tiles_per_group = cout_g_padded / CO_TILE;
    const int tile = (int)(get_global_id(1) % tiles_per_group);
    const int g = (int)(get_global_id(1) / tiles_per_group);
    const int co0 = tile * CO_TILE;
    /* Positions q whose STRIDE outputs reach [0, length_out): q_first .. q_last. */
    const long q_first = pad_left / STRIDE;
    const long q_last = (length_out - 1 + pad_left) / STRIDE;
    const long q0 = q_first + (long)get_global_id(0) * PV;
    /* Work-items past the output (the grid is rounded up to whole work-groups) compute nothing,
     * but must not return before a barrier. */
    const bool active = g < groups && q0 <= q_last && n < batch;
    const int taps = (kernel_length + STRIDE - 1) / STRIDE;

    ZERO_TILE(floatv, acc, CV, PV);

    const __global store_t *x_group = x + (n * groups + g) * (long)cin_g * length_in;
    const __global float *w_tile = w + ((long)g * tiles_per_group + tile) * taps * cin_g * CV * VEC;
    CHUNKS_BEGIN(cin_g)
        for (int j = 0; active && j < taps; ++j) {
            const long i0 = q0 - j; /* input of position q0 at tap j */
            const __global float *wj = w_tile + (long)j * cin_g * CV * VEC;
            /* Tap j of phase r is k = r + j * STRIDE: on the last tap, the phases past K hold
             * padded zero weights. */
            const intv live = j * STRIDE + lane_phases() < kernel_length;
            if (i0 >= 0 && i0 + PV <= length_in && all(live)) {
                for (int ci = chunk; ci < ci_end; ++ci) {
                    const __global store_t *row = x_group + (long)ci * length_in + i0;
                    floatv wv[CV];
                    load_weights(wv, wj, ci);
#pragma unroll
                    for (int p = 0; p < PV; ++p) {
                        const floatv xv = (floatv)(LOAD_INPUT(row, p, (long)g * cin_g + ci));
#pragma unroll
                        for (int v = 0; v < CV; ++v)
                            acc[v][p] = fma(wv[v], xv, acc[v][p]);
                    }
                }
            } else {
                /* A border tile, or the last tap of a short phase. A position outside the input
                 * adds nothing, and loads nothing (the address may lie outside the buffer); the
                 * padded phases multiply a zero input, so that their zero weights meet no
                 * infinity or NaN (0 x Inf is NaN). No product is skipped by multiplying a zero
                 * with a weight: that weight may be infinite. */
                for (int ci = chunk; ci < ci_end; ++ci) {
                    const __global store_t *row = x_group + (long)ci * length_in + i0;
                    floatv wv[CV];
                    load_weights(wv, wj, ci);
#pragma unroll
                    for (int p = 0; p < PV; ++p) {
                        if (i0 + p < 0 || i0 + p >= length_in)
                            continue;
                        const floatv xv =
                            select((floatv)(0.0f),
                                   (floatv)(LOAD_INPUT(row, p, (long)g * cin_g + ci)), live);
#pragma unroll
                        for (int v = 0; v < CV; ++v)
                            acc[v][p] = fma(wv[v], xv, acc[v][p]);
                    }
                }
            }
        }
    CHUNKS_END
    if (!active)
        return;

    const long o_first = q0 * STRIDE - pad_left;
    const bool whole_positions = o_first >= 0 && o_first + (long)PV * STRIDE <= length_out;
#pragma unroll
    for (int v = 0; v < CV; ++v) {
        float lanes[VEC];
#pragma unroll
        for (int c = 0; c < LC; ++c) {
            const int co_local = co0 + v * LC + c;
            if (co_local >= cout_g)
                break;
            const float b = channel_bias(bias, has_bias, g, co_local, cout_g);
            __global store_t *y_row = ncl_output_row(y, n, g, co_local, cout_g, groups, length_out);
#pragma unroll
            for (int p = 0; p < PV; ++p) {
                if (q0 + p > q_last)
                    break;
                CAT(vstore, VEC)(FINISH_OUTPUT(acc[v][p], b), 0, lanes);
                store_phases(y_row, o_first + (long)p * STRIDE, length_out, lanes + c * STRIDE,
                             whole_positions);
            }
        }
    }
}
