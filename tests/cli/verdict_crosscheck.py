#!/usr/bin/env python3
"""Cross-checks a servprof report's verdict sentence against the table above it (DESIGN section 8,
docs/analysis.md section 6): every figure the sentence states, and every claim it makes ("level",
"not the bottleneck", "padding is X% of p95, not under 10%", "behind a saturated device"), is derived
again here from the JSON report's stage rows, padding and cost, independently of verdict.c and
verdict_render.c, and the sentence is then consumed clause by clause: a clause the rules do not
explain is a failure too. Also: the ranking holds every candidate with the table's share, in order;
the p50/p95/p99 columns each sum to 1; the text report's sentence is the JSON's, word for word, and
its candidate table is the JSON ranking from 5% of p95 up. The TTFT and TPOT tables of a generation
report get the same checks where the JSON carries what they need (check_generation).

Run as: verdict_crosscheck.py REPORT.json...   (X.txt beside X.json: the text report of the same trace)
Exit 1 with each disagreement on stderr.
Stdlib only (/usr/bin/python3).

The JSON carries shares with 6 significant digits, so a comparison whose answer the rounding could
flip (a share within TOL of a cut, a percent within TOL of a .5) accepts either answer.
"""
import json
import os
import re
import sys

# docs/analysis.md section 6, "Cut-offs" and "Thresholds" (SP_ANA_VERDICT_*, SP_ANA_MODEL_* in
# src/analyze/analyze_int.h; SP_ANA_SATURATED_IN_FLIGHT in shared_rules.h; SP_REJECTION_SIGNIFICANT)
MIN_SHARE = 0.05      # never named below
LIST_SHARE = 0.10     # listed after the leader above
LEVEL_BAND = 0.05     # level with the leader within
MODEL_MARGIN = 0.10   # "not the bottleneck" only this far behind
MODEL_KERNEL = 0.5    # model recommended: useful kernel at least
MODEL_GAP = 0.1       # ... gap under
MODEL_PADDING = 0.1   # ... padding under
SATURATED = 0.85      # a batch in flight at least this much of the window
REJECTING = 0.01      # rejection clause from this fraction of all requests
MIN_ANALYSED = 20     # fewer analysed requests with others left out: a thin sample (SP_ANA_VERDICT_MIN_ANALYSED)
TOL = 2e-6            # the JSON's rounding of a share (6 significant digits), with room

GROUPS = {"queue": "configuration", "padding": "configuration", "kernel": "model", "other": "instrumentation"}
# report order of the candidates (docs/analysis.md section 6, "Ranking"): equal shares keep it
# vLLM's and TGI's named stages that are the model's time measured whole (docs/analysis.md section 6,
# "Model time"): model-group candidates, but only in a trace with generation data (the report has a
# `generation` object); elsewhere a stage so named is the service's own, runtime
# TGI's "inference" stage, which its OTLP reader derives from the router's inference_time when no
# send_generation span splits it (docs/otlp.md), is model time too, in any trace: read here from the
# report's input files (an OTLP export carrying that timing), not from the report's verdict; a JSONL
# trace's own "inference" stage stays runtime
MODEL_TIME = ("prefill", "decode")


def engine_inference(rep):
    for f in (rep.get("data_quality") or {}).get("files") or []:
        try:
            with open(f["path"], errors="replace") as fh:
                text = fh.read()
        except OSError:
            continue
        if '"resourceSpans"' in text and '"inference_time"' in text:
            return True
    return False


def model_time(rep, name):
    if name == "inference":
        return engine_inference(rep)
    return name in MODEL_TIME and rep.get("generation") is not None


def group_of(rep, name):
    return "model" if model_time(rep, name) else GROUPS.get(name, "runtime")


KNOWN_ORDER = ["queue", "preprocess", "h2d", "kernel", "padding", "gap", "d2h", "postprocess", "network"]


class Check:
    def __init__(self, name):
        self.name = name
        self.errors = []

    def fail(self, msg):
        self.errors.append(msg)

    def expect(self, cond, msg):
        if not cond:
            self.fail(msg)


def ge(x, cut):
    """x >= cut as the verdict code decides it (1e-9 forgiven): True, False, or None where the JSON's
    rounding could decide either way."""
    if abs(x - cut) <= TOL:
        return None
    return x > cut


def pct_ok(stated, share, decimals):
    """Whether "stated%" is share written with `decimals` decimals (either neighbour at a .5 the
    JSON's rounding hides)."""
    v = share * 100.0
    half = 0.5 * 10 ** -decimals
    return abs(float(stated) - v) <= half + TOL * 100


def dur_ok(stated, ns):
    """Whether `stated` is sp_fmt_dur(ns): "%.0f ns", "%.1f us", "%.2f ms" or "%.3f s" by magnitude."""
    m = re.fullmatch(r"(-?[\d.]+) (ns|us|ms|s)", stated)
    if not m:
        return False
    unit = {"ns": (1, 0), "us": (1e3, 1), "ms": (1e6, 2), "s": (1e9, 3)}[m.group(2)]
    want = "ns" if ns < 1e3 else "us" if ns < 1e6 else "ms" if ns < 1e9 else "s"
    # a value at a unit's edge (999.96 us) may be written in either unit after the JSON's rounding
    if m.group(2) != want and not any(abs(ns - e) < 1 for e in (1e3, 1e6, 1e9)):
        return False
    return abs(float(m.group(1)) * unit[0] - ns) <= 0.5 * unit[0] * 10 ** -unit[1] + 1.0


def label(c):
    """The candidate as the sentence's lists name it (verdict_render.c label())."""
    return "useful kernel" if c["stage"] == "kernel" else c["stage"]


def candidates(rep):
    """Every candidate of DESIGN 8 from the table: each stage row's share of p95, the kernel row split
    into padding (section 5) and useful work."""
    pad = rep["padding"].get("share_of_p95") or 0.0
    out = []
    for s in rep["stages"]:
        if s["name"] == "kernel":
            out.append({"stage": "kernel", "share": max(s["share_of_p95"] - pad, 0.0)})
            out.append({"stage": "padding", "share": pad})
        else:
            out.append({"stage": s["name"], "share": s["share_of_p95"]})
    return out


def order_key(name, named_index):
    if name in KNOWN_ORDER:
        return KNOWN_ORDER.index(name)
    if name == "other":
        return 10 ** 6
    return len(KNOWN_ORDER) + named_index.get(name, 0)


def check_table(rep, ck):
    for col in ("share_of_p50", "share_of_p95", "share_of_p99"):
        total = sum(s[col] for s in rep["stages"])
        ck.expect(abs(total - 1.0) <= 1e-4 * max(1, len(rep["stages"])),
                  "%s column sums to %.6f, not 1" % (col, total))


