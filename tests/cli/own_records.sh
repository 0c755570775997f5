#!/usr/bin/env bash
# Our own services never write records the analysis refuses (docs/native-format.md, "Records that
# contradict"; docs/analysis.md section 0): the reference service is run overloaded in the ways that
# provoke races between its threads, and every trace it writes, and every client trace `servprof load`
# writes against it, must analyse WITHOUT --lenient.
#
# Each round runs these services, each stopped by its own --duration while the load is still on (so
# the stopping paths run too: 503 stopping, a scheduler closed with sequences running):
#   embed-b1     embeddings, --max-batch 1, --pad-to 16 (longer inputs cut), a 4-request queue, 2 HTTP
#                threads, no queue delay; clients give up after 50 ms (requests cancelled while queued
#                or in their batch)
#   embed-big    embeddings, --max-batch 64 over 2 workers with length buckets, a 64-request queue,
#                96 connections at most (the front door answers the rest 503)
#   gen-stream   --generate, --max-num-seqs 2, a 4-request queue, 2 HTTP threads, streaming load
#                with 1..128-token outputs; clients give up after 30 ms (mid-stream disconnects; some
#                prompt + max_tokens over the context: 400)
#   gen-chunked  --generate with chunked prefill, a prefill bucket and a small step budget, chat
#                streaming load (long prompts split across steps); clients give up after 50 ms
# and, with python3, a whole-answer (non-streaming) completions client of 32 threads against a
# --generate service, half of them closing their socket before the answer.
# The traces are checked by `servprof analyze --json` (exit 0 and no skipped records); a failure
# prints the analysis' error, which names the record. The number of rounds is SP_OWNRECS_ROUNDS
# (default 2, about 30 s in all); SP_OWNRECS_KEEP=DIR keeps a refused trace there;
# SP_OWNRECS_ANALYZER=BINARY analyses with another build (an older service's traces, checked by the
# current analysis). The summary line
# says how many traces, server requests, batches (steps) and client requests were covered.
# Usage: own_records.sh BINARY SOURCE_DIR. Skips (77) without `serve` and `load`.
set -u
BIN=$1
"$BIN" --help 2>/dev/null | grep -q '^  serve ' && "$BIN" --help 2>/dev/null | grep -q '^  load ' ||
  { echo "serve/load not built: skipped"; exit 77; }
ROUNDS=${SP_OWNRECS_ROUNDS:-2}
ANA=${SP_OWNRECS_ANALYZER:-$BIN}
fail=0
TMP=$(mktemp -d)
PID=
LPIDS=()
trap '[ -n "$PID" ] && kill -9 $PID 2>/dev/null; for p in "${LPIDS[@]}"; do kill $p 2>/dev/null; done; rm -rf "$TMP"' EXIT
analyses=0
requests=0
batches=0
clients=0
HAVE_PY=0
command -v python3 >/dev/null && HAVE_PY=1

# serve NAME ARGS...: starts the service recording to $TMP/NAME.sptrace; sets PID and PORT (empty
# when it did not start).
serve() {
  local name=$1; shift
  "$BIN" serve --port 0 --trace "$TMP/$name.sptrace" "$@" > "$TMP/$name.out" 2> "$TMP/$name.log" &
  PID=$!
  PORT=
  for _ in $(seq 1 200); do
    PORT=$(sed -n 's/^listening on 127\.0\.0\.1:\([0-9][0-9]*\)$/\1/p' "$TMP/$name.out" 2>/dev/null)
    [ -n "$PORT" ] && return 0
    kill -0 $PID 2>/dev/null || break
    sleep 0.05
  done
  echo "FAILED: servprof serve $* did not start:"; cat "$TMP/$name.log"; fail=1
  return 1
}

# finish NAME: waits (bounded) for the service to stop by its --duration and for the loads.
finish() {
  local name=$1
  for _ in $(seq 1 200); do kill -0 $PID 2>/dev/null || break; sleep 0.05; done
  if kill -0 $PID 2>/dev/null; then
    echo "FAILED: $name: the service did not stop by its --duration"; fail=1
    kill -9 $PID 2>/dev/null
  fi
  wait $PID 2>/dev/null
  PID=
  for p in "${LPIDS[@]}"; do
    for _ in $(seq 1 100); do kill -0 $p 2>/dev/null || break; sleep 0.05; done
    kill $p 2>/dev/null
    wait $p 2>/dev/null
  done
  LPIDS=()
}

