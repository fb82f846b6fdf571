#!/usr/bin/env bash
# meson test 'oclgrind': every kernel path's cases (oclgrind_cases.c) under Oclgrind's data-race
# checker. Fails when the driver fails (a library error or a result beyond the SPEC's bound) or
# when Oclgrind says anything: its reports (invalid reads and writes, data races, barrier
# divergence, ...) go to its log, and a clean run leaves the log empty. (--uninitialized is left
# off: that plugin crashes on Debian's LLVM.)
# Usage: oclgrind.sh OCLGRIND DRIVER [SUBSTRING]
set -uo pipefail
oclgrind=$1
driver=$2
shift 2
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
status=0
CLCONVT_CACHE_DIR=off CLCONVT_TUNING_DB=off CLCONVT_DEVICE= CLCONVT_PLAN= \
    "$oclgrind" --data-races --log "$dir/log" "$driver" "$@" >"$dir/out" 2>"$dir/err" || status=$?
cat "$dir/out"
failed=0
if [[ $status -ne 0 ]]; then
    echo "oclgrind_cases exited with $status" >&2
    failed=1
fi
if [[ -s $dir/log ]]; then
    echo "Oclgrind reported (first 60 lines of $(wc -l <"$dir/log")):" >&2
    head -n 60 "$dir/log" >&2
    failed=1
fi
# Oclgrind's compiler prints "N warning(s) generated." for an optimisation remark of a kernel
# (a "#pragma unroll" it could not honour, as for phase_fold's f16 stores of a 16 x 4 tile): a
# question of speed, not of correctness, and the remark itself goes to the build log. Any other
# line on stderr fails the test.
grep -Ev '^[0-9]+ warnings? generated\.$' "$dir/err" >"$dir/err.other" || true
if [[ -s $dir/err.other ]]; then
    echo "stderr of the run:" >&2
    head -n 60 "$dir/err.other" >&2
    failed=1
fi
if [[ $failed -eq 0 ]]; then
    echo "oclgrind --data-races: $(tail -n 1 "$dir/out"), no report"
fi
exit $failed
