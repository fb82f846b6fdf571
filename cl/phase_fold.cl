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
 * -D FOLD_BATCH (0 by default): 1 when the grid's dimension 0 runs over the samples x their
 * position tiles (dimension 2 is then 1), so that a channel tile's weights are reused over the
 * whole batch from the cache.
 *
 * -D PT (1 by default): PT register tiles of PV positions per work-item, the cache-blocked form.
 * The reduction then runs in blocks of CI_CHUNK input channels (no barrier), each block over every
 * tile in turn, the other tiles' accumulators waiting in private memory: a block's weights come
 * from memory once and from the cache for the other PT - 1 tiles (PT x PV positions of reuse per
 * weight load instead of PV). Per output the order of the sums is that of the chunked form.
 *
 * With one vector of channels (CV 1: the channel-starved plans) and PV a vector width, the lanes
 * hold positions instead (POSITION_LANES): one accumulator vector of PV positions per channel x
 * phase, each input vector loaded (decoded, activated) once and multiplied by broadcast weights.
 * The broadcasts of the other form cost a shuffle per input in f16 and bf16 and left half its
 * 8-lane FMAs on Conv-TasNet's 512->1; per output the sums are the same, in the same order.
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
#ifndef PT
#define PT 1
#endif
#ifndef FOLD_BATCH
#define FOLD_BATCH 0
#endif

#define LC (VEC / STRIDE)
#define CO_TILE (CV * LC)
#if STRIDE > VEC
#error "phase_fold needs STRIDE <= VEC"
#endif

/* PoCL compiles for the host's own target. On a CPU private arrays live in memory anyway, so the
 * code below may index them at run time where that makes it smaller or faster; on a GPU such an
 * array would take scratch memory, so GPUs keep the unrolled forms. */
#if defined(__x86_64__) || defined(__i386__) || defined(__aarch64__) || defined(__arm__)
#define CPU_TARGET 1
#else
#define CPU_TARGET 0
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

/* Write the STRIDE encoded outputs of one channel for one position (f32: the finished values);
 * lanes[r] is phase r. Whole vectors at power-of-two strides only: a vload3 from the private
 * lanes kept them in scratch memory on AMD GPUs in f16 and bf16 (176 B; tests/gpu/). */
static inline void store_phases(__global store_t *y_row, long o0, long length_out,
                                const encoded_t *lanes, bool whole) {
#if STRIDE == 2 || STRIDE == 4 || STRIDE == 8 || STRIDE == 16
    if (whole) {
        STORE_ENCODEDV(STRIDE, y_row + o0, CAT(vload, STRIDE)(0, lanes));
        return;
    }
#endif
#pragma unroll
    for (int r = 0; r < STRIDE; ++r) {
        const long o = o0 + r;
        if (whole || (o >= 0 && o < length_out))
            STORE_ENCODED(y_row, o, lanes[r]);
    }
}

#define POSITION_LANES (CV == 1 && (PV == 4 || PV == 8 || PV == 16))

#if POSITION_LANES
/* The register tile: lane l = c * STRIDE + r of the other form becomes accumulator l, a vector of
 * the PV positions (only the lanes below LC * STRIDE hold outputs). */
typedef CAT(float, PV) floatp;
typedef CAT(int, PV) intp;
#define TILE(name) floatp name[VEC]
#define TILE_SIZE VEC
#define TILE_AT(name, i) name[i]
#define OUTPUT_LANES (LC * STRIDE)

/* Add the products of input channels [ci0, ci_end) at every tap to the tile of the PV positions
 * from q0. Lane l's phase r = l % STRIDE meets tap j when j * STRIDE + r < K, else its weight is a
 * padded zero and the lane is skipped. At the borders the positions outside the input keep their
 * accumulators (select), their inputs neither loaded nor activated. */
