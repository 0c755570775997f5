#!/usr/bin/env bash
# The other reports' sentences and headline figures against their own tables (report_crosscheck.py),
# over varied traces, as verdict_crosscheck.sh does for analyze's verdict:
#  - analyze --html against analyze --json (docs/html-report.md): the verdict box, badge, leader's
#    share and saving, the ranking, the summary figures, the stage charts' tooltips (shares of
#    p50/p95/p99, each stage's percentiles), the cost section, a generation page's TTFT/TPOT boxes; on servprof synth traces
#    with varied knobs, verdict_crosscheck_gen.py's continuously batching traces and close cases;
#  - servprof diff (docs/diff.md): text against JSON row by row, the verdicts and "moved", each
#    condition's HOLDS/ok, bound and "is beyond", the count line and the exit status, and each side
#    against its own analyze report; the --html page's gate box and verdicts; pairs of those traces,
#    traces against reports (point changes);
#  - servprof whatif (docs/whatif.md "Advice"): the table's rows and the advice derived again;
#  - the fleet report (docs/fleet.md): analyze --prometheus against a stand-in for Prometheus' query
#    API; the header's sentences naming replicas (all, down, never answered) against the JSON's source.
# Then the checker must fail on doctored outputs (a figure, a word, a choice changed), so that it
# cannot pass vacuously. Under the sanitizer tree (SP_SANITIZED=1) fewer traces are run.
# Run as: bash report_crosscheck.sh BINARY SOURCE_DIR
set -u
bin=$1
src=$2
py=/usr/bin/python3
[ -x "$py" ] || py=$(command -v python3) || { echo "python3 not found: skipped" >&2; exit 77; }
chk="$src/tests/cli/report_crosscheck.py"
gen="$src/tests/cli/verdict_crosscheck_gen.py"
fail=0
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

n_synth=16
gen_seeds="1 2 3 4 5 6 7 8 9 10 28 29 34"
close_seeds="1 2 3 4 5 6 46"
if [ -n "${SP_SANITIZED:-}" ]; then
  n_synth=4
  gen_seeds="1 28"
  close_seeds="46"
fi
rates=(150 500 900 1300 1700 2100 2800)
windows=(0.3 1 4 8 2)
pads=(1 64 16)
batches=(16 4)
names=()
for ((i = 0; i < n_synth; i++)); do
  gpu=--gpu
  [ $((i % 3)) -eq 2 ] && gpu=
  "$bin" synth --requests 200 --seed $((i + 1)) $gpu --rate ${rates[i % 7]} --batch-window-ms ${windows[i % 5]} \
    --pad-to ${pads[i % 3]} --max-batch ${batches[i % 2]} > "$tmp/s$i.jsonl" || { echo "FAIL: synth $i" >&2; fail=1; }
  names+=("s$i")
done
for i in $gen_seeds; do
  "$py" "$gen" $i > "$tmp/g$i.jsonl" || { echo "FAIL: verdict_crosscheck_gen.py $i" >&2; fail=1; }
  names+=("g$i")
done
for i in $close_seeds; do
  "$py" "$gen" --close $i > "$tmp/c$i.jsonl" || { echo "FAIL: verdict_crosscheck_gen.py --close $i" >&2; fail=1; }
  names+=("c$i")
done

