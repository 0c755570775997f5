#!/usr/bin/env bash
# The Python package's cost (docs/BENCHMARKS.md, "Python recording"):
#   1. per-request recording cost from Python, a request with 4 stages and a batch (goal < 5 us), for
#      the C extension and the ctypes fallback (bench/python_record.py);
#   2. the example service's served throughput with recording on vs off: examples/python/service.py
#      (FastAPI + uvicorn + PyTorch CPU, default model) driven closed-loop by servprof load (a rate far
#      above capacity, 32 connections, 8-word texts), runs alternating off/on, medians (goal: within 3%).
# Skips (77) when the package cannot be built or torch/fastapi/uvicorn are missing.
# Usage: bench/python.bench.sh BUILD_DIR   (ROUNDS=3 REQS=1500 to change the served runs)
set -euo pipefail
SRC=$(cd "$(dirname "$0")/.." && pwd)
BUILD=$(cd "${1:-build}" && pwd)
PY=${SERVPROF_PYTHON:-/usr/bin/python3}
ROUNDS=${ROUNDS:-3}
REQS=${REQS:-1500}
bash "$SRC/tests/python/build_package.sh" "$BUILD" "$SRC" > /dev/null
[ -f "$BUILD/python-pkg.skip" ] && { echo "python bench skipped: $(cat "$BUILD/python-pkg.skip")"; exit 77; }
export PYTHONPATH=$BUILD/python-pkg
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
for b in native ctypes; do
  SERVPROF_BACKEND=$b "$PY" "$SRC/bench/python_record.py"
done
for m in torch fastapi uvicorn; do
  "$PY" -c "import $m" 2>/dev/null || { echo "served throughput skipped: $PY lacks $m"; exit 0; }
done
WORK=$(mktemp -d /tmp/servprof-pybench.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
one() { # MODE ROUND: one served run; prints the achieved rate
  local mode=$1 i=$2 extra=()
  [ "$mode" = on ] && extra=(--trace "$WORK/t-$i.sptrace")
  "$PY" "$SRC/examples/python/service.py" --port 0 ${extra[@]+"${extra[@]}"} > "$WORK/s.out" 2> "$WORK/s.err" &
  local pid=$! port=
  for _ in $(seq 1 300); do
    port=$(sed -n 's/^listening on 127\.0\.0\.1:\([0-9][0-9]*\)$/\1/p' "$WORK/s.out"); [ -n "$port" ] && break; sleep 0.1
  done
  [ -n "$port" ] || { cat "$WORK/s.err"; kill $pid; return 1; }
  "$BUILD/servprof" load --url "http://127.0.0.1:$port/v1/embeddings" --rate 100000 --requests "$REQS" \
    --connections 32 --length fixed:8 --no-progress --json > "$WORK/l.json"
  kill -INT $pid; wait $pid
  "$PY" -c "import json,sys; d=json.load(open(sys.argv[1])); print('%.1f %d' % (d['achieved_rate'], d['ok']))" "$WORK/l.json"
}
: > "$WORK/runs"
for i in $(seq 1 "$ROUNDS"); do
  for mode in off on; do
    r=$(one $mode $i); echo "$mode $i $r" | tee -a "$WORK/runs"
  done
done
"$PY" - "$WORK/runs" "$REQS" <<'PY'
import statistics, sys
runs = [l.split() for l in open(sys.argv[1])]
off = [float(r[2]) for r in runs if r[0] == "off"]
on = [float(r[2]) for r in runs if r[0] == "on"]
mo, mn = statistics.median(off), statistics.median(on)
print("served throughput, example service (CPU, default model), %s requests closed-loop (32 connections), "
      "interleaved:" % sys.argv[2])
print("  off %s req/s (median %.1f); on %s req/s (median %.1f): recording costs %.1f%% (goal: within 3%%)" %
      (", ".join("%.1f" % x for x in off), mo, ", ".join("%.1f" % x for x in on), mn, (mo - mn) / mo * 100))
PY
