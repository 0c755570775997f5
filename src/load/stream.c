/* Streaming generation for the load generator (docs/load.md "Streaming"): the OpenAI completions and
 * chat completions request bodies, one response's event stream turned into token arrival times, the
 * run's log of every request's tokens, the TTFT / TPOT / ITL / end-to-end figures, and the token keys
 * of the client trace (the generation contract's "client" fields). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/json_esc_int.h"
#include "common/util_int.h"
#include "load/load_int.h"

/* ---- request bodies ---- */

static size_t put(char *buf, size_t k, const char *s)
{
    size_t n = strlen(s);
    memcpy(buf + k, s, n);
    return k + n;
}

/* The decimal text of v at buf[k] (the one u64 formatter, common/util_int.h). */
static size_t put_uint(char *buf, size_t k, uint64_t v)
{
    return k + sp_u64_dec(v, buf + k);
}

size_t sp_stream_body(const sp_load_config *o, sp_textgen *t, uint64_t index, char *buf, size_t cap)
{
    /* {"model":"M","prompt":"TEXT","max_tokens":N,"stream":true,"stream_options":{"include_usage":true}}
     * or, for chat, "messages":[{"role":"user","content":"TEXT"}] in place of "prompt". The model name
     * was checked (no quotes, backslashes or control bytes, at most 64 bytes), the text is escaped;
     * the fixed parts take under 256 bytes, so cap >= SP_LOAD_MAX_TEXT + 512 always holds them. */
    size_t k = put(buf, 0, "{\"model\":\"");
    k = put(buf, k, o->model ? o->model : "");
    k = put(buf, k, o->chat ? "\",\"messages\":[{\"role\":\"user\",\"content\":\"" : "\",\"prompt\":\"");
    uint32_t words;
    size_t room = cap - k - 256;
    k += sp_textgen_text(t, index, buf + k, room < SP_LOAD_MAX_TEXT ? room : SP_LOAD_MAX_TEXT, &words);
    k = put(buf, k, o->chat ? "\"}],\"max_tokens\":" : "\",\"max_tokens\":");
    k = put_uint(buf, k, sp_textgen_max_tokens(t, index));
    k = put(buf, k, ",\"stream\":true");
    if (!o->no_usage)
        k = put(buf, k, ",\"stream_options\":{\"include_usage\":true}");
    if (o->ignore_eos)
        k = put(buf, k, ",\"ignore_eos\":true");
    k = put(buf, k, "}");
    return k;
}

/* ---- one response's stream ---- */

void sp_stream_conn_reset(sp_stream_conn *s)
{
    sp_sse_reset(&s->sse); /* also right for a zeroed one: it has no buffers yet */
    s->now = 0;
    s->n_times = 0;
    s->events = s->empty_events = 0;
    s->first = s->last = s->efirst = s->elast = 0;
    s->usage_completion = s->usage_prompt = -1;
    s->done = s->error_event = s->malformed = s->not_sse = false;
    s->message[0] = '\0';
}

void sp_stream_conn_free(sp_stream_conn *s)
{
    sp_sse_free(&s->sse);
    free(s->times);
    free(s->empty);
    s->times = NULL;
    s->empty = NULL;
    s->cap_times = s->n_times = 0;
}

