#!/bin/sh
# Packaging tests: install the build tree into a staging prefix, then build
# the out-of-tree example (vmbinding/examples/tinyvm) against that prefix
# only, with CMake's find_package or with pkg-config, run it and check its
# output.
#
#   example.sh install BUILD STAGE
#   example.sh cmake|pkgconfig SRC STAGE WORK PLAN LINK EXPECTED CC CFLAGS
#
# PLAN is a plan name or "default" (Midden::midden, midden.pc); LINK is
# static or shared.
set -eu

mode=$1
shift
if [ "$mode" = install ]; then
    build=$1 stage=$2
    rm -rf "$stage"
    cmake --install "$build" --prefix "$stage"
    exit 0
fi

src=$1 stage=$2 work=$3 plan=$4 link=$5 expected=$6 cc=$7 cflags=$8
if [ ! -f "$stage/include/midden/midden.h" ]; then
    echo "no installation at $stage (the packaging/install fixture did not run)" >&2
    exit 1
fi
rm -rf "$work"
mkdir -p "$work"

case "$mode" in
cmake)
    set --
    [ "$plan" != default ] && set -- "$@" "-DTINYVM_PLAN=$plan"
    [ "$link" = shared ] && set -- "$@" -DTINYVM_SHARED=ON
    # Only the staging prefix: nothing from the build tree is visible.
    cmake -S "$src" -B "$work" -DCMAKE_PREFIX_PATH="$stage" -DCMAKE_C_COMPILER="$cc" \
        -DCMAKE_C_FLAGS="$cflags" -DCMAKE_BUILD_TYPE=Release "$@"
    cmake --build "$work"
    ;;
pkgconfig)
    pkg=midden
    [ "$plan" != default ] && pkg=midden-$plan
    [ "$link" = shared ] && pkg=$pkg-shared
    cp "$src"/*.c "$src"/*.h "$src"/Makefile "$work"/
    export PKG_CONFIG_PATH="$stage/lib/pkgconfig"
    echo "pkg-config --cflags --libs $pkg: $(pkg-config --cflags --libs "$pkg")"
    make -C "$work" MIDDEN="$pkg" CC="$cc" CFLAGS="$cflags"
    if [ "$link" = shared ]; then
        export LD_LIBRARY_PATH="$stage/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
    fi
    ;;
*)
    echo "example.sh: unknown mode $mode" >&2
    exit 2
    ;;
esac

exe="$work/tinyvm"
want_plan=$plan
if [ "$plan" = default ]; then
    want_plan=$(sed -n 's/^set(Midden_DEFAULT_PLAN "\(.*\)")$/\1/p' "$stage/lib/cmake/Midden/MiddenConfig.cmake")
fi

# The program must use the library kind asked for.
if [ "$link" = shared ]; then
    ldd "$exe" | grep -q "libmidden_$want_plan\.so" || { echo "FAIL: $exe does not load libmidden_$want_plan.so" >&2; exit 1; }
else
    if ldd "$exe" | grep -q libmidden_; then echo "FAIL: $exe loads a shared libmidden" >&2; exit 1; fi
fi

check_run() {
    label=$1
    shift
    echo "== $label"
    "$@" >"$work/out.txt"
    cat "$work/out.txt"
    first=$(head -n 1 "$work/out.txt")
    if [ "$first" != "plan: $want_plan" ]; then
        echo "FAIL ($label): expected 'plan: $want_plan', got '$first'" >&2
        exit 1
    fi
    tail -n +2 "$work/out.txt" >"$work/rest.txt"
    if ! diff -u "$expected" "$work/rest.txt"; then
        echo "FAIL ($label): output differs from $expected" >&2
        exit 1
    fi
}

check_run "default options" env -u MDN_HEAP -u MDN_STRESS -u MDN_VERIFY "$exe"
# Collect every 256 KiB and verify the heap after every collection.
check_run "verify=1, stress=256K" env MDN_VERIFY=1 MDN_STRESS=256K "$exe" "gc-threads=2"
echo "== out of memory"
out=$("$exe" --oom)
echo "$out"
[ "$out" = "out of memory: reported yes, list of more than 1000 cells: yes" ] || {
    echo "FAIL (out of memory): unexpected output" >&2
    exit 1
}
echo "PASS: $mode $plan $link"
