/*
 * Plan strings read strictly, and plans bounded by what a device can hold.
 *
 * A plan string's values are whole numbers in range, each key once: "vec=4294967312" once wrapped
 * to 16 and the last of two "vec" won. A plan whose register tile or work-group holds more private
 * memory than the device can is refused before anything is compiled: on PoCL such a plan crashed
 * in the work-group function, or gave silently wrong results, and "phase:p=1024,c=1024" compiled
 * for 140 s before "stack smashing detected". The built-in plan always fits.
 */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "support.h"

/* HiFi-GAN's shape, small: NCL 64 -> 32, K 16, stride 8, padding 4. */
static clconvt_params ncl_layer(void) {
    clconvt_params p;
    clconvt_params_init(&p, 64, 32, 16);
    p.stride = 8;
    p.pad_left = p.pad_right = 4;
    p.layout = CLCONVT_LAYOUT_NCL;
    p.has_bias = 1;
    return p;
}

/* The plan is refused as an invalid argument, nothing is made, and the message quotes the plan
 * and holds `why`. */
static void expect_refused(const clconvt_params *p, const char *plan, const char *why) {
    clconvt_layer *layer = NULL;
    const clconvt_status st = clconvt_layer_create_with_plan(support_device(), p, plan, &layer);
    const char *message = clconvt_last_error();
    cr_assert_eq(st, CLCONVT_ERROR_INVALID_ARGUMENT, "plan \"%s\" gave %s: %s", plan,
                 clconvt_status_string(st), message);
    cr_assert_null(layer, "plan \"%s\"", plan);
    cr_assert(strstr(message, plan) != NULL, "the message should quote \"%s\": %s", plan, message);
    cr_assert(strstr(message, why) != NULL, "plan \"%s\": the message should say \"%s\": %s", plan,
              why, message);
}

static void expect_accepted(const clconvt_params *p, const char *plan, const char *as) {
    clconvt_layer *layer = NULL;
    cr_assert_eq(clconvt_layer_create_with_plan(support_device(), p, plan, &layer), CLCONVT_SUCCESS,
                 "plan \"%s\": %s", plan, clconvt_last_error());
    char text[256];
    cr_assert_eq(clconvt_layer_plan(layer, text, sizeof text), CLCONVT_SUCCESS);
    cr_assert_str_eq(text, as, "plan \"%s\" reads as \"%s\"", plan, text);
    clconvt_layer_release(layer);
}

/* A plan string and what the message refusing it must say. */
typedef struct refusal {
    const char *plan, *why;
} refusal;

static void expect_all_refused(const clconvt_params *p, const refusal *cases, size_t count) {
    for (size_t i = 0; i < count; ++i)
        expect_refused(p, cases[i].plan, cases[i].why);
}

Test(plan, values_are_whole_numbers_in_range) {
    const clconvt_params p = ncl_layer();
    static const refusal cases[] = {
        /* 4294967312 = 2^32 + 16: read through an int it became vec=16. */
        {"phase_pos:vec=4294967312", "vec=4294967312 must be a whole number in 1..4096"},
        {"phase_pos:p=18446744073709551648", "must be a whole number"},
        {"phase_pos:vec=-16", "vec=-16 must be a whole number"},
        {"phase_pos:vec=+16", "vec=+16 must be a whole number"},
        {"phase_pos:vec= 16", "must be a whole number"},
        {"phase_pos:vec=16x", "vec=16x must be a whole number"},
        {"phase_pos:vec=4097", "in 1..4096"},
        {"phase_pos:p=0", "p=0 must be a whole number in 1..4096"},
        {"phase_pos:chunk=-1", "chunk=-1 must be a whole number in 0..4096"},
        {"phase_pos:vec=", "must be a whole number"},
        {"phase_pos:vec", "expected key=value pairs"},
        {"phase_pos:vec=16,", "expected key=value pairs"},
        {"phase_pos:", "expected key=value pairs"},
        {"phase_pos:veca=16", "unknown key"},
    };
    expect_all_refused(&p, cases, sizeof cases / sizeof cases[0]);
    /* Leading zeros are still the number. */
    expect_accepted(&p, "phase_pos:vec=016,p=32,c=4,chunk=0",
                    "phase_pos:vec=16,p=32,c=4,lp=2,lc=8,chunk=0,lr=1");
}

