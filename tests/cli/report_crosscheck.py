#!/usr/bin/env python3
"""Cross-checks the sentences and headline figures of servprof's other reports against their own JSON
(the analyze verdict has verdict_crosscheck.py): every figure a page or a sentence states is derived
again here from the JSON, with the writers' rounding rules (sp_fmt_dur, sp_rep_fmt_pct,
sp_rep_fmt_money, diff_fmt.c), and every claim ("the verdict moved", "HOLDS", "is beyond", "N of M
conditions hold", the what-if advice's choice) is decided again from the JSON's figures.

Modes (each exits 1 with every disagreement on stderr):
  html  REPORT.json PAGE.html          analyze --html against analyze --json (docs/html-report.md):
                                       the verdict box, badge, leader figure and saving, the ranking
                                       table, the summary figures, the stage charts' tooltips (shares,
                                       percentiles), the cost section, the TTFT and TPOT boxes
  diff  DIFF.json DIFF.txt BASE.json NEW.json [EXIT]
                                       servprof diff's text against its JSON (docs/diff.md): each table
                                       row, the verdicts and whether they moved, each condition's line
                                       and the count line (and the exit status, when given); and the
                                       JSON's figures against the two sides' own analyze reports
  diffhtml DIFF.json PAGE.html         servprof diff --html against its JSON: the gate box's sentence and
                                       rows, both verdicts
  whatif WHATIF.json WHATIF.txt        servprof whatif's table and advice against its JSON
                                       (docs/whatif.md "Advice"): the advice's choice is derived again
                                       from the policies, its figures are the rows'
  fleet BINARY [--doctor] SEED...      analyze --prometheus against a stand-in for Prometheus' query
                                       API serving a fleet drawn from each seed (1 to 180 replicas,
                                       some down, targets that never answered, another job's target):
                                       the header's sentences naming replicas against the JSON's
                                       source and the fleet served (docs/fleet.md)

Stdlib only (/usr/bin/python3); html.parser reads the page.
"""
import html.parser
import json
import math
import re
import sys

TOL = 2e-6  # the JSON's rounding of a share (6 significant digits), with room


def dur_ok(stated, ns):
    """Whether `stated` is sp_fmt_dur(ns) ("%.0f ns", "%.1f us", "%.2f ms", "%.3f s"), the JSON's
    microseconds to 3 decimals allowing a neighbour at a unit's edge."""
    m = re.fullmatch(r"([+-]?[\d.]+) (ns|us|ms|s)", stated)
    if not m:
        return False
    unit = {"ns": (1, 0), "us": (1e3, 1), "ms": (1e6, 2), "s": (1e9, 3)}[m.group(2)]
    a = abs(ns)
    want = "ns" if a < 1e3 else "us" if a < 1e6 else "ms" if a < 1e9 else "s"
    if m.group(2) != want and not any(abs(a - e) < 1 for e in (1e3, 1e6, 1e9)):
        return False
    return abs(float(m.group(1)) * unit[0] - ns) <= 0.5 * unit[0] * 10 ** -unit[1] + 1.0


def pct_ok(stated, fraction, decimals=1):
    """Whether "stated%" (no sign or a sign) is fraction x 100 with `decimals` decimals."""
    m = re.fullmatch(r"([+-]?[\d.]+)%", stated)
    return bool(m) and abs(float(m.group(1)) - fraction * 100) <= 0.5 * 10 ** -decimals + TOL * 100


def money_ok(stated, v):
    """Whether `stated` is sp_rep_fmt_money(v): "$0", "$%.2f" from 1, "$%.4f" from 1e-4, else "$%.3g";
    the JSON's money has 9 significant digits, so a neighbour at a rounding edge is allowed. The
    JSON's null (no requests to divide by) is "n/a"."""
    if v is None:
        return stated == "n/a"
    m = re.fullmatch(r"([+-]?)\$([\d.e+-]+)", stated)
    if not m:
        return False
    x = float(m.group(2)) * (-1 if m.group(1) == "-" else 1)
    a = abs(v)
    if a == 0:
        return stated.lstrip("+-") == "$0"
    if a >= 1:
        fmt_ok = re.fullmatch(r"\d+\.\d\d", m.group(2)) is not None
        half = 0.005
    elif a >= 1e-4:
        fmt_ok = re.fullmatch(r"0\.\d{4}", m.group(2)) is not None or m.group(2) == "1.00"
        half = 0.00005
    else:
        fmt_ok = "." in m.group(2) or "e" in m.group(2) or len(m.group(2)) <= 4
        half = 0.5 * 10 ** (math.floor(math.log10(a)) - 2)
    return fmt_ok and abs(x - v) <= half * (1 + 1e-6) + a * 1e-8


def per1m_ok(stated, v):
    """Whether `stated` is sp_rep_fmt_cost_per_request(v) (report_int.h), a cost per request printed
    per 1M requests: "$5.713" (or "... per 1M requests"), three decimals, or three significant digits
    below 0.001; an optional sign (a diff's change). The JSON's null is "n/a"."""
    if v is None:
        return stated == "n/a"
    m = re.fullmatch(r"([+-]?)\$([\d.e+-]+)(?: per 1M requests)?", stated)
    if not m:
        return False
    x = float(m.group(2)) * (-1 if m.group(1) == "-" else 1)
    a = abs(v) * 1e6
    if a == 0 or a >= 0.001 - 1e-12:
        fmt_ok = re.fullmatch(r"\d+\.\d{3}", m.group(2)) is not None
        half = 0.0005
    else:
        fmt_ok = True
        half = 0.5 * 10 ** (math.floor(math.log10(a)) - 2)
    return fmt_ok and abs(x - v * 1e6) <= half * (1 + 1e-6) + a * 1e-8


class Check:
    def __init__(self):
        self.errors = []

    def expect(self, cond, msg):
        if not cond:
            self.errors.append(msg)


# ---------------------------------------------------------------- the analyze HTML page

