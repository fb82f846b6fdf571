#!/usr/bin/env bash
# meson test 'install': install the build into a temporary DESTDIR, then use it as a user would.
#   - the files are in place: header, shared library (with its soname) and static library,
#     clconvt.pc, the tools;
#   - the shared library exports exactly the CLCONVT_API functions of the installed header;
#   - tools/example.c builds with `cc $(pkg-config --cflags --libs clconvt)` (pkg-config seeing the
#     staged tree alone for clconvt) and runs; and again linked statically (pkg-config --static);
#   - the installed tools run without LD_LIBRARY_PATH (their rpath is relative);
#   - a CMake project finds the staged package with find_package(clconvt X.Y CONFIG), builds the
#     example against clconvt::clconvt and runs it; the version file accepts X.Y and refuses the
#     versions its rule excludes (cmake/clconvtConfigVersion.cmake.in);
#   - a Meson project with the source tree as its subproject (subprojects/clconvt, a symlink;
#     -Dclconvt:tests=false) gets it with dependency('clconvt'), builds the example and runs it.
# Usage: install_test.sh BUILD_DIR SOURCE_DIR [MESON]
set -euo pipefail

build=$1
source=$2
meson=${3:-meson}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/clconvt-install-XXXXXX")
trap 'rm -rf "$tmp"' EXIT
stage="$tmp/stage"

fail() {
    echo "install test: $*" >&2
    exit 1
}

# loads PROGRAM LIBRARY [ENV_ARGS...]: ldd, run under `env ENV_ARGS...`, resolves a library of
# PROGRAM to the file LIBRARY. No pipe into grep -q: under pipefail, an ldd killed by SIGPIPE after
# grep's early exit would read as a failure.
loads() {
    local program=$1 library=$2 resolved
    shift 2
    resolved=$(env "$@" ldd "$program") || return 1
    [[ $resolved == *"=> $library "* ]]
}

if ! "$meson" install -C "$build" --no-rebuild --destdir "$stage" >"$tmp/install.log" 2>&1; then
    cat "$tmp/install.log" >&2
    fail "meson install --destdir $stage failed (log above)"
fi

