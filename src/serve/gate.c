/* The front door of servprof serve. libmicrohttpd (0.9.75) answers some requests itself, with HTML
 * and before our handler runs (a bad or huge Content-Length, headers past its buffer), lets trickled
 * bytes reset its only timeout, and binds with SO_REUSEPORT; so this file owns the listening socket,
 * counts connections against the caps, reads each connection's first request head with MSG_PEEK
 * (nothing consumed) and answers a bad one with JSON, hands good connections to libmicrohttpd
 * (MHD_add_connection), and closes any connection whose request misses its header or body deadline,
 * measured from when the request started, not from its last byte. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "common/util_int.h"
#include "serve/gate_int.h"

/* ---------------- the gate ---------------- */

enum { PH_SCREEN = 0 }; /* held by the screen, before libmicrohttpd; the rest is enum sp_gate_phase */

struct sp_gate_conn {
    int fd;
    int phase;
    int reaped;       /* shut down at a deadline; libmicrohttpd closes it next */
    size_t seen;      /* head bytes seen so far (screen) */
    uint64_t since_ns;/* start of the current phase */
    struct sockaddr_storage addr;
    socklen_t addrlen;
};

struct sp_gate {
    sp_gate_config cfg;
    int lfd, ep, wake;
    unsigned port;
    struct MHD_Daemon *daemon;
    pthread_t thread;
    int running;
    char *peek;               /* the screen's scratch: max_head_bytes + 1 (gate thread only) */
    uint64_t listen_paused_until;
    int listen_paused;
    /* connections by descriptor (descriptors are small and dense); guarded by mu, which the gate
     * thread and libmicrohttpd's threads (handler, notifications) take */
    pthread_mutex_t mu;
    sp_gate_conn **by_fd;
    size_t nfd;
    sp_gate_stats st;
};

static uint64_t now_ns(void) { return sp_now_ns(); }

/* Takes mu. */
static sp_gate_conn *track_locked(sp_gate *g, int fd, const struct sockaddr_storage *addr, socklen_t addrlen)
{
    if ((size_t)fd >= g->nfd) {
        size_t n = g->nfd ? g->nfd : 256;
        while (n <= (size_t)fd)
            n *= 2;
        sp_gate_conn **p = realloc(g->by_fd, n * sizeof(*p));
        if (!p)
            return NULL;
        memset(p + g->nfd, 0, (n - g->nfd) * sizeof(*p));
        g->by_fd = p;
        g->nfd = n;
    }
    sp_gate_conn *c = calloc(1, sizeof(*c));
    if (!c)
        return NULL;
    c->fd = fd;
    c->phase = PH_SCREEN;
    c->since_ns = now_ns();
    c->addr = *addr;
    c->addrlen = addrlen;
    g->by_fd[fd] = c;
    g->st.accepted++;
    g->st.open_now++;
    if (g->st.open_now > g->st.open_peak)
        g->st.open_peak = g->st.open_now;
    return c;
}

static void forget_locked(sp_gate *g, sp_gate_conn *c)
{
    if ((size_t)c->fd < g->nfd && g->by_fd[c->fd] == c)
        g->by_fd[c->fd] = NULL;
    g->st.open_now--;
    free(c);
}

static int same_host(const struct sockaddr_storage *a, const struct sockaddr_storage *b)
{
    if (a->ss_family != b->ss_family)
        return 0;
    if (a->ss_family == AF_INET)
        return ((const struct sockaddr_in *)a)->sin_addr.s_addr == ((const struct sockaddr_in *)b)->sin_addr.s_addr;
    if (a->ss_family == AF_INET6)
        return memcmp(&((const struct sockaddr_in6 *)a)->sin6_addr, &((const struct sockaddr_in6 *)b)->sin6_addr,
                      16) == 0;
    return 0;
}

static unsigned count_from_locked(sp_gate *g, const struct sockaddr_storage *addr)
{
    unsigned k = 0;
    for (size_t i = 0; i < g->nfd; i++)
        if (g->by_fd[i] && same_host(&g->by_fd[i]->addr, addr))
            k++;
    return k;
}

