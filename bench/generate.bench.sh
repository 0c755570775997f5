#!/usr/bin/env bash
# Generated tokens per second of the CPU reference decoder (docs/BENCHMARKS.md "Generation"), with an
# sgemm rate and the encoder's throughput measured in the same run as references; in a build with the
# CUDA backend on a GPU machine also the CUDA decoder's decode tokens per second, eager and with CUDA
# graphs (scripts/gpu-check.sh step 13 runs it).
# Usage: bash bench/generate.bench.sh BUILD_DIR [REPEATS]
set -euo pipefail
build=${1:-build}
b="$build/bench/bench_generate"
[ -x "$b" ] || { echo "bench_generate not built (servprof serve compiled out): skipped"; exit 0; }
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), load average $(cut -d' ' -f1-3 /proc/loadavg)"
# the module lies in the build's top directory, not beside bench/
[ -f "$build/libservprof-cuda.so" ] && [ -z "${SERVPROF_CUDA_MODULE:-}" ] && export SERVPROF_CUDA_MODULE="$build/libservprof-cuda.so"
"$b" "${2:-5}"
