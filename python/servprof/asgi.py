"""ASGI middleware that records every HTTP request of an ASGI application (FastAPI, Starlette, any
ASGI 3 app) into a servprof.Recorder, so `servprof load`'s client trace joins the server's.

    app = FastAPI()
    rec = servprof.Recorder("server.sptrace")
    app.add_middleware(servprof.asgi.Middleware, recorder=rec)   # or Middleware(app, rec)

For each HTTP request it records (docs/python.md, "ASGI middleware"):
- arrival: when the server calls the application, i.e. the request line and headers are in (ASGI
  shows nothing earlier; the C reference service records the same moment);
- done: when the application hands the last body chunk of the response to the server (the C
  reference service records when the response is queued to the socket: the same moment);
- the request id: `X-Request-Id`, else a W3C `traceparent` header's trace id, else a number of its
  own; echoed in the response's `X-Request-Id` header;
- the trace context: a valid `traceparent` is continued under a span of the middleware's own (random
  8 bytes), its parent the caller's span (Request.trace_context), so `servprof export --otlp` puts the
  server's spans under the caller's and the analysis joins a client trace by trace id;
- the outcome from the status: 2xx/3xx ok, 503 and 429 rejected, other 4xx/5xx error, an exception
  error (500), a cancelled task, a request closed before it finished (GeneratorExit: the server
  dropped it) or a response that never finished cancelled; what the application set with
  `request.outcome(...)` wins;
- the edges the application did not record: `preprocess` from arrival to the first span or batch
  the application recorded for the request, `postprocess` (serialisation and the response write)
  from the last one to done; a request with nothing recorded is preprocess up to the response start
  and postprocess after it. So stages cover the server's whole [arrival, done], and with a client
  trace `network` is the rest (DESIGN 3 and 8a).
With metrics_path="/metrics" it also answers GET on that path with the recorder's live metrics
(Prometheus text, docs/metrics.md; the recorder opened with live_metrics=True), not recorded.
The application adds its own stages and batches through servprof.asgi.current_request(), which
returns the servprof.Request of the HTTP request being served (also in scope["servprof.request"]).
"""
import asyncio
import contextvars
import itertools
import random
import types

from . import _impl, now_ns
from ._common import parse_traceparent
from . import loop as _loop
from .loop import StallMonitor

_current = contextvars.ContextVar("servprof_asgi_request", default=None)
# span ids: 64 random bits (random.Random seeds itself from os.urandom), never zero
_span_rng = random.Random()
_REJECTED = (503, 429)
# trace.h's SP_METRICS_CONTENT_TYPE: Prometheus' text exposition format 0.0.4
METRICS_CONTENT_TYPE = b"text/plain; version=0.0.4; charset=utf-8"
# ids of requests that come without one: one sequence per process, so two middlewares (two apps on
# one recorder) never give the same number twice
_ids = itertools.count(1)
# how many numbers taken by the application's own int request ids _next_number skips in a row before it
# gives up on a request (_native_int.h's SP_PY_NUMBER_SKIPS)
NUMBER_SKIPS = 65536
# The C extension's version of the whole per-request path (None with the ctypes backend): _c_call
# does in C what __call__'s Python path below does (the path filter, _begin, the send and receive
# wrappers, the ContextVar, _finish) and returns the awaitable __call__ awaits; its parts _c_begin,
# _c_end and _c_send are the C versions of _begin, _finish and send_wrapper. The same records as the
# Python path; the whole middleware 4.3 us a request around a FastAPI app instead of 30 on the Python
# path and 8.1 with only the parts in C (bench/python_asgi.py; docs/BENCHMARKS.md, "Python recording");
# tests/python/test_asgi.py holds the two paths to the same result on every ending.
_c_call = getattr(_impl, "_asgi_call", None)
_c_begin = getattr(_impl, "_asgi_begin", None)
_c_end = getattr(_impl, "_asgi_end", None)
_c_send = getattr(_impl, "_AsgiSend", None)
if _c_call is not None:
    _impl._asgi_setup(_current, globals())  # the ContextVar it sets, and `_ids`, read where it needs a number


def current_request(scope=None):
    """The servprof.Request of the HTTP request being served in this context, or None. Pass the ASGI
    scope (Starlette: request.scope) where the context is not the middleware's (a worker thread
    started without copying the context)."""
    r = _current.get()
    if r is None and scope is not None:
        r = scope.get("servprof.request")
    return r


def trace_from_headers(headers):
    """(trace_id, parent_id, flags) of a valid W3C traceparent header (hex, hex, int), or None.
    `headers`: ASGI (name, value) bytes."""
    for name, value in headers:
        if name == b"traceparent":
            return parse_traceparent(value)
    return None


