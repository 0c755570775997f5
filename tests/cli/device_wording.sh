#!/usr/bin/env bash
# Reports speak of the device a trace ran on (docs/analysis.md section 4, "Device kind"): the text and
# HTML reports of a `servprof synth` CPU trace (property device=cpu) never say "GPU" and the JSON says
# gpu.device_kind "cpu"; the same reports of a `--gpu` trace (device=cuda) do say "GPU" and the JSON says
# "gpu". Run as: bash device_wording.sh BINARY SOURCE_DIR
set -u
bin=$1
fail=0
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$bin" synth --requests 400 --seed 5 -o "$tmp/cpu.jsonl" || { echo "FAIL: synth (cpu)" >&2; exit 1; }
"$bin" synth --requests 400 --seed 5 --gpu -o "$tmp/gpu.jsonl" || { echo "FAIL: synth --gpu" >&2; exit 1; }
for dev in cpu gpu; do
  "$bin" analyze --html "$tmp/$dev.html" "$tmp/$dev.jsonl" > "$tmp/$dev.txt" || { echo "FAIL: analyze $dev" >&2; exit 1; }
  "$bin" analyze --json "$tmp/$dev.jsonl" > "$tmp/$dev.json" || { echo "FAIL: analyze --json $dev" >&2; exit 1; }
  grep -q '"device_kind":"'"$dev"'"' "$tmp/$dev.json" || { echo "FAIL: $dev: gpu.device_kind is not \"$dev\"" >&2; fail=1; }
done
# the CPU run: no "GPU" in the text report at all (any case: the section label is "device (CPU)"), and
# none in the HTML's visible text (its element ids keep "gpu")
if grep -qi gpu "$tmp/cpu.txt"; then
  echo "FAIL: the CPU run's text report mentions a GPU:" >&2
  grep -ni gpu "$tmp/cpu.txt" >&2
  fail=1
fi
grep -q "^device (CPU): span" "$tmp/cpu.txt" || { echo "FAIL: no 'device (CPU)' section in the CPU report" >&2; fail=1; }
grep -q "CPU time" "$tmp/cpu.txt" || { echo "FAIL: the CPU report's cost lines do not speak of CPU time" >&2; fail=1; }
if grep -q "GPU" "$tmp/cpu.html"; then
  echo "FAIL: the CPU run's HTML report says GPU:" >&2
  grep -o ".\{0,40\}GPU.\{0,40\}" "$tmp/cpu.html" >&2
  fail=1
fi
# the GPU run keeps its GPU wording
grep -q "GPU time" "$tmp/gpu.txt" || { echo "FAIL: the GPU report's cost lines do not say GPU time" >&2; fail=1; }
grep -q "^gpu: span" "$tmp/gpu.txt" || { echo "FAIL: no 'gpu:' section in the GPU report" >&2; fail=1; }
grep -q "GPU busy" "$tmp/gpu.html" || { echo "FAIL: the GPU HTML report has no 'GPU busy'" >&2; fail=1; }
[ $fail -eq 0 ] && echo "device_wording: ok"
exit $fail
