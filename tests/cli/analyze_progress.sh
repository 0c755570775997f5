#!/usr/bin/env bash
# `servprof analyze`'s progress line (issue 15): --progress to a pipe shows the bytes-read line for any
# file (ending with the bytes, time and rate of the whole read); without it, nothing on a pipe; on a
# terminal (a pseudo-terminal from `script`), the line for a file over 100 MB and not for a small one;
# then, under --progress (on a terminal: for sets of 2 M events or more), the analysis' steps on the
# same line and a closing "analysed" state; the report is the same either way. Run as: bash analyze_progress.sh BINARY SOURCE_DIR
set -u
bin=$1
fail=0
bad() { echo "FAIL: $*" >&2; fail=1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

"$bin" synth --gpu --requests 300 -o "$tmp/small.jsonl" || exit 1
size=$(stat -c %s "$tmp/small.jsonl")
"$bin" analyze --json --no-progress "$tmp/small.jsonl" > "$tmp/quiet.json" 2> "$tmp/quiet.err" || bad "analyze --no-progress"
[ -s "$tmp/quiet.err" ] && bad "--no-progress printed: $(cat "$tmp/quiet.err")"
"$bin" analyze --json "$tmp/small.jsonl" > "$tmp/pipe.json" 2> "$tmp/pipe.err" || bad "analyze to a pipe"
[ -s "$tmp/pipe.err" ] && bad "stderr not a terminal, no --progress, yet printed: $(cat "$tmp/pipe.err")"
"$bin" analyze --json --progress "$tmp/small.jsonl" > "$tmp/prog.json" 2> "$tmp/prog.err" || bad "analyze --progress"
cmp -s "$tmp/quiet.json" "$tmp/prog.json" || bad "the report differs with --progress"
# the last state of the line: "read FILE: N MB in T s, R MB/s", with the file's size
last=$(tr '\r' '\n' < "$tmp/prog.err" | grep -F "] read $tmp/small.jsonl: " | tail -1)
[ -n "$last" ] || bad "--progress: no 'read' line in: $(tr '\r' '\n' < "$tmp/prog.err")"
mb=$(awk -v b="$size" 'BEGIN { printf "%.1f MB", b / 1e6 }')
case $last in *": $mb in "*" s, "*" MB/s"*) ;; *) bad "--progress: '$last' does not say $mb read with a rate" ;; esac
grep -qF "servprof: loading $tmp/small.jsonl (1/1)" "$tmp/prog.err" || bad "--progress: no loading line"
grep -qF "; analysing" "$tmp/prog.err" || bad "--progress: no loaded line"
# then the analysis' steps, one state of the line each, numbered 1..10 in order (analyze.c's steps
# without --html; with it 11, the timeline slice 10th), and the closing "analysed" state
steps=$(tr '\r' '\n' < "$tmp/prog.err" | sed -n 's/.*] analysing: .* (\([0-9]*\/[0-9]*\))  *$/\1/p; s/.*] analysing: .* (\([0-9]*\/[0-9]*\))$/\1/p' | tr '\n' ' ')
[ "$steps" = "1/10 2/10 3/10 4/10 5/10 6/10 7/10 8/10 9/10 10/10 " ] || bad "--progress: analysis steps '$steps'"
tr '\r' '\n' < "$tmp/prog.err" | grep -q "] analysing: finishing the event set (1/10)" || bad "--progress: no first step"
tr '\r' '\n' < "$tmp/prog.err" | tail -1 | grep -q "] analysed: 10 steps in [0-9.]* s" ||
  bad "--progress: does not end with the analysed line: $(tr '\r' '\n' < "$tmp/prog.err" | tail -1)"
"$bin" analyze --json --progress --html "$tmp/p.html" "$tmp/small.jsonl" > /dev/null 2> "$tmp/prog-html.err" || bad "analyze --progress --html"
tr '\r' '\n' < "$tmp/prog-html.err" | grep -q "] analysing: timeline slice (10/11)" || bad "--progress --html: no timeline step (10/11)"
grep -q "analysing:" "$tmp/pipe.err" && bad "no --progress on a pipe, yet analysis steps"

if command -v script > /dev/null; then
  # a terminal, small file: the loading lines, no bytes-read line
  script -qc "'$bin' analyze --json -o '$tmp/tty.json' '$tmp/small.jsonl'" /dev/null > "$tmp/tty-small.out" 2>&1 < /dev/null
  grep -qF "servprof: loading" "$tmp/tty-small.out" || bad "terminal: no loading line: $(cat "$tmp/tty-small.out")"
  grep -qF "] read " "$tmp/tty-small.out" && bad "terminal, file under 100 MB: a bytes-read line"
  grep -qF "analysing:" "$tmp/tty-small.out" && bad "terminal, a set under 2 M events: analysis steps"
  cmp -s "$tmp/quiet.json" "$tmp/tty.json" || bad "the report differs on a terminal"
  # a terminal, a file over 100 MB (one request line repeated with new ids)
  python3 - "$tmp/big.jsonl" <<'PY'
import sys
with open(sys.argv[1], "w") as f:
    f.write('{"ev":"meta","format":"servprof.events/1"}\n')
    line = '{"ev":"request","id":"r%08d","arrival_ns":%d000,"done_ns":%d900,"input_tokens":17,"pad":"' + "x" * 60 + '"}\n'
    n = 0
    while f.tell() < 101_000_000:
        f.write("".join(line % (i, i + 1, i + 1) for i in range(n, n + 10000)))
        n += 10000
PY
  script -qc "'$bin' analyze --json -o /dev/null '$tmp/big.jsonl'" /dev/null > "$tmp/tty-big.out" 2>&1 < /dev/null
  big=$(stat -c %s "$tmp/big.jsonl")
  bmb=$(awk -v b="$big" 'BEGIN { printf "%.1f MB", b / 1e6 }')
  tr '\r' '\n' < "$tmp/tty-big.out" | grep -qF "] read $tmp/big.jsonl: $bmb in " ||
    bad "terminal, file over 100 MB: no bytes-read line: $(tr '\r' '\n' < "$tmp/tty-big.out" | head -5)"
  rm -f "$tmp/big.jsonl"
else
  echo "note: no 'script' command: the terminal cases are not run"
fi
[ $fail -eq 0 ] && echo "analyze_progress: ok"
exit $fail
