#!/usr/bin/env bash
# Usage errors exit 2 with a message naming the problem; they never get as far as reading a file.
# Run as: bash usage_errors.sh BINARY SOURCE_DIR
set -u
bin=$1
fail=0
expect2() {
  local err rc
  err=$("$bin" "$@" 2>&1 >/dev/null); rc=$?
  if [ $rc -ne 2 ]; then echo "FAIL: servprof $* exited $rc, expected 2" >&2; fail=1; fi
  if [ -z "$err" ]; then echo "FAIL: servprof $* printed no message" >&2; fail=1; fi
}
expect2 analyze
expect2 analyze --bogus trace.jsonl
expect2 analyze -x trace.jsonl
expect2 analyze --price-per-hour -1 trace.jsonl
expect2 analyze --price-per-hour abc trace.jsonl
expect2 analyze --price-per-hour nan trace.jsonl
expect2 analyze --format bogus trace.jsonl
expect2 analyze trace.jsonl --perfetto
expect2 analyze --clock-offset 5ms trace.jsonl
expect2 analyze --clock-offset '' trace.jsonl
expect2 analyze --clock-offset 99999999999999999999 trace.jsonl
expect2 synth --requests 0
expect2 synth --requests 1.5
expect2 synth --rate -3
expect2 synth --max-batch 0
expect2 synth --pad-to 0
expect2 synth --format csv
expect2 synth stray-argument
err=$("$bin" analyze --price-per-hour abc t.jsonl 2>&1)
grep -q -- "--price-per-hour" <<<"$err" || { echo "FAIL: message does not name the option: $err" >&2; fail=1; }
err=$("$bin" analyze --clock-offset 5ms t.jsonl 2>&1)
grep -q -- "--clock-offset" <<<"$err" || { echo "FAIL: message does not name the option: $err" >&2; fail=1; }
exit $fail
