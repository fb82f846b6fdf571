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
