"""A FastAPI service on uvicorn for tests/python/test_loop.py: POST /v1/x parses its body in a recorded
`preprocess` stage, "runs a model" (a sleep of --model-ms in a worker thread inside a recorded batch,
so the loop is free meanwhile), then, with --block-ms above 0, does CPU-bound work on the event loop (a
detokenisation done in the async handler, as the user's service did) that no stage span records, or
with --sleep-ms a blocking call that waits (time.sleep), and answers. Recorded by
servprof.asgi.Middleware, its event loop stall measure on unless --no-loop-stalls. Prints "listening
on HOST:PORT" once it serves; stops on SIGINT, printing the monitor's stats on stderr.
With --generate it is a generation service instead: POST /v1/completions streams `max_tokens` SSE
chunks through a StreamingResponse; a scheduler thread runs one step (rec.step, a sleep of --model-ms)
for every running sequence at a time and hands each its token through the loop; the response
generator detokenises each token in a recorded `detokenize` block, blocking the loop for --sleep-ms
(time.sleep) or, with --detok-thread, in asyncio.to_thread (the loop free), then streams it."""
import argparse
import asyncio
import json
import os
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "examples", "python"))

import servprof  # noqa: E402
import servprof.asgi  # noqa: E402
from fastapi import FastAPI, Request  # noqa: E402
from fastapi.responses import StreamingResponse  # noqa: E402
from serving import bind_socket, serve_uvicorn  # noqa: E402


def spin(seconds):
    """CPU-bound work of `seconds` (a detokenisation, say): the thread stays on the CPU."""
    end = time.thread_time() + seconds
    while time.thread_time() < end:
        pass


class Seq:
    def __init__(self, r, n, loop):
        self.r, self.left, self.loop = r, n, loop
        self.out = asyncio.Queue()
        self.enqueued = servprof.now_ns()


def add_generation(app, rec, args):
    """POST /v1/completions: continuous batching in a thread, SSE through a StreamingResponse."""
    waiting, lock, wake = [], threading.Lock(), threading.Event()

    def scheduler():  # the thread that runs the model: one step at a time over every running sequence
        running = []
        while True:
            if not running:
                wake.wait()
                wake.clear()
            with lock:
                new = waiting[:]
                del waiting[:]
            with rec.step([(s.r, "prefill", 4) for s in new] + [(s.r, "decode", 1) for s in running]) as step:
                time.sleep(args.model_ms / 1e3)
            for s in new:
                s.r.span("queue", s.enqueued, step.start_ns)
            running += new
            for s in running:
                s.left -= 1
                s.loop.call_soon_threadsafe(s.out.put_nowait, s.left)
            running = [s for s in running if s.left > 0]

    threading.Thread(target=scheduler, daemon=True).start()

    def detokenize(t):
        if args.sleep_ms > 0:
            time.sleep(args.sleep_ms / 1e3)
        return "t%d " % t

    @app.post("/v1/completions")
    async def completions(request: Request):
        r = servprof.asgi.current_request(request.scope)
        with r.stage("preprocess"):
            n = max(1, int(json.loads(await request.body()).get("max_tokens", 16)))
        s = Seq(r, n, asyncio.get_running_loop())
        with lock:
            waiting.append(s)
        wake.set()

        async def events():
            left = n
            while left > 0:
                left = await s.out.get()
                with r.stage("detokenize"):
                    if args.detok_thread:
                        text = await asyncio.to_thread(detokenize, left)
                    else:
                        text = detokenize(left)  # the planted blocking call, on the loop
                    chunk = "data: " + json.dumps({"choices": [{"index": 0, "text": text}]}) + "\n\n"
                handed = servprof.now_ns()
                with r.stage("stream"):
                    yield chunk
                r.token(time_ns=handed)
            yield "data: [DONE]\n\n"
        return StreamingResponse(events(), media_type="text/event-stream")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--trace", required=True)
    ap.add_argument("--model-ms", type=float, default=2.0)
    ap.add_argument("--block-ms", type=float, default=0.0)
    ap.add_argument("--sleep-ms", type=float, default=0.0)
    ap.add_argument("--no-loop-stalls", action="store_true")
    ap.add_argument("--generate", action="store_true")
    ap.add_argument("--detok-thread", action="store_true")
    args = ap.parse_args()
    sock = bind_socket("127.0.0.1", args.port)
    if sock is None:
        return 1
    rec = (servprof.Recorder(args.trace, stages=["detokenize", "stream"], properties={"mode": "generate"})
           if args.generate else servprof.Recorder(args.trace))
    app = FastAPI()

    def model(r):  # in a worker thread, as a real service runs its model: the loop stays free
        with rec.batch([r], effective_tokens=1, padded_tokens=1):
            time.sleep(args.model_ms / 1e3)

    @app.post("/v1/x")
    async def handle(request: Request):
        r = servprof.asgi.current_request(request.scope)
        body = await request.body()
        with r.stage("preprocess"):
            n = len(body)
        await asyncio.get_running_loop().run_in_executor(None, model, r)
        if args.block_ms > 0:
            spin(args.block_ms / 1e3)  # the planted blocking call, on the loop, in no span
        if args.sleep_ms > 0:
            time.sleep(args.sleep_ms / 1e3)  # a blocking call that waits, on the loop, in no span
        return {"n": n}

    if args.generate:
        add_generation(app, rec, args)
    mw = servprof.asgi.Middleware(app, rec, paths=["/v1/x", "/v1/completions"],
                                  loop_stalls=not args.no_loop_stalls)
    try:
        return asyncio.run(serve_uvicorn(mw, sock))
    finally:
        rec.close()
        if mw.loop_stalls is not None:
            print("loop stalls: %r" % (mw.loop_stalls.stats(),), file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
