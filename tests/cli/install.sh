#!/usr/bin/env bash
# `cmake --install` into a temporary prefix gives a library people can link: examples/record_minimal.c
# builds against the installed headers and libservprof.so both through pkg-config (servprof.pc) and
# through find_package(servprof CONFIG) (servprof::servprof), runs, and its trace is analysed by the
# installed CLI, by a program linked with servprof::analysis alone (which must not carry the
# recorder: it links servprof::format, the native trace format) and by one linked with
# servprof::report (analysis and writers); the installed `servprof serve` finds its tokenizer under
# <prefix>/share/servprof, and (with CUDA) its backend module libservprof-cuda.so in the library dir.
# Usage: install.sh SERVPROF_BIN SOURCE_DIR
set -u
bin=$1
src=$2
build=$(cd "$(dirname "$bin")" && pwd)
if [ -n "${SP_SANITIZED:-}" ]; then
  echo "install: skipped in the sanitizer build (its libraries need the sanitizer runtime to link)"
  exit 77
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail=0
t() { "$@" || { echo "FAIL: $*"; fail=1; }; }
pfx=$tmp/prefix
cmake --install "$build" --prefix "$pfx" >"$tmp/install.log" 2>&1 || { cat "$tmp/install.log"; echo "FAIL: cmake --install"; exit 1; }
libdir=$(ls -d "$pfx"/lib* | head -1)
for f in bin/servprof include/servprof/trace.h include/servprof/servprof.h include/servprof/analyze.h \
         include/servprof/report.h \
         share/servprof/tokenizer.json; do
  [ -e "$pfx/$f" ] || { echo "FAIL: $f not installed"; fail=1; }
done
for f in libservprof.so libservprof.a libservprof-analysis.a libservprof-format.a libservprof-report.a \
         pkgconfig/servprof.pc cmake/servprof/servprofConfig.cmake; do
  [ -e "$libdir/$f" ] || { echo "FAIL: $(basename "$libdir")/$f not installed"; fail=1; }
done
[ -e "$pfx/include/servprof/serve.h" ] && { echo "FAIL: serve.h installed without its library"; fail=1; }

# 1. pkg-config
cflags=$(PKG_CONFIG_PATH=$libdir/pkgconfig pkg-config --cflags servprof) || { echo "FAIL: pkg-config --cflags"; fail=1; }
libs=$(PKG_CONFIG_PATH=$libdir/pkgconfig pkg-config --libs servprof) || { echo "FAIL: pkg-config --libs"; fail=1; }
inc=$(sed -n 's/.*-I\([^ ]*\).*/\1/p' <<<"$cflags")
[ -n "$inc" ] && [ "$(cd "$inc" && pwd -P)" = "$(cd "$pfx/include" && pwd -P)" ] ||
  { echo "FAIL: pkg-config cflags '$cflags' do not point at $pfx/include"; fail=1; }
# shellcheck disable=SC2086  # the flags are words
t cc $cflags "$src/examples/record_minimal.c" $libs -Wl,-rpath,"$libdir" -o "$tmp/ex_pc"
t "$tmp/ex_pc" "$tmp/pc.sptrace"
ldd "$tmp/ex_pc" | grep -q "$libdir/libservprof.so" || { echo "FAIL: the pkg-config build does not use the installed libservprof.so"; fail=1; }

# 2. find_package(servprof CONFIG)
mkdir -p "$tmp/cm"
cat >"$tmp/cm/ana.c" <<'C'
/* loads a trace and prints its request count, through the analysis library only */
#include <stdio.h>
#include "servprof/analyze.h"
int main(int argc, char **argv)
{
    sp_events *ev;
    sp_report *r;
    char err[512];
    if (argc != 2 || sp_events_create(&ev) || sp_events_load_file(ev, argv[1], NULL, err, sizeof err) ||
        sp_analyze(ev, NULL, &r, err, sizeof err))
        return 1;
    printf("%llu\n", (unsigned long long)r->request_count);
    sp_report_destroy(r);
    sp_events_destroy(ev);
    return 0;
}
C
cat >"$tmp/cm/CMakeLists.txt" <<CM
cmake_minimum_required(VERSION 3.20)
project(use_servprof C)
find_package(servprof 0.2 CONFIG REQUIRED)
add_executable(ex "$src/examples/record_minimal.c")
target_link_libraries(ex PRIVATE servprof::servprof)
add_executable(ex_static "$src/examples/record_minimal.c")
target_link_libraries(ex_static PRIVATE servprof::servprof_static)
add_executable(ana "$tmp/cm/ana.c")
target_link_libraries(ana PRIVATE servprof::analysis)
get_target_property(ana_libs servprof::analysis INTERFACE_LINK_LIBRARIES)
if(NOT "servprof::format" IN_LIST ana_libs OR "servprof::servprof_static" IN_LIST ana_libs)
  message(FATAL_ERROR "servprof::analysis links \${ana_libs}: expected servprof::format, not the recorder")
