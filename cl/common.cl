/*
 * Shared by every kernel (embedded in front of each): storage types, the stride-phase algebra, and
 * the two seams every path goes through: the prologue (input loads) and the epilogue (bias and
 * output stores).
 *
 * ConvTranspose1d as an output-stationary gather, one stride phase at a time. Output position o has
 * phase r = (o + pad_left) mod STRIDE and q = (o + pad_left) div STRIDE. It only meets the taps k
 * with k*dilation = r (mod STRIDE): an arithmetic progression k = k0 + j*tap_step, where
 * tap_step = STRIDE / gcd(STRIDE, dilation), possibly empty; tap j reads input i = q - (m0 + j*dm)
 * with m0 = (k0*dilation - r) / STRIDE and dm = dilation / gcd. Each phase is thus a stride-1
 * correlation with about K / tap_step taps: no atomics, no multiplications by the zeros a scatter
 * would insert, no column buffer. A tap that reads outside the input is skipped (or its lanes keep
 * their accumulators), never added as a zero times its weight: an infinite weight would make that
 * term NaN, and the scatter has no such term. Infinities and NaNs thus reach exactly the outputs
 * they reach in the scatter.
 *
 * Specialisation (-D): STRIDE, DTYPE (0 f32, 1 f16, 2 bf16) and CI_CHUNK here; each path adds its
 * tile shape. src/plan.c passes every one; each has a default (below, and at the top of each
 * path), so that common.cl followed by any path's .cl compiles on its own, as an offline compiler
 * would see it (tests/cl_standalone.sh checks this with clang). Lengths, batch, channels, K,
 * dilation and padding are run-time arguments, so a new shape never triggers a compile.
 *
 * Weights are packed by the host as [group][k][channel tile][ci][co within the tile], the output
 * channels padded with zeros to whole tiles: a work-item reads its tile's weights for one tap as
 * one contiguous stream, with no bounds checks. They hold the weights rounded to the layer's dtype,
 * as float: the inner loops then convert nothing (f16 or bf16 values are exact in float). Weights
 * are not inputs: the prologue never touches them.
 *
 * The seams. No path reads or writes a tensor value with the storage macros (LOAD, LOADV, STORE,
 * STOREV) itself (tests/cl_standalone.sh checks this); they go through:
 *   - the prologue, LOAD_INPUT* (below): decode an input value, then INPUT_ACTIVATION. A fused
 *     input activation (LeakyReLU, ELU, Snake) is added there, in fp32 on the decoded value; it is
 *     given the input channel (over all groups), for a per-channel parameter such as Snake's alpha.
 *     Inputs outside the row are skipped, never loaded (or, in a vector, loaded and discarded) as
 *     today, so the activation sees exactly the inputs that reach an output.
 *   - the epilogue, STORE_OUTPUT and FINISH_OUTPUT (below): add the bias (OUTPUT_BIAS or
 *     BIAS_CHANNELSV), then OUTPUT_CONVERSION, then encode to the storage type. An output
 *     conversion (an activation or a scale on the result, in fp32) is added there; a new storage
 *     type is a new DTYPE branch of the storage macros.
 */

/* On an x86-64 CPU without AVX-512 (PoCL's AVX2 targets) clang warns, for every static helper that
 * takes or returns a 16-lane vector, that its calling convention differs from AVX-512's
 * (-Wpsabi): the helpers are inlined and never called across objects, so the ABI does not
 * matter, and PoCL writes each warning to the application's stderr. */
#ifdef __clang__
#pragma clang diagnostic ignored "-Wunknown-warning-option" /* a clang older than -Wpsabi */
#pragma clang diagnostic ignored "-Wpsabi"
#endif

/* Defaults of the -D options common.cl reads, so that each kernel compiles on its own. */
#ifndef STRIDE
#define STRIDE 2
#endif
#ifndef DTYPE
#define DTYPE 0
#endif
#ifndef CI_CHUNK
#define CI_CHUNK 0
#endif

#define CAT_(a, b) a##b
#define CAT(a, b) CAT_(a, b)

/* The storage macros: decode (LOAD, LOADV: n consecutive values) and encode (STORE, STOREV) one
 * storage type; ENCODEV (n values to a vector of encoded_t, the storage type's bits) and
 * STORE_BITS, STORE_BITSV (store encoded values) split STOREV in two. Only the prologue and the
 * epilogue below use them. */
