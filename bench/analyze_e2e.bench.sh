#!/usr/bin/env bash
# `servprof analyze --json` end to end (issue 15): wall, CPU (user + sys) and peak RSS of the whole
# command, from /usr/bin/time, on three traces, each with its same-run reference:
#   JSONL:  the serving mix of bench/bench_mix_gen.c (E2E_REQUESTS, default 26,000 requests: ~1.4 M
#           events, ~155 MB); reference: `wc -l` (read the file and count its lines)
#   Kineto: bench/kineto.bench.sh's replicated trace (KINETO_BENCH_MB, default 300); reference:
#           python3 json.load of the same file
#   native: `bench_record gen-varied` (NATIVE_EVENTS, default 10,000,000 events: a real service's
#           spread), then `bench_record gen` (the same count, every request alike); events/s
# REF=PATH: another servprof binary (e.g. main's) run on the Kineto and native traces in the same
# rounds, interleaved, its reports compared with cmp (a same-run before/after).
# E2E_BIG=1 adds the ~10 GB JSONL mix and a 100 M-event native trace (NATIVE_BIG_EVENTS), each
# generated, analysed once (and once by REF: the native JSON reports compared with cmp) and deleted;
# SKIP=big-jsonl / big-native leaves one out.
# RUNS (default 3) runs of each, interleaved with the reference. The traces are generated in TMPDIR
# (default /tmp) once and kept for the next run; nothing is committed. SKIP (kineto, native, jsonl,
# native-uniform, comma-separated) leaves parts out.
# Usage: bash bench/analyze_e2e.bench.sh [BUILD_DIR]
set -euo pipefail
build=${1:-build}
cd "$(dirname "$0")/.."
S=$build/servprof
runs=${RUNS:-3}
tmp=${TMPDIR:-/tmp}
skip=${SKIP:-}
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), load average $(cut -d' ' -f1-3 /proc/loadavg)"

# timed LABEL BYTES EVENTS CMD...: one line "LABEL wall cpu MB/s(wall) MB/CPU-s peakRSS B/event events/s"
timed() {
  local label=$1 bytes=$2 events=$3; shift 3
  local tf; tf=$(mktemp "$tmp/servprof-e2e-time.XXXXXX")
  /usr/bin/time -f "%e %U %S %M" -o "$tf" "$@" > "${TIMED_OUT:-/dev/null}"
  read -r wall user sys kb < "$tf"
  rm -f "$tf"
  python3 - "$label" "$bytes" "$events" "$wall" "$user" "$sys" "$kb" <<'PY'
import sys
label, b, n, wall, user, sys_, kb = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), *map(float, sys.argv[4:])
cpu = user + sys_
mb = b / 1e6
per_ev = "%.0f B/event" % (kb * 1024 / n) if n else "-"
evs = "%.2f M events/s" % (n / wall / 1e6) if n else "-"
print("%-22s wall %6.2f s  cpu %6.2f s  %7.0f MB/s wall  %7.0f MB/cpu-s  peak RSS %6.0f MB  %s  %s"
      % (label, wall, cpu, mb / wall, mb / cpu if cpu else 0, kb / 1024, per_ev, evs))
PY
}

if [[ ,$skip, != *,jsonl,* ]]; then
  nreq=${E2E_REQUESTS:-26000}
  j=$tmp/servprof_e2e_mix_$nreq.jsonl
  [ -s "$j" ] || "$build/bench/bench_mix_gen" "$nreq" > "$j"
  size=$(stat -c %s "$j")
  events=$(( $(wc -l < "$j") - 1 ))
  echo "== JSONL serving mix: $j, $nreq requests, $events events, $((size / 1000000)) MB"
  for r in $(seq 1 "$runs"); do
    timed "analyze --json" "$size" "$events" "$S" analyze --json --no-progress "$j"
    timed "reference wc -l" "$size" "$events" wc -l "$j"
  done
fi

if [[ ,$skip, != *,kineto,* ]]; then
  mb=${KINETO_BENCH_MB:-300}
  k=$tmp/servprof_kineto_bench_$mb.json
  [ -s "$k" ] || KINETO_BENCH_GEN_ONLY=1 bash bench/kineto.bench.sh "$build" > /dev/null
  size=$(stat -c %s "$k")
  echo "== Kineto: $k, $((size / 1000000)) MB"
  for r in $(seq 1 "$runs"); do
    timed "analyze --json" "$size" 0 "$S" analyze --json --no-progress "$k"
    [ -n "${REF:-}" ] && timed "REF analyze --json" "$size" 0 "$REF" analyze --json --no-progress "$k"
    [ "$r" = 1 ] && timed "reference json.load" "$size" 0 python3 -c 'import json,sys; json.load(open(sys.argv[1]))' "$k"
  done
  if [ -n "${REF:-}" ]; then
    cmp <("$S" analyze --json --no-progress "$k") <("$REF" analyze --json --no-progress "$k") &&
      cmp <("$S" analyze --no-progress "$k") <("$REF" analyze --no-progress "$k") &&
      cmp <("$S" analyze --json --hta-compat --no-progress "$k") <("$REF" analyze --json --hta-compat --no-progress "$k") &&
      echo "kineto: JSON, text and --hta-compat reports byte-identical to REF's"
  fi
fi