static __attribute__((always_inline)) inline void
reduce_tile(floatp acc[VEC], const __global store_t *x_group, const __global float *w_tile, long q0,
            int ci0, int ci_end, int g, int cin_g, int kernel_length,
            long length_in ACTIVATION_PARAMETERS) {
    const int taps = (kernel_length + STRIDE - 1) / STRIDE;
    int positions[PV];
#pragma unroll
    for (int p = 0; p < PV; ++p)
        positions[p] = p;
    const intp lane_positions = CAT(vload, PV)(0, positions);
    for (int j = 0; j < taps; ++j) {
        const long i0 = q0 - j; /* input of position q0 at tap j */
        const __global float *wj = w_tile + (long)j * cin_g * VEC;
        const int live_phases = min(kernel_length - j * STRIDE, STRIDE);
        if (i0 >= 0 && i0 + PV <= length_in && live_phases == STRIDE) {
            for (int ci = ci0; ci < ci_end; ++ci) {
                const floatp xv =
                    LOAD_INPUTV(PV, x_group + (long)ci * length_in + i0, (long)g * cin_g + ci);
                const __global float *w = wj + (long)ci * VEC;
#pragma unroll
                for (int l = 0; l < OUTPUT_LANES; ++l)
                    acc[l] = fma((floatp)(w[l]), xv, acc[l]);
            }
        } else {
            const CAT(long, PV) at = (CAT(long, PV))(i0) + CAT(convert_long, PV)(lane_positions);
            const intp inside = CAT(convert_int, PV)(at >= 0 && at < length_in);
            for (int ci = ci0; ci < ci_end; ++ci) {
                const floatp xv = LOAD_INPUT_EDGEV(PV, x_group + (long)ci * length_in, i0,
                                                   length_in, (long)g * cin_g + ci);
                const __global float *w = wj + (long)ci * VEC;
#pragma unroll
                for (int l = 0; l < OUTPUT_LANES; ++l)
                    if (l % STRIDE < live_phases)
                        acc[l] = select(acc[l], fma((floatp)(w[l]), xv, acc[l]), inside);
            }
        }
    }
}

#if CPU_TARGET
/* A border tile on a CPU: the values of the interior form below, stored by loops rather than by
 * unrolled code (see store_border_tile, the other form's). tile[l] is acc[l]: a copy, so that the
 * kernel's own accumulators stay in registers. */
static void store_border_lanes(const floatp *tile, __global store_t *y,
                               const __global store_t *bias, int has_bias, long n, int g, int co0,
                               int cout_g, int groups, long q0, long q_last, long o_first,
                               long length_out) {
#pragma unroll 1
    for (int c = 0; c < LC && co0 + c < cout_g; ++c) {
        const float b = channel_bias(bias, has_bias, g, co0 + c, cout_g);
        __global store_t *y_row = ncl_output_row(y, n, g, co0 + c, cout_g, groups, length_out);
#pragma unroll 1
        for (int r = 0; r < STRIDE; ++r) {
            const ENCODEDN(PV) e = ENCODE_FINISHEDV(PV, FINISH_OUTPUT(tile[c * STRIDE + r], b));
            encoded_t encoded[PV];
            CAT(vstore, PV)(e, 0, encoded);
#pragma unroll 1
            for (int p = 0; p < PV && q0 + p <= q_last; ++p) {
                const long o = o_first + (long)p * STRIDE + r;
                if (o >= 0 && o < length_out)
                    STORE_ENCODED(y_row, o, encoded[p]);
            }
        }
    }
}
#endif

/* Finish and store the tile of the PV positions from q0 (those up to q_last): each accumulator
 * (one channel and phase, PV positions) is finished and encoded as one vector, then each
 * position's STRIDE phases are stored together. */
