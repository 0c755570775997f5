"""aiohttp middleware that records every HTTP request of an aiohttp.web application into a
servprof.Recorder, as servprof.asgi.Middleware does for ASGI applications (docs/python.md, "aiohttp
middleware"):

    rec = servprof.Recorder("server.sptrace")
    app = web.Application(middlewares=[servprof.aiohttp.middleware(rec)])

The same records as the ASGI middleware, through the same code (servprof.asgi's _Recording: the
request id, the trace context, the outcome, the filled edges, the fault count). What differs is where
aiohttp lets a middleware see the request:
- arrival: aiohttp calls the middleware chain (the request line and headers parsed, the route
  resolved, the body not read yet: the moment the ASGI middleware records);
- response start and done: aiohttp prepares and writes a response after every middleware returned,
  so the middleware hooks the returned response's prepare (response start) and write_eof (done,
  before the last write, as the ASGI middleware's done) and ends the request there; a raised
  web.HTTPException (aiohttp 3.9+ writes a copy) and a StreamResponse whose handler already called
  write_eof end when the handler answers;
- a client that goes away: aiohttp does not cancel the handler (3.8.4 as Debian ships it, and 3.9+
  unless the server asks for handler_cancellation): a response answered after the connection
  closed, a ConnectionError from a body read or a write, a failed write_eof, or a response never
  written are recorded cancelled;
- the X-Request-Id echo goes into a response not yet prepared (and into a raised HTTPException's
  headers); a StreamResponse the handler prepared itself has sent its headers without it.
Importing this module imports aiohttp; `import servprof` does not.
"""
import asyncio

from aiohttp import web

from . import asgi as _asgi
from . import Recorder, now_ns
from .asgi import _Recording, _State, _current

# The C extension's parts of the ASGI middleware's request (None with the ctypes backend): _asgi_begin
# and _asgi_end do in C what _Recording._begin and _finish do (test_asgi.py holds them to the same
# records); this middleware takes them where they exist, as the ASGI one does
_c_begin, _c_end = _asgi._c_begin, _asgi._c_end

# the key of the servprof.Request in the aiohttp request (request["servprof.request"])
REQUEST_KEY = "servprof.request"


def current_request(request=None):
    """The servprof.Request of the HTTP request being served in this context, or None. Pass the
    aiohttp request where the context is not the middleware's (a thread started without copying it)."""
    r = _current.get()
    if r is None and request is not None:
        r = request.get(REQUEST_KEY)
    return r


# the entry of a hooked response (a StreamResponse is a MutableMapping) that holds its _PendingEnd
_PENDING_KEY = "servprof.pending_end"
_hooked_classes = {}  # response class -> its subclass with the hooks


class _PendingEnd:
    """A request whose end waits for aiohttp to write its response, held only by the response's mapping.
    Holds no reference to the response, so it is freed with the response as soon as aiohttp drops it."""
    __slots__ = ("mw", "req", "st", "cls")

    def __init__(self, mw, req, st, cls):
        self.mw, self.req, self.st, self.cls = mw, req, st, cls

    def __del__(self):
        """Freed with the response: if aiohttp never wrote it, the request ends cancelled at the time the
        handler answered (a no-op for one that ended: write_eof ended it)."""
        if not self.req.ended:
            self.st.disconnected = True
            self.mw._end(self.req, self.st)


def _hooked_class(cls):
    """A subclass of the response class `cls` whose prepare and write_eof note the response start and
    done of the request pending in the response (no new attributes: an instance of `cls` may take it
    as its __class__, with or without __slots__); made once per class."""
    sub = _hooked_classes.get(cls)
    if sub is not None:
        return sub

    class Hooked(cls):
        __slots__ = ()

        async def prepare(self, request):
            end = self.get(_PENDING_KEY)
            if end is not None and end.st.response_start is None:
                end.st.response_start = now_ns()
            return await super().prepare(request)  # (if it fails, write_eof never comes: __del__)

        async def write_eof(self, *args, **kwargs):
            end = self.pop(_PENDING_KEY, None)
            if end is None:
                return await super().write_eof(*args, **kwargs)
            end.st.done = now_ns()
            self.__class__ = end.cls
            try:
                return await end.cls.write_eof(self, *args, **kwargs)
            except BaseException:  # the write failed (the client went away): no response sent
                end.st.disconnected = True
                raise
            finally:
                end.mw._end(end.req, end.st)
    Hooked.__name__, Hooked.__qualname__ = cls.__name__, cls.__qualname__
    _hooked_classes[cls] = Hooked
    return Hooked


def _client_gone(request):
    """Has the request's connection been lost (aiohttp drops the transport) or begun to close?"""
    transport = request.transport
    return transport is None or transport.is_closing()


