/* Server-sent events as OpenAI-compatible servers stream them: an incremental parser of the SSE
 * framing (WHATWG HTML "Server-sent events", section "Parsing an event stream": lines ended by CR LF,
 * LF or CR, `field: value`, comments, events ended by a blank line, data lines joined by LF) that
 * takes bytes split anywhere, and a reader of one event's JSON data that pulls out what the load
 * generator counts: content-carrying choices, usage, errors and the `[DONE]` sentinel. Nothing is
 * kept of the generated text. */
#include <stdlib.h>
#include <string.h>

#include "load/load_int.h"

void sp_sse_init(sp_sse *s)
{
    memset(s, 0, sizeof *s);
}

void sp_sse_reset(sp_sse *s)
{
    s->line_len = 0;
    s->data_len = 0;
    s->has_data = false;
    s->skip_lf = false;
    s->error_type = false;
    s->overflow = false;
    s->past_first_line = false;
}

void sp_sse_free(sp_sse *s)
{
    free(s->line);
    free(s->data);
    memset(s, 0, sizeof *s);
}

/* Appends n bytes to a buffer that grows up to SP_SSE_MAX_EVENT. */
static bool buf_append(char **buf, size_t *len, size_t *cap, const char *p, size_t n)
{
    if (*len + n > SP_SSE_MAX_EVENT)
        return false;
    if (*len + n > *cap) {
        size_t nc = *cap ? *cap : 256;
        while (nc < *len + n)
            nc *= 2;
        if (nc > SP_SSE_MAX_EVENT)
            nc = SP_SSE_MAX_EVENT;
        char *nb = realloc(*buf, nc);
        if (!nb)
            return false;
        *buf = nb;
        *cap = nc;
    }
    memcpy(*buf + *len, p, n);
    *len += n;
    return true;
}

/* One complete line (without its end). Returns false when the event grows past the cap. */
static bool on_line(sp_sse *s, const char *l, size_t n, sp_sse_event_fn fn, void *user)
{
    if (!s->past_first_line) {
        s->past_first_line = true;
        if (n >= 3 && memcmp(l, "\xEF\xBB\xBF", 3) == 0) { /* a byte order mark starts the stream */
            l += 3;
            n -= 3;
        }
    }
    if (n == 0) { /* a blank line dispatches the event, if it has data */
        if (s->has_data)
            fn(user, s->data ? s->data : "", s->data_len, s->error_type);
        s->data_len = 0;
        s->has_data = false;
        s->error_type = false;
        return true;
    }
    if (l[0] == ':')
        return true; /* a comment: keep-alive pings */
    const char *colon = memchr(l, ':', n);
    size_t fl = colon ? (size_t)(colon - l) : n;
    const char *v = colon ? colon + 1 : l + n;
    size_t vl = (size_t)(l + n - v);
    if (vl > 0 && v[0] == ' ') {
        v++;
        vl--;
    }
    if (fl == 4 && memcmp(l, "data", 4) == 0) {
        if (s->has_data && !buf_append(&s->data, &s->data_len, &s->data_cap, "\n", 1))
            return false;
        if (vl > 0 && !buf_append(&s->data, &s->data_len, &s->data_cap, v, vl))
            return false;
        s->has_data = true;
    } else if (fl == 5 && memcmp(l, "event", 5) == 0) {
        s->error_type = vl == 5 && memcmp(v, "error", 5) == 0;
    }
    /* id, retry and unknown fields mean nothing to a load generator */
    return true;
}