pc=$(find "$stage" -name clconvt.pc -print -quit)
[[ -n $pc ]] || fail "meson install put no clconvt.pc under $stage"
# pkg-config finds clconvt in the staged tree alone (OpenCL, which clconvt.pc requires, still comes
# from the system), and the sysroot maps the .pc file's prefix into the stage.
export PKG_CONFIG_PATH=${pc%/*}
export PKG_CONFIG_SYSROOT_DIR=$stage
[[ $(pkg-config --variable=pcfiledir clconvt) == "${pc%/*}" ]] ||
    fail "pkg-config found clconvt.pc somewhere else: $(pkg-config --variable=pcfiledir clconvt)"
# pkgconf applies the sysroot to variables too, other pkg-configs may not: accept both.
in_stage() {
    printf '%s\n' "$stage${1#"$stage"}"
}
prefix=$(in_stage "$(pkg-config --variable=prefix clconvt)")
libdir=$(in_stage "$(pkg-config --variable=libdir clconvt)")
includedir=$(in_stage "$(pkg-config --variable=includedir clconvt)")
bindir=$prefix/bin
echo "installed under $prefix"

for f in "$includedir/clconvt.h" "$libdir/libclconvt.a" "$libdir/libclconvt.so" \
    "$bindir/clconvt-run" "$bindir/clconvt-info"; do
    [[ -e $f ]] || fail "missing after install: $f"
done
soname=$(readelf -d "$libdir/libclconvt.so" | sed -n 's/.*(SONAME).*\[\(.*\)\]/\1/p')
[[ $soname =~ ^libclconvt\.so\.[0-9]+$ ]] || fail "libclconvt.so has soname '$soname'"
[[ -e $libdir/$soname ]] || fail "the soname link $libdir/$soname is missing"

# Exactly the public API leaves the shared library: no helper, no embedded kernel string. Each
# function carries the version node of the release that added it (src/clconvt.map).
nm -D --defined-only "$libdir/libclconvt.so" >"$tmp/dynamic"
unversioned=$(awk '$2 == "T" && $3 !~ /@@?CLCONVT_[0-9]+\.[0-9]+$/ {print $3}' "$tmp/dynamic")
[[ -z $unversioned ]] || fail "functions exported without a CLCONVT_x.y version: $unversioned"
awk '$2 != "A" {print $3}' "$tmp/dynamic" | sed 's/@.*//' | sort -u >"$tmp/exported"
# Declarations may wrap after the return type: join the lines first.
tr '\n' ' ' <"$includedir/clconvt.h" | grep -o 'CLCONVT_API[^(;]*(' |
    grep -o 'clconvt_[a-z0-9_]*($' | tr -d '(' | sort -u >"$tmp/declared"
if ! diff -u "$tmp/declared" "$tmp/exported" >"$tmp/symbols.diff"; then
    cat "$tmp/symbols.diff" >&2
    fail "libclconvt.so exports differ from the header's CLCONVT_API functions (- declared, + exported)"
fi
echo "exports: $(wc -l <"$tmp/exported") clconvt_* functions, as declared"

cc=${CC:-cc}
read -r -a cflags <<<"$(pkg-config --cflags clconvt)"
read -r -a libs <<<"$(pkg-config --libs clconvt)"
"$cc" -std=c11 -Wall -Wextra -Werror "$source/tools/example.c" -o "$tmp/example" \
    "${cflags[@]}" "${libs[@]}" || fail "the example did not build against the installed library"
loads "$tmp/example" "$libdir/$soname" LD_LIBRARY_PATH="$libdir" ||
    fail "the example does not load $libdir/$soname"
LD_LIBRARY_PATH=$libdir "$tmp/example" || fail "the dynamically linked example failed"

# Static: the archive in place of -lclconvt; --static adds the private dependencies (cJSON, ...).
read -r -a static_libs <<<"$(pkg-config --static --libs clconvt)"
for i in "${!static_libs[@]}"; do
    [[ ${static_libs[$i]} == -lclconvt ]] && static_libs[$i]=-l:libclconvt.a
done
"$cc" -std=c11 "$source/tools/example.c" -o "$tmp/example-static" "${cflags[@]}" \
    "${static_libs[@]}" || fail "the example did not link statically (${static_libs[*]})"
if readelf -d "$tmp/example-static" | grep -q 'NEEDED.*libclconvt'; then
    fail "the statically linked example still needs libclconvt.so"
fi
env -u LD_LIBRARY_PATH "$tmp/example-static" || fail "the statically linked example failed"

env -u LD_LIBRARY_PATH "$bindir/clconvt-run" --version | grep -q '^clconvt-run ' ||
    fail "the installed clconvt-run does not run"
env -u LD_LIBRARY_PATH "$bindir/clconvt-info" >"$tmp/info.txt" ||
    fail "the installed clconvt-info failed: $(cat "$tmp/info.txt")"
grep -q '^clconvt would use: ' "$tmp/info.txt" || fail "clconvt-info names no device"
# ---- A CMake project: find_package(clconvt CONFIG) and the imported target --------------------
command -v cmake >/dev/null || fail "cmake is not installed (tools/install-deps.sh installs it)"
version=$(pkg-config --modversion clconvt)
IFS=. read -r major minor _ <<<"$version"
cmake_app=$tmp/cmake-app
mkdir -p "$cmake_app"
cp "$source/tools/example.c" "$cmake_app/"
# The versions the package must refuse: another major, the next minor, and before 1.0 the minor
# before (0.x releases need the same minor version).
refused="$((major + 1)).0;$major.$((minor + 1))"
if ((major == 0 && minor > 0)); then
    refused+=";0.$((minor - 1))"
fi
cat >"$cmake_app/CMakeLists.txt" <<EOF
cmake_minimum_required(VERSION 3.13)
project(clconvt_example C)
find_package(clconvt $major.$minor CONFIG REQUIRED)
if(NOT clconvt_VERSION STREQUAL "$version")
  message(FATAL_ERROR "find_package found clconvt \${clconvt_VERSION}, expected $version")
endif()
file(WRITE "\${CMAKE_BINARY_DIR}/clconvt_dir.txt" "\${clconvt_DIR}")
foreach(refused $refused)
  find_package(clconvt \${refused} CONFIG QUIET)
  if(clconvt_FOUND)
    message(FATAL_ERROR "clconvt $version was accepted for find_package(clconvt \${refused})")
  endif()
endforeach()
add_executable(example example.c)
target_link_libraries(example PRIVATE clconvt::clconvt)
EOF
if ! cmake -S "$cmake_app" -B "$cmake_app/build" -G Ninja -DCMAKE_PREFIX_PATH="$prefix" \
    -DCMAKE_C_COMPILER="$cc" >"$tmp/cmake.log" 2>&1 ||
    ! cmake --build "$cmake_app/build" >>"$tmp/cmake.log" 2>&1; then
    cat "$tmp/cmake.log" >&2
    fail "the CMake project did not configure or build against the staged package (log above)"
fi
cmake_dir=$(<"$cmake_app/build/clconvt_dir.txt")
[[ $cmake_dir == "$stage"/* ]] || fail "CMake found clconvt at '$cmake_dir', not in the stage"
# CMake's build-tree rpath names the staged libdir: no LD_LIBRARY_PATH needed.
loads "$cmake_app/build/example" "$libdir/$soname" -u LD_LIBRARY_PATH ||
    fail "the CMake-built example does not load $libdir/$soname"
env -u LD_LIBRARY_PATH "$cmake_app/build/example" || fail "the CMake-built example failed"
echo "cmake: find_package(clconvt $major.$minor CONFIG) found $cmake_dir; the example ran"

# ---- A Meson project with clconvt as a subproject ---------------------------------------------
meson_app=$tmp/meson-app
mkdir -p "$meson_app/subprojects"
ln -s "$source" "$meson_app/subprojects/clconvt"
cp "$source/tools/example.c" "$meson_app/"
# subproject() first: dependency('clconvt') must then be the subproject's own, through
# meson.override_dependency, even where a clconvt is installed on the system.
cat >"$meson_app/meson.build" <<EOF
project('clconvt_example', 'c', default_options: ['c_std=c11'])
subproject('clconvt', default_options: ['tests=false'])
clconvt_dep = dependency('clconvt', version: '>=$major.$minor')
executable('example', 'example.c', dependencies: clconvt_dep)
EOF
if ! "$meson" setup "$meson_app/build" "$meson_app" >"$tmp/meson-app.log" 2>&1 ||
    ! "$meson" compile -C "$meson_app/build" >>"$tmp/meson-app.log" 2>&1; then
    cat "$tmp/meson-app.log" >&2
    fail "the Meson project with clconvt as a subproject did not configure or build (log above)"
fi
# Its build rpath names the subproject's build directory (meson test's LD_LIBRARY_PATH would
# name this build's library instead).
loads "$meson_app/build/example" "$meson_app/build/subprojects/clconvt/src/$soname" \
    -u LD_LIBRARY_PATH ||
    fail "the Meson-built example does not load the subproject's library"
env -u LD_LIBRARY_PATH "$meson_app/build/example" ||
    fail "the Meson-built example (clconvt as a subproject) failed"
echo "meson: dependency('clconvt') from subprojects/clconvt; the example ran"
echo "install test: ok"
