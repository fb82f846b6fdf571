/* The library's version and build features: what a program asks at run time to learn which
 * library it runs on, as opposed to the header it was compiled with. */
#include <string.h>

#include "clconvt.h"
#include "paths/paths.h"

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

int clconvt_has_path(const char *name) {
    return name != NULL && clconvt_path_named(name, strlen(name)) != NULL;
}
