/*
 * The device abstraction: opening by kind and selector (checked against what raw OpenCL lists),
 * the CLCONVT_DEVICE override, device_get_info, wrapping a caller's own context/device/queue (with
 * ownership left to the caller), forwards on caller buffers and queues with wait lists and done
 * events, queues from another context, and that no forward compiles for a new length or batch.
 *
 * Criterion runs every test in its own process, so setenv/unsetenv here affect one test only.
 * Layers use stride 2, NLC, f32, 5 output channels: the same program as the validation suite.
 */
#include <criterion/criterion.h>

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "support.h"

/* ---- What raw OpenCL lists ------------------------------------------------------------------ */

#define MAX_RAW 64

typedef struct raw_device {
    cl_platform_id platform;
    cl_device_id id;
    unsigned platform_index, device_index;
    cl_device_type type;
    char name[256], platform_name[256];
} raw_device;

static size_t raw_list(raw_device *list) {
    cl_platform_id platforms[16];
    cl_uint num_platforms = 0;
    if (clGetPlatformIDs(16, platforms, &num_platforms) != CL_SUCCESS)
        return 0;
    if (num_platforms > 16)
        num_platforms = 16;
    size_t count = 0;
    for (cl_uint p = 0; p < num_platforms; ++p) {
        cl_device_id ids[MAX_RAW];
        cl_uint num = 0;
        if (clGetDeviceIDs(platforms[p], CL_DEVICE_TYPE_ALL, MAX_RAW, ids, &num) != CL_SUCCESS)
            continue;
        for (cl_uint d = 0; d < num && d < MAX_RAW && count < MAX_RAW; ++d) {
            raw_device *r = &list[count++];
            memset(r, 0, sizeof *r);
            r->platform = platforms[p];
            r->id = ids[d];
            r->platform_index = p;
            r->device_index = d;
            cr_assert_eq(clGetDeviceInfo(ids[d], CL_DEVICE_TYPE, sizeof r->type, &r->type, NULL),
                         CL_SUCCESS);
            cr_assert_eq(clGetDeviceInfo(ids[d], CL_DEVICE_NAME, sizeof r->name - 1, r->name, NULL),
                         CL_SUCCESS);
            cr_assert_eq(clGetPlatformInfo(platforms[p], CL_PLATFORM_NAME,
                                           sizeof r->platform_name - 1, r->platform_name, NULL),
                         CL_SUCCESS);
        }
    }
    return count;
}

/* The first raw device of a type (CL_DEVICE_TYPE_ALL: the first of all), or NULL. */
static const raw_device *raw_first(const raw_device *list, size_t count, cl_device_type type) {
    for (size_t i = 0; i < count; ++i)
        if (list[i].type & type)
            return &list[i];
    return NULL;
}

static int contains_ignoring_case(const char *haystack, const char *needle) {
    const size_t n = strlen(needle);
    for (; *haystack; ++haystack) {
        size_t i = 0;
        while (i < n && haystack[i] &&
               tolower((unsigned char)haystack[i]) == tolower((unsigned char)needle[i]))
            ++i;
        if (i == n)
            return 1;
    }
    return n == 0;
}

static void clear_env(void) {
    unsetenv("CLCONVT_DEVICE");
}

/* ---- Opening -------------------------------------------------------------------------------- */

static clconvt_device *open_ok(clconvt_device_kind kind, const char *selector) {
    clconvt_device *device = NULL;
    const clconvt_status st = clconvt_device_open(kind, selector, &device);
    cr_assert_eq(st, CLCONVT_SUCCESS, "open(kind %d, \"%s\"): %s: %s", (int)kind,
                 selector ? selector : "(null)", clconvt_status_string(st), clconvt_last_error());
    cr_assert_not_null(device);
    cr_assert_str_empty(clconvt_last_error());
    return device;
}

/* The device opened is the raw device want: same name, platform and type. */
static void expect_is(clconvt_device *device, const raw_device *want, const char *what) {
    clconvt_device_info info;
    cr_assert_eq(clconvt_device_get_info(device, &info), CLCONVT_SUCCESS);
    cr_assert_str_eq(info.name, want->name, "%s: opened \"%s\", expected \"%s\"", what, info.name,
                     want->name);
    cr_assert_str_eq(info.platform, want->platform_name, "%s", what);
    cr_assert_eq(info.type, want->type, "%s", what);
    cr_assert_eq(clconvt_device_id(device), want->id, "%s: another cl_device_id", what);
}

/* NO_DEVICE, *out untouched, a message quoting what was asked and listing every device. */
static void expect_no_device(clconvt_device_kind kind, const char *selector, const char *quoted,
                             const raw_device *list, size_t count) {
    clconvt_device *device = NULL;
    const clconvt_status st = clconvt_device_open(kind, selector, &device);
    const char *message = clconvt_last_error();
    cr_assert_eq(st, CLCONVT_ERROR_NO_DEVICE, "open(kind %d, \"%s\") gave %s: %s", (int)kind,
                 selector ? selector : "(null)", clconvt_status_string(st), message);
    cr_assert_null(device);
    cr_assert(strstr(message, quoted) != NULL, "message \"%s\" lacks \"%s\"", message, quoted);
    for (size_t i = 0; i < count; ++i) {
        char index[32];
        snprintf(index, sizeof index, "%u:%u", list[i].platform_index, list[i].device_index);
        cr_assert(strstr(message, list[i].name) != NULL, "message \"%s\" does not list \"%s\"",
                  message, list[i].name);
        cr_assert(strstr(message, index) != NULL, "message \"%s\" does not list %s", message,
                  index);
    }
}

Test(device, open_by_kind, .init = clear_env) {
    raw_device list[MAX_RAW];
    const size_t count = raw_list(list);
    cr_assert(count > 0, "raw OpenCL lists no device");
    const raw_device *gpu = raw_first(list, count, CL_DEVICE_TYPE_GPU);
    const raw_device *cpu = raw_first(list, count, CL_DEVICE_TYPE_CPU);
    const raw_device *any = gpu ? gpu : cpu ? cpu : &list[0];

    clconvt_device *device = open_ok(CLCONVT_DEVICE_ANY, NULL);
    expect_is(device, any, "kind any");
    clconvt_device_release(device);
    device = open_ok(CLCONVT_DEVICE_ANY, ""); /* an empty selector is no selector */
    expect_is(device, any, "kind any, empty selector");
    clconvt_device_release(device);

    if (cpu != NULL) {
        device = open_ok(CLCONVT_DEVICE_CPU, NULL);
        expect_is(device, cpu, "kind cpu");
        clconvt_device_release(device);
    } else {
        expect_no_device(CLCONVT_DEVICE_CPU, NULL, "cpu", list, count);
    }
    /* A GPU may not exist (CI runs PoCL's CPU device): then NO_DEVICE listing what exists. */
    if (gpu != NULL) {
        device = open_ok(CLCONVT_DEVICE_GPU, NULL);
        expect_is(device, gpu, "kind gpu");
        clconvt_device_info info;
        cr_assert_eq(clconvt_device_get_info(device, &info), CLCONVT_SUCCESS);
        cr_assert(info.type & CL_DEVICE_TYPE_GPU);
        clconvt_device_release(device);
    } else {
        expect_no_device(CLCONVT_DEVICE_GPU, NULL, "gpu", list, count);
        cr_assert(strstr(clconvt_last_error(), "devices present") != NULL, "%s",
                  clconvt_last_error());
    }
}

