#!/usr/bin/env bash
# `servprof serve` from the command line: --help, bad options (exit 2), start on an ephemeral port
# ("listening on 127.0.0.1:PORT" on stdout), one embedding, /healthz and /metrics over 127.0.0.1, a second
# server refused on the taken port and on the trace being written, a trace folder that does not
# exist named, clean exit on SIGTERM with the trace written and every request in one column of the
# stop line, a client's repeated X-Request-Id giving a trace that loads. Usage: serve.sh BINARY SOURCE_DIR. Skips (77) when the CLI does
# not dispatch `serve` (compiled out) or curl is missing.
set -u
BIN=$1
if ! "$BIN" serve --help >/dev/null 2>&1; then echo "serve not available: skipped"; exit 77; fi
command -v curl >/dev/null || { echo "curl missing: skipped"; exit 77; }
fail=0
check() { if ! eval "$1"; then echo "FAILED: $1"; fail=1; fi; }
TMP=$(mktemp -d)
trap 'kill $PID 2>/dev/null; rm -rf "$TMP"' EXIT

"$BIN" serve --help > "$TMP/help"
for opt in --host --port --tokenizer --weights --max-batch --max-queue-delay-ms --queue-capacity --pad-to \
           --buckets --workers --trace --max-body --layers --hidden --heads --ffn --max-len \
           --max-connections-per-ip --header-timeout --body-timeout --max-header-bytes; do
  check "grep -q -- '$opt' '$TMP/help'"
done
# the summary names every route
check "grep -q 'GET /healthz,' '$TMP/help' && grep -q 'GET /metrics (Prometheus text)' '$TMP/help'"
"$BIN" serve --max-batch x >/dev/null 2>&1; check "[ $? -eq 2 ]"
"$BIN" serve --header-timeout -1 >/dev/null 2>&1; check "[ $? -eq 2 ]"
# a trace in a folder that does not exist: the folder is named
"$BIN" serve --port 0 --trace /nonexistent-servprof/sub/t.sptrace --duration 1 >/dev/null 2>"$TMP/err"
check "[ $? -eq 1 ] && grep -q 'folder /nonexistent-servprof/sub does not exist' '$TMP/err'"
# heads that do not divide the width: an option error (exit 2) when no weights file fixes the shape
"$BIN" serve --port 0 --heads 5 >/dev/null 2>"$TMP/err"; check "[ $? -eq 2 ] && grep -q heads '$TMP/err'"
# the CUPTI recording modes: CUDA only, and one at a time
for opt in --no-cupti --cupti-lean --cupti-launches --device --cuda-graphs; do
  check "grep -q -- '$opt' '$TMP/help'"
done
"$BIN" serve --port 0 --no-cupti >/dev/null 2>"$TMP/err"; check "[ $? -eq 2 ] && grep -q 'need --device cuda' '$TMP/err'"
"$BIN" serve --device cuda --no-cupti --cupti-lean >/dev/null 2>"$TMP/err"
check "[ $? -eq 2 ] && grep -q 'exclude each other' '$TMP/err'"

"$BIN" serve --port 0 --max-queue-delay-ms 0.5 --trace "$TMP/t.sptrace" --duration 60 > "$TMP/out" 2> "$TMP/log" &
PID=$!
PORT=
for _ in $(seq 1 200); do
  PORT=$(sed -n 's/^listening on 127\.0\.0\.1:\([0-9][0-9]*\)$/\1/p' "$TMP/out")
  [ -n "$PORT" ] && break
  kill -0 $PID 2>/dev/null || break
  sleep 0.05
done
check "[ -n '$PORT' ]"
if [ -n "$PORT" ]; then
  code=$(curl -s --noproxy '*' -o "$TMP/resp" -w '%{http_code}' -H 'traceparent: 00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01' \
         -H 'Content-Type: application/json' -X POST "http://127.0.0.1:$PORT/v1/embeddings" \
         -d '{"input":["Hello, World!","the fox"]}')
  check "[ '$code' = 200 ]"
  check "grep -q '\"object\":\"list\"' '$TMP/resp' && grep -q '\"index\":1' '$TMP/resp'"
  # a client that repeats its X-Request-Id: each request keeps an id of the server's own (the header is
  # its label), so the trace still loads (below)
  for _ in 1 2; do
    check "[ \"\$(curl -s --noproxy '*' -o /dev/null -w '%{http_code}' -H 'X-Request-Id: again' -H 'Content-Type: application/json' -X POST http://127.0.0.1:$PORT/v1/embeddings -d '{\"input\":\"the fox\"}')\" = 200 ]"
  done
  check "[ \"\$(curl -s --noproxy '*' -o /dev/null -w '%{http_code}' http://127.0.0.1:$PORT/healthz)\" = 200 ]"
  # two scrapes and a POST to /metrics (405): the stop line counts each route in its own column
  check "curl -s --noproxy '*' http://127.0.0.1:$PORT/metrics | grep -q '^servprof_'"
  check "[ \"\$(curl -s --noproxy '*' -o /dev/null -w '%{http_code}' http://127.0.0.1:$PORT/metrics)\" = 200 ]"
  check "[ \"\$(curl -s --noproxy '*' -o /dev/null -w '%{http_code}' -X POST http://127.0.0.1:$PORT/metrics)\" = 405 ]"
  # a second server on the taken port fails and names it (no SO_REUSEPORT: it must not share it)
  "$BIN" serve --port "$PORT" --duration 1 >/dev/null 2>"$TMP/err2"; rc2=$?
  check "[ $rc2 -eq 1 ] && grep -q 'port $PORT: the port is already in use' '$TMP/err2'"
  # a second server on the same trace fails and names the process recording to it
  "$BIN" serve --port 0 --trace "$TMP/t.sptrace" --duration 1 >/dev/null 2>"$TMP/err3"; rc3=$?
  check "[ $rc3 -eq 1 ] && grep -q 'another process (pid $PID) is recording to it' '$TMP/err3'"
fi
kill -TERM $PID
wait $PID; rc=$?
check "[ $rc -eq 0 ]"
# every request in exactly one column: the three embeddings, /healthz, the two scrapes and the 405
check "grep -q '^servprof serve: 7 requests: 3 ok, 0 503 queue full, 0 503 stopping, 0 400, 0 413, 0 404, 1 405, 0 415, 0 closed early, 2 /metrics, 1 /healthz; ' '$TMP/log'"
check "grep -q 'connections: ' '$TMP/log'"
check "[ -s '$TMP/t.sptrace' ]"
# the repeated X-Request-Id: a label already taken is skipped and counted, never a trace the analysis refuses
"$BIN" analyze --json "$TMP/t.sptrace" > "$TMP/rep.json" 2> "$TMP/an.err"
check "[ $? -eq 0 ] && grep -q '\"count\":3' '$TMP/rep.json' && grep -q 'label \"again\" is already the id of another request' '$TMP/an.err'"
exit $fail
