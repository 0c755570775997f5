#!/usr/bin/env bash
# A request's stage spans before its arrival (the Python middlewares record the event loop's stalls
# that ended before a request was read as its event_loop / event_loop_wait spans) take their overlap
# with [client send, arrival) from `network` when a client record is merged (docs/analysis.md,
# "End-to-end"); the rest of that time stays `network`, and without a client record nothing before
# the arrival counts (the life is [arrival, done)). Known answers worked by hand below, on hand-made
# JSONL traces, one request a trace so that each stage's mean is that request's time; all times are
# whole microseconds, server and client on one clock (--clock-offset none; the auto offset is 0 too:
# every request's bounds are [-4000, 4000] us).
# Usage: pre_arrival_stall.sh BINARY SOURCE_DIR.
set -u
BIN=$1
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
fail=0
check() { if ! eval "$1"; then echo "FAILED: $1"; fail=1; fi; }
us() { echo $(($1 * 1000)); }
req() { printf '{"ev":"request","id":"%s","arrival_ns":%s,"done_ns":%s}\n' "$1" "$(us "$2")" "$(us "$3")"; }
span() { printf '{"ev":"stage","id":"%s","stage":"%s","start_ns":%s,"end_ns":%s}\n' "$1" "$2" "$(us "$3")" "$(us "$4")"; }
client() { printf '{"ev":"client","id":"%s","intended_ns":%s,"send_ns":%s,"done_ns":%s,"status":200}\n' \
    "$1" "$(us "$2")" "$(us "$2")" "$(us "$3")"; }
