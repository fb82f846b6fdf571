/* Built-in device profiles: the capabilities (device_caps.h) of device classes one may not have,
 * so that the planner makes, and the tools print, the plans a real device of the class would get
 * (clconvt-info --plans SHAPES.csv --profile NAME). */
#ifndef CLCONVT_DEVICE_PROFILES_H
#define CLCONVT_DEVICE_PROFILES_H

#include <stddef.h>

#include "device_caps.h"

typedef struct device_profile {
    const char *name;        /* "sm90" */
    const char *description; /* a short line for a listing */
    device_caps caps;
} device_profile;

/* The profiles, in the order listings give them. */
extern const device_profile clconvt_device_profiles[];
extern const size_t clconvt_device_profile_count;

/* The profile called name, or NULL. */
const device_profile *clconvt_device_profile_named(const char *name);

/* "sm90, gfx1030, ...": every profile's name, into text[size], for messages. */
void clconvt_device_profile_names(char *text, size_t size);

#endif
