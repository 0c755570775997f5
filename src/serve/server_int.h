/* What the files of the service share: the server object, a request's context and a worker, and the
 * calls one file makes into another. server.c starts and stops the service (the public sp_server_*
 * API); handler.c is the HTTP side, request.c reads a request, answer.c writes its answer, worker.c
 * runs the batches, device.c the device they run on, record.c what goes into the trace besides the
 * spans. Private to src/serve. */
#ifndef SERVPROF_SERVE_SERVER_INT_H
#define SERVPROF_SERVE_SERVER_INT_H

#include <microhttpd.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "common/util_int.h"
#include "serve/gate_int.h"
#include "serve/serve_int.h"
#include "servprof/serve.h"

enum sp_srv_route {
    SP_SRV_ROUTE_EMBED = 1,
    SP_SRV_ROUTE_HEALTH,
    SP_SRV_ROUTE_COMPLETIONS, /* --generate: /v1/completions */
    SP_SRV_ROUTE_CHAT,        /* --generate: /v1/chat/completions */
    SP_SRV_ROUTE_METRICS      /* GET /metrics: the recorder's live metrics */
};
enum sp_srv_req_state {
    SP_SRV_RECEIVING = 0, /* headers and body arriving */
    SP_SRV_QUEUED,        /* suspended, in the batcher or a batch */
    SP_SRV_READY,         /* a worker (or the queue) decided the answer; the connection is resumed */
    SP_SRV_SENT
};

/* One HTTP request, from its first handler call to libmicrohttpd's completion notice. The HTTP
 * thread owns it, except between the batcher push and MHD_resume_connection, when the worker does. */
typedef struct sp_srv_req {
    sp_server *srv;
    struct MHD_Connection *conn;
    sp_gate_conn *gc;     /* the connection's record at the front door (deadlines); may be NULL */
    uint64_t id;
    uint64_t arrival_ns, enqueue_ns, batch_end_ns;
    int route;            /* enum sp_srv_route; 0: neither */
    int state;            /* enum sp_srv_req_state */
    int overflow;         /* body passed max_body: read and dropped, answered 413 */
    char *body;
    size_t body_len, body_cap;
    char label[256];      /* X-Request-Id, else the traceparent's trace id; "" if none */
    int has_trace;        /* a valid traceparent came: the request continues that trace */
    sp_trace_context trace; /* its trace id, the caller's span as parent, a fresh span of ours */
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
    const char *content_type; /* of the answer; NULL: application/json */
    uint64_t done_ns;     /* when the answer was queued to the socket; 0: not yet */
    int label_recorded;   /* label and trace context are in the trace (sp_srv_record_identity) */
    struct sp_gen_req *gen; /* a generation request's state (gen_service_int.h); NULL otherwise */
} sp_srv_req;

/* A batch worker: its thread and the buffers of one batch, sized at start for the largest. */
typedef struct sp_srv_worker {
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
} sp_srv_worker;

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
    sp_srv_worker *workers;
    unsigned nworkers;
    sp_recorder *rec;
    sp_name_id *op_names; /* interned once at start: the hot path passes ids */
    size_t op_count;
    int cuda;             /* --device cuda */
    int cupti_started;    /* this server started the collector (and stops it) */
    char device_note[640];
    const sp_cuda_backend *cb; /* --device cuda: the CUDA backend module's table */
    sp_cuda_model *cmodel;
    struct sp_gen *gen;   /* --generate: the decoder, scheduler and engine (gen_service_int.h) */
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
            unsupported_media, client_gone, batches, sequences, effective_tokens, padded_tokens,
            metrics_served, health_served, rejected_stopping;
    } st;
};

/* The counters are summaries read after the fact: relaxed is enough. */
#define SP_SRV_STAT_ADD(srv, field, n) atomic_fetch_add_explicit(&(srv)->st.field, (n), memory_order_relaxed)

/* ---------------- the HTTP side (handler.c) ---------------- */

/* Opens the front door on srv->opt's address (gate.c), starts libmicrohttpd behind it with the
 * handler, then lets the gate accept; sets srv->port. On failure `err` says why. */
sp_status sp_srv_http_start(sp_server *srv, char *err, size_t errlen);

/* Gives the requests libmicrohttpd still holds up to 2 s to be written, then stops libmicrohttpd.
 * Call after the gate stopped accepting and the workers finished. */
void sp_srv_http_stop(sp_server *srv);

/* ---------------- reading a request (request.c) ---------------- */

/* The request's id and trace from its headers: a valid W3C traceparent into r->trace (its trace id,
 * the caller's span as the parent, a fresh random span id for this request; r->has_trace), and into
 * r->label a printable X-Request-Id, else the traceparent's trace id (32 hex digits); "" when neither
 * is usable. */
void sp_srv_take_label(sp_srv_req *r);
/* Records r's label and trace context once (the first call; later calls do nothing). */
void sp_srv_record_identity(sp_server *srv, sp_srv_req *r);

/* Parses r's body as an embeddings request and tokenises its inputs into r->ids/offs/lens. Returns
 * 0 with a 400 (or a 500 when out of memory) answer set when it is not a valid one. */
int sp_srv_parse_request(sp_srv_req *r);

/* ---------------- answers (answer.c) ---------------- */