def check_ranking(rep, ck):
    v = rep["verdict"]
    rank = v["ranking"]
    cands = candidates(rep)
    by_name = {c["stage"]: c for c in cands}
    ck.expect(sorted(r["stage"] for r in rank) == sorted(by_name),
              "ranking %s is not the candidates %s" % ([r["stage"] for r in rank], sorted(by_name)))
    named = [s["name"] for s in rep["stages"] if s["name"] not in KNOWN_ORDER and s["name"] != "other"]
    named_index = {n: i for i, n in enumerate(named)}
    for k, r in enumerate(rank):
        c = by_name.get(r["stage"])
        if c is not None:
            ck.expect(abs(r["share_of_p95"] - c["share"]) <= TOL,
                      "ranking %s share %.6g, the table's is %.6g" % (r["stage"], r["share_of_p95"], c["share"]))
        ck.expect(r["group"] == group_of(rep, r["stage"]),
                  "ranking %s group %s" % (r["stage"], r["group"]))
        if k:
            p = rank[k - 1]
            d = p["share_of_p95"] - r["share_of_p95"]
            ck.expect(d >= -TOL, "ranking out of order: %s %.6g before %s %.6g" %
                      (p["stage"], p["share_of_p95"], r["stage"], r["share_of_p95"]))
            if d == 0:
                ck.expect(order_key(p["stage"], named_index) < order_key(r["stage"], named_index),
                          "equal shares out of report order: %s before %s" % (p["stage"], r["stage"]))
    lead = rank[0] if rank else None
    if lead and lead["share_of_p95"] > 0:
        ck.expect(v["stage"] == lead["stage"] and v["group"] == lead["group"],
                  "verdict %s/%s is not the ranking's leader %s/%s" % (v["stage"], v["group"], lead["stage"],
                                                                         lead["group"]))
        ck.expect(abs((v["share_of_p95"] or 0) - lead["share_of_p95"]) <= TOL,
                  "verdict share_of_p95 is not the leader's")


def take(s, prefix):
    return s[len(prefix):] if s.startswith(prefix) else None


def balanced_end(s, start):
    """Index just past the parenthesis group opening at s[start]."""
    depth = 0
    for i in range(start, len(s)):
        depth += {"(": 1, ")": -1}.get(s[i], 0)
        if depth == 0:
            return i + 1
    return len(s)


def level_band(lead, c):
    """c level with the leader: named (>= 5%) and within 5 points; None where the rounding decides."""
    a, b = ge(c, MIN_SHARE), ge(lead - c, LEVEL_BAND)
    if a is False or b is True:
        return False
    if a is None or b is None:
        return None
    return True


def thin_prefix(rep):
    """(thin, the prefix the sentence must open with or None): fewer than MIN_ANALYSED analysed requests
    while requests of another outcome are outside the analysis (under --outcomes all: unfinished)."""
    oc = rep.get("outcomes") or {}
    by = oc.get("by_outcome") or {}
    n = {k: (by.get(k) or {}).get("count", 0) for k in ("rejected", "error", "cancelled", "unfinished")}
    scope_all = oc.get("scope") == "all"
    outside = [k for k in ("rejected", "error", "cancelled", "unfinished") if n[k] and (k == "unfinished" or not scope_all)]
    analysed = (rep.get("requests") or {}).get("count") or 0
    if not outside or analysed >= MIN_ANALYSED:
        return False, None
    return True, ("This verdict rests on %d %s request%s of %d (%s), fewer than %d: too few to call the model the "
                  "bottleneck or rule it out. " % (analysed, "finished" if scope_all else "ok", "" if analysed == 1 else "s",
                                                   oc.get("total") or 0, ", ".join("%d %s" % (n[k], k) for k in outside),
                                                   MIN_ANALYSED))


def check_cancellations(rep, s, metric, ck):
    """The cancellation clause (docs/analysis.md section 6, "Cancellations"): from 1% of all requests
    whose clients gave up (cancelled, and the client trace's time-outs on requests the server answered
    ok: clock.client_records.timed_out_ok), with the cancelled count, their latency p50 and, for
    end-to-end latency with cancellations slower than the served p95, that the percentiles leave out the
    slowest requests; then the timed-out ones, counted ok. Returns the rest of the sentence."""
    oc = rep.get("outcomes") or {}
    total = oc.get("total") or 0
    cr = (oc.get("by_outcome") or {}).get("cancelled") or {}
    can = cr.get("count", 0)
    tout = ((rep.get("clock") or {}).get("client_records") or {}).get("timed_out_ok", 0)
    lat = cr.get("latency_us") or {}
    tail = r"; if the clients timed out, raise their timeout or cut the latency the table shows\."
    m0 = re.match(r" Clients gave up on ([\d.]+)% of all requests \(the server answered (\d+) of (\d+) only after "
                  r"their clients had timed out, per the client trace, and counts them ok with its own time\)" + tail, s)
    if m0:
        ck.expect(can == 0 and int(m0.group(2)) == tout and int(m0.group(3)) == total and total and
                  tout / total >= REJECTING - TOL,
                  "time-out clause %s of %s, the report: %s timed out, %s cancelled of %s" %
                  (m0.group(2), m0.group(3), tout, can, total))
        ck.expect(total and pct_ok(m0.group(1), tout / total, 1), "time-out clause %s%% of %s of %s" %
                  (m0.group(1), tout, total))
        return s[m0.end():]
    m = re.match(r" Clients gave up on ([\d.]+)% of all requests \((\d+) of (\d+) were cancelled(, their latency p50 "
                 r"([^,)]+))?(, past the served p95 of ([^)]+))?\)(, so the (\S+) percentiles leave out the slowest requests, "
                 r"whose clients gave up|, which the (\S+) percentiles leave out|; their latency here ends where their "
                 r"clients gave up, short of what the service would have taken)(, and the server answered (\d+) more only "
                 r"after their clients had timed out, per the client trace, and counts them ok with its own time)?" + tail, s)
    if not m:
        ck.expect(not total or (can + tout) / total < REJECTING + TOL, "no cancellation clause, %d of %d cancelled, "
                  "%d timed out" % (can, total, tout))
        return s
    ck.expect(int(m.group(2)) == can and int(m.group(3)) == total and total and (can + tout) / total >= REJECTING - TOL,
              "cancellation clause %s of %s, the report: %s of %s" % (m.group(2), m.group(3), can, total))
    ck.expect(total and pct_ok(m.group(1), (can + tout) / total, 1), "cancellation clause %s%% of %s + %s of %s" %
              (m.group(1), can, tout, total))
    ck.expect(int(m.group(12) or 0) == tout, "cancellation clause: %s timed out, the report's %s" % (m.group(12), tout))
    ck.expect(bool(m.group(4)) == bool(lat.get("count")), "cancellation clause: p50 given %s, %s timed" %
              (bool(m.group(4)), lat.get("count")))
    if m.group(4):
        ck.expect(dur_ok(m.group(5), lat["p50"] * 1e3), "cancellation p50 %s, the table's %s us" % (m.group(5), lat["p50"]))
    scope_all = oc.get("scope") == "all"
    p95 = ((rep.get("requests") or {}).get("latency_us") or {}).get("p95")
    slower = (metric is None and not scope_all and bool(lat.get("count")) and p95 is not None and
              lat["p50"] > p95 + 1e-3)
    ck.expect(bool(m.group(6)) == slower or abs(lat.get("p50", 0) - (p95 or 0)) <= 1e-3,
              "cancellation clause: 'past the served p95' %s, p50 %s p95 %s" % (bool(m.group(6)), lat.get("p50"), p95))
    if m.group(6):
        ck.expect(dur_ok(m.group(7), p95 * 1e3), "cancellation clause: served p95 %s, the table's %s us" % (m.group(7), p95))
    ck.expect(m.group(8).startswith("; their latency here") == scope_all, "cancellation clause with scope %r" %
              oc.get("scope"))
    ck.expect(bool(m.group(6)) == bool(m.group(9)), "'slowest' without 'past the served p95'")
    word = m.group(9) or m.group(10)
    if word:
        ck.expect(word == (metric or "latency"), "cancellation clause: %s percentiles" % word)
    return s[m.end():]


