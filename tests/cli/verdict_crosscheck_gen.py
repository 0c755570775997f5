#!/usr/bin/env python3
"""Writes a varied servprof.events/1 JSONL trace of a continuously batching (generation) service for
verdict_crosscheck.sh: `servprof synth` simulates only a dynamic batcher on one device, so the traces
its verdicts are checked on would never reach the generation queue's fixes, two devices, named stages,
uncovered time (`other`) or rejections. Every knob is drawn from the seed (random.Random, whose
random() is the same on every Python 3), so a seed names one trace.

The service (deliberately simple; what matters is that the verdict's rules meet varied tables):
replicas (1 or 2 devices), each with a scheduler of at most S running sequences; a request arrives
(Poisson at `load` x the rough capacity), preprocesses (a `preprocess` span, or a named stage, or no
span at all for a fraction of requests: `other`), waits (`queue`) until its replica admits it, runs a
prefill step and then one decode step per further output token; each step is host work, an optional
h2d copy, kernels with launch gaps, an optional d2h copy; tokens leave through a short `stream` span;
`postprocess` ends the request. A bounded waiting line rejects (503) what does not fit.

With --close, the trace is instead one of the close cases the verdict's cut-offs meet: 20 identical
requests, each alone in its batch (as tests/unit/test_verdict_table.c builds them), so that every
share of p95 is exactly a stage's per-mille of one request's life; the seed picks a rule (the 5-point
level band, the 10% list cut, the 10-point model margin, the 50% useful-kernel threshold, the 10% gap
and padding thresholds, a percent at .5) and puts a candidate 0.1 to 0.6 points on either side of it.

With --no-device, the trace is SEED's without its kernel and copy lines: steps and no device activity,
as a span-only export or a hand-written trace has them (docs/generation.md, "Verdicts").

Run as: verdict_crosscheck_gen.py [--close | --no-device] SEED > trace.jsonl
"""
import json
import math
import random
import sys


