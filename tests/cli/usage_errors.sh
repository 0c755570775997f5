#!/usr/bin/env bash
# Usage errors exit 2 with one line naming the problem and never get as far as reading a file:
# every command answers -h and --help (exit 0, its help on stdout); an unknown option is one line
# with a pointer to --help, not the whole help; a bad value names the option, the value and the
# accepted range; no message carries a doubled prefix ("servprof serve: serve: ...").
# Run as: bash usage_errors.sh BINARY SOURCE_DIR
set -u
bin=$1
fail=0
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# expect2 WANT... -- ARGS: exit 2, exactly one line on stderr, holding every WANT string
expect2() {
  local want=() err rc
  while [ "$1" != "--" ]; do want+=("$1"); shift; done
  shift
  err=$("$bin" "$@" 2>&1 >/dev/null); rc=$?
  if [ $rc -ne 2 ]; then echo "FAIL: servprof $* exited $rc, expected 2 ($err)" >&2; fail=1; fi
  if [ -z "$err" ]; then echo "FAIL: servprof $* printed no message" >&2; fail=1; fi
  if [ "$(wc -l <<<"$err")" -ne 1 ]; then echo "FAIL: servprof $* printed more than one line: $err" >&2; fail=1; fi
  if grep -Eq "servprof ([a-z]+): \\1:" <<<"$err"; then echo "FAIL: servprof $*: doubled prefix: $err" >&2; fail=1; fi
  for w in "${want[@]}"; do
    grep -qF -- "$w" <<<"$err" || { echo "FAIL: servprof $*: message lacks '$w': $err" >&2; fail=1; }
  done
}

# the commands this build dispatches (serve, load and whatif may be compiled out)
cmds=$("$bin" --help | sed -n 's/^  \([a-z]*\) .*/\1/p' | while read -r c; do
  "$bin" "$c" --help >/dev/null 2>&1 && echo "$c"; done)
for c in analyze synth demo; do grep -qx "$c" <<<"$cmds" || { echo "FAIL: $c is not dispatched" >&2; fail=1; }; done
have() { grep -qx "$1" <<<"$cmds"; }

for c in $cmds; do
  for h in -h --help; do
    out=$("$bin" "$c" "$h" 2>"$tmp/err"); rc=$?
    [ $rc -eq 0 ] || { echo "FAIL: servprof $c $h exited $rc" >&2; fail=1; }
    grep -q "^usage: servprof $c" <<<"$out" || { echo "FAIL: servprof $c $h: no usage on stdout" >&2; fail=1; }
    [ -s "$tmp/err" ] && { echo "FAIL: servprof $c $h wrote to stderr" >&2; fail=1; }
  done
  [ "$("$bin" help "$c")" = "$("$bin" "$c" --help)" ] || { echo "FAIL: help $c differs from $c --help" >&2; fail=1; }
  expect2 "servprof $c: unknown option '--foo'" "(see servprof $c --help)" -- "$c" --foo
  expect2 "servprof $c: unknown option '--foo'" -- "$c" --foo=3
  expect2 "servprof $c: unknown option '-q'" "(see servprof $c --help)" -- "$c" -q
done

expect2 "no trace given" -- analyze
expect2 "--bogus" -- analyze --bogus trace.jsonl
expect2 "-x" -- analyze -x trace.jsonl
expect2 "--price-per-hour" "'-1'" "(0, " -- analyze --price-per-hour -1 trace.jsonl
expect2 "--price-per-hour" "'abc'" -- analyze --price-per-hour abc trace.jsonl
expect2 "--price-per-hour" "'nan'" -- analyze --price-per-hour nan trace.jsonl
expect2 "--format" "'bogus'" "jsonl" -- analyze --format bogus trace.jsonl
expect2 "option '--perfetto' needs a value" -- analyze trace.jsonl --perfetto
expect2 "option '--json' takes no value" -- analyze --json=yes trace.jsonl
expect2 "ambiguous option '--p'" "--perfetto" "--progress" -- analyze --p trace.jsonl
expect2 "--clock-offset" "'5ms'" -- analyze --clock-offset 5ms trace.jsonl
expect2 "--clock-offset" -- analyze --clock-offset '' trace.jsonl
expect2 "--clock-offset" "'99999999999999999999'" -- analyze --clock-offset 99999999999999999999 trace.jsonl
expect2 "'-' (standard input) given 2 times" -- analyze - -
# a malformed --map is a usage error before any file is read, whatever the format
expect2 '--map entry "bogus": expected role=prefix' -- analyze --map bogus /nonexistent/trace.jsonl
"$bin" synth --requests 20 -o "$tmp/t.jsonl" || fail=1
expect2 '--map entry "foo=bar": unknown role' -- analyze --map request=x,foo=bar "$tmp/t.jsonl"
# one file given twice (by one name, through a link, or as ./x) would count its requests twice (the
# report said "2 files" and doubled every count); BASE and NEW of a diff may still be the same file
ln -s "$tmp/t.jsonl" "$tmp/link.jsonl"
expect2 "are the same file: its requests would count twice" -- analyze "$tmp/t.jsonl" "$tmp/t.jsonl"
expect2 "'$tmp/t.jsonl' and '$tmp/link.jsonl' are the same file" -- analyze "$tmp/t.jsonl" "$tmp/link.jsonl"
expect2 "are the same file" -- export --otlp "$tmp/o.jsonl" "$tmp/t.jsonl" "$tmp/./t.jsonl"
have whatif && expect2 "are the same file" -- whatif "$tmp/t.jsonl" "$tmp/link.jsonl"
expect2 "are the same file" -- diff --base "$tmp/t.jsonl" --base "$tmp/link.jsonl" --new "$tmp/t.jsonl"
"$bin" diff "$tmp/t.jsonl" "$tmp/link.jsonl" >/dev/null 2>&1 || { echo "FAIL: diff of a file with itself" >&2; fail=1; }

