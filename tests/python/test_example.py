"""The Python example service (examples/python/service.py: FastAPI + uvicorn + PyTorch on the CPU) under
`servprof load`, its trace merged with the client's: the verdict follows the configuration as it does
for the C service (tests/cli/demo_verdicts.sh), and the stages cover each request (`other` under 5%
of p95). Assertions are on which candidate wins, not its figures: the machine is shared.
  1. low traffic with a 200 ms batch window (small model): requests wait for company -> queue;
  2. short requests padded to a static 512 tokens: ~97% of computed tokens are padding -> padding;
  3. a large model near saturation (rate from a calibration run), fixed lengths, no window -> kernel;
  4. the default configuration: the client trace joins (network, every request), other < 5%;
  5. a client that leaves while its request waits for its batch: closed early, recorded cancelled;
  6. inputs longer than a static shape (--pad-to 8, ~20-token texts) are cut to it, as servprof serve
     does: every request ok (they failed with 500 when a row did not fit the batch), 8 tokens a row."""
import os
import socket
import unittest

from sptest import SOURCE_DIR, TempDirCase, analyze, require, run_service_under_load, stages, start_service, stop_service

require("torch")
require("fastapi")
require("uvicorn")

SERVICE = os.path.join(SOURCE_DIR, "examples", "python", "service.py")
SMALL = ["--layers", "1", "--hidden", "64", "--heads", "2", "--ffn", "256"]
BIG = ["--layers", "4", "--hidden", "512", "--heads", "8", "--ffn", "2048"]


class ExampleVerdicts(TempDirCase):
    def run_service(self, name, service_args, load_args, duration=3):
        """Starts the service, drives it with servprof load for `duration` s, stops it (SIGINT) and
        returns the merged JSON report."""
        return run_service_under_load(self, SERVICE, name, service_args, "/v1/embeddings",
                                      ["--duration", str(duration), *load_args], duration + 60)

    def check_verdict(self, name, rep, stage, group):
        st = stages(rep)
        shares = {k: round(v["share_of_p95"], 3) for k, v in st.items()}
        print("%s: verdict %s %s (%.3f of p95); shares %s; padding %.3f" % (
            name, rep["verdict"]["stage"], rep["verdict"]["group"], rep["verdict"]["share_of_p95"], shares,
            rep["padding"]["share_of_p95"] or 0))
        self.assertEqual((rep["verdict"]["stage"], rep["verdict"]["group"]), (stage, group), name)
        self.assertLess(st["other"]["share_of_p95"], 0.05, "%s: other is %.3f of p95" % (name, st["other"]["share_of_p95"]))

    def test_queue(self):
        # a 200 ms window: the wait for company stays the larger part even when a loaded machine makes
        # the small model's forward pass take tens of milliseconds (seen: 50 ms windows lost to kernel)
        rep = self.run_service("queue", ["--max-queue-delay-ms", "200", *SMALL], ["--rate", "10", "--length", "lognormal:16"])
        self.check_verdict("queue", rep, "queue", "configuration")

    def test_padding(self):
        rep = self.run_service("padding", ["--pad-to", "512"], ["--rate", "10", "--length", "lognormal:8:0.3"])
        self.check_verdict("padding", rep, "padding", "configuration")
        self.assertGreater(rep["padding"]["waste_fraction"], 0.9)

    def test_static_shape_cuts_long_inputs(self):
        rep = self.run_service("cut", ["--pad-to", "8", *SMALL], ["--rate", "20", "--length", "fixed:20"], duration=2)
        n = rep["requests"]["count"]
        self.assertGreater(n, 20)
        self.assertEqual(rep["outcomes"]["by_outcome"]["ok"]["count"], n)
        pad = rep["padding"]
        self.assertEqual(pad["effective_tokens"], 8 * n)   # one input a request, cut to 8 tokens
        self.assertEqual(pad["padded_tokens"], pad["effective_tokens"])

    def test_kernel(self):
        args = [*BIG, "--max-queue-delay-ms", "0"]
        cal = self.run_service("calibrate", args, ["--rate", "2", "--length", "fixed:16"], duration=2)
        svc_us = stages(cal)["kernel"]["p50_us"]
        rate = round(max(0.5, min(200.0, 0.7e6 / max(svc_us, 1.0))), 2)
        print("large model: one request's kernel time %.0f us -> rate %s req/s" % (svc_us, rate))
        rep = self.run_service("model", args, ["--rate", str(rate), "--length", "fixed:16"])
        self.check_verdict("model", rep, "kernel", "model")

    def test_default_joins_the_client_trace(self):
        rep = self.run_service("default", [], ["--rate", "40"])
        st = stages(rep)
        self.assertIn("network", st)
        self.assertGreater(rep["requests"]["count"], 60)
        self.assertEqual(rep["outcomes"]["by_outcome"]["ok"]["count"], rep["requests"]["count"])
        self.assertLess(st["other"]["share_of_p95"], 0.05)
        for s in ("queue", "preprocess", "kernel", "postprocess"):
            self.assertGreater(st[s]["p50_us"], 0, s)
        self.assertGreater(rep["gpu"]["kernels"], 0)

    def test_client_that_leaves_while_queued(self):
        """max-batch 2 and a 60 s window hold a request until a second comes. The first client sends its
        request and closes; the second's fills the batch and is answered. Whatever the order the two
        arrive in, the first's http.disconnect is there once its body is read, so the service counts it
        closed early (not ok: uvicorn drops the answer's send without an error) and the middleware
        records it cancelled."""
        for app in ("fastapi", "asgi"):
            name = "left-" + app
            p, port, err = start_service(self, SERVICE, name,
                                         ["--app", app, "--max-batch", "2", "--max-queue-delay-ms", "60000", *SMALL])
            try:
                body = b'{"input":"hello"}'
                req = (b"POST /v1/embeddings HTTP/1.1\r\nHost: x\r\nX-Request-Id: %s\r\n"
                       b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n%s")
                with socket.create_connection(("127.0.0.1", port), timeout=60) as a:
                    a.sendall(req % (b"left", len(body), body))
                with socket.create_connection(("127.0.0.1", port), timeout=60) as b:
                    b.sendall(req % (b"stayed", len(body), body))
                    self.assertTrue(b.recv(64).startswith(b"HTTP/1.1 200"), app)
            finally:
                log = stop_service(self, p, err, name)
            self.assertIn("2 requests: 1 ok, 0 503 queue full, 0 400, 0 413, 0 415, 0 500, 1 closed early;", log, app)
            rep = analyze(self.path(name + ".sptrace"))
            by = rep["outcomes"]["by_outcome"]
            self.assertEqual((by["ok"]["count"], by["cancelled"]["count"]), (1, 1), app)


if __name__ == "__main__":
    unittest.main()
