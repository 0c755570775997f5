#!/usr/bin/env bash
# servprof whatif at the command line: --help documents every option, usage errors exit 2 with a
# message, a missing trace exits 1 naming it, and a sample trace gives a table, JSON and an SLO line.
# Usage: whatif.sh BINARY SOURCE_DIR
set -u
BIN=$1
fail=0
t() { if ! "$@"; then echo "FAIL: $*" >&2; fail=1; fi; }
if ! "$BIN" --help | grep -q whatif; then echo "whatif not built: skip"; exit 77; fi
help=$("$BIN" whatif --help); t test $? -eq 0
for o in --max-batch --max-queue-delay-ms --pad --instances --queue-capacity --max-len \
         --observed-max-batch --observed-delay-ms --observed-pad --observed-instances --model \
         --no-resample --seed --price-per-hour --slo-p95-ms --json --lenient --output --help; do
  t grep -q -- "$o" <<<"$help"
done
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
"$BIN" whatif >/dev/null 2>"$tmp/e"; t test $? -eq 2
"$BIN" whatif --max-batch 0 x 2>"$tmp/e"; t test $? -eq 2; t grep -q "max-batch" "$tmp/e"
"$BIN" whatif --pad shortest x 2>"$tmp/e"; t test $? -eq 2; t grep -q "shortest" "$tmp/e"
"$BIN" whatif --slo-p95-ms -3 x 2>"$tmp/e"; t test $? -eq 2
"$BIN" whatif --bogus x 2>"$tmp/e"; t test $? -eq 2; t grep -q "bogus" "$tmp/e"
"$BIN" whatif "$tmp/nope.jsonl" 2>"$tmp/e"; t test $? -eq 1; t grep -q "nope.jsonl" "$tmp/e"
# end to end on a sample trace
"$BIN" synth --requests 400 --seed 3 >"$tmp/s.jsonl" 2>/dev/null
t test -s "$tmp/s.jsonl"
{
  out=$("$BIN" whatif "$tmp/s.jsonl" --max-batch 4,8 --pad 'longest;static:128' --slo-p95-ms 1000 --no-resample)
  t test $? -eq 0
  t grep -q "service time fit over" <<<"$out"
  t grep -q "observed\*" <<<"$out"
  t grep -q "measured (the profile itself)" <<<"$out"
  t grep -q "mb=8 delay=.*pad=static:128" <<<"$out"
  t grep -q "SLO p95 <= 1000.00 ms" <<<"$out"
  # 1 observed row + 2 x 2 candidates
  t test "$(grep -c '^mb=' <<<"$out")" -eq 4
  js=$("$BIN" whatif "$tmp/s.jsonl" --json --slo-p95-ms 0.001)
  t grep -q '"schema":"servprof.whatif/1"' <<<"$js"
  t grep -q '"choice":null' <<<"$js"
  if command -v python3 >/dev/null; then t python3 -c 'import json,sys; json.loads(sys.stdin.read())' <<<"$js"; fi
  # --html: the trace's report with the what-if rows (2 candidates + the observed baseline)
  "$BIN" whatif "$tmp/s.jsonl" --max-batch 4,8 --html "$tmp/w.html" >/dev/null 2>"$tmp/e"
  t test $? -eq 0
  t grep -q "what-if results" "$tmp/w.html"
  t grep -q "observed\* mb=" "$tmp/w.html"
  t grep -q "mb=8 delay=" "$tmp/w.html"
}
exit $fail
