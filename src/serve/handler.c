/* The HTTP side of the service: libmicrohttpd started behind the front door (gate.c), and its
 * request handler, which screens a request's head again on keep-alive connections, routes it,
 * reads its body, has it parsed (request.c), suspends its connection while it waits in the batcher,
 * and sends its answer (answer.c) once a worker resumes it; then the completion notice, which ends
 * the request's record (record.c). A request's connection is suspended while it waits for its
 * batch, so no HTTP thread blocks on the model. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>

#include "common/util_int.h"
#include "serve/gen_service_int.h"
#include "serve/mhd_int.h"
#include "serve/server_int.h"

static void live_add(sp_server *srv, int delta)
{
    pthread_mutex_lock(&srv->live_mu);
    srv->live += (uint64_t)(int64_t)delta;
    if (srv->live == 0)
        pthread_cond_broadcast(&srv->live_cv);
    pthread_mutex_unlock(&srv->live_mu);
}

/* Is a Content-Type JSON? application/json or application/<anything>+json, parameters ignored. */
static int is_json_type(const char *ct)
{
    while (*ct == ' ' || *ct == '\t')
        ct++;
    size_t n = strcspn(ct, "; \t");
    if (n == 16 && strncasecmp(ct, "application/json", 16) == 0)
        return 1;
    return n > 17 && strncasecmp(ct, "application/", 12) == 0 && strncasecmp(ct + n - 5, "+json", 5) == 0;
}

typedef struct length_seen {
    const char *first;
    int conflict;
} length_seen;

static enum MHD_Result on_length_header(void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
    length_seen *ls = cls;
    if (key && strcasecmp(key, MHD_HTTP_HEADER_CONTENT_LENGTH) == 0 && value) {
        if (!ls->first)
            ls->first = value;
        else if (strtoull(ls->first, NULL, 10) != strtoull(value, NULL, 10))
            ls->conflict = 1;
    }
    return MHD_YES;
}

/* What the front door (gate.c) screens on a connection's first request head, checked again for
 * the later requests of a keep-alive connection, which libmicrohttpd reads without the screen:
 * the head's size and conflicting Content-Length headers (libmicrohttpd would use the first). */
static int check_head(sp_srv_req *r)
{
    sp_server *srv = r->srv;
    char msg[160];
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(r->conn, MHD_CONNECTION_INFO_REQUEST_HEADER_SIZE);
    if (ci && ci->header_size > srv->opt.max_header_bytes) {
        snprintf(msg, sizeof(msg), "the request headers exceed the limit of %zu bytes", srv->opt.max_header_bytes);
        sp_srv_set_error(r, MHD_HTTP_REQUEST_HEADER_FIELDS_TOO_LARGE, "invalid_request_error", msg);
        return 0;
    }
    length_seen ls = {NULL, 0};
    MHD_get_connection_values(r->conn, MHD_HEADER_KIND, on_length_header, &ls);
    if (ls.conflict) {
        sp_srv_set_error(r, MHD_HTTP_BAD_REQUEST, "invalid_request_error", "conflicting Content-Length headers");
        return 0;
    }
    return 1;
}

static void req_free(sp_srv_req *r)
{
    free(r->body);
    free(r->ids);
    free(r->offs);
    free(r->lens);
    free(r->resp);
    free(r);
}

/* ---- the handler, one function per step of a request ---- */

/* The rest of the first call for a POST endpoint (/v1/embeddings, or /v1/completions and
 * /v1/chat/completions with --generate): the method, the Content-Type, a declared length past
 * max_body (answered before the body is read: libmicrohttpd then closes the connection), and room for
 * the declared body. */
