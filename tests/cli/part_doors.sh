#!/usr/bin/env bash
# In every part of src/ (serve, cli, load, gpu, synth, model, import, format, trace, analyze, report,
# whatif, fleet, diff, common), each file reaches another part only through that part's door (shared/STYLE.md,
# "Rooms"; README.md, "Layout"; docs/architecture.md), and no files call or include each other in a
# loop:
# - includes: a file names the public headers (servprof/...), src/common (the part every part
#   shares; common itself names no other part), its own part's headers, and these documented doors:
#   for the CUDA module (src/serve/cuda) the module contract serve/cuda_backend.h; the native trace
#   format (format/native_format.h) for the recorder and the importers, the only parts that write or
#   read it; the event model's builder interface and layout (model/events_int.h) for the importers,
#   which fill it, and the analyzer and the what-if simulator, which read it; the report writers reach
#   the model only through its read-only view and its loss wording (model/events_view.h,
#   model/loss_text.h) and no part but report/; the what-if simulator reaches the analyzer only
#   through the rules it shares with it and the report's storage (analyze/shared_rules.h,
#   analyze/report_store.h), never analyze_int.h and never report/; the fleet report reaches the
#   analysis only through its public header (servprof/analyze.h); the run comparison (src/diff)
#   reads servprof.report/1 documents with the one JSON lexer (import/json.h) and reaches the
#   analysis through its public header only; the CLI names only servprof/... and its own headers;
# - the libraries run one way, analysis <- what-if <- report, analysis <- diff <- report and
#   analysis <- fleet: no symbol a lower library needs is defined by one above it (nm); inside the
#   analysis library the flow is import -> model <- analyze: the model calls neither the importers nor
#   the analyzer, and those two never call each other; common calls nothing in the native format
#   module (it is the bottom);
# - no two files of a part include each other, directly or through others;
# - no two files of a part call each other, directly or through others: read from the built objects'
#   symbols (nm), an edge A -> B when A.o needs a symbol B.o defines.
# Usage: part_doors.sh SERVPROF_BIN SOURCE_DIR
set -u
bin=$1
src=$2
build=$(cd "$(dirname "$bin")" && pwd)
fail=0

# ---- includes ----
# allowed include prefixes per folder ("." : a header beside the file, by its bare name)
allowed() {
  case $1 in
    src/cli) echo "servprof/ ." ;;
    src/serve/cuda) echo "servprof/ common/ serve/cuda/ serve/cuda_backend.h" ;;
    src/serve) echo "servprof/ common/ serve/" ;;
    src/load) echo "servprof/ common/ load/" ;;
    src/gpu) echo "servprof/ common/ gpu/" ;;
    src/synth) echo "servprof/ common/ synth/" ;;
    src/model) echo "servprof/ common/ model/" ;;
    src/import) echo "servprof/ common/ import/ model/events_int.h format/native_format.h" ;;
    src/format) echo "servprof/ common/ format/" ;;
    src/trace) echo "servprof/ common/ trace/ format/native_format.h" ;;
    src/common) echo "servprof/ common/" ;;
    src/analyze) echo "servprof/ common/ analyze/ model/events_int.h" ;;
    src/report) echo "servprof/ common/ report/ model/events_view.h model/loss_text.h" ;;
    src/whatif) echo "servprof/ common/ whatif/ model/events_int.h analyze/shared_rules.h analyze/report_store.h" ;;
    src/fleet) echo "servprof/ common/ fleet/" ;;
    src/diff) echo "servprof/ common/ diff/ import/json.h" ;;
  esac
}
parts="src/cli src/serve src/serve/cuda src/load src/gpu src/synth src/model src/import src/format src/trace
       src/common src/analyze src/report src/whatif src/fleet src/diff"
for dir in $parts; do
  [ -d "$src/$dir" ] || { echo "FAIL: $src/$dir is missing"; fail=1; continue; }
  ok=$(allowed "$dir")
  for f in "$src/$dir"/*.c "$src/$dir"/*.h "$src/$dir"/*.cu; do
    [ -e "$f" ] || continue
    while IFS= read -r inc; do
      good=0
      for p in $ok; do
        if [ "$p" = . ]; then
          [[ $inc != */* && -e $src/$dir/$inc ]] && good=1
        elif [[ $inc == "$p"* ]]; then
          good=1
        fi
      done
      [ $good = 1 ] || { echo "FAIL: ${f#"$src"/} includes \"$inc\" (allowed: $ok)"; fail=1; }
    done < <(sed -n 's/^[[:space:]]*#[[:space:]]*include[[:space:]]*"\([^"]*\)".*/\1/p' "$f")
  done
done

