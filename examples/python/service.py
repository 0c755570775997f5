#!/usr/bin/env python3
"""An embeddings service in Python, profiled with servprof: FastAPI on uvicorn, the project's WordPiece
tokenizer, an asyncio dynamic batcher and a BERT-style PyTorch encoder (CPU or CUDA), with the same
OpenAI /v1/embeddings shape as `servprof serve` (docs/serve.md). It is instrumented only through
servprof's public Python API (docs/python.md): the ASGI middleware, three `with` blocks (preprocess,
the batch, postprocess) plus the queue span the batcher records, and servprof.torch.

    python3 examples/python/service.py --port 0 --trace server.sptrace
    servprof load --url http://127.0.0.1:PORT/v1/embeddings --rate 50 --duration 5 --trace client.jsonl
    kill -INT <pid>; servprof analyze server.sptrace client.jsonl

It prints `listening on 127.0.0.1:PORT` once it accepts requests, counters when it stops (SIGINT,
SIGTERM or --duration) and, on SIGUSR1, the counters so far. Without FastAPI (a GPU machine's image
may lack it) the same handlers run as a plain ASGI app; without uvicorn, --drive RATE:SECONDS feeds the app in-process (every request still
goes through the middleware and the batcher, only the socket is missing). --app aiohttp serves the same
handlers on aiohttp's own server (aiohttp.web), recorded by servprof.aiohttp's middleware. Needs torch (Debian
python3-torch); FastAPI and uvicorn are Debian python3-fastapi and python3-uvicorn.
"""
import argparse
import asyncio
import json
import os
import random
import signal
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import servprof  # noqa: E402
import servprof.asgi  # noqa: E402

from serving import bind_socket, serve_aiohttp, serve_uvicorn  # noqa: E402
from tokenizer import TokenizerError, WordPiece  # noqa: E402

MODEL_NAME = "servprof-python-encoder"


def find_tokenizer():
    cands = []
    if os.environ.get("SERVPROF_DATA_DIR"):
        cands.append(os.path.join(os.environ["SERVPROF_DATA_DIR"], "tokenizer.json"))
    cands += [os.path.join(HERE, "..", "..", "data", "tokenizer.json"),
              os.path.join(sys.prefix, "share", "servprof", "tokenizer.json"),
              "/usr/local/share/servprof/tokenizer.json", "/usr/share/servprof/tokenizer.json"]
    for c in cands:
        if os.path.exists(c):
            return os.path.normpath(c)
    return cands[0] if cands else "tokenizer.json"


def parse_args(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=8080, help="0: an ephemeral port (printed)")
    ap.add_argument("--trace", help="record into this native trace ({pid} is replaced by the process id)")
    ap.add_argument("--price-per-hour", type=float)
    ap.add_argument("--tokenizer", default=None, help="tokenizer.json (default: the project's)")
    ap.add_argument("--max-batch", type=int, default=16)
    ap.add_argument("--max-queue-delay-ms", type=float, default=2.0)
    ap.add_argument("--pad-to", type=int, default=0, help="static shape: pad every batch to N tokens (inputs cut to N)")
    ap.add_argument("--buckets", default="", help="length buckets L1,L2,...: pad to the request's bucket")
    ap.add_argument("--queue-capacity", type=int, default=256)
    ap.add_argument("--max-len", type=int, default=128)
    ap.add_argument("--max-inputs", type=int, default=64)
    ap.add_argument("--max-body", type=int, default=1 << 20)
    ap.add_argument("--layers", type=int, default=2)
    ap.add_argument("--hidden", type=int, default=128)
    ap.add_argument("--heads", type=int, default=4)
    ap.add_argument("--ffn", type=int, default=512)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    ap.add_argument("--cuda-graphs", action="store_true", help="replay each batch shape as a CUDA graph")
    ap.add_argument("--cupti-mode", choices=("lean", "launches"), default="lean")
    ap.add_argument("--torch-threads", type=int, default=1)
    ap.add_argument("--no-module-timing", action="store_true",
                    help="with --trace on the CPU: record requests, stages and batches but not each module's "
                    "forward (no servprof.torch hooks; bench/overhead.py's recorder-only mode)")
    ap.add_argument("--duration", type=float, default=0, help="stop after S seconds (0: until SIGINT/SIGTERM)")
    ap.add_argument("--app", choices=("auto", "fastapi", "asgi", "aiohttp"), default="auto",
                    help="FastAPI, or the same handlers as a plain ASGI app (auto: FastAPI when installed), or "
                    "on aiohttp's own server (aiohttp.web, recorded by servprof.aiohttp's middleware)")
    ap.add_argument("--drive", metavar="RATE:SECONDS",
                    help="no socket: feed the app in-process with Poisson arrivals (for machines without uvicorn)")
    a = ap.parse_args(argv)
    if a.pad_to and a.buckets:
        ap.error("--pad-to and --buckets exclude each other")
    if a.pad_to < 0 or a.max_batch < 1 or a.max_queue_delay_ms < 0 or a.queue_capacity < 1 or a.max_len < 2:
        ap.error("--pad-to >= 0, --max-batch >= 1, --max-queue-delay-ms >= 0, --queue-capacity >= 1, --max-len >= 2")
    if a.pad_to:
        a.max_len = max(a.max_len, a.pad_to)
    try:
        a.bucket_list = sorted(int(x) for x in a.buckets.split(",") if x) if a.buckets else []
    except ValueError:
        ap.error("--buckets: comma-separated integers, e.g. 32,64,128")
    if any(b < 2 or b > a.max_len for b in a.bucket_list):
        ap.error("--buckets: each bound in 2..--max-len (%d)" % a.max_len)
    if a.hidden % a.heads:
        ap.error("--heads (%d) must divide --hidden (%d)" % (a.heads, a.hidden))
    if a.cuda_graphs and a.device != "cuda":
        ap.error("--cuda-graphs needs --device cuda")
    if a.drive and a.app == "aiohttp":
        ap.error("--drive feeds an ASGI app: not with --app aiohttp")
    return a


