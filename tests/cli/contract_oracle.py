#!/usr/bin/env python3
"""The contract oracle: random servprof.events/1 traces, their figures recomputed from the design
contract alone, compared with `servprof analyze --json`.

servprof's own tests check the analyzer against hand calculations, against its other C path
(tests/unit/test_analyze_partfast.c) and against simulated ground truth; a misreading of the contract
that both C paths share would pass all of them. This script reads nothing of servprof's C: it
generates small random traces (DESIGN section 9; docs/jsonl-format.md) and recomputes, by the most
naive means, what DESIGN sections 3 to 7 (made precise by docs/analysis.md sections 1 to 5, where
DESIGN leaves a choice to the project) say the report must hold:
- each analysed request's stage times, by classifying every elementary interval of its life (the
  pieces between consecutive endpoints of everything that touches it) with the precedence rules
  written out below, and its padding time (kernel time x its batch's waste);
- the latency and each stage row's p50/p95/p99 (nearest rank on the sorted list), mean, max and total;
  share of p50/p95/p99 (DESIGN 4's window, widened alternately; ties by request id text, DESIGN 8a);
- padding: batches with counts, token totals, waste fraction, per-batch waste p50/p95/max, padding's
  share of p95 and its total;
- the GPU: span, busy, idle, compute, non-compute, counts, and the per-stream idle breakdown;
- with client records (in the server's file, or a file of their own on another clock): the clock
  offset and its bounds (DESIGN 8a), each request's network time and end-to-end life, and the
  server's and the client's latency;
- cost: window, bill, per request, the per-state split (per device, each elementary interval's state)
  and each request's apportioned cost;
- outcomes (each outcome's count and own latency, the rejection rate) and batch sizes.
Exact rationals throughout (fractions.Fraction); each report figure is compared under the rounding
docs/report-format.md documents (exact us with three decimals from integer ns; shares %.6g; money
%.9g; request cost in whole nano-dollars). The first difference is printed with the seed and the
trace is saved.

Run as: contract_oracle.py BINARY [--seeds A:B] [--out DIR] [--doctor] [--big N] [--keep-going]
  --big N: also one serving-shaped trace of N requests (from 65,536 the analyzer uses two threads).
  --doctor: after the run, change one figure of each family (stage times, percentiles, shares,
  padding, GPU, cost) by one unit of its last printed digit in a copy of a report, and fail unless
  the comparison catches every one (so a comparison that cannot fail does not pass).
Stdlib only (Debian python3 3.11).
"""
import argparse
import bisect
import json
import os
import random
import subprocess
import sys
from fractions import Fraction as F

BUILTIN = ["queue", "preprocess", "h2d", "kernel", "gap", "d2h", "postprocess"]
ROW_NAMES = set(BUILTIN) | {"other", "network"}
KIND_ORDER = ["kernel", "h2d", "d2h", "d2d", "memset", "other"]  # include/servprof/events.h, sp_act_kind
KERNEL_LIKE = {"kernel", "d2d", "memset"}  # DESIGN 3 (d2d); analysis.md section 1 (memset)
NS_PER_HOUR = 3600 * 10**9
KERNEL_WAIT_NS = 30000  # HTA's kernel_wait cut (analysis.md section 4)


# ---------------------------------------------------------------------------------------------
# Trace generation (DESIGN 9)

def gen_trace(seed):
    """A random trace as a dict of lists; times are small multiples of a unit so that ties, touching
    and nesting are common."""
    R = random.Random(seed)
    unit = R.choice([1, 7, 500, 1000, 1000])
    horizon = R.randrange(40, 200)
    T = lambda k: k * unit
    n_req = R.randrange(1, 41)
    tr = {"price": None, "requests": [], "spans": [], "batches": [], "acts": [], "unit": unit}
    if R.random() < 0.7:
        tr["price"] = R.choice([4.0, 1000.0, 123456.0, 1e6, 0.0])
    id_style = R.choice(["r", "int", "mixed"])
    ids = []
    for i in range(n_req):
        if id_style == "r":
            rid = "r%d" % R.randrange(0, 60)
        elif id_style == "int":
            rid = str(R.randrange(0, 120))
        else:
            # byte order: upper case before lower, digits before letters, UTF-8 (bytes >= 0x80) last
            rid = R.choice(["a", "b", "B", "r", "r1", "r10", "r2", "x_", "10", "9", "\u00e9", "z\u00fc", "\u65e5"]) + \
                str(R.randrange(0, 5))
        if rid in ids:
            continue
        ids.append(rid)
    tie_lives = [R.randrange(1, 40) for _ in range(3)]
    all_zero = R.random() < 0.03  # every life 0: share windows of no latency
    for rid in ids:
        a = R.randrange(0, horizon)
        life = R.choice(tie_lives) if R.random() < 0.4 else R.randrange(0, 60)
        if R.random() < 0.05 or all_zero:
            life = 0
        req = {"id": rid, "arrival": T(a), "done": T(a + life), "outcome": "ok", "status": None,
               "input_tokens": None, "gen_done": T(a + life)}
        if R.random() < 0.7:
            req["input_tokens"] = R.choice([0, 1, 5, 17, 64, R.randrange(0, 300)])
        u = R.random()
        if u < 0.06:
            req["outcome"], req["status"] = "rejected", 503
        elif u < 0.10:
            req["outcome"], req["status"] = "error", 500
        elif u < 0.13:
            req["outcome"], req["status"] = "cancelled", 499
        elif u < 0.15:
            req["outcome"], req["done"] = "unfinished", None
        tr["requests"].append(req)
        names = ["preprocess", "queue", "postprocess", "tokenize", "detok", "queue", "preprocess"]
        if R.random() < 0.1:
            names += ["gap", "other", "kernel"]
        if R.random() < 0.05:
            names += ["network"]
        if R.random() < 0.1:
            names += ["Zeta", "alpha", "a.b", "A", "\u00e9tape", "zz", "\u00c9"]
        for _ in range(R.choice([0, 1, 2, 3, 3, 4, 5])):
            s = a + R.randrange(-8, life + 8)
            ln = R.choice([0, 1, 2, R.randrange(0, 30)])
            s = max(s, 0)
            tr["spans"].append({"id": rid, "stage": R.choice(names), "start": T(s), "end": T(s + ln)})
        # touching spans: preprocess ends where queue begins
        if R.random() < 0.3 and life >= 2:
            m = a + R.randrange(0, life)
            tr["spans"].append({"id": rid, "stage": "preprocess", "start": T(a), "end": T(m)})
            tr["spans"].append({"id": rid, "stage": "queue", "start": T(m), "end": T(a + life)})
    reqs = tr["requests"]
    n_batch = R.randrange(0, max(1, len(reqs) + 3))
    bid = R.randrange(0, 5)
    streams = [0] if R.random() < 0.5 else [0, 1]
    devices = [0] if R.random() < 0.6 else [0, 1]
    tr["multi_device"] = len(devices) > 1
    for _ in range(n_batch):
        bid += R.choice([1, 1, 2, 7])
        anchor = R.choice(reqs)
        a, d = anchor["arrival"] // unit, anchor["gen_done"] // unit
        s = R.randrange(a - 3, d + 3) if R.random() < 0.85 else R.randrange(0, horizon + 40)
        s = max(s, 0)
        ln = R.choice([0, 1, 3, R.randrange(1, 40), R.randrange(1, 40)])
        members = {anchor["id"]}
        for _ in range(R.choice([0, 0, 1, 2, 3])):
            members.add(R.choice(reqs)["id"])
        b = {"id": bid, "members": sorted(members, key=lambda x: R.random()), "start": T(s), "end": T(s + ln),
             "eff": None, "pad": None, "device": R.choice(devices)}
        if R.random() < 0.7:
            pad = R.choice([0, 1, 16, 64, R.randrange(1, 200)])
            b["pad"] = pad
            b["eff"] = R.randrange(0, pad + 1)
            if R.random() < 0.08:  # one count without the other: no token counts
                b[R.choice(["pad", "eff"])] = None
        tr["batches"].append(b)
        for _ in range(R.choice([0, 1, 2, 3, 4, 5])):
            kind = R.choice(["kernel", "kernel", "kernel", "h2d", "d2h", "d2d", "memset", "other"])
            ks = s + R.randrange(-3, ln + 3)
            ks = max(ks, 0)
            kl = R.choice([0, 1, 2, R.randrange(0, 25)])
            act = {"kind": kind, "stream": R.choice(streams), "start": T(ks), "end": T(ks + kl),
                   "batch": bid if R.random() < 0.6 else None, "device": b["device"],
                   "name": R.choice(["gemm", "softmax", "ncclAllReduce", "gemm"])}
            if R.random() < 0.15:  # untied on any device; tied by id yet run on another device
                act["device"] = R.choice(devices)
            tr["acts"].append(act)
    # continuous batching: a request in several batches (a chain of steps)
    steps = R.random() < 0.3  # as generation `step` records (docs/jsonl-format.md), each a batch
    if reqs and R.random() < 0.5:
        for _ in range(R.randrange(1, 4)):
            r = R.choice(reqs)
            a, d = r["arrival"] // unit, r["gen_done"] // unit
            t = R.randrange(a, d + 1)
            for _ in range(R.randrange(1, 5)):
                bid += 1
                ln = R.randrange(1, 6)
                others = {x["id"] for x in R.sample(reqs, min(len(reqs), R.randrange(0, 3)))}
                b = {"id": bid, "members": sorted(others | {r["id"]}), "start": T(t), "end": T(t + ln),
                     "eff": None, "pad": None, "device": R.choice(devices)}
                if R.random() < 0.6:
                    b["pad"] = R.randrange(1, 50)
                    b["eff"] = R.randrange(0, b["pad"] + 1)
                if steps:
                    b["step_tokens"] = [R.choice([1, 1, 1, R.randrange(1, 40)]) for _ in b["members"]]
                    b["phases"] = [R.choice(["decode", "prefill", "prefill_chunk"]) for _ in b["members"]]
                    b["eff"] = sum(b["step_tokens"])
                    b["pad"] = None if R.random() < 0.3 else b["eff"] + R.choice([0, 0, 3, 17])
                tr["batches"].append(b)
                if R.random() < 0.8:
                    tr["acts"].append({"kind": "kernel", "stream": R.choice(streams), "start": T(t),
                                       "end": T(t + R.randrange(0, ln + 1)), "batch": bid, "name": "decode",
                                       "device": b["device"]})
                t += ln + R.choice([-1, 0, 0, 1, 2])
                t = max(t, 0)
    # device work outside every window, untied
    for _ in range(R.choice([0, 0, 1, 2])):
        ks = R.randrange(0, horizon + 60)
        tr["acts"].append({"kind": R.choice(["kernel", "h2d", "memset"]), "stream": R.choice(streams),
                           "start": T(ks), "end": T(ks + R.randrange(0, 10)), "batch": None, "name": "stray",
                           "device": R.choice(devices)})
    # a long idle stretch on a stream (the idle breakdown's `other`)
    if R.random() < 0.3:
        ks = (horizon + 100) * unit + 40000
        tr["acts"].append({"kind": "kernel", "stream": streams[-1], "start": ks, "end": ks + 5 * unit,
                           "batch": None, "name": "late", "device": devices[-1]})
    add_launches(tr, R, unit)
    return tr


