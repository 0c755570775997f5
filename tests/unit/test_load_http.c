/* The load generator's HTTP/1.1 response parser and URL parser: Content-Length and chunked bodies
 * fed whole and split at every byte boundary, interim 100 responses, Connection: close, bodies up to
 * EOF, malformed and oversized input. Expected values are read off the literal responses. */
#include <stdlib.h>
#include <string.h>

#include "load/load_int.h"
#include "testlib.h"

/* Feeds `text` split at `cut` (then the rest); returns the bytes consumed in total. */
static size_t feed_split(sp_http_resp *r, const char *text, size_t len, size_t cut)
{
    sp_http_resp_reset(r);
    size_t used = sp_http_resp_feed(r, text, cut);
    if (r->state != SP_HTTP_DONE && r->state != SP_HTTP_ERROR && used == cut)
        used += sp_http_resp_feed(r, text + cut, len - cut);
    return used;
}

static void check_every_split(const char *text, int status, uint64_t body, bool close)
{
    size_t len = strlen(text);
    int bad = 0;
    for (size_t cut = 0; cut <= len; cut++) {
        sp_http_resp r;
        size_t used = feed_split(&r, text, len, cut);
        if (r.state != SP_HTTP_DONE || r.status != status || r.body_bytes != body || used != len ||
            r.conn_close != close) {
            if (!bad)
                fprintf(stderr, "split at %zu: state %d status %d body %llu used %zu\n", cut, (int)r.state,
                        r.status, (unsigned long long)r.body_bytes, used);
            bad++;
        }
    }
    CHECK_EQ_U64(bad, 0);
}

static void test_bodies(void)
{
    check_every_split("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello", 200, 5, false);
    check_every_split("HTTP/1.1 503 Service Unavailable\r\ncontent-length:0\r\nConnection: close\r\n\r\n",
                      503, 0, true);
    /* chunked: 4 + 6 = 10 body bytes, a chunk extension and a trailer */
    check_every_split("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nWiki\r\n6;ext=1\r\npedia "
                      "\r\n0\r\nX-Trailer: y\r\n\r\n",
                      200, 10, false);
    /* interim 100 Continue, then the real response */
    check_every_split("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nok", 201,
                      2, false);
    /* 204 has no body whatever the headers say */
    check_every_split("HTTP/1.1 204 No Content\r\n\r\n", 204, 0, false);
    /* HTTP/1.0 closes by default; bare LF line ends are tolerated */
    check_every_split("HTTP/1.0 200 OK\nContent-Length: 3\n\nabc", 200, 3, true);
}

static void test_pipelined_rest(void)
{
    /* bytes after a complete response are not consumed */
    const char *t = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokHTTP/1.1";
    sp_http_resp r;
    sp_http_resp_reset(&r);
    size_t used = sp_http_resp_feed(&r, t, strlen(t));
    CHECK(r.state == SP_HTTP_DONE);
    CHECK_EQ_U64(used, strlen(t) - 8);
}

static void test_eof_body(void)
{
    const char *t = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil the end";
    sp_http_resp r;
    sp_http_resp_reset(&r);
    sp_http_resp_feed(&r, t, strlen(t));
    CHECK(r.state == SP_HTTP_BODY_EOF);
    sp_http_resp_eof(&r);
    CHECK(r.state == SP_HTTP_DONE);
    CHECK_EQ_U64(r.body_bytes, 13);
    CHECK(r.conn_close);
    /* EOF in the middle of a Content-Length body is an error */
    t = "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort";
    sp_http_resp_reset(&r);
    sp_http_resp_feed(&r, t, strlen(t));
    sp_http_resp_eof(&r);
    CHECK(r.state == SP_HTTP_ERROR);
}

static void expect_error(const char *t)
{
    sp_http_resp r;
    sp_http_resp_reset(&r);
    sp_http_resp_feed(&r, t, strlen(t));
    CHECK(r.state == SP_HTTP_ERROR);
    if (r.state != SP_HTTP_ERROR)
        fprintf(stderr, "  accepted: %s\n", t);
}

