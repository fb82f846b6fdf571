/*
 * Streams (clconvt_stream_*): for every split of the input, the concatenated outputs of the pushes
 * and the finish are bit-identical to one forward_host of the whole sequence with the same plan;
 * every push emits exactly the frames that became final; errors write nothing and leave the
 * stream as it was.
 */
#include <criterion/criterion.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clconvt.h"
#include "support.h"

/* The plans tried: the planner's choice and every path forced (those that refuse a layer, or are
 * not in this build, are skipped). */
static const char *const plans[] = {NULL,         "phase",    "phase_pos", "phase_fold",
                                    "phase_chan", "phase_dw", "gemm"};
#define PLAN_COUNT (sizeof plans / sizeof plans[0])

/* A layer with random weight and bias, and a whole sequence's input and output. */
typedef struct fixture {
    clconvt_params p;
    clconvt_layer *layer;
    int64_t batch, length_in, length_out;
    size_t elem;
    void *x, *y; /* the input and the whole forward's output, in the layer's dtype */
} fixture;

static void params_of(clconvt_params *p, int64_t cin, int64_t cout, int64_t k, int64_t stride,
                      int64_t pad_left, int64_t pad_right, int64_t output_padding, int64_t dilation,
                      int64_t groups, clconvt_layout layout, clconvt_dtype dtype) {
    clconvt_params_init(p, cin, cout, k);
    p->stride = stride;
    p->pad_left = pad_left;
    p->pad_right = pad_right;
    p->output_padding = output_padding;
    p->dilation = dilation;
    p->groups = groups;
    p->has_bias = 1;
    p->layout = layout;
    p->dtype = dtype;
}

static void *random_storage(size_t n, clconvt_dtype dtype, uint64_t *state) {
    double *values = malloc(n * sizeof *values);
    cr_assert_not_null(values);
    support_fill(values, n, state, dtype);
    void *storage = support_to_dtype(values, n, dtype);
    free(values);
    return storage;
}

/* 0 when the plan does not take this layer (or this build lacks its path). */
static int fixture_open(fixture *f, const clconvt_params *p, const char *plan, int64_t batch,
                        int64_t length_in, uint64_t seed) {
    memset(f, 0, sizeof *f);
    if (!support_has_plan(plan) ||
        clconvt_layer_create_with_plan(support_device(), p, plan, &f->layer) != CLCONVT_SUCCESS)
        return 0;
    f->p = *p;
    f->batch = batch;
    f->length_in = length_in;
    f->elem = clconvt_dtype_size(p->dtype);
    cr_assert_eq(clconvt_output_length(p, length_in, &f->length_out), CLCONVT_SUCCESS, "%s",
                 clconvt_last_error());
    uint64_t state = seed;
    void *w = random_storage((size_t)clconvt_layer_weight_count(f->layer), p->dtype, &state);
    void *b = random_storage((size_t)p->out_channels, p->dtype, &state);
    cr_assert_eq(clconvt_layer_set_weight(f->layer, w, CLCONVT_WEIGHT_PYTORCH, p->dtype),
                 CLCONVT_SUCCESS, "%s", clconvt_last_error());
    cr_assert_eq(clconvt_layer_set_bias(f->layer, b, p->dtype), CLCONVT_SUCCESS, "%s",
                 clconvt_last_error());
    free(w);
    free(b);
    f->x = random_storage((size_t)(batch * p->in_channels * length_in), p->dtype, &state);
    f->y = malloc((size_t)(batch * p->out_channels * f->length_out) * f->elem);
    cr_assert_not_null(f->y);
    cr_assert_eq(clconvt_layer_forward_host(f->layer, f->x, f->y, batch, length_in),
                 CLCONVT_SUCCESS, "%s", clconvt_last_error());
    return 1;
}

static void fixture_close(fixture *f) {
    clconvt_layer_release(f->layer);
    free(f->x);
    free(f->y);
}

/* The rows of a dense array of frames: (batch, n, C) is batch rows of n frames of C values,
 * (batch, C, n) batch * C rows of n frames of one value. */
static size_t rows(const fixture *f, int64_t channels) {
    return (size_t)(f->p.layout == CLCONVT_LAYOUT_NCL ? f->batch * channels : f->batch);
}
static size_t frame_bytes(const fixture *f, int64_t channels) {
    return f->elem * (size_t)(f->p.layout == CLCONVT_LAYOUT_NCL ? 1 : channels);
}

