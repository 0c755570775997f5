#!/usr/bin/env bash
# Files that cannot be analysed exit 1 with a message naming the file: missing, a directory, empty,
# not a trace. Run as: bash missing_file.sh BINARY SOURCE_DIR
set -u
bin=$1
fail=0
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
expect1() {
  local name=$1; shift
  local err rc
  err=$("$bin" analyze "$@" 2>&1 >/dev/null); rc=$?
  if [ $rc -ne 1 ]; then echo "FAIL: analyze $* exited $rc, expected 1 ($err)" >&2; fail=1; fi
  if ! grep -qF -- "$name" <<<"$err"; then echo "FAIL: message does not name $name: $err" >&2; fail=1; fi
}
expect1 "$tmp/no-such-trace.jsonl" "$tmp/no-such-trace.jsonl"
mkdir "$tmp/a-directory"
expect1 "$tmp/a-directory" "$tmp/a-directory"
: > "$tmp/empty.jsonl"
expect1 "$tmp/empty.jsonl" "$tmp/empty.jsonl"
printf 'this is not a trace\n' > "$tmp/garbage.txt"
expect1 "$tmp/garbage.txt" "$tmp/garbage.txt"
# of several files, the first that fails is named
expect1 "$tmp/garbage.txt" "$tmp/garbage.txt" "$tmp/no-such-trace.jsonl"
# --format otlp on JSON that is not OTLP trace data: an error naming the file and the document's line
# (was a report of 0 requests, exit 0): a document without "resourceSpans", alone, in JSON lines, after
# a good OTLP line; a servprof.events/1 file read as OTLP
printf '{"foo":1}\n' > "$tmp/foo.json"
expect1 "$tmp/foo.json:1:1: expected an OTLP/JSON document" --format otlp "$tmp/foo.json"
{ head -n 1 "$2/tests/data/otlp/stages.jsonl"; printf '{"request_id":"r1"}\n'; } > "$tmp/mixed.jsonl"
expect1 "$tmp/mixed.jsonl:2:1: expected an OTLP/JSON document" --format otlp "$tmp/mixed.jsonl"
expect1 "cpu_requests12_seed3.jsonl:1:1: expected an OTLP/JSON document" --format otlp \
  "$2/tests/data/synth/cpu_requests12_seed3.jsonl"
# {} is an empty OTLP request (the protobuf JSON mapping leaves out empty fields): no data, no error
printf '{}\n' > "$tmp/empty-otlp.json"
"$bin" analyze --format otlp --no-progress "$tmp/empty-otlp.json" >/dev/null 2>&1 ||
  { echo "FAIL: analyze --format otlp of {} failed" >&2; fail=1; }
# an Nsight Systems export that is not one (any file) or is cut short: one colon after the name, never
# "FILE: : not an SQLite database" (the importer's own prefix was empty); a build without SQLite says so
# in its own words, still naming the file
printf 'not a database\n' > "$tmp/text.sqlite"
src=$2
head -c 5000 "$src/tests/fuzz/corpus/fuzz_nsys/golden.sqlite" > "$tmp/cut.sqlite"
for f in "$tmp/text.sqlite" "$tmp/cut.sqlite"; do
  expect1 "$f" --format nsys "$f"
  err=$("$bin" analyze --format nsys "$f" 2>&1 >/dev/null)
  if grep -qF -- "$f: :" <<<"$err"; then echo "FAIL: doubled colon after the name: $err" >&2; fail=1; fi
done
exit $fail
