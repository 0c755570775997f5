#!/usr/bin/env bash
# Every numeric, duration, size, list and enum option of every command against hostile values (0, -1,
# -0, 1e308, 1e-308, NaN, inf, "", " 5", "5x", "0x10", 2^63, 2^64, a unit the option does not take,
# the option twice, the option with no value at the end): each bad value is exit 2 with one line on
# standard error naming the option; each valid one is taken. Parsing only: a sentinel unknown option
# follows the option under test, so a value that was taken shows as the sentinel's usage error (exit 2
# naming --zz-sentinel) and a refused one as an error naming the option; serve, load and demo start
# nothing (load --url runs one request to port 1, refused at once). Then the extremes that are taken
# do their work on small traces (synth, analyze, whatif, diff). The valid ranges are docs/cli.md's.
# usage: option_values.sh SERVPROF_BINARY [SOURCE_DIR]
set -u
BIN=${1:?usage: option_values.sh SERVPROF SOURCE_DIR}
SRC=${2:-$(cd "$(dirname "$0")/../.." && pwd)}
SENT=--zz-sentinel
fails=0
n=0
errf=$(mktemp)
trap 'rm -f "$errf"' EXIT

# run CMD OPT VALUE EXPECT: EXPECT "bad" (exit 2 naming OPT, not the sentinel) or "ok" (reaches the
# sentinel). A signal, a sanitizer report, the timeout or more than one line of stderr is a failure.
run() {
    local cmd=$1 opt=$2 val=$3 expect=$4 rc
    n=$((n + 1))
    # shellcheck disable=SC2086 # CMD may be two words ("demo --generate")
    timeout 10 "$BIN" $cmd "$opt" "$val" "$SENT" >/dev/null 2>"$errf" </dev/null
    rc=$?
    check "$cmd $opt '$val'" "$rc" "$expect" "$opt"
}

check() {
    local what=$1 rc=$2 expect=$3 opt=$4 first lines
    first=$(head -n 1 "$errf")
    lines=$(wc -l <"$errf")
    local why=""
    if [ "$rc" -eq 124 ]; then why="hang (timeout)"
    elif [ "$rc" -gt 128 ]; then why="signal $((rc - 128))"
    elif grep -q "Sanitizer\|runtime error" "$errf"; then why="sanitizer report"
    elif [ "$rc" -ne 2 ]; then why="exit $rc, expected 2"
    elif [ "$lines" -ne 1 ]; then why="$lines lines on stderr"
    elif [ "$expect" = ok ] && [[ "$first" != *"$SENT"* ]]; then why="refused a valid value"
    elif [ "$expect" = bad ] && [[ "$first" == *"$SENT"* ]]; then why="took the value"
    elif [ "$expect" = bad ] && [[ "$first" != *"$opt"* ]]; then why="message does not name $opt"
    fi
    if [ -n "$why" ]; then
        echo "FAIL: servprof $what: $why: $first"
        fails=$((fails + 1))
    fi
}

# Values no number, integer, duration or size option takes.
COMMON_BAD=("" " 5" "5 " "5x" "0x10" "NaN" "nan" "inf" "-inf" "1e308" "-1" "18446744073709551616" "+5" "-0")

# ints CMD OPT FLAGS: an integer option. FLAGS: z (0 valid), b (2^63 valid: a 64-bit seed).
ints() {
    local cmd=$1 opt=$2 flags=${3:-}
    for v in "${COMMON_BAD[@]}" "1e-308" "5.5" "5s" "1k"; do run "$cmd" "$opt" "$v" bad; done
    run "$cmd" "$opt" 0 "$([[ $flags == *z* ]] && echo ok || echo bad)"
    run "$cmd" "$opt" 9223372036854775808 "$([[ $flags == *b* ]] && echo ok || echo bad)"
    run "$cmd" "$opt" 18446744073709551615 "$([[ $flags == *b* ]] && echo ok || echo bad)"
}

# nums CMD OPT FLAGS UNIT_BAD: a number option. FLAGS: z (0 valid). UNIT_BAD is a value with a unit
# the option does not take. 1e-308 is below the smallest normal double (2.2e-308): refused everywhere.
nums() {
    local cmd=$1 opt=$2 flags=$3 unit=$4
    for v in "${COMMON_BAD[@]}" "$unit" "9223372036854775808"; do run "$cmd" "$opt" "$v" bad; done
    run "$cmd" "$opt" 0 "$([[ $flags == *z* ]] && echo ok || echo bad)"
    run "$cmd" "$opt" 0.0 "$([[ $flags == *z* ]] && echo ok || echo bad)"
    run "$cmd" "$opt" 1e-308 bad
    run "$cmd" "$opt" 1e0 ok
    run "$cmd" "$opt" 1.5 ok
}

