/* What this build of the library is: its version, and which kernel paths it has. */
#ifndef CLCONVT_VERSION_H
#define CLCONVT_VERSION_H

#include "plan.h"

/* CLCONVT_HAVE_CLBLAST (1 or 0) comes from meson.build (option -Dclblast); a compile that misses it
 * must not guess. */
#ifndef CLCONVT_HAVE_CLBLAST
#error "CLCONVT_HAVE_CLBLAST is not defined: meson.build passes -DCLCONVT_HAVE_CLBLAST=0 or 1"
#endif

/* Whether the path is in this build: the gemm path needs CLBlast. */
int clconvt_path_built(plan_path path);

#endif
