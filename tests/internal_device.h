/* The device of the suites that link the static library (tuning_db, tune, paths): they cannot use
 * support.h, which links the shared one. */
#ifndef CLCONVT_TEST_INTERNAL_DEVICE_H
#define CLCONVT_TEST_INTERNAL_DEVICE_H

#include "clconvt.h"

/* The default device, opened on first use (a failed open fails the test). */
clconvt_device *test_device(void);

#endif
