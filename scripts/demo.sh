#!/usr/bin/env bash
# `make demo` until the reference service lands: synthesises a sample trace of a dynamically-batched
# GPU service (servprof synth, docs/synth.md), analyses it, prints the report and writes a Perfetto
# trace next to it. Usage: scripts/demo.sh BUILD_DIR
set -euo pipefail
build=${1:-build}
bin="$build/servprof"
[ -x "$bin" ] || { echo "demo: $bin not found; build first (make build)" >&2; exit 1; }
trace="$build/demo-trace.jsonl"
perfetto="$build/demo-trace.perfetto.json"

echo "== servprof synth --gpu --requests 2000 --seed 1 -o $trace" >&2
"$bin" synth --gpu --requests 2000 --seed 1 -o "$trace"
echo "== servprof analyze --perfetto $perfetto $trace" >&2
echo >&2
"$bin" analyze --perfetto "$perfetto" "$trace"
echo >&2
echo "JSON report:    $bin analyze --json $trace" >&2
echo "Perfetto trace: $perfetto (open it in https://ui.perfetto.dev)" >&2
