#!/usr/bin/env python3
"""A Hugging Face model behind aiohttp, profiled with servprof: the third-party stack people run, built
from configs (random weights, nothing downloaded). aiohttp.web serves two OpenAI-shaped endpoints,
each request recorded by servprof.aiohttp's middleware:
  /v1/embeddings   a BERT encoder (transformers BertModel from a BertConfig), mean-pooled, batched by
                   the examples' asyncio batcher (batcher.py: the queue span and the batch);
  /v1/completions  a GPT-2 decoder (GPT2LMHeadModel from a GPT2Config), greedy, `stream` true (server-sent
                   events, one chunk per token) or false: requests are batched statically (a batch
                   starts together, left-padded) and decoded by a token loop over the model's forward
                   with its KV cache (past_key_values), one servprof step per forward.
Preprocess is the project's WordPiece tokenisation (tokenizer.py); postprocess the answer's assembly
(detokenize and stream spans per token when streaming). servprof.torch times each innermost module on the
CPU, or starts the in-process CUPTI collector on CUDA (docs/python.md, "A Hugging Face model").

    python3 examples/python/hf_service.py --port 0 --device cuda --trace hf.sptrace
    servprof load --url http://127.0.0.1:PORT/v1/embeddings --rate 100 --duration 5
    servprof load --url http://127.0.0.1:PORT/v1/completions --stream --rate 10 --duration 5
    kill -INT <pid>; servprof analyze hf.sptrace

--model torch-tiny serves the same code path with small PyTorch models of the same call signatures
(forward(input_ids, attention_mask) -> .last_hidden_state; forward(input_ids, attention_mask,
position_ids, past_key_values, use_cache) -> .logits, .past_key_values) for machines without
transformers (Debian 12 packages none). Needs torch and aiohttp; --model hf needs transformers.
It prints `listening on HOST:PORT` once it accepts requests and counters when it stops.
"""
import argparse
import asyncio
import collections
import concurrent.futures
import contextlib
import json
import math
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

_NULL = contextlib.nullcontext()


def parse_args(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", choices=("hf", "torch-tiny"), default="hf",
                    help="hf: transformers' BertModel and GPT2LMHeadModel from configs; torch-tiny: small "
                    "PyTorch stand-ins through the same code (no transformers needed)")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=8080, help="0: an ephemeral port (printed)")
    ap.add_argument("--trace", help="record into this native trace ({pid} is replaced by the process id)")
    ap.add_argument("--price-per-hour", type=float)
    ap.add_argument("--tokenizer", default=None, help="tokenizer.json (default: the project's)")
    ap.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    ap.add_argument("--cupti-mode", choices=("lean", "launches"), default="lean")
    ap.add_argument("--layers", type=int, default=2)
    ap.add_argument("--hidden", type=int, default=128)
    ap.add_argument("--heads", type=int, default=4)
    ap.add_argument("--ffn", type=int, default=512)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--max-len", type=int, default=128, help="positions: a prompt and its output together")
    ap.add_argument("--max-batch", type=int, default=16, help="embeddings: inputs a batch holds at most")
    ap.add_argument("--max-queue-delay-ms", type=float, default=2.0, help="both batchers' window")
    ap.add_argument("--gen-max-batch", type=int, default=8, help="completions: requests a batch holds at most")
    ap.add_argument("--queue-capacity", type=int, default=256)
    ap.add_argument("--max-inputs", type=int, default=64)
    ap.add_argument("--max-body", type=int, default=1 << 20)
    ap.add_argument("--torch-threads", type=int, default=1)
    ap.add_argument("--duration", type=float, default=0, help="stop after S seconds (0: until SIGINT/SIGTERM)")
    a = ap.parse_args(argv)
    if a.max_batch < 1 or a.gen_max_batch < 1 or a.max_queue_delay_ms < 0 or a.queue_capacity < 1 or a.max_len < 4:
        ap.error("--max-batch >= 1, --gen-max-batch >= 1, --max-queue-delay-ms >= 0, --queue-capacity >= 1, "
                 "--max-len >= 4")
    if a.hidden % a.heads:
        ap.error("--heads (%d) must divide --hidden (%d)" % (a.heads, a.hidden))
    return a


class Output:
    """What the stand-ins return: the attributes of transformers' ModelOutput that the service reads."""

    def __init__(self, **kw):
        self.__dict__.update(kw)


