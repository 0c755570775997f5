/* The reference inference service: libmicrohttpd front end, request parsing and tokenisation,
 * the dynamic batcher and worker threads running the encoder, and the recording of every stage.
 * A request's connection is suspended while it waits for its batch and resumed by the worker that
 * ran it, so no HTTP thread blocks on the model. */
#include <arpa/inet.h>
#include <cblas.h>
#include <jansson.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "common/util_int.h"
#include "serve/gate_int.h"
#include "serve/serve_int.h"
#include "servprof/serve.h"

/* OpenBLAS's own thread count; declared here because only the pthread build's cblas.h has it. */
void openblas_set_num_threads(int num_threads);

enum req_route { ROUTE_EMBED = 1, ROUTE_HEALTH };
enum req_state {
    ST_RECEIVING = 0, /* headers and body arriving */
    ST_QUEUED,        /* suspended, in the batcher or a batch */
    ST_READY,         /* a worker (or the queue) decided the answer; the connection is resumed */
    ST_SENT
};

typedef struct req_ctx {
    sp_server *srv;
    struct MHD_Connection *conn;
    sp_gate_conn *gc;     /* the connection's record at the front door (deadlines); may be NULL */
    uint64_t id;
    uint64_t arrival_ns, enqueue_ns, batch_end_ns;
    int route;
    int state;
    int overflow;         /* body passed max_body: read and dropped, answered 413 */
    char *body;
    size_t body_len, body_cap;
    char label[256];      /* traceparent trace id or X-Request-Id; "" if none */
    /* tokenised inputs: seq i is ids[offs[i] .. offs[i] + lens[i]) */
    int32_t *ids;
    uint32_t *offs, *lens;
    uint32_t seqs, longest;
    uint64_t tokens;
    /* the answer, built by the worker (200) or the HTTP thread (errors) */
    unsigned http_status;
    char *resp;
    size_t resp_len;
    const char *retry_after;
    uint64_t done_ns;     /* when the answer was queued to the socket; 0: not yet */
    int label_recorded;
} req_ctx;

typedef struct worker {
    sp_server *srv;
    pthread_t thread;
    int started;
    sp_encoder_ws *ws;
    sp_batch_item *items;
    int32_t *ids;
    uint32_t *lens;
    float *out;
    uint64_t *members;
    size_t max_seqs;
    uint64_t batch_id; /* for the op hook */
    sp_cuda_ws *cws;   /* --device cuda: this worker's stream, buffers and graphs */
} worker;

struct sp_server {
    sp_server_options opt;
    char host[64];
    char model_name[128];
    unsigned port;
    uint32_t seq_len; /* tokens per input after truncation: min(max_len, pad_to) */
    sp_tokenizer *tok;
    sp_encoder *enc;
    sp_batcher *batcher;
    struct MHD_Daemon *daemon;
    sp_gate *gate;        /* the listening socket, connection caps, first-head screen, deadlines */
    worker *workers;
    unsigned nworkers;
    sp_recorder *rec;
    sp_name_id *op_names; /* interned once at start: the hot path passes ids */
    size_t op_count;
    int cuda;             /* --device cuda */
    int cupti_started;    /* this server started the collector (and stops it) */
    char device_note[512];
    const sp_cuda_backend *cb; /* --device cuda: the CUDA backend module's table */
    sp_cuda_model *cmodel;
    _Atomic uint64_t next_request, next_batch;
    atomic_int stopping;
    int stopped;
    pthread_mutex_t stop_mu;
    /* requests with a context not yet completed by libmicrohttpd, so stop can wait for answers */
    pthread_mutex_t live_mu;
    pthread_cond_t live_cv;
    uint64_t live;
    struct {
        _Atomic uint64_t requests, ok, rejected_full, bad_request, too_large, not_found, bad_method,
            unsupported_media, client_gone, batches, sequences, effective_tokens, padded_tokens;
    } st;
};

#define STAT_ADD(srv, field, n) atomic_fetch_add_explicit(&(srv)->st.field, (n), memory_order_relaxed)

void sp_server_options_init(sp_server_options *o)
{
    memset(o, 0, sizeof(*o));
    o->host = "127.0.0.1";
    o->seed = 1;
    o->model_name = "servprof-encoder";
    o->layers = SP_SERVER_DEFAULT_LAYERS;
    o->hidden = SP_SERVER_DEFAULT_HIDDEN;
    o->heads = SP_SERVER_DEFAULT_HEADS;
    o->ffn = SP_SERVER_DEFAULT_FFN;
    o->max_len = SP_SERVER_DEFAULT_MAX_LEN;
    o->max_batch = SP_SERVER_DEFAULT_MAX_BATCH;
    o->max_queue_delay_ms = SP_SERVER_DEFAULT_MAX_QUEUE_DELAY_MS;
    o->queue_capacity = SP_SERVER_DEFAULT_QUEUE_CAPACITY;
    o->workers = SP_SERVER_DEFAULT_WORKERS;
    o->http_threads = 1;
    o->max_body = 1u << 20;
    o->max_inputs = 256;
    o->max_connections = 1024;
    o->max_connections_per_ip = 256;
    o->connection_timeout_s = 30;
    o->header_timeout_s = 10;
    o->body_timeout_s = 30;
    o->max_header_bytes = 16384;
    o->device = "cpu";
    o->cuda_graph_cap = 64;
}

const char *sp_server_device_note(const sp_server *srv) { return srv->device_note; }

/* The shipped tokenizer: $SERVPROF_DATA_DIR/tokenizer.json, else share/servprof/tokenizer.json next
 * to the running program: <prefix>/share/servprof beside an installed <prefix>/bin/servprof, and
 * build/share/servprof in a build tree (CMake copies it there) for build/servprof and the
 * programs one folder down (build/tests, build/bench). No path from the source tree is compiled in,
 * so an installed or moved build finds its own copy. */
const char *sp_server_default_tokenizer(void)
{
    static char path[4096];
    const char *dir = getenv("SERVPROF_DATA_DIR");
    if (dir && *dir && strlen(dir) < sizeof(path) - 32) {
        snprintf(path, sizeof(path), "%s/tokenizer.json", dir);
        return path;
    }
    char exe[2048]; /* a folder plus the longest suffix below always fits path[] */
    ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
    if (n > 0 && (size_t)n < sizeof(exe) - 1) {
        exe[n] = '\0';
        char *slash = strrchr(exe, '/');
        if (slash) {
            *slash = '\0';
            static const char *const rel[] = {"/../share/servprof/tokenizer.json", "/share/servprof/tokenizer.json"};
            for (size_t i = 0; i < sizeof rel / sizeof rel[0]; i++) {
                snprintf(path, sizeof(path), "%s%s", exe, rel[i]);
                if (access(path, R_OK) == 0)
                    return path;
            }
        }
    }
    return "share/servprof/tokenizer.json"; /* relative: names what is missing in the error */
}

unsigned sp_server_port(const sp_server *srv) { return srv->port; }

