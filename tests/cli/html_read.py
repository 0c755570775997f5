#!/usr/bin/env python3
"""Reads the HTML report as a reader would, against the text report of the same trace (tests/cli/
html_read.sh): the page stripped to text (style, script and svg elements dropped, tags removed,
references unescaped, white space folded) must hold each verdict sentence of the text report word for
word: the end-to-end verdict ("verdict:"), and on a generation trace the TTFT and TPOT verdicts; and
every name in the text's ranking tables must be a row of the page's ranking (same name, group, share
and saving). Prints one line per disagreement; exit 1 if any.

Run as: html_read.py X.txt X.html [X.txt X.html ...]
Stdlib only (/usr/bin/python3).
"""
import html
import re
import sys


def page_text(path):
    s = open(path, encoding="utf-8").read()
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


def main(args):
    if not args or len(args) % 2:
        print("usage: html_read.py X.txt X.html [...]", file=sys.stderr)
        return 2
    bad = 0
    checked = 0
    for k in range(0, len(args), 2):
        txt = open(args[k], encoding="utf-8").read()
        page = page_text(args[k + 1])
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
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
