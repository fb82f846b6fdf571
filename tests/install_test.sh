#!/usr/bin/env bash
# meson test 'install': install the build into a temporary DESTDIR, then use it as a user would.
#   - the files are in place: header, shared library (with its soname) and static library,
#     clconvt.pc, the tools;
#   - the shared library exports exactly the CLCONVT_API functions of the installed header;
#   - tools/example.c builds with `cc $(pkg-config --cflags --libs clconvt)` (pkg-config seeing the
#     staged tree alone for clconvt) and runs; and again linked statically (pkg-config --static);
#   - the installed tools run without LD_LIBRARY_PATH (their rpath is relative).
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
LD_LIBRARY_PATH=$libdir ldd "$tmp/example" | grep -q "$libdir/$soname" ||
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
echo "install test: ok"