class Page(html.parser.HTMLParser):
    """The page's text by the element it is in: for each element with an id, its text; the verdict's
    paragraphs; every table's rows (cells' text, the row's class)."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.stack = []          # (tag, attrs)
        self.sections = {}       # id -> text
        self.paras = {}          # section id -> [paragraph texts]
        self.tables = {}         # section id -> [[(class, [cells])]]
        self.kpis = []           # (value, label)
        self.titles = {}         # section id -> [each chart element's <title> text]
        self._title = None
        self._p = None
        self._row = None
        self._cell = None
        self._kpi = None

    def section(self):
        for tag, a in reversed(self.stack):
            if a.get("id") and tag in ("section", "div"):
                return a["id"]
        return None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag in ("br", "meta", "link", "img", "hr", "input"):
            return
        self.stack.append((tag, a))
        if tag == "p":
            self._p = []
        elif tag == "table":
            self.tables.setdefault(self.section(), []).append([])
        elif tag == "tr":
            self._row = (a.get("class") or "", [])
        elif tag in ("td", "th"):
            self._cell = []
        elif tag == "div" and a.get("class") == "kpi":
            self._kpi = []
        elif tag == "title" and len(self.stack) > 1:
            self._title = []

    def handle_endtag(self, tag):
        while self.stack:
            t, a = self.stack.pop()
            if t == "p" and self._p is not None:
                self.paras.setdefault(self.section(), []).append("".join(self._p))
                self._p = None
            elif t in ("td", "th") and self._cell is not None and self._row is not None:
                self._row[1].append("".join(self._cell))
                self._cell = None
            elif t == "tr" and self._row is not None:
                tabs = self.tables.get(self.section())
                if tabs:
                    tabs[-1].append(self._row)
                self._row = None
            elif t == "title" and self._title is not None:
                self.titles.setdefault(self.section(), []).append("".join(self._title))
                self._title = None
            elif t == "div" and self._kpi is not None and a.get("class") == "kpi":
                self.kpis.append(tuple(self._kpi))
                self._kpi = None
            if t == tag:
                break

    def handle_data(self, data):
        if self._title is not None:
            self._title.append(data)
        if any(t in ("title", "style") for t, _ in self.stack):
            return
        if self._p is not None:
            self._p.append(data)
        if self._cell is not None:
            self._cell.append(data)
        if self._kpi is not None and self.stack and self.stack[-1][0] in ("b", "span"):
            self._kpi.append(data)


def ranking_label(r):
    return "kernel (useful)" if r["stage"] == "kernel" else r["stage"]


def check_html(rep, page_text, ck):
    pg = Page()
    pg.feed(page_text)
    pg.close()
    v = rep["verdict"]
    n = (rep.get("requests") or {}).get("count") or 0
    paras = pg.paras.get("verdict") or []
    if not v.get("sentence"):
        ck.expect(bool(paras) and paras[0].startswith("No verdict"), "no sentence in the JSON, the page: %r" % paras[:1])
        return pg
    # 1. the sentence, word for word (the page escapes it; html.parser unescapes)
    ck.expect(bool(paras) and paras[0] == v["sentence"],
              "verdict box is not the JSON's sentence:\n  page: %s\n  json: %s" % (paras[0] if paras else None,
                                                                                  v["sentence"]))
    # 2. badge, leader, its share (one decimal) and saving
    line = paras[1] if len(paras) > 1 else ""
    grp = v.get("group")
    if grp and grp != "none":
        ck.expect(line.startswith(grp), "badge %r, the JSON's group %s" % (line[:20], grp))
    m = re.search(r"largest: (.+?)(?:, ([\d.]+%) of p95; p95 saving if removed: ([^;]+?))?(?:; a faster model|$)", line)
    if v.get("stage"):
        ck.expect(bool(m) and m.group(1) == v["stage"], "largest %r, the JSON's stage %s" % (line, v["stage"]))
        if m and n:
            ck.expect(m.group(2) is not None and pct_ok(m.group(2), v["share_of_p95"]),
                      "largest share %s, the JSON's %.6g" % (m.group(2), v["share_of_p95"]))
            ck.expect(m.group(3) is not None and dur_ok(m.group(3), v["saving_p95_us"] * 1e3),
                      "p95 saving %s, the JSON's %.3f us" % (m.group(3), v["saving_p95_us"]))
    ck.expect(("a faster model would help" in line) == bool(v.get("recommend_model")),
              "model note %r, recommend_model %s" % (line, v.get("recommend_model")))
    # 3. the ranking: every candidate with time around p95, in order, those under 5% muted, the rest counted
    tabs = pg.tables.get("verdict") or []
    rows = [r for r in (tabs[0] if tabs else []) if r[1] and r[1][0] != "candidate"]
    rank = v.get("ranking") or []
    shown = [r for r in rank if r["share_of_p95"] > 0]
    ck.expect(len(rows) == len(shown), "ranking table has %d rows, the JSON %d candidates with time" %
              (len(rows), len(shown)))
    for (cls, cells), r in zip(rows, shown):
        if len(cells) != 5:
            ck.expect(False, "ranking row %r" % cells)
            continue
        name, group, pc, saving, fix = cells
        ck.expect(name == ranking_label(r) and group == r["group"], "ranking row %s %s, the JSON's %s %s" %
                  (name, group, ranking_label(r), r["group"]))
        ck.expect(pct_ok(pc, r["share_of_p95"]), "ranking %s %s, the JSON's %.6g" % (name, pc, r["share_of_p95"]))
        ck.expect(dur_ok(saving, r["p95_saving_us"] * 1e3), "ranking %s saving %s, the JSON's %.3f us" %
                  (name, saving, r["p95_saving_us"]))
        ck.expect(fix == (r.get("fix") or ""), "ranking %s fix %r, the JSON's %r" % (name, fix, r.get("fix")))
        muted = "minor" in cls.split()
        if abs(r["share_of_p95"] - 0.05) > TOL:
            ck.expect(muted == (r["share_of_p95"] < 0.05), "ranking %s %.6g %s" %
                      (name, r["share_of_p95"], "muted" if muted else "not muted"))
    hidden = len(rank) - len(shown)
    note = [p for p in paras if "with no time around p95 not shown" in p]
    if hidden:
        ck.expect(note == ["%d %s with no time around p95 not shown." % (hidden, "candidate" if hidden == 1 else
                                                                         "candidates")],
                  "ranking note %r, %d candidates without time" % (note, hidden))
    else:
        ck.expect(not note, "ranking note %r, every candidate shown" % note)
    return pg


def check_html_summary(rep, pg, ck):
    k = dict((lab, val) for val, lab in (x for x in pg.kpis if len(x) == 2))
    n = (rep.get("requests") or {}).get("count") or 0
    ck.expect(k.get("requests") == str(n), "summary requests %s, the JSON's %d" % (k.get("requests"), n))
    lat = (rep.get("requests") or {}).get("latency_us") or {}
    for q in ("p50", "p95", "p99"):
        got = k.get("latency " + q)
        if n:
            ck.expect(got is not None and dur_ok(got, lat[q] * 1e3), "summary latency %s %s, the JSON's %.3f us" %
                      (q, got, lat[q]))
        else:
            ck.expect(got == "n/a", "summary latency %s %s without requests" % (q, got))
    pad = rep.get("padding") or {}
    got = k.get("padding waste")
    if pad.get("batches"):
        ck.expect(got is not None and pct_ok(got, pad["waste_fraction"]), "summary waste %s, the JSON's %.6g" %
                  (got, pad["waste_fraction"]))
    else:
        ck.expect(got == "n/a", "summary waste %s without batches" % got)
    gpu = rep.get("gpu") or {}
    if gpu.get("present"):
        noun = {"cpu": "CPU", "mixed": "device"}.get(gpu.get("device_kind"), "GPU")  # sp_device_kind_noun
        got = k.get(noun + " busy")
        busy = gpu["busy_us"] / gpu["span_us"] if gpu.get("span_us") else 0.0
        # busy and span each to 3 decimals of a microsecond: the fraction within 1e-6 of the page's
        ck.expect(got is not None and pct_ok(got, busy), "summary %s busy %s, the JSON's %.6g" % (noun, got, busy))
    cost = rep.get("cost") or {}
    got = k.get("cost per 1M requests")
    if n and cost.get("per_request") is not None:
        ck.expect(got is not None and per1m_ok(got, cost["per_request"]), "summary cost per 1M requests %s, the JSON's %.9g"
                  % (got, cost["per_request"]))
    # the cost section's sentence and table
    paras = pg.paras.get("cost") or []
    if not cost.get("window_us"):
        return
    p = paras[0] if paras else ""
    m = re.match(r"(\$[\d.e+-]+|\$0) for a (.+?) window at (\$[\d.]+)/h( \(default price: none given\))?; (?:(\S+) per 1M requests \(the bill over (\d+) "
                 r"requests?\)|no requests to divide it among)(?:; one request's own cost \(its batch's device time (?:by its tokens|in equal shares: no batch carries its "
                 r"members' token counts|by its tokens; equal shares in \d+ of \d+ batches, which lack their members' "
                 r"token counts)\), per 1M requests: p50 (\S+), p95 (\S+?)( \(no batch in the trace: no device time is any request's\))?)?\. Each "
                 r"(\S+)-second of the window is in one state\.",
                 p)
    if not m:
        ck.expect(False, "cost sentence %r" % p[:200])
        return
    ck.expect(money_ok(m.group(1), cost["bill"]), "cost: bill %s, the JSON's %.9g" % (m.group(1), cost["bill"]))
    ck.expect(dur_ok(m.group(2), cost["window_us"] * 1e3), "cost: window %s, the JSON's %.3f us" %
              (m.group(2), cost["window_us"]))
    ck.expect(money_ok(m.group(3), cost["price_per_hour"]), "cost: price %s, the JSON's %g" %
              (m.group(3), cost["price_per_hour"]))
    ck.expect(bool(m.group(4)) == bool(cost.get("price_is_default")), "cost: %r, price_is_default %s" %
              (m.group(4), cost.get("price_is_default")))
    if n:
        ck.expect(m.group(5) is not None and per1m_ok(m.group(5), cost["per_request"]),
                  "cost: per request %s, the JSON's %s" % (m.group(5), cost["per_request"]))
        ck.expect(m.group(6) is not None and int(m.group(6)) == n, "cost: the bill over %s requests, the JSON's %d" %
                  (m.group(6), n))
    else:
        ck.expect(m.group(5) is None, "cost: %s per request without requests" % m.group(5))
    rc = cost.get("request_cost") or {}
    ck.expect(bool(m.group(7)) == bool(rc.get("count")), "cost: own cost %s, the JSON's %s" % (m.group(7), rc))
    if m.group(7):
        # the text report's caveat where no batch owns device time (the own cost is $0 there)
        ck.expect(bool(m.group(9)) == (not (rep.get("batches") or {}).get("count")), "cost: own cost caveat %r, batches %s" %
                  (m.group(9), rep.get("batches")))
        ck.expect(per1m_ok(m.group(7), rc.get("p50", float("nan"))) and per1m_ok(m.group(8), rc.get("p95", float("nan"))),
                  "cost: own cost p50 %s p95 %s, the JSON's %s" % (m.group(7), m.group(8), rc))
    noun = {"cpu": "CPU", "mixed": "device"}.get(gpu.get("device_kind"), "GPU")
    ck.expect(m.group(10) == noun, "cost: each %s-second, the device kind %s" % (m.group(10), gpu.get("device_kind")))
    tabs = pg.tables.get("cost") or []
    rows = [r[1] for r in (tabs[0] if tabs else []) if r[1] and r[1][0] != "state"]
    states = cost.get("by_state") or {}
    ck.expect([r[0] for r in rows] == list(states), "cost table states %s, the JSON's %s" %
              ([r[0] for r in rows], list(states)))
    for r in rows:
        s = r[0]
        if s not in states or len(r) != 4:
            continue
        ck.expect(money_ok(r[1], states[s]), "cost table %s bill %s, the JSON's %.9g" % (s, r[1], states[s]))
        ck.expect(per1m_ok(r[2], cost["per_request_by_state"][s]), "cost table %s per 1M requests %s, the JSON's %s" %
                  (s, r[2], cost["per_request_by_state"][s]))
        ck.expect(pct_ok(r[3], cost["by_state_share"][s]), "cost table %s share %s, the JSON's %.6g" %
                  (s, r[3], cost["by_state_share"][s]))


def check_html_stages(rep, pg, ck):
    """The stage charts' figures (docs/html-report.md, `shares` and `stages`): each segment's tooltip
    "STAGE: X% of pNN" is the stage row's share of pNN, each row's "STAGE: p5 ..., p50 A, ..., p95 B,
    p99 C, max D" its percentiles; every stage row with time has its strip."""
    if not (rep.get("requests") or {}).get("count"):
        return
    rows = {st["name"]: st for st in rep["stages"]}
    seen = 0
    for t in pg.titles.get("shares") or []:
        m = re.fullmatch(r"(.+): ([\d.]+%) of (p50|p95|p99)", t)
        if not m:
            continue
        st = rows.get(m.group(1))
        ck.expect(st is not None, "shares chart names %r, no stage row" % m.group(1))
        if st is not None:
            seen += 1
            ck.expect(pct_ok(m.group(2), st["share_of_" + m.group(3)]), "shares chart %s, the JSON's %.6g" %
                      (t, st["share_of_" + m.group(3)]))
    ck.expect(seen > 0 or not any(st["share_of_p95"] > 0 for st in rep["stages"]), "shares chart: no segment read")
    strips = 0
    for t in pg.titles.get("stages") or []:
        m = re.fullmatch(r"(.+): (?:(?:min|p5) [^,]+, )?(?:p25 [^,]+, )?p50 ([^,]+), (?:p75 [^,]+, )?p95 ([^,]+), "
                         r"p99 ([^,]+), max (.+)", t)
        if not m:
            continue
        st = rows.get(m.group(1))
        ck.expect(st is not None, "stages chart names %r, no stage row" % m.group(1))
        if st is None or st.get("p50_us") is None:
            continue
        strips += 1
        for k, q in ((2, "p50_us"), (3, "p95_us"), (4, "p99_us"), (5, "max_us")):
            ck.expect(dur_ok(m.group(k), st[q] * 1e3), "stages chart %s: %s, the JSON's %.3f us" %
                      (m.group(1), m.group(k), st[q]))
    ck.expect(strips > 0 or not rep["stages"], "stages chart: no strip read")


