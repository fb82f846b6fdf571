#!/usr/bin/env bash
# meson test 'oclgrind_gemm': clconvt-run on the gemm path under Oclgrind exits cleanly and says
# nothing (issue 16: CLBlast's program cache outlived the device's context, and at exit Oclgrind
# aborted with "corrupted double-linked list").
# Usage: oclgrind_gemm.sh OCLGRIND CLCONVT_RUN GOLDEN_DIR
set -euo pipefail
oclgrind=$1
run=$2
case=$3/s1_g2_k2 # N 2, 4 -> 6 channels, groups 2, K 2 (tests/data/golden/cases.csv)
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
status=0
CLCONVT_PLAN=gemm CLCONVT_CACHE_DIR=off CLCONVT_TUNING_DB=off CLCONVT_DEVICE= \
    "$oclgrind" "$run" --input "$case/x.npy" --weight "$case/w.npy" --bias "$case/b.npy" \
    --layout ncl --weight-order pytorch --groups 2 --padding 0,1 --output "$out/y.npy" \
    >"$out/log" 2>&1 || status=$?
if [[ $status -ne 0 || -s $out/log ]]; then
    echo "clconvt-run under oclgrind exited with $status; its output:" >&2
    cat "$out/log" >&2
    exit 1
fi
[[ -s $out/y.npy ]] || { echo "clconvt-run wrote no output" >&2; exit 1; }
echo "clconvt-run (gemm) under oclgrind: exit 0, no report"
