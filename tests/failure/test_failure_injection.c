/*
 * Failure injection: make the Nth OpenCL call fail, for every N, across a whole use of the library
 * (device_open or device_wrap, layer_create, set_weight, set_bias, get_weight, forward_host,
 * forward, a batch-0 forward, layer_release, device_release), for several layers and with the
 * on-disk program cache off and warm. The OpenCL calls go through cl_shim.c, linked into this
 * executable.
 *
 * For every N:
 * - the step that met the failure returns an error status whose message names the failed OpenCL
 *   call (or absorbs the failure and still computes the right result: the disk cache may);
 * - a failed forward_host left its output untouched (unless its work was split into pieces:
 *   then the pieces before the failure may have been written, as clconvt.h says; or the call that
 *   failed maps the output back after the kernels wrote it in place, on a CPU device);
 * - retrying the failed step then succeeds and the rest of the sequence computes the right numbers
 *   (the float64 reference): the device and the layer stay usable;
 * - once everything is released, no OpenCL object has a reference left and none was released
 *   twice (cl_shim's counts), the device's allocated_bytes was back at 0 after the layer's release,
 *   and, under AddressSanitizer, LeakSanitizer finds no leak.
 *
 * Output: TAP ("ok N - ..."), one line per injected call; exit status 0 when all passed.
 * Usage: test_failure_injection [--list-shimmed] [--quick]
 */
#define _GNU_SOURCE /* mkdtemp, setenv */

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cl_shim.h"
#include "clconvt.h"
#include "reference.h"

/* LeakSanitizer's on-demand check, present only in sanitized builds. */
int __lsan_do_recoverable_leak_check(void) __attribute__((weak));

/* ---- Cases --------------------------------------------------------------------------------- */

typedef struct variant {
    const char *name;
    int wrap;              /* clconvt_device_wrap on the test's own context and queue */
    const char *max_alloc; /* CLCONVT_MAX_ALLOC_BYTES: forward_host splits its work */
    int64_t cin, cout, k, stride, pad_left, pad_right, output_padding, dilation, groups;
    clconvt_layout layout;
    int64_t batch, length;
    /* forward_host may have written part of its output when it fails (split work: the pieces
     * before the failing one, as clconvt.h documents); otherwise a failure leaves out untouched. */
    int partial_writes;
    /* The path of the plan a tuning database gives this layer (NULL: no database). A failure
     * while that plan's program is prepared must be absorbed: the layer takes the built-in plan. */
    const char *tuned_path;
    /* Nonzero: the layer has a Snake input activation (one alpha per input channel). */
    int snake;
} variant;

/* The class and the plan of the "tuned" variant's database entry: the scalar phase path, which
 * is never the built-in choice for 8 output channels per group. */
#define TUNED_CLASS "ncl/f32/s2/cin16/cout8/taps2/g1"
#define TUNED_PLAN "phase:p=2,c=4,lp=2,lc=3"

static const variant variants[] = {
    /* NCL with bias: phase_pos on a CPU. */
    {"ncl", 0, NULL, 3, 5, 4, 2, 1, 1, 0, 1, 1, CLCONVT_LAYOUT_NCL, 2, 19, 0, NULL, 0},
    /* The caller's queue; NLC, groups, dilation, output padding: phase_chan. */
    {"wrap-nlc-groups", 1, NULL, 4, 32, 3, 3, 2, 0, 1, 2, 2, CLCONVT_LAYOUT_NLC, 1, 11, 0, NULL, 0},
    /* Depthwise NLC. */
    {"depthwise", 0, NULL, 16, 16, 4, 2, 1, 1, 0, 1, 16, CLCONVT_LAYOUT_NLC, 1, 9, 0, NULL, 0},
    /* forward_host in pieces (CLCONVT_MAX_ALLOC_BYTES: ranges of positions of one sample): each
     * failure in each piece, and then a correct result on retry. */
    {"split", 0, "600", 3, 5, 4, 2, 1, 1, 0, 1, 1, CLCONVT_LAYOUT_NCL, 3, 19, 1, NULL, 0},
    /* A tuning database's plan (class TUNED_CLASS) that may fail to build. */
    {"tuned", 0, NULL, 16, 8, 4, 2, 1, 1, 0, 1, 1, CLCONVT_LAYOUT_NCL, 1, 13, 0, "phase", 0},
    /* A fused input activation: its program and its alphas' buffer may fail. */
    {"snake", 0, NULL, 3, 5, 4, 2, 1, 1, 0, 1, 1, CLCONVT_LAYOUT_NCL, 2, 19, 0, NULL, 1},
};

