/* The streaming reader of the load generator: server-sent events framing (WHATWG rules: CR LF, LF and
 * CR line ends, comments, multi-line data, "event: error", a byte order mark) and the OpenAI chunk
 * reader (completions "text", chat "delta" content / reasoning / tool calls, a role-only delta that is
 * no token, usage, errors in both shapes vLLM has used, [DONE], malformed data). A stream in the shape
 * vLLM's OpenAI server sends is parsed through the HTTP parser with its chunked coding, whole, split
 * in two at every byte offset, and byte by byte: every way gives the same events, and those are the
 * ones read off the literal stream by hand (listed beside it). Then the token counting rule of
 * docs/load.md on a hand-computed case. */
#include <stdlib.h>
#include <string.h>

#include "load/load_int.h"
#include "testlib.h"

/* One parsed event, as the test records it. */
typedef struct got_event {
    int kind;
    uint32_t content;
    int64_t completion, prompt;
    bool error_type;
} got_event;

typedef struct collector {
    got_event ev[64];
    int n;
} collector;

static void collect(void *user, const char *data, size_t len, bool error_type)
{
    collector *c = user;
    sp_sse_chunk ch;
    sp_sse_classify(data, len, &ch);
    if (c->n < 64)
        c->ev[c->n++] = (got_event){(int)ch.kind, ch.content, ch.completion_tokens, ch.prompt_tokens, error_type};
}

static sp_sse g_sse; /* the parser the HTTP body goes to in parse_split */

static void body_to_sse(void *user, const sp_http_resp *r, const char *p, size_t n)
{
    (void)r;
    sp_sse_feed(&g_sse, p, n, collect, user);
}

/* A completions stream in vLLM's shape (hand-written after vLLM's OpenAI server output; not captured
 * from a run): a comment, content chunks with " Hello", " wor\u00e9ld \"q\"", "!" and " split", an empty
 * text (a special token's chunk: no output), CR LF and bare CR line ends, a data field split over two
 * lines, the finish chunk, the usage chunk (include_usage), [DONE]. */
static const char k_sse_body[] =
    ": ping - 2024-01-01 00:00:00\n\n"
    "data: {\"id\":\"cmpl-7\",\"object\":\"text_completion\",\"created\":1718000000,\"model\":\"m\",\"choices\":"
    "[{\"index\":0,\"text\":\" Hello\",\"logprobs\":null,\"finish_reason\":null,\"stop_reason\":null}],"
    "\"usage\":null}\n\n"
    "data: {\"id\":\"cmpl-7\",\"object\":\"text_completion\",\"created\":1718000000,\"model\":\"m\",\"choices\":"
    "[{\"index\":0,\"text\":\"\",\"logprobs\":null,\"finish_reason\":null,\"stop_reason\":null}],\"usage\":null}\n\n"
    "data: {\"id\":\"cmpl-7\",\"choices\":[{\"index\":0,\"text\":\" wor\\u00e9ld \\\"q\\\"\",\"logprobs\":null}]}\r\n\r\n"
    "event: message\rid: 3\rdata: {\"choices\":[{\"index\":0,\"text\":\"!\"}]}\r\r"
    "data: {\"choices\":[{\"index\":0,\n"
    "data: \"text\":\" split\"}]}\n\n"
    ":keep-alive\n"
    "data: {\"id\":\"cmpl-7\",\"choices\":[{\"index\":0,\"text\":\"\",\"logprobs\":null,\"finish_reason\":\"length\","
    "\"stop_reason\":null}],\"usage\":null}\n\n"
    "data: {\"id\":\"cmpl-7\",\"object\":\"text_completion\",\"created\":1718000000,\"model\":\"m\",\"choices\":[],"
    "\"usage\":{\"prompt_tokens\":5,\"total_tokens\":11,\"completion_tokens\":6}}\n\n"
    "data: [DONE]\n\n";

/* Read off the stream above by hand: the comment and the keep-alive dispatch nothing. */
static const got_event k_expect[] = {
    {SP_SSE_CHUNK_DATA, 1, -1, -1, false}, /* " Hello" */
    {SP_SSE_CHUNK_DATA, 0, -1, -1, false}, /* "" */
    {SP_SSE_CHUNK_DATA, 1, -1, -1, false}, /* " wor\u00e9ld \"q\"" */
    {SP_SSE_CHUNK_DATA, 1, -1, -1, false}, /* "!" (bare CR line ends) */
    {SP_SSE_CHUNK_DATA, 1, -1, -1, false}, /* " split" (two data lines) */
    {SP_SSE_CHUNK_DATA, 0, -1, -1, false}, /* finish chunk */
    {SP_SSE_CHUNK_DATA, 0, 6, 5, false},   /* usage */
    {SP_SSE_CHUNK_DONE, 0, -1, -1, false},
};
#define N_EXPECT (sizeof k_expect / sizeof k_expect[0])

/* The HTTP response: headers, then the body in chunked coding with uneven chunk sizes (cutting events
 * and line ends), then the last chunk. */