def check_sentence(rep, ck):
    v = rep["verdict"]
    rank = v["ranking"]
    s = v["sentence"] or ""
    if not rank or not rank[0]["share_of_p95"] > 0:
        return
    shares = {r["stage"]: r["share_of_p95"] for r in rank}
    lead = rank[0]
    L = lead["share_of_p95"]
    useful = shares.get("kernel", 0.0)
    # 0. few served requests (docs/analysis.md section 6, "Few served requests"): the sentence opens
    # with what it rests on, and neither blames nor clears the model
    thin, prefix = thin_prefix(rep)
    if prefix is None:
        ck.expect(not s.startswith("This verdict rests on"), "a 'rests on' prefix on %s analysed requests" %
                  (rep.get("requests") or {}).get("count"))
    elif not s.startswith(prefix):
        ck.fail("thin sample: the sentence does not open with %r: %r" % (prefix, s[:200]))
        return
    else:
        s = s[len(prefix):]
    ck.thin = thin
    gpu = rep.get("gpu") or {}
    kern_row = next((x for x in rep["stages"] if x["name"] == "kernel"), None)
    kernels_unmeasured = not gpu.get("kernels") and (not kern_row or not kern_row.get("total_us"))
    cost = rep.get("cost") or {}
    no_batch = (cost.get("by_state_share") or {}).get("no_batch")
    in_flight = 1.0 - no_batch if no_batch is not None else 0.0
    device_saturated = ge(in_flight, SATURATED) if (cost.get("window_us") or 0) > 0 else False
    if device_saturated is None:  # at the cut within the JSON's rounding: the sentence may say either
        device_saturated = "behind a saturated device" in s
    # full batches saturate the queue too: the median batch holds the trace's policy.max_batch (not
    # for generation steps: no batch window)
    queue_row = next((x for x in rep["stages"] if x["name"] == "queue"), None)
    max_batch, window_us, event_loop = ck.policy
    bsize = (rep.get("batches") or {}).get("size") or {}
    full = (max_batch > 0 and window_us > 0 and queue_row is not None and
            bsize.get("p50", 0) >= max_batch and
            queue_row["p95_us"] / 2 > window_us and not (rep.get("generation") or {}).get("steps"))
    # a service that refuses requests (at least 1% rejected, the rejection clause's share) saturates
    # the queue too, whatever the device's busy time (docs/analysis.md, "Saturation")
    outc = rep.get("outcomes") or {}
    n_all = outc.get("total") or 0
    n_rej = ((outc.get("by_outcome") or {}).get("rejected") or {}).get("count", 0)
    refusing_only = bool(n_all) and n_rej / n_all + 1e-9 >= 0.01 and not (device_saturated or full)
    saturated = device_saturated or full or refusing_only
    # a queue past the window (docs/analysis.md, "Queue past the window"): the policy known, batches
    # not full (median under max_batch), the queue's p95 over twice the window, no saturation
    past = (max_batch > 0 and window_us > 0 and queue_row is not None and bsize.get("count", 0) > 0 and
            bsize.get("p50", 0) < max_batch and queue_row["p95_us"] / 2 > window_us and
            not (rep.get("generation") or {}).get("steps") and not saturated)

    # 1. the level clause: exactly the candidates level with the leader, each with its share
    level_lead_fig = None
    lv = [r for r in rank[1:] if level_band(L, r["share_of_p95"])]
    maybe = [r for r in rank[1:] if level_band(L, r["share_of_p95"]) is None]
    m = re.match(r"(.*?) of p95 are level \(within 5 points\); (.*?) ranks first\. ", s)
    if m:
        items = re.split(r", | and ", m.group(1))
        named = []
        for it in items:
            mm = re.fullmatch(r"(.+) ([\d.]+)%", it)
            if not mm:
                ck.fail("level clause item %r" % it)
                continue
            named.append((mm.group(1), mm.group(2)))
        by_label = {label(r): r for r in rank}
        for i, (nm, p) in enumerate(named):
            r = by_label.get(nm)
            if not r:
                ck.fail("level clause names %r, no candidate" % nm)
                continue
            ck.expect(pct_ok(p, r["share_of_p95"], 1 if "." in p else 0), "level clause: %s %s%%, the table's %.4g" %
                      (nm, p, r["share_of_p95"] * 100))
            if i == 0:
                ck.expect(r is lead, "level clause opens with %s, not the leader" % nm)
                level_lead_fig = p
        ck.expect(m.group(2) == label(lead), "level clause: %s ranks first, leader is %s" % (m.group(2), label(lead)))
        got = set(nm for nm, _ in named[1:])
        want = set(label(r) for r in lv)
        ck.expect(want <= got <= want | set(label(r) for r in maybe),
                  "level clause names %s, level with the leader: %s" % (sorted(got), sorted(want)))
        s = s[m.end():]
    else:
        ck.expect(not lv, "no level clause, but level with the leader: %s" % [label(r) for r in lv])

    # 2. the leader
    if lead["stage"] == "other":
        m = re.match(r"Instrumentation is missing: ([\d.]+)% of p95 latency is covered by no stage span or batch "
                     r"window \(other\); add spans for the uncovered work before acting on this report\.", s)
        if not m:
            ck.fail("other leader: sentence %r" % s)
            return
        ck.expect(pct_ok(m.group(1), L, 0), "other leader's share %s%%" % m.group(1))
        s = s[m.end():]
    else:
        m = re.match(r"([\d.]+)% of p95 latency is ", s)
        if not m:
            ck.fail("leader clause missing: %r" % s)
            return
        dec = 1 if "." in m.group(1) else 0
        # one candidate, one figure: the level clause names the leader as the headline does
        ck.expect(level_lead_fig is None or level_lead_fig == m.group(1),
                  "the leader is %s%% in the level clause, %s%% in the headline" % (level_lead_fig, m.group(1)))
        ck.expect(pct_ok(m.group(1), L, dec),
                  "leader %s: %s%%, the table's %.4g%%" % (lead["stage"], m.group(1), L * 100))
        if dec:  # a decimal only for useful kernel under 50% that whole percents would call 50%
            ck.expect(lead["stage"] == "kernel" and L < MODEL_KERNEL + TOL and round(L * 100) >= 50,
                      "leader's share %s%% with a decimal" % m.group(1))
        elif lead["stage"] == "kernel":
            ck.expect(not (L < MODEL_KERNEL - TOL and int(m.group(1)) >= 50),
                      "leader useful kernel %s%% reads as meeting 50%%, but is %.4g%%" % (m.group(1), L * 100))
        s = s[m.end():]
        head = " (%s, %s" % (lead["stage"], lead["group"])
        at = s.find(head)
        if at < 0:
            ck.fail("leader's (stage, group) %r not in %r" % (head, s))
            return
        s = s[at + len(head):]
        close = balanced_end("(" + s, 0) - 2  # the group opened before head; a detail may hold "( )"
        # the detail of docs/analysis.md "The sentence": what the leader's time is made of
        detail = s[:close]
        s = s[close + 1:]
        if lead["stage"] == "padding":
            mm = re.fullmatch(r"; ([\d.]+)% of computed tokens are padding", detail)
            ck.expect(bool(mm) and pct_ok(mm.group(1), rep["padding"]["waste_fraction"], 0),
                      "padding detail %r, waste %.4g" % (detail, rep["padding"]["waste_fraction"]))
        elif lead["stage"] == "queue" and past:
            mm = re.fullmatch(r"; a queue past the window: its p95 (\S+ \S+), the window (\S+ \S+); batches not full "
                              r"\(median (\d+) of (\d+)\), a batch in flight ([\d.]+)% of the time", detail)
            ck.expect(bool(mm) and dur_ok(mm.group(1), queue_row["p95_us"] * 1000) and
                      dur_ok(mm.group(2), window_us * 1000) and int(mm.group(3)) == bsize.get("p50") and
                      int(mm.group(4)) == max_batch and pct_ok(mm.group(5), in_flight, 0) and
                      float(mm.group(5)) < SATURATED * 100,  # not saturated: never printed at the line
                      "queue past the window (p95 %s us, window %s us, median batch %s of %s, in flight %.4g) "
                      "detail %r" % (queue_row["p95_us"], window_us, bsize.get("p50"), max_batch, in_flight, detail))
        elif lead["stage"] == "queue":
            if refusing_only:
                mm = re.fullmatch(r"; a service past its capacity, ([\d.]+)% of requests rejected; a batch is in flight "
                                  r"([\d.]+)% of the time", detail)
                ck.expect(bool(mm) and abs(float(mm.group(1)) - 100.0 * n_rej / n_all) <= 0.05,
                          "refusing queue (%d of %d rejected) detail %r" % (n_rej, n_all, detail))
                if mm:  # the in-flight share below, as the other readings print it
                    mm = re.fullmatch(r".*; a batch is in flight ([\d.]+)% of the time", detail)
            elif full and not device_saturated:
                mm = re.fullmatch(r"; full batches, a queue past the window; a batch is in flight ([\d.]+)% of the time",
                                  detail)
            else:
                mm = re.fullmatch(r"; behind a saturated device, a batch is in flight ([\d.]+)% of the time", detail)
            if saturated:
                # below the line (full batches), the share is never printed at it (84.8%, not 85%)
                ck.expect(bool(mm) and pct_ok(mm.group(1), in_flight, 0) and
                          (in_flight >= SATURATED or float(mm.group(1)) < SATURATED * 100),
                          "saturated queue (in flight %.4g) detail %r" % (in_flight, detail))
            else:
                ck.expect(detail == "", "queue detail %r, in flight %.4g" % (detail, in_flight))
        if lead["stage"] == "kernel":
            s = check_kernel_leader(rep, rank, s, ck)
            if s is None:
                return
        else:
            fix = take(s, ": " + (lead["fix"] or ""))
            if fix is None:
                ck.fail("leader's fix is not the ranking's %r: %r" % (lead["fix"], s))
                return
            s = fix
            if lead["stage"] == "queue":
                check_queue_fix(rep, lead["fix"], saturated, ck, past, event_loop, refusing_only)
            if s.startswith(" (what-if: "):
                ck.expect(lead["group"] == "configuration", "what-if clause after a %s leader" % lead["group"])
                s = s[balanced_end(s, 1):]
            m = re.match(r"; removing it would cut p95 by ([^.]+(?:\.\d+ [a-z]+)?)\.", s)
            if not m:
                ck.fail("saving clause: %r" % s)
                return
            ck.expect(dur_ok(m.group(1), lead["p95_saving_us"] * 1e3),
                      "saving %s, the ranking's %.3f us" % (m.group(1), lead["p95_saving_us"]))
            s = s[m.end():]

    # 3. every later candidate above 10% of p95, in ranking order, with its group and fix
    listed = [r for r in rank[1:] if ge(r["share_of_p95"], LIST_SHARE)]
    unsure = [r for r in rank[1:] if ge(r["share_of_p95"], LIST_SHARE) is None]
    got = []
    if s.startswith(" Next: "):
        s = s[len(" Next: "):]
        while True:
            r = next((r for r in rank[1:] if s.startswith(label(r) + " ") and r["stage"] not in got), None)
            if r is None:
                ck.fail("Next: names no candidate: %r" % s)
                return
            m = re.match(re.escape(label(r)) + r" ([\d.]+)% \(" + re.escape(r["group"]) + ": " +
                         re.escape(r["fix"] or "") + r"\)", s)
            if not m:
                ck.fail("Next: %s's figure, group or fix: %r" % (r["stage"], s[:160]))
                return
            ck.expect(pct_ok(m.group(1), r["share_of_p95"], 0), "Next: %s %s%%, the table's %.4g%%" %
                      (r["stage"], m.group(1), r["share_of_p95"] * 100))
            got.append(r["stage"])
            s = s[m.end():]
            if s.startswith("; "):
                s = s[2:]
                continue
            if s.startswith("."):
                s = s[1:]
                break
            ck.fail("Next: list does not end: %r" % s)
            return
    want = [r["stage"] for r in listed]
    ok_set = [r["stage"] for r in rank[1:] if r in listed or r in unsure]
    ck.expect(set(want) <= set(got) <= set(ok_set) and got == [x for x in ok_set if x in got],
              "Next lists %s, above 10%% of p95: %s" % (got, want))

    # 4. the model clause
    s = check_model_clause(rep, rank, s, saturated and not refusing_only, kernels_unmeasured, ck)
    if s is None:
        return

    # 5. rejections (DESIGN 8a)
    oc = rep.get("outcomes") or {}
    total = oc.get("total") or 0
    rej = ((oc.get("by_outcome") or {}).get("rejected") or {}).get("count", 0)
    m = re.match(r" Requests are being rejected: ([\d.]+)% of all requests \((\d+) of (\d+)\) were refused, so the "
                 r"latency of the served requests understates the problem; the service needs more capacity "
                 r"\(replicas or workers\) before latency tuning pays\.", s)
    if m:
        ck.expect(int(m.group(2)) == rej and int(m.group(3)) == total and total and rej / total >= REJECTING - TOL,
                  "rejection clause %s of %s, the report: %s of %s" % (m.group(2), m.group(3), rej, total))
        ck.expect(total and pct_ok(m.group(1), rej / total, 1), "rejection clause %s%% of %s of %s" %
                  (m.group(1), rej, total))
        s = s[m.end():]
    else:
        ck.expect(not total or rej / total < REJECTING + TOL, "no rejection clause, %d of %d rejected" % (rej, total))

    # 6. errors (DESIGN 8a; docs/analysis.md section 6, "Errors"): from the same 1% of all requests,
    # after the rejection clause; "so this latency describes only the served requests" unless the
    # scope is every finished request
    err = ((oc.get("by_outcome") or {}).get("error") or {}).get("count", 0)
    m = re.match(r" Requests are failing: ([\d.]+)% of all requests \((\d+) of (\d+)\) ended in an error"
                 r"(, so this latency describes only the served requests)?; fix the failures first \(the report's "
                 r"outcomes table gives their statuses and latency\)\.", s)
    if m:
        ck.expect(int(m.group(2)) == err and int(m.group(3)) == total and total and err / total >= REJECTING - TOL,
                  "error clause %s of %s, the report: %s of %s" % (m.group(2), m.group(3), err, total))
        ck.expect(total and pct_ok(m.group(1), err / total, 1), "error clause %s%% of %s of %s" %
                  (m.group(1), err, total))
        ck.expect(bool(m.group(4)) == (oc.get("scope") != "all"),
                  "error clause: 'describes only the served requests' with scope %r" % oc.get("scope"))
        s = s[m.end():]
    else:
        ck.expect(not total or err / total < REJECTING + TOL, "no error clause, %d of %d failed" % (err, total))
    # 7. cancellations (DESIGN 8a; docs/analysis.md section 6, "Cancellations")
    s = check_cancellations(rep, s, None, ck)
    ck.expect(s == "", "the sentence says more than the rules explain: %r" % s)


