/* Internals of the load generator shared by its files and its unit tests: the random source, the
 * arrival and text generators, percentiles, the URL and the HTTP/1.1 response parser. */
#ifndef SERVPROF_LOAD_INT_H
#define SERVPROF_LOAD_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

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

/* ---- request texts ---- */
typedef struct sp_textgen {
    sp_load_length kind;
    double mu, sigma;          /* LOGNORMAL, of ln(words) */
    unsigned min, max, fixed;
    uint64_t seed;
    char **lines;              /* FILE: JSON-escaped lines, owned */
    uint32_t *line_words;      /* FILE: words per line */
    size_t n_lines;
} sp_textgen;

sp_status sp_textgen_init(sp_textgen *t, const sp_load_config *o, char *err, size_t errlen);
void sp_textgen_free(sp_textgen *t);
/* Words in the next request (draws from the distribution; FILE: the next line's word count). */
/* Words in request `index`'s text (FILE: that line's word count). A pure function of (seed, index). */
uint32_t sp_textgen_words(sp_textgen *t, uint64_t index);
/* Writes request `index`'s JSON-escaped text into buf[cap] and returns its length (cut at a word
 * boundary if it would not fit); *words gets its word count. A pure function of (seed, index). */
size_t sp_textgen_text(sp_textgen *t, uint64_t index, char *buf, size_t cap, uint32_t *words);

/* ---- percentiles ---- */
/* Nearest rank on a sorted array: the k-th smallest with k = ceil(q x n / 100000), at least 1,
 * where q is in thousandths of a percent (p99.9 = 99900); DESIGN section 4 with finer q. 0 if n == 0. */
uint64_t sp_load_rank(const uint64_t *sorted, size_t n, uint32_t q_milli_pct);
/* Sorts vals[n] in place (sp_sort_u64, common/sort.h) and fills *lat. */
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
    char line[256];
} sp_http_resp;

void sp_http_resp_reset(sp_http_resp *r);
/* Feeds len bytes; returns how many were consumed. Afterwards r->state is SP_HTTP_DONE (a whole
 * response; the rest of the bytes, if any, were not consumed), SP_HTTP_ERROR, or still in progress. */
size_t sp_http_resp_feed(sp_http_resp *r, const char *p, size_t len);
/* The peer closed: a body delimited by the close ends here (DONE); anything else incomplete is an
 * ERROR. */
void sp_http_resp_eof(sp_http_resp *r);

#endif