def request_id_from_headers(headers):
    """The id servprof joins on: an X-Request-Id of 1..255 printable ASCII bytes, else a valid
    traceparent's trace id (32 hex digits); None otherwise. `headers`: ASGI (name, value) bytes."""
    for name, value in headers:
        if name == b"x-request-id":
            v = value.strip()
            if 0 < len(v) <= 255 and all(0x20 <= c < 0x7f for c in v):
                return v.decode()
    tp = trace_from_headers(headers)
    return tp[0] if tp else None


def _next_number(recorder, ids):
    """The next number of `ids` that no request of `recorder` holds, open or ended (an int id is the
    trace's id: docs/python.md): the application's own int ids are skipped, up to NUMBER_SKIPS in a row;
    past that a ValueError (counted as a fault, the request unrecorded). _native_asgi.c's
    next_free_number does the same."""
    taken = getattr(recorder, "_int_id_taken", None)
    for _ in range(NUMBER_SKIPS):
        n = next(ids)
        if taken is None or not taken(n):
            return n
    raise ValueError("request numbers up to %r are all taken by the application's own int request ids "
                     "(docs/python.md): the request is not recorded" % n)


def new_span_id():
    """16 hex digits of a fresh span id (64 random bits, never all zero)."""
    v = 0
    while v == 0:
        v = _span_rng.getrandbits(64)
    return "%016x" % v


def _receive_wrapper(receive, state):
    """The server's receive, noting on `state` (the Python path's _State, or an _AsgiSend) a client that
    went away before the response was done (the C path's is _native's _AsgiReceive)."""
    async def receive_wrapper():
        message = await receive()
        if message.get("type") == "http.disconnect" and state.done is None:
            state.disconnected = True
        return message
    return receive_wrapper


def _server_says_gone(send):
    """The client left before the response was done, as the server knows it without a receive():
    uvicorn (h11 and httptools; 0.17 as Debian 12 ships it, and its main branch as read) drops a send to
    a closed connection without raising and marks the connection's RequestResponseCycle, whose bound
    method the server's `send` is, `disconnected` (only while the response is not complete). Only a bound
    method whose owner's `disconnected` is exactly True counts; anything else reads as not gone (the C
    path's is _native_asgi.c's server_says_gone)."""
    if type(send) is not types.MethodType:
        return False
    try:
        return getattr(send.__self__, "disconnected", None) is True
    except Exception:  # noqa: BLE001 - a property that fails: not known gone
        return False


