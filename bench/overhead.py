#!/usr/bin/env python3
"""Recording overhead that resolves 1% (issue 15): the reference service's CPU time per request with
recording off and in each recording mode, in interleaved A/B rounds, until the 95% confidence
interval of every mode's ratio to `off` is narrower than --target-width (default 1%).

Each run starts a fresh `servprof serve` (pinned to CPU 0 when there are two or more), warms it up
with a `servprof load` that is not counted, then reads the CPU time of every thread of the server
(/proc/PID/task/TID/schedstat: nanoseconds on a CPU) and of the recorder's writer thread alone (the
thread named "sp-writer") before and after a measured `servprof load` (pinned to CPU 1). CPU per
request = the difference / requests answered OK. Throughput follows it on a CPU-bound service
(requests per CPU-second), and unlike a closed-loop rate it does not swing with the machine's other
load: a run that is slowed down still spends the same CPU on each request.

A round runs every mode once, in an order rotated each round. The ratio of a mode is taken within a
round (mode / off of the same round), and the interval is mean +- t(0.975, rounds - 1) x sd /
sqrt(rounds) over the rounds' ratios (Student's t; the rounds are the independent samples). Rounds
stop when every interval is narrower than the target and at least --min-rounds were run, or at
--max-rounds or --deadline (then the table says the target was not reached).

With --closed the load keeps --connections requests outstanding at a rate far above capacity, and
the achieved rate's ratio gets an interval too (served throughput, the issue's first measure). With
--saturate N the open-loop load stays the CPU measure and each run then sends N more requests
closed-loop (--saturate-connections outstanding) to the same server: its achieved rate is the served
throughput at saturation, with medians per mode and an interval on its per-round ratio to `off`, and
so are the requests it answered per CPU-second of its threads during that load (its capacity on a
CPU of its own: on a shared machine the wall-clock rate swings with the others' load, this does not).

Each CPU ratio also gets its geometric mean over the rounds (the mean log ratio's t interval: the
arithmetic mean of ratios is pulled up by their spread, about 0.25% at a 7% spread) and its median
with a distribution-free 95% interval (order statistics).
--pool reads the raw runs of several --out files of the same binary, service, modes and load and
prints their table as one run's (the rounds stay paired within their own run).

Besides the total, each mode's interval is split in two (ratios to the same round's `off` total): the
writer thread alone, and the service's other threads (the recording calls on its own threads). The
writer's wake-ups (its voluntary context switches) per second of load are counted too.

--concurrent runs a round's modes at the same time instead of one after another: each mode's server
and its load share a CPU of their own (CPU i+round mod ncpu for the i-th mode), the loads start together,
so a build or a burst of another process's work lands on every mode of the round, and the per-round
ratio cancels most of it (as many CPUs as modes; not with --closed). With --saturate the saturating
loads run together too, each on its server's CPU: the wall-clock rate then shares that CPU with the
load generator, and the requests per server CPU-second (capacity) are the figure to read.

--compare BIN runs every recording mode a second time with another servprof binary (mode@cmp), in the
same rounds: a before/after of the recorder with the same `off` reference (--service serve). With
--service python, --compare DIR is another build of the servprof package (a folder for PYTHONPATH, e.g.
main's, installed with pip --target): mode@cmp runs the service on it, the same before/after.

--service python measures examples/python/service.py (FastAPI + uvicorn + PyTorch on the CPU,
instrumented through the servprof package, which must be importable: PYTHONPATH) run by --python in
place of `servprof serve`; `servprof load` drives it the same way. With --saturate it also reads the
service's batch counters before and after the saturation load (SIGUSR1) and reports the mean batch
size of that load per mode: at saturation, CPU per request depends on it, and it is compared too.

Usage: overhead.py --servprof build/servprof [--service serve|python] [--device cpu|cuda] [--modes off,rec]
       [--rate R] [--requests N] [--warm W] [--closed | --saturate N] [--server-arg=--max-batch=32 ...]
       [--compare BIN] [--out FILE]
       overhead.py --pool FILE... [--service serve|python]   (the rounds saved by several --out runs, one table)
Modes of serve (each with --no-metrics but `metrics`): off (nothing recorded), rec (--trace: the
recorder; on a CUDA device it adds the default CUPTI mode), nocupti (--trace --no-cupti), lean
(--trace --cupti-lean), launches (--trace --cupti-launches), metrics (serve's defaults: no --trace,
the recorder kept for live metrics, writing to /dev/null).
Modes of the Python service: off (no --trace: no recorder, no middleware), rec (--trace
--no-module-timing: the package's recorder, the ASGI middleware, stages and batches), torch (--trace:
all that plus servprof.torch's per-module forward timing, the example's default).
"""
import argparse
import fractions
import json
import math
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))

