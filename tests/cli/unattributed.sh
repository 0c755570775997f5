#!/usr/bin/env bash
# The text report's `unattributed` line never reads "0.0% of p95 latency ... missing instrumentation":
# a share above zero but under 0.1% says "under 0.1% ... negligible" (not "missing instrumentation",
# which reads like a finding), 0.1% or more its figure and "missing instrumentation", none at all
# "0.0% of p95 latency" alone. Traces written here; the shares are hand-computed: one request,
# arrival 0, done 1,000,000 ns, preprocess and queue spans covering all of it but G ns, so `other`
# is G ns of 1 ms, share G / 1e6 (one request: the p95 window is that request).
# Run as: bash unattributed.sh BINARY SOURCE_DIR
set -u
bin=$1
fail=0
check() { if ! eval "$1"; then echo "FAIL: $1" >&2; fail=1; fi; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
trace() { # $1 = uncovered ns (G)
  printf '%s\n' '{"ev":"meta","format":"servprof.events/1","clock":"monotonic"}' \
    '{"ev":"request","id":"r1","arrival_ns":0,"done_ns":1000000}' \
    '{"ev":"stage","id":"r1","stage":"preprocess","start_ns":0,"end_ns":400000}' \
    "{\"ev\":\"stage\",\"id\":\"r1\",\"stage\":\"queue\",\"start_ns\":400000,\"end_ns\":$((1000000 - $1))}"
}
for g in 0 100 700 2000 20000; do
  trace $g > "$tmp/g$g.jsonl"
  "$bin" analyze --no-progress "$tmp/g$g.jsonl" > "$tmp/g$g.txt" 2>&1 || { echo "FAIL: analyze g=$g" >&2; fail=1; }
  tr -s ' \n' ' ' < "$tmp/g$g.txt" > "$tmp/g$g.flat"
done
# 0 ns uncovered: no warning
check "grep -q '^unattributed (\`other\`): 0.0% of p95 latency\$' '$tmp/g0.txt'"
# 100 ns of 1 ms = 0.01%: above zero, printed 0.0% by %.1f: the sentence says under 0.1%, negligible
check "grep -qF 'unattributed (\`other\`): under 0.1% of p95 latency is covered by no stage span and no device activity: negligible' '$tmp/g100.flat'"
check "! grep -q '0\\.0% of p95 latency is covered' '$tmp/g100.flat'"
check "! grep -q 'missing instrumentation' '$tmp/g100.flat'"
# 700 ns of 1 ms = 0.07%, which %.1f prints 0.1%: still under the 0.1% threshold, so negligible
check "grep -qF 'unattributed (\`other\`): under 0.1% of p95 latency is covered by no stage span and no device activity: negligible' '$tmp/g700.flat'"
# 2,000 ns of 1 ms = 0.2%: material, the diagnosis stays
check "grep -qF 'unattributed (\`other\`): 0.2% of p95 latency is covered by no stage span and no device activity: missing instrumentation' '$tmp/g2000.flat'"
# 20,000 ns of 1 ms = 2.0%
check "grep -qF 'unattributed (\`other\`): 2.0% of p95 latency is covered by no stage span and no device activity: missing instrumentation' '$tmp/g20000.flat'"
exit $fail
