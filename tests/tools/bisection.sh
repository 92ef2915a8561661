#!/bin/sh
# bisection.sh COMPARE FAKEBENCH RUNONE
# midden-compare's min-heap search against fakebench, whose minimum heap is
# known: the result must be within the stated resolution above it, for a
# threshold reached by halving, one reached by doubling, and one beyond
# --max-heap (reported as failed).
set -u
compare=$1 fake=$2 runone=$3
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/build/bench"
ln -s "$fake" "$work/build/bench/bench_fake_alpha"
ln -s "$runone" "$work/build/bench/midden-runone"
fail=0

# check THRESHOLD RESOLUTION [EXTRA ARGS...]
check() {
    threshold=$1 res=$2
    shift 2
    rm -rf "$work/out"
    FAKEBENCH_MIN_HEAP=$threshold "$compare" minheap --build "$work/build" --out "$work/out" \
        --baselines none --resolution "$res" "$@" >"$work/log" 2>&1
    row=$(grep '^fake,alpha,' "$work/out/minheap.csv")
    if [ -z "$row" ]; then
        echo "FAIL: no minheap.csv row for threshold $threshold" >&2
        cat "$work/log" >&2
        fail=1
        return
    fi
    echo "threshold $threshold, resolution $res%: $row"
    verdict=$(printf '%s\n' "$row" | awk -F, -v t="$threshold" -v r="$res" -v maxh="${MAXH:-0}" '{
        if (maxh > 0 && t > maxh) { print ($6 == "failed" && $3 == 0) ? "ok" : "expected failed"; exit }
        if ($6 != "ok") { print "status " $6; exit }
        # Heaps are passed in KiB, so allow one KiB of rounding.
        if ($3 < t) print "below the threshold"
        else if ($3 > t * (1 + r / 100) + 1024) print "above the resolution"
        else print "ok" }')
    if [ "$verdict" != ok ]; then
        echo "FAIL: threshold $threshold: $verdict ($row)" >&2
        fail=1
    fi
}

check 37000000 2
check 300000 2
check 3000000000 2
check 123456789 0.5
MAXH=268435456 check 1000000000 2 --max-heap 256M
exit $fail
