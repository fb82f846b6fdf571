/*
 * What the tools stand on, through the public library only: clconvt_dtype_from_name, the
 * EXPERIMENTAL section of clconvt.h that clconvt-tune uses (plan checks, shape classes, tuning
 * database entries), and the one shapes-CSV reader clconvt-bench and clconvt-tune share (the same
 * file gives the same sentence from both).
 */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L
#endif

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clconvt.h"
#include "run_tool.h"
#include "support.h"
#include "tmpdir.h"

static char tmp_dir[256];

static void setup(void) {
    test_tmpdir_make(tmp_dir, sizeof tmp_dir, "tools");
}

static void teardown(void) {
    test_tmpdir_remove(tmp_dir);
}

TestSuite(tools, .init = setup, .fini = teardown, .timeout = 300);

/* ---- clconvt_dtype_from_name ---------------------------------------------------------------- */

Test(tools, dtype_from_name_takes_short_and_long_names_in_any_case) {
    static const struct {
        const char *name;
        clconvt_dtype dtype;
    } cases[] = {{"f32", CLCONVT_F32},      {"f16", CLCONVT_F16},     {"bf16", CLCONVT_BF16},
                 {"float32", CLCONVT_F32},  {"float16", CLCONVT_F16}, {"bfloat16", CLCONVT_BF16},
                 {"F32", CLCONVT_F32},      {"BF16", CLCONVT_BF16},   {"Float16", CLCONVT_F16},
                 {"BFLOAT16", CLCONVT_BF16}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; ++i) {
        clconvt_dtype d = (clconvt_dtype)-1;
        cr_expect_eq(clconvt_dtype_from_name(cases[i].name, &d), CLCONVT_SUCCESS, "%s: %s",
                     cases[i].name, clconvt_last_error());
        cr_expect_eq(d, cases[i].dtype, "%s", cases[i].name);
    }
    /* Every name clconvt_dtype_name gives reads back. */
    for (int d = CLCONVT_F32; d <= CLCONVT_BF16; ++d) {
        clconvt_dtype back = (clconvt_dtype)-1;
        cr_expect_eq(clconvt_dtype_from_name(clconvt_dtype_name((clconvt_dtype)d), &back),
                     CLCONVT_SUCCESS);
        cr_expect_eq(back, (clconvt_dtype)d);
    }
}

Test(tools, dtype_from_name_refuses_other_names_with_a_sentence) {
    static const char *const bad[] = {"f64", "", "f 32", " f32", "f32 ", "float", "fp16", "bf"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; ++i) {
        clconvt_dtype d = CLCONVT_BF16;
        cr_expect_eq(clconvt_dtype_from_name(bad[i], &d), CLCONVT_ERROR_INVALID_ARGUMENT, "'%s'",
                     bad[i]);
        cr_expect_eq(d, CLCONVT_BF16, "'%s' changed the output", bad[i]);
        char expected[128];
        snprintf(expected, sizeof expected,
                 "dtype name '%s' is not one of f32, f16, bf16 (or float32, float16, bfloat16)",
                 bad[i]);
        cr_expect_str_eq(clconvt_last_error(), expected);
    }
    clconvt_dtype d;
    cr_expect_eq(clconvt_dtype_from_name(NULL, &d), CLCONVT_ERROR_INVALID_ARGUMENT);
    cr_expect(strstr(clconvt_last_error(), "name must not be NULL") != NULL, "%s",
              clconvt_last_error());
    cr_expect_eq(clconvt_dtype_from_name("f32", NULL), CLCONVT_ERROR_INVALID_ARGUMENT);
}

/* ---- The experimental section: plans and shape classes -------------------------------------- */

static clconvt_params small_ncl(void) {
    clconvt_params p;
    clconvt_params_init(&p, 20, 12, 4);
    p.stride = 2;
    p.pad_left = p.pad_right = 1;
    p.layout = CLCONVT_LAYOUT_NCL;
    return p;
}

