"""servprof.asgi.Middleware on plain ASGI apps called in process (no server needed): the request id
(X-Request-Id, else the traceparent's trace id, echoed), the W3C trace context it continues (read back
through `servprof export --otlp`), the outcome from the status, exceptions and disconnects, the
stage edges it fills, and what it leaves alone (other scope types, excluded paths). With the C
extension: its parts and its whole-request awaitable (_asgi_call) record what the Python path records
on every ending, behave as a coroutine under any driver, leak nothing, and keep the middleware an
ASGI 3 application for uvicorn."""
import asyncio
import contextvars
import gc
import inspect
import itertools
import json
import re
import subprocess
import sys
import time
import traceback
import types
import unittest
import warnings

import servprof
import servprof.asgi
from servprof._common import parse_traceparent
from sptest import BIN, TempDirCase, analyze, export_requests, stages
import servprof.loop  # noqa: E402

# the event loop's stall measure (servprof.loop) is tested in test_loop.py; here, where records are
# compared exactly, they must not depend on how a shared machine schedules the test process
servprof.loop.DEFAULT = False

BACKENDS = ("native", "ctypes")
TRACEPARENT = b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


def call(mw, path="/v1/x", headers=(), body=b"{}"):
    """Runs one HTTP request through `mw`; returns the messages the app sent."""
    sent = []

    async def receive():
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(m):
        sent.append(m)

    scope = {"type": "http", "method": "POST", "path": path, "headers": list(headers)}
    asyncio.run(mw(scope, receive, send))
    return sent


def app_with(status, work=None, raise_=None):
    async def app(scope, receive, send):
        r = servprof.asgi.current_request(scope)
        if work and r is not None:
            work(r)
        if raise_:
            raise raise_
        await send({"type": "http.response.start", "status": status, "headers": [(b"content-type", b"text/plain")]})
        await send({"type": "http.response.body", "body": b"x"})
    return app


