#!/usr/bin/env bash
# W3C trace context end to end: `servprof load` sends a traceparent per request, `servprof serve`
# continues it, and the analysis joins the two traces both ways: by request id as before, and by
# trace id alone (the client's ids renamed so no id text matches). Then `servprof export --otlp`:
# every line is one OTLP/JSON document whose fields have the protocol's names and types (checked here
# in Python, apart from the C writer and its C test), each server span sits under the client's span
# of the same trace, and `servprof analyze` reads the export back to the same requests, stage figures
# and batches. Usage: trace_context.sh BINARY SOURCE_DIR. Skips (77) when serve or load is compiled
# out, or python3 is missing.
set -u
BIN=$1
SRC=$2
"$BIN" serve --help >/dev/null 2>&1 || { echo "serve not available: skipped"; exit 77; }
"$BIN" load --help >/dev/null 2>&1 || { echo "load not available: skipped"; exit 77; }
command -v python3 >/dev/null || { echo "python3 missing: skipped"; exit 77; }
fail=0
TMP=$(mktemp -d)
PID=
trap '[ -n "$PID" ] && kill $PID 2>/dev/null; rm -rf "$TMP"' EXIT

"$BIN" serve --port 0 --trace "$TMP/s.sptrace" --duration 120 > "$TMP/out" 2> "$TMP/log" &
PID=$!
PORT=
for _ in $(seq 1 400); do
  PORT=$(sed -n 's/^listening on 127\.0\.0\.1:\([0-9][0-9]*\)$/\1/p' "$TMP/out")
  [ -n "$PORT" ] && break
  kill -0 $PID 2>/dev/null || break
  sleep 0.05
done
[ -n "$PORT" ] || { echo "FAILED: serve did not start"; cat "$TMP/log"; exit 1; }
"$BIN" load --url "http://127.0.0.1:$PORT/v1/embeddings" --rate 40 --duration 2 --trace "$TMP/c.jsonl" \
  > "$TMP/load.out" 2>&1 || { echo "FAILED: load"; cat "$TMP/load.out"; fail=1; }
kill -TERM $PID
wait $PID || { echo "FAILED: serve did not exit cleanly"; fail=1; }
PID=

# the client's ids renamed: only the trace ids can join them now
sed 's/"id":"c1-/"id":"renamed-/' "$TMP/c.jsonl" > "$TMP/c-renamed.jsonl"
"$BIN" analyze --json "$TMP/s.sptrace" "$TMP/c.jsonl" > "$TMP/by-id.json" || fail=1
"$BIN" analyze --json "$TMP/s.sptrace" "$TMP/c-renamed.jsonl" > "$TMP/by-trace.json" || fail=1
"$BIN" export --otlp "$TMP/o.jsonl" "$TMP/s.sptrace" "$TMP/c.jsonl" 2> "$TMP/export.err" ||
  { echo "FAILED: export"; cat "$TMP/export.err"; fail=1; }
grep -q "wrote .* requests (.* spans, .* batches) to $TMP/o.jsonl" "$TMP/export.err" ||
  { echo "FAILED: export did not say what it wrote"; cat "$TMP/export.err"; fail=1; }
grep -q "warning" "$TMP/export.err" && { echo "FAILED: export warned"; cat "$TMP/export.err"; fail=1; }
# device activity has no span in the export: said once, with the counts of the trace's own report
# (docs/otlp.md, "Export"); a trace with kernels and copies names both, one with neither says nothing
"$BIN" analyze --json "$TMP/s.sptrace" > "$TMP/s-only.json" || fail=1
nk=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["gpu"]["kernels"])' "$TMP/s-only.json")
[ "$nk" -gt 0 ] && [ "$(grep -c 'left out the device activity' "$TMP/export.err")" = 1 ] &&
  grep -q "left out the device activity, $nk kernels: OTLP spans are the requests' and batches'" "$TMP/export.err" ||
  { echo "FAILED: export did not say it left out $nk kernels"; cat "$TMP/export.err"; fail=1; }
cat > "$TMP/dev.jsonl" <<'EOF2'
{"ev":"meta","format":"servprof.events/1","clock":"monotonic","unix_offset_ns":1700000000000000000}
{"ev":"request","id":"r1","arrival_ns":1000,"done_ns":905000}
{"ev":"batch","batch":7,"requests":["r1"],"start_ns":301000,"end_ns":801000}
{"ev":"copy","batch":7,"kind":"h2d","bytes":4096,"start_ns":301000,"end_ns":321000}
{"ev":"kernel","batch":7,"name":"gemm_f32","stream":0,"start_ns":331000,"end_ns":761000}
{"ev":"copy","batch":7,"kind":"d2h","bytes":2048,"start_ns":771000,"end_ns":781000}
EOF2
"$BIN" export --otlp "$TMP/dev.otlp.jsonl" "$TMP/dev.jsonl" 2> "$TMP/dev.err" || fail=1
grep -q "left out the device activity, 1 kernel and 2 copies (memcpy, memset): " "$TMP/dev.err" ||
  { echo "FAILED: export did not say it left out 1 kernel and 2 copies"; cat "$TMP/dev.err"; fail=1; }
