/* Streaming JSON pull tokenizer (see json.h for why it is hand-written). Hot loops scan with pointers
 * and lookup tables, never a function call per byte; a token that runs past the end of the window is
 * rescanned from its start after a refill, so nothing but whitespace is ever consumed partially. */
#include <float.h>
#include <locale.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/util_int.h"
#include "import/json.h"

/* SSE2 is part of x86-64's baseline: string bodies are scanned 16 bytes at a time there, a byte at a
 * time (through g_plain) elsewhere. SP_JSON_NO_SIMD forces the portable path (tests of both). */
#if (defined(__SSE2__) || defined(_M_X64)) && !defined(SP_JSON_NO_SIMD)
#include <emmintrin.h>
#define SP_JSON_SSE2 1
#endif

/* Most bytes one refill asks the stream for (a build-time knob for measuring; 128 KiB reads, which
 * would stay in L2, were no faster than 1 MiB in A/B runs: docs/BENCHMARKS.md). */
#ifndef SP_JSON_READ
#define SP_JSON_READ (4u * SP_JSON_CHUNK)
#endif

enum {
    ST_VALUE = 0,       /* a value is due (after ':' or ',' in an array, or at the top) */
    ST_VALUE_OR_END,    /* after '[' */
    ST_KEY_OR_END,      /* after '{' */
    ST_KEY,             /* after ',' in an object */
    ST_COMMA_OR_END,    /* after a value inside a container */
    ST_TOP,             /* multiple_values: between top-level values (end of input is fine) */
    ST_DONE             /* the one top-level value is complete: only end of input may follow */
};

/* Bytes a string scan passes over without a second look: printable ASCII except '"' and '\\'. */
static unsigned char g_plain[256];
/* Bytes that may belong to a number's text. */
static unsigned char g_numch[256];
static int g_tables_ready;

static void tables_init(void)
{
    if (g_tables_ready)
        return;
    for (int c = 0x20; c < 0x80; c++)
        g_plain[c] = 1;
    g_plain['"'] = g_plain['\\'] = 0;
    for (int c = '0'; c <= '9'; c++)
        g_numch[c] = 1;
    g_numch['-'] = g_numch['+'] = g_numch['.'] = g_numch['e'] = g_numch['E'] = 1;
    /* Benign race: every thread writes the same bytes before setting the flag. */
    g_tables_ready = 1;
}

void sp_json_limits_init(sp_json_limits *lim)
{
    memset(lim, 0, sizeof *lim);
    lim->max_depth = 512;
    lim->max_string = 1u << 20;
    lim->max_number = 256;
}

static sp_status common_init(sp_json_lexer *lx, const sp_json_limits *lim)
{
    tables_init();
    memset(lx, 0, sizeof *lx);
    if (lim)
        lx->lim = *lim;
    else
        sp_json_limits_init(&lx->lim);
    if (lx->lim.max_depth == 0)
        lx->lim.max_depth = 1;
    if (lx->lim.max_string == 0)
        lx->lim.max_string = 1;
    if (lx->lim.max_number < 2)
        lx->lim.max_number = 2;
    lx->line = 1;
    lx->state = lx->lim.multiple_values ? ST_TOP : ST_VALUE;
    if (lx->lim.max_depth > 64) {
        lx->kinds = calloc((lx->lim.max_depth + 63) / 64, sizeof *lx->kinds);
        if (!lx->kinds)
            return lx->status = SP_ERR_NOMEM;
    }
    return SP_OK;
}

sp_status sp_json_init_input(sp_json_lexer *lx, sp_input *in, const sp_json_limits *lim)
{
    sp_status st = common_init(lx, lim);
    if (st)
        return st;
    if (lx->lim.max_string > SIZE_MAX / 2 - SP_JSON_CHUNK)
        lx->lim.max_string = SIZE_MAX / 2 - SP_JSON_CHUNK;
    /* The window holds the longest token allowed plus one chunk, so a refill always has room. */
    lx->win_cap = lx->lim.max_string + lx->lim.max_number + SP_JSON_CHUNK + 16;
    lx->win = malloc(lx->win_cap);
    if (!lx->win)
        return lx->status = SP_ERR_NOMEM;
    lx->in = in;
    lx->inplace = true;
    lx->p = lx->end = lx->origin = lx->win;
    lx->base = sp_input_offset(in);
    lx->line_start = lx->base;
    return SP_OK;
}

sp_status sp_json_init_input_after_comma(sp_json_lexer *lx, sp_input *in, const sp_json_limits *lim,
                                        const sp_json_resume *at)
{
    sp_status st = sp_json_init_input(lx, in, lim);
    if (st)
        return st;
    if (at->depth == 0 || at->depth > 64 || at->depth > lx->lim.max_depth || ((at->kinds >> (at->depth - 1)) & 1))
        return lx->status = SP_ERR_INVALID;   /* not inside an array, or deeper than the small stack */
    lx->base = at->offset;
    lx->line = at->line;
    lx->line_start = at->line_start;
    lx->depth = at->depth;
    if (lx->kinds)
        lx->kinds[0] = at->kinds;
    else
        lx->kinds_small = at->kinds;
    lx->state = ST_VALUE;   /* what the serial lexer is in right after the ',' */
    return SP_OK;
}

/* ---------- the split finder ---------- */

/* Bytes the finder must look at: outside strings (bit 1) and inside them (bit 2). */
static const unsigned char g_split_cls[256] = {
    ['"'] = 3, ['\\'] = 2, ['\n'] = 3, ['{'] = 1, ['}'] = 1, ['['] = 1, [']'] = 1, [','] = 1,
};

void sp_json_split_init(sp_json_split *s, uint64_t target)
{
    memset(s, 0, sizeof *s);
    s->target = target;
}

#if defined(__SSE2__)
/* Bit i: byte i of the 64 at q equals c. */
static inline uint64_t eq64(const __m128i v[4], char c)
{
    __m128i k = _mm_set1_epi8(c);
    uint64_t m = 0;
    for (int i = 0; i < 4; i++)
        m |= (uint64_t)(uint16_t)_mm_movemask_epi8(_mm_cmpeq_epi8(v[i], k)) << (16 * i);
    return m;
}

/* Bit i: parity of the set bits at or below i (which bytes lie inside a string). */
static inline uint64_t prefix_xor(uint64_t x)
{
    x ^= x << 1;
    x ^= x << 2;
    x ^= x << 4;
    x ^= x << 8;
    x ^= x << 16;
    x ^= x << 32;
    return x;
}

/* 64 bytes at once, while they lie wholly before the target and hold no backslash (escapes are the
 * scalar loop's): quotes give the string mask, brackets outside strings the depth, newlines the line.
 * Returns how many bytes it took (a multiple of 64), or -1 when the array ended. */