class MiddlewareCase(TempDirCase):
    def test_ids_outcomes_and_edges(self):
        rec = servprof.Recorder(self.path("t.sptrace"))
        seen = {}

        def work(r):
            seen[r.id] = r
            t = servprof.now_ns()
            r.span("queue", t, t + 1000)

        mw = servprof.asgi.Middleware(app_with(200, work), rec, exclude=["/healthz"])
        # both: X-Request-Id names the request (one trace may hold many requests), the trace continues
        out = call(mw, headers=[(b"traceparent", TRACEPARENT), (b"x-request-id", b"other")])
        self.assertIn((b"x-request-id", b"other"), out[0]["headers"])
        out = call(mw, headers=[(b"traceparent", TRACEPARENT)])  # alone: its trace id names the request
        self.assertIn((b"x-request-id", b"4bf92f3577b34da6a3ce929d0e0e4736"), out[0]["headers"])
        out = call(mw, headers=[(b"x-request-id", b"client-7")])
        self.assertIn((b"x-request-id", b"client-7"), out[0]["headers"])
        out = call(mw, headers=[(b"x-request-id", b"bad\x01id")])  # not printable: a number of its own
        self.assertIn((b"x-request-id", b"1"), out[0]["headers"])
        call(mw, path="/healthz")                                   # excluded: not recorded
        self.assertEqual(sorted(map(str, seen)), ["1", "4bf92f3577b34da6a3ce929d0e0e4736", "client-7", "other"])
        r = seen["client-7"]
        self.assertTrue(r.ended)
        for status, outcome in ((503, "rejected"), (429, "rejected"), (404, "error"), (302, "ok")):
            call(servprof.asgi.Middleware(app_with(status), rec), headers=[(b"x-request-id", b"s%d" % status)])
        with self.assertRaises(ZeroDivisionError):
            call(servprof.asgi.Middleware(app_with(200, raise_=ZeroDivisionError()), rec))
        with self.assertRaises(asyncio.CancelledError):
            call(servprof.asgi.Middleware(app_with(200, raise_=asyncio.CancelledError()), rec))

        async def no_body(scope, receive, send):  # the response never finishes: the client went away
            await send({"type": "http.response.start", "status": 200, "headers": []})
        call(servprof.asgi.Middleware(no_body, rec))

        async def lifespan(scope, receive, send):
            seen["lifespan"] = servprof.asgi.current_request()
        asyncio.run(servprof.asgi.Middleware(lifespan, rec)({"type": "lifespan"}, None, None))
        self.assertIsNone(seen["lifespan"])
        rec.close()
        rep = analyze(self.path("t.sptrace"), args=("--outcomes", "all"))
        by = rep["outcomes"]["by_outcome"]
        self.assertEqual((by["ok"]["count"], by["rejected"]["count"], by["error"]["count"], by["cancelled"]["count"]),
                         (5, 2, 2, 2))
        self.assertEqual({s["status"]: s["count"] for s in rep["outcomes"]["statuses"]},
                         {503: 1, 429: 1, 404: 1, 500: 1, 200: 1})
        # the two requests that came with the traceparent, and only they, carry a trace context
        self.assertEqual(rep["clock"]["trace_context"]["requests"], 2)
        # every request's life is covered: the app's queue span, the filled preprocess and postprocess
        st = stages(rep)
        self.assertEqual(st["other"]["p99_us"], 0.0)
        self.assertGreater(st["preprocess"]["p50_us"], 0)
        self.assertGreater(st["postprocess"]["p50_us"], 0)

    def test_trace_says_it_runs_an_event_loop(self):
        # the middleware writes the property `event_loop` = `asyncio` (docs/native-format.md,
        # "Properties"), so the report reads uncovered time with a blocked loop in mind: here the app
        # blocks the loop for 20 ms between two spans of its own, which nothing covers (`other` leads)
        rec = servprof.Recorder(self.path("t.sptrace"))

        def work(r):
            t = servprof.now_ns()
            r.span("queue", t, t + 1000)
            time.sleep(0.02)
            t = servprof.now_ns()
            r.span("queue", t, t + 1000)

        mw = servprof.asgi.Middleware(app_with(200, work), rec)
        for i in range(3):
            call(mw, headers=[(b"x-request-id", b"loop-%d" % i)])
        self.assertEqual(mw.errors, 0)
        rec.close()
        v = analyze(self.path("t.sptrace"))["verdict"]
        self.assertEqual(v["stage"], "other")
        self.assertIn("In an asyncio server such time is often a blocked event loop", v["sentence"])
        self.assertIn("blocked event loop", [c["fix"] for c in v["ranking"] if c["stage"] == "other"][0])

    def test_end_is_not_before_a_token(self):
        """An app that records a token timed after now (a time_ns from a later clock read): the
        middleware's end, which would be done = now, is no earlier than the token, so the trace loads
        without --lenient (docs/python.md, "No record the analysis refuses"). Without it: the token is
        outside [arrival, done]."""
        rec = servprof.Recorder(self.path("t.sptrace"))
        later = servprof.now_ns() + 60 * 10**9
        seen = []

        def work(r):
            seen.append(r)
            r.token(time_ns=later)
        # named, so that it takes no number from the sequence test_ids_outcomes_and_edges counts on
        call(servprof.asgi.Middleware(app_with(200, work), rec), headers=[(b"x-request-id", b"t")])
        rec.close()
        rep = analyze(self.path("t.sptrace"))
        self.assertEqual(rep["outcomes"]["total"], 1)
        self.assertEqual(rep["generation"]["requests_bad_tokens"], 0)
        self.assertEqual(seen[0].done_ns, later)

    def test_disconnect_seen_through_receive(self):
        # the app reads the body, then hears http.disconnect and still answers (as a streaming app
        # may): the client went away before the response was done, so the request is cancelled with
        # the status it was given, on whichever path the backend takes (receive is wrapped on both)
        rec = servprof.Recorder(self.path("d.sptrace"))
        msgs = [{"type": "http.request", "body": b"{}", "more_body": False}, {"type": "http.disconnect"}]

        async def receive():
            return msgs.pop(0)

        async def app(scope, receive, send):
            await receive()
            await receive()
            await send({"type": "http.response.start", "status": 200, "headers": []})
            await send({"type": "http.response.body", "body": b"x"})

        async def send(m):
            pass
        scope = {"type": "http", "method": "POST", "path": "/v1/x", "headers": [(b"x-request-id", b"gone")]}
        asyncio.run(servprof.asgi.Middleware(app, rec)(scope, receive, send))
        call(servprof.asgi.Middleware(app_with(200), rec), headers=[(b"x-request-id", b"stayed")])
        rec.close()
        by = analyze(self.path("d.sptrace"), args=("--outcomes", "all"))["outcomes"]["by_outcome"]
        self.assertEqual((by["ok"]["count"], by["cancelled"]["count"]), (1, 1))

    def test_disconnect_seen_by_the_server(self):
        # uvicorn (0.17 and its main branch) never raises from a send to a closed connection: it drops
        # it and marks its connection cycle, whose bound methods are `receive` and `send`,
        # `disconnected`. An app that reads its body and answers without another receive() (a plain
        # JSON endpoint whose client timed out while the request waited) was recorded ok; the client
        # left before the response was done, so it is cancelled with its status, on both paths. Only
        # a bound method whose owner's `disconnected` is exactly True counts, read at the done.
        class Cycle:  # the parts of uvicorn's RequestResponseCycle the middleware reads
            def __init__(self, gone_at):
                self.gone_at, self.disconnected, self.sends = gone_at, False, 0

            async def receive(self):
                return {"type": "http.request", "body": b"{}", "more_body": False}

            async def send(self, m):
                self.sends += 1
                if self.sends == self.gone_at:
                    self.disconnected = True

        class Odd(Cycle):  # `disconnected` that is not exactly True, or cannot be read
            def __init__(self, value):
                super().__init__(0)
                self.value = value

            def __getattribute__(self, name):
                if name == "disconnected":
                    v = object.__getattribute__(self, "value")
                    if v is RuntimeError:
                        raise RuntimeError("a property that fails")
                    return v
                return object.__getattribute__(self, name)

        async def app(scope, receive, send):
            await receive()
            await send({"type": "http.response.start", "status": 200, "headers": []})
            await send({"type": "http.response.body", "body": b"x"})

        rec = servprof.Recorder(self.path("g.sptrace"))
        mw = servprof.asgi.Middleware(app, rec)
        cases = {"before-start": (Cycle(-1), "cancelled"),      # gone before anything was sent
                 "after-start": (Cycle(1), "cancelled"),        # gone after the response start
                 "after-done": (Cycle(2), "ok"),                # gone once the last chunk was handed over
                 "stayed": (Cycle(0), "ok"),
                 "one": (Odd(1), "ok"), "text": (Odd("yes"), "ok"), "raises": (Odd(RuntimeError), "ok")}
        for rid, (cyc, _) in cases.items():
            if cyc.gone_at == -1:
                cyc.disconnected = True
            scope = {"type": "http", "method": "POST", "path": "/v1/x", "headers": [(b"x-request-id", rid.encode())]}
            asyncio.run(mw(scope, cyc.receive, cyc.send))
        # a send that is no bound method (a closure) is never read
        call(mw, headers=[(b"x-request-id", b"closure")])
        rec.close()
        self.assertEqual(mw.errors, 0)
        got = export_requests(self, self.path("g.sptrace"))
        want = {rid: want for rid, (_, want) in cases.items()}
        want["closure"] = "ok"
        # (the export leaves out the outcome and the status of an ok request)
        self.assertEqual({rid: (got[rid]["outcome"] or {"stringValue": "ok"})["stringValue"] for rid in want}, want)
        self.assertEqual({got[rid]["status"]["intValue"] for rid in want if want[rid] == "cancelled"}, {"200"})

    def test_trace_context_continues_the_callers(self):
        """The server span of a request that came with a traceparent is in the caller's trace, its
        parent the caller's span (the header's parent-id), its own span a fresh one; two requests of
        one trace get two spans. A malformed traceparent is ignored (a trace of its own at export)."""
        rec = servprof.Recorder(self.path("t.sptrace"))
        mw = servprof.asgi.Middleware(app_with(200), rec)
        call(mw, headers=[(b"traceparent", TRACEPARENT), (b"x-request-id", b"a")])
        call(mw, headers=[(b"traceparent", TRACEPARENT), (b"x-request-id", b"b")])
        call(mw, headers=[(b"traceparent", TRACEPARENT.upper()), (b"x-request-id", b"c")])  # upper case: invalid
        rec.close()
        out = self.path("o.jsonl")
        p = subprocess.run([BIN, "export", "--otlp", out, self.path("t.sptrace")], capture_output=True, text=True,
                           timeout=120)
        self.assertEqual(p.returncode, 0, p.stderr)
        servers = {}
        with open(out) as f:
            for line in f:
                for rs in json.loads(line)["resourceSpans"]:
                    for ss in rs["scopeSpans"]:
                        for sp in ss["spans"]:
                            if sp["kind"] == 2:  # SPAN_KIND_SERVER
                                rid = next(a["value"]["stringValue"] for a in sp["attributes"]
                                           if a["key"] == "servprof.request")
                                servers[rid] = sp
        self.assertEqual(sorted(servers), ["a", "b", "c"])
        for rid in ("a", "b"):
            self.assertEqual(servers[rid]["traceId"], "4bf92f3577b34da6a3ce929d0e0e4736")
            self.assertEqual(servers[rid]["parentSpanId"], "00f067aa0ba902b7")
            self.assertRegex(servers[rid]["spanId"], "^[0-9a-f]{16}$")
            self.assertEqual(servers[rid]["flags"] & 0xff, 1)  # the caller's sampled flag
        self.assertNotEqual(servers["a"]["spanId"], servers["b"]["spanId"])
        self.assertNotEqual(servers["c"]["traceId"], "4bf92f3577b34da6a3ce929d0e0e4736")
        self.assertNotIn("parentSpanId", servers["c"])

    def test_traceparent_rules(self):
        """The Recommendation's rules (https://www.w3.org/TR/trace-context/ section 3.2), as the C
        parser applies them (test_trace_context.c has the same cases)."""
        tp = servprof.asgi.trace_from_headers
        ok = [(b"traceparent", TRACEPARENT)]
        self.assertEqual(tp(ok), ("4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7", 1))
        for bad in (TRACEPARENT.upper(), TRACEPARENT + b"-x", b"ff" + TRACEPARENT[2:],
                    b"00-" + b"0" * 32 + TRACEPARENT[35:], TRACEPARENT[:36] + b"0" * 16 + TRACEPARENT[52:],
                    TRACEPARENT[:54], b""):
            self.assertIsNone(tp([(b"traceparent", bad)]), bad)
        # a later version may append fields after a '-'
        self.assertIsNotNone(tp([(b"traceparent", b"01" + TRACEPARENT[2:] + b"-later")]))
        self.assertIsNone(tp([(b"traceparent", b"01" + TRACEPARENT[2:] + b"later")]))
        self.assertRegex(servprof.asgi.new_span_id(), re.compile("^[0-9a-f]{16}$"))

    def test_rejects_a_non_recorder(self):
        with self.assertRaises(TypeError):
            servprof.asgi.Middleware(app_with(200), None)

    def test_paths_and_exclude_must_be_lists(self):
        """paths="/v1/x" or exclude="/healthz" (a str where a list goes) is a TypeError that shows the
        list to write. Before, the str was taken letter by letter: paths="/v1/embed" recorded every
        path (its letter "/" is a prefix of each) and exclude="/health" excluded only "/"."""
        with servprof.Recorder(self.path("t.sptrace")) as rec:
            with self.assertRaisesRegex(TypeError, r"paths must be a list of paths, not a str: paths=\['/v1/embed'\]"):
                servprof.asgi.Middleware(app_with(200), rec, paths="/v1/embed")
            with self.assertRaisesRegex(TypeError, r"exclude must be a list of paths, not a str: exclude=\['/health'\]"):
                servprof.asgi.Middleware(app_with(200), rec, exclude="/health")
            mw = servprof.asgi.Middleware(app_with(200), rec, paths=["/v1/embed", "/v2/"], exclude=("/v2/health",))
            for path in ("/v1/embed", "/v1/embed_sync", "/v2/a", "/v2/health", "/health", "/"):
                call(mw, path)
        got = export_requests(self, self.path("t.sptrace"))
        self.assertEqual(len(got), 2)  # /v1/embed exactly, /v2/a under the prefix "/v2/"


