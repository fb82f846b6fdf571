/*
 * clconvt-info: the OpenCL platforms and devices this machine has, with the capabilities clconvt
 * uses, and the device clconvt_device_open would pick by default (and why). With --plans, the
 * plans, kernels, build options and grids a device (a built-in profile, or the device opened)
 * gets for a table of shapes, and with --emit their program texts, for offline compilers.
 *
 * Enumeration uses plain OpenCL calls, so a device the library cannot open is still listed; the
 * pick is the library's own (clconvt_device_open), so it is exactly what every tool and program
 * gets, CLCONVT_DEVICE included.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "clconvt.h"
#include "file_output.h"
#include "shapes.h"
#include "tool_util.h"

#ifndef CLCONVT_VERSION
#define CLCONVT_VERSION "unknown"
#endif

#define PROGRAM "clconvt-info"

enum { EXIT_OK = 0, EXIT_FAILURE_RUN = 1, EXIT_USAGE = 2 };

static const char help_text[] =
    "Usage: " PROGRAM " [--device SELECTOR]\n"
    "       " PROGRAM " --plans SHAPES.csv [--profile NAME] [--dtype f32|f16|bf16] [--emit DIR]\n"
    "       " PROGRAM " --profile list\n"
    "\n"
    "Lists the OpenCL platforms and devices, with what clconvt uses of each: name, vendor,\n"
    "version, driver, type, compute units, largest allocation, global and local memory,\n"
    "largest work-group, fp16 support (cl_khr_fp16) and OpenCL C version. Devices are\n"
    "numbered P:D (platform, device), as the selectors below use them.\n"
    "Then it opens the device clconvt would use, as every clconvt tool does, and says why.\n"
    "\n"
    "  --device SELECTOR   report the pick for SELECTOR instead of the default: \"gpu\",\n"
    "                      \"cpu\", \"any\", \"P:D\" or a case-insensitive substring of the\n"
    "                      device or platform name\n"
    "  --plans SHAPES.csv  instead, print as CSV what a device gets for each row of the\n"
    "                      shapes table (the format clconvt-bench reads), without compiling:\n"
    "                      name,plan,kernel,source,options,global,local: the plan string\n"
    "                      (the built-in one, or CLCONVT_PLAN's when set: a row whose layer\n"
    "                      it does not fit is told on stderr, the others still printed),\n"
    "                      the kernel's entry point, its file in cl/, the full build\n"
    "                      options, and the grid of one forward of a batch of 1 at the row's\n"
    "                      length_in (\"AxBxC\": work-items rounded up to whole work-groups, and\n"
    "                      the work-group, fitted to the device's largest)\n"
    "  --profile NAME      the device of --plans: a built-in profile (sm90, gfx1030, gfx90a,\n"
    "                      xe, cpu, cpu-avx2), or \"device\" (the default): the device clconvt\n"
    "                      opens, with --device; \"--profile list\" lists the profiles and exits\n"
    "  --dtype DTYPE       with --plans: every row in this dtype, whatever its dtype column\n"
    "  --emit DIR          with --plans: also write DIR/NAME.cl (the whole program text, as the\n"
    "                      library builds it) and DIR/NAME.options (its build options, one line)\n"
    "                      for each row (NAME as in the CSV); DIR is made if missing\n"
    "  --help              show this text and exit\n"
    "  --version           show the version and exit\n"
    "\n"
    "Default choice: a GPU if there is one, else a CPU. A non-empty CLCONVT_DEVICE\n"
    "environment variable (same forms as --device) overrides both.\n"
    "\n"
    "Exit status: 0 when a device could be opened (with --plans: every row was planned and\n"
    "written), 1 when none could (or OpenCL failed, or a file could not be read or written),\n"
    "2 for a usage error (an unknown profile included).\n";

/* A string property, truncated to fit buf; "?" when the query fails. */
static void device_string(cl_device_id device, cl_device_info param, char *buf, size_t size) {
    size_t got = 0;
    if (clGetDeviceInfo(device, param, size - 1, buf, &got) != CL_SUCCESS) {
        /* The value may simply be longer than buf: ask for its size and read what fits. */
        size_t needed = 0;
        char *full = NULL;
        if (clGetDeviceInfo(device, param, 0, NULL, &needed) == CL_SUCCESS &&
            (full = malloc(needed + 1)) != NULL &&
            clGetDeviceInfo(device, param, needed, full, NULL) == CL_SUCCESS) {
            full[needed] = '\0';
            snprintf(buf, size, "%s", full);
        } else {
            snprintf(buf, size, "?");
        }
        free(full);
        return;
    }
    buf[got < size ? got : size - 1] = '\0';
}