def add_launches(tr, R, unit):
    """Host launch calls (`launch` records) joined to device work on correlation id: some activity has
    one, some two calls with its id, some an id no call has; a call may end after its work started."""
    tr["launches"] = []
    if R.random() < 0.4:
        return
    corr = R.choice([-1, R.randrange(1, 1000)])  # from -1: the first id is 0
    for a in tr["acts"]:
        a["correlation"] = None
        if R.random() < 0.4:
            continue
        corr += R.choice([1, 1, 5]) if corr >= 0 else 1
        a["correlation"] = corr
        for _ in range(R.choice([1, 1, 1, 1, 0, 2])):
            s0 = max(0, a["start"] - R.choice([0, 1, 3, 20, 100]) * unit)
            tr["launches"].append({"name": R.choice(["cudaLaunchKernel", "cudaMemcpyAsync", "cuLaunchKernel"]),
                                   "correlation": corr, "start": s0, "end": s0 + R.choice([0, 1, 2, 9]) * unit})


def add_clients(tr, seed, shift=0):
    """Client records (docs/jsonl-format.md `client`) in the server's own file: one clock, offset 0
    (analysis.md "Client merge", same_trace). Some requests get one; a few get two (the one sent first
    joins), a transport error (never joined) or none; one record names no request."""
    R = random.Random(seed * 13 + 5)
    tr["clients"] = []
    unit = tr["unit"]
    for r in tr["requests"]:
        if r["done"] is None or R.random() < 0.2:
            continue
        send = max(0, r["arrival"] - R.choice([0, 1, 2, 5, 40]) * unit)
        if R.random() < 0.05:
            send = r["arrival"] + unit  # sent after the server got it (a violation: the life widens)
        cdone = r["done"] + R.choice([0, 1, 3, 9]) * unit
        c = {"id": r["id"], "intended": max(0, send - R.choice([0, 0, 2]) * unit), "send": send,
             "done": max(cdone, send), "status": r["status"] or 200}
        if R.random() < 0.05:
            c["status"] = -1  # transport error: no latency observed, not joined
        tr["clients"].append(c)
        if R.random() < 0.07:  # a duplicate sent later: not joined
            tr["clients"].append(dict(c, send=c["send"] + unit, done=c["done"] + 5 * unit, intended=c["send"] + unit))
    if R.random() < 0.3:
        tr["clients"].append({"id": "stray-client", "intended": 0, "send": 0, "done": 10, "status": 200})
    # a client file of its own: its clock runs `shift` ns ahead of the server's
    tr["client_shift"] = shift
    for c in tr["clients"]:
        for k in ("intended", "send", "done"):
            c[k] += shift


def gen_mix(seed, n_req=None):
    """A serving-shaped trace: requests that preprocess, queue, ride in one batch (a few in a second),
    postprocess; batches of several members one after another with h2d, kernels (often more than four
    pieces), d2h; most activity tied by id, some by window. The shape servprof's shortcuts take (one
    batch per request, a batch's window sums kept for its next member), with the odd request cut
    short, without spans, or in a second batch."""
    R = random.Random(seed)
    unit = R.choice([1, 100, 1000])
    n = n_req or R.randrange(20, 600)
    tr = {"price": R.choice([None, 2.5, 1e5]), "requests": [], "spans": [], "batches": [], "acts": [],
          "multi_device": False}
    t = 0
    bid = 0
    pending = []
    max_b = R.choice([1, 2, 4, 8, 16])
    streams = [0] if R.random() < 0.5 else [0, 1]

    def run_batch(t_start, members):
        nonlocal bid
        bid += 1
        tok = [m["input_tokens"] if m["input_tokens"] is not None else R.randrange(1, 64) for m in members]
        k = R.randrange(0, 9)
        t_end = t_start + R.randrange(1, 4)
        acts = [("h2d", t_start, t_end)]
        for _ in range(k):
            g = R.choice([0, 0, 1, 3])
            ln = R.randrange(0, 12)
            acts.append((R.choice(["kernel", "kernel", "kernel", "memset"]), t_end + g, t_end + g + ln))
            t_end += g + ln
        acts.append(("d2h", t_end, t_end + R.randrange(0, 3)))
        t_end = max(t_end + R.randrange(0, 4), acts[-1][2])
        b = {"id": bid, "members": [m["id"] for m in members], "start": t_start * unit, "end": t_end * unit,
             "eff": None, "pad": None, "device": 0}
        if R.random() < 0.8:
            b["eff"] = sum(tok)
            b["pad"] = len(tok) * max(tok) + R.choice([0, 0, 8])
        tr["batches"].append(b)
        tied = R.random() < 0.8
        for kind, s0, e0 in acts:
            tr["acts"].append({"kind": kind, "stream": R.choice(streams), "start": s0 * unit, "end": e0 * unit,
                               "batch": bid if tied or R.random() < 0.5 else None, "device": 0, "name": "k%d" % (s0 % 3)})
        return t_end

    for i in range(n):
        t += R.choice([0, 1, 1, 2, 5, 20])
        pre = R.randrange(0, 6)
        r = {"id": "m%d" % i, "arrival": t * unit, "done": None, "outcome": "ok", "status": None,
             "input_tokens": R.choice([None, R.randrange(1, 128), R.randrange(1, 128)]), "pre": pre}
        if R.random() < 0.03:
            r["outcome"], r["status"] = "rejected", 503
        tr["requests"].append(r)
        pending.append(r)
        if len(pending) >= max_b or R.random() < 0.3:
            bstart = max(t + max(m["pre"] for m in pending), getattr(run_batch, "free", 0)) + R.randrange(0, 3)
            bend = run_batch(bstart, pending)
            run_batch.free = bend if R.random() < 0.8 else bstart + 1  # sometimes overlapping windows
            for m in pending:
                a = m["arrival"] // unit
                post = R.randrange(0, 5)
                m["done"] = (bend + post) * unit
                if R.random() < 0.05:  # the response left before the window closed: the window is cut
                    m["done"] = max(a, bend - R.randrange(1, 3)) * unit
                if R.random() < 0.07 and m is pending[-1]:  # a second batch for this one
                    b2 = run_batch(bend + R.randrange(0, 3), [m])
                    m["done"] = (b2 + post) * unit
                if R.random() < 0.92:
                    tr["spans"].append({"id": m["id"], "stage": "preprocess", "start": a * unit, "end": (a + m["pre"]) * unit})
                    tr["spans"].append({"id": m["id"], "stage": "queue", "start": (a + m["pre"]) * unit, "end": bstart * unit})
                    tr["spans"].append({"id": m["id"], "stage": "postprocess", "start": bend * unit,
                                       "end": max(m["done"], bend * unit)})
            pending = []
            t = max(t, bstart)
    for r in tr["requests"]:
        if r["done"] is None:
            r["done"] = r["arrival"]
            r["outcome"], r["status"] = "cancelled", 499
        r["gen_done"] = r["done"]
    return tr


