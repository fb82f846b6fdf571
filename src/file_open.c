/* Opening files for reading without blocking on FIFOs and devices (see file_open.h). */
#include "file_open.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

const char *clconvt_file_kind(mode_t mode) {
    if (S_ISREG(mode))
        return "a regular file";
    if (S_ISDIR(mode))
        return "a directory";
    if (S_ISFIFO(mode))
        return "a FIFO";
    if (S_ISCHR(mode))
        return "a character device";
    if (S_ISBLK(mode))
        return "a block device";
    if (S_ISSOCK(mode))
        return "a socket";
    if (S_ISLNK(mode))
        return "a symbolic link";
    return "not a regular file";
}

int clconvt_open_regular(const char *path, struct stat *st, char *why, size_t why_size) {
    struct stat own;
    if (st == NULL)
        st = &own;
    /* O_NOCTTY: a terminal named as an input must not become the controlling terminal. */
    const int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
    if (fd < 0) {
        const int saved = errno;
        snprintf(why, why_size, "cannot open: %s", strerror(saved));
        errno = saved;
        return -1;
    }
    int flags;
    if (fstat(fd, st) != 0) {
        const int saved = errno;
        snprintf(why, why_size, "cannot examine it: %s", strerror(saved));
        close(fd);
        errno = saved;
        return -1;
    }
    if (!S_ISREG(st->st_mode)) {
        snprintf(why, why_size, "is %s, not a regular file", clconvt_file_kind(st->st_mode));
        close(fd);
        errno = EINVAL;
        return -1;
    }
    /* Reads of a regular file never wait anyway; cleared so that the descriptor is ordinary. */
    if ((flags = fcntl(fd, F_GETFL)) >= 0)
        (void)fcntl(fd, F_SETFL, flags & ~O_NONBLOCK);
    return fd;
}

FILE *clconvt_fopen_regular(const char *path, struct stat *st, char *why, size_t why_size) {
    const int fd = clconvt_open_regular(path, st, why, why_size);
    if (fd < 0)
        return NULL;
    FILE *f = fdopen(fd, "rb");
    if (f == NULL) {
        const int saved = errno;
        snprintf(why, why_size, "cannot open: %s", strerror(saved));
        close(fd);
        errno = saved;
    }
    return f;
}
