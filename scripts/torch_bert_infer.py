#!/usr/bin/env python3
"""BERT-style inference with plain PyTorch, for checking the servprof GPU collector against
torch.profiler (scripts/gpu-check.sh). Builds a small transformer encoder with torch.nn (embeddings,
post-LayerNorm encoder layers, mean pooling; random weights from a fixed seed, nothing downloaded),
moves it and a fixed batch of token ids to the GPU, and runs --passes forward passes.

  --profile torch  the passes run under torch.profiler (CUDA activity); prints
                   "TORCH_PROFILER kernels=N kernel_ms=X" (X = sum of the kernels' durations, one
                   stream, so also their busy time)
  --profile none   no profiler: the process is left to an injected collector
                   (CUDA_INJECTION64_PATH=libservprof-cupti.so), which prints its own summary

Everything before the passes (model creation, the copy of weights and inputs) launches no kernel,
and the checksum of the output (two kernels: a cast and a sum) is computed inside the passes' region,
so both modes see the same set of kernels (computed after it, the injected collector saw 2 kernels
that torch.profiler did not: 7202 vs 7200). The workload is fixed by the arguments and the seed.
"""
import argparse
import json
import os
import sys
import tempfile
import time


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--profile", choices=["torch", "none"], default="torch")
    ap.add_argument("--passes", type=int, default=100)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--seq", type=int, default=128)
    ap.add_argument("--hidden", type=int, default=512)
    ap.add_argument("--heads", type=int, default=8)
    ap.add_argument("--ffn", type=int, default=2048)
    ap.add_argument("--layers", type=int, default=4)
    ap.add_argument("--vocab", type=int, default=8000)
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()

    import torch
    import torch.nn as nn

    if not torch.cuda.is_available():
        print("torch_bert_infer: no CUDA device visible to torch", file=sys.stderr)
        return 77

    class Encoder(nn.Module):
        def __init__(self):
            super().__init__()
            self.tok = nn.Embedding(a.vocab, a.hidden)
            self.pos = nn.Embedding(a.seq, a.hidden)
            self.ln = nn.LayerNorm(a.hidden, eps=1e-12)
            layer = nn.TransformerEncoderLayer(a.hidden, a.heads, a.ffn, dropout=0.0, activation="gelu",
                                               batch_first=True, norm_first=False)
            # no nested tensors: the same dense kernels whatever the padding, so runs are comparable
            self.enc = nn.TransformerEncoder(layer, a.layers, enable_nested_tensor=False)

        def forward(self, ids, pad, positions):
            x = self.ln(self.tok(ids) + self.pos(positions))
            x = self.enc(x, src_key_padding_mask=pad)
            keep = (~pad).unsqueeze(-1).to(x.dtype)
            return (x * keep).sum(1) / keep.sum(1)

    torch.manual_seed(a.seed)
    model = Encoder().eval()  # built on the CPU: no kernels
    g = torch.Generator().manual_seed(a.seed)
    ids = torch.randint(1, a.vocab, (a.batch, a.seq), generator=g)
    lengths = torch.randint(a.seq // 4, a.seq + 1, (a.batch,), generator=g)
    pad = torch.arange(a.seq).unsqueeze(0) >= lengths.unsqueeze(1)
    positions = torch.arange(a.seq).unsqueeze(0).expand(a.batch, -1).contiguous()
    dev = torch.device("cuda")
    model = model.to(dev)  # copies only
    ids, pad, positions = ids.to(dev), pad.to(dev), positions.to(dev)
    torch.cuda.synchronize()

    def run():
        with torch.inference_mode():
            for _ in range(a.passes):
                out = model(ids, pad, positions)
            checksum = out.double().sum()  # inside the profiled region: its kernels count in both modes
        torch.cuda.synchronize()
        return float(checksum)

    t0 = time.perf_counter()
    if a.profile == "torch":
        from torch.profiler import ProfilerActivity, profile

        with profile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA]) as prof:
            checksum = run()
        wall = time.perf_counter() - t0
        fd, path = tempfile.mkstemp(suffix=".json")
        os.close(fd)
        try:
            prof.export_chrome_trace(path)
            with open(path) as f:
                trace = json.load(f)
        finally:
            os.unlink(path)
        kernels = [e for e in trace.get("traceEvents", []) if e.get("cat") == "kernel" and e.get("ph") == "X"]
        busy_us = sum(float(e.get("dur", 0)) for e in kernels)
        print("TORCH_PROFILER kernels=%d kernel_ms=%.3f" % (len(kernels), busy_us / 1000.0))
    else:
        checksum = run()
        wall = time.perf_counter() - t0
        print("PLAIN passes=%d" % a.passes)
    print("passes=%d batch=%d seq=%d hidden=%d layers=%d wall_s=%.3f checksum=%.6f"
          % (a.passes, a.batch, a.seq, a.hidden, a.layers, wall, checksum))
    return 0


if __name__ == "__main__":
    sys.exit(main())
