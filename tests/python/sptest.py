"""Helpers of the Python tests: the servprof binary, analysing traces into the JSON report, temporary
folders, free loopback ports, an example service run under `servprof load`."""
import json
import os
import signal
import socket
import subprocess
import sys
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


def export_requests(case, trace):
    """{request id: what `servprof export --otlp` says of it}: its trace context (trace id, the caller's
    span, flags), status, outcome, duration and stage spans (name, start and end relative to the
    request's start: two recorders' clocks map to wall time with different offsets)."""
    out = trace + ".otlp.jsonl"
    p = subprocess.run([BIN, "export", "--otlp", out, trace], capture_output=True, text=True, timeout=120)
    case.assertEqual(p.returncode, 0, p.stderr)
    spans = []
    with open(out) as f:
        for line in f:
            for rs in json.loads(line)["resourceSpans"]:
                for ss in rs["scopeSpans"]:
                    spans += ss["spans"]
    by_span = {}
    got = {}
    for sp in spans:
        if sp["kind"] == 2:
            attrs = {a["key"]: a["value"] for a in sp.get("attributes", [])}
            rid = attrs["servprof.request"]["stringValue"]
            start = int(sp["startTimeUnixNano"])
            got[rid] = {"trace": (sp["traceId"], sp.get("parentSpanId"), sp["flags"]), "span": sp["spanId"],
                        "status": attrs.get("http.response.status_code"), "outcome": attrs.get("servprof.outcome"),
                        "duration": int(sp["endTimeUnixNano"]) - start, "stages": []}
            by_span[sp["spanId"]] = (rid, start)
    for sp in spans:
        if sp["kind"] != 2 and sp.get("parentSpanId") in by_span:
            rid, start = by_span[sp["parentSpanId"]]
            got[rid]["stages"].append((sp["name"], int(sp["startTimeUnixNano"]) - start,
                                       int(sp["endTimeUnixNano"]) - start))
    for v in got.values():
        v["stages"].sort()
    return got


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
               "numpy": "python3-numpy", "aiohttp": "python3-aiohttp"}.get(module, module)
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


def start_service(case, service, name, service_args):
    """Starts the example service `service` (a Python file) on a free port, recording to NAME.sptrace in
    `case`'s folder, its stderr in NAME.err; returns (process, port, the stderr file)."""
    err = open(case.path(name + ".err"), "w")
    p = subprocess.Popen([sys.executable, service, "--port", "0", "--trace", case.path(name + ".sptrace"),
                          *service_args], stdout=subprocess.PIPE, stderr=err, text=True)
    line = p.stdout.readline()
    if not line.startswith("listening on "):
        p.wait(timeout=30)
        err.close()
        raise AssertionError("%s: the service did not start: %s" % (name, open(err.name).read()))
    return p, int(line.strip().rsplit(":", 1)[1]), err


def stop_service(case, p, err, name):
    """Stops a service start_service started (SIGINT, then a kill after 60 s), asserts it exited 0 and
    returns what it wrote on stderr."""
    if p.poll() is None:
        p.send_signal(signal.SIGINT)
    try:
        p.wait(timeout=60)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait()
    err.close()
    log = open(err.name).read()
    case.assertEqual(p.returncode, 0, "%s: the service exited %s: %s" % (name, p.returncode, log))
    return log


def run_service_under_load(case, service, name, service_args, route, load_args, timeout):
    """Starts the example service `service` (a Python file) on a free port with a trace, drives it with
    `servprof load --url http://127.0.0.1:PORT<route> LOAD_ARGS` (its client trace kept), stops it
    (SIGINT), and returns the report of the server's trace merged with the client's. `case` is the
    TempDirCase whose folder holds the files named after `name`, and whose assertions fail the test."""
    trace, client = case.path(name + ".sptrace"), case.path(name + ".client.jsonl")
    p, port, err = start_service(case, service, name, service_args)
    try:
        ld = subprocess.run([BIN, "load", "--url", "http://127.0.0.1:%s%s" % (port, route), *load_args,
                             "--no-progress", "--trace", client], capture_output=True, text=True, timeout=timeout)
        case.assertEqual(ld.returncode, 0, "%s: servprof load: %s%s" % (name, ld.stdout, ld.stderr))
    finally:
        stop_service(case, p, err, name)
    rep = analyze(trace, client)
    case.assertEqual(rep["data_quality"]["unclean_files"], 0, name)
    return rep
