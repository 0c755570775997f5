"""servprof.torch on the CPU: module timers record each leaf module's forward pass as a kernel of the
batch running in that thread; record_function ranges mirror requests, stages and batches while
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
        self.assertEqual(len(att.hooks), 6)
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
        names = {k["name"] for k in rep["gpu"].get("top_kernels", [])}
        if names:
            self.assertTrue(names <= {"0", "1", "2"}, names)


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