def close_case(seed):
    """A close case's lines (see the module's comment): per-mille shapes of one request's life."""
    R = random.Random(seed)
    d = R.choice([-6, -5, -4, -3, -2, -1, 1, 2, 3, 4, 5, 6])  # per-mille: 0.1 to 0.6 points off the cut
    rule = R.choice(["level", "list", "margin", "model", "gap", "padding", "half"])
    q = R.randrange(250, 450)
    shape = {"queue": 0, "useful": 0, "padding": 0, "gap": 0, "postprocess": 0}
    if rule == "level":      # a runner-up 5 points behind the leader, or just inside or outside
        shape.update(queue=q, useful=q - 50 + d)
    elif rule == "list":     # a later candidate at 10%
        shape.update(queue=q, useful=R.randrange(150, 220), postprocess=100 + d)
    elif rule == "margin":   # useful kernel 10 points behind the leader
        shape.update(queue=q, useful=q - 100 + d)
    elif rule == "model":    # useful kernel leading at 50%
        shape.update(useful=500 + d, queue=R.randrange(150, 499))  # from 445 on: level with it
    elif rule == "gap":      # useful kernel leads; gap at 10%
        shape.update(useful=R.randrange(500, 700), gap=100 + d)
    elif rule == "padding":  # useful kernel leads; padding at 10%
        shape.update(useful=R.randrange(500, 700), padding=100 + d)
    else:                    # leader and useful kernel each at x.5 points
        shape.update(queue=2 * (q // 2) + 1, useful=2 * ((q - 120) // 2) + 1)
    shape["queue"] = max(shape["queue"], 0)
    used = sum(shape.values())
    if used > 1000:          # keep the life at 1000 per-mille
        shape["queue"] -= used - 1000
    # the rest of the life in named stages of at most 9% each: never the leader, listed or level
    rest = 1000 - sum(shape.values())
    pieces = []
    while rest > 0:
        pieces.append(min(rest, 90))
        rest -= pieces[-1]
    unit = 1000                              # ns per per-mille: a life of 1 ms
    lines = [{"ev": "meta", "format": "servprof.events/1", "properties": {"close_case": "%s %+d" % (rule, d)}}]
    for i in range(20):
        t = 1000000 + i * 2000 * unit
        rid = "c%02d" % i
        at = t
        lines.append({"ev": "request", "id": rid, "arrival_ns": t, "done_ns": t + 1000 * unit})
        for j, w in enumerate(pieces):
            lines.append({"ev": "stage", "id": rid, "stage": "work%d" % j, "start_ns": at, "end_ns": at + w * unit})
            at += w * unit
        lines.append({"ev": "stage", "id": rid, "stage": "queue", "start_ns": at, "end_ns": at + shape["queue"] * unit})
        at += shape["queue"] * unit
        k = shape["useful"] + shape["padding"]
        b_end = at + (k + shape["gap"]) * unit
        # waste = padding / kernel: padded tokens k, effective k - padding (DESIGN 5)
        lines.append({"ev": "batch", "batch": i + 1, "requests": [rid], "start_ns": at, "end_ns": b_end,
                      "effective_tokens": max(k - shape["padding"], 0), "padded_tokens": max(k, 1)})
        if k:
            lines.append({"ev": "kernel", "batch": i + 1, "name": "k", "stream": 0, "start_ns": at,
                          "end_ns": at + k * unit})
        lines.append({"ev": "stage", "id": rid, "stage": "postprocess", "start_ns": b_end,
                      "end_ns": t + 1000 * unit})
    return lines


def main(argv):
    if argv[1] == "--close":
        for o in close_case(int(argv[2])):
            sys.stdout.write(json.dumps(o, separators=(",", ":")) + "\n")
        return 0
    no_device = argv[1] == "--no-device"
    seed = int(argv[2] if no_device else argv[1])
    R = random.Random(seed)

    def u(a, b):
        return a + (b - a) * R.random()

    def exp(mean):
        return -mean * math.log(1.0 - R.random())

    replicas = 1 if R.random() < 0.6 else 2
    max_seqs = R.choice([1, 2, 4, 8, 16])
    n_req = R.randrange(40, 160)
    load = u(0.2, 1.6)                        # offered load relative to a rough capacity
    pad_to = R.choice([1, 1, 16, 64])
    per_token_ns = u(200, 3000)               # prefill kernel time per padded token
    decode_ns = u(20e3, 400e3)                # a decode step's kernel time per sequence
    launch_gap = u(1e3, 60e3)                 # between kernels
    host_ns = u(5e3, 300e3)                   # host work at a step's start (gap)
    sched_ns = u(5e3, 500e3)                  # between steps
    copies = R.random() < 0.6
    pre_named = R.random() < 0.25             # the CPU work before queuing under its own name
    pre_missing = R.choice([0.0, 0.0, 0.3, 1.0])  # requests with no span before queuing: other
    pre_ns = u(10e3, 3e6)
    post_ns = u(5e3, 1e6)
    stream_ns = u(2e3, 200e3)
    out_mean = R.choice([1, 2, 4, 8])
    prompt_med = R.choice([16, 64, 256])
    line_cap = R.choice([None, None, 4, 16])  # waiting line per replica; None: unbounded
    props = {}
    if R.random() < 0.5:
        props["policy.max_num_seqs"] = max_seqs
    if R.random() < 0.3:
        props["service"] = "servprof-serve"

    # rough capacity: sequences per second of one replica at full occupancy
    step_est = host_ns + sched_ns + decode_ns * max_seqs + launch_gap * 3
    seq_est = step_est * (out_mean + 1) / max_seqs + prompt_med * per_token_ns
    rate = load * replicas / max(seq_est, 1.0) * 1e9

    ev = []
    t = 1e9
    reqs = []
    for i in range(n_req):
        t += exp(1e9 / rate)
        prompt = max(1, min(1024, int(prompt_med * 2 ** u(-1.5, 1.5))))
        out = max(1, int(exp(out_mean)) + 1)
        reqs.append({"id": "g%d" % i, "arrival": int(t), "prompt": prompt, "out": out, "rep": i % replicas})
    for r in reqs:
        r["ready"] = r["arrival"] + int(pre_ns * u(0.5, 1.5))

    batch_id = 0
    for rep in range(replicas):
        mine = [r for r in reqs if r["rep"] == rep]
        waiting, running = [], []
        k = 0
        clock = mine[0]["ready"] if mine else 0
        while k < len(mine) or waiting or running:
            # arrivals up to now join the line, or are rejected when it is full
            while k < len(mine) and mine[k]["ready"] <= clock:
                r = mine[k]
                k += 1
                if line_cap is not None and len(waiting) >= line_cap:
                    r["rejected"] = True
                    r["done"] = r["ready"] + 1000
                    continue
                waiting.append(r)
            if not waiting and not running:
                clock = mine[k]["ready"]
                continue
            admit = []
            while waiting and len(running) + len(admit) < max_seqs:
                admit.append(waiting.pop(0))
            start = clock
            members = [(r, "decode", 1) for r in running] + [(r, "prefill", r["prompt"]) for r in admit]
            for r in admit:
                r["admitted"] = start
            eff = sum(m[2] for m in members)
            longest = max(m[2] for m in members)
            padded = sum(m[2] for m in members if m[1] == "decode") + \
                sum(-(-longest // pad_to) * pad_to for m in members if m[1] == "prefill")
            batch_id += 1
            at = start + int(host_ns * u(0.5, 1.5))
            acts = []
            if copies:
                e = at + int(2e3 + padded * 4)
                acts.append({"ev": "copy", "batch": batch_id, "kind": "h2d", "bytes": padded * 8, "start_ns": at,
                             "end_ns": e, "device": rep})
                at = e
            work = padded * per_token_ns * sum(1 for m in members if m[1] == "prefill") / max(1, len(admit)) \
                if admit else 0
            work += decode_ns * len(running)
            for j in range(3):
                at += int(launch_gap * u(0.5, 1.5))
                e = at + max(1000, int(work / 3 * u(0.9, 1.1)))
                acts.append({"ev": "kernel", "batch": batch_id, "name": "k%d" % j, "stream": 0, "start_ns": at,
                             "end_ns": e, "device": rep})
                at = e
            if copies:
                e = at + int(2e3 + len(members) * 500)
                acts.append({"ev": "copy", "batch": batch_id, "kind": "d2h", "bytes": len(members) * 64,
                             "start_ns": at, "end_ns": e, "device": rep})
                at = e
            end = at + 1000
            ev.append({"ev": "step", "batch": batch_id, "requests": [m[0]["id"] for m in members],
                       "phases": [m[1] for m in members], "tokens": [m[2] for m in members], "start_ns": start,
                       "end_ns": end, "padded_tokens": padded, "device": rep})
            ev.extend(acts)
            still = []
            for r, _, _ in members:
                idx = r.setdefault("emitted", 0)
                # tokens leave in order: a chunk never overtakes the one before it
                s_end = max(end + int(stream_ns * u(0.5, 1.5)), r.get("last_token", 0) + 1)
                r["last_token"] = s_end
                ev.append({"ev": "stage", "id": r["id"], "stage": "stream", "start_ns": end, "end_ns": s_end})
                ev.append({"ev": "token", "id": r["id"], "index": idx, "time_ns": s_end})
                r["emitted"] = idx + 1
                if r["emitted"] >= r["out"]:
                    r["post"] = s_end
                    r["done"] = s_end + int(post_ns * u(0.5, 1.5))
                else:
                    still.append(r)
            running = still
            clock = end + int(sched_ns * u(0.5, 1.5))

    out = [{"ev": "meta", "format": "servprof.events/1", "properties": props, "price_per_hour": 4.0}]
    for r in reqs:
        if r.get("rejected"):
            out.append({"ev": "request", "id": r["id"], "arrival_ns": r["arrival"], "done_ns": r["done"],
                        "outcome": "rejected", "status": 503})
            continue
        out.append({"ev": "request", "id": r["id"], "arrival_ns": r["arrival"], "done_ns": r["done"],
                    "input_tokens": r["prompt"], "output_tokens": r["out"]})
        if R.random() >= pre_missing:
            out.append({"ev": "stage", "id": r["id"], "stage": "tokenize" if pre_named else "preprocess",
                        "start_ns": r["arrival"], "end_ns": r["ready"]})
        out.append({"ev": "stage", "id": r["id"], "stage": "queue", "start_ns": r["ready"], "end_ns": r["admitted"]})
        out.append({"ev": "stage", "id": r["id"], "stage": "postprocess", "start_ns": r["post"], "end_ns": r["done"]})
    out.extend(ev)
    w = sys.stdout.write
    for o in out:
        if no_device and o["ev"] in ("kernel", "copy"):
            continue
        w(json.dumps(o, separators=(",", ":")) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
