#!/bin/sh
# Run the stress tester of every plan built in BUILD-DIR for mutator
# threads {1,2,4} x GC threads {1,2} (plus stress= and verify=1 runs) and
# print a Markdown table of operations and collections survived.
#
#   tests/stress/figures.sh BUILD-DIR [OPS] [SEED]
#
# OPS is the operations of each run, all threads together (default
# 1000000); SEED defaults to 1. Exits non-zero if any run fails.
set -eu
build=${1:?usage: figures.sh BUILD-DIR [OPS] [SEED]}
ops=${2:-1000000}
seed=${3:-1}
status=0
printf '| plan | mutators | GC threads | extra | ops | collections | full | thread checks after GC | model checks | time s |\n'
printf '|---|---|---|---|---|---|---|---|---|---|\n'
for exe in "$build"/tests/stress/stress_*; do
    [ -x "$exe" ] || continue
    plan=${exe##*/stress_}
    for run in "1 1" "1 2" "2 1" "2 2" "4 1" "4 2" "2 2 stress=256K" "2 2 verify=1"; do
        set -- $run
        m=$1 g=$2 extra=${3:-}
        out=$("$exe" seed="$seed" ops=$((ops / m)) threads="$m" gc-threads="$g" $extra 2>&1) || {
            status=1
            echo "$out" | grep -E 'FAILED|replay' >&2 || echo "$out" | tail -5 >&2
            printf '| %s | %s | %s | %s | FAILED | | | | | |\n' "$plan" "$m" "$g" "$extra"
            continue
        }
        line=$(echo "$out" | grep 'passed plan=')
        field() { echo "$line" | sed -n "s/.* $1=\([^ ]*\).*/\1/p"; }
        printf '| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n' "$plan" "$m" "$g" "${extra:--}" \
            "$(field ops)" "$(field collections)" "$(field full)" "$(field thread-collections-checked)" \
            "$(field model-checks)" "$(field time-s)"
    done
done
exit $status
