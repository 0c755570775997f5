#!/usr/bin/env bash
# `servprof demo --generate`: the generation service, the streaming load generator and the analysis
# tied together on real runs (a few seconds each):
#   1. --help documents the options; option mistakes are usage errors (exit 2) naming the option;
#   2. a default run (3 s): the server's and the client's figures agree within the measured network
#      time and the stages add up, per demo_generate_check.py (which says exactly what it proves: the
#      analysis' figures against a reference computed here from the raw records, each token's arrival
#      at the client no earlier than the server's record of it, the TTFT `network` row equal to the
#      measured network time, every table's rows summing to its total with `other` under 1% of p95);
#      the text report re-analysed from the kept traces has both tables and both verdicts;
#   3. the verdict follows the configuration: a small --max-num-seqs (2) offered 1.5x the service's
#      capacity (at least 60/s) -> TTFT verdict queue (configuration); long prompts (about 200 tokens)
#      with 2-token outputs at low load -> TTFT verdict prefill kernel (model). The capacity is
#      measured first (a saturating run's achieved rate), so the load is relative on a slow or
#      sanitised build too;
#   4. a 2x overload (twice that capacity, an 8-request queue) holds: every request is answered (ok or
#      503, no transport error, no broken stream), the traces analyse without --lenient, and the
#      report's rejected outcomes equal the 503s the client saw and the service counted.
# Assertions on timing are tolerant (which candidate wins, not its share). The decode-gap verdict of a
# tiny launch-bound model needs a GPU: scripts/gpu-check.sh. Usage: demo_generate.sh BINARY SOURCE_DIR.
# Skips (77) when the build has no service or load generator, or python3 is missing.
set -u
BIN=$1
SRC=$2
"$BIN" --help 2>/dev/null | grep -q '^  serve ' && "$BIN" --help 2>/dev/null | grep -q '^  load ' ||
  { echo "serve/load not built: skipped"; exit 77; }
command -v python3 >/dev/null || { echo "python3 missing: skipped"; exit 77; }
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
fail=0
check() { if ! eval "$1"; then echo "FAILED: $1"; fail=1; fi; }

# run NAME ARGS...: one generation demo with --json, its traces kept in $TMP/NAME; the report goes to
# $TMP/NAME.json, the run description (with --json on stderr) to $TMP/NAME.err
run() {
  local name=$1; shift
  if ! "$BIN" demo --generate --no-progress --json --keep-traces "$TMP/$name" "$@" > "$TMP/$name.json" 2> "$TMP/$name.err"; then
    echo "FAILED: servprof demo --generate $* exited non-zero:"; cat "$TMP/$name.err"; fail=1; return 1
  fi
}
# field NAME EXPR: a python expression over the report `r` (g = r["generation"])
field() {
  python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); g=r.get("generation"); print(eval(sys.argv[2]))' \
    "$TMP/$1.json" "$2"
}
# header NAME KEY: a figure of the demo's "load:" line: sent, ok, 503, other, failed, noresp, achieved
header() {
  python3 -c 'import re,sys
line = [l for l in open(sys.argv[1]) if l.startswith("load: ")][0]
m = re.match(r"load: (\d+) sent, (\d+) ok, (\d+) 503, (\d+) other status, (\d+) failed stream, (\d+) no response; achieved ([0-9.]+) ok/s", line)
print(m.group(["sent", "ok", "503", "other", "failed", "noresp", "achieved"].index(sys.argv[2]) + 1))' "$TMP/$1.err" "$2"
}

# 1. help and usage errors
"$BIN" demo --generate --help > "$TMP/help"
for opt in --duration --rate --prompt-mean --output-mean --max-num-seqs --max-num-batched-tokens --chunked-prefill \
           --prefill-bucket --kv-capacity-tokens --queue-capacity --layers --max-len --json --html --keep-traces; do
  check "grep -q -- '$opt' '$TMP/help'"
done
"$BIN" demo --help | grep -q -- '--generate' || { echo "FAILED: servprof demo --help does not mention --generate"; fail=1; }
"$BIN" demo --generate --heads 3 > /dev/null 2> "$TMP/err"
check "[ $? -eq 2 ] && grep -q -- '--heads 3 must divide --hidden 128' '$TMP/err'"
"$BIN" demo --generate --prompt-mean 300 --output-mean 300 > /dev/null 2> "$TMP/err"
check "[ $? -eq 2 ] && grep -q -- 'exceed the context --max-len 512' '$TMP/err'"
"$BIN" demo --generate --max-num-seqs 0 > /dev/null 2> "$TMP/err"
check "[ $? -eq 2 ] && grep -q -- '--max-num-seqs' '$TMP/err'"
# the step budget's default follows the context without chunked prefill (docs/demo.md), and --help
# says so: with --max-len 1024 the run description's policy has 1024 tokens per step, not 512
"$BIN" demo --generate --duration 0.2 --rate 1 --max-len 1024 --no-progress --json > /dev/null 2> "$TMP/err"
check "grep -q 'max-num-batched-tokens 1024, chunked prefill off' '$TMP/err'"
check "grep -A1 -- '--max-num-batched-tokens N' '$TMP/help' | grep -q 'raised to --max-len'"

