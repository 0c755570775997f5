/* The HTTP side of a generation request, called by the service's handler (handler.c): once the body
 * is in, it is parsed and tokenised (its preprocess stage) and pushed to the scheduler; a stream gets
 * its SSE response at once (read as the engine produces events, gen_answer.c), a whole answer waits
 * with its connection suspended until the engine resumes it. At the end, the request's record and
 * outcome (DESIGN 8a), as the encoder's requests have them. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "serve/gen_service_int.h"

int sp_gen_route(const char *url)
{
    if (strcmp(url, "/v1/completions") == 0)
        return SP_SRV_ROUTE_COMPLETIONS;
    if (strcmp(url, "/v1/chat/completions") == 0)
        return SP_SRV_ROUTE_CHAT;
    return 0;
}

/* A 400 from the scheduler: the request can never run with this configuration. */
static void set_never_fits(sp_srv_req *r, const sp_gen_req *g)
{
    const sp_gen_sched_config *c = &g->gen->sc;
    char msg[300];
    uint32_t need = sp_gen_seq_reserve(g->prompt_len, g->seq.max_new);
    if (need > c->kv_capacity_tokens)
        snprintf(msg, sizeof(msg),
                 "the request needs %u KV cache tokens (prompt %u + max_tokens %u - 1), more than the cache's "
                 "capacity of %u (--kv-capacity-tokens)",
                 need, g->prompt_len, g->seq.max_new, c->kv_capacity_tokens);
    else
        snprintf(msg, sizeof(msg),
                 "the prompt is %u tokens, more than one step computes (--max-num-batched-tokens %u) without "
                 "--chunked-prefill",
                 g->prompt_len, c->max_num_batched_tokens);
    sp_srv_set_error(r, MHD_HTTP_BAD_REQUEST, "invalid_request_error", msg);
}

/* Pushes g to the scheduler with the engine's reference taken. On failure sets r's answer (503 when
 * the queue is full or the server stops, 400 when it can never run) and returns 0. */
static int push(sp_srv_req *r, sp_gen_req *g)
{
    sp_server *srv = r->srv;
    g->refs = 2;
    sp_status st = atomic_load_explicit(&srv->stopping, memory_order_relaxed) ? SP_ERR_STATE
                                                                             : sp_gen_sched_push(srv->gen->sched, &g->seq);
    if (st == SP_OK)
        return 1;
    g->refs = 1;
    if (st == SP_ERR_INVALID) {
        set_never_fits(r, g);
    } else {
        sp_srv_set_busy(r, st == SP_ERR_LIMIT);
    }
    return 0;
}

enum MHD_Result sp_gen_request_in(sp_srv_req *r)
{
    sp_server *srv = r->srv;
    sp_gen_req *g = sp_gen_parse_request(r, r->route == SP_SRV_ROUTE_CHAT);
    if (!g) {
        /* the parse that refused it is the request's preprocessing */
        sp_record_stage(srv->rec, r->id, SP_STAGE_PREPROCESS, r->arrival_ns, sp_now_ns());
        return sp_srv_send_answer(r, NULL);
    }
    r->gen = g;
    r->tokens = g->prompt_len;
    r->enqueue_ns = g->enqueue_ns = sp_now_ns();
    sp_record_stage(srv->rec, r->id, SP_STAGE_PREPROCESS, r->arrival_ns, r->enqueue_ns);
    if (r->label[0]) {
        sp_record_request_label(srv->rec, r->id, r->label, strlen(r->label));
        r->label_recorded = 1;
    }
    if (g->stream) {
        /* the engine may hand over events before the response is queued: the reader finds them */
        if (!push(r, g))
            return sp_srv_send_answer(r, NULL);
        struct MHD_Response *resp = sp_gen_stream_response(g);
        if (!resp)
            return MHD_NO; /* the engine finishes g and lets go of its reference */
        char idbuf[32];
        snprintf(idbuf, sizeof(idbuf), "%llu", (unsigned long long)r->id);
        MHD_add_response_header(resp, "X-Request-Id", r->label[0] ? r->label : idbuf);
        r->http_status = MHD_HTTP_OK;
        enum MHD_Result ret = MHD_queue_response(r->conn, MHD_HTTP_OK, resp);
        MHD_destroy_response(resp);
        r->state = SP_SRV_SENT;
        sp_gate_set_phase(srv->gate, r->gc, SP_GATE_BUSY);
        return ret;
    }
    /* suspended before the scheduler can see it, so the engine never resumes a connection that is
     * not yet suspended */
    r->state = SP_SRV_QUEUED;
    MHD_suspend_connection(r->conn);
    if (!push(r, g)) {
        r->state = SP_SRV_READY;
        MHD_resume_connection(r->conn);
    }
    return MHD_YES;
}

