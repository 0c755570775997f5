"""The recording API in Python over ctypes: the fallback backend, used where the C extension
(_native) was not built (no Python headers) or when SERVPROF_BACKEND=ctypes. Same classes, same
checks and the same trace as the C extension, at a higher cost per call (docs/python.md, "Cost").
ctypes releases the GIL around every call into libservprof."""
import asyncio
import ctypes
import threading
import weakref

from . import _clib
from ._common import (MAX_PRICE_PER_HOUR, PHASES, MAX_STEP_MEMBERS, KNOWN_STAGES, OUTCOMES, DROP_CAUSES, COPY_KINDS, NO_BATCH, MAX_MEMBERS, LABELLED_ID_BASE,
                      ON_FORK, current_batch, check_stage_name, check_time, check_span, check_count,
                      check_request_id, check_outcome, check_trace_context, check_step_member, check_kv, resolve_path, open_error,
                      check_property, check_properties, cover_add)

_lib = _clib.load()
_now = _lib.sp_now_ns
_SP_ERR_NOMEM, _SP_ERR_IO, _SP_ERR_STATE = 1, 2, 6
_live = weakref.WeakSet()   # open recorders: a forked child forgets their open requests (__init__.py)


# Int request ids that ended (docs/python.md, "Request ids used twice"), by the C extension's
# rule (_native_int.h, sp_py_ended_ids): ids below ENDED_DENSE for the recorder's life (a bitmap, bit i
# of byte i >> 3), larger ones in two generations of ENDED_RECENT (sets: the newer fills; when full it
# becomes the older and the older is dropped), so at least the last ENDED_RECENT larger ids to end are
# known. Kept on the Recorder (_dense, _newer, _older), read inline on the request's path.
ENDED_DENSE = 1 << 20
ENDED_RECENT = 1 << 16


def now_ns():
    """servprof's clock: CLOCK_MONOTONIC in integer ns (sp_now_ns)."""
    return _now()


def library_version():
    return _lib.sp_version().decode()


# CUPTI hooks set by servprof.torch when the collector runs: called at each batch's start and end
_cupti_hooks = [None, None]


def _set_cupti_hooks(begin, end):
    """begin/end: the addresses of sp_cupti_batch_begin(u64) / sp_cupti_batch_end() (0 or None: off)."""
    if bool(begin) != bool(end):
        raise ValueError("_set_cupti_hooks: both or neither")
    if not begin:
        _cupti_hooks[0] = _cupti_hooks[1] = None
        return
    _cupti_hooks[0] = ctypes.CFUNCTYPE(None, ctypes.c_uint64)(begin)
    _cupti_hooks[1] = ctypes.CFUNCTYPE(None)(end)


def _err(status, what):
    if status == _SP_ERR_NOMEM:
        return MemoryError("%s: out of memory" % what)
    if status == _SP_ERR_STATE:
        return RuntimeError("%s: a servprof recorder is already open in this process (one per process; "
                            "close it first)" % what)
    if status == _SP_ERR_IO:
        buf = ctypes.create_string_buffer(512)
        msg = _lib.sp_recorder_last_error(buf, 512).decode(errors="replace")
        return OSError(msg or "%s: I/O error" % what)
    return ValueError("%s: %s" % (what, _lib.sp_status_str(status).decode()))


