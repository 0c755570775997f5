/* Known answers of servprof serve's request-head screen (src/serve/gate.c): where a head ends, and
 * which heads it refuses with which status. Each expected answer is read off RFC 9112 (message
 * syntax: sections 2.2, 3, 5, 6.1, 6.3) and RFC 9110 (field names are tokens, 5.6.2; Content-Length
 * is one decimal integer, 8.6), as noted by each case. */
#include <stdlib.h>
#include <string.h>

#include "testlib.h"

#if !defined(SERVPROF_SERVE_ENABLED)
int main(void) { return 77; }
#else
#include "serve/gate_int.h"

static size_t end_of(const char *s) { return sp_gate_head_end(s, strlen(s)); }

static unsigned check(const char *head, size_t max_body, const char *words)
{
    char msg[256] = "";
    unsigned st = sp_gate_check_head(head, strlen(head), max_body, msg, sizeof(msg));
    if (words && !strstr(msg, words)) {
        fprintf(stderr, "message for %.40s... is '%s', wanted '%s'\n", head, msg, words);
        sp_test_failures++;
    }
    return st;
}

int main(void)
{
    /* head end: just past the empty line; CRLF or bare LF (RFC 9112 2.2 lets a recipient accept LF) */
    CHECK_EQ_U64(end_of("GET / HTTP/1.1\r\nHost: x\r\n\r\nBODY"), 27);
    CHECK_EQ_U64(end_of("GET / HTTP/1.1\nHost: x\n\nBODY"), 24);
    CHECK_EQ_U64(end_of("GET / HTTP/1.1\r\n\r\n"), 18);
    CHECK_EQ_U64(end_of("GET / HTTP/1.1\r\nHost: x\r\n"), 0);   /* not all there yet */
    CHECK_EQ_U64(end_of("GET / HTTP/1.1\r\nHost: x\r\n\r"), 0);
    CHECK_EQ_U64(end_of("\r\n\r\nGET / HTTP/1.1\r\n\r\n"), 22);  /* empty lines before the request line are skipped (2.2) */
    CHECK_EQ_U64(end_of("\r\n\r\n"), 0);

    const size_t max = 1000;
    /* good heads */
    CHECK_EQ_U64(check("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n", max, NULL), 0);
    CHECK_EQ_U64(check("POST /v1/embeddings HTTP/1.0\r\nContent-Length: 1000\r\n\r\n", max, NULL), 0);
    CHECK_EQ_U64(check("POST / HTTP/1.1\r\nTransfer-Encoding: Chunked\r\n\r\n", max, NULL), 0); /* case-insensitive (6.1) */
    CHECK_EQ_U64(check("POST / HTTP/1.1\r\nContent-Length: 7\r\ncontent-length: 007\r\n\r\n", max, NULL), 0); /* equal */
    CHECK_EQ_U64(check("GET / HTTP/1.1\r\nX-A:\r\nX-B:  v  \r\n\r\n", max, NULL), 0); /* empty and padded values */
    CHECK_EQ_U64(check("GET / HTTP/1.1\nHost: x\n\n", max, NULL), 0);

    /* request line: method SP target SP HTTP-version (3) */
    CHECK_EQ_U64(check("GARBAGE\r\n\r\n", max, "request line"), 400);
    CHECK_EQ_U64(check("GET  / HTTP/1.1\r\n\r\n", max, "request line"), 400);   /* one SP only */
    CHECK_EQ_U64(check("GET / HTTP/1.1 \r\n\r\n", max, "request line"), 400);
    CHECK_EQ_U64(check("G(T / HTTP/1.1\r\n\r\n", max, "request line"), 400);   /* '(' is no tchar */
    CHECK_EQ_U64(check("GET / HTTP/2.0\r\n\r\n", max, "HTTP/2.0"), 505);
    CHECK_EQ_U64(check("GET / HTTP/0.9\r\n\r\n", max, "HTTP/0.9"), 505);
    CHECK_EQ_U64(check("GET / HTTPS/1.1\r\n\r\n", max, "request line"), 400);
    /* header lines: token ':' value, no whitespace before the colon (5.1), no folding (5.2), no
     * control characters in values (5.5) */
    CHECK_EQ_U64(check("GET / HTTP/1.1\r\nHost x\r\n\r\n", max, "header line 2"), 400);
    CHECK_EQ_U64(check("GET / HTTP/1.1\r\nHost : x\r\n\r\n", max, "header line 2"), 400);
    CHECK_EQ_U64(check("GET / HTTP/1.1\r\n: x\r\n\r\n", max, "header line 2"), 400);
    CHECK_EQ_U64(check("GET / HTTP/1.1\r\nX-A: 1\r\n  folded\r\n\r\n", max, "folded"), 400);
    CHECK_EQ_U64(check("GET / HTTP/1.1\r\nX-A: a\x01z\r\n\r\n", max, "control character"), 400);
    /* Content-Length: one non-negative decimal integer (RFC 9110 8.6); disagreeing copies are an
     * error (RFC 9112 6.3 item 5); over max_body 413 */
    CHECK_EQ_U64(check("POST / HTTP/1.1\r\nContent-Length: abc\r\n\r\n", max, "'abc'"), 400);
    CHECK_EQ_U64(check("POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n", max, "'-1'"), 400);
    CHECK_EQ_U64(check("POST / HTTP/1.1\r\nContent-Length: 1 2\r\n\r\n", max, "'1 2'"), 400);
    CHECK_EQ_U64(check("POST / HTTP/1.1\r\nContent-Length: 5, 5\r\n\r\n", max, "'5, 5'"), 400);
    CHECK_EQ_U64(check("POST / HTTP/1.1\r\nContent-Length:\r\n\r\n", max, "Content-Length"), 400);
    CHECK_EQ_U64(check("POST / HTTP/1.1\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n", max, "(2 and 3)"), 400);
    CHECK_EQ_U64(check("POST / HTTP/1.1\r\nContent-Length: 1001\r\n\r\n", max, "1001 bytes exceeds the limit of 1000"),
                 413);
    CHECK_EQ_U64(check("POST / HTTP/1.1\r\nContent-Length: 99999999999999999999999\r\n\r\n", max, "exceeds"), 413);
    CHECK_EQ_U64(check("POST / HTTP/1.1\r\nContent-Length: 0000000000000000000000001\r\n\r\n", max, NULL), 0);
    /* Transfer-Encoding: only chunked (6.1); with Content-Length it is refused (6.3 item 3) */
    CHECK_EQ_U64(check("POST / HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", max, "gzip, chunked"), 501);
    CHECK_EQ_U64(check("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n", max,
                       "Transfer-Encoding"),
                 501);
    CHECK_EQ_U64(check("POST / HTTP/1.1\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n", max, "both"), 400);

    /* an error body is JSON whatever bytes the message quotes */
    char *j = sp_serve_error_json("invalid_request_error", "bad \xff\x01 \"q\"");
    CHECK(j && strcmp(j, "{\"error\":{\"message\":\"bad ?? \\\"q\\\"\",\"type\":\"invalid_request_error\","
                         "\"param\":null,\"code\":null}}") == 0);
    free(j);
    return sp_test_done("test_serve_head");
}
#endif
