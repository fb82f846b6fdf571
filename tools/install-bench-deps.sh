#!/usr/bin/env bash
# Optional, on Debian 12: what tools/compare_bench.py needs. The build dependencies (benchmarks
# need a build), python3-venv, and a virtual environment with current torch, numpy, onnx,
# onnxruntime and openvino from PyPI (not Debian's PyTorch 1.13 on OpenBLAS, which no one picks
# as a CPU runtime today). Never needed to build or test clconvt (tools/install-deps.sh is).
#
#   bash tools/install-bench-deps.sh [VENV]     (default VENV: .venv-bench at the repository
#                                                root, which git ignores; CLCONVT_BENCH_VENV too)
#   VENV/bin/python tools/compare_bench.py --rounds 3
#
# Idempotent: an existing environment is reused and pip only upgrades what is older.
set -euo pipefail
trap 'echo "install-bench-deps: FAILED (exit status $?, line $LINENO)" >&2' ERR

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="${1:-${CLCONVT_BENCH_VENV:-$root/.venv-bench}}"

bash "$root/tools/install-deps.sh" python3-venv python3-pip
if [ ! -x "$venv/bin/python" ]; then
    echo "install-bench-deps: creating the virtual environment $venv"
    python=/usr/bin/python3 # Debian's, which python3-venv completes (not a pyenv shim)
    [ -x "$python" ] || python=python3
    "$python" -m venv "$venv"
fi
"$venv/bin/python" -m pip install --upgrade pip
"$venv/bin/python" -m pip install --upgrade torch numpy onnx onnxruntime openvino
"$venv/bin/python" -c 'import torch, numpy, onnx, onnxruntime, openvino
print("install-bench-deps: torch", torch.__version__, "| numpy", numpy.__version__, "| onnx",
      onnx.__version__, "| onnxruntime", onnxruntime.__version__, "| openvino",
      openvino.__version__)'
echo "install-bench-deps: done; run $venv/bin/python tools/compare_bench.py"