def error_body(status, message, kind="invalid_request_error"):
    return status, json.dumps({"error": {"message": message, "type": kind, "param": None, "code": None}}).encode()


class Service:
    """The handlers, shared by the FastAPI app and the plain ASGI app."""

    def __init__(self, a, tok, batcher, rec):
        self.a, self.tok, self.batcher, self.rec = a, tok, batcher, rec
        # tokens an input keeps: a static shape cuts inputs to it, as servprof serve --pad-to does (a
        # longer row does not fit the batch); hf_service.py's options have no --pad-to
        self.max_tokens = getattr(a, "pad_to", 0) or a.max_len
        self.counts = {"ok": 0, "400": 0, "413": 0, "415": 0, "503": 0, "500": 0, "closed early": 0}

    async def embeddings(self, r, body_reader, content_type, content_length, receive=None):
        """One POST /v1/embeddings: returns (status, body bytes). `receive` (the ASGI receive, after the
        body) is watched while the request waits for its batch: a client that leaves then is counted
        closed early, and the middleware, which sees the http.disconnect, records it cancelled."""
        a = self.a
        if content_length is not None and content_length > a.max_body:
            return error_body(413, "request body over %d bytes" % a.max_body)
        ct = (content_type or "application/json").split(";")[0].strip().lower()
        if ct != "application/json" and not (ct.startswith("application/") and ct.endswith("+json")):
            return error_body(415, "Content-Type must be application/json")
        with r.stage("preprocess") if r is not None else _null():
            body = await body_reader()
            if len(body) > a.max_body:
                return error_body(413, "request body over %d bytes" % a.max_body)
            try:
                doc = json.loads(body)
            except (ValueError, UnicodeDecodeError) as e:
                return error_body(400, "malformed JSON: %s" % e)
            inp = doc.get("input") if isinstance(doc, dict) else None
            if isinstance(inp, str):
                inp = [inp]
            if not isinstance(inp, list) or not inp or len(inp) > a.max_inputs or \
                    not all(isinstance(s, str) and s and "\0" not in s for s in inp):
                return error_body(400, "input must be a non-empty string or a list of 1..%d non-empty strings"
                                  % a.max_inputs)
            if doc.get("encoding_format", "float") != "float":
                return error_body(400, 'encoding_format must be "float"')
            dims = doc.get("dimensions")
            if dims is not None and dims != a.hidden:
                return error_body(400, "dimensions must be the model's width, %d" % a.hidden)
            ids = [self.tok.encode(s, self.max_tokens) for s in inp]
            if r is not None:
                r.input_tokens = sum(len(x) for x in ids)
        try:
            fut = self.batcher.submit(r, ids)
        except Exception:  # noqa: BLE001 - QueueFull, or stopping
            self.counts["503"] += 1
            return error_body(503, "the queue is full; retry later", "server_error")
        fut = asyncio.ensure_future(fut)
        watch = asyncio.ensure_future(self.watch(receive)) if receive is not None else None
        try:
            if watch is not None:
                await asyncio.wait({fut, watch}, return_when=asyncio.FIRST_COMPLETED)
                if watch.done() and watch.result():
                    # gone: uvicorn drops the answer's send without an error, so only receive() says so
                    # (the batch still runs; the request was a member)
                    self.counts["closed early"] += 1
                    return 499, b""
            vectors, batch_end = await fut
        except Exception as e:  # noqa: BLE001 - the model failed
            self.counts["500"] += 1
            return error_body(500, "the model failed: %s" % type(e).__name__, "server_error")
        finally:
            if watch is not None:
                watch.cancel()  # before it can read the disconnect that follows every finished response
        out = {"object": "list", "model": MODEL_NAME,
               "data": [{"object": "embedding", "index": i, "embedding": v} for i, v in enumerate(vectors)],
               "usage": {"prompt_tokens": sum(len(x) for x in ids), "total_tokens": sum(len(x) for x in ids)}}
        payload = json.dumps(out, separators=(",", ":")).encode()
        if r is not None:  # postprocess: from the end of the batch (the hand-off back included)
            r.span("postprocess", min(batch_end, servprof.now_ns()), servprof.now_ns())
        self.counts["ok"] += 1
        return 200, payload


    async def watch(self, receive):
        """True once the client has gone (http.disconnect); waits until then."""
        while True:
            m = await receive()
            if m["type"] == "http.disconnect":
                return True


