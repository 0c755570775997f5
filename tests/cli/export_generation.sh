#!/usr/bin/env bash
# A generation trace through `servprof export --otlp` and back (docs/otlp.md, "Export", "Read back"):
# `analyze --json` of the export gives the original's generation section (TTFT, TPOT, ITL, e2e, output
# tokens, the TTFT and TPOT tables and verdicts, steps and their phases, KV cache, cost per output
# token). Before, the export carried no token times or step phases and the read-back report had no
# generation section at all (`null`), so every comparison below failed on that binary.
#
# What may differ, by design, and how each case is compared:
# - device activity (kernels, copies) is not exported: a JSONL fixture's export is compared with the
#   original less its kernel and copy lines (the same trace as a span-only service would record it),
#   where every key of the sections below must be equal; the demo's native trace (kernels recorded,
#   not removable here) is compared on the figures that do not split a step's device time: TTFT, TPOT,
#   ITL, e2e, output tokens, the tables' totals, steps, KV cache, cost per output token, limits;
# - unfinished requests are exported (docs/otlp.md, "Export"), so an SGLang trace cut short reads back
#   with its unfinished request, and the verdict sentences, which quote the failure rate over all
#   requests, are compared too (before, when the export left unfinished requests out, they differed and
#   were not compared);
# - data_quality's file path and clock.trace_context (every exported request carries a trace context)
#   are not compared.
# Usage: export_generation.sh BINARY SOURCE_DIR. Skips (77) without python3.
set -u
BIN=$1
SRC=$2
command -v python3 >/dev/null || { echo "python3 missing: skipped"; exit 77; }
fail=0
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

# compare ORIGINAL.json EXPORT.json MODE: MODE full (every key of the sections), spans (the generation
# section's keys) or figures (the device-free figures)
cat > "$TMP/cmp.py" <<'PY'
import json, sys
a = json.load(open(sys.argv[1])); b = json.load(open(sys.argv[2])); mode = sys.argv[3]; what = sys.argv[4]
ok = True
def diff(x, y, path):
    global ok
    if type(x) != type(y) or (not isinstance(x, (dict, list)) and x != y):
        print(f"FAILED: {what}: {path}: {x!r:.120} in the original, {y!r:.120} in the export")
        ok = False
    elif isinstance(x, dict):
        for k in sorted(set(x) | set(y)):
            diff(x.get(k), y.get(k), f"{path}.{k}")
    elif isinstance(x, list):
        if len(x) != len(y):
            print(f"FAILED: {what}: {path}: {len(x)} elements in the original, {len(y)} in the export")
            ok = False
        for i, (u, v) in enumerate(zip(x, y)):
            diff(u, v, f"{path}[{i}]")
ga, gb = a.get("generation"), b.get("generation")
if not ga:
    print(f"FAILED: {what}: the original has no generation section (not a generation fixture?)")
    sys.exit(1)
if not gb:
    print(f"FAILED: {what}: the export's report has no generation section")
    sys.exit(1)
if mode == "figures":
    keys = ["requests", "requests_without_first_token", "requests_bad_tokens", "output_tokens",
            "output_tokens_per_request", "ttft_us", "tpot_us", "itl_us", "e2e_us", "ttft_from", "steps",
            "kv_cache", "limits"]
    for k in keys:
        diff(ga.get(k), gb.get(k), f"generation.{k}")
    for t in ("ttft", "tpot"):
        diff(ga[t]["count"], gb[t]["count"], f"generation.{t}.count")
        diff(ga[t]["value_us"], gb[t]["value_us"], f"generation.{t}.value_us")
    for k in ("per_output_token", "request_cost_per_output_token"):
        diff(ga["cost"][k], gb["cost"][k], f"generation.cost.{k}")
else:
    diff(ga, gb, "generation")
    if mode == "full":
        for k in ("requests", "outcomes", "stages", "padding", "batches", "cost", "verdict"):
            diff(a.get(k), b.get(k), k)
print(f"{what}: {'equal' if ok else 'DIFFERENT'} ({mode})")
sys.exit(0 if ok else 1)
PY

