#!/usr/bin/env python3
"""Cross-checks every figure of `servprof analyze`'s text report against its JSON report
(docs/report-format.md, "Text report"): the header, the latency and batch size lines, the stage table,
outcomes, padding, cost, the GPU block (span line, counts, idle breakdown, top kernels, copies,
launches), the generation block (quantile lines, TTFT/TPOT tables, steps, KV cache, cost per output
token) and the data quality lines. Each figure the text prints is parsed and must be what the JSON's
figure gives under the text's own rule (src/common/format.c sp_fmt_dur, src/report/format.c
sp_rep_fmt_pct/sp_rep_fmt_money: durations in ns/us/ms/s with 0/1/2/3 decimals, percent with one
decimal, dollars $0, $%.2f from 1, $%.4f from 1e-4, else $%.3g), the JSON figure moved by no more than
its own rounding (exact ns for times, 1 ns for means, 6 significant digits for shares and rates, 9
for money). Rows the JSON has that the text promises (every stage, every cost state, the top 10
kernels, every copy kind, every idle stream, every outcome with requests) must be there, in order.
A section the JSON has and the parser never reached fails (the coverage guard).

Run as: text_crosscheck.py [--doctor] REPORT.json...   (X.txt beside X.json: the text report of the same trace)
   or: text_crosscheck.py --make DIR A:B[,C...]   (writes the oracles' traces of seeds A..B, C into DIR and prints
       a manifest, one report a line: NAME [FLAGS] -- FILE...)
--doctor: for each report, change one figure per section of the text by one unit of its last digit and
check that each change is caught (a checker that cannot fail does not pass).
Stdlib only (/usr/bin/python3).
"""
import json
import math
import os
import re
import sys

# a figure and its unit may sit either side of a wrapped line's break
DUR = r"(?:n/a|\d+(?:\.\d+)?\s+(?:ns|us|ms|s)\b)"
SDUR = r"(?:0\s+ns|[-+]\d+(?:\.\d+)?\s+(?:ns|us|ms|s)\b)"
PCT = r"(?:n/a|-?\d+\.\d%)"
MONEY = r"(?:n/a|\$-?[0-9.]+(?:e[-+]\d+)?)"
INT = r"(?:\d+)"

SIG_SHARE = 6       # shares and rates: %.6g in the JSON
SIG_MONEY = 9       # money: %.9g in the JSON
STATES = ["useful", "padding", "copies", "gap", "no_batch"]
OUTCOMES = ["ok", "rejected", "error", "cancelled", "unfinished"]


def fmt_dur(ns):
    if ns is None:
        return "n/a"
    a = abs(ns)
    if a < 1e3:
        return "%.0f ns" % ns
    if a < 1e6:
        return "%.1f us" % (ns / 1e3)
    if a < 1e9:
        return "%.2f ms" % (ns / 1e6)
    return "%.3f s" % (ns / 1e9)


def fmt_sdur(ns):
    if ns == 0:
        return "0 ns"
    return ("-" if ns < 0 else "+") + fmt_dur(abs(ns))


def fmt_pct(f):
    return "n/a" if f is None else "%.1f%%" % (f * 100.0)


def fmt_money(v):
    if v is None:
        return "n/a"
    if v == 0:
        return "$0"
    if abs(v) >= 1:
        return "$%.2f" % v
    if abs(v) >= 1e-4:
        return "$%.4f" % v
    return "$%.3g" % v


def fmt_per1m(v):
    """sp_rep_fmt_cost_per_request's "$5.713" form: a cost per request per 1M requests, three
    decimals, three significant digits below 0.001."""
    if v is None:
        return "n/a"
    m = v * 1e6
    if m == 0 or abs(m) >= 0.001:
        return "$%.3f" % m
    return "$%.3g" % m


def fmt_int(v):
    return "%d" % v


def fmt_rate(v):
    return "n/a" if v is None else "%.2f" % v


def fmt_name(s, width):
    """sp_rep_fmt_name: control bytes as ?, cut to width - 3 columns and ... when longer."""
    s = "".join("?" if ord(c) < 0x20 or ord(c) == 0x7F else c for c in (s or ""))
    if len(s) > width:
        return s[:max(width - 3, 0)] + "..."
    return s


FMT = {"dur": fmt_dur, "sdur": fmt_sdur, "pct": fmt_pct, "money": fmt_money, "per1m": fmt_per1m, "int": fmt_int, "rate": fmt_rate}


def ns(us):
    """A JSON microsecond figure (3 decimals: exact ns) in ns, or None."""
    return None if us is None else round(us * 1000)


def mean_ns(us):
    return None if us is None else us * 1000.0


class Mismatch(Exception):
    pass


class Report:
    """One report: the JSON, the text, and every figure checked as (section, offset, token)."""

    def __init__(self, name, rep, txt):
        self.name = name
        self.rep = rep
        self.txt = txt
        self.errors = []
        self.figures = []           # (section, offset in txt, token, whether only one text fits the JSON)
        self.sections = {}          # section -> figures checked

    def fail(self, sec, msg):
        self.errors.append("%s: %s: %s" % (self.name, sec, msg))

    def fig(self, sec, m, g, kind, exp, tol=0.0, rel=0.0, sig=0, what=""):
        """Checks group g of match m (a figure of kind) against the JSON's exp, which may sit tol
        (absolute), rel (relative) or half a unit of its sig-th significant digit (the JSON's %.{sig}g)
        away from the figure the report formatted."""
        tok = m.group(g)
        off = m.start(g)
        shown = re.sub(r"\s+", " ", tok)
        self.sections[sec] = self.sections.get(sec, 0) + 1
        f = FMT[kind]
        if exp is None:
            want = {f(None)} if kind not in ("int", "sdur") else set()
        else:
            d = max(tol, abs(exp) * rel)
            if sig and exp:
                d = max(d, 0.5 * 10.0 ** (math.floor(math.log10(abs(exp))) - (sig - 1)) * (1 + 1e-9))
            want = {f(exp), f(exp - d), f(exp + d)}
            if kind == "money" and exp == 0:
                want.add("$0")
        # (a figure whose JSON value could format either way is no figure for the doctor to change)
        self.figures.append((sec, off, tok, len(want) == 1))
        if shown not in want:
            self.fail(sec, "%s: the text says %r, the JSON's %r gives %s" % (what or "figure", shown, exp,
                                                                               " or ".join(sorted(want)) or "nothing"))

    def lit(self, sec, got, want, what):
        if got != want:
            self.fail(sec, "%s: the text says %r, the JSON gives %r" % (what, got, want))

    def search(self, sec, pattern, what, flags=re.M):
        """The one match of pattern (spaces in it match any white space, for wrapped lines)."""
        m = re.search(pattern, self.txt, flags)
        if not m:
            self.fail(sec, "no %s in the text report" % what)
        return m