class _Recording:
    """What every HTTP middleware of the package shares (this module's Middleware, servprof.aiohttp's):
    the options and their checks, the path filter, the request's start (_begin: the id, the trace
    context) and end (_finish: the outcome, the filled edges), the fault count. `what` names the
    middleware in its errors."""

    def __init__(self, recorder, *, paths=None, exclude=(), fill_stages=True, echo_request_id=True,
                 metrics_path=None, loop_stalls=None, what="Middleware"):
        if recorder is None or not hasattr(recorder, "request"):
            raise TypeError("%s: recorder must be a servprof.Recorder" % what)
        for name, v in (("paths", paths), ("exclude", exclude)):
            # a lone str would be taken letter by letter: paths="/v1/x" recorded every path (the
            # prefix "/"), exclude="/healthz" excluded only "/"
            if isinstance(v, (str, bytes)):
                raise TypeError("%s: %s must be a list of paths, not a %s: %s=[%r]"
                                % (what, name, type(v).__name__, name, v))
        self.recorder = recorder
        self.paths = tuple(paths) if paths is not None else None
        # _wanted()'s rule as a set lookup and one startswith (a generator per request cost ~1 us)
        self._exact = frozenset(self.paths or ())
        self._prefixes = tuple(p for p in self.paths or () if p.endswith("/"))
        self.exclude = frozenset(exclude)
        self.fill_stages = fill_stages
        self.echo_request_id = echo_request_id
        if metrics_path is not None and (not isinstance(metrics_path, str) or not metrics_path.startswith("/")):
            raise ValueError("%s: metrics_path must be a path starting with '/', not %r" % (what, metrics_path))
        self.metrics_path = metrics_path
        self.errors = 0
        self.last_error = None
        # the event loop's stalls, given to the requests that waited on them as `event_loop` spans
        # (servprof.loop; docs/python.md, "Event loop stalls"): True (the defaults), False, or a
        # servprof.loop.StallMonitor of the caller's; None: servprof.loop.DEFAULT (on unless
        # SERVPROF_LOOP_STALLS=0)
        if loop_stalls is None:
            loop_stalls = _loop.DEFAULT
        if loop_stalls is True:
            loop_stalls = StallMonitor(recorder)
        elif loop_stalls is False or loop_stalls is None:
            loop_stalls = None
        elif not isinstance(loop_stalls, StallMonitor):
            raise TypeError("%s: loop_stalls must be True, False or a servprof.loop.StallMonitor, not %s"
                            % (what, type(loop_stalls).__name__))
        self.loop_stalls = loop_stalls
        # the trace says its server runs an event loop: a blocking call on it holds other requests'
        # reads and writes, which the reports' fixes of `network` and `other` then name
        # (docs/native-format.md, "Properties"). A recorder that refuses it (closed, or a stand-in
        # without set_property) loses only that hint: not a request's bookkeeping, so not in `errors`
        try:
            recorder.set_property("event_loop", "asyncio")
        except Exception:  # noqa: BLE001
            pass

    def _finish(self, req, st, exc):
        if req.ended:
            return
        done = st.done if st.done is not None else now_ns()
        if req.outcome_name == "ok":
            if exc is not None:
                if isinstance(exc, (asyncio.CancelledError, GeneratorExit)):  # the server abandoned it
                    req.outcome("cancelled", st.status)
                else:
                    req.outcome("error", st.status if st.status >= 400 else 500)
            elif st.done is None or st.disconnected:
                req.outcome("cancelled", st.status)
            elif st.status in _REJECTED:
                req.outcome("rejected", st.status)
            elif st.status >= 400:
                req.outcome("error", st.status)
        if self.fill_stages:
            # the filled edges stay out of what the application's spans cover (Request._covered), which
            # the event_loop spans keep out of (a stand-in request without _fill_span: span)
            fill = getattr(req, "_fill_span", None) or req.span
            first, last = req.first_ns, req.last_ns
            if first is None:
                cut = st.response_start if st.response_start is not None else done
                cut = min(max(cut, req.arrival_ns), done)
                if cut > req.arrival_ns:
                    fill("preprocess", req.arrival_ns, cut)
                if done > cut:
                    fill("postprocess", cut, done)
            else:
                if first > req.arrival_ns:
                    fill("preprocess", req.arrival_ns, min(first, done))
                if done > last:
                    fill("postprocess", max(last, req.arrival_ns), done)
        # not before the arrival or a token (docs/python.md, "No record the analysis refuses")
        req.end(req._implicit_done(done))

    def _fault(self, e):
        self.errors += 1
        self.last_error = e

    def _watch_loop(self):
        """A request starts: the stall monitor's begin() (its ticker runs on this loop while requests are
        in flight). Counted, never raised. _loop_spans must follow."""
        try:
            self.loop_stalls.begin()
        except Exception as e:  # noqa: BLE001
            self._fault(e)

    def _loop_spans(self, req):
        """A request of _watch_loop ended (req: its servprof.Request, or None when none was recorded):
        its event_loop spans from the stalls it waited on. Counted, never raised."""
        try:
            self.loop_stalls.end(req)
        except Exception as e:  # noqa: BLE001
            self._fault(e)

    def _begin(self, headers, arrival):
        """The Python path of the request's start (the C extension's _asgi_begin does the same):
        (request, id to echo as bytes), or None when the recorder refused (counted in errors)."""
        rid = request_id_from_headers(headers)
        echo = rid if rid is not None else None
        try:
            if rid is None:
                rid = _next_number(self.recorder, _ids)
                echo = str(rid)
            req = self.recorder.request(rid, arrival_ns=arrival)
        except Exception as e:  # noqa: BLE001 - never let the profiler break the service
            self._fault(e)
            return None
        try:
            tp = trace_from_headers(headers)
            if tp is not None:
                req.trace_context(tp[0], new_span_id(), tp[1], tp[2])
        except Exception as e:  # noqa: BLE001 - the request is still recorded, without its trace
            self._fault(e)
        return req, echo.encode()

    def _metrics_answer(self, method):
        """The answer to `method` on metrics_path: (status, [(name, value)] bytes headers, body bytes)."""
        headers = [(b"content-type", b"text/plain; charset=utf-8")]
        if method not in ("GET", "HEAD"):
            status, body = 405, b"use GET for %s\n" % self.metrics_path.encode()
            headers.append((b"allow", b"GET, HEAD"))
        else:
            try:
                status, body = 200, self.recorder.metrics_text().encode()
                headers = [(b"content-type", METRICS_CONTENT_TYPE)]
            except RuntimeError as e:  # closed, or opened without live_metrics
                status, body = 404, ("%s\n" % e).encode()
        headers.append((b"content-length", str(len(body)).encode()))
        return status, headers, body

    def _wanted(self, path):
        if path in self.exclude:
            return False
        if self.paths is None:
            return True
        return path in self._exact or (bool(self._prefixes) and path.startswith(self._prefixes))


