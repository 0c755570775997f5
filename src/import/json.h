/* Streaming JSON pull tokenizer shared by the JSON-based importers (servprof JSONL, Kineto, Triton,
 * OTLP). It yields one token per call from a stream (sp_input, read in chunks through a bounded
 * window) or from a (ptr, len) buffer, so memory is bounded by the limits below, never by the input.
 *
 * Why hand-written rather than Debian's json-c or jansson: those build a tree of the whole document
 * (a multi-GB Kineto trace would have to fit in memory several times over), they are slower than our
 * throughput goals (JSONL >= 200 MB/s, Kineto >= 300 MB/s; docs/BENCHMARKS.md), and they parse every
 * number through double, which loses exact int64 nanosecond timestamps (2^53 ns is only 104 days of
 * CLOCK_MONOTONIC uptime). Here numbers come as exact int64 when integral, as double, and as their raw
 * text for exact decimal conversions (sp_json_decimal_to_int, sp_json_us_to_ns). */
#ifndef SERVPROF_JSON_H
#define SERVPROF_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "import/import_int.h"

#if defined(__SSE2__) && !defined(SP_JSON_NO_SIMD)
#include <emmintrin.h>
#endif

typedef enum sp_json_type {
    SP_JSON_NONE = 0,
    SP_JSON_OBJ_BEGIN,   /* { */
    SP_JSON_OBJ_END,     /* } */
    SP_JSON_ARR_BEGIN,   /* [ */
    SP_JSON_ARR_END,     /* ] */
    SP_JSON_KEY,         /* an object member's name; the ':' after it is already consumed */
    SP_JSON_STRING,
    SP_JSON_NUMBER,
    SP_JSON_TRUE,
    SP_JSON_FALSE,
    SP_JSON_NULL,
    SP_JSON_EOF          /* end of input after complete value(s) */
} sp_json_type;

/* One token. `str`/`len` are borrowed from the lexer and valid until the next call on it:
 * KEY and STRING: the unescaped bytes (UTF-8, validated; may contain "\u0000" as a 0 byte; not
 * NUL-terminated). NUMBER: the number's text exactly as written (JSON grammar, validated). */
typedef struct sp_json_token {
    sp_json_type type;
    const char *str;
    size_t len;
    bool is_int;         /* NUMBER: integral and within int64 (1, -3, 1.0, 2e3); then `i` is exact */
    int64_t i;
    double d;            /* NUMBER: the value (correctly rounded; unless limits.no_double) */
    uint64_t offset;     /* byte offset of the token's first byte in the input (0-based) */
    uint32_t line;       /* 1-based line of the token's first byte */
    uint32_t column;     /* 1-based byte column */
    uint32_t depth;      /* nesting depth after this token ({ [ raise it, } ] lower it) */
} sp_json_token;

typedef struct sp_json_limits {
    uint32_t max_depth;      /* nesting depth (default 512) */
    size_t max_string;       /* bytes of one string or key as written, escapes included
                                (default 1 MiB) */
    size_t max_number;       /* bytes of one number's text (default 256) */
    bool multiple_values;    /* a sequence of top-level values (e.g. concatenated JSON) instead of
                                exactly one */
    bool no_double;          /* skip computing `d` for non-integers (callers converting the text
                                themselves save a strtod per number); `d` is then 0 */
} sp_json_limits;

/* Default chunk read from an sp_input at a time. */
#define SP_JSON_CHUNK (256u * 1024u)

/* The lexer. Callers embed it (no allocation in buffer mode) and treat the fields as private. */
typedef struct sp_json_lexer {
    const unsigned char *p, *end;   /* unread bytes */
    unsigned char *win;             /* stream mode: owned window; NULL in buffer modes */
    size_t win_cap;
    bool inplace;                   /* strings are unescaped where they lie (stream, inplace) */
    char *scratch;                  /* const-buffer mode: unescape target (max_string bytes) */
    sp_input *in;
    bool eof;                       /* no more bytes beyond `end` */
    uint64_t base;                  /* input offset of the byte `win` (or the buffer) starts with */
    const unsigned char *origin;    /* the byte `base` refers to */
    uint64_t line_start;            /* input offset of the current line's first byte */
    uint32_t line;
    uint32_t depth;
    uint8_t state;
    sp_json_limits lim;
    uint64_t kinds_small;           /* open containers, one bit each (1 = object), depth <= 64 */
    uint64_t *kinds;                /* the same when max_depth > 64 (allocated) */
    sp_status status;               /* sticky error */
    char msg[200];
} sp_json_lexer;

/* Fills `lim` with the defaults. */
void sp_json_limits_init(sp_json_limits *lim);

/* Starts a lexer over a stream; reads SP_JSON_CHUNK bytes at a time into a window of
 * max_string + SP_JSON_CHUNK bytes. `in` is borrowed until sp_json_fini. `lim` may be NULL
 * (defaults). Returns SP_OK or SP_ERR_NOMEM (then sp_json_fini is still fine). */
sp_status sp_json_init_input(sp_json_lexer *lx, sp_input *in, const sp_json_limits *lim);

