/*
 * The phase gather of phase.cl for the PyTorch layout (N, C, L), vectorised over output positions.
 *
 * A work-item owns PV vectors of VEC consecutive positions q of one stride phase and CO_T output
 * channels of one group. For each input channel and tap it loads PV input vectors (contiguous in
 * an NCL row, since consecutive q of a phase read consecutive inputs) and does an outer product
 * with CO_T weights: CO_T x PV vector FMAs per PV loads and CO_T broadcasts. Tiles that overhang
 * their row leave the accumulators of the lanes outside it as they are (never a multiply by a
 * zero, which an infinite weight would turn into NaN), so there is no padded copy.
 *
 * -D specialisation beyond common.cl (which is prepended): VEC (4, 8 or 16), PV, CO_T, and
 * CI_CHUNK (0: reduce over all input channels at once). Inputs are loaded with LOAD_INPUTV /
 * LOAD_INPUT_EDGEV, outputs finished with FINISH_OUTPUT and stored lane by lane (common.cl's
 * prologue and epilogue).
 */

/* Defaults of the -D options above, so that this kernel compiles on its own. */
#ifndef VEC
#define VEC 16
#endif
#ifndef PV
#define PV 2
#endif
#ifndef CO_T
#define CO_T 4
#endif

typedef CAT(float, VEC) floatv;
typedef CAT(int, VEC) intv;
typedef CAT(long, VEC) longv;
#define convert_intv CAT(convert_int, VEC)
#define convert_longv CAT(convert_long, VEC)

/* (0, 1, ..., VEC - 1) */
static inline intv lane_numbers(void) {
    int lanes[VEC];
#pragma unroll
    for (int l = 0; l < VEC; ++l)
        lanes[l] = l;
    return CAT(vload, VEC)(0, lanes);
}

__kernel void phase_pos_forward(KERNEL_ARGUMENTS) {
    const int r = (int)(get_global_id(2) % STRIDE);
    const long n = (long)(get_global_id(2) / STRIDE);
    const int tiles_per_group = cout_g_padded / CO_T;
    const int g = (int)(get_global_id(1) / tiles_per_group);
    const int co0 = (int)(get_global_id(1) % tiles_per_group) * CO_T;
    const long q0 = first_q(r, pad_left) + (long)get_global_id(0) * (VEC * PV);
    const long o0 = q0 * STRIDE + r - pad_left;
    /* Work-items past the output (the grid is rounded up to whole work-groups) compute nothing,
     * but must not return before a barrier. */
    const bool active = g < groups && o0 < length_out && n < batch;
    const phase_taps taps = taps_of_phase(r, kernel_length, dilation, tap_step);

    ZERO_TILE(floatv, acc, CO_T, PV);

    const __global store_t *x_group = x + (n * groups + g) * (long)cin_g * length_in;
    CHUNKS_BEGIN(cin_g)
        for (int j = 0; active && j < taps.count; ++j) {
            const long i0 = q0 - (taps.m0 + (long)j * dm);
            const __global float *wk = weight_tile(w, g, taps.k0 + j * tap_step, co0 / CO_T,
                                                   kernel_length, cin_g, cout_g_padded, CO_T);
            if (i0 >= 0 && i0 + VEC * PV <= length_in) {
                for (int ci = chunk; ci < ci_end; ++ci) {
                    const __global store_t *row = x_group + (long)ci * length_in + i0;
                    floatv xv[PV];
#pragma unroll
                    for (int v = 0; v < PV; ++v)
                        xv[v] = LOAD_INPUTV(VEC, row + v * VEC, (long)g * cin_g + ci);
#pragma unroll
                    for (int c = 0; c < CO_T; ++c) {
                        const float wv = wk[ci * CO_T + c];
#pragma unroll
                        for (int v = 0; v < PV; ++v)
                            acc[c][v] = fma((floatv)(wv), xv[v], acc[c][v]);
                    }
                }
            } else {
                /* A border tile. Its vectors are loaded whole all the same, reading into the
                 * neighbouring rows, and the lanes outside this row keep their accumulators: a
                 * select, not a multiply by zero (the neighbour, or the weight, may hold an
                 * infinity, and 0 x Inf is NaN). Only at the two ends of the buffer would that
                 * read outside it: there, lane by lane. */
                intv inside[PV];
#pragma unroll
                for (int v = 0; v < PV; ++v) {
                    const longv i = (longv)(i0 + v * VEC) + convert_longv(lane_numbers());
                    inside[v] = convert_intv(i >= 0 && i < length_in);
                }
                const long row0 = (x_group - x) + i0; /* offset of channel 0's tile in x */
                const long x_count = batch * groups * (long)cin_g * length_in;
                for (int ci = chunk; ci < ci_end; ++ci) {
                    const long start = row0 + (long)ci * length_in;
                    floatv xv[PV];
                    if (start >= 0 && start + VEC * PV <= x_count) {
#pragma unroll
                        for (int v = 0; v < PV; ++v)
                            xv[v] = LOAD_INPUTV(VEC, x + start + v * VEC, (long)g * cin_g + ci);
                    } else {
#pragma unroll
                        for (int v = 0; v < PV; ++v)
                            xv[v] = LOAD_INPUT_EDGEV(VEC, x_group + (long)ci * length_in,
                                                     i0 + v * VEC, length_in, (long)g * cin_g + ci);
                    }
#pragma unroll
                    for (int c = 0; c < CO_T; ++c) {
                        const float wv = wk[ci * CO_T + c];
#pragma unroll
                        for (int v = 0; v < PV; ++v)
                            acc[c][v] =
                                select(acc[c][v], fma((floatv)(wv), xv[v], acc[c][v]), inside[v]);
                    }
                }
            }
        }
    CHUNKS_END
    if (!active)
        return;

#pragma unroll
    for (int c = 0; c < CO_T; ++c) {
        const int co_local = co0 + c;
        if (co_local >= cout_g)
            break;
        const float b = channel_bias(bias, has_bias, g, co_local, cout_g);
        __global store_t *y_row = ncl_output_row(y, n, g, co_local, cout_g, groups, length_out);
#pragma unroll
        for (int v = 0; v < PV; ++v) {
            /* A vector, read lane by lane: a private array would live in scratch memory on AMD
             * GPUs (tests/gpu/). Encoded as a whole (f16, bf16: one vector encoding, not VEC
             * scalar ones, which cost as much as the FMAs on waveglow's row). */
            const ENCODEDN(VEC) lanes = ENCODE_FINISHEDV(VEC, FINISH_OUTPUT(acc[c][v], b));
            /* Not unrolled: 384 copies of the stores made PoCL's compile take minutes. */
#pragma unroll 1
            for (int l = 0; l < VEC; ++l) {
                const long o = o0 + (long)(v * VEC + l) * STRIDE;
                if (o < length_out)
                    STORE_ENCODED(y_row, o, lanes[l]);
            }
        }
    }
}