/* Copy frames [first, first + count) of a (rows, total frames) array to a dense chunk, or back. */
static void frames_to_chunk(const fixture *f, int64_t channels, const void *whole, int64_t total,
                            int64_t first, int64_t count, void *chunk) {
    const size_t fb = frame_bytes(f, channels);
    for (size_t r = 0; r < rows(f, channels); ++r)
        memcpy((char *)chunk + r * (size_t)count * fb,
               (const char *)whole + (r * (size_t)total + (size_t)first) * fb, (size_t)count * fb);
}
static void chunk_to_frames(const fixture *f, int64_t channels, const void *chunk, int64_t count,
                            void *whole, int64_t total, int64_t first) {
    const size_t fb = frame_bytes(f, channels);
    for (size_t r = 0; r < rows(f, channels); ++r)
        memcpy((char *)whole + (r * (size_t)total + (size_t)first) * fb,
               (const char *)chunk + r * (size_t)count * fb, (size_t)count * fb);
}

/* The frames final after `consumed` inputs, computed here from the SPEC's rule. */
static int64_t expected_final(const clconvt_params *p, int64_t consumed) {
    if (consumed == 0)
        return 0;
    int64_t settled = consumed * p->stride - p->pad_left, exist;
    if (clconvt_output_length(p, consumed, &exist) != CLCONVT_SUCCESS)
        exist = 0;
    const int64_t final = settled < exist ? settled : exist;
    return final > 0 ? final : 0;
}

/* Stream f's input in the chunks sizes[0..count) (summing to length_in) through the host API and
 * check the concatenation against the whole forward, byte for byte, and each push's count. */
static void check_split(const fixture *f, clconvt_stream *s, const int64_t *sizes, size_t count,
                        const char *what) {
    const clconvt_params *p = &f->p;
    int64_t bound = 0;
    cr_assert_eq(clconvt_stream_max_output(s, 0, &bound), CLCONVT_SUCCESS);
    int64_t largest = 0;
    for (size_t i = 0; i < count; ++i)
        largest = sizes[i] > largest ? sizes[i] : largest;
    int64_t cap = 0;
    cr_assert_eq(clconvt_stream_max_output(s, largest, &cap), CLCONVT_SUCCESS);
    void *in = malloc((size_t)(f->batch * p->in_channels * (largest + 1)) * f->elem);
    void *out = malloc((size_t)(f->batch * p->out_channels * (cap + 1)) * f->elem);
    void *got = calloc((size_t)(f->batch * p->out_channels * f->length_out), f->elem);
    cr_assert(in && out && got);
    int64_t consumed = 0, emitted = 0, n_out = -1;
    for (size_t i = 0; i < count; ++i) {
        frames_to_chunk(f, p->in_channels, f->x, f->length_in, consumed, sizes[i], in);
        cr_assert_eq(clconvt_stream_push_host(s, in, sizes[i], out, cap, &n_out), CLCONVT_SUCCESS,
                     "%s: push %zu: %s", what, i, clconvt_last_error());
        consumed += sizes[i];
        cr_assert_eq(emitted + n_out, expected_final(p, consumed),
                     "%s: after %lld frames %lld outputs were emitted, %lld are final", what,
                     (long long)consumed, (long long)(emitted + n_out),
                     (long long)expected_final(p, consumed));
        cr_assert_leq(n_out, sizes[i] * p->stride + bound, "%s: above max_output", what);
        chunk_to_frames(f, p->out_channels, out, n_out, got, f->length_out, emitted);
        emitted += n_out;
    }
    cr_assert_eq(clconvt_stream_finish_host(s, out, cap, &n_out), CLCONVT_SUCCESS, "%s: %s", what,
                 clconvt_last_error());
    cr_assert_leq(n_out, bound, "%s: the finish emitted %lld frames, above max_output(0)=%lld",
                  what, (long long)n_out, (long long)bound);
    chunk_to_frames(f, p->out_channels, out, n_out, got, f->length_out, emitted);
    emitted += n_out;
    cr_assert_eq(emitted, f->length_out, "%s: %lld frames in all, the forward has %lld", what,
                 (long long)emitted, (long long)f->length_out);
    const size_t bytes = (size_t)(f->batch * p->out_channels * f->length_out) * f->elem;
    cr_assert(memcmp(got, f->y, bytes) == 0, "%s: the stream's output differs from the forward's",
              what);
    clconvt_stream_reset(s);
    free(in);
    free(out);
    free(got);
}

