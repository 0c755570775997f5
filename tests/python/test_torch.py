"""servprof.torch on the CPU: module timers record each innermost module's forward pass (one inside
which no other module's pass began) as a kernel of the batch running in that thread; record_function ranges mirror requests, stages and batches while
torch.profiler runs (names per docs/annotations.md), so servprof reads them from the profiler's trace;
attach(device="cuda") without a usable GPU warns and records on without device activity."""
import json
import warnings

import servprof
from sptest import TempDirCase, analyze, require, stages

torch = require("torch")
import servprof.torch as sptorch  # noqa: E402

BACKENDS = ("native", "ctypes")


def small_model():
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(16, 32), torch.nn.GELU(), torch.nn.Linear(32, 8))


class ModuleTimers(TempDirCase):
    def test_kernels_per_leaf_module_tied_to_batches(self):
        """3 leaves (Linear, GELU, Linear) x 3 batches = 9 kernels tied to batches, plus 3 from a pass
        outside any batch (tied to none): 12 kernel records in all."""
        rec = servprof.Recorder(self.path("t.sptrace"))
        model = small_model()
        att = sptorch.attach(rec, model, annotate=False)
        self.assertEqual(att.device, "cpu")
        self.assertEqual(len(att.hooks), 8)  # innermost: the Sequential and its 3 leaves, 2 hooks each
        for i in range(3):
            with rec.request("r%d" % i, input_tokens=4) as r:
                with rec.batch([r], padded_tokens=16):
                    model(torch.randn(4, 16))
        model(torch.randn(1, 16))
        att.detach()
        model(torch.randn(1, 16))  # hooks removed: not recorded
        rec.close()
        rep = analyze(self.path("t.sptrace"))
        self.assertEqual(rep["gpu"]["kernels"], 12)
        st = stages(rep)
        self.assertGreater(st["kernel"]["p50_us"], 0)
        # the Sequential's passes held its leaves' passes: not kernels of their own; the leaves' names
        # ("0", "1", "2": the Sequential's indexes) carry their classes
        self.assertEqual(kernel_counts(rep), {"0 (Linear)": 4, "1 (GELU)": 4, "2 (Linear)": 4})

    def test_innermost_modules_do_their_childrens_work(self):
        """A module that does its children's work without calling them is timed; leaf hooks missed it.
        nn.TransformerEncoderLayer in eval mode under no_grad takes torch's fused path
        (torch._transformer_encoder_layer_fwd): none of its children's forward runs, so with leaf
        hooks only `emb` and `out` were kernels and the encoder, nearly all of the model's time, read
        as `gap`. In train mode the layer calls its children, but nn.MultiheadAttention uses
        out_proj's weights without calling it: `self_attn` is the kernel, not `self_attn.out_proj`.
        And a module of the user's own (Fused) that uses its child's weights through F.linear."""

        class Fused(torch.nn.Module):
            def __init__(self):
                super().__init__()
                self.lin = torch.nn.Linear(32, 32)

            def forward(self, x):
                return torch.nn.functional.linear(x, self.lin.weight, self.lin.bias).relu()

        class Encoder(torch.nn.Module):
            def __init__(self):
                super().__init__()
                self.emb = torch.nn.Embedding(50, 32)
                layer = torch.nn.TransformerEncoderLayer(32, 4, 64, batch_first=True)
                self.enc = torch.nn.TransformerEncoder(layer, 1)
                self.fused = Fused()
                self.out = torch.nn.Linear(32, 8)

            def forward(self, ids, mask):
                return self.out(self.fused(self.enc(self.emb(ids), src_key_padding_mask=mask))).mean(1)

        torch.manual_seed(0)
        ids = torch.randint(1, 50, (2, 6))
        mask = torch.zeros(2, 6, dtype=torch.bool)
        mask[1, 4:] = True
        layer_parts = {"enc.layers.0.self_attn", "enc.layers.0.linear1", "enc.layers.0.linear2",
                       "enc.layers.0.norm1", "enc.layers.0.norm2", "enc.layers.0.dropout",
                       "enc.layers.0.dropout1", "enc.layers.0.dropout2"}
        cases = [  # (modules, train mode, the kernels of one pass)
            ("innermost", False, {"emb", "enc.layers.0 (TransformerEncoderLayer)", "fused", "out"}),
            ("innermost", True, {"emb", "fused", "out"} | layer_parts),
            ("leaves", False, {"emb", "out"}),  # what leaf hooks saw: neither the layer nor fused's work
        ]
        for modules, train, want in cases:
            with self.subTest(modules=modules, train=train):
                path = self.path("%s-%d.sptrace" % (modules, train))
                model = Encoder().train(train)
                with servprof.Recorder(path) as rec, warnings.catch_warnings():
                    warnings.simplefilter("ignore")  # torch 1.13: nested tensors are a prototype
                    att = sptorch.attach(rec, model, annotate=False, modules=modules)
                    with torch.set_grad_enabled(train):
                        for i in range(3):
                            with rec.request("r%d" % i, input_tokens=10) as r:
                                with rec.batch([r], padded_tokens=12):
                                    model(ids, mask)
                    att.detach()
                self.assertEqual(kernel_counts(analyze(path)), {n: 3 for n in want})

    def test_container_indexes_named_by_class(self):
        """A name ending in an nn.Sequential or nn.ModuleList index gets the module's class, in every
        mode; other names stay the qualified name, and (name, module) pairs keep the caller's names."""

        class Blocks(torch.nn.Module):
            def __init__(self):
                super().__init__()
                self.blocks = torch.nn.ModuleList([torch.nn.Linear(8, 8), torch.nn.Tanh()])
                self.head = torch.nn.Sequential(torch.nn.Linear(8, 4))

            def forward(self, x):
                for b in self.blocks:
                    x = b(x)
                return self.head(x)

        cases = [  # (modules, the kernels of one pass)
            ("innermost", {"blocks.0 (Linear)", "blocks.1 (Tanh)", "head.0 (Linear)"}),
            ("leaves", {"blocks.0 (Linear)", "blocks.1 (Tanh)", "head.0 (Linear)"}),
            ("children", {"head"}),  # blocks (a ModuleList) has no forward of its own: never called
        ]
        torch.manual_seed(0)
        model = Blocks()
        for modules, want in cases + [("pairs", {"first"})]:
            with self.subTest(modules=modules):
                path = self.path("%s.sptrace" % modules)
                with servprof.Recorder(path) as rec:
                    chosen = [("first", model.blocks[0])] if modules == "pairs" else modules
                    att = sptorch.attach(rec, model, annotate=False, modules=chosen)
                    for i in range(2):
                        with rec.request("r%d" % i, input_tokens=4) as r:
                            with rec.batch([r], padded_tokens=4):
                                model(torch.randn(2, 8))
                    att.detach()
                self.assertEqual(kernel_counts(analyze(path)), {n: 2 for n in want})
        seq = small_model()
        self.assertEqual([n for n, _ in sptorch.leaf_modules(seq)], ["0 (Linear)", "1 (GELU)", "2 (Linear)"])
        with servprof.Recorder(self.path("c.sptrace")) as rec:
            att = sptorch.attach(rec, seq, annotate=False, modules="children")
            with rec.request("r", input_tokens=4) as r:
                with rec.batch([r], padded_tokens=4):
                    seq(torch.randn(2, 16))
            att.detach()
        self.assertEqual(kernel_counts(analyze(self.path("c.sptrace"))),
                         {"0 (Linear)": 1, "1 (GELU)": 1, "2 (Linear)": 1})

    def test_unknown_modules_mode(self):
        with servprof.Recorder(self.path("t.sptrace")) as rec:
            with self.assertRaisesRegex(ValueError, "modules 'leaf': innermost, leaves, children"):
                sptorch.instrument(small_model(), rec, modules="leaf")


