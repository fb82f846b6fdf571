#!/usr/bin/env bash
# Set up a fresh Debian 12 machine (tools/install-deps.sh), build clconvt from scratch in build-test
# with warnings as errors, and run every test suite (on PoCL's CPU device when there is no GPU).
# The last line printed is meson's count: "N passed, N failed" (", N skipped" when any were).
# Exit status: 0 when everything built and passed; non-zero otherwise.
#
# Environment: CLCONVT_TEST_TIMEOUT_MULTIPLIER (default 1) scales every test's timeout;
# CLCONVT_DEVICE picks the OpenCL device the tests use (see README.md).
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

log="$build/meson-logs/testlog.json"
if [[ ! -f $log ]]; then
    echo "test.sh: meson test wrote no $log (exit status $test_rc)" >&2
    exit 1
fi

python=python3
if [[ -x /usr/bin/python3 ]]; then
    python=/usr/bin/python3 # the interpreter Debian's meson runs on
fi
summary_rc=0
summary=$("$python" - "$log" <<'PY'
import json
import sys

passed = failed = skipped = 0
with open(sys.argv[1], encoding="utf-8") as log:
    for line in log:
        if not line.strip():
            continue
        result = json.loads(line)["result"]
        if result in ("OK", "EXPECTEDFAIL"):
            passed += 1
        elif result == "SKIP":
            skipped += 1
        else:  # FAIL, TIMEOUT, ERROR, UNEXPECTEDPASS
            failed += 1
text = f"{passed} passed, {failed} failed"
if skipped:
    text += f", {skipped} skipped"
print(text)
sys.exit(1 if failed else 0)
PY
) || summary_rc=$?

if [[ -z $summary ]]; then
    echo "test.sh: could not read $log" >&2
    exit 1
fi
if ((test_rc != 0 && summary_rc == 0)); then
    echo "test.sh: meson test exited with status $test_rc" >&2
fi
echo "$summary"
if ((test_rc != 0 || summary_rc != 0)); then
    exit 1
fi
