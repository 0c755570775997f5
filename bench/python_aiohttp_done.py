"""Where servprof.aiohttp's done falls against aiohttp's write of the response (docs/python.md,
"aiohttp middleware"; docs/BENCHMARKS.md, "aiohttp: done against the write"). An aiohttp.web server
on a loopback port answers GET /ok with a JSON body of about 3 KB (384 floats, an embedding); one
client connection sends the requests one after another. A middleware around servprof's wraps each
response's write_eof and notes, per request:
  return  when servprof's middleware returned the response (the done an aiohttp middleware could
          take without hooks: the handler's answer);
  start   when aiohttp called write_eof (servprof's done: the last write handed to aiohttp, before it);
  written when servprof's end of the request begins, right after aiohttp's write_eof (the response
          written to the socket: DESIGN's "response sent");
  end     when write_eof returned (servprof's end of the request done too).
Prints the medians (p90) of written - return (how early done at the handler's answer would be),
written - start (how early servprof's done is) and end - written (servprof's bookkeeping there), in us. Skips (exit 0) without aiohttp.
Usage: python3 bench/python_aiohttp_done.py [REQUESTS]   (PYTHONPATH: the built package)"""
import asyncio
import http.client
import os
import sys
import tempfile
import threading

try:
    import aiohttp
    from aiohttp import web
except ImportError as e:
    print("skipped: %s" % e)
    sys.exit(0)

import servprof
import servprof.aiohttp


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 2000
    out = tempfile.TemporaryDirectory(prefix="servprof-aiohttp-bench-")
    rec = servprof.Recorder(os.path.join(out.name, "t.sptrace"))
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

    async def ok(request):
        return web.json_response({"data": [{"embedding": [0.125] * 384}]})

    app = web.Application(middlewares=[outer, mw])
    app.router.add_get("/ok", ok)
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()

    async def start():
        runner = web.AppRunner(app)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        return runner
    runner = asyncio.run_coroutine_threadsafe(start(), loop).result(30)
    c = http.client.HTTPConnection("127.0.0.1", runner.addresses[0][1], timeout=30)
    for _ in range(n):
        c.request("GET", "/ok")
        c.getresponse().read()
    c.close()
    asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(30)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(30)
    rec.close()
    out.cleanup()

    def q(v, f):
        v = sorted(v)
        return v[min(len(v) - 1, int(f * len(v)))] / 1e3
    print("aiohttp %s, servprof %s backend, %d requests: written - handler's return p50 %.1f us (p90 %.1f); "
          "written - write_eof start (done) p50 %.1f us (p90 %.1f); servprof's end after it p50 %.1f us (p90 %.1f)"
          % (aiohttp.__version__, servprof.BACKEND, len(gaps_start), q(gaps_return, .5), q(gaps_return, .9),
             q(gaps_start, .5), q(gaps_start, .9), q(bookkeeping, .5), q(bookkeeping, .9)))


if __name__ == "__main__":
    main()
