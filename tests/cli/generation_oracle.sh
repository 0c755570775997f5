#!/usr/bin/env bash
# The generation oracle (tests/cli/generation_oracle.py): random generation traces (steps, tokens,
# streaming clients) whose `generation` section (token figures, the TTFT and TPOT tables, steps, KV
# cache, cost per output token, the client's figures, the limits) is recomputed from docs/generation.md
# and docs/analysis.md section 9 alone and compared with `servprof analyze --json`, key by key; then one
# figure of each family is changed by one unit in a copy of a report, and the comparison must catch
# every one. On a difference the seed and the kept trace are printed. Under the sanitizer tree
# (SP_SANITIZED=1) fewer traces are run.
# Run as: bash generation_oracle.sh BINARY SOURCE_DIR
set -u
bin=$1
src=$2
py=/usr/bin/python3
[ -x "$py" ] || py=$(command -v python3) || { echo "python3 not found: skipped" >&2; exit 77; }
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
seeds=1:400
[ -n "${SP_SANITIZED:-}" ] && seeds=1:150
"$py" "$src/tests/cli/generation_oracle.py" "$bin" --seeds "$seeds" --out "$out" --doctor && exit 0
# keep the failing trace where it can be read after the temporary folder goes
keep=$(mktemp -d "${TMPDIR:-/tmp}/servprof_generation_oracle.XXXXXX") &&
  cp "$out"/genoracle_*.jsonl "$keep/" 2>/dev/null &&
  echo "the failing trace (named in the FAIL line) is copied to $keep/" >&2
exit 1
