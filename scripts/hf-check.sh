#!/usr/bin/env bash
# A Hugging Face model behind aiohttp, profiled (examples/python/hf_service.py; docs/python.md, "A Hugging
# Face model behind aiohttp"): builds the Python package against BUILD_DIR, starts the service (BERT
# encoder and GPT-2 decoder from configs, random weights) with a trace, drives /v1/embeddings with
# `servprof load` and then /v1/completions with `servprof load --stream`, stops it and analyses the
# server's trace with both client traces (no --lenient). The reports go to $OUT/hf-service.txt.
# scripts/device-run.sh runs it on CUDA as its last step when time is left; here (no GPU, no
# transformers) `DEVICE=cpu MODEL=torch-tiny scripts/hf-check.sh build` runs the same plumbing.
# Usage: scripts/hf-check.sh [BUILD_DIR]
# Environment: DEVICE (cuda), MODEL (hf; torch-tiny: the stand-ins), SECONDS_EACH (load per endpoint,
#   default 6), OUT (where hf-service.txt goes), PYPKG (an installed package to use instead of building one),
#   PYTHON (python3)
set -uo pipefail

SRC=$(cd "$(dirname "$0")/.." && pwd)
BUILD=$(cd "${1:-$SRC/build-gpu}" && pwd) || { echo "hf-check: no build directory ${1:-$SRC/build-gpu}" >&2; exit 1; }
S=$BUILD/servprof
DEVICE=${DEVICE:-cuda}
MODEL=${MODEL:-hf}
SECONDS_EACH=${SECONDS_EACH:-6}
PY=${PYTHON:-python3}
WORK=$(mktemp -d /tmp/servprof-hf-check.XXXXXX)
die() { printf '\n!!!! hf-check FAILED: %s\n' "$*"; exit 1; }
[ -x "$S" ] || die "$S not found"

