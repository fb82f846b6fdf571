/*
 * clconvt-demo: the main job. Runs HiFi-GAN V1's first upsampling layer (ConvTranspose1d 512 ->
 * 256, K 16, stride 8, padding 4, bias; PyTorch layout and weight order) on the default OpenCL
 * device, times it, and checks it against the float64 reference. Exit status 0 when the normalised
 * error is within the SPEC's fp32 bound, 1 when it is not or when anything fails, 2 for a usage
 * error.
 */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clconvt.h"
#include "harness.h"
#include "reference.h"
#include "tool_util.h"

/* HiFi-GAN V1, generator.ups[0]: upsample_initial_channel 512, rates [8, 8, 2, 2], kernels 2x. */
#define DEMO_CIN 512
#define DEMO_COUT 256
#define DEMO_K 16
#define DEMO_STRIDE 8
#define DEMO_PADDING 4
#define DEMO_BATCH 1
#define DEMO_SEED UINT64_C(0x5eed0c0417)
#define DEMO_MAX_LENGTH (INT64_C(1) << 24)
#define DEMO_MAX_REPEAT 100000

static void usage(FILE *to) {
    fprintf(
        to,
        "usage: clconvt-demo [--device SEL] [--length N] [--repeat N] [--help]\n"
        "\n"
        "Runs HiFi-GAN V1's first upsampling layer (ConvTranspose1d Cin 512 -> Cout 256, K 16,\n"
        "stride 8, padding 4, bias; layout ncl, PyTorch weight order, f32) on random data,\n"
        "times it and checks it against a float64 reference.\n"
        "\n"
        "  --device SEL  gpu, cpu, any, P:D or a device/platform name substring\n"
        "                (default: a GPU if there is one, else a CPU; CLCONVT_DEVICE overrides)\n"
        "  --length N    input length in frames (default 256)\n"
        "  --repeat N    timed forwards after the warm-up; the median is reported (default 10)\n"
        "  --help        this text\n"
        "\n"
        "Exit status: 0 when the normalised error is <= %.0e, 1 otherwise or on failure,\n"
        "2 on a usage error.\n",
        reference_error_bound(CLCONVT_F32));
}

/* Parse a decimal integer in [min, max]; 0 on success. */
static int parse_int(const char *option, const char *text, int64_t min, int64_t max, int64_t *out) {
    if (tool_parse_integer(text, min, max, out) == 0)
        return 0;
    fprintf(stderr, "clconvt-demo: %s wants an integer in [%" PRId64 ", %" PRId64 "], got '%s'\n",
            option, min, max, text);
    return -1;
}

static int fail(const char *what, clconvt_status status) {
    fprintf(stderr, "clconvt-demo: %s failed (%s): %s\n", what, clconvt_status_string(status),
            clconvt_last_error());
    return 1;
}