static char *make_response(size_t *len)
{
    static const char head[] = "HTTP/1.1 200 OK\r\ndate: Mon, 01 Jan 2024 00:00:00 GMT\r\nserver: uvicorn\r\n"
                               "content-type: text/event-stream; charset=utf-8\r\ntransfer-encoding: chunked\r\n\r\n";
    static const size_t sizes[] = {7, 61, 1, 200, 13, 97, 2, 150};
    size_t blen = strlen(k_sse_body);
    char *out = malloc(strlen(head) + blen + 64 * 16);
    size_t k = (size_t)sprintf(out, "%s", head);
    size_t at = 0;
    for (int i = 0; at < blen; i++) {
        size_t n = sizes[i % 8];
        if (n > blen - at)
            n = blen - at;
        k += (size_t)sprintf(out + k, "%zx\r\n", n);
        memcpy(out + k, k_sse_body + at, n);
        k += n;
        memcpy(out + k, "\r\n", 2);
        k += 2;
        at += n;
    }
    k += (size_t)sprintf(out + k, "0\r\n\r\n");
    *len = k;
    return out;
}

static bool same_events(const collector *c)
{
    if ((size_t)c->n != N_EXPECT)
        return false;
    for (size_t i = 0; i < N_EXPECT; i++)
        if (c->ev[i].kind != k_expect[i].kind || c->ev[i].content != k_expect[i].content ||
            c->ev[i].completion != k_expect[i].completion || c->ev[i].prompt != k_expect[i].prompt ||
            c->ev[i].error_type != k_expect[i].error_type)
            return false;
    return true;
}

/* Feeds the response in the pieces [0, cut1), [cut1, cut2), [cut2, len) (step 0: byte by byte). */
static bool parse_split(const char *resp, size_t len, size_t cut1, size_t cut2, bool bytewise)
{
    collector c = {.n = 0};
    sp_http_resp r;
    memset(&r, 0, sizeof r);
    sp_http_resp_reset(&r);
    r.body_sink = body_to_sse;
    r.body_user = &c;
    sp_sse_reset(&g_sse);
    size_t at = 0;
    while (at < len && r.state != SP_HTTP_DONE && r.state != SP_HTTP_ERROR) {
        size_t end = bytewise ? at + 1 : at < cut1 ? cut1 : at < cut2 ? cut2 : len;
        at += sp_http_resp_feed(&r, resp + at, end - at);
    }
    return r.state == SP_HTTP_DONE && r.status == 200 && r.event_stream && at == len && same_events(&c);
}

static void test_every_split(void)
{
    size_t len;
    char *resp = make_response(&len);
    sp_sse_init(&g_sse);
    CHECK(parse_split(resp, len, len, len, false)); /* whole */
    CHECK(parse_split(resp, len, 0, 0, true));      /* byte by byte */
    int bad = 0;
    for (size_t cut = 0; cut <= len; cut++)
        if (!parse_split(resp, len, cut, len, false)) {
            if (!bad)
                fprintf(stderr, "split at %zu gives other events\n", cut);
            bad++;
        }
    CHECK_EQ_U64(bad, 0);
    /* three pieces, a coarse grid of both cuts */
    for (size_t a = 0; a < len; a += 37)
        for (size_t b = a; b <= len; b += 53)
            if (!parse_split(resp, len, a, b, false))
                bad++;
    CHECK_EQ_U64(bad, 0);
    sp_sse_free(&g_sse);
    free(resp);
}

/* The same events from a response delimited by the close (no chunked coding, HTTP/1.0 style) after
 * an interim 100 Continue: the body sink survives the interim response, and the EOF ends the body. */
static void test_eof_delimited(void)
{
    static char resp[8192];
    int n = snprintf(resp, sizeof resp, "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Type: "
                     "text/event-stream\r\nConnection: close\r\n\r\n%s", k_sse_body);
    collector c = {.n = 0};
    sp_http_resp r;
    memset(&r, 0, sizeof r);
    sp_http_resp_reset(&r);
    r.body_sink = body_to_sse;
    r.body_user = &c;
    sp_sse_init(&g_sse);
    for (int i = 0; i < n; i += 5) /* in 5-byte pieces */
        sp_http_resp_feed(&r, resp + i, (size_t)(n - i < 5 ? n - i : 5));
    CHECK(r.state == SP_HTTP_BODY_EOF);
    sp_http_resp_eof(&r);
    CHECK(r.state == SP_HTTP_DONE && r.status == 200 && r.event_stream);
    CHECK(same_events(&c));
    sp_sse_free(&g_sse);
}

static void classify(const char *data, sp_sse_chunk *ch)
{
    sp_sse_classify(data, strlen(data), ch);
}

