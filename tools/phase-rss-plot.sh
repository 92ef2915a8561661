#!/bin/sh
# phase-rss-plot.sh: RSS over time for the heap-sizing phase program
# (tools/phase/phase.c: grow to 256 MiB live, drop to 8 MiB, keep
# allocating) under the fixed, growable and adaptive heap policies and
# under Boehm GC; writes phase-rss.csv and phase-rss.png (and .svg).
#
#   tools/phase-rss-plot.sh [--build DIR] [--plan PLAN] [--out DIR] [--fixed SIZE] [-- PHASE ARGS]
#
# Defaults: --build build/release, --plan immix, --out results,
# --fixed 1G (the fixed heap: room for the 256 MiB peak on every plan).
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
build=$root/build/release plan=immix out=results fixed=1G
usage() { sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }
while [ $# -gt 0 ]; do
    case $1 in
    --build) [ $# -ge 2 ] || usage; build=$2; shift ;;
    --plan) [ $# -ge 2 ] || usage; plan=$2; shift ;;
    --out) [ $# -ge 2 ] || usage; out=$2; shift ;;
    --fixed) [ $# -ge 2 ] || usage; fixed=$2; shift ;;
    --) shift; break ;;
    -h | --help) usage ;;
    *) echo "phase-rss-plot.sh: unknown argument '$1'" >&2; usage ;;
    esac
    shift
done
bin=$build/bench/rss_phase_$plan
[ -x "$bin" ] || { echo "phase-rss-plot.sh: no $bin (build the tools first)" >&2; exit 1; }
mkdir -p "$out"
csv=$out/phase-rss.csv
echo "run,ms,rss_kib,phase" >"$csv"
run() { # name, then the command with its environment
    name=$1; shift
    echo "phase-rss-plot.sh: $name" >&2
    "$@" 2>"$out/phase-$name.err" | awk -v n="$name" '{ print n "," $1 "," $2 "," $3 }' >>"$csv"
}
run fixed env MDN_HEAP="$fixed" "$bin" "$@"
run growable env -u MDN_HEAP MDN_HEAP_POLICY=growable "$bin" "$@"
run adaptive env -u MDN_HEAP MDN_HEAP_POLICY=adaptive "$bin" "$@"
if [ -x "$build/bench/rss_phase_boehm" ]; then
    run boehm "$build/bench/rss_phase_boehm" "$@"
fi
if command -v gnuplot >/dev/null 2>&1; then
    runs=$(cut -d, -f1 "$csv" | tail -n +2 | uniq)
    {
        echo "set datafile separator ','"
        echo "if (strstrt(GPVAL_TERMINALS, \"pngcairo\") > 0) { set terminal pngcairo size 960,600 noenhanced } else { set terminal png size 960,600 }"
        echo "set output '$out/phase-rss.png'"
        echo "set title 'phase test ($plan): grow to 256 MiB live, drop to 8 MiB, keep allocating'"
        echo "set xlabel 'time (s)'"
        echo "set ylabel 'RSS (MiB)'"
        echo "set grid"
        echo "set key outside right top"
        printf 'plot '
        sep=
        for r in $runs; do
            printf "%s'< grep \"^%s,\" %s' using (\$2/1000):(\$3/1024) with lines lw 2 title '%s'" "$sep" "$r" "$csv" "$r"
            sep=', '
        done
        echo
        echo "set terminal svg size 960,600 noenhanced"
        echo "set output '$out/phase-rss.svg'"
        echo "replot"
    } >"$out/phase-rss.gp"
    gnuplot "$out/phase-rss.gp" && echo "phase-rss-plot.sh: wrote $out/phase-rss.png" >&2
else
    echo "phase-rss-plot.sh: gnuplot not found; data in $csv" >&2
fi
