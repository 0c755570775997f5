#!/usr/bin/env bash
# DESIGN 8a on real traces:
#   1. a `servprof synth --gpu` trace with its lines shuffled (awk, fixed seeds) and reversed gives a
#      byte-identical JSON report and Perfetto trace, and the same what-if predictions;
#   2. a short `servprof demo` run kept with --keep-traces: the client trace shuffled gives the same
#      JSON report; the client's clock moved by +5 ms and -5 ms gives the same report but for the
#      clock section, whose offset moves by exactly -5 ms and +5 ms; every stage's mean adds up to
#      the end-to-end mean; --clock-offset none on the moved trace is visibly wrong (violations).
#   3. a client file that joins only a rejected request: the text says the analysed one has none.
# Part 2 skips when the build has no service or load generator (the demo then falls back to synth).
# Usage: order_and_clocks.sh BINARY SOURCE_DIR
set -u
BIN=$1
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
fail=0
# the reports name their files (data_quality.files[].path): the comparisons leave the names out
nopath() { sed -E 's/"path":"[^"]*"/"path":"-"/g' "$1"; }
bad() { echo "FAIL: $*" >&2; fail=1; }

# shuffle SEED IN OUT: the lines of IN in a random order fixed by SEED
shuffle() {
  awk -v seed="$1" 'BEGIN { srand(seed) } { printf "%.17f\t%s\n", rand(), $0 }' "$2" | sort -k1,1 -s | cut -f2- > "$3"
}

# shift_client DELTA IN OUT: client records' intended_ns, send_ns and done_ns moved by DELTA ns
shift_client() {
  awk -v d="$1" '
    function mv(line, key,    i, pre, rest) {
      i = index(line, "\"" key "\":")
      if (!i) return line
      pre = substr(line, 1, i + length(key) + 2)
      rest = substr(line, i + length(key) + 3)
      if (!match(rest, /^[0-9]+/)) return line
      return pre sprintf("%.0f", substr(rest, 1, RLENGTH) + d) substr(rest, RLENGTH + 1)
    }
    /"ev":"client"/ { $0 = mv(mv(mv($0, "intended_ns"), "send_ns"), "done_ns") }
    { print }' "$2" > "$3"
}

# ---- 1. synth --gpu, shuffled ----
"$BIN" synth --gpu --requests 1500 --seed 11 -o "$TMP/s.jsonl" || { echo "FAIL: synth" >&2; exit 1; }
"$BIN" analyze --no-progress --json --perfetto "$TMP/s.pf.json" "$TMP/s.jsonl" > "$TMP/s.json" ||
  { echo "FAIL: analyze synth" >&2; exit 1; }
for seed in 1 2 3; do
  shuffle "$seed" "$TMP/s.jsonl" "$TMP/s$seed.jsonl"
  cmp -s "$TMP/s.jsonl" "$TMP/s$seed.jsonl" && bad "shuffle $seed left the lines in order"
done
tac "$TMP/s.jsonl" > "$TMP/s4.jsonl"
for k in 1 2 3 4; do
  "$BIN" analyze --no-progress --json --perfetto "$TMP/s$k.pf.json" "$TMP/s$k.jsonl" > "$TMP/s$k.json" ||
    bad "analyze of shuffled synth trace $k"
  cmp -s <(nopath "$TMP/s.json") <(nopath "$TMP/s$k.json") || bad "synth trace, order $k: the JSON report differs"
  cmp -s "$TMP/s.pf.json" "$TMP/s$k.pf.json" || bad "synth trace, order $k: the Perfetto trace differs"
done
# the what-if simulator reads the same event set: its predictions do not depend on line order either
"$BIN" whatif --json "$TMP/s.jsonl" > "$TMP/w.json" 2> /dev/null || bad "whatif on the synth trace"
for k in 1 4; do
  "$BIN" whatif --json "$TMP/s$k.jsonl" > "$TMP/w$k.json" 2> /dev/null || bad "whatif on order $k"
  cmp -s "$TMP/w.json" "$TMP/w$k.json" || bad "synth trace, order $k: the what-if predictions differ"
done

# ---- 2. a demo run's traces ----
if ! "$BIN" --help 2>/dev/null | grep -q '^  serve ' || ! "$BIN" --help 2>/dev/null | grep -q '^  load '; then
  echo "serve/load not built: the demo part is skipped"
  exit $fail
fi
"$BIN" demo --no-progress --duration 2 --rate 80 --keep-traces "$TMP/demo" > "$TMP/demo.txt" 2> "$TMP/demo.err" ||
  { echo "FAIL: demo: $(cat "$TMP/demo.err")" >&2; exit 1; }
srv=$TMP/demo/server.sptrace
cli=$TMP/demo/client.jsonl
[ -s "$srv" ] && [ -s "$cli" ] || { echo "FAIL: demo kept no traces in $TMP/demo" >&2; exit 1; }
"$BIN" analyze --no-progress --json "$srv" "$cli" > "$TMP/d0.json" || { echo "FAIL: analyze demo traces" >&2; exit 1; }

