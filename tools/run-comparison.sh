#!/bin/sh
# run-comparison.sh: from a fresh Debian machine to the quick plan comparison.
#
#   tools/run-comparison.sh [midden-compare arguments...]
#
# Installs the build tools and baseline libraries that are missing (apt-get,
# only when something is absent), builds Midden in Release in build-release/,
# and runs `midden-compare quick --out results` (arguments are passed on, so
# `tools/run-comparison.sh full` runs the full comparison). Prints the table
# and where the plots and the CSV are.
set -eu

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

sh scripts/install-deps.sh bench

cmake -S . -B build-release -DCMAKE_BUILD_TYPE=Release -DMIDDEN_BUILD_TESTS=OFF
cmake --build build-release -j "$(nproc 2>/dev/null || echo 2)"

exec tools/compare/midden-compare quick --build build-release --out results "$@"
