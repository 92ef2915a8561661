#!/bin/sh
# run-output.sh EXPECTED_FILE HEAP PROGRAM ARGS...
# Runs PROGRAM with MDN_HEAP=HEAP ('-' for none) and passes when it exits 0
# and its standard output equals EXPECTED_FILE byte for byte.
set -u
expected=$1 heap=$2
shift 2
actual=$(mktemp)
trap 'rm -f "$actual"' EXIT
if [ "$heap" = - ]; then
    "$@" >"$actual" 2>/dev/null
else
    MDN_HEAP=$heap "$@" >"$actual" 2>/dev/null
fi
status=$?
if [ "$status" -ne 0 ]; then
    echo "FAIL: $* exited with status $status" >&2
    exit 1
fi
if ! cmp -s "$expected" "$actual"; then
    echo "FAIL: output of $* differs from $expected:" >&2
    diff "$expected" "$actual" >&2
    exit 1
fi
echo "ok: $* matches $expected"
