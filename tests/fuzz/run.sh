#!/usr/bin/env bash
# `make fuzz`: runs every libFuzzer target in BUILD/fuzz for SECONDS each, starting from its committed
# corpus (tests/fuzz/corpus/<target>/; new inputs go to a scratch copy, not the source tree).
# Stops at the first crash and leaves the crashing input in BUILD/fuzz/<target>-artifacts/.
set -euo pipefail
build=${1:-build-fuzz}
seconds=${2:-60}
here=$(cd "$(dirname "$0")" && pwd)
status=0
for bin in "$build"/fuzz/fuzz_*; do
  name=$(basename "$bin")
  case "$name" in *_replay|*-corpus|*-artifacts|*.log) continue ;; esac
  [ -f "$bin" ] && [ -x "$bin" ] || continue
  work="$build/fuzz/$name-corpus"
  art="$build/fuzz/$name-artifacts/"
  mkdir -p "$work" "$art"
  cp -n "$here/corpus/$name"/* "$work"/ 2>/dev/null || true
  echo "== $name: ${seconds}s"
  if ! "$bin" -max_total_time="$seconds" -rss_limit_mb=2048 -timeout=10 -artifact_prefix="$art" \
       -print_final_stats=1 "$work" 2>"$build/fuzz/$name.log"; then
    echo "$name: FAILED, see $build/fuzz/$name.log and $art" >&2
    tail -30 "$build/fuzz/$name.log" >&2
    status=1
  else
    grep -E "stat::number_of_executed_units|Done" "$build/fuzz/$name.log" | tail -2
  fi
done
exit $status
