#!/usr/bin/env bash
# SGLang's request tracing (--enable-trace, --otlp-traces-endpoint) read as a generation service:
# tests/data/otlp/sglang.jsonl, hand-written in the layout of SGLang's observability/trace.py,
# req_time_stats.py and request_tracing.py (docs/otlp.md, "SGLang", where every figure below is
# worked by hand from the file's span times, in ms after its first span):
# - 5 traces: 4 requests (A and B ok, C cancelled by its client: finish reason abort, D an error:
#   its scheduler thread span ends in ERROR with the abort info), and E cut short (the export ended
#   before its Req root span): left out, counted in the one SGLang warning, not as a fragment;
# - stages (p95 = the larger of A's and B's): preprocess 2 (tokenize), dispatch 0.2, request_process
#   0.5, queue 9 (B's prefill_waiting; A's 5 + decode_waiting 0.5), prefill 15 (B's prefill_forward),
#   decode 36.1 (A's decode_forward), other 3.7 (A: 2.2-2.5 and 56.6-60);
# - tokens at prefill_forward's end and each decode_loop's end: A 20, 29.5, 38.5, 47.5, 56.5; B 35.5,
#   42.5, 50 (arrival 10): TTFT 20 and 25.5, TPOT 9.125 and 7.25, ITL 9.5, 9, 9, 9, 7, 7.5: p50 9 (3rd
#   of 6), p95 9.5 (6th), mean 51 / 6 = 8.5;
# - the verdict: decode, the model's time as a whole (group model), never "move it off the request
#   path"; prefill 26% a model candidate too, then queue 14%.
# Before (the ref binary, generic reading with vLLM's attributes on the Req root): no queue stage (its
# 9 ms inside a prefill of 25.9 ms), D read as cancelled, no ITL, E said to be a fragment.
# tests/data/otlp/sglang_odd.jsonl: hostile and partial shapes (docs/otlp.md, "SGLang"): counted in
# the warning, never a crash. A truncated file is an error naming the file and line.
# Run as: bash sglang_otlp.sh BINARY SOURCE_DIR
set -u
bin=$1
src=$2
fail=0
check() { if ! eval "$1"; then echo "FAIL: $1" >&2; fail=1; fi; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
f=$src/tests/data/otlp/sglang.jsonl
"$bin" analyze --no-progress --json "$f" > "$tmp/r.json" 2> "$tmp/r.err" ||
  { echo "FAIL: analyze sglang.jsonl: $(cat "$tmp/r.err")" >&2; fail=1; }
check "grep -qF \"4 requests read in SGLang's layout: tokenize is the preprocess stage\" '$tmp/r.err'"
check "grep -qF '0 of them with no slice read from their gen_ai.latency.* attributes; not read: 0 slices servprof does not map, 2 chunked_prefill slices (inside prefill_forward), 0 spans of other names, 9 span events (schedule, retract); left out: 1 trace cut short (5 spans with no request root span' '$tmp/r.err'"
check "[ \$(wc -l < '$tmp/r.err') = 1 ]"
check "! grep -qF 'with no request span' '$tmp/r.err'"
"$bin" analyze --no-progress "$f" > "$tmp/r.txt" 2>/dev/null || { echo "FAIL: analyze sglang.jsonl (text)" >&2; fail=1; }
check "grep -qF 'outcomes: 4 requests: 2 ok, 1 error, 1 cancelled' '$tmp/r.txt'"
check "grep -qE '^queue +5\.50 ms +9\.00 ms' '$tmp/r.txt'"
check "grep -qE '^prefill +12\.00 ms +15\.00 ms' '$tmp/r.txt'"
check "grep -qE '^decode +14\.70 ms +36\.10 ms' '$tmp/r.txt'"
check "grep -qF 'ITL    p50 9.00 ms   p95 9.50 ms' '$tmp/r.txt'"
sed -n '/^verdict:/,/^ *candidate/p' "$tmp/r.txt" | tr -s ' \n' ' ' > "$tmp/r.verdict"
check "grep -qF 'verdict: 50% of p95 latency is decode time as a whole (decode, model; the trace does not split it into kernel, gap and copies): record the steps' '$tmp/r.verdict'"
check "grep -qF 'Next: prefill 26% (model: record the steps' '$tmp/r.verdict'"
check "! grep -qE 'move it off the request path|not the bottleneck' '$tmp/r.txt'"
py=$(command -v python3 || true)
[ -n "$py" ] || { echo "SKIP: no python3" >&2; exit 77; }
field() { "$py" -c "import json,sys; d=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))" "$@"; }
check "[ \"\$(field '$tmp/r.json' \"[(k, v['count']) for k, v in d['outcomes']['by_outcome'].items() if v['count']]\")\" = \"[('ok', 2), ('error', 1), ('cancelled', 1)]\" ]"
check "[ \"\$(field '$tmp/r.json' \"d['requests']['latency_us']['p50'], d['requests']['latency_us']['p95']\")\" = '(42000.0, 60000.0)' ]"
check "[ \"\$(field '$tmp/r.json' \"[(s['name'], s['p95_us']) for s in d['stages'] if s['p95_us']]\")\" = \"[('queue', 9000.0), ('preprocess', 2000.0), ('decode', 36100.0), ('dispatch', 200.0), ('prefill', 15000.0), ('request_process', 500.0), ('other', 3700.0)]\" ]"
check "[ \"\$(field '$tmp/r.json' \"[(s['name'], s['mean_us']) for s in d['stages'] if s['name'] in ('queue', 'prefill', 'decode', 'other')]\")\" = \"[('queue', 7250.0), ('decode', 25400.0), ('prefill', 13500.0), ('other', 2850.0)]\" ]"
check "[ \"\$(field '$tmp/r.json' \"d['generation']['ttft_us']['min'], d['generation']['ttft_us']['max'], d['generation']['tpot_us']['min'], d['generation']['tpot_us']['max']\")\" = '(20000.0, 25500.0, 7250.0, 9125.0)' ]"
check "[ \"\$(field '$tmp/r.json' \"d['generation']['itl_us']['count'], d['generation']['itl_us']['p50'], d['generation']['itl_us']['p95'], d['generation']['itl_us']['mean'], d['generation']['itl_us']['min']\")\" = '(6, 9000.0, 9500.0, 8500.0, 7000.0)' ]"
check "[ \"\$(field '$tmp/r.json' \"d['generation']['output_tokens']\")\" = '8' ]"
check "[ \"\$(field '$tmp/r.json' \"d['verdict']['stage'], d['verdict']['group'], [(r['stage'], r['group']) for r in d['verdict']['ranking'][:3]]\")\" = \"('decode', 'model', [('decode', 'model'), ('prefill', 'model'), ('queue', 'configuration')])\" ]"
check "[ \"\$(field '$tmp/r.json' \"round(d['verdict']['share_of_p95'], 4)\")\" = '0.498' ]"
# a truncated file: an error naming the file and its line, exit 1, no crash
head -c 5000 "$f" > "$tmp/cut.jsonl"
"$bin" analyze --no-progress "$tmp/cut.jsonl" > /dev/null 2> "$tmp/cut.err"
rc=$?
check "[ $rc = 1 ]"
check "grep -qE 'cut\.jsonl: line 1, column [0-9]+ \(byte [0-9]+\): unterminated string' '$tmp/cut.err'"
exit $fail
