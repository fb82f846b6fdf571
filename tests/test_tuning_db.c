/*
 * The tuning database as the library reads it: the shape class, which file and which entry is
 * used (exact device, same vendor, defaults), that a database plan really reaches the layer and
 * computes the right numbers, and that every kind of bad file or plan costs exactly one warning
 * and the built-in default. Links the static library (the shape class and the database helpers
 * are internal). Criterion runs each test in its own process, so each starts with no file read.
 */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L
#endif

#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <dirent.h>
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "clconvt.h"
#include "internal_device.h"
#include "reference.h"
#include "tmpdir.h"
#include "tuning_db.h"

/* ---- Fixture: a temporary directory, a clean environment ------------------------------------ */

static char tmp_dir[256];

static void setup(void) {
    test_tmpdir_make(tmp_dir, sizeof tmp_dir, "tuning");
    unsetenv("CLCONVT_PLAN");
    unsetenv("CLCONVT_TUNING_DB");
}

/* For the tests of the user cache: it is a file in the temporary directory (absent unless the
 * test writes it). Not for every test: PoCL keeps its kernel cache there too. */
static void user_cache_in_tmp(void) {
    setenv("XDG_CACHE_HOME", tmp_dir, 1);
}

static void teardown(void) {
    test_tmpdir_remove(tmp_dir);
}

TestSuite(tuning_db, .init = setup, .fini = teardown, .timeout = 300);

/* ---- Helpers ------------------------------------------------------------------------------- */

/* Write text to name in the temporary directory (creating parent directories); its path. */
static const char *write_file(const char *name, const char *text) {
    const char *path = test_tmp_path(name);
    char parent[1024];
    snprintf(parent, sizeof parent, "%s", path);
    for (char *slash = strchr(parent + strlen(tmp_dir) + 1, '/'); slash;
         slash = strchr(slash + 1, '/')) {
        *slash = '\0';
        mkdir(parent, 0700);
        *slash = '/';
    }
    test_write_text(path, text);
    return path;
}

/* The test layer: NCL, 20 -> 12 channels, K 4, stride 2 (class ncl/f32/s2/cin16/cout8/...). */
static clconvt_params ncl_params(void) {
    clconvt_params p;
    clconvt_params_init(&p, 20, 12, 4);
    p.stride = 2;
    p.pad_left = p.pad_right = 1;
    p.has_bias = 1;
    p.layout = CLCONVT_LAYOUT_NCL;
    return p;
}

static const char *class_of(const clconvt_params *p) {
    static char text[TUNING_CLASS_MAX];
    cr_assert_eq(clconvt_tuning_shape_class(p, text, sizeof text), 0);
    return text;
}

/* The plan of a layer created with plan (NULL: the planner's choice). */
static const char *plan_of(const clconvt_params *p, const char *plan_string) {
    static char text[4][TUNING_PLAN_MAX];
    static int next;
    char *out = text[next++ % 4];
    clconvt_layer *layer = NULL;
    cr_assert_eq(clconvt_layer_create_with_plan(test_device(), p, plan_string, &layer),
                 CLCONVT_SUCCESS, "layer with plan %s: %s", plan_string ? plan_string : "(none)",
                 clconvt_last_error());
    cr_assert_eq(clconvt_layer_plan(layer, out, TUNING_PLAN_MAX), CLCONVT_SUCCESS);
    clconvt_layer_release(layer);
    return out;
}

/* The built-in default's plan for p (the database off for the call). */
static const char *default_plan_of(const clconvt_params *p) {
    clconvt_tuning_db_set_enabled(0);
    const char *text = plan_of(p, NULL);
    clconvt_tuning_db_set_enabled(1);
    return text;
}

/* Two plans of the test layer that differ from its default and from each other. */
#define PLAN_A "phase_pos:vec=8,p=16,c=4,lp=4,lc=2"
#define PLAN_B "phase_pos:vec=8,p=48,c=6,lp=1,lc=2"
#define PLAN_C "phase:p=2,c=4,lp=2,lc=3"

/* One device entry as JSON: identity, updated, and one class with a plan. */
static char *device_json(const char *vendor, const char *name, const char *driver, const char *type,
                         const char *updated, const char *shape_class, const char *plan_string) {
    char *text = malloc(2048);
    cr_assert_not_null(text);
    snprintf(text, 2048,
             "{\"identity\": {\"vendor\": \"%s\", \"name\": \"%s\", \"driver\": \"%s\", "
             "\"type\": \"%s\"}, \"platform\": \"test\", \"updated\": \"%s\", "
             "\"classes\": {\"%s\": {\"plan\": \"%s\", \"median_ms\": 1.0, \"default_ms\": 2.0}}}",
             vendor, name, driver, type, updated, shape_class, plan_string);
    return text;
}