expect2 "--requests" "[1, 10000000]" "'0'" -- synth --requests 0
expect2 "--requests" "'1.5'" -- synth --requests 1.5
expect2 "--rate" "'-3'" -- synth --rate -3
expect2 "--max-batch" "[1, 4096]" "'0'" -- synth --max-batch 0
expect2 "--pad-to" "'0'" -- synth --pad-to 0
expect2 "--format" "'csv'" -- synth --format csv
expect2 "unexpected argument 'stray-argument'" -- synth stray-argument

expect2 "--max-batch" "[1, 4096]" "'0'" -- demo --max-batch 0
expect2 "--arrival" "'burst'" "gamma:CV" -- demo --arrival burst
expect2 "--buckets" "ascending" "'64,32'" -- demo --buckets 64,32
expect2 "--heads 5 must divide --hidden 128" -- demo --heads 5
# demo --generate is an option like the others: abbreviated, it is still the generation demo, and a
# value given to it is refused by name (it was "unknown option '--gen'", "unknown option '--generate'")
"$bin" demo --gen --help 2>&1 | grep -q '^usage: servprof demo --generate' ||
  { echo "FAIL: servprof demo --gen --help is not the generation demo's help" >&2; fail=1; }
expect2 "servprof demo --generate: option '--generate' takes no value" -- demo --generate=1
expect2 "servprof demo --generate: option '--generate' takes no value" -- demo --gen=1
# more requests than a run may send: refused before anything starts (live or simulated demo alike)
expect2 "--rate x --duration asks for 3600000000 requests" -- demo --rate 1000000 --duration 3600

if have serve; then
  expect2 "servprof serve: --port: expected an integer in [0, 65535], got '70000'" -- serve --port 70000
  expect2 "servprof serve: --max-batch: expected an integer in [1, 4096], got '0'" -- serve --max-batch 0
  expect2 "servprof serve: --max-body: expected an integer in [1, 1073741824], got '0'" -- serve --max-body 0
  expect2 "--port" "'x'" -- serve --port=x
  expect2 "option '--port' needs a value" -- serve --port
  expect2 "--host" "'localhost'" "numeric" -- serve --host localhost
  expect2 "--pad-to 256 exceeds --max-len 128" -- serve --pad-to 256
  expect2 "--pad-to and --buckets exclude each other" -- serve --pad-to 16 --buckets 16
  expect2 "--device" "'tpu'" -- serve --device tpu
fi
if have load; then
  expect2 "--rate" "'0'" -- load --rate 0
  expect2 "--connections" "[1, 10000]" "'0'" -- load --connections 0
  expect2 "--requests" "'0'" -- load --requests 0
  expect2 "--arrival" "replay:FILE" "'burst'" -- load --arrival burst
  expect2 "--length fixed:N" "'0'" -- load --length fixed:0
  expect2 "--length" "'normal:3'" -- load --length normal:3
  expect2 "unexpected argument 'stray'" -- load stray
  expect2 "only http://" -- load --url ftp://example/ --requests 1
  if have serve; then
    expect2 "--rate x --duration asks for 3600000000 requests" -- demo --generate --rate 1000000 --duration 3600
  fi
  # one thing said two ways: a usage error, not a run that silently follows one of them
  expect2 "--duration and --requests exclude each other" -- load --requests 5 --duration 1
  expect2 "--arrival and --burstiness exclude each other" -- load --arrival constant --burstiness 2
fi
if have whatif; then
  expect2 "no trace given" -- whatif
  expect2 "--max-batch" -- whatif --max-batch 0 trace.jsonl
  expect2 "--model" "'cubic'" -- whatif --model cubic trace.jsonl
  expect2 "--observed-delay-ms" "[0, 60000]" -- whatif --observed-delay-ms 70000 trace.jsonl
fi

# no source message may already carry the prefix the CLI adds (the library never says "serve: ...")
src=${2:-}
if [ -n "$src" ] && [ -d "$src/src" ]; then
  if grep -rnE 'errf\(err, errlen, "(serve|load|analyze|whatif|demo|synth): ' "$src/src" >&2; then
    echo "FAIL: library messages above carry a command prefix the CLI doubles" >&2; fail=1
  fi
fi
exit $fail