static void test_chat_and_errors(void)
{
    sp_sse_chunk ch;
    /* the role-only first delta of a chat stream is no token */
    classify("{\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"choices\":[{\"index\":0,\"delta\":"
             "{\"role\":\"assistant\",\"content\":\"\"},\"logprobs\":null,\"finish_reason\":null}]}", &ch);
    CHECK(ch.kind == SP_SSE_CHUNK_DATA && ch.content == 0);
    classify("{\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hi\"},\"finish_reason\":null}]}", &ch);
    CHECK(ch.kind == SP_SSE_CHUNK_DATA && ch.content == 1);
    /* a reasoning model's thinking tokens (vLLM: reasoning_content) and tool calls are output */
    classify("{\"choices\":[{\"index\":0,\"delta\":{\"reasoning_content\":\"hm\",\"content\":null}}]}", &ch);
    CHECK(ch.content == 1);
    classify("{\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"function\":{\"arguments\":\"{\"}}]}}]}",
             &ch);
    CHECK(ch.content == 1);
    classify("{\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[ ]}}]}", &ch);
    CHECK(ch.content == 0);
    /* the chat usage chunk: empty choices */
    classify("{\"choices\":[],\"usage\":{\"prompt_tokens\":12,\"completion_tokens\":3,\"total_tokens\":15}}", &ch);
    CHECK(ch.content == 0 && ch.completion_tokens == 3 && ch.prompt_tokens == 12);
    /* [DONE] with blanks around it */
    classify(" [DONE]\r", &ch);
    CHECK(ch.kind == SP_SSE_CHUNK_DONE);
    /* errors: OpenAI's shape (vLLM today) and vLLM's older ErrorResponse; escapes undone for people */
    classify("{\"error\":{\"message\":\"KV cache \\\"full\\\"\",\"type\":\"InternalServerError\",\"code\":500}}", &ch);
    CHECK(ch.kind == SP_SSE_CHUNK_ERROR);
    CHECK(strcmp(ch.message, "KV cache \"full\"") == 0);
    classify("{\"object\":\"error\",\"message\":\"bad\",\"type\":\"BadRequestError\",\"param\":null,\"code\":400}", &ch);
    CHECK(ch.kind == SP_SSE_CHUNK_ERROR && strcmp(ch.message, "bad") == 0);
    classify("{\"choices\":[{\"text\":\"a\"}],\"error\":null}", &ch);
    CHECK(ch.kind == SP_SSE_CHUNK_DATA && ch.content == 1);
    /* malformed: cut JSON, not an object, trailing bytes, too deep */
    const char *bad[] = {"{\"choices\":[}", "[1,2]", "\"text\"", "{} x", "{\"a\":tru}", "{\"a\":01.}", "", "{\"u\":\"\x01\"}"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        classify(bad[i], &ch);
        if (ch.kind != SP_SSE_CHUNK_MALFORMED)
            fprintf(stderr, "not malformed: %s\n", bad[i]);
        CHECK(ch.kind == SP_SSE_CHUNK_MALFORMED);
    }
    /* {"a": 100 x '[' 100 x ']'}: well formed, but nested past the reader's depth of 64 */
    char deep[210];
    memcpy(deep, "{\"a\":", 5);
    memset(deep + 5, '[', 100);
    memset(deep + 105, ']', 100);
    deep[205] = '}';
    sp_sse_classify(deep, 206, &ch);
    CHECK(ch.kind == SP_SSE_CHUNK_MALFORMED);
    sp_sse_classify(deep + 5 + 40, 120, &ch); /* 60 deep: fine, but an array is not a chunk object */
    CHECK(ch.kind == SP_SSE_CHUNK_MALFORMED);
    /* usage that is not a plain count is no count */
    classify("{\"usage\":{\"completion_tokens\":2.5,\"prompt_tokens\":-1}}", &ch);
    CHECK(ch.kind == SP_SSE_CHUNK_DATA && ch.completion_tokens == -1 && ch.prompt_tokens == -1);
}

static void test_framing(void)
{
    collector c = {.n = 0};
    sp_sse s;
    sp_sse_init(&s);
    /* a byte order mark, "event: error" (data not JSON), an event left unterminated at the end */
    const char *t = "\xEF\xBB\xBF" "event: error\ndata: upstream died\n\ndata: {\"choices\":[]}";
    CHECK(sp_sse_feed(&s, t, strlen(t), collect, &c));
    CHECK_EQ_U64(c.n, 1);
    CHECK(c.ev[0].error_type && c.ev[0].kind == SP_SSE_CHUNK_MALFORMED);
    sp_sse_reset(&s);
    /* "data" with no colon is an empty data field: dispatched with empty data (malformed JSON) */
    c.n = 0;
    CHECK(sp_sse_feed(&s, "data\n\n", 6, collect, &c));
    CHECK_EQ_U64(c.n, 1);
    CHECK(c.ev[0].kind == SP_SSE_CHUNK_MALFORMED);
    /* a line over the cap fails the stream and stays failed */
    sp_sse_reset(&s);
    size_t big = SP_SSE_MAX_EVENT + 10;
    char *b = malloc(big);
    memset(b, 'x', big);
    memcpy(b, "data: ", 6);
    CHECK(!sp_sse_feed(&s, b, big / 2, collect, &c) || !sp_sse_feed(&s, b + big / 2, big - big / 2, collect, &c));
    CHECK(s.overflow);
    CHECK(!sp_sse_feed(&s, "\n\n", 2, collect, &c));
    free(b);
    sp_sse_free(&s);
}