static long split_blocks(sp_json_split *s, const unsigned char *q, const unsigned char *end, uint64_t pos)
{
    const unsigned char *q0 = q;
    while (end - q >= 64 && pos + 64 <= s->target && !s->esc) {
        __m128i v[4], vl[4];
        for (int i = 0; i < 4; i++) {
            v[i] = _mm_loadu_si128((const __m128i *)(const void *)(q + 16 * i));
            vl[i] = _mm_or_si128(v[i], _mm_set1_epi8(0x20));   /* '[' -> '{', ']' -> '}' */
        }
        if (eq64(v, '\\'))
            break;
        uint64_t quote = eq64(v, '"'), nl = eq64(v, '\n');
        uint64_t instr = prefix_xor(quote) ^ (s->in_str ? ~0ull : 0);
        uint64_t open = eq64(vl, '{') & ~instr, close = eq64(vl, '}') & ~instr;
        for (uint64_t oc = open | close; oc; oc &= oc - 1) {
            int i = __builtin_ctzll(oc);
            if ((open >> i) & 1)
                s->depth++;
            else if (s->depth == 0)
                return -1;
            else
                s->depth--;
        }
        if (nl) {
            s->lines += (uint64_t)__builtin_popcountll(nl);
            s->line_start = pos + (uint64_t)(63 - __builtin_clzll(nl)) + 1;
        }
        s->in_str = (instr >> 63) & 1;
        q += 64;
        pos += 64;
    }
    /* after a ',' at the array's level until the next byte that is not whitespace: the last such byte
     * taken decides (outside a string, as it ends outside one, and at the depth it ends at, as only
     * whitespace follows it); none taken here leaves the flag as it was */
    const unsigned char *r = q;
    while (r > q0 && (r[-1] == ' ' || r[-1] == '\t' || r[-1] == '\r' || r[-1] == '\n'))
        r--;
    if (r > q0)
        s->after_comma = !s->in_str && s->depth == 0 && r[-1] == ',';
    return (long)(q - q0);
}
#endif

int sp_json_split_feed(sp_json_split *s, const void *data, size_t n)
{
    const unsigned char *q = data, *end = q + n, *b = q;
    uint64_t base = s->pos;
    s->pos += n;
    if (s->result)
        return s->result;
    while (q < end) {
#if defined(__SSE2__)
        long took = split_blocks(s, q, end, base + (uint64_t)(q - b));
        if (took < 0)
            return s->result = -1;
        q += took;
#endif
        /* the scalar loop: up to 64 bytes (a block with a backslash, the tail, the bytes past the target) */
        const unsigned char *lim = end - q > 64 ? q + 64 : end;
        while (q < lim) {
            unsigned char c = *q;
            if (s->after_comma) {
                if (c == ' ' || c == '\t' || c == '\r' || c == '\n') {
                    if (c == '\n') {
                        s->lines++;
                        s->line_start = base + (uint64_t)(q - b) + 1;
                    }
                    q++;
                    continue;
                }
                s->after_comma = false;   /* an element starts here */
                if (base + (uint64_t)(q - b) >= s->target) {
                    s->found = base + (uint64_t)(q - b);
                    return s->result = 1;
                }
            }
            if (s->in_str) {
                if (!s->esc) {   /* the byte after a backslash is escaped, whatever it is */
                    while (q < lim && !(g_split_cls[*q] & 2))
                        q++;
                    if (q == lim)
                        break;
                    c = *q;
                }
                if (s->esc)
                    s->esc = false;
                else if (c == '\\')
                    s->esc = true;
                else if (c == '"')
                    s->in_str = false;
                if (c == '\n') {   /* not valid JSON in a string: the lexer stops there; count it anyway */
                    s->lines++;
                    s->line_start = base + (uint64_t)(q - b) + 1;
                }
                q++;
                continue;
            }
            while (q < lim && !(g_split_cls[*q] & 1))
                q++;
            if (q == lim)
                break;
            c = *q;
            switch (c) {
            case '"': s->in_str = true; break;
            case '{':
            case '[': s->depth++; break;
            case '}':
            case ']':
                if (s->depth == 0)
                    return s->result = -1;   /* the array ends before the target */
                s->depth--;
                break;
            case ',':
                s->after_comma = s->depth == 0;
                break;
            default:   /* '\n' */
                s->lines++;
                s->line_start = base + (uint64_t)(q - b) + 1;
                break;
            }
            q++;
        }
    }
    return 0;
}

sp_status sp_json_init_buffer(sp_json_lexer *lx, const void *data, size_t len, const sp_json_limits *lim)
{
    sp_status st = common_init(lx, lim);
    if (st)
        return st;
    lx->p = lx->origin = data ? data : (const void *)"";
    lx->end = lx->p + len;
    lx->eof = true;
    return SP_OK;
}

sp_status sp_json_init_inplace(sp_json_lexer *lx, void *data, size_t len, const sp_json_limits *lim,
                               uint32_t first_line, uint64_t first_offset)
{
    sp_status st = sp_json_init_buffer(lx, data, len, lim);
    if (st)
        return st;
    lx->inplace = true;
    lx->line = first_line ? first_line : 1;
    lx->base = first_offset;
    lx->line_start = first_offset;
    return SP_OK;
}

void sp_json_reuse_inplace(sp_json_lexer *lx, void *data, size_t len, uint32_t first_line, uint64_t first_offset)
{
    lx->p = lx->origin = data ? data : (const void *)"";
    lx->end = lx->p + len;
    lx->eof = true;
    lx->inplace = true;
    lx->in = NULL;
    lx->line = first_line ? first_line : 1;
    lx->base = first_offset;
    lx->line_start = first_offset;
    lx->depth = 0;
    lx->state = lx->lim.multiple_values ? ST_TOP : ST_VALUE;
    lx->status = SP_OK;
    lx->msg[0] = '\0';
}

void sp_json_fini(sp_json_lexer *lx)
{
    if (!lx)
        return;
    free(lx->win);
    free(lx->scratch);
    free(lx->kinds);
    lx->win = NULL;
    lx->scratch = NULL;
    lx->kinds = NULL;
}

const char *sp_json_error(const sp_json_lexer *lx)
{
    return lx->status ? lx->msg : "";
}

static inline uint64_t off_of(const sp_json_lexer *lx, const unsigned char *q)
{
    return lx->base + (uint64_t)(q - lx->origin);
}

void sp_json_position(const sp_json_lexer *lx, uint64_t *offset, uint32_t *line, uint32_t *column)
{
    uint64_t o = off_of(lx, lx->p);
    if (offset)
        *offset = o;
    if (line)
        *line = lx->line;
    if (column)
        *column = (uint32_t)(o - lx->line_start + 1);
}

static sp_status fail(sp_json_lexer *lx, sp_status st, const unsigned char *at, const char *fmt, ...)
    SP_PRINTF(4, 5);

static sp_status fail(sp_json_lexer *lx, sp_status st, const unsigned char *at, const char *fmt, ...)
{
    uint64_t o = off_of(lx, at);
    int n = snprintf(lx->msg, sizeof lx->msg, "line %u, column %llu (byte %llu): ", lx->line,
                     (unsigned long long)(o - lx->line_start + 1), (unsigned long long)o);
    if (n < 0)
        n = 0;
    if ((size_t)n < sizeof lx->msg) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(lx->msg + n, sizeof lx->msg - (size_t)n, fmt, ap);
        va_end(ap);
    }
    lx->status = st;
    return st;
}

/* Stream mode: keeps the unread bytes [p, end), moves them to the window's front and reads more.
 * Returns 1 when bytes were added, 0 at end of input (eof set), or -1 with lx->status set. */
static int refill(sp_json_lexer *lx)
{
    if (lx->eof)
        return 0;
    size_t keep = (size_t)(lx->end - lx->p);
    if (lx->p != lx->win) {
        memmove(lx->win, lx->p, keep);
        lx->base += (uint64_t)(lx->p - lx->win);
        lx->p = lx->win;
        lx->end = lx->win + keep;
    }
    size_t room = lx->win_cap - keep;
    if (room == 0) {
        fail(lx, SP_ERR_LIMIT, lx->p, "token longer than the limit of %zu bytes", lx->lim.max_string);
        return -1;
    }
    if (room > SP_JSON_READ)
        room = SP_JSON_READ;
    ssize_t r = sp_input_read(lx->in, lx->win + keep, room);
    if (r < 0) {
        fail(lx, SP_ERR_IO, lx->end, "%s", sp_input_error(lx->in));
        return -1;
    }
    if (r == 0) {
        lx->eof = true;
        return 0;
    }
    lx->end += r;
    return 1;
}