Test(plan, each_key_once) {
    const clconvt_params p = ncl_layer();
    static const refusal cases[] = {
        {"phase_pos:vec=16,vec=8", "the key vec is given twice"},
        {"phase_pos:vec=16,p=32,c=4,p=16", "the key p is given twice"},
        {"phase_pos:chunk=0,chunk=0", "the key chunk is given twice"},
    };
    expect_all_refused(&p, cases, sizeof cases / sizeof cases[0]);
}

/* pt (register tiles per work-item, the cache-blocked form) is phase_fold's alone; there it reads
 * back as given, and is left out of the plan string while not given. */
Test(plan, position_tiles_are_phase_fold_s) {
    const clconvt_params p = ncl_layer();
    static const refusal cases[] = {
        {"phase_pos:pt=4", "only phase_fold takes pt"},
        {"phase:pt=2", "only phase_fold takes pt"},
        {"phase_fold:pt=0", "pt=0 must be a whole number in 1..4096"},
        {"phase_fold:pt=2,pt=2", "the key pt is given twice"},
    };
    expect_all_refused(&p, cases, sizeof cases / sizeof cases[0]);
    expect_accepted(&p, "phase_fold:vec=16,p=6,c=8,pt=8,chunk=32",
                    "phase_fold:vec=16,p=6,c=8,lp=8,lc=1,chunk=32,lr=1,pt=8");
    expect_accepted(&p, "phase_fold:vec=16,p=6,c=8,chunk=32",
                    "phase_fold:vec=16,p=6,c=8,lp=8,lc=1,chunk=32,lr=1");
}

/* The other tiles of a blocked work-item wait in private memory: pt counts against the budget. */
Test(plan, position_tiles_count_as_private_memory) {
    const clconvt_params p = ncl_layer();
    expect_refused(&p, "phase_fold:vec=16,p=6,c=8,pt=4096", "bytes of private memory");
}

Test(plan, environment_plan_is_read_strictly) {
    const clconvt_params p = ncl_layer();
    cr_assert_eq(setenv("CLCONVT_PLAN", "phase_pos:vec=4294967312", 1), 0);
    clconvt_layer *layer = NULL;
    cr_assert_eq(clconvt_layer_create(support_device(), &p, &layer),
                 CLCONVT_ERROR_INVALID_ARGUMENT);
    cr_assert_null(layer);
    cr_assert(strstr(clconvt_last_error(), "CLCONVT_PLAN \"phase_pos:vec=4294967312\"") != NULL,
              "%s", clconvt_last_error());
    unsetenv("CLCONVT_PLAN");
}

Test(plan, register_tile_is_bounded) {
    const clconvt_params p = ncl_layer();
    static const refusal cases[] = {
        /* Refused before a compile: this one once compiled for 140 s, then smashed PoCL's
         * stack. */
        {"phase:p=1024,c=1024", "1048576 accumulators per work-item"},
        {"phase:p=64,c=32", "2048 accumulators"},
        {"phase_pos:vec=16,p=128,c=16", "2048 accumulators"},
        /* phase_fold at stride 8: a 16-lane vector holds 2 channels; c=32 is 16 vectors x p 12. */
        {"phase_fold:vec=16,p=12,c=32", "3072 accumulators"},
    };
    expect_all_refused(&p, cases, sizeof cases / sizeof cases[0]);
    clconvt_params nlc = p;
    nlc.layout = CLCONVT_LAYOUT_NLC;
    expect_refused(&nlc, "phase_chan:vec=16,p=64,c=32", "2048 accumulators");
    /* The largest tile the tuner tries still runs, and is right. */
    cr_assert_eq(setenv("CLCONVT_PLAN", "phase_pos:vec=16,p=64,c=16", 1), 0);
    const double error = support_run_case(&p, 1, 75, CLCONVT_WEIGHT_PYTORCH, 7);
    unsetenv("CLCONVT_PLAN");
    cr_assert(error <= reference_error_bound(CLCONVT_F32), "phase_pos p 64 c 16: error %g", error);
}