def check_html_generation(rep, pg, ck):
    """A generation report's TTFT and TPOT verdict boxes (docs/html-report.md, `verdict-ttft`,
    `verdict-tpot`): "TTFT: " and the JSON's sentence, and each ranking row with time around p95."""
    gen = rep.get("generation") or {}
    for key, what in (("ttft", "TTFT"), ("tpot", "TPOT")):
        v = (gen.get(key) or {}).get("verdict")
        box = "verdict-" + key
        if not v:
            continue
        paras = pg.paras.get(box) or []
        want = "%s: %s" % (what, v.get("sentence") or "no verdict")
        ck.expect(paras[:1] == [want], "%s box %r, the JSON's sentence %r" % (what, paras[:1], want))
        rank = [r for r in (v.get("ranking") or []) if r["share_of_p95"] > 0] if v.get("stage") else []
        tabs = pg.tables.get(box) or []
        rows = [r for r in (tabs[0] if tabs else []) if r[1] and r[1][0] != "candidate"]
        ck.expect(len(rows) == len(rank), "%s ranking has %d rows, the JSON %d with time" % (what, len(rows), len(rank)))
        for (cls, cells), r in zip(rows, rank):
            if len(cells) != 5:
                ck.expect(False, "%s ranking row %r" % (what, cells))
                continue
            # the text report's names: "kernel (useful)", "useful decode kernel"
            useful = r["group"] == "model" and r["stage"].endswith("kernel")
            name = ("useful " + r["stage"] if r["stage"] != "kernel" else "kernel (useful)") if useful else r["stage"]
            ck.expect(cells[0] == name and cells[1] == r["group"], "%s ranking row %s %s, the JSON's %s %s" %
                      (what, cells[0], cells[1], name, r["group"]))
            ck.expect(pct_ok(cells[2], r["share_of_p95"]), "%s ranking %s %s, the JSON's %.6g" %
                      (what, name, cells[2], r["share_of_p95"]))
            ck.expect(dur_ok(cells[3], r["p95_saving_us"] * 1e3), "%s ranking %s saving %s, the JSON's %.3f us" %
                      (what, name, cells[3], r["p95_saving_us"]))
            ck.expect(cells[4] == (r.get("fix") or ""), "%s ranking %s fix %r, the JSON's %r" %
                      (what, name, cells[4], r.get("fix")))


def mode_html(argv):
    rep = json.load(open(argv[0]))
    ck = Check()
    pg = check_html(rep, open(argv[1], encoding="utf-8").read(), ck)
    check_html_summary(rep, pg, ck)
    check_html_stages(rep, pg, ck)
    check_html_generation(rep, pg, ck)
    return ck.errors


# ---------------------------------------------------------------- servprof diff

def fmt_value(unit, v, stated):
    if v is None:
        return stated == "n/a"
    if unit == "us":
        return dur_ok(stated, v * 1e3)
    if unit == "fraction":
        return pct_ok(stated, v)
    if unit == "dollars":  # the diff's money: cost per request, per 1M requests
        return per1m_ok(stated, v)
    return stated == "%.0f" % v