#if DTYPE == 0
typedef float store_t;
#define LOAD(p, i) ((p)[i])
#define STORE(p, i, v) ((p)[i] = (v))
#define LOADV(n, p) CAT(vload, n)(0, (p))
#define STOREV(n, p, v) CAT(vstore, n)((v), 0, (p))
#define ENCODED_TYPE float
#define ENCODEV(n, v) (v)
#define STORE_BITS(p, i, e) ((p)[i] = (e))
#define STORE_BITSV(n, p, e) CAT(vstore, n)((e), 0, (p))
#elif DTYPE == 1
/* f16 is read and written as its bits (ushort), decoded and encoded by the functions below: PoCL's
 * vload_half / vstore_half_rte work lane by lane through slow generic code (3x slower forwards,
 * minutes of compile), and its vload_halfn assumes 16-byte aligned addresses. */
typedef half store_t;
#define LOAD(p, i) half_bits_to_float1(((__global const ushort *)(p))[i])
#define STORE(p, i, v) (((__global ushort *)(p))[i] = float_to_half_bits(v))
#define LOADV(n, p) CAT(half_bits_to_float, n)(CAT(vload, n)(0, (__global const ushort *)(p)))
#define STOREV(n, p, v) CAT(vstore, n)(CAT(float_to_half_bits, n)(v), 0, (__global ushort *)(p))
#define ENCODED_TYPE ushort
#define ENCODEV(n, v) CAT(float_to_half_bits, n)(v)
#define STORE_BITS(p, i, e) (((__global ushort *)(p))[i] = (e))
#define STORE_BITSV(n, p, e) CAT(vstore, n)((e), 0, (__global ushort *)(p))
/* On x86 with F16C (every AVX2 CPU), one vcvtph2ps / vcvtps2ph converts a vector: the integer
 * decoder took as long as the FMAs it fed (f16 ran 1.45x f32's time). The instructions are exact
 * and round to nearest even as the integer forms below (imm 0: RNE whatever MXCSR says); their
 * f16 subnormals are converted, never flushed. A signalling NaN input comes out quiet, as the
 * first FMA makes it anyway. Other targets (GPUs, oclgrind) take the integer forms. */
#if defined(__has_builtin) && defined(__F16C__)
#if __has_builtin(__builtin_ia32_vcvtph2ps256) && __has_builtin(__builtin_ia32_vcvtps2ph256)
#define HARDWARE_HALF 1
#endif
#endif
#ifndef HARDWARE_HALF
#define HARDWARE_HALF 0
#endif

#if HARDWARE_HALF
typedef short half_bits8 __attribute__((__vector_size__(16)));
static inline float4 half_bits_to_float4(ushort4 h) {
    return __builtin_ia32_vcvtph2ps((half_bits8)(ushort8)(h, (ushort4)(0)));
}
static inline float half_bits_to_float1(ushort h) {
    return half_bits_to_float4((ushort4)(h)).s0;
}
static inline float8 half_bits_to_float8(ushort8 h) {
    return __builtin_ia32_vcvtph2ps256((half_bits8)h);
}
static inline ushort4 float_to_half_bits4(float4 f) {
    return as_ushort8(__builtin_ia32_vcvtps2ph(f, 0)).lo;
}
static inline ushort float_to_half_bits(float f) {
    return float_to_half_bits4((float4)(f)).s0;
}
static inline ushort2 float_to_half_bits2(float2 f) {
    return float_to_half_bits4((float4)(f, 0.0f, 0.0f)).lo;
}
static inline ushort3 float_to_half_bits3(float3 f) {
    return float_to_half_bits4((float4)(f, 0.0f)).xyz;
}
static inline ushort8 float_to_half_bits8(float8 f) {
    return as_ushort8(__builtin_ia32_vcvtps2ph256(f, 0));
}
#if defined(__AVX512F__) && __has_builtin(__builtin_ia32_vcvtph2ps512_mask) &&                     \
    __has_builtin(__builtin_ia32_vcvtps2ph512_mask)