static const char *host_text(const struct sockaddr_storage *a, char *buf, size_t len)
{
    const void *src = a->ss_family == AF_INET6 ? (const void *)&((const struct sockaddr_in6 *)a)->sin6_addr
                                               : (const void *)&((const struct sockaddr_in *)a)->sin_addr;
    if (!inet_ntop(a->ss_family, src, buf, (socklen_t)len))
        snprintf(buf, len, "?");
    return buf;
}

/* Answers with a JSON error and closes. The socket is non-blocking and the answer small, so it goes
 * into the empty send buffer at once; what the client already sent is read first, so that closing
 * does not reset the connection (and discard the answer) for unread bytes. */
static void answer_and_close(int fd, unsigned status, const char *type, const char *message, int retry)
{
    char *body = sp_serve_error_json(type, message);
    const char *reason = MHD_get_reason_phrase_for(status);
    char msg[1024];
    /* one send: the client reads the whole answer at once */
    int n = snprintf(msg, sizeof(msg),
                     "HTTP/1.1 %u %s\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n%s"
                     "Connection: close\r\n\r\n%s",
                     status, reason && *reason ? reason : "Error", body ? strlen(body) : 0,
                     retry ? "Retry-After: 1\r\n" : "", body ? body : "");
    free(body);
    char drain[4096];
    for (int i = 0; i < 16 && recv(fd, drain, sizeof(drain), MSG_DONTWAIT) > 0; i++)
        ;
    if (n > 0 && (size_t)n < sizeof(msg))
        (void)send(fd, msg, (size_t)n, MSG_NOSIGNAL | MSG_DONTWAIT);
    shutdown(fd, SHUT_WR);
    close(fd);
}

static void tell_answered(const sp_gate *g, unsigned status, uint64_t start_ns, const char *head, size_t len)
{
    if (g->cfg.on_answered)
        g->cfg.on_answered(g->cfg.on_answered_user, status, start_ns, head, len);
}

/* Closes a connection the screen holds (the gate thread's own). A status answers the head the screen
 * peeked (`head_len` bytes in g->peek). */
static void close_screened(sp_gate *g, sp_gate_conn *c, unsigned status, const char *type, const char *message)
{
    int fd = c->fd;
    if (status)
        tell_answered(g, status, c->since_ns, g->peek, c->seen);
    pthread_mutex_lock(&g->mu);
    forget_locked(g, c);
    if (status) {
        g->st.bad_heads++;
        g->st.bad_heads_400 += status == 400;
        g->st.bad_heads_413 += status == 413 || status == 414 || status == 431;
    }
    pthread_mutex_unlock(&g->mu);
    if (status)
        answer_and_close(fd, status, type, message, 0);
    else
        close(fd);
}

static void gate_accept(sp_gate *g)
{
    for (int k = 0; k < 64; k++) {
        struct sockaddr_storage ss;
        socklen_t sl = sizeof(ss);
        int fd = accept4(g->lfd, (struct sockaddr *)&ss, &sl, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED || errno == EPROTO)
                continue;
            if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
                /* out of descriptors or memory: the pending connection stays in the backlog; stop
                 * polling the listener for 100 ms rather than spin on it */
                epoll_ctl(g->ep, EPOLL_CTL_DEL, g->lfd, NULL);
                g->listen_paused = 1;
                g->listen_paused_until = now_ns() + 100000000ull;
                sp_log(SP_LOG_WARN, "servprof serve: cannot accept a connection: %s", strerror(errno));
            }
            return;
        }
        char msg[160], host[64];
        unsigned refused = 0;
        uint64_t accepted_ns = now_ns();
        sp_gate_conn *c = NULL;
        pthread_mutex_lock(&g->mu);
        if (g->st.open_now >= g->cfg.max_connections) {
            g->st.refused_cap++;
            refused = 1;
            snprintf(msg, sizeof(msg), "the server holds its limit of %u connections; retry later",
                     g->cfg.max_connections);
        } else if (g->cfg.max_per_ip && count_from_locked(g, &ss) >= g->cfg.max_per_ip) {
            g->st.refused_per_ip++;
            refused = 1;
            snprintf(msg, sizeof(msg), "%s holds its limit of %u connections; retry later",
                     host_text(&ss, host, sizeof(host)), g->cfg.max_per_ip);
        } else {
            c = track_locked(g, fd, &ss, sl);
        }
        pthread_mutex_unlock(&g->mu);
        if (refused) {
            tell_answered(g, 503, accepted_ns, NULL, 0);
            answer_and_close(fd, 503, "server_overloaded", msg, 1);
            continue;
        }
        if (!c) {
            close(fd);
            continue;
        }
        /* edge-triggered: the screen only peeks, so the bytes stay readable; each arrival of more
         * of them is one event */
        struct epoll_event ev = {.events = EPOLLIN | EPOLLRDHUP | EPOLLET, .data.ptr = c};
        if (epoll_ctl(g->ep, EPOLL_CTL_ADD, fd, &ev) != 0)
            close_screened(g, c, 0, NULL, NULL);
    }
}

