/* Internals of the load generator shared by its files and its unit tests: the random source, the
 * arrival and text generators, percentiles, the URL, the HTTP/1.1 response parser, and for streaming
 * generation the server-sent events parser and the per-request token log. */
#ifndef SERVPROF_LOAD_INT_H
#define SERVPROF_LOAD_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "common/rng.h"
#include "servprof/load.h"

/* Random numbers come from common/rng.h (xoshiro256** seeded through splitmix64), one stream per
 * purpose (sp_rng_seed's `stream`), so that changing the length distribution does not change the
 * arrival schedule. */

/* ---- arrivals: offsets in ns from the start of the schedule ---- */
typedef struct sp_arrivals {
    sp_load_arrival kind;
    double gap_mean_ns;     /* 1e9 / rate */
    double shape;           /* GAMMA: 1 / cv^2 */
    sp_rng rng;
    double t_ns;            /* running offset (POISSON, GAMMA) */
    uint64_t index;         /* arrivals produced so far */
    const uint64_t *replay; /* REPLAY: borrowed offsets, non-decreasing */
    size_t n_replay;
} sp_arrivals;

/* Validates the arrival options (rate > 0, cv > 0) and prepares the generator; `replay` (borrowed)
 * is used for REPLAY. */
sp_status sp_arrivals_init(sp_arrivals *a, const sp_load_config *o, const uint64_t *replay,
                           size_t n_replay, char *err, size_t errlen);
/* Next offset; false when a replay is exhausted. Offsets are non-decreasing. */
bool sp_arrivals_next(sp_arrivals *a, uint64_t *offset_ns);

/* Reads a replay file: one timestamp in seconds (decimal, fractions allowed) per line; blank lines
 * and lines starting with '#' are skipped; values must be non-decreasing. Writes offsets from the
 * first timestamp in ns into *offsets (malloc'd, caller frees) and the count into *n. */
sp_status sp_load_read_replay(const char *path, uint64_t **offsets, size_t *n, char *err,
                              size_t errlen);

/* ---- request texts and, when streaming, output lengths ---- */
/* A length distribution (words of a text, or max_tokens of a generation). */
typedef struct sp_lendist {
    sp_load_length kind;       /* LOGNORMAL, UNIFORM, FIXED (FILE is handled by sp_textgen) */
    double mu, sigma;          /* LOGNORMAL, of ln(length) */
    unsigned min, max, fixed;
} sp_lendist;

typedef struct sp_textgen {
    sp_load_length kind;
    sp_lendist input;          /* words per text (LOGNORMAL, UNIFORM, FIXED) */
    uint64_t seed;
    char **lines;              /* FILE: JSON-escaped lines, owned */
    uint32_t *line_words;      /* FILE: words per line */
    size_t n_lines;
    bool prompt_words;         /* streaming: words from the prompt list (one token each, generate.c) */
    sp_lendist output;         /* streaming: max_tokens per request */
    uint32_t *pairs;           /* pairs file: prompt tokens, output tokens, ... (2 per line), owned */
    size_t n_pairs;
} sp_textgen;

sp_status sp_textgen_init(sp_textgen *t, const sp_load_config *o, char *err, size_t errlen);
void sp_textgen_free(sp_textgen *t);
/* Words in request `index`'s text (FILE: that line's word count; pairs: its prompt tokens). A pure
 * function of (seed, index). */
uint32_t sp_textgen_words(sp_textgen *t, uint64_t index);
/* Writes request `index`'s JSON-escaped text into buf[cap] and returns its length (cut at a word
 * boundary if it would not fit); *words gets its word count. A pure function of (seed, index). */
size_t sp_textgen_text(sp_textgen *t, uint64_t index, char *buf, size_t cap, uint32_t *words);
/* Streaming: request `index`'s max_tokens (pairs: its output tokens), from its own random stream, so
 * that choosing output lengths changes no prompt. A pure function of (seed, index). */
uint32_t sp_textgen_max_tokens(const sp_textgen *t, uint64_t index);
/* Streaming: the mean max_tokens over requests (the distribution's, or the pairs file's), for the
 * up-front token-times cap. */
