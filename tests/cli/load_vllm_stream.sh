#!/usr/bin/env bash
# `servprof load --stream` / `--chat` against a server that streams vLLM's exact chunk shapes
# (vllm/entrypoints/openai/serving_chat.py chat_completion_stream_generator and serving_completion.py
# completion_stream_generator: the chunks' fields as their model_dump_json writes them; docs/load.md
# "Counting tokens"), written with Python's http.server. Each request of max_tokens N streams N tokens:
# - chat: the role chunk {"role":"assistant","content":""} first (no token);
# - on even request numbers the first token's text is held back (vLLM: a multi-byte character's
#   first bytes): a chunk with content "" at once, its text with the next chunk 200 ms later;
# - content chunks 20 ms apart, then, 200 ms after the last, the end-of-sequence token as the finish
#   chunk (content "", finish_reason "stop": in usage, not in the text), the usage chunk (choices [],
#   completion_tokens N) and [DONE];
# - request 3 sends an error chunk mid-stream ({"error":{...}}, then [DONE]): an error-event failure.
# Checked from the client trace: N token times per success; the last token's time is the finish
# chunk's (200 ms after the one before it; it was the last content chunk's, so TPOT came out
# (N - 2)/(N - 1) of the real one); a held-back first token's time is its own chunk's (TTFT), 200 ms
# before the next; the error's message is the run's first failure.
# Skips (77) when load is compiled out or python3 is missing.
# Run as: bash load_vllm_stream.sh BINARY SOURCE_DIR
set -u
bin=$1
"$bin" load --help 2>/dev/null | grep -q -- --stream || { echo "load --stream not available: skipped"; exit 77; }
py=/usr/bin/python3
[ -x "$py" ] || py=$(command -v python3) || { echo "python3 missing: skipped"; exit 77; }
fail=0
check() { if ! eval "$1"; then echo "FAIL: $1" >&2; fail=1; fi; }
tmp=$(mktemp -d)
pid=
trap '[ -n "$pid" ] && kill "$pid" 2>/dev/null; rm -rf "$tmp"' EXIT

cat >"$tmp/vllm.py" <<'PY'
import http.server, json, sys, time
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def log_message(self, *a): pass
    def event(self, obj):
        b = ("data: " + (obj if isinstance(obj, str) else json.dumps(obj, separators=(",", ":"))) + "\n\n").encode()
        self.wfile.write(b"%x\r\n%s\r\n" % (len(b), b))
    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        k = int(self.headers["X-Request-Id"].rsplit("-", 1)[1])
        n, chat = body["max_tokens"], "messages" in body
        self.send_response(200); self.send_header("Content-Type", "text/event-stream; charset=utf-8")
        self.send_header("Transfer-Encoding", "chunked"); self.end_headers()
        head = {"id": ("chatcmpl-%d" if chat else "cmpl-%d") % k,
                "object": "chat.completion.chunk" if chat else "text_completion", "created": 1760000000, "model": "m"}
        def chunk(text, finish=None):
            if chat:
                c = {"index": 0, "delta": {"content": text}, "logprobs": None, "finish_reason": finish}
                if finish: c["stop_reason"] = None
                return dict(head, choices=[c])
            return dict(head, choices=[{"index": 0, "text": text, "logprobs": None, "finish_reason": finish,
                                        "stop_reason": None}], usage=None)
        if chat:
            self.event(dict(head, choices=[{"index": 0, "delta": {"role": "assistant", "content": ""},
                                            "logprobs": None, "finish_reason": None}]))
        texts = [" t%d" % i for i in range(n - 1)]   # tokens 0 .. n-2 have text; n-1 is the EOS
        i = 0
        if k % 2 == 0 and n >= 3:                     # token 0 held back, sent with token 1
            self.event(chunk(""))
            time.sleep(0.2)
            self.event(chunk(texts[0] + texts[1]))
            i = 2
        while i < n - 1:
            if k == 3 and i == 2:
                self.event({"error": {"message": "The engine died (vLLM-shaped test)", "type": "InternalServerError",
                                      "param": None, "code": 500}})
                self.event("[DONE]")
                self.wfile.write(b"0\r\n\r\n")
                return
            time.sleep(0.02)
            self.event(chunk(texts[i]))
            i += 1
        time.sleep(0.2)
        self.event(chunk("", "stop"))
        self.event(dict(head, choices=[], usage={"prompt_tokens": 9, "total_tokens": 9 + n, "completion_tokens": n}))
        self.event("[DONE]")
        self.wfile.write(b"0\r\n\r\n")
class S(http.server.ThreadingHTTPServer):
    daemon_threads = True
s = S(("127.0.0.1", 0), H)
print(s.server_address[1], flush=True)
s.serve_forever()
PY
"$py" "$tmp/vllm.py" >"$tmp/port" 2>"$tmp/py.log" &
pid=$!
for _ in $(seq 1 200); do [ -s "$tmp/port" ] && break; sleep 0.05; done
port=$(cat "$tmp/port")

for mode in completions chat; do
  if [ $mode = chat ]; then url=http://127.0.0.1:$port/v1/chat/completions; opt=--chat; else url=http://127.0.0.1:$port/v1/completions; opt=--stream; fi
  "$bin" load --no-progress $opt --url "$url" --rate 20 --timeout 10 --requests 4 --output-length fixed:6 \
    --trace "$tmp/$mode.jsonl" --json >"$tmp/$mode.out" 2>"$tmp/$mode.err"
  # request 3 failed (exit 0: the others succeeded)
  "$py" - "$tmp/$mode.jsonl" "$tmp/$mode.out" >"$tmp/$mode.check" <<'PY'
import json, sys
recs = {r["id"].rsplit("-", 1)[1]: r for r in (json.loads(l) for l in open(sys.argv[1])) if r["ev"] == "client"}
d = json.load(open(sys.argv[2]))
bad = []
ms = 1000000
for k, r in sorted(recs.items()):
    t = r.get("token_ns", [])
    if k == "3":
        if r["status"] != -6 or r.get("stream_error") != "error event":
            bad.append("request 3: %s %s" % (r["status"], r.get("stream_error")))
        continue
    if r["status"] != 200 or r["output_tokens"] != 6 or len(t) != 6 or t != sorted(t) or r["first_token_ns"] != t[0]:
        bad.append("request %s: %s" % (k, r))
        continue
    if not t[-1] - t[-2] > 50 * ms:     # the end-of-sequence token at the finish chunk, 200 ms later
        bad.append("request %s: last token %d ns after the one before" % (k, t[-1] - t[-2]))
    if k in ("2", "4") and not t[1] - t[0] > 50 * ms:   # the held-back token at its own chunk (content 20 ms apart)
        bad.append("request %s: first token %d ns before the second" % (k, t[1] - t[0]))
s = d["stream"]
if s["output_tokens"] != 18 or s["failed"]["error_event"] != 1 or s["tpot"]["count"] != 3:
    bad.append("summary: %s" % {x: s[x] for x in ("output_tokens", "failed", "tpot")})
if "The engine died (vLLM-shaped test)" not in (s["first_error"] or ""):
    bad.append("first_error: %s" % s["first_error"])
print("ok" if not bad else "; ".join(bad))
PY
  check '[ "$(cat "$tmp/'$mode'.check")" = ok ] || { cat "$tmp/'$mode'.check" "$tmp/'$mode'.err" >&2; false; }'
done
exit $fail