void sp_server_get_stats(const sp_server *srv, sp_server_stats *s)
{
    sp_server *m = (sp_server *)srv; /* atomics loads need a non-const object */
#define LD(f) atomic_load_explicit(&m->st.f, memory_order_relaxed)
    sp_gate_stats g;
    memset(&g, 0, sizeof(g));
    if (m->gate)
        sp_gate_get_stats(m->gate, &g);
    /* requests the front door answered (a bad first head) count like the handler's answers */
    s->requests = LD(requests) + g.bad_heads;
    s->ok = LD(ok);
    s->rejected_full = LD(rejected_full);
    s->bad_request = LD(bad_request) + g.bad_heads_400;
    s->too_large = LD(too_large) + g.bad_heads_413;
    s->not_found = LD(not_found);
    s->bad_method = LD(bad_method);
    s->unsupported_media = LD(unsupported_media);
    s->client_gone = LD(client_gone);
    s->batches = LD(batches);
    s->sequences = LD(sequences);
    s->effective_tokens = LD(effective_tokens);
    s->padded_tokens = LD(padded_tokens);
#undef LD
    s->queue_depth = m->batcher ? sp_batcher_depth(m->batcher) : 0;
    s->connections_accepted = g.accepted;
    s->connections_refused_cap = g.refused_cap;
    s->connections_refused_per_ip = g.refused_per_ip;
    s->header_timeouts = g.header_timeouts;
    s->body_timeouts = g.body_timeouts;
    s->bad_heads = g.bad_heads;
    s->connections_open = g.open_now;
    s->connections_peak = g.open_peak;
    s->graph_captures = s->graph_replays = 0;
    /* read without a lock: plain counters of the workers, good enough for a summary after stop */
    for (unsigned i = 0; m->cb && m->workers && i < m->nworkers; i++) {
        if (!m->workers[i].cws)
            continue;
        sp_cuda_ws_stats ws;
        m->cb->ws_get_stats(m->workers[i].cws, &ws);
        s->graph_captures += ws.graph_captures;
        s->graph_replays += ws.graph_replays;
    }
}

/* ---- small output buffer for JSON answers ---- */

typedef struct outbuf {
    char *p;
    size_t len, cap;
    int failed;
} outbuf;

static void ob_reserve(outbuf *b, size_t more)
{
    if (b->failed || b->len + more + 1 <= b->cap)
        return;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + more + 1)
        cap *= 2;
    char *p = realloc(b->p, cap);
    if (!p) {
        b->failed = 1;
        return;
    }
    b->p = p;
    b->cap = cap;
}

static void ob_put(outbuf *b, const char *s, size_t n)
{
    ob_reserve(b, n);
    if (b->failed)
        return;
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = 0;
}

static void ob_str(outbuf *b, const char *s) { ob_put(b, s, strlen(s)); }

static void ob_printf(outbuf *b, const char *fmt, ...) SP_PRINTF(2, 3);
static void ob_printf(outbuf *b, const char *fmt, ...)
{
    char tmp[128];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
    va_end(ap);
    if (n > 0)
        ob_put(b, tmp, (size_t)n < sizeof(tmp) ? (size_t)n : sizeof(tmp) - 1);
}

/* ---- answers ---- */

static void set_error(req_ctx *r, unsigned status, const char *type, const char *message)
{
    char *text = sp_serve_error_json(type, message);
    free(r->resp);
    r->resp = text;
    r->resp_len = text ? strlen(text) : 0;
    r->http_status = status;
    sp_server *srv = r->srv;
    switch (status) {
    case MHD_HTTP_BAD_REQUEST: STAT_ADD(srv, bad_request, 1); break;
    case MHD_HTTP_CONTENT_TOO_LARGE:
    case MHD_HTTP_REQUEST_HEADER_FIELDS_TOO_LARGE: STAT_ADD(srv, too_large, 1); break;
    case MHD_HTTP_UNSUPPORTED_MEDIA_TYPE: STAT_ADD(srv, unsupported_media, 1); break;
    case MHD_HTTP_NOT_FOUND: STAT_ADD(srv, not_found, 1); break;
    case MHD_HTTP_METHOD_NOT_ALLOWED: STAT_ADD(srv, bad_method, 1); break;
    case MHD_HTTP_SERVICE_UNAVAILABLE: STAT_ADD(srv, rejected_full, 1); break;
    default: break;
    }
}

/* Hands the prepared answer to libmicrohttpd; the body buffer's ownership goes with it. */
static enum MHD_Result send_answer(req_ctx *r, const char *allow)
{
    struct MHD_Response *resp;
    if (r->resp) {
        resp = MHD_create_response_from_buffer(r->resp_len, r->resp, MHD_RESPMEM_MUST_FREE);
        if (resp)
            r->resp = NULL;
    } else {
        resp = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
        if (r->http_status == 0)
            r->http_status = MHD_HTTP_INTERNAL_SERVER_ERROR;
    }
    if (!resp)
        return MHD_NO;
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
    char idbuf[32];
    if (r->label[0]) {
        MHD_add_response_header(resp, "X-Request-Id", r->label);
    } else {
        snprintf(idbuf, sizeof(idbuf), "%llu", (unsigned long long)r->id);
        MHD_add_response_header(resp, "X-Request-Id", idbuf);
    }
    if (allow)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, allow);
    if (r->retry_after)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_RETRY_AFTER, r->retry_after);
    enum MHD_Result ret = MHD_queue_response(r->conn, r->http_status, resp);
    MHD_destroy_response(resp);
    r->state = ST_SENT;
    r->done_ns = sp_now_ns();
    /* answered: no header or body deadline while the answer goes out */
    sp_gate_set_phase(r->srv->gate, r->gc, SP_GATE_BUSY);
    return ret;
}

/* ---- request ids ---- */

static int is_hex(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return 0;
    return 1;
}

/* W3C trace context: "VV-<32 hex trace id>-<16 hex parent id>-FF"; the trace id (not all zeros)
 * is what a client's trace knows the request by. */
static int traceparent_id(const char *tp, char *out)
{
    if (!tp || strlen(tp) < 55 || tp[2] != '-' || tp[35] != '-' || tp[52] != '-' || !is_hex(tp, 2) ||
        !is_hex(tp + 3, 32) || !is_hex(tp + 36, 16) || !is_hex(tp + 53, 2) || strncmp(tp, "ff", 2) == 0)
        return 0;
    if (strspn(tp + 3, "0") >= 32)
        return 0;
    memcpy(out, tp + 3, 32);
    out[32] = 0;
    return 1;
}

static void take_label(req_ctx *r)
{
    const char *tp = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, "traceparent");
    if (traceparent_id(tp, r->label))
        return;
    const char *xr = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, "X-Request-Id");
    size_t n = xr ? strlen(xr) : 0;
    if (n == 0 || n >= sizeof(r->label))
        return;
    for (size_t i = 0; i < n; i++)
        if (xr[i] < 0x21 || xr[i] > 0x7e)
            return; /* printable ASCII only: it is echoed in a header */
    memcpy(r->label, xr, n + 1);
}

/* ---- preprocess: parse and tokenise ---- */

static int tokenize_into(req_ctx *r, json_t *input)
{
    sp_server *srv = r->srv;
    size_t n = json_is_string(input) ? 1 : json_array_size(input);
    r->ids = malloc(n * srv->seq_len * sizeof(int32_t));
    r->offs = malloc(n * sizeof(uint32_t));
    r->lens = malloc(n * sizeof(uint32_t));
    if (!r->ids || !r->offs || !r->lens)
        return 0;
    uint32_t at = 0;
    for (size_t i = 0; i < n; i++) {
        json_t *s = json_is_string(input) ? input : json_array_get(input, i);
        size_t k = sp_tokenizer_encode(srv->tok, json_string_value(s), json_string_length(s), r->ids + at,
                                       srv->seq_len);
        r->offs[i] = at;
        r->lens[i] = (uint32_t)k;
        at += (uint32_t)k;
        if (k > r->longest)
            r->longest = (uint32_t)k;
    }
    r->seqs = (uint32_t)n;
    r->tokens = at;
    return 1;
}

