#!/usr/bin/env bash
# The fleet report against a real Prometheus (Debian's `prometheus`): three `servprof serve` replicas,
# each under its own `servprof load`, scraped every 500 ms by a Prometheus this test starts on a
# loopback port with a temporary config and data folder; then `servprof analyze --prometheus` over the
# window must agree with `servprof analyze` over the three replicas' traces: every stage's share of
# p95 within the traces' own spread (docs/fleet.md "How close": the half-width of `servprof diff`'s
# interval of the traces against themselves, at least 0.01), p95 within one bucket (a factor 2^(1/4)), the
# same verdict stage and group, requests within the extrapolation of Prometheus' increase(). Bad
# --range, --selector and an unreachable server are refused with their reason. Nothing waits by
# sleeping: every wait polls what it waits for (Prometheus ready, every target scraped, the last
# counts in Prometheus), with a deadline.
# Usage: fleet_prometheus.sh BINARY SOURCE_DIR. Skips (77) with the reason when prometheus, curl,
# python3, serve/load or the CLI's Prometheus client is missing.
set -u
BIN=$1
skip() { echo "fleet_prometheus: skipped: $1"; exit 77; }
command -v prometheus >/dev/null || skip "no prometheus binary (Debian package prometheus; scripts/setup.sh test installs it)"
command -v curl >/dev/null || skip "curl missing"
command -v python3 >/dev/null || skip "python3 missing"
"$BIN" serve --help >/dev/null 2>&1 || skip "servprof serve is compiled out"
"$BIN" load --help >/dev/null 2>&1 || skip "servprof load is compiled out"
if "$BIN" analyze --prometheus http://127.0.0.1:9 2>&1 | grep -q "no Prometheus client\|no fleet report"; then
  skip "this build has no Prometheus client (libcurl, jansson)"
fi

TMP=$(mktemp -d)
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null; done
  rm -rf "$TMP"
}
trap cleanup EXIT
fail=0
check() { if ! eval "$1"; then echo "FAILED: $1"; fail=1; fi; }
# polls `cond` every 0.1 s until it holds or `secs` pass; returns 1 at the deadline
wait_for() {
  local secs=$1 cond=$2 end=$((SECONDS + $1))
  while ! eval "$cond"; do
    [ $SECONDS -ge $end ] && { echo "timed out after ${secs}s waiting for: $cond"; return 1; }
    sleep 0.1
  done
}

# the usage errors come before any network
"$BIN" analyze --prometheus http://127.0.0.1:9 --range 5x >/dev/null 2>"$TMP/e1"; rc=$?
check "[ $rc -eq 2 ] && grep -q -- \"--range '5x'\" '$TMP/e1'"
# longer than Prometheus takes (int64 ns, docs/fleet.md): refused here, not by Prometheus after a round trip
"$BIN" analyze --prometheus http://127.0.0.1:9 --range 5000000h >/dev/null 2>"$TMP/e1b"; rc=$?
check "[ $rc -eq 2 ] && grep -q -- \"--range '5000000h': longer than Prometheus takes\" '$TMP/e1b'"
"$BIN" analyze --prometheus http://127.0.0.1:9 --selector 'job="serve"' >/dev/null 2>"$TMP/e2"; rc=$?
check "[ $rc -eq 2 ] && grep -q -- '--selector' '$TMP/e2'"
"$BIN" analyze --prometheus http://127.0.0.1:9 "$TMP/t.sptrace" >/dev/null 2>"$TMP/e3"; rc=$?
check "[ $rc -eq 2 ] && grep -q 'not traces' '$TMP/e3'"
"$BIN" analyze --prometheus http://127.0.0.1:9 >/dev/null 2>"$TMP/e4"; rc=$?
check "[ $rc -eq 1 ] && grep -q 'cannot read Prometheus at http://127.0.0.1:9' '$TMP/e4'"

# three replicas: a 6 ms batch window at 25 requests/s each, a light load. The estimate takes the stage
# mix of the buckets around p95 for that of the requests at p95 (docs/fleet.md, "How close"): when the
# replicas starve for CPU (40 requests/s on a machine at load 16, or this test beside a sanitizer
# ctest) p95 moves into a tail where one bucket spans 100-300 ms of very different mixes, and shares
# came out 0.055-0.08 from the traces'; a 15 ms window did not help
PORTS=()
for k in 0 1 2; do
  "$BIN" serve --port 0 --max-queue-delay-ms 6 --trace "$TMP/r$k.sptrace" > "$TMP/r$k.out" 2> "$TMP/r$k.err" &
  PIDS+=($!)