/* This device's entry (the exact identity). */
static char *this_device_json(const char *updated, const char *shape_class,
                              const char *plan_string) {
    tuning_identity id;
    clconvt_tuning_identity_of(test_device(), &id);
    return device_json(id.vendor, id.name, id.driver, id.type, updated, shape_class, plan_string);
}

/* A database of up to three device entries (NULL ends the list early); the entries are freed. */
static const char *database(const char *name, char *a, char *b, char *c) {
    char text[8192];
    snprintf(text, sizeof text,
             "{\"format\": \"clconvt-tuning\", \"version\": 1, \"devices\": [%s%s%s%s%s]}",
             a ? a : "", b ? ", " : "", b ? b : "", c ? ", " : "", c ? c : "");
    free(a);
    free(b);
    free(c);
    return write_file(name, text);
}

static int count_lines(const char *text) {
    int n = 0;
    for (; *text; ++text)
        n += *text == '\n';
    return n;
}

/* Create `layers` layers of p with the database at path, capturing stderr; each must get
 * expected. Returns the captured text. */
static const char *layers_get(const clconvt_params *p, const char *path, int layers,
                              const char *expected) {
    if (path != NULL)
        setenv("CLCONVT_TUNING_DB", path, 1);
    test_capture_stderr_begin();
    char got[8][TUNING_PLAN_MAX];
    for (int i = 0; i < layers && i < 8; ++i)
        snprintf(got[i], sizeof got[i], "%s", plan_of(p, NULL));
    const char *captured = test_capture_stderr_end();
    for (int i = 0; i < layers && i < 8; ++i)
        cr_assert_str_eq(got[i], expected, "layer %d: plan %s, expected %s (stderr: %s)", i, got[i],
                         expected, captured);
    return captured;
}

/* ---- The shape class ----------------------------------------------------------------------- */

static const char *class_for(int64_t cin, int64_t cout, int64_t k, int64_t stride, int64_t dilation,
                             int64_t groups, clconvt_layout layout, clconvt_dtype dtype) {
    clconvt_params p;
    clconvt_params_init(&p, cin, cout, k);
    p.stride = stride;
    p.dilation = dilation;
    p.groups = groups;
    p.layout = layout;
    p.dtype = dtype;
    return class_of(&p);
}

#define NCL CLCONVT_LAYOUT_NCL
#define NLC CLCONVT_LAYOUT_NLC
#define F32 CLCONVT_F32

Test(tuning_db, shape_class_names_what_matters) {
    cr_expect_str_eq(class_for(512, 256, 16, 8, 1, 1, NCL, F32),
                     "ncl/f32/s8/cin512/cout256/taps2/g1");
    cr_expect_str_eq(class_for(80, 80, 1024, 256, 1, 1, NCL, F32),
                     "ncl/f32/s256/cin64/cout64/taps4/g1");
    cr_expect_str_eq(class_for(512, 512, 6, 3, 1, 512, NCL, F32), "ncl/f32/s3/cin1/cout1/taps2/dw");
    cr_expect_str_eq(class_for(64, 32, 4, 2, 1, 2, NLC, CLCONVT_F16),
                     "nlc/f16/s2/cin32/cout16/taps2/g2");
    cr_expect_str_eq(class_for(96, 48, 4, 2, 1, 3, NLC, CLCONVT_BF16),
                     "nlc/bf16/s2/cin32/cout16/taps2/g2");
    cr_expect_str_eq(class_for(1, 1, 1, 4, 1, 1, NCL, F32), "ncl/f32/s4/cin1/cout1/taps1/g1");
    /* Dilation 2 with stride 2: every tap lands on one phase (3 taps, bucket 2); dilation 3
     * with stride 2: taps alternate phases (2 and 1). */
    cr_expect_str_eq(class_for(8, 8, 3, 2, 2, 1, NCL, F32), "ncl/f32/s2/cin8/cout8/taps2/g1");
    cr_expect_str_eq(class_for(8, 8, 9, 2, 2, 1, NCL, F32), "ncl/f32/s2/cin8/cout8/taps8/g1");
    cr_expect_str_eq(class_for(8, 8, 9, 2, 3, 1, NCL, F32), "ncl/f32/s2/cin8/cout8/taps4/g1");
    /* One input and output channel per group but a single group is not depthwise. */
    cr_expect_str_eq(class_for(1, 1, 4, 2, 1, 1, NCL, F32), "ncl/f32/s2/cin1/cout1/taps2/g1");
}

