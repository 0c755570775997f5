/* servprof load: an open-loop HTTP load generator for embedding services and, with `stream`, for
 * OpenAI-compatible text generation read as server-sent events. The schedule of send times is fixed
 * in advance and never slowed down by slow responses; latency is measured from each request's
 * intended send time (corrected, as wrk2 and MLPerf LoadGen do) and, beside it, from the actual send
 * (uncorrected); a streamed request also gets TTFT, TPOT and inter-token latency. See docs/load.md. */
#ifndef SERVPROF_LOAD_H
#define SERVPROF_LOAD_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "servprof/servprof.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Hard caps. A run refuses options that would schedule more than SP_LOAD_MAX_REQUESTS requests
 * (each costs 32 bytes of memory for exact percentiles and the trace); connections are capped at
 * SP_LOAD_MAX_CONNECTIONS; one request's text at SP_LOAD_MAX_WORDS words or SP_LOAD_MAX_TEXT bytes. */
#define SP_LOAD_MAX_REQUESTS 16000000u
#define SP_LOAD_MAX_CONNECTIONS 10000u
#define SP_LOAD_MAX_WORDS 100000u
#define SP_LOAD_MAX_TEXT (1u << 20)
#define SP_LOAD_MAX_STATUSES 32
/* Limits of the distributions (sp_load_run refuses values outside them): the rate in (0, MAX], a
 * gamma coefficient of variation in (0, MAX], a log-normal length's sigma in [0, MAX]. */
#define SP_LOAD_MAX_RATE 1e8
#define SP_LOAD_MAX_GAMMA_CV 100.0
#define SP_LOAD_MAX_LENGTH_SIGMA 5.0
/* The default request length of sp_load_config_init (log-normal), here too for programs that describe
 * a load without running it (`servprof demo`). */
#define SP_LOAD_DEFAULT_LENGTH_MEAN 32.0
#define SP_LOAD_DEFAULT_LENGTH_SIGMA 0.5
/* Streaming generation (docs/load.md "Streaming"): max_tokens of one request is at most
 * SP_LOAD_MAX_OUTPUT_TOKENS, and at most that many token arrival times are kept per request (so a
 * trace line stays under the JSONL reader's 1 MiB); a run keeps at most SP_LOAD_MAX_TOKEN_TIMES token
 * times in all (8 bytes each) and refuses options expected to exceed it. The defaults that
 * sp_load_config_stream sets: max_tokens fixed at SP_LOAD_DEFAULT_OUTPUT_TOKENS, a per-request
 * timeout of SP_LOAD_DEFAULT_STREAM_TIMEOUT_S (a generation takes far longer than an embedding). */
#define SP_LOAD_MAX_OUTPUT_TOKENS 32768u
#define SP_LOAD_MAX_TOKEN_TIMES (64u << 20)
#define SP_LOAD_DEFAULT_OUTPUT_TOKENS 128u
#define SP_LOAD_DEFAULT_STREAM_TIMEOUT_S 300.0

/* How send times are spaced. */
typedef enum sp_load_arrival {
    SP_LOAD_ARRIVAL_POISSON = 0, /* exponential gaps with mean 1/rate */
    SP_LOAD_ARRIVAL_CONSTANT,    /* gaps of exactly 1/rate */
    SP_LOAD_ARRIVAL_GAMMA,       /* gamma gaps with mean 1/rate and coefficient of variation gamma_cv */
    SP_LOAD_ARRIVAL_REPLAY       /* timestamps read from replay_path (seconds, one per line) */
} sp_load_arrival;

/* How many words each request's text has. */
typedef enum sp_load_length {
    SP_LOAD_LENGTH_LOGNORMAL = 0, /* log-normal with arithmetic mean length_mean, log-space sd length_sigma */
    SP_LOAD_LENGTH_UNIFORM,       /* uniform integer in [length_min, length_max] */
    SP_LOAD_LENGTH_FIXED,         /* always length_fixed */
    SP_LOAD_LENGTH_FILE           /* the lines of length_path, in order, cycled; the text is the line */
} sp_load_length;