class _null:
    def __enter__(self):
        return None

    def __exit__(self, *exc):
        return False


def build_fastapi_app(svc):
    from fastapi import FastAPI, Request
    from fastapi.responses import Response

    app = FastAPI()

    @app.post("/v1/embeddings")
    async def embeddings(request: Request):
        cl = request.headers.get("content-length")
        status, body = await svc.embeddings(servprof.asgi.current_request(request.scope), request.body,
                                            request.headers.get("content-type"), int(cl) if cl and cl.isdigit() else None,
                                            request.receive)
        headers = {"Retry-After": "1"} if status == 503 else None
        return Response(content=body, status_code=status, media_type="application/json", headers=headers)

    @app.get("/healthz")
    async def healthz():
        return {"status": "ok"}

    return app


def build_aiohttp_app(svc, rec):
    """The same routes on aiohttp's own server (aiohttp.web, not ASGI), each POST /v1/embeddings recorded
    by servprof.aiohttp's middleware (docs/python.md, "aiohttp middleware"). aiohttp tells a handler
    nothing of a client that leaves while it waits: the middleware records such a request cancelled
    when its answer finds the connection closed, and the service counts it ok."""
    from aiohttp import web
    import servprof.aiohttp

    async def embeddings(request):
        status, body = await svc.embeddings(servprof.aiohttp.current_request(request), request.read,
                                            request.headers.get("Content-Type"), request.content_length)
        return web.Response(body=body, status=status, content_type="application/json",
                            headers={"Retry-After": "1"} if status == 503 else None)

    async def healthz(request):
        return web.json_response({"status": "ok"})

    mws = [servprof.aiohttp.middleware(rec, paths=["/v1/embeddings"])] if rec is not None else []
    app = web.Application(middlewares=mws, client_max_size=svc.a.max_body + 1)
    app.router.add_post("/v1/embeddings", embeddings)
    app.router.add_get("/healthz", healthz)
    return app