Test(tuning_db, shape_class_buckets_nearby_sizes) {
    const char *base = "ncl/f32/s8/cin512/cout256/taps2/g1";
    cr_expect_str_eq(class_for(513, 256, 16, 8, 1, 1, NCL, F32), base);
    cr_expect_str_eq(class_for(1023, 511, 16, 8, 1, 1, NCL, F32), base);
    cr_expect_str_eq(class_for(600, 300, 20, 8, 1, 1, NCL, F32), base); /* 3 taps: bucket 2 */
    cr_expect_str_neq(class_for(1024, 256, 16, 8, 1, 1, NCL, F32), base);
    cr_expect_str_neq(class_for(511, 256, 16, 8, 1, 1, NCL, F32), base);
    cr_expect_str_neq(class_for(512, 255, 16, 8, 1, 1, NCL, F32), base);
    cr_expect_str_neq(class_for(512, 256, 32, 8, 1, 1, NCL, F32), base);
    cr_expect_str_neq(class_for(512, 256, 16, 4, 1, 1, NCL, F32), base);
    cr_expect_str_neq(class_for(512, 256, 16, 8, 1, 1, NLC, F32), base);
    cr_expect_str_neq(class_for(512, 256, 16, 8, 1, 1, NCL, CLCONVT_F16), base);
    cr_expect_str_neq(class_for(1024, 512, 16, 8, 1, 2, NCL, F32), base);
    /* Padding, output padding and bias do not matter (nor lengths or batch: not parameters). */
    clconvt_params p;
    clconvt_params_init(&p, 512, 256, 16);
    p.stride = 8;
    p.layout = NCL;
    p.pad_left = 4;
    p.pad_right = 3;
    p.output_padding = 5;
    p.has_bias = 1;
    cr_expect_str_eq(class_of(&p), base);
}

Test(tuning_db, shape_class_refuses_a_short_buffer) {
    clconvt_params p = ncl_params();
    char text[TUNING_CLASS_MAX];
    cr_assert_eq(clconvt_tuning_shape_class(&p, text, sizeof text), 0);
    const size_t need = strlen(text) + 1;
    char small[64];
    memset(small, 'x', sizeof small);
    cr_expect_eq(clconvt_tuning_shape_class(&p, small, need - 1), -1);
    cr_expect_str_eq(small, "");
    cr_expect_eq(clconvt_tuning_shape_class(&p, small, need), 0);
    cr_expect_str_eq(small, text);
}

/* ---- A database plan is used, and computes the right numbers ------------------------------- */

/* Run a layer with random data of both signs and return the normalised error. */
static double run_against_reference(const clconvt_params *p, int64_t batch, int64_t length_in) {
    int64_t length_out = 0;
    cr_assert_eq(clconvt_output_length(p, length_in, &length_out), CLCONVT_SUCCESS);
    const size_t nx = (size_t)(batch * p->in_channels * length_in);
    const size_t nw = (size_t)(p->in_channels * (p->out_channels / p->groups) * p->kernel_length);
    const size_t ny = (size_t)(batch * p->out_channels * length_out);
    float *x = malloc(nx * sizeof *x), *w = malloc(nw * sizeof *w), *y = malloc(ny * sizeof *y);
    float *b = malloc((size_t)p->out_channels * sizeof *b);
    double *xd = malloc(nx * sizeof *xd), *wd = malloc(nw * sizeof *wd), *yd = malloc(ny * 8);
    double *bd = malloc((size_t)p->out_channels * sizeof *bd), *ref = malloc(ny * sizeof *ref);
    cr_assert(x && w && y && b && xd && wd && yd && bd && ref);
    unsigned state = 12345;
    for (size_t i = 0; i < nx + nw + (size_t)p->out_channels; ++i) {
        state = state * 1103515245u + 12345u;
        const float v = (float)((state >> 8) & 0xffff) / 32768.0f - 1.0f;
        if (i < nx)
            x[i] = v, xd[i] = v;
        else if (i < nx + nw)
            w[i - nx] = v, wd[i - nx] = v;
        else
            b[i - nx - nw] = v, bd[i - nx - nw] = v;
    }
    clconvt_layer *layer = NULL;
    cr_assert_eq(clconvt_layer_create(test_device(), p, &layer), CLCONVT_SUCCESS, "%s",
                 clconvt_last_error());
    cr_assert_eq(clconvt_layer_set_weight(layer, w, CLCONVT_WEIGHT_PYTORCH, CLCONVT_F32),
                 CLCONVT_SUCCESS);
    if (p->has_bias)
        cr_assert_eq(clconvt_layer_set_bias(layer, b, CLCONVT_F32), CLCONVT_SUCCESS);
    cr_assert_eq(clconvt_layer_forward_host(layer, x, y, batch, length_in), CLCONVT_SUCCESS, "%s",
                 clconvt_last_error());
    clconvt_layer_release(layer);
    cr_assert_eq(reference_forward(p, xd, wd, p->has_bias ? bd : NULL, batch, length_in, ref), 0);
    for (size_t i = 0; i < ny; ++i)
        yd[i] = y[i];
    const double error = reference_normalised_error(yd, ref, ny);
    free(x), free(w), free(y), free(b), free(xd), free(wd), free(yd), free(bd), free(ref);
    return error;
}