static void on_event(void *user, const char *data, size_t len, bool error_type)
{
    sp_stream_conn *s = user;
    if (s->done)
        return; /* nothing counts after [DONE] */
    sp_sse_chunk ch;
    sp_sse_classify(data, len, &ch);
    if (error_type && ch.kind != SP_SSE_CHUNK_ERROR) {
        /* "event: error" with any data is an error, whatever the data says */
        ch.kind = SP_SSE_CHUNK_ERROR;
        size_t n = len < sizeof ch.message - 1 ? len : sizeof ch.message - 1;
        for (size_t i = 0; i < n; i++)
            ch.message[i] = (unsigned char)data[i] < 0x20 ? ' ' : data[i];
        ch.message[n] = '\0';
    }
    switch (ch.kind) {
    case SP_SSE_CHUNK_DONE:
        s->done = true;
        return;
    case SP_SSE_CHUNK_ERROR:
        if (!s->error_event)
            snprintf(s->message, sizeof s->message, "%s", ch.message[0] ? ch.message : "an error event without a message");
        s->error_event = true;
        return;
    case SP_SSE_CHUNK_MALFORMED:
        s->malformed = true;
        return;
    case SP_SSE_CHUNK_DATA:
        break;
    }
    if (ch.completion_tokens >= 0)
        s->usage_completion = ch.completion_tokens;
    if (ch.prompt_tokens >= 0)
        s->usage_prompt = ch.prompt_tokens;
    if (ch.content == 0 && ch.empty == 0)
        return;
    /* one token per content event (docs/load.md "Counting tokens"); an empty event (a choice without
     * output that is no role delta) carries one when the usage at the end has room for it */
    bool empty = ch.content == 0;
    if (empty) {
        s->empty_events++;
        if (!s->efirst)
            s->efirst = s->now;
        s->elast = s->now;
    } else {
        s->events++;
        if (!s->first)
            s->first = s->now;
        s->last = s->now;
    }
    if (s->n_times < SP_LOAD_MAX_OUTPUT_TOKENS) {
        if (s->n_times == s->cap_times) {
            size_t cap = s->cap_times;
            if (SP_GROW(s->times, cap, (size_t)s->n_times + 1, SP_LOAD_MAX_OUTPUT_TOKENS) != SP_OK)
                return; /* no memory: the time is lost, the token still counts (events) */
            uint8_t *e = realloc(s->empty, cap);
            if (!e)
                return; /* times grew, its cap stays: the next event grows both again */
            s->empty = e;
            s->cap_times = (uint32_t)cap;
        }
        s->empty[s->n_times] = empty;
        s->times[s->n_times++] = s->now;
    }
}

void sp_stream_on_body(void *user, const sp_http_resp *r, const char *p, size_t n)
{
    sp_stream_conn *s = user;
    if (r->status < 200 || r->status >= 300)
        return; /* an error status's body (JSON) is not a stream */
    if (!r->event_stream) {
        s->not_sse = true;
        return;
    }
    if (!sp_sse_feed(&s->sse, p, n, on_event, s))
        s->malformed = true;
}

int sp_stream_conn_outcome(const sp_stream_conn *s, const sp_http_resp *r, int *why)
{
    *why = -1;
    if (r->status < 200 || r->status >= 300)
        return r->status;
    if (!r->event_stream)
        *why = SP_LOAD_STREAM_NOT_SSE;
    else if (s->error_event)
        *why = SP_LOAD_STREAM_ERROR_EVENT;
    else if (s->malformed)
        *why = SP_LOAD_STREAM_MALFORMED;
    else if (!s->done)
        *why = SP_LOAD_STREAM_NO_DONE;
    return *why >= 0 ? SP_LOAD_ERR_STREAM : r->status;
}

/* ---- the run's token log ---- */

sp_status sp_stream_log_reserve(sp_stream_log *l, size_t n)
{
    size_t old = l->cap_recs;
    if (n <= old)
        return SP_OK;
    sp_status st = SP_GROW(l->recs, l->cap_recs, n, SP_LOAD_MAX_REQUESTS);
    if (st == SP_OK) {
        memset(l->recs + old, 0, (l->cap_recs - old) * sizeof *l->recs);
        /* a request whose stream never began (a timeout while it waited for a connection) has
         * no usage: its trace record must not say "prompt_tokens":0, as if the server had */
        for (size_t i = old; i < l->cap_recs; i++)
            l->recs[i].prompt_tokens = -1;
    }
    return st;
}

void sp_stream_log_free(sp_stream_log *l)
{
    free(l->recs);
    free(l->pool);
    memset(l, 0, sizeof *l);
}

static const char *why_text(int why)
{
    switch (why) {
    case SP_LOAD_STREAM_ERROR_EVENT: return "error event";
    case SP_LOAD_STREAM_NO_DONE: return "no [DONE]";
    case SP_LOAD_STREAM_NOT_SSE: return "not an event stream";
    case SP_LOAD_STREAM_MALFORMED: return "malformed event";
    default: return "";
    }
}

/* Appends one token time to the pool; false when a cap is reached (the time is dropped). */
static bool pool_push(sp_stream_log *l, uint64_t t)
{
    if (l->n_pool == l->cap_pool &&
        SP_GROW(l->pool, l->cap_pool, l->n_pool + 1, SP_LOAD_MAX_TOKEN_TIMES) != SP_OK)
        return false;
    l->pool[l->n_pool++] = t;
    return true;
}