def tiny_models(torch, vocab, a):
    """Small PyTorch models with the call signatures of BertModel and GPT2LMHeadModel (what the service
    uses of them), for machines without transformers."""
    nn = torch.nn

    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.ln1, self.ln2 = nn.LayerNorm(a.hidden), nn.LayerNorm(a.hidden)
            self.qkv, self.proj = nn.Linear(a.hidden, 3 * a.hidden), nn.Linear(a.hidden, a.hidden)
            self.up, self.act, self.down = nn.Linear(a.hidden, a.ffn), nn.GELU(), nn.Linear(a.ffn, a.hidden)

        def forward(self, x, allowed, past):
            b, t, h = x.shape
            d = h // a.heads
            q, k, v = (z.view(b, t, a.heads, d).transpose(1, 2) for z in self.qkv(self.ln1(x)).split(h, -1))
            if past is not None:
                k, v = torch.cat((past[0], k), 2), torch.cat((past[1], v), 2)
            att = (q @ k.transpose(-1, -2)) / math.sqrt(d)
            # finfo.min, not -inf: a left-padding row sees only masked keys, and must not become NaN
            att = att.masked_fill(~allowed, torch.finfo(att.dtype).min).softmax(-1)
            x = x + self.proj((att @ v).transpose(1, 2).reshape(b, t, h))
            return x + self.down(self.act(self.up(self.ln2(x)))), (k, v)

    class TinyEncoder(nn.Module):
        # the decoder's blocks without the causal mask (not nn.TransformerEncoderLayer: in inference its
        # fused fast path runs none of its submodules, so servprof.torch times each layer as one kernel)
        def __init__(self):
            super().__init__()
            self.tok, self.pos = nn.Embedding(vocab, a.hidden), nn.Embedding(a.max_len, a.hidden)
            self.blocks = nn.ModuleList(Block() for _ in range(a.layers))
            self.ln = nn.LayerNorm(a.hidden)

        def forward(self, input_ids, attention_mask):
            x = self.tok(input_ids) + self.pos(torch.arange(input_ids.shape[1], device=input_ids.device))[None]
            allowed = attention_mask[:, None, None, :].bool()
            for blk in self.blocks:
                x, _ = blk(x, allowed, None)
            return Output(last_hidden_state=self.ln(x))

    class TinyCausalLM(nn.Module):
        def __init__(self):
            super().__init__()
            self.tok, self.pos = nn.Embedding(vocab, a.hidden), nn.Embedding(a.max_len, a.hidden)
            self.blocks = nn.ModuleList(Block() for _ in range(a.layers))
            self.ln, self.head = nn.LayerNorm(a.hidden), nn.Linear(a.hidden, vocab, bias=False)

        def forward(self, input_ids, attention_mask, position_ids, past_key_values=None, use_cache=True):
            t = input_ids.shape[1]
            s = attention_mask.shape[1]     # keys: the cached positions and these
            dev = input_ids.device
            causal = torch.arange(s, device=dev)[None, :] <= (s - t + torch.arange(t, device=dev))[:, None]
            allowed = causal[None, None] & attention_mask[:, None, None, :].bool()
            x = self.tok(input_ids) + self.pos(position_ids)
            cache = []
            for i, blk in enumerate(self.blocks):
                x, kv = blk(x, allowed, past_key_values[i] if past_key_values is not None else None)
                cache.append(kv)
            return Output(logits=self.head(self.ln(x)), past_key_values=tuple(cache) if use_cache else None)

    torch.manual_seed(a.seed)
    return TinyEncoder(), TinyCausalLM(), "torch-tiny encoder", "torch-tiny causal LM"


def hf_models(vocab, a):
    """transformers' BERT encoder and GPT-2 decoder built from configs: random weights, nothing read from
    the network or a cache."""
    import torch
    from transformers import BertConfig, BertModel, GPT2Config, GPT2LMHeadModel
    torch.manual_seed(a.seed)
    enc = BertModel(BertConfig(vocab_size=vocab, hidden_size=a.hidden, num_hidden_layers=a.layers,
                               num_attention_heads=a.heads, intermediate_size=a.ffn,
                               max_position_embeddings=max(a.max_len, 8)), add_pooling_layer=False)
    dec = GPT2LMHeadModel(GPT2Config(vocab_size=vocab, n_embd=a.hidden, n_layer=a.layers, n_head=a.heads,
                                     n_inner=a.ffn, n_positions=a.max_len))
    return enc, dec, "BertModel", "GPT2LMHeadModel"