/* Skips whitespace, counting lines. Returns 0, or -1 on a read error. */
static int skip_ws(sp_json_lexer *lx)
{
    for (;;) {
        const unsigned char *q = lx->p, *end = lx->end;
        while (q < end) {
            unsigned char c = *q;
            if (c == ' ' || c == '\t' || c == '\r') {
                q++;
            } else if (c == '\n') {
                q++;
                lx->line++;
                lx->line_start = off_of(lx, q);
            } else {
                break;
            }
        }
        lx->p = q;
        if (q < end || lx->eof)
            return 0;
        if (refill(lx) < 0)
            return -1;
    }
}

/* ---------- strings ---------- */

static int read_hex4(const unsigned char *s, const unsigned char *end, unsigned *out)
{
    if (end - s < 4)
        return -1;
    unsigned v = 0;
    for (int k = 0; k < 4; k++) {
        int h = sp_hex_digit(s[k]);
        if (h < 0)
            return -1;
        v = v * 16 + (unsigned)h;
    }
    *out = v;
    return 0;
}

/* Length of a valid UTF-8 sequence at s (RFC 3629: no overlongs, no surrogates, <= U+10FFFF), or 0. */
static size_t utf8_len(const unsigned char *s, const unsigned char *end)
{
    unsigned char c = s[0];
    size_t avail = (size_t)(end - s);
    if (c >= 0xC2 && c <= 0xDF)
        return avail >= 2 && (s[1] & 0xC0) == 0x80 ? 2 : 0;
    if (c >= 0xE0 && c <= 0xEF) {
        if (avail < 3 || (s[1] & 0xC0) != 0x80 || (s[2] & 0xC0) != 0x80)
            return 0;
        if (c == 0xE0 && s[1] < 0xA0)
            return 0;   /* overlong */
        if (c == 0xED && s[1] >= 0xA0)
            return 0;   /* UTF-16 surrogate */
        return 3;
    }
    if (c >= 0xF0 && c <= 0xF4) {
        if (avail < 4 || (s[1] & 0xC0) != 0x80 || (s[2] & 0xC0) != 0x80 || (s[3] & 0xC0) != 0x80)
            return 0;
        if (c == 0xF0 && s[1] < 0x90)
            return 0;   /* overlong */
        if (c == 0xF4 && s[1] >= 0x90)
            return 0;   /* beyond U+10FFFF */
        return 4;
    }
    return 0;
}

static unsigned char *put_utf8(unsigned char *d, unsigned cp)
{
    if (cp < 0x80) {
        *d++ = (unsigned char)cp;
    } else if (cp < 0x800) {
        *d++ = (unsigned char)(0xC0 | (cp >> 6));
        *d++ = (unsigned char)(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
        *d++ = (unsigned char)(0xE0 | (cp >> 12));
        *d++ = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
        *d++ = (unsigned char)(0x80 | (cp & 0x3F));
    } else {
        *d++ = (unsigned char)(0xF0 | (cp >> 18));
        *d++ = (unsigned char)(0x80 | ((cp >> 12) & 0x3F));
        *d++ = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
        *d++ = (unsigned char)(0x80 | (cp & 0x3F));
    }
    return d;
}

/* Validates and unescapes the raw string body [s, e) into dst (dst <= s in place: the output is never
 * longer than the input). Returns the output length, or -1 with the error set. */
static ptrdiff_t decode_string(sp_json_lexer *lx, const unsigned char *s, const unsigned char *e,
                               unsigned char *dst)
{
    unsigned char *d = dst;
    while (s < e) {
        unsigned char c = *s;
        if (c < 0x80 && c != '\\') {
            *d++ = c;
            s++;
            continue;
        }
        if (c >= 0x80) {
            size_t n = utf8_len(s, e);
            if (!n) {
                fail(lx, SP_ERR_PARSE, s, "invalid UTF-8 in string (JSON text must be UTF-8)");
                return -1;
            }
            memmove(d, s, n);
            d += n;
            s += n;
            continue;
        }
        /* escape: the scanner guaranteed a byte after the backslash */
        unsigned char x = s[1];
        const unsigned char *esc = s;
        s += 2;
        switch (x) {
        case '"': *d++ = '"'; break;
        case '\\': *d++ = '\\'; break;
        case '/': *d++ = '/'; break;
        case 'b': *d++ = '\b'; break;
        case 'f': *d++ = '\f'; break;
        case 'n': *d++ = '\n'; break;
        case 'r': *d++ = '\r'; break;
        case 't': *d++ = '\t'; break;
        case 'u': {
            unsigned cp;
            if (read_hex4(s, e, &cp) < 0) {
                fail(lx, SP_ERR_PARSE, esc, "invalid \\u escape (expected four hex digits)");
                return -1;
            }
            s += 4;
            if (cp >= 0xD800 && cp <= 0xDBFF) {
                unsigned lo;
                if (e - s < 6 || s[0] != '\\' || s[1] != 'u' || read_hex4(s + 2, e, &lo) < 0 ||
                    lo < 0xDC00 || lo > 0xDFFF) {
                    fail(lx, SP_ERR_PARSE, esc,
                         "unpaired UTF-16 surrogate \\u%04X (expected a low surrogate \\uDC00-\\uDFFF after it)", cp);
                    return -1;
                }
                s += 6;
                cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
            } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
                fail(lx, SP_ERR_PARSE, esc, "unpaired UTF-16 low surrogate \\u%04X", cp);
                return -1;
            }
            d = put_utf8(d, cp);
            break;
        }
        default:
            if (x >= 0x20 && x < 0x7f)
                fail(lx, SP_ERR_PARSE, esc, "invalid escape '\\%c' in string (expected one of \\\" \\\\ \\/ \\b \\f \\n \\r \\t \\uXXXX)", x);
            else
                fail(lx, SP_ERR_PARSE, esc, "invalid escape in string (expected one of \\\" \\\\ \\/ \\b \\f \\n \\r \\t \\uXXXX)");
            return -1;
        }
    }
    return d - dst;
}

#ifdef SP_JSON_SSE2
/* Bit k set when q[k] is a byte a string scan must look at: '"', '\\', a control byte (< 0x20) or a
 * non-ASCII byte (>= 0x80: as a signed byte also < 0x20). q has 16 readable bytes. */
static inline unsigned special16(const unsigned char *q)
{
    const __m128i quote = _mm_set1_epi8('"'), bslash = _mm_set1_epi8('\\'), lim = _mm_set1_epi8(0x20);
    __m128i v = _mm_loadu_si128((const __m128i *)(const void *)q);
    __m128i m = _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(v, quote), _mm_cmpeq_epi8(v, bslash)),
                             _mm_cmplt_epi8(v, lim));
    return (unsigned)_mm_movemask_epi8(m);
}
#endif

/* The first byte at or after q, before end, that a string scan must look at (not g_plain: '"', '\\', a
 * control or a non-ASCII byte), or end: 16 bytes at a time with SSE2, the rest byte by byte. */
static inline const unsigned char *skip_plain(const unsigned char *q, const unsigned char *end)
{
#ifdef SP_JSON_SSE2
    while (end - q >= 16) {
        unsigned mask = special16(q);
        if (mask)
            return q + __builtin_ctz(mask);
        q += 16;
    }
#endif
    while (q < end && g_plain[*q])
        q++;
    return q;
}