void sp_stream_log_commit(sp_stream_log *l, uint32_t req, const sp_stream_conn *s, int why, bool measured)
{
    if (req >= l->cap_recs)
        return; /* reserved with the schedule; cannot happen */
    sp_stream_rec *q = &l->recs[req];
    memset(q, 0, sizeof *q);
    q->prompt_tokens = s->usage_prompt >= 0 && s->usage_prompt <= INT32_MAX ? (int32_t)s->usage_prompt : -1;
    q->why = why >= 0 ? (uint8_t)(why + 1) : 0;
    if (why >= 0 && measured && (!l->first_error[0] || req < l->first_error_req)) {
        l->first_error_req = req;
        if (why == SP_LOAD_STREAM_ERROR_EVENT)
            snprintf(l->first_error, sizeof l->first_error, "error event: %.140s", s->message);
        else
            snprintf(l->first_error, sizeof l->first_error, "%s", why_text(why));
    }
    /* Counting tokens (docs/load.md): one per content event; when the stream's usage says N
     * completion tokens and N exceeds the content events C by at least the K empty events, each
     * empty event carried one (vLLM sends a chunk only with a token: a held-back one, or the
     * end-of-sequence token with the finish reason), else they carried none; the E extra tokens left
     * were carried by some events, which ones the stream does not say: they are spread evenly over
     * the content events (content event i gets floor((i+1)E/C) - floor(iE/C) of them; over the empty
     * events when there is no content event), at that event's time. TPOT depends only on the first
     * and last token and on N, and ITL's mean only on them too, whatever the spread. */
    uint64_t c = s->events, ke = s->empty_events, total = c;
    if (s->usage_completion >= 0) {
        q->flags |= SP_STREAM_USAGE;
        if ((uint64_t)s->usage_completion >= c)
            total = (uint64_t)s->usage_completion;
        else
            q->flags |= SP_STREAM_USAGE_BELOW;
    }
    bool empty_tokens = ke > 0 && s->usage_completion >= 0 && total - c >= ke;
    q->tokens = total > UINT32_MAX ? UINT32_MAX : (uint32_t)total;
    q->first = s->first;
    q->last = s->last;
    if (empty_tokens) {
        if (!q->first || s->efirst < q->first)
            q->first = s->efirst;
        if (s->elast > q->last)
            q->last = s->elast;
    }
    q->off = l->n_pool;
    if (!q->first)
        return; /* usage without a token event: tokens counted, no time to give them */
    uint64_t extra = total - c - (empty_tokens ? ke : 0), kept = 0;
    uint64_t base = c ? c : ke, at = 0; /* the events the extras are spread over, and the next one's number */
    for (uint32_t i = 0; i < s->n_times; i++) {
        bool carrier = c ? !s->empty[i] : true;
        if (s->empty[i] && !empty_tokens)
            continue;
        uint64_t k = 1;
        if (carrier) {
            k += ((at + 1) * extra) / base - (at * extra) / base;
            at++;
        }
        for (uint64_t j = 0; j < k; j++)
            if (kept < SP_LOAD_MAX_OUTPUT_TOKENS && pool_push(l, s->times[i]))
                kept++;
    }
    q->n_times = (uint32_t)kept;
    l->dropped += total - kept; /* past a cap, or events beyond the connection's time buffer */
}

/* ---- figures ---- */

sp_status sp_stream_acc_init(sp_stream_acc *a, const sp_stream_log *l, size_t n_requests,
                             sp_load_stream_result *out)
{
    memset(a, 0, sizeof *a);
    size_t n = n_requests ? n_requests : 1;
    a->ttft = malloc(n * sizeof *a->ttft);
    a->ttft_send = malloc(n * sizeof *a->ttft_send);
    a->tpot = malloc(n * sizeof *a->tpot);
    a->e2e = malloc(n * sizeof *a->e2e);
    a->itl = malloc((l->n_pool ? l->n_pool : 1) * sizeof *a->itl);
    a->out = out;
    if (!a->ttft || !a->ttft_send || !a->tpot || !a->e2e || !a->itl) {
        free(a->ttft);
        free(a->ttft_send);
        free(a->tpot);
        free(a->e2e);
        free(a->itl);
        memset(a, 0, sizeof *a);
        return SP_ERR_NOMEM;
    }
    return SP_OK;
}

