#!/usr/bin/env bash
# Every figure and claim of the verdict sentence agrees with the table above it, over many varied
# traces (DESIGN section 8, docs/analysis.md section 6): verdict_crosscheck.py derives the candidates,
# their ranking, the level clause, the listed candidates, the model clause, the kernel leader's reasons,
# the saturated queue's detail and fix, the queue past the window's, and the rejection clause again from each JSON report's stage rows,
# padding, cost and outcomes, and checks that the text report's sentence is the JSON's word for word
# and its candidate table the JSON ranking from 5% of p95 up.
# The traces: servprof synth with its knobs varied over a fixed list (rates from idle to past
# saturation, batch windows, padding multiples, max batch, --gpu or not, seeds), continuously batching
# traces from verdict_crosscheck_gen.py (generation steps, one or two devices, --max-num-seqs from 1,
# named and missing stage spans, rejections), its close cases (--close: identical requests whose
# shares sit 0.1 to 0.6 points either side of a cut-off: the level band, the list cut, the model
# margin and thresholds, a percent at .5), some of those traces without their device records (--no-device:
# steps and no kernel, whose TTFT and TPOT verdicts must not read the steps as launch gaps), and the
# traces in tests/data. Then the checker must fail
# on doctored reports (a figure, a share, the saturated fix, the queue past the window's fix, the text
# sentence or table changed), so a checker
# that cannot fail does not pass. Under the sanitizer tree (SP_SANITIZED=1) fewer traces are run.
# Run as: bash verdict_crosscheck.sh BINARY SOURCE_DIR
set -u
bin=$1
src=$2
py=/usr/bin/python3
[ -x "$py" ] || py=$(command -v python3) || { echo "python3 not found: skipped" >&2; exit 77; }
chk="$src/tests/cli/verdict_crosscheck.py"
gen="$src/tests/cli/verdict_crosscheck_gen.py"
fail=0
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# report: NAME FILE... -> $tmp/NAME.json and $tmp/NAME.txt
report() {
  local name=$1
  shift
  ln -sf "$(readlink -f "$1")" "$tmp/$name.trace" # its policy.max_batch, for the full-batch rule
  "$bin" analyze --no-progress --json "$@" > "$tmp/$name.json" 2> "$tmp/$name.err" &&
    "$bin" analyze --no-progress "$@" > "$tmp/$name.txt" 2>> "$tmp/$name.err" ||
    { echo "FAIL: analyze $*: $(head -3 "$tmp/$name.err")" >&2; fail=1; rm -f "$tmp/$name.json" "$tmp/$name.txt"; }
}

n_synth=60
gen_seeds=$(seq 1 60)
close_seeds=$(seq 1 60)
nodev_seeds=$(seq 1 20)
if [ -n "${SP_SANITIZED:-}" ]; then
  n_synth=6
  gen_seeds="1 2 3 28 29 34" # 28, 29, 34: saturated queues (for the saturated-fix doctor below)
  close_seeds="1 2 3 46"     # 46: useful kernel 49.x% level with the queue
  nodev_seeds="1 2 3"
fi
# synth's knobs, each list of a length prime to the others' so that the combinations vary
rates=(150 500 900 1300 1700 2100 2800)
windows=(0.3 1 4 8 2)
pads=(1 64 16)
batches=(16 4)
for ((i = 0; i < n_synth; i++)); do
  gpu=--gpu
  [ $((i % 3)) -eq 2 ] && gpu=
  "$bin" synth --requests 300 --seed $((i + 1)) $gpu --rate ${rates[i % 7]} --batch-window-ms ${windows[i % 5]} \
    --pad-to ${pads[i % 3]} --max-batch ${batches[i % 2]} > "$tmp/s$i.jsonl" ||
    { echo "FAIL: synth $i" >&2; fail=1; continue; }
  report "s$i" "$tmp/s$i.jsonl"
done
for i in $gen_seeds; do
  "$py" "$gen" $i > "$tmp/g$i.jsonl" || { echo "FAIL: verdict_crosscheck_gen.py $i" >&2; fail=1; continue; }
  report "g$i" "$tmp/g$i.jsonl"
