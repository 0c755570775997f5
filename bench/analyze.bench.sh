#!/usr/bin/env bash
# Analyzer throughput on a synthetic 10M-event trace (bench/bench_analyze.c).
set -euo pipefail
build=${1:-build}
"$build/bench/bench_analyze" 10
