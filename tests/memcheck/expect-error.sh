#!/bin/sh
# expect-error.sh VALGRIND-COMMAND... PROGRAM: pass only when memcheck
# reports an error (exit 99, the --error-exitcode of tests/memcheck).
"$@" >/dev/null 2>&1
rc=$?
if [ "$rc" -eq 99 ]; then
    echo "memcheck reported the canary's error, as it should"
    exit 0
fi
echo "memcheck exited $rc on the canary, not 99: memory errors would go unreported" >&2
exit 1