/* docs/load.md "Counting tokens": 4 content events at 10, 20, 30, 40 ns and usage of 6 tokens: the
 * E = 2 extras go to event i by floor((i+1)E/C) - floor(iE/C) = 0, 1, 0, 1 (C = 4), so the token
 * times are 10, 20, 20, 30, 40, 40 (hand-computed); TPOT = (40 - 10) / (6 - 1) = 6 ns; the ITL gaps
 * are 10, 0, 10, 10, 0. */
static void test_counting(void)
{
    sp_stream_conn s;
    memset(&s, 0, sizeof s);
    sp_stream_conn_reset(&s);
    sp_http_resp r;
    memset(&r, 0, sizeof r);
    sp_http_resp_reset(&r);
    r.status = 200;
    r.event_stream = true;
    const char *ev[] = {"data: {\"choices\":[{\"text\":\"a\"}]}\n\n", "data: {\"choices\":[{\"text\":\"b\"}]}\n\n",
                        "data: {\"choices\":[{\"text\":\"c\"}]}\n\n", "data: {\"choices\":[{\"text\":\"d\"}]}\n\n"};
    for (int i = 0; i < 4; i++) {
        s.now = 10 * (uint64_t)(i + 1);
        sp_stream_on_body(&s, &r, ev[i], strlen(ev[i]));
    }
    const char *tail = "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":3,\"completion_tokens\":6}}\n\ndata: [DONE]\n\n";
    s.now = 45;
    sp_stream_on_body(&s, &r, tail, strlen(tail));
    int why;
    CHECK_EQ_U64(sp_stream_conn_outcome(&s, &r, &why), 200);
    sp_stream_log l;
    memset(&l, 0, sizeof l);
    CHECK(sp_stream_log_reserve(&l, 1) == SP_OK);
    sp_stream_log_commit(&l, 0, &s, why, true);
    const sp_stream_rec *q = &l.recs[0];
    CHECK_EQ_U64(q->tokens, 6);
    CHECK_EQ_U64(q->n_times, 6);
    CHECK_EQ_U64(q->prompt_tokens, 3);
    const uint64_t want[6] = {10, 20, 20, 30, 40, 40};
    for (int i = 0; i < 6; i++)
        CHECK_EQ_U64(l.pool[q->off + (uint64_t)i], want[i]);
    sp_load_result res;
    memset(&res, 0, sizeof res);
    sp_stream_acc a;
    CHECK(sp_stream_acc_init(&a, &l, 1, &res.streamed) == SP_OK);
    sp_stream_acc_add(&a, &l, 0, 2, 5, 45, 200); /* intended 2, sent 5, done 45 */
    sp_stream_acc_finish(&a, &l, 1.0);
    CHECK_EQ_U64(res.streamed.ttft.p50, 10 - 2);
    CHECK_EQ_U64(res.streamed.ttft_send.p50, 10 - 5);
    CHECK_EQ_U64(res.streamed.tpot.p50, 6);
    CHECK_EQ_U64(res.streamed.itl.count, 5);
    CHECK_EQ_U64(res.streamed.itl.max, 10);
    CHECK_NEAR(res.streamed.itl.mean, 6.0, 1e-9); /* = TPOT, whatever the spread */
    CHECK_EQ_U64(res.streamed.e2e.p50, 43);
    CHECK_EQ_U64(res.streamed.output_tokens, 6);

    /* usage below the events: the events' count is kept and flagged; no [DONE] fails the stream */
    sp_stream_conn_reset(&s);
    for (int i = 0; i < 4; i++) {
        s.now = 100 + (uint64_t)i;
        sp_stream_on_body(&s, &r, ev[i], strlen(ev[i]));
    }
    const char *low = "data: {\"choices\":[],\"usage\":{\"completion_tokens\":2}}\n\n";
    sp_stream_on_body(&s, &r, low, strlen(low));
    CHECK_EQ_U64(sp_stream_conn_outcome(&s, &r, &why), (uint64_t)(int64_t)SP_LOAD_ERR_STREAM);
    CHECK_EQ_U64(why, SP_LOAD_STREAM_NO_DONE);
    CHECK(sp_stream_log_reserve(&l, 2) == SP_OK);
    sp_stream_log_commit(&l, 1, &s, why, true);
    CHECK_EQ_U64(l.recs[1].tokens, 4);
    CHECK(l.recs[1].flags & SP_STREAM_USAGE_BELOW);
    CHECK(strcmp(l.first_error, "no [DONE]") == 0);

    /* a 2xx that is not an event stream, and an error event */
    sp_stream_conn_reset(&s);
    r.event_stream = false;
    sp_stream_on_body(&s, &r, "{}", 2);
    CHECK_EQ_U64(sp_stream_conn_outcome(&s, &r, &why), (uint64_t)(int64_t)SP_LOAD_ERR_STREAM);
    CHECK_EQ_U64(why, SP_LOAD_STREAM_NOT_SSE);
    r.event_stream = true;
    sp_stream_conn_reset(&s);
    const char *err = "data: {\"choices\":[{\"text\":\"a\"}]}\n\ndata: {\"error\":{\"message\":\"oom\"}}\n\ndata: [DONE]\n\n";
    sp_stream_on_body(&s, &r, err, strlen(err));
    CHECK_EQ_U64(sp_stream_conn_outcome(&s, &r, &why), (uint64_t)(int64_t)SP_LOAD_ERR_STREAM);
    CHECK_EQ_U64(why, SP_LOAD_STREAM_ERROR_EVENT);
    CHECK(strcmp(s.message, "oom") == 0);
    /* an error object with no readable message (a key that is not "message"), then one with a
     * message: the first error is kept, and it says that it had none (the fuzz corpus's
     * error_event_no_message; under ASan this once read past a shorter literal) */
    sp_stream_conn_reset(&s);
    const char *nomsg = "data: {\"object\":\"error\",\"messa\x98" "e\":\"bad\",\"code\":400}\n\n"
                        "data: {\"error\":{\"message\":\"later\"}}\n\n";
    sp_stream_on_body(&s, &r, nomsg, strlen(nomsg));
    CHECK_EQ_U64(sp_stream_conn_outcome(&s, &r, &why), (uint64_t)(int64_t)SP_LOAD_ERR_STREAM);
    CHECK_EQ_U64(why, SP_LOAD_STREAM_ERROR_EVENT);
    CHECK(strcmp(s.message, "an error event without a message") == 0);
    /* an error status's body is not read as a stream */
    sp_stream_conn_reset(&s);
    r.status = 503;
    sp_stream_on_body(&s, &r, err, strlen(err));
    CHECK_EQ_U64(sp_stream_conn_outcome(&s, &r, &why), 503);
    CHECK_EQ_U64(s.events, 0);
    sp_stream_conn_free(&s);
    sp_stream_log_free(&l);
}

