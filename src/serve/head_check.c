/* The checks of servprof serve's front door that need no socket: where a request head ends, whether
 * libmicrohttpd could parse it without answering by itself (RFC 9112 message syntax, Content-Length
 * and Transfer-Encoding framing), and the OpenAI-shaped JSON error body every answer uses. Pure
 * functions, tested with known answers in tests/unit/test_serve_head.c. */
#include <jansson.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "serve/gate_int.h"

/* ---------------- error bodies ---------------- */

char *sp_serve_error_json(const char *type, const char *message)
{
    char clean[512];
    size_t n = 0;
    for (const char *s = message ? message : ""; *s && n + 1 < sizeof(clean); s++)
        clean[n++] = (*s >= 0x20 && *s <= 0x7e) ? *s : '?';
    clean[n] = 0;
    json_t *j = json_pack("{s:{s:s,s:s,s:n,s:n}}", "error", "message", clean, "type", type, "param", "code");
    char *text = j ? json_dumps(j, JSON_COMPACT) : NULL;
    json_decref(j);
    return text;
}

/* ---------------- the request-head screen ---------------- */

size_t sp_gate_head_end(const char *p, size_t n)
{
    size_t i = 0;
    while (i < n && (p[i] == '\r' || p[i] == '\n'))
        i++;
    for (; i < n; i++) {
        if (p[i] != '\n')
            continue;
        if (i + 1 < n && p[i + 1] == '\n')
            return i + 2;
        if (i + 2 < n && p[i + 1] == '\r' && p[i + 2] == '\n')
            return i + 3;
    }
    return 0;
}

/* RFC 9110 section 5.6.2: the characters of a token (method, header name) */
static int is_tchar(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           (c && strchr("!#$%&'*+-.^_`|~", c));
}

/* Copies at most 60 bytes of s[0, n) for quoting in a message. */
static const char *quote(const char *s, size_t n, char *buf, size_t buflen)
{
    size_t k = n < 60 ? n : 60;
    if (k + 4 > buflen)
        k = buflen - 4;
    memcpy(buf, s, k);
    strcpy(buf + k, n > k ? "..." : "");
    return buf;
}

static unsigned check_request_line(const char *l, size_t n, char *msg, size_t msglen)
{
    size_t i = 0;
    while (i < n && is_tchar((unsigned char)l[i]))
        i++;
    size_t method_end = i;
    int ok = method_end > 0 && i < n && l[i] == ' ';
    size_t t0 = ++i;
    while (ok && i < n && (unsigned char)l[i] > 0x20 && l[i] != 0x7f)
        i++;
    ok = ok && i > t0 && i < n && l[i] == ' ';
    const char *v = l + i + 1;
    size_t vn = ok ? n - i - 1 : 0;
    if (ok && vn == 8 && (memcmp(v, "HTTP/1.1", 8) == 0 || memcmp(v, "HTTP/1.0", 8) == 0))
        return 0;
    char q[80];
    if (ok && vn == 8 && memcmp(v, "HTTP/", 5) == 0 && v[5] >= '0' && v[5] <= '9' && v[6] == '.' && v[7] >= '0' &&
        v[7] <= '9') {
        snprintf(msg, msglen, "HTTP version %s is not supported (HTTP/1.1 or HTTP/1.0)", quote(v, vn, q, sizeof q));
        return 505;
    }
    snprintf(msg, msglen, "malformed request line '%s' (expected METHOD TARGET HTTP/1.1)", quote(l, n, q, sizeof q));
    return 400;
}

/* Content-Length: one non-negative decimal integer (RFC 9110 section 8.6), as libmicrohttpd reads
 * it. Sets *huge when it has more digits than fit in 63 bits. */
