/*
 * Fuzz target: parameter validation and the size arithmetic (src/params.c):
 * clconvt_params_validate, clconvt_output_length and the internal clconvt_tensor_bytes, on values
 * drawn to hit the edges (0, +-1, INT32/INT64/SIZE_MAX neighbourhoods, powers of two) as often as
 * arbitrary ones.
 *
 * Each result is compared with an independent statement of the SPEC's rules, computed in __int128
 * so that nothing here can overflow:
 * - validate succeeds exactly when every rule holds (and the weight's byte count Cin * Cout/groups
 *   * K * 4 fits int64); a refusal has a message naming the parameter or rule;
 * - output_length succeeds exactly when validate does, length_in >= 1, the intermediate products
 *   (length_in - 1) * stride and dilation * (K - 1) fit int64 and the formula's value is in
 *   [1, INT64_MAX]; on success it is that value, and on "too small" the message quotes it;
 * - tensor_bytes succeeds exactly when every dimension is >= 0 and the byte count fits int64 and
 *   size_t, and returns that count.
 */
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "fuzz_support.h"
#include "params.h"

/* A cursor over the input that never fails: past the end it yields zeros. */
typedef struct reader {
    const uint8_t *p, *end;
} reader;

static uint64_t take(reader *r, int bytes) {
    uint64_t v = 0;
    for (int i = 0; i < bytes; ++i)
        v = v << 8 | (r->p < r->end ? *r->p++ : 0);
    return v;
}

/* An int64 drawn from the edges a third of the time, small values a third, anything otherwise. */
static int64_t draw(reader *r) {
    static const int64_t edges[] = {
        0,
        1,
        -1,
        2,
        INT32_MAX,
        (int64_t)INT32_MAX + 1,
        UINT32_MAX,
        (int64_t)UINT32_MAX + 1,
        INT64_MAX,
        INT64_MAX - 1,
        INT64_MIN,
        INT64_MIN + 1,
        INT64_MAX / 2,
        INT64_MAX / 2 + 1,
        INT64_MAX / 4,
        (int64_t)1 << 31,
        (int64_t)1 << 32,
        (int64_t)1 << 53,
        (int64_t)1 << 61,
        (int64_t)1 << 62,
        3037000499,              /* floor(sqrt(INT64_MAX)) */
        3037000500,              /* just above it */
        (int64_t)(SIZE_MAX / 4), /* SIZE_MAX / sizeof(float), as int64 */
        (int64_t)(SIZE_MAX >> 1),
        2097152, /* 2^21: cubes near 2^63 */
        2097151,
    };
    const unsigned kind = (unsigned)take(r, 1);
    switch (kind % 3) {
    case 0: {
        const int64_t e = edges[take(r, 1) % (sizeof edges / sizeof edges[0])];
        /* Nudge by a small signed amount so neighbours of the edges come up too. */
        const int64_t nudge = (int64_t)(kind >> 2) % 8 - 4;
        if ((nudge > 0 && e > INT64_MAX - nudge) || (nudge < 0 && e < INT64_MIN - nudge))
            return e;
        return kind & 0x80 ? e + nudge : e;
    }
    case 1: return (int64_t)(take(r, 1) % 20) - 2;
    default: return (int64_t)take(r, 8);
    }
}

typedef __int128 i128;

/* Decimal text of an __int128 (printf has no conversion for it). */
static const char *i128_text(i128 v, char buf[48]) {
    char digits[48];
    int n = 0;
    unsigned __int128 m = v < 0 ? -(unsigned __int128)v : (unsigned __int128)v;
    do {
        digits[n++] = (char)('0' + (int)(m % 10));
        m /= 10;
    } while (m != 0);
    int at = 0;
    if (v < 0)
        buf[at++] = '-';
    while (n > 0)
        buf[at++] = digits[--n];
    buf[at] = '\0';
    return buf;
}

/* The SPEC's rules, independently. */
static int rules_hold(const clconvt_params *p) {
    if (p->in_channels <= 0 || p->out_channels <= 0 || p->kernel_length <= 0 || p->stride <= 0 ||
        p->dilation <= 0 || p->groups <= 0)
        return 0;
    if (p->pad_left < 0 || p->pad_right < 0 || p->output_padding < 0)
        return 0;
    if (p->output_padding >= p->stride && p->output_padding >= p->dilation)
        return 0;
    if (p->in_channels % p->groups != 0 || p->out_channels % p->groups != 0)
        return 0;
    if (p->layout != CLCONVT_LAYOUT_NLC && p->layout != CLCONVT_LAYOUT_NCL)
        return 0;
    if (p->dtype != CLCONVT_F32 && p->dtype != CLCONVT_F16 && p->dtype != CLCONVT_BF16)
        return 0;
    /* The weight's byte count (as f32, whatever the dtype: the layer stages it in f32). */
    const i128 cells = (i128)p->in_channels * (p->out_channels / p->groups);
    if (cells > INT64_MAX || cells * p->kernel_length > INT64_MAX ||
        cells * p->kernel_length * 4 > INT64_MAX)
        return 0;
    return 1;
}