static void test_malformed(void)
{
    expect_error("HTTP/2 200 OK\r\n\r\n");
    expect_error("HTTP/1.1 2x0 OK\r\n\r\n");
    expect_error("garbage\r\n");
    expect_error("HTTP/1.1 200 OK\r\nContent-Length: abc\r\n\r\n");
    expect_error("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n");
    expect_error("HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999\r\n\r\n");
    expect_error("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n");
    expect_error("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabXY\r\n");
    expect_error("HTTP/1.1 101 Switching Protocols\r\n\r\n");
    /* headers beyond the 64 KiB cap */
    size_t n = SP_HTTP_MAX_HEADER_BYTES + 100;
    char *big = malloc(n + 64);
    strcpy(big, "HTTP/1.1 200 OK\r\nX-Big: ");
    size_t k = strlen(big);
    memset(big + k, 'a', n - k);
    big[n] = '\0';
    expect_error(big);
    free(big);
}

/* Bytes that cannot begin "HTTP/1." are a protocol error as soon as they arrive, before any line
 * end: a bare HTML answer (HTTP/0.9 style) closed or left open is not io or a timeout. */
static void test_not_http_before_line_end(void)
{
    const char *bad[] = {"<html>hi</html>", "<", "HTTP/2", "SSH-2.0-OpenSSH_9.2", "http/1.1 200"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        expect_error(bad[i]);
    /* a valid start split anywhere still waits for more */
    const char *ok = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
    for (size_t cut = 1; cut < 16; cut++) {
        sp_http_resp r;
        sp_http_resp_reset(&r);
        sp_http_resp_feed(&r, ok, cut);
        CHECK(r.state == SP_HTTP_STATUS_LINE);
    }
    /* an interim 100's next status line is checked the same way */
    sp_http_resp r;
    sp_http_resp_reset(&r);
    const char *t = "HTTP/1.1 100 Continue\r\n\r\n<html>";
    sp_http_resp_feed(&r, t, strlen(t));
    CHECK(r.state == SP_HTTP_ERROR);
}

static void test_url(void)
{
    sp_url u;
    char err[256];
    CHECK(sp_url_parse("http://127.0.0.1:8080/v1/embeddings", &u, err, sizeof err) == SP_OK);
    CHECK(strcmp(u.host, "127.0.0.1") == 0 && strcmp(u.port, "8080") == 0);
    CHECK(strcmp(u.path, "/v1/embeddings") == 0 && strcmp(u.host_header, "127.0.0.1:8080") == 0);
    CHECK(sp_url_parse("http://localhost", &u, err, sizeof err) == SP_OK);
    CHECK(strcmp(u.port, "80") == 0 && strcmp(u.path, "/") == 0);
    CHECK(sp_url_parse("http://[::1]:9000/x?y=1", &u, err, sizeof err) == SP_OK);
    CHECK(strcmp(u.host, "::1") == 0 && strcmp(u.port, "9000") == 0 && strcmp(u.path, "/x?y=1") == 0);
    CHECK(sp_url_parse("https://example.com/", &u, err, sizeof err) == SP_ERR_INVALID);
    CHECK(sp_url_parse("http://:80/", &u, err, sizeof err) == SP_ERR_INVALID);
    CHECK(sp_url_parse("http://h:0/", &u, err, sizeof err) == SP_ERR_INVALID);
    CHECK(sp_url_parse("http://h:70000/", &u, err, sizeof err) == SP_ERR_INVALID);
    CHECK(sp_url_parse("http://h:80/a b", &u, err, sizeof err) == SP_ERR_INVALID);
    CHECK(sp_url_parse("http://user@h/", &u, err, sizeof err) == SP_ERR_INVALID);
}

int main(void)
{
    test_bodies();
    test_pipelined_rest();
    test_not_http_before_line_end();
    test_eof_body();
    test_malformed();
    test_url();
    return sp_test_done("test_load_http");
}
