#!/bin/sh
# Build and run Midden's whole test suite, installing what is missing.
#
#   1. ASan+UBSan build: every test.
#   2. TSan build: the tests labelled "threads".
#   3. Release build with -Wall -Wextra -Werror, the API docs (Doxygen,
#      warnings are errors), and every test, the plan suites under
#      valgrind's memcheck among them; its CTest summary ends the run.
#
# MIDDEN_SOAK=1 also registers the long soak tests.
set -eu
cd "$(dirname "$0")/.."
sh scripts/install-deps.sh test

jobs=$(nproc 2>/dev/null || echo 2)
soak=${MIDDEN_SOAK:-0}
[ "$soak" = 1 ] && soak_opt=ON || soak_opt=OFF

echo "== ASan+UBSan build"
cmake --preset asan -DMIDDEN_SOAK=$soak_opt >/dev/null
cmake --build --preset asan -j "$jobs"
ctest --preset asan -j "$jobs"

echo "== TSan build (threaded tests)"
cmake --preset tsan -DMIDDEN_SOAK=$soak_opt >/dev/null
cmake --build --preset tsan -j "$jobs"
ctest --preset tsan -j "$jobs"

echo "== Release build (-Werror), docs, full suite"
cmake --preset release -DMIDDEN_SOAK=$soak_opt >/dev/null
cmake --build --preset release -j "$jobs"
cmake --build --preset release --target docs
ctest --preset release -j "$jobs"