def change_ok(unit, c, stated):
    """Whether `stated` is sp_rep_diff_change(c) of the unit."""
    if c is None:
        return stated == "n/a"
    if unit == "us":
        if stated == "0 ns":
            return abs(c * 1e3) <= 0.5 + 1.0
        return stated[0] in "+-" and (stated[0] == "-") == (c < 0) and dur_ok(stated[1:], abs(c) * 1e3)
    if unit == "fraction":
        if stated == "0.0 pts":
            return c == 0
        m = re.fullmatch(r"([+-][\d.]+) pts", stated)
        return bool(m) and abs(float(m.group(1)) - c * 100) <= 0.05 + TOL * 100
    if unit == "dollars":
        if stated == "$0.000":
            return abs(c) * 1e6 < 0.0005 * (1 + 1e-6)
        return stated[0] in "+-" and (stated[0] == "-") == (c < 0) and per1m_ok(stated[1:], abs(c))
    return stated == ("0" if c == 0 else "%+.0f" % c)


def split_row(line):
    """A diff table row: label, BASE, NEW, change, interval, star."""
    star = line.rstrip().endswith(" *")
    body = line.rstrip()[:-2] if star else line.rstrip()
    m = re.fullmatch(r"\s+(\S.*?)\s{2,}(\S+(?: \S+)?)\s+(\S+(?: \S+)?)\s+(\S+(?: \S+)?(?: \([+-][\d.]+%\))?)\s+"
                     r"(-|\[[^\]]+\])", body)
    if not m:
        return None
    return m.group(1), m.group(2), m.group(3), m.group(4), m.group(5), star


def check_metric_row(met, row, where, ck):
    label, b, n, change, interval, star = row
    u = met["unit"]
    ck.expect(fmt_value(u, met["base"], b), "%s: BASE %s, the JSON's %s" % (where, b, met["base"]))
    ck.expect(fmt_value(u, met["new"], n), "%s: NEW %s, the JSON's %s" % (where, n, met["new"]))
    m = re.fullmatch(r"(.+?)(?: \(([+-][\d.]+)%\))?", change)
    ck.expect(bool(m) and change_ok(u, met["change"], m.group(1)), "%s: change %s, the JSON's %s" %
              (where, change, met["change"]))
    if m and m.group(2) is not None:
        ck.expect(met["rel_change"] is not None and abs(float(m.group(2)) - met["rel_change"] * 100) <= 0.05 + 1e-4,
                  "%s: relative change %s%%, the JSON's %s" % (where, m.group(2), met["rel_change"]))
    elif m and u != "fraction" and met["change"] is not None:
        ck.expect(met["rel_change"] is None, "%s: no relative change, the JSON's %s" % (where, met["rel_change"]))
    iv = met.get("interval")
    if iv is None:
        ck.expect(interval == "-", "%s: interval %s, the JSON has none" % (where, interval))
    else:
        mm = re.fullmatch(r"\[(.+), (.+)\]", interval)
        ck.expect(bool(mm) and change_ok(u, iv["lo"], mm.group(1)) and change_ok(u, iv["hi"], mm.group(2)),
                  "%s: interval %s, the JSON's %s" % (where, interval, iv))
        # the JSON rounds lo/hi; at 0 the rounding could decide the star
        if abs(iv["lo"]) > 1e-3 and abs(iv["hi"]) > 1e-3:
            ex = iv["lo"] > 0 or iv["hi"] < 0
            ck.expect(star == ex, "%s: %s, the interval %s %s 0" % (where, "starred" if star else "no star", iv,
                                                                     "excludes" if ex else "holds"))
        ck.expect(met.get("excludes_zero") == (iv["lo"] > 0 or iv["hi"] < 0) or abs(iv["lo"]) <= 1e-3 or
                  abs(iv["hi"]) <= 1e-3, "%s: excludes_zero %s, the interval %s" % (where, met.get("excludes_zero"), iv))
    if iv is None:
        ck.expect(not star, "%s: starred without an interval" % where)


def diff_text_rows(txt):
    """The text tables: [(section, stage or None, label, row)] in order."""
    out = []
    section = None
    stage = None
    for ln in txt.splitlines():
        if re.match(r"^(end-to-end latency|stages|padding|cost per 1M requests)\s+BASE\s+NEW", ln):
            section = ln.split("  ")[0].strip()
            stage = None
            continue
        if not ln.startswith(" ") or section is None:
            if ln and not ln.startswith(" "):
                section = None
            continue
        if section == "stages" and re.fullmatch(r"  \S.*", ln) and not ln.startswith("  no time in either run"):
            stage = re.sub(r" \(not in (?:BASE|NEW): 0 there\)$", "", ln.strip())
            continue
        r = split_row(ln)
        if r:
            out.append((section, stage, r))
    return out


METRIC_LABEL = {"p50": "p50", "p95": "p95", "p99": "p99", "share_of_p95": "share of p95"}


