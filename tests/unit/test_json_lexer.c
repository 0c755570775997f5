/* The streaming JSON tokenizer (src/import/json.c): token sequences of known documents read back the
 * same from a const buffer, in place, and as a stream cut into 1-, 3- and 7-byte reads; every
 * malformed case fails with SP_ERR_PARSE/SP_ERR_LIMIT at the stated line and column; exact decimal to
 * integer conversion. Expected answers are written out by hand from RFC 8259. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "import/json.h"
#include "testlib.h"

enum mode { M_BUFFER, M_INPLACE, M_STREAM1, M_STREAM3, M_STREAM7, M_STREAM_BIG, M_COUNT };

/* Appends a printable rendering of one token to out. */
static void render(const sp_json_token *t, char *out, size_t cap)
{
    size_t n = strlen(out);
    char *o = out + n;
    size_t room = cap - n;
    switch (t->type) {
    case SP_JSON_OBJ_BEGIN: snprintf(o, room, "{ "); return;
    case SP_JSON_OBJ_END: snprintf(o, room, "} "); return;
    case SP_JSON_ARR_BEGIN: snprintf(o, room, "[ "); return;
    case SP_JSON_ARR_END: snprintf(o, room, "] "); return;
    case SP_JSON_TRUE: snprintf(o, room, "t "); return;
    case SP_JSON_FALSE: snprintf(o, room, "f "); return;
    case SP_JSON_NULL: snprintf(o, room, "z "); return;
    case SP_JSON_EOF: snprintf(o, room, "$"); return;
    case SP_JSON_NUMBER:
        if (t->is_int)
            snprintf(o, room, "n:%.*s=%lld ", (int)t->len, t->str, (long long)t->i);
        else
            snprintf(o, room, "n:%.*s ", (int)t->len, t->str);
        return;
    case SP_JSON_KEY:
    case SP_JSON_STRING: {
        size_t k = (size_t)snprintf(o, room, "%c:", t->type == SP_JSON_KEY ? 'k' : 's');
        for (size_t i = 0; i < t->len && k + 5 < room; i++) {
            unsigned char c = (unsigned char)t->str[i];
            if (c >= 0x21 && c < 0x7f)
                o[k++] = (char)c;
            else
                k += (size_t)snprintf(o + k, room - k, "\\x%02x", c);
        }
        snprintf(o + k, room - k, " ");
        return;
    }
    default: snprintf(o, room, "? "); return;
    }
}

/* Tokenizes `text` (length len) in `mode`; writes the rendering (or "ERR <status> <message>"). */
static sp_status lex_all(const char *text, size_t len, enum mode mode, const sp_json_limits *lim,
                         char *out, size_t cap)
{
    out[0] = '\0';
    sp_json_lexer lx;
    sp_input *in = NULL;
    char *copy = NULL;
    sp_status st;
    switch (mode) {
    case M_BUFFER:
        st = sp_json_init_buffer(&lx, text, len, lim);
        break;
    case M_INPLACE:
        copy = malloc(len + 1);
        memcpy(copy, text, len);
        st = sp_json_init_inplace(&lx, copy, len, lim, 1, 0);
        break;
    default: {
        size_t step = mode == M_STREAM1 ? 1 : mode == M_STREAM3 ? 3 : mode == M_STREAM7 ? 7 : 0;
        if (sp_input_open_mem(text, len, step, &in) != SP_OK)
            return SP_ERR_NOMEM;
        st = sp_json_init_input(&lx, in, lim);
    }
    }
    if (st == SP_OK) {
        sp_json_token t;
        for (int guard = 0; guard < 100000; guard++) {
            st = sp_json_next(&lx, &t);
            if (st)
                break;
            render(&t, out, cap);
            if (t.type == SP_JSON_EOF)
                break;
        }
        if (st) {
            snprintf(out, cap, "ERR %d %s", (int)st, sp_json_error(&lx));
            /* errors are sticky */
            sp_json_token t2;
            CHECK(sp_json_next(&lx, &t2) == st);
        }
    }
    sp_json_fini(&lx);
    sp_input_close(in);
    free(copy);
    return st;
}

/* Checks that every mode gives `expect`. */
static void expect_tokens(const char *text, const sp_json_limits *lim, const char *expect)
{
    char out[4096];
    for (int m = 0; m < M_COUNT; m++) {
        sp_status st = lex_all(text, strlen(text), (enum mode)m, lim, out, sizeof out);
        CHECK(st == SP_OK);
        if (strcmp(out, expect) != 0) {
            sp_test_checks++;
            sp_test_failures++;
            fprintf(stderr, "mode %d: %s\n  got:    %s\n  wanted: %s\n", m, text, out, expect);
        }
    }
}