typedef short half_bits16 __attribute__((__vector_size__(32)));
typedef float float_lanes16 __attribute__((__vector_size__(64)));
/* The last arguments: every lane (mask), and the current rounding (4; a decode is exact). */
static inline float16 half_bits_to_float16(ushort16 h) {
    return __builtin_ia32_vcvtph2ps512_mask((half_bits16)h, (float_lanes16)(float16)(0.0f),
                                            (ushort)0xffff, 4);
}
static inline ushort16 float_to_half_bits16(float16 f) {
    return as_ushort16(
        __builtin_ia32_vcvtps2ph512_mask(f, 0, (half_bits16)(ushort16)(0), (ushort)0xffff));
}
#else
static inline float16 half_bits_to_float16(ushort16 h) {
    return (float16)(half_bits_to_float8(h.lo), half_bits_to_float8(h.hi));
}
static inline ushort16 float_to_half_bits16(float16 f) {
    return (ushort16)(float_to_half_bits8(f.lo), float_to_half_bits8(f.hi));
}
#endif
#else
#define HALF_DECODER(n, suffix)                                                                    \
    static inline CAT(float, n) CAT(half_bits_to_float, suffix)(CAT(ushort, n) h) {                \
        const CAT(uint, n) u = CAT(convert_uint, n)(h);                                            \
        const CAT(uint, n) magnitude = u & 0x7fffu;                                                \
        /* Normal: rebias the exponent (127 - 15 = 112); subnormal: mantissa x 2^-24, exact. */    \
        const CAT(float, n) normal = CAT(as_float, n)((magnitude << 13) + (112u << 23));           \
        const CAT(float, n) subnormal = CAT(convert_float, n)(magnitude) * 0x1p-24f;               \
        const CAT(float, n) special =                                                              \
            CAT(as_float, n)(0x7f800000u | ((magnitude & 0x3ffu) << 13));                          \
        CAT(float, n) value = magnitude < 0x400u ? subnormal : normal;                             \
        value = magnitude >= 0x7c00u ? special : value;                                            \
        return CAT(as_float, n)(CAT(as_uint, n)(value) | ((u & 0x8000u) << 16));                   \
    }
#define EMPTY
HALF_DECODER(EMPTY, 1)
HALF_DECODER(4, 4)
HALF_DECODER(8, 8)
HALF_DECODER(16, 16)

/* Round to nearest even, as vstore_half_rte: NaN stays NaN (quiet, keeping the top payload bits),
 * what rounds to 65520 or more gives infinity, subnormals round by adding 0.5 (which leaves a
 * multiple of 2^-24 in the low mantissa bits), normals rebias the exponent (127 - 15 = 112) and
 * round the 13 dropped bits to even. Vector forms compute every case and select, so a vector
 * store encodes in a few vector operations instead of lane by lane. */
#define HALF_ENCODER(n, suffix)                                                                    \
    static inline CAT(ushort, n) CAT(float_to_half_bits, suffix)(CAT(float, n) f) {                \
        const CAT(uint, n) u = CAT(as_uint, n)(f);                                                 \
        const CAT(uint, n) sign = (u >> 16) & 0x8000u, magnitude = u & 0x7fffffffu;                \
        const CAT(uint, n) nan = 0x7e00u | ((magnitude >> 13) & 0x3ffu);                           \
        const CAT(uint, n) subnormal =                                                             \
            CAT(as_uint, n)(CAT(as_float, n)(magnitude) + 0.5f) - 0x3f000000u;                     \
        const CAT(uint, n) rebased = magnitude - 0x38000000u;                                      \
        CAT(uint, n) bits = (rebased + 0x0fffu + ((rebased >> 13) & 1u)) >> 13;                    \
        bits = magnitude < 0x38800000u ? subnormal : bits;                                         \
        bits = magnitude >= 0x477ff000u ? (CAT(uint, n))(0x7c00u) : bits;                          \
        bits = magnitude > 0x7f800000u ? nan : bits;                                               \
        return CAT(convert_ushort, n)(sign | bits);                                                \
    }
HALF_ENCODER(EMPTY, EMPTY)
HALF_ENCODER(2, 2)
HALF_ENCODER(3, 3)
HALF_ENCODER(4, 4)
HALF_ENCODER(8, 8)
HALF_ENCODER(16, 16)
#endif /* HARDWARE_HALF */
#elif DTYPE == 2
typedef ushort store_t;
#define LOAD(p, i) as_float((uint)(p)[i] << 16)
#define STORE(p, i, v) ((p)[i] = float_to_bf16(v))
#define LOADV(n, p) CAT(as_float, n)(CAT(convert_uint, n)(CAT(vload, n)(0, (p))) << 16)
#define STOREV(n, p, v) CAT(vstore, n)(CAT(float_to_bf16, n)(v), 0, (p))
#define ENCODED_TYPE ushort
#define ENCODEV(n, v) CAT(float_to_bf16, n)(v)
#define STORE_BITS(p, i, e) ((p)[i] = (e))
#define STORE_BITSV(n, p, e) CAT(vstore, n)((e), 0, (p))

/* Round to nearest even; a NaN stays a (quiet) NaN. Vector forms as for f16. */
#define BF16_ENCODER(n, suffix)                                                                    \
    static inline CAT(ushort, n) CAT(float_to_bf16, suffix)(CAT(float, n) f) {                     \
        const CAT(uint, n) u = CAT(as_uint, n)(f);                                                 \
        const CAT(uint, n) nan = (u >> 16) | 0x40u;                                                \
        const CAT(uint, n) rounded = (u + 0x7fffu + ((u >> 16) & 1u)) >> 16;                       \
        return CAT(convert_ushort, n)((u & 0x7fffffffu) > 0x7f800000u ? nan : rounded);            \
    }
