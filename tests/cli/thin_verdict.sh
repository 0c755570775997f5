#!/usr/bin/env bash
# The verdict says when its ok requests are not the whole story (DESIGN 8a, docs/analysis.md section 6,
# "Cancellations" and "Few served requests"). Traces are written here, their answers worked by hand:
# - cancel: 20 ok requests, request i (1..20) living i ms, all of it one kernel in its own batch (no
#   padding), and 4 cancelled ones with no batch living 50, 60, 70 and 80 ms. Cancelled: 4 of 24 =
#   16.7%; their p50 (nearest rank, k = ceil(0.5 x 4) = 2) 60 ms; the ok p95 (k = ceil(0.95 x 20) = 19)
#   19 ms, so the clause says the ok percentiles leave out the slowest requests. 20 ok: not thin.
# - thin: 3 such ok requests (1, 2, 3 ms) and 20 rejected (503, 1 ms each): useful kernel is 100% of
#   p95 with no gap or padding, which main's binary called "the model itself is the bottleneck"; 3 of
#   23 < 20 ok, so the verdict says what it rests on and neither blames nor clears the model.
# - thin2: the same 3 ok requests as 10% kernel and 90% preprocess (a leader far ahead of the model,
#   which main's binary cleared: "The model is not the bottleneck"), with 20 rejected: no model clause.
# - thin20: thin with 20 ok requests (cancel's, no cancellations) and the 20 rejected: 20 is enough,
#   the model is called the bottleneck as before.
# The text report, the JSON `verdict.sentence` and the HTML report carry the same sentence, and
# verdict_crosscheck.py checks each report's clauses again.
# Run as: bash thin_verdict.sh BINARY SOURCE_DIR
set -u
bin=$1
src=$2
fail=0
check() { if ! eval "$1"; then echo "FAIL: $1" >&2; fail=1; fi; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
py=/usr/bin/python3
[ -x "$py" ] || py=$(command -v python3) || { echo "python3 not found: skipped" >&2; exit 77; }

ok() { # $1 = how many ok requests, $2 = their preprocess share in tenths (0: none)
  for ((i = 1; i <= $1; i++)); do
    a=$((i * 100000000)) d=$((i * 1000000)) p=$((i * 1000000 * $2 / 10))
    echo "{\"ev\":\"request\",\"id\":\"r$i\",\"arrival_ns\":$a,\"done_ns\":$((a + d))}"
    [ "$p" -gt 0 ] && echo "{\"ev\":\"stage\",\"id\":\"r$i\",\"stage\":\"preprocess\",\"start_ns\":$a,\"end_ns\":$((a + p))}"
    echo "{\"ev\":\"batch\",\"batch\":$i,\"requests\":[\"r$i\"],\"device\":0,\"start_ns\":$((a + p)),\"end_ns\":$((a + d)),\"effective_tokens\":8,\"padded_tokens\":8}"
    echo "{\"ev\":\"kernel\",\"batch\":$i,\"name\":\"gemm\",\"device\":0,\"stream\":0,\"start_ns\":$((a + p)),\"end_ns\":$((a + d))}"
  done
}
rejected() {
  for ((i = 1; i <= 20; i++)); do
    a=$((5000000000 + i * 10000000))
    echo "{\"ev\":\"request\",\"id\":\"x$i\",\"arrival_ns\":$a,\"done_ns\":$((a + 1000000)),\"outcome\":\"rejected\",\"status\":503}"
  done
}
meta='{"ev":"meta","format":"servprof.events/1","clock":"monotonic"}'
{
  echo "$meta"
  ok 20 0
  for i in 1 2 3 4; do
    a=$((6000000000 + i * 100000000))
    echo "{\"ev\":\"request\",\"id\":\"c$i\",\"arrival_ns\":$a,\"done_ns\":$((a + (40 + 10 * i) * 1000000)),\"outcome\":\"cancelled\",\"status\":499}"
  done
} > "$tmp/cancel.jsonl"
{ echo "$meta"; ok 3 0; rejected; } > "$tmp/thin.jsonl"
{ echo "$meta"; ok 3 9; rejected; } > "$tmp/thin2.jsonl"
{ echo "$meta"; ok 20 0; rejected; } > "$tmp/thin20.jsonl"

sentence() { "$py" -c 'import json,sys; print(json.load(open(sys.argv[1]))["verdict"]["sentence"])' "$1"; }
for t in cancel thin thin2 thin20; do
  "$bin" analyze --no-progress --json "$tmp/$t.jsonl" > "$tmp/$t.json" 2> "$tmp/$t.err" &&
    "$bin" analyze --no-progress --html "$tmp/$t.html" "$tmp/$t.jsonl" > "$tmp/$t.txt" 2>> "$tmp/$t.err" ||
    { echo "FAIL: analyze $t: $(head -3 "$tmp/$t.err")" >&2; fail=1; continue; }
  sentence "$tmp/$t.json" > "$tmp/$t.sentence"
  # the text report's verdict is the JSON sentence, wrapped
  check "tr -s ' \n' ' ' < '$tmp/$t.txt' | grep -qF \"\$(cat '$tmp/$t.sentence')\""
  # the HTML report quotes it (its HTML escaping leaves these sentences' characters alone)
  check "tr -s ' \n' ' ' < '$tmp/$t.html' | grep -qF \"\$(cut -c1-120 '$tmp/$t.sentence')\""
done

can=" Clients gave up on 16.7% of all requests (4 of 24 were cancelled, their latency p50 60.00 ms, past the served p95 of 19.00 ms), so the latency percentiles leave out the slowest requests, whose clients gave up; if the clients timed out, raise their timeout or cut the latency the table shows."
check "grep -qF '$can' '$tmp/cancel.sentence'"
check "! grep -q 'rests on' '$tmp/cancel.sentence'"

rests="This verdict rests on 3 ok requests of 23 (20 rejected), fewer than 20: too few to call the model the bottleneck or rule it out. "
check "grep -qF '$rests' '$tmp/thin.sentence'"
check "grep -qF '$rests' '$tmp/thin2.sentence'"
for t in thin thin2; do
  check "! grep -q 'model itself is the bottleneck' '$tmp/$t.sentence'"
  check "! grep -q 'model is not the bottleneck' '$tmp/$t.sentence'"
  check "grep -q '\"recommend_model\": *false' '$tmp/$t.json'"
done
check "grep -qF 'A model change is not the first fix yet: it rests on 3 ok requests.' '$tmp/thin.sentence'"
# the stage and group keys stay the leader's
check "grep -q '\"stage\": *\"kernel\"' '$tmp/thin.json'"
check "grep -q '\"stage\": *\"preprocess\"' '$tmp/thin2.json'"
check "grep -q 'model itself is the bottleneck' '$tmp/thin20.sentence'"
check "! grep -q 'rests on' '$tmp/thin20.sentence'"

"$py" "$src/tests/cli/verdict_crosscheck.py" "$tmp"/cancel.json "$tmp"/thin.json "$tmp"/thin2.json "$tmp"/thin20.json ||
  { echo "FAIL: verdict_crosscheck.py" >&2; fail=1; }
# the checker must fail on doctored reports: the prefix dropped, a cancellation count changed
mkdir "$tmp/bad"
doctor() { # NAME FROM TO: the JSON report NAME with FROM replaced by TO in its sentence
  "$py" -c 'import json,sys; r=json.load(open(sys.argv[1])); v=r["verdict"]; assert sys.argv[2] in v["sentence"]
v["sentence"]=v["sentence"].replace(sys.argv[2],sys.argv[3]); json.dump(r,open(sys.argv[4],"w"))' \
    "$tmp/$1.json" "$2" "$3" "$tmp/bad/$1.json"
  if "$py" "$src/tests/cli/verdict_crosscheck.py" "$tmp/bad/$1.json" 2> /dev/null; then
    echo "FAIL: verdict_crosscheck.py passes $1 with '$2' made '$3'" >&2
    fail=1
  fi
}
doctor thin "$rests" ""
doctor cancel "(4 of 24" "(3 of 24"
doctor cancel "p50 60.00 ms" "p50 50.00 ms"
exit $fail