/* ---- Reporting ----------------------------------------------------------------------------- */

/* Whether the call that failed maps a forward_host's output back after its kernels wrote it in
 * place, on a CPU device (clconvt.h: such a failure leaves what they wrote). */
static int maps_back(int cpu) {
    const char *failed = shim_failed_call();
    return cpu && failed != NULL &&
           (strcmp(failed, "clEnqueueMapBuffer") == 0 ||
            strcmp(failed, "clEnqueueUnmapMemObject") == 0);
}

static int test_number, failures;
static char problem[8192]; /* what is wrong with the current case, "" when nothing */

static void complain(const char *format, ...) __attribute__((format(printf, 1, 2)));

static void complain(const char *format, ...) {
    const size_t used = strlen(problem);
    if (used >= sizeof problem - 2)
        return;
    if (used > 0)
        strcat(problem, "; ");
    va_list args;
    va_start(args, format);
    vsnprintf(problem + strlen(problem), sizeof problem - strlen(problem), format, args);
    va_end(args);
}

/* One TAP line; a failure's detail follows as comments. */
static void tap(const char *description) {
    ++test_number;
    if (problem[0] == '\0') {
        printf("ok %d - %s\n", test_number, description);
    } else {
        ++failures;
        printf("not ok %d - %s\n", test_number, description);
        for (char *line = strtok(problem, "\n"); line != NULL; line = strtok(NULL, "\n"))
            printf("# %s\n", line);
    }
    fflush(stdout);
    problem[0] = '\0';
}

/* ---- Data ---------------------------------------------------------------------------------- */

typedef struct data {
    clconvt_params params;
    int64_t length_out;
    size_t x_count, w_count, y_count;
    float *x, *w, *bias, *y;
    float alpha[16]; /* Snake's, for the variants that have it */
    double *ref;
} data;

static uint64_t rng = 0x2545f4914f6cdd1dull;

static float random_value(void) {
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (float)((double)(rng >> 11) * 0x1p-53 * 2.0 - 1.0);
}

