/*
 * clconvt-tune end to end: the binary named by $CLCONVT_TUNE is spawned on small shapes. A run
 * must finish within its budget, write a valid database merged with another device's entry, and
 * its winners must be what the library then uses and compute the right numbers; a second run
 * skips the tuned classes; candidates whose output is spoiled (test hook CLCONVT_TUNE_FAULT) must
 * never win; bad arguments and inputs fail with a message and touch nothing.
 */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L
#endif

#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "clconvt.h"
#include "internal_device.h"
#include "reference.h"
#include "run_tool.h"
#include "tmpdir.h"
#include "tuning_db.h"

/* ---- Fixture ------------------------------------------------------------------------------- */

static char tmp_dir[256];

static void setup(void) {
    test_tmpdir_make(tmp_dir, sizeof tmp_dir, "tune");
    unsetenv("CLCONVT_PLAN");
    unsetenv("CLCONVT_TUNE_FAULT");
    unsetenv("CLCONVT_TUNING_DB"); /* clconvt-tune reads no database but its --output */
}

static void teardown(void) {
    test_tmpdir_remove(tmp_dir);
}

TestSuite(tune, .init = setup, .fini = teardown, .timeout = 300);

/* ---- Helpers ------------------------------------------------------------------------------- */

static double now_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

typedef struct tune_result {
    int status; /* exit status, or 128 + the signal that ended it */
    double seconds;
    char *out, *err; /* stdout and stderr (malloc'd) */
} tune_result;

static void result_free(tune_result *r) {
    free(r->out);
    free(r->err);
}

/* Run clconvt-tune with args (NULL-terminated), capturing its stdout and stderr. */
static tune_result run_tune(const char *const *args) {
    const char *tool = getenv("CLCONVT_TUNE");
    cr_assert(tool != NULL && *tool, "CLCONVT_TUNE must name the clconvt-tune binary");
    const char *out = test_tmp_path("stdout.txt"), *err = test_tmp_path("stderr.txt");
    const double t0 = now_seconds();
    const int status = test_run_tool(tool, args, out, err);
    return (tune_result){status, now_seconds() - t0, test_read_text(out), test_read_text(err)};
}

static int count_of(const char *text, const char *part) {
    int n = 0;
    for (const char *s = strstr(text, part); s; s = strstr(s + 1, part))
        ++n;
    return n;
}

/* The shapes of the tiny run: two rows of one NCL class, one NLC row. */
#define TINY_HEADER                                                                                \
    "name,batch,in_channels,out_channels,kernel,stride,padding,output_padding,dilation,groups,"    \
    "length_in,layout,bias\n"
#define TINY_ROWS                                                                                  \
    "tiny_ncl,2,20,12,4,2,1,0,1,1,37,ncl,1\n"                                                      \
    "tiny_ncl_longer,1,24,10,4,2,1,0,1,1,75,ncl,0\n"                                               \
    "tiny_nlc,1,16,20,6,3,2,1,1,1,29,nlc,1\n"

typedef struct tiny_row {
    const char *name;
    int64_t batch, cin, cout, k, stride, padding, output_padding, length_in;
    clconvt_layout layout;
    int bias;
} tiny_row;

static const tiny_row TINY[] = {
    {"tiny_ncl", 2, 20, 12, 4, 2, 1, 0, 37, CLCONVT_LAYOUT_NCL, 1},
    {"tiny_ncl_longer", 1, 24, 10, 4, 2, 1, 0, 75, CLCONVT_LAYOUT_NCL, 0},
    {"tiny_nlc", 1, 16, 20, 6, 3, 2, 1, 29, CLCONVT_LAYOUT_NLC, 1},
};

static clconvt_params tiny_params(const tiny_row *r) {
    clconvt_params p;
    clconvt_params_init(&p, r->cin, r->cout, r->k);
    p.stride = r->stride;
    p.pad_left = p.pad_right = r->padding;
    p.output_padding = r->output_padding;
    p.has_bias = r->bias;
    p.layout = r->layout;
    return p;
}

/* The normalised error of the planner's layer for p (database as set in the environment) on
 * random data of both signs; *plan gets its plan. */
