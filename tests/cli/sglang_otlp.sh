#!/usr/bin/env bash
# SGLang's request tracing (--enable-trace, --otlp-traces-endpoint) read as a generation service:
# tests/data/otlp/sglang.jsonl, hand-written in the layout of SGLang's observability/trace.py,
# req_time_stats.py and request_tracing.py (docs/otlp.md, "SGLang", where every figure below is
# worked by hand from the file's span times, in ms after its first span):
# - 5 requests: A and B ok, C cancelled by its client (finish reason abort), D an error (its scheduler
#   thread span ends in ERROR with the abort info), E unfinished (cut short: the export ended before
#   its Req root span; arrival 55, its first span's start), counted in the one SGLang warning, not as
#   a fragment;
# - stages (p95 = the larger of A's and B's): preprocess 2 (tokenize), dispatch 0.2, request_process
#   0.5, queue 9 (B's prefill_waiting; A's 5 + decode_waiting 0.5), prefill 15 (B's prefill_forward),
#   decode 36.1 (A's decode_forward), other 3.7 (A: 2.2-2.5 and 56.6-60);
# - tokens at prefill_forward's end and each decode_loop's end: A 20, 29.5, 38.5, 47.5, 56.5; B 35.5,
#   42.5, 50 (arrival 10): TTFT 20 and 25.5, TPOT 9.125 and 7.25, ITL 9.5, 9, 9, 9, 7, 7.5: p50 9 (3rd
#   of 6), p95 9.5 (6th), mean 51 / 6 = 8.5;
# - the verdict: decode, the model's time as a whole (group model), never "move it off the request
#   path"; prefill 26% a model candidate too, then queue 14%; 2 ok requests of 5, so it opens with what
#   it rests on (docs/analysis.md section 6, "Few served requests").
# Before (the ref binary, generic reading with vLLM's attributes on the Req root): no queue stage (its
# 9 ms inside a prefill of 25.9 ms), D read as cancelled, no ITL, E left out as a fragment.
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
check "grep -qF '1 of them with no prefill or decode slice read from their gen_ai.latency.* attributes as vLLM'\\''s; not read: 0 slices servprof does not map, 2 chunked_prefill slices (inside prefill_forward), 0 spans of other names, 9 span events (schedule, retract); 1 trace cut short read as an unfinished request (5 spans with no request root span' '$tmp/r.err'"
check "[ \$(wc -l < '$tmp/r.err') = 1 ]"
# the warning whole (1,125 characters): sp_log formatted into 1,024 bytes and cut it mid-sentence
check "grep -qF 'slices its stages) (docs/otlp.md, \"SGLang\")' '$tmp/r.err'"
check "! grep -qF 'with no request span' '$tmp/r.err'"
"$bin" analyze --no-progress "$f" > "$tmp/r.txt" 2>/dev/null || { echo "FAIL: analyze sglang.jsonl (text)" >&2; fail=1; }
check "grep -qF 'outcomes: 5 requests: 2 ok, 1 error, 1 cancelled, 1 unfinished' '$tmp/r.txt'"
check "grep -qE '^queue +5\.50 ms +9\.00 ms' '$tmp/r.txt'"
check "grep -qE '^prefill +12\.00 ms +15\.00 ms' '$tmp/r.txt'"
check "grep -qE '^decode +14\.70 ms +36\.10 ms' '$tmp/r.txt'"
check "grep -qF 'ITL    p50 9.00 ms   p95 9.50 ms' '$tmp/r.txt'"
sed -n '/^verdict:/,/^ *candidate/p' "$tmp/r.txt" | tr -s ' \n' ' ' > "$tmp/r.verdict"
check "grep -qF 'verdict: This verdict rests on 2 ok requests of 5 (1 error, 1 cancelled, 1 unfinished), fewer than 20: too few to call the model the bottleneck or rule it out. 50% of p95 latency is decode time as a whole (decode, model; the trace does not split it into kernel, gap and copies): record the steps' '$tmp/r.verdict'"
check "grep -qF 'Next: prefill 26% (model: record the steps' '$tmp/r.verdict'"
check "! grep -qE 'move it off the request path|not the bottleneck' '$tmp/r.txt'"
py=$(command -v python3 || true)
[ -n "$py" ] || { echo "SKIP: no python3" >&2; exit 77; }
field() { "$py" -c "import json,sys; d=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))" "$@"; }
check "[ \"\$(field '$tmp/r.json' \"[(k, v['count']) for k, v in d['outcomes']['by_outcome'].items() if v['count']]\")\" = \"[('ok', 2), ('error', 1), ('cancelled', 1), ('unfinished', 1)]\" ]"
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
# a slice without its end: the span is malformed (file, line, column), exit 1; --lenient skips it
sed '2s/"name":"prefill_forward","kind":1,"startTimeUnixNano":"\([0-9]*\)","endTimeUnixNano":"[0-9]*"/"name":"prefill_forward","kind":1,"startTimeUnixNano":"\1"/' "$f" > "$tmp/noend.jsonl"
"$bin" analyze --no-progress "$tmp/noend.jsonl" > /dev/null 2> "$tmp/noend.err"
rc=$?
check "[ $rc = 1 ]"
check "grep -qF 'noend.jsonl:2:1253: span: missing \"endTimeUnixNano\"' '$tmp/noend.err'"
"$bin" analyze --no-progress --lenient "$tmp/noend.jsonl" > "$tmp/noend.txt" 2>/dev/null ||
  { echo "FAIL: analyze --lenient noend.jsonl" >&2; fail=1; }