static void platform_string(cl_platform_id platform, cl_platform_info param, char *buf,
                            size_t size) {
    size_t got = 0;
    if (clGetPlatformInfo(platform, param, size - 1, buf, &got) != CL_SUCCESS) {
        snprintf(buf, size, "?");
        return;
    }
    buf[got < size ? got : size - 1] = '\0';
}

/* Whether the device's extension list names ext (read whole: it can be long). */
static int has_extension(cl_device_id device, const char *ext) {
    size_t size = 0;
    if (clGetDeviceInfo(device, CL_DEVICE_EXTENSIONS, 0, NULL, &size) != CL_SUCCESS)
        return 0;
    char *list = malloc(size + 1);
    int found = 0;
    if (list != NULL &&
        clGetDeviceInfo(device, CL_DEVICE_EXTENSIONS, size, list, NULL) == CL_SUCCESS) {
        list[size] = '\0';
        found = strstr(list, ext) != NULL;
    }
    free(list);
    return found;
}

/* "2.00 GiB (2147483648 bytes)". */
static void print_bytes(const char *label, cl_ulong bytes) {
    static const char *const units[] = {"bytes", "KiB", "MiB", "GiB", "TiB"};
    double value = (double)bytes;
    int unit = 0;
    while (value >= 1024.0 && unit < 4) {
        value /= 1024.0;
        ++unit;
    }
    if (unit == 0)
        printf("    %-21s %" PRIu64 " bytes\n", label, (uint64_t)bytes);
    else
        printf("    %-21s %.2f %s (%" PRIu64 " bytes)\n", label, value, units[unit],
               (uint64_t)bytes);
}

static void print_device(cl_device_id device, cl_uint p, cl_uint d) {
    char name[256], vendor[256], version[256], driver[256], c_version[256];
    cl_device_type type = 0;
    cl_uint units = 0;
    cl_ulong max_alloc = 0, global_mem = 0, local_mem = 0;
    size_t group = 0;
    device_string(device, CL_DEVICE_NAME, name, sizeof name);
    device_string(device, CL_DEVICE_VENDOR, vendor, sizeof vendor);
    device_string(device, CL_DEVICE_VERSION, version, sizeof version);
    device_string(device, CL_DRIVER_VERSION, driver, sizeof driver);
    device_string(device, CL_DEVICE_OPENCL_C_VERSION, c_version, sizeof c_version);
    /* A failed scalar query leaves 0, which prints as such: better than hiding the device. */
    clGetDeviceInfo(device, CL_DEVICE_TYPE, sizeof type, &type, NULL);
    clGetDeviceInfo(device, CL_DEVICE_MAX_COMPUTE_UNITS, sizeof units, &units, NULL);
    clGetDeviceInfo(device, CL_DEVICE_MAX_MEM_ALLOC_SIZE, sizeof max_alloc, &max_alloc, NULL);
    clGetDeviceInfo(device, CL_DEVICE_GLOBAL_MEM_SIZE, sizeof global_mem, &global_mem, NULL);
    clGetDeviceInfo(device, CL_DEVICE_LOCAL_MEM_SIZE, sizeof local_mem, &local_mem, NULL);
    clGetDeviceInfo(device, CL_DEVICE_MAX_WORK_GROUP_SIZE, sizeof group, &group, NULL);
    printf("  Device %u:%u  %s\n", p, d, name);
    printf("    %-21s %s\n", "type", tool_device_type_name(type));
    printf("    %-21s %s\n", "vendor", vendor);
    printf("    %-21s %s\n", "version", version);
    printf("    %-21s %s\n", "driver", driver);
    printf("    %-21s %s\n", "OpenCL C", c_version);
    printf("    %-21s %u\n", "compute units", units);
    print_bytes("max allocation", max_alloc);
    print_bytes("global memory", global_mem);
    print_bytes("local memory", local_mem);
    printf("    %-21s %zu\n", "max work-group size", group);
    printf("    %-21s %s\n", "fp16 (cl_khr_fp16)",
           has_extension(device, "cl_khr_fp16") ? "yes" : "no");
}