static double forward_error(const clconvt_params *p, int64_t batch, int64_t length_in,
                            char plan[TUNING_PLAN_MAX]) {
    int64_t length_out = 0;
    cr_assert_eq(clconvt_output_length(p, length_in, &length_out), CLCONVT_SUCCESS);
    const size_t nx = (size_t)(batch * p->in_channels * length_in);
    const size_t nw = (size_t)(p->in_channels * (p->out_channels / p->groups) * p->kernel_length);
    const size_t ny = (size_t)(batch * p->out_channels * length_out), nb = (size_t)p->out_channels;
    float *xf = malloc(nx * 4), *wf = malloc(nw * 4), *bf = malloc(nb * 4), *yf = malloc(ny * 4);
    double *x = malloc(nx * 8), *w = malloc(nw * 8), *b = malloc(nb * 8), *y = malloc(ny * 8);
    double *ref = malloc(ny * 8);
    cr_assert(xf && wf && bf && yf && x && w && b && y && ref);
    unsigned state = 777;
    for (size_t i = 0; i < nx + nw + nb; ++i) {
        state = state * 1664525u + 1013904223u;
        const float v = (float)(state >> 8) / (float)(1u << 23) - 1.0f;
        if (i < nx)
            xf[i] = v, x[i] = v;
        else if (i < nx + nw)
            wf[i - nx] = v, w[i - nx] = v;
        else
            bf[i - nx - nw] = v, b[i - nx - nw] = v;
    }
    clconvt_layer *layer = NULL;
    cr_assert_eq(clconvt_layer_create(test_device(), p, &layer), CLCONVT_SUCCESS, "%s",
                 clconvt_last_error());
    cr_assert_eq(clconvt_layer_plan(layer, plan, TUNING_PLAN_MAX), CLCONVT_SUCCESS);
    cr_assert_eq(clconvt_layer_set_weight(layer, wf, CLCONVT_WEIGHT_PYTORCH, CLCONVT_F32),
                 CLCONVT_SUCCESS);
    if (p->has_bias)
        cr_assert_eq(clconvt_layer_set_bias(layer, bf, CLCONVT_F32), CLCONVT_SUCCESS);
    cr_assert_eq(clconvt_layer_forward_host(layer, xf, yf, batch, length_in), CLCONVT_SUCCESS, "%s",
                 clconvt_last_error());
    clconvt_layer_release(layer);
    cr_assert_eq(reference_forward(p, x, w, p->has_bias ? b : NULL, batch, length_in, ref), 0);
    for (size_t i = 0; i < ny; ++i)
        y[i] = yf[i];
    const double error = reference_normalised_error(y, ref, ny);
    free(xf), free(wf), free(bf), free(yf), free(x), free(w), free(b), free(y), free(ref);
    return error;
}

/* The plan a layer of p gets when created with plan_string (the library's spelling of it). */
static void canonical(const clconvt_params *p, const char *plan_string, char out[TUNING_PLAN_MAX]) {
    clconvt_layer *layer = NULL;
    cr_assert_eq(clconvt_layer_create_with_plan(test_device(), p, plan_string, &layer),
                 CLCONVT_SUCCESS, "%s: %s", plan_string, clconvt_last_error());
    cr_assert_eq(clconvt_layer_plan(layer, out, TUNING_PLAN_MAX), CLCONVT_SUCCESS);
    clconvt_layer_release(layer);
}

static const char *string_of(const cJSON *object, const char *key) {
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(object, key);
    cr_assert(cJSON_IsString(item), "\"%s\" is missing or not a string", key);
    return item->valuestring;
}

static double number_of(const cJSON *object, const char *key) {
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(object, key);
    cr_assert(cJSON_IsNumber(item), "\"%s\" is missing or not a number", key);
    return item->valuedouble;
}

/* ---- A run, its database, and a resumed run ------------------------------------------------ */

#define FOREIGN_CLASS "ncl/f32/s8/cin512/cout256/taps2/g1"

