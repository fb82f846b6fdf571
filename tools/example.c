/*
 * The smallest complete clconvt program, built against an installed clconvt:
 *
 *     cc example.c -o example $(pkg-config --cflags --libs clconvt)
 *
 * It runs the SPEC's hand-computed case on the default device (CLCONVT_DEVICE picks another):
 * x = arange(8) as (1, 2, 4), w = arange(12) as PyTorch's (Cin 2, Cout 2, K 3), bias [0, 1],
 * stride 2, padding 1, output_padding 1, and checks every output value. Prints "ok" and exits 0
 * when all match; otherwise says what differs (or what failed) and exits 1.
 */
#include <stdio.h>

#include <clconvt.h>

enum { CIN = 2, COUT = 2, K = 3, L_IN = 4, L_OUT = 8 };

/* The expected output, worked out by hand from the operator's definition. */
static const float expected[COUT][L_OUT] = {{28, 62, 36, 78, 44, 94, 52, 62},
                                            {41, 93, 55, 121, 69, 149, 83, 93}};

/* Prints a failed call's status and message; returns 1 for main's exit status. */
static int report(const char *call, clconvt_status status) {
    fprintf(stderr, "example: %s: %s: %s\n", call, clconvt_status_string(status),
            clconvt_last_error());
    return 1;
}

/* Compares y with the expected values; returns 0 when all match. */
static int check(const float *y) {
    int wrong = 0;
    for (int co = 0; co < COUT; ++co)
        for (int o = 0; o < L_OUT; ++o)
            if (y[co * L_OUT + o] != expected[co][o]) {
                fprintf(stderr, "example: y[%d][%d] = %g, expected %g\n", co, o, y[co * L_OUT + o],
                        expected[co][o]);
                wrong = 1;
            }
    return wrong;
}

int main(void) {
    float x[CIN * L_IN], w[CIN * COUT * K], y[COUT * L_OUT];
    const float b[COUT] = {0, 1};
    for (int i = 0; i < CIN * L_IN; ++i)
        x[i] = (float)i;
    for (int i = 0; i < CIN * COUT * K; ++i)
        w[i] = (float)i;

    clconvt_params p;
    clconvt_params_init(&p, CIN, COUT, K);
    p.stride = 2;
    p.pad_left = p.pad_right = 1;
    p.output_padding = 1;
    p.has_bias = 1;
    p.layout = CLCONVT_LAYOUT_NCL;

    int rc = 1;
    clconvt_device *device = NULL;
    clconvt_layer *layer = NULL;
    clconvt_status st = clconvt_device_open(CLCONVT_DEVICE_ANY, NULL, &device);
    if (st != CLCONVT_SUCCESS) {
        rc = report("clconvt_device_open", st);
        goto cleanup;
    }
    if ((st = clconvt_layer_create(device, &p, &layer)) != CLCONVT_SUCCESS ||
        (st = clconvt_layer_set_weight(layer, w, CLCONVT_WEIGHT_PYTORCH, CLCONVT_F32)) !=
            CLCONVT_SUCCESS ||
        (st = clconvt_layer_set_bias(layer, b, CLCONVT_F32)) != CLCONVT_SUCCESS ||
        (st = clconvt_layer_forward_host(layer, x, y, 1, L_IN)) != CLCONVT_SUCCESS) {
        rc = report("the layer (create, set weight and bias, forward)", st);
        goto cleanup;
    }
    rc = check(y);
    if (rc == 0)
        printf("ok\n");
cleanup:
    clconvt_layer_release(layer);
    clconvt_device_release(device);
    return rc;
}