double sp_textgen_mean_max_tokens(const sp_textgen *t);
/* Reads a pairs file: "PROMPT_TOKENS OUTPUT_TOKENS" per line (a space, tab or comma between them;
 * blank and '#' lines skipped); prompts in [1, SP_LOAD_MAX_WORDS], outputs in
 * [1, SP_LOAD_MAX_OUTPUT_TOKENS]. *pairs (malloc'd) gets 2 values per line, *n the lines. */
sp_status sp_load_read_pairs(const char *path, uint32_t **pairs, size_t *n, char *err, size_t errlen);
/* The streaming prompts' word list (each word one token of data/tokenizer.json); *n its length. */
const char *const *sp_load_prompt_words(size_t *n);

/* ---- percentiles (stats.c, on common/sort.h and common/quantile.h) ---- */
/* Sorts vals[n] in place (LSD radix sort: the values are ns durations) and fills *lat. */
void sp_load_latency_fill(uint64_t *vals, size_t n, sp_load_latency *lat);

/* ---- URL ---- */
typedef struct sp_url {
    char host[256];
    char port[8];
    char path[1024];
    char host_header[280];
} sp_url;

/* Parses http://HOST[:PORT][/PATH] (no https, no user info). */
sp_status sp_url_parse(const char *url, sp_url *out, char *err, size_t errlen);

/* ---- HTTP/1.x response parser (incremental; the body is counted, not kept) ---- */
enum sp_http_state {
    SP_HTTP_STATUS_LINE = 0,
    SP_HTTP_HEADERS,
    SP_HTTP_BODY_LENGTH,
    SP_HTTP_CHUNK_SIZE,
    SP_HTTP_CHUNK_DATA,
    SP_HTTP_CHUNK_END,
    SP_HTTP_TRAILERS,
    SP_HTTP_BODY_EOF,
    SP_HTTP_DONE,
    SP_HTTP_ERROR
};

#define SP_HTTP_MAX_HEADER_BYTES (64 * 1024)

typedef struct sp_http_resp {
    enum sp_http_state state;
    int status;
    bool chunked, has_length, conn_close;
    bool last_cr;            /* the current line's last byte so far is CR */
    uint64_t remaining;      /* body or chunk bytes still to come */
    uint64_t head_bytes;     /* status line + headers so far (capped) */
    uint64_t body_bytes;
    size_t line_len;         /* bytes of the current line kept in `line` (longer lines are cut) */
    size_t line_total;       /* the current line's full length so far */
    bool event_stream;       /* Content-Type: text/event-stream */
    size_t err_len;          /* bytes kept in err_body (cleared with the state; err_body is not) */
    char line[256];
    char err_body[1024];     /* the start of a body whose status is not 2xx (the server's reason) */
    /* Cleared by sp_http_resp_reset, then set by the caller (kept across an interim 1xx response):
     * if set, every body byte (chunked coding removed) is handed to body_sink as it is parsed, with
     * the response so far (status, event_stream). */
    void (*body_sink)(void *user, const struct sp_http_resp *r, const char *p, size_t n);
    void *body_user;
} sp_http_resp;

/* Prepares for a new response; clears the body sink too. */
void sp_http_resp_reset(sp_http_resp *r);
/* Feeds len bytes; returns how many were consumed. Afterwards r->state is SP_HTTP_DONE (a whole
 * response; the rest of the bytes, if any, were not consumed), SP_HTTP_ERROR, or still in progress. */
size_t sp_http_resp_feed(sp_http_resp *r, const char *p, size_t len);
/* The peer closed: a body delimited by the close ends here (DONE); anything else incomplete is an
 * ERROR. */
void sp_http_resp_eof(sp_http_resp *r);

/* ---- server-sent events (sse.c) ---- */
/* An event (its data) or a line longer than this is an error: the stream is malformed. */
#define SP_SSE_MAX_EVENT (1u << 20)

