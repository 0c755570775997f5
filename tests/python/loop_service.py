"""A FastAPI service on uvicorn for tests/python/test_loop.py: POST /v1/x parses its body in a recorded
`preprocess` stage, "runs a model" (a sleep of --model-ms in a worker thread inside a recorded batch,
so the loop is free meanwhile), then, with --block-ms above 0, does CPU-bound work on the event loop (a
detokenisation done in the async handler, as the user's service did) that no stage span records, or
with --sleep-ms a blocking call that waits (time.sleep), and answers. Recorded by
servprof.asgi.Middleware, its event loop stall measure on unless --no-loop-stalls. Prints "listening
on HOST:PORT" once it serves; stops on SIGINT, printing the monitor's stats on stderr."""
import argparse
import asyncio
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "examples", "python"))

import servprof  # noqa: E402
import servprof.asgi  # noqa: E402
from fastapi import FastAPI, Request  # noqa: E402
from serving import bind_socket, serve_uvicorn  # noqa: E402


def spin(seconds):
    """CPU-bound work of `seconds` (a detokenisation, say): the thread stays on the CPU."""
    end = time.thread_time() + seconds
    while time.thread_time() < end:
        pass


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--trace", required=True)
    ap.add_argument("--model-ms", type=float, default=2.0)
    ap.add_argument("--block-ms", type=float, default=0.0)
    ap.add_argument("--sleep-ms", type=float, default=0.0)
    ap.add_argument("--no-loop-stalls", action="store_true")
    args = ap.parse_args()
    sock = bind_socket("127.0.0.1", args.port)
    if sock is None:
        return 1
    rec = servprof.Recorder(args.trace)
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

    mw = servprof.asgi.Middleware(app, rec, paths=["/v1/x"], loop_stalls=not args.no_loop_stalls)
    try:
        return asyncio.run(serve_uvicorn(mw, sock))
    finally:
        rec.close()
        if mw.loop_stalls is not None:
            print("loop stalls: %r" % (mw.loop_stalls.stats(),), file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
