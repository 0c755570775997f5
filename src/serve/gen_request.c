/* Reading a generation request: the body of POST /v1/completions or /v1/chat/completions (JSON,
 * parsed whole: bodies are capped), its fields checked one by one with OpenAI-shaped 400s that name
 * the field, the chat template applied, and the prompt tokenised and checked against the context.
 * This is the request's preprocess stage. */
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "serve/gen_service_int.h"

static int bad(sp_srv_req *r, const char *fmt, ...) SP_PRINTF(2, 3);
static int bad(sp_srv_req *r, const char *fmt, ...)
{
    char msg[320];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    sp_srv_set_error(r, MHD_HTTP_BAD_REQUEST, "invalid_request_error", msg);
    return 0;
}

static void req_free(sp_gen_req *g)
{
    if (!g)
        return;
    for (size_t i = 0; i < g->n_stop; i++)
        free(g->stop[i]);
    free(g->prompt);
    free(g->text);
    free(g->sse);
    free(g->tok_end);
    free(g->tok_ready);
    free(g->resp);
    pthread_mutex_destroy(&g->mu);
    free(g);
}

void sp_gen_req_unref(sp_gen_req *g)
{
    pthread_mutex_lock(&g->mu);
    int left = --g->refs;
    pthread_mutex_unlock(&g->mu);
    if (left == 0)
        req_free(g);
}

/* A text field: absent (NULL), or a string without NUL characters. */
static int text_field(sp_srv_req *r, json_t *v, const char *name)
{
    if (!json_is_string(v))
        return bad(r, "'%s' must be a string", name);
    if (strlen(json_string_value(v)) != json_string_length(v))
        return bad(r, "'%s' contains a NUL character (\\u0000), which text cannot hold", name);
    return 1;
}

/* Tokenises `text` as a prompt: [CLS] and the word pieces (no [SEP]: the model continues the text).
 * Every token covers at least one byte, so len + 2 ids hold the whole encoding: the count is exact,
 * never cut. */
static int tokenize_prompt(sp_srv_req *r, sp_gen_req *g, const char *text, size_t len)
{
    int32_t *ids = malloc((len + 2) * sizeof(int32_t));
    if (!ids)
        return 0;
    size_t n = sp_tokenizer_encode(r->srv->tok, text, len, ids, len + 2);
    g->prompt = ids;
    g->prompt_len = (uint32_t)(n > 0 ? n - 1 : 0);
    return 1;
}

/* "prompt": a non-empty string, a list of one such string, or a non-empty list of token ids. */
static int read_prompt(sp_srv_req *r, sp_gen_req *g, json_t *p)
{
    if (!p)
        return bad(r, "'prompt' is required");
    if (json_is_array(p) && json_array_size(p) == 1 && json_is_string(json_array_get(p, 0)))
        p = json_array_get(p, 0);
    if (json_is_string(p)) {
        if (!text_field(r, p, "prompt"))
            return 0;
        if (json_string_length(p) == 0)
            return bad(r, "'prompt' is an empty string; there is nothing to continue");
        if (!tokenize_prompt(r, g, json_string_value(p), json_string_length(p)))
            return -1;
        return 1;
    }
    size_t n = json_array_size(p);
    if (!json_is_array(p) || n == 0)
        return bad(r, "'prompt' must be a string or a non-empty list of token ids");
    if (json_is_string(json_array_get(p, 0)))
        return bad(r, "'prompt' holds %zu strings; one prompt per request is served (n = 1)", n);
    size_t vocab = sp_decoder_get_config(r->srv->gen->dec)->vocab_size;
    g->prompt = malloc(n * sizeof(int32_t));
    if (!g->prompt)
        return -1;
    for (size_t i = 0; i < n; i++) {
        json_t *t = json_array_get(p, i);
        if (!json_is_integer(t) || json_integer_value(t) < 0 || (size_t)json_integer_value(t) >= vocab)
            return bad(r, "'prompt[%zu]' must be a token id in 0..%zu", i, vocab - 1);
        g->prompt[i] = (int32_t)json_integer_value(t);
    }
    g->prompt_len = (uint32_t)(n > UINT32_MAX ? UINT32_MAX : n);
    return 1;
}

/* "messages": a non-empty list of {"role": string, "content": string}, joined by the chat template
 * (sp_gen_chat_prompt) and tokenised. */
