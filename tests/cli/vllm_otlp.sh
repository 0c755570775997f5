#!/usr/bin/env bash
# vLLM's llm_request spans as each engine writes them (fixtures hand-written in the layouts of
# vllm/engine/llm_engine.py create_trace_span (v0) and vllm/v1/engine/output_processor.py do_tracing
# (v1); docs/otlp.md, "vLLM's spans by version"), read from the command line:
# - vllm_v1.json: a request that finished without a token carries TTFT 0 and a negative
#   time_in_model_prefill / _inference (0 - scheduled time): the file loads (it was refused as
#   malformed), one warning counts the span, and its finish reason ["error"] makes it an error;
# - vllm_v0.json: the n = 2 request (completion_tokens summed over both sequences) is in the TTFT
#   figures but not in TPOT (its TPOT was decode / 19, half the real one);
# - vllm_v1_n2.json: v1's two llm_request spans of one n = 2 request in the caller's trace are one
#   request, and a warning says one span was left out.
# - the end-to-end verdict reads the spans' decode and prefill stages as the generation tables do, the
#   model's time measured whole (decode (model), prefill (model)): group model, "decode time as a
#   whole", the record-or-profile fix (docs/analysis.md section 6, "Model time"); it said "(decode,
#   runtime): optimise, parallelise or move it off the request path", against the TPOT verdict.
# Run as: bash vllm_otlp.sh BINARY SOURCE_DIR
set -u
bin=$1
src=$2
fail=0
check() { if ! eval "$1"; then echo "FAIL: $1" >&2; fail=1; fi; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
d=$src/tests/data/otlp
for f in vllm_v1 vllm_v0 vllm_v1_n2; do
  "$bin" analyze --no-progress --json "$d/$f.json" > "$tmp/$f.json" 2> "$tmp/$f.err" ||
    { echo "FAIL: analyze $f.json: $(cat "$tmp/$f.err")" >&2; fail=1; }
done
py=$(command -v python3 || true)
field() { "$py" -c "import json,sys; d=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))" "$@"; }
check "grep -qF 'vllm_v1.json:3:1: 1 span (the first here) carries a negative gen_ai.latency.* value, read as not measured' '$tmp/vllm_v1.err'"
check "grep -qF '1 trace holds more than one span with gen_ai.latency.* attributes: 1 span left out' '$tmp/vllm_v1_n2.err'"
check "! grep -q 'gen_ai.latency' '$tmp/vllm_v0.err'"
if [ -n "$py" ]; then
  check "[ \"\$(field '$tmp/vllm_v1.json' \"d['outcomes']['by_outcome']['ok']['count'], d['outcomes']['by_outcome']['error']['count']\")\" = '(1, 1)' ]"
  # v1: the request with tokens: TTFT 95 ms, TPOT 160 ms / 8 = 20 ms
  check "[ \"\$(field '$tmp/vllm_v1.json' \"d['generation']['ttft_us']['p50'], d['generation']['tpot_us']['p50']\")\" = '(95000.0, 20000.0)' ]"
  # v0: TTFT of both (60, 50 ms), TPOT of the n = 1 request only (120 ms / 6)
  check "[ \"\$(field '$tmp/vllm_v0.json' \"d['generation']['ttft_us']['count'], d['generation']['tpot_us']['count'], d['generation']['tpot_us']['max']\")\" = '(2, 1, 20000.0)' ]"
  check "[ \"\$(field '$tmp/vllm_v1_n2.json' \"d['generation']['requests'], d['generation']['output_tokens']\")\" = '(1, 4)' ]"
  for f in vllm_v0 vllm_v1; do
    check "[ \"\$(field '$tmp/$f.json' \"d['verdict']['stage'], d['verdict']['group'], sorted((r['stage'], r['group']) for r in d['verdict']['ranking'] if r['stage'] in ('prefill', 'decode'))\")\" = \"('decode', 'model', [('decode', 'model'), ('prefill', 'model')])\" ]"
    check "field '$tmp/$f.json' \"d['verdict']['sentence']\" | grep -qF '% of p95 latency is decode time as a whole (decode, model; the trace does not split it into kernel, gap and copies): record the steps'"
    check "! field '$tmp/$f.json' \"d['verdict']['sentence']\" | grep -qE 'move it off the request path|not the bottleneck'"
    # vLLM batches continuously: its queue's fix is the scheduler's cap, not a batch window (no step
    # records in these spans, but token times)
    check "[ \"\$(field '$tmp/$f.json' \"[r['fix'].startswith('raise the scheduler') and '--max-num-seqs' in r['fix'] for r in d['verdict']['ranking'] if r['stage'] == 'queue']\")\" = '[True]' ]"
  done
fi
exit $fail
