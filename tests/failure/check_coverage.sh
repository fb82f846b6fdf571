#!/usr/bin/env bash
# meson test 'failure_injection_coverage': every OpenCL function libclconvt imports must be one
# that cl_shim.c interposes (else test_failure_injection never fails it).
# Usage: check_coverage.sh LIBCLCONVT_SO TEST_FAILURE_INJECTION
set -euo pipefail
lib=$1
test_exe=$2
imported=$(nm -D --undefined-only "$lib" | awk '{print $NF}' | sed 's/@.*//' | grep '^cl[A-Z]' |
    sort -u)
shimmed=$("$test_exe" --list-shimmed | sort -u)
missing=$(comm -23 <(printf '%s\n' "$imported") <(printf '%s\n' "$shimmed"))
if [[ -n $missing ]]; then
    echo "libclconvt imports OpenCL functions that tests/failure/cl_shim.c does not interpose:" >&2
    printf '  %s\n' $missing >&2
    exit 1
fi
echo "all $(printf '%s\n' "$imported" | wc -l) OpenCL functions libclconvt imports are interposed"