check "grep -qF '1 malformed or unresolved record skipped' '$tmp/noend.txt'"
# partial and hostile shapes (tests/data/otlp/sglang_odd.jsonl; docs/otlp.md, "SGLang"): F's Req root
# is a child of the caller's span, not in the file (before: a fragment, left out); G has no scheduler
# spans: its gen_ai.latency.* attributes give its prefill, decode and first and last tokens (TTFT 10,
# TPOT 20 / 3); H's abort info says 503 (rejected, its status kept); I is a KV transfer's trace
# (sglang::mooncake), no request; J lacks attributes (its root has only its module, decode_loop no
# decode_ct, a thread_label that is no string, so that span is one of another name, as is
# my_custom_slice) and has a spec_verify slice; N decodes speculatively: completion_tokens 6 over a
# prefill and 2 decode steps (702, 705, 708 ms), so its last step's token takes index 5: TPOT (708 -
# 702) / 5 = 1.2 ms (before: 3 ms, over the 2 steps), ITL only its 3 ms pair; P's tokenizer thread
# span is in ERROR with the tracer's own "have unclosed span, auto closed": ok (its finish reason);
# Q holds the Req spans of PD disaggregation's prefill and decode servers: one request, counted; K and M (line 3) use SGLang's slice names without its
# root or thread spans (K's span in ERROR has thread_label and pid but not the name SGLang gives a
# thread span: a child's status, not read): read as before, as generic spans (no prefill or decode
# stage, both ok).
o=$src/tests/data/otlp/sglang_odd.jsonl
"$bin" analyze --no-progress --json "$o" > "$tmp/o.json" 2> "$tmp/o.err" ||
  { echo "FAIL: analyze sglang_odd.jsonl: $(cat "$tmp/o.err")" >&2; fail=1; }
