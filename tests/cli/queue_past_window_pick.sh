#!/usr/bin/env bash
# A queue past the window (docs/analysis.md, "Queue past the window") cannot tell a late batcher from
# one worker busy with the batches before, so the verdict's what-if simulates both the quarter window
# and one more instance and quotes the lower predicted p95; one more instance wins only by 2% of the
# window's p95 or more (SP_WHATIF_ADVICE_MIN_GAIN), a tie goes to the window, which adds no instance
# (docs/whatif.md, "The verdict's prediction"). The fix leads with the change the simulator chose.
# Traces: `servprof synth` (CPU backend, 600 requests), each past the window with batches not full.
# Where the figures come from: the simulator's own run on each trace (`servprof analyze`'s quote),
# cross-checked here against `servprof whatif TRACE --instances 1,2 --max-queue-delay-ms W,W/4`, the
# same simulator with the same defaults (seed 1, linear model, residuals resampled), run separately:
#   window: --rate 500 --batch-window-ms 4 --max-batch 4 --seed 18: p95 13.10 ms, a quarter window
#     (1.00 ms) 8.46 ms, one more instance 10.45 ms: the window is quoted, as before.
#   worker: --rate 400 --batch-window-ms 1 --max-batch 4 --seed 1: p95 10.26 ms, one more instance
#     5.45 ms, a quarter window (250.0 us) 6.42 ms: the instance is quoted and leads the fix.
#   tie:    --rate 300 --batch-window-ms 1 --max-batch 2 --seed 3: p95 5.51 ms, a quarter window
#     4.13 ms, one more instance 4.11 ms: 0.5% lower, inside the 2% tie, so the window is quoted and
#     the clause says why.
#   loop:   worker with event_loop=asyncio in its properties: the instance leads, and the fix keeps
#     the blocked event loop among the causes to look for.
# On main's binary every trace quoted the quarter window alone (worker and loop fail).
# Run as: bash queue_past_window_pick.sh BINARY SOURCE_DIR
set -u
bin=$1
fail=0
check() { if ! eval "$1"; then echo "FAIL: $1" >&2; fail=1; fi; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$bin" synth --requests 600 --rate 500 --batch-window-ms 4 --max-batch 4 --seed 18 -o "$tmp/window.jsonl" || fail=1
"$bin" synth --requests 600 --rate 400 --batch-window-ms 1 --max-batch 4 --seed 1 -o "$tmp/worker.jsonl" || fail=1
"$bin" synth --requests 600 --rate 300 --batch-window-ms 1 --max-batch 2 --seed 3 -o "$tmp/tie.jsonl" || fail=1
sed '1s/"properties":{/"properties":{"event_loop":"asyncio",/' "$tmp/worker.jsonl" > "$tmp/loop.jsonl"
for t in window worker tie loop; do
  "$bin" analyze --no-progress --json "$tmp/$t.jsonl" > "$tmp/$t.json" 2> "$tmp/$t.err" || { echo "FAIL: analyze $t" >&2; cat "$tmp/$t.err" >&2; fail=1; }
  "$bin" analyze --no-progress "$tmp/$t.jsonl" 2>&1 | tr -s ' \n' ' ' > "$tmp/$t.flat"
done
field() { python3 -c "import json,sys; r=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))" "$1" "$2"; }
pred='r["verdict"]["prediction"]'
for t in window worker tie loop; do
  check "[ \"\$(field $tmp/$t.json 'r[\"verdict\"][\"stage\"]')\" = queue ]"
  check "grep -qF '(queue, configuration; a queue past the window: ' '$tmp/$t.flat'"
done
# the quoted change and the other, in the sentence and in the JSON alike
check "grep -qF '(what-if: max-queue-delay 4.00 ms -> 1.00 ms: predicted p95 13.10 ms -> 8.46 ms (simulated from this trace; instances 1 -> 2 instead: predicted p95 10.45 ms))' '$tmp/window.flat'"
check "grep -qF 'each batch waiting for a free one (what-if: max-queue-delay' '$tmp/window.flat'"
for t in worker loop; do
  check "grep -qF '(what-if: instances 1 -> 2: predicted p95 10.26 ms -> 5.45 ms (simulated from this trace; max-queue-delay 1.00 ms -> 250.0 us instead: predicted p95 6.42 ms))' '$tmp/$t.flat'"
  check "[ \"\$(field $tmp/$t.json '\" \".join(($pred[\"setting\"], $pred[\"from\"], $pred[\"to\"], $pred[\"alternative\"][\"setting\"], $pred[\"alternative\"][\"to\"]))')\" = \"instances 1 2 max-queue-delay 250.0 us\" ]"
done
check "grep -qF '(what-if: max-queue-delay 1.00 ms -> 250.0 us: predicted p95 5.51 ms -> 4.13 ms (simulated from this trace; instances 1 -> 2 instead: predicted p95 4.11 ms, within 2%: a tie, which goes to the window, as it adds no instance to the bill))' '$tmp/tie.flat'"
check "[ \"\$(field $tmp/window.json '\" \".join(($pred[\"setting\"], $pred[\"alternative\"][\"setting\"], $pred[\"alternative\"][\"from\"], $pred[\"alternative\"][\"to\"]))')\" = \"max-queue-delay instances 1 2\" ]"
check "[ \"\$(field $tmp/tie.json '\" \".join(($pred[\"setting\"], $pred[\"alternative\"][\"setting\"]))')\" = \"max-queue-delay instances\" ]"
# the fix leads with the chosen change: the ranking (JSON, HTML) and the sentence agree
win_fix='shorten the batch window with max-queue-delay, and find why the batcher dispatches late: a host too busy to run it on time (CPU contention), or too few workers, each batch waiting for a free one'
worker_fix='add a worker (one more instance), since each batch waits for a free one, then shorten the batch window with max-queue-delay, and check that the host is not too busy to run the batcher on time (CPU contention)'
loop_fix='add a worker (one more instance), since each batch waits for a free one, then shorten the batch window with max-queue-delay, and look for a blocked event loop (a blocking call in an async handler delays the batcher that runs on it: run it in a thread) or a host too busy to run the batcher on time (CPU contention)'
for t in window tie; do
  check "[ \"\$(field $tmp/$t.json 'r[\"verdict\"][\"ranking\"][0][\"fix\"]')\" = '$win_fix' ]"
done
check "[ \"\$(field $tmp/worker.json 'r[\"verdict\"][\"ranking\"][0][\"fix\"]')\" = '$worker_fix' ]"
check "[ \"\$(field $tmp/loop.json 'r[\"verdict\"][\"ranking\"][0][\"fix\"]')\" = '$loop_fix' ]"
for t in window worker tie loop; do
  check "python3 -c \"import json,sys; v=json.load(open(sys.argv[1]))['verdict']; sys.exit(0 if ': ' + v['ranking'][0]['fix'] + ' (what-if: ' in v['sentence'] else 1)\" '$tmp/$t.json'"
done
# the HTML verdict box carries the same fix
"$bin" analyze --no-progress --html "$tmp/worker.html" "$tmp/worker.jsonl" > /dev/null 2>&1 || fail=1
check "grep -qF 'add a worker (one more instance), since each batch waits for a free one' '$tmp/worker.html'"
# cross-check: servprof whatif, the same simulator run on its own, gives both p95 figures of each quote
for t in window worker tie; do
  win=$(sed -n '1s/.*"batch_window_ms":\([0-9.]*\).*/\1/p' "$tmp/$t.jsonl")
  quarter=$(python3 -c "print($win / 4)")
  "$bin" whatif --json "$tmp/$t.jsonl" --instances 1,2 --max-queue-delay-ms "$win,$quarter" > "$tmp/$t.whatif.json" 2> /dev/null ||
    { echo "FAIL: whatif $t" >&2; fail=1; }
  check "python3 - '$tmp/$t.json' '$tmp/$t.whatif.json' '$quarter' <<'EOF'
import json, sys
p = json.load(open(sys.argv[1]))['verdict']['prediction']
w = json.load(open(sys.argv[2]))
quarter = float(sys.argv[3])
def p95_of(inst, delay):
    for x in w['policies']:
        q = x['policy']
        if q['instances'] == inst and abs(q['max_queue_delay_ms'] - delay) < 1e-9:
            return x['latency_ms']['p95'] * 1000
    raise SystemExit('no policy %d, %g ms' % (inst, delay))
base = p95_of(1, quarter * 4)
more = p95_of(2, quarter * 4)
short = p95_of(1, quarter)
got = {p['setting']: p['p95_after_us'], p['alternative']['setting']: p['alternative']['p95_after_us']}
ok = abs(p['p95_before_us'] - base) < 1 and abs(got['instances'] - more) < 1 and abs(got['max-queue-delay'] - short) < 1
# the pick: one more instance only when 2% or more below the window
ok = ok and (p['setting'] == 'instances') == (more <= short * 0.98)
sys.exit(0 if ok else 1)
EOF"
done
exit $fail