static void make_data(const variant *v, data *d) {
    memset(d, 0, sizeof *d);
    clconvt_params *p = &d->params;
    clconvt_params_init(p, v->cin, v->cout, v->k);
    p->stride = v->stride;
    p->pad_left = v->pad_left;
    p->pad_right = v->pad_right;
    p->output_padding = v->output_padding;
    p->dilation = v->dilation;
    p->groups = v->groups;
    p->layout = v->layout;
    p->has_bias = 1;
    if (clconvt_output_length(p, v->length, &d->length_out) != CLCONVT_SUCCESS) {
        fprintf(stderr, "variant %s: %s\n", v->name, clconvt_last_error());
        exit(1);
    }
    d->x_count = (size_t)(v->batch * v->cin * v->length);
    d->w_count = (size_t)(v->cin * (v->cout / v->groups) * v->k);
    d->y_count = (size_t)(v->batch * v->cout * d->length_out);
    d->x = malloc(d->x_count * sizeof *d->x);
    d->w = malloc(d->w_count * sizeof *d->w);
    d->bias = malloc((size_t)v->cout * sizeof *d->bias);
    d->y = malloc(d->y_count * sizeof *d->y);
    d->ref = malloc(d->y_count * sizeof *d->ref);
    double *xd = malloc(d->x_count * sizeof *xd), *wd = malloc(d->w_count * sizeof *wd);
    double *bd = malloc((size_t)v->cout * sizeof *bd);
    if (!d->x || !d->w || !d->bias || !d->y || !d->ref || !xd || !wd || !bd) {
        fprintf(stderr, "out of memory\n");
        exit(1);
    }
    for (size_t i = 0; i < d->x_count; ++i)
        xd[i] = d->x[i] = random_value();
    for (size_t i = 0; i < d->w_count; ++i)
        wd[i] = d->w[i] = random_value();
    for (int64_t i = 0; i < v->cout; ++i)
        bd[i] = d->bias[i] = random_value();
    double alpha[16];
    for (int64_t c = 0; c < v->cin && c < 16; ++c)
        alpha[c] = d->alpha[c] = 0.5f + 0.25f * (float)c;
    if (v->snake &&
        reference_activate(p, CLCONVT_ACTIVATION_SNAKE, alpha, v->batch, v->length, xd) != 0) {
        fprintf(stderr, "variant %s: the reference refused the activation\n", v->name);
        exit(1);
    }
    if (reference_forward(p, xd, wd, bd, v->batch, v->length, d->ref) != 0) {
        fprintf(stderr, "variant %s: the reference refused it\n", v->name);
        exit(1);
    }
    free(xd);
    free(wd);
    free(bd);
}

static void free_data(data *d) {
    free(d->x);
    free(d->w);
    free(d->bias);
    free(d->y);
    free(d->ref);
}

static void check_result(const data *d, const float *y, const char *what) {
    double worst = 0.0, scale = 1e-30;
    for (size_t i = 0; i < d->y_count; ++i) {
        const double e = fabs((double)y[i] - d->ref[i]);
        worst = e > worst || isnan(e) ? e : worst;
        scale = fabs(d->ref[i]) > scale ? fabs(d->ref[i]) : scale;
    }
    if (!(worst / scale <= 2e-5))
        complain("%s: normalised error %g against the reference", what, worst / scale);
}

/* ---- One run of the sequence --------------------------------------------------------------- */

/* CLCONVT_TUNING_DB for the variants with and without a tuned plan (set by main). */
static char tuned_database[600], no_database[600];

/* What one run saw of the injected failure. */
typedef struct outcome {
    const char *failed_call; /* NULL: N was past the run's last OpenCL call */
    const char *step;        /* the step that met it */
    int surfaced;            /* the step returned an error (0: absorbed, or a void step) */
    char message[512];
    const char *plan_path; /* the path of the layer's plan ("" when it was not created) */
} outcome;

typedef struct run {
    const variant *v;
    const data *d;
    outcome *out;
    const char *step;
    int failure_seen;
} run;

/*
 * Called after each step: when the injected failure happened in it, check the status and message
 * and return 1 (the caller retries the step); return 0 when the step needs no retry. A failure
 * nobody injected is a problem.
 */
static int after_step(run *r, const char *step, clconvt_status status) {
    const char *failed = shim_failed_call();
    const int injected_here = failed != NULL && !r->failure_seen;
    if (injected_here) {
        r->failure_seen = 1;
        r->out->failed_call = failed;
        r->out->step = step;
        r->out->surfaced = status != CLCONVT_SUCCESS;
        snprintf(r->out->message, sizeof r->out->message, "%s",
                 status != CLCONVT_SUCCESS ? clconvt_last_error() : "");
        /* One TAP line: a build log's lines are folded. */
        for (char *c = r->out->message; *c; ++c)
            if (*c == '\n' || *c == '\r')
                *c = '|';
    }
    if (status == CLCONVT_SUCCESS)
        return 0;
    if (!injected_here) {
        complain("%s failed with no failure injected in it: %s: %s", step,
                 clconvt_status_string(status), clconvt_last_error());
        return 0;
    }
    const char *message = clconvt_last_error();
    if (message[0] == '\0')
        complain("%s failed (%s) with an empty message", step, clconvt_status_string(status));
    else if (strstr(message, failed) == NULL)
        complain("%s: the message does not name %s, the call that failed: \"%s\"", step, failed,
                 message);
    if (status != CLCONVT_ERROR_OPENCL && status != CLCONVT_ERROR_BUILD &&
        status != CLCONVT_ERROR_OUT_OF_HOST_MEMORY)
        complain("%s: %s failed with CL_OUT_OF_RESOURCES, reported as \"%s\"", step, failed,
                 clconvt_status_string(status));
    shim_fail_at(0);
    return 1;
}