/* Feeds one stream's events, event i at times[i] ns, to a fresh connection and commits it as
 * request `req` of l; returns the outcome. */
static int feed_stream(sp_stream_log *l, uint32_t req, const char *const *ev, const uint64_t *times, int n)
{
    sp_stream_conn s;
    memset(&s, 0, sizeof s);
    sp_stream_conn_reset(&s);
    sp_http_resp r;
    memset(&r, 0, sizeof r);
    sp_http_resp_reset(&r);
    r.status = 200;
    r.event_stream = true;
    for (int i = 0; i < n; i++) {
        s.now = times[i];
        sp_stream_on_body(&s, &r, ev[i], strlen(ev[i]));
    }
    int why;
    int st = sp_stream_conn_outcome(&s, &r, &why);
    CHECK(sp_stream_log_reserve(l, req + 1) == SP_OK);
    sp_stream_log_commit(l, req, &s, why, true);
    sp_stream_conn_free(&s);
    return st;
}

static bool times_are(const sp_stream_log *l, uint32_t req, const uint64_t *want, uint32_t n)
{
    const sp_stream_rec *q = &l->recs[req];
    if (q->n_times != n)
        return false;
    for (uint32_t i = 0; i < n; i++)
        if (l->pool[q->off + i] != want[i])
            return false;
    return true;
}

/* vLLM's chunks as its OpenAI server writes them (vllm/entrypoints/openai/serving_chat.py,
 * chat_completion_stream_generator, and serving_completion.py, completion_stream_generator; chunks
 * dumped with exclude_unset / exclude_none as there): the chat role chunk (one per choice, content ""),
 * content chunks, a chunk whose content is "" for a token whose text the detokenizer holds back, the
 * finish chunk of an end-of-sequence token (content "", finish_reason "stop": the token is in
 * completion_tokens, its text is not), the usage chunk (choices [], after the last choice chunk), the
 * finish chunk with an empty delta {} (a parser had nothing to send), completions chunks with
 * "usage":null, and both error shapes. */
