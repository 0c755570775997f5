#!/usr/bin/env bash
# Weight (issue 10): in a build with CUDA, the CUDA libraries live in the backend module only. The
# servprof binary links none of cudart, cuBLAS, cuBLASLt, CUPTI or the driver (ldd), and a CPU
# service maps none of them while it runs (/proc/PID/maps); the module does link cuBLAS and CUPTI
# (so the first check can fail) and exports its entry point only; the injectable collector
# libservprof-cupti.so carries no recorder (no sp_record_* of its own) and links libservprof.so.
# Skips (77) in a build without the module (SERVPROF_CUDA off, or no toolkit).
# Usage: cuda_libs.sh SERVPROF_BIN SOURCE_DIR
set -u
bin=$1
build=$(cd "$(dirname "$bin")" && pwd)
if ! grep -q "^SERVPROF_CUDA_MODULE_BUILT:INTERNAL=ON$" "$build/CMakeCache.txt" 2>/dev/null; then
  echo "cuda_libs: skipped: this build has no CUDA backend module"
  exit 77
fi
fail=0
cuda_re='libcublas|libcublasLt|libcupti|libcudart|libcuda\.so|libnvrtc|libnvJitLink'
mod=$build/libservprof-cuda.so
col=$build/libservprof-cupti.so

# 1. the CLI
if ldd "$bin" | grep -E "$cuda_re"; then
  echo "FAIL: $bin links CUDA libraries (above)"; fail=1
fi
# 2. the module holds them, and exports one symbol
[ -f "$mod" ] || { echo "FAIL: $mod was not built"; exit 1; }
ldd "$mod" | grep -q libcublas || { echo "FAIL: $mod does not link cuBLAS"; fail=1; }
ldd "$mod" | grep -q libcupti || { echo "FAIL: $mod does not link CUPTI"; fail=1; }
ldd "$mod" | grep -q "not found" && { echo "FAIL: $mod has unresolved libraries: $(ldd "$mod" | grep 'not found')"; fail=1; }
exports=$(nm -D --defined-only "$mod" | awk '{print $3}' | tr '\n' ' ')
[ "$exports" = "sp_cuda_backend_v2 " ] || { echo "FAIL: $mod exports '$exports', expected only sp_cuda_backend_v2"; fail=1; }
# 3. the injectable collector records through libservprof.so
if [ -f "$col" ]; then
  own=$(nm -D --defined-only "$col" | grep -c " sp_record_")
  [ "$own" = 0 ] || { echo "FAIL: $col defines $own sp_record_* functions (a second recorder)"; fail=1; }
  readelf -d "$col" | grep -q "NEEDED.*libservprof\.so" || { echo "FAIL: $col does not link libservprof.so"; fail=1; }
  nm -D --defined-only "$col" | grep -qw InitializeInjection || { echo "FAIL: $col lost InitializeInjection"; fail=1; }
  ldd "$col" | grep -q "not found" && { echo "FAIL: $col has unresolved libraries: $(ldd "$col" | grep 'not found')"; fail=1; }
fi
# 4. a running CPU service maps no CUDA library
if "$bin" --help | grep -q "^  serve "; then
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  "$bin" serve --port 0 --duration 20 >"$tmp/out" 2>"$tmp/err" &
  pid=$!
  for _ in $(seq 1 200); do grep -q "^listening on" "$tmp/out" && break; sleep 0.05; done
  if grep -q "^listening on" "$tmp/out"; then
    if grep -E "$cuda_re" "/proc/$pid/maps"; then
      echo "FAIL: the CPU service mapped CUDA libraries (above)"; fail=1
    fi
  else
    cat "$tmp/err"; echo "FAIL: servprof serve did not start"; fail=1
  fi
  kill -INT "$pid" 2>/dev/null
  wait "$pid" 2>/dev/null
fi
[ $fail = 0 ] && echo "cuda_libs: OK (servprof links no CUDA library; the module does)"
exit $fail
