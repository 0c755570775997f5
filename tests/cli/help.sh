#!/usr/bin/env bash
# `servprof --help`, `--version`, `help COMMAND` and each command's --help: exit 0 and every option
# documented. Run as: bash help.sh BINARY SOURCE_DIR
set -u
bin=$1
fail=0
check() { if ! eval "$1"; then echo "FAIL: $1" >&2; fail=1; fi; }

out=$("$bin" --help); rc=$?
check '[ $rc -eq 0 ]'
for cmd in analyze synth demo; do check 'grep -q "^  $cmd " <<<"$out"'; done
check '[ "$(awk "{ if (length(\$0) > 100) print }" <<<"$out")" = "" ]'

ver=$("$bin" --version); rc=$?
check '[ $rc -eq 0 ]'
check 'grep -Eq "^servprof [0-9]+\.[0-9]+\.[0-9]+$" <<<"$ver"'

out=$("$bin" analyze --help); rc=$?
check '[ $rc -eq 0 ]'
for opt in --json --perfetto --price-per-hour --lenient --hta-compat --format --output --progress; do
  check 'grep -q -- "$opt" <<<"$out"'
done
check '[ "$("$bin" help analyze)" = "$out" ]'

out=$("$bin" synth --help); rc=$?
check '[ $rc -eq 0 ]'
for opt in --requests --rate --seed --max-batch --batch-window-ms --pad-to --gpu --format --output; do
  check 'grep -q -- "$opt" <<<"$out"'
done

"$bin" >/dev/null 2>&1; rc=$?
check '[ $rc -eq 2 ]'
err=$("$bin" frobnicate 2>&1 >/dev/null); rc=$?
check '[ $rc -eq 2 ]'
check 'grep -q frobnicate <<<"$err"'
"$bin" help frobnicate >/dev/null 2>&1; rc=$?
check '[ $rc -eq 2 ]'
exit $fail
