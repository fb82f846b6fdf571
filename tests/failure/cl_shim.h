/*
 * An OpenCL interposer for failure injection (cl_shim.c). Linked into a test executable (with
 * export_dynamic), its cl* definitions come first in the symbol lookup, so libclconvt's OpenCL
 * calls reach it; it forwards them to the real entry points (dlsym(RTLD_NEXT)), except the one
 * it is told to fail. It also counts every reference to every OpenCL object made while it runs
 * (creates, retains, events returned by enqueues; minus releases), so that a test can check that
 * nothing leaked and nothing was released twice.
 *
 * Every cl* call but the clRelease* ones is counted; call number n (from 1 after shim_reset) fails
 * when shim_fail_at(n) was set: functions returning cl_int return CL_OUT_OF_RESOURCES, functions
 * returning an object return NULL with *errcode_ret = CL_OUT_OF_RESOURCES. Releases are never
 * failed (a failed release would leak by design) and never counted.
 */
#ifndef CLCONVT_CL_SHIM_H
#define CLCONVT_CL_SHIM_H

#include <stddef.h>

/* Forget every count, reference and error; stop failing. */
void shim_reset(void);

/* Fail counted call number n (1-based, counted from the last reset); 0: fail nothing. */
void shim_fail_at(unsigned long n);

/* Counted calls since the last reset. */
unsigned long shim_calls(void);

/* The name of the call that was failed ("clCreateBuffer"), or NULL if none was yet. */
const char *shim_failed_call(void);

/* While paused (nestable), calls are neither counted nor failed (references are still tracked):
 * for the test's own OpenCL work. */
void shim_pause(void);
void shim_resume(void);

/*
 * 0 when every object referenced since the reset has no reference left and no release was wrong;
 * otherwise -1 with a description (each leaked object: its type, the call that made it and how
 * many references are left; each release of an unknown or dead object) in report[size].
 */
int shim_check_balance(char *report, size_t size);

/* Objects with references left now (the test's own included). */
size_t shim_live_objects(void);

/* The cl* names this shim defines, NULL-terminated (for the coverage check). */
extern const char *const shim_functions[];

#endif
