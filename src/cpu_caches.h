/* The data caches of one CPU core, as Linux describes them: OpenCL reports only one cache size
 * (CL_DEVICE_GLOBAL_MEM_CACHE_SIZE, PoCL's last level, shared by all cores), not the per-core
 * caches a cache block must fit. */
#ifndef CLCONVT_CPU_CACHES_H
#define CLCONVT_CPU_CACHES_H

#include <stdint.h>

/* The default root: cpu0's caches. */
#define CLCONVT_CPU_CACHE_ROOT "/sys/devices/system/cpu/cpu0/cache"

/* The sizes in bytes of the level-1 data cache and of the level-2 cache under root (directories
 * index0, index1, ... with files level, type and size, "48K"); 0 for one that is not described
 * (no such directory, an unreadable or malformed file). Never fails. */
void clconvt_cpu_caches_read(const char *root, uint64_t *l1_data, uint64_t *l2);

#endif