def check_diff(d, txt, base_rep, new_rep, exit_status, ck):
    mets = {m["path"]: m for m in d["metrics"]}
    rows = diff_text_rows(txt)
    seen = 0
    for section, stage, row in rows:
        label = row[0]
        if section == "end-to-end latency":
            path = "latency." + label
        elif section == "stages":
            path = "stage.%s.%s" % (stage, {"share of p95": "share_of_p95"}.get(label, label))
        elif section == "padding":
            path = "padding." + {"share of p95": "share_of_p95", "waste": "waste_fraction",
                                 "share of the bill": "share_of_bill"}.get(label, label)
        else:
            path = "cost.per_request" if label == "all" else "cost.per_request_by_state." + label
        met = mets.get(path)
        if met is None:
            ck.expect(False, "text row %s %s: no JSON metric %s" % (section, label, path))
            continue
        seen += 1
        check_metric_row(met, row, path, ck)
    ck.expect(seen >= 4, "only %d text rows read" % seen)
    # the verdicts: each side's line is its JSON verdict, and "moved" says whether the stages differ
    for tag, side in (("BASE", d["base"]), ("NEW", d["new"])):
        v = side["verdict"] or {}
        m = re.search(r"^  %-4s  (.+)$" % tag, txt.split("\nverdict\n", 1)[-1], re.M)
        if v.get("stage"):
            mm = m and re.fullmatch(r"(.+) \((\S+)\), (\S+) of p95", m.group(1))
            ck.expect(bool(mm) and mm.group(1) == v["stage"] and mm.group(2) == v["group"] and
                      pct_ok(mm.group(3), v["share_of_p95"]), "%s verdict line %r, the JSON's %s" %
                      (tag, m.group(1) if m else None, v))
        else:
            ck.expect(bool(m) and m.group(1) == "no candidate", "%s verdict line %r without a stage" %
                      (tag, m.group(1) if m else None))
        # ... and the sentence under it, word-wrapped at 8 columns (sp_rep_wrap), is the JSON's
        if m:
            rest = txt.split("\nverdict\n", 1)[-1][m.end():].split("\n")[1:]
            words = []
            for ln in rest:
                if not ln.startswith("        "):
                    break
                words += ln.split()
            want = (v.get("sentence") or "(no verdict)").split()
            ck.expect(words == want, "%s sentence in the text differs from the JSON's:\n  text: %s\n  json: %s" %
                      (tag, " ".join(words), " ".join(want)))
    bs, ns = (d["base"]["verdict"] or {}).get("stage"), (d["new"]["verdict"] or {}).get("stage")
    moved = re.search(r"^  the verdict moved: (.+) -> (.+)$", txt, re.M)
    same = "  the verdict names the same candidate in both runs" in txt
    if bs != ns:
        ck.expect(bool(moved) and moved.groups() == (bs or "none", ns or "none") and not same,
                  "verdict %s -> %s, the text: %s" % (bs, ns, moved.group(0) if moved else "same"))
    else:
        ck.expect(same and not moved, "verdict %s in both, the text says it moved" % bs)
    # the sides against their own analyze reports: p95 and every share, and the verdict
    for tag, rep, key in (("BASE", base_rep, "base"), ("NEW", new_rep, "new")):
        if rep is None:
            continue
        lat = rep["requests"]["latency_us"]
        for q in ("p50", "p95", "p99"):
            ck.expect(abs(mets["latency." + q][key] - lat[q]) <= 1e-3 + 1e-9 * lat[q],
                      "%s latency.%s %s, its analyze report's %s" % (tag, q, mets["latency." + q][key], lat[q]))
        for st in rep["stages"]:
            met = mets.get("stage.%s.share_of_p95" % st["name"])
            ck.expect(met is not None and abs(met[key] - st["share_of_p95"]) <= TOL,
                      "%s stage %s share of p95 %s, its analyze report's %s" %
                      (tag, st["name"], met and met[key], st["share_of_p95"]))
        av, dv = rep["verdict"], d[key]["verdict"] or {}
        ck.expect(av.get("stage") == dv.get("stage") and av.get("group") == dv.get("group") and
                  abs((av.get("share_of_p95") or 0) - (dv.get("share_of_p95") or 0)) <= TOL,
                  "%s verdict %s/%s %s, its analyze report's %s/%s %s" %
                  (tag, dv.get("stage"), dv.get("group"), dv.get("share_of_p95"), av.get("stage"), av.get("group"),
                   av.get("share_of_p95")))
        # each side's sentence is its analyze report's, byte for byte: a side analysed from traces
        # quotes the verdict's what-if prediction as `servprof analyze` does (docs/diff.md, "Output":
        # the clause, and the saturated queue's fix without a larger max-batch when a quoted max-batch
        # prediction does not lower p95); a side read from a report keeps the report's sentence
        ck.expect((dv.get("sentence") or "") == (av.get("sentence") or ""),
                  "%s sentence differs from its %s's:\n  diff:    %s\n  analyze: %s" %
                  (tag, "report" if d[key]["source"] == "report" else "analyze report", dv.get("sentence"),
                   av.get("sentence")))
    # the conditions: each line's word, its bound and threshold, and the count line
    conds = d.get("conditions") or []
    lines = txt.splitlines()
    holding = 0
    for c in conds:
        i = next((k for k, ln in enumerate(lines) if re.fullmatch(r"  (HOLDS|ok   )  " + re.escape(c["spec"]), ln)), None)
        if i is None:
            ck.expect(False, "condition %s: no line" % c["spec"])
            continue
        word = lines[i].split()[0]
        ck.expect((word == "HOLDS") == c["holds"], "condition %s: %s, the JSON's holds %s" % (c["spec"], word, c["holds"]))
        holding += bool(c["holds"])
        nxt = lines[i + 1].strip() if i + 1 < len(lines) else ""
        if c["base_zero"]:
            ck.expect(nxt.startswith("BASE is 0"), "condition %s: %r with BASE 0" % (c["spec"], nxt))
            continue
        m = re.fullmatch(r"(\S+(?: \S+)?) \((.+)\) (is beyond|is not beyond) (\S+(?: \S+)?)", nxt)
        if not m:
            ck.expect(False, "condition %s: %r" % (c["spec"], nxt))
            continue
        ck.expect((m.group(3) == "is beyond") == c["holds"], "condition %s: %s, holds %s" %
                  (c["spec"], m.group(3), c["holds"]))
        ck.expect(("point change" in m.group(2)) == (c["basis"] == "point"), "condition %s: basis %r, the JSON's %s" %
                  (c["spec"], m.group(2), c["basis"]))
        b = c["bound"]
        if b is None:
            ck.expect(m.group(1) == "n/a", "condition %s: bound %s, the JSON's null" % (c["spec"], m.group(1)))
        elif c["relative"]:
            ck.expect(pct_ok(m.group(1), b), "condition %s: bound %s, the JSON's %s" % (c["spec"], m.group(1), b))
        else:
            met = mets.get(c["metric"])
            ck.expect(met is not None and change_ok(met["unit"], b, m.group(1)),
                      "condition %s: bound %s, the JSON's %s" % (c["spec"], m.group(1), b))
        # the rule (docs/diff.md "Conditions"): strictly beyond the threshold, a rise by its lower bound
        if b is not None and abs(b - c["threshold"] * (1 if c["direction"] == "rise" else -1)) > 1e-6:
            want = b > c["threshold"] if c["direction"] == "rise" else b < -c["threshold"]
            ck.expect(want == c["holds"], "condition %s: bound %s against threshold %s, holds %s" %
                      (c["spec"], b, c["threshold"], c["holds"]))
    ck.expect(holding == d["holding"], "%d conditions say HOLDS, the JSON's holding %d" % (holding, d["holding"]))
    if conds:
        n = len(conds)
        one = n == 1 or d["holding"] == 1
        want = "%d of %d condition%s hold%s%s" % (d["holding"], n, "" if n == 1 else "s", "s" if one else "",
                                                  ": servprof diff exits 3" if d["holding"] else "")
        ck.expect(want in lines, "count line: want %r" % want)
    if exit_status is not None:
        ck.expect(exit_status == (3 if d["holding"] else 0), "exit status %d, %d conditions hold" %
                  (exit_status, d["holding"]))


def mode_diff(argv):
    d = json.load(open(argv[0]))
    txt = open(argv[1]).read()
    base = json.load(open(argv[2])) if len(argv) > 2 else None
    new = json.load(open(argv[3])) if len(argv) > 3 else None
    st = int(argv[4]) if len(argv) > 4 else None
    ck = Check()
    check_diff(d, txt, base, new, st, ck)
    return ck.errors


def check_diff_html(d, page, ck):
    """servprof diff --html against its JSON: the gate box's sentence and each condition's row (holds,
    bound, threshold's sign and basis), and both verdicts (stage, group, share, sentence)."""
    pg = Page()
    pg.feed(page)
    pg.close()
    conds = d.get("conditions") or []
    gate = pg.paras.get("gate") or []
    if conds:
        n = len(conds)
        one = n == 1 or d["holding"] == 1
        want = "%s: %d of %d condition%s hold%s" % ("The gate fails" if d["holding"] else "The gate passes",
                                                    d["holding"], n, "" if n == 1 else "s", "s" if one else "")
        ck.expect(gate[:1] == [want], "gate box %r, want %r" % (gate[:1], want))
        tabs = pg.tables.get("gate") or []
        rows = [r[1] for r in (tabs[0] if tabs else []) if r[1] and r[1][0] != "condition"]
        ck.expect(len(rows) == n, "gate table has %d rows, %d conditions" % (len(rows), n))
        mets = {m["path"]: m for m in d["metrics"]}
        for row, c in zip(rows, conds):
            if len(row) != 5:
                ck.expect(False, "gate row %r" % row)
                continue
            spec, res, bound, thr, basis = row
            ck.expect(spec == c["spec"], "gate row %s, the JSON's %s" % (spec, c["spec"]))
            ck.expect((res == "holds") == c["holds"] and res in ("holds", "does not hold"),
                      "gate row %s: %s, holds %s" % (spec, res, c["holds"]))
            ck.expect(("point change" in basis) == (c["basis"] == "point"), "gate row %s basis %r, the JSON's %s" %
                      (spec, basis, c["basis"]))
            ck.expect(thr[:1] == ("+" if c["direction"] == "rise" else "-"), "gate row %s threshold %s, a %s" %
                      (spec, thr, c["direction"]))
            b = c["bound"]
            if c["base_zero"]:
                ck.expect(bound == "BASE is 0", "gate row %s bound %r with BASE 0" % (spec, bound))
            elif b is None:
                ck.expect(bound == "n/a", "gate row %s bound %s, the JSON's null" % (spec, bound))
            elif c["relative"]:
                ck.expect(pct_ok(bound, b), "gate row %s bound %s, the JSON's %s" % (spec, bound, b))
            else:
                met = mets.get(c["metric"])
                ck.expect(met is not None and change_ok(met["unit"], b, bound), "gate row %s bound %s, the JSON's %s" %
                          (spec, bound, b))
    else:
        ck.expect(not gate, "a gate box without conditions: %r" % gate[:1])
    paras = pg.paras.get("verdicts") or []
    ck.expect(len(paras) == 4, "verdicts: %d paragraphs" % len(paras))
    for k, (tag, key) in enumerate((("BASE", "base"), ("NEW", "new"))):
        if len(paras) < 4:
            break
        v = d[key]["verdict"] or {}
        head, sent = paras[2 * k], paras[2 * k + 1]
        if v.get("stage"):
            m = re.fullmatch(re.escape(tag) + r"(.+) \((\S+)\), (\S+) of p95", head)
            ck.expect(bool(m) and m.group(1) == v["stage"] and m.group(2) == v["group"] and
                      pct_ok(m.group(3), v["share_of_p95"]), "%s verdict %r, the JSON's %s" % (tag, head, v))
        ck.expect(sent == (v.get("sentence") or "No verdict."), "%s sentence differs:\n  page: %s\n  json: %s" %
                  (tag, sent, v.get("sentence")))