PYPKG=${PYPKG:-}
if [ -z "$PYPKG" ]; then
  PYPKG=$WORK/pypkg
  # as a user installs it; where this Python cannot build it (no setuptools, no Python.h) the source
  # tree's ctypes backend instead
  cp -r "$SRC/python" "$WORK/pysrc" && rm -rf "$WORK/pysrc/build" "$WORK"/pysrc/*.egg-info
  if ! (cd "$WORK/pysrc" && SERVPROF_INCLUDE_DIR=$SRC/include SERVPROF_LIBRARY_DIR=$BUILD PIP_NO_INDEX=1 \
     PIP_DISABLE_PIP_VERSION_CHECK=1 "$PY" -m pip install --no-build-isolation --no-deps --target "$PYPKG" .) \
     > "$WORK/pip.log" 2>&1; then
    tail -5 "$WORK/pip.log"
    echo "hf-check: pip install ./python failed (above): the source tree with the ctypes backend instead"
    PYPKG=$SRC/python
    export SERVPROF_LIBRARY_DIR=$BUILD
  fi
fi
export PYTHONPATH=$PYPKG${PYTHONPATH:+:$PYTHONPATH}
"$PY" -c "import sys, servprof, torch, aiohttp; print('python %s, servprof %s (%s), torch %s, aiohttp %s' % (sys.version.split()[0], servprof.__version__, servprof.BACKEND, torch.__version__, aiohttp.__version__))" ||
  die "$PY lacks servprof, torch or aiohttp"

TRACE=$WORK/hf.sptrace
"$PY" "$SRC/examples/python/hf_service.py" --model "$MODEL" --device "$DEVICE" --port 0 --trace "$TRACE" \
  > "$WORK/service.out" 2> "$WORK/service.err" &
SPID=$!
trap 'kill "$SPID" 2>/dev/null; true' EXIT
PORT=
for _ in $(seq 1 1200); do   # up to 60 s: importing transformers and initialising CUDA
  PORT=$(sed -n 's/^listening on 127\.0\.0\.1:\([0-9][0-9]*\)$/\1/p' "$WORK/service.out")
  [ -n "$PORT" ] && break
  kill -0 "$SPID" 2>/dev/null || break
  sleep 0.05
done
[ -n "$PORT" ] || { cat "$WORK/service.err"; die "the service did not start"; }
U=http://127.0.0.1:$PORT
rc=0
"$S" load --url "$U/v1/embeddings" --rate 100 --duration "$SECONDS_EACH" --warmup 1 --length lognormal:16:0.5 \
  --connections 64 --id-prefix emb --no-progress --trace "$WORK/emb.client.jsonl" > "$WORK/emb.load.txt" 2>&1 || rc=1
"$S" load --url "$U/v1/completions" --stream --rate 8 --duration "$SECONDS_EACH" --warmup 1 --length fixed:16 \
  --output-length fixed:32 --connections 64 --id-prefix gen --no-progress --trace "$WORK/gen.client.jsonl" > "$WORK/gen.load.txt" 2>&1 || rc=1
kill -INT "$SPID"
wait "$SPID" || rc=1
trap - EXIT
cat "$WORK/service.err" "$WORK/emb.load.txt" "$WORK/gen.load.txt"
[ $rc = 0 ] || die "a load run or the service failed (above)"
{
  echo "# hf_service.py --model $MODEL --device $DEVICE: $(grep -m1 '^hf_service: ' "$WORK/service.err" | cut -c13-)"
  grep "^hf_service: embeddings:" "$WORK/service.err"
  echo
  echo "## /v1/embeddings ($SECONDS_EACH s at 100/s) and /v1/completions --stream ($SECONDS_EACH s at 8/s): servprof analyze"
  "$S" analyze --no-progress "$TRACE" "$WORK/emb.client.jsonl" "$WORK/gen.client.jsonl" 2>&1
} > "$WORK/hf-service.txt"
arc=$?
"$S" analyze --json --no-progress "$TRACE" "$WORK/emb.client.jsonl" "$WORK/gen.client.jsonl" > "$WORK/hf.json" 2> "$WORK/analyze.err" ||
  { cat "$WORK/hf-service.txt" "$WORK/analyze.err"; die "servprof analyze failed"; }
"$PY" - "$WORK/hf.json" "$DEVICE" >> "$WORK/hf-service.txt" <<'PY' || rc=1
import json, sys
d, dev = json.load(open(sys.argv[1])), sys.argv[2]
st = {s["name"]: s for s in d["stages"]}
g = d.get("generation") or {}
k = (d.get("gpu") or {}).get("kernels") or 0
want = ["preprocess", "queue", "kernel"]
missing = [s for s in want if not (st.get(s, {}).get("p50_us") or 0) > 0]
checks = [("requests ok", d["outcomes"]["by_outcome"]["ok"]["count"] == d["requests"]["count"] > 0),
          ("stages %s present" % "/".join(want), not missing),
          ("generation: output tokens", (g.get("output_tokens") or 0) > 0),
          ("no record skipped", sum(f["skipped"] + f["dropped"] for f in d["data_quality"]["files"]) == 0),
          ("kernels recorded (%s)" % ("CUPTI" if dev == "cuda" else "module timing"), k > 0)]
print("\n## checks")
for name, ok in checks:
    print("%-40s %s" % (name, "ok" if ok else "FAIL"))
print("requests %d, kernels %d, output tokens %s, missing stages %s" % (d["requests"]["count"], k, g.get("output_tokens"), missing or "none"))
sys.exit(0 if all(ok for _, ok in checks) else 1)
PY
cat "$WORK/hf-service.txt"
[ -n "${OUT:-}" ] && mkdir -p "$OUT" && cp "$WORK/hf-service.txt" "$OUT/hf-service.txt"
[ $rc = 0 ] && [ "$arc" = 0 ] || die "checks failed (above; logs in $WORK)"
echo "hf-check: PASSED (logs in $WORK)"