/* Run a step, retrying it once after the injected failure. */
/* get_weight reads the device copy back: its failure leaves host untouched, and once it
 * succeeds it gives the weight set, in MAX order. 0 after a complaint. */
static int check_get_weight(run *r, clconvt_layer *layer, const data *d) {
    const int64_t cin = d->params.in_channels, k_len = d->params.kernel_length;
    const int64_t cout_g = d->params.out_channels / d->params.groups;
    float *got = malloc(d->w_count * sizeof *got);
    if (got == NULL) {
        complain("out of host memory");
        return 0;
    }
    for (size_t i = 0; i < d->w_count; ++i)
        got[i] = -12345.0f;
    clconvt_status status = clconvt_layer_get_weight(layer, got);
    if (status != CLCONVT_SUCCESS)
        for (size_t i = 0; i < d->w_count; ++i)
            if (got[i] != -12345.0f) {
                complain("clconvt_layer_get_weight failed but wrote its output");
                break;
            }
    if (after_step(r, "clconvt_layer_get_weight", status))
        status = clconvt_layer_get_weight(layer, got);
    int ok = status == CLCONVT_SUCCESS;
    if (!ok)
        complain("clconvt_layer_get_weight failed again: %s", clconvt_last_error());
    for (int64_t ci = 0; ok && ci < cin; ++ci)
        for (int64_t c = 0; ok && c < cout_g; ++c)
            for (int64_t k = 0; ok && k < k_len; ++k)
                if (got[(k * cout_g + c) * cin + ci] != d->w[(ci * cout_g + c) * k_len + k]) {
                    complain("clconvt_layer_get_weight gave another weight than the one set");
                    ok = 0;
                }
    free(got);
    return ok;
}

#define STEP(r, name, call)                                                                        \
    do {                                                                                           \
        clconvt_status status_ = (call);                                                           \
        if (after_step(r, name, status_)) {                                                        \
            status_ = (call);                                                                      \
            if (status_ != CLCONVT_SUCCESS)                                                        \
                complain("%s failed again after the injected failure: %s", name,                   \
                         clconvt_last_error());                                                    \
        }                                                                                          \
        if (status_ != CLCONVT_SUCCESS)                                                            \
            goto done;                                                                             \
    } while (0)

/* A void step: only note where the failure happened. */
static void void_step(run *r, const char *step) {
    const char *failed = shim_failed_call();
    if (failed != NULL && !r->failure_seen) {
        r->failure_seen = 1;
        r->out->failed_call = failed;
        r->out->step = step;
    }
}

/* The test's own context and queue for clconvt_device_wrap (not counted, not failed). */
static int own_context(cl_context *context, cl_device_id *device, cl_command_queue *queue) {
    cl_platform_id platform;
    cl_uint n = 0;
    cl_int err = clGetPlatformIDs(1, &platform, &n);
    if (err == CL_SUCCESS && n == 1)
        err = clGetDeviceIDs(platform, CL_DEVICE_TYPE_ALL, 1, device, &n);
    if (err != CL_SUCCESS || n != 1)
        return -1;
    *context = clCreateContext(NULL, 1, device, NULL, NULL, &err);
    if (err != CL_SUCCESS)
        return -1;
    *queue = clCreateCommandQueue(*context, *device, 0, &err);
    if (err != CL_SUCCESS) {
        clReleaseContext(*context);
        return -1;
    }
    return 0;
}