def mode_diff_html(argv):
    d = json.load(open(argv[0]))
    ck = Check()
    check_diff_html(d, open(argv[1], encoding="utf-8").read(), ck)
    return ck.errors


# ---------------------------------------------------------------- servprof whatif

ADVICE_MIN_GAIN = 0.02  # SP_WHATIF_ADVICE_MIN_GAIN (docs/whatif.md "Advice")
SETTINGS = (("max_batch", "max-batch"), ("max_queue_delay_ms", "max-queue-delay"), ("pad", "pad"),
            ("instances", "instances"))


def differs(a, b):
    return [name for key, name in SETTINGS if a.get(key) != b.get(key)]


def check_whatif(w, txt, ck):
    pols = w["policies"]
    obs = pols[0]
    lines = txt.splitlines()
    # the table's rows against the JSON (p50/p95/p99, $/1M req), the observed row first
    hdr = next((k for k, ln in enumerate(lines) if ln.startswith("policy ")), None)
    rows = []
    if hdr is not None:
        for ln in lines[hdr + 1:]:
            if not ln.strip() or ln.startswith(("measured:", "*", "!")) or not ln.startswith((" ", "observed", "measured")):
                break
            if ln.startswith("measured"):
                continue
            rows.append(ln)
    ck.expect(len(rows) == len(pols), "table has %d policy rows, the JSON %d policies" % (len(rows), len(pols)))
    for ln, p in zip(rows, pols):
        durs = re.findall(r"(\d[\d.]* (?:ns|us|ms|s))(?= )", ln)
        lat = p["latency_ms"]
        ok = len(durs) >= 4 and all(dur_ok(x, lat[q] * 1e6) for x, q in zip(durs[-3:], ("p50", "p95", "p99")))
        ck.expect(ok, "table row %r, the JSON's latency %s" % (ln, lat))
        ck.expect(ln.rstrip().endswith("!") == bool(p["extrapolated"]), "table row %r, extrapolated %s" %
                  (ln, p["extrapolated"]))
    check_slo(w, lines, rows, ck)
    # the advice, derived again (docs/whatif.md "Advice")
    adv = w.get("advice")
    before = obs["latency_ms"]["p95"]
    helps = [(i, p) for i, p in enumerate(pols) if i and p["latency_ms"]["p95"] <= before * (1 - ADVICE_MIN_GAIN)
             and p["rejected"] <= obs["rejected"]]
    single = [(i, p) for i, p in helps if len(differs(p["policy"], obs["policy"])) == 1]
    pool = single or helps
    want = min(pool, key=lambda ip: (ip[1]["latency_ms"]["p95"], ip[0]))[0] if pool else None
    line = next((ln for ln in lines if ln.startswith("advice")), "")
    if w.get("thin_profile"):
        return
    if want is None:
        ck.expect(adv is None, "advice %s, but no candidate lowers p95 by 2%% without more rejections" % adv)
        return
    if adv is None:
        ck.expect(False, "no advice, but policy %d lowers p95 %.4g -> %.4g" % (want, before,
                                                                              pols[want]["latency_ms"]["p95"]))
        return
    # equal p95s go to the earlier row; the JSON's p95 to 6 decimals of a ms could hide a near tie
    ch = pols[adv["choice"]]
    ck.expect(adv["choice"] == want or abs(ch["latency_ms"]["p95"] - pols[want]["latency_ms"]["p95"]) <= 2e-6,
              "advice names policy %d (p95 %.6g ms), the rule names %d (p95 %.6g ms)" %
              (adv["choice"], ch["latency_ms"]["p95"], want, pols[want]["latency_ms"]["p95"]))
    ck.expect(adv["settings"] == differs(ch["policy"], obs["policy"]), "advice settings %s, the policies differ in %s" %
              (adv["settings"], differs(ch["policy"], obs["policy"])))
    ck.expect(abs(adv["p95_before_ms"] - before) <= 1e-6 and abs(adv["p95_after_ms"] - ch["latency_ms"]["p95"]) <= 1e-6,
              "advice p95 %s -> %s, the rows' %s -> %s" % (adv["p95_before_ms"], adv["p95_after_ms"], before,
                                                            ch["latency_ms"]["p95"]))
    ck.expect(adv["extrapolated"] == ch["extrapolated"], "advice extrapolated %s, its row's %s" %
              (adv["extrapolated"], ch["extrapolated"]))
    m = re.search(r": (\S+ \S+) -> (\S+ \S+) \(([+-]\d+)%\), \$([\d.]+) per 1M requests \(observed \$([\d.]+)\)", line)
    if not m:
        ck.expect(False, "advice line %r" % line)
        return
    ck.expect(dur_ok(m.group(1), before * 1e6) and dur_ok(m.group(2), ch["latency_ms"]["p95"] * 1e6),
              "advice %s -> %s, the rows' %.6g -> %.6g ms" % (m.group(1), m.group(2), before, ch["latency_ms"]["p95"]))
    rel = (ch["latency_ms"]["p95"] / before - 1) * 100
    ck.expect(abs(int(m.group(3)) - rel) <= 0.5 + 1e-4, "advice %s%%, the rows' %.4g%%" % (m.group(3), rel))
    ck.expect(abs(float(m.group(4)) - ch["cost_per_request"] * 1e6) <= 0.0005 + 1e-9 and
              abs(float(m.group(5)) - obs["cost_per_request"] * 1e6) <= 0.0005 + 1e-9,
              "advice cost $%s (observed $%s) per 1M, the rows' %.6g, %.6g" %
              (m.group(4), m.group(5), ch["cost_per_request"] * 1e6, obs["cost_per_request"] * 1e6))
    ck.expect(("(extrapolated: see !)" in line) == bool(ch["extrapolated"]), "advice %r, its row extrapolated %s" %
              (line, ch["extrapolated"]))
    names = re.match(r"advice: (?:no single setting helps; |the sweep changes no setting alone; )?(.+?) lowers "
                     r"predicted p95", line)
    if names:
        got = [x.split(" ")[0] for x in re.split(r",? and |, ", names.group(1))]
        ck.expect(got == adv["settings"], "advice names %s, the settings that differ %s" % (got, adv["settings"]))
    # a combination: "no single setting helps" when the sweep tried a single-setting change, else that
    # it tried none
    singles = sum(1 for p in pols[1:] if len(differs(p["policy"], obs["policy"])) == 1)
    ck.expect(("no single setting helps" in line) == (len(adv["settings"]) > 1 and singles > 0) and
              ("the sweep changes no setting alone" in line) == (len(adv["settings"]) > 1 and singles == 0),
              "advice %r for %d settings, %d single-setting candidates" % (line[:60], len(adv["settings"]), singles))