Test(tuning_db, database_plan_is_used) {
    const clconvt_params p = ncl_params();
    const char *expected = plan_of(&p, PLAN_A);
    cr_assert_str_neq(expected, default_plan_of(&p), "PLAN_A must differ from the default");
    const char *path = database(
        "db.json", this_device_json("2025-01-01T00:00:00Z", class_of(&p), PLAN_A), NULL, NULL);
    const char *err = layers_get(&p, path, 2, expected);
    cr_expect_str_eq(err, "", "no warning expected, got: %s", err);
    /* The plan computes the right numbers, on lengths that are no multiple of its tile. */
    const double error = run_against_reference(&p, 2, 37);
    cr_expect_leq(error, 2e-5, "normalised error %g with the database's plan", error);
    /* Another class (another stride) is not in the file: the default. */
    clconvt_params other = p;
    other.stride = 3;
    const char *other_default = default_plan_of(&other);
    layers_get(&other, path, 1, other_default);
}

/* The block sizes of phase_fold's cache-blocked form (pt, chunk) are plan keys, so a database
 * carries them in its plan strings with no change of format: the layer takes them, and runs them
 * right. (A library from before pt refuses the key with the one warning and its default.) */
Test(tuning_db, database_plan_carries_block_sizes) {
    const clconvt_params p = ncl_params();
    const char *expected = plan_of(&p, "phase_fold:vec=8,p=4,pt=3,chunk=8");
    cr_assert(strstr(expected, "pt=3") != NULL && strstr(expected, "chunk=8") != NULL, "%s",
              expected);
    const char *path =
        database("blocked.json", this_device_json("2025-01-01T00:00:00Z", class_of(&p), expected),
                 NULL, NULL);
    const char *err = layers_get(&p, path, 2, expected);
    cr_expect_str_eq(err, "", "no warning expected, got: %s", err);
    const double error = run_against_reference(&p, 2, 37);
    cr_expect_leq(error, 2e-5, "normalised error %g with the database's blocked plan", error);
}

Test(tuning_db, user_cache_file_is_used) {
    user_cache_in_tmp();
    const clconvt_params p = ncl_params();
    const char *expected = plan_of(&p, PLAN_A);
    database("clconvt/tuning.json", this_device_json("2025-01-01T00:00:00Z", class_of(&p), PLAN_A),
             NULL, NULL);
    const char *err = layers_get(&p, NULL, 1, expected);
    cr_expect_str_eq(err, "");
}

Test(tuning_db, home_cache_file_is_used_without_xdg) {
    const clconvt_params p = ncl_params();
    const char *expected = plan_of(&p, PLAN_B);
    database(".cache/clconvt/tuning.json",
             this_device_json("2025-01-01T00:00:00Z", class_of(&p), PLAN_B), NULL, NULL);
    unsetenv("XDG_CACHE_HOME");
    setenv("HOME", tmp_dir, 1);
    layers_get(&p, NULL, 1, expected);
}

Test(tuning_db, explicit_database_replaces_the_user_cache) {
    user_cache_in_tmp();
    const clconvt_params p = ncl_params();
    const char *a = plan_of(&p, PLAN_A);
    database("clconvt/tuning.json", this_device_json("2025-01-01T00:00:00Z", class_of(&p), PLAN_B),
             NULL, NULL);
    const char *path =
        database("explicit.json", this_device_json("2025-01-01T00:00:00Z", class_of(&p), PLAN_A),
                 NULL, NULL);
    layers_get(&p, path, 1, a);
    /* An explicit file without this class gives the default, not the user cache's plan. */
    const char *empty = database("empty.json", NULL, NULL, NULL);
    clconvt_tuning_db_set_enabled(0);
    const char *fallback = plan_of(&p, NULL);
    clconvt_tuning_db_set_enabled(1);
    layers_get(&p, empty, 1, fallback);
}

Test(tuning_db, off_turns_the_database_off) {
    user_cache_in_tmp();
    const clconvt_params p = ncl_params();
    database("clconvt/tuning.json", this_device_json("2025-01-01T00:00:00Z", class_of(&p), PLAN_A),
             NULL, NULL);
    const char *err = layers_get(&p, "off", 1, default_plan_of(&p));
    cr_expect_str_eq(err, "");
    char path[64];
    cr_expect_eq(clconvt_tuning_db_path(path, sizeof path), -1);
}

Test(tuning_db, clconvt_plan_overrides_the_database) {
    const clconvt_params p = ncl_params();
    const char *b = plan_of(&p, PLAN_B);
    const char *path = database(
        "db.json", this_device_json("2025-01-01T00:00:00Z", class_of(&p), PLAN_A), NULL, NULL);
    setenv("CLCONVT_PLAN", PLAN_B, 1);
    layers_get(&p, path, 1, b);
}

/* ---- Which entry: exact device, same name, same vendor, nothing ---------------------------- */

