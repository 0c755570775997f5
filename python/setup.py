"""Builds the servprof Python package against an installed or built libservprof, with no network:

    python3 -m pip install ./python                 # from the repository, after building servprof

Where libservprof is found, first that works:
  1. SERVPROF_INCLUDE_DIR and SERVPROF_LIBRARY_DIR (the folder of include/servprof/trace.h, the folder
     of libservprof.so);
  2. SERVPROF_PREFIX (an install prefix: `cmake --install build --prefix PREFIX`);
  3. pkg-config servprof (an installed servprof.pc);
  4. this repository's include/ and build/ (`make build` or the README's cmake lines).
The C extension servprof._native links libservprof.so.1 with a run path to that folder. Without a C
compiler or Python headers the package installs with the ctypes backend alone (a warning says so);
SERVPROF_REQUIRE_EXTENSION=1 makes that an error instead, SERVPROF_NO_EXTENSION=1 skips the extension.
No build-system table (pyproject.toml) on purpose: pip then builds with the setuptools it has instead
of downloading one, so this works offline with Debian's python3-pip and python3-setuptools.
"""
import os
import re
import subprocess
import sys

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext
from setuptools.command.build_py import build_py

HERE = os.path.dirname(os.path.abspath(__file__))


def fail(msg):
    sys.stderr.write("servprof setup.py: %s\n" % msg)
    sys.exit(1)


def pkg_config(var):
    try:
        out = subprocess.run(["pkg-config", "--variable=" + var, "servprof"], capture_output=True, text=True,
                             check=True, timeout=10).stdout.strip()
        return out or None
    except (OSError, subprocess.SubprocessError):
        return None


def has_lib(d):
    return d and os.path.exists(os.path.join(d, "libservprof.so.1"))


def locate():
    """(include dir, library dir, how): where trace.h and libservprof.so.1 are."""
    inc, lib = os.environ.get("SERVPROF_INCLUDE_DIR"), os.environ.get("SERVPROF_LIBRARY_DIR")
    if inc or lib:
        if not (inc and lib):
            fail("set both SERVPROF_INCLUDE_DIR and SERVPROF_LIBRARY_DIR (got only one)")
        if not os.path.exists(os.path.join(inc, "servprof", "trace.h")):
            fail("SERVPROF_INCLUDE_DIR=%s has no servprof/trace.h" % inc)
        if not has_lib(lib):
            fail("SERVPROF_LIBRARY_DIR=%s has no libservprof.so.1" % lib)
        return os.path.abspath(inc), os.path.abspath(lib), "SERVPROF_INCLUDE_DIR/SERVPROF_LIBRARY_DIR"
    prefix = os.environ.get("SERVPROF_PREFIX")
    if prefix:
        inc = os.path.join(prefix, "include")
        for sub in ("lib", "lib64", os.path.join("lib", "x86_64-linux-gnu"), os.path.join("lib", "aarch64-linux-gnu")):
            if has_lib(os.path.join(prefix, sub)):
                return os.path.abspath(inc), os.path.abspath(os.path.join(prefix, sub)), "SERVPROF_PREFIX"
        fail("SERVPROF_PREFIX=%s: no libservprof.so.1 in its lib folders" % prefix)
    inc, lib = pkg_config("includedir"), pkg_config("libdir")
    if inc and has_lib(lib):
        return inc, lib, "pkg-config servprof"
    repo = os.path.dirname(HERE)
    inc, lib = os.path.join(repo, "include"), os.path.join(repo, "build")
    if os.path.exists(os.path.join(inc, "servprof", "trace.h")) and has_lib(lib):
        return inc, lib, "the repository's build/"
    fail("cannot find libservprof: build servprof first (make build), or set SERVPROF_PREFIX to its install "
         "prefix, or SERVPROF_INCLUDE_DIR and SERVPROF_LIBRARY_DIR")


def version(inc):
    text = open(os.path.join(inc, "servprof", "servprof.h")).read()
    parts = [re.search(r"#define SP_VERSION_%s (\d+)" % k, text) for k in ("MAJOR", "MINOR", "PATCH")]
    if not all(parts):
        fail("%s/servprof/servprof.h has no SP_VERSION_* lines" % inc)
    return ".".join(p.group(1) for p in parts)


INC, LIB, HOW = locate()
VERSION = version(INC)
sys.stderr.write("servprof setup.py: libservprof %s from %s (include %s, library %s)\n" % (VERSION, HOW, INC, LIB))


class BuildPy(build_py):
    """Also writes servprof/_config.py: where libservprof was found, for the ctypes backend and
    servprof.torch (which loads libservprof-cupti.so from the same folder)."""

    def run(self):
        super().run()
        path = os.path.join(self.build_lib, "servprof", "_config.py")
        with open(path, "w") as f:
            f.write("# written by setup.py\nVERSION = %r\nINCLUDE_DIR = %r\nLIBRARY_DIR = %r\n" % (VERSION, INC, LIB))


class BuildExt(build_ext):
    """Always compiles and links the extension. pip builds in python/build/, which outlives an install,
    and setuptools rebuilds only when a source is newer than the extension there: a second install
    against another libservprof (SERVPROF_PREFIX after the repository's build/, or a rebuilt servprof)
    kept the first one's library and run path while _config.py named the new one."""

    def finalize_options(self):
        super().finalize_options()
        self.force = True


ext_modules = []
if os.environ.get("SERVPROF_NO_EXTENSION") != "1":
    ext_modules.append(Extension(
        "servprof._native", ["servprof/_native.c", "servprof/_native_asgi.c"], depends=["servprof/_native_int.h"],
        include_dirs=[INC], library_dirs=[LIB],
        libraries=["servprof"], runtime_library_dirs=[LIB],
        extra_compile_args=["-std=c11", "-O2", "-Wall", "-Wextra", "-Wno-unused-parameter",
                            "-Wno-missing-field-initializers"],
        optional=os.environ.get("SERVPROF_REQUIRE_EXTENSION") != "1"))

setup(
    name="servprof",
    version=VERSION,
    description="servprof for Python inference services: request stages, batches, ASGI middleware, "
                "PyTorch hooks",
    packages=["servprof"],
    ext_modules=ext_modules,
    cmdclass={"build_py": BuildPy, "build_ext": BuildExt},
    python_requires=">=3.8",
    zip_safe=False,
)