static void test_vllm_shapes(void)
{
    sp_sse_chunk ch;
    /* chat */
    classify("{\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\",\"created\":1760000000,\"model\":\"m\","
             "\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"},\"logprobs\":null,"
             "\"finish_reason\":null}]}", &ch);
    CHECK(ch.kind == SP_SSE_CHUNK_DATA && ch.content == 0 && ch.empty == 0 && ch.completion_tokens == -1);
    /* ... with continuous_usage_stats: usage rides on every chunk, the role chunk's says 0 */
    classify("{\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\",\"created\":1760000000,\"model\":\"m\","
             "\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"},\"logprobs\":null,"
             "\"finish_reason\":null}],\"usage\":{\"prompt_tokens\":7,\"total_tokens\":7,\"completion_tokens\":0}}", &ch);
    CHECK(ch.content == 0 && ch.empty == 0 && ch.completion_tokens == 0 && ch.prompt_tokens == 7);
    classify("{\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\",\"created\":1760000000,\"model\":\"m\","
             "\"choices\":[{\"index\":0,\"delta\":{\"content\":\" Paris\"},\"logprobs\":null,\"finish_reason\":null}]}", &ch);
    CHECK(ch.content == 1 && ch.empty == 0);
    classify("{\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\",\"created\":1760000000,\"model\":\"m\","
             "\"choices\":[{\"index\":0,\"delta\":{\"content\":\"\"},\"logprobs\":null,\"finish_reason\":null}]}", &ch);
    CHECK(ch.content == 0 && ch.empty == 1);
    classify("{\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\",\"created\":1760000000,\"model\":\"m\","
             "\"choices\":[{\"index\":0,\"delta\":{\"content\":\"\"},\"logprobs\":null,\"finish_reason\":\"stop\","
             "\"stop_reason\":null}]}", &ch);
    CHECK(ch.content == 0 && ch.empty == 1);
    classify("{\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\",\"created\":1760000000,\"model\":\"m\","
             "\"choices\":[{\"index\":0,\"delta\":{},\"logprobs\":null,\"finish_reason\":\"tool_calls\","
             "\"stop_reason\":null}]}", &ch);
    CHECK(ch.content == 0 && ch.empty == 1);
    classify("{\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\",\"created\":1760000000,\"model\":\"m\","
             "\"choices\":[],\"usage\":{\"prompt_tokens\":7,\"total_tokens\":12,\"completion_tokens\":5}}", &ch);
    CHECK(ch.content == 0 && ch.empty == 0 && ch.completion_tokens == 5 && ch.prompt_tokens == 7);
    /* n = 2: a role chunk per choice index, then each choice's chunks apart */
    classify("{\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\",\"created\":1760000000,\"model\":\"m\","
             "\"choices\":[{\"index\":1,\"delta\":{\"role\":\"assistant\",\"content\":\"\"},\"logprobs\":null,"
             "\"finish_reason\":null}]}", &ch);
    CHECK(ch.content == 0 && ch.empty == 0);
    /* completions: every field written, usage null until the usage chunk */
    classify("{\"id\":\"cmpl-1\",\"object\":\"text_completion\",\"created\":1760000000,\"model\":\"m\",\"choices\":"
             "[{\"index\":0,\"text\":\" the\",\"logprobs\":null,\"finish_reason\":null,\"stop_reason\":null}],\"usage\":null}", &ch);
    CHECK(ch.content == 1 && ch.empty == 0 && ch.completion_tokens == -1);
    classify("{\"id\":\"cmpl-1\",\"object\":\"text_completion\",\"created\":1760000000,\"model\":\"m\",\"choices\":"
             "[{\"index\":0,\"text\":\"\",\"logprobs\":null,\"finish_reason\":\"stop\",\"stop_reason\":null}],\"usage\":null}", &ch);
    CHECK(ch.content == 0 && ch.empty == 1);
    /* errors mid-stream: create_streaming_error_response, then [DONE] */
    classify("{\"error\":{\"message\":\"The engine died\",\"type\":\"InternalServerError\",\"param\":null,\"code\":500}}", &ch);
    CHECK(ch.kind == SP_SSE_CHUNK_ERROR && strcmp(ch.message, "The engine died") == 0);
    classify("{\"error\":{\"object\":\"error\",\"message\":\"bad\",\"type\":\"BadRequestError\",\"param\":null,\"code\":400}}", &ch);
    CHECK(ch.kind == SP_SSE_CHUNK_ERROR && strcmp(ch.message, "bad") == 0);

    /* Counting (docs/load.md "Counting tokens"), times in ns, worked by hand:
     * 1. a vLLM chat stream ending on the end-of-sequence token: role (5), content at 10, 20, 30,
     *    the EOS finish chunk at 40, usage 4: tokens at 10, 20, 30, 40; TPOT = (40 - 10) / 3 = 10.
     *    Before, the fourth token went to the last content event (30): TPOT (30 - 10) / 3 = 7. */
    const char *const eos[] = {
        "data: {\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"},\"logprobs\":null,\"finish_reason\":null}]}\n\n",
        "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"a\"},\"logprobs\":null,\"finish_reason\":null}]}\n\n",
        "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"b\"},\"logprobs\":null,\"finish_reason\":null}]}\n\n",
        "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"c\"},\"logprobs\":null,\"finish_reason\":null}]}\n\n",
        "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"\"},\"logprobs\":null,\"finish_reason\":\"stop\",\"stop_reason\":null}]}\n\n",
        "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":3,\"total_tokens\":7,\"completion_tokens\":4}}\n\ndata: [DONE]\n\n"};
    const uint64_t eos_t[] = {5, 10, 20, 30, 40, 45};
    sp_stream_log l;
    memset(&l, 0, sizeof l);
    CHECK_EQ_U64(feed_stream(&l, 0, eos, eos_t, 6), 200);
    CHECK_EQ_U64(l.recs[0].tokens, 4);
    CHECK(times_are(&l, 0, (const uint64_t[]){10, 20, 30, 40}, 4));
    CHECK_EQ_U64(l.recs[0].first, 10);
    CHECK_EQ_U64(l.recs[0].last, 40);
    /* 2. a held-back token: content at 10, "" at 20, then both characters at 30; usage 3: 10, 20, 30 */
    const char *const held[] = {
        "data: {\"choices\":[{\"index\":0,\"text\":\"a\",\"logprobs\":null,\"finish_reason\":null,\"stop_reason\":null}],\"usage\":null}\n\n",
        "data: {\"choices\":[{\"index\":0,\"text\":\"\",\"logprobs\":null,\"finish_reason\":null,\"stop_reason\":null}],\"usage\":null}\n\n",
        "data: {\"choices\":[{\"index\":0,\"text\":\"\\u00e9\",\"logprobs\":null,\"finish_reason\":\"length\",\"stop_reason\":null}],\"usage\":null}\n\n",
        "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":3,\"total_tokens\":6,\"completion_tokens\":3}}\n\ndata: [DONE]\n\n"};
    const uint64_t held_t[] = {10, 20, 30, 35};
    CHECK_EQ_U64(feed_stream(&l, 1, held, held_t, 4), 200);
    CHECK_EQ_U64(l.recs[1].tokens, 3);
    CHECK(times_are(&l, 1, (const uint64_t[]){10, 20, 30}, 3));
    /* 3. OpenAI's shape: a last chunk with an empty delta and the finish reason carries no token when
     *    the usage has no room for it (3 = the content events): 10, 20, 30 */
    const char *const oai[] = {
        "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"a\"}}]}\n\n",
        "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"b\"}}]}\n\n",
        "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"c\"}}]}\n\n",
        "data: {\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\n",
        "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":3,\"completion_tokens\":3}}\n\ndata: [DONE]\n\n"};
    const uint64_t oai_t[] = {10, 20, 30, 40, 45};
    CHECK_EQ_U64(feed_stream(&l, 2, oai, oai_t, 5), 200);
    CHECK_EQ_U64(l.recs[2].tokens, 3);
    CHECK(times_are(&l, 2, (const uint64_t[]){10, 20, 30}, 3));
    CHECK_EQ_U64(l.recs[2].last, 30);
    /* 4. without usage an empty chunk is no token (nothing says it carried one): 10, 20, 30 */
    const char *const nousage[] = {oai[0], oai[1], oai[2], eos[4], "data: [DONE]\n\n"};
    CHECK_EQ_U64(feed_stream(&l, 3, nousage, oai_t, 5), 200);
    CHECK_EQ_U64(l.recs[3].tokens, 3);
    CHECK(times_are(&l, 3, (const uint64_t[]){10, 20, 30}, 3));
    /* 5. the model stopped at once: role chunk, the EOS finish chunk at 20, usage 1: one token at 20
     *    (a TTFT), not a success without tokens */
    const char *const once[] = {eos[0], eos[4],
                                "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":3,\"completion_tokens\":1}}\n\ndata: [DONE]\n\n"};
    const uint64_t once_t[] = {10, 20, 25};
    CHECK_EQ_U64(feed_stream(&l, 4, once, once_t, 3), 200);
    CHECK_EQ_U64(l.recs[4].tokens, 1);
    CHECK(times_are(&l, 4, (const uint64_t[]){20}, 1));
    CHECK_EQ_U64(l.recs[4].first, 20);
    /* 6. more extras than empty events: each empty event one, the rest spread over the content events
     *    as before: content 10, 20, empty 30, usage 5: E = 5 - 2 - 1 = 2 over C = 2: 1 each: 10, 10, 20,
     *    20, 30 */
    const char *const more[] = {oai[0], oai[1], eos[4],
                                "data: {\"choices\":[],\"usage\":{\"completion_tokens\":5}}\n\ndata: [DONE]\n\n"};
    const uint64_t more_t[] = {10, 20, 30, 35};
    CHECK_EQ_U64(feed_stream(&l, 5, more, more_t, 4), 200);
    CHECK_EQ_U64(l.recs[5].tokens, 5);
    CHECK(times_are(&l, 5, (const uint64_t[]){10, 10, 20, 20, 30}, 5));
    /* the figures of stream 1: TTFT from intended 2 is 8, TPOT 10 */
    sp_load_result res;
    memset(&res, 0, sizeof res);
    sp_stream_acc a;
    CHECK(sp_stream_acc_init(&a, &l, 1, &res.streamed) == SP_OK);
    sp_stream_acc_add(&a, &l, 0, 2, 3, 46, 200);
    sp_stream_acc_finish(&a, &l, 1.0);
    CHECK_EQ_U64(res.streamed.ttft.p50, 8);
    CHECK_EQ_U64(res.streamed.tpot.p50, 10);
    sp_stream_log_free(&l);
}

