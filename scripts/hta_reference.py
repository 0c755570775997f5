#!/usr/bin/env python3
"""HTA's temporal breakdown and idle-time breakdown of a Kineto trace, by the rules stated in
shared/data/kineto/README.md and docs/analysis.md section 4 ("HTA rounding"), in plain Python with no
dependency: a second, independent computation to cross-check `servprof analyze --hta-compat` (it gives
exactly the README's reference figures for the six HTA traces).

Rules: float timestamps are rounded, start up (ceil) and end down (floor of ts + dur), so a sub-us event
can end 1 us before it starts; times shift so the earliest event is 0; with two or more ProfilerStep#N
ranges, runtime calls at or after the start of the last one are dropped, then GPU events whose
correlation matches no kept call; GPU events are kernels, memcpy, memset and syncs with a stream.
kernel_time, idle, compute and non_compute come from HTA's interval merge, which keeps negative
durations; the idle breakdown measures each gap on a stream from the previous event's end.

Usage: scripts/hta_reference.py TRACE.json[.gz] ...
"""
import gzip
import json
import math
import sys

GPU_CATS = {"kernel", "gpu_memcpy", "gpu_memset", "cuda_sync", "Kernel", "Memcpy", "Memset"}
RUNTIME_CATS = {"cuda_runtime", "cuda_driver", "Runtime", "Driver"}


def load(path):
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rt") as f:
        doc = json.load(f)
    events = doc["traceEvents"] if isinstance(doc, dict) else doc
    rounded = any(isinstance(e.get("ts"), float) for e in events)
    out = []
    for e in events:
        if "ts" not in e:
            continue
        ts, dur = e["ts"], e.get("dur", 0)
        start, end = (math.ceil(ts), math.floor(ts + dur)) if rounded else (ts, ts + dur)
        out.append((e, start, end))
    return out


def merge(intervals):
    """HTA's merge: by start, a new group where a start exceeds every earlier end; returns the summed
    group lengths (negative durations kept), the first start and the last group's end."""
    intervals = sorted(intervals)          # ties: the earlier end (a negative event) first
    total, reach, first, gs, ge = 0, None, None, None, None
    for s, e in intervals:
        if gs is None or s > reach:
            if gs is not None:
                total += ge - gs
            gs, ge = s, e
            first = s if first is None else first
        else:
            ge = max(ge, e)
        reach = e if reach is None else max(reach, e)
    if gs is not None:
        total += ge - gs
    return total, first, ge


def breakdown(path):
    events = load(path)
    origin = min(s for _, s, _ in events)
    steps = [s for e, s, _ in events if e.get("ph") == "X" and str(e.get("name", "")).startswith("ProfilerStep#")]
    last_step = max(steps) if len(steps) >= 2 else None
    gpu, launch = [], {}
    for e, s, end in events:
        if e.get("ph") != "X":
            continue
        args = e.get("args") or {}
        cat = e.get("cat")
        if cat in RUNTIME_CATS and args.get("correlation"):
            if last_step is not None and s >= last_step:
                continue
            launch.setdefault(args["correlation"], s - origin)
        elif cat in GPU_CATS:
            stream = args.get("stream", e.get("tid"))
            if stream == -1:
                continue
            gpu.append(dict(s=s - origin, e=end - origin, cat=cat, name=e.get("name", ""), stream=stream,
                            corr=args.get("correlation")))
    if last_step is not None:
        gpu = [g for g in gpu if g["corr"] in launch]
    if not gpu:
        print("%s: no GPU events (HTA has no breakdown to give)" % path)
        return
    merged, first, last = merge([(g["s"], g["e"]) for g in gpu])
    compute, _, _ = merge([(g["s"], g["e"]) for g in gpu if g["cat"] in ("kernel", "Kernel")
                           and "nccl" not in g["name"].lower()])
    kernel_time = last - first
    idle = kernel_time - merged
    print("%s: kernel_time %d idle %d compute %d non_compute %d (us); %d GPU events, %d end before they start"
          % (path, kernel_time, idle, compute, kernel_time - compute - idle, len(gpu),
             sum(1 for g in gpu if g["e"] < g["s"])))
    for stream in sorted({g["stream"] for g in gpu if g["cat"] != "cuda_sync"}, key=str):
        evs = sorted((g for g in gpu if g["stream"] == stream and g["cat"] != "cuda_sync"),
                     key=lambda g: (g["s"], g["e"]))
        cats = {"host_wait": 0, "kernel_wait": 0, "other": 0}
        for prev, g in zip(evs, evs[1:]):
            gap = g["s"] - prev["e"]
            if gap <= 0:
                continue
            ts_launch = launch.get(g["corr"])
            cat = ("host_wait" if ts_launch is not None and ts_launch > prev["e"]
                   else "kernel_wait" if gap < 30 else "other")
            cats[cat] += gap
        print("  stream %s: host_wait %d kernel_wait %d other %d" % (stream, cats["host_wait"], cats["kernel_wait"],
                                                                  cats["other"]))


if __name__ == "__main__":
    if len(sys.argv) < 2:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    for p in sys.argv[1:]:
        breakdown(p)