# choice CMD OPT VALID: an enum option.
choice() {
    local cmd=$1 opt=$2 valid=$3
    for v in "" " $valid" "$valid " "$(echo "$valid" | tr a-z A-Z)" "${valid}x" "0" "-1"; do
        run "$cmd" "$opt" "$v" bad
    done
    run "$cmd" "$opt" "$valid" ok
}

# twice CMD OPT V1 V2: the option given twice is taken (the last one counts).
twice() {
    n=$((n + 1))
    # shellcheck disable=SC2086
    timeout 10 "$BIN" $1 "$2" "$3" "$2" "$4" "$SENT" >/dev/null 2>"$errf" </dev/null
    check "$1 $2 $3 $2 $4" $? ok "$2"
}

# last CMD OPT: the option without its value at the end of the line.
last() {
    n=$((n + 1))
    # shellcheck disable=SC2086
    timeout 10 "$BIN" $1 "$2" >/dev/null 2>"$errf" </dev/null
    check "$1 $2 (no value)" $? bad "$2"
}

# --- analyze
nums analyze --price-per-hour '' 5/h
nums analyze --timeout '' 5ms
choice analyze --outcomes all
choice analyze --format jsonl
for v in "" " 5" "5x" "0x10" "NaN" "1e308" "1.5" "9223372036854775808" "-9223372036854775809" "5ns" "AUTO"; do
    run analyze --clock-offset "$v" bad
done
for v in auto none 0 -5 5; do run analyze --clock-offset "$v" ok; done
# --- export
for v in "" " 5" "5x" "0x10" "NaN" "1e308" "1.5" "9223372036854775808" "5ns"; do
    run export --unix-offset "$v" bad
    run export --clock-offset "$v" bad
done
choice export --format native
# --- synth
ints synth --requests
nums synth --rate "" 5/s
ints synth --seed zb
ints synth --max-batch
nums synth --batch-window-ms z 5ms
ints synth --pad-to
nums synth --price-per-hour '' 5/h
choice synth --format jsonl
# --- serve
ints serve --port z
for o in --http-threads --max-connections --max-header-bytes --max-body --max-inputs --layers --hidden --heads \
    --ffn --max-len --max-batch --queue-capacity --pad-to --workers --max-num-seqs --max-num-batched-tokens \
    --kv-capacity-tokens --cuda-graph-cap; do
    ints serve $o
done
for o in --max-connections-per-ip --seed --prefill-bucket --metrics-settle-ms --cuda-device; do ints serve $o z; done
nums serve --header-timeout z 5ms
nums serve --body-timeout z 5ms
nums serve --max-queue-delay-ms z 5s
nums serve --price-per-hour '' 5/h
nums serve --duration z 5ms
choice serve --device cpu
# --- load
nums load --rate "" 5/s
nums load --duration "" 5ms
ints load --requests
nums load --warmup z 5ms
ints load --connections
ints load --seed zb
nums load --timeout "" 5ms
nums load --burstiness "" 5%
for v in "" poisson: gamma: gamma:0 gamma:-1 gamma:NaN gamma:inf gamma:1e308 "gamma: 1" gamma:0x1 replay: POISSON; do
    run load --arrival "$v" bad
done
for v in poisson constant gamma:1 replay:x; do run load --arrival "$v" ok; done
for o in --length --output-length; do
    for v in "" lognormal:0 lognormal:-1 lognormal:NaN lognormal:inf lognormal:1e308 "lognormal: 5" lognormal:5:-1 \
        lognormal:5:NaN lognormal:5:1:1 uniform:5 uniform:0:5 uniform:5:4 uniform:-1:5 "uniform:1:18446744073709551616" \
        fixed:0 fixed:-1 fixed:5x fixed: fixed:1:2 file: lognormal::1 gauss:5; do
        run load $o "$v" bad
    done
    for v in lognormal lognormal:5 lognormal:5:0 uniform:1:5 fixed:5; do run load $o "$v" ok; done
done
# --url is read when the load starts (after the options): run it, one request with a short timeout;
# a URL that is taken reaches port 1, where nothing listens (exit 1).
for v in "" "ftp://127.0.0.1/" "http://" "http://127.0.0.1:99999/" "http://127.0.0.1:-1/" "http://127.0.0.1:0x50/" \
    "http://127.0.0.1: 80/" "http://[::1/" "127.0.0.1:8080" "http://127.0.0.1:/"; do
    n=$((n + 1))
    timeout 10 "$BIN" load --url "$v" --requests 1 --timeout 0.2 --no-progress >/dev/null 2>"$errf" </dev/null
    check "load --url '$v'" $? bad --url
