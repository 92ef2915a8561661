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

packages="cmake gcc libc6-dev make pkg-config check libgc-dev libmimalloc-dev libjemalloc-dev gnuplot-nox"
missing=
for p in $packages; do
    dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"
done
if [ -n "$missing" ]; then
    if ! command -v apt-get >/dev/null 2>&1; then
        echo "run-comparison: missing packages:$missing; this script installs them with apt-get (Debian/Ubuntu)." >&2
        echo "Install them by hand, or build with cmake and run tools/compare/midden-compare." >&2
        exit 1
    fi
    sudo=
    if [ "$(id -u)" -ne 0 ]; then
        if command -v sudo >/dev/null 2>&1; then
            sudo=sudo
        else
            echo "run-comparison: missing packages:$missing; run as root or install them first." >&2
            exit 1
        fi
    fi
    echo "run-comparison: installing$missing"
    $sudo apt-get update
    # shellcheck disable=SC2086
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $missing
fi

cmake -S . -B build-release -DCMAKE_BUILD_TYPE=Release -DMIDDEN_BUILD_TESTS=OFF
cmake --build build-release -j "$(nproc 2>/dev/null || echo 2)"

exec tools/compare/midden-compare quick --build build-release --out results "$@"
