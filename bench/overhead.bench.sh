#!/usr/bin/env bash
# Recording overhead on the CPU reference service (issue 15; docs/BENCHMARKS.md "Recording overhead
# to 1%"): bench/overhead.py with recording off and the recorder on (`serve --device cpu`, open loop
# on loopback), interleaved rounds until the 95% interval of the CPU-per-request ratio is narrower
# than 1% or OVERHEAD_DEADLINE seconds (default 600) have passed. The GPU machine's version, with
# the CUPTI modes, is scripts/gpu-overhead.sh.
# The two modes of a round run at the same time, each server with its load on a CPU of its own
# (overhead.py --concurrent): on a shared machine that halves the spread of the per-round ratio
# (docs/BENCHMARKS.md); OVERHEAD_CONCURRENT=0 runs them one after the other (needed for --compare on
# two CPUs: three modes).
# Usage: bash bench/overhead.bench.sh [BUILD_DIR [overhead.py options...]]
#        (OVERHEAD_RATE default 800/s, OVERHEAD_REQS 3000; e.g. `--out FILE`, `--compare OTHER/servprof`)
set -uo pipefail
build=${1:-build}
cd "$(dirname "$0")/.."
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), load average $(cut -d' ' -f1-3 /proc/loadavg)"
conc=()
[ "${OVERHEAD_CONCURRENT:-1}" = 1 ] && [ "$(nproc)" -ge 2 ] && conc=(--concurrent)
python3 bench/overhead.py --servprof "$build/servprof" --device cpu --modes off,rec "${conc[@]}" \
  --rate "${OVERHEAD_RATE:-800}" --requests "${OVERHEAD_REQS:-3000}" --warm 300 \
  --deadline "${OVERHEAD_DEADLINE:-600}" --max-rounds 800 "${@:2}"
rc=$?
[ $rc -eq 3 ] && echo "note: the 1% target width was not reached before the deadline (a busy machine); the interval above is what the rounds gave"
exit 0
