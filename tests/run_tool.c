#include "run_tool.h"

#include <criterion/criterion.h>
#include <fcntl.h>
#include <spawn.h>
#include <string.h>
#include <sys/wait.h>

extern char **environ;

int test_run_tool(const char *exe, const char *const *args, const char *out_path,
                  const char *err_path) {
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
    int status = 0;
    cr_assert_eq(waitpid(pid, &status, 0), pid, "waitpid for %s failed", exe);
    return WIFSIGNALED(status) ? 128 + WTERMSIG(status) : WEXITSTATUS(status);
}
