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

__kernel void activate_input(__global const store_t *restrict x, __global store_t *restrict y,
                             const long count, const long channels,
                             const long length ACTIVATION_PARAMETERS) {
    const long i = (long)get_global_id(0);
    if (i >= count)
        return;
#if LAYOUT_NCL
    const long ch = i / length % channels;
#else
    const long ch = i % channels;
    (void)length;
#endif
    STORE_FINISHED(y, i, LOAD_INPUT(x, i, ch));
}