def sp(s):
    """A pattern whose single spaces match a wrap too (a newline and the indent)."""
    return s.replace(" ", r"\s+")


def quant(r, sec, m, q, groups, labels=("p50", "p95", "p99", "mean", "max"), what=""):
    for g, k in zip(groups, labels):
        v = q.get(k) if q else None
        if k == "mean":
            r.fig(sec, m, g, "dur", mean_ns(v), tol=1.0, what=what + k)
        else:
            r.fig(sec, m, g, "dur", ns(v), what=what + k)


def check_header(r):
    rep = r.rep
    m = r.search("header", r"\Aservprof report: (%s) files?, (%s) requests?, (%s) batch(?:es)?, window (%s), price "
                 r"(%s)/h( \(default\))?" % (INT, INT, INT, DUR, MONEY), "header line")
    if not m:
        return
    r.fig("header", m, 1, "int", rep["files"], what="files")
    r.fig("header", m, 2, "int", rep["requests"]["count"], what="requests")
    r.fig("header", m, 3, "int", rep["batches"]["count"], what="batches")
    w = rep["cost"]["window_us"]
    r.fig("header", m, 4, "dur", ns(w) if w else None, what="window")
    r.fig("header", m, 5, "money", rep["cost"]["price_per_hour"], sig=SIG_MONEY, what="price")
    r.lit("header", bool(m.group(6)), bool(rep["cost"]["price_is_default"]), "(default)")


def latency_line(r, label, q):
    pat = r"^%s +p50 (%s) +p95 (%s) +p99 (%s) +mean (%s) +max (%s)$" % (re.escape(label), DUR, DUR, DUR, DUR, DUR)
    m = r.search("latency", pat, "line " + label)
    if m:
        quant(r, "latency", m, q, range(1, 6), what=label + " ")


def check_latency(r):
    rep = r.rep
    req = rep["requests"]
    if not req["count"]:
        return
    if req.get("client_latency_us"):
        latency_line(r, "end-to-end (send -> reply):", req["latency_us"])
        latency_line(r, "server (arrival -> done):", req["server_latency_us"])
        latency_line(r, "client (intended -> reply):", req["client_latency_us"])
    else:
        latency_line(r, "latency (arrival -> done):", req["latency_us"])
    b = rep["batches"]
    if b["count"] and b["size"]["count"]:
        m = r.search("batch size", r"^batch size: +p50 (%s) +p95 (%s) +max (%s) requests$" % (INT, INT, INT),
                     "batch size line")
        if m:
            for g, k in ((1, "p50"), (2, "p95"), (3, "max")):
                r.fig("batch size", m, g, "int", b["size"][k], what=k)


ROW = r"^(.*?) +(%s) +(%s) +(%s) +(%s) +(%s) +(%s) +(%s)$" % (DUR, DUR, DUR, DUR, PCT, PCT, PCT)


def check_table(r, sec, title, rows, value, total_label):
    """A stage table (the report's or a generation table): its rows, in order, then the total row."""
    lines = r.txt.split("\n")
    head = re.compile(r"^%s +p50 +p95 +p99 +mean +%% of p50 +%% of p95 +%% of p99$" % re.escape(title))
    starts = [i for i, l in enumerate(lines) if head.match(l)]
    if len(starts) != 1:
        r.fail(sec, "%d table headers %r in the text report" % (len(starts), title))
        return
    base = sum(len(l) + 1 for l in lines[:starts[0] + 1])
    i = starts[0] + 1
    for k, row in enumerate(rows + [None]):
        line = lines[i] if i < len(lines) else ""
        m = re.compile(ROW).match(line)
        name = fmt_name(row["name"], 16) if row else total_label
        if not m:
            r.fail(sec, "row %d (%s): not a table row: %r" % (k, name, line))
            return
        # offsets into the whole text for the doctor
        m = re.compile(ROW, re.M).match(r.txt, base)
        r.lit(sec, m.group(1), name, "row %d's name" % k)
        q = row if row else None
        if row:
            for g, key in zip(range(2, 6), ("p50_us", "p95_us", "p99_us", "mean_us")):
                if key == "mean_us":
                    r.fig(sec, m, g, "dur", mean_ns(row[key]), tol=1.0, what=name + " mean")
                else:
                    r.fig(sec, m, g, "dur", ns(row[key]) if row[key] is not None else None, what=name + " " + key)
            for g, key in zip(range(6, 9), ("share_of_p50", "share_of_p95", "share_of_p99")):
                r.fig(sec, m, g, "pct", row[key], sig=SIG_SHARE, tol=1e-12, what=name + " " + key)
        else:
            quant(r, sec, m, value, range(2, 6), labels=("p50", "p95", "p99", "mean"), what=total_label + " ")
            for g in range(6, 9):  # n/a for a table of no requests, as its figures
                r.lit(sec, m.group(g), "100.0%" if value["count"] else "n/a", total_label + " share")
        del q
        base += len(line) + 1
        i += 1


def check_stages(r):
    rep = r.rep
    if not rep["requests"]["count"]:
        return
    check_table(r, "stage table", "stage", rep["stages"], rep["requests"]["latency_us"], "end-to-end")


