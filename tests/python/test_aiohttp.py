"""servprof.aiohttp's middleware in a real aiohttp.web server on a loopback port, driven by real HTTP
requests (http.client, raw sockets for clients that leave, `servprof load`): the ids it records and
echoes, the traceparent it continues, the outcome of each ending (200, a raised 404, 503, an
exception, a handler's timeout, a client gone mid-handler, a streamed response, a raised redirect, a
connection closed or a write failing before the response went out, a response replaced by an outer
middleware, a handler without its return), done where aiohttp writes the response (after an outer middleware's work), the filled
stages around the handler's own span, excluded paths, /metrics and current_request(), read back
through `servprof export --otlp` and `servprof analyze --json`; the same endings through the ASGI
middleware record the same. Both backends. Skips when aiohttp (Debian python3-aiohttp) is missing."""
import asyncio
import http.client
import os
import socket
import subprocess
import sys
import threading
import time
import unittest

import json
import warnings

from sptest import BIN, TempDirCase, analyze, export_requests, require, stages

require("aiohttp")
from aiohttp import web  # noqa: E402

import servprof  # noqa: E402
import servprof.aiohttp  # noqa: E402
import servprof.asgi  # noqa: E402
import servprof.loop  # noqa: E402

# the event loop's stall measure (servprof.loop) is tested in test_loop.py; here, where records are
# compared exactly, they must not depend on how a shared machine schedules the test process
servprof.loop.DEFAULT = False

BACKENDS = ("native", "ctypes")
TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
TRACEPARENT = "00-%s-00f067aa0ba902b7-01" % TRACE_ID


class Server:
    """An aiohttp.web application served by AppRunner on 127.0.0.1 (a free port) from an event loop
    in a thread of its own; close() stops it (the runner's cleanup waits for the handlers)."""

    def __init__(self, app):
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

        async def start():
            self.runner = web.AppRunner(app)
            await self.runner.setup()
            site = web.TCPSite(self.runner, "127.0.0.1", 0)
            await site.start()
            return self.runner.addresses[0][1]
        self.port = asyncio.run_coroutine_threadsafe(start(), self.loop).result(30)

    def get(self, path, headers=None, method="GET"):
        """(status, headers as a dict of lower-case names, body) of one request on a new connection."""
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            c.request(method, path, headers=headers or {})
            r = c.getresponse()
            return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()
        finally:
            c.close()

    def close(self):
        asyncio.run_coroutine_threadsafe(self.runner.cleanup(), self.loop).result(30)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(30)
        self.loop.close()


def build_app(mw, seen):
    """The endings the tests send: each handler notes what current_request() gave it in `seen`."""
    started, finished = threading.Event(), threading.Event()
    seen["slow_started"], seen["slow_finished"] = started, finished

    def note(request):
        r = servprof.aiohttp.current_request()
        seen[r.id if r is not None else request.path] = (r, request.get(servprof.aiohttp.REQUEST_KEY))
        return r

    async def ok(request):
        r = note(request)
        with r.stage("queue"):  # the handler's own span: the middleware fills the edges around it
            await asyncio.sleep(0.005)
        return web.json_response({"id": str(r.id)})

    async def missing(request):
        note(request)
        raise web.HTTPNotFound(text="no such thing")

    async def busy(request):
        note(request)
        return web.Response(status=503, text="busy")

    async def boom(request):
        note(request)
        raise ZeroDivisionError("the handler failed")

    async def timeout(request):  # aiohttp answers a handler's asyncio.TimeoutError with 504
        note(request)
        raise asyncio.TimeoutError()

    async def slow(request):  # the client goes away while this reads the body or waits
        note(request)
        started.set()
        try:
            # a body cut short: the read fails when the connection is lost (ConnectionResetError; a
            # server with handler_cancellation cancels the handler instead); without one the handler
            # answers after the client left
            await request.read()
            await asyncio.sleep(0.5)
            return web.Response(text="too late")
        finally:
            finished.set()

    async def stream(request):
        note(request)
        resp = web.StreamResponse()
        resp.content_type = "text/plain"
        await resp.prepare(request)
        for i in range(3):
            await resp.write(b"chunk %d\n" % i)
            await asyncio.sleep(0.002)
        await resp.write_eof()
        return resp

    async def moved(request):
        note(request)
        raise web.HTTPFound("/ok")

    async def health(request):
        note(request)
        return web.Response(text="fine")

    async def no_answer(request):  # a handler that forgot its return
        note(request)

    async def late(request):
        note(request)
        return web.Response(text="late")

    class FailingWrite(web.Response):  # a write_eof that fails as one to a connection just lost does
        async def write_eof(self, data=b""):
            raise ConnectionResetError("Cannot write to closing transport")

    async def write_fails(request):
        note(request)
        return FailingWrite(text="never sent")

    @web.middleware
    async def outer(request, handler):  # a middleware around ours: work after ours has returned
        resp = await handler(request)
        if request.path == "/late":
            await asyncio.sleep(0.02)  # (a compression middleware would be here, or a slow access log)
        elif request.path == "/cut":  # the connection closes after ours returned: the write fails
            request.transport.close()
        elif request.path == "/replaced":
            return web.Response(status=200, text="another answer")
        return resp

    app = web.Application(middlewares=[outer, mw])
    app.router.add_get("/ok", ok)
    app.router.add_post("/ok", ok)
    for path, h in (("/missing", missing), ("/busy", busy), ("/boom", boom), ("/slow", slow),
                    ("/stream", stream), ("/moved", moved), ("/healthz", health),
                    ("/timeout", timeout), ("/late", late), ("/replaced", late),
                    ("/cut", late), ("/write-fails", write_fails), ("/none", no_answer)):
        app.router.add_get(path, h)
    app.router.add_post("/slow", slow)
    return app


