/* clconvt_params: MAX's defaults and the SPEC's validation rules, with messages in PyTorch's
 * spirit: the parameter, its value, and the rule. */
#include "params.h"

#include <stdbool.h>
#include <stdint.h>

#include "error.h"

void clconvt_params_init(clconvt_params *params, int64_t in_channels, int64_t out_channels,
                         int64_t kernel_length) {
    if (params == NULL)
        return;
    *params = (clconvt_params){
        .in_channels = in_channels,
        .out_channels = out_channels,
        .kernel_length = kernel_length,
        .stride = 1,
        .pad_left = 0,
        .pad_right = 0,
        .output_padding = 0,
        .dilation = 1,
        .groups = 1,
        .has_bias = 0,
        .layout = CLCONVT_LAYOUT_NLC,
        .dtype = CLCONVT_F32,
    };
}

bool clconvt_mul_overflows(int64_t a, int64_t b, int64_t *out) {
    if (a < 0 || b < 0 || (a != 0 && b > INT64_MAX / a))
        return true;
    *out = a * b;
    return false;
}

static clconvt_status require_positive(const char *name, int64_t value) {
    if (value <= 0)
        return clconvt_fail(CLCONVT_ERROR_INVALID_PARAMETER,
                            "%s must be a positive integer, but got %s=%lld", name, name,
                            (long long)value);
    return CLCONVT_SUCCESS;
}

static clconvt_status require_non_negative(const char *name, int64_t value) {
    if (value < 0)
        return clconvt_fail(CLCONVT_ERROR_INVALID_PARAMETER,
                            "%s must be a non-negative integer, but got %s=%lld", name, name,
                            (long long)value);
    return CLCONVT_SUCCESS;
}

clconvt_status clconvt_params_validate(const clconvt_params *p) {
    if (p == NULL)
        return clconvt_fail(CLCONVT_ERROR_INVALID_ARGUMENT,
                            "clconvt_params_validate: params must not be NULL");
    const struct {
        const char *name;
        int64_t value;
    } positive[] = {
        {"in_channels", p->in_channels},     {"out_channels", p->out_channels},
        {"kernel_length", p->kernel_length}, {"stride", p->stride},
        {"dilation", p->dilation},           {"groups", p->groups},
    };
    for (size_t i = 0; i < sizeof positive / sizeof positive[0]; ++i) {
        clconvt_status status = require_positive(positive[i].name, positive[i].value);
        if (status != CLCONVT_SUCCESS)
            return status;
    }
    const struct {
        const char *name;
        int64_t value;
    } non_negative[] = {
        {"pad_left", p->pad_left},
        {"pad_right", p->pad_right},
        {"output_padding", p->output_padding},
    };
    for (size_t i = 0; i < sizeof non_negative / sizeof non_negative[0]; ++i) {
        clconvt_status status = require_non_negative(non_negative[i].name, non_negative[i].value);
        if (status != CLCONVT_SUCCESS)
            return status;
    }
    if (p->output_padding >= p->stride && p->output_padding >= p->dilation)
        return clconvt_fail(CLCONVT_ERROR_INVALID_PARAMETER,
                            "output padding must be smaller than either stride or dilation, but "
                            "got output_padding=%lld, stride=%lld, dilation=%lld",
                            (long long)p->output_padding, (long long)p->stride,
                            (long long)p->dilation);
    if (p->in_channels % p->groups != 0)
        return clconvt_fail(CLCONVT_ERROR_INVALID_PARAMETER,
                            "in_channels must be divisible by groups, but got in_channels=%lld, "
                            "groups=%lld",
                            (long long)p->in_channels, (long long)p->groups);
    if (p->out_channels % p->groups != 0)
        return clconvt_fail(CLCONVT_ERROR_INVALID_PARAMETER,
                            "out_channels must be divisible by groups, but got out_channels=%lld, "
                            "groups=%lld",
                            (long long)p->out_channels, (long long)p->groups);
    if (p->layout != CLCONVT_LAYOUT_NLC && p->layout != CLCONVT_LAYOUT_NCL)
        return clconvt_fail(CLCONVT_ERROR_INVALID_PARAMETER,
                            "layout must be CLCONVT_LAYOUT_NLC (0) or CLCONVT_LAYOUT_NCL (1), but "
                            "got layout=%d",
                            (int)p->layout);
    if (clconvt_dtype_size(p->dtype) == 0)
        return clconvt_fail(CLCONVT_ERROR_INVALID_PARAMETER,
                            "dtype must be CLCONVT_F32, CLCONVT_F16 or CLCONVT_BF16, but got "
                            "dtype=%d",
                            (int)p->dtype);
    /* The weight element count Cin * Cout_g * K must be representable: the layer allocates it. */
    int64_t count;
    if (clconvt_mul_overflows(p->in_channels, p->out_channels / p->groups, &count) ||
        clconvt_mul_overflows(count, p->kernel_length, &count) ||
        clconvt_mul_overflows(count, 4, &count))
        return clconvt_fail(CLCONVT_ERROR_TOO_LARGE,
                            "weight of in_channels=%lld x out_channels/groups=%lld x "
                            "kernel_length=%lld elements overflows a 64-bit byte count",
                            (long long)p->in_channels, (long long)(p->out_channels / p->groups),
                            (long long)p->kernel_length);
    clconvt_clear_error();
    return CLCONVT_SUCCESS;
}

