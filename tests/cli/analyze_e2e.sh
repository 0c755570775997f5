#!/usr/bin/env bash
# End to end: synth | analyze as text, JSON (checked with python3) and Perfetto; two files at once;
# --output; a malformed line named by file and line; --lenient. Needs the JSONL importer and the
# analyzer: skips (77) only while `servprof analyze` itself says they are not built.
# Run as: bash analyze_e2e.sh BINARY SOURCE_DIR
set -u
bin=$1
fail=0
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
bad() { echo "FAIL: $*" >&2; fail=1; }

"$bin" synth --requests 400 --seed 3 --gpu -o "$tmp/a.jsonl" || { echo "FAIL: synth" >&2; exit 1; }
"$bin" synth --requests 200 --seed 4 -o "$tmp/b.jsonl" || { echo "FAIL: synth" >&2; exit 1; }
"$bin" analyze --no-progress "$tmp/a.jsonl" > "$tmp/report.txt" 2> "$tmp/err.txt"; rc=$?
if [ $rc -ne 0 ] && grep -Eq "not yet supported|not built yet" "$tmp/err.txt"; then
  echo "skipped: $(cat "$tmp/err.txt")"
  exit 77
fi
[ $rc -eq 0 ] || { echo "FAIL: analyze exited $rc: $(cat "$tmp/err.txt")" >&2; exit 1; }
t=$(cat "$tmp/report.txt")
for s in "servprof report: 1 file, 400 requests" "stage" "% of p95" "queue" "preprocess" "kernel" \
         "postprocess" "padding:" "first order: kernel time x waste" "cost:" "gpu:" "data quality:" \
         "price \$4.00/h"; do
  grep -qF -- "$s" <<<"$t" || bad "text report lacks '$s'"
done
grep -q '^verdict: ' <<<"$t" || bad "no verdict line"
# the verdict is last; its what-if prediction line (DESIGN section 8) belongs to it
awk '/^verdict: /{v=1; next} v && /^[a-z]/ && !/^what-if: /{exit 1}' <<<"$t" || bad "a section follows the verdict"
[ "$(awk 'length($0) > 100' <<<"$t")" = "" ] || bad "text report wider than 100 columns"

# price from the command line wins over the trace's
"$bin" analyze --no-progress --price-per-hour 2.5 "$tmp/a.jsonl" | grep -qF 'price $2.50/h' || bad "--price-per-hour"

# JSON, to a file with --output
"$bin" analyze --no-progress --json -o "$tmp/report.json" "$tmp/a.jsonl" || bad "analyze --json -o"
if command -v python3 >/dev/null; then
python3 - "$tmp/report.json" <<'PY' || fail=1
import json, math, sys
def no_nan(x):
    raise ValueError("non-standard number " + x)
r = json.load(open(sys.argv[1]), parse_constant=no_nan)
assert r["schema"] == "servprof.report/1"
assert r["requests"]["count"] == 400
for k in ("p50", "p95", "p99", "mean"):
    assert isinstance(r["requests"]["latency_us"][k], (int, float))
names = [s["name"] for s in r["stages"]]
for k in ("queue", "preprocess", "kernel", "postprocess"):
    assert k in names, k
for s in r["stages"]:
    for k in ("p50_us", "p95_us", "p99_us", "mean_us", "share_of_p50", "share_of_p95", "share_of_p99"):
        assert k in s, k
for q in ("share_of_p50", "share_of_p95", "share_of_p99"):
    assert abs(sum(s[q] for s in r["stages"]) - 1) < 1e-6, q + " does not sum to 1"
p = r["padding"]
assert p["padded_tokens"] >= p["effective_tokens"] > 0
assert abs(p["waste_fraction"] - (1 - p["effective_tokens"] / p["padded_tokens"])) < 1e-6
g = r["gpu"]
for k in ("span_us", "busy_us", "idle_us", "kernels", "compute_us", "non_compute_us", "idle_breakdown"):
    assert k in g, k
assert g["kernels"] > 0 and abs(g["span_us"] - g["busy_us"] - g["idle_us"]) < 0.002
c = r["cost"]
assert c["price_per_hour"] == 4.0 and c["per_request"] > 0 and len(c["by_state"]) == 5
v = r["verdict"]
for k in ("stage", "group", "share_of_p95", "sentence", "ranking"):
    assert k in v, k
rk = v["ranking"]
assert len(rk) == len(r["stages"]) + 1, "every candidate ranked (kernel split in two)"
assert rk[0]["stage"] == v["stage"] and rk[0]["group"] == v["group"], "the leader is the verdict"
assert all(a["share_of_p95"] >= b["share_of_p95"] for a, b in zip(rk, rk[1:])), "descending"
for c in rk:
    assert set(c) == {"stage", "group", "share_of_p95", "p95_saving_us", "fix"}, c
print("JSON report ok")
PY
fi

# Perfetto
"$bin" analyze --no-progress --perfetto "$tmp/trace.json" "$tmp/a.jsonl" > /dev/null || bad "--perfetto"
if command -v python3 >/dev/null; then
python3 - "$tmp/trace.json" <<'PY' || fail=1
import json, sys
t = json.load(open(sys.argv[1]))
ev = t["traceEvents"]
x = [e for e in ev if e["ph"] == "X"]
cats = {e.get("cat") for e in x}
for c in ("request", "stage", "batch", "kernel", "copy"):
    assert c in cats, c
assert sum(1 for e in x if e["cat"] == "request") == 400
named = {(e["pid"]) for e in ev if e["ph"] == "M" and e["name"] == "process_name"}
assert all(e["pid"] in named for e in x), "slice on an unnamed process"
print("Perfetto trace ok:", len(x), "slices")
PY
fi

# two files: replicas, ids kept apart (both traces use r1..rN)
"$bin" analyze --no-progress "$tmp/a.jsonl" "$tmp/b.jsonl" | grep -qF "2 files, 600 requests" || bad "two files"

# a malformed line is named by file and line; --lenient skips and counts it
{ head -3 "$tmp/b.jsonl"; echo '{"ev":"request","id":'; tail -n +4 "$tmp/b.jsonl"; } > "$tmp/bad.jsonl"
err=$("$bin" analyze --no-progress "$tmp/bad.jsonl" 2>&1 >/dev/null); rc=$?
[ $rc -eq 1 ] || bad "malformed line: exit $rc"
grep -qF "bad.jsonl:4" <<<"$err" || bad "malformed line not named as bad.jsonl:4: $err"
"$bin" analyze --no-progress --lenient "$tmp/bad.jsonl" > "$tmp/lenient.txt" || bad "--lenient exit $?"
# the data quality line may wrap: join lines before matching
tr -s '\n ' '  ' < "$tmp/lenient.txt" | grep -Eq "[1-9][0-9]* malformed or unresolved records? skipped" \
  || bad "--lenient count"
exit $fail
