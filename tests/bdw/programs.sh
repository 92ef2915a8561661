#!/bin/sh
# Debian programs that link libgc.so.1 run unchanged on Midden's library:
# the same output and exit status as on the stock library, with Midden's
# default settings and with a collection every 64 KiB and the heap verifier.
#
#   programs.sh <directory of Midden's libgc.so.1> <work directory> [soak]
#
# The default set is sized to take a few seconds; with "soak" (CMake
# -DMIDDEN_SOAK=ON) more debfoster queries and a larger rename run too.
# The programs are fetched once into the work directory with apt-get
# download and unpacked with dpkg -x; when that fails (no registry) the
# test is skipped (exit 77) with a message saying so.
set -u
lib=$1
work=$2
soak=${3:-}
mkdir -p "$work" || exit 1
cd "$work" || exit 1

if ! ldconfig -p 2>/dev/null | grep -q 'libgc\.so\.1 '; then
    echo "SKIP: the stock libgc.so.1 (Debian libgc1) is not installed, so there is nothing to compare with"
    exit 77
fi
if [ ! -x root/usr/bin/mmv ] || [ ! -x root/usr/bin/debfoster ]; then
    rm -f ./*.deb
    if ! timeout 180 apt-get download mmv debfoster >download.log 2>&1; then
        echo "SKIP: cannot fetch mmv and debfoster with apt-get download (is the package registry reachable?):"
        tail -3 download.log
        exit 77
    fi
    for d in ./*.deb; do
        dpkg -x "$d" root || exit 1
    done
fi
if ! LD_LIBRARY_PATH=$lib ldd root/usr/bin/mmv | grep -q "$lib/libgc.so.1"; then
    echo "FAIL: with LD_LIBRARY_PATH=$lib, mmv does not load Midden's libgc.so.1"
    exit 1
fi

failures=0
# run <name> <setup command> <program and arguments...>: in a fresh
# directory per library, compare stdout, stderr, exit status and the files
# left behind. With stressed=1 (run_stressed) also with a collection every
# 64 KiB and the heap verifier.
stressed=0
run() {
    name=$1
    setup=$2
    shift 2
    modes="stock midden"
    [ "$stressed" = 1 ] && modes="$modes midden-stress"
    for mode in $modes; do
        rm -rf "case-$mode"
        mkdir "case-$mode"
        (cd "case-$mode" && sh -c "$setup")
        case $mode in
        stock) (cd "case-$mode" && env -u LD_LIBRARY_PATH "$@" >../out-$mode 2>../err-$mode; echo "exit $?" >>../out-$mode) ;;
        midden) (cd "case-$mode" && LD_LIBRARY_PATH=$lib "$@" >../out-$mode 2>../err-$mode; echo "exit $?" >>../out-$mode) ;;
        midden-stress) (cd "case-$mode" && LD_LIBRARY_PATH=$lib MDN_STRESS=64K MDN_VERIFY=1 MDN_VERBOSE=1 "$@" \
                         >../out-$mode 2>../err-$mode; echo "exit $?" >>../out-$mode)
            # The stressed runs must really collect on Midden's heap.
            collections=$((collections + $(grep -c '^midden: gc' err-$mode)))
            grep -v '^midden: ' err-$mode >err-$mode.clean
            mv err-$mode.clean err-$mode ;;
        esac
        (cd "case-$mode" && find . -type f | sort && cat $(find . -type f | sort) 2>/dev/null | cksum) >>out-$mode
    done
    for mode in $modes; do
        [ "$mode" = stock ] && continue
        if ! cmp -s out-stock out-$mode || ! cmp -s err-stock err-$mode; then
            echo "FAIL: $name: output on Midden's library ($mode) differs from the stock library's"
            diff out-stock out-$mode | head -20
            diff err-stock err-$mode | head -20
            failures=$((failures + 1))
        fi
    done
    echo "ok: $name ($(grep -c . out-stock) lines of output; $modes)"
}
run_stressed() {
    stressed=1
    run "$@"
    stressed=0
}

here=$(pwd)
collections=0
nfiles=300
[ "$soak" = soak ] && nfiles=3000
files="i=0; while [ \$i -lt $nfiles ]; do : > \"f\$i.txt\"; i=\$((i + 1)); done; : > a.c; : > b.c"
run "mmv -n (plan renames)" "$files" "$here/root/usr/bin/mmv" -n '*.txt' '#1.old'
run_stressed "mmv (rename $nfiles files)" "$files" "$here/root/usr/bin/mmv" '*.txt' 'renamed-#1.bak'
run "mcp (copy)" 'echo one > x1; echo two > x2' "$here/root/usr/bin/mcp" 'x*' 'y#1'
conf="$here/root/etc/debfoster.conf"
run_stressed "debfoster -s (orphans)" ':' "$here/root/usr/bin/debfoster" -c "$conf" -n -s
run "debfoster -d libc6" ':' "$here/root/usr/bin/debfoster" -c "$conf" -n -d libc6
if [ "$soak" = soak ]; then
    run_stressed "mmv (collision report)" "$files" "$here/root/usr/bin/mmv" -n '*.c' 'same'
    run_stressed "debfoster -e libc6" ':' "$here/root/usr/bin/debfoster" -c "$conf" -n -e libc6
    run_stressed "debfoster -r coreutils" ':' "$here/root/usr/bin/debfoster" -c "$conf" -n -r coreutils
    run_stressed "debfoster -q -k (build a keeper file)" ':' "$here/root/usr/bin/debfoster" -c "$conf" -q -k keepers
fi

if [ "$collections" -lt 10 ]; then
    echo "FAIL: the stressed runs (MDN_STRESS=64K) ran only $collections collections on Midden's heap"
    failures=$((failures + 1))
fi
echo "stressed runs: $collections collections on Midden's heap"
[ "$failures" -eq 0 ]