/* Frames [first, first + count) of a (rows, total frames) f32 array, to or from a dense chunk. */
static void copy_frames(const variant *v, int64_t channels, const float *src, int64_t src_total,
                        int64_t src_first, float *dst, int64_t dst_total, int64_t dst_first,
                        int64_t count) {
    const int ncl = v->layout == CLCONVT_LAYOUT_NCL;
    const int64_t rows = ncl ? v->batch * channels : v->batch, width = ncl ? 1 : channels;
    for (int64_t r = 0; r < rows; ++r)
        memcpy(dst + (r * dst_total + dst_first) * width, src + (r * src_total + src_first) * width,
               (size_t)(count * width) * sizeof *dst);
}

/* A stream over d's input: two pushes (the second reads the first's halo) and the finish, into
 * y. A call that fails leaves the stream as it was: its retry continues the sequence exactly. */
static int run_stream(run *r, clconvt_layer *layer, data *d, float *y, clconvt_stream **stream) {
    const variant *v = r->v;
    const int64_t half = v->length / 2, cin = v->cin, cout = v->cout;
    int64_t cap = 0, n = 0, emitted = 0;
    int ok = 0;
    float *chunk = malloc((size_t)(v->batch * cin * v->length) * sizeof *chunk);
    float *out = malloc((size_t)(v->batch * cout * d->length_out) * sizeof *out);
    STEP(r, "clconvt_stream_create", clconvt_stream_create(layer, v->batch, stream));
    STEP(r, "clconvt_stream_max_output", clconvt_stream_max_output(*stream, v->length, &cap));
    for (int part = 0; part < 2; ++part) {
        const int64_t first = part == 0 ? 0 : half, count = part == 0 ? half : v->length - half;
        copy_frames(v, cin, d->x, v->length, first, chunk, count, 0, count);
        STEP(r, "clconvt_stream_push_host",
             clconvt_stream_push_host(*stream, chunk, count, out, cap, &n));
        copy_frames(v, cout, out, n, 0, y, d->length_out, emitted, n);
        emitted += n;
    }
    STEP(r, "clconvt_stream_finish_host", clconvt_stream_finish_host(*stream, out, cap, &n));
    copy_frames(v, cout, out, n, 0, y, d->length_out, emitted, n);
    ok = 1;
done:
    free(chunk);
    free(out);
    return ok;
}