static void hand_over(sp_gate *g, sp_gate_conn *c)
{
    int fd = c->fd;
    epoll_ctl(g->ep, EPOLL_CTL_DEL, fd, NULL);
    pthread_mutex_lock(&g->mu);
    /* the header deadline keeps running from accept: libmicrohttpd has the whole head already */
    c->phase = SP_GATE_WAIT_HEAD;
    struct sockaddr_storage addr = c->addr;
    socklen_t addrlen = c->addrlen;
    pthread_mutex_unlock(&g->mu);
    /* from here on libmicrohttpd owns the socket (and may already have closed it and forgotten c) */
    if (MHD_add_connection(g->daemon, fd, (const struct sockaddr *)&addr, addrlen) != MHD_YES) {
        /* it closed the socket; only the gate accepts, so nothing else can have taken the number */
        pthread_mutex_lock(&g->mu);
        if ((size_t)fd < g->nfd && g->by_fd[fd])
            forget_locked(g, g->by_fd[fd]);
        pthread_mutex_unlock(&g->mu);
    }
}

static void screen(sp_gate *g, sp_gate_conn *c, uint32_t events)
{
    size_t cap = g->cfg.max_head_bytes;
    ssize_t n = recv(c->fd, g->peek, cap + 1, MSG_PEEK | MSG_DONTWAIT);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
        return;
    if (n <= 0) {
        close_screened(g, c, 0, NULL, NULL); /* gone before sending a whole request */
        return;
    }
    c->seen = (size_t)n;
    size_t end = sp_gate_head_end(g->peek, (size_t)n);
    char msg[256];
    if (!end || end > cap) {
        if ((size_t)n > cap) {
            size_t lead = 0;
            while (lead < (size_t)n && (g->peek[lead] == '\r' || g->peek[lead] == '\n'))
                lead++;
            int line = memchr(g->peek + lead, '\n', (size_t)n - lead) == NULL;
            snprintf(msg, sizeof(msg), "the request %s the limit of %zu bytes", line ? "line exceeds" : "headers exceed", cap);
            close_screened(g, c, line ? 414 : 431, "invalid_request_error", msg);
        } else if (events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR)) {
            close_screened(g, c, 0, NULL, NULL); /* the client stopped sending mid-head */
        }
        return;
    }
    unsigned status = sp_gate_check_head(g->peek, end, g->cfg.max_body, msg, sizeof(msg));
    if (status) {
        close_screened(g, c, status, "invalid_request_error", msg);
        return;
    }
    hand_over(g, c);
}

/* Closes connections past their deadline; returns the next deadline (UINT64_MAX: none). */
static uint64_t reap(sp_gate *g, uint64_t now)
{
    uint64_t next = UINT64_MAX;
    pthread_mutex_lock(&g->mu);
    for (size_t fd = 0; fd < g->nfd; fd++) {
        sp_gate_conn *c = g->by_fd[fd];
        if (!c || c->reaped || c->phase == SP_GATE_BUSY)
            continue;
        uint64_t limit = c->phase == SP_GATE_WAIT_BODY ? g->cfg.body_timeout_ns : g->cfg.header_timeout_ns;
        if (!limit)
            continue;
        uint64_t due = c->since_ns + limit;
        if (now < due) {
            next = due < next ? due : next;
            continue;
        }
        if (c->phase == SP_GATE_WAIT_BODY)
            g->st.body_timeouts++;
        else
            g->st.header_timeouts++;
        if (c->phase == PH_SCREEN) {
            /* ours: a client that started a request gets told why it ends */
            size_t seen = c->seen;
            forget_locked(g, c);
            if (seen) {
                char msg[128];
                snprintf(msg, sizeof(msg), "the request headers did not arrive within %.3g s",
                         (double)g->cfg.header_timeout_ns / 1e9);
                answer_and_close((int)fd, 408, "invalid_request_error", msg, 0);
            } else {
                close((int)fd);
            }
        } else {
            /* libmicrohttpd's: shut it down, and it closes it on its next look. Safe under mu: the
             * close notification (which forgets c) runs before libmicrohttpd closes the socket, so
             * the descriptor is still this connection's. */
            shutdown((int)fd, SHUT_RDWR);
            c->reaped = 1;
        }
    }
    pthread_mutex_unlock(&g->mu);
    return next;
}

