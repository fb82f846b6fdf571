/*
 * main() for the fuzz targets when libFuzzer is not used: runs LLVMFuzzerTestOneInput once on each
 * file named on the command line (a directory stands for the files in it), the way a libFuzzer
 * binary does when given files. A broken property aborts, so the meson test fails; the count of
 * inputs run goes to stdout.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fuzz_support.h"

/* A target without LLVMFuzzerInitialize leaves this weak definition in place. */
__attribute__((weak)) int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc;
    (void)argv;
    return 0;
}

static void run_file(const char *path, unsigned *count) {
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        fprintf(stderr, "%s: cannot open\n", path);
        exit(1);
    }
    size_t size = 0, capacity = 4096;
    uint8_t *data = malloc(capacity);
    for (size_t n; data != NULL && (n = fread(data + size, 1, capacity - size, f)) > 0;) {
        size += n;
        if (size == capacity) {
            uint8_t *bigger = realloc(data, capacity *= 2);
            if (bigger == NULL)
                free(data);
            data = bigger;
        }
    }
    fclose(f);
    if (data == NULL) {
        fprintf(stderr, "%s: out of memory\n", path);
        exit(1);
    }
    /* libFuzzer hands over exactly size bytes: a copy of that size lets ASan see overreads. */
    uint8_t *exact = malloc(size ? size : 1);
    if (exact == NULL)
        exit(1);
    memcpy(exact, data, size);
    free(data);
    LLVMFuzzerTestOneInput(exact, size);
    free(exact);
    ++*count;
}

static int compare_names(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The regular files in dir, in name order (so that runs are reproducible). */
static void run_directory(const char *dir_path, unsigned *count) {
    DIR *dir = opendir(dir_path);
    if (dir == NULL) {
        fprintf(stderr, "%s: cannot open directory\n", dir_path);
        exit(1);
    }
    char **names = NULL;
    size_t n = 0;
    for (struct dirent *e; (e = readdir(dir)) != NULL;) {
        if (e->d_name[0] == '.')
            continue;
        char **more = realloc(names, (n + 1) * sizeof *names);
        if (more == NULL || (more[n] = strdup(e->d_name)) == NULL)
            exit(1);
        names = more;
        ++n;
    }
    closedir(dir);
    if (n > 0)
        qsort(names, n, sizeof *names, compare_names);
    for (size_t i = 0; i < n; ++i) {
        char path[8192];
        snprintf(path, sizeof path, "%s/%s", dir_path, names[i]);
        struct stat st;
        if (stat(path, &st) == 0 && S_ISREG(st.st_mode))
            run_file(path, count);
        free(names[i]);
    }
    free(names);
}

int main(int argc, char **argv) {
    LLVMFuzzerInitialize(&argc, &argv);
    unsigned count = 0;
    for (int i = 1; i < argc; ++i) {
        struct stat st;
        if (stat(argv[i], &st) == 0 && S_ISDIR(st.st_mode))
            run_directory(argv[i], &count);
        else
            run_file(argv[i], &count);
    }
    printf("%s: %u inputs, no property broken\n", argv[0], count);
    return 0;
}