/* The whole sequence, with the shim failing call number fail_at (0: none). */
static void run_sequence(const variant *v, data *d, unsigned long fail_at, outcome *out) {
    memset(out, 0, sizeof *out);
    run r = {v, d, out, NULL, 0};
    clconvt_device *device = NULL;
    clconvt_layer *layer = NULL;
    cl_context own = NULL;
    cl_device_id own_device = NULL;
    cl_command_queue own_queue = NULL;
    cl_mem in = NULL, result = NULL;
    cl_event event = NULL;
    clconvt_stream *stream = NULL;
    float *y = d->y;

    shim_reset();
    setenv("CLCONVT_TUNING_DB", v->tuned_path != NULL ? tuned_database : no_database, 1);
    if (v->max_alloc != NULL)
        setenv("CLCONVT_MAX_ALLOC_BYTES", v->max_alloc, 1);
    else
        unsetenv("CLCONVT_MAX_ALLOC_BYTES");
    if (v->wrap) {
        shim_pause();
        const int rc = own_context(&own, &own_device, &own_queue);
        shim_resume();
        if (rc != 0) {
            complain("cannot make the test's own OpenCL context");
            return;
        }
    }
    shim_fail_at(fail_at);

    if (v->wrap)
        STEP(&r, "clconvt_device_wrap", clconvt_device_wrap(own, own_device, own_queue, &device));
    else
        STEP(&r, "clconvt_device_open", clconvt_device_open(CLCONVT_DEVICE_ANY, NULL, &device));
    STEP(&r, "clconvt_layer_create", clconvt_layer_create(device, &d->params, &layer));
    out->plan_path = layer != NULL ? clconvt_layer_plan_name(layer) : "";
    STEP(&r, "clconvt_layer_set_weight",
         clconvt_layer_set_weight(layer, d->w, CLCONVT_WEIGHT_PYTORCH, CLCONVT_F32));
    STEP(&r, "clconvt_layer_set_bias", clconvt_layer_set_bias(layer, d->bias, CLCONVT_F32));
    if (!check_get_weight(&r, layer, d))
        goto done;
    if (v->snake)
        STEP(&r, "clconvt_layer_set_input_activation",
             clconvt_layer_set_input_activation(layer, CLCONVT_ACTIVATION_SNAKE, d->alpha, v->cin));

    /* forward_host: on failure the output must be untouched. */
    {
        for (size_t i = 0; i < d->y_count; ++i)
            y[i] = -12345.0f;
        clconvt_device_info info;
        shim_pause();
        const int cpu = clconvt_device_get_info(device, &info) == CLCONVT_SUCCESS &&
                        (info.type & CL_DEVICE_TYPE_CPU) != 0;
        shim_resume();
        clconvt_status status = clconvt_layer_forward_host(layer, d->x, y, v->batch, v->length);
        if (status != CLCONVT_SUCCESS && !v->partial_writes && !maps_back(cpu)) {
            size_t touched = 0;
            for (size_t i = 0; i < d->y_count; ++i)
                touched += y[i] != -12345.0f;
            if (touched > 0)
                complain("clconvt_layer_forward_host failed but wrote %zu of its %zu outputs",
                         touched, d->y_count);
        }
        if (after_step(&r, "clconvt_layer_forward_host", status))
            status = clconvt_layer_forward_host(layer, d->x, y, v->batch, v->length);
        if (status != CLCONVT_SUCCESS) {
            complain("clconvt_layer_forward_host failed again: %s", clconvt_last_error());
            goto done;
        }
        check_result(d, y, "forward_host");
    }

    /* forward on the test's buffers, on the device's queue (or the caller's, wrapped). */
    {
        cl_context context = clconvt_device_context(device);
        cl_command_queue queue = v->wrap ? own_queue : clconvt_device_queue(device);
        cl_int err;
        shim_pause();
        in = clCreateBuffer(context, CL_MEM_READ_ONLY | CL_MEM_COPY_HOST_PTR,
                            d->x_count * sizeof(float), d->x, &err);
        if (err == CL_SUCCESS)
            result =
                clCreateBuffer(context, CL_MEM_WRITE_ONLY, d->y_count * sizeof(float), NULL, &err);
        shim_resume();
        if (err != CL_SUCCESS) {
            complain("the test's own clCreateBuffer failed (%d)", (int)err);
            goto done;
        }
        STEP(&r, "clconvt_layer_forward",
             clconvt_layer_forward(layer, v->wrap ? own_queue : NULL, in, result, v->batch,
                                   v->length, 0, NULL, &event));
        shim_pause();
        memset(y, 0, d->y_count * sizeof *y);
        err = clEnqueueReadBuffer(queue, result, CL_TRUE, 0, d->y_count * sizeof(float), y, 1,
                                  &event, NULL);
        clReleaseEvent(event);
        event = NULL;
        shim_resume();
        if (err != CL_SUCCESS)
            complain("reading the forward's output failed (%d)", (int)err);
        else
            check_result(d, y, "forward");
    }

    memset(y, 0, d->y_count * sizeof *y);
    if (!run_stream(&r, layer, d, y, &stream))
        goto done;
    check_result(d, y, "stream");

    /* A batch of 0 still honours the event contract (a marker). */
    STEP(&r, "clconvt_layer_forward(batch 0)",
         clconvt_layer_forward(layer, NULL, NULL, NULL, 0, v->length, 0, NULL, &event));
    shim_pause();
    clWaitForEvents(1, &event);
    clReleaseEvent(event);
    event = NULL;
    shim_resume();

done:
    shim_pause();
    if (event != NULL)
        clReleaseEvent(event);
    if (in != NULL)
        clReleaseMemObject(in);
    if (result != NULL)
        clReleaseMemObject(result);
    shim_resume();
    if (stream != NULL) {
        clconvt_stream_release(stream);
        void_step(&r, "clconvt_stream_release");
    }
    if (layer != NULL) {
        clconvt_layer_release(layer);
        void_step(&r, "clconvt_layer_release");
    }
    if (device != NULL) {
        clconvt_device_info info;
        if (clconvt_device_get_info(device, &info) != CLCONVT_SUCCESS)
            complain("clconvt_device_get_info: %s", clconvt_last_error());
        else if (info.allocated_bytes != 0)
            complain("allocated_bytes is %llu after the layer's release",
                     (unsigned long long)info.allocated_bytes);
        clconvt_device_release(device);
        void_step(&r, "clconvt_device_release");
    }
    if (v->wrap) {
        shim_pause();
        clReleaseCommandQueue(own_queue);
        clReleaseContext(own);
        shim_resume();
    }
    shim_fail_at(0);
    char report[4096];
    if (shim_check_balance(report, sizeof report) != 0)
        complain("OpenCL references left or released twice:\n%s", report);
    if (__lsan_do_recoverable_leak_check != NULL && __lsan_do_recoverable_leak_check() != 0)
        complain("LeakSanitizer found leaked host memory (report above)");
}