# Every mode but `metrics` runs with --no-metrics: by default serve keeps a recorder running for its
# live metrics (docs/metrics.md) even without --trace, so "off" must say so to record nothing.
MODE_ARGS = {
    "off": ["--no-metrics"],
    "rec": ["--trace", "{trace}", "--no-metrics"],
    "nocupti": ["--trace", "{trace}", "--no-cupti", "--no-metrics"],
    "lean": ["--trace", "{trace}", "--cupti-lean", "--no-metrics"],
    "launches": ["--trace", "{trace}", "--cupti-launches", "--no-metrics"],
    "metrics": [],
}
MODE_TEXT = {
    "off": "--no-metrics, no --trace (nothing recorded)",
    "rec": "--trace (recorder)",
    "nocupti": "--trace --no-cupti (recorder only)",
    "lean": "--trace --cupti-lean (default CUPTI)",
    "launches": "--trace --cupti-launches",
    "metrics": "defaults: live metrics, no --trace",
}
# examples/python/service.py: without --trace it builds no recorder and no middleware
PY_MODE_ARGS = {
    "off": [],
    "rec": ["--trace", "{trace}", "--no-module-timing"],
    "torch": ["--trace", "{trace}"],
}
PY_MODE_TEXT = {
    "off": "no --trace (nothing recorded)",
    "rec": "--trace --no-module-timing (recorder)",
    "torch": "--trace (recorder + servprof.torch)",
}
SERVICES = {"serve": (MODE_ARGS, MODE_TEXT), "python": (PY_MODE_ARGS, PY_MODE_TEXT)}

# two-sided 95% quantiles of Student's t by degrees of freedom (published tables)
T975 = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306, 9: 2.262,
        10: 2.228, 11: 2.201, 12: 2.179, 13: 2.160, 14: 2.145, 15: 2.131, 16: 2.120, 17: 2.110,
        18: 2.101, 19: 2.093, 20: 2.086, 21: 2.080, 22: 2.074, 23: 2.069, 24: 2.064, 25: 2.060,
        26: 2.056, 27: 2.052, 28: 2.048, 29: 2.045, 30: 2.042, 40: 2.021, 60: 2.000, 120: 1.980}


def geo_interval(ratios):
    """(geometric mean, low, high) of `ratios` with the 95% t interval of the mean of their logarithms.
    The arithmetic mean of per-round ratios is pulled up by their spread (a round's noise divides:
    E[a/b] > E[a]/E[b]; with a 7% spread, by about 0.25%), the mean of the logarithms is not (noise
    that multiplies the round's figures cancels in the log ratio on average), and it treats mode/off
    and off/mode alike. None below 2 rounds."""
    if len(ratios) < 2 or min(ratios) <= 0:
        return None
    logs = [math.log(x) for x in ratios]
    m, h = interval(logs)
    return math.exp(m), math.exp(m - h), math.exp(m + h)


def median_ranks(n, level=0.95):
    """(j, k), 0-based: the order statistics x(j), x(k) that bracket the median of n values with at
    least `level` confidence whatever the distribution. The number of values below the true median
    is binomial(n, 1/2), so [x(r), x(n-r+1)] (1-based) misses it with probability 2 P(B <= r-1);
    r is the largest rank that keeps that at most 1 - level (exact sums of binomial coefficients,
    not the normal approximation, which is one rank too narrow near n = 30). None when even the
    extremes do not reach `level` (n < 6 at 95%)."""
    if n < 1:
        return None
    alpha = 1 - fractions.Fraction(str(level))  # exact: 2^n outgrows a float from n = 1024
    total, tail, r = 2 ** n, 0, 0
    while True:
        tail += math.comb(n, r)  # P(B <= r) * 2^n
        if 2 * tail > alpha * total:
            break
        r += 1
    if r == 0:
        return None
    return r - 1, n - r


def median_interval(xs):
    """(median, low, high): the median of `xs` and its distribution-free 95% interval, the order
    statistics median_ranks gives. None below 6 values."""
    ranks = median_ranks(len(xs))
    if ranks is None:
        return None
    v = sorted(xs)
    return statistics.median(v), v[ranks[0]], v[ranks[1]]


