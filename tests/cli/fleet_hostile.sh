#!/usr/bin/env bash
# `servprof analyze --prometheus` against a Prometheus that answers oddly (docs/fleet.md, "What
# Prometheus must answer"): a stand-in for its query API (fleet_hostile_standin.py) answers the fleet
# of fleet_bill.sh's case B ($3/h and $6/h replicas over 600 s: $1.50) with one thing changed per case.
# Each case gets either a report whose figures agree (the bill is the replicas' bills summed, its
# states add up to it, cost per request = bill / requests, no nan, inf or negative money) or exit 1
# with the query and what Prometheus answered to it, in text and JSON alike, never a crash or a hang.
# On main before this test every value case (NaN, +Inf, -Inf, negative, falling buckets, a series
# twice, labels missing or not strings, up 2, a value not a string) gave exit 0 and a report built on
# the value dropped or floored; the non-JSON answers did not name the query; a redirect was exit 1;
# devices past 4096 were left out (case many: $682.67 of $1000 useful) and two devices whose labels
# agree for their first 256 characters were taken for one (case longname: useful $0.325 of $1.05);
# a bad le was exit 2 (a usage error's status); a time() of 1e300 was taken; the CLI's "no servprof
# series" message lost the targets whose scrape failed; --timeout did not exist.
# Usage: fleet_hostile.sh BINARY SOURCE_DIR. Skips (77) without python3 or the CLI's Prometheus client.
set -u
BIN=$1
SRC=$2
skip() { echo "fleet_hostile: skipped: $1"; exit 77; }
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

python3 "$SRC/tests/cli/fleet_hostile_standin.py" "$TMP/port" > "$TMP/standin.log" 2>&1 &
SPID=$!
for _ in $(seq 100); do [ -s "$TMP/port" ] && break; sleep 0.1; done
[ -s "$TMP/port" ] || { echo "FAILED: the stand-in did not start"; cat "$TMP/standin.log"; exit 1; }
URL=http://127.0.0.1:$(cat "$TMP/port")

# run NAME BASE_URL CASE [OPTIONS]: text into NAME.txt, JSON into NAME.json, errors into NAME.err and
# NAME.jerr, exit statuses into NAME.rc and NAME.jrc; each bounded, so a hang fails instead of waiting
run() {
  local n=$1 u=$2 c=$3
  shift 3
  timeout 120 "$BIN" analyze --prometheus "$u" --range 10m --selector "{job=\"$c\"}" "$@" > "$TMP/$n.txt" 2> "$TMP/$n.err"
  echo $? > "$TMP/$n.rc"
  timeout 120 "$BIN" analyze --prometheus "$u" --range 10m --selector "{job=\"$c\"}" --json "$@" > "$TMP/$n.json" 2> "$TMP/$n.jerr"
  echo $? > "$TMP/$n.jrc"
}

# refuse CASE FRAGMENT...: exit 1 in text and JSON, nothing on standard output, one line on standard
# error holding every fragment (grep -F)
refuse_at() {
  local n=$1 u=$2 c=$3 opts=$4
  shift 4
  # shellcheck disable=SC2086
  run "$n" "$u" "$c" $opts
  for k in rc jrc; do
    [ "$(cat "$TMP/$n.$k")" = 1 ] || { echo "FAILED: $n: exit $(cat "$TMP/$n.$k") ($k), expected 1: $(head -c 300 "$TMP/$n.err")"; fail=1; }
  done
  for e in err jerr; do
    [ "$(wc -l < "$TMP/$n.$e")" = 1 ] || { echo "FAILED: $n: not one line on standard error ($e): $(head -c 300 "$TMP/$n.$e")"; fail=1; }
    for f in "$@"; do
      grep -qF -- "$f" "$TMP/$n.$e" || { echo "FAILED: $n: '$f' not in: $(cat "$TMP/$n.$e")"; fail=1; }
    done
  done
  [ -s "$TMP/$n.txt" ] || [ -s "$TMP/$n.json" ] && { echo "FAILED: $n: a report besides the error"; fail=1; }
  return 0
}
refuse() { local c=$1; shift; refuse_at "$c" "$URL" "$c" "" "$@"; }

# the query of a metric for CASE, as src/fleet/prometheus.c writes it
Q() { echo "$1$2{job=\"$3\"}[10m]))"; }
REQ() { Q "sum by (job, instance, outcome) (increase(" servprof_requests_total "$1"; }
LAT() { Q "sum by (le) (increase(" servprof_request_duration_seconds_bucket "$1"; }
DEV() { Q "sum by (job, instance, device, state) (increase(" servprof_device_seconds_total "$1"; }