def kernel_counts(rep):
    return {k["name"]: k["count"] for k in rep["gpu"]["kernel_stats"]}


class Annotations(TempDirCase):
    def test_record_function_ranges(self):
        rec = servprof.Recorder(self.path("t.sptrace"))
        model = small_model()
        sptorch.attach(rec, model)
        from torch.profiler import ProfilerActivity, profile
        with profile(activities=[ProfilerActivity.CPU]) as prof:
            reqs = []
            for i in range(5):
                r = rec.request("q,%d" % i)  # "," cannot be in an annotation id: written as "q_0"
                with r.stage("preprocess"):
                    r.input_tokens = 3 + i
                reqs.append(r)
            with rec.batch(reqs, padded_tokens=40):
                model(torch.randn(5, 16))
            for r in reqs:
                with r.stage("postprocess"):
                    pass
                r.end()
        path = self.path("prof.json")
        prof.export_chrome_trace(path)
        rec.close()
        with open(path) as f:
            doc = json.load(f)
        events = doc["traceEvents"] if isinstance(doc, dict) else doc
        names = sorted(e["name"] for e in events if e.get("ph") == "X" and e.get("name", "").startswith("servprof."))
        self.assertIn("servprof.batch:1[q_0,q_1,q_2,q_3,q_4];effective=25;padded=40", names)
        self.assertEqual(sum(n.startswith("servprof.request:q_") and ";" not in n for n in names), 5)
        self.assertIn("servprof.request:q_4;tokens=7", names)
        self.assertEqual(sum(n.startswith("servprof.stage.preprocess:") for n in names), 5)
        # Debian's torch 1.13 is built without Kineto: its profiler writes the same ranges without a
        # `cat` (and a string pid); servprof reads the servprof.* ones as user_annotation ranges, so
        # the profiler's own file gives the requests (before, it gave none), as does the same file
        # with Kineto's category and pid written in
        kineto = [dict(e, cat=e.get("cat") or "user_annotation", pid=e["pid"] if isinstance(e.get("pid"), int) else 1)
                  for e in events if e.get("ph") == "X"]
        kpath = self.path("kineto.json")
        with open(kpath, "w") as f:
            json.dump({"traceEvents": kineto}, f)
        raw, rep, native = analyze(path), analyze(kpath), analyze(self.path("t.sptrace"))
        self.assertEqual(raw["requests"]["count"], 5)
        self.assertEqual(rep["requests"]["count"], 5)
        self.assertEqual(native["requests"]["count"], 5)
        for k in ("effective_tokens", "padded_tokens"):
            self.assertEqual(rep["padding"][k], native["padding"][k])
            self.assertEqual(raw["padding"][k], native["padding"][k])
        self.assertIn("preprocess", stages(rep))
        self.assertIn("preprocess", stages(raw))

    def test_no_ranges_without_a_profiler(self):
        rec = servprof.Recorder(self.path("t.sptrace"))
        sptorch.attach(rec, annotate=True)
        with rec.request("a") as r:
            with r.stage("preprocess"):
                pass
        rec.close()
        self.assertEqual(analyze(self.path("t.sptrace"))["requests"]["count"], 1)


class CudaWithoutGpu(TempDirCase):
    def test_attach_cuda_warns(self):
        if torch.cuda.is_available():
            self.skipTest("a GPU is present: scripts/gpu-check.sh step 12 checks the collector there")
        rec = servprof.Recorder(self.path("t.sptrace"))
        with warnings.catch_warnings(record=True) as w:
            warnings.simplefilter("always")
            att = sptorch.attach(rec, device="cuda")
        self.assertFalse(att.cupti)
        self.assertTrue(att.cupti_error)
        self.assertTrue(any("CUPTI collector is not recording" in str(x.message) for x in w), [str(x.message) for x in w])
        with rec.request("a") as r:
            with rec.batch([r]):
                pass
        rec.close()
        rep = analyze(self.path("t.sptrace"))
        self.assertEqual(rep["requests"]["count"], 1)
