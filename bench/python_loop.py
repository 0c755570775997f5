"""Cost of servprof.asgi.Middleware's event loop stall measure (servprof.loop; docs/python.md, "Event
loop stalls"; docs/BENCHMARKS.md, "Event loop stalls"), with the C extension's path, in process:
  per request  the middleware with loop_stalls on (mode auto: the selector's timing on asyncio's loop)
               and off around a FastAPI app, each request followed by
               an `await asyncio.sleep(0)` (so the loop runs its timers between requests, as a served
               loop does, and the ticker sees no stall), in interleaved rounds; the cost is the median
               of the per-round differences (CPU time of this thread) with bench/overhead.py's
               distribution-free 95% interval;
  ticker       an idle loop for SECONDS with the ticker (mode='ticker', uvloop's) running (a request in flight all along; the
               default 2 ms interval) and without: the loop thread's CPU time per second of wall time,
               and the ticks per second.
Skips (exit 0) without FastAPI.
Usage: python3 bench/python_loop.py [REQUESTS] [ROUNDS] [SECONDS]"""
import asyncio
import math
import os
import statistics
import sys
import tempfile
import time

try:
    from fastapi import FastAPI, Request
    from fastapi.responses import Response
except ImportError:
    print("python loop stalls: skipped (no fastapi: Debian python3-fastapi)")
    sys.exit(0)

import servprof
import servprof.asgi as sp_asgi
from overhead import median_interval
from servprof.loop import StallMonitor

N = int(sys.argv[1]) if len(sys.argv) > 1 else 3000
ROUNDS = int(sys.argv[2]) if len(sys.argv) > 2 else 9
SECONDS = float(sys.argv[3]) if len(sys.argv) > 3 else 3.0
BODY = b'{"input":"the quick brown fox jumps over lazy dogs"}'


def build_app():
    app = FastAPI()

    @app.post("/v1/embeddings")
    async def embeddings(request: Request):
        body = await request.body()
        r = sp_asgi.current_request(request.scope)
        with r.stage("preprocess"):
            n = len(body)
        return Response(content=b'{"n":%d}' % n, media_type="application/json")

    return app


async def run(app, n, base):
    request = {"type": "http.request", "body": BODY, "more_body": False}

    async def receive():
        return request

    async def send(message):
        pass

    t0 = time.thread_time_ns()
    for i in range(n):
        scope = {"type": "http", "method": "POST", "path": "/v1/embeddings", "query_string": b"",
                 "headers": [(b"content-type", b"application/json"), (b"x-request-id", b"l-%d" % (base + i)),
                             (b"content-length", b"%d" % len(BODY))]}
        await app(scope, receive, send)
        await asyncio.sleep(0)
    return (time.thread_time_ns() - t0) / n


async def idle(seconds, mon):
    if mon is not None:
        mon.begin()  # a request in flight all along: the ticker runs
    t0, c0 = time.monotonic(), time.thread_time_ns()
    ticks0 = mon.ticks if mon else 0
    await asyncio.sleep(seconds)
    wall, cpu = time.monotonic() - t0, time.thread_time_ns() - c0
    ticks = (mon.ticks - ticks0) if mon else 0
    if mon is not None:
        mon.stop()
    return cpu / wall, ticks / wall


async def main():
    path = os.path.join(tempfile.mkdtemp(prefix="servprof-loop-bench."), "t.sptrace")
    rec = servprof.Recorder(path)
    inner = build_app()
    on = sp_asgi.Middleware(inner, rec, paths=["/v1/embeddings"], loop_stalls=True)
    off = sp_asgi.Middleware(inner, rec, paths=["/v1/embeddings"], loop_stalls=False)
    got = {"off": [], "on": []}
    base = 0
    await run(off, 200, 0)
    for r in range(ROUNDS):
        for name, app in ((("off", off), ("on", on)) if r % 2 == 0 else (("on", on), ("off", off))):
            got[name].append(await run(app, N, base))
            base += N
    stats = on.loop_stalls.stats()
    on.loop_stalls.stop()
    print("python loop stalls (%s backend, Python %s): %d requests x %d rounds around a FastAPI app, in process"
          % (servprof.BACKEND, sys.version.split()[0], N, ROUNDS))
    for name in ("off", "on"):
        print("  %-4s %7.2f us/request (median; rounds %s)" % (
            name, statistics.median(got[name]) / 1e3, ", ".join("%.2f" % (x / 1e3) for x in got[name])))
    diffs = [(x - y) / 1e3 for x, y in zip(got["on"], got["off"])]
    print("  on - off: %+.2f us/request [%+.2f, %+.2f] (paired per round)"
          % (median_interval(diffs) or (statistics.median(diffs), math.nan, math.nan)))
    print("  during the rounds (mode %s): %d loop iterations, %d ticks, %d stalls (%.1f ms), %d event_loop pieces" % (
        stats["mode"], stats["iterations"], stats["ticks"], stats["stalls"], stats["stalled_ns"] / 1e6,
        stats["pieces"]))
    rows = []
    for mon in (None, StallMonitor(rec, mode="ticker"), None, StallMonitor(rec, mode="ticker")):
        rows.append(await idle(SECONDS / 2, mon))
    off_cpu = (rows[0][0] + rows[2][0]) / 2
    on_cpu = (rows[1][0] + rows[3][0]) / 2
    tps = (rows[1][1] + rows[3][1]) / 2
    print("  idle loop with a request in flight, %.1f s each way: loop thread CPU %.3f%% of a core without the "
          "ticker (mode='ticker'), %.3f%% with "
          "(%.0f ticks/s: %.1f us a tick)" % (SECONDS, off_cpu / 1e7, on_cpu / 1e7, tps,
                                               (on_cpu - off_cpu) / tps / 1e3 if tps else math.nan))
    rec.close()
    os.unlink(path)


if __name__ == "__main__":
    asyncio.run(main())