SLO_TIE = 0.005  # docs/whatif.md "The simulation": cost within 0.5% is a tie, broken by lower p95


def check_slo(w, lines, rows, ck):
    """--slo-p95-ms (docs/whatif.md "The simulation"): each policy meets the SLO when its predicted p95 is
    at most X with no rejections; the choice is the cheapest of them (a cost within 0.5% is a tie, broken
    by the lower p95); the SLO column and line say so, with the choice's figures and the count ("the only
    policy" when one meets it), and the line names the others within 0.5% of the choice's cost."""
    slo = w.get("slo")
    if not slo:
        ck.expect(not any(ln.startswith("SLO ") for ln in lines), "an SLO line without the JSON's slo")
        return
    pols = w["policies"]
    x = slo["p95_ms"]
    meets = [p["latency_ms"]["p95"] <= x * (1 + 1e-9) and p["rejected"] == 0 for p in pols]
    for i, p in enumerate(pols):
        if abs(p["latency_ms"]["p95"] - x) > 1e-6:
            ck.expect(bool(p["meets_slo"]) == meets[i], "policy %d meets_slo %s, p95 %.6g ms against %g, %d rejected" %
                      (i, p["meets_slo"], p["latency_ms"]["p95"], x, p["rejected"]))
    ch = slo.get("choice")
    line = next((ln for ln in lines if ln.startswith("SLO ")), "")
    if ch is None:
        ck.expect(not any(p["meets_slo"] for p in pols), "no SLO choice, but a policy meets it")
        m = re.match(r"SLO p95 <= (\S+ \S+): no policy meets it; the lowest predicted p95 is (\S+ \S+) ", line)
        lo = min(p["latency_ms"]["p95"] for p in pols)
        ck.expect(bool(m) and dur_ok(m.group(2), lo * 1e6), "SLO line %r, the lowest p95 %.6g ms" % (line, lo))
        return
    c = pols[ch]
    ck.expect(bool(c["meets_slo"]), "SLO choice %d does not meet it" % ch)
    for i, p in enumerate(pols):
        if not p["meets_slo"] or i == ch:
            continue
        cheaper = p["cost_per_request"] < c["cost_per_request"] * (1 - SLO_TIE) - 1e-15
        tie_lower = abs(p["cost_per_request"] - c["cost_per_request"]) <= c["cost_per_request"] * SLO_TIE and \
            p["latency_ms"]["p95"] < c["latency_ms"]["p95"] - 1e-6 and p["cost_per_request"] <= c["cost_per_request"]
        ck.expect(not cheaper and not tie_lower, "SLO choice %d ($%.6g, p95 %.6g ms), but %d ($%.6g, p95 %.6g ms)" %
                  (ch, c["cost_per_request"] * 1e6, c["latency_ms"]["p95"], i, p["cost_per_request"] * 1e6,
                   p["latency_ms"]["p95"]))
    n = sum(1 for p in pols if p["meets_slo"])
    m = re.match(r"SLO p95 <= (\S+ \S+): .*, predicted p95 (\S+ \S+), \$([\d.]+) per 1M requests with (\d+) "
                 r"instances?: (?:the only policy that meets it|the cheapest of the (\d+) policies that meet it) "
                 r"with no rejections( \(extrapolated: see !\))?$",
                 re.sub(r" \((\d+) others? within 0\.5% of its cost: a tie, broken by the lower p95, then the earlier "
                        r"row\)", "", line))
    tie = re.search(r" \((\d+) others? within 0\.5% of its cost: a tie,", line)
    if not m:
        ck.expect(False, "SLO line %r" % line)
        return
    ck.expect(dur_ok(m.group(1), x * 1e6), "SLO line's bound %s, the JSON's %g ms" % (m.group(1), x))
    ck.expect(dur_ok(m.group(2), c["latency_ms"]["p95"] * 1e6), "SLO line's p95 %s, the choice's %.6g ms" %
              (m.group(2), c["latency_ms"]["p95"]))
    ck.expect(abs(float(m.group(3)) - c["cost_per_request"] * 1e6) <= 0.0005 + 1e-9, "SLO line's cost $%s, the "
              "choice's %.6g" % (m.group(3), c["cost_per_request"] * 1e6))
    ck.expect(int(m.group(4)) == c["policy"]["instances"], "SLO line's %s instances, the choice's %s" %
              (m.group(4), c["policy"]["instances"]))
    ck.expect(int(m.group(5) or 1) == n and (m.group(5) is None or n > 1),
              "SLO line: %s, %d meet it" % ("the cheapest of " + m.group(5) if m.group(5) else "the only one", n))
    # the tie the line names: the others that meet it at a cost within 0.5% of the choice's
    tied = sum(1 for i, p in enumerate(pols) if p["meets_slo"] and i != ch and
               abs(p["cost_per_request"] - c["cost_per_request"]) <=
               SLO_TIE * max(p["cost_per_request"], c["cost_per_request"]) * (1 + 1e-9))
    ck.expect((int(tie.group(1)) if tie else 0) == tied and (not tie or m.group(5)),
              "SLO line names %s tied, %d others meet it within 0.5%% of its cost" % (tie and tie.group(1), tied))
    ck.expect(bool(m.group(6)) == bool(c["extrapolated"]), "SLO line %r, the choice extrapolated %s" %
              (line[-40:], c["extrapolated"]))
    for i, (ln, p) in enumerate(zip(rows, pols)):
        want = "<- cheapest meeting SLO" if i == ch else "yes" if p["meets_slo"] else "no"
        got = re.sub(r"\s+!$", "", ln.rstrip())
        ck.expect(got.endswith(want), "table row %d's SLO column, want %r: %r" % (i, want, ln[-40:]))


def mode_whatif(argv):
    w = json.load(open(argv[0]))
    ck = Check()
    check_whatif(w, open(argv[1]).read(), ck)
    return ck.errors


# ---------------------------------------------------------------- the fleet report (analyze --prometheus)

def fleet_model(seed):
    """A fleet drawn from the seed: replicas (job/instance) with ok and rejected requests, a latency
    histogram and two stages per bucket, some replicas down (their last scrape failed), some targets
    that never answered (up 0, no series; of a replica's job, and one of another job that is no
    replica), sometimes more replicas than one line of 4096 bytes holds."""
    import random
    R = random.Random(seed)
    n = R.choice([1, 2, 3, 5, 8, 40, 180])
    jobs = ["serve", "embed-%d" % R.randrange(100)]
    reps = []
    for i in range(n):
        job = jobs[0] if R.random() < 0.7 else jobs[1]
        reps.append({"job": job, "instance": "10.%d.%d.%d:%d" % (R.randrange(256), R.randrange(256), i % 256,
                                                                8000 + i), "ok": R.randrange(0, 400),
                     "rejected": R.choice([0, 0, R.randrange(1, 50)]), "up": 0 if R.random() < 0.15 else 1})
    reps[0]["ok"] = max(reps[0]["ok"], 10)
    never = [{"job": R.choice([r["job"] for r in reps]), "instance": "10.99.0.%d:9000" % i}
             for i in range(R.choice([0, 0, 1, 3]))]
    other = [{"job": "node", "instance": "10.98.0.1:9100"}] if R.random() < 0.5 else []
    return reps, never, other


LES = [1e-4 * 2 ** (k / 4) for k in range(60)]