def write_jsonl(tr, path, seed, client_path=None, order=0):
    R = random.Random(seed * 7 + 1 + 1000003 * order)
    lines = []
    meta = {"ev": "meta", "format": "servprof.events/1", "clock": "monotonic"}
    if tr["price"] is not None:
        meta["price_per_hour"] = tr["price"]
    lines.append(meta)
    for r in tr["requests"]:
        o = {"ev": "request", "id": r["id"], "arrival_ns": r["arrival"]}
        if r["done"] is not None:
            o["done_ns"] = r["done"]
        if r["input_tokens"] is not None:
            o["input_tokens"] = r["input_tokens"]
        if r["outcome"] != "ok":
            o["outcome"] = r["outcome"]
            o["status"] = r["status"]
        lines.append(o)
    for s in tr["spans"]:
        lines.append({"ev": "stage", "id": s["id"], "stage": s["stage"], "start_ns": s["start"], "end_ns": s["end"]})
    for b in tr["batches"]:
        o = {"ev": "batch", "batch": b["id"], "requests": b["members"], "start_ns": b["start"], "end_ns": b["end"]}
        if b.get("step_tokens"):
            o.update(ev="step", phases=b["phases"], tokens=b["step_tokens"])
        if b["pad"] is not None:
            o["padded_tokens"] = b["pad"]
        if b["eff"] is not None:
            o["effective_tokens"] = b["eff"]
        if tr["multi_device"]:
            o["device"] = b["device"]
        lines.append(o)
    for a in tr["acts"]:
        if a["kind"] == "kernel":
            o = {"ev": "kernel", "name": a["name"], "stream": a["stream"], "start_ns": a["start"], "end_ns": a["end"]}
        else:
            o = {"ev": "copy", "kind": a["kind"], "bytes": 64, "stream": a["stream"], "start_ns": a["start"],
                 "end_ns": a["end"]}
        if a["batch"] is not None:
            o["batch"] = a["batch"]
        if tr["multi_device"]:
            o["device"] = a["device"]
        if a.get("correlation") is not None:
            o["correlation"] = a["correlation"]
        lines.append(o)
    for c in tr.get("launches", []):
        lines.append({"ev": "launch", "name": c["name"], "correlation": c["correlation"], "start_ns": c["start"],
                      "end_ns": c["end"]})
    clines = []
    for c in tr.get("clients", []):
        clines.append({"ev": "client", "id": c["id"], "intended_ns": c["intended"], "send_ns": c["send"],
                       "done_ns": c["done"], "status": c["status"]})
    if client_path is None:
        lines += clines
        clines = []
    R.shuffle(lines)  # DESIGN 9: lines may come in any order
    raw = seed % 2 == 0  # UTF-8 as it is, or \u escapes
    with open(path, "w", encoding="utf-8") as f:
        for o in lines:
            f.write(json.dumps(o, ensure_ascii=not raw) + "\n")
    if client_path is not None:
        with open(client_path, "w", encoding="utf-8") as f:
            for o in [{"ev": "meta", "format": "servprof.events/1"}] + clines:
                f.write(json.dumps(o) + "\n")


def combine(trs):
    """The traces of several files as one event set: ids are separate per file (docs/jsonl-format.md),
    so requests are keyed (file, id), batches (file, id) and devices (file, device); one clock. The
    price is the first file's (analysis.md section 5)."""
    out = {"price": trs[0]["price"], "requests": [], "spans": [], "batches": [], "acts": [],
           "multi_device": any(t["multi_device"] for t in trs), "clients": {}}
    assert len(trs) == 1 or not any(t.get("clients") for t in trs)  # one file's clock only
    for t in trs[:1]:
        # the joined record of each request: the one sent first, then answered first, then intended
        # first; transport errors never join (analysis.md "Client merge")
        for c in sorted(t.get("clients", []), key=lambda c: (c["send"], c["done"], c["intended"])):
            if c["status"] >= 0 and any(r["id"] == c["id"] and r["done"] is not None for r in t["requests"]):
                out["clients"].setdefault((0, c["id"]), dict(c))
        if out["clients"]:  # clock.offsets: one per (client file, server file) pair that joined
            # DESIGN 8a, analysis.md "Clock offset": each usable pair bounds theta = server - client;
            # the middle of the intersection, rounded down; client times mapped to t + theta, floored
            # at 0. Client records in the server's own file share its clock: theta 0, bounds reported.
            by_id = {r["id"]: r for r in t["requests"]}
            lo = hi = None
            for (_, rid), c in out["clients"].items():
                r = by_id[rid]
                if r["done"] >= r["arrival"] and c["done"] >= c["send"]:
                    lo = r["done"] - c["done"] if lo is None else max(lo, r["done"] - c["done"])
                    hi = r["arrival"] - c["send"] if hi is None else min(hi, r["arrival"] - c["send"])
            theta = 0
            if t.get("client_file"):
                theta = 0 if lo is None else (lo + hi) // 2
                COVER["client file on its own clock"] += 1
            COVER["clock offset bounds conflict"] += lo is not None and lo > hi
            out["offset"] = {"lower": lo, "upper": hi, "theta": theta, "pairs": len(out["clients"]),
                             "source": "estimated" if t.get("client_file") else "same_trace"}
            for c in out["clients"].values():
                for k in ("intended", "send", "done"):
                    c[k] = max(0, c[k] + theta)
    out["trace_end"] = {}
    for f, t in enumerate(trs):
        # the file's last time of any server-side record (analysis.md section 0a, "Unfinished")
        out["trace_end"][f] = max([x for r in t["requests"] for x in (r["arrival"], r["done"]) if x is not None] +
                                  [x for y in t["spans"] + t["batches"] + t["acts"] + t.get("launches", [])
                                   for x in (y["start"], y["end"])])
        for r in t["requests"]:
            out["requests"].append(dict(r, key=(f, r["id"]), file=f))
        for x in t["spans"]:
            out["spans"].append(dict(x, key=(f, x["id"])))
        for b in t["batches"]:
            out["batches"].append(dict(b, id=(f, b["id"]), members=[(f, m) for m in b["members"]], device=(f, b["device"])))
        # each activity's launch call: the one with its correlation id in its file that started first,
        # then ended first, then the smaller name (analysis.md section 4)
        calls = {}
        for c in t.get("launches", []):
            calls.setdefault(c["correlation"], []).append(c)
        for a in t["acts"]:
            # correlation id 0 joins nothing: servprof reads it as no id (CUPTI's ids start at 1); the
            # question is in docs/analysis.md section 10
            COVER["correlation id 0"] += a.get("correlation") == 0
            cs = calls.get(a.get("correlation"), []) if a.get("correlation") else []
            call = min(cs, key=lambda c: (c["start"], c["end"], c["name"].encode()), default=None)
            out["acts"].append(dict(a, batch=None if a["batch"] is None else (f, a["batch"]), device=(f, a["device"]),
                                    launch=call))
    return out


# ---------------------------------------------------------------------------------------------
# The contract, computed naively

# How often each rule decided an elementary interval over the run: a rule the traces never reach is
# not checked, so main() fails when one stays at 0.
COVER = dict.fromkeys([
    "overlapping own batches (the earlier holds)", "kernel under a copy", "h2d and d2h together",
    "untied activity in a window", "activity tied by id outside its window", "memset or d2d as kernel",
    "other copy as gap", "nested or overlapping spans", "equal-start spans (earliest end wins)",
    "queue between batches", "other (uncovered)", "span outside the life", "span named like a row",
    "named stage", "network row", "padding in a kernel", "latency ties", "cost: kernel outside any window",
    "cost: overlapping windows on a device", "two devices", "outcomes all", "unfinished request",
    "zero-life share window", "idle breakdown other", "nccl kernel (not compute)", "two files",
    "client record joined", "client file on its own clock", "clock offset bounds conflict",
    "request cost: members' tokens all 0", "batch with one token count", "generation step",
    "tied by id on another device", "launch joined", "idle breakdown host_wait", "correlation id 0",
    "line order", "span before the arrival, after the send"], 0)