/* Where a stream starts in the middle of a document: right after a ',' between two elements of an
 * array (the point sp_json_split finds). */
typedef struct sp_json_resume {
    uint64_t offset;        /* input offset of the stream's first byte */
    uint32_t line;          /* its 1-based line */
    uint64_t line_start;    /* input offset of that line's first byte */
    uint32_t depth;         /* open containers there (1..64), the innermost an array */
    uint64_t kinds;         /* bit i: the container at depth i + 1 is an object */
} sp_json_resume;

/* As sp_json_init_input for a stream (sp_input_open_at) that starts at `at`: the lexer is in the very
 * state the lexer of the whole input is in after that ',' (a value is due), so it yields the same
 * tokens, positions and messages from there on. SP_ERR_INVALID when `at` is not inside an array. */
sp_status sp_json_init_input_after_comma(sp_json_lexer *lx, sp_input *in, const sp_json_limits *lim,
                                        const sp_json_resume *at);

/* The split finder: scans the bytes of an array's elements from a known-good point (right after its
 * '[' or after a ',' between elements) forward, tracking strings, escapes and nesting exactly, to the
 * first element that follows a ',' at the array's own level and starts at or after `target` bytes:
 * there a second lexer can start parsing (sp_json_init_input_after_comma). Fed in pieces of any size.
 * On valid JSON it stops exactly where the lexer sees that element start; on anything else the caller's
 * own lexer, which checks the point (offset, line, column) before using it, has the last word. */
typedef struct sp_json_split {
    uint64_t target;
    uint64_t pos;           /* bytes fed so far */
    uint32_t depth;         /* nesting inside the array's elements */
    bool in_str, esc, after_comma;
    int result;             /* 0: still looking; 1: found; -1: the array ended first */
    uint64_t found;         /* result 1: offset (from the start point) of that element's first byte */
    uint64_t lines;         /* newlines before `found` (or `pos`) */
    uint64_t line_start;    /* offset just after the last of them (0 when none) */
} sp_json_split;

void sp_json_split_init(sp_json_split *s, uint64_t target);
/* Feeds the next `n` bytes; returns the result so far (0, 1 or -1; once 1 or -1 it stays). */
int sp_json_split_feed(sp_json_split *s, const void *data, size_t n);

/* Starts a lexer over `len` bytes at `data` (borrowed, not modified); escaped strings are unescaped
 * into a scratch buffer allocated on first need. Returns SP_OK or SP_ERR_NOMEM. */
sp_status sp_json_init_buffer(sp_json_lexer *lx, const void *data, size_t len, const sp_json_limits *lim);

/* As sp_json_init_buffer, but strings are unescaped in place inside `data` (which the caller owns and
 * lets the lexer overwrite), so every token's text stays valid until `data` is reused: an importer can
 * keep pointers to several strings of one record. `first_line` and `first_offset` give the position
 * of data[0] in the whole input, for messages. No allocation unless max_depth > 64. */
sp_status sp_json_init_inplace(sp_json_lexer *lx, void *data, size_t len, const sp_json_limits *lim,
                               uint32_t first_line, uint64_t first_offset);

/* Points a lexer set up by sp_json_init_inplace (or init_buffer) at new data, keeping its limits and
 * allocations: cheaper than a fresh init for one small document after another (e.g. JSONL lines). */
void sp_json_reuse_inplace(sp_json_lexer *lx, void *data, size_t len, uint32_t first_line, uint64_t first_offset);

/* Releases what the lexer allocated. Fine on a zeroed or failed lexer. */
void sp_json_fini(sp_json_lexer *lx);

/* Reads the next token into `*tok`. Returns SP_OK (including the SP_JSON_EOF token), SP_ERR_PARSE
 * (malformed: the message says where and what was expected), SP_ERR_LIMIT (depth, string or number
 * length), SP_ERR_IO (the stream failed) or SP_ERR_NOMEM. After an error every call returns it again.
 * `*tok` is filled in directly (the hot path avoids a copy), so after an error its content is
 * unspecified. */
sp_status sp_json_next(sp_json_lexer *lx, sp_json_token *tok);

/* Skips one whole value (a scalar, or a container with everything inside): call it where a value is
 * due, e.g. right after a KEY token whose value is not wanted. Same statuses as sp_json_next. */
sp_status sp_json_skip(sp_json_lexer *lx);

/* As sp_json_skip, and `*first` (may be NULL; written only on SP_OK) gets the type of the value's first
 * token (SP_JSON_OBJ_BEGIN for an object...), so a caller can skip a member it does not need and still
 * check its kind. A value lying wholly in the window is checked and passed over by one tight loop
 * without building tokens; anything else (and any error) goes token by token, so statuses, messages
 * and positions are the same either way. */
sp_status sp_json_skip_value(sp_json_lexer *lx, sp_json_type *first);

/* sp_json_skip token by token, never the fast path: for tests comparing the two. */
sp_status sp_json_skip_slow(sp_json_lexer *lx);

/* Skips the rest of the innermost open container, including its closing bracket. */
sp_status sp_json_skip_rest(sp_json_lexer *lx);