Test(plan, work_group_private_memory_is_bounded) {
    clconvt_device_info info;
    cr_assert_eq(clconvt_device_get_info(support_device(), &info), CLCONVT_SUCCESS);
    if (!(info.type & CL_DEVICE_TYPE_CPU))
        cr_skip_test("the per-work-group bound is a CPU runtime's (its worker stacks)");
    const clconvt_params p = ncl_layer();
    static const refusal cases[] = {
        /* 4096 work-items x 4.6 KiB: PoCL crashed in its work-group function. With p=32 (2.3 KiB
         * each) it gave wrong results instead, silently. */
        {"phase_pos:vec=16,p=64,c=16,lp=64,lc=64", "bytes of private memory"},
        {"phase_pos:vec=16,p=32,c=16,lp=64,lc=64", "lower lp, lc, lr, p or c"},
        {"phase:p=32,c=32,lp=64,lc=64", "work-group of"},
    };
    expect_all_refused(&p, cases, sizeof cases / sizeof cases[0]);
}

/* The default plan of p on a device opened now, formatted into text. */
typedef struct default_plan_job {
    const clconvt_params *params;
    char text[256];
    clconvt_status status;
    char message[1024];
} default_plan_job;

static void *default_plan_on_new_device(void *arg) {
    default_plan_job *job = arg;
    clconvt_device *device = NULL;
    clconvt_layer *layer = NULL;
    job->status = clconvt_device_open(CLCONVT_DEVICE_ANY, NULL, &device);
    if (job->status == CLCONVT_SUCCESS)
        job->status = clconvt_layer_create(device, job->params, &layer);
    if (job->status == CLCONVT_SUCCESS)
        job->status = clconvt_layer_plan(layer, job->text, sizeof job->text);
    snprintf(job->message, sizeof job->message, "%s", clconvt_last_error());
    clconvt_layer_release(layer);
    clconvt_device_release(device);
    return NULL;
}

/* Under a small stack limit the built-in plan narrows its work-group, and still runs right. The
 * device is opened while the limit is low, on a thread with a stack of its own: the limit bounds
 * the growth of the main thread's stack, which must not run into it meanwhile. */
Test(plan, default_plan_fits_a_small_stack) {
    clconvt_device_info info;
    cr_assert_eq(clconvt_device_get_info(support_device(), &info), CLCONVT_SUCCESS);
    if (!(info.type & CL_DEVICE_TYPE_CPU))
        cr_skip_test("the per-work-group bound is a CPU runtime's (its worker stacks)");
    const clconvt_params p = ncl_layer();
    default_plan_job wide = {.params = &p}, narrow = {.params = &p};
    default_plan_on_new_device(&wide);
    cr_assert_eq(wide.status, CLCONVT_SUCCESS, "%s", wide.message);

    struct rlimit old, small;
    cr_assert_eq(getrlimit(RLIMIT_STACK, &old), 0);
    small = old;
    small.rlim_cur = 16 << 10; /* a budget of 4 KiB: one or two work-items of the default */
    pthread_attr_t attr;
    pthread_t thread;
    cr_assert_eq(pthread_attr_init(&attr), 0);
    cr_assert_eq(pthread_attr_setstacksize(&attr, (size_t)8 << 20), 0);
    cr_assert_eq(setrlimit(RLIMIT_STACK, &small), 0);
    const int started = pthread_create(&thread, &attr, default_plan_on_new_device, &narrow);
    if (started == 0)
        pthread_join(thread, NULL);
    setrlimit(RLIMIT_STACK, &old);
    pthread_attr_destroy(&attr);
    cr_assert_eq(started, 0);
    cr_assert_eq(narrow.status, CLCONVT_SUCCESS, "%s", narrow.message);
    cr_assert_str_neq(wide.text, narrow.text, "the default work-group should narrow: %s",
                      wide.text);
    /* The narrowed plan, forced on the usual device, is a valid plan that runs right. */
    cr_assert_eq(setenv("CLCONVT_PLAN", narrow.text, 1), 0);
    const double error = support_run_case(&p, 2, 41, CLCONVT_WEIGHT_PYTORCH, 3);
    unsetenv("CLCONVT_PLAN");
    cr_assert(error <= reference_error_bound(CLCONVT_F32), "%s: error %g", narrow.text, error);
}
