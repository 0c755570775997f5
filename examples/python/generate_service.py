#!/usr/bin/env python3
"""A text generation service in Python, profiled with servprof: FastAPI on uvicorn, the project's
WordPiece tokenizer, a continuous-batching scheduler in an asyncio loop and a GPT-2-style PyTorch
decoder with a KV cache (decoder.py, seeded weights) on the CPU, behind OpenAI's /v1/completions with
`stream: true` (server-sent events, one chunk per token, `data: [DONE]` at the end; with
`stream_options: {"include_usage": true}` a usage chunk before it) or without. It is
instrumented only through servprof's public Python API (docs/python.md, "Generation"): the ASGI
middleware, the preprocess, queue, detokenize and stream spans, one `rec.step(...)` per scheduler step
and `r.token()` with the time each token's chunk is handed to the transport.

    python3 examples/python/generate_service.py --port 0 --trace gen.sptrace
    curl -N 127.0.0.1:PORT/v1/completions -d '{"prompt":"the quick brown fox","max_tokens":8,"stream":true}'
    kill -INT <pid>; servprof analyze gen.sptrace

The scheduler: each step runs one batch of sequences, the newly admitted ones' prefills (each prompt
padded up to a multiple of --prefill-bucket, if set) and one decode for every running sequence; new
requests join at step boundaries while fewer than --max-num-seqs run and the step's tokens stay within
--max-num-batched-tokens (a prompt longer than that still runs, alone with the decodes: there is no
chunked prefill); more than --queue-capacity waiting get 503. A sequence ends after
max_tokens tokens (the random weights know no end-of-text) or when its text holds a `stop` string.
It prints `listening on 127.0.0.1:PORT` once it accepts requests, counters when it stops (SIGINT,
SIGTERM or --duration). Needs torch, fastapi and uvicorn (Debian python3-torch, python3-fastapi,
python3-uvicorn).
"""
import argparse
import asyncio
import collections
import concurrent.futures
import contextlib
import json
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import servprof  # noqa: E402
import servprof.asgi  # noqa: E402

from serving import bind_socket, serve_uvicorn  # noqa: E402
from tokenizer import TokenizerError, WordPiece  # noqa: E402

MODEL_NAME = "servprof-python-decoder"


def parse_args(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=8080, help="0: an ephemeral port (printed)")
    ap.add_argument("--trace", help="record into this native trace ({pid} is replaced by the process id)")
    ap.add_argument("--price-per-hour", type=float)
    ap.add_argument("--tokenizer", default=os.path.join(HERE, "..", "..", "data", "tokenizer.json"))
    ap.add_argument("--max-num-seqs", type=int, default=8, help="sequences a step runs at most")
    ap.add_argument("--max-num-batched-tokens", type=int, default=512, help="tokens a step computes at most")
    ap.add_argument("--prefill-bucket", type=int, default=0, help="pad each prompt to a multiple of N (0: none)")
    ap.add_argument("--queue-capacity", type=int, default=256, help="waiting requests before 503")
    ap.add_argument("--max-len", type=int, default=256, help="context: prompt and output tokens together")
    ap.add_argument("--layers", type=int, default=2)
    ap.add_argument("--hidden", type=int, default=64)
    ap.add_argument("--heads", type=int, default=2)
    ap.add_argument("--ffn", type=int, default=256)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--torch-threads", type=int, default=1)
    ap.add_argument("--duration", type=float, default=0, help="stop after S seconds (0: until SIGINT/SIGTERM)")
    a = ap.parse_args(argv)
    if a.max_num_seqs < 1 or a.queue_capacity < 1 or a.max_len < 4 or a.prefill_bucket < 0:
        ap.error("--max-num-seqs >= 1, --queue-capacity >= 1, --max-len >= 4, --prefill-bucket >= 0")
    if a.max_num_batched_tokens < a.max_num_seqs:
        ap.error("--max-num-batched-tokens must be at least --max-num-seqs (%d)" % a.max_num_seqs)
    if a.hidden % a.heads:
        ap.error("--heads (%d) must divide --hidden (%d)" % (a.heads, a.hidden))
    return a


