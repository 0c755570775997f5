#!/usr/bin/env bash
# Overload soak of the reference service (the goal: "2x overload for a minute keeps serving (with 503s)
# without crashing or growing memory"). Measures the service's capacity with a short saturating
# open-loop run, then drives it at 2x that rate for OVERLOAD_SECONDS (default 60) from
# `servprof load`, sampling the server's resident memory every 5 s, and checks /healthz afterwards.
# Then (issue 10, "failure is data") stops it with SIGTERM and analyses its trace without --lenient
# (the rejection rate in the trace beside the 503 share the client saw), and overloads a fresh service
# for CUT_SECONDS (default 20) and kills it with SIGKILL halfway, timing the analysis of the cut trace.
# Everything stays on 127.0.0.1. Usage: bench/overload.bench.sh BUILD_DIR
set -euo pipefail
build=${1:-build}
bin=$build/servprof
secs=${OVERLOAD_SECONDS:-60}
cut_secs=${CUT_SECONDS:-20}
work=$(mktemp -d)
srv=
cleanup() { [ -n "$srv" ] && kill "$srv" 2>/dev/null; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

# the load generator is one client address with up to 1024 connections: lift the per-address cap
# (default 256) so the soak measures overload, not the slowloris guard
"$bin" serve --port 0 --trace "$work/server.sptrace" --max-connections-per-ip 0 >"$work/serve.out" \
  2>"$work/serve.err" &
srv=$!
for _ in $(seq 100); do grep -q "listening on" "$work/serve.out" 2>/dev/null && break; sleep 0.1; done
addr=$(grep -o "listening on [0-9.:]*" "$work/serve.out" | awk '{print $3}')
[ -n "$addr" ] || { echo "overload: the service did not start"; cat "$work/serve.err"; exit 1; }
url=http://$addr/v1/embeddings
rss() { awk '/VmRSS/{print $2}' /proc/"$srv"/status; }

# capacity: the 200s per second of a 3 s run far above what the service can do
"$bin" load --url "$url" --rate 4000 --duration 3 --connections 256 --no-progress --json >"$work/cap.json" 2>/dev/null || true
cap=$(python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(int(d["ok"]/d["duration_s"]))' "$work/cap.json")
[ "$cap" -gt 0 ] || { echo "overload: capacity probe got no 200 responses"; exit 1; }
rate=$((2 * cap))
echo "capacity probe: $cap OK responses/s; overload run: $rate requests/s for ${secs}s (2x)"

rss0=$(rss)
"$bin" load --url "$url" --rate "$rate" --duration "$secs" --connections 1024 --timeout 5 --no-progress \
  --json >"$work/over.json" 2>/dev/null &
lp=$!
samples="$rss0"
while kill -0 "$lp" 2>/dev/null; do
  sleep 5
  kill -0 "$srv" 2>/dev/null || { echo "overload: FAIL: the service died"; exit 1; }
  samples="$samples $(rss)"
done
wait "$lp" || true
health=$(curl -s -o /dev/null -w '%{http_code}' "http://$addr/healthz" || echo 000)
rss1=$(rss)
python3 - "$work/over.json" "$rss0" "$rss1" "$health" $samples <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
rss0, rss1, health = int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
samples = [int(x) for x in sys.argv[5:]]
st = d.get("statuses", {})
print(f"sent {d['sent']}, 200: {st.get('200', 0)}, 503: {st.get('503', 0)}, other errors: {d['errors']}")
print(f"achieved {d['achieved_rate']:.0f} OK/s of {d['target_rate']:.0f} offered; corrected p99 of answered "
      f"{d['corrected']['p99_us']/1000:.1f} ms")
second_half = samples[len(samples)//2:]
print(f"server RSS: start {rss0/1024:.1f} MiB, max {max(samples)/1024:.1f} MiB, end {rss1/1024:.1f} MiB; "
      f"second-half growth {(second_half[-1]-second_half[0])/1024:.1f} MiB")
print(f"/healthz after the run: {health}")
ok = health == "200" and st.get("503", 0) > 0 and (second_half[-1] - second_half[0]) < 32 * 1024
print("overload: PASS" if ok else "overload: FAIL")
sys.exit(0 if ok else 1)
PY

# the overload's own trace: stopped gracefully, analysed as it is (rejections are outcomes, not errors)
kill -TERM "$srv"
wait "$srv" || true
srv=
tsize=$(stat -c %s "$work/server.sptrace")
/usr/bin/time -f '%e %M' -o "$work/time1" "$bin" analyze --no-progress --json "$work/server.sptrace" >"$work/over.report.json"
python3 - "$work/over.json" "$work/over.report.json" "$work/time1" "$tsize" <<'PY'
import json, sys
load, rep = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
wall, rss = open(sys.argv[3]).read().split()[-2:]
o = rep["outcomes"]
sent = load["sent"]
seen = load.get("statuses", {}).get("503", 0)
print(f"overload trace: {int(sys.argv[4]) / 2**20:.1f} MiB, {o['total']} requests, probe included "
      f"({o['by_outcome']['ok']['count']} ok, {o['by_outcome']['rejected']['count']} rejected, "
      f"{o['by_outcome']['cancelled']['count']} cancelled, {o['by_outcome']['error']['count']} error): rejection rate "
      f"{o['rejection_rate'] * 100:.1f}%; the client got {seen} 503s ({seen / sent * 100 if sent else 0:.1f}% of the "
      f"overload run's requests)")
print(f"analyse (no --lenient): {wall} s wall, peak RSS {int(rss) / 1024:.1f} MiB")
PY

# a trace cut by SIGKILL in the middle of an overload
"$bin" serve --port 0 --trace "$work/cut.sptrace" --max-connections-per-ip 0 >"$work/serve2.out" 2>"$work/serve2.err" &
srv=$!
for _ in $(seq 100); do grep -q "listening on" "$work/serve2.out" 2>/dev/null && break; sleep 0.1; done
addr=$(grep -o "listening on [0-9.:]*" "$work/serve2.out" | awk '{print $3}')
"$bin" load --url "http://$addr/v1/embeddings" --rate "$rate" --duration "$cut_secs" --connections 1024 --timeout 5 \
  --no-progress --json >"$work/cut.json" 2>/dev/null &
lp=$!
sleep $((cut_secs / 2))
kill -9 "$srv"
wait "$srv" 2>/dev/null || true
srv=
wait "$lp" || true
csize=$(stat -c %s "$work/cut.sptrace")
/usr/bin/time -f '%e %M' -o "$work/time2" "$bin" analyze --no-progress --json "$work/cut.sptrace" >"$work/cut.report.json" \
  2>"$work/cut.report.err"
python3 - "$work/cut.report.json" "$work/time2" "$csize" "$cut_secs" <<'PY'
import json, sys
rep = json.load(open(sys.argv[1]))
wall, rss = open(sys.argv[2]).read().split()[-2:]
o = rep["outcomes"]
b = o["by_outcome"]
print(f"cut trace (SIGKILL after {int(sys.argv[4]) // 2} s of overload): {int(sys.argv[3]) / 2**20:.1f} MiB, "
      f"{o['total']} requests ({b['ok']['count']} ok, {b['rejected']['count']} rejected, "
      f"{b['unfinished']['count']} unfinished, ran up to {(b['unfinished']['latency_us']['max'] or 0) / 1000:.1f} ms); "
      f"files without their end record: {rep['data_quality']['unclean_files']}")
print(f"analyse the cut trace (no --lenient): {wall} s wall, peak RSS {int(rss) / 1024:.1f} MiB")
ok = rep["data_quality"]["unclean_files"] == 1 and b["unfinished"]["count"] > 0
print("cut trace: PASS" if ok else "cut trace: FAIL")
sys.exit(0 if ok else 1)
PY
