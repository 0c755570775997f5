#!/usr/bin/env bash
# One request's own cost says how it split its batch's device time (DESIGN 7: by effective tokens;
# src/analyze/cost.c splits a batch in equal shares when a member's token count is unknown), in the
# text report's cost block and the HTML report's cost paragraph. It said "by its tokens" for every
# trace, also Triton's and OTLP's, where no request carries a token count. JSONL traces written here:
# - tokens: 2 batches of 2 requests, every request with input_tokens: "by its tokens";
# - none: the same without input_tokens: "in equal shares: no batch carries its members' token counts";
# - mixed: the first batch's requests with input_tokens, the second's without: "by its tokens; equal
#   shares in 1 of 2 batches, which lack their members' token counts".
# Known answer for the tokens trace: batch 1 (r1 30 tokens, r2 10) runs 100 us on the device, batch 2
# (r3, r4, 20 each) 100 us; at $3.60/h a device ns costs $1e-12, so r1's share of batch 1 is 75 ns of
# device time = $7.5e-08, r2's $2.5e-08, r3's and r4's $5e-08 each: max $7.5e-08. With equal shares
# every request costs $5e-08. The reports print a cost per request per 1M requests (one formatter,
# sp_rep_fmt_cost_per_request): $5e-08 is $0.050 per 1M requests, $7.5e-08 $0.075. The text line is
# wrapped at 100 columns, so it is read with its blanks and line breaks squeezed to one space.
# Run as: bash cost_basis.sh BINARY SOURCE_DIR
set -u
bin=$1
fail=0
check() { if ! eval "$1"; then echo "FAIL: $1" >&2; fail=1; fi; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# trace T1 T2 T3 T4: input_tokens per request ("" for none)
trace() {
  echo '{"ev":"meta","format":"servprof.events/1","price_per_hour":3.6}'
  local tok=("$@") i b
  for i in 1 2 3 4; do
    b=$(( (i - 1) / 2 * 1000000 ))
    t=${tok[$((i - 1))]}
    echo "{\"ev\":\"request\",\"id\":\"r$i\",\"arrival_ns\":$b,\"done_ns\":$((b + 200000))${t:+,\"input_tokens\":$t}}"
  done
  for k in 0 1; do
    b=$(( k * 1000000 ))
    echo "{\"ev\":\"batch\",\"batch\":$k,\"requests\":[\"r$((2 * k + 1))\",\"r$((2 * k + 2))\"],\"start_ns\":$((b + 50000)),\"end_ns\":$((b + 150000))}"
    echo "{\"ev\":\"kernel\",\"batch\":$k,\"name\":\"k\",\"stream\":0,\"start_ns\":$((b + 50000)),\"end_ns\":$((b + 150000))}"
  done
}
trace 30 10 20 20 > "$tmp/tokens.jsonl"
trace "" "" "" "" > "$tmp/none.jsonl"
trace 30 10 "" "" > "$tmp/mixed.jsonl"
for n in tokens none mixed; do
  "$bin" analyze --no-progress "$tmp/$n.jsonl" 2>&1 > "$tmp/$n.out" || { echo "FAIL: analyze $n" >&2; fail=1; }
  tr -s ' \n' ' ' < "$tmp/$n.out" > "$tmp/$n.txt"
  "$bin" analyze --no-progress --html "$tmp/$n.html" "$tmp/$n.jsonl" > /dev/null 2>&1 || fail=1
done
check "grep -qF \"one request's cost (batch device time by its tokens), per 1M requests: p50 \\\$0.050, p95 \\\$0.075, max \\\$0.075\" '$tmp/tokens.txt'"
check "grep -qF \"one request's own cost (its batch's device time by its tokens), per 1M requests: p50 \\\$0.050, p95 \\\$0.075\" '$tmp/tokens.html'"
check "grep -qF \"one request's cost (batch device time in equal shares: no batch carries its members' token counts), per 1M requests: p50 \\\$0.050, p95 \\\$0.050, max \\\$0.050\" '$tmp/none.txt'"
check "grep -qF \"one request's own cost (its batch's device time in equal shares: no batch carries its members' token counts)\" '$tmp/none.html'"
check "grep -qF \"one request's cost (batch device time by its tokens; equal shares in 1 of 2 batches, which lack their members' token counts), per 1M requests: p50 \\\$0.050, p95 \\\$0.075\" '$tmp/mixed.txt'"
check "grep -qF \"(its batch's device time by its tokens; equal shares in 1 of 2 batches, which lack their members' token counts)\" '$tmp/mixed.html'"
exit $fail