bool sp_sse_feed(sp_sse *s, const char *p, size_t n, sp_sse_event_fn fn, void *user)
{
    if (s->overflow)
        return false;
    size_t i = 0;
    if (n > 0 && s->skip_lf) {
        s->skip_lf = false;
        if (p[0] == '\n')
            i = 1;
    }
    while (i < n) {
        /* the line ends at the first LF or CR: memchr for each (vectorised), the CR only looked for
         * before the LF, since CR-only line ends are rare */
        const char *lf = memchr(p + i, '\n', n - i);
        size_t j = lf ? (size_t)(lf - p) : n;
        const char *cr = memchr(p + i, '\r', j - i);
        if (cr)
            j = (size_t)(cr - p);
        if (j == n) { /* the line continues in the next feed */
            if (!buf_append(&s->line, &s->line_len, &s->line_cap, p + i, n - i)) {
                s->overflow = true;
                return false;
            }
            return true;
        }
        bool ok;
        if (s->line_len > 0) {
            ok = buf_append(&s->line, &s->line_len, &s->line_cap, p + i, j - i) &&
                 on_line(s, s->line, s->line_len, fn, user);
            s->line_len = 0;
        } else {
            ok = on_line(s, p + i, j - i, fn, user); /* the whole line is here: no copy */
        }
        if (!ok) {
            s->overflow = true;
            return false;
        }
        if (p[j] == '\r') {
            if (j + 1 < n) {
                if (p[j + 1] == '\n')
                    j++;
            } else {
                s->skip_lf = true; /* a CR LF split between two feeds */
            }
        }
        i = j + 1;
    }
    return true;
}

/* ---- one event's data: the OpenAI chunk object ---- */

typedef struct jcur {
    const char *p, *e;
    int depth;
    bool bad;
} jcur;

#define JSON_MAX_DEPTH 64

static void ws(jcur *c)
{
    while (c->p < c->e && (*c->p == ' ' || *c->p == '\t' || *c->p == '\n' || *c->p == '\r'))
        c->p++;
}

static bool take(jcur *c, char ch)
{
    ws(c);
    if (c->p < c->e && *c->p == ch) {
        c->p++;
        return true;
    }
    return false;
}

/* Bytes that end a plain run inside a JSON string: the quote, the backslash, control bytes. */
static const unsigned char k_str_special[256] = {
    [0] = 1,  [1] = 1,  [2] = 1,  [3] = 1,  [4] = 1,  [5] = 1,  [6] = 1,  [7] = 1,  [8] = 1,
    [9] = 1,  [10] = 1, [11] = 1, [12] = 1, [13] = 1, [14] = 1, [15] = 1, [16] = 1, [17] = 1,
    [18] = 1, [19] = 1, [20] = 1, [21] = 1, [22] = 1, [23] = 1, [24] = 1, [25] = 1, [26] = 1,
    [27] = 1, [28] = 1, [29] = 1, [30] = 1, [31] = 1, ['"'] = 1, ['\\'] = 1};

/* A string: its raw content (escapes left as written) in [*s, *s + *len). */
static bool str(jcur *c, const char **s, size_t *len)
{
    ws(c);
    if (c->p >= c->e || *c->p != '"') {
        c->bad = true;
        return false;
    }
    const char *b = ++c->p;
    while (c->p < c->e) {
        while (c->p < c->e && !k_str_special[(unsigned char)*c->p])
            c->p++;
        if (c->p >= c->e)
            break;
        unsigned char ch = (unsigned char)*c->p;
        if (ch == '"') {
            *s = b;
            *len = (size_t)(c->p - b);
            c->p++;
            return true;
        }
        if (ch < 0x20)
            break;
        if (ch == '\\') {
            if (c->e - c->p < 2)
                break;
            c->p += 2;
            continue;
        }
        c->p++;
    }
    c->bad = true;
    return false;
}

static bool is_digit(char ch)
{
    return ch >= '0' && ch <= '9';
}