/* Three random splits (chunks of 0 to 9 frames), all-ones, and the whole at once. */
static void check_usual_splits(const fixture *f, clconvt_stream *s, uint64_t seed,
                               const char *what) {
    int64_t *sizes = malloc((size_t)(f->length_in + 1) * 4 * sizeof *sizes);
    cr_assert_not_null(sizes);
    uint64_t state = seed;
    for (int round = 0; round < 3; ++round) {
        size_t n = 0;
        for (int64_t left = f->length_in; left > 0;) {
            int64_t size = (int64_t)(reference_random_next(&state) % (uint64_t)(2 * 3 + 4));
            size = size < left ? size : left;
            sizes[n++] = size;
            left -= size;
        }
        check_split(f, s, sizes, n, what);
    }
    for (int64_t i = 0; i < f->length_in; ++i)
        sizes[i] = 1;
    check_split(f, s, sizes, (size_t)f->length_in, what);
    sizes[0] = f->length_in;
    check_split(f, s, sizes, 1, what);
    free(sizes);
}

/* Two chunks split at every position (and an empty push at the start and the end). */
static void check_every_position(const fixture *f, clconvt_stream *s, const char *what) {
    for (int64_t at = 0; at <= f->length_in; ++at) {
        const int64_t sizes[4] = {0, at, f->length_in - at, 0};
        check_split(f, s, sizes, 4, what);
    }
}

static const char *describe(const fixture *f, const char *plan) {
    static __thread char text[256];
    char layer_plan[128] = "";
    clconvt_layer_plan(f->layer, layer_plan, sizeof layer_plan);
    snprintf(text, sizeof text, "%s (plan %s, forced %s)",
             support_describe(&f->p, f->batch, f->length_in, CLCONVT_WEIGHT_PYTORCH), layer_plan,
             plan ? plan : "none");
    return text;
}

/* Every plan that takes the layer; returns how many did. */
static int check_plans(const clconvt_params *p, int64_t batch, int64_t length_in, int every,
                       uint64_t seed) {
    int ran = 0;
    for (size_t i = 0; i < PLAN_COUNT; ++i) {
        fixture f;
        if (!fixture_open(&f, p, plans[i], batch, length_in, seed + i))
            continue;
        clconvt_stream *s = NULL;
        cr_assert_eq(clconvt_stream_create(f.layer, batch, &s), CLCONVT_SUCCESS, "%s",
                     clconvt_last_error());
        const char *what = describe(&f, plans[i]);
        check_usual_splits(&f, s, seed * 7 + i, what);
        if (every)
            check_every_position(&f, s, what);
        clconvt_stream_release(s);
        fixture_close(&f);
        ++ran;
    }
    return ran;
}

/* Every path forced, both layouts, splits at every position: stride 3, padding, output padding,
 * dilation (and a depthwise layer for phase_dw). */
Test(stream, every_path_every_split) {
    for (int layout = 0; layout < 2; ++layout) {
        clconvt_params p;
        params_of(&p, 6, 5, 5, 3, 2, 2, 1, 2, 1, (clconvt_layout)layout, CLCONVT_F32);
        cr_assert_geq(check_plans(&p, 1, 11, 1, 100 + (uint64_t)layout), 3);
        params_of(&p, 8, 8, 4, 2, 1, 1, 0, 1, 8, (clconvt_layout)layout, CLCONVT_F32);
        cr_assert_geq(check_plans(&p, 2, 9, 1, 200 + (uint64_t)layout), 2);
    }
}

/* f16 and bf16 on every path that takes them, both layouts. */
Test(stream, every_dtype) {
    for (int dtype = 1; dtype <= 2; ++dtype)
        for (int layout = 0; layout < 2; ++layout) {
            clconvt_params p;
            params_of(&p, 8, 12, 6, 2, 2, 2, 1, 1, 1, (clconvt_layout)layout, (clconvt_dtype)dtype);
            cr_assert_geq(check_plans(&p, 2, 23, 0, 300 + (uint64_t)(dtype * 2 + layout)), 2);
        }
}

/* Groups, dilation larger than the stride, K below the stride (outputs only the bias reaches),
 * a right padding beyond the last input's taps (outputs then wait for their existence), a large
 * left padding, HiFi-GAN's shape: the planner's plan and every forced one, batch 2. */
