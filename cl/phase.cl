/*
 * ConvTranspose1d as an output-stationary gather, one stride phase at a time.
 *
 * Output position o has phase r = (o + pad_left) mod STRIDE and q = (o + pad_left) div STRIDE.
 * It only meets taps k with k*dilation = r (mod STRIDE): an arithmetic progression
 * k = k0 + j*tap_step (tap_step = STRIDE / gcd(STRIDE, dilation)), possibly empty, and tap j reads
 * input i = q - (m0 + j*dm) with m0 = (k0*dilation - r) / STRIDE and dm = dilation / gcd. So each
 * phase is a stride-1 correlation with about K / tap_step taps: no atomics, no multiplications by
 * the zeros a scatter would insert, no column buffer.
 *
 * A work-item computes TILE_P consecutive positions q of one phase for TILE_C output channels of
 * one group, reducing over the group's input channels and the phase's taps in registers.
 *
 * Compile-time specialisation (-D): STRIDE, LAYOUT_NCL (1: (N, C, L); 0: (N, L, C)), DTYPE (0 f32,
 * 1 f16, 2 bf16), TILE_P, TILE_C. Everything that varies with the data (lengths, batch, channels,
 * K, dilation, padding) is a run-time argument, so a new shape never triggers a compile.
 *
 * Weights are packed by the host as [group][k][ci][co padded to a multiple of TILE_C], so a tile's
 * TILE_C weights are contiguous and need no bounds check.
 */

#if DTYPE == 0
typedef float store_t;
#define LOAD(p, i) ((p)[i])
#define STORE(p, i, v) ((p)[i] = (v))
#elif DTYPE == 1
/* vload_half/vstore_half are core OpenCL: no cl_khr_fp16 needed. */
typedef half store_t;
#define LOAD(p, i) vload_half((i), (p))
#define STORE(p, i, v) vstore_half_rte((v), (i), (p))
#elif DTYPE == 2
typedef ushort store_t;
#define LOAD(p, i) as_float((uint)(p)[i] << 16)
#define STORE(p, i, v) ((p)[i] = float_to_bf16(v))

/* Round to nearest even; a NaN stays a (quiet) NaN. */
inline ushort float_to_bf16(float f) {
    uint u = as_uint(f);
    if ((u & 0x7fffffffu) > 0x7f800000u)
        return (ushort)((u >> 16) | 0x40u);
    return (ushort)((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);
}
#else
#error "DTYPE must be 0 (f32), 1 (f16) or 2 (bf16)"
#endif

#if LAYOUT_NCL
#define X_INDEX(n, c, i, channels, length) (((n) * (channels) + (c)) * (length) + (i))
#else
#define X_INDEX(n, c, i, channels, length) (((n) * (length) + (i)) * (channels) + (c))
#endif

__kernel void phase_forward(__global const store_t *restrict x, __global const store_t *restrict w,
                            __global const store_t *restrict bias, __global store_t *restrict y,
                            const int has_bias, const int cin_g, const int cout_g,
                            const int cout_g_padded, const int groups, const int kernel_length,
                            const int dilation, const int tap_step, const int dm,
                            const long pad_left, const long length_in, const long length_out) {
    const int r = (int)(get_global_id(2) % STRIDE);
    const long n = (long)(get_global_id(2) / STRIDE);
    const int tiles_per_group = cout_g_padded / TILE_C;
    const int g = (int)(get_global_id(1) / tiles_per_group);
    const int co0 = (int)(get_global_id(1) % tiles_per_group) * TILE_C;

    /* First q of this phase whose position o = q*STRIDE + r - pad_left is >= 0. */
    const long q_min = r >= pad_left ? 0 : (pad_left - r + STRIDE - 1) / STRIDE;
    const long q0 = q_min + (long)get_global_id(0) * TILE_P;
    const long o0 = q0 * STRIDE + r - pad_left;
    if (o0 >= length_out)
        return;

    /* The taps of this phase: the first k with k*dilation = r (mod STRIDE), then every tap_step. */
    int k0 = -1;
    for (int k = 0; k < tap_step; ++k)
        if (((long)k * dilation) % STRIDE == r) {
            k0 = k;
            break;
        }
    const int taps = (k0 < 0 || k0 >= kernel_length) ? 0 : (kernel_length - 1 - k0) / tap_step + 1;
    const long m0 = k0 < 0 ? 0 : ((long)k0 * dilation - r) / STRIDE;

    const int cin = cin_g * groups, cout = cout_g * groups;
    float acc[TILE_P][TILE_C];
#pragma unroll
    for (int p = 0; p < TILE_P; ++p)
#pragma unroll
        for (int c = 0; c < TILE_C; ++c)
            acc[p][c] = 0.0f;

    for (int j = 0; j < taps; ++j) {
        const long i0 = q0 - (m0 + (long)j * dm);
        const __global store_t *wk =
            w + ((long)g * kernel_length + k0 + j * tap_step) * cin_g * cout_g_padded + co0;
        const bool inside = i0 >= 0 && i0 + TILE_P <= length_in;
        for (int ci = 0; ci < cin_g; ++ci) {
            const long ch = (long)g * cin_g + ci;
            float wv[TILE_C];
#pragma unroll
            for (int c = 0; c < TILE_C; ++c)
                wv[c] = LOAD(wk, ci * cout_g_padded + c);
            float xv[TILE_P];
#pragma unroll
            for (int p = 0; p < TILE_P; ++p) {
                const long i = i0 + p;
                xv[p] = (inside || (i >= 0 && i < length_in))
                            ? LOAD(x, X_INDEX(n, ch, i, cin, length_in))
                            : 0.0f;
            }
#pragma unroll
            for (int p = 0; p < TILE_P; ++p)
#pragma unroll
                for (int c = 0; c < TILE_C; ++c)
                    acc[p][c] = fma(xv[p], wv[c], acc[p][c]);
        }
    }

#pragma unroll

    for (int c = 0; c < TILE_C; ++c) {
        const int co_local = co0 + c;
        if (co_local >= cout_g)
            break;
        const long co = (long)g * cout_g + co_local;
        const float b = has_bias ? LOAD(bias, co) : 0.0f;
#pragma unroll
        for (int p = 0; p < TILE_P; ++p) {
            const long o = o0 + (long)p * STRIDE;
            if (o < length_out)
                STORE(y, X_INDEX(n, co, o, cout, length_out), acc[p][c] + b);
        }
    }
}
