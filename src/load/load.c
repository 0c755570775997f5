/* The open-loop engine of `servprof load`: one thread, one epoll set, a schedule fixed in advance.
 * A request whose intended time has come goes out on an idle keep-alive connection, else on a newly
 * opened one (up to the cap), else it waits; its latency counts from the intended time either way.
 *
 * Why a hand-written HTTP/1.1 client instead of libcurl multi: the goal is to sustain at least 0.8x
 * wrk's request rate while staying open-loop on a 2-core machine. Per request this client does one
 * send() and usually one recv() with a precomputed header prefix, and one epoll_pwait2 covers both
 * the schedule's next deadline (ns resolution, no timerfd) and all sockets; curl's multi interface
 * adds per-transfer easy-handle set-up, header callbacks and its own timer bookkeeping on top. The
 * client only needs POST with a body, Content-Length or chunked responses, and keep-alive.
 *
 * Streaming generation (`stream`, docs/load.md "Streaming") uses the same engine: the HTTP parser hands
 * the body to the event-stream reader of stream.c as bytes arrive, so each token's arrival is the
 * time of the recv() that completed its event. */
#include <errno.h>
#include <math.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/json_esc_int.h"
#include "common/tracectx.h"
#include "common/util_int.h"
#include "load/load_int.h"

#define REC_WARMUP 1u
#define REC_SENT 2u
#define REC_RETRIED 4u
#define NO_REQ UINT32_MAX

/* One request of the schedule (32 bytes: SP_LOAD_MAX_REQUESTS of them fit in 512 MB). */
typedef struct load_rec {
    uint64_t intended, send, done; /* CLOCK_MONOTONIC ns; send/done 0 until known */
    int32_t status;                /* HTTP status, SP_LOAD_ERR_*, or 0 while pending */
    uint32_t flags;
} load_rec;

enum conn_state { CONN_FREE = 0, CONN_CONNECTING, CONN_IDLE, CONN_BUSY };

typedef struct load_conn {
    int fd;
    enum conn_state state;
    bool reused;       /* carried a request before: a quiet close by the server earns one retry */
    bool want_out;     /* EPOLLOUT is armed (connecting, or a partial write) */
    uint32_t req;      /* request in flight, or NO_REQ */
    uint64_t deadline; /* ns: connect or response timeout */
    uint64_t got;      /* response bytes received for the current request */
    bool write_broken; /* writing the current request failed (closed or reset by the server) */
    char *wbuf;
    size_t wcap, wlen, woff;
    sp_http_resp resp;
    sp_stream_conn stream; /* streaming generation: the response's event stream */
} load_conn;

typedef struct load_run {
    const sp_load_config *o;
    sp_url url;
    struct sockaddr_storage addr;
    socklen_t addrlen;
    int family;
    int ep;
    bool have_pwait2;

    load_conn *conns;
    unsigned cap;
    unsigned n_open, peak_open, opened;
    uint32_t *idle; /* stack of idle connection slots */
    unsigned n_idle;
    uint32_t *free_slots;
    unsigned n_free;

    load_rec *recs;
    size_t n_recs, cap_recs;
    size_t next_dispatch; /* first request never handed to a connection */
    uint32_t *retry;      /* requests to re-send (at most one retry each) */
    size_t n_retry, cap_retry;
    uint64_t retries;

    sp_arrivals arr;
    uint64_t *replay;     /* --arrival replay: the file's offsets (arr reads them) */
    size_t n_replay;
    sp_textgen text;
    bool gen_done;
    uint64_t next_offset; /* the next arrival, valid while !gen_done */
    uint64_t t0, warmup_ns, end_ns, timeout_ns;
    uint64_t measured_gen, measured_cap; /* requests mode */

    uint64_t completed, errors, in_flight;
    char *body; /* scratch: the JSON body of the request being built */
    size_t body_cap;
    char prefix[1536]; /* request line and fixed headers up to "X-Request-Id: " */
    size_t prefix_len;
    char model_json[300];
    char id_prefix[72];
    sp_stream_log slog; /* streaming generation: every request's tokens */
    /* the measured non-2xx response scheduled first: its request, status and reason */
    uint32_t first_error_req;
    int first_error_status;
    char first_error_body[200];
    uint64_t trace_key[3]; /* random per run: every request's trace and span ids derive from it */
} load_run;

void sp_load_config_init(sp_load_config *o)
{
    memset(o, 0, sizeof *o);
    o->url = "http://127.0.0.1:8080/v1/embeddings";
    o->rate = 100.0;
    o->duration_s = 10.0;
    o->connections = 64;
    o->seed = 1;
    o->timeout_s = 10.0;
    o->arrival = SP_LOAD_ARRIVAL_POISSON;
    o->gamma_cv = 1.0;
    o->length = SP_LOAD_LENGTH_LOGNORMAL;
    o->length_mean = SP_LOAD_DEFAULT_LENGTH_MEAN;
    o->length_sigma = SP_LOAD_DEFAULT_LENGTH_SIGMA;
    o->length_min = 1;
    o->length_max = 64;
    o->length_fixed = 32;
    o->model = "servprof";
    o->id_prefix = "c1";
    o->output_length = SP_LOAD_LENGTH_FIXED;
    o->output_fixed = SP_LOAD_DEFAULT_OUTPUT_TOKENS;
    o->output_mean = SP_LOAD_DEFAULT_OUTPUT_TOKENS;
    o->output_sigma = SP_LOAD_DEFAULT_LENGTH_SIGMA;
    o->output_min = 1;
    o->output_max = 2 * SP_LOAD_DEFAULT_OUTPUT_TOKENS;
}

void sp_load_config_stream(sp_load_config *o, bool chat)
{
    o->stream = true;
    o->chat = chat;
    o->url = chat ? "http://127.0.0.1:8080/v1/chat/completions" : "http://127.0.0.1:8080/v1/completions";
    o->timeout_s = SP_LOAD_DEFAULT_STREAM_TIMEOUT_S;
    o->output_length = SP_LOAD_LENGTH_FIXED;
    o->output_fixed = SP_LOAD_DEFAULT_OUTPUT_TOKENS;
}

void sp_load_result_destroy(sp_load_result *r)
{
    free(r);
}

/* ---- schedule ---- */

