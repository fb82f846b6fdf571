/*
 * Float64 reference for ConvTranspose1d, written as the SPEC's scatter (not the gather the kernels
 * use), so that the two derivations check each other, and the helpers that checking against it
 * needs: seeded random data, dtype rounding and the SPEC's error bound. Used by the tests and by
 * the tools that report an error against the reference (main job, bench, tune). The data helpers
 * call clconvt_convert, so whatever links this also links the library.
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

/*
 * The fused input activation of clconvt_layer_set_input_activation in float64, in place on x
 * (batch * Cin * length_in values in params->layout): y = reference_forward(activation(x)) is
 * the layer's result with that activation. alpha: the setter's parameters (Snake: one per input
 * channel; none for CLCONVT_ACTIVATION_NONE). Returns 0, or -1 for an unknown kind.
 */
int reference_activate(const clconvt_params *params, clconvt_activation kind, const double *alpha,
                       int64_t batch, int64_t length_in, double *x);

/* max|y - ref| / max(max|ref|, 1e-30): the SPEC's normalised error. */
double reference_normalised_error(const double *y, const double *ref, size_t count);

/* Convert a PyTorch-order weight (Cin, Cout_g, K) to MAX order (K, Cout_g, Cin), or back. */
void reference_weight_pytorch_to_max(const double *w_pt, double *w_max, int64_t in_channels,
                                     int64_t out_per_group, int64_t kernel_length);
void reference_weight_max_to_pytorch(const double *w_max, double *w_pt, int64_t in_channels,
                                     int64_t out_per_group, int64_t kernel_length);

/* The SPEC's normalised-error bound (section 6) for a storage dtype: f32 2e-5, f16 2e-3,
 * bf16 1.6e-2 (0 for a value that is not a clconvt_dtype). */
double reference_error_bound(clconvt_dtype dtype);

/* splitmix64: a small, well-mixed, seedable generator, the same on every platform (tests and
 * benchmarks must be reproducible). Advances *state and returns the next value. */
uint64_t reference_random_next(uint64_t *state);

/*
 * n values uniform in [-scale, scale), both signs, one reference_random_next draw each, computed
 * in double, rounded to float and then to what dtype stores (through clconvt_convert), so that the
 * reference sees exactly the library's inputs. f and d (either may be NULL) get the same values.
 * Returns CLCONVT_SUCCESS, or clconvt_convert's status when dtype is not a clconvt_dtype.
 */
clconvt_status reference_random_fill(uint64_t *state, double scale, clconvt_dtype dtype, float *f,
                                     double *d, size_t n);

/* n values stored as dtype (a library output, say) to double, exactly (through float).
 * Returns CLCONVT_SUCCESS, or clconvt_convert's status when dtype is not a clconvt_dtype. */
clconvt_status reference_from_storage(const void *storage, clconvt_dtype dtype, double *values,
                                      size_t n);

/* 64-bit FNV-1a of a NUL-terminated string: a seed from a name. */
uint64_t reference_hash(const char *text);

#endif
