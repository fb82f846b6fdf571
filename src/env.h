/* Byte counts read from environment variables, all validated the same way. */
#ifndef CLCONVT_ENV_H
#define CLCONVT_ENV_H

#include <stdatomic.h>
#include <stdint.h>

/*
 * Read the environment variable name as a whole number of bytes >= 1 (decimal digits only, no
 * sign or space, at most UINT64_MAX) into *value and return 1. Return 0 with *value unchanged (the
 * caller's default) when it is unset or empty, and also when it holds anything else: then the one
 * warning *warned allows names the variable, its value, the rule and the default that applies.
 */
int clconvt_env_bytes(const char *name, atomic_int *warned, uint64_t *value);

#endif
