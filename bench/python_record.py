"""Per-request recording cost of the servprof Python package (bench/python.bench.sh). One request =
the middleware's part of a request's life as the example service records it: a request with 4 stages
(preprocess, tokenize, queue, postprocess) and a batch of its own, all timed by `with` blocks. The
same loop with no recording (contextlib.nullcontext in place of each block) is the reference; the
cost is the difference per request. Rounds alternate the modes; medians of the rounds are printed.
Usage: python3 bench/python_record.py [REQUESTS] [ROUNDS]   (SERVPROF_BACKEND picks the backend)"""
import contextlib
import os
import statistics
import sys
import tempfile
import time

import servprof

N = int(sys.argv[1]) if len(sys.argv) > 1 else 20000
ROUNDS = int(sys.argv[2]) if len(sys.argv) > 2 else 7
NULL = contextlib.nullcontext()


class NullReq:
    def stage(self, name):
        return NULL


def loop_null(n):
    t0 = time.perf_counter_ns()
    for i in range(n):
        with NULL as r:
            r = NullReq()
            with r.stage("preprocess"):
                pass
            with r.stage("tokenize"):
                pass
            with r.stage("queue"):
                pass
            with NULL:
                pass
            with r.stage("postprocess"):
                pass
    return time.perf_counter_ns() - t0


def loop_rec(rec, n, base):
    t0 = time.perf_counter_ns()
    for i in range(n):
        with rec.request(base + i, input_tokens=16) as r:
            with r.stage("preprocess"):
                pass
            with r.stage("tokenize"):
                pass
            with r.stage("queue"):
                pass
            with rec.batch((r,), padded_tokens=32):
                pass
            with r.stage("postprocess"):
                pass
    return time.perf_counter_ns() - t0


def main():
    d = tempfile.mkdtemp(prefix="servprof-bench-")
    path = os.path.join(d, "t.sptrace")
    rec = servprof.Recorder(path, stages=["tokenize"])
    loop_rec(rec, 2000, 10 ** 9)  # warm: the thread's buffer, interned names
    on, off = [], []
    for k in range(ROUNDS):
        off.append(loop_null(N) / N)
        on.append(loop_rec(rec, N, k * N) / N)
    rec.close()
    drops = sum(rec.drops().values())
    size = os.path.getsize(path)
    os.remove(path)
    os.rmdir(d)
    mon, moff = statistics.median(on), statistics.median(off)
    print("python recording (%s backend, Python %s): %d requests x %d rounds, each 4 stages + a batch" %
          (servprof.BACKEND, sys.version.split()[0], N, ROUNDS))
    print("  with recording  %.0f ns/request (median; rounds %s)" % (mon, ", ".join("%.0f" % x for x in on)))
    print("  no recording    %.0f ns/request (median; the same blocks as nullcontext)" % moff)
    print("  cost            %.2f us per request (goal: under 5 us); %d records dropped; trace %.1f bytes/request"
          % ((mon - moff) / 1000, drops, size / ((ROUNDS * N) + 2000)))


if __name__ == "__main__":
    main()
