#!/bin/sh
# Debian programs that link libgc.so.1 run unchanged on Midden's library:
# the same output and exit status as on the stock library, with Midden's
# default settings and with frequent collections and the heap verifier:
# mmv and mcp (renaming files), debfoster (package dependencies), w3m
# (rendering HTML), GNU poke (its compiler and virtual machine), the Neko
# virtual machine, the Nix expression evaluator (which sets GC_no_dls
# and allocates with GC_malloc_many), ECL (Embeddable Common Lisp, which
# disables collection while it builds its symbol table and reports roots
# through GC_push_other_roots) and Guile (custom kinds with mark
# procedures, GC_generic_malloc_many, weak tables, guardians and its
# finalizer thread), which runs guile-program.scm beside this script.
#
#   programs.sh <directory of Midden's libgc.so.1> <work directory> [soak]
#
# The default set is sized to take a few seconds; with "soak" (CMake
# -DMIDDEN_SOAK=ON) more debfoster queries, a larger rename run and Guile
# stressed with a collection every 64 KiB instead of 256 KiB too.
# The programs are fetched once into the work directory with apt-get
# download and unpacked with dpkg -x; when that fails (no registry) the
# test is skipped (exit 77) with a message saying so.
set -u
lib=$1
work=$2
soak=${3:-}
script_dir=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$work" || exit 1
cd "$work" || exit 1

if ! ldconfig -p 2>/dev/null | grep -q 'libgc\.so\.1 '; then
    echo "SKIP: the stock libgc.so.1 (Debian libgc1) is not installed, so there is nothing to compare with"
    exit 77
fi
# The programs, and the libraries they need that a minimal system lacks.
packages="mmv debfoster w3m poke libpoke0 libnbd0 neko libneko2 nix-bin libboost-context1.74.0 libcpuid16
    guile-3.0 guile-3.0-libs libreadline8 libunistring2 libffi8 libgmp10 ecl libecl21.2"