/* A stream longer than the per-request cap of token times (SP_LOAD_MAX_OUTPUT_TOKENS): the trace
 * record keeps the first cap times, its output_tokens is their count (the contract: the count of
 * token_ns, which the importer checks) and output_tokens_counted the count by the rule (usage: cap + 7). */
static void test_trace_cap(void)
{
    sp_stream_conn s;
    memset(&s, 0, sizeof s);
    sp_stream_conn_reset(&s);
    sp_http_resp r;
    memset(&r, 0, sizeof r);
    sp_http_resp_reset(&r);
    r.status = 200;
    r.event_stream = true;
    const char *ev = "data: {\"choices\":[{\"text\":\"a\"}]}\n\n";
    for (uint32_t i = 0; i < SP_LOAD_MAX_OUTPUT_TOKENS + 3; i++) { /* 3 events past the cap */
        s.now = 1000 + i;
        sp_stream_on_body(&s, &r, ev, strlen(ev));
    }
    char tail[160];
    snprintf(tail, sizeof tail, "data: {\"choices\":[],\"usage\":{\"completion_tokens\":%u}}\n\ndata: [DONE]\n\n",
             SP_LOAD_MAX_OUTPUT_TOKENS + 7);
    sp_stream_on_body(&s, &r, tail, strlen(tail));
    int why;
    CHECK_EQ_U64(sp_stream_conn_outcome(&s, &r, &why), 200);
    sp_stream_log l;
    memset(&l, 0, sizeof l);
    CHECK(sp_stream_log_reserve(&l, 1) == SP_OK);
    sp_stream_log_commit(&l, 0, &s, why, true);
    CHECK_EQ_U64(l.recs[0].tokens, SP_LOAD_MAX_OUTPUT_TOKENS + 7);
    CHECK_EQ_U64(l.recs[0].n_times, SP_LOAD_MAX_OUTPUT_TOKENS);
    CHECK_EQ_U64(l.dropped, 7);
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    sp_stream_trace_fields(f, &l, 0, 40000, 200);
    fclose(f);
    char want[128];
    snprintf(want, sizeof want, ",\"max_tokens\":40000,\"output_tokens\":%u,\"output_tokens_counted\":%u,",
             SP_LOAD_MAX_OUTPUT_TOKENS, SP_LOAD_MAX_OUTPUT_TOKENS + 7);
    CHECK(text && strncmp(text, want, strlen(want)) == 0);
    size_t commas = 0; /* token_ns holds the kept times: cap - 1 commas inside its brackets */
    const char *arr = text ? strstr(text, "\"token_ns\":[") : NULL;
    for (const char *p = arr; p && *p && *p != ']'; p++)
        commas += *p == ',';
    CHECK_EQ_U64(commas, SP_LOAD_MAX_OUTPUT_TOKENS - 1);
    free(text);
    sp_stream_conn_free(&s);
    sp_stream_log_free(&l);
}

