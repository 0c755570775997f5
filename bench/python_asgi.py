"""Per-request cost of servprof.asgi.Middleware around a FastAPI app (bench/python.bench.sh; docs/BENCHMARKS.md,
"Python recording"), called in process with no socket so only the Python work is timed. One request:
POST /v1/embeddings with the headers `servprof load` sends (Host, Content-Type, X-Request-Id, a
traceparent, Content-Length), a handler that reads the body, opens one stage block when a request is
recorded and returns a small JSON response (the example service's handler without its model).

Variants, in interleaved rounds (CPU time of this thread, so other load on the machine counts little):
  bare      the FastAPI app alone;
  wrap      a middleware that only wraps receive and send in coroutines: the floor of any ASGI
            middleware that must see the response go out (servprof's must: done, status);
  c         servprof.asgi.Middleware with the C extension's path: the whole request in C (_asgi_call),
            under the `async def __call__` that ASGI servers require;
  c_steps   the C path before that (main until branch pyawait, copied here as StepsMiddleware): a
            Python coroutine around the C parts _asgi_begin, _AsgiSend and _asgi_end, with a Python
            receive coroutine, the ContextVar and the try/finally in Python;
  python    the same middleware forced onto its Python path (what the ctypes backend runs, and what
            the C extension ran before its bookkeeping moved to C).
Prints each variant's median per request and its cost over `bare`: the median of its rounds' differences
to the same round's `bare` (paired per round, so the machine's drift between rounds cancels) with a
distribution-free 95% interval (bench/overhead.py's median_interval, order statistics of the
differences; a busy machine's outliers move a mean and its t interval, not these; nan below 6 rounds),
and the mean of the differences with bench/overhead.py's t interval.
Skips (exit 0) without FastAPI.
`--only VARIANT REQUESTS` runs 300 requests of one variant, then REQUESTS more, and prints nothing: for a
tool that counts instructions (valgrind --tool=cachegrind --cache-sim=yes); two such runs (REQUESTS 200
and 1200) differ by exactly 1000 requests' worth, whatever the machine's load (docs/BENCHMARKS.md).
Usage: python3 bench/python_asgi.py [REQUESTS] [ROUNDS] | --only VARIANT REQUESTS"""
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
    print("python asgi middleware: skipped (no fastapi: Debian python3-fastapi)")
    sys.exit(0)

import servprof
import servprof.asgi as sp_asgi
from overhead import interval, median_interval

ONLY = sys.argv[2] if len(sys.argv) > 2 and sys.argv[1] == "--only" else None
if ONLY:
    del sys.argv[1:3]
N = int(sys.argv[1]) if len(sys.argv) > 1 else 3000
ROUNDS = int(sys.argv[2]) if len(sys.argv) > 2 else 9
BODY = b'{"input":"the quick brown fox jumps over lazy dogs"}'
TRACEPARENT = b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


def build_app():
    app = FastAPI()

    @app.post("/v1/embeddings")
    async def embeddings(request: Request):
        body = await request.body()
        r = sp_asgi.current_request(request.scope)
        if r is not None:
            with r.stage("preprocess"):
                n = len(body)
        else:
            n = len(body)
        return Response(content=b'{"object":"list","n":%d}' % n, media_type="application/json")

    return app