void sp_stream_acc_add(sp_stream_acc *a, const sp_stream_log *l, uint32_t req, uint64_t intended,
                       uint64_t send, uint64_t done, int status)
{
    sp_load_stream_result *o = a->out;
    const sp_stream_rec *q = req < l->cap_recs ? &l->recs[req] : NULL;
    if (status == SP_LOAD_ERR_STREAM) {
        if (q && q->why >= 1 && q->why <= SP_LOAD_STREAM_N_ERRORS)
            o->failed[q->why - 1]++;
        return;
    }
    if (status < 200 || status >= 300 || !q)
        return;
    /* docs/load.md "Streaming figures": over successes, from the intended send time */
    o->output_tokens += q->tokens;
    if (q->flags & SP_STREAM_USAGE) {
        o->usage_reported++;
        if (q->prompt_tokens >= 0)
            o->prompt_tokens += (uint64_t)q->prompt_tokens;
    }
    if (q->flags & SP_STREAM_USAGE_BELOW)
        o->usage_below_events++;
    a->e2e[a->n_e2e++] = done - intended;
    if (!q->first) {
        o->without_tokens++;
        return;
    }
    a->ttft[a->n_ttft] = q->first - intended;
    a->ttft_send[a->n_ttft++] = q->first - send;
    if (q->tokens >= 2) /* TPOT = (last token - first token) / (output tokens - 1) */
        a->tpot[a->n_tpot++] = (uint64_t)((double)(q->last - q->first) / (double)(q->tokens - 1) + 0.5);
    for (uint32_t i = 1; i < q->n_times; i++) /* ITL: every gap between consecutive token times */
        a->itl[a->n_itl++] = l->pool[q->off + i] - l->pool[q->off + i - 1];
}

void sp_stream_acc_finish(sp_stream_acc *a, const sp_stream_log *l, double duration_s)
{
    sp_load_stream_result *o = a->out;
    sp_load_latency_fill(a->ttft, a->n_ttft, &o->ttft);
    sp_load_latency_fill(a->ttft_send, a->n_ttft, &o->ttft_send);
    sp_load_latency_fill(a->tpot, a->n_tpot, &o->tpot);
    sp_load_latency_fill(a->itl, a->n_itl, &o->itl);
    sp_load_latency_fill(a->e2e, a->n_e2e, &o->e2e);
    o->token_times_dropped = l->dropped;
    o->output_tokens_per_s = duration_s > 0 ? (double)o->output_tokens / duration_s : 0.0;
    snprintf(o->first_error, sizeof o->first_error, "%s", l->first_error);
    free(a->ttft);
    free(a->ttft_send);
    free(a->tpot);
    free(a->e2e);
    free(a->itl);
    memset(a, 0, sizeof *a);
}

/* ---- client trace ---- */

void sp_stream_trace_fields(FILE *f, const sp_stream_log *l, uint32_t req, uint32_t max_tokens, int status)
{
    fprintf(f, ",\"max_tokens\":%u", max_tokens);
    if (req >= l->cap_recs || status == SP_LOAD_ERR_UNSENT || status == SP_LOAD_ERR_CONNECT)
        return;
    const sp_stream_rec *q = &l->recs[req];
    /* The contract's output_tokens is the count of token_ns when both are given (the importer checks
     * it): when the caps kept fewer times than the tokens counted, it is the kept count, and the
     * count by docs/load.md's rule is output_tokens_counted. */
    uint32_t shown = q->first && q->n_times < q->tokens ? q->n_times : q->tokens;
    fprintf(f, ",\"output_tokens\":%u", shown);
    if (shown != q->tokens)
        fprintf(f, ",\"output_tokens_counted\":%u", q->tokens);
    if (q->prompt_tokens >= 0)
        fprintf(f, ",\"prompt_tokens\":%d", (int)q->prompt_tokens);
    if (q->why)
        fprintf(f, ",\"stream_error\":\"%s\"", why_text(q->why - 1));
    if (!q->first)
        return;
    fprintf(f, ",\"first_token_ns\":%llu,\"token_ns\":[", (unsigned long long)q->first);
    /* digits by hand: a long generation has tens of thousands of times */
    char buf[4096];
    size_t k = 0;
    for (uint32_t i = 0; i < q->n_times; i++) {
        if (k > sizeof buf - 32) {
            fwrite(buf, 1, k, f);
            k = 0;
        }
        if (i)
            buf[k++] = ',';
        k = put_uint(buf, k, l->pool[q->off + i]);
    }
    buf[k++] = ']';
    fwrite(buf, 1, k, f);
}