static void check_params(const clconvt_params *p, int64_t length_in) {
    const clconvt_status v = clconvt_params_validate(p);
    const int ok = rules_hold(p);
    FUZZ_CHECK((v == CLCONVT_SUCCESS) == ok, "validate says %s, the rules say %s: %s",
               clconvt_status_string(v), ok ? "valid" : "invalid", clconvt_last_error());
    if (v != CLCONVT_SUCCESS) {
        FUZZ_CHECK(v == CLCONVT_ERROR_INVALID_PARAMETER || v == CLCONVT_ERROR_TOO_LARGE,
                   "validate failed with %s", clconvt_status_string(v));
        FUZZ_CHECK(clconvt_last_error()[0] != '\0', "a refusal without a message");
    } else {
        FUZZ_CHECK(clconvt_last_error()[0] == '\0', "a success left a message: %s",
                   clconvt_last_error());
    }

    int64_t out = 0x5a5a5a5a;
    const clconvt_status o = clconvt_output_length(p, length_in, &out);
    if (!ok || length_in < 1) {
        FUZZ_CHECK(o != CLCONVT_SUCCESS, "output_length accepted invalid input, gave %lld",
                   (long long)out);
        FUZZ_CHECK(out == 0x5a5a5a5a, "a refusal wrote the output length");
        return;
    }
    const i128 span = (i128)(length_in - 1) * p->stride;
    const i128 taps = (i128)p->dilation * (p->kernel_length - 1);
    const i128 length = span - p->pad_left - p->pad_right + taps + p->output_padding + 1;
    if (span > INT64_MAX || taps > INT64_MAX || length > INT64_MAX) {
        FUZZ_CHECK(o == CLCONVT_ERROR_TOO_LARGE, "overflowing length (%s) gave %s, %lld",
                   span > INT64_MAX || taps > INT64_MAX ? "product" : "sum",
                   clconvt_status_string(o), (long long)out);
        FUZZ_CHECK(out == 0x5a5a5a5a, "a refusal wrote the output length");
        return;
    }
    if (length <= 0) {
        FUZZ_CHECK(o == CLCONVT_ERROR_INVALID_PARAMETER, "length %lld <= 0 gave %s",
                   (long long)length, clconvt_status_string(o));
        char text[48], quoted[64];
        snprintf(quoted, sizeof quoted, "is %s,", i128_text(length, text));
        FUZZ_CHECK(strstr(clconvt_last_error(), quoted) != NULL,
                   "the message does not quote the length %s: %s", text, clconvt_last_error());
        FUZZ_CHECK(out == 0x5a5a5a5a, "a refusal wrote the output length");
        return;
    }
    FUZZ_CHECK(o == CLCONVT_SUCCESS, "valid length %lld refused: %s", (long long)length,
               clconvt_last_error());
    FUZZ_CHECK(out == (int64_t)length && out > 0, "output length %lld, formula %lld",
               (long long)out, (long long)length);
}

static void check_tensor_bytes(int64_t d0, int64_t d1, int64_t d2, clconvt_dtype dtype) {
    size_t bytes = 12345;
    const clconvt_status st = clconvt_tensor_bytes("fuzz tensor", d0, d1, d2, dtype, &bytes);
    const size_t size = clconvt_dtype_size(dtype);
    int ok = d0 >= 0 && d1 >= 0 && d2 >= 0;
    i128 total = 0;
    if (ok) {
        /* Left to right with the library's int64 bound at every step: (d0 * d1) * d2 * size. */
        const i128 a = (i128)d0 * d1;
        const i128 b = a <= INT64_MAX ? a * d2 : 0;
        total = b <= INT64_MAX ? b * (i128)size : 0;
        ok = a <= INT64_MAX && b <= INT64_MAX && total <= INT64_MAX && total <= (i128)SIZE_MAX;
    }
    FUZZ_CHECK((st == CLCONVT_SUCCESS) == ok, "tensor_bytes(%lld, %lld, %lld, %s) gave %s",
               (long long)d0, (long long)d1, (long long)d2, clconvt_dtype_name(dtype),
               clconvt_status_string(st));
    if (ok)
        FUZZ_CHECK(bytes == (size_t)total, "tensor_bytes gave %zu, expected %llu", bytes,
                   (unsigned long long)total);
    else
        FUZZ_CHECK(st == CLCONVT_ERROR_TOO_LARGE && bytes == 12345 && clconvt_last_error()[0],
                   "a refusal must be TOO_LARGE with a message and leave bytes alone");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    reader r = {data, data + size};
    clconvt_params p;
    clconvt_params_init(&p, draw(&r), draw(&r), draw(&r));
    p.stride = draw(&r);
    p.pad_left = draw(&r);
    p.pad_right = take(&r, 1) & 1 ? p.pad_left : draw(&r);
    p.output_padding = draw(&r);
    p.dilation = draw(&r);
    p.groups = draw(&r);
    const unsigned flags = (unsigned)take(&r, 1);
    p.has_bias = flags & 1;
    p.layout = (clconvt_layout)(flags & 0x10 ? (int)(flags >> 5) - 2 : (int)(flags >> 1) % 2);
    p.dtype = (clconvt_dtype)(flags & 0x08 ? (int)(flags >> 4) - 4 : (int)(flags >> 2) % 3);
    const int64_t length_in = draw(&r);
    check_params(&p, length_in);

    const int64_t d0 = draw(&r), d1 = draw(&r), d2 = draw(&r);
    check_tensor_bytes(d0, d1, d2, (clconvt_dtype)(take(&r, 1) % 3));
    return 0;
}