check "grep -qF \"7 requests read in SGLang's layout\" '$tmp/o.err'"
check "grep -qF '4 of them with no prefill or decode slice' '$tmp/o.err'"
check "grep -qF 'left out: 1 trace of another module (e.g. sglang::mooncake'\\''s KV transfers); 1 request with more than one Req span' '$tmp/o.err'"
check "grep -qF 'not read: 1 slice servprof does not map (spec_verify 1), 0 chunked_prefill slices (inside prefill_forward), 2 spans of other names, 0 span events' '$tmp/o.err'"
check "grep -qF '0 traces cut short read as unfinished requests (0 spans with no request root span: the export ended before the request did, so no stages); left out: 1 trace of another module' '$tmp/o.err'"
check "[ \$(wc -l < '$tmp/o.err') = 1 ]"
check "[ \"\$(field '$tmp/o.json' \"[(k, v['count']) for k, v in d['outcomes']['by_outcome'].items() if v['count']], d['outcomes']['statuses']\")\" = \"([('ok', 8), ('rejected', 1)], [{'status': 503, 'count': 1}])\" ]"
check "[ \"\$(field '$tmp/o.json' \"d['generation']['ttft_us']['min'], d['generation']['ttft_us']['max'], d['generation']['tpot_us']['min'], d['generation']['tpot_us']['max'], d['generation']['output_tokens']\")\" = '(2000.0, 10000.0, 1200.0, 6666.667, 17)' ]"
check "[ \"\$(field '$tmp/o.json' \"d['generation']['itl_us']['count'], d['generation']['itl_us']['p50'], d['generation']['itl_us']['p95'], d['generation']['itl_us']['mean']\")\" = '(6, 5000.0, 6500.0, 5166.667)' ]"
sed -n 3p "$o" > "$tmp/generic.jsonl"
"$bin" analyze --no-progress --json "$tmp/generic.jsonl" > "$tmp/g.json" 2> "$tmp/g.err" || { echo "FAIL: analyze generic.jsonl" >&2; fail=1; }
check "[ ! -s '$tmp/g.err' ]"
check "[ \"\$(field '$tmp/g.json' \"d['requests']['count'], d['outcomes']['by_outcome']['ok']['count'], 'generation' in d, [(s['name'], s['p95_us']) for s in d['stages'] if s['p95_us']]\")\" = \"(2, 2, False, [('preprocess', 1000.0), ('other', 20000.0)])\" ]"
# every slice name SGLang writes (docs/otlp.md, "SGLang"), one request each: the mapped names as their
# stages (dispatch's four spellings 1 ms each: 4 ms; decode_waiting 1 ms of queue), the 11 unmapped
# ones counted by name, and a name SGLang does not write (prefill_forwards) as one of another name
"$py" - "$tmp/names.jsonl" <<'PY'
import json, sys
names = ["tokenize", "dispatch", "api_server_dispatch", "dc_dispatch", "dpc_dispatch", "request_process",
         "prefill_waiting", "prefill_forward", "chunked_prefill", "decode_waiting", "decode_forward",
         "decode_loop", "prefill_prepare", "prefill_bootstrap", "prefill_transfer_kv_cache", "decode_prepare",
         "decode_bootstrap", "decode_transferred", "fake_output", "quick_finish", "mini_lb_launch",
         "wait_pd_finish", "spec_verify", "prefill_forwards"]
T0 = 1765000000000000000
tr = "00000000000000005a1e0000000000ff"
sid = lambda k: "%016x" % (0xff00 + k)
attr = lambda k, v: {"key": k, "value": {"stringValue": v}}
spans = [{"traceId": tr, "spanId": sid(0), "name": " Req 00ff00ff", "kind": 1,
          "startTimeUnixNano": str(T0), "endTimeUnixNano": str(T0 + 30000000),
          "attributes": [attr("module", "sglang::request")]}]
for i, n in enumerate(names):
    spans.append({"traceId": tr, "spanId": sid(i + 1), "parentSpanId": sid(0), "name": n, "kind": 1,
                  "startTimeUnixNano": str(T0 + i * 1000000), "endTimeUnixNano": str(T0 + (i + 1) * 1000000)})
json.dump({"resourceSpans": [{"scopeSpans": [{"spans": spans}]}]}, open(sys.argv[1], "w"))
PY
"$bin" analyze --no-progress --json "$tmp/names.jsonl" > "$tmp/names.json" 2> "$tmp/names.err" || { echo "FAIL: analyze names.jsonl" >&2; fail=1; }
check "grep -qF 'not read: 11 slices servprof does not map (prefill_prepare 1, prefill_bootstrap 1, prefill_transfer_kv_cache 1, decode_prepare 1, decode_bootstrap 1, decode_transferred 1, fake_output 1, quick_finish 1, mini_lb_launch 1, wait_pd_finish 1, spec_verify 1), 1 chunked_prefill slice (inside prefill_forward), 1 span of other names' '$tmp/names.err'"
check "[ \"\$(field '$tmp/names.json' \"[(s['name'], s['p95_us']) for s in d['stages'] if s['p95_us']]\")\" = \"[('queue', 2000.0), ('preprocess', 1000.0), ('decode', 1000.0), ('dispatch', 4000.0), ('prefill', 1000.0), ('request_process', 1000.0), ('other', 20000.0)]\" ]"
exit $fail
