#!/usr/bin/env bash
# `servprof serve --generate` from the command line: its options in --help, the option mistakes
# (exit 2: an encoder option with --generate, a generation option without it, --cuda-graphs without
# --device cuda, a step budget under --max-num-seqs; exit 1 with the reason: a budget under the
# longest prompt without --chunked-prefill; --prefill-bucket 0 (none) accepted; --device cuda without a GPU or a CUDA build: exit 1 and
# the reason, no longer a usage error), generated weights saved and served again, a whole and a streamed completion
# and a chat completion over 127.0.0.1, the generation counters on SIGTERM, and the trace's step and
# token records (counted from the bytes, docs/native-format.md). Usage: serve_generate.sh BINARY
# SOURCE_DIR. Skips (77) when `serve` is compiled out or curl or python3 is missing.
set -u
BIN=$1
if ! "$BIN" serve --help >/dev/null 2>&1; then echo "serve not available: skipped"; exit 77; fi
command -v curl >/dev/null || { echo "curl missing: skipped"; exit 77; }
command -v python3 >/dev/null || { echo "python3 missing: skipped"; exit 77; }
fail=0
check() { if ! eval "$1"; then echo "FAILED: $1"; fail=1; fi; }
TMP=$(mktemp -d)
PID=
trap '[ -n "$PID" ] && kill $PID 2>/dev/null; rm -rf "$TMP"' EXIT

"$BIN" serve --help > "$TMP/help"
for opt in --generate --max-num-seqs --max-num-batched-tokens --chunked-prefill --prefill-bucket --kv-capacity-tokens; do
  check "grep -q -- '$opt' '$TMP/help'"
done
"$BIN" serve --max-num-seqs 4 >/dev/null 2>"$TMP/err"; check "[ $? -eq 2 ] && grep -q -- '--max-num-seqs needs --generate' '$TMP/err'"
"$BIN" serve --generate --max-batch 4 >/dev/null 2>"$TMP/err"
check "[ $? -eq 2 ] && grep -q -- \"--max-batch is the encoder's batching option\" '$TMP/err'"
"$BIN" serve --generate --cuda-graphs >/dev/null 2>"$TMP/err"; check "[ $? -eq 2 ] && grep -q -- '--cuda-graphs needs --device cuda' '$TMP/err'"
# --device cuda (and --cuda-graphs with it) is accepted: without a GPU (or the backend) the start
# fails and says why; with one it serves
"$BIN" serve --generate --device cuda --cuda-graphs --port 0 --layers 1 --hidden 32 --heads 2 --ffn 64 --max-len 64 --duration 1 \
  >/dev/null 2>"$TMP/err"
rc=$?
check "[ $rc -eq 0 ] || { [ $rc -eq 1 ] && grep -q -- '--device cuda: ' '$TMP/err'; }"
# --prefill-bucket 0 is the default the help names ("0: none"), so it is accepted as a value, by
# serve and by demo --generate alike (a bound over the step budget is still refused)
"$BIN" serve --generate --port 0 --prefill-bucket 0 --layers 1 --hidden 32 --heads 2 --ffn 64 --max-len 64 --duration 0.2 \
  >/dev/null 2>"$TMP/err"; check "[ $? -eq 0 ]"
"$BIN" serve --generate --prefill-bucket 1000 >/dev/null 2>"$TMP/err"
check "[ $? -eq 2 ] && grep -q -- '--prefill-bucket 1000 exceeds --max-num-batched-tokens 512' '$TMP/err'"
"$BIN" demo --generate --prefill-bucket 0 --rate 0 >/dev/null 2>"$TMP/err"
check "[ $? -eq 2 ] && ! grep -q -- 'prefill-bucket' '$TMP/err' && grep -q -- '--rate' '$TMP/err'"
"$BIN" serve --generate --max-num-seqs 8 --max-num-batched-tokens 4 >/dev/null 2>"$TMP/err"
check "[ $? -eq 2 ] && grep -q 'less than --max-num-seqs 8' '$TMP/err'"
"$BIN" serve --generate --port 0 --max-num-batched-tokens 64 --max-len 128 >/dev/null 2>"$TMP/err"
check "[ $? -eq 1 ] && grep -q 'less than the longest prompt, 127 tokens' '$TMP/err'"

# generated weights written as safetensors (GPT-2 names) and served again from the file
"$BIN" serve --generate --layers 1 --hidden 32 --heads 2 --ffn 64 --max-len 64 --save-weights "$TMP/w.safetensors" 2>/dev/null
check "[ -s '$TMP/w.safetensors' ] && grep -q 'h.0.attn.c_attn.weight' '$TMP/w.safetensors'"

"$BIN" serve --generate --port 0 --weights "$TMP/w.safetensors" --heads 2 --max-num-seqs 4 --max-num-batched-tokens 64 \
  --trace "$TMP/t.sptrace" --duration 60 > "$TMP/out" 2> "$TMP/log" &
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
  post() { curl -s --noproxy '*' -o "$TMP/$1" -w '%{http_code}' -H 'Content-Type: application/json' \
           -X POST "http://127.0.0.1:$PORT$2" -d "$3"; }
  code=$(post whole /v1/completions '{"prompt":"the quick brown fox","max_tokens":5,"ignore_eos":true}')
  check "[ '$code' = 200 ] && grep -q '\"completion_tokens\":5' '$TMP/whole'"
  code=$(post stream /v1/completions '{"prompt":"the quick brown fox","max_tokens":4,"ignore_eos":true,"stream":true}')
  check "[ '$code' = 200 ] && [ \$(grep -c '^data: {' '$TMP/stream') = 4 ] && tail -n 2 '$TMP/stream' | grep -q '^data: \[DONE\]'"
  code=$(post chat /v1/chat/completions '{"messages":[{"role":"user","content":"hi"}],"max_tokens":3,"ignore_eos":true}')
  check "[ '$code' = 200 ] && grep -q '\"role\":\"assistant\"' '$TMP/chat'"
fi
kill -TERM $PID
wait $PID; rc=$?
PID=
check "[ $rc -eq 0 ]"
check "grep -q '3 ok' '$TMP/log'"
check "grep -q 'generation: [0-9]* steps, [0-9]* prompt tokens prefilled, 12 output tokens' '$TMP/log'"
# the trace: as many step records as the server ran steps, a token record per output token (12)
python3 - "$TMP/t.sptrace" > "$TMP/counts" <<'EOF'
import struct, sys
data = open(sys.argv[1], 'rb').read()
at = struct.unpack_from('<I', data, 12)[0]
steps = tokens = members = 0
while at + 16 <= len(data):
    magic, size = struct.unpack_from('<II', data, at)
    assert magic == 0x4b425053
    p, end = at + 16, at + 16 + size
    while p + 8 <= end:
        typ, rsize = struct.unpack_from('<HH', data, p)
        steps += typ == 14
        if typ == 14:
            members += struct.unpack_from('<I', data, p + 4)[0]  # aux: the step's member count
        tokens += typ == 15
        p += rsize
    at = end
print(steps, tokens, members)
EOF
read -r steps tokens members < "$TMP/counts"
check "grep -q 'generation: $steps steps' '$TMP/log'"
check "[ '$tokens' = 12 ]"
# the stop line counts steps and their members (a sequence once per step it ran in), not "inputs"
check "grep -q '/healthz; $steps steps, $members step members, [0-9]* tokens ([0-9]* padded)\$' '$TMP/log'"
check "! grep -q ' inputs, ' '$TMP/log'"
exit $fail