class Middleware(_Recording):
    """An aiohttp (new-style) middleware: middleware(recorder, ...) makes one. Its attributes are the
    ASGI middleware's (paths, exclude, fill_stages, echo_request_id, metrics_path, errors, last_error)."""

    __middleware_version__ = 1  # aiohttp 3.x: a new-style middleware, called (request, handler)

    def __init__(self, recorder, *, paths=None, exclude=(), fill_stages=True, echo_request_id=True,
                 metrics_path=None):
        _Recording.__init__(self, recorder, paths=paths, exclude=exclude, fill_stages=fill_stages,
                            echo_request_id=echo_request_id, metrics_path=metrics_path,
                            what="servprof.aiohttp.middleware")

    async def __call__(self, request, handler):
        path = request.path
        if self.metrics_path is not None and path == self.metrics_path:
            return self._metrics_response(request.method)
        if not self._wanted(path):
            return await handler(request)
        arrival = now_ns()
        try:
            # the ASGI form of the headers (lower-case names, bytes): what _begin reads
            headers = [(k.lower(), v) for k, v in request.raw_headers]
            begun = None
            if _c_begin is not None and isinstance(self.recorder, Recorder):  # (a stand-in: the Python path)
                begun = _c_begin(self.recorder, headers, arrival, _asgi._ids)
            if begun is None:
                begun = self._begin(headers, arrival)
        except Exception as e:  # noqa: BLE001 - never let the profiler break the service
            self._fault(e)
            begun = None
        if begun is None:
            return await handler(request)
        req, echo = begun
        st = _State()
        request[REQUEST_KEY] = req
        token = _current.set(req)
        exc = None
        deferred = False
        try:
            resp = await handler(request)
            st.done = now_ns()
            self._answered(request, resp, st, echo)
            try:
                deferred = self._end_at_write(resp, req, st)
            except Exception as e:  # noqa: BLE001 - the request then ends here
                self._fault(e)
            return resp
        except web.HTTPException as e:  # an answer raised: its status, not an exception's 500
            st.done = now_ns()
            self._answered(request, e, st, echo)
            raise
        except BaseException as e:
            if isinstance(e, ConnectionError) and _client_gone(request):
                pass  # the client went away (a body read or a write failed): no response finished, cancelled
            else:
                exc = e
                if isinstance(e, asyncio.TimeoutError):
                    st.status = 504  # what aiohttp answers a handler's timeout with
            raise
        finally:
            try:
                _current.reset(token)
            except ValueError:  # closed from another context: nothing to reset there
                pass
            if not deferred:
                self._end(req, st, exc)

    def _answered(self, request, resp, st, echo):
        """Notes the response's status, whether the client is still there, and echoes the id."""
        try:
            st.disconnected = _client_gone(request)
            if not isinstance(resp, (web.StreamResponse, web.HTTPException)):
                # not a response (a handler without its return): aiohttp 3.9+ answers 500, 3.8 closes
                # the connection; the application's failure either way
                st.status = 500
                return
            st.status = int(resp.status)
            if self.echo_request_id and not getattr(resp, "prepared", False) and "X-Request-Id" not in resp.headers:
                resp.headers["X-Request-Id"] = echo.decode()
        except Exception as e:  # noqa: BLE001 - a response without headers: the request is still recorded
            self._fault(e)

    def _end(self, req, st, exc=None):
        try:
            if _c_end is not None:
                _c_end(req, st.status, st.response_start, st.done, st.disconnected, exc, self.fill_stages)
            else:
                self._finish(req, st, exc)
        except Exception as e:  # noqa: BLE001 - counted, never raised into the server
            self._fault(e)

    def _end_at_write(self, resp, req, st):
        """Moves the request's end to where aiohttp sends the response, after the middlewares return:
        the response start when aiohttp prepares it (headers), done when it calls write_eof (before
        the last write, as the ASGI middleware's done). True when the response is hooked (the
        request then ends there, or, if the response is never written (an outer middleware replaced
        it, its prepare failed), when it is freed: cancelled at the time the handler answered); False
        for a response whose end was already written or that takes no hook (done stays the
        handler's answer)."""
        if not isinstance(resp, web.StreamResponse) or getattr(resp, "_eof_sent", True):
            return False
        cls = type(resp)
        hooked = _hooked_class(cls)
        end = _PendingEnd(self, req, st, cls)
        resp[_PENDING_KEY] = end
        try:
            resp.__class__ = hooked
        except TypeError:  # a class whose layout a subclass changes (a C type): no hook
            del resp[_PENDING_KEY]
            return False
        return True

    def _metrics_response(self, method):
        status, headers, body = self._metrics_answer(method)
        # aiohttp sets Content-Length itself, and leaves the body out of a HEAD answer
        return web.Response(status=status, body=body,
                            headers={k.decode(): v.decode() for k, v in headers if k != b"content-length"})

def middleware(recorder, *, paths=None, exclude=(), fill_stages=True, echo_request_id=True, metrics_path=None):
    """An aiohttp middleware that records each HTTP request into `recorder`:
    web.Application(middlewares=[servprof.aiohttp.middleware(rec)]). The options are
    servprof.asgi.Middleware's (paths, exclude, fill_stages, echo_request_id, metrics_path)."""
    return Middleware(recorder, paths=paths, exclude=exclude, fill_stages=fill_stages,
                      echo_request_id=echo_request_id, metrics_path=metrics_path)