Test(device, open_by_keyword_selector, .init = clear_env) {
    raw_device list[MAX_RAW];
    const size_t count = raw_list(list);
    const raw_device *gpu = raw_first(list, count, CL_DEVICE_TYPE_GPU);
    const raw_device *cpu = raw_first(list, count, CL_DEVICE_TYPE_CPU);
    const raw_device *any = gpu ? gpu : cpu ? cpu : &list[0];
    /* The selector wins over the kind. */
    clconvt_device *device = open_ok(CLCONVT_DEVICE_CPU, "any");
    expect_is(device, any, "selector any");
    clconvt_device_release(device);
    if (cpu != NULL) {
        device = open_ok(CLCONVT_DEVICE_GPU, "cpu");
        expect_is(device, cpu, "selector cpu");
        clconvt_device_release(device);
    } else {
        expect_no_device(CLCONVT_DEVICE_ANY, "cpu", "cpu", list, count);
    }
    if (gpu != NULL) {
        device = open_ok(CLCONVT_DEVICE_CPU, "gpu");
        expect_is(device, gpu, "selector gpu");
        clconvt_device_release(device);
    } else {
        expect_no_device(CLCONVT_DEVICE_CPU, "gpu", "gpu", list, count);
    }
    /* Keywords in any case: "CPU" once fell through to a name search and found nothing. */
    const char *const anys[] = {"ANY", "Any", "aNy"};
    for (size_t i = 0; i < sizeof anys / sizeof anys[0]; ++i) {
        device = open_ok(CLCONVT_DEVICE_CPU, anys[i]);
        expect_is(device, any, anys[i]);
        clconvt_device_release(device);
    }
    if (cpu != NULL) {
        device = open_ok(CLCONVT_DEVICE_GPU, "CPU");
        expect_is(device, cpu, "selector CPU");
        clconvt_device_release(device);
        cr_assert_eq(setenv("CLCONVT_DEVICE", "Cpu", 1), 0);
        device = open_ok(CLCONVT_DEVICE_GPU, NULL);
        expect_is(device, cpu, "CLCONVT_DEVICE=Cpu");
        clconvt_device_release(device);
        unsetenv("CLCONVT_DEVICE");
    }
    if (gpu == NULL)
        expect_no_device(CLCONVT_DEVICE_CPU, "GPU", "GPU", list, count);
}

Test(device, open_by_index, .init = clear_env) {
    raw_device list[MAX_RAW];
    const size_t count = raw_list(list);
    cr_assert(count > 0);
    clconvt_device *device = open_ok(CLCONVT_DEVICE_GPU, "0:0"); /* the kind does not matter */
    expect_is(device, &list[0], "selector 0:0");
    clconvt_device_release(device);
    char selector[32];
    const raw_device *last = &list[count - 1];
    snprintf(selector, sizeof selector, "%u:%u", last->platform_index, last->device_index);
    device = open_ok(CLCONVT_DEVICE_ANY, selector);
    expect_is(device, last, selector);
    clconvt_device_release(device);

    expect_no_device(CLCONVT_DEVICE_ANY, "9:9", "9:9", list, count);
    snprintf(selector, sizeof selector, "%u:%u", last->platform_index, last->device_index + 1);
    expect_no_device(CLCONVT_DEVICE_ANY, selector, selector, list, count);
}

/* An index pair is read strictly: "4294967296:0" and "0:-0" once wrapped to 0:0. */
static void expect_bad_index_pair(const char *selector, int from_env) {
    clconvt_device *device = NULL;
    if (from_env)
        cr_assert_eq(setenv("CLCONVT_DEVICE", selector, 1), 0);
    const clconvt_status st =
        clconvt_device_open(CLCONVT_DEVICE_ANY, from_env ? NULL : selector, &device);
    const char *message = clconvt_last_error();
    cr_assert_eq(st, CLCONVT_ERROR_INVALID_ARGUMENT, "\"%s\" gave %s: %s", selector,
                 clconvt_status_string(st), message);
    cr_assert_null(device);
    char quoted[64];
    snprintf(quoted, sizeof quoted, "%s \"%s\"", from_env ? "CLCONVT_DEVICE" : "selector",
             selector);
    cr_assert(strstr(message, quoted) != NULL, "the message should quote %s: %s", quoted, message);
    cr_assert(strstr(message, "two whole numbers") != NULL, "%s", message);
    unsetenv("CLCONVT_DEVICE");
}

Test(device, index_pairs_are_read_strictly, .init = clear_env) {
    const char *const bad[] = {"4294967296:0", "0:4294967296",          "0:-0", "-0:0", "+0:0",
                               "0:+0",         "18446744073709551616:0"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; ++i) {
        expect_bad_index_pair(bad[i], 0);
        expect_bad_index_pair(bad[i], 1);
    }
    /* Leading zeros are still the index; "0:0x" is no pair but a name, which nothing matches. */
    raw_device list[MAX_RAW];
    const size_t count = raw_list(list);
    clconvt_device *device = open_ok(CLCONVT_DEVICE_ANY, "00:000");
    expect_is(device, &list[0], "selector 00:000");
    clconvt_device_release(device);
    expect_no_device(CLCONVT_DEVICE_ANY, "0:0x", "\"0:0x\"", list, count);
}

Test(device, open_by_name_substring, .init = clear_env) {
    raw_device list[MAX_RAW];
    const size_t count = raw_list(list);
    clconvt_device *device = support_device();
    clconvt_device_info info;
    cr_assert_eq(clconvt_device_get_info(device, &info), CLCONVT_SUCCESS);
    /* A piece from inside the name, with its case swapped: matching ignores case. */
    const size_t length = strlen(info.name);
    cr_assert(length > 0);
    char selector[16] = {0};
    const size_t start = length > 4 ? 1 : 0, take = length - start < 9 ? length - start : 9;
    for (size_t i = 0; i < take; ++i) {
        const unsigned char c = (unsigned char)info.name[start + i];
        selector[i] = (char)(islower(c) ? toupper(c) : tolower(c));
    }
    /* Which device the library must pick: the first whose device or platform name matches. */
    const raw_device *want = NULL;
    for (size_t i = 0; i < count && want == NULL; ++i)
        if (contains_ignoring_case(list[i].name, selector) ||
            contains_ignoring_case(list[i].platform_name, selector))
            want = &list[i];
    cr_assert_not_null(want, "raw OpenCL has no device matching \"%s\"", selector);
    clconvt_device *opened = open_ok(CLCONVT_DEVICE_ANY, selector);
    expect_is(opened, want, selector);
    clconvt_device_release(opened);

    /* The platform name works too. */
    opened = open_ok(CLCONVT_DEVICE_ANY, info.platform);
    clconvt_device_info opened_info;
    cr_assert_eq(clconvt_device_get_info(opened, &opened_info), CLCONVT_SUCCESS);
    cr_assert_str_eq(opened_info.platform, info.platform);
    clconvt_device_release(opened);

    expect_no_device(CLCONVT_DEVICE_ANY, "nosuchdevice", "\"nosuchdevice\"", list, count);
    cr_assert(strstr(clconvt_last_error(), "devices present") != NULL, "%s", clconvt_last_error());
    cr_assert(strstr(clconvt_last_error(), "CLCONVT_DEVICE") == NULL,
              "the selector did not come from CLCONVT_DEVICE: %s", clconvt_last_error());
}

Test(device, environment_overrides) {
    raw_device list[MAX_RAW];
    const size_t count = raw_list(list);
    cr_assert(count > 0);
    /* A nonexistent device in CLCONVT_DEVICE beats both kind and selector, and is named. */
    cr_assert_eq(setenv("CLCONVT_DEVICE", "nosuchdevice", 1), 0);
    expect_no_device(CLCONVT_DEVICE_ANY, NULL, "nosuchdevice", list, count);
    cr_assert(strstr(clconvt_last_error(), "CLCONVT_DEVICE") != NULL, "%s", clconvt_last_error());
    expect_no_device(CLCONVT_DEVICE_CPU, "0:0", "CLCONVT_DEVICE", list, count);

    /* An existing one is opened whatever the arguments say. */
    cr_assert_eq(setenv("CLCONVT_DEVICE", "0:0", 1), 0);
    clconvt_device *device = open_ok(CLCONVT_DEVICE_GPU, "nosuchdevice");
    expect_is(device, &list[0], "CLCONVT_DEVICE=0:0");
    clconvt_device_release(device);
    const raw_device *cpu = raw_first(list, count, CL_DEVICE_TYPE_CPU);
    if (cpu != NULL) {
        cr_assert_eq(setenv("CLCONVT_DEVICE", "cpu", 1), 0);
        device = open_ok(CLCONVT_DEVICE_GPU, "gpu");
        expect_is(device, cpu, "CLCONVT_DEVICE=cpu");
        clconvt_device_release(device);
    }

    /* Empty means unset. */
    cr_assert_eq(setenv("CLCONVT_DEVICE", "", 1), 0);
    expect_no_device(CLCONVT_DEVICE_ANY, "nosuchdevice", "nosuchdevice", list, count);
    cr_assert(strstr(clconvt_last_error(), "CLCONVT_DEVICE") == NULL, "%s", clconvt_last_error());
    device = open_ok(CLCONVT_DEVICE_ANY, "0:0");
    expect_is(device, &list[0], "empty CLCONVT_DEVICE");
    clconvt_device_release(device);
}

