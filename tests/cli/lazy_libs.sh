#!/usr/bin/env bash
# Start-up weight (issue 15): libcurl, OpenBLAS and libmicrohttpd (with gnutls behind it) are opened
# with dlopen by the commands that use them (src/fleet/prometheus.c at the first Prometheus query,
# src/serve/blas.c when `serve` builds its model, src/serve/mhd.c when it starts its HTTP side), never
# linked. Checks: ldd of the CLI lists none; `--version`, `--help` and `analyze` of a small synth trace
# load none (LD_DEBUG=files lists every object the dynamic linker opens, at start and by dlopen);
# `analyze --prometheus` against a closed port loads libcurl and fails with libcurl's reason (so its
# functions were found and called); a CPU service maps OpenBLAS and libmicrohttpd once it listens and
# answers an embedding request (so the model's sgemm and the HTTP side ran through the opened
# libraries).
# Usage: lazy_libs.sh SERVPROF_BIN SOURCE_DIR. Parts skip with a note when serve or the Prometheus
# client is compiled out.
set -u
bin=$1
fail=0
tmp=$(mktemp -d)
pid=
trap '[ -n "$pid" ] && kill "$pid" 2>/dev/null; rm -rf "$tmp"' EXIT
libs_re='libcurl|libopenblas|libmicrohttpd|libgnutls'

# 1. not linked
if ldd "$bin" | grep -E "$libs_re"; then
  echo "FAIL: $bin links libcurl, OpenBLAS or libmicrohttpd (above)"; fail=1
fi
# 2. not loaded by the commands that do not need them
"$bin" synth --requests 300 --seed 3 -o "$tmp/small.jsonl" || { echo "FAIL: synth exited $?"; exit 1; }
for args in "--version" "--help" "analyze --json --no-progress $tmp/small.jsonl" "analyze --no-progress $tmp/small.jsonl"; do
  # shellcheck disable=SC2086
  LD_DEBUG=files "$bin" $args >"$tmp/out" 2>"$tmp/ld" || { echo "FAIL: servprof $args exited $?"; fail=1; }
  grep -q "file=libc.so.6" "$tmp/ld" || { echo "FAIL: LD_DEBUG=files printed nothing for servprof $args"; fail=1; }
  if grep -E "file=.*($libs_re)" "$tmp/ld"; then
    echo "FAIL: servprof $args loaded libcurl, OpenBLAS or libmicrohttpd (above)"; fail=1
  fi
done
# 3. the Prometheus client opens libcurl and uses it (port 9, discard: nothing listens in a test box)
LD_DEBUG=files "$bin" analyze --prometheus http://127.0.0.1:9 >"$tmp/out" 2>"$tmp/ld"
if grep -q "no Prometheus client" "$tmp/ld"; then
  echo "lazy_libs: the Prometheus client is compiled out: its part skipped"
else
  grep -q "file=.*libcurl" "$tmp/ld" || { echo "FAIL: analyze --prometheus did not load libcurl"; fail=1; }
  grep -q "cannot read Prometheus at http://127.0.0.1:9: " "$tmp/ld" ||
    { grep -v "^ *[0-9]*:" "$tmp/ld"; echo "FAIL: analyze --prometheus did not fail with libcurl's reason"; fail=1; }
fi
# 4. the CPU service opens OpenBLAS and libmicrohttpd and answers through them
if "$bin" serve --help >/dev/null 2>&1 && command -v curl >/dev/null; then
  "$bin" serve --port 0 --duration 60 >"$tmp/sout" 2>"$tmp/serr" &
  pid=$!
  port=
  for _ in $(seq 1 400); do
    port=$(sed -n 's/^listening on 127\.0\.0\.1:\([0-9][0-9]*\)$/\1/p' "$tmp/sout")
    [ -n "$port" ] && break
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.05
  done
  if [ -z "$port" ]; then
    cat "$tmp/serr"; echo "FAIL: servprof serve did not start"; fail=1
  else
    grep -q libopenblas "/proc/$pid/maps" || { echo "FAIL: the CPU service did not map OpenBLAS"; fail=1; }
    grep -q libmicrohttpd "/proc/$pid/maps" || { echo "FAIL: the CPU service did not map libmicrohttpd"; fail=1; }
    code=$(curl -s --noproxy '*' -o "$tmp/resp" -w '%{http_code}' -H 'Content-Type: application/json' \
           -X POST "http://127.0.0.1:$port/v1/embeddings" -d '{"input":["Hello, World!"]}')
    [ "$code" = 200 ] && grep -q '"embedding"' "$tmp/resp" ||
      { echo "FAIL: embedding request answered $code: $(head -c 300 "$tmp/resp")"; fail=1; }
  fi
  kill -INT "$pid" 2>/dev/null
  wait "$pid" 2>/dev/null
  pid=
else
  echo "lazy_libs: serve (or curl) is not available: its part skipped"
fi
[ $fail = 0 ] && echo "lazy_libs: OK (libcurl, OpenBLAS and libmicrohttpd only where used)"
exit $fail