typedef struct sp_sse {
    char *line;           /* a line split across feeds (owned; grows up to SP_SSE_MAX_EVENT) */
    size_t line_len, line_cap;
    char *data;           /* the event's data lines, joined by LF (owned) */
    size_t data_len, data_cap;
    bool has_data;        /* a data field was seen since the last dispatch (an empty one too) */
    bool skip_lf;         /* the last feed ended with CR: a LF first in the next one ends nothing */
    bool error_type;      /* "event: error" in this event */
    bool overflow;        /* a line or an event exceeded SP_SSE_MAX_EVENT, or no memory */
    bool past_first_line; /* a UTF-8 byte order mark may start the first line only */
} sp_sse;

/* Called per dispatched event with its data (not NUL-terminated; valid during the call only) and
 * whether its type was "error". */
typedef void (*sp_sse_event_fn)(void *user, const char *data, size_t len, bool error_type);

void sp_sse_init(sp_sse *s);
/* Forgets any partial line or event (for the next response); keeps the buffers. */
void sp_sse_reset(sp_sse *s);
void sp_sse_free(sp_sse *s);
/* Feeds n bytes, split anywhere; calls fn for each complete event. Returns false once a line or
 * an event exceeds SP_SSE_MAX_EVENT or memory runs out (later feeds are ignored). An event not
 * ended by a blank line when the stream ends is not dispatched (the SSE rule). */
bool sp_sse_feed(sp_sse *s, const char *p, size_t n, sp_sse_event_fn fn, void *user);

/* What one event's data says, for an OpenAI-compatible completions or chat completions stream. */
enum sp_sse_chunk_kind {
    SP_SSE_CHUNK_DATA = 0,   /* a JSON object: a chunk (content, usage, or neither) */
    SP_SSE_CHUNK_DONE,       /* the "[DONE]" sentinel */
    SP_SSE_CHUNK_ERROR,      /* an error object: {"error":{..}} or {"object":"error",..} */
    SP_SSE_CHUNK_MALFORMED   /* not a JSON object */
};

typedef struct sp_sse_chunk {
    enum sp_sse_chunk_kind kind;
    uint32_t content;          /* choices carrying output: a non-empty "text" (completions), or a
                                * "delta" with non-empty content / reasoning_content / reasoning,
                                * or tool_calls (chat); a role-only delta is not output */
    uint32_t empty;            /* choices without output that are no role delta: "text":"", or a
                                * delta such as {"content":""} or {} (docs/load.md "Counting
                                * tokens": vLLM's held-back and end-of-sequence tokens) */
    int64_t completion_tokens; /* usage.completion_tokens, -1 when absent */
    int64_t prompt_tokens;     /* usage.prompt_tokens, -1 when absent */
    char message[160];         /* ERROR: the error's message as written in the JSON (escapes kept) */
} sp_sse_chunk;

void sp_sse_classify(const char *data, size_t len, sp_sse_chunk *out);

/* ---- streaming generation: one request's stream and the run's token log (stream.c) ---- */
/* The state of the stream a connection is reading. */
typedef struct sp_stream_conn {
    sp_sse sse;
    uint64_t now;              /* arrival time of the bytes being fed (set by the caller) */
    uint64_t *times;           /* content and empty events' arrival times, in order, at most
                                * SP_LOAD_MAX_OUTPUT_TOKENS */
    uint8_t *empty;            /* by times' index: 1 for an empty event */
    uint32_t n_times, cap_times;
    uint64_t events;           /* content events, all of them */
    uint64_t empty_events;     /* empty events (a chunk with empty choices only), all of them */
    uint64_t first, last;      /* arrival of the first and the last content event; 0: none */
    uint64_t efirst, elast;    /* ... and of empty event; 0: none */
    int64_t usage_completion;  /* the last usage.completion_tokens seen, -1: none */
    int64_t usage_prompt;      /* the last usage.prompt_tokens seen, -1: none */
    bool done;                 /* `data: [DONE]` arrived */
    bool error_event, malformed, not_sse;
    char message[160];         /* the first error event's message */
} sp_stream_conn;