done
for k in 0 1 2; do
  wait_for 30 "grep -q '^listening on' '$TMP/r$k.out'" || { cat "$TMP/r$k.err"; exit 1; }
  PORTS+=("$(sed -n 's/^listening on 127\.0\.0\.1:\([0-9]*\)$/\1/p' "$TMP/r$k.out")")
done
# each replica answers /metrics before Prometheus starts
for p in "${PORTS[@]}"; do
  check "curl -s --noproxy '*' http://127.0.0.1:$p/metrics | grep -q '^servprof_requests_total{outcome=\"ok\"} 0$'"
done

# Prometheus on a free loopback port (a taken one makes it exit: try another)
cat > "$TMP/prometheus.yml" <<EOF
global:
  scrape_interval: 500ms
  scrape_timeout: 500ms
scrape_configs:
  - job_name: serve
    static_configs:
      - targets: ['127.0.0.1:${PORTS[0]}', '127.0.0.1:${PORTS[1]}', '127.0.0.1:${PORTS[2]}']
EOF
PROM=
for try in 1 2 3 4 5; do
  PP=$((20000 + (RANDOM % 20000)))
  prometheus --config.file="$TMP/prometheus.yml" --storage.tsdb.path="$TMP/data$try" \
    --web.listen-address="127.0.0.1:$PP" --log.level=warn > "$TMP/prom.log" 2>&1 &
  PPID_PROM=$!
  if wait_for 30 "curl -s --noproxy '*' -o /dev/null -w '%{http_code}' http://127.0.0.1:$PP/-/ready | grep -q 200 || ! kill -0 $PPID_PROM 2>/dev/null" &&
     kill -0 $PPID_PROM 2>/dev/null; then
    PIDS+=($PPID_PROM)
    PROM=http://127.0.0.1:$PP
    break
  fi
  kill $PPID_PROM 2>/dev/null; wait $PPID_PROM 2>/dev/null
done
[ -n "$PROM" ] || { echo "FAILED: Prometheus did not start"; cat "$TMP/prom.log"; exit 1; }
q() { curl -s --noproxy '*' --get "$PROM/api/v1/query" --data-urlencode "query=$1" |
      python3 -c 'import json,sys; r=json.load(sys.stdin)["data"]["result"]; print(r[0]["value"][1] if r else "")'; }
# every replica scraped at least once before the load starts, so each series starts at 0
wait_for 30 "[ \"\$(q 'sum(up{job=\"serve\"})')\" = 3 ]" || fail=1

for k in 0 1 2; do
  "$BIN" load --url "http://127.0.0.1:${PORTS[$k]}/v1/embeddings" --rate 25 --duration 8 --seed $((k + 1)) \
    --no-progress --json > "$TMP/load$k.json" 2> "$TMP/load$k.err" &
  PIDS+=($!)
  LOADS+=($!)
done
for p in "${LOADS[@]}"; do wait "$p"; done