/* ---- The walk ------------------------------------------------------------------------------ */

typedef struct totals {
    unsigned long steps, surfaced, absorbed, void_steps;
} totals;

/* Fail each call of the sequence in turn: N = 1, 2, ... until a run has fewer than N calls. */
static void walk(const variant *v, const char *mode, int quick, totals *t) {
    data d;
    make_data(v, &d);
    outcome out;
    char description[1024];

    /* The undisturbed run: it must pass, and says how many calls there are. */
    run_sequence(v, &d, 0, &out);
    const unsigned long baseline = shim_calls();
    if (v->tuned_path != NULL && strcmp(out.plan_path, v->tuned_path) != 0)
        complain("the layer took a %s plan, not the database's %s (class %s)", out.plan_path,
                 v->tuned_path, TUNED_CLASS);
    int builds_failed = 0;
    snprintf(description, sizeof description, "%s, %s: no failure (%lu OpenCL calls)", v->name,
             mode, baseline);
    tap(description);

    const unsigned long stride = quick ? 7 : 1;
    for (unsigned long n = 1;; n += stride) {
        run_sequence(v, &d, n, &out);
        if (out.failed_call == NULL) {
            if (problem[0] != '\0') {
                snprintf(description, sizeof description, "%s, %s: call %lu (none failed)", v->name,
                         mode, n);
                tap(description);
            }
            if (n <= baseline)
                continue; /* fewer calls this time (a warm cache): keep walking to the baseline */
            break;
        }
        ++t->steps;
        /* The first program build is the database's plan's: the layer must survive it. */
        if (v->tuned_path != NULL && strcmp(out.failed_call, "clBuildProgram") == 0 &&
            builds_failed++ == 0 && (out.surfaced || strcmp(out.plan_path, v->tuned_path) == 0))
            complain("a failed build of the database's plan was not absorbed by the built-in plan "
                     "(%s plan, %s)",
                     out.plan_path, out.surfaced ? out.message : "no error");
        if (out.surfaced)
            ++t->surfaced;
        else if (strcmp(out.step, "clconvt_layer_release") == 0 ||
                 strcmp(out.step, "clconvt_device_release") == 0)
            ++t->void_steps;
        else
            ++t->absorbed;
        snprintf(description, sizeof description, "%s, %s: call %lu, %s in %s: %s", v->name, mode,
                 n, out.failed_call, out.step,
                 out.surfaced ? out.message : "absorbed (no error, right result)");
        tap(description);
    }
    free_data(&d);
}

