#!/usr/bin/env bash
# Set up a fresh Debian 12 machine (tools/install-deps.sh), build clconvt from scratch in build-test
# with warnings as errors, run every test suite (on PoCL's CPU device when there is no GPU), then
# the reliability checks (tests/reliability.sh). The last line printed is meson's count over all of
# them: "N passed, N failed" (", N skipped" when any were).
# Exit status: 0 when everything built and passed; non-zero otherwise.
#
# Environment: CLCONVT_TEST_TIMEOUT_MULTIPLIER (default 1) scales every test's timeout;
# CLCONVT_DEVICE picks the OpenCL device the tests use (see README.md); CLCONVT_RELIABILITY=0 skips
# the reliability checks.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
build="build-test"

bash tools/install-deps.sh

rm -rf "$build"
if ! meson setup "$build" -Dwerror=true --buildtype=debugoptimized; then
    echo "test.sh: meson setup failed (log: $build/meson-logs/meson-log.txt)" >&2
    exit 1
fi
if ! ninja -C "$build"; then
    echo "test.sh: the build failed (errors above)" >&2
    exit 1
fi

test_rc=0
meson test -C "$build" --print-errorlogs --num-processes 2 \
    --timeout-multiplier "${CLCONVT_TEST_TIMEOUT_MULTIPLIER:-1}" || test_rc=$?

# The reliability checks (tests/reliability.sh: the suite under ASan/UBSan/LSan, the fuzz targets,
# ThreadSanitizer), each in its own build; CLCONVT_RELIABILITY=0 skips them. Their counts join the
# main suite's in the last line.
logs=("$build/meson-logs/testlog.json")
reliability_rc=0
if [[ ${CLCONVT_RELIABILITY:-1} != 0 ]]; then
    bash tests/reliability.sh || reliability_rc=$?
    logs+=(build-rel-asan/meson-logs/testlog-sanitize.json build-rel-fuzz/meson-logs/testlog.json
        build-rel-tsan/meson-logs/testlog-tsan.json)
fi

python=python3
if [[ -x /usr/bin/python3 ]]; then
    python=/usr/bin/python3 # the interpreter Debian's meson runs on
fi
summary_rc=0
summary=$("$python" tools/meson_count.py "${logs[@]}") || summary_rc=$?
if ((test_rc != 0 && summary_rc == 0)); then
    echo "test.sh: meson test exited with status $test_rc" >&2
fi
if ((reliability_rc != 0 && summary_rc == 0)); then
    echo "test.sh: tests/reliability.sh exited with status $reliability_rc" >&2
fi
echo "$summary"
if ((test_rc != 0 || reliability_rc != 0 || summary_rc != 0)); then
    exit 1
fi