def pooled_encoder(torch, enc):
    """The encoder as the examples' batcher calls a model: (ids, lengths) -> one vector per row (the mean
    of its tokens' last hidden states)."""

    class Pooled(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.enc = enc

        def forward(self, ids, lens):
            mask = (torch.arange(ids.shape[1], device=ids.device)[None, :] < lens[:, None]).long()
            h = self.enc(input_ids=ids, attention_mask=mask).last_hidden_state
            m = mask.unsqueeze(-1).to(h.dtype)
            return (h * m).sum(1) / m.sum(1).clamp(min=1)

    return Pooled()


class GenQueueFull(Exception):
    pass


class Gen:
    """One completion request in the generation batcher."""
    __slots__ = ("req", "prompt", "max_new", "t_enq", "out", "cancelled")

    def __init__(self, req, prompt, max_new, t_enq):
        self.req, self.prompt, self.max_new, self.t_enq = req, prompt, max_new, t_enq
        self.out = asyncio.Queue()     # (token id, step end ns, finish reason or None); None: the batch failed
        self.cancelled = False


class Generator:
    """Static batching for a causal LM: up to max_batch waiting requests start together (after the
    window, or at once when that many wait), left-padded; a token loop over the model's forward with
    its KV cache decodes them greedily until each has its tokens, one servprof step per forward (its
    window: dispatch until the new tokens are on the host). Tokens reach the HTTP side through each
    request's asyncio queue as they are made."""

    def __init__(self, torch, model, rec, tok, special, a, device):
        self.torch, self.model, self.rec, self.tok, self.a = torch, model, rec, tok, a
        self.device = torch.device(device)
        self.special = torch.tensor(sorted(special), dtype=torch.long)
        self.pending = []
        self.stopping = False
        self.wake = asyncio.Event()
        self.pool = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="generate")
        self.batches = self.steps = self.tokens = 0

    def submit(self, g):
        if self.stopping or len(self.pending) >= self.a.queue_capacity:
            raise GenQueueFull()
        self.pending.append(g)
        self.wake.set()

    async def stop(self):
        self.stopping = True
        self.wake.set()

    async def run(self):
        loop = asyncio.get_running_loop()
        window = self.a.max_queue_delay_ms / 1e3
        import servprof
        while True:
            self.pending = [g for g in self.pending if not g.cancelled]
            if not self.pending:
                if self.stopping:
                    break
                self.wake.clear()
                await self.wake.wait()
                continue
            wait = self.pending[0].t_enq / 1e9 + window - servprof.now_ns() / 1e9
            if len(self.pending) < self.a.gen_max_batch and wait > 0 and not self.stopping:
                self.wake.clear()
                try:
                    await asyncio.wait_for(self.wake.wait(), timeout=wait)
                except asyncio.TimeoutError:
                    pass
                continue
            take, self.pending = self.pending[:self.a.gen_max_batch], self.pending[self.a.gen_max_batch:]
            try:
                await loop.run_in_executor(self.pool, self.generate, take, loop)
            except Exception as e:  # noqa: BLE001 - a failed batch fails its requests, not the service
                print("service: generation batch failed: %r" % e, file=sys.stderr)
                for g in take:
                    g.out.put_nowait(None)

    def generate(self, seqs, loop):
        """In the worker thread: the token loop of one batch."""
        import servprof
        torch, dev = self.torch, self.device
        width = max(len(g.prompt) for g in seqs)
        ids = torch.full((len(seqs), width), self.tok.pad, dtype=torch.long)
        mask = torch.zeros((len(seqs), width), dtype=torch.long)
        for i, g in enumerate(seqs):   # left padding: every row's next token is at the same column
            ids[i, width - len(g.prompt):] = torch.tensor(g.prompt, dtype=torch.long)
            mask[i, width - len(g.prompt):] = 1
        pos = (mask.cumsum(-1) - 1).clamp(min=0)
        ids, mask, pos = ids.to(dev), mask.to(dev), pos.to(dev)
        special = self.special.to(dev)
        made = [0] * len(seqs)
        live = [not g.cancelled for g in seqs]
        past, first = None, True
        self.batches += 1
        with torch.inference_mode():
            while any(live):
                members = [(g.req, "prefill" if first else "decode", len(g.prompt) if first else 1)
                           for g, on in zip(seqs, live) if on]
                traced = self.rec is not None and all(m[0] is not None for m in members)
                step = self.rec.step(members, padded_tokens=ids.numel()) if traced else None
                with step if step is not None else _NULL:
                    out = self.model(input_ids=ids, attention_mask=mask, position_ids=pos, past_key_values=past,
                                     use_cache=True)
                    past = out.past_key_values
                    logits = out.logits[:, -1, :]
                    logits[:, special] = torch.finfo(logits.dtype).min   # never [PAD], [CLS], ...
                    nxt = logits.argmax(-1).cpu()
                end = step.end_ns if step is not None else servprof.now_ns()
                if first and step is not None:
                    for g in seqs:    # queue: from the request's arrival in the batcher until its batch began
                        if g.req is not None:
                            g.req.span("queue", g.t_enq, max(g.t_enq, step.start_ns))
                self.steps += 1
                for i, g in enumerate(seqs):
                    if not live[i]:
                        continue
                    if g.cancelled:
                        live[i] = False
                        continue
                    made[i] += 1
                    self.tokens += 1
                    reason = "length" if made[i] >= g.max_new else None
                    live[i] = reason is None
                    loop.call_soon_threadsafe(g.out.put_nowait, (int(nxt[i]), end, reason))
                first = False
                ids = nxt.to(dev)[:, None]
                pos = pos[:, -1:] + 1
                mask = torch.cat((mask, torch.ones((len(seqs), 1), dtype=mask.dtype, device=dev)), 1)


