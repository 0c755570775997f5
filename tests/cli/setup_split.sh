#!/usr/bin/env bash
# `make demo` installs only what building needs; the heavy test-only packages (the clang runtime,
# Chromium, wrk, Prometheus) come with `make test` (scripts/setup.sh MODE --list prints each mode's packages).
# Usage: setup_split.sh SERVPROF_BIN SOURCE_DIR
set -euo pipefail
src=$2
build=$(bash "$src/scripts/setup.sh" build --list)
test=$(bash "$src/scripts/setup.sh" test --list)
fail=0
for heavy in libclang-rt-14-dev chromium wrk clang libcurl4-openssl-dev prometheus python3-torch python3-fastapi python3-uvicorn python3-dev; do
  if grep -qw -- "$heavy" <<< "$build"; then echo "FAIL: build (demo) installs $heavy"; fail=1; fi
  if ! grep -qw -- "$heavy" <<< "$test"; then echo "FAIL: test does not install $heavy"; fail=1; fi
done
for lib in libmicrohttpd-dev libopenblas-dev libjansson-dev zlib1g-dev cmake gcc; do
  grep -qw -- "$lib" <<< "$build" || { echo "FAIL: build lacks $lib"; fail=1; }
done
# the Makefile: demo goes through `setup` (build mode) only; test through setup-test
demo_cmds=$(make -s -C "$src" -n demo BUILD=/nonexistent 2>/dev/null || true)
test_cmds=$(make -s -C "$src" -n test BUILD=/nonexistent 2>/dev/null || true)
grep -q "setup.sh build" <<< "$demo_cmds" || { echo "FAIL: make demo does not run setup.sh build"; fail=1; }
grep -q "setup.sh test" <<< "$demo_cmds" && { echo "FAIL: make demo runs setup.sh test"; fail=1; }
grep -q "setup.sh test" <<< "$test_cmds" || { echo "FAIL: make test does not run setup.sh test"; fail=1; }
bash "$src/scripts/setup.sh" nonsense --list >/dev/null 2>&1 && { echo "FAIL: an unknown mode is accepted"; fail=1; }
[ $fail = 0 ] && echo "setup_split: OK"
exit $fail
