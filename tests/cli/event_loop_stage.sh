#!/usr/bin/env bash
# The `event_loop` and `event_loop_wait` stages (the Python middleware's measured stalls of its asyncio
# event loop, docs/python.md "Event loop stalls") are named others with fixes of their own, in the
# end-to-end verdict and in the TTFT/TPOT rankings. Traces built here, times in us:
#   D: 3 requests of 10000 each: preprocess 1000, event_loop 6000, postprocess 3000: event_loop is 60%
#      of p95, the leader (runtime), with its fix and reading; saving 6000.
#   E: the same with event_loop_wait: the off-CPU fix.
#   F: tests/data/generation/example.jsonl with event_loop spans: r1 [7500, 8000) and [10500, 11000)
#      (after its first token: TPOT), r2 [10500, 11000) (TPOT) and [2500, 3000) (over its preprocess,
#      which it wins by the later start: TTFT): the row is in both rankings with the event_loop fix.
# Usage: event_loop_stage.sh BINARY SOURCE_DIR
set -u
BIN=$1
SRC=$2
command -v python3 >/dev/null || { echo "python3 missing: skipped"; exit 77; }
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
fail=0
META='{"ev":"meta","format":"servprof.events/1","clock":"monotonic","properties":{"event_loop":"asyncio"}}'
for t in event_loop event_loop_wait; do
  {
    echo "$META"
    for i in 0 1 2; do
      b=$((i * 20000000))
      echo "{\"ev\":\"request\",\"id\":\"d$i\",\"arrival_ns\":$b,\"done_ns\":$((b + 10000000))}"
      echo "{\"ev\":\"stage\",\"id\":\"d$i\",\"stage\":\"preprocess\",\"start_ns\":$b,\"end_ns\":$((b + 1000000))}"
      echo "{\"ev\":\"stage\",\"id\":\"d$i\",\"stage\":\"$t\",\"start_ns\":$((b + 1000000)),\"end_ns\":$((b + 7000000))}"
      echo "{\"ev\":\"stage\",\"id\":\"d$i\",\"stage\":\"postprocess\",\"start_ns\":$((b + 7000000)),\"end_ns\":$((b + 10000000))}"
    done
  } > "$TMP/$t.jsonl"
  "$BIN" analyze --json "$TMP/$t.jsonl" > "$TMP/$t.json" || { echo "FAILED: analyze $t"; fail=1; }
done
{
  cat "$SRC/tests/data/generation/example.jsonl"
  echo '{"ev":"stage","id":"r1","stage":"event_loop","start_ns":7500000,"end_ns":8000000}'
  echo '{"ev":"stage","id":"r1","stage":"event_loop","start_ns":10500000,"end_ns":11000000}'
  echo '{"ev":"stage","id":"r2","stage":"event_loop","start_ns":10500000,"end_ns":11000000}'
  echo '{"ev":"stage","id":"r2","stage":"event_loop","start_ns":2500000,"end_ns":3000000}'
} > "$TMP/gen.jsonl"
"$BIN" analyze --json "$TMP/gen.jsonl" > "$TMP/gen.json" || { echo "FAILED: analyze gen"; fail=1; }
python3 - "$TMP" <<'PY' || fail=1
import json, sys
d = sys.argv[1]
r = {t: json.load(open("%s/%s.json" % (d, t))) for t in ("event_loop", "event_loop_wait", "gen")}
FIX = ("the asyncio event loop was blocked while the request waited on it: move blocking work (CPU-bound "
       "tokenisation, detokenisation, torch calls) off the loop with run_in_executor/to_thread")
WAIT = "the asyncio event loop ran late while its thread was off the CPU"
bad = []
def check(cond, what):
    if not cond:
        bad.append(what)
for t, fix, reading in (("event_loop", FIX, "waiting for a blocked asyncio event loop (event_loop, runtime"),
                        ("event_loop_wait", WAIT, "waiting for an asyncio event loop whose thread was off the CPU "
                                                  "(event_loop_wait, runtime")):
    v = r[t]["verdict"]
    check(v["stage"] == t and v["group"] == "runtime" and abs(v["share_of_p95"] - 0.6) < 1e-6, "%s: leads at 60%%: %r" % (t, v))
    check(v["ranking"][0]["stage"] == t and v["ranking"][0]["fix"].startswith(fix), "%s: its fix: %r" % (t, v["ranking"][0]))
    check(abs(v["ranking"][0]["p95_saving_us"] - 6000) < 1e-3, "%s: saving 6000 us: %r" % (t, v["ranking"][0]))
    check(v["sentence"].startswith("60% of p95 latency is " + reading), "%s: reading: %r" % (t, v["sentence"]))
    check(fix in v["sentence"], "%s: the sentence gives the fix" % t)
for w in ("ttft", "tpot"):
    rk = r["gen"]["generation"][w]["verdict"]["ranking"]
    rows = [c for c in rk if c["stage"] == "event_loop"]
    check(len(rows) == 1 and rows[0]["fix"] == FIX and rows[0]["group"] == "runtime", "gen %s: %r" % (w, rows))
for b in bad:
    print("FAILED:", b)
sys.exit(1 if bad else 0)
PY
[ $fail = 0 ] && echo "event_loop_stage: ok"
exit $fail