done
# serve --host is read when the service starts: a bad one is refused before anything binds; a good
# one with --duration 0.1 and an ephemeral port would run, so only bad ones here.
for v in "" 999.1.1.1 localhost " 127.0.0.1" "::1x" "127.0.0.1:80"; do
    n=$((n + 1))
    timeout 10 "$BIN" serve --host "$v" --port 0 --duration 0.1 >/dev/null 2>"$errf" </dev/null
    check "serve --host '$v'" $? bad --host
done
# --- analyze --prometheus --range (a Prometheus duration): checked before Prometheus (port 1: nothing
# listens) is asked; a taken one is exit 1, Prometheus unreachable.
for v in "" 0s 999ms -5m 5 5x " 5m" 5M 1.5m NaN inf 1e308s 18446744073709551616s 5m5m 5s5m 0x10s \
    2562047h47m16s855ms; do
    n=$((n + 1))
    timeout 10 "$BIN" analyze --prometheus http://127.0.0.1:1 --range "$v" --timeout 0.5 >/dev/null 2>"$errf" </dev/null
    check "analyze --range '$v'" $? bad --range
done
for v in 1s 1h30m 2562047h47m16s854ms; do
    n=$((n + 1))
    timeout 10 "$BIN" analyze --prometheus http://127.0.0.1:1 --range "$v" --timeout 0.5 >/dev/null 2>"$errf" </dev/null
    rc=$?
    if [ "$rc" -ne 1 ]; then echo "FAIL: analyze --range '$v': exit $rc, expected 1: $(head -n 1 "$errf")"; fails=$((fails + 1)); fi
done
# --- demo
nums demo --duration "" 5ms
nums demo --rate "" 5/s
nums demo --length-mean "" 5w
nums demo --length-sigma z 5%
nums demo --max-queue-delay-ms z 5s
nums demo --price-per-hour '' 5/h
for o in --max-batch --pad-to --workers --layers --hidden --heads --ffn --max-len; do ints demo $o; done
ints demo --cuda-device z
ints demo --seed z
choice demo --device cpu
for v in "" gamma:0 gamma:NaN gamma:inf replay:x; do run demo --arrival "$v" bad; done
for v in "" 0 1 2,2 3,2 2,,3 ",2" "2," " 2" 2,x 2,18446744073709551616; do run demo --buckets "$v" bad; done
run demo --buckets 2,3 ok
# --- demo --generate (its own option set)
G="demo --generate"
nums "$G" --duration "" 5ms
nums "$G" --rate "" 5/s
nums "$G" --prompt-mean "" 5t
nums "$G" --prompt-sigma z 5%
nums "$G" --output-mean "" 5t
nums "$G" --output-sigma z 5%
nums "$G" --price-per-hour "" 5/h
for o in --layers --hidden --heads --ffn --max-len --max-num-seqs --max-num-batched-tokens --queue-capacity \
    --kv-capacity-tokens; do
    ints "$G" $o
done
ints "$G" --prefill-bucket z
ints "$G" --seed z
for v in "" gamma:0 gamma:NaN "gamma: 1" replay:x; do run "$G" --arrival "$v" bad; done
twice "$G" --rate 5 6
# --- whatif
for o in --max-batch --instances; do
    for v in "" 0 -1 " 5" 5x 0x10 NaN 1e308 18446744073709551616 "1,,2" ",1" "1,"; do run whatif $o "$v" bad; done
    run whatif $o 1,2 ok
done
for v in "" -1 NaN inf 1e308 " 5" 5x 0x10 5s "1,,2" ",1"; do run whatif --max-queue-delay-ms "$v" bad; done
run whatif --max-queue-delay-ms 0,1.5 ok
for v in "" static:0 static:-1 static:NaN static:1e308 "static: 5" static:0x10 multiple:0 buckets: buckets:2,2 \
    buckets:3,2 longest:5 LONGEST "longest;;static:5" static:18446744073709551616; do
    run whatif --pad "$v" bad
done
run whatif --pad "longest;static:64" ok
ints whatif --queue-capacity
ints whatif --max-len
ints whatif --observed-max-batch
ints whatif --observed-instances
nums whatif --observed-delay-ms z 5s
ints whatif --seed zb
nums whatif --price-per-hour '' 5/h
nums whatif --slo-p95-ms '' 5s
choice whatif --model attn
# --- diff
for v in "" 0 0.49 1 -1 NaN inf 1e308 " 0.9" 0.9x 0x1 90%; do run diff --confidence "$v" bad; done
run diff --confidence 0.9 ok
ints diff --resamples
ints diff --block
ints diff --seed zb
nums diff --price-per-hour '' 5/h
choice diff --outcomes ok
choice diff --format kineto
for v in "" "p95" "p95:" "p95:+" "p95:+NaN%" "p95:+inf" "p95:+-1ms" "p95:+1e308ms" "p95:+5x" "p95: +5%" "bogus:+5%" \
    "p95:++5%" "p95:+0x10%" "p95:+ 5%" "p95:+5%%"; do
    run diff --fail-if "$v" bad
