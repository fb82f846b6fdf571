#include "number.h"

int clconvt_parse_decimal(const char *text, size_t length, uint64_t max, uint64_t *value) {
    if (length == 0)
        return 0;
    uint64_t v = 0;
    for (size_t i = 0; i < length; ++i) {
        const unsigned digit = (unsigned)(unsigned char)text[i] - '0';
        if (digit > 9 || digit > max || v > (max - digit) / 10)
            return 0;
        v = v * 10 + digit;
    }
    *value = v;
    return 1;
}