def check_outcomes(r):
    rep = r.rep
    o = rep["outcomes"]
    m = re.search(sp(r"^outcomes: (%s) requests?: (.*?); rejection rate (%s)$") % (INT, PCT), r.txt, re.M | re.S)
    if not m:
        shown = o["total"] > o["by_outcome"]["ok"]["count"] or o["scope"] != "ok" or \
            rep["data_quality"]["unclean_files"] or o["unfinished_batches"]
        if shown:
            r.fail("outcomes", "no outcomes line, though the JSON has outcomes to show")
        return
    sec = "outcomes"
    r.fig(sec, m, 1, "int", o["total"], what="total")
    r.fig(sec, m, 3, "pct", o["rejection_rate"], sig=SIG_SHARE, tol=1e-12, what="rejection rate")
    parts = [x for x in re.split(r",\s+", m.group(2).strip())]
    want = ["%d %s" % (o["by_outcome"][k]["count"], k) for k in OUTCOMES
            if o["by_outcome"][k]["count"] or k == "ok"]
    r.lit(sec, parts, want, "counts by outcome")
    r.sections[sec] += len(want)
    pos = m.end()
    for k in OUTCOMES:
        row = o["by_outcome"][k]
        if not row["count"]:
            continue
        pat = re.compile(r"^  %-12s +(%s) +(?:no times|(%s) +(%s) +(%s) +(%s))" % (k, INT, DUR, DUR, DUR, DUR), re.M)
        mm = pat.search(r.txt, pos)
        if not mm:
            r.fail(sec, "no table row for outcome %s" % k)
            continue
        pos = mm.end()
        r.fig(sec, mm, 1, "int", row["count"], what=k + " count")
        if row["latency_us"]["count"]:
            quant(r, sec, mm, row["latency_us"], range(2, 6), labels=("p50", "p95", "p99", "max"), what=k + " ")
        elif mm.group(2):
            r.fail(sec, "outcome %s has times in the text and none in the JSON" % k)
    if o["statuses"]:
        mm = re.compile(sp(r"^  HTTP statuses of the others: (.*?)(?:, (%s) with other statuses)?$") % INT,
                        re.M | re.S).search(r.txt, pos)
        if not mm:
            r.fail(sec, "no HTTP statuses line")
        else:
            got = re.split(r",\s+", mm.group(1).strip())
            r.lit(sec, [re.sub(r"\s+", " ", x) for x in got], ["%d x %d" % (x["status"], x["count"])
                                                                for x in o["statuses"]], "HTTP statuses")
            r.sections[sec] += len(got)
            if o["statuses_unlisted"] or mm.group(2):
                r.fig(sec, mm, 2, "int", o["statuses_unlisted"], what="other statuses")
    if o["unfinished_batches"]:
        mm = r.search(sec, sp(r"^  (%s) batch(?:es)? in flight at the end left out") % INT, "unfinished batches line")
        if mm:
            r.fig(sec, mm, 1, "int", o["unfinished_batches"], what="unfinished batches")


def check_padding(r):
    rep = r.rep
    p = rep["padding"]
    sec = "padding"
    if not p["batches"]:
        r.search(sec, r"^padding: no batch carries token counts", "padding's unknown line")
        return
    m = r.search(sec, r"^padding: (-?%s) effective of (-?%s) padded tokens in (%s) batch(?:es)?: (%s) waste\n"
                 r"  per batch: p50 (%s), p95 (%s), max (%s)\n"
                 r"  padding is (%s) of p95 latency and (%s) of the bill" % (INT, INT, INT, PCT, PCT, PCT, PCT, PCT, PCT),
                 "padding lines")
    if not m:
        return
    r.fig(sec, m, 1, "int", p["effective_tokens"], what="effective tokens")
    r.fig(sec, m, 2, "int", p["padded_tokens"], what="padded tokens")
    r.fig(sec, m, 3, "int", p["batches"], what="batches")
    for g, k in ((4, "waste_fraction"), (5, "waste_p50"), (6, "waste_p95"), (7, "waste_max"), (8, "share_of_p95"),
                 (9, "share_of_bill")):
        v = p[k] if (k != "share_of_p95" or rep["requests"]["count"]) else None
        r.fig(sec, m, g, "pct", v, sig=SIG_SHARE, tol=1e-12, what=k)


def check_cost(r):
    rep = r.rep
    c = rep["cost"]
    sec = "cost"
    n = rep["requests"]["count"]
    if not c["window_us"]:
        m = r.search(sec, r"^cost: no profiled window, so no bill \(price (%s)/h" % MONEY, "cost line")
        if m:
            r.fig(sec, m, 1, "money", c["price_per_hour"], sig=SIG_MONEY, what="price")
        return
    m = r.search(sec, r"^cost: (%s) for a (%s) window at (%s)/h.*?; (?:(%s) per 1M requests|no requests)" %
                 (MONEY, DUR, MONEY, MONEY), "cost line")
    if not m:
        return
    r.fig(sec, m, 1, "money", c["bill"], sig=SIG_MONEY, what="bill")
    r.fig(sec, m, 2, "dur", ns(c["window_us"]), what="window")
    r.fig(sec, m, 3, "money", c["price_per_hour"], sig=SIG_MONEY, what="price")
    if n:
        if m.group(4) is None:
            r.fail(sec, "no per request figure")
        else:
            r.fig(sec, m, 4, "per1m", c["per_request"], sig=SIG_MONEY, what="per request")
    pos = m.end()
    for s in STATES:
        mm = re.compile(r"^  %s +(%s) +(%s) +(%s)$" % (s, MONEY, MONEY, PCT), re.M).search(r.txt, pos)
        if not mm:
            r.fail(sec, "no row for state %s" % s)
            continue
        pos = mm.end()
        r.fig(sec, mm, 1, "money", c["by_state"][s], sig=SIG_MONEY, what=s + " bill")
        r.fig(sec, mm, 2, "per1m", c["per_request_by_state"][s] if n else None, sig=SIG_MONEY,
              what=s + " per request")
        r.fig(sec, mm, 3, "pct", c["by_state_share"][s], sig=SIG_SHARE, tol=1e-12, what=s + " share")
    if not n:
        return
    # the share sentences: padding's (when batches carry tokens), then the largest of copies, gap, no_batch
    sh = c["by_state_share"]
    words = {"padding": "time spent on padding", "copies": "time spent on copies",
             "gap": "time idle while a batch is in flight" if rep["gpu"]["present"] else
             "time inside batch windows with no device activity recorded (the trace has none",
             "no_batch": "time with no batch in flight"}
    for mm in re.finditer(sp(r"^  (%s) of the per-request bill is \S+ (time [^.]*)\.") % PCT, r.txt, re.M):
        st = next((k for k, w in words.items() if re.sub(r"\s+", " ", mm.group(2)).startswith(w)), None)
        if st is None:
            r.fail(sec, "a share sentence of no state: %r" % mm.group(0))
            continue
        r.fig(sec, mm, 1, "pct", sh[st], sig=SIG_SHARE, tol=1e-12, what=st + " sentence share")
    q = c["request_cost"]
    if q["count"]:
        # wrapped at 100 columns (sp): the basis can be long
        m = r.search(sec, sp(r"^  one request's cost \(batch device time (?:by its tokens|in equal shares: no batch carries its members' "
                     r"token counts|by its tokens; equal shares in \d+ of \d+ batches, which lack their members' token "
                     r"counts)\), per 1M requests: p50 (%s), p95 (%s), max (%s)"
                     r"( \(no batch in the trace: no device time is any request's\))?$") %
                     (MONEY, MONEY, MONEY), "request cost line")
        if m:
            for g, k in ((1, "p50"), (2, "p95"), (3, "max")):
                r.fig(sec, m, g, "per1m", q[k], sig=SIG_MONEY, what="request cost " + k)
            if bool(m.group(4)) != (rep["batches"]["count"] == 0):   # the $0 of a trace without batches is said
                r.fail(sec, "request cost line: the no-batch note with %d batches" % rep["batches"]["count"])