/* first_error is the reason of the measured failed stream scheduled first, whatever the order the
 * streams ended in (streams end in an order the server decides), and a warm-up failure is not one:
 * request 3 ends first (no [DONE]), then 1 (an error event), then warm-up request 0 (an error event). */
static void test_first_error_order(void)
{
    sp_stream_conn s;
    memset(&s, 0, sizeof s);
    sp_http_resp r;
    memset(&r, 0, sizeof r);
    sp_http_resp_reset(&r);
    r.status = 200;
    r.event_stream = true;
    sp_stream_log l;
    memset(&l, 0, sizeof l);
    CHECK(sp_stream_log_reserve(&l, 4) == SP_OK);
    int why;
    const char *no_done = "data: {\"choices\":[{\"text\":\"a\"}]}\n\n";
    const char *err1 = "data: {\"error\":{\"message\":\"one\"}}\n\n";
    const char *err0 = "data: {\"error\":{\"message\":\"zero\"}}\n\n";
    sp_stream_conn_reset(&s);
    sp_stream_on_body(&s, &r, no_done, strlen(no_done));
    sp_stream_conn_outcome(&s, &r, &why);
    sp_stream_log_commit(&l, 3, &s, why, true);
    CHECK(strcmp(l.first_error, "no [DONE]") == 0);
    sp_stream_conn_reset(&s);
    sp_stream_on_body(&s, &r, err1, strlen(err1));
    sp_stream_conn_outcome(&s, &r, &why);
    sp_stream_log_commit(&l, 1, &s, why, true);
    CHECK(strcmp(l.first_error, "error event: one") == 0);
    sp_stream_conn_reset(&s);
    sp_stream_on_body(&s, &r, err0, strlen(err0));
    sp_stream_conn_outcome(&s, &r, &why);
    sp_stream_log_commit(&l, 0, &s, why, false);
    CHECK(strcmp(l.first_error, "error event: one") == 0);
    CHECK_EQ_U64(l.recs[0].why, 1 + SP_LOAD_STREAM_ERROR_EVENT); /* still recorded for the trace */
    sp_stream_conn_free(&s);
    sp_stream_log_free(&l);
}

int main(void)
{
    test_every_split();
    test_eof_delimited();
    test_chat_and_errors();
    test_framing();
    test_counting();
    test_vllm_shapes();
    test_first_error_order();
    test_trace_cap();
    return sp_test_done("test_load_sse");
}