Test(tune, tunes_tiny_shapes_then_resumes) {
    const char *csv = test_tmp_path("tiny.csv"), *db = test_tmp_path("db.json");
    test_write_text(csv, TINY_HEADER TINY_ROWS);
    /* Another device's entry is already in the file: it must survive the merge. */
    test_write_text(
        db,
        "{\"format\": \"clconvt-tuning\", \"version\": 1, \"devices\": [{\"identity\": "
        "{\"vendor\": \"Elsewhere Inc.\", \"name\": \"Far GPU\", \"driver\": \"9\", "
        "\"type\": \"gpu\"}, \"updated\": \"2024-01-01T00:00:00Z\", \"classes\": {\"" FOREIGN_CLASS
        "\": {\"plan\": \"gemm\", \"median_ms\": 1.5}}}]}");
    /* Enough for both classes' defaults and some candidates even under ASan with a cold PoCL
     * cache, beside the other suites on 2 cores (one CI run spent a 16 s budget before it reached
     * the second class); with a warm cache the whole search takes 4 s. */
    const double budget = 30;
    tune_result r = run_tune(
        (const char *[]){"--shapes", csv, "--output", db, "--budget", "30", "--repeat", "3", NULL});
    cr_assert_eq(r.status, 0, "clconvt-tune failed (%d):\n%s", r.status, r.err);
    cr_expect_leq(r.seconds, budget + 15, "a %g s budget took %.1f s", budget, r.seconds);
    cr_expect_lt(r.seconds, 60.0);
    for (size_t i = 0; i < sizeof TINY / sizeof TINY[0]; ++i)
        cr_expect(strstr(r.out, TINY[i].name) != NULL, "the table lacks %s:\n%s", TINY[i].name,
                  r.out);

    cJSON *root = NULL;
    char reason[256];
    cr_assert_eq(clconvt_tuning_db_read(db, &root, reason, sizeof reason), 0, "%s", reason);
    tuning_identity foreign = {"Elsewhere Inc.", "Far GPU", "9", "gpu"}, id;
    int rank = 0;
    const cJSON *kept = clconvt_tuning_db_find(root, &foreign, FOREIGN_CLASS, &rank);
    cr_expect(kept != NULL && rank == 3, "the other device's entry was lost");
    clconvt_tuning_identity_of(test_device(), &id);
    const cJSON *mine = clconvt_tuning_db_device_entry(root, &id, 0);
    cr_assert_not_null(mine, "no entry for this device");
    cr_expect_str_eq(string_of(mine, "platform"), test_device()->platform_name);

    /* Each row's class has a checked winner, which the library now uses, correctly. */
    setenv("CLCONVT_TUNING_DB", db, 1);
    for (size_t i = 0; i < sizeof TINY / sizeof TINY[0]; ++i) {
        const clconvt_params p = tiny_params(&TINY[i]);
        char klass[TUNING_CLASS_MAX], used[TUNING_PLAN_MAX], recorded[TUNING_PLAN_MAX];
        clconvt_tuning_shape_class(&p, klass, sizeof klass);
        const cJSON *entry = clconvt_tuning_db_find(root, &id, klass, &rank);
        cr_assert(entry != NULL && rank == 3, "%s: class %s is not in the database:\n%s",
                  TINY[i].name, klass, r.err);
        cr_expect_gt(number_of(entry, "median_ms"), 0.0);
        cr_expect_gt(number_of(entry, "default_ms"), 0.0);
        cr_expect_leq(number_of(entry, "max_error"), 2e-5);
        cr_expect_geq(number_of(entry, "tried"), 1.0);
        canonical(&p, string_of(entry, "plan"), recorded);
        const double error = forward_error(&p, TINY[i].batch, TINY[i].length_in, used);
        cr_expect_str_eq(used, recorded, "%s: the layer does not use the database's plan",
                         TINY[i].name);
        cr_expect_leq(error, 2e-5, "%s: the tuned plan %s has error %g", TINY[i].name, used, error);
        /* The default recorded is the built-in one of the row measured. */
        if (strcmp(string_of(entry, "shape"), TINY[i].name) != 0)
            continue;
        clconvt_tuning_db_set_enabled(0);
        char builtin[TUNING_PLAN_MAX], recorded_default[TUNING_PLAN_MAX];
        forward_error(&p, 1, 5, builtin);
        clconvt_tuning_db_set_enabled(1);
        canonical(&p, string_of(entry, "default_plan"), recorded_default);
        cr_expect_str_eq(recorded_default, builtin, "%s", TINY[i].name);
    }
    unsetenv("CLCONVT_TUNING_DB");
    cJSON_Delete(root);
    result_free(&r);

    /* Resumed: every class is there, nothing is measured or written. */
    char *before = test_read_text(db);
    r = run_tune(
        (const char *[]){"--shapes", csv, "--output", db, "--budget", "16", "--repeat", "3", NULL});
    cr_assert_eq(r.status, 0, "%s", r.err);
    cr_expect_eq(count_of(r.err, "already tuned"), 2, "%s", r.err);
    cr_expect_lt(r.seconds, 15.0);
    char *after = test_read_text(db);
    cr_expect_str_eq(after, before, "a run with nothing to do changed the database");
    free(after);
    result_free(&r);

    /* A new class is tuned; the others are kept as they were. */
    test_write_text(csv, TINY_HEADER TINY_ROWS "tiny_new,1,8,8,2,2,0,0,1,1,40,ncl,0\n");
    r = run_tune(
        (const char *[]){"--shapes", csv, "--output", db, "--budget", "8", "--repeat", "3", NULL});
    cr_assert_eq(r.status, 0, "%s", r.err);
    cr_expect_eq(count_of(r.err, "already tuned"), 2, "%s", r.err);
    cJSON *old_root = cJSON_Parse(before), *new_root = NULL;
    cr_assert_eq(clconvt_tuning_db_read(db, &new_root, reason, sizeof reason), 0, "%s", reason);
    for (size_t i = 0; i < sizeof TINY / sizeof TINY[0]; ++i) {
        const clconvt_params p = tiny_params(&TINY[i]);
        char klass[TUNING_CLASS_MAX];
        clconvt_tuning_shape_class(&p, klass, sizeof klass);
        char *a = cJSON_PrintUnformatted(clconvt_tuning_db_find(old_root, &id, klass, NULL));
        char *b = cJSON_PrintUnformatted(clconvt_tuning_db_find(new_root, &id, klass, NULL));
        cr_expect_str_eq(b, a, "%s changed on resume", klass);
        free(a);
        free(b);
    }
    cr_expect_not_null(
        clconvt_tuning_db_find(new_root, &id, "ncl/f32/s2/cin8/cout8/taps1/g1", NULL),
        "the new class was not tuned:\n%s", r.err);
    cr_expect_not_null(clconvt_tuning_db_find(new_root, &foreign, FOREIGN_CLASS, NULL));
    cJSON_Delete(old_root);
    cJSON_Delete(new_root);
    free(before);
    result_free(&r);
}

