"""Servers that misbehave, for tests/cli/load_hostile.sh: one mode per run, standard library only.
Prints the port it listens on (127.0.0.1, chosen by the kernel), then serves until killed.
Run as: python3 load_hostile_server.py MODE"""
import socket, sys, threading, time

mode = sys.argv[1]
served = 0
lock = threading.Lock()


def read_request(c, buf):
    """Reads one request (headers and a Content-Length body); returns (ok, leftover bytes)."""
    while b"\r\n\r\n" not in buf:
        d = c.recv(65536)
        if not d:
            return False, b""
        buf += d
    head, _, rest = buf.partition(b"\r\n\r\n")
    n = 0
    for line in head.split(b"\r\n")[1:]:
        k, _, v = line.partition(b":")
        if k.strip().lower() == b"content-length":
            n = int(v)
    while len(rest) < n:
        d = c.recv(65536)
        if not d:
            return False, b""
        rest += d
    return True, rest[n:]


def ok(body=b'{"ok":1}', extra=b""):
    return b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n%s\r\n" % (len(body), extra) + body


def chunk(s):
    return b"%x\r\n%s\r\n" % (len(s), s)


def sse_head():
    return b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n"


TOKEN = b'data: {"choices":[{"index":0,"text":" t"}]}\n\n'
USAGE = b'data: {"choices":[],"usage":{"prompt_tokens":9,"completion_tokens":%d}}\n\n'


def hang(c):
    time.sleep(3600)


def serve(c):
    global served
    buf = b""
    n_here = 0  # requests answered on this connection
    try:
        c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if mode == "close_on_accept":
            return
        if mode == "early_413":  # answers at the headers, before reading a large body, and closes
            while b"\r\n\r\n" not in buf:
                d = c.recv(4096)
                if not d:
                    return
                buf += d
            body = b'{"error":{"message":"request body too large"}}'
            c.sendall(b"HTTP/1.1 413 Payload Too Large\r\nContent-Length: %d\r\nConnection: close\r\n\r\n"
                      % len(body) + body)
            return
        while True:
            good, buf = read_request(c, buf)
            if not good:
                return
            with lock:
                served += 1
                n = served
            if mode == "ka_broken":  # keep-alive by default (HTTP/1.1), yet closes after each answer
                c.sendall(ok()); return
            if mode == "one_per_conn":  # answers the first request (after 50 ms), then keeps the
                # connection open without saying it will not serve another: the next request on it
                # is read and the connection closed without an answer
                if n_here:
                    return
                time.sleep(0.05); c.sendall(ok()); n_here += 1; continue
            if mode == "conn_close":
                c.sendall(ok(extra=b"Connection: close\r\n")); return
            if mode == "http10":  # HTTP/1.0: closes unless it says keep-alive
                c.sendall(b"HTTP/1.0 200 OK\r\nContent-Length: 8\r\n\r\n{\"ok\":1}"); return
            if mode == "http10_eof":  # HTTP/1.0, body delimited by the close
                c.sendall(b"HTTP/1.0 200 OK\r\n\r\n{\"ok\":1}"); return
            if mode == "partial":  # headers and half the body, then silence
                c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{\"ok\""); hang(c); return
            if mode == "garbage":
                c.sendall(b"HTTP/1.1 2x0 Fine\r\nContent-Length: 0\r\n\r\n"); return
            if mode == "cl_short":  # says 2 bytes, sends 8, keeps the connection
                c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{\"ok\":1}"); continue
            if mode == "cl_long":  # says 100 bytes, sends 8, closes
                c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{\"ok\":1}"); return
            if mode == "bad_chunk":
                c.sendall(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n"); return
            if mode == "continue":
                c.sendall(b"HTTP/1.1 100 Continue\r\n\r\n"); time.sleep(0.01); c.sendall(ok()); continue
            if mode in ("s204", "s304"):
                c.sendall(b"HTTP/1.1 %s\r\n\r\n" % (b"204 No Content" if mode == "s204" else b"304 Not Modified"))
                continue
            if mode.startswith("die_after_"):  # answers N requests, then the whole server goes away
                if n > int(mode[10:]):
                    import os
                    os._exit(0)
                c.sendall(ok()); continue
            if mode == "sse_no_done":  # a well-formed chunked body that ends without [DONE]
                c.sendall(sse_head() + chunk(TOKEN) + chunk(TOKEN) + b"0\r\n\r\n"); continue
            if mode == "sse_cut":  # the connection closes in the middle of the stream
                c.sendall(sse_head() + chunk(TOKEN) + chunk(TOKEN)); return
            if mode == "sse_stall":  # two tokens, then silence
                c.sendall(sse_head() + chunk(TOKEN) + chunk(TOKEN)); hang(c); return
            if mode == "sse_crlf":  # comments, keep-alive lines, CRLF line ends, an id and retry field
                body = (b": ping\r\n\r\n" + b"retry: 100\r\nid: 1\r\n" + TOKEN.replace(b"\n", b"\r\n") +
                        b":\r\n\r\n" + TOKEN.replace(b"\n", b"\r\n") + b": keep-alive\r\n\r\n" +
                        (USAGE % 2).replace(b"\n", b"\r\n") + b"data: [DONE]\r\n\r\n")
                c.sendall(sse_head() + chunk(body) + b"0\r\n\r\n"); continue
            if mode == "sse_bytes":  # every byte in its own TCP segment (CRLF ends, chunked coding)
                body = (b": ping\r\n\r\n" + TOKEN.replace(b"\n", b"\r\n") + TOKEN.replace(b"\n", b"\r\n") +
                        (USAGE % 2).replace(b"\n", b"\r\n") + b"data: [DONE]\r\n\r\n")
                data = sse_head() + chunk(body[:40]) + chunk(body[40:]) + b"0\r\n\r\n"
                for i in range(len(data)):
                    c.sendall(data[i:i + 1]); time.sleep(0.0005)
                continue
            if mode == "sse_chunks":  # CR-only line ends, every byte in its own chunk, one write
                body = (b": ping\r\r" + TOKEN.replace(b"\n", b"\r") + TOKEN.replace(b"\n", b"\r") +
                        (USAGE % 2).replace(b"\n", b"\r") + b"data: [DONE]\r\r")
                c.sendall(sse_head() + b"".join(chunk(body[i:i + 1]) for i in range(len(body))) + b"0\r\n\r\n")
                continue
            raise SystemExit("unknown mode " + mode)
    except OSError:
        pass
    finally:
        c.close()


def main():
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if mode == "early_413":  # a small receive window: the client cannot write the body in one go
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.bind(("127.0.0.1", 0))
    s.listen(128)
    print(s.getsockname()[1], flush=True)
    while True:
        c, _ = s.accept()
        threading.Thread(target=serve, args=(c,), daemon=True).start()


main()
