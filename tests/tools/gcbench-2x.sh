#!/bin/sh
# gcbench-2x.sh COMPARE BUILD_DIR PLAN DEPTH
# Finds GCBench's minimum heap for PLAN with midden-compare, then runs it
# at twice that heap: it must complete and pass its own checks.
set -u
compare=$1 build=$2 plan=$3 depth=$4
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$compare" minheap --build "$build" --plans "$plan" --benchmarks gcbench --baselines none \
    --args gcbench="$depth" --resolution 5 --out "$work/out" >"$work/log" 2>&1
min=$(awk -F, -v p="$plan" '$1 == "gcbench" && $2 == p && $6 == "ok" { print $3 }' "$work/out/minheap.csv")
if [ -z "$min" ]; then
    echo "FAIL: no minimum heap found for gcbench on $plan" >&2
    cat "$work/log" "$work/out/minheap.csv" >&2
    exit 1
fi
heap=$((min * 2 / 1024))K
bench=$build/bench/bench_gcbench_$plan
[ -x "$bench" ] || bench=$build/bench_gcbench_$plan
MDN_HEAP=$heap "$bench" "$depth" >"$work/stdout" 2>"$work/stderr"
status=$?
if [ "$status" -ne 0 ]; then
    echo "FAIL: gcbench $depth on $plan at 2 x $min bytes exited with $status" >&2
    cat "$work/stderr" >&2
    exit 1
fi
grep -q "^Live storage will peak at" "$work/stdout" || { echo "FAIL: no live-storage line" >&2; exit 1; }
grep -q "^midden-stats: plan=$plan " "$work/stderr" || { echo "FAIL: no stats line for $plan" >&2; exit 1; }
echo "ok: gcbench $depth on $plan: min heap $min bytes, completed at $heap"