def check_gpu(r):
    rep = r.rep
    g = rep["gpu"]
    sec = "gpu"
    if not g["present"]:
        r.search(sec, r"^(?:gpu|device|device \(CPU\)): no device activity", "no-device line")
        return
    m = r.search(sec, r"^(?:gpu|device|device \(CPU\))(?: \([^)]*\))?: span (%s)(?: over \d+ devices \(summed\))?, "
                 r"busy (%s) \((%s)\), idle (%s); compute (%s), non-compute (%s)\n(?:  note: .*\n(?:    .*\n)*)?"
                 r"  (%s) kernels?, (%s) cop(?:y|ies), (%s) memsets?$" % (DUR, DUR, PCT, DUR, DUR, DUR, INT, INT, INT),
                 "gpu lines")
    if not m:
        return
    span, busy = ns(g["span_us"]), ns(g["busy_us"])
    r.fig(sec, m, 1, "dur", span, what="span")
    r.fig(sec, m, 2, "dur", busy, what="busy")
    r.fig(sec, m, 3, "pct", busy / span if span else None, rel=1e-12, what="busy %")
    r.fig(sec, m, 4, "dur", ns(g["idle_us"]), what="idle")
    r.fig(sec, m, 5, "dur", ns(g["compute_us"]), what="compute")
    r.fig(sec, m, 6, "dur", ns(g["non_compute_us"]), what="non-compute")
    r.fig(sec, m, 7, "int", g["kernels"], what="kernels")
    r.fig(sec, m, 8, "int", g["copies"], what="copies")
    r.fig(sec, m, 9, "int", g["memsets"], what="memsets")
    pos = m.end()
    if g["idle_breakdown"]:
        s2 = "gpu idle breakdown"
        mm = r.search(s2, r"^  idle time by stream \(HTA breakdown\):\n.*$", "idle breakdown header")
        pos = mm.end() if mm else pos
        for row in g["idle_breakdown"]:
            mm = re.compile(r"^  %-8d %-10d +(%s) +(%s) +(%s)$" % (row["device"], row["stream"], DUR, DUR, DUR),
                            re.M).search(r.txt, pos)
            if not mm:
                r.fail(s2, "no row for device %d stream %d" % (row["device"], row["stream"]))
                continue
            pos = mm.end()
            for gg, k in ((1, "host_wait_us"), (2, "kernel_wait_us"), (3, "other_us")):
                r.fig(s2, mm, gg, "dur", ns(row[k]), what=k)
    ks = g["kernel_stats"]
    if ks:
        s2 = "gpu top kernels"
        n = min(10, len(ks))
        mm = r.search(s2, r"^  top kernels by total time \((%s) of (%s)\):\n.*$" % (INT, INT), "top kernels header")
        if mm:
            r.fig(s2, mm, 1, "int", n, what="shown")
            r.fig(s2, mm, 2, "int", len(ks), what="of")
            pos = mm.end() + 1
            for k in ks[:n]:
                line = r.txt[pos:r.txt.index("\n", pos)]
                km = re.compile(r"  (.*?) +(%s) +(%s) +(%s) +(%s) +(%s)$" % (INT, DUR, PCT, DUR, DUR), re.M).match(r.txt, pos)
                if not km or km.end() != pos + len(line):
                    r.fail(s2, "not a kernel row: %r" % line)
                    break
                r.lit(s2, km.group(1), fmt_name(k["name"], 44), "kernel name")
                r.fig(s2, km, 2, "int", k["count"], what="count")
                r.fig(s2, km, 3, "dur", ns(k["total_us"]), what="total")
                r.fig(s2, km, 4, "pct", ns(k["total_us"]) / busy if busy else None, rel=1e-12, what="% busy")
                r.fig(s2, km, 5, "dur", ns(k["duration_us"]["p50"]), what="p50")
                r.fig(s2, km, 6, "dur", ns(k["duration_us"]["p95"]), what="p95")
                pos += len(line) + 1
    if g["copy_stats"]:
        s2 = "gpu copies"
        mm = r.search(s2, r"^  copies:\n  kind +count +bytes +total +GB/s$", "copies header")
        pos = mm.end() + 1 if mm else pos
        for c in g["copy_stats"]:
            cm = re.compile(r"  (\S+) +(%s) +(%s|n/a) +(%s) +(n/a|\d+\.\d\d)$" % (INT, INT, DUR), re.M).match(r.txt, pos)
            if not cm:
                r.fail(s2, "no row for copies %s" % c["kind"])
                break
            r.lit(s2, cm.group(1), c["kind"] or "?", "copy kind")
            r.fig(s2, cm, 2, "int", c["count"], what="count")
            # no byte count in the trace: "n/a", never 0 bytes at 0.00 GB/s
            if c["bytes"]:
                r.fig(s2, cm, 3, "int", c["bytes"], what="bytes")
            else:
                r.lit(s2, cm.group(3), "n/a", "copy bytes")
            r.fig(s2, cm, 4, "dur", ns(c["total_us"]), what="total")
            r.fig(s2, cm, 5, "rate", c["gbytes_per_s"] if c["total_us"] else None, sig=SIG_SHARE, what="GB/s")
            pos = cm.end() + 1
    la = g["launch"]
    if la["joined"]:
        s2 = "gpu launches"
        mm = r.search(s2, sp(r"^  launches: (%s) joined on correlation id; launch delay p50 (%s), p95 (%s), max (%s); (%s) "
                             r"kernels? shorter") % (INT, DUR, DUR, DUR, INT), "launches line")
        if mm:
            r.fig(s2, mm, 1, "int", la["joined"], what="joined")
            r.fig(s2, mm, 2, "dur", ns(la["delay_us"]["p50"]), what="delay p50")
            r.fig(s2, mm, 3, "dur", ns(la["delay_us"]["p95"]), what="delay p95")
            r.fig(s2, mm, 4, "dur", ns(la["delay_us"]["max"]), what="delay max")
            r.fig(s2, mm, 5, "int", la["short_kernels"], what="short kernels")
    gl = g["graph_launches"]
    if gl["launches"]:
        s2 = "gpu graph launches"
        mm = r.search(s2, sp(r"^  graph launches: (%s) calls? launched (%s) kernels? \(per launch p50 (%s), max (%s)\); "
                             r"launch to first node p50 (%s), max (%s);") % (INT, INT, INT, INT, DUR, DUR),
                      "graph launches line")
        if mm:
            r.fig(s2, mm, 1, "int", gl["launches"], what="launches")
            r.fig(s2, mm, 2, "int", gl["kernels"], what="kernels")
            r.fig(s2, mm, 3, "int", gl["kernels_per_launch"]["p50"], what="per launch p50")
            r.fig(s2, mm, 4, "int", gl["kernels_per_launch"]["max"], what="per launch max")
            r.fig(s2, mm, 5, "dur", ns(gl["first_delay_us"]["p50"]), what="first p50")
            r.fig(s2, mm, 6, "dur", ns(gl["first_delay_us"]["max"]), what="first max")
    st = g["steps"]
    if st["count"]:
        s2 = "gpu steps"
        mm = r.search(s2, sp(r"^  steps: (%s) \S+ ranges?; device windows (%s) of (%s) analysed: inside busy (%s) "
                             r"\((%s)\), idle (%s); outside busy (%s), idle (%s)$") % (INT, DUR, DUR, DUR, PCT, DUR, DUR, DUR),
                      "steps line")
        if mm:
            w = ns(st["window_us"])
            r.fig(s2, mm, 1, "int", st["count"], what="count")
            r.fig(s2, mm, 2, "dur", w, what="window")
            r.fig(s2, mm, 3, "dur", ns(st["analysed_us"]), what="analysed")
            r.fig(s2, mm, 4, "dur", ns(st["busy_inside_us"]), what="busy inside")
            r.fig(s2, mm, 5, "pct", ns(st["busy_inside_us"]) / w if w else None, rel=1e-12, what="busy inside %")
            r.fig(s2, mm, 6, "dur", ns(st["idle_inside_us"]), what="idle inside")
            r.fig(s2, mm, 7, "dur", ns(st["busy_outside_us"]), what="busy outside")
            r.fig(s2, mm, 8, "dur", ns(st["idle_outside_us"]), what="idle outside")


