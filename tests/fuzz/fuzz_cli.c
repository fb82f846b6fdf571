/*
 * Fuzz target: clconvt-run's command line. tools/clconvt-run.c is compiled into this binary with
 * main renamed clconvt_run_main, and called with an argv made from the input: arguments separated
 * by NUL bytes.
 *
 * The run happens in a private directory holding small valid files (inputs, weights, biases, a
 * weight-norm pair, a checkpoint; f32, f16 and bf16) and a few invalid ones, so that the fuzzer
 * reaches file reading, shape checks and parameter validation. Arguments containing '/' are
 * refused, which keeps every path inside that directory. CLCONVT_DEVICE names a device that does
 * not exist, so a run that passes every check fails at clconvt_device_open: no OpenCL work is done.
 *
 * Properties checked besides "no crash, no sanitizer report":
 * - the exit status is 0 (only for --help, -h or --version), 1 or 2;
 * - nothing in the directory was created, removed or changed: no output file (a run never
 *   succeeds here), no temporary file left behind.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "clconvt.h"
#include "fuzz_support.h"
#include "npy.h"

int clconvt_run_main(int argc, char **argv);

#define MAX_ARGS 48
#define MAX_FILES 64

/* What the directory held before a run: every name with its size and modification time. */
typedef struct snapshot {
    int count;
    struct {
        char name[64];
        off_t size;
        struct timespec mtime;
    } files[MAX_FILES];
} snapshot;

static snapshot initial;

static void take_snapshot(snapshot *s) {
    DIR *dir = opendir(".");
    FUZZ_CHECK(dir != NULL, "opendir: %s", strerror(errno));
    s->count = 0;
    for (struct dirent *e; (e = readdir(dir)) != NULL;) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        FUZZ_CHECK(s->count < MAX_FILES, "more than %d files in the directory", MAX_FILES);
        FUZZ_CHECK(strlen(e->d_name) < sizeof s->files[0].name, "a file named '%s' appeared",
                   e->d_name);
        struct stat st;
        FUZZ_CHECK(stat(e->d_name, &st) == 0, "stat %s: %s", e->d_name, strerror(errno));
        strcpy(s->files[s->count].name, e->d_name);
        s->files[s->count].size = st.st_size;
        s->files[s->count].mtime = st.st_mtim;
        s->count++;
    }
    closedir(dir);
}

static void check_unchanged(void) {
    snapshot now;
    take_snapshot(&now);
    for (int i = 0; i < now.count; ++i) {
        int found = 0;
        for (int j = 0; j < initial.count && !found; ++j) {
            if (strcmp(now.files[i].name, initial.files[j].name) != 0)
                continue;
            found = 1;
            FUZZ_CHECK(now.files[i].size == initial.files[j].size &&
                           now.files[i].mtime.tv_sec == initial.files[j].mtime.tv_sec &&
                           now.files[i].mtime.tv_nsec == initial.files[j].mtime.tv_nsec,
                       "the run changed '%s'", now.files[i].name);
        }
        FUZZ_CHECK(found, "the run created '%s'", now.files[i].name);
    }
    FUZZ_CHECK(now.count == initial.count, "the run removed a file (%d files, were %d)", now.count,
               initial.count);
}

/* ---- The files the runs use ---------------------------------------------------------------- */

static void write_npy(const char *name, npy_type type, int ndim, const int64_t *shape) {
    size_t count = 1;
    for (int i = 0; i < ndim; ++i)
        count *= (size_t)shape[i];
    const size_t item = npy_type_size(type);
    unsigned char *data = malloc(count * item + 1);
    FUZZ_CHECK(data != NULL, "out of memory");
    /* Small values of both signs whatever the type: 0x3c00-ish halves, ordinary floats. */
    for (size_t i = 0; i < count; ++i) {
        if (type == NPY_F32) {
            const float v = (float)((int)(i % 7) - 3) * 0.25f;
            memcpy(data + i * 4, &v, 4);
        } else if (type == NPY_F64) {
            const double v = (double)((int)(i % 5) - 2);
            memcpy(data + i * 8, &v, 8);
        } else {
            const uint16_t v = (uint16_t)((i % 2 ? 0xb800u : 0x3800u) + i % 16);
            memcpy(data + i * 2, &v, 2);
        }
    }
    char err[512];
    FUZZ_CHECK(npy_write(name, type, ndim, shape, data, err, sizeof err) == 0, "%s", err);
    free(data);
}

static void write_bytes(const char *name, const void *data, size_t size) {
    FILE *f = fopen(name, "wb");
    FUZZ_CHECK(f != NULL && fwrite(data, 1, size, f) == size && fclose(f) == 0, "writing %s", name);
}

/* A checkpoint with a plain layer "ups.0" (PyTorch order (2, 2, 3), bias) and a weight-norm layer
 * "n" (g (2, 1, 1), v (3, 2, 2) in MAX order), all F32. */
static void write_checkpoint(const char *name) {
    static const char header[] =
        "{\"ups.0.weight\":{\"dtype\":\"F32\",\"shape\":[2,2,3],\"data_offsets\":[0,48]},"
        "\"ups.0.bias\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[48,56]},"
        "\"n.weight_g\":{\"dtype\":\"F32\",\"shape\":[2,1,1],\"data_offsets\":[56,64]},"
        "\"n.weight_v\":{\"dtype\":\"F32\",\"shape\":[3,2,2],\"data_offsets\":[64,112]},"
        "\"__metadata__\":{\"format\":\"pt\"}}";
    const size_t header_len = (sizeof header - 1 + 7) / 8 * 8;
    unsigned char file[8 + 512 + 112];
    FUZZ_CHECK(header_len <= 512, "header too long");
    for (int i = 0; i < 8; ++i)
        file[i] = (unsigned char)(header_len >> (8 * i));
    memset(file + 8, ' ', header_len);
    memcpy(file + 8, header, sizeof header - 1);
    for (int i = 0; i < 28; ++i) {
        const float v = (float)(i % 5 + 1) * (i % 2 ? -0.5f : 0.5f);
        memcpy(file + 8 + header_len + 4 * i, &v, 4);
    }
    write_bytes(name, file, 8 + header_len + 112);
}

