"""Generation recording from the Python package (Recorder.step, Request.token), against both backends:
the records read back through `servprof analyze --json` give the hand-computed TTFT/TPOT breakdown, bad
input raises TypeError/ValueError naming the argument, a step over the member limit is dropped and
counted as libservprof's sp_record_step does, records after close are counted drops, and steps and
tokens recorded from many threads and asyncio tasks all arrive."""
import asyncio
import json
import threading

import servprof
from sptest import SOURCE_DIR, TempDirCase, analyze

BACKENDS = ("native", "ctypes")
MS = 1000000


def rows(table):
    return {r["name"]: r for r in table["rows"]}


def record_example(rec):
    """docs/generation.md's example (tests/data/generation/example.jsonl, test_gen_analysis.c's trace A
    at 10000x), recorded through the package with its explicit times: r1 (30-token prompt) tokenised
    0-1 ms, queued 1-3 ms, prefilled alone in step 1 (3-7 ms, padded to 32, an h2d copy 3-3.2 ms and a
    kernel 3.2-6.2 ms); step 2 (8-10 ms, kernel 8-9 ms) decodes r1 and prefills r2 (20 tokens, padded to
    32); step 3 (11-12 ms, kernel 11-11.5 ms) decodes both; each token's chunk is written in 0.5 ms."""
    rec.set_property("mode", "generate")
    rec.set_property("policy.max_num_seqs", "4")
    r1 = rec.request("r1", input_tokens=30, arrival_ns=0)
    r2 = rec.request("r2", input_tokens=20, arrival_ns=2 * MS)
    r1.span("preprocess", 0, 1 * MS)
    r1.span("queue", 1 * MS, 3 * MS)
    r2.span("preprocess", 2 * MS, 3 * MS)
    r2.span("queue", 3 * MS, 8 * MS)
    s1 = rec.step([(r1, "prefill", 30)], padded_tokens=32, kv_used=30, kv_capacity=100)
    s1.record(3 * MS, 7 * MS)
    rec.copy("h2d", 64, 3 * MS, 3200000, batch=s1)
    s1.kernel("prefill_gemm", 3200000, 6200000)
    r1.span("stream", 7 * MS, 7500000)
    r1.token(time_ns=7500000)
    s2 = rec.step([(r1, "decode", 1), (r2, "prefill", 20)], padded_tokens=32, kv_used=52, kv_capacity=100)
    s2.record(8 * MS, 10 * MS)
    s2.kernel("mixed_gemm", 8 * MS, 9 * MS)
    for r in (r1, r2):
        r.span("stream", 10 * MS, 10500000)
        r.token(time_ns=10500000)
    s3 = rec.step([(r1, "decode", 1), (r2, "decode", 1)], kv_used=54, kv_capacity=100)
    s3.record(11 * MS, 12 * MS)
    rec.kernel("decode_gemm", 11 * MS, 11500000, batch=s3.id)
    for r in (r1, r2):
        r.span("stream", 12 * MS, 12500000)
        r.token(time_ns=12500000)
        r.span("postprocess", 12500000, 13 * MS)
        r.end(13 * MS)
    return r1, r2, (s1, s2, s3)


