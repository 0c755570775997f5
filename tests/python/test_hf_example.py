"""The Hugging Face example service (examples/python/hf_service.py: aiohttp.web, servprof.aiohttp's middleware,
the examples' tokenizer and batcher, a BERT encoder and a GPT-2 decoder from configs). Debian 12 has no
transformers, so here --model torch-tiny stands in: small PyTorch models with the same call signatures
through the same service code (the batcher, the token loop with its KV cache, the recording). Each trace is
analysed without --lenient (sptest.analyze) and must have skipped nothing.
  1. /v1/embeddings under `servprof load`: every request joined and ok, preprocess (tokenise), queue,
     kernel (servprof.torch's module timing, most of each batch window) and postprocess present,
     `other` under 5% of p95;
  2. /v1/completions under `servprof load --stream`: the generation section holds every streamed token,
     one step per forward (a prefill, then decodes), the TTFT and TPOT rows present;
  3. /v1/completions with stream false: the whole answer, its tokens in the trace, postprocess recorded;
  4. --model hf where transformers is missing: exit 2 naming transformers, no trace written; where it
     cannot build the models (a stand-in package without BertConfig): exit 2 saying so.
Skips without torch or aiohttp."""
import json
import os
import subprocess
import sys
import urllib.request

from sptest import SOURCE_DIR, TempDirCase, analyze, require, run_service_under_load, stages, start_service, stop_service

require("torch")
require("aiohttp")

SERVICE = os.path.join(SOURCE_DIR, "examples", "python", "hf_service.py")
TINY = ["--model", "torch-tiny", "--layers", "1", "--hidden", "64", "--heads", "2", "--ffn", "256"]


def skipped(rep):
    return sum(f["skipped"] + f["dropped"] for f in rep["data_quality"]["files"])


class HfExample(TempDirCase):
    def test_embeddings(self):
        rep = run_service_under_load(self, SERVICE, "emb", TINY, "/v1/embeddings",
                                     ["--duration", "3", "--rate", "40"], 63)
        st = stages(rep)
        n = rep["requests"]["count"]
        print("hf example, embeddings: %d requests; shares %s" % (
            n, {k: round(v["share_of_p95"], 3) for k, v in st.items()}))
        self.assertGreater(n, 60)
        self.assertEqual(rep["outcomes"]["by_outcome"]["ok"]["count"], n)
        self.assertEqual(skipped(rep), 0)
        self.assertIsNone(rep.get("generation"))
        self.assertLess(st["other"]["share_of_p95"], 0.05)
        for s in ("queue", "preprocess", "kernel", "postprocess"):
            self.assertGreater(st[s]["p50_us"], 0, s)
        self.assertGreater(rep["gpu"]["kernels"], 0)
        # servprof.torch times the encoder's leaf modules: most of a batch window is theirs, not gap (a
        # fused nn.TransformerEncoderLayer ran none of its submodules: kernel was 1.5% of the window)
        self.assertGreater(st["kernel"]["mean_us"], 0.2 * (st["kernel"]["mean_us"] + st["gap"]["mean_us"]))

    def test_completions_stream(self):
        rep = run_service_under_load(self, SERVICE, "gen", TINY, "/v1/completions",
                                     ["--stream", "--duration", "2", "--rate", "10", "--length", "fixed:8",
                                      "--output-length", "fixed:6"], 122)
        g = rep["generation"]
        self.assertIsNotNone(g, "no generation section")
        n = rep["requests"]["count"]
        print("hf example, completions: %d requests, %d steps; TTFT verdict %s, TPOT verdict %s" % (
            n, g["steps"]["count"], g["ttft"]["verdict"]["stage"], g["tpot"]["verdict"]["stage"]))
        self.assertGreater(n, 8)
        self.assertEqual(rep["outcomes"]["by_outcome"]["ok"]["count"], n)
        self.assertEqual(skipped(rep), 0)
        self.assertEqual(g["requests"], n)
        self.assertEqual(g["output_tokens"], 6 * n)
        self.assertEqual(g["requests_bad_tokens"], 0)
        self.assertIsNotNone(g["client"], "the client trace did not join")
        # one step per forward: each batch is a prefill and 5 decodes (6 tokens each)
        self.assertGreaterEqual(g["steps"]["count"], 6)
        tt = {r["name"]: r for r in g["ttft"]["rows"]}
        for name in ("queue", "preprocess", "prefill kernel"):
            self.assertGreater(tt[name]["mean_us"], 0, name)
        tp = {r["name"]: r for r in g["tpot"]["rows"]}
        for name in ("decode kernel", "detokenize", "stream"):
            self.assertGreater(tp[name]["mean_us"], 0, name)
        self.assertLess(stages(rep)["other"]["share_of_p95"], 0.10)

    def test_completions_whole(self):
        p, port, err = start_service(self, SERVICE, "whole", TINY)
        bodies = []
        try:
            for i in range(4):
                req = urllib.request.Request("http://127.0.0.1:%d/v1/completions" % port, method="POST",
                                             data=json.dumps({"prompt": "the quick brown fox %d" % i,
                                                              "max_tokens": 5}).encode(),
                                             headers={"Content-Type": "application/json", "X-Request-Id": "w%d" % i})
                with urllib.request.urlopen(req, timeout=60) as resp:
                    self.assertEqual(resp.status, 200)
                    bodies.append(json.loads(resp.read()))
        finally:
            log = stop_service(self, p, err, "whole")
        for b in bodies:
            self.assertEqual(b["usage"]["completion_tokens"], 5)
            self.assertEqual(b["choices"][0]["finish_reason"], "length")
            self.assertTrue(b["choices"][0]["text"])
        self.assertIn("completions: 4 requests (4 ok", log)
        rep = analyze(self.path("whole.sptrace"))
        self.assertEqual(rep["requests"]["count"], 4)
        self.assertEqual(skipped(rep), 0)
        self.assertEqual(rep["generation"]["output_tokens"], 20)
        self.assertGreater(stages(rep)["postprocess"]["p50_us"], 0)

    def test_hf_needs_transformers(self):
        try:
            import transformers  # noqa: F401
            self.skipTest("transformers is installed: --model hf runs")
        except ImportError:
            pass
        trace = self.path("hf.sptrace")
        p = subprocess.run([sys.executable, SERVICE, "--model", "hf", "--port", "0", "--trace", trace],
                           capture_output=True, text=True, timeout=120)
        self.assertEqual(p.returncode, 2, p.stderr)
        self.assertIn("transformers is not installed", p.stderr)
        self.assertIn("--model torch-tiny", p.stderr)
        self.assertFalse(os.path.exists(trace))

    def test_hf_models_that_cannot_be_built(self):
        fake = self.path("fake")
        os.makedirs(os.path.join(fake, "transformers"))
        with open(os.path.join(fake, "transformers", "__init__.py"), "w") as f:
            f.write('__version__ = "0.0-stand-in"\n')   # no BertConfig: `from transformers import ...` fails
        env = dict(os.environ, PYTHONPATH=fake + os.pathsep + os.environ.get("PYTHONPATH", ""))
        p = subprocess.run([sys.executable, SERVICE, "--model", "hf", "--port", "0", "--trace", self.path("hf.sptrace")],
                           capture_output=True, text=True, timeout=120, env=env)
        self.assertEqual(p.returncode, 2, p.stderr)
        self.assertIn("transformers 0.0-stand-in could not build BertModel and GPT2LMHeadModel", p.stderr)
        self.assertNotIn("Traceback", p.stderr)


if __name__ == "__main__":
    import unittest
    unittest.main()