done
run diff --fail-if "p95:+5%" ok

# --- twice and without value
twice synth --requests 5 6
twice serve --port 1 2
twice load --rate 5 6
twice analyze --price-per-hour 1 2
twice diff --seed 1 2
twice whatif --seed 1 2
twice export --unix-offset 1 2
twice demo --rate 5 6
for c in analyze export synth serve load demo "demo --generate" whatif diff; do
    # shellcheck disable=SC2086
    for o in $("$BIN" $c --help 2>&1 | sed -n 's/^ *\(-o, \)\?\(--[a-z0-9-]*\) [A-Z].*/\2/p'); do last "$c" "$o"; done
done

# --- the extremes that are taken, doing their work: synth, analyze, whatif and diff run on small
# traces. Exit 0 (1 for analyze's clock offsets, which may leave the client trace unmatched), no signal,
# no sanitizer report, and no nan, inf or negative zero in what they print.
tmp=$(mktemp -d)
trap 'rm -f "$errf"; rm -rf "$tmp"' EXIT
# work NAME EXPECT_RC CMD ARGS...
work() {
    local name=$1 expect=$2 rc
    shift 2
    n=$((n + 1))
    timeout 60 "$BIN" "$@" >"$tmp/out" 2>"$errf" </dev/null
    rc=$?
    local why=""
    if [ "$rc" -eq 124 ]; then why="hang (timeout)"
    elif [ "$rc" -gt 128 ]; then why="signal $((rc - 128))"
    elif grep -q "Sanitizer\|runtime error" "$errf"; then why="sanitizer report"
    elif [[ " $expect " != *" $rc "* ]]; then why="exit $rc, expected $expect"
    elif grep -qiE '(^|[^a-z])(nan|-?inf)([^a-z]|$)|[^0-9.]-0(\.0*)?([^0-9.]|$)' "$tmp/out"; then
        why="nan, inf or -0 in the output: $(grep -oiE '.{0,30}(nan|inf|-0)([^0-9.]|$).{0,10}' "$tmp/out" | head -n 1)"
    fi
    if [ -n "$why" ]; then
        echo "FAIL: $name: servprof $*: $why: $(head -n 1 "$errf")"
        fails=$((fails + 1))
    fi
}
T=$tmp/t.jsonl
"$BIN" synth --requests 300 -o "$T" 2>/dev/null || { echo "FAIL: synth of the working trace"; fails=$((fails + 1)); }
work "slowest rate" 0 synth --requests 50 --rate 0.001 -o "$tmp/a.jsonl"
work "fastest rate" 0 synth --requests 50 --rate 1e9 -o "$tmp/b.jsonl"
work "longest window" 0 synth --requests 50 --batch-window-ms 60000 -o "$tmp/c.jsonl"
work "no window" 0 synth --requests 50 --batch-window-ms 0 -o "$tmp/d.jsonl"
work "largest batch" 0 synth --requests 50 --max-batch 4096 --pad-to 512 -o "$tmp/e.jsonl"
work "largest seed" 0 synth --requests 50 --seed 18446744073709551615 -o "$tmp/f.jsonl"
work "highest price" 0 synth --requests 50 --price-per-hour 1000000 -o "$tmp/g.jsonl"
for f in a b c d e f g; do work "analyze of synth $f" 0 analyze "$tmp/$f.jsonl"; done
work "tiny price" 0 analyze --price-per-hour 1e-300 "$T"
work "tiny price, JSON" 0 analyze --json --price-per-hour 1e-300 "$T"
work "highest price" 0 analyze --price-per-hour 1000000 "$T"
for v in -9223372036854775808 9223372036854775807 0; do
    work "clock offset $v" "0 1" analyze --clock-offset "$v" "$SRC/tests/data/cold/server.jsonl" "$SRC/tests/data/cold/client.jsonl"
done
work "whatif extremes" 0 whatif --max-batch 1,4096 --max-queue-delay-ms 0,60000 --instances 1,64 --pad "longest;static:512" \
    --seed 18446744073709551615 "$T"
work "whatif tiny SLO" 0 whatif --max-batch 1,8 --slo-p95-ms 1e-300 --price-per-hour 1e-300 "$T"
work "diff extremes" "0 3" diff --resamples 100 --block 1000000 --seed 18446744073709551615 --confidence 0.999 "$T" "$tmp/a.jsonl"
work "diff smallest confidence" "0 3" diff --resamples 100 --confidence 0.5 --price-per-hour 1e-300 "$T" "$T"

echo "option_values: $n cases, $fails failing"
[ "$fails" -eq 0 ]
