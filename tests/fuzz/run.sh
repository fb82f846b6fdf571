#!/usr/bin/env bash
# Fuzz clconvt's targets for a bounded time each, and fail on any crash.
#
# Usage: tests/fuzz/run.sh [-t SECONDS] BUILD_DIR [TARGET ...]
#   BUILD_DIR  a build configured with CC=clang and -Dfuzz=true (tests/fuzz/README.md)
#   TARGET     npy, safetensors, cli, params, plan, tuning_db (default: all of them)
#   -t         seconds per target (default: $CLCONVT_FUZZ_SECONDS, else 20)
#
# Each target starts from a copy of its committed corpus (tests/fuzz/corpus/TARGET, never
# modified) with its dictionary (tests/fuzz/dict/TARGET.dict). A crash, a sanitizer report, a
# leak, a timeout or a broken property fails the run; the input that did it is kept under
# BUILD_DIR/fuzz-artifacts/TARGET/ and printed (base64), to be added to the corpus as
# regress-<what> once fixed. Prints one line per target: executions, corpus size, result.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
seconds=${CLCONVT_FUZZ_SECONDS:-20}
if [[ ${1:-} == -t ]]; then
    seconds=$2
    shift 2
fi
if (($# < 1)); then
    sed -n '2,14s/^# \{0,1\}//p' "${BASH_SOURCE[0]}" >&2
    exit 2
fi
build=$(cd "$1" && pwd)
shift
targets=("$@")
if ((${#targets[@]} == 0)); then
    targets=(npy safetensors cli params plan tuning_db)
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/clconvt-fuzz-run-XXXXXX")
trap 'rm -rf "$work"' EXIT

failed=0
for target in "${targets[@]}"; do
    binary="$build/tests/fuzz/fuzz_$target"
    seeds="$here/corpus/$target"
    if [[ ! -x $binary ]]; then
        echo "fuzz $target: no $binary (configure with CC=clang -Dfuzz=true)" >&2
        failed=1
        continue
    fi
    corpus="$work/$target"
    artifacts="$build/fuzz-artifacts/$target"
    mkdir -p "$corpus" "$artifacts"
    options=(-max_total_time="$seconds" -timeout=30 -rss_limit_mb=2560 -print_final_stats=1
        -error_exitcode=1 -timeout_exitcode=1
        -close_fd_mask=3 -artifact_prefix="$artifacts/")
    if [[ -f $here/dict/$target.dict ]]; then
        options+=(-dict="$here/dict/$target.dict")
    fi
    log="$work/$target.log"
    # The targets' own temporary files (fuzz_temp_dir) go under the scratch directory, which goes
    # whatever way libFuzzer ends (it does not always run atexit handlers).
    mkdir -p "$work/tmp"
    rc=0
    # New inputs go to the first directory (a scratch copy); the committed seeds are read only.
    # allocator_may_return_null: an absurd size requested by the code under test is its error to
    # report (out of memory), not a crash of the harness.
    TMPDIR="$work/tmp" ASAN_OPTIONS=${ASAN_OPTIONS:-allocator_may_return_null=1:detect_leaks=1} \
        UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1} \
        "$binary" "${options[@]}" "$corpus" "$seeds" >"$log" 2>&1 || rc=$?
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
    size=$(find "$corpus" -type f | wc -l)
    seed_count=$(find "$seeds" -type f | wc -l)
    if ((rc != 0)); then
        failed=1
        echo "fuzz $target: FAILED (exit status $rc) after ${runs:-?} executions; log:" >&2
        tail -n 60 "$log" >&2
        for crash in "$artifacts"/*; do
            [[ -f $crash ]] || continue
            echo "fuzz $target: input $crash (base64):" >&2
            base64 "$crash" | head -c 4000 >&2
            echo >&2
        done
    else
        echo "fuzz $target: ${runs:-?} executions in ${seconds}s, $seed_count seeds," \
            "$size new corpus inputs, no crash"
    fi
done
exit "$failed"
