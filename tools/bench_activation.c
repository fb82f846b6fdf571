/*
 * clconvt-bench-activation: the cost of a fused input activation (issue 15). For every row of a
 * shapes table, two layers of the same parameters and data, one plain and one with the
 * activation fused (clconvt_layer_set_input_activation), are timed interleaved (ABAB...,
 * harness_measure) with clconvt_layer_forward + clFinish on device buffers, after warm-ups; it
 * prints the medians and the ratio fused / plain, the goal being <= 1.05. Timings only:
 * the activation suite checks the results against the float64 reference.
 *
 * usage: clconvt-bench-activation --shapes FILE.csv [--activation leaky_relu|elu|snake|none]
 *                                 [--device SEL] [--repeat N] [--filter SUBSTRING]
 * Exit status 0, 1 when a row failed, 2 on a usage error.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clconvt.h"
#include "harness.h"
#include "reference.h"
#include "shapes.h"
#include "tool_util.h"

#define WARMUP 2
#define SEED UINT64_C(0xbe9c4c0417d3a5e1)

static const char *const program = "clconvt-bench-activation";

typedef struct options {
    const char *shapes, *selector, *filter;
    clconvt_activation kind;
    int64_t repeat;
} options;

static int usage_error(const char *message) {
    fprintf(stderr,
            "%s: %s\nusage: %s --shapes FILE.csv [--activation leaky_relu|elu|snake|none] "
            "[--device SEL] [--repeat N] [--filter SUBSTRING]\n",
            program, message, program);
    return 2;
}

static int parse(int argc, char **argv, options *o) {
    *o = (options){.kind = CLCONVT_ACTIVATION_LEAKY_RELU, .repeat = 10};
    static const char *const kinds[] = {"none", "leaky_relu", "elu", "snake"};
    for (int i = 1; i < argc; i += 2) {
        const char *arg = argv[i], *value = i + 1 < argc ? argv[i + 1] : NULL;
        if (value == NULL)
            return usage_error("every option takes a value");
        if (strcmp(arg, "--shapes") == 0)
            o->shapes = value;
        else if (strcmp(arg, "--device") == 0)
            o->selector = value;
        else if (strcmp(arg, "--filter") == 0)
            o->filter = value;
        else if (strcmp(arg, "--repeat") == 0) {
            if (tool_parse_integer(value, 1, 100000, &o->repeat) != 0)
                return usage_error("--repeat takes an integer in 1..100000");
        } else if (strcmp(arg, "--activation") == 0) {
            int k = 0; /* none: two plain layers, an A/A run that shows the noise */
            while (k < 4 && strcmp(value, kinds[k]) != 0)
                ++k;
            if (k == 4)
                return usage_error("--activation takes leaky_relu, elu, snake or none");
            o->kind = (clconvt_activation)k;
        } else
            return usage_error("unknown option");
    }
    return o->shapes ? 0 : usage_error("--shapes is required");
}

/* The activation's parameters: HiFi-GAN's slope 0.1, ELU's 1, Snake alphas near 1 by channel. */
static clconvt_status set_activation(clconvt_layer *layer, clconvt_activation kind, int64_t cin) {
    float *alpha = malloc((size_t)cin * sizeof *alpha);
    if (alpha == NULL)
        return CLCONVT_ERROR_OUT_OF_HOST_MEMORY;
    for (int64_t c = 0; c < cin; ++c)
        alpha[c] = kind == CLCONVT_ACTIVATION_LEAKY_RELU ? 0.1f
                   : kind == CLCONVT_ACTIVATION_ELU      ? 1.0f
                                                         : 0.5f + (float)(c % 8) * 0.125f;
    const int64_t count = kind == CLCONVT_ACTIVATION_SNAKE  ? cin
                          : kind == CLCONVT_ACTIVATION_NONE ? 0
                                                            : 1;
    const clconvt_status st = clconvt_layer_set_input_activation(layer, kind, alpha, count);
    free(alpha);
    return st;
}

/* One row: 0 after printing its line, or -1 after printing why not. */
static int run_row(clconvt_device *device, const shapes_row *row, const options *o) {
    harness_data d = {0};
    harness_buffers b = {0};
    clconvt_layer *plain = NULL, *fused = NULL;
    harness_timing tp = {0}, tf = {0};
    char why[1024] = "";
    int rc = -1;
    clconvt_status st = CLCONVT_SUCCESS;
    if (harness_data_make(&d, &row->params, row->batch, row->length_in,
                          SEED ^ reference_hash(row->name), why, sizeof why) != 0)
        goto cleanup;
    if ((st = clconvt_layer_create(device, &row->params, &plain)) != CLCONVT_SUCCESS ||
        (st = clconvt_layer_create(device, &row->params, &fused)) != CLCONVT_SUCCESS ||
        (st = harness_stage(&d, plain)) != CLCONVT_SUCCESS ||
        (st = harness_stage(&d, fused)) != CLCONVT_SUCCESS ||
        (st = set_activation(fused, o->kind, row->params.in_channels)) != CLCONVT_SUCCESS) {
        snprintf(why, sizeof why, "%s", clconvt_last_error());
        goto cleanup;
    }
    if (harness_buffers_open(&b, device, &d, 0, why, sizeof why) != 0)
        goto cleanup;
    for (int w = 0; w < WARMUP; ++w)
        if (harness_time_forward(&b, &d, plain, why, sizeof why) < 0 ||
            harness_time_forward(&b, &d, fused, why, sizeof why) < 0)
            goto cleanup;
    if (harness_measure(&b, &d, plain, fused, (int)o->repeat, &tp, &tf, why, sizeof why) != 0)
        goto cleanup;
    /* The minima too: on a loaded machine they are steadier than the medians. */
    printf("%s,%s,%.4f,%.4f,%.3f,%.4f,%.4f,%.3f\n", row->label, clconvt_layer_plan_name(plain),
           tp.median * 1e3, tf.median * 1e3, tp.median > 0 ? tf.median / tp.median : 0.0,
           tp.min * 1e3, tf.min * 1e3, tp.min > 0 ? tf.min / tp.min : 0.0);
    fflush(stdout);
    rc = 0;
cleanup:
    if (rc != 0)
        fprintf(stderr, "%s: row '%s': %s\n", program, row->label, why);
    harness_buffers_release(&b);
    clconvt_layer_release(plain);
    clconvt_layer_release(fused);
    harness_data_free(&d);
    return rc;
}

int main(int argc, char **argv) {
    options o;
    const int parsed = parse(argc, argv, &o);
    if (parsed != 0)
        return parsed;
    shapes_row *rows = NULL;
    size_t count = 0;
    if (shapes_read(program, o.shapes, -1, &rows, &count) != 0)
        return 1;
    clconvt_device *device = NULL;
    if (clconvt_device_open(CLCONVT_DEVICE_ANY, o.selector, &device) != CLCONVT_SUCCESS) {
        fprintf(stderr, "%s: %s\n", program, clconvt_last_error());
        free(rows);
        return 1;
    }
    printf("name,plan,plain_median_ms,fused_median_ms,fused_over_plain,plain_min_ms,"
           "fused_min_ms,fused_over_plain_min\n");
    int failed = 0;
    for (size_t i = 0; i < count; ++i)
        if (o.filter == NULL || strstr(rows[i].label, o.filter) != NULL)
            failed |= run_row(device, &rows[i], &o) != 0;
    clconvt_device_release(device);
    free(rows);
    return failed ? 1 : 0;
}
