/* The JSON string escaper (src/common/json_esc.c) against a naive reference written from the rule in
 * common/json_esc_int.h and the UTF-8 definition of RFC 3629 (section 3: decode the code point from
 * the lead byte's pattern and the continuation bytes, then refuse overlong forms, surrogates
 * U+D800..U+DFFF and code points past U+10FFFF). Inputs: every single byte and every pair of bytes;
 * every string of four bytes drawn from the byte values where the rule changes (controls, quote,
 * backslash, DEL, each edge of the lead and continuation ranges); random strings, also longer than
 * the writer's internal buffer; each with input limits that cut inside characters and with output
 * buffers too small for the whole text. The writer's output must also be well-formed UTF-8. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/json_esc_int.h"
#include "testlib.h"
#include "xorshift_testutil.h"

/* ---- the reference ---- */

/* Length of the well-formed sequence at p[0..avail) and its code point, or 0 (RFC 3629). */
static size_t ref_seq(const unsigned char *p, size_t avail, uint32_t *cp)
{
    static const uint32_t min_cp[5] = {0, 0, 0x80, 0x800, 0x10000};
    unsigned c = p[0];
    size_t n;
    uint32_t v;
    if (c < 0x80) {
        *cp = c;
        return 1;
    }
    if ((c & 0xE0) == 0xC0) {
        n = 2;
        v = c & 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
        n = 3;
        v = c & 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
        n = 4;
        v = c & 0x07;
    } else {
        return 0; /* a continuation byte, or F8..FF */
    }
    if (avail < n)
        return 0;
    for (size_t k = 1; k < n; k++) {
        if ((p[k] & 0xC0) != 0x80)
            return 0;
        v = v << 6 | (p[k] & 0x3F);
    }
    if (v < min_cp[n] || (v >= 0xD800 && v <= 0xDFFF) || v > 0x10FFFF)
        return 0;
    *cp = v;
    return n;
}

/* The escaped text of s[0..len) under the rule, up to `max_in` input bytes (0: all); returns its
 * length and the input consumed. */
static size_t ref_escape(char *out, const unsigned char *s, size_t len, size_t max_in, size_t *consumed)
{
    size_t limit = max_in && max_in < len ? max_in : len, i = 0, o = 0;
    while (i < limit) {
        uint32_t cp;
        size_t n = ref_seq(s + i, len - i, &cp);
        char piece[8];
        size_t w;
        if (n == 0) {
            strcpy(piece, "\\ufffd");
            n = 1;
        } else if (n > 1) {
            memcpy(piece, s + i, n);
            piece[n] = '\0';
        } else if (cp == '"') {
            strcpy(piece, "\\\"");
        } else if (cp == '\\') {
            strcpy(piece, "\\\\");
        } else if (cp == '\n') {
            strcpy(piece, "\\n");
        } else if (cp == '\r') {
            strcpy(piece, "\\r");
        } else if (cp == '\t') {
            strcpy(piece, "\\t");
        } else if (cp < 0x20 || cp == 0x7F) {
            snprintf(piece, sizeof piece, "\\u%04x", (unsigned)cp);
        } else {
            piece[0] = (char)cp;
            piece[1] = '\0';
        }
        if (i + n > limit)
            break;
        w = n > 1 && piece[0] != '\\' ? n : strlen(piece);
        memcpy(out + o, piece, w);
        o += w;
        i += n;
    }
    *consumed = i;
    return o;
}

/* ---- the checks ---- */

static char *ebuf, *rbuf;
static size_t ecap;
static int shown;

static void fail_show(const unsigned char *s, size_t len, size_t max_in, const char *what)
{
    if (shown++ >= 10)
        return;
    fprintf(stderr, "  %s differs for max_in %zu, input", what, max_in);
    for (size_t i = 0; i < len; i++)
        fprintf(stderr, " %02x", s[i]);
    fputc('\n', stderr);
}

static void need(size_t len)
{
    if (len * SP_JSON_ESC_MAX + 16 > ecap) {
        ecap = len * SP_JSON_ESC_MAX + 16;
        ebuf = realloc(ebuf, ecap);
        rbuf = realloc(rbuf, ecap);
    }
}