#define EMPTY
BF16_ENCODER(EMPTY, EMPTY)
BF16_ENCODER(2, 2)
BF16_ENCODER(3, 3)
BF16_ENCODER(4, 4)
BF16_ENCODER(8, 8)
BF16_ENCODER(16, 16)
#else
#error "DTYPE must be 0 (f32), 1 (f16) or 2 (bf16)"
#endif
/* The bits of one stored value (float for f32), and a vector of n of them. */
typedef ENCODED_TYPE encoded_t;
#define ENCODEDN(n) CAT(ENCODED_TYPE, n)

/* The taps of phase r: first tap k0, count, and the input offset m0 of the first. */
typedef struct phase_taps {
    int k0, count;
    long m0;
} phase_taps;

static inline phase_taps taps_of_phase(int r, int kernel_length, int dilation, int tap_step) {
    phase_taps t = {-1, 0, 0};
    for (int k = 0; k < tap_step; ++k)
        if (((long)k * dilation) % STRIDE == r) {
            t.k0 = k;
            break;
        }
    if (t.k0 >= 0 && t.k0 < kernel_length) {
        t.count = (kernel_length - 1 - t.k0) / tap_step + 1;
        t.m0 = ((long)t.k0 * dilation - r) / STRIDE;
    }
    return t;
}

/* The packed weights of tap k for output-channel tile `tile` of group g: cin_g rows of width. */
static inline __global const float *weight_tile(__global const float *w, int g, int k, int tile,
                                                int kernel_length, int cin_g, int cout_g_padded,
                                                int width) {
    return w + (((long)g * kernel_length + k) * (cout_g_padded / width) + tile) * cin_g * width;
}

/* First q of phase r whose position o = q*STRIDE + r - pad_left is >= 0. */
static inline long first_q(int r, long pad_left) {
    return r >= pad_left ? 0 : (pad_left - r + STRIDE - 1) / STRIDE;
}

/* Output row of channel co_local of group g in sample n (NCL). */
static inline __global store_t *ncl_output_row(__global store_t *y, long n, int g, int co_local,
                                               int cout_g, int groups, long length_out) {
    return y + ((n * groups + g) * (long)cout_g + co_local) * length_out;
}

/*
 * The prologue: every input value a path uses is loaded by one of these, with its input channel
 * ch = g * cin_g + ci (a long). Each decodes the storage type, then applies INPUT_ACTIVATION (the
 * fused activation -DACTIVATION selects, below; identity without one) in fp32.
 *   LOAD_INPUT(p, i, ch)             the input at p[i], of channel ch
 *   LOAD_INPUTV(n, p, ch)            n consecutive positions of channel ch at p. Lanes that lie
 *                                    outside the row (phase_pos's border vectors) are activated
 *                                    too, as if of channel ch, and the caller discards them.
 *   LOAD_INPUT_EDGEV(n, row, i0, length, ch)
 *                                    n positions from row[i0], zero outside [0, length): those
 *                                    lanes are not inputs, not loaded and not activated.
 *   LOAD_INPUT_CHANNELSV(n, p, available, ch0)
 *                                    n channels ch0.. at p (lane l: channel ch0 + l), of which
 *                                    the first `available` exist; the others are zero, not loaded
 *                                    and not activated (their outputs are never stored).
 * n is 4, 8 or 16. The activation's parameters are the last KERNEL_ARGUMENTS
 * (ACTIVATION_PARAMETERS) and INPUT_ACTIVATION* read them by name: these macros expand in the
 * kernel, where the arguments are in scope, and pass them on to the helper functions below, which
 * take them as parameters of the same name. The paths do not change.
 */
#ifndef ACTIVATION
#define ACTIVATION 0
#endif

/* The float type of n lanes (1: float). */
#define FLOATN(n) CAT(FLOATN_, n)
#define FLOATN_1 float
#define FLOATN_4 float4
#define FLOATN_8 float8
#define FLOATN_16 float16

