#!/usr/bin/env bash
# Reliability checks beyond the functional suites (tests/fuzz/README.md), each in its own build:
#   asan  build-rel-asan: the whole meson suite under AddressSanitizer, UBSan and LeakSanitizer
#         (meson test --setup sanitize; failure injection and the fuzz corpora included)
#   fuzz  build-rel-fuzz: clang, -Dfuzz=true: every fuzz target for FUZZ_SECONDS under libFuzzer,
#         ASan and UBSan, after replaying its committed corpus
#   tsan  build-rel-tsan: tests/sanitizer/threads_plain.c under ThreadSanitizer (meson test --setup
#         tsan threads_plain; Criterion cannot start under TSan, so tests/test_threads.c cannot)
#
# Usage: tests/reliability.sh [asan] [fuzz] [tsan]      (default: all three, in that order)
# Environment:
#   FUZZ_SECONDS                     seconds per fuzz target (default 20; 6 targets, 2 at a time)
#   CLCONVT_TEST_TIMEOUT_MULTIPLIER  scales test timeouts (as for tools/test.sh)
#   RELIABILITY_JOBS                 parallel tests (default 2)
# Installs clang and libFuzzer (clang, libclang-rt-14-dev) when missing, as tools/install-deps.sh
# does for the rest (run that first on a fresh machine). Builds from scratch.
#
# Prints one line per part, "reliability <part>: N passed, N failed", and exits non-zero if any
# part failed. Meant to run from tools/test.sh after its main meson test and before the summary
# line, so that test.sh's last line stays the main suite's count, and so that PoCL's kernel cache
# (~/.cache/pocl) is warm: kernels compile some 3 times slower in an ASan process (LLVM's
# allocations go through ASan's allocator). Times on 2 cores, builds included: warm cache, asan
# 100 s, fuzz 70 s, tsan 10 s; cold cache, asan 8.5 minutes (the grid suite's compiles).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
parts=("$@")
if ((${#parts[@]} == 0)); then
    parts=(asan fuzz tsan)
fi
jobs=${RELIABILITY_JOBS:-2}
multiplier=${CLCONVT_TEST_TIMEOUT_MULTIPLIER:-1}
python=python3
if [[ -x /usr/bin/python3 ]]; then
    python=/usr/bin/python3 # the interpreter Debian's meson runs on
fi

# The count of a meson test log (BUILD/meson-logs/testlog[-SETUP].json): "N passed, N failed"
# (", N skipped").
count() {
    "$python" tools/meson_count.py "$1" || true
}

need_clang() {
    local missing=()
    for pkg in clang libclang-rt-14-dev; do
        if [[ $(dpkg-query -W -f='${db:Status-Abbrev}' "$pkg" 2>/dev/null || true) != ii* ]]; then
            missing+=("$pkg")
        fi
    done
    if ((${#missing[@]} == 0)); then
        return
    fi
    echo "reliability: installing ${missing[*]}"
    local sudo=()
    if ((EUID != 0)); then
        sudo=(sudo)
    fi
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive \
        apt-get install -y -qq --no-install-recommends "${missing[@]}"
}

# setup BUILD_DIR [meson options...], then build; 1 on failure (with the log's name).
configure_and_build() {
    local build=$1
    shift
    local setup_log
    setup_log=$(mktemp "${TMPDIR:-/tmp}/clconvt-reliability-setup-XXXXXX")
    rm -rf "$build"
    if ! meson setup "$build" --buildtype=debugoptimized -Dwerror=true -Db_lundef=false "$@" \
        >"$setup_log" 2>&1; then
        cat "$setup_log" >&2
        rm -f "$setup_log"
        echo "reliability: meson setup $build failed" >&2
        return 1
    fi
    rm -f "$setup_log"
    if ! ninja -C "$build" >"$build/build.log" 2>&1; then
        tail -n 40 "$build/build.log" >&2
        echo "reliability: building $build failed (log: $build/build.log)" >&2
        return 1
    fi
}

failed=0
summary=()
for part in "${parts[@]}"; do
    start=$SECONDS
    rc=0
    log=testlog.json
    case $part in
    asan)
        build=build-rel-asan
        log=testlog-sanitize.json
        configure_and_build "$build" -Db_sanitize=address,undefined || rc=$?
        if ((rc == 0)); then
            meson test -C "$build" --setup sanitize --print-errorlogs --num-processes "$jobs" \
                --timeout-multiplier "$multiplier" || rc=$?
        fi
        ;;
    fuzz)
        need_clang
        build=build-rel-fuzz
        CC=clang configure_and_build "$build" -Dfuzz=true -Dtests=false \
            -Db_sanitize=address,undefined -Dfuzz_seconds="${FUZZ_SECONDS:-20}" || rc=$?
        if ((rc == 0)); then
            meson test -C "$build" --suite fuzz-corpus --suite fuzz --print-errorlogs \
                --num-processes "$jobs" --timeout-multiplier "$multiplier" || rc=$?
            grep -ho '"stdout": "fuzz [^"]*no crash' "$build/meson-logs/testlog.json" |
                sed 's/^"stdout": "/reliability /' || true
        fi
        ;;
    tsan)
        build=build-rel-tsan
        log=testlog-tsan.json
        configure_and_build "$build" -Db_sanitize=thread || rc=$?
        if ((rc == 0)); then
            meson test -C "$build" --setup tsan --print-errorlogs --num-processes "$jobs" \
                --timeout-multiplier "$multiplier" threads_plain || rc=$?
        fi
        ;;
    *)
        echo "reliability: unknown part '$part' (asan, fuzz or tsan)" >&2
        exit 2
        ;;
    esac
    if [[ -f $build/meson-logs/$log ]]; then
        result=$(count "$build/meson-logs/$log")
    else
        result="not run (setup or build failed)"
    fi
    line="reliability $part: $result ($((SECONDS - start)) s)"
    summary+=("$line")
    if ((rc != 0)); then
        failed=1
    fi
done
printf '%s\n' "${summary[@]}"
exit "$failed"