/* Finds the end of the string starting at lx->p (its opening quote), refilling as needed. On success
 * *body_len is the raw body length (the closing quote is at p + 1 + body_len) and *needs_decode says
 * whether escapes or non-ASCII bytes are present. Returns 0 or -1. */
static int scan_string(sp_json_lexer *lx, size_t *body_len, bool *needs_decode)
{
    size_t i = 1;
    bool dec = false;
    for (;;) {
        const unsigned char *q = lx->p + i, *end = lx->end;
        for (;;) {
            /* the first '"', '\\', control byte or non-ASCII byte: those get the treatment below */
            q = skip_plain(q, end);
            if (q >= end)
                break;
            unsigned char c = *q;
            if (c == '"') {
                size_t n = (size_t)(q - lx->p) - 1;
                if (n > lx->lim.max_string) {
                    fail(lx, SP_ERR_LIMIT, lx->p, "string longer than the limit of %zu bytes", lx->lim.max_string);
                    return -1;
                }
                *body_len = n;
                *needs_decode = dec;
                return 0;
            }
            if (c == '\\') {
                if (q + 1 >= end)
                    break;
                dec = true;
                q += 2;
                continue;
            }
            if (c >= 0x80) {
                dec = true;
                q++;
                continue;
            }
            fail(lx, SP_ERR_PARSE, q, "control character 0x%02X in string (expected it escaped, e.g. \\n or \\u%04X)", c, c);
            return -1;
        }
        i = (size_t)(q - lx->p);
        if (i - 1 > lx->lim.max_string) {
            fail(lx, SP_ERR_LIMIT, lx->p, "string longer than the limit of %zu bytes", lx->lim.max_string);
            return -1;
        }
        if (lx->eof) {
            fail(lx, SP_ERR_PARSE, lx->p, "unterminated string (expected a closing '\"')");
            return -1;
        }
        int r = refill(lx);
        if (r < 0)
            return -1;
        if (r == 0) {
            fail(lx, SP_ERR_PARSE, lx->p, "unterminated string (expected a closing '\"')");
            return -1;
        }
    }
}

/* The common case of scan_string, inlined into sp_json_next: a string (opening quote at p) whose body
 * is printable ASCII without escapes and whose closing quote lies in the window within whole 16-byte
 * blocks. Returns the body length, or SIZE_MAX when scan_string must decide (which it does from the
 * start, so nothing here has to be exact beyond "this is the closing quote"). */
static inline size_t quick_string(const sp_json_lexer *lx, const unsigned char *p)
{
#ifdef SP_JSON_SSE2
    const unsigned char *q = p + 1, *end = lx->end;
    while (end - q >= 16) {
        unsigned mask = special16(q);
        if (mask) {
            q += __builtin_ctz(mask);
            size_t n = (size_t)(q - p) - 1;
            return *q == '"' && n <= lx->lim.max_string ? n : SIZE_MAX;
        }
        q += 16;
    }
#else
    (void)lx;
    (void)p;
#endif
    return SIZE_MAX;
}

/* Turns the scanned string at lx->p into the token text. */
static int finish_string(sp_json_lexer *lx, size_t n, bool dec, const char **out, size_t *out_len)
{
    const unsigned char *body = lx->p + 1;
    if (!dec) {
        *out = (const char *)body;
        *out_len = n;
        return 0;
    }
    unsigned char *dst;
    if (lx->inplace) {
        dst = (unsigned char *)(uintptr_t)body;
    } else {
        if (!lx->scratch) {
            lx->scratch = malloc(lx->lim.max_string + 1);
            if (!lx->scratch) {
                lx->status = SP_ERR_NOMEM;
                snprintf(lx->msg, sizeof lx->msg, "out of memory");
                return -1;
            }
        }
        dst = (unsigned char *)lx->scratch;
    }
    ptrdiff_t m = decode_string(lx, body, body + n, dst);
    if (m < 0)
        return -1;
    *out = (const char *)dst;
    *out_len = (size_t)m;
    return 0;
}

/* ---------- numbers ---------- */

/* Checks JSON number grammar on [s, e); returns NULL or a description of what is wrong, with *at set
 * to the offending byte. *plain_int says: only digits (and a leading '-'). */
static const char *number_grammar(const unsigned char *s, const unsigned char *e, const unsigned char **at,
                                  bool *plain_int)
{
    const unsigned char *q = s;
    *plain_int = false;
    if (q < e && *q == '-')
        q++;
    if (q >= e || *q < '0' || *q > '9') {
        *at = q;
        return "expected a digit";
    }
    if (*q == '0') {
        q++;
        if (q < e && *q >= '0' && *q <= '9') {
            *at = q;
            return "leading zeros are not allowed in JSON numbers";
        }
    } else {
        while (q < e && *q >= '0' && *q <= '9')
            q++;
    }
    bool plain = true;
    if (q < e && *q == '.') {
        plain = false;
        q++;
        if (q >= e || *q < '0' || *q > '9') {
            *at = q;
            return "expected a digit after '.'";
        }
        while (q < e && *q >= '0' && *q <= '9')
            q++;
    }
    if (q < e && (*q == 'e' || *q == 'E')) {
        plain = false;
        q++;
        if (q < e && (*q == '+' || *q == '-'))
            q++;
        if (q >= e || *q < '0' || *q > '9') {
            *at = q;
            return "expected a digit in the exponent";
        }
        while (q < e && *q >= '0' && *q <= '9')
            q++;
    }
    if (q != e) {
        *at = q;
        return "invalid number";
    }
    *plain_int = plain;
    return NULL;
}

sp_status sp_json_decimal_to_int(const char *text, size_t len, int scale, int64_t *out, bool *exact)
{
    const unsigned char *s = (const unsigned char *)text, *e = s + len, *at;
    bool plain;
    if (!text || number_grammar(s, e, &at, &plain))
        return SP_ERR_PARSE;
    bool neg = *s == '-';
    if (neg)
        s++;
    /* digits: [s, int_end) integer part, [frac_beg, frac_end) fraction */
    const unsigned char *int_end = s;
    while (int_end < e && *int_end >= '0' && *int_end <= '9')
        int_end++;
    const unsigned char *frac_beg = int_end, *frac_end = int_end;
    if (frac_beg < e && *frac_beg == '.') {
        frac_beg++;
        frac_end = frac_beg;
        while (frac_end < e && *frac_end >= '0' && *frac_end <= '9')
            frac_end++;
    }
    int64_t exp10 = 0;
    if (frac_end < e) {   /* exponent */
        const unsigned char *q = frac_end + 1;
        bool eneg = false;
        if (*q == '+' || *q == '-')
            eneg = *q++ == '-';
        for (; q < e; q++)
            if (exp10 < 100000000)
                exp10 = exp10 * 10 + (*q - '0');   /* clamped: beyond this only 0 or overflow */
        if (eneg)
            exp10 = -exp10;
    }
    size_t nint = (size_t)(int_end - s), nfrac = (size_t)(frac_end - frac_beg);
    int64_t ndig = (int64_t)(nint + nfrac);
    /* digit k (0-based over integer then fraction digits) has weight 10^(point - 1 - k) */
    int64_t point = (int64_t)nint + exp10 + scale;
    uint64_t mag = 0;
    const uint64_t limit = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
    int round_digit = 0;
    bool sticky = false;
    for (int64_t k = 0; k < ndig; k++) {
        unsigned dg = (unsigned)((k < (int64_t)nint ? s[k] : frac_beg[k - (int64_t)nint]) - '0');
        if (k < point) {
            if (mag > (limit - dg) / 10)
                return SP_ERR_LIMIT;
            mag = mag * 10 + dg;
        } else if (k == point) {
            round_digit = (int)dg;
        } else if (dg) {
            sticky = true;
        }
    }
    /* point < 0: every digit lies below the first dropped position, whose digit is an implied 0 */
    for (int64_t k = ndig; k < point; k++) {
        if (mag == 0)
            break;
        if (mag > limit / 10)
            return SP_ERR_LIMIT;
        mag *= 10;
    }
    bool is_exact = round_digit == 0 && !sticky;
    if (round_digit >= 5) {   /* nearest, ties away from zero */
        if (mag >= limit)
            return SP_ERR_LIMIT;
        mag++;
    }
    int64_t v = neg ? (mag == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)mag) : (int64_t)mag;
    *out = v;
    if (exact)
        *exact = is_exact;
    return SP_OK;
}

