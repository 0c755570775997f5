#!/usr/bin/env bash
# The TTFT and TPOT verdicts of a generation trace with steps and no device activity
# (tests/data/generation/no_device.jsonl: tests/data/generation/example.jsonl without its kernel and copy
# lines, as a span-only export or a hand-written trace has them; docs/generation.md, "Verdicts"): every
# step window is gap by DESIGN 3, but nothing shows the device idle, so no verdict advises on launches
# (CUDA graphs, "launch-bound", syncs) or clears the model; the gap rows read "time inside ... steps with
# no device activity recorded" with the recording fix, and the text, JSON and HTML reports and
# `servprof diff` (which quotes the end-to-end verdict) say the same. Figures of the example's TPOT by
# hand: r1's decode steps 8..10 ms and 11..12 ms, tokens at 10.5 and 12.5 ms: TPOT (12.5 - 7.5) / 2 =
# 2.5 ms, of which the steps (gap) 3 ms / 2 = 1.5 ms (60%); r2's TPOT is 12.5 - 10.5 = 2 ms, 1 ms of it
# gap (50%); p95 of two is the larger, r1's, whose ranks make the share window: 1.5 + 1 over 2.5 + 2 =
# 55.6% decode gap. Run as: bash gen_no_device.sh BINARY SOURCE_DIR
set -u
bin=$1
src=$2
fail=0
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
py=/usr/bin/python3
[ -x "$py" ] || py=$(command -v python3) || { echo "python3 not found: skipped" >&2; exit 77; }
trace="$src/tests/data/generation/no_device.jsonl"
"$bin" analyze --no-progress "$trace" > "$tmp/t.txt" || { echo "FAIL: analyze exited $?" >&2; exit 1; }
"$bin" analyze --no-progress --json "$trace" > "$tmp/t.json" || { echo "FAIL: analyze --json exited $?" >&2; exit 1; }
"$bin" analyze --no-progress --html "$tmp/t.html" "$trace" > /dev/null || { echo "FAIL: analyze --html" >&2; exit 1; }
"$bin" diff --json "$trace" "$trace" > "$tmp/d.json" 2> "$tmp/d.err" || { echo "FAIL: diff exited $?" >&2; fail=1; }
"$bin" diff --html "$tmp/d.html" "$trace" "$trace" > "$tmp/d.txt" 2>> "$tmp/d.err" || { echo "FAIL: diff" >&2; fail=1; }
"$py" - "$tmp" <<'PY' || fail=1
import html, json, re, sys
tmp = sys.argv[1]
rep = json.load(open(tmp + "/t.json"))
txt = open(tmp + "/t.txt").read()
page = html.unescape(open(tmp + "/t.html").read())
bad = 0
def expect(cond, msg):
    global bad
    if not cond:
        print("FAIL: " + msg, file=sys.stderr)
        bad = 1
def text_sentence(head):
    lines = txt.splitlines()
    i = next(k for k, l in enumerate(lines) if l.startswith(head))
    out = [lines[i][len(head):]]
    for l in lines[i + 1:]:
        if not l.startswith("         ") or l.strip().startswith("candidate "):
            break
        out.append(l.strip())
    return " ".join(out)
expect(rep["gpu"]["kernels"] == 0, "the fixture has kernels")
gen = rep["generation"]
expect(gen["steps"]["count"] == 3, "steps %r, not 3" % gen["steps"].get("count"))
for key, head in (("ttft", "TTFT verdict: "), ("tpot", "TPOT verdict: ")):
    v = gen[key]["verdict"]
    s = v["sentence"]
    for word in ("CUDA graphs", "launch-bound", "synchronisations", "The model is not the bottleneck",
                 "device gap inside"):
        expect(word not in s, "%s verdict says %r: %s" % (key, word, s))
    # every gap candidate is the steps' whole time, to record before acting on
    for r in v["ranking"]:
        if r["stage"].endswith(" gap"):
            expect(r["fix"].startswith("record the device's kernels (CUPTI, the PyTorch profiler) before acting "
                                       "on it: the trace has none, so this is the steps' whole time"),
                   "%s %s fix: %s" % (key, r["stage"], r["fix"]))
    # the same sentence in the text and the HTML reports
    expect(text_sentence(head) == s, "%s: the text report's sentence is not the JSON's:\n %s\n %s" %
           (key, text_sentence(head), s))
    expect(s in page, "%s: the HTML report lacks the sentence" % key)
tp = gen["tpot"]["verdict"]
expect(tp["stage"] == "decode gap" and abs(tp["share_of_p95"] - 2.5 / 4.5) < 1e-6,
       "TPOT leader %s %.6f, not decode gap 55.6%%" % (tp["stage"], tp["share_of_p95"]))
expect(tp["sentence"].startswith("56% of p95 TPOT is time inside decode steps with no device activity recorded "
                                 "(decode gap, runtime): record the device's kernels"), "TPOT: " + tp["sentence"])
tt = gen["ttft"]["verdict"]
# the TTFT's model clause names the table's own gap row
m = re.search(r"The model's compute is not measured \(the trace records no device compute\), so its time cannot be "
              r"told apart from the steps \(([^)]*)\) that hold it\.", tt["sentence"])
expect(m is not None, "TTFT: no 'not measured' clause: " + tt["sentence"])
if m:
    rows = {r["name"] for r in gen["ttft"]["rows"]}
    expect(all(x in rows for x in m.group(1).split(", ")), "TTFT clause names %s, rows %s" % (m.group(1), rows))
# diff quotes the end-to-end verdict, analyze's word for word, on both sides
d = json.load(open(tmp + "/d.json"))
e2e = rep["verdict"]["sentence"]
expect("no device activity recorded" in e2e, "end-to-end: " + e2e)
dtext = json.dumps(d)
expect(dtext.count(json.dumps(e2e)[1:-1]) >= 2, "diff --json does not quote analyze's verdict on both sides")
dpage = html.unescape(open(tmp + "/d.html").read())
expect(e2e in dpage, "diff --html lacks analyze's verdict")
sys.exit(bad)
PY
[ $fail -eq 0 ] && echo "gen_no_device: ok"
exit $fail
