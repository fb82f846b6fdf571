/* The library's version and build features: what a program asks at run time to learn which
 * library it runs on, as opposed to the header it was compiled with. */
#include "version.h"

#include <string.h>

const char *clconvt_version(void) {
    return CLCONVT_VERSION_STRING;
}

void clconvt_version_numbers(int *major, int *minor, int *patch) {
    if (major != NULL)
        *major = CLCONVT_VERSION_MAJOR;
    if (minor != NULL)
        *minor = CLCONVT_VERSION_MINOR;
    if (patch != NULL)
        *patch = CLCONVT_VERSION_PATCH;
}

int clconvt_path_built(plan_path path) {
    return path != PATH_GEMM || CLCONVT_HAVE_CLBLAST;
}

int clconvt_has_path(const char *name) {
    if (name == NULL)
        return 0;
    for (int i = 0; i < PATH_COUNT; ++i)
        if (strcmp(name, clconvt_plan_path_name((plan_path)i)) == 0)
            return clconvt_path_built((plan_path)i);
    return 0;
}