Test(device, info_is_sane) {
    clconvt_device *device = support_device();
    clconvt_device_info info;
    memset(&info, 0, sizeof info);
    cr_assert_eq(clconvt_device_get_info(device, &info), CLCONVT_SUCCESS, "%s",
                 clconvt_last_error());
    cr_assert(info.name != NULL && info.name[0] != '\0');
    cr_assert(info.vendor != NULL && info.platform != NULL && info.driver_version != NULL);
    cr_assert(info.platform[0] != '\0');
    cr_assert(info.type & (CL_DEVICE_TYPE_GPU | CL_DEVICE_TYPE_CPU | CL_DEVICE_TYPE_ACCELERATOR |
                           CL_DEVICE_TYPE_DEFAULT | CL_DEVICE_TYPE_CUSTOM));
    cr_assert_gt(info.max_alloc_bytes, 0);
    cr_assert_geq(info.global_mem_bytes, info.max_alloc_bytes);
    cr_assert_gt(info.local_mem_bytes, 0);
    cr_assert_gt(info.compute_units, 0);
    cr_assert_gt(info.max_work_group_size, 0);
    cr_assert(info.has_fp16 == 0 || info.has_fp16 == 1);
    cr_assert_eq(info.programs_built, 0, "a fresh handle has built %llu programs",
                 (unsigned long long)info.programs_built);

    /* The same as raw OpenCL says about the handle's device. */
    cl_device_id id = clconvt_device_id(device);
    cl_context context = clconvt_device_context(device);
    cl_command_queue queue = clconvt_device_queue(device);
    cr_assert(id != NULL && context != NULL && queue != NULL);
    char name[256] = {0};
    cl_ulong max_alloc = 0;
    cl_uint units = 0;
    cr_assert_eq(clGetDeviceInfo(id, CL_DEVICE_NAME, sizeof name - 1, name, NULL), CL_SUCCESS);
    cr_assert_eq(
        clGetDeviceInfo(id, CL_DEVICE_MAX_MEM_ALLOC_SIZE, sizeof max_alloc, &max_alloc, NULL),
        CL_SUCCESS);
    cr_assert_eq(clGetDeviceInfo(id, CL_DEVICE_MAX_COMPUTE_UNITS, sizeof units, &units, NULL),
                 CL_SUCCESS);
    cr_assert_str_eq(info.name, name);
    cr_assert_eq(info.max_alloc_bytes, max_alloc);
    cr_assert_eq(info.compute_units, units);
    cl_context queue_context = NULL;
    cl_device_id queue_device = NULL;
    cr_assert_eq(
        clGetCommandQueueInfo(queue, CL_QUEUE_CONTEXT, sizeof queue_context, &queue_context, NULL),
        CL_SUCCESS);
    cr_assert_eq(
        clGetCommandQueueInfo(queue, CL_QUEUE_DEVICE, sizeof queue_device, &queue_device, NULL),
        CL_SUCCESS);
    cr_assert_eq(queue_context, context);
    cr_assert_eq(queue_device, id);
    /* The queue is in order: the forward's reads and writes rely on it unless told otherwise. */
    cl_command_queue_properties properties = 0;
    cr_assert_eq(
        clGetCommandQueueInfo(queue, CL_QUEUE_PROPERTIES, sizeof properties, &properties, NULL),
        CL_SUCCESS);
    cr_assert_eq(properties & CL_QUEUE_OUT_OF_ORDER_EXEC_MODE_ENABLE, 0);
}

/* ---- Caller-owned OpenCL objects ------------------------------------------------------------ */

/* A layer's data and float64 reference. */
typedef struct data {
    clconvt_params p;
    int64_t batch, length_in, length_out;
    size_t nx, ny, nw;
    float *x, *w_pt, *b;
    double *ref;
} data;

static clconvt_params layer_params(void) {
    clconvt_params p;
    clconvt_params_init(&p, 3, 5, 4);
    p.stride = 2;
    p.pad_left = 1;
    p.pad_right = 2;
    p.output_padding = 1;
    p.has_bias = 1;
    return p;
}

static float *floats_of(const double *v, size_t n) {
    float *f = malloc((n ? n : 1) * sizeof *f);
    cr_assert(f != NULL);
    for (size_t i = 0; i < n; ++i)
        f[i] = (float)v[i];
    return f;
}

static void data_make(data *d, clconvt_params params, int64_t batch, int64_t length_in,
                      uint64_t seed) {
    const clconvt_params *p = &params;
    *d = (data){.p = params, .batch = batch, .length_in = length_in};
    cr_assert_eq(clconvt_output_length(p, length_in, &d->length_out), CLCONVT_SUCCESS);
    d->nx = (size_t)(batch * p->in_channels * length_in);
    d->ny = (size_t)(batch * p->out_channels * d->length_out);
    d->nw = (size_t)(p->in_channels * (p->out_channels / p->groups) * p->kernel_length);
    double *x = malloc((d->nx + 1) * sizeof *x), *w = malloc(d->nw * sizeof *w);
    double *b = malloc((size_t)p->out_channels * sizeof *b);
    d->ref = malloc((d->ny + 1) * sizeof *d->ref);
    cr_assert(x && w && b && d->ref);
    uint64_t state = seed;
    support_fill(x, d->nx, &state, CLCONVT_F32);
    support_fill(w, d->nw, &state, CLCONVT_F32);
    support_fill(b, (size_t)p->out_channels, &state, CLCONVT_F32);
    cr_assert_eq(reference_forward(p, x, w, p->has_bias ? b : NULL, batch, length_in, d->ref), 0);
    d->x = floats_of(x, d->nx);
    d->w_pt = floats_of(w, d->nw);
    d->b = floats_of(b, (size_t)p->out_channels);
    free(x);
    free(w);
    free(b);
}

static void data_free(data *d) {
    free(d->x);
    free(d->w_pt);
    free(d->b);
    free(d->ref);
}

static clconvt_layer *layer_for(clconvt_device *device, const data *d) {
    clconvt_layer *layer = NULL;
    cr_assert_eq(clconvt_layer_create(device, &d->p, &layer), CLCONVT_SUCCESS, "%s",
                 clconvt_last_error());
    cr_assert_eq(clconvt_layer_set_weight(layer, d->w_pt, CLCONVT_WEIGHT_PYTORCH, CLCONVT_F32),
                 CLCONVT_SUCCESS, "%s", clconvt_last_error());
    if (d->p.has_bias)
        cr_assert_eq(clconvt_layer_set_bias(layer, d->b, CLCONVT_F32), CLCONVT_SUCCESS, "%s",
                     clconvt_last_error());
    return layer;
}

static void expect_matches(const data *d, const float *y, const char *what) {
    double *yd = malloc((d->ny + 1) * sizeof *yd);
    cr_assert(yd != NULL);
    for (size_t i = 0; i < d->ny; ++i)
        yd[i] = y[i];
    const double error = reference_normalised_error(yd, d->ref, d->ny);
    cr_assert(error <= reference_error_bound(CLCONVT_F32), "%s: error %g (N %lld, L_in %lld)", what,
              error, (long long)d->batch, (long long)d->length_in);
    free(yd);
}

static void sleep_ms(long ms) {
    const struct timespec t = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&t, NULL);
}

static cl_uint context_refs(cl_context context) {
    cl_uint refs = 0;
    cr_assert_eq(clGetContextInfo(context, CL_CONTEXT_REFERENCE_COUNT, sizeof refs, &refs, NULL),
                 CL_SUCCESS, "the caller's context is no longer valid");
    return refs;
}

static cl_uint queue_refs(cl_command_queue queue) {
    cl_uint refs = 0;
    cr_assert_eq(clGetCommandQueueInfo(queue, CL_QUEUE_REFERENCE_COUNT, sizeof refs, &refs, NULL),
                 CL_SUCCESS, "the caller's queue is no longer valid");
    return refs;
}

/* The reference counts come back to what they were. OpenCL drivers may drop the references their
 * finished commands hold a little after the commands complete (PoCL does, on its own threads), so
 * this waits up to two seconds for the counts to settle. */
