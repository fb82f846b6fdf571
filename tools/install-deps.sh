#!/usr/bin/env bash
# Install what clconvt needs to build and test, on Debian 12 (bookworm).
# Extra package names given as arguments are installed too (tools/install-bench-deps.sh).
# Idempotent: checks each package with dpkg-query and touches apt only when something is missing.
# Runs as root, or through sudo otherwise. Needs no GPU: pocl-opencl-icd provides a CPU device.
set -euo pipefail
trap 'echo "install-deps: FAILED (exit status $?, line $LINENO)" >&2' ERR

packages=(
    gcc
    libc6-dev
    pkg-config
    meson
    ninja-build
    ocl-icd-opencl-dev
    opencl-headers
    pocl-opencl-icd
    clinfo
    libcriterion-dev
    libcjson-dev
    libxxhash-dev
    libclblast-dev # the gemm path (meson option -Dclblast; the default build uses it)
    cmake          # tests/install_test.sh: a CMake project uses clconvt's CMake package
    clang
    libclang-rt-14-dev
    oclgrind # tests/oclgrind_gemm.sh: the gemm path under the OpenCL simulator
    # tests/gpu/offline_compile.py: the kernels compiled offline for NVIDIA (PTX; ptxas comes
    # from the CUDA toolkit, not Debian: that half is skipped without it) and AMD GPUs
    clang-15
    llvm-15
    libclc-15
    "$@" # more packages a caller needs (tools/install-bench-deps.sh)
)

missing=()
for pkg in "${packages[@]}"; do
    status=$(dpkg-query -W -f='${db:Status-Abbrev}' "$pkg" 2>/dev/null || true)
    if [[ $status != ii* ]]; then
        missing+=("$pkg")
    fi
done

if ((${#missing[@]} == 0)); then
    echo "install-deps: all ${#packages[@]} packages present"
    exit 0
fi

echo "install-deps: installing ${missing[*]}"
if ((EUID == 0)); then
    sudo=()
elif command -v sudo >/dev/null 2>&1; then
    sudo=(sudo)
else
    echo "install-deps: not root and no sudo; install as root: ${missing[*]}" >&2
    exit 1
fi

"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq
"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive \
    apt-get install -y -qq --no-install-recommends "${missing[@]}"
echo "install-deps: done"