# 2. agreement and partition on a default run
if run base --duration 3; then
  python3 "$SRC/tests/cli/demo_generate_check.py" "$TMP/base/server.sptrace" "$TMP/base/client.jsonl" \
    "$TMP/base.json" "$TMP/base.err" || fail=1
  check "[ '$(header base 503)' = 0 ] && [ '$(header base noresp)' = 0 ] && [ '$(header base failed)' = 0 ]"
  "$BIN" analyze "$TMP/base/server.sptrace" "$TMP/base/client.jsonl" > "$TMP/base.txt" 2>&1 || fail=1
  for want in '^TTFT stage' '^TPOT stage' '^TTFT verdict: ' '^TPOT verdict: ' 'client, from the intended send time'; do
    check "grep -q '$want' '$TMP/base.txt'"
  done
fi

# 3. the service's capacity with --max-num-seqs 2: the achieved rate of a saturating run (an 8-request
# queue answers the excess 503 at once)
cap=
if run cap --duration 2 --rate 300 --max-num-seqs 2 --queue-capacity 8; then
  cap=$(header cap achieved)
  echo "capacity with --max-num-seqs 2: $cap requests/s"
  check "[ '$(header cap 503)' -gt 0 ]"   # it did saturate
fi
if [ -n "$cap" ]; then
  # queue: offered 1.5x the capacity (at least 60/s), two sequences at a time and room to wait: the
  # queue grows while the load lasts. Not a fraction of the capacity: the capacity run may have shared
  # the machine with other tests that have ended since, and at 0.15 of the real capacity the prefill
  # kernel, not the queue, led TTFT
  busy=$(python3 -c "print(max(60.0, $cap * 1.5))")
  double=$(python3 -c "print($cap * 2)")
  if run queue --duration 3 --rate "$busy" --max-num-seqs 2; then
    check "[ '$(field queue 'g["ttft"]["verdict"]["stage"]')' = queue ]"
    check "[ '$(field queue 'g["ttft"]["verdict"]["group"]')' = configuration ]"
  fi
  # 4. a 2x overload holds with 503s
  if run over --duration 3 --rate "$double" --max-num-seqs 2 --queue-capacity 8; then
    sent=$(header over sent) ok=$(header over ok) n503=$(header over 503) other=$(header over other)
    check "[ '$n503' -gt 0 ] && [ '$ok' -gt 0 ]"
    # the client's e2e is over the successes, as its TTFT (load.md), not over the 503s too
    check "grep -q '^  e2e   p50 .* (n=$ok)\$' '$TMP/over.err' && grep -q '^  TTFT  p50 .* (n=$ok)\$' '$TMP/over.err'"
    check "[ '$(header over failed)' = 0 ] && [ '$(header over noresp)' = 0 ] && [ \$(( ok + n503 + other )) = '$sent' ]"
    check "grep -q \"rejected (queue full)\" '$TMP/over.err' && sed -n 's/.* \([0-9]*\) rejected (queue full)/\1/p' '$TMP/over.err' | grep -qx '$n503'"
    "$BIN" analyze --json "$TMP/over/server.sptrace" "$TMP/over/client.jsonl" > "$TMP/over2.json" 2> "$TMP/over2.err"
    check "[ $? -eq 0 ]"
    check "[ '$(field over2 'r["outcomes"]["by_outcome"]["rejected"]["count"]')' = '$n503' ]"
    check "[ '$(field over2 'r["outcomes"]["by_outcome"]["ok"]["count"]')' = '$ok' ]"
    check "[ '$(field over2 'r["outcomes"]["total"]')' = '$sent' ]"
  fi
fi
# prefill: long prompts, two output tokens, low load: the prompt's prefill is the first token's time
if run prefill --duration 3 --rate 4 --prompt-mean 200 --prompt-sigma 0.1 --output-mean 2 --output-sigma 0; then
  check "[ '$(field prefill 'g["ttft"]["verdict"]["stage"]')' = 'prefill kernel' ]"
  check "[ '$(field prefill 'g["ttft"]["verdict"]["group"]')' = model ]"
fi
if [ $fail -ne 0 ]; then
  for f in "$TMP"/*.err; do echo "== $f"; cat "$f"; done
  for n in queue prefill; do [ -s "$TMP/$n.json" ] && field $n 'g["ttft"]["verdict"]["sentence"]'; done
fi
exit $fail
