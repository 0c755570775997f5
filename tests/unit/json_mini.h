/* A strict little JSON parser for the report tests (RFC 8259: no NaN, no Infinity, no leading zeros,
 * no trailing commas, valid UTF-8 checked by the string decoder's escapes only), building a small
 * tree the tests query by key. Header-only: each test includes it once. Independent of the report
 * code it checks, so a writer bug cannot hide behind a shared helper. */
#ifndef SERVPROF_TEST_JSON_MINI_H
#define SERVPROF_TEST_JSON_MINI_H

#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef enum { JV_NULL, JV_BOOL, JV_NUM, JV_STR, JV_ARR, JV_OBJ } jv_type;

typedef struct jv {
    jv_type type;
    int boolean;
    double num;
    char *raw;           /* numbers: the literal text */
    char *str;           /* strings: decoded UTF-8 */
    size_t n;            /* arrays and objects: member count */
    struct jv *items;
    char **keys;         /* objects: member names */
} jv;

typedef struct jv_parser {
    const char *p, *end;
    int depth;
    const char *error;
    size_t error_at;
    const char *start;
} jv_parser;

static int jv_fail(jv_parser *ps, const char *why)
{
    if (!ps->error) {
        ps->error = why;
        ps->error_at = (size_t)(ps->p - ps->start);
    }
    return -1;
}

static void jv_ws(jv_parser *ps)
{
    while (ps->p < ps->end && (*ps->p == ' ' || *ps->p == '\t' || *ps->p == '\n' || *ps->p == '\r'))
        ps->p++;
}

static int jv_value(jv_parser *ps, jv *out);

static void jv_put_utf8(char *buf, size_t *o, unsigned cp)
{
    if (cp < 0x80) {
        buf[(*o)++] = (char)cp;
    } else if (cp < 0x800) {
        buf[(*o)++] = (char)(0xC0 | (cp >> 6));
        buf[(*o)++] = (char)(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
        buf[(*o)++] = (char)(0xE0 | (cp >> 12));
        buf[(*o)++] = (char)(0x80 | ((cp >> 6) & 0x3F));
        buf[(*o)++] = (char)(0x80 | (cp & 0x3F));
    } else {
        buf[(*o)++] = (char)(0xF0 | (cp >> 18));
        buf[(*o)++] = (char)(0x80 | ((cp >> 12) & 0x3F));
        buf[(*o)++] = (char)(0x80 | ((cp >> 6) & 0x3F));
        buf[(*o)++] = (char)(0x80 | (cp & 0x3F));
    }
}

static int jv_hex4(jv_parser *ps, unsigned *out)
{
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        if (ps->p >= ps->end)
            return jv_fail(ps, "short \\u escape");
        char c = *ps->p++;
        v <<= 4;
        if (c >= '0' && c <= '9') v |= (unsigned)(c - '0');
        else if (c >= 'a' && c <= 'f') v |= (unsigned)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F') v |= (unsigned)(c - 'A' + 10);
        else return jv_fail(ps, "bad hex digit");
    }
    *out = v;
    return 0;
}

/* Validates one raw UTF-8 sequence at ps->p (RFC 3629) and copies it. */
static int jv_utf8(jv_parser *ps, char *buf, size_t *o)
{
    const unsigned char *u = (const unsigned char *)ps->p;
    size_t left = (size_t)(ps->end - ps->p);
    size_t n;
    if (u[0] >= 0xC2 && u[0] <= 0xDF) n = 2;
    else if (u[0] >= 0xE0 && u[0] <= 0xEF) n = 3;
    else if (u[0] >= 0xF0 && u[0] <= 0xF4) n = 4;
    else return jv_fail(ps, "invalid UTF-8 lead byte");
    if (left < n)
        return jv_fail(ps, "truncated UTF-8");
    for (size_t i = 1; i < n; i++)
        if ((u[i] & 0xC0) != 0x80)
            return jv_fail(ps, "invalid UTF-8 continuation");
    if ((u[0] == 0xE0 && u[1] < 0xA0) || (u[0] == 0xED && u[1] > 0x9F) || (u[0] == 0xF0 && u[1] < 0x90) ||
        (u[0] == 0xF4 && u[1] > 0x8F))
        return jv_fail(ps, "overlong or surrogate UTF-8");
    memcpy(buf + *o, ps->p, n);
    *o += n;
    ps->p += n;
    return 0;
}

