/* Host-side storage conversions between f32, f16 and bf16 (used when staging weights). */
#include "dtype.h"

#include <string.h>

#include "error.h"

size_t clconvt_dtype_size(clconvt_dtype dtype) {
    switch (dtype) {
    case CLCONVT_F32: return 4;
    case CLCONVT_F16:
    case CLCONVT_BF16: return 2;
    }
    return 0;
}

const char *clconvt_dtype_name(clconvt_dtype dtype) {
    switch (dtype) {
    case CLCONVT_F32: return "f32";
    case CLCONVT_F16: return "f16";
    case CLCONVT_BF16: return "bf16";
    }
    return "unknown";
}

/* Whether a equals b, ignoring the case of ASCII letters (the locale plays no part). */
static int same_name(const char *a, const char *b) {
    for (;; ++a, ++b) {
        const char x = (char)(*a >= 'A' && *a <= 'Z' ? *a - 'A' + 'a' : *a);
        if (x != *b)
            return 0;
        if (x == '\0')
            return 1;
    }
}

clconvt_status clconvt_dtype_from_name(const char *name, clconvt_dtype *out) {
    CLCONVT_CHECK_NOT_NULL(name, "clconvt_dtype_from_name");
    CLCONVT_CHECK_NOT_NULL(out, "clconvt_dtype_from_name");
    static const struct {
        const char *short_name, *long_name;
        clconvt_dtype dtype;
    } names[] = {{"f32", "float32", CLCONVT_F32},
                 {"f16", "float16", CLCONVT_F16},
                 {"bf16", "bfloat16", CLCONVT_BF16}};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; ++i)
        if (same_name(name, names[i].short_name) || same_name(name, names[i].long_name)) {
            *out = names[i].dtype;
            clconvt_clear_error();
            return CLCONVT_SUCCESS;
        }
    return clconvt_fail(CLCONVT_ERROR_INVALID_ARGUMENT,
                        "dtype name '%s' is not one of f32, f16, bf16 (or float32, float16, "
                        "bfloat16)",
                        name);
}

static uint32_t float_bits(float f) {
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}

