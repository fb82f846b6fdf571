/*
 * Shared pieces of the fuzz targets: a checked assertion that aborts (libFuzzer then saves the
 * input as a crash), and an in-memory file (a memfd) for readers that only take a path.
 *
 * Every target defines LLVMFuzzerTestOneInput (and may define LLVMFuzzerInitialize). Built with
 * -Dfuzz=true they are libFuzzer binaries; in every other build standalone.c supplies main(),
 * which runs each file of the committed corpus once, so the corpus (crash regressions included)
 * is a plain meson test with any compiler.
 */
#ifndef CLCONVT_FUZZ_SUPPORT_H
#define CLCONVT_FUZZ_SUPPORT_H

#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

/* Abort with a message when cond is false: a property of the code under test was broken. */
#define FUZZ_CHECK(cond, ...)                                                                      \
    do {                                                                                           \
        if (!(cond))                                                                               \
            fuzz_fail(__FILE__, __LINE__, #cond, __VA_ARGS__);                                     \
    } while (0)

_Noreturn void fuzz_fail(const char *file, int line, const char *cond, const char *format, ...)
    __attribute__((format(printf, 4, 5)));

/*
 * Put size bytes of data in this process's in-memory file (one memfd, rewritten on each call) and
 * return a path that opens it ("/proc/self/fd/N"). Aborts if the file cannot be written.
 */
const char *fuzz_memfile(const uint8_t *data, size_t size);

/* A fresh private directory under $TMPDIR (or /tmp), removed with its files at exit. */
const char *fuzz_temp_dir(void);

#endif