static inline void store_tile(floatp acc[VEC], __global store_t *y, const __global store_t *bias,
                              int has_bias, long n, int g, int co0, int cout_g, int groups, long q0,
                              long q_last, long pad_left, long length_out) {
    const long o_first = q0 * STRIDE - pad_left;
    const bool whole_positions = o_first >= 0 && o_first + (long)PV * STRIDE <= length_out;
    const bool interior = whole_positions && q0 + PV - 1 <= q_last;
#if CPU_TARGET
    if (!interior) {
        floatp tile[VEC];
#pragma unroll
        for (int l = 0; l < VEC; ++l)
            tile[l] = acc[l];
        store_border_lanes(tile, y, bias, has_bias, n, g, co0, cout_g, groups, q0, q_last, o_first,
                           length_out);
        return;
    }
#endif
#pragma unroll
    for (int c = 0; c < LC; ++c) {
        const int co_local = co0 + c;
        if (co_local >= cout_g)
            break;
        const float b = channel_bias(bias, has_bias, g, co_local, cout_g);
        encoded_t encoded[STRIDE][PV];
#pragma unroll
        for (int r = 0; r < STRIDE; ++r) {
            const ENCODEDN(PV) e = ENCODE_FINISHEDV(PV, FINISH_OUTPUT(acc[c * STRIDE + r], b));
            CAT(vstore, PV)(e, 0, encoded[r]);
        }
        __global store_t *y_row = ncl_output_row(y, n, g, co_local, cout_g, groups, length_out);
#pragma unroll
        for (int p = 0; p < PV; ++p) {
            if (!interior && q0 + p > q_last)
                break;
            encoded_t lanes[STRIDE];
#pragma unroll
            for (int r = 0; r < STRIDE; ++r)
                lanes[r] = encoded[r][p];
            store_phases(y_row, o_first + (long)p * STRIDE, length_out, lanes, whole_positions);
        }
    }
}

#else /* lanes: channels x phases */
#define TILE(name) floatv name[CV][PV]
#define TILE_SIZE (CV * PV)
#define TILE_AT(name, i) name[(i) / PV][(i) % PV]

/* f16 and bf16 inputs of an interior tile are decoded as one vector of INPUT_WIDTH >= PV lanes
 * (the lanes past PV are decoded and discarded): decoding each broadcast input alone costs more
 * than the CV FMAs it feeds (the channel-starved plans, CV 1 and PV 16: Conv-TasNet's f16 8.3 ->
 * 1.0 ms min, f32 0.8; with the usual PV 6 f16 ran at half f32's speed). A tile is interior when
 * its INTERIOR_LENGTH inputs at a tap all lie in the row; the few others take the border loop,
 * which sums the same products in the same order. f32 loads each input as it is broadcast. */
#if PV <= 4
#define INPUT_WIDTH 4
#elif PV <= 8
#define INPUT_WIDTH 8
#elif PV <= 16
#define INPUT_WIDTH 16
#else
#define INPUT_WIDTH 0
#endif
/* The inputs of a fused activation are loaded as vectors too, whatever the dtype and PV
 * (load_interior_inputs): activated as one vector op instead of a compare, select and multiply
 * per broadcast (in-kernel LeakyReLU on hifigan_v1_up3 cost ~1.5x a plain forward that way). */
#define WIDE_INPUTS (DTYPE != 0 && INPUT_WIDTH != 0)
#define VECTOR_INPUTS (WIDE_INPUTS || ACTIVATION != 0)
#if VECTOR_INPUTS
#define INTERIOR_INPUT(row, p, ch) xs[p]
#else
#define INTERIOR_INPUT(row, p, ch) LOAD_INPUT(row, p, ch)
#endif
#if WIDE_INPUTS
#define INTERIOR_LENGTH INPUT_WIDTH
#else
#define INTERIOR_LENGTH PV
#endif

/* Add the products of input channels [ci0, ci_end) at one tap (weights wj, inputs of position 0
 * at row0) to the positions p_lo <= p < p_hi of the register tile, the others lying outside the
 * input: they add nothing and load nothing (the address may lie outside the buffer). The padded
 * phases multiply a zero input, so that their zero weights meet no infinity or NaN (0 x Inf is
 * NaN). No product is skipped by multiplying a zero with a weight: that weight may be infinite. */
