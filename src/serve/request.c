/* Reading an embeddings request: its id from the X-Request-Id or traceparent header and the trace it
 * continues (W3C trace context), then its body
 * (JSON, parsed whole: bodies are capped), the checks of its fields, and the tokenisation of its
 * inputs, which is the request's preprocess stage. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "common/rng.h"
#include "common/tracectx.h"
#include "serve/server_int.h"

/* ---- request ids and trace context ---- */

/* A fresh span id: 8 bytes from a per-thread generator seeded from the kernel's random source, never
 * all zero (an invalid W3C id). The HTTP threads are libmicrohttpd's, so the state is thread-local. */
static void new_span_id(uint8_t out[8])
{
    static _Thread_local sp_rng rng;
    static _Thread_local int seeded;
    if (!seeded) {
        uint64_t seed = 0;
        if (getrandom(&seed, sizeof seed, GRND_NONBLOCK) != (ssize_t)sizeof seed)
            seed = sp_now_ns() ^ (uint64_t)(uintptr_t)&rng ^ ((uint64_t)getpid() << 32);
        sp_rng_seed(&rng, seed, 0);
        seeded = 1;
    }
    uint64_t v;
    do
        v = sp_rng_next(&rng);
    while (v == 0);
    memcpy(out, &v, 8);
}

void sp_srv_take_label(sp_srv_req *r)
{
    /* W3C trace context: the request continues the caller's trace under a span of its own */
    const char *tp = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, "traceparent");
    if (tp && sp_trace_context_parse(tp, strlen(tp), &r->trace) == SP_OK) {
        new_span_id(r->trace.span_id);
        r->has_trace = 1;
    }
    /* the id the client knows the request by: its X-Request-Id, else its trace id */
    const char *xr = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, "X-Request-Id");
    size_t n = xr ? strlen(xr) : 0;
    int usable = n > 0 && n < sizeof(r->label);
    for (size_t i = 0; usable && i < n; i++)
        if (xr[i] < 0x21 || xr[i] > 0x7e)
            usable = 0; /* printable ASCII only: it is echoed in a header */
    if (usable)
        memcpy(r->label, xr, n + 1);
    else if (r->has_trace)
        sp_hex_write(r->trace.trace_id, 16, r->label);
}

void sp_srv_record_identity(sp_server *srv, sp_srv_req *r)
{
    if (r->label[0] && !r->label_recorded)
        sp_record_request_label(srv->rec, r->id, r->label, strlen(r->label));
    if (r->has_trace && !r->label_recorded)
        sp_record_request_trace(srv->rec, r->id, &r->trace);
    r->label_recorded = 1;
}

/* ---- parse and tokenise ---- */

static int tokenize_into(sp_srv_req *r, json_t *input)
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
static int check_request_fields(sp_srv_req *r, json_t *root, json_t *input)
{
    sp_server *srv = r->srv;
    char msg[256];
    size_t n = json_is_string(input) ? 1 : json_is_array(input) ? json_array_size(input) : 0;
    int strings = n > 0;
    for (size_t i = 0; i < n && strings && json_is_array(input); i++)
        strings = json_is_string(json_array_get(input, i));
    if (!strings) {
        sp_srv_set_error(r, MHD_HTTP_BAD_REQUEST, "invalid_request_error",
                  "'input' must be a string or a non-empty list of strings");
        return 0;
    }
    if (n > srv->opt.max_inputs) {
        snprintf(msg, sizeof(msg), "'input' has %zu strings; at most %u are accepted", n, srv->opt.max_inputs);
        sp_srv_set_error(r, MHD_HTTP_BAD_REQUEST, "invalid_request_error", msg);
        return 0;
    }
    for (size_t i = 0; i < n; i++) {
        json_t *str = json_is_string(input) ? input : json_array_get(input, i);
        char where[40] = "'input'";
        if (json_is_array(input))
            snprintf(where, sizeof(where), "'input[%zu]'", i);
        if (json_string_length(str) == 0) {
            snprintf(msg, sizeof(msg), "%s is an empty string; there is nothing to embed", where);
            sp_srv_set_error(r, MHD_HTTP_BAD_REQUEST, "invalid_request_error", msg);
            return 0;
        }
        /* parsed with JSON_ALLOW_NUL so that this, not the parser's flag name, is the message */
        if (strlen(json_string_value(str)) != json_string_length(str)) {
            snprintf(msg, sizeof(msg), "%s contains a NUL character (\\u0000), which text input cannot hold", where);
            sp_srv_set_error(r, MHD_HTTP_BAD_REQUEST, "invalid_request_error", msg);
            return 0;
        }
    }
    json_t *dims = json_object_get(root, "dimensions");
    unsigned hidden = sp_encoder_get_config(srv->enc)->hidden;
    if (dims && !json_is_null(dims)) {
        if (!json_is_integer(dims) || json_integer_value(dims) < 1) {
            sp_srv_set_error(r, MHD_HTTP_BAD_REQUEST, "invalid_request_error", "'dimensions' must be a positive integer");
            return 0;
        }
        if (json_integer_value(dims) != (json_int_t)hidden) {
            snprintf(msg, sizeof(msg),
                     "'dimensions' is %lld, but this model's embeddings have %u dimensions and cannot be "
                     "shortened; omit 'dimensions' or pass %u",
                     (long long)json_integer_value(dims), hidden, hidden);
            sp_srv_set_error(r, MHD_HTTP_BAD_REQUEST, "invalid_request_error", msg);
            return 0;
        }
    }
    return 1;
}

/* Returns 0 and sets a 400 answer if the body is not a valid embeddings request. */
int sp_srv_parse_request(sp_srv_req *r)
{
    json_error_t jerr;
    /* request bodies are capped at max_body: parsing them whole into a tree is right */
    json_t *root = json_loadb(r->body ? r->body : "", r->body_len, JSON_ALLOW_NUL, &jerr);
    char msg[256];
    if (!root) {
        snprintf(msg, sizeof(msg), "request body is not valid JSON at line %d, column %d (byte %d): %s", jerr.line,
                 jerr.column, jerr.position, jerr.text);
        sp_srv_set_error(r, MHD_HTTP_BAD_REQUEST, "invalid_request_error", msg);
        return 0;
    }
    int ok = 0;
    json_t *input = json_object_get(root, "input");
    json_t *fmt = json_object_get(root, "encoding_format");
    if (!json_is_object(root)) {
        sp_srv_set_error(r, MHD_HTTP_BAD_REQUEST, "invalid_request_error", "request body must be a JSON object");
    } else if (fmt && !(json_is_string(fmt) && strcmp(json_string_value(fmt), "float") == 0)) {
        sp_srv_set_error(r, MHD_HTTP_BAD_REQUEST, "invalid_request_error", "encoding_format: only \"float\" is supported");
    } else if (!input) {
        sp_srv_set_error(r, MHD_HTTP_BAD_REQUEST, "invalid_request_error", "'input' is required");
    } else {
        ok = check_request_fields(r, root, input);
    }
    if (ok && !tokenize_into(r, input)) {
        sp_srv_set_error(r, MHD_HTTP_INTERNAL_SERVER_ERROR, "server_error", "out of memory");
        ok = 0;
    }
    json_decref(root);
    return ok;
}