static void expect_refs_settle(cl_context context, cl_uint context_want, cl_command_queue queue,
                               cl_uint queue_want, const char *what) {
    cl_uint context_now = 0, queue_now = 0;
    for (int tries = 0; tries < 200; ++tries) {
        context_now = context_refs(context);
        queue_now = queue_refs(queue);
        if (context_now == context_want && queue_now == queue_want)
            return;
        sleep_ms(10);
    }
    cr_assert_fail("%s: the context holds %u references (expected %u), the queue %u (expected %u)",
                   what, context_now, context_want, queue_now, queue_want);
}

/* A context and in-order queue of the caller's own on the suite's device. */
static void caller_objects(cl_context *context, cl_command_queue *queue) {
    cl_device_id id = clconvt_device_id(support_device());
    cl_platform_id platform;
    cr_assert_eq(clGetDeviceInfo(id, CL_DEVICE_PLATFORM, sizeof platform, &platform, NULL),
                 CL_SUCCESS);
    const cl_context_properties properties[] = {CL_CONTEXT_PLATFORM,
                                                (cl_context_properties)platform, 0};
    cl_int err;
    *context = clCreateContext(properties, 1, &id, NULL, NULL, &err);
    cr_assert_eq(err, CL_SUCCESS, "clCreateContext: %d", err);
    *queue = clCreateCommandQueue(*context, id, 0, &err);
    cr_assert_eq(err, CL_SUCCESS, "clCreateCommandQueue: %d", err);
}

/* The caller's context and queue still work: a buffer round trip. */
static void expect_usable(cl_context context, cl_command_queue queue) {
    const int values[4] = {1, -2, 3, 40000};
    int back[4] = {0};
    cl_int err;
    cl_mem m = clCreateBuffer(context, CL_MEM_READ_WRITE, sizeof values, NULL, &err);
    cr_assert_eq(err, CL_SUCCESS, "clCreateBuffer on the caller's context: %d", err);
    cr_assert_eq(clEnqueueWriteBuffer(queue, m, CL_FALSE, 0, sizeof values, values, 0, NULL, NULL),
                 CL_SUCCESS);
    cr_assert_eq(clEnqueueReadBuffer(queue, m, CL_TRUE, 0, sizeof back, back, 0, NULL, NULL),
                 CL_SUCCESS);
    cr_assert_arr_eq(back, values, sizeof values);
    cr_assert_eq(clFinish(queue), CL_SUCCESS);
    clReleaseMemObject(m);
}

static cl_int event_status(cl_event event) {
    cl_int status = -1;
    cr_assert_eq(
        clGetEventInfo(event, CL_EVENT_COMMAND_EXECUTION_STATUS, sizeof status, &status, NULL),
        CL_SUCCESS);
    return status;
}

/* Forward on caller buffers and forward_queue, gated on a user event; checks the result. */
static void forward_gated(clconvt_device *device, cl_context context,
                          cl_command_queue forward_queue, const char *what) {
    data d;
    data_make(&d, layer_params(), 2, 37, 1234);
    clconvt_layer *layer = layer_for(device, &d);
    cl_int err;
    cl_mem in = clCreateBuffer(context, CL_MEM_READ_ONLY | CL_MEM_COPY_HOST_PTR,
                               d.nx * sizeof(float), d.x, &err);
    cr_assert_eq(err, CL_SUCCESS);
    cl_mem out = clCreateBuffer(context, CL_MEM_READ_WRITE, d.ny * sizeof(float), NULL, &err);
    cr_assert_eq(err, CL_SUCCESS);
    float *y = malloc(d.ny * sizeof *y);
    cr_assert(y != NULL);
    for (size_t i = 0; i < d.ny; ++i)
        y[i] = NAN; /* stale contents would fail the comparison */
    cr_assert_eq(clEnqueueWriteBuffer(forward_queue, out, CL_TRUE, 0, d.ny * sizeof(float), y, 0,
                                      NULL, NULL),
                 CL_SUCCESS);

    cl_event gate = clCreateUserEvent(context, &err);
    cr_assert_eq(err, CL_SUCCESS);
    cl_event done = NULL;
    cr_assert_eq(
        clconvt_layer_forward(layer, forward_queue, in, out, d.batch, d.length_in, 1, &gate, &done),
        CLCONVT_SUCCESS, "%s: %s", what, clconvt_last_error());
    cr_assert_not_null(done);
    cl_command_queue done_queue = NULL;
    cr_assert_eq(clGetEventInfo(done, CL_EVENT_COMMAND_QUEUE, sizeof done_queue, &done_queue, NULL),
                 CL_SUCCESS);
    cr_assert_eq(done_queue, forward_queue, "%s: the forward ran on another queue", what);
    /* While the gate is closed the forward must not run. */
    cr_assert_eq(clFlush(forward_queue), CL_SUCCESS);
    sleep_ms(100);
    cr_assert_neq(event_status(done), CL_COMPLETE, "%s: the forward ignored its wait list", what);
    cr_assert_eq(clSetUserEventStatus(gate, CL_COMPLETE), CL_SUCCESS);
    cr_assert_eq(clWaitForEvents(1, &done), CL_SUCCESS);
    cr_assert_eq(event_status(done), CL_COMPLETE);
    /* done completes with the output: a read that waits on nothing but done sees it. */
    cr_assert_eq(clEnqueueReadBuffer(forward_queue, out, CL_TRUE, 0, d.ny * sizeof(float), y, 1,
                                     &done, NULL),
                 CL_SUCCESS);
    expect_matches(&d, y, what);
    clReleaseEvent(done);
    clReleaseEvent(gate);
    clReleaseMemObject(in);
    clReleaseMemObject(out);
    clconvt_layer_release(layer);
    free(y);
    data_free(&d);
}

Test(device, wrap_with_caller_queue) {
    cl_context context;
    cl_command_queue queue;
    caller_objects(&context, &queue);
    cl_device_id id = clconvt_device_id(support_device());
    const cl_uint context_before = context_refs(context), queue_before = queue_refs(queue);

    clconvt_device *device = NULL;
    cr_assert_eq(clconvt_device_wrap(context, id, queue, &device), CLCONVT_SUCCESS, "%s",
                 clconvt_last_error());
    cr_assert_eq(clconvt_device_context(device), context);
    cr_assert_eq(clconvt_device_id(device), id);
    cr_assert_eq(clconvt_device_queue(device), queue, "wrap did not use the caller's queue");
    /* The handle holds references of its own. */
    cr_assert_gt(context_refs(context), context_before);
    cr_assert_gt(queue_refs(queue), queue_before);

    forward_gated(device, context, queue, "the caller's queue, passed explicitly");

    /* NULL means the device's queue, which here is the caller's: forward_host uses it too. */
    data d;
    data_make(&d, layer_params(), 1, 20, 77);
    clconvt_layer *layer = layer_for(device, &d);
    float *y = malloc(d.ny * sizeof *y);
    cr_assert(y != NULL);
    cr_assert_eq(clconvt_layer_forward_host(layer, d.x, y, d.batch, d.length_in), CLCONVT_SUCCESS,
                 "%s", clconvt_last_error());
    expect_matches(&d, y, "forward_host on a wrapped device");
    clconvt_layer_release(layer);
    free(y);
    data_free(&d);

    clconvt_device_release(device);
    cr_assert_eq(clFinish(queue), CL_SUCCESS);
    /* Ownership stayed with the caller: the handle gave back exactly what it took. */
    expect_refs_settle(context, context_before, queue, queue_before, "after release");
    expect_usable(context, queue);
    cr_assert_eq(clReleaseCommandQueue(queue), CL_SUCCESS);
    cr_assert_eq(clReleaseContext(context), CL_SUCCESS);
}

