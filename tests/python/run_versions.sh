#!/usr/bin/env bash
# CTest `python_versions`: the package really run on Python 3.12 and 3.13 (the GPU machines' Python is
# 3.12), not only read against them (python_capi). For each pyenv interpreter 3.12.x / 3.13.x found
# ($PYENV_ROOT or ~/.pyenv; SERVPROF_TEST_PYTHONS, a space-separated list of interpreters, instead):
#  1. builds the C extension for it with the compiler directly, with the flags setup.py's build uses
#     (the interpreter's sysconfig CC, CFLAGS, CCSHARED and LDSHARED, setup.py's extra_compile_args, and
#     -Werror as build_package.sh adds), named with its EXT_SUFFIX, into a temporary package folder
#     beside copies of the pure-Python files and a _config.py as setup.py writes it (no setuptools here);
#  2. runs every tests/python/test_*.py that needs no third-party package (no module-level
#     sptest.require) under it, with both backends as each file's BACKENDS asks (tests/python/runner.py);
#     test_asgi.py drives the ASGI middleware with its own standard-library driver, not uvicorn;
#     DeprecationWarning is an error there (PYTHONWARNINGS; the caller's own PYTHONWARNINGS after it wins):
#     what 3.12 and 3.13 deprecate, a later Python removes;
#  3. an end-to-end per backend (record_e2e.py): records a trace and checks `servprof analyze --json`
#     of it, without --lenient, against a hand-computed answer.
# Skips (77) when none of those interpreters is here, or in a sanitizer build (see build_package.sh).
# Usage: run_versions.sh BUILD_DIR SOURCE_DIR
set -u
BUILD=$(cd "$1" && pwd)
SRC=$(cd "$2" && pwd)
TESTS=$SRC/tests/python
if [ "${SP_SANITIZED:-0}" = 1 ]; then echo "skipped: sanitizer build (see tests/python/build_package.sh)"; exit 77; fi
[ -e "$BUILD/libservprof.so.1" ] || { echo "FAILED: $BUILD/libservprof.so.1 missing"; exit 1; }
[ -x "$BUILD/servprof" ] || { echo "FAILED: $BUILD/servprof missing"; exit 1; }
if [ -n "${SERVPROF_TEST_PYTHONS:-}" ]; then
  read -r -a PYS <<< "$SERVPROF_TEST_PYTHONS"
else
  PYS=()
  for p in "${PYENV_ROOT:-$HOME/.pyenv}"/versions/3.1[23].*/bin/python3; do
    [ -x "$p" ] && PYS+=("$p")
  done
