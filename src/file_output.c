/* Writing output files without damaging what their paths name (see file_output.h). */
#define _XOPEN_SOURCE 700 /* realpath */
#include "file_output.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "file_open.h"

/*
 * The mode a new file would get from open(path, O_CREAT, 0666): mkstemp makes 0600, which would
 * surprise users. The umask is read from /proc (umask(2) cannot read it without a write, racy in a
 * threaded process); where /proc is missing, the common 022 is assumed.
 */
static mode_t new_file_mode(void) {
    unsigned mask = 022;
    FILE *f = fopen("/proc/self/status", "r");
    if (f != NULL) {
        char line[256];
        while (fgets(line, sizeof line, f) != NULL) {
            if (sscanf(line, "Umask: %o", &mask) == 1)
                break;
        }
        fclose(f);
    }
    return (mode_t)(0666 & ~mask);
}

/* "DIR/.BASE.tmpXXXXXX" for path, malloc'd; NULL when out of memory. */
static char *temp_template(const char *path) {
    const char *slash = strrchr(path, '/');
    const size_t dir_len = slash ? (size_t)(slash - path) + 1 : 0;
    const char *base = path + dir_len;
    const size_t len = dir_len + 1 + strlen(base) + sizeof ".tmpXXXXXX";
    char *tmpl = malloc(len);
    if (tmpl != NULL)
        snprintf(tmpl, len, "%.*s.%s.tmpXXXXXX", (int)dir_len, path, base);
    return tmpl;
}

/* Makes the rename durable; failure only weakens crash safety, so it is not an error. */
static void sync_parent_dir(const char *path) {
    const char *slash = strrchr(path, '/');
    char dir[4096];
    if (slash == NULL)
        snprintf(dir, sizeof dir, ".");
    else if (slash == path)
        snprintf(dir, sizeof dir, "/");
    else if ((size_t)(slash - path) < sizeof dir)
        snprintf(dir, sizeof dir, "%.*s", (int)(slash - path), path);
    else
        return;
    const int fd = open(dir, O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        (void)fsync(fd);
        close(fd);
    }
}

/* A new file beside out->target, to be renamed over it on commit. */
static int begin_replace(clconvt_output *out, mode_t mode, char *why, size_t why_size) {
    if ((out->temp = temp_template(out->target)) == NULL) {
        snprintf(why, why_size, "out of host memory");
        return -1;
    }
    const int fd = mkstemp(out->temp);
    if (fd < 0) {
        snprintf(why, why_size, "cannot create a temporary file beside it: %s", strerror(errno));
        free(out->temp);
        out->temp = NULL; /* nothing to remove */
        return -1;
    }
    (void)fchmod(fd, mode); /* best effort: the contents matter more than the mode */
    if ((out->file = fdopen(fd, "wb")) == NULL) {
        snprintf(why, why_size, "cannot write a temporary file beside it: %s", strerror(errno));
        close(fd);
        return -1;
    }
    return 0;
}