/* A growable buffer for the answers' JSON: appends never fail one by one; `failed` says whether any
 * did (out of memory), and `p` (NUL-terminated, malloc'd) is the caller's to free. */
typedef struct sp_srv_outbuf {
    char *p;
    size_t len, cap;
    int failed;
} sp_srv_outbuf;
void sp_srv_ob_reserve(sp_srv_outbuf *b, size_t more);
void sp_srv_ob_put(sp_srv_outbuf *b, const char *s, size_t n);
void sp_srv_ob_str(sp_srv_outbuf *b, const char *s);
void sp_srv_ob_printf(sp_srv_outbuf *b, const char *fmt, ...) SP_PRINTF(2, 3);

/* Sets an OpenAI-shaped error answer (head_check.c's body) with `status`, and counts it (a 503 is
 * counted by sp_srv_set_busy, which knows why). */
void sp_srv_set_error(sp_srv_req *r, unsigned status, const char *type, const char *message);
/* Sets the 503 answer (Retry-After: 1) of a request the service cannot take, and counts it by why:
 * its queue is full (`full`), or the server is stopping. */
void sp_srv_set_busy(sp_srv_req *r, int full);

/* Sets the 200 answer: the embeddings of r's inputs, emb[i * hidden + j] (a 500 when out of memory). */
void sp_srv_build_response(sp_server *srv, sp_srv_req *r, const float *emb);

/* Hands the prepared answer to libmicrohttpd with the X-Request-Id (and `allow`, when not NULL, as
 * the Allow header); the body buffer's ownership goes with it. Sets done_ns and lifts the request's
 * deadline. */
enum MHD_Result sp_srv_send_answer(sp_srv_req *r, const char *allow);

/* ---------------- batches (worker.c) ---------------- */

/* Allocates srv->opt.workers workers with buffers for the largest batch (and, with the CUDA
 * backend, a workspace each); threads are not started. On failure `err` may say why. */
sp_status sp_srv_workers_create(sp_server *srv, char *err, size_t errlen);
/* Starts the workers' threads. */
sp_status sp_srv_workers_start(sp_server *srv, char *err, size_t errlen);
/* Joins the started workers; they return once the closed batcher is empty. */
void sp_srv_workers_join(sp_server *srv);
/* Frees the workers' buffers and workspaces (after join). */
void sp_srv_workers_free(sp_server *srv);

/* ---------------- the device (device.c) ---------------- */

/* Sets the device up: "cpu", or "cuda" (the module, the GPU, the weights uploaded); then OpenBLAS to
 * one thread. On failure `err` says why. */
sp_status sp_srv_device_open(sp_server *srv, char *err, size_t errlen);
/* --device cuda's common part (the encoder's and the generation service's): opens the backend module
 * (srv->cb), checks that opt.cuda_device exists and the graph cap, and sets srv->cuda. On failure
 * `err` says why, prefixed "--device cuda: " where the module or the device is the cause. */
sp_status sp_srv_cuda_open(sp_server *srv, char *err, size_t errlen);
/* With the CUDA backend, a worker's workspace for max_seqs inputs; SP_OK and nothing on the CPU. */
sp_status sp_srv_device_ws_create(sp_server *srv, sp_srv_worker *w, char *err, size_t errlen);
void sp_srv_device_ws_destroy(sp_server *srv, sp_srv_worker *w);
/* With the CUDA backend and a recorder, starts CUPTI as opt.cupti_mode says; with the CUDA backend
 * writes the device note (the CPU's is written by sp_srv_device_open). Call after the workspaces
 * exist, so the trace's GPU timeline is the serving, not the start-up. */
void sp_srv_device_start_recording(sp_server *srv);
/* Flushes and stops CUPTI when this server started it (after the workers finished). */
void sp_srv_device_stop_recording(sp_server *srv);
/* Runs one padded batch (w->ids, w->lens) into w->out on the device, recording its operations (CPU)
 * or bracketing its device work for CUPTI (CUDA). */
sp_status sp_srv_device_forward(sp_srv_worker *w, size_t seqs, uint32_t padded);
/* After a batch was answered: captures a new batch shape into a CUDA graph (--cuda-graphs). */
void sp_srv_device_after_batch(sp_srv_worker *w, sp_status batch_status);
/* CUDA graphs captured and replayed by all workers so far (0 on the CPU). */
void sp_srv_device_graph_stats(const sp_server *srv, uint64_t *captures, uint64_t *replays);

/* ---------------- trace records (record.c) ---------------- */

/* Interns the encoder's operation names in the recorder (ids in srv->op_names). SP_ERR_NOMEM. */
sp_status sp_srv_intern_op_names(sp_server *srv);
/* Writes the service's device, model and batching policy as trace properties. */
void sp_srv_record_properties(const sp_server *srv, const sp_batcher_config *bc, const sp_encoder_config *ec);
/* Records an embeddings request as it ended: its request record and, unless answered 200 and
 * delivered, its outcome. `toe` is libmicrohttpd's termination code. */
void sp_srv_record_ended(sp_server *srv, sp_srv_req *r, enum MHD_RequestTerminationCode toe);
/* The gate's sp_gate_answered_fn (user: the server): records a request the front door answered. */
void sp_srv_on_gate_answered(void *user, unsigned status, uint64_t start_ns, const char *head, size_t head_len);

#endif