/* Checks "input" (a string or a non-empty list of at most max_inputs strings, none empty and none
 * holding a NUL) and "dimensions" (absent, null, or the model's own width: the embeddings cannot be
 * shortened). Returns 0 and sets a 400 answer when something is wrong. */
static int check_request_fields(req_ctx *r, json_t *root, json_t *input)
{
    sp_server *srv = r->srv;
    char msg[256];
    size_t n = json_is_string(input) ? 1 : json_is_array(input) ? json_array_size(input) : 0;
    int strings = n > 0;
    for (size_t i = 0; i < n && strings && json_is_array(input); i++)
        strings = json_is_string(json_array_get(input, i));
    if (!strings) {
        set_error(r, MHD_HTTP_BAD_REQUEST, "invalid_request_error",
                  "'input' must be a string or a non-empty list of strings");
        return 0;
    }
    if (n > srv->opt.max_inputs) {
        snprintf(msg, sizeof(msg), "'input' has %zu strings; at most %u are accepted", n, srv->opt.max_inputs);
        set_error(r, MHD_HTTP_BAD_REQUEST, "invalid_request_error", msg);
        return 0;
    }
    for (size_t i = 0; i < n; i++) {
        json_t *str = json_is_string(input) ? input : json_array_get(input, i);
        char where[40] = "'input'";
        if (json_is_array(input))
            snprintf(where, sizeof(where), "'input[%zu]'", i);
        if (json_string_length(str) == 0) {
            snprintf(msg, sizeof(msg), "%s is an empty string; there is nothing to embed", where);
            set_error(r, MHD_HTTP_BAD_REQUEST, "invalid_request_error", msg);
            return 0;
        }
        /* parsed with JSON_ALLOW_NUL so that this, not the parser's flag name, is the message */
        if (strlen(json_string_value(str)) != json_string_length(str)) {
            snprintf(msg, sizeof(msg), "%s contains a NUL character (\\u0000), which text input cannot hold", where);
            set_error(r, MHD_HTTP_BAD_REQUEST, "invalid_request_error", msg);
            return 0;
        }
    }
    json_t *dims = json_object_get(root, "dimensions");
    unsigned hidden = sp_encoder_get_config(srv->enc)->hidden;
    if (dims && !json_is_null(dims)) {
        if (!json_is_integer(dims) || json_integer_value(dims) < 1) {
            set_error(r, MHD_HTTP_BAD_REQUEST, "invalid_request_error", "'dimensions' must be a positive integer");
            return 0;
        }
        if (json_integer_value(dims) != (json_int_t)hidden) {
            snprintf(msg, sizeof(msg),
                     "'dimensions' is %lld, but this model's embeddings have %u dimensions and cannot be "
                     "shortened; omit 'dimensions' or pass %u",
                     (long long)json_integer_value(dims), hidden, hidden);
            set_error(r, MHD_HTTP_BAD_REQUEST, "invalid_request_error", msg);
            return 0;
        }
    }
    return 1;
}

/* Returns 0 and sets a 400 answer if the body is not a valid embeddings request. */
static int parse_request(req_ctx *r)
{
    json_error_t jerr;
    /* request bodies are capped at max_body: parsing them whole into a tree is right */
    json_t *root = json_loadb(r->body ? r->body : "", r->body_len, JSON_ALLOW_NUL, &jerr);
    char msg[256];
    if (!root) {
        snprintf(msg, sizeof(msg), "request body is not valid JSON at line %d, column %d (byte %d): %s", jerr.line,
                 jerr.column, jerr.position, jerr.text);
        set_error(r, MHD_HTTP_BAD_REQUEST, "invalid_request_error", msg);
        return 0;
    }
    int ok = 0;
    json_t *input = json_object_get(root, "input");
    json_t *fmt = json_object_get(root, "encoding_format");
    if (!json_is_object(root)) {
        set_error(r, MHD_HTTP_BAD_REQUEST, "invalid_request_error", "request body must be a JSON object");
    } else if (fmt && !(json_is_string(fmt) && strcmp(json_string_value(fmt), "float") == 0)) {
        set_error(r, MHD_HTTP_BAD_REQUEST, "invalid_request_error", "encoding_format: only \"float\" is supported");
    } else if (!input) {
        set_error(r, MHD_HTTP_BAD_REQUEST, "invalid_request_error", "'input' is required");
    } else {
        ok = check_request_fields(r, root, input);
    }
    if (ok && !tokenize_into(r, input)) {
        set_error(r, MHD_HTTP_INTERNAL_SERVER_ERROR, "server_error", "out of memory");
        ok = 0;
    }
    json_decref(root);
    return ok;
}

/* ---- the HTTP handler ---- */

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
static int check_head(req_ctx *r)
{
    sp_server *srv = r->srv;
    char msg[160];
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(r->conn, MHD_CONNECTION_INFO_REQUEST_HEADER_SIZE);
    if (ci && ci->header_size > srv->opt.max_header_bytes) {
        snprintf(msg, sizeof(msg), "the request headers exceed the limit of %zu bytes", srv->opt.max_header_bytes);
        set_error(r, MHD_HTTP_REQUEST_HEADER_FIELDS_TOO_LARGE, "invalid_request_error", msg);
        return 0;
    }
    length_seen ls = {NULL, 0};
    MHD_get_connection_values(r->conn, MHD_HEADER_KIND, on_length_header, &ls);
    if (ls.conflict) {
        set_error(r, MHD_HTTP_BAD_REQUEST, "invalid_request_error", "conflicting Content-Length headers");
        return 0;
    }
    return 1;
}