/*
 * The fused input activation, -DACTIVATION= clconvt_activation's value: 0 none, 1 LeakyReLU
 * (v >= 0 ? v : alpha v), 2 ELU (v > 0 ? v : alpha (exp(v) - 1)), 3 Snake (v + sin(alpha_c v)^2 /
 * (alpha_c + 1e-9), alpha_c of input channel c). Each kind is a program of its own (the option is
 * part of the program cache's key); the parameters are kernel arguments, so a new slope or new
 * alphas compile nothing: activation_alpha (LeakyReLU's slope, ELU's alpha) and
 * activation_alphas (Snake's, one float per input channel over all groups; for the other kinds a
 * buffer that is never read). Without an activation the kernels take neither argument.
 * ACTIVATION_PARAMETERS appends them to a parameter list, ACTIVATION_PASS to a call's arguments.
 */
#if ACTIVATION == 0
#define ACTIVATION_PARAMETERS
#define ACTIVATION_PASS
#else
#define ACTIVATION_PARAMETERS                                                                      \
    , const float activation_alpha, __global const float *restrict activation_alphas
#define ACTIVATION_PASS , activation_alpha, activation_alphas
#endif

#if ACTIVATION == 0
#define ACTIVATE(v, a, s) (v)
#elif ACTIVATION == 1
/* A NaN fails v >= 0 and stays NaN through the product, as in PyTorch. */
#define ACTIVATE(v, a, s) ((v) >= 0.0f ? (v) : (a) * (v))
#elif ACTIVATION == 2
/* s: expm1(v) where v <= 0 (expm1_nonpositive<n>), as PyTorch: exp(v) - 1 loses every digit
 * near 0. */
#define ACTIVATE(v, a, s) ((v) > 0.0f ? (v) : (a) * (s))
#define ACTIVATION_TERM(n, v, a) CAT(expm1_nonpositive, n)(v)
#elif ACTIVATION == 3
/* s: sin(a v)^2 (sine_squared<n>), computed once per value. */
#define ACTIVATE(v, a, s) ((v) + (s) / ((a) + 1e-9f))
#define ACTIVATION_TERM(n, v, a) CAT(sine_squared, n)(v, a)
#else
#error "ACTIVATION must be 0 (none), 1 (LeakyReLU), 2 (ELU) or 3 (Snake)"
#endif

/* The term an activation computes once per value (ELU's expm1, Snake's sine squared). */
#ifndef ACTIVATION_TERM
#define ACTIVATION_TERM(n, v, a) 0.0f
#endif

/* The suffix of n-lane vector functions and types (1: none, the scalar ones). */
#define LANES_SUFFIX(n) CAT(LANES_SUFFIX_, n)
#define LANES_SUFFIX_1
#define LANES_SUFFIX_4 4
#define LANES_SUFFIX_8 8
#define LANES_SUFFIX_16 16

#if ACTIVATION == 2
/* ln 2 as a sum of two floats (Cody-Waite): k ln 2 is subtracted exactly for |k| below 2^11. */
#define LN2_HI 0.693145751953125f
#define LN2_LO 1.42860682030941723212e-6f
/* expm1(v) for v <= 0, n lanes (the lanes of positive v come out wrong and are not used): PoCL's
 * expm1 is a call per lane, which made a fused ELU cost 3-6x a plain forward of the starved
 * layers. v = k ln 2 + r with k = rint(v / ln 2), |r| <= ln 2 / 2; expm1(r) by its Taylor series
 * to r^7 (the next term is below 2^-27 of it); then expm1(v) = 2^k expm1(r) + (2^k - 1), exact
 * in its last operation but for one rounding. Within 0.87 ulp of float64's expm1 on 4e6 points
 * of [-100, 0]. Below -30 it is -1 (exp(-30) < 2^-43), which also keeps 2^k a normal float; a
 * NaN stays NaN (the clamp would lose it). */
#define EXPM1_FUNCTION(n)                                                                          \
    static inline FLOATN(n) CAT(expm1_nonpositive, n)(FLOATN(n) v) {                               \
        const FLOATN(n) x = clamp(v, (FLOATN(n))(-30.0f), (FLOATN(n))(0.0f));                      \
        const FLOATN(n) k = rint(x * M_LOG2E_F);                                                   \
        FLOATN(n) r = fma(-k, (FLOATN(n))(LN2_HI), x);                                             \
        r = fma(-k, (FLOATN(n))(LN2_LO), r);                                                       \
        FLOATN(n) p = fma(r, (FLOATN(n))(1.0f / 5040.0f), (FLOATN(n))(1.0f / 720.0f));             \
        p = fma(r, p, (FLOATN(n))(1.0f / 120.0f));                                                 \
        p = fma(r, p, (FLOATN(n))(1.0f / 24.0f));                                                  \
        p = fma(r, p, (FLOATN(n))(1.0f / 6.0f));                                                   \
        p = fma(r, p, (FLOATN(n))(0.5f));                                                          \
        const FLOATN(n) e = fma(r * r, p, r); /* expm1(r) */                                       \
        const FLOATN(n) scale = CAT(as_float, LANES_SUFFIX(n))(                                    \
            (CAT(convert_int, LANES_SUFFIX(n))(k) + 127) << 23); /* 2^k */                         \
        return select(fma(scale, e, scale - 1.0f), v, isnan(v));                                   \
    }