# roundtrip NAME MODE ORIGINAL_FOR_ANALYZE... -- TRACE_TO_EXPORT...
roundtrip() {
  local name=$1 mode=$2; shift 2
  local orig=() exp=()
  while [ "$1" != "--" ]; do orig+=("$1"); shift; done
  shift
  exp=("$@")
  "$BIN" analyze --no-progress --json "${orig[@]}" > "$TMP/$name.orig.json" 2> "$TMP/$name.err" ||
    { echo "FAILED: analyze ${orig[*]}: $(cat "$TMP/$name.err")"; fail=1; return; }
  "$BIN" export --unix-offset 1700000000000000000 --otlp "$TMP/$name.otlp.jsonl" "${exp[@]}" 2> "$TMP/$name.err" ||
    { echo "FAILED: export ${exp[*]}: $(cat "$TMP/$name.err")"; fail=1; return; }
  if grep -q "left out the generation data" "$TMP/$name.err"; then
    echo "FAILED: $name: export still says it left out the generation data"; fail=1
  fi
  "$BIN" analyze --no-progress --json "$TMP/$name.otlp.jsonl" > "$TMP/$name.back.json" 2> "$TMP/$name.err" ||
    { echo "FAILED: analyze the export of $name: $(cat "$TMP/$name.err")"; fail=1; return; }
  python3 "$TMP/cmp.py" "$TMP/$name.orig.json" "$TMP/$name.back.json" "$mode" "$name" || fail=1
}

# the JSONL generation fixtures (grep -l '"ev":"token"' -r tests/data), less their device records
for f in generation/example.jsonl generation/no_device.jsonl cold/server.jsonl; do
  name=$(echo "$f" | tr / _)
  grep -v -e '"ev":"kernel"' -e '"ev":"copy"' -e '"ev":"memset"' "$SRC/tests/data/$f" > "$TMP/$name.nodev.jsonl"
  roundtrip "$name" full "$TMP/$name.nodev.jsonl" -- "$SRC/tests/data/$f"
done
# the engines' OTLP fixtures with token times (vLLM's first and last tokens, TGI's generations,
# SGLang's decode steps): their export is servprof's, read back as such
for f in vllm.json vllm_v0.json vllm_v1.json vllm_v1_n2.json tgi.jsonl tgi_batches.jsonl sglang.jsonl \
         sglang_odd.jsonl; do
  roundtrip "otlp_$f" spans "$SRC/tests/data/otlp/$f" -- "$SRC/tests/data/otlp/$f"
done
# a real run of the reference generation service (CPU; its kernels are recorded, so the figures only)
if "$BIN" demo --generate --no-progress --duration 2 --keep-traces "$TMP/demo" > "$TMP/demo.out" 2>&1; then
  roundtrip demo figures "$TMP/demo/server.sptrace" -- "$TMP/demo/server.sptrace"
else
  echo "FAILED: servprof demo --generate: $(tail -5 "$TMP/demo.out")"; fail=1
fi

# a long generation: 2600 tokens (the request span holds 1000, two servprof.tokens spans the rest),
# read back to the same TTFT, TPOT and ITL
python3 - "$TMP/long.jsonl" <<'PY'
import sys
with open(sys.argv[1], "w") as f:
    f.write('{"ev":"meta","format":"servprof.events/1","clock":"monotonic","unix_offset_ns":1700000000000000000}\n')
    f.write('{"ev":"request","id":"long","arrival_ns":0,"done_ns":30000000}\n')
    f.write('{"ev":"step","batch":1,"requests":["long"],"phases":["prefill"],"tokens":[100],"start_ns":1000000,'
            '"end_ns":2000000,"kv_used_tokens":101,"kv_capacity_tokens":4096}\n')
    for k in range(2600):   # token k at 2 ms + k * 10 us (+ k mod 7 us, so the ITL varies)
        f.write('{"ev":"token","id":"long","index":%d,"time_ns":%d}\n' % (k, 2000000 + 10000 * k + 1000 * (k % 7)))
PY
roundtrip long full "$TMP/long.jsonl" -- "$TMP/long.jsonl"
n=$(grep -o '"servprof.tokens"' "$TMP/long.otlp.jsonl" | wc -l)
[ "$n" -eq 2 ] || { echo "FAILED: long: $n servprof.tokens spans, expected 2 (2600 tokens, 1000 per span)"; fail=1; }

