#!/bin/sh
# tiny-run.sh COMPARE BUILD_DIR
# A tiny full session (binary-trees depth 6, one multiple, one repeat):
# checks the CSV header and rows (with the default-options run of every
# plan and the minor page faults), the table, the summary and the plots.
set -u
compare=$1 build=$2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

"$compare" quick --build "$build" --benchmarks binarytrees --multiples 2 --repeats 1 --trace \
    --args binarytrees=6 --out "$work/out" >"$work/stdout" 2>"$work/stderr" ||
    { cat "$work/stderr" >&2; fail "midden-compare exited with $?"; }

header="benchmark,plan,kind,multiple,heap_bytes,min_heap_bytes,run,wall_s,time_s,maxrss_kb,collections,full_collections,total_pause_ms,max_pause_ms,p99_pause_ms,exit_status,outcome,args,minor_faults"
[ "$(head -n 1 "$work/out/runs.csv")" = "$header" ] || fail "runs.csv header is $(head -n 1 "$work/out/runs.csv")"

plans=$("$compare" --list --build "$build" | sed -n 's/^plans: *//p')
baselines=$("$compare" --list --build "$build" | sed -n 's/^baselines: *//p')
[ "$baselines" = none ] && baselines=
[ -n "$plans" ] || fail "no plans listed"
for p in $plans; do
    row=$(grep "^binarytrees,$p,plan,2," "$work/out/runs.csv") || fail "no run of plan $p in runs.csv"
    echo "$row" | awk -F, '{ exit !(NF == 19 && $7 == 1 && $16 == 0 && $17 == "ok" && $5 > 0 && $5 >= 2 * $6 && $8 > 0 && $10 > 0 && $19 > 0) }' ||
        fail "bad row for plan $p: $row"
    row=$(grep "^binarytrees,$p,plan,default,0," "$work/out/runs.csv") || fail "no default-options run of plan $p"
    echo "$row" | awk -F, '{ exit !(NF == 19 && $17 == "ok" && $10 > 0 && $19 > 0) }' ||
        fail "bad default-options row for plan $p: $row"
    grep -q "^binarytrees,$p,[0-9][0-9]*,2,[0-9][0-9]*,ok$" "$work/out/minheap.csv" || fail "no min heap for plan $p"
    # --trace: the run's timeline is beside the CSV, a complete JSON object
    # with one collection span per collection of the stats line.
    tr="$work/out/trace-binarytrees-$p-2x-run1.json"
    [ -s "$tr" ] || fail "no timeline $tr"
    head -c 20 "$tr" | grep -q '^{"displayTimeUnit"' || fail "$tr does not start a trace object"
    [ "$(tail -n 1 "$tr")" = "]}" ] || fail "$tr is not complete"
    spans=$(grep -c '"name":"collection"' "$tr")
    collections=$(grep "^binarytrees,$p,plan,2," "$work/out/runs.csv" | cut -d, -f11)
    [ "$spans" -eq "$collections" ] || fail "$tr has $spans collection spans, the CSV $collections collections"
    grep -q "^$p  *[0-9.]*[KMG]  *[0-9.]* ([0-9.]*-[0-9.]*) [0-9]*M [0-9]*kf  *[0-9.]* ([0-9.]*-[0-9.]*) [0-9]*M [0-9]*kf" "$work/stdout" ||
        fail "no table row with a default column for plan $p"
    grep -q "^$p  *[0-9.]*  *[0-9.]*  *[0-9.]*  *[0-9]*/1" "$work/out/summary.txt" || fail "no summary row (2x, default, min heap) for plan $p"
done
for v in $baselines; do
    row=$(grep "^binarytrees,$v,baseline,natural,0,0,1," "$work/out/runs.csv") || fail "no run of baseline $v"
    echo "$row" | awk -F, '{ exit !(NF == 19 && $17 == "ok" && $19 > 0) }' || fail "bad row for baseline $v: $row"
    grep -q "^$v  *-  *[0-9.]* ([0-9.]*-[0-9.]*) [0-9]*M" "$work/stdout" || fail "no table row for baseline $v"
done
rows=$(($(wc -l <"$work/out/runs.csv") - 1))
expect=$(($(echo $plans $plans $baselines | wc -w)))
[ "$rows" -eq "$expect" ] || fail "runs.csv has $rows runs, expected $expect"
grep -q '^== binarytrees 6 ==' "$work/stdout" || fail "no table heading"
grep -q '^plan  *min heap  *2x  *default' "$work/stdout" || fail "no column heading"
grep -q 'bisection to 2%' "$work/stdout" || fail "resolution not stated"
if command -v gnuplot >/dev/null 2>&1; then
    [ -s "$work/out/binarytrees.png" ] && [ -s "$work/out/binarytrees.svg" ] || fail "no plot"
    [ -s "$work/out/binarytrees-rss.png" ] && [ -s "$work/out/binarytrees-rss.svg" ] || fail "no time vs RSS plot"
fi

# Bad arguments: a clear message, the usage, status 2.
for bad in "--repeats x" "--multiples 0" "--plans nosuchplan" "--benchmarks nosuch" "--frobnicate" "--out"; do
    # shellcheck disable=SC2086
    "$compare" --build "$build" $bad >"$work/bad.out" 2>"$work/bad.err"
    status=$?
    [ "$status" -eq 2 ] || fail "'$bad' exited with $status, expected 2"
    grep -q '^usage: midden-compare' "$work/bad.err" || fail "'$bad' printed no usage"
done
echo "ok: $rows runs, table, summary and errors as expected"
