#!/usr/bin/env bash
# `servprof load` when nothing succeeds: exit 1, and the summary and the line on stderr name what
# happened instead: connect errors against a port where nothing listens; 503s against the reference
# service with a queue of one that a held request fills (the achieved rate counts successes only:
# 0); protocol errors against a server that is not HTTP (needs python3); an unresolvable host is a
# run error (exit 1) naming the host, not a usage error. The first error answer's reason is shown
# (`first error  503: ...` from an OpenAI-shaped body, a plain body's first line). A --trace that
# cannot be created fails before the run. Skips (77) when
# load is compiled out.
# Run as: bash load_errors.sh BINARY SOURCE_DIR
set -u
bin=$1
"$bin" load --help >/dev/null 2>&1 || { echo "load not available: skipped"; exit 77; }
fail=0
check() { if ! eval "$1"; then echo "FAIL: $1" >&2; fail=1; fi; }
tmp=$(mktemp -d)
pids=()
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done; rm -rf "$tmp"' EXIT
load() { "$bin" load --no-progress --rate 200 --timeout 1 "$@" >"$tmp/out" 2>"$tmp/err"; }

# a port where nothing listens: 1 (tcpmux) is privileged and closed on any machine that runs tests
load --url http://127.0.0.1:1/v1/embeddings --requests 5; rc=$?
check '[ $rc -eq 1 ]'
check 'grep -q "connect 5 " "$tmp/out"'
check 'grep -q "achieved 0.0/s ok" "$tmp/out"'
check 'grep -q "^servprof load: no request succeeded: of 5 scheduled, 5 could not connect$" "$tmp/err"'

# an unresolvable host (.invalid never resolves, RFC 6761): a run error naming the host
load --url http://servprof-test.invalid:8080/v1/embeddings --requests 1; rc=$?
check '[ $rc -eq 1 ]'
check 'grep -q "cannot resolve host .servprof-test.invalid." "$tmp/err"'

# 503 only: a queue of one, filled by a request that waits 60 s for company (max-batch 2)
if "$bin" serve --help >/dev/null 2>&1; then
  "$bin" serve --port 0 --queue-capacity 1 --max-batch 2 --max-queue-delay-ms 60000 --duration 60 \
    >"$tmp/serve.out" 2>"$tmp/serve.log" &
  pids+=($!)
  port=
  for _ in $(seq 1 200); do
    port=$(sed -n 's/^listening on 127\.0\.0\.1:\([0-9][0-9]*\)$/\1/p' "$tmp/serve.out")
    [ -n "$port" ] && break
    kill -0 "${pids[-1]}" 2>/dev/null || break
    sleep 0.05
  done
  check '[ -n "$port" ]'
  if [ -n "$port" ]; then
    url=http://127.0.0.1:$port/v1/embeddings
    # the first request takes the queue's one place (and times out); the other 9 are refused
    load --url "$url" --requests 10 --arrival constant; rc=$?
    check '[ $rc -eq 1 ]'
    check 'grep -q "responses 9 (2xx 0, 503 9, other 0)" "$tmp/out"'
    check 'grep -q "timeout 1 " "$tmp/out"'
    check 'grep -q "^servprof load: no request succeeded: of 10 scheduled, 9 answered 503 Service Unavailable, 1 timed out$" "$tmp/err"'
    # the server's reason for the first error answer, from its OpenAI-shaped JSON body
    check 'grep -q "^  first error  503: the request queue is full; retry later$" "$tmp/out"'
    # now every request is refused; the JSON summary says so and the achieved rate is 0
    load --url "$url" --requests 6 --json; rc=$?
    check '[ $rc -eq 1 ]'
    check 'grep -q "\"achieved_rate\":0.000," "$tmp/out"'
    check 'grep -q "\"ok\":0,\"http_errors\":6,\"status_503\":6,\"status_other\":0," "$tmp/out"'
    check 'grep -q "answered 503 Service Unavailable$" "$tmp/err"'
    check 'grep -q "\"first_error\":{\"status\":503,\"reason\":\"the request queue is full; retry later\"}," "$tmp/out"'
  fi
  kill -TERM "${pids[-1]}"; wait "${pids[-1]}"
else
  echo "serve not available: the 503 case is skipped"
fi

# protocol errors: a server that answers with something that is not HTTP
if command -v python3 >/dev/null; then
  python3 -c '
import socket, sys
s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(16)
print(s.getsockname()[1], flush=True)
while True:
    c, _ = s.accept(); c.recv(65536); c.sendall(b"SSH-2.0-OpenSSH_9.2\r\n"); c.close()
' >"$tmp/py.port" &
  pids+=($!)
  for _ in $(seq 1 200); do [ -s "$tmp/py.port" ] && break; sleep 0.05; done
  port=$(cat "$tmp/py.port")
  load --url "http://127.0.0.1:$port/" --requests 4; rc=$?
  check '[ $rc -eq 1 ]'
  check 'grep -q "protocol 4 " "$tmp/out"'
  check 'grep -q "4 got a response that is not HTTP/1.x (protocol)$" "$tmp/err"'
  # a 400 with a plain-text body: its first non-blank line is the reason
  python3 -c '
import socket, sys
s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(16)
print(s.getsockname()[1], flush=True)
body = b"\r\n  context too short\tfor max_tokens\nsecond line\n"
while True:
    c, _ = s.accept(); c.recv(65536)
    c.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: %d\r\nConnection: close\r\n\r\n" % len(body) + body); c.close()
' >"$tmp/py400.port" &
  pids+=($!)
  for _ in $(seq 1 200); do [ -s "$tmp/py400.port" ] && break; sleep 0.05; done
  port=$(cat "$tmp/py400.port")
  load --url "http://127.0.0.1:$port/" --requests 3; rc=$?
  check '[ $rc -eq 1 ]'
  check 'grep -q "^  first error  400: context too short for max_tokens$" "$tmp/out"'
else
  echo "python3 missing: the protocol and plain-text reason cases are skipped"
fi
# a client trace that cannot be created fails before the run (no summary: nothing was sent), not
# after it
load --url http://127.0.0.1:1/v1/embeddings --requests 2 --trace "$tmp/no-such-folder/c.jsonl"; rc=$?
check '[ $rc -eq 1 ]'
check 'grep -q "no-such-folder/c.jsonl: cannot create the trace: No such file or directory" "$tmp/err"'
check '[ ! -s "$tmp/out" ]'
# a --trace that already holds a longer file is replaced whole (the file is opened before the run
# without emptying it, so a run that fails keeps it, and emptied when the trace is written)
head -c 200000 /dev/zero | tr '\0' 'x' > "$tmp/old.jsonl"
load --url http://127.0.0.1:1/v1/embeddings --requests 2 --trace "$tmp/old.jsonl"
check 'head -1 "$tmp/old.jsonl" | grep -q "\"format\":\"servprof.events/1\""'
check '! grep -q xxxx "$tmp/old.jsonl"'
check '[ "$(wc -l < "$tmp/old.jsonl")" -eq 3 ]'
# nothing but successes and transport errors: no first error line
load --url http://127.0.0.1:1/v1/embeddings --requests 2 --json
check 'grep -q "\"first_error\":null," "$tmp/out"'
exit $fail