/* Draws the next arrival, deciding whether it belongs to the schedule (duration or count). */
static void gen_advance(load_run *r)
{
    uint64_t off;
    if (!sp_arrivals_next(&r->arr, &off)) {
        r->gen_done = true;
        return;
    }
    if (off >= r->warmup_ns) {
        if (r->o->requests) {
            if (r->measured_gen >= r->measured_cap) {
                r->gen_done = true;
                return;
            }
        } else if (off >= r->end_ns) {
            r->gen_done = true;
            return;
        }
    }
    r->next_offset = off;
}

/* Appends every arrival whose time has come. */
static void gen_due(load_run *r, uint64_t now)
{
    while (!r->gen_done && r->t0 + r->next_offset <= now) {
        if (SP_GROW(r->recs, r->cap_recs, r->n_recs + 1, SP_LOAD_MAX_REQUESTS) != SP_OK ||
            (r->o->stream && sp_stream_log_reserve(&r->slog, r->cap_recs) != SP_OK)) {
            r->gen_done = true; /* unreachable with the up-front check; stop rather than fail */
            break;
        }
        load_rec *q = &r->recs[r->n_recs++];
        memset(q, 0, sizeof *q);
        q->intended = r->t0 + r->next_offset;
        if (r->next_offset < r->warmup_ns)
            q->flags = REC_WARMUP;
        else
            r->measured_gen++;
        gen_advance(r);
    }
}

/* ---- connections ---- */

static void outcome(load_run *r, uint32_t req, int status, uint64_t now)
{
    load_rec *q = &r->recs[req];
    q->status = status;
    q->done = now;
    r->completed++;
    if (status < 0)
        r->errors++;
}

static void conn_close(load_run *r, uint32_t slot)
{
    load_conn *c = &r->conns[slot];
    if (c->state == CONN_FREE)
        return;
    if (c->state == CONN_IDLE) {
        for (unsigned i = 0; i < r->n_idle; i++)
            if (r->idle[i] == slot) {
                r->idle[i] = r->idle[--r->n_idle];
                break;
            }
    }
    close(c->fd); /* also removes it from the epoll set */
    c->fd = -1;
    c->state = CONN_FREE;
    c->req = NO_REQ;
    c->reused = false;
    c->want_out = false;
    r->n_open--;
    r->free_slots[r->n_free++] = slot;
}

/* The connection broke while `c->req` was in flight: retry once if a kept-alive connection was
 * closed by the server before answering (the normal race of keep-alive), else an error. */
static void conn_fail(load_run *r, uint32_t slot, int status, uint64_t now)
{
    load_conn *c = &r->conns[slot];
    uint32_t req = c->req;
    if (req != NO_REQ) {
        r->in_flight--;
        load_rec *q = &r->recs[req];
        if (status == SP_LOAD_ERR_IO && c->reused && c->got == 0 && !(q->flags & REC_RETRIED) &&
            SP_GROW(r->retry, r->cap_retry, r->n_retry + 1, SP_LOAD_MAX_REQUESTS) == SP_OK) {
            q->flags |= REC_RETRIED;
            r->retry[r->n_retry++] = req;
            r->retries++;
        } else {
            if (r->o->stream && c->state == CONN_BUSY) /* the tokens before the failure, for the trace */
                sp_stream_log_commit(&r->slog, req, &c->stream, -1, !(r->recs[req].flags & REC_WARMUP));
            outcome(r, req, status, now);
        }
        c->req = NO_REQ;
    }
    conn_close(r, slot);
}

static void set_events(load_run *r, uint32_t slot, bool out)
{
    load_conn *c = &r->conns[slot];
    if (c->want_out == out)
        return;
    struct epoll_event ev = {.events = EPOLLIN | (out ? EPOLLOUT : 0), .data.u32 = slot};
    epoll_ctl(r->ep, EPOLL_CTL_MOD, c->fd, &ev);
    c->want_out = out;
}

static char *put_u64(char *p, uint64_t v)
{
    return p + sp_u64_dec(v, p);
}

/* Request `req`'s W3C trace context: a trace id and a span id (the client's span, sent as the
 * traceparent's parent-id) that are functions of the run's random key and the request's index, so
 * the trace file can name them without storing them (docs/load.md, "Trace context"). Each is a
 * bijection of the index mixed with 64 random bits, so no two requests of a run share one; never all
 * zero. */
static void req_trace(const load_run *r, uint64_t req, sp_trace_context *c)
{
    uint64_t w[3];
    for (int k = 0; k < 3; k++) {
        w[k] = sp_mix64(r->trace_key[k] ^ sp_mix64(req + 1 + (uint64_t)k * 0x9e3779b97f4a7c15ull));
        if (w[k] == 0)
            w[k] = 1;
    }
    for (int b = 0; b < 8; b++) {
        c->trace_id[b] = (uint8_t)(w[0] >> (56 - 8 * b));
        c->trace_id[8 + b] = (uint8_t)(w[1] >> (56 - 8 * b));
        c->span_id[b] = (uint8_t)(w[2] >> (56 - 8 * b));
    }
    memset(c->parent_id, 0, sizeof c->parent_id);
    c->flags = SP_TRACE_FLAG_SAMPLED;
}

/* Builds request `req` into the connection's write buffer. */
static sp_status build_request(load_run *r, load_conn *c, uint32_t req)
{
    size_t k;
    if (r->o->stream) {
        k = sp_stream_body(r->o, &r->text, req, r->body, r->body_cap);
    } else {
        /* body: {"input":"<text>","model":"<model>"} */
        static const char head[] = "{\"input\":\"";
        k = sizeof head - 1;
        memcpy(r->body, head, k);
        uint32_t words;
        k += sp_textgen_text(&r->text, req, r->body + k, SP_LOAD_MAX_TEXT, &words);
        size_t ml = strlen(r->model_json);
        memcpy(r->body + k, r->model_json, ml);
        k += ml;
    }
    size_t need = r->prefix_len + 256 + k;
    if (need > c->wcap) {
        size_t nc = c->wcap ? c->wcap : 1024;
        while (nc < need)
            nc *= 2;
        char *nb = realloc(c->wbuf, nc);
        if (!nb)
            return SP_ERR_NOMEM;
        c->wbuf = nb;
        c->wcap = nc;
    }
    char *p = c->wbuf;
    memcpy(p, r->prefix, r->prefix_len);
    p += r->prefix_len;
    size_t il = strlen(r->id_prefix);
    memcpy(p, r->id_prefix, il);
    p += il;
    *p++ = '-';
    p = put_u64(p, (uint64_t)req + 1);
    /* W3C trace context: a fresh trace per request, this client's span as the parent, sampled */
    sp_trace_context tc;
    req_trace(r, req, &tc);
    memcpy(p, "\r\ntraceparent: ", 15);
    p += 15;
    sp_traceparent_write(&tc, p);
    p += SP_TRACEPARENT_LEN;
    memcpy(p, "\r\nContent-Length: ", 18);
    p += 18;
    p = put_u64(p, k);
    memcpy(p, "\r\n\r\n", 4);
    p += 4;
    memcpy(p, r->body, k);
    p += k;
    c->wlen = (size_t)(p - c->wbuf);
    c->woff = 0;
    return SP_OK;
}

