/* The table of kernel paths. */
#include "paths.h"

#include <string.h>

#define CLCONVT_PATH_ENTRY(name) &clconvt_path_##name,
const kernel_path *const clconvt_paths[] = {CLCONVT_PATHS(CLCONVT_PATH_ENTRY)};
#undef CLCONVT_PATH_ENTRY
const size_t clconvt_path_count = sizeof clconvt_paths / sizeof clconvt_paths[0];

/* Paths that a build may leave out, and why. */
static const struct {
    const char *name, *why;
    int present;
} OPTIONAL_PATHS[] = {
    {"gemm",
     "the gemm path is not in this build (clconvt was built without CLBlast, -Dclblast=disabled)",
     CLCONVT_HAVE_CLBLAST},
};

static int named(const char *candidate, const char *name, size_t length) {
    return strlen(candidate) == length && strncmp(candidate, name, length) == 0;
}

const kernel_path *clconvt_path_named(const char *name, size_t length) {
    for (size_t i = 0; i < clconvt_path_count; ++i)
        if (named(clconvt_paths[i]->name, name, length))
            return clconvt_paths[i];
    return NULL;
}

const char *clconvt_path_absent(const char *name, size_t length) {
    for (size_t i = 0; i < sizeof OPTIONAL_PATHS / sizeof OPTIONAL_PATHS[0]; ++i)
        if (!OPTIONAL_PATHS[i].present && named(OPTIONAL_PATHS[i].name, name, length))
            return OPTIONAL_PATHS[i].why;
    return NULL;
}
