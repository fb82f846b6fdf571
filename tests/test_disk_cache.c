/*
 * The on-disk program binary cache (src/disk_cache.c): a miss writes an entry, a new device handle
 * (or process) loads it instead of building; truncated, corrupt, garbage, foreign and refused
 * entries are removed and rebuilt, and the results stay right; CLCONVT_CACHE_DIR=off and the
 * default directories; an unwritable directory changes nothing but speed; four processes filling
 * one empty directory at once.
 *
 * Entries are written when the device handle is released (see clconvt_program_cache_store), so
 * every test releases its handles. Criterion runs every test in its own process, so the environment
 * set here (before the first OpenCL call) holds for one test. PoCL's own kernel cache would hide
 * cold builds and write to ~/.cache/pocl: each test points it at a private directory, and the
 * timing test turns it off.
 */
#include <criterion/criterion.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <xxhash.h>

#include "../src/disk_cache.h"
#include "support.h"
#include "tmpdir.h"

/* ---- Per-test directories ------------------------------------------------------------------- */

static char root[200];      /* private to the test, removed after it */
static char cache_dir[320]; /* CLCONVT_CACHE_DIR */

static void setup(void) {
    test_tmpdir_make(root, sizeof root, "disk-cache");
    char pocl[320];
    snprintf(pocl, sizeof pocl, "%s/pocl", root);
    cr_assert_eq(mkdir(pocl, 0700), 0);
    snprintf(cache_dir, sizeof cache_dir, "%s/cache", root);
    setenv("POCL_CACHE_DIR", pocl, 1);
    setenv("POCL_KERNEL_CACHE", "1", 1);
    setenv("CLCONVT_CACHE_DIR", cache_dir, 1);
}

static void teardown(void) {
    test_tmpdir_remove(root);
}

TestSuite(disk_cache, .init = setup, .fini = teardown, .timeout = 900);

/* ---- Layers --------------------------------------------------------------------------------- */

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec * 1e-6;
}

/* A small layer (quick to compile); stride picks the program, so 2 and 4 give two keys. */
static clconvt_params small_layer(int64_t stride) {
    clconvt_params p;
    clconvt_params_init(&p, 16, 16, 2 * stride);
    p.stride = stride;
    p.pad_left = p.pad_right = stride / 2;
    p.has_bias = 1;
    p.layout = CLCONVT_LAYOUT_NCL;
    return p;
}

/* HiFi-GAN V1's first upsampler: 512 -> 256, K 16, stride 8, padding 4, NCL. */
static clconvt_params hifigan_layer(void) {
    clconvt_params p;
    clconvt_params_init(&p, 512, 256, 16);
    p.stride = 8;
    p.pad_left = p.pad_right = 4;
    p.has_bias = 1;
    p.layout = CLCONVT_LAYOUT_NCL;
    return p;
}

static clconvt_device *open_device(void) {
    clconvt_device *device = NULL;
    cr_assert_eq(clconvt_device_open(CLCONVT_DEVICE_ANY, NULL, &device), CLCONVT_SUCCESS,
                 "clconvt_device_open: %s", clconvt_last_error());
    return device;
}

static uint64_t programs_built(const clconvt_device *device) {
    clconvt_device_info info;
    cr_assert_eq(clconvt_device_get_info(device, &info), CLCONVT_SUCCESS);
    return info.programs_built;
}

/*
 * Create the layer on device, set random weight and bias, run one forward on random input and
 * compare it with the float64 reference. Returns the normalised error, or -1 after printing the
 * library's message. *create_ms is the layer creation, *forward_ms the first forward. Uses no
 * Criterion assertion, so that forked children may call it.
 */
