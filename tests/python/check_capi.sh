#!/usr/bin/env bash
# CTest `python_capi`: holds the C extension (python/servprof/_native.c, _native_asgi.c, _native_int.h) to
# the public C API of the Pythons it is built for, Debian's 3.11 here and 3.12/3.13 on the GPU machines
# (docs/python.md, "Versions"), with only 3.11's headers at hand:
#  1. no private name (`_Py...`) in the sources, and PY_SSIZE_T_CLEAN defined before the one Python.h;
#  2. each file compiles against this Python's headers with every warning an error
#     (-Werror=deprecated-declarations among them: what this Python deprecates);
#  3. each file compiles as 3.13 would see it: its `PY_VERSION_HEX >= 3.12` branches taken (the two 3.12
#     functions they call declared as CPython's documentation gives them), and every name below, deprecated
#     or removed by 3.12 or 3.13 (What's New in Python 3.12 and 3.13, C API changes), poisoned: a use of one
#     fails the compile.
# Where pyenv's 3.12 and 3.13 are installed (this machine, CI), python_versions (run_versions.sh) compiles
# the extension against their real headers with -Werror and runs it, which catches every name in 3 that
# those headers no longer declare or mark Py_DEPRECATED. Kept beside it because it still checks what those
# builds do not: 1 (private names compile against every version, PY_SSIZE_T_CLEAN matters to 3.11's
# '#' formats at run time only); in 3, the names 3.13's headers still accept without a warning though
# 3.12/3.13 deprecate them (PyErr_Fetch, PyErr_Restore, PyErr_NormalizeException, PyUnicode_READY,
# PyModule_AddObject; T_OBJECT, T_OBJECT_EX, READONLY of structmember.h, which Python.h does not include);
# and all of 3 where no 3.12/3.13 is installed (python_versions then skips).
# Skips (77) where this Python has no headers (Debian python3-dev; scripts/setup.sh test).
# Usage: check_capi.sh SOURCE_DIR
set -u
SRC=$(cd "$1" && pwd)
PY=${SERVPROF_PYTHON:-/usr/bin/python3}
PKG=$SRC/python/servprof
CC=${CC:-cc}
[ -x "$PY" ] || { echo "skipped: $PY not found"; exit 77; }
INC=$("$PY" -c "import sysconfig; print(sysconfig.get_paths()['include'])") || { echo "FAILED: $PY"; exit 1; }
[ -e "$INC/Python.h" ] || { echo "skipped: no Python.h for $PY (Debian python3-dev)"; exit 77; }
fail=0

# 1. private names; PY_SSIZE_T_CLEAN (needed for '#' formats since 3.10) before Python.h, included once
if grep -nE '(^|[^A-Za-z0-9_])_Py[A-Za-z0-9_]' "$PKG"/_native.c "$PKG"/_native_asgi.c "$PKG"/_native_int.h; then
  echo "FAILED: private CPython names (_Py...) above: use the public API"; fail=1
fi
for f in _native.c _native_asgi.c; do
  first=$(grep -m1 '^#include' "$PKG/$f")
  [ "$first" = '#include "_native_int.h"' ] || { echo "FAILED: $f: first include is '$first', not _native_int.h"; fail=1; }
  if grep -n '#include <Python.h>\|#include "Python.h"' "$PKG/$f"; then
    echo "FAILED: $f includes Python.h itself (_native_int.h does, after PY_SSIZE_T_CLEAN)"; fail=1
  fi
done
awk '/^#define PY_SSIZE_T_CLEAN/ {d = NR} /^#include <Python.h>/ {p = NR} END {exit !(d && p && d < p)}' "$PKG/_native_int.h" ||
  { echo "FAILED: _native_int.h does not define PY_SSIZE_T_CLEAN before including Python.h"; fail=1; }

WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
FLAGS=(-std=c11 -fsyntax-only -Wall -Wextra -Wno-unused-parameter -Wno-missing-field-initializers -Werror
       -Werror=deprecated-declarations -I"$INC" -I"$SRC/include")

# 2. as this Python builds it
for f in _native.c _native_asgi.c; do
  "$CC" "${FLAGS[@]}" "$PKG/$f" || { echo "FAILED: $f against $INC"; fail=1; }