class Completions:
    """POST /v1/completions on aiohttp: parse (generate_service.py's checks), the generation batcher,
    the answer whole or streamed (one server-sent event per token, `data: [DONE]` at the end)."""

    def __init__(self, a, tok, gen, parser):
        self.a, self.tok, self.gen, self.parser = a, tok, gen, parser
        self.counts = collections.Counter()
        self.pieces = [None] * tok.size
        for t, i in tok.vocab.items():
            self.pieces[i] = t

    def piece(self, token, first):
        p = self.pieces[token]
        if p.startswith(self.tok.prefix):
            return p[len(self.tok.prefix):]
        return p if first else " " + p

    async def handle(self, request):
        import servprof
        import servprof.aiohttp
        from aiohttp import web
        from generate_service import BadRequest
        r = servprof.aiohttp.current_request(request)
        try:
            with r.stage("preprocess") if r is not None else _NULL:
                body = await request.read()
                ids, max_new, stop, stream, usage = self.parser.parse(r, body)
            g = Gen(r, ids, max_new, servprof.now_ns())
            try:
                self.gen.submit(g)
            except GenQueueFull:
                raise BadRequest(503, "the queue is full; retry later", "server_error") from None
        except BadRequest as e:
            self.counts[str(e.status)] += 1
            return web.Response(body=e.body(), status=e.status, content_type="application/json")
        rid, created = "cmpl-%x" % id(g), int(time.time())
        try:
            if stream:
                return await self.stream(request, r, g, rid, created, usage)
            return await self.whole(r, g, rid, created)
        except BaseException:
            g.cancelled = True     # a write failed (the client left) or the server stops: the loop drops it
            raise

    async def stream(self, request, r, g, rid, created, usage):
        import servprof
        from aiohttp import web
        resp = web.StreamResponse(status=200, headers={"Content-Type": "text/event-stream",
                                                       "Cache-Control": "no-cache"})
        await resp.prepare(request)
        k = 0
        while True:
            item = await g.out.get()
            if item is None:
                self.counts["500"] += 1
                await resp.write(b'data: {"error":{"message":"the batch failed","type":"server_error"}}\n\n'
                                 b'data: [DONE]\n\n')
                await resp.write_eof()
                return resp
            token, _, reason = item
            with r.stage("detokenize") if r is not None else _NULL:
                ev = self.parser.chunk(rid, created, self.piece(token, k == 0), reason)
            k += 1
            handed = servprof.now_ns()   # the token leaves when its chunk is handed to the transport
            with r.stage("stream") if r is not None else _NULL:
                await resp.write(ev)
            if r is not None:
                r.token(time_ns=handed)
            if reason is not None:
                break
        self.counts["ok"] += 1
        tail = b"data: [DONE]\n\n"
        if usage:
            tail = ("data: %s\n\n" % json.dumps({
                "id": rid, "object": "text_completion", "created": created, "model": MODEL_NAME, "choices": [],
                "usage": {"prompt_tokens": len(g.prompt), "completion_tokens": k,
                          "total_tokens": len(g.prompt) + k}})).encode() + tail
        await resp.write(tail)
        await resp.write_eof()
        return resp

    async def whole(self, r, g, rid, created):
        import servprof
        from aiohttp import web
        toks, reason, end = [], None, 0
        while reason is None:
            item = await g.out.get()
            if item is None:
                self.counts["500"] += 1
                return web.json_response({"error": {"message": "the batch failed", "type": "server_error"}},
                                         status=500)
            token, end, reason = item
            if r is not None:
                r.token(time_ns=end)     # a whole answer's token leaves with the step that made it
            toks.append(token)
        t0 = servprof.now_ns()
        text = "".join(self.piece(t, i == 0) for i, t in enumerate(toks))
        body = json.dumps({"id": rid, "object": "text_completion", "created": created, "model": MODEL_NAME,
                           "choices": [{"text": text, "index": 0, "logprobs": None, "finish_reason": reason}],
                           "usage": {"prompt_tokens": len(g.prompt), "completion_tokens": len(toks),
                                     "total_tokens": len(g.prompt) + len(toks)}}).encode()
        if r is not None:   # postprocess: from the last step's end (the hand-off back included)
            r.span("postprocess", min(end, t0), servprof.now_ns())
        self.counts["ok"] += 1
        return web.Response(body=body, status=200, content_type="application/json")