EXPM1_FUNCTION(1)
EXPM1_FUNCTION(4)
EXPM1_FUNCTION(8)
EXPM1_FUNCTION(16)
#endif

#if ACTIVATION == 3
/* pi as a sum of three floats (Cody-Waite): k pi is subtracted exactly enough for every k below
 * 2^24, PI_1 + PI_2 + PI_3 being pi to about 2^-75. */
#define PI_1 3.14159274101257324219f
#define PI_2 -8.74227765734758577310e-08f
#define PI_3 -3.43024902001e-15f
/* sin(t)^2 for t = a v, n lanes: PoCL's sin (a call with the reduction of any argument, per
 * lane) cost the Snake pass more than the rest of a forward. sin^2 has period pi, so t is reduced
 * to r = t - k pi, k = rint(t / pi), |r| <= pi/2 (a little more where t / pi rounds across a
 * half), whose sine's sign does not matter; t is taken exactly as the sum t + t_err of two floats
 * (fma), so that large a v keep their digits; then the Taylor series of sin to r^11 (its error
 * below r^13 / 13!: 5.7e-8 at pi/2). Against sin^2 of a v in float64: within 3.4e-7 for |a v| up
 * to 3e5, 1.3e-6 to 3e6 (sinf(a * v) in f32 is off by 1e-3 at 3e4). Beyond, the reduction loses
 * its digits: r is clamped to [-2, 2], which keeps sin^2 in [0, 1], and there the sin^2 / a term
 * is below 1 / |a v| (3e-7) of |v| anyway. An infinite or NaN v gives NaN, as sin does (the
 * clamp turns a NaN r into 2: t - t brings it back). */
#define SINE_SQUARED_FUNCTION(n)                                                                   \
    static inline FLOATN(n) CAT(sine_squared, n)(FLOATN(n) v, FLOATN(n) a) {                       \
        const FLOATN(n) t = a * v, t_err = fma(a, v, -t);                                          \
        const FLOATN(n) k = rint(t * M_1_PI_F);                                                    \
        FLOATN(n) r = fma(-k, (FLOATN(n))(PI_1), t);                                               \
        r = fma(-k, (FLOATN(n))(PI_2), r);                                                         \
        r = fma(-k, (FLOATN(n))(PI_3), r) + t_err;                                                 \
        r = clamp(r, (FLOATN(n))(-2.0f), (FLOATN(n))(2.0f));                                       \
        const FLOATN(n) r2 = r * r;                                                                \
        FLOATN(n) p = fma(r2, (FLOATN(n))(-1.0f / 39916800.0f), (FLOATN(n))(1.0f / 362880.0f));    \
        p = fma(r2, p, (FLOATN(n))(-1.0f / 5040.0f));                                              \
        p = fma(r2, p, (FLOATN(n))(1.0f / 120.0f));                                                \
        p = fma(r2, p, (FLOATN(n))(-1.0f / 6.0f));                                                 \
        const FLOATN(n) sine = fma(r * r2, p, r);                                                  \
        return fma(sine, sine, t - t); /* t - t: NaN for an infinite t, which the clamp lost */    \
    }
SINE_SQUARED_FUNCTION(1)
SINE_SQUARED_FUNCTION(4)
SINE_SQUARED_FUNCTION(8)
SINE_SQUARED_FUNCTION(16)
#endif

/* activate<n>(v, a): the activation of n lanes v with parameters a (v is evaluated once). */
#define ACTIVATION_FUNCTION(n)                                                                     \
    static inline FLOATN(n) CAT(activate, n)(FLOATN(n) v, FLOATN(n) a) {                           \
        (void)a;                                                                                   \
        const FLOATN(n) s = ACTIVATION_TERM(n, v, a);                                              \
        (void)s;                                                                                   \
        return ACTIVATE(v, a, s);                                                                  \
    }
ACTIVATION_FUNCTION(1)
ACTIVATION_FUNCTION(4)
ACTIVATION_FUNCTION(8)
ACTIVATION_FUNCTION(16)

/* The parameters of n lanes of channel ch, and of n lanes of channels ch0, ch0 + 1, ... (all of
 * which exist: see LOAD_INPUT_CHANNELSV). */