static int jv_string(jv_parser *ps, char **out)
{
    ps->p++; /* opening quote */
    /* sized by the string as written up to its closing quote (an escape never decodes longer than
     * it is written), not by the rest of the input: a document of many strings stays linear */
    const char *q = ps->p;
    while (q < ps->end && *q != '"')
        q += *q == '\\' && q + 1 < ps->end ? 2 : 1;
    char *buf = malloc((size_t)(q - ps->p) + 8);
    size_t o = 0;
    if (!buf)
        return jv_fail(ps, "no memory");
    for (;;) {
        if (ps->p >= ps->end) {
            free(buf);
            return jv_fail(ps, "unterminated string");
        }
        unsigned char c = (unsigned char)*ps->p;
        if (c == '"') {
            ps->p++;
            break;
        }
        if (c < 0x20) {
            free(buf);
            return jv_fail(ps, "raw control character in string");
        }
        if (c == '\\') {
            ps->p++;
            if (ps->p >= ps->end) {
                free(buf);
                return jv_fail(ps, "unterminated escape");
            }
            char e = *ps->p++;
            switch (e) {
            case '"': buf[o++] = '"'; break;
            case '\\': buf[o++] = '\\'; break;
            case '/': buf[o++] = '/'; break;
            case 'b': buf[o++] = '\b'; break;
            case 'f': buf[o++] = '\f'; break;
            case 'n': buf[o++] = '\n'; break;
            case 'r': buf[o++] = '\r'; break;
            case 't': buf[o++] = '\t'; break;
            case 'u': {
                unsigned cp;
                if (jv_hex4(ps, &cp)) {
                    free(buf);
                    return -1;
                }
                if (cp >= 0xD800 && cp <= 0xDBFF) {
                    unsigned lo;
                    if (ps->end - ps->p < 6 || ps->p[0] != '\\' || ps->p[1] != 'u') {
                        free(buf);
                        return jv_fail(ps, "lone high surrogate");
                    }
                    ps->p += 2;
                    if (jv_hex4(ps, &lo) || lo < 0xDC00 || lo > 0xDFFF) {
                        free(buf);
                        return jv_fail(ps, "bad low surrogate");
                    }
                    cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
                    free(buf);
                    return jv_fail(ps, "lone low surrogate");
                }
                jv_put_utf8(buf, &o, cp);
                break;
            }
            default:
                free(buf);
                return jv_fail(ps, "bad escape");
            }
            continue;
        }
        if (c >= 0x80) {
            if (jv_utf8(ps, buf, &o)) {
                free(buf);
                return -1;
            }
            continue;
        }
        buf[o++] = (char)c;
        ps->p++;
    }
    buf[o] = '\0';
    *out = buf;
    return 0;
}

static int jv_number(jv_parser *ps, jv *out)
{
    const char *s = ps->p;
    if (ps->p < ps->end && *ps->p == '-')
        ps->p++;
    if (ps->p >= ps->end)
        return jv_fail(ps, "bad number");
    if (*ps->p == '0') {
        ps->p++;
    } else if (*ps->p >= '1' && *ps->p <= '9') {
        while (ps->p < ps->end && *ps->p >= '0' && *ps->p <= '9')
            ps->p++;
    } else {
        return jv_fail(ps, "bad number");
    }
    if (ps->p < ps->end && *ps->p == '.') {
        ps->p++;
        if (ps->p >= ps->end || *ps->p < '0' || *ps->p > '9')
            return jv_fail(ps, "digit expected after '.'");
        while (ps->p < ps->end && *ps->p >= '0' && *ps->p <= '9')
            ps->p++;
    }
    if (ps->p < ps->end && (*ps->p == 'e' || *ps->p == 'E')) {
        ps->p++;
        if (ps->p < ps->end && (*ps->p == '+' || *ps->p == '-'))
            ps->p++;
        if (ps->p >= ps->end || *ps->p < '0' || *ps->p > '9')
            return jv_fail(ps, "digit expected in exponent");
        while (ps->p < ps->end && *ps->p >= '0' && *ps->p <= '9')
            ps->p++;
    }
    size_t len = (size_t)(ps->p - s);
    out->raw = malloc(len + 1);
    if (!out->raw)
        return jv_fail(ps, "no memory");
    memcpy(out->raw, s, len);
    out->raw[len] = '\0';
    out->type = JV_NUM;
    out->num = strtod(out->raw, NULL);
    if (!isfinite(out->num))
        return jv_fail(ps, "number out of range");
    return 0;
}

static int jv_lit(jv_parser *ps, const char *lit)
{
    size_t n = strlen(lit);
    if ((size_t)(ps->end - ps->p) < n || memcmp(ps->p, lit, n) != 0)
        return jv_fail(ps, "unexpected token");
    ps->p += n;
    return 0;
}

/* Room doubles when the count reaches a power of two (no capacity field: n says it), so a long array
 * (an OTLP span's 1000 events) costs linear time, not a realloc per element. */