static void make_files(void) {
    const int64_t nlc[] = {1, 5, 2}, ncl[] = {1, 2, 5}, unbatched[] = {5, 2}, batch2[] = {2, 5, 2};
    const int64_t w_max[] = {3, 2, 2}, w_pytorch[] = {2, 2, 3}, bias[] = {2}, g[] = {2, 1, 1};
    const int64_t w_depthwise[] = {4, 1, 2}, scalar[] = {0};
    write_npy("x.npy", NPY_F32, 3, nlc);
    write_npy("xn.npy", NPY_F32, 3, ncl);
    write_npy("xu.npy", NPY_F32, 2, unbatched);
    write_npy("x2.npy", NPY_F32, 3, batch2);
    write_npy("xh.npy", NPY_F16, 3, nlc);
    write_npy("xb.npy", NPY_U16, 3, nlc);
    write_npy("xd.npy", NPY_F64, 3, nlc);
    write_npy("w.npy", NPY_F32, 3, w_max);
    write_npy("wp.npy", NPY_F32, 3, w_pytorch);
    write_npy("wh.npy", NPY_F16, 3, w_max);
    write_npy("wd.npy", NPY_F32, 3, w_depthwise);
    write_npy("b.npy", NPY_F32, 1, bias);
    write_npy("bh.npy", NPY_F16, 1, bias);
    write_npy("g.npy", NPY_F32, 3, g);
    write_npy("v.npy", NPY_F32, 3, w_max);
    write_npy("s.npy", NPY_F32, 0, scalar);
    write_checkpoint("c.safetensors");
    write_bytes("bad.npy", "\x93NUMPY\x01\x00\x10\x00{'descr': '<f4'", 24);
    write_bytes("empty.npy", "", 0);
}

/* path made absolute against the current directory (a copy, or path itself when absolute). */
static char *absolute(const char *path) {
    if (path[0] == '/')
        return (char *)path;
    char cwd[4096];
    FUZZ_CHECK(getcwd(cwd, sizeof cwd) != NULL, "getcwd: %s", strerror(errno));
    char *out = malloc(strlen(cwd) + strlen(path) + 2);
    FUZZ_CHECK(out != NULL, "out of memory");
    sprintf(out, "%s/%s", cwd, path);
    return out;
}

/*
 * The runs happen in another directory, so the corpus directories, files and libFuzzer's output
 * paths named on the command line are made absolute first (the copies live as long as the
 * process: libFuzzer keeps pointers into argv).
 */
static void absolute_arguments(int argc, char **argv) {
    static const char *const path_flags[] = {
        "-artifact_prefix=", "-exact_artifact_path=", "-dict=", "-features_dir=", "-seed_inputs="};
    for (int i = 1; i < argc; ++i) {
        if (argv[i][0] != '-') {
            argv[i] = absolute(argv[i]);
            continue;
        }
        for (size_t f = 0; f < sizeof path_flags / sizeof path_flags[0]; ++f) {
            const size_t n = strlen(path_flags[f]);
            if (strncmp(argv[i], path_flags[f], n) == 0 && argv[i][n] != '\0' &&
                argv[i][n] != '/') {
                char *value = absolute(argv[i] + n);
                char *flag = malloc(n + strlen(value) + 1);
                FUZZ_CHECK(flag != NULL, "out of memory");
                sprintf(flag, "%s%s", path_flags[f], value);
                argv[i] = flag;
            }
        }
    }
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    absolute_arguments(*argc, *argv);
    /* No device matches: a run that passes every check stops at clconvt_device_open. */
    setenv("CLCONVT_DEVICE", "clconvt-fuzz: no such device", 1);
    const char *dir = fuzz_temp_dir();
    FUZZ_CHECK(chdir(dir) == 0, "chdir %s: %s", dir, strerror(errno));
    make_files();
    take_snapshot(&initial);
    /* Load the OpenCL platforms once now, so that their one-time allocations do not look like a
     * leak of the first input that reaches clconvt_device_open. */
    clconvt_device *device = NULL;
    FUZZ_CHECK(clconvt_device_open(CLCONVT_DEVICE_ANY, NULL, &device) == CLCONVT_ERROR_NO_DEVICE,
               "a device matched the fuzz selector");
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size > 4096)
        return 0;
    /* argv[0], then the NUL-separated arguments (a last one without a NUL counts too). */
    char *text = malloc(size + 1);
    FUZZ_CHECK(text != NULL, "out of memory");
    memcpy(text, data, size);
    text[size] = '\0';
    char program[] = "clconvt-run";
    char *argv[MAX_ARGS + 2] = {program};
    int argc = 1, special = 0, usable = 1;
    for (size_t at = 0; at < size && usable;) {
        char *arg = text + at;
        const size_t len = strlen(arg);
        if (argc > MAX_ARGS || strchr(arg, '/') != NULL)
            usable = 0;
        else
            argv[argc++] = arg;
        special |=
            strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0 || strcmp(arg, "--version") == 0;
        at += len + 1;
    }
    if (usable) {
        argv[argc] = NULL;
        const int rc = clconvt_run_main(argc, argv);
        FUZZ_CHECK(rc == 1 || rc == 2 || (rc == 0 && special),
                   "exit status %d (--help/--version given: %d)", rc, special);
        check_unchanged();
    }
    free(text);
    return 0;
}
