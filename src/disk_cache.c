/* The on-disk program binary cache (see disk_cache.h for the format and the rules). */
#include "disk_cache.h"
#include "disk_cache_prune.h"
#include "error.h"
#include "file_open.h"

#include <errno.h>
#include <stdatomic.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <xxhash.h>

/* What a binary depends on besides its source and options, in the order they are hashed. */
enum { PLATFORM_NAME, PLATFORM_VERSION, DEVICE_NAME, DEVICE_VERSION, DRIVER_VERSION, IDENTITY };

struct disk_cache {
    char *directory;
    char *identity[IDENTITY];
    uint64_t max_bytes; /* the entries' total size that a store prunes down to */
};

/* "<32 hex digits>" plus the NUL. */
#define KEY_HEX_SIZE (2 * DISK_CACHE_KEY_SIZE + 1)

/* ---- Small helpers -------------------------------------------------------------------------- */

static void put_u32(unsigned char *p, uint32_t v) {
    for (int i = 0; i < 4; ++i)
        p[i] = (unsigned char)(v >> (8 * i));
}

static void put_u64(unsigned char *p, uint64_t v) {
    for (int i = 0; i < 8; ++i)
        p[i] = (unsigned char)(v >> (8 * i));
}

static uint32_t get_u32(const unsigned char *p) {
    uint32_t v = 0;
    for (int i = 3; i >= 0; --i)
        v = (v << 8) | p[i];
    return v;
}

static uint64_t get_u64(const unsigned char *p) {
    uint64_t v = 0;
    for (int i = 7; i >= 0; --i)
        v = (v << 8) | p[i];
    return v;
}

/* a followed by b, malloc'd; NULL when out of memory. */
static char *concat(const char *a, const char *b) {
    const size_t na = strlen(a), nb = strlen(b);
    char *s = malloc(na + nb + 1);
    if (s != NULL) {
        memcpy(s, a, na);
        memcpy(s + na, b, nb + 1);
    }
    return s;
}

static int write_all(int fd, const unsigned char *data, size_t size) {
    while (size > 0) {
        const ssize_t n = write(fd, data, size);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        data += n;
        size -= (size_t)n;
    }
    return 0;
}

static int read_all(int fd, unsigned char *data, size_t size) {
    while (size > 0) {
        const ssize_t n = read(fd, data, size);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1; /* an error, or the file shrank under us */
        data += n;
        size -= (size_t)n;
    }
    return 0;
}

/* ---- Opening: the directory and the device's identity ---------------------------------------- */

/* The cache directory the environment names (malloc'd), or NULL for none. */
static char *directory_from_environment(void) {
    const char *dir = getenv("CLCONVT_CACHE_DIR");
    if (dir != NULL && *dir != '\0')
        return strcmp(dir, "off") == 0 ? NULL : strdup(dir);
    const char *xdg = getenv("XDG_CACHE_HOME");
    if (xdg != NULL && xdg[0] == '/') /* the XDG spec: relative values are invalid, ignore them */
        return concat(xdg, "/clconvt");
    const char *home = getenv("HOME");
    if (home != NULL && home[0] != '\0')
        return concat(home, "/.cache/clconvt");
    return NULL;
}

/* A string property of device or, when device is NULL, of platform; malloc'd, NULL on failure. */
static char *info_string(cl_device_id device, cl_platform_id platform, cl_uint param) {
    size_t size = 0;
    cl_int err = device ? clGetDeviceInfo(device, param, 0, NULL, &size)
                        : clGetPlatformInfo(platform, param, 0, NULL, &size);
    char *value = err == CL_SUCCESS ? malloc(size + 1) : NULL;
    if (value == NULL)
        return NULL;
    err = device ? clGetDeviceInfo(device, param, size, value, NULL)
                 : clGetPlatformInfo(platform, param, size, value, NULL);
    if (err != CL_SUCCESS) {
        free(value);
        return NULL;
    }
    value[size] = '\0';
    return value;
}

void clconvt_disk_cache_close(disk_cache *cache) {
    if (cache == NULL)
        return;
    free(cache->directory);
    for (int i = 0; i < IDENTITY; ++i)
        free(cache->identity[i]);
    free(cache);
}