static enum MHD_Result begin_post(sp_srv_req *r, const char *method, const char *url)
{
    sp_server *srv = r->srv;
    if (strcmp(method, MHD_HTTP_METHOD_POST) != 0) {
        char msg[80];
        snprintf(msg, sizeof(msg), "use POST for %s", url);
        sp_srv_set_error(r, MHD_HTTP_METHOD_NOT_ALLOWED, "invalid_request_error", msg);
        return sp_srv_send_answer(r, MHD_HTTP_METHOD_POST);
    }
    const char *ct = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE);
    if (ct && !is_json_type(ct)) {
        /* no Content-Type is taken as JSON (curl -d and many clients); another type is not */
        char msg[200];
        snprintf(msg, sizeof(msg), "Content-Type must be application/json, not '%.100s'", ct);
        sp_srv_set_error(r, MHD_HTTP_UNSUPPORTED_MEDIA_TYPE, "invalid_request_error", msg);
        return sp_srv_send_answer(r, NULL);
    }
    const char *cl = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
    unsigned long long want = cl ? strtoull(cl, NULL, 10) : 0;
    if (want > srv->opt.max_body) {
        char msg[128];
        snprintf(msg, sizeof(msg), "request body of %llu bytes exceeds the limit of %zu", want, srv->opt.max_body);
        sp_srv_set_error(r, MHD_HTTP_CONTENT_TOO_LARGE, "invalid_request_error", msg);
        return sp_srv_send_answer(r, NULL);
    }
    if (want > 0) {
        r->body = malloc(want + 1);
        if (!r->body)
            return MHD_NO;
        r->body_cap = want + 1;
    }
    return MHD_YES;
}

/* First call: the request line and headers are in. Creates the request's context, starts its body
 * deadline, and answers at once what needs no body (a bad head, a wrong method or path). */
static enum MHD_Result on_head(sp_server *srv, struct MHD_Connection *conn, const char *url, const char *method,
                               void **con_cls)
{
    uint64_t arrival = sp_now_ns();
    sp_srv_req *r = calloc(1, sizeof(*r));
    if (!r)
        return MHD_NO;
    r->srv = srv;
    r->conn = conn;
    r->arrival_ns = arrival;
    r->id = atomic_fetch_add_explicit(&srv->next_request, 1, memory_order_relaxed);
    *con_cls = r;
    live_add(srv, 1);
    SP_SRV_STAT_ADD(srv, requests, 1);
    sp_srv_take_label(r);
    /* the headers are in: the body's deadline starts now (gate.c) */
    r->gc = sp_gate_conn_of(conn);
    sp_gate_set_phase(srv->gate, r->gc, SP_GATE_WAIT_BODY);
    int embed = strcmp(url, "/v1/embeddings") == 0, gen = sp_gen_route(url);
    /* the service serves embeddings or, with --generate, completions; the others' paths are 404 */
    if (srv->gen ? embed : gen) {
        sp_srv_set_error(r, MHD_HTTP_NOT_FOUND, "invalid_request_error",
                         srv->gen ? "this service generates text (--generate): /v1/embeddings is not served"
                                  : "this service embeds: start it with --generate to serve completions");
        return sp_srv_send_answer(r, NULL);
    }
    if (embed || gen)
        r->route = embed ? SP_SRV_ROUTE_EMBED : gen; /* recorded whatever its answer (on_completed) */
    if (!check_head(r))
        return sp_srv_send_answer(r, NULL);
    if (embed || gen)
        return begin_post(r, method, url);
    if (strcmp(url, "/healthz") == 0 || strcmp(url, "/metrics") == 0) {
        int health = url[1] == 'h';
        if (strcmp(method, MHD_HTTP_METHOD_GET) != 0) {
            sp_srv_set_error(r, MHD_HTTP_METHOD_NOT_ALLOWED, "invalid_request_error",
                             health ? "use GET for /healthz" : "use GET for /metrics");
            return sp_srv_send_answer(r, MHD_HTTP_METHOD_GET);
        }
        r->route = health ? SP_SRV_ROUTE_HEALTH : SP_SRV_ROUTE_METRICS;
        return MHD_YES;
    }
    sp_srv_set_error(r, MHD_HTTP_NOT_FOUND, "invalid_request_error", "unknown path");
    return sp_srv_send_answer(r, NULL);
}

