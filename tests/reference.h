/*
 * Float64 reference for ConvTranspose1d, written as the SPEC's scatter (not the gather the kernels
 * use), so that the two derivations check each other. Used by the tests and by the tools that
 * report an error against the reference (main job, bench).
 */
#ifndef CLCONVT_REFERENCE_H
#define CLCONVT_REFERENCE_H

#include <stddef.h>
#include <stdint.h>

#include "clconvt.h"

/*
 * y = conv_transpose1d(x, w, bias) in float64.
 * x: batch * Cin * length_in values in params->layout; w: Cin * (Cout/groups) * K values in
 * PyTorch order (Cin, Cout/groups, K); bias: Cout values or NULL; y: batch * Cout * L_out values in
 * params->layout, overwritten. Returns 0, or -1 when the parameters or length are invalid.
 */
int reference_forward(const clconvt_params *params, const double *x, const double *w,
                      const double *bias, int64_t batch, int64_t length_in, double *y);

/* max|y - ref| / max(max|ref|, 1e-30): the SPEC's normalised error. */
double reference_normalised_error(const double *y, const double *ref, size_t count);

/* Convert a PyTorch-order weight (Cin, Cout_g, K) to MAX order (K, Cout_g, Cin), or back. */
void reference_weight_pytorch_to_max(const double *w_pt, double *w_max, int64_t in_channels,
                                     int64_t out_per_group, int64_t kernel_length);
void reference_weight_max_to_pytorch(const double *w_max, double *w_pt, int64_t in_channels,
                                     int64_t out_per_group, int64_t kernel_length);

#endif