def read_raw(path, tag):
    """The runs saved by --out in `path` (its "raw" section), each round renamed "TAG:ROUND" so that
    rounds of several files stay apart when pooled."""
    runs = []
    try:
        with open(path) as f:
            lines = f.read().splitlines()
    except (OSError, UnicodeDecodeError) as e:
        raise SystemExit("--pool %s: cannot read it (%s)" % (path, e))
    try:
        at = next(i for i, l in enumerate(lines) if l.startswith("raw (mode round"))
    except StopIteration:
        raise SystemExit("--pool %s: no raw runs in it (a file written by overhead.py --out)" % path)
    for no, line in enumerate(lines[at + 1:], at + 2):
        if not line.strip():
            continue
        m = re.match(r"^(\S+) (\d+) (\d+) ([\d.]+) ([\d.]+) ([\d.]+) ([\d.]+) ([\d.]+) (\(.*?\)) ([\d.]+)(?: ([\d.]+))?$",
                     line)
        if not m:
            raise SystemExit("--pool %s:%d: not a raw run line: %r" % (path, no, line[:80]))
        ok = int(m.group(3))
        cpu, writer = float(m.group(4)), float(m.group(5))
        runs.append({"mode": m.group(1), "round": "%s:%s" % (tag, m.group(2)), "ok": ok, "cpu_ns": cpu,
                     "writer_ns": writer, "service_ns": cpu - writer, "rate": float(m.group(6)),
                     "sat": float(m.group(7)), "sat_cpu": float(m.group(8)), "threads": m.group(9),
                     "wakes_s": float(m.group(10)), "sat_batch": float(m.group(11) or 0)})
    if not runs:
        raise SystemExit("--pool %s: its raw section is empty" % path)
    return runs


def pool(args, paths):
    """--pool: the table of several saved runs' rounds together (the same service, modes and load)."""
    runs = []
    for i, p in enumerate(paths):
        runs += read_raw(p, i + 1)
    modes = []
    for r in runs:
        if r["mode"] not in modes:
            modes.append(r["mode"])
    known = SERVICES[args.service][0]
    if "off" not in modes or any(m.split("@")[0] not in known for m in modes):
        raise SystemExit("--pool: modes %s are not --service %s's with off among them" % (",".join(modes), args.service))
    modes.remove("off")
    modes.insert(0, "off")
    rounds = len({r["round"] for r in runs})
    args.closed = False
    args.saturate = 1 if any(r["sat"] for r in runs) else 0
    args.saturate_connections = 0
    args.rate = statistics.median(r["rate"] for r in runs)
    print("pooled %d rounds from %s" % (rounds, ", ".join("%s (%d)" % (p, len({r["round"] for r in runs
                                                                          if r["round"].startswith("%d:" % (i + 1))}))
                                                         for i, p in enumerate(paths))))
    print(render(args, modes, runs, rounds, False, 0, pooled=True))
    return 0


def t975(df):
    if df in T975:
        return T975[df]
    for k in sorted(T975):
        if k > df:
            return T975[k]  # the next tabulated df above: slightly narrower than exact, < 0.5%
    return 1.960


def interval(ratios):
    """(mean, half width) of the 95% interval of the mean of `ratios`."""
    n = len(ratios)
    m = statistics.fmean(ratios)
    if n < 2:
        return m, math.inf
    return m, t975(n - 1) * statistics.stdev(ratios) / math.sqrt(n)


def thread_cpu(pid):
    """(ns on a CPU of all the process's threads, of the sp-writer thread, thread count, the sp-writer
    thread's voluntary context switches: its wake-ups)."""
    total = writer = wakes = 0
    n = 0
    base = "/proc/%d/task" % pid
    for tid in os.listdir(base):
        try:
            with open("%s/%s/schedstat" % (base, tid)) as f:
                ns = int(f.read().split()[0])
            with open("%s/%s/comm" % (base, tid)) as f:
                comm = f.read().strip()
        except OSError:
            continue  # the thread ended between the listing and the read
        total += ns
        n += 1
        if comm == "sp-writer":
            writer += ns
            try:
                with open("%s/%s/status" % (base, tid)) as f:
                    m = re.search(r"^voluntary_ctxt_switches:\s*(\d+)", f.read(), re.M)
                wakes += int(m.group(1)) if m else 0
            except OSError:
                pass
    return total, writer, n, wakes


