#!/usr/bin/env bash
# `make bench`: runs every benchmark script bench/*.bench.sh with the build folder, in name order.
# Each prints its figures with the machine and a same-run reference ratio; docs/BENCHMARKS.md keeps them.
set -euo pipefail
build=${1:-build}
cd "$(dirname "$0")/.."
echo "machine: $(nproc) cores, $(free -g | awk '/Mem:/{print $2}') GiB, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
for s in bench/*.bench.sh; do
  [ -e "$s" ] || continue
  echo "== $s"
  bash "$s" "$build"
done
