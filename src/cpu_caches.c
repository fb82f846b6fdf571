/* One CPU core's data caches from sysfs (see cpu_caches.h). */
#include "cpu_caches.h"

#include <stdio.h>
#include <string.h>

#include "file_open.h"
#include "number.h"

/* The largest cache index looked at (x86 cores describe 4: L1d, L1i, L2, L3). */
#define CACHE_INDEX_MAX 16
#define CACHE_VALUE_MAX ((uint64_t)1 << 30) /* in the unit of its suffix */

/* The first line of root/index<i>/<name>, without its newline, into text[size]; 0 on failure. */
static int read_line(const char *root, int index, const char *name, char *text, size_t size) {
    char path[4096], why[256];
    if (snprintf(path, sizeof path, "%s/index%d/%s", root, index, name) >= (int)sizeof path)
        return 0;
    FILE *f = clconvt_fopen_regular(path, NULL, why, sizeof why);
    if (f == NULL)
        return 0;
    const int ok = fgets(text, (int)size, f) != NULL;
    fclose(f);
    if (ok)
        text[strcspn(text, "\n")] = '\0';
    return ok;
}

/* "48K", "1024K", "2M" or "512" in bytes; 0 when malformed. */
static uint64_t cache_bytes(const char *text) {
    const size_t digits = strspn(text, "0123456789");
    const char *unit = text + digits;
    const uint64_t scale = strcmp(unit, "K") == 0   ? (uint64_t)1 << 10
                           : strcmp(unit, "M") == 0 ? (uint64_t)1 << 20
                           : *unit == '\0'          ? 1
                                                    : 0;
    uint64_t value;
    if (scale == 0 || !clconvt_parse_decimal(text, digits, CACHE_VALUE_MAX, &value))
        return 0;
    return value * scale;
}

void clconvt_cpu_caches_read(const char *root, uint64_t *l1_data, uint64_t *l2) {
    *l1_data = *l2 = 0;
    for (int i = 0; i < CACHE_INDEX_MAX; ++i) {
        char level[16], type[32], size[32];
        if (!read_line(root, i, "level", level, sizeof level) ||
            !read_line(root, i, "type", type, sizeof type) ||
            !read_line(root, i, "size", size, sizeof size))
            continue;
        if (strcmp(level, "1") == 0 && strcmp(type, "Data") == 0)
            *l1_data = cache_bytes(size);
        else if (strcmp(level, "2") == 0 && strcmp(type, "Instruction") != 0)
            *l2 = cache_bytes(size);
    }
}
