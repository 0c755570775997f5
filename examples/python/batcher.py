"""An asyncio dynamic batcher, as the C reference service's (docs/serve.md "Pipeline" steps 3-4): a
bounded queue; one worker takes a batch when max-batch inputs of one length bucket wait or the oldest
request has waited the batch window; a request's inputs stay together; padding to the batch's
longest member, to a static shape, or to the bound of the request's length bucket. The model runs in
a worker thread so the event loop keeps serving. Recording goes through servprof's public API only:
the queue span of each request (enqueue to the batch's start) and the batch itself."""
import asyncio
import concurrent.futures
import contextlib

import servprof
import torch

_NULL = contextlib.nullcontext()


class QueueFull(Exception):
    pass


class Item:
    __slots__ = ("req", "inputs", "bucket", "t_enq", "future")

    def __init__(self, req, inputs, bucket, t_enq, future):
        self.req, self.inputs, self.bucket, self.t_enq, self.future = req, inputs, bucket, t_enq, future


class Batcher:
    def __init__(self, model, recorder, *, pad_id, max_batch=16, window_s=0.002, pad="longest", pad_to=0,
                 buckets=(), max_len=128, queue_capacity=256, device="cpu", cuda_graphs=False):
        self.model = model
        self.rec = recorder
        self.pad_id = pad_id
        self.max_batch = max_batch
        self.window = window_s
        self.pad, self.pad_to, self.buckets, self.max_len = pad, pad_to, tuple(buckets), max_len
        self.capacity = queue_capacity
        self.device = torch.device(device)
        self.cuda_graphs = cuda_graphs and self.device.type == "cuda"
        self.pending = []
        self.queued_inputs = 0
        self.stopping = False
        self.wake = asyncio.Event()
        self.pool = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="batch")
        self.graphs, self.seen_shapes = {}, set()
        self.graph_captures = self.graph_replays = 0
        self.batches = self.inputs = self.tokens = self.padded = self.rejected = 0

    def bucket_of(self, n):
        if self.pad == "buckets":
            for b in self.buckets:
                if n <= b:
                    return b
            return self.max_len
        return 0  # one bucket

    def submit(self, req, inputs):
        """Queues a request's token id lists; returns a future of (embeddings, batch end ns). Raises
        QueueFull when the queue holds queue_capacity inputs (the caller answers 503)."""
        if self.stopping or self.queued_inputs + len(inputs) > self.capacity:
            self.rejected += 1
            raise QueueFull()
        fut = asyncio.get_running_loop().create_future()
        self.pending.append(Item(req, inputs, self.bucket_of(max(len(x) for x in inputs)), servprof.now_ns(), fut))
        self.queued_inputs += len(inputs)
        self.wake.set()
        return fut

    async def stop(self):
        self.stopping = True
        self.wake.set()

    async def run(self):
        loop = asyncio.get_running_loop()
        while True:
            if not self.pending:
                if self.stopping:
                    break
                self.wake.clear()
                await self.wake.wait()
                continue
            oldest = self.pending[0]
            same = [it for it in self.pending if it.bucket == oldest.bucket]
            n = sum(len(it.inputs) for it in same)
            wait = oldest.t_enq / 1e9 + self.window - servprof.now_ns() / 1e9
            if n < self.max_batch and wait > 0 and not self.stopping:
                self.wake.clear()
                try:
                    await asyncio.wait_for(self.wake.wait(), timeout=wait)
                except asyncio.TimeoutError:
                    pass
                continue
            take, count = [], 0
            for it in same:  # in arrival order; the first always goes, even alone over max-batch
                if take and count + len(it.inputs) > self.max_batch:
                    break
                take.append(it)
                count += len(it.inputs)
            chosen = set(map(id, take))
            self.pending = [it for it in self.pending if id(it) not in chosen]
            self.queued_inputs -= count
            try:
                results = await loop.run_in_executor(self.pool, self.compute, take)
            except Exception as e:  # noqa: BLE001 - each waiting request gets the error
                for it in take:
                    if not it.future.done():
                        it.future.set_exception(e)
                continue
            for it, res in zip(take, results):
                if not it.future.done():
                    it.future.set_result(res)

    def padded_length(self, lengths):
        if self.pad == "static":
            return self.pad_to
        if self.pad == "buckets":
            return self.bucket_of(max(lengths))
        return max(lengths)

    def compute(self, items):
        """In the worker thread: pack, run the model inside the batch's window, unpack."""
        reqs = [it.req for it in items if it.req is not None]
        rows = [ids for it in items for ids in it.inputs]
        lengths = [len(r) for r in rows]
        width = self.padded_length(lengths)
        eff, padded = sum(lengths), len(rows) * width
        batch = self.rec.batch(reqs, effective_tokens=eff, padded_tokens=padded) if self.rec is not None else None
        with batch if batch is not None else _NULL:
            ids = torch.full((len(rows), width), self.pad_id, dtype=torch.long)
            for i, r in enumerate(rows):
                ids[i, :len(r)] = torch.tensor(r, dtype=torch.long)
            lens = torch.tensor(lengths, dtype=torch.long)
            with torch.inference_mode():
                out = self.forward(ids, lens)
        end = batch.end_ns if batch is not None else servprof.now_ns()
        if batch is not None:
            for it in items:  # queue: from enqueue until the batch started
                if it.req is not None:
                    it.req.span("queue", it.t_enq, max(it.t_enq, batch.start_ns))
        if self.cuda_graphs:
            self.maybe_capture(ids, lens)
        self.batches += 1
        self.inputs += len(rows)
        self.tokens += eff
        self.padded += padded
        res, at = [], 0
        for it in items:
            k = len(it.inputs)
            res.append((out[at:at + k].tolist(), end))
            at += k
        return res

    def forward(self, ids, lens):
        if self.device.type == "cpu":
            return self.model(ids, lens)
        g = self.graphs.get(tuple(ids.shape)) if self.cuda_graphs else None
        if g is not None:
            graph, s_ids, s_lens, s_out = g
            s_ids.copy_(ids, non_blocking=True)
            s_lens.copy_(lens, non_blocking=True)
            graph.replay()
            self.graph_replays += 1
            return s_out.cpu()
        return self.model(ids.to(self.device, non_blocking=True), lens.to(self.device, non_blocking=True)).cpu()

    def maybe_capture(self, ids, lens):
        """A batch shape seen twice is captured as a CUDA graph, after its batch was answered (outside any
        batch window), so later batches of the shape replay it: one launch instead of one per kernel."""
        shape = tuple(ids.shape)
        if shape in self.graphs:
            return
        if shape not in self.seen_shapes:
            self.seen_shapes.add(shape)
            return
        s_ids, s_lens = ids.to(self.device), lens.to(self.device)
        side = torch.cuda.Stream()
        side.wait_stream(torch.cuda.current_stream())
        with torch.inference_mode(), torch.cuda.stream(side):
            for _ in range(2):
                self.model(s_ids, s_lens)
        torch.cuda.current_stream().wait_stream(side)
        graph = torch.cuda.CUDAGraph()
        with torch.inference_mode(), torch.cuda.graph(graph):
            s_out = self.model(s_ids, s_lens)
        self.graphs[shape] = (graph, s_ids, s_lens, s_out)
        self.graph_captures += 1
