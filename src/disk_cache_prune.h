/*
 * Keeping the on-disk program cache (disk_cache.h) within a size: least recently used entries go
 * first. An entry's modification time is its last use: clconvt_disk_cache_load touches it on a hit.
 */
#ifndef CLCONVT_DISK_CACHE_PRUNE_H
#define CLCONVT_DISK_CACHE_PRUNE_H

#include <stdint.h>

/* Bytes of an entry's key (disk_cache.h); the entry's file name is the key in hex. Here, below the
 * cache, so that pruning needs nothing of the cache itself. */
#define DISK_CACHE_KEY_SIZE 16

/* The size limit when CLCONVT_CACHE_MAX_BYTES is unset: some hundreds of PoCL programs. */
#define DISK_CACHE_DEFAULT_MAX_BYTES ((uint64_t)256 << 20)

/* Temporary files of writers older than this are taken for those of crashed processes. */
#define DISK_CACHE_STALE_TEMP_SECONDS 3600

/*
 * The limit the environment sets: CLCONVT_CACHE_MAX_BYTES, a whole number of bytes >= 1, else
 * DISK_CACHE_DEFAULT_MAX_BYTES (an unusable value is named in a warning on stderr, once per
 * process).
 */
uint64_t clconvt_disk_cache_max_bytes(void);

/*
 * Remove entries of directory (files named by 32 hex digits; nothing else there is touched) from
 * the least recently used until their sizes add up to at most max_bytes, never the entry named
 * keep (just written); and temporary files of writers older than DISK_CACHE_STALE_TEMP_SECONDS.
 * Best effort and silent: another process may be pruning or reading too (an entry already open
 * stays readable).
 */
void clconvt_disk_cache_prune(const char *directory, uint64_t max_bytes, const char *keep);

#endif