# traces without requests (a device-only verdict, no cost per request) and a client trace merged
d="$src/tests/data"
for f in "$d"/kineto/cuda_graph_subus.json "$d"/kineto/hta_negative_noncompute.json "$d"/generation/*.jsonl; do
  [ -f "$f" ] || continue
  nm=data_$(basename "$f" | tr -c 'A-Za-z0-9_\n' _)
  cp "$f" "$tmp/$nm.jsonl"
  names+=("$nm")
done

# 1. analyze --html against analyze --json
n=0
for nm in "${names[@]}"; do
  "$bin" analyze --no-progress --json "$tmp/$nm.jsonl" > "$tmp/$nm.json" 2> "$tmp/$nm.err" &&
    "$bin" analyze --no-progress --html "$tmp/$nm.html" "$tmp/$nm.jsonl" > /dev/null 2>> "$tmp/$nm.err" ||
    { echo "FAIL: analyze $nm: $(head -3 "$tmp/$nm.err")" >&2; fail=1; continue; }
  "$py" "$chk" html "$tmp/$nm.json" "$tmp/$nm.html" || { echo "FAIL: html $nm" >&2; fail=1; }
  n=$((n + 1))
done
echo "html: checked $n pages"

# 2. servprof diff: consecutive traces as BASE and NEW, conditions of every kind; a report as one side
conds=(--fail-if 'p95:+5%' --fail-if 'p50:-10%' --fail-if 'latency.p99:+1ms' --fail-if 'stage.queue.share_of_p95:+0.05'
  --fail-if 'stage.queue.p95:+10%' --fail-if 'padding.share_of_p95:+2pts' --fail-if 'cost.per_request:+10%')
diffcase() { # NAME BASE NEW BASE_REPORT NEW_REPORT
  local nm=$1 b=$2 a=$3 st
  "$bin" diff --resamples 100 "${conds[@]}" "$b" "$a" > "$tmp/$nm.txt" 2> "$tmp/$nm.err"
  st=$?
  "$bin" diff --resamples 100 --json --html "$tmp/$nm.html" "${conds[@]}" "$b" "$a" > "$tmp/$nm.json" 2>> "$tmp/$nm.err"
  if [ $st -ne 0 ] && [ $st -ne 3 ]; then
    echo "FAIL: diff $nm exit $st: $(head -3 "$tmp/$nm.err")" >&2
    fail=1
    return
  fi
  echo "$st" > "$tmp/$nm.status"
  "$py" "$chk" diff "$tmp/$nm.json" "$tmp/$nm.txt" "$4" "$5" "$st" || { echo "FAIL: diff $nm" >&2; fail=1; }
  "$py" "$chk" diffhtml "$tmp/$nm.json" "$tmp/$nm.html" || { echo "FAIL: diff --html $nm" >&2; fail=1; }
}
nd=0
prev=
for nm in "${names[@]}"; do
  case $nm in c* | data_*) continue ;; esac
  [ -f "$tmp/$nm.json" ] || continue
  if [ -n "$prev" ]; then
    diffcase "d_$nm" "$tmp/$prev.jsonl" "$tmp/$nm.jsonl" "$tmp/$prev.json" "$tmp/$nm.json"
    nd=$((nd + 1))
  fi
  prev=$nm
done
diffcase d_rep_s1 "$tmp/s0.json" "$tmp/s1.jsonl" "$tmp/s0.json" "$tmp/s1.json"
diffcase d_self_s2 "$tmp/s2.jsonl" "$tmp/s2.json" "$tmp/s2.json" "$tmp/s2.json"
echo "diff: checked $((nd + 2)) comparisons"

# 3. servprof whatif on the synth traces (a dynamic batcher), with candidate grids
nw=0
grids=("--max-batch 4,8,32 --max-queue-delay-ms 0.5,2" "--max-queue-delay-ms 0.2,1,8 --slo-p95-ms 2"
  "--pad longest --pad multiple:16 --max-batch 8,16" "--instances 1,2 --max-batch 2,16 --slo-p95-ms 10")
for ((i = 0; i < n_synth; i++)); do
  g=${grids[i % 4]}
  # shellcheck disable=SC2086
  "$bin" whatif $g "$tmp/s$i.jsonl" > "$tmp/w$i.txt" 2> "$tmp/w$i.err" &&
    "$bin" whatif --json $g "$tmp/s$i.jsonl" > "$tmp/w$i.json" 2>> "$tmp/w$i.err" ||
    { echo "FAIL: whatif s$i: $(head -3 "$tmp/w$i.err")" >&2; fail=1; continue; }
  "$py" "$chk" whatif "$tmp/w$i.json" "$tmp/w$i.txt" || { echo "FAIL: whatif s$i" >&2; fail=1; }
  nw=$((nw + 1))
done
echo "whatif: checked $nw studies"

# 4. the fleet report: analyze --prometheus against a stand-in for Prometheus' query API (no real
# Prometheus: the fleets are drawn from the seeds, up to 180 replicas); skipped without the client
fleet_seeds="2 3 5 6 7"
[ -n "${SP_SANITIZED:-}" ] && fleet_seeds="2 3"
if "$py" "$chk" fleet "$bin" $fleet_seeds 2> "$tmp/fleet.err"; then
  echo "fleet: checked seeds $fleet_seeds"
elif grep -q "libcurl\|no Prometheus client\|not built with" "$tmp/fleet.err"; then
  echo "fleet: skipped ($(head -1 "$tmp/fleet.err"))"
else
  cat "$tmp/fleet.err" >&2
  echo "FAIL: fleet" >&2
  fail=1
fi

# 5. doctored outputs the checker must reject: each edits one copy
mkdir -p "$tmp/bad"
doctor() { # MODE WHAT FILE-TO-EDIT PYTHON-EXPRESSION-ON-s ARGS...
  local mode=$1 what=$2 file=$3 expr=$4
  shift 4
  "$py" - "$tmp/$file" "$tmp/bad/$file" "$expr" <<'PY' || { echo "FAIL: doctor $what: no edit" >&2; fail=1; return; }
import re, sys
src, dst, expr = sys.argv[1:4]
s = open(src, encoding="utf-8").read()
t = eval(expr)
if t == s:
    sys.exit(1)
open(dst, "w", encoding="utf-8").write(t)
PY
  local args=()
  for a in "$@"; do
    if [ "$a" = "$file" ]; then args+=("$tmp/bad/$file"); else args+=("$tmp/$a"); fi
  done
  if "$py" "$chk" "$mode" "${args[@]}" 2> "$tmp/bad/err"; then
    echo "FAIL: the checker passes $mode with $what doctored" >&2
    fail=1
  else
    echo "doctored $mode $what: $(head -1 "$tmp/bad/err")"
  fi
}
# the page: the sentence's first figure, the leader's share, a ranking saving, the p95 KPI, the bill
doctor html sentence s0.html 're.sub(r"(<p class=\"big\">[^<]*?)(\d+)%", lambda m: m.group(1) + str(int(m.group(2)) + 1) + "%", s, count=1)' s0.json s0.html
doctor html leader_share s0.html 're.sub(r"(largest: <b>[^<]*</b>, )(\d+)\.(\d)%", lambda m: m.group(1) + str(int(m.group(2)) + 1) + "." + m.group(3) + "%", s, count=1)' s0.json s0.html
doctor html ranking_row s0.html 're.sub(r"(<tr><td>[^<]*</td><td>[^<]*</td><td>)(\d+)\.(\d)%", lambda m: m.group(1) + str(int(m.group(2)) + 2) + "." + m.group(3) + "%", s, count=1)' s0.json s0.html
doctor html p95_kpi s0.html 're.sub(r"<b>([\d.]+) (ms|us)</b><span>latency p95", lambda m: "<b>%.2f %s</b><span>latency p95" % (float(m.group(1)) * 1.1, m.group(2)), s, count=1)' s0.json s0.html
doctor html bill s0.html 're.sub(r"(<section id=\"cost\"><h2>Cost split</h2>\n<p>)\$([\d.e-]+)", lambda m: m.group(1) + "$" + str(float(m.group(2)) * 3), s, count=1)' s0.json s0.html
doctor html stage_strip s0.html 're.sub(r"(<title>[^<:]+: p5 [^<]*?, p95 )([\d.]+)", lambda m: m.group(1) + "%.2f" % (float(m.group(2)) * 1.2 + 1), s, count=1)' s0.json s0.html
doctor html share_segment s0.html 're.sub(r"(<title>[^<:]+: )([\d.]+)(% of p95)", lambda m: m.group(1) + "%.1f" % (float(m.group(2)) + 3) + m.group(3), s, count=1)' s0.json s0.html
# a generation page: the TTFT box's first figure
g1=$(set -- $gen_seeds; echo "g$1")
doctor html ttft_box "$g1.html" 're.sub(r"(id=\"verdict-ttft\"><p class=\"big\">TTFT: [^<]*?)(\d+)%", lambda m: m.group(1) + str(int(m.group(2)) + 1) + "%", s, count=1)' "$g1.json" "$g1.html"
# the diff: a p95 change, the verdicts' "moved" line, a condition's word, the count line, the exit status
first_d=$(ls "$tmp"/d_s*.status | head -1 | xargs -n1 basename | sed 's/\.status$//')
doctor diff p95_change "$first_d.txt" 're.sub(r"(\n  p95 +\S+ \S+ +\S+ \S+ +)([+-])", lambda m: m.group(1) + ("-" if m.group(2) == "+" else "+"), s, count=1)' "$first_d.json" "$first_d.txt" s0.json s1.json
doctor diff verdict_moved "$first_d.txt" 're.sub(r"  the verdict moved: .*\n", "  the verdict names the same candidate in both runs\n", s) if "moved:" in s else s.replace("  the verdict names the same candidate in both runs", "  the verdict moved: queue -> kernel")' "$first_d.json" "$first_d.txt" s0.json s1.json
doctor diff condition_word "$first_d.txt" 're.sub(r"\n  (HOLDS|ok   )  p50:-10%", lambda m: "\n  " + ("ok   " if m.group(1) == "HOLDS" else "HOLDS") + "  p50:-10%", s)' "$first_d.json" "$first_d.txt" s0.json s1.json
doctor diff count_line "$first_d.txt" 're.sub(r"\n(\d+) of 7 conditions? holds?", lambda m: "\n%d of 7 conditions hold" % (int(m.group(1)) + 2), s)' "$first_d.json" "$first_d.txt" s0.json s1.json
doctor diff side_p95 s0.json 're.sub(r"(\"latency_us\":\{\"p50\":[\d.]+,\"p95\":)([\d.]+)", lambda m: m.group(1) + "%.3f" % (float(m.group(2)) * 1.05), s, count=1)' "$first_d.json" "$first_d.txt" s0.json s1.json
doctor diffhtml gate_box "$first_d.html" 're.sub(r"The gate (fails|passes): (\d+) of", lambda m: "The gate %s: %d of" % ("passes" if m.group(1) == "fails" else "fails", int(m.group(2))), s)' "$first_d.json" "$first_d.html"
doctor diffhtml gate_row "$first_d.html" 're.sub(r"(<code>p95:\+5%</code></td><td>)(<span class=\"warn\">holds</span>|does not hold)", lambda m: m.group(1) + ("does not hold" if "warn" in m.group(2) else "<span class=\"warn\">holds</span>"), s)' "$first_d.json" "$first_d.html"
# the what-if: a row's p95, the advice's figure, its choice
w=$("$py" -c 'import json, sys
for a in sys.argv[1:]:
    if json.load(open(a)).get("advice"):
        print(a.split("/")[-1][:-5]); break' "$tmp"/w*.json)
[ -n "$w" ] || { echo "FAIL: no what-if study gives advice" >&2; fail=1; w=w0; }
doctor whatif row_p95 w0.txt 're.sub(r"(\n +\d+ +[\d.]+ \S+ +\S+ +\d+ +\S+ \S+ +)([\d.]+)", lambda m: m.group(1) + "%.2f" % (float(m.group(2)) * 1.5), s, count=1)' w0.json w0.txt
doctor whatif advice_figure $w.txt 're.sub(r"-> ([\d.]+) (ms|us) \(", lambda m: "-> %.2f %s (" % (float(m.group(1)) * 1.2, m.group(2)), s, count=1)' $w.json $w.txt
doctor whatif advice_choice $w.json 're.sub(r"\"choice\":(\d+)", lambda m: "\"choice\":%d" % (int(m.group(1)) % 3 + 1), s, count=1)' $w.json $w.txt
ws=$("$py" -c 'import json, sys
for a in sys.argv[1:]:
    d = json.load(open(a))
    # a choice among several (the count to doctor; "the only policy" has none)
    if (d.get("slo") or {}).get("choice") is not None and sum(p["meets_slo"] for p in d["policies"]) > 1:
        print(a.split("/")[-1][:-5]); break' "$tmp"/w*.json)
if [ -n "$ws" ]; then
  doctor whatif slo_count $ws.txt 're.sub(r"the cheapest of the (\d+)", lambda m: "the cheapest of the %d" % (int(m.group(1)) + 1), s)' $ws.json $ws.txt
  # the tie the SLO line names (the others within 0.5% of the choice's cost), one more than the JSON's
  doctor whatif slo_tie $ws.txt 're.sub(r" \((\d+) (others?) within 0\.5%", lambda m: " (%d others within 0.5%%" % (int(m.group(1)) + 1), s)' $ws.json $ws.txt
else
  echo "FAIL: no what-if study meets its SLO" >&2
  fail=1
fi
# the fleet: the replicas sentence with its last name dropped (seed 3: two replicas)
if [ -n "$fleet_seeds" ] && ! grep -q "libcurl\|no Prometheus client" "$tmp/fleet.err"; then
  if "$py" "$chk" fleet "$bin" --doctor 3 2> "$tmp/bad/err"; then
    echo "FAIL: the checker passes fleet with the replicas sentence doctored" >&2
    fail=1
  else
    echo "doctored fleet replicas: $(head -1 "$tmp/bad/err")"
  fi
fi
exit $fail
