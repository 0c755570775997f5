/* Test helper for the reference service's socket-level tests (test_serve_errors.c,
 * test_serve_stopping.c, test_serve_client_left.c): a TCP connection to the server on 127.0.0.1, with
 * a receive timeout so that a server that never answers fails the test instead of hanging it. */
#ifndef SERVPROF_TEST_LOOPBACK_CLIENT_TESTUTIL_H
#define SERVPROF_TEST_LOOPBACK_CLIENT_TESTUTIL_H

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

/* A connected socket to 127.0.0.1:`port` whose reads time out after `recv_timeout_s`; -1 when the
 * connection is refused. */
static inline int lb_connect(unsigned port, int recv_timeout_s)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        return -1;
    struct sockaddr_in a = {0};
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0) {
        close(fd);
        return -1;
    }
    struct timeval tv = {recv_timeout_s, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    return fd;
}

#endif
