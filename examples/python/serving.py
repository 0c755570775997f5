"""How both example services (service.py, generate_service.py) serve their ASGI app with uvicorn (or
service.py --app aiohttp its aiohttp.web app with aiohttp's own server): on a socket of their own with
TCP_NODELAY, stopped cleanly by SIGINT or SIGTERM (so the trace is closed),
optionally after a time limit, printing "listening on HOST:PORT" once the port is taken (what the tests
and `make demo-python` wait for). Nothing here is about servprof."""
import asyncio
import signal
import socket
import sys


def bind_socket(host, port):
    """Takes host:port (port 0: an ephemeral one) before the service opens its trace, so a port in use
    fails start-up without leaving an empty trace behind. Returns the bound socket, or None when the
    port cannot be taken (said on stderr)."""
    # IPPROTO_TCP named, so asyncio sets TCP_NODELAY on the accepted sockets (it checks the protocol);
    # without it Nagle's algorithm holds the response body behind its headers for a delayed ACK
    # (40 ms on Linux), which servprof reports as `network`
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as e:
        sock.close()
        print("service: cannot listen on %s port %d: %s" % (host, port, e.strerror), file=sys.stderr)
        return None
    return sock


async def serve_uvicorn(app, sock, duration=0):
    """Serves `app` on `sock` (from bind_socket) until SIGINT or SIGTERM, or for `duration` seconds when
    it is above 0. Returns 0."""
    import uvicorn
    sock.listen(1024)
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off", access_log=False))
    server.install_signal_handlers = lambda: None
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, lambda: setattr(server, "should_exit", True))
    if duration > 0:
        loop.call_later(duration, lambda: setattr(server, "should_exit", True))
    print("listening on %s:%d" % sock.getsockname()[:2], flush=True)
    await server.serve(sockets=[sock])
    return 0


async def serve_aiohttp(app, sock, duration=0):
    """serve_uvicorn for an aiohttp.web Application (aiohttp sets TCP_NODELAY on each connection itself).
    Returns 0."""
    from aiohttp import web
    sock.listen(1024)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.SockSite(runner, sock).start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    if duration > 0:
        loop.call_later(duration, stop.set)
    print("listening on %s:%d" % sock.getsockname()[:2], flush=True)
    await stop.wait()
    await runner.cleanup()
    return 0