class NumberCase(TempDirCase):
    """A request that comes without an id gets the next number of servprof.asgi._ids, which is an int
    id: the trace's own. The application may record requests of its own with int ids on the same
    recorder; a number one of them holds, open or ended, is skipped. Before, the C path recorded the
    number anyway (two request records of one id: servprof analyze refused the trace) and the Python
    path left the request unrecorded (a fault: rec.request refused the open id)."""

    def setUp(self):
        super().setUp()
        self.saved = servprof.asgi._ids
        self.rec = None

    def tearDown(self):
        servprof.asgi._ids = self.saved
        if self.rec is not None:
            self.rec.close()
        super().tearDown()

    # the forms of the headers: the C path's (a list of (bytes, bytes) tuples), and one it hands to
    # the Python path (lists as items); with the ctypes backend both take the Python path
    FORMS = ([(b"host", b"h")], [[b"host", b"h"]])

    def test_numbers_skip_the_applications_int_ids(self):
        path = self.path("t.sptrace")
        rec = self.rec = servprof.Recorder(path)
        mw = servprof.asgi.Middleware(app_with(200), rec)
        servprof.asgi._ids = itertools.count(1)
        rec.request(2).end()                          # the application's own: one ended, one open
        mine = rec.request(4)
        echoed = []
        for form in self.FORMS * 3:
            out = call(mw, headers=form)
            echoed.append(dict(out[0]["headers"])[b"x-request-id"])
        mine.end()
        self.assertEqual(echoed, [b"1", b"3", b"5", b"6", b"7", b"8"])
        self.assertEqual((mw.errors, mw.last_error), (0, None))
        with self.assertRaisesRegex(ValueError, "request id 5 was already used"):
            rec.request(5)                            # and the middleware's numbers are kept too
        rec.close()
        self.rec = None
        self.assertEqual(analyze(path)["outcomes"]["total"], 8)

    def test_numbers_all_taken(self):
        """A number sequence that only gives taken numbers (here one that repeats an ended id): after
        NUMBER_SKIPS in a row the request is left unrecorded and counted as a fault, never recorded
        twice nor raised into the server; the application still answers."""
        path = self.path("t.sptrace")
        rec = self.rec = servprof.Recorder(path)
        mw = servprof.asgi.Middleware(app_with(200), rec)
        rec.request(2).end()
        servprof.asgi._ids = itertools.repeat(2)
        for n, form in enumerate(self.FORMS, 1):
            out = call(mw, headers=form)
            self.assertEqual(out[0]["status"], 200)
            self.assertEqual(mw.errors, n)
            self.assertRegex(str(mw.last_error), "request numbers up to 2 are all taken by the application's own int")
        rec.close()
        self.rec = None
        self.assertEqual(analyze(path)["outcomes"]["total"], 1)

    def test_repeated_header_ids_load(self):
        """The same X-Request-Id or traceparent on requests in a row or at once: each request gets a trace
        id of its own (the header is its label), so the trace loads; the analysis keeps repeated labels
        apart and counts them (docs/native-format.md, "Requests and labels")."""
        path = self.path("t.sptrace")
        rec = self.rec = servprof.Recorder(path)

        async def slow(scope, receive, send):
            await asyncio.sleep(0.01)
            await app_with(200)(scope, receive, send)
        mw = servprof.asgi.Middleware(slow, rec)
        same = [[(b"x-request-id", b"same")], [(b"traceparent", TRACEPARENT)]]

        async def run():
            async def receive():
                return {"type": "http.request", "body": b"", "more_body": False}

            async def send(m):
                pass

            def one(h):
                return mw({"type": "http", "method": "GET", "path": "/", "headers": h}, receive, send)
            for h in same * 2:
                await one(h)
            await asyncio.gather(*[one(h) for h in same * 2])
        asyncio.run(run())
        self.assertEqual(mw.errors, 0)
        rec.close()
        self.rec = None
        self.assertEqual(analyze(path)["outcomes"]["total"], 8)