static __attribute__((always_inline)) inline void
reduce_positions(floatv acc[CV][PV], const __global store_t *row0, const __global float *wj,
                 intv live, int ci0, int ci_end, int g, int cin_g, long length_in, int p_lo,
                 int p_hi ACTIVATION_PARAMETERS) {
    for (int ci = ci0; ci < ci_end; ++ci) {
        const __global store_t *row = row0 + (long)ci * length_in;
        floatv wv[CV];
        load_weights(wv, wj, ci);
#pragma unroll
        for (int p = 0; p < PV; ++p) {
            if (p < p_lo || p >= p_hi)
                continue;
            const floatv xv =
                select((floatv)(0.0f), (floatv)(LOAD_INPUT(row, p, (long)g * cin_g + ci)), live);
#pragma unroll
            for (int v = 0; v < CV; ++v)
                acc[v][p] = fma(wv[v], xv, acc[v][p]);
        }
    }
}

/* The cases of the border switches: one call of reduce_positions per cut c with its range a
 * constant, [0, c) (RIGHT_CUT: the end of the input, any cut below PV) or [c, PV) (LEFT_CUT: the
 * start, where tap j cuts j positions; cuts 1..3, up to 4 taps). A cut past PV is no code at all
 * (clang emits no dead arm of a constant condition). Every copy costs compile time, so only tiles
 * of up to 8 positions have them (the 4 x 6 tile of the wide layers, whose borders are a third of
 * hifigan_v1_train's tiles; PoCL compile with all 30 at p 16: 1.4 -> 2.5 s CPU). */
#define BORDER_CUTS (PV <= 8)
#define RIGHT_CUT(c)                                                                               \
    case c:                                                                                        \
        if (c < PV) {                                                                              \
            reduce_positions(acc, row0, wj, live, ci0, ci_end, g, cin_g, length_in, 0,             \
                             c ACTIVATION_PASS);                                                   \
            done = true;                                                                           \
        }                                                                                          \
        break;
#define LEFT_CUT(c)                                                                                \
    case c:                                                                                        \
        if (c < PV) {                                                                              \
            reduce_positions(acc, row0, wj, live, ci0, ci_end, g, cin_g, length_in, c,             \
                             PV ACTIVATION_PASS);                                                  \
            done = true;                                                                           \
        }                                                                                          \
        break;
#define RIGHT_CUTS(M) M(1) M(2) M(3) M(4) M(5) M(6) M(7)
#define LEFT_CUTS(M) M(1) M(2) M(3)

/* The INTERIOR_LENGTH inputs of channel ch at row, decoded and activated: f16 and bf16 as one
 * vector of INPUT_WIDTH lanes; f32 (with an activation) as one vector when PV is a vector width,
 * else vectors of 4 and the rest one by one. */
static inline void load_interior_inputs(float xs[INTERIOR_LENGTH], const __global store_t *row,
                                        long ch ACTIVATION_PARAMETERS) {
#if WIDE_INPUTS
    CAT(vstore, INPUT_WIDTH)(LOAD_INPUTV(INPUT_WIDTH, row, ch), 0, xs);
#elif PV == 4 || PV == 8 || PV == 16
    CAT(vstore, PV)(LOAD_INPUTV(PV, row, ch), 0, xs);
#else
#pragma unroll
    for (int p = 0; p + 4 <= PV; p += 4)
        vstore4(LOAD_INPUTV(4, row + p, ch), 0, xs + p);
#pragma unroll
    for (int p = PV / 4 * 4; p < PV; ++p)
        xs[p] = LOAD_INPUT(row, p, ch);
#endif
}

/* Add the products of input channels [ci0, ci_end) at every tap to the register tile of the PV
 * positions from q0 (weights of the work-item's channel tile at w_tile). */
