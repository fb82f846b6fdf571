/*
 * Plans for a device one does not have: clconvt-info --plans SHAPES.csv --profile NAME prints what
 * the planner chooses for a built-in device profile (src/device_profiles.c), and --emit writes the
 * program text and options exactly as the library would build them, for offline compilers.
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
#include "shapes.h"
#include "support.h"
#include "tmpdir.h"

static char tmp_dir[256];

static void setup(void) {
    test_tmpdir_make(tmp_dir, sizeof tmp_dir, "profiles");
}

static void teardown(void) {
    test_tmpdir_remove(tmp_dir);
}

TestSuite(profiles, .init = setup, .fini = teardown, .timeout = 300);

#define HEADER "name,plan,kernel,source,options,global,local"
#define FIELDS 7
#define PROFILES "sm90, gfx1030, gfx90a, xe, cpu, cpu-avx2"

/* The smoke shapes (tests/data/bench_smoke.csv) and their rows, read by the tools' own reader. */
static const char *smoke_path(void) {
    static char path[512];
    const char *data = getenv("CLCONVT_TEST_DATA");
    cr_assert(data != NULL && *data, "CLCONVT_TEST_DATA must name tests/data");
    snprintf(path, sizeof path, "%s/bench_smoke.csv", data);
    return path;
}

static size_t smoke_rows(shapes_row **rows) {
    size_t count = 0;
    cr_assert_eq(shapes_read("test", smoke_path(), -1, rows, &count), 0);
    return count;
}

/* Run clconvt-info with args (NULL-terminated); *out and *err get what it printed. */
static int run_info(const char *const *args, char **out, char **err) {
    const char *tool = getenv("CLCONVT_INFO");
    cr_assert(tool != NULL && *tool, "CLCONVT_INFO must name clconvt-info");
    const int status =
        test_run_tool(tool, args, test_tmp_path("out.txt"), test_tmp_path("err.txt"));
    *out = test_read_text(test_tmp_path("out.txt"));
    *err = test_read_text(test_tmp_path("err.txt"));
    return status;
}

/* One CSV line into fields[FIELDS] (in place; a quoted field may hold commas and "" for a quote).
 * Returns the number of fields. */
static int split_csv(char *line, char *fields[FIELDS + 1]) {
    int n = 0;
    char *s = line;
    for (;;) {
        char *start = s, *w = s;
        if (*s == '"') {
            for (++s; *s && !(s[0] == '"' && s[1] != '"'); ++s)
                *w++ = *s == '"' ? *++s : *s;
            s += *s == '"'; /* the closing quote */
        } else {
            while (*s && *s != ',')
                *w++ = *s++;
        }
        const char next = *s;
        *w = '\0';
        if (n <= FIELDS)
            fields[n] = start;
        ++n;
        if (next != ',')
            return n;
        ++s;
    }
}

typedef struct plan_row {
    char *fields[FIELDS + 1];
} plan_row;

/* The plans of the smoke shapes for profile (extra: more arguments, NULL-terminated), checked for
 * a header and one row per shape; returns the text the rows point into (free it). */
static char *plans_for(const char *profile, const char *const *extra, plan_row *rows,
                       size_t count) {
    const char *args[16] = {"--plans", smoke_path(), "--profile", profile};
    size_t n = 4;
    for (; extra[n - 4] != NULL; ++n)
        args[n] = extra[n - 4];
    args[n] = NULL;
    char *out, *err;
    const int status = run_info(args, &out, &err);
    cr_assert_eq(status, 0, "clconvt-info --profile %s exited %d: %s", profile, status, err);
    free(err);
    char *line = strtok(out, "\n");
    cr_assert_not_null(line);
    cr_expect_str_eq(line, HEADER);
    size_t got = 0;
    while ((line = strtok(NULL, "\n")) != NULL) {
        cr_assert_lt(got, count, "more rows than shapes: %s", line);
        cr_assert_eq(split_csv(line, rows[got].fields), FIELDS, "row %zu has other than %d fields",
                     got, FIELDS);
        ++got;
    }
    cr_expect_eq(got, count, "%zu rows for %zu shapes", got, count);
    return out;
}