/* Writes what is left of the request; arms EPOLLOUT if the socket is full. */
static void conn_write(load_run *r, uint32_t slot, uint64_t now)
{
    load_conn *c = &r->conns[slot];
    while (c->woff < c->wlen) {
        ssize_t n = send(c->fd, c->wbuf + c->woff, c->wlen - c->woff, MSG_NOSIGNAL);
        if (n > 0) {
            c->woff += (size_t)n;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            set_events(r, slot, true);
            return;
        }
        if (!(n < 0 && (errno == EPIPE || errno == ECONNRESET))) {
            conn_fail(r, slot, SP_LOAD_ERR_IO, now);
            return;
        }
        /* The server closed or reset the connection while the request was being written: it may
         * have answered first (a 413 at the headers of a large body, then a close), and the answer
         * waits in the receive queue ahead of the reset. Stop writing and let the read path decide:
         * the answer if there is one, else the reset (io, or the keep-alive retry). A reset
         * socket is always readable (EPOLLHUP/EPOLLERR), so this waits for nothing. */
        c->woff = c->wlen;
        c->write_broken = true;
        set_events(r, slot, false);
        return;
    }
    set_events(r, slot, false);
}

/* Hands request `req` to an open, idle connection and sends it. */
static void conn_send(load_run *r, uint32_t slot, uint32_t req)
{
    load_conn *c = &r->conns[slot];
    c->state = CONN_BUSY;
    c->req = req;
    c->got = 0;
    c->write_broken = false;
    sp_http_resp_reset(&c->resp);
    if (r->o->stream) {
        sp_stream_conn_reset(&c->stream);
        c->resp.body_sink = sp_stream_on_body;
        c->resp.body_user = &c->stream;
    }
    r->in_flight++;
    if (build_request(r, c, req) != SP_OK) {
        conn_fail(r, slot, SP_LOAD_ERR_IO, sp_now_ns());
        return;
    }
    uint64_t now = sp_now_ns();
    load_rec *q = &r->recs[req];
    q->send = now;
    q->flags |= REC_SENT;
    c->deadline = now + r->timeout_ns;
    conn_write(r, slot, now);
}

/* Opens a new connection for request `req`. False if no slot is free. */
static bool conn_open(load_run *r, uint32_t req)
{
    if (r->n_free == 0)
        return false;
    uint64_t now = sp_now_ns();
    int fd = socket(r->family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        /* out of descriptors or buffers: the request fails to connect; the schedule goes on */
        r->recs[req].send = now;
        outcome(r, req, SP_LOAD_ERR_CONNECT, now);
        return true;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    int rc = connect(fd, (struct sockaddr *)&r->addr, r->addrlen);
    if (rc < 0 && errno != EINPROGRESS) {
        close(fd);
        r->recs[req].send = now;
        outcome(r, req, SP_LOAD_ERR_CONNECT, now);
        return true;
    }
    uint32_t slot = r->free_slots[--r->n_free];
    load_conn *c = &r->conns[slot];
    c->fd = fd;
    c->req = NO_REQ;
    c->reused = false;
    c->want_out = rc < 0;
    r->n_open++;
    r->opened++;
    if (r->n_open > r->peak_open)
        r->peak_open = r->n_open;
    struct epoll_event ev = {.events = EPOLLIN | (rc < 0 ? EPOLLOUT : 0), .data.u32 = slot};
    if (epoll_ctl(r->ep, EPOLL_CTL_ADD, fd, &ev) != 0) {
        c->state = CONN_CONNECTING;
        conn_close(r, slot);
        r->recs[req].send = now;
        outcome(r, req, SP_LOAD_ERR_CONNECT, now);
        return true;
    }
    if (rc == 0) {
        conn_send(r, slot, req);
    } else {
        c->state = CONN_CONNECTING;
        c->req = req;
        c->deadline = now + r->timeout_ns;
        r->recs[req].send = now; /* provisional: replaced when the request is written */
        r->in_flight++;
    }
    return true;
}

/* Sends due requests: retries first, then the schedule in order. */
static void dispatch(load_run *r)
{
    for (;;) {
        bool from_retry = r->n_retry > 0;
        uint32_t req;
        if (from_retry)
            req = r->retry[r->n_retry - 1];
        else if (r->next_dispatch < r->n_recs)
            req = (uint32_t)r->next_dispatch;
        else
            return;
        if (from_retry && r->n_free == 0 && r->n_idle > 0) {
            /* a retry goes on a new connection: an idle one may be closed by the server as well
             * (one that closes after every answer), and a second quiet close would fail the
             * request although the server answers every request it reads; make room for it (the
             * bottom of the idle stack: idle the longest). Rare: the failed connection's own slot
             * is free for its retry, which goes before the schedule */
            conn_close(r, r->idle[0]);
        }
        if (r->n_idle > 0 && !from_retry) {
            uint32_t slot = r->idle[--r->n_idle];
            r->next_dispatch++;
            conn_send(r, slot, req);
        } else if (r->n_free > 0) {
            if (from_retry)
                r->n_retry--;
            else
                r->next_dispatch++;
            conn_open(r, req);
        } else {
            return; /* every connection is busy and the cap is reached: the request waits */
        }
    }
}

static void on_connected(load_run *r, uint32_t slot, uint64_t now)
{
    load_conn *c = &r->conns[slot];
    int soerr = 0;
    socklen_t sl = sizeof soerr;
    if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) != 0 || soerr != 0) {
        conn_fail(r, slot, SP_LOAD_ERR_CONNECT, now);
        return;
    }
    uint32_t req = c->req;
    r->in_flight--; /* conn_send counts it again */
    conn_send(r, slot, req);
}

/* The outcome of a complete response: its status; streaming, SP_LOAD_ERR_STREAM when its event
 * stream failed, and the request's tokens go to the log. */
static int response_status(load_run *r, load_conn *c)
{
    if (!r->o->stream)
        return c->resp.status;
    int why;
    int status = sp_stream_conn_outcome(&c->stream, &c->resp, &why);
    sp_stream_log_commit(&r->slog, c->req, &c->stream, why, !(r->recs[c->req].flags & REC_WARMUP));
    return status;
}

