#!/usr/bin/env bash
# GPU check for the CUPTI collector, for a machine with an NVIDIA GPU and the CUDA toolkit: builds
# servprof with CUDA, runs the GPU tests (they must run, not skip), injects libservprof-cupti.so into
# an unmodified CUDA program (examples/cuda_vector_add.cu), prints the analysed report, and compares
# the collector's kernel count and summed kernel time with the program's own cudaEvent timings.
# Usage: scripts/gpu-check.sh [BUILD_DIR] [ITERATIONS]   (a few minutes at most)
set -euo pipefail

SRC=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${1:-$SRC/build-gpu}
ITERS=${2:-200}
CUDA_HOME=${CUDA_HOME:-/usr/local/cuda}
JOBS=$(nproc 2>/dev/null || echo 4)
WORK=$(mktemp -d /tmp/servprof-gpu-check.XXXXXX)
FAILED=0

step() { printf '\n==== %s\n' "$*"; }
fail() { printf '\n!!!! FAIL: %s\n' "$*" >&2; FAILED=1; }
die()  { printf '\n!!!! FATAL: %s\n' "$*" >&2; exit 1; }

step "1. GPU and toolkit"
command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader \
  || die "nvidia-smi not found: no NVIDIA driver on this machine"
NVCC=$CUDA_HOME/bin/nvcc
[ -x "$NVCC" ] || die "nvcc not found at $NVCC (set CUDA_HOME)"
"$NVCC" --version | tail -2
CUPTI_LIB=$(ls "$CUDA_HOME"/lib64/libcupti.so "$CUDA_HOME"/lib/libcupti.so \
                 "$CUDA_HOME"/extras/CUPTI/lib64/libcupti.so 2>/dev/null | head -1 || true)
[ -n "$CUPTI_LIB" ] || die "libcupti.so not found under $CUDA_HOME"
echo "CUPTI: $CUPTI_LIB"

step "2. Configure and build with CUDA ($BUILD)"
cmake -S "$SRC" -B "$BUILD" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSERVPROF_CUDA=ON \
      -DCUDAToolkit_ROOT="$CUDA_HOME" 2>&1 | tee "$WORK/cmake.log" | grep -i "servprof" || true
grep -q "building libservprof-cupti" "$WORK/cmake.log" || die "CMake did not enable the collector (see $WORK/cmake.log)"
cmake --build "$BUILD" -j "$JOBS" || die "build failed"
LIB=$BUILD/libservprof-cupti.so
[ -f "$LIB" ] || die "$LIB was not built"
for s in InitializeInjection sp_cupti_start sp_cupti_stop sp_cupti_batch_begin sp_cupti_batch_end; do
  nm -D --defined-only "$LIB" | grep -qw "$s" || fail "$LIB does not export $s"
done
echo "exports: OK"
ldd "$LIB" | grep -q "not found" && fail "$LIB has unresolved libraries: $(ldd "$LIB" | grep 'not found')"

step "3. GPU unit tests (must run, not skip)"
( cd "$BUILD" && ctest -R 'gpu' --output-on-failure -V ) > "$WORK/ctest.log" 2>&1 || fail "GPU tests failed"
grep -E "collector:|clock:|alignment:|SKIP|passed|Test +#" "$WORK/ctest.log" || true
grep -q "SKIP" "$WORK/ctest.log" && fail "a GPU test skipped on a GPU machine (see $WORK/ctest.log)"

step "4. Build the example program"
"$NVCC" -O2 -o "$WORK/cuda_vector_add" "$SRC/examples/cuda_vector_add.cu" || die "nvcc failed"

step "5. Run it plain (baseline) and under injection"
t0=$(date +%s.%N)
"$WORK/cuda_vector_add" "$ITERS" | tee "$WORK/plain.out" || die "the example failed without the collector"
t1=$(date +%s.%N)
TRACE=$WORK/vector_add.sptrace
t2=$(date +%s.%N)
CUDA_INJECTION64_PATH=$LIB NVTX_INJECTION64_PATH=$CUPTI_LIB SERVPROF_TRACE=$TRACE \
  "$WORK/cuda_vector_add" "$ITERS" > "$WORK/inject.out" 2> "$WORK/inject.err" \
  || { cat "$WORK/inject.err"; die "the example failed under injection"; }
t3=$(date +%s.%N)
cat "$WORK/inject.out" "$WORK/inject.err"
python3 -c "import sys; a=[float(x) for x in sys.argv[1:]]; print('wall time: plain %.3f s, injected %.3f s' % (a[1]-a[0], a[3]-a[2]))" "$t0" "$t1" "$t2" "$t3"
[ -s "$TRACE" ] || die "no trace written at $TRACE"
grep -q "servprof-cupti: wrote" "$WORK/inject.err" || fail "the collector printed no exit summary"
grep -q "UNTRACED" "$WORK/inject.err" && fail "the collector did not trace (see above)"

step "6. servprof analyze $TRACE"
"$BUILD/servprof" analyze "$TRACE" || fail "servprof analyze failed on the collector's trace"

step "7. Collector vs cudaEvent"
ev_k=$(sed -n 's/.*CUDAEVENT kernels=\([0-9]*\).*/\1/p' "$WORK/inject.out")
ev_ms=$(sed -n 's/.*kernel_ms=\([0-9.]*\).*/\1/p' "$WORK/inject.out")
co_k=$(sed -n 's/.*servprof-cupti: wrote .*: \([0-9]*\) kernels (\([0-9.]*\) ms summed).*/\1/p' "$WORK/inject.err")
co_ms=$(sed -n 's/.*servprof-cupti: wrote .*: \([0-9]*\) kernels (\([0-9.]*\) ms summed).*/\2/p' "$WORK/inject.err")
echo "program (cudaEvent):  kernels=$ev_k kernel_ms=$ev_ms"
echo "collector (CUPTI):    kernels=$co_k kernel_ms=$co_ms"
[ -n "$ev_k" ] && [ -n "$co_k" ] || die "could not read the two summaries"
[ "$ev_k" = "$co_k" ] || fail "kernel counts differ: program $ev_k, collector $co_k"
# cudaEvent pairs bracket each kernel and include a few microseconds of event overhead each, so the
# program's figure is expected to be slightly larger: accept 10% + 5 us per kernel.
python3 - "$ev_ms" "$co_ms" "$ev_k" <<'PY' || fail "kernel time differs beyond tolerance"
import sys
ev, co, k = float(sys.argv[1]), float(sys.argv[2]), int(sys.argv[3])
tol = 0.10 * ev + 0.005 * k
print(f"difference: {co - ev:+.3f} ms ({(co - ev) / ev * 100 if ev else 0:+.1f}%), tolerance {tol:.3f} ms")
sys.exit(0 if abs(co - ev) <= tol else 1)
PY

# The subscriber-conflict path (another CUPTI subscriber holds CUPTI) is exercised by
# test_gpu_live in step 3: it subscribes to CUPTI itself first and checks the refusal.
grep -i "another CUPTI subscriber" "$WORK/inject.err" && fail "unexpected subscriber conflict in the injected run"

echo
if [ "$FAILED" -ne 0 ]; then
  echo "GPU CHECK FAILED (logs in $WORK)"
  exit 1
fi
echo "GPU CHECK PASSED (logs in $WORK)"
