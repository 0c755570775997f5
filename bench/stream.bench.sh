#!/usr/bin/env bash
# Streaming capacity of the load generator: the highest open-loop rate `servprof load --stream`
# sustains against a trivial server-sent events endpoint (bench_sse_target: one epoll thread on
# 127.0.0.1 streaming N vLLM-shaped completion events per request as fast as it can) with the
# achieved rate within 1% of target, every stream complete and schedule lag p50 <= 1 ms, as requests
# and tokens per second; beside two same-run references on the same endpoint and the same N:
# wrk's closed-loop requests/s (it reads the chunked response but parses no event), and
# `servprof load` without --stream (the same client counting body bytes, no SSE parsing).
# The endpoint is pinned to CPU 0 and the client (one tool at a time) to CPU 1 when taskset exists
# and there are >= 2 CPUs.
# usage: bash bench/stream.bench.sh [BUILD]   env: STREAM_BENCH_SECONDS (per run, default 5),
#        WRK_SECONDS (default 10), STREAM_BENCH_CONNS (default 16), STREAM_BENCH_TOKENS (default 64)
set -euo pipefail
build=${1:-build}
secs=${STREAM_BENCH_SECONDS:-5}
wrk_secs=${WRK_SECONDS:-10}
conns=${STREAM_BENCH_CONNS:-16}
tokens=${STREAM_BENCH_TOKENS:-64}
sp="$build/servprof"
target="$build/bench/bench_sse_target"
if ! "$sp" load --help 2>/dev/null | grep -q -- --stream; then
  echo "stream.bench: skipped: '$sp load --stream' is not available in this build"; exit 0
fi
[ -x "$target" ] || { echo "stream.bench: skipped: $target not built"; exit 0; }
command -v wrk >/dev/null || { echo "stream.bench: skipped: wrk not installed"; exit 0; }

pin_srv=(); pin_cli=()
if command -v taskset >/dev/null && [ "$(nproc)" -ge 2 ]; then
  pin_srv=(taskset -c 0); pin_cli=(taskset -c 1)
  echo "pinning: endpoint on CPU 0, client on CPU 1"
else
  echo "pinning: none (endpoint and client share the CPUs)"
fi
tmp=$(mktemp -d)
trap 'kill $srv_pid 2>/dev/null || true; rm -rf "$tmp"' EXIT
"${pin_srv[@]}" "$target" --seconds 900 --tokens "$tokens" >"$tmp/port" &
srv_pid=$!
for _ in $(seq 50); do [ -s "$tmp/port" ] && break; sleep 0.1; done
port=$(awk '/^port/{print $2}' "$tmp/port")
url="http://127.0.0.1:$port/v1/completions"

# wrk sends a completions body like servprof load --stream's (max_tokens N); it reads each streamed
# response to its end without parsing events
cat >"$tmp/post.lua" <<LUA
wrk.method = "POST"
wrk.body = '{"model":"servprof","prompt":"over under back hand new part wind wood","max_tokens":$tokens,"stream":true}'
wrk.headers["Content-Type"] = "application/json"
LUA
"${pin_cli[@]}" wrk -t1 -c"$conns" -d"${wrk_secs}s" -s "$tmp/post.lua" "$url" >"$tmp/wrk.out"
wrk_rps=$(awk '/Requests\/sec/{print $2}' "$tmp/wrk.out")
echo "wrk -t1 -c$conns -d${wrk_secs}s (POST, closed loop, $tokens events per response): $wrk_rps requests/s" \
     "= $(python3 -c "print('%.0f' % ($wrk_rps * $tokens))") events/s"

run_load() { # mode rate -> JSON summary on stdout
  local extra=()
  [ "$1" = stream ] && extra=(--stream --output-length "fixed:$tokens" --timeout 5)
  [ "$1" = plain ] && extra=(--timeout 5)
  "${pin_cli[@]}" "$sp" load --url "$url" --rate "$2" --duration "$secs" --warmup 0.5 \
    --arrival constant --length fixed:8 --connections "$conns" --no-progress --json "${extra[@]}"
}
field() { python3 -c "import json,sys; d=json.load(sys.stdin); print($1)"; }

search() { # mode -> "rate json" of the highest sustained rate, or "0"
  local mode=$1 f rate j ok
  for f in 1.00 0.95 0.90 0.85 0.80 0.75 0.70 0.60 0.50 0.40 0.30; do
    rate=$(python3 -c "print(int($wrk_rps * $f))")
    j=$(run_load "$mode" "$rate")
    # sustained: achieved within 1% of target, every request a success (a complete stream), the
    # client mostly on schedule (lag p50 <= 1 ms)
    ok=$(echo "$j" | field "int(d['achieved_rate'] >= 0.99*d['target_rate'] and d['ok'] == d['scheduled'] and d['lag']['p50_us'] <= 1000)")
    echo "  servprof load$([ "$mode" = stream ] && echo " --stream") --rate $rate: $(echo "$j" | field "'achieved %.0f/s (%.2f%%), lag p50 %.0f us p99 %.0f us, e2e p99 %.0f us, failed %d' % (d['achieved_rate'], 100*d['achieved_rate']/d['target_rate'], d['lag']['p50_us'], d['lag']['p99_us'], d['corrected']['p99_us'], d['scheduled']-d['ok'])")" >&2
    if [ "$ok" = 1 ]; then echo "$rate $j"; return; fi
  done
  echo 0
}

echo "servprof load without --stream (bytes counted, no event parsing):"
read -r plain_rate plain_json < <(search plain)
echo "servprof load --stream --output-length fixed:$tokens:"
read -r stream_rate stream_json < <(search stream)
if [ "$stream_rate" = 0 ]; then
  echo "RESULT stream: no rate down to 0.3x wrk was sustained within 1%"; exit 0
fi
echo "RESULT stream: sustained open-loop $stream_rate requests/s = $(echo "$stream_json" | field "'%.0f' % d['stream']['output_tokens_per_s']") tokens/s" \
     "($tokens per request; TTFT p99 $(echo "$stream_json" | field "'%.0f us' % d['stream']['ttft']['p99_us']"), ITL p99 $(echo "$stream_json" | field "'%.1f us' % d['stream']['itl']['p99_us']"))"
echo "RESULT stream: = $(python3 -c "print('%.2f' % ($stream_rate / $wrk_rps))")x wrk's closed-loop $wrk_rps requests/s;" \
     "$( [ "$plain_rate" = 0 ] && echo "without --stream: none sustained" || python3 -c "print('%.2fx servprof load without --stream (%d requests/s)' % ($stream_rate / $plain_rate, $plain_rate))")"
