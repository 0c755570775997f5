#!/usr/bin/env bash
# Every figure of `servprof analyze`'s text report against the same analysis's JSON report
# (docs/report-format.md, "Text report"): text_crosscheck.py parses the header, latency and batch size
# lines, the stage table, outcomes, padding, cost, the GPU block, the generation block, the clock and
# data quality lines, and checks each figure is the JSON's under the text's formatting rule, each row
# the text promises present and in order, and that no section the JSON has goes unparsed. The traces:
# the contract and generation oracles' trace makers (text_crosscheck.py --make), verdict_crosscheck_gen.py's
# continuously batching traces and close cases, servprof synth with and without --gpu, and every trace
# in tests/data (Kineto, OTLP, Triton, generation, the cold client merge). Then --doctor changes one
# figure per section of each text report by one unit of its last digit, and each change must be caught.
# Under the sanitizer tree (SP_SANITIZED=1) fewer traces are run.
# Run as: bash text_crosscheck.sh BINARY SOURCE_DIR
set -u
bin=$1
src=$2
py=/usr/bin/python3
[ -x "$py" ] || py=$(command -v python3) || { echo "python3 not found: skipped" >&2; exit 77; }
chk="$src/tests/cli/text_crosscheck.py"
gen="$src/tests/cli/verdict_crosscheck_gen.py"
fail=0
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/in" "$tmp/out"

# report: NAME ARGS... -> $tmp/out/NAME.json and $tmp/out/NAME.txt
report() {
  local name=$1
  shift
  "$bin" analyze --no-progress --json "$@" > "$tmp/out/$name.json" 2> "$tmp/out/$name.err" &&
    "$bin" analyze --no-progress "$@" > "$tmp/out/$name.txt" 2>> "$tmp/out/$name.err" ||
    { echo "FAIL: analyze $*: $(head -3 "$tmp/out/$name.err")" >&2; fail=1; rm -f "$tmp/out/$name.json" "$tmp/out/$name.txt"; }
}

oracle_seeds=1:60,143 # 143: a client file whose only joined pair is a rejected request's (the clock line)
n_synth=12
gen_seeds=$(seq 1 20)
close_seeds=$(seq 1 6)
if [ -n "${SP_SANITIZED:-}" ]; then
  oracle_seeds=1:8,143
  n_synth=3
  gen_seeds="1 2 3"
  close_seeds="1"
fi
"$py" "$chk" --make "$tmp/in" "$oracle_seeds" > "$tmp/manifest" || { echo "FAIL: text_crosscheck.py --make" >&2; exit 1; }
while read -r name rest; do
  # shellcheck disable=SC2086 # flags and paths, none with spaces (mktemp)
  report "$name" ${rest/-- /}
done < "$tmp/manifest"
rates=(150 900 2100 2800)
for ((i = 0; i < n_synth; i++)); do
  gpu=--gpu
  [ $((i % 3)) -eq 2 ] && gpu=
  "$bin" synth --requests 200 --seed $((i + 1)) $gpu --rate ${rates[i % 4]} --pad-to $((i % 2 ? 64 : 1)) \
    > "$tmp/in/s$i.jsonl" || { echo "FAIL: synth $i" >&2; fail=1; continue; }
  report "s$i" "$tmp/in/s$i.jsonl"
done
for i in $gen_seeds; do
  "$py" "$gen" $i > "$tmp/in/g$i.jsonl" || { echo "FAIL: verdict_crosscheck_gen.py $i" >&2; fail=1; continue; }
  report "g$i" "$tmp/in/g$i.jsonl"
done
for i in $close_seeds; do
  "$py" "$gen" --close $i > "$tmp/in/c$i.jsonl" || { echo "FAIL: verdict_crosscheck_gen.py --close $i" >&2; fail=1; continue; }
  report "c$i" "$tmp/in/c$i.jsonl"
done
d="$src/tests/data"
for f in "$d"/synth/*.jsonl "$d"/generation/*.jsonl "$d"/otlp/*.json* "$d"/triton/*.json "$d"/kineto/*.json* \
  "$d"/kineto-more/*.json*; do
  [ -e "$f" ] || continue
  name=data_$(basename "$(dirname "$f")")_$(basename "$f" | tr -c 'A-Za-z0-9_\n' _)
  report "$name" "$f"
done
report data_cold "$d/cold/server.jsonl" "$d/cold/client.jsonl"
report data_kineto_hta --hta-compat "$d"/kineto/alexnet_a100.json.gz
"$py" "$chk" --doctor "$tmp"/out/*.json || fail=1
exit $fail