/* Checks that every mode fails with `want` and a message containing `where` and `what`. */
static void expect_error_n(const char *text, size_t len, const sp_json_limits *lim, sp_status want,
                           const char *where, const char *what)
{
    char out[4096];
    for (int m = 0; m < M_COUNT; m++) {
        sp_status st = lex_all(text, len, (enum mode)m, lim, out, sizeof out);
        sp_test_checks++;
        if (st != want || !strstr(out, where) || !strstr(out, what)) {
            sp_test_failures++;
            fprintf(stderr, "mode %d: %.60s\n  got: %s (status %d)\n  wanted status %d, '%s', '%s'\n", m,
                    text, out, (int)st, (int)want, where, what);
        }
    }
}

static void expect_error(const char *text, sp_status want, const char *where, const char *what)
{
    expect_error_n(text, strlen(text), NULL, want, where, what);
}

static void test_tokens(void)
{
    expect_tokens("{\"a\":1,\"b\":[true,false,null],\"c\":\"x\"}",
                  NULL, "{ k:a n:1=1 k:b [ t f z ] k:c s:x } $");
    expect_tokens(" \n\t{ \"a\" \r\n : { } , \"b\" : [ ] }\n\n", NULL, "{ k:a { } k:b [ ] } $");
    expect_tokens("\"top\"", NULL, "s:top $");
    expect_tokens("[[[[]]]]", NULL, "[ [ [ [ ] ] ] ] $");
    /* escapes: e-acute is U+00E9 = C3 A9; U+1F600 from the pair D83D DE00 = F0 9F 98 80 */
    expect_tokens("[\"\\u00e9\\ud83d\\ude00\\n\\\"\\\\\\/\\b\\f\\r\\t\\u0041\"]", NULL,
                  "[ s:\\xc3\\xa9\\xf0\\x9f\\x98\\x80\\x0a\"\\/\\x08\\x0c\\x0d\\x09A ] $");
    /* raw UTF-8 passes through; \u0000 becomes a 0 byte */
    expect_tokens("[\"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\",\"a\\u0000b\"]", NULL,
                  "[ s:\\xc3\\xa9\\xe2\\x82\\xac\\xf0\\x9f\\x98\\x80 s:a\\x00b ] $");
    /* numbers: integral values within int64 are exact (1.0 and 1e3 are integral); 2^63 is not */
    expect_tokens("[0,-0,12345678901234567890,9223372036854775807,-9223372036854775808,"
                  "9223372036854775808,1.5,1e3,1.0,2.5e-3,-1E+2,123456789012345678]",
                  NULL,
                  "[ n:0=0 n:-0=0 n:12345678901234567890 n:9223372036854775807=9223372036854775807 "
                  "n:-9223372036854775808=-9223372036854775808 n:9223372036854775808 n:1.5 n:1e3=1000 "
                  "n:1.0=1 n:2.5e-3 n:-1E+2=-100 n:123456789012345678=123456789012345678 ] $");
    /* keys with escapes are unescaped too */
    expect_tokens("{\"k\\u0065y\":\"v\"}", NULL, "{ k:key s:v } $");
    sp_json_limits lim;
    sp_json_limits_init(&lim);
    lim.multiple_values = true;
    expect_tokens("{\"a\":1} {\"b\":2}\n[]\n", &lim, "{ k:a n:1=1 } { k:b n:2=2 } [ ] $");
    expect_tokens("", &lim, "$");
}

static void test_doubles(void)
{
    const char *text = "[1.5, 2.5e-3, 12345678901234567890, 0.1, -7]";
    sp_json_lexer lx;
    CHECK(sp_json_init_buffer(&lx, text, strlen(text), NULL) == SP_OK);
    sp_json_token t;
    double want[] = {1.5, 2.5e-3, 12345678901234567890.0, 0.1, -7.0};
    CHECK(sp_json_next(&lx, &t) == SP_OK && t.type == SP_JSON_ARR_BEGIN);
    for (int i = 0; i < 5; i++) {
        CHECK(sp_json_next(&lx, &t) == SP_OK && t.type == SP_JSON_NUMBER);
        CHECK(t.d == want[i]);
    }
    sp_json_fini(&lx);
    double d;
    CHECK(sp_json_number_to_double("1e400", 5, &d) == SP_OK && isinf(d));
    CHECK(sp_json_number_to_double("1.", 2, &d) == SP_ERR_PARSE);
}

static void test_positions(void)
{
    const char *text = "{\n  \"a\": [1,\n    2]}";
    sp_json_lexer lx;
    CHECK(sp_json_init_buffer(&lx, text, strlen(text), NULL) == SP_OK);
    sp_json_token t;
    sp_json_next(&lx, &t);
    CHECK(t.line == 1 && t.column == 1 && t.offset == 0 && t.depth == 1);
    sp_json_next(&lx, &t);   /* "a" at line 2, column 3, byte 4 */
    CHECK(t.type == SP_JSON_KEY && t.line == 2 && t.column == 3 && t.offset == 4);
    sp_json_next(&lx, &t);
    sp_json_next(&lx, &t);
    sp_json_next(&lx, &t);   /* 2 at line 3, column 5, byte 17 */
    CHECK(t.type == SP_JSON_NUMBER && t.i == 2 && t.line == 3 && t.column == 5 && t.offset == 17);
    CHECK(t.depth == 2);
    sp_json_fini(&lx);
}

