/* A generation request's answer. The engine's side (sp_gen_emit): each output token's text, the stop
 * checks, and either its server-sent event (a stream: one event per token, then [DONE]) or, at the
 * end, the whole OpenAI response; then the hand-off to the HTTP side, resuming its connection. The
 * HTTP side: the stream's content reader, which libmicrohttpd calls whenever it can write, and which
 * records when each token's event was written (the token record and the `stream` span) and when the
 * closing [DONE] was (`postprocess`). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/json_esc_int.h"
#include "serve/gen_service_int.h"

/* ---- the JSON of answers ---- */

static void put_json_str(sp_srv_outbuf *b, const char *s, size_t len)
{
    sp_srv_ob_put(b, "\"", 1);
    sp_srv_ob_reserve(b, len * SP_JSON_ESC_MAX + 2);
    if (!b->failed) {
        b->len += sp_json_escape(b->p + b->len, b->cap - b->len - 1, s, len, 0, NULL);
        b->p[b->len] = 0;
    }
    sp_srv_ob_put(b, "\"", 1);
}

/* The fields every answer object starts with: id, object, created, model. */
static void put_head(sp_srv_outbuf *b, const sp_gen_req *g, const char *object)
{
    sp_srv_ob_printf(b, "{\"id\":\"%s-%llu\",\"object\":\"%s\",\"created\":%llu,\"model\":",
                     g->chat ? "chatcmpl" : "cmpl", (unsigned long long)g->id, object, (unsigned long long)g->created);
    put_json_str(b, g->gen->srv->model_name, strlen(g->gen->srv->model_name));
}

static void put_usage(sp_srv_outbuf *b, const sp_gen_req *g)
{
    sp_srv_ob_printf(b, "\"usage\":{\"prompt_tokens\":%u,\"completion_tokens\":%u,\"total_tokens\":%u}",
                     g->prompt_len, g->n_out, g->prompt_len + g->n_out);
}

/* One streamed event: a token's text (or "" for the end alone), with the finish reason on the last. */
static void put_chunk(sp_srv_outbuf *b, const sp_gen_req *g, const char *text, size_t len, const char *finish,
                      int first)
{
    sp_srv_ob_str(b, "data: ");
    put_head(b, g, g->chat ? "chat.completion.chunk" : "text_completion");
    if (g->chat) {
        sp_srv_ob_str(b, ",\"choices\":[{\"index\":0,\"delta\":{");
        if (first)
            sp_srv_ob_str(b, "\"role\":\"assistant\"");
        if (len > 0 || first) {
            sp_srv_ob_str(b, first ? ",\"content\":" : "\"content\":");
            put_json_str(b, text, len);
        }
        sp_srv_ob_str(b, "},\"logprobs\":null,\"finish_reason\":");
    } else {
        sp_srv_ob_str(b, ",\"choices\":[{\"index\":0,\"text\":");
        put_json_str(b, text, len);
        sp_srv_ob_str(b, ",\"logprobs\":null,\"finish_reason\":");
    }
    if (finish)
        sp_srv_ob_printf(b, "\"%s\"", finish);
    else
        sp_srv_ob_str(b, "null");
    sp_srv_ob_str(b, "}]}\n\n");
}

/* The events that close a stream: the end alone when no token carried it, usage when asked, an
 * error when the step failed, then [DONE]. */
static void put_stream_end(sp_srv_outbuf *b, const sp_gen_req *g, int carried, int failed)
{
    if (failed) {
        char *e = sp_serve_error_json("server_error", "the model failed while generating; the output is cut short");
        sp_srv_ob_str(b, "data: ");
        sp_srv_ob_str(b, e ? e : "{}");
        sp_srv_ob_str(b, "\n\n");
        free(e);
    } else {
        if (!carried)
            put_chunk(b, g, "", 0, g->finish_reason, g->n_out == 0);
        if (g->include_usage) {
            sp_srv_ob_str(b, "data: ");
            put_head(b, g, g->chat ? "chat.completion.chunk" : "text_completion");
            sp_srv_ob_str(b, ",\"choices\":[],");
            put_usage(b, g);
            sp_srv_ob_str(b, "}\n\n");
        }
    }
    sp_srv_ob_str(b, "data: [DONE]\n\n");
}

