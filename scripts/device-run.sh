#!/usr/bin/env bash
# The one device script: run ON the GPU machine from the repository root, in one call, with
# .devdeps carried (made here by scripts/device-deps.sh). It unpacks the carried .deb files into
# /tmp/devroot (dpkg -x, never into /), points the compiler, CMake, pkg-config and the loader there,
# builds servprof with CUDA into build-gpu (-j16), then runs:
#   1. scripts/gpu-check.sh steps 1-7: GPU unit tests (test_gpu_live, test_cuda_backend, ...), the
#      collector injected into examples/cuda_vector_add.cu vs its gated cudaEvent timings
#   2. scripts/gpu-overhead.sh: recording's cost per request and on closed-loop throughput, by mode,
#      with 95% intervals (bench/overhead.py), until RESERVE_S seconds of the budget are left
#   3. scripts/gpu-check.sh steps 10 and 12 (collector vs torch.profiler; the Python package on CUDA:
#      docs/python.md) if time is left
#   4. scripts/hf-check.sh: a Hugging Face BERT and GPT-2 from configs behind aiohttp
#      (examples/python/hf_service.py) on CUDA under servprof load and load --stream, if time is left
#      (--model torch-tiny where the machine's Python lacks transformers)
# and leaves at most 8 files in $OUT: device-run.log (everything printed), build.log, ctest-gpu.log,
# gpu-check.txt, gpu-overhead.txt, gpu-check-torch.txt, hf-service.txt.
# Time: every phase's limit is cut to what is left of BUDGET_S (default 500 s) counted from the start,
# so the whole run ends within BUDGET_S plus a few seconds for the summary: call it with a
# timeout_s of about 560 (the device tool's limit is 600). Planned on 16 cores: unpack ~5 s, configure
# and build ~90-120 s (limits 150 and 300), steps 1-7 ~60 s (limit 240), gpu-overhead until RESERVE_S
# (default 150) are left (its rounds take ~25 s and it starts none past its deadline, 90 s before
# that), steps 10 and 12 ~100 s if more than 75 s are left, hf-check ~45 s if more than 50 s are left.
# SKIP_GPU=1: dry run for a machine without a GPU (unpack, build, a CPU plumbing run of
# gpu-overhead.sh and of hf-check.sh with --model torch-tiny; no GPU step). Environment: BUILD
# (default build-gpu), DEVROOT (/tmp/devroot), CUDA_HOME (/usr/local/cuda), JOBS (16), BUDGET_S
# (500), RESERVE_S (150).
set -uo pipefail

SRC=$(cd "$(dirname "$0")/.." && pwd)
cd "$SRC" || exit 1
OUT=${OUT:-$SRC/out}
mkdir -p "$OUT"
T0=$(date +%s)
BUILD=${BUILD:-build-gpu}
DEVROOT=${DEVROOT:-/tmp/devroot}
FALLROOT=$DEVROOT-fallback
CUDA_HOME=${CUDA_HOME:-/usr/local/cuda}
JOBS=${JOBS:-16}
BUDGET_S=${BUDGET_S:-500}
RESERVE_S=${RESERVE_S:-150}
SKIP_GPU=${SKIP_GPU:-0}
ML=x86_64-linux-gnu
LIBD=$DEVROOT/usr/lib/$ML
WORK=$(mktemp -d /tmp/servprof-device-run.XXXXXX)

el() { echo $(( $(date +%s) - T0 )); }
left() { echo $(( BUDGET_S - $(date +%s) + T0 )); }
lim() { local l; l=$(left); [ "$l" -lt 1 ] && l=1; [ "$l" -lt "$1" ] && echo "$l" || echo "$1"; } # min(N, left), >= 1
stage() { printf '\n######## [%ss] %s\n' "$(el)" "$*"; }
die() { printf '\n!!!! FATAL [%ss]: %s\n' "$(el)" "$*"; exit 1; }

unpack() { # DEB DEST: dpkg -x, or ar + tar where dpkg is missing
  if command -v dpkg >/dev/null 2>&1; then
    dpkg -x "$1" "$2"
  else
    local t
    t=$(mktemp -d)
    (cd "$t" && ar x "$1" && tar -xf data.tar.* -C "$2") || return 1
    rm -rf "$t"
  fi
}