/* Lists every platform and its devices; returns the number of devices. */
static cl_uint list_devices(void) {
    cl_uint num_platforms = 0, total = 0;
    cl_int err = clGetPlatformIDs(0, NULL, &num_platforms);
    if (err != CL_SUCCESS || num_platforms == 0) {
        printf("No OpenCL platforms (clGetPlatformIDs returned %d). Is an OpenCL driver such as "
               "pocl-opencl-icd installed?\n",
               (int)err);
        return 0;
    }
    cl_platform_id *platforms = malloc(num_platforms * sizeof *platforms);
    if (platforms == NULL || clGetPlatformIDs(num_platforms, platforms, NULL) != CL_SUCCESS) {
        free(platforms);
        printf("Could not list the OpenCL platforms.\n");
        return 0;
    }
    for (cl_uint p = 0; p < num_platforms; ++p) {
        char name[256], vendor[256], version[256];
        platform_string(platforms[p], CL_PLATFORM_NAME, name, sizeof name);
        platform_string(platforms[p], CL_PLATFORM_VENDOR, vendor, sizeof vendor);
        platform_string(platforms[p], CL_PLATFORM_VERSION, version, sizeof version);
        printf("Platform %u: %s (%s), %s\n", p, name, vendor, version);
        cl_uint num_devices = 0;
        err = clGetDeviceIDs(platforms[p], CL_DEVICE_TYPE_ALL, 0, NULL, &num_devices);
        cl_device_id *devices =
            err == CL_SUCCESS && num_devices > 0 ? malloc(num_devices * sizeof *devices) : NULL;
        if (devices == NULL || clGetDeviceIDs(platforms[p], CL_DEVICE_TYPE_ALL, num_devices,
                                              devices, NULL) != CL_SUCCESS) {
            printf("  (no devices)\n");
            free(devices);
            continue;
        }
        for (cl_uint d = 0; d < num_devices; ++d)
            print_device(devices[d], p, d);
        total += num_devices;
        free(devices);
    }
    free(platforms);
    return total;
}

/* "P:D" of a device, found by walking the platforms again; "?" if it is not a root device. */
static void device_index(cl_device_id wanted, char *buf, size_t size) {
    cl_uint num_platforms = 0;
    snprintf(buf, size, "?");
    if (clGetPlatformIDs(0, NULL, &num_platforms) != CL_SUCCESS || num_platforms == 0)
        return;
    cl_platform_id *platforms = malloc(num_platforms * sizeof *platforms);
    if (platforms == NULL || clGetPlatformIDs(num_platforms, platforms, NULL) != CL_SUCCESS) {
        free(platforms);
        return;
    }
    for (cl_uint p = 0; p < num_platforms; ++p) {
        cl_uint n = 0;
        if (clGetDeviceIDs(platforms[p], CL_DEVICE_TYPE_ALL, 0, NULL, &n) != CL_SUCCESS || n == 0)
            continue;
        cl_device_id *devices = malloc(n * sizeof *devices);
        if (devices != NULL &&
            clGetDeviceIDs(platforms[p], CL_DEVICE_TYPE_ALL, n, devices, NULL) == CL_SUCCESS)
            for (cl_uint d = 0; d < n; ++d)
                if (devices[d] == wanted)
                    snprintf(buf, size, "%u:%u", p, d);
        free(devices);
    }
    free(platforms);
}

