#!/usr/bin/env python3
"""Writes a large OTLP/JSON file in text-generation-inference's layout (docs/otlp.md,
"text-generation-inference") to standard output, for timing the OTLP reader's join of TGI's batch
traces to their members: N requests in cohorts of 16, each cohort a prefill step then 9 decode steps
of 1 ms (0.9 ms windows), one cohort after another; every infer span links to its step's batch span
and each batch span to its 16 members' infer spans. Usage: tgi_otlp_gen.py N > tgi.jsonl
(docs/BENCHMARKS.md, "OTLP reader with TGI's span links", used N = 20000: 155.6 MB)."""
import json
import sys

T0 = 1765000200000000000
STEPS, COHORT = 10, 16


def span(trace, sid, parent, name, start, end, attrs=(), links=None):
    d = {"traceId": trace, "spanId": sid, "parentSpanId": parent, "name": name, "kind": 1,
         "startTimeUnixNano": str(T0 + start), "endTimeUnixNano": str(T0 + end), "attributes": list(attrs)}
    if links:
        d["links"] = links
    return d


def text(key, value):
    return {"key": key, "value": {"stringValue": value}}


def batch_ids(b):
    return "%032x" % (0xba7c << 112 | b), "%016x" % (b << 8 | 1)


def main():
    n = int(sys.argv[1])
    out = sys.stdout
    reqs, bats = [], []

    def flush():
        for part in (reqs, bats):
            if part:
                out.write(json.dumps({"resourceSpans": [{"scopeSpans": [{"spans": part}]}]},
                                     separators=(",", ":")) + "\n")
                part.clear()

    t, bno = 0, 0
    for c in range(n // COHORT):
        members = [c * COHORT + i for i in range(COHORT)]
        steps = []
        for _ in range(STEPS):
            bno += 1
            steps.append((bno, t, t + 900000))
            t += 1000000
        for r in members:
            tr, p = "%032x" % (0x7a1e0000 << 96 | r + 1), "%08x" % (r + 1)
            arr = steps[0][1] - 3000000
            reqs += [span(tr, p + "00000001", "", "POST /generate", arr, steps[-1][2] + 100000),
                     span(tr, p + "00000002", p + "00000001", "generate", arr + 10000, steps[-1][2] + 50000,
                          [text("validation_time", "1ms"), text("queue_time", "1.99ms"),
                           text("inference_time", "9.9ms"), text("total_time", "12.89ms")]),
                     span(tr, p + "00000003", p + "00000002", "schedule", arr + 1010000, steps[-1][2]),
                     span(tr, p + "00000004", p + "00000003", "queued", arr + 1010000, steps[0][1])]
            for k, (b, start, end) in enumerate(steps):
                bt, bs = batch_ids(b)
                infer = p + "%08x" % (16 + 2 * k)
                reqs.append(span(tr, infer, p + "00000003", "infer", start, end + 100000,
                                 links=[{"traceId": bt, "spanId": bs}]))
                reqs.append(span(tr, p + "%08x" % (17 + 2 * k), infer, "send_generation", end - 10000, end - 5000))
        for k, (b, start, end) in enumerate(steps):
            bt, bs = batch_ids(b)
            links = [{"traceId": "%032x" % (0x7a1e0000 << 96 | r + 1), "spanId": "%08x%08x" % (r + 1, 16 + 2 * k)}
                     for r in members]
            bats.append(span(bt, bs, "", "batch", start, end,
                             [{"key": "batch_size", "value": {"intValue": str(COHORT)}}], links))
            bats.append(span(bt, "%016x" % (b << 8 | 2), bs, "prefill" if k == 0 else "decode", start + 1000,
                             end - 1000))
        if c % 12 == 11:
            flush()
    flush()


if __name__ == "__main__":
    main()