MODEL_NAME = "servprof-hf-example"


def build_app(emb_svc, comp, rec):
    """The aiohttp.web application: both routes and /healthz, recorded by servprof.aiohttp's middleware."""
    from aiohttp import web
    import servprof.aiohttp

    async def embeddings(request):
        status, body = await emb_svc.embeddings(servprof.aiohttp.current_request(request), request.read,
                                                request.headers.get("Content-Type"), request.content_length)
        return web.Response(body=body, status=status, content_type="application/json",
                            headers={"Retry-After": "1"} if status == 503 else None)

    async def healthz(request):
        return web.json_response({"status": "ok"})

    mws = ([servprof.aiohttp.middleware(rec, paths=["/v1/embeddings", "/v1/completions"])]
           if rec is not None else [])
    app = web.Application(middlewares=mws, client_max_size=emb_svc.a.max_body + 1)
    app.router.add_post("/v1/embeddings", embeddings)
    app.router.add_post("/v1/completions", comp.handle)
    app.router.add_get("/healthz", healthz)
    return app


def missing(name, why):
    print("hf_service: %s is not installed (%s)" % (name, why), file=sys.stderr)
    return 2


def main(argv=None):
    a = parse_args(argv)
    try:
        import torch
    except ImportError:
        return missing("torch", "Debian python3-torch, or pip install torch")
    try:
        import aiohttp  # noqa: F401
    except ImportError:
        return missing("aiohttp", "Debian python3-aiohttp, or pip install aiohttp")
    if a.model == "hf":
        try:
            import transformers  # noqa: F401
        except ImportError:
            return missing("transformers", "pip install transformers; Debian 12 has no package. --model torch-tiny "
                           "serves the same code with small PyTorch stand-ins")
    import servprof
    import servprof.torch as sp_torch
    from batcher import Batcher
    from generate_service import Service as GenParser
    from service import Service as EmbedService, find_tokenizer
    from serving import bind_socket, serve_aiohttp
    from tokenizer import TokenizerError, WordPiece

    torch.set_num_threads(max(1, a.torch_threads))
    try:
        tok = WordPiece(a.tokenizer or find_tokenizer())
    except TokenizerError as e:
        print("hf_service: %s" % e, file=sys.stderr)
        return 1
    if a.device == "cuda" and not torch.cuda.is_available():
        print("hf_service: --device cuda: torch sees no CUDA device", file=sys.stderr)
        return 1
    if a.model == "hf":
        try:
            enc, dec, enc_name, dec_name = hf_models(tok.size, a)
        except Exception as e:  # noqa: BLE001 - an installed transformers that cannot build them (versions)
            print("hf_service: transformers %s could not build BertModel and GPT2LMHeadModel from configs: %s: %s"
                  % (getattr(sys.modules.get("transformers"), "__version__", "?"), type(e).__name__, e), file=sys.stderr)
            return 2
    else:
        enc, dec, enc_name, dec_name = tiny_models(torch, tok.size, a)
    encoder = pooled_encoder(torch, enc).to(a.device).eval()
    dec = dec.to(a.device).eval()
    special = [i for t, i in tok.vocab.items() if t.startswith("[") and t.endswith("]")]
    with torch.inference_mode():   # warm-up before any hook or trace: the first passes allocate
        for n in (8, a.max_len):
            encoder(torch.full((2, n), tok.pad, dtype=torch.long, device=a.device), torch.tensor([n, 1], device=a.device))
        m = torch.ones((2, 8), dtype=torch.long, device=a.device)
        o = dec(input_ids=torch.full((2, 8), tok.cls, dtype=torch.long, device=a.device), attention_mask=m,
                position_ids=torch.arange(8, device=a.device).expand(2, 8), use_cache=True)
        dec(input_ids=torch.full((2, 1), tok.cls, dtype=torch.long, device=a.device),
            attention_mask=torch.ones((2, 9), dtype=torch.long, device=a.device),
            position_ids=torch.full((2, 1), 8, dtype=torch.long, device=a.device), past_key_values=o.past_key_values,
            use_cache=True)
    sock = bind_socket(a.host, a.port)   # before the trace: a port in use leaves no empty trace behind
    if sock is None:
        return 1
    rec = None
    if a.trace:
        try:
            rec = servprof.Recorder(a.trace, price_per_hour=a.price_per_hour, stages=["detokenize", "stream"])
        except (OSError, RuntimeError, ValueError) as e:
            sock.close()
            print("hf_service: --trace: %s" % e, file=sys.stderr)
            return 1
        props = {"service": "servprof-hf-example", "model.stack": a.model, "model.encoder": enc_name,
                 "model.decoder": dec_name, "policy.max_batch": a.max_batch,
                 "policy.max_queue_delay_ns": int(a.max_queue_delay_ms * 1e6), "policy.pad": "longest",
                 "policy.workers": 1, "policy.queue_capacity": a.queue_capacity, "policy.max_len": a.max_len,
                 "model.layers": a.layers, "model.hidden": a.hidden, "model.heads": a.heads, "model.ffn": a.ffn}
        for k, v in props.items():
            rec.set_property(k, str(v))
        both = torch.nn.ModuleDict({"encoder": encoder, "decoder": dec})
        att = sp_torch.attach(rec, both if a.device == "cpu" else None, device=a.device, cupti_mode=a.cupti_mode)
        if a.device == "cuda":
            print("hf_service: device: %s, %s" % (torch.cuda.get_device_name(0), "CUPTI records kernels and copies"
                  if att.cupti else "device activity NOT recorded: %s" % att.cupti_error), file=sys.stderr)
    print("hf_service: %s (encoder %s, decoder %s) on %s, torch %s%s" % (
        a.model, enc_name, dec_name, a.device, torch.__version__,
        ", transformers %s" % sys.modules["transformers"].__version__ if a.model == "hf" else ""), file=sys.stderr)
    rc = asyncio.run(serve(a, tok, encoder, dec, special, rec, sock, torch, Batcher, EmbedService, GenParser,
                           serve_aiohttp))
    if rec is not None:
        rec.close()
        d = rec.drops()
        print("hf_service: trace %s: %d records dropped (%s)" % (rec.path, sum(d.values()),
              ", ".join("%s %d" % kv for kv in d.items() if kv[1]) or "none"), file=sys.stderr)
    return rc


