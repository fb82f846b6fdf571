/*
 * The input activation as a pass of its own (common.cl is prepended): y[i] = activation(x[i]) for
 * the count values of an input (batch x channels x length in the layout), in fp32 on the decoded
 * value, encoded back to the storage type. src/activation.c runs it before a path that loads no
 * input itself (gemm: CLBlast reads it) or when the plan keeps the activation out of the path's
 * kernel; the path then reads y. Loads through the prologue (LOAD_INPUT), stores through
 * STORE_FINISHED (only an encoding: y is an input, not an output, and has no bias).
 *
 * -D specialisation beyond common.cl: LAYOUT_NCL (1: (N, C, L); 0: (N, L, C)).
 */

#ifndef LAYOUT_NCL
#define LAYOUT_NCL 1
#endif

/* The input as rows of contiguous values: NCL rows are (sample, channel) pairs of length values,
 * NLC rows (sample, position) pairs of channels values. Work-item (t, r) activates values
 * [t * PASS_CHUNK, (t + 1) * PASS_CHUNK) of row r: a contiguous run, with the channel known
 * without a division per value (one per work-item). A work-item per value cost more in PoCL's
 * dispatch and 64-bit divisions than the activation itself (20 ms for hifigan_v1_up4's 2M
 * inputs). src/activation.c's PASS_CHUNK is the same. */
#define PASS_CHUNK 256
#define PASS_VEC 16

__kernel void activate_input(__global const store_t *restrict x, __global store_t *restrict y,
                             const long rows, const long width,
                             const long channels ACTIVATION_PARAMETERS) {
    const long r = (long)get_global_id(1);
    const long j0 = (long)get_global_id(0) * PASS_CHUNK;
    if (r >= rows || j0 >= width)
        return;
    const long j1 = min(j0 + PASS_CHUNK, width);
    __global const store_t *row = x + r * width;
    __global store_t *out = y + r * width;
    /* Vectors of PASS_VEC values, then the rest one by one: a vector op per activation, and
     * the Snake's sine once per lane (sine_squared<n>). */
    long j = j0;
#if LAYOUT_NCL
    const long ch = r % channels;
    for (; j + PASS_VEC <= j1; j += PASS_VEC)
        STORE_FINISHEDV(PASS_VEC, out + j, LOAD_INPUTV(PASS_VEC, row + j, ch));
    for (; j < j1; ++j)
        STORE_FINISHED(out, j, LOAD_INPUT(row, j, ch));
#else
    (void)channels;
    for (; j + PASS_VEC <= j1; j += PASS_VEC)
        STORE_FINISHEDV(PASS_VEC, out + j, LOAD_INPUT_CHANNELSV(PASS_VEC, row + j, PASS_VEC, j));
    for (; j < j1; ++j)
        STORE_FINISHED(out, j, LOAD_INPUT(row, j, j));
#endif
}
