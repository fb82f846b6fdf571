#include "reference.h"

#include <math.h>
#include <string.h>

int reference_forward(const clconvt_params *p, const double *x, const double *w, const double *bias,
                      int64_t batch, int64_t length_in, double *y) {
    /* Computed here, not by the library, so the reference does not trust the code it checks. */
    const int64_t length_out = (length_in - 1) * p->stride - p->pad_left - p->pad_right +
                               p->dilation * (p->kernel_length - 1) + p->output_padding + 1;
    if (length_in < 1 || length_out < 1 || p->groups < 1 || batch < 0)
        return -1;
    const int64_t cin = p->in_channels, cout = p->out_channels, k_len = p->kernel_length;
    const int64_t cin_g = cin / p->groups, cout_g = cout / p->groups;
    const int ncl = p->layout == CLCONVT_LAYOUT_NCL;
    memset(y, 0, (size_t)(batch * cout * length_out) * sizeof *y);
    for (int64_t n = 0; n < batch; ++n) {
        const double *xn = x + n * cin * length_in;
        double *yn = y + n * cout * length_out;
        for (int64_t ci = 0; ci < cin; ++ci) {
            const int64_t g = ci / cin_g;
            for (int64_t i = 0; i < length_in; ++i) {
                const double xv = ncl ? xn[ci * length_in + i] : xn[i * cin + ci];
                for (int64_t k = 0; k < k_len; ++k) {
                    const int64_t o = i * p->stride - p->pad_left + k * p->dilation;
                    if (o < 0 || o >= length_out)
                        continue;
                    for (int64_t cl = 0; cl < cout_g; ++cl) {
                        const int64_t co = g * cout_g + cl;
                        const double wv = w[(ci * cout_g + cl) * k_len + k];
                        yn[ncl ? co * length_out + o : o * cout + co] += xv * wv;
                    }
                }
            }
        }
        if (bias)
            for (int64_t co = 0; co < cout; ++co)
                for (int64_t o = 0; o < length_out; ++o)
                    yn[ncl ? co * length_out + o : o * cout + co] += bias[co];
    }
    return 0;
}

/* One value of channel c: written from the formulas of clconvt.h, not from the kernels'. */
static double activate(clconvt_activation kind, const double *alpha, int64_t c, double v) {
    switch (kind) {
    case CLCONVT_ACTIVATION_NONE: return v;
    case CLCONVT_ACTIVATION_LEAKY_RELU: return v >= 0 ? v : alpha[0] * v;
    case CLCONVT_ACTIVATION_ELU: return v > 0 ? v : alpha[0] * expm1(v);
    case CLCONVT_ACTIVATION_SNAKE: {
        const double s = sin(alpha[c] * v);
        return v + s * s / (alpha[c] + 1e-9);
    }
    }
    return NAN;
}

int reference_activate(const clconvt_params *p, clconvt_activation kind, const double *alpha,
                       int64_t batch, int64_t length_in, double *x) {
    if (kind < CLCONVT_ACTIVATION_NONE || kind > CLCONVT_ACTIVATION_SNAKE)
        return -1;
    const int64_t cin = p->in_channels;
    for (int64_t i = 0; i < batch * cin * length_in; ++i) {
        const int64_t c = p->layout == CLCONVT_LAYOUT_NCL ? i / length_in % cin : i % cin;
        x[i] = activate(kind, alpha, c, x[i]);
    }
    return 0;
}

double reference_normalised_error(const double *y, const double *ref, size_t count) {
    double max_diff = 0.0, max_ref = 0.0;
    for (size_t i = 0; i < count; ++i) {
        const double d = fabs(y[i] - ref[i]);
        /* A NaN anywhere must fail a comparison, not vanish in fmax. */
        if (isnan(d))
            return INFINITY;
        if (d > max_diff)
            max_diff = d;
        if (fabs(ref[i]) > max_ref)
            max_ref = fabs(ref[i]);
    }
    return max_diff / (max_ref > 1e-30 ? max_ref : 1e-30);
}