# the stage means (us) of a JSON report, as "name=value" lines; and the spans-clipped count
means() { python3 -c 'import json,sys
r=json.load(open(sys.argv[1]))
for s in r["stages"]: print("%s=%g" % (s["name"], s["mean_us"]))' "$1"; }
stage() { grep "^$2=" "$1" | cut -d= -f2; }
analyze() { # analyze NAME FILES...: $TMP/NAME.m (means), $TMP/NAME.e (stderr)
    local name=$1; shift
    "$BIN" analyze --no-progress --json --clock-offset none "$@" >"$TMP/$name.j" 2>"$TMP/$name.e"
    check "[ $? -eq 0 ]"
    means "$TMP/$name.j" >"$TMP/$name.m"
}

# A. a stall wholly inside [send, arrival): send 1000, stall [2000, 4000), arrival 5000, done 10000,
#    client done 14000. Life 13000 = event_loop 2000 + network (5000-1000-2000) + (14000-10000) = 6000
#    + preprocess 5000. Before this change: network 8000, event_loop 0.
{ req a 5000 10000; span a event_loop 2000 4000; span a preprocess 5000 10000; } >"$TMP/a.jsonl"
client a 1000 14000 >"$TMP/a.client.jsonl"
analyze a "$TMP/a.jsonl" "$TMP/a.client.jsonl"
check "[ '$(stage "$TMP/a.m" event_loop)' = 2000 ]"
check "[ '$(stage "$TMP/a.m" network)' = 6000 ]"
check "[ '$(stage "$TMP/a.m" preprocess)' = 5000 ]"
check "[ '$(stage "$TMP/a.m" other)' = 0 ]"
check "python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); assert r[\"requests\"][\"latency_us\"][\"mean\"]==13000' '$TMP/a.j'"
check "! grep -q 'outside' '$TMP/a.e'"
# the same with the offset estimated (auto): bounds [10000-14000, 5000-1000] = [-4000, 4000], middle 0
"$BIN" analyze --no-progress --json "$TMP/a.jsonl" "$TMP/a.client.jsonl" >"$TMP/a2.j" 2>/dev/null
means "$TMP/a2.j" >"$TMP/a2.m"
check "cmp -s '$TMP/a.m' '$TMP/a2.m'"

# B. clipped at the client's send: send 21000, event_loop [19000, 23000) (2000 of it after the send),
#    event_loop_wait [23000, 24000) (1000), arrival 25000, done 30000, client done 34000.
#    network = (25000-21000) - 2000 - 1000 + (34000-30000) = 5000; life 13000 = 2000+1000+5000+5000.
#    The stall's part before the send is no one's: no span-outside warning for a loop stall before
#    the arrival (the recorder's candidates, docs/python.md).
{ req b 25000 30000; span b event_loop 19000 23000; span b event_loop_wait 23000 24000
  span b preprocess 25000 30000; } >"$TMP/b.jsonl"
client b 21000 34000 >"$TMP/b.client.jsonl"
analyze b "$TMP/b.jsonl" "$TMP/b.client.jsonl"
check "[ '$(stage "$TMP/b.m" event_loop)' = 2000 ]"
check "[ '$(stage "$TMP/b.m" event_loop_wait)' = 1000 ]"
check "[ '$(stage "$TMP/b.m" network)' = 5000 ]"
check "[ '$(stage "$TMP/b.m" preprocess)' = 5000 ]"
check "! grep -q 'outside' '$TMP/b.e'"

# C. partly overlapping: event_loop_wait [38000, 40000) wholly before the send 41000 (nothing), and
#    event_loop [44000, 46000) across the arrival 45000: 1000 before it (from network) and 1000 after
#    (as ever); preprocess [46000, 50000), done 50000, client done 54000.
#    network = (45000-41000) - 1000 + 4000 = 7000; event_loop 2000; event_loop_wait 0; life 13000.
{ req c 45000 50000; span c event_loop_wait 38000 40000; span c event_loop 44000 46000
  span c preprocess 46000 50000; } >"$TMP/c.jsonl"
client c 41000 54000 >"$TMP/c.client.jsonl"
analyze c "$TMP/c.jsonl" "$TMP/c.client.jsonl"
check "[ '$(stage "$TMP/c.m" event_loop)' = 2000 ]"
check "[ '$(stage "$TMP/c.m" event_loop_wait)' = 0 ]"
check "[ '$(stage "$TMP/c.m" network)' = 7000 ]"
check "[ '$(stage "$TMP/c.m" preprocess)' = 4000 ]"

# D. no client record: the life is [arrival, done) and nothing before it counts. A: event_loop 0,
#    preprocess 5000, no network row. C: event_loop 1000 (its part after the arrival), preprocess
#    4000; its span across the arrival is still said to reach outside the life (1 span), the loop
#    stall wholly before the arrival is not.
analyze d "$TMP/a.jsonl"
check "[ '$(stage "$TMP/d.m" event_loop)' = 0 ]"
check "[ '$(stage "$TMP/d.m" preprocess)' = 5000 ]"
check "! grep -q '^network=' '$TMP/d.m'"
check "! grep -q 'outside' '$TMP/d.e'"
analyze dc "$TMP/c.jsonl"
check "[ '$(stage "$TMP/dc.m" event_loop)' = 1000 ]"
check "[ '$(stage "$TMP/dc.m" preprocess)' = 4000 ]"
check "grep -q ': 1 stage span reaches outside its request' '$TMP/dc.e'"
# a span of another stage before the arrival, without a client record, is still warned of
{ req e 5000 10000; span e preprocess 2000 10000; } >"$TMP/e.jsonl"
analyze e "$TMP/e.jsonl"
check "grep -q ': 1 stage span reaches outside its request' '$TMP/e.e'"
check "[ '$(stage "$TMP/e.m" preprocess)' = 5000 ]"

# G. generation, the TTFT table (docs/generation.md): request g arrives 5000, preprocess [5000, 6000),
#    a prefill step [6000, 8000) (no kernels: prefill gap), token 0 at 8000, a decode step [8000, 9000),
#    token 1 at 9000, done 10000; a stall event_loop [2000, 4000) before the arrival. The client sent at
#    1000, got the first token at 12000, the end at 14000.
#    TTFT window [1000, 12000) = 11000 = event_loop 2000 + network (5000-1000-2000) + (12000-8000) = 6000
#    + preprocess 1000 + prefill gap 2000. Before: network 8000, no event_loop.
{ req g 5000 10000; span g event_loop 2000 4000; span g preprocess 5000 6000
  printf '{"ev":"step","batch":1,"requests":["g"],"phases":["prefill"],"tokens":[4],"start_ns":%s,"end_ns":%s}\n' "$(us 6000)" "$(us 8000)"
  printf '{"ev":"step","batch":2,"requests":["g"],"phases":["decode"],"tokens":[1],"start_ns":%s,"end_ns":%s}\n' "$(us 8000)" "$(us 9000)"
  printf '{"ev":"token","id":"g","index":0,"time_ns":%s}\n{"ev":"token","id":"g","index":1,"time_ns":%s}\n' "$(us 8000)" "$(us 9000)"
} >"$TMP/g.jsonl"
printf '{"ev":"client","id":"g","intended_ns":%s,"send_ns":%s,"done_ns":%s,"status":200,"first_token_ns":%s}\n' \
    "$(us 1000)" "$(us 1000)" "$(us 14000)" "$(us 12000)" >"$TMP/g.client.jsonl"
"$BIN" analyze --no-progress --json --clock-offset none "$TMP/g.jsonl" "$TMP/g.client.jsonl" >"$TMP/g.j" 2>"$TMP/g.e"
check "[ $? -eq 0 ]"
python3 -c 'import json,sys
g=json.load(open(sys.argv[1]))["generation"]["ttft"]
for r in g["rows"]: print("%s=%g" % (r["name"], r["mean_us"]))' "$TMP/g.j" >"$TMP/g.m"
check "[ '$(stage "$TMP/g.m" event_loop)' = 2000 ]"
check "[ '$(stage "$TMP/g.m" network)' = 6000 ]"
check "[ '$(stage "$TMP/g.m" preprocess)' = 1000 ]"
check "[ '$(stage "$TMP/g.m" 'prefill gap')' = 2000 ]"
means "$TMP/g.j" >"$TMP/gl.m" # and the end-to-end rows: network (5000-1000-2000) + (14000-10000) = 6000
check "[ '$(stage "$TMP/gl.m" event_loop)' = 2000 ]"
check "[ '$(stage "$TMP/gl.m" network)' = 6000 ]"
exit $fail