def check_queue_fix(rep, fix, saturated, ck, past=False, event_loop=False, refusing_only=False):
    """The queue's fix follows saturation (docs/analysis.md section 6, "Saturation", "Fix texts"), and
    a queue past the window ("Queue past the window"). A continuous-batching queue saturated only by
    its refusals keeps its own fix, which adds a replica already."""
    steps = bool((rep.get("generation") or {}).get("steps"))
    never_full = "steps never ran --max-num-seqs sequences" in fix
    if never_full:
        ck.expect(steps, "a batch trace's queue told about --max-num-seqs")
        return
    if steps:
        if saturated and not refusing_only:
            ck.expect(fix.startswith("add replicas or capacity, or raise ") and
                      fix.endswith(" if the KV cache has room"), "saturated continuous-batching queue's fix %r" % fix)
        else:
            ck.expect(fix.startswith("raise ") and fix.endswith(" or add a replica"),
                      "continuous-batching queue's fix beside a device with room %r" % fix)
    elif past:
        # the what-if weighed a quarter window against one more instance (docs/whatif.md, "The
        # verdict's prediction"): the lower p95 is quoted, the instance only 2% or more below the
        # window's, and the fix leads with the change quoted
        pred = (rep.get("verdict") or {}).get("prediction") or {}
        alt = pred.get("alternative")
        if pred.get("available"):
            ck.expect(alt is not None, "queue past the window's prediction without the other change")
        instance = bool(alt) and pred.get("setting") == "instances"
        if alt:
            window_p95 = alt["p95_after_us"] if instance else pred["p95_after_us"]
            more_p95 = pred["p95_after_us"] if instance else alt["p95_after_us"]
            ck.expect(instance == (more_p95 <= window_p95 * 0.98),
                      "queue past the window quotes %s: one more instance %.3f us, a quarter window %.3f us" %
                      (pred.get("setting"), more_p95, window_p95))
        if instance:
            ck.expect(fix.startswith("add a worker (one more instance), since each batch waits for a free one, "
                                     "then shorten the batch window with max-queue-delay, and ") and
                      fix.endswith("(CPU contention)") and ("blocked event loop" in fix) == bool(event_loop),
                      "queue past the window's fix %r, the what-if quoting one more instance" % fix)
        else:
            ck.expect(fix.startswith("shorten the batch window with max-queue-delay, and find why the batcher "
                                     "dispatches late: ") and
                      fix.endswith(", or too few workers, each batch waiting for a free one") and
                      ("blocked event loop" in fix) == bool(event_loop), "queue past the window's fix %r" % fix)
    elif saturated:
        ck.expect("add replicas or capacity" in fix and "shorten the batch window" not in fix,
                  "saturated queue's fix %r" % fix)
    else:
        ck.expect("shorten the batch window" in fix, "queue's fix beside a device with room %r" % fix)


