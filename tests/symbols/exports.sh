#!/bin/sh
# exports.sh LIB PLAN HEADER...: the shared library LIB of plan PLAN exports
# exactly the public API: every dynamic symbol it defines is a function
# declared in one of the public HEADERs, or mdn_plan_PLAN_linked (the symbol
# the plan's generated plan.h references); and every function the headers
# declare (not inline, not a binding's mdn_vm_* function) is exported.
set -eu
lib=$1
plan=$2
shift 2
status=0
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
nm -D --defined-only "$lib" | awk '$2 ~ /^[TDRBVWGSi]$/ { sub(/@.*/, "", $3); print $3 }' | sort -u >"$tmp/exported"
[ -s "$tmp/exported" ] || { echo "$lib: exports no symbol at all" >&2; exit 1; }
# Functions the public headers declare: "type name(" at the start of a line,
# not static inline, not typedefs; the binding's mdn_vm_* are the program's.
cat "$@" | grep -E '^[A-Za-z_][A-Za-z0-9_ ]*[ *]mdn_[a-z0-9_]+\(' | grep -Ev '^(static|typedef) ' |
    sed -E 's/^.*[ *](mdn_[a-z0-9_]+)\(.*$/\1/' | grep -v '^mdn_vm_' | sort -u >"$tmp/public"
[ -s "$tmp/public" ] || { echo "no public functions found in $*" >&2; exit 1; }
while read -r sym; do
    [ "$sym" = "mdn_plan_${plan}_linked" ] && continue
    if ! grep -qx "$sym" "$tmp/public"; then
        echo "$lib exports $sym, which is not in the public API" >&2
        status=1
    fi
done <"$tmp/exported"
while read -r sym; do
    if ! grep -qx "$sym" "$tmp/exported"; then
        echo "$lib does not export the public function $sym" >&2
        status=1
    fi
done <"$tmp/public"
grep -qx "mdn_plan_${plan}_linked" "$tmp/exported" || { echo "$lib does not export mdn_plan_${plan}_linked" >&2; status=1; }
[ $status -eq 0 ] && echo "$lib: $(wc -l <"$tmp/exported") exported symbols, all public"
exit $status