static float bits_float(uint32_t u) {
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

static float half_to_float(uint16_t h) {
    const uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    const uint32_t exp = (h >> 10) & 0x1fu, mant = h & 0x3ffu;
    if (exp == 0x1f) /* infinity or NaN: keep the payload */
        return bits_float(sign | 0x7f800000u | (mant << 13));
    if (exp != 0)
        return bits_float(sign | ((exp + 112u) << 23) | (mant << 13));
    /* Zero or subnormal: mant * 2^-24, exact in binary32. */
    const float magnitude = (float)mant * 0x1p-24f;
    return sign ? -magnitude : magnitude;
}

static uint16_t float_to_half(float f) {
    const uint32_t u = float_bits(f);
    const uint16_t sign = (uint16_t)((u >> 16) & 0x8000u);
    const uint32_t abs = u & 0x7fffffffu;
    if (abs > 0x7f800000u) /* NaN: quiet, keep the top payload bits */
        return (uint16_t)(sign | 0x7e00u | ((abs >> 13) & 0x3ffu));
    if (abs >= 0x477ff000u) /* rounds to >= 65520: infinity */
        return (uint16_t)(sign | 0x7c00u);
    if (abs < 0x38800000u) {
        /* Below the smallest normal half (2^-14): a subnormal, multiple of 2^-24. Adding 0.5 in
         * binary32 does the round-to-nearest-even for us; the mantissa bits hold the result. */
        const float scaled = bits_float(abs) + 0.5f;
        return (uint16_t)(sign | (float_bits(scaled) - 0x3f000000u));
    }
    /* Normal: rebias the exponent, then round the 13 dropped bits to nearest even. */
    uint32_t rebased = abs - 0x38000000u;
    rebased += 0x0fffu + ((rebased >> 13) & 1u);
    return (uint16_t)(sign | (rebased >> 13));
}

static float bf16_to_float(uint16_t b) {
    return bits_float((uint32_t)b << 16);
}

static uint16_t float_to_bf16(float f) {
    const uint32_t u = float_bits(f);
    if ((u & 0x7fffffffu) > 0x7f800000u) /* NaN: keep it a (quiet) NaN after truncation */
        return (uint16_t)((u >> 16) | 0x0040u);
    return (uint16_t)((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);
}

static float load_as_float(const void *src, clconvt_dtype dtype, size_t i) {
    uint16_t h;
    float f;
    switch (dtype) {
    case CLCONVT_F32: memcpy(&f, (const char *)src + 4 * i, 4); return f;
    case CLCONVT_F16: memcpy(&h, (const char *)src + 2 * i, 2); return half_to_float(h);
    case CLCONVT_BF16: memcpy(&h, (const char *)src + 2 * i, 2); return bf16_to_float(h);
    }
    return 0.0f;
}

static void store_from_float(void *dst, clconvt_dtype dtype, size_t i, float f) {
    uint16_t h;
    switch (dtype) {
    case CLCONVT_F32: memcpy((char *)dst + 4 * i, &f, 4); return;
    case CLCONVT_F16:
        h = float_to_half(f);
        memcpy((char *)dst + 2 * i, &h, 2);
        return;
    case CLCONVT_BF16:
        h = float_to_bf16(f);
        memcpy((char *)dst + 2 * i, &h, 2);
        return;
    }
}

clconvt_status clconvt_convert(const void *src, clconvt_dtype src_dtype, void *dst,
                               clconvt_dtype dst_dtype, size_t count) {
    if (clconvt_dtype_size(src_dtype) == 0)
        return clconvt_fail(CLCONVT_ERROR_INVALID_ARGUMENT,
                            "clconvt_convert: src_dtype %d is not a clconvt_dtype", (int)src_dtype);
    if (clconvt_dtype_size(dst_dtype) == 0)
        return clconvt_fail(CLCONVT_ERROR_INVALID_ARGUMENT,
                            "clconvt_convert: dst_dtype %d is not a clconvt_dtype", (int)dst_dtype);
    if (count == 0) {
        clconvt_clear_error();
        return CLCONVT_SUCCESS;
    }
    CLCONVT_CHECK_NOT_NULL(src, "clconvt_convert");
    CLCONVT_CHECK_NOT_NULL(dst, "clconvt_convert");
    if (src_dtype == dst_dtype) {
        if (src != dst)
            memmove(dst, src, count * clconvt_dtype_size(src_dtype));
    } else {
        for (size_t i = 0; i < count; ++i)
            store_from_float(dst, dst_dtype, i, load_as_float(src, src_dtype, i));
    }
    clconvt_clear_error();
    return CLCONVT_SUCCESS;
}

/* The caller's arrays need not be aligned for uint16_t: every access goes through memcpy. */
static uint16_t load_u16(const void *src, size_t i) {
    uint16_t h;
    memcpy(&h, (const char *)src + 2 * i, 2);
    return h;
}

static void store_u16(void *dst, size_t i, uint16_t h) {
    memcpy((char *)dst + 2 * i, &h, 2);
}

void clconvt_dtype_load_run(const void *src, clconvt_dtype dtype, float *dst, size_t count) {
    switch (dtype) {
    case CLCONVT_F32: memcpy(dst, src, count * sizeof *dst); return;
    case CLCONVT_F16:
        for (size_t i = 0; i < count; ++i)
            dst[i] = half_to_float(load_u16(src, i));
        return;
    case CLCONVT_BF16:
        for (size_t i = 0; i < count; ++i)
            dst[i] = bf16_to_float(load_u16(src, i));
        return;
    }
}

void clconvt_dtype_round_run(float *v, clconvt_dtype dtype, size_t count) {
    switch (dtype) {
    case CLCONVT_F32: return;
    case CLCONVT_F16:
        for (size_t i = 0; i < count; ++i)
            v[i] = half_to_float(float_to_half(v[i]));
        return;
    case CLCONVT_BF16:
        for (size_t i = 0; i < count; ++i)
            v[i] = bf16_to_float(float_to_bf16(v[i]));
        return;
    }
}

void clconvt_dtype_store_run(const float *src, void *dst, clconvt_dtype dtype, size_t count) {
    switch (dtype) {
    case CLCONVT_F32: memcpy(dst, src, count * sizeof *src); return;
    case CLCONVT_F16:
        for (size_t i = 0; i < count; ++i)
            store_u16(dst, i, float_to_half(src[i]));
        return;
    case CLCONVT_BF16:
        for (size_t i = 0; i < count; ++i)
            store_u16(dst, i, float_to_bf16(src[i]));
        return;
    }
}