# malformed generation data in an OTLP file: refused, naming file, line and column
bad() {
  local what=$1 want=$2
  printf '%s\n' "$3" > "$TMP/bad.jsonl"
  if "$BIN" analyze --no-progress "$TMP/bad.jsonl" > /dev/null 2> "$TMP/bad.err"; then
    echo "FAILED: $what: accepted"; fail=1
  elif ! grep -q "bad.jsonl:1:[0-9]*: .*$want" "$TMP/bad.err"; then
    echo "FAILED: $what: $(cat "$TMP/bad.err") (expected file:line:column: ...$want)"; fail=1
  fi
}
REQ='"traceId":"0102030405060708090a0b0c0d0e0f10","spanId":"0102030405060708","name":"request","kind":2,"startTimeUnixNano":"1000","endTimeUnixNano":"9000","attributes":[{"key":"servprof.request","value":{"stringValue":"r1"}}]'
doc() { printf '{"resourceSpans":[{"scopeSpans":[{"spans":[%s]}]}]}' "$1"; }
bad "a token event with a text index" 'servprof.token.index" must be given once, as a non-negative integer' \
  "$(doc "{$REQ,\"events\":[{\"timeUnixNano\":\"2000\",\"name\":\"servprof.token\",\"attributes\":[{\"key\":\"servprof.token.index\",\"value\":{\"stringValue\":\"one\"}}]}]}")"
bad "a token event without an index" 'servprof.token.index" is missing' \
  "$(doc "{$REQ,\"events\":[{\"timeUnixNano\":\"2000\",\"name\":\"servprof.token\"}]}")"
bad "a token event outside its span" 'outside its span' \
  "$(doc "{$REQ,\"events\":[{\"timeUnixNano\":\"9500\",\"name\":\"servprof.token\",\"attributes\":[{\"key\":\"servprof.token.index\",\"value\":{\"intValue\":\"0\"}}]}]}")"
STEP='"traceId":"0102030405060708090a0b0c0d0e0f10","spanId":"1102030405060708","parentSpanId":"0102030405060708","name":"batch 1","kind":1,"startTimeUnixNano":"2000","endTimeUnixNano":"3000"'
bad "a phase out of range" 'servprof.step.phase must be "decode", "prefill" or "prefill_chunk"' \
  "$(doc "{$REQ},{$STEP,\"attributes\":[{\"key\":\"servprof.batch\",\"value\":{\"intValue\":\"1\"}},{\"key\":\"servprof.step.phase\",\"value\":{\"stringValue\":\"sample\"}},{\"key\":\"servprof.step.tokens\",\"value\":{\"intValue\":\"1\"}}]}")"
bad "a phase without tokens" 'servprof.step.phase without servprof.step.tokens' \
  "$(doc "{$REQ},{$STEP,\"attributes\":[{\"key\":\"servprof.batch\",\"value\":{\"intValue\":\"1\"}},{\"key\":\"servprof.step.phase\",\"value\":{\"stringValue\":\"decode\"}}]}")"
bad "negative step tokens" 'servprof.step.tokens must be a non-negative integer' \
  "$(doc "{$REQ},{$STEP,\"attributes\":[{\"key\":\"servprof.batch\",\"value\":{\"intValue\":\"1\"}},{\"key\":\"servprof.step.phase\",\"value\":{\"stringValue\":\"decode\"}},{\"key\":\"servprof.step.tokens\",\"value\":{\"intValue\":\"-1\"}}]}")"
bad "KV used above capacity" 'servprof.step.kv_used_tokens (600) is more than servprof.step.kv_capacity_tokens (512)' \
  "$(doc "{$REQ},{$STEP,\"attributes\":[{\"key\":\"servprof.batch\",\"value\":{\"intValue\":\"1\"}},{\"key\":\"servprof.step.kv_used_tokens\",\"value\":{\"intValue\":\"600\"}},{\"key\":\"servprof.step.kv_capacity_tokens\",\"value\":{\"intValue\":\"512\"}}]}")"
