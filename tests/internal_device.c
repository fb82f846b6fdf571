#include "internal_device.h"

#include <criterion/criterion.h>

clconvt_device *test_device(void) {
    static clconvt_device *device;
    if (device == NULL)
        cr_assert_eq(clconvt_device_open(CLCONVT_DEVICE_ANY, NULL, &device), CLCONVT_SUCCESS,
                     "clconvt_device_open: %s", clconvt_last_error());
    return device;
}
