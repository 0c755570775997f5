#!/usr/bin/env python3
"""Writes a large OTLP/JSON file in SGLang's request-tracing layout (docs/otlp.md, "SGLang") to standard
output, for timing the OTLP reader on it: N requests, one every 2 ms, each a Req root, a tokenizer and a
scheduler thread span and their slices (tokenize, dispatch, request_process, prefill_waiting,
prefill_forward, decode_waiting, decode_forward and 8 decode_loop slices of 1 ms, each with a schedule
event), as the fixture tests/data/otlp/sglang.jsonl's request A; 1000 requests per line, the API
server's spans and the scheduler's in documents of their own. Usage: sglang_otlp_gen.py N > sglang.jsonl
(docs/BENCHMARKS.md, "OTLP reader in SGLang's layout")."""
import json
import sys

T0 = 1765000300000000000
MS = 1000000
LOOPS = 8


def span(trace, sid, parent, name, start, end, attrs=(), events=()):
    d = {"traceId": trace, "spanId": sid, "parentSpanId": parent, "name": name, "kind": 1,
         "startTimeUnixNano": str(T0 + start), "endTimeUnixNano": str(T0 + end), "attributes": list(attrs)}
    if events:
        d["events"] = [{"timeUnixNano": str(T0 + t), "name": "schedule"} for t in events]
    return d


def sv(k, v):
    return {"key": k, "value": {"stringValue": v}}


def iv(k, v):
    return {"key": k, "value": {"intValue": str(v)}}


def dv(k, v):
    return {"key": k, "value": {"doubleValue": v}}


def request(i):
    tr = "%032x" % (0x5a1e << 48 | i)
    t = i * 2 * MS
    sid = lambda k: "%016x" % (i << 8 | k)
    root, tok, sch, dec = sid(1), sid(2), sid(3), sid(4)
    thread = lambda s, label, pid: [sv("host_id", "1a2b3c4d5e6f708192a3b4c5d6e7f809"), iv("pid", pid),
                                    sv("thread_label", label)]
    end = t + 14 * MS + LOOPS * MS
    rid = "%032x" % i
    api = [span(tr, root, "", " Req " + rid[:8], t, end + MS,
                [sv("rid", rid), sv("module", "sglang::request"), iv("gen_ai.usage.completion_tokens", LOOPS + 1),
                 iv("gen_ai.usage.prompt_tokens", 64), sv("gen_ai.response.finish_reasons", '["length"]'),
                 dv("gen_ai.latency.time_to_first_token", 0.0135), dv("gen_ai.latency.e2e", (end + MS - t) / 1e9)]),
           span(tr, tok, root, "tokenizer (host:1a2b3c4d | pid:4101)", t, t + 2 * MS, thread(0, "tokenizer", 4101)),
           span(tr, sid(5), tok, "tokenize", t, t + MS + MS // 2),
           span(tr, sid(6), tok, "dispatch", t + MS + MS // 2, t + 2 * MS)]
    sched = [span(tr, sch, root, "scheduler [TP 0] (host:1a2b3c4d | pid:4102)", t + 2 * MS, end,
                  [iv("tp_rank", 0)] + thread(0, "scheduler", 4102)),
             span(tr, sid(7), sch, "request_process", t + 2 * MS, t + 3 * MS),
             span(tr, sid(8), sch, "prefill_waiting", t + 3 * MS, t + 6 * MS),
             span(tr, sid(9), sch, "prefill_forward", t + 6 * MS, t + 13 * MS, events=[t + 6 * MS]),
             span(tr, sid(10), sch, "decode_waiting", t + 13 * MS, t + 14 * MS),
             span(tr, dec, sch, "decode_forward", t + 14 * MS, end)]
    for k in range(LOOPS):
        s = t + 14 * MS + k * MS
        sched.append(span(tr, sid(16 + k), dec, "decode_loop", s, s + MS, [iv("decode_ct", k)], events=[s]))
    return api, sched


def doc(spans):
    return {"resourceSpans": [{"resource": {"attributes": [sv("service.name", "sglang")]},
                               "scopeSpans": [{"scope": {"name": "sglang server"}, "spans": spans}]}]}


def main():
    n = int(sys.argv[1])
    out = sys.stdout
    for b in range(0, n, 1000):
        api, sched = [], []
        for i in range(b, min(n, b + 1000)):
            a, s = request(i)
            api += a
            sched += s
        out.write(json.dumps(doc(api), separators=(",", ":")) + "\n")
        out.write(json.dumps(doc(sched), separators=(",", ":")) + "\n")


if __name__ == "__main__":
    main()