/* A character device or a FIFO, opened for writing as it is: no O_CREAT, no O_TRUNC. */
static int begin_in_place(clconvt_output *out, mode_t kind, char *why, size_t why_size) {
    /* O_NONBLOCK: a FIFO without reader fails with ENXIO instead of waiting for one. */
    const int fd = open(out->target, O_WRONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
    if (fd < 0) {
        if (errno == ENXIO && S_ISFIFO(kind))
            snprintf(why, why_size,
                     "is a FIFO with no reader; start the program that reads it "
                     "first");
        else
            snprintf(why, why_size, "cannot open %s for writing: %s", clconvt_file_kind(kind),
                     strerror(errno));
        return -1;
    }
    struct stat st;
    int flags;
    if (fstat(fd, &st) != 0 || !(S_ISCHR(st.st_mode) || S_ISFIFO(st.st_mode))) {
        snprintf(why, why_size, "was replaced while being opened; not writing it in place");
        close(fd);
        return -1;
    }
    /* From here on, writes wait for a slow reader rather than fail with EAGAIN. */
    if ((flags = fcntl(fd, F_GETFL)) < 0 || fcntl(fd, F_SETFL, flags & ~O_NONBLOCK) != 0 ||
        (out->file = fdopen(fd, "wb")) == NULL) {
        snprintf(why, why_size, "cannot write %s: %s", clconvt_file_kind(kind), strerror(errno));
        close(fd);
        return -1;
    }
    return 0;
}

/* An existing regular file is replaced only if its owner could write it in place too. */
static int check_replaceable(const char *path, const struct stat *st, char *why, size_t why_size) {
    if ((st->st_mode & (S_IWUSR | S_IWGRP | S_IWOTH)) == 0) {
        snprintf(why, why_size,
                 "is read-only (mode %04o); make it writable (chmod u+w) or remove it first",
                 (unsigned)(st->st_mode & 07777));
        return -1;
    }
    if (faccessat(AT_FDCWD, path, W_OK, AT_EACCESS) != 0) {
        snprintf(why, why_size, "is not writable: %s", strerror(errno));
        return -1;
    }
    return 0;
}

/* Where path leads: *target (malloc'd) and its *st; *exists is 0 for a path that names nothing. */
static int resolve(const char *path, char **target, struct stat *st, int *exists, char *why,
                   size_t why_size) {
    *exists = lstat(path, st) == 0;
    if (!*exists && errno != ENOENT) {
        snprintf(why, why_size, "cannot examine it: %s", strerror(errno));
        return -1;
    }
    if (*exists && S_ISLNK(st->st_mode)) {
        if (stat(path, st) != 0) {
            if (errno == ENOENT)
                snprintf(why, why_size,
                         "is a dangling symbolic link; not writing through it "
                         "(create its target or remove the link)");
            else
                snprintf(why, why_size, "cannot follow the symbolic link: %s", strerror(errno));
            return -1;
        }
        /* A regular file is replaced beside its real name; anything else is opened through the
         * link (/dev/stdout leads to "pipe:[...]", which realpath cannot name). */
        if (S_ISREG(st->st_mode)) {
            if ((*target = realpath(path, NULL)) == NULL) {
                snprintf(why, why_size, "cannot resolve the symbolic link: %s", strerror(errno));
                return -1;
            }
            return 0;
        }
    }
    if ((*target = strdup(path)) == NULL) {
        snprintf(why, why_size, "out of host memory");
        return -1;
    }
    return 0;
}

int clconvt_output_begin(clconvt_output *out, const char *path, char *why, size_t why_size) {
    *out = (clconvt_output){0};
    struct stat st;
    int exists = 0, rc = -1;
    if (resolve(path, &out->target, &st, &exists, why, why_size) != 0)
        return -1;
    if (!exists)
        rc = begin_replace(out, new_file_mode(), why, why_size);
    else if (S_ISREG(st.st_mode))
        rc = check_replaceable(out->target, &st, why, why_size) != 0
                 ? -1
                 : begin_replace(out, st.st_mode & 07777, why, why_size);
    else if (S_ISCHR(st.st_mode) || S_ISFIFO(st.st_mode))
        rc = begin_in_place(out, st.st_mode, why, why_size);
    else
        snprintf(why, why_size,
                 "is %s; an output must be a regular file, a character device (such as "
                 "/dev/null) or a FIFO",
                 clconvt_file_kind(st.st_mode));
    if (rc != 0)
        clconvt_output_abort(out);
    return rc;
}

void clconvt_output_write(clconvt_output *out, const void *data, size_t size) {
    if (out->error == 0 && size > 0 && fwrite(data, 1, size, out->file) != size)
        out->error = errno != 0 ? errno : EIO;
}

int clconvt_output_commit(clconvt_output *out, char *why, size_t why_size) {
    int error = out->error;
    /* A device or FIFO has nothing to sync (fsync fails with EINVAL there). */
    if (error == 0 && (fflush(out->file) != 0 || (out->temp && fsync(fileno(out->file)) != 0)))
        error = errno;
    const int closed = fclose(out->file) == 0;
    out->file = NULL;
    if (error == 0 && !closed)
        error = errno;
    if (error != 0) {
        snprintf(why, why_size, "write failed: %s", strerror(error));
    } else if (out->temp != NULL && rename(out->temp, out->target) != 0) {
        error = errno;
        snprintf(why, why_size, "cannot rename the temporary file into place: %s", strerror(error));
    } else if (out->temp != NULL) {
        free(out->temp);
        out->temp = NULL; /* it is the target now */
        sync_parent_dir(out->target);
    }
    clconvt_output_abort(out);
    return error == 0 ? 0 : -1;
}

void clconvt_output_abort(clconvt_output *out) {
    if (out->file != NULL)
        fclose(out->file);
    if (out->temp != NULL)
        unlink(out->temp);
    free(out->temp);
    free(out->target);
    *out = (clconvt_output){0};
}