/* A number; *ival gets it when it is an integer in [0, 2^53], else -1. */
static bool num(jcur *c, int64_t *ival)
{
    ws(c);
    bool neg = false, integral = true;
    if (c->p < c->e && *c->p == '-') {
        neg = true;
        c->p++;
    }
    if (c->p >= c->e || !is_digit(*c->p)) {
        c->bad = true;
        return false;
    }
    int64_t v = 0;
    bool big = false;
    if (*c->p == '0') {
        c->p++;
    } else {
        while (c->p < c->e && is_digit(*c->p)) {
            if (v > (INT64_C(1) << 53) / 10)
                big = true;
            else
                v = v * 10 + (*c->p - '0');
            c->p++;
        }
    }
    if (c->p < c->e && *c->p == '.') {
        integral = false;
        c->p++;
        if (c->p >= c->e || !is_digit(*c->p)) {
            c->bad = true;
            return false;
        }
        while (c->p < c->e && is_digit(*c->p))
            c->p++;
    }
    if (c->p < c->e && (*c->p == 'e' || *c->p == 'E')) {
        integral = false;
        c->p++;
        if (c->p < c->e && (*c->p == '+' || *c->p == '-'))
            c->p++;
        if (c->p >= c->e || !is_digit(*c->p)) {
            c->bad = true;
            return false;
        }
        while (c->p < c->e && is_digit(*c->p))
            c->p++;
    }
    *ival = integral && !neg && !big ? v : -1;
    return true;
}

static bool lit(jcur *c, const char *word)
{
    size_t n = strlen(word);
    if ((size_t)(c->e - c->p) >= n && memcmp(c->p, word, n) == 0) {
        c->p += n;
        return true;
    }
    c->bad = true;
    return false;
}

static bool skip_value(jcur *c);

/* Walks an object or array whose opening byte is next, calling nothing: a value to skip. */
static bool skip_container(jcur *c, char open, char close)
{
    if (++c->depth > JSON_MAX_DEPTH) {
        c->bad = true;
        return false;
    }
    c->p++; /* the opening byte */
    if (take(c, close)) {
        c->depth--;
        return true;
    }
    for (;;) {
        if (open == '{') {
            const char *k;
            size_t kl;
            if (!str(c, &k, &kl) || !take(c, ':')) {
                c->bad = true;
                return false;
            }
        }
        if (!skip_value(c))
            return false;
        if (take(c, ','))
            continue;
        if (take(c, close)) {
            c->depth--;
            return true;
        }
        c->bad = true;
        return false;
    }
}

static bool skip_value(jcur *c)
{
    ws(c);
    if (c->p >= c->e) {
        c->bad = true;
        return false;
    }
    const char *s;
    size_t l;
    int64_t v;
    switch (*c->p) {
    case '"': return str(c, &s, &l);
    case '{': return skip_container(c, '{', '}');
    case '[': return skip_container(c, '[', ']');
    case 't': return lit(c, "true");
    case 'f': return lit(c, "false");
    case 'n': return lit(c, "null");
    default: return num(c, &v);
    }
}

static bool key_is(const char *k, size_t kl, const char *name)
{
    size_t n = strlen(name);
    return kl == n && memcmp(k, name, n) == 0;
}

/* Iterates the members of an object whose '{' is next: *k gets each key; returns false at the end
 * (or on a syntax error, with c->bad). Usage: if (obj_begin(c)) while (obj_next(c, &first, &k, &kl)) */
static bool obj_begin(jcur *c)
{
    ws(c);
    if (c->p >= c->e || *c->p != '{') {
        c->bad = true;
        return false;
    }
    if (++c->depth > JSON_MAX_DEPTH) {
        c->bad = true;
        return false;
    }
    c->p++;
    return true;
}

static bool obj_next(jcur *c, bool *first, const char **k, size_t *kl)
{
    if (c->bad)
        return false;
    if (*first) {
        *first = false;
        if (take(c, '}')) {
            c->depth--;
            return false;
        }
    } else if (!take(c, ',')) {
        if (!take(c, '}'))
            c->bad = true;
        else
            c->depth--;
        return false;
    }
    if (!str(c, k, kl) || !take(c, ':')) {
        c->bad = true;
        return false;
    }
    return true;
}

static bool peek(jcur *c, char ch)
{
    ws(c);
    return c->p < c->e && *c->p == ch;
}

/* A string member that counts as generated output when it is not empty; anything else is skipped. */
static bool nonempty_string(jcur *c)
{
    if (!peek(c, '"')) {
        skip_value(c);
        return false;
    }
    const char *s;
    size_t l;
    return str(c, &s, &l) && l > 0;
}