def check_kernel_leader(rep, rank, s, ck):
    """A useful-kernel leader: the model recommended exactly when the thresholds hold, else each failed
    condition with its figure. Returns the rest of the sentence, or None on a failure to parse."""
    lead = rank[0]
    L = lead["share_of_p95"]
    shares = {r["stage"]: r["share_of_p95"] for r in rank}
    gap, pad = shares.get("gap", 0.0), shares.get("padding", 0.0)
    level = [r for r in rank[1:] if level_band(L, r["share_of_p95"])]
    conds = [ge(L, MODEL_KERNEL), None if ge(gap, MODEL_GAP) is None else not ge(gap, MODEL_GAP),
             None if ge(pad, MODEL_PADDING) is None else not ge(pad, MODEL_PADDING)]
    rec = rep["verdict"].get("recommend_model")
    thin = getattr(ck, "thin", False)
    if None not in conds or thin:
        want = all(c is True for c in conds) and not level and not thin
        ck.expect(bool(rec) == want, "recommend_model %s, the thresholds say %s" % (rec, want))
    m = re.match(r": the model itself is the bottleneck, with device idle time inside batches and compute on pad "
                 r"tokens each under 10% of p95; " + re.escape(lead["fix"] or "") +
                 r" would help; removing it would cut p95 by ([^.]+(?:\.\d+ [a-z]+)?)\.", s)
    if m:
        ck.expect(bool(rec), "the sentence recommends the model, recommend_model is false")
        ck.expect(dur_ok(m.group(1), lead["p95_saving_us"] * 1e3), "saving %s" % m.group(1))
        return s[m.end():]
    ck.expect(not rec, "recommend_model true, the sentence does not recommend the model")
    m = re.match(r", the largest candidate; removing it would cut p95 by ([^.]+(?:\.\d+ [a-z]+)?)\. A model change "
                 r"is not the first fix yet: ", s)
    if not m:
        ck.fail("kernel leader: %r" % s[:200])
        return None
    ck.expect(dur_ok(m.group(1), lead["p95_saving_us"] * 1e3), "saving %s" % m.group(1))
    s = s[m.end():]
    reasons = []
    analysed = (rep.get("requests") or {}).get("count") or 0
    rests = "it rests on %d %s request%s" % (analysed, "finished" if (rep.get("outcomes") or {}).get("scope") == "all"
                                             else "ok", "" if analysed == 1 else "s")
    if s.startswith(rests):
        ck.expect(thin, "'%s' on a sample that is not thin" % rests)
        reasons.append("thin")
        s = s[len(rests):]
        if s.startswith("; it is under"):
            s = s[2:]
    else:
        ck.expect(not thin, "a thin sample's kernel leader does not say what it rests on")
    if s.startswith("it is under 50% of p95"):
        ck.expect(ge(L, MODEL_KERNEL) is not True, "'under 50%%' of a %.4g%% leader" % (L * 100))
        reasons.append("under")
        s = s[len("it is under 50% of p95"):]
    else:
        ck.expect(ge(L, MODEL_KERNEL) is not False, "a %.4g%% kernel leader not said to be under 50%%" % (L * 100))
    while True:
        if s.startswith("; "):
            s = s[2:]
        if s.startswith("."):
            s = s[1:]
            break
        m = re.match(r"(.+?) is ([\d.]+)% of p95, (not under 10%|level with it)", s)
        if not m:
            ck.fail("kernel leader's reason: %r" % s[:200])
            return None
        r = next((r for r in rank[1:] if label(r) == m.group(1)), None)
        if r is None:
            ck.fail("reason names %r, no candidate" % m.group(1))
            return None
        ck.expect(pct_ok(m.group(2), r["share_of_p95"], 1), "reason: %s %s%%, the table's %.4g%%" %
                  (m.group(1), m.group(2), r["share_of_p95"] * 100))
        if m.group(3) == "level with it":
            ck.expect(level_band(L, r["share_of_p95"]) is not False, "%s said level, it is not" % m.group(1))
        else:
            limit = {"gap": MODEL_GAP, "padding": MODEL_PADDING}.get(r["stage"])
            ck.expect(limit is not None and ge(r["share_of_p95"], limit) is not False,
                      "%s %.4g%% said not under 10%%" % (m.group(1), r["share_of_p95"] * 100))
        reasons.append(r["stage"])
        s = s[m.end():]
    for name, limit in (("gap", MODEL_GAP), ("padding", MODEL_PADDING)):
        if ge(shares.get(name, 0.0), limit):
            ck.expect(name in reasons, "%s at %.4g%% is not named as a reason" % (name, shares[name] * 100))
    for r in level:
        ck.expect(r["stage"] in reasons, "%s level with the leader is not named as a reason" % r["stage"])
    return s