# the replicas' own counts once nothing is pending, then Prometheus holding them. Pending counts only
# records the writer has drained: a request answered a moment ago may still wait in its ring for up to
# one writer period (80 ms on a quiet service) and be counted up to ~160 ms after its record
# (docs/recording.md), so the count is read once that bound has passed with nothing pending
total=0
sleep 0.5
for p in "${PORTS[@]}"; do
  wait_for 30 "curl -s --noproxy '*' http://127.0.0.1:$p/metrics | grep -q '^servprof_metrics_pending_requests 0$'" || fail=1
  n=$(curl -s --noproxy '*' http://127.0.0.1:$p/metrics | sed -n 's/^servprof_requests_total{outcome="ok"} \([0-9]*\)$/\1/p')
  total=$((total + n))
done
check "[ $total -gt 400 ]"
wait_for 30 "[ \"\$(q 'sum(servprof_requests_total{job=\"serve\",outcome=\"ok\"})')\" = $total ]" || fail=1

"$BIN" analyze --prometheus "$PROM" --range 10m --selector '{job="serve"}' --json > "$TMP/fleet.json" 2> "$TMP/fleet.err"
check "[ $? -eq 0 ]"
"$BIN" analyze --prometheus "$PROM" --range 10m --selector '{job="serve"}' > "$TMP/fleet.txt" 2>&1
check "grep -q 'servprof fleet report: 3 replicas' '$TMP/fleet.txt'"
check "grep -q 'serve/127.0.0.1:${PORTS[2]}' '$TMP/fleet.txt'"
# the longest --range servprof lets through is one this Prometheus takes, and 1 ms more it refuses
# (so servprof's bound, tests/unit/test_fleet_range.c, is Prometheus' own, not a guess)
"$BIN" analyze --prometheus "$PROM" --range 2562047h47m16s854ms --selector '{job="serve"}' > "$TMP/long.txt" \
  2> "$TMP/long.err"; rc=$?
check "[ $rc -eq 0 ] && grep -q 'servprof fleet report: 3 replicas' '$TMP/long.txt'"
check "curl -s --noproxy '*' --get '$PROM/api/v1/query' --data-urlencode 'query=max(max_over_time(up[2562047h47m16s855ms]))' | grep -q 'duration out of range'"
# a selector nothing matches: no servprof series, said so
"$BIN" analyze --prometheus "$PROM" --range 10m --selector '{job="nothing"}' > /dev/null 2> "$TMP/none.err"; rc=$?
check "[ $rc -eq 1 ] && grep -q 'no servprof series matching {job=\"nothing\"}' '$TMP/none.err'"
# the window's end as the report's header gives it, a UTC date, not Unix seconds
check "grep -Eq 'in the 10m before [0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2} UTC:' '$TMP/none.err'"

# the traces: stop the replicas (their recorders close the traces)
for k in 0 1 2; do kill -TERM "${PIDS[$k]}"; wait "${PIDS[$k]}"; done
"$BIN" analyze --json "$TMP/r0.sptrace" "$TMP/r1.sptrace" "$TMP/r2.sptrace" > "$TMP/exact.json" 2> "$TMP/exact.err"
check "[ $? -eq 0 ]"

# each stage's tolerance comes from this run's own spread (docs/fleet.md "How close"): servprof diff of
# the traces against themselves resamples their requests (blocks in arrival order, docs/diff.md) on
# each side independently, and its 95% interval on a stage's share of p95 is how far two window mixes
# of this run's requests fall apart by chance
"$BIN" diff --json --base "$TMP/r0.sptrace" --base "$TMP/r1.sptrace" --base "$TMP/r2.sptrace" \
  --new "$TMP/r0.sptrace" --new "$TMP/r1.sptrace" --new "$TMP/r2.sptrace" > "$TMP/spread.json" 2> "$TMP/spread.err"
check "[ $? -eq 0 ]"
python3 - "$TMP/fleet.json" "$TMP/exact.json" "$TMP/spread.json" "${PORTS[@]}" <<'EOF' || fail=1
import json, sys
fleet, exact, spread = (json.load(open(a)) for a in sys.argv[1:4])
ports = sys.argv[4:]
bad = []
src = fleet["source"]
if src is None or src["kind"] != "prometheus" or sorted(src["replicas"]) != sorted("serve/127.0.0.1:" + p for p in ports):
    bad.append("source: %r" % (src,))
g = 2 ** 0.25
fp, ep = fleet["requests"]["latency_us"]["p95"], exact["requests"]["latency_us"]["p95"]
if not (ep / g <= fp <= ep * g):
    bad.append("p95 %.1f us, traces %.1f us: more than one bucket apart" % (fp, ep))
fn, en = fleet["requests"]["count"], exact["requests"]["count"]
# increase() extrapolates each series by at most a scrape interval (500 ms) over ~9 s of samples
if not (en <= fn <= en * 1.1):
    bad.append("requests %d, traces %d" % (fn, en))
ex = {s["name"]: s for s in exact["stages"]}
# docs/fleet.md "How close": the traces' share of p95 is the stage mix of DESIGN 4's window (20 of these
# ~565 requests), the estimate the mean mix of the latency buckets around it (the window's requests and
# their bucket-mates, ~50). The window's own mix is uncertain: servprof diff of the traces against
# themselves gives the 95% interval of the difference of two independent window mixes, half-width H
# per stage (0.03-0.12 on queue and kernel in quiet runs, 0.15-0.31 with the replicas starved of CPU,
# where p95 moves into a steep tail). The bucket estimate shares the window's requests, so it departs
# from the window's mix less than an independent draw does: over 20 runs, 10 quiet and 10 beside 2-4
# busy loops, the difference was at most 0.53 H (0.0606 at most, H 0.28 there). A fixed tolerance
# (0.08, 0.1 on a steep tail) failed by chance under load (0.0832 once) and was looser than needed
# when quiet. The floor, 0.01, covers stages with no spread (a stage at 0 share: H 0) against the
# 6-digit rounding of the report and the bucket mean of tiny stages. Its power: a bucket rule off by
# one (the bucket below p95's) moved shares by 0.04-0.12, about a 20-request window's chance spread,
# and failed this test in 4 of 8 runs; p50's buckets taken for p95's (0.23-0.26) in every run.
# tests/unit/test_fleet_texts.c checks the rule exactly (the bucket below fails 9 of its checks), this
# test the live path end to end
FLOOR = 0.01
half = {}
for m in spread["metrics"]:
    if m["stage"] is not None and m["path"] == "stage.%s.share_of_p95" % m["stage"] and m["interval"]:
        half[m["stage"]] = (m["interval"]["hi"] - m["interval"]["lo"]) / 2
if not spread["bootstrap"]["intervals"]:
    bad.append("servprof diff of the traces against themselves gave no intervals: %s" % spread["bootstrap"]["note"])
tol = {name: max(FLOOR, half.get(name, 0.0)) for name in ex}
worst, worst_stage, worst_ratio = 0, "", 0
for s in fleet["stages"]:
    e = ex.get(s["name"])
    if e is None:
        bad.append("stage %s not in the traces' report" % s["name"])
        continue
    d = abs(s["share_of_p95"] - e["share_of_p95"])
    if d > worst:
        worst, worst_stage = d, s["name"]
    worst_ratio = max(worst_ratio, d / tol[s["name"]])
    if d > tol[s["name"]]:
        bad.append("%s: share of p95 %.4f, traces %.4f: %.4f apart, over its tolerance %.4f" %
                   (s["name"], s["share_of_p95"], e["share_of_p95"], d, tol[s["name"]]))
fv, ev = fleet["verdict"], exact["verdict"]
if (fv["stage"], fv["group"]) != (ev["stage"], ev["group"]):
    # a different leader is right only when the traces' own ranking has the two level (within tol)
    rank = {c["stage"]: c["share_of_p95"] for c in exact["verdict"]["ranking"]}
    if not (fv["stage"] in rank and ev["stage"] in rank and
            abs(rank[fv["stage"]] - rank[ev["stage"]]) <= max(tol.get(fv["stage"], FLOOR), tol.get(ev["stage"], FLOOR))):
        bad.append("verdict %s/%s, traces %s/%s" % (fv["stage"], fv["group"], ev["stage"], ev["group"]))
print("fleet_prometheus: %d requests (traces %d), p95 %.0f us (traces %.0f), largest share difference %.4f "
      "(%s, tolerance %.4f there), largest difference over its tolerance %.2f, verdict %s" %
      (fn, en, fp, ep, worst, worst_stage or "-", tol.get(worst_stage, FLOOR), worst_ratio, fv["stage"]))
for b in bad:
    print("FAILED:", b)
sys.exit(1 if bad else 0)
EOF
# a fleet report gates CI like any report (docs/fleet.md, "From a fleet report to a CI gate"):
# `servprof diff` reads it with point changes (it has no requests to resample); the report against
# itself changes nothing and no condition holds; against the traces' exact report its stages' shares
# are compared, its unknown stage percentiles show as n/a, and a condition on one is refused (exit 2)
# rather than passing for ever
"$BIN" diff --fail-if 'p95:+5%' --fail-if 'stage.queue.share_of_p95:+0.05' "$TMP/fleet.json" "$TMP/fleet.json" \
  > "$TMP/self.txt" 2> "$TMP/self.err"; rc=$?
[ $rc = 0 ] && grep -q '^0 of 2 conditions hold' "$TMP/self.txt" ||
  { echo "FAILED: diff of the fleet report with itself: exit $rc"; cat "$TMP/self.txt" "$TMP/self.err"; fail=1; }
"$BIN" diff "$TMP/exact.json" "$TMP/fleet.json" > "$TMP/x.txt" 2> "$TMP/x.err"; rc=$?
[ $rc = 0 ] && grep -q 'p95 .*n/a  n/a' "$TMP/x.txt" ||
  { echo "FAILED: diff of the traces' report and the fleet report: exit $rc"; cat "$TMP/x.txt" "$TMP/x.err"; fail=1; }
"$BIN" diff --fail-if 'stage.queue.p95:+5%' "$TMP/exact.json" "$TMP/fleet.json" > /dev/null 2> "$TMP/y.err"; rc=$?
[ $rc = 2 ] && grep -q 'has no percentiles of its stages' "$TMP/y.err" ||
  { echo "FAILED: a condition on a fleet report's stage p95: exit $rc, $(cat "$TMP/y.err")"; fail=1; }
if [ $fail != 0 ] || [ -n "${SP_TEST_VERBOSE:-}" ]; then echo "--- fleet report:"; cat "$TMP/fleet.txt" "$TMP/fleet.err"; fi
exit $fail
