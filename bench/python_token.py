"""Cost of r.token() from Python (docs/BENCHMARKS.md, "Python API: token checks"): per round, N
tokens on one request by the usual call (no index, no time: the next index, now), minus the same
loop empty; prints the backend and ns per token of each round. SERVPROF_BACKEND picks the backend.
Usage: python3 bench/python_token.py [N] [ROUNDS]"""
import os
import sys
import tempfile
import time

import servprof

N = int(sys.argv[1]) if len(sys.argv) > 1 else 200000
ROUNDS = int(sys.argv[2]) if len(sys.argv) > 2 else 3


def main():
    with tempfile.TemporaryDirectory() as d:
        rec = servprof.Recorder(os.path.join(d, "t.sptrace"), thread_buffer_bytes=64 << 20)
        per = []
        for k in range(ROUNDS):
            r = rec.request(k)
            tok = r.token
            t0 = time.perf_counter_ns()
            for _ in range(N):
                tok()
            t1 = time.perf_counter_ns()
            for _ in range(N):
                pass
            t2 = time.perf_counter_ns()
            r.end()
            per.append(((t1 - t0) - (t2 - t1)) / N)
        rec.close()
    print(servprof.BACKEND, " ".join("%.1f" % x for x in per))


if __name__ == "__main__":
    main()