/* "AxBxC" into three numbers. */
static void read_extents(const char *text, size_t v[3]) {
    char tail;
    cr_assert_eq(sscanf(text, "%zux%zux%zu%c", &v[0], &v[1], &v[2], &tail), 3, "'%s'", text);
}

/* Every row is what the library says for the profile, its grid whole work-groups that fit
 * max_group. */
static void expect_consistent(const char *profile, const shapes_row *shapes, const plan_row *rows,
                              size_t count, size_t max_group) {
    for (size_t i = 0; i < count; ++i) {
        char *const *f = rows[i].fields;
        cr_expect_str_eq(f[0], shapes[i].label);
        clconvt_experimental_kernel_plan kp;
        cr_assert_eq(clconvt_experimental_plan_for_profile(profile, NULL, &shapes[i].params,
                                                           shapes[i].length_in, &kp),
                     CLCONVT_SUCCESS, "%s", clconvt_last_error());
        cr_expect_str_eq(f[1], kp.plan);
        cr_expect_str_eq(f[2], kp.kernel);
        cr_expect_str_eq(f[3], kp.source_file);
        cr_expect_str_eq(f[4], kp.options);
        char stride[32];
        snprintf(stride, sizeof stride, " -DSTRIDE=%lld ", (long long)shapes[i].params.stride);
        cr_expect(strstr(f[4], stride) != NULL, "%s: %s", f[0], f[4]);
        size_t global[3], local[3];
        read_extents(f[5], global);
        read_extents(f[6], local);
        cr_expect_leq(local[0] * local[1] * local[2], max_group, "%s: %s", f[0], f[6]);
        for (int d = 0; d < 3; ++d) {
            cr_expect_eq(global[d], kp.global[d], "%s", f[0]);
            cr_expect_eq(local[d], kp.local[d], "%s", f[0]);
            cr_expect_eq(global[d] % local[d], 0, "%s: %s over %s", f[0], f[5], f[6]);
        }
    }
}

/* The smoke shapes' plans for profile, read back and checked against the library's (rows get the
 * CSV's rows; free *shapes and the text returned). */
static char *smoke_plans(const char *profile, size_t max_group, shapes_row **shapes, plan_row *rows,
                         size_t *count) {
    *count = smoke_rows(shapes);
    char *text = plans_for(profile, (const char *[]){NULL}, rows, *count);
    expect_consistent(profile, *shapes, rows, *count, max_group);
    return text;
}

/* The plan a layer of shape gets on the test device is expected. */
static void expect_layer_plan(const shapes_row *shape, const char *expected) {
    clconvt_layer *layer = NULL;
    cr_assert_eq(clconvt_layer_create(support_device(), &shape->params, &layer), CLCONVT_SUCCESS,
                 "%s", clconvt_last_error());
    char plan[CLCONVT_EXPERIMENTAL_PLAN_MAX];
    cr_assert_eq(clconvt_layer_plan(layer, plan, sizeof plan), CLCONVT_SUCCESS);
    cr_expect_str_eq(expected, plan, "%s", shape->label);
    clconvt_layer_release(layer);
}

/* The CPU profile of the test device's vector registers: "cpu" for AVX-512's 16 floats,
 * "cpu-avx2" for AVX2's 8 (CL_DEVICE_NATIVE_VECTOR_WIDTH_FLOAT); NULL for another device. */
static const char *test_cpu_profile(void) {
    clconvt_device_info info;
    cr_assert_eq(clconvt_device_get_info(support_device(), &info), CLCONVT_SUCCESS);
    cl_uint lanes = 0;
    cr_assert_eq(clGetDeviceInfo(clconvt_device_id(support_device()),
                                 CL_DEVICE_NATIVE_VECTOR_WIDTH_FLOAT, sizeof lanes, &lanes, NULL),
                 CL_SUCCESS);
    if (!(info.type & CL_DEVICE_TYPE_CPU))
        return NULL;
    return lanes == 16 ? "cpu" : lanes == 8 ? "cpu-avx2" : NULL;
}