static __attribute__((always_inline)) inline void
reduce_tile(floatv acc[CV][PV], const __global store_t *x_group, const __global float *w_tile,
            long q0, int ci0, int ci_end, int g, int cin_g, int kernel_length,
            long length_in ACTIVATION_PARAMETERS) {
    const int taps = (kernel_length + STRIDE - 1) / STRIDE;
    for (int j = 0; j < taps; ++j) {
        const long i0 = q0 - j; /* input of position q0 at tap j */
        const __global float *wj = w_tile + (long)j * cin_g * CV * VEC;
        /* Tap j of phase r is k = r + j * STRIDE: on the last tap, the phases past K hold
         * padded zero weights. */
        const intv live = j * STRIDE + lane_phases() < kernel_length;
        if (i0 >= 0 && i0 + INTERIOR_LENGTH <= length_in && all(live)) {
            for (int ci = ci0; ci < ci_end; ++ci) {
                const __global store_t *row = x_group + (long)ci * length_in + i0;
                floatv wv[CV];
                load_weights(wv, wj, ci);
#if VECTOR_INPUTS
                float xs[INTERIOR_LENGTH];
                load_interior_inputs(xs, row, (long)g * cin_g + ci ACTIVATION_PASS);
#endif
#pragma unroll
                for (int p = 0; p < PV; ++p) {
                    const floatv xv = (floatv)(INTERIOR_INPUT(row, p, (long)g * cin_g + ci));
#pragma unroll
                    for (int v = 0; v < CV; ++v)
                        acc[v][p] = fma(wv[v], xv, acc[v][p]);
                }
            }
        } else {
            /* A border tile, or the last tap of a short phase: only the positions p_lo <= p <
             * p_hi lie inside the input. The usual cases (one border cut, PV a position count
             * the switch names) run with the range known at compile time, without a test per
             * position and input channel (hifigan_v1_train: a third of its tiles are borders). */
            const int p_lo = (int)clamp(-i0, 0L, (long)PV);
            const int p_hi = (int)clamp(length_in - i0, 0L, (long)PV);
            const __global store_t *row0 = x_group + i0;
            bool done = false;
#if BORDER_CUTS
            if (p_lo == 0 && p_hi < PV)
                switch (p_hi) { RIGHT_CUTS(RIGHT_CUT) }
            else if (p_lo > 0 && p_hi == PV)
                switch (p_lo) { LEFT_CUTS(LEFT_CUT) }
#endif
            if (!done) /* both ends cut, a rare cut, or a short phase's last tap */
                reduce_positions(acc, row0, wj, live, ci0, ci_end, g, cin_g, length_in, p_lo,
                                 p_hi ACTIVATION_PASS);
        }
    }
}

#if ACTIVATION != 0 && CPU_TARGET
/* A fused activation in the kernel, for layers of at most two taps (K <= 2 x STRIDE, the usual
 * upsampler): reduce_tile activates the PV inputs of each tap as it loads them, so every input
 * is activated once per tap, and the activated values reach the FMAs as broadcasts from
 * registers, shuffles that compete with the FMAs for the same pipes (perf on PoCL/Zen 4:
 * hifigan_v1_up1 to _up4 took 1.2-1.3x their plain forward that way, even with PV 4 and no
 * spill). Here the reduction runs in blocks of SHARED_BLOCK input channels; each block's inputs
 * at q0 - 1 .. q0 + PV - 1, which both taps read, are loaded and activated once as vectors of 4
 * into private memory, and each product broadcasts its input from there, a load and not a
 * shuffle (the index depends on the tap, so the array stays in memory). In such a layer the order
 * of the sums per output is block by block, tap by tap, channel by channel, at the borders too
 * (they take reduce_tile per block), so that the order does not depend on the tiling; the other
 * layers take reduce_tile as it is. */
#define SHARED_BLOCK 16
#define SHARED_SPAN ((PV + 1 + 3) / 4 * 4) /* the inputs q0 - 1 .. q0 + PV - 1, in vectors of 4 */