class Middleware(_Recording):
    """Middleware(app, recorder, *, paths=None, exclude=(), fill_stages=True, echo_request_id=True,
    metrics_path=None, loop_stalls=None).

    paths: record only requests whose path is one of these or starts with one ending in "/" (None:
    every path); exclude: paths never recorded (health checks). fill_stages: record the edges the
    application left unrecorded as preprocess and postprocess (above). echo_request_id: add
    X-Request-Id to responses that lack it. metrics_path: a path answered with
    recorder.metrics_text() (GET or HEAD; other methods 405; 404 when the recorder keeps no live
    metrics), never recorded nor passed to the app. loop_stalls: measure the event loop's stalls and
    record the time each request waited on them as `event_loop` spans (servprof.loop; None: on unless
    SERVPROF_LOOP_STALLS=0; False: off; or a servprof.loop.StallMonitor with other settings). Other scope types (lifespan, websocket) pass through.
    Errors inside the bookkeeping never reach the application: they are counted in `errors`, the
    last kept in `last_error`."""

    def __init__(self, app, recorder, *, paths=None, exclude=(), fill_stages=True, echo_request_id=True,
                 metrics_path=None, loop_stalls=None):
        if recorder is None or not hasattr(recorder, "request"):
            raise TypeError("Middleware(app, recorder): recorder must be a servprof.Recorder")
        self.app = app
        _Recording.__init__(self, recorder, paths=paths, exclude=exclude, fill_stages=fill_stages,
                            echo_request_id=echo_request_id, metrics_path=metrics_path, loop_stalls=loop_stalls)

    def __setattr__(self, name, value):
        # the C path keeps a snapshot of the attributes it reads (_c_config); a change is heard from the
        # next request on
        self.__dict__.pop("_c_config", None)
        object.__setattr__(self, name, value)

    async def __call__(self, scope, receive, send):
        # an `async def`, whatever runs inside: ASGI servers tell an ASGI 3 application by
        # asyncio.iscoroutinefunction(app.__call__) (uvicorn) or inspect's (hypercorn)
        if _c_call is not None:
            if self.loop_stalls is None or type(scope) is not dict or scope.get("type") != "http":
                await _c_call(self, scope, receive, send)  # (lifespan lasts the server's life: not in flight)
                return
            self._watch_loop()
            try:
                await _c_call(self, scope, receive, send)
            finally:
                self._loop_spans(scope.get("servprof.request"))
            return
        if self.metrics_path is not None and scope.get("type") == "http" and scope.get("path") == self.metrics_path:
            await self._answer_metrics(scope, send)
            return
        if scope.get("type") != "http" or not self._wanted(scope.get("path", "")):
            await self.app(scope, receive, send)
            return
        arrival = now_ns()
        begun = self._begin(scope.get("headers") or (), arrival)
        if begun is None:
            await self.app(scope, receive, send)
            return
        req, echo_b = begun
        if self.loop_stalls is not None:
            self._watch_loop()
        await self._serve_py(scope, receive, send, req, echo_b)

    async def _serve_py(self, scope, receive, send, req, echo_b):
        """The request with the Python wrappers and _finish (the ctypes backend)."""
        st = _State()
        echo = self.echo_request_id

        async def send_wrapper(message):
            kind = message.get("type")
            if kind == "http.response.start":
                st.status = message.get("status", 0)
                st.response_start = now_ns()
                if echo:
                    headers = list(message.get("headers") or ())
                    for k, _ in headers:
                        if k.lower() == b"x-request-id":
                            break
                    else:
                        headers.append((b"x-request-id", echo_b))
                        message = dict(message, headers=headers)
            elif kind == "http.response.body" and not message.get("more_body", False):
                # done when the last chunk is handed to the server, before its write: so done never
                # lies after the client's receipt (the clock-offset bounds, DESIGN 8a)
                st.done = now_ns()
                if not st.disconnected and _server_says_gone(send):
                    st.disconnected = True
            await send(message)

        receive_wrapper = _receive_wrapper(receive, st)
        scope["servprof.request"] = req
        token = _current.set(req)
        exc = None
        try:
            await self.app(scope, receive_wrapper, send_wrapper)
        except BaseException as e:
            exc = e
            raise
        finally:
            try:
                _current.reset(token)
            except ValueError:  # closed from another context (the garbage collector's): nothing to reset there
                pass
            try:
                self._finish(req, st, exc)
            except Exception as e:  # noqa: BLE001 - counted, never raised into the server
                self._fault(e)
            if self.loop_stalls is not None:
                self._loop_spans(req)

    async def _answer_metrics(self, scope, send):
        method = scope.get("method", "GET")
        status, headers, body = self._metrics_answer(method)
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": b"" if method == "HEAD" else body})


class _State:
    __slots__ = ("status", "response_start", "done", "disconnected")

    def __init__(self):
        self.status = 0
        self.response_start = None
        self.done = None
        self.disconnected = False
