#!/usr/bin/env bash
# The minimal instrumented loop (examples/record_minimal.c, linked to libservprof.so) writes a trace
# that `servprof analyze` reads: 200 requests in 50 batches of 4, every stage present, nothing
# unattributed and no drops. The counts come from the example's loop constants.
set -u
BIN=$1
ex=$(dirname "$BIN")/examples/record_minimal
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
fail=0
t() { "$@" || { echo "FAIL: $*"; fail=1; }; }
t "$ex" "$tmp/t.sptrace" >/dev/null
"$BIN" analyze --json "$tmp/t.sptrace" >"$tmp/r.json"
t test $? -eq 0
t python3 - "$tmp/r.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
assert r["requests"]["count"] == 200, r["requests"]
st = {s["name"]: s for s in r["stages"]}
for name in ("queue", "preprocess", "kernel", "postprocess"):
    assert st[name]["mean_us"] > 0, name
assert st["other"]["share_of_p95"] < 0.01, st["other"]
assert r["padding"]["effective_tokens"] == 50 * 40 and r["padding"]["padded_tokens"] == 50 * 64
assert r["gpu"]["kernels"] == 50
PY
exit $fail
