#!/bin/sh
# Install the Debian packages Midden needs, only those that are missing.
# Usage: scripts/install-deps.sh [test|bench|all]
set -eu
what=${1:-all}
pkgs="cmake gcc libc6-dev make pkg-config check"
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
  if ! command -v apt-get >/dev/null 2>&1; then
    echo "error: missing packages:$missing; install them by hand (this script uses apt-get)" >&2
    exit 1
  fi
  sudo=
  if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then
      sudo=sudo
    else
      echo "error: missing packages:$missing; run as root or install them first" >&2
      exit 1
    fi
  fi
  $sudo apt-get update -qq
  # shellcheck disable=SC2086
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing
fi
