#!/usr/bin/env bash
# `make demo-python`: the whole-path breakdown of a Python inference service. Builds the servprof
# Python package into BUILD/python-pkg (tests/python/build_package.sh: pip, no network), starts the
# example service (examples/python/service.py: FastAPI + uvicorn, the project's tokenizer, an asyncio
# dynamic batcher, a BERT-style PyTorch encoder on the CPU) on a loopback port with a trace, drives it
# with `servprof load` (Poisson arrivals, X-Request-Id on every request), stops it and prints
# `servprof analyze SERVER_TRACE CLIENT_TRACE`. Options before `--` go to the service
# (e.g. --max-queue-delay-ms 50, --pad-to 512, --layers 4), after it to servprof load
# (default --rate 30 --duration 10). docs/python.md shows the report.
# Usage: scripts/demo-python.sh BUILD_DIR [SERVICE OPTIONS] [-- LOAD OPTIONS]
set -euo pipefail
SRC=$(cd "$(dirname "$0")/.." && pwd)
BUILD=$(cd "${1:-build}" && pwd)
shift || true
PY=${SERVPROF_PYTHON:-/usr/bin/python3}
svc_args=() load_args=()
while [ $# -gt 0 ]; do
  [ "$1" = "--" ] && { shift; load_args=("$@"); break; }
  svc_args+=("$1"); shift
done
[ ${#load_args[@]} -gt 0 ] || load_args=(--rate 30 --duration 10)
[ -x "$BUILD/servprof" ] || { echo "demo-python: $BUILD/servprof not found; build first (make build)" >&2; exit 1; }
bash "$SRC/tests/python/build_package.sh" "$BUILD" "$SRC" >&2
if [ -f "$BUILD/python-pkg.skip" ]; then
  echo "demo-python: the servprof Python package cannot be built here: $(cat "$BUILD/python-pkg.skip")" >&2; exit 1
fi
for m in torch fastapi uvicorn; do
  "$PY" -c "import $m" 2>/dev/null || { echo "demo-python: $PY lacks $m (scripts/setup.sh test installs python3-$m)" >&2; exit 1; }
done
WORK=$(mktemp -d /tmp/servprof-demo-python.XXXXXX)
export PYTHONPATH=$BUILD/python-pkg${PYTHONPATH:+:$PYTHONPATH}
# the files exist before the service starts: the background job opens them for its redirections only
# when it is scheduled, and under set -e a first `sed` that finds no file would end the demo
: > "$WORK/service.out"
: > "$WORK/service.err"
"$PY" "$SRC/examples/python/service.py" --port 0 --trace "$WORK/server.sptrace" ${svc_args[@]+"${svc_args[@]}"} \
  > "$WORK/service.out" 2> "$WORK/service.err" &
pid=$!
trap 'kill $pid 2>/dev/null || true' EXIT
port=
for _ in $(seq 1 300); do
  port=$(sed -n 's/^listening on 127\.0\.0\.1:\([0-9][0-9]*\)$/\1/p' "$WORK/service.out")
  [ -n "$port" ] && break
  kill -0 $pid 2>/dev/null || break
  sleep 0.1
done
[ -n "$port" ] || { cat "$WORK/service.err" >&2; echo "demo-python: the service did not start" >&2; exit 1; }
echo "== examples/python/service.py ${svc_args[*]:-} on 127.0.0.1:$port; servprof load ${load_args[*]}" >&2
"$BUILD/servprof" load --url "http://127.0.0.1:$port/v1/embeddings" --no-progress --trace "$WORK/client.jsonl" \
  "${load_args[@]}" >&2
kill -INT $pid
wait $pid || { cat "$WORK/service.err" >&2; echo "demo-python: the service failed" >&2; exit 1; }
trap - EXIT
cat "$WORK/service.err" >&2
echo >&2
"$BUILD/servprof" analyze "$WORK/server.sptrace" "$WORK/client.jsonl"
echo >&2
echo "traces kept in $WORK: servprof analyze $WORK/server.sptrace $WORK/client.jsonl" >&2
