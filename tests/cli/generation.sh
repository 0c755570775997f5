#!/usr/bin/env bash
# `servprof analyze` on a generation trace (tests/data/generation/example.jsonl, docs/generation.md):
# the text report has the generation section with both tables and both verdicts, the JSON report a
# "generation" object with the hand-computed TTFT p95 (8.5 ms, test_gen_analysis.c's trace A at 10000x),
# the HTML report its section; docs/generation.md's example (tables and the verdicts' lines it quotes)
# is the report's; an encoder trace's reports have none of it. Run as: bash generation.sh
# BINARY SOURCE_DIR
set -u
bin=$1
src=$2
fail=0
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
trace="$src/tests/data/generation/example.jsonl"
"$bin" analyze "$trace" > "$tmp/t.txt" || { echo "FAIL: analyze exited $?" >&2; exit 1; }
for want in "^generation: 2 requests with output tokens, 5 output tokens" "^TTFT stage" "^TPOT stage" \
            "^queue               2.00 ms    5.00 ms" "^TTFT verdict: 44% of p95 TTFT is pre-batch queuing" \
            "^TPOT verdict: decode gap 28% and useful decode kernel 24% of p95 are level" "KV cache: capacity 100 tokens"; do
  grep -q "$want" "$tmp/t.txt" || { echo "FAIL: text report lacks: $want" >&2; fail=1; }
done
# docs/generation.md's example is this report: its lines from `generation:` up to the verdicts (blank
# lines and the tables' two note lines aside) must be the report's, so the page cannot drift
awk '/^```$/{if (inb) inb = 0; else { inb = 1; next }} inb' "$src/docs/generation.md" |
  awk '/^generation: /{p = 1} /^TTFT verdict/{p = 0} p' | sed '/^$/d' > "$tmp/doc.txt"
awk '/^generation: /{p = 1} /^cost per 1M output tokens/{p = 0} p' "$tmp/t.txt" |
  sed '/^$/d' | grep -v '^(TTFT: \|^ % of pXX' > "$tmp/rep.txt"
[ -s "$tmp/doc.txt" ] && diff "$tmp/doc.txt" "$tmp/rep.txt" >&2 ||
  { echo "FAIL: docs/generation.md's example differs from the report above (< doc, > report)" >&2; fail=1; }
# and the verdicts it quotes, up to their "...", are the report's lines (a line cut by "..." is a
# line's beginning)
awk '/^```/{if (p) exit; next} /^TTFT verdict/{p = 1} p' "$src/docs/generation.md" > "$tmp/docv.txt"
[ -s "$tmp/docv.txt" ] || { echo "FAIL: docs/generation.md's example has no verdicts" >&2; fail=1; }
while IFS= read -r line; do
  case "$line" in
    *" ...") grep -qF -- "${line% ...}" "$tmp/t.txt" ;;
    *) grep -qxF -- "$line" "$tmp/t.txt" ;;
  esac || { echo "FAIL: docs/generation.md's verdict line is not the report's: $line" >&2; fail=1; }
done < "$tmp/docv.txt"
"$bin" analyze --json "$trace" > "$tmp/t.json" || { echo "FAIL: analyze --json exited $?" >&2; fail=1; }
"$bin" analyze --html "$tmp/t.html" "$trace" > /dev/null || { echo "FAIL: analyze --html exited $?" >&2; fail=1; }
grep -q '<section id="generation">' "$tmp/t.html" || { echo "FAIL: HTML report lacks the generation section" >&2; fail=1; }
grep -q 'id="verdict-tpot"' "$tmp/t.html" || { echo "FAIL: HTML report lacks the TPOT verdict" >&2; fail=1; }
"$bin" synth --requests 50 > "$tmp/enc.jsonl"
"$bin" analyze --json "$tmp/enc.jsonl" > "$tmp/enc.json" || fail=1
"$bin" analyze "$tmp/enc.jsonl" > "$tmp/enc.txt" || fail=1
grep -q "generation\|TTFT" "$tmp/enc.txt" && { echo "FAIL: an encoder trace's text report mentions generation" >&2; fail=1; }
if command -v python3 >/dev/null; then
python3 - "$tmp/t.json" "$tmp/enc.json" <<'PY' || fail=1
import json, sys
g = json.load(open(sys.argv[1]))["generation"]
assert g["ttft_us"]["p95"] == 8500, g["ttft_us"]
assert g["tpot_us"]["p95"] == 2500, g["tpot_us"]
assert g["ttft"]["verdict"]["stage"] == "queue" and g["ttft"]["verdict"]["group"] == "configuration"
assert g["tpot"]["verdict"]["stage"] == "decode gap"
rows = {r["name"]: r for r in g["ttft"]["rows"]}
assert abs(rows["queue"]["share_of_p95"] - 0.4375) < 1e-6, rows["queue"]
assert abs(sum(r["share_of_p95"] for r in g["ttft"]["rows"]) - 1) < 1e-5
assert abs(sum(r["share_of_p95"] for r in g["tpot"]["rows"]) - 1) < 1e-5
assert g["limits"] == [] and g["client"] is None
assert "generation" not in json.load(open(sys.argv[2])), "an encoder trace has no generation key"
PY
fi
# A TPOT table of no requests (no request has two output tokens: one token in all) has no figures: the
# HTML table reads n/a in every cell, as the JSON has null and the text n/a (was 0 ns, 0.0% and 100%)
cat > "$tmp/one_token.jsonl" <<'EOF'
{"ev":"request","id":"a","arrival_ns":0,"done_ns":10000}
{"ev":"request","id":"b","arrival_ns":100,"done_ns":12000}
{"ev":"step","batch":1,"requests":["a","b"],"phases":["prefill","prefill"],"tokens":[5,7],"start_ns":1000,"end_ns":5000}
{"ev":"token","id":"a","index":0,"time_ns":6000}
EOF
if "$bin" analyze --no-progress --html "$tmp/one_token.html" "$tmp/one_token.jsonl" > /dev/null 2>&1; then
  python3 - "$tmp/one_token.html" <<'PY' || { echo "FAIL: the HTML TPOT table of no requests shows figures" >&2; fail=1; }
import re, sys
page = open(sys.argv[1]).read()
table = re.search(r'<table class="num" id="tpot-table">.*?</table>', page, re.S).group(0)
rows = re.findall(r"<tr><td>(?:<b>)?[^<]*(?:</b>)?</td>((?:<td>[^<]*</td>)+)</tr>", table)
cells = [c for r in rows for c in re.findall(r"<td>([^<]*)</td>", r)]
assert len(rows) >= 2 and len(cells) == 7 * len(rows) and all(c == "n/a" for c in cells), cells
PY
else
  echo "FAIL: analyze --html of a one-token generation trace failed" >&2; fail=1
fi
exit $fail