Test(tuning_db, vendor_fallback_takes_the_most_recent) {
    const clconvt_params p = ncl_params();
    tuning_identity id;
    clconvt_tuning_identity_of(test_device(), &id);
    const char *klass = class_of(&p);
    const char *path =
        database("db.json",
                 device_json(id.vendor, "an older sibling", "1.0", id.type, "2024-01-01T00:00:00Z",
                             klass, PLAN_A),
                 device_json(id.vendor, "a newer sibling", "2.0", id.type, "2025-06-01T00:00:00Z",
                             klass, PLAN_B),
                 device_json(id.vendor, "the newest sibling", "3.0", id.type,
                             "2025-09-01T00:00:00Z", "ncl/f32/s5/cin16/cout8/taps2/g1", PLAN_A));
    const char *err = layers_get(&p, path, 1, plan_of(&p, PLAN_B));
    cr_expect_str_eq(err, "");
}

Test(tuning_db, same_name_beats_same_vendor_and_exact_beats_both) {
    const clconvt_params p = ncl_params();
    tuning_identity id;
    clconvt_tuning_identity_of(test_device(), &id);
    const char *klass = class_of(&p);
    const char *same_name = database("name.json",
                                     device_json(id.vendor, id.name, "another driver", id.type,
                                                 "2024-01-01T00:00:00Z", klass, PLAN_A),
                                     device_json(id.vendor, "a sibling", id.driver, id.type,
                                                 "2025-06-01T00:00:00Z", klass, PLAN_B),
                                     NULL);
    layers_get(&p, same_name, 1, plan_of(&p, PLAN_A));
    const char *exact = database("exact.json",
                                 device_json(id.vendor, id.name, "another driver", id.type,
                                             "2025-09-01T00:00:00Z", klass, PLAN_B),
                                 this_device_json("2020-01-01T00:00:00Z", klass, PLAN_C),
                                 device_json(id.vendor, "a sibling", id.driver, id.type,
                                             "2025-09-01T00:00:00Z", klass, PLAN_B));
    layers_get(&p, exact, 1, plan_of(&p, PLAN_C));
}

Test(tuning_db, other_vendors_and_types_give_the_default) {
    const clconvt_params p = ncl_params();
    tuning_identity id;
    clconvt_tuning_identity_of(test_device(), &id);
    const char *klass = class_of(&p);
    const char *other_type = strcmp(id.type, "gpu") == 0 ? "cpu" : "gpu";
    const char *path = database("db.json",
                                device_json("Another Vendor Inc.", id.name, id.driver, id.type,
                                            "2025-01-01T00:00:00Z", klass, PLAN_A),
                                device_json(id.vendor, id.name, id.driver, other_type,
                                            "2025-01-01T00:00:00Z", klass, PLAN_B),
                                NULL);
    const char *err = layers_get(&p, path, 1, default_plan_of(&p));
    cr_expect_str_eq(err, "", "an unknown device is no error: %s", err);
}

/* ---- Bad files and plans: one warning, the default ----------------------------------------- */

/* The text of a file must give the default plan and exactly one warning naming the file and
 * containing reason_part, however many layers are made. */
static void expect_one_warning(const char *name, const char *text, const char *reason_part) {
    const clconvt_params p = ncl_params();
    const char *fallback = default_plan_of(&p);
    const char *path = text ? write_file(name, text) : name;
    const char *err = layers_get(&p, path, 3, fallback);
    char prefix[700];
    snprintf(prefix, sizeof prefix, "clconvt: ignoring tuning database %s", path);
    cr_expect_eq(count_lines(err), 1, "%s: expected one warning, got: %s", name, err);
    cr_expect(strstr(err, prefix) == err, "%s: the warning should start '%s', got: %s", name,
              prefix, err);
    cr_expect(strstr(err, reason_part) != NULL, "%s: the warning should contain '%s', got: %s",
              name, reason_part, err);
}

Test(tuning_db, corrupt_json_warns_once) {
    expect_one_warning("corrupt.json", "{\"format\": \"clconvt-tuning\", \"version\": 1,\n  \"dev",
                       "not valid JSON (line 2");
}

Test(tuning_db, empty_file_warns_once) {
    expect_one_warning("empty.json", "", "not valid JSON");
}

Test(tuning_db, binary_file_warns_once) {
    expect_one_warning("binary.json", "\x01\x02\xff\xfe garbage", "not valid JSON");
}

Test(tuning_db, wrong_version_warns_once) {
    expect_one_warning("v2.json",
                       "{\"format\": \"clconvt-tuning\", \"version\": 2, \"devices\": []}",
                       "version 2; this clconvt reads version 1");
}

Test(tuning_db, wrong_format_warns_once) {
    expect_one_warning("other.json",
                       "{\"format\": \"something-else\", \"version\": 1, "
                       "\"devices\": []}",
                       "not a clconvt tuning database");
}

Test(tuning_db, missing_explicit_file_warns_once) {
    char path[600];
    snprintf(path, sizeof path, "%s/no-such-file.json", tmp_dir);
    expect_one_warning(path, NULL, "does not exist");
}

