#!/usr/bin/env bash
# `servprof synth`: deterministic per seed, valid servprof.events/1 JSONL (every line a JSON object,
# meta first), the requested number of requests, batches within --max-batch, padding never below the
# effective tokens, queue spans that end at their batch's start. Run as: bash synth.sh BINARY SOURCE_DIR
set -u
bin=$1
fail=0
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$bin" synth --requests 300 --seed 7 --gpu -o "$tmp/a.jsonl" || { echo "FAIL: synth exited $?" >&2; exit 1; }
"$bin" synth --requests 300 --seed 7 --gpu > "$tmp/b.jsonl"
"$bin" synth --requests 300 --seed 8 --gpu > "$tmp/c.jsonl"
cmp -s "$tmp/a.jsonl" "$tmp/b.jsonl" || { echo "FAIL: same seed, different traces" >&2; fail=1; }
cmp -s "$tmp/a.jsonl" "$tmp/c.jsonl" && { echo "FAIL: different seeds, same trace" >&2; fail=1; }
"$bin" synth --requests 50 > "$tmp/cpu.jsonl"
"$bin" synth --requests 1 --max-batch 1 > "$tmp/one.jsonl" || { echo "FAIL: one request" >&2; fail=1; }
head -1 "$tmp/a.jsonl" | grep -q '"ev":"meta","format":"servprof.events/1"' || { echo "FAIL: meta line" >&2; fail=1; }

if ! command -v python3 >/dev/null; then
  echo "python3 not found: structural checks skipped" >&2
  exit $fail
fi
for f in a.jsonl cpu.jsonl one.jsonl; do
python3 - "$tmp/$f" "$f" <<'PY' || fail=1
import json, sys
path, name = sys.argv[1], sys.argv[2]
ev = {}
lines = open(path).read().splitlines()
objs = [json.loads(l) for l in lines]          # every line parses
assert objs[0]["ev"] == "meta" and objs[0]["price_per_hour"] > 0, "meta first"
for o in objs:
    ev.setdefault(o["ev"], []).append(o)
meta = objs[0]
reqs = {r["id"]: r for r in ev["request"]}
assert len(reqs) == meta["requests"], "request count"
stages = {}
for s in ev["stage"]:
    assert s["id"] in reqs, "stage of an unknown request"
    assert s["start_ns"] <= s["end_ns"]
    stages.setdefault(s["id"], {})[s["stage"]] = s
batches = {b["batch"]: b for b in ev["batch"]}
seen = set()
for b in batches.values():
    assert 1 <= len(b["requests"]) <= meta["max_batch"], "batch size"
    assert b["padded_tokens"] >= b["effective_tokens"] > 0, "padding"
    assert sum(reqs[m]["input_tokens"] for m in b["requests"]) == b["effective_tokens"]
    for m in b["requests"]:
        assert m not in seen, "request in two batches"
        seen.add(m)
        st = stages[m]
        assert st["queue"]["end_ns"] == b["start_ns"], "queue ends at dispatch"
        assert st["preprocess"]["start_ns"] == reqs[m]["arrival_ns"]
        assert st["postprocess"]["start_ns"] == b["end_ns"]
        assert st["postprocess"]["end_ns"] == reqs[m]["done_ns"]
assert seen == set(reqs), "every request batched once"
for k in ev.get("kernel", []) + ev.get("copy", []):
    b = batches[k["batch"]]
    assert b["start_ns"] <= k["start_ns"] <= k["end_ns"] <= b["end_ns"], "device work inside its batch"
gpu = meta["backend"] == "gpu"
assert bool(ev.get("copy")) == gpu, "copies only on the GPU backend"
# the device runs one batch at a time
w = sorted((b["start_ns"], b["end_ns"]) for b in batches.values())
assert all(a[1] <= b[0] for a, b in zip(w, w[1:])), "batches overlap"
print(name, "ok:", len(reqs), "requests,", len(batches), "batches")
PY
done

# The batch window runs from the first member's end of preprocessing (its queue span's start), not
# from its arrival (docs/synth.md, step 4), and --help says so: a batch that is neither full nor
# held for the busy device starts exactly W after its first member was ready.
"$bin" synth --requests 300 --rate 50 --gpu --batch-window-ms 4 > "$tmp/w.jsonl"
python3 - "$tmp/w.jsonl" <<'PY' || fail=1
import json, sys
objs = [json.loads(l) for l in open(sys.argv[1])]
queue = {o["id"]: o["start_ns"] for o in objs if o["ev"] == "stage" and o["stage"] == "queue"}
arrival = {o["id"]: o["arrival_ns"] for o in objs if o["ev"] == "request"}
batches = sorted((o for o in objs if o["ev"] == "batch"), key=lambda b: b["start_ns"])
w = 4_000_000
from_ready = from_arrival = 0
for prev, b in zip(batches, batches[1:]):
    if len(b["requests"]) == 16 or prev["end_ns"] >= b["start_ns"]:
        continue
    first = min(b["requests"], key=lambda m: queue[m])
    from_ready += b["start_ns"] - queue[first] == w
    from_arrival += b["start_ns"] - arrival[first] == w
assert from_ready > 10 and from_arrival == 0, (from_ready, from_arrival)
PY
"$bin" synth --help | grep -A1 -- '--batch-window-ms' | grep -q 'is ready' ||
  { echo "FAIL: synth --help: the batch window is not said to start when the first request is ready" >&2; fail=1; }
exit $fail