/* Outcome codes in sp_load_record.status and the trace's "status" when no HTTP status was received. */
#define SP_LOAD_ERR_CONNECT (-1)  /* the connection could not be opened */
#define SP_LOAD_ERR_TIMEOUT (-2)  /* no complete response within timeout_s of the send */
#define SP_LOAD_ERR_IO (-3)       /* the connection broke (reset, closed) before a full response */
#define SP_LOAD_ERR_PROTOCOL (-4) /* the response was not parseable HTTP/1.x */
#define SP_LOAD_ERR_UNSENT (-5)   /* the run was stopped before the request could be sent */
#define SP_LOAD_ERR_STREAM (-6)   /* streaming: a 2xx response whose event stream failed (an error
                                   * event, no `data: [DONE]`, not text/event-stream, an event that
                                   * is not JSON); sp_load_stream_error says which */

/* Why a streamed 2xx response failed (SP_LOAD_ERR_STREAM), in sp_load_stream_result.failed[]. */
typedef enum sp_load_stream_error {
    SP_LOAD_STREAM_ERROR_EVENT = 0, /* the stream carried an error object ({"error":..} or "object":"error") */
    SP_LOAD_STREAM_NO_DONE,         /* the response ended without `data: [DONE]` */
    SP_LOAD_STREAM_NOT_SSE,         /* the 2xx response was not text/event-stream (the server did not stream) */
    SP_LOAD_STREAM_MALFORMED,       /* an event's data was not a JSON object, or an event exceeded 1 MiB */
    SP_LOAD_STREAM_N_ERRORS
} sp_load_stream_error;

/* Progress figures passed to the progress callback about once per second. */
typedef struct sp_load_progress {
    double elapsed_s;       /* since the schedule started */
    uint64_t scheduled;     /* requests whose intended time has come */
    uint64_t completed;     /* requests with an outcome (response or error) */
    uint64_t errors;        /* outcomes that are not an HTTP response */
    uint64_t in_flight;     /* sent, no outcome yet */
    uint64_t waiting;       /* due but not yet sent (no connection free) */
    unsigned connections;   /* open now */
    double rate_last_s;     /* outcomes per second over the last interval */
} sp_load_progress;

typedef void (*sp_load_progress_fn)(void *user, const sp_load_progress *progress);

/* Options of one run. Initialise with sp_load_config_init, then change fields. (Named "config", not
 * "options": sp_load_options is the trace loader's, in events.h, and both headers may be included.) Every pointer is
 * borrowed for the duration of sp_load_run. */
typedef struct sp_load_config {
    const char *url;          /* http://HOST[:PORT][/PATH]; default http://127.0.0.1:8080/v1/embeddings */
    double rate;              /* target requests per second (not used by REPLAY); default 100 */
    double duration_s;        /* measured duration after warm-up; used when requests == 0; default 10 */
    uint64_t requests;        /* if > 0: send exactly this many measured requests (after warm-up) */
    double warmup_s;          /* requests intended in the first warmup_s seconds are sent and traced
                               * but kept out of the figures; default 0 */
    unsigned connections;     /* cap on open connections (opened on demand); default 64 */
    uint64_t seed;            /* seeds arrivals and texts; the same seed gives the same schedule */
    double timeout_s;         /* per request, from its send; default 10 */
    sp_load_arrival arrival;  /* default POISSON */
    double gamma_cv;          /* GAMMA: coefficient of variation of the gaps (> 0; 1 = Poisson-like) */
    const char *replay_path;  /* REPLAY: file of timestamps */
    sp_load_length length;    /* default LOGNORMAL */
    double length_mean;       /* LOGNORMAL: arithmetic mean in words; default SP_LOAD_DEFAULT_LENGTH_MEAN (32) */
    double length_sigma;      /* LOGNORMAL: sd of ln(length); default SP_LOAD_DEFAULT_LENGTH_SIGMA (0.5) */
    unsigned length_min, length_max; /* UNIFORM bounds (inclusive); default 1..64 */
    unsigned length_fixed;    /* FIXED; default 32 */
    const char *length_path;  /* FILE: one request text per line */
    const char *model;        /* the "model" field of each body; default "servprof" */
    const char *id_prefix;    /* request ids are "<prefix>-<n>"; default "c1" */
    const char *trace_path;   /* if set: client trace (servprof.events/1 JSONL), created before the run
                                 (a path that cannot be created fails at once), written at the end */
    sp_load_progress_fn progress; /* if set: called about once per second from the run's thread */
    void *progress_user;
    const atomic_int *stop;   /* if set and it becomes non-zero, no more requests are sent, in-flight
                               * ones are awaited (up to timeout_s), and the run returns normally */

    /* Streaming generation (docs/load.md "Streaming"); sp_load_config_stream sets these and the
     * mode's defaults. In this mode `length` counts prompt tokens (one word of the prompt word list
     * is one token of the project's tokenizer, about one of an LLM's BPE tokenizer). */
    bool stream;              /* POST OpenAI completions with "stream":true and read the SSE stream */
    bool chat;                /* with stream: a chat body ("messages") for /v1/chat/completions */
    sp_load_length output_length; /* max_tokens per request: LOGNORMAL, UNIFORM or FIXED (default
                               * FIXED SP_LOAD_DEFAULT_OUTPUT_TOKENS); FILE is not allowed */
    double output_mean, output_sigma; /* LOGNORMAL, as length_mean/length_sigma, in tokens */
    unsigned output_min, output_max;  /* UNIFORM bounds (inclusive) */
    unsigned output_fixed;    /* FIXED */
    const char *pairs_path;   /* if set: a file of "PROMPT_TOKENS OUTPUT_TOKENS" lines, one request
                               * each, in order, cycled; replaces `length` and `output_length` */
    bool ignore_eos;          /* adds "ignore_eos":true (vLLM's extension) so that every request
                               * generates its max_tokens */
    bool no_usage;            /* leaves out "stream_options":{"include_usage":true} (for servers
                               * that refuse it); tokens are then counted one per content event */
} sp_load_config;

