"""servprof.asgi.Middleware on plain ASGI apps called in process (no server needed): the request id
(traceparent, X-Request-Id, echoed), the outcome from the status, exceptions and disconnects, the
stage edges it fills, and what it leaves alone (other scope types, excluded paths)."""
import asyncio
import unittest

import servprof
import servprof.asgi
from sptest import TempDirCase, analyze, stages

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
        out = call(mw, headers=[(b"traceparent", TRACEPARENT), (b"x-request-id", b"other")])
        self.assertIn((b"x-request-id", b"4bf92f3577b34da6a3ce929d0e0e4736"), out[0]["headers"])
        out = call(mw, headers=[(b"x-request-id", b"client-7")])
        self.assertIn((b"x-request-id", b"client-7"), out[0]["headers"])
        out = call(mw, headers=[(b"x-request-id", b"bad\x01id")])  # not printable: a number of its own
        self.assertIn((b"x-request-id", b"1"), out[0]["headers"])
        call(mw, path="/healthz")                                   # excluded: not recorded
        self.assertEqual(sorted(map(str, seen)), ["1", "4bf92f3577b34da6a3ce929d0e0e4736", "client-7"])
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
                         (4, 2, 2, 2))
        self.assertEqual({s["status"]: s["count"] for s in rep["outcomes"]["statuses"]},
                         {503: 1, 429: 1, 404: 1, 500: 1, 200: 1})
        # every request's life is covered: the app's queue span, the filled preprocess and postprocess
        st = stages(rep)
        self.assertEqual(st["other"]["p99_us"], 0.0)
        self.assertGreater(st["preprocess"]["p50_us"], 0)
        self.assertGreater(st["postprocess"]["p50_us"], 0)

    def test_rejects_a_non_recorder(self):
        with self.assertRaises(TypeError):
            servprof.asgi.Middleware(app_with(200), None)


if __name__ == "__main__":
    unittest.main()