class Server:
    def __init__(self, args, mode, work, name, cpus=None):
        self.trace = os.path.join(work, name + ".sptrace")
        extra = [a.replace("{trace}", self.trace) for a in SERVICES[args.service][0][mode.split("@")[0]]]
        if args.service == "python":
            cmd = [args.python, os.path.join(HERE, "..", "examples", "python", "service.py")]
        else:
            cmd = [args.compare if mode.endswith("@cmp") else args.servprof, "serve"]
        cmd += ["--port", "0", "--device", args.device] + args.server_arg + extra
        if args.pin:
            cmd = ["taskset", "-c", cpus or args.server_cpus] + cmd
        self.out = open(os.path.join(work, name + ".out"), "w+")
        self.err = open(os.path.join(work, name + ".err"), "w+")
        env = None
        if args.service == "python" and mode.endswith("@cmp"):
            env = dict(os.environ, PYTHONPATH=args.compare)
        self.p = subprocess.Popen(cmd, stdout=self.out, stderr=self.err, env=env)
        self.port = None
        t0 = time.monotonic()
        while time.monotonic() - t0 < 60:
            self.out.seek(0)
            m = re.search(r"^listening on 127\.0\.0\.1:(\d+)$", self.out.read(), re.M)
            if m:
                self.port = int(m.group(1))
                break
            if self.p.poll() is not None:
                break
            time.sleep(0.05)
        if self.port is None:
            self.err.seek(0)
            why = self.err.read()[-2000:]
            self.stop()
            raise RuntimeError("server (%s) did not start within 60 s: %s" % (" ".join(cmd), why))

    def counters(self):
        """(batches, inputs) so far: the Python service prints them on SIGUSR1 (None when it does not)."""
        self.err.seek(0)
        before = len(re.findall(r"^service: counters: ", self.err.read(), re.M))
        self.p.send_signal(signal.SIGUSR1)
        t0 = time.monotonic()
        while time.monotonic() - t0 < 10 and self.p.poll() is None:
            self.err.seek(0)
            found = re.findall(r"^service: counters: \d+ requests, (\d+) batches, (\d+) inputs", self.err.read(), re.M)
            if len(found) > before:
                return int(found[-1][0]), int(found[-1][1])
            time.sleep(0.01)
        return None

    def stop(self):
        if self.p.poll() is None:
            self.p.send_signal(signal.SIGTERM)
            try:
                self.p.wait(60)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait()
        self.out.close()
        self.err.close()


def load(args, port, n, seed, closed=False, connections=None, cpus=None):
    cmd = [args.servprof, "load", "--url", "http://127.0.0.1:%d/v1/embeddings" % port, "--requests", str(n),
           "--warmup", "0", "--length", "fixed:8", "--no-progress", "--json", "--seed", str(seed),
           "--connections", str(connections or args.connections)]
    if closed:
        cmd += ["--rate", "1000000"]
    else:
        cmd += ["--rate", str(args.rate), "--arrival", "constant"]
    if args.pin:
        cmd = ["taskset", "-c", cpus or args.load_cpus] + cmd
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError("load failed: %s" % r.stderr[-2000:])
    return json.loads(r.stdout)


def one_run(args, mode, work, rnd):
    name = "%s-%d" % (mode, rnd)
    s = Server(args, mode, work, name)
    try:
        load(args, s.port, args.warm, 1000 + rnd, args.closed)
        c0, w0, n0, k0 = thread_cpu(s.p.pid)
        res = load(args, s.port, args.requests, rnd, args.closed)
        c1, w1, n1, k1 = thread_cpu(s.p.pid)
        b1 = s.counters() if args.saturate and args.service == "python" else None
        sat = load(args, s.port, args.saturate, 2000 + rnd, True, args.saturate_connections) if args.saturate else {}
        c2 = thread_cpu(s.p.pid)[0]
        b2 = s.counters() if b1 else None
    finally:
        s.stop()
    if args.saturate and sat.get("ok", 0) < args.saturate:
        raise RuntimeError("%s: saturation load: %d of %d requests answered OK" % (name, sat.get("ok", 0), args.saturate))
    run = figures(mode, rnd, s, (c0, w0, n0, k0), (c1, w1, n1, k1), res)
    run.update(sat=sat.get("achieved_rate", 0.0),
               sat_cpu=1e9 * sat.get("ok", 0) / (c2 - c1) if args.saturate and c2 > c1 else 0.0,
               sat_batch=(b2[1] - b1[1]) / (b2[0] - b1[0]) if b1 and b2 and b2[0] > b1[0] else 0.0)
    return run