def build_asgi_app(svc):
    """The same routes without FastAPI: a plain ASGI 3 application."""

    async def app(scope, receive, send):
        if scope["type"] == "lifespan":
            while True:
                m = await receive()
                await send({"type": m["type"] + ".complete"})
                if m["type"] == "lifespan.shutdown":
                    return
        if scope["type"] != "http":
            return
        headers = {k.decode().lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}

        async def body_reader():
            chunks = []
            while True:
                m = await receive()
                if m["type"] == "http.disconnect":
                    raise asyncio.CancelledError()
                chunks.append(m.get("body", b""))
                if not m.get("more_body"):
                    return b"".join(chunks)

        path, method = scope.get("path"), scope.get("method")
        extra = []
        if path == "/v1/embeddings" and method == "POST":
            cl = headers.get("content-length")
            status, body = await svc.embeddings(servprof.asgi.current_request(scope), body_reader,
                                                headers.get("content-type"), int(cl) if cl and cl.isdigit() else None,
                                                receive)
            if status == 503:
                extra.append((b"retry-after", b"1"))
        elif path == "/healthz":
            status, body = 200, b'{"status":"ok"}'
        elif path == "/v1/embeddings":
            status, body = error_body(405, "use POST")
        else:
            status, body = error_body(404, "no such path")
        await send({"type": "http.response.start", "status": status,
                    "headers": [(b"content-type", b"application/json"),
                                (b"content-length", str(len(body)).encode())] + extra})
        await send({"type": "http.response.body", "body": body})

    return app


async def drive(app, spec):
    """Poisson arrivals straight into the ASGI app (no socket): RATE:SECONDS."""
    rate, seconds = (float(x) for x in spec.split(":"))
    rng = random.Random(1)
    words = "the quick brown fox jumps over lazy dogs while servers batch requests on busy devices".split()
    loop = asyncio.get_running_loop()
    t0, n, tasks = loop.time(), 0, []

    async def one(i):
        text = " ".join(rng.choice(words) for _ in range(max(1, int(rng.lognormvariate(2.5, 0.5)))))
        body = json.dumps({"input": text}).encode()
        sent = [False]

        async def receive():
            if not sent[0]:
                sent[0] = True
                return {"type": "http.request", "body": body, "more_body": False}
            await asyncio.sleep(3600)

        async def send(m):
            pass

        scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST",
                 "scheme": "http", "path": "/v1/embeddings", "raw_path": b"/v1/embeddings", "query_string": b"",
                 "root_path": "", "client": ("127.0.0.1", 1), "server": ("127.0.0.1", 0),
                 "headers": [(b"content-type", b"application/json"), (b"x-request-id", b"drive-%d" % i),
                             (b"content-length", str(len(body)).encode())]}
        await app(scope, receive, send)

    t = 0.0
    while True:
        t += rng.expovariate(rate)
        if t > seconds:
            break
        await asyncio.sleep(max(0.0, t0 + t - loop.time()))
        tasks.append(asyncio.ensure_future(one(n)))
        n += 1
    await asyncio.gather(*tasks)
    return n