disk_cache *clconvt_disk_cache_open(cl_device_id device) {
    disk_cache *cache = calloc(1, sizeof *cache);
    cl_platform_id platform = NULL;
    int ok = 0;
    if (cache == NULL || (cache->directory = directory_from_environment()) == NULL)
        goto cleanup;
    cache->max_bytes = clconvt_disk_cache_max_bytes();
    if (clGetDeviceInfo(device, CL_DEVICE_PLATFORM, sizeof platform, &platform, NULL) != CL_SUCCESS)
        goto cleanup;
    cache->identity[PLATFORM_NAME] = info_string(NULL, platform, CL_PLATFORM_NAME);
    cache->identity[PLATFORM_VERSION] = info_string(NULL, platform, CL_PLATFORM_VERSION);
    cache->identity[DEVICE_NAME] = info_string(device, NULL, CL_DEVICE_NAME);
    cache->identity[DEVICE_VERSION] = info_string(device, NULL, CL_DEVICE_VERSION);
    cache->identity[DRIVER_VERSION] = info_string(device, NULL, CL_DRIVER_VERSION);
    ok = 1;
    for (int i = 0; i < IDENTITY; ++i)
        ok = ok && cache->identity[i] != NULL;
cleanup:
    if (!ok) {
        clconvt_disk_cache_close(cache);
        return NULL;
    }
    return cache;
}

/* ---- Keys and entry files ------------------------------------------------------------------- */

static XXH_errorcode hash_field(XXH3_state_t *state, const char *text) {
    unsigned char length[8];
    put_u64(length, strlen(text));
    XXH_errorcode rc = XXH3_128bits_update(state, length, sizeof length);
    return rc == XXH_OK ? XXH3_128bits_update(state, text, strlen(text)) : rc;
}

/* The key of (source, options) on this device; 0, or -1 when out of memory. */
static int make_key(const disk_cache *cache, const char *source, const char *options,
                    unsigned char key[DISK_CACHE_KEY_SIZE]) {
    XXH3_state_t *state = XXH3_createState();
    int rc = -1;
    unsigned char version[4];
    put_u32(version, DISK_CACHE_FORMAT_VERSION);
    if (state == NULL || XXH3_128bits_reset(state) != XXH_OK ||
        XXH3_128bits_update(state, version, sizeof version) != XXH_OK ||
        hash_field(state, source) != XXH_OK || hash_field(state, options) != XXH_OK)
        goto cleanup;
    for (int i = 0; i < IDENTITY; ++i)
        if (hash_field(state, cache->identity[i]) != XXH_OK)
            goto cleanup;
    XXH128_canonical_t canonical;
    XXH128_canonicalFromHash(&canonical, XXH3_128bits_digest(state));
    memcpy(key, canonical.digest, DISK_CACHE_KEY_SIZE);
    rc = 0;
cleanup:
    XXH3_freeState(state); /* NULL is fine */
    return rc;
}

static void key_hex(const unsigned char key[DISK_CACHE_KEY_SIZE], char hex[KEY_HEX_SIZE]) {
    static const char digits[] = "0123456789abcdef";
    for (int i = 0; i < DISK_CACHE_KEY_SIZE; ++i) {
        hex[2 * i] = digits[key[i] >> 4];
        hex[2 * i + 1] = digits[key[i] & 15];
    }
    hex[2 * DISK_CACHE_KEY_SIZE] = '\0';
}

/* "<directory>/<prefix><hex><suffix>", malloc'd; NULL when out of memory. */
static char *entry_path(const disk_cache *cache, const unsigned char key[DISK_CACHE_KEY_SIZE],
                        const char *prefix, const char *suffix) {
    char hex[KEY_HEX_SIZE];
    key_hex(key, hex);
    const size_t size =
        strlen(cache->directory) + strlen(prefix) + strlen(hex) + strlen(suffix) + 2;
    char *path = malloc(size);
    if (path != NULL)
        snprintf(path, size, "%s/%s%s%s", cache->directory, prefix, hex, suffix);
    return path;
}

/* Remove the entry at path if it is still the file we read (another process may have replaced
 * it with a good one since). */
static void remove_entry(const char *path, const struct stat *read) {
    struct stat now;
    if (stat(path, &now) == 0 && now.st_dev == read->st_dev && now.st_ino == read->st_ino)
        unlink(path);
}

/* Whether data[0, size) is a whole, intact entry for key; on success the binary is at
 * data[*header_size, size). */