/* The server's reason in an error body: an OpenAI-shaped error's message (the SSE classifier reads
 * the same shapes in a stream), else the body's first non-blank line; control bytes as spaces. */
static void error_reason(const char *body, size_t len, char *out, size_t cap)
{
    sp_sse_chunk ch;
    sp_sse_classify(body, len, &ch);
    const char *s = body;
    size_t n = len;
    if (ch.kind == SP_SSE_CHUNK_ERROR && ch.message[0]) {
        s = ch.message;
        n = strlen(ch.message);
    } else {
        while (n && (*s == '\n' || *s == '\r' || *s == ' ' || *s == '\t'))
            s++, n--;
        const char *nl = memchr(s, '\n', n);
        if (nl)
            n = (size_t)(nl - s);
    }
    size_t k = 0;
    for (size_t i = 0; i < n && k + 1 < cap; i++)
        out[k++] = (unsigned char)s[i] < 0x20 || s[i] == 0x7f ? ' ' : s[i];
    while (k && out[k - 1] == ' ')
        k--;
    out[k] = '\0';
}

/* A complete response whose status is not 2xx, of a measured request scheduled before the one kept
 * so far: its status and reason become the run's first_error_* (load.h). */
static void keep_error_reason(load_run *r, const load_conn *c)
{
    int st = c->resp.status;
    if ((st >= 200 && st < 300) || (r->recs[c->req].flags & REC_WARMUP))
        return;
    if (r->first_error_status && c->req >= r->first_error_req)
        return;
    r->first_error_req = c->req;
    r->first_error_status = st;
    error_reason(c->resp.err_body, c->resp.err_len, r->first_error_body, sizeof r->first_error_body);
}

static void on_readable(load_run *r, uint32_t slot, char *buf, size_t bufsz)
{
    load_conn *c = &r->conns[slot];
    for (;;) {
        ssize_t n = recv(c->fd, buf, bufsz, 0);
        uint64_t now = sp_now_ns();
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return;
        if (c->state != CONN_BUSY) {
            /* an idle connection closed (or sent something unasked): drop it */
            conn_close(r, slot);
            return;
        }
        if (n <= 0) {
            if (n == 0)
                sp_http_resp_eof(&c->resp);
            if (n == 0 && c->resp.state == SP_HTTP_DONE) {
                r->in_flight--;
                keep_error_reason(r, c);
                outcome(r, c->req, response_status(r, c), now);
                c->req = NO_REQ;
                conn_close(r, slot);
            } else {
                conn_fail(r, slot, SP_LOAD_ERR_IO, now);
            }
            return;
        }
        c->got += (uint64_t)n;
        c->stream.now = now; /* the arrival time of any event these bytes complete */
        size_t used = sp_http_resp_feed(&c->resp, buf, (size_t)n);
        if (c->resp.state == SP_HTTP_ERROR) {
            conn_fail(r, slot, SP_LOAD_ERR_PROTOCOL, now);
            return;
        }
        if (c->resp.state == SP_HTTP_DONE) {
            r->in_flight--;
            keep_error_reason(r, c);
            outcome(r, c->req, response_status(r, c), now);
            c->req = NO_REQ;
            /* bytes beyond the response were never asked for (no pipelining): distrust the socket;
             * nor reuse one whose request was not written whole (an answer before the end of the
             * body): the server would read the rest of that body as the next request */
            if (c->resp.conn_close || used < (size_t)n || c->write_broken || c->woff < c->wlen) {
                conn_close(r, slot);
            } else {
                c->state = CONN_IDLE;
                c->reused = true;
                r->idle[r->n_idle++] = slot;
            }
            return;
        }
        if ((size_t)n < bufsz)
            return; /* the socket is drained: wait for the next readiness */
    }
}

/* A request still waiting for a connection (every one busy and the cap reached, or a retry) is
 * given up `--timeout` after its intended send (a retry: after its first send), as a timeout that was
 * never sent: otherwise a server that holds every connection (a partial answer, then silence) keeps
 * the queue waiting one timeout per round of connections and the run far past its duration. The
 * queue is in intended order, so only its head can be due. */
static void expire_waiting(load_run *r, uint64_t now)
{
    while (r->next_dispatch < r->n_recs && r->recs[r->next_dispatch].intended + r->timeout_ns <= now)
        outcome(r, (uint32_t)r->next_dispatch++, SP_LOAD_ERR_TIMEOUT, now);
    size_t k = 0;
    for (size_t i = 0; i < r->n_retry; i++) {
        uint32_t req = r->retry[i];
        if (r->recs[req].send + r->timeout_ns <= now)
            outcome(r, req, SP_LOAD_ERR_TIMEOUT, now);
        else
            r->retry[k++] = req;
    }
    r->n_retry = k;
}

static void check_timeouts(load_run *r, uint64_t now)
{
    expire_waiting(r, now);
    for (uint32_t s = 0; s < r->cap; s++) {
        load_conn *c = &r->conns[s];
        if ((c->state == CONN_BUSY || c->state == CONN_CONNECTING) && c->deadline <= now)
            conn_fail(r, s, c->state == CONN_CONNECTING ? SP_LOAD_ERR_CONNECT : SP_LOAD_ERR_TIMEOUT, now);
    }
}

/* Waits for socket events until `deadline` (absolute ns). */
static int wait_events(load_run *r, struct epoll_event *evs, int max, uint64_t now, uint64_t deadline)
{
    uint64_t d = deadline > now ? deadline - now : 0;
    if (r->have_pwait2) {
        struct timespec ts = {.tv_sec = (time_t)(d / 1000000000u), .tv_nsec = (long)(d % 1000000000u)};
        int n = epoll_pwait2(r->ep, evs, max, &ts, NULL);
        if (n >= 0 || errno != ENOSYS)
            return n;
        r->have_pwait2 = false; /* kernels before 5.11: millisecond waits, rounded up */
    }
    return epoll_wait(r->ep, evs, max, (int)((d + 999999u) / 1000000u));
}

/* ---- set-up, results, trace ---- */