def gen_quant(r, sec, label, q, pos):
    pat = re.compile(r"^  %-6s (?:none|p50 (%s) +p95 (%s) +p99 (%s) +mean (%s) +max (%s)  \((%s)\))$" %
                     (re.escape(label), DUR, DUR, DUR, DUR, DUR, INT), re.M)
    m = pat.search(r.txt, pos)
    if not m:
        r.fail(sec, "no %s line" % label)
        return pos
    if not q or not q["count"]:
        if m.group(1):
            r.fail(sec, "%s has figures in the text and none in the JSON" % label)
        return m.end()
    if not m.group(1):
        r.fail(sec, "%s says none; the JSON has %d" % (label, q["count"]))
        return m.end()
    quant(r, sec, m, q, range(1, 6), what=label + " ")
    r.fig(sec, m, 6, "int", q["count"], what=label + " count")
    return m.end()


def check_generation(r):
    rep = r.rep
    g = rep.get("generation")
    if not g or not rep["requests"]["count"]:
        return
    sec = "generation"
    m = r.search(sec, sp(r"^generation: (%s) requests? with output tokens, (%s) output tokens \(per request p50 (%s), "
                         r"max (%s)\)$") % (INT, INT, INT, INT), "generation line")
    if not m:
        return
    r.fig(sec, m, 1, "int", g["requests"], what="requests")
    r.fig(sec, m, 2, "int", g["output_tokens"], what="output tokens")
    r.fig(sec, m, 3, "int", g["output_tokens_per_request"]["p50"] or 0, what="per request p50")
    r.fig(sec, m, 4, "int", g["output_tokens_per_request"]["max"] or 0, what="per request max")
    pos = m.end()
    for lab, k in (("TTFT", "ttft_us"), ("TPOT", "tpot_us"), ("ITL", "itl_us"), ("e2e", "e2e_us")):
        pos = gen_quant(r, sec, lab, g[k], pos)
    cl = g.get("client")
    if cl and cl.get("requests"):
        s2 = "generation client"
        mm = re.compile(r"^  client, from the intended send time \((%s) requests?\):$" % INT, re.M).search(r.txt, pos)
        if not mm:
            r.fail(s2, "no client line")
        else:
            r.fig(s2, mm, 1, "int", cl["requests"], what="client requests")
            pos = mm.end()
            for lab, k in (("TTFT", "ttft_us"), ("TPOT", "tpot_us"), ("ITL", "itl_us"), ("e2e", "e2e_us")):
                pos = gen_quant(r, s2, lab, cl.get(k), pos)
    check_table(r, "TTFT table", "TTFT stage", g["ttft"]["rows"], g["ttft"]["value_us"],
                "TTFT (sent)" if g.get("ttft_from") == "send" else "TTFT")
    check_table(r, "TPOT table", "TPOT stage", g["tpot"]["rows"], g["tpot"]["value_us"], "TPOT")
    st = g["steps"]
    if st["count"]:
        s2 = "generation steps"
        mm = r.search(s2, sp(r"^steps: (%s) \((%s) with a prefill member\); requests per step p50 (%s), max (%s)$") %
                      (INT, INT, INT, INT), "steps line")
        if mm:
            r.fig(s2, mm, 1, "int", st["count"], what="steps")
            r.fig(s2, mm, 2, "int", st["prefill_steps"], what="prefill steps")
            r.fig(s2, mm, 3, "int", st["members"]["p50"], what="members p50")
            r.fig(s2, mm, 4, "int", st["members"]["max"], what="members max")
        for what, k in (("prefill steps", "padding_prefill"), ("decode-only steps", "padding_decode")):
            p = st[k]
            if not p["steps"]:
                r.search(s2, sp(r"%s: none with token counts") % what, what + " padding")
                continue
            mm = r.search(s2, sp(r"%s: (-?%s) effective of (-?%s) padded tokens \((%s) waste\)") % (what, INT, INT, PCT),
                          what + " padding")
            if mm:
                r.fig(s2, mm, 1, "int", p["effective_tokens"], what=what + " effective")
                r.fig(s2, mm, 2, "int", p["padded_tokens"], what=what + " padded")
                r.fig(s2, mm, 3, "pct", p["waste_fraction"], sig=SIG_SHARE, tol=1e-12, what=what + " waste")
    kv = g.get("kv_cache")
    if kv and kv["steps"]:
        s2 = "generation KV cache"
        mm = r.search(s2, sp(r"^  KV cache: capacity (-?%s) tokens; in use (%s) tokens on average \(time-weighted\); "
                             r"occupancy per step p50 (%s), p95 (%s), max (%s); (%s) of it unused") %
                      (INT, INT, PCT, PCT, PCT, PCT), "KV cache line")
        if mm:
            r.fig(s2, mm, 1, "int", kv["capacity_tokens"], what="capacity")
            r.lit(s2, mm.group(2), "%.0f" % kv["used_mean_tokens"], "mean in use")
            r.sections[s2] += 1
            for gg, k in ((3, "occupancy_p50"), (4, "occupancy_p95"), (5, "occupancy_max"), (6, "waste_fraction")):
                r.fig(s2, mm, gg, "pct", kv[k], sig=SIG_SHARE, tol=1e-12, what=k)
    gc = g["cost"]
    if g["output_tokens"] and rep["cost"]["window_us"]:
        s2 = "generation cost"
        mm = r.search(s2, sp(r"^cost per 1M output tokens: (%s) \(useful (%s), padding (%s), copies (%s), gap (%s), "
                             r"no_batch (%s)\)") % ((MONEY,) * 6), "cost per output token line")
        if mm:
            r.fig(s2, mm, 1, "per1m", gc["per_output_token"], sig=SIG_MONEY, what="per output token")
            for gg, s in enumerate(STATES, 2):
                r.fig(s2, mm, gg, "per1m", gc["per_output_token_by_state"][s], sig=SIG_MONEY, what=s)
        q = gc.get("request_cost_per_output_token")
        if q and q["count"]:
            mm = r.search(s2, sp(r"one request's cost per 1M output tokens \(its steps' device time by its tokens in each "
                                 r"step\) p50 (%s), p95 (%s)( \(no step in the trace: no device time is any "
                                 r"request's\))?$") % (MONEY, MONEY), "request cost per token")
            if mm:
                r.fig(s2, mm, 1, "per1m", q["p50"], sig=SIG_MONEY, what="request p50")
                r.fig(s2, mm, 2, "per1m", q["p95"], sig=SIG_MONEY, what="request p95")
                if bool(mm.group(3)) != (rep["batches"]["count"] == 0):
                    r.fail(s2, "request cost per token: the no-step note with %d steps" % rep["batches"]["count"])