static void *gate_main(void *arg)
{
    sp_gate *g = arg;
    struct epoll_event evs[64];
    uint64_t next_due = 0, last_reap = 0;
    for (;;) {
        uint64_t now = now_ns();
        uint64_t wait_ns = 100000000ull; /* look at the deadlines at least every 100 ms */
        if (next_due > now && next_due - now < wait_ns)
            wait_ns = next_due - now;
        int n = epoll_wait(g->ep, evs, 64, (int)(wait_ns / 1000000u) + 1);
        int stop = 0;
        for (int i = 0; i < n; i++) {
            void *p = evs[i].data.ptr;
            if (p == &g->lfd) {
                gate_accept(g);
            } else if (p == &g->wake) {
                stop = 1;
            } else {
                screen(g, p, evs[i].events);
            }
        }
        if (stop)
            break;
        now = now_ns();
        if (now >= next_due || now - last_reap >= 100000000ull) {
            next_due = reap(g, now);
            last_reap = now;
        }
        if (g->listen_paused && now >= g->listen_paused_until) {
            struct epoll_event ev = {.events = EPOLLIN, .data.ptr = &g->lfd};
            if (epoll_ctl(g->ep, EPOLL_CTL_ADD, g->lfd, &ev) == 0)
                g->listen_paused = 0;
        }
    }
    /* stopping: no more connections; those still in the screen sent no whole request */
    close(g->lfd);
    g->lfd = -1;
    pthread_mutex_lock(&g->mu);
    for (size_t fd = 0; fd < g->nfd; fd++) {
        sp_gate_conn *c = g->by_fd[fd];
        if (c && c->phase == PH_SCREEN) {
            forget_locked(g, c);
            close((int)fd);
        }
    }
    pthread_mutex_unlock(&g->mu);
    return NULL;
}

sp_status sp_gate_open(const sp_gate_config *cfg, sp_gate **out, char *err, size_t errlen)
{
    sp_gate *g = calloc(1, sizeof(*g));
    if (!g)
        return SP_ERR_NOMEM;
    g->cfg = *cfg;
    g->lfd = g->ep = g->wake = -1;
    pthread_mutex_init(&g->mu, NULL);
    char host[64];
    host_text(&cfg->addr, host, sizeof(host));
    unsigned want = ntohs(cfg->addr.ss_family == AF_INET6 ? ((const struct sockaddr_in6 *)&cfg->addr)->sin6_port
                                                          : ((const struct sockaddr_in *)&cfg->addr)->sin_port);
    int fd = socket(cfg->addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int one = 1;
    int e = 0;
    /* SO_REUSEADDR only: on Linux it lets a restarted server bind while old connections sit in
     * TIME_WAIT, and never lets two sockets listen on one port (SO_REUSEPORT would) */
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
        (cfg->addr.ss_family == AF_INET6 && setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one)) != 0) ||
        bind(fd, (const struct sockaddr *)&cfg->addr, cfg->addrlen) != 0 || listen(fd, SOMAXCONN) != 0)
        e = errno;
    if (e) {
        const char *why = e == EADDRINUSE      ? "the port is already in use (another process listens on it; "
                                                 "pick another --port, or 0 for a free one)"
                          : e == EACCES        ? "permission denied (ports below 1024 need privileges)"
                          : e == EADDRNOTAVAIL ? "the address is not one of this machine's"
                                               : strerror(e);
        sp_errf(err, errlen, "cannot listen on %s%s%s port %u: %s", cfg->addr.ss_family == AF_INET6 ? "[" : "",
                host, cfg->addr.ss_family == AF_INET6 ? "]" : "", want, why);
        if (fd >= 0)
            close(fd);
        sp_gate_destroy(g);
        return SP_ERR_IO;
    }
    g->lfd = fd;
    struct sockaddr_storage bound;
    socklen_t bl = sizeof(bound);
    if (getsockname(fd, (struct sockaddr *)&bound, &bl) == 0)
        g->port = ntohs(bound.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&bound)->sin6_port
                                                    : ((struct sockaddr_in *)&bound)->sin_port);
    else
        g->port = want;
    *out = g;
    return SP_OK;
}