/* A budget too small for the search: it stops early, says so in the record, and keeps time. A
 * candidate already started runs to its end (a kernel compile cannot be interrupted): under ASan,
 * with a cold PoCL cache and the grid suite compiling beside it on 2 cores, one CI run took 17 s
 * for this 3 s budget. Hence a slack of 30 s. */
Test(tune, budget_cuts_the_search_short) {
    const char *csv = test_tmp_path("budget.csv"), *db = test_tmp_path("budget.json");
    test_write_text(csv, TINY_HEADER "longish,1,64,32,4,2,1,0,1,1,8192,ncl,1\n");
    const double budget = 3;
    tune_result r = run_tune(
        (const char *[]){"--shapes", csv, "--output", db, "--budget", "3", "--repeat", "5", NULL});
    cr_assert_eq(r.status, 0, "%s", r.err);
    cr_expect_leq(r.seconds, budget + 30, "a %g s budget took %.1f s", budget, r.seconds);
    cJSON *root = NULL;
    char reason[256];
    cr_assert_eq(clconvt_tuning_db_read(db, &root, reason, sizeof reason), 0, "%s", reason);
    tuning_identity id;
    clconvt_tuning_identity_of(test_device(), &id);
    const cJSON *entry =
        clconvt_tuning_db_find(root, &id, "ncl/f32/s2/cin64/cout32/taps2/g1", NULL);
    cr_assert_not_null(entry, "%s", r.err);
    cr_expect_lt(number_of(entry, "tried"), number_of(entry, "candidates"), "%s", r.err);
    cr_expect(cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(entry, "complete")));
    cJSON_Delete(root);
    result_free(&r);
}

