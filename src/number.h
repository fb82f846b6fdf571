/* Strict reading of whole numbers from text (plan strings, selectors, environment variables). */
#ifndef CLCONVT_NUMBER_H
#define CLCONVT_NUMBER_H

#include <stddef.h>
#include <stdint.h>

/*
 * Read the decimal number text[0, length): one or more digits and nothing else (no sign, no
 * space, no base prefix), at most max. Returns 1 and sets *value, or 0 for anything else. Unlike
 * strtoul or sscanf("%u"), "-1" and "4294967312" are refused rather than wrapped.
 */
int clconvt_parse_decimal(const char *text, size_t length, uint64_t max, uint64_t *value);

#endif