static __attribute__((always_inline)) inline void
reduce_tile_activated(floatv acc[CV][PV], const __global store_t *x_group,
                      const __global float *w_tile, long q0, int ci0, int ci_end, int g, int cin_g,
                      int kernel_length, long length_in ACTIVATION_PARAMETERS) {
    const int taps = (kernel_length + STRIDE - 1) / STRIDE;
    if (taps > 2 || kernel_length % STRIDE != 0) { /* no tile of the layer shares: as before */
        reduce_tile(acc, x_group, w_tile, q0, ci0, ci_end, g, cin_g, kernel_length,
                    length_in ACTIVATION_PASS);
        return;
    }
    const bool shared = q0 >= 1 && q0 - 1 + SHARED_SPAN <= length_in;
    for (int b0 = ci0; b0 < ci_end; b0 += SHARED_BLOCK) {
        const int b1 = min(b0 + SHARED_BLOCK, ci_end);
        if (!shared) {
            reduce_tile(acc, x_group, w_tile, q0, b0, b1, g, cin_g, kernel_length,
                        length_in ACTIVATION_PASS);
            continue;
        }
        float inputs[SHARED_BLOCK][SHARED_SPAN];
        for (int ci = b0; ci < b1; ++ci) {
            const __global store_t *row = x_group + (long)ci * length_in + (q0 - 1);
#pragma unroll
            for (int s = 0; s < SHARED_SPAN; s += 4)
                vstore4(LOAD_INPUTV(4, row + s, (long)g * cin_g + ci), 0, inputs[ci - b0] + s);
        }
        for (int j = 0; j < taps; ++j) {
            const __global float *wj = w_tile + (long)j * cin_g * CV * VEC;
            for (int ci = b0; ci < b1; ++ci) {
                /* The next block's inputs, fetched while this block computes: the first loads
                 * of each row miss the cache, and without this the block's activation waited
                 * for them (hifigan_v1_up3: 1.2x -> 1.1x the plain forward). */
                if (j == 0 && ci + SHARED_BLOCK < ci_end) {
                    const __global store_t *next =
                        x_group + (long)(ci + SHARED_BLOCK) * length_in + (q0 - 1);
                    __builtin_prefetch(next);
                    __builtin_prefetch(next + SHARED_SPAN - 1);
                }
                floatv wv[CV];
                load_weights(wv, wj, ci);
                const float *xs = inputs[ci - b0] + (1 - j); /* x[q0 - j] */
#pragma unroll
                for (int p = 0; p < PV; ++p) {
                    const floatv xv = (floatv)(xs[p]);
#pragma unroll
                    for (int v = 0; v < CV; ++v)
                        acc[v][p] = fma(wv[v], xv, acc[v][p]);
                }
            }
        }
    }
}
#define REDUCE_TILE reduce_tile_activated
#endif

/* The biases of one vector of the tile: lane c * STRIDE + r holds channel co_first + c's (0 past
 * the group's channels). */
static inline floatv lane_biases(const __global store_t *bias, int has_bias, int g, int co_first,
                                 int cout_g) {
    float biases[VEC];
#pragma unroll
    for (int l = 0; l < VEC; ++l) {
        const int co_local = co_first + l / STRIDE;
        biases[l] = co_local < cout_g ? channel_bias(bias, has_bias, g, co_local, cout_g) : 0.0f;
    }
    return CAT(vload, VEC)(0, biases);
}

#if CPU_TARGET
/* A border tile on a CPU: the values of the interior form below (the same sums, biases and
 * encodings), stored by loops rather than by unrolled code. The unrolled border stores were three
 * quarters of the program's IR, which PoCL parses again at every clBuildProgram of the cached
 * binary: half of a first call's program build (hifigan_v1_up1: 7-8 ms -> 4). tile[v * PV + p] is
 * acc[v][p]: a copy, so that the kernel's own accumulators stay in registers. */
