"""Per-request CPU cost of servprof.aiohttp's middleware in a real aiohttp.web server (docs/python.md,
"aiohttp middleware"; docs/BENCHMARKS.md, "aiohttp middleware: CPU per request"). Three applications
with the same handler (a 3 KB web.json_response) run on one event loop thread, each on its own
loopback port:
  bare  no middleware;
  noop  a new-style middleware that only awaits the handler (the floor of any middleware);
  sp    servprof.aiohttp.middleware(rec) (the backend SERVPROF_BACKEND chooses, the C extension by
        default).
One client connection per application sends REQUESTS sequential GETs a round; the server thread's CPU
time (time.thread_time() read on that thread) over the round, per request, is the figure, so the
client's own work does not count. Rounds interleave the three variants (rotating their order); prints
each variant's median per request and the medians of the per-round differences sp - bare, sp - noop.
Skips (exit 0) without aiohttp.
Usage: python3 bench/python_aiohttp_cost.py [REQUESTS] [ROUNDS]   (PYTHONPATH: the built package)"""
import asyncio
import http.client
import os
import statistics
import sys
import tempfile
import threading
import time

try:
    from aiohttp import web
except ImportError as e:
    print("skipped: %s" % e)
    sys.exit(0)

import servprof
import servprof.aiohttp


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 10
    out = tempfile.TemporaryDirectory(prefix="servprof-aiohttp-cost-")
    rec = servprof.Recorder(os.path.join(out.name, "t.sptrace"))

    async def ok(request):
        return web.json_response({"data": [{"embedding": [0.125] * 384}]})

    @web.middleware
    async def noop(request, handler):
        return await handler(request)

    variants = {"bare": [], "noop": [noop], "sp": [servprof.aiohttp.middleware(rec)]}
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    runners, conns = [], {}

    async def start(mws):
        app = web.Application(middlewares=mws)
        app.router.add_get("/ok", ok)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        return runner

    async def cpu():
        return time.thread_time()

    def thread_cpu():
        return asyncio.run_coroutine_threadsafe(cpu(), loop).result(30)

    for name, mws in variants.items():
        r = asyncio.run_coroutine_threadsafe(start(mws), loop).result(30)
        runners.append(r)
        conns[name] = http.client.HTTPConnection("127.0.0.1", r.addresses[0][1], timeout=30)
    per = {name: [] for name in variants}
    names = list(variants)
    for name in names:  # warm-up
        for _ in range(200):
            conns[name].request("GET", "/ok")
            conns[name].getresponse().read()
    for k in range(rounds):
        for name in names[k % 3:] + names[:k % 3]:
            c = conns[name]
            t0 = thread_cpu()
            for _ in range(n):
                c.request("GET", "/ok")
                c.getresponse().read()
            per[name].append((thread_cpu() - t0) / n * 1e6)
    for c in conns.values():
        c.close()
    for r in runners:
        asyncio.run_coroutine_threadsafe(r.cleanup(), loop).result(30)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(30)
    rec.close()
    out.cleanup()
    med = {name: statistics.median(v) for name, v in per.items()}
    d_bare = statistics.median(s - b for s, b in zip(per["sp"], per["bare"]))
    d_noop = statistics.median(s - b for s, b in zip(per["sp"], per["noop"]))
    print("servprof %s backend, %d rounds x %d requests: server CPU per request, medians: bare %.1f us, "
          "noop %.1f us, sp %.1f us; sp - bare %.1f us, sp - noop %.1f us (per-round differences)"
          % (servprof.BACKEND, rounds, n, med["bare"], med["noop"], med["sp"], d_bare, d_noop))


if __name__ == "__main__":
    main()