# The marker holds the package list, so a changed list fetches anew.
if [ "$(cat root/.complete 2>/dev/null)" != "$packages" ]; then
    rm -rf ./*.deb root
    if ! timeout 300 apt-get download $packages >download.log 2>&1; then
        echo "SKIP: cannot fetch $packages with apt-get download (is the package registry reachable?):"
        tail -3 download.log
        exit 77
    fi
    for d in ./*.deb; do
        dpkg -x "$d" root || exit 1
    done
    printf '%s' "$packages" >root/.complete
fi
here=$(pwd)
# Libraries the programs load from the unpacked packages, not the system's.
libs="$here/root/usr/lib/x86_64-linux-gnu:$here/root/usr/lib/nix"
for p in mmv w3m poke neko nix-instantiate ecl guile-3.0; do
    if ! LD_LIBRARY_PATH=$lib:$libs ldd "root/usr/bin/$p" | grep -q "$lib/libgc.so.1"; then
        echo "FAIL: with LD_LIBRARY_PATH=$lib, $p does not load Midden's libgc.so.1"
        exit 1
    fi
done

failures=0
# run <name> <setup command> <program and arguments...>: in a fresh
# directory per library, compare stdout, stderr, exit status and the files
# left behind. With stressed=1 (run_stressed) also with a collection every
# $stress bytes and the heap verifier.
stressed=0
stress=64K
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
        stock) (cd "case-$mode" && LD_LIBRARY_PATH=$libs "$@" >../out-$mode 2>../err-$mode; echo "exit $?" >>../out-$mode) ;;
        midden) (cd "case-$mode" && LD_LIBRARY_PATH=$lib:$libs "$@" >../out-$mode 2>../err-$mode; echo "exit $?" >>../out-$mode) ;;
        midden-stress) (cd "case-$mode" && LD_LIBRARY_PATH=$lib:$libs MDN_STRESS=$stress MDN_VERIFY=1 MDN_VERBOSE=1 "$@" \
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

# w3m renders a page of headings, tables, lists and links.
page='i=0; { echo "<html><body>"; while [ $i -lt 150 ]; do
  echo "<h2>Part $i</h2><p>Some <b>bold</b> and <a href=\"p$i.html\">a link</a>.</p>"
  echo "<table border=1><tr><td>$i</td><td>cell</td></tr><tr><td colspan=2>wide $i</td></tr></table><ul><li>one<li>two $i</ul>"
  i=$((i + 1)); done; echo "</body></html>"; } >page.html'
run_stressed "w3m -dump (render HTML)" "$page" "$here/root/usr/bin/w3m" -dump page.html

# GNU poke compiles its standard library at start-up, then the program,
# which maps a structure onto a file.
stress=256K
poke_prog='fun fib = (int n) int: { if (n < 2) return n; return fib (n - 1) + fib (n - 2); }
var s = ""; for (var i = 0; i < 300; i++) s = s + format ("%i32d,", i);
printf "%i32d %i32d\n", fib (20), s'"'"'length;
type Ident = struct { byte[4] magic; byte class; byte data; };
var f = open ("data.bin"); var e = Ident @ f : 0#B;
printf "%u8x %u8d %u8d\n", e.magic[1], e.class, e.data; close (f);'
run_stressed "poke (compiler and virtual machine)" 'head -c 4096 /bin/ls >data.bin' \
    env POKEDATADIR="$here/root/usr/share/poke" "$here/root/usr/bin/poke" -q --no-init-file -c "$poke_prog"

# Neko: a program compiled once (on the stock library), run by the VM.
neko_path="$here/root/usr/lib/x86_64-linux-gnu/neko"
printf '%s\n' 'fib = function(n) { if( n <= 1 ) 1 else fib(n-1) + fib(n-2) };' \
    'var a = $amake(1000); var i = 0;' \
    'while( i < 1000 ) { a[i] = $string(i) + "x"; i = i + 1; }' \
    'var s = 0; i = 0;' \
    'while( i < 100000 ) { var o = { x => i, y => $string(i) }; s = s + o.x; i = i + 1; }' \
    '$print(fib(22), " ", s, " ", a[999], "\n");' >fib.neko
if ! LD_LIBRARY_PATH=$libs NEKOPATH=$neko_path root/usr/bin/nekoc fib.neko >nekoc.log 2>&1; then
    echo "FAIL: nekoc could not compile the Neko program:"
    cat nekoc.log
    exit 1
fi
run_stressed "neko (virtual machine)" "cp '$here/fib.n' ." env NEKOPATH="$neko_path" "$here/root/usr/bin/neko" fib

# Nix evaluates an expression; its state lives outside the case directories.
mkdir -p nix/state nix/conf nix/home
nix_expr='let fib = n: if n < 2 then n else fib (n - 1) + fib (n - 2);
  l = builtins.genList (x: { a = x; b = toString x; }) 50000;
in { f = fib 20; s = builtins.foldl'"'"' (acc: e: acc + e.a) 0 l;
     t = builtins.concatStringsSep "," (map (e: e.b) (builtins.genList (x: builtins.elemAt l (x * 7)) 40)); }'
run_stressed "nix-instantiate --eval (expression evaluator)" ':' \
    env NIX_STATE_DIR="$here/nix/state" NIX_STORE_DIR="$here/nix/store" NIX_CONF_DIR="$here/nix/conf" \
    NIX_LOG_DIR="$here/nix/log" HOME="$here/nix/home" \
    "$here/root/usr/bin/nix-instantiate" --eval --strict --readonly-mode -E "$nix_expr"
# ECL boots its Lisp image (symbols, packages, the compiler's tables) and
# evaluates a program of lists, bignums, strings, hash tables and closures.
ecl_prog='(defun fib (n) (if (< n 2) n (+ (fib (- n 1)) (fib (- n 2)))))
(let ((h (make-hash-table :test (quote equal))))
  (dotimes (i 20000) (setf (gethash (format nil "k~a" i) h) (* i i)))
  (format t "~a ~a ~a~%" (fib 20) (gethash "k19999" h) (hash-table-count h)))
(format t "~a~%" (reduce (function +) (loop for i below 100000 collect (* i i i))))
(format t "~a~%" (length (loop for i below 50000 collect (format nil "~r" (mod i 100)))))
(format t "~a~%" (expt 3 200))'
ecl_dir=$(ls -d "$here"/root/usr/lib/x86_64-linux-gnu/ecl-*/ | head -1)
run_stressed "ecl (Common Lisp, collection disabled at boot)" "printf '%s\\n' '$ecl_prog' >program.lsp" \
    env ECLDIR="$ecl_dir" "$here/root/usr/bin/ecl" --norc --shell program.lsp

# About 90 verified collections (350 with soak, 25 s of the default run).
stress=256K
[ "$soak" = soak ] && stress=64K

# Guile evaluates a program of lists, vectors, strings, hash tables,
# closures, bignums, weak tables, guardians, continuations and exceptions
# with its interpreter; its threads and VM stacks are objects of kinds
# with mark procedures.
guile_dir="$here/root/usr/lib/x86_64-linux-gnu/guile/3.0"
run_stressed "guile (interpreter, custom kinds)" "cp '$script_dir/guile-program.scm' program.scm" \
    env HOME=. GUILE_LOAD_PATH="$here/root/usr/share/guile/3.0" GUILE_LOAD_COMPILED_PATH="$guile_dir/ccache" \
    GUILE_SYSTEM_EXTENSIONS_PATH="$guile_dir/extensions" "$here/root/usr/bin/guile-3.0" --no-auto-compile program.scm

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