static void req_free(req_ctx *r)
{
    free(r->body);
    free(r->ids);
    free(r->offs);
    free(r->lens);
    free(r->resp);
    free(r);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
                                  const char *version, const char *upload_data, size_t *upload_size,
                                  void **con_cls)
{
    sp_server *srv = cls;
    req_ctx *r = *con_cls;
    if (!r) {
        /* first call: the request line and headers are in */
        uint64_t arrival = sp_now_ns();
        r = calloc(1, sizeof(*r));
        if (!r)
            return MHD_NO;
        r->srv = srv;
        r->conn = conn;
        r->arrival_ns = arrival;
        r->id = atomic_fetch_add_explicit(&srv->next_request, 1, memory_order_relaxed);
        *con_cls = r;
        live_add(srv, 1);
        STAT_ADD(srv, requests, 1);
        take_label(r);
        /* the headers are in: the body's deadline starts now (gate.c) */
        r->gc = sp_gate_conn_of(conn);
        sp_gate_set_phase(srv->gate, r->gc, SP_GATE_WAIT_BODY);
        int embed = strcmp(url, "/v1/embeddings") == 0;
        if (embed)
            r->route = ROUTE_EMBED; /* recorded whatever its answer, the head check's too (on_completed) */
        if (!check_head(r))
            return send_answer(r, NULL);
        if (embed) {
            if (strcmp(method, MHD_HTTP_METHOD_POST) != 0) {
                set_error(r, MHD_HTTP_METHOD_NOT_ALLOWED, "invalid_request_error", "use POST for /v1/embeddings");
                return send_answer(r, MHD_HTTP_METHOD_POST);
            }
            const char *ct = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE);
            if (ct && !is_json_type(ct)) {
                /* no Content-Type is taken as JSON (curl -d and many clients); another type is not */
                char msg[200];
                snprintf(msg, sizeof(msg), "Content-Type must be application/json, not '%.100s'", ct);
                set_error(r, MHD_HTTP_UNSUPPORTED_MEDIA_TYPE, "invalid_request_error", msg);
                return send_answer(r, NULL);
            }
            const char *cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
            unsigned long long want = cl ? strtoull(cl, NULL, 10) : 0;
            if (want > srv->opt.max_body) {
                /* answered before the body is read: libmicrohttpd then closes the connection */
                char msg[128];
                snprintf(msg, sizeof(msg), "request body of %llu bytes exceeds the limit of %zu", want,
                         srv->opt.max_body);
                set_error(r, MHD_HTTP_CONTENT_TOO_LARGE, "invalid_request_error", msg);
                return send_answer(r, NULL);
            }
            if (want > 0) {
                r->body = malloc(want + 1);
                if (!r->body)
                    return MHD_NO;
                r->body_cap = want + 1;
            }
            return MHD_YES;
        }
        if (strcmp(url, "/healthz") == 0) {
            if (strcmp(method, MHD_HTTP_METHOD_GET) != 0) {
                set_error(r, MHD_HTTP_METHOD_NOT_ALLOWED, "invalid_request_error", "use GET for /healthz");
                return send_answer(r, MHD_HTTP_METHOD_GET);
            }
            r->route = ROUTE_HEALTH;
            return MHD_YES;
        }
        set_error(r, MHD_HTTP_NOT_FOUND, "invalid_request_error", "unknown path");
        return send_answer(r, NULL);
    }

    if (r->state == ST_RECEIVING && *upload_size > 0) {
        size_t n = *upload_size;
        *upload_size = 0;
        if (r->overflow || r->body_len + n > srv->opt.max_body) {
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

    if (r->state == ST_RECEIVING) {
        /* the whole request is in */
        sp_gate_set_phase(srv->gate, r->gc, SP_GATE_BUSY);
        if (r->route == ROUTE_HEALTH) {
            r->http_status = MHD_HTTP_OK;
            r->resp = strdup("{\"status\":\"ok\"}");
            r->resp_len = r->resp ? strlen(r->resp) : 0;
            return send_answer(r, NULL);
        }
        if (r->overflow) {
            char msg[128];
            snprintf(msg, sizeof(msg), "request body exceeds the limit of %zu bytes", srv->opt.max_body);
            set_error(r, MHD_HTTP_CONTENT_TOO_LARGE, "invalid_request_error", msg);
            return send_answer(r, NULL);
        }
        if (!parse_request(r)) {
            /* the parse that refused it is the request's preprocessing */
            sp_record_stage(srv->rec, r->id, SP_STAGE_PREPROCESS, r->arrival_ns, sp_now_ns());
            return send_answer(r, NULL);
        }
        r->enqueue_ns = sp_now_ns();
        sp_record_stage(srv->rec, r->id, SP_STAGE_PREPROCESS, r->arrival_ns, r->enqueue_ns);
        if (r->label[0]) {
            sp_record_request_label(srv->rec, r->id, r->label, strlen(r->label));
            r->label_recorded = 1;
        }
        /* suspend before the batcher can see it, so a fast worker never resumes a connection that
         * is not yet suspended */
        r->state = ST_QUEUED;
        MHD_suspend_connection(conn);
        sp_status st = atomic_load_explicit(&srv->stopping, memory_order_relaxed)
                           ? SP_ERR_STATE
                           : sp_batcher_push(srv->batcher, r, r->seqs, r->longest, r->enqueue_ns);
        if (st != SP_OK) {
            set_error(r, MHD_HTTP_SERVICE_UNAVAILABLE, "server_overloaded",
                      st == SP_ERR_LIMIT ? "the request queue is full; retry later" : "the server is stopping");
            r->retry_after = "1";
            r->state = ST_READY;
            MHD_resume_connection(conn);
        }
        return MHD_YES;
    }

    if (r->state == ST_READY) {
        /* resumed by a worker (or by the queue-full path above) */
        int served = r->http_status == MHD_HTTP_OK;
        enum MHD_Result ret = send_answer(r, NULL);
        if (served) {
            /* postprocess runs from the end of the batch through response assembly (in the worker)
             * to the hand-off to the socket here; the request record follows in on_completed, once
             * libmicrohttpd says whether the client got the answer */
            sp_record_stage(srv->rec, r->id, SP_STAGE_POSTPROCESS, r->batch_end_ns, r->done_ns);
            STAT_ADD(srv, ok, 1);
        }
        return ret;
    }
    return MHD_YES; /* ST_QUEUED (spurious call) or ST_SENT */
}

/* Records an embeddings request as it ended (DESIGN 8a, docs/serve.md): its request record from
 * arrival to the hand-off of its answer (or to now, when it never got one) and, unless it was
 * answered 200 and delivered, its outcome: cancelled when the client went away first, rejected for
 * a 503 (queue full, or the server stopping), error for any other status. */
static void record_ended(sp_server *srv, req_ctx *r, enum MHD_RequestTerminationCode toe)
{
    if (!srv->rec || r->route != ROUTE_EMBED)
        return;
    uint64_t done = r->done_ns ? r->done_ns : sp_now_ns();
    if (r->label[0] && !r->label_recorded)
        sp_record_request_label(srv->rec, r->id, r->label, strlen(r->label));
    sp_record_request(srv->rec, r->id, r->arrival_ns, done, r->tokens ? (int64_t)r->tokens : -1);
    sp_outcome o = toe != MHD_REQUEST_TERMINATED_COMPLETED_OK            ? SP_OUTCOME_CANCELLED
                   : r->http_status == MHD_HTTP_OK                       ? SP_OUTCOME_OK
                   : r->http_status == MHD_HTTP_SERVICE_UNAVAILABLE      ? SP_OUTCOME_REJECTED
                                                                         : SP_OUTCOME_ERROR;
    if (o != SP_OUTCOME_OK)
        sp_record_outcome(srv->rec, r->id, o, (int32_t)r->http_status);
}

/* Whether a request head's target is /v1/embeddings (its query aside): "METHOD SP TARGET SP ...",
 * after any empty lines. */
static int head_is_embeddings(const char *p, size_t n)
{
    static const char path[] = "/v1/embeddings";
    size_t i = 0;
    while (i < n && (p[i] == '\r' || p[i] == '\n'))
        i++;
    while (i < n && p[i] != ' ' && p[i] != '\r' && p[i] != '\n')
        i++;
    if (i >= n || p[i] != ' ')
        return 0;
    i++;
    size_t l = sizeof(path) - 1;
    return n - i > l && memcmp(p + i, path, l) == 0 && (p[i + l] == ' ' || p[i + l] == '?');
}

/* The front door answered a request itself (gate.c): a connection refused at the caps (503, no
 * request read: rejected), or a bad request head for /v1/embeddings (an error with its status). It is
 * recorded like the handler's answers (record_ended), with no spans; its id is the next request id. */
static void on_gate_answered(void *user, unsigned status, uint64_t start_ns, const char *head, size_t head_len)
{
    sp_server *srv = user;
    if (!srv->rec || (head ? !head_is_embeddings(head, head_len) : status != MHD_HTTP_SERVICE_UNAVAILABLE))
        return;
    uint64_t id = atomic_fetch_add_explicit(&srv->next_request, 1, memory_order_relaxed);
    sp_record_request(srv->rec, id, start_ns, sp_now_ns(), -1);
    sp_record_outcome(srv->rec, id, status == MHD_HTTP_SERVICE_UNAVAILABLE ? SP_OUTCOME_REJECTED : SP_OUTCOME_ERROR,
                      (int32_t)status);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls, enum MHD_RequestTerminationCode toe)
{
    sp_server *srv = cls;
    req_ctx *r = *con_cls;
    if (!r)
        return;
    record_ended(srv, r, toe);
    if (toe != MHD_REQUEST_TERMINATED_COMPLETED_OK)
        STAT_ADD(srv, client_gone, 1);
    /* a keep-alive connection now waits for its next request: the header deadline starts again */
    sp_gate_set_phase(srv->gate, r->gc, SP_GATE_WAIT_HEAD);
    *con_cls = NULL;
    req_free(r);
    live_add(srv, -1);
}

/* ---- workers ---- */

static void on_op(void *user, size_t op, uint64_t start_ns, uint64_t end_ns)
{
    worker *w = user;
    if (!w->srv->rec)
        return;
    /* CPU work stands in for device activity: device 0, stream 0, tied to the batch by id */
    sp_kernel_record k = {w->batch_id, w->srv->op_names[op], 0, 0, 0, start_ns, end_ns};
    sp_record_kernel(w->srv->rec, &k);
}

static void build_response(sp_server *srv, req_ctx *r, const float *emb)
{
    size_t H = sp_encoder_get_config(srv->enc)->hidden;
    outbuf b = {0};
    ob_reserve(&b, r->seqs * (H * 16 + 64) + 256);
    ob_str(&b, "{\"object\":\"list\",\"data\":[");
    for (uint32_t i = 0; i < r->seqs; i++) {
        ob_printf(&b, "%s{\"object\":\"embedding\",\"index\":%u,\"embedding\":[", i ? "," : "", i);
        const float *e = emb + (size_t)i * H;
        for (size_t j = 0; j < H; j++)
            ob_printf(&b, j ? ",%.8g" : "%.8g", (double)e[j]);
        ob_str(&b, "]}");
    }
    ob_str(&b, "],\"model\":\"");
    ob_str(&b, srv->model_name);
    ob_printf(&b, "\",\"usage\":{\"prompt_tokens\":%llu,\"total_tokens\":%llu}}", (unsigned long long)r->tokens,
              (unsigned long long)r->tokens);
    if (b.failed) {
        free(b.p);
        set_error(r, MHD_HTTP_INTERNAL_SERVER_ERROR, "server_error", "out of memory");
        return;
    }
    r->resp = b.p;
    r->resp_len = b.len;
    r->http_status = MHD_HTTP_OK;
}

static void *worker_main(void *arg)
{
    worker *w = arg;
    sp_server *srv = w->srv;
    const size_t H = sp_encoder_get_config(srv->enc)->hidden;
    const int32_t pad_id = sp_tokenizer_pad_id(srv->tok);
    for (;;) {
        uint32_t padded = 0;
        size_t n = sp_batcher_next(srv->batcher, w->items, srv->opt.max_batch, &padded);
        if (n == 0)
            break;
        uint64_t dispatch = sp_now_ns();
        w->batch_id = atomic_fetch_add_explicit(&srv->next_batch, 1, memory_order_relaxed);
        size_t seqs = 0;
        uint64_t effective = 0;
        for (size_t i = 0; i < n; i++) {
            req_ctx *r = w->items[i].user;
            sp_record_stage(srv->rec, r->id, SP_STAGE_QUEUE, r->enqueue_ns, dispatch);
            w->members[i] = r->id;
            for (uint32_t s = 0; s < r->seqs; s++, seqs++) {
                int32_t *row = w->ids + seqs * padded;
                memcpy(row, r->ids + r->offs[s], r->lens[s] * sizeof(int32_t));
                for (size_t t = r->lens[s]; t < padded; t++)
                    row[t] = pad_id;
                w->lens[seqs] = r->lens[s];
                effective += r->lens[s];
            }
        }
        sp_status st;
        if (srv->cuda) {
            /* device work launched meanwhile is tied to this batch by CUPTI correlation id, or in
             * lean mode by this window, which ends when the embeddings are in host memory
             * (forward waits), so all of the batch's device work falls inside it */
            srv->cb->cupti_batch_begin(w->batch_id);
            st = srv->cb->forward(w->cws, w->ids, w->lens, seqs, padded, w->out, NULL, 0);
            srv->cb->cupti_batch_end();
        } else
            st = sp_encoder_forward(srv->enc, w->ws, w->ids, w->lens, seqs, padded, w->out, on_op, w);
        uint64_t end = sp_now_ns();
        /* DESIGN section 2: effective = sum of member lengths; padded = batch size x padded length */
        sp_record_batch(srv->rec, w->batch_id, w->members, n, dispatch, end, effective, (uint64_t)seqs * padded);
        STAT_ADD(srv, batches, 1);
        STAT_ADD(srv, sequences, seqs);
        STAT_ADD(srv, effective_tokens, effective);
        STAT_ADD(srv, padded_tokens, (uint64_t)seqs * padded);
        size_t at = 0;
        for (size_t i = 0; i < n; i++) {
            req_ctx *r = w->items[i].user;
            r->batch_end_ns = end;
            if (st == SP_OK)
                build_response(srv, r, w->out + at * H);
            else
                set_error(r, MHD_HTTP_INTERNAL_SERVER_ERROR, "server_error", sp_status_str(st));
            at += r->seqs;
            r->state = ST_READY;
            /* last touch: once resumed, the HTTP thread owns the request again */
            MHD_resume_connection(r->conn);
        }
        /* a new shape under --cuda-graphs is captured now, after its batch was answered, so the
         * capture's host time lands in no batch window (a failed capture just leaves it eager) */
        if (srv->cuda && st == SP_OK)
            (void)srv->cb->ws_capture_pending(w->cws, NULL, 0);
    }
    return NULL;
}

/* ---- start and stop ---- */

static sp_status check_options(const sp_server_options *o, char *err, size_t errlen)
{
    if (o->max_batch == 0 || o->max_batch > SP_SERVER_MAX_BATCH || o->queue_capacity == 0 ||
        o->queue_capacity > SP_SERVER_MAX_QUEUE_CAPACITY || o->workers == 0 || o->workers > SP_SERVER_MAX_WORKERS ||
        o->http_threads == 0 || o->http_threads > SP_SERVER_MAX_HTTP_THREADS || o->max_body == 0 ||
        o->max_body > SP_SERVER_MAX_BODY || o->max_inputs == 0 || o->max_inputs > SP_SERVER_MAX_INPUTS ||
        o->max_connections == 0 ||
        !(o->max_queue_delay_ms >= 0 && o->max_queue_delay_ms <= SP_SERVER_MAX_QUEUE_DELAY_MS) || o->port > 65535) {
        sp_errf(err, errlen,
                "option out of range (max-batch 1..%u, queue-capacity 1..%u, workers 1..%u, http-threads 1..%u, "
                "max-body 1..%zu, max-inputs 1..%u, max-queue-delay-ms 0..%g, port 0..65535)",
                SP_SERVER_MAX_BATCH, SP_SERVER_MAX_QUEUE_CAPACITY, SP_SERVER_MAX_WORKERS, SP_SERVER_MAX_HTTP_THREADS,
                SP_SERVER_MAX_BODY, SP_SERVER_MAX_INPUTS, SP_SERVER_MAX_QUEUE_DELAY_MS);
        return SP_ERR_INVALID;
    }
    if (o->max_connections > SP_SERVER_MAX_CONNECTIONS || o->max_connections_per_ip > SP_SERVER_MAX_CONNECTIONS ||
        o->max_header_bytes < SP_SERVER_MIN_HEADER_BYTES || o->max_header_bytes > SP_SERVER_MAX_HEADER_BYTES ||
        !(o->header_timeout_s >= 0 && o->header_timeout_s <= SP_SERVER_MAX_TIMEOUT_S) ||
        !(o->body_timeout_s >= 0 && o->body_timeout_s <= SP_SERVER_MAX_TIMEOUT_S)) {
        sp_errf(err, errlen,
                "option out of range (max-connections 1..%u, max-connections-per-ip 0..%u, max-header-bytes "
                "%u..%u, header-timeout and body-timeout 0..%g s)",
                SP_SERVER_MAX_CONNECTIONS, SP_SERVER_MAX_CONNECTIONS, SP_SERVER_MIN_HEADER_BYTES,
                SP_SERVER_MAX_HEADER_BYTES, SP_SERVER_MAX_TIMEOUT_S);
        return SP_ERR_INVALID;
    }
    if (o->cupti_mode < SP_SERVER_CUPTI_AUTO || o->cupti_mode > SP_SERVER_CUPTI_LAUNCHES) {
        sp_errf(err, errlen, "cupti_mode %d is not one of SP_SERVER_CUPTI_*", o->cupti_mode);
        return SP_ERR_INVALID;
    }
    if (o->pad_to && (o->pad_to < 2 || o->pad_to > o->max_len)) {
        sp_errf(err, errlen, "--pad-to %u must be in 2..max-len (%u)", o->pad_to, o->max_len);
        return SP_ERR_INVALID;
    }
    for (int i = 0; i < SP_SERVER_MAX_BUCKETS && o->buckets[i]; i++) {
        if (o->buckets[i] > o->max_len || (i > 0 && o->buckets[i] <= o->buckets[i - 1])) {
            sp_errf(err, errlen, "buckets must ascend and be at most max-len (%u)", o->max_len);
            return SP_ERR_INVALID;
        }
    }
    if (o->pad_to && o->buckets[0]) {
        sp_errf(err, errlen, "--pad-to and --buckets exclude each other");
        return SP_ERR_INVALID;
    }
    const char *m = o->model_name ? o->model_name : "";
    if (!*m || strlen(m) >= 128 || strspn(m, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._:/-") !=
                                       strlen(m)) {
        sp_errf(err, errlen, "model name must be 1-127 characters of [A-Za-z0-9._:/-]");
        return SP_ERR_INVALID;
    }
    return SP_OK;
}

/* Writes the service's device, model and batching policy into the trace as properties
 * (docs/native-format.md "Properties"), so the analysis and `servprof whatif` read the policy that
 * actually ran instead of inferring it. Best effort: a property that cannot be set is left out. */
static void record_properties(const sp_server *srv, const sp_batcher_config *bc, const sp_encoder_config *ec)
{
    if (!srv->rec)
        return;
    char v[SP_SERVER_MAX_BUCKETS * 12 + 16];
    struct {
        const char *key;
        uint64_t val;
    } nums[] = {
        {"policy.max_batch", bc->max_batch},   {"policy.max_queue_delay_ns", bc->max_delay_ns},
        {"policy.workers", srv->opt.workers},  {"policy.queue_capacity", bc->capacity},
        {"policy.max_len", bc->max_len},       {"model.layers", ec->layers},
        {"model.hidden", ec->hidden},          {"model.heads", ec->heads},
        {"model.ffn", ec->ffn},
    };
    sp_recorder_set_property(srv->rec, "service", "servprof-serve");
    sp_recorder_set_property(srv->rec, "device", srv->cuda ? "cuda" : "cpu");
    for (size_t i = 0; i < sizeof nums / sizeof nums[0]; i++) {
        snprintf(v, sizeof v, "%llu", (unsigned long long)nums[i].val);
        sp_recorder_set_property(srv->rec, nums[i].key, v);
    }
    const char *pad = bc->pad_to ? "static" : bc->buckets[0] ? "buckets" : "longest";
    sp_recorder_set_property(srv->rec, "policy.pad", pad);
    if (bc->pad_to) {
        snprintf(v, sizeof v, "%u", bc->pad_to);
        sp_recorder_set_property(srv->rec, "policy.pad_to", v);
    }
    if (bc->buckets[0]) {
        size_t n = 0;
        for (int i = 0; i < SP_BATCHER_MAX_BUCKETS && bc->buckets[i]; i++)
            n += (size_t)snprintf(v + n, sizeof v - n, "%s%u", i ? "," : "", bc->buckets[i]);
        sp_recorder_set_property(srv->rec, "policy.buckets", v);
    }
}

sp_status sp_server_start(const sp_server_options *opt, sp_server **out, char *err, size_t errlen)
{
    if (!opt || !out)
        return SP_ERR_INVALID;
    sp_status st = check_options(opt, err, errlen);
    if (st != SP_OK)
        return st;
    sp_server *srv = calloc(1, sizeof(*srv));
    if (!srv)
        return SP_ERR_NOMEM;
    srv->opt = *opt;
    snprintf(srv->host, sizeof(srv->host), "%s", opt->host ? opt->host : "127.0.0.1");
    snprintf(srv->model_name, sizeof(srv->model_name), "%s", opt->model_name);
    srv->opt.host = srv->host;
    srv->opt.model_name = srv->model_name;
    srv->opt.tokenizer_path = srv->opt.weights_path = NULL; /* borrowed: not kept */
    srv->rec = opt->recorder;
    atomic_init(&srv->next_request, 1);
    atomic_init(&srv->next_batch, 1);
    atomic_init(&srv->stopping, 0);
    pthread_mutex_init(&srv->stop_mu, NULL);
    pthread_mutex_init(&srv->live_mu, NULL);
    pthread_cond_init(&srv->live_cv, NULL);

    const char *tpath = opt->tokenizer_path ? opt->tokenizer_path : sp_server_default_tokenizer();
    if ((st = sp_tokenizer_load(tpath, &srv->tok, err, errlen)) != SP_OK)
        goto fail;
    if (opt->weights_path) {
        if ((st = sp_encoder_load_safetensors(opt->weights_path, opt->heads, &srv->enc, err, errlen)) != SP_OK)
            goto fail;
        if (sp_encoder_get_config(srv->enc)->vocab_size < sp_tokenizer_vocab_size(srv->tok)) {
            sp_errf(err, errlen, "%s: the model's vocabulary (%u) is smaller than the tokenizer's (%zu)",
                    opt->weights_path, sp_encoder_get_config(srv->enc)->vocab_size,
                    sp_tokenizer_vocab_size(srv->tok));
            st = SP_ERR_INVALID;
            goto fail;
        }
    } else {
        sp_encoder_config cfg = {(uint32_t)sp_tokenizer_vocab_size(srv->tok), opt->hidden, opt->layers, opt->heads,
                                 opt->ffn, opt->max_len};
        if ((st = sp_encoder_create_seeded(&cfg, opt->seed, &srv->enc, err, errlen)) != SP_OK)
            goto fail;
    }
    const sp_encoder_config *ec = sp_encoder_get_config(srv->enc);
    srv->seq_len = ec->max_len < opt->max_len ? ec->max_len : opt->max_len;
    if (opt->pad_to && opt->pad_to < srv->seq_len)
        srv->seq_len = opt->pad_to;
    int fits = srv->seq_len >= 2 && !(opt->pad_to && opt->pad_to > ec->max_len);
    for (int i = 0; i < SP_SERVER_MAX_BUCKETS && opt->buckets[i]; i++)
        fits = fits && opt->buckets[i] <= srv->seq_len;
    if (!fits) {
        sp_errf(err, errlen, "the model takes at most %u positions; max-len, pad-to and buckets must fit",
                ec->max_len);
        st = SP_ERR_INVALID;
        goto fail;
    }

    /* names interned once, here, so recording a kernel passes a small id */
    srv->op_count = sp_encoder_op_count(srv->enc);
    srv->op_names = calloc(srv->op_count, sizeof(*srv->op_names));
    if (!srv->op_names) {
        st = SP_ERR_NOMEM;
        goto fail;
    }
    for (size_t i = 0; i < srv->op_count && srv->rec; i++) {
        char nm[64];
        srv->op_names[i] = sp_recorder_intern(srv->rec, sp_encoder_op_name(srv->enc, i, nm, sizeof(nm)));
    }

    sp_batcher_config bc;
    memset(&bc, 0, sizeof(bc));
    bc.max_batch = opt->max_batch;
    bc.max_delay_ns = (uint64_t)(opt->max_queue_delay_ms * 1e6 + 0.5);
    bc.capacity = opt->queue_capacity;
    bc.pad_to = opt->pad_to;
    for (int i = 0; i < SP_SERVER_MAX_BUCKETS && i < SP_BATCHER_MAX_BUCKETS; i++)
        bc.buckets[i] = opt->buckets[i];
    bc.max_len = srv->seq_len;
    if ((st = sp_batcher_create(&bc, &srv->batcher)) != SP_OK) {
        sp_errf(err, errlen, "cannot create the batcher: %s", sp_status_str(st));
        goto fail;
    }

    const char *dev = opt->device && *opt->device ? opt->device : "cpu";
    if (strcmp(dev, "cuda") == 0) {
        srv->cuda = 1;
    } else if (strcmp(dev, "cpu") != 0) {
        sp_errf(err, errlen, "unknown device '%s' (cpu or cuda)", dev);
        st = SP_ERR_INVALID;
        goto fail;
    } else {
        snprintf(srv->device_note, sizeof(srv->device_note), "device: cpu (OpenBLAS, one thread per worker)");
    }
    if (srv->cuda) {
        /* the module (and through it cudart, cuBLAS, CUPTI) is opened here and nowhere else */
        char why[1024] = "";
        if ((st = sp_cuda_backend_load(&srv->cb, why, sizeof(why))) != SP_OK) {
            sp_errf(err, errlen, "--device cuda: %s", why);
            goto fail;
        }
        int ndev = srv->cb->device_count(why, sizeof(why));
        if (ndev == 0 || opt->cuda_device >= (unsigned)ndev) {
            if (ndev > 0)
                snprintf(why, sizeof(why), "CUDA device %u does not exist (%d found)", opt->cuda_device, ndev);
            sp_errf(err, errlen, "--device cuda: %s", why);
            st = SP_ERR_UNSUPPORTED;
            goto fail;
        }
        if (opt->cuda_graphs && (opt->cuda_graph_cap == 0 || opt->cuda_graph_cap > SP_SERVER_MAX_CUDA_GRAPH_CAP)) {
            sp_errf(err, errlen, "--cuda-graph-cap must be 1..%u", SP_SERVER_MAX_CUDA_GRAPH_CAP);
            st = SP_ERR_INVALID;
            goto fail;
        }
        sp_cuda_weights wv;
        if ((st = sp_cuda_weights_view(srv->enc, &wv)) != SP_OK)
            goto fail;
        st = srv->cb->model_create(&wv, (int)opt->cuda_device, &srv->cmodel, err, errlen);
        sp_cuda_weights_view_free(&wv);
        if (st != SP_OK)
            goto fail;
    }

    /* one BLAS thread: each worker runs its own batch, and 2 cores are shared with HTTP */
    openblas_set_num_threads(1);
    srv->nworkers = opt->workers;
    srv->workers = calloc(opt->workers, sizeof(worker));
    if (!srv->workers) {
        st = SP_ERR_NOMEM;
        goto fail;
    }
    size_t max_seqs = opt->max_batch > opt->max_inputs ? opt->max_batch : opt->max_inputs;
    for (unsigned i = 0; i < opt->workers; i++) {
        worker *w = &srv->workers[i];
        w->srv = srv;
        w->max_seqs = max_seqs;
        w->items = calloc(opt->max_batch, sizeof(*w->items));
        w->members = calloc(opt->max_batch, sizeof(*w->members));
        w->ids = malloc(max_seqs * srv->seq_len * sizeof(int32_t));
        w->lens = malloc(max_seqs * sizeof(uint32_t));
        w->out = malloc(max_seqs * ec->hidden * sizeof(float));
        if (!w->items || !w->members || !w->ids || !w->lens || !w->out ||
            sp_encoder_ws_create(max_seqs * srv->seq_len, &w->ws) != SP_OK) {
            st = SP_ERR_NOMEM;
            goto fail;
        }
        if (srv->cuda && (st = srv->cb->ws_create(srv->cmodel, max_seqs, srv->seq_len,
                                                  opt->cuda_graphs ? opt->cuda_graph_cap : 0, &w->cws, err,
                                                  errlen)) != SP_OK)
            goto fail;
    }
    if (srv->cuda) {
        /* started after the weights are up, so the trace's GPU timeline is the serving, not the
         * start-up; the server's own recorder, so kernels and copies join its batches */
        char desc[200], cbuf[256];
        srv->cb->device_describe((int)opt->cuda_device, desc, sizeof(desc));
        const char *rec_note = "device activity not recorded (no trace)";
        int mode = opt->cupti_mode;
        if (mode == SP_SERVER_CUPTI_AUTO)
            /* lean ties work to batches by window, exact only when one thread launches batches */
            mode = opt->workers == 1 ? SP_SERVER_CUPTI_LEAN : SP_SERVER_CUPTI_LAUNCHES;
        if (srv->rec && mode == SP_SERVER_CUPTI_OFF) {
            rec_note = "CUPTI off (--no-cupti): batches and stages recorded, device activity NOT recorded "
                       "(batch time shows as gap)";
        } else if (srv->rec) {
            sp_cupti_options co;
            srv->cb->cupti_options_init(&co);
            co.record_nvtx_batches = 0;
            if (mode == SP_SERVER_CUPTI_LEAN) {
                co.api_callbacks = SP_CUPTI_API_NONE;
                co.record_launches = 0;
                co.record_syncs = 0;
            }
            sp_status cs = srv->cb->cupti_start(srv->rec, &co);
            if (cs == SP_OK) {
                srv->cupti_started = 1;
                if (mode == SP_SERVER_CUPTI_LEAN && opt->workers > 1)
                    rec_note = "CUPTI lean (no API callbacks): kernels and copies recorded, tied to batches by "
                               "window; with several workers overlapping windows leave work untied";
                else if (mode == SP_SERVER_CUPTI_LEAN)
                    rec_note = "CUPTI lean (no API callbacks): kernels and copies recorded, tied to batches by "
                               "window (one worker: exact)";
                else
                    rec_note = "CUPTI with launch callbacks: kernels, copies and launch calls recorded, tied to "
                               "batches by correlation id";
            } else {
                sp_cupti_stats cst;
                srv->cb->cupti_get_stats(&cst);
                if (cst.subscriber_conflict)
                    snprintf(cbuf, sizeof(cbuf),
                             "CUPTI is held by another subscriber (%s): device activity is NOT recorded, only "
                             "batch windows (their time shows as gap)",
                             cst.conflict_with[0] ? cst.conflict_with : "unknown");
                else
                    snprintf(cbuf, sizeof(cbuf),
                             "CUPTI could not start (%s): device activity is NOT recorded, only batch windows "
                             "(their time shows as gap)",
                             sp_status_str(cs));
                rec_note = cbuf;
            }
        }
        snprintf(srv->device_note, sizeof(srv->device_note), "device: cuda %u (%s), %s; %s", opt->cuda_device, desc,
                 opt->cuda_graphs ? "CUDA graphs per batch shape" : "eager launches", rec_note);
    }
    record_properties(srv, &bc, ec);
    for (unsigned i = 0; i < opt->workers; i++) {
        if (pthread_create(&srv->workers[i].thread, NULL, worker_main, &srv->workers[i]) != 0) {
            sp_errf(err, errlen, "cannot start worker threads");
            st = SP_ERR_NOMEM;
            goto fail;
        }
        srv->workers[i].started = 1;
    }

    sp_gate_config gc;
    memset(&gc, 0, sizeof(gc));
    struct sockaddr_in *a4 = (struct sockaddr_in *)&gc.addr;
    struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)&gc.addr;
    if (inet_pton(AF_INET, srv->host, &a4->sin_addr) == 1) {
        a4->sin_family = AF_INET;
        a4->sin_port = htons((uint16_t)opt->port);
        gc.addrlen = sizeof(*a4);
    } else if (inet_pton(AF_INET6, srv->host, &a6->sin6_addr) == 1) {
        a6->sin6_family = AF_INET6;
        a6->sin6_port = htons((uint16_t)opt->port);
        gc.addrlen = sizeof(*a6);
    } else {
        sp_errf(err, errlen, "host '%s' is not a numeric IPv4 or IPv6 address", srv->host);
        st = SP_ERR_INVALID;
        goto fail;
    }
    gc.on_answered = on_gate_answered;
    gc.on_answered_user = srv;
    gc.max_connections = opt->max_connections;
    gc.max_per_ip = opt->max_connections_per_ip;
    gc.header_timeout_ns = (uint64_t)(opt->header_timeout_s * 1e9 + 0.5);
    gc.body_timeout_ns = (uint64_t)(opt->body_timeout_s * 1e9 + 0.5);
    gc.max_head_bytes = opt->max_header_bytes;
    gc.max_body = opt->max_body;
    if ((st = sp_gate_open(&gc, &srv->gate, err, errlen)) != SP_OK)
        goto fail;
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
        st = SP_ERR_IO;
        goto fail;
    }
    if ((st = sp_gate_start(srv->gate, srv->daemon, err, errlen)) != SP_OK)
        goto fail;
    srv->port = sp_gate_port(srv->gate);
    *out = srv;
    return SP_OK;
fail:
    sp_server_destroy(srv);
    return st;
}