class KnownAnswer(TempDirCase):
    def test_docs_example(self):
        """The figures below are docs/generation.md's example, worked out by hand in
        tests/unit/test_gen_analysis.c (trace A): TTFT r1 = 7.5 ms (token 0 at 7.5), r2 = 10.5 - 2 =
        8.5 ms; TPOT r1 = (12.5 - 7.5) / 2 = 2.5 ms, r2 = (12.5 - 10.5) / 1 = 2 ms; ITL gaps 3, 2 (r1)
        and 2 (r2) ms; r2's TTFT is 1 ms preprocess + 5 ms queue + 2 ms in step 2 (1 ms kernel, 1 ms
        gap) + 0.5 ms stream, so queue's share of p95 TTFT (the window holds both requests: min(20, n))
        is (2 + 5) / (7.5 + 8.5) = 0.4375. The same trace as JSONL (the reference) gives the same
        generation section."""
        path = self.path("gen.sptrace")
        rec = servprof.Recorder(path, stages=["stream"])
        r1, r2, steps = record_example(rec)
        self.assertEqual((r1.next_token, r2.next_token), (3, 2))
        self.assertEqual(steps[1].phases, ("decode", "prefill"))
        self.assertEqual(steps[1].tokens, (1, 20))
        self.assertEqual(steps[1].effective_tokens, 21)   # the members' sum
        self.assertEqual(steps[2].padded_tokens, 2)       # defaults to effective
        self.assertIsInstance(steps[0], servprof.Batch)
        rec.close()
        self.assertEqual(sum(rec.drops().values()), 0)
        got = analyze(path)
        g = got["generation"]
        self.assertEqual(g["requests"], 2)
        self.assertEqual(g["output_tokens"], 5)
        self.assertEqual((g["ttft_us"]["p50"], g["ttft_us"]["p95"]), (7500.0, 8500.0))
        self.assertEqual((g["tpot_us"]["p50"], g["tpot_us"]["p95"]), (2000.0, 2500.0))
        self.assertEqual((g["itl_us"]["p50"], g["itl_us"]["max"], g["itl_us"]["count"]), (2000.0, 3000.0, 3))
        self.assertEqual((g["e2e_us"]["p50"], g["e2e_us"]["p95"]), (11000.0, 13000.0))
        tt = rows(g["ttft"])
        self.assertEqual(tt["queue"]["p95_us"], 5000.0)
        self.assertEqual(tt["queue"]["p50_us"], 2000.0)
        self.assertEqual(tt["preprocess"]["p50_us"], 1000.0)
        self.assertEqual(tt["prefill kernel"]["p95_us"], 3000.0)   # r1's step 1 kernel 3.2-6.2 ms
        self.assertEqual(tt["prefill h2d"]["p95_us"], 200.0)
        self.assertEqual(tt["stream"]["p50_us"], 500.0)
        self.assertEqual(tt["other"]["p95_us"], 0.0)
        self.assertAlmostEqual(tt["queue"]["share_of_p95"], 0.4375, places=6)
        self.assertEqual((g["ttft"]["verdict"]["stage"], g["ttft"]["verdict"]["group"]), ("queue", "configuration"))
        tp = rows(g["tpot"])
        # r1's TPOT 2.5 ms = (step 2 kernel 1 + step 3 kernel 0.5) / 2 = 0.75 kernel, the same gap, 0.5
        # between steps ((8-7.5) + (11-10.5)) / 2, 0.5 stream: 0.75 + 0.75 + 0.5 + 0.5 = 2.5
        self.assertEqual(tp["decode kernel"]["p95_us"], 750.0)
        self.assertEqual(tp["decode gap"]["p95_us"], 750.0)
        self.assertEqual(tp["between steps"]["p50_us"], 500.0)
        self.assertEqual(tp["stream"]["p50_us"], 500.0)
        self.assertEqual(g["steps"]["count"], 3)
        self.assertEqual(g["steps"]["prefill_steps"], 2)
        self.assertEqual(g["steps"]["padding_prefill"]["effective_tokens"], 51)
        self.assertEqual(g["steps"]["padding_prefill"]["padded_tokens"], 64)
        ref = analyze(SOURCE_DIR + "/tests/data/generation/example.jsonl")["generation"]
        for key in ("ttft_us", "tpot_us", "itl_us", "e2e_us", "steps", "kv_cache"):
            self.assertEqual(g[key], ref[key], key)
        for table in ("ttft", "tpot"):
            self.assertEqual(g[table]["rows"], ref[table]["rows"], table)
            self.assertEqual(g[table]["verdict"]["stage"], ref[table]["verdict"]["stage"], table)

    def test_timed_step_and_default_token_index(self):
        """A `with` step block is the step's window (servprof.now_ns), is the current batch inside
        (device work ties to it), and touches its members; token() counts up from 0 and takes now."""
        path = self.path("t.sptrace")
        rec = servprof.Recorder(path)
        with rec.request("a", input_tokens=4) as r:
            with rec.step([(r, "prefill", 4)], kv_capacity=64, kv_used=5) as s:
                self.assertIs(servprof.current_batch(), s)
                t = servprof.now_ns()
                rec.kernel("op", t, t + 1)
            self.assertIsNone(servprof.current_batch())
            r.token()
            with rec.step([("a", "decode", 1)]) as s2:   # an open request's id works too
                pass
            r.token()
            self.assertEqual(r.next_token, 2)
            self.assertLessEqual(r.first_ns, s.start_ns)
            self.assertLessEqual(s2.end_ns, r.last_ns)
        rec.close()
        g = analyze(path)["generation"]
        self.assertEqual(g["output_tokens"], 2)
        self.assertEqual(g["steps"]["count"], 2)
        self.assertEqual(g["tpot_us"]["count"], 1)


