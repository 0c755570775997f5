#!/usr/bin/env bash
# A trace whose recorder counted dropped records (a service that outran the writer: buffer_full) and
# holds a stage of a request, or a kernel of a batch, whose own record is not there: the record was
# most likely among the drops, so the request or batch is an orphan (left out, counted in the data
# quality line's `lost:` part, `--strict` fails), not a malformed trace that needs --lenient. The same
# trace without the drop counts, or with only too_large drops (records refused for their content), is
# still an unresolved reference (exit 1 unless --lenient).
# Traces written here (servprof.events/1, the meta line's `drops`); counts read off them.
# Run as: bash dropped_records.sh BINARY SOURCE_DIR
set -u
bin=$1
fail=0
check() { if ! eval "$1"; then echo "FAIL: $1" >&2; fail=1; fi; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
body() {
  printf '%s\n' \
    '{"ev":"request","id":"r1","arrival_ns":0,"done_ns":1000000}' \
    '{"ev":"stage","id":"r1","stage":"preprocess","start_ns":0,"end_ns":100000}' \
    '{"ev":"stage","id":"r1","stage":"queue","start_ns":100000,"end_ns":200000}' \
    '{"ev":"batch","batch":1,"requests":["r1"],"start_ns":200000,"end_ns":900000,"effective_tokens":8,"padded_tokens":8}' \
    '{"ev":"kernel","batch":1,"name":"k","stream":0,"start_ns":200000,"end_ns":900000}' \
    '{"ev":"stage","id":"r1","stage":"postprocess","start_ns":900000,"end_ns":1000000}' \
    '{"ev":"stage","id":"r2","stage":"preprocess","start_ns":5000,"end_ns":9000}' \
    '{"ev":"kernel","batch":2,"name":"k","stream":0,"start_ns":1100000,"end_ns":1200000}'
}
{ echo '{"ev":"meta","format":"servprof.events/1","clock":"monotonic","drops":{"buffer_full":3,"too_large":1}}'; body; } > "$tmp/dropped.jsonl"
{ echo '{"ev":"meta","format":"servprof.events/1","clock":"monotonic"}'; body; } > "$tmp/clean.jsonl"

"$bin" analyze --no-progress "$tmp/dropped.jsonl" > "$tmp/d.txt" 2> "$tmp/d.err"; rc=$?
check "[ $rc -eq 0 ]"
tr -s ' \n' ' ' < "$tmp/d.txt" > "$tmp/d.flat"
check "grep -q '^servprof report: 1 file, 1 request, 1 batch' '$tmp/d.txt'"
check "grep -qF 'data quality: 4 records dropped by the recorder (buffer_full 3, too_large 1,' '$tmp/d.flat'"
# r2 and batch 2: two left out, named as dropped on stderr
check "grep -qF '2 requests or batches left out (their own record was lost)' '$tmp/d.flat'"
check "grep -qF '2 requests or batches named by surviving records had their own record dropped by the recorder: left out' '$tmp/d.err'"
"$bin" analyze --no-progress --json "$tmp/dropped.jsonl" > "$tmp/d.json" 2>/dev/null
check "grep -q '\"orphaned_records\":2' '$tmp/d.json'"
"$bin" analyze --no-progress --strict "$tmp/dropped.jsonl" > /dev/null 2>&1; check "[ $? -eq 1 ]"

# no drops counted: an unresolved reference, as before
"$bin" analyze --no-progress "$tmp/clean.jsonl" > /dev/null 2> "$tmp/c.err"; rc=$?
check "[ $rc -eq 1 ] && grep -q 'request id \"r2\" is referenced by a stage or batch but has no request record' '$tmp/c.err'"
"$bin" analyze --no-progress --lenient "$tmp/clean.jsonl" > "$tmp/c.txt" 2>&1; check "[ $? -eq 0 ]"
check "tr -s ' \n' ' ' < '$tmp/c.txt' | grep -qF '2 malformed or unresolved records skipped'"
# too_large drops alone (records refused for their content) do not explain a missing record
{ echo '{"ev":"meta","format":"servprof.events/1","clock":"monotonic","drops":{"too_large":5}}'; body; } > "$tmp/big.jsonl"
"$bin" analyze --no-progress "$tmp/big.jsonl" > /dev/null 2> "$tmp/b.err"; rc=$?
check "[ $rc -eq 1 ] && grep -q 'request id \"r2\" is referenced by a stage or batch but has no request record' '$tmp/b.err'"
# a trace from another tool (Kineto: servprof's recorder never ran) has no drop count: the text and HTML
# say drops are not known, not "0 records dropped by the recorder"; the JSON keys are as ever (DESIGN 10)
kin="$2/tests/data/kineto/cpu_only.json.gz"
"$bin" analyze --no-progress --html "$tmp/k.html" "$kin" > "$tmp/k.txt" 2>/dev/null; check "[ $? -eq 0 ]"
tr -s ' \n' ' ' < "$tmp/k.txt" > "$tmp/k.flat"
check "grep -qF \"data quality: drops not known (no trace here was written by servprof's recorder\" '$tmp/k.flat'"
check "! grep -qF 'dropped by the recorder' '$tmp/k.flat'"
check "grep -qF '<td>not known</td>' '$tmp/k.html'"
"$bin" analyze --no-progress --json "$kin" > "$tmp/k.json" 2>/dev/null
check "grep -q '\"drops\":{\"total\":0,\"by_cause\":{' '$tmp/k.json'"
# beside a servprof trace the recorder's counts are known again (the JSONL file's)
"$bin" analyze --no-progress --lenient "$tmp/clean.jsonl" "$kin" > "$tmp/m.txt" 2>/dev/null
check "tr -s ' \n' ' ' < '$tmp/m.txt' | grep -qF 'data quality: 0 records dropped by the recorder (buffer_full 0,'"
exit $fail