def check_quality(r):
    rep = r.rep
    sec = "data quality"
    if rep["requests"]["count"]:
        o = rep["other_share_of_p95"]
        m = r.search(sec, r"^unattributed \(`other`\): (%s|under 0\.1%%) of p95 latency" % PCT, "unattributed line")
        if m:
            # under 0.1% (docs/report-format.md item 7): "under 0.1% ... negligible"
            if 0 < o < 0.001 - 1e-9:
                r.lit(sec, m.group(1), "under 0.1%", "unattributed share")
                r.figures.append((sec, m.start(1), m.group(1), False))
                r.sections[sec] = r.sections.get(sec, 0) + 1
            elif m.group(1) != "under 0.1%" or not (0 < o < 0.001 + 1e-9):
                r.fig(sec, m, 1, "pct", o, sig=SIG_SHARE, tol=1e-12, what="unattributed share")
            if o > 0:
                tail = r.txt[m.end():m.end() + 200].replace("\n", " ")
                tail = re.sub(r" +", " ", tail)
                want = "negligible" if o < 0.001 - 1e-9 else "missing instrumentation" if o > 0.001 + 1e-9 else None
                if want and want not in tail.split("activity:", 1)[-1][:40]:
                    r.fail(sec, "unattributed share %r: the line does not end %r" % (o, want))
    dq = rep["drops"]
    m = re.search(sp(r"^data quality: (%s) records? dropped by the recorder(?: up to its last count)? \((.*?)\); (%s) "
                     r"malformed or unresolved records? skipped") % (INT, INT), r.txt, re.M | re.S)
    if not m:
        m = r.search(sec, sp(r"^data quality: drops not known .*?; (%s) malformed or unresolved records? skipped") % INT,
                     "data quality line", re.M | re.S)
        if m:
            r.fig(sec, m, 1, "int", rep["skipped_records"], what="skipped")
        return
    r.fig(sec, m, 1, "int", dq["total"], what="drops")
    r.fig(sec, m, 3, "int", rep["skipped_records"], what="skipped")
    base = m.start(2)
    for cm in re.finditer(r"(\w+)\s+(\d+)", m.group(2)):
        if cm.group(1) not in dq["by_cause"]:
            r.fail(sec, "a drop cause the JSON lacks: %s" % cm.group(1))
            continue
        c2 = re.compile(r"(\d+)").match(r.txt, base + cm.start(2))
        r.fig(sec, c2, 1, "int", dq["by_cause"][cm.group(1)], what="drops " + cm.group(1))


