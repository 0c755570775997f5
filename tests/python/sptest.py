"""Helpers of the Python tests: the servprof binary, analysing traces into the JSON report, temporary
folders, free loopback ports."""
import json
import os
import socket
import subprocess
import tempfile
import unittest

BIN = os.environ.get("SERVPROF_BIN", "servprof")
SOURCE_DIR = os.environ.get("SERVPROF_SOURCE_DIR", os.path.join(os.path.dirname(__file__), "..", ".."))
BUILD_DIR = os.environ.get("SERVPROF_BUILD_DIR", os.path.dirname(BIN))


def analyze(*paths, args=()):
    """servprof analyze --json PATHS: the report as a dict (raises with the tool's stderr on failure)."""
    p = subprocess.run([BIN, "analyze", "--json", *args, *paths], capture_output=True, text=True, timeout=120)
    if p.returncode != 0:
        raise AssertionError("servprof analyze %s exited %d: %s" % (" ".join(paths), p.returncode, p.stderr))
    return json.loads(p.stdout)


def stages(report):
    return {s["name"]: s for s in report["stages"]}


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def require(module):
    """Imports `module`, or skips the whole test file saying which Debian package brings it."""
    try:
        return __import__(module)
    except ImportError as e:
        deb = {"torch": "python3-torch", "fastapi": "python3-fastapi", "uvicorn": "python3-uvicorn",
               "numpy": "python3-numpy"}.get(module, module)
        raise unittest.SkipTest("Python package %s is missing (%s): Debian %s, installed by scripts/setup.sh test"
                                % (module, e, deb))


class TempDirCase(unittest.TestCase):
    def setUp(self):
        self._tmp = tempfile.TemporaryDirectory(prefix="servprof-pytest-")
        self.tmp = self._tmp.name

    def tearDown(self):
        self._tmp.cleanup()

    def path(self, name):
        return os.path.join(self.tmp, name)
