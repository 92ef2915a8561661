#!/bin/sh
# Install the Debian packages Midden needs, only those that are missing.
# Usage: scripts/install-deps.sh [test|bench|all]
set -eu
what=${1:-all}
pkgs="cmake gcc make pkg-config check"
case "$what" in
  test)  pkgs="$pkgs doxygen valgrind libgc-dev libmimalloc-dev libjemalloc-dev gnuplot-nox" ;;
  bench) pkgs="$pkgs libgc-dev libmimalloc-dev libjemalloc-dev gnuplot-nox" ;;
  all)   pkgs="$pkgs doxygen valgrind libgc-dev libmimalloc-dev libjemalloc-dev gnuplot-nox" ;;
  *) echo "usage: $0 [test|bench|all]" >&2; exit 2 ;;
esac
missing=""
for p in $pkgs; do
  dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"
done
if [ -n "$missing" ]; then
  echo "installing:$missing"
  if [ "$(id -u)" -ne 0 ]; then
    echo "error: packages missing ($missing) and not running as root" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  # shellcheck disable=SC2086
  apt-get install -y -qq --no-install-recommends $missing
fi