/* ---- The check: spoiled candidates never win ----------------------------------------------- */

static void expect_all_rejected(const char *fault, const char *reason_part) {
    const char *csv = test_tmp_path("one.csv"), *db = test_tmp_path("fault.json");
    test_write_text(csv, TINY_HEADER "tiny_ncl,2,20,12,4,2,1,0,1,1,37,ncl,1\n");
    setenv("CLCONVT_TUNE_FAULT", fault, 1);
    tune_result r = run_tune(
        (const char *[]){"--shapes", csv, "--output", db, "--budget", "6", "--repeat", "3", NULL});
    unsetenv("CLCONVT_TUNE_FAULT");
    cr_assert_eq(r.status, 0, "%s", r.err);
    const int rejected = count_of(r.err, "rejected: ");
    cr_expect_geq(rejected, 3, "too few candidates were tried:\n%s", r.err);
    cr_expect_eq(count_of(r.err, reason_part), rejected, "every rejection should say '%s':\n%s",
                 reason_part, r.err);
    cr_expect_eq(count_of(r.err, "the new best"), 0, "a spoiled candidate won:\n%s", r.err);
    cJSON *root = NULL;
    char reason[256];
    cr_assert_eq(clconvt_tuning_db_read(db, &root, reason, sizeof reason), 0, "%s", reason);
    tuning_identity id;
    clconvt_tuning_identity_of(test_device(), &id);
    const clconvt_params p = tiny_params(&TINY[0]);
    char klass[TUNING_CLASS_MAX];
    clconvt_tuning_shape_class(&p, klass, sizeof klass);
    const cJSON *entry = clconvt_tuning_db_find(root, &id, klass, NULL);
    cr_assert_not_null(entry);
    cr_expect_str_eq(string_of(entry, "plan"), string_of(entry, "default_plan"));
    cJSON_Delete(root);
    result_free(&r);
}

Test(tune, wrong_values_never_win) {
    expect_all_rejected("value", "normalised error");
}

Test(tune, unwritten_outputs_never_win) {
    expect_all_rejected("nan", "is NaN");
}

Test(tune, writes_outside_the_output_never_win) {
    expect_all_rejected("guard", "after the end of the output");
}

/* ---- Usage and input errors ---------------------------------------------------------------- */

static void expect_failure(const char *const *args, int status, const char *message) {
    tune_result r = run_tune(args);
    cr_expect_eq(r.status, status, "exit %d, expected %d; stderr:\n%s", r.status, status, r.err);
    cr_expect(strstr(r.err, message) != NULL, "stderr should contain '%s', got:\n%s", message,
              r.err);
    result_free(&r);
}

Test(tune, usage_errors) {
    expect_failure((const char *[]){NULL}, 2, "--shapes is required");
    expect_failure((const char *[]){"--shapes", "x.csv", NULL}, 2, "--output is required");
    expect_failure((const char *[]){"--bogus", NULL}, 2, "unknown option '--bogus'");
    expect_failure((const char *[]){"--budget", "soon", NULL}, 2, "--budget wants a number");
    expect_failure((const char *[]){"--budget", "0", NULL}, 2, "--budget wants a number");
    expect_failure((const char *[]){"--repeat", "2.5", NULL}, 2, "--repeat wants a whole");
    expect_failure((const char *[]){"--output", NULL}, 2, "--output needs a value");
    tune_result r = run_tune((const char *[]){"--help", NULL});
    cr_expect_eq(r.status, 0);
    cr_expect(strstr(r.out, "usage: clconvt-tune --shapes FILE.csv --output DB.json") == r.out,
              "%s", r.out);
    result_free(&r);
}