/* What a choice says (docs/load.md "Counting tokens"). */
enum choice_kind { CH_NONE, CH_OUTPUT, CH_EMPTY };

/* A "delta" object of a chat chunk: content, reasoning (vLLM's reasoning_content, others' reasoning)
 * or tool calls are output; a role is the stream's opening (vLLM: {"role":"assistant","content":""}),
 * never a token; any other delta without output ({"content":""}, {}) is empty: vLLM sends one for a
 * token whose text it holds back (a multi-byte character's first bytes) and for the end-of-sequence
 * token, whose text is empty, with the finish reason. */
static enum choice_kind delta_kind(jcur *c)
{
    if (!peek(c, '{')) {
        skip_value(c);
        return CH_NONE;
    }
    bool has = false, role = false, first = true;
    const char *k;
    size_t kl;
    if (!obj_begin(c))
        return CH_NONE;
    while (obj_next(c, &first, &k, &kl)) {
        if (key_is(k, kl, "role")) {
            role = true;
            skip_value(c);
        } else if (key_is(k, kl, "content") || key_is(k, kl, "reasoning_content") || key_is(k, kl, "reasoning")) {
            has |= nonempty_string(c);
        } else if (key_is(k, kl, "tool_calls") && peek(c, '[')) {
            const char *b = c->p;
            skip_value(c);
            /* a non-empty array: more than "[", blanks and "]" */
            for (const char *q = b + 1; q < c->p - 1; q++)
                if (*q != ' ' && *q != '\t' && *q != '\n' && *q != '\r')
                    has = true;
        } else {
            skip_value(c);
        }
    }
    return has ? CH_OUTPUT : role ? CH_NONE : CH_EMPTY;
}

/* A completions choice's "text": non-empty is output, "" empty (as a chat delta without output). */
static enum choice_kind text_kind(jcur *c)
{
    if (!peek(c, '"')) {
        skip_value(c);
        return CH_NONE;
    }
    const char *s;
    size_t l;
    if (!str(c, &s, &l))
        return CH_NONE;
    return l > 0 ? CH_OUTPUT : CH_EMPTY;
}

static void choices(jcur *c, sp_sse_chunk *out)
{
    if (!peek(c, '[')) {
        skip_value(c); /* null */
        return;
    }
    if (++c->depth > JSON_MAX_DEPTH) {
        c->bad = true;
        return;
    }
    c->p++;
    if (take(c, ']')) {
        c->depth--;
        return;
    }
    for (;;) {
        if (peek(c, '{')) {
            enum choice_kind kind = CH_NONE, one;
            bool first = true;
            const char *k;
            size_t kl;
            if (obj_begin(c))
                while (obj_next(c, &first, &k, &kl)) {
                    if (key_is(k, kl, "text"))
                        one = text_kind(c); /* completions */
                    else if (key_is(k, kl, "delta"))
                        one = delta_kind(c); /* chat completions */
                    else {
                        skip_value(c);
                        continue;
                    }
                    if (one == CH_OUTPUT || kind == CH_NONE)
                        kind = one;
                }
            if (kind == CH_OUTPUT)
                out->content++;
            else if (kind == CH_EMPTY)
                out->empty++;
        } else {
            skip_value(c);
        }
        if (c->bad)
            return;
        if (take(c, ','))
            continue;
        if (take(c, ']'))
            c->depth--;
        else
            c->bad = true;
        return;
    }
}

static void usage(jcur *c, sp_sse_chunk *out)
{
    if (!peek(c, '{')) {
        skip_value(c); /* null: no usage in this chunk */
        return;
    }
    bool first = true;
    const char *k;
    size_t kl;
    if (!obj_begin(c))
        return;
    while (obj_next(c, &first, &k, &kl)) {
        int64_t v = -1;
        ws(c);
        bool numeric = c->p < c->e && (*c->p == '-' || is_digit(*c->p));
        if (numeric && (key_is(k, kl, "completion_tokens") || key_is(k, kl, "prompt_tokens"))) {
            num(c, &v);
            if (key_is(k, kl, "completion_tokens"))
                out->completion_tokens = v;
            else
                out->prompt_tokens = v;
        } else {
            skip_value(c);
        }
    }
}

