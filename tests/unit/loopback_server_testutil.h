/* Test helper for the load generator's end-to-end tests (test_load_e2e.c, test_load_stream.c): a
 * small HTTP server on a 127.0.0.1 ephemeral port, one thread per connection, whose `serve` function
 * (the test's) answers each connection; and the framing of a request (headers, then a Content-Length
 * body). The server stops when its listening socket is shut down; the handlers end when the client
 * closes its connections. */
#ifndef SERVPROF_TEST_LOOPBACK_SERVER_TESTUTIL_H
#define SERVPROF_TEST_LOOPBACK_SERVER_TESTUTIL_H

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define LB_MAX_HANDLERS 64

typedef struct lb_server {
    int ls, port;
    pthread_t acceptor, handlers[LB_MAX_HANDLERS];
    int n_handlers, max_handlers; /* a connection beyond max_handlers is closed at once */
    pthread_mutex_t mu;           /* guards the handler list */
    void (*serve)(void *user, int fd); /* serves one connection; the server closes fd after */
    void *user;
} lb_server;

/* A listening socket on 127.0.0.1, its port in *port; exits the test when that fails. */
static inline int lb_listen(int *port, int backlog)
{
    int ls = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = 0};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(ls, (struct sockaddr *)&a, sizeof a) != 0 || listen(ls, backlog) != 0) {
        perror("bind/listen");
        exit(1);
    }
    socklen_t al = sizeof a;
    getsockname(ls, (struct sockaddr *)&a, &al);
    *port = ntohs(a.sin_port);
    return ls;
}

typedef struct lb_conn {
    lb_server *s;
    int fd;
} lb_conn;

static inline void *lb_handler(void *p)
{
    lb_conn c = *(lb_conn *)p;
    free(p);
    c.s->serve(c.s->user, c.fd);
    close(c.fd);
    return NULL;
}

static inline void *lb_acceptor(void *p)
{
    lb_server *s = p;
    for (;;) {
        int fd = accept(s->ls, NULL, NULL);
        if (fd < 0)
            break; /* shutdown() of the listening socket */
        pthread_mutex_lock(&s->mu);
        if (s->n_handlers == s->max_handlers) {
            pthread_mutex_unlock(&s->mu);
            close(fd);
            continue;
        }
        lb_conn *c = malloc(sizeof *c);
        c->s = s;
        c->fd = fd;
        pthread_create(&s->handlers[s->n_handlers++], NULL, lb_handler, c);
        pthread_mutex_unlock(&s->mu);
    }
    return NULL;
}

/* Starts s: listening (backlog), at most max_handlers (<= LB_MAX_HANDLERS) connections served. */
static inline void lb_start(lb_server *s, int backlog, int max_handlers, void (*serve)(void *user, int fd), void *user)
{
    memset(s, 0, sizeof *s);
    s->max_handlers = max_handlers < LB_MAX_HANDLERS ? max_handlers : LB_MAX_HANDLERS;
    s->serve = serve;
    s->user = user;
    pthread_mutex_init(&s->mu, NULL);
    s->ls = lb_listen(&s->port, backlog);
    pthread_create(&s->acceptor, NULL, lb_acceptor, s);
}

/* Stops accepting and waits for every handler (the client must have closed its connections). */
static inline void lb_stop(lb_server *s)
{
    shutdown(s->ls, SHUT_RDWR);
    pthread_join(s->acceptor, NULL);
    close(s->ls);
    for (int i = 0; i < s->n_handlers; i++)
        pthread_join(s->handlers[i], NULL);
    pthread_mutex_destroy(&s->mu);
}

/* The length of the first complete request in the NUL-terminated buf[len] (headers and its
 * Content-Length body), 0 while incomplete; *head is the headers' length. */
static inline size_t lb_request_len(const char *buf, size_t len, size_t *head)
{
    const char *end = strstr(buf, "\r\n\r\n");
    if (!end)
        return 0;
    *head = (size_t)(end - buf) + 4;
    const char *cl = strcasestr(buf, "\r\nContent-Length:");
    size_t body = cl && cl < end ? strtoul(cl + 17, NULL, 10) : 0;
    return len < *head + body ? 0 : *head + body;
}

#endif