Test(tune, bad_inputs_fail_and_touch_nothing) {
    const char *csv = test_tmp_path("bad.csv"), *db = test_tmp_path("db.json");
    expect_failure((const char *[]){"--shapes", test_tmp_path("missing.csv"), "--output", db, NULL},
                   1, "cannot use the shapes file");
    /* A FIFO is refused at once, not read (which would wait for a writer for ever). */
    const char *fifo = test_tmp_path("fifo.csv");
    cr_assert_eq(mkfifo(fifo, 0600), 0);
    expect_failure((const char *[]){"--shapes", fifo, "--output", db, NULL}, 1,
                   "fifo.csv: is a FIFO, not a regular file");
    test_write_text(csv,
                    "name,batch,in_channels,out_channels,kernel,padding,output_padding,dilation,"
                    "groups,length_in,layout,bias\nx,1,2,2,2,0,0,1,1,8,ncl,0\n");
    expect_failure((const char *[]){"--shapes", csv, "--output", db, NULL}, 1,
                   "the header has no column 'stride'");
    test_write_text(csv, TINY_HEADER "x,1,2,2,two,2,0,0,1,1,8,ncl,0\n");
    expect_failure((const char *[]){"--shapes", csv, "--output", db, NULL}, 1,
                   "bad.csv:2: column 'kernel' wants an integer");
    test_write_text(csv, TINY_HEADER "x,1,2,2,2,2,0,0,1,1,8,nchw,0\n");
    expect_failure((const char *[]){"--shapes", csv, "--output", db, NULL}, 1,
                   "column 'layout' wants ncl or nlc");
    test_write_text(csv, TINY_HEADER "\n# a comment\nx,1,2,2,2,2,0,3,1,1,8,ncl,0\n");
    expect_failure((const char *[]){"--shapes", csv, "--output", db, NULL}, 1,
                   "bad.csv:4 (x): output padding must be smaller");
    test_write_text(csv, TINY_HEADER "x,1,2,2,2,2,0,0,1,1,8,ncl\n");
    expect_failure((const char *[]){"--shapes", csv, "--output", db, NULL}, 1,
                   "12 columns, the header has 13");
    test_write_text(csv, TINY_HEADER);
    expect_failure((const char *[]){"--shapes", csv, "--output", db, NULL}, 1, "has no shapes");
    cr_expect_neq(access(db, F_OK), 0, "a failed run created the database");
    test_write_text(csv, TINY_HEADER "x,1,2,2,2,2,0,0,1,1,8,ncl,0\n");
    expect_failure(
        (const char *[]){"--shapes", csv, "--output", test_tmp_path("no-dir/db.json"), NULL}, 1,
        "cannot write");

    /* An existing database that is not valid is never overwritten. */
    test_write_text(csv, TINY_HEADER "x,1,2,2,2,2,0,0,1,1,8,ncl,0\n");
    const char *corrupt = "{\"format\": \"clconvt-tuning\", \"version\": 1, \"devices\": [";
    test_write_text(db, corrupt);
    expect_failure((const char *[]){"--shapes", csv, "--output", db, NULL}, 1,
                   "cannot resume from");
    char *text = test_read_text(db);
    cr_expect_str_eq(text, corrupt);
    free(text);
    test_write_text(db, "{\"format\": \"clconvt-tuning\", \"version\": 99, \"devices\": []}");
    expect_failure((const char *[]){"--shapes", csv, "--output", db, NULL}, 1, "version 99");
}

/* The example database in tests/data/tuning passes the reader's checks (the format stays what
 * the README shows). */
Test(tune, example_database_is_valid) {
    const char *data = getenv("CLCONVT_TEST_DATA");
    cr_assert(data != NULL, "CLCONVT_TEST_DATA is not set");
    char path[600], reason[256];
    snprintf(path, sizeof path, "%s/tuning/example.json", data);
    cJSON *root = NULL;
    cr_assert_eq(clconvt_tuning_db_read(path, &root, reason, sizeof reason), 0, "%s: %s", path,
                 reason);
    tuning_identity pocl = {"GenuineIntel", "pthread-skylake-avx512-Intel(R) Xeon(R) Processor",
                            "3.1+debian", "cpu"};
    cr_expect_not_null(
        clconvt_tuning_db_find(root, &pocl, "ncl/f32/s8/cin512/cout256/taps2/g1", NULL));
    cJSON_Delete(root);
}
