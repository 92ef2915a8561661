#!/bin/sh
# Packaging tests: install the build tree into a staging prefix, then build
# the out-of-tree example (vmbinding/examples/tinyvm) against that prefix
# only, with CMake's find_package or with pkg-config, run it and check its
# output.
#
#   example.sh install BUILD STAGE
#   example.sh cmake|pkgconfig SRC STAGE WORK PLAN LINK EXPECTED CC CFLAGS
#   example.sh pkgconfig-build SRC BUILD WORK PLAN LINK EXPECTED CC CFLAGS
#   example.sh no-plan-header SRCDIR BUILD WORK CC
#
# PLAN is a plan name or "default" (Midden::midden, midden.pc); LINK is
# static or shared. pkgconfig-build builds against the build tree itself
# through its midden-*-uninstalled.pc files, with no install. no-plan-header
# checks that including <midden/midden.h> without the plan's include
# directory is a compile error naming the header, unless MDN_NO_PLAN_HEADER
# is defined.
set -eu

mode=$1
shift
if [ "$mode" = install ]; then
    build=$1 stage=$2
    rm -rf "$stage"
    cmake --install "$build" --prefix "$stage"
    exit 0
fi

if [ "$mode" = no-plan-header ]; then
    srcdir=$1 build=$2 work=$3 cc=$4
    rm -rf "$work"
    mkdir -p "$work"
    printf '#include <midden/midden.h>\nint main(void) { return MDN_PLAN_FASTPATH; }\n' >"$work/t.c"
    if "$cc" -I"$srcdir/include" -I"$build/include" -c "$work/t.c" -o "$work/t.o" 2>"$work/err.txt"; then
        echo "FAIL: midden.h compiled without <midden/plan.h> on the include path" >&2
        exit 1
    fi
    cat "$work/err.txt"
    grep -q "midden/plan.h> is not on the include path" "$work/err.txt" || {
        echo "FAIL: the error does not name the missing plan header" >&2
        exit 1
    }
    "$cc" -DMDN_NO_PLAN_HEADER -I"$srcdir/include" -I"$build/include" -c "$work/t.c" -o "$work/t.o"
    echo "PASS: no-plan-header"
    exit 0
fi

src=$1 stage=$2 work=$3 plan=$4 link=$5 expected=$6 cc=$7 cflags=$8
if [ "$mode" = pkgconfig-build ]; then
    [ -f "$stage/pkgconfig/midden-uninstalled.pc" ] || {
        echo "no build-tree pkg-config files in $stage/pkgconfig" >&2
        exit 1
    }
elif [ ! -f "$stage/include/midden/midden.h" ]; then
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
pkgconfig | pkgconfig-build)
    pkg=midden
    [ "$plan" != default ] && pkg=midden-$plan
    [ "$link" = shared ] && pkg=$pkg-shared
    cp "$src"/*.c "$src"/*.h "$src"/Makefile "$work"/
    if [ "$mode" = pkgconfig ]; then
        export PKG_CONFIG_PATH="$stage/lib/pkgconfig"
    else
        export PKG_CONFIG_PATH="$stage/pkgconfig"
        unset PKG_CONFIG_DISABLE_UNINSTALLED || true
        pkg-config --cflags "$pkg" | grep -q -- "-I$stage/plans/" || {
            echo "FAIL: pkg-config did not pick the build tree's $pkg-uninstalled.pc" >&2
            exit 1
        }
    fi
    echo "pkg-config --cflags --libs $pkg: $(pkg-config --cflags --libs "$pkg")"
    make -C "$work" MIDDEN="$pkg" CC="$cc" CFLAGS="$cflags"
    if [ "$link" = shared ] && [ "$mode" = pkgconfig ]; then
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
if [ "$plan" = default ] && [ "$mode" = pkgconfig-build ]; then
    want_plan=$(sed -n 's/^Requires: midden-\([a-z]*\).*/\1/p' "$stage/pkgconfig/midden-uninstalled.pc")
elif [ "$plan" = default ]; then
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