/* Both CPU profiles plan consistently; the one of the test device's kind plans what a layer
 * gets there. */
Test(profiles, cpu_plans_are_what_a_layer_gets_on_a_pocl_cpu) {
    const char *profiles[] = {"cpu", "cpu-avx2"}, *own = test_cpu_profile();
    for (size_t p = 0; p < 2; ++p) {
        shapes_row *shapes;
        plan_row rows[8];
        size_t count;
        char *text = smoke_plans(profiles[p], 4096, &shapes, rows, &count);
        if (own != NULL && strcmp(own, profiles[p]) == 0)
            for (size_t i = 0; i < count; ++i)
                expect_layer_plan(&shapes[i], rows[i].fields[1]);
        free(text);
        free(shapes);
    }
    if (own == NULL)
        cr_skip_test("the test device is no CPU of AVX-512 or AVX2 vectors: the cpu profiles were "
                     "not compared with a layer");
}

/* smoke_ncl (Cout 20, stride 3, L_out 112) on a GPU: phase_pos with 32 positions x 12 channels, so
 * 2 position tiles x 2 channel tiles x 3 phases, in work-groups of 2 x 2 channel tiles. */
Test(profiles, sm90_plans_are_gpu_plans_within_its_work_group) {
    shapes_row *shapes;
    plan_row rows[8];
    size_t count;
    char *text = smoke_plans("sm90", 1024, &shapes, rows, &count);
    cr_expect_str_eq(rows[0].fields[0], "smoke_ncl");
    /* src/paths/gpu_tiles.c: vec 8, 8 x 4 (20 channels: 5 tiles), 12 x 5 work-items (of 64 at most)
     */
    cr_expect_str_eq(rows[0].fields[1], "phase_pos:vec=8,p=8,c=4,lp=12,lc=5,chunk=0,lr=1");
    cr_expect_str_eq(rows[0].fields[2], "phase_pos_forward");
    cr_expect_str_eq(rows[0].fields[3], "phase_pos.cl");
    cr_expect_str_eq(rows[0].fields[5], "12x5x3");
    cr_expect_str_eq(rows[0].fields[6], "12x5x1");
    free(text);
    free(shapes);
}

Test(profiles, dtype_reaches_the_options) {
    shapes_row *shapes;
    size_t count = 0;
    cr_assert_eq(shapes_read("test", smoke_path(), CLCONVT_BF16, &shapes, &count), 0);
    plan_row rows[8];
    char *text = plans_for("gfx90a", (const char *[]){"--dtype", "bf16", NULL}, rows, count);
    expect_consistent("gfx90a", shapes, rows, count, 1024);
    for (size_t i = 0; i < count; ++i)
        cr_expect(strstr(rows[i].fields[4], " -DDTYPE=2") != NULL, "%s", rows[i].fields[4]);
    free(text);
    free(shapes);
}

/* A GPU takes the gemm path for a large f32 layer: its col2im grid is one work-item per output
 * position and channel (L_out = 2 * 15 + 3 + 1 = 34, rounded up to 40), in the GPU work-group of
 * 64 (src/paths/gpu_tiles.c: 8 x 8). */
Test(profiles, gemm_plans_give_col2im_and_its_grid) {
    if (!clconvt_has_path("gemm"))
        cr_skip_test("this build has no gemm path (no CLBlast)");
    const char *path = test_tmp_path("gemm.csv");
    test_write_text(path, "name,batch,in_channels,out_channels,kernel,stride,padding,"
                          "output_padding,dilation,groups,length_in,layout,bias\n"
                          "big,1,256,256,4,2,0,0,1,1,16,nlc,1\n");
    char *out, *err;
    const int status =
        run_info((const char *[]){"--plans", path, "--profile", "gfx1030", NULL}, &out, &err);
    cr_assert_eq(status, 0, "%s", err);
    cr_expect_str_eq(out, HEADER "\nbig,\"gemm:lp=8,lc=8,lr=1\",col2im_forward,col2im.cl,"
                                 "-cl-std=CL1.2 -cl-mad-enable -DSTRIDE=2 -DLAYOUT_NCL=0 -DDTYPE=0 "
                                 "-DCI_CHUNK=0,40x256x1,8x8x1\n");
    free(out);
    free(err);
}

