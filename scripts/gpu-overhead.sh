#!/usr/bin/env bash
# Splits the cost of recording on the CUDA reference service's maximum throughput (docs/gpu.md,
# "Recording overhead"). Closed loop: `servprof load` at a rate far above capacity with a cap of 64
# connections keeps 64 requests outstanding, so the achieved rate is the service's throughput.
# Modes, each eager and with --cuda-graphs:
#   off       no --trace                                  (the baseline of the ratios)
#   nocupti   --trace --no-cupti: recorder only (batches, stages)
#   lean      --trace --cupti-lean: + CUPTI activity, no API callbacks (the default with 1 worker)
#   launches  --trace --cupti-launches: + launch-call callbacks, tie by correlation id
# Runs alternate (every round runs every mode once, the order rotated each round), each run on a
# fresh server: a warm-up load first (not counted), then the measured load. The table gives the
# median achieved rate per mode, its ratio to `off` measured in the same script, and the spread.
# Usage: scripts/gpu-overhead.sh [BUILD_DIR]
# Environment: RUNS (rounds, default 3), REQS (measured requests per run, default 90000: about 4 s at
#   20k req/s), WARM (warm-up requests, default 4000), DEADLINE_S (start no new round after this many
#   seconds, default 400), GRAPHS (1: also the --cuda-graphs set, default 1), OUT (table copied to
#   $OUT/gpu-overhead.txt), DEVICE (cuda; `cpu` is a plumbing dry run for machines without a GPU:
#   the CUPTI flags are left out, so every recorded mode is the same and the trace checks differ).
set -uo pipefail

SRC=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${1:-$SRC/build-gpu}
S=$BUILD/servprof
RUNS=${RUNS:-3}
REQS=${REQS:-90000}
WARM=${WARM:-4000}
DEADLINE_S=${DEADLINE_S:-400}
GRAPHS=${GRAPHS:-1}
DEVICE=${DEVICE:-cuda}
WORK=$(mktemp -d /tmp/servprof-gpu-overhead.XXXXXX)
T0=$(date +%s)
die() { printf '\n!!!! FATAL: %s\n' "$*" >&2; exit 1; }

[ -x "$S" ] || die "$S not found: build first (scripts/gpu-check.sh or cmake --build)"
"$S" serve --help 2>&1 | grep -q -- "--cupti-lean" || die "$S serve has no --cupti-lean (old build?)"

# The set-up of gpu-check.sh step 11 (default small model, ~30 launches per batch), so figures compare.
THR=(--device "$DEVICE" --max-batch 32 --max-queue-delay-ms 0.5 --http-threads 4)
LOADA=(--rate 1000000 --warmup 0 --length fixed:8 --connections 64 --no-progress --json)

SPID=
PORT=
trap '[ -n "$SPID" ] && kill "$SPID" 2>/dev/null; true' EXIT
start_server() { # NAME ARGS...
  local name=$1; shift
  "$S" serve --port 0 "$@" > "$WORK/$name.out" 2> "$WORK/$name.err" &
  SPID=$!
  PORT=
  for _ in $(seq 1 600); do
    PORT=$(sed -n 's/^listening on 127\.0\.0\.1:\([0-9][0-9]*\)$/\1/p' "$WORK/$name.out")
    [ -n "$PORT" ] && break
    kill -0 "$SPID" 2>/dev/null || break
    sleep 0.05
  done
  if [ -z "$PORT" ]; then
    echo "server $name did not start:"; cat "$WORK/$name.err"
    kill "$SPID" 2>/dev/null; wait "$SPID" 2>/dev/null; SPID=
    return 1
  fi
}
stop_server() {
  [ -n "$SPID" ] || return 0
  kill -TERM "$SPID" 2>/dev/null
  local rc=0
  wait "$SPID" || rc=$?
  SPID=
  return $rc
}
jf() { python3 -c "import json,sys; d=json.load(open(sys.argv[1])); print(d[sys.argv[2]])" "$@" 2>/dev/null; }

mode_args() { # MODE TRACEFILE -> prints args one per line
  if [ "$DEVICE" != cuda ] && [ "$1" != off ]; then printf '%s\n' --trace "$2"; return; fi
  case $1 in
    off) ;;
    nocupti) printf '%s\n' --trace "$2" --no-cupti ;;
    lean) printf '%s\n' --trace "$2" --cupti-lean ;;
    launches) printf '%s\n' --trace "$2" --cupti-launches ;;
  esac
}

