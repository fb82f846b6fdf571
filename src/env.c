/* Byte counts read from environment variables (see env.h). */
#include "env.h"

#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "number.h"

int clconvt_env_bytes(const char *name, atomic_int *warned, uint64_t *value) {
    const char *text = getenv(name);
    if (text == NULL || *text == '\0')
        return 0;
    uint64_t parsed;
    /* Digits only: strtoull would take leading space and a sign (and negate "-1" into a huge
     * count). */
    if (clconvt_parse_decimal(text, strlen(text), UINT64_MAX, &parsed) && parsed >= 1) {
        *value = parsed;
        return 1;
    }
    clconvt_warn_once(warned,
                      "ignoring %s=%s: not a whole number of bytes from 1 to %llu; the default "
                      "applies (%llu bytes)",
                      name, text, (unsigned long long)UINT64_MAX, (unsigned long long)*value);
    return 0;
}
