#!/usr/bin/env bash
# CTest fixture `python_build`: builds and installs the servprof Python package (python/) into
# BUILD_DIR/python-pkg with Debian's /usr/bin/python3, against this build's libservprof, the way a
# user's `pip install` does (pip, no network, no build isolation). The C extension must build
# (SERVPROF_REQUIRE_EXTENSION=1) with warnings as errors. Where the package cannot be built here
# (no /usr/bin/python3, pip or setuptools, or a sanitizer build) it writes the reason to
# BUILD_DIR/python-pkg.skip and passes: each Python test then skips (77) with that reason.
# Usage: build_package.sh BUILD_DIR SOURCE_DIR
set -u
BUILD=$(cd "$1" && pwd)
SRC=$(cd "$2" && pwd)
PKG=$BUILD/python-pkg
PY=${SERVPROF_PYTHON:-/usr/bin/python3}
rm -rf "$PKG" "$PKG.skip" "$PKG.work"
skip() { echo "$*" > "$PKG.skip"; echo "python package not built: $*"; exit 0; }
if [ "${SP_SANITIZED:-0}" = 1 ]; then
  skip "sanitizer build: its libservprof.so carries the AddressSanitizer runtime, which must be the first library of a process; an uninstrumented python3 cannot load it"
fi
[ -x "$PY" ] || skip "$PY not found (scripts/setup.sh test installs python3)"
"$PY" -c "import setuptools, pip" 2>/dev/null || skip "$PY lacks setuptools or pip (Debian python3-setuptools, python3-pip; scripts/setup.sh test)"
[ -e "$BUILD/libservprof.so.1" ] || { echo "FAILED: $BUILD/libservprof.so.1 missing"; exit 1; }
"$PY" -c "import sysconfig, os, sys; sys.exit(0 if os.path.exists(os.path.join(sysconfig.get_paths()['include'], 'Python.h')) else 1)" ||
  skip "no Python.h for $PY (Debian python3-dev; scripts/setup.sh test)"
# a copy of python/, so the build writes nothing into the source tree (tests run in parallel)
mkdir -p "$PKG.work"
cp -r "$SRC/python" "$PKG.work/src"
# without a user's in-tree build output: pip install ./python leaves python/build/lib behind, and since
# cp gives every copied file the same fresh mtime, setuptools would take that stale copy as up to date
# and install it instead of the sources
rm -rf "$PKG.work/src/build" "$PKG.work/src"/*.egg-info
export SERVPROF_INCLUDE_DIR=$SRC/include SERVPROF_LIBRARY_DIR=$BUILD SERVPROF_REQUIRE_EXTENSION=1
export CFLAGS="${CFLAGS:-} -Werror"
export PIP_NO_INDEX=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_ROOT_USER_ACTION=ignore
if ! (cd "$PKG.work/src" && "$PY" -m pip install --no-build-isolation --no-deps --target "$PKG" . ) > "$PKG.work/pip.log" 2>&1; then
  cat "$PKG.work/pip.log"; echo "FAILED: pip install ./python"; exit 1
fi
ls "$PKG"/servprof/_native*.so >/dev/null 2>&1 || { cat "$PKG.work/pip.log"; echo "FAILED: the C extension was not built"; exit 1; }
PYTHONPATH=$PKG "$PY" -c "import servprof; assert servprof.BACKEND == 'native', servprof.BACKEND; print('servprof', servprof.__version__, 'backend', servprof.BACKEND, 'libservprof', servprof.library_version())" ||
  { echo "FAILED: import servprof"; exit 1; }
rm -rf "$PKG.work"