class CPathCase(TempDirCase):
    """The C extension's bookkeeping of a request (servprof._native._asgi_begin and _asgi_end, the
    middleware's fast path) records exactly what the Python path (Middleware._begin and _finish, which
    the ctypes backend runs) records: the same ids, echoed ids, trace contexts, outcomes, statuses and
    filled stage edges, case by case on two recorders."""

    def setUp(self):
        if servprof.asgi._c_begin is None:  # before the temporary folder: no tearDown follows a skip here
            self.skipTest("the ctypes backend has only the Python path")
        super().setUp()

    def test_traceparent_parsers_agree(self):
        """libservprof's sp_trace_context_parse (the C path) and _common.parse_traceparent (the Python
        path) accept and reject the same headers, with the same fields."""
        cases = [TRACEPARENT, TRACEPARENT.upper(), TRACEPARENT + b"-x", b"ff" + TRACEPARENT[2:],
                 b"00-" + b"0" * 32 + TRACEPARENT[35:], TRACEPARENT[:36] + b"0" * 16 + TRACEPARENT[52:],
                 TRACEPARENT[:54], b"", b"01" + TRACEPARENT[2:] + b"-later", b"01" + TRACEPARENT[2:] + b"later",
                 b" \t" + TRACEPARENT + b"\t ", b"\n" + TRACEPARENT, TRACEPARENT.replace(b"-", b"_"),
                 TRACEPARENT[:10] + b"\xff" + TRACEPARENT[11:], TRACEPARENT[:-2] + b"00", TRACEPARENT[:-2] + b"ff",
                 TRACEPARENT[:-1] + b"g", b"00" + TRACEPARENT[2:] + b"0", b"01" + TRACEPARENT[2:], b"0" * 55]
        for v in cases:
            self.assertEqual(servprof._impl._parse_traceparent(v), parse_traceparent(v), v)

    def test_begin_matches_the_python_path(self):
        long_id = b"r" * 256
        cases = [
            [(b"x-request-id", b"client-7")],
            [(b"x-request-id", b"  spaced\t")],                          # stripped
            [(b"x-request-id", b"bad\x01id"), (b"x-request-id", b"second")],  # the first valid one
            [(b"x-request-id", long_id), (b"traceparent", TRACEPARENT)],  # too long: the trace id
            [(b"x-request-id", b"r" * 255)],
            [(b"x-request-id", b"caf\xc3\xa9")],                         # not ASCII: a number
            [(b"x-request-id", b"")],
            [(b"traceparent", TRACEPARENT)],
            [(b"traceparent", TRACEPARENT), (b"x-request-id", b"other")],
            [(b"traceparent", TRACEPARENT.upper())],                     # invalid: a number, no context
            [(b"traceparent", b"junk"), (b"traceparent", TRACEPARENT)],   # only the first traceparent counts
            [(b"traceparent", TRACEPARENT[:-2] + b"00")],                # not sampled
            [(b"X-Request-Id", b"upper-name")],                          # ASGI names are lower case
            [(b"host", b"h"), (b"content-type", b"application/json")],
            [],
        ]
        t0 = servprof.now_ns()
        saved = servprof.asgi._ids
        seen = {}
        try:
            for side in ("c", "p"):  # one recorder per process: the C path's, then the Python path's
                rec = servprof.Recorder(self.path(side + ".sptrace"))
                mw = servprof.asgi.Middleware(app_with(200), rec)
                ids = servprof.asgi._ids = itertools.count(1000)
                seen[side] = []
                for i, headers in enumerate(cases):
                    for form in (list(headers), tuple(headers)):
                        if side == "c":
                            r, echo = servprof.asgi._c_begin(rec, form, t0 + i, ids)
                        else:
                            r, echo = mw._begin(form, t0 + i)
                        seen[side].append((headers, r.id, echo, r.arrival_ns))
                        r.end(t0 + i + 1000)
                if side == "c":
                    with self.assertRaises(TypeError):  # ids must be an iterator: an error, not a crash
                        servprof.asgi._c_begin(rec, [], t0, [1, 2])
                    # headers the C path does not take (lists as items, str values): Python's
                    self.assertIsNone(servprof.asgi._c_begin(rec, [[b"x-request-id", b"l"]], t0, ids))
                    self.assertIsNone(servprof.asgi._c_begin(rec, [(b"x-request-id", "s")], t0, ids))
                    self.assertIsNone(servprof.asgi._c_begin(rec, iter([(b"x-request-id", b"g")]), t0, ids))
                rec.close()
        finally:
            servprof.asgi._ids = saved
        for c, p in zip(seen["c"], seen["p"]):
            self.assertEqual(c, p)
        self.assertEqual(len(seen["c"]), 2 * len(cases))
        got_c, got_p = export_requests(self, self.path("c.sptrace")), export_requests(self, self.path("p.sptrace"))
        self.assertEqual(sorted(got_c), sorted(got_p))
        with_context = set()
        for rid in got_c:
            c, p = got_c[rid], got_p[rid]
            self.assertEqual(c["trace"][1] is None, p["trace"][1] is None, rid)
            if p["trace"][1] is not None:  # a continued trace: the caller's trace, its span as parent
                with_context.add(rid)
                self.assertEqual(c["trace"], p["trace"], rid)
                self.assertRegex(c["span"], "^[0-9a-f]{16}$")
                self.assertNotEqual(c["span"], "0" * 16)
        # (export names a label that repeats by its number: the cases named by the trace id repeat)
        self.assertIn("other", with_context)
        self.assertIn("4bf92f3577b34da6a3ce929d0e0e4736", with_context)
        self.assertNotIn("client-7", with_context)

    def test_end_matches_the_python_path(self):
        us = 1000
        # (status, response start, done (None: never finished), disconnected, exception, the app's spans,
        #  the app's outcome, fill_stages), times in us after arrival
        cases = [
            (200, 50, 80, False, None, [], None, True),                           # nothing recorded: cut at start
            (200, None, 80, False, None, [], None, True),                         # no start: all preprocess
            (200, 50, 80, False, None, [("queue", 10, 30)], None, True),          # edges around the app's span
            (200, 50, 80, False, None, [("queue", 0, 90)], None, True),           # span past done: no postprocess
            (200, 50, 80, False, None, [("queue", 10, 30)], None, False),         # fill off
            (503, 50, 80, False, None, [], None, True),
            (429, 50, 80, False, None, [], None, True),
            (404, 50, 80, False, None, [], None, True),
            (302, 50, 80, False, None, [], None, True),
            (200, 50, 80, True, None, [], None, True),                            # client went away first
            (0, None, None, False, None, [], None, True),                         # never finished
            (0, None, 80, False, ZeroDivisionError(), [], None, True),            # exception, no status: 500
            (502, 50, 80, False, ZeroDivisionError(), [], None, True),            # exception after a 502
            (200, 50, 80, False, asyncio.CancelledError(), [], None, True),
            (503, 50, 80, False, None, [], ("error", 418), True),                 # the app's outcome wins
            (200, 50, 80, False, None, [("queue", 10, 30)], ("ok", 0), True),
        ]
        t0 = servprof.now_ns()
        seen = {}
        for side in ("c", "p"):  # one recorder per process: the C path's, then the Python path's
            rec = servprof.Recorder(self.path(side + ".sptrace"))
            mw = servprof.asgi.Middleware(app_with(200), rec)
            seen[side] = []
            for i, (status, start, done, disc, exc, spans, outcome, fill) in enumerate(cases):
                arrival = t0 + i * 1000 * us
                r = rec.request("case-%d" % i, arrival_ns=arrival)
                for name, s, e in spans:
                    r.span(name, arrival + s * us, arrival + e * us)
                if outcome:
                    r.outcome(*outcome)
                st = servprof.asgi._State()
                st.status, st.disconnected = status, disc
                st.response_start = None if start is None else arrival + start * us
                st.done = None if done is None else arrival + done * us
                if side == "c":
                    servprof.asgi._c_end(r, st.status, st.response_start, st.done, st.disconnected, exc, fill)
                else:
                    mw.fill_stages = fill
                    mw._finish(r, st, exc)
                seen[side].append((r.ended, r.outcome_name, r.status) +
                                  ((r.done_ns, r.first_ns, r.last_ns) if done is not None else ()))
                if side == "c" and i == 0:  # an ended request is left alone
                    servprof.asgi._c_end(r, 500, None, None, True, None, True)
                    self.assertEqual((r.outcome_name, r.status), ("ok", 0))
            rec.close()
        for case, c, p in zip(cases, seen["c"], seen["p"]):
            self.assertEqual(c, p, case)
        got_c, got_p = export_requests(self, self.path("c.sptrace")), export_requests(self, self.path("p.sptrace"))
        self.assertEqual(len(got_c), len(cases))
        for rid in got_c:
            c, p = got_c[rid], got_p[rid]
            self.assertEqual((c["status"], c["outcome"]), (p["status"], p["outcome"]), rid)
            if cases[int(rid.split("-")[1])][2] is not None:  # a done time of its own: exact agreement
                self.assertEqual((c["duration"], c["stages"]), (p["duration"], p["stages"]), rid)
        # a hand-checked case: spans at 10..30 us, response start 50, done 80 -> preprocess 0..10 and
        # postprocess 30..80 filled around the app's queue span
        self.assertEqual(got_c["case-2"]["stages"], [("postprocess", 30 * us, 80 * us), ("preprocess", 0, 10 * us),
                                                     ("queue", 10 * us, 30 * us)])
        self.assertEqual(got_c["case-0"]["stages"], [("postprocess", 50 * us, 80 * us), ("preprocess", 0, 50 * us)])

    def test_send_wrapper_matches_the_python_path(self):
        """_AsgiSend (the C path's send wrapper) passes on what send_wrapper passes on: X-Request-Id
        added to a response start that lacks one in any case, the app's own kept, nothing added with
        echo_request_id=False; and it notes the same status, response start and done (the last body
        chunk: more_body False or absent)."""
        starts = [
            {"type": "http.response.start", "status": 201, "headers": [(b"content-type", b"text/plain")]},
            {"type": "http.response.start", "status": 200, "headers": [(b"X-Request-ID", b"mine")]},
            {"type": "http.response.start", "status": 200, "headers": ((b"x-request-id", b"mine"),)},
            {"type": "http.response.start", "status": 404},
            {"type": "http.response.start", "status": 200, "headers": None},
            {"type": "http.response.start"},
        ]
        bodies = [[{"type": "http.response.body", "body": b"x"}],
                  [{"type": "http.response.body", "body": b"a", "more_body": True},
                   {"type": "http.response.body", "body": b"b", "more_body": False}],
                  [{"type": "http.response.body", "body": b"a", "more_body": True}]]  # never finished
        for start in starts:
            for body in bodies:
                for echo in (True, False):
                    sent, notes = {}, {}
                    for side in ("c", "p"):
                        async def send(m, side=side):
                            sent.setdefault(side, []).append(m)
                        sw = servprof._impl._AsgiSend(send, b"id-1" if echo else None) if side == "c" else None
                        if side == "p":  # the Python path's wrapper, run through a real middleware
                            saved = servprof.asgi._c_call
                            servprof.asgi._c_call = None
                        try:
                            if side == "c":
                                async def drive():
                                    for m in [dict(start)] + [dict(b) for b in body]:
                                        await sw(m)
                                asyncio.run(drive())
                                notes["c"] = (sw.status, sw.response_start is not None, sw.done is not None)
                            else:
                                rec_sent = sent.setdefault("p", [])

                                async def app(scope, receive, send_):
                                    for m in [dict(start)] + [dict(b) for b in body]:
                                        await send_(m)
                                rec = servprof.Recorder(self.path("p.sptrace"))
                                mw = servprof.asgi.Middleware(app, rec, echo_request_id=echo)
                                got = call(mw, headers=[(b"x-request-id", b"id-1")])
                                rec_sent.extend(got)
                                rec.close()
                                notes["p"] = None
                        finally:
                            if side == "p":
                                servprof.asgi._c_call = saved
                    self.assertEqual(sent["c"], sent["p"], (start, body, echo))
                    status = start.get("status", 0)
                    self.assertEqual(notes["c"], (status, True, body[-1].get("more_body") is not True),
                                     (start, body))

    def test_middleware_takes_the_c_path(self):
        """Through the middleware with the C extension, the Python path is not used for ordinary
        headers (so the benchmark measures the fast path)."""
        rec = servprof.Recorder(self.path("t.sptrace"))
        mw = servprof.asgi.Middleware(app_with(200), rec)

        def refuse(*a):
            raise AssertionError("the Python path ran")
        mw._begin = refuse
        mw._finish = refuse
        out = call(mw, headers=[(b"x-request-id", b"fast"), (b"traceparent", TRACEPARENT)])
        self.assertIn((b"x-request-id", b"fast"), out[0]["headers"])
        self.assertEqual(mw.errors, 0, mw.last_error)
        rec.close()
        got = export_requests(self, self.path("t.sptrace"))
        self.assertEqual(got["fast"]["trace"], ("4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7", 1))