fi
[ ${#PYS[@]} -gt 0 ] || { echo "skipped: no Python 3.12 or 3.13 under ${PYENV_ROOT:-$HOME/.pyenv}/versions"; exit 77; }

# the test files that need only the standard library: those that require() nothing at module level
FILES=()
for t in "$TESTS"/test_*.py; do
  if grep -qE '^([A-Za-z_][A-Za-z0-9_]* *= *)?require\(' "$t"; then
    echo "not run here (needs $(grep -oE '^([A-Za-z_][A-Za-z0-9_]* *= *)?require\("[a-z_]+"' "$t" | sed 's/.*("//;s/"//' | tr '\n' ' ')): $(basename "$t")"
  else
    FILES+=("$t")
  fi
done
printf '%s\n' "${FILES[@]}" | grep -q '/test_api.py$' || { echo "FAILED: test_api.py is not among the files run"; exit 1; }

export PYTHONWARNINGS=error::DeprecationWarning${PYTHONWARNINGS:+,$PYTHONWARNINGS}
WORK=$(mktemp -d /tmp/servprof-pyversions.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
fail=0
for PY in "${PYS[@]}"; do
  V=$("$PY" -c 'import sys; print("%d.%d.%d" % sys.version_info[:3])') || { echo "FAILED: $PY does not run"; fail=1; continue; }
  echo "######## Python $V ($PY)"
  # INC, SUFFIX, PYCC, PYCFLAGS, CCSHARED, LDSHARED from the interpreter's sysconfig (shell-quoted)
  eval "$("$PY" - <<'PYEOF'
import shlex, sysconfig as s
v = {"INC": s.get_paths()["include"], "SUFFIX": s.get_config_var("EXT_SUFFIX"), "PYCC": s.get_config_var("CC"),
     "PYCFLAGS": s.get_config_var("CFLAGS"), "CCSHARED": s.get_config_var("CCSHARED"),
     "LDSHARED": s.get_config_var("LDSHARED")}
for k, x in v.items():
    print("%s=%s" % (k, shlex.quote(x or "")))
PYEOF
)" || { echo "FAILED: $PY: sysconfig"; fail=1; continue; }
  if [ ! -e "$INC/Python.h" ]; then echo "FAILED: $PY has no Python.h in $INC"; fail=1; continue; fi
  PKG=$WORK/py$V
  mkdir -p "$PKG/servprof" "$PKG/obj"
  cp "$SRC"/python/servprof/*.py "$PKG/servprof/"
  VERSION=$(sed -n 's/^#define SP_VERSION_\(MAJOR\|MINOR\|PATCH\) \([0-9]*\).*/\2/p' "$SRC/include/servprof/servprof.h" | paste -sd.)
  printf '# written by tests/python/run_versions.sh, as setup.py does\nVERSION = %s\nINCLUDE_DIR = %s\nLIBRARY_DIR = %s\n' \
    "'$VERSION'" "'$SRC/include'" "'$BUILD'" > "$PKG/servprof/_config.py"
  # CC and LDSHARED as setuptools takes them: the environment's CC replaces the compiler in both
  cc=${CC:-$PYCC}
  # shellcheck disable=SC2153 # LDSHARED: set by the eval above
  ldshared=$LDSHARED
  [ -n "${CC:-}" ] && ldshared="$CC ${LDSHARED#* }"
  built=1
  for f in _native _native_asgi; do
    # shellcheck disable=SC2086
    $cc $PYCFLAGS $CCSHARED -I"$SRC/include" -I"$INC" -c "$SRC/python/servprof/$f.c" -o "$PKG/obj/$f.o" \
      -std=c11 -O2 -Wall -Wextra -Wno-unused-parameter -Wno-missing-field-initializers -Werror ||
      { echo "FAILED: Python $V: $f.c does not compile"; built=0; }
  done
  if [ $built = 1 ]; then
    # shellcheck disable=SC2086
    $ldshared "$PKG/obj/_native.o" "$PKG/obj/_native_asgi.o" -L"$BUILD" -Wl,-rpath,"$BUILD" -lservprof \
      -o "$PKG/servprof/_native$SUFFIX" || { echo "FAILED: Python $V: the extension does not link"; built=0; }
  fi
  [ $built = 1 ] || { fail=1; continue; }
  export PYTHONPATH=$PKG:$TESTS SERVPROF_BIN=$BUILD/servprof SERVPROF_BUILD_DIR=$BUILD SERVPROF_SOURCE_DIR=$SRC
  SERVPROF_BACKEND=native "$PY" -c "
import servprof, servprof._native as n, sys
assert servprof.BACKEND == 'native' and n.__file__.startswith('$PKG/'), (servprof.BACKEND, n.__file__)
print('servprof', servprof.__version__, 'backend', servprof.BACKEND, 'libservprof', servprof.library_version(), 'from', n.__file__)" ||
    { echo "FAILED: Python $V: import servprof with the C extension"; fail=1; continue; }
  for t in "${FILES[@]}"; do
    echo "==== Python $V: $(basename "$t")"
    # 77 (everything skipped) is a failure here too: these files need nothing this interpreter lacks
    "$PY" "$TESTS/runner.py" "$t" || { echo "FAILED: Python $V: $(basename "$t") (exit $?)"; fail=1; }
  done
  for b in native ctypes; do
    SERVPROF_BACKEND=$b "$PY" "$TESTS/record_e2e.py" "$BUILD/servprof" "$WORK" "$b" || fail=1
  done
done
[ $fail = 0 ] && echo "Python ${PYS[*]}: passed"
exit $fail
