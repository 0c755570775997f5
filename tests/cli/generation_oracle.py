#!/usr/bin/env python3
"""The generation oracle: random generation traces (servprof.events/1 `step` and `token` records), the
JSON report's `generation` section recomputed from docs/generation.md and docs/analysis.md section 9
alone, compared with `servprof analyze --json` key by key.

The contract oracle (contract_oracle.py, whose helpers this script imports: the DESIGN 3 partition by
elementary intervals, percentiles, share windows, cost states, the comparisons under the report's
rounding) checks the stage table, padding, GPU and cost; this one checks what generation adds:
- the token records: which requests are in the section, without a first token, output tokens (the
  request's `output_tokens` when larger than the last index, else the last index + 1) and their
  distribution; TTFT, TPOT (first to last recorded token over the last index, rounded to the ns,
  halves up), ITL (gaps between consecutive recorded indexes, pooled; a missing record breaks the
  pair), e2e;
- the TTFT and TPOT tables: each request's pieces of DESIGN 3's partition inside [arrival, first
  token) and [first token, last token), a batch piece named by the request's phase in that step (the
  window's phase for a plain batch), `between steps` for DESIGN 3's queue between batch windows, span
  rows (`prefill`/`decode` spans as `(model)` rows, `kernel`/`gap`/`h2d`/`d2h` spans by the window's
  phase), `other`; each row's p50/p95/p99, mean, max, total and share of p50/p95/p99 on the table's
  own distribution (TPOT rows per output token), the rows shown and their order, the padding share;
- with a streaming client (`client` records with `first_token_ns` / `token_ns`): the TTFT window
  from the client's send to its first token (`network` outside the server's window), `ttft_from`, and
  the client's own TTFT, TPOT, ITL and e2e from the intended send time;
- steps (count, with a prefill member, members per step), steps' padding (prefill and decode-only),
  the KV cache (time-weighted use and waste, occupancy p50/p95/max) and cost per output token (the
  bill and each state's part, per request by state, each request's apportioned cost per output token).
- under --lenient, requests with token times outside their life or out of order left out and counted
  (`requests_bad_tokens`); `generation.limits` (which sentences, in order, with their counts).
Exact rationals; the first difference is printed with the seed and the trace is kept.

Run as: generation_oracle.py BINARY [--seeds A:B] [--out DIR] [--doctor] [--keep-going]
  --doctor: change one figure of each family by one unit of its last printed digit in a copy of a
  report, and fail unless the comparison catches every one.
Stdlib only (Debian python3 3.11).
"""
import argparse
import json
import os
import random
import subprocess
import sys
from fractions import Fraction as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import contract_oracle as co  # noqa: E402
from contract_oracle import Mismatch, pct, share_window, us_exact, us_mean, sig, eq, round_half_away  # noqa: E402

DEV = ("kernel", "gap", "h2d", "d2h")
# analysis.md section 9, "Rows shown"
ALWAYS = {"ttft": ["queue", "preprocess", "prefill kernel", "prefill gap", "prefill h2d", "prefill d2h",
                   "between steps", "stream", "other"],
          "tpot": ["decode kernel", "decode gap", "decode h2d", "decode d2h", "between steps", "detokenize",
                   "stream", "other"]}
ORDER = ["queue", "preprocess", "prefill kernel", "prefill gap", "prefill h2d", "prefill d2h", "prefill (model)",
         "decode kernel", "decode gap", "decode h2d", "decode d2h", "decode (model)", "between steps", "detokenize",
         "stream", "postprocess", "network"]

COVER = dict.fromkeys([
    "request without a first token", "request with one token", "missing token record (ITL pair broken)",
    "output_tokens above the records", "output_tokens below the records", "TPOT rounded (not whole ns)",
    "prefill_chunk phase", "mixed step (prefill beside decode)", "plain batch in a window",
    "between steps", "(model) row", "span named like a device row", "named stage row", "other row",
    "decode piece in the TTFT table", "prefill piece in the TPOT table", "padding in a table",
    "step without effective_tokens", "step without padded_tokens", "KV capacity unknown",
    "KV use unknown", "other outcome with tokens", "client first token", "client token times",
    "client without token times", "client sent before its intended time", "network row (client)", "TTFT table ties", "zero-length TTFT window",
    "TPOT share window of no time", "outcomes all", "bad token times (--lenient)",
    "an index twice at two times (--lenient)", "record of a token twice", "two files",
    "KV steps of no duration", "limit: no KV capacity", "limit: no ITL", "limit: (model) rows beside steps",
    "limit: outcomes left out",
    "client first token of a request not analysed", "span before the arrival"], 0)


# ---------------------------------------------------------------------------------------------
# Trace generation (docs/jsonl-format.md: request, stage, step, batch, kernel, copy, token, client)