/* The whole answer of a request that does not stream. */
static void put_whole(sp_srv_outbuf *b, const sp_gen_req *g)
{
    put_head(b, g, g->chat ? "chat.completion" : "text_completion");
    if (g->chat) {
        sp_srv_ob_str(b, ",\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":");
        put_json_str(b, g->text ? g->text : "", g->text_len);
        sp_srv_ob_str(b, "},");
    } else {
        sp_srv_ob_str(b, ",\"choices\":[{\"index\":0,\"text\":");
        put_json_str(b, g->text ? g->text : "", g->text_len);
        sp_srv_ob_str(b, ",");
    }
    sp_srv_ob_printf(b, "\"logprobs\":null,\"finish_reason\":\"%s\"}],", g->finish_reason);
    put_usage(b, g);
    sp_srv_ob_str(b, "}");
}

/* ---- the engine's side ---- */

/* Appends a token's text to the output so far. 0 when out of memory. */
static int text_append(sp_gen_req *g, const char *s, size_t n)
{
    if (g->text_len + n + 1 > g->text_cap) {
        size_t cap = g->text_cap ? g->text_cap : 256;
        while (cap < g->text_len + n + 1)
            cap *= 2;
        char *p = realloc(g->text, cap);
        if (!p)
            return 0;
        g->text = p;
        g->text_cap = cap;
    }
    memcpy(g->text + g->text_len, s, n);
    g->text_len += n;
    g->text[g->text_len] = 0;
    return 1;
}

/* Appends bytes to the stream (with g->mu held). 0 when out of memory. */
static int sse_append(sp_gen_req *g, const char *s, size_t n)
{
    if (g->sse_len + n > g->sse_cap) {
        size_t cap = g->sse_cap ? g->sse_cap : 4096;
        while (cap < g->sse_len + n)
            cap *= 2;
        char *p = realloc(g->sse, cap);
        if (!p)
            return 0;
        g->sse = p;
        g->sse_cap = cap;
    }
    memcpy(g->sse + g->sse_len, s, n);
    g->sse_len += n;
    return 1;
}

/* Hands the step's bytes for g to the HTTP side: the stream's events (`ev`, of which the first
 * `tok_bytes` carry output token k when have_token), or, when finishing without a stream, the whole
 * answer (`ev`, status 200, or 500 when failed). Resumes the connection that waits for them. */
static void hand_over(sp_gen_req *g, sp_srv_outbuf *ev, size_t tok_bytes, int have_token, uint32_t k, int finish,
                      int failed, uint64_t now)
{
    pthread_mutex_lock(&g->mu);
    if (g->stream) {
        if (have_token && ev->len >= tok_bytes && sse_append(g, ev->p, tok_bytes)) {
            g->tok_end[k] = g->sse_len;
            g->tok_ready[k] = now;
            g->n_ready = k + 1;
        }
        if (ev->len > tok_bytes && !sse_append(g, ev->p + tok_bytes, ev->len - tok_bytes))
            failed = 1;
    } else if (finish) {
        if (failed || ev->failed) {
            free(ev->p);
            ev->p = sp_serve_error_json("server_error", "the model failed while generating");
            ev->len = ev->p ? strlen(ev->p) : 0;
            g->resp_status = MHD_HTTP_INTERNAL_SERVER_ERROR;
            failed = 1;
        } else {
            g->resp_status = MHD_HTTP_OK;
        }
        g->resp = ev->p;
        g->resp_len = ev->len;
        ev->p = NULL;
        g->post_start_ns = now;
    }
    if (finish) {
        g->done = 1;
        g->failed = failed;
        g->final_ready_ns = now;
    }
    struct MHD_Connection *resume = g->stream && g->suspended ? g->conn : NULL;
    if (resume)
        g->suspended = 0;
    pthread_mutex_unlock(&g->mu);
    /* outside the lock: the reader holds it while it suspends, never the other way round */
    if (resume)
        MHD_resume_connection(resume);
    if (finish && !g->stream) {
        /* suspended since it was queued, so it cannot have ended: the last touch of the request */
        g->http->state = SP_SRV_READY;
        MHD_resume_connection(g->http->conn);
    }
}

int sp_gen_emit(sp_gen_req *g, int32_t tok, uint64_t step_end, int failed)
{
    sp_gen *gen = g->gen;
    sp_server *srv = gen->srv;
    uint64_t t0 = sp_now_ns();
    int finish = failed, have_token = 0;
    uint32_t k = g->n_out;
    char piece[SP_TOK_MAX_TOKEN_BYTES + 8];
    size_t plen = 0;
    if (!failed && (tok < 0 || (tok == gen->eos && !g->ignore_eos))) {
        finish = 1;
        g->finish_reason = "stop";
    } else if (!failed) {
        have_token = 1;
        plen = sp_gen_token_text(srv->tok, tok, k == 0 && g->chat, piece, sizeof(piece));
        if (plen >= sizeof(piece))
            plen = sizeof(piece) - 1;
        size_t from = g->text_len;
        if (!text_append(g, piece, plen))
            failed = finish = 1;
        g->last_token = tok;
        g->n_out = k + 1;
        if (!finish && sp_gen_stop_found(g->text, g->text_len, from, g->stop, g->stop_len, g->n_stop)) {
            finish = 1;
            g->finish_reason = "stop";
        } else if (!finish && g->n_out >= g->seq.max_new) {
            finish = 1;
            g->finish_reason = "length";
        }
        /* a whole answer's token leaves with the step that made it */
        if (!g->stream)
            sp_record_token(srv->rec, g->id, k, step_end);
        atomic_fetch_add_explicit(&gen->generated_tokens, 1, memory_order_relaxed);
    }
    sp_srv_outbuf ev = {0};
    size_t tok_bytes = 0;
    if (g->stream) {
        if (have_token)
            put_chunk(&ev, g, piece, plen, finish && !failed ? g->finish_reason : NULL, k == 0);
        tok_bytes = ev.len;
        if (finish)
            put_stream_end(&ev, g, have_token, failed);
        if (ev.failed)
            failed = finish = 1;
    } else if (finish && !failed) {
        put_whole(&ev, g);
    }
    uint64_t t1 = sp_now_ns();
    if (have_token)
        sp_record_stage(srv->rec, g->id, gen->stage_detokenize, t0, t1);
    hand_over(g, &ev, tok_bytes, have_token, k, finish, failed, t1);
    free(ev.p);
    if (finish)
        g->seq.finished = 1;
    return finish;
}

/* ---- the HTTP side: the stream's reader ---- */

/* Every output token whose event ends at or before byte `pos` leaves the server now: the reader hands
 * libmicrohttpd bytes up to `pos`, which it writes to the socket in the same pass. Its token record,
 * and one `stream` span for the write that carries them, from when the first was handed over (or
 * the previous write was) until now. Stamped here, when the bytes are handed out, not at the next
 * call: libmicrohttpd may not call the reader again until the engine resumes the connection with
 * the next token, so "the next call" came after the client had the token, by up to a token's gap
 * (measured: server TTFT above the streaming client's by up to 6.6 ms; tests/cli/demo_generate.sh). */
static void note_written(sp_gen_req *g, uint64_t pos, uint64_t now)
{
    sp_recorder *rec = g->gen->srv->rec;
    uint32_t first = g->tok_written;
    while (g->tok_written < g->n_ready && g->tok_end[g->tok_written] <= pos) {
        sp_record_token(rec, g->id, g->tok_written, now);
        g->tok_written++;
    }
    if (g->tok_written == first)
        return;
    uint64_t start = g->tok_ready[first] > g->last_write_end ? g->tok_ready[first] : g->last_write_end;
    sp_record_stage(rec, g->id, g->gen->stage_stream, start, now);
    g->last_write_end = now;
}

void (*sp_gen_stream_read_hook)(void);

static ssize_t stream_read(void *cls, uint64_t pos, char *buf, size_t max)
{
    sp_gen_req *g = cls;
    ssize_t ret;
    if (sp_gen_stream_read_hook)
        sp_gen_stream_read_hook();
    pthread_mutex_lock(&g->mu);
    /* read with the lock held: the engine stamps a token's (or the closing events') ready time before
     * it takes the lock to append them, so every time it stamped on what this call can see is earlier;
     * read before the lock, a token appended while this call waited for it was ready after `now`, and
     * its stream span ended before it started (a trace the analysis refuses) */
    uint64_t now = sp_now_ns();
    if (pos < g->sse_len) {
        size_t n = g->sse_len - pos < max ? (size_t)(g->sse_len - pos) : max;
        memcpy(buf, g->sse + pos, n);
        note_written(g, pos + n, now);
        ret = (ssize_t)n;
    } else if (g->done) {
        /* the closing events are written: the request's postprocess */
        uint64_t start = g->final_ready_ns > g->last_write_end ? g->final_ready_ns : g->last_write_end;
        sp_record_stage(g->gen->srv->rec, g->id, SP_STAGE_POSTPROCESS, start, now);
        g->end_ns = now;
        ret = MHD_CONTENT_READER_END_OF_STREAM;
    } else {
        /* nothing to write yet: the engine resumes the connection with the next event (with the lock
         * held here, it cannot look between the flag and the suspension) */
        g->suspended = 1;
        MHD_suspend_connection(g->conn);
        ret = 0;
    }
    pthread_mutex_unlock(&g->mu);
    return ret;
}

struct MHD_Response *sp_gen_stream_response(sp_gen_req *g)
{
    struct MHD_Response *resp = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 4096, stream_read, g, NULL);
    if (!resp)
        return NULL;
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "text/event-stream");
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-cache");
    return resp;
}
