/* Size-limited pruning of the on-disk program cache (see disk_cache_prune.h). */
#include "disk_cache_prune.h"

#include <dirent.h>
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "env.h"
#include "error.h"

uint64_t clconvt_disk_cache_max_bytes(void) {
    static atomic_int warned;
    uint64_t value = DISK_CACHE_DEFAULT_MAX_BYTES;
    clconvt_env_bytes("CLCONVT_CACHE_MAX_BYTES", &warned, &value);
    return value;
}

/* An entry's name: exactly 2 * DISK_CACHE_KEY_SIZE lowercase hex digits. */
static int is_entry_name(const char *name) {
    size_t n = 0;
    for (; name[n] != '\0'; ++n)
        if (!((name[n] >= '0' && name[n] <= '9') || (name[n] >= 'a' && name[n] <= 'f')))
            return 0;
    return n == 2 * DISK_CACHE_KEY_SIZE;
}

/* A writer's temporary file: "." + entry name + ".tmp-" + mkstemp's six characters. */
static int is_temp_name(const char *name) {
    char hex[2 * DISK_CACHE_KEY_SIZE + 1];
    if (name[0] != '.' || strlen(name) != 1 + 2 * DISK_CACHE_KEY_SIZE + 5 + 6 ||
        strncmp(name + 1 + 2 * DISK_CACHE_KEY_SIZE, ".tmp-", 5) != 0)
        return 0;
    memcpy(hex, name + 1, 2 * DISK_CACHE_KEY_SIZE);
    hex[2 * DISK_CACHE_KEY_SIZE] = '\0';
    return is_entry_name(hex);
}

typedef struct entry {
    char name[2 * DISK_CACHE_KEY_SIZE + 1];
    uint64_t bytes;
    struct timespec used;
} entry;

static int least_recent_first(const void *a, const void *b) {
    const struct timespec *x = &((const entry *)a)->used, *y = &((const entry *)b)->used;
    if (x->tv_sec != y->tv_sec)
        return x->tv_sec < y->tv_sec ? -1 : 1;
    return (x->tv_nsec > y->tv_nsec) - (x->tv_nsec < y->tv_nsec);
}

void clconvt_disk_cache_prune(const char *directory, uint64_t max_bytes, const char *keep) {
    DIR *d = opendir(directory);
    if (d == NULL)
        return;
    entry *entries = NULL;
    size_t count = 0, capacity = 0;
    uint64_t total = 0;
    const time_t now = time(NULL);
    char path[4096];
    for (struct dirent *e; (e = readdir(d)) != NULL;) {
        const int temp = is_temp_name(e->d_name);
        if (!temp && !is_entry_name(e->d_name))
            continue;
        struct stat st;
        if (snprintf(path, sizeof path, "%s/%s", directory, e->d_name) >= (int)sizeof path ||
            lstat(path, &st) != 0 || !S_ISREG(st.st_mode))
            continue;
        if (temp) {
            if (now - st.st_mtim.tv_sec > DISK_CACHE_STALE_TEMP_SECONDS)
                unlink(path);
            continue;
        }
        total += (uint64_t)st.st_size;
        if (strcmp(e->d_name, keep) == 0)
            continue;
        if (count == capacity) {
            const size_t more = capacity ? 2 * capacity : 64;
            entry *grown = realloc(entries, more * sizeof *grown);
            if (grown == NULL)
                break; /* prune what was listed */
            entries = grown;
            capacity = more;
        }
        entry *x = &entries[count++];
        snprintf(x->name, sizeof x->name, "%s", e->d_name);
        x->bytes = (uint64_t)st.st_size;
        x->used = st.st_mtim;
    }
    closedir(d);
    if (total > max_bytes && count > 0) {
        qsort(entries, count, sizeof *entries, least_recent_first);
        for (size_t i = 0; i < count && total > max_bytes; ++i) {
            snprintf(path, sizeof path, "%s/%s", directory, entries[i].name);
            if (unlink(path) == 0 || errno == ENOENT)
                total -= entries[i].bytes;
        }
    }
    free(entries);
}