done

# 3. as 3.13 sees it
cat > "$WORK/as313.h" <<'EOF'
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#undef PY_VERSION_HEX
#define PY_VERSION_HEX 0x030D00F0
PyAPI_FUNC(PyObject *) PyErr_GetRaisedException(void);
PyAPI_FUNC(void) PyErr_SetRaisedException(PyObject *exc);
/* 3.12: deprecated */
#pragma GCC poison PyErr_Fetch PyErr_Restore PyErr_NormalizeException PyUnicode_READY Py_UNICODE
#pragma GCC poison Py_DebugFlag Py_VerboseFlag Py_QuietFlag Py_InteractiveFlag Py_InspectFlag Py_OptimizeFlag
#pragma GCC poison Py_NoSiteFlag Py_BytesWarningFlag Py_FrozenFlag Py_IgnoreEnvironmentFlag Py_DontWriteBytecodeFlag
#pragma GCC poison Py_NoUserSiteDirectory Py_UnbufferedStdioFlag Py_HashRandomizationFlag Py_IsolatedFlag
#pragma GCC poison Py_FileSystemDefaultEncoding Py_HasFileSystemDefaultEncoding Py_FileSystemDefaultEncodeErrors
#pragma GCC poison Py_UTF8Mode T_OBJECT T_OBJECT_EX READONLY
/* 3.12: removed (Py_UNICODE's API, immortal interning) */
#pragma GCC poison PyUnicode_AS_UNICODE PyUnicode_AsUnicode PyUnicode_AsUnicodeAndSize PyUnicode_AS_DATA
#pragma GCC poison PyUnicode_FromUnicode PyUnicode_GET_SIZE PyUnicode_GetSize PyUnicode_GET_DATA_SIZE
#pragma GCC poison PyUnicode_WSTR_LENGTH PyUnicode_InternImmortal
/* 3.13: removed */
#pragma GCC poison PyEval_CallObject PyEval_CallObjectWithKeywords PyEval_CallFunction PyEval_CallMethod
#pragma GCC poison PyCFunction_Call PyEval_InitThreads PyEval_ThreadsInitialized PyEval_AcquireLock PyEval_ReleaseLock
#pragma GCC poison PyImport_ImportModuleNoBlock PyObject_AsCharBuffer PyObject_AsReadBuffer PyObject_CheckReadBuffer
#pragma GCC poison PyObject_AsWriteBuffer PySys_SetArgv PySys_SetArgvEx PySys_SetPath PySys_AddWarnOption
#pragma GCC poison PySys_AddWarnOptionUnicode PySys_HasWarnOptions Py_SetProgramName Py_SetPythonHome
#pragma GCC poison Py_TRASHCAN_SAFE_BEGIN Py_TRASHCAN_SAFE_END PyThread_create_key PyThread_delete_key
#pragma GCC poison PyThread_set_key_value PyThread_get_key_value PyThread_delete_key_value PyThread_ReInitTLS
/* 3.13: deprecated (PyModule_AddObject soft-deprecated: PyModule_AddObjectRef) */
#pragma GCC poison PyWeakref_GetObject PyWeakref_GET_OBJECT PyModule_AddObject Py_GetPath Py_GetPrefix
#pragma GCC poison Py_GetExecPrefix Py_GetProgramFullPath Py_GetPythonHome Py_GetProgramName
/* long removed */
#pragma GCC poison tp_print
EOF
# (a name 3.11 defines as a macro is undefined first: GCC warns when it poisons a macro)
for n in $(sed -n 's/^#pragma GCC poison //p' "$WORK/as313.h"); do
  printf '#ifdef %s\n#undef %s\n#endif\n' "$n" "$n"
done > "$WORK/undef.h"
sed -i '/^\/\* 3.12: deprecated \*\//i #include "undef.h"' "$WORK/as313.h"
for f in _native.c _native_asgi.c; do
  "$CC" "${FLAGS[@]}" -include "$WORK/as313.h" "$PKG/$f" ||
    { echo "FAILED: $f as Python 3.13 sees it (a name deprecated or removed by 3.12/3.13 above)"; fail=1; }
done
[ $fail = 0 ] && echo "the extension uses the public C API of 3.11 to 3.13: passed"
exit $fail
