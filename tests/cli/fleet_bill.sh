#!/usr/bin/env bash
# A fleet's bill is its replicas' instance bills summed (docs/fleet.md, "Cost"): `servprof analyze
# --prometheus` against a stand-in for Prometheus' query API (fleet_bill_standin.py) that answers the
# fleet queries with known figures, so the bill, its states and the cost per request are worked by hand
# (below). One replica reads as before (one instance); two and three replicas at different prices, one
# of them up for part of the range, one that stopped answering; the text's cost line and header, the
# JSON's cost, and `servprof diff` of two fleet reports. Before, the fleet was billed as one instance
# at the replicas' mean price: every multi-replica check of the bill below failed (case B $0.75 for
# $1.50, case C $0.6667 for $1.60, case D $0.6667 for $2.00, case E $0.6667 for $1.60; case A, one
# replica, passes there as here).
# Usage: fleet_bill.sh BINARY SOURCE_DIR. Skips (77) without python3 or the CLI's Prometheus client.
set -u
BIN=$1
SRC=$2
skip() { echo "fleet_bill: skipped: $1"; exit 77; }
command -v python3 >/dev/null || skip "python3 missing"
if "$BIN" analyze --prometheus http://127.0.0.1:9 2>&1 | grep -q "no Prometheus client\|no fleet report"; then
  skip "this build has no Prometheus client (libcurl, jansson)"
fi
TMP=$(mktemp -d)
SPID=
cleanup() {
  [ -n "$SPID" ] && kill "$SPID" 2>/dev/null && wait "$SPID" 2>/dev/null
  rm -rf "$TMP"
}
trap cleanup EXIT
fail=0
check() { if ! eval "$1"; then echo "FAILED: $1"; fail=1; fi; }

python3 "$SRC/tests/cli/fleet_bill_standin.py" "$TMP/port" > "$TMP/standin.log" 2>&1 &
SPID=$!
for _ in $(seq 100); do [ -s "$TMP/port" ] && break; sleep 0.1; done
[ -s "$TMP/port" ] || { echo "FAILED: the stand-in did not start"; cat "$TMP/standin.log"; exit 1; }
URL=http://127.0.0.1:$(cat "$TMP/port")