static int entry_is_valid(const unsigned char *data, size_t size,
                          const unsigned char key[DISK_CACHE_KEY_SIZE], size_t *header_size) {
    if (size < DISK_CACHE_FIXED_HEADER + 8 ||
        memcmp(data, DISK_CACHE_MAGIC, DISK_CACHE_MAGIC_SIZE) != 0 ||
        get_u32(data + DISK_CACHE_OFFSET_VERSION) != DISK_CACHE_FORMAT_VERSION)
        return 0;
    const uint32_t name_length = get_u32(data + DISK_CACHE_OFFSET_NAME_LENGTH);
    const size_t header = DISK_CACHE_FIXED_HEADER + (size_t)name_length + 8;
    if (name_length > DISK_CACHE_MAX_NAME || header > size ||
        get_u32(data + DISK_CACHE_OFFSET_HEADER_SIZE) != header ||
        get_u64(data + header - 8) != XXH3_64bits(data, header - 8) ||
        memcmp(data + DISK_CACHE_OFFSET_KEY, key, DISK_CACHE_KEY_SIZE) != 0)
        return 0;
    const uint64_t binary_size = get_u64(data + DISK_CACHE_OFFSET_BINARY_SIZE);
    if (binary_size == 0 || binary_size != size - header ||
        get_u64(data + DISK_CACHE_OFFSET_BINARY_HASH) != XXH3_64bits(data + header, size - header))
        return 0;
    *header_size = header;
    return 1;
}

/*
 * Read and check the entry for key. Returns 1 with *data (malloc'd, the caller frees it), *size,
 * *header_size and *st (the file's identity) set; 0 when there is no readable entry; -1 when there
 * was an invalid one (removed).
 */
static int read_entry(const char *path, const unsigned char key[DISK_CACHE_KEY_SIZE],
                      unsigned char **data, size_t *size, size_t *header_size, struct stat *st) {
    const uint64_t largest =
        DISK_CACHE_FIXED_HEADER + DISK_CACHE_MAX_NAME + 8 + DISK_CACHE_MAX_BINARY;
    unsigned char *buffer = NULL;
    int result = 0;
    char why[256];
    /* Never a blocking open: a FIFO in place of the entry would hang layer creation. */
    const int fd = clconvt_open_regular(path, st, why, sizeof why);
    if (fd < 0)
        goto cleanup; /* missing, unreadable, or not a regular file: a miss, not ours to remove */
    result = -1;
    if (st->st_size <= 0 || (uint64_t)st->st_size > largest)
        goto cleanup;
    const size_t length = (size_t)st->st_size;
    if ((buffer = malloc(length)) == NULL) {
        result = 0; /* a valid entry, perhaps: leave it */
        goto cleanup;
    }
    if (read_all(fd, buffer, length) != 0 || !entry_is_valid(buffer, length, key, header_size))
        goto cleanup;
    *data = buffer;
    *size = length;
    buffer = NULL;
    result = 1;
cleanup:
    if (fd >= 0)
        close(fd);
    if (result < 0)
        remove_entry(path, st);
    free(buffer);
    return result;
}

/* ---- Loading -------------------------------------------------------------------------------- */

int clconvt_disk_cache_load(disk_cache *cache, cl_context context, cl_device_id device,
                            const char *source, const char *options, cl_program *out) {
    unsigned char key[DISK_CACHE_KEY_SIZE];
    unsigned char *data = NULL;
    size_t size = 0, header_size = 0;
    struct stat st;
    char *path = NULL;
    cl_program program = NULL;
    int hit = 0;
    if (make_key(cache, source, options, key) != 0 ||
        (path = entry_path(cache, key, "", "")) == NULL ||
        read_entry(path, key, &data, &size, &header_size, &st) != 1)
        goto cleanup;
    const unsigned char *binary = data + header_size;
    size_t binary_size = size - header_size;
    cl_int binary_status = CL_SUCCESS, err;
    program =
        clCreateProgramWithBinary(context, 1, &device, &binary_size, &binary, &binary_status, &err);
    if (err != CL_SUCCESS || binary_status != CL_SUCCESS ||
        clBuildProgram(program, 1, &device, options, NULL, NULL) != CL_SUCCESS) {
        remove_entry(path, &st); /* intact, but the runtime refuses it: never try it again */
        goto cleanup;
    }
    *out = program;
    program = NULL;
    hit = 1;
    utimensat(AT_FDCWD, path, NULL, 0); /* used now: pruning removes the least recent first */
cleanup:
    if (program != NULL)
        clReleaseProgram(program);
    free(data);
    free(path);
    return hit;
}

