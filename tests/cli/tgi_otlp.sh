#!/usr/bin/env bash
# text-generation-inference's router spans (tests/data/otlp/tgi.jsonl, hand-written in the layout of
# router/src/server.rs and backends/v3/src/backend.rs; docs/otlp.md, "text-generation-inference"),
# read from the command line. Figures worked by hand from the file's span times:
# - 4 requests (the 2 batch traces are not requests: before, they were 2 more ok requests), 2 ok,
#   2 errors: the 422 and the stream that failed after its 200 (no timings recorded);
# - TTFT 45.1 ms and 20 ms (first send_generation - arrival), TPOT 20.85 ms ((128.5 - 45.1) / 4) and
#   19.95 ms ((69.9 - 30) / 2);
# - stages: preprocess p95 1.25 ms (validation_time), other 1.6 ms (before: other 110.1 ms of 130);
#   the 2 batch traces are request 1's first two steps (2 of its 5 infer spans linked), windows
#   21.35-45.13 ms and 45.13-65.98 ms: gap p95 44.63 ms; request 1 keeps its decode stage
#   (45.1-128.6 ms) outside them, 128.6 - 65.98 = 62.62 ms (the p95), request 2 (no step) its prefill
#   14.95 ms (the p95; request 1's prefill, 21.35-45.1 ms, lies inside its first step) (before: the
#   batch traces were left out, prefill 23.75 ms and decode 83.5 ms);
# - one warning saying what TGI's spans cannot show and how the batches were joined;
# - every send_generation span's start is a token (each generation text here carries one id or is
#   elided: one token): ITL over request 1's gaps 20.85 ms x 4 (45.1, 65.95, 86.8, 107.65, 128.5 ms)
#   and request 2's 20 and 19.9 ms (30, 50, 69.9): 6 gaps, p50 and p95 20.85 ms (the 3rd and 6th of
#   19.9, 20, 20.85 x 4), mean 123.3 / 6 = 20.55 ms, and no "only the first and last token times"
#   limit (before: ITL none, and that limit).
# tests/data/otlp/tgi_batches.jsonl (docs/otlp.md, where its figures are worked by hand): two requests
# with every step joined (5 steps; a sixth batch span with no batch_size left out; one member of a
# batch_size-3 step in no trace of the file): TTFT 11 and 14.5 ms, prefill gap 9 and 7.5 ms, TPOT 7.5
# and 5 ms, decode gap p95 4.65 ms and between steps p95 2.7333 ms (request A's wait while B
# prefills); no prefill or decode stage; e2e gap p95 23.8 ms, queue 9.2 ms; ITL over A's tokens (11,
# 24.5, 29.5, 33.5 ms: 13.5, 5, 4) and B's (19.5, 24.5, 29.5: 5, 5): 4, 5, 5, 5, 13.5 ms, p50 5 ms
# (3rd), p95 13.5 ms (5th), mean 6.5 ms (before: none).
# The end-to-end verdict of tgi.jsonl reads its decode and prefill stages as the TPOT table does (the
# model's time whole): decode 54% leads, group model, "decode time as a whole" with the
# record-or-profile fix; prefill is a model candidate too (docs/analysis.md section 6, "Model time").
# It said "the \"decode\" stage (decode, runtime): optimise, parallelise or move it off the request path".
# tests/data/otlp/tgi_nogen.jsonl: tgi.jsonl's first document (no batch traces) with its 8
# send_generation spans taken out, so each request keeps inference_time as one stage "inference"
# (docs/otlp.md) and the trace has no generation data. That stage is the model's time whole
# (docs/analysis.md section 6, "Model time"): request 1's inference 107.25 ms of 130 ms (21.35 ms after
# arrival to its end, 128.6 ms, as its prefill and decode were in tgi.jsonl), 85% of p95, leads with
# group model, "inference time as a whole" and the record-or-profile fix. It said "the \"inference\"
# stage (inference, runtime): optimise, parallelise or move it off the request path". A JSONL trace's
# own stage called "inference" (written below) stays runtime.
# Run as: bash tgi_otlp.sh BINARY SOURCE_DIR
set -u
bin=$1
src=$2
fail=0
check() { if ! eval "$1"; then echo "FAIL: $1" >&2; fail=1; fi; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
f=$src/tests/data/otlp/tgi.jsonl
"$bin" analyze --no-progress --json "$f" > "$tmp/r.json" 2> "$tmp/r.err" ||
  { echo "FAIL: analyze tgi.jsonl: $(cat "$tmp/r.err")" >&2; fail=1; }
check "grep -qF \"4 requests read in text-generation-inference's layout\" '$tmp/r.err'"
check "grep -qF '2 batch traces read as generation steps, joined through the links of their infer spans to 1 request' '$tmp/r.err'"
check "grep -qF '(1 of them with some steps not found keeps inference_time' '$tmp/r.err'"
check "grep -qF '3 requests with no step found keep them whole); 0 batch traces with no member found left out, 0 members' '$tmp/r.err'"
g=$src/tests/data/otlp/tgi_batches.jsonl
"$bin" analyze --no-progress --json "$g" > "$tmp/b.json" 2> "$tmp/b.err" ||
  { echo "FAIL: analyze tgi_batches.jsonl: $(cat "$tmp/b.err")" >&2; fail=1; }
check "grep -qF '5 batch traces read as generation steps, joined through the links of their infer spans to 2 requests' '$tmp/b.err'"
check "grep -qF '1 batch trace with no member found left out, 1 member that a batch_size counts not found' '$tmp/b.err'"
check "[ \$(grep -c 'text-generation-inference' '$tmp/b.err') = 1 ]"
py=$(command -v python3 || true)
[ -n "$py" ] || { echo "SKIP: no python3" >&2; exit 77; }
field() { "$py" -c "import json,sys; d=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))" "$@"; }
check "[ \"\$(field '$tmp/r.json' \"d['outcomes']['by_outcome']['ok']['count'], d['outcomes']['by_outcome']['error']['count']\")\" = '(2, 2)' ]"
check "[ \"\$(field '$tmp/r.json' \"d['generation']['ttft_us']['min'], d['generation']['ttft_us']['max']\")\" = '(20000.0, 45100.0)' ]"
check "[ \"\$(field '$tmp/r.json' \"d['generation']['tpot_us']['min'], d['generation']['tpot_us']['max']\")\" = '(19950.0, 20850.0)' ]"
check "[ \"\$(field '$tmp/r.json' \"sorted((s['name'], s['p95_us']) for s in d['stages'] if s['name'] in ('preprocess', 'prefill', 'decode', 'other', 'gap'))\")\" = \"[('decode', 62620.0), ('gap', 44630.0), ('other', 1600.0), ('prefill', 14950.0), ('preprocess', 1250.0)]\" ]"
check "[ \"\$(field '$tmp/r.json' \"d['batches']['count'], d['generation']['steps']['count'], d['generation']['steps']['prefill_steps']\")\" = '(2, 2, 1)' ]"
check "[ \"\$(field '$tmp/r.json' \"d['verdict']['stage'], d['verdict']['group'], [(r['stage'], r['group']) for r in d['verdict']['ranking'] if r['stage'] in ('prefill', 'decode', 'gap')]\")\" = \"('decode', 'model', [('decode', 'model'), ('gap', 'runtime'), ('prefill', 'model')])\" ]"
check "field '$tmp/r.json' \"d['verdict']['sentence']\" | grep -qF '54% of p95 latency is decode time as a whole (decode, model; the trace does not split it into kernel, gap and copies): record the steps'"
check "! field '$tmp/r.json' \"d['verdict']['sentence']\" | grep -qE 'move it off the request path|not the bottleneck'"
check "[ \"\$(field '$tmp/r.json' \"[x for x in d['generation']['limits'] if 'no step record' in x][0][:40]\")\" = 'some prefill or decode time is in no ste' ]"
check "[ \"\$(field '$tmp/b.json' \"d['requests']['count'], d['batches']['count'], d['batches']['size']['max'], d['generation']['steps']['count'], d['generation']['steps']['prefill_steps']\")\" = '(2, 5, 2, 5, 2)' ]"
check "[ \"\$(field '$tmp/b.json' \"d['generation']['ttft_us']['min'], d['generation']['ttft_us']['max'], d['generation']['tpot_us']['min'], d['generation']['tpot_us']['max']\")\" = '(11000.0, 14500.0, 5000.0, 7500.0)' ]"
check "[ \"\$(field '$tmp/b.json' \"[(r['name'], r['p50_us'], r['p95_us']) for r in d['generation']['ttft']['rows'] if r['name'] in ('queue', 'preprocess', 'prefill gap', 'other')]\")\" = \"[('queue', 1000.0, 6000.0), ('preprocess', 900.0, 950.0), ('prefill gap', 7500.0, 9000.0), ('other', 50.0, 100.0)]\" ]"
check "[ \"\$(field '$tmp/b.json' \"[(r['name'], r['p50_us'], r['p95_us']) for r in d['generation']['tpot']['rows'] if r['name'] in ('prefill gap', 'decode gap', 'between steps')]\")\" = \"[('prefill gap', 250.0, 333.333), ('decode gap', 4433.333, 4650.0), ('between steps', 100.0, 2733.333)]\" ]"
check "[ \"\$(field '$tmp/b.json' \"sorted((s['name'], s['p95_us']) for s in d['stages'] if s['name'] in ('queue', 'gap', 'other', 'prefill', 'decode'))\")\" = \"[('gap', 23800.0), ('other', 1100.0), ('queue', 9200.0)]\" ]"
check "[ \"\$(field '$tmp/b.json' \"d['generation']['tpot']['verdict']['stage'], d['generation']['tpot']['verdict']['ranking'][1]['stage'], [x for x in d['generation']['limits'] if 'step record' in x]\")\" = \"('decode gap', 'between steps', [])\" ]"
check "[ \"\$(field '$tmp/r.json' \"d['generation']['itl_us']['count'], d['generation']['itl_us']['p50'], d['generation']['itl_us']['p95'], d['generation']['itl_us']['mean'], d['generation']['itl_us']['min']\")\" = '(6, 20850.0, 20850.0, 20550.0, 19900.0)' ]"
check "[ \"\$(field '$tmp/b.json' \"d['generation']['itl_us']['count'], d['generation']['itl_us']['p50'], d['generation']['itl_us']['p95'], d['generation']['itl_us']['mean'], d['generation']['itl_us']['min']\")\" = '(5, 5000.0, 13500.0, 6500.0, 4000.0)' ]"
check "[ \"\$(field '$tmp/r.json' \"[x for x in d['generation']['limits'] if 'first and last' in x] + [x for x in json.load(open('$tmp/b.json'))['generation']['limits'] if 'first and last' in x]\")\" = '[]' ]"
n=$src/tests/data/otlp/tgi_nogen.jsonl
"$bin" analyze --no-progress --json "$n" > "$tmp/n.json" 2>"$tmp/n.err" || { echo "FAIL: analyze tgi_nogen.jsonl" >&2; fail=1; }
# no batch trace in the file: the warning says so instead of counting zero joins
check "grep -qF \"4 requests read in text-generation-inference's layout: validation_time and queue_time are the preprocess and queue stages; the file has no batch traces, so no generation steps\" '$tmp/n.err'"
check "! grep -qF '0 batch traces read as generation steps' '$tmp/n.err'"
"$bin" analyze --no-progress "$n" 2>/dev/null | sed -n '/^verdict:/,/^ *candidate/p' | tr -s ' \n' ' ' > "$tmp/n.verdict"
check "[ \"\$(field '$tmp/n.json' \"'generation' in d, [(s['name'], s['p95_us']) for s in d['stages'] if s['name'] in ('inference', 'prefill', 'decode')]\")\" = \"(False, [('inference', 107250.0)])\" ]"
check "[ \"\$(field '$tmp/n.json' \"d['verdict']['stage'], d['verdict']['group'], d['verdict']['ranking'][0]['group']\")\" = \"('inference', 'model', 'model')\" ]"
check "grep -qF '85% of p95 latency is inference time as a whole (inference, model; the trace does not split it into kernel, gap and copies): record the steps (servprof' '$tmp/n.verdict'"
check "! grep -qE 'move it off the request path|not the bottleneck' '$tmp/n.verdict'"
# TGI batches continuously even where the file has no batch trace: its queue is no batch window
check "grep -qF \"queue 13% (configuration: raise the scheduler's cap on concurrent sequences\" '$tmp/n.verdict'"
check "! grep -qF 'max-queue-delay' '$tmp/n.verdict'"
# servprof export of tgi_nogen.jsonl, analysed: the same report, verdict included (the export's resource
# says servprof.model_stages "inference", docs/otlp.md "Export"). Before, the export lost the mark and
# its verdict read "the \"inference\" stage (inference, runtime): optimise, parallelise or move it off
# the request path" with the batch window's queue fix.
"$bin" export --otlp "$tmp/n.otlp.jsonl" "$n" 2>/dev/null || { echo "FAIL: export tgi_nogen.jsonl" >&2; fail=1; }
check "grep -qF '{\"key\":\"servprof.model_stages\",\"value\":{\"stringValue\":\"inference\"}}' '$tmp/n.otlp.jsonl'"
"$bin" analyze --no-progress "$n" > "$tmp/n.txt" 2>/dev/null
"$bin" analyze --no-progress "$tmp/n.otlp.jsonl" > "$tmp/nx.txt" 2>/dev/null || { echo "FAIL: analyze the export" >&2; fail=1; }
"$bin" analyze --no-progress --json "$tmp/n.otlp.jsonl" > "$tmp/nx.json" 2>/dev/null
check "cmp -s '$tmp/n.txt' '$tmp/nx.txt'"
check "[ \"\$(field '$tmp/nx.json' \"d['verdict']['stage'], d['verdict']['group'], d['verdict']['sentence'] == json.load(open('$tmp/n.json'))['verdict']['sentence']\")\" = \"('inference', 'model', True)\" ]"
# and the export of the export keeps it
"$bin" export --otlp "$tmp/n2.otlp.jsonl" "$tmp/n.otlp.jsonl" 2>/dev/null || { echo "FAIL: export the export" >&2; fail=1; }
"$bin" analyze --no-progress "$tmp/n2.otlp.jsonl" > "$tmp/nxx.txt" 2>/dev/null
check "cmp -s '$tmp/n.txt' '$tmp/nxx.txt'"
# the attribute is a string of stage names: another type is malformed, naming the file, line and column
sed 's/"servprof.model_stages","value":{"stringValue":"inference"}/"servprof.model_stages","value":{"boolValue":true}/' \
  "$tmp/n.otlp.jsonl" > "$tmp/bad.otlp.jsonl"
"$bin" analyze --no-progress "$tmp/bad.otlp.jsonl" > /dev/null 2> "$tmp/bad.err"
rc=$?
check "[ $rc = 1 ]"
check "grep -qE 'bad.otlp.jsonl:1:[0-9]+: resource attribute servprof.model_stages must be a \\{\"stringValue\":\\.\\.\\.\\} of stage names' '$tmp/bad.err'"
# a name this version does not read so is passed over: no mark, the stage is the service's runtime
sed 's/"servprof.model_stages","value":{"stringValue":"inference"}/"servprof.model_stages","value":{"stringValue":"infer,inferences"}/' \
  "$tmp/n.otlp.jsonl" > "$tmp/other.otlp.jsonl"
"$bin" analyze --no-progress --json "$tmp/other.otlp.jsonl" > "$tmp/other.json" 2>/dev/null
check "[ \"\$(field '$tmp/other.json' \"d['verdict']['stage'], d['verdict']['group']\")\" = \"('inference', 'runtime')\" ]"
# a generation service that batches statically (batch records that are not steps, tokens recorded):
# 4 requests of 10 ms, queue 6 ms (60%), a 4 ms batch of one kernel; its queue is a batch window, so
# the window's fix stays (only an engine's trace with no batch or step record takes the scheduler's cap)
{
  echo '{"ev":"meta","format":"servprof.events/1"}'
  for i in 1 2 3 4; do
    b=$(( (i - 1) * 20000000 ))
    echo "{\"ev\":\"request\",\"id\":\"s$i\",\"arrival_ns\":$b,\"done_ns\":$((b + 10000000))}"
    echo "{\"ev\":\"stage\",\"id\":\"s$i\",\"stage\":\"queue\",\"start_ns\":$b,\"end_ns\":$((b + 6000000))}"
    echo "{\"ev\":\"batch\",\"batch\":$i,\"requests\":[\"s$i\"],\"start_ns\":$((b + 6000000)),\"end_ns\":$((b + 10000000))}"
    echo "{\"ev\":\"kernel\",\"batch\":$i,\"name\":\"k\",\"stream\":0,\"start_ns\":$((b + 6000000)),\"end_ns\":$((b + 10000000))}"
    echo "{\"ev\":\"token\",\"id\":\"s$i\",\"index\":0,\"time_ns\":$((b + 8000000))}"
    echo "{\"ev\":\"token\",\"id\":\"s$i\",\"index\":1,\"time_ns\":$((b + 10000000))}"
  done
} > "$tmp/static.jsonl"
"$bin" analyze --no-progress --json "$tmp/static.jsonl" > "$tmp/static.json" 2>/dev/null || { echo "FAIL: analyze static.jsonl" >&2; fail=1; }
check "[ \"\$(field '$tmp/static.json' \"d['verdict']['stage'], d['verdict']['ranking'][0]['fix'].startswith('shorten the batch window')\")\" = \"('queue', True)\" ]"
# a service's own stage called "inference" in a JSONL trace: 2 requests of 10 ms, inference 8 ms (80%),
# preprocess 2 ms; no importer derived it from an engine's timing, so the service's runtime
{
  echo '{"ev":"meta","format":"servprof.events/1"}'
  for i in 1 2; do
    b=$(( (i - 1) * 20000000 ))
    echo "{\"ev\":\"request\",\"id\":\"u$i\",\"arrival_ns\":$b,\"done_ns\":$((b + 10000000))}"
    echo "{\"ev\":\"stage\",\"id\":\"u$i\",\"stage\":\"preprocess\",\"start_ns\":$b,\"end_ns\":$((b + 2000000))}"
    echo "{\"ev\":\"stage\",\"id\":\"u$i\",\"stage\":\"inference\",\"start_ns\":$((b + 2000000)),\"end_ns\":$((b + 10000000))}"
  done
} > "$tmp/own.jsonl"
"$bin" analyze --no-progress --json "$tmp/own.jsonl" > "$tmp/own.json" 2>/dev/null || { echo "FAIL: analyze own.jsonl" >&2; fail=1; }
"$bin" analyze --no-progress "$tmp/own.jsonl" 2>/dev/null | sed -n '/^verdict:/,/^ *candidate/p' | tr -s ' \n' ' ' > "$tmp/own.verdict"
check "[ \"\$(field '$tmp/own.json' \"d['verdict']['stage'], d['verdict']['group']\")\" = \"('inference', 'runtime')\" ]"
check "grep -qF '80% of p95 latency is the \"inference\" stage (inference, runtime): optimise, parallelise or move it off the request path' '$tmp/own.verdict'"
check "! grep -q 'as a whole' '$tmp/own.verdict'"
# the same trace whose meta line says "model_stages":"inference" (docs/jsonl-format.md: its stage
# "inference" is an engine's model time whole, as TGI's): model, "inference time as a whole", as
# tgi_nogen.jsonl; exported, the export carries it; a name this version does not read so is passed
# over; a value that is not a string is refused, naming the file and line
sed '1s/{"ev":"meta",/{"ev":"meta","model_stages":"inference",/' "$tmp/own.jsonl" > "$tmp/ownm.jsonl"
"$bin" analyze --no-progress --json "$tmp/ownm.jsonl" > "$tmp/ownm.json" 2>/dev/null || { echo "FAIL: analyze ownm.jsonl" >&2; fail=1; }
"$bin" analyze --no-progress "$tmp/ownm.jsonl" 2>/dev/null | sed -n '/^verdict:/,/^ *candidate/p' | tr -s ' \n' ' ' > "$tmp/ownm.verdict"
check "[ \"\$(field '$tmp/ownm.json' \"d['verdict']['stage'], d['verdict']['group']\")\" = \"('inference', 'model')\" ]"
check "grep -qF '80% of p95 latency is inference time as a whole (inference, model;' '$tmp/ownm.verdict'"
"$bin" export --unix-offset 0 --otlp "$tmp/ownm.otlp.jsonl" "$tmp/ownm.jsonl" 2>/dev/null || { echo "FAIL: export ownm.jsonl" >&2; fail=1; }
"$bin" analyze --no-progress --json "$tmp/ownm.otlp.jsonl" > "$tmp/ownmx.json" 2>/dev/null
check "[ \"\$(field '$tmp/ownmx.json' \"d['verdict']['stage'], d['verdict']['group']\")\" = \"('inference', 'model')\" ]"
sed '1s/{"ev":"meta",/{"ev":"meta","model_stages":"prefill,decode",/' "$tmp/own.jsonl" > "$tmp/ownp.jsonl"
"$bin" analyze --no-progress --json "$tmp/ownp.jsonl" > "$tmp/ownp.json" 2>/dev/null
check "[ \"\$(field '$tmp/ownp.json' \"d['verdict']['stage'], d['verdict']['group']\")\" = \"('inference', 'runtime')\" ]"
sed '1s/{"ev":"meta",/{"ev":"meta","model_stages":["inference"],/' "$tmp/own.jsonl" > "$tmp/ownb.jsonl"
"$bin" analyze --no-progress "$tmp/ownb.jsonl" > /dev/null 2> "$tmp/ownb.err"
rc=$?
check "[ $rc = 1 ]"
check "grep -qF 'ownb.jsonl:1: \"model_stages\" must be a string, not' '$tmp/ownb.err'"
# exported, it stays runtime: the export says nothing of model stages
"$bin" export --unix-offset 0 --otlp "$tmp/own.otlp.jsonl" "$tmp/own.jsonl" 2>/dev/null || { echo "FAIL: export own.jsonl" >&2; fail=1; }
check "! grep -qF 'servprof.model_stages' '$tmp/own.otlp.jsonl'"
"$bin" analyze --no-progress --json "$tmp/own.otlp.jsonl" > "$tmp/ownx.json" 2>/dev/null
check "[ \"\$(field '$tmp/ownx.json' \"d['verdict']['stage'], d['verdict']['group']\")\" = \"('inference', 'runtime')\" ]"
"$bin" analyze --no-progress "$f" > "$tmp/r.txt" 2>/dev/null
check "grep -qF 'ITL    p50 20.85 ms  p95 20.85 ms' '$tmp/r.txt'"
check "! grep -qF 'only the first and last token times' '$tmp/r.txt'"
exit $fail