static double run_layer(clconvt_device *device, const clconvt_params *p, int64_t length,
                        uint64_t seed, double *create_ms, double *forward_ms) {
    int64_t length_out = 0;
    if (clconvt_output_length(p, length, &length_out) != CLCONVT_SUCCESS)
        return -1;
    const size_t nx = (size_t)(p->in_channels * length),
                 ny = (size_t)(p->out_channels * length_out);
    const size_t nw = (size_t)(p->in_channels * p->out_channels * p->kernel_length);
    const size_t nb = (size_t)p->out_channels;
    double *xd = malloc(nx * sizeof *xd), *wd = malloc(nw * sizeof *wd);
    double *bd = malloc(nb * sizeof *bd), *ref = malloc(ny * sizeof *ref);
    float *x = malloc(nx * sizeof *x), *w = malloc(nw * sizeof *w), *b = malloc(nb * sizeof *b);
    float *y = malloc(ny * sizeof *y);
    clconvt_layer *layer = NULL;
    double error = -1;
    if (!xd || !wd || !bd || !ref || !x || !w || !b || !y)
        goto cleanup;
    uint64_t state = seed;
    support_fill(xd, nx, &state, CLCONVT_F32);
    support_fill(wd, nw, &state, CLCONVT_F32);
    support_fill(bd, nb, &state, CLCONVT_F32);
    for (size_t i = 0; i < nx; ++i)
        x[i] = (float)xd[i];
    for (size_t i = 0; i < nw; ++i)
        w[i] = (float)wd[i];
    for (size_t i = 0; i < nb; ++i)
        b[i] = (float)bd[i];
    if (reference_forward(p, xd, wd, bd, 1, length, ref) != 0)
        goto cleanup;
    const double t0 = now_ms();
    clconvt_status status = clconvt_layer_create(device, p, &layer);
    const double t1 = now_ms();
    if (status == CLCONVT_SUCCESS)
        status = clconvt_layer_set_weight(layer, w, CLCONVT_WEIGHT_PYTORCH, CLCONVT_F32);
    if (status == CLCONVT_SUCCESS)
        status = clconvt_layer_set_bias(layer, b, CLCONVT_F32);
    const double t2 = now_ms();
    if (status == CLCONVT_SUCCESS)
        status = clconvt_layer_forward_host(layer, x, y, 1, length);
    const double t3 = now_ms();
    if (status != CLCONVT_SUCCESS) {
        fprintf(stderr, "run_layer: %s: %s\n", clconvt_status_string(status), clconvt_last_error());
        goto cleanup;
    }
    if (create_ms)
        *create_ms = t1 - t0;
    if (forward_ms)
        *forward_ms = t3 - t2;
    double *yd = malloc(ny * sizeof *yd);
    if (yd == NULL)
        goto cleanup;
    for (size_t i = 0; i < ny; ++i)
        yd[i] = (double)y[i];
    error = reference_normalised_error(yd, ref, ny);
    free(yd);
cleanup:
    clconvt_layer_release(layer);
    free(xd), free(wd), free(bd), free(ref), free(x), free(w), free(b), free(y);
    return error;
}

/* run_layer, asserting success and accuracy. */
static void run_checked(clconvt_device *device, const clconvt_params *p, int64_t length,
                        double *create_ms, double *forward_ms) {
    const double error =
        run_layer(device, p, length, 0x5eedULL + (uint64_t)p->stride, create_ms, forward_ms);
    cr_assert_geq(error, 0.0, "the forward failed (see stderr)");
    cr_assert_leq(error, reference_error_bound(CLCONVT_F32), "normalised error %g > %g", error,
                  reference_error_bound(CLCONVT_F32));
}

/* ---- Entry files ---------------------------------------------------------------------------- */

/* Names in dir: entries (no leading dot) into names (up to max), and the count of other files. */
static int list_dir(const char *dir, char names[][64], int max, int *others) {
    int count = 0;
    *others = 0;
    DIR *d = opendir(dir);
    if (d == NULL)
        return 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        if (e->d_name[0] == '.' || strlen(e->d_name) != 2 * DISK_CACHE_KEY_SIZE)
            ++*others;
        else if (count < max)
            snprintf(names[count++], 64, "%s", e->d_name);
        else
            ++count;
    }
    closedir(d);
    return count;
}

/* The path of the one entry in dir (asserting there is exactly one, and no temporary file). */
static void the_entry(const char *dir, char *path, size_t size) {
    char names[4][64];
    int others = 0;
    const int count = list_dir(dir, names, 4, &others);
    cr_assert_eq(count, 1, "%d entries in %s, expected 1", count, dir);
    cr_assert_eq(others, 0, "%d stray files (temporary files?) in %s", others, dir);
    snprintf(path, size, "%s/%s", dir, names[0]);
}

