"""End-to-end for tests/python/run_versions.sh: records a trace with the servprof package under the
interpreter and backend it runs with (SERVPROF_BACKEND), then checks `servprof analyze --json` of it
(without --lenient) against the hand-computed answer below. Also records one request through the
context-manager forms on the real clock, and a step with its tokens, so every record kind the package
writes goes through the reader. Exits 0 on success, 1 with the reason.
Usage: record_e2e.py SERVPROF_BIN OUT_DIR BACKEND"""
import json
import os
import subprocess
import sys

import servprof

BIN, OUT, WANT = sys.argv[1], sys.argv[2], sys.argv[3]


def main():
    if servprof.BACKEND != WANT:
        return "backend %s, wanted %s" % (servprof.BACKEND, WANT)
    path = os.path.join(OUT, "e2e-%s.sptrace" % WANT)
    rec = servprof.Recorder(path)
    # Three requests, one batch, explicit times (ns). Per request: preprocess 100 us, queue 200 us,
    # postprocess 50 us. The batch 300000..1300000 (1000 us) holds a kernel of 800 us and an h2d copy
    # of 40 us, so gap = 1000 - 800 - 40 = 160 us. End-to-end 0..1350000 = 1350 us for each.
    rs = [rec.request("r%d" % i, input_tokens=10 + i, arrival_ns=0) for i in range(3)]
    for r in rs:
        r.span("preprocess", 0, 100000)
        r.span("queue", 100000, 300000)
    b = rec.batch(rs, effective_tokens=33, padded_tokens=48, batch_id=1)
    b.record(300000, 1300000)
    rec.copy("h2d", 1 << 20, 300000, 340000, batch=b)
    b.kernel("gemm", 400000, 1200000)
    for r in rs:
        r.span("postprocess", 1300000, 1350000)
        r.end(1350000)
    rec.close()
    p = subprocess.run([BIN, "analyze", "--json", path], capture_output=True, text=True, timeout=120)
    if p.returncode != 0:
        return "servprof analyze --json %s exited %d: %s" % (path, p.returncode, p.stderr)
    got = json.loads(p.stdout)
    st = {s["name"]: s for s in got["stages"]}
    want = {"preprocess": 100.0, "queue": 200.0, "kernel": 800.0, "h2d": 40.0, "gap": 160.0, "postprocess": 50.0}
    have = {k: st.get(k, {}).get("p50_us") for k in want}
    if have != want or got["requests"]["count"] != 3 or got["requests"]["latency_us"]["p50"] != 1350.0:
        return "report of %s: stages p50 %s (want %s), requests %s" % (path, have, want, got["requests"])
    if got["padding"]["effective_tokens"] != 33 or got["padding"]["padded_tokens"] != 48:
        return "report of %s: padding %s, want 33/48" % (path, got["padding"])

    # the real clock: context managers, a step and its tokens
    path2 = os.path.join(OUT, "e2e-clock-%s.sptrace" % WANT)
    rec = servprof.Recorder(path2)
    with rec.request("live", input_tokens=5) as r:
        with r.stage("preprocess"):
            pass
        with rec.step([(r, "prefill", 5)], kv_used=5, kv_capacity=64):
            pass
        r.token()
        with r.stage("postprocess"):
            pass
    rec.close()
    p = subprocess.run([BIN, "analyze", "--json", path2], capture_output=True, text=True, timeout=120)
    if p.returncode != 0:
        return "servprof analyze --json %s exited %d: %s" % (path2, p.returncode, p.stderr)
    got = json.loads(p.stdout)
    if got["requests"]["count"] != 1:
        return "report of %s: requests %s, want 1" % (path2, got["requests"])
    return None


if __name__ == "__main__":
    err = main()
    if err:
        print("FAILED: Python %s, %s backend: %s" % (sys.version.split()[0], WANT, err))
        sys.exit(1)
    print("end-to-end on Python %s, %s backend: passed" % (sys.version.split()[0], WANT))
