#!/usr/bin/env bash
# Optional, on Debian 12: PyTorch, NumPy and OpenBLAS for regenerating golden data and for the
# PyTorch side of benchmarks. Never needed to build or test clconvt (tools/install-deps.sh is).
# Idempotent: installs only what dpkg-query reports missing; root, or sudo otherwise.
set -euo pipefail
trap 'echo "install-bench-deps: FAILED (exit status $?, line $LINENO)" >&2' ERR

packages=(python3-torch python3-numpy libopenblas0-pthread)

missing=()
for pkg in "${packages[@]}"; do
    status=$(dpkg-query -W -f='${db:Status-Abbrev}' "$pkg" 2>/dev/null || true)
    if [[ $status != ii* ]]; then
        missing+=("$pkg")
    fi
done

if ((${#missing[@]} == 0)); then
    echo "install-bench-deps: all ${#packages[@]} packages present"
    exit 0
fi

echo "install-bench-deps: installing ${missing[*]}"
if ((EUID == 0)); then
    sudo=()
elif command -v sudo >/dev/null 2>&1; then
    sudo=(sudo)
else
    echo "install-bench-deps: not root and no sudo; install as root: ${missing[*]}" >&2
    exit 1
fi

"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq
"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive \
    apt-get install -y -qq --no-install-recommends "${missing[@]}"
echo "install-bench-deps: done"
