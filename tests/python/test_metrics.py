"""The live metrics through the Python package, against both backends: Recorder(live_metrics=True)
.metrics_text() is libservprof's Prometheus text (docs/metrics.md) for what the recorder saw, a
recorder without live metrics or a closed one raises RuntimeError, and servprof.asgi.Middleware's
metrics_path answers GET with it (not recorded, not passed to the app), refuses other methods, and
says 404 when the recorder keeps none."""
import asyncio
import re
import unittest

import servprof
import servprof.asgi
from sptest import TempDirCase

BACKENDS = ("native", "ctypes")


def sample(text, name, **labels):
    """The value of the one sample `name{labels}` in `text`, or None."""
    want = ",".join('%s="%s"' % kv for kv in labels.items())
    pat = re.compile(r"^%s%s (\S+)$" % (re.escape(name), re.escape("{%s}" % want) if want else ""), re.M)
    m = pat.findall(text)
    return float(m[0]) if len(m) == 1 else None


def record_one(rec, rid, t0):
    """One request of 400 us: preprocess 50 us, queue 250 us, postprocess 100 us, back to back."""
    r = rec.request(rid, arrival_ns=t0)
    r.span("preprocess", t0, t0 + 50000)
    r.span("queue", t0 + 50000, t0 + 300000)
    r.span("postprocess", t0 + 300000, t0 + 400000)
    r.end(t0 + 400000)


def http(mw, method, path):
    sent = []

    async def receive():
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(m):
        sent.append(m)

    asyncio.run(mw({"type": "http", "method": method, "path": path, "headers": []}, receive, send))
    return sent[0]["status"], dict(sent[0]["headers"]), b"".join(m.get("body", b"") for m in sent[1:])


async def ok_app(scope, receive, send):
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"x"})


class MetricsCase(TempDirCase):
    def test_known_request(self):
        """Hand-computed: two requests of 400 us each (50 + 250 + 100 us). Latency buckets are 2^(k/4) s
        (docs/metrics.md): 400 us lies between 2^-11.5 s = 345.267 us and 2^-11.25 s = 410.594 us, so the
        histogram is 0 at le=0.000345267 and 2 from le=0.000410594; queue time there is 2 x 250 us and
        the stages of the bucket add up to the latency sum, 800 us."""
        rec = servprof.Recorder(self.path("t.sptrace"), live_metrics=True)
        t0 = servprof.now_ns()
        record_one(rec, "a", t0)
        record_one(rec, "b", t0 + 1000000)
        rec.flush()  # a flush counts every request recorded before it
        text = rec.metrics_text()
        rec.close()
        self.assertEqual(sample(text, "servprof_requests_total", outcome="ok"), 2)
        self.assertEqual(sample(text, "servprof_request_duration_seconds_bucket", le="0.000345267"), 0)
        self.assertEqual(sample(text, "servprof_request_duration_seconds_bucket", le="0.000410594"), 2)
        self.assertAlmostEqual(sample(text, "servprof_request_duration_seconds_sum"), 800e-6, places=12)
        stage = {s: sample(text, "servprof_request_stage_seconds_total", stage=s, le="0.000410594")
                 for s in ("preprocess", "queue", "postprocess", "kernel")}
        self.assertAlmostEqual(stage["queue"], 500e-6, places=12)
        self.assertAlmostEqual(stage["preprocess"], 100e-6, places=12)
        self.assertAlmostEqual(stage["postprocess"], 200e-6, places=12)
        self.assertEqual(stage["kernel"], 0)
        self.assertEqual(sample(text, "servprof_request_stage_seconds_total", stage="queue", le="0.000345267"), 0)

    def test_errors(self):
        rec = servprof.Recorder(self.path("t.sptrace"))
        with self.assertRaisesRegex(RuntimeError, "without live_metrics"):
            rec.metrics_text()
        rec.close()
        with self.assertRaises(TypeError):
            servprof.Recorder(self.path("u.sptrace"), live_metrics=True, metrics_settle_ms="1")
        rec = servprof.Recorder(self.path("v.sptrace"), live_metrics=True)
        rec.close()
        with self.assertRaisesRegex(RuntimeError, "closed"):
            rec.metrics_text()

    def test_asgi_route(self):
        rec = servprof.Recorder(self.path("t.sptrace"), live_metrics=True)
        mw = servprof.asgi.Middleware(ok_app, rec, metrics_path="/metrics")
        self.assertEqual(http(mw, "POST", "/v1/x")[0], 200)
        rec.flush()
        status, headers, body = http(mw, "GET", "/metrics")
        self.assertEqual(status, 200)
        self.assertEqual(headers[b"content-type"], b"text/plain; version=0.0.4; charset=utf-8")
        self.assertEqual(int(headers[b"content-length"]), len(body))
        # the app's request is counted, the scrape is not (it is never recorded)
        self.assertEqual(sample(body.decode(), "servprof_requests_total", outcome="ok"), 1)
        rec.flush()
        self.assertEqual(sample(rec.metrics_text(), "servprof_requests_total", outcome="ok"), 1)
        status, headers, body = http(mw, "HEAD", "/metrics")
        self.assertEqual((status, body), (200, b""))
        status, headers, _ = http(mw, "POST", "/metrics")
        self.assertEqual((status, headers[b"allow"]), (405, b"GET, HEAD"))
        rec.close()
        rec2 = servprof.Recorder(self.path("u.sptrace"))
        status, _, body = http(servprof.asgi.Middleware(ok_app, rec2, metrics_path="/metrics"), "GET", "/metrics")
        self.assertEqual(status, 404)
        self.assertIn(b"live_metrics", body)
        rec2.close()
        with self.assertRaisesRegex(ValueError, "metrics_path"):
            servprof.asgi.Middleware(ok_app, rec2, metrics_path="metrics")


if __name__ == "__main__":
    unittest.main()
