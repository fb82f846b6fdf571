#include "program_cache.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "disk_cache.h"
#include "error.h"

typedef struct program_entry {
    const char *source;
    char *options;
    cl_program program;
    int store_on_disk; /* built from source here, not yet written to the disk cache */
    struct program_entry *next;
} program_entry;

struct program_cache {
    cl_context context;
    cl_device_id device;
    pthread_mutex_t lock;
    program_entry *entries;
    uint64_t builds;
    disk_cache *disk; /* NULL: no disk cache */
    uint64_t disk_hits;
};

clconvt_status clconvt_program_cache_create(cl_context context, cl_device_id device,
                                            program_cache **out) {
    program_cache *cache = calloc(1, sizeof *cache);
    if (cache == NULL)
        return clconvt_fail(CLCONVT_ERROR_OUT_OF_HOST_MEMORY, "out of host memory for a cache");
    if (pthread_mutex_init(&cache->lock, NULL) != 0) {
        free(cache);
        return clconvt_fail(CLCONVT_ERROR_OUT_OF_HOST_MEMORY, "pthread_mutex_init failed");
    }
    cache->context = context;
    cache->device = device;
    cache->disk = clconvt_disk_cache_open(device); /* NULL when off or unusable: not an error */
    *out = cache;
    return CLCONVT_SUCCESS;
}

void clconvt_program_cache_destroy(program_cache *cache) {
    if (cache == NULL)
        return;
    clconvt_program_cache_store(cache);
    program_entry *entry = cache->entries;
    while (entry != NULL) {
        program_entry *next = entry->next;
        clReleaseProgram(entry->program);
        free(entry->options);
        free(entry);
        entry = next;
    }
    clconvt_disk_cache_close(cache->disk);
    pthread_mutex_destroy(&cache->lock);
    free(cache);
}

/* The build log, or a note saying why there is none; the caller frees it. */
static char *build_log(cl_program program, cl_device_id device) {
    size_t size = 0;
    if (clGetProgramBuildInfo(program, device, CL_PROGRAM_BUILD_LOG, 0, NULL, &size) !=
            CL_SUCCESS ||
        size == 0)
        return NULL;
    char *log = malloc(size + 1);
    if (log == NULL)
        return NULL;
    if (clGetProgramBuildInfo(program, device, CL_PROGRAM_BUILD_LOG, size, log, NULL) !=
        CL_SUCCESS) {
        free(log);
        return NULL;
    }
    log[size] = '\0';
    return log;
}

/* The program from the disk cache (*from_disk = 1), else built from source. Only a failure to
 * build from source is an error: the disk cache fails silently. */
static clconvt_status build(program_cache *cache, const char *source, const char *options,
                            cl_program *out, int *from_disk) {
    *from_disk =
        cache->disk != NULL &&
        clconvt_disk_cache_load(cache->disk, cache->context, cache->device, source, options, out);
    if (*from_disk)
        return CLCONVT_SUCCESS;
    cl_int err;
    cl_program program = clCreateProgramWithSource(cache->context, 1, &source, NULL, &err);
    if (err != CL_SUCCESS)
        return clconvt_fail_cl("clCreateProgramWithSource", err);
    err = clBuildProgram(program, 1, &cache->device, options, NULL, NULL);
    if (err != CL_SUCCESS) {
        char *log = build_log(program, cache->device);
        clconvt_status status = clconvt_fail(
            CLCONVT_ERROR_BUILD,
            "clBuildProgram failed with %s (%d) for options \"%s\"; build log:\n%s",
            clconvt_cl_error_name(err), (int)err, options, log ? log : "(no build log available)");
        free(log);
        clReleaseProgram(program);
        return status;
    }
    *out = program;
    return CLCONVT_SUCCESS;
}

clconvt_status clconvt_program_cache_get(program_cache *cache, const char *source,
                                         const char *options, cl_program *out) {
    clconvt_status status = CLCONVT_SUCCESS;
    program_entry *entry = NULL;
    pthread_mutex_lock(&cache->lock);
    for (entry = cache->entries; entry != NULL; entry = entry->next)
        if (entry->source == source && strcmp(entry->options, options) == 0) {
            *out = entry->program;
            goto cleanup;
        }
    entry = calloc(1, sizeof *entry);
    char *options_copy = strdup(options);
    if (entry == NULL || options_copy == NULL) {
        free(entry);
        free(options_copy);
        status = clconvt_fail(CLCONVT_ERROR_OUT_OF_HOST_MEMORY, "out of host memory for a program");
        goto cleanup;
    }
    int from_disk = 0;
    status = build(cache, source, options, &entry->program, &from_disk);
    if (status != CLCONVT_SUCCESS) {
        free(entry);
        free(options_copy);
        goto cleanup;
    }
    entry->source = source;
    entry->options = options_copy;
    entry->next = cache->entries;
    cache->entries = entry;
    if (from_disk)
        cache->disk_hits++;
    else
        cache->builds++;
    entry->store_on_disk = !from_disk && cache->disk != NULL;
    *out = entry->program;
cleanup:
    pthread_mutex_unlock(&cache->lock);
    return status;
}

uint64_t clconvt_program_cache_builds(program_cache *cache) {
    pthread_mutex_lock(&cache->lock);
    const uint64_t builds = cache->builds;
    pthread_mutex_unlock(&cache->lock);
    return builds;
}

uint64_t clconvt_program_cache_disk_hits(program_cache *cache) {
    pthread_mutex_lock(&cache->lock);
    const uint64_t hits = cache->disk_hits;
    pthread_mutex_unlock(&cache->lock);
    return hits;
}

void clconvt_program_cache_store(program_cache *cache) {
    pthread_mutex_lock(&cache->lock);
    for (program_entry *entry = cache->entries; entry != NULL; entry = entry->next) {
        if (!entry->store_on_disk)
            continue;
        entry->store_on_disk = 0; /* one attempt: a failed store is not retried */
        /* Another process may have stored it meanwhile; reading it back costs far less than the
         * binary query, which can compile (seconds on PoCL). */
        if (!clconvt_disk_cache_contains(cache->disk, entry->source, entry->options))
            clconvt_disk_cache_store(cache->disk, cache->device, entry->source, entry->options,
                                     entry->program);
    }
    pthread_mutex_unlock(&cache->lock);
}
