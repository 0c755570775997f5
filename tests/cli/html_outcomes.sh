#!/usr/bin/env bash
# The HTML report's outcomes section flags the error share as it flags the rejection rate (class
# "warn"), from the share at which the verdict says requests are failing or being rejected: 1% of all
# requests (sp_outcome_significant, SP_REJECTION_SIGNIFICANT, docs/analysis.md section 6, "Errors"),
# and prints each share so that the figure agrees with that test (sp_rep_fmt_outcome_pct, docs/report-
# format.md): one decimal, and below 1% as many more as it takes to print below 1%. JSONL traces
# written here, worked by hand:
# - 100 requests, the last an error: 1/100 = 1.0%, flagged, and the verdict's "Requests are failing"
#   clause;
# - 101 requests, the last an error: 1/101 = 0.990099%, "0.99%": neither flag nor clause. Before it
#   printed "1.0%" unflagged beside 1/100's flagged "1.0%";
# - 1001 requests, the last 10 errors: 10/1001 = 0.999001%, one decimal "1.0", two "1.00", three
#   "0.999%"; unflagged, no clause;
# - the same three with rejections (outcome rejected, 503) instead of errors: the rejection rate the
#   same figures and flags in the HTML paragraph and the text report's outcomes line ("rejection rate
#   1.0%", "0.99%", "0.999%"), the verdict's "Requests are being rejected" clause at 1/100 only;
# - no rejection where the errors are: "rejection rate 0.0%", not flagged.
# Also the stage chart's padding note where no batch carries token counts (below).
# Run as: bash html_outcomes.sh BINARY SOURCE_DIR
set -u
bin=$1
fail=0
check() { if ! eval "$1"; then echo "FAIL: $1" >&2; fail=1; fi; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# N K OUTCOME STATUS: N requests 10 us apart, each 5 us with a 4 us queue stage; the last K end so
trace() {
  echo '{"ev":"meta","format":"servprof.events/1"}'
  for ((i = 1; i <= $1; i++)); do
    b=$((i * 10000))
    out=
    [ "$i" -gt $(($1 - $2)) ] && out=",\"outcome\":\"$3\",\"status\":$4"
    echo "{\"ev\":\"request\",\"id\":\"q$i\",\"arrival_ns\":$b,\"done_ns\":$((b + 5000))$out}"
    echo "{\"ev\":\"stage\",\"id\":\"q$i\",\"stage\":\"queue\",\"start_ns\":$b,\"end_ns\":$((b + 4000))}"
  done
}
run() { # NAME N K OUTCOME STATUS
  trace "$2" "$3" "$4" "$5" > "$tmp/$1.jsonl"
  "$bin" analyze --no-progress --html "$tmp/$1.html" "$tmp/$1.jsonl" > "$tmp/$1.txt" 2> "$tmp/$1.err" ||
    { echo "FAIL: analyze $1.jsonl: $(cat "$tmp/$1.err")" >&2; fail=1; }
  sed -n '/^verdict:/,/^ *candidate/p' "$tmp/$1.txt" | tr -s ' \n' ' ' > "$tmp/$1.verdict"
  tr -s ' \n' ' ' < "$tmp/$1.txt" > "$tmp/$1.flat"
}
run t100 100 1 error 500
run t101 101 1 error 500
run t1001 1001 10 error 500
run r100 100 1 rejected 503
run r101 101 1 rejected 503
run r1001 1001 10 rejected 503
check "grep -qF '<p>100 requests; rejection rate <b>0.0%</b>; errors <b class=\"warn\">1.0%</b> of all requests.' '$tmp/t100.html'"
check "grep -qF 'Requests are failing: 1.0% of all requests (1 of 100)' '$tmp/t100.verdict'"
check "grep -qF '<p>101 requests; rejection rate <b>0.0%</b>; errors <b>0.99%</b> of all requests.' '$tmp/t101.html'"
check "! grep -qF 'Requests are failing' '$tmp/t101.verdict'"
check "grep -qF '<p>1001 requests; rejection rate <b>0.0%</b>; errors <b>0.999%</b> of all requests.' '$tmp/t1001.html'"
check "! grep -qF 'Requests are failing' '$tmp/t1001.verdict'"
check "grep -qF 'outcomes: 101 requests: 100 ok, 1 error; rejection rate 0.0%' '$tmp/t101.flat'"
check "grep -qF '<p>100 requests; rejection rate <b class=\"warn\">1.0%</b>; errors <b>0.0%</b> of all requests.' '$tmp/r100.html'"
check "grep -qF 'Requests are being rejected: 1.0% of all requests (1 of 100)' '$tmp/r100.verdict'"
check "grep -qF 'outcomes: 100 requests: 99 ok, 1 rejected; rejection rate 1.0%' '$tmp/r100.flat'"
check "grep -qF '<p>101 requests; rejection rate <b>0.99%</b>; errors <b>0.0%</b> of all requests.' '$tmp/r101.html'"
check "! grep -qF 'being rejected' '$tmp/r101.verdict'"
check "grep -qF 'outcomes: 101 requests: 100 ok, 1 rejected; rejection rate 0.99%' '$tmp/r101.flat'"
check "grep -qF '<p>1001 requests; rejection rate <b>0.999%</b>; errors <b>0.0%</b> of all requests.' '$tmp/r1001.html'"
check "! grep -qF 'being rejected' '$tmp/r1001.verdict'"
check "grep -qF 'outcomes: 1001 requests: 991 ok, 10 rejected; rejection rate 0.999%' '$tmp/r1001.flat'"
# the stage chart's padding note: these traces carry no token counts, so padding is unknown (the text
# report's padding line says so), not "padding is 0.0% of p95"; a trace with token counts (synth
# --gpu) keeps the share
check "grep -qF 'Padding is unknown: no batch carries token counts.' '$tmp/t101.html'"
check "! grep -qF 'padding is 0.0% of p95' '$tmp/t101.html'"
"$bin" synth --gpu --requests 50 --seed 3 > "$tmp/g.jsonl" 2>/dev/null
"$bin" analyze --no-progress --html "$tmp/g.html" "$tmp/g.jsonl" > /dev/null 2>&1 || fail=1
check "grep -qE 'The kernel stage includes padding: padding is [0-9.]+% of p95' '$tmp/g.html'"
exit $fail
