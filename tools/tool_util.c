#include "tool_util.h"

#include <stdlib.h>
#include <time.h>

double tool_now_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int compare_double(const void *a, const void *b) {
    const double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

double tool_median(double *values, size_t n) {
    qsort(values, n, sizeof *values, compare_double);
    return n % 2 ? values[n / 2] : 0.5 * (values[n / 2 - 1] + values[n / 2]);
}

const char *tool_device_type_name(cl_device_type type) {
    if (type & CL_DEVICE_TYPE_GPU)
        return "GPU";
    if (type & CL_DEVICE_TYPE_CPU)
        return "CPU";
    if (type & CL_DEVICE_TYPE_ACCELERATOR)
        return "accelerator";
    return "other";
}

int tool_parse_integer(const char *text, int64_t min, int64_t max, int64_t *out) {
    const char *p = text;
    const int negative = *p == '-';
    p += negative;
    if (*p == '\0')
        return -1;
    int64_t value = 0;
    for (; *p != '\0'; ++p) {
        if (*p < '0' || *p > '9' || value > (INT64_MAX - (*p - '0')) / 10)
            return -1;
        value = value * 10 + (*p - '0');
    }
    if (negative)
        value = -value;
    if (value < min || value > max)
        return -1;
    *out = value;
    return 0;
}