/* A piece of the body: kept, up to max_body; past it (a chunked body) dropped, and 413 at the end. */
static enum MHD_Result on_body_bytes(sp_srv_req *r, const char *upload_data, size_t *upload_size)
{
    size_t n = *upload_size;
    *upload_size = 0;
    if (r->overflow || r->body_len + n > r->srv->opt.max_body) {
        r->overflow = 1; /* chunked body past the limit: drop the rest, answer 413 at the end */
        return MHD_YES;
    }
    if (r->body_len + n + 1 > r->body_cap) {
        size_t cap = r->body_cap ? r->body_cap : 4096;
        while (cap < r->body_len + n + 1)
            cap *= 2;
        char *p = realloc(r->body, cap);
        if (!p)
            return MHD_NO;
        r->body = p;
        r->body_cap = cap;
    }
    memcpy(r->body + r->body_len, upload_data, n);
    r->body_len += n;
    return MHD_YES;
}

/* GET /metrics: the recorder's live metrics as Prometheus text (docs/metrics.md); 404 when the
 * service records nothing or its recorder keeps no live metrics (`servprof serve --no-metrics`). */
static enum MHD_Result answer_metrics(sp_srv_req *r)
{
    char *text = NULL;
    size_t len = 0;
    sp_status st = r->srv->rec ? sp_recorder_metrics_text(r->srv->rec, &text, &len) : SP_ERR_STATE;
    if (st == SP_ERR_STATE) {
        sp_srv_set_error(r, MHD_HTTP_NOT_FOUND, "invalid_request_error",
                         "this server keeps no live metrics (started with --no-metrics, or its recorder has none)");
        return sp_srv_send_answer(r, NULL);
    }
    if (st != SP_OK) {
        sp_srv_set_error(r, MHD_HTTP_INTERNAL_SERVER_ERROR, "server_error", sp_status_str(st));
        return sp_srv_send_answer(r, NULL);
    }
    /* the text is malloc'd (sp_metrics_text_free is free), so libmicrohttpd may free it */
    r->resp = text;
    r->resp_len = len;
    r->http_status = MHD_HTTP_OK;
    r->content_type = SP_METRICS_CONTENT_TYPE;
    SP_SRV_STAT_ADD(r->srv, metrics_served, 1);
    return sp_srv_send_answer(r, NULL);
}

/* The whole request is in: /healthz and /metrics are answered; an embeddings request is parsed and tokenised
 * (its preprocess stage) and queued for a batch, its connection suspended until a worker resumes
 * it; a full queue or a stopping server answers 503. */
static enum MHD_Result on_request_in(sp_srv_req *r)
{
    sp_server *srv = r->srv;
    sp_gate_set_phase(srv->gate, r->gc, SP_GATE_BUSY);
    if (r->route == SP_SRV_ROUTE_HEALTH) {
        r->http_status = MHD_HTTP_OK;
        r->resp = strdup("{\"status\":\"ok\"}");
        r->resp_len = r->resp ? strlen(r->resp) : 0;
        SP_SRV_STAT_ADD(srv, health_served, 1);
        return sp_srv_send_answer(r, NULL);
    }
    if (r->route == SP_SRV_ROUTE_METRICS)
        return answer_metrics(r);
    if (r->overflow) {
        char msg[128];
        snprintf(msg, sizeof(msg), "request body exceeds the limit of %zu bytes", srv->opt.max_body);
        sp_srv_set_error(r, MHD_HTTP_CONTENT_TOO_LARGE, "invalid_request_error", msg);
        return sp_srv_send_answer(r, NULL);
    }
    if (r->route != SP_SRV_ROUTE_EMBED)
        return sp_gen_request_in(r);
    if (!sp_srv_parse_request(r)) {
        /* the parse that refused it is the request's preprocessing */
        sp_record_stage(srv->rec, r->id, SP_STAGE_PREPROCESS, r->arrival_ns, sp_now_ns());
        return sp_srv_send_answer(r, NULL);
    }
    r->enqueue_ns = sp_now_ns();
    sp_record_stage(srv->rec, r->id, SP_STAGE_PREPROCESS, r->arrival_ns, r->enqueue_ns);
    sp_srv_record_identity(srv, r);
    /* suspend before the batcher can see it, so a fast worker never resumes a connection that
     * is not yet suspended */
    r->state = SP_SRV_QUEUED;
    MHD_suspend_connection(r->conn);
    sp_status st = atomic_load_explicit(&srv->stopping, memory_order_relaxed)
                       ? SP_ERR_STATE
                       : sp_batcher_push(srv->batcher, r, r->seqs, r->longest, r->enqueue_ns);
    if (st != SP_OK) {
        sp_srv_set_busy(r, st == SP_ERR_LIMIT);
        r->state = SP_SRV_READY;
        MHD_resume_connection(r->conn);
    }
    return MHD_YES;
}