# Values no increase() of a counter takes, named with the query and the series
refuse nan "$(REQ nan) with NaN for {" 'instance="10.0.0.2:8000"' 'outcome="ok"' 'not a number'
refuse inf "$(LAT inf) with +Inf for {le=\"+Inf\"}: infinite"
refuse neginf "$(DEV neginf) with -Inf for {" 'state="useful"'
refuse negative "$(DEV negative) with -120 for {" 'state="no_batch"' 'negative: the increase() of a counter is not'
refuse negreq "$(REQ negreq) with -500 for {"
# cumulative buckets that fall: le 0.01 holds 1500, +Inf 1000
refuse decreasing 'servprof_request_duration_seconds_bucket: the sum up to le="+Inf" is 1000, below the 1500'
# an le that is not a number; a stage's bucket the latency histogram has not (exit 2 before, a usage
# error's status, and the le not quoted)
refuse lebad 'servprof_request_duration_seconds_bucket: a series with le="fast": expected a number or +Inf'
refuse lemismatch 'servprof_request_stage_seconds_total has le="0.02", which the latency histogram has not'
# answers of another type than an instant vector, or without data
refuse scalar "$(REQ scalar) with a scalar, not an instant vector"
refuse matrix "$(REQ matrix) with a matrix, not an instant vector"
refuse string "$(REQ string) with a string, not an instant vector"
refuse nodata "$(REQ nodata) with a bad result, not an instant vector"
refuse valuebad "$(REQ valuebad) with [1796000000.0,500] for {" 'expected [time, "number"]'
# the same series twice; labels missing or not strings
refuse dup "$(REQ dup) with the series {" 'instance="10.0.0.2:8000"' "twice"
refuse noinstance "$(REQ noinstance) with a sample without an instance label: {"
refuse nojob "$(REQ nojob) with a sample without a job label: {" 'instance="10.0.0.1:8000"'
refuse labelnum "$(REQ labelnum) with a sample {" "instance=(not a string)" "a label's value is not a string"
# prices no recorder publishes (as before this test)
refuse priceneg 'replica priceneg/10.0.0.2:8000: servprof_price_per_hour is -6'
refuse pricehuge 'replica pricehuge/10.0.0.2:8000: servprof_price_per_hour is 1e+308'
# uptimes, scraped time and up out of their range
refuse uptimeneg "$(Q "max by (job, instance) (max_over_time(" servprof_metrics_uptime_seconds uptimeneg) with -5 for {" 'an uptime is not'
refuse uptimenan "$(Q "max by (job, instance) (max_over_time(" servprof_metrics_uptime_seconds uptimenan) with NaN for {"
refuse scrapedneg "$(Q "max by (job, instance) (increase(" servprof_metrics_uptime_seconds scrapedneg) with -600 for {"
refuse uptwo "$(Q "min by (job, instance) (last_over_time(" up uptwo) with 2 for {" 'neither 0 nor 1'
# only `up`, every target down: no servprof series, the targets named (the report's library named them
# since 59085f6 and docs/fleet.md shows them, but the CLI's message dropped them)
refuse uponly 'has no servprof series matching {job="uponly"}' 'up 0) for: uponly/10.0.0.1:8000, uponly/10.0.0.2:8000'
# answers that are not Prometheus' JSON: the status, the query, what came
refuse notjson "answered HTTP 200 to the query $(REQ notjson) with \"<html><body>Welcome to nginx!</body></html>\" (43 bytes, not JSON)"
refuse cut "answered HTTP 200 to the query $(REQ cut) with \"{\"status\": \"success\", \"data\": {\"resultTy\" (40 bytes, not JSON)"
refuse e500 "refused the query $(REQ e500) (HTTP 500): expanding series: out of memory"
refuse e503 "refused the query $(REQ e503) (HTTP 503): too many queries"
refuse e503html "answered HTTP 503 to the query $(REQ e503html) with \"<html><body>503 Service" "is failing: try again later"
refuse e500empty "answered HTTP 500 to the query $(REQ e500empty) with nothing"
# a server that takes the request and never answers: --timeout's wait, then the query named
refuse_at hang "$URL/hang" B "--timeout 1" "$URL/hang: no answer within 1 s" "to the query time()"
# Prometheus' present (time()) past the year 9999, or not above 0 (before: 1e300 taken, exit 0)
refuse_at time1e300 "$URL/time=1e300" B "" "$URL/time=1e300 gave its time as 1.0000000000000001e+300 s since 1970, past the year 9999"
refuse_at timeneg "$URL/time=-5" B "" "$URL/time=-5 gave its time as -5 s since 1970: expected its clock's present, above 0"
# redirected for ever; an answer over the client's limit
refuse_at loop "$URL/redirectloop" B "" "$URL/redirectloop: redirected more than 5 times"
# a redirect to another protocol (ftp://): not followed (HTTP and HTTPS only, as the URL itself)
refuse_at ftp "$URL/redirectftp" B "" "$URL/redirectftp: it redirected the query time()" "off HTTP(S), which is not followed"
refuse_at big "$URL/big" B "" "$URL/big: the answer to the query time() is over 256 MiB"

# accept NAME BILL USEFUL GAP NO_BATCH REQUESTS: exit 0 in text and JSON; the JSON's bill and states as
# worked by hand, the states adding up to the bill, per_request = bill / requests; no nan, inf or
# negative money in the text
cat > "$TMP/accept.py" <<'EOF'
import json, sys
r = json.load(open(sys.argv[1]))
c = r["cost"]
bill, useful, gap, no_batch, requests = map(float, sys.argv[2:])
near = lambda a, b: abs(a - b) <= 1e-6 * max(1, abs(b))
ok = (near(c["bill"], bill) and near(c["by_state"]["useful"], useful) and near(c["by_state"]["gap"], gap)
      and near(c["by_state"]["no_batch"], no_batch) and near(sum(c["by_state"].values()), c["bill"])
      and near(r["requests"]["count"], requests) and near(c["per_request"], c["bill"] / requests))
if not ok:
    print(sys.argv[1], c, r["requests"]["count"])
sys.exit(0 if ok else 1)
EOF
accept() {
  local n=$1
  for k in rc jrc; do
    [ "$(cat "$TMP/$n.$k")" = 0 ] || { echo "FAILED: $n: exit $(cat "$TMP/$n.$k") ($k): $(head -c 300 "$TMP/$n.err")"; fail=1; return; }
  done
  check "python3 '$TMP/accept.py' '$TMP/$n.json' $2 $3 $4 $5 $6"
  check "! grep -Eiw 'nan|inf' '$TMP/$n.txt' && ! grep -E -- '(^|[ (])-[\\\$0-9]|\\\$-' '$TMP/$n.txt'"
}

# price 0 on every replica: no price published, the default $4/h for both: 2 x 4 x 600/3600 = $1.3333,
# each $0.6667: R1 useful 300, gap 180, no_batch 120 of 600 s: 0.3333, 0.2, 0.1333; R2 useful 480,
# no_batch 120: 0.5333, 0.1333
run price0 "$URL" price0
accept price0 1.33333333 0.86666667 0.2 0.26666667 1500
check "grep -q '^servprof fleet report: 2 replicas, .*price \$4.00/h (default)$' '$TMP/price0.txt'"
# an uptime far past the range: billed the range, $1.50 as case B (R1 useful 300 gap 180 no_batch 120 of
# $0.50, R2 useful 480 no_batch 120 of $1.00)
run uptimebig "$URL" uptimebig
accept uptimebig 1.5 1.05 0.15 0.3 1500
# a third replica ($3/h, 500 requests) with no device series: its $0.50 is all no_batch (docs/fleet.md)
run nodev "$URL" nodev
accept nodev 2 1.05 0.15 0.8 2000
# ... and named, in text and JSON (the HTML page: test_fleet_bill), with its bill, $3/h x 600 s = $0.50 (before: not said at all,
# the device line counting 1 device for 3 replicas)
nodev_said() { tr '\n' ' ' < "$1" | tr -s ' ' | grep -qF -- "$2"; }
check "nodev_said '$TMP/nodev.txt' '1 of 3 replicas exported no device series (nodev/10.0.0.3:8000): its \$0.5000 is billed as no_batch.'"
check "python3 -c 'import json,sys; s=json.load(open(sys.argv[1]))[\"source\"]; sys.exit(not (s[\"replicas_no_device\"] == [\"nodev/10.0.0.3:8000\"] and abs(s[\"replicas_no_device_bill\"] - 0.5) < 1e-9))' '$TMP/nodev.json'"
# seven such replicas at $6/h (7 x 6 x 600/3600 = $7.00, all no_batch; 700 more requests) beside case
# B's two: the first five named (sorted), the rest counted
run nodevmany "$URL" nodevmany
accept nodevmany 8.5 1.05 0.15 7.3 2200
check "nodev_said '$TMP/nodevmany.txt' '7 of 9 replicas exported no device series (nodevmany/10.0.1.1:8000, nodevmany/10.0.1.2:8000, nodevmany/10.0.1.3:8000, nodevmany/10.0.1.4:8000, nodevmany/10.0.1.5:8000 and 2 more): their \$7.00 is billed as no_batch.'"
check "python3 -c 'import json,sys; s=json.load(open(sys.argv[1]))[\"source\"]; sys.exit(not (len(s[\"replicas_no_device\"]) == 7 and abs(s[\"replicas_no_device_bill\"] - 7) < 1e-9))' '$TMP/nodevmany.json'"
# no replica with device series (a CPU-only fleet): all $1.50 no_batch, and nothing said of it
run nodevall "$URL" nodevall
accept nodevall 1.5 0 0 1.5 1500
check "! grep -q 'device series' '$TMP/nodevall.txt' && ! grep -q 'replicas_no_device' '$TMP/nodevall.json'"
# two instances alike for their first 300 characters: two replicas, each billed by its own device
run longname "$URL" longname
accept longname 1.5 1.05 0.15 0.3 1500
check "grep -q '^servprof fleet report: 2 replicas, 1500 requests' '$TMP/longname.txt'"
# 3000 replicas at $2/h with two devices each, all useful: 3000 x 2 x 600/3600 = $1000, 10 requests each
run many "$URL" many
accept many 1000 1000 0 0 30000
check "grep -q '^servprof fleet report: 3000 replicas, 30000 requests' '$TMP/many.txt'"
# a redirect (a proxy's): followed, the report of case B
run redirect "$URL/redirect" redirect
accept redirect 1.5 1.05 0.15 0.3 1500

[ $fail -eq 0 ] && echo "fleet_hostile: ok"
exit $fail
