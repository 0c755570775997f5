#!/usr/bin/env bash
# The contract oracle (tests/cli/contract_oracle.py): random servprof.events/1 traces whose stage
# times, percentiles, shares, padding, GPU figures and cost are recomputed from DESIGN sections 3 to 7
# alone (docs/analysis.md where DESIGN leaves the choice to the project) and compared with
# `servprof analyze --json`, key by key; then one figure of each family is changed by one unit in a
# copy of a report, and the comparison must catch every one. On a difference the seed and the kept
# trace are printed. Under the sanitizer tree (SP_SANITIZED=1) fewer traces are run.
# Run as: bash contract_oracle.sh BINARY SOURCE_DIR
set -u
bin=$1
src=$2
py=/usr/bin/python3
[ -x "$py" ] || py=$(command -v python3) || { echo "python3 not found: skipped" >&2; exit 77; }
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
seeds=1:400
big=--big=66000
[ -n "${SP_SANITIZED:-}" ] && { seeds=1:60; big=; }
"$py" "$src/tests/cli/contract_oracle.py" "$bin" --seeds "$seeds" --out "$out" --doctor $big && exit 0
# keep the failing trace where it can be read after the temporary folder goes
mkdir -p "${TMPDIR:-/tmp}/servprof_contract_oracle"
cp "$out"/oracle_*.jsonl "${TMPDIR:-/tmp}/servprof_contract_oracle/" 2>/dev/null &&
  echo "failing trace copied to ${TMPDIR:-/tmp}/servprof_contract_oracle/" >&2
exit 1
