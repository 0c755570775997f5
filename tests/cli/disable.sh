#!/usr/bin/env bash
# SERVPROF_DISABLE compiles recording out: examples/record_minimal.c built with it
# (build/examples/record_minimal_disabled) references no servprof symbol, does not link libservprof
# and writes no trace, while the same source built normally records 200 requests (its loop constants).
# Usage: disable.sh SERVPROF_BIN SOURCE_DIR
set -u
bin=$1
ex=$(dirname "$bin")/examples
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail=0
[ -x "$ex/record_minimal_disabled" ] || { echo "FAIL: $ex/record_minimal_disabled not built"; exit 1; }
syms=$(nm -u "$ex/record_minimal_disabled" | grep -E ' sp_' || true)
[ -z "$syms" ] || { echo "FAIL: the disabled build references servprof symbols: $syms"; fail=1; }
ldd "$ex/record_minimal_disabled" | grep -q libservprof && { echo "FAIL: the disabled build links libservprof"; fail=1; }
"$ex/record_minimal_disabled" "$tmp/off.sptrace" >/dev/null || { echo "FAIL: the disabled build did not run"; fail=1; }
[ -e "$tmp/off.sptrace" ] && { echo "FAIL: the disabled build wrote a trace"; fail=1; }
# the normal build of the same source does record (so the macros are what makes the difference)
nm -u "$ex/record_minimal" | grep -q ' sp_record_stage' || { echo "FAIL: the normal build does not call sp_record_stage"; fail=1; }
"$ex/record_minimal" "$tmp/on.sptrace" >/dev/null || { echo "FAIL: the normal build did not run"; fail=1; }
n=$("$bin" analyze --json "$tmp/on.sptrace" | python3 -c 'import json,sys; print(json.load(sys.stdin)["requests"]["count"])')
[ "$n" = 200 ] || { echo "FAIL: the normal build recorded $n requests, expected 200"; fail=1; }
[ $fail = 0 ] && echo "disable: OK"
exit $fail