static void test_errors(void)
{
    expect_error("{\"a\" 1}", SP_ERR_PARSE, "line 1, column 6 (byte 5)", "expected ':' after key");
    expect_error("{\"a\":1,}", SP_ERR_PARSE, "column 8", "expected a key string after ','");
    expect_error("{1:2}", SP_ERR_PARSE, "column 2", "expected a key string or '}'");
    expect_error("[1,]", SP_ERR_PARSE, "column 4", "expected a value after ','");
    expect_error("[01]", SP_ERR_PARSE, "column 3", "leading zeros");
    expect_error("[-01]", SP_ERR_PARSE, "column 4", "leading zeros");
    expect_error("[NaN]", SP_ERR_PARSE, "column 2", "NaN and Infinity are not JSON");
    expect_error("[Infinity]", SP_ERR_PARSE, "column 2", "NaN and Infinity are not JSON");
    expect_error("[-Infinity]", SP_ERR_PARSE, "column 3", "expected a digit");
    expect_error("[+1]", SP_ERR_PARSE, "column 2", "unexpected character '+'");
    expect_error("[1.]", SP_ERR_PARSE, "column 4", "expected a digit after '.'");
    expect_error("[.5]", SP_ERR_PARSE, "column 2", "unexpected character '.'");
    expect_error("[1e]", SP_ERR_PARSE, "column 4", "expected a digit in the exponent");
    expect_error("[1-2]", SP_ERR_PARSE, "column 3", "invalid number");
    expect_error("[\"a\x01\"]", SP_ERR_PARSE, "column 4", "control character 0x01");
    expect_error("[\"a\nb\"]", SP_ERR_PARSE, "column 4", "control character 0x0A");
    expect_error("[\"abc", SP_ERR_PARSE, "column 2", "unterminated string");
    expect_error("[\"\\x\"]", SP_ERR_PARSE, "column 3", "invalid escape '\\x'");
    expect_error("[\"\\u12\"]", SP_ERR_PARSE, "column 3", "invalid \\u escape");
    expect_error("[\"\\ud800\"]", SP_ERR_PARSE, "column 3", "unpaired UTF-16 surrogate");
    expect_error("[\"\\ud800\\u0041\"]", SP_ERR_PARSE, "column 3", "unpaired UTF-16 surrogate");
    expect_error("[\"\\udc00\"]", SP_ERR_PARSE, "column 3", "unpaired UTF-16 low surrogate");
    expect_error("[\"\xff\"]", SP_ERR_PARSE, "column 3", "invalid UTF-8");
    expect_error("[\"\xc0\x80\"]", SP_ERR_PARSE, "column 3", "invalid UTF-8");      /* overlong NUL */
    expect_error("[\"\xed\xa0\x80\"]", SP_ERR_PARSE, "column 3", "invalid UTF-8");  /* surrogate */
    expect_error("[\"\xe2\x82\"]", SP_ERR_PARSE, "column 3", "invalid UTF-8");      /* cut short */
    expect_error("{\"a\":1} x", SP_ERR_PARSE, "column 9", "unexpected data after the JSON value");
    expect_error("{\"a\":1}{}", SP_ERR_PARSE, "column 8", "unexpected data after the JSON value");
    expect_error("", SP_ERR_PARSE, "line 1, column 1", "empty input");
    expect_error("  \n ", SP_ERR_PARSE, "line 2, column 2", "empty input");
    expect_error("[1 2]", SP_ERR_PARSE, "column 4", "expected ',' or ']'");
    expect_error("{\"a\":1 \"b\":2}", SP_ERR_PARSE, "column 8", "expected ',' or '}'");
    expect_error("[1}", SP_ERR_PARSE, "column 3", "expected ',' or ']'");
    expect_error("{\"a\":1]", SP_ERR_PARSE, "column 7", "expected ',' or '}'");
    expect_error("[tru]", SP_ERR_PARSE, "column 5", "invalid literal (expected 'true')");
    expect_error("[nul", SP_ERR_PARSE, "column 5", "invalid literal (expected 'null')");
    expect_error("[True]", SP_ERR_PARSE, "column 2", "unexpected character 'T'");
    expect_error("[1,\n2,\n x]", SP_ERR_PARSE, "line 3, column 2", "unexpected character 'x'");
    expect_error("{\"a\":[1,2", SP_ERR_PARSE, "column 10", "unexpected end of input (expected ',' or ']')");
    expect_error("{\"a\":", SP_ERR_PARSE, "column 6", "unexpected end of input");
    expect_error("{", SP_ERR_PARSE, "column 2", "expected a key or '}'");
    expect_error("]", SP_ERR_PARSE, "column 1", "unexpected ']'");
    expect_error_n("[\0]", 3, NULL, SP_ERR_PARSE, "column 2", "unexpected byte 0x00");
    expect_error("\x1f\x8b\x08", SP_ERR_PARSE, "column 1", "unexpected byte 0x1F");
}

