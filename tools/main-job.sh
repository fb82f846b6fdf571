#!/usr/bin/env bash
# Set up a fresh Debian 12 machine (tools/install-deps.sh), build clconvt in release mode in
# build-release, and run the main job: clconvt-demo, HiFi-GAN V1's first upsampling layer on the
# default OpenCL device (a GPU if there is one, else PoCL's CPU device), timed and checked against
# a float64 reference. Arguments are passed to clconvt-demo (try --help).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
build="build-release"

bash tools/install-deps.sh

if [[ -f $build/meson-private/coredata.dat ]]; then
    meson setup --reconfigure "$build" --buildtype=release -Dtests=false
else
    rm -rf "$build"
    meson setup "$build" --buildtype=release -Dtests=false
fi
ninja -C "$build"

exec "$build/tools/clconvt-demo" "$@"
