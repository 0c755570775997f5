#!/usr/bin/env bash
# The HTML report read against the text report of the same trace, as a reader would (docs/html-report.md,
# "Tests"): for every trace in tests/data (synth, generation, OTLP incl. vLLM, TGI, SGLang and Triton,
# Triton's own, Kineto, kineto-more, the cold client/server pair with and without --outcomes all),
# html_read.py strips the page to text and finds each verdict sentence of the text report in it word
# for word (end-to-end, TTFT, TPOT) and each row of the text's rankings (name, group, share, saving).
# Then what a reader of the page needs that the text report says (each failed on the previous binary):
# - a generation ranking names the model's kernel row as the text and the verdict sentence do,
#   "useful prefill kernel", not "prefill kernel (useful)" (html_read.py, generation/example.jsonl);
# Run as: bash html_read.sh BINARY SOURCE_DIR
set -u
bin=$1
src=$2
fail=0
check() { if ! eval "$1"; then echo "FAIL: $1" >&2; fail=1; fi; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
pairs=()
k=0
analyze() { # analyze ARGS...: text and HTML report of one trace into $tmp/$k.{txt,html}
  k=$((k + 1))
  if ! "$bin" analyze --no-progress --html "$tmp/$k.html" "$@" > "$tmp/$k.txt" 2> "$tmp/$k.err"; then
    echo "FAIL: analyze $*: $(head -c 300 "$tmp/$k.err")" >&2
    fail=1
    return
  fi
  pairs+=("$tmp/$k.txt" "$tmp/$k.html")
}
for f in "$src"/tests/data/synth/*.jsonl "$src"/tests/data/generation/*.jsonl "$src"/tests/data/otlp/* \
         "$src"/tests/data/triton/*.json "$src"/tests/data/kineto/*.json* "$src"/tests/data/kineto-more/*.json*; do
  analyze "$f"
done
analyze "$src/tests/data/cold/server.jsonl" "$src/tests/data/cold/client.jsonl"
analyze --outcomes all "$src/tests/data/cold/server.jsonl" "$src/tests/data/cold/client.jsonl"
[ "${#pairs[@]}" -ge 60 ] || { echo "FAIL: only ${#pairs[@]} reports" >&2; fail=1; }
python3 "$src/tests/cli/html_read.py" "${pairs[@]}" || fail=1

exit $fail
