#!/usr/bin/env bash
# `servprof analyze --hta-compat --json` on the cuda_event_sync Kineto fixture reports HTA v0.6.1's
# figures (tests/data/kineto/README.md: idle 207, compute 49, non_compute 7, kernel_time 263 us;
# stream 7 host_wait 212), and without --hta-compat the exact figures, where the 5 us stream sync is
# not device work: busy 51 = 56 - 5, so idle 212 (docs/kineto.md).
# Run as: bash kineto_hta.sh BINARY SOURCE_DIR
set -u
bin=$1
src=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
trace="$src/tests/data/kineto/cuda_event_sync.json.gz"
"$bin" analyze --no-progress --hta-compat --json "$trace" > "$tmp/compat.json" 2> "$tmp/err.txt" ||
  { echo "FAIL: analyze --hta-compat: $(cat "$tmp/err.txt")" >&2; exit 1; }
"$bin" analyze --no-progress --json "$trace" > "$tmp/exact.json" 2> "$tmp/err.txt" ||
  { echo "FAIL: analyze: $(cat "$tmp/err.txt")" >&2; exit 1; }
python3 - "$tmp/compat.json" "$tmp/exact.json" <<'PY'
import json, sys
c = json.load(open(sys.argv[1]))["gpu"]
want = {"span_us": 263, "idle_us": 207, "compute_us": 49, "non_compute_us": 7}
bad = [f"{k}: {c[k]} != {v}" for k, v in want.items() if abs(c[k] - v) > 1e-9]
s = [r for r in c["idle_breakdown"] if r["stream"] == 7]
if len(s) != 1 or abs(s[0]["host_wait_us"] - 212) > 1e-9 or s[0]["kernel_wait_us"] or s[0]["other_us"]:
    bad.append(f"stream 7 breakdown {s}")
e = json.load(open(sys.argv[2]))["gpu"]
# exact mode: span from the unrounded trace, the sync outside busy; busy is HTA's 56 less the 5 us sync
if abs(e["busy_us"] - (c["busy_us"] - 5)) > 0.01 or abs(e["idle_us"] - (e["span_us"] - e["busy_us"])) > 1e-6:
    bad.append(f"exact: busy {e['busy_us']} idle {e['idle_us']} span {e['span_us']}")
if bad:
    print("FAIL:", "; ".join(bad), file=sys.stderr)
    sys.exit(1)
PY
