#!/usr/bin/env bash
# `servprof load --stream` / `--chat` from the command line, against a small OpenAI-style streaming
# server written with Python's http.server (it reads max_tokens from the body and streams that many
# events, chat deltas after a role-only one for chat bodies, a keep-alive comment, then usage and
# [DONE]): the table's generation block and the JSON `stream` object carry the counts the server
# streamed; --lengths-file pairs reach the server as max_tokens; the client trace
# has the contract's token fields and `servprof analyze` reads it; options that need --stream, a bad
# --output-length and a malformed pairs file are usage or run errors naming the option or file:line;
# a server that is not streaming makes every request a failed stream (exit 1, the reason on stderr).
# Skips (77) when load is compiled out or python3 is missing.
# Run as: bash load_stream.sh BINARY SOURCE_DIR
set -u
bin=$1
"$bin" load --help 2>/dev/null | grep -q -- --stream || { echo "load --stream not available: skipped"; exit 77; }
py=/usr/bin/python3
[ -x "$py" ] || py=$(command -v python3) || { echo "python3 missing: skipped"; exit 77; }
fail=0
check() { if ! eval "$1"; then echo "FAIL: $1" >&2; fail=1; fi; }
tmp=$(mktemp -d)
pids=()
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done; rm -rf "$tmp"' EXIT

cat >"$tmp/sse.py" <<'PY'
import http.server, json, sys, threading
log = open(sys.argv[2], "a")
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def log_message(self, *a): pass
    def chunk(self, s):
        b = s.encode()
        self.wfile.write(b"%x\r\n%s\r\n" % (len(b), b))
    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        n = body["max_tokens"]
        chat = "messages" in body
        log.write("%s %d %s\n" % (self.headers["X-Request-Id"], n, "chat" if chat else "prompt")); log.flush()
        if sys.argv[1] == "json":  # a server that ignores "stream": true
            out = json.dumps({"choices": [{"text": "x" * n}], "usage": {"completion_tokens": n}}).encode()
            self.send_response(200); self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(out))); self.end_headers(); self.wfile.write(out)
            return
        self.send_response(200); self.send_header("Content-Type", "text/event-stream")
        self.send_header("Transfer-Encoding", "chunked"); self.end_headers()
        if chat:
            self.chunk('data: {"choices":[{"index":0,"delta":{"role":"assistant","content":""}}]}\n\n')
        for i in range(n):
            c = {"index": 0, "delta": {"content": " t%d" % i}} if chat else {"index": 0, "text": " t%d" % i}
            self.chunk("data: " + json.dumps({"id": "x", "choices": [c]}) + "\n\n")
        self.chunk(": keep-alive\n\n")
        self.chunk('data: {"choices":[],"usage":{"prompt_tokens":9,"completion_tokens":%d}}\n\n' % n)
        self.chunk("data: [DONE]\n\n")
        self.wfile.write(b"0\r\n\r\n")
class S(http.server.ThreadingHTTPServer):
    daemon_threads = True
s = S(("127.0.0.1", 0), H)
print(s.server_address[1], flush=True)
s.serve_forever()
PY
start() { # mode -> port in $port
  "$py" "$tmp/sse.py" "$1" "$tmp/seen.$1" >"$tmp/port.$1" 2>"$tmp/py.$1.log" &
  pids+=($!)
  port=
  for _ in $(seq 1 200); do [ -s "$tmp/port.$1" ] && break; sleep 0.05; done
  port=$(cat "$tmp/port.$1")
}
load() { "$bin" load --no-progress --rate 50 --timeout 10 "$@" >"$tmp/out" 2>"$tmp/err"; }
jfield() { "$py" -c 'import json,sys; d=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$tmp/out" "$1"; }

start sse
url=http://127.0.0.1:$port/v1/completions

# completions: 6 requests of max_tokens 5 (fixed:5)
load --stream --url "$url" --requests 6 --output-length fixed:5 --trace "$tmp/client.jsonl"; rc=$?
check '[ $rc -eq 0 ]'
check 'grep -q "^  generation   completions, output tokens 30 (" "$tmp/out"'
check 'grep -q "prompt tokens 54 (usage from 6 of 6 successes)" "$tmp/out"'
check 'grep -q "^  no response .* stream 0$" "$tmp/out"'
check 'grep -q "^    TTFT  .*(n=6)$" "$tmp/out"'
check 'grep -q "^    TPOT  .*(n=6)$" "$tmp/out"'
check 'grep -q "^    ITL  .*(n=24)$" "$tmp/out"'
check '[ "$(grep -c " 5 prompt$" "$tmp/seen.sse")" = 6 ]'
# the trace: the contract's fields, consistent with each other; analyze reads it
"$py" - "$tmp/client.jsonl" >"$tmp/trace.check" <<'PY'
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1])]
meta, recs = lines[0], lines[1:]
ok = meta["ev"] == "meta" and meta["stream"] is True and meta["endpoint"] == "completions" and len(recs) == 6
for r in recs:
    t = r["token_ns"]
    ok = ok and r["ev"] == "client" and r["status"] == 200 and r["output_tokens"] == 5 and len(t) == 5
    ok = ok and r["max_tokens"] == 5 and r["prompt_tokens"] == 9 and r["first_token_ns"] == t[0]
    ok = ok and r["intended_ns"] <= r["send_ns"] <= t[0] and t == sorted(t) and t[-1] <= r["done_ns"]