/* A UTF-8 byte order mark at the very start is passed over (RFC 8259 section 8.1 lets a parser ignore
 * one), in every mode including one-byte reads; positions still count its three bytes. Anywhere else
 * it is an unexpected byte, and a cut mark is not a mark. */
static void test_bom(void)
{
    expect_tokens("\xEF\xBB\xBF{\"a\":1}", NULL, "{ k:a n:1=1 } $");
    expect_tokens("\xEF\xBB\xBF \n[1]", NULL, "[ n:1=1 ] $");
    sp_json_limits lim;
    sp_json_limits_init(&lim);
    lim.multiple_values = true;
    expect_tokens("\xEF\xBB\xBF{\"a\":1}\n{\"b\":2}", &lim, "{ k:a n:1=1 } { k:b n:2=2 } $");
    expect_tokens("\xEF\xBB\xBF", &lim, "$");
    expect_error("\xEF\xBB\xBF[1,x]", SP_ERR_PARSE, "line 1, column 7 (byte 6)", "unexpected character 'x'");
    expect_error("\xEF\xBB\xBF", SP_ERR_PARSE, "column 4 (byte 3)", "empty input");
    expect_error("[\xEF\xBB\xBF" "1]", SP_ERR_PARSE, "column 2", "unexpected byte 0xEF");
    expect_error("\xEF\xBB\xBF\xEF\xBB\xBF[]", SP_ERR_PARSE, "column 4", "unexpected byte 0xEF");
    expect_error("{} \xEF\xBB\xBF", SP_ERR_PARSE, "column 4", "unexpected data after the JSON value");
    expect_error("\xEF\xBB[]", SP_ERR_PARSE, "column 1", "unexpected byte 0xEF");
    expect_error("\xEF", SP_ERR_PARSE, "column 1", "unexpected byte 0xEF");
}

static void test_limits(void)
{
    /* 600 nested arrays: over the default depth of 512, fine at 1000 */
    char deep[1300];
    for (int i = 0; i < 600; i++) {
        deep[i] = '[';
        deep[600 + i] = ']';
    }
    deep[1200] = '\0';
    expect_error(deep, SP_ERR_LIMIT, "column 513", "nesting deeper than the limit of 512");
    sp_json_limits lim;
    sp_json_limits_init(&lim);
    lim.max_depth = 1000;
    char out[8192];
    for (int m = 0; m < M_COUNT; m++)
        CHECK(lex_all(deep, 1200, (enum mode)m, &lim, out, sizeof out) == SP_OK);
    /* depth exactly at a small limit (no allocation path) and one more */
    lim.max_depth = 3;
    expect_tokens("[[[]]]", &lim, "[ [ [ ] ] ] $");
    expect_error_n("[[[[]]]]", 8, &lim, SP_ERR_LIMIT, "column 4", "nesting deeper than the limit of 3");
    sp_json_limits_init(&lim);
    lim.max_string = 8;
    expect_tokens("[\"12345678\"]", &lim, "[ s:12345678 ] $");
    expect_error_n("[\"123456789\"]", 13, &lim, SP_ERR_LIMIT, "column 2", "string longer than the limit of 8");
    expect_error_n("[\"123456789", 11, &lim, SP_ERR_LIMIT, "column 2", "string longer than the limit of 8");
    sp_json_limits_init(&lim);
    lim.max_number = 10;
    expect_tokens("[1234567890]", &lim, "[ n:1234567890=1234567890 ] $");
    expect_error_n("[12345678901]", 13, &lim, SP_ERR_LIMIT, "column 2", "number longer than the limit of 10");
}

