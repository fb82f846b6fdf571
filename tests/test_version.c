/*
 * The version and the build features a program reads at run time (include/clconvt.h, "Version"):
 * the header's macros agree with the Meson project and with the library the test runs on, and
 * clconvt_has_path names exactly the kernel paths of this build. A build without CLBlast
 * (-Dclblast=disabled) refuses the gemm path by name.
 */
#include <criterion/criterion.h>

#include <stdio.h>
#include <string.h>

#include "support.h"

#ifndef CLCONVT_TEST_PROJECT_VERSION
#error "tests/meson.build passes the project version as CLCONVT_TEST_PROJECT_VERSION"
#endif

/* The usable form of the check a program makes, resolved by the preprocessor. */
#if !CLCONVT_VERSION_AT_LEAST(0, 2, 0)
#error "CLCONVT_VERSION_AT_LEAST(0, 2, 0) must hold in version 0.2 or later"
#endif

Test(version, header_macros_are_the_project_version) {
    cr_expect_str_eq(CLCONVT_VERSION_STRING, CLCONVT_TEST_PROJECT_VERSION);
    char joined[64];
    snprintf(joined, sizeof joined, "%d.%d.%d", CLCONVT_VERSION_MAJOR, CLCONVT_VERSION_MINOR,
             CLCONVT_VERSION_PATCH);
    cr_expect_str_eq(joined, CLCONVT_VERSION_STRING);
}

Test(version, library_reports_the_header_version) {
    cr_assert_not_null(clconvt_version());
    cr_expect_str_eq(clconvt_version(), CLCONVT_VERSION_STRING);
    int major = -1, minor = -1, patch = -1;
    clconvt_version_numbers(&major, &minor, &patch);
    cr_expect_eq(major, CLCONVT_VERSION_MAJOR);
    cr_expect_eq(minor, CLCONVT_VERSION_MINOR);
    cr_expect_eq(patch, CLCONVT_VERSION_PATCH);
    /* Any pointer may be NULL. */
    minor = -1;
    clconvt_version_numbers(NULL, &minor, NULL);
    cr_expect_eq(minor, CLCONVT_VERSION_MINOR);
    clconvt_version_numbers(NULL, NULL, NULL);
}

Test(version, at_least_compares_major_then_minor_then_patch) {
    cr_expect(CLCONVT_VERSION_AT_LEAST(CLCONVT_VERSION_MAJOR, CLCONVT_VERSION_MINOR,
                                       CLCONVT_VERSION_PATCH));
    cr_expect(CLCONVT_VERSION_AT_LEAST(0, 1, 99));
    cr_expect(CLCONVT_VERSION_AT_LEAST(0, 0, 0));
    cr_expect(!CLCONVT_VERSION_AT_LEAST(CLCONVT_VERSION_MAJOR, CLCONVT_VERSION_MINOR,
                                        CLCONVT_VERSION_PATCH + 1));
    cr_expect(!CLCONVT_VERSION_AT_LEAST(CLCONVT_VERSION_MAJOR, CLCONVT_VERSION_MINOR + 1, 0));
    cr_expect(!CLCONVT_VERSION_AT_LEAST(CLCONVT_VERSION_MAJOR + 1, 0, 0));
}

Test(version, has_path_names_the_paths_of_this_build) {
    static const char *const always[] = {"phase", "phase_pos", "phase_chan", "phase_dw",
                                         "phase_fold"};
    for (size_t i = 0; i < sizeof always / sizeof always[0]; ++i)
        cr_expect_eq(clconvt_has_path(always[i]), 1, "%s", always[i]);
    cr_expect_eq(clconvt_has_path("gemm"), CLCONVT_HAVE_CLBLAST);
    /* A path name, exactly: no plan string, no other case, nothing unknown. */
    static const char *const not_paths[] = {"", "phase:vec=4", "Phase", "gemm ", "col2im", "none"};
    for (size_t i = 0; i < sizeof not_paths / sizeof not_paths[0]; ++i)
        cr_expect_eq(clconvt_has_path(not_paths[i]), 0, "\"%s\"", not_paths[i]);
    cr_expect_eq(clconvt_has_path(NULL), 0);
}

/* Without CLBlast the gemm path is refused by name, forced or from CLCONVT_PLAN; nothing else
 * changes. With CLBlast the grid, device and threads suites run it. */
Test(version, gemm_is_refused_without_clblast) {
    if (CLCONVT_HAVE_CLBLAST)
        cr_skip_test("this build has CLBlast: the gemm path is tested by the grid suite");
    clconvt_params p;
    clconvt_params_init(&p, 4, 4, 3);
    clconvt_layer *layer = (clconvt_layer *)&p; /* must stay untouched */
    cr_expect_eq(clconvt_layer_create_with_plan(support_device(), &p, "gemm", &layer),
                 CLCONVT_ERROR_UNSUPPORTED, "%s", clconvt_last_error());
    cr_expect(layer == (clconvt_layer *)&p);
    const char *message = clconvt_last_error();
    cr_expect(strstr(message, "gemm") != NULL && strstr(message, "CLBlast") != NULL, "%s", message);
    setenv("CLCONVT_PLAN", "gemm:lp=4,lc=2", 1);
    cr_expect_eq(clconvt_layer_create(support_device(), &p, &layer), CLCONVT_ERROR_UNSUPPORTED,
                 "%s", clconvt_last_error());
    unsetenv("CLCONVT_PLAN");
    cr_expect(layer == (clconvt_layer *)&p);
    /* The other paths are there. */
    cr_assert_eq(clconvt_layer_create_with_plan(support_device(), &p, "phase", &layer),
                 CLCONVT_SUCCESS, "%s", clconvt_last_error());
    clconvt_layer_release(layer);
}
