#!/usr/bin/env bash
# Failed requests in the verdict (DESIGN 8a, docs/analysis.md section 6, "Errors"): a service that
# answers many requests with an error reads as healthy in the latency of the served ones, so from 1% of
# all requests the verdict says how many failed, that the latency describes only the served requests,
# and that the failures come first; the text report, the JSON `verdict.sentence`, the HTML report and
# `servprof diff`'s verdict quotes carry it alike. Under --outcomes all the errors are in the figures:
# no "describes only the served requests". Cancelled requests get no error clause (their own:
# thin_verdict.sh), unfinished ones none. Traces are
# written here: 8 ok requests (preprocess 100 us, queue 400 us, postprocess 100 us, hand-made) and
# 2 errors (HTTP 400), i.e. 2 of 10 = 20.0% failed; a second trace with 2 cancelled instead.
# Run as: bash error_verdict.sh BINARY SOURCE_DIR
set -u
bin=$1
fail=0
check() { if ! eval "$1"; then echo "FAIL: $1" >&2; fail=1; fi; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
trace() { # $1 = outcome of the two failed requests, $2 = their status
  echo '{"ev":"meta","format":"servprof.events/1","clock":"monotonic"}'
  for i in 1 2 3 4 5 6 7 8; do
    a=$((i * 1000000))
    echo "{\"ev\":\"request\",\"id\":\"r$i\",\"arrival_ns\":$a,\"done_ns\":$((a + 600000))}"
    echo "{\"ev\":\"stage\",\"id\":\"r$i\",\"stage\":\"preprocess\",\"start_ns\":$a,\"end_ns\":$((a + 100000))}"
    echo "{\"ev\":\"stage\",\"id\":\"r$i\",\"stage\":\"queue\",\"start_ns\":$((a + 100000)),\"end_ns\":$((a + 500000))}"
    echo "{\"ev\":\"stage\",\"id\":\"r$i\",\"stage\":\"postprocess\",\"start_ns\":$((a + 500000)),\"end_ns\":$((a + 600000))}"
  done
  for i in 1 2; do
    a=$((20000000 + i * 1000000))
    echo "{\"ev\":\"request\",\"id\":\"e$i\",\"arrival_ns\":$a,\"done_ns\":$((a + 50000)),\"outcome\":\"$1\",\"status\":$2}"
  done
}
trace error 400 > "$tmp/err.jsonl"
trace cancelled 200 > "$tmp/can.jsonl"
flat() { tr -s ' \n' ' ' < "$1"; }
clause="Requests are failing: 20.0% of all requests (2 of 10) ended in an error"

"$bin" analyze --no-progress --html "$tmp/err.html" "$tmp/err.jsonl" > "$tmp/err.txt" 2>&1 ||
  { echo "FAIL: analyze err" >&2; fail=1; }
"$bin" analyze --no-progress --json "$tmp/err.jsonl" > "$tmp/err.json" 2>&1 || { echo "FAIL: analyze --json" >&2; fail=1; }
flat "$tmp/err.txt" > "$tmp/err.flat"
# text: the whole clause, after the leader's sentence (the ranking is the ok requests')
check "grep -qF '$clause, so this latency describes only the served requests; fix the failures first (the report' '$tmp/err.flat'"
check "grep -qF 's outcomes table gives their statuses and latency).' '$tmp/err.flat'"
check "grep -qF 'is pre-batch queuing (queue, configuration)' '$tmp/err.flat'"
# JSON: the same sentence; the stage and group unchanged (queue, configuration)
if command -v python3 >/dev/null; then
  check "python3 -c 'import json,sys; v=json.load(open(sys.argv[1]))[\"verdict\"]; s=v[\"sentence\"]; assert \"$clause, so this latency describes only the served requests; fix the failures first\" in s, s; assert v[\"stage\"] == \"queue\" and v[\"group\"] == \"configuration\", v' '$tmp/err.json'"
fi
# HTML: the verdict carries it
check "flat '$tmp/err.html' | grep -qF '$clause'"
# diff quotes each side's verdict: the failing side says so
"$bin" diff "$tmp/can.jsonl" "$tmp/err.jsonl" > "$tmp/diff.txt" 2>&1
check "flat '$tmp/diff.txt' | grep -qF '$clause'"
# --outcomes all: the errors are in the figures, the clause stays without the "served" part
"$bin" analyze --no-progress --outcomes all "$tmp/err.jsonl" > "$tmp/all.txt" 2>&1 || { echo "FAIL: --outcomes all" >&2; fail=1; }
check "flat '$tmp/all.txt' | grep -qF '$clause; fix the failures first'"
check "! flat '$tmp/all.txt' | grep -qF 'describes only the served'"
# cancelled requests (the client went away): no error clause
"$bin" analyze --no-progress "$tmp/can.jsonl" > "$tmp/can.txt" 2>&1 || { echo "FAIL: analyze can" >&2; fail=1; }
check "! grep -q 'failing' '$tmp/can.txt'"
check "grep -q 'cancelled' '$tmp/can.txt'"
exit $fail