/* sp_json_escape with room for everything, at one limit. */
static void check_escape(const unsigned char *s, size_t len, size_t max_in)
{
    need(len);
    size_t used, rused;
    size_t w = sp_json_escape(ebuf, len * SP_JSON_ESC_MAX, (const char *)s, len, max_in, &used);
    size_t rw = ref_escape(rbuf, s, len, max_in, &rused);
    sp_test_checks++;
    if (w != rw || used != rused || memcmp(ebuf, rbuf, w) != 0) {
        sp_test_failures++;
        fail_show(s, len, max_in, "sp_json_escape");
    }
}

/* Output buffers of every size below the whole text: a prefix that ends between characters, with
 * the input it consumed, and no room left for the next character. */
static void check_small_caps(const unsigned char *s, size_t len)
{
    need(len);
    size_t rused, full = ref_escape(rbuf, s, len, 0, &rused);
    for (size_t cap = 0; cap <= full; cap++) {
        size_t used, pused;
        size_t w = sp_json_escape(ebuf, cap, (const char *)s, len, 0, &used);
        char pref[4096];
        size_t pw = 0; /* the text of what it consumed (a limit of 0 would mean none) */
        pused = 0;
        if (used)
            pw = ref_escape(pref, s, len, used, &pused);
        int ok = w <= cap && pw == w && pused == used && memcmp(ebuf, rbuf, w) == 0;
        if (ok && used < len) {
            uint32_t cp;
            size_t n = ref_seq(s + used, len - used, &cp), nused;
            char next[4096];
            size_t nw = ref_escape(next, s, len, used + (n ? n : 1), &nused);
            ok = nw - w > cap - w; /* the next character did not fit */
        }
        sp_test_checks++;
        if (!ok) {
            sp_test_failures++;
            fail_show(s, len, cap, "small output buffer");
            return;
        }
    }
}

/* Well-formed UTF-8 throughout, by the reference decoder. */
static int valid_utf8(const unsigned char *s, size_t len)
{
    for (size_t i = 0; i < len;) {
        uint32_t cp;
        size_t n = ref_seq(s + i, len - i, &cp);
        if (!n || cp < 0x20)
            return 0; /* no raw control characters either */
        i += n;
    }
    return 1;
}

/* sp_json_write_str: the quoted reference text, at each limit. `s` holds no NUL. */
static void check_write(const unsigned char *s, size_t len, size_t max_in)
{
    need(len);
    char *z = malloc(len + 1);
    memcpy(z, s, len);
    z[len] = '\0';
    char *mem = NULL;
    size_t memlen = 0;
    FILE *f = open_memstream(&mem, &memlen);
    sp_json_write_str(f, z, max_in);
    fclose(f);
    size_t rused, rw = ref_escape(rbuf, s, len, max_in, &rused);
    int ok = memlen == rw + 2 && mem[0] == '"' && mem[memlen - 1] == '"' && memcmp(mem + 1, rbuf, rw) == 0 &&
             valid_utf8((const unsigned char *)mem, memlen);
    sp_test_checks++;
    if (!ok) {
        sp_test_failures++;
        fail_show(s, len, max_in, "sp_json_write_str");
    }
    free(mem);
    free(z);
}

static uint64_t rng = 0x9e3779b97f4a7c15ull;
static uint32_t next_rand(void) { return (uint32_t)(xs64_next(&rng) >> 32); }

/* Byte values at which the rule changes. */
static const unsigned char edges[] = {0x00, 0x01, 0x09, 0x0A, 0x0D, 0x1F, 0x20, 0x22, 0x2F, 0x5C, 0x61, 0x7E,
                                      0x7F, 0x80, 0x8F, 0x90, 0x9F, 0xA0, 0xBF, 0xC0, 0xC1, 0xC2, 0xDF, 0xE0,
                                      0xE1, 0xEC, 0xED, 0xEE, 0xEF, 0xF0, 0xF1, 0xF3, 0xF4, 0xF5, 0xF8, 0xFF};
#define N_EDGES (sizeof edges / sizeof edges[0])