sp_status sp_json_us_to_ns(const char *s, size_t len, int64_t *out_ns, bool *exact)
{
    return sp_json_decimal_to_int(s, len, 3, out_ns, exact);
}

/* The significand of a decimal's digits for sp_json_number_to_double_fast when there are more than
 * 19 of them (rare): trailing zeros counted apart (*zeros), leading ones skipped, so "1.5000...0" and
 * "0.000...01" still fit. [q, e) is at the first digit; returns the byte after the digits (and the
 * fraction), or NULL when the significant digits do not fit 64 bits or the fraction has no digit. */
static const unsigned char *decimal_digits_long(const unsigned char *q, const unsigned char *e, uint64_t *w_out,
                                                int64_t *zeros_out, int64_t *frac_out)
{
    uint64_t w = 0;
    int sig = 0;          /* digits in w (from its first non-zero digit) */
    int64_t zeros = 0;    /* zeros read after w's last non-zero digit, not yet in w */
    int64_t frac = 0;     /* digits after the point */
    for (bool in_frac = false;; q++) {
        if (q < e && *q >= '0' && *q <= '9') {
            frac += in_frac;
            if (*q == '0') {
                zeros += sig > 0;
                continue;
            }
            if (sig + zeros + 1 > 19)   /* w * 10^(zeros + 1) might not fit 64 bits */
                return NULL;
            sig += (int)zeros + 1;
            for (; zeros > 0; zeros--)
                w *= 10;
            w = w * 10 + (uint64_t)(*q - '0');
            continue;
        }
        if (q < e && *q == '.' && !in_frac) {
            in_frac = true;
            if (e - q < 2 || q[1] < '0' || q[1] > '9')
                return NULL;
            continue;
        }
        break;
    }
    *w_out = w;
    *zeros_out = zeros;
    *frac_out = frac;
    return q;
}

/* Clinger's fast path (W. D. Clinger, "How to Read Floating Point Numbers Accurately", PLDI 1990):
 * a decimal w * 10^p whose digits w (trailing zeros moved into p) fit a double exactly (w <= 2^53) and
 * whose |p| <= 22 (10^22 is the largest power of ten a double holds exactly) is one multiplication or
 * division of two exact doubles, which IEEE 754 rounds correctly: the double strtod gives, bit for bit.
 * Also p up to 22 + 15 when w * 10^(p - 22) still fits (the same one multiplication). Only a valid
 * JSON number over all of [text, text + len) is taken; false: anything else (more digits, a larger
 * exponent, invalid text), for strtod and number_grammar's message. Needs a double that rounds each
 * operation to double (FLT_EVAL_METHOD 0: SSE2, ARM64); elsewhere always false. */
bool sp_json_number_to_double_fast(const char *text, size_t len, double *out)
{
#if defined(FLT_EVAL_METHOD) && FLT_EVAL_METHOD == 0
    static const double exact_pow10[23] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,  1e8,  1e9,  1e10, 1e11,
                                           1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};
    const unsigned char *q = (const unsigned char *)text, *e = q + len;
    bool neg = q < e && *q == '-';
    q += neg;
    if (q >= e || *q < '0' || *q > '9' || (*q == '0' && e - q > 1 && q[1] >= '0' && q[1] <= '9'))
        return false;
    /* the usual case, 19 digits at most: all of them into w, no overflow */
    const unsigned char *d0 = q;
    uint64_t w = 0;
    int64_t zeros = 0, frac = 0;
    while (q < e && (unsigned)(*q - '0') < 10)
        w = w * 10 + (uint64_t)(*q++ - '0');
    if (q < e && *q == '.') {
        const unsigned char *f0 = ++q;
        while (q < e && (unsigned)(*q - '0') < 10)
            w = w * 10 + (uint64_t)(*q++ - '0');
        frac = q - f0;
        if (frac == 0)
            return false;
    }
    if (q - d0 - (frac > 0) > 19 && !(q = decimal_digits_long(d0, e, &w, &zeros, &frac)))
        return false;
    int64_t exp10 = 0;
    if (q < e && (*q == 'e' || *q == 'E')) {
        q++;
        bool eneg = q < e && *q == '-';
        q += q < e && (*q == '+' || *q == '-');
        if (q >= e)
            return false;
        for (; q < e && *q >= '0' && *q <= '9'; q++)
            if (exp10 < 100000)
                exp10 = exp10 * 10 + (*q - '0');   /* clamped: far beyond what the path takes */
        if (eneg)
            exp10 = -exp10;
    }
    if (q != e)
        return false;
    double v;
    if (w == 0) {
        v = 0.0;   /* any exponent: strtod gives a zero of the sign */
    } else {
        int64_t p = exp10 - frac + zeros;
        for (; (w > (1ull << 53) || p < -22) && w % 10 == 0; p++)   /* "1712195495519764.0", "500e-24" */
            w /= 10;
        if (w > (1ull << 53))
            return false;
        for (; p > 22 && w <= (1ull << 53) / 10; p--)
            w *= 10;
        if (p > 22 || p < -22)
            return false;
        v = p >= 0 ? (double)w * exact_pow10[p] : (double)w / exact_pow10[-p];
    }
    *out = neg ? -v : v;
    return true;
#else
    (void)text;
    (void)len;
    (void)out;
    return false;
#endif
}

sp_status sp_json_number_to_double(const char *s, size_t len, double *out)
{
    const unsigned char *at;
    bool plain;
    if (s && sp_json_number_to_double_fast(s, len, out))
        return SP_OK;
    if (!s || number_grammar((const unsigned char *)s, (const unsigned char *)s + len, &at, &plain))
        return SP_ERR_PARSE;
    char local[320];
    char *copy = len < sizeof local ? local : malloc(len + 1);
    if (!copy)
        return SP_ERR_NOMEM;
    memcpy(copy, s, len);
    copy[len] = '\0';
    /* strtod follows the C locale's decimal point; JSON's is always '.'. */
    const char *dp = localeconv()->decimal_point;
    if (dp && dp[0] && dp[0] != '.' && !dp[1]) {
        char *dot = strchr(copy, '.');
        if (dot)
            *dot = dp[0];
    }
    *out = strtod(copy, NULL);
    if (copy != local)
        free(copy);
    return SP_OK;
}