class Wrap:
    """Wraps receive and send, nothing else."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        async def send_wrapper(message):
            await send(message)

        async def receive_wrapper():
            return await receive()

        await self.app(scope, receive_wrapper, send_wrapper)


class StepsMiddleware(sp_asgi.Middleware):
    """servprof.asgi.Middleware.__call__'s C path as it was before _asgi_call (main at de90784), for
    the before/after figure: the same records, assembled in Python from the C parts."""

    async def __call__(self, scope, receive, send):
        if self.metrics_path is not None and scope.get("type") == "http" and scope.get("path") == self.metrics_path:
            await self._answer_metrics(scope, send)
            return
        if scope.get("type") != "http" or not self._wanted(scope.get("path", "")):
            await self.app(scope, receive, send)
            return
        arrival = servprof.now_ns()
        headers = scope.get("headers") or ()
        try:
            begun = sp_asgi._c_begin(self.recorder, headers, arrival, sp_asgi._ids)
        except Exception as e:  # noqa: BLE001
            self._fault(e)
            await self.app(scope, receive, send)
            return
        if begun is None:
            begun = self._begin(headers, arrival)
            if begun is None:
                await self.app(scope, receive, send)
                return
        req, echo_b = begun
        sw = sp_asgi._c_send(send, echo_b if self.echo_request_id else None)
        receive_wrapper = sp_asgi._receive_wrapper(receive, sw)
        scope["servprof.request"] = req
        token = sp_asgi._current.set(req)
        exc = None
        try:
            await self.app(scope, receive_wrapper, sw)
        except BaseException as e:
            exc = e
            raise
        finally:
            sp_asgi._current.reset(token)
            try:
                sp_asgi._c_end(req, sw.status, sw.response_start, sw.done, sw.disconnected, exc, self.fill_stages)
            except Exception as e:  # noqa: BLE001
                self._fault(e)


async def run(app, n, base):
    request = {"type": "http.request", "body": BODY, "more_body": False}

    async def receive():
        return request

    async def send(message):
        pass

    t0 = time.thread_time_ns()
    for i in range(n):
        scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST",
                 "scheme": "http", "path": "/v1/embeddings", "raw_path": b"/v1/embeddings", "query_string": b"",
                 "root_path": "", "client": ("127.0.0.1", 40000), "server": ("127.0.0.1", 8080),
                 "headers": [(b"host", b"127.0.0.1:8080"), (b"content-type", b"application/json"),
                             (b"x-request-id", b"load-5f3a9c1e-%d" % (base + i)), (b"traceparent", TRACEPARENT),
                             (b"content-length", b"%d" % len(BODY))]}
        await app(scope, receive, send)
    return (time.thread_time_ns() - t0) / n


async def main():
    path = os.path.join(tempfile.mkdtemp(prefix="servprof-asgi-bench."), "t.sptrace")
    rec = servprof.Recorder(path)
    inner = build_app()
    # without the event loop stall measure: these rounds never yield to the loop, so its ticker would
    # see one long stall (bench/python_loop.py measures its cost)
    mw = sp_asgi.Middleware(inner, rec, paths=["/v1/embeddings"], loop_stalls=False)
    c_path = sp_asgi._c_call
    variants = [("bare", inner, c_path), ("wrap", Wrap(inner), c_path), ("python", mw, None)]
    if sp_asgi._c_call is not None:
        variants[2:2] = [("c", mw, c_path), ("c_steps", StepsMiddleware(inner, rec, paths=["/v1/embeddings"], loop_stalls=False), c_path)]
    if ONLY:
        if ONLY not in [v[0] for v in variants]:
            sys.exit("python_asgi.py --only %s: no such variant (%s)" % (ONLY, ", ".join(v[0] for v in variants)))
        name, app, hooks = next(v for v in variants if v[0] == ONLY)
        sp_asgi._c_call = hooks
        await run(app, 300, 0)
        await run(app, N, 1000)
        rec.close()
        os.unlink(path)
        return
    got = {name: [] for name, _, _ in variants}
    base = 0
    await run(inner, 200, 0)  # warm-up: imports, caches
    for r in range(ROUNDS):
        for name, app, hooks in variants[r % len(variants):] + variants[:r % len(variants)]:
            sp_asgi._c_call = hooks
            got[name].append(await run(app, N, base))
            base += N
    sp_asgi._c_call = c_path
    rec.close()
    drops = sum(rec.drops().values())
    os.unlink(path)
    print("python asgi middleware (%s backend, Python %s): %d requests x %d rounds around a FastAPI app, in process"
          % (servprof.BACKEND, sys.version.split()[0], N, ROUNDS))
    for name, _, _ in variants:
        med = statistics.median(got[name])
        cost = ""
        if name != "bare":
            diffs = [(x - b) / 1e3 for x, b in zip(got[name], got["bare"])]
            mean, half = interval(diffs)
            med_ci = median_interval(diffs) or (statistics.median(diffs), math.nan, math.nan)
            cost = "  cost %+.2f us [%+.2f, %+.2f] (mean %+.2f +- %.2f)" % (med_ci + (mean, half))
        print("  %-8s %7.1f us/request (median; rounds %s)%s" % (
            name, med / 1e3, ", ".join("%.1f" % (x / 1e3) for x in got[name]), cost))
    if "c_steps" in got:
        diffs = [(x - y) / 1e3 for x, y in zip(got["c"], got["c_steps"])]
        print("  c - c_steps (the C path after and before _asgi_call, paired per round): %+.2f us [%+.2f, %+.2f]"
              % (median_interval(diffs) or (statistics.median(diffs), math.nan, math.nan)))
    print("  %d records dropped" % drops)


if __name__ == "__main__":
    asyncio.run(main())