Test(device, wrap_without_queue) {
    cl_context context;
    cl_command_queue caller_queue;
    caller_objects(&context, &caller_queue);
    cl_device_id id = clconvt_device_id(support_device());
    const cl_uint context_before = context_refs(context), queue_before = queue_refs(caller_queue);

    clconvt_device *device = NULL;
    cr_assert_eq(clconvt_device_wrap(context, id, NULL, &device), CLCONVT_SUCCESS, "%s",
                 clconvt_last_error());
    cl_command_queue own = clconvt_device_queue(device);
    cr_assert_not_null(own, "wrap with queue NULL made no queue");
    cr_assert_neq(own, caller_queue);
    cl_context own_context = NULL;
    cr_assert_eq(
        clGetCommandQueueInfo(own, CL_QUEUE_CONTEXT, sizeof own_context, &own_context, NULL),
        CL_SUCCESS);
    cr_assert_eq(own_context, context);
    cl_command_queue_properties properties = 0;
    cr_assert_eq(
        clGetCommandQueueInfo(own, CL_QUEUE_PROPERTIES, sizeof properties, &properties, NULL),
        CL_SUCCESS);
    cr_assert_eq(properties & CL_QUEUE_OUT_OF_ORDER_EXEC_MODE_ENABLE, 0, "not in order");

    /* Any queue on the device's context may run a forward: here the caller's other queue. */
    forward_gated(device, context, caller_queue, "a second queue on the wrapped context");
    /* And the handle's own queue (queue NULL). */
    data d;
    data_make(&d, layer_params(), 3, 9, 5);
    clconvt_layer *layer = layer_for(device, &d);
    float *y = malloc(d.ny * sizeof *y);
    cr_assert(y != NULL);
    cr_assert_eq(clconvt_layer_forward_host(layer, d.x, y, d.batch, d.length_in), CLCONVT_SUCCESS,
                 "%s", clconvt_last_error());
    expect_matches(&d, y, "forward_host on the handle's own queue");
    clconvt_layer_release(layer);
    free(y);
    data_free(&d);

    clconvt_device_release(device);
    cr_assert_eq(clFinish(caller_queue), CL_SUCCESS);
    expect_refs_settle(context, context_before, caller_queue, queue_before, "after release");
    expect_usable(context, caller_queue);
    cr_assert_eq(clReleaseCommandQueue(caller_queue), CL_SUCCESS);
    cr_assert_eq(clReleaseContext(context), CL_SUCCESS);
}

Test(device, queue_from_another_context) {
    cl_context context, other_context;
    cl_command_queue queue, other_queue;
    caller_objects(&context, &queue);
    caller_objects(&other_context, &other_queue);
    cl_device_id id = clconvt_device_id(support_device());
    const cl_uint context_before = context_refs(context), queue_before = queue_refs(other_queue);

    /* Wrapping a queue of another context is refused, and takes no reference. */
    clconvt_device *device = NULL;
    const clconvt_status st = clconvt_device_wrap(context, id, other_queue, &device);
    cr_assert_eq(st, CLCONVT_ERROR_INVALID_ARGUMENT, "wrap gave %s: %s", clconvt_status_string(st),
                 clconvt_last_error());
    cr_assert(strstr(clconvt_last_error(), "queue") != NULL &&
                  strstr(clconvt_last_error(), "context") != NULL,
              "%s", clconvt_last_error());
    cr_assert_null(device);
    expect_refs_settle(context, context_before, other_queue, queue_before, "after a failed wrap");

    /* A forward on a queue of another context is refused before anything is enqueued. */
    cr_assert_eq(clconvt_device_wrap(context, id, queue, &device), CLCONVT_SUCCESS, "%s",
                 clconvt_last_error());
    data d;
    data_make(&d, layer_params(), 1, 8, 3);
    clconvt_layer *layer = layer_for(device, &d);
    cl_int err;
    cl_mem in = clCreateBuffer(context, CL_MEM_READ_ONLY | CL_MEM_COPY_HOST_PTR,
                               d.nx * sizeof(float), d.x, &err);
    cr_assert_eq(err, CL_SUCCESS);
    cl_mem out = clCreateBuffer(context, CL_MEM_READ_WRITE, d.ny * sizeof(float), NULL, &err);
    cr_assert_eq(err, CL_SUCCESS);
    cl_event done = NULL;
    const clconvt_status fst =
        clconvt_layer_forward(layer, other_queue, in, out, d.batch, d.length_in, 0, NULL, &done);
    cr_assert_eq(fst, CLCONVT_ERROR_INVALID_ARGUMENT, "forward gave %s: %s",
                 clconvt_status_string(fst), clconvt_last_error());
    cr_assert(strstr(clconvt_last_error(), "queue") != NULL &&
                  strstr(clconvt_last_error(), "context") != NULL,
              "%s", clconvt_last_error());
    cr_assert_null(done, "a refused forward returned an event");
    /* Also with batch 0, where nothing would be computed. */
    cr_assert_eq(clconvt_layer_forward(layer, other_queue, in, out, 0, d.length_in, 0, NULL, &done),
                 CLCONVT_ERROR_INVALID_ARGUMENT);
    cr_assert_null(done);
    /* The right queue still works on the same layer. */
    cr_assert_eq(clconvt_layer_forward(layer, queue, in, out, d.batch, d.length_in, 0, NULL, NULL),
                 CLCONVT_SUCCESS, "%s", clconvt_last_error());
    cr_assert_eq(clFinish(queue), CL_SUCCESS);

    clReleaseMemObject(in);
    clReleaseMemObject(out);
    clconvt_layer_release(layer);
    data_free(&d);
    clconvt_device_release(device);
    clReleaseCommandQueue(other_queue);
    clReleaseContext(other_context);
    clReleaseCommandQueue(queue);
    clReleaseContext(context);
}

/* ---- Programs ------------------------------------------------------------------------------- */

static uint64_t programs_built(clconvt_device *device) {
    clconvt_device_info info;
    cr_assert_eq(clconvt_device_get_info(device, &info), CLCONVT_SUCCESS);
    return info.programs_built;
}

Test(device, no_build_per_length_or_batch) {
    clconvt_device *device = support_device();
    const uint64_t before = programs_built(device);
    data d;
    data_make(&d, layer_params(), 1, 5, 9);
    clconvt_layer *layer = layer_for(device, &d);
    const uint64_t after_create = programs_built(device);
    cr_assert_gt(after_create, before, "creating the first layer built no program");
    /* A second layer with the same (stride, layout, dtype, tile) reuses the program. */
    clconvt_layer *twin = layer_for(device, &d);
    cr_assert_eq(programs_built(device), after_create, "an identical layer built again");
    clconvt_layer_release(twin);

    static const int64_t lengths[] = {1, 17, 1000};
    static const int64_t batches[] = {1, 3};
    for (size_t li = 0; li < 3; ++li)
        for (size_t bi = 0; bi < 2; ++bi) {
            data run;
            /* New data each time; the weight and bias are restaged (that compiles nothing). */
            data_make(&run, layer_params(), batches[bi], lengths[li], 100 + li * 2 + bi);
            cr_assert_eq(
                clconvt_layer_set_weight(layer, run.w_pt, CLCONVT_WEIGHT_PYTORCH, CLCONVT_F32),
                CLCONVT_SUCCESS);
            cr_assert_eq(clconvt_layer_set_bias(layer, run.b, CLCONVT_F32), CLCONVT_SUCCESS);
            float *y = malloc((run.ny + 1) * sizeof *y);
            cr_assert(y != NULL);
            cr_assert_eq(clconvt_layer_forward_host(layer, run.x, y, run.batch, run.length_in),
                         CLCONVT_SUCCESS, "%s", clconvt_last_error());
            expect_matches(&run, y, "new length or batch");
            cr_assert_eq(programs_built(device), after_create,
                         "a forward at N %lld, L_in %lld compiled a program", (long long)run.batch,
                         (long long)run.length_in);
            free(y);
            data_free(&run);
        }
    /* The counter does count: a layer with another stride needs a new program. */
    clconvt_params p = layer_params();
    p.stride = 3;
    clconvt_layer *other = NULL;
    cr_assert_eq(clconvt_layer_create(device, &p, &other), CLCONVT_SUCCESS, "%s",
                 clconvt_last_error());
    cr_assert_gt(programs_built(device), after_create, "a new stride built no program");
    clconvt_layer_release(other);
    clconvt_layer_release(layer);
    data_free(&d);
}

/* ---- Out-of-order queues -------------------------------------------------------------------- */

/* Runs of each forward below: the unchained commands gave wrong results in 1-3 of 30. */
#define OOO_RUNS 40

/* The layer: N 4, 8 -> 8 channels, K 4, stride 2, L_in 300, NCL, with a bias. */
static clconvt_params ooo_params(void) {
    clconvt_params p;
    clconvt_params_init(&p, 8, 8, 4);
    p.stride = 2;
    p.has_bias = 1;
    p.layout = CLCONVT_LAYOUT_NCL;
    return p;
}

/* A context and out-of-order queue of the caller's; 0 (the test skipped, with a message) when
 * the device cannot run one. */