# Reads "A B" edge lines on stdin (plus "A A" lines naming every node) and prints each node that
# reaches itself through another (a loop), with the loop's members: a transitive closure, parts
# have a few dozen files at most.
loops() {
  awk 'BEGIN { n = 0 }
    { if (!($1 in id)) { id[$1] = n; name[n++] = $1 } if (!($2 in id)) { id[$2] = n; name[n++] = $2 }
      if ($1 != $2) r[id[$1], id[$2]] = 1 }
    END {
      for (k = 0; k < n; k++) for (i = 0; i < n; i++) if (r[i, k]) for (j = 0; j < n; j++) if (r[k, j]) r[i, j] = 1
      for (i = 0; i < n; i++) {
        if (!r[i, i]) continue
        m = ""; for (j = 0; j < n; j++) if (r[i, j] && r[j, i]) m = m " " name[j]
        print name[i] ":" m
      }
    }'
}

# ---- include loops, per folder ----
for dir in $parts; do
  edges=$(for f in "$src/$dir"/*.c "$src/$dir"/*.h "$src/$dir"/*.cu; do
            [ -e "$f" ] || continue
            b=$(basename "$f"); echo "$b $b"
            sed -n 's/^[[:space:]]*#[[:space:]]*include[[:space:]]*"\([^"]*\)".*/\1/p' "$f" |
              while IFS= read -r inc; do
                t=$(basename "$inc")
                [[ -e $src/$dir/$t && ( $inc == "${dir#src/}/$t" || $inc == "$t" ) ]] && echo "$b $t"
              done
          done)
  l=$(loops <<<"$edges")
  [ -z "$l" ] || { echo "FAIL: files of $dir include each other in a loop:"; echo "$l"; fail=1; }
done

# ---- call loops, per part, from the built objects ----
command -v nm >/dev/null || { echo "part_doors: include checks done; call loops skipped (no nm)"; exit $fail; }
# "member defined|undefined symbol" lines of objects given as nm -A output
symtab() {
  awk '{
    k = split($1, p, ":"); m = p[k - 1]
    sub(/.*\//, "", m); sub(/\.o$/, "", m)
    if ($(NF - 1) == "U") print m, "U", $NF
    else if ($(NF - 1) ~ /^[TDBRCVW]$/) print m, "D", $NF
  }'
}
call_edges() {
  awk '$2 == "D" { def[$3] = $1; nodes[$1] = 1 } $2 == "U" { use[NR] = $1 " " $3; nodes[$1] = 1 }
       END { for (n in nodes) print n, n
             for (k in use) { split(use[k], u, " "); if (u[2] in def && def[u[2]] != u[1]) print u[1], def[u[2]] } }'
}
check_calls() { # NAME, then object files or archives
  local name=$1; shift
  local e l
  e=$(nm -A "$@" 2>/dev/null | symtab | call_edges)
  [ -n "$e" ] || { echo "FAIL: $name: no symbols read from $*"; fail=1; return; }
  l=$(loops <<<"$e")
  [ -z "$l" ] || { echo "FAIL: files of $name call each other in a loop:"; echo "$l"; fail=1; }
}
# the check can tell: a loop of three files made by hand is found
probe=$(printf 'a b\nb c\nc a\nd d\n' | loops)
[ "$(wc -l <<<"$probe")" = 3 ] || { echo "FAIL: the loop finder misses a three-file loop: $probe"; fail=1; }

