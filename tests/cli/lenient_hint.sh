#!/usr/bin/env bash
# A trace that fails to load on a record --lenient would skip (a malformed JSONL line, a malformed
# native record) gets one more line after the error, pointing at --lenient; with --lenient the same
# file loads. Errors --lenient does not help with (not a trace, a truncated OTLP document, a missing
# file) get no such line, and the error line itself is unchanged. analyze, export and whatif load
# traces alike. The native trace is written here byte by byte (docs/native-format.md: file header
# "SPTRACE1", u32 version 1, u32 header size 16; a block of u32 magic "SPBK", u32 payload bytes, u32
# records, u32 CRC-32 of the first 12 header bytes then the payload; records of an 8-byte header
# {u16 type, u16 size, u32 aux} and u64 words), which needs python3.
# Run as: bash lenient_hint.sh BINARY SOURCE_DIR
set -u
bin=$1
fail=0
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
hint="--lenient skips such records and counts them in the report's data quality"

# hinted CMD FILE [ARGS...]: exit 1, the error names the file, then the hint as the last line
hinted() {
  local cmd=$1 file=$2 err rc
  shift 2
  err=$("$bin" "$cmd" "$@" "$file" 2>&1 >/dev/null); rc=$?
  [ $rc -eq 1 ] || { echo "FAIL: $cmd $* $file exited $rc, expected 1 ($err)" >&2; fail=1; }
  grep -qF -- "servprof $cmd: $file" <<<"$err" || { echo "FAIL: $cmd $file: error does not name it: $err" >&2; fail=1; }
  [ "$(tail -n 1 <<<"$err")" = "servprof $cmd: $hint" ] ||
    { echo "FAIL: $cmd $* $file: no --lenient hint as the last line: $err" >&2; fail=1; }
  [ "$(grep -cF -- "$hint" <<<"$err")" -eq 1 ] || { echo "FAIL: $cmd $file: hint not once: $err" >&2; fail=1; }
}
# unhinted CMD FILE [ARGS...]: exit 1 and no hint
unhinted() {
  local cmd=$1 file=$2 err rc
  shift 2
  err=$("$bin" "$cmd" "$@" "$file" 2>&1 >/dev/null); rc=$?
  [ $rc -eq 1 ] || { echo "FAIL: $cmd $* $file exited $rc, expected 1 ($err)" >&2; fail=1; }
  grep -qF -- "--lenient skips such records" <<<"$err" && { echo "FAIL: $cmd $* $file: hint where --lenient cannot help: $err" >&2; fail=1; }
  [ -n "$err" ] || { echo "FAIL: $cmd $* $file: no message" >&2; fail=1; }
}

# a JSONL line whose request ends before it arrives: the library's message, then the hint
printf '%s\n' '{"schema":"servprof.events/1","ev":"request","id":"a","arrival_ns":10,"done_ns":50}' \
  '{"ev":"request","id":"b","arrival_ns":10,"done_ns":5}' > "$tmp/t.jsonl"
err=$("$bin" analyze "$tmp/t.jsonl" 2>&1 >/dev/null)
[ "$(head -n 1 <<<"$err")" = "servprof analyze: $tmp/t.jsonl:2: \"done_ns\" (5) is before \"arrival_ns\" (10)" ] ||
  { echo "FAIL: the error line changed: $err" >&2; fail=1; }
hinted analyze "$tmp/t.jsonl"
hinted analyze "$tmp/t.jsonl" --json
hinted export "$tmp/t.jsonl" --otlp "$tmp/out.jsonl"
"$bin" whatif --help >/dev/null 2>&1 && hinted whatif "$tmp/t.jsonl"
# with --lenient the line is skipped and counted: exit 0, nothing about --lenient
out=$("$bin" analyze --lenient --json "$tmp/t.jsonl" 2>"$tmp/err"); rc=$?
[ $rc -eq 0 ] || { echo "FAIL: analyze --lenient exited $rc: $(cat "$tmp/err")" >&2; fail=1; }
grep -qF -- "--lenient skips" "$tmp/err" && { echo "FAIL: hint under --lenient" >&2; fail=1; }
grep -q '"skipped_records": *1' <<<"$out" || { echo "FAIL: --lenient did not count the line: $out" >&2; fail=1; }
# a JSONL file read whole from standard input: the same
err=$("$bin" analyze - <"$tmp/t.jsonl" 2>&1 >/dev/null)
[ "$(tail -n 1 <<<"$err")" = "servprof analyze: $hint" ] || { echo "FAIL: stdin: no hint: $err" >&2; fail=1; }
# the hint is about the file that failed, not an earlier one: a good file, then a garbage file
head -n 1 "$tmp/t.jsonl" > "$tmp/good.jsonl"
printf 'this is not a trace\n' > "$tmp/garbage.txt"
unhinted analyze "$tmp/garbage.txt"
unhinted analyze "$tmp/garbage.txt" "$tmp/good.jsonl"
unhinted analyze "$tmp/no-such-trace.jsonl"
unhinted export "$tmp/garbage.txt" --otlp "$tmp/out.jsonl"
# a truncated OTLP/JSON document: the document cannot be read on, --lenient or not
printf '{"resourceSpans":[{"scopeSpans":[' > "$tmp/cut.json"
unhinted analyze "$tmp/cut.json" --format otlp
unhinted analyze "$tmp/cut.json" --format otlp --lenient

