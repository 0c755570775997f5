#!/usr/bin/env bash
# Recording cost, the live metrics' cost and native import throughput (docs/BENCHMARKS.md "Recording",
# "Live metrics", "Native import").
# Usage: bash bench/record.bench.sh BUILD_DIR [IMPORT_EVENTS]
set -euo pipefail
build=${1:-build}
events=${2:-10000000}
b="$build/bench/bench_record"
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), load average $(cut -d' ' -f1-3 /proc/loadavg)"
"$b" record 5000000
"$b" sustain 5000000 10 || echo "sustain: drops seen (goal: none)"
"$b" metrics 2000000 3
trace=$(mktemp /tmp/servprof-bench-XXXXXX.sptrace)
trap 'rm -f "$trace"' EXIT
"$b" gen "$trace" "$events"
echo "trace bytes: $(stat -c %s "$trace")"
"$b" import "$trace"