/* CLCONVT_PLAN forces a path as it does on a layer, row by row: the rows it fits are planned with
 * it, the others (before them too) told on stderr, and the exit status says some failed. */
Test(profiles, clconvt_plan_forces_the_path_row_by_row) {
    setenv("CLCONVT_PLAN", "phase_chan", 1);
    char *out, *err;
    const int status =
        run_info((const char *[]){"--plans", smoke_path(), "--profile", "sm90", NULL}, &out, &err);
    unsetenv("CLCONVT_PLAN");
    cr_expect_eq(status, 1, "%s", err);
    cr_expect(strstr(out, HEADER "\nsmoke_nlc,\"phase_chan:vec=") == out, "%s", out);
    cr_expect(strstr(out, "smoke_ncl") == NULL, "%s", out);
    cr_expect(
        strstr(err, "smoke_ncl: CLCONVT_PLAN \"phase_chan\": phase_chan needs the NLC layout") !=
            NULL,
        "%s", err);
    free(out);
    free(err);
}

/* The whole text of a file of the source tree's cl/. */
static char *cl_file(const char *name) {
    char path[512];
    snprintf(path, sizeof path, "%s/../../cl/%s", getenv("CLCONVT_TEST_DATA"), name);
    return test_read_text(path);
}

/* Whether clang runs here, for the offline compile. */
static int have_clang(void) {
    return system("command -v clang > /dev/null 2>&1") == 0;
}

/* The -D options only: what an offline front end takes of them. */
static void defines_of(const char *options, char *out, size_t size) {
    size_t used = 0;
    out[0] = '\0';
    for (const char *s = options; (s = strstr(s, "-D")) != NULL && used < size; ++s) {
        const size_t length = strcspn(s, " ");
        used += (size_t)snprintf(out + used, size - used, " %.*s", (int)length, s);
    }
}

static void expect_compiles(const char *dir, const char *label, const char *options) {
    char defines[512], command[2048];
    defines_of(options, defines, sizeof defines);
    snprintf(command, sizeof command,
             "clang -x cl -cl-std=CL1.2 -Xclang -finclude-default-header -target spir64 "
             "-fsyntax-only%s '%s/%s.cl' 2> '%s/%s.log'",
             defines, dir, label, dir, label);
    const int status = system(command);
    char log[512];
    snprintf(log, sizeof log, "%s/%s.log", dir, label);
    char *text = test_read_text(log);
    cr_expect_eq(status, 0, "%s does not compile offline: %s\n%s", label, command, text);
    free(text);
}

