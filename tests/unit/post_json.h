/* A plain HTTP/1.1 POST for tests that drive a server on 127.0.0.1 without libcurl: a fresh
 * connection, a JSON body, `Connection: close`, the whole answer read. Header-only; needs jansson. */
#ifndef SP_TEST_POST_JSON_H
#define SP_TEST_POST_JSON_H

#include <arpa/inet.h>
#include <jansson.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* POSTs `body` to `path` on 127.0.0.1:port. Returns the parsed answer of a 200 with a JSON body (the
 * caller json_decref's it), else NULL. Answers up to 64 KiB; not thread-safe (one static buffer). */
static json_t *sp_test_post_json(unsigned port, const char *path, const char *body)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {0};
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
        if (fd >= 0)
            close(fd);
        return NULL;
    }
    char req[2048];
    int rl = snprintf(req, sizeof req,
                      "POST %s HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                      "Content-Length: %zu\r\nConnection: close\r\n\r\n%s",
                      path, strlen(body), body);
    json_t *j = NULL;
    if (rl > 0 && (size_t)rl < sizeof req && write(fd, req, (size_t)rl) == rl) {
        static char buf[1 << 16];
        size_t got = 0;
        ssize_t r;
        while (got < sizeof buf - 1 && (r = read(fd, buf + got, sizeof buf - 1 - got)) > 0)
            got += (size_t)r;
        buf[got] = 0;
        char *json = strstr(buf, "\r\n\r\n");
        if (strncmp(buf, "HTTP/1.1 200", 12) == 0 && json)
            j = json_loads(json + 4, 0, NULL);
    }
    close(fd);
    return j;
}

#endif