class BadRequest(Exception):
    def __init__(self, status, message, kind="invalid_request_error"):
        super().__init__(message)
        self.status, self.kind = status, kind

    def body(self):
        return json.dumps({"error": {"message": str(self), "type": self.kind, "param": None, "code": None}}).encode()


def _null():
    return contextlib.nullcontext()


class Sequence:
    """One request in the scheduler: its prompt, its slot in the KV cache, its output so far, and the
    queue its tokens reach the HTTP side through."""

    def __init__(self, req, prompt, max_new, stop):
        self.req = req                      # servprof.Request (None without a trace)
        self.prompt = prompt
        self.max_new = max_new
        self.stop = stop
        self.slot = None
        self.length = 0                     # positions in the KV cache
        self.last = None                    # the last output token (the next decode's input)
        self.n_out = 0
        self.text = ""
        self.finished = False
        self.cancelled = False
        self.enqueued_ns = servprof.now_ns()
        self.out = asyncio.Queue()          # (token id, step end ns, finish reason or None); None: failed;
                                            # GONE: the client went away (Service.watch)


GONE = object()   # put on a sequence's queue when its client has gone away


class Engine:
    """The continuous-batching scheduler: an asyncio task that plans each step at a step boundary and
    runs it in one worker thread (torch releases the GIL, so the event loop keeps accepting and
    writing meanwhile)."""

    def __init__(self, a, model, tok, rec):
        import torch
        self.torch = torch
        self.a, self.model, self.tok, self.rec = a, model, tok, rec
        self.waiting = collections.deque()
        self.running = []
        self.free_slots = list(range(a.max_num_seqs - 1, -1, -1))
        self.wake = asyncio.Event()
        self.stopping = False
        self.pool = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="engine")
        self.pieces = [None] * tok.size
        for t, i in tok.vocab.items():
            self.pieces[i] = t
        self.steps = self.tokens = self.prompt_tokens = self.padded = 0

    def submit(self, seq):
        if len(self.waiting) >= self.a.queue_capacity:
            raise BadRequest(503, "the waiting queue is full (%d)" % self.a.queue_capacity, "server_error")
        self.waiting.append(seq)
        self.wake.set()

    def piece(self, token, first):
        """The text a token adds (detokenisation is incremental: "##" continues the previous word)."""
        p = self.pieces[token]
        if p.startswith(self.tok.prefix):
            return p[len(self.tok.prefix):]
        return p if first else " " + p

    def padded_len(self, n):
        b = self.a.prefill_bucket
        return min(-(-n // b) * b, self.a.max_len) if b else n

    def plan(self):
        """The next step's members: every running sequence decodes one token; waiting ones are admitted
        in arrival order while a slot is free and the step's tokens stay within the budget."""
        budget = self.a.max_num_batched_tokens - len(self.running)
        admit = []
        while self.waiting and self.free_slots:
            s = self.waiting[0]
            if s.cancelled:
                self.waiting.popleft()
                continue
            cost = self.padded_len(len(s.prompt))
            if cost > budget and (admit or self.running):
                break
            self.waiting.popleft()
            s.slot = self.free_slots.pop()
            admit.append(s)
            budget -= cost
        return admit, list(self.running)

    def run_step(self, admit, decoding):
        """Runs one step in the worker thread: the prefills, then the decodes as one batch, then the
        next token of each; recorded as one servprof step (its window: dispatch until the new tokens
        are on the host). Returns (next tokens by sequence, step end ns)."""
        torch = self.torch
        members = [(s.req, "prefill", len(s.prompt)) for s in admit] + [(s.req, "decode", 1) for s in decoding]
        padded = sum(self.padded_len(len(s.prompt)) for s in admit) + len(decoding)
        kv_used = sum(s.length + 1 for s in decoding) + sum(len(s.prompt) for s in admit)
        step = (self.rec.step(members, padded_tokens=padded, kv_used=kv_used,
                              kv_capacity=self.a.max_num_seqs * self.a.max_len)
                if self.rec is not None and all(s.req is not None for s in admit + decoding) else None)
        with step if step is not None else _null():
            logits = []
            for s in admit:
                ids = s.prompt + [self.tok.pad] * (self.padded_len(len(s.prompt)) - len(s.prompt))
                logits.append(self.model.prefill(s.slot, ids, len(s.prompt)))
            if decoding:
                logits.extend(self.model.decode([s.slot for s in decoding], [s.last for s in decoding],
                                                [s.length for s in decoding]))
            nxt = self.model.sample(torch.stack(logits))   # greedy: the same prompt gives the same text
        end = step.end_ns if step is not None else servprof.now_ns()
        if step is not None:
            for s in admit:
                s.req.span("queue", s.enqueued_ns, step.start_ns)
        for s in admit:
            s.length = len(s.prompt)
        for s in decoding:
            s.length += 1
        self.prompt_tokens += sum(len(s.prompt) for s in admit)
        self.padded += padded
        return nxt, end

    async def run(self):
        loop = asyncio.get_running_loop()
        while not self.stopping:
            admit, decoding = self.plan()
            if not admit and not decoding:
                self.wake.clear()
                await self.wake.wait()
                continue
            try:
                nxt, end = await loop.run_in_executor(self.pool, self.run_step, admit, decoding)
            except Exception as e:  # noqa: BLE001 - a failed step fails its requests, not the service
                print("service: step failed: %r" % e, file=sys.stderr)
                for s in admit + decoding:
                    s.finished = True
                    s.out.put_nowait(None)
                    self.free_slots.append(s.slot)
                self.running = [s for s in self.running if not s.finished]
                continue
            self.steps += 1
            for s, t in zip(admit + decoding, nxt):
                if s.cancelled:
                    s.finished = True
                else:
                    s.last = t
                    s.n_out += 1
                    self.tokens += 1
                    s.text += self.piece(t, s.n_out == 1)
                    reason = ("stop" if any(x in s.text for x in s.stop) else
                              "length" if s.n_out >= s.max_new or s.length + 1 >= self.a.max_len else None)
                    s.finished = reason is not None
                    s.out.put_nowait((t, end, reason))
                if s.finished:
                    self.free_slots.append(s.slot)
            self.running = [s for s in self.running + admit if not s.finished]

    async def stop(self):
        self.stopping = True
        self.wake.set()


class Service:
    def __init__(self, a, tok, engine, rec):
        self.a, self.tok, self.engine, self.rec = a, tok, engine, rec
        self.counts = collections.Counter()

    def parse(self, r, body):
        """The request body -> (prompt ids, max_tokens, stop list, stream)."""
        try:
            doc = json.loads(body)
        except (ValueError, UnicodeDecodeError) as e:
            raise BadRequest(400, "the body is not JSON: %s" % e) from None
        if not isinstance(doc, dict):
            raise BadRequest(400, "the body must be a JSON object")
        prompt = doc.get("prompt")
        if isinstance(prompt, list) and len(prompt) == 1:
            prompt = prompt[0]
        if not isinstance(prompt, str) or not prompt:
            raise BadRequest(400, "'prompt' must be a non-empty string")
        max_tokens = doc.get("max_tokens", 16)
        if isinstance(max_tokens, bool) or not isinstance(max_tokens, int) or max_tokens < 1:
            raise BadRequest(400, "'max_tokens' must be a positive integer")
        stop = doc.get("stop") or []
        if isinstance(stop, str):
            stop = [stop]
        if not isinstance(stop, list) or not all(isinstance(x, str) and x for x in stop) or len(stop) > 4:
            raise BadRequest(400, "'stop' must be a string or a list of at most 4 strings")
        stream = doc.get("stream", False)
        if not isinstance(stream, bool):
            raise BadRequest(400, "'stream' must be a boolean")
        opts = doc.get("stream_options") or {}
        usage = isinstance(opts, dict) and opts.get("include_usage") is True
        ids = self.tok.encode(prompt, self.a.max_len)
        if len(ids) >= self.a.max_len:
            raise BadRequest(400, "the prompt is %d tokens or more; the context holds %d" % (len(ids), self.a.max_len))
        if r is not None:
            r.input_tokens = len(ids)
        return ids, min(max_tokens, self.a.max_len - len(ids)), stop, stream, usage

    def chunk(self, rid, created, text, reason):
        return ("data: %s\n\n" % json.dumps({
            "id": rid, "object": "text_completion", "created": created, "model": MODEL_NAME,
            "choices": [{"text": text, "index": 0, "logprobs": None, "finish_reason": reason}]})).encode()

    async def completions(self, scope, receive, send):
        """One POST /v1/completions, as a raw ASGI exchange: the stream's writes are timed one by one."""
        r = servprof.asgi.current_request(scope)
        body, more = b"", True
        while more:
            m = await receive()
            if m["type"] == "http.disconnect":
                return
            body += m.get("body", b"")
            more = m.get("more_body", False)
        try:
            with r.stage("preprocess") if r is not None else _null():
                ids, max_new, stop, stream, usage = self.parse(r, body)
            seq = Sequence(r, ids, max_new, stop)
            self.engine.submit(seq)
        except BadRequest as e:
            self.counts[str(e.status)] += 1
            await send({"type": "http.response.start", "status": e.status,
                        "headers": [(b"content-type", b"application/json")]})
            await send({"type": "http.response.body", "body": e.body()})
            return
        rid, created = "cmpl-%x" % id(seq), int(time.time())
        watch = asyncio.ensure_future(self.watch(receive, seq))
        try:
            if stream:
                await self.stream(r, seq, rid, created, send, usage)
            else:
                await self.whole(r, seq, rid, created, send)
        except BaseException:
            seq.cancelled = True   # the server stops (or a send failed): the scheduler drops it
            raise
        finally:
            watch.cancel()         # before it can read the disconnect that follows every finished response

    async def watch(self, receive, seq):
        """Waits for the client to go away. uvicorn's send() drops writes to a closed connection without
        an error, so the answer's loop alone would decode every token for nobody; receive() says it
        (http.disconnect), which is also how the middleware records the request as cancelled."""
        while True:
            m = await receive()
            if m["type"] == "http.disconnect":
                seq.cancelled = True          # the scheduler drops it at its next step
                seq.out.put_nowait(GONE)      # and the answer's loop stops waiting for its tokens
                return

    async def stream(self, r, seq, rid, created, send, usage):
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"text/event-stream"), (b"cache-control", b"no-cache")]})
        k = 0
        while True:
            item = await seq.out.get()
            if item is GONE:
                self.counts["closed early"] += 1
                return
            if item is None:
                self.counts["500"] += 1
                await send({"type": "http.response.body", "body": b'data: {"error":{"message":"the step failed",'
                            b'"type":"server_error"}}\n\ndata: [DONE]\n\n'})
                return
            token, _, reason = item
            with r.stage("detokenize") if r is not None else _null():
                ev = self.chunk(rid, created, self.engine.piece(token, k == 0), reason)
            k += 1
            # the token leaves the server when its chunk is handed to the server's transport: stamped
            # here, since after the await the event loop may have run other requests' work first (the
            # client then had the token before a stamp taken after the await: seen 170 us early)
            handed = servprof.now_ns()
            with r.stage("stream") if r is not None else _null():
                await send({"type": "http.response.body", "body": ev, "more_body": True})
            if r is not None:
                r.token(time_ns=handed)
            if reason is not None:
                break
        self.counts["ok"] += 1
        tail = b"data: [DONE]\n\n"
        if usage:   # stream_options.include_usage: a last chunk with no choices and the usage
            tail = ("data: %s\n\n" % json.dumps({
                "id": rid, "object": "text_completion", "created": created, "model": MODEL_NAME, "choices": [],
                "usage": {"prompt_tokens": len(seq.prompt), "completion_tokens": k,
                          "total_tokens": len(seq.prompt) + k}})).encode() + tail
        await send({"type": "http.response.body", "body": tail})

    async def whole(self, r, seq, rid, created, send):
        text, n, reason = [], 0, None
        while reason is None:
            item = await seq.out.get()
            if item is GONE:
                self.counts["closed early"] += 1
                return
            if item is None:
                self.counts["500"] += 1
                e = BadRequest(500, "the step failed", "server_error")
                await send({"type": "http.response.start", "status": 500,
                            "headers": [(b"content-type", b"application/json")]})
                await send({"type": "http.response.body", "body": e.body()})
                return
            token, end, reason = item
            with r.stage("detokenize") if r is not None else _null():
                text.append(self.engine.piece(token, n == 0))
            if r is not None:
                r.token(time_ns=end)    # a whole answer's token leaves with the step that made it
            n += 1
        body = json.dumps({"id": rid, "object": "text_completion", "created": created, "model": MODEL_NAME,
                           "choices": [{"text": "".join(text), "index": 0, "logprobs": None, "finish_reason": reason}],
                           "usage": {"prompt_tokens": len(seq.prompt), "completion_tokens": n,
                                     "total_tokens": len(seq.prompt) + n}}).encode()
        self.counts["ok"] += 1
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"application/json")]})
        await send({"type": "http.response.body", "body": body})