# native_run GEN LABEL: the NATIVE_EVENTS trace of `bench_record GEN`, RUNS rounds beside REF.
native_run() {
  local gen=$1 label=$2
  nev=${NATIVE_EVENTS:-10000000}
  n=$tmp/servprof_e2e_native_${gen}_$nev.sptrace
  [ -s "$n" ] || "$build/bench/bench_record" "$gen" "$n" "$nev" > /dev/null
  size=$(stat -c %s "$n")
  echo "== native, $label: $n, $nev events, $((size / 1000000)) MB"
  for r in $(seq 1 "$runs"); do
    timed "analyze --json" "$size" "$nev" "$S" analyze --json --no-progress "$n"
    if [ -n "${REF:-}" ]; then
      timed "REF analyze --json" "$size" "$nev" "$REF" analyze --json --no-progress "$n"
    fi
  done
  if [ -n "${REF:-}" ]; then
    cmp <("$S" analyze --json --no-progress "$n") <("$REF" analyze --json --no-progress "$n") &&
      cmp <("$S" analyze --no-progress "$n") <("$REF" analyze --no-progress "$n") &&
      echo "native, $label: JSON and text reports byte-identical to REF's"
  fi
}

# The goal's trace is `gen-varied` (a real service's spread: every figure differs from request to
# request); `gen` (every request alike) is kept for comparison with the figures before 2026-12-06,
# which it gave, and because shortcuts for constant columns show there.
if [[ ,$skip, != *,native,* ]]; then
  native_run gen-varied "varied serving mix (the goal's trace)"
fi
if [[ ,$skip, != *,native,* && ,$skip, != *,native-uniform,* ]]; then
  native_run gen "uniform serving mix (every request alike)"
fi

# E2E_BIG=1: the 10 GB serving mix (E2E_BIG_REQUESTS, default 1,750,000 requests: ~94 M events,
# ~11 GB), generated in TMPDIR when the disk has room for it twice, analysed once, then deleted.
if [ "${E2E_BIG:-0}" = 1 ] && [[ ,$skip, != *,big-jsonl,* ]]; then
  nreq=${E2E_BIG_REQUESTS:-1750000}
  big=$tmp/servprof_e2e_mix_big_$nreq.jsonl
  need_kb=$(( nreq * 125 / 1000 * 2 ))
  avail_kb=$(df -Pk "$tmp" | awk 'NR == 2 { print $4 }')
  if [ "$avail_kb" -lt "$need_kb" ]; then
    echo "== big: skipped, $((avail_kb / 1000000)) GB free in $tmp, want $((need_kb / 1000000)) GB"
  else
    trap 'rm -f "$big"' EXIT
    "$build/bench/bench_mix_gen" "$nreq" > "$big"
    size=$(stat -c %s "$big")
    events=$(( $(wc -l < "$big") - 1 ))
    echo "== big JSONL serving mix: $nreq requests, $events events, $((size / 1000000)) MB; memory $(free -g | awk '/Mem:/{print $2}') GiB"
    timed "analyze --json" "$size" "$events" "$S" analyze --json --no-progress "$big"
    timed "reference wc -l" "$size" "$events" wc -l "$big"
    rm -f "$big"
  fi
fi

# E2E_BIG=1, native: a NATIVE_BIG_EVENTS (default 100,000,000) event trace of bench_record gen-varied's
# mix (~3.9 GB), when the disk has room; analysed once (and once by REF), then deleted (kept, and reused
# when already there, with NATIVE_BIG_KEEP=1).
if [ "${E2E_BIG:-0}" = 1 ] && [[ ,$skip, != *,big-native,* ]]; then
  nev=${NATIVE_BIG_EVENTS:-100000000}
  nb=$tmp/servprof_e2e_native_big_varied_$nev.sptrace
  need_kb=$(( nev / 1000 * 40 * 2 / 1000 * 1000 ))
  avail_kb=$(df -Pk "$tmp" | awk 'NR == 2 { print $4 }')
  if [ "$avail_kb" -lt "$need_kb" ]; then
    echo "== native big: skipped, $((avail_kb / 1000000)) GB free in $tmp, want $((need_kb / 1000000)) GB"
  else
    [ "${NATIVE_BIG_KEEP:-0}" = 1 ] || trap 'rm -f "$nb"' EXIT
    [ -s "$nb" ] || "$build/bench/bench_record" gen-varied "$nb" "$nev" > /dev/null
    size=$(stat -c %s "$nb")
    echo "== native big: $nev events, $((size / 1000000)) MB; memory $(free -g | awk '/Mem:/{print $2}') GiB"
    TIMED_OUT=$tmp/servprof_e2e_big_report.json timed "analyze --json" "$size" "$nev" "$S" analyze --json --no-progress "$nb"
    if [ -n "${REF:-}" ]; then
      TIMED_OUT=$tmp/servprof_e2e_big_report_ref.json timed "REF analyze --json" "$size" "$nev" "$REF" analyze --json --no-progress "$nb"
      cmp "$tmp/servprof_e2e_big_report.json" "$tmp/servprof_e2e_big_report_ref.json" &&
        echo "native big: JSON reports byte-identical to REF's"
      rm -f "$tmp/servprof_e2e_big_report_ref.json"
    fi
    rm -f "$tmp/servprof_e2e_big_report.json"
    [ "${NATIVE_BIG_KEEP:-0}" = 1 ] || rm -f "$nb"
  fi
fi
