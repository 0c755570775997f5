#!/usr/bin/env python3
"""Reads the HTML report as a reader would, against the text report of the same trace (tests/cli/
html_read.sh): the page stripped to text (style, script and svg elements dropped, tags removed,
references unescaped, white space folded) must hold each verdict sentence of the text report word for
word: the end-to-end verdict ("verdict:"), and on a generation trace the TTFT and TPOT verdicts; and
every name in the text's ranking tables must be a row of the page's ranking (same name, group, share
and saving); the GPU block's idle time by stream (HTA breakdown) must be a table of the text's rows
(same figures, same order, no more); and the data quality section must say of the unattributed
(`other`) share what the text says: its figure ("under 0.1%" above zero below 0.1%), flagged exactly
where the text says "missing instrumentation", and the text's sentence word for word. Prints one line per disagreement; exit 1 if any.

Run as: html_read.py X.txt X.html [X.txt X.html ...]
Stdlib only (/usr/bin/python3).
"""
import html
import re
import sys


def page_text(path):
    return html_text(open(path, encoding="utf-8").read())


def html_text(s):
    """HTML as a reader sees it: one line of text, each table cell led by " | "."""
    s = re.sub(r"<(style|script|svg)\b.*?</\1>", " ", s, flags=re.S)
    s = re.sub(r"<(td|th)\b[^>]*>", " | ", s)
    s = re.sub(r"<[^>]+>", " ", s)
    return re.sub(r"\s+", " ", html.unescape(s)).strip()


def text_verdicts(txt):
    """{label: (sentence, [(name, group, share, saving)])} of the text report's verdict paragraphs."""
    out = {}
    lines = txt.split("\n")
    i = 0
    while i < len(lines):
        m = re.match(r"^(verdict|TTFT verdict|TPOT verdict): (.*)$", lines[i])
        if not m:
            i += 1
            continue
        label, parts, rows = m.group(1), [m.group(2)], []
        i += 1
        while i < len(lines) and lines[i].startswith(" ") and not re.match(r"^\s+candidate\s", lines[i]):
            parts.append(lines[i].strip())
            i += 1
        if i < len(lines) and re.match(r"^\s+candidate\s", lines[i]):
            i += 1
            while i < len(lines) and lines[i].startswith(" ") and not lines[i].strip().startswith("("):
                r = re.match(r"^\s+(.+?)\s+(\S+)\s+(\d+\.\d%)\s+(\S+ \S+)\s*$", lines[i])
                if r:
                    rows.append(r.groups())
                i += 1
        out[label] = (" ".join(parts), rows)
    return out


DUR = r"(?:-?\d+(?:\.\d+)? (?:ns|us|ms|s)|n/a)"


def text_idle_rows(txt):
    """[(device, stream, host wait, kernel wait, other)] of the text's "idle time by stream" block, or None."""
    lines = txt.split("\n")
    for i, line in enumerate(lines):
        if line == "  idle time by stream (HTA breakdown):":
            rows = []
            for row in lines[i + 2:]:  # after the column header
                m = re.match(r"^  (\d+)\s+(-?\d+)\s+(%s)\s+(%s)\s+(%s)$" % (DUR, DUR, DUR), row)
                if not m:
                    break
                rows.append(m.groups())
            return rows
    return None


def check_idle(txt, raw, where):
    """The page's idle-by-stream table (id gpu-idle) has the text's rows, in its order, and nothing else."""
    rows = text_idle_rows(txt)
    tables = re.findall(r'<table\b[^>]*\bid="gpu-idle".*?</table>', raw, flags=re.S)
    if rows is None:
        return ["%s: an idle-by-stream table the text report does not have" % where] if tables else []
    if len(tables) != 1:
        return ["%s: %d idle-by-stream tables, the text report has %d rows" % (where, len(tables), len(rows))]
    want = "idle time by stream (HTA breakdown) | device | stream | host wait | kernel wait | other"
    want += "".join(" | %s | %s | %s | %s | %s" % r for r in rows)
    got = html_text(tables[0])
    if got != want:
        return ["%s: idle-by-stream table reads %r, the text report's rows %r" % (where, got, want)]
    return []


def check_unattributed(txt, raw, page, where):
    """The data quality section says of the `other` share what the text report says: its figure (flagged
    where the text says missing instrumentation) and the text's sentence word for word."""
    m = re.search(r"^unattributed \(`other`\): (.*(?:\n  .*)*)", txt, flags=re.M)
    if not m:
        return []  # no requests: the text has no line
    rest = re.sub(r"\s+", " ", m.group(1)).strip()
    out = []
    bare = re.match(r"^(\S+) of p95 latency$", rest)
    pct = bare.group(1) if bare else rest.split(" of p95 latency ")[0]
    cell = re.search(r"share of p95</td><td( class=\"warn\")?>([^<]*)</td>", raw)
    if not cell or cell.group(2) != pct:
        out.append("%s: unattributed share reads %r, the text report's %r" % (where, cell and cell.group(2), pct))
    elif bool(cell.group(1)) != rest.endswith(": missing instrumentation"):
        out.append("%s: unattributed share %s %sflagged, the text report says: %s" %
                   (where, pct, "" if cell.group(1) else "not ", rest))
    said = "Unattributed ( other ): "
    if bare:
        if said in page:
            out.append("%s: an unattributed sentence where the text report has none" % where)
    elif said + rest + "." not in page:
        out.append("%s: the text report's unattributed sentence is not in the page word for word: %s" % (where, rest))
    return out


def main(args):
    if not args or len(args) % 2:
        print("usage: html_read.py X.txt X.html [...]", file=sys.stderr)
        return 2
    bad = 0
    checked = 0
    idle_tables = said = 0
    for k in range(0, len(args), 2):
        txt = open(args[k], encoding="utf-8").read()
        raw = open(args[k + 1], encoding="utf-8").read()
        page = html_text(raw)
        idle_tables += text_idle_rows(txt) is not None
        said += bool(re.search(r"^unattributed \(`other`\): \S+ of p95 latency is covered", txt, flags=re.M))
        for line in check_idle(txt, raw, args[k + 1]) + check_unattributed(txt, raw, page, args[k + 1]):
            print(line)
            bad += 1
        verdicts = text_verdicts(txt)
        if "verdict" not in verdicts:
            print("%s: no verdict in the text report" % args[k])
            bad += 1
        for label, (sentence, rows) in verdicts.items():
            checked += 1
            if sentence not in page:
                print("%s: the %s sentence is not in the page word for word: %s" % (args[k + 1], label, sentence))
                bad += 1
            for name, group, share, saving in rows:
                row = "| %s | %s | %s | %s |" % (name, group, share, saving)
                if name.endswith("..."):  # the text cuts a long name to its column (sp_rep_fmt_name)
                    found = re.search(r"\| %s[^|]* \| %s \| %s \| %s \|" % (re.escape(name[:-3]), re.escape(group),
                                      re.escape(share), re.escape(saving)), page)
                else:
                    found = row in page
                if not found:
                    print("%s: %s ranking row not in the page: %s" % (args[k + 1], label, row))
                    bad += 1
    if not checked:
        print("no verdicts read")
        return 1
    if not idle_tables or not said:  # the checks above read something: the traces have both
        print("%d idle-by-stream blocks and %d unattributed sentences read" % (idle_tables, said))
        return 1
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