Test(stream, parameters) {
    const int64_t cases[][9] = {
        /* cin, cout, k, stride, pad_left, pad_right, output_padding, dilation, groups */
        {4, 6, 7, 1, 3, 3, 0, 1, 2},   {6, 4, 3, 2, 0, 0, 1, 3, 2}, {5, 3, 1, 3, 0, 0, 2, 1, 1},
        {4, 4, 4, 2, 0, 5, 0, 1, 1},   {3, 5, 5, 2, 7, 1, 0, 2, 1}, {16, 8, 16, 8, 4, 4, 0, 1, 1},
        {12, 9, 10, 5, 0, 0, 0, 1, 3},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; ++c)
        for (int layout = 0; layout < 2; ++layout) {
            const int64_t *v = cases[c];
            clconvt_params p;
            params_of(&p, v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7], v[8],
                      (clconvt_layout)layout, CLCONVT_F32);
            cr_assert_eq(clconvt_params_validate(&p), CLCONVT_SUCCESS, "case %zu: %s", c,
                         clconvt_last_error());
            cr_assert_geq(check_plans(&p, 2, 17, c < 3, 400 + c * 2 + (uint64_t)layout), 1);
        }
}

/* A small NCL layer (stride 2, K 5, padding 2, output padding 1, bias) and its stream. */
static clconvt_stream *small_stream(fixture *f, int64_t batch, int64_t length_in,
                                    clconvt_layout layout) {
    clconvt_params p;
    params_of(&p, 3, 4, 5, 2, 2, 2, 1, 1, 1, layout, CLCONVT_F32);
    cr_assert(fixture_open(f, &p, NULL, batch, length_in, 77));
    clconvt_stream *s = NULL;
    cr_assert_eq(clconvt_stream_create(f->layer, batch, &s), CLCONVT_SUCCESS, "%s",
                 clconvt_last_error());
    return s;
}

static int untouched(const unsigned char *bytes, size_t n) {
    for (size_t i = 0; i < n; ++i)
        if (bytes[i] != 0xab)
            return 0;
    return 1;
}

/* An out_capacity one frame short fails, writes nothing and changes nothing: the same call with
 * room then continues the sequence exactly. */
Test(stream, out_too_small_changes_nothing) {
    fixture f;
    clconvt_stream *s = small_stream(&f, 2, 21, CLCONVT_LAYOUT_NCL);
    const clconvt_params *p = &f.p;
    const size_t out_frame = (size_t)(f.batch * p->out_channels) * f.elem;
    int64_t cap = 0;
    cr_assert_eq(clconvt_stream_max_output(s, 5, &cap), CLCONVT_SUCCESS);
    unsigned char *in = malloc((size_t)(f.batch * p->in_channels * 5) * f.elem);
    unsigned char *out = malloc((size_t)cap * out_frame);
    unsigned char *got = malloc((size_t)f.length_out * out_frame);
    cr_assert(in && out && got);
    int64_t consumed = 0, emitted = 0, n_out = 0;
    for (int last = 0; !last;) {
        const int64_t n = f.length_in - consumed < 5 ? f.length_in - consumed : 5;
        last = n == 0;
        const int64_t want = last ? f.length_out - emitted
                                  : expected_final(p, consumed + n) - expected_final(p, consumed);
        frames_to_chunk(&f, p->in_channels, f.x, f.length_in, consumed, n, in);
        if (want > 0) {
            memset(out, 0xab, (size_t)cap * out_frame);
            n_out = -7;
            const clconvt_status status =
                last ? clconvt_stream_finish_host(s, out, want - 1, &n_out)
                     : clconvt_stream_push_host(s, in, n, out, want - 1, &n_out);
            cr_assert_eq(status, CLCONVT_ERROR_SHAPE_MISMATCH);
            cr_assert(strstr(clconvt_last_error(), "out_capacity=") != NULL, "%s",
                      clconvt_last_error());
            cr_assert(untouched(out, (size_t)cap * out_frame), "a refused call wrote to out");
            cr_assert_eq(n_out, -7, "a refused call set n_out");
        }
        const clconvt_status status = last ? clconvt_stream_finish_host(s, out, cap, &n_out)
                                           : clconvt_stream_push_host(s, in, n, out, cap, &n_out);
        cr_assert_eq(status, CLCONVT_SUCCESS, "%s", clconvt_last_error());
        cr_assert_eq(n_out, want);
        chunk_to_frames(&f, p->out_channels, out, n_out, got, f.length_out, emitted);
        consumed += n;
        emitted += n_out;
    }
    cr_assert(memcmp(got, f.y, (size_t)f.length_out * out_frame) == 0);
    free(in);
    free(out);
    free(got);
    clconvt_stream_release(s);
    fixture_close(&f);
}

