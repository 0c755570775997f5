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
  web.HTTPException (aiohttp 3.x writes the exception itself, its main branch a new Response) and a
  StreamResponse whose handler already called write_eof end when the handler answers; a response
  whose write cannot be hooked too, counted (Middleware.done_at_answer);
- a client that goes away: aiohttp does not cancel the handler (3.8.4 as Debian ships it, and 3.9+
  unless the server asks for handler_cancellation): a response answered after the connection
  closed, a ConnectionError from a body read or a write, a failed write_eof, or a response never
  written are recorded cancelled;
- the X-Request-Id echo goes into a response not yet prepared (and into a raised HTTPException's
  headers); a StreamResponse the handler prepared itself has sent its headers without it.
Importing this module imports aiohttp; `import servprof` does not.
"""
import asyncio
import warnings

from aiohttp import web

from . import asgi as _asgi
from . import Recorder, now_ns
from .asgi import _Recording, _State, _current

# The C extension's parts of the ASGI middleware's request (None with the ctypes backend): _asgi_begin
# and _asgi_end do in C what _Recording._begin and _finish do (test_asgi.py holds them to the same
# records); this middleware takes them where they exist, as the ASGI one does
_c_begin, _c_end = _asgi._c_begin, _asgi._c_end

# The key of the servprof.Request in the aiohttp request: request[REQUEST_KEY]. A web.RequestKey named
# "servprof.request" where aiohttp has typed request keys (3.14.1's web_request as read: a str key
# warns NotAppKeyWarning there), else the str "servprof.request" (aiohttp 3.8, and releases without them)
REQUEST_KEY = web.RequestKey("servprof.request", object) if hasattr(web, "RequestKey") else "servprof.request"


def current_request(request=None):
    """The servprof.Request of the HTTP request being served in this context, or None. Pass the
    aiohttp request where the context is not the middleware's (a thread started without copying it)."""
    r = _current.get()
    if r is None and request is not None:
        r = request.get(REQUEST_KEY)
    return r


# The one private name of aiohttp this module reads: StreamResponse's flag that its end was written (in
# 3.8.4, the 3.x sources and the main branch read, docs/python.md "Versions"). Where a version lacks it, the public
# `prepared` and `body_length` tell a response not started yet (hooked) and one whose end was written
# (done at the handler's answer, exact); one its handler prepared keeps done at the handler's answer,
# counted in Middleware.done_at_answer (a test renames the name to take that path).
_EOF_SENT = "_eof_sent"
# the trace property that says a middleware fell back to done at the handler's answer, and why
FALLBACK_PROPERTY = "aiohttp.done_at_answer"

# the entry of a hooked response (a StreamResponse is a MutableMapping) that holds its _PendingEnd; typed
# where aiohttp has typed response keys, as REQUEST_KEY
_PENDING_KEY = (web.ResponseKey("servprof.pending_end", object) if hasattr(web, "ResponseKey")
                else "servprof.pending_end")
_hooked_classes = {}  # response class -> its subclass with the hooks


class _PendingEnd:
    """A request whose end waits for aiohttp to write its response, held only by the response's mapping.
    Holds no reference to the response, so it is freed with the response as soon as aiohttp drops it."""
    __slots__ = ("mw", "req", "st", "cls")

    def __init__(self, mw, req, st, cls):
        self.mw, self.req, self.st, self.cls = mw, req, st, cls

    def __del__(self):
        """Freed with the response: if aiohttp never wrote it, the request ends cancelled at the time the
        handler answered (a no-op for one that ended: write_eof ended it, and for one never hooked:
        disarmed, mw None)."""
        if self.mw is not None and not self.req.ended:
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
    """Has the request's connection been lost (aiohttp drops the transport) or begun to close? None where
    the request tells no transport (`request.transport`, public in aiohttp 3.x, missing): not known."""
    try:
        transport = request.transport
    except AttributeError:
        return None
    return transport is None or transport.is_closing()


