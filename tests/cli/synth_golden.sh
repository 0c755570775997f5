#!/usr/bin/env bash
# `servprof synth` writes, byte for byte, the traces it wrote before its simulator moved from the CLI
# into the library (src/synth/) and its RNG into src/common/rng.h. The SHA-256 sums below were computed
# with the binary built from commit dfc0cb1 (the simulator still in src/cli/cmd_synth.c), as
#   servprof synth OPTIONS | sed 's/"generator":"servprof synth [^"]*"/"generator":"servprof synth"/' | sha256sum
# (the sed drops the version from the meta line, so a version bump does not break this test).
# Run as: bash synth_golden.sh BINARY SOURCE_DIR. Skips (77) without sha256sum.
set -u
bin=$1
command -v sha256sum >/dev/null || { echo "sha256sum not found: skipped"; exit 77; }
fail=0
check() { # SUM OPTIONS...
  local want=$1; shift
  local got
  got=$("$bin" synth "$@" | sed 's/"generator":"servprof synth [^"]*"/"generator":"servprof synth"/' | sha256sum | cut -c1-64)
  if [ "$got" != "$want" ]; then
    echo "FAIL: servprof synth $*: sha256 $got, expected $want" >&2
    fail=1
  fi
}
check b5b1c77d2547fbb9a24f2dec83fa361d08551b59d6b3212fe5ba405740e27aec --requests 2000
check af3379dc2bb33179ab13659f0b3b30ed3653c27fa026fda76a2f48217f935910 --gpu
check c2e3ca124975e5fa250fd355c3c47490d7f6c43b9592e3c4708089fef3fa9f94 --gpu --requests 5000 --seed 42 \
  --max-batch 32 --batch-window-ms 1 --pad-to 8 --price-per-hour 2.5
check be456aab9442e7a19dad294cd166d507411f2c965369a778489f2205906097df --requests 777 \
  --seed 18446744073709551615 --rate 50 --max-batch 1 --pad-to 1
check d42acd5f96d60d12b9703cbb3ccbb3c441acb9e23d385232b34ee473466a5de1 --gpu --seed 0 --batch-window-ms 0 \
  --rate 3000 --requests 3000
check 7b274426758f733ebbcd10e0a9b3bfdbb46dcd64f9638b1c2f884ba39b327150 --requests 20 --gpu --seed 7
[ $fail = 0 ] && echo "synth_golden: 6 traces identical"

# A build without the reference service or the load generator runs `servprof demo` on a simulated
# trace (sp_synth_write with the demo's load and policy): the same bytes as `servprof synth` given
# those options. A build with them runs the live demo instead, and this part is skipped.
if ! "$bin" load --help >/dev/null 2>&1 || ! "$bin" serve --help >/dev/null 2>&1; then
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  "$bin" demo --keep-traces "$tmp/keep" --duration 2 --rate 150 --seed 5 --max-batch 8 --pad-to 32 \
    --price-per-hour 3 >/dev/null 2>"$tmp/err" || { echo "FAIL: demo fallback" >&2; cat "$tmp/err" >&2; fail=1; }
  "$bin" synth --gpu --requests 300 --rate 150 --seed 5 --max-batch 8 --batch-window-ms 2 --pad-to 32 \
    --price-per-hour 3 >"$tmp/want.jsonl"
  cmp -s "$tmp/keep/synth.jsonl" "$tmp/want.jsonl" ||
    { echo "FAIL: demo's fallback trace differs from servprof synth's with the same options" >&2; fail=1; }
else
  echo "the live demo is built: its synth fallback is not run here"
fi
exit $fail