int main(void)
{
    unsigned char s[8];
    /* every byte, every pair: all limits */
    for (unsigned a = 0; a < 256; a++) {
        s[0] = (unsigned char)a;
        for (size_t m = 0; m <= 2; m++)
            check_escape(s, 1, m);
        for (unsigned b = 0; b < 256; b++) {
            s[1] = (unsigned char)b;
            for (size_t m = 0; m <= 2; m++)
                check_escape(s, 2, m);
        }
    }
    /* four bytes from the edges: every limit; a well-formed 4-byte sequence cut at 1, 2 and 3 */
    for (size_t a = 0; a < N_EDGES; a++)
        for (size_t b = 0; b < N_EDGES; b++)
            for (size_t c = 0; c < N_EDGES; c++)
                for (size_t d = 0; d < N_EDGES; d++) {
                    s[0] = edges[a];
                    s[1] = edges[b];
                    s[2] = edges[c];
                    s[3] = edges[d];
                    for (size_t m = 0; m <= 4; m++)
                        check_escape(s, 4, m);
                }
    /* random strings biased towards multi-byte and control bytes; writer and small buffers too */
    unsigned char r[2000];
    for (int t = 0; t < 20000; t++) {
        size_t len = t < 19900 ? next_rand() % 24 : 600 + next_rand() % 1400;
        for (size_t i = 0; i < len; i++) {
            uint32_t k = next_rand() % 8;
            r[i] = k < 3 ? (unsigned char)(0x80 | next_rand() % 0x80) /* high half */
                   : k < 4 ? edges[next_rand() % N_EDGES]
                   : k < 5 ? (unsigned char)(next_rand() % 0x20)
                           : (unsigned char)(0x20 + next_rand() % 0x60);
            if (!r[i])
                r[i] = 'x'; /* the writer takes NUL-terminated text */
        }
        check_escape(r, len, 0);
        check_escape(r, len, len ? 1 + next_rand() % len : 0);
        check_write(r, len, 0);
        check_write(r, len, len ? 1 + next_rand() % len : 3);
        if (len < 24 && t % 4 == 0)
            check_small_caps(r, len);
    }
    /* a few by hand, from the rule (hand-written expected text) */
    static const struct {
        const char *in, *out;
        size_t max_in;
    } hand[] = {
        {"a\"b\\c/d", "\"a\\\"b\\\\c/d\"", 0},
        {"\n\r\t\b\x7f", "\"\\n\\r\\t\\u0008\\u007f\"", 0},
        {"caf\xc3\xa9", "\"caf\xc3\xa9\"", 0},
        {"caf\xc3\xa9", "\"caf\"", 4},            /* the limit falls inside the e-acute: left out */
        {"\xed\xa0\x80", "\"\\ufffd\\ufffd\\ufffd\"", 0}, /* a surrogate: three invalid bytes */
        {"\xc0\xaf", "\"\\ufffd\\ufffd\"", 0},   /* an overlong '/' */
        {"\xf4\x90\x80\x80", "\"\\ufffd\\ufffd\\ufffd\\ufffd\"", 0}, /* past U+10FFFF */
        {"\xf0\x9f\x98\x80!", "\"\xf0\x9f\x98\x80!\"", 0},
        {"", "\"\"", 0},
    };
    for (size_t i = 0; i < sizeof hand / sizeof hand[0]; i++) {
        char *mem = NULL;
        size_t memlen = 0;
        FILE *f = open_memstream(&mem, &memlen);
        sp_json_write_str(f, hand[i].in, hand[i].max_in);
        fclose(f);
        CHECK(strcmp(mem, hand[i].out) == 0);
        free(mem);
    }
    char *mem = NULL;
    size_t memlen = 0;
    FILE *f = open_memstream(&mem, &memlen);
    sp_json_write_str(f, NULL, 0);
    fclose(f);
    CHECK(strcmp(mem, "\"\"") == 0);
    free(mem);
    CHECK_EQ_U64(sp_utf8_len((const unsigned char *)"\xe2\x82\xac", 2), 0); /* cut short by avail */
    CHECK_EQ_U64(sp_utf8_len((const unsigned char *)"\xe2\x82\xac", 3), 3);
    CHECK_EQ_U64(sp_utf8_len((const unsigned char *)"", 0), 0);
    free(ebuf);
    free(rbuf);
    return sp_test_done("json_escape");
}