void sp_stream_conn_reset(sp_stream_conn *s);
void sp_stream_conn_free(sp_stream_conn *s);
/* The HTTP parser's body sink (user: the sp_stream_conn): a 2xx text/event-stream body is parsed as
 * SSE; any other body is ignored (a 2xx that is not an event stream is noted). */
void sp_stream_on_body(void *user, const sp_http_resp *r, const char *p, size_t n);
/* The outcome of a complete response: its status, or SP_LOAD_ERR_STREAM for a 2xx whose stream
 * failed (*why gets the sp_load_stream_error). */
int sp_stream_conn_outcome(const sp_stream_conn *s, const sp_http_resp *r, int *why);

/* One request's tokens, once its outcome is known. */
typedef struct sp_stream_rec {
    uint64_t first, last;      /* first and last token's arrival; 0: no token */
    uint64_t off;              /* its first kept token time in the log's pool */
    uint32_t n_times;          /* token times kept */
    uint32_t tokens;           /* output tokens (docs/load.md "Counting tokens") */
    int32_t prompt_tokens;     /* usage.prompt_tokens, -1: not reported */
    uint8_t why;               /* 1 + sp_load_stream_error for SP_LOAD_ERR_STREAM; else 0 */
    uint8_t flags;             /* SP_STREAM_USAGE, SP_STREAM_USAGE_BELOW */
} sp_stream_rec;

#define SP_STREAM_USAGE 1u       /* usage.completion_tokens was reported */
#define SP_STREAM_USAGE_BELOW 2u /* and it was below the content events (their count was kept) */

typedef struct sp_stream_log {
    sp_stream_rec *recs;       /* by request index (zeroed until committed) */
    size_t cap_recs;
    uint64_t *pool;            /* every kept token time, request after request */
    size_t n_pool, cap_pool;
    uint64_t dropped;          /* token times not kept (caps) */
    char first_error[160];     /* the reason of the measured failed stream scheduled first, or "" */
    uint32_t first_error_req;  /* its request index (valid when first_error is set) */
} sp_stream_log;

/* Makes room for requests [0, n). */
sp_status sp_stream_log_reserve(sp_stream_log *l, size_t n);
/* Stores request `req`'s tokens from its connection's stream (any outcome: a failed request keeps
 * the tokens it got, for the trace); `why` as from sp_stream_conn_outcome, or -1. `measured`: not a
 * warm-up request (only those can give first_error, which is the one scheduled first, whatever the
 * order the streams ended in). */
void sp_stream_log_commit(sp_stream_log *l, uint32_t req, const sp_stream_conn *s, int why, bool measured);
void sp_stream_log_free(sp_stream_log *l);

/* Writes request `index`'s body (completions or chat, per o->chat) into buf[cap] (cap >=
 * SP_LOAD_MAX_TEXT + 512) and returns its length. */
size_t sp_stream_body(const sp_load_config *o, sp_textgen *t, uint64_t index, char *buf, size_t cap);

/* Accumulates the streaming figures over measured requests, then fills sp_load_stream_result. */
typedef struct sp_stream_acc {
    uint64_t *ttft, *ttft_send, *tpot, *itl, *e2e;
    size_t n_ttft, n_tpot, n_itl, n_e2e;
    sp_load_stream_result *out;
} sp_stream_acc;

sp_status sp_stream_acc_init(sp_stream_acc *a, const sp_stream_log *l, size_t n_requests,
                             sp_load_stream_result *out);
/* One measured request with its outcome (status: HTTP status or SP_LOAD_ERR_*). */
void sp_stream_acc_add(sp_stream_acc *a, const sp_stream_log *l, uint32_t req, uint64_t intended,
                       uint64_t send, uint64_t done, int status);
/* Percentiles and rates (duration_s of the run); frees the accumulator. */
void sp_stream_acc_finish(sp_stream_acc *a, const sp_stream_log *l, double duration_s);

/* Writes the streaming keys of request `req`'s client trace record (each starting with a comma). */
void sp_stream_trace_fields(FILE *f, const sp_stream_log *l, uint32_t req, uint32_t max_tokens,
                            int status);

#endif