/* Latency figures in nanoseconds; exact nearest-rank percentiles (DESIGN section 4) over recorded
 * values; all zero when count == 0. */
typedef struct sp_load_latency {
    uint64_t count;
    uint64_t p50, p90, p95, p99, p999, max;
    double mean;
} sp_load_latency;

typedef struct sp_load_status_count {
    int status;
    uint64_t count;
} sp_load_status_count;

/* Streaming figures (docs/load.md "Streaming"), over the successful measured requests: a 2xx
 * text/event-stream response that ended with `data: [DONE]`. Times are from the intended send
 * (open loop) unless named otherwise. */
typedef struct sp_load_stream_result {
    uint64_t output_tokens;      /* summed over successes (counting rule: docs/load.md) */
    uint64_t prompt_tokens;      /* usage.prompt_tokens summed over successes that reported usage */
    uint64_t usage_reported;     /* successes whose stream carried usage.completion_tokens */
    uint64_t usage_below_events; /* successes whose usage counted fewer tokens than content events
                                  * (the events' count was kept) */
    uint64_t without_tokens;     /* successes with no content event (no TTFT, TPOT or ITL) */
    uint64_t failed[SP_LOAD_STREAM_N_ERRORS]; /* SP_LOAD_ERR_STREAM outcomes by cause */
    uint64_t token_times_dropped;/* token times not kept (the caps above); their tokens still count */
    double output_tokens_per_s;  /* output_tokens / sp_load_result.duration_s */
    sp_load_latency ttft;        /* first token's arrival - intended send */
    sp_load_latency ttft_send;   /* first token's arrival - actual send (vLLM's benchmark TTFT) */
    sp_load_latency tpot;        /* (last token - first token) / (output tokens - 1), outputs >= 2 */
    sp_load_latency itl;         /* gaps between consecutive token arrivals, all requests pooled */
    sp_load_latency e2e;         /* response done - intended send */
    char first_error[160];       /* the reason of the measured failed stream scheduled first (an error
                                  * event's message), or "" */
} sp_load_stream_result;