grep -v '"ev":"kernel"\|"ev":"copy"' "$TMP/dev.jsonl" > "$TMP/nodev.jsonl"
"$BIN" export --otlp "$TMP/nodev.otlp.jsonl" "$TMP/nodev.jsonl" 2> "$TMP/nodev.err" || fail=1
grep -q "device activity" "$TMP/nodev.err" && { echo "FAILED: device activity named without any"; cat "$TMP/nodev.err"; fail=1; }
grep -q "generation data" "$TMP/dev.err" && { echo "FAILED: generation data named without any"; cat "$TMP/dev.err"; fail=1; }
# a generation trace's token times and step phases are exported now (docs/otlp.md, "Export"), so
# nothing says they were left out; tests/cli/export_generation.sh checks that they read back
"$BIN" export --otlp "$TMP/gen.otlp.jsonl" --unix-offset 0 "$SRC/tests/data/generation/example.jsonl" 2> "$TMP/gen.err" ||
  fail=1
grep -q "generation data" "$TMP/gen.err" && { echo "FAILED: export says it left out the generation data"; cat "$TMP/gen.err"; fail=1; }
grep -q '"name":"servprof.token"' "$TMP/gen.otlp.jsonl" || { echo "FAILED: export wrote no token event"; fail=1; }
# traces with no request (an empty OTLP document): exit 0, with a warning that the output is empty
printf '{}\n' > "$TMP/none.json"
"$BIN" export --otlp "$TMP/none.jsonl" --format otlp "$TMP/none.json" 2> "$TMP/none.err" ||
  { echo "FAILED: export of no requests"; cat "$TMP/none.err"; fail=1; }
grep -q "warning: the traces hold no finished request: $TMP/none.jsonl holds no request span (it is empty)" \
  "$TMP/none.err" || { echo "FAILED: no warning for an empty export"; cat "$TMP/none.err"; fail=1; }
"$BIN" analyze --json "$TMP/s.sptrace" > "$TMP/server.json" || fail=1
"$BIN" analyze --json "$TMP/o.jsonl" > "$TMP/back.json" || fail=1
# a trace with no wall-clock anchor is refused with its name, and exported with --unix-offset
"$BIN" synth --requests 20 -o "$TMP/synth.jsonl" >/dev/null 2>&1
"$BIN" export --otlp "$TMP/x.jsonl" "$TMP/synth.jsonl" 2> "$TMP/x.err"; rc=$?
{ [ $rc -eq 1 ] && grep -q "synth.jsonl: its times are on a clock with no tie to Unix time" "$TMP/x.err" &&
  [ ! -e "$TMP/x.jsonl" ]; } || { echo "FAILED: no anchor: rc $rc"; cat "$TMP/x.err"; fail=1; }
"$BIN" export --otlp "$TMP/x.jsonl" --unix-offset 1700000000000000000 "$TMP/synth.jsonl" 2>/dev/null ||
  { echo "FAILED: --unix-offset"; fail=1; }
"$BIN" export "$TMP/synth.jsonl" >/dev/null 2>&1; [ $? -eq 2 ] || { echo "FAILED: export without --otlp is not a usage error"; fail=1; }
"$BIN" export --otlp "$TMP/x.jsonl" --unix-offset soon "$TMP/synth.jsonl" >/dev/null 2>&1
[ $? -eq 2 ] || { echo "FAILED: a bad --unix-offset is not a usage error"; fail=1; }

python3 - "$TMP" <<'EOF' || fail=1
import json, re, sys
tmp = sys.argv[1]
bad = []
def check(cond, what):
    if not cond:
        bad.append(what)

clients = {}
for line in open(f"{tmp}/c.jsonl"):
    r = json.loads(line)
    if r.get("ev") == "client":
        clients[r["id"]] = r
by_id, by_trace = json.load(open(f"{tmp}/by-id.json")), json.load(open(f"{tmp}/by-trace.json"))
n = by_id["requests"]["count"]
check(n >= 40, f"only {n} requests analysed")
tc = by_id["clock"]["trace_context"]
# every request the server answered came with the client's traceparent, and continued its span
check(tc["requests"] == by_id["outcomes"]["total"], f"trace context on {tc['requests']} of {by_id['outcomes']['total']}")
check(tc["matched"] == tc["requests"] and tc["mismatched"] == 0, f"trace context {tc}")
check(by_id["clock"]["client_records"]["by_trace_id"] == 0, "joined by trace id although the ids match")
# renamed: every one of them joins by trace id instead, to the same requests and the same figures
cr = by_trace["clock"]["client_records"]
check(cr["by_trace_id"] == tc["matched"] and cr["unjoined"] == 0, f"renamed client records: {cr}")
check(by_trace["clock"]["trace_context"]["matched"] == tc["matched"], "renamed: not the same pairs")
check(by_trace["requests"]["latency_us"] == by_id["requests"]["latency_us"], "renamed: another end-to-end")