def covers(iv, t):
    return iv["start"] <= t < iv["end"]


def rank_k(xx, n):
    """DESIGN 4: nearest rank k = (XX x n + 99) / 100 in integers, at least 1."""
    return max(1, (xx * n + 99) // 100)


def pct(values, xx):
    v = sorted(values)
    return v[rank_k(xx, len(v)) - 1]


def ceil_div(a, b):
    return -((-a) // b)


def share_window(n, xx):
    """DESIGN 4 (analysis.md section 2): 1-based ranks lo..hi."""
    lo = ceil_div((xx - 1) * n, 100)
    hi = n if xx == 99 else ceil_div((xx + 1) * n, 100)
    lo = min(max(lo, 1), n)
    hi = min(max(hi, 1), n)
    want = min(20, n)
    below = True
    while hi - lo + 1 < want:
        if (below and lo > 1) or hi >= n:
            lo -= 1
        else:
            hi += 1
        below = not below
    return lo, hi


def batch_acts(tr):
    """Each batch's device activity (DESIGN 2/3, analysis.md section 1): tied by id, or untied, on the
    batch's device and overlapping its window by at least 1 ns."""
    out = {b["id"]: [] for b in tr["batches"]}
    dev = {b["id"]: b["device"] for b in tr["batches"]}
    untied = []
    for a in tr["acts"]:
        if a["batch"] is not None:
            out[a["batch"]].append(a)
            COVER["tied by id on another device"] += a["device"] != dev[a["batch"]]
        else:
            untied.append(a)
    # untied activity by start, so that a batch looks only at those that start before its end and
    # late enough to reach its start (the longest activity bounds how early that is)
    untied.sort(key=lambda a: a["start"])
    starts = [a["start"] for a in untied]
    longest = max((a["end"] - a["start"] for a in untied), default=0)
    for b in tr["batches"]:
        lo = bisect.bisect_left(starts, b["start"] - longest)
        hi = bisect.bisect_left(starts, b["end"])
        out[b["id"]] += [a for a in untied[lo:hi]
                         if a["device"] == b["device"] and a["start"] < b["end"] and a["end"] > b["start"]]
    return out


def waste_of(b):
    """analysis.md section 3: batches with effective >= 0 and padded > 0; waste clamped to [0, 1]."""
    w = b.get("waste")
    if w is None:
        w = b["waste"] = waste_calc(b)
    return w


def has_counts(b):
    """A batch has token counts when it gives both, padded > 0 (analysis.md section 3)."""
    return b["pad"] is not None and b["eff"] is not None and b["pad"] > 0


def waste_calc(b):
    if not has_counts(b):
        return F(0)
    w = 1 - F(b["eff"], b["pad"])
    return min(max(w, F(0)), F(1))


def inside_stage(acts, t):
    kinds = {a["kind"] for a in acts if covers(a, t)}
    if kinds & KERNEL_LIKE:
        return "kernel"
    if "h2d" in kinds:
        return "h2d"
    if "d2h" in kinds:
        return "d2h"
    return "gap"


def request_stages(r, spans, mine, acts, pieces=None):
    """One request's stage times (ns) and padding time (Fraction ns), DESIGN 3 by elementary intervals.
    mine: the batches it belongs to; acts: each batch's activity. pieces: a list that, when given,
    receives each elementary interval as (start, end, stage, owning batch or None, padding time, whether
    a span named it), for
    the generation oracle (tests/cli/generation_oracle.py), which takes the pieces inside its windows."""
    a, d = r["arrival"], r["done"]
    mine = sorted(mine, key=lambda b: (b["start"], b["id"]))
    pts = {a, d}
    for s in spans:
        pts.update((s["start"], s["end"]))
    for b in mine:
        pts.update((b["start"], b["end"]))
        for x in acts[b["id"]]:
            pts.update((x["start"], x["end"]))
    pts = sorted(p for p in pts if a <= p <= d)
    # the batch windows clipped to the life: the first start and last end of those not empty
    clipped = [(max(b["start"], a), min(b["end"], d)) for b in mine]
    clipped = [c for c in clipped if c[0] < c[1]]
    first = min((c[0] for c in clipped), default=None)
    last = max((c[1] for c in clipped), default=None)
    times = {}
    padding = F(0)
    for t0, t1 in zip(pts, pts[1:]):
        ln = t1 - t0
        owner = next((b for b in mine if covers(b, t0)), None)  # earliest (start, id) holds an overlap
        pad_piece = F(0)
        spanned = False
        if owner is not None:
            if sum(covers(b, t0) for b in mine) > 1:
                COVER["overlapping own batches (the earlier holds)"] += 1
            st = inside_stage(acts[owner["id"]], t0)
            cov_acts = [x for x in acts[owner["id"]] if covers(x, t0)]
            kinds = {x["kind"] for x in cov_acts}
            if "kernel" in kinds and kinds & {"h2d", "d2h"}:
                COVER["kernel under a copy"] += 1
            if {"h2d", "d2h"} <= kinds and not kinds & KERNEL_LIKE:
                COVER["h2d and d2h together"] += 1
            if kinds & {"memset", "d2d"} and "kernel" not in kinds:
                COVER["memset or d2d as kernel"] += 1
            if kinds == {"other"}:
                COVER["other copy as gap"] += 1
            if any(x["batch"] is None for x in cov_acts):
                COVER["untied activity in a window"] += 1
            if any(x["batch"] == owner["id"] and not (owner["start"] <= x["start"] and x["end"] <= owner["end"])
                   for x in cov_acts):
                COVER["activity tied by id outside its window"] += 1
            if st == "kernel":
                pad_piece = ln * waste_of(owner)
                padding += pad_piece
                if waste_of(owner):
                    COVER["padding in a kernel"] += 1
        else:
            cov = [s for s in spans if covers(s, t0)]
            spanned = bool(cov)
            if len(cov) > 1:
                COVER["nested or overlapping spans"] += 1
                if len({s["start"] for s in cov}) < len(cov):
                    COVER["equal-start spans (earliest end wins)"] += 1
            if cov:
                # analysis.md section 1: latest recorded start, then earliest end, then smaller name
                st = min(cov, key=lambda s: (-s["start"], s["end"], s["stage"].encode()))["stage"]
            elif first is not None and first <= t0 < last:
                st = "queue"
                COVER["queue between batches"] += 1
            else:
                st = "other"
                COVER["other (uncovered)"] += 1
            if cov and cov[0]["stage"] in ("kernel", "gap", "other", "h2d", "d2h"):
                COVER["span named like a row"] += 1
        times[st] = times.get(st, 0) + ln
        if pieces is not None:
            pieces.append((t0, t1, st, owner, pad_piece, spanned))
    return times, padding


def spans_before(spans, send, arrival):
    """analysis.md "End-to-end": with a client record, the request's own spans' time in [send, arrival),
    by the overlap rule of section 1 (latest start, earliest end, smaller name): {stage: ns}."""
    pts = sorted({send, arrival} | {p for s in spans for p in (s["start"], s["end"]) if send < p < arrival})
    out = {}
    for t0, t1 in zip(pts, pts[1:]):
        if t1 > arrival:
            break
        cov = [s for s in spans if covers(s, t0)]
        if cov:
            st = min(cov, key=lambda s: (-s["start"], s["end"], s["stage"].encode()))["stage"]
            out[st] = out.get(st, 0) + t1 - t0
            COVER["span before the arrival, after the send"] += 1
    return out


def interval_union(ivs):
    ivs = sorted((s, e) for s, e in ivs if e > s)
    tot, cur_s, cur_e = 0, None, None
    for s, e in ivs:
        if cur_e is None or s > cur_e:
            if cur_e is not None:
                tot += cur_e - cur_s
            cur_s, cur_e = s, e
        else:
            cur_e = max(cur_e, e)
    if cur_e is not None:
        tot += cur_e - cur_s
    return tot


def oracle(tr, scope_all=False, price_default=4.0):
    """Every compared figure, exact, keyed like the JSON report. scope_all: --outcomes all (every
    finished request is analysed; analysis.md section 0a), else the ok ones."""
    exp = {}
    scope = ("ok", "rejected", "error", "cancelled") if scope_all else ("ok",)
    reqs = [r for r in tr["requests"] if r["outcome"] in scope]
    n = len(reqs)
    spans_of = {}
    for s in tr["spans"]:
        spans_of.setdefault(s["key"], []).append(s)
    # every request by outcome, each with its own latency (DESIGN 8a, analysis.md section 0a): the life
    # (client-observed with a joined client record), for unfinished ones from arrival to their file's end
    exp["outcomes"] = {"total": len(tr["requests"]), "by": {}}
    for oc in ("ok", "rejected", "error", "cancelled", "unfinished"):
        lv = []
        for r in tr["requests"]:
            if r["outcome"] != oc:
                continue
            if oc == "unfinished":
                lv.append(tr["trace_end"][r["file"]] - r["arrival"])
                continue
            life = r["done"] - r["arrival"]
            c = tr["clients"].get(r["key"])
            if c is not None:
                life += max(0, r["arrival"] - c["send"]) + max(0, c["done"] - r["done"])
            lv.append(life)
        exp["outcomes"]["by"][oc] = lv
    # batches: count and members per batch (in requests)
    exp["batch_sizes"] = [len(set(b["members"])) for b in tr["batches"]]
    COVER["outcomes all"] += scope_all
    COVER["unfinished request"] += any(r["outcome"] == "unfinished" for r in tr["requests"])
    COVER["two devices"] += tr["multi_device"]
    COVER["span outside the life"] += any(s["start"] < r["arrival"] or s["end"] > r["done"]
                                          for r in reqs for s in spans_of.get(r["key"], []))
    acts_of = batch_acts(tr)
    batches_of = {}
    for b in tr["batches"]:
        for m in set(b["members"]):
            batches_of.setdefault(m, []).append(b)
    per = []
    for r in reqs:
        times, padding = request_stages(r, spans_of.get(r["key"], []), batches_of.get(r["key"], []), acts_of)
        life = r["done"] - r["arrival"]
        c = tr["clients"].get(r["key"])
        if c is not None:
            # analysis.md "Client merge", "End-to-end": the life runs from the earlier of send and arrival
            # to the later of the client's done and done; the time outside [arrival, done] is network,
            # less what the request's own spans cover of [send, arrival), which is their stages'
            out = max(0, r["arrival"] - c["send"]) + max(0, c["done"] - r["done"])
            before = spans_before(spans_of.get(r["key"], []), c["send"], r["arrival"])
            for st, ln in before.items():
                times[st] = times.get(st, 0) + ln
            times["network"] = times.get("network", 0) + out - sum(before.values())
            life += out
            COVER["client record joined"] += 1
        per.append({"r": r, "life": life, "times": times, "padding": padding,
                    "server": r["done"] - r["arrival"], "client": None if c is None else c["done"] - c["intended"]})
    named = sorted({s["stage"] for r in reqs for s in spans_of.get(r["key"], []) if s["stage"] not in ROW_NAMES},
                   key=lambda x: x.encode())
    network = any(s["stage"] == "network" for r in reqs for s in spans_of.get(r["key"], [])) or \
        any(r["key"] in tr["clients"] for r in reqs)
    rows = BUILTIN + (["network"] if network else []) + named + ["other"]
    exp["requests.count"] = n
    COVER["named stage"] += bool(named)
    COVER["network row"] += "network" in rows
    COVER["latency ties"] += len(set(p["life"] for p in per)) < n
    lives = [p["life"] for p in per]
    if n:
        exp["latency"] = {"p50": pct(lives, 50), "p95": pct(lives, 95), "p99": pct(lives, 99),
                          "mean": F(sum(lives), n), "min": min(lives), "max": max(lives), "count": n}
    # ranking for share windows: life, then id text (bytes), then arrival (DESIGN 8a)
    servers = [p["server"] for p in per]
    clients = [p["client"] for p in per if p["client"] is not None]
    if n:
        exp["server_latency"] = {"p50": pct(servers, 50), "p95": pct(servers, 95), "p99": pct(servers, 99),
                                 "mean": F(sum(servers), n), "min": min(servers), "max": max(servers), "count": n}
    exp["with_client_record"] = len(clients)
    exp["has_client"] = bool(tr["clients"])
    exp["offset"] = tr.get("offset")
    if clients:
        exp["client_latency"] = {"p50": pct(clients, 50), "p95": pct(clients, 95), "p99": pct(clients, 99),
                                 "mean": F(sum(clients), len(clients)), "min": min(clients), "max": max(clients),
                                 "count": len(clients)}
    ranked = sorted(per, key=lambda p: (p["life"], p["r"]["id"].encode(), p["r"]["arrival"], p["r"]["file"]))
    wins = {xx: share_window(n, xx) for xx in (50, 95, 99)} if n else {}

    def share(get, xx):
        lo, hi = wins[xx]
        w = ranked[lo - 1:hi]
        den = sum(p["life"] for p in w)
        # a window whose lives sum to 0 has no share (0/0); servprof writes 0 there: the question is in
        # docs/analysis.md, "Contract oracle", and the comparison takes 0 for it
        if den == 0:
            COVER["zero-life share window"] += 1
            return F(0)
        return F(sum(get(p) for p in w)) / den

    exp["rows"] = []
    for name in rows:
        v = [p["times"].get(name, 0) for p in per]
        row = {"name": name}
        if n:
            row.update(p50=pct(v, 50), p95=pct(v, 95), p99=pct(v, 99), mean=F(sum(v), n), max=max(v), total=sum(v))
            for xx in (50, 95, 99):
                row["share_%d" % xx] = share(lambda p: p["times"].get(name, 0), xx)
        exp["rows"].append(row)
    if n:
        exp["other_share_of_p95"] = share(lambda p: p["times"].get("other", 0), 95)
    # padding (DESIGN 5, analysis.md section 3)
    counted = [b for b in tr["batches"] if has_counts(b)]
    COVER["batch with one token count"] += sum((b["pad"] is None) != (b["eff"] is None) for b in tr["batches"])
    pad = {"batches": len(counted)}
    if counted:
        E = sum(b["eff"] for b in counted)
        P = sum(b["pad"] for b in counted)
        wastes = [waste_of(b) for b in counted]
        pad.update(effective_tokens=E, padded_tokens=P, waste_fraction=1 - F(E, P), waste_p50=pct(wastes, 50),
                   waste_p95=pct(wastes, 95), waste_max=max(wastes),
                   padding_total=sum((p["padding"] for p in per), F(0)))
        if n:
            pad["share_of_p95"] = share(lambda p: p["padding"], 95)
    exp["padding"] = pad
    # GPU (DESIGN 6, analysis.md section 4)
    acts = tr["acts"]
    gpu = {"present": bool(acts), "kernels": sum(a["kind"] == "kernel" for a in acts),
           "copies": sum(a["kind"] in ("h2d", "d2h", "d2d", "other") for a in acts),
           "memsets": sum(a["kind"] == "memset" for a in acts)}
    if acts:
        busy = interval_union((a["start"], a["end"]) for a in acts)
        span = max(a["end"] for a in acts) - min(a["start"] for a in acts)
        compute = interval_union((a["start"], a["end"]) for a in acts
                                 if a["kind"] == "kernel" and "nccl" not in a["name"].lower())
        COVER["nccl kernel (not compute)"] += any("nccl" in a["name"].lower() and a["end"] > a["start"] for a in acts)
        gpu.update(span=span, busy=busy, idle=span - busy, compute=compute, non_compute=busy - compute)
        rows_b = []
        for dev, st in sorted({(a["device"], a["stream"]) for a in acts}, key=lambda x: (x[0][1], x[1], x[0][0])):
            # the order of section 7, "Ties" (start, end, kind in include/servprof/events.h's order,
            # file, device, stream, correlation id, bytes, name, batch id (untied first)): which of two
            # events that start together comes first decides whose launch a gap meets. Where an event
            # without a correlation id goes the docs do not say: as id 0, as servprof has it (first, as
            # untied batch ids go); copies have no name in JSONL
            ev = sorted((a for a in acts if a["stream"] == st and a["device"] == dev),
                        key=lambda a: (a["start"], a["end"], KIND_ORDER.index(a["kind"]),
                                       a.get("correlation") or 0,
                                       a["name"].encode() if a["kind"] == "kernel" else b"",
                                       (0,) if a["batch"] is None else (1, a["batch"])))
            hw = kw = oth = 0
            prev = None
            for a in ev:
                if prev is not None and a["start"] - prev > 0:
                    g = a["start"] - prev
                    if a["launch"] is not None and a["launch"]["start"] > prev:
                        hw += g  # the host launched it only after the stream ran dry
                        COVER["idle breakdown host_wait"] += 1
                    elif g < KERNEL_WAIT_NS:
                        kw += g
                    else:
                        oth += g
                        COVER["idle breakdown other"] += 1
                prev = a["end"] if prev is None else max(prev, a["end"])
            rows_b.append({"device": dev[1], "stream": st, "host_wait": hw, "kernel_wait": kw, "other": oth})
        gpu["idle_breakdown"] = rows_b
        # launch statistics (DESIGN 6, analysis.md section 4): delay = GPU start - launch end, floored
        # at 0, over the joined device work
        joined = [a for a in acts if a["launch"] is not None]
        delays = [max(0, a["start"] - a["launch"]["end"]) for a in joined]
        gpu["launch"] = {"joined": len(joined), "delays": delays, "delay_sum": sum(delays),
                         "cpu_sum": sum(a["launch"]["end"] - a["launch"]["start"] for a in joined),
                         "gpu_sum": sum(a["end"] - a["start"] for a in joined),
                         "short_kernels": sum(1 for a in joined if a["kind"] == "kernel" and
                                              a["end"] - a["start"] < a["launch"]["end"] - a["launch"]["start"])}
        COVER["launch joined"] += len(joined)
    exp["gpu"] = gpu
    exp["cost"] = cost(tr, reqs, price_default)
    return exp


def cost(tr, reqs, price_default):
    """DESIGN 7, analysis.md section 5: one device (JSONL without `device`), each elementary interval
    of the window in one state."""
    c = {}
    price = F(tr["price"]) if tr["price"] else F(price_default)
    c["price_per_hour"] = price
    # a trace price of 0 counts as none (servprof's reading: analysis.md section 5 says "when > 0" only
    # of --price-per-hour; the question is in docs/analysis.md section 10)
    c["price_is_default"] = not tr["price"]
    acts = tr["acts"]
    # the window's requests are the analysed ones (report-format.md: every cost figure covers them;
    # DESIGN 7 says only "the profiled window": see the question in docs/analysis.md, "Contract oracle")
    starts = [r["arrival"] for r in reqs] + [a["start"] for a in acts]
    ends = [r["done"] for r in reqs] + [a["end"] for a in acts]
    if not starts:
        return c
    w0, w1 = min(starts), max(ends)
    window = w1 - w0
    c["window"] = window
    if window <= 0:
        return c
    bill = price * window / NS_PER_HOUR
    c["bill"] = bill
    devices = sorted({b["device"] for b in tr["batches"]} | {a["device"] for a in acts})
    states = {k: F(0) for k in ("useful", "padding", "copies", "gap", "no_batch")}
    batches = sorted(tr["batches"], key=lambda b: (b["start"], b["id"]))
    held = {b["id"]: 0 for b in batches}
    by_bid = {b["id"]: b for b in batches}
    for dev in devices:
        # a sweep over the device's elementary intervals: at each endpoint the activities and windows
        # that start there enter and those that end there leave, so an interval sees exactly those
        # that cover it (an empty one enters and leaves at once)
        items = [("act", a) for a in acts if a["device"] == dev] + [("batch", b) for b in batches if b["device"] == dev]
        at = {}
        for kind, x in items:
            at.setdefault(x["start"], []).append((+1, kind, x))
            at.setdefault(x["end"], []).append((-1, kind, x))
        pts = sorted(set(at) | {w0, w1})
        count = dict.fromkeys(("kernel", "h2d", "d2h", "d2d", "memset", "other"), 0)
        open_b = set()
        for t0, t1 in zip(pts, pts[1:]):
            for step, kind, x in at.get(t0, []):
                if kind == "act":
                    count[x["kind"]] += step
                elif step > 0:
                    open_b.add(x["id"])
                else:
                    open_b.discard(x["id"])
            if t0 < w0 or t1 > w1:
                continue
            ln = t1 - t0
            kinds = {k for k, v in count.items() if v > 0}
            # analysis.md section 5: where windows overlap the earlier-starting batch holds the device
            holder = min((by_bid[i] for i in open_b), key=lambda b: (b["start"], b["id"]), default=None)
            if holder is not None:
                held[holder["id"]] += ln
                if len(open_b) > 1:
                    COVER["cost: overlapping windows on a device"] += 1
            if kinds & KERNEL_LIKE:
                if holder is None:
                    COVER["cost: kernel outside any window"] += 1
                    states["useful"] += ln
                else:
                    w = waste_of(holder)
                    states["padding"] += ln * w
                    states["useful"] += ln * (1 - w)
            elif kinds & {"h2d", "d2h", "other"}:
                states["copies"] += ln
            elif holder is not None:
                states["gap"] += ln
            else:
                states["no_batch"] += ln
    if devices:
        shares = {k: v / (window * len(devices)) for k, v in states.items()}
    else:
        shares = {k: F(0) for k in states}
        shares["no_batch"] = F(1)
    c["by_state_share"] = shares
    c["by_state"] = {k: bill * v for k, v in shares.items()}
    n = len(reqs)
    if n:
        c["per_request"] = bill / n
        c["per_request_by_state"] = {k: bill * v / n for k, v in shares.items()}
        # per-request cost: each batch's held device time, priced per device-ns, split by input tokens
        rate = bill / (window * max(len(devices), 1))
        by_id = {r["key"]: r for r in tr["requests"]}
        rc = {r["key"]: F(0) for r in reqs}
        for b in batches:
            mem = [by_id[m] for m in b["members"] if m in by_id]
            if not mem or not held[b["id"]]:
                continue
            toks = [m["input_tokens"] for m in mem]
            money = rate * held[b["id"]]
            if b.get("step_tokens"):
                # a generation step: by each member's tokens in that step (analysis.md section 5)
                COVER["generation step"] += 1
                toks = b["step_tokens"]
                parts = [money * t / sum(toks) for t in toks]
            elif any(t is None for t in toks) or sum(toks) == 0:
                # equally when a count is unknown (analysis.md section 5); all 0: no proportion to
                # take, and servprof splits equally as well
                COVER["request cost: members' tokens all 0"] += sum(toks) == 0 if None not in toks else 0
                parts = [money / len(mem)] * len(mem)
            else:
                parts = [money * t / sum(toks) for t in toks]
            for m, p in zip(mem, parts):
                if m["key"] in rc:
                    rc[m["key"]] += p
        c["request_cost_exact"] = rc  # by request key (the generation oracle divides it by output tokens)
        nano = [round_half_away(v * 10**9) for v in rc.values()]
        # a cost within a millionth of a nano-dollar of a half may round either way from a double
        halves = sum(1 for v in rc.values() if is_near_half(v * 10**9))
        c["request_cost_nano"] = {"p50": pct(nano, 50), "p95": pct(nano, 95), "p99": pct(nano, 99),
                                  "mean": F(sum(nano), len(nano)), "min": min(nano), "max": max(nano),
                                  "count": len(nano), "exact": sorted(rc.values()),
                                  "mean_lo": F(sum(nano) - halves, len(nano)), "mean_hi": F(sum(nano), len(nano))}
    return c


def round_half_away(x):
    f = x.numerator // x.denominator
    return f + 1 if x - f >= F(1, 2) else f


# ---------------------------------------------------------------------------------------------
# Comparison under the report's documented rounding

class Mismatch(Exception):
    pass


def dec(s):
    """JSON numbers are parsed to exact rationals (the decimal the report wrote)."""
    return F(s)


def us_exact(key, rep, ns):
    """docs/report-format.md: times are us with three decimals, exact from integer ns (signed for
    clock offsets)."""
    if rep is None or rep * 1000 != ns:
        raise Mismatch("%s: report %s us, contract %s ns" % (key, fmt(rep), ns))


def us_mean(key, rep, ns):
    """A mean: a double written with three decimals; within half a ns of the exact mean."""
    if rep is None or abs(rep * 1000 - ns) > F(1, 2) + F(1, 10**6):
        raise Mismatch("%s: report %s us, contract %s ns (%.4f)" % (key, fmt(rep), ns, float(ns)))


def sig(key, rep, x, digits, slack=F(1, 10**9)):
    """A number written %.<digits>g from a double: within half a unit of its last digit."""
    if x is None:
        if rep is not None:
            raise Mismatch("%s: report %s, contract null" % (key, fmt(rep)))
        return
    if rep is None:
        raise Mismatch("%s: report null, contract %.9g" % (key, float(x)))
    if x == 0:
        if rep != 0:
            raise Mismatch("%s: report %s, contract 0" % (key, fmt(rep)))
        return
    m = max(abs(rep), abs(x))
    e = 0
    while F(10) ** e > m:
        e -= 1
    while F(10) ** (e + 1) <= m:
        e += 1
    half = F(10) ** (e - digits + 1) / 2
    if abs(rep - x) > half * (1 + slack) + abs(x) * F(1, 10**13):
        raise Mismatch("%s: report %s, contract %.12g" % (key, fmt(rep), float(x)))


def eq(key, rep, x):
    if rep != x:
        raise Mismatch("%s: report %s, contract %s" % (key, fmt(rep), x))


def fmt(v):
    if isinstance(v, F):
        return "%.9g" % float(v)
    return repr(v)


def compare(exp, rep):
    """Raises Mismatch at the first figure that differs; returns the number of figures compared."""
    k = [0]

    def chk(fn, *a):
        k[0] += 1
        fn(*a)

    chk(eq, "requests.count", rep["requests"]["count"], exp["requests.count"])
    for key, ek in (("latency_us", "latency"), ("server_latency_us", "server_latency"),
                    ("client_latency_us", "client_latency")):
        lat = rep["requests"][key]
        if ek in exp:
            L = exp[ek]
            for q in ("p50", "p95", "p99", "min", "max"):
                chk(us_exact, "requests.%s.%s" % (key, q), lat[q], L[q])
            chk(us_mean, "requests.%s.mean" % key, lat["mean"], L["mean"])
            chk(eq, "requests.%s.count" % key, lat["count"], L["count"])
    chk(eq, "requests.with_client_record", rep["requests"]["with_client_record"], exp["with_client_record"])
    if exp.get("offset"):
        O, ro = exp["offset"], rep["clock"]["offsets"]
        chk(eq, "clock.offsets (count)", len(ro), 1)
        chk(eq, "clock.offsets[0].source", ro[0]["source"], O["source"] if O["lower"] is not None or
            O["source"] == "same_trace" else "unbounded")
        chk(eq, "clock.offsets[0].pairs", ro[0]["pairs"], O["pairs"])
        chk(us_exact, "clock.offsets[0].offset_us", ro[0]["offset_us"], O["theta"])
        if O["lower"] is not None:
            chk(us_exact, "clock.offsets[0].lower_us", ro[0]["lower_us"], O["lower"])
            chk(us_exact, "clock.offsets[0].upper_us", ro[0]["upper_us"], O["upper"])
            chk(eq, "clock.offsets[0].conflict", ro[0]["conflict"], O["lower"] > O["upper"])
    O, ro = exp["outcomes"], rep["outcomes"]
    chk(eq, "outcomes.total", ro["total"], O["total"])
    if O["total"]:
        chk(sig, "outcomes.rejection_rate", ro["rejection_rate"], F(len(O["by"]["rejected"]), O["total"]), 6)
    for oc, lv in O["by"].items():
        key = "outcomes.by_outcome.%s." % oc
        chk(eq, key + "count", ro["by_outcome"][oc]["count"], len(lv))
        lat = ro["by_outcome"][oc]["latency_us"]
        chk(eq, key + "latency_us.count", lat["count"], len(lv))
        if lv:
            for q, v in (("p50", pct(lv, 50)), ("p95", pct(lv, 95)), ("p99", pct(lv, 99)), ("min", min(lv)),
                         ("max", max(lv))):
                chk(us_exact, key + "latency_us." + q, lat[q], v)
            chk(us_mean, key + "latency_us.mean", lat["mean"], F(sum(lv), len(lv)))
    sz, rb = exp["batch_sizes"], rep["batches"]
    chk(eq, "batches.count", rb["count"], len(sz))
    if sz:
        for q, v in (("p50", pct(sz, 50)), ("p95", pct(sz, 95)), ("p99", pct(sz, 99)), ("min", min(sz)),
                     ("max", max(sz)), ("count", len(sz))):
            chk(eq, "batches.size." + q, rb["size"][q], v)
        chk(sig, "batches.size.mean", rb["size"]["mean"], F(sum(sz), len(sz)), 9)
    names = [r["name"] for r in rep["stages"]]
    chk(eq, "stages[].name", names, [r["name"] for r in exp["rows"]])
    for er, rr in zip(exp["rows"], rep["stages"]):
        key = "stages[%s]." % er["name"]
        if not exp["requests.count"]:
            # no analysed request: the rows are there (analysis.md section 1, "Stage rows and order")
            # with null figures (DESIGN 10: never invented) and nothing summed
            for q in ("p50_us", "p95_us", "p99_us", "mean_us", "max_us", "share_of_p50", "share_of_p95",
                      "share_of_p99"):
                chk(eq, key + q, rr[q], None)
            chk(eq, key + "total_us", rr["total_us"], 0)
            continue
        for q in ("p50", "p95", "p99", "max", "total"):
            chk(us_exact, key + q + "_us", rr[q + "_us"], er[q])
        chk(us_mean, key + "mean_us", rr["mean_us"], er["mean"])
        for xx in (50, 95, 99):
            chk(sig, key + "share_of_p%d" % xx, rr["share_of_p%d" % xx], er["share_%d" % xx], 6)
    if exp["requests.count"]:
        chk(sig, "other_share_of_p95", rep["other_share_of_p95"], exp["other_share_of_p95"], 6)
    P, rp = exp["padding"], rep["padding"]
    C = exp["cost"]
    chk(eq, "padding.batches", rp["batches"], P["batches"])
    if P["batches"]:
        chk(eq, "padding.effective_tokens", rp["effective_tokens"], P["effective_tokens"])
        chk(eq, "padding.padded_tokens", rp["padded_tokens"], P["padded_tokens"])
        for q in ("waste_fraction", "waste_p50", "waste_p95", "waste_max"):
            chk(sig, "padding." + q, rp[q], P[q], 6)
        if "share_of_p95" in P:
            chk(sig, "padding.share_of_p95", rp["share_of_p95"], P["share_of_p95"], 6)
        if C.get("window"):
            # DESIGN 5: padding's share of the GPU bill, the padding state of section 7
            chk(sig, "padding.share_of_bill", rp["share_of_bill"], C["by_state_share"]["padding"], 6)
        # the total is a sum of doubles rounded to a whole ns: within half a ns (and a double's error)
        tot = P["padding_total"]
        k[0] += 1
        if rp["padding_us_total"] is None or rp["padding_us_total"] * 1000 != round_half_away(tot) and \
                abs(rp["padding_us_total"] * 1000 - tot) > F(1, 2) + tot * F(1, 10**12):
            raise Mismatch("padding.padding_us_total: report %s us, contract %.6f ns" %
                           (fmt(rp["padding_us_total"]), float(tot)))
    G, rg = exp["gpu"], rep["gpu"]
    chk(eq, "gpu.present", rg["present"], G["present"])
    for q in ("kernels", "copies", "memsets"):
        chk(eq, "gpu." + q, rg[q], G[q])
    if G["present"]:
        for q in ("span", "busy", "idle", "compute", "non_compute"):
            chk(us_exact, "gpu.%s_us" % q, rg[q + "_us"], G[q])
        La, rl = G["launch"], rg["launch"]
        chk(eq, "gpu.launch.joined", rl["joined"], La["joined"])
        if La["joined"]:
            d = La["delays"]
            for q, v in (("p50", pct(d, 50)), ("p95", pct(d, 95)), ("p99", pct(d, 99)), ("min", min(d)), ("max", max(d))):
                chk(us_exact, "gpu.launch.delay_us." + q, rl["delay_us"][q], v)
            chk(us_mean, "gpu.launch.delay_us.mean", rl["delay_us"]["mean"], F(sum(d), len(d)))
            for q in ("delay_sum", "cpu_sum", "gpu_sum"):
                chk(us_exact, "gpu.launch.%s_us" % q, rl[q + "_us"], La[q])
            chk(eq, "gpu.launch.short_kernels", rl["short_kernels"], La["short_kernels"])
        ib = rg["idle_breakdown"]
        chk(eq, "gpu.idle_breakdown[].(device, stream)", [(x["device"], x["stream"]) for x in ib],
            [(x["device"], x["stream"]) for x in G["idle_breakdown"]])
        for er, rr in zip(G["idle_breakdown"], ib):
            for q in ("host_wait", "kernel_wait", "other"):
                chk(us_exact, "gpu.idle_breakdown[device %d stream %d].%s_us" % (er["device"], er["stream"], q),
                    rr[q + "_us"], er[q])
    C, rc = exp["cost"], rep["cost"]
    chk(sig, "cost.price_per_hour", rc["price_per_hour"], C["price_per_hour"], 9)
    chk(eq, "cost.price_is_default", rc["price_is_default"], C["price_is_default"])
    if "window" in C and C["window"] > 0:
        chk(us_exact, "cost.window_us", rc["window_us"], C["window"])
        chk(sig, "cost.bill", rc["bill"], C["bill"], 9)
        for s, v in C["by_state"].items():
            chk(sig, "cost.by_state." + s, rc["by_state"][s], v, 9)
            chk(sig, "cost.by_state_share." + s, rc["by_state_share"][s], C["by_state_share"][s], 6)
        if "per_request" in C:
            chk(sig, "cost.per_request", rc["per_request"], C["per_request"], 9)
            for s, v in C["per_request_by_state"].items():
                chk(sig, "cost.per_request_by_state." + s, rc["per_request_by_state"][s], v, 9)
            N, q = C["request_cost_nano"], rc["request_cost"]
            for x in ("p50", "p95", "p99", "min", "max"):
                # whole nano-dollars rounded from a double: one either side where the exact cost sits
                # within a millionth of a nano-dollar of a half
                k[0] += 1
                got = q[x] * 10**9 if q[x] is not None else None
                if got is None or abs(got - N[x]) > 1 or (got != N[x] and not near_half(N, x)):
                    raise Mismatch("cost.request_cost.%s: report %s, contract %s nano-dollars" % (x, fmt(got), N[x]))
            k[0] += 1
            m = q["mean"] * 10**9 if q["mean"] is not None else None
            if m is None or not (N["mean_lo"] * (1 - F(1, 10**8)) <= m <= N["mean_hi"] * (1 + F(1, 10**8))):
                raise Mismatch("cost.request_cost.mean: report %s, contract %.9g nano-dollars" % (fmt(m), float(N["mean"])))
            chk(eq, "cost.request_cost.count", q["count"], N["count"])
    return k[0]


def is_near_half(y):
    return abs(y - y.numerator // y.denominator - F(1, 2)) < F(1, 10**6)


def near_half(N, x):
    return any(is_near_half(v * 10**9) for v in N["exact"])


# ---------------------------------------------------------------------------------------------

def analyze(binary, paths, scope_all):
    cmd = [binary, "analyze", "--json", "--no-progress"] + (["--outcomes", "all"] if scope_all else []) + paths
    p = subprocess.run(cmd, capture_output=True, text=True, encoding="utf-8")
    if p.returncode != 0:
        raise Mismatch("analyze exited %d: %s" % (p.returncode, p.stderr.strip()[:400]))
    return p.stdout


def load_report(text):
    return json.loads(text, parse_float=dec)


DOCTORS = [
    # (family, what to change): one unit of the figure's last printed digit
    ("stage times", lambda r: bump_us(r["stages"], "total_us")),
    ("percentiles", lambda r: bump_key(r["requests"]["latency_us"], "p95", F(1, 1000))),
    ("shares", lambda r: bump_share(r["stages"], "share_of_p95")),
    ("padding", lambda r: bump_key(r["padding"], "effective_tokens", 1)),
    ("padding share", lambda r: bump_sig(r["padding"], "share_of_p95", 6)),
    ("padding bill", lambda r: bump_sig(r["padding"], "share_of_bill", 6)),
    ("padding time", lambda r: bump_key(r["padding"], "padding_us_total", F(1, 1000))),
    ("GPU", lambda r: bump_key(r["gpu"], "busy_us", F(1, 1000))),
    ("GPU idle breakdown", lambda r: r["gpu"]["idle_breakdown"] and
     bump_key(r["gpu"]["idle_breakdown"][-1], "kernel_wait_us", F(1, 1000))),
    ("cost", lambda r: bump_sig(r["cost"]["by_state"], "gap", 9)),
    ("request cost", lambda r: bump_key(r["cost"]["request_cost"], "p50", F(1, 10**9))),
    ("client latency", lambda r: bump_key(r["requests"]["client_latency_us"] or {}, "p99", F(1, 1000))),
    ("outcome latency", lambda r: bump_key(r["outcomes"]["by_outcome"]["rejected"]["latency_us"], "max", F(1, 1000))),
    ("batch size", lambda r: bump_key(r["batches"]["size"], "p95", 1)),
    ("launch", lambda r: r["gpu"]["launch"]["joined"] > 0 and bump_key(r["gpu"]["launch"], "cpu_sum_us", F(1, 1000))),
    ("clock offset", lambda r: bool(r["clock"]["offsets"]) and bump_key(r["clock"]["offsets"][0], "offset_us", F(1, 1000))),
]


def bump_key(d, k, by):
    if d.get(k) is None:
        return False
    d[k] = d[k] + by
    return True


def bump_us(rows, k):
    for r in rows:
        if r.get(k):
            r[k] += F(1, 1000)
            return True
    return False


def bump_sig(d, k, digits):
    v = d.get(k)
    if not v:
        return False
    e = 0
    while F(10) ** e > v:
        e -= 1
    while F(10) ** (e + 1) <= v:
        e += 1
    d[k] = v + F(10) ** (e - digits + 1)
    return True


def bump_share(rows, k):
    for r in rows:
        if r.get(k):
            return bump_sig(r, k, 6)
    return False


def guards(failed, cover, doctors, kept, compare_fn):
    """The checks that keep an oracle honest, after its runs (shared with generation_oracle.py): when
    nothing failed, every rule of `cover` must have decided something; and each doctored report of
    `doctors` (kept[family] = (expected, doctored report, seed)) must fail `compare_fn`. Returns the
    failure count with these added."""
    if not failed:
        for k, v in cover.items():
            if not v:
                print("FAIL: no trace of the run reached: %s (the generator lost that case)" % k, file=sys.stderr)
                failed += 1
    for fam, _ in doctors:
        if fam not in kept:
            print("FAIL: doctor %s: no trace of the run has the figure to change" % fam, file=sys.stderr)
            failed += 1
            continue
        exp, r2, seed = kept[fam]
        try:
            compare_fn(exp, r2)
            print("FAIL: doctor %s (seed %d): the comparison passes a report changed by one unit" % (fam, seed),
                  file=sys.stderr)
            failed += 1
        except Mismatch as e:
            print("doctored %s (seed %d): caught: %s" % (fam, seed, e))
    return failed


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("binary")
    ap.add_argument("--seeds", default="1:300")
    ap.add_argument("--out", default=".")
    ap.add_argument("--doctor", action="store_true")
    ap.add_argument("--keep-going", action="store_true")
    ap.add_argument("--big", type=int, default=0, help="also one serving mix of this many requests")
    o = ap.parse_args()
    a, b = (int(x) for x in o.seeds.split(":"))
    os.makedirs(o.out, exist_ok=True)
    failed = 0
    figures = 0
    kept = {}  # doctor family -> (exp, report text) of the first trace where it applies
    runs = list(range(a, b + 1))
    if o.big:
        runs.append(-o.big)  # one serving mix of that many requests (two threads from 65,536)
    done = 0
    for seed in runs:
        done += 1
        if seed < 0:
            trs = [gen_mix(7, -seed)]
        elif seed % 5 == 4:
            trs = [gen_mix(seed)]
        elif seed % 7 == 5:  # two files (replicas on one clock): ids, batch ids and devices per file
            trs = [gen_trace(seed), gen_trace(seed + 100000)]
        else:
            trs = [gen_trace(seed)]
            if seed % 4 == 1:
                add_clients(trs[0], seed)
            elif seed % 4 == 3:  # a client file of its own, on a clock of its own
                add_clients(trs[0], seed, random.Random(seed).choice([0, 1, 999, 123456789]))
                trs[0]["client_file"] = True
        paths = []
        for f, tr in enumerate(trs):
            paths.append(os.path.join(o.out, "oracle_%d%s.jsonl" % (seed, "_%d" % f if f else "")))
            cpath = None
            if tr.get("client_file"):
                cpath = os.path.join(o.out, "oracle_%d_client.jsonl" % seed)
            write_jsonl(tr, paths[-1], seed + f, cpath)
            if cpath:
                paths.append(cpath)
        path = " ".join(paths)
        scope_all = seed > 0 and seed % 3 == 0
        try:
            text = analyze(o.binary, paths, scope_all)
            rep = load_report(text)
            COVER["two files"] += len(trs) > 1
            exp = oracle(combine(trs), scope_all)
            figures += compare(exp, rep)
            if seed > 0 and seed % 4 == 2:
                # DESIGN 8a: a report never depends on the order of lines in a file; the same trace
                # shuffled again must give the same report, byte for byte
                for f, tr in enumerate(trs):
                    write_jsonl(tr, paths[f], seed + f, None, order=1)
                if analyze(o.binary, paths, scope_all) != text:
                    raise Mismatch("the report changed when the trace's lines were shuffled again")
                COVER["line order"] += 1
        except Mismatch as e:
            print("FAIL %s: %s (trace kept: %s)" % ("seed %d" % seed if seed >= 0 else "big trace", e, path),
                  file=sys.stderr)
            failed += 1
            if not o.keep_going:
                break
            continue
        if o.doctor:
            for fam, fn in DOCTORS:
                if fam not in kept:
                    r2 = load_report(text)
                    if fn(r2):
                        kept[fam] = (exp, r2, seed)
        for x in paths:
            os.remove(x)
    print("contract oracle: %d of %d runs (seeds %d..%d%s), %d figures compared, %d failed" %
          (done, len(runs), a, b, ", and %d requests in one trace" % o.big if o.big else "", figures, failed))
    print("rules reached (elementary intervals or traces): " +
          ", ".join("%s %d" % (k, v) for k, v in COVER.items()))
    failed = guards(failed, COVER, DOCTORS if o.doctor else [], kept, compare)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