static int parse_length(const char *v, size_t n, uint64_t *out, int *huge)
{
    if (n == 0)
        return 0;
    uint64_t x = 0;
    size_t digits = 0;
    for (size_t i = 0; i < n; i++) {
        if (v[i] < '0' || v[i] > '9')
            return 0;
        if (digits || v[i] != '0')
            digits++;
        if (digits <= 18)
            x = x * 10 + (uint64_t)(v[i] - '0');
    }
    *huge = digits > 18;
    *out = x;
    return 1;
}

unsigned sp_gate_check_head(const char *p, size_t n, size_t max_body, char *msg, size_t msglen)
{
    size_t at = 0;
    while (at < n && (p[at] == '\r' || p[at] == '\n'))
        at++;
    int line_no = 0, have_length = 0, have_te = 0;
    uint64_t length = 0;
    char q[80];
    while (at < n) {
        const char *nl = memchr(p + at, '\n', n - at);
        size_t end = nl ? (size_t)(nl - p) : n;
        const char *l = p + at;
        size_t len = end - at;
        if (len && l[len - 1] == '\r')
            len--;
        at = end + 1;
        if (line_no++ == 0) {
            unsigned st = check_request_line(l, len, msg, msglen);
            if (st)
                return st;
            continue;
        }
        if (len == 0)
            break; /* the empty line that ends the head */
        if (l[0] == ' ' || l[0] == '\t') {
            snprintf(msg, msglen, "header line %d is folded onto the previous one (obsolete; RFC 9112 section 5.2)",
                     line_no);
            return 400;
        }
        const char *colon = memchr(l, ':', len);
        size_t nlen = colon ? (size_t)(colon - l) : 0;
        int name_ok = nlen > 0;
        for (size_t i = 0; i < nlen && name_ok; i++)
            name_ok = is_tchar((unsigned char)l[i]);
        if (!name_ok) {
            snprintf(msg, msglen, "malformed header line %d '%s' (expected Name: value)", line_no,
                     quote(l, len, q, sizeof q));
            return 400;
        }
        const char *v = colon + 1;
        size_t vn = len - nlen - 1;
        for (size_t i = 0; i < vn; i++) {
            if (((unsigned char)v[i] < 0x20 && v[i] != '\t') || v[i] == 0x7f) {
                snprintf(msg, msglen, "header '%s' holds a control character", quote(l, nlen, q, sizeof q));
                return 400;
            }
        }
        while (vn && (*v == ' ' || *v == '\t'))
            v++, vn--;
        while (vn && (v[vn - 1] == ' ' || v[vn - 1] == '\t'))
            vn--;
        if (nlen == 14 && strncasecmp(l, "Content-Length", 14) == 0) {
            uint64_t x;
            int huge = 0;
            if (!parse_length(v, vn, &x, &huge)) {
                snprintf(msg, msglen, "Content-Length '%s' is not a non-negative integer", quote(v, vn, q, sizeof q));
                return 400;
            }
            if (huge || x > max_body) {
                snprintf(msg, msglen, "request body of %s bytes exceeds the limit of %zu", quote(v, vn, q, sizeof q),
                         max_body);
                return 413;
            }
            if (have_length && x != length) {
                snprintf(msg, msglen, "conflicting Content-Length headers (%llu and %llu)", (unsigned long long)length,
                         (unsigned long long)x);
                return 400;
            }
            have_length = 1;
            length = x;
        } else if (nlen == 17 && strncasecmp(l, "Transfer-Encoding", 17) == 0) {
            if (have_te || vn != 7 || strncasecmp(v, "chunked", 7) != 0) {
                snprintf(msg, msglen,
                         "Transfer-Encoding '%s' is not supported: send the body with Content-Length, or chunked",
                         quote(v, vn, q, sizeof q));
                return 501;
            }
            have_te = 1;
        }
    }
    if (have_length && have_te) {
        /* RFC 9112 section 6.3: a request with both may be an attempt at request smuggling */
        snprintf(msg, msglen, "both Content-Length and Transfer-Encoding are set; send one");
        return 400;
    }
    return 0;
}