/* After the finish, pushes and finishes are refused until a reset; a reset in the middle of a
 * sequence drops it, and the next sequence is exact. */
Test(stream, finish_then_reset) {
    fixture f;
    clconvt_stream *s = small_stream(&f, 1, 12, CLCONVT_LAYOUT_NLC);
    int64_t cap = 0, n_out = 0;
    cr_assert_eq(clconvt_stream_max_output(s, f.length_in, &cap), CLCONVT_SUCCESS);
    void *out = malloc((size_t)(cap * f.p.out_channels) * f.elem);
    cr_assert_eq(clconvt_stream_push_host(s, f.x, 3, out, cap, &n_out), CLCONVT_SUCCESS);
    cr_assert_eq(clconvt_stream_finish_host(s, out, cap, &n_out), CLCONVT_SUCCESS);
    cr_assert_eq(clconvt_stream_push_host(s, f.x, 3, out, cap, &n_out),
                 CLCONVT_ERROR_INVALID_ARGUMENT);
    cr_assert(strstr(clconvt_last_error(), "clconvt_stream_push_host: the stream's sequence was "
                                           "finished") != NULL,
              "%s", clconvt_last_error());
    cr_assert(strstr(clconvt_last_error(), "clconvt_stream_reset") != NULL);
    cr_assert_eq(clconvt_stream_finish_host(s, out, cap, &n_out), CLCONVT_ERROR_INVALID_ARGUMENT);
    clconvt_stream_reset(s);
    cr_assert_eq(clconvt_stream_push_host(s, f.x, 7, out, cap, &n_out), CLCONVT_SUCCESS);
    clconvt_stream_reset(s); /* dropped mid-sequence */
    const int64_t sizes[3] = {4, 1, 7};
    check_split(&f, s, sizes, 3, "after resets");
    /* An empty sequence gives no output; one too short for any output is refused at the finish,
     * with the message of clconvt_output_length. */
    cr_assert_eq(clconvt_stream_finish_host(s, out, cap, &n_out), CLCONVT_SUCCESS);
    cr_assert_eq(n_out, 0);
    free(out);
    clconvt_stream_release(s);
    fixture_close(&f);
    clconvt_params p;
    params_of(&p, 2, 2, 2, 1, 3, 3, 0, 1, 1, CLCONVT_LAYOUT_NCL, CLCONVT_F32);
    cr_assert(fixture_open(&f, &p, NULL, 1, 6, 5));
    cr_assert_eq(clconvt_stream_create(f.layer, 1, &s), CLCONVT_SUCCESS);
    float frame[2] = {1, 2}, y[64];
    cr_assert_eq(clconvt_stream_push_host(s, frame, 1, y, 32, &n_out), CLCONVT_SUCCESS);
    cr_assert_eq(clconvt_stream_finish_host(s, y, 32, &n_out), CLCONVT_ERROR_INVALID_PARAMETER);
    cr_assert(strstr(clconvt_last_error(), "too small") != NULL, "%s", clconvt_last_error());
    clconvt_stream_release(s);
    fixture_close(&f);
}