static unsigned char *read_file(const char *path, size_t *size) {
    FILE *f = fopen(path, "rb");
    cr_assert_not_null(f, "cannot open %s: %s", path, strerror(errno));
    cr_assert_eq(fseek(f, 0, SEEK_END), 0);
    const long n = ftell(f);
    cr_assert_gt(n, 0);
    rewind(f);
    unsigned char *data = malloc((size_t)n);
    cr_assert_not_null(data);
    cr_assert_eq(fread(data, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    *size = (size_t)n;
    return data;
}

static void write_file(const char *path, const unsigned char *data, size_t size) {
    FILE *f = fopen(path, "wb");
    cr_assert_not_null(f, "cannot write %s: %s", path, strerror(errno));
    cr_assert_eq(fwrite(data, 1, size, f), size);
    cr_assert_eq(fclose(f), 0);
}

static uint32_t le32(const unsigned char *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t le64(const unsigned char *p) {
    return (uint64_t)le32(p) | (uint64_t)le32(p + 4) << 32;
}

static void put_le64(unsigned char *p, uint64_t v) {
    for (int i = 0; i < 8; ++i)
        p[i] = (unsigned char)(v >> (8 * i));
}

/* Check the entry at path against the format in disk_cache.h, independently of the library;
 * returns the header size. */
static size_t check_entry(const char *path) {
    size_t size = 0;
    unsigned char *data = read_file(path, &size);
    cr_assert_geq(size, DISK_CACHE_FIXED_HEADER + 8, "%s: %zu bytes", path, size);
    cr_assert_eq(memcmp(data, DISK_CACHE_MAGIC, DISK_CACHE_MAGIC_SIZE), 0, "%s: bad magic", path);
    cr_assert_eq(le32(data + DISK_CACHE_OFFSET_VERSION), DISK_CACHE_FORMAT_VERSION);
    const uint32_t name_length = le32(data + DISK_CACHE_OFFSET_NAME_LENGTH);
    const size_t header = DISK_CACHE_FIXED_HEADER + name_length + 8;
    cr_assert_eq(le32(data + DISK_CACHE_OFFSET_HEADER_SIZE), header);
    cr_assert_leq(header, size);
    cr_assert_eq(le64(data + header - 8), XXH3_64bits(data, header - 8), "%s: header hash", path);
    cr_assert_eq(le64(data + DISK_CACHE_OFFSET_BINARY_SIZE), size - header, "%s: size", path);
    cr_assert_eq(le64(data + DISK_CACHE_OFFSET_BINARY_HASH),
                 XXH3_64bits(data + header, size - header), "%s: binary hash", path);
    /* The file is named by its key. */
    char hex[2 * DISK_CACHE_KEY_SIZE + 1];
    for (int i = 0; i < DISK_CACHE_KEY_SIZE; ++i)
        snprintf(hex + 2 * i, 3, "%02x", data[DISK_CACHE_OFFSET_KEY + i]);
    const char *base = strrchr(path, '/');
    cr_assert_str_eq(base ? base + 1 : path, hex, "the entry is not named by its key");
    /* The device name is there for diagnostics. */
    clconvt_device_info info;
    clconvt_device *device = open_device();
    cr_assert_eq(clconvt_device_get_info(device, &info), CLCONVT_SUCCESS);
    cr_assert_eq(name_length, strlen(info.name));
    cr_assert_eq(memcmp(data + DISK_CACHE_FIXED_HEADER, info.name, name_length), 0);
    clconvt_device_release(device); /* builds nothing, so writes nothing */
    free(data);
    return header;
}

/* Build p's program on a fresh handle (a miss) and release it: exactly one entry results. */
static void seed_entry(const clconvt_params *p, char *path, size_t size) {
    clconvt_device *device = open_device();
    run_checked(device, p, 50, NULL, NULL);
    cr_assert_eq(programs_built(device), 1, "a cold handle built %llu programs",
                 (unsigned long long)programs_built(device));
    clconvt_device_release(device);
    the_entry(cache_dir, path, size);
    check_entry(path);
}

/* With a bad entry at path: the next handle removes it, builds from source, computes the right
 * result, and leaves a valid entry when released. */
static void expect_rebuilt(const clconvt_params *p, const char *path, const char *what) {
    clconvt_device *device = open_device();
    run_checked(device, p, 50, NULL, NULL);
    cr_assert_eq(programs_built(device), 1, "%s: the entry was trusted (no build)", what);
    cr_assert_neq(access(path, F_OK), 0, "%s: the bad entry was not removed", what);
    clconvt_device_release(device);
    check_entry(path);
    /* And the rewritten entry is used. */
    device = open_device();
    run_checked(device, p, 50, NULL, NULL);
    cr_assert_eq(programs_built(device), 0, "%s: the rewritten entry was not used", what);
    clconvt_device_release(device);
}

/* ---- Miss, hit and timings ------------------------------------------------------------------ */

Test(disk_cache, miss_then_hit_across_handles) {
    /* Cold must be cold: no PoCL kernel cache at all, in either handle. */
    setenv("POCL_KERNEL_CACHE", "0", 1);
    const clconvt_params p = hifigan_layer();
    double cold_create, cold_forward, warm_create, warm_forward;

    clconvt_device *device = open_device();
    run_checked(device, &p, 64, &cold_create, &cold_forward);
    cr_assert_eq(programs_built(device), 1);
    char names[4][64];
    int others;
    cr_assert_eq(list_dir(cache_dir, names, 4, &others), 0, "an entry was written before release");
    double t0 = now_ms();
    clconvt_device_release(device);
    const double store_ms = now_ms() - t0;
    char path[512];
    the_entry(cache_dir, path, sizeof path);
    check_entry(path);
    struct stat st;
    cr_assert_eq(stat(cache_dir, &st), 0);
    cr_assert_eq(st.st_mode & 0777, 0700, "the cache directory has mode %o", st.st_mode & 0777);
    cr_assert_eq(stat(path, &st), 0);
    cr_assert_eq(st.st_mode & 0077, 0, "the entry is readable by others (mode %o)",
                 st.st_mode & 0777);

    device = open_device();
    run_checked(device, &p, 64, &warm_create, &warm_forward);
    cr_assert_eq(programs_built(device), 0, "the warm handle built a program");
    t0 = now_ms();
    clconvt_device_release(device);
    const double release_ms = now_ms() - t0;
    the_entry(cache_dir, path, sizeof path);

    fprintf(stderr,
            "disk_cache timings (hifigan_v1_up1, L_in 64, PoCL kernel cache off):\n"
            "  cold: layer create %.1f ms + first forward %.1f ms = %.1f ms; release (store) "
            "%.1f ms\n"
            "  warm: layer create %.1f ms + first forward %.1f ms = %.1f ms; release %.1f ms\n",
            cold_create, cold_forward, cold_create + cold_forward, store_ms, warm_create,
            warm_forward, warm_create + warm_forward, release_ms);
}

Test(disk_cache, several_programs_one_entry_each) {
    const clconvt_params a = small_layer(2), b = small_layer(4);
    clconvt_device *device = open_device();
    run_checked(device, &a, 40, NULL, NULL);
    run_checked(device, &b, 40, NULL, NULL);
    run_checked(device, &a, 70, NULL, NULL); /* from memory: nothing new */
    cr_assert_eq(programs_built(device), 2);
    clconvt_device_release(device);
    char names[4][64];
    int others;
    cr_assert_eq(list_dir(cache_dir, names, 4, &others), 2);
    cr_assert_eq(others, 0);

    device = open_device();
    run_checked(device, &b, 33, NULL, NULL);
    run_checked(device, &a, 33, NULL, NULL);
    cr_assert_eq(programs_built(device), 0);
    clconvt_device_release(device);
    cr_assert_eq(list_dir(cache_dir, names, 4, &others), 2);
}

/* ---- Bad entries ---------------------------------------------------------------------------- */

Test(disk_cache, truncated_entry_is_rebuilt) {
    const clconvt_params p = small_layer(4);
    char path[512];
    seed_entry(&p, path, sizeof path);
    size_t size;
    unsigned char *data = read_file(path, &size);
    /* Inside the binary, inside the header, and empty. */
    const size_t lengths[] = {size - 1, size / 2, DISK_CACHE_FIXED_HEADER / 2, 0};
    for (size_t i = 0; i < sizeof lengths / sizeof lengths[0]; ++i) {
        write_file(path, data, lengths[i]);
        char what[64];
        snprintf(what, sizeof what, "truncated to %zu of %zu bytes", lengths[i], size);
        expect_rebuilt(&p, path, what);
    }
    free(data);
}

Test(disk_cache, flipped_bytes_are_rebuilt) {
    const clconvt_params p = small_layer(4);
    char path[512];
    seed_entry(&p, path, sizeof path);
    const size_t header = check_entry(path);
    size_t size;
    unsigned char *good = read_file(path, &size);
    unsigned char *bad = malloc(size);
    cr_assert_not_null(bad);
    /* The binary's first, middle and last bytes; the key; the binary size; the version. */
    const size_t offsets[] = {header,
                              header + (size - header) / 2,
                              size - 1,
                              DISK_CACHE_OFFSET_KEY + 3,
                              DISK_CACHE_OFFSET_BINARY_SIZE,
                              DISK_CACHE_OFFSET_VERSION};
    for (size_t i = 0; i < sizeof offsets / sizeof offsets[0]; ++i) {
        memcpy(bad, good, size);
        bad[offsets[i]] ^= 0x5a;
        write_file(path, bad, size);
        char what[64];
        snprintf(what, sizeof what, "byte %zu of %zu flipped", offsets[i], size);
        expect_rebuilt(&p, path, what);
    }
    free(good);
    free(bad);
}

Test(disk_cache, garbage_is_rebuilt) {
    const clconvt_params p = small_layer(4);
    char path[512];
    seed_entry(&p, path, sizeof path);
    size_t size;
    unsigned char *data = read_file(path, &size);
    uint64_t state = 42;
    for (size_t i = 0; i < size; ++i)
        data[i] = (unsigned char)reference_random_next(&state);
    write_file(path, data, size);
    expect_rebuilt(&p, path, "random bytes");
    /* A right magic and version followed by garbage. */
    memcpy(data, DISK_CACHE_MAGIC, DISK_CACHE_MAGIC_SIZE);
    data[DISK_CACHE_OFFSET_VERSION] = DISK_CACHE_FORMAT_VERSION;
    data[DISK_CACHE_OFFSET_VERSION + 1] = data[DISK_CACHE_OFFSET_VERSION + 2] =
        data[DISK_CACHE_OFFSET_VERSION + 3] = 0;
    write_file(path, data, size);
    expect_rebuilt(&p, path, "magic and version, then garbage");
    free(data);
}

Test(disk_cache, another_keys_entry_is_rebuilt) {
    const clconvt_params a = small_layer(2), b = small_layer(4);
    char path_a[512], path_b[512];
    seed_entry(&a, path_a, sizeof path_a);
    size_t size_a;
    unsigned char *entry_a = read_file(path_a, &size_a);
    cr_assert_eq(unlink(path_a), 0);
    seed_entry(&b, path_b, sizeof path_b);
    cr_assert_str_neq(path_a, path_b);
    /* A's whole, valid entry under B's name. */
    write_file(path_b, entry_a, size_a);
    expect_rebuilt(&b, path_b, "another key's entry");
    free(entry_a);
}

Test(disk_cache, other_format_version_is_rebuilt) {
    const clconvt_params p = small_layer(4);
    char path[512];
    seed_entry(&p, path, sizeof path);
    const size_t header = check_entry(path);
    size_t size;
    unsigned char *data = read_file(path, &size);
    /* Version 2 with every hash right: only the version check can refuse it. */
    data[DISK_CACHE_OFFSET_VERSION] = DISK_CACHE_FORMAT_VERSION + 1;
    put_le64(data + header - 8, XXH3_64bits(data, header - 8));
    write_file(path, data, size);
    expect_rebuilt(&p, path, "format version 2");
    free(data);
}

Test(disk_cache, binary_refused_by_the_runtime_is_rebuilt) {
    const clconvt_params p = small_layer(4);
    char path[512];
    seed_entry(&p, path, sizeof path);
    const size_t header = check_entry(path);
    size_t size;
    unsigned char *data = read_file(path, &size);
    /* An intact entry (every hash right) whose binary is noise: only OpenCL can refuse it. */
    uint64_t state = 7;
    for (size_t i = header; i < size; ++i)
        data[i] = (unsigned char)reference_random_next(&state);
    put_le64(data + DISK_CACHE_OFFSET_BINARY_HASH, XXH3_64bits(data + header, size - header));
    put_le64(data + header - 8, XXH3_64bits(data, header - 8));
    write_file(path, data, size);
    expect_rebuilt(&p, path, "a binary OpenCL refuses");
    free(data);
}

Test(disk_cache, a_directory_in_the_way_is_left_alone) {
    const clconvt_params p = small_layer(4);
    char path[512];
    seed_entry(&p, path, sizeof path);
    cr_assert_eq(unlink(path), 0);
    cr_assert_eq(mkdir(path, 0700), 0); /* not a file: neither read, removed nor replaced */
    clconvt_device *device = open_device();
    run_checked(device, &p, 50, NULL, NULL);
    cr_assert_eq(programs_built(device), 1);
    clconvt_device_release(device);
    struct stat st;
    cr_assert_eq(stat(path, &st), 0);
    cr_assert(S_ISDIR(st.st_mode));
    char names[4][64];
    int others;
    cr_assert_eq(list_dir(cache_dir, names, 4, &others), 1);
    cr_assert_eq(others, 0, "a temporary file was left behind");
}

/* A FIFO in place of the entry would block open() for ever: it is a miss, never a hang (the suite's
 * timeout fails the test should that regress), and the store replaces it with a valid entry. */
Test(disk_cache, a_fifo_in_place_of_an_entry_is_a_miss) {
    const clconvt_params p = small_layer(4);
    char path[512];
    seed_entry(&p, path, sizeof path);
    cr_assert_eq(unlink(path), 0);
    cr_assert_eq(mkfifo(path, 0600), 0);
    clconvt_device *device = open_device();
    run_checked(device, &p, 50, NULL, NULL);
    cr_assert_eq(programs_built(device), 1);
    clconvt_device_release(device);
    check_entry(path);
}

/* ---- Where the cache lives ------------------------------------------------------------------ */

/* Run one layer on a fresh handle and release it. */
static void run_once(const clconvt_params *p, uint64_t expect_built) {
    clconvt_device *device = open_device();
    run_checked(device, p, 50, NULL, NULL);
    cr_assert_eq(programs_built(device), expect_built);
    clconvt_device_release(device);
}

/* Files below dir, recursively. */
static int count_files(const char *dir) {
    DIR *d = opendir(dir);
    if (d == NULL)
        return 0;
    int count = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        char path[1024];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        struct stat st;
        if (lstat(path, &st) == 0 && S_ISDIR(st.st_mode))
            count += count_files(path);
        else
            ++count;
    }
    closedir(d);
    return count;
}

Test(disk_cache, off_writes_nothing) {
    char home[256], xdg[256], work[256];
    snprintf(home, sizeof home, "%s/home", root);
    snprintf(xdg, sizeof xdg, "%s/xdg", root);
    snprintf(work, sizeof work, "%s/work", root);
    cr_assert_eq(mkdir(home, 0700), 0);
    cr_assert_eq(mkdir(xdg, 0700), 0);
    cr_assert_eq(mkdir(work, 0700), 0);
    cr_assert_eq(chdir(work), 0); /* "off" is not a relative directory name */
    setenv("HOME", home, 1);
    setenv("XDG_CACHE_HOME", xdg, 1);
    setenv("CLCONVT_CACHE_DIR", "off", 1);
    const clconvt_params p = small_layer(4);
    run_once(&p, 1);
    run_once(&p, 1); /* nothing to load either */
    cr_assert_eq(count_files(home) + count_files(xdg) + count_files(work), 0,
                 "CLCONVT_CACHE_DIR=off wrote files");
    cr_assert_neq(access(cache_dir, F_OK), 0);
}

Test(disk_cache, default_is_xdg_cache_home) {
    char xdg[256], dir[300];
    snprintf(xdg, sizeof xdg, "%s/xdg/nested", root); /* parents are created too */
    snprintf(dir, sizeof dir, "%s/clconvt", xdg);
    unsetenv("CLCONVT_CACHE_DIR");
    setenv("XDG_CACHE_HOME", xdg, 1);
    setenv("HOME", root, 1);
    const clconvt_params p = small_layer(4);
    run_once(&p, 1);
    char path[512];
    the_entry(dir, path, sizeof path);
    struct stat st;
    cr_assert_eq(stat(dir, &st), 0);
    cr_assert_eq(st.st_mode & 0777, 0700);
    run_once(&p, 0);
    setenv("CLCONVT_CACHE_DIR", "", 1); /* empty means unset */
    run_once(&p, 0);
}

Test(disk_cache, default_without_xdg_is_home_cache) {
    char home[256], dir[300];
    snprintf(home, sizeof home, "%s/home", root);
    snprintf(dir, sizeof dir, "%s/.cache/clconvt", home);
    cr_assert_eq(mkdir(home, 0700), 0);
    unsetenv("CLCONVT_CACHE_DIR");
    setenv("XDG_CACHE_HOME", "relative/is/ignored", 1);
    setenv("HOME", home, 1);
    const clconvt_params p = small_layer(4);
    run_once(&p, 1);
    char path[512];
    the_entry(dir, path, sizeof path);
    run_once(&p, 0);
}

Test(disk_cache, no_home_means_no_cache) {
    unsetenv("CLCONVT_CACHE_DIR");
    unsetenv("XDG_CACHE_HOME");
    unsetenv("HOME");
    const clconvt_params p = small_layer(4);
    run_once(&p, 1);
    run_once(&p, 1);
}

/* ---- Unwritable directories ----------------------------------------------------------------- */

Test(disk_cache, directory_under_a_regular_file) {
    char file[256], dir[300];
    snprintf(file, sizeof file, "%s/file", root);
    snprintf(dir, sizeof dir, "%s/cache", file);
    write_file(file, (const unsigned char *)"x", 1);
    setenv("CLCONVT_CACHE_DIR", dir, 1);
    const clconvt_params p = small_layer(4);
    test_capture_stderr_begin();
    run_once(&p, 1);
    run_once(&p, 1);
    const char *captured = test_capture_stderr_end();
    struct stat st;
    cr_assert_eq(stat(file, &st), 0);
    cr_assert(S_ISREG(st.st_mode) && st.st_size == 1, "the file in the way was changed");
    /* One warning naming the directory, the cause and the cure. */
    char expected[600];
    snprintf(expected, sizeof expected,
             "clconvt: cannot use the program cache directory %s: Not a directory; set "
             "CLCONVT_CACHE_DIR to a writable directory, or to off to turn the disk cache off\n",
             dir);
    cr_expect_str_eq(captured, expected);
}

Test(disk_cache, a_regular_file_as_the_directory_is_named) {
    write_file(cache_dir, (const unsigned char *)"x", 1);
    const clconvt_params p = small_layer(4);
    test_capture_stderr_begin();
    run_once(&p, 1);
    const char *captured = test_capture_stderr_end();
    cr_expect(strstr(captured, "cannot use the program cache directory") != NULL &&
                  strstr(captured, "cache: it is a regular file, not a directory; set "
                                   "CLCONVT_CACHE_DIR") != NULL,
              "stderr: %s", captured);
}

Test(disk_cache, read_only_directory) {
    if (geteuid() == 0) {
        test_tmpdir_remove(root); /* Criterion skips the suite's .fini with the test */
        cr_skip_test("root ignores directory permissions");
    }
    cr_assert_eq(mkdir(cache_dir, 0500), 0);
    const clconvt_params p = small_layer(4);
    test_capture_stderr_begin();
    run_once(&p, 1);
    run_once(&p, 1);
    const char *captured = test_capture_stderr_end();
    cr_assert_eq(count_files(cache_dir), 0);
    cr_expect(strstr(captured, "cannot use the program cache directory") != NULL &&
                  strstr(captured, "Permission denied; set CLCONVT_CACHE_DIR") != NULL,
              "stderr: %s", captured);
}

/* ---- Size limit ----------------------------------------------------------------------------- */

/* Mark path as last used (modified) ago seconds ago. */
static void set_used(const char *path, time_t ago) {
    const time_t t = time(NULL) - ago;
    const struct timespec times[2] = {{t, 0}, {t, 0}};
    cr_assert_eq(utimensat(AT_FDCWD, path, times, 0), 0, "utimensat %s: %s", path, strerror(errno));
}

/* A file of bytes (sparse) named name in the cache directory, last used ago seconds ago. */
static void fake_file(const char *name, off_t bytes, time_t ago) {
    char path[512];
    snprintf(path, sizeof path, "%s/%s", cache_dir, name);
    const int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    cr_assert_geq(fd, 0, "cannot create %s: %s", path, strerror(errno));
    cr_assert_eq(ftruncate(fd, bytes), 0);
    close(fd);
    set_used(path, ago);
}

static int in_cache(const char *name) {
    char path[512];
    snprintf(path, sizeof path, "%s/%s", cache_dir, name);
    return access(path, F_OK) == 0;
}

#define MIB ((off_t)1 << 20)
#define HOUR 3600
#define OLD_ENTRY "00000000000000000000000000000001" /* names the cache could have written */
#define MIDDLE_ENTRY "00000000000000000000000000000002"
#define NEW_ENTRY "00000000000000000000000000000003"

Test(disk_cache, a_store_prunes_the_least_recently_used_down_to_the_limit) {
    const clconvt_params a = small_layer(2), b = small_layer(4);
    run_once(&a, 1);
    char a_path[512];
    the_entry(cache_dir, a_path, sizeof a_path);
    set_used(a_path, 4 * HOUR); /* older than every entry below... */
    run_once(&a, 0);            /* ...until this hit uses it */
    fake_file(OLD_ENTRY, 10 * MIB, 3 * HOUR);
    fake_file(MIDDLE_ENTRY, 10 * MIB, 2 * HOUR);
    fake_file(NEW_ENTRY, 10 * MIB, 1 * HOUR);
    fake_file("tuning.json", 100 * MIB, 5 * HOUR); /* not an entry: never counted or removed */
    fake_file("." OLD_ENTRY ".tmp-AbCdEf", MIB, 2 * HOUR); /* a crashed writer's */
    fake_file("." NEW_ENTRY ".tmp-GhIjKl", MIB, 0);        /* a writer at work */
    /* 30 MiB of fakes plus the two real entries (well under 5 MiB): removing the oldest fake is
     * enough. Had the hit not marked A as used, A would go first, and the oldest fake too. */
    setenv("CLCONVT_CACHE_MAX_BYTES", "26214400", 1);
    run_once(&b, 1);
    cr_expect(!in_cache(OLD_ENTRY), "the least recently used entry was kept");
    cr_expect(in_cache(MIDDLE_ENTRY) && in_cache(NEW_ENTRY),
              "more entries were removed than needed");
    cr_expect_eq(access(a_path, F_OK), 0, "the entry a hit had just used was removed");
    char names[8][64];
    int others = 0;
    cr_expect_eq(list_dir(cache_dir, names, 8, &others), 4, "expected A, B and two fakes");
    cr_expect(in_cache("tuning.json"), "a file that is not an entry was removed");
    cr_expect(!in_cache("." OLD_ENTRY ".tmp-AbCdEf"), "a crashed writer's file was kept");
    cr_expect(in_cache("." NEW_ENTRY ".tmp-GhIjKl"), "a live writer's file was removed");
}

Test(disk_cache, a_limit_below_one_entry_keeps_the_entry_just_written) {
    setenv("CLCONVT_CACHE_MAX_BYTES", "1", 1);
    const clconvt_params a = small_layer(2), b = small_layer(4);
    run_once(&a, 1);
    char a_path[512], b_path[512];
    the_entry(cache_dir, a_path, sizeof a_path);
    run_once(&b, 1);
    the_entry(cache_dir, b_path, sizeof b_path);
    cr_expect_str_neq(b_path, a_path, "the older entry stayed, not the one just written");
}

Test(disk_cache, an_unusable_limit_is_named_and_the_default_applies) {
    setenv("CLCONVT_CACHE_MAX_BYTES", "12x", 1);
    test_capture_stderr_begin();
    clconvt_device *device = open_device();
    const char *captured = test_capture_stderr_end();
    cr_expect(strstr(captured, "ignoring CLCONVT_CACHE_MAX_BYTES=12x") != NULL,
              "no warning naming the value; stderr: %s", captured);
    const clconvt_params p = small_layer(2);
    run_checked(device, &p, 50, NULL, NULL);
    clconvt_device_release(device);
    char path[512];
    the_entry(cache_dir, path, sizeof path); /* written, and kept under the default limit */
}

/* ---- Several processes ---------------------------------------------------------------------- */

#define WRITERS 4

Test(disk_cache, concurrent_writers) {
    /* Every process builds for real, at the same time, into one empty directory. */
    setenv("POCL_KERNEL_CACHE", "0", 1);
    const clconvt_params p = small_layer(4);
    int gate[2];
    cr_assert_eq(pipe(gate), 0);
    pid_t children[WRITERS];
    for (int i = 0; i < WRITERS; ++i) {
        children[i] = fork();
        cr_assert_geq(children[i], 0, "fork: %s", strerror(errno));
        if (children[i] == 0) {
            /* The child: no Criterion assertions; the exit status says how it went. */
            close(gate[1]);
            char go;
            if (read(gate[0], &go, 1) != 0)
                _exit(10);
            clconvt_device *device = NULL;
            if (clconvt_device_open(CLCONVT_DEVICE_ANY, NULL, &device) != CLCONVT_SUCCESS) {
                fprintf(stderr, "writer %d: %s\n", i, clconvt_last_error());
                _exit(11);
            }
            const double error = run_layer(device, &p, 50, 0x5eedULL + (uint64_t)i, NULL, NULL);
            clconvt_device_release(device);
            if (error < 0 || error > reference_error_bound(CLCONVT_F32)) {
                fprintf(stderr, "writer %d: normalised error %g\n", i, error);
                _exit(12);
            }
            _exit(0);
        }
    }
    close(gate[0]);
    close(gate[1]); /* every child starts now */
    for (int i = 0; i < WRITERS; ++i) {
        int status = 0;
        cr_assert_eq(waitpid(children[i], &status, 0), children[i]);
        cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0,
                  "writer %d failed (exit status %d, signal %d)", i,
                  WIFEXITED(status) ? WEXITSTATUS(status) : -1,
                  WIFSIGNALED(status) ? WTERMSIG(status) : 0);
    }
    char path[512];
    the_entry(cache_dir, path, sizeof path); /* one entry, no temporary file left */
    check_entry(path);
    run_once(&p, 0);
}