def check_clock(r):
    rep = r.rep
    sec = "clock"
    pos = 0
    for o in rep["clock"]["offsets"]:
        m = re.compile(sp(r"^clock offset \(server - client\): (%s) ") % SDUR, re.M).search(r.txt, pos)
        if not m:
            r.fail(sec, "no clock offset line")
            return
        r.fig(sec, m, 1, "sdur", ns(o["offset_us"]) if o.get("offset_us") is not None else 0, what="offset")
        pos = m.end()
        mm = re.compile(sp(r"\+/- (%s), estimated from (%s) request/response") % (DUR, INT)).match(r.txt, pos)
        if o["source"] == "estimated" and not o["conflict"]:
            if not mm:
                r.fail(sec, "no uncertainty after the offset")
                continue
            r.fig(sec, mm, 1, "dur", ns(o["uncertainty_us"]), what="uncertainty")
            r.fig(sec, mm, 2, "int", o["pairs"], what="pairs")
        elif o["source"] == "estimated":
            mm = re.compile(sp(r"estimated from (%s) request/response pairs? whose bounds conflict by (%s)") %
                            (INT, DUR)).match(r.txt, pos)
            if not mm:
                r.fail(sec, "no conflict after the offset")
                continue
            r.fig(sec, mm, 1, "int", o["pairs"], what="pairs")
            r.fig(sec, mm, 2, "dur", ns(o["conflict_us"]), what="conflict")
        elif o["pairs"] and not o["conflict"]:
            mm = re.compile(sp(r"\([^)]*\); the (%s) request/response pairs? bounds? it to \[(%s), (%s)\]") %
                            (INT, SDUR, SDUR)).match(r.txt, pos)
            if not mm:
                r.fail(sec, "no bounds after the offset")
                continue
            r.fig(sec, mm, 1, "int", o["pairs"], what="pairs")
            r.fig(sec, mm, 2, "sdur", ns(o["lower_us"]), what="lower bound")
            r.fig(sec, mm, 3, "sdur", ns(o["upper_us"]), what="upper bound")
    wpos = 0
    for o in rep["clock"]["offsets"]:
        if o["conflict"]:
            mm = re.compile(sp(r"^warning: the clock bounds of .*? conflict by (%s) \(lower (%s) > upper (%s) over (%s) "
                               r"pairs\)") % (DUR, SDUR, SDUR, INT), re.M | re.S).search(r.txt, wpos)
            if not mm:
                r.fail(sec, "no clock conflict warning")
                continue
            wpos = mm.end()
            r.fig(sec, mm, 1, "dur", ns(o["conflict_us"]), what="conflict")
            r.fig(sec, mm, 2, "sdur", ns(o["lower_us"]), what="lower")
            r.fig(sec, mm, 3, "sdur", ns(o["upper_us"]), what="upper")
            r.fig(sec, mm, 4, "int", o["pairs"], what="pairs")
        if o["violations"]:
            mm = re.compile(sp(r"^warning: (%s) client records? of ") % INT, re.M).search(r.txt, wpos)
            if not mm:
                r.fail(sec, "no violations warning")
                continue
            wpos = mm.end()
            r.fig(sec, mm, 1, "int", o["violations"], what="violations")
    cr = rep["clock"]["client_records"]
    if cr["unjoined"] or cr["failed"] or cr["duplicate"] or cr["unfinished"] or cr["failed_streams"] or cr["unsent"]:
        mm = r.search(sec, sp(r"^client records not used:(?: (%s) whose request did not finish in the server trace "
                              r"\(unfinished(?:; (%s) of them got an answer: the server answered, the trace ended "
                              r"before their end records?)?\),)? (%s) with no matching request, (%s) transport errors? "
                              r"\(no response\),"
                              r"(?: (%s) failed streams? \(.*?\),)?(?: (%s) never sent \(.*?\),)? (%s) duplicates? of")
                      % (INT, INT, INT, INT, INT, INT, INT), "client records not used line", re.M | re.S)
        if mm:
            cr = dict(cr, unfinished_answered=cr.get("unfinished_answered", 0))
            for gg, k in ((1, "unfinished"), (2, "unfinished_answered"), (3, "unjoined"), (4, "failed"),
                          (5, "failed_streams"), (6, "unsent"), (7, "duplicate")):
                if mm.group(gg) is None:
                    if cr[k]:
                        r.fail(sec, "client records %s: %d in the JSON, not in the text" % (k, cr[k]))
                else:
                    r.fig(sec, mm, gg, "int", cr[k], what="client records " + k)
    # the unjoined records by what the client saw (keys only when there are any)
    seen = cr.get("unjoined_seen")
    if bool(seen) != bool(cr["unjoined"]):
        r.fail(sec, "client records: unjoined_seen %r with %d unjoined" % (seen, cr["unjoined"]))
    if seen:
        mm = r.search(sec, sp(r"; the (%s) with no matching request got an answer \(((?:[^()]|\(\d+/\d+\))*)\): ")
                      % INT, "unjoined records by what the client saw", re.M | re.S)
        if mm:
            r.fig(sec, mm, 1, "int", cr["unjoined"], what="unjoined records answered")
            parts = dict((w, int(n)) for n, w in re.findall(r"(\d+) (2xx|rejected|with another status)",
                                                            re.sub(r"\s+", " ", mm.group(2))))
            for k, w in (("2xx", "2xx"), ("rejected", "rejected"), ("other_status", "with another status")):
                r.lit(sec, parts.get(w, 0), seen[k], "unjoined records " + k)
        if seen["no_response"]:
            mm = r.search(sec, sp(r"; (%s) of the transport errors match(?:es)? no request either") % INT,
                          "transport errors matching no request", re.M | re.S)
            if mm:
                r.fig(sec, mm, 1, "int", seen["no_response"], what="transport errors matching no request")
    if rep["requests"]["count"] and rep["requests"].get("client_latency_us") and \
            rep["requests"]["with_client_record"] < rep["requests"]["count"]:
        m = r.search(sec, sp(r"^(%s) of (%s) requests have no client record") % (INT, INT), "requests without client line")
        if m:
            r.fig(sec, m, 1, "int", rep["requests"]["count"] - rep["requests"]["with_client_record"], what="without")
            r.fig(sec, m, 2, "int", rep["requests"]["count"], what="of")


# section -> whether the JSON has it (the coverage guard: each must have had figures checked)
def expected_sections(rep):
    g = rep["gpu"]
    n = rep["requests"]["count"]
    o = rep["outcomes"]
    gen = rep.get("generation")
    want = {
        "header": True,
        "latency": n > 0,
        "batch size": n > 0 and rep["batches"]["count"] > 0 and rep["batches"]["size"]["count"] > 0,
        "stage table": n > 0,
        "outcomes": o["total"] > o["by_outcome"]["ok"]["count"] or o["scope"] != "ok",
        "padding": rep["padding"]["batches"] > 0,
        "cost": True,
        "gpu": g["present"],
        "gpu idle breakdown": bool(g["present"] and g["idle_breakdown"]),
        "gpu top kernels": bool(g["present"] and g["kernel_stats"]),
        "gpu copies": bool(g["present"] and g["copy_stats"]),
        "gpu launches": bool(g["present"] and g["launch"]["joined"]),
        "gpu graph launches": bool(g["present"] and g["graph_launches"]["launches"]),
        "gpu steps": bool(g["present"] and g["steps"]["count"]),
        "generation": bool(gen) and n > 0,
        "TTFT table": bool(gen) and n > 0,
        "TPOT table": bool(gen) and n > 0,
        "generation steps": bool(gen) and n > 0 and bool(gen["steps"]["count"]),
        "generation KV cache": bool(gen) and n > 0 and bool(gen.get("kv_cache") and gen["kv_cache"]["steps"]),
        "generation cost": bool(gen) and n > 0 and bool(gen["output_tokens"]) and bool(rep["cost"]["window_us"]),
        "clock": bool(rep["clock"]["offsets"]),
        "data quality": True,
    }
    return [k for k, v in want.items() if v]


