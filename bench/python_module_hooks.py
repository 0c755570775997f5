"""Cost of one module pass timed by servprof.torch on the CPU (docs/BENCHMARKS.md, "servprof.torch: innermost
module passes"): an nn.Identity called in a loop inside a batch block, with no hooks, with the hooks of
modules="leaves" and with those of modules="innermost" (the default: every module hooked, a pass recorded
when no other timed pass began inside it), in interleaved rounds. The backend is the one servprof picks
(SERVPROF_BACKEND=ctypes for the fallback).

    python3 bench/python_module_hooks.py [ROUNDS]
"""
import statistics
import sys
import tempfile
import time

import torch

import servprof
import servprof.torch as spt


def main():
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 21
    with tempfile.TemporaryDirectory() as tmp:
        rec = servprof.Recorder(tmp + "/hooks.sptrace", thread_buffer_bytes=1 << 24)
        m, x = torch.nn.Identity(), torch.zeros(1)

        def run(n):
            with rec.request("x") as r, rec.batch([r]):
                t = time.perf_counter_ns()
                for _ in range(n):
                    m(x)
                return (time.perf_counter_ns() - t) / n

        res = {"none": [], "leaves": [], "innermost": []}
        for _ in range(rounds):
            for mode in res:
                hooks = [] if mode == "none" else spt.instrument(m, rec, modules=mode)
                run(2000)  # warm
                res[mode].append(run(20000))
                for h in hooks:
                    h.remove()
        drops = sum(rec.drops().values())
        rec.close()
    print("backend %s, %d rounds of 20000 passes, %d records dropped" % (servprof.BACKEND, rounds, drops))
    for mode, v in res.items():
        print("%-10s median %.3f us a pass (min %.3f, max %.3f)" %
              (mode, statistics.median(v) / 1e3, min(v) / 1e3, max(v) / 1e3))


if __name__ == "__main__":
    main()