static sp_status check_options(const sp_load_config *o, char *err, size_t errlen)
{
    if (o->connections < 1 || o->connections > SP_LOAD_MAX_CONNECTIONS) {
        sp_errf(err, errlen, "connections must be in [1, %u], not %u", SP_LOAD_MAX_CONNECTIONS,
                o->connections);
        return SP_ERR_INVALID;
    }
    if (!(o->timeout_s > 0.0) || o->timeout_s > 3600.0) {
        sp_errf(err, errlen, "timeout must be in (0, 3600] seconds, not %g", o->timeout_s);
        return SP_ERR_INVALID;
    }
    if (!(o->warmup_s >= 0.0) || o->warmup_s > 86400.0) {
        sp_errf(err, errlen, "warm-up must be in [0, 86400] seconds, not %g", o->warmup_s);
        return SP_ERR_INVALID;
    }
    if (o->requests == 0 && (!(o->duration_s > 0.0) || o->duration_s > 1e6)) {
        sp_errf(err, errlen, "duration must be in (0, 1e6] seconds, not %g", o->duration_s);
        return SP_ERR_INVALID;
    }
    if (o->requests > SP_LOAD_MAX_REQUESTS) {
        sp_errf(err, errlen, "at most %u requests per run", SP_LOAD_MAX_REQUESTS);
        return SP_ERR_LIMIT;
    }
    if (o->arrival != SP_LOAD_ARRIVAL_REPLAY && o->rate > 0.0) {
        /* the expected count, with room for Poisson's spread, must fit under the cap */
        double span = o->warmup_s + (o->requests ? 0.0 : o->duration_s);
        double expect = o->rate * span + (double)o->requests;
        if (expect + 6.0 * sqrt(expect) > (double)SP_LOAD_MAX_REQUESTS) {
            sp_errf(err, errlen, "rate x (warm-up + duration) = %.0f requests exceeds the limit of %u per run",
                    expect, SP_LOAD_MAX_REQUESTS);
            return SP_ERR_LIMIT;
        }
    }
    const char *idp = o->id_prefix ? o->id_prefix : "";
    size_t il = strlen(idp);
    if (il == 0 || il > 64) {
        sp_errf(err, errlen, "id prefix must be 1 to 64 characters");
        return SP_ERR_INVALID;
    }
    for (size_t i = 0; i < il; i++) {
        char ch = idp[i];
        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
              ch == '_' || ch == '.' || ch == '-')) {
            sp_errf(err, errlen, "id prefix '%s': only letters, digits, '_', '.', '-'", idp);
            return SP_ERR_INVALID;
        }
    }
    if (!o->stream && (o->chat || o->ignore_eos || o->no_usage || o->pairs_path)) {
        sp_errf(err, errlen, "%s needs streaming generation (stream)",
                o->chat ? "a chat body" : o->ignore_eos ? "ignore_eos" : o->no_usage ? "leaving out usage"
                                                                      : "a pairs file");
        return SP_ERR_INVALID;
    }
    const char *m = o->model ? o->model : "";
    if (strlen(m) > 64) {
        sp_errf(err, errlen, "model name longer than 64 bytes");
        return SP_ERR_INVALID;
    }
    for (const char *p = m; *p; p++)
        if ((unsigned char)*p < 0x20 || *p == '"' || *p == '\\') {
            sp_errf(err, errlen, "model name must not hold quotes, backslashes or control bytes");
            return SP_ERR_INVALID;
        }
    return SP_OK;
}

/* Streaming: every token's arrival time is kept (8 bytes); refuse a run expected to keep more than
 * SP_LOAD_MAX_TOKEN_TIMES of them (expected requests x mean max_tokens, with room for Poisson's
 * spread), as check_options does for requests. */
static sp_status check_token_cap(load_run *r, char *err, size_t errlen)
{
    const sp_load_config *o = r->o;
    double expect = o->arrival == SP_LOAD_ARRIVAL_REPLAY
                        ? (double)r->n_replay
                        : o->rate * (o->warmup_s + (o->requests ? 0.0 : o->duration_s)) + (double)o->requests;
    if (o->arrival == SP_LOAD_ARRIVAL_REPLAY && o->requests && (double)o->requests < expect)
        expect = (double)o->requests;
    double tokens = (expect + 6.0 * sqrt(expect)) * sp_textgen_mean_max_tokens(&r->text);
    if (tokens > (double)SP_LOAD_MAX_TOKEN_TIMES) {
        sp_errf(err, errlen,
                "about %.0f requests x %.0f max_tokens on average = %.0f token times exceed the limit of %u per "
                "run; shorten the run or the outputs",
                expect, sp_textgen_mean_max_tokens(&r->text), tokens, SP_LOAD_MAX_TOKEN_TIMES);
        return SP_ERR_LIMIT;
    }
    return SP_OK;
}

static sp_status resolve(load_run *r, char *err, size_t errlen)
{
    struct addrinfo hints, *ai = NULL;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    int rc = getaddrinfo(r->url.host, r->url.port, &hints, &ai);
    if (rc != 0 || !ai) {
        /* a run-time failure (name service, network), not a malformed option: the URL parsed */
        sp_errf(err, errlen, "cannot resolve host '%s': %s", r->url.host,
                rc == EAI_SYSTEM ? strerror(errno) : gai_strerror(rc));
        return SP_ERR_IO;
    }
    memcpy(&r->addr, ai->ai_addr, ai->ai_addrlen);
    r->addrlen = ai->ai_addrlen;
    r->family = ai->ai_family;
    freeaddrinfo(ai);
    return SP_OK;
}

static void add_status(sp_load_result *res, int status)
{
    for (size_t i = 0; i < res->n_statuses; i++)
        if (res->statuses[i].status == status) {
            res->statuses[i].count++;
            return;
        }
    if (res->n_statuses < SP_LOAD_MAX_STATUSES) {
        res->statuses[res->n_statuses].status = status;
        res->statuses[res->n_statuses].count = 1;
        res->n_statuses++;
    }
    /* more than SP_LOAD_MAX_STATUSES distinct codes: still counted in responses/http_errors */
}

