#!/usr/bin/env bash
# `servprof --help`, `--version`, `help COMMAND` and each command's --help: exit 0 and every option
# documented; every option a parser accepts is in its --help and every option listed there is
# accepted. Run as: bash help.sh BINARY SOURCE_DIR
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

# Every option a command's parser accepts is in its --help, and every option its --help lists is
# accepted. The accepted long options come from the binary, not from a list typed here: an empty
# abbreviation ("--=") fits every long option, and the parser's ambiguity message names them all
# (servprof COMMAND: ambiguous option '--' (--a, --b, ...; see ...)). The accepted short options are
# the letters and digits that are not refused as "unknown option '-X'" (a value-taking one gets "--="
# as its value, a flag meets "--=" next: either way the command stops at a usage error). The
# commands come from `servprof --help`; a mode with a parser of its own ("demo --generate") from the
# "servprof CMD --MODE --help" its command's help points to.
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
abs_bin=$(cd "$(dirname "$bin")" && pwd)/$(basename "$bin")
modes=$("$bin" --help | sed -n 's/^  \([a-z]*\) .*/\1/p' | while read -r c; do
  "$bin" "$c" --help >/dev/null 2>&1 || continue
  echo "$c"
  "$bin" "$c" --help | grep -o "servprof $c --[a-z-]* --help" | sed "s/^servprof \(.*\) --help$/\1/" | sort -u
done)
check '[ "$(wc -l <<<"$modes")" -ge 3 ]'
for mode in $(tr ' ' '+' <<<"$modes"); do
  mode=${mode//+/ }
  read -r -a m <<<"$mode"
  help=$("$bin" "${m[@]}" --help)
  err=$("$bin" "${m[@]}" --= 2>&1 >/dev/null)
  longs=$(sed -n "s/^servprof $mode: ambiguous option '--' (\(.*\); see .*/\1/p" <<<"$err" | tr -d ',')
  if ! grep -qw -- --help <<<"$longs"; then
    echo "FAIL: servprof $mode --= did not list the accepted options: $err" >&2; fail=1; continue
  fi
  shorts=""
  for x in {a..z} {A..Z} {0..9}; do
    # in a scratch folder: `synth -o --=` writes its trace to a file named "--="
    e=$(cd "$tmp" && timeout 20 "$abs_bin" "${m[@]}" "-$x" --= 2>&1 >/dev/null)
    grep -qF "unknown option '-$x'" <<<"$e" || shorts+=" -$x"
  done
  # where --help names its options: the option lines (indented at most 4 columns, so that a
  # description's continuation starting with an option is not one; "-o, --output FILE" and
  # "--progress, --no-progress" name two) and the usage lines ("servprof demo --generate")
  named=$( { grep -E -- '^ {1,4}-' <<<"$help" | sed -E 's/^ +//; s/(-[a-zA-Z0-9-]+(, -[a-zA-Z0-9-]+)*).*/\1/'
             sed -n '/^usage:/,/^$/p' <<<"$help" | grep -Eo -- '(^|[][ |])--?[a-zA-Z0-9][a-zA-Z0-9-]*' |
               sed -E 's/^[][ |]//'; } | tr ', ' '\n\n' | grep -v '^$' | sort -u)
  accepted=$(tr ' ' '\n' <<<"$longs $shorts" | grep -v '^$' | sort -u)
  for opt in $(comm -23 <(echo "$accepted") <(echo "$named")); do
    echo "FAIL: servprof $mode accepts $opt, which its --help does not list" >&2; fail=1
  done
  for opt in $(comm -13 <(echo "$accepted") <(echo "$named")); do
    echo "FAIL: servprof $mode --help lists $opt, which its parser refuses" >&2; fail=1
  done
done

"$bin" >/dev/null 2>&1; rc=$?
check '[ $rc -eq 2 ]'
err=$("$bin" frobnicate 2>&1 >/dev/null); rc=$?
check '[ $rc -eq 2 ]'
check 'grep -q frobnicate <<<"$err"'
"$bin" help frobnicate >/dev/null 2>&1; rc=$?
check '[ $rc -eq 2 ]'
exit $fail
