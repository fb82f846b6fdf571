#include "run_tool.h"

#include <criterion/criterion.h>
#include <fcntl.h>
#include <spawn.h>
#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>

extern char **environ;

/* Wait for pid; after seconds (if > 0) kill it and fail the test. Returns the wait status. */
static int wait_within(pid_t pid, const char *exe, int seconds) {
    int status = 0;
    if (seconds <= 0) {
        cr_assert_eq(waitpid(pid, &status, 0), pid, "waitpid for %s failed", exe);
        return status;
    }
    const struct timespec pause = {0, 20 * 1000 * 1000};
    for (long waited = 0;; waited += 20) {
        const pid_t done = waitpid(pid, &status, WNOHANG);
        cr_assert_geq(done, 0, "waitpid for %s failed", exe);
        if (done == pid)
            return status;
        if (waited >= 1000L * seconds) {
            kill(pid, SIGKILL);
            waitpid(pid, &status, 0);
            cr_assert_fail("%s still ran after %d s: it hung, and was killed", exe, seconds);
        }
        nanosleep(&pause, NULL);
    }
}

int test_run_tool(const char *exe, const char *const *args, const char *out_path,
                  const char *err_path) {
    return test_run_tool_within(exe, args, out_path, err_path, 0);
}

int test_run_tool_within(const char *exe, const char *const *args, const char *out_path,
                         const char *err_path, int seconds) {
    const char *argv[64] = {exe};
    int argc = 1;
    for (const char *const *a = args; *a != NULL; ++a) {
        cr_assert_lt(argc, 63, "too many arguments for %s", exe);
        argv[argc++] = *a;
    }
    argv[argc] = NULL;
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 1, out_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    posix_spawn_file_actions_addopen(&actions, 2, err_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    pid_t pid;
    const int err = posix_spawn(&pid, exe, &actions, NULL, (char *const *)argv, environ);
    posix_spawn_file_actions_destroy(&actions);
    cr_assert_eq(err, 0, "cannot spawn %s: %s", exe, strerror(err));
    const int status = wait_within(pid, exe, seconds);
    return WIFSIGNALED(status) ? 128 + WTERMSIG(status) : WEXITSTATUS(status);
}
