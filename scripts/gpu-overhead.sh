#!/usr/bin/env bash
# Recording overhead on the CUDA reference service, resolved to 1% (issue 15; docs/gpu.md
# "Recording overhead", docs/BENCHMARKS.md). One call on a GPU machine: builds servprof with CUDA
# when BUILD_DIR has no CUDA build, then runs bench/overhead.py with the modes
#   off       --no-metrics, no --trace: nothing recorded  (the reference of the ratios; every mode
#             runs with --no-metrics, as serve otherwise records for its live metrics)
#   nocupti   --trace --no-cupti: recorder only (batches, stages)
#   lean      --trace --cupti-lean: + CUPTI activity, no API callbacks (the default with 1 worker)
#   launches  --trace --cupti-launches: + launch-call callbacks, tie by correlation id
# in interleaved rounds (every round runs every mode once on a fresh server, the order rotated),
# closed loop (64 requests outstanding: the achieved rate is the service's throughput), and prints,
# per mode, the server's CPU time per request and the served throughput, each as a ratio to `off`
# with its 95% confidence interval; rounds go on until every interval is narrower than 1% or the
# deadline. Then it checks that each recorded mode's trace holds what the mode promises.
# Usage: scripts/gpu-overhead.sh [BUILD_DIR]
# Environment: REQS (measured requests per run, default 20000), WARM (default 3000), DEADLINE_S (no
#   new round after this many seconds, default 420), GRAPHS=1 (also the --cuda-graphs set, after the
#   eager one, with the same deadline), OUT (tables copied to $OUT/gpu-overhead.txt and, with GRAPHS=1,
#   gpu-overhead-graphs.txt), DEVICE (cuda; `cpu` is a
#   plumbing dry run for machines without a GPU: every recorded mode is then the recorder alone).
set -uo pipefail

SRC=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${1:-$SRC/build-gpu}
S=$BUILD/servprof
REQS=${REQS:-20000}
WARM=${WARM:-3000}
DEADLINE_S=${DEADLINE_S:-420}
GRAPHS=${GRAPHS:-0}
DEVICE=${DEVICE:-cuda}
WORK=$(mktemp -d /tmp/servprof-gpu-overhead.XXXXXX)
die() { printf '\n!!!! FATAL: %s\n' "$*" >&2; exit 1; }

if ! { [ -x "$S" ] && "$S" serve --help 2>&1 | grep -q -- "--cupti-lean"; }; then
  echo "building $BUILD (CUDA)"
  cmake -S "$SRC" -B "$BUILD" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSERVPROF_CUDA=ON > "$WORK/cmake.log" 2>&1 ||
    { tail -20 "$WORK/cmake.log"; die "cmake failed"; }
  cmake --build "$BUILD" -j "$(nproc)" --target servprof_cli > "$WORK/build.log" 2>&1 ||
    { grep -E "error" "$WORK/build.log" | head -20; die "build failed"; }
fi
[ -x "$S" ] || die "$S not found after the build"
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader 2>/dev/null || true

MODES=off,nocupti,lean,launches
[ "$DEVICE" = cuda ] || MODES=off,rec
SETS=(eager)
[ "$GRAPHS" = 1 ] && [ "$DEVICE" = cuda ] && SETS+=(graphs)
FAILED=0
for set in "${SETS[@]}"; do
  g=()
  [ "$set" = graphs ] && g=(--server-arg=--cuda-graphs)
  echo "==== $set"
  python3 "$SRC/bench/overhead.py" --servprof "$S" --device "$DEVICE" --modes "$MODES" --closed \
    --connections 64 --requests "$REQS" --warm "$WARM" --deadline "$DEADLINE_S" --max-rounds 200 \
    --server-arg=--max-batch=32 --server-arg=--max-queue-delay-ms=0.5 --server-arg=--http-threads=4 \
    ${g[@]+"${g[@]}"} --work "$WORK/$set" --out "$WORK/$set.table.txt"
  rc=$?
  [ $rc -ne 0 ] && [ $rc -ne 3 ] && { echo "overhead run ($set) FAILED (exit $rc)"; FAILED=1; }
  [ $rc -eq 3 ] && echo "note ($set): the 1% width was not reached before the deadline"
  # Do the traces hold what each mode promises? kernels in the lean and launch modes, none without CUPTI.
  [ "$DEVICE" = cuda ] || continue
  for mode in nocupti lean launches; do
    tr=$WORK/$set/$mode-1.sptrace
    if [ ! -f "$tr" ]; then echo "$set $mode trace: missing  FAIL"; FAILED=1; continue; fi
    "$S" analyze --json --no-progress "$tr" > "$WORK/$set-$mode.json" 2> "$WORK/$set-$mode.err" ||
      { echo "$set $mode trace: analyze failed: $(head -c 200 "$WORK/$set-$mode.err")  FAIL"; FAILED=1; continue; }
    python3 - "$WORK/$set-$mode.json" "$set" "$mode" <<'PY' || FAILED=1
import json, sys
d = json.load(open(sys.argv[1])); s, mode = sys.argv[2], sys.argv[3]
k = (d.get("gpu") or {}).get("kernels", 0) or 0
st = {x["name"]: x for x in d.get("stages", [])}
ksh = (st.get("kernel", {}).get("share_of_p95") or 0.0) * 100
ok = (k == 0) if mode == "nocupti" else (k > 0 and ksh > 0)
print("%s %s trace: %d kernels, kernel share of p95 %.1f%% (want %s)  %s"
      % (s, mode, k, ksh, "0 kernels" if mode == "nocupti" else "kernels > 0", "ok" if ok else "FAIL"))
sys.exit(0 if ok else 1)
PY
  done
done
if [ -n "${OUT:-}" ]; then
  mkdir -p "$OUT"
  [ -f "$WORK/eager.table.txt" ] && cp "$WORK/eager.table.txt" "$OUT/gpu-overhead.txt"
  [ -f "$WORK/graphs.table.txt" ] && cp "$WORK/graphs.table.txt" "$OUT/gpu-overhead-graphs.txt"
fi
echo "goal: recorder alone (nocupti) under 1%, the default CUPTI mode (lean) under 2% of served throughput"
[ $FAILED -eq 0 ] || { echo "GPU OVERHEAD: some runs or trace checks FAILED"; exit 1; }
exit 0
