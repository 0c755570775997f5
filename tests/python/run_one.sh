#!/usr/bin/env bash
# Runs one Python test file (tests/python/test_*.py) against the package the `python_build` fixture
# installed into BUILD_DIR/python-pkg, with Debian's /usr/bin/python3. Skips (77) with the reason when
# the package could not be built here, or when the test needs a Python package that is missing.
# Usage: run_one.sh BUILD_DIR TEST_FILE
set -u
BUILD=$(cd "$1" && pwd)
TEST=$2
PKG=$BUILD/python-pkg
if [ -f "$PKG.skip" ]; then echo "skipped: $(cat "$PKG.skip")"; exit 77; fi
if [ "${SP_SANITIZED:-0}" = 1 ]; then echo "skipped: sanitizer build (see tests/python/build_package.sh)"; exit 77; fi
[ -d "$PKG/servprof" ] || { echo "FAILED: $PKG has no servprof package (did the python_build test run?)"; exit 1; }
export PYTHONPATH=$PKG:$(cd "$(dirname "$0")" && pwd)${PYTHONPATH:+:$PYTHONPATH}
export SERVPROF_BIN=$BUILD/servprof SERVPROF_BUILD_DIR=$BUILD SERVPROF_SOURCE_DIR=$(cd "$(dirname "$0")/../.." && pwd)
exec "${SERVPROF_PYTHON:-/usr/bin/python3}" "$(dirname "$0")/runner.py" "$TEST"