static void store_border_tile(const floatv *tile, __global store_t *y, const __global store_t *bias,
                              int has_bias, long n, int g, int co0, int cout_g, int groups, long q0,
                              long q_last, long o_first, long length_out) {
#pragma unroll 1
    for (int v = 0; v < CV; ++v) {
        const floatv b = lane_biases(bias, has_bias, g, co0 + v * LC, cout_g);
#pragma unroll 1
        for (int p = 0; p < PV && q0 + p <= q_last; ++p) {
            encoded_t lanes[VEC];
            CAT(vstore, VEC)(ENCODE_FINISHEDV(VEC, FINISH_OUTPUT(tile[v * PV + p], b)), 0, lanes);
#pragma unroll 1
            for (int c = 0; c < LC && co0 + v * LC + c < cout_g; ++c) {
                __global store_t *y_row =
                    ncl_output_row(y, n, g, co0 + v * LC + c, cout_g, groups, length_out);
#pragma unroll 1
                for (int r = 0; r < STRIDE; ++r) {
                    const long o = o_first + (long)p * STRIDE + r;
                    if (o >= 0 && o < length_out)
                        STORE_ENCODED(y_row, o, lanes[c * STRIDE + r]);
                }
            }
        }
    }
}
#endif

/* Finish and store the register tile of the PV positions from q0 (those up to q_last). */
static inline void store_tile(floatv acc[CV][PV], __global store_t *y, const __global store_t *bias,
                              int has_bias, long n, int g, int co0, int cout_g, int groups, long q0,
                              long q_last, long pad_left, long length_out) {
    const long o_first = q0 * STRIDE - pad_left;
    const bool whole_positions = o_first >= 0 && o_first + (long)PV * STRIDE <= length_out;
    /* Every output of the tile inside the row, every position up to q_last. */
    const bool interior = whole_positions && q0 + PV - 1 <= q_last;
#if CPU_TARGET
    if (!interior) {
        floatv tile[CV * PV];
#pragma unroll
        for (int i = 0; i < CV * PV; ++i)
            tile[i] = acc[i / PV][i % PV];
        store_border_tile(tile, y, bias, has_bias, n, g, co0, cout_g, groups, q0, q_last, o_first,
                          length_out);
        return;
    }
#endif
#if DTYPE == 0
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
                if (!interior && q0 + p > q_last)
                    break;
                CAT(vstore, VEC)(FINISH_OUTPUT(acc[v][p], b), 0, lanes);
                store_phases(y_row, o_first + (long)p * STRIDE, length_out, lanes + c * STRIDE,
                             whole_positions);
            }
        }
    }
#else
    /* f16 and bf16: each finished vector (LC channels x STRIDE phases) is encoded once, with its
     * channels' biases in its lanes, not once per channel (LC encodings of STRIDE lanes cost LC
     * times as much: at stride 2, as much as the FMAs of a 64-channel layer). */
#pragma unroll
    for (int v = 0; v < CV; ++v) {
        const floatv b = lane_biases(bias, has_bias, g, co0 + v * LC, cout_g);
#pragma unroll
        for (int p = 0; p < PV; ++p) {
            if (!interior && q0 + p > q_last)
                break;
            encoded_t lanes[VEC];
            CAT(vstore, VEC)(ENCODE_FINISHEDV(VEC, FINISH_OUTPUT(acc[v][p], b)), 0, lanes);
#pragma unroll
            for (int c = 0; c < LC; ++c) {
                const int co_local = co0 + v * LC + c;
                if (co_local >= cout_g)
                    break;
                store_phases(ncl_output_row(y, n, g, co_local, cout_g, groups, length_out),
                             o_first + (long)p * STRIDE, length_out, lanes + c * STRIDE,
                             whole_positions);
            }
        }
    }
#endif
}

#endif /* POSITION_LANES */

#ifndef REDUCE_TILE
#define REDUCE_TILE reduce_tile
#endif