Test(tuning_db, directory_warns_once) {
    char path[600];
    snprintf(path, sizeof path, "%s/a-directory", tmp_dir);
    mkdir(path, 0700);
    expect_one_warning(path, NULL, "tuning database");
}

/* A FIFO would block open() for ever: it is refused, named, and never opened for a blocking read
 * (the suite's timeout fails the test should that regress; a per-test .timeout
 * would make Criterion 2.4 leak 48 bytes, which LeakSanitizer reports). */
Test(tuning_db, fifo_warns_once_without_blocking) {
    char path[600];
    snprintf(path, sizeof path, "%s/a-fifo.json", tmp_dir);
    cr_assert_eq(mkfifo(path, 0600), 0);
    expect_one_warning(path, NULL, "is a FIFO, not a regular file");
    cJSON *root = NULL;
    char reason[512];
    cr_expect_eq(clconvt_tuning_db_read(path, &root, reason, sizeof reason), -1);
    cr_expect_str_eq(reason, "is a FIFO, not a regular file");
}

Test(tuning_db, missing_user_cache_is_silent) {
    user_cache_in_tmp();
    const clconvt_params p = ncl_params();
    const char *err = layers_get(&p, NULL, 2, default_plan_of(&p));
    cr_expect_str_eq(err, "");
}

/* Wrong types anywhere in the document: each file warns once. Runs each in a new process. */
static const struct {
    const char *text, *reason;
} WRONG_TYPES[] = {
    {"[1, 2, 3]", "not a JSON object"},
    {"{\"format\": \"clconvt-tuning\", \"version\": \"1\", \"devices\": []}", "\"version\""},
    {"{\"format\": \"clconvt-tuning\", \"devices\": []}", "\"version\""},
    {"{\"format\": \"clconvt-tuning\", \"version\": 1, \"devices\": {}}", "\"devices\""},
    {"{\"format\": \"clconvt-tuning\", \"version\": 1, \"devices\": [7]}", "devices[0]"},
    {"{\"format\": \"clconvt-tuning\", \"version\": 1, \"devices\": [{\"classes\": {}}]}",
     "devices[0].identity"},
    {"{\"format\": \"clconvt-tuning\", \"version\": 1, \"devices\": [{\"identity\": {\"vendor\": "
     "5, \"name\": \"n\", \"driver\": \"d\", \"type\": \"cpu\"}, \"classes\": {}}]}",
     "identity.vendor is not a string"},
    {"{\"format\": \"clconvt-tuning\", \"version\": 1, \"devices\": [{\"identity\": {\"vendor\": "
     "\"v\", \"name\": \"n\", \"driver\": \"d\"}, \"classes\": {}}]}",
     "has no \"type\""},
    {"{\"format\": \"clconvt-tuning\", \"version\": 1, \"devices\": [{\"identity\": {\"vendor\": "
     "\"v\", \"name\": \"n\", \"driver\": \"d\", \"type\": \"cpu\"}, \"classes\": []}]}",
     "classes is missing or not an object"},
    {"{\"format\": \"clconvt-tuning\", \"version\": 1, \"devices\": [{\"identity\": {\"vendor\": "
     "\"v\", \"name\": \"n\", \"driver\": \"d\", \"type\": \"cpu\"}, \"classes\": {\"k\": "
     "{\"plan\": 7}}}]}",
     "plan is not a string"},
    {"{\"format\": \"clconvt-tuning\", \"version\": 1, \"devices\": [{\"identity\": {\"vendor\": "
     "\"v\", \"name\": \"n\", \"driver\": \"d\", \"type\": \"cpu\"}, \"classes\": {\"k\": "
     "{\"plan\": \"phase\", \"median_ms\": \"fast\"}}}]}",
     "median_ms"},
    {"{\"format\": \"clconvt-tuning\", \"version\": 1, \"devices\": [{\"identity\": {\"vendor\": "
     "\"v\", \"name\": \"n\", \"driver\": \"d\", \"type\": \"cpu\"}, \"updated\": 5, "
     "\"classes\": {}}]}",
     "updated is not a string"},
};
#define WRONG_TYPE_COUNT (sizeof WRONG_TYPES / sizeof WRONG_TYPES[0])

ParameterizedTestParameters(tuning_db, wrong_types_warn_once) {
    static int indices[WRONG_TYPE_COUNT];
    for (size_t i = 0; i < WRONG_TYPE_COUNT; ++i)
        indices[i] = (int)i;
    return cr_make_param_array(int, indices, WRONG_TYPE_COUNT);
}

ParameterizedTest(int *index, tuning_db, wrong_types_warn_once) {
    char name[32];
    snprintf(name, sizeof name, "wrong%d.json", *index);
    expect_one_warning(name, WRONG_TYPES[*index].text, WRONG_TYPES[*index].reason);
}