Test(profiles, emit_writes_what_the_library_builds) {
    shapes_row *shapes;
    const size_t count = smoke_rows(&shapes);
    const char *dir = test_tmp_path("emitted");
    const int clang = have_clang();
    static const char *const profiles[] = {"sm90", "gfx1030", "gfx90a", "xe", "cpu"};
    for (size_t p = 0; p < sizeof profiles / sizeof profiles[0]; ++p) {
        plan_row rows[8];
        char *text = plans_for(profiles[p], (const char *[]){"--emit", dir, NULL}, rows, count);
        char *common = cl_file("common.cl");
        for (size_t i = 0; i < count; ++i) {
            char *const *f = rows[i].fields;
            clconvt_experimental_kernel_plan kp;
            cr_assert_eq(clconvt_experimental_plan_for_profile(profiles[p], NULL, &shapes[i].params,
                                                               shapes[i].length_in, &kp),
                         CLCONVT_SUCCESS, "%s", clconvt_last_error());
            char path[512];
            snprintf(path, sizeof path, "%s/%s.cl", dir, f[0]);
            char *program = test_read_text(path);
            cr_expect_str_eq(program, kp.source, "%s", path);
            /* cl/embed.py's joining: common.cl, a newline, the path's file. */
            char *own = cl_file(f[3]);
            cr_expect_eq(strlen(program), strlen(common) + 1 + strlen(own), "%s", path);
            cr_expect(strncmp(program, common, strlen(common)) == 0, "%s", path);
            cr_expect_str_eq(program + strlen(common) + 1, own, "%s", path);
            snprintf(path, sizeof path, "%s/%s.options", dir, f[0]);
            char *options = test_read_text(path);
            const size_t length = strlen(options);
            cr_expect(length > 0 && options[length - 1] == '\n', "%s ends in no newline", path);
            options[length > 0 ? length - 1 : 0] = '\0';
            cr_expect_str_eq(options, f[4], "%s", path);
            if (clang)
                expect_compiles(dir, f[0], options);
            free(options);
            free(own);
            free(program);
        }
        free(common);
        free(text);
    }
    free(shapes);
    if (!clang)
        cr_skip_test("no clang on PATH: the emitted kernels were not compiled offline");
}

Test(profiles, list_names_every_profile) {
    char *out, *err;
    cr_assert_eq(run_info((const char *[]){"--profile", "list", NULL}, &out, &err), 0, "%s", err);
    static const char *const names[] = {"sm90", "gfx1030", "gfx90a", "xe", "cpu", "cpu-avx2"};
    const char *line = out;
    for (size_t i = 0; i < sizeof names / sizeof names[0]; ++i) {
        const size_t length = strlen(names[i]);
        cr_expect(strncmp(line, names[i], length) == 0 && line[length] == ' ' &&
                      line[length + 1] != '\n',
                  "line %zu is not '%s' and a description: %s", i + 1, names[i], out);
        line = strchr(line, '\n');
        cr_assert_not_null(line, "%s", out);
        ++line;
    }
    cr_expect(strncmp(line, "device ", 7) == 0, "no line for device: %s", out);
    free(out);
    free(err);
}

Test(profiles, unknown_profile_is_refused_naming_the_known_ones) {
    char *out, *err;
    const int status =
        run_info((const char *[]){"--plans", smoke_path(), "--profile", "sm80", NULL}, &out, &err);
    cr_expect_eq(status, 2, "exited %d", status);
    cr_expect_str_eq(out, "");
    cr_expect(strstr(err, "profile \"sm80\" is not one of " PROFILES) != NULL, "%s", err);
    free(out);
    free(err);
    clconvt_experimental_kernel_plan kp;
    clconvt_params params;
    clconvt_params_init(&params, 4, 4, 3);
    cr_expect_eq(clconvt_experimental_plan_for_profile("sm80", NULL, &params, 8, &kp),
                 CLCONVT_ERROR_INVALID_ARGUMENT);
    cr_expect(strstr(clconvt_last_error(), PROFILES) != NULL, "%s", clconvt_last_error());
    cr_expect_eq(clconvt_experimental_plan_for_profile("device", NULL, &params, 8, &kp),
                 CLCONVT_ERROR_INVALID_ARGUMENT, "device without a device");
}

/* The device profile is the opened device: on the test device, what a layer gets. */
Test(profiles, device_profile_is_the_device_a_layer_gets) {
    shapes_row *shapes;
    const size_t count = smoke_rows(&shapes);
    for (size_t i = 0; i < count; ++i) {
        clconvt_experimental_kernel_plan kp;
        cr_assert_eq(clconvt_experimental_plan_for_profile(
                         "device", support_device(), &shapes[i].params, shapes[i].length_in, &kp),
                     CLCONVT_SUCCESS, "%s", clconvt_last_error());
        expect_layer_plan(&shapes[i], kp.plan);
    }
    free(shapes);
}
