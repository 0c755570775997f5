#!/usr/bin/env bash
# The HTML report read against the text report of the same trace, as a reader would (docs/html-report.md,
# "Tests"): for every trace in tests/data (synth, generation, OTLP incl. vLLM, TGI, SGLang and Triton,
# Triton's own, Kineto, kineto-more, the cold client/server pair with and without --outcomes all),
# html_read.py strips the page to text and finds each verdict sentence of the text report in it word
# for word (end-to-end, TTFT, TPOT) and each row of the text's rankings (name, group, share, saving).
# Then what a reader of the page needs that the text report says (each failed on the previous binary):
# - a generation ranking names the model's kernel row as the text and the verdict sentence do,
#   "useful prefill kernel", not "prefill kernel (useful)" (html_read.py, generation/example.jsonl);
# - the cold pair (tests/data/cold/README.md): the client record that matches no request got an
#   answer, so the traces may not belong together, and 1 of 3 joined requests continue another trace
#   than the client sent: the text report's sentences, word for word, in the data quality section;
#   and the TTFT table's total row, timed from the client's send, is "TTFT (sent)" as in the text,
#   not "TTFT" beside the server's TTFT p95 (8.50 ms) above it (its p95 is 8.85 ms); and the
#   outcomes section lists the HTTP status of the request that is not ok (429 x 1) as the text does;
#   the GPU block counts "3 kernels, 1 copy, 0 memsets" as the text does, not "1 copies";
# - a trace of one request (vLLM's v1 export): the cost sentence reads "the bill over 1 request";
# - a trace without batches (vLLM's OTLP export): one request's own cost reads $0.000 with the text's
#   caveat "(no batch in the trace: no device time is any request's)", not bare beside a non-zero
#   bill per request.
# - a Kineto trace with launches and CUDA graphs (kineto/cuda_graph_h200.json.gz): the GPU block gives
#   the text's launch delay line (the graph sentence beside it speaks of that delay), same figures.
# - every trace whose text report gives the idle time by stream (HTA breakdown; the Kineto traces): the
#   GPU block has it as a table of the same rows and figures (html_read.py; cuda_graph_h200's row here);
# - every trace with requests: the data quality section says of the unattributed (`other`) share what
#   the text does, with its rule (from 0.1% of p95 "missing instrumentation" and flagged, above zero
#   below it "under 0.1%" and "negligible"; html_read.py), where the page flagged it only from 5%; the
#   three cases on hand-computed traces here (as tests/cli/unattributed.sh's).
# Run as: bash html_read.sh BINARY SOURCE_DIR
set -u
bin=$1
src=$2
fail=0
check() { if ! eval "$1"; then echo "FAIL: $1" >&2; fail=1; fi; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
pairs=()
k=0
analyze() { # analyze ARGS...: text and HTML report of one trace into $tmp/$k.{txt,html}
  k=$((k + 1))
  if ! "$bin" analyze --no-progress --html "$tmp/$k.html" "$@" > "$tmp/$k.txt" 2> "$tmp/$k.err"; then
    echo "FAIL: analyze $*: $(head -c 300 "$tmp/$k.err")" >&2
    fail=1
    return
  fi
  pairs+=("$tmp/$k.txt" "$tmp/$k.html")
}
for f in "$src"/tests/data/synth/*.jsonl "$src"/tests/data/generation/*.jsonl "$src"/tests/data/otlp/* \
         "$src"/tests/data/triton/*.json "$src"/tests/data/kineto/*.json* "$src"/tests/data/kineto-more/*.json*; do
  analyze "$f"
done
analyze "$src/tests/data/cold/server.jsonl" "$src/tests/data/cold/client.jsonl"
cold=$k
analyze --outcomes all "$src/tests/data/cold/server.jsonl" "$src/tests/data/cold/client.jsonl"
analyze "$src/tests/data/otlp/vllm_v1.json"
vllm=$k
analyze "$src/tests/data/kineto/cuda_graph_h200.json.gz"
graph=$k
# the unattributed share's three cases, from tests/cli/unattributed.sh's hand-computed traces: one
# request of 1 ms whose stage spans cover all of it but G ns, so `other` is G / 1e6 of p95: 100 ns is
# 0.01% (negligible, written "under 0.1%"), 2,000 ns 0.2% and 20,000 ns 2.0% (missing instrumentation,
# which the page flagged only from 5%)
for g in 100 2000 20000; do
  printf '%s\n' '{"ev":"meta","format":"servprof.events/1","clock":"monotonic"}' \
    '{"ev":"request","id":"r1","arrival_ns":0,"done_ns":1000000}' \
    '{"ev":"stage","id":"r1","stage":"preprocess","start_ns":0,"end_ns":400000}' \
    "{\"ev\":\"stage\",\"id\":\"r1\",\"stage\":\"queue\",\"start_ns\":400000,\"end_ns\":$((1000000 - g))}" \
    > "$tmp/g$g.jsonl"
  analyze "$tmp/g$g.jsonl"
  eval "g$g=$k"
done
[ "${#pairs[@]}" -ge 60 ] || { echo "FAIL: only ${#pairs[@]} reports" >&2; fail=1; }
python3 "$src/tests/cli/html_read.py" "${pairs[@]}" || fail=1

# what html_read.py reads, folded to one line of text
flat() { python3 -B -c 'import sys; sys.path.insert(0, sys.argv[1]); import html_read; print(html_read.page_text(sys.argv[2]))' \
  "$src/tests/cli" "$1"; }
flat "$tmp/$cold.html" > "$tmp/cold.page"
tr -s ' \n' ' ' < "$tmp/$cold.txt" > "$tmp/cold.flat"
s="the 1 with no matching request got an answer (1 2xx): the server trace shows no unclean end, so the server did not record it: the client and server traces may not belong together (a client of another server, or a trace from another run); 1 of the transport errors matches no request either"
check "grep -qF '$s' '$tmp/cold.flat'"
check "grep -qF 'Client records: $s.' '$tmp/cold.page'"
s="trace context: 1 of 3 joined requests continue another trace or span than the client sent (a proxy between them starts its own trace, or the ids are wrong)"
check "grep -qF '$s' '$tmp/cold.flat'"
check "grep -qF '$s' '$tmp/cold.page'"
check "grep -qE '^TTFT \(sent\) +7\.80 ms +8\.85 ms' '$tmp/$cold.txt'"
check "grep -qF '| TTFT (sent) | 7.80 ms | 8.85 ms | 8.85 ms | 8.32 ms |' '$tmp/cold.page'"
check "grep -qF 'HTTP statuses of the others: 429 x 1' '$tmp/cold.flat'"
check "grep -qF 'HTTP statuses of the others: 429 × 1.' '$tmp/cold.page'"
check "grep -qF '3 kernels, 1 copy, 0 memsets' '$tmp/cold.flat'"
check "grep -qF '3 kernels, 1 copy, 0 memsets.' '$tmp/cold.page'"
check "grep -qF '| TPOT | 2.00 ms | 2.50 ms | 2.50 ms | 2.25 ms |' '$tmp/cold.page'"
flat "$tmp/$vllm.html" > "$tmp/vllm.page"
s="(no batch in the trace: no device time is any request's)"
# a cost per request reads per 1M requests (sp_rep_fmt_cost_per_request), $0.000 here; the text's
# line is wrapped, so it is read with its blanks squeezed
tr -s ' \n' ' ' < "$tmp/$vllm.txt" > "$tmp/vllm.flat"
check "grep -qF \"per 1M requests: p50 \\\$0.000, p95 \\\$0.000, max \\\$0.000 $s\" '$tmp/vllm.flat'"
check "grep -qF \"one request's own cost (its batch's device time by its tokens), per 1M requests: p50 \\\$0.000, p95 \\\$0.000 $s.\" '$tmp/vllm.page'"
check "grep -qF ' per 1M requests (the bill over 1 request);' '$tmp/vllm.page'"
check "grep -qE '^servprof report: 1 file, 1 request,' '$tmp/$vllm.txt'"
flat "$tmp/$graph.html" > "$tmp/graph.page"
tr -s ' \n' ' ' < "$tmp/$graph.txt" > "$tmp/graph.flat"
s="12 joined on correlation id; launch delay p50 49.4 us, p95 73.2 us, max 73.2 us; 12 kernels shorter than their launch call"
check "grep -qF 'launches: $s' '$tmp/graph.flat'"
check "grep -qF 'Launches: $s.' '$tmp/graph.page'"
# the unattributed share: the text's rule in the page's data quality section (html_read.py checks every
# trace; these are its known answers)
for g in 100 2000 20000; do flat "$tmp/$(eval echo \$g$g).html" > "$tmp/g$g.page"; done
s="of p95 latency is covered by no stage span and no device activity"
check "grep -qF 'Unattributed ( other ): under 0.1% $s: negligible.' '$tmp/g100.page'"
check "grep -qF '| unattributed time ( other ), share of p95 | under 0.1% |' '$tmp/g100.page'"
check "grep -qF 'Unattributed ( other ): 0.2% $s: missing instrumentation.' '$tmp/g2000.page'"
check "grep -qF 'share of p95</td><td class=\"warn\">0.2%</td>' '$tmp/$g2000.html'"
check "grep -qF 'Unattributed ( other ): 2.0% $s: missing instrumentation.' '$tmp/g20000.page'"
check "! grep -qF 'class=\"warn\">under 0.1%' '$tmp/$g100.html'"
# the idle time by stream: a Kineto trace's rows, as the text gives them. These figures are this
# binary's own (the check is that the page repeats the text, not the figures' truth); the breakdown
# itself is checked against HTA's on this trace in tests/unit/test_kineto_hta.c (--hta-compat)
check "grep -qE '^  0 +7 +4\.33 ms +216\.4 us +0 ns$' '$tmp/$graph.txt'"
check "grep -qF 'idle time by stream (HTA breakdown) | device | stream | host wait | kernel wait | other | 0 | 7 | 4.33 ms | 216.4 us | 0 ns' '$tmp/graph.page'"
# a trace with batches keeps the figures without the caveat
check "! grep -qF 'no device time is any request' '$tmp/1.html'"
exit $fail