/* Scans the number at lx->p; fills tok. Returns 0 or -1. */
static int lex_number(sp_json_lexer *lx, sp_json_token *tok)
{
    /* Fast path: a plain integer of 1..18 digits, no leading zero, wholly in the window (the common
     * case for ns timestamps and ids). Anything else goes through the full grammar below. */
    {
        const unsigned char *q = lx->p, *end = lx->end;
        bool neg = *q == '-';
        q += neg;
        const unsigned char *d = q;
        uint64_t v = 0;   /* 19 digits at most: fits in uint64 */
        while (q < end && (unsigned)(*q - '0') < 10 && q - d < 19)
            v = v * 10 + (uint64_t)(*q++ - '0');
        size_t nd = (size_t)(q - d);
        /* a plain decimal (Kineto's "ts": 1234.567): the fraction is scanned here too; the value is an
         * exact integer only when every fraction digit is 0 (the full path's rule) */
        if (nd >= 1 && nd <= 18 && !(nd > 1 && *d == '0') && q < end && *q == '.') {
            const unsigned char *f = q + 1;
            bool zero = true;
            while (f < end && (unsigned)(*f - '0') < 10)
                zero &= *f++ == '0';
            if (f > q + 1 && (size_t)(f - lx->p) <= lx->lim.max_number && (f < end ? !g_numch[*f] : lx->eof)) {
                tok->str = (const char *)lx->p;
                tok->len = (size_t)(f - lx->p);
                if (zero) {
                    tok->i = neg ? -(int64_t)v : (int64_t)v;
                    tok->is_int = true;
                    tok->d = (double)tok->i;
                } else if (!lx->lim.no_double)
                    sp_json_number_to_double(tok->str, tok->len, &tok->d);
                lx->p = f;
                return 0;
            }
        }
        if (nd >= 1 && nd <= 18 && !(nd > 1 && *d == '0') && (size_t)(q - lx->p) <= lx->lim.max_number &&
            (q < end ? !g_numch[*q] : lx->eof)) {
            tok->str = (const char *)lx->p;
            tok->len = (size_t)(q - lx->p);
            tok->i = neg ? -(int64_t)v : (int64_t)v;   /* nd <= 18: no overflow */
            tok->is_int = true;
            tok->d = (double)tok->i;
            lx->p = q;
            return 0;
        }
    }
    for (;;) {
        const unsigned char *q = lx->p, *end = lx->end;
        while (q < end && g_numch[*q])
            q++;
        size_t n = (size_t)(q - lx->p);
        if (n > lx->lim.max_number) {
            fail(lx, SP_ERR_LIMIT, lx->p, "number longer than the limit of %zu characters", lx->lim.max_number);
            return -1;
        }
        if (q == end && !lx->eof) {
            int r = refill(lx);
            if (r < 0)
                return -1;
            continue;
        }
        const unsigned char *at;
        bool plain;
        const char *why = number_grammar(lx->p, q, &at, &plain);
        if (why) {
            fail(lx, SP_ERR_PARSE, at, "%s", why);
            return -1;
        }
        tok->str = (const char *)lx->p;
        tok->len = n;
        size_t ndig = n - (*lx->p == '-');
        if (plain && ndig <= 18) {
            const unsigned char *d = lx->p + (*lx->p == '-');
            int64_t v = 0;
            for (; d < q; d++)
                v = v * 10 + (*d - '0');
            tok->i = *lx->p == '-' ? -v : v;
            tok->is_int = true;
        } else {
            bool exact = false;
            int64_t v = 0;
            tok->is_int = sp_json_decimal_to_int(tok->str, n, 0, &v, &exact) == SP_OK && exact;
            tok->i = tok->is_int ? v : 0;
        }
        if (tok->is_int)
            tok->d = (double)tok->i;
        else if (!lx->lim.no_double)
            sp_json_number_to_double(tok->str, n, &tok->d);
        else
            tok->d = 0;
        lx->p = q;
        return 0;
    }
}

/* ---------- structure ---------- */

static inline bool top_is_object(const sp_json_lexer *lx)
{
    uint32_t k = lx->depth - 1;
    if (!lx->kinds)
        return (lx->kinds_small >> k) & 1;
    return (lx->kinds[k / 64] >> (k % 64)) & 1;
}

static int push(sp_json_lexer *lx, bool object)
{
    uint32_t k = lx->depth;
    if (k >= lx->lim.max_depth) {
        fail(lx, SP_ERR_LIMIT, lx->p, "nesting deeper than the limit of %u levels", lx->lim.max_depth);
        return -1;
    }
    uint64_t *w = lx->kinds ? &lx->kinds[k / 64] : &lx->kinds_small;
    uint64_t bit = 1ull << (k % 64);
    if (object)
        *w |= bit;
    else
        *w &= ~bit;
    lx->depth++;
    lx->state = object ? ST_KEY_OR_END : ST_VALUE_OR_END;
    return 0;
}

static inline void value_done(sp_json_lexer *lx)
{
    if (lx->depth)
        lx->state = ST_COMMA_OR_END;
    else
        lx->state = lx->lim.multiple_values ? ST_TOP : ST_DONE;
}

static int lex_literal(sp_json_lexer *lx, sp_json_token *tok)
{
    static const char *const words[] = {"true", "false", "null"};
    static const sp_json_type types[] = {SP_JSON_TRUE, SP_JSON_FALSE, SP_JSON_NULL};
    int w = *lx->p == 't' ? 0 : *lx->p == 'f' ? 1 : 2;
    size_t n = strlen(words[w]);
    while ((size_t)(lx->end - lx->p) < n && !lx->eof)
        if (refill(lx) < 0)
            return -1;
    size_t avail = (size_t)(lx->end - lx->p);
    size_t k = 0;
    while (k < n && k < avail && lx->p[k] == (unsigned char)words[w][k])
        k++;
    if (k < n) {
        fail(lx, SP_ERR_PARSE, lx->p + k, "invalid literal (expected '%s')", words[w]);
        return -1;
    }
    tok->type = types[w];
    tok->str = (const char *)lx->p;
    tok->len = n;
    lx->p += n;
    return 0;
}

static const char *expected_value_msg(const sp_json_lexer *lx)
{
    switch (lx->state) {
    case ST_VALUE_OR_END: return "expected a value or ']'";
    case ST_VALUE: return lx->depth ? "expected a value" : "expected a JSON value";
    default: return "expected a value";
    }
}

/* The lexer's state machine, kept as one function over ~150 lines on purpose: it is the innermost loop of
 * every JSON importer, and its switch on the grammar state reads as the grammar itself (each case: what
 * may come next, the token it yields, the next state); splitting it would put calls in the hot loop. */
