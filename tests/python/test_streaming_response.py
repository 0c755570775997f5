"""docs/python.md, "Generation", "With FastAPI's StreamingResponse": a service that streams through
Starlette's StreamingResponse (an async generator of SSE chunks, no `send` of its own) records its
tokens as the docs say, around the `yield`, and the trace analyses with TTFT and TPOT for every
request. The app is driven through the ASGI middleware by hand (no server, no timing asserted):
three requests of 1, 2 and 5 tokens, one step per token. What is checked is structural: every
token is counted (output tokens 8, TPOT over the 2 requests with 2 or more), each request is ok,
and, as the docs say of this pattern, the `stream` row has time in the TPOT table (each later
token's write) and none in the TTFT table (the first token's time is taken before its write)."""
import asyncio
import json
import unittest

import servprof
import servprof.asgi
from sptest import TempDirCase, analyze, require

require("fastapi")
from fastapi import FastAPI, Request  # noqa: E402
from fastapi.responses import StreamingResponse  # noqa: E402


def build_app(rec):
    app = FastAPI()

    @app.post("/v1/completions")
    async def completions(request: Request):
        r = servprof.asgi.current_request(request.scope)   # taken in the handler, used by the generator
        with r.stage("preprocess"):
            n = (await request.json())["max_tokens"]
        enqueued = servprof.now_ns()

        async def events():
            for i in range(n):
                # one scheduler step per token (a prefill first, then decodes), in the loop's thread
                with rec.step([(r, "prefill" if i == 0 else "decode", 4 if i == 0 else 1)]) as step:
                    await asyncio.sleep(0.001)
                if i == 0:
                    r.span("queue", enqueued, step.start_ns)
                with r.stage("detokenize"):
                    chunk = "data: %s\n\n" % json.dumps({"choices": [{"index": 0, "text": " t%d" % i}]})
                handed = servprof.now_ns()
                with r.stage("stream"):
                    yield chunk                                  # Starlette sends it here
                r.token(time_ns=handed)
            yield "data: [DONE]\n\n"

        return StreamingResponse(events(), media_type="text/event-stream")

    return servprof.asgi.Middleware(app, rec, paths=["/v1/completions"])


async def call(app, rid, max_tokens):
    body = json.dumps({"prompt": "a b c d", "max_tokens": max_tokens, "stream": True}).encode()
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST",
             "scheme": "http", "path": "/v1/completions", "raw_path": b"/v1/completions", "query_string": b"",
             "root_path": "", "headers": [(b"content-type", b"application/json"), (b"x-request-id", rid.encode())],
             "client": ("127.0.0.1", 1), "server": ("127.0.0.1", 2)}
    done = asyncio.Event()
    sent = []
    first = True

    async def receive():
        nonlocal first
        if first:
            first = False
            return {"type": "http.request", "body": body, "more_body": False}
        await done.wait()                                     # the client stays until the end
        return {"type": "http.disconnect"}

    async def send(msg):
        sent.append(msg)
        if msg["type"] == "http.response.body" and not msg.get("more_body", False):
            done.set()

    await app(scope, receive, send)
    return sent


class StreamingResponseDocs(TempDirCase):
    def test_tokens_around_the_yield(self):
        trace = self.path("sr.sptrace")
        rec = servprof.Recorder(trace, stages=["detokenize", "stream"],
                                properties={"mode": "generate", "policy.max_num_seqs": "1"})
        app = build_app(rec)

        async def main():
            out = []
            for rid, n in (("a", 1), ("b", 2), ("c", 5)):
                out.append(await call(app, rid, n))
            return out

        answers = asyncio.run(main())
        rec.close()
        for sent, n in zip(answers, (1, 2, 5)):
            self.assertEqual(sent[0]["status"], 200)
            text = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body").decode()
            self.assertEqual(text.count("data: {"), n, text)
            self.assertTrue(text.endswith("data: [DONE]\n\n"), text)
        rep = analyze(trace)
        self.assertEqual(rep["outcomes"]["by_outcome"]["ok"]["count"], 3)
        g = rep["generation"]
        self.assertEqual((g["requests"], g["output_tokens"]), (3, 8))
        self.assertEqual((g["ttft_us"]["count"], g["tpot_us"]["count"]), (3, 2))
        ttft = {r["name"]: r for r in g["ttft"]["rows"]}
        tpot = {r["name"]: r for r in g["tpot"]["rows"]}
        self.assertGreater(tpot["stream"]["total_us"], 0)
        self.assertEqual(ttft["stream"]["total_us"], 0)
        self.assertGreater(ttft["prefill gap"]["total_us"], 0)   # the step windows (no kernels recorded)


if __name__ == "__main__":
    unittest.main()