static int read_messages(sp_srv_req *r, sp_gen_req *g, json_t *msgs)
{
    size_t n = json_array_size(msgs);
    if (!json_is_array(msgs) || n == 0)
        return bad(r, "'messages' must be a non-empty list of {\"role\", \"content\"} objects");
    sp_gen_message *m = calloc(n, sizeof(*m));
    if (!m)
        return -1;
    int ok = 1;
    for (size_t i = 0; i < n && ok; i++) {
        json_t *o = json_array_get(msgs, i), *role = json_object_get(o, "role"), *content = json_object_get(o, "content");
        char where[64];
        if (!json_is_object(o)) {
            ok = bad(r, "'messages[%zu]' must be an object with \"role\" and \"content\"", i);
            break;
        }
        snprintf(where, sizeof(where), "messages[%zu].role", i);
        if (!role) {
            ok = bad(r, "'%s' is required", where);
            break;
        }
        if (!text_field(r, role, where)) {
            ok = 0;
            break;
        }
        if (json_string_length(role) == 0) {
            ok = bad(r, "'%s' is empty", where);
            break;
        }
        snprintf(where, sizeof(where), "messages[%zu].content", i);
        if (!content) {
            ok = bad(r, "'%s' is required (a string)", where);
            break;
        }
        if (!text_field(r, content, where)) {
            ok = 0;
            break;
        }
        m[i].role = json_string_value(role);
        m[i].role_len = json_string_length(role);
        m[i].content = json_string_value(content);
        m[i].content_len = json_string_length(content);
    }
    if (ok) {
        size_t need = sp_gen_chat_prompt(m, n, NULL, 0);
        char *text = malloc(need + 1);
        ok = text && tokenize_prompt(r, g, (sp_gen_chat_prompt(m, n, text, need + 1), text), need) ? 1 : -1;
        free(text);
    }
    free(m);
    return ok;
}

/* "stop": absent, null, a string, or a list of at most SP_GEN_MAX_STOP strings; none empty. */
static int read_stop(sp_srv_req *r, sp_gen_req *g, json_t *stop)
{
    if (!stop || json_is_null(stop))
        return 1;
    size_t n = json_is_string(stop) ? 1 : json_array_size(stop);
    if (!(json_is_string(stop) || json_is_array(stop)) || n > SP_GEN_MAX_STOP)
        return bad(r, "'stop' must be a string or a list of at most %d strings", SP_GEN_MAX_STOP);
    for (size_t i = 0; i < n; i++) {
        json_t *s = json_is_string(stop) ? stop : json_array_get(stop, i);
        if (!text_field(r, s, "stop"))
            return 0;
        size_t len = json_string_length(s);
        if (len == 0 || len > SP_GEN_MAX_STOP_BYTES)
            return bad(r, "'stop' strings must be 1..%d bytes long", SP_GEN_MAX_STOP_BYTES);
        g->stop[g->n_stop] = strdup(json_string_value(s));
        if (!g->stop[g->n_stop])
            return -1;
        g->stop_len[g->n_stop++] = len;
    }
    return 1;
}

/* A number field in [lo, hi], or absent / null (*out unchanged). */
static int number_field(sp_srv_req *r, json_t *root, const char *name, double lo, double hi, double *out)
{
    json_t *v = json_object_get(root, name);
    if (!v || json_is_null(v))
        return 1;
    if (!json_is_number(v) || json_number_value(v) < lo || json_number_value(v) > hi)
        return bad(r, "'%s' must be a number in %g..%g", name, lo, hi);
    *out = json_number_value(v);
    return 1;
}

/* Sampling: temperature (0..2, default 1 as OpenAI's), top_k (vLLM's: -1 or 0 for all), top_p only
 * at 1 (not implemented: refused rather than ignored), seed (default: the server's seed and the
 * request id, so every run of a trace draws the same). */
static int read_sampling(sp_srv_req *r, sp_gen_req *g, json_t *root)
{
    double temp = 1.0, top_p = 1.0, top_k = 0.0;
    if (!number_field(r, root, "temperature", 0.0, 2.0, &temp) || !number_field(r, root, "top_p", 0.0, 1.0, &top_p))
        return 0;
    if (top_p != 1.0)
        return bad(r, "'top_p' other than 1 is not supported by this service; use 'top_k' or 'temperature'");
    json_t *k = json_object_get(root, "top_k");
    if (k && !json_is_null(k)) {
        if (!json_is_integer(k) || json_integer_value(k) < -1 || json_integer_value(k) > (json_int_t)UINT32_MAX)
            return bad(r, "'top_k' must be an integer, -1 or 0 for every token");
        top_k = json_integer_value(k) < 0 ? 0.0 : (double)json_integer_value(k);
    }
    g->sampling.temperature = temp;
    g->sampling.top_k = (uint32_t)top_k;
    json_t *seed = json_object_get(root, "seed");
    if (seed && !json_is_null(seed) && !json_is_integer(seed))
        return bad(r, "'seed' must be an integer");
    if (seed && json_is_integer(seed))
        sp_rng_seed(&g->rng, (uint64_t)json_integer_value(seed), 0);
    else
        sp_rng_seed(&g->rng, r->srv->opt.seed, g->id);
    return 1;
}