/* Whether the client closed its connection (end of stream or a reset waiting on the socket). A
 * suspended connection is not watched by libmicrohttpd, so a client that left while its request
 * was queued or computing is seen only here; without this its answer was written into a closed
 * socket and the request counted ok. */
static int client_left(struct MHD_Connection *conn)
{
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
    if (!ci)
        return 0;
    char c;
    ssize_t n = recv(ci->connect_fd, &c, 1, MSG_PEEK | MSG_DONTWAIT);
    return n == 0 || (n < 0 && (errno == ECONNRESET || errno == EPIPE));
}

/* Resumed by a worker (or by the queue-full path above): the answer goes out, unless the client has
 * gone (then the connection is closed: the request is recorded cancelled, with the status it would
 * have had, and counted closed early). */
static enum MHD_Result on_resumed(sp_srv_req *r)
{
    sp_server *srv = r->srv;
    if (r->route != SP_SRV_ROUTE_EMBED)
        return sp_gen_on_resumed(r);
    if (client_left(r->conn))
        return MHD_NO;
    int served = r->http_status == MHD_HTTP_OK;
    enum MHD_Result ret = sp_srv_send_answer(r, NULL);
    if (served) {
        /* postprocess runs from the end of the batch through response assembly (in the worker)
         * to the hand-off to the socket here; the request record follows in on_completed, once
         * libmicrohttpd says whether the client got the answer */
        sp_record_stage(srv->rec, r->id, SP_STAGE_POSTPROCESS, r->batch_end_ns, r->done_ns);
        SP_SRV_STAT_ADD(srv, ok, 1);
    }
    return ret;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
                                  const char *version, const char *upload_data, size_t *upload_size,
                                  void **con_cls)
{
    sp_srv_req *r = *con_cls;
    if (!r)
        return on_head(cls, conn, url, method, con_cls);
    if (r->state == SP_SRV_RECEIVING && *upload_size > 0)
        return on_body_bytes(r, upload_data, upload_size);
    if (r->state == SP_SRV_RECEIVING)
        return on_request_in(r);
    if (r->state == SP_SRV_READY)
        return on_resumed(r);
    return MHD_YES; /* SP_SRV_QUEUED (spurious call) or SP_SRV_SENT */
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls, enum MHD_RequestTerminationCode toe)
{
    sp_server *srv = cls;
    sp_srv_req *r = *con_cls;
    if (!r)
        return;
    sp_srv_record_ended(srv, r, toe);
    sp_gen_request_ended(srv, r, toe);
    if (toe != MHD_REQUEST_TERMINATED_COMPLETED_OK)
        SP_SRV_STAT_ADD(srv, client_gone, 1);
    /* a keep-alive connection now waits for its next request: the header deadline starts again */
    sp_gate_set_phase(srv->gate, r->gc, SP_GATE_WAIT_HEAD);
    *con_cls = NULL;
    req_free(r);
    live_add(srv, -1);
}

/* ---- start and stop ---- */

/* The gate's configuration from the server's options. SP_ERR_INVALID for a host that is not a
 * numeric address. */
