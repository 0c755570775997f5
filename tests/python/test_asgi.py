"""servprof.asgi.Middleware on plain ASGI apps called in process (no server needed): the request id
(X-Request-Id, else the traceparent's trace id, echoed), the W3C trace context it continues (read back
through `servprof export --otlp`), the outcome from the status, exceptions and disconnects, the
stage edges it fills, and what it leaves alone (other scope types, excluded paths)."""
import asyncio
import json
import re
import subprocess
import unittest

import servprof
import servprof.asgi
from sptest import BIN, TempDirCase, analyze, stages

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


if __name__ == "__main__":
    unittest.main()