static void test_skip(void)
{
    const char *text = "{\"skip\":{\"a\":[1,{\"b\":2}],\"c\":\"d\"},\"s2\":[[]],\"keep\":5,\"rest\":[1,2,3],\"x\":true}";
    sp_json_lexer lx;
    CHECK(sp_json_init_buffer(&lx, text, strlen(text), NULL) == SP_OK);
    sp_json_token t;
    CHECK(sp_json_next(&lx, &t) == SP_OK && t.type == SP_JSON_OBJ_BEGIN);
    CHECK(sp_json_next(&lx, &t) == SP_OK && t.type == SP_JSON_KEY && t.len == 4);
    CHECK(sp_json_skip(&lx) == SP_OK);
    CHECK(sp_json_next(&lx, &t) == SP_OK && t.type == SP_JSON_KEY && t.len == 2);
    CHECK(sp_json_skip(&lx) == SP_OK);
    CHECK(sp_json_next(&lx, &t) == SP_OK && t.type == SP_JSON_KEY && memcmp(t.str, "keep", 4) == 0);
    CHECK(sp_json_next(&lx, &t) == SP_OK && t.type == SP_JSON_NUMBER && t.i == 5);
    CHECK(sp_json_next(&lx, &t) == SP_OK && t.type == SP_JSON_KEY);
    CHECK(sp_json_next(&lx, &t) == SP_OK && t.type == SP_JSON_ARR_BEGIN);
    CHECK(sp_json_next(&lx, &t) == SP_OK && t.type == SP_JSON_NUMBER && t.i == 1);
    CHECK(sp_json_skip_rest(&lx) == SP_OK);   /* rest of [1,2,3] */
    CHECK(sp_json_next(&lx, &t) == SP_OK && t.type == SP_JSON_KEY && memcmp(t.str, "x", 1) == 0);
    CHECK(sp_json_skip_rest(&lx) == SP_OK);   /* true, then the closing } */
    CHECK(sp_json_next(&lx, &t) == SP_OK && t.type == SP_JSON_EOF);
    sp_json_fini(&lx);
}

static void test_decimal(void)
{
    struct {
        const char *text;
        int scale;
        sp_status st;
        int64_t v;
        bool exact;
    } cases[] = {
        /* hand-computed: value x 10^scale; beyond the unit, nearest with ties away from zero */
        {"1234.567", 3, SP_OK, 1234567, true},
        {"1234.5678", 3, SP_OK, 1234568, false},     /* 1234567.8 -> up */
        {"1234.5672", 3, SP_OK, 1234567, false},     /* 1234567.2 -> down */
        {"1234.5675", 3, SP_OK, 1234568, false},     /* tie -> away from zero */
        {"-1.0005", 3, SP_OK, -1001, false},         /* -1000.5 -> -1001 */
        {"-1.0004", 3, SP_OK, -1000, false},
        {"1e-3", 3, SP_OK, 1, true},
        {"0.0004", 3, SP_OK, 0, false},
        {"0.0005", 3, SP_OK, 1, false},
        {"0.00001", 0, SP_OK, 0, false},             /* all digits below the rounding position */
        {"1700000000123.456", 3, SP_OK, 1700000000123456, true},
        {"1.5e2", 0, SP_OK, 150, true},
        {"150e-2", 0, SP_OK, 2, false},              /* 1.5 -> 2 */
        {"0e999999999", 0, SP_OK, 0, true},
        {"1e-400", 0, SP_OK, 0, false},
        {"9223372036854775.807", 3, SP_OK, INT64_MAX, true},
        {"-9223372036854775.808", 3, SP_OK, INT64_MIN, true},
        {"9223372036854775.808", 3, SP_ERR_LIMIT, 0, false},
        {"9223372036854775.8074", 3, SP_OK, INT64_MAX, false},
        {"9223372036854775.8075", 3, SP_ERR_LIMIT, 0, false},  /* rounds past INT64_MAX */
        {"1e400", 0, SP_ERR_LIMIT, 0, false},
        {"1e19", 0, SP_ERR_LIMIT, 0, false},
        {"1e18", 0, SP_OK, 1000000000000000000, true},
        {"12", -1, SP_OK, 1, false},                 /* 1.2 */
        {"abc", 3, SP_ERR_PARSE, 0, false},
        {"01", 0, SP_ERR_PARSE, 0, false},
        {"", 0, SP_ERR_PARSE, 0, false},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int64_t v = -42;
        bool exact = !cases[i].exact;
        sp_status st = sp_json_decimal_to_int(cases[i].text, strlen(cases[i].text), cases[i].scale, &v, &exact);
        sp_test_checks++;
        if (st != cases[i].st || (st == SP_OK && (v != cases[i].v || exact != cases[i].exact))) {
            sp_test_failures++;
            fprintf(stderr, "decimal %s scale %d: status %d value %lld exact %d\n", cases[i].text,
                    cases[i].scale, (int)st, (long long)v, (int)exact);
        }
        if (st != SP_OK)
            CHECK(v == -42);   /* out-parameter untouched on failure */
    }
    /* Every ns value written as microseconds with three decimals comes back exactly, including values
     * above 2^53 where going through double would not (reference: the integer itself). */
    uint64_t x = 88172645463325252ull;
    for (int i = 0; i < 20000; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        int64_t ns = (int64_t)(x >> 2);
        char text[64];
        int n = snprintf(text, sizeof text, "%lld.%03lld", (long long)(ns / 1000), (long long)(ns % 1000));
        int64_t back = 0;
        bool exact = false;
        sp_status st = sp_json_us_to_ns(text, (size_t)n, &back, &exact);
        if (st != SP_OK || back != ns || !exact) {
            CHECK(!"us_to_ns round trip");
            fprintf(stderr, "  %s -> %lld\n", text, (long long)back);
            break;
        }
    }
    CHECK(1);
}