for a in src/serve/libservprof_serve.a src/load/libservprof_load.a src/synth/libservprof_synth.a \
         src/gpu/libservprof_gpu_core.a; do
  if [ -e "$build/$a" ]; then
    check_calls "$(dirname "$a")" "$build/$a"
  elif [[ $a == src/serve/* || $a == src/load/* ]]; then
    echo "part_doors: $a not built (the part is compiled out): its call loops not checked"
  else
    echo "FAIL: $build/$a not built"; fail=1
  fi
done
# the parts built as objects inside a library's build folder (TARGET:PART): the event model, the
# importers, the analyzer, the report writers, the recorder, the native format module, common
# (common/log_forward.c, the add-ons' stand-in for util.c's sp_log, is built into the add-ons only)
part_objs() { find "$build/CMakeFiles/${1%%:*}.dir/src/${1#*:}" -maxdepth 1 -name '*.o' 2>/dev/null | sort; }
for part in servprof_analysis:model servprof_analysis:import servprof_analysis:analyze servprof_report:report \
            servprof_rec_obj:trace servprof_format_obj:format servprof_format_obj:common; do
  mapfile -t objs < <(part_objs "$part")
  if [ ${#objs[@]} -gt 0 ]; then
    check_calls "src/${part#*:}" "${objs[@]}"
  else
    echo "FAIL: the objects of src/${part#*:} are not under $build/CMakeFiles/${part%%:*}.dir"; fail=1
  fi
done
if [ -e "$build/src/whatif/libservprof-whatif.a" ]; then
  check_calls src/whatif "$build/src/whatif/libservprof-whatif.a"
fi
if [ -e "$build/src/fleet/libservprof-fleet.a" ]; then
  check_calls src/fleet "$build/src/fleet/libservprof-fleet.a"
else
  echo "FAIL: $build/src/fleet/libservprof-fleet.a not built"; fail=1
fi
if [ -e "$build/libservprof-diff.a" ]; then
  check_calls src/diff "$build/libservprof-diff.a"
else
  echo "FAIL: $build/libservprof-diff.a not built"; fail=1
fi

# ---- the libraries' direction: analysis <- what-if <- report ----
# "LOWER UPPER": prints the symbols LOWER needs that UPPER defines
needs_from() {
  comm -12 <(nm "$1" 2>/dev/null | awk '$1 == "U" { print $2 }' | sort -u) \
           <(nm "$2" 2>/dev/null | awk '$2 ~ /^[TDBR]$/ { print $3 }' | sort -u)
}
ana=$build/libservprof-analysis.a rep=$build/libservprof-report.a wi=$build/src/whatif/libservprof-whatif.a
fl=$build/src/fleet/libservprof-fleet.a
dif=$build/libservprof-diff.a
for pair in "$ana $rep" "$ana $wi" "$wi $rep" "$ana $fl" "$rep $fl" "$ana $dif" "$dif $rep"; do
  read -r lo up <<<"$pair"
  [ -e "$lo" ] && [ -e "$up" ] || { [[ $up == "$wi" || $lo == "$wi" ]] && continue; echo "FAIL: $lo or $up not built"; fail=1; continue; }
  up_calls=$(needs_from "$lo" "$up")
  [ -z "$up_calls" ] || { echo "FAIL: $(basename "$lo") calls up into $(basename "$up"):" $up_calls; fail=1; }
done
# the check can tell: the report library does call down into the analysis library (sp_cost_state_str...),
# and so does the fleet library (sp_report_from_buckets)
[ -n "$(needs_from "$rep" "$ana")" ] || { echo "FAIL: the direction check finds no call from report to analysis"; fail=1; }
[ -n "$(needs_from "$fl" "$ana")" ] || { echo "FAIL: the direction check finds no call from fleet to analysis"; fail=1; }
# ... and into the diff library (sp_diff_find), which calls down into the analysis (sp_analyze)
[ -n "$(needs_from "$rep" "$dif")" ] || { echo "FAIL: the direction check finds no call from report to diff"; fail=1; }
[ -n "$(needs_from "$dif" "$ana")" ] || { echo "FAIL: the direction check finds no call from diff to analysis"; fail=1; }

# ---- inside the analysis library and the bottom layer: import -> model <- analyze; common at the bottom ----
# "LOWER UPPER" as TARGET:PART: prints the symbols LOWER's objects need that UPPER's objects define
parts_need() {
  local lo up
  mapfile -t lo < <(part_objs "$1"); mapfile -t up < <(part_objs "$2")
  [ ${#lo[@]} -gt 0 ] && [ ${#up[@]} -gt 0 ] || { echo "(objects of $1 or $2 missing)"; return; }
  comm -12 <(nm "${lo[@]}" 2>/dev/null | awk '$1 == "U" { print $2 }' | sort -u) \
           <(nm "${up[@]}" 2>/dev/null | awk '$2 ~ /^[TDBR]$/ { print $3 }' | sort -u)
}
for pair in "servprof_analysis:model servprof_analysis:import" "servprof_analysis:model servprof_analysis:analyze" \
            "servprof_analysis:import servprof_analysis:analyze" "servprof_analysis:analyze servprof_analysis:import" \
            "servprof_format_obj:common servprof_format_obj:format"; do
  read -r lo up <<<"$pair"
  up_calls=$(parts_need "$lo" "$up")
  [ -z "$up_calls" ] || { echo "FAIL: src/${lo#*:} calls src/${up#*:}:" $up_calls; fail=1; }
done
# the check can tell: the importers do call the model's builders, the analyzer its reads
for pair in "servprof_analysis:import servprof_analysis:model" "servprof_analysis:analyze servprof_analysis:model"; do
  read -r lo up <<<"$pair"
  [ -n "$(parts_need "$lo" "$up")" ] || { echo "FAIL: the direction check finds no call from src/${lo#*:} to src/${up#*:}"; fail=1; }
done

mapfile -t cli_objs < <(find "$build/CMakeFiles" -path '*servprof_cli.dir*' -name '*.o' 2>/dev/null)
if [ ${#cli_objs[@]} -gt 0 ]; then
  check_calls src/cli "${cli_objs[@]}"
else
  echo "FAIL: the CLI's object files are not under $build/CMakeFiles"; fail=1
fi
[ $fail = 0 ] && echo "part_doors: OK"
exit $fail