/* Decimal text of v, which may lie outside int64 (two huge paddings); returns buffer. */
static const char *int128_text(__int128 v, char buffer[48]) {
    char digits[48];
    int n = 0;
    unsigned __int128 magnitude = v < 0 ? -(unsigned __int128)v : (unsigned __int128)v;
    do {
        digits[n++] = (char)('0' + (int)(magnitude % 10));
        magnitude /= 10;
    } while (magnitude != 0);
    int at = 0;
    if (v < 0)
        buffer[at++] = '-';
    while (n > 0)
        buffer[at++] = digits[--n];
    buffer[at] = '\0';
    return buffer;
}

clconvt_status clconvt_output_length(const clconvt_params *p, int64_t length_in,
                                     int64_t *length_out) {
    if (p == NULL)
        return clconvt_fail(CLCONVT_ERROR_INVALID_ARGUMENT,
                            "clconvt_output_length: params must not be NULL");
    CLCONVT_CHECK_NOT_NULL(length_out, "clconvt_output_length");
    clconvt_status status = clconvt_params_validate(p);
    if (status != CLCONVT_SUCCESS)
        return status;
    if (length_in < 1)
        return clconvt_fail(CLCONVT_ERROR_INVALID_PARAMETER,
                            "length_in must be a positive integer, but got length_in=%lld",
                            (long long)length_in);
    /* Each term fits int64 on its own when it does not overflow; sum in __int128 to be safe. */
    int64_t span, taps;
    if (clconvt_mul_overflows(length_in - 1, p->stride, &span) ||
        clconvt_mul_overflows(p->dilation, p->kernel_length - 1, &taps))
        return clconvt_fail(CLCONVT_ERROR_TOO_LARGE,
                            "output length for length_in=%lld, stride=%lld, dilation=%lld, "
                            "kernel_length=%lld overflows int64",
                            (long long)length_in, (long long)p->stride, (long long)p->dilation,
                            (long long)p->kernel_length);
    const __int128 length =
        (__int128)span - p->pad_left - p->pad_right + taps + p->output_padding + 1;
    if (length > INT64_MAX)
        return clconvt_fail(CLCONVT_ERROR_TOO_LARGE, "calculated output length overflows int64");
    if (length <= 0)
        return clconvt_fail(CLCONVT_ERROR_INVALID_PARAMETER,
                            "calculated output length is %s, which is too small (length_in=%lld, "
                            "stride=%lld, pad_left=%lld, pad_right=%lld, dilation=%lld, "
                            "kernel_length=%lld, output_padding=%lld)",
                            int128_text(length, (char[48]){0}), (long long)length_in,
                            (long long)p->stride, (long long)p->pad_left, (long long)p->pad_right,
                            (long long)p->dilation, (long long)p->kernel_length,
                            (long long)p->output_padding);
    *length_out = (int64_t)length;
    clconvt_clear_error();
    return CLCONVT_SUCCESS;
}

clconvt_status clconvt_tensor_bytes(const char *what, int64_t d0, int64_t d1, int64_t d2,
                                    clconvt_dtype dtype, size_t *bytes) {
    int64_t count;
    if (clconvt_mul_overflows(d0, d1, &count) || clconvt_mul_overflows(count, d2, &count) ||
        clconvt_mul_overflows(count, (int64_t)clconvt_dtype_size(dtype), &count) ||
        (uint64_t)count > SIZE_MAX)
        return clconvt_fail(CLCONVT_ERROR_TOO_LARGE,
                            "%s of %lld x %lld x %lld %s elements: its byte count overflows", what,
                            (long long)d0, (long long)d1, (long long)d2, clconvt_dtype_name(dtype));
    *bytes = (size_t)count;
    return CLCONVT_SUCCESS;
}
