#!/usr/bin/env bash
# The parts link one way (README.md, "Layout"): the analysis library (libservprof-analysis.a) stands
# on the native trace format and common helpers (libservprof-format.a) and never on the recorder, and
# the format library needs nothing from either library above it; the what-if and diff libraries stand
# on those and on nothing above them. Checked on the archives' symbols: every servprof symbol one
# needs is defined in itself or in the layers below it.
# Usage: layers.sh SERVPROF_BIN SOURCE_DIR
set -u
build=$(cd "$(dirname "$1")" && pwd)
command -v nm >/dev/null || { echo "layers: skipped (no nm)"; exit 77; }
fail=0
ana=$build/libservprof-analysis.a
fmt=$build/libservprof-format.a
rec=$build/libservprof.a
for a in "$ana" "$fmt" "$rec"; do
  [ -e "$a" ] || { echo "FAIL: $a not built"; exit 1; }
done
needs() { nm -u "$@" 2>/dev/null | awk '{print $NF}' | grep -E '^sp_' | sort -u; }
defines() { nm -g --defined-only "$@" 2>/dev/null | awk 'NF >= 3 {print $NF}' | grep -E '^sp_' | sort -u; }

# the check can tell: the recorder's archive defines the record functions, the format's does not
defines "$rec" | grep -qx sp_record_stage || { echo "FAIL: libservprof.a defines no sp_record_stage"; fail=1; }
defines "$fmt" | grep -E '^sp_record' && { echo "FAIL: libservprof-format.a carries recorder functions"; fail=1; }

missing=$(comm -23 <(needs "$ana") <(defines "$ana" "$fmt"))
[ -z "$missing" ] || { echo "FAIL: libservprof-analysis.a needs symbols from above its layers: $missing"; fail=1; }
missing=$(comm -23 <(needs "$fmt") <(defines "$fmt"))
[ -z "$missing" ] || { echo "FAIL: libservprof-format.a needs symbols from another servprof library: $missing"; fail=1; }

# above them, one way too (CMakeLists.txt): the what-if simulator stands on the analysis, the diff
# library on the simulator (the verdict's prediction of a side analysed from traces) and the analysis,
# and neither reaches up to the report writers or the CLI
wi=$build/src/whatif/libservprof-whatif.a
dif=$build/libservprof-diff.a
if [ -e "$wi" ] && [ -e "$dif" ]; then
  missing=$(comm -23 <(needs "$wi") <(defines "$wi" "$ana" "$fmt"))
  [ -z "$missing" ] || { echo "FAIL: libservprof-whatif.a needs symbols from above its layers: $missing"; fail=1; }
  missing=$(comm -23 <(needs "$dif") <(defines "$dif" "$wi" "$ana" "$fmt"))
  [ -z "$missing" ] || { echo "FAIL: libservprof-diff.a needs symbols from above its layers: $missing"; fail=1; }
fi
[ $fail = 0 ] && echo "layers: OK"
exit $fail
