#!/bin/sh
# Debian programs that link libgc.so.1 run unchanged on Midden's library:
# the same output and exit status as on the stock library, with Midden's
# default settings and with a collection every 64 KiB and the heap verifier.
#
#   programs.sh <directory of Midden's libgc.so.1> <work directory>
#
# The programs are fetched once into the work directory with apt-get
# download and unpacked with dpkg -x; when that fails (no registry) the
# test is skipped (exit 77) with a message saying so.
set -u
lib=$1
work=$2
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
# left behind.
run() {
    name=$1
    setup=$2
    shift 2
    for mode in stock midden midden-stress; do
        rm -rf "case-$mode"
        mkdir "case-$mode"
        (cd "case-$mode" && sh -c "$setup")
        case $mode in
        stock) (cd "case-$mode" && env -u LD_LIBRARY_PATH "$@" >../out-$mode 2>../err-$mode; echo "exit $?" >>../out-$mode) ;;
        midden) (cd "case-$mode" && LD_LIBRARY_PATH=$lib "$@" >../out-$mode 2>../err-$mode; echo "exit $?" >>../out-$mode) ;;
        midden-stress) (cd "case-$mode" && LD_LIBRARY_PATH=$lib MDN_STRESS=64K MDN_VERIFY=1 MDN_VERBOSE=1 "$@" \
                         >../out-$mode 2>../err-$mode; echo "exit $?" >>../out-$mode)
            grep -v '^midden: ' err-$mode >err-$mode.clean
            mv err-$mode.clean err-$mode ;;
        esac
        (cd "case-$mode" && find . -type f | sort && cat $(find . -type f | sort) 2>/dev/null | cksum) >>out-$mode
    done
    for mode in midden midden-stress; do
        if ! cmp -s out-stock out-$mode || ! cmp -s err-stock err-$mode; then
            echo "FAIL: $name: output on Midden's library ($mode) differs from the stock library's"
            diff out-stock out-$mode | head -20
            diff err-stock err-$mode | head -20
            failures=$((failures + 1))
        fi
    done
    echo "ok: $name ($(grep -c . out-stock) lines of output)"
}

here=$(pwd)
files='i=0; while [ $i -lt 1000 ]; do : > "f$i.txt"; i=$((i + 1)); done; : > a.c; : > b.c'
run "mmv -n (plan renames)" "$files" "$here/root/usr/bin/mmv" -n '*.txt' '#1.old'
run "mmv (rename 1000 files)" "$files" "$here/root/usr/bin/mmv" '*.txt' 'renamed-#1.bak'
run "mmv (collision report)" "$files" "$here/root/usr/bin/mmv" -n '*.c' 'same'
run "mcp (copy)" 'echo one > x1; echo two > x2' "$here/root/usr/bin/mcp" 'x*' 'y#1'
conf="$here/root/etc/debfoster.conf"
run "debfoster -s (orphans)" ':' "$here/root/usr/bin/debfoster" -c "$conf" -n -s
run "debfoster -d libc6" ':' "$here/root/usr/bin/debfoster" -c "$conf" -n -d libc6
run "debfoster -e libc6" ':' "$here/root/usr/bin/debfoster" -c "$conf" -n -e libc6
run "debfoster -r coreutils" ':' "$here/root/usr/bin/debfoster" -c "$conf" -n -r coreutils
run "debfoster -q -k (build a keeper file)" ':' "$here/root/usr/bin/debfoster" -c "$conf" -q -k keepers

# The stressed runs must really have collected on Midden's heap.
LD_LIBRARY_PATH=$lib MDN_STRESS=64K MDN_VERBOSE=1 root/usr/bin/debfoster -c "$conf" -n -s >/dev/null 2>stress.log
collections=$(grep -c '^midden: gc' stress.log)
if [ "$collections" -lt 10 ]; then
    echo "FAIL: debfoster under MDN_STRESS=64K ran only $collections collections on Midden's heap"
    failures=$((failures + 1))
fi
echo "debfoster under stress: $collections collections on Midden's heap"
[ "$failures" -eq 0 ]