endif()
add_executable(rep "$tmp/cm/rep.c")
target_link_libraries(rep PRIVATE servprof::report)
CM
# a program that analyses a trace and writes its reports through the installed report library
cat >"$tmp/cm/rep.c" <<'C'
#include <servprof/report.h>
int main(int argc, char **argv)
{
    sp_events *ev;
    sp_report *r;
    char err[256];
    sp_analyze_options o;
    sp_analyze_options_init(&o);
    o.keep_detail = 1;
    if (argc != 2 || sp_events_create(&ev) || sp_events_load_file(ev, argv[1], NULL, err, sizeof err) ||
        sp_analyze(ev, &o, &r, err, sizeof err))
        return 1;
    int rc = sp_report_write_json(r, stdout) || sp_report_write_html(r, NULL, stderr);
    sp_report_destroy(r);
    sp_events_destroy(ev);
    return rc;
}
C
if cmake -S "$tmp/cm" -B "$tmp/cm/b" -DCMAKE_PREFIX_PATH="$pfx" >"$tmp/cm.log" 2>&1 &&
   cmake --build "$tmp/cm/b" >>"$tmp/cm.log" 2>&1; then
  t "$tmp/cm/b/ex" "$tmp/cm.sptrace"
  t "$tmp/cm/b/ex_static" "$tmp/cm_static.sptrace"
  ldd "$tmp/cm/b/ex_static" | grep -q libservprof && { echo "FAIL: servprof::servprof_static links the shared library"; fail=1; }
  if [ -s "$tmp/cm.sptrace" ]; then
    n=$("$tmp/cm/b/ana" "$tmp/cm.sptrace")
    [ "$n" = 200 ] || { echo "FAIL: servprof::analysis read $n requests, expected 200 (the example's 50 batches of 4)"; fail=1; }
  fi
  nm "$tmp/cm/b/ana" | grep -E ' [TtDdBb] sp_record' &&
    { echo "FAIL: a program linked with servprof::analysis carries the recorder"; fail=1; }
  ldd "$tmp/cm/b/ana" | grep -q libservprof && { echo "FAIL: servprof::analysis links the shared library"; fail=1; }
else
  cat "$tmp/cm.log"; echo "FAIL: a CMake project with find_package(servprof) does not build"; fail=1
fi

# 3. the installed CLI and the report library read what the examples wrote; the CLI finds its data
if [ -s "$tmp/cm.sptrace" ]; then
  n=$("$tmp/cm/b/rep" "$tmp/cm.sptrace" 2>"$tmp/rep.html" | python3 -c 'import json,sys; print(json.load(sys.stdin)["requests"]["count"])')
  [ "$n" = 200 ] || { echo "FAIL: servprof::report program read $n requests, expected 200"; fail=1; }
  grep -q '<section id="latency">' "$tmp/rep.html" && ! grep -q 'Needs the analysis detail' "$tmp/rep.html" ||
    { echo "FAIL: servprof::report program's HTML lacks the charts"; fail=1; }
fi
for tr in pc cm cm_static; do
  [ -s "$tmp/$tr.sptrace" ] || continue
  n=$("$pfx/bin/servprof" analyze --json "$tmp/$tr.sptrace" | python3 -c 'import json,sys; print(json.load(sys.stdin)["requests"]["count"])')
  [ "$n" = 200 ] || { echo "FAIL: $tr trace has $n requests, expected 200 (the example's 50 batches of 4)"; fail=1; }
done
if "$pfx/bin/servprof" --help | grep -q "^  serve "; then
  # the source tree is out of reach: only the installed copy of the tokenizer can be found
  ( cd "$tmp" && env -u SERVPROF_DATA_DIR timeout 20 "$pfx/bin/servprof" serve --port 0 --duration 0.2 ) >"$tmp/serve.log" 2>&1 ||
    { cat "$tmp/serve.log"; echo "FAIL: the installed servprof serve did not start"; fail=1; }
fi
# 4. with CUDA: the backend module is installed in the library dir and the installed servprof finds
# it there (a machine without a GPU then says so, rather than "cannot load"); the installed collector
# finds the installed libservprof.so beside itself
if grep -q "^SERVPROF_CUDA_MODULE_BUILT:INTERNAL=ON$" "$build/CMakeCache.txt"; then
  [ -e "$libdir/libservprof-cuda.so" ] || { echo "FAIL: $(basename "$libdir")/libservprof-cuda.so not installed"; fail=1; }
  ( cd "$tmp" && env -u SERVPROF_DATA_DIR -u SERVPROF_CUDA_MODULE timeout 60 "$pfx/bin/servprof" serve --device cuda \
      --port 0 --duration 0.2 ) >"$tmp/serve-cuda.log" 2>&1
  if grep -q "cannot load" "$tmp/serve-cuda.log"; then
    cat "$tmp/serve-cuda.log"; echo "FAIL: the installed servprof did not find its CUDA backend module"; fail=1
  fi
  if [ -e "$libdir/libservprof-cupti.so" ]; then
    ldd "$libdir/libservprof-cupti.so" | grep -q "$libdir/libservprof.so" ||
      { ldd "$libdir/libservprof-cupti.so"; echo "FAIL: the installed collector does not use the installed libservprof.so"; fail=1; }
  fi
fi
[ $fail = 0 ] && echo "install: OK ($pfx)"
exit $fail