# analyze CASE [OPTIONS]: the fleet `job="CASE"` of the stand-in over --range 10m (600 s)
analyze() {
  local c=$1
  shift
  "$BIN" analyze --prometheus "$URL" --range 10m --selector "{job=\"$c\"}" "$@" > "$TMP/$c.txt" 2> "$TMP/$c.err" &&
    "$BIN" analyze --prometheus "$URL" --range 10m --selector "{job=\"$c\"}" --json "$@" > "$TMP/$c.json" 2>> "$TMP/$c.err" ||
    { echo "FAILED: analyze $c: $(cat "$TMP/$c.err")"; fail=1; }
}
# cost CASE KEY: the JSON's cost.KEY (by_state.useful and the like with a dot)
cost() { python3 -c 'import json,sys; c=json.load(open(sys.argv[1]))["cost"]
for k in sys.argv[2].split("."): c=c[k]
print("%.9g" % c)' "$TMP/$1.json" "$2"; }
# near A B: |A - B| <= 1e-9
near() { python3 -c 'import sys; sys.exit(0 if abs(float(sys.argv[1]) - float(sys.argv[2])) <= 1e-9 else 1)' "$1" "$2"; }
# the states add up to the bill
states_sum() { python3 -c 'import json,sys; c=json.load(open(sys.argv[1]))["cost"]
print("%.9g" % sum(c["by_state"].values()))' "$TMP/$1.json"; }

# A: one replica, $3/h, up longer than the range: billed 600 s, 3 x 600/3600 = $0.50; its device useful
# 300 s, gap 180, no_batch 120 of 600: useful $0.25, gap $0.15, no_batch $0.10; 1000 requests: $0.0005
# each. One instance: the line is the one a trace's report writes.
analyze A
check "near $(cost A bill) 0.5 && near $(cost A per_request) 0.0005 && near $(cost A price_per_hour) 3"
check "near $(cost A by_state.useful) 0.25 && near $(cost A by_state.gap) 0.15 && near $(cost A by_state.no_batch) 0.1"
check "grep -qx 'cost: \$0.5000 for a 600.000 s window at \$3.00/h; \$500.000 per 1M requests' '$TMP/A.txt'"
check "grep -q '^servprof fleet report: 1 replica, 1000 requests, .*, price \$3.00/h$' '$TMP/A.txt'"

# B: two replicas, $3/h and $6/h, both up the range: $0.50 + 6 x 600/3600 = $1.00, $1.50. The second's
# device useful 480 s, no_batch 120: useful 0.80, no_batch 0.20. Fleet: useful 1.05, gap 0.15, no_batch
# 0.30; 1500 requests: $0.001 each; $1.50 over 2 x 600 s = 1/3 h: $4.50 per replica-hour.
analyze B
check "near $(cost B bill) 1.5 && near $(cost B per_request) 0.001 && near $(cost B price_per_hour) 4.5"
check "near $(cost B by_state.useful) 1.05 && near $(cost B by_state.gap) 0.15 && near $(cost B by_state.no_batch) 0.3"
check "near $(states_sum B) $(cost B bill)"
check "grep -qx 'cost: \$1.50 for 2 replicas over a 600.000 s window (1200.000 s of replica time) at \$3.00-\$6.00/h, \$4.50 per replica-hour; \$1000.000 per 1M requests' '$TMP/B.txt'"
check "grep -q '^servprof fleet report: 2 replicas, 1500 requests, .*, price \$3.00-\$6.00/h$' '$TMP/B.txt'"

# C: B and a third replica at $3/h up for the last 120 s of the range (uptime 120): 3 x 120/3600 =
# $0.10, its device useful 60 s, no_batch 60: useful 0.05, no_batch 0.05. Fleet $1.60: useful 1.10,
# gap 0.15, no_batch 0.35; 1600 requests: $0.001 each; replica time 1320 s: $1.60 / (1320/3600 h) =
# $4.3636 per replica-hour.
analyze C
check "near $(cost C bill) 1.6 && near $(cost C per_request) 0.001 && near $(cost C price_per_hour) 4.36363636"
check "near $(cost C by_state.useful) 1.1 && near $(cost C by_state.gap) 0.15 && near $(cost C by_state.no_batch) 0.35"
check "grep -qx 'cost: \$1.60 for 3 replicas over a 600.000 s window (1320.000 s of replica time) at \$3.00-\$6.00/h, \$4.36 per replica-hour; \$1000.000 per 1M requests' '$TMP/C.txt'"

# D: three replicas, --price-per-hour 4 over theirs, all up the range: 3 x 4 x 600/3600 = $2.00.
# Replicas 1 and 3 as A's device (useful 0.5, gap 0.3, no_batch 0.2 of $2/3 each), replica 2 useful
# 0.8, no_batch 0.2: useful 1/3 + 1/3 + 0.5333 = 1.20, gap 0.40, no_batch 0.40; 3000 requests.
analyze D --price-per-hour 4
check "near $(cost D bill) 2 && near $(cost D per_request) 0.000666666667 && near $(cost D price_per_hour) 4"
check "near $(cost D by_state.useful) 1.2 && near $(cost D by_state.gap) 0.4 && near $(cost D by_state.no_batch) 0.4"
check "grep -qx 'cost: \$2.00 for 3 replicas x a 600.000 s window at \$4.00/h; \$666.667 per 1M requests' '$TMP/D.txt'"

# E: a replica that stopped answering (up 0) after 240 s of the range, up since before it (uptime 900
# at its last scrape; the increase() of its uptime over the range, 240): billed 240 s at the others'
# mean price (it publishes none), (2 + 6) / 2 = $4/h: $0.2667; the others $2/h and $6/h over 600 s:
# $0.3333 (all useful) and $1.00 (all gap). $1.60: useful 0.3333 + 0.2667/6 = 0.3778, gap 1.00,
# no_batch 0.2667 x 5/6 = 0.2222; 800 requests: $0.002 each.
analyze E
check "near $(cost E bill) 1.6 && near $(cost E per_request) 0.002"
check "near $(cost E by_state.useful) 0.377777778 && near $(cost E by_state.gap) 1 && near $(cost E by_state.no_batch) 0.222222222"
check "grep -qx 'cost: \$1.60 for 3 replicas over a 600.000 s window (1440.000 s of replica time) at \$2.00-\$6.00/h, \$4.00 per replica-hour; \$2000.000 per 1M requests' '$TMP/E.txt'"
check "grep -q 'stopped answering in the window' '$TMP/E.txt'"

# servprof diff of two fleet reports reads their bills: A's $500 per 1M requests against B's $1000
"$BIN" diff "$TMP/A.json" "$TMP/B.json" > "$TMP/diff.txt" 2>&1
check "grep -q '^  all .*\$500.000 .*\$1000.000' '$TMP/diff.txt'"
check "grep -q 'the runs are priced differently per hour' '$TMP/diff.txt'"
# the sides' prices: A's one replica's, B's a replica's ($1.50 over 1/3 replica-hour), not the fleet's
check "grep -q '^  BASE .*: 1000 requests, 1 replica (a fleet report), read from its report, \$3.00/h$' '$TMP/diff.txt'"
check "grep -q '^  NEW  .*: 1500 requests, 2 replicas (a fleet report), read from its report, \$4.50/h a replica$' '$TMP/diff.txt'"

[ $fail -eq 0 ] && echo "fleet_bill: ok"
exit $fail