def main(argv=None):
    a = parse_args(argv)
    import torch
    from batcher import Batcher
    from model import Encoder

    torch.set_num_threads(max(1, a.torch_threads))
    try:
        tok = WordPiece(a.tokenizer or find_tokenizer())
    except TokenizerError as e:
        print("service: %s" % e, file=sys.stderr)
        return 1
    if a.device == "cuda" and not torch.cuda.is_available():
        print("service: --device cuda: torch sees no CUDA device", file=sys.stderr)
        return 1
    model = Encoder(tok.size, a.max_len, a.layers, a.hidden, a.heads, a.ffn, a.seed).to(a.device)
    with torch.inference_mode():  # warm-up before any hook or trace: the first passes allocate
        for n in (8, a.max_len):
            model(torch.full((2, n), tok.pad, dtype=torch.long, device=a.device),
                  torch.tensor([n, 1], device=a.device))
    sock = None
    if a.app == "aiohttp":
        try:
            import aiohttp  # noqa: F401  (serving.py serves with it)
        except ImportError:
            print("service: --app aiohttp: aiohttp is not installed (Debian python3-aiohttp)", file=sys.stderr)
            return 1
    if not a.drive:
        # the port before the trace: a port in use must not leave an empty trace file behind
        try:
            if a.app != "aiohttp":
                import uvicorn  # noqa: F401  (serving.py serves with it)
        except ImportError:
            print("service: uvicorn is not installed (Debian python3-uvicorn); use --drive RATE:SECONDS",
                  file=sys.stderr)
            return 1
        sock = bind_socket(a.host, a.port)
        if sock is None:
            return 1
    rec = None
    if a.trace:
        try:
            rec = servprof.Recorder(a.trace, price_per_hour=a.price_per_hour)
        except (OSError, RuntimeError, ValueError) as e:
            if sock is not None:
                sock.close()
            print("service: --trace: %s" % e, file=sys.stderr)
            return 1
        pad = "static" if a.pad_to else ("buckets" if a.bucket_list else "longest")
        props = {"service": "servprof-python-example", "policy.max_batch": a.max_batch,
                 "policy.max_queue_delay_ns": int(a.max_queue_delay_ms * 1e6), "policy.pad": pad,
                 "policy.workers": 1, "policy.queue_capacity": a.queue_capacity, "policy.max_len": a.max_len,
                 "model.layers": a.layers, "model.hidden": a.hidden, "model.heads": a.heads, "model.ffn": a.ffn}
        if a.pad_to:
            props["policy.pad_to"] = a.pad_to
        if a.bucket_list:
            props["policy.buckets"] = ",".join(map(str, a.bucket_list))
        for k, v in props.items():
            rec.set_property(k, str(v))
        from servprof import torch as sp_torch
        att = sp_torch.attach(rec, None if a.no_module_timing else model, device=a.device, cupti_mode=a.cupti_mode)
        if a.device == "cuda":
            print("service: device: %s, %s" % (torch.cuda.get_device_name(0), "CUPTI records kernels and copies"
                  if att.cupti else "device activity NOT recorded: %s" % att.cupti_error), file=sys.stderr)
    batcher = Batcher(model, rec, pad_id=tok.pad, max_batch=a.max_batch, window_s=a.max_queue_delay_ms / 1e3,
                      pad="static" if a.pad_to else ("buckets" if a.bucket_list else "longest"), pad_to=a.pad_to,
                      buckets=a.bucket_list, max_len=a.max_len, queue_capacity=a.queue_capacity, device=a.device,
                      cuda_graphs=a.cuda_graphs)
    svc = Service(a, tok, batcher, rec)
    kind = a.app
    if kind == "auto":
        try:
            import fastapi  # noqa: F401
            kind = "fastapi"
        except ImportError:
            kind = "asgi"
    if kind == "aiohttp":
        app = build_aiohttp_app(svc, rec)
    else:
        inner = build_fastapi_app(svc) if kind == "fastapi" else build_asgi_app(svc)
        app = servprof.asgi.Middleware(inner, rec, paths=["/v1/embeddings"]) if rec is not None else inner
    rc = asyncio.run(serve(a, app, batcher, kind, svc, sock))
    if rec is not None:
        rec.close()
        d = rec.drops()
        print("service: trace %s: %d records dropped (%s)" % (rec.path, sum(d.values()),
              ", ".join("%s %d" % kv for kv in d.items() if kv[1]) or "none"), file=sys.stderr)
    c = svc.counts
    print("service: %d requests: %d ok, %d 503 queue full, %d 400, %d 413, %d 415, %d 500, %d closed early; %d batches, "
          "%d inputs, %d tokens (%d padded)%s" % (sum(c.values()), c["ok"], c["503"], c["400"], c["413"], c["415"],
                                                 c["500"], c["closed early"], batcher.batches, batcher.inputs,
                                                 batcher.tokens, batcher.padded,
                                                 "; CUDA graphs: %d captured, %d replays" % (batcher.graph_captures,
                                                                                            batcher.graph_replays)
                                                 if a.cuda_graphs else ""), file=sys.stderr)
    return rc


def print_counters(svc, batcher):
    """SIGUSR1: the counters so far on stderr (bench/overhead.py reads the batches of a load from two)."""
    print("service: counters: %d requests, %d batches, %d inputs, %d tokens (%d padded)" % (
        sum(svc.counts.values()), batcher.batches, batcher.inputs, batcher.tokens, batcher.padded),
        file=sys.stderr, flush=True)


async def serve(a, app, batcher, kind, svc, sock):
    worker = asyncio.ensure_future(batcher.run())
    asyncio.get_running_loop().add_signal_handler(signal.SIGUSR1, print_counters, svc, batcher)
    try:
        if a.drive:
            n = await drive(app, a.drive)
            print("service: drove %d requests in process (%s app, no socket)" % (n, kind), file=sys.stderr)
            return 0
        return await (serve_aiohttp if kind == "aiohttp" else serve_uvicorn)(app, sock, a.duration)
    finally:
        await batcher.stop()
        await worker


if __name__ == "__main__":
    sys.exit(main())
