#include "tmpdir.h"

#include <criterion/criterion.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void test_tmpdir_make(char *dir, size_t size, const char *tag) {
    const char *base = getenv("TMPDIR");
    snprintf(dir, size, "%s/clconvt-%s-XXXXXX", base && *base ? base : "/tmp", tag);
    cr_assert_not_null(mkdtemp(dir), "mkdtemp failed");
}

void test_tmpdir_remove(const char *dir) {
    DIR *d = opendir(dir);
    if (d == NULL)
        return;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        if (unlink(path) != 0)
            test_tmpdir_remove(path);
    }
    closedir(d);
    rmdir(dir);
}