static sp_status compute_result(load_run *r, sp_load_result *res)
{
    const sp_load_config *o = r->o;
    size_t n = r->n_recs;
    uint64_t *corr = malloc((n ? n : 1) * sizeof *corr);
    uint64_t *unc = malloc((n ? n : 1) * sizeof *unc);
    uint64_t *lag = malloc((n ? n : 1) * sizeof *lag);
    if (!corr || !unc || !lag) {
        free(corr);
        free(unc);
        free(lag);
        return SP_ERR_NOMEM;
    }
    size_t nc = 0, nl = 0;
    uint64_t first_int = UINT64_MAX, last_int = 0, last_done = 0, last_send = 0;
    sp_stream_acc acc;
    res->stream = o->stream;
    if (o->stream && sp_stream_acc_init(&acc, &r->slog, n, &res->streamed) != SP_OK) {
        free(corr);
        free(unc);
        free(lag);
        return SP_ERR_NOMEM;
    }
    for (size_t i = 0; i < n; i++) {
        const load_rec *q = &r->recs[i];
        if (q->flags & REC_WARMUP) {
            res->warmup++;
            continue;
        }
        if (o->stream)
            sp_stream_acc_add(&acc, &r->slog, (uint32_t)i, q->intended, q->send, q->done, q->status);
        res->scheduled++;
        if (q->intended < first_int)
            first_int = q->intended;
        if (q->intended > last_int)
            last_int = q->intended;
        if (q->done > last_done)
            last_done = q->done;
        if (q->flags & REC_SENT) {
            res->sent++;
            lag[nl++] = q->send - q->intended;
            if (q->send > last_send)
                last_send = q->send;
        }
        switch (q->status) {
        case SP_LOAD_ERR_CONNECT: res->connect_errors++; break;
        case SP_LOAD_ERR_TIMEOUT: res->timeouts++; break;
        case SP_LOAD_ERR_IO: res->io_errors++; break;
        case SP_LOAD_ERR_PROTOCOL: res->protocol_errors++; break;
        case SP_LOAD_ERR_UNSENT: res->unsent++; break;
        case SP_LOAD_ERR_STREAM: res->stream_errors++; break;
        default:
            if (q->status > 0) {
                res->responses++;
                if (q->status >= 200 && q->status < 300)
                    res->ok++;
                else if (q->status == 503)
                    res->status_503++;
                else
                    res->status_other++;
                add_status(res, q->status);
                corr[nc] = q->done - q->intended;
                unc[nc] = q->done - q->send;
                nc++;
            }
        }
    }
    sp_load_latency_fill(corr, nc, &res->corrected);
    sp_load_latency_fill(unc, nc, &res->uncorrected);
    sp_load_latency_fill(lag, nl, &res->lag);
    free(corr);
    free(unc);
    free(lag);
    /* Replay: one request per mean gap of the file's schedule (N requests span N-1 gaps). */
    if (o->arrival == SP_LOAD_ARRIVAL_REPLAY)
        res->target_rate = res->scheduled > 1 && last_int > first_int
                               ? (double)(res->scheduled - 1) * 1e9 / (double)(last_int - first_int)
                               : 0.0;
    else
        res->target_rate = o->rate;
    /* The window the rates are over: from the first intended send to whichever is latest of the last
     * outcome, the last intended send plus one mean gap, and N mean gaps. N requests at rate r are
     * offered over N/r, not over the (N-1)/r between the first and the last send: without the extra
     * gap a run that keeps up reads N/(N-1) of target. */
    uint64_t sched_end = first_int; /* the schedule's end: max(last intended + gap, first + N gaps) */
    if (res->scheduled && res->target_rate > 0) {
        double gap = 1e9 / res->target_rate;
        double span = (double)(last_int - first_int) + gap;
        if ((double)res->scheduled * gap > span)
            span = (double)res->scheduled * gap;
        sched_end = first_int + (uint64_t)llround(span);
    }
    uint64_t end = last_done > sched_end ? last_done : sched_end;
    if (res->scheduled && end > first_int) {
        res->duration_s = (double)(end - first_int) / 1e9;
        /* successes only: a service that answers 503 fast must not look like one that keeps up */
        res->achieved_rate = (double)res->ok / res->duration_s;
        res->rate_503 = (double)res->status_503 / res->duration_s;
        res->rate_other_status = (double)res->status_other / res->duration_s;
    }
    res->http_errors = res->status_503 + res->status_other;
    if (o->stream)
        sp_stream_acc_finish(&acc, &r->slog, res->duration_s);
    /* sends over the schedule's window, or to the last send where the sender fell behind it */
    uint64_t send_end = last_send > sched_end ? last_send : sched_end;
    if (res->sent && send_end > first_int)
        res->send_rate = (double)res->sent * 1e9 / (double)(send_end - first_int);
    res->retries = r->retries;
    res->first_error_status = r->first_error_status;
    memcpy(res->first_error_body, r->first_error_body, sizeof res->first_error_body);
    res->connections_opened = r->opened;
    res->peak_connections = r->peak_open;
    return SP_OK;
}

static const char *arrival_name(sp_load_arrival a)
{
    switch (a) {
    case SP_LOAD_ARRIVAL_POISSON: return "poisson";
    case SP_LOAD_ARRIVAL_CONSTANT: return "constant";
    case SP_LOAD_ARRIVAL_GAMMA: return "gamma";
    case SP_LOAD_ARRIVAL_REPLAY: return "replay";
    }
    return "?";
}

/* Unix time minus the monotonic clock now: what the trace's times add to become Unix times (the
 * realtime clock read between two monotonic reads, against their middle). */
static int64_t unix_offset_now(void)
{
    struct timespec rt;
    uint64_t a = sp_now_ns();
    clock_gettime(CLOCK_REALTIME, &rt);
    uint64_t b = sp_now_ns();
    int64_t real = (int64_t)rt.tv_sec * 1000000000 + rt.tv_nsec;
    return real - (int64_t)(a + (b - a) / 2);
}

/* Opens the client trace before the run, so a path that cannot be written (a missing folder, no
 * permission, a folder) fails at once instead of after the whole run. Opened for appending, so that a
 * file already there keeps its bytes until the run has succeeded (write_trace empties it then);
 * *existed says whether it was there, for the failed run's clean-up. */
static sp_status open_trace(const char *path, FILE **out, bool *existed, char *err, size_t errlen)
{
    *existed = access(path, F_OK) == 0;
    FILE *f = fopen(path, "a");
    if (!f) {
        sp_errf(err, errlen, "%s: cannot create the trace: %s", path, strerror(errno));
        return SP_ERR_IO;
    }
    setvbuf(f, NULL, _IOFBF, 1 << 16);
    *out = f;
    return SP_OK;
}

/* servprof.events/1 into f (open_trace's, emptied first; closed here): a meta line, then one "client"
 * line per request (warm-up included, marked), with the trace context it sent. */
