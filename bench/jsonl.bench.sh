#!/usr/bin/env bash
# JSONL import throughput and memory per event (docs/BENCHMARKS.md, "JSONL import").
# Usage: bash bench/jsonl.bench.sh [BUILD_DIR]; SP_BENCH_JSONL_MB sets the trace size (default 300).
set -euo pipefail
build=${1:-build}
"$build/bench/bench_jsonl" "${SP_BENCH_JSONL_PATH:-/tmp/servprof_bench.jsonl}" "${SP_BENCH_JSONL_MB:-300}"