/* Flags: stream, stream_options.include_usage, ignore_eos (vLLM's); n must be 1; logprobs refused. */
static int read_flags(sp_srv_req *r, sp_gen_req *g, json_t *root)
{
    const char *flags[] = {"stream", "ignore_eos"};
    int *dst[] = {&g->stream, &g->ignore_eos};
    for (size_t i = 0; i < 2; i++) {
        json_t *v = json_object_get(root, flags[i]);
        if (v && !json_is_null(v) && !json_is_boolean(v))
            return bad(r, "'%s' must be true or false", flags[i]);
        *dst[i] = json_is_true(v);
    }
    json_t *so = json_object_get(root, "stream_options");
    if (so && !json_is_null(so)) {
        json_t *iu = json_object_get(so, "include_usage");
        if (!json_is_object(so) || (iu && !json_is_boolean(iu)))
            return bad(r, "'stream_options' must be an object whose 'include_usage' is true or false");
        if (!g->stream)
            return bad(r, "'stream_options' is only allowed with \"stream\": true");
        g->include_usage = json_is_true(iu);
    }
    json_t *n = json_object_get(root, "n");
    if (n && !json_is_null(n) && !(json_is_integer(n) && json_integer_value(n) == 1))
        return bad(r, "'n' must be 1: one choice per request is served");
    json_t *lp = json_object_get(root, "logprobs");
    if (lp && !json_is_null(lp) && !json_is_false(lp) && !(json_is_integer(lp) && json_integer_value(lp) == 0))
        return bad(r, "'logprobs' is not supported by this service");
    json_t *model = json_object_get(root, "model");
    if (model && !json_is_null(model) && !json_is_string(model))
        return bad(r, "'model' must be a string");
    return 1;
}

/* max_tokens (chat: also max_completion_tokens) against the context: prompt + output <= max_len. An
 * absent max_tokens is SP_SERVER_DEFAULT_MAX_TOKENS, cut to what the context leaves. */
static int read_max_tokens(sp_srv_req *r, sp_gen_req *g, json_t *root, int chat)
{
    uint32_t ctx = r->srv->gen->context;
    if (g->prompt_len >= ctx)
        return bad(r, "the prompt is %u tokens; this model's context is %u tokens, so at most %u may be given "
                      "to leave room for one output token",
                   g->prompt_len, ctx, ctx - 1);
    json_t *mt = json_object_get(root, "max_tokens");
    const char *name = "max_tokens";
    if (chat && (!mt || json_is_null(mt))) {
        mt = json_object_get(root, "max_completion_tokens");
        name = "max_completion_tokens";
    }
    uint32_t room = ctx - g->prompt_len;
    if (!mt || json_is_null(mt)) {
        g->seq.max_new = SP_SERVER_DEFAULT_MAX_TOKENS < room ? SP_SERVER_DEFAULT_MAX_TOKENS : room;
        return 1;
    }
    if (!json_is_integer(mt) || json_integer_value(mt) < 1)
        return bad(r, "'%s' must be a positive integer", name);
    if (json_integer_value(mt) > (json_int_t)room)
        return bad(r, "'%s' is %lld, but the prompt is %u tokens and this model's context is %u tokens: at most "
                      "%u output tokens fit",
                   name, (long long)json_integer_value(mt), g->prompt_len, ctx, room);
    g->seq.max_new = (uint32_t)json_integer_value(mt);
    return 1;
}

static sp_gen_req *req_new(sp_srv_req *r, int chat)
{
    sp_gen_req *g = calloc(1, sizeof(*g));
    if (!g)
        return NULL;
    pthread_mutex_init(&g->mu, NULL);
    g->seq.user = g;
    g->gen = r->srv->gen;
    g->http = r;
    g->conn = r->conn;
    g->refs = 1;
    g->id = r->id;
    g->arrival_ns = r->arrival_ns;
    g->chat = chat;
    g->created = (uint64_t)time(NULL);
    return g;
}

sp_gen_req *sp_gen_parse_request(sp_srv_req *r, int chat)
{
    json_error_t jerr;
    /* request bodies are capped at max_body: parsing them whole into a tree is right */
    json_t *root = json_loadb(r->body ? r->body : "", r->body_len, JSON_ALLOW_NUL, &jerr);
    if (!root) {
        bad(r, "request body is not valid JSON at line %d, column %d (byte %d): %s", jerr.line, jerr.column,
            jerr.position, jerr.text);
        return NULL;
    }
    sp_gen_req *g = req_new(r, chat);
    int ok = g ? 1 : -1;
    if (ok > 0 && !json_is_object(root))
        ok = bad(r, "request body must be a JSON object");
    if (ok > 0)
        ok = read_flags(r, g, root);
    if (ok > 0)
        ok = chat ? read_messages(r, g, json_object_get(root, "messages")) : read_prompt(r, g, json_object_get(root, "prompt"));
    if (ok > 0)
        ok = read_max_tokens(r, g, root, chat);
    if (ok > 0)
        ok = read_stop(r, g, json_object_get(root, "stop"));
    if (ok > 0)
        ok = read_sampling(r, g, root);
    if (ok > 0) {
        g->seq.prompt_len = g->prompt_len;
        g->tok_end = malloc(g->seq.max_new * sizeof(uint64_t));
        g->tok_ready = malloc(g->seq.max_new * sizeof(uint64_t));
        if (!g->tok_end || !g->tok_ready)
            ok = -1;
    }
    json_decref(root);
    if (ok < 0)
        sp_srv_set_error(r, MHD_HTTP_INTERNAL_SERVER_ERROR, "server_error", "out of memory");
    if (ok <= 0 && g) {
        g->refs = 0;
        req_free(g);
        g = NULL;
    }
    return g;
}
