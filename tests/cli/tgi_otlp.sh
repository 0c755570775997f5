#!/usr/bin/env bash
# text-generation-inference's router spans (tests/data/otlp/tgi.jsonl, hand-written in the layout of
# router/src/server.rs and backends/v3/src/backend.rs; docs/otlp.md, "text-generation-inference"),
# read from the command line. Figures worked by hand from the file's span times:
# - 4 requests (the 2 batch traces are not requests: before, they were 2 more ok requests), 2 ok,
#   2 errors: the 422 and the stream that failed after its 200 (no timings recorded);
# - TTFT 45.1 ms and 20 ms (first send_generation - arrival), TPOT 20.85 ms ((128.5 - 45.1) / 4) and
#   19.95 ms ((69.9 - 30) / 2);
# - stages: preprocess p95 1.25 ms (validation_time), prefill 23.75 ms, decode 83.5 ms, other 1.6 ms
#   (before: other 110.1 ms of 130);
# - one warning saying what TGI's spans cannot show.
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
check "grep -qF '2 batch traces left out' '$tmp/r.err'"
py=$(command -v python3 || true)
[ -n "$py" ] || { echo "SKIP: no python3" >&2; exit 77; }
field() { "$py" -c "import json,sys; d=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))" "$@"; }
check "[ \"\$(field '$tmp/r.json' \"d['outcomes']['by_outcome']['ok']['count'], d['outcomes']['by_outcome']['error']['count']\")\" = '(2, 2)' ]"
check "[ \"\$(field '$tmp/r.json' \"d['generation']['ttft_us']['min'], d['generation']['ttft_us']['max']\")\" = '(20000.0, 45100.0)' ]"
check "[ \"\$(field '$tmp/r.json' \"d['generation']['tpot_us']['min'], d['generation']['tpot_us']['max']\")\" = '(19950.0, 20850.0)' ]"
check "[ \"\$(field '$tmp/r.json' \"sorted((s['name'], s['p95_us']) for s in d['stages'] if s['name'] in ('preprocess', 'prefill', 'decode', 'other'))\")\" = \"[('decode', 83500.0), ('other', 1600.0), ('prefill', 23750.0), ('preprocess', 1250.0)]\" ]"
exit $fail