class Errors(TempDirCase):
    def test_bad_input(self):
        rec = servprof.Recorder(self.path("t.sptrace"))
        r = rec.request("a")
        cases = [
            (TypeError, "members must be an iterable", lambda: rec.step("abc")),
            (TypeError, "step member 0 must be a (request, phase, tokens) tuple", lambda: rec.step([r])),
            (ValueError, "unknown phase 'prefil'", lambda: rec.step([(r, "prefil", 3)])),
            (TypeError, "phase must be a str", lambda: rec.step([(r, 1, 3)])),
            (ValueError, "step member 1: tokens = 0 is out of range", lambda: rec.step([(r, "decode", 1), (r, "decode", 0)])),
            (ValueError, "tokens = 4294967296 is out of range", lambda: rec.step([(r, "prefill", 1 << 32)])),
            (TypeError, "tokens must be an int", lambda: rec.step([(r, "decode", 1.0)])),
            (TypeError, "tokens must be an int", lambda: rec.step([(r, "decode", True)])),
            (ValueError, "'gone' is not an open request", lambda: rec.step([("gone", "decode", 1)])),
            (TypeError, "request id must be a str or an int", lambda: rec.step([(1.5, "decode", 1)])),
            (ValueError, "exceed padded_tokens 2", lambda: rec.step([(r, "prefill", 3)], padded_tokens=2)),
            (ValueError, "kv_used 9 exceeds kv_capacity 8", lambda: rec.step([(r, "decode", 1)], kv_used=9, kv_capacity=8)),
            (ValueError, "kv_used = -1 is out of range", lambda: rec.step([(r, "decode", 1)], kv_used=-1)),
            (TypeError, "kv_capacity must be an int", lambda: rec.step([(r, "decode", 1)], kv_capacity="8")),
            (TypeError, "unexpected keyword argument 'kv'", lambda: rec.step([(r, "decode", 1)], kv=1)),
            (ValueError, "index = -1 is out of range", lambda: r.token(-1)),
            (TypeError, "index must be an int", lambda: r.token("0")),
            (TypeError, "time_ns must be an int", lambda: r.token(time_ns=1.0)),
            (ValueError, "time_ns = -5 is out of range", lambda: r.token(0, -5)),
            (ValueError, "end_ns 1 is before start_ns 2", lambda: rec.step([(r, "decode", 1)]).record(2, 1)),
        ]
        for exc, words, fn in cases:
            with self.assertRaises(exc, msg=words) as cm:
                fn()
            self.assertIn(words, str(cm.exception))
        self.assertEqual(r.next_token, 0)       # a refused token() moves nothing
        s = rec.step([(r, "decode", 1)])
        s.record(1, 2)
        with self.assertRaises(RuntimeError):
            s.record(3, 4)
        rec.close()
        self.assertEqual(sum(rec.drops().values()), 0)

    def test_step_over_the_member_limit_is_dropped_and_counted(self):
        """sp_record_step drops a step of more than SP_STEP_MAX_MEMBERS (4091) members as too_large; the
        package passes it on rather than refusing it, so the count is libservprof's. 4091 fit."""
        path = self.path("t.sptrace")
        rec = servprof.Recorder(path)
        ok = rec.step([(i, "decode", 1) for i in range(4091)], step_id=1)
        ok.record(10, 20)
        big = rec.step([(i, "decode", 1) for i in range(4092)], step_id=2)
        self.assertEqual(len(big), 4092)
        big.record(30, 40)
        rec.close()
        self.assertEqual(rec.drops()["too_large"], 1)
        rep = analyze(path, args=("--lenient",))
        self.assertEqual(rep["generation"]["steps"]["count"], 1)
        self.assertEqual(rep["generation"]["steps"]["members"]["max"], 4091)

    def test_after_close(self):
        rec = servprof.Recorder(self.path("t.sptrace"))
        r = rec.request("a")
        s, s2 = rec.step([(r, "prefill", 2)]), rec.step([(r, "decode", 1)])
        rec.close()
        r.token()
        s.record(1, 2)
        with s2:
            pass
        self.assertEqual(rec.drops()["after_close"], 3)
        self.assertEqual(rec.stats()["after_close"], 3)


class Concurrency(TempDirCase):
    def test_threads_and_tasks(self):
        """8 threads x 50 requests and 20 asyncio tasks, each request with a prefill step, 3 decode steps
        and 4 tokens: every request has its 4 tokens in the trace and every step arrives."""
        path = self.path("t.sptrace")
        rec = servprof.Recorder(path, thread_buffer_bytes=1 << 20)

        def one(rid):
            with rec.request(rid, input_tokens=8) as r:
                with rec.step([(r, "prefill", 8)], kv_used=9, kv_capacity=1 << 20):
                    pass
                r.token()
                for _ in range(3):
                    with rec.step([(r, "decode", 1)]):
                        pass
                    r.token()

        def worker(k):
            for i in range(50):
                one("t%d-%d" % (k, i))

        ths = [threading.Thread(target=worker, args=(k,)) for k in range(8)]
        for t in ths:
            t.start()
        for t in ths:
            t.join()

        async def task(i):
            rid = "a%d" % i
            with rec.request(rid, input_tokens=8) as r:
                with rec.step([(r, "prefill", 8)]) as s:
                    await asyncio.sleep(0)
                    self.assertIs(servprof.current_batch(), s)   # each task sees its own step
                r.token()
                for _ in range(3):
                    with rec.step([(r, "decode", 1)]):
                        await asyncio.sleep(0)
                    r.token()

        async def main():
            await asyncio.gather(*(task(i) for i in range(20)))

        asyncio.run(main())
        rec.close()
        self.assertEqual(sum(rec.drops().values()), 0)
        g = analyze(path)["generation"]
        self.assertEqual(g["requests"], 420)
        self.assertEqual(g["output_tokens"], 420 * 4)
        self.assertEqual(g["steps"]["count"], 420 * 4)
        self.assertEqual(g["requests_bad_tokens"], 0)


if __name__ == "__main__":
    import unittest
    unittest.main()
