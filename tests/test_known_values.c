/*
 * SPEC section 5: outputs known without running anything, through the public C API. The values are
 * small integers, exact in fp32, so the comparison is exact equality. Each example runs in PyTorch
 * layout (NCL) with a PyTorch-order weight and in channels-last layout (NLC) with a MAX-order
 * weight (the PyTorch array with its axes reversed).
 */
#include <criterion/criterion.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clconvt.h"

typedef struct example {
    const char *name;
    int64_t cin, cout, kernel, stride, padding, output_padding, length_in;
    int has_bias;
    int arange;            /* 1: x, w, bias = arange; 0: x, w = ones */
    const float *expected; /* (Cout, L_out), PyTorch layout */
    int64_t length_out;
} example;

static const float EXPECTED_A[] = {28, 62, 36, 78,  44, 94,  52, 62,
                                   41, 93, 55, 121, 69, 149, 83, 93};
static const float EXPECTED_B[] = {1, 1, 1, 1};

/* Cin 2 -> Cout 2, K 3, padding 1, output_padding 1, stride 2, bias; x (1, 2, 4). */
static const example EXAMPLE_A = {"SPEC 5 arange", 2, 2, 3, 2, 1, 1, 4, 1, 1, EXPECTED_A, 8};
/* x = ones(1, 1, 2), w = ones(1, 1, 2), stride 2, no bias. */
static const example EXAMPLE_B = {"SPEC 5 ones", 1, 1, 2, 2, 0, 0, 2, 0, 0, EXPECTED_B, 4};

static void run_example(const example *ex, clconvt_layout layout, clconvt_weight_order order) {
    char where[64];
    snprintf(where, sizeof where, "%s, %s-order weight",
             layout == CLCONVT_LAYOUT_NCL ? "NCL" : "NLC",
             order == CLCONVT_WEIGHT_PYTORCH ? "PyTorch" : "MAX");

    const int64_t cin = ex->cin, cout = ex->cout, k_len = ex->kernel, len = ex->length_in;
    const int64_t lout = ex->length_out;
    float x_ncl[64], x[64], w_pt[64], w[64], bias[8], y[64];
    cr_assert(cin * len <= 64 && cin * cout * k_len <= 64 && cout <= 8 && cout * lout <= 64);

    /* PyTorch-layout input and PyTorch-order weight: arange or ones. */
    for (int64_t i = 0; i < cin * len; ++i)
        x_ncl[i] = ex->arange ? (float)i : 1.0f;
    for (int64_t i = 0; i < cin * cout * k_len; ++i)
        w_pt[i] = ex->arange ? (float)i : 1.0f;
    for (int64_t i = 0; i < cout; ++i)
        bias[i] = (float)i;

    for (int64_t c = 0; c < cin; ++c)
        for (int64_t i = 0; i < len; ++i)
            x[layout == CLCONVT_LAYOUT_NCL ? c * len + i : i * cin + c] = x_ncl[c * len + i];
    /* groups = 1: PyTorch (Cin, Cout, K) -> MAX (K, Cout, Cin). */
    for (int64_t ci = 0; ci < cin; ++ci)
        for (int64_t co = 0; co < cout; ++co)
            for (int64_t k = 0; k < k_len; ++k) {
                const float v = w_pt[(ci * cout + co) * k_len + k];
                if (order == CLCONVT_WEIGHT_PYTORCH)
                    w[(ci * cout + co) * k_len + k] = v;
                else
                    w[(k * cout + co) * cin + ci] = v;
            }

    clconvt_device *dev = NULL;
    clconvt_status st = clconvt_device_open(CLCONVT_DEVICE_ANY, NULL, &dev);
    cr_assert(st == CLCONVT_SUCCESS, "clconvt_device_open: %s: %s", clconvt_status_string(st),
              clconvt_last_error());

    clconvt_params p;
    clconvt_params_init(&p, cin, cout, k_len);
    p.stride = ex->stride;
    p.pad_left = p.pad_right = ex->padding;
    p.output_padding = ex->output_padding;
    p.has_bias = ex->has_bias;
    p.layout = layout;
    p.dtype = CLCONVT_F32;

    int64_t got_lout = 0;
    st = clconvt_output_length(&p, len, &got_lout);
    cr_assert(st == CLCONVT_SUCCESS && got_lout == lout,
              "%s (%s): clconvt_output_length: %s, %lld (expected %lld)", ex->name, where,
              clconvt_status_string(st), (long long)got_lout, (long long)lout);

    clconvt_layer *layer = NULL;
    st = clconvt_layer_create(dev, &p, &layer);
    cr_assert(st == CLCONVT_SUCCESS, "%s (%s): clconvt_layer_create: %s: %s", ex->name, where,
              clconvt_status_string(st), clconvt_last_error());
    st = clconvt_layer_set_weight(layer, w, order, CLCONVT_F32);
    cr_assert(st == CLCONVT_SUCCESS, "%s (%s): clconvt_layer_set_weight: %s: %s", ex->name, where,
              clconvt_status_string(st), clconvt_last_error());
    if (ex->has_bias) {
        st = clconvt_layer_set_bias(layer, bias, CLCONVT_F32);
        cr_assert(st == CLCONVT_SUCCESS, "%s (%s): clconvt_layer_set_bias: %s: %s", ex->name, where,
                  clconvt_status_string(st), clconvt_last_error());
    }
    for (int64_t i = 0; i < cout * lout; ++i)
        y[i] = NAN;
    st = clconvt_layer_forward_host(layer, x, y, 1, len);
    cr_assert(st == CLCONVT_SUCCESS, "%s (%s): clconvt_layer_forward_host: %s: %s", ex->name, where,
              clconvt_status_string(st), clconvt_last_error());

    char got[512] = "";
    int mismatches = 0;
    for (int64_t co = 0; co < cout; ++co)
        for (int64_t o = 0; o < lout; ++o) {
            const float v = y[layout == CLCONVT_LAYOUT_NCL ? co * lout + o : o * cout + co];
            if (!(v == ex->expected[co * lout + o]))
                ++mismatches;
            const size_t used = strlen(got);
            snprintf(got + used, sizeof got - used, "%s%g", o == 0 ? (co == 0 ? "[" : "],[") : ",",
                     (double)v);
        }
    const size_t used = strlen(got);
    snprintf(got + used, sizeof got - used, "]");
    cr_expect(mismatches == 0, "%s (%s): %d of %lld outputs differ; got (Cout x L_out) %s",
              ex->name, where, mismatches, (long long)(cout * lout), got);

    clconvt_layer_release(layer);
    clconvt_device_release(dev);
}

Test(known_values, arange_ncl_pytorch_weight) {
    run_example(&EXAMPLE_A, CLCONVT_LAYOUT_NCL, CLCONVT_WEIGHT_PYTORCH);
}

Test(known_values, arange_nlc_max_weight) {
    run_example(&EXAMPLE_A, CLCONVT_LAYOUT_NLC, CLCONVT_WEIGHT_MAX);
}

Test(known_values, ones_ncl_pytorch_weight) {
    run_example(&EXAMPLE_B, CLCONVT_LAYOUT_NCL, CLCONVT_WEIGHT_PYTORCH);
}

Test(known_values, ones_nlc_max_weight) {
    run_example(&EXAMPLE_B, CLCONVT_LAYOUT_NLC, CLCONVT_WEIGHT_MAX);
}