/* A tuning database that gives TUNED_CLASS the plan TUNED_PLAN on the device the walk uses. */
static int write_tuned_database(const char *path) {
    clconvt_device *device = NULL;
    clconvt_device_info info;
    if (clconvt_device_open(CLCONVT_DEVICE_ANY, NULL, &device) != CLCONVT_SUCCESS ||
        clconvt_device_get_info(device, &info) != CLCONVT_SUCCESS) {
        fprintf(stderr, "cannot open the device: %s\n", clconvt_last_error());
        clconvt_device_release(device);
        return -1;
    }
    FILE *f = fopen(path, "w");
    if (f != NULL) {
        const char *type = info.type & CL_DEVICE_TYPE_GPU   ? "gpu"
                           : info.type & CL_DEVICE_TYPE_CPU ? "cpu"
                                                            : "accelerator";
        fprintf(f,
                "{\"format\": \"clconvt-tuning\", \"version\": 1, \"devices\": [{\"identity\": "
                "{\"vendor\": \"%s\", \"name\": \"%s\", \"driver\": \"%s\", \"type\": \"%s\"}, "
                "\"platform\": \"test\", \"updated\": \"2026-01-01T00:00:00Z\", \"classes\": "
                "{\"" TUNED_CLASS "\": {\"plan\": \"" TUNED_PLAN "\", \"median_ms\": 1.0}}}]}\n",
                info.vendor, info.name, info.driver_version, type);
    }
    clconvt_device_release(device);
    if (f == NULL || fclose(f) != 0) {
        perror(path);
        return -1;
    }
    return 0;
}

int main(int argc, char **argv) {
    int quick = 0;
    for (int i = 1; i < argc; ++i) {
        if (strcmp(argv[i], "--list-shimmed") == 0) {
            for (const char *const *name = shim_functions; *name != NULL; ++name)
                puts(*name);
            return 0;
        }
        if (strcmp(argv[i], "--quick") == 0)
            quick = 1;
    }
    /* Nothing from the user's environment: no forced plan or device, our own cache directory,
     * no tuning database. */
    unsetenv("CLCONVT_PLAN");
    unsetenv("CLCONVT_DEVICE");
    const char *base = getenv("TMPDIR");
    char dir[512];
    snprintf(dir, sizeof dir, "%s/clconvt-failure-XXXXXX", base && *base ? base : "/tmp");
    if (mkdtemp(dir) == NULL) {
        perror("mkdtemp");
        return 1;
    }
    snprintf(no_database, sizeof no_database, "%s/no-tuning.json", dir);
    snprintf(tuned_database, sizeof tuned_database, "%s/tuning.json", dir);
    if (write_tuned_database(tuned_database) != 0)
        return 1;

    totals t = {0};
    const size_t count = sizeof variants / sizeof variants[0];
    for (size_t i = 0; i < count; ++i) {
        setenv("CLCONVT_CACHE_DIR", "off", 1);
        walk(&variants[i], "no disk cache", quick, &t);
    }
    /* With a warm disk cache (the baseline run fills it), for the first variant. */
    setenv("CLCONVT_CACHE_DIR", dir, 1);
    walk(&variants[0], "warm disk cache", quick, &t);

    printf("1..%d\n", test_number);
    printf("# %lu failures injected: %lu reported by the failing call, %lu absorbed, %lu in "
           "release functions; %d problems\n",
           t.steps, t.surfaced, t.absorbed, t.void_steps, failures);
    char command[700];
    snprintf(command, sizeof command, "rm -rf '%s'", dir);
    if (system(command) != 0)
        fprintf(stderr, "could not remove %s\n", dir);
    return failures == 0 ? 0 : 1;
}
