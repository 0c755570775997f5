#!/usr/bin/env bash
# Other tools' traces as a new user brings them (task s80's audit of the importers): each case is one a
# user meets with a real Triton, OTLP, Kineto or Nsight Systems file, and what servprof must do with it
# (load it as the same trace, or stop with a message naming the file and what to do).
# Run as: bash import_audit.sh BINARY SOURCE_DIR
set -u
bin=$1
src=$2
data=$src/tests/data
fail=0
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# run CMD...: sets rc, out (stdout) and err (stderr)
run() { out=$("$@" 2>"$tmp/err"); rc=$?; err=$(cat "$tmp/err"); }
expect() {   # expect RC TEXT: the last run exited RC and its stderr holds TEXT
  if [ "$rc" -ne "$1" ]; then echo "FAIL: exit $rc, expected $1: $err" >&2; fail=1; fi
  if ! grep -qF -- "$2" <<<"$err"; then echo "FAIL: message lacks '$2': $err" >&2; fail=1; fi
}
same_report() {   # same_report A B: the JSON reports of A and B are identical but for the file name
  "$bin" analyze --json "$1" 2>/dev/null | sed "s|$1|F|g" >"$tmp/a.json"
  "$bin" analyze --json "$2" 2>/dev/null | sed "s|$2|F|g" >"$tmp/b.json"
  if [ ! -s "$tmp/a.json" ] || ! cmp -s "$tmp/a.json" "$tmp/b.json"; then
    echo "FAIL: $2 does not read as $1" >&2; fail=1
  fi
}

# 1. A UTF-8 byte order mark (Windows editors, PowerShell's Out-File) and CRLF line ends: the same trace.
bom() { printf '\357\273\277' >"$2"; cat "$1" >>"$2"; }
bom "$data/triton/batch2.json" "$tmp/triton_bom.json"
same_report "$data/triton/batch2.json" "$tmp/triton_bom.json"
bom "$data/otlp/stages.jsonl" "$tmp/otlp_bom.jsonl"
same_report "$data/otlp/stages.jsonl" "$tmp/otlp_bom.jsonl"
bom "$data/kineto/cuda_graph_subus.json" "$tmp/kineto_bom.json"
same_report "$data/kineto/cuda_graph_subus.json" "$tmp/kineto_bom.json"
sed 's/$/\r/' "$tmp/triton_bom.json" >"$tmp/triton_bom_crlf.json"
same_report "$data/triton/batch2.json" "$tmp/triton_bom_crlf.json"
sed 's/$/\r/' "$tmp/otlp_bom.jsonl" >"$tmp/otlp_bom_crlf.jsonl"
same_report "$data/otlp/stages.jsonl" "$tmp/otlp_bom_crlf.jsonl"
gzip -c "$tmp/otlp_bom.jsonl" >"$tmp/otlp_bom.jsonl.gz"
same_report "$data/otlp/stages.jsonl" "$tmp/otlp_bom.jsonl.gz"
# a mark after the start is no mark: the position counts the first one's bytes
printf '\357\273\277[{"id":1,"timestamps":[{"name":"REQUEST_START","ns":NaN}]}]' >"$tmp/bom_nan.json"
run "$bin" analyze "$tmp/bom_nan.json"
expect 1 "bom_nan.json: line 1, column 56 (byte 55): NaN and Infinity are not JSON"

# 2. An Nsight Systems report (.nsys-rep, or the older .qdrep) given as it is: the message says to
# export it to SQLite first, whether its format was detected or forced.
printf 'NSYS-REPORT-BINARY' >"$tmp/profile.nsys-rep"
run "$bin" analyze "$tmp/profile.nsys-rep"
expect 1 "profile.nsys-rep: not a trace servprof reads"
expect 1 "run \`nsys export --type sqlite"
cp "$tmp/profile.nsys-rep" "$tmp/OLD.QDREP"
run "$bin" analyze "$tmp/OLD.QDREP"
expect 1 "give the .sqlite file"
run "$bin" analyze --format nsys "$tmp/profile.nsys-rep"
if ! grep -qF "compiled out" <<<"$err"; then
  expect 1 "profile.nsys-rep: not an SQLite database"
  expect 1 "give the .sqlite file"
