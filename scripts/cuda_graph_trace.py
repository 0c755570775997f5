#!/usr/bin/env python3
"""Records a PyTorch profiler (Kineto) trace of CUDA graph replays of tiny kernels, for servprof's
graph-launch statistics and HTA-compatible rounding (docs/analysis.md section 4): each replay is one
cudaGraphLaunch whose kernels (sub-microsecond elementwise ops on a small tensor) all carry its
correlation id; a few eager launches per step give ordinary launches to compare with. The profiler runs
with a schedule, so the trace has ProfilerStep#N ranges (steps) and, with --idle-ms, host time between
the steps in which the GPU waits for work nobody sent.

Run on a machine with an NVIDIA GPU and PyTorch:
  python3 scripts/cuda_graph_trace.py --out cuda_graph_trace.json
  servprof analyze cuda_graph_trace.json                  # graph launches apart, steps, verdict
  servprof analyze --hta-compat cuda_graph_trace.json     # HTA's figures, sub-us kernels at -1 us
"""
import argparse
import json
import sys
import time


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default="cuda_graph_trace.json", help="Chrome-trace JSON to write")
    ap.add_argument("--kernels", type=int, default=16, help="kernels captured in the graph")
    ap.add_argument("--replays", type=int, default=8, help="graph replays per profiler step")
    ap.add_argument("--eager", type=int, default=4, help="eager (ordinary) kernel launches per step")
    ap.add_argument("--steps", type=int, default=3, help="active profiler steps")
    ap.add_argument("--elements", type=int, default=256, help="tensor size: small keeps kernels sub-us")
    ap.add_argument("--idle-ms", type=float, default=2.0, help="host sleep between steps (no work sent)")
    a = ap.parse_args()

    try:
        import torch
        from torch.profiler import ProfilerActivity, profile, schedule
    except ImportError:
        print("cuda_graph_trace: PyTorch is not installed", file=sys.stderr)
        return 2
    if not torch.cuda.is_available():
        print("cuda_graph_trace: no CUDA device", file=sys.stderr)
        return 2

    dev = torch.device("cuda")
    x = torch.ones(a.elements, device=dev)
    y = torch.zeros(a.elements, device=dev)

    def body():
        # tiny elementwise kernels: launch-bound, each well under a microsecond of GPU time
        for i in range(a.kernels):
            if i % 2:
                y.add_(x)
            else:
                y.mul_(0.5)

    # warm up on a side stream, as torch.cuda.graphs asks, then capture
    s = torch.cuda.Stream()
    s.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(s):
        for _ in range(3):
            body()
    torch.cuda.current_stream().wait_stream(s)
    g = torch.cuda.CUDAGraph()
    with torch.cuda.graph(g):
        body()
    torch.cuda.synchronize()

    sched = schedule(wait=1, warmup=1, active=a.steps, repeat=1)
    with profile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA], schedule=sched) as prof:
        for _ in range(2 + a.steps):
            for _ in range(a.replays):
                g.replay()
            for _ in range(a.eager):
                y.add_(x)          # ordinary launches (cudaLaunchKernel)
            torch.cuda.synchronize()
            time.sleep(a.idle_ms / 1000.0)
            prof.step()
    prof.export_chrome_trace(a.out)

    with open(a.out) as f:
        ev = json.load(f)["traceEvents"]
    graph_calls = sum(1 for e in ev if e.get("cat") == "cuda_runtime" and "GraphLaunch" in e.get("name", ""))
    kernels = [e for e in ev if e.get("cat") == "kernel"]
    sub_us = sum(1 for e in kernels if float(e.get("dur", 0)) < 1.0)
    steps = sum(1 for e in ev if str(e.get("name", "")).startswith("ProfilerStep#"))
    print("%s: %d graph launches, %d kernels (%d shorter than 1 us), %d ProfilerStep ranges, torch %s, %s"
          % (a.out, graph_calls, len(kernels), sub_us, steps, torch.__version__, torch.cuda.get_device_name(0)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
