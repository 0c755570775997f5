#!/usr/bin/env bash
# `make demo`: runs the embedded demo with its defaults (servprof demo: the reference service in
# process, driven by the open-loop load generator for 10 s, both traces merged and analysed; see
# docs/demo.md) and prints the report. Arguments after BUILD_DIR go to `servprof demo`, e.g.
# `make demo DEMO_ARGS="--rate 20 --max-queue-delay-ms 50"`. When the build has no reference service
# the command itself falls back to a simulated trace (servprof synth) and says so.
# Usage: scripts/demo.sh BUILD_DIR [DEMO OPTIONS]
set -euo pipefail
build=${1:-build}
shift || true
bin="$build/servprof"
[ -x "$bin" ] || { echo "demo: $bin not found; build first (make build)" >&2; exit 1; }
perfetto="$build/demo-trace.perfetto.json"

echo "== servprof demo --perfetto $perfetto $*" >&2
"$bin" demo --perfetto "$perfetto" --html "${perfetto%.perfetto.json}.html" "$@"
echo >&2
echo "JSON report:         $bin demo --json" >&2
echo "Keep the traces:     $bin demo --keep-traces DIR   (then: servprof analyze DIR/*)" >&2
echo "Other verdicts:      docs/demo.md (\"Reproducing a verdict\")" >&2