#if ACTIVATION == 0
#define CHANNEL_ALPHA(n, ch) ((FLOATN(n))(0.0f))
#define CHANNELS_ALPHA(n, ch0) ((FLOATN(n))(0.0f))
#elif ACTIVATION == 3
#define CHANNEL_ALPHA(n, ch) ((FLOATN(n))(activation_alphas[ch]))
#define CHANNELS_ALPHA(n, ch0) CAT(vload, n)(0, activation_alphas + (ch0))
#else
#define CHANNEL_ALPHA(n, ch) ((FLOATN(n))(activation_alpha))
#define CHANNELS_ALPHA(n, ch0) ((FLOATN(n))(activation_alpha))
#endif

/* v: n lanes (1: a float) of positions of input channel ch. Without an activation, v itself:
 * the kernels are then exactly those of a build without the seam. */
#if ACTIVATION == 0
#define INPUT_ACTIVATION(n, v, ch) (v)
#else
#define INPUT_ACTIVATION(n, v, ch) CAT(activate, n)(v, CHANNEL_ALPHA(n, ch))
#endif
/* v: a vector of n channels, lane l of channel ch0 + l. */
#define INPUT_ACTIVATION_CHANNELS(n, v, ch0) CAT(activate, n)(v, CHANNELS_ALPHA(n, ch0))

#define LOAD_INPUT(p, i, ch) INPUT_ACTIVATION(1, LOAD(p, i), ch)
#define LOAD_INPUTV(n, p, ch) INPUT_ACTIVATION(n, LOADV(n, p), ch)
#define LOAD_INPUT_EDGEV(n, row, i0, length, ch)                                                   \
    CAT(load_input_edge, n)(row, i0, length, ch ACTIVATION_PASS)
#define LOAD_INPUT_CHANNELSV(n, p, available, ch0)                                                 \
    CAT(load_input_channels, n)(p, available, ch0 ACTIVATION_PASS)

/* n values at p, of which the first `available` exist, the others zero: whole(n, p, c0) when all
 * exist, else lane(p, l, c0 + l) lane by lane (c0: the channel of lane 0). */
#define CHANNEL_VECTOR_LOADER(name, n, whole, lane, parameters)                                    \
    static inline CAT(float, n)                                                                    \
        CAT(name, n)(__global const store_t *p, int available, long c0 parameters) {               \
        if (available >= n)                                                                        \
            return whole(n, p, c0);                                                                \
        float lanes[n];                                                                            \
        for (int l = 0; l < n; ++l)                                                                \
            lanes[l] = l < available ? lane(p, l, c0 + l) : 0.0f;                                  \
        return CAT(vload, n)(0, lanes);                                                            \
    }
#define WHOLE_INPUT_CHANNELS(n, p, c0) INPUT_ACTIVATION_CHANNELS(n, LOADV(n, p), c0)
#define WHOLE_BIAS_CHANNELS(n, p, c0) LOADV(n, p)
#define BIAS_LANE(p, l, c) LOAD(p, l)

#define INPUT_VECTOR_LOADERS(n)                                                                    \
    static inline CAT(float, n) CAT(load_input_edge, n)(                                           \
        __global const store_t *row, long i0, long length, long ch ACTIVATION_PARAMETERS) {        \
        float lanes[n];                                                                            \
        _Pragma("unroll") for (int l = 0; l < n; ++l) {                                            \
            const long i = i0 + l;                                                                 \
            lanes[l] = (i >= 0 && i < length) ? LOAD_INPUT(row, i, ch) : 0.0f;                     \
        }                                                                                          \
        return CAT(vload, n)(0, lanes);                                                            \
    }                                                                                              \
    CHANNEL_VECTOR_LOADER(load_input_channels, n, WHOLE_INPUT_CHANNELS, LOAD_INPUT,                \
                          ACTIVATION_PARAMETERS)                                                   \
    CHANNEL_VECTOR_LOADER(load_bias_channels, n, WHOLE_BIAS_CHANNELS, BIAS_LANE, NO_PARAMETERS)
#define NO_PARAMETERS
INPUT_VECTOR_LOADERS(4)
INPUT_VECTOR_LOADERS(8)
INPUT_VECTOR_LOADERS(16)