__kernel void phase_fold_forward(KERNEL_ARGUMENTS) {
    const int tiles_per_group = cout_g_padded / CO_TILE;
    const int tile = (int)(get_global_id(1) % tiles_per_group);
    const int g = (int)(get_global_id(1) / tiles_per_group);
    const int co0 = tile * CO_TILE;
    /* Positions q whose STRIDE outputs reach [0, length_out): q_first .. q_last. */
    const long q_first = pad_left / STRIDE;
    const long q_last = (length_out - 1 + pad_left) / STRIDE;
#if FOLD_BATCH
    /* Dimension 0 runs over the samples x their position tiles, the sample the slower, so that
     * one channel tile's work over the whole batch runs back to back (src/paths/phase_fold.c). */
    const long item_tiles = (q_last - q_first) / (PV * PT) + 1;
    const long n = (long)get_global_id(0) / item_tiles;
    const long q0 = q_first + (long)get_global_id(0) % item_tiles * PV * PT;
#else
    const long n = (long)get_global_id(2);
    const long q0 = q_first + (long)get_global_id(0) * PV * PT;
#endif
    /* Work-items past the output (the grid is rounded up to whole work-groups) compute nothing,
     * but must not return before a barrier. */
    const bool active = g < groups && q0 <= q_last && n < batch;
    const int taps = (kernel_length + STRIDE - 1) / STRIDE;
    const __global store_t *x_group = x + (n * groups + g) * (long)cin_g * length_in;
    const __global float *w_tile = w + ((long)g * tiles_per_group + tile) * taps * cin_g * CV * VEC;

#if PT == 1
    TILE(acc);
#pragma unroll
    for (int i = 0; i < TILE_SIZE; ++i)
        TILE_AT(acc, i) = 0.0f;
    CHUNKS_BEGIN(cin_g)
        if (active)
            REDUCE_TILE(acc, x_group, w_tile, q0, chunk, ci_end, g, cin_g, kernel_length,
                        length_in ACTIVATION_PASS);
    CHUNKS_END
    if (active)
        store_tile(acc, y, bias, has_bias, n, g, co0, cout_g, groups, q0, q_last, pad_left,
                   length_out);
#else
    /* The cache-blocked form: PT register tiles of PV positions each, their accumulators kept in
     * private memory between blocks of CI_CHUNK input channels (all of them with CI_CHUNK 0). The
     * block's weights (CI_CHUNK x taps x CV vectors) are loaded from memory by the first tile and
     * from the L1 cache by the PT - 1 others, with no barrier (PoCL keeps the accumulators of
     * a work-item that waits at a barrier in memory, and every FMA then loads and stores). */
    if (!active)
        return;
    const int block = CI_CHUNK > 0 ? CI_CHUNK : cin_g;
    TILE(tiles[PT]);
#pragma unroll 1
    for (int t = 0; t < PT; ++t)
#pragma unroll
        for (int i = 0; i < TILE_SIZE; ++i)
            TILE_AT(tiles[t], i) = 0.0f;
    for (int ci0 = 0; ci0 < cin_g; ci0 += block) {
        const int ci_end = min(ci0 + block, cin_g);
#pragma unroll 1
        for (int t = 0; t < PT && q0 + (long)t * PV <= q_last; ++t) {
            TILE(acc);
#pragma unroll
            for (int i = 0; i < TILE_SIZE; ++i)
                TILE_AT(acc, i) = TILE_AT(tiles[t], i);
            REDUCE_TILE(acc, x_group, w_tile, q0 + (long)t * PV, ci0, ci_end, g, cin_g,
                        kernel_length, length_in ACTIVATION_PASS);
#pragma unroll
            for (int i = 0; i < TILE_SIZE; ++i)
                TILE_AT(tiles[t], i) = TILE_AT(acc, i);
        }
    }
#pragma unroll 1
    for (int t = 0; t < PT && q0 + (long)t * PV <= q_last; ++t)
        store_tile(tiles[t], y, bias, has_bias, n, g, co0, cout_g, groups, q0 + (long)t * PV,
                   q_last, pad_left, length_out);
#endif
}
