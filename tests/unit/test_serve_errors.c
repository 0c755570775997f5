/* Every error servprof serve returns is OpenAI-shaped JSON ({"error":{"message","type",..}}), with
 * the status each case calls for, including the heads libmicrohttpd would answer itself with an HTML
 * page (a bad or huge Content-Length, oversized headers), which the front door screens on a
 * connection's first request, and the same checks on a later request of a keep-alive connection.
 * Also: a non-JSON Content-Type is 415, `dimensions` other than the model's width is 400, an empty
 * input string is 400, and no message leaks a library's internals (jansson's "JSON_ALLOW_NUL"). */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "loopback_client_testutil.h"
#include "serve_testutil.h"
#include "testlib.h"

#if !defined(SERVPROF_SERVE_ENABLED)
int main(void) { return 77; }
#else
#include <jansson.h>

#include "servprof/serve.h"

static unsigned g_port;

typedef struct answer {
    int status;
    char content_type[128];
    char body[8192];
} answer;

static int connect_local(void) { return lb_connect(g_port, 5); }

/* Reads one HTTP answer (head, then Content-Length bytes of body). Returns 0 when none came. */
static int read_answer(int fd, answer *a)
{
    static char buf[1 << 17];
    size_t got = 0;
    char *end = NULL;
    memset(a, 0, sizeof(*a));
    while (!end && got < sizeof(buf) - 1) {
        ssize_t n = recv(fd, buf + got, sizeof(buf) - 1 - got, 0);
        if (n <= 0)
            return 0;
        got += (size_t)n;
        buf[got] = 0;
        end = strstr(buf, "\r\n\r\n");
    }
    if (!end || strncmp(buf, "HTTP/1.1 ", 9) != 0)
        return 0;
    a->status = atoi(buf + 9);
    size_t len = 0;
    for (char *l = strstr(buf, "\r\n"); l && l < end; l = strstr(l + 2, "\r\n")) {
        if (strncasecmp(l + 2, "Content-Length:", 15) == 0)
            len = strtoul(l + 17, NULL, 10);
        if (strncasecmp(l + 2, "Content-Type:", 13) == 0)
            sscanf(l + 15, " %127[^\r]", a->content_type);
    }
    size_t head = (size_t)(end + 4 - buf);
    while (got < head + len && got < sizeof(buf) - 1) {
        ssize_t n = recv(fd, buf + got, sizeof(buf) - 1 - got, 0);
        if (n <= 0)
            break;
        got += (size_t)n;
    }
    size_t blen = got - head < len ? got - head : len;
    if (blen >= sizeof(a->body))
        blen = sizeof(a->body) - 1;
    memcpy(a->body, buf + head, blen);
    a->body[blen] = 0;
    return 1;
}

/* Sends `raw` on a new connection and reads the answer. */
static int ask(const char *raw, size_t n, answer *a)
{
    int fd = connect_local();
    if (fd < 0)
        return 0;
    size_t off = 0;
    while (off < n) {
        ssize_t w = send(fd, raw + off, n - off, MSG_NOSIGNAL);
        if (w <= 0)
            break;
        off += (size_t)w;
    }
    int ok = read_answer(fd, a);
    close(fd);
    return ok;
}

static int ask_str(const char *raw, answer *a) { return ask(raw, strlen(raw), a); }

/* An embeddings request with `body` and an extra header line (may be ""). */
static int ask_json(const char *extra, const char *body, answer *a)
{
    char raw[4096];
    snprintf(raw, sizeof(raw), "POST /v1/embeddings HTTP/1.1\r\nHost: x\r\n%sContent-Length: %zu\r\n\r\n%s", extra,
             strlen(body), body);
    return ask_str(raw, a);
}

/* The answer is an OpenAI-shaped JSON error with this status, and says nothing of HTML or of
 * jansson's flags; `words` must appear in its message. */