/*
 * The epilogue: every output a path writes is its fp32 accumulator acc plus its channel's bias b,
 * then OUTPUT_CONVERSION (the hook: identity today), then encoded to the storage type.
 *   OUTPUT_BIAS(bias, has_bias, co)  the bias of channel co (over all groups; 0 without bias)
 *   channel_bias(bias, has_bias, g, co_local, cout_g)   the same, for channel co_local of group g
 *   BIAS_CHANNELSV(n, bias, has_bias, co0, available)   the biases of n channels co0.. (over all
 *                                    groups), of which the first `available` exist (others 0)
 *   STORE_OUTPUT(p, i, acc, b)       finish and store one output at p[i]
 *   FINISH_OUTPUT(acc, b)            the finished value (a float or a vector), to be stored with
 *                                    STORE_FINISHEDV(n, p, v) as n consecutive outputs, or lane
 *                                    by lane with STORE_FINISHED(p, i, v) where the tile overhangs
 *                                    the output; these two only encode
 *   LOAD_PARTIAL_OUTPUT(p, i)        an output an earlier pass stored, to add to (col2im)
 */
/* v: a finished output (bias added) in fp32, a float or a vector. */
#define OUTPUT_CONVERSION(v) (v)

#define FINISH_OUTPUT(acc, b) OUTPUT_CONVERSION((acc) + (b))
#define STORE_OUTPUT(p, i, acc, b) STORE(p, i, FINISH_OUTPUT(acc, b))
#define STORE_FINISHED(p, i, v) STORE(p, i, v)
#define STORE_FINISHEDV(n, p, v) STOREV(n, p, v)
#define LOAD_PARTIAL_OUTPUT(p, i) LOAD(p, i)
/* Encode once, store in pieces: with f16 or bf16 an encoding costs a dozen operations whether it
 * converts one lane or sixteen, so a path that stores a finished vector lane by lane, or in pieces
 * narrower than the vector, encodes the whole vector first (for f32 these are plain stores).
 *   ENCODE_FINISHEDV(n, v)           n finished values v, encoded: a vector of n encoded_t
 *   STORE_ENCODED(p, i, e)           store one encoded value e at p[i]
 *   STORE_ENCODEDV(n, p, e)          store n encoded values e at p */
#define ENCODE_FINISHEDV(n, v) ENCODEV(n, v)
#define STORE_ENCODED(p, i, e) STORE_BITS(p, i, e)
#define STORE_ENCODEDV(n, p, e) STORE_BITSV(n, p, e)

#define OUTPUT_BIAS(bias, has_bias, co) ((has_bias) ? LOAD(bias, co) : 0.0f)
static inline float channel_bias(__global const store_t *bias, int has_bias, int g, int co_local,
                                 int cout_g) {
    return OUTPUT_BIAS(bias, has_bias, (long)g * cout_g + co_local);
}
#define BIAS_CHANNELSV(n, bias, has_bias, co0, available)                                          \
    ((has_bias) ? CAT(load_bias_channels, n)((bias) + (co0), available, co0)                       \
                : (CAT(float, n))(0.0f))

/* Declare a ROWS x COLS register tile of TYPE and set it to zero. */
#define ZERO_TILE(type, name, rows, cols)                                                          \
    type name[rows][cols];                                                                         \
    _Pragma("unroll") for (int r_ = 0; r_ < (rows); ++r_)                                          \
        _Pragma("unroll") for (int c_ = 0; c_ < (cols); ++c_) name[r_][c_] = (type)(0.0f)

/*
 * The reduction over input channels ci in [chunk, ci_end): with -DCI_CHUNK=n it runs in chunks of
 * n with a barrier after each. On a CPU runtime every work-item of the group then finishes a chunk
 * before any starts the next, so the group's weights and inputs for one chunk stay in the L1
 * cache. Work-items with nothing to do must still run to each barrier.
 */
#if CI_CHUNK
#define CHUNKS_BEGIN(cin_g)                                                                        \
    for (int chunk = 0; chunk < (cin_g); chunk += CI_CHUNK) {                                      \
        const int ci_end = min(chunk + CI_CHUNK, (cin_g));
#define CHUNKS_END                                                                                 \
    barrier(CLK_LOCAL_MEM_FENCE);                                                                  \
    }
#else
#define CHUNKS_BEGIN(cin_g)                                                                        \
    {                                                                                              \
        const int chunk = 0, ci_end = (cin_g);
#define CHUNKS_END }
#endif

/* Every path takes these arguments, in this order (src/layer.c sets them). */
#define KERNEL_ARGUMENTS                                                                           \
    __global const store_t *restrict x, __global const float *restrict w,                          \
        __global const store_t *restrict bias, __global store_t *restrict y, const int has_bias,   \
        const int cin_g, const int cout_g, const int cout_g_padded, const int groups,              \
        const int kernel_length, const int dilation, const int tap_step, const int dm,             \
        const long pad_left, const long length_in, const long length_out,                          \
        const long batch ACTIVATION_PARAMETERS
