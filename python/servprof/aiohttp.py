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
- done: the handler chain hands the response back to this middleware (a web.HTTPException raised
  counts as its response): the body is built but aiohttp has not written it yet (it prepares and
  writes it after the middlewares return), so done never lies after the client's receipt, as for
  ASGI; a StreamResponse the handler prepared and wrote has sent every chunk by then but its end
  (write_eof) is still to come;
- a client that goes away: aiohttp 3.8 cancels the handler's task (recorded cancelled); 3.9 and later
  let the handler run on (unless the server asks for handler_cancellation), so a response finished
  after the connection closed is recorded cancelled too;
- the X-Request-Id echo goes into a response not yet prepared (and into a raised HTTPException's
  headers); a StreamResponse the handler prepared itself has sent its headers without it;
- the response start is not seen: a request with nothing recorded is all preprocess up to done.
Importing this module imports aiohttp; `import servprof` does not.
"""
import asyncio

from aiohttp import web

from . import now_ns
from .asgi import _Recording, _State, _current

# the key of the servprof.Request in the aiohttp request (request["servprof.request"])
REQUEST_KEY = "servprof.request"


def current_request(request=None):
    """The servprof.Request of the HTTP request being served in this context, or None. Pass the
    aiohttp request where the context is not the middleware's (a thread started without copying it)."""
    r = _current.get()
    if r is None and request is not None:
        r = request.get(REQUEST_KEY)
    return r


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
            begun = self._begin([(k.lower(), v) for k, v in request.raw_headers], arrival)
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
        try:
            resp = await handler(request)
            st.done = now_ns()
            self._answered(request, resp, st, echo)
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
            try:
                self._finish(req, st, exc)
            except Exception as e:  # noqa: BLE001 - counted, never raised into the server
                self._fault(e)

    def _answered(self, request, resp, st, echo):
        """Notes the response's status, whether the client is still there, and echoes the id."""
        try:
            st.status = int(resp.status)
            st.disconnected = _client_gone(request)
            if self.echo_request_id and not getattr(resp, "prepared", False) and "X-Request-Id" not in resp.headers:
                resp.headers["X-Request-Id"] = echo.decode()
        except Exception as e:  # noqa: BLE001 - a response without headers: the request is still recorded
            self._fault(e)

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
