/* The reference service's limits and defaults have one home, serve.h: sp_server_start refuses each
 * option one past its SP_SERVER_MAX_* limit (before loading anything or binding a port) with a
 * message naming the option's range, and sp_server_options_init's values are the SP_SERVER_DEFAULT_*
 * ones that `servprof demo` and the what-if simulator quote without a service. */
#include <string.h>

#include "testlib.h"

#if !defined(SERVPROF_SERVE_ENABLED)
int main(void) { return 77; }
#else
#include "servprof/serve.h"
#include "servprof/whatif.h"

/* Starts with one option changed; expects SP_ERR_INVALID and `word` in the message. */
static void refused(const char *what, void (*set)(sp_server_options *), const char *word)
{
    sp_server_options o;
    sp_server_options_init(&o);
    o.port = 0;
    set(&o);
    char err[512] = "";
    sp_server *srv = NULL;
    sp_status st = sp_server_start(&o, &srv, err, sizeof err);
    CHECK(st == SP_ERR_INVALID);
    CHECK(srv == NULL);
    CHECK(strstr(err, word) != NULL);
    if (st != SP_ERR_INVALID || !strstr(err, word))
        fprintf(stderr, "%s: status %s, message '%s'\n", what, sp_status_str(st), err);
    sp_server_destroy(srv);
}

static void big_batch(sp_server_options *o) { o->max_batch = SP_SERVER_MAX_BATCH + 1; }
static void big_delay(sp_server_options *o) { o->max_queue_delay_ms = SP_SERVER_MAX_QUEUE_DELAY_MS * 1.001; }
static void big_queue(sp_server_options *o) { o->queue_capacity = SP_SERVER_MAX_QUEUE_CAPACITY + 1; }
static void big_workers(sp_server_options *o) { o->workers = SP_SERVER_MAX_WORKERS + 1; }
static void big_http(sp_server_options *o) { o->http_threads = SP_SERVER_MAX_HTTP_THREADS + 1; }
static void big_body(sp_server_options *o) { o->max_body = SP_SERVER_MAX_BODY + 1; }
static void big_inputs(sp_server_options *o) { o->max_inputs = SP_SERVER_MAX_INPUTS + 1; }
static void big_conns(sp_server_options *o) { o->max_connections = SP_SERVER_MAX_CONNECTIONS + 1; }
static void big_per_ip(sp_server_options *o) { o->max_connections_per_ip = SP_SERVER_MAX_CONNECTIONS + 1; }
static void small_header(sp_server_options *o) { o->max_header_bytes = SP_SERVER_MIN_HEADER_BYTES - 1; }
static void big_header(sp_server_options *o) { o->max_header_bytes = SP_SERVER_MAX_HEADER_BYTES + 1; }
static void big_timeout(sp_server_options *o) { o->header_timeout_s = SP_SERVER_MAX_TIMEOUT_S + 1; }

int main(void)
{
    refused("max_batch", big_batch, "max-batch 1..4096");
    refused("max_queue_delay_ms", big_delay, "max-queue-delay-ms 0..60000");
    refused("queue_capacity", big_queue, "queue-capacity 1..1000000");
    refused("workers", big_workers, "workers 1..64");
    refused("http_threads", big_http, "http-threads 1..64");
    refused("max_body", big_body, "max-body 1..1073741824");
    refused("max_inputs", big_inputs, "max-inputs 1..4096");
    refused("max_connections", big_conns, "max-connections 1..100000");
    refused("max_connections_per_ip", big_per_ip, "max-connections-per-ip 0..100000");
    refused("max_header_bytes (small)", small_header, "max-header-bytes 1024..65536");
    refused("max_header_bytes (large)", big_header, "max-header-bytes 1024..65536");
    refused("header_timeout_s", big_timeout, "header-timeout and body-timeout 0..3600 s");

    /* the defaults other parts quote are the ones the service starts with */
    sp_server_options o;
    sp_server_options_init(&o);
    CHECK_EQ_U64(o.layers, SP_SERVER_DEFAULT_LAYERS);
    CHECK_EQ_U64(o.hidden, SP_SERVER_DEFAULT_HIDDEN);
    CHECK_EQ_U64(o.heads, SP_SERVER_DEFAULT_HEADS);
    CHECK_EQ_U64(o.ffn, SP_SERVER_DEFAULT_FFN);
    CHECK_EQ_U64(o.max_len, SP_SERVER_DEFAULT_MAX_LEN);
    CHECK_EQ_U64(o.max_batch, SP_SERVER_DEFAULT_MAX_BATCH);
    CHECK(o.max_queue_delay_ms == SP_SERVER_DEFAULT_MAX_QUEUE_DELAY_MS);
    CHECK_EQ_U64(o.workers, SP_SERVER_DEFAULT_WORKERS);
    CHECK_EQ_U64(o.queue_capacity, SP_SERVER_DEFAULT_QUEUE_CAPACITY);
    /* and the what-if simulator's default policy is the service's */
    sp_whatif_policy p;
    sp_whatif_policy_init(&p);
    CHECK_EQ_U64(p.max_batch, o.max_batch);
    CHECK_EQ_U64(p.max_delay_ns, (uint64_t)(o.max_queue_delay_ms * 1e6));
    CHECK_EQ_U64(p.instances, o.workers);
    CHECK_EQ_U64(p.queue_capacity, o.queue_capacity);
    CHECK_EQ_U64(p.max_len, o.max_len);
    return sp_test_done("test_serve_limits");
}
#endif
