/* See fuzz_support.h. */
#define _GNU_SOURCE /* memfd_create */

#include "fuzz_support.h"

#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

/*
 * libFuzzer's -close_fd_mask=2 closes stderr (the targets' own messages would flood the log) after
 * LLVMFuzzerInitialize; a copy taken before that still reaches the terminal.
 */
static int report_fd = 2;

__attribute__((constructor)) static void keep_stderr(void) {
    const int fd = dup(2);
    if (fd >= 0)
        report_fd = fd;
}

void fuzz_fail(const char *file, int line, const char *cond, const char *format, ...) {
    char message[2048];
    va_list args;
    va_start(args, format);
    vsnprintf(message, sizeof message, format, args);
    va_end(args);
    dprintf(report_fd, "%s:%d: fuzz check failed: %s\n  %s\n", file, line, cond, message);
    abort();
}

const char *fuzz_memfile(const uint8_t *data, size_t size) {
    static int fd = -1;
    static char path[64];
    if (fd < 0) {
        fd = memfd_create("clconvt-fuzz", MFD_CLOEXEC);
        if (fd < 0)
            fuzz_fail(__FILE__, __LINE__, "memfd_create", "%s", strerror(errno));
        snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    }
    if (ftruncate(fd, 0) != 0)
        fuzz_fail(__FILE__, __LINE__, "ftruncate", "%s", strerror(errno));
    for (size_t done = 0; done < size;) {
        const ssize_t n = pwrite(fd, data + done, size - done, (off_t)done);
        if (n <= 0)
            fuzz_fail(__FILE__, __LINE__, "pwrite", "%s", strerror(errno));
        done += (size_t)n;
    }
    return path;
}

static char temp_dir[4096];

static void remove_temp_dir(void) {
    DIR *dir = opendir(temp_dir);
    if (dir != NULL) {
        struct dirent *entry;
        char path[8192];
        while ((entry = readdir(dir)) != NULL) {
            if (strcmp(entry->d_name, ".") == 0 || strcmp(entry->d_name, "..") == 0)
                continue;
            snprintf(path, sizeof path, "%s/%s", temp_dir, entry->d_name);
            unlink(path);
        }
        closedir(dir);
    }
    rmdir(temp_dir);
}

const char *fuzz_temp_dir(void) {
    if (temp_dir[0] != '\0')
        return temp_dir;
    const char *base = getenv("TMPDIR");
    snprintf(temp_dir, sizeof temp_dir, "%s/clconvt-fuzz-XXXXXX", base && *base ? base : "/tmp");
    if (mkdtemp(temp_dir) == NULL)
        fuzz_fail(__FILE__, __LINE__, "mkdtemp", "%s: %s", temp_dir, strerror(errno));
    atexit(remove_temp_dir);
    return temp_dir;
}