@types.coroutine
def suspend(what="suspend"):
    """An awaitable that yields `what` to whoever drives the coroutine and returns what it is sent."""
    return (yield what)


def drive(coro, limit=100):
    """Runs a coroutine without an event loop: send(None) until it returns; its return value."""
    try:
        for _ in range(limit):
            coro.send(None)
    except StopIteration as e:
        return e.value
    raise AssertionError("the coroutine did not finish")


def scope_for(rid):
    return {"type": "http", "method": "POST", "path": "/v1/x", "headers": [(b"x-request-id", rid.encode())]}


async def recv_request():
    return {"type": "http.request", "body": b"{}", "more_body": False}


async def send_nothing(m):
    pass


async def reply(send, status=200, more=()):
    await send({"type": "http.response.start", "status": status, "headers": []})
    for chunk in more:
        await send({"type": "http.response.body", "body": chunk, "more_body": True})
    await send({"type": "http.response.body", "body": b"x"})


class Boom(Exception):
    pass


class AwaitableCase(TempDirCase):
    """The C path runs the whole request as one C awaitable (servprof._native._asgi_call, the
    _AsgiCall it returns): every way a request can end records what the Python path records, and
    the awaitable behaves as a coroutine under asyncio, under other drivers and under a tracer."""

    def setUp(self):
        if servprof.asgi._c_call is None:  # before the temporary folder: no tearDown follows a skip here
            self.skipTest("the ctypes backend has only the Python path")
        super().setUp()

    # Each scenario: (request id, the app, how to run it). Runners return what they observed, so the
    # C and Python paths can be compared beyond the records (exceptions, values the app saw).
    def scenarios(self):
        def run(app, rid, receive=recv_request, send=send_nothing):
            mw = servprof.asgi.Middleware(app, self.rec)
            self.mws.append(mw)
            return mw(scope_for(rid), receive, send)

        def plain(status, more=()):
            async def app(scope, receive, send):
                await receive()
                await reply(send, status, more)
            return app

        async def raises(scope, receive, send):
            await asyncio.sleep(0)
            raise Boom("from the app")

        async def raises_after_502(scope, receive, send):
            await send({"type": "http.response.start", "status": 502, "headers": []})
            raise Boom("after the start")

        async def never_finishes(scope, receive, send):
            await send({"type": "http.response.start", "status": 200, "headers": []})

        async def waits(scope, receive, send):
            await send({"type": "http.response.start", "status": 200, "headers": []})
            await asyncio.Event().wait()

        async def suspends(scope, receive, send):
            await send({"type": "http.response.start", "status": 200, "headers": []})
            await suspend()
            await send({"type": "http.response.body", "body": b"x"})

        async def sends_twice(scope, receive, send):  # a last body chunk after the response was done
            await reply(send)
            await send({"type": "http.response.body", "body": b"again"})

        async def status_not_int(scope, receive, send):  # a bookkeeping error: counted, never raised
            await send({"type": "http.response.start", "status": "200", "headers": []})
            await send({"type": "http.response.body", "body": b"x"})

        msgs = {}

        def receive_then(rid, *extra):
            box = msgs.setdefault(rid, [{"type": "http.request", "body": b"{}", "more_body": False}, *extra])

            async def receive():
                return box.pop(0) if box else {"type": "http.disconnect"}
            return receive

        async def reads_twice(scope, receive, send):  # the client goes away before the response
            await receive()
            await receive()
            await reply(send)

        async def receive_after_response(scope, receive, send):  # re-entrant: receive after the end
            await receive()
            await reply(send)
            self.observed["after"] = (await receive())["type"]

        @types.coroutine
        def generator_app(scope, receive, send):  # a generator-based coroutine (types.coroutine)
            yield from send({"type": "http.response.start", "status": 201, "headers": []}).__await__()
            yield from send({"type": "http.response.body", "body": b""}).__await__()

        class AwaitableApp:  # a plain ASGI callable returning a non-coroutine awaitable
            def __init__(self, scope, receive, send):
                self.send = send

            def __await__(self):
                yield from self.send({"type": "http.response.start", "status": 202, "headers": []}).__await__()
                yield from suspend()
                yield from self.send({"type": "http.response.body", "body": b""}).__await__()
                return "ignored"

        def in_loop(rid, app, **kw):
            def go():
                asyncio.run(run(app, rid, **kw))
            return go

        def expect(exc_type, go):
            def wrapped():
                try:
                    go()
                except exc_type as e:
                    self.observed[exc_type.__name__] = e
                else:
                    raise AssertionError("%s did not propagate" % exc_type.__name__)
            return wrapped

        def cancelled():
            async def main():
                task = asyncio.ensure_future(run(waits, "cancel"))
                await asyncio.sleep(0.01)
                task.cancel()
                await task
            asyncio.run(main())

        def closed_early():
            coro = run(suspends, "closed")
            self.assertEqual(coro.send(None), "suspend")
            coro.close()

        def collected_early():  # started in a context of its own, dropped, collected from this one
            coro = run(suspends, "collected")
            self.assertEqual(contextvars.copy_context().run(coro.send, None), "suspend")
            del coro
            gc.collect()

        def traced():  # under a tracer the interpreter drives awaitables through send() and __next__
            old = sys.gettrace()
            sys.settrace(lambda *a: None)
            try:
                asyncio.run(run(plain(200), "traced"))
                try:
                    asyncio.run(run(raises, "traced-error"))
                except Boom:
                    pass
            finally:
                sys.settrace(old)

        return [
            ("ok", in_loop("ok", plain(200))),
            ("streamed", in_loop("streamed", plain(200, more=(b"a", b"b")))),
            ("404", in_loop("404", plain(404))),
            ("500", in_loop("500", plain(500))),
            ("503", in_loop("503", plain(503))),
            ("429", in_loop("429", plain(429))),
            ("exception", expect(Boom, in_loop("exception", raises))),
            ("exception-502", expect(Boom, in_loop("exception-502", raises_after_502))),
            ("cancel", expect(asyncio.CancelledError, cancelled)),
            ("disconnect", in_loop("disconnect", reads_twice, receive=receive_then("disconnect"))),
            ("receive-after", in_loop("receive-after", receive_after_response, receive=receive_then("receive-after"))),
            ("never-finished", in_loop("never-finished", never_finishes)),
            ("closed", closed_early),
            ("collected", collected_early),
            ("send-after-done", in_loop("send-after-done", sends_twice)),
            ("status-not-int", in_loop("status-not-int", status_not_int)),
            ("generator", in_loop("generator", generator_app)),
            ("awaitable", lambda: drive(run(AwaitableApp, "awaitable"))),
            ("traced", traced),
        ]

    def run_side(self, side):
        self.rec = servprof.Recorder(self.path(side + ".sptrace"))
        self.mws, self.observed = [], {}
        saved = servprof.asgi._c_call
        if side == "p":
            servprof.asgi._c_call = None
        try:
            for name, go in self.scenarios():
                go()
            stats = self.rec.stats()
        finally:
            servprof.asgi._c_call = saved
            self.rec.close()
        stats["unfinished_at_close"] = self.rec.stats()["unfinished_at_close"]
        errors = sum(mw.errors for mw in self.mws)
        return stats, errors, self.observed

    def test_every_ending_matches_the_python_path(self):
        got = {}
        for side in ("c", "p"):
            stats, errors, observed = self.run_side(side)
            # every request ended by the middleware, none left to the recorder's close: the ones whose
            # bookkeeping failed (status "200") excepted, on both paths alike
            got[side] = (stats, errors, observed, export_requests(self, self.path(side + ".sptrace")))
        (cs, ce, co, cr), (ps, pe, po, pr) = got["c"], got["p"]
        # status-not-int: _finish / _asgi_end raised, so its request was left to the recorder's close
        # (unfinished), and the error counted in middleware.errors; on both paths alike
        self.assertEqual((cs["open_requests"], ps["open_requests"]), (1, 1))
        self.assertEqual((cs["unfinished_at_close"], ps["unfinished_at_close"]), (1, 1))
        self.assertEqual((ce, pe), (1, 1))
        self.assertEqual(sorted(cr), sorted(pr))
        for rid in cr:
            c, p = cr[rid], pr[rid]
            # (no trace context here: export gives each request a trace id of its own)
            self.assertEqual((c["status"], c["outcome"], [s[0] for s in c["stages"]], c["trace"][1:]),
                             (p["status"], p["outcome"], [s[0] for s in p["stages"]], p["trace"][1:]), rid)
        outcome = {rid: (cr[rid]["outcome"] or {}).get("stringValue", "ok") for rid in cr}
        status = {rid: (cr[rid]["status"] or {}).get("intValue") for rid in cr}
        # the expected endings (docs/python.md's outcome rule), so agreement is not agreement on nonsense
        want = {"ok": "ok", "streamed": "ok", "404": "error", "500": "error", "503": "rejected", "429": "rejected",
                "exception": "error", "exception-502": "error", "cancel": "cancelled", "disconnect": "cancelled",
                "receive-after": "ok", "never-finished": "cancelled", "closed": "cancelled",
                "collected": "cancelled", "send-after-done": "ok", "generator": "ok", "awaitable": "ok",
                "traced": "ok", "traced-error": "error", "status-not-int": "unfinished"}
        self.assertEqual(outcome, want)
        self.assertEqual(str(status["exception"]), "500")
        self.assertEqual(str(status["exception-502"]), "502")
        self.assertEqual(co["after"], "http.disconnect")
        # the application's exception passes on unchanged, its own frame in the traceback
        for observed in (co, po):
            e = observed["Boom"]
            self.assertEqual(e.args, ("after the start",))
            self.assertIn("raises_after_502", "".join(traceback.format_tb(e.__traceback__)))
            self.assertIsInstance(observed["CancelledError"], asyncio.CancelledError)

    def test_context_var_and_scope(self):
        """Inside the application (and tasks it starts) the request is current and in the scope; after
        the middleware returns, in the same task, nothing is current."""
        rec = servprof.Recorder(self.path("t.sptrace"))
        seen = {}

        async def app(scope, receive, send):
            seen["inside"] = servprof.asgi.current_request()
            seen["scope"] = scope["servprof.request"]

            async def child():
                return servprof.asgi.current_request()
            seen["child"] = await asyncio.ensure_future(child())
            await reply(send)

        async def main():
            await servprof.asgi.Middleware(app, rec)(scope_for("cv"), recv_request, send_nothing)
            seen["after"] = servprof.asgi.current_request()
        asyncio.run(main())
        self.assertEqual(seen["inside"].id, "cv")
        self.assertIs(seen["scope"], seen["inside"])
        self.assertIs(seen["child"], seen["inside"])
        self.assertIsNone(seen["after"])
        self.assertTrue(seen["inside"].ended)
        rec.close()

    def test_driven_by_hand(self):
        """The awaitable _asgi_call returns works for any driver: next(), send(value) reaching the
        application's await, throw() the application catches, a value returned through
        StopIteration, close() ending the request."""
        rec = servprof.Recorder(self.path("t.sptrace"))
        mw = servprof.asgi.Middleware(None, rec)
        got = {}

        async def app(scope, receive, send):
            got["sent"] = await suspend("first")
            try:
                await suspend("second")
            except Boom as e:
                got["caught"] = e
            await reply(send)
            return "done"
        mw.app = app
        aw = servprof._impl._asgi_call(mw, scope_for("hand"), recv_request, send_nothing)
        self.assertIs(aw.__await__(), aw)
        self.assertEqual(next(aw), "first")
        self.assertEqual(aw.send(41), "second")
        with self.assertRaises(StopIteration) as stop:
            aw.throw(Boom("thrown"))
        self.assertEqual(stop.exception.value, "done")
        self.assertEqual((got["sent"], got["caught"].args), (41, ("thrown",)))
        with self.assertRaises(RuntimeError):  # finished: not reusable
            next(aw)
        with self.assertRaises(Boom):          # a throw after the end raises as a finished generator's
            aw.throw(Boom)
        aw.close()                             # and close() is harmless

        async def waits(scope, receive, send):
            await suspend()
        mw.app = waits
        aw = servprof._impl._asgi_call(mw, scope_for("hand-closed"), recv_request, send_nothing)
        next(aw)
        aw.close()
        aw = servprof._impl._asgi_call(mw, scope_for("hand-thrown"), recv_request, send_nothing)
        next(aw)
        # throw(type, value), deprecated by Python 3.12: the awaitable passes it on to the application's
        # coroutine, whose throw() gives the one DeprecationWarning a coroutine awaited directly would
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            with self.assertRaises(Boom):
                aw.throw(Boom, Boom("class and value"))
        self.assertEqual([w.category for w in caught], [DeprecationWarning] if sys.version_info >= (3, 12) else [])
        self.assertEqual(rec.stats()["open_requests"], 0)
        self.assertEqual(mw.errors, 0, mw.last_error)
        rec.close()
        got = export_requests(self, self.path("t.sptrace"))
        self.assertEqual({rid: (v["outcome"] or {}).get("stringValue", "ok") for rid, v in got.items()},
                         {"hand": "ok", "hand-closed": "cancelled", "hand-thrown": "error"})

    def test_not_awaitable_and_pass_through(self):
        """An application that returns no awaitable fails as `await` would (TypeError, the request an
        error); requests not recorded (other scope types, excluded paths) get the application's own
        awaitable; /metrics is answered by the middleware."""
        rec = servprof.Recorder(self.path("t.sptrace"), live_metrics=True)

        def not_async(scope, receive, send):
            return None
        mw = servprof.asgi.Middleware(not_async, rec)
        with self.assertRaisesRegex(TypeError, "can't be used in 'await' expression"):
            asyncio.run(mw(scope_for("not-async"), recv_request, send_nothing))

        async def app(scope, receive, send):
            await reply(send)
        mw = servprof.asgi.Middleware(app, rec, exclude=["/healthz"], metrics_path="/metrics")
        for scope in ({"type": "lifespan"}, dict(scope_for("x"), path="/healthz")):
            aw = servprof._impl._asgi_call(mw, scope, recv_request, send_nothing)
            self.assertTrue(inspect.iscoroutine(aw), aw)  # app(...) itself, no _AsgiCall around it
            aw.close()
        sent = []

        async def collect(m):
            sent.append(m)
        asyncio.run(mw(dict(scope_for("m"), method="GET", path="/metrics"), recv_request, collect))
        self.assertEqual(sent[0]["status"], 200)
        self.assertEqual(rec.stats()["open_requests"], 0)
        rec.close()
        got = export_requests(self, self.path("t.sptrace"))
        self.assertEqual(sorted(got), ["not-async"])
        self.assertEqual((got["not-async"]["outcome"]["stringValue"], got["not-async"]["status"]["intValue"]),
                         ("error", "500"))

    def test_attributes_changed_later_are_heard(self):
        """The C path reads the middleware's attributes from a snapshot; setting one drops it, so the
        next request follows the new value (exclude, echo_request_id, app); a subclass's _wanted is
        called."""
        rec = servprof.Recorder(self.path("t.sptrace"))
        mw = servprof.asgi.Middleware(app_with(200), rec)
        self.assertIn((b"x-request-id", b"a"), call(mw, headers=[(b"x-request-id", b"a")])[0]["headers"])
        mw.echo_request_id = False
        self.assertNotIn((b"x-request-id", b"b"), call(mw, headers=[(b"x-request-id", b"b")])[0]["headers"])
        mw.exclude = frozenset(["/v1/x"])
        call(mw, headers=[(b"x-request-id", b"excluded")])
        mw.exclude = frozenset()
        mw.app = app_with(404)
        self.assertEqual(call(mw, headers=[(b"x-request-id", b"d")])[0]["status"], 404)

        class Own(servprof.asgi.Middleware):  # a subclass's own path filter is heard too
            def _wanted(self, path):
                return "skip" not in path
        own = Own(app_with(200), rec)
        call(own, path="/v1/skip", headers=[(b"x-request-id", b"skipped")])
        call(own, path="/v1/keep", headers=[(b"x-request-id", b"kept")])
        rec.close()
        self.assertEqual(sorted(export_requests(self, self.path("t.sptrace"))), ["a", "b", "d", "kept"])

    def test_no_cycle_leaks(self):
        """Requests closed or collected before they finished, and finished ones, leave no C object
        behind once the garbage collector ran (GC support: the awaitable, the application's coroutine
        and the task form cycles)."""
        rec = servprof.Recorder(self.path("t.sptrace"))

        async def app(scope, receive, send):
            await receive()
            scope["me"] = scope  # a cycle through the scope
            await suspend()
            await reply(send)
        mw = servprof.asgi.Middleware(app, rec)
        names = ("_AsgiCall", "_AsgiSend", "_AsgiReceive", "_AsgiRecvWait")

        def live():
            return sum(type(o).__name__ in names for o in gc.get_objects())
        gc.collect()
        before = live()
        for i in range(50):
            coro = mw(scope_for("r%d" % i), recv_request, send_nothing)
            coro.send(None)
            if i % 3 == 0:
                coro.close()
            elif i % 3 == 1:
                drive(coro)
            del coro  # the rest: collected unfinished
        gc.collect()
        self.assertEqual(live(), before)
        self.assertEqual(rec.stats()["open_requests"], 0)
        self.assertEqual(mw.errors, 0, mw.last_error)
        rec.close()

    def test_uvicorn_takes_it_for_asgi3(self):
        """ASGI servers tell ASGI 3 from ASGI 2 by whether app.__call__ is a coroutine function: the
        middleware must stay one (uvicorn's Config.load; hypercorn asks inspect)."""
        mw = servprof.asgi.Middleware(app_with(200), servprof.Recorder(self.path("t.sptrace")))
        try:
            self.assertTrue(asyncio.iscoroutinefunction(mw.__call__))
            self.assertTrue(inspect.iscoroutinefunction(mw.__call__))
            try:
                import uvicorn
            except ImportError:
                self.skipTest("uvicorn is missing (Debian python3-uvicorn)")
            config = uvicorn.Config(mw, interface="auto", log_level="error")
            config.load()
            self.assertEqual(config.interface, "asgi3")
        finally:
            mw.recorder.close()


if __name__ == "__main__":
    unittest.main()