static sp_status write_trace(load_run *r, FILE *f, const char *path, char *err, size_t errlen)
{
    struct stat sb;
    if (fstat(fileno(f), &sb) == 0 && S_ISREG(sb.st_mode) && ftruncate(fileno(f), 0) != 0) {
        sp_errf(err, errlen, "%s: cannot write the trace: %s", path, strerror(errno));
        fclose(f);
        return SP_ERR_IO;
    }
    fprintf(f, "{\"ev\":\"meta\",\"format\":\"servprof.events/1\",\"clock\":\"monotonic\","
               "\"source\":\"servprof load\",\"url\":");
    sp_json_write_str(f, r->o->url, 0);
    fprintf(f, ",\"arrival\":\"%s\",\"target_rate\":%.6g,\"seed\":%llu,\"unix_offset_ns\":%lld",
            arrival_name(r->o->arrival), r->o->arrival == SP_LOAD_ARRIVAL_REPLAY ? 0.0 : r->o->rate,
            (unsigned long long)r->o->seed, (long long)unix_offset_now());
    if (r->o->stream)
        fprintf(f, ",\"stream\":true,\"endpoint\":\"%s\"", r->o->chat ? "chat" : "completions");
    fprintf(f, "}\n");
    char tid[33], sid[17];
    sp_trace_context tc;
    for (size_t i = 0; i < r->n_recs && !ferror(f); i++) { /* stop at the first failed write */
        const load_rec *q = &r->recs[i];
        req_trace(r, i, &tc);
        sp_hex_write(tc.trace_id, 16, tid);
        sp_hex_write(tc.span_id, 8, sid);
        fprintf(f,
                "{\"ev\":\"client\",\"id\":\"%s-%zu\",\"intended_ns\":%llu,\"send_ns\":%llu,"
                "\"done_ns\":%llu,\"status\":%d,\"trace_id\":\"%s\",\"span_id\":\"%s\"%s",
                r->id_prefix, i + 1, (unsigned long long)q->intended, (unsigned long long)q->send,
                (unsigned long long)q->done, (int)q->status, tid, sid,
                (q->flags & REC_WARMUP) ? ",\"warmup\":true" : "");
        if (r->o->stream)
            sp_stream_trace_fields(f, &r->slog, (uint32_t)i, sp_textgen_max_tokens(&r->text, i), q->status);
        fputs("}\n", f);
    }
    /* a stream whose write failed keeps the unwritten bytes, so flushing again names the reason */
    bool bad = fflush(f) != 0 || ferror(f);
    int e = errno;
    if (fclose(f) != 0 && !bad) {
        bad = true;
        e = errno;
    }
    if (bad) {
        sp_errf(err, errlen, "%s: writing the trace failed: %s", path, strerror(e));
        return SP_ERR_IO;
    }
    return SP_OK;
}

static void run_free(load_run *r)
{
    if (r->conns) {
        for (unsigned i = 0; i < r->cap; i++) {
            if (r->conns[i].state != CONN_FREE)
                close(r->conns[i].fd);
            free(r->conns[i].wbuf);
            sp_stream_conn_free(&r->conns[i].stream);
        }
    }
    if (r->ep >= 0)
        close(r->ep);
    free(r->conns);
    free(r->idle);
    free(r->free_slots);
    free(r->recs);
    free(r->retry);
    free(r->body);
    free(r->replay);
    sp_textgen_free(&r->text);
    sp_stream_log_free(&r->slog);
}

/* Everything a run needs before its first request: the URL, the arrival schedule and the texts, the
 * server's address, the fixed request prefix, the connection slots and the epoll set. On failure,
 * run_free releases what was made. */
static sp_status run_open(load_run *r, const sp_load_config *o, char *err, size_t errlen)
{
    sp_status st;
    if ((st = sp_url_parse(o->url ? o->url : "", &r->url, err, errlen)) != SP_OK)
        return st;
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY &&
        (rlim_t)o->connections + 16 > rl.rlim_cur) {
        sp_errf(err, errlen, "%u connections need more descriptors than the open-file limit (%llu); "
                "raise it (ulimit -n) or lower the cap", o->connections, (unsigned long long)rl.rlim_cur);
        return SP_ERR_INVALID;
    }
    if (o->arrival == SP_LOAD_ARRIVAL_REPLAY) {
        if (!o->replay_path) {
            sp_errf(err, errlen, "replay needs a file of timestamps");
            return SP_ERR_INVALID;
        }
        if ((st = sp_load_read_replay(o->replay_path, &r->replay, &r->n_replay, err, errlen)) != SP_OK)
            return st;
    }
    if ((st = sp_arrivals_init(&r->arr, o, r->replay, r->n_replay, err, errlen)) != SP_OK ||
        (st = sp_textgen_init(&r->text, o, err, errlen)) != SP_OK ||
        (o->stream && (st = check_token_cap(r, err, errlen)) != SP_OK) || (st = resolve(r, err, errlen)) != SP_OK)
        return st;

    snprintf(r->id_prefix, sizeof r->id_prefix, "%s", o->id_prefix);
    /* trace ids must differ between runs (W3C: random), whatever the seed of the schedule */
    if (getrandom(r->trace_key, sizeof r->trace_key, GRND_NONBLOCK) != (ssize_t)sizeof r->trace_key) {
        uint64_t x = sp_now_ns() ^ ((uint64_t)getpid() << 40);
        for (int k = 0; k < 3; k++)
            r->trace_key[k] = sp_splitmix64(&x);
    }
    snprintf(r->model_json, sizeof r->model_json, "\",\"model\":\"%s\"}", o->model ? o->model : "");
    r->prefix_len = (size_t)snprintf(r->prefix, sizeof r->prefix,
                                     "POST %s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\n"
                                     "%sX-Request-Id: ",
                                     r->url.path, r->url.host_header,
                                     o->stream ? "Accept: text/event-stream\r\n" : "");
    r->cap = o->connections;
    r->conns = calloc(r->cap, sizeof *r->conns);
    r->idle = malloc(r->cap * sizeof *r->idle);
    r->free_slots = malloc(r->cap * sizeof *r->free_slots);
    r->body_cap = SP_LOAD_MAX_TEXT + 512;
    r->body = malloc(r->body_cap);
    if (!r->conns || !r->idle || !r->free_slots || !r->body)
        return SP_ERR_NOMEM;
    for (unsigned i = 0; i < r->cap; i++) {
        r->conns[i].fd = -1;
        r->conns[i].req = NO_REQ;
        r->free_slots[i] = r->cap - 1 - i;
    }
    r->n_free = r->cap;
    r->ep = epoll_create1(EPOLL_CLOEXEC);
    if (r->ep < 0) {
        sp_errf(err, errlen, "epoll_create1: %s", strerror(errno));
        return SP_ERR_IO;
    }
    r->have_pwait2 = true;
    r->timeout_ns = (uint64_t)(o->timeout_s * 1e9);
    r->warmup_ns = (uint64_t)(o->warmup_s * 1e9);
    r->end_ns = r->warmup_ns + (uint64_t)(o->duration_s * 1e9);
    r->measured_cap = o->requests;
    return SP_OK;
}