def leave_mid_handler(server, seen, rid, while_reading=False):
    """Sends /slow (a GET, or a POST whose body is cut short), waits until its handler runs, closes the
    connection, waits for the handler's end."""
    seen["slow_started"].clear()
    seen["slow_finished"].clear()
    s = socket.create_connection(("127.0.0.1", server.port), timeout=30)
    head = b"GET /slow HTTP/1.1\r\nHost: x\r\nX-Request-Id: %s\r\n" % rid.encode()
    if while_reading:
        head = head.replace(b"GET", b"POST") + b"Content-Length: 100\r\n\r\n0123456789"
    else:
        head += b"\r\n"
    s.sendall(head)
    assert seen["slow_started"].wait(30), "the slow handler never ran"
    s.close()
    assert seen["slow_finished"].wait(30), "the slow handler never ended"


def export_properties(case, trace):
    """{key: value} of the trace properties `servprof export --otlp` gives (servprof.property.KEY)."""
    out = trace + ".props.otlp.jsonl"
    p = subprocess.run([BIN, "export", "--otlp", out, trace], capture_output=True, text=True, timeout=120)
    case.assertEqual(p.returncode, 0, p.stderr)
    got = {}
    with open(out) as f:
        for line in f:
            for rs in json.loads(line)["resourceSpans"]:
                for a in rs.get("resource", {}).get("attributes", []):
                    if a["key"].startswith("servprof.property."):
                        got[a["key"][len("servprof.property."):]] = a["value"].get("stringValue")
    return got


def no_entry_response(text):
    """A web.Response that refuses the middleware's entry in its mapping (TypeError): no hook."""
    def setitem(self, key, value):
        raise TypeError("this response takes no entries")
    return type("NoEntry", (web.Response,), {"__setitem__": setitem})(text=text)


def final_response(text):
    """A web.Response whose class refuses subclasses (TypeError from __init_subclass__): no hook."""
    def init_subclass(cls, **kw):
        raise TypeError("FinalResponse is final")
    return type("FinalResponse", (web.Response,), {"__init_subclass__": classmethod(init_subclass)})(text=text)


def unswappable_response(text):
    """A web.Response whose __class__ cannot be assigned (TypeError, as for a class whose layout a
    subclass would change): the middleware cannot hook its write."""
    def refuse(self, cls):
        raise TypeError("__class__ assignment: the layouts differ")
    cls = type("Unswappable", (web.Response,), {"__class__": property(lambda self: type(self), refuse)})
    return cls(text=text)