main() {
  local rc_all=0
  stage "machine"
  uname -a
  grep PRETTY_NAME /etc/os-release 2>/dev/null
  ldd --version 2>/dev/null | head -1
  nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>/dev/null || echo "(no nvidia-smi)"
  command -v cmake make ninja pkg-config gcc python3 dpkg ar 2>/dev/null
  "$CUDA_HOME/bin/nvcc" --version 2>/dev/null | tail -1

  stage "unpack .devdeps into $DEVROOT (fallback libraries into $FALLROOT)"
  ls .devdeps/*.deb >/dev/null 2>&1 || die "no .devdeps/*.deb: run scripts/device-deps.sh on the dev machine and carry .devdeps"
  rm -rf "$DEVROOT" "$FALLROOT"
  mkdir -p "$DEVROOT" "$FALLROOT"
  for f in .devdeps/*.deb; do unpack "$SRC/$f" "$DEVROOT" || die "cannot unpack $f"; done
  for f in .devdeps/fallback/*.deb; do [ -e "$f" ] && { unpack "$SRC/$f" "$FALLROOT" || die "cannot unpack $f"; }; done
  # dpkg -x runs no maintainer scripts, so OpenBLAS's alternatives links (cblas.h, libopenblas.so in
  # the plain directories) are missing: make them, pointing at the pthread build
  mkdir -p "$DEVROOT/usr/include" "$LIBD"
  for h in cblas.h openblas_config.h f77blas.h; do
    [ -e "$DEVROOT/usr/include/$ML/openblas-pthread/$h" ] && ln -sf "$DEVROOT/usr/include/$ML/openblas-pthread/$h" "$DEVROOT/usr/include/$h"
  done
  ln -sf "$LIBD/openblas-pthread/libopenblas.so.0" "$LIBD/libopenblas.so.0"
  ln -sf libopenblas.so.0 "$LIBD/libopenblas.so"
  # zlib1g-dev's libz.so points at Debian's /lib/.../libz.so.1.2.13, which another system may not
  # have: point it at this machine's libz.so.1
  local z
  z=$( (ldconfig -p 2>/dev/null || /sbin/ldconfig -p 2>/dev/null) | awk '$1 == "libz.so.1" && /x86-64/ {print $NF; exit}')
  [ -n "$z" ] || z=$(ls /lib/$ML/libz.so.1 /usr/lib/$ML/libz.so.1 2>/dev/null | head -1)
  [ -n "$z" ] || die "no libz.so.1 on this machine"
  ln -sf "$z" "$LIBD/libz.so"
  echo "libz.so -> $z"
  # runtime libraries those need: link in, by soname (libgnutls.so.30), only the ones this machine
  # lacks (its own win otherwise)
  local have
  have=$( (ldconfig -p 2>/dev/null || /sbin/ldconfig -p 2>/dev/null) | awk '{print $1}' | sort -u)
  [ -n "$have" ] || echo "note: ldconfig -p gave nothing: linking every fallback library"
  local added=()
  while IFS= read -r so; do
    local b
    b=$(basename "$so")
    if ! grep -qx "$b" <<< "$have"; then
      ln -sf "$so" "$LIBD/$b"
      added+=("$b")
    fi
  done < <(find "$FALLROOT" \( -type f -o -type l \) -name 'lib*.so.*' | grep -E '/lib[^/]*\.so\.[0-9]+$' | sort)
  echo "fallback libraries linked in (missing here): ${added[*]:-none}"
  # pkg-config files say prefix=/usr: point them at the unpacked tree
  for pc in "$LIBD"/pkgconfig/*.pc; do
    [ -f "$pc" ] && sed -i "s|^prefix=/usr\$|prefix=$DEVROOT/usr|" "$pc"
  done
  export CMAKE_PREFIX_PATH=$DEVROOT/usr${CMAKE_PREFIX_PATH:+:$CMAKE_PREFIX_PATH}
  export CPATH=$DEVROOT/usr/include${CPATH:+:$CPATH}
  export LIBRARY_PATH=$LIBD${LIBRARY_PATH:+:$LIBRARY_PATH}
  export LD_LIBRARY_PATH=$LIBD${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
  export PKG_CONFIG_PATH=$LIBD/pkgconfig${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}
  export SERVPROF_CMAKE_ARGS="-DCMAKE_INCLUDE_PATH=$DEVROOT/usr/include -DCMAKE_LIBRARY_PATH=$LIBD"
  if ! command -v make >/dev/null 2>&1 && command -v ninja >/dev/null 2>&1 && [ ! -f "$BUILD/CMakeCache.txt" ]; then
    SERVPROF_CMAKE_ARGS="$SERVPROF_CMAKE_ARGS -G Ninja"
  fi
  echo "CMAKE_PREFIX_PATH=$CMAKE_PREFIX_PATH"
  echo "LD_LIBRARY_PATH=$LD_LIBRARY_PATH"
  echo "SERVPROF_CMAKE_ARGS=$SERVPROF_CMAKE_ARGS"
  du -sh "$DEVROOT" "$FALLROOT" 2>/dev/null

  stage "configure and build ($BUILD, -j$JOBS)"
  local cuda_args=(-DSERVPROF_CUDA=ON -DCUDAToolkit_ROOT="$CUDA_HOME")
  # shellcheck disable=SC2086  # word splitting of the extra arguments is wanted
  timeout "$(lim 150)" cmake -S "$SRC" -B "$BUILD" -DCMAKE_BUILD_TYPE=RelWithDebInfo "${cuda_args[@]}" $SERVPROF_CMAKE_ARGS \
    > "$OUT/build.log" 2>&1 || { tail -40 "$OUT/build.log"; die "configure failed (build.log)"; }
  grep "servprof" "$OUT/build.log"
  grep -q "serve\` is compiled out" "$OUT/build.log" && die "servprof serve compiled out: the unpacked libraries were not found (build.log)"
  grep -E "^SP_(MHD|JANSSON|OPENBLAS)_(INCLUDE_DIRS|LINK_LIBRARIES|LIBRARY_DIRS|FOUND)|^ZLIB_(INCLUDE_DIR|LIBRARY_RELEASE)" "$BUILD/CMakeCache.txt"
  timeout "$(lim 300)" cmake --build "$BUILD" -j "$JOBS" >> "$OUT/build.log" 2>&1 || { grep -E "error|Error" "$OUT/build.log" | head -30; tail -30 "$OUT/build.log"; die "build failed (build.log)"; }
  echo "build OK at $(el)s"
  ldd "$BUILD/servprof" | grep -E "microhttpd|jansson|gnutls|not found"
  ldd "$BUILD/servprof" | grep -q "not found" && die "servprof has unresolved libraries (see ldd above)"
  # OpenBLAS is not linked: serve opens libopenblas.so.0 with dlopen when it builds a CPU model (the
  # loader finds the unpacked one through LD_LIBRARY_PATH), so check that it resolves
  ldd "$LIBD/libopenblas.so.0" | grep -E "gfortran|not found"
  ldd "$LIBD/libopenblas.so.0" | grep -q "not found" && die "libopenblas.so.0 (opened by serve) has unresolved libraries (above)"
  # nor is libmicrohttpd: serve opens libmicrohttpd.so.12 when it starts its HTTP side (src/serve/mhd.c)
  ldd "$LIBD/libmicrohttpd.so.12" | grep -E "gnutls|not found"
  ldd "$LIBD/libmicrohttpd.so.12" | grep -q "not found" && die "libmicrohttpd.so.12 (opened by serve) has unresolved libraries (above)"
  "$BUILD/servprof" serve --help | grep -E -- "--no-cupti|--cupti-lean|--cupti-launches" || die "servprof serve lacks the CUPTI mode options"

  if [ "$SKIP_GPU" = 1 ]; then
    stage "SKIP_GPU=1: CPU plumbing run of gpu-overhead.sh (no GPU steps)"
    DEVICE=cpu DEADLINE_S=20 REQS=300 WARM=50 GRAPHS=0 OUT="$WORK/ov" timeout 120 bash scripts/gpu-overhead.sh "$BUILD"
    echo "(on the CPU the modes are off and the recorder only; the trace checks are the GPU's)"
    stage "SKIP_GPU=1: CPU plumbing run of hf-check.sh (--model torch-tiny)"
    local py
    py=$(for p in python3 /usr/bin/python3; do "$p" -c "import torch, aiohttp" 2>/dev/null && { echo "$p"; break; }; done)
    if [ -n "$py" ]; then
      PYTHON=$py DEVICE=cpu MODEL=torch-tiny SECONDS_EACH=2 OUT="$WORK/hf" timeout 120 bash scripts/hf-check.sh "$SRC/$BUILD" | tail -8
    else
      echo "no python3 here with torch and aiohttp: hf-check not dry-run"
    fi
    stage "dry run done in $(el)s"
    return 0
  fi

  stage "gpu-check.sh steps 1-7 (GPU unit tests, injected collector vs gated cudaEvents)"
  GPU_CHECK_STEPS="3 4 5 6 7" OUT="$WORK/gc1" timeout "$(lim 240)" bash scripts/gpu-check.sh "$SRC/$BUILD" || { rc_all=1; echo "gpu-check (steps 1-7): FAILED or timed out"; }
  [ -f "$WORK/gc1/gpu-check.txt" ] && cp "$WORK/gc1/gpu-check.txt" "$OUT/gpu-check.txt"
  [ -f "$WORK/gc1/ctest-gpu.log" ] && cp "$WORK/gc1/ctest-gpu.log" "$OUT/ctest-gpu.log"

  local l
  l=$(left)
  stage "gpu-overhead.sh (time left ${l}s)"
  if [ "$l" -gt 90 ]; then
    # keep RESERVE_S for steps 10, 12 and hf-check only while the overhead still gets 150 s: its
    # figures come first
    local res=0
    [ $(( l - RESERVE_S )) -ge 150 ] && res=$RESERVE_S
    # a round (4 runs of REQS requests, closed loop) takes about 25 s: start none that cannot end
    # with a minute to spare
    DEADLINE_S=$(( l - 90 - res > 30 ? l - 90 - res : 30 )) OUT="$OUT" REQS=${REQS:-20000} \
      timeout $(( l - 20 - res )) bash scripts/gpu-overhead.sh "$SRC/$BUILD" || { rc_all=1; echo "gpu-overhead: FAILED or timed out"; }
  else
    echo "no time left for gpu-overhead.sh"; rc_all=1
  fi

  l=$(left)
  stage "gpu-check.sh steps 10 and 12 (collector vs torch.profiler; Python on CUDA; time left ${l}s)"
  if [ "$l" -gt 75 ]; then
    GPU_CHECK_STEPS="10 12" OUT="$WORK/gc2" timeout $(( l - 10 )) bash scripts/gpu-check.sh "$SRC/$BUILD" || { rc_all=1; echo "gpu-check (steps 10 and 12): FAILED or timed out"; }
    [ -f "$WORK/gc2/gpu-check.txt" ] && cp "$WORK/gc2/gpu-check.txt" "$OUT/gpu-check-torch.txt"
  else
    echo "skipped: not enough time left"
  fi

  l=$(left)
  stage "hf-check.sh: a Hugging Face model behind aiohttp on CUDA (time left ${l}s)"
  if [ "$l" -gt 50 ]; then
    local model=hf
    python3 -c "import transformers" 2>/dev/null || { model=torch-tiny; echo "python3 has no transformers: --model torch-tiny"; }
    DEVICE=cuda MODEL=$model OUT="$OUT" timeout $(( l - 5 )) bash scripts/hf-check.sh "$SRC/$BUILD" || { rc_all=1; echo "hf-check: FAILED or timed out"; }
  else
    echo "skipped: not enough time left"
  fi

  stage "summary"
  for f in gpu-check.txt gpu-overhead.txt gpu-check-torch.txt hf-service.txt; do
    [ -f "$OUT/$f" ] && { echo "---- $f"; cat "$OUT/$f"; }
  done
  echo
  echo "device-run: $([ $rc_all = 0 ] && echo PASSED || echo 'SOMETHING FAILED (see above)') in $(el)s; files: $(ls "$OUT" | tr '\n' ' ')"
  return $rc_all
}

main 2>&1 | tee "$OUT/device-run.log"
exit "${PIPESTATUS[0]}"
