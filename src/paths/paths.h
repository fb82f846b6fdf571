/* The table of kernel paths (src/paths/path.h): the planner and the layer iterate it. */
#ifndef CLCONVT_PATHS_H
#define CLCONVT_PATHS_H

#include "path.h"

/* The gemm path needs CLBlast; a build without it (-Dclblast=disabled) leaves it out. An
 * undefined macro means a build with CLBlast. */
#ifndef CLCONVT_HAVE_CLBLAST
#define CLCONVT_HAVE_CLBLAST 1
#endif
#if CLCONVT_HAVE_CLBLAST
#define CLCONVT_GEMM_PATH(X) X(gemm)
#else
#define CLCONVT_GEMM_PATH(X)
#endif

/* Every path, one line each, in the order plan-string messages list them: NAME is the path of
 * src/paths/NAME.c, which defines clconvt_path_NAME. */
#define CLCONVT_PATHS(X)                                                                           \
    X(phase)                                                                                       \
    X(phase_pos)                                                                                   \
    X(phase_chan)                                                                                  \
    X(phase_dw)                                                                                    \
    CLCONVT_GEMM_PATH(X)                                                                           \
    X(phase_fold)

#define CLCONVT_DECLARE_PATH(name) extern const kernel_path clconvt_path_##name;
CLCONVT_PATHS(CLCONVT_DECLARE_PATH)
#undef CLCONVT_DECLARE_PATH

/* The paths of this build, and how many. */
extern const kernel_path *const clconvt_paths[];
extern const size_t clconvt_path_count;

/* The path named by the first length bytes of name, or NULL. */
const kernel_path *clconvt_path_named(const char *name, size_t length);

/* Why a known path is not in this build (a sentence), or NULL when name is no such path. */
const char *clconvt_path_absent(const char *name, size_t length);

#endif