/* A document larger than several stream chunks, with strings and numbers straddling the chunk
 * boundaries, read as a stream: counts and a checksum match the buffer reading. */
static void test_big_stream(void)
{
    size_t n = 60000, cap = n * 64 + 16, len = 0;
    char *doc = malloc(cap);
    doc[len++] = '[';
    for (size_t i = 0; i < n; i++)
        len += (size_t)snprintf(doc + len, cap - len, "%s{\"id\":\"r\\u0031%zu\",\"t\":%zu.5}", i ? "," : "", i,
                                i * 1000003);
    doc[len++] = ']';
    uint64_t sums[2] = {0, 0};
    size_t counts[2] = {0, 0};
    for (int mode = 0; mode < 2; mode++) {
        sp_json_lexer lx;
        sp_input *in = NULL;
        if (mode == 0) {
            sp_json_init_buffer(&lx, doc, len, NULL);
        } else {
            sp_input_open_mem(doc, len, 0, &in);
            sp_json_init_input(&lx, in, NULL);
        }
        sp_json_token t;
        while (sp_json_next(&lx, &t) == SP_OK && t.type != SP_JSON_EOF) {
            counts[mode]++;
            if (t.type == SP_JSON_STRING || t.type == SP_JSON_NUMBER)
                for (size_t k = 0; k < t.len; k++)
                    sums[mode] = sums[mode] * 31 + (unsigned char)t.str[k];
        }
        CHECK(lx.status == SP_OK);
        sp_json_fini(&lx);
        sp_input_close(in);
    }
    CHECK_EQ_U64(counts[0], 2 + n * 6);
    CHECK_EQ_U64(counts[1], counts[0]);
    CHECK_EQ_U64(sums[1], sums[0]);
    free(doc);
}

/* The string scan looks at 16 bytes at a time (SSE2) and then byte by byte: an escape, a non-ASCII
 * sequence or a control byte at every position of strings of 0..40 bytes must be found exactly where
 * it is, in every mode (chunked streams split the blocks anywhere). Expected renderings are built here
 * from the rule: "\n" decodes to 0x0a, U+00E9 stays c3 a9, a raw 0x01 is an error at its column. */
static void test_string_blocks(void)
{
    char text[128], want[512];
    for (int len = 0; len <= 40; len++) {
        /* plain */
        memset(text, 0, sizeof text);
        text[0] = '"';
        memset(text + 1, 'a', (size_t)len);
        text[len + 1] = '"';
        snprintf(want, sizeof want, "s:%.*s $", len, text + 1);
        if (len == 0)
            snprintf(want, sizeof want, "s: $");
        expect_tokens(text, NULL, want);
        for (int k = 0; k < len; k++) {
            char a[64];
            memset(a, 'a', sizeof a);
            /* an escape at k */
            snprintf(text, sizeof text, "\"%.*s\\n%.*s\"", k, a, len - k - 1, a);
            snprintf(want, sizeof want, "s:%.*s\\x0a%.*s $", k, a, len - k - 1, a);
            expect_tokens(text, NULL, want);
            /* a two-byte UTF-8 sequence at k */
            snprintf(text, sizeof text, "\"%.*s\xc3\xa9%.*s\"", k, a, len - k - 1, a);
            snprintf(want, sizeof want, "s:%.*s\\xc3\\xa9%.*s $", k, a, len - k - 1, a);
            expect_tokens(text, NULL, want);
            /* a raw control byte at k: column k + 2 (the quote is column 1) */
            snprintf(text, sizeof text, "\"%.*s\x01%.*s\"", k, a, len - k - 1, a);
            char where[32];
            snprintf(where, sizeof where, "column %d ", k + 2);
            expect_error(text, SP_ERR_PARSE, where, "control character 0x01");
            /* a closing quote at k, then more: the string ends there */
            snprintf(text, sizeof text, "[\"%.*s\",\"%.*s\"]", k, a, len - k - 1, a);
            snprintf(want, sizeof want, "[ s:%.*s s:%.*s ] $", k, a, len - k - 1, a);
            if (k == 0 && len - k - 1 == 0)
                snprintf(want, sizeof want, "[ s: s: ] $");
            else if (k == 0)
                snprintf(want, sizeof want, "[ s: s:%.*s ] $", len - k - 1, a);
            else if (len - k - 1 == 0)
                snprintf(want, sizeof want, "[ s:%.*s s: ] $", k, a);
            expect_tokens(text, NULL, want);
        }
    }
    /* invalid UTF-8 after 16 plain bytes is still refused */
    expect_error("\"aaaaaaaaaaaaaaaaaaaa\xc3(\"", SP_ERR_PARSE, "column 22 ", "invalid UTF-8");
}