class AiohttpCase(TempDirCase):
    def serve(self, rec, extra_routes=(), **opts):
        seen = {}
        self.mw = servprof.aiohttp.middleware(rec, **opts)
        app = build_app(self.mw, seen)
        for path, h in extra_routes:
            app.router.add_get(path, h)
        server = Server(app)
        self.addCleanup(lambda: server.thread.is_alive() and server.close())
        return server, seen

    def test_endings_ids_echo_and_stages(self):
        trace = self.path("t.sptrace")
        rec = servprof.Recorder(trace, live_metrics=True)
        server, seen = self.serve(rec, exclude=["/healthz"], metrics_path="/metrics")
        got = {}
        for rid, path in (("ok", "/ok"), ("404", "/missing"), ("503", "/busy"), ("exception", "/boom"),
                          ("streamed", "/stream"), ("302", "/moved"), ("timeout", "/timeout"), ("late", "/late"),
                          ("replaced", "/replaced")):
            got[rid] = server.get(path, {"X-Request-Id": rid})
        got["traced"] = server.get("/ok", {"traceparent": TRACEPARENT})
        got["numbered"] = server.get("/ok")
        got["health"] = server.get("/healthz", {"X-Request-Id": "health"})
        leave_mid_handler(server, seen, "gone")
        leave_mid_handler(server, seen, "gone-reading", while_reading=True)
        # the connection closed after this middleware returned (by the one around it), before aiohttp wrote
        # the response: the write fails, nothing is sent
        with socket.create_connection(("127.0.0.1", server.port), timeout=30) as s:
            s.sendall(b"GET /cut HTTP/1.1\r\nHost: x\r\nX-Request-Id: cut\r\n\r\n")
            self.assertEqual(s.recv(100), b"")
        with socket.create_connection(("127.0.0.1", server.port), timeout=30) as s:
            s.sendall(b"GET /write-fails HTTP/1.1\r\nHost: x\r\nX-Request-Id: write-fails\r\n\r\n")
            s.recv(1000)  # the headers, then aiohttp closes the connection
        with socket.create_connection(("127.0.0.1", server.port), timeout=30) as s:
            s.sendall(b"GET /none HTTP/1.1\r\nHost: x\r\nX-Request-Id: none\r\n\r\n")
            s.recv(1000)  # aiohttp 3.8 closes the connection, 3.9+ answers 500
        metrics = server.get("/metrics")
        head = server.get("/metrics", method="HEAD")
        post = server.get("/metrics", method="POST")
        server.close()
        rec.close()

        self.assertEqual({k: v[0] for k, v in got.items()},
                         {"ok": 200, "404": 404, "503": 503, "exception": 500, "streamed": 200, "302": 302, "timeout": 504, "late": 200, "replaced": 200,
                          "traced": 200, "numbered": 200, "health": 200})
        # the echo: the caller's id, the traceparent's trace id, a number of the middleware's own; on a
        # raised HTTPException too; never on an excluded path nor on a response prepared by its handler
        for rid in ("ok", "404", "503", "302"):
            self.assertEqual(got[rid][1].get("x-request-id"), rid, rid)
        self.assertEqual(got["traced"][1]["x-request-id"], TRACE_ID)
        self.assertRegex(got["numbered"][1]["x-request-id"], "^[0-9]+$")
        self.assertNotIn("x-request-id", got["health"][1])
        self.assertNotIn("x-request-id", got["streamed"][1])
        # current_request() inside the handler, the same object as request[servprof.aiohttp.REQUEST_KEY]
        # (the str "servprof.request" on an aiohttp without typed request keys, as 3.8)
        if hasattr(web, "RequestKey"):
            self.assertIsInstance(servprof.aiohttp.REQUEST_KEY, web.RequestKey)
        else:
            self.assertEqual(servprof.aiohttp.REQUEST_KEY, "servprof.request")
        numbered = int(got["numbered"][1]["x-request-id"])
        self.assertEqual(got["numbered"][2], b'{"id": "%d"}' % numbered)
        for rid in ("ok", "404", "503", "exception", "streamed", "302", "timeout", "late", "replaced", "cut",
                    "write-fails", "none", TRACE_ID, numbered, "gone", "gone-reading"):
            r, in_request = seen[rid]
            self.assertIs(r, in_request, rid)
            self.assertTrue(r.ended, rid)
        self.assertEqual(seen["/healthz"], (None, None))  # excluded: nothing recorded, nothing current
        # /metrics: answered by the middleware, not recorded
        self.assertEqual(metrics[0], 200)
        self.assertTrue(metrics[1]["content-type"].startswith("text/plain; version=0.0.4"), metrics[1])
        self.assertIn(b"servprof_", metrics[2])
        self.assertEqual((head[0], head[2]), (200, b""))
        self.assertEqual((post[0], post[1].get("allow")), (405, "GET, HEAD"))
        self.assertEqual(self.mw.errors, 0, self.mw.last_error)

        reqs = export_requests(self, trace)
        self.assertEqual(sorted(map(str, reqs)), sorted(["ok", "404", "503", "exception", "streamed", "302", "timeout",
                                                         "late", "replaced", "cut", "write-fails", "none",
                                                         TRACE_ID, str(numbered), "gone", "gone-reading"]))
        outcome = {rid: (v["outcome"] or {}).get("stringValue", "ok") for rid, v in reqs.items()}
        status = {rid: int((v["status"] or {}).get("intValue", 0)) for rid, v in reqs.items()}
        self.assertEqual(outcome, {"ok": "ok", "404": "error", "503": "rejected", "exception": "error",
                                   "streamed": "ok", "302": "ok", "timeout": "error", "late": "ok",
                                   TRACE_ID: "ok", str(numbered): "ok",
                                   "gone": "cancelled", "gone-reading": "cancelled",
                                   # the handler's response was never sent (as an ASGI response never finished)
                                   "replaced": "cancelled", "cut": "cancelled",
                                   "write-fails": "cancelled", "none": "error"})
        # an ok request keeps no status (as from the ASGI middleware); the client that left after its
        # handler answered keeps the status it was answered
        self.assertEqual({rid: status[rid] for rid in ("404", "503", "exception", "timeout", "gone", "gone-reading",
                                                       "ok", "302", "none")},
                         {"404": 404, "503": 503, "exception": 500, "timeout": 504, "gone": 200, "gone-reading": 0,
                          "ok": 0, "302": 0, "none": 500})
        # the traceparent continued: the caller's trace, its span the parent, the sampled flag
        trace_id, parent, flags = reqs[TRACE_ID]["trace"]
        self.assertEqual((trace_id, parent, flags & 0xff), (TRACE_ID, "00f067aa0ba902b7", 1))
        self.assertIsNone(reqs["ok"]["trace"][1])
        # the stages: preprocess up to the handler's queue span, postprocess from its end to done,
        # exactly adjacent, covering the request's whole life
        st = reqs["ok"]["stages"]
        self.assertEqual([s[0] for s in st], ["postprocess", "preprocess", "queue"])
        by = {s[0]: s[1:] for s in st}
        self.assertEqual(by["preprocess"][0], 0)
        self.assertEqual(by["preprocess"][1], by["queue"][0])
        self.assertEqual(by["queue"][1], by["postprocess"][0])
        self.assertEqual(by["postprocess"][1], reqs["ok"]["duration"])
        self.assertGreaterEqual(by["queue"][1] - by["queue"][0], 5_000_000)
        # a response aiohttp prepares after the middleware returned: preprocess up to its prepare (the
        # response start), postprocess from there to write_eof (done), adjacent
        (post, p0, p1), (pre, q0, q1) = reqs["503"]["stages"]
        self.assertEqual((post, pre, q0, q1, p1), ("postprocess", "preprocess", 0, p0, reqs["503"]["duration"]))
        self.assertGreater(p1, p0)
        # done is when aiohttp writes the response, after the middlewares around this one: /late's
        # outer middleware sleeps 20 ms after this one returned
        self.assertGreaterEqual(reqs["late"]["duration"], 20_000_000)
        # a raised HTTPException (aiohttp writes it, or a copy, after the middlewares): done at the raise,
        # no response start seen, so a request the handler recorded nothing for is all preprocess
        self.assertEqual(reqs["404"]["stages"], [("preprocess", 0, reqs["404"]["duration"])])
        # the streamed response's done is after its chunks were written: at least its 3 sleeps
        self.assertGreaterEqual(reqs["streamed"]["duration"], 6_000_000)
        rep = analyze(trace, args=("--outcomes", "all"))
        self.assertEqual(stages(rep)["other"]["p99_us"], 0.0)
        self.assertEqual(rep["clock"]["trace_context"]["requests"], 1)

    def test_same_records_as_the_asgi_middleware(self):
        """The same endings through servprof.asgi.Middleware (called in process) and through this
        middleware (in the server) record the same status, outcome and stage names."""
        trace = self.path("a.sptrace")
        rec = servprof.Recorder(trace)
        server, seen = self.serve(rec)
        for rid, path in (("ok", "/ok"), ("404", "/missing"), ("503", "/busy"), ("exception", "/boom")):
            server.get(path, {"X-Request-Id": rid})
        leave_mid_handler(server, seen, "left")                            # answered after the client left
        leave_mid_handler(server, seen, "left-reading", while_reading=True)  # its body read failed
        server.close()
        rec.close()

        asgi_trace = self.path("b.sptrace")
        rec = servprof.Recorder(asgi_trace)

        def app(status, raise_=None, work=False, hears_disconnect=False):
            async def asgi_app(scope, receive, send):
                r = servprof.asgi.current_request(scope)
                if work:
                    with r.stage("queue"):
                        await asyncio.sleep(0.005)
                if hears_disconnect:  # the ASGI way to learn that the client left
                    await receive()
                if raise_ is not None:
                    raise raise_
                await send({"type": "http.response.start", "status": status, "headers": []})
                await send({"type": "http.response.body", "body": b"x"})
            return asgi_app

        async def receive():
            return {"type": "http.disconnect"}

        async def send(m):
            pass
        for rid, a in (("ok", app(200, work=True)), ("404", app(404)), ("503", app(503)),
                       ("exception", app(200, ZeroDivisionError())), ("left", app(200, hears_disconnect=True)),
                       ("left-reading", app(200, asyncio.CancelledError()))):
            scope = {"type": "http", "method": "GET", "path": "/", "headers": [(b"x-request-id", rid.encode())]}
            try:
                asyncio.run(servprof.asgi.Middleware(a, rec)(scope, receive, send))
            except (ZeroDivisionError, asyncio.CancelledError):
                pass
        rec.close()
        ours, theirs = export_requests(self, trace), export_requests(self, asgi_trace)
        self.assertEqual(sorted(ours), sorted(theirs))
        for rid in ours:
            # (a raised 404's response start, and that of a response prepared after its client left,
            # are not seen: only their preprocess)
            names = lambda v: [s[0] for s in v["stages"] if rid not in ("404", "left") or s[0] != "postprocess"]  # noqa: E731
            self.assertEqual((ours[rid]["status"], ours[rid]["outcome"], names(ours[rid])),
                             (theirs[rid]["status"], theirs[rid]["outcome"], names(theirs[rid])), rid)

    def test_under_servprof_load(self):
        """servprof load's client trace joins the server's by X-Request-Id: every request joined,
        `network` the client's time outside [arrival, done]."""
        trace, client = self.path("s.sptrace"), self.path("c.jsonl")
        rec = servprof.Recorder(trace)
        server, _ = self.serve(rec, paths=["/ok"])
        try:
            ld = subprocess.run([BIN, "load", "--url", "http://127.0.0.1:%d/ok" % server.port, "--rate", "40",
                                 "--requests", "30", "--no-progress", "--trace", client],
                                capture_output=True, text=True, timeout=120)
        finally:
            server.close()
            rec.close()
        self.assertEqual(ld.returncode, 0, ld.stdout + ld.stderr)
        rep = analyze(trace, client)
        self.assertEqual(rep["data_quality"]["unclean_files"], 0)
        self.assertEqual(rep["requests"]["count"], 30)
        st = stages(rep)
        for name in ("preprocess", "queue", "postprocess", "network"):
            self.assertIn(name, st)
        self.assertEqual(self.mw.errors, 0, self.mw.last_error)

    def test_write_not_hookable_falls_back(self):
        """Where the response's write cannot be hooked (an aiohttp without StreamResponse._eof_sent, the
        private flag read, taken here by renaming the name the middleware reads; a response class that
        cannot be swapped), done is the handler's answer: counted in done_at_answer, said once per
        reason by a RuntimeWarning and the trace property aiohttp.done_at_answer, nothing raised into
        the service; a response not yet prepared is still hooked through the public `prepared`."""
        self.addCleanup(setattr, servprof.aiohttp, "_EOF_SENT", servprof.aiohttp._EOF_SENT)
        servprof.aiohttp._EOF_SENT = "_eof_sent_not_in_this_aiohttp"
        trace = self.path("f.sptrace")
        rec = servprof.Recorder(trace)

        async def unswappable(request):
            return unswappable_response("not hooked")

        async def open_stream(request):  # prepared and written to, its end left to aiohttp
            resp = web.StreamResponse()
            await resp.prepare(request)
            await resp.write(b"started")
            return resp
        async def no_entry(request):
            return no_entry_response("no entry")

        async def final(request):
            return final_response("final")
        server, seen = self.serve(rec, extra_routes=[("/unswappable", unswappable), ("/open-stream", open_stream),
                                                     ("/no-entry", no_entry), ("/final", final)])
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            got = {rid: server.get(path, {"X-Request-Id": rid})
                   for rid, path in (("late", "/late"), ("streamed", "/stream"), ("open", "/open-stream"),
                                     ("open-2", "/open-stream"), ("unswappable", "/unswappable"), ("503", "/busy"),
                                     ("no-entry", "/no-entry"), ("final", "/final"))}
            server.close()
        rec.close()
        self.assertEqual({k: (v[0], v[2][:10]) for k, v in got.items()},
                         {"late": (200, b"late"), "streamed": (200, b"chunk 0\nch"), "open": (200, b"started"),
                          "open-2": (200, b"started"), "unswappable": (200, b"not hooked"), "503": (503, b"busy"),
                          "no-entry": (200, b"no entry"), "final": (200, b"final")})
        self.assertEqual(got["unswappable"][1].get("x-request-id"), "unswappable")
        self.assertEqual(self.mw.errors, 0, self.mw.last_error)
        # the two open streams (prepared by their handler: whether the end was written is unknown
        # without the flag), the unswappable, no-entry and final ones; not the stream whose handler
        # wrote its end
        self.assertEqual(self.mw.done_at_answer, 5)
        self.assertEqual(self.mw.done_at_answer_reason, "FinalResponse cannot be subclassed (FinalResponse is final)")
        said = sorted(str(w.message) for w in caught if issubclass(w.category, RuntimeWarning)
                      and "servprof.aiohttp" in str(w.message))
        self.assertEqual(len(said), 4, said)  # once per reason
        for reason in ("no StreamResponse._eof_sent_not_in_this_aiohttp", "Unswappable's class cannot be swapped",
                       "NoEntry takes no entry (this response takes no entries)",
                       "FinalResponse cannot be subclassed"):
            self.assertEqual(sum(reason in w for w in said), 1, (reason, said))
        props = export_properties(self, trace)
        self.assertTrue(props.get("aiohttp.done_at_answer", "").startswith(
            "done at the handler's answer, before aiohttp's write: "), props)

        reqs = export_requests(self, trace)
        self.assertEqual(sorted(reqs), ["503", "final", "late", "no-entry", "open", "open-2", "streamed", "unswappable"])
        for rid, v in reqs.items():
            self.assertEqual((v["outcome"] or {}).get("stringValue", "ok"), "rejected" if rid == "503" else "ok", rid)
        # not prepared when the handler answered: still hooked (the outer middleware's 20 ms inside
        # done; the response start seen)
        self.assertGreaterEqual(reqs["late"]["duration"], 20_000_000)
        self.assertEqual([s[0] for s in reqs["503"]["stages"]], ["postprocess", "preprocess"])
        # not hooked: done at the handler's answer, no response start seen, all preprocess; the stream
        # whose handler wrote its end is told by the public prepared and body_length: done after its
        # writes (its 3 sleeps), exact
        for rid in ("unswappable", "no-entry", "final", "open", "streamed"):
            self.assertEqual(reqs[rid]["stages"], [("preprocess", 0, reqs[rid]["duration"])], rid)
        self.assertGreaterEqual(reqs["streamed"]["duration"], 6_000_000)
        rep = analyze(trace, args=("--outcomes", "all"))
        self.assertEqual(rep["requests"]["count"], 8)

    def test_request_without_transport(self):
        """An aiohttp whose request has no public `transport` (taken here by removing the property):
        the client is not known gone when the handler answers (ok), a ConnectionError from a body read
        is still its leaving (cancelled), and nothing is counted as a fault or raised into the service."""
        prop = web.BaseRequest.__dict__["transport"]
        self.addCleanup(setattr, web.BaseRequest, "transport", prop)
        del web.BaseRequest.transport
        trace = self.path("n.sptrace")
        rec = servprof.Recorder(trace)
        server, seen = self.serve(rec)
        ok = server.get("/ok", {"X-Request-Id": "ok"})
        leave_mid_handler(server, seen, "gone-reading", while_reading=True)
        server.close()
        rec.close()
        self.assertEqual(ok[0], 200)
        self.assertEqual(self.mw.errors, 0, self.mw.last_error)
        reqs = export_requests(self, trace)
        self.assertEqual({rid: (v["outcome"] or {}).get("stringValue", "ok") for rid, v in reqs.items()},
                         {"ok": "ok", "gone-reading": "cancelled"})

    def test_request_refuses_the_entry(self):
        """An aiohttp whose request refuses a str key (typed keys with NotAppKeyWarning, here raised as an
        error: taken by a request class whose __setitem__ does so): the request is still served and
        recorded, current_request() still gives it, the refusal is counted, nothing raised into the service."""
        class Refusing(UserWarning):
            pass
        orig = web.BaseRequest.__setitem__

        def refuse(self, key, value):
            if key == servprof.aiohttp.REQUEST_KEY:
                raise Refusing("It is recommended to use web.RequestKey instances for keys.")
            orig(self, key, value)
        self.addCleanup(setattr, web.BaseRequest, "__setitem__", orig)
        web.BaseRequest.__setitem__ = refuse
        trace = self.path("k.sptrace")
        rec = servprof.Recorder(trace)
        server, seen = self.serve(rec)
        got = server.get("/ok", {"X-Request-Id": "ok"})
        server.close()
        rec.close()
        self.assertEqual(got[0], 200)
        self.assertEqual(got[2], b'{"id": "ok"}')  # current_request() in the handler
        r, in_request = seen["ok"]
        self.assertIsNone(in_request)
        self.assertTrue(r.ended)
        self.assertEqual((self.mw.errors, type(self.mw.last_error)), (1, Refusing))
        reqs = export_requests(self, trace)
        self.assertEqual({rid: (v["outcome"] or {}).get("stringValue", "ok") for rid, v in reqs.items()}, {"ok": "ok"})

    def test_typed_keys_where_aiohttp_has_them(self):
        """On an aiohttp with typed request and response keys (web.RequestKey, web.ResponseKey, taken here
        by stand-ins set before servprof.aiohttp is imported, in a process of its own) the request's
        entry and the hooked response's pending end use them: current_request(request) and the
        request's entry give the request, the hooks still end it where aiohttp writes (after the outer
        middleware's 20 ms), nothing counted as a fault."""
        code = "\n".join([
            "import aiohttp.web as web",
            "class RequestKey:",
            "    def __init__(self, name, t=None): self.name = name",
            "class ResponseKey(RequestKey): pass",
            "web.RequestKey, web.ResponseKey = RequestKey, ResponseKey",
            "import servprof, servprof.aiohttp as a, test_aiohttp as t",
            "assert isinstance(a.REQUEST_KEY, RequestKey) and isinstance(a._PENDING_KEY, ResponseKey)",
            "rec = servprof.Recorder(%r)" % self.path("typed.sptrace"),
            "mw, seen = a.middleware(rec), {}",
            "server = t.Server(t.build_app(mw, seen))",
            "codes = [server.get(p, {'X-Request-Id': p[1:]})[0] for p in ('/ok', '/late')]",
            "server.close(); rec.close()",
            "r, entry = seen['late']",
            "print(codes, entry is r, r.ended, r.done_ns - r.arrival_ns >= 20_000_000, mw.errors, mw.done_at_answer)",
        ])
        p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                           env=dict(os.environ))
        self.assertEqual((p.returncode, p.stdout.strip()), (0, "[200, 200] True True True 0 0"), p.stderr[-3000:])

    def test_numbers_skip_the_applications_int_ids(self):
        """A request without X-Request-Id or traceparent gets the ASGI middleware's next number (the same
        code): one that the application's own int request ids hold, open or ended, is skipped, so the
        trace has one request record per id and loads without --lenient (before: the C path recorded
        the number twice and servprof analyze refused the trace)."""
        import itertools
        trace = self.path("t.sptrace")
        rec = servprof.Recorder(trace)
        self.addCleanup(rec.close)                    # a failed check must not leave it open for the next
        saved = servprof.asgi._ids
        servprof.asgi._ids = itertools.count(1)
        try:
            server, _ = self.serve(rec)
            rec.request(1).end()
            mine = rec.request(3)
            echoed = [server.get("/ok")[1]["x-request-id"] for _ in range(3)]
            mine.end()
            server.close()
        finally:
            servprof.asgi._ids = saved
        rec.close()
        self.assertEqual(echoed, ["2", "4", "5"])
        self.assertEqual(self.mw.errors, 0)
        self.assertEqual(analyze(trace)["outcomes"]["total"], 5)

    def test_bad_options_and_faults(self):
        with servprof.Recorder(self.path("t.sptrace")) as rec:
            with self.assertRaisesRegex(TypeError, r"servprof.aiohttp.middleware: paths must be a list of paths"):
                servprof.aiohttp.middleware(rec, paths="/ok")
            with self.assertRaisesRegex(ValueError, "metrics_path must be a path starting with '/'"):
                servprof.aiohttp.middleware(rec, metrics_path="metrics")
            with self.assertRaisesRegex(TypeError, "recorder must be a servprof.Recorder"):
                servprof.aiohttp.middleware(None)

        # a recorder that refuses every request: the service answers as without the middleware, the
        # refusals counted in errors
        class Refusing:
            def request(self, *a, **k):
                raise RuntimeError("refused")
        server, _ = self.serve(Refusing())
        try:
            self.assertEqual(server.get("/busy")[0], 503)
            self.assertEqual(server.get("/missing")[0], 404)
        finally:
            server.close()
        self.assertEqual(self.mw.errors, 2)
        self.assertEqual(str(self.mw.last_error), "refused")

    def test_loop_stalls(self):
        """With loop_stalls on (servprof.loop; test_loop.py has the rest): a request waiting in its
        handler while another handler does 40 ms of CPU-bound work on the loop gets that time as
        event_loop (at least 30 ms: the threshold and the clock reads aside), its own queue span kept."""
        trace = self.path("t.sptrace")
        rec = servprof.Recorder(trace)
        mw = servprof.aiohttp.middleware(rec, loop_stalls=True)
        go = asyncio.Event()

        async def wait(request):
            r = servprof.aiohttp.current_request()
            with r.stage("queue"):
                await asyncio.sleep(0.001)
            await go.wait()
            return web.Response(text="ok")

        async def spin(request):
            end = time.thread_time() + 0.040
            while time.thread_time() < end:
                pass
            go.set()
            return web.Response(text="ok")

        app = web.Application(middlewares=[mw])
        app.router.add_get("/wait", wait)
        app.router.add_get("/spin", spin)
        server = Server(app)
        try:
            waiter = threading.Thread(target=server.get, args=("/wait", {"X-Request-Id": "wait"}))
            waiter.start()
            time.sleep(0.2)
            server.get("/spin", {"X-Request-Id": "spin"})
            waiter.join(30)
        finally:
            server.close()
        rec.close()
        self.assertEqual(mw.errors, 0, mw.last_error)
        st = export_requests(self, trace)["wait"]["stages"]
        loop = [(s, e) for n, s, e in st if n == "event_loop"]
        queue = [(s, e) for n, s, e in st if n == "queue"]
        self.assertGreaterEqual(sum(e - s for s, e in loop), 30000000, st)
        self.assertTrue(all(e <= a or s >= b for s, e in loop for a, b in queue), st)

    def test_servprof_does_not_import_aiohttp(self):
        code = "import sys, servprof, servprof.asgi; print('aiohttp' in sys.modules)"
        p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                           env=dict(os.environ))
        self.assertEqual((p.returncode, p.stdout.strip()), (0, "False"), p.stderr)


if __name__ == "__main__":
    unittest.main()