int clconvt_disk_cache_contains(disk_cache *cache, const char *source, const char *options) {
    unsigned char key[DISK_CACHE_KEY_SIZE];
    unsigned char *data = NULL;
    size_t size = 0, header_size = 0;
    struct stat st;
    char *path = NULL;
    int found = 0;
    if (make_key(cache, source, options, key) != 0 ||
        (path = entry_path(cache, key, "", "")) == NULL)
        goto cleanup;
    found = read_entry(path, key, &data, &size, &header_size, &st) == 1;
cleanup:
    free(data);
    free(path);
    return found;
}

/* ---- Storing -------------------------------------------------------------------------------- */

/* The program's binary for device, malloc'd into *binary; 0, or -1 when there is none. */
static int program_binary(cl_program program, cl_device_id device, unsigned char **binary,
                          size_t *size) {
    cl_uint count = 0;
    cl_device_id *devices = NULL;
    size_t *sizes = NULL;
    unsigned char **binaries = NULL;
    int rc = -1;
    if (clGetProgramInfo(program, CL_PROGRAM_NUM_DEVICES, sizeof count, &count, NULL) !=
            CL_SUCCESS ||
        count == 0)
        goto cleanup;
    devices = calloc(count, sizeof *devices);
    sizes = calloc(count, sizeof *sizes);
    binaries = calloc(count, sizeof *binaries);
    if (devices == NULL || sizes == NULL || binaries == NULL ||
        clGetProgramInfo(program, CL_PROGRAM_DEVICES, count * sizeof *devices, devices, NULL) !=
            CL_SUCCESS)
        goto cleanup;
    cl_uint index = 0;
    while (index < count && devices[index] != device)
        ++index;
    /* The runtime may compile here (PoCL builds every kernel for a generic work-group size). */
    if (index == count ||
        clGetProgramInfo(program, CL_PROGRAM_BINARY_SIZES, count * sizeof *sizes, sizes, NULL) !=
            CL_SUCCESS ||
        sizes[index] == 0 || sizes[index] > DISK_CACHE_MAX_BINARY)
        goto cleanup;
    /* Room for every device's binary: not every runtime skips NULL entries as OpenCL 1.2 says. */
    for (cl_uint i = 0; i < count; ++i)
        if ((binaries[i] = malloc(sizes[i] ? sizes[i] : 1)) == NULL)
            goto cleanup;
    if (clGetProgramInfo(program, CL_PROGRAM_BINARIES, count * sizeof *binaries, binaries, NULL) !=
        CL_SUCCESS)
        goto cleanup;
    *binary = binaries[index];
    *size = sizes[index];
    binaries[index] = NULL;
    rc = 0;
cleanup:
    for (cl_uint i = 0; binaries != NULL && i < count; ++i)
        free(binaries[i]);
    free(binaries);
    free(sizes);
    free(devices);
    return rc;
}

/* mkdir -p with mode 0700 for what it creates; 0 when directory is a directory afterwards, else
 * -1 with why saying what is wrong. */
static int make_directories(const char *directory, char *why, size_t why_size) {
    struct stat st;
    if (stat(directory, &st) == 0) {
        if (S_ISDIR(st.st_mode))
            return 0;
        snprintf(why, why_size, "it is %s, not a directory", clconvt_file_kind(st.st_mode));
        return -1;
    }
    char *path = strdup(directory);
    int rc = -1;
    snprintf(why, why_size, "%s", strerror(ENOMEM));
    if (path == NULL)
        goto cleanup;
    for (char *p = path + 1; *p != '\0'; ++p)
        if (*p == '/' && p[-1] != '/') {
            *p = '\0';
            const int made = mkdir(path, 0700) == 0 || errno == EEXIST;
            snprintf(why, why_size, "%s", strerror(errno));
            *p = '/';
            if (!made)
                goto cleanup;
        }
    if (mkdir(path, 0700) != 0 && errno != EEXIST) {
        snprintf(why, why_size, "%s", strerror(errno));
        goto cleanup;
    }
    if (stat(directory, &st) != 0)
        snprintf(why, why_size, "%s", strerror(errno));
    else if (!S_ISDIR(st.st_mode))
        snprintf(why, why_size, "it is %s, not a directory", clconvt_file_kind(st.st_mode));
    else
        rc = 0;
cleanup:
    free(path);
    return rc;
}