# strict FILE...: the analysis of FILE(s) together without --lenient must succeed and skip nothing;
# a single file's requests, batches and client requests are counted.
strict() {
  local out="$TMP/a.json"
  if ! "$ANA" analyze --no-progress --json "$@" > "$out" 2> "$TMP/a.err"; then
    echo "FAILED: servprof analyze $* (without --lenient):"; head -5 "$TMP/a.err"; fail=1
    [ -n "${SP_OWNRECS_KEEP:-}" ] && cp "$@" "$SP_OWNRECS_KEEP/" 2>/dev/null
    return 1
  fi
  local got
  got=$(python3 -c 'import json,sys; d=json.load(open(sys.argv[1]))
c = sum(1 for f in sys.argv[2:] if f.endswith(".jsonl") for l in open(f) if l.startswith("{\"ev\":\"client\""))
print(d["skipped_records"], d["outcomes"]["total"], d["batches"]["count"], c)' "$out" "$@" 2>/dev/null) ||
    { echo "FAILED: the analysis of $* has no skipped_records, outcomes or batches"; fail=1; return 1; }
  local nfiles=$#
  set -- $got
  if [ "$1" != 0 ]; then echo "FAILED: the analysis skipped $1 records"; fail=1; fi
  analyses=$((analyses + 1))
  [ $nfiles = 1 ] || return 0 # a server trace with its client trace: counted alone already
  requests=$((requests + $2))
  batches=$((batches + $3))
  clients=$((clients + $4))
}

# load NAME ARGS...: servprof load in the background, its client trace $TMP/NAME.jsonl
load() {
  local name=$1; shift
  "$BIN" load --no-progress --trace "$TMP/$name.jsonl" "$@" > /dev/null 2>&1 &
  LPIDS+=($!)
}

# whole NAME: 32 threads posting non-streaming completions for 2 s, every other one abandoning its
# request after 30 ms (the service finds out only when it answers)
whole() {
  python3 - "$PORT" > /dev/null 2>&1 <<'PY' &
import socket, sys, threading, time, json
port, stop = int(sys.argv[1]), time.time() + 2.0
def client(i):
    n = 0
    while time.time() < stop:
        n += 1
        body = json.dumps({"prompt": "the quick brown fox " * (1 + (i + n) % 8), "max_tokens": 1 + (i * 7 + n) % 12})
        req = ("POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
               "Content-Length: %d\r\nConnection: close\r\n\r\n%s" % (len(body), body)).encode()
        try:
            s = socket.create_connection(("127.0.0.1", port), timeout=5)
            s.sendall(req)
            if i % 2:
                time.sleep(0.03)
            else:
                while s.recv(65536):
                    pass
            s.close()
        except OSError:
            time.sleep(0.01)
ts = [threading.Thread(target=client, args=(i,)) for i in range(32)]
[t.start() for t in ts]
[t.join() for t in ts]
PY
  LPIDS+=($!)
}

for round in $(seq 1 "$ROUNDS"); do
  if serve embed-b1 --max-batch 1 --pad-to 16 --queue-capacity 4 --http-threads 2 --max-queue-delay-ms 0 --duration 1.5; then
    load embed-b1 --url "http://127.0.0.1:$PORT/v1/embeddings" --rate 3000 --duration 2 --connections 256 --timeout 0.05 \
      --length uniform:1:60
    finish embed-b1
    strict "$TMP/embed-b1.sptrace"
    strict "$TMP/embed-b1.jsonl"
    strict "$TMP/embed-b1.sptrace" "$TMP/embed-b1.jsonl"
  fi
  if serve embed-big --max-batch 64 --workers 2 --buckets 16,32,64 --queue-capacity 64 --max-queue-delay-ms 2 \
       --max-connections 96 --duration 1.5; then
    load embed-big --url "http://127.0.0.1:$PORT/v1/embeddings" --rate 3000 --duration 2 --connections 512 --length uniform:1:60
    finish embed-big
    strict "$TMP/embed-big.sptrace"
    strict "$TMP/embed-big.jsonl"
    strict "$TMP/embed-big.sptrace" "$TMP/embed-big.jsonl"
  fi
  if serve gen-stream --generate --max-num-seqs 2 --queue-capacity 4 --http-threads 2 --duration 2; then
    load gen-stream --stream --url "http://127.0.0.1:$PORT/v1/completions" --rate 300 --duration 2.5 --connections 128 \
      --length uniform:1:40 --output-length uniform:1:128 --timeout 0.03
    finish gen-stream
    strict "$TMP/gen-stream.sptrace"
    strict "$TMP/gen-stream.jsonl"
    strict "$TMP/gen-stream.sptrace" "$TMP/gen-stream.jsonl"
  fi
  if serve gen-chunked --generate --max-num-seqs 4 --max-num-batched-tokens 32 --chunked-prefill --prefill-bucket 8 \
       --queue-capacity 8 --layers 1 --duration 2; then
    load gen-chunked --chat --url "http://127.0.0.1:$PORT/v1/chat/completions" --rate 200 --duration 2.5 \
      --connections 64 --length uniform:20:120 --output-length uniform:1:64 --timeout 0.05
    finish gen-chunked
    strict "$TMP/gen-chunked.sptrace"
    strict "$TMP/gen-chunked.jsonl"
    strict "$TMP/gen-chunked.sptrace" "$TMP/gen-chunked.jsonl"
  fi
  if [ $HAVE_PY = 1 ] && serve gen-whole --generate --max-num-seqs 2 --queue-capacity 8 --http-threads 2 --layers 1 --duration 2; then
    whole gen-whole
    finish gen-whole
    strict "$TMP/gen-whole.sptrace"
  fi
done
echo "own_records: $ROUNDS rounds, $analyses analyses without --lenient: $requests server requests, $batches batches or steps, $clients client requests"
[ "$analyses" -gt 0 ] || { echo "FAILED: no trace analysed"; fail=1; }
exit $fail