/* The caller asked to stop: nothing new is scheduled, what is due but unsent is marked, requests in
 * flight finish. */
static void run_stop(load_run *r, uint64_t now)
{
    r->gen_done = true;
    for (; r->next_dispatch < r->n_recs; r->next_dispatch++)
        outcome(r, (uint32_t)r->next_dispatch, SP_LOAD_ERR_UNSENT, now);
    for (; r->n_retry > 0; r->n_retry--)
        outcome(r, r->retry[r->n_retry - 1], SP_LOAD_ERR_UNSENT, now);
}

/* When the progress callback last ran and what had completed then. */
typedef struct progress_mark {
    uint64_t next, last_t, last_completed;
} progress_mark;

/* Calls the caller's progress callback once a second. */
static void run_progress(load_run *r, progress_mark *pm, uint64_t now)
{
    const sp_load_config *o = r->o;
    if (!o->progress || now < pm->next)
        return;
    sp_load_progress p = {0};
    p.elapsed_s = (double)(now - r->t0) / 1e9;
    p.scheduled = r->n_recs;
    p.completed = r->completed;
    p.errors = r->errors;
    p.in_flight = r->in_flight;
    p.waiting = (r->n_recs - r->next_dispatch) + r->n_retry;
    p.connections = r->n_open;
    p.rate_last_s = (double)(r->completed - pm->last_completed) * 1e9 / (double)(now - pm->last_t);
    pm->last_completed = r->completed;
    pm->last_t = now;
    o->progress(o->progress_user, &p);
    pm->next += 1000000000u;
    if (pm->next <= now)
        pm->next = now + 1000000000u;
}

/* Hands one batch of socket events to their connections. */
static void run_events(load_run *r, const struct epoll_event *evs, int n, char *rbuf, size_t rbufsz)
{
    for (int i = 0; i < n; i++) {
        uint32_t slot = evs[i].data.u32;
        load_conn *c = &r->conns[slot];
        uint32_t e = evs[i].events;
        if (c->state == CONN_FREE)
            continue; /* closed by an earlier event of this batch */
        if (c->state == CONN_CONNECTING) {
            if (e & (EPOLLOUT | EPOLLERR | EPOLLHUP))
                on_connected(r, slot, sp_now_ns());
            continue;
        }
        if ((e & EPOLLOUT) && c->state == CONN_BUSY && c->woff < c->wlen) {
            conn_write(r, slot, sp_now_ns());
            if (r->conns[slot].state == CONN_FREE)
                continue;
        }
        if (e & (EPOLLIN | EPOLLERR | EPOLLHUP))
            on_readable(r, slot, rbuf, rbufsz);
    }
}

/* The event loop: schedule, send, read, time out, until the schedule is over and every request is
 * answered, failed or marked unsent. */
static sp_status run_loop(load_run *r, char *err, size_t errlen)
{
    const sp_load_config *o = r->o;
    struct epoll_event evs[256];
    char *rbuf = malloc(65536);
    if (!rbuf)
        return SP_ERR_NOMEM;
    sp_status st = SP_OK;
    r->t0 = sp_now_ns();
    gen_advance(r);
    uint64_t next_scan = r->t0 + 10000000u;
    progress_mark pm = {r->t0 + 1000000000u, r->t0, 0};
    for (;;) {
        uint64_t now = sp_now_ns();
        if (o->stop && atomic_load_explicit(o->stop, memory_order_relaxed) && !r->gen_done)
            run_stop(r, now);
        gen_due(r, now);
        dispatch(r);
        if (now >= next_scan) {
            check_timeouts(r, now);
            next_scan = now + 10000000u;
        }
        run_progress(r, &pm, now);
        if (r->gen_done && r->next_dispatch >= r->n_recs && r->n_retry == 0 && r->in_flight == 0)
            break;
        uint64_t deadline = next_scan;
        if (!r->gen_done && r->t0 + r->next_offset < deadline)
            deadline = r->t0 + r->next_offset;
        int n = wait_events(r, evs, 256, sp_now_ns(), deadline);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            sp_errf(err, errlen, "epoll wait: %s", strerror(errno));
            st = SP_ERR_IO;
            break;
        }
        run_events(r, evs, n, rbuf, 65536);
    }
    free(rbuf);
    return st;
}

sp_status sp_load_run(const sp_load_config *o, sp_load_result **result, char *err, size_t errlen)
{
    if (!o || !result) {
        sp_errf(err, errlen, "sp_load_run: NULL argument");
        return SP_ERR_INVALID;
    }
    sp_status st = check_options(o, err, errlen);
    if (st != SP_OK)
        return st;
    load_run run, *r = &run;
    memset(r, 0, sizeof *r);
    r->ep = -1;
    r->o = o;
    sp_load_result *res = NULL;
    FILE *tf = NULL;
    bool trace_existed = false;
    if ((st = run_open(r, o, err, errlen)) == SP_OK && o->trace_path)
        st = open_trace(o->trace_path, &tf, &trace_existed, err, errlen);
    if (st == SP_OK) {
        /* The default 50 us timer slack would show up as schedule lag; 1 us is enough (restored). */
        int old_slack = prctl(PR_GET_TIMERSLACK, 0, 0, 0, 0);
        prctl(PR_SET_TIMERSLACK, 1000UL, 0, 0, 0);
        st = run_loop(r, err, errlen);
        if (old_slack > 0)
            prctl(PR_SET_TIMERSLACK, (unsigned long)old_slack, 0, 0, 0);
    }
    if (st == SP_OK && !(res = calloc(1, sizeof *res)))
        st = SP_ERR_NOMEM;
    if (st == SP_OK)
        st = compute_result(r, res);
    if (st == SP_OK && tf) {
        st = write_trace(r, tf, o->trace_path, err, errlen);
        tf = NULL;
    }
    if (tf) { /* the run failed: no trace rather than an empty one, and a file that was there kept */
        fclose(tf);
        if (!trace_existed)
            unlink(o->trace_path);
    }
    if (st == SP_OK) {
        *result = res;
        res = NULL;
    }
    free(res);
    run_free(r);
    return st;
}
