/* Helpers shared by the test suites: seeded random data, the test device, and running one layer
 * case on the library and on the float64 reference. */
#ifndef CLCONVT_TEST_SUPPORT_H
#define CLCONVT_TEST_SUPPORT_H

#include <stddef.h>
#include <stdint.h>

#include "clconvt.h"
#include "reference.h"

/* The SPEC's error bound, the seeded generator (reference_random_next) and the data helpers are
 * in reference.h, shared with the tools. */

/* n values uniform in [-1, 1), both signs, rounded to what dtype can store exactly
 * (reference_random_fill); fails the test on an error. */
void support_fill(double *values, size_t n, uint64_t *state, clconvt_dtype dtype);

/* The device the suites run on (CLCONVT_DEVICE, else any), opened once per process; a failure to
 * open fails the calling test with the library's message. */
clconvt_device *support_device(void);

/* Skip the calling test (cr_skip_test, with a message) when this build of the library lacks the
 * kernel path that the plan string names: "gemm" needs CLBlast (meson option -Dclblast). NULL, the
 * planner's choice, needs nothing. */
void support_require_plan(const char *plan);

/* Whether this build has the path that the plan string names (1 for NULL). */
int support_has_plan(const char *plan);

/* Convert doubles (already representable) to dtype storage and back. */
void *support_to_dtype(const double *values, size_t n, clconvt_dtype dtype);
void support_from_dtype(const void *storage, size_t n, clconvt_dtype dtype, double *values);

/* Run a layer on the library with forward_host: the plan forced unless NULL (then the planner's
 * choice, or CLCONVT_PLAN's), x, the weight w (in the given order) and the bias b (used when
 * params->has_bias) as doubles already representable in params->dtype; y gets the output. Fails
 * the test on any library error or a write past the output. */
void support_forward(const clconvt_params *params, const char *plan, int64_t batch,
                     int64_t length_in, clconvt_weight_order order, const double *x,
                     const double *w, const double *b, double *y);

/* An input activation for support_forward_activated (clconvt_layer_set_input_activation's
 * arguments). */
typedef struct support_activation {
    clconvt_activation kind;
    const float *alpha;
    int64_t count;
} support_activation;

/* support_forward with the input activation a set on the layer (NULL: none). */
void support_forward_activated(const clconvt_params *params, const char *plan,
                               const support_activation *a, int64_t batch, int64_t length_in,
                               clconvt_weight_order order, const double *x, const double *w,
                               const double *b, double *y);

/* One case: random x, weight (in the given order) and bias; run the library with forward_host and
 * the reference; return the normalised error. Fails the test on any library error. */
double support_run_case(const clconvt_params *params, int64_t batch, int64_t length_in,
                        clconvt_weight_order order, uint64_t seed);

/* support_run_case with the plan forced unless NULL and the input activation a (NULL: none),
 * against the reference of the composition (reference_activate, then reference_forward). */
double support_run_case_activated(const clconvt_params *params, const char *plan,
                                  const support_activation *a, int64_t batch, int64_t length_in,
                                  clconvt_weight_order order, uint64_t seed);

/* A one-line description of a case, for failure messages. */
const char *support_describe(const clconvt_params *params, int64_t batch, int64_t length_in,
                             clconvt_weight_order order);

#endif