static void check_error(const char *what, const answer *a, int status, const char *words)
{
    int ok = a->status == status && strncmp(a->content_type, "application/json", 16) == 0 &&
             !strstr(a->body, "<html") && !strstr(a->body, "JSON_ALLOW_NUL");
    json_error_t e;
    json_t *j = json_loads(a->body, 0, &e);
    json_t *err = json_object_get(j, "error");
    const char *msg = json_string_value(json_object_get(err, "message"));
    ok = ok && msg && json_is_string(json_object_get(err, "type")) && json_object_get(err, "param") &&
         json_object_get(err, "code");
    ok = ok && (!words || strstr(msg, words));
    CHECK(ok);
    if (!ok)
        fprintf(stderr, "%s: status %d (want %d), type '%s', body %s\n", what, a->status, status, a->content_type,
                a->body);
    json_decref(j);
}

int main(void)
{
    sp_server_options o;
    sp_test_small_server(&o, 32);
    o.max_queue_delay_ms = 0.5;
    o.max_body = 4096;
    sp_server *srv = NULL;
    char err[512] = "";
    sp_status st = sp_server_start(&o, &srv, err, sizeof(err));
    CHECK(st == SP_OK);
    if (st != SP_OK) {
        fprintf(stderr, "start: %s\n", err);
        return sp_test_done("test_serve_errors");
    }
    g_port = sp_server_port(srv);
    answer a;

    /* heads libmicrohttpd 0.9.75 answers with HTML when it sees them first */
    CHECK(ask_str("POST /v1/embeddings HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n", &a));
    check_error("bad Content-Length", &a, 400, "Content-Length 'abc'");
    CHECK(ask_str("POST /v1/embeddings HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n", &a));
    check_error("negative Content-Length", &a, 400, "Content-Length");
    CHECK(ask_str("POST /v1/embeddings HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999999999999999999\r\n\r\n",
                  &a));
    check_error("huge Content-Length", &a, 413, "exceeds the limit of 4096");
    CHECK(ask_str("POST /v1/embeddings HTTP/1.1\r\nHost: x\r\nContent-Length: 5000\r\n\r\n", &a));
    check_error("Content-Length over max-body", &a, 413, "5000 bytes exceeds the limit of 4096");
    {
        /* 20 KiB of one header: past the 16 KiB head limit, inside libmicrohttpd's buffer */
        size_t big = 20000;
        char *raw = malloc(big + 200);
        int n = snprintf(raw, 200, "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: ");
        memset(raw + n, 'a', big);
        strcpy(raw + n + big, "\r\n\r\n");
        CHECK(ask(raw, strlen(raw), &a));
        check_error("oversized headers", &a, 431, "16384 bytes");
        /* 70 KiB: past libmicrohttpd's own buffer too */
        char *raw2 = malloc(70000 + 200);
        n = snprintf(raw2, 200, "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: ");
        memset(raw2 + n, 'a', 70000);
        strcpy(raw2 + n + 70000, "\r\n\r\n");
        CHECK(ask(raw2, strlen(raw2), &a));
        check_error("headers past libmicrohttpd's buffer", &a, 431, NULL);
        /* a request line alone past the limit */
        n = snprintf(raw, 200, "GET /");
        memset(raw + n, 'a', big);
        strcpy(raw + n + big, " HTTP/1.1\r\n\r\n");
        CHECK(ask(raw, strlen(raw), &a));
        check_error("long request line", &a, 414, "request line");
        free(raw);
        free(raw2);
    }
    CHECK(ask_str("POST /v1/embeddings HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n{}", &a));
    check_error("conflicting Content-Length", &a, 400, "conflicting");
    CHECK(ask_str("POST /v1/embeddings HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n", &a));
    check_error("Transfer-Encoding gzip", &a, 501, "gzip");
    CHECK(ask_str("POST /v1/embeddings HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n",
                  &a));
    check_error("Content-Length and Transfer-Encoding", &a, 400, "both");
    CHECK(ask_str("GET /healthz HTTP/2.0\r\n\r\n", &a));
    check_error("HTTP/2.0", &a, 505, "HTTP/2.0");
    CHECK(ask_str("GARBAGE\r\n\r\n", &a));
    check_error("no request line", &a, 400, "request line");
    CHECK(ask_str("GET /healthz HTTP/1.1\r\nHost x\r\n\r\n", &a));
    check_error("header without a colon", &a, 400, "header line 2");

    /* the handler's own checks */
    CHECK(ask_json("Content-Type: text/plain\r\n", "{\"input\":\"a\"}", &a));
    check_error("text/plain", &a, 415, "application/json");
    CHECK(ask_json("Content-Type: application/x-www-form-urlencoded\r\n", "{\"input\":\"a\"}", &a));
    check_error("form", &a, 415, "x-www-form-urlencoded");
    CHECK(ask_json("Content-Type: application/json; charset=utf-8\r\n", "{\"input\":\"a\"}", &a));
    CHECK_EQ_U64(a.status, 200);
    CHECK(ask_json("Content-Type: application/vnd.example+json\r\n", "{\"input\":\"a\"}", &a));
    CHECK_EQ_U64(a.status, 200);
    CHECK(ask_json("", "{\"input\":\"a\"}", &a)); /* no Content-Type: taken as JSON */
    CHECK_EQ_U64(a.status, 200);
    CHECK(ask_json("", "{\"input\":\"a\",\"dimensions\":16}", &a));
    check_error("dimensions 16 of 32", &a, 400, "'dimensions' is 16");
    CHECK(ask_json("", "{\"input\":\"a\",\"dimensions\":\"16\"}", &a));
    check_error("dimensions a string", &a, 400, "positive integer");
    CHECK(ask_json("", "{\"input\":\"a\",\"dimensions\":0}", &a));
    check_error("dimensions 0", &a, 400, "positive integer");
    CHECK(ask_json("", "{\"input\":\"a\",\"dimensions\":32}", &a)); /* the model's width: honoured */
    CHECK_EQ_U64(a.status, 200);
    CHECK(ask_json("", "{\"input\":\"\"}", &a));
    check_error("empty input", &a, 400, "'input' is an empty string");
    CHECK(ask_json("", "{\"input\":[\"a\",\"\"]}", &a));
    check_error("empty input in a list", &a, 400, "'input[1]' is an empty string");
    CHECK(ask_json("", "{\"input\":\"a\\u0000b\"}", &a));
    check_error("NUL in input", &a, 400, "NUL");
    CHECK(ask_json("", "{\"input\":[\"\\u0000\"]}", &a));
    check_error("NUL in a list", &a, 400, "'input[0]' contains a NUL");
    CHECK(ask_json("", "{\"input\": [\"a\",}", &a));
    check_error("bad JSON", &a, 400, "not valid JSON");
    CHECK(ask_str("GET /nowhere HTTP/1.1\r\nHost: x\r\n\r\n", &a));
    check_error("404", &a, 404, "unknown path");
    CHECK(ask_str("DELETE /healthz HTTP/1.1\r\nHost: x\r\n\r\n", &a));
    check_error("405", &a, 405, "GET");

    /* a keep-alive connection's later requests skip the front door's screen: the handler checks
     * the head's size and conflicting lengths again */
    {
        int fd = connect_local();
        const char *first = "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n";
        send(fd, first, strlen(first), MSG_NOSIGNAL);
        CHECK(read_answer(fd, &a) && a.status == 200);
        size_t big = 20000;
        char *raw = malloc(big + 200);
        int n = snprintf(raw, 200, "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: ");
        memset(raw + n, 'a', big);
        strcpy(raw + n + big, "\r\n\r\n");
        send(fd, raw, strlen(raw), MSG_NOSIGNAL);
        CHECK(read_answer(fd, &a));
        check_error("oversized headers, keep-alive", &a, 431, "16384 bytes");
        free(raw);
        close(fd);
        fd = connect_local();
        send(fd, first, strlen(first), MSG_NOSIGNAL);
        CHECK(read_answer(fd, &a) && a.status == 200);
        const char *two = "POST /v1/embeddings HTTP/1.1\r\nHost: x\r\nContent-Length: 13\r\nContent-Length: 2\r\n\r\n"
                          "{\"input\":\"a\"}";
        send(fd, two, strlen(two), MSG_NOSIGNAL);
        CHECK(read_answer(fd, &a));
        check_error("conflicting Content-Length, keep-alive", &a, 400, "conflicting");
        close(fd);
    }

    sp_server_stats s;
    sp_server_get_stats(srv, &s);
    CHECK_EQ_U64(s.unsupported_media, 2);
    CHECK(s.bad_heads >= 13);
    sp_server_destroy(srv);
    return sp_test_done("test_serve_errors");
}
#endif