/* Opens the device clconvt would use and says which and why. */
static int report_pick(const char *selector) {
    const char *env = getenv("CLCONVT_DEVICE");
    const int from_env = env != NULL && *env != '\0';
    clconvt_device *device = NULL;
    const clconvt_status st = clconvt_device_open(CLCONVT_DEVICE_ANY, selector, &device);
    if (st != CLCONVT_SUCCESS) {
        printf("\nclconvt would use: no device (%s: %s)\n", clconvt_status_string(st),
               clconvt_last_error());
        return EXIT_FAILURE_RUN;
    }
    clconvt_device_info info;
    char index[32];
    clconvt_device_get_info(device, &info);
    device_index(clconvt_device_id(device), index, sizeof index);
    char why[512];
    if (from_env)
        snprintf(why, sizeof why, "chosen by CLCONVT_DEVICE=\"%s\"%s", env,
                 selector ? " (which overrides --device)" : "");
    else if (selector)
        snprintf(why, sizeof why, "chosen by --device \"%s\"", selector);
    else if (info.type & CL_DEVICE_TYPE_GPU)
        snprintf(why, sizeof why, "the first GPU: clconvt prefers a GPU");
    else if (info.type & CL_DEVICE_TYPE_CPU)
        snprintf(why, sizeof why, "no GPU found, so the first CPU device");
    else
        snprintf(why, sizeof why, "no GPU or CPU device, so the first device");
    printf("\nclconvt would use: %s  %s (%s, %s)\n  why: %s\n", index, info.name,
           tool_device_type_name(info.type), info.platform, why);
    clconvt_device_release(device);
    return EXIT_OK;
}

/* ---- --plans: what a device gets for a table of shapes --------------------------------------- */

typedef struct plans_request {
    const char *shapes, *profile, *emit, *dtype, *selector;
} plans_request;

static int list_profiles(void) {
    const char *name, *description;
    for (size_t i = 0; (name = clconvt_experimental_profile_name(i, &description)) != NULL; ++i)
        printf("%-8s %s\n", name, description);
    printf("%-8s %s\n", "device", "the device clconvt opens (--device, CLCONVT_DEVICE)");
    return EXIT_OK;
}

/* A CSV field, quoted when it holds a comma or a quote (plan strings hold commas). */
static void print_field(const char *text, const char *after) {
    if (strpbrk(text, ",\"\n") == NULL) {
        printf("%s%s", text, after);
        return;
    }
    putchar('"');
    for (const char *c = text; *c; ++c) {
        if (*c == '"')
            putchar('"');
        putchar(*c);
    }
    printf("\"%s", after);
}

/* Write text to DIR/NAME.SUFFIX whole (src/file_output.h); 0, or -1 after a message. */
static int emit_file(const char *dir, const char *name, const char *suffix, const char *text) {
    char path[4096], why[512];
    snprintf(path, sizeof path, "%s/%s.%s", dir, name, suffix);
    clconvt_output out;
    if (clconvt_output_begin(&out, path, why, sizeof why) != 0) {
        fprintf(stderr, PROGRAM ": %s: %s\n", path, why);
        return -1;
    }
    clconvt_output_write(&out, text, strlen(text));
    if (clconvt_output_commit(&out, why, sizeof why) != 0) {
        fprintf(stderr, PROGRAM ": %s: %s\n", path, why);
        return -1;
    }
    return 0;
}

/* One row: its line of CSV, and its files under emit (NULL: none). 0, or -1 after a message. */
static int plan_row(const char *profile, const clconvt_device *device, const shapes_row *row,
                    const char *emit) {
    clconvt_experimental_kernel_plan kp;
    if (clconvt_experimental_plan_for_profile(profile, device, &row->params, row->length_in, &kp) !=
        CLCONVT_SUCCESS) {
        fprintf(stderr, PROGRAM ": %s: %s\n", row->label, clconvt_last_error());
        return -1;
    }
    char global[96], local[96];
    snprintf(global, sizeof global, "%zux%zux%zu", kp.global[0], kp.global[1], kp.global[2]);
    snprintf(local, sizeof local, "%zux%zux%zu", kp.local[0], kp.local[1], kp.local[2]);
    print_field(row->label, ",");
    print_field(kp.plan, ",");
    print_field(kp.kernel, ",");
    print_field(kp.source_file, ",");
    print_field(kp.options, ",");
    print_field(global, ",");
    print_field(local, "\n");
    if (emit == NULL)
        return 0;
    char options[CLCONVT_EXPERIMENTAL_OPTIONS_MAX + 1];
    snprintf(options, sizeof options, "%s\n", kp.options);
    return emit_file(emit, row->label, "cl", kp.source) == 0 &&
                   emit_file(emit, row->label, "options", options) == 0
               ? 0
               : -1;
}