/* The decimal fast path: integral iff every fraction digit is 0 (as the full path says); anything
 * else (exponents, leading zeros, a bare '.') takes the full grammar. */
static void test_decimal_fast(void)
{
    expect_tokens("[1.000,-0.0,1.50,12.5e3,0.25,123456789012345678.0]", NULL,
                  "[ n:1.000=1 n:-0.0=0 n:1.50 n:12.5e3=12500 n:0.25 n:123456789012345678.0=123456789012345678 ] $");
    expect_error("[01.5]", SP_ERR_PARSE, "column 3 ", "leading zeros");
    expect_error("[1.]", SP_ERR_PARSE, "column 4 ", "expected a digit after '.'");
    expect_error("[1.5e]", SP_ERR_PARSE, "column 6 ", "expected a digit in the exponent");
    expect_error("[1.5.2]", SP_ERR_PARSE, "column 5 ", "invalid number");
}

/* sp_json_skip_value (a token-free loop for values wholly in the window, falling back to tokens) against
 * sp_json_skip_slow (token by token) on {"k": VALUE, "z": 1}: the same status, the same message (so the
 * same line/column), the same first-token type, and after a success the same next token at the same
 * position. Buffer mode runs the fast loop; 7-byte stream reads force the fallback at window ends. The
 * expected verdicts and columns below are worked out by hand from RFC 8259. */
static void skip_pair(const char *value, const sp_json_limits *lim, sp_status want, const char *col,
                      const char *what)
{
    char doc[512];
    if (value[0] == '!')   /* a document that ends inside the value */
        snprintf(doc, sizeof doc, "{\"k\": %s", ++value);
    else
        snprintf(doc, sizeof doc, "{\"k\": %s, \"z\": 1}", value);
    size_t len = strlen(doc);
    for (int m = 0; m < 2; m++) {
        sp_json_lexer a, b;
        sp_input *ia = NULL, *ib = NULL;
        if (m == 0) {
            CHECK(sp_json_init_buffer(&a, doc, len, lim) == SP_OK);
            CHECK(sp_json_init_buffer(&b, doc, len, lim) == SP_OK);
        } else {
            CHECK(sp_input_open_mem(doc, len, 7, &ia) == SP_OK && sp_input_open_mem(doc, len, 7, &ib) == SP_OK);
            CHECK(sp_json_init_input(&a, ia, lim) == SP_OK && sp_json_init_input(&b, ib, lim) == SP_OK);
        }
        sp_json_token ta, tb;
        for (int i = 0; i < 2; i++) {
            CHECK(sp_json_next(&a, &ta) == SP_OK);
            CHECK(sp_json_next(&b, &tb) == SP_OK);
        }
        sp_json_type first = SP_JSON_NONE;
        sp_status sa = sp_json_skip_value(&a, &first);
        sp_status sb = sp_json_skip_slow(&b);
        if (sa != want || sb != want)
            fprintf(stderr, "skip %s: fast %d slow %d want %d (%s | %s)\n", value, sa, sb, want,
                    sp_json_error(&a), sp_json_error(&b));
        CHECK(sa == want && sb == want);
        CHECK(strcmp(sp_json_error(&a), sp_json_error(&b)) == 0);
        if (want != SP_OK && (!strstr(sp_json_error(&a), col) || !strstr(sp_json_error(&a), what)))
            fprintf(stderr, "skip %s: %s\n", value, sp_json_error(&a));
        if (want != SP_OK) {
            CHECK(strstr(sp_json_error(&a), col) != NULL);
            CHECK(strstr(sp_json_error(&a), what) != NULL);
        } else {
            /* the first token's type, from the value's first byte */
            sp_json_type ft = value[0] == '{' ? SP_JSON_OBJ_BEGIN : value[0] == '[' ? SP_JSON_ARR_BEGIN
                              : value[0] == '"' ? SP_JSON_STRING : value[0] == 't' ? SP_JSON_TRUE
                              : value[0] == 'f' ? SP_JSON_FALSE : value[0] == 'n' ? SP_JSON_NULL : SP_JSON_NUMBER;
            CHECK(first == ft);
            CHECK(sp_json_next(&a, &ta) == SP_OK && sp_json_next(&b, &tb) == SP_OK);
            CHECK(ta.type == SP_JSON_KEY && tb.type == SP_JSON_KEY && ta.len == 1 && ta.str[0] == 'z');
            CHECK(ta.offset == tb.offset && ta.line == tb.line && ta.column == tb.column && ta.depth == tb.depth);
            CHECK(sp_json_next(&a, &ta) == SP_OK && ta.type == SP_JSON_NUMBER && ta.i == 1);
            CHECK(sp_json_next(&a, &ta) == SP_OK && ta.type == SP_JSON_OBJ_END);
            CHECK(sp_json_next(&a, &ta) == SP_OK && ta.type == SP_JSON_EOF);
        }
        sp_json_fini(&a);
        sp_json_fini(&b);
        sp_input_close(ia);
        sp_input_close(ib);
    }
}

