"""An embeddings service as a new user writes one (tests/python/test_overload.py drives it past its
capacity and kills it): a PyTorch encoder (Debian's python3-torch, CPU) behind FastAPI + uvicorn
(--loop asyncio) or aiohttp.web, recorded with servprof.asgi / servprof.aiohttp and servprof.torch; a
bounded asyncio queue in front of a batcher task that answers 503 when full; an input starting with
"boom" raises (500), one starting with "slow" waits in its preprocessing (a slow lookup) longer than
the test's client timeout. Prints "listening on 127.0.0.1:PORT" once it serves; --port 0 takes a free
port. Records through the backend SERVPROF_BACKEND chooses."""
import argparse
import asyncio
import json
import socket

import torch

import servprof
import servprof.torch

ap = argparse.ArgumentParser()
ap.add_argument("--app", choices=["fastapi", "aiohttp"], default="fastapi")
ap.add_argument("--port", type=int, default=0)
ap.add_argument("--trace", required=True)
ap.add_argument("--queue", type=int, default=16, help="requests the queue holds before it answers 503")
ap.add_argument("--max-batch", type=int, default=4)
ap.add_argument("--slow-ms", type=int, default=2000, help="what an input starting with 'slow' waits")
args = ap.parse_args()

torch.manual_seed(0)
torch.set_num_threads(1)
DIM = 256
embed = torch.nn.Embedding(1000, DIM)
model = torch.nn.Sequential(*[torch.nn.TransformerEncoderLayer(DIM, 4, 4 * DIM, batch_first=True)
                              for _ in range(4)]).eval()

# the port first: a port in use ends start-up before the trace exists
sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
sock.bind(("127.0.0.1", args.port))
sock.listen(512)

rec = servprof.Recorder(args.trace, price_per_hour=4.0)
servprof.torch.attach(rec, model)
queue = None  # the asyncio.Queue, made on the server's loop


def run_batch(items):
    """In a worker thread: pads the batch to its longest member and runs the encoder."""
    n = max(len(ids) for _, ids, _, _ in items)
    x = torch.zeros(len(items), n, dtype=torch.long)
    for i, (_, ids, _, _) in enumerate(items):
        x[i, :len(ids)] = torch.tensor(ids)
    with torch.no_grad(), rec.batch([r for r, _, _, _ in items], padded_tokens=n * len(items)) as b:
        out = model(embed(x)).mean(1)
    return b, out


async def batcher():
    while True:
        items = [await queue.get()]
        while len(items) < args.max_batch and not queue.empty():
            items.append(queue.get_nowait())
        b, out = await asyncio.to_thread(run_batch, items)
        for i, (r, _, enqueued, fut) in enumerate(items):
            r.span("queue", enqueued, b.start_ns)
            if not fut.done():
                fut.set_result(out[i, :4].tolist())


async def embeddings(r, body):
    """The answer's JSON, or None when the queue is full (503)."""
    with r.stage("preprocess"):
        text = json.loads(body)["input"]
        if text.startswith("boom"):
            raise RuntimeError("boom: a bad input")
        if text.startswith("slow"):
            await asyncio.sleep(args.slow_ms / 1000)
        ids = [sum(map(ord, w)) % 1000 for w in text.split()][:64] or [0]
        r.input_tokens = len(ids)
    fut = asyncio.get_running_loop().create_future()
    try:
        queue.put_nowait((r, ids, servprof.now_ns(), fut))
    except asyncio.QueueFull:
        return None
    vec = await fut
    with r.stage("postprocess"):
        return json.dumps({"data": [{"embedding": vec}]})


async def start():
    global queue
    queue = asyncio.Queue(maxsize=args.queue)
    return asyncio.create_task(batcher())


def announce():
    print("listening on 127.0.0.1:%d" % sock.getsockname()[1], flush=True)


if args.app == "fastapi":
    import uvicorn
    from fastapi import FastAPI, Request, Response
    import servprof.asgi

    api = FastAPI()

    @api.on_event("startup")
    async def on_startup():
        await start()
        announce()  # the socket listens already: a connection made now waits for the server's accept

    @api.post("/v1/embeddings")
    async def route(request: Request):
        out = await embeddings(servprof.asgi.current_request(request.scope), await request.body())
        if out is None:
            return Response("queue full\n", status_code=503)
        return Response(out, media_type="application/json")

    app = servprof.asgi.Middleware(api, rec, paths=["/v1/embeddings"])
    uvicorn.Server(uvicorn.Config(app, loop="asyncio", log_level="critical")).run(sockets=[sock])
else:
    from aiohttp import web
    import servprof.aiohttp

    async def route(request):
        out = await embeddings(servprof.aiohttp.current_request(request), await request.read())
        if out is None:
            return web.Response(text="queue full\n", status=503)
        return web.Response(text=out, content_type="application/json")

    async def on_startup(app):
        app["batcher"] = await start()

    app = web.Application(middlewares=[servprof.aiohttp.middleware(rec, paths=["/v1/embeddings"])])
    app.router.add_post("/v1/embeddings", route)
    app.on_startup.append(on_startup)

    async def serve():
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        await web.SockSite(runner, sock).start()
        announce()
        await asyncio.Event().wait()
    asyncio.run(serve())