def check_model_clause(rep, rank, s, saturated, kernels_unmeasured, ck):
    """"The model is not the bottleneck" only 10 points or more behind the leader, never after a kernel,
    other or saturated queue leader; with its figures. Returns the rest, or None on a failure."""
    lead = rank[0]
    L = lead["share_of_p95"]
    useful = next((r["share_of_p95"] for r in rank if r["stage"] == "kernel"), 0.0)
    behind = L - useful
    allowed = not (lead["stage"] in ("kernel", "other") or (lead["stage"] == "queue" and saturated))
    # model time the trace gives whole (a leader, or any from 5% of p95) may be all compute: no claim
    # either way about the model (DESIGN 8: never innocent while it leads or is level)
    if any(model_time(rep, r["stage"]) and (r is lead or ge(r["share_of_p95"], MIN_SHARE) is not False)
           for r in rank):
        allowed = False
    far = ge(behind, MODEL_MARGIN)
    if getattr(ck, "thin", False):  # too few requests: the model neither blamed nor cleared
        allowed = False
    m = re.match(r" The model is not the bottleneck: (?:its compute is under 5% of p95|useful kernel time is ([\d.]+)% "
                 r"of p95, ([\d.]+) points below (.+?))\.", s)
    if m:
        ck.expect(allowed and far is not False and not kernels_unmeasured,
                  "model cleared: leader %s %.4g%%, useful kernel %.4g%% (saturated %s)" %
                  (lead["stage"], L * 100, useful * 100, saturated))
        if m.group(1) is None:
            ck.expect(ge(useful, MIN_SHARE) is not True, "'under 5%%' of a %.4g%% useful kernel" % (useful * 100))
        else:
            ck.expect(ge(useful, MIN_SHARE) is not False, "useful kernel %.4g%% named under 5%%" % (useful * 100))
            ck.expect(pct_ok(m.group(1), useful, 0), "model clause: useful kernel %s%%, the table's %.4g%%" %
                      (m.group(1), useful * 100))
            # the distance is the difference of the whole percents the sentence states (docs/analysis.md
            # section 6, "10-point model margin"), within a point of the exact one
            lead_p = re.match(r"(?:.*?ranks first\. )?(\d+)% of p95", rep["verdict"]["sentence"])
            ck.expect(lead_p is not None and int(m.group(2)) == int(lead_p.group(1)) - int(m.group(1)),
                      "model clause: %s points below, the sentence's figures %s%% and %s%% differ by another" %
                      (m.group(2), lead_p.group(1) if lead_p else "?", m.group(1)))
            ck.expect(abs(int(m.group(2)) - behind * 100) < 1 + TOL * 100, "model clause: %s points, the table's %.4g" %
                      (m.group(2), behind * 100))
            ck.expect(m.group(3) == label(lead), "model clause: below %s, the leader is %s" % (m.group(3), label(lead)))
        return s[m.end():]
    m = re.match(r" The model's compute is not measured \(the trace records no device compute\), so its time cannot be "
                 r"told apart from the (batch windows \(gap\)|named stages) that hold it\.", s)
    if m:
        ck.expect(kernels_unmeasured and allowed and far is not False,
                  "'not measured' clause with kernels measured or not allowed")
        return s[m.end():]
    if allowed and far is True and not (kernels_unmeasured and lead["stage"] == "gap"):
        ck.fail("no model clause: leader %s %.4g%%, useful kernel %.4g%%, %.4g points behind" %
                (lead["stage"], L * 100, useful * 100, behind * 100))
    return s


def gen_label(r):
    """A generation table's candidate as its sentence names it: "useful prefill kernel" for a phase's
    useful kernel work, else the stage name."""
    return "useful " + r["stage"] if r["group"] == "model" and r["stage"].endswith(" kernel") else r["stage"]


def check_steps_unmeasured(key, rank, rows, s, ck):
    """A table of a trace with steps and no kernel at all (docs/generation.md, "Verdicts"): its gap rows
    are the steps' whole time, the model's compute included, so no candidate is advised on as launch
    overhead or syncs, the model is never cleared, a gap leader reads "time inside ... steps with no
    device activity recorded", and the "not measured" clause names the table's gap rows from 5% of p95."""
    for word in ("CUDA graphs", "launch-bound", "synchronisations", "The model is not the bottleneck",
                 "device gap inside"):
        ck.expect(word not in s, "%s: no kernel in the trace, yet the verdict says %r" % (key, word))
    gaps = [r for r in rank if r["stage"].endswith(" gap")]
    for r in gaps:
        ck.expect((r["fix"] or "").startswith(("record the device's kernels (CUPTI, the PyTorch profiler) before",
                                               "record the model's compute as kernel spans before")) and
                  "so this is the steps' whole time" in r["fix"],
                  "%s: %s's fix with no kernel in the trace: %r" % (key, r["stage"], r["fix"]))
    lead = rank[0]
    if lead["stage"].endswith(" gap"):
        phase = lead["stage"][:-len(" gap")]
        ck.expect(re.search(r"of p95 %s is time inside %s steps with no device activity recorded \(%s, %s\)" %
                            (key.upper(), re.escape(phase), re.escape(lead["stage"]), lead["group"]), s) is not None,
                  "%s: the gap leader's reading: %r" % (key, s[:160]))
    m = re.search(r" The model's compute is not measured \(the trace records no device compute\), so its time cannot "
                  r"be told apart from the steps \(([^)]*)\) that hold it\.", s)
    sure = [r["stage"] for r in gaps if ge(r["share_of_p95"], MIN_SHARE)]
    maybe = [r["stage"] for r in gaps if ge(r["share_of_p95"], MIN_SHARE) is None]
    if m:
        got = m.group(1).split(", ")
        ck.expect(set(sure) <= set(got) <= set(sure) | set(maybe) and got == [x for x in (r["stage"] for r in rank)
                                                                             if x in got],
                  "%s: the 'not measured' clause names %s, the gap rows from 5%%: %s" % (key, got, sure))
        ck.expect(all(x in {r["name"] for r in rows} for x in got), "%s: the clause names %s, not rows" % (key, got))
        ck.expect(not lead["stage"].endswith(" gap"), "%s: a 'not measured' clause after a gap leader" % key)
    elif not lead["stage"].endswith(" gap") and sure and " of p95 are level" not in s:
        useful = sum(r["share_of_p95"] for r in rank if r["group"] == "model" and r["stage"].endswith(" kernel"))
        allowed = lead["stage"] not in ("other",) and not lead["stage"].endswith("(model)") and not (
            lead["stage"] == "queue" and "behind a saturated device" in s)
        model_time = any(r["stage"].endswith("(model)") and ge(r["share_of_p95"], MIN_SHARE) is not False
                         for r in rank[1:])
        ck.expect(not (allowed and not model_time and ge(lead["share_of_p95"] - useful, MODEL_MARGIN) is True),
                  "%s: no 'not measured' clause, gap rows %s from 5%% of p95" % (key, sure))