fi
# any other name gets no such advice
cp "$tmp/profile.nsys-rep" "$tmp/profile.bin"
run "$bin" analyze "$tmp/profile.bin"
if grep -qF "nsys export" <<<"$err"; then echo "FAIL: nsys advice for profile.bin: $err" >&2; fail=1; fi

# 3. A Triton trace file read while the server still writes it: Triton writes the array's closing ']'
# only when tracing stops. The message says where the JSON stopped and why the file ends there; a
# file cut inside an object keeps the lexer's own message.
head -n 6 "$data/triton/batch2.json" | sed '$ s/,$//' >"$tmp/running.json"
run "$bin" analyze "$tmp/running.json"
expect 1 "running.json: line 7, column 1 (byte "
expect 1 "unexpected end of input (expected ',' or ']'); the file ends inside its array of trace objects: Triton writes the closing ']'"
head -n 6 "$data/triton/batch2.json" >"$tmp/running_comma.json"
run "$bin" analyze "$tmp/running_comma.json"
expect 1 "the file ends inside its array of trace objects"
head -c 300 "$data/triton/batch2.json" >"$tmp/cut.json"
run "$bin" analyze "$tmp/cut.json"
expect 1 "cut.json: line 3"
if grep -qF "ends inside its array" <<<"$err"; then echo "FAIL: array advice for a cut object: $err" >&2; fail=1; fi
# a complete array, or objects one per line, needs no ']' advice
run "$bin" analyze "$data/triton/batch2.json"
expect 0 ""

# 4. OTLP traces the report cannot show: a file of only a client's or a database's spans (their server
# span is in another service's file) or with no spans at all analyses to 0 requests; stderr says why.
# An export's batch traces (servprof.request false) are not requests by design and draw no warning.
cat >"$tmp/fragment.jsonl" <<'JSON'
{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"0af7651916cd43dd8448eb211c80319c","spanId":"b7ad6b7169203331","parentSpanId":"b7ad6b7169203330","name":"SELECT","kind":3,"startTimeUnixNano":"1000","endTimeUnixNano":"9000"},{"traceId":"0af7651916cd43dd8448eb211c80319c","spanId":"b7ad6b7169203332","parentSpanId":"b7ad6b7169203330","name":"SELECT","kind":3,"startTimeUnixNano":"9000","endTimeUnixNano":"9500"}]}]}]}
JSON
run "$bin" analyze "$tmp/fragment.jsonl"
expect 0 "fragment.jsonl: left out 1 trace (2 spans) with no request span: no root span, no server span"
printf '{"resourceSpans":[]}\n{"resourceSpans":[{"scopeSpans":[{"spans":[]}]}]}\n' >"$tmp/nospans.jsonl"
run "$bin" analyze "$tmp/nospans.jsonl"
expect 0 "nospans.jsonl: no spans in the file's 2 OTLP/JSON documents: no requests"
run "$bin" analyze "$data/otlp/stages.jsonl"
expect 0 ""
if [ -n "$err" ]; then echo "FAIL: warnings for stages.jsonl: $err" >&2; fail=1; fi
run "$bin" export --otlp "$tmp/export.jsonl" --unix-offset 1700000000000000000 "$data/synth/gpu_requests20_seed7.jsonl"
run "$bin" analyze "$tmp/export.jsonl"
expect 0 ""
if [ -n "$err" ]; then echo "FAIL: warnings reading an export back: $err" >&2; fail=1; fi

# 5. Two files on different clocks (a Kineto trace's Unix-time microseconds and a Triton trace's steady
# clock): the report's window and bill would span 54 years; a warning names the file. Files whose
# times overlap draw none.
run "$bin" analyze "$data/kineto/cuda_event_sync.json.gz" "$data/triton/batch2.json"
expect 0 "batch2.json: its times and the earlier files' are "
expect 0 "years apart with nothing between: the files are on different clocks"
run "$bin" analyze "$data/triton/batch2.json" "$data/otlp/stages.jsonl"
expect 0 ""
if [ -n "$err" ]; then echo "FAIL: a warning for overlapping files: $err" >&2; fail=1; fi