Test(tools, shape_class_names_what_matters_to_the_plan) {
    clconvt_params p;
    clconvt_params_init(&p, 512, 256, 16);
    p.stride = 8;
    p.pad_left = p.pad_right = 4;
    p.layout = CLCONVT_LAYOUT_NCL;
    char text[CLCONVT_EXPERIMENTAL_CLASS_MAX];
    cr_assert_eq(clconvt_experimental_shape_class(&p, text, sizeof text), CLCONVT_SUCCESS, "%s",
                 clconvt_last_error());
    cr_expect_str_eq(text, "ncl/f32/s8/cin512/cout256/taps2/g1");
    char tiny[8] = "keep";
    cr_expect_eq(clconvt_experimental_shape_class(&p, tiny, sizeof tiny),
                 CLCONVT_ERROR_INVALID_ARGUMENT);
    cr_expect_str_eq(tiny, "keep", "a failed call wrote its output");
    p.stride = 0;
    cr_expect_eq(clconvt_experimental_shape_class(&p, text, sizeof text),
                 CLCONVT_ERROR_INVALID_PARAMETER);
}

Test(tools, the_default_plan_passes_its_own_check) {
    const clconvt_params p = small_ncl();
    char plan[CLCONVT_EXPERIMENTAL_PLAN_MAX], again[CLCONVT_EXPERIMENTAL_PLAN_MAX];
    cr_assert_eq(clconvt_experimental_plan_default(support_device(), &p, plan, sizeof plan),
                 CLCONVT_SUCCESS, "%s", clconvt_last_error());
    cr_assert_eq(
        clconvt_experimental_plan_check(support_device(), &p, plan, 0, again, sizeof again),
        CLCONVT_SUCCESS, "%s: %s", plan, clconvt_last_error());
    cr_expect_str_eq(again, plan);
    /* It is what a layer made without a plan string (and without a database) uses. */
    clconvt_layer *layer = NULL;
    cr_assert_eq(clconvt_layer_create(support_device(), &p, &layer), CLCONVT_SUCCESS);
    cr_assert_eq(clconvt_layer_plan(layer, again, sizeof again), CLCONVT_SUCCESS);
    clconvt_layer_release(layer);
    cr_expect_str_eq(again, plan);
}

Test(tools, plan_check_spells_plans_as_the_library_does) {
    const clconvt_params p = small_ncl();
    char out[CLCONVT_EXPERIMENTAL_PLAN_MAX] = "untouched",
         layer_plan[CLCONVT_EXPERIMENTAL_PLAN_MAX];
    cr_assert_eq(
        clconvt_experimental_plan_check(support_device(), &p, "phase:c=4,p=2", 0, out, sizeof out),
        CLCONVT_SUCCESS, "%s", clconvt_last_error());
    clconvt_layer *layer = NULL;
    cr_assert_eq(clconvt_layer_create_with_plan(support_device(), &p, "phase:c=4,p=2", &layer),
                 CLCONVT_SUCCESS);
    cr_assert_eq(clconvt_layer_plan(layer, layer_plan, sizeof layer_plan), CLCONVT_SUCCESS);
    clconvt_layer_release(layer);
    cr_expect_str_eq(out, layer_plan);

    /* A path the layer cannot take is refused, and nothing is written. */
    snprintf(out, sizeof out, "untouched");
    cr_expect_eq(clconvt_experimental_plan_check(support_device(), &p, "phase_dw:vec=8,c=8,p=4", 0,
                                                 out, sizeof out),
                 CLCONVT_ERROR_INVALID_ARGUMENT);
    cr_expect_str_eq(out, "untouched");
    cr_expect(strstr(clconvt_last_error(), "phase_dw needs a depthwise layer") != NULL, "%s",
              clconvt_last_error());
    cr_expect_eq(clconvt_experimental_plan_check(support_device(), &p, "phase", 0, out, 3),
                 CLCONVT_ERROR_INVALID_ARGUMENT);
    cr_expect_str_eq(out, "untouched");
}