enum MHD_Result sp_gen_on_resumed(sp_srv_req *r)
{
    sp_server *srv = r->srv;
    sp_gen_req *g = r->gen;
    if (r->http_status == 0 && g) {
        /* the engine's answer (a refusal at the push has its answer set already) */
        pthread_mutex_lock(&g->mu);
        free(r->resp);
        r->resp = g->resp;
        r->resp_len = g->resp_len;
        r->http_status = g->resp_status;
        g->resp = NULL;
        pthread_mutex_unlock(&g->mu);
    }
    int served = r->http_status == MHD_HTTP_OK;
    enum MHD_Result ret = sp_srv_send_answer(r, NULL);
    if (served) {
        /* postprocess runs from the end of the last token's detokenisation through the response's
         * assembly to its hand-off to the socket */
        sp_record_stage(srv->rec, r->id, SP_STAGE_POSTPROCESS, g->post_start_ns, r->done_ns);
        SP_SRV_STAT_ADD(srv, ok, 1);
    }
    return ret;
}

void sp_gen_request_ended(sp_server *srv, sp_srv_req *r, enum MHD_RequestTerminationCode toe)
{
    if (r->route != SP_SRV_ROUTE_COMPLETIONS && r->route != SP_SRV_ROUTE_CHAT)
        return;
    sp_gen_req *g = r->gen;
    uint64_t now = sp_now_ns(), done = r->done_ns ? r->done_ns : now;
    int failed = 0;
    if (g) {
        pthread_mutex_lock(&g->mu);
        g->conn = NULL;
        if (!g->done)
            g->cancelled = 1;
        failed = g->failed;
        if (g->stream && r->http_status == MHD_HTTP_OK)
            done = g->end_ns ? g->end_ns : now;
        pthread_mutex_unlock(&g->mu);
    }
    int complete = toe == MHD_REQUEST_TERMINATED_COMPLETED_OK;
    if (complete && g && g->stream && r->http_status == MHD_HTTP_OK && !failed)
        SP_SRV_STAT_ADD(srv, ok, 1);
    if (srv->rec) {
        if (r->label[0] && !r->label_recorded)
            sp_record_request_label(srv->rec, r->id, r->label, strlen(r->label));
        sp_record_request(srv->rec, r->id, r->arrival_ns, done, r->tokens ? (int64_t)r->tokens : -1);
        sp_outcome o = !complete                                        ? SP_OUTCOME_CANCELLED
                       : r->http_status == MHD_HTTP_OK && !failed       ? SP_OUTCOME_OK
                       : r->http_status == MHD_HTTP_SERVICE_UNAVAILABLE ? SP_OUTCOME_REJECTED
                                                                        : SP_OUTCOME_ERROR;
        if (o != SP_OUTCOME_OK)
            sp_record_outcome(srv->rec, r->id, o,
                              failed && r->http_status == MHD_HTTP_OK ? MHD_HTTP_INTERNAL_SERVER_ERROR
                                                                       : (int32_t)r->http_status);
    }
    if (g) {
        r->gen = NULL;
        sp_gen_req_unref(g);
    }
}