def check_generation(rep, ck):
    """The TTFT and TPOT tables' verdicts (docs/generation.md, docs/analysis.md section 6): each table's
    share columns sum to 1; its ranking holds every row, the kernel rows split into useful work and
    padding (the padding candidates together the table's padding share), in order; and every
    "LABEL N%" the sentence gives, the leader's figure, the level clause and the "Next:" list agree with
    the ranking. The model clause's sum over phases and its distance are checked as in check_sentence."""
    gen = rep.get("generation") or {}
    for key in ("ttft", "tpot"):
        t = gen.get(key) or {}
        rows = t.get("rows") or []
        v = t.get("verdict") or {}
        rank = v.get("ranking") or []
        if not rows or not rank or not rank[0]["share_of_p95"] > 0:
            continue
        for col in ("share_of_p50", "share_of_p95", "share_of_p99"):
            total = sum(r[col] for r in rows)
            ck.expect(abs(total - 1.0) <= 1e-4 * len(rows), "%s %s column sums to %.6f, not 1" % (key, col, total))
        by = {r["stage"]: r for r in rank}
        pads = 0.0
        for row in rows:
            name = row["name"]
            if name.endswith(" kernel"):
                pad = by.get(name[:-len(" kernel")] + " padding", {"share_of_p95": 0.0})["share_of_p95"]
                pads += pad
                useful = by.get(name)
                ck.expect(useful is not None and abs(useful["share_of_p95"] + pad - row["share_of_p95"]) <= 2 * TOL,
                          "%s: %s useful + padding is not the row's %.6g" % (key, name, row["share_of_p95"]))
            else:
                c = by.get(name)
                ck.expect(c is not None and abs(c["share_of_p95"] - row["share_of_p95"]) <= TOL,
                          "%s: ranking %s is not the row's %.6g" % (key, name, row["share_of_p95"]))
        tpad = t.get("padding_share_of_p95") or 0.0
        ck.expect(abs(pads - tpad) <= 4 * TOL,
                  "%s: the padding candidates sum to %.6g, the table's padding %.6g" % (key, pads, tpad))
        for k in range(1, len(rank)):
            ck.expect(rank[k - 1]["share_of_p95"] >= rank[k]["share_of_p95"] - TOL, "%s ranking out of order at %s" %
                      (key, rank[k]["stage"]))
        ck.expect(v.get("stage") == rank[0]["stage"], "%s verdict %s is not the leader %s" % (key, v.get("stage"),
                                                                                            rank[0]["stage"]))
        s = v.get("sentence") or ""
        # a thin sample opens with what it rests on and neither blames nor clears the model
        thin, prefix = thin_prefix(rep)
        if prefix is not None:
            if not s.startswith(prefix):
                ck.fail("%s: a thin sample's sentence does not open with %r: %r" % (key, prefix, s[:200]))
                continue
            s = s[len(prefix):]
            ck.expect("model itself is the bottleneck" not in s and "model is not the bottleneck" not in s and
                      not v.get("recommend_model"), "%s: a thin sample's verdict judges the model" % key)
        else:
            ck.expect("This verdict rests on" not in s, "%s: a 'rests on' prefix on a sample that is not thin" % key)
        # the cancellation clause ends the sentence when it applies (from 1% of all requests)
        at = s.find(" Clients gave up on ")
        ck.expect(check_cancellations(rep, s[at:] if at >= 0 else "", key.upper(), ck) == "",
                  "%s: the cancellation clause does not end the sentence" % key)
        # steps, and no kernel in the trace nor time in the table's kernel rows: the gap rows are unmeasured
        if (not (rep.get("gpu") or {}).get("kernels") and ((gen.get("steps") or {}).get("count") or 0) > 0 and
                not any(r["share_of_p95"] for r in rows if r["name"].endswith(" kernel"))):
            check_steps_unmeasured(key, rank, rows, s, ck)
        L = rank[0]["share_of_p95"]
        m = re.match(r"(.*?) of p95 are level \(within 5 points\); (.*?) ranks first\. ", s)
        level_fig = None
        level = [r for r in rank[1:] if level_band(L, r["share_of_p95"])]
        maybe = [r for r in rank[1:] if level_band(L, r["share_of_p95"]) is None]
        if m:
            labels = {gen_label(r): r for r in rank}
            got = []
            for it in re.split(r", | and ", m.group(1)):
                mm = re.fullmatch(r"(.+) ([\d.]+)%", it)
                r = labels.get(mm.group(1)) if mm else None
                if r is None:
                    ck.fail("%s level clause item %r" % (key, it))
                    continue
                ck.expect(pct_ok(mm.group(2), r["share_of_p95"], 1 if "." in mm.group(2) else 0),
                          "%s level clause: %s" % (key, it))
                if not got:
                    level_fig = mm.group(2)
                got.append(r["stage"])
            ck.expect(got[:1] == [rank[0]["stage"]], "%s level clause opens with %s" % (key, got[:1]))
            want = set(r["stage"] for r in level)
            ck.expect(want <= set(got[1:]) <= want | set(r["stage"] for r in maybe),
                      "%s level clause names %s, level: %s" % (key, got[1:], sorted(want)))
            s = s[m.end():]
        else:
            ck.expect(not level, "%s: no level clause, level with the leader: %s" % (key, [r["stage"] for r in level]))
        m = re.match(r"(?:Instrumentation is missing: )?([\d.]+)% of p95 (TTFT|TPOT) ", s)
        if not m:
            ck.fail("%s leader clause: %r" % (key, s[:120]))
            continue
        ck.expect(m.group(2) == key.upper(), "%s sentence is of p95 %s" % (key, m.group(2)))
        ck.expect(level_fig is None or level_fig == m.group(1),
                  "%s: the leader is %s%% in the level clause, %s%% in the headline" % (key, level_fig, m.group(1)))
        ck.expect(pct_ok(m.group(1), L, 1 if "." in m.group(1) else 0), "%s leader %s %s%%, the ranking's %.4g%%" %
                  (key, rank[0]["stage"], m.group(1), L * 100))
        # the Next list: exactly the later candidates above 10%, in order, each with its figure and group
        listed = [r["stage"] for r in rank[1:] if ge(r["share_of_p95"], LIST_SHARE)]
        unsure = [r["stage"] for r in rank[1:] if ge(r["share_of_p95"], LIST_SHARE) is None]
        got = []
        at = s.find(" Next: ")
        if at >= 0:
            rest = s[at + len(" Next: "):]
            while True:
                r = next((r for r in rank[1:] if rest.startswith(gen_label(r) + " ") and r["stage"] not in got), None)
                mm = r and re.match(re.escape(gen_label(r)) + r" ([\d.]+)% \(" + re.escape(r["group"]) + ": " +
                                    re.escape(r["fix"] or "") + r"\)", rest)
                if not mm:
                    ck.fail("%s Next: %r" % (key, rest[:160]))
                    break
                ck.expect(pct_ok(mm.group(1), r["share_of_p95"], 0), "%s Next: %s %s%%, the ranking's %.4g%%" %
                          (key, r["stage"], mm.group(1), r["share_of_p95"] * 100))
                got.append(r["stage"])
                rest = rest[mm.end():]
                if rest.startswith("; "):
                    rest = rest[2:]
                    continue
                break
        ok = [r["stage"] for r in rank[1:] if r["stage"] in listed or r["stage"] in unsure]
        ck.expect(set(listed) <= set(got) <= set(ok) and got == [x for x in ok if x in got],
                  "%s Next lists %s, above 10%% of p95: %s" % (key, got, listed))
        # the model clause: the useful kernel work of every phase, and the distance between the figures
        mm = re.search(r" The model is not the bottleneck: (?:its compute is under 5% of p95|useful (?:[a-z]+ )?kernel "
                       r"time(?: in all phases)? is (\d+)% of p95, (\d+) points below (.+?))\.", s)
        useful = sum(r["share_of_p95"] for r in rank if r["group"] == "model" and r["stage"].endswith(" kernel"))
        if mm and mm.group(1):
            ck.expect(pct_ok(mm.group(1), useful, 0), "%s model clause: useful kernel %s%%, the ranking's %.4g%%" %
                      (key, mm.group(1), useful * 100))
            ck.expect(ge(L - useful, MODEL_MARGIN) is not False, "%s model cleared %.4g points behind" %
                      (key, (L - useful) * 100))
            ck.expect(int(mm.group(2)) == int(m.group(1).split(".")[0]) - int(mm.group(1)) and "." not in m.group(1),
                      "%s model clause: %s points below, the sentence's figures %s%% and %s%%" %
                      (key, mm.group(2), m.group(1), mm.group(1)))
            ck.expect(mm.group(3) == gen_label(rank[0]), "%s model clause below %s, the leader %s" %
                      (key, mm.group(3), gen_label(rank[0])))