ALL_SECTIONS = ["header", "latency", "batch size", "clock", "outcomes", "stage table", "generation",
                "generation client", "TTFT table", "TPOT table", "generation steps", "generation KV cache",
                "generation cost", "padding", "cost", "gpu", "gpu idle breakdown", "gpu top kernels", "gpu copies",
                "gpu launches", "gpu graph launches", "gpu steps", "data quality"]

CHECKS = [check_header, check_latency, check_clock, check_outcomes, check_stages, check_generation, check_padding,
          check_cost, check_gpu, check_quality]


def check(name, rep, txt):
    r = Report(name, rep, txt)
    if rep.get("source"):
        r.fail("header", "a fleet report: not this checker's")
        return r
    for fn in CHECKS:
        try:
            fn(r)
        except (KeyError, TypeError, ValueError, AttributeError) as e:
            r.fail(fn.__name__, "the checker could not read the report: %r" % e)
    for sec in expected_sections(rep):
        if not r.sections.get(sec):
            r.fail(sec, "the JSON has this section and no figure of it was checked in the text (coverage guard)")
    return r


def bump(tok):
    """The token changed by one unit of its last digit."""
    m = list(re.finditer(r"\d", tok))
    if not m:
        return None
    # the last digit of the mantissa (not of an exponent)
    e = tok.find("e-")
    e = e if e >= 0 else tok.find("e+")
    cand = [x for x in m if e < 0 or x.start() < e]
    i = cand[-1].start()
    d = int(tok[i])
    return tok[:i] + str(d + 1 if d < 9 else d - 1) + tok[i + 1:]


def doctor(name, rep, txt, r):
    """One figure per section changed by one unit of its last digit: each must be caught."""
    bad = 0
    done = set()
    for sec, off, tok, sure in r.figures:
        if sec in done or not sure:
            continue
        new = bump(tok)
        if new is None:
            continue
        done.add(sec)
        t2 = txt[:off] + new + txt[off + len(tok):]
        r2 = check(name, rep, t2)
        if not r2.errors:
            print("FAIL: %s: doctored %s (%r -> %r) passes the check" % (name, sec, tok, new), file=sys.stderr)
            bad += 1
    return bad, len(done)


def make(out, seeds):
    """Writes traces from the oracles' trace makers into out and prints a manifest, one report a line:
    NAME FLAGS... -- FILE... (contract_oracle's mixes, its two-file and client traces; generation_oracle's
    continuously batching traces, with clients, two files and --outcomes=all)."""
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import contract_oracle as co
    import generation_oracle as go
    lines = []
    for seed in seeds:
        if seed % 5 == 4:
            trs = [co.gen_mix(seed)]
        elif seed % 7 == 5:
            trs = [co.gen_trace(seed), co.gen_trace(seed + 100000)]
        else:
            trs = [co.gen_trace(seed)]
            if seed % 4 == 1:
                co.add_clients(trs[0], seed)
            elif seed % 4 == 3:
                co.add_clients(trs[0], seed, [0, 1, 999, 123456789][seed % 3])
                trs[0]["client_file"] = True
        paths = []
        for f, tr in enumerate(trs):
            paths.append(os.path.join(out, "co%d_%d.jsonl" % (seed, f)))
            cpath = os.path.join(out, "co%d_client.jsonl" % seed) if tr.get("client_file") else None
            co.write_jsonl(tr, paths[-1], seed + f, cpath)
            if cpath:
                paths.append(cpath)
        flags = ["--outcomes=all"] if seed % 3 == 0 else []
        lines.append(" ".join(["co%d" % seed] + flags + ["--"] + paths))
        trs = [go.gen_trace(seed)]
        if seed % 3 == 1:
            go.add_clients(trs[0], seed)
        elif seed % 7 == 5:
            trs.append(go.gen_trace(seed + 100000))
        paths = [os.path.join(out, "ge%d_%d.jsonl" % (seed, f)) for f in range(len(trs))]
        for f, tr in enumerate(trs):
            go.write_trace(tr, paths[f], seed + f)
        flags = ["--outcomes=all"] if seed % 5 == 2 else []
        lines.append(" ".join(["ge%d" % seed] + flags + ["--"] + paths))
    print("\n".join(lines))


def main(argv):
    if argv and argv[0] == "--make":
        seeds = []
        for part in argv[2].split(","):
            a, _, b = part.partition(":")
            seeds += range(int(a), int(b or a) + 1)
        make(argv[1], seeds)
        return 0
    doc = False
    if argv and argv[0] == "--doctor":
        doc = True
        argv = argv[1:]
    failed = total = doctored = 0
    reached = {}
    for path in argv:
        name = os.path.basename(path)[:-5]
        tpath = path[:-5] + ".txt"
        rep = json.load(open(path))
        txt = open(tpath, encoding="utf-8", errors="replace").read()
        r = check(name, rep, txt)
        total += len(r.figures)
        for sec in r.sections:
            reached[sec] = reached.get(sec, 0) + 1
        for e in r.errors:
            print("FAIL " + e, file=sys.stderr)
        if r.errors:
            failed += 1
            continue
        if doc:
            bad, n = doctor(name, rep, txt, r)
            doctored += n
            failed += bad > 0
        print("%s: %d figures in %d sections" % (name, len(r.figures), len(r.sections)))
    print("sections reached (reports): " + ", ".join("%s %d" % (k, reached.get(k, 0)) for k in ALL_SECTIONS))
    if len(argv) > 1:  # the coverage guard over the run: each section in some report
        for k in ALL_SECTIONS:
            if not reached.get(k):
                print("FAIL: no report of the run has a %s section checked (the traces lost that case)" % k,
                      file=sys.stderr)
                failed += 1
    print("text crosscheck: %d reports, %d figures checked, %d failed%s" %
          (len(argv), total, failed, ", %d doctored figures caught" % doctored if doc else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
