#include "tmpdir.h"

#include <criterion/criterion.h>
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *current_dir; /* test_tmpdir_make's, for test_tmp_path */

void test_tmpdir_make(char *dir, size_t size, const char *tag) {
    const char *base = getenv("TMPDIR");
    snprintf(dir, size, "%s/clconvt-%s-XXXXXX", base && *base ? base : "/tmp", tag);
    cr_assert_not_null(mkdtemp(dir), "mkdtemp failed");
    current_dir = dir;
}

void test_tmpdir_remove(const char *dir) {
    struct stat st;
    if (lstat(dir, &st) != 0)
        return;
    if (S_ISDIR(st.st_mode)) {
        chmod(dir, 0700); /* some tests make directories read-only */
        DIR *d = opendir(dir);
        struct dirent *e;
        while (d != NULL && (e = readdir(d)) != NULL) {
            if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
                continue;
            char child[4096];
            snprintf(child, sizeof child, "%s/%s", dir, e->d_name);
            test_tmpdir_remove(child);
        }
        if (d != NULL)
            closedir(d);
    }
    remove(dir);
}

const char *test_tmp_path(const char *name) {
    static struct {
        char name[64];
        char path[640];
    } table[64];
    static int used;
    cr_assert_not_null(current_dir, "test_tmp_path before test_tmpdir_make");
    for (int i = 0; i < used; ++i)
        if (strcmp(table[i].name, name) == 0)
            return table[i].path;
    cr_assert_lt(used, 64, "too many temporary paths");
    cr_assert_lt(strlen(name), sizeof table[0].name, "temporary file name too long: %s", name);
    snprintf(table[used].name, sizeof table[used].name, "%s", name);
    snprintf(table[used].path, sizeof table[used].path, "%s/%s", current_dir, name);
    return table[used++].path;
}

char *test_read_text(const char *path) {
    FILE *f = fopen(path, "rb");
    cr_assert_not_null(f, "cannot open %s", path);
    size_t used = 0, capacity = 4096;
    char *text = malloc(capacity);
    cr_assert_not_null(text);
    for (size_t n; (n = fread(text + used, 1, capacity - used - 1, f)) > 0;) {
        used += n;
        if (capacity - used - 1 == 0) {
            text = realloc(text, capacity *= 2);
            cr_assert_not_null(text);
        }
    }
    text[used] = '\0';
    fclose(f);
    return text;
}

void test_write_text(const char *path, const char *text) {
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f, "cannot write %s", path);
    fputs(text, f);
    cr_assert_eq(fclose(f), 0, "cannot write %s", path);
}

static int saved_stderr = -1;

void test_capture_stderr_begin(void) {
    fflush(stderr);
    saved_stderr = dup(2);
    const int fd = open(test_tmp_path("captured-stderr.txt"), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    cr_assert(saved_stderr >= 0 && fd >= 0, "cannot capture stderr");
    dup2(fd, 2);
    close(fd);
}

const char *test_capture_stderr_end(void) {
    static char text[8192];
    fflush(stderr);
    dup2(saved_stderr, 2);
    close(saved_stderr);
    FILE *f = fopen(test_tmp_path("captured-stderr.txt"), "r");
    cr_assert_not_null(f);
    const size_t n = fread(text, 1, sizeof text - 1, f);
    text[n] = '\0';
    fclose(f);
    return text;
}
