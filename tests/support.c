#include "support.h"

#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void support_fill(double *values, size_t n, uint64_t *state, clconvt_dtype dtype) {
    cr_assert_eq(reference_random_fill(state, 1.0, dtype, NULL, values, n), CLCONVT_SUCCESS,
                 "reference_random_fill: %s", clconvt_last_error());
}

clconvt_device *support_device(void) {
    static clconvt_device *device;
    if (device == NULL) {
        clconvt_status status = clconvt_device_open(CLCONVT_DEVICE_ANY, NULL, &device);
        cr_assert_eq(status, CLCONVT_SUCCESS, "clconvt_device_open: %s", clconvt_last_error());
    }
    return device;
}

int support_has_plan(const char *plan) {
    if (plan == NULL)
        return 1;
    char name[64];
    snprintf(name, sizeof name, "%.*s", (int)strcspn(plan, ":"), plan);
    return clconvt_has_path(name);
}

void support_require_plan(const char *plan) {
    if (!support_has_plan(plan))
        cr_skip_test("the plan \"%s\" needs a kernel path this build of clconvt does not have "
                     "(gemm: built without CLBlast, meson option -Dclblast)",
                     plan);
}

void *support_to_dtype(const double *values, size_t n, clconvt_dtype dtype) {
    float *f = malloc((n ? n : 1) * sizeof *f);
    void *out = malloc((n ? n : 1) * clconvt_dtype_size(dtype));
    cr_assert(f != NULL && out != NULL);
    for (size_t i = 0; i < n; ++i)
        f[i] = (float)values[i];
    cr_assert_eq(clconvt_convert(f, CLCONVT_F32, out, dtype, n), CLCONVT_SUCCESS);
    free(f);
    return out;
}

void support_from_dtype(const void *storage, size_t n, clconvt_dtype dtype, double *values) {
    cr_assert_eq(reference_from_storage(storage, dtype, values, n), CLCONVT_SUCCESS);
}

const char *support_describe(const clconvt_params *p, int64_t batch, int64_t length_in,
                             clconvt_weight_order order) {
    static char text[512];
    snprintf(text, sizeof text,
             "N=%lld Cin=%lld Cout=%lld K=%lld stride=%lld pad=(%lld,%lld) output_padding=%lld "
             "dilation=%lld groups=%lld bias=%d layout=%s weight=%s dtype=%s L_in=%lld",
             (long long)batch, (long long)p->in_channels, (long long)p->out_channels,
             (long long)p->kernel_length, (long long)p->stride, (long long)p->pad_left,
             (long long)p->pad_right, (long long)p->output_padding, (long long)p->dilation,
             (long long)p->groups, p->has_bias, p->layout == CLCONVT_LAYOUT_NCL ? "ncl" : "nlc",
             order == CLCONVT_WEIGHT_PYTORCH ? "pytorch" : "max", clconvt_dtype_name(p->dtype),
             (long long)length_in);
    return text;
}

void support_forward(const clconvt_params *p, const char *plan, int64_t batch, int64_t length_in,
                     clconvt_weight_order order, const double *x, const double *w, const double *b,
                     double *y) {
    support_forward_activated(p, plan, NULL, batch, length_in, order, x, w, b, y);
}

