/*
 * clconvt-info: the OpenCL platforms and devices this machine has, with the capabilities clconvt
 * uses, and the device clconvt_device_open would pick by default (and why).
 *
 * Enumeration uses plain OpenCL calls, so a device the library cannot open is still listed; the
 * pick is the library's own (clconvt_device_open), so it is exactly what every tool and program
 * gets, CLCONVT_DEVICE included.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clconvt.h"
#include "tool_util.h"

#ifndef CLCONVT_VERSION
#define CLCONVT_VERSION "unknown"
#endif

#define PROGRAM "clconvt-info"

enum { EXIT_OK = 0, EXIT_FAILURE_RUN = 1, EXIT_USAGE = 2 };

static const char help_text[] =
    "Usage: " PROGRAM " [--device SELECTOR]\n"
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
    "  --help              show this text and exit\n"
    "  --version           show the version and exit\n"
    "\n"
    "Default choice: a GPU if there is one, else a CPU. A non-empty CLCONVT_DEVICE\n"
    "environment variable (same forms as --device) overrides both.\n"
    "\n"
    "Exit status: 0 when a device could be opened, 1 when none could (or OpenCL failed),\n"
    "2 for a usage error.\n";

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

int main(int argc, char **argv) {
    const char *selector = NULL;
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
    for (int i = 1; i < argc; ++i) {
        if (strcmp(argv[i], "--device") == 0 && i + 1 < argc && selector == NULL) {
            selector = argv[++i];
        } else if (strncmp(argv[i], "--device=", 9) == 0 && selector == NULL) {
            selector = argv[i] + 9;
        } else {
            fprintf(stderr, PROGRAM ": unexpected argument '%s' (see --help)\n", argv[i]);
            return EXIT_USAGE;
        }
    }
    printf("clconvt %s\n\n", CLCONVT_VERSION);
    list_devices();
    return report_pick(selector);
}
