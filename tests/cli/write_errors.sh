#!/usr/bin/env bash
# Write failures name their cause and exit 1: reports, exports and a synthetic trace written to
# /dev/full say "No space left on device" (not "input/output error"), and so do `serve --trace
# /dev/full` and `load --trace /dev/full`; a failed export removes its partial file, never a FIFO or a
# device; an output never overwrites a servprof trace (an option's file name left out). Usage:
# write_errors.sh BINARY SOURCE_DIR. Skips (77) without /dev/full.
set -u
BIN=$1
[ -w /dev/full ] || { echo "no /dev/full: skipped"; exit 77; }
fail=0
check() { if ! eval "$1"; then echo "FAILED: $1"; fail=1; fi; }
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
"$BIN" synth --requests 300 -o "$TMP/t.jsonl" 2>/dev/null
check "[ -s '$TMP/t.jsonl' ]"
enospc() { # CMD... : exits 1 and says why
  "$@" >/dev/null 2>"$TMP/err"; local rc=$?
  if [ $rc -ne 1 ] || ! grep -q 'No space left on device' "$TMP/err"; then
    echo "FAILED (rc $rc): $*"; cat "$TMP/err"; fail=1
  fi
}
enospc "$BIN" analyze "$TMP/t.jsonl" -o /dev/full
enospc "$BIN" analyze "$TMP/t.jsonl" --json -o /dev/full
enospc "$BIN" analyze "$TMP/t.jsonl" --perfetto /dev/full
enospc "$BIN" analyze "$TMP/t.jsonl" --html /dev/full
enospc "$BIN" synth -o /dev/full
# standard output on a full disk: the report is flushed and the failure reported
"$BIN" analyze "$TMP/t.jsonl" >/dev/full 2>"$TMP/err"; rc=$?
check "[ $rc -eq 1 ] && grep -q 'standard output: No space left on device' '$TMP/err'"
# an output never overwrites a servprof trace: `--perfetto server.sptrace client.jsonl` (the file name
# left out) exits 1 naming the trace, which stays as it was; so do --html, whatif -o and diff --html
cp "$TMP/t.jsonl" "$TMP/keep.jsonl"; gzip -c "$TMP/t.jsonl" > "$TMP/keep.jsonl.gz"
sum=$(cksum < "$TMP/keep.jsonl"); gzsum=$(cksum < "$TMP/keep.jsonl.gz")
refused() { # CMD...: exit 1, the trace named, both traces unchanged
  "$@" >/dev/null 2>"$TMP/err"; local rc=$?
  if [ $rc -ne 1 ] || ! grep -q 'a servprof trace: not overwritten' "$TMP/err" ||
     [ "$(cksum < "$TMP/keep.jsonl")" != "$sum" ] || [ "$(cksum < "$TMP/keep.jsonl.gz")" != "$gzsum" ]; then
    echo "FAILED (rc $rc): $*"; cat "$TMP/err"; fail=1
  fi
}
refused "$BIN" analyze --no-progress --perfetto "$TMP/keep.jsonl" "$TMP/t.jsonl"
refused "$BIN" analyze --no-progress --html "$TMP/keep.jsonl.gz" "$TMP/t.jsonl"
refused "$BIN" analyze --no-progress -o "$TMP/keep.jsonl" "$TMP/t.jsonl"
# the demo refuses before its run: a 60 s demo that stops at once (the run would take the full minute)
refused timeout 20 "$BIN" demo --duration 60 --no-progress --perfetto "$TMP/keep.jsonl"
refused timeout 20 "$BIN" demo --generate --duration 60 --no-progress --html "$TMP/keep.jsonl.gz"
refused "$BIN" analyze --json --no-progress -o "$TMP/keep.jsonl.gz" "$TMP/t.jsonl"
refused "$BIN" diff --html "$TMP/keep.jsonl" "$TMP/t.jsonl" "$TMP/t.jsonl"
# export too: `--otlp server.sptrace client.jsonl` wrote the client's spans over the server trace
refused "$BIN" export --otlp "$TMP/keep.jsonl" --unix-offset 0 "$TMP/t.jsonl"
refused "$BIN" export --otlp "$TMP/keep.jsonl.gz" --unix-offset 0 "$TMP/t.jsonl"
if "$BIN" whatif --help >/dev/null 2>&1; then
  refused "$BIN" whatif -o "$TMP/keep.jsonl" "$TMP/t.jsonl"
  refused "$BIN" whatif --html "$TMP/keep.jsonl.gz" "$TMP/t.jsonl"
fi
# an output file of another kind is overwritten as before
"$BIN" analyze --no-progress --perfetto "$TMP/p.json" "$TMP/t.jsonl" >/dev/null 2>&1 &&
  "$BIN" analyze --no-progress --perfetto "$TMP/p.json" "$TMP/t.jsonl" >/dev/null 2>&1
check "[ $? -eq 0 ] && [ -s '$TMP/p.json' ]"
# a failed export removes its partial output only when that is a regular file: a FIFO (or a device
# such as /dev/full) stays. The synthetic trace has no wall-clock anchor, so the export fails.
if command -v mkfifo >/dev/null 2>&1 && mkfifo "$TMP/fifo"; then
  cat "$TMP/fifo" >/dev/null &
  READER=$!
  "$BIN" export --otlp "$TMP/fifo" "$TMP/t.jsonl" >/dev/null 2>"$TMP/err"; rc=$?
  wait $READER 2>/dev/null
  check "[ $rc -eq 1 ] && grep -q 'unix-offset' '$TMP/err' && [ -p '$TMP/fifo' ]"
fi
"$BIN" export --otlp "$TMP/spans.jsonl" "$TMP/t.jsonl" >/dev/null 2>&1; rc=$?
check "[ $rc -eq 1 ] && [ ! -e '$TMP/spans.jsonl' ]"
if "$BIN" whatif --help >/dev/null 2>&1; then
  enospc "$BIN" whatif "$TMP/t.jsonl" -o /dev/full
fi
if "$BIN" serve --help >/dev/null 2>&1; then
  enospc "$BIN" serve --port 0 --trace /dev/full --duration 1
  # the load generator's client trace
  if "$BIN" load --help >/dev/null 2>&1; then
    "$BIN" serve --port 0 --duration 30 >"$TMP/srv.out" 2>/dev/null &
    SRV=$!
    PORT=
    for _ in $(seq 1 200); do
      PORT=$(sed -n 's/^listening on 127\.0\.0\.1:\([0-9][0-9]*\)$/\1/p' "$TMP/srv.out")
      [ -n "$PORT" ] && break
      sleep 0.05
    done
    check "[ -n '$PORT' ]"
    [ -n "$PORT" ] && enospc "$BIN" load --url "http://127.0.0.1:$PORT/v1/embeddings" --rate 50 --duration 0.5 \
      --no-progress --trace /dev/full
    kill -TERM $SRV 2>/dev/null; wait $SRV 2>/dev/null
  fi
fi
exit $fail
