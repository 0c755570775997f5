/* The front door of servprof serve: gate.c holds the listening socket, the connection caps, the
 * screen that reads each connection's first request head before libmicrohttpd does, and the
 * per-request header and body deadlines; head_check.c the socket-free checks of a head and the one
 * function that writes OpenAI-shaped error bodies, so an error from the front door reads like one
 * from the handler (answer.c). Private to src/serve. */
#ifndef SERVPROF_SERVE_GATE_INT_H
#define SERVPROF_SERVE_GATE_INT_H

#include <microhttpd.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "servprof/servprof.h"

/* ---------------- error bodies (head_check.c) ---------------- */

/* {"error":{"message":MESSAGE,"type":TYPE,"param":null,"code":null}}, malloc'd (NULL when out of
 * memory). Bytes of `message` outside printable ASCII become '?', so a client's bytes quoted in a
 * message can never make the body invalid JSON. */
char *sp_serve_error_json(const char *type, const char *message);

/* ---------------- the request-head screen (head_check.c) ---------------- */

/* Where a request head ends in p[0, n): the offset just past the empty line that closes it (CRLF or
 * bare LF line ends; empty lines before the request line are skipped, as RFC 9112 section 2.2
 * allows), or 0 when it has not all arrived yet. */
size_t sp_gate_head_end(const char *p, size_t n);

/* Checks a complete request head (p[0, n), as found by sp_gate_head_end) for what libmicrohttpd
 * would otherwise answer itself with an HTML page, or a framing that could smuggle a request:
 * a malformed request line (400) or HTTP version other than 1.0/1.1 (505); a header line without a
 * name and colon, or folded onto the previous one (400); a Content-Length that is not a
 * non-negative integer, or several that disagree (400); one over `max_body` (413); a
 * Transfer-Encoding other than chunked (501); both Content-Length and Transfer-Encoding (400).
 * Returns 0 when the head is fine, else the HTTP status, with the reason in msg. */
unsigned sp_gate_check_head(const char *p, size_t n, size_t max_body, char *msg, size_t msglen);

/* ---------------- the gate (gate.c) ---------------- */

typedef struct sp_gate sp_gate;
typedef struct sp_gate_conn sp_gate_conn;

/* Told of each request the gate answers itself (DESIGN 8a: the service records every request it
 * answers): `status` the answer, `start_ns` when the connection was accepted, `head` the request head
 * it read (`head_len` bytes), or NULL for a connection refused at accept (503: no request was read).
 * Called on the gate's thread, before the connection is closed. */
typedef void (*sp_gate_answered_fn)(void *user, unsigned status, uint64_t start_ns, const char *head,
                                    size_t head_len);

typedef struct sp_gate_config {
    sp_gate_answered_fn on_answered; /* NULL: nobody is told */
    void *on_answered_user;
    struct sockaddr_storage addr; /* address to listen on (IPv4 or IPv6; port 0: ephemeral) */
    socklen_t addrlen;
    unsigned max_connections;     /* open connections, from accept to close */
    unsigned max_per_ip;          /* open connections from one address; 0: no cap */
    uint64_t header_timeout_ns;   /* request line + headers within this of the request's start; 0: none */
    uint64_t body_timeout_ns;     /* body within this of the headers; 0: none */
    size_t max_head_bytes;        /* request line + headers; larger: 431 (or 414 for the line) */
    size_t max_body;              /* a Content-Length above this: 413 */
} sp_gate_config;

typedef struct sp_gate_stats {
    uint64_t accepted;            /* connections admitted */
    uint64_t refused_cap;         /* answered 503 and closed: max_connections were open */
    uint64_t refused_per_ip;      /* answered 503 and closed: max_per_ip were open from its address */
    uint64_t header_timeouts;     /* closed at the header deadline (idle keep-alive included) */
    uint64_t body_timeouts;       /* closed at the body deadline */
    uint64_t bad_heads;           /* first request heads answered with an error by the screen */
    uint64_t bad_heads_400;       /* of those, 400 */
    uint64_t bad_heads_413;       /* of those, 413, 414 and 431 (too large) */
    uint64_t open_now, open_peak; /* connections counted against the caps */
} sp_gate_stats;

/* Binds and listens on cfg->addr: SO_REUSEADDR (a restart need not wait out TIME_WAIT) but never
 * SO_REUSEPORT, so a port another process listens on is an error (SP_ERR_IO, `err` names the
 * address and port). Nothing is accepted until sp_gate_start. */
sp_status sp_gate_open(const sp_gate_config *cfg, sp_gate **out, char *err, size_t errlen);

/* The bound port. */
unsigned sp_gate_port(const sp_gate *g);

/* Starts the gate's thread: it accepts, screens first heads and hands good connections to `daemon`
 * (started with MHD_USE_NO_LISTEN_SOCKET and sp_gate_on_connection as its
 * MHD_OPTION_NOTIFY_CONNECTION callback, with `g` as closure), and closes connections past their
 * deadlines. */
sp_status sp_gate_start(sp_gate *g, struct MHD_Daemon *daemon, char *err, size_t errlen);

/* Stops accepting: closes the listening socket and every connection still in the screen, and joins
 * the thread. Connections already handed to libmicrohttpd are left to it. Idempotent. */
void sp_gate_stop(sp_gate *g);

/* Frees the gate (stops it first). Call after MHD_stop_daemon, whose close notifications use it. */
void sp_gate_destroy(sp_gate *g);

void sp_gate_get_stats(sp_gate *g, sp_gate_stats *out);

/* libmicrohttpd's MHD_OPTION_NOTIFY_CONNECTION callback (closure: the gate): ties a handed-over
 * connection to its gate record, and forgets the record when the connection closes. */
void sp_gate_on_connection(void *cls, struct MHD_Connection *conn, void **socket_context,
                           enum MHD_ConnectionNotificationCode code);

/* What a connection's current request is doing, for its deadline. */
enum sp_gate_phase {
    SP_GATE_WAIT_HEAD = 1, /* waiting for a request head: header deadline from the phase's start */
    SP_GATE_WAIT_BODY,     /* head in, body arriving: body deadline from the phase's start */
    SP_GATE_BUSY           /* request complete; queued, computing or answering: no deadline */
};

/* The gate record of a libmicrohttpd connection, NULL when it has none. Call from the handler. */
sp_gate_conn *sp_gate_conn_of(struct MHD_Connection *conn);

/* Moves a connection's request to `phase`, starting its deadline clock now. NULL is fine. */
void sp_gate_set_phase(sp_gate *g, sp_gate_conn *c, enum sp_gate_phase phase);

#endif
