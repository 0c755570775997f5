#!/usr/bin/env bash
# `servprof analyze` of a load generator's trace alone (the client's records, no server trace) says
# what to load with it: before, the verdict was only "No requests and no device activity in the
# trace: nothing to analyse." and every record counted "with no matching request", which tells a new
# user nothing about the server trace the client records join. Checks, on the generation client
# trace of tests/data/cold (streamed: TTFT, TPOT and ITL named) and on a one-record plain client
# trace written here (no token fields: latency only, singular wording), in the text and the JSON;
# and that the same client trace merged with its server trace has no such sentence.
# Usage: client_only.sh BINARY SOURCE_DIR.
set -u
BIN=$1
SRC=$2
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
fail=0
check() { if ! eval "$1"; then echo "FAILED: $1"; fail=1; fi; }
n=$(grep -c '"ev":"client"' "$SRC/tests/data/cold/client.jsonl")

"$BIN" analyze --no-progress "$SRC/tests/data/cold/client.jsonl" >"$TMP/t" 2>"$TMP/e"
check "[ $? -eq 0 ]"
tr '\n' ' ' <"$TMP/t" | tr -s ' ' >"$TMP/t1"
check "grep -q 'nothing to analyse. Its $n client records (a load generator.s, e.g. servprof load --trace) measure the client.s side only: load the server.s trace with them (servprof analyze SERVER_TRACE CLIENT_TRACE); the load generator.s own summary gives the client.s latency, TTFT, TPOT and ITL.' '$TMP/t1'"

printf '%s\n' '{"ev":"client","id":"x1","intended_ns":100,"send_ns":110,"done_ns":5000,"status":200}' >"$TMP/c.jsonl"
"$BIN" analyze --json --no-progress "$TMP/c.jsonl" >"$TMP/j" 2>/dev/null
check "[ $? -eq 0 ]"
check "python3 -c 'import json,sys; v=json.load(open(sys.argv[1]))[\"verdict\"][\"sentence\"]; assert v.endswith(\"Its 1 client record (a load generator\\x27s, e.g. servprof load --trace) measures the client\\x27s side only: load the server\\x27s trace with it (servprof analyze SERVER_TRACE CLIENT_TRACE); the load generator\\x27s own summary gives the client\\x27s latency.\"), v' '$TMP/j'"

# merged with its server trace: a normal report, no such sentence
"$BIN" analyze --no-progress "$SRC/tests/data/cold/server.jsonl" "$SRC/tests/data/cold/client.jsonl" >"$TMP/m" 2>/dev/null
check "[ $? -eq 0 ]"
check "! grep -q 'SERVER_TRACE CLIENT_TRACE' '$TMP/m'"
# no client records at all: the short sentence as before
printf '%s\n' '{"ev":"meta","version":1}' >"$TMP/empty.jsonl"
"$BIN" analyze --no-progress "$TMP/empty.jsonl" >"$TMP/x" 2>/dev/null
check "grep -q '^verdict: No requests and no device activity in the trace: nothing to analyse.$' '$TMP/x'"
exit $fail
