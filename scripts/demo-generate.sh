#!/usr/bin/env bash
# `make demo-generate`: runs the generation demo with its defaults (servprof demo --generate: the text
# generation service in process, driven by the streaming load generator for 5 s, both traces merged
# and analysed; see docs/demo.md "Generation") and prints the report with its TTFT and TPOT tables.
# Arguments after BUILD_DIR go to `servprof demo --generate`, e.g.
# `make demo-generate DEMO_ARGS="--max-num-seqs 2 --rate 40"`.
# Usage: scripts/demo-generate.sh BUILD_DIR [DEMO OPTIONS]
set -euo pipefail
build=${1:-build}
shift || true
bin="$build/servprof"
[ -x "$bin" ] || { echo "demo-generate: $bin not found; build first (make build)" >&2; exit 1; }
out="$build/demo-generate"

echo "== servprof demo --generate --perfetto $out.perfetto.json --html $out.html $*" >&2
"$bin" demo --generate --perfetto "$out.perfetto.json" --html "$out.html" "$@"
echo >&2
echo "JSON report:         $bin demo --generate --json" >&2
echo "Keep the traces:     $bin demo --generate --keep-traces DIR   (then: servprof analyze DIR/*)" >&2
echo "Other verdicts:      docs/demo.md (\"Generation\")" >&2