class Middleware(_Recording):
    """An aiohttp (new-style) middleware: middleware(recorder, ...) makes one. Its attributes are the
    ASGI middleware's (paths, exclude, fill_stages, echo_request_id, metrics_path, errors, last_error)
    and done_at_answer, done_at_answer_reason: how many requests took done at the handler's answer
    because their response's write could not be hooked (an aiohttp without the attribute read, a
    response class that cannot be swapped), and why the last one could not (None before any)."""

    __middleware_version__ = 1  # aiohttp 3.x: a new-style middleware, called (request, handler)

    def __init__(self, recorder, *, paths=None, exclude=(), fill_stages=True, echo_request_id=True,
                 metrics_path=None, loop_stalls=None):
        _Recording.__init__(self, recorder, paths=paths, exclude=exclude, fill_stages=fill_stages,
                            echo_request_id=echo_request_id, metrics_path=metrics_path, loop_stalls=loop_stalls,
                            what="servprof.aiohttp.middleware")
        self.done_at_answer = 0
        self.done_at_answer_reason = None
        self._reasons_said = set()

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
        if self.loop_stalls is not None:
            self._watch_loop()
        st = _State()
        try:
            request[REQUEST_KEY] = req
        except Exception as e:  # noqa: BLE001 - a request that refuses the entry (warnings as errors):
            self._fault(e)      # current_request() still has it through the ContextVar
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
            if isinstance(e, ConnectionError) and _client_gone(request) is not False:
                # the client went away (a body read or a write failed; with no transport to ask, a
                # ConnectionError is taken as that): no response finished, cancelled
                pass
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
            st.disconnected = bool(_client_gone(request))
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
        if self.loop_stalls is not None:
            self._loop_spans(req)

    def _end_at_write(self, resp, req, st):
        """Moves the request's end to where aiohttp sends the response, after the middlewares return:
        the response start when aiohttp prepares it (headers), done when it calls write_eof (before
        the last write, as the ASGI middleware's done). True when the response is hooked (the
        request then ends there, or, if the response is never written (an outer middleware replaced
        it, its prepare failed), when it is freed: cancelled at the time the handler answered); False
        for a response whose end was already written, one that is no response, and one whose write
        cannot be hooked (done stays the handler's answer; the last counted, _unhooked)."""
        if not isinstance(resp, web.StreamResponse):
            return False
        eof = getattr(resp, _EOF_SENT, None)
        if eof is None:  # an aiohttp without the flag: what the public `prepared` and `body_length` say
            prepared, length = getattr(resp, "prepared", None), getattr(resp, "body_length", None)
            if prepared is None or not isinstance(length, int):
                return self._unhooked("aiohttp's StreamResponse has no %s, prepared or body_length"
                                      % _EOF_SENT)
            if prepared:  # started by its handler; its end written or not (main says prepared after it)
                return self._unhooked("a response its handler prepared, and no StreamResponse.%s to tell "
                                      "whether its end was written" % _EOF_SENT)
            if length > 0:  # no longer prepared, bytes written: its end was (aiohttp 3.8's prepared)
                return False
        elif eof:
            return False  # the handler wrote the end: done at its answer is exact
        cls = type(resp)
        try:
            hooked = _hooked_class(cls)
        except TypeError as e:  # a class that refuses subclasses
            return self._unhooked("%s cannot be subclassed" % cls.__name__, e)
        end = _PendingEnd(self, req, st, cls)
        try:
            resp[_PENDING_KEY] = end
        except Exception as e:  # noqa: BLE001 - a response that is no mapping
            end.mw = None  # disarmed: the request ends at the handler's answer, not cancelled when freed
            return self._unhooked("%s takes no entry" % cls.__name__, e)
        try:
            resp.__class__ = hooked
        except TypeError as e:  # a class whose layout a subclass changes (a C type): no hook
            end.mw = None
            del resp[_PENDING_KEY]
            return self._unhooked("%s's class cannot be swapped" % cls.__name__, e)
        return True

    def _unhooked(self, kind, error=None):
        """A response whose write cannot be hooked: its request ends at the handler's answer (done there,
        before aiohttp's write), counted; the first time for each kind the trace property
        aiohttp.done_at_answer and a RuntimeWarning say so, with the error that refused the hook if
        any. Never raises. False (not deferred)."""
        reason = kind if error is None else "%s (%s)" % (kind, str(error)[:500])
        self.done_at_answer += 1
        self.done_at_answer_reason = reason
        if kind not in self._reasons_said:
            self._reasons_said.add(kind)
            try:
                self.recorder.set_property(FALLBACK_PROPERTY, "done at the handler's answer, before aiohttp's "
                                           "write: " + reason)
            except Exception as e:  # noqa: BLE001 - a recorder without properties (a stand-in), or closed
                self._fault(e)
            try:
                warnings.warn("servprof.aiohttp: done is taken at the handler's answer, before aiohttp "
                              "writes the response: " + reason, RuntimeWarning, stacklevel=2)
            except Exception as e:  # noqa: BLE001 - warnings turned into errors: counted, never raised
                self._fault(e)
        return False

    def _metrics_response(self, method):
        status, headers, body = self._metrics_answer(method)
        # aiohttp sets Content-Length itself, and leaves the body out of a HEAD answer
        return web.Response(status=status, body=body,
                            headers={k.decode(): v.decode() for k, v in headers if k != b"content-length"})

def middleware(recorder, *, paths=None, exclude=(), fill_stages=True, echo_request_id=True, metrics_path=None,
               loop_stalls=None):
    """An aiohttp middleware that records each HTTP request into `recorder`:
    web.Application(middlewares=[servprof.aiohttp.middleware(rec)]). The options are
    servprof.asgi.Middleware's (paths, exclude, fill_stages, echo_request_id, metrics_path, loop_stalls)."""
    return Middleware(recorder, paths=paths, exclude=exclude, fill_stages=fill_stages,
                      echo_request_id=echo_request_id, metrics_path=metrics_path, loop_stalls=loop_stalls)