# a Kineto trace with a kernel whose "dur" is negative: a malformed event, which --lenient skips
# (docs/kineto.md); the trace is otherwise one launch and its kernel
printf '%s\n' '{"schemaVersion": 1, "traceEvents": [' \
  '{"ph": "X", "cat": "cuda_runtime", "name": "cudaLaunchKernel", "pid": 1, "tid": 1, "ts": 5.0, "dur": 2.0, "args": {"correlation": 11}},' \
  '{"ph": "X", "cat": "kernel", "name": "gemm_a", "pid": 0, "tid": 7, "ts": 10.0, "dur": 5.0, "args": {"device": 0, "stream": 7, "correlation": 11}},' \
  '{"ph": "X", "cat": "kernel", "name": "gemm_b", "pid": 0, "tid": 7, "ts": 20.0, "dur": -1, "args": {"device": 0, "stream": 7}}]}' \
  > "$tmp/k.json"
hinted analyze "$tmp/k.json"
hinted export "$tmp/k.json" --otlp "$tmp/out.jsonl"
out=$("$bin" analyze --lenient --json "$tmp/k.json" 2>"$tmp/err"); rc=$?
[ $rc -eq 0 ] || { echo "FAIL: analyze --lenient k.json exited $rc: $(cat "$tmp/err")" >&2; fail=1; }
grep -q '"skipped_records": *1' <<<"$out" || { echo "FAIL: --lenient did not count the Kineto event: $out" >&2; fail=1; }
# a Kineto document cut short: the lexer cannot read on, --lenient or not
head -c 120 "$tmp/k.json" > "$tmp/kcut.json"
unhinted analyze "$tmp/kcut.json"
unhinted analyze "$tmp/kcut.json" --lenient

# diff: the same line after the side that failed (BASE or NEW), never for a side --lenient cannot help
# (the JSONL traces without their "schema" line: diff takes a first line naming a servprof schema
# other than servprof.report/1 for a foreign document)
"$bin" diff --help >/dev/null 2>&1 && {
  tail -n +2 "$tmp/t.jsonl" > "$tmp/d.jsonl"
  printf '%s\n' '{"ev":"request","id":"a","arrival_ns":10,"done_ns":50}' > "$tmp/dgood.jsonl"
  for pair in "d.jsonl dgood.jsonl" "dgood.jsonl d.jsonl" "k.json dgood.jsonl"; do
    set -- $pair
    err=$("$bin" diff "$tmp/$1" "$tmp/$2" 2>&1 >/dev/null); rc=$?
    [ $rc -eq 1 ] || { echo "FAIL: diff $pair exited $rc, expected 1 ($err)" >&2; fail=1; }
    bad=$1; [ "$bad" = dgood.jsonl ] && bad=$2
    grep -qF -- "$tmp/$bad" <<<"$(head -n 1 <<<"$err")" || { echo "FAIL: diff $pair: error does not name $bad: $err" >&2; fail=1; }
    [ "$(tail -n 1 <<<"$err")" = "servprof diff: $hint" ] || { echo "FAIL: diff $pair: no --lenient hint: $err" >&2; fail=1; }
    [ "$(grep -cF -- "$hint" <<<"$err")" -eq 1 ] || { echo "FAIL: diff $pair: hint not once: $err" >&2; fail=1; }
  done
  err=$("$bin" diff "$tmp/garbage.txt" "$tmp/dgood.jsonl" 2>&1 >/dev/null)
  grep -qF -- "--lenient skips such" <<<"$err" && { echo "FAIL: diff garbage.txt hinted: $err" >&2; fail=1; }
  [ -n "$err" ] || { echo "FAIL: diff garbage.txt: no message" >&2; fail=1; }
  err=$("$bin" diff --lenient "$tmp/d.jsonl" "$tmp/dgood.jsonl" 2>&1 >/dev/null)
  grep -qF -- "--lenient skips such" <<<"$err" && { echo "FAIL: diff --lenient hinted: $err" >&2; fail=1; }
}

if command -v python3 >/dev/null; then
  # a native trace: a request (id 1, 1000..905000 ns), then a stage record naming stage name id 42,
  # never defined: malformed
  python3 - "$tmp/bad.sptrace" <<'EOF'
import struct, sys, zlib
def rec(t, aux, words):
    return struct.pack('<Q', t | ((8 + 8 * len(words)) << 16) | (aux << 32)) + b''.join(struct.pack('<Q', w) for w in words)
payload = rec(3, 0, [1, 1000, 905000, 37]) + rec(5, 42, [1, 1000, 51000])
head = struct.pack('<III', 0x4b425053, len(payload), 2)
crc = zlib.crc32(payload, zlib.crc32(head)) & 0xffffffff
open(sys.argv[1], 'wb').write(b'SPTRACE1' + struct.pack('<II', 1, 16) + head + struct.pack('<I', crc) + payload)
EOF
  err=$("$bin" analyze "$tmp/bad.sptrace" 2>&1 >/dev/null)
  grep -qF "stage record uses a stage name id that was never defined" <<<"$err" ||
    { echo "FAIL: the native trace did not fail on its malformed record: $err" >&2; fail=1; }
  hinted analyze "$tmp/bad.sptrace"
  "$bin" analyze --lenient "$tmp/bad.sptrace" >/dev/null 2>"$tmp/err" ||
    { echo "FAIL: analyze --lenient bad.sptrace: $(cat "$tmp/err")" >&2; fail=1; }
  # the same trace cut inside its block: a lost block, not a malformed record
  head -c 40 "$tmp/bad.sptrace" > "$tmp/cut.sptrace"
  err=$("$bin" analyze "$tmp/cut.sptrace" 2>&1 >/dev/null)
  grep -qF -- "--lenient skips such" <<<"$err" && { echo "FAIL: cut native trace hinted: $err" >&2; fail=1; }
else
  echo "python3 not found: the native case is not checked"
fi
exit $fail
