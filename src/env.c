/* Byte counts read from environment variables (see env.h). */
#include "env.h"

#include <errno.h>
#include <stdlib.h>

#include "error.h"

int clconvt_env_bytes(const char *name, atomic_int *warned, uint64_t *value) {
    const char *text = getenv(name);
    if (text == NULL || *text == '\0')
        return 0;
    char *end = NULL;
    errno = 0;
    const unsigned long long parsed = strtoull(text, &end, 10);
    /* strtoull also takes leading space and a sign (and negates "-1" into a huge count). */
    if (text[0] >= '0' && text[0] <= '9' && errno == 0 && *end == '\0' && parsed >= 1) {
        *value = (uint64_t)parsed;
        return 1;
    }
    clconvt_warn_once(warned,
                      "ignoring %s=%s: not a whole number of bytes from 1 to %llu; the default "
                      "applies (%llu bytes)",
                      name, text, (unsigned long long)UINT64_MAX, (unsigned long long)*value);
    return 0;
}