print("ok" if ok else "bad")
PY
check '[ "$(cat "$tmp/trace.check")" = ok ]'
"$bin" analyze "$tmp/client.jsonl" >"$tmp/an.out" 2>"$tmp/an.err"; rc=$?
check '[ $rc -eq 0 ]'

# chat, JSON summary, lengths from a pairs file (in order, cycled): max_tokens 3, 7, 3, 7
printf '# prompt output\n4 3\n6,7\n' >"$tmp/pairs.txt"
load --chat --url "http://127.0.0.1:$port/v1/chat/completions" --requests 4 --lengths-file "$tmp/pairs.txt" --json; rc=$?
check '[ $rc -eq 0 ]'
check '[ "$(jfield "d[\"stream\"][\"output_tokens\"]")" = 20 ]'   # the role-only delta is no token
check '[ "$(jfield "d[\"stream\"][\"tpot\"][\"count\"]")" = 4 ]'
check '[ "$(jfield "d[\"stream\"][\"itl\"][\"count\"]")" = 16 ]'   # 2 + 6 + 2 + 6
check '[ "$(jfield "d[\"errors\"][\"stream\"]")" = 0 ]'
check '[ "$(jfield "sorted(d[\"stream\"][\"failed\"].items())")" = "[('"'"'error_event'"'"', 0), ('"'"'malformed'"'"', 0), ('"'"'no_done'"'"', 0), ('"'"'not_event_stream'"'"', 0)]" ]'
check '[ "$(grep -c " chat$" "$tmp/seen.sse")" = 4 ]'
# by request id (c1-1 .. c1-4): the server's threads may log concurrent requests in any order
check '[ "$(grep " chat$" "$tmp/seen.sse" | sort -t- -k2,2n | cut -d" " -f2 | tr "\n" " ")" = "3 7 3 7 " ]'

# without --stream, "stream" is null and the embeddings body is unchanged
load --url "$url" --requests 1 --json; rc=$?
check '[ "$(jfield "d[\"stream\"]")" = None ]'

# usage and run errors
load --url "$url" --requests 1 --output-length fixed:3; rc=$?
check '[ $rc -eq 2 ]'
check 'grep -q "output-length needs --stream (or --chat)" "$tmp/err"'
load --stream --url "$url" --requests 1 --output-length fixed:40000; rc=$?
check '[ $rc -eq 2 ]'
check 'grep -q -- "--output-length fixed:N" "$tmp/err"'
load --stream --url "$url" --requests 1 --output-length file:x; rc=$?
check '[ $rc -eq 2 ]'
printf '4 3\n4 three\n' >"$tmp/bad.txt"
load --stream --url "$url" --requests 1 --lengths-file "$tmp/bad.txt"; rc=$?
check '[ $rc -eq 1 ]'
check 'grep -q "bad.txt:2: expected \"PROMPT_TOKENS OUTPUT_TOKENS\"" "$tmp/err"'
load --stream --url "$url" --rate 100000 --duration 100 --output-length fixed:32768; rc=$?
check '[ $rc -eq 2 ]'
check 'grep -q "token times exceed the limit" "$tmp/err"'

# a server that answers whole JSON: every request a failed stream, the reason said
start json
load --stream --url "http://127.0.0.1:$port/v1/completions" --requests 3 --output-length fixed:2; rc=$?
check '[ $rc -eq 1 ]'
check 'grep -q "not an event stream 3 " "$tmp/out"'
check 'grep -q "^servprof load: no request succeeded: of 3 scheduled, 3 got a 2xx whose event stream failed (stream)$" "$tmp/err"'

exit $fail