Test(tools, plan_check_fits_a_wide_work_group_on_request) {
    const clconvt_params p = small_ncl(); /* Cout 12: 3 channel tiles of c=4 */
    const char *wide = "phase_pos:vec=8,p=16,c=4,lp=1,lc=16";
    char kept[CLCONVT_EXPERIMENTAL_PLAN_MAX], fitted[CLCONVT_EXPERIMENTAL_PLAN_MAX];
    cr_assert_eq(clconvt_experimental_plan_check(support_device(), &p, wide, 0, kept, sizeof kept),
                 CLCONVT_SUCCESS, "%s", clconvt_last_error());
    cr_expect(strstr(kept, "lc=16") != NULL, "%s", kept);
    cr_assert_eq(clconvt_experimental_plan_check(support_device(), &p, wide,
                                                 CLCONVT_EXPERIMENTAL_PLAN_FIT_WORK_GROUP, fitted,
                                                 sizeof fitted),
                 CLCONVT_SUCCESS, "%s", clconvt_last_error());
    cr_expect(strstr(fitted, "lc=3") != NULL, "%s", fitted);
}

/* ---- The experimental section: tuning database entries -------------------------------------- */

#define FOREIGN                                                                                    \
    "{\"format\": \"clconvt-tuning\", \"version\": 1, \"devices\": [{\"identity\": "               \
    "{\"vendor\": \"Elsewhere Inc.\", \"name\": \"Far GPU\", \"driver\": \"9\", "                  \
    "\"type\": \"gpu\"}, \"updated\": \"2024-01-01T00:00:00Z\", \"classes\": "                     \
    "{\"ncl/f32/s8/cin512/cout256/taps2/g1\": {\"plan\": \"gemm\", \"median_ms\": 1.5}}}]}"

static clconvt_experimental_tuning_entry an_entry(void) {
    clconvt_experimental_tuning_entry e = {.median_ms = 1.25,
                                           .default_ms = 2.5,
                                           .max_error = 3e-7,
                                           .batch = 2,
                                           .length_in = 37,
                                           .tried = 5,
                                           .candidates = 9,
                                           .complete = 0};
    snprintf(e.plan, sizeof e.plan, "phase:p=2,c=4");
    snprintf(e.default_plan, sizeof e.default_plan, "phase_fold:vec=8,p=4,c=2");
    snprintf(e.shape, sizeof e.shape, "tiny_ncl");
    return e;
}

Test(tools, tuning_entries_round_trip_beside_other_devices) {
    const char *db = test_tmp_path("db.json"), *klass = "ncl/f32/s2/cin16/cout8/taps2/g1";
    clconvt_device *device = support_device();
    clconvt_experimental_tuning_entry got;
    int found = -1;
    /* A missing file has nothing, and is no error. */
    cr_assert_eq(clconvt_experimental_tuning_db_get(db, device, klass, &got, &found),
                 CLCONVT_SUCCESS, "%s", clconvt_last_error());
    cr_expect_eq(found, 0);

    test_write_text(db, FOREIGN);
    const clconvt_experimental_tuning_entry e = an_entry();
    cr_assert_eq(clconvt_experimental_tuning_db_put(db, device, klass, &e), CLCONVT_SUCCESS, "%s",
                 clconvt_last_error());
    cr_assert_eq(clconvt_experimental_tuning_db_get(db, device, klass, &got, &found),
                 CLCONVT_SUCCESS, "%s", clconvt_last_error());
    cr_assert_eq(found, 1);
    cr_expect_str_eq(got.plan, e.plan);
    cr_expect_str_eq(got.default_plan, e.default_plan);
    cr_expect_str_eq(got.shape, e.shape);
    cr_expect_float_eq(got.median_ms, 1.25, 1e-12);
    cr_expect_float_eq(got.default_ms, 2.5, 1e-12);
    cr_expect_float_eq(got.max_error, 3e-7, 1e-18);
    cr_expect_eq(got.batch, 2);
    cr_expect_eq(got.length_in, 37);
    cr_expect_eq(got.tried, 5);
    cr_expect_eq(got.candidates, 9);
    cr_expect_eq(got.complete, 0);
    /* The other device's entry is kept; this device's is recorded with its platform. */
    char *text = test_read_text(db);
    cr_expect(strstr(text, "Far GPU") != NULL, "%s", text);
    clconvt_experimental_identity id;
    cr_assert_eq(clconvt_experimental_identity_of(device, &id), CLCONVT_SUCCESS);
    cr_expect(strstr(text, id.platform) != NULL, "%s", text);
    free(text);
    /* Another class of the same device is absent; a second put replaces the entry. */
    cr_assert_eq(clconvt_experimental_tuning_db_get(db, device, "nlc/f32/s1/cin1/cout1/taps1/g1",
                                                    &got, &found),
                 CLCONVT_SUCCESS);
    cr_expect_eq(found, 0);
    clconvt_experimental_tuning_entry e2 = an_entry();
    e2.default_ms = -1; /* not measured: left out, read back as -1 */
    e2.complete = 1;
    cr_assert_eq(clconvt_experimental_tuning_db_put(db, device, klass, &e2), CLCONVT_SUCCESS);
    cr_assert_eq(clconvt_experimental_tuning_db_get(db, device, klass, &got, &found),
                 CLCONVT_SUCCESS);
    cr_expect_eq(got.default_ms, -1.0);
    cr_expect_eq(got.complete, 1);
}