MODES=(off nocupti lean launches)
SETS=(eager)
[ "$GRAPHS" = 1 ] && [ "$DEVICE" = cuda ] && SETS+=(graphs)
RAW=$WORK/raw.txt
: > "$RAW"
echo "servprof gpu-overhead: $RUNS rounds x ${#SETS[@]} sets x ${#MODES[@]} modes, $REQS requests per run (+$WARM warm-up), work dir $WORK"
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader 2>/dev/null || true
for round in $(seq 1 "$RUNS"); do
  el=$(( $(date +%s) - T0 ))
  if [ "$round" -gt 1 ] && [ "$el" -ge "$DEADLINE_S" ]; then
    echo "deadline: ${el}s >= ${DEADLINE_S}s, no round $round (medians over the rounds done)"
    break
  fi
  for set in "${SETS[@]}"; do
    # rotate the order each round so no mode always runs first (warm GPU clocks, page cache)
    n=${#MODES[@]}
    for k in $(seq 0 $((n - 1))); do
      mode=${MODES[$(( (k + round - 1) % n ))]}
      name="$set-$mode-$round"
      tr=$WORK/$name.sptrace
      mapfile -t extra < <(mode_args "$mode" "$tr")
      g=()
      [ "$set" = graphs ] && g=(--cuda-graphs)
      if ! start_server "$name" "${THR[@]}" ${g[@]+"${g[@]}"} ${extra[@]+"${extra[@]}"}; then
        echo "$set $mode $round nan 0" | tee -a "$RAW"
        continue
      fi
      url="http://127.0.0.1:$PORT/v1/embeddings"
      "$S" load --url "$url" "${LOADA[@]}" --requests "$WARM" > "$WORK/$name.warm.json" 2>&1
      "$S" load --url "$url" "${LOADA[@]}" --requests "$REQS" > "$WORK/$name.json" 2> "$WORK/$name.load.err"
      stop_server || echo "note: server $name exited non-zero (see $WORK/$name.err)"
      r=$(jf "$WORK/$name.json" achieved_rate); ok=$(jf "$WORK/$name.json" ok)
      [ "$round" = 1 ] && grep -h "device:" "$WORK/$name.err" | sed "s/^/  [$set $mode] /"
      echo "$set $mode $round ${r:-nan} ${ok:-0}" | tee -a "$RAW"
      # keep one trace per recorded mode and set (round 1) for the check below; drop the rest
      if [ -f "$tr" ] && [ "$round" != 1 ]; then rm -f "$tr"; fi
    done
  done
done

# Do the traces hold what each mode promises? kernels, copies tied to batches, launches recorded.
CHECK=$WORK/check.txt
: > "$CHECK"
for set in "${SETS[@]}"; do
  for mode in nocupti lean launches; do
    tr=$WORK/$set-$mode-1.sptrace
    [ -f "$tr" ] || { echo "ROW|$set $mode trace|missing||FAIL" >> "$CHECK"; continue; }
    "$S" analyze --json "$tr" > "$WORK/$set-$mode.report.json" 2> "$WORK/$set-$mode.report.err" ||
      { echo "ROW|$set $mode trace|analyze failed: $(head -c 200 "$WORK/$set-$mode.report.err")||FAIL" >> "$CHECK"; continue; }
    python3 - "$WORK/$set-$mode.report.json" "$set" "$mode" >> "$CHECK" <<'PY'
import json, sys
d = json.load(open(sys.argv[1])); s, mode = sys.argv[2], sys.argv[3]
g = d.get("gpu") or {}
k = g.get("kernels", 0) or 0
st = {x["name"]: x for x in d.get("stages", [])}
ksh = (st.get("kernel", {}).get("share_of_p95") or 0.0) * 100
want = "0 kernels" if mode == "nocupti" else "kernels > 0, kernel share > 0"
ok = (k == 0) if mode == "nocupti" else (k > 0 and ksh > 0)
print("ROW|%s %s trace: kernels, kernel share of p95|%d, %.1f%%|%s|%s" % (s, mode, k, ksh, want, "ok" if ok else "FAIL"))
PY
  done
done

python3 - "$RAW" "$CHECK" > "$WORK/table.txt" <<'PY'
import statistics, sys
rows = {}
for line in open(sys.argv[1]):
    p = line.split()
    if len(p) != 5:
        continue
    s, m, _, r, ok = p
    if r != "nan" and int(ok) > 0:
        rows.setdefault((s, m), []).append(float(r))
desc = {"off": "no --trace", "nocupti": "--trace --no-cupti (recorder only)",
        "lean": "--trace --cupti-lean (activity, no callbacks)",
        "launches": "--trace --cupti-launches (activity + launch callbacks)"}
print("%-7s %-56s %-24s %9s %8s %9s" % ("set", "mode", "runs (req/s)", "median", "ratio", "overhead"))
for s in ("eager", "graphs"):
    base = rows.get((s, "off"))
    mb = statistics.median(base) if base else None
    for m in ("off", "nocupti", "lean", "launches"):
        v = rows.get((s, m))
        if not v:
            if any(k[0] == s for k in rows):
                print("%-7s %-56s %-24s %9s %8s %9s" % (s, desc[m], "FAILED", "-", "-", "-"))
            continue
        md = statistics.median(v)
        runs = ",".join("%.0f" % x for x in v)
        if mb:
            print("%-7s %-56s %-24s %9.0f %8.3f %8.1f%%" % (s, desc[m], runs, md, md / mb, (1 - md / mb) * 100))
        else:
            print("%-7s %-56s %-24s %9.0f %8s %9s" % (s, desc[m], runs, md, "-", "-"))
print()
print("goal: overhead of the default recording (lean with one worker) under 3% of `off`")
for line in open(sys.argv[2]):
    if line.startswith("ROW|"):
        _, a, b, c, d = line.rstrip("\n").split("|")
        print("%-62s %-16s %-30s %s" % (a, b, c, d))
PY
echo
echo "==== recording overhead on closed-loop throughput ($(nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null | head -1))"
cat "$WORK/table.txt"
echo "(took $(( $(date +%s) - T0 )) s; raw runs in $RAW)"
if [ -n "${OUT:-}" ]; then
  mkdir -p "$OUT"
  { nvidia-smi --query-gpu=name,driver_version --format=csv,noheader 2>/dev/null || true
    echo "RUNS=$RUNS REQS=$REQS WARM=$WARM; server: ${THR[*]}; load: ${LOADA[*]}"
    cat "$WORK/table.txt"; echo; echo "raw (set mode round req/s ok):"; cat "$RAW"; } > "$OUT/gpu-overhead.txt"
fi
grep -q "FAIL" "$WORK/table.txt" && { echo "GPU OVERHEAD: some runs or trace checks FAILED"; exit 1; }
exit 0
