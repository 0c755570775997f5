/* The load generator's minimal HTTP/1.1 client side: URL parsing and an incremental response parser
 * that understands what a keep-alive client must (status, Content-Length, chunked transfer coding,
 * Connection: close, interim 1xx responses) and counts body bytes without keeping them. Memory per
 * connection is fixed: one 256-byte line prefix; header bytes are capped. */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "common/util_int.h"
#include "load/load_int.h"

sp_status sp_url_parse(const char *url, sp_url *out, char *err, size_t errlen)
{
    sp_url u;
    memset(&u, 0, sizeof u);
    if (!url || strncmp(url, "http://", 7) != 0) {
        sp_errf(err, errlen, "URL '%s': only http://HOST[:PORT][/PATH] is supported", url ? url : "");
        return SP_ERR_INVALID;
    }
    const char *h = url + 7;
    const char *slash = strchr(h, '/');
    const char *hend = slash ? slash : h + strlen(h);
    const char *colon = NULL;
    if (*h == '[') { /* [IPv6]:port */
        const char *rb = memchr(h, ']', (size_t)(hend - h));
        if (!rb) {
            sp_errf(err, errlen, "URL '%s': unterminated [IPv6] host", url);
            return SP_ERR_INVALID;
        }
        if (rb + 1 < hend && rb[1] == ':')
            colon = rb + 1;
        else if (rb + 1 != hend) {
            sp_errf(err, errlen, "URL '%s': junk after ]", url);
            return SP_ERR_INVALID;
        }
        if ((size_t)(rb - h - 1) >= sizeof u.host || rb == h + 1) {
            sp_errf(err, errlen, "URL '%s': bad host", url);
            return SP_ERR_INVALID;
        }
        memcpy(u.host, h + 1, (size_t)(rb - h - 1));
    } else {
        colon = memchr(h, ':', (size_t)(hend - h));
        const char *he = colon ? colon : hend;
        if (he == h || (size_t)(he - h) >= sizeof u.host || memchr(h, '@', (size_t)(he - h))) {
            sp_errf(err, errlen, "URL '%s': bad or missing host", url);
            return SP_ERR_INVALID;
        }
        memcpy(u.host, h, (size_t)(he - h));
    }
    if (colon) {
        const char *ps = colon + 1;
        size_t pl = (size_t)(hend - ps);
        long port = 0;
        for (size_t i = 0; i < pl; i++) {
            if (!isdigit((unsigned char)ps[i]) || i >= 5) {
                pl = 0;
                break;
            }
            port = port * 10 + (ps[i] - '0');
        }
        if (pl == 0 || port < 1 || port > 65535) {
            sp_errf(err, errlen, "URL '%s': bad port", url);
            return SP_ERR_INVALID;
        }
        memcpy(u.port, ps, pl);
    } else {
        strcpy(u.port, "80");
    }
    const char *path = slash ? slash : "/";
    size_t pl = strlen(path);
    if (pl >= sizeof u.path) {
        sp_errf(err, errlen, "URL '%s': path longer than %zu bytes", url, sizeof u.path - 1);
        return SP_ERR_INVALID;
    }
    for (size_t i = 0; i < pl; i++) {
        unsigned char c = (unsigned char)path[i];
        if (c <= 0x20 || c >= 0x7f) {
            sp_errf(err, errlen, "URL '%s': the path has a space or control byte at offset %zu", url, i);
            return SP_ERR_INVALID;
        }
    }
    memcpy(u.path, path, pl);
    /* Host header: the authority as written in the URL */
    size_t al = (size_t)(hend - h);
    memcpy(u.host_header, h, al); /* al < host(256) + ':' + port(5) + brackets fits in 280 */
    *out = u;
    return SP_OK;
}

/* Clears the parse state, keeping the body sink (an interim 1xx response is followed by the real
 * one, whose body still goes to it). */
static void resp_clear(sp_http_resp *r)
{
    memset(r, 0, offsetof(sp_http_resp, line));
    r->state = SP_HTTP_STATUS_LINE;
}

void sp_http_resp_reset(sp_http_resp *r)
{
    resp_clear(r);
    r->body_sink = NULL;
    r->body_user = NULL;
}

static bool ieq_prefix(const char *s, size_t len, const char *name)
{
    size_t nl = strlen(name);
    if (len < nl)
        return false;
    for (size_t i = 0; i < nl; i++)
        if (tolower((unsigned char)s[i]) != name[i])
            return false;
    return true;
}

