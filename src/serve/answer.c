/* The service's answers: an OpenAI-shaped error (the same body as the front door's, counted by
 * status), the embeddings response a worker builds, and the hand-off of either to libmicrohttpd with
 * the request's id echoed in X-Request-Id. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/util_int.h"
#include "serve/server_int.h"

/* ---- the growable output buffer of JSON answers (server_int.h) ---- */

void sp_srv_ob_reserve(sp_srv_outbuf *b, size_t more)
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

void sp_srv_ob_put(sp_srv_outbuf *b, const char *s, size_t n)
{
    sp_srv_ob_reserve(b, n);
    if (b->failed)
        return;
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = 0;
}

void sp_srv_ob_str(sp_srv_outbuf *b, const char *s) { sp_srv_ob_put(b, s, strlen(s)); }

void sp_srv_ob_printf(sp_srv_outbuf *b, const char *fmt, ...)
{
    char tmp[128];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
    va_end(ap);
    if (n > 0)
        sp_srv_ob_put(b, tmp, (size_t)n < sizeof(tmp) ? (size_t)n : sizeof(tmp) - 1);
}

/* ---- answers ---- */

void sp_srv_set_error(sp_srv_req *r, unsigned status, const char *type, const char *message)
{
    char *text = sp_serve_error_json(type, message);
    free(r->resp);
    r->resp = text;
    r->resp_len = text ? strlen(text) : 0;
    r->http_status = status;
    sp_server *srv = r->srv;
    switch (status) {
    case MHD_HTTP_BAD_REQUEST: SP_SRV_STAT_ADD(srv, bad_request, 1); break;
    case MHD_HTTP_CONTENT_TOO_LARGE:
    case MHD_HTTP_REQUEST_HEADER_FIELDS_TOO_LARGE: SP_SRV_STAT_ADD(srv, too_large, 1); break;
    case MHD_HTTP_UNSUPPORTED_MEDIA_TYPE: SP_SRV_STAT_ADD(srv, unsupported_media, 1); break;
    case MHD_HTTP_NOT_FOUND: SP_SRV_STAT_ADD(srv, not_found, 1); break;
    case MHD_HTTP_METHOD_NOT_ALLOWED: SP_SRV_STAT_ADD(srv, bad_method, 1); break;
    default: break;
    }
}

void sp_srv_set_busy(sp_srv_req *r, int full)
{
    sp_srv_set_error(r, MHD_HTTP_SERVICE_UNAVAILABLE, "server_overloaded",
                     full ? "the request queue is full; retry later" : "the server is stopping");
    r->retry_after = "1";
    if (full)
        SP_SRV_STAT_ADD(r->srv, rejected_full, 1);
    else
        SP_SRV_STAT_ADD(r->srv, rejected_stopping, 1);
}

void sp_srv_build_response(sp_server *srv, sp_srv_req *r, const float *emb)
{
    size_t H = sp_encoder_get_config(srv->enc)->hidden;
    sp_srv_outbuf b = {0};
    sp_srv_ob_reserve(&b, r->seqs * (H * 16 + 64) + 256);
    sp_srv_ob_str(&b, "{\"object\":\"list\",\"data\":[");
    for (uint32_t i = 0; i < r->seqs; i++) {
        sp_srv_ob_printf(&b, "%s{\"object\":\"embedding\",\"index\":%u,\"embedding\":[", i ? "," : "", i);
        const float *e = emb + (size_t)i * H;
        for (size_t j = 0; j < H; j++)
            sp_srv_ob_printf(&b, j ? ",%.8g" : "%.8g", (double)e[j]);
        sp_srv_ob_str(&b, "]}");
    }
    sp_srv_ob_str(&b, "],\"model\":\"");
    sp_srv_ob_str(&b, srv->model_name);
    sp_srv_ob_printf(&b, "\",\"usage\":{\"prompt_tokens\":%llu,\"total_tokens\":%llu}}", (unsigned long long)r->tokens,
              (unsigned long long)r->tokens);
    if (b.failed) {
        free(b.p);
        sp_srv_set_error(r, MHD_HTTP_INTERNAL_SERVER_ERROR, "server_error", "out of memory");
        return;
    }
    r->resp = b.p;
    r->resp_len = b.len;
    r->http_status = MHD_HTTP_OK;
}

enum MHD_Result sp_srv_send_answer(sp_srv_req *r, const char *allow)
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
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, r->content_type ? r->content_type : "application/json");
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
    r->state = SP_SRV_SENT;
    r->done_ns = sp_now_ns();
    /* answered: no header or body deadline while the answer goes out */
    sp_gate_set_phase(r->srv->gate, r->gc, SP_GATE_BUSY);
    return ret;
}
