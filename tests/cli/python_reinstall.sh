#!/usr/bin/env bash
# Installing the Python package a second time from the same python/ folder against another libservprof
# (docs/python.md, "Install": first from the repository's build/, then with SERVPROF_PREFIX, or after
# rebuilding servprof) links the C extension to the second library. pip builds in python/build/, which
# outlives an install; setuptools skipped the link when the sources were older than the extension
# already there, so the second install kept the first one's run path (the repository's build/) while
# its _config.py named the prefix: two different libservprof copies for one package. The known answer
# is the run path we passed (SERVPROF_LIBRARY_DIR) each time. Skips (77) where the package cannot be
# built (no /usr/bin/python3 with pip, setuptools and Python.h, or a sanitizer build), as
# tests/python/build_package.sh does.
# Run as: bash python_reinstall.sh BINARY SOURCE_DIR
set -u
bin=$1
src=$(cd "$2" && pwd)
build=$(cd "$(dirname "$bin")" && pwd)
PY=${SERVPROF_PYTHON:-/usr/bin/python3}
[ "${SP_SANITIZED:-0}" = 1 ] && { echo "sanitizer build: skipped (see tests/python/build_package.sh)"; exit 77; }
[ -x "$PY" ] || { echo "$PY not found: skipped"; exit 77; }
"$PY" -c "import setuptools, pip" 2>/dev/null || { echo "$PY lacks setuptools or pip: skipped"; exit 77; }
"$PY" -c "import sysconfig, os, sys; sys.exit(0 if os.path.exists(os.path.join(sysconfig.get_paths()['include'], 'Python.h')) else 1)" ||
  { echo "no Python.h for $PY: skipped"; exit 77; }
[ -e "$build/libservprof.so.1" ] || { echo "no $build/libservprof.so.1: skipped"; exit 77; }
command -v readelf >/dev/null || { echo "no readelf: skipped"; exit 77; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cp -r "$src/python" "$tmp/src"
rm -rf "$tmp/src/build" "$tmp/src/servprof.egg-info"
for d in lib1 lib2; do
  mkdir "$tmp/$d"
  cp -L "$build/libservprof.so.1" "$tmp/$d/libservprof.so.1"
  ln -s libservprof.so.1 "$tmp/$d/libservprof.so"
done
export SERVPROF_INCLUDE_DIR=$src/include SERVPROF_REQUIRE_EXTENSION=1
export PIP_NO_INDEX=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_ROOT_USER_ACTION=ignore
fail=0
for d in lib1 lib2; do
  if ! (cd "$tmp/src" && SERVPROF_LIBRARY_DIR=$tmp/$d "$PY" -m pip install --no-build-isolation --no-deps \
        --target "$tmp/t-$d" .) > "$tmp/pip-$d.log" 2>&1; then
    cat "$tmp/pip-$d.log"; echo "FAIL: pip install against $d" >&2; exit 1
  fi
  so=$(ls "$tmp/t-$d"/servprof/_native*.so 2>/dev/null | head -1)
  [ -n "$so" ] || { cat "$tmp/pip-$d.log"; echo "FAIL: no C extension installed ($d)" >&2; exit 1; }
  rpath=$(readelf -d "$so" | sed -n 's/.*(\(RUNPATH\|RPATH\)).*\[\(.*\)\]/\2/p')
  if [ "$rpath" != "$tmp/$d" ]; then
    echo "FAIL: install against $d: the extension's run path is '$rpath', expected '$tmp/$d'" >&2; fail=1
  fi
  grep -qF "LIBRARY_DIR = '$tmp/$d'" "$tmp/t-$d/servprof/_config.py" ||
    { echo "FAIL: $d: _config.py: $(cat "$tmp/t-$d/servprof/_config.py")" >&2; fail=1; }
done
[ $fail = 0 ] && echo "ok: each install linked the library it was given"
exit $fail
