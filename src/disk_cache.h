/*
 * On-disk cache of OpenCL program binaries, behind the in-memory program cache.
 *
 * An entry is one file, <directory>/<32 hex digits>, the hex being a 128-bit XXH3 hash of: our
 * format version, the kernel source text, the build options, the platform name and version, the
 * device name and version, and the driver version. It holds a small header and the program's
 * binary for its one device (clGetProgramInfo(CL_PROGRAM_BINARIES)).
 *
 * The cache is an optimisation only: every failure to read or write it is silent (no error message
 * is set) and makes the caller build from source. An entry that is truncated, corrupt, written by
 * another format version, filed under another key, or whose binary the OpenCL runtime refuses is
 * removed and reported as a miss, never trusted. Entries are written atomically (a temporary file
 * in the same directory, fsync, rename), so processes may share a directory: a reader sees a whole
 * entry or none.
 *
 * The directory: CLCONVT_CACHE_DIR when set and non-empty ("off" disables the cache), else
 * $XDG_CACHE_HOME/clconvt (an absolute XDG_CACHE_HOME only, as the XDG spec asks), else
 * $HOME/.cache/clconvt, else no cache. It is created with its parents (mode 0700) when the first
 * entry is written. Each store prunes it to CLCONVT_CACHE_MAX_BYTES, least recently used entries
 * first (disk_cache_prune.h); a hit marks its entry used.
 */
#ifndef CLCONVT_DISK_CACHE_H
#define CLCONVT_DISK_CACHE_H

#include <stdint.h>

#include "clconvt.h"
#include "disk_cache_prune.h" /* DISK_CACHE_KEY_SIZE */

/* ---- Entry file format (all integers little-endian) ---------------------------------------- *
 *   offset  size  field
 *        0     8  magic "CLCVTPB\n"
 *        8     4  format version (DISK_CACHE_FORMAT_VERSION)
 *       12     4  header size in bytes, H = DISK_CACHE_FIXED_HEADER + device name length + 8
 *       16    16  key: the XXH3 128-bit hash, canonical (big-endian) form; the file's name is its
 * hex 32     8  binary size in bytes, B 40     8  XXH3 64-bit hash of the binary 48     4  device
 * name length N (at most DISK_CACHE_MAX_NAME), for diagnostics only 52     N  device name (no NUL)
 *   52 + N     8  XXH3 64-bit hash of bytes [0, 52 + N) of the header
 *        H     B  the program binary; the file is exactly H + B bytes long
 */
#define DISK_CACHE_MAGIC "CLCVTPB\n"
#define DISK_CACHE_MAGIC_SIZE 8
#define DISK_CACHE_FORMAT_VERSION 1u
#define DISK_CACHE_OFFSET_VERSION 8
#define DISK_CACHE_OFFSET_HEADER_SIZE 12
#define DISK_CACHE_OFFSET_KEY 16
#define DISK_CACHE_OFFSET_BINARY_SIZE 32
#define DISK_CACHE_OFFSET_BINARY_HASH 40
#define DISK_CACHE_OFFSET_NAME_LENGTH 48
#define DISK_CACHE_FIXED_HEADER 52
#define DISK_CACHE_MAX_NAME 1024
/* Larger files are not entries we wrote (PoCL's own binaries are capped at 256 MiB). */
#define DISK_CACHE_MAX_BINARY ((uint64_t)1 << 30)

typedef struct disk_cache disk_cache;

/*
 * The disk cache for a device, or NULL when there is none: CLCONVT_CACHE_DIR is "off", no
 * directory can be named, the device's identity cannot be read, or memory ran out. Reads the
 * environment and the device's identity; touches no file.
 */
disk_cache *clconvt_disk_cache_open(cl_device_id device);
void clconvt_disk_cache_close(disk_cache *cache);

/*
 * Look up the program for (source, options): on a hit, create it from the stored binary, build it
 * with options and return 1 with *out set (the caller owns it). Return 0 on a miss, having removed
 * any entry that was invalid or that the runtime refused. Never sets an error message.
 */
int clconvt_disk_cache_load(disk_cache *cache, cl_context context, cl_device_id device,
                            const char *source, const char *options, cl_program *out);

/*
 * Whether a valid entry for (source, options) is on disk now (checked as clconvt_disk_cache_load
 * checks it, without the runtime). An invalid one is removed.
 */
int clconvt_disk_cache_contains(disk_cache *cache, const char *source, const char *options);

/*
 * Store program (built for device from source with options). Returns 0 when the entry was
 * written, -1 when it was not (the directory cannot be created or written, the runtime gives no
 * binary, ...). Never sets an error message.
 */
int clconvt_disk_cache_store(disk_cache *cache, cl_device_id device, const char *source,
                             const char *options, cl_program program);

#endif
