#!/usr/bin/env bash
# `servprof analyze -` reads the trace from standard input: a JSONL trace and the same trace gzip'd,
# both through a pipe, give exactly the report of the file; messages name "<stdin>"; a malformed
# --map on a JSONL trace exits 2 before reading. Run as: bash analyze_stdin.sh BINARY SOURCE_DIR
set -u
bin=$1
fail=0
check() { if ! eval "$1"; then echo "FAIL: $1" >&2; fail=1; fi; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

"$bin" synth --gpu --requests 500 -o "$tmp/t.jsonl" || exit 1
gzip -c "$tmp/t.jsonl" > "$tmp/t.jsonl.gz"
"$bin" analyze --json "$tmp/t.jsonl" > "$tmp/file.json"; check '[ $? -eq 0 ]'

cat "$tmp/t.jsonl" | "$bin" analyze --json - > "$tmp/pipe.json"; rc=$?
check '[ $rc -eq 0 ]'
# the reports name their file (data_quality.files[].path): compare everything else
nopath() { sed -E 's/"path":"[^"]*"/"path":"-"/g' "$1"; }
check 'cmp -s <(nopath "$tmp/file.json") <(nopath "$tmp/pipe.json")'
cat "$tmp/t.jsonl.gz" | "$bin" analyze --json - > "$tmp/pipe-gz.json"; rc=$?
check '[ $rc -eq 0 ]'
check 'cmp -s <(nopath "$tmp/file.json") <(nopath "$tmp/pipe-gz.json")'
# a redirected file is standard input too, and the text report is the file's
"$bin" analyze "$tmp/t.jsonl" > "$tmp/file.txt"
"$bin" analyze - < "$tmp/t.jsonl" > "$tmp/redirect.txt"; rc=$?
check '[ $rc -eq 0 ]'
check 'cmp -s "$tmp/file.txt" "$tmp/redirect.txt"'
# standard input beside a file: analysed together as two replicas
cat "$tmp/t.jsonl.gz" | "$bin" analyze --json - "$tmp/t.jsonl" > "$tmp/two.json"; rc=$?
check '[ $rc -eq 0 ]'
check 'grep -q "\"files\":2" "$tmp/two.json"'

# errors name <stdin> and the line
err=$(printf '{"ev":"request","id":"r1"\n' | "$bin" analyze - 2>&1 >/dev/null); rc=$?
check '[ $rc -eq 1 ]'
check 'grep -q "^servprof analyze: <stdin>:1: " <<<"$err"'
err=$(printf '' | "$bin" analyze - 2>&1 >/dev/null); rc=$?
check '[ $rc -eq 1 ]'
check 'grep -q "<stdin>: file is empty" <<<"$err"'
err=$(head -c 100 "$tmp/t.jsonl.gz" | "$bin" analyze - 2>&1 >/dev/null); rc=$?
check '[ $rc -eq 1 ]'
check 'grep -q "<stdin>" <<<"$err"'

# a malformed --map is a usage error for a JSONL trace too (the map is checked before reading)
err=$(cat "$tmp/t.jsonl" | "$bin" analyze --map 'request=x,bogus' - 2>&1 >/dev/null); rc=$?
check '[ $rc -eq 2 ]'
check 'grep -q "^servprof analyze: --map entry \"bogus\": expected role=prefix$" <<<"$err"'
err=$("$bin" analyze --map 'stage:=x' "$tmp/t.jsonl" 2>&1 >/dev/null); rc=$?
check '[ $rc -eq 2 ]'
check 'grep -q "\-\-map entry \"stage:=x\"" <<<"$err"'
# a well-formed map changes nothing for JSONL
"$bin" analyze --json --map 'request=infer' "$tmp/t.jsonl" > "$tmp/map.json"; rc=$?
check '[ $rc -eq 0 ]'
check 'cmp -s "$tmp/file.json" "$tmp/map.json"'
exit $fail
