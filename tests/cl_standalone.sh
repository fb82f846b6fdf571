#!/bin/sh
# Each kernel compiles on its own: common.cl followed by the path's .cl (as cl/embed.py joins
# them), with no -D at all, with each DTYPE and with each ACTIVATION, through clang's OpenCL
# front end (what an offline compiler sees). -Wundef makes a `#if X` on an X without a default an error, as an X without a
# default used in code already is.
#
# And the kernels keep to the seams of common.cl: no path loads or stores a tensor value with the
# storage macros directly (LOAD, LOADV, STORE, STOREV), so that an input activation or an output
# conversion added there reaches every path.
#
# usage: cl_standalone.sh CLANG COMMON.cl KERNEL.cl...
set -u
clang=$1
common=$2
shift 2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
failed=0

for kernel in "$@"; do
    name=$(basename "$kernel" .cl)
    { cat "$common"; echo; cat "$kernel"; } > "$tmp/$name.cl"
    for dtype in none 0 1 2; do
        define=
        [ "$dtype" = none ] || define=-DDTYPE=$dtype
        if ! "$clang" -x cl -cl-std=CL1.2 -Xclang -finclude-default-header -target spir64 \
            -Wundef -Werror $define -fsyntax-only "$tmp/$name.cl"; then
            echo "FAIL: $name does not compile on its own (DTYPE: $dtype)"
            failed=1
        fi
    done
    # With each fused input activation (cl/common.cl's ACTIVATION), in f16 storage.
    for activation in 1 2 3; do
        if ! "$clang" -x cl -cl-std=CL1.2 -Xclang -finclude-default-header -target spir64 \
            -Wundef -Werror -DDTYPE=1 -DACTIVATION=$activation -fsyntax-only "$tmp/$name.cl"; then
            echo "FAIL: $name does not compile on its own (ACTIVATION: $activation)"
            failed=1
        fi
    done
    # Comments aside, the storage macros may appear only inside common.cl.
    if sed -e 's://.*$::' "$kernel" | tr '\n' ' ' | sed -e 's:/\*[^*]*\*\+\([^/*][^*]*\*\+\)*/::g' |
        grep -E '(^|[^A-Za-z0-9_])(LOAD|LOADV|STORE|STOREV)\(' > /dev/null; then
        echo "FAIL: $name loads or stores with the storage macros; use the prologue and epilogue" \
            "of common.cl (LOAD_INPUT*, STORE_OUTPUT*)"
        failed=1
    fi
done
[ "$failed" = 0 ] && echo "all kernels compile on their own and keep to the seams"
exit "$failed"