#define EXPECT_FAILURE(call, status, text)                                                         \
    do {                                                                                           \
        cr_expect_eq((call), (status), "%s", #call);                                               \
        cr_expect(strstr(clconvt_last_error(), (text)) != NULL, "%s: '%s' lacks '%s'", #call,      \
                  clconvt_last_error(), (text));                                                   \
    } while (0)

Test(stream, bad_arguments) {
    fixture f;
    clconvt_stream *s = small_stream(&f, 1, 8, CLCONVT_LAYOUT_NCL), *t = NULL;
    int64_t n = 0;
    float buffer[256] = {0};
    const clconvt_status bad = CLCONVT_ERROR_INVALID_ARGUMENT;
    EXPECT_FAILURE(clconvt_stream_create(NULL, 1, &t), bad,
                   "clconvt_stream_create: layer must not be NULL");
    EXPECT_FAILURE(clconvt_stream_create(f.layer, 0, &t), bad, "batch=0");
    EXPECT_FAILURE(clconvt_stream_create(f.layer, 1, NULL), bad, "out must not be NULL");
    EXPECT_FAILURE(clconvt_stream_max_output(s, -1, &n), bad, "n_in=-1");
    EXPECT_FAILURE(clconvt_stream_max_output(s, 1, NULL), bad, "max_out must not be NULL");
    EXPECT_FAILURE(clconvt_stream_push_host(NULL, buffer, 1, buffer, 8, &n), bad,
                   "s must not be NULL");
    EXPECT_FAILURE(clconvt_stream_push_host(s, buffer, -2, buffer, 8, &n), bad, "n_in=-2");
    EXPECT_FAILURE(clconvt_stream_push_host(s, buffer, 1, buffer, -1, &n), bad, "out_capacity=-1");
    EXPECT_FAILURE(clconvt_stream_push_host(s, NULL, 1, buffer, 8, &n), bad, "in must not be NULL");
    EXPECT_FAILURE(clconvt_stream_push_host(s, buffer, 1, NULL, 8, &n), bad,
                   "out must not be NULL");
    EXPECT_FAILURE(clconvt_stream_push_host(s, buffer, 1, buffer, 8, NULL), bad,
                   "n_out must not be NULL");
    EXPECT_FAILURE(clconvt_stream_push_host(s, buffer, INT64_MAX / 2, buffer, 8, &n),
                   CLCONVT_ERROR_TOO_LARGE, "too long");
    EXPECT_FAILURE(clconvt_stream_finish_host(s, NULL, 8, &n), bad, "out must not be NULL");
    EXPECT_FAILURE(clconvt_stream_push(s, NULL, NULL, 0, NULL, 0, &n, 1, NULL, NULL), bad,
                   "n_wait=1 but wait is NULL");
    EXPECT_FAILURE(clconvt_stream_push(s, NULL, NULL, 1, NULL, 0, &n, 0, NULL, NULL), bad,
                   "in must not be NULL");
    cl_int err;
    cl_mem small =
        clCreateBuffer(clconvt_device_context(support_device()), CL_MEM_READ_WRITE, 8, NULL, &err);
    cr_assert_eq(err, CL_SUCCESS);
    EXPECT_FAILURE(clconvt_stream_push(s, NULL, small, 1, NULL, 0, &n, 0, NULL, NULL),
                   CLCONVT_ERROR_SHAPE_MISMATCH, "input buffer holds 8 bytes but");
    EXPECT_FAILURE(clconvt_stream_finish(s, NULL, small, 4, &n, 0, NULL, NULL),
                   CLCONVT_ERROR_SHAPE_MISMATCH, "output buffer holds 8 bytes but");
    clReleaseMemObject(small);
    /* Nothing above changed the stream: it still streams exactly. */
    const int64_t sizes[2] = {5, 3};
    check_split(&f, s, sizes, 2, "after refused calls");
    clconvt_stream_release(s);
    clconvt_stream_release(NULL);
    clconvt_stream_reset(NULL);
    /* A layer without its weight is not ready. */
    clconvt_layer *layer = NULL;
    cr_assert_eq(clconvt_layer_create(support_device(), &f.p, &layer), CLCONVT_SUCCESS);
    cr_assert_eq(clconvt_stream_create(layer, 1, &s), CLCONVT_SUCCESS);
    EXPECT_FAILURE(clconvt_stream_push_host(s, buffer, 4, buffer, 64, &n), CLCONVT_ERROR_NOT_READY,
                   "clconvt_stream_push_host: the layer's weight");
    clconvt_stream_release(s);
    clconvt_layer_release(layer);
    fixture_close(&f);
}

/* The device-buffer variant on the caller's (out-of-order if it can) queue, each push waiting on a
 * user event completed after the call, alternating with host pushes on the same stream. */
Test(stream, device_buffers_with_events) {
    for (int layout = 0; layout < 2; ++layout) {
        fixture f;
        clconvt_stream *s = small_stream(&f, 2, 26, (clconvt_layout)layout);
        const clconvt_params *p = &f.p;
        cl_context context = clconvt_device_context(support_device());
        cl_device_id device = clconvt_device_id(support_device());
        cl_int err;
        cl_command_queue queue =
            clCreateCommandQueue(context, device, CL_QUEUE_OUT_OF_ORDER_EXEC_MODE_ENABLE, &err);
        if (err != CL_SUCCESS)
            queue = clCreateCommandQueue(context, device, 0, &err);
        cr_assert_eq(err, CL_SUCCESS);
        const size_t in_frame = (size_t)(f.batch * p->in_channels) * f.elem;
        const size_t out_frame = (size_t)(f.batch * p->out_channels) * f.elem;
        int64_t cap = 0;
        cr_assert_eq(clconvt_stream_max_output(s, 6, &cap), CLCONVT_SUCCESS);
        unsigned char *chunk = malloc(6 * in_frame), *out = malloc((size_t)cap * out_frame);
        unsigned char *got = malloc((size_t)f.length_out * out_frame);
        cl_mem out_mem =
            clCreateBuffer(context, CL_MEM_READ_WRITE, (size_t)cap * out_frame, NULL, &err);
        cr_assert_eq(err, CL_SUCCESS);
        const int64_t sizes[] = {1, 6, 0, 3, 6, 2, 5, 3};
        int64_t consumed = 0, emitted = 0, n_out = 0;
        for (size_t i = 0; i <= sizeof sizes / sizeof sizes[0]; ++i) {
            const int last = i == sizeof sizes / sizeof sizes[0];
            const int64_t n = last ? 0 : sizes[i];
            frames_to_chunk(&f, p->in_channels, f.x, f.length_in, consumed, n, chunk);
            if (i % 2 == 1 && !last) {
                cr_assert_eq(clconvt_stream_push_host(s, chunk, n, out, cap, &n_out),
                             CLCONVT_SUCCESS, "%s", clconvt_last_error());
            } else {
                cl_mem in_mem =
                    n > 0 ? clCreateBuffer(context, CL_MEM_READ_ONLY | CL_MEM_COPY_HOST_PTR,
                                           (size_t)n * in_frame, chunk, &err)
                          : NULL;
                cr_assert_eq(err, CL_SUCCESS);
                cl_event gate = clCreateUserEvent(context, &err), done = NULL;
                cr_assert_eq(err, CL_SUCCESS);
                const clconvt_status status =
                    last ? clconvt_stream_finish(s, queue, out_mem, cap, &n_out, 1, &gate, &done)
                         : clconvt_stream_push(s, queue, in_mem, n, out_mem, cap, &n_out, 1, &gate,
                                               &done);
                cr_assert_eq(status, CLCONVT_SUCCESS, "%s", clconvt_last_error());
                cr_assert_not_null(done);
                cr_assert_eq(clSetUserEventStatus(gate, CL_COMPLETE), CL_SUCCESS);
                cr_assert_eq(clEnqueueReadBuffer(queue, out_mem, CL_TRUE, 0,
                                                 (size_t)n_out * out_frame, out, 1, &done, NULL),
                             CL_SUCCESS);
                clReleaseEvent(gate);
                clReleaseEvent(done);
                if (in_mem != NULL)
                    clReleaseMemObject(in_mem);
            }
            chunk_to_frames(&f, p->out_channels, out, n_out, got, f.length_out, emitted);
            consumed += n;
            emitted += n_out;
        }
        cr_assert_eq(emitted, f.length_out);
        cr_assert(memcmp(got, f.y, (size_t)f.length_out * out_frame) == 0, "layout %d", layout);
        clReleaseMemObject(out_mem);
        clReleaseCommandQueue(queue);
        free(chunk);
        free(out);
        free(got);
        clconvt_stream_release(s);
        fixture_close(&f);
    }
}

/* The stream holds the halo, not the history: its device memory stops growing after the first
 * pushes however long the sequence (chunks of 4 frames of a 600-frame sequence). */
Test(stream, holds_only_the_halo) {
    fixture f;
    clconvt_stream *s = small_stream(&f, 1, 600, CLCONVT_LAYOUT_NCL);
    int64_t cap = 0, n_out = 0;
    cr_assert_eq(clconvt_stream_max_output(s, 4, &cap), CLCONVT_SUCCESS);
    float *in = malloc((size_t)(4 * f.p.in_channels) * sizeof *in);
    float *out = malloc((size_t)(cap * f.p.out_channels) * sizeof *out);
    clconvt_device_info info;
    uint64_t early = 0;
    for (int64_t first = 0; first < f.length_in; first += 4) {
        frames_to_chunk(&f, f.p.in_channels, f.x, f.length_in, first, 4, in);
        cr_assert_eq(clconvt_stream_push_host(s, in, 4, out, cap, &n_out), CLCONVT_SUCCESS);
        cr_assert_eq(clconvt_device_get_info(support_device(), &info), CLCONVT_SUCCESS);
        if (first == 40)
            early = info.allocated_bytes;
    }
    cr_assert_eq(info.allocated_bytes, early, "the stream grew from %llu to %llu bytes",
                 (unsigned long long)early, (unsigned long long)info.allocated_bytes);
    free(in);
    free(out);
    clconvt_stream_release(s);
    fixture_close(&f);
}

/* Streams of one layer on two threads at once (each thread its own stream), with forwards of the
 * layer meanwhile: each stream's output is still exact. */
typedef struct thread_case {
    const fixture *f;
    int64_t chunk;
    int ok;
} thread_case;

static void *stream_thread(void *arg) {
    thread_case *t = arg;
    const fixture *f = t->f;
    const clconvt_params *p = &f->p;
    clconvt_stream *s = NULL;
    int64_t cap = 0, n_out = 0, emitted = 0;
    if (clconvt_stream_create(f->layer, f->batch, &s) != CLCONVT_SUCCESS ||
        clconvt_stream_max_output(s, t->chunk, &cap) != CLCONVT_SUCCESS)
        return NULL;
    void *in = malloc((size_t)(f->batch * p->in_channels * t->chunk) * f->elem);
    void *out = malloc((size_t)(f->batch * p->out_channels * cap) * f->elem);
    void *got = malloc((size_t)(f->batch * p->out_channels * f->length_out) * f->elem);
    void *whole = malloc((size_t)(f->batch * p->out_channels * f->length_out) * f->elem);
    int ok = in && out && got && whole;
    for (int round = 0; ok && round < 5; ++round) {
        emitted = 0;
        for (int64_t first = 0, count = 0; ok && first < f->length_in; first += count) {
            count = f->length_in - first < t->chunk ? f->length_in - first : t->chunk;
            frames_to_chunk(f, p->in_channels, f->x, f->length_in, first, count, in);
            ok = clconvt_stream_push_host(s, in, count, out, cap, &n_out) == CLCONVT_SUCCESS;
            chunk_to_frames(f, p->out_channels, out, n_out, got, f->length_out, emitted);
            emitted += n_out;
        }
        ok = ok && clconvt_stream_finish_host(s, out, cap, &n_out) == CLCONVT_SUCCESS;
        chunk_to_frames(f, p->out_channels, out, n_out, got, f->length_out, emitted);
        ok = ok &&
             memcmp(got, f->y, (size_t)(f->batch * p->out_channels * f->length_out) * f->elem) == 0;
        ok = ok && clconvt_layer_forward_host(f->layer, f->x, whole, f->batch, f->length_in) ==
                       CLCONVT_SUCCESS;
        clconvt_stream_reset(s);
    }
    t->ok = ok;
    free(in);
    free(out);
    free(got);
    free(whole);
    clconvt_stream_release(s);
    return NULL;
}

Test(stream, two_streams_of_one_layer_on_two_threads) {
    fixture f;
    clconvt_stream *unused = small_stream(&f, 2, 40, CLCONVT_LAYOUT_NLC);
    clconvt_stream_release(unused);
    thread_case cases[2] = {{&f, 3, 0}, {&f, 7, 0}};
    pthread_t threads[2];
    for (int i = 0; i < 2; ++i)
        cr_assert_eq(pthread_create(&threads[i], NULL, stream_thread, &cases[i]), 0);
    for (int i = 0; i < 2; ++i)
        pthread_join(threads[i], NULL);
    cr_assert(cases[0].ok && cases[1].ok, "chunks of 3: %d, chunks of 7: %d", cases[0].ok,
              cases[1].ok);
    fixture_close(&f);
}

/* Infinities and NaNs in the input reach exactly the outputs they reach in the whole forward:
 * every path forced, both layouts. */
Test(stream, nonfinite_inputs) {
    const float specials[3] = {INFINITY, -INFINITY, NAN};
    for (int layout = 0; layout < 2; ++layout)
        for (size_t i = 0; i < PLAN_COUNT; ++i) {
            clconvt_params p;
            params_of(&p, 4, 6, 5, 2, 1, 1, 1, 1, 1, (clconvt_layout)layout, CLCONVT_F32);
            fixture f;
            if (!fixture_open(&f, &p, plans[i], 1, 15, 900 + i))
                continue;
            float *x = f.x;
            for (int k = 0; k < 3; ++k)
                x[(size_t)(k * 17 + 3) % (size_t)(p.in_channels * f.length_in)] = specials[k];
            cr_assert_eq(clconvt_layer_forward_host(f.layer, f.x, f.y, 1, f.length_in),
                         CLCONVT_SUCCESS);
            clconvt_stream *s = NULL;
            cr_assert_eq(clconvt_stream_create(f.layer, 1, &s), CLCONVT_SUCCESS);
            check_usual_splits(&f, s, 31 + i, describe(&f, plans[i]));
            clconvt_stream_release(s);
            fixture_close(&f);
        }
}
