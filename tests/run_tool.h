/* Running the command-line tools from a suite. */
#ifndef CLCONVT_TEST_RUN_TOOL_H
#define CLCONVT_TEST_RUN_TOOL_H

/*
 * Run exe with args (NULL-terminated, without the program name) in this environment, its stdout
 * into out_path and its stderr into err_path (both replaced), and wait for it. Returns its exit
 * status, or 128 + the signal that ended it; fails the test when it cannot be started.
 */
int test_run_tool(const char *exe, const char *const *args, const char *out_path,
                  const char *err_path);

/* As test_run_tool, but a tool still running after seconds is killed and the test fails ("hung"):
 * for cases where a regression would block for ever (a FIFO opened for reading, say). A guard
 * against hangs, not a timing check: give it ample time. */
int test_run_tool_within(const char *exe, const char *const *args, const char *out_path,
                         const char *err_path, int seconds);

#endif