# the export: one ExportTraceServiceRequest per line, OTLP's JSON encoding
hexid = lambda v, n: isinstance(v, str) and re.fullmatch(f"[0-9a-f]{{{2*n}}}", v) and v != "0" * (2 * n)
digits = lambda v: isinstance(v, str) and re.fullmatch(r"[0-9]+", v)
def any_value(v):
    if not isinstance(v, dict) or len(v) != 1:
        return False
    (k, x), = v.items()
    return ((k == "stringValue" and isinstance(x, str)) or (k == "boolValue" and isinstance(x, bool)) or
            (k == "doubleValue" and isinstance(x, (int, float))) or
            (k == "intValue" and isinstance(x, str) and re.fullmatch(r"-?[0-9]+", x)))
def attrs(a):
    return isinstance(a, list) and all(isinstance(kv.get("key"), str) and kv["key"] and any_value(kv.get("value")) for kv in a)
FIELDS = {"traceId", "spanId", "parentSpanId", "flags", "name", "kind", "startTimeUnixNano", "endTimeUnixNano",
          "attributes", "links", "status"}
spans = []
for ln, line in enumerate(open(f"{tmp}/o.jsonl"), 1):
    doc = json.loads(line)
    check(list(doc) == ["resourceSpans"], f"line {ln}: keys {list(doc)}")
    for rs in doc["resourceSpans"]:
        check(attrs(rs["resource"]["attributes"]), f"line {ln}: resource attributes")
        for ss in rs["scopeSpans"]:
            check(ss["scope"]["name"] == "servprof", f"line {ln}: scope")
            for s in ss["spans"]:
                spans.append(s)
                where = f"line {ln}, span {s.get('name')}"
                check(set(s) <= FIELDS, f"{where}: unknown keys {set(s) - FIELDS}")
                check(hexid(s.get("traceId"), 16) and hexid(s.get("spanId"), 8), f"{where}: ids")
                check("parentSpanId" not in s or hexid(s["parentSpanId"], 8), f"{where}: parentSpanId")
                check(isinstance(s.get("name"), str) and s["name"], f"{where}: name")
                check(s.get("kind") in (1, 2, 3, 4, 5), f"{where}: kind")
                check(isinstance(s.get("flags", 0), int) and 0 <= s.get("flags", 0) < 2**32, f"{where}: flags")
                check(digits(s.get("startTimeUnixNano")) and digits(s.get("endTimeUnixNano")), f"{where}: times")
                check(int(s["endTimeUnixNano"]) >= int(s["startTimeUnixNano"]), f"{where}: end before start")
                # a 2020s Unix time in ns, not the monotonic clock
                check(1.5e18 < int(s["startTimeUnixNano"]) < 4e18, f"{where}: {s['startTimeUnixNano']} is not Unix time")
                check(attrs(s.get("attributes")), f"{where}: attributes")
                for l in s.get("links", []):
                    check(hexid(l.get("traceId"), 16) and hexid(l.get("spanId"), 8), f"{where}: link")
                check("status" not in s or s["status"].get("code") in (0, 1, 2), f"{where}: status")
# each server span continues its client's span, in the client's trace
by_span = {(s["traceId"], s["spanId"]): s for s in spans}
servers = [s for s in spans if s["kind"] == 2]
check(len(servers) == by_id["outcomes"]["total"], f"{len(servers)} server spans")
for s in servers:
    rid = next(a["value"]["stringValue"] for a in s["attributes"] if a["key"] == "servprof.request")
    c = clients.get(rid)
    check(c is not None, f"no client record for {rid}")
    if c is None:
        continue
    check(s["traceId"] == c["trace_id"], f"{rid}: trace {s['traceId']} is not the client's {c['trace_id']}")
    check(s.get("parentSpanId") == c["span_id"], f"{rid}: parent is not the client's span")
    parent = by_span.get((s["traceId"], c["span_id"]))
    check(parent is not None and parent["kind"] == 3, f"{rid}: the client span is not in the export")
# read back: the same requests, stage figures and batches as the server trace alone
server, back = json.load(open(f"{tmp}/server.json")), json.load(open(f"{tmp}/back.json"))
check(back["requests"]["count"] == server["requests"]["count"], "read back: request count")
check(back["batches"] == server["batches"], f"read back: batches {back['batches']} != {server['batches']}")
srows = {r["name"]: r for r in server["stages"]}
for r in back["stages"]:
    if r["name"] in ("queue", "preprocess", "postprocess"):
        for k in ("p50_us", "p95_us", "p99_us", "mean_us"):
            check(r[k] == srows[r["name"]][k], f"read back: {r['name']} {k} {r[k]} != {srows[r['name']][k]}")
check(back["padding"]["effective_tokens"] == server["padding"]["effective_tokens"] and
      back["padding"]["padded_tokens"] == server["padding"]["padded_tokens"], "read back: tokens")
check(back["requests"]["latency_us"] == server["requests"]["latency_us"], "read back: end-to-end latency")
for b in bad[:20]:
    print("FAILED:", b)
sys.exit(1 if bad else 0)
EOF
[ $fail = 0 ] && echo "trace_context: OK"
exit $fail
