#!/usr/bin/env bash
# The HTML report's outcomes section flags the error share as it flags the rejection rate (class
# "warn"), from the share at which the verdict says requests are failing: 1% of all requests
# (SP_REJECTION_SIGNIFICANT, docs/analysis.md section 6, "Errors"). Two JSONL traces written here:
# 100 requests of which 1 is an error (1/100 = 1.0%: flagged, and the verdict's "Requests are failing"
# clause) and 101 requests of which 1 is an error (1/101 = 0.99%, shown rounded as 1.0%: neither); no rejection in either, so
# the rejection rate is not flagged. Before, the error share was not in the paragraph at all.
# Run as: bash html_outcomes.sh BINARY SOURCE_DIR
set -u
bin=$1
fail=0
check() { if ! eval "$1"; then echo "FAIL: $1" >&2; fail=1; fi; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
trace() { # N: N requests 10 us apart, each 5 us with a 4 us queue stage; the last is an error (500)
  echo '{"ev":"meta","format":"servprof.events/1"}'
  for ((i = 1; i <= $1; i++)); do
    b=$((i * 10000))
    out=
    [ "$i" = "$1" ] && out=',"outcome":"error","status":500'
    echo "{\"ev\":\"request\",\"id\":\"q$i\",\"arrival_ns\":$b,\"done_ns\":$((b + 5000))$out}"
    echo "{\"ev\":\"stage\",\"id\":\"q$i\",\"stage\":\"queue\",\"start_ns\":$b,\"end_ns\":$((b + 4000))}"
  done
}
for n in 100 101; do
  trace $n > "$tmp/t$n.jsonl"
  "$bin" analyze --no-progress --html "$tmp/t$n.html" "$tmp/t$n.jsonl" > "$tmp/t$n.txt" 2> "$tmp/t$n.err" ||
    { echo "FAIL: analyze t$n.jsonl: $(cat "$tmp/t$n.err")" >&2; fail=1; }
  sed -n '/^verdict:/,/^ *candidate/p' "$tmp/t$n.txt" | tr -s ' \n' ' ' > "$tmp/t$n.verdict"
done
check "grep -qF '<p>100 requests; rejection rate <b>0.0%</b>; errors <b class=\"warn\">1.0%</b> of all requests.' '$tmp/t100.html'"
check "grep -qF 'Requests are failing: 1.0% of all requests (1 of 100)' '$tmp/t100.verdict'"
check "grep -qF '<p>101 requests; rejection rate <b>0.0%</b>; errors <b>1.0%</b> of all requests.' '$tmp/t101.html'"
check "! grep -qF 'Requests are failing' '$tmp/t101.verdict'"
exit $fail