void reference_weight_pytorch_to_max(const double *w_pt, double *w_max, int64_t in_channels,
                                     int64_t out_per_group, int64_t kernel_length) {
    for (int64_t ci = 0; ci < in_channels; ++ci)
        for (int64_t c = 0; c < out_per_group; ++c)
            for (int64_t k = 0; k < kernel_length; ++k)
                w_max[(k * out_per_group + c) * in_channels + ci] =
                    w_pt[(ci * out_per_group + c) * kernel_length + k];
}

void reference_weight_max_to_pytorch(const double *w_max, double *w_pt, int64_t in_channels,
                                     int64_t out_per_group, int64_t kernel_length) {
    for (int64_t ci = 0; ci < in_channels; ++ci)
        for (int64_t c = 0; c < out_per_group; ++c)
            for (int64_t k = 0; k < kernel_length; ++k)
                w_pt[(ci * out_per_group + c) * kernel_length + k] =
                    w_max[(k * out_per_group + c) * in_channels + ci];
}

double reference_error_bound(clconvt_dtype dtype) {
    switch (dtype) {
    case CLCONVT_F32: return 2e-5;
    case CLCONVT_F16: return 2e-3;
    case CLCONVT_BF16: return 1.6e-2;
    }
    return 0.0;
}

uint64_t reference_random_next(uint64_t *state) {
    uint64_t z = (*state += UINT64_C(0x9e3779b97f4a7c15));
    z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
    return z ^ (z >> 31);
}

/* The data helpers work in chunks of this many values, so that they need no allocation. */
#define REFERENCE_CHUNK 512

clconvt_status reference_random_fill(uint64_t *state, double scale, clconvt_dtype dtype, float *f,
                                     double *d, size_t n) {
    float chunk[REFERENCE_CHUNK];
    unsigned char storage[REFERENCE_CHUNK * sizeof(float)];
    for (size_t start = 0; start < n; start += REFERENCE_CHUNK) {
        const size_t m = n - start < REFERENCE_CHUNK ? n - start : REFERENCE_CHUNK;
        for (size_t i = 0; i < m; ++i) {
            const double u = (double)(reference_random_next(state) >> 11) * 0x1.0p-53; /* [0, 1) */
            chunk[i] = (float)((2.0 * u - 1.0) * scale);
        }
        if (dtype != CLCONVT_F32) {
            clconvt_status st = clconvt_convert(chunk, CLCONVT_F32, storage, dtype, m);
            if (st == CLCONVT_SUCCESS)
                st = clconvt_convert(storage, dtype, chunk, CLCONVT_F32, m);
            if (st != CLCONVT_SUCCESS)
                return st;
        }
        for (size_t i = 0; i < m; ++i) {
            if (f)
                f[start + i] = chunk[i];
            if (d)
                d[start + i] = chunk[i];
        }
    }
    return CLCONVT_SUCCESS;
}

clconvt_status reference_from_storage(const void *storage, clconvt_dtype dtype, double *values,
                                      size_t n) {
    const unsigned char *bytes = storage;
    const size_t size = clconvt_dtype_size(dtype);
    float chunk[REFERENCE_CHUNK];
    for (size_t start = 0; start < n; start += REFERENCE_CHUNK) {
        const size_t m = n - start < REFERENCE_CHUNK ? n - start : REFERENCE_CHUNK;
        const clconvt_status st =
            clconvt_convert(bytes + start * size, dtype, chunk, CLCONVT_F32, m);
        if (st != CLCONVT_SUCCESS)
            return st;
        for (size_t i = 0; i < m; ++i)
            values[start + i] = chunk[i];
    }
    return CLCONVT_SUCCESS;
}

uint64_t reference_hash(const char *text) {
    uint64_t h = UINT64_C(0xcbf29ce484222325);
    for (const unsigned char *p = (const unsigned char *)text; *p; ++p)
        h = (h ^ *p) * UINT64_C(0x100000001b3);
    return h;
}