done
for i in $close_seeds; do
  "$py" "$gen" --close $i > "$tmp/c$i.jsonl" ||
    { echo "FAIL: verdict_crosscheck_gen.py --close $i" >&2; fail=1; continue; }
  report "c$i" "$tmp/c$i.jsonl"
done
for i in $nodev_seeds; do
  "$py" "$gen" --no-device $i > "$tmp/n$i.jsonl" ||
    { echo "FAIL: verdict_crosscheck_gen.py --no-device $i" >&2; fail=1; continue; }
  report "n$i" "$tmp/n$i.jsonl"
done
d="$src/tests/data"
for f in "$d"/synth/*.jsonl "$d"/generation/*.jsonl "$d"/otlp/*.json* "$d"/triton/*.json "$d"/kineto/*.json* \
  "$d"/kineto-more/*.json*; do
  name=data_$(basename "$(dirname "$f")")_$(basename "$f" | tr -c 'A-Za-z0-9_\n' _)
  report "$name" "$f"
done
report data_cold "$d/cold/server.jsonl" "$d/cold/client.jsonl"
# a queue past the window (docs/analysis.md, "Queue past the window"; queue_past_window.sh works it by
# hand): 4 batches of 2 (max batch 4), window 1 ms, queue waits 1, 30, 30, 30 ms; and with event_loop
for loop in 0 1; do
  "$py" - $loop > "$tmp/past$loop.jsonl" <<'PY'
import json, sys
props = {"policy.max_batch": "4", "policy.max_queue_delay_ns": "1000000", "policy.pad": "longest",
         "policy.workers": "1"}
if sys.argv[1] == "1":
    props["event_loop"] = "asyncio"
print(json.dumps({"ev": "meta", "format": "servprof.events/1", "clock": "monotonic", "properties": props}))
for k, w in enumerate((1, 30, 30, 30)):
    t0 = k * 40000000
    s = t0 + w * 1000000
    e = s + 5000000
    ids = ["r%d" % (2 * k + 1), "r%d" % (2 * k + 2)]
    print(json.dumps({"ev": "batch", "batch": k + 1, "requests": ids, "start_ns": s, "end_ns": e,
                      "effective_tokens": 8, "padded_tokens": 8}))
    print(json.dumps({"ev": "kernel", "batch": k + 1, "name": "encoder", "stream": 0, "start_ns": s, "end_ns": e}))
    for r in ids:
        print(json.dumps({"ev": "request", "id": r, "arrival_ns": t0, "done_ns": e + 100000, "input_tokens": 4}))
        print(json.dumps({"ev": "stage", "id": r, "stage": "queue", "start_ns": t0, "end_ns": s}))
        print(json.dumps({"ev": "stage", "id": r, "stage": "postprocess", "start_ns": e, "end_ns": e + 100000}))
PY
  report "past$loop" "$tmp/past$loop.jsonl"
done
"$py" "$chk" "$tmp"/*.json || fail=1
n=$(ls "$tmp"/*.json | wc -l)
echo "checked $n reports"

# The checker must fail on a doctored report. Each doctor edits one report (JSON, and the text report
# where the sentence changes) in a copy: the leader's figure, a stage's share, the saturated queue's fix
# of a continuously batching trace (the untested-fix plant of verdict.c), the model clause dropped,
# the text sentence alone, a figure of the text candidate table.
mkdir -p "$tmp/bad"
doctor() {
  local what=$1 from=$2
  rm -f "$tmp/bad/"*
  "$py" - "$tmp/$from.json" "$tmp/$from.txt" "$tmp/bad/x.json" "$tmp/bad/x.txt" "$what" <<'PY' || return 1
import json, re, sys
src, srct, dst, dstt, what = sys.argv[1:6]
rep = json.load(open(src))
txt = open(srct).read()
v = rep["verdict"]
s = v["sentence"]
def sentence(new):
    global txt
    v["sentence"] = new
    lines = txt.splitlines()
    i = next(k for k, l in enumerate(lines) if l.startswith("verdict: "))
    j = i + 1
    while j < len(lines) and lines[j].startswith("         ") and not lines[j].strip().startswith("candidate "):
        j += 1
    txt = "\n".join(lines[:i] + ["verdict: " + new] + lines[j:]) + "\n"
if what == "leader_figure":
    m = re.match(r"(\d+)%", s)
    sentence(str(int(m.group(1)) + 1) + s[m.end(1):])
elif what == "stage_share":
    row = next(r for r in rep["stages"] if r["name"] == "queue")
    row["share_of_p95"] += 0.03
elif what == "saturated_fix":
    fix = v["ranking"][0]["fix"]
    assert fix.endswith(" if the KV cache has room"), fix
    plain = "raise --max-num-seqs or add a replica"
    v["ranking"][0]["fix"] = plain
    sentence(s.replace(fix, plain))
elif what == "past_window_fix":
    # the queue past the window told to shorten the window (main's verdict before the rule)
    fix = v["ranking"][0]["fix"]
    plain = "shorten the batch window with max-queue-delay, or raise traffic per replica"
    v["ranking"][0]["fix"] = plain
    sentence(s.replace(fix, plain))
elif what == "model_clause":
    i = s.index(" The model is not the bottleneck")
    sentence(s[:i] + s[s.index(".", s.index(" points below", i)) + 1:])
elif what == "text_table":
    lines = txt.splitlines()
    k = next(k for k, l in enumerate(lines) if l.strip().startswith("candidate ")) + 1
    lines[k] = re.sub(r"(\d+)\.(\d)%", lambda m: "%d.%s%%" % (int(m.group(1)) + 2, m.group(2)), lines[k], count=1)
    txt = "\n".join(lines) + "\n"
elif what == "gen_launch":
    # a no-device table's gap fix as if the device had been seen idle (the text is left out: JSON only)
    launch = "capture decode in CUDA graphs, overlap host work with the device and remove synchronisations"
    for key in ("ttft", "tpot"):
        gv = rep["generation"][key]["verdict"]
        for r in gv["ranking"]:
            if r["stage"].endswith(" gap"):
                gv["sentence"] = gv["sentence"].replace(r["fix"], launch)
                r["fix"] = launch
elif what == "text_only":
    v["sentence"] = s
    txt = txt.replace("verdict: ", "verdict: Maybe ", 1)
json.dump(rep, open(dst, "w"))
open(dstt, "w").write(txt)
PY
  [ "$what" = gen_launch ] && rm -f "$tmp/bad/x.txt"
  ln -sf "$(readlink -f "$tmp/$from.trace")" "$tmp/bad/x.trace" # its policy, as report() links it
  if "$py" "$chk" "$tmp/bad/x.json" 2> "$tmp/bad/err"; then
    echo "FAIL: the checker passes a report with $what doctored ($from)" >&2
    fail=1
  else
    echo "doctored $what ($from): $(head -1 "$tmp/bad/err")"
  fi
}
# the first report of each kind a doctor needs: a continuously batching queue behind a saturated device
# leads, a leader clears the model
pick() {
  "$py" - "$1" "$tmp" <<'PY'
import glob, json, os, sys
kind, tmp = sys.argv[1:3]
def key(p):
    b = os.path.basename(p)
    return (b[0], int(b[1:-5]))
for p in sorted(glob.glob(os.path.join(tmp, "[gs][0-9]*.json")), key=key):
    v = json.load(open(p))["verdict"]
    r = v.get("ranking") or []
    if kind == "sat" and r and r[0]["stage"] == "queue" and (r[0]["fix"] or "").endswith(" if the KV cache has room"):
        print(os.path.basename(p)[:-5]); break
    if kind == "clear" and "The model is not the bottleneck: useful kernel time" in (v.get("sentence") or ""):
        print(os.path.basename(p)[:-5]); break
PY
}
sat=$(pick sat)
clear=$(pick clear)
[ -n "$sat" ] || { echo "FAIL: no saturated continuously batching queue among the generated traces" >&2; fail=1; }
[ -n "$clear" ] || { echo "FAIL: no synth report clears the model" >&2; fail=1; }
doctor leader_figure s0 || fail=1
doctor stage_share s0 || fail=1
doctor text_only s0 || fail=1
doctor text_table s0 || fail=1
[ -n "$clear" ] && { doctor model_clause "$clear" || fail=1; }
[ -n "$sat" ] && { doctor saturated_fix "$sat" || fail=1; }
doctor gen_launch n1 || fail=1
doctor past_window_fix past0 || fail=1
doctor past_window_fix past1 || fail=1
exit $fail