Test(tools, an_invalid_database_is_named_and_never_overwritten) {
    const char *db = test_tmp_path("bad.json");
    const char *bad = "{\"format\": \"clconvt-tuning\", \"version\": 99, \"devices\": []}";
    test_write_text(db, bad);
    clconvt_experimental_tuning_entry got;
    int found = -1;
    cr_expect_eq(clconvt_experimental_tuning_db_get(db, support_device(), "x", &got, &found),
                 CLCONVT_ERROR_FILE);
    cr_expect(strstr(clconvt_last_error(), db) != NULL, "%s", clconvt_last_error());
    cr_expect(strstr(clconvt_last_error(), "version") != NULL, "%s", clconvt_last_error());
    const clconvt_experimental_tuning_entry e = an_entry();
    cr_expect_eq(clconvt_experimental_tuning_db_put(db, support_device(), "x", &e),
                 CLCONVT_ERROR_FILE);
    char *text = test_read_text(db);
    cr_expect_str_eq(text, bad);
    free(text);
}

/* ---- One shapes reader: clconvt-bench and clconvt-tune say the same ------------------------- */

#define HEADER                                                                                     \
    "name,batch,in_channels,out_channels,kernel,stride,padding,output_padding,dilation,groups,"    \
    "length_in,layout,bias"

/* What a tool printed on stderr for csv (its exit status must be 1), after its name. */
static char *shapes_message(const char *env, const char *const *extra, const char *csv) {
    const char *tool = getenv(env);
    cr_assert(tool != NULL && *tool, "%s must name the tool", env);
    const char *path = test_tmp_path("shapes.csv");
    test_write_text(path, csv);
    const char *args[8] = {"--shapes", path};
    size_t n = 2;
    for (; extra[n - 2] != NULL; ++n)
        args[n] = extra[n - 2];
    args[n] = NULL;
    const int status =
        test_run_tool(tool, args, test_tmp_path("out.txt"), test_tmp_path("err.txt"));
    cr_expect_eq(status, 1, "%s exited %d", tool, status);
    char *err = test_read_text(test_tmp_path("err.txt"));
    char *colon = strstr(err, ": ");
    cr_assert_not_null(colon, "%s said: %s", tool, err);
    char *message = strdup(colon + 2);
    free(err);
    return message;
}

static void expect_same_message(const char *csv, const char *part) {
    char *bench = shapes_message("CLCONVT_BENCH", (const char *[]){NULL}, csv);
    char *tune = shapes_message("CLCONVT_TUNE",
                                (const char *[]){"--output", test_tmp_path("db.json"), NULL}, csv);
    cr_expect_str_eq(bench, tune, "for:\n%s", csv);
    cr_expect(strstr(bench, part) != NULL, "'%s' is not in: %s", part, bench);
    free(bench);
    free(tune);
}