Test(tuning_db, unusable_plan_warns_once_and_gives_the_default) {
    const clconvt_params p = ncl_params();
    const char *klass = class_of(&p);
    /* phase_chan is an NLC kernel; this is an NCL layer. */
    char *entry = this_device_json("2025-01-01T00:00:00Z", klass, "phase_chan:vec=16,p=8,c=16");
    const char *path = database("nlc-plan.json", entry, NULL, NULL);
    const clconvt_params copy = p;
    const char *err = layers_get(&copy, path, 3, default_plan_of(&p));
    cr_expect_eq(count_lines(err), 1, "one warning expected, got: %s", err);
    cr_expect(strstr(err, "phase_chan needs the NLC layout") != NULL, "got: %s", err);
    cr_expect(strstr(err, klass) != NULL, "the warning should name the class: %s", err);
}

Test(tuning_db, unknown_path_and_bad_values_give_the_default) {
    const clconvt_params p = ncl_params();
    const char *klass = class_of(&p);
    const char *plans[] = {"no_such_path",          "phase_pos:vec=3",
                           "phase_pos:p=0",         "phase_pos:zz=1",
                           "phase_pos:vec=16,p=8",  "phase_pos:vec=4294967312",
                           "phase_pos:vec=8,vec=16"};
    for (size_t i = 0; i < sizeof plans / sizeof plans[0]; ++i) {
        char name[32];
        snprintf(name, sizeof name, "bad-plan%zu.json", i);
        const char *path =
            database(name, this_device_json("2025-01-01T00:00:00Z", klass, plans[i]), NULL, NULL);
        const char *err = layers_get(&p, path, 2, default_plan_of(&p));
        cr_expect_eq(count_lines(err), 1, "%s: one warning expected, got: %s", plans[i], err);
        cr_expect(strstr(err, plans[i]) != NULL, "the warning should quote %s: %s", plans[i], err);
    }
}

/* A plan past what the device holds (4096 work-items of 4.6 KiB: PoCL crashed in its work-group
 * function; a 1024 x 1024 register tile: 140 s of compile, then a smashed stack) is refused with
 * the one warning, and the layer gets the default plan. */
Test(tuning_db, oversized_plan_warns_once_and_gives_the_default) {
    const clconvt_params p = ncl_params();
    const char *klass = class_of(&p);
    const char *plans[] = {"phase_pos:vec=16,p=64,c=16,lp=64,lc=64", "phase:p=1024,c=1024"};
    const char *reasons[] = {"private memory", "accumulators per work-item"};
    for (size_t i = 0; i < sizeof plans / sizeof plans[0]; ++i) {
        char name[32];
        snprintf(name, sizeof name, "oversized%zu.json", i);
        const char *path =
            database(name, this_device_json("2025-01-01T00:00:00Z", klass, plans[i]), NULL, NULL);
        const char *err = layers_get(&p, path, 2, default_plan_of(&p));
        cr_expect_eq(count_lines(err), 1, "%s: one warning expected, got: %s", plans[i], err);
        cr_expect(strstr(err, reasons[i]) != NULL, "%s: got: %s", plans[i], err);
    }
}

Test(tuning_db, one_bad_entry_leaves_the_others_usable) {
    clconvt_params nlc = ncl_params();
    nlc.layout = CLCONVT_LAYOUT_NLC;
    nlc.out_channels = 16;
    const clconvt_params p = ncl_params();
    tuning_identity id;
    clconvt_tuning_identity_of(test_device(), &id);
    char text[4096];
    /* The NCL class holds an NLC plan (refused); the NLC class's plan is fine. */
    snprintf(text, sizeof text,
             "{\"format\": \"clconvt-tuning\", \"version\": 1, \"devices\": [{\"identity\": "
             "{\"vendor\": \"%s\", \"name\": \"%s\", \"driver\": \"%s\", \"type\": \"%s\"}, "
             "\"classes\": {\"%s\": {\"plan\": \"phase_chan:vec=16,p=8,c=16\"}, "
             "\"%s\": {\"plan\": \"phase_chan:vec=8,p=4,c=16\"}}}]}",
             id.vendor, id.name, id.driver, id.type, "ncl/f32/s2/cin16/cout8/taps2/g1",
             class_of(&nlc));
    const char *path = write_file("mixed.json", text);
    const char *nlc_plan = plan_of(&nlc, "phase_chan:vec=8,p=4,c=16");
    cr_assert_str_eq(class_of(&p), "ncl/f32/s2/cin16/cout8/taps2/g1");
    const char *err1 = layers_get(&p, path, 1, default_plan_of(&p));
    cr_expect_eq(count_lines(err1), 1, "got: %s", err1);
    const char *err2 = layers_get(&nlc, path, 2, nlc_plan);
    cr_expect_str_eq(err2, "", "the warning was given already: %s", err2);
}

/* ---- Threads ------------------------------------------------------------------------------- */

