/*
 * A new input length or batch must never trigger a compile: neither one of ours (programs_built)
 * nor one hidden in the OpenCL runtime. PoCL specialises a kernel's machine code on the work-group
 * size, so a work-group size derived from the grid (the length) would compile again per length
 * without our counter noticing. On PoCL this test points the runtime's kernel cache at an empty
 * directory and counts the machine-code files it writes.
 */
#include <criterion/criterion.h>

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "support.h"
#include "tmpdir.h"

/* PoCL's kernel cache, private to the test (Criterion runs each test in a new process). */
static char cache[256];

static void make_cache(void) {
    test_tmpdir_make(cache, sizeof cache, "kcache");
}

static void remove_cache(void) {
    test_tmpdir_remove(cache);
}

TestSuite(compile_count, .init = make_cache, .fini = remove_cache);

/* Files named *.so below dir, recursively. */
static int count_shared_objects(const char *dir) {
    DIR *d = opendir(dir);
    if (d == NULL)
        return 0;
    int count = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        struct stat st;
        if (lstat(path, &st) != 0)
            continue;
        const size_t n = strlen(e->d_name);
        if (S_ISDIR(st.st_mode))
            count += count_shared_objects(path);
        else if (n > 3 && strcmp(e->d_name + n - 3, ".so") == 0)
            ++count;
    }
    closedir(d);
    return count;
}

static void forward(clconvt_layer *layer, const clconvt_params *p, int64_t batch, int64_t length) {
    int64_t length_out;
    cr_assert_eq(clconvt_output_length(p, length, &length_out), CLCONVT_SUCCESS);
    float *x = calloc((size_t)(batch * p->in_channels * length), sizeof *x);
    float *y = calloc((size_t)(batch * p->out_channels * length_out), sizeof *y);
    cr_assert(x && y);
    cr_assert_eq(clconvt_layer_forward_host(layer, x, y, batch, length), CLCONVT_SUCCESS, "%s",
                 clconvt_last_error());
    free(x);
    free(y);
}

/* Run a layer at several lengths and batches; no compile may happen after the first forward. */
static void check_layout(clconvt_layout layout, int64_t out_channels) {
    /* Must be set before the OpenCL platform starts: Criterion runs each test in a new process. */
    setenv("POCL_CACHE_DIR", cache, 1);
    setenv("POCL_KERNEL_CACHE", "1", 1);
    clconvt_device *device = support_device();
    clconvt_device_info info;
    cr_assert_eq(clconvt_device_get_info(device, &info), CLCONVT_SUCCESS);
    const int pocl = strstr(info.platform, "Portable Computing Language") != NULL;

    clconvt_params p;
    clconvt_params_init(&p, 24, out_channels, 8);
    p.stride = 4;
    p.pad_left = p.pad_right = 2;
    p.layout = layout;
    clconvt_layer *layer = NULL;
    cr_assert_eq(clconvt_layer_create(device, &p, &layer), CLCONVT_SUCCESS, "%s",
                 clconvt_last_error());
    float *w = calloc((size_t)clconvt_layer_weight_count(layer), sizeof *w);
    cr_assert_eq(clconvt_layer_set_weight(layer, w, CLCONVT_WEIGHT_MAX, CLCONVT_F32),
                 CLCONVT_SUCCESS);
    free(w);

    forward(layer, &p, 1, 100);
    cr_assert_eq(clconvt_device_get_info(device, &info), CLCONVT_SUCCESS);
    const uint64_t built = info.programs_built;
    const int machine_code = count_shared_objects(cache);
    if (pocl)
        cr_assert_gt(machine_code, 0, "PoCL wrote no kernel binary under %s", cache);

    static const int64_t lengths[] = {1, 2, 17, 333, 1000, 4099};
    static const int64_t batches[] = {1, 3, 2};
    for (size_t i = 0; i < sizeof lengths / sizeof lengths[0]; ++i)
        forward(layer, &p, batches[i % 3], lengths[i]);

    cr_assert_eq(clconvt_device_get_info(device, &info), CLCONVT_SUCCESS);
    cr_assert_eq(info.programs_built, built, "programs were built for new lengths");
    if (pocl)
        cr_assert_eq(count_shared_objects(cache), machine_code,
                     "PoCL compiled %d more kernel binaries for new lengths or batches",
                     count_shared_objects(cache) - machine_code);
    clconvt_layer_release(layer);
}

Test(compile_count, ncl_no_compile_per_length) {
    check_layout(CLCONVT_LAYOUT_NCL, 20);
}
Test(compile_count, nlc_no_compile_per_length) {
    check_layout(CLCONVT_LAYOUT_NLC, 40);
}
Test(compile_count, narrow_nlc_no_compile_per_length) {
    check_layout(CLCONVT_LAYOUT_NLC, 3);
}
