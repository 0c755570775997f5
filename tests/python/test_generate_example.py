"""The Python generation service (examples/python/generate_service.py: FastAPI + uvicorn, a PyTorch decoder
with a KV cache, continuous batching), recorded only through the package, driven by `servprof load
--stream` (open loop, SSE) with its client trace merged: the generation report, the stages add up, and
the TTFT verdict follows the configuration. Assertions are on which candidate leads and on identities,
not on figures: the machine is shared.
  1. the default configuration at a light rate: every streamed token is in the trace, the TTFT and
     TPOT rows (and the end-to-end stages) add up to their totals, `other` stays small, the client's
     TTFT (from the intended send time) is not below the server's [arrival, first token];
  2. --max-num-seqs 1 at a rate above what one sequence at a time serves: queue leads TTFT
     (configuration) and the fix names --max-num-seqs;
  3. clients that go away mid-stream: their requests stop decoding and are recorded cancelled, the
     service counts them closed early, and a finished response after them is recorded ok."""
import json
import os
import re
import socket
import time

from sptest import (SOURCE_DIR, TempDirCase, analyze, require, run_service_under_load, stages, start_service,
                    stop_service)

require("torch")
require("fastapi")
require("uvicorn")

BACKENDS = ("native", "ctypes")   # the service records through the backend the test runs with

SERVICE = os.path.join(SOURCE_DIR, "examples", "python", "generate_service.py")


def sum_rows(table):
    return sum(r["mean_us"] for r in table["rows"])


class GenerateExample(TempDirCase):
    def run_service(self, name, service_args, rate, duration, max_tokens):
        """Starts the service, drives it with servprof load --stream for `duration` s, stops it (SIGINT)
        and returns the report of the server's trace merged with the client's."""
        return run_service_under_load(self, SERVICE, name, service_args, "/v1/completions",
                                      ["--stream", "--rate", str(rate), "--duration", str(duration), "--output-length",
                                       "fixed:%d" % max_tokens, "--length", "fixed:8"], duration + 120)

    def test_default_adds_up(self):
        rep = self.run_service("default", [], rate=15, duration=2, max_tokens=8)
        g = rep["generation"]
        self.assertIsNotNone(g, "no generation section")
        n = rep["requests"]["count"]
        self.assertGreater(n, 10)
        self.assertEqual(rep["outcomes"]["by_outcome"]["ok"]["count"], n)
        self.assertEqual(g["requests"], n)
        self.assertEqual(g["output_tokens"], 8 * n)
        self.assertIsNotNone(g["client"], "the client trace did not join")
        self.assertEqual(g["client"]["ttft_us"]["count"], n)
        self.assertEqual(g["requests_bad_tokens"], 0)
        self.assertGreater(g["steps"]["count"], 0)
        self.assertIsNotNone(g["kv_cache"])
        # each request's rows add up to its TTFT (TPOT), so the rows' means add up to the mean; the JSON
        # rounds each figure to 1 ns
        rows = len(g["ttft"]["rows"])
        self.assertAlmostEqual(sum_rows(g["ttft"]), g["ttft"]["value_us"]["mean"], delta=0.002 * rows)
        self.assertAlmostEqual(sum_rows(g["tpot"]), g["tpot_us"]["mean"], delta=0.002 * len(g["tpot"]["rows"]))
        st = stages(rep)
        self.assertAlmostEqual(sum(s["mean_us"] for s in rep["stages"]), rep["requests"]["latency_us"]["mean"],
                               delta=0.002 * len(st))
        tt = {r["name"]: r for r in g["ttft"]["rows"]}
        for name in ("queue", "preprocess", "prefill kernel"):
            self.assertGreater(tt[name]["mean_us"], 0, name)
        tp = {r["name"]: r for r in g["tpot"]["rows"]}
        for name in ("decode kernel", "detokenize", "stream"):
            self.assertGreater(tp[name]["mean_us"], 0, name)
        self.assertLess(tt["other"]["share_of_p95"], 0.10)
        self.assertLess(tp["other"]["share_of_p95"], 0.15)
        self.assertLess(st["other"]["share_of_p95"], 0.10)
        self.assertIn("network", tt)
        # the client's TTFT from the intended send time holds the server's [arrival, first token] and
        # the network both ways (one machine: the clock offset is within its width, tens of us)
        p50 = g["client"]["ttft_us"]["p50"]
        print("default: %d requests, TTFT p50 server %.0f us, client %.0f us; TTFT verdict %s, TPOT verdict %s" % (
            n, g["ttft_us"]["p50"], p50, g["ttft"]["verdict"]["stage"], g["tpot"]["verdict"]["stage"]))
        self.assertGreaterEqual(p50, g["ttft_us"]["p50"] - 100)

    def test_queue_with_one_sequence(self):
        rep = self.run_service("one", ["--max-num-seqs", "1", "--max-num-batched-tokens", "64"],
                               rate=60, duration=2, max_tokens=8)
        g = rep["generation"]
        v = g["ttft"]["verdict"]
        tt = {r["name"]: round(r["share_of_p95"], 3) for r in g["ttft"]["rows"]}
        print("max-num-seqs 1: %d requests; TTFT verdict %s %s; shares %s" % (g["requests"], v["stage"], v["group"], tt))
        self.assertEqual(g["requests"], rep["requests"]["count"])
        self.assertEqual(g["steps"]["members"]["max"], 1)
        self.assertEqual((v["stage"], v["group"]), ("queue", "configuration"))
        self.assertIn("--max-num-seqs", v["sentence"])

    def test_client_goes_away(self):
        p, port, err = start_service(self, SERVICE, "gone", [])
        try:
            def post(max_tokens):
                body = json.dumps({"prompt": "the quick brown fox", "max_tokens": max_tokens,
                                   "stream": True}).encode()
                s = socket.create_connection(("127.0.0.1", port), timeout=60)
                s.sendall(b"POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                          b"Content-Length: %d\r\n\r\n%s" % (len(body), body))
                return s

            # two clients read their first token and leave: the context (256) would let each decode
            # 200 tokens; a third reads its whole answer after them
            for _ in range(2):
                s = post(200)
                got = b""
                while b"data: " not in got:
                    chunk = s.recv(4096)
                    self.assertTrue(chunk, "the stream ended before its first token")
                    got += chunk
                s.close()
            time.sleep(1.0)   # time for the scheduler to drop them at a step boundary
            s = post(4)
            got = b""
            while b"data: [DONE]" not in got:
                chunk = s.recv(4096)
                self.assertTrue(chunk, "the finished stream was cut: %r" % got[-200:])
                got += chunk
            s.close()
            time.sleep(0.2)
        finally:
            log = stop_service(self, p, err, "gone")
        self.assertIn("3 requests: 1 ok, 0 503, 0 400, 0 500, 2 closed early", log)
        # the two that left decoded far fewer than their 200 tokens each (the service's last line counts
        # every token decoded)
        m = re.search(r"(\d+) output tokens", log)
        self.assertIsNotNone(m, log)
        tokens = int(m.group(1))
        self.assertLess(tokens, 200, log)
        rep = analyze(self.path("gone.sptrace"))
        by = {k: v["count"] for k, v in rep["outcomes"]["by_outcome"].items()}
        self.assertEqual((by["cancelled"], by["ok"]), (2, 1), by)


if __name__ == "__main__":
    unittest.main()
