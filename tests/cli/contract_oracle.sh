#!/usr/bin/env bash
# The contract oracle (tests/cli/contract_oracle.py): random servprof.events/1 traces whose stage
# times, percentiles, shares, padding, GPU figures and cost are recomputed from DESIGN sections 3 to 7
# alone (docs/analysis.md where DESIGN leaves the choice to the project) and compared with
# `servprof analyze --json`, key by key; then one figure of each family is changed by one unit in a
# copy of a report, and the comparison must catch every one. On a difference the seed and the kept
# trace are printed. Under the sanitizer tree (SP_SANITIZED=1) fewer small traces are run.
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
[ -n "${SP_SANITIZED:-}" ] && seeds=1:100 # the 66,000-request trace stays: the two-thread steps under the sanitizers
"$py" "$src/tests/cli/contract_oracle.py" "$bin" --seeds "$seeds" --out "$out" --doctor $big && exit 0
# keep the failing trace where it can be read after the temporary folder goes
keep=$(mktemp -d "${TMPDIR:-/tmp}/servprof_contract_oracle.XXXXXX") &&
  cp "$out"/oracle_*.jsonl "$keep/" 2>/dev/null &&
  echo "the failing trace (named in the FAIL line) is copied to $keep/" >&2
exit 1