/* Result of a run: figures over the measured requests (warm-up excluded). */
typedef struct sp_load_result {
    double target_rate;        /* requested rate (REPLAY: scheduled / (last - first intended)) */
    double achieved_rate;      /* successes (ok) / duration_s: what the service delivered */
    double rate_503;           /* status_503 / duration_s, beside achieved_rate */
    double rate_other_status;  /* status_other / duration_s */
    double send_rate;          /* sent / (last send - first intended send) */
    double duration_s;         /* first intended send to last outcome */
    uint64_t scheduled;        /* measured requests in the schedule */
    uint64_t warmup;           /* warm-up requests (sent, traced, not counted below) */
    uint64_t sent;             /* measured requests written to a connection */
    uint64_t responses;        /* got a complete HTTP response (any status) */
    uint64_t ok;               /* successes: responses with status 200-299 */
    uint64_t http_errors;      /* responses with another status (status_503 + status_other) */
    uint64_t status_503;       /* responses 503 Service Unavailable (the service refused: overloaded) */
    uint64_t status_other;     /* responses with any other status that is not 2xx (e.g. 400, 413, 500) */
    /* Requests with no response, by cause (the SP_LOAD_ERR_* outcomes): */
    uint64_t connect_errors, timeouts, io_errors, protocol_errors, unsent;
    sp_load_status_count statuses[SP_LOAD_MAX_STATUSES]; /* responses by HTTP status */
    size_t n_statuses;
    uint64_t retries;          /* requests re-sent once because a kept-alive connection had closed */
    unsigned connections_opened, peak_connections;
    sp_load_latency corrected;   /* done - intended, over responses */
    sp_load_latency uncorrected; /* done - send, over responses */
    sp_load_latency lag;         /* send - intended (schedule lag), over sent requests */
    bool stream;                 /* the run streamed (config.stream): `streamed` is filled */
    uint64_t stream_errors;      /* SP_LOAD_ERR_STREAM outcomes (no response counted for them) */
    sp_load_stream_result streamed;
    /* The measured response with a status that is not 2xx scheduled first: its status and the
     * server's reason, the "message" of an OpenAI-shaped error body ({"error":{"message":..}}, or
     * vLLM's {"object":"error","message":..}), else the body's first line, cut to fit; "" (status 0)
     * when every response was 2xx. */
    int first_error_status;
    char first_error_body[200];
} sp_load_result;

/* Fills *opts with the defaults above. */
SP_API void sp_load_config_init(sp_load_config *opts);

/* Switches *opts, filled by sp_load_config_init, to streaming generation with that mode's defaults:
 * stream = true, chat as given, url = http://127.0.0.1:8080/v1/completions (chat:
 * /v1/chat/completions), timeout_s = SP_LOAD_DEFAULT_STREAM_TIMEOUT_S, max_tokens fixed at
 * SP_LOAD_DEFAULT_OUTPUT_TOKENS. Call it before setting other fields, which it overwrites. */
SP_API void sp_load_config_stream(sp_load_config *opts, bool chat);

/* Runs the load described by *opts on the calling thread and returns when every scheduled request
 * has an outcome. Reentrant: several runs may proceed on different threads (no global state; the
 * calling thread's timer slack is lowered during the run and restored). On SP_OK *result is a new
 * result owned by the caller (free with sp_load_result_destroy). Returns SP_ERR_INVALID (bad option
 * or URL, the message says which), SP_ERR_IO (a replay/length/pairs file or the trace cannot be read
 * or written; the URL's host cannot be resolved, the message names it; socket set-up failed),
 * SP_ERR_PARSE (a replay/length/pairs file is malformed; the message names file and line),
 * SP_ERR_LIMIT (a cap above is exceeded, token times included), SP_ERR_NOMEM. `err` (may be NULL)
 * gets a message on failure. Transport errors, error statuses and failed streams during the run are
 * outcomes, not failures: a run in which nothing succeeded returns SP_OK with ok == 0, and the
 * counts say why. */
SP_API sp_status sp_load_run(const sp_load_config *opts, sp_load_result **result, char *err,
                             size_t errlen);

/* Frees a result; NULL is fine. */
SP_API void sp_load_result_destroy(sp_load_result *result);

/* Writes the summary of a run as the terminal table (`servprof load`'s output; `opts` as the run
 * had them: URL, arrivals, seed, connection cap) or as one servprof.load/1 JSON object and a newline
 * (docs/load.md lists its keys). Each flushes `out` and returns SP_ERR_IO if a write failed, with
 * errno at the system's reason (e.g. ENOSPC); else SP_OK. The caller still closes `out`. */
SP_API sp_status sp_load_result_write_text(const sp_load_config *opts, const sp_load_result *result, FILE *out);
SP_API sp_status sp_load_result_write_json(const sp_load_result *result, FILE *out);

#ifdef __cplusplus
}
#endif

#endif
