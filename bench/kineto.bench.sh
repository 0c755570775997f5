#!/usr/bin/env bash
# Kineto JSON ingest: builds a large trace (KINETO_BENCH_MB, default 300 MB) by replicating the events of
# a real one (ns_resolution_resnet_v100) with shifted timestamps, then loads it with servprof
# (bench/bench_kineto.c) and with Python's json.load in the same run: MB/s of uncompressed JSON and
# peak memory (maxrss) of each. KINETO_BENCH_GEN_ONLY=1 only builds the trace (bench/analyze_e2e.bench.sh).
set -euo pipefail
build=${1:-build}
mb=${KINETO_BENCH_MB:-300}
src=tests/data/kineto/ns_resolution_resnet_v100.json.gz
out=${TMPDIR:-/tmp}/servprof_kineto_bench_${mb}.json
if [ ! -s "$out" ]; then
  python3 - "$src" "$out" "$mb" <<'PY'
import gzip, json, sys
from decimal import Decimal
src, out, mb = sys.argv[1], sys.argv[2], int(sys.argv[3])
doc = json.load(gzip.open(src))   # floats print back as their shortest (original) text
evs = doc["traceEvents"]
ts = [Decimal(repr(e["ts"])) for e in evs if "ts" in e]
span = max(ts) - min(ts) + 1000
# one copy's text with a placeholder for ts; the shift is added as exact decimal text
parts = []
for e in evs:
    e = dict(e)
    t = e.get("ts")
    if t is not None:
        e["ts"] = "@TS@"
    s = json.dumps(e)
    parts.append((s, None if t is None else Decimal(repr(t))))
with open(out, "w") as f:
    f.write('{"schemaVersion":1,"deviceProperties":[],"traceEvents":[\n')
    k, first, written = 0, True, 0
    while written < mb * 1000000:
        shift = span * k
        for s, t in parts:
            line = s if t is None else s.replace('"@TS@"', str(t + shift))
            if not first:
                f.write(",\n")
            first = False
            f.write(line)
            written += len(line) + 2
        k += 1
    f.write('\n],"displayTimeUnit":"ns"}\n')
PY
fi
[ "${KINETO_BENCH_GEN_ONLY:-0}" = 1 ] && exit 0
size=$(stat -c %s "$out")
echo "trace: $out, $((size / 1000000)) MB uncompressed"
"$build/bench/bench_kineto" "$out"
"$build/bench/bench_kineto" "$out" hta
python3 - "$out" <<'PY'
import json, resource, sys, time, os
t0 = time.monotonic()
with open(sys.argv[1]) as f:
    doc = json.load(f)
dt = time.monotonic() - t0
mb = os.path.getsize(sys.argv[1]) / 1e6
rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print("python3 json.load: %.1f MB in %.2f s = %.0f MB/s, %d events, maxrss %.0f MB" % (mb, dt, mb / dt, len(doc["traceEvents"]), rss))
PY