def fleet_answer(model, q):
    reps, never, other = model
    if q == "time()":
        return {"resultType": "scalar", "result": [1796000000.0, "1796000000"]}
    out = []

    def put(labels, v):
        out.append({"metric": labels, "value": [1796000000.0, repr(float(v))]})
    total = sum(r["ok"] for r in reps)
    if q.startswith("sum by (job, instance, outcome) (increase(servprof_requests_total"):
        for r in reps:
            for o in ("ok", "rejected", "error", "cancelled"):
                put({"job": r["job"], "instance": r["instance"], "outcome": o}, r.get(o, 0))
    elif q.startswith("sum by (le) (increase(servprof_request_duration_seconds_bucket"):
        cum = 0.0
        for k, le in enumerate(LES):
            cum += total * (0.02 if 20 <= k < 70 else 0.0)
            put({"le": "%.9g" % le}, min(cum, total))
        put({"le": "+Inf"}, total)
    elif q.startswith("sum by (stage, le) (increase(servprof_request_stage_seconds_total"):
        for st, f in (("queue", 0.6), ("kernel", 0.4)):
            cum = 0.0
            for k, le in enumerate(LES):
                cum += total * (0.02 if 20 <= k < 70 else 0.0) * le * 0.9 * f
                put({"stage": st, "le": "%.9g" % le}, cum)
            put({"stage": st, "le": "+Inf"}, cum)
    elif q.startswith("max by (job, instance) (max_over_time(servprof_metrics_uptime_seconds"):
        for r in reps:
            put({"job": r["job"], "instance": r["instance"]}, 300)
    elif q.startswith("min by (job, instance) (last_over_time(up"):
        for r in reps:
            put({"job": r["job"], "instance": r["instance"]}, r["up"])
        for t in never + other:
            put({"job": t["job"], "instance": t["instance"]}, 0)
    return {"resultType": "vector", "result": out}


def fleet_run(binary, seed, tmpdir):
    """Serves the model on a local port as Prometheus' query API and runs analyze --prometheus on it:
    (model, json text, report text, stderr)."""
    import http.server
    import os
    import subprocess
    import threading
    import urllib.parse
    model = fleet_model(seed)

    class H(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            u = urllib.parse.urlparse(self.path)
            q = urllib.parse.parse_qs(u.query).get("query", [""])[0]
            body = json.dumps({"status": "success", "data": fleet_answer(model, q)}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *a):
            pass
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
    th = threading.Thread(target=srv.serve_forever, daemon=True)
    th.start()
    url = "http://127.0.0.1:%d" % srv.server_address[1]
    try:
        outs = []
        for extra in (["--json"], []):
            p = subprocess.run([binary, "analyze", "--prometheus", url, "--range", "5m"] + extra,
                               capture_output=True, text=True, timeout=60)
            outs.append(p)
    finally:
        srv.shutdown()
    return model, outs[0], outs[1]


def check_fleet(model, rep, txt, ck):
    """The header's sentences naming replicas (docs/fleet.md, "The queries": `up`) against the
    replicas the JSON's source lists and the model served: every replica named once, in the JSON's
    order, the count, the down and never-answered ones, and the request count."""
    reps, never, other = model
    src = rep.get("source") or {}
    names = src.get("replicas") or []
    want = sorted("%s/%s" % (r["job"], r["instance"]) for r in reps)
    ck.expect(sorted(names) == want, "JSON replicas %d, the fleet's %d" % (len(names), len(want)))
    down = sorted("%s/%s" % (r["job"], r["instance"]) for r in reps if not r["up"])
    ck.expect(sorted(src.get("replicas_down") or []) == down, "JSON replicas_down %s, the fleet's %s" %
              (src.get("replicas_down"), down))
    jobs = set(r["job"] for r in reps)
    nv = sorted("%s/%s" % (t["job"], t["instance"]) for t in never if t["job"] in jobs)
    ck.expect(sorted(src.get("replicas_never") or []) == nv, "JSON replicas_never %s, the fleet's %s" %
              (src.get("replicas_never"), nv))
    lines = txt.splitlines()
    head = lines[0] if lines else ""
    m = re.match(r"servprof fleet report: (\d+) (replicas?), (\d+) (requests?),", head)
    ck.expect(bool(m) and int(m.group(1)) == len(names) and (m.group(2) == "replica") == (len(names) == 1),
              "header %r, %d replicas" % (head[:80], len(names)))
    n_req = (rep.get("requests") or {}).get("count")
    ck.expect(bool(m) and int(m.group(3)) == n_req, "header's requests, the JSON's %s" % n_req)
    # the wrapped sentences, joined: "...; replicas: a, b", "stopped answering ...: c", "never answered ...: d"
    paras, cur = [], None
    for ln in lines[1:]:
        if ln.startswith("  ") and cur is not None:
            cur.append(ln.strip())
            continue
        if cur is not None:
            paras.append(" ".join(cur))
        cur = [ln] if ln.startswith(("from ", "stopped answering", "never answered")) else None
        if ln.startswith("(") or ln.startswith("latency"):
            break
    if cur is not None:
        paras.append(" ".join(cur))

    def listed(prefix_re):
        p = next((x for x in paras if re.match(prefix_re, x)), None)
        if p is None:
            return None
        return [x.strip() for x in p.split(":", 1)[1].split(",")] if ":" in p else []
    got = listed(r"from ")
    if got is not None:
        p = next(x for x in paras if x.startswith("from "))
        got = [x.strip() for x in p.split("; replicas:", 1)[1].split(",")]
    ck.expect(got == names, "the replicas sentence names %d (%s ... %s), the JSON %d" %
              (len(got or []), (got or [""])[0], (got or [""])[-1], len(names)))
    got = listed(r"stopped answering")
    ck.expect((got or []) == (src.get("replicas_down") or []), "stopped answering names %s, the JSON %s" %
              (got, src.get("replicas_down")))
    p = next((x for x in paras if x.startswith("never answered")), None)
    if p:
        mm = re.search(r"nor the (\d+) (replicas?) above\): (.*)$", p)
        ck.expect(bool(mm) and int(mm.group(1)) == len(names), "never answered: %r, %d replicas" % (p[:160], len(names)))
        ck.expect(bool(mm) and [x.strip() for x in mm.group(3).split(",")] == (src.get("replicas_never") or []),
                  "never answered names %r, the JSON %s" % (mm and mm.group(3), src.get("replicas_never")))
    else:
        ck.expect(not src.get("replicas_never"), "no never-answered sentence, the JSON %s" % src.get("replicas_never"))


def mode_fleet(argv):
    import tempfile
    binary = argv[0]
    doctor = len(argv) > 1 and argv[1] == "--doctor"  # drop the replicas sentence's last name: must fail
    errors = []
    for seed in [int(x) for x in argv[1 + doctor:]]:
        model, pj, pt = fleet_run(binary, seed, tempfile.gettempdir())
        if doctor:
            pt.stdout = re.sub(r"(; replicas:.*?)(?:,\s+[^,\s]+)?\n(?=\S)", lambda m: m.group(1) + "\n", pt.stdout,
                               count=1, flags=re.S)
        if pj.returncode or pt.returncode:
            errors.append("seed %d: analyze --prometheus exit %d/%d: %s" % (seed, pj.returncode, pt.returncode,
                                                                           (pj.stderr or pt.stderr)[:300]))
            continue
        ck = Check()
        check_fleet(model, json.loads(pj.stdout), pt.stdout, ck)
        errors += ["seed %d: %s" % (seed, e) for e in ck.errors]
    return errors


def main(argv):
    modes = {"html": (mode_html, 2), "diff": (mode_diff, 2), "diffhtml": (mode_diff_html, 2), "whatif": (mode_whatif, 2), "fleet": (mode_fleet, 2)}
    if len(argv) < 2 or argv[1] not in modes or len(argv) - 2 < modes[argv[1]][1]:
        sys.stderr.write("usage: report_crosscheck.py html|diff|diffhtml|whatif FILE... | fleet BINARY SEED...\n")
        return 2
    errors = modes[argv[1]][0](argv[2:])
    for e in errors:
        sys.stderr.write("%s: %s\n" % ("fleet" if argv[1] == "fleet" else argv[3], e))
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
