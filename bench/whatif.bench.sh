#!/usr/bin/env bash
# What-if validation: profile the reference service once under one policy, predict the p95 latency
# of six other policies with `servprof whatif`, then run each policy for real with the same load
# (same seed: same arrivals and texts) and compare predicted with measured server-side p95
# (`servprof analyze --json` of that run's trace). Goal: within 15% each. All on 127.0.0.1.
# The server is pinned to CPU 0 and the load generator to CPU 1 when taskset exists and there are
# >= 2 CPUs. usage: bash bench/whatif.bench.sh [BUILD]
#   env: WHATIF_BENCH_SECONDS (per run, default 8), WHATIF_BENCH_RATE (req/s, default 100)
set -euo pipefail
build=${1:-build}
secs=${WHATIF_BENCH_SECONDS:-8}
rate=${WHATIF_BENCH_RATE:-100}
sp="$build/servprof"
for c in serve load whatif; do
  if ! "$sp" "$c" --help >/dev/null 2>&1; then
    echo "whatif.bench: skipped: '$sp $c' is not available in this build"; exit 0
  fi
done
command -v python3 >/dev/null || { echo "whatif.bench: skipped: python3 needed to read JSON"; exit 0; }
pin_srv=(); pin_cli=()
if command -v taskset >/dev/null && [ "$(nproc)" -ge 2 ]; then
  pin_srv=(taskset -c 0); pin_cli=(taskset -c 1)
fi
tmp=$(mktemp -d)
srv_pid=
cleanup() { [ -n "$srv_pid" ] && kill "$srv_pid" 2>/dev/null; rm -rf "$tmp"; }
trap cleanup EXIT

# run NAME SERVE_POLICY_ARGS...: serve + load, leaves $tmp/NAME.sptrace
run() {
  local name=$1; shift
  "${pin_srv[@]}" "$sp" serve --trace "$tmp/$name.sptrace" --port 0 "$@" >"$tmp/$name.srv" 2>"$tmp/$name.srv.err" &
  srv_pid=$!
  local port=
  for _ in $(seq 200); do
    port=$(grep -o '127.0.0.1:[0-9]*' "$tmp/$name.srv" 2>/dev/null | cut -d: -f2 || true)
    [ -n "$port" ] && break
    kill -0 "$srv_pid" 2>/dev/null || { cat "$tmp/$name.srv.err" >&2; exit 1; }
    sleep 0.05
  done
  [ -n "$port" ] || { echo "whatif.bench: server did not start" >&2; exit 1; }
  "${pin_cli[@]}" "$sp" load --url "http://127.0.0.1:$port/v1/embeddings" --rate "$rate" --duration "$secs" \
    --seed 1 --no-progress --trace "$tmp/$name.client.jsonl" >"$tmp/$name.load" 2>&1
  kill -INT "$srv_pid"; wait "$srv_pid" || true; srv_pid=
}
p95_measured() { "$sp" analyze --json "$tmp/$1.sptrace" |
  python3 -c 'import json,sys; print("%.3f" % (json.load(sys.stdin)["requests"]["latency_us"]["p95"]/1000))'; }
# the profile carries its policy (serve writes it): no --observed-* options needed
p95_predicted() { "$sp" whatif "$tmp/profile.sptrace" --json "$@" |
  python3 -c 'import json,sys; d=json.load(sys.stdin); print("%.3f" % d["policies"][1]["latency_ms"]["p95"])'; }

echo "profile: serve --max-batch 8 --max-queue-delay-ms 2 (pad longest), load ${rate}/s poisson for ${secs} s"
run profile --max-batch 8 --max-queue-delay-ms 2
"$sp" whatif "$tmp/profile.sptrace" | grep -E '^(observed|  read from|service time|  R\^2|measured |observed\*)'

policies=(
  "--max-batch 4 --max-queue-delay-ms 2"
  "--max-batch 16 --max-queue-delay-ms 2"
  "--max-batch 8 --max-queue-delay-ms 5"
  "--max-batch 8 --max-queue-delay-ms 0.5"
  "--max-batch 8 --max-queue-delay-ms 2 --pad-to 64"
  "--max-batch 8 --max-queue-delay-ms 2 --buckets 32,64,128"
)
printf '\n| policy | predicted p95 ms | measured p95 ms | error |\n|---|---|---|---|\n'
i=0; worst=0
for pol in "${policies[@]}"; do
  i=$((i + 1))
  # the serve options map onto whatif's: --pad-to N -> --pad static:N, --buckets L -> --pad buckets:L
  wargs=$(sed -e 's/--pad-to \([0-9]*\)/--pad static:\1/' -e 's/--buckets \([0-9,]*\)/--pad buckets:\1/' <<<"$pol")
  # shellcheck disable=SC2086
  pred=$(p95_predicted $wargs)
  # shellcheck disable=SC2086
  run "p$i" $pol
  meas=$(p95_measured "p$i")
  err=$(python3 -c "print('%+.1f%%' % (100*($pred-$meas)/$meas))")
  worst=$(python3 -c "print(max($worst, abs(100*($pred-$meas)/$meas)))")
  printf '| %s | %s | %s | %s |\n' "$pol" "$pred" "$meas" "$err"
done
printf '\nworst |error| %.1f%% (goal: within 15%% each)\n' "$worst"
