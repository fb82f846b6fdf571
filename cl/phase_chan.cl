/*
 * The phase gather for the channels-last layout (N, L, C), vectorised over output channels.
 *
 * A work-item owns TILE_P consecutive positions q of one stride phase and CV vectors of VEC output
 * channels of one group. For each tap and input channel it loads CV weight vectors (contiguous in
 * the packed weight) and broadcasts TILE_P inputs (one channel at TILE_P positions): TILE_P x CV
 * vector FMAs per CV loads and TILE_P broadcasts. The output tile is stored as whole vectors,
 * contiguous in an NLC row.
 *
 * -D specialisation beyond common.cl (which is prepended): VEC (4, 8 or 16), TILE_P, CV. Inputs are
 * loaded with LOAD_INPUT, outputs finished with BIAS_CHANNELSV and FINISH_OUTPUT (common.cl's
 * prologue and epilogue).
 */

/* Defaults of the -D options above, so that this kernel compiles on its own. */
#ifndef VEC
#define VEC 16
#endif
#ifndef TILE_P
#define TILE_P 8
#endif
#ifndef CV
#define CV 1
#endif

typedef CAT(float, VEC) floatv;

/* f16 and bf16: the interior decodes the inputs CHANNEL_BLOCK channels at a time (contiguous in
 * an NLC row), one vector decoding instead of one per broadcast input, which cost several times
 * the CV FMAs each feeds (hifigan's NLC row ran 5x slower than in f32). f32 loads each input as it
 * is broadcast. */
#define CHANNEL_BLOCK 8

/* Add input channel ci's products (its TILE_P inputs xs[p][b]) to the tile, in the f32 order. */
static inline void add_channel(floatv acc[TILE_P][CV], __global const float *wk, int ci,
                               float xs[TILE_P][CHANNEL_BLOCK], int b) {
    floatv wv[CV];
#pragma unroll
    for (int v = 0; v < CV; ++v)
        wv[v] = CAT(vload, VEC)(0, wk + (long)ci * (CV * VEC) + v * VEC);
#pragma unroll
    for (int p = 0; p < TILE_P; ++p)
#pragma unroll
        for (int v = 0; v < CV; ++v)
            acc[p][v] = fma((floatv)(xs[p][b]), wv[v], acc[p][v]);
}

__kernel void phase_chan_forward(KERNEL_ARGUMENTS) {
    const int r = (int)(get_global_id(2) % STRIDE);
    const long n = (long)(get_global_id(2) / STRIDE);
    const int tiles_per_group = cout_g_padded / (CV * VEC);
    const int g = (int)(get_global_id(1) / tiles_per_group);
    const int co0 = (int)(get_global_id(1) % tiles_per_group) * (CV * VEC);
    if (g >= groups) /* the grid is rounded up to whole work-groups */
        return;
    const long q0 = first_q(r, pad_left) + (long)get_global_id(0) * TILE_P;
    const long o0 = q0 * STRIDE + r - pad_left;
    if (o0 >= length_out || n >= batch)
        return;
    const phase_taps taps = taps_of_phase(r, kernel_length, dilation, tap_step);
    const long cin = (long)cin_g * groups, cout = (long)cout_g * groups;

    ZERO_TILE(floatv, acc, TILE_P, CV);

    /* Channel ci of the group at input position i is x_group[i * cin + ci]. */
    const __global store_t *x_group = x + n * length_in * cin + (long)g * cin_g;
    for (int j = 0; j < taps.count; ++j) {
        const long i0 = q0 - (taps.m0 + (long)j * dm);
        const __global float *wk = weight_tile(w, g, taps.k0 + j * tap_step, co0 / (CV * VEC),
                                               kernel_length, cin_g, cout_g_padded, CV * VEC);
        if (i0 >= 0 && i0 + TILE_P <= length_in) {
            const __global store_t *xi = x_group + i0 * cin;
#if DTYPE != 0
            for (int cb = 0; cb < cin_g; cb += CHANNEL_BLOCK) {
                float xs[TILE_P][CHANNEL_BLOCK];
#pragma unroll
                for (int p = 0; p < TILE_P; ++p) {
                    const __global store_t *at = xi + p * cin + cb;
                    const long ch0 = (long)g * cin_g + cb;
                    const CAT(float, CHANNEL_BLOCK) decoded =
                        LOAD_INPUT_CHANNELSV(CHANNEL_BLOCK, at, cin_g - cb, ch0);
                    CAT(vstore, CHANNEL_BLOCK)(decoded, 0, xs[p]);
                }
#pragma unroll
                for (int b = 0; b < CHANNEL_BLOCK; ++b)
                    if (cb + b < cin_g)
                        add_channel(acc, wk, cb + b, xs, b);
            }
#else
            for (int ci = 0; ci < cin_g; ++ci) {
                floatv wv[CV];
#pragma unroll
                for (int v = 0; v < CV; ++v)
                    wv[v] = CAT(vload, VEC)(0, wk + (long)ci * (CV * VEC) + v * VEC);
#pragma unroll
                for (int p = 0; p < TILE_P; ++p) {
                    const float xs = LOAD_INPUT(xi, p * cin + ci, (long)g * cin_g + ci);
#pragma unroll
                    for (int v = 0; v < CV; ++v)
                        acc[p][v] = fma((floatv)(xs), wv[v], acc[p][v]);
                }
            }
#endif
        } else {
            for (int ci = 0; ci < cin_g; ++ci) {
                floatv wv[CV];
#pragma unroll
                for (int v = 0; v < CV; ++v)
                    wv[v] = CAT(vload, VEC)(0, wk + (long)ci * (CV * VEC) + v * VEC);
                    /* A border tile: a position outside the input adds nothing. It must not add a
                     * zero times the weight, which an infinite weight would make NaN. */
#pragma unroll
                for (int p = 0; p < TILE_P; ++p) {
                    const long i = i0 + p;
                    if (i < 0 || i >= length_in)
                        continue;
                    const float xs = LOAD_INPUT(x_group, i * cin + ci, (long)g * cin_g + ci);
#pragma unroll
                    for (int v = 0; v < CV; ++v)
                        acc[p][v] = fma((floatv)(xs), wv[v], acc[p][v]);
                }
            }
        }
    }

    /* Bias for the tile's channels; lanes past cout_g (never stored) get zero, so no load goes
     * out of bounds. */
    floatv b[CV];
#pragma unroll
    for (int v = 0; v < CV; ++v)
        b[v] = BIAS_CHANNELSV(VEC, bias, has_bias, (long)g * cout_g + co0 + v * VEC,
                              cout_g - (co0 + v * VEC));
#pragma unroll
    for (int p = 0; p < TILE_P; ++p) {
        const long o = o0 + (long)p * STRIDE;
        if (o >= length_out)
            break;
        __global store_t *y_tile = y + (n * length_out + o) * cout + (long)g * cout_g + co0;
#pragma unroll
        for (int v = 0; v < CV; ++v) {
            const floatv value = FINISH_OUTPUT(acc[p][v], b[v]);
            if (co0 + (v + 1) * VEC <= cout_g) {
                STORE_FINISHEDV(VEC, y_tile + v * VEC, value);
            } else {
                const floatv lanes = value; /* lane by lane, not through scratch (phase_pos.cl) */
                for (int l = 0; l < VEC && co0 + v * VEC + l < cout_g; ++l)
                    STORE_FINISHED(y_tile, v * VEC + l, lanes[l]);
            }
        }
    }
}