def figures(mode, rnd, server, before, after, res):
    """One run's figures from its server's thread_cpu() before and after the measured load."""
    (c0, w0, n0, k0), (c1, w1, n1, k1) = before, after
    ok = res.get("ok", 0)
    if ok <= 0:
        raise RuntimeError("%s-%d: no request answered OK" % (mode, rnd))
    if rnd > 1 and os.path.exists(server.trace):
        os.unlink(server.trace)  # round 1's traces stay, for checking what each mode recorded
    dur = res.get("duration_s", 0.0) or 1.0
    return {"mode": mode, "round": rnd, "ok": ok, "cpu_ns": (c1 - c0) / ok, "writer_ns": (w1 - w0) / ok,
            "service_ns": (c1 - c0 - (w1 - w0)) / ok, "wakes_s": (k1 - k0) / dur,
            "rate": res.get("achieved_rate", 0.0), "sat": 0.0, "sat_cpu": 0.0, "threads": (n0, n1),
            "sat_batch": 0.0}


def concurrent_round(args, modes, work, rnd):
    """--concurrent: every mode's server at once, each with its own load on a CPU of its own (server and
    load pinned together, the CPUs rotated each round), the loads started together: whatever else the
    machine runs falls on every mode of the round alike, so the per-round ratio keeps less of it."""
    ncpu = os.cpu_count() or 1
    cpu = {m: str((i + rnd - 1) % ncpu) for i, m in enumerate(modes)}
    servers = {}
    try:
        for m in modes:
            servers[m] = Server(args, m, work, "%s-%d" % (m, rnd), cpu[m])

        def together(n, seed_base, closed, connections=None):
            out, errs = {}, []

            def one(m):
                try:
                    out[m] = load(args, servers[m].port, n, seed_base + rnd, closed, connections, cpus=cpu[m])
                except Exception as e:  # reported below, after every load ended
                    errs.append("%s: %s" % (m, e))
            ts = [threading.Thread(target=one, args=(m,)) for m in modes]
            for t in ts:
                t.start()
            for t in ts:
                t.join()
            if errs:
                raise RuntimeError("; ".join(errs))
            return out

        together(args.warm, 1000, args.closed)
        before = {m: thread_cpu(servers[m].p.pid) for m in modes}
        res = together(args.requests, 0, args.closed)
        after = {m: thread_cpu(servers[m].p.pid) for m in modes}
        sat, cpu2, b1, b2 = {}, {}, {}, {}
        if args.saturate:
            # each mode's saturating load on its own CPU with its server: the wall-clock rate shares that
            # CPU with the load generator, the requests per server CPU-second do not
            if args.service == "python":
                b1 = {m: servers[m].counters() for m in modes}
            sat = together(args.saturate, 2000, True, args.saturate_connections)
            cpu2 = {m: thread_cpu(servers[m].p.pid)[0] for m in modes}
            if args.service == "python":
                b2 = {m: servers[m].counters() for m in modes}
    finally:
        for s in servers.values():
            s.stop()
    runs = {}
    for m in modes:
        run = runs[m] = figures(m, rnd, servers[m], before[m], after[m], res[m])
        if args.saturate:
            got = sat[m]
            if got.get("ok", 0) < args.saturate:
                raise RuntimeError("%s-%d: saturation load: %d of %d requests answered OK" % (
                    m, rnd, got.get("ok", 0), args.saturate))
            c1, c2 = after[m][0], cpu2[m]
            x1, x2 = b1.get(m), b2.get(m)
            run.update(sat=got.get("achieved_rate", 0.0), sat_cpu=1e9 * got["ok"] / (c2 - c1) if c2 > c1 else 0.0,
                       sat_batch=(x2[1] - x1[1]) / (x2[0] - x1[0]) if x1 and x2 and x2[0] > x1[0] else 0.0)
    return runs


def on_term(signum, frame):
    raise SystemExit(128 + signum)  # unwinds through one_run's finally: the server is stopped