void support_forward_activated(const clconvt_params *p, const char *plan,
                               const support_activation *a, int64_t batch, int64_t length_in,
                               clconvt_weight_order order, const double *x, const double *w,
                               const double *b, double *y) {
    int64_t length_out = 0;
    const char *what = support_describe(p, batch, length_in, order);
    cr_assert_eq(clconvt_output_length(p, length_in, &length_out), CLCONVT_SUCCESS, "%s: %s", what,
                 clconvt_last_error());
    const size_t nx = (size_t)(batch * p->in_channels * length_in);
    const size_t ny = (size_t)(batch * p->out_channels * length_out);
    const size_t nw = (size_t)(p->in_channels * (p->out_channels / p->groups) * p->kernel_length);
    const size_t nb = (size_t)p->out_channels;
    clconvt_layer *layer = NULL;
    cr_assert_eq(clconvt_layer_create_with_plan(support_device(), p, plan, &layer), CLCONVT_SUCCESS,
                 "%s: %s", what, clconvt_last_error());
    void *w_storage = support_to_dtype(w, nw, p->dtype);
    void *b_storage = support_to_dtype(b, b ? nb : 0, p->dtype);
    void *x_storage = support_to_dtype(x, nx, p->dtype);
    const size_t elem = clconvt_dtype_size(p->dtype);
    unsigned char *y_storage = malloc((ny + 1) * elem);
    cr_assert(y_storage != NULL);
    /* A sentinel after the output catches writes past its end. */
    for (size_t i = 0; i < elem; ++i)
        y_storage[ny * elem + i] = 0xA5;
    cr_assert_eq(clconvt_layer_set_weight(layer, w_storage, order, p->dtype), CLCONVT_SUCCESS,
                 "%s: %s", what, clconvt_last_error());
    if (p->has_bias)
        cr_assert_eq(clconvt_layer_set_bias(layer, b_storage, p->dtype), CLCONVT_SUCCESS, "%s: %s",
                     what, clconvt_last_error());
    if (a != NULL)
        cr_assert_eq(clconvt_layer_set_input_activation(layer, a->kind, a->alpha, a->count),
                     CLCONVT_SUCCESS, "%s: %s", what, clconvt_last_error());
    cr_assert_eq(clconvt_layer_forward_host(layer, x_storage, y_storage, batch, length_in),
                 CLCONVT_SUCCESS, "%s: %s", what, clconvt_last_error());
    for (size_t i = 0; i < elem; ++i)
        cr_assert_eq(y_storage[ny * elem + i], 0xA5, "%s: wrote past the output", what);
    support_from_dtype(y_storage, ny, p->dtype, y);
    clconvt_layer_release(layer);
    free(w_storage);
    free(b_storage);
    free(x_storage);
    free(y_storage);
}

double support_run_case(const clconvt_params *p, int64_t batch, int64_t length_in,
                        clconvt_weight_order order, uint64_t seed) {
    return support_run_case_activated(p, NULL, NULL, batch, length_in, order, seed);
}

/* The reference's input: x activated as a says (nothing without one). */
static void activate_reference_input(const clconvt_params *p, const support_activation *a,
                                     int64_t batch, int64_t length_in, double *x) {
    if (a == NULL)
        return;
    double *alpha = malloc((size_t)(a->count + 1) * sizeof *alpha);
    cr_assert(alpha != NULL);
    for (int64_t i = 0; i < a->count; ++i)
        alpha[i] = a->alpha[i];
    cr_assert_eq(reference_activate(p, a->kind, alpha, batch, length_in, x), 0);
    free(alpha);
}

double support_run_case_activated(const clconvt_params *p, const char *plan,
                                  const support_activation *a, int64_t batch, int64_t length_in,
                                  clconvt_weight_order order, uint64_t seed) {
    int64_t length_out = 0;
    cr_assert_eq(clconvt_output_length(p, length_in, &length_out), CLCONVT_SUCCESS, "%s: %s",
                 support_describe(p, batch, length_in, order), clconvt_last_error());
    const size_t nx = (size_t)(batch * p->in_channels * length_in);
    const size_t ny = (size_t)(batch * p->out_channels * length_out);
    const size_t nw = (size_t)(p->in_channels * (p->out_channels / p->groups) * p->kernel_length);
    const size_t nb = (size_t)p->out_channels;
    double *x = malloc((nx + 1) * sizeof *x), *w = malloc(nw * sizeof *w);
    double *w_given = malloc(nw * sizeof *w_given), *b = malloc(nb * sizeof *b);
    double *ref = malloc((ny + 1) * sizeof *ref), *y = malloc((ny + 1) * sizeof *y);
    cr_assert(x && w && w_given && b && ref && y);
    uint64_t state = seed;
    support_fill(x, nx, &state, p->dtype);
    support_fill(w, nw, &state, p->dtype);
    support_fill(b, nb, &state, p->dtype);
    if (order == CLCONVT_WEIGHT_MAX)
        reference_weight_pytorch_to_max(w, w_given, p->in_channels, p->out_channels / p->groups,
                                        p->kernel_length);
    else
        for (size_t i = 0; i < nw; ++i)
            w_given[i] = w[i];
    support_forward_activated(p, plan, a, batch, length_in, order, x, w_given, b, y);
    activate_reference_input(p, a, batch, length_in, x);
    cr_assert_eq(reference_forward(p, x, w, p->has_bias ? b : NULL, batch, length_in, ref), 0);
    const double error = reference_normalised_error(y, ref, ny);
    free(x);
    free(w);
    free(w_given);
    free(b);
    free(ref);
    free(y);
    return error;
}
