/*
 * The phase gather for depthwise layers (one input and one output channel per group) in the
 * channels-last layout (N, L, C), vectorised over channels: a channel's taps never meet another
 * channel, so the VEC lanes are VEC neighbouring channels (groups), contiguous in an NLC row, each
 * with its own weights. A work-item owns TILE_P positions of one stride phase.
 *
 * Packed weights for this path: [k][channel], channels padded with zeros to cout_g_padded (a
 * multiple of VEC), so a tap's weight vector is one aligned load.
 *
 * -D specialisation beyond common.cl (which is prepended): VEC (4, 8 or 16), TILE_P. Inputs are
 * loaded with LOAD_INPUT_CHANNELSV (the lanes are channels), outputs finished with BIAS_CHANNELSV
 * and FINISH_OUTPUT (common.cl's prologue and epilogue).
 */

/* Defaults of the -D options above, so that this kernel compiles on its own. */
#ifndef VEC
#define VEC 16
#endif
#ifndef TILE_P
#define TILE_P 8
#endif

typedef CAT(float, VEC) floatv;

__kernel void phase_dw_forward(KERNEL_ARGUMENTS) {
    const int r = (int)(get_global_id(2) % STRIDE);
    const long n = (long)(get_global_id(2) / STRIDE);
    const int c0 = (int)get_global_id(1) * VEC;
    const long q0 = first_q(r, pad_left) + (long)get_global_id(0) * TILE_P;
    const long o0 = q0 * STRIDE + r - pad_left;
    if (o0 >= length_out || n >= batch || c0 >= groups)
        return;
    const phase_taps taps = taps_of_phase(r, kernel_length, dilation, tap_step);
    const int available = groups - c0; /* channels of this block that exist */

    floatv acc[TILE_P];
#pragma unroll
    for (int p = 0; p < TILE_P; ++p)
        acc[p] = (floatv)(0.0f);
    const __global store_t *x_n = x + n * length_in * groups + c0;
    for (int j = 0; j < taps.count; ++j) {
        const long i0 = q0 - (taps.m0 + (long)j * dm);
        const floatv wv =
            CAT(vload, VEC)(0, w + (long)(taps.k0 + j * tap_step) * cout_g_padded + c0);
#pragma unroll
        for (int p = 0; p < TILE_P; ++p) {
            const long i = i0 + p;
            if (i >= 0 && i < length_in)
                acc[p] =
                    fma(LOAD_INPUT_CHANNELSV(VEC, x_n + i * groups, available, c0), wv, acc[p]);
        }
    }

    const floatv b = BIAS_CHANNELSV(VEC, bias, has_bias, c0, available);
#pragma unroll
    for (int p = 0; p < TILE_P; ++p) {
        const long o = o0 + (long)p * STRIDE;
        if (o >= length_out)
            break;
        __global store_t *y_at = y + (n * length_out + o) * groups + c0;
        const floatv value = FINISH_OUTPUT(acc[p], b);
        if (available >= VEC) {
            STORE_FINISHEDV(VEC, y_at, value);
        } else {
            const floatv lanes = value; /* lane by lane, not through scratch (phase_pos.cl) */
            for (int l = 0; l < available; ++l)
                STORE_FINISHED(y_at, l, lanes[l]);
        }
    }
}