sp_status sp_json_next(sp_json_lexer *lx, sp_json_token *out)
{
    if (lx->status)
        return lx->status;
    for (;;) {
        if ((lx->p >= lx->end || *lx->p <= ' ') && skip_ws(lx) < 0)
            return lx->status;
        const unsigned char *p = lx->p;
        out->offset = off_of(lx, p);
        out->line = lx->line;
        out->column = (uint32_t)(out->offset - lx->line_start + 1);
        out->is_int = false;
        out->i = 0;
        out->d = 0;
        out->str = NULL;
        out->len = 0;
        if (p == lx->end) {
            if (lx->state == ST_DONE || lx->state == ST_TOP) {
                out->type = SP_JSON_EOF;
                out->depth = 0;
                return SP_OK;
            }
            switch (lx->state) {
            case ST_KEY_OR_END: return fail(lx, SP_ERR_PARSE, p, "unexpected end of input (expected a key or '}')");
            case ST_KEY: return fail(lx, SP_ERR_PARSE, p, "unexpected end of input (expected a key)");
            case ST_COMMA_OR_END:
                return fail(lx, SP_ERR_PARSE, p, top_is_object(lx) ? "unexpected end of input (expected ',' or '}')"
                                                                   : "unexpected end of input (expected ',' or ']')");
            default:
                if (lx->depth == 0)
                    return fail(lx, SP_ERR_PARSE, p, "empty input (expected a JSON value)");
                return fail(lx, SP_ERR_PARSE, p, "unexpected end of input (%s)", expected_value_msg(lx));
            }
        }
        unsigned char c = *p;
        switch (lx->state) {
        case ST_DONE:
            return fail(lx, SP_ERR_PARSE, p, "unexpected data after the JSON value (expected end of input)");
        case ST_COMMA_OR_END:
            if (c == ',') {
                /* ", " (one space) is common: step over it here rather than in skip_ws */
                lx->p += 1 + (p + 2 < lx->end && p[1] == ' ' && p[2] > ' ');
                lx->state = top_is_object(lx) ? ST_KEY : ST_VALUE;
                continue;
            }
            if ((c == '}' && top_is_object(lx)) || (c == ']' && !top_is_object(lx))) {
                lx->p++;
                lx->depth--;
                out->type = c == '}' ? SP_JSON_OBJ_END : SP_JSON_ARR_END;
                value_done(lx);
                out->depth = lx->depth;
                return SP_OK;
            }
            return fail(lx, SP_ERR_PARSE, p, top_is_object(lx) ? "expected ',' or '}' after an object member"
                                                               : "expected ',' or ']' after an array element");
        case ST_KEY_OR_END:
        case ST_KEY: {
            if (c == '}' && lx->state == ST_KEY_OR_END) {
                lx->p++;
                lx->depth--;
                out->type = SP_JSON_OBJ_END;
                value_done(lx);
                out->depth = lx->depth;
                return SP_OK;
            }
            if (c != '"')
                return fail(lx, SP_ERR_PARSE, p, lx->state == ST_KEY ? "expected a key string after ','"
                                                                      : "expected a key string or '}'");
            size_t n = quick_string(lx, p);
            bool dec = false;
            if (n == SIZE_MAX && scan_string(lx, &n, &dec) < 0)
                return lx->status;
            /* the common "key": (or "key": value): no whitespace to skip or count */
            if (!dec && lx->p + n + 2 < lx->end && lx->p[n + 2] == ':') {
                out->str = (const char *)lx->p + 1;
                out->len = n;
                lx->p += n + 3;
                lx->p += lx->p + 1 < lx->end && lx->p[0] == ' ' && lx->p[1] > ' ';
                lx->state = ST_VALUE;
                out->type = SP_JSON_KEY;
                out->depth = lx->depth;
                return SP_OK;
            }
            /* find the ':' without consuming the key, so a refill keeps it in the window */
            size_t j = n + 2;
            for (;;) {
                const unsigned char *q = lx->p + j;
                while (q < lx->end && (*q == ' ' || *q == '\t' || *q == '\r' || *q == '\n')) {
                    if (*q == '\n') {
                        lx->line++;
                        lx->line_start = off_of(lx, q) + 1;
                    }
                    q++;
                }
                j = (size_t)(q - lx->p);
                if (q < lx->end || lx->eof)
                    break;
                if (refill(lx) < 0)
                    return lx->status;
            }
            if (lx->p + j >= lx->end || lx->p[j] != ':')
                return fail(lx, SP_ERR_PARSE, lx->p + j, "expected ':' after key");
            if (finish_string(lx, n, dec, &out->str, &out->len) < 0)
                return lx->status;
            lx->p += j + 1;
            lx->state = ST_VALUE;
            out->type = SP_JSON_KEY;
            out->depth = lx->depth;
            return SP_OK;
        }
        default: /* ST_VALUE, ST_VALUE_OR_END, ST_TOP */
            break;
        }
        switch (c) {
        case '{':
        case '[':
            if (push(lx, c == '{') < 0)
                return lx->status;
            lx->p++;
            out->type = c == '{' ? SP_JSON_OBJ_BEGIN : SP_JSON_ARR_BEGIN;
            break;
        case ']':
            if (lx->state != ST_VALUE_OR_END)
                return fail(lx, SP_ERR_PARSE, p, lx->depth ? "expected a value after ','" : "unexpected ']' (expected a JSON value)");
            lx->p++;
            lx->depth--;
            out->type = SP_JSON_ARR_END;
            value_done(lx);
            break;
        case '"': {
            size_t n = quick_string(lx, p);
            bool dec = false;
            if (n == SIZE_MAX && scan_string(lx, &n, &dec) < 0)
                return lx->status;
            if (!dec) {
                out->str = (const char *)lx->p + 1;
                out->len = n;
            } else if (finish_string(lx, n, dec, &out->str, &out->len) < 0) {
                return lx->status;
            }
            lx->p += n + 2;
            out->type = SP_JSON_STRING;
            value_done(lx);
            break;
        }
        case 't':
        case 'f':
        case 'n':
            if (lex_literal(lx, out) < 0)
                return lx->status;
            value_done(lx);
            break;
        case 'N':
        case 'I':
            return fail(lx, SP_ERR_PARSE, p, "NaN and Infinity are not JSON (%s)", expected_value_msg(lx));
        default:
            if (c == '-' || (c >= '0' && c <= '9')) {
                if (lex_number(lx, out) < 0)
                    return lx->status;
                out->type = SP_JSON_NUMBER;
                value_done(lx);
                break;
            }
            if (c == 0xEF && lx->depth == 0 && off_of(lx, p) == 0) {
                /* A UTF-8 byte order mark (EF BB BF), as Windows editors and PowerShell write: RFC 8259
                 * lets a parser ignore it. Looked for only here, on the way to an error, so the hot
                 * path pays nothing; the positions after it still count it (column 4 is byte 3). */
                while (lx->end - lx->p < 3 && !lx->eof)
                    if (refill(lx) < 0)
                        return lx->status;
                p = lx->p;
                if (lx->end - p >= 3 && p[1] == 0xBB && p[2] == 0xBF) {
                    lx->p += 3;
                    continue;
                }
            }
            if (c >= 0x20 && c < 0x7f)
                return fail(lx, SP_ERR_PARSE, p, "unexpected character '%c' (%s)", c, expected_value_msg(lx));
            return fail(lx, SP_ERR_PARSE, p, "unexpected byte 0x%02X (%s)", c, expected_value_msg(lx));
        }
        out->depth = lx->depth;
        return SP_OK;
    }
}

/* ---------- skipping without tokens ---------- */

/* Past the string whose opening quote is at q, checking what sp_json_next checks (closed, valid simple
 * escapes, no control bytes, valid UTF-8, length limit); NULL when the fast path must give up there. */
static const unsigned char *skip_string_fast(const sp_json_lexer *lx, const unsigned char *q,
                                             const unsigned char *end)
{
    const unsigned char *s = q++;
    for (;;) {
        q = skip_plain(q, end);
        if (q >= end)
            return NULL;
        unsigned char c = *q;
        if (c == '"')
            return (size_t)(q - s) - 1 <= lx->lim.max_string ? q + 1 : NULL;
        if (c == '\\') {
            if (end - q < 2)
                return NULL;
            switch (q[1]) {
            case '"': case '\\': case '/': case 'b': case 'f': case 'n': case 'r': case 't':
                q += 2;
                continue;
            default:
                return NULL;   /* \u (surrogate pairing) and invalid escapes: the token path decides */
            }
        }
        if (c >= 0x80) {
            size_t n = utf8_len(q, end);
            if (!n)
                return NULL;
            q += n;
            continue;
        }
        return NULL;   /* control byte: an error, reported by the token path */
    }
}

/* Skips the value due at lx->p without building tokens: one tight loop over the window that checks the
 * same grammar as sp_json_next (structure, bracket kinds, strings, number grammar, literals, depth
 * limit) and counts lines. It is conservative: on anything it does not settle on the spot (any error,
 * a \u escape, the end of the window, nesting more than 63 levels inside the value) it returns false
 * having changed nothing, and the caller skips token by token from the same place, so results, error
 * messages and positions are exactly those of the token path. */