/* The one warning for a cache directory that cannot be used: which, why, and what to do. The
 * library goes on without the disk cache (builds are slower, results the same). */
static void warn_unusable_directory(const char *directory, const char *why) {
    static atomic_int warned;
    clconvt_warn_once(&warned,
                      "cannot use the program cache directory %s: %s; set CLCONVT_CACHE_DIR to a "
                      "writable directory, or to off to turn the disk cache off",
                      directory, why);
}

/* Make the rename durable; best effort. */
static void sync_directory(const char *directory) {
    const int fd = open(directory, O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        fsync(fd);
        close(fd);
    }
}

int clconvt_disk_cache_store(disk_cache *cache, cl_device_id device, const char *source,
                             const char *options, cl_program program) {
    unsigned char key[DISK_CACHE_KEY_SIZE];
    unsigned char header[DISK_CACHE_FIXED_HEADER + DISK_CACHE_MAX_NAME + 8];
    unsigned char *binary = NULL;
    size_t binary_size = 0;
    char *path = NULL, *temp = NULL;
    int fd = -1, temp_exists = 0, rc = -1;
    char why[256];
    if (make_key(cache, source, options, key) != 0 ||
        (path = entry_path(cache, key, "", "")) == NULL ||
        (temp = entry_path(cache, key, ".", ".tmp-XXXXXX")) == NULL)
        goto cleanup;
    if (make_directories(cache->directory, why, sizeof why) != 0) {
        warn_unusable_directory(cache->directory, why);
        goto cleanup;
    }
    /* A private temporary file (mode 0600) beside the entry; readers only open entry names. Made
     * before the binary is asked for, which can take seconds, so a read-only directory costs none.
     */
    if ((fd = mkstemp(temp)) < 0) {
        warn_unusable_directory(cache->directory, strerror(errno));
        goto cleanup;
    }
    temp_exists = 1;
    if (program_binary(program, device, &binary, &binary_size) != 0)
        goto cleanup;

    size_t name_length = strlen(cache->identity[DEVICE_NAME]);
    if (name_length > DISK_CACHE_MAX_NAME)
        name_length = DISK_CACHE_MAX_NAME;
    const size_t header_size = DISK_CACHE_FIXED_HEADER + name_length + 8;
    memcpy(header, DISK_CACHE_MAGIC, DISK_CACHE_MAGIC_SIZE);
    put_u32(header + DISK_CACHE_OFFSET_VERSION, DISK_CACHE_FORMAT_VERSION);
    put_u32(header + DISK_CACHE_OFFSET_HEADER_SIZE, (uint32_t)header_size);
    memcpy(header + DISK_CACHE_OFFSET_KEY, key, DISK_CACHE_KEY_SIZE);
    put_u64(header + DISK_CACHE_OFFSET_BINARY_SIZE, binary_size);
    put_u64(header + DISK_CACHE_OFFSET_BINARY_HASH, XXH3_64bits(binary, binary_size));
    put_u32(header + DISK_CACHE_OFFSET_NAME_LENGTH, (uint32_t)name_length);
    memcpy(header + DISK_CACHE_FIXED_HEADER, cache->identity[DEVICE_NAME], name_length);
    put_u64(header + header_size - 8, XXH3_64bits(header, header_size - 8));

    if (write_all(fd, header, header_size) != 0 || write_all(fd, binary, binary_size) != 0 ||
        fsync(fd) != 0)
        goto cleanup;
    const int closed = close(fd);
    fd = -1;
    if (closed != 0 || rename(temp, path) != 0)
        goto cleanup;
    temp_exists = 0;
    sync_directory(cache->directory);
    char hex[KEY_HEX_SIZE];
    key_hex(key, hex);
    clconvt_disk_cache_prune(cache->directory, cache->max_bytes, hex);
    rc = 0;
cleanup:
    if (fd >= 0)
        close(fd);
    if (temp_exists)
        unlink(temp);
    free(temp);
    free(path);
    free(binary);
    return rc;
}
