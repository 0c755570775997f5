"""servprof.aiohttp's middleware in a real aiohttp.web server on loopback ports (docs/python.md, "aiohttp
middleware"; docs/BENCHMARKS.md). Every app answers GET /ok with a 3 KB web.json_response (384 floats,
an embedding) from an event loop in a thread of its own; the client sends sequential requests on one
keep-alive connection per app.

done [REQUESTS]  Where servprof's done falls against aiohttp's write ("aiohttp: done against the
  write"). A middleware around servprof's wraps each response's write_eof and notes, per request:
  `return`, when servprof's middleware returned the response (the done an aiohttp middleware could take
  without hooks: the handler's answer); `start`, when aiohttp called write_eof (servprof's done: the
  last write handed to aiohttp, before it); `written`, when servprof's end of the request begins, right
  after aiohttp's write_eof (the response written to the socket: DESIGN's "response sent"); `end`, when
  write_eof returned. Prints the medians (p90) of written - return, written - start and end - written
  (servprof's bookkeeping there), in us. Default 2000 requests.
cost [REQUESTS [ROUNDS]]  Server CPU per request ("aiohttp middleware: CPU per request"). Three apps on
  one loop thread, each on its own port: bare (no middleware), noop (a middleware that only awaits the
  handler: the floor of any middleware), sp (servprof.aiohttp.middleware; the backend SERVPROF_BACKEND
  chooses). Rounds interleave the three (their order rotated); the figure is the loop thread's CPU time
  (time.thread_time() read on that thread) over a round, per request, so the client's work is out of
  it. Prints each variant's median and the medians of the per-round differences sp - bare, sp - noop.
  Default 1000 requests, 10 rounds.
Skips (exit 0) without aiohttp.
Usage: python3 bench/python_aiohttp.py done|cost [...]   (PYTHONPATH: the built package)"""
import asyncio
import http.client
import os
import statistics
import sys
import tempfile
import threading
import time

try:
    import aiohttp
    from aiohttp import web
except ImportError as e:
    print("skipped: %s" % e)
    sys.exit(0)

import servprof
import servprof.aiohttp


async def ok(request):
    return web.json_response({"data": [{"embedding": [0.125] * 384}]})


class Loop:
    """An event loop in a thread; serve() starts an app on a free loopback port and returns a client
    connection to it; close() stops every app and the loop."""

    def __init__(self):
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.runners, self.conns = [], []

    def run(self, coro):
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(30)

    def serve(self, middlewares):
        async def start():
            app = web.Application(middlewares=middlewares)
            app.router.add_get("/ok", ok)
            runner = web.AppRunner(app, access_log=None)
            await runner.setup()
            await web.TCPSite(runner, "127.0.0.1", 0).start()
            return runner
        runner = self.run(start())
        self.runners.append(runner)
        self.conns.append(http.client.HTTPConnection("127.0.0.1", runner.addresses[0][1], timeout=30))
        return self.conns[-1]

    def close(self):
        for c in self.conns:
            c.close()
        for r in self.runners:
            self.run(r.cleanup())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(30)


def send(conn, n):
    for _ in range(n):
        conn.request("GET", "/ok")
        conn.getresponse().read()


def done(rec, n=2000):
    gaps_return, gaps_start, bookkeeping, written = [], [], [], []
    mw = servprof.aiohttp.middleware(rec)
    end_request = mw._end

    def noting_end(*args):
        written.append(servprof.now_ns())
        end_request(*args)
    mw._end = noting_end

    @web.middleware
    async def outer(request, handler):
        resp = await handler(request)
        t_return = servprof.now_ns()
        inner = resp.write_eof  # servprof's hook

        async def write_eof(data=b""):
            t_start = servprof.now_ns()
            await inner(data)
            t_end = servprof.now_ns()
            gaps_return.append(written[-1] - t_return)
            gaps_start.append(written[-1] - t_start)
            bookkeeping.append(t_end - written[-1])
        resp.write_eof = write_eof
        return resp

    lp = Loop()
    send(lp.serve([outer, mw]), int(n))
    lp.close()

    def q(v, f):
        v = sorted(v)
        return v[min(len(v) - 1, int(f * len(v)))] / 1e3
    print("aiohttp %s, servprof %s backend, %d requests: written - handler's return p50 %.1f us (p90 %.1f); "
          "written - write_eof start (done) p50 %.1f us (p90 %.1f); servprof's end after it p50 %.1f us (p90 %.1f)"
          % (aiohttp.__version__, servprof.BACKEND, len(gaps_start), q(gaps_return, .5), q(gaps_return, .9),
             q(gaps_start, .5), q(gaps_start, .9), q(bookkeeping, .5), q(bookkeeping, .9)))


def cost(rec, n=1000, rounds=10):
    n, rounds = int(n), int(rounds)

    @web.middleware
    async def noop(request, handler):
        return await handler(request)

    lp = Loop()
    conns = {name: lp.serve(mws) for name, mws in
             (("bare", []), ("noop", [noop]), ("sp", [servprof.aiohttp.middleware(rec)]))}

    async def cpu():
        return time.thread_time()
    per = {name: [] for name in conns}
    names = list(conns)
    for name in names:  # warm-up
        send(conns[name], 200)
    for k in range(rounds):
        for name in names[k % 3:] + names[:k % 3]:
            t0 = lp.run(cpu())
            send(conns[name], n)
            per[name].append((lp.run(cpu()) - t0) / n * 1e6)
    lp.close()
    med = {name: statistics.median(v) for name, v in per.items()}
    d_bare = statistics.median(s - b for s, b in zip(per["sp"], per["bare"]))
    d_noop = statistics.median(s - b for s, b in zip(per["sp"], per["noop"]))
    print("aiohttp %s, servprof %s backend, %d rounds x %d requests: server CPU per request, medians: bare %.1f us, "
          "noop %.1f us, sp %.1f us; sp - bare %.1f us, sp - noop %.1f us (per-round differences)"
          % (aiohttp.__version__, servprof.BACKEND, rounds, n, med["bare"], med["noop"], med["sp"], d_bare, d_noop))


def main():
    modes = {"done": done, "cost": cost}
    if len(sys.argv) < 2 or sys.argv[1] not in modes:
        print(__doc__.rsplit("\n", 1)[-1], file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="servprof-aiohttp-bench-") as out:
        rec = servprof.Recorder(os.path.join(out, "t.sptrace"))
        modes[sys.argv[1]](rec, *sys.argv[2:])
        rec.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
