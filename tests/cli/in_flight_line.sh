#!/usr/bin/env bash
# The queue verdict's "a batch in flight N% of the time" never prints the saturation line (85%,
# SP_ANA_SATURATED_IN_FLIGHT) for a share below it: 84.8% rounded to "85%" sat in a reading that does
# not call the device saturated ("a queue past the window"), beside traces where 85% does. Known
# answers, worked by hand: 40 batches of L us, one every 1 ms from 3 ms, each of 2 requests that
# arrived 3 ms before it (max batch 4, window 1 ms: batches not full, queue p95 3 ms past twice the
# window). The cost window runs from the first arrival (0) to the last batch's end, 3 + 39 + L/1000 ms,
# and a batch is in flight 40 L us of it:
#   L = 910: 36,400 / 42,910 = 0.84829 -> "84.8%", a queue past the window, not saturated;
#   L = 908: 36,320 / 42,908 = 0.84646 -> "84.6%" (one decimal is enough to stay under the line);
#   L = 912: 36,480 / 42,912 = 0.85011 -> "85%", behind a saturated device.
# The binary before this rule printed "85%" for L = 910. Run as: bash in_flight_line.sh BINARY SOURCE_DIR
set -u
bin=$1
command -v python3 >/dev/null || { echo "python3 missing: skipped"; exit 77; }
fail=0
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
gen() {
  python3 - "$1" <<'PY'
import sys
L = int(sys.argv[1])
us = 1000
out = ['{"ev":"meta","format":"servprof.events/1","clock":"monotonic","properties":{"policy.max_batch":"4",'
       '"policy.max_queue_delay_ns":"1000000","policy.pad":"longest","policy.workers":"1"}}']
for k in range(40):
    a = k * 1000 * us; s = a + 3000 * us; e = s + L * us
    ids = ["r%d_%d" % (k, m) for m in range(2)]
    for rid in ids:
        out.append('{"ev":"request","id":"%s","arrival_ns":%d,"done_ns":%d,"input_tokens":4}' % (rid, a, e))
        out.append('{"ev":"stage","id":"%s","stage":"queue","start_ns":%d,"end_ns":%d}' % (rid, a, s))
    out.append('{"ev":"batch","batch":%d,"start_ns":%d,"end_ns":%d,"requests":["%s","%s"],'
               '"effective_tokens":8,"padded_tokens":8}' % (k + 1, s, e, ids[0], ids[1]))
    out.append('{"ev":"kernel","batch":%d,"start_ns":%d,"end_ns":%d,"name":"gemm","stream":0}' % (k + 1, s, e))
print("\n".join(out))
PY
}
expect() { # L, the text the flattened verdict must hold
  gen "$1" > "$tmp/t$1.jsonl"
  "$bin" analyze --no-progress "$tmp/t$1.jsonl" 2>/dev/null | tr -s ' \n' ' ' > "$tmp/t$1.txt"
  grep -qF "$2" "$tmp/t$1.txt" || { echo "FAIL: L=$1: expected '$2' in: $(grep -o 'verdict:.*' "$tmp/t$1.txt" | cut -c1-400)"; fail=1; }
}
expect 910 'a queue past the window: its p95 3.00 ms, the window 1.00 ms; batches not full (median 2 of 4), a batch in flight 84.8% of the time)'
expect 908 'a batch in flight 84.6% of the time)'
expect 912 'behind a saturated device, a batch is in flight 85% of the time)'
[ $fail -eq 0 ] && echo "in_flight_line: every share below the line printed below it"
exit $fail