/* Case-insensitive search of a lower-case token in s[len]. */
static bool icontains(const char *s, size_t len, const char *tok)
{
    size_t tl = strlen(tok);
    for (size_t i = 0; i + tl <= len; i++)
        if (ieq_prefix(s + i, len - i, tok))
            return true;
    return false;
}

/* Streaming generation: the header that says the body is a server-sent event stream. */
static void on_stream_header(sp_http_resp *r, const char *l, size_t n)
{
    if (ieq_prefix(l, n, "content-type:"))
        r->event_stream = icontains(l + 13, n - 13, "text/event-stream");
}

/* Hands body bytes to the sink, if one is set (streaming generation), and keeps the start of a
 * body whose status is not 2xx: the server's reason for an error answer. */
static void body_out(sp_http_resp *r, const char *p, size_t n)
{
    if ((r->status < 200 || r->status > 299) && r->err_len < sizeof r->err_body) {
        size_t c = sizeof r->err_body - r->err_len < n ? sizeof r->err_body - r->err_len : n;
        memcpy(r->err_body + r->err_len, p, c);
        r->err_len += c;
    }
    if (r->body_sink && n > 0)
        r->body_sink(r->body_user, r, p, n);
}

/* Handles one complete line (without CR LF) whose first bytes are in r->line. */
static void on_line(sp_http_resp *r)
{
    const char *l = r->line;
    size_t n = r->line_len;
    bool cut = r->line_total > r->line_len;
    switch (r->state) {
    case SP_HTTP_STATUS_LINE:
        /* "HTTP/1.x SSS reason" */
        if (n < 12 || memcmp(l, "HTTP/1.", 7) != 0 || l[8] != ' ' || !isdigit((unsigned char)l[9]) ||
            !isdigit((unsigned char)l[10]) || !isdigit((unsigned char)l[11]) ||
            (n > 12 && l[12] != ' ')) {
            r->state = SP_HTTP_ERROR;
            return;
        }
        r->status = (l[9] - '0') * 100 + (l[10] - '0') * 10 + (l[11] - '0');
        if (r->status < 100) {
            r->state = SP_HTTP_ERROR;
            return;
        }
        /* HTTP/1.0 closes unless it says keep-alive; we treat 1.0 as closing (simplest safe choice) */
        r->conn_close = l[7] == '0';
        r->state = SP_HTTP_HEADERS;
        return;
    case SP_HTTP_HEADERS:
        if (n == 0 && !cut) {
            if (r->status >= 100 && r->status < 200) {
                /* interim response (100 Continue): the real one follows */
                if (r->status == 101) {
                    r->state = SP_HTTP_ERROR;
                    return;
                }
                bool close = r->conn_close;
                uint64_t hb = r->head_bytes;
                resp_clear(r);
                r->conn_close = close;
                r->head_bytes = hb;
                return;
            }
            if (r->status == 204 || r->status == 304)
                r->state = SP_HTTP_DONE;
            else if (r->chunked)
                r->state = SP_HTTP_CHUNK_SIZE;
            else if (r->has_length)
                r->state = r->remaining ? SP_HTTP_BODY_LENGTH : SP_HTTP_DONE;
            else {
                r->state = SP_HTTP_BODY_EOF;
                r->conn_close = true;
            }
            return;
        }
        if (ieq_prefix(l, n, "content-length:")) {
            if (cut) {
                r->state = SP_HTTP_ERROR;
                return;
            }
            size_t i = 15;
            while (i < n && (l[i] == ' ' || l[i] == '\t'))
                i++;
            uint64_t v = 0;
            size_t digits = 0;
            for (; i < n && isdigit((unsigned char)l[i]); i++, digits++) {
                if (digits >= 18) {
                    r->state = SP_HTTP_ERROR;
                    return;
                }
                v = v * 10 + (uint64_t)(l[i] - '0');
            }
            while (i < n && (l[i] == ' ' || l[i] == '\t'))
                i++;
            if (digits == 0 || i != n || (r->has_length && r->remaining != v)) {
                r->state = SP_HTTP_ERROR;
                return;
            }
            r->has_length = true;
            r->remaining = v;
        } else if (ieq_prefix(l, n, "transfer-encoding:")) {
            if (icontains(l + 18, n - 18, "chunked"))
                r->chunked = true;
        } else if (ieq_prefix(l, n, "connection:")) {
            if (icontains(l + 11, n - 11, "close"))
                r->conn_close = true;
            else if (icontains(l + 11, n - 11, "keep-alive"))
                r->conn_close = false;
        } else {
            on_stream_header(r, l, n);
        }
        return;
    case SP_HTTP_CHUNK_SIZE: {
        uint64_t v = 0;
        size_t i = 0, digits = 0;
        for (; i < n && isxdigit((unsigned char)l[i]); i++, digits++) {
            if (digits >= 15) {
                r->state = SP_HTTP_ERROR;
                return;
            }
            int c = tolower((unsigned char)l[i]);
            v = v * 16 + (uint64_t)(c <= '9' ? c - '0' : c - 'a' + 10);
        }
        while (i < n && (l[i] == ' ' || l[i] == '\t'))
            i++;
        if (digits == 0 || (i < n && l[i] != ';')) {
            r->state = SP_HTTP_ERROR;
            return;
        }
        if (v == 0)
            r->state = SP_HTTP_TRAILERS;
        else {
            r->remaining = v;
            r->state = SP_HTTP_CHUNK_DATA;
        }
        return;
    }
    case SP_HTTP_CHUNK_END:
        r->state = (n == 0 && !cut) ? SP_HTTP_CHUNK_SIZE : SP_HTTP_ERROR;
        return;
    case SP_HTTP_TRAILERS:
        if (n == 0 && !cut)
            r->state = SP_HTTP_DONE;
        return;
    default:
        r->state = SP_HTTP_ERROR;
        return;
    }
}