def text_sentence(txt, head="verdict: "):
    """The text report's verdict (or the one headed `head`), its wrapped lines joined."""
    lines = txt.splitlines()
    for i, ln in enumerate(lines):
        if ln.startswith(head):
            out = [ln[len(head):].strip()]
            for nx in lines[i + 1:]:
                if not nx.startswith("         ") or nx.strip().startswith("candidate ") or not nx.strip():
                    break
                out.append(nx.strip())
            return " ".join(out)
    return None


def text_ranking(txt, head="verdict: "):
    """The candidate table under the text report's verdict headed `head`: its rows (name, group, percent
    text, saving text) and the count of candidates it says are not shown; None where there is none."""
    lines = txt.splitlines()
    i = next((k for k, ln in enumerate(lines) if ln.startswith(head)), None)
    if i is None:
        return None
    j = next((k for k in range(i + 1, len(lines)) if lines[k].strip().startswith("candidate ")), None)
    if j is None:
        return None
    rows, hidden = [], 0
    for ln in lines[j + 1:]:
        m = re.fullmatch(r" {9}\((\d+) candidates? under 5% of p95 not shown; the JSON report ranks all\)", ln)
        if m:
            hidden = int(m.group(1))
            break
        m = re.fullmatch(r" {9}(.{22}) (\S+) +(\S+%) +(\S+(?: \S+)?)", ln)
        if not m:
            break
        rows.append((m.group(1).strip(), m.group(2), m.group(3), m.group(4)))
    return rows, hidden


def check_text_ranking(rank, table, where, ck):
    """The text report's candidate table is the JSON ranking from 5% of p95 up, in order: each row's
    name, group, share (one decimal) and p95 saving; the rest counted as not shown."""
    if table is None:
        ck.expect(not rank or not rank[0]["share_of_p95"] > 0, "%s: no candidate table in the text report" % where)
        return
    rows, hidden = table
    shown = [r for r in rank if ge(r["share_of_p95"], MIN_SHARE) is not False]
    sure = [r for r in rank if ge(r["share_of_p95"], MIN_SHARE)]
    ck.expect(len(sure) <= len(rows) <= len(shown) and len(rows) + hidden == len(rank),
              "%s: the text table shows %d candidates and hides %d; the ranking has %d, %d from 5%% up" %
              (where, len(rows), hidden, len(rank), len(sure)))
    for (name, group, pc, saving), r in zip(rows, rank):
        want = r["stage"]
        if r["group"] == "model" and r["stage"].endswith("kernel"):  # not a model-time row ("prefill (model)")
            want = "kernel (useful)" if r["stage"] == "kernel" else "useful " + r["stage"]
        ck.expect(name == want and group == r["group"], "%s: text table row %s %s, the ranking's %s %s" %
                  (where, name, group, want, r["group"]))
        ck.expect(pct_ok(pc[:-1], r["share_of_p95"], 1), "%s: text table %s %s, the ranking's %.4g%%" %
                  (where, name, pc, r["share_of_p95"] * 100))
        ck.expect(dur_ok(saving, r["p95_saving_us"] * 1e3), "%s: text table %s saving %s, the ranking's %.3f us" %
                  (where, name, saving, r["p95_saving_us"]))


def trace_policy(path):
    """(policy.max_batch, policy.max_queue_delay_ns in us, event_loop is asyncio) of the report's trace
    (X.trace beside X.json, which verdict_crosscheck.sh links to the first file analysed; a JSONL
    trace's meta line), 0 for each it lacks."""
    trace = path[:-len(".json")] + ".trace" if path.endswith(".json") else None
    if not trace or not os.path.exists(trace):
        return 0, 0, False
    with open(trace, "rb") as f:
        first = f.readline()
    try:
        props = json.loads(first)["properties"]
    except (ValueError, KeyError, TypeError):
        return 0, 0, False
    def num(k):
        try:
            return int(props[k])
        except (KeyError, ValueError, TypeError):
            return 0
    return num("policy.max_batch"), num("policy.max_queue_delay_ns") / 1000.0, props.get("event_loop") == "asyncio"


def check_file(path):
    """The checks of one report; with a text report beside it (X.txt for X.json), its sentence too."""
    with open(path) as f:
        rep = json.load(f)
    ck = Check(path)
    ck.policy = trace_policy(path)
    if (rep.get("requests") or {}).get("count"):
        check_table(rep, ck)
        check_ranking(rep, ck)
        check_sentence(rep, ck)
        check_generation(rep, ck)
    txt = path[:-len(".json")] + ".txt" if path.endswith(".json") else None
    if txt and os.path.exists(txt):
        with open(txt) as f:
            text = f.read()
        t = text_sentence(text)
        js = " ".join((rep["verdict"]["sentence"] or "").split())
        ck.expect(t == js, "text and JSON sentences differ:\n  text: %s\n  json: %s" % (t, js))
        if (rep.get("requests") or {}).get("count"):
            check_text_ranking(rep["verdict"]["ranking"], text_ranking(text), "verdict", ck)
        # a generation report's TTFT and TPOT verdicts (docs/generation.md) too
        gen = rep.get("generation") or {}
        for key, head in (("ttft", "TTFT verdict: "), ("tpot", "TPOT verdict: ")):
            gv = ((gen.get(key) or {}).get("verdict") or {}).get("sentence")
            if gv:
                tg = text_sentence(text, head)
                ck.expect(tg == " ".join(gv.split()), "text and JSON %s sentences differ:\n  text: %s\n  json: %s" %
                          (key, tg, gv))
                check_text_ranking(gen[key]["verdict"].get("ranking") or [], text_ranking(text, head), key, ck)
    return ck.errors


def main(argv):
    if len(argv) < 2:
        sys.stderr.write("usage: verdict_crosscheck.py REPORT.json...\n")
        return 2
    bad = 0
    for path in argv[1:]:
        errors = check_file(path)
        for e in errors:
            sys.stderr.write("%s: %s\n" % (path, e))
        bad += bool(errors)
    if bad:
        sys.stderr.write("%d of %d reports disagree with their tables\n" % (bad, len(argv) - 1))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