sp_status sp_server_save_weights(const sp_server_options *opt, const char *path, char *err, size_t errlen)
{
    sp_tokenizer *tok;
    sp_status st = sp_tokenizer_load(opt->tokenizer_path ? opt->tokenizer_path : sp_server_default_tokenizer(), &tok,
                                     err, errlen);
    if (st != SP_OK)
        return st;
    sp_encoder_config cfg = {(uint32_t)sp_tokenizer_vocab_size(tok), opt->hidden, opt->layers, opt->heads, opt->ffn,
                             opt->max_len};
    sp_tokenizer_destroy(tok);
    sp_encoder *enc;
    if ((st = sp_encoder_create_seeded(&cfg, opt->seed, &enc, err, errlen)) != SP_OK)
        return st;
    st = sp_encoder_save_safetensors(enc, path, err, errlen);
    sp_encoder_destroy(enc);
    return st;
}

void sp_server_stop(sp_server *srv)
{
    if (!srv)
        return;
    pthread_mutex_lock(&srv->stop_mu);
    if (srv->stopped) {
        pthread_mutex_unlock(&srv->stop_mu);
        return;
    }
    srv->stopped = 1;
    atomic_store_explicit(&srv->stopping, 1, memory_order_relaxed);
    /* no new connections; requests already queued still get their answers */
    sp_gate_stop(srv->gate);
    if (srv->batcher)
        sp_batcher_close(srv->batcher);
    for (unsigned i = 0; srv->workers && i < srv->nworkers; i++)
        if (srv->workers[i].started) {
            pthread_join(srv->workers[i].thread, NULL);
            srv->workers[i].started = 0;
        }
    /* the device is idle now: flush CUPTI's buffers into the recorder while it is still open */
    if (srv->cupti_started) {
        srv->cb->cupti_stop();
        srv->cupti_started = 0;
    }
    if (srv->daemon) {
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
    pthread_mutex_unlock(&srv->stop_mu);
}

void sp_server_destroy(sp_server *srv)
{
    if (!srv)
        return;
    sp_server_stop(srv);
    for (unsigned i = 0; srv->workers && i < srv->nworkers; i++) {
        worker *w = &srv->workers[i];
        sp_encoder_ws_destroy(w->ws);
        if (srv->cb)
            srv->cb->ws_destroy(w->cws);
        free(w->items);
        free(w->members);
        free(w->ids);
        free(w->lens);
        free(w->out);
    }
    free(srv->workers);
    sp_batcher_destroy(srv->batcher);
    sp_encoder_destroy(srv->enc);
    if (srv->cb)
        srv->cb->model_destroy(srv->cmodel);
    sp_tokenizer_destroy(srv->tok);
    free(srv->op_names);
    sp_gate_destroy(srv->gate); /* after the daemon, whose close notifications use it */
    pthread_mutex_destroy(&srv->stop_mu);
    pthread_mutex_destroy(&srv->live_mu);
    pthread_cond_destroy(&srv->live_cv);
    free(srv);
}