int main(int argc, char **argv) {
    const char *selector = NULL;
    int64_t length_in = 256, repeat = 10;

    for (int a = 1; a < argc; ++a) {
        const char *arg = argv[a];
        if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) {
            usage(stdout);
            return 0;
        }
        const int takes_value = strcmp(arg, "--device") == 0 || strcmp(arg, "--length") == 0 ||
                                strcmp(arg, "--repeat") == 0;
        if (!takes_value) {
            fprintf(stderr, "clconvt-demo: unknown option '%s'\n", arg);
            usage(stderr);
            return 2;
        }
        if (a + 1 >= argc) {
            fprintf(stderr, "clconvt-demo: %s needs a value\n", arg);
            return 2;
        }
        const char *value = argv[++a];
        if (strcmp(arg, "--device") == 0)
            selector = value;
        else if (strcmp(arg, "--length") == 0) {
            if (parse_int(arg, value, 1, DEMO_MAX_LENGTH, &length_in) != 0)
                return 2;
        } else if (parse_int(arg, value, 1, DEMO_MAX_REPEAT, &repeat) != 0)
            return 2;
    }

    int rc = 1;
    clconvt_device *device = NULL;
    clconvt_layer *layer = NULL;
    harness_data d = {0};
    double *times = NULL;
    char why[512];

    clconvt_params params;
    clconvt_params_init(&params, DEMO_CIN, DEMO_COUT, DEMO_K);
    params.stride = DEMO_STRIDE;
    params.pad_left = params.pad_right = DEMO_PADDING;
    params.has_bias = 1;
    params.layout = CLCONVT_LAYOUT_NCL;
    params.dtype = CLCONVT_F32;

    /* Bounded by DEMO_MAX_LENGTH, so none of the element counts can overflow a 64-bit size_t. */
    if ((times = malloc((size_t)repeat * sizeof *times)) == NULL)
        snprintf(why, sizeof why, "out of host memory");
    if (times == NULL ||
        harness_data_make(&d, &params, DEMO_BATCH, length_in, DEMO_SEED, why, sizeof why) != 0) {
        fprintf(stderr, "clconvt-demo: preparing the data for length %" PRId64 " failed: %s\n",
                length_in, why);
        goto cleanup;
    }
    const int64_t length_out = d.length_out;

    clconvt_status st = clconvt_device_open(CLCONVT_DEVICE_ANY, selector, &device);
    if (st != CLCONVT_SUCCESS) {
        rc = fail("clconvt_device_open", st);
        goto cleanup;
    }
    clconvt_device_info info;
    st = clconvt_device_get_info(device, &info);
    if (st != CLCONVT_SUCCESS) {
        rc = fail("clconvt_device_get_info", st);
        goto cleanup;
    }

    st = clconvt_layer_create(device, &params, &layer);
    if (st != CLCONVT_SUCCESS) {
        rc = fail("clconvt_layer_create", st);
        goto cleanup;
    }
    st = harness_stage(&d, layer);
    if (st != CLCONVT_SUCCESS) {
        rc = fail("staging the weight and bias", st);
        goto cleanup;
    }

    printf("clconvt-demo: HiFi-GAN V1 first upsampling layer (ConvTranspose1d)\n");
    printf("device     : %s (platform %s, %s, driver %s, %" PRIu32 " compute units)\n", info.name,
           info.platform, tool_device_type_name(info.type), info.driver_version,
           info.compute_units);
    printf("layer      : Cin %d -> Cout %d, K %d, stride %d, padding %d, bias, f32\n", DEMO_CIN,
           DEMO_COUT, DEMO_K, DEMO_STRIDE, DEMO_PADDING);
    printf("input      : (%d, %d, %" PRId64 ") layout ncl (N, Cin, L_in)\n", DEMO_BATCH, DEMO_CIN,
           length_in);
    printf("weight     : (%d, %d, %d) PyTorch order (Cin, Cout, K)\n", DEMO_CIN, DEMO_COUT, DEMO_K);
    printf("output     : (%d, %d, %" PRId64 ") layout ncl (N, Cout, L_out)\n", DEMO_BATCH,
           DEMO_COUT, length_out);
    printf("plan       : %s\n", clconvt_layer_plan_name(layer));
    fflush(stdout);

    double t0 = tool_now_seconds();
    st = clconvt_layer_forward_host(layer, d.input, d.output, DEMO_BATCH, length_in);
    const double first = tool_now_seconds() - t0;
    if (st != CLCONVT_SUCCESS) {
        rc = fail("clconvt_layer_forward_host (warm-up)", st);
        goto cleanup;
    }
    printf("first call : %.3f ms (includes the kernel compile)\n", first * 1e3);
    fflush(stdout);

    for (int64_t r = 0; r < repeat; ++r) {
        t0 = tool_now_seconds();
        st = clconvt_layer_forward_host(layer, d.input, d.output, DEMO_BATCH, length_in);
        times[r] = tool_now_seconds() - t0;
        if (st != CLCONVT_SUCCESS) {
            rc = fail("clconvt_layer_forward_host", st);
            goto cleanup;
        }
    }
    const double median = tool_median(times, (size_t)repeat); /* sorts: times[0] is the min */
    const double flops = 2.0 * DEMO_BATCH * (double)length_in * DEMO_CIN * DEMO_COUT * DEMO_K /
                         (double)params.groups;
    printf("median     : %.3f ms over %" PRId64
           " forwards (min %.3f ms, forward_host on host memory)\n",
           median * 1e3, repeat, times[0] * 1e3);
    printf("throughput : %.2f GFLOP/s (2*N*L_in*Cin*Cout/groups*K = %.3g FLOP)\n",
           flops / median * 1e-9, flops);

    const double err = harness_error(&d, d.output);
    double max_abs = 0.0;
    for (size_t i = 0; i < d.n_y; ++i) {
        const double diff = fabs(d.y[i] - d.ref[i]);
        if (isnan(diff) || isnan(max_abs))
            max_abs = NAN; /* a NaN anywhere shows, rather than vanishing in a max */
        else if (diff > max_abs)
            max_abs = diff;
    }
    const double bound = reference_error_bound(params.dtype);
    const int ok = err <= bound;
    printf("error      : normalised %.3e, max abs %.3e (bound %.0e vs float64 reference): %s\n",
           err, max_abs, bound, ok ? "OK" : "FAIL");
    rc = ok ? 0 : 1;

cleanup:
    clconvt_layer_release(layer);
    clconvt_device_release(device);
    harness_data_free(&d);
    free(times);
    return rc;
}
