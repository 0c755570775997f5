"""The Python generation service (examples/python/generate_service.py: FastAPI + uvicorn, a PyTorch decoder
with a KV cache, continuous batching), recorded only through the package, under an open-loop streaming
client written here (SSE over HTTP/1.1; `servprof load --stream` was not on main when this was
written): its trace gives the generation report, the stages add up, and the TTFT verdict follows the
configuration. Assertions are on which candidate leads and on identities, not on figures: the
machine is shared.
  1. the default configuration at a light rate: every streamed token is in the trace, the TTFT and
     TPOT rows (and the end-to-end stages) add up to their totals, `other` stays small, the client's
     TTFT (from the intended send time, on the same clock) is not below the server's;
  2. --max-num-seqs 1 at a rate above what one sequence at a time serves: queue leads TTFT
     (configuration) and the fix names --max-num-seqs."""
import asyncio
import json
import os
import random
import signal
import subprocess
import sys
import unittest

import servprof
from sptest import SOURCE_DIR, TempDirCase, analyze, require, stages

require("torch")
require("fastapi")
require("uvicorn")

BACKENDS = ("native", "ctypes")   # the service records through the backend the test runs with

SERVICE = os.path.join(SOURCE_DIR, "examples", "python", "generate_service.py")
PROMPTS = ["the quick brown fox jumps over the lazy dog", "hello world", "what is the capital of france",
           "profiling an inference service end to end with servprof"]


async def one_request(port, rid, body, intended):
    """POSTs one streamed completion; returns (intended, first token arrival, token arrivals, end), all
    servprof.now_ns(), or raises. Tokens are counted as `data: {` events as the bytes arrive."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    data = json.dumps(body).encode()
    writer.write(b"POST /v1/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                 b"X-Request-Id: %s\r\nContent-Length: %d\r\nConnection: close\r\n\r\n" % (rid.encode(), len(data))
                 + data)
    await writer.drain()
    buf, arrivals, seen = b"", [], 0
    while True:
        chunk = await reader.read(65536)
        t = servprof.now_ns()
        if not chunk:
            break
        buf += chunk
        n = buf.count(b"data: {")
        arrivals += [t] * (n - seen)
        seen = n
    writer.close()
    head = buf.split(b"\r\n", 1)[0]
    if b" 200 " not in head + b" " or b"data: [DONE]" not in buf:
        raise AssertionError("%s: %r ... %r" % (rid, head, buf[-200:]))
    return intended, arrivals, servprof.now_ns()


async def open_loop(port, rate, duration, max_tokens, seed=1):
    """Poisson arrivals at `rate` per second for `duration` s, each sent at its intended time."""
    rnd = random.Random(seed)
    loop = asyncio.get_running_loop()
    start = servprof.now_ns()
    tasks, t, i = [], 0.0, 0
    while True:
        t += rnd.expovariate(rate)
        if t >= duration:
            break
        intended = start + int(t * 1e9)
        delay = (intended - servprof.now_ns()) / 1e9
        if delay > 0:
            await asyncio.sleep(delay)
        body = {"prompt": PROMPTS[i % len(PROMPTS)], "max_tokens": max_tokens, "stream": True}
        tasks.append(loop.create_task(one_request(port, "gen-%d" % i, body, intended)))
        i += 1
    return await asyncio.gather(*tasks)


def sum_rows(table):
    return sum(r["mean_us"] for r in table["rows"])


class GenerateExample(TempDirCase):
    def run_service(self, name, service_args, rate, duration, max_tokens):
        trace = self.path(name + ".sptrace")
        err = open(self.path(name + ".err"), "w")
        p = subprocess.Popen([sys.executable, SERVICE, "--port", "0", "--trace", trace, *service_args],
                             stdout=subprocess.PIPE, stderr=err, text=True)
        try:
            line = p.stdout.readline()
            if not line.startswith("listening on "):
                p.wait(timeout=30)
                raise AssertionError("%s: the service did not start: %s" % (name, open(err.name).read()))
            port = int(line.strip().rsplit(":", 1)[1])
            results = asyncio.run(open_loop(port, rate, duration, max_tokens))
        finally:
            if p.poll() is None:
                p.send_signal(signal.SIGINT)
            try:
                p.wait(timeout=60)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
            err.close()
        self.assertEqual(p.returncode, 0, "%s: the service exited %s: %s" % (name, p.returncode, open(err.name).read()))
        return analyze(trace), results

    def test_default_adds_up(self):
        rep, results = self.run_service("default", [], rate=15, duration=2, max_tokens=8)
        g = rep["generation"]
        self.assertIsNotNone(g, "no generation section")
        self.assertEqual(g["requests"], len(results))
        self.assertEqual(g["output_tokens"], sum(len(a) for _, a, _ in results))
        self.assertEqual(g["output_tokens"], 8 * len(results))
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
        # the client's TTFT from the intended send time, on the same clock: never below the server's
        client = sorted(a[0] - i for i, a, _ in results)
        p50 = client[(50 * len(client) + 99) // 100 - 1] / 1e3
        print("default: %d requests, TTFT p50 server %.0f us, client %.0f us; TTFT verdict %s, TPOT verdict %s" % (
            len(results), g["ttft_us"]["p50"], p50, g["ttft"]["verdict"]["stage"], g["tpot"]["verdict"]["stage"]))
        self.assertGreaterEqual(p50, g["ttft_us"]["p50"])

    def test_queue_with_one_sequence(self):
        rep, results = self.run_service("one", ["--max-num-seqs", "1", "--max-num-batched-tokens", "64"],
                                        rate=60, duration=2, max_tokens=8)
        g = rep["generation"]
        v = g["ttft"]["verdict"]
        tt = {r["name"]: round(r["share_of_p95"], 3) for r in g["ttft"]["rows"]}
        print("max-num-seqs 1: %d requests; TTFT verdict %s %s; shares %s" % (len(results), v["stage"], v["group"], tt))
        self.assertEqual(g["requests"], len(results))
        self.assertEqual(g["steps"]["members"]["max"], 1)
        self.assertEqual((v["stage"], v["group"]), ("queue", "configuration"))
        self.assertIn("--max-num-seqs", v["sentence"])


if __name__ == "__main__":
    unittest.main()
