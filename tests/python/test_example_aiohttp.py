"""The Python example service on aiohttp's own server (examples/python/service.py --app aiohttp:
aiohttp.web, servprof.aiohttp's middleware, the same tokenizer, batcher and PyTorch encoder as the
FastAPI app) under `servprof load`, its trace merged with the client's: every request joined and ok,
the stages cover each request (`other` under 5% of p95) with `network` outside it, the handler's own
preprocess, the batcher's queue and the model's kernel inside. Skips without torch or aiohttp."""
import os
import unittest

from sptest import SOURCE_DIR, TempDirCase, require, run_service_under_load, stages

require("torch")
require("aiohttp")

SERVICE = os.path.join(SOURCE_DIR, "examples", "python", "service.py")
SMALL = ["--layers", "1", "--hidden", "64", "--heads", "2", "--ffn", "256"]


class AiohttpExample(TempDirCase):
    def test_joins_the_client_trace(self):
        rep = run_service_under_load(self, SERVICE, "aiohttp", ["--app", "aiohttp", *SMALL], "/v1/embeddings",
                                     ["--duration", "3", "--rate", "40"], 63)
        st = stages(rep)
        shares = {k: round(v["share_of_p95"], 3) for k, v in st.items()}
        print("aiohttp example: %d requests; shares %s" % (rep["requests"]["count"], shares))
        self.assertGreater(rep["requests"]["count"], 60)
        self.assertEqual(rep["outcomes"]["by_outcome"]["ok"]["count"], rep["requests"]["count"])
        self.assertIn("network", st)
        self.assertLess(st["other"]["share_of_p95"], 0.05)
        for s in ("queue", "preprocess", "kernel", "postprocess"):
            self.assertGreater(st[s]["p50_us"], 0, s)


if __name__ == "__main__":
    unittest.main()
