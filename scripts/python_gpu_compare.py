#!/usr/bin/env python3
"""GPU check of the servprof Python package (scripts/gpu-check.sh step 12): one fixed workload, the
example service's encoder (examples/python/model.py) run batch by batch on CUDA with requests and
batches recorded through the public API, in one of two modes (separate processes: CUPTI takes one
subscriber):
  --mode servprof  servprof.torch.attach(rec, model, device="cuda"): the in-process CUPTI collector
                   records kernels and copies into --out (a native trace);
  --mode torch     torch.profiler (CPU + CUDA activity) with servprof's record_function ranges
                   (servprof.torch.Annotator); the Kineto trace goes to --out (.json).
`servprof analyze --json` of either gives gpu.compute_us (union of kernel time) for the 2% check, and
the Kineto trace alone must give the breakdown (requests, batches, kernel stage).
Prints "PYGPU mode=M batches=N kernels_stat=K" on success; exits 77 without a CUDA device."""
import argparse
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "examples", "python"))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--mode", choices=("servprof", "torch"), required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--batches", type=int, default=60)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--seq", type=int, default=96)
    a = ap.parse_args()
    import torch
    if not torch.cuda.is_available():
        print("python_gpu_compare: no CUDA device visible to torch", file=sys.stderr)
        return 77
    import servprof
    import servprof.torch as sptorch
    from model import Encoder
    model = Encoder(8000, 128, layers=4, hidden=512, heads=8, ffn=2048, seed=1).cuda()
    g = torch.Generator().manual_seed(7)
    work = []
    for _ in range(a.batches):
        lens = torch.randint(8, a.seq + 1, (a.batch,), generator=g)
        ids = torch.randint(5, 8000, (a.batch, a.seq), generator=g)
        work.append((ids, lens))
    with torch.inference_mode():  # warm-up outside the measured region (same in both modes)
        for ids, lens in work[:3]:
            model(ids.cuda(), lens.cuda()).cpu()
    torch.cuda.synchronize()
    trace = a.out if a.mode == "servprof" else a.out + ".sptrace"
    rec = servprof.Recorder(trace)
    att = None
    if a.mode == "servprof":
        att = sptorch.attach(rec, model, device="cuda")
        if not att.cupti:
            print("python_gpu_compare: CUPTI not recording: %s" % att.cupti_error, file=sys.stderr)
            return 1
    else:
        rec.annotator = sptorch.Annotator()

    def run():
        with torch.inference_mode():
            for i, (ids, lens) in enumerate(work):
                reqs = [rec.request("b%d-%d" % (i, k), input_tokens=int(lens[k])) for k in range(a.batch)]
                for r in reqs:
                    with r.stage("preprocess"):
                        pass
                with rec.batch(reqs, padded_tokens=a.batch * a.seq):
                    model(ids.cuda(non_blocking=True), lens.cuda(non_blocking=True)).cpu()
                for r in reqs:
                    with r.stage("postprocess"):
                        pass
                    r.end()

    if a.mode == "torch":
        from torch.profiler import ProfilerActivity, profile
        with profile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA]) as prof:
            run()
            torch.cuda.synchronize()
        prof.export_chrome_trace(a.out)
        stat = ""
    else:
        run()
        torch.cuda.synchronize()
        s = att.cupti_stats()
        stat = " kernels_stat=%d kernel_ms=%.3f" % (s["kernels"], s["kernel_ns"] / 1e6)
    rec.close()
    print("PYGPU mode=%s batches=%d%s" % (a.mode, a.batches, stat))
    return 0


if __name__ == "__main__":
    sys.exit(main())