/* Keeps the start of an error message for people: the common escapes undone (\uXXXX kept as
 * written), control bytes as spaces. */
static void keep_message(sp_sse_chunk *out, const char *s, size_t l)
{
    size_t k = 0;
    for (size_t i = 0; i < l && k < sizeof out->message - 1; i++) {
        char ch = s[i];
        if (ch == '\\' && i + 1 < l && s[i + 1] != 'u') {
            ch = s[++i];
            if (ch == 'n' || ch == 'r' || ch == 't' || ch == 'b' || ch == 'f')
                ch = ' ';
        }
        out->message[k++] = (unsigned char)ch < 0x20 ? ' ' : ch;
    }
    out->message[k] = '\0';
}

/* The value of "error": an object with a "message" (OpenAI's shape), a string, or anything else. */
static void error_value(jcur *c, sp_sse_chunk *out)
{
    const char *s, *k;
    size_t l, kl;
    if (peek(c, 'n')) {
        lit(c, "null"); /* "error": null is no error */
        return;
    }
    out->kind = SP_SSE_CHUNK_ERROR;
    if (peek(c, '"')) {
        if (str(c, &s, &l))
            keep_message(out, s, l);
        return;
    }
    if (!peek(c, '{')) {
        skip_value(c);
        return;
    }
    bool first = true;
    if (!obj_begin(c))
        return;
    while (obj_next(c, &first, &k, &kl)) {
        if (key_is(k, kl, "message") && peek(c, '"')) {
            if (str(c, &s, &l))
                keep_message(out, s, l);
        } else {
            skip_value(c);
        }
    }
}

void sp_sse_classify(const char *data, size_t len, sp_sse_chunk *out)
{
    memset(out, 0, sizeof *out);
    out->kind = SP_SSE_CHUNK_DATA;
    out->completion_tokens = -1;
    out->prompt_tokens = -1;
    jcur c = {data, data + len, 0, false};
    ws(&c);
    const char *b = c.p, *e = c.e;
    while (e > b && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\n' || e[-1] == '\r'))
        e--;
    if (e - b == 6 && memcmp(b, "[DONE]", 6) == 0) {
        out->kind = SP_SSE_CHUNK_DONE;
        return;
    }
    bool first = true, object_error = false;
    const char *k, *s;
    size_t kl, l;
    char top_message[sizeof out->message] = "";
    if (obj_begin(&c))
        while (obj_next(&c, &first, &k, &kl)) {
            if (key_is(k, kl, "choices"))
                choices(&c, out);
            else if (key_is(k, kl, "usage"))
                usage(&c, out);
            else if (key_is(k, kl, "error"))
                error_value(&c, out);
            else if (key_is(k, kl, "object") && peek(&c, '"')) {
                if (str(&c, &s, &l) && l == 5 && memcmp(s, "error", 5) == 0)
                    object_error = true; /* vLLM's older ErrorResponse: {"object":"error","message":..} */
            } else if (key_is(k, kl, "message") && peek(&c, '"')) {
                if (str(&c, &s, &l)) {
                    size_t n = l < sizeof top_message - 1 ? l : sizeof top_message - 1;
                    memcpy(top_message, s, n);
                    top_message[n] = '\0';
                }
            } else {
                skip_value(&c);
            }
        }
    ws(&c);
    if (c.bad || c.p != c.e) {
        memset(out, 0, sizeof *out);
        out->kind = SP_SSE_CHUNK_MALFORMED;
        out->completion_tokens = out->prompt_tokens = -1;
        return;
    }
    if (object_error) {
        out->kind = SP_SSE_CHUNK_ERROR;
        if (!out->message[0])
            keep_message(out, top_message, strlen(top_message));
    }
}
