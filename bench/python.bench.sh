#!/usr/bin/env bash
# The Python package's cost (docs/BENCHMARKS.md, "Python recording"):
#   1. per-request recording cost from Python, a request with 4 stages and a batch (goal < 5 us), for
#      the C extension and the ctypes fallback (bench/python_record.py), and the ASGI middleware's own
#      cost per request around a FastAPI app, its C path vs its Python path (bench/python_asgi.py);
#   2. the example service's recording overhead with bench/overhead.py --service python (the method of
#      "Recording overhead to 1%"): examples/python/service.py (FastAPI + uvicorn + PyTorch CPU, default
#      model, pinned to CPU 0) driven by servprof load (pinned to CPU 1) open-loop at PY_RATE (default
#      400/s, under half its capacity, 8-word texts), a fresh server per run, modes off (no recorder),
#      rec (recorder + middleware + batches) and torch (rec + servprof.torch's per-module timing) in
#      interleaved rounds with the order rotated: server CPU per request with a 95% interval on the
#      ratio to off; each run then saturates the server (PY_SAT requests closed-loop, 32 connections):
#      served throughput on/off, medians (goal: within 3%), also with an interval. Rounds run until
#      every interval is narrower than 1% or PY_DEADLINE seconds (default 600).
# Skips (77) when the package cannot be built or torch/fastapi/uvicorn are missing.
# Usage: bench/python.bench.sh BUILD_DIR   (PY_RATE PY_REQS PY_SAT PY_DEADLINE PY_MODES; PY_OUT=FILE keeps
#        the table and the raw runs; PY_COMPARE=DIR also runs each recording mode on another build of the
#        package, e.g. main's installed with pip --target DIR: a before/after in the same rounds)
set -euo pipefail
SRC=$(cd "$(dirname "$0")/.." && pwd)
BUILD=$(cd "${1:-build}" && pwd)
PY=${SERVPROF_PYTHON:-/usr/bin/python3}
bash "$SRC/tests/python/build_package.sh" "$BUILD" "$SRC" > /dev/null
[ -f "$BUILD/python-pkg.skip" ] && { echo "python bench skipped: $(cat "$BUILD/python-pkg.skip")"; exit 77; }
export PYTHONPATH=$BUILD/python-pkg
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), load average $(cut -d' ' -f1-3 /proc/loadavg)"
for b in native ctypes; do
  SERVPROF_BACKEND=$b "$PY" "$SRC/bench/python_record.py"
done
# the ASGI middleware's own cost around a FastAPI app, C path vs Python path (in process, no socket)
"$PY" "$SRC/bench/python_asgi.py"
for m in torch fastapi uvicorn; do
  "$PY" -c "import $m" 2>/dev/null || { echo "served throughput skipped: $PY lacks $m"; exit 0; }
done
# the method of bench/overhead.bench.sh, on the Python service
"$PY" "$SRC/bench/overhead.py" --servprof "$BUILD/servprof" --service python --python "$PY" --device cpu \
  --modes "${PY_MODES:-off,rec,torch}" --rate "${PY_RATE:-400}" --requests "${PY_REQS:-2400}" --warm 300 \
  --saturate "${PY_SAT:-2000}" --saturate-connections 32 --deadline "${PY_DEADLINE:-600}" --max-rounds 1000 \
  ${PY_OUT:+--out "$PY_OUT"} ${PY_COMPARE:+--compare "$PY_COMPARE"} && rc=0 || rc=$?
[ $rc -eq 3 ] && { echo "note: the 1% target width was not reached before the deadline (a busy machine); the intervals above are what the rounds gave"; rc=0; }
exit $rc