def build_app(svc):
    from fastapi import FastAPI

    app = FastAPI()

    @app.get("/healthz")
    async def healthz():
        return {"status": "ok"}

    async def router(scope, receive, send):
        if scope["type"] == "http" and scope["path"] == "/v1/completions" and scope["method"] == "POST":
            return await svc.completions(scope, receive, send)
        return await app(scope, receive, send)
    return router


def main(argv=None):
    a = parse_args(argv)
    import torch
    from decoder import Decoder

    torch.set_num_threads(max(1, a.torch_threads))
    try:
        tok = WordPiece(a.tokenizer)
    except TokenizerError as e:
        print("service: %s" % e, file=sys.stderr)
        return 1
    # tokens never drawn: [PAD], [CLS], [SEP], [UNK], [MASK] and the like
    special = [i for t, i in tok.vocab.items() if t.startswith("[") and t.endswith("]")]
    model = Decoder(tok.size, a.max_len, a.layers, a.hidden, a.heads, a.ffn, a.max_num_seqs, a.seed, special)
    model.prefill(0, [tok.cls] * 8, 8)   # warm-up: the first passes allocate
    model.sample(model.decode([0], [tok.cls], [8]))
    sock = bind_socket(a.host, a.port)   # before the trace: a port in use leaves no empty trace behind
    if sock is None:
        return 1
    rec = None
    if a.trace:
        try:
            rec = servprof.Recorder(a.trace, price_per_hour=a.price_per_hour, stages=["detokenize", "stream"])
        except (OSError, RuntimeError, ValueError) as e:
            sock.close()
            print("service: --trace: %s" % e, file=sys.stderr)
            return 1
        props = {"service": "servprof-python-generate", "mode": "generate", "device": "cpu",
                 "policy.max_num_seqs": a.max_num_seqs, "policy.max_num_batched_tokens": a.max_num_batched_tokens,
                 "policy.chunked_prefill": 0, "policy.prefill_bucket": a.prefill_bucket,
                 "policy.kv_capacity_tokens": a.max_num_seqs * a.max_len, "policy.queue_capacity": a.queue_capacity,
                 "policy.max_len": a.max_len, "model.layers": a.layers, "model.hidden": a.hidden,
                 "model.heads": a.heads, "model.ffn": a.ffn}
        for k, v in props.items():
            rec.set_property(k, str(v))
        from servprof import torch as sp_torch
        sp_torch.attach(rec, model, device="cpu")   # each module's forward: a kernel of the running step
    rc = asyncio.run(serve(a, tok, model, rec, sock))
    if rec is not None:
        rec.close()
        d = rec.drops()
        print("service: trace %s: %d records dropped (%s)" % (rec.path, sum(d.values()),
              ", ".join("%s %d" % kv for kv in d.items() if kv[1]) or "none"), file=sys.stderr)
    return rc


async def serve(a, tok, model, rec, sock):
    engine = Engine(a, model, tok, rec)
    svc = Service(a, tok, engine, rec)
    app = build_app(svc)
    if rec is not None:
        app = servprof.asgi.Middleware(app, rec, paths=["/v1/completions"])
    worker = asyncio.ensure_future(engine.run())
    try:
        rc = await serve_uvicorn(app, sock, a.duration)
    finally:
        await engine.stop()
        await worker
        engine.pool.shutdown()
    if rc:
        return rc
    c = svc.counts
    print("service: %d requests: %d ok, %d 503, %d 400, %d 500, %d closed early; %d steps, %d prompt tokens "
          "(%d computed with padding and decodes), %d output tokens" % (
              sum(c.values()), c["ok"], c["503"], c["400"], c["500"], c["closed early"], engine.steps,
              engine.prompt_tokens, engine.padded, engine.tokens), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
