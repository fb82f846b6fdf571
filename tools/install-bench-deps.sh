#!/usr/bin/env bash
# Optional, on Debian 12: PyTorch, NumPy and OpenBLAS for regenerating golden data and for the
# PyTorch side of benchmarks (with the build dependencies, which benchmarks need too). Never needed
# to build or test clconvt (tools/install-deps.sh is). Idempotent, like install-deps.sh.
set -euo pipefail
exec bash "$(dirname "${BASH_SOURCE[0]}")/install-deps.sh" python3-torch python3-numpy \
    libopenblas0-pthread