static bool skip_value_fast(sp_json_lexer *lx, sp_json_type *first)
{
    enum { F_VALUE, F_VALUE_OR_END, F_KEY_OR_END, F_KEY, F_COLON, F_COMMA_OR_END };
    const unsigned char *q = lx->p, *end = lx->end;
    uint32_t line = lx->line;
    uint64_t line_start = lx->line_start;
    uint64_t stack = 0;   /* containers opened inside the value, one bit each (1 = object), innermost low */
    uint32_t d = 0;
    int st = F_VALUE;
    sp_json_type ty = SP_JSON_NONE;
    for (;;) {
        while (q < end && *q <= ' ') {
            if (*q == '\n') {
                line++;
                line_start = off_of(lx, q) + 1;
            } else if (*q != ' ' && *q != '\t' && *q != '\r') {
                return false;
            }
            q++;
        }
        if (q >= end)
            return false;
        unsigned char c = *q;
        switch (st) {
        case F_COMMA_OR_END:
            if (c == ',') {
                q++;
                st = (stack & 1) ? F_KEY : F_VALUE;
                continue;
            }
            if (c != ((stack & 1) ? '}' : ']'))
                return false;
            q++;
            d--;
            stack >>= 1;
            goto value_end;
        case F_KEY_OR_END:
            if (c == '}') {
                q++;
                d--;
                stack >>= 1;
                goto value_end;
            }
            /* fall through */
        case F_KEY:
            if (c != '"' || !(q = skip_string_fast(lx, q, end)))
                return false;
            st = F_COLON;
            continue;
        case F_COLON:
            if (c != ':')
                return false;
            q++;
            st = F_VALUE;
            continue;
        default:
            break;
        }
        if (c == '{' || c == '[') {
            if (d >= 63 || lx->depth + d >= lx->lim.max_depth)
                return false;
            if (ty == SP_JSON_NONE)
                ty = c == '{' ? SP_JSON_OBJ_BEGIN : SP_JSON_ARR_BEGIN;
            stack = (stack << 1) | (c == '{');
            d++;
            q++;
            st = c == '{' ? F_KEY_OR_END : F_VALUE_OR_END;
            continue;
        }
        if (c == ']' && st == F_VALUE_OR_END) {
            q++;
            d--;
            stack >>= 1;
            goto value_end;
        }
        if (c == '"') {
            if (!(q = skip_string_fast(lx, q, end)))
                return false;
            if (ty == SP_JSON_NONE)
                ty = SP_JSON_STRING;
        } else if (c == '-' || (c >= '0' && c <= '9')) {
            const unsigned char *s = q, *at;
            bool plain;
            while (q < end && g_numch[*q])
                q++;
            if (q >= end || (size_t)(q - s) > lx->lim.max_number || number_grammar(s, q, &at, &plain))
                return false;
            if (ty == SP_JSON_NONE)
                ty = SP_JSON_NUMBER;
        } else {
            sp_json_type lt;
            size_t n;
            if (c == 't' && end - q >= 4 && memcmp(q, "true", 4) == 0)
                lt = SP_JSON_TRUE, n = 4;
            else if (c == 'f' && end - q >= 5 && memcmp(q, "false", 5) == 0)
                lt = SP_JSON_FALSE, n = 5;
            else if (c == 'n' && end - q >= 4 && memcmp(q, "null", 4) == 0)
                lt = SP_JSON_NULL, n = 4;
            else
                return false;
            q += n;
            if (ty == SP_JSON_NONE)
                ty = lt;
        }
    value_end:
        if (d == 0)
            break;
        st = F_COMMA_OR_END;
    }
    lx->p = q;
    lx->line = line;
    lx->line_start = line_start;
    value_done(lx);
    *first = ty;
    return true;
}

sp_status sp_json_skip_value(sp_json_lexer *lx, sp_json_type *first)
{
    if (lx->status)
        return lx->status;
    sp_json_type ty;
    if ((lx->state == ST_VALUE || lx->state == ST_VALUE_OR_END || lx->state == ST_TOP) &&
        skip_value_fast(lx, &ty)) {
        if (first)
            *first = ty;
        return SP_OK;
    }
    sp_json_token t;
    sp_status st = sp_json_next(lx, &t);
    if (st)
        return st;
    if (t.type == SP_JSON_KEY || t.type == SP_JSON_OBJ_END || t.type == SP_JSON_ARR_END ||
        t.type == SP_JSON_EOF)
        return SP_ERR_STATE;
    if ((t.type == SP_JSON_OBJ_BEGIN || t.type == SP_JSON_ARR_BEGIN) && (st = sp_json_skip_rest(lx)))
        return st;
    if (first)
        *first = t.type;
    return SP_OK;
}

sp_status sp_json_skip(sp_json_lexer *lx)
{
    return sp_json_skip_value(lx, NULL);
}

/* The token-by-token skip (sp_json_skip before the fast path), kept for tests comparing the two. */
sp_status sp_json_skip_slow(sp_json_lexer *lx)
{
    sp_json_token t;
    sp_status st = sp_json_next(lx, &t);
    if (st)
        return st;
    if (t.type == SP_JSON_OBJ_BEGIN || t.type == SP_JSON_ARR_BEGIN)
        return sp_json_skip_rest(lx);
    if (t.type == SP_JSON_KEY || t.type == SP_JSON_OBJ_END || t.type == SP_JSON_ARR_END ||
        t.type == SP_JSON_EOF)
        return SP_ERR_STATE;
    return SP_OK;
}

sp_status sp_json_skip_rest(sp_json_lexer *lx)
{
    if (lx->status)
        return lx->status;
    if (lx->depth == 0)
        return SP_ERR_STATE;
    uint32_t target = lx->depth - 1;
    sp_json_token t;
    for (;;) {
        sp_status st = sp_json_next(lx, &t);
        if (st)
            return st;
        if ((t.type == SP_JSON_OBJ_END || t.type == SP_JSON_ARR_END) && t.depth == target)
            return SP_OK;
        if (t.type == SP_JSON_EOF)
            return SP_ERR_STATE;
    }
}

/* ---------- a caller's fast path over the window ---------- */

bool sp_json_window_get(const sp_json_lexer *lx, sp_json_window *w)
{
    if (lx->status || lx->depth == 0 || top_is_object(lx))
        return false;
    if (lx->state == ST_COMMA_OR_END)
        w->comma = true;
    else if (lx->state == ST_VALUE || lx->state == ST_VALUE_OR_END)
        w->comma = false;
    else
        return false;
    w->p = (const char *)lx->p;
    w->end = (const char *)lx->end;
    w->offset = off_of(lx, lx->p);
    w->line = lx->line;
    w->line_start = lx->line_start;
    w->depth = lx->depth;
    w->max_string = lx->lim.max_string;
    w->max_number = lx->lim.max_number;
    w->max_depth = lx->lim.max_depth;
    return true;
}

void sp_json_window_take(sp_json_lexer *lx, const sp_json_window *w, const char *to, uint32_t lines,
                         const char *line_at)
{
    lx->p = (const unsigned char *)to;
    lx->line = w->line + lines;   /* as skip_ws counts them, one by one (modulo 2^32 alike) */
    if (line_at)
        lx->line_start = off_of(lx, (const unsigned char *)line_at);
    value_done(lx);               /* inside the array: a ',' or its ']' comes next */
}

sp_status sp_json_fail(const sp_json_lexer *lx, sp_import_ctx *ctx)
{
    sp_errf(ctx->err, ctx->errlen, "%s: %s", ctx->name, sp_json_error(lx));
    return lx->status ? lx->status : SP_ERR_PARSE;
}