Test(tools, bench_and_tune_read_shapes_alike) {
    expect_same_message("name,batch\nx,1\n", "the header has no column 'in_channels'");
    expect_same_message(HEADER "\nx,1,2,2,two,2,0,0,1,1,8,ncl,0\n",
                        "shapes.csv:2: column 'kernel' wants an integer in [1, 2147483647], got "
                        "'two'");
    expect_same_message(HEADER ",dtype\nx,1,2,2,2,2,0,0,1,1,8,ncl,0,f64\n",
                        "shapes.csv:2: column 'dtype': dtype name 'f64' is not one of f32");
    expect_same_message(HEADER "\nx,1,2,2,2,2,0,0,1,1,8,ncl,0\nx,1,2,2,2,2,0,0,1,1,9,ncl,0\n",
                        "shapes.csv:3: row 'x' is already on line 2");
    expect_same_message(HEADER "\n# only a comment\n", "has no shapes");
    expect_same_message(HEADER ",extra\nx,1,2,2,2,2,0,0,1,1,8,ncl,0,1\n",
                        "unknown column 'extra' in the header");
    expect_same_message(HEADER "\nx,1,2,2,2,2,0,3,1,1,8,ncl,0\n",
                        "shapes.csv:2 (x): output padding must be smaller");
}

/* Both tools take the dtype names the library takes. */
Test(tools, bench_takes_the_library_dtype_names) {
    const char *tool = getenv("CLCONVT_BENCH");
    cr_assert(tool != NULL && *tool, "CLCONVT_BENCH must name clconvt-bench");
    const char *path = test_tmp_path("one.csv");
    test_write_text(path, HEADER ",dtype\nrow,1,4,4,2,2,0,0,1,1,8,ncl,1,Float16\n");
    const char *args[] = {"--shapes", path, "--repeat", "1", NULL};
    const int status =
        test_run_tool(tool, args, test_tmp_path("out.txt"), test_tmp_path("err.txt"));
    char *out = test_read_text(test_tmp_path("out.txt"));
    cr_expect_eq(status, 0, "%s", out);
    cr_expect(strstr(out, "row@f16") != NULL, "%s", out);
    free(out);
}

/* The bench's CSV times set_weight alone (stage_ms), its rate over the f32 weight's bytes, and a
 * memcpy of those bytes: present and consistent, never judged by their size. */
Test(tools, bench_reports_the_staging) {
    const char *tool = getenv("CLCONVT_BENCH");
    cr_assert(tool != NULL && *tool, "CLCONVT_BENCH must name clconvt-bench");
    const char *path = test_tmp_path("one.csv");
    test_write_text(path, HEADER "\nrow,1,64,48,8,4,0,0,1,1,16,ncl,1\n");
    const char *args[] = {"--shapes", path, "--repeat", "1", "--csv", test_tmp_path("r.csv"), NULL};
    const int status =
        test_run_tool(tool, args, test_tmp_path("out.txt"), test_tmp_path("err.txt"));
    cr_assert_eq(status, 0);
    char *csv = test_read_text(test_tmp_path("r.csv"));
    char *second = strchr(csv, '\n');
    cr_assert_not_null(second, "%s", csv);
    *second++ = '\0';
    cr_expect(strstr(csv, ",first_call_ms,stage_ms,stage_bytes_per_s,memcpy_ms") != NULL, "%s",
              csv);
    double first, stage, rate, copy;
    const char *field = second;
    for (int comma = 0; comma < 7; ++comma)
        field = strchr(field, ',') + 1;
    cr_assert_eq(sscanf(field, "%lf,%lf,%lf,%lf", &first, &stage, &rate, &copy), 4, "%s", second);
    cr_expect(stage > 0 && stage <= first, "stage_ms %g, first_call_ms %g", stage, first);
    /* The rate is the f32 weight's bytes (64 x 48 x 8 x 4) over stage_ms. */
    cr_expect_float_eq(rate * stage * 1e-3, 64.0 * 48 * 8 * 4, 1e-2 * 64 * 48 * 8 * 4, "%g", rate);
    cr_expect_geq(copy, 0.0);
    free(csv);
}