static int print_plans(const plans_request *r) {
    if (clconvt_experimental_profile_check(r->profile) != CLCONVT_SUCCESS) {
        fprintf(stderr, PROGRAM ": --profile: %s\n", clconvt_last_error());
        return EXIT_USAGE;
    }
    clconvt_dtype dtype = CLCONVT_F32;
    if (r->dtype != NULL && clconvt_dtype_from_name(r->dtype, &dtype) != CLCONVT_SUCCESS) {
        fprintf(stderr, PROGRAM ": --dtype: %s\n", clconvt_last_error());
        return EXIT_USAGE;
    }
    if (r->emit != NULL && mkdir(r->emit, 0777) != 0 && errno != EEXIST) {
        fprintf(stderr, PROGRAM ": --emit %s: cannot make the directory: %s\n", r->emit,
                strerror(errno));
        return EXIT_FAILURE_RUN;
    }
    shapes_row *rows = NULL;
    size_t count = 0;
    if (shapes_read(PROGRAM, r->shapes, r->dtype ? (int)dtype : -1, &rows, &count) != 0)
        return EXIT_FAILURE_RUN;
    clconvt_device *device = NULL;
    if (strcmp(r->profile, "device") == 0 &&
        clconvt_device_open(CLCONVT_DEVICE_ANY, r->selector, &device) != CLCONVT_SUCCESS) {
        fprintf(stderr, PROGRAM ": no device: %s\n", clconvt_last_error());
        free(rows);
        return EXIT_FAILURE_RUN;
    }
    printf("name,plan,kernel,source,options,global,local\n");
    int failed = 0;
    /* Every row, even after one fails: under CLCONVT_PLAN, the rows the forced path refuses are
     * told on stderr and the others still planned (tests/gpu/ forces each path on every row). */
    for (size_t i = 0; i < count; ++i)
        failed |= plan_row(r->profile, device, &rows[i], r->emit) != 0;
    clconvt_device_release(device);
    free(rows);
    return failed ? EXIT_FAILURE_RUN : EXIT_OK;
}

/* "--name VALUE" or "--name=VALUE" at argv[*i], given at most once: 1 (*value set, *i past it),
 * 0 when argv[*i] is not that option. */
static int option_value(int argc, char **argv, int *i, const char *name, const char **value) {
    const size_t length = strlen(name);
    if (*value != NULL || strncmp(argv[*i], name, length) != 0)
        return 0;
    if (argv[*i][length] == '=') {
        *value = argv[*i] + length + 1;
        return 1;
    }
    if (argv[*i][length] != '\0' || *i + 1 >= argc)
        return 0;
    *value = argv[++*i];
    return 1;
}

int main(int argc, char **argv) {
    plans_request plans = {0};
    for (int i = 1; i < argc; ++i) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            fputs(help_text, stdout);
            return EXIT_OK;
        }
        if (strcmp(argv[i], "--version") == 0) {
            printf("%s %s\n", PROGRAM, CLCONVT_VERSION);
            return EXIT_OK;
        }
    }
    for (int i = 1; i < argc; ++i)
        if (!option_value(argc, argv, &i, "--device", &plans.selector) &&
            !option_value(argc, argv, &i, "--plans", &plans.shapes) &&
            !option_value(argc, argv, &i, "--profile", &plans.profile) &&
            !option_value(argc, argv, &i, "--dtype", &plans.dtype) &&
            !option_value(argc, argv, &i, "--emit", &plans.emit)) {
            fprintf(stderr, PROGRAM ": unexpected argument '%s' (see --help)\n", argv[i]);
            return EXIT_USAGE;
        }
    if (plans.profile != NULL && strcmp(plans.profile, "list") == 0 && plans.shapes == NULL)
        return list_profiles();
    if (plans.shapes == NULL && (plans.profile || plans.dtype || plans.emit)) {
        fprintf(stderr, PROGRAM ": --%s needs --plans SHAPES.csv (see --help)\n",
                plans.profile ? "profile"
                : plans.dtype ? "dtype"
                              : "emit");
        return EXIT_USAGE;
    }
    if (plans.shapes != NULL) {
        if (plans.profile == NULL)
            plans.profile = "device";
        return print_plans(&plans);
    }
    printf("clconvt %s\n\n", CLCONVT_VERSION);
    list_devices();
    return report_pick(plans.selector);
}