/* For an importer's own fast path over ordinary array elements (the Kineto importer's events,
 * kineto_fast.c): where the lexer stands between two elements of an array (right after its '[', after an
 * element, or after the ',' that follows one), the bytes it has buffered and not yet read. The caller
 * reads an element from them when it can settle every byte of it, and hands it back with
 * sp_json_window_take; anything else it leaves to sp_json_next, which then reads from the same place. */
typedef struct sp_json_window {
    const char *p, *end;       /* the unread bytes of the window (borrowed until the next call on the lexer) */
    bool comma;                /* a ',' comes first (the lexer stands after an element) */
    uint64_t offset;           /* input offset of p */
    uint32_t line;             /* p's 1-based line */
    uint64_t line_start;       /* input offset of that line's first byte */
    uint32_t depth;            /* open containers (the array is the innermost) */
    size_t max_string;         /* the lexer's limits (sp_json_limits) */
    size_t max_number;
    uint32_t max_depth;
} sp_json_window;

/* Fills *w and returns true when the lexer stands between two elements of an array with no error;
 * false (nothing written that matters) anywhere else. Consumes nothing. */
bool sp_json_window_get(const sp_json_lexer *lx, sp_json_window *w);

/* Consumes the window's bytes [w->p, to), which the caller has checked to be exactly what sp_json_next
 * would read as one more element: the ',' when w->comma, JSON whitespace, one complete value within
 * the limits. `lines` newlines lie among them, the last just before `line_at` (NULL when none). The
 * lexer is then where sp_json_next leaves it after that element's last token. */
void sp_json_window_take(sp_json_lexer *lx, const sp_json_window *w, const char *to, uint32_t lines,
                         const char *line_at);

/* The closing quote of a string body that starts at p (after the opening quote) when the body is
 * printable ASCII without escapes, all before `end`; NULL otherwise (the lexer must decide). */
static inline const char *sp_json_plain_string_end(const char *p, const char *end)
{
#if defined(__SSE2__) && !defined(SP_JSON_NO_SIMD)
    const __m128i quote = _mm_set1_epi8('"'), bslash = _mm_set1_epi8('\\'), lim = _mm_set1_epi8(0x20);
    while (end - p >= 16) {
        __m128i v = _mm_loadu_si128((const __m128i *)(const void *)p);
        __m128i m = _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(v, quote), _mm_cmpeq_epi8(v, bslash)),
                                 _mm_cmplt_epi8(v, lim));   /* signed: bytes >= 0x80 count as < 0x20 */
        unsigned mask = (unsigned)_mm_movemask_epi8(m);
        if (mask) {
            p += __builtin_ctz(mask);
            return *p == '"' ? p : NULL;
        }
        p += 16;
    }
#endif
    for (; p < end; p++) {
        unsigned char c = (unsigned char)*p;
        if (c == '"')
            return p;
        if (c == '\\' || c < 0x20 || c >= 0x80)
            return NULL;
    }
    return NULL;
}

/* The last error: "line L, column C (byte B): what (expected ...)". "" when there was none. */
const char *sp_json_error(const sp_json_lexer *lx);
/* Copies the lexer's error, prefixed with the file name, into the importer's error buffer and returns
 * the lexer's status (SP_ERR_PARSE if it holds none). */
sp_status sp_json_fail(const sp_json_lexer *lx, sp_import_ctx *ctx);

/* Current position (offset, line, column) of the next unread byte. */
void sp_json_position(const sp_json_lexer *lx, uint64_t *offset, uint32_t *line, uint32_t *column);

/* Converts the decimal text of a JSON number (`s`, `len`), multiplied by 10^scale, to an integer
 * exactly, without going through double: ("1234.567", scale 3) -> 1234567. Digits beyond the unit
 * are rounded to nearest, ties away from zero, and `*exact` (may be NULL) says whether any non-zero
 * digit was dropped. Returns SP_OK, SP_ERR_PARSE (not JSON number text) or SP_ERR_LIMIT (the result
 * does not fit in int64). `*out` and `*exact` are written only on SP_OK. */
sp_status sp_json_decimal_to_int(const char *s, size_t len, int scale, int64_t *out, bool *exact);

/* Microseconds as decimal text (Kineto's "ts"/"dur", e.g. "1234.567") to integer nanoseconds,
 * exactly: sp_json_decimal_to_int with scale 3. */
sp_status sp_json_us_to_ns(const char *s, size_t len, int64_t *out_ns, bool *exact);

/* The correctly rounded double of JSON number text (independent of the C locale). Returns SP_OK or
 * SP_ERR_PARSE; out-of-range magnitudes give +-HUGE_VAL as strtod does. */
sp_status sp_json_number_to_double(const char *s, size_t len, double *out);
/* sp_json_number_to_double's first step (json.c, Clinger's fast path): true with *out the double strtod
 * gives when the text is a valid JSON number whose digits fit a double exactly (at most 2^53, trailing
 * zeros moved into the exponent) and whose power of ten is within 22 (or reaches 22 with the digits
 * still fitting); false, *out unwritten, for anything else. Separate for tests that check which
 * numbers take it. */
bool sp_json_number_to_double_fast(const char *s, size_t len, double *out);

#endif
