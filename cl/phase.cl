/*
 * The generic path (common.cl is prepended): any layout, any channel counts.
 *
 * A work-item computes TILE_P consecutive positions q of one phase for TILE_C output channels of
 * one group, reducing over the group's input channels and the phase's taps in registers.
 *
 * -D specialisation beyond common.cl: LAYOUT_NCL (1: (N, C, L); 0: (N, L, C)), TILE_P, TILE_C.
 * Inputs are loaded with LOAD_INPUT, outputs stored with STORE_OUTPUT (common.cl's prologue and
 * epilogue).
 */

/* Defaults of the -D options above, so that this kernel compiles on its own. */
#ifndef LAYOUT_NCL
#define LAYOUT_NCL 1
#endif
#ifndef TILE_P
#define TILE_P 4
#endif
#ifndef TILE_C
#define TILE_C 4
#endif

#if LAYOUT_NCL
#define X_INDEX(n, c, i, channels, length) (((n) * (channels) + (c)) * (length) + (i))
#else
#define X_INDEX(n, c, i, channels, length) (((n) * (length) + (i)) * (channels) + (c))
#endif

__kernel void phase_forward(KERNEL_ARGUMENTS) {
    const int r = (int)(get_global_id(2) % STRIDE);
    const long n = (long)(get_global_id(2) / STRIDE);
    const int tiles_per_group = cout_g_padded / TILE_C;
    const int g = (int)(get_global_id(1) / tiles_per_group);
    const int co0 = (int)(get_global_id(1) % tiles_per_group) * TILE_C;
    if (g >= groups) /* the grid is rounded up to whole work-groups */
        return;
    const long q0 = first_q(r, pad_left) + (long)get_global_id(0) * TILE_P;
    const long o0 = q0 * STRIDE + r - pad_left;
    if (o0 >= length_out || n >= batch)
        return;
    const phase_taps taps = taps_of_phase(r, kernel_length, dilation, tap_step);

    const int cin = cin_g * groups, cout = cout_g * groups;
    ZERO_TILE(float, acc, TILE_P, TILE_C);

    for (int j = 0; j < taps.count; ++j) {
        const long i0 = q0 - (taps.m0 + (long)j * dm);
        const __global float *wk = weight_tile(w, g, taps.k0 + j * tap_step, co0 / TILE_C,
                                               kernel_length, cin_g, cout_g_padded, TILE_C);
        const bool inside = i0 >= 0 && i0 + TILE_P <= length_in;
        for (int ci = 0; ci < cin_g; ++ci) {
            const long ch = (long)g * cin_g + ci;
            float wv[TILE_C];
#pragma unroll
            for (int c = 0; c < TILE_C; ++c)
                wv[c] = wk[ci * TILE_C + c];
            if (inside) {
                float xv[TILE_P];
#pragma unroll
                for (int p = 0; p < TILE_P; ++p)
                    xv[p] = LOAD_INPUT(x, X_INDEX(n, ch, i0 + p, cin, length_in), ch);
#pragma unroll
                for (int p = 0; p < TILE_P; ++p)
#pragma unroll
                    for (int c = 0; c < TILE_C; ++c)
                        acc[p][c] = fma(xv[p], wv[c], acc[p][c]);
            } else {
                /* A border tile: a position outside the input adds nothing. It must not add a
                 * zero times the weight, which an infinite weight would make NaN. */
#pragma unroll
                for (int p = 0; p < TILE_P; ++p) {
                    const long i = i0 + p;
                    if (i < 0 || i >= length_in)
                        continue;
                    const float xs = LOAD_INPUT(x, X_INDEX(n, ch, i, cin, length_in), ch);
#pragma unroll
                    for (int c = 0; c < TILE_C; ++c)
                        acc[p][c] = fma(xs, wv[c], acc[p][c]);
                }
            }
        }
    }

#pragma unroll

    for (int c = 0; c < TILE_C; ++c) {
        const int co_local = co0 + c;
        if (co_local >= cout_g)
            break;
        const long co = (long)g * cout_g + co_local;
        const float b = OUTPUT_BIAS(bias, has_bias, co);
#pragma unroll
        for (int p = 0; p < TILE_P; ++p) {
            const long o = o0 + (long)p * STRIDE;
            if (o < length_out)
                STORE_OUTPUT(y, X_INDEX(n, co, o, cout, length_out), acc[p][c], b);
        }
    }
}
