#!/usr/bin/env bash
# The `event_loop` property (servprof.asgi / servprof.aiohttp write `asyncio`): a blocked event loop
# delays reading requests (the client's `network`) and handing out tokens (`other`), so the fixes of
# those rows name it, in the end-to-end verdict and in the TTFT/TPOT rankings; without the property
# they read as before. Traces built here, times in us:
#   A: 3 requests, each received 1000 after its client sent it and answered 1000 before the client had
#      it (arrival 1000..2000 on the server: 100 preprocess, 900 postprocess): network is 2000 of 3000
#      per request, 67% of p95, the leader; with the property its fix looks for a blocked loop first.
#   B: 2 requests of 10000 each with a 1000 preprocess only: other 90%, the leader: "Instrumentation is
#      missing", and with the property the sentence says what such time often is in an asyncio server.
#   C: tests/data/generation/example.jsonl: `other` is in both generation rankings (share 0), its fix
#      names the loop with the property.
#   D: the same trace with its `stream` spans named `detokenize` (r1's three 500 us stream spans after
#      its steps): detokenize is in both generation rankings and the end-to-end one; with the property
#      its fix also says not to block the event loop with it, without it the fix is as before.
# Usage: event_loop_fix.sh BINARY SOURCE_DIR
set -u
BIN=$1
SRC=$2
command -v python3 >/dev/null || { echo "python3 missing: skipped"; exit 77; }
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
fail=0
LOOP='{"ev":"meta","properties":{"event_loop":"asyncio"}}'
META='{"ev":"meta","format":"servprof.events/1","clock":"monotonic"}'
{
  echo "$META"
  for i in 0 1 2; do
    b=$((i * 10000000))
    echo "{\"ev\":\"request\",\"id\":\"a$i\",\"arrival_ns\":$((b + 1000000)),\"done_ns\":$((b + 2000000))}"
    echo "{\"ev\":\"stage\",\"id\":\"a$i\",\"stage\":\"preprocess\",\"start_ns\":$((b + 1000000)),\"end_ns\":$((b + 1100000))}"
    echo "{\"ev\":\"stage\",\"id\":\"a$i\",\"stage\":\"postprocess\",\"start_ns\":$((b + 1100000)),\"end_ns\":$((b + 2000000))}"
  done
} > "$TMP/a.jsonl"
{
  echo "$META"
  for i in 0 1 2; do
    b=$((i * 10000000))
    echo "{\"ev\":\"client\",\"id\":\"a$i\",\"intended_ns\":$b,\"send_ns\":$b,\"done_ns\":$((b + 3000000)),\"status\":200}"
  done
} > "$TMP/a_client.jsonl"
{ cat "$TMP/a.jsonl"; echo "$LOOP"; } > "$TMP/a_loop.jsonl"
{
  echo "$META"
  for i in 0 1; do
    b=$((i * 20000000))
    echo "{\"ev\":\"request\",\"id\":\"b$i\",\"arrival_ns\":$b,\"done_ns\":$((b + 10000000))}"
    echo "{\"ev\":\"stage\",\"id\":\"b$i\",\"stage\":\"preprocess\",\"start_ns\":$b,\"end_ns\":$((b + 1000000))}"
  done
} > "$TMP/b.jsonl"
{ cat "$TMP/b.jsonl"; echo "$LOOP"; } > "$TMP/b_loop.jsonl"
cp "$SRC/tests/data/generation/example.jsonl" "$TMP/c.jsonl"
{ cat "$TMP/c.jsonl"; echo "$LOOP"; } > "$TMP/c_loop.jsonl"
sed 's/"stage":"stream"/"stage":"detokenize"/' "$TMP/c.jsonl" > "$TMP/d.jsonl"
{ cat "$TMP/d.jsonl"; echo "$LOOP"; } > "$TMP/d_loop.jsonl"