static int jv_push(jv *c, jv *item, char *key)
{
    if ((c->n & (c->n - 1)) == 0) {
        size_t room = c->n ? 2 * c->n : 1;
        jv *items = realloc(c->items, room * sizeof *items);
        if (!items)
            return -1;
        c->items = items;
        if (c->type == JV_OBJ) {
            char **keys = realloc(c->keys, room * sizeof *keys);
            if (!keys)
                return -1;
            c->keys = keys;
        }
    }
    c->items[c->n] = *item;
    if (c->type == JV_OBJ)
        c->keys[c->n] = key;
    c->n++;
    return 0;
}

static void jv_free(jv *v);

static int jv_value(jv_parser *ps, jv *out)
{
    memset(out, 0, sizeof *out);
    jv_ws(ps);
    if (ps->p >= ps->end)
        return jv_fail(ps, "value expected");
    if (++ps->depth > 200)
        return jv_fail(ps, "too deep");
    int rc = 0;
    char c = *ps->p;
    if (c == '{' || c == '[') {
        out->type = c == '{' ? JV_OBJ : JV_ARR;
        char close = c == '{' ? '}' : ']';
        ps->p++;
        jv_ws(ps);
        if (ps->p < ps->end && *ps->p == close) {
            ps->p++;
        } else {
            for (;;) {
                char *key = NULL;
                jv_ws(ps);
                if (out->type == JV_OBJ) {
                    if (ps->p >= ps->end || *ps->p != '"') {
                        rc = jv_fail(ps, "member name expected");
                        break;
                    }
                    if (jv_string(ps, &key)) {
                        rc = -1;
                        break;
                    }
                    jv_ws(ps);
                    if (ps->p >= ps->end || *ps->p != ':') {
                        free(key);
                        rc = jv_fail(ps, "':' expected");
                        break;
                    }
                    ps->p++;
                }
                jv item;
                if (jv_value(ps, &item)) {
                    jv_free(&item);
                    free(key);
                    rc = -1;
                    break;
                }
                if (jv_push(out, &item, key)) {
                    jv_free(&item);
                    free(key);
                    rc = jv_fail(ps, "no memory");
                    break;
                }
                jv_ws(ps);
                if (ps->p < ps->end && *ps->p == ',') {
                    ps->p++;
                    continue;
                }
                if (ps->p < ps->end && *ps->p == close) {
                    ps->p++;
                    break;
                }
                rc = jv_fail(ps, "',' or closing bracket expected");
                break;
            }
        }
    } else if (c == '"') {
        out->type = JV_STR;
        rc = jv_string(ps, &out->str);
    } else if (c == 't') {
        out->type = JV_BOOL;
        out->boolean = 1;
        rc = jv_lit(ps, "true");
    } else if (c == 'f') {
        out->type = JV_BOOL;
        rc = jv_lit(ps, "false");
    } else if (c == 'n') {
        out->type = JV_NULL;
        rc = jv_lit(ps, "null");
    } else {
        rc = jv_number(ps, out);
    }
    ps->depth--;
    return rc;
}

static void jv_free(jv *v)
{
    for (size_t i = 0; i < v->n; i++) {
        jv_free(&v->items[i]);
        if (v->keys)
            free(v->keys[i]);
    }
    free(v->items);
    free(v->keys);
    free(v->str);
    free(v->raw);
    memset(v, 0, sizeof *v);
}

/* Parses the whole text; returns 0, or -1 with a reason and byte offset. */
static int jv_parse(const char *text, size_t len, jv *out, const char **why, size_t *at)
{
    jv_parser ps = {text, text + len, 0, NULL, 0, text};
    int rc = jv_value(&ps, out);
    if (!rc) {
        jv_ws(&ps);
        if (ps.p != ps.end)
            rc = jv_fail(&ps, "trailing text after the value");
    }
    if (rc) {
        jv_free(out);
        *why = ps.error ? ps.error : "?";
        *at = ps.error_at;
    }
    return rc;
}

/* Member `key` of an object, or NULL. */
static const jv *jv_get(const jv *o, const char *key)
{
    if (!o || o->type != JV_OBJ)
        return NULL;
    for (size_t i = 0; i < o->n; i++)
        if (strcmp(o->keys[i], key) == 0)
            return &o->items[i];
    return NULL;
}

/* Dotted path of object members, "gpu.launch.delay_us". */
static const jv *jv_path(const jv *o, const char *path)
{
    char key[128];
    while (o && *path) {
        size_t n = strcspn(path, ".");
        if (n >= sizeof key)
            return NULL;
        memcpy(key, path, n);
        key[n] = '\0';
        o = jv_get(o, key);
        path += n + (path[n] == '.');
    }
    return o;
}

#endif