# one member of step 1 gives its phase, the other (another trace) none: which phase is it in?
REQ2=${REQ//0102030405060708090a0b0c0d0e0f10/0202030405060708090a0b0c0d0e0f10}
REQ2=${REQ2//\"r1\"/\"r2\"}
STEP2=${STEP//0102030405060708090a0b0c0d0e0f10/0202030405060708090a0b0c0d0e0f10}
bad "a step member without a phase" 'batch 1 is a step (its other members. spans give servprof.step.phase), but this member.s span gives none' \
  "$(doc "{$REQ},{$STEP,\"attributes\":[{\"key\":\"servprof.batch\",\"value\":{\"intValue\":\"1\"}},{\"key\":\"servprof.step.phase\",\"value\":{\"stringValue\":\"decode\"}},{\"key\":\"servprof.step.tokens\",\"value\":{\"intValue\":\"1\"}}]},{$REQ2},{$STEP2,\"attributes\":[{\"key\":\"servprof.batch\",\"value\":{\"intValue\":\"1\"}}]}")"
# a span that gives its "events" twice, 4096 tokens each: the reader's token room is 4096 for the span,
# not per list (the second list wrote past it: "corrupted size vs. prev_size", exit 134, before the fix)
python3 - "$TMP/twice.jsonl" "$REQ" <<'PY'
import sys
ev = lambda i: '{"timeUnixNano":"%d","name":"servprof.token","attributes":[{"key":"servprof.token.index","value":{"intValue":"%d"}}]}' % (2000 + i, i)
lists = ['"events":[' + ",".join(ev(i) for i in range(k, k + 4096)) + ']' for k in (0, 4096)]
open(sys.argv[1], "w").write('{"resourceSpans":[{"scopeSpans":[{"spans":[{%s,%s,%s}]}]}]}\n' % (sys.argv[2], lists[0], lists[1]))
PY
"$BIN" analyze --no-progress "$TMP/twice.jsonl" > /dev/null 2> "$TMP/twice.err"; rc=$?
[ $rc -eq 1 ] && grep -q 'twice.jsonl:1:[0-9]*: .*events' "$TMP/twice.err" ||
  { echo "FAILED: events given twice: exit $rc, $(tail -c 300 "$TMP/twice.err")"; fail=1; }
"$BIN" analyze --no-progress --lenient "$TMP/twice.jsonl" > /dev/null 2> "$TMP/twice.err"; rc=$?
[ $rc -le 1 ] || { echo "FAILED: events given twice, --lenient: exit $rc, $(tail -c 300 "$TMP/twice.err")"; fail=1; }
# --lenient skips such a span and counts it
printf '%s\n' "$(doc "{$REQ,\"events\":[{\"timeUnixNano\":\"9500\",\"name\":\"servprof.token\",\"attributes\":[{\"key\":\"servprof.token.index\",\"value\":{\"intValue\":\"0\"}}]}]}")" > "$TMP/lenient.jsonl"
"$BIN" analyze --no-progress --lenient --json "$TMP/lenient.jsonl" > "$TMP/lenient.json" 2> "$TMP/lenient.err" ||
  { echo "FAILED: --lenient: $(cat "$TMP/lenient.err")"; fail=1; }
# a foreign span event named otherwise, with an attribute of the same key, is not a token
printf '%s\n' "$(doc "{$REQ,\"events\":[{\"timeUnixNano\":\"2000\",\"name\":\"log\",\"attributes\":[{\"key\":\"servprof.token.index\",\"value\":{\"stringValue\":\"x\"}}]}]}")" > "$TMP/foreign.jsonl"
"$BIN" analyze --no-progress --json "$TMP/foreign.jsonl" > "$TMP/foreign.json" 2> "$TMP/foreign.err" ||
  { echo "FAILED: a foreign event: $(cat "$TMP/foreign.err")"; fail=1; }
python3 -c 'import json,sys; sys.exit(0 if json.load(open(sys.argv[1])).get("generation") is None else 1)' "$TMP/foreign.json" ||
  { echo "FAILED: a foreign event named log made generation data"; fail=1; }

[ $fail -eq 0 ] && echo "export_generation: all round trips equal"
exit $fail