shuffle 7 "$cli" "$TMP/demo/c_shuf.jsonl"
"$BIN" analyze --no-progress --json "$srv" "$TMP/demo/c_shuf.jsonl" > "$TMP/d_shuf.json" || bad "analyze shuffled client"
cmp -s <(nopath "$TMP/d0.json") <(nopath "$TMP/d_shuf.json") || bad "demo traces, client lines shuffled: the JSON report differs"

for d in 5000000 -5000000; do
  shift_client "$d" "$cli" "$TMP/demo/c$d.jsonl"
  cmp -s "$cli" "$TMP/demo/c$d.jsonl" && bad "shift by $d changed nothing"
  "$BIN" analyze --no-progress --json "$srv" "$TMP/demo/c$d.jsonl" > "$TMP/d$d.json" || bad "analyze shifted $d"
  # the same report but for the clock line
  cmp -s <(nopath "$TMP/d0.json" | grep -v '^"clock":') <(nopath "$TMP/d$d.json" | grep -v '^"clock":') ||
    bad "client clock moved by $d ns: the report differs beyond the clock section"
  o0=$(grep -o '"offset_us":[-0-9.]*' "$TMP/d0.json" | cut -d: -f2)
  o1=$(grep -o '"offset_us":[-0-9.]*' "$TMP/d$d.json" | cut -d: -f2)
  # offsets in us with 3 decimals: compare in integer ns
  n0=$(awk -v x="$o0" 'BEGIN { printf "%.0f", x * 1000 }')
  n1=$(awk -v x="$o1" 'BEGIN { printf "%.0f", x * 1000 }')
  [ -n "$o0" ] && [ $((n0 - n1)) -eq "$d" ] || bad "offset $o0 us -> $o1 us after moving the client clock by $d ns"
done
# without the estimate the moved clock shows: client records that do not enclose the server's times
"$BIN" analyze --no-progress --clock-offset none "$srv" "$TMP/demo/c5000000.jsonl" > "$TMP/none.txt" ||
  bad "analyze --clock-offset none"
grep -q 'assumed shared' "$TMP/none.txt" || bad "--clock-offset none: no 'assumed shared' line"
grep -q '^warning: [0-9]* client records' "$TMP/none.txt" || bad "--clock-offset none on a moved clock: no warning"

if command -v python3 >/dev/null; then
python3 - "$TMP/d0.json" <<'PY' || fail=1
import json, sys
r = json.load(open(sys.argv[1]))
q = r["requests"]
assert q["with_client_record"] == q["count"] > 0, q
names = [s["name"] for s in r["stages"]]
assert "network" in names, names
# the stage rows add up to the end-to-end row per request, hence in the mean (us, 3 decimals each)
total = sum(s["mean_us"] for s in r["stages"])
assert abs(total - q["latency_us"]["mean"]) < 0.001 * len(names), (total, q["latency_us"]["mean"])
assert q["latency_us"]["mean"] >= q["server_latency_us"]["mean"]
o = r["clock"]["offsets"]
assert len(o) == 1 and o[0]["source"] == "estimated" and not o[0]["conflict"], o
# one machine, one CLOCK_MONOTONIC: the true offset 0 lies within the bounds
assert o[0]["lower_us"] <= 0 <= o[0]["upper_us"], o
PY
fi

# 3. a client file whose only joined record is a rejected request's (the offset comes from it): the text
#    says the analysed request has no client record, as the JSON's with_client_record 0 does (it once
#    said nothing when no analysed request joined one)
printf '%s\n' '{"ev":"request","id":"a","arrival_ns":1000,"done_ns":5000}' \
  '{"ev":"request","id":"b","arrival_ns":2000,"done_ns":2500,"outcome":"rejected","status":503}' > "$TMP/cs.jsonl"
printf '%s\n' '{"ev":"client","id":"b","intended_ns":1900,"send_ns":1900,"done_ns":2700,"status":503}' > "$TMP/cc.jsonl"
"$BIN" analyze --no-progress "$TMP/cs.jsonl" "$TMP/cc.jsonl" > "$TMP/cs.txt" 2> /dev/null || bad "analyze of a client file of rejected requests failed"
grep -q '^clock offset (server - client)' "$TMP/cs.txt" || bad "no clock offset line for the client file"
grep -q '^1 of 1 requests have no client record with a response' "$TMP/cs.txt" ||
  bad "the text does not say the analysed request has no client record"
"$BIN" analyze --no-progress --html "$TMP/cs.html" "$TMP/cs.jsonl" "$TMP/cc.jsonl" > /dev/null 2>&1 ||
  bad "analyze --html of a client file of rejected requests failed"
grep -q 'requests without a client record (end-to-end = arrival to done)</td><td class="warn">1<' "$TMP/cs.html" ||
  bad "the HTML page does not say the analysed request has no client record"
exit $fail
