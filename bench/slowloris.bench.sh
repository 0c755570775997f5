#!/usr/bin/env bash
# Slowloris against the reference service with its default limits (issue 10): 1,100 connections from
# 127.0.0.2, each sending a header line every 5 s and coming back 1 s after being closed or refused,
# for SLOWLORIS_SECONDS (default 30), while a client on 127.0.0.1 sends 10 embeddings requests per
# second on fresh connections. Prints what the attacker held, the real requests' latency, and the
# server's connection counts. Usage: bench/slowloris.bench.sh BUILD_DIR
set -euo pipefail
build=${1:-build}
bin=$build/servprof
secs=${SLOWLORIS_SECONDS:-30}
work=$(mktemp -d)
srv=
cleanup() { [ -n "$srv" ] && kill "$srv" 2>/dev/null; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
"$bin" serve --port 0 >"$work/serve.out" 2>"$work/serve.err" &
srv=$!
for _ in $(seq 100); do grep -q "listening on" "$work/serve.out" 2>/dev/null && break; sleep 0.1; done
port=$(sed -n 's/^listening on 127\.0\.0\.1:\([0-9]*\)$/\1/p' "$work/serve.out")
[ -n "$port" ] || { echo "slowloris: the service did not start"; cat "$work/serve.err"; exit 1; }
echo "servprof serve --port 0 (defaults: --max-connections 1024 --max-connections-per-ip 256 --header-timeout 10)"
rc=0
"$build/bench/bench_slowloris" "$port" 1100 5 "$secs" 1 10 127.0.0.2 || rc=$?
kill -TERM "$srv"
wait "$srv" || true
srv=
grep "connections:" "$work/serve.err" || true
exit $rc