unsigned sp_gate_port(const sp_gate *g) { return g->port; }

sp_status sp_gate_start(sp_gate *g, struct MHD_Daemon *daemon, char *err, size_t errlen)
{
    g->daemon = daemon;
    g->peek = malloc(g->cfg.max_head_bytes + 1);
    g->ep = epoll_create1(EPOLL_CLOEXEC);
    g->wake = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    struct epoll_event le = {.events = EPOLLIN, .data.ptr = &g->lfd};
    struct epoll_event we = {.events = EPOLLIN, .data.ptr = &g->wake};
    if (!g->peek || g->ep < 0 || g->wake < 0 || epoll_ctl(g->ep, EPOLL_CTL_ADD, g->lfd, &le) != 0 ||
        epoll_ctl(g->ep, EPOLL_CTL_ADD, g->wake, &we) != 0) {
        sp_errf(err, errlen, "cannot set up the listener: %s", strerror(errno));
        return SP_ERR_NOMEM;
    }
    /* every signal blocked, so a caller's handlers never run on this thread */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    int e = pthread_create(&g->thread, NULL, gate_main, g);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (e) {
        sp_errf(err, errlen, "cannot start the listener thread: %s", strerror(e));
        return SP_ERR_NOMEM;
    }
    g->running = 1;
    return SP_OK;
}

void sp_gate_stop(sp_gate *g)
{
    if (!g)
        return;
    if (g->running) {
        uint64_t one = 1;
        if (write(g->wake, &one, sizeof(one)) != sizeof(one)) {
            /* an eventfd write fails only on overflow, which one stop cannot reach */
        }
        pthread_join(g->thread, NULL);
        g->running = 0;
    }
    if (g->lfd >= 0) {
        close(g->lfd);
        g->lfd = -1;
    }
}

void sp_gate_destroy(sp_gate *g)
{
    if (!g)
        return;
    sp_gate_stop(g);
    for (size_t fd = 0; fd < g->nfd; fd++)
        free(g->by_fd[fd]); /* records libmicrohttpd never reported closed; their sockets are its */
    free(g->by_fd);
    free(g->peek);
    if (g->ep >= 0)
        close(g->ep);
    if (g->wake >= 0)
        close(g->wake);
    pthread_mutex_destroy(&g->mu);
    free(g);
}

void sp_gate_get_stats(sp_gate *g, sp_gate_stats *out)
{
    pthread_mutex_lock(&g->mu);
    *out = g->st;
    pthread_mutex_unlock(&g->mu);
}

void sp_gate_on_connection(void *cls, struct MHD_Connection *conn, void **socket_context,
                           enum MHD_ConnectionNotificationCode code)
{
    sp_gate *g = cls;
    if (code == MHD_CONNECTION_NOTIFY_STARTED) {
        const union MHD_ConnectionInfo *ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
        pthread_mutex_lock(&g->mu);
        int fd = ci ? (int)ci->connect_fd : -1;
        *socket_context = fd >= 0 && (size_t)fd < g->nfd ? g->by_fd[fd] : NULL;
        pthread_mutex_unlock(&g->mu);
    } else if (code == MHD_CONNECTION_NOTIFY_CLOSED && *socket_context) {
        pthread_mutex_lock(&g->mu);
        forget_locked(g, *socket_context);
        pthread_mutex_unlock(&g->mu);
        *socket_context = NULL;
    }
}

sp_gate_conn *sp_gate_conn_of(struct MHD_Connection *conn)
{
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    return ci ? ci->socket_context : NULL;
}

void sp_gate_set_phase(sp_gate *g, sp_gate_conn *c, enum sp_gate_phase phase)
{
    if (!g || !c)
        return;
    uint64_t now = now_ns();
    pthread_mutex_lock(&g->mu);
    c->phase = (int)phase;
    c->since_ns = now;
    pthread_mutex_unlock(&g->mu);
}