typedef struct thread_job {
    clconvt_params params;
    char plan[TUNING_PLAN_MAX];
    int status;
} thread_job;

static void *create_layers(void *arg) {
    thread_job *job = arg;
    for (int i = 0; i < 4; ++i) {
        clconvt_layer *layer = NULL;
        job->status = clconvt_layer_create(test_device(), &job->params, &layer);
        if (job->status != CLCONVT_SUCCESS)
            return NULL;
        job->status = clconvt_layer_plan(layer, job->plan, sizeof job->plan);
        clconvt_layer_release(layer);
    }
    return NULL;
}

static const char *run_threads(const char *path, const char *expected) {
    enum { THREADS = 6 };
    setenv("CLCONVT_TUNING_DB", path, 1);
    thread_job jobs[THREADS];
    pthread_t threads[THREADS];
    test_capture_stderr_begin();
    for (int t = 0; t < THREADS; ++t) {
        jobs[t] = (thread_job){.params = ncl_params(), .status = -100};
        cr_assert_eq(pthread_create(&threads[t], NULL, create_layers, &jobs[t]), 0);
    }
    for (int t = 0; t < THREADS; ++t)
        pthread_join(threads[t], NULL);
    const char *err = test_capture_stderr_end();
    for (int t = 0; t < THREADS; ++t) {
        cr_assert_eq(jobs[t].status, CLCONVT_SUCCESS, "thread %d: %s", t, clconvt_last_error());
        cr_expect_str_eq(jobs[t].plan, expected, "thread %d", t);
    }
    return err;
}

Test(tuning_db, threads_share_one_read_and_one_warning) {
    const clconvt_params p = ncl_params();
    test_device(); /* opened before the threads start */
    const char *a = plan_of(&p, PLAN_A);
    const char *fallback = default_plan_of(&p);
    const char *good = database(
        "good.json", this_device_json("2025-01-01T00:00:00Z", class_of(&p), PLAN_A), NULL, NULL);
    cr_expect_str_eq(run_threads(good, a), "");
    const char *bad = write_file("bad.json", "{{{{");
    const char *err = run_threads(bad, fallback);
    cr_expect_eq(count_lines(err), 1, "one warning from six threads expected, got: %s", err);
}

/* ---- The file helpers clconvt-tune uses ---------------------------------------------------- */

Test(tuning_db, write_is_atomic_and_reads_back) {
    cJSON *root = clconvt_tuning_db_new();
    cr_assert_not_null(root);
    tuning_identity id = {"Vendor", "Device", "1.2", "gpu"};
    cJSON *device = clconvt_tuning_db_device_entry(root, &id, 1);
    cr_assert_not_null(device);
    cr_assert_eq(clconvt_tuning_db_device_entry(root, &id, 1), device,
                 "no second entry for the same id");
    cJSON *record = cJSON_CreateObject();
    cJSON_AddStringToObject(record, "plan", "phase");
    cJSON_AddItemToObject(cJSON_GetObjectItemCaseSensitive(device, "classes"), "k", record);
    char path[600], reason[256];
    snprintf(path, sizeof path, "%s/written.json", tmp_dir);
    cr_assert_eq(clconvt_tuning_db_write(path, root, reason, sizeof reason), 0, "%s", reason);
    cJSON_Delete(root);

    cJSON *back = NULL;
    cr_assert_eq(clconvt_tuning_db_read(path, &back, reason, sizeof reason), 0, "%s", reason);
    int rank = 0;
    const cJSON *found = clconvt_tuning_db_find(back, &id, "k", &rank);
    cr_assert_not_null(found);
    cr_expect_eq(rank, 3);
    tuning_identity sibling = {"Vendor", "Other", "1.2", "gpu"};
    cr_expect_not_null(clconvt_tuning_db_find(back, &sibling, "k", &rank));
    cr_expect_eq(rank, 1);
    tuning_identity stranger = {"Other", "Device", "1.2", "gpu"};
    cr_expect_null(clconvt_tuning_db_find(back, &stranger, "k", &rank));
    cr_expect_eq(rank, 0);
    cJSON_Delete(back);

    /* Nothing but the file is left in the directory. */
    DIR *d = opendir(tmp_dir);
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        cr_expect(e->d_name[0] == '.' || strcmp(e->d_name, "written.json") == 0, "left behind: %s",
                  e->d_name);
    closedir(d);

    /* A file that cannot be created: an error, the reason, and nothing written. */
    snprintf(path, sizeof path, "%s/no-such-dir/db.json", tmp_dir);
    root = clconvt_tuning_db_new();
    cr_expect_eq(clconvt_tuning_db_write(path, root, reason, sizeof reason), -1);
    cr_expect(strstr(reason, "temporary file") != NULL, "reason: %s", reason);
    cJSON_Delete(root);
    cr_expect_eq(clconvt_tuning_db_read(path, &back, reason, sizeof reason), 1, "missing: %s",
                 reason);
    cr_expect_null(back);
}
