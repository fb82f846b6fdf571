/*
 * The gemm path's second half (common.cl is prepended). CLBlast has written, for a chunk of
 * samples and input positions [i_lo, i_lo + chunk_length), the column buffer
 *   col[n][g][co_local * K + k][i - i_lo] = sum over ci in g of w[ci][co_local][k] * x[n][ci][i].
 * This gathers it into the output, one work-item per output element: output o of phase r adds
 * col[..][k][i] over the phase's taps k whose input i lies in the chunk. The first chunk of a row
 * writes (with the bias); later chunks add to what is there. No atomics: each element has one
 * owner.
 *
 * It loads no input (CLBlast reads x): an input activation runs before the GEMMs as a pass of its
 * own (cl/activation.cl), which they read instead. The output goes through common.cl's epilogue,
 * STORE_OUTPUT, with the bias or, after the first chunk, the partial sum already there
 * (LOAD_PARTIAL_OUTPUT). An output conversion must then run on the last chunk only (earlier ones
 * store partial sums that the next reads back), which this kernel would have to be told by a new
 * argument.
 *
 * -D specialisation beyond common.cl: LAYOUT_NCL (1: (N, C, L); 0: (N, L, C)).
 */

/* Defaults of the -D options above, so that this kernel compiles on its own. */
#ifndef LAYOUT_NCL
#define LAYOUT_NCL 1
#endif

__kernel void col2im_forward(__global const float *restrict col,
                             __global const store_t *restrict bias, __global store_t *restrict y,
                             const int has_bias, const int cout_g, const int groups,
                             const int kernel_length, const int dilation, const int tap_step,
                             const int dm, const long pad_left, const long length_out,
                             const long o_first, const long o_count, const long i_lo,
                             const long chunk_length, const long n_first, const int accumulate) {
    const long o = o_first + (long)get_global_id(0);
    const int co = (int)get_global_id(1);
    const long n_local = (long)get_global_id(2);
    if (o >= o_first + o_count || co >= cout_g * groups)
        return;
    const int g = co / cout_g, co_local = co % cout_g;
    const long t = o + pad_left;
    const phase_taps taps = taps_of_phase((int)(t % STRIDE), kernel_length, dilation, tap_step);
    const long q = t / STRIDE;
    const __global float *col_rows =
        col + ((n_local * groups + g) * (long)cout_g + co_local) * kernel_length * chunk_length;
    float sum = 0.0f;
    for (int j = 0; j < taps.count; ++j) {
        const long i = q - (taps.m0 + (long)j * dm) - i_lo;
        if (i >= 0 && i < chunk_length)
            sum += col_rows[(long)(taps.k0 + j * tap_step) * chunk_length + i];
    }
    const long n = n_first + n_local, cout = (long)cout_g * groups;
#if LAYOUT_NCL
    const long at = (n * cout + co) * length_out + o;
#else
    const long at = (n * length_out + o) * cout + co;
#endif
    /* Without a bias this adds +0, which changes no bit of sum: it starts at +0 and only adds, so
     * it is never -0, nor a signalling NaN. */
    const float base = accumulate ? LOAD_PARTIAL_OUTPUT(y, at) : OUTPUT_BIAS(bias, has_bias, co);
    STORE_OUTPUT(y, at, sum, base);
}