static void test_skip_fast(void)
{
    /* well-formed: brackets and escaped quotes inside strings must not count */
    skip_pair("{\"a\":[1,{\"b\":\"]}[{\"}],\"c\":\"x\\\"}y\\\\\"}", NULL, SP_OK, "", "");
    skip_pair("[[[[]]]]", NULL, SP_OK, "", "");
    skip_pair("{}", NULL, SP_OK, "", "");
    skip_pair("[]", NULL, SP_OK, "", "");
    skip_pair("\"abcdefghijklmnopqrstuvwxyz0123456789[]{}\"", NULL, SP_OK, "", "");
    skip_pair("-1.5e3", NULL, SP_OK, "", "");
    skip_pair("true", NULL, SP_OK, "", "");
    skip_pair("false", NULL, SP_OK, "", "");
    skip_pair("null", NULL, SP_OK, "", "");
    skip_pair("{\"a\" : 1 ,\n \"b\":\t[ 1 , 2 ]\r\n}", NULL, SP_OK, "", "");   /* lines counted */
    skip_pair("[\"caf\\u00e9 \\ud83d\\ude00\", \"\xc3\xa9\", \"\\/\\b\\f\\n\\r\\t\"]", NULL, SP_OK, "", "");
    /* malformed: the doc is {"k": VALUE, ...}, so VALUE's first byte is column 7 */
    skip_pair("{\"a\":[1,2}", NULL, SP_ERR_PARSE, "column 16 ", "expected ',' or ']'");
    skip_pair("{\"a\":[1]]", NULL, SP_ERR_PARSE, "column 15 ", "expected ',' or '}'");
    skip_pair("!{\"a\":[1]", NULL, SP_ERR_PARSE, "column 15 ", "unexpected end of input (expected ',' or '}')");
    skip_pair("[1,]", NULL, SP_ERR_PARSE, "column 10 ", "expected a value after ','");
    skip_pair("{\"a\":1,}", NULL, SP_ERR_PARSE, "column 14 ", "expected a key string after ','");
    skip_pair("{\"a\" 1}", NULL, SP_ERR_PARSE, "column 12 ", "expected ':' after key");
    skip_pair("{1:2}", NULL, SP_ERR_PARSE, "column 8 ", "expected a key string or '}'");
    skip_pair("[01]", NULL, SP_ERR_PARSE, "column 9 ", "leading zeros");
    skip_pair("[tru]", NULL, SP_ERR_PARSE, "column 11 ", "invalid literal");
    skip_pair("[\"a\x01" "b\"]", NULL, SP_ERR_PARSE, "column 10 ", "control character 0x01");
    skip_pair("{\"x\":\"a\\qb\"}", NULL, SP_ERR_PARSE, "column 14 ", "invalid escape '\\q'");
    skip_pair("[\"\xff\"]", NULL, SP_ERR_PARSE, "column 9 ", "invalid UTF-8");
    skip_pair("[\"\\ud800\"]", NULL, SP_ERR_PARSE, "column 9 ", "unpaired UTF-16 surrogate");
    skip_pair("[1 2]", NULL, SP_ERR_PARSE, "column 10 ", "expected ',' or ']'");
    skip_pair("![\"unterminated", NULL, SP_ERR_PARSE, "column 8 ", "unterminated string");
    /* the depth limit holds inside skipped values: 4 levels allowed, the object is level 1 */
    sp_json_limits lim;
    sp_json_limits_init(&lim);
    lim.max_depth = 4;
    skip_pair("[[[1]]]", &lim, SP_OK, "", "");
    skip_pair("[[[[1]]]]", &lim, SP_ERR_LIMIT, "column 10 ", "nesting deeper than the limit of 4");
    /* more than 63 levels inside one value: the fast loop hands over to tokens */
    char deep[200];
    memset(deep, '[', 70);
    memset(deep + 70, ']', 70);
    deep[140] = 0;
    skip_pair(deep, NULL, SP_OK, "", "");
}

int main(void)
{
    test_tokens();
    test_doubles();
    test_positions();
    test_errors();
    test_bom();
    test_limits();
    test_skip();
    test_skip_fast();
    test_decimal();
    test_big_stream();
    test_string_blocks();
    test_decimal_fast();
    return sp_test_done("test_json_lexer");
}
