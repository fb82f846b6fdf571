#!/usr/bin/env bash
# exe_wrapper of the meson test setups 'sanitize' and 'tsan' (tests/sanitizer/meson.build):
#   run-sanitized.sh address|thread COMMAND [ARGS...]
# Runs COMMAND with the sanitizer options and suppressions of this directory, with every report
# written to files instead of stderr. The test fails when any report was written, even when
# COMMAND exited 0: Criterion ignores how a test's worker process exits once the test has passed,
# so a leak found at the worker's exit, or a UBSan report that does not halt, would otherwise go
# unnoticed. Reports are printed to stderr, with the process that wrote them.
set -u

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
kind=$1
shift
logs=$(mktemp -d "${TMPDIR:-/tmp}/clconvt-sanitizer-XXXXXX")
trap 'rm -rf "$logs"' EXIT

append() { # VAR OPTIONS: append to the colon-separated VAR, keeping what the caller set
    local value=${!1:-}
    export "$1=${value:+$value:}$2"
}

# Options common to every sanitizer: reports to files, full stacks, symbols.
common="log_path=$logs/report:print_suppressions=0:symbolize=1"
case $kind in
address)
    # The fast unwinder (frame pointers) stops inside PoCL and LLVM, which have none, so leak
    # suppressions match on their library names (lsan.supp). fast_unwind_on_malloc=0 would give
    # full stacks but makes LLVM's kernel compiles some 10 times slower.
    append ASAN_OPTIONS "$common:detect_leaks=1:check_initialization_order=1"
    append ASAN_OPTIONS "detect_stack_use_after_return=1:strict_init_order=1"
    append LSAN_OPTIONS "$common:suppressions=$here/lsan.supp"
    append UBSAN_OPTIONS "$common:print_stacktrace=1:suppressions=$here/ubsan.supp"
    ;;
thread)
    append TSAN_OPTIONS "$common:suppressions=$here/tsan.supp:second_deadlock_stack=1"
    append TSAN_OPTIONS "history_size=4"
    ;;
*)
    echo "run-sanitized.sh: unknown sanitizer '$kind' (address or thread)" >&2
    exit 2
    ;;
esac

"$@"
rc=$?

# LeakSanitizer's own tracer (which stops every thread with ptrace to scan for leaks at exit)
# sometimes crashes while PoCL's worker threads shut down: "Tracer caught signal 11" and then
# "LeakSanitizer has encountered a fatal error", with no finding about our code. When every
# report is that, say so and run the command once more; a second such crash fails the test.
tracer_crash_only() {
    local report
    for report in "$logs"/report.*; do
        [[ -e $report ]] || return 1
        grep -q "Tracer caught signal" "$report" || return 1
        grep -q "LeakSanitizer has encountered a fatal error" "$report" || return 1
    done
}
if [[ $kind == address ]] && tracer_crash_only; then
    echo "run-sanitized.sh: LeakSanitizer's tracer crashed (not a finding); running again:" >&2
    cat "$logs"/report.* >&2
    rm -f "$logs"/report.*
    "$@"
    rc=$?
fi

reports=("$logs"/report.*)
if [[ -e ${reports[0]} ]]; then
    for report in "${reports[@]}"; do
        echo "==== sanitizer report from process ${report##*.} ($*):" >&2
        cat "$report" >&2
    done
    echo "run-sanitized.sh: ${#reports[@]} sanitizer report(s); the test fails" >&2
    if ((rc == 0)); then
        rc=1
    fi
fi
exit "$rc"