def main():
    signal.signal(signal.SIGTERM, on_term)
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--servprof", help="the servprof binary (required unless --pool)")
    ap.add_argument("--service", choices=sorted(SERVICES), default="serve",
                    help="serve: `servprof serve`; python: examples/python/service.py (default serve)")
    ap.add_argument("--python", default="/usr/bin/python3" if os.path.exists("/usr/bin/python3") else sys.executable,
                    help="the interpreter of --service python (default Debian's /usr/bin/python3)")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--modes", default="off,rec")
    ap.add_argument("--rate", type=float, default=400.0, help="open-loop requests/s (default 400)")
    ap.add_argument("--closed", action="store_true", help="closed loop: throughput is measured too")
    ap.add_argument("--connections", type=int, default=16)
    ap.add_argument("--saturate", type=int, default=0, metavar="N",
                    help="after the measured load, N requests closed-loop: served throughput at saturation")
    ap.add_argument("--saturate-connections", type=int, default=32)
    ap.add_argument("--requests", type=int, default=2000)
    ap.add_argument("--warm", type=int, default=300)
    ap.add_argument("--min-rounds", type=int, default=5)
    ap.add_argument("--max-rounds", type=int, default=60)
    ap.add_argument("--target-width", type=float, default=0.01, help="full width of the 95%% interval of each ratio")
    ap.add_argument("--deadline", type=float, default=1200.0, help="seconds: no new round after this")
    ap.add_argument("--server-arg", action="append", default=[], help="one extra serve argument (repeat)")
    ap.add_argument("--work", default=None)
    ap.add_argument("--out", default=None, help="also write the table and the raw runs here")
    ap.add_argument("--concurrent", action="store_true",
                    help="run every mode of a round at the same time, each server and its load on a CPU of its own "
                         "(rotated each round): the machine's other load falls on all modes alike")
    ap.add_argument("--compare", default=None, help="another servprof binary (--service python: another build of the "
                    "package, a PYTHONPATH folder): each recording mode runs with it too (mode@cmp)")
    ap.add_argument("--pool", nargs="+", metavar="FILE", default=None,
                    help="run nothing: the table of the rounds saved by earlier --out FILEs together (the same "
                    "binary, service, modes and load; --service must match)")
    args = ap.parse_args()
    if args.pool:
        return pool(args, args.pool)
    if not args.servprof:
        ap.error("--servprof: required (the servprof binary whose serve or load runs)")
    modes = args.modes.split(",")
    mode_args = SERVICES[args.service][0]
    if "off" not in modes or any(m not in mode_args for m in modes) or len(set(modes)) != len(modes):
        ap.error("--modes: a comma-separated list of %s (--service %s) including off, each once" %
                 (", ".join(mode_args), args.service))
    if args.closed and args.saturate:
        ap.error("--saturate: the open-loop measure's companion; with --closed the measured load is closed-loop already")
    for name in ("rate", "requests", "warm", "connections", "saturate_connections", "min_rounds", "max_rounds"):
        if getattr(args, name) <= 0:
            ap.error("--%s must be positive" % name.replace("_", "-"))
    if args.saturate < 0:
        ap.error("--saturate must be 0 (off) or positive")
    if args.compare:
        if args.service == "python":
            if not os.path.isdir(os.path.join(args.compare, "servprof")):
                ap.error("--compare %s: with --service python, a folder holding a servprof package" % args.compare)
            args.compare = os.path.abspath(args.compare)
        elif not os.access(args.compare, os.X_OK):
            ap.error("--compare %s: not an executable" % args.compare)
        modes += [m + "@cmp" for m in modes if m != "off"]
    if args.concurrent:
        if args.closed:
            ap.error("--concurrent: not with --closed (its wall-clock rate is the measure, and the modes would share "
                     "the machine's other load unevenly); --saturate's per-CPU-second capacity works")
        if len(modes) > (os.cpu_count() or 1):
            ap.error("--concurrent: %d modes need as many CPUs, this machine has %d" % (len(modes), os.cpu_count() or 1))
    args.server_arg = [a for x in args.server_arg for a in x.split("=", 1)] if args.server_arg else []
    ncpu = os.cpu_count() or 1
    args.pin = ncpu >= 2 and subprocess.run(["which", "taskset"], capture_output=True).returncode == 0
    half = max(1, ncpu // 2)
    args.server_cpus = "0" if ncpu <= 2 else "0-%d" % (half - 1)
    args.load_cpus = "1" if ncpu <= 2 else "%d-%d" % (half, ncpu - 1)
    work = args.work or tempfile.mkdtemp(prefix="servprof-overhead.")
    os.makedirs(work, exist_ok=True)
    print("servprof overhead: %s, device %s, modes %s, %s, %d requests per run (+%d warm-up)%s, server on CPU %s, "
          "load on CPU %s; work dir %s" % (
              "servprof serve" if args.service == "serve" else "examples/python/service.py (%s)" % args.python,
              args.device, ",".join(modes),
              "closed loop, %d connections" % args.connections if args.closed else "open loop at %.0f/s" % args.rate,
              args.requests, args.warm,
              ", then %d closed-loop over %d connections (saturation)" % (args.saturate, args.saturate_connections)
              if args.saturate else "",
              args.server_cpus if args.pin else "any", args.load_cpus if args.pin else "any", work)
          if not args.concurrent else
          "servprof overhead: %s, device %s, modes %s at the same time, each server with its own load on a CPU of its "
          "own (rotated each round), open loop at %.0f/s, %d requests per run (+%d warm-up); work dir %s" % (
              "servprof serve" if args.service == "serve" else "examples/python/service.py (%s)" % args.python,
              args.device, ",".join(modes), args.rate, args.requests, args.warm, work), flush=True)
    t0 = time.monotonic()
    runs = []
    rnd = 0
    reached = False
    while rnd < args.max_rounds:
        if rnd >= 1 and time.monotonic() - t0 > args.deadline:
            print("deadline: %.0f s, stopping after %d rounds" % (time.monotonic() - t0, rnd))
            break
        rnd += 1
        order = modes[(rnd - 1) % len(modes):] + modes[:(rnd - 1) % len(modes)]
        if args.concurrent:
            got = concurrent_round(args, modes, work, rnd)
            runs += [got[m] for m in modes]
        else:
            got = {}
            for m in order:
                got[m] = one_run(args, m, work, rnd)
                runs.append(got[m])
        print("round %2d: " % rnd + "  ".join("%s %.1f us/req (writer %.2f) %.0f/s%s" % (
            m, got[m]["cpu_ns"] / 1e3, got[m]["writer_ns"] / 1e3, got[m]["rate"],
            " sat %.0f/s (%.0f per CPU-s%s)" % (got[m]["sat"], got[m]["sat_cpu"], ", batch %.2f" % got[m]["sat_batch"]
                                              if got[m]["sat_batch"] else "") if args.saturate else "")
            for m in modes), flush=True)
        if rnd >= args.min_rounds:
            widths = [2 * interval(ratios(runs, m, "cpu_ns"))[1] for m in modes if m != "off"]
            for key in rate_keys(args):
                widths += [2 * interval(ratios(runs, m, key))[1] for m in modes if m != "off"]
            if all(w < args.target_width for w in widths):
                reached = True
                break
    table = render(args, modes, runs, rnd, reached, time.monotonic() - t0)
    print(table)
    if args.out:
        with open(args.out, "w") as f:
            f.write(table + "\nraw (mode round ok cpu_ns/req writer_ns/req rate saturation_rate "
                    "saturation_per_cpu_s threads writer_wakeups/s saturation_mean_batch):\n")
            for r in runs:
                f.write("%s %d %d %.0f %.0f %.1f %.1f %.1f %s %.1f %.3f\n" % (
                    r["mode"], r["round"], r["ok"], r["cpu_ns"], r["writer_ns"], r["rate"], r["sat"], r["sat_cpu"],
                    r["threads"], r["wakes_s"], r["sat_batch"]))
    return 0 if reached else 3


def rate_keys(args):
    """The run keys that are a served throughput: the closed-loop measured rate, or the saturation run's."""
    return (["rate"] if args.closed else []) + (["sat", "sat_cpu"] if args.saturate else [])


def ratios(runs, mode, key, ref_key=None):
    """Per round: the mode's `key` over the same round's off `ref_key` (default: the same key)."""
    ref_key = ref_key or key
    by = {}
    for r in runs:
        by.setdefault(r["round"], {})[r["mode"]] = r
    return [v[mode][key] / v["off"][ref_key] for v in by.values()
            if mode in v and "off" in v and v["off"][ref_key] > 0]


def render(args, modes, runs, rounds, reached, secs, pooled=False):
    base_text = SERVICES[args.service][1]
    text = {m: base_text[m.split("@")[0]] + ((" [--compare package]" if args.service == "python" else
                                              " [--compare binary]") if m.endswith("@cmp") else "") for m in modes}
    lines = ["", "==== recording overhead: server CPU per request, %d rounds, %s" % (
        rounds, "pooled (--pool)" if pooled else "%.0f s (%s)" % (
            secs, "every 95%% interval narrower than %.1f%%" % (args.target_width * 100) if reached
            else "target width NOT reached"))]
    lines.append("%-38s %14s %16s %24s %14s" % ("mode", "CPU us/req", "writer us/req", "ratio to off [95% CI]",
                                                "overhead"))
    for m in modes:
        cpu = statistics.median(r["cpu_ns"] for r in runs if r["mode"] == m) / 1e3
        wr = statistics.median(r["writer_ns"] for r in runs if r["mode"] == m) / 1e3
        if m == "off":
            lines.append("%-38s %14.2f %16.3f %24s %14s" % (text[m], cpu, wr, "1 (reference)", "-"))
            continue
        mean, h = interval(ratios(runs, m, "cpu_ns"))
        lines.append("%-38s %14.2f %16.3f %24s %14s" % (
            text[m], cpu, wr, "%.4f [%.4f, %.4f]" % (mean, mean - h, mean + h),
            "%+.2f%% +- %.2f%%" % ((mean - 1) * 100, h * 100)))
    med_lines = []
    for m in modes:
        if m == "off":
            continue
        rs = ratios(runs, m, "cpu_ns")
        geo, med = geo_interval(rs), median_interval(rs)
        if geo:
            med_lines.append("%-38s %24s %14s %24s %10s" % (
                text[m], "%.4f [%.4f, %.4f]" % geo, "%+.2f%%" % ((geo[0] - 1) * 100),
                "%.4f [%.4f, %.4f]" % med if med else "-", "%+.2f%%" % ((med[0] - 1) * 100) if med else "-"))
    if med_lines:
        lines.append("")
        lines.append("the same per-round ratios' geometric mean (95% t interval of the mean log ratio) and median "
                     "(distribution-free 95% interval):")
        lines.append("%-38s %24s %14s %24s %10s" % ("mode", "geometric mean [95% CI]", "overhead", "median [95% CI]",
                                                    "overhead"))
        lines += med_lines
    lines.append("")
    lines.append("split of each mode's overhead, in % of the same round's off CPU per request [95% CI]:")
    lines.append("%-38s %22s %22s %18s" % ("mode", "writer thread", "service threads", "writer wake-ups/s"))
    for m in modes:
        if m == "off":
            continue
        wm, wh = interval(ratios(runs, m, "writer_ns", "cpu_ns"))
        sm, sh = interval(ratios(runs, m, "service_ns", "cpu_ns"))
        wk = statistics.median(r["wakes_s"] for r in runs if r["mode"] == m)
        lines.append("%-38s %22s %22s %18.1f" % (text[m], "%+.3f%% +- %.3f%%" % (wm * 100, wh * 100),
                                                  "%+.2f%% +- %.2f%%" % ((sm - 1) * 100, sh * 100), wk))
    for key in rate_keys(args):
        lines.append("")
        if key == "sat":
            lines.append("served throughput at saturation (%d requests closed-loop, %d connections, after each "
                         "run's measured load), wall clock:" % (args.saturate, args.saturate_connections))
        elif key == "sat_cpu":
            lines.append("the same saturation load per CPU-second of the server (requests answered / CPU time of all "
                         "its threads: its capacity on a CPU of its own, whatever else the machine ran):")
        lines.append("%-38s %14s %24s %14s %16s" % ("mode", "req/s (median)", "ratio to off [95% CI]", "throughput cost",
                                                    "median ratio"))
        off = statistics.median(r[key] for r in runs if r["mode"] == "off")
        for m in modes:
            rate = statistics.median(r[key] for r in runs if r["mode"] == m)
            if m == "off":
                lines.append("%-38s %14.0f %24s %14s %16s" % (text[m], rate, "1 (reference)", "-", "-"))
                continue
            mean, h = interval(ratios(runs, m, key))
            lines.append("%-38s %14.0f %24s %14s %16s" % (
                text[m], rate, "%.4f [%.4f, %.4f]" % (mean, mean - h, mean + h),
                "%+.2f%% +- %.2f%%" % ((1 - mean) * 100, h * 100), "%.4f (%+.2f%%)" % (rate / off, (1 - rate / off) * 100)))
    if any(r.get("sat_batch") for r in runs):
        lines.append("")
        lines.append("mean batch size during the saturation load (inputs / batches, the service's counters):")
        lines.append("%-38s %14s %24s" % ("mode", "median", "ratio to off [95% CI]"))
        for m in modes:
            med = statistics.median(r["sat_batch"] for r in runs if r["mode"] == m)
            if m == "off":
                lines.append("%-38s %14.2f %24s" % (text[m], med, "1 (reference)"))
                continue
            mean, h = interval(ratios(runs, m, "sat_batch"))
            lines.append("%-38s %14.2f %24s" % (text[m], med, "%.4f [%.4f, %.4f]" % (mean, mean - h, mean + h)))
    if not args.closed:
        behind = [r for r in runs if r["rate"] < 0.95 * args.rate]
        if behind:
            lines.append("note: %d of %d runs fell more than 5%% behind the open-loop rate (%s): the server was "
                         "starved by other load on its CPU, and those runs batched more" % (
                             len(behind), len(runs), ", ".join("%s %s: %.0f/s" % (r["mode"], r["round"], r["rate"])
                                                               for r in behind[:8]) + (" ..." if len(behind) > 8 else "")))
    lines.append("(medians over the rounds; ratios are per round, mode / off of the same round; CPU = all "
                 "server threads' schedstat run time; writer = the sp-writer thread's)")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
