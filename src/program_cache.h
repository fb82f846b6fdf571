/*
 * In-memory cache of built OpenCL programs for one device, keyed by (source, build options).
 * Thread-safe: a mutex guards the table, and is held during a build so that two threads wanting the
 * same program build it once.
 */
#ifndef CLCONVT_PROGRAM_CACHE_H
#define CLCONVT_PROGRAM_CACHE_H

#include <stdint.h>

#include "clconvt.h"

typedef struct program_cache program_cache;

clconvt_status program_cache_create(cl_context context, cl_device_id device, program_cache **out);
void program_cache_destroy(program_cache *cache);

/*
 * The program for source (a NUL-terminated string with static storage: its address is part of the
 * key) built with options. The program stays owned by the cache until it is destroyed.
 */
clconvt_status program_cache_get(program_cache *cache, const char *source, const char *options,
                                 cl_program *out);

/* How many programs this cache has built (not found) so far. */
uint64_t program_cache_builds(program_cache *cache);

#endif