static int ooo_objects(cl_context *context, cl_command_queue *queue) {
    cl_device_id id = clconvt_device_id(support_device());
    cl_command_queue_properties supported = 0;
    cr_assert_eq(
        clGetDeviceInfo(id, CL_DEVICE_QUEUE_PROPERTIES, sizeof supported, &supported, NULL),
        CL_SUCCESS);
    if (!(supported & CL_QUEUE_OUT_OF_ORDER_EXEC_MODE_ENABLE)) {
        cr_skip_test("the device has no out-of-order queues (CL_DEVICE_QUEUE_PROPERTIES)");
        return 0;
    }
    cl_command_queue in_order;
    caller_objects(context, &in_order);
    clReleaseCommandQueue(in_order);
    cl_int err;
    *queue = clCreateCommandQueue(*context, id, CL_QUEUE_OUT_OF_ORDER_EXEC_MODE_ENABLE, &err);
    cr_assert_eq(err, CL_SUCCESS, "clCreateCommandQueue(out of order): %d", err);
    return 1;
}

static clconvt_layer *layer_with_plan(clconvt_device *device, const data *d, const char *plan) {
    clconvt_layer *layer = NULL;
    cr_assert_eq(clconvt_layer_create_with_plan(device, &d->p, plan, &layer), CLCONVT_SUCCESS, "%s",
                 clconvt_last_error());
    cr_assert_eq(clconvt_layer_set_weight(layer, d->w_pt, CLCONVT_WEIGHT_PYTORCH, CLCONVT_F32),
                 CLCONVT_SUCCESS, "%s", clconvt_last_error());
    cr_assert_eq(clconvt_layer_set_bias(layer, d->b, CLCONVT_F32), CLCONVT_SUCCESS, "%s",
                 clconvt_last_error());
    return layer;
}

/* A caller's context and out-of-order queue, a device wrapped on them, and a layer with data. */
typedef struct ooo_case {
    cl_context context;
    cl_command_queue queue;
    clconvt_device *device;
    data d;
    clconvt_layer *layer;
    float *y;
} ooo_case;

/* 0 when skipped. wrap_queue: the device's queue is the out-of-order one (forward_host uses it),
 * else the device makes its own and only the caller's forwards use the out-of-order one. */
static int ooo_make(ooo_case *c, int wrap_queue, const char *plan, uint64_t seed) {
    if (!ooo_objects(&c->context, &c->queue))
        return 0;
    c->device = NULL;
    cr_assert_eq(clconvt_device_wrap(c->context, clconvt_device_id(support_device()),
                                     wrap_queue ? c->queue : NULL, &c->device),
                 CLCONVT_SUCCESS, "%s", clconvt_last_error());
    data_make(&c->d, ooo_params(), 4, 300, seed);
    c->layer = layer_with_plan(c->device, &c->d, plan);
    c->y = malloc(c->d.ny * sizeof *c->y);
    cr_assert(c->y != NULL);
    return 1;
}

static void ooo_free(ooo_case *c) {
    free(c->y);
    clconvt_layer_release(c->layer);
    data_free(&c->d);
    clconvt_device_release(c->device);
    clReleaseCommandQueue(c->queue);
    clReleaseContext(c->context);
}

static void ooo_expect_matches(const ooo_case *c, const char *forward, const char *plan, int run) {
    char what[128];
    snprintf(what, sizeof what, "%s on an out-of-order queue (%s), run %d", forward,
             plan ? plan : "default plan", run);
    expect_matches(&c->d, c->y, what);
}

/* Every run of forward_host on the wrapped out-of-order queue matches the reference. */
static void ooo_forward_host(const char *plan) {
    support_require_plan(plan);
    ooo_case c;
    if (!ooo_make(&c, 1, plan, 4242))
        return;
    for (int run = 0; run < OOO_RUNS; ++run) {
        for (size_t i = 0; i < c.d.ny; ++i)
            c.y[i] = NAN;
        cr_assert_eq(clconvt_layer_forward_host(c.layer, c.d.x, c.y, c.d.batch, c.d.length_in),
                     CLCONVT_SUCCESS, "%s", clconvt_last_error());
        ooo_expect_matches(&c, "forward_host", plan, run);
    }
    ooo_free(&c);
}

/* Every forward on the caller's out-of-order queue (the device's own is in order) matches. */
static void ooo_forward(const char *plan) {
    support_require_plan(plan);
    ooo_case c;
    if (!ooo_make(&c, 0, plan, 4343))
        return;
    const size_t in_bytes = c.d.nx * sizeof(float), out_bytes = c.d.ny * sizeof(float);
    cl_int err;
    cl_mem in =
        clCreateBuffer(c.context, CL_MEM_READ_ONLY | CL_MEM_COPY_HOST_PTR, in_bytes, c.d.x, &err);
    cr_assert_eq(err, CL_SUCCESS);
    cl_mem out = clCreateBuffer(c.context, CL_MEM_READ_WRITE, out_bytes, NULL, &err);
    cr_assert_eq(err, CL_SUCCESS);
    for (int run = 0; run < OOO_RUNS; ++run) {
        for (size_t i = 0; i < c.d.ny; ++i)
            c.y[i] = NAN; /* stale contents of the last run would pass */
        cl_event filled = NULL, done = NULL;
        cr_assert_eq(
            clEnqueueWriteBuffer(c.queue, out, CL_FALSE, 0, out_bytes, c.y, 0, NULL, &filled),
            CL_SUCCESS);
        cr_assert_eq(clconvt_layer_forward(c.layer, c.queue, in, out, c.d.batch, c.d.length_in, 1,
                                           &filled, &done),
                     CLCONVT_SUCCESS, "%s", clconvt_last_error());
        cr_assert_eq(clEnqueueReadBuffer(c.queue, out, CL_TRUE, 0, out_bytes, c.y, 1, &done, NULL),
                     CL_SUCCESS);
        ooo_expect_matches(&c, "forward", plan, run);
        clReleaseEvent(filled);
        clReleaseEvent(done);
    }
    clReleaseMemObject(in);
    clReleaseMemObject(out);
    ooo_free(&c);
}

Test(device, out_of_order_queue_forward_host) {
    ooo_forward_host(NULL);
}

Test(device, out_of_order_queue_forward_host_gemm) {
    setenv("CLCONVT_GEMM_COLUMN_BYTES", "4096", 1); /* ten chunks per sample */
    ooo_forward_host("gemm");
}

Test(device, out_of_order_queue_forward_host_split) {
    setenv("CLCONVT_MAX_ALLOC_BYTES", "2048", 1); /* pieces of positions of one sample */
    ooo_forward_host(NULL);
}

Test(device, out_of_order_queue_forward) {
    ooo_forward(NULL);
}

Test(device, out_of_order_queue_forward_gemm) {
    setenv("CLCONVT_GEMM_COLUMN_BYTES", "4096", 1);
    ooo_forward("gemm");
}

/* ---- forward_host in the caller's arrays ----------------------------------------------------- */

/* forward_host on arrays that start one float past malloc's alignment matches the reference, and
 * nothing is written before or after the output. On a CPU device the default plan's kernels work
 * in the caller's arrays themselves, so the call allocates no device buffer (the gemm path's
 * input goes through a copy: CLBlast's vector loads need an alignment the caller's need not
 * have). */
static void forward_host_offset_arrays(clconvt_layout layout, const char *plan) {
    support_require_plan(plan);
    clconvt_params p = ooo_params();
    p.layout = layout;
    data d;
    data_make(&d, p, 3, 77, 515);
    clconvt_device *device = support_device();
    clconvt_layer *layer = layer_with_plan(device, &d, plan);
    float *x = malloc((d.nx + 1) * sizeof *x), *y = malloc((d.ny + 2) * sizeof *y);
    cr_assert(x != NULL && y != NULL);
    memcpy(x + 1, d.x, d.nx * sizeof *x);
    for (size_t i = 0; i < d.ny + 2; ++i)
        y[i] = NAN;
    clconvt_device_info before, after;
    clconvt_device_reset_peak(device);
    cr_assert_eq(clconvt_device_get_info(device, &before), CLCONVT_SUCCESS);
    cr_assert_eq(clconvt_layer_forward_host(layer, x + 1, y + 1, d.batch, d.length_in),
                 CLCONVT_SUCCESS, "%s", clconvt_last_error());
    cr_assert_eq(clconvt_device_get_info(device, &after), CLCONVT_SUCCESS);
    char what[96];
    snprintf(what, sizeof what, "forward_host on offset arrays (%s, %s)",
             layout == CLCONVT_LAYOUT_NCL ? "NCL" : "NLC", plan ? plan : "default plan");
    expect_matches(&d, y + 1, what);
    cr_expect(isnan(y[0]) && isnan(y[d.ny + 1]), "%s wrote outside its output", what);
    if (plan == NULL && (before.type & CL_DEVICE_TYPE_CPU) != 0)
        cr_expect_eq(after.peak_allocated_bytes, before.allocated_bytes,
                     "%s on a CPU device allocated %llu bytes: its kernels did not work in place",
                     what,
                     (unsigned long long)(after.peak_allocated_bytes - before.allocated_bytes));
    free(x);
    free(y);
    clconvt_layer_release(layer);
    data_free(&d);
}