static sp_status gate_config(sp_server *srv, sp_gate_config *gc, char *err, size_t errlen)
{
    const sp_server_options *opt = &srv->opt;
    memset(gc, 0, sizeof(*gc));
    struct sockaddr_in *a4 = (struct sockaddr_in *)&gc->addr;
    struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)&gc->addr;
    if (inet_pton(AF_INET, srv->host, &a4->sin_addr) == 1) {
        a4->sin_family = AF_INET;
        a4->sin_port = htons((uint16_t)opt->port);
        gc->addrlen = sizeof(*a4);
    } else if (inet_pton(AF_INET6, srv->host, &a6->sin6_addr) == 1) {
        a6->sin6_family = AF_INET6;
        a6->sin6_port = htons((uint16_t)opt->port);
        gc->addrlen = sizeof(*a6);
    } else {
        sp_errf(err, errlen, "host '%s' is not a numeric IPv4 or IPv6 address", srv->host);
        return SP_ERR_INVALID;
    }
    gc->on_answered = sp_srv_on_gate_answered;
    gc->on_answered_user = srv;
    gc->max_connections = opt->max_connections;
    gc->max_per_ip = opt->max_connections_per_ip;
    gc->header_timeout_ns = (uint64_t)(opt->header_timeout_s * 1e9 + 0.5);
    gc->body_timeout_ns = (uint64_t)(opt->body_timeout_s * 1e9 + 0.5);
    gc->max_head_bytes = opt->max_header_bytes;
    gc->max_body = opt->max_body;
    return SP_OK;
}

sp_status sp_srv_http_start(sp_server *srv, char *err, size_t errlen)
{
    const sp_server_options *opt = &srv->opt;
    sp_gate_config gc;
    sp_status st = sp_mhd_open(err, errlen); /* opened here, not linked: src/serve/mhd.c */
    if (st == SP_OK)
        st = gate_config(srv, &gc, err, errlen);
    if (st != SP_OK)
        return st;
    if ((st = sp_gate_open(&gc, &srv->gate, err, errlen)) != SP_OK)
        return st;
    /* libmicrohttpd gets its connections from the gate (MHD_add_connection), never from a socket of
     * its own. Its connection limit is a backstop above the gate's cap: the gate counts a connection
     * until libmicrohttpd reports it closed, a moment before libmicrohttpd itself stops counting it.
     * Its memory pool holds four times the largest head the gate admits, so it never answers 431
     * itself for one. */
    size_t pool = 4 * opt->max_header_bytes > 32768 ? 4 * opt->max_header_bytes : 32768;
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME |
                     MHD_USE_NO_LISTEN_SOCKET | MHD_USE_ITC;
    srv->daemon = MHD_start_daemon(flags, 0, NULL, NULL, on_request, srv, MHD_OPTION_NOTIFY_COMPLETED, on_completed,
                                   srv, MHD_OPTION_NOTIFY_CONNECTION, sp_gate_on_connection, srv->gate,
                                   MHD_OPTION_CONNECTION_LIMIT, 2 * opt->max_connections + 16,
                                   MHD_OPTION_CONNECTION_TIMEOUT, opt->connection_timeout_s,
                                   MHD_OPTION_CONNECTION_MEMORY_LIMIT, pool, MHD_OPTION_THREAD_POOL_SIZE,
                                   opt->http_threads > 1 ? opt->http_threads : 0, MHD_OPTION_END);
    if (!srv->daemon) {
        sp_errf(err, errlen, "cannot start the HTTP server (libmicrohttpd)");
        return SP_ERR_IO;
    }
    if ((st = sp_gate_start(srv->gate, srv->daemon, err, errlen)) != SP_OK)
        return st;
    srv->port = sp_gate_port(srv->gate);
    return SP_OK;
}

void sp_srv_http_stop(sp_server *srv)
{
    if (!srv->daemon)
        return;
    /* give resumed requests up to 2 s to be written; idle keep-alive connections hold no request */
    uint64_t deadline = sp_now_ns() + 2000000000ull;
    pthread_mutex_lock(&srv->live_mu);
    while (srv->live > 0 && sp_now_ns() < deadline) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += 10000000;
        if (ts.tv_nsec >= 1000000000) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000;
        }
        pthread_cond_timedwait(&srv->live_cv, &srv->live_mu, &ts);
    }
    pthread_mutex_unlock(&srv->live_mu);
    MHD_stop_daemon(srv->daemon);
    srv->daemon = NULL;
}