class Recorder:
    """See servprof.Recorder (the C extension's documentation applies word for word)."""

    def __init__(self, path, *, stages=(), price_per_hour=None, properties=None, thread_buffer_bytes=0,
                 max_threads=0, flush_interval_ms=0, on_fork="own_file", live_metrics=False, metrics_settle_ms=0):
        self._ptr = None
        self._open = {}
        self._forget_ended()
        self._names = dict(KNOWN_STAGES)
        self._kernel_names = {}
        self._next_label = 0
        self._next_batch = 0
        self._py_after_close = 0
        self._unfinished = 0
        self._final_drops = None
        self._before_close = []
        self.annotator = None
        self.path = resolve_path(path)
        for s in stages:
            check_stage_name(s)
        if on_fork not in ON_FORK:
            raise ValueError("on_fork must be one of %s, not %r" % (", ".join(ON_FORK), on_fork))
        opt = _clib.RecorderOptions()
        _lib.sp_recorder_options_init(ctypes.byref(opt))
        opt.thread_buffer_bytes = check_count(thread_buffer_bytes, "thread_buffer_bytes", False)
        opt.max_threads = check_count(max_threads, "max_threads", False)
        opt.flush_interval_ms = check_count(flush_interval_ms, "flush_interval_ms", False)
        if price_per_hour is not None:
            if isinstance(price_per_hour, bool) or not isinstance(price_per_hour, (int, float)):
                raise TypeError("price_per_hour must be a number")
            if not 0 < price_per_hour <= MAX_PRICE_PER_HOUR:
                raise ValueError("price_per_hour must be a number in (0, 1e6]")
            opt.price_per_hour = float(price_per_hour)
        opt.on_fork_child = ON_FORK.index(on_fork)
        opt.live_metrics = 1 if live_metrics else 0
        settle = check_count(metrics_settle_ms, "metrics_settle_ms", False)
        if settle > 0xFFFFFFFF:
            raise ValueError("metrics_settle_ms is out of range")
        opt.metrics_settle_ms = settle
        props = check_properties(properties)
        ptr = ctypes.c_void_p()
        st = _lib.sp_recorder_open(self.path.encode(), ctypes.byref(opt), ctypes.byref(ptr))
        if st == _SP_ERR_IO:
            buf = ctypes.create_string_buffer(512)
            raise OSError(open_error(path, self.path, _lib.sp_recorder_last_error(buf, 512).decode(errors="replace")))
        if st:
            raise _err(st, "servprof.Recorder(%r)" % self.path)
        self._ptr = ptr
        _live.add(self)
        try:
            for s in stages:
                self.declare_stage(s)
            for k, v in props:
                self.set_property(k, v)
        except BaseException:
            self.close()
            raise

    # ---- set-up ----
    def declare_stage(self, name):
        check_stage_name(name)
        if name in self._names:
            return
        if self._ptr is None:
            raise RuntimeError("servprof.Recorder(%r) is closed" % self.path)
        nid = _lib.sp_recorder_intern(self._ptr, name.encode())
        if not nid:
            raise MemoryError("servprof: cannot intern stage name %r" % name)
        self._names[name] = nid

    @property
    def stages(self):
        return tuple(self._names)

    def set_property(self, key, value):
        check_property(key, value)
        if self._ptr is None:
            raise RuntimeError("servprof.Recorder(%r) is closed" % self.path)
        st = _lib.sp_recorder_set_property(self._ptr, key.encode(), value.encode())
        if st == 5:
            raise ValueError("property %r = %r: a key is 1..255 bytes of [A-Za-z0-9._-], a value at most 4095 "
                             "bytes" % (key[:60], value[:60]))
        if st == 8:
            raise ValueError("property %r: more than 64 keys in one trace" % key[:60])
        if st:
            raise _err(st, "set_property(%r)" % key)

    # ---- state ----
    @property
    def closed(self):
        return self._ptr is None

    def drops(self):
        if self._final_drops is not None:
            counts = list(self._final_drops)
        else:
            arr = (ctypes.c_uint64 * len(DROP_CAUSES))()
            _lib.sp_recorder_drops(self._ptr, arr)
            counts = list(arr)
        counts[DROP_CAUSES.index("after_close")] += self._py_after_close
        return dict(zip(DROP_CAUSES, counts))

    def stats(self):
        return {"open_requests": len(self._open), "unfinished_at_close": self._unfinished,
                "after_close": self._py_after_close}

    def metrics_text(self):
        if self._ptr is None:
            raise RuntimeError("servprof.Recorder(%r) is closed" % self.path)
        text, n = ctypes.c_void_p(), ctypes.c_size_t()
        st = _lib.sp_recorder_metrics_text(self._ptr, ctypes.byref(text), ctypes.byref(n))
        if st == _SP_ERR_STATE:
            raise RuntimeError("servprof.Recorder(%r) was opened without live_metrics=True" % self.path)
        if st:
            raise _err(st, "metrics_text")
        try:
            return ctypes.string_at(text, n.value).decode()
        finally:
            _lib.sp_metrics_text_free(text)

    def flush(self):
        if self._ptr is None:
            raise RuntimeError("servprof.Recorder(%r) is closed" % self.path)
        st = _lib.sp_recorder_flush(self._ptr)
        if st:
            raise _err(st, "flush")

    def close(self):
        if self._ptr is None:
            return
        t = _now()
        for r in list(self._open.values()):
            if not r._ended:
                r._finish(r._implicit_done(t), OUTCOMES.index("unfinished"), 0)
                r._by_close = True
                self._unfinished += 1
        self._open.clear()
        hooks, self._before_close = self._before_close, []
        for fn in hooks:
            fn()
        ptr, self._ptr = self._ptr, None
        _live.discard(self)
        st = _lib.sp_recorder_close(ptr)
        arr = (ctypes.c_uint64 * len(DROP_CAUSES))()
        _lib.sp_recorder_drops(ptr, arr)
        self._final_drops = list(arr)
        if st:
            raise _err(st, "closing %s" % self.path)

    def _forget_open(self):
        self._open.clear()
        self._forget_ended()  # the child's trace is a file of its own

    def _forget_ended(self):
        self._dense = bytearray(ENDED_DENSE // 8)
        self._newer, self._older = set(), set()

    def _ended_add(self, n):
        if n < ENDED_DENSE:
            self._dense[n >> 3] |= 1 << (n & 7)
        elif n not in self._newer:
            if len(self._newer) == ENDED_RECENT:
                self._older, self._newer = self._newer, set()
            self._newer.add(n)

    def _int_id_taken(self, n):
        """Is int id `n` held by a request of this open recorder, open or ended (the middlewares'
        numbering skips such numbers: asgi.py's _next_number)"""
        if self._ptr is None or type(n) is not int or not 0 <= n < LABELLED_ID_BASE:
            return False
        if n in self._open:
            return True
        if n < ENDED_DENSE:
            return self._dense[n >> 3] >> (n & 7) & 1 == 1
        return n in self._newer or n in self._older

    def _add_before_close(self, fn):
        self._before_close.append(fn)

    def __enter__(self):
        return self

    def __exit__(self, et, ev, tb):
        self.close()
        return False

    def __del__(self):
        # garbage-collected while open: close it so the trace is complete (as the C extension does)
        if getattr(self, "_ptr", None) is not None:
            try:
                self.close()
            except Exception:  # noqa: BLE001 - nothing to report to from a finaliser
                pass

    def __repr__(self):
        return "<servprof.Recorder %r%s (ctypes)>" % (self.path, " closed" if self._ptr is None else "")

    @property
    def _handle(self):
        return self._ptr.value if self._ptr is not None else 0

    # ---- records ----
    def _stage_id(self, name):
        nid = self._names.get(name)
        if nid is None:
            if isinstance(name, str):
                check_stage_name(name)
                raise ValueError("unknown stage name %r: declare it first (Recorder(path, stages=[...]) or "
                                 "declare_stage); known: %s" % (name, ", ".join(self._names)))
            raise TypeError("stage name must be a str, not %s" % type(name).__name__)
        return nid

    def _name_id(self, name):
        nid = self._kernel_names.get(name)
        if nid is None:
            if not isinstance(name, str):
                raise TypeError("name must be a str, not %s" % type(name).__name__)
            b = name.encode()
            if not b or len(b) > 4095 or b"\0" in b:
                raise ValueError("name %r: must be 1..4095 bytes without NUL" % name[:60])
            if self._ptr is None:
                return 0
            nid = _lib.sp_recorder_intern(self._ptr, b)
            self._kernel_names[name] = nid
        return nid

    def request(self, request_id, *, input_tokens=None, arrival_ns=None):
        check_request_id(request_id)
        check_count(input_tokens, "input_tokens")
        arrival = _now() if arrival_ns is None else check_time(arrival_ns, "arrival_ns")
        if isinstance(request_id, int) and self._ptr is not None:  # an int id is the trace's id
            if request_id in self._open:
                raise ValueError("request id %r is already open: two requests of one id cannot be told apart in "
                                 "the trace (docs/python.md)" % request_id)
            if (self._dense[request_id >> 3] >> (request_id & 7) & 1 if request_id < ENDED_DENSE
                    else request_id in self._newer or request_id in self._older):  # ended (the rule above)
                raise ValueError("request id %r was already used by a request that ended: an int id is the trace's "
                                 "id, and two requests under one make a trace servprof analyze refuses; give each "
                                 "request an int id of its own, or a str id (each str id gets a trace id of its "
                                 "own) (docs/python.md)" % request_id)
        return Request(self, request_id, input_tokens, arrival)

    def batch(self, requests, *, effective_tokens=None, padded_tokens=None, batch_id=None):
        return Batch(self, requests, effective_tokens, padded_tokens, batch_id)

    def step(self, members, *, padded_tokens=None, kv_used=None, kv_capacity=None, step_id=None):
        return Step(self, members, padded_tokens, kv_used, kv_capacity, step_id)

    def _member(self, m, what):
        """(trace id, Request or None) of a batch or step member: a Request, or the id of an open one,
        or an integer id of none."""
        if isinstance(m, Request):
            return m.trace_id, m
        check_request_id(m)
        r = self._open.get(m)
        if r is None:
            if isinstance(m, int):
                return m, None
            raise ValueError("%s %r is not an open request of this recorder (pass the Request objects to be safe "
                             "from requests that already ended)" % (what, m))
        return r.trace_id, r

    def _batch_id(self, batch):
        if batch is None:
            b = current_batch.get()
            return b.id if b is not None else NO_BATCH
        if isinstance(batch, Batch):
            return batch.id
        return check_count(batch, "batch", False)

    def kernel(self, name, start_ns, end_ns, *, batch=None, device=0, stream=0):
        nid = self._name_id(name)
        check_span(start_ns, end_ns)
        bid = self._batch_id(batch)
        if self._ptr is None:
            self._py_after_close += 1
            return
        k = _clib.KernelRecord(bid, nid, _u32(device, "device"), _u32(stream, "stream"), 0, start_ns, end_ns)
        _lib.sp_record_kernel(self._ptr, ctypes.byref(k))

    def copy(self, kind, nbytes, start_ns, end_ns, *, batch=None, device=0, stream=0):
        if kind not in COPY_KINDS:
            raise ValueError("copy kind %r: one of %s" % (kind, ", ".join(COPY_KINDS)))
        check_count(nbytes, "nbytes", False)
        check_span(start_ns, end_ns)
        bid = self._batch_id(batch)
        if self._ptr is None:
            self._py_after_close += 1
            return
        c = _clib.CopyRecord(bid, COPY_KINDS.index(kind), _u32(device, "device"), _u32(stream, "stream"), 0,
                             nbytes, start_ns, end_ns)
        _lib.sp_record_copy(self._ptr, ctypes.byref(c))


def _u32(v, what):
    if isinstance(v, bool) or not isinstance(v, int):
        raise TypeError("%s must be an int" % what)
    if v < 0 or v > 0xffffffff:
        raise ValueError("%s %d is out of range (0 .. 2**32-1)" % (what, v))
    return v


class Request:
    __slots__ = ("_rec", "id", "trace_id", "_tokens", "arrival_ns", "done_ns", "_ended", "_outcome", "_status",
                 "_outcome_set", "first_ns", "last_ns", "_annot", "_by_close", "next_token", "_tok_hi",
                 "_tok_hi_ns", "_tok_max_ns", "_cover", "__weakref__")

    def __init__(self, rec, request_id, tokens, arrival):
        self._rec = rec
        self.id = request_id
        self._tokens = -1 if tokens is None else tokens
        self.arrival_ns = arrival
        self.done_ns = None
        self._ended = False
        self._outcome = 0
        self._status = 0
        self._outcome_set = False
        self.first_ns = None
        self.last_ns = None
        self._cover = []         # what its spans and batches cover (not the middleware's filled edges)
        self._annot = None
        self._by_close = False
        self.next_token = 0
        self._tok_hi = -1       # the highest token index recorded (-1: none), its time, the latest token time
        self._tok_hi_ns = 0
        self._tok_max_ns = 0
        if isinstance(request_id, str):
            self.trace_id = LABELLED_ID_BASE + rec._next_label
            rec._next_label += 1
        else:
            self.trace_id = request_id
        if rec._ptr is None:
            rec._py_after_close += 1
            return
        rec._open[request_id] = self
        if isinstance(request_id, str):
            b = request_id.encode()
            _lib.sp_record_request_label(rec._ptr, self.trace_id, b, len(b))
        if rec.annotator is not None:
            self._annot = rec.annotator.request_begin(self)

    @property
    def input_tokens(self):
        return None if self._tokens < 0 else self._tokens

    @input_tokens.setter
    def input_tokens(self, v):
        check_count(v, "input_tokens")
        self._tokens = -1 if v is None else v
        if self._annot is not None and v is not None:
            self._rec.annotator.request_tokens(self)

    @property
    def ended(self):
        return self._ended

    @property
    def outcome_name(self):
        return OUTCOMES[self._outcome]

    @property
    def status(self):
        return self._status

    def _edges(self, s, e):
        if self.first_ns is None or s < self.first_ns:
            self.first_ns = s
        if self.last_ns is None or e > self.last_ns:
            self.last_ns = e

    def _touch(self, s, e):
        self._edges(s, e)
        cover_add(self._cover, s, e)

    @property
    def _covered(self):
        """What the application's spans and batches cover: ((start, end), ...) (servprof.loop)."""
        return tuple(self._cover)

    def _fill_span(self, name, start_ns, end_ns):
        """span() for the middleware's filled edges, which stay out of _covered."""
        nid = self._rec._stage_id(name)
        check_span(start_ns, end_ns)
        self._record_span(nid, start_ns, end_ns, cover=False)

    def stage(self, name):
        return Stage(self, self._rec._stage_id(name), name)

    def span(self, name, start_ns, end_ns):
        nid = self._rec._stage_id(name)
        check_span(start_ns, end_ns)
        self._record_span(nid, start_ns, end_ns)

    def _record_span(self, nid, s, e, cover=True):
        rec = self._rec
        if rec._ptr is None:
            rec._py_after_close += 1
            return
        _lib.sp_record_stage(rec._ptr, self.trace_id, nid, s, e)
        if cover:
            self._touch(s, e)
        else:
            self._edges(s, e)

    def token(self, index=None, time_ns=None):
        """Output token `index` (0-based; None: the one after the last recorded) left the server at
        `time_ns` (None: now): the end of the write of the chunk that carries it (sp_record_token)."""
        i = self.next_token if index is None else check_count(index, "index", False)
        t = _now() if time_ns is None else check_time(time_ns, "time_ns")
        rec = self._rec
        if rec._ptr is None:  # after close(): a counted drop, as every record
            self.next_token = i + 1
            rec._py_after_close += 1
            return
        if self._ended:
            raise RuntimeError("request %r already ended (at %d ns): token %d would lie outside its life"
                               % (self.id, self.done_ns, i))
        if t < self.arrival_ns:
            raise ValueError("token %d: time_ns %d is before the request's arrival %d" % (i, t, self.arrival_ns))
        hi, hi_ns = self._tok_hi, self._tok_hi_ns
        if t < hi_ns if i > hi else t > hi_ns if i < hi else t != hi_ns:
            raise ValueError("token %d at %d ns contradicts token %d at %d ns (token times must not decrease with "
                             "the index; each index once)" % (i, t, hi, hi_ns))
        self.next_token = i + 1
        if i >= hi:
            self._tok_hi, self._tok_hi_ns = i, t
        if t > self._tok_max_ns:
            self._tok_max_ns = t
        _lib.sp_record_token(rec._ptr, self.trace_id, i, t)
        self._touch(t, t)

    def trace_context(self, trace_id, span_id, parent_id=None, flags=1):
        """Records the request's W3C trace context (hex text or bytes): the trace it belongs to, the
        span this service gives it, the caller's span (the traceparent's parent-id; None: a root),
        the trace flags. Once per request; a later call replaces it."""
        t, s, p, f = check_trace_context(trace_id, span_id, parent_id, flags)
        rec = self._rec
        if rec._ptr is None:
            rec._py_after_close += 1
            return
        ctx = _clib.TraceContext()
        ctypes.memmove(ctx.trace_id, t, 16)
        ctypes.memmove(ctx.span_id, s, 8)
        ctypes.memmove(ctx.parent_id, p, 8)
        ctx.flags = f
        _lib.sp_record_request_trace(rec._ptr, self.trace_id, ctypes.byref(ctx))

    def outcome(self, outcome, status=0):
        self._outcome = check_outcome(outcome, status)
        self._status = status
        self._outcome_set = True

    def end(self, done_ns=None):
        if self._by_close:  # the recorder closed first and recorded it unfinished: a counted drop
            self._rec._py_after_close += 1
            return
        if self._ended:
            raise RuntimeError("request %r already ended (at %d ns)" % (self.id, self.done_ns))
        t = _now() if done_ns is None else check_time(done_ns, "done_ns")
        if t < self.arrival_ns:
            raise ValueError("done_ns %d is before the request's arrival %d" % (t, self.arrival_ns))
        if self._tok_hi >= 0 and t < self._tok_max_ns:
            raise ValueError("done_ns %d is before the time of a token recorded for the request (%d)"
                             % (t, self._tok_max_ns))
        self._finish(t, self._outcome, self._status)

    def _implicit_done(self, t):
        """The done time of an end nobody timed (a with block's exit, close()) at `t`: not before the
        arrival nor a token, which the analysis would refuse (docs/python.md, "No record the analysis refuses")."""
        return max(t, self.arrival_ns, self._tok_max_ns)

    def _finish(self, t, outcome, status):
        self._ended = True
        self.done_ns = t
        rec = self._rec
        if rec._ptr is None:
            rec._py_after_close += 1
            return
        if rec._open.get(self.id) is self:
            del rec._open[self.id]
        i = self.trace_id
        if i < ENDED_DENSE:
            rec._dense[i >> 3] |= 1 << (i & 7)
        elif i < LABELLED_ID_BASE:
            rec._ended_add(i)
        _lib.sp_record_request(rec._ptr, self.trace_id, self.arrival_ns, t, self._tokens)
        if outcome:
            _lib.sp_record_outcome(rec._ptr, self.trace_id, outcome, status)
        if self._annot is not None:
            rec.annotator.end(self._annot)
            self._annot = None

    def __enter__(self):
        return self

    def __exit__(self, et, ev, tb):
        if self._ended:
            return False
        if et is not None and not self._outcome_set:
            if issubclass(et, asyncio.CancelledError):
                self._outcome, self._status = OUTCOMES.index("cancelled"), 0
            else:
                self._outcome, self._status = OUTCOMES.index("error"), 500
        self._finish(self._implicit_done(_now()), self._outcome, self._status)
        return False

    def __repr__(self):
        return "<servprof.Request %r%s>" % (self.id, " ended" if self._ended else "")


class Stage:
    __slots__ = ("_req", "_nid", "name", "start_ns", "_annot")

    def __init__(self, req, nid, name):
        self._req = req
        self._nid = nid
        self.name = name
        self.start_ns = None
        self._annot = None

    def __enter__(self):
        if self.start_ns is not None:
            raise RuntimeError("stage %r of request %r entered twice" % (self.name, self._req.id))
        rec = self._req._rec
        if rec.annotator is not None and rec._ptr is not None:
            self._annot = rec.annotator.stage_begin(self._req, self.name)
        self.start_ns = _now()
        return self

    def __exit__(self, et, ev, tb):
        t = _now()
        if self.start_ns is None:
            raise RuntimeError("stage %r exited without being entered" % self.name)
        self._req._record_span(self._nid, self.start_ns, t)
        if self._annot is not None:
            self._req._rec.annotator.end(self._annot)
        return False


class Batch:
    __slots__ = ("_rec", "id", "_members", "_reqs", "effective_tokens", "padded_tokens", "start_ns", "end_ns",
                 "_token", "_annot", "_cupti")

    def __init__(self, rec, requests, effective, padded, batch_id):
        self._rec = rec
        if isinstance(requests, (str, bytes)) or not hasattr(requests, "__iter__"):
            raise TypeError("batch(requests, ...): requests must be an iterable of servprof.Request objects or "
                            "request ids")
        requests = list(requests)
        if len(requests) > MAX_MEMBERS:
            raise ValueError("a batch holds at most %d requests" % MAX_MEMBERS)
        members, reqs = [], []
        for m in requests:
            tid, r = rec._member(m, "batch member")
            members.append(tid)
            if r is not None:
                reqs.append(r)
        check_count(effective, "effective_tokens")
        check_count(padded, "padded_tokens")
        if effective is None:
            known = reqs and len(reqs) == len(members) and all(r._tokens >= 0 for r in reqs)
            effective = sum(r._tokens for r in reqs) if known else 0
        if padded is None:
            padded = effective
        if effective > padded:
            raise ValueError("effective_tokens %d exceeds padded_tokens %d" % (effective, padded))
        self._members, self._reqs = members, reqs
        self._settle(batch_id, "batch_id", effective, padded)

    def _settle(self, batch_id, what, effective, padded):
        """The id (`batch_id`, named `what` in an error; None: the recorder's next) and token counts of
        a batch or step not yet entered."""
        if batch_id is None:
            self._rec._next_batch += 1
            batch_id = self._rec._next_batch
        else:
            check_count(batch_id, what, False)
        self.id = batch_id
        self.effective_tokens = effective
        self.padded_tokens = padded
        self.start_ns = None
        self.end_ns = None
        self._token = None
        self._annot = None
        self._cupti = False

    @property
    def members(self):
        return tuple(self._members)

    @property
    def requests(self):
        return tuple(self._reqs)

    def __len__(self):
        return len(self._members)

    def __enter__(self):
        if self.start_ns is not None:
            raise RuntimeError("batch %d entered twice" % self.id)
        rec = self._rec
        if rec.annotator is not None and rec._ptr is not None:
            self._annot = rec.annotator.batch_begin(self)
        self._token = current_batch.set(self)
        if _cupti_hooks[0] is not None and rec._ptr is not None:
            _cupti_hooks[0](self.id)
            self._cupti = True
        self.start_ns = _now()
        return self

    def __exit__(self, et, ev, tb):
        t = _now()
        if self.start_ns is None:
            raise RuntimeError("batch %d exited without being entered" % self.id)
        if self.end_ns is not None:
            raise RuntimeError("batch %d exited twice" % self.id)
        self.end_ns = t
        rec = self._rec
        if self._cupti and _cupti_hooks[1] is not None:
            _cupti_hooks[1]()
        try:
            current_batch.reset(self._token)
        except ValueError:  # exited in another context than it was entered in
            current_batch.set(None)
        if rec._ptr is None:
            rec._py_after_close += 1
            return False
        self._emit(self.start_ns, t)
        if self._annot is not None:
            rec.annotator.end(self._annot)
        return False

    def record(self, start_ns, end_ns):
        check_span(start_ns, end_ns)
        if self.start_ns is not None:
            raise RuntimeError("batch %d is already %s" % (self.id, "recorded" if self.end_ns is not None
                                                             else "running in a with block"))
        self.start_ns, self.end_ns = start_ns, end_ns
        rec = self._rec
        if rec._ptr is None:
            rec._py_after_close += 1
            return
        self._emit(start_ns, end_ns)

    def _emit(self, start_ns, end_ns):
        n = len(self._members)
        arr = (ctypes.c_uint64 * max(n, 1))(*self._members)
        _lib.sp_record_batch(self._rec._ptr, self.id, arr, n, start_ns, end_ns, self.effective_tokens,
                             self.padded_tokens)
        for r in self._reqs:
            r._touch(start_ns, end_ns)

    def kernel(self, name, start_ns, end_ns, *, device=0, stream=0):
        self._rec.kernel(name, start_ns, end_ns, batch=self.id, device=device, stream=stream)


class Step(Batch):
    """One step of a continuous-batching scheduler (see servprof.Step): a Batch whose members each
    carry a phase and the tokens the step computed for them, with the KV cache's occupancy."""
    __slots__ = ("_phases", "_tokens", "kv_used", "kv_capacity")

    def __init__(self, rec, members, padded, kv_used, kv_capacity, step_id):
        self._rec = rec
        if isinstance(members, (str, bytes)) or not hasattr(members, "__iter__"):
            raise TypeError("step(members, ...): members must be an iterable of (request, phase, tokens) tuples")
        ids, reqs, phases, tokens = [], [], [], []
        for i, m in enumerate(members):
            request, phase, n = check_step_member(m, i)
            tid, r = rec._member(request, "step member %d:" % i)
            ids.append(tid)
            phases.append(phase)
            tokens.append(n)
            if r is not None:
                reqs.append(r)
        effective = sum(tokens)
        check_count(padded, "padded_tokens")
        if padded is None:
            padded = effective
        if effective > padded:
            raise ValueError("the members' tokens (%d) exceed padded_tokens %d" % (effective, padded))
        self.kv_used, self.kv_capacity = check_kv(kv_used, kv_capacity)
        self._members, self._reqs, self._phases, self._tokens = ids, reqs, phases, tokens
        self._settle(step_id, "step_id", effective, padded)

    @property
    def phases(self):
        return tuple(PHASES[p] for p in self._phases)

    @property
    def tokens(self):
        return tuple(self._tokens)

    def _emit(self, start_ns, end_ns):
        n = len(self._members)
        s = _clib.StepRecord(self.id, start_ns, end_ns, self.effective_tokens, self.padded_tokens, self.kv_used,
                             self.kv_capacity, n, (ctypes.c_uint64 * max(n, 1))(*self._members),
                             (ctypes.c_uint8 * max(n, 1))(*self._phases), (ctypes.c_uint32 * max(n, 1))(*self._tokens))
        _lib.sp_record_step(self._rec._ptr, ctypes.byref(s))
        if n <= MAX_STEP_MEMBERS:  # a larger step was dropped (too_large): it touches no request
            for r in self._reqs:
                r._touch(start_ns, end_ns)


_timer_calls = threading.local()


class ModuleTimer:
    """Forward hooks that record a module's forward pass as device work (a kernel record named
    `name`) of the batch running in this context: servprof.torch registers timer.pre as a forward
    pre-hook and timer.post as a forward hook. Starts are kept per thread, so two threads running
    the same module at once each get their own span. With innermost, a pass is recorded only when no
    other timer's pass began inside it (servprof.torch's "innermost" modules: the module that did the
    work, whether or not it has children)."""
    __slots__ = ("_rec", "name", "_nid", "_device", "_stream", "_starts", "_innermost")

    def __init__(self, recorder, name, device=0, stream=0, *, innermost=False):
        if not isinstance(recorder, Recorder):
            raise TypeError("ModuleTimer(recorder, name): recorder must be a servprof.Recorder")
        self._rec = recorder
        self.name = name
        self._nid = recorder._name_id(name)
        self._device = _u32(device, "device")
        self._stream = _u32(stream, "stream")
        self._starts = []
        self._innermost = bool(innermost)

    def pre(self, module, args):
        # passes begun in this thread by every timer: unmoved between pre and post = innermost
        mark = _timer_calls.n = getattr(_timer_calls, "n", 0) + 1
        self._starts.append((threading.get_ident(), _now(), mark))

    def post(self, module, args, output):
        t = _now()
        me = threading.get_ident()
        for i in range(len(self._starts) - 1, -1, -1):
            if self._starts[i][0] == me:
                _, s, mark = self._starts.pop(i)
                break
        else:
            return
        if self._innermost and mark != _timer_calls.n:
            return
        rec = self._rec
        if rec._ptr is None:
            rec._py_after_close += 1
            return
        b = current_batch.get()
        k = _clib.KernelRecord(b.id if b is not None else NO_BATCH, self._nid, self._device, self._stream, 0, s, t)
        _lib.sp_record_kernel(rec._ptr, ctypes.byref(k))