/* Whether the first n bytes of a status line can still begin "HTTP/1.". */
static bool status_prefix_ok(const char *l, size_t n)
{
    static const char want[] = "HTTP/1.";
    size_t k = n < sizeof want - 1 ? n : sizeof want - 1;
    return memcmp(l, want, k) == 0;
}

static bool line_state(enum sp_http_state s)
{
    return s == SP_HTTP_STATUS_LINE || s == SP_HTTP_HEADERS || s == SP_HTTP_CHUNK_SIZE ||
           s == SP_HTTP_CHUNK_END || s == SP_HTTP_TRAILERS;
}

size_t sp_http_resp_feed(sp_http_resp *r, const char *p, size_t len)
{
    size_t used = 0;
    while (used < len && r->state != SP_HTTP_DONE && r->state != SP_HTTP_ERROR) {
        const char *s = p + used;
        size_t avail = len - used;
        if (line_state(r->state)) {
            const char *nl = memchr(s, '\n', avail);
            size_t take = nl ? (size_t)(nl - s) : avail;
            /* keep the first bytes of the line; the rest only counts toward the caps */
            if (r->line_len < sizeof r->line) {
                size_t room = sizeof r->line - r->line_len;
                size_t c = take < room ? take : room;
                memcpy(r->line + r->line_len, s, c);
                r->line_len += c;
            }
            r->line_total += take;
            /* a status line that cannot become "HTTP/1." is another protocol, known at its first
             * bytes: without this, an answer with no line end (a bare HTML page, then a close or
             * silence) would count as io or timeout instead of protocol */
            if (r->state == SP_HTTP_STATUS_LINE && !status_prefix_ok(r->line, r->line_len)) {
                r->state = SP_HTTP_ERROR;
                break;
            }
            if (take > 0)
                r->last_cr = s[take - 1] == '\r';
            r->head_bytes += take + (nl ? 1 : 0);
            used += take + (nl ? 1 : 0);
            if (r->head_bytes > SP_HTTP_MAX_HEADER_BYTES) {
                r->state = SP_HTTP_ERROR;
                break;
            }
            if (!nl)
                break;
            /* strip the CR of CR LF (a bare LF is tolerated, as most clients do) */
            if (r->line_total > 0 && r->last_cr) {
                if (r->line_total == r->line_len)
                    r->line_len--;
                r->line_total--;
            }
            on_line(r);
            r->line_len = 0;
            r->line_total = 0;
            r->last_cr = false;
            continue;
        }
        switch (r->state) {
        case SP_HTTP_BODY_LENGTH:
        case SP_HTTP_CHUNK_DATA: {
            size_t c = avail < r->remaining ? avail : (size_t)r->remaining;
            r->remaining -= c;
            r->body_bytes += c;
            used += c;
            body_out(r, s, c);
            if (r->remaining == 0)
                r->state = r->state == SP_HTTP_BODY_LENGTH ? SP_HTTP_DONE : SP_HTTP_CHUNK_END;
            break;
        }
        case SP_HTTP_BODY_EOF:
            r->body_bytes += avail;
            used += avail;
            body_out(r, s, avail);
            break;
        default:
            r->state = SP_HTTP_ERROR;
            break;
        }
    }
    return used;
}

void sp_http_resp_eof(sp_http_resp *r)
{
    if (r->state == SP_HTTP_BODY_EOF)
        r->state = SP_HTTP_DONE;
    else if (r->state != SP_HTTP_DONE)
        r->state = SP_HTTP_ERROR;
}
