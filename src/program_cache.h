/*
 * In-memory cache of built OpenCL programs for one device, keyed by (source, build options), in
 * front of the on-disk binary cache (disk_cache.h): a miss here looks on disk before building from
 * source. Thread-safe: a mutex guards the table, and is held during a build so that two threads
 * wanting the same program build it once.
 */
#ifndef CLCONVT_PROGRAM_CACHE_H
#define CLCONVT_PROGRAM_CACHE_H

#include <stdint.h>

#include "clconvt.h"

typedef struct program_cache program_cache;

clconvt_status clconvt_program_cache_create(cl_context context, cl_device_id device,
                                            program_cache **out);
void clconvt_program_cache_destroy(program_cache *cache);

/*
 * The program for source (a NUL-terminated string with static storage: its address is part of the
 * key) built with options. The program stays owned by the cache until it is destroyed.
 */
clconvt_status clconvt_program_cache_get(program_cache *cache, const char *source,
                                         const char *options, cl_program *out);

/* How many programs this cache has built from source (found in neither cache) so far. */
uint64_t clconvt_program_cache_builds(program_cache *cache);

/* How many programs this cache has loaded from the disk cache so far. */
uint64_t clconvt_program_cache_disk_hits(program_cache *cache);

/*
 * Write the programs built from source and not yet written to the disk cache (if there is one).
 * clconvt_program_cache_destroy does it: a runtime such as PoCL compiles a kernel's machine code at
 * its first launch, and the binary holds that code only when queried after it, so storing right
 * after the build would leave the next process compiling at its first forward. It may take seconds
 * (the binary query itself can compile) and holds the cache's mutex; failures are silent. Call it
 * after the forwards that matter have run, never while one of this device's forwards is in flight.
 */
void clconvt_program_cache_store(program_cache *cache);

#endif