Test(device, forward_host_in_the_callers_arrays) {
    forward_host_offset_arrays(CLCONVT_LAYOUT_NCL, NULL);
    forward_host_offset_arrays(CLCONVT_LAYOUT_NLC, NULL);
}

Test(device, forward_host_in_the_callers_arrays_gemm) {
    forward_host_offset_arrays(CLCONVT_LAYOUT_NCL, "gemm");
    forward_host_offset_arrays(CLCONVT_LAYOUT_NLC, "gemm");
}

/* forward_host whose output overwrites its own input, from the same address or a few floats on,
 * matches the reference: such a call goes through copies, never in place. */
Test(device, forward_host_output_over_its_input) {
    const clconvt_layout layouts[] = {CLCONVT_LAYOUT_NCL, CLCONVT_LAYOUT_NLC};
    const size_t shifts[] = {0, 3};
    for (size_t l = 0; l < 2; ++l)
        for (size_t s = 0; s < 2; ++s) {
            clconvt_params p = ooo_params();
            p.layout = layouts[l];
            data d;
            data_make(&d, p, 2, 50, 616);
            clconvt_layer *layer = layer_with_plan(support_device(), &d, NULL);
            cr_assert(d.ny > d.nx);
            float *both = malloc((d.ny + shifts[s]) * sizeof *both);
            cr_assert(both != NULL);
            memcpy(both, d.x, d.nx * sizeof *both);
            cr_assert_eq(
                clconvt_layer_forward_host(layer, both, both + shifts[s], d.batch, d.length_in),
                CLCONVT_SUCCESS, "%s", clconvt_last_error());
            char what[96];
            snprintf(what, sizeof what, "forward_host with out = in + %zu (%s)", shifts[s],
                     l == 0 ? "NCL" : "NLC");
            expect_matches(&d, both + shifts[s], what);
            free(both);
            clconvt_layer_release(layer);
            data_free(&d);
        }
}

/* ---- Releasing a device --------------------------------------------------------------------- */

/* This process's resident set, in bytes (/proc/self/statm's second field, in pages). */
static double resident_bytes(void) {
    FILE *f = fopen("/proc/self/statm", "r");
    cr_assert_not_null(f, "cannot open /proc/self/statm");
    unsigned long pages = 0, resident = 0;
    cr_assert_eq(fscanf(f, "%lu %lu", &pages, &resident), 2);
    fclose(f);
    return (double)resident * (double)sysconf(_SC_PAGESIZE);
}

/* Open a device, create a gemm layer, forward, release: what CLBlast caches for the device's
 * context (its programs hold the context) must go with it, or every cycle leaks the context. */
Test(device, release_frees_what_clblast_cached, .timeout = 600) {
    enum { WARM_UP = 4, CYCLES = 24 };
    const double bound = 20e6; /* 3.2 MB per cycle leaked: 64 MB over 20 cycles */
    support_require_plan("gemm");
    double after_warm_up = 0;
    data d;
    data_make(&d, ooo_params(), 2, 40, 99);
    float *y = malloc(d.ny * sizeof *y);
    cr_assert(y != NULL);
    for (int cycle = 0; cycle < CYCLES; ++cycle) {
        clconvt_device *device = NULL;
        cr_assert_eq(clconvt_device_open(CLCONVT_DEVICE_ANY, NULL, &device), CLCONVT_SUCCESS, "%s",
                     clconvt_last_error());
        clconvt_layer *layer = layer_with_plan(device, &d, "gemm");
        cr_assert_eq(clconvt_layer_forward_host(layer, d.x, y, d.batch, d.length_in),
                     CLCONVT_SUCCESS, "%s", clconvt_last_error());
        expect_matches(&d, y, "gemm forward");
        clconvt_layer_release(layer);
        clconvt_device_release(device);
        if (cycle == WARM_UP - 1)
            after_warm_up = resident_bytes();
    }
    const double growth = resident_bytes() - after_warm_up;
    cr_log_info("the resident set grew by %.1f MB over %d cycles", growth / 1e6, CYCLES - WARM_UP);
    cr_expect_lt(growth, bound, "the resident set grew by %.1f MB over %d cycles", growth / 1e6,
                 CYCLES - WARM_UP);
    free(y);
    data_free(&d);
}

/* ---- Arguments of another context, of another kind, or aliased ----------------------------- */

/* A layer on a device wrapped on the caller's context, and what a forward of it needs. */
typedef struct foreign_case {
    cl_context context, other_context;
    cl_command_queue queue, other_queue;
    clconvt_device *device;
    data d;
    clconvt_layer *layer;
    cl_mem in, out;
    size_t in_bytes, out_bytes;
} foreign_case;

static cl_mem buffer_on(cl_context context, size_t bytes, void *host) {
    cl_int err;
    cl_mem m = clCreateBuffer(context, CL_MEM_READ_WRITE | (host ? CL_MEM_COPY_HOST_PTR : 0), bytes,
                              host, &err);
    cr_assert_eq(err, CL_SUCCESS, "clCreateBuffer: %d", err);
    return m;
}

static void foreign_make(foreign_case *c) {
    caller_objects(&c->context, &c->queue);
    caller_objects(&c->other_context, &c->other_queue);
    cr_assert_eq(
        clconvt_device_wrap(c->context, clconvt_device_id(support_device()), c->queue, &c->device),
        CLCONVT_SUCCESS, "%s", clconvt_last_error());
    data_make(&c->d, layer_params(), 2, 16, 8);
    c->layer = layer_for(c->device, &c->d);
    c->in_bytes = c->d.nx * sizeof(float);
    c->out_bytes = c->d.ny * sizeof(float);
    c->in = buffer_on(c->context, c->in_bytes, c->d.x);
    c->out = buffer_on(c->context, c->out_bytes, NULL);
}

static void foreign_free(foreign_case *c) {
    clReleaseMemObject(c->in);
    clReleaseMemObject(c->out);
    clconvt_layer_release(c->layer);
    data_free(&c->d);
    clconvt_device_release(c->device);
    clReleaseCommandQueue(c->queue);
    clReleaseCommandQueue(c->other_queue);
    clReleaseContext(c->context);
    clReleaseContext(c->other_context);
}

/* The message holds every word (NULL-terminated list). */
static void expect_message_at(int line, const char *what, const char *const *words) {
    const char *message = clconvt_last_error();
    for (const char *const *w = words; *w != NULL; ++w)
        cr_expect(strstr(message, *w) != NULL, "line %d, %s: the message does not say \"%s\": %s",
                  line, what, *w, message);
}

/* A forward refused with CLCONVT_ERROR_INVALID_ARGUMENT and a message holding the words, before
 * anything was enqueued (no event returned). */
static void expect_forward_refused_at(int line, foreign_case *c, cl_mem in, cl_mem out,
                                      int64_t batch, cl_uint num_wait, const cl_event *wait,
                                      const char *what, const char *const *words) {
    cl_event done = NULL;
    const clconvt_status st = clconvt_layer_forward(c->layer, c->queue, in, out, batch,
                                                    c->d.length_in, num_wait, wait, &done);
    cr_expect_eq(st, CLCONVT_ERROR_INVALID_ARGUMENT, "line %d, %s: forward gave %s: %s", line, what,
                 clconvt_status_string(st), clconvt_last_error());
    cr_expect_null(done, "line %d, %s: a refused forward returned an event", line, what);
    if (done != NULL)
        clReleaseEvent(done);
    expect_message_at(line, what, words);
}

#define WORDS(...) ((const char *const[]){__VA_ARGS__, NULL})
#define expect_forward_refused(c, in, out, batch, num_wait, wait, what, ...)                       \
    expect_forward_refused_at(__LINE__, c, in, out, batch, num_wait, wait, what, WORDS(__VA_ARGS__))