def gen_trace(seed):
    """A small continuously batching service: requests arrive, preprocess and queue; a scheduler runs
    one step at a time (a random subset of the waiting and running requests: prefill, or chunks of it,
    then one decode per token); a token leaves at its step's end or after a `stream` span; random
    spans, device work, plain batches, missing token records and other outcomes on top."""
    R = random.Random(seed)
    unit = R.choice([1, 3, 7, 1000, 1000000])
    whole = R.random() < 0.06  # responses sent whole: every token of a request leaves at one time
    ends_only = R.random() < 0.05  # only the first and last token of each request recorded (vLLM's spans)
    T = lambda k: k * unit
    tr = {"price": R.choice([None, 4.0, 1000.0, 123456.0]), "requests": [], "spans": [], "batches": [],
          "acts": [], "unit": unit, "multi_device": False}
    ids = []
    for _ in range(R.randrange(1, 19)):
        rid = R.choice(["r", "r", "R", "x", "\u00e9", "10", "9"]) + str(R.randrange(0, 30))
        if rid not in ids:
            ids.append(rid)
    kv_cap = R.choice([0, 64, 100, 4096, None])
    kv_instant = kv_cap and R.random() < 0.06  # only steps that took no time give the KV cache
    names = ["detokenize", "stream", "postprocess", "tokenize", "prefill", "decode", "kernel", "gap",
             "h2d", "d2h", "other", "queue", "preprocess", "Zeta", "\u00e9tape"]
    state = {}
    for rid in ids:
        a = R.randrange(0, 30)
        r = {"id": rid, "arrival": T(a), "done": None, "outcome": "ok", "status": None,
             "input_tokens": R.choice([None, 1, 8, 30]), "gen_done": None, "tokens": [],
             "output_tokens": None}
        tr["requests"].append(r)
        pre = a + R.choice([0, 0, 1, 2])
        if pre > a and R.random() < 0.8:
            tr["spans"].append({"id": rid, "stage": "preprocess", "start": T(a), "end": T(pre)})
        state[rid] = {"ready": pre, "prompt": R.choice([1, 5, 30, 64]), "want": R.choice([1, 1, 2, 3, 5, 8]),
                      "prefilled": 0, "made": 0, "queued": False, "last": pre}
    bid = R.randrange(0, 4)
    t = 0
    chunk = R.choice([None, 8, 16])
    for _ in range(200):
        live = [rid for rid in ids if state[rid]["ready"] <= t and state[rid]["made"] < state[rid]["want"]]
        if not live:
            if all(state[rid]["made"] >= state[rid]["want"] for rid in ids):
                break
            t = min(state[rid]["ready"] for rid in ids if state[rid]["made"] < state[rid]["want"] and
                    state[rid]["ready"] > t)
            continue
        R.shuffle(live)
        mem = live[:R.choice([1, 2, 3, 4, len(live)])]
        phases, toks = [], []
        for rid in mem:
            s = state[rid]
            if not s["queued"]:
                s["queued"] = True
                if t > s["ready"] and R.random() < 0.85:
                    tr["spans"].append({"id": rid, "stage": "queue", "start": T(s["ready"]), "end": T(t)})
            if s["prefilled"] < s["prompt"]:
                n = s["prompt"] - s["prefilled"]
                if chunk and n > chunk:
                    phases.append("prefill_chunk")
                    toks.append(chunk)
                else:
                    phases.append("prefill")
                    toks.append(n)
            else:
                phases.append("decode")
                toks.append(1)
        ln = R.choice([0, 1, 1, 2, 3, 5]) if R.random() < 0.1 else R.choice([1, 2, 3, 4, 6])
        if kv_instant and R.random() < 0.3:
            ln = 0
        bid += R.choice([1, 1, 2])
        eff = sum(toks)
        b = {"id": bid, "members": list(mem), "start": T(t), "end": T(t + ln), "eff": eff,
             "pad": R.choice([None, eff, eff, eff + 3, eff + 17]), "device": 0, "step_tokens": toks,
             "phases": phases, "omit_eff": R.random() < 0.3, "kv_cap": kv_cap, "kv_used": None}
        if kv_cap is not None:
            b["kv_used"] = R.randrange(0, kv_cap + 1) if kv_cap else R.randrange(0, 500)
            if R.random() < 0.1:
                b["kv_used"] = None
            if R.random() < 0.08:
                b["kv_cap"] = 0  # unknown for this step
            if kv_instant and ln:
                b["kv_used"] = None
        tr["batches"].append(b)
        # device work: h2d, kernels with gaps, d2h; some untied in the window
        for _ in range(R.choice([0, 1, 2, 3])):
            kind = R.choice(["kernel", "kernel", "kernel", "h2d", "d2h"])
            s0 = R.randrange(t, t + ln + 1)
            e0 = min(t + ln, s0 + R.randrange(0, 3)) if R.random() < 0.9 else s0 + 2
            tr["acts"].append({"kind": kind, "stream": 0, "start": T(s0), "end": T(e0),
                               "batch": bid if R.random() < 0.8 else None, "device": 0, "name": "k"})
        end = t + ln
        for rid, ph, tk in zip(mem, phases, toks):
            s = state[rid]
            if ph == "prefill_chunk":
                s["prefilled"] += tk
                continue
            s["prefilled"] = s["prompt"]
            # the token of this step leaves at its end or after a stream span (and a detokenize one)
            tt = end
            if R.random() < 0.08:  # sent while its step still runs (the rest of a prefill step is TPOT time)
                tt = R.randrange(t, end + 1)
            if R.random() < 0.3:
                d = R.choice([0, 1])
                tr["spans"].append({"id": rid, "stage": "detokenize", "start": T(tt), "end": T(tt + d)})
                tt += d
            if R.random() < 0.6:
                d = R.choice([0, 1, 2])
                tr["spans"].append({"id": rid, "stage": "stream", "start": T(tt), "end": T(tt + d)})
                tt += d
            s["last"] = max(s["last"], tt)
            r = next(x for x in tr["requests"] if x["id"] == rid)
            r["tokens"].append([s["made"], T(max(tt, r["tokens"][-1][1] // unit if r["tokens"] else 0))])
            s["made"] += 1
        t = end + R.choice([0, 0, 1, 2, 4])
    for r in tr["requests"]:
        s = state[r["id"]]
        done = max(s["last"], r["arrival"] // unit, max((x[1] // unit for x in r["tokens"]), default=0))
        if r["tokens"] and R.random() < 0.5:
            tr["spans"].append({"id": r["id"], "stage": "postprocess", "start": T(done), "end": T(done + 1)})
            done += 1
        done += R.choice([0, 0, 1])
        r["done"] = r["gen_done"] = T(done)
        a = r["arrival"] // unit
        # token records dropped: the first, one inside (ITL pair broken), the last
        toks = r["tokens"]
        u = R.random()
        if toks and u < 0.07:
            toks.pop(0)
        elif len(toks) > 2 and u < 0.15:
            toks.pop(R.randrange(1, len(toks) - 1))
        elif len(toks) > 1 and u < 0.2:
            toks.pop()
        if toks and R.random() < 0.04:
            toks[0][1] = r["arrival"]  # a first token at arrival (a cached answer): a TTFT of 0
        if ends_only and len(toks) > 2:
            del toks[1:-1]
        if whole:
            for x in toks:
                x[1] = toks[-1][1]
        if R.random() < 0.06:
            r["tokens"] = []  # no token records at all (a request of no generation)
        if R.random() < 0.25:
            r["output_tokens"] = R.choice([0, 1, len(toks), len(toks) + 3, 40])
        # random spans anywhere in the life (nested, named like rows, named stages)
        for _ in range(R.choice([0, 0, 1, 2])):
            s0 = R.randrange(a, done + 1)
            tr["spans"].append({"id": r["id"], "stage": R.choice(names), "start": T(s0),
                                "end": T(min(done, s0 + R.randrange(0, 4)))})
        v = R.random()
        if v < 0.05:
            r["outcome"], r["status"] = "error", 500
        elif v < 0.08:
            r["outcome"], r["status"] = "cancelled", 499
    # a plain batch (not a step) over some requests now and then
    for _ in range(R.choice([0, 0, 0, 1, 2])):
        r = R.choice(tr["requests"])
        a, d = r["arrival"] // unit, r["done"] // unit
        s0 = R.randrange(a, d + 1)
        bid += 1
        tr["batches"].append({"id": bid, "members": [r["id"]], "start": T(s0), "end": T(min(d, s0 + 2) + 1),
                              "eff": None, "pad": None, "device": 0})
        tr["acts"].append({"kind": "kernel", "stream": 0, "start": T(s0), "end": T(s0 + 1), "batch": bid,
                           "device": 0, "name": "plain"})
    return tr


def add_clients(tr, seed):
    """Streaming client records in the server's file (offset 0): sent a little before arrival, the
    first token a little after the server's, every token's arrival (or only the first), done after."""
    R = random.Random(seed * 31 + 7)
    R2 = random.Random(seed * 53 + 11)  # the spans before the arrival: R's draws stay as they were
    unit = tr["unit"]
    tr["clients"] = []
    for r in tr["requests"]:
        if R.random() < (0.15 if r["outcome"] == "ok" else 0.02):
            continue
        send = max(0, r["arrival"] - R.choice([0, 1, 3]) * unit)
        intended = max(0, send - R.choice([0, 0, 2]) * unit)
        if send < r["arrival"] and R2.random() < 0.5:
            # a loop stall before the arrival (docs/python.md, "Before the arrival"), from before the send
            # or after it, up to the arrival or before it: its part in [send, arrival) is its stage's
            k = R2.choice([1, 2, 4])
            tr["spans"].append({"id": r["id"], "stage": R2.choice(["event_loop", "event_loop_wait"]),
                                "start": max(0, r["arrival"] - k * unit),
                                "end": r["arrival"] - (R2.choice([0, 1]) if k > 1 else 0) * unit})
            COVER["span before the arrival"] += 1
        if R.random() < 0.1:
            intended = send + R.choice([1, 2]) * unit  # sent before its intended time (a client ahead)
            COVER["client sent before its intended time"] += 1
        c = {"id": r["id"], "intended": intended, "send": send,
             "status": r["status"] or 200, "first": None, "token_ns": None, "out": None}
        delay = R.choice([0, 0, 1, 2]) * unit
        toks = sorted(r["tokens"])
        done = r["done"] + delay + R.choice([0, 1]) * unit
        if toks and toks[0][0] == 0 and R.random() < 0.9:
            times = [x[1] + delay for x in toks]
            c["first"] = times[0]
            if R.random() < 0.7:
                c["token_ns"] = times
                c["out"] = len(times)
                COVER["client token times"] += 1
            else:
                c["out"] = R.choice([None, len(toks), len(toks) + 2])
                COVER["client without token times"] += 1
        c["done"] = max(done, send)
        tr["clients"].append(c)


def spoil_tokens(tr, seed):
    """For a --lenient run (analysis.md section 9, "Tokens"): one or two requests get a token time
    outside their life or out of index order (left out of the generation figures and counted in
    `requests_bad_tokens`), one a second record of an index at a later time (the earlier is kept)."""
    R = random.Random(seed * 17 + 3)
    cand = [r for r in tr["requests"] if r["tokens"]]
    for r in R.sample(cand, min(len(cand), R.choice([1, 2]))):
        toks = r["tokens"]
        u = R.random()
        if len(toks) >= 2 and u < 0.4 and toks[-1][1] > toks[0][1]:
            i = max(k for k in range(len(toks)) if toks[k][1] > toks[0][1])
            toks[i][1] = toks[0][1] - 1 if toks[0][1] > 0 else 0
            if toks[i][1] >= toks[i - 1][1]:
                continue  # nothing out of order after all (the oracle reads the records, not this)
        elif u < 0.7:
            toks[R.randrange(len(toks))][1] = r["done"] + R.choice([1, 5])
        elif r["arrival"] > 0:
            toks[0][1] = r["arrival"] - 1
        COVER["bad token times (--lenient)"] += 1
    for r in R.sample(cand, min(len(cand), 1)):
        i, t = R.choice(r["tokens"])
        if t < r["done"]:
            r.setdefault("extra_tokens", []).append([i, R.randrange(t + 1, r["done"] + 1)])
            COVER["an index twice at two times (--lenient)"] += 1


def write_trace(tr, path, seed, order=0):
    """contract_oracle's writer, then the generation fields: steps' KV cache, requests'
    output_tokens, token records, clients' token times; the lines shuffled again (DESIGN 9)."""
    clients = tr.pop("clients", None)
    if clients is not None:
        tr["clients"] = [dict(c) for c in clients]
    co.write_jsonl(tr, path, seed, None, order)
    if clients is not None:
        tr["clients"] = clients
    with open(path, encoding="utf-8") as f:
        lines = [json.loads(x) for x in f]
    by_b = {b["id"]: b for b in tr["batches"]}
    by_r = {r["id"]: r for r in tr["requests"]}
    by_c = {}
    for c in clients or []:
        by_c.setdefault(c["id"], []).append(c)
    for o in lines:
        if o["ev"] == "step":
            b = by_b[o["batch"]]
            if b.get("omit_eff"):
                o.pop("effective_tokens", None)
            if b.get("kv_used") is not None:
                o["kv_used_tokens"] = b["kv_used"]
            if b.get("kv_cap") is not None:
                o["kv_capacity_tokens"] = b["kv_cap"]
        elif o["ev"] == "request" and by_r[o["id"]]["output_tokens"] is not None:
            o["output_tokens"] = by_r[o["id"]]["output_tokens"]
        elif o["ev"] == "client":
            c = next(x for x in by_c[o["id"]] if x["send"] == o["send_ns"] and x["intended"] == o["intended_ns"])
            if c["first"] is not None:
                o["first_token_ns"] = c["first"]
            if c["token_ns"] is not None:
                o["token_ns"] = c["token_ns"]
            if c["out"] is not None:
                o["output_tokens"] = c["out"]
    R = random.Random(seed * 5 + 1)
    for r in tr["requests"]:
        for i, t in r["tokens"] + r.get("extra_tokens", []):
            lines.append({"ev": "token", "id": r["id"], "index": i, "time_ns": t})
            if R.random() < 0.03:  # the same record twice: one token (docs/jsonl-format.md)
                COVER["record of a token twice"] += 1
                lines.append({"ev": "token", "id": r["id"], "index": i, "time_ns": t})
    meta = [o for o in lines if o["ev"] == "meta"]
    rest = [o for o in lines if o["ev"] != "meta"]
    random.Random(seed * 3 + 11 + order).shuffle(rest)
    with open(path, "w", encoding="utf-8") as f:
        for o in meta + rest:
            f.write(json.dumps(o, ensure_ascii=seed % 2 == 1) + "\n")


# ---------------------------------------------------------------------------------------------
# The contract, computed naively

def round_half_up(x):
    """analysis.md section 9: TPOT rounded to the nearest ns, halves up."""
    return (x + F(1, 2)).__floor__()


def stats(vals):
    n = len(vals)
    if not n:
        return None
    return {"p50": pct(vals, 50), "p95": pct(vals, 95), "p99": pct(vals, 99), "mean": F(sum(vals), n),
            "min": min(vals), "max": max(vals), "count": n}


def gen_oracle(tr, scope_all):
    """The generation section's figures, exact. tr: contract_oracle.combine()'s event set of one file,
    its requests carrying `tokens` and `output_tokens`, its steps `kv_used` / `kv_cap`."""
    scope = ("ok", "rejected", "error", "cancelled") if scope_all else ("ok",)
    reqs = [r for r in tr["requests"] if r["outcome"] in scope]
    COVER["outcomes all"] += scope_all
    COVER["other outcome with tokens"] += any(r["outcome"] != "ok" and r["tokens"] for r in tr["requests"])
    G = [r for r in reqs if r["tokens"]]

    def bad(r):
        # analysis.md section 9: times in [arrival, done], not decreasing with the index
        tok = sorted(r["tokens"])
        return any(not r["arrival"] <= t <= r["done"] for _, t in tok) or \
            any(y[1] < x[1] for x, y in zip(tok, tok[1:]))
    exp = {"bad": sum(bad(r) for r in G)}
    G = [r for r in G if not bad(r)]
    exp["requests"] = len(G)
    spans_of = {}
    for s in tr["spans"]:
        spans_of.setdefault(s["key"], []).append(s)
    acts_of = co.batch_acts(tr)
    batches_of = {}
    for b in tr["batches"]:
        for m in set(b["members"]):
            batches_of.setdefault(m, []).append(b)
    per = []
    itl = []
    out_tok = []
    for r in G:
        tok = dict((i, t) for i, t in r["tokens"])
        last = max(tok)
        ot = r["output_tokens"] if r["output_tokens"] is not None and r["output_tokens"] > last else last + 1
        if r["output_tokens"] is not None:
            COVER["output_tokens above the records"] += r["output_tokens"] > last + 1
            COVER["output_tokens below the records"] += r["output_tokens"] <= last
        out_tok.append(ot)
        for k in sorted(tok):
            if k + 1 in tok:
                itl.append(tok[k + 1] - tok[k])
            elif k != last:
                COVER["missing token record (ITL pair broken)"] += 1
        p = {"r": r, "tok": tok, "last": last, "ot": ot, "e2e": r["done"] - r["arrival"]}
        if 0 not in tok:
            COVER["request without a first token"] += 1
        else:
            pieces = []
            co.request_stages(r, spans_of.get(r["key"], []), batches_of.get(r["key"], []), acts_of, pieces)
            p["pieces"] = pieces
            COVER["request with one token"] += last == 0
        per.append(p)
    exp["without_first"] = sum(0 not in p["tok"] for p in per)
    exp["output_tokens"] = sum(out_tok)
    exp["otpr"] = stats(out_tok)
    exp["itl"] = stats(itl)
    exp["e2e"] = stats([p["e2e"] for p in per])
    clients = tr.get("clients", {})
    # a merge needs an analysed request's joined client record with a first token (one of a request
    # outside the analysis, e.g. an error under the default scope, does not change the table)
    merge = any(clients.get(r["key"], {}).get("first") is not None for r in reqs)
    COVER["client first token of a request not analysed"] += not merge and \
        any(c.get("first") is not None for c in clients.values())
    exp["ttft_from"] = "send" if merge else "arrival"
    tables = {}
    for name in ("ttft", "tpot"):
        rows = []
        members = []
        for p in per:
            if "pieces" not in p:
                continue
            r, tok = p["r"], p["tok"]
            if name == "ttft":
                w0, w1, div = r["arrival"], tok[0], 1
                c = clients.get(r["key"])
                net = 0
                before = {}
                if c is not None and c.get("first") is not None:
                    # analysis.md section 9, "Client merge": [min(send, arrival), max(client first, first)),
                    # less the request's own spans in [send, arrival) (analysis.md "End-to-end"), their stages'
                    before = co.spans_before(spans_of.get(r["key"], []), c["send"], r["arrival"])
                    net = max(0, r["arrival"] - c["send"]) + max(0, c["first"] - tok[0])
                    COVER["network row (client)"] += net > 0
                value = w1 - w0 + net
                phase = "prefill"
            else:
                if p["last"] < 1:
                    continue
                w0, w1, div = tok[0], tok[p["last"]], p["last"]
                net, before = 0, {}
                value = F(w1 - w0, div)
                phase = "decode"
            times, padding = {}, F(0)
            if net - sum(before.values()):
                times["network"] = net - sum(before.values())
            for st, ln in before.items():
                # a span's row, as a span piece's below
                row = st + " (model)" if st in ("prefill", "decode") else phase + " " + st if st in DEV else st
                times[row] = times.get(row, 0) + ln
            for t0, t1, st, owner, pad, spanned in p["pieces"]:
                s, e = max(t0, w0), min(t1, w1)
                if s >= e:
                    continue
                ln = e - s
                if owner is not None:
                    ph = phase
                    if owner.get("phases"):
                        ph = owner["phases"][owner["members"].index(r["key"])]
                        ph = "prefill" if ph in ("prefill", "prefill_chunk") else "decode"
                    else:
                        COVER["plain batch in a window"] += 1
                    COVER["decode piece in the TTFT table"] += name == "ttft" and ph == "decode"
                    COVER["prefill piece in the TPOT table"] += name == "tpot" and ph == "prefill"
                    row = ph + " " + st
                    if st == "kernel":
                        padding += pad * ln / (t1 - t0)
                        COVER["padding in a table"] += pad > 0
                elif not spanned:
                    row = "between steps" if st == "queue" else "other"
                    COVER["between steps" if st == "queue" else "other row"] += 1
                elif st in ("prefill", "decode"):
                    row = st + " (model)"
                    COVER["(model) row"] += 1
                elif st in DEV:
                    row = phase + " " + st
                    COVER["span named like a device row"] += 1
                else:
                    row = st
                    COVER["named stage row"] += st not in ORDER and st != "other"
                times[row] = times.get(row, 0) + ln
            members.append({"r": r, "div": div, "value": value, "times": times, "padding": padding,
                            "shown": round_half_up(value) if name == "tpot" else value})
            if name == "tpot":
                COVER["TPOT rounded (not whole ns)"] += value.denominator != 1
            else:
                COVER["zero-length TTFT window"] += value == 0
        n = len(members)
        t = {"count": n, "value": stats([m["shown"] for m in members])}
        have = set()
        for m in members:
            have.update(k for k, v in m["times"].items() if v > 0)
        shown = list(ALWAYS[name]) + (["network"] if name == "ttft" and merge else [])
        names = [x for x in ORDER if x in shown or x in have]
        named = sorted((x for x in have if x not in ORDER and x != "other"), key=lambda x: x.encode())
        names += named + ["other"]
        # share windows (analysis.md section 9): ranked by the table's figure (TPOT to the ns), ties
        # by id text, then arrival (section 7)
        ranked = sorted(members, key=lambda m: (m["shown"], m["r"]["id"].encode(), m["r"]["arrival"]))
        COVER["TTFT table ties"] += name == "ttft" and len({m["shown"] for m in members}) < n
        wins = {xx: share_window(n, xx) for xx in (50, 95, 99)} if n else {}

        def share(get, xx):
            lo, hi = wins[xx]
            w = ranked[lo - 1:hi]
            den = sum(F(m["value"]) for m in w)  # window length / divisor
            if den == 0:
                COVER["TPOT share window of no time"] += name == "tpot"
                return F(0)
            return sum(F(get(m), m["div"]) for m in w) / den

        for row in names:
            vals = [round_half_up(F(m["times"].get(row, 0), m["div"])) for m in members]
            d = {"name": row, "total": sum(m["times"].get(row, 0) for m in members)}
            if n:
                d.update(p50=pct(vals, 50), p95=pct(vals, 95), p99=pct(vals, 99), mean=F(sum(vals), n),
                         max=max(vals))
                for xx in (50, 95, 99):
                    d["share_%d" % xx] = share(lambda m: m["times"].get(row, 0), xx)
            rows.append(d)
        t["rows"] = rows
        t["padding_share"] = share(lambda m: m["padding"], 95) if n else None
        tables[name] = t
    exp["tables"] = tables
    exp["ttft"] = stats([p["tok"][0] - p["r"]["arrival"] for p in per if 0 in p["tok"]])
    exp["tpot"] = tables["tpot"]["value"]
    # steps (analysis.md section 9: steps are batches with phases; padding by phase; the KV cache)
    steps = [b for b in tr["batches"] if b.get("phases")]
    COVER["prefill_chunk phase"] += any("prefill_chunk" in b["phases"] for b in steps)
    COVER["mixed step (prefill beside decode)"] += any("decode" in b["phases"] and len(set(b["phases"])) > 1
                                                       for b in steps)
    COVER["step without effective_tokens"] += any(b.get("omit_eff") for b in steps)
    COVER["step without padded_tokens"] += any(b["pad"] is None for b in steps)
    pre = [b for b in steps if set(b["phases"]) & {"prefill", "prefill_chunk"}]
    dec = [b for b in steps if b not in pre]
    exp["steps"] = {"count": len(steps), "prefill_steps": len(pre),
                    "members": stats([len(set(b["members"])) for b in steps])}
    for key, bs in (("padding_prefill", pre), ("padding_decode", dec)):
        cnt = [b for b in bs if co.has_counts(b)]
        if cnt:
            E, P = sum(b["eff"] for b in cnt), sum(b["pad"] for b in cnt)
            exp["steps"][key] = {"steps": len(cnt), "effective_tokens": E, "padded_tokens": P,
                                 "waste_fraction": 1 - F(E, P)}
        else:
            exp["steps"][key] = {"steps": 0, "effective_tokens": None, "padded_tokens": None,
                                 "waste_fraction": None}
    kv = [b for b in steps if b.get("kv_cap") and b.get("kv_used") is not None]
    COVER["KV capacity unknown"] += any(b.get("kv_cap") == 0 for b in steps)
    COVER["KV use unknown"] += any(b.get("kv_cap") and b.get("kv_used") is None for b in steps)
    k = {"steps": len(kv)}
    if kv:
        dur = [b["end"] - b["start"] for b in kv]
        occ = [F(b["kv_used"], b["kv_cap"]) for b in kv]
        D = sum(dur)
        k.update(capacity=max(b["kv_cap"] for b in kv), occ_p50=pct(occ, 50), occ_p95=pct(occ, 95),
                 occ_max=max(occ))
        if D:
            k["used_mean"] = F(sum(b["kv_used"] * d for b, d in zip(kv, dur)), D)
            k["waste"] = F(sum((b["kv_cap"] - b["kv_used"]) * d for b, d in zip(kv, dur)),
                           sum(b["kv_cap"] * d for b, d in zip(kv, dur)))
        else:
            # every such step took no time: the time weights are all 0 (0/0), so each step weighs the
            # same, the limit of equal durations (analysis.md section 9, "KV cache"; servprof wrote 0
            # for both before this oracle met it: docs/analysis.md section 10)
            COVER["KV steps of no duration"] += 1
            k["used_mean"] = F(sum(b["kv_used"] for b in kv), len(kv))
            k["waste"] = F(sum(b["kv_cap"] - b["kv_used"] for b in kv), sum(b["kv_cap"] for b in kv))
    exp["kv"] = k
    # generation.limits (analysis.md section 9, "What the trace cannot show"): which sentences, in order
    lim = []
    if not steps:
        lim.append("no step records")
    elif not kv:
        lim.append("no step gives the KV cache's capacity")
        COVER["limit: no KV capacity"] += 1
    if steps and any(r["name"].endswith(" (model)") for t in tables.values() for r in t["rows"]):
        # steps beside a phase's time given whole (TGI's requests whose steps are not all in the file)
        lim.append("some prefill or decode time is in no step record")
        COVER["limit: (model) rows beside steps"] += 1
    if out_tok and max(out_tok) >= 2 and not itl:
        lim.append("only the first and last token times are recorded")
        COVER["limit: no ITL"] += 1
    if exp["without_first"]:
        lim.append("%d request%s token records but none for the first token" %
                   (exp["without_first"], " has" if exp["without_first"] == 1 else "s have"))
    # requests with token records outside the outcome scope (a cancelled stream): counted by outcome
    # in enum order, with their output tokens counted as above
    left = [r for r in tr["requests"] if r["outcome"] not in scope and r["tokens"]]
    if left:
        by = [(o, sum(1 for r in left if r["outcome"] == o))
              for o in ("ok", "rejected", "error", "cancelled", "unfinished")]
        parts = ["%d %s" % (k, o) for o, k in by if k]
        said = parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]
        ntok = 0
        for r in left:
            last = max(i for i, _ in r["tokens"])
            ntok += r["output_tokens"] if r["output_tokens"] is not None and r["output_tokens"] > last else last + 1
        lim.append("%s request%s with output tokens (%d token%s): left out"
                   % (said, "" if len(left) == 1 else "s", ntok, "" if ntok == 1 else "s"))
        COVER["limit: outcomes left out"] += 1
    if exp["bad"]:
        lim.append("%d request%s token times outside" % (exp["bad"], " has" if exp["bad"] == 1 else "s have"))
    exp["limits"] = lim
    # cost per output token (DESIGN 7 via contract_oracle.cost; analysis.md section 9)
    c = co.cost(tr, reqs, 4.0)
    exp["cost"] = None
    OT = exp["output_tokens"]
    if "bill" in c and OT:
        ex = c["request_cost_exact"]
        exp["cost"] = {"per_output_token": c["bill"] / OT,
                       "by_state": {s: c["bill"] * v / OT for s, v in c["by_state_share"].items()},
                       "per_request_by_state": c.get("per_request_by_state"),
                       "rc": [ex[p["r"]["key"]] / p["ot"] for p in per if p["ot"]]}
    # the client's own figures (analysis.md section 9, "Client merge")
    cl = [(r, clients[r["key"]]) for r in reqs if r["key"] in clients and clients[r["key"]].get("first") is not None]
    exp["client"] = None
    if cl:
        ttft, tpot, citl, e2e = [], [], [], []
        for r, c in cl:
            start = min(c["intended"], c["send"])
            ttft.append(c["first"] - start)
            e2e.append(c["done"] - start)
            if c.get("token_ns"):
                ts = c["token_ns"]
                citl += [y - x for x, y in zip(ts, ts[1:])]
                if len(ts) >= 2:
                    tpot.append(round_half_up(F(ts[-1] - ts[0], len(ts) - 1)))
            elif c.get("out") and c["out"] >= 2:
                tpot.append(round_half_up(F(c["done"] - c["first"], c["out"] - 1)))
        exp["client"] = {"requests": len(cl), "ttft": stats(ttft), "tpot": stats(tpot), "itl": stats(citl),
                         "e2e": stats(e2e)}
        COVER["client first token"] += 1
    return exp


# ---------------------------------------------------------------------------------------------
# Comparison

def cmp_stats(chk, key, rep, st, scale="us"):
    if st is None:
        if rep is not None and rep.get("count"):
            raise Mismatch("%s: report count %s, contract none" % (key, rep.get("count")))
        return
    if rep is None:
        raise Mismatch("%s: report null, contract %d values" % (key, st["count"]))
    chk(eq, key + ".count", rep["count"], st["count"])
    for q in ("p50", "p95", "p99", "min", "max"):
        if scale == "us":
            chk(us_exact, key + "." + q, rep[q], st[q])
        else:
            chk(eq, key + "." + q, rep[q], st[q])
    if scale == "us":
        chk(us_mean, key + ".mean", rep["mean"], st["mean"])
    else:
        chk(sig, key + ".mean", rep["mean"], st["mean"], 9)


def compare(exp, full):
    k = [0]

    def chk(fn, *a):
        k[0] += 1
        fn(*a)

    g = full.get("generation")
    if g is None:
        raise Mismatch("generation: absent from the report")
    chk(eq, "generation.requests", g["requests"], exp["requests"])
    chk(eq, "generation.requests_without_first_token", g["requests_without_first_token"], exp["without_first"])
    chk(eq, "generation.requests_bad_tokens", g["requests_bad_tokens"], exp["bad"])
    chk(eq, "generation.output_tokens", g["output_tokens"], exp["output_tokens"])
    cmp_stats(chk, "generation.output_tokens_per_request", g["output_tokens_per_request"], exp["otpr"], "n")
    cmp_stats(chk, "generation.ttft_us", g["ttft_us"], exp["ttft"])
    cmp_stats(chk, "generation.tpot_us", g["tpot_us"], exp["tpot"])
    cmp_stats(chk, "generation.itl_us", g["itl_us"], exp["itl"])
    cmp_stats(chk, "generation.e2e_us", g["e2e_us"], exp["e2e"])
    chk(eq, "generation.ttft_from", g["ttft_from"], exp["ttft_from"])
    for name in ("ttft", "tpot"):
        t, e = g[name], exp["tables"][name]
        key = "generation." + name
        chk(eq, key + ".count", t["count"], e["count"])
        cmp_stats(chk, key + ".value_us", t["value_us"], e["value"])
        chk(eq, key + ".rows (names)", [r["name"] for r in t["rows"]], [r["name"] for r in e["rows"]])
        for rr, er in zip(t["rows"], e["rows"]):
            rk = "%s.rows[%s]" % (key, er["name"])
            chk(us_exact, rk + ".total_us", rr["total_us"], er["total"])
            if not e["count"]:
                continue
            for q in ("p50", "p95", "p99", "max"):
                chk(us_exact, rk + "." + q + "_us", rr[q + "_us"], er[q])
            chk(us_mean, rk + ".mean_us", rr["mean_us"], er["mean"])
            for xx in (50, 95, 99):
                chk(sig, rk + ".share_of_p%d" % xx, rr["share_of_p%d" % xx], er["share_%d" % xx], 6)
        if e["count"]:
            chk(sig, key + ".padding_share_of_p95", t["padding_share_of_p95"], e["padding_share"], 6)
    s, es = g["steps"], exp["steps"]
    chk(eq, "generation.steps.count", s["count"], es["count"])
    chk(eq, "generation.steps.prefill_steps", s["prefill_steps"], es["prefill_steps"])
    cmp_stats(chk, "generation.steps.members", s["members"], es["members"], "n")
    for pk in ("padding_prefill", "padding_decode"):
        for f in ("steps", "effective_tokens", "padded_tokens"):
            chk(eq, "generation.steps.%s.%s" % (pk, f), s[pk][f], es[pk][f])
        chk(sig, "generation.steps.%s.waste_fraction" % pk, s[pk]["waste_fraction"], es[pk]["waste_fraction"], 6)
    kv, ek = g["kv_cache"], exp["kv"]
    chk(eq, "generation.kv_cache.steps", kv["steps"], ek["steps"])
    if ek["steps"]:
        chk(eq, "generation.kv_cache.capacity_tokens", kv["capacity_tokens"], ek["capacity"])
        for f, x in (("occupancy_p50", "occ_p50"), ("occupancy_p95", "occ_p95"), ("occupancy_max", "occ_max")):
            chk(sig, "generation.kv_cache." + f, kv[f], ek[x], 6)
        chk(sig, "generation.kv_cache.used_mean_tokens", kv["used_mean_tokens"], ek["used_mean"], 9)
        chk(sig, "generation.kv_cache.waste_fraction", kv["waste_fraction"], ek["waste"], 6)
    else:
        for f in ("capacity_tokens", "used_mean_tokens", "occupancy_p50", "occupancy_p95", "occupancy_max",
                  "waste_fraction"):
            chk(eq, "generation.kv_cache." + f, kv[f], None)
    ec, c = exp["cost"], g.get("cost")
    if ec is not None:
        chk(sig, "generation.cost.per_output_token", c["per_output_token"], ec["per_output_token"], 9)
        for st, v in ec["by_state"].items():
            chk(sig, "generation.cost.per_output_token_by_state." + st, c["per_output_token_by_state"][st], v, 9)
        for st, v in (ec["per_request_by_state"] or {}).items():
            chk(sig, "generation.cost.per_request_by_state." + st, c["per_request_by_state"][st], v, 9)
        # each request's apportioned cost per output token, in whole nano-dollars (a value within a
        # millionth of a half may round either way from a double)
        q = c["request_cost_per_output_token"]
        nano = [round_half_away(v * 10**9) for v in ec["rc"]]
        half = any(co.is_near_half(v * 10**9) for v in ec["rc"])
        st = stats(nano)
        chk(eq, "generation.cost.request_cost_per_output_token.count", q["count"], st["count"])
        for f in ("p50", "p95", "p99", "min", "max"):
            got = q[f] * 10**9
            if got != st[f] and not (half and abs(got - st[f]) <= 1):
                raise Mismatch("generation.cost.request_cost_per_output_token.%s: report %s, contract %s nano"
                               % (f, co.fmt(q[f]), st[f]))
            k[0] += 1
    lim = g["limits"]
    if len(lim) != len(exp["limits"]) or not all(x.startswith(y) for x, y in zip(lim, exp["limits"])):
        raise Mismatch("generation.limits: report %r, contract (beginning) %r" % (lim, exp["limits"]))
    k[0] += 1
    ecl = exp["client"]
    if ecl is None:
        chk(eq, "generation.client", g["client"], None)
    else:
        gc = g["client"]
        if gc is None:
            raise Mismatch("generation.client: report null, contract %d requests" % ecl["requests"])
        chk(eq, "generation.client.requests", gc["requests"], ecl["requests"])
        for f in ("ttft", "tpot", "itl", "e2e"):
            cmp_stats(chk, "generation.client.%s_us" % f, gc[f + "_us"], ecl[f])
    return k[0]


DOCTORS = [
    ("limits", lambda g: bool(g["limits"]) and g["limits"].pop() is not None),
    ("requests left out", lambda g: co.bump_key(g, "requests_without_first_token", 1)),
    ("output tokens", lambda g: co.bump_key(g, "output_tokens", 1)),
    ("TTFT percentile", lambda g: co.bump_key(g["ttft_us"], "p95", F(1, 1000))),
    ("TPOT mean", lambda g: co.bump_key(g["tpot_us"], "mean", F(1, 1000))),
    ("ITL", lambda g: co.bump_key(g["itl_us"], "p50", F(1, 1000))),
    ("e2e", lambda g: co.bump_key(g["e2e_us"], "max", F(1, 1000))),
    ("TTFT row", lambda g: co.bump_us(g["ttft"]["rows"], "p95_us")),
    ("TPOT row total", lambda g: co.bump_us(g["tpot"]["rows"], "total_us")),
    ("TTFT share", lambda g: co.bump_share(g["ttft"]["rows"], "share_of_p95")),
    ("TPOT share", lambda g: co.bump_share(g["tpot"]["rows"], "share_of_p99")),
    ("padding share", lambda g: co.bump_sig(g["tpot"], "padding_share_of_p95", 6)),
    ("steps", lambda g: co.bump_key(g["steps"]["members"], "p95", 1)),
    ("steps' padding", lambda g: co.bump_key(g["steps"]["padding_decode"], "padded_tokens", 1)),
    ("KV cache", lambda g: co.bump_sig(g["kv_cache"], "used_mean_tokens", 9)),
    ("KV occupancy", lambda g: co.bump_sig(g["kv_cache"], "occupancy_p95", 6)),
    ("cost per output token", lambda g: co.bump_sig(g["cost"], "per_output_token", 9)),
    ("request cost per token", lambda g: co.bump_key(g["cost"]["request_cost_per_output_token"], "p50",
                                                      F(1, 10**9))),
    ("client TTFT", lambda g: g["client"] is not None and co.bump_key(g["client"]["ttft_us"], "p99", F(1, 1000))),
    ("client TPOT", lambda g: g["client"] is not None and co.bump_key(g["client"]["tpot_us"], "p50", F(1, 1000))),
]


def analyze(binary, flags, paths):
    p = subprocess.run([binary, "analyze", "--json", "--no-progress"] + flags + paths, capture_output=True,
                       text=True, encoding="utf-8")
    if p.returncode != 0:
        raise Mismatch("analyze exited %d: %s" % (p.returncode, p.stderr.strip()[:400]))
    return p.stdout


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("binary")
    ap.add_argument("--seeds", default="1:200")
    ap.add_argument("--out", default=".")
    ap.add_argument("--doctor", action="store_true")
    ap.add_argument("--keep-going", action="store_true")
    o = ap.parse_args()
    a, b = (int(x) for x in o.seeds.split(":"))
    os.makedirs(o.out, exist_ok=True)
    failed = figures = done = 0
    kept = {}
    for seed in range(a, b + 1):
        done += 1
        trs = [gen_trace(seed)]
        if seed % 3 == 1:
            add_clients(trs[0], seed)
        elif seed % 7 == 5:  # two files (replicas on one clock): ids and batch ids per file
            trs.append(gen_trace(seed + 100000))
            COVER["two files"] += 1
        flags = []
        if seed % 5 == 2:
            flags.append("--outcomes=all")
        if seed % 6 == 3:
            flags.append("--lenient")
            spoil_tokens(trs[0], seed)
        paths = [os.path.join(o.out, "genoracle_%d%s.jsonl" % (seed, "_%d" % f if f else "")) for f in range(len(trs))]
        path = " ".join(paths)
        for f, tr in enumerate(trs):
            write_trace(tr, paths[f], seed + f)
        scope_all = "--outcomes=all" in flags
        try:
            text = analyze(o.binary, flags, paths)
            rep = co.load_report(text)
            exp = gen_oracle(co.combine(trs), scope_all)
            figures += compare(exp, rep)
            if seed % 4 == 2:  # DESIGN 8a: the report does not depend on the order of lines
                for f, tr in enumerate(trs):
                    write_trace(tr, paths[f], seed + f, order=1)
                if analyze(o.binary, flags, paths) != text:
                    raise Mismatch("the report changed when the trace's lines were shuffled again")
        except Mismatch as e:
            print("FAIL seed %d: %s (trace kept: %s)" % (seed, e, path), file=sys.stderr)
            failed += 1
            if not o.keep_going:
                break
            continue
        if o.doctor:
            for fam, fn in DOCTORS:
                if fam not in kept:
                    r2 = co.load_report(text)
                    if fn(r2["generation"]):
                        kept[fam] = (exp, r2, seed)
        for x in paths:
            os.remove(x)
    print("generation oracle: %d runs (seeds %d..%d), %d figures compared, %d failed" % (done, a, b, figures, failed))
    print("rules reached: " + ", ".join("%s %d" % (k, v) for k, v in COVER.items()))
    failed = co.guards(failed, COVER, DOCTORS if o.doctor else [], kept, compare)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
