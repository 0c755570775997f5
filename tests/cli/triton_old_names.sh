#!/usr/bin/env bash
# Triton's 1.x servers wrote timestamp names in lower case ("http recv start", "request handler start",
# "grpc wait/read start"), one object per trace; today's write upper case (HTTP_RECV_START, ...), in
# objects joined by id. Since branch left9 servprof reads each old name as today's name for the same
# event (docs/triton.md, "Older releases"; the mapping from Triton's own history), so a trace in the
# old spelling gives the report the new spelling gives. tests/data/triton/*_old_names.json are
# batch2.json and grpc.json written the old way (names and layout); before, the old files failed to
# load ("... lower-case names ... which are not read"). Each pair is analysed under one file name,
# so the reports must be byte-identical: JSON, text and HTML.
# Run as: bash triton_old_names.sh BINARY SOURCE_DIR
set -u
bin=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
src=$(cd "$2" && pwd)
fail=0
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
for pair in batch2 grpc; do
  for side in new old; do
    mkdir -p "$tmp/$pair/$side"
    if [ $side = new ]; then f=$pair.json; else f=${pair}_old_names.json; fi
    cp "$src/tests/data/triton/$f" "$tmp/$pair/$side/trace.json"
    (cd "$tmp/$pair/$side" &&
      "$bin" analyze --no-progress --json trace.json > report.json 2> err.txt &&
      "$bin" analyze --no-progress --html report.html trace.json > report.txt 2>> err.txt) ||
      { echo "FAIL: $pair ($side spelling): analyze failed: $(cat "$tmp/$pair/$side/err.txt")" >&2; fail=1; }
  done
  for out in report.json report.txt report.html err.txt; do
    cmp -s "$tmp/$pair/new/$out" "$tmp/$pair/old/$out" ||
      { echo "FAIL: $pair: $out differs between the old and the new spelling" >&2; fail=1; }
  done
  # and the reports hold the trace: three requests (not an empty report compared with another)
  grep -q '"requests":{"count":3,' "$tmp/$pair/old/report.json" ||
    { echo "FAIL: $pair: the old spelling's report does not count 3 requests" >&2; fail=1; }
done
# the old HTTP names reach the receive and send stages, the old gRPC send names the send stage
grep -q '{"name":"receive",' "$tmp/batch2/old/report.json" && grep -q '{"name":"send",' "$tmp/grpc/old/report.json" ||
  { echo "FAIL: receive or send stage missing from the old spelling's reports" >&2; fail=1; }
[ $fail = 0 ] && echo "triton_old_names: 2 pairs identical"
exit $fail