async def serve(a, tok, encoder, dec, special, rec, sock, torch, Batcher, EmbedService, GenParser, serve_aiohttp):
    batcher = Batcher(encoder, rec, pad_id=tok.pad, max_batch=a.max_batch, window_s=a.max_queue_delay_ms / 1e3,
                      pad="longest", max_len=a.max_len, queue_capacity=a.queue_capacity, device=a.device)
    emb = EmbedService(a, tok, batcher, rec)
    gen = Generator(torch, dec, rec, tok, special, a, a.device)
    comp = Completions(a, tok, gen, GenParser(a, tok, None, rec))
    app = build_app(emb, comp, rec)
    workers = [asyncio.ensure_future(batcher.run()), asyncio.ensure_future(gen.run())]
    try:
        rc = await serve_aiohttp(app, sock, a.duration)
    finally:
        await batcher.stop()
        await gen.stop()
        await asyncio.gather(*workers)
        gen.pool.shutdown()
    e, c = emb.counts, comp.counts
    print("hf_service: embeddings: %d requests (%d ok, %d 503, %d 400); %d batches, %d inputs, %d tokens | "
          "completions: %d requests (%d ok, %d 503, %d 400, %d 500); %d batches, %d steps, %d output tokens" % (
              sum(e.values()), e["ok"], e["503"], e["400"], batcher.batches, batcher.inputs, batcher.tokens,
              sum(c.values()), c["ok"], c["503"], c["400"], c["500"], gen.batches, gen.steps, gen.tokens),
          file=sys.stderr)
    return rc


if __name__ == "__main__":
    sys.exit(main())
