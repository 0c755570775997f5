"""Cost of opening and ending a request from Python by its id kind (docs/BENCHMARKS.md, "Python API:
ended int ids"): per round, N requests `with rec.request(id): pass`, minus the same loop empty, for
  small   int ids in [2**19, 2**20) (the ended-id bitmap),
  large   int ids from 2**40, consecutive (the ended-id tables; N above 65,536 turns a generation),
  random  random int ids in [2**20, 2**62) (the tables, a cache line each: hashed ids' worst case),
  str     str ids (a label and a trace id of their own: not checked; the control),
  number  (from 1) the middlewares' numbered begin (servprof.asgi: _c_begin with the C extension, the Python
          path's Middleware._begin with ctypes) and r.end().
Each round gives every kind fresh ids. Prints the backend and, per kind, ns a request of each round.
SERVPROF_BACKEND picks the backend. Usage: python3 bench/python_ids.py [N] [ROUNDS]"""
import itertools
import os
import random
import sys
import tempfile
import time

import servprof
import servprof.asgi

N = int(sys.argv[1]) if len(sys.argv) > 1 else 100000
ROUNDS = int(sys.argv[2]) if len(sys.argv) > 2 else 3


def empty(n):
    t0 = time.perf_counter_ns()
    for i in range(n):
        pass
    return time.perf_counter_ns() - t0


def with_ids(rec, ids):
    req = rec.request
    t0 = time.perf_counter_ns()
    for i in ids:
        with req(i):
            pass
    return time.perf_counter_ns() - t0


def numbered(rec, n, counter):
    mw = servprof.asgi.Middleware(None, rec)
    c_begin = servprof.asgi._c_begin
    now = servprof.now_ns
    t0 = time.perf_counter_ns()
    if c_begin is not None:
        for _ in range(n):
            c_begin(rec, [], now(), counter)[0].end()
    else:
        begin = mw._begin
        for _ in range(n):
            begin([], now())[0].end()
    return time.perf_counter_ns() - t0


def main():
    if N * ROUNDS > 2**19:
        sys.exit("N x ROUNDS must be at most 2**19: the small ids lie in [2**19, 2**20), the numbers below")
    with tempfile.TemporaryDirectory() as d:
        rec = servprof.Recorder(os.path.join(d, "t.sptrace"), thread_buffer_bytes=64 << 20)
        counter = itertools.count(1)
        with_ids(rec, ["warm-%d" % i for i in range(2000)])
        got = {"small": [], "large": [], "random": [], "str": [], "number": []}
        rng = random.Random(1)
        for k in range(ROUNDS):
            base = empty(N)
            small = range(2**19 + k * N, 2**19 + (k + 1) * N)
            large = range(2**40 + k * N, 2**40 + (k + 1) * N)
            rand = [rng.randrange(2**20, 2**62) for _ in range(N)]
            strs = ["s%d-%d" % (k, i) for i in range(N)]
            base_s = time.perf_counter_ns()
            for _ in strs:
                pass
            base_s = time.perf_counter_ns() - base_s
            got["small"].append((with_ids(rec, small) - base) / N)
            got["large"].append((with_ids(rec, large) - base) / N)
            got["random"].append((with_ids(rec, rand) - base_s) / N)
            got["str"].append((with_ids(rec, strs) - base_s) / N)
            got["number"].append((numbered(rec, N, counter) - base) / N)
        rec.close()
    print(servprof.BACKEND, " ".join("%s %s" % (k, ",".join("%.1f" % x for x in v)) for k, v in got.items()))


if __name__ == "__main__":
    main()