for t in a a_loop; do
  "$BIN" analyze --json "$TMP/$t.jsonl" "$TMP/a_client.jsonl" > "$TMP/$t.json" || { echo "FAILED: analyze $t"; fail=1; }
done
for t in b b_loop c c_loop d d_loop; do
  "$BIN" analyze --json "$TMP/$t.jsonl" > "$TMP/$t.json" || { echo "FAILED: analyze $t"; fail=1; }
done
python3 - "$TMP" <<'PY' || fail=1
import json, sys
d = sys.argv[1]
r = {t: json.load(open("%s/%s.json" % (d, t))) for t in ("a", "a_loop", "b", "b_loop", "c", "c_loop", "d", "d_loop")}
LOOP = "blocked event loop"
bad = []
def check(cond, what):
    if not cond:
        bad.append(what)
def fix(ranking, stage):
    return [c["fix"] for c in ranking if c["stage"] == stage][0]
# A: network leads (2000 of 3000 us per request)
for t in ("a", "a_loop"):
    v = r[t]["verdict"]
    check(v["stage"] == "network" and abs(v["share_of_p95"] - 2 / 3) < 0.01, "%s: network leads at 67%%: %r" % (t, v))
check(LOOP in r["a_loop"]["verdict"]["sentence"] and "TCP_NODELAY" in r["a_loop"]["verdict"]["sentence"],
      "a_loop: the sentence names the loop and TCP_NODELAY")
check(LOOP in fix(r["a_loop"]["verdict"]["ranking"], "network"), "a_loop: network's fix names the loop")
check(LOOP not in r["a"]["verdict"]["sentence"], "a: no property, no loop")
check(LOOP in fix(r["a_loop"]["verdict"]["ranking"], "other"), "a_loop: other's fix names the loop")
# B: other leads (9000 of 10000 us)
for t in ("b", "b_loop"):
    v = r[t]["verdict"]
    check(v["stage"] == "other" and v["sentence"].startswith("Instrumentation is missing: 90%"), "%s: %r" % (t, v))
check("asyncio server" in r["b_loop"]["verdict"]["sentence"], "b_loop: the sentence says what it often is")
check("asyncio" not in r["b"]["verdict"]["sentence"], "b: no property, no loop")
# C: generation rankings
for w in ("ttft", "tpot"):
    check(LOOP in fix(r["c_loop"]["generation"][w]["verdict"]["ranking"], "other"), "c_loop %s: other's fix" % w)
    check(LOOP not in fix(r["c"]["generation"][w]["verdict"]["ranking"], "other"), "c %s: other's fix unchanged" % w)
    check(r["c"]["generation"][w]["verdict"]["sentence"] == r["c_loop"]["generation"][w]["verdict"]["sentence"],
          "c %s: the sentence (leader not network/other) is the same" % w)
# D: detokenize, in the generation rankings and the end-to-end one
OFF_LOOP = "not as a blocking call on the asyncio event loop"
for name, rk in (("ttft", lambda t: r[t]["generation"]["ttft"]["verdict"]["ranking"]),
                 ("tpot", lambda t: r[t]["generation"]["tpot"]["verdict"]["ranking"]),
                 ("end-to-end", lambda t: r[t]["verdict"]["ranking"])):
    fixes = {t: [c["fix"] for c in rk(t) if c["stage"] == "detokenize"] for t in ("d", "d_loop")}
    check(fixes["d"] == ["detokenise incrementally, off the step loop"], "d %s: detokenize's fix: %r" % (name, fixes["d"]))
    check(len(fixes["d_loop"]) == 1 and fixes["d_loop"][0].startswith("detokenise incrementally, off the step loop")
          and OFF_LOOP in fixes["d_loop"][0], "d_loop %s: detokenize's fix names the loop: %r" % (name, fixes["d_loop"]))
for b in bad:
    print("FAILED:", b)
sys.exit(1 if bad else 0)
PY
[ $fail = 0 ] && echo "event_loop_fix: ok"
exit $fail