# 6. A gzip'd Nsight Systems export (SQLite reads the file in place, so it cannot be streamed): the
# message says to gunzip it; the same bytes on standard input are refused without that advice.
printf 'SQLite format 3\000rest of the database' >"$tmp/export.sqlite"
gzip -c "$tmp/export.sqlite" >"$tmp/export.sqlite.gz"
run "$bin" analyze "$tmp/export.sqlite.gz"
expect 1 "export.sqlite.gz: an Nsight Systems SQLite export must be an uncompressed file on disk (this one is gzip'd: gunzip it first)"
run "$bin" analyze - <"$tmp/export.sqlite"
expect 1 "<stdin>: an Nsight Systems SQLite export must be an uncompressed file on disk"
if grep -qF "gunzip" <<<"$err"; then echo "FAIL: gunzip advice for plain stdin: $err" >&2; fail=1; fi

# 7. Packed in a way servprof does not unpack (it reads plain and gzip'd files): the OpenTelemetry
# Collector's file exporter with compression: zstd or format: proto, xz, bzip2, zip. The message says
# what the file is and what to do. (Magic bytes only: the formats' own first bytes.)
printf '\050\265\057\375\000\000rest' >"$tmp/spans.json.zst"
run "$bin" analyze "$tmp/spans.json.zst"
expect 1 "spans.json.zst: not a trace servprof reads"
expect 1 "it is zstd-compressed (e.g. the OpenTelemetry Collector's file exporter with compression: zstd): decompress it first (zstd -d)"
printf '\000\000\001\040\012\231rest' >"$tmp/spans.pb"
run "$bin" analyze "$tmp/spans.pb"
expect 1 "it may be OTLP protobuf (the OpenTelemetry Collector's file exporter with format: proto): servprof reads OTLP/JSON (format: json)"
printf '\375\067\172\130\132\000rest' >"$tmp/t.json.xz"
run "$bin" analyze "$tmp/t.json.xz"
expect 1 "it is xz-compressed: decompress it first (xz -d)"
printf 'BZh91AY&SYrest' >"$tmp/t.json.bz2"
run "$bin" analyze "$tmp/t.json.bz2"
expect 1 "it is bzip2-compressed: decompress it first (bunzip2)"
printf 'PK\003\004rest' >"$tmp/traces.zip"
run "$bin" analyze "$tmp/traces.zip"
expect 1 "it is a zip archive: unzip it and give the trace files inside"
# plain text that is no trace gets no such guess
printf 'hello\n' >"$tmp/hello.txt"
run "$bin" analyze "$tmp/hello.txt"
expect 1 "hello.txt: not a trace servprof reads"
if grep -qF "; it " <<<"$err"; then echo "FAIL: a packing guess for plain text: $err" >&2; fail=1; fi

# 8. A CPU-only PyTorch profile without serving annotations (the real cpu_only trace): the report can
# only say "nothing to analyse"; stderr says what the trace lacks. A GPU trace without annotations is
# the GPU-only analysis and draws no warning.
run "$bin" analyze "$data/kineto/cpu_only.json.gz"
expect 0 "cpu_only.json.gz: no device activity (no kernel, memcpy or memset event: a CPU-only profile) and no serving annotation"
run "$bin" analyze "$data/kineto/cuda_event_sync.json.gz"
expect 0 ""
if [ -n "$err" ]; then echo "FAIL: a warning for a GPU trace: $err" >&2; fail=1; fi

# 9. The same trace under two names (a copy, or the file and its .gz): the CLI refuses only the same
# file by path or inode; the loader sees the same records over the same times and warns, naming both.
# Two different traces draw no such warning.
cp "$data/triton/batch2.json" "$tmp/copy_of_batch2.json"
run "$bin" analyze "$data/triton/batch2.json" "$tmp/copy_of_batch2.json"
expect 0 "copy_of_batch2.json: the same 9 requests, batches and device records over the same times as $data/triton/batch2.json: the same trace given twice"
gzip -c "$data/otlp/stages.jsonl" >"$tmp/stages.jsonl.gz"
run "$bin" analyze "$data/otlp/stages.jsonl" "$tmp/stages.jsonl.gz"
expect 0 "stages.jsonl.gz: the same 3 requests, batches and device records"
run "$bin" analyze "$data/triton/batch2.json" "$data/triton/ensemble.json"
if grep -qF "given twice" <<<"$err"; then echo "FAIL: two traces taken for one: $err" >&2; fail=1; fi

exit $fail