/* The forward is right: the arguments that are accepted work. */
static void expect_forward_works(foreign_case *c, cl_mem in, cl_mem out, const char *what) {
    cr_assert_eq(clconvt_layer_forward(c->layer, c->queue, in, out, c->d.batch, c->d.length_in, 0,
                                       NULL, NULL),
                 CLCONVT_SUCCESS, "%s: %s", what, clconvt_last_error());
    float *y = malloc(c->out_bytes);
    cr_assert(y != NULL);
    cr_assert_eq(clEnqueueReadBuffer(c->queue, out, CL_TRUE, 0, c->out_bytes, y, 0, NULL, NULL),
                 CL_SUCCESS);
    expect_matches(&c->d, y, what);
    free(y);
}

Test(device, forward_refuses_buffers_of_another_context) {
    foreign_case c;
    foreign_make(&c);
    cl_mem foreign_in = buffer_on(c.other_context, c.in_bytes, c.d.x);
    cl_mem foreign_out = buffer_on(c.other_context, c.out_bytes, NULL);
    expect_forward_refused(&c, foreign_in, c.out, c.d.batch, 0, NULL, "input of another context",
                           "clconvt_layer_forward", "in is a buffer of another context");
    expect_forward_refused(&c, c.in, foreign_out, c.d.batch, 0, NULL, "output of another context",
                           "clconvt_layer_forward", "out is a buffer of another context");
    expect_forward_works(&c, c.in, c.out, "the device's own context");
    clReleaseMemObject(foreign_in);
    clReleaseMemObject(foreign_out);
    foreign_free(&c);
}

Test(device, forward_refuses_an_image) {
    foreign_case c;
    foreign_make(&c);
    cl_bool images = CL_FALSE;
    cr_assert_eq(clGetDeviceInfo(clconvt_device_id(c.device), CL_DEVICE_IMAGE_SUPPORT,
                                 sizeof images, &images, NULL),
                 CL_SUCCESS);
    if (!images) {
        foreign_free(&c);
        cr_skip_test("the device has no images (CL_DEVICE_IMAGE_SUPPORT)");
        return;
    }
    /* RGBA float texels, enough of them for either tensor's bytes. */
    const cl_image_format format = {CL_RGBA, CL_FLOAT};
    const size_t bytes = c.in_bytes > c.out_bytes ? c.in_bytes : c.out_bytes;
    const cl_image_desc desc = {
        .image_type = CL_MEM_OBJECT_IMAGE2D, .image_width = bytes / 16 + 1, .image_height = 1};
    cl_int err;
    cl_mem image = clCreateImage(c.context, CL_MEM_READ_WRITE, &format, &desc, NULL, &err);
    cr_assert_eq(err, CL_SUCCESS, "clCreateImage: %d", err);
    expect_forward_refused(&c, image, c.out, c.d.batch, 0, NULL, "an image as input",
                           "in is not a buffer but a 2-D image");
    expect_forward_refused(&c, c.in, image, c.d.batch, 0, NULL, "an image as output",
                           "out is not a buffer but a 2-D image");
    clReleaseMemObject(image);
    foreign_free(&c);
}

Test(device, forward_refuses_aliased_input_and_output) {
    foreign_case c;
    foreign_make(&c);
    expect_forward_refused(&c, c.out, c.out, c.d.batch, 0, NULL, "the same buffer twice",
                           "in and out overlap");
    /* Sub-buffers of one buffer: overlapping ones are refused, disjoint ones work. */
    cl_uint align_bits = 0;
    cr_assert_eq(clGetDeviceInfo(clconvt_device_id(c.device), CL_DEVICE_MEM_BASE_ADDR_ALIGN,
                                 sizeof align_bits, &align_bits, NULL),
                 CL_SUCCESS);
    const size_t align = align_bits / 8;
    const size_t in_span = (c.in_bytes + align - 1) / align * align;
    cl_mem parent = buffer_on(c.context, in_span + c.out_bytes, NULL);
    cr_assert_eq(
        clEnqueueWriteBuffer(c.queue, parent, CL_TRUE, 0, c.in_bytes, c.d.x, 0, NULL, NULL),
        CL_SUCCESS);
    const cl_buffer_region in_region = {0, c.in_bytes};
    const cl_buffer_region overlapping = {in_span - align, c.out_bytes};
    const cl_buffer_region disjoint = {in_span, c.out_bytes};
    cl_int err;
    cl_mem sub_in = clCreateSubBuffer(parent, CL_MEM_READ_WRITE, CL_BUFFER_CREATE_TYPE_REGION,
                                      &in_region, &err);
    cr_assert_eq(err, CL_SUCCESS, "clCreateSubBuffer: %d", err);
    cl_mem sub_overlapping = clCreateSubBuffer(parent, CL_MEM_READ_WRITE,
                                               CL_BUFFER_CREATE_TYPE_REGION, &overlapping, &err);
    cr_assert_eq(err, CL_SUCCESS, "clCreateSubBuffer: %d", err);
    cl_mem sub_disjoint =
        clCreateSubBuffer(parent, CL_MEM_READ_WRITE, CL_BUFFER_CREATE_TYPE_REGION, &disjoint, &err);
    cr_assert_eq(err, CL_SUCCESS, "clCreateSubBuffer: %d", err);
    expect_forward_refused(&c, sub_in, sub_overlapping, c.d.batch, 0, NULL,
                           "overlapping sub-buffers", "in and out overlap");
    expect_forward_refused(&c, parent, sub_overlapping, c.d.batch, 0, NULL,
                           "a buffer and a sub-buffer of it", "in and out overlap");
    /* Only the bytes a forward uses count: the parent's first in_bytes, a sub-buffer after them. */
    expect_forward_works(&c, sub_in, sub_disjoint, "disjoint sub-buffers");
    expect_forward_works(&c, parent, sub_disjoint, "a buffer and a sub-buffer past its input");
    clReleaseMemObject(sub_in);
    clReleaseMemObject(sub_overlapping);
    clReleaseMemObject(sub_disjoint);
    clReleaseMemObject(parent);
    foreign_free(&c);
}

Test(device, forward_refuses_an_event_of_another_context) {
    foreign_case c;
    foreign_make(&c);
    cl_int err;
    cl_event own = clCreateUserEvent(c.context, &err);
    cr_assert_eq(err, CL_SUCCESS);
    cl_event foreign = clCreateUserEvent(c.other_context, &err);
    cr_assert_eq(err, CL_SUCCESS);
    const cl_event wait[2] = {own, foreign};
    expect_forward_refused(&c, c.in, c.out, c.d.batch, 2, wait, "a foreign wait-list event",
                           "wait_list[1]", "another context");
    expect_forward_refused(&c, c.in, c.out, 0, 2, wait, "a foreign event, batch 0", "wait_list[1]",
                           "another context");
    cr_assert_eq(clSetUserEventStatus(own, CL_COMPLETE), CL_SUCCESS);
    cr_assert_eq(clSetUserEventStatus(foreign, CL_COMPLETE), CL_SUCCESS);
    clReleaseEvent(own);
    clReleaseEvent(foreign);
    foreign_free(&c);
}

Test(device, wrap_refuses_a_device_not_in_the_context) {
    cl_device_id root = clconvt_device_id(support_device());
    const cl_device_partition_property equally[] = {CL_DEVICE_PARTITION_EQUALLY, 1, 0};
    cl_device_id sub[64];
    cl_uint count = 0;
    if (clCreateSubDevices(root, equally, 64, sub, &count) != CL_SUCCESS || count == 0) {
        cr_skip_test("the device cannot be partitioned: no second device to try");
        return;
    }
    cl_context context;
    cl_command_queue queue;
    caller_objects(&context, &queue); /* on the root device only */
    clconvt_device *device = NULL;
    const clconvt_status st = clconvt_device_wrap(context, sub[0], NULL, &device);
    cr_expect_eq(st, CLCONVT_ERROR_INVALID_ARGUMENT, "wrap gave %s: %s", clconvt_status_string(st),
                 clconvt_last_error());
    cr_expect_null(device);
    expect_message_at(__LINE__, "a device not in the context",
                      WORDS("clconvt_device_wrap", "device", "not one of the context's"));
    for (cl_uint i = 0; i < count; ++i)
        clReleaseDevice(sub[i]);
    clReleaseCommandQueue(queue);
    clReleaseContext(context);
}
