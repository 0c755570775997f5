#!/usr/bin/env bash
# `servprof demo --generate` names the limit that refuses its requests (before: always the context).
# The service answers 400 to a request that can never run (docs/serve.md, "Scheduler"): a prompt and
# max_tokens over the context (--max-len), or a KV reservation (prompt + max_tokens - 1) over
# --kv-capacity-tokens. With --kv-capacity-tokens below the context, the cache is what refuses, so:
#   1. means whose reservation exceeds the cache are a usage error (exit 2) naming --kv-capacity-tokens,
#      as means over the context already were;
#   2. a run whose drawn lengths (seeded) partly exceed the cache warns naming --kv-capacity-tokens and
#      not --max-len (before the fix: "over the context (--max-len 512)", which raising cannot cure),
#      and its count of refused requests is the report's error outcomes (HTTP 400);
#   3. a run without --kv-capacity-tokens still names the context.
# No timing is asserted. Usage: demo_generate_limits.sh BINARY SOURCE_DIR. Skips (77) without the
# service or the load generator, or without python3.
set -u
BIN=$1
"$BIN" --help 2>/dev/null | grep -q '^  serve ' && "$BIN" --help 2>/dev/null | grep -q '^  load ' ||
  { echo "serve/load not built: skipped"; exit 77; }
command -v python3 >/dev/null || { echo "python3 missing: skipped"; exit 77; }
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
fail=0
check() { if ! eval "$1"; then echo "FAILED: $1"; fail=1; fi; }

# 1. means over the cache: usage error naming it (reservation 32 + 32 - 1 = 63 > 8)
"$BIN" demo --generate --kv-capacity-tokens 8 --no-progress >/dev/null 2>"$TMP/e1"
check "[ $? -eq 2 ]"
check "grep -q -- 'need a KV reservation of 63 tokens (prompt + max_tokens - 1), over --kv-capacity-tokens 8' '$TMP/e1'"
# means that fit are accepted (16 + 16 - 1 = 31 <= 40): no usage error (checked by the run below)

# 2. a run whose log-normal draws exceed a 40-token cache in part: the warning names the cache
"$BIN" demo --generate --kv-capacity-tokens 40 --prompt-mean 16 --output-mean 16 --duration 1 --rate 30 \
  --no-progress --json >"$TMP/r2.json" 2>"$TMP/e2"
check "[ $? -eq 0 ]"
check "grep -q 'requests got an error status, most likely 400 for a KV reservation (prompt + max_tokens - 1) over the cache (--kv-capacity-tokens 40)' '$TMP/e2'"
check "! grep -q 'got an error status.*--max-len' '$TMP/e2'"
# the warning's count is the load line's "other status" and the report's error outcomes, all 400
warned=$(sed -n 's/.*warning: \([0-9]*\) of [0-9]* requests got an error status.*/\1/p' "$TMP/e2")
other=$(sed -n 's/^load: .* \([0-9]*\) other status,.*/\1/p' "$TMP/e2")
check "[ -n '$warned' ] && [ '$warned' -gt 0 ] && [ '$warned' = '$other' ]"
check "python3 -c 'import json,sys; o=json.load(open(sys.argv[1]))[\"outcomes\"]; assert o[\"by_outcome\"][\"error\"][\"count\"] == int(sys.argv[2]), o; assert o[\"statuses\"] == [{\"status\": 400, \"count\": int(sys.argv[2])}], o[\"statuses\"]' '$TMP/r2.json' '$warned'"
# the verdict says so (docs/analysis.md section 6, "Errors"): from 1% of all requests, how many failed
# and that the latency describes only the served ones; before, it read as if the service were healthy
check "python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); n=int(sys.argv[2]); t=r[\"outcomes\"][\"total\"]; s=r[\"verdict\"][\"sentence\"]; assert n < 0.01 * t or (\"(%d of %d) ended in an error, so this latency describes only the served requests; fix the failures first\" % (n, t)) in s, s' '$TMP/r2.json' '$warned'"

# 3. without --kv-capacity-tokens the context refuses: a short context with long draws names --max-len
"$BIN" demo --generate --max-len 40 --prompt-mean 16 --output-mean 16 --duration 1 --rate 30 \
  --no-progress >/dev/null 2>"$TMP/e3"
check "[ $? -eq 0 ]"
check "grep -q 'most likely 400 for a prompt and max_tokens over the context (--max-len 40)' '$TMP/e3'"

exit $fail
