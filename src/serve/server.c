/* The service's lifecycle, the public API of servprof serve (serve.h): its options and their
 * checks, start (the model, the batcher, the device, the workers, then the HTTP side), stop, destroy
 * and the counters. The work itself is in the files server_int.h lists. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/util_int.h"
#include "serve/gen_service_int.h"
#include "serve/server_int.h"
#include "servprof/serve.h"


void sp_server_options_init(sp_server_options *o)
{
    memset(o, 0, sizeof(*o));
    o->host = "127.0.0.1";
    o->seed = 1;
    o->model_name = NULL; /* by mode: "servprof-encoder", or "servprof-decoder" with generate */
    o->layers = SP_SERVER_DEFAULT_LAYERS;
    o->hidden = SP_SERVER_DEFAULT_HIDDEN;
    o->heads = SP_SERVER_DEFAULT_HEADS;
    o->ffn = SP_SERVER_DEFAULT_FFN;
    o->max_len = SP_SERVER_DEFAULT_MAX_LEN;
    o->max_batch = SP_SERVER_DEFAULT_MAX_BATCH;
    o->max_queue_delay_ms = SP_SERVER_DEFAULT_MAX_QUEUE_DELAY_MS;
    o->queue_capacity = SP_SERVER_DEFAULT_QUEUE_CAPACITY;
    o->workers = SP_SERVER_DEFAULT_WORKERS;
    o->http_threads = 1;
    o->max_body = 1u << 20;
    o->max_inputs = 256;
    o->max_connections = 1024;
    o->max_connections_per_ip = 256;
    o->connection_timeout_s = 30;
    o->header_timeout_s = 10;
    o->body_timeout_s = 30;
    o->max_header_bytes = 16384;
    o->device = "cpu";
    o->cuda_graph_cap = 64;
    o->max_num_seqs = SP_SERVER_DEFAULT_MAX_NUM_SEQS;
    o->max_num_batched_tokens = SP_SERVER_DEFAULT_MAX_BATCHED_TOKENS;
}

/* The model name answers carry: the caller's, or the mode's default. */
static const char *model_name_of(const sp_server_options *o)
{
    if (o->model_name)
        return o->model_name;
    return o->generate ? "servprof-decoder" : "servprof-encoder";
}

const char *sp_server_device_note(const sp_server *srv) { return srv->device_note; }

/* The shipped tokenizer: $SERVPROF_DATA_DIR/tokenizer.json, else share/servprof/tokenizer.json next
 * to the running program: <prefix>/share/servprof beside an installed <prefix>/bin/servprof, and
 * build/share/servprof in a build tree (CMake copies it there) for build/servprof and the
 * programs one folder down (build/tests, build/bench). No path from the source tree is compiled in,
 * so an installed or moved build finds its own copy. */
const char *sp_server_default_tokenizer(void)
{
    static char path[4096];
    const char *dir = getenv("SERVPROF_DATA_DIR");
    if (dir && *dir && strlen(dir) < sizeof(path) - 32) {
        snprintf(path, sizeof(path), "%s/tokenizer.json", dir);
        return path;
    }
    char exe[2048]; /* a folder plus the longest suffix below always fits path[] */
    ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
    if (n > 0 && (size_t)n < sizeof(exe) - 1) {
        exe[n] = '\0';
        char *slash = strrchr(exe, '/');
        if (slash) {
            *slash = '\0';
            static const char *const rel[] = {"/../share/servprof/tokenizer.json", "/share/servprof/tokenizer.json"};
            for (size_t i = 0; i < sizeof rel / sizeof rel[0]; i++) {
                snprintf(path, sizeof(path), "%s%s", exe, rel[i]);
                if (access(path, R_OK) == 0)
                    return path;
            }
            /* none there: name the installed place, absolute (a relative name reads as relative to
             * the current folder); the error adds where else it is looked for */
            char *up = strrchr(exe, '/');
            if (up && up != exe)
                *up = '\0';
            snprintf(path, sizeof(path), "%s/share/servprof/tokenizer.json", up == exe ? "" : exe);
            return path;
        }
    }
    return "share/servprof/tokenizer.json"; /* no /proc/self/exe: names what is missing in the error */
}

/* The shipped tokenizer (no --tokenizer) was not found: say where it is looked for and how to name
 * another, after "PATH: cannot open tokenizer: REASON". */
static sp_status default_tokenizer_hint(const sp_server_options *opt, const char *tpath, sp_status st, char *err,
                                        size_t errlen)
{
    if (st == SP_OK || opt->tokenizer_path || !err || !errlen)
        return st;
    size_t n = strlen(tpath), used = strlen(err);
    static const char what[] = ": cannot open tokenizer";
    if (strncmp(err, tpath, n) == 0 && strncmp(err + n, what, sizeof what - 1) == 0 && used < errlen)
        snprintf(err + used, errlen - used,
                 " (the shipped tokenizer: $SERVPROF_DATA_DIR/tokenizer.json, else share/servprof/tokenizer.json "
                 "in or above the program's folder; --tokenizer FILE names another)");
    return st;
}

unsigned sp_server_port(const sp_server *srv) { return srv->port; }

void sp_server_get_stats(const sp_server *srv, sp_server_stats *s)
{
    sp_server *m = (sp_server *)srv; /* atomics loads need a non-const object */
#define LD(f) atomic_load_explicit(&m->st.f, memory_order_relaxed)
    sp_gate_stats g;
    memset(&g, 0, sizeof(g));
    if (m->gate)
        sp_gate_get_stats(m->gate, &g);
    /* requests the front door answered (a bad first head) count like the handler's answers */
    s->requests = LD(requests) + g.bad_heads;
    s->ok = LD(ok);
    s->rejected_full = LD(rejected_full);
    s->bad_request = LD(bad_request) + g.bad_heads_400;
    s->too_large = LD(too_large) + g.bad_heads_413;
    s->not_found = LD(not_found);
    s->bad_method = LD(bad_method);
    s->unsupported_media = LD(unsupported_media);
    s->client_gone = LD(client_gone);
    s->batches = LD(batches);
    s->sequences = LD(sequences);
    s->effective_tokens = LD(effective_tokens);
    s->padded_tokens = LD(padded_tokens);
    s->metrics_served = LD(metrics_served);
    s->health_served = LD(health_served);
    s->rejected_stopping = LD(rejected_stopping);
#undef LD
    s->queue_depth = m->batcher ? sp_batcher_depth(m->batcher) : 0;
    s->connections_accepted = g.accepted;
    s->connections_refused_cap = g.refused_cap;
    s->connections_refused_per_ip = g.refused_per_ip;
    s->header_timeouts = g.header_timeouts;
    s->body_timeouts = g.body_timeouts;
    s->bad_heads = g.bad_heads;
    s->connections_open = g.open_now;
    s->connections_peak = g.open_peak;
    sp_srv_device_graph_stats(m, &s->graph_captures, &s->graph_replays);
    s->steps = s->prompt_tokens = s->generated_tokens = s->running_seqs = 0;
    sp_gen_get_stats(m, s);
}

/* ---- start and stop ---- */

static sp_status check_options(const sp_server_options *o, char *err, size_t errlen)
{
    if (o->max_batch == 0 || o->max_batch > SP_SERVER_MAX_BATCH || o->queue_capacity == 0 ||
        o->queue_capacity > SP_SERVER_MAX_QUEUE_CAPACITY || o->workers == 0 || o->workers > SP_SERVER_MAX_WORKERS ||
        o->http_threads == 0 || o->http_threads > SP_SERVER_MAX_HTTP_THREADS || o->max_body == 0 ||
        o->max_body > SP_SERVER_MAX_BODY || o->max_inputs == 0 || o->max_inputs > SP_SERVER_MAX_INPUTS ||
        o->max_connections == 0 ||
        !(o->max_queue_delay_ms >= 0 && o->max_queue_delay_ms <= SP_SERVER_MAX_QUEUE_DELAY_MS) || o->port > 65535) {
        sp_errf(err, errlen,
                "option out of range (max-batch 1..%u, queue-capacity 1..%u, workers 1..%u, http-threads 1..%u, "
                "max-body 1..%zu, max-inputs 1..%u, max-queue-delay-ms 0..%g, port 0..65535)",
                SP_SERVER_MAX_BATCH, SP_SERVER_MAX_QUEUE_CAPACITY, SP_SERVER_MAX_WORKERS, SP_SERVER_MAX_HTTP_THREADS,
                SP_SERVER_MAX_BODY, SP_SERVER_MAX_INPUTS, SP_SERVER_MAX_QUEUE_DELAY_MS);
        return SP_ERR_INVALID;
    }
    if (o->max_connections > SP_SERVER_MAX_CONNECTIONS || o->max_connections_per_ip > SP_SERVER_MAX_CONNECTIONS ||
        o->max_header_bytes < SP_SERVER_MIN_HEADER_BYTES || o->max_header_bytes > SP_SERVER_MAX_HEADER_BYTES ||
        !(o->header_timeout_s >= 0 && o->header_timeout_s <= SP_SERVER_MAX_TIMEOUT_S) ||
        !(o->body_timeout_s >= 0 && o->body_timeout_s <= SP_SERVER_MAX_TIMEOUT_S)) {
        sp_errf(err, errlen,
                "option out of range (max-connections 1..%u, max-connections-per-ip 0..%u, max-header-bytes "
                "%u..%u, header-timeout and body-timeout 0..%g s)",
                SP_SERVER_MAX_CONNECTIONS, SP_SERVER_MAX_CONNECTIONS, SP_SERVER_MIN_HEADER_BYTES,
                SP_SERVER_MAX_HEADER_BYTES, SP_SERVER_MAX_TIMEOUT_S);
        return SP_ERR_INVALID;
    }
    if (o->cupti_mode < SP_SERVER_CUPTI_AUTO || o->cupti_mode > SP_SERVER_CUPTI_LAUNCHES) {
        sp_errf(err, errlen, "cupti_mode %d is not one of SP_SERVER_CUPTI_*", o->cupti_mode);
        return SP_ERR_INVALID;
    }
    if (o->pad_to && (o->pad_to < 2 || o->pad_to > o->max_len)) {
        sp_errf(err, errlen, "--pad-to %u must be in 2..max-len (%u)", o->pad_to, o->max_len);
        return SP_ERR_INVALID;
    }
    for (int i = 0; i < SP_SERVER_MAX_BUCKETS && o->buckets[i]; i++) {
        if (o->buckets[i] > o->max_len || (i > 0 && o->buckets[i] <= o->buckets[i - 1])) {
            sp_errf(err, errlen, "buckets must ascend and be at most max-len (%u)", o->max_len);
            return SP_ERR_INVALID;
        }
    }
    if (o->pad_to && o->buckets[0]) {
        sp_errf(err, errlen, "--pad-to and --buckets exclude each other");
        return SP_ERR_INVALID;
    }
    const char *m = model_name_of(o);
    if (!*m || strlen(m) >= 128 || strspn(m, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._:/-") !=
                                       strlen(m)) {
        sp_errf(err, errlen, "model name must be 1-127 characters of [A-Za-z0-9._:/-]");
        return SP_ERR_INVALID;
    }
    return o->generate ? sp_gen_check_options(o, err, errlen) : SP_OK;
}

/* The tokenizer and the encoder (from the weights file, or generated from the seed), and the
 * tokens per input they allow, which max-len, pad-to and the buckets must fit. `opt` is the caller's
 * (srv->opt keeps no paths). */
static sp_status load_model(sp_server *srv, const sp_server_options *opt, char *err, size_t errlen)
{
    sp_status st;
    const char *tpath = opt->tokenizer_path ? opt->tokenizer_path : sp_server_default_tokenizer();
    if ((st = sp_tokenizer_load(tpath, &srv->tok, err, errlen)) != SP_OK)
        return default_tokenizer_hint(opt, tpath, st, err, errlen);
    if (opt->weights_path) {
        if ((st = sp_encoder_load_safetensors(opt->weights_path, opt->heads, &srv->enc, err, errlen)) != SP_OK)
            return st;
        if (sp_encoder_get_config(srv->enc)->vocab_size < sp_tokenizer_vocab_size(srv->tok)) {
            sp_errf(err, errlen, "%s: the model's vocabulary (%u) is smaller than the tokenizer's (%zu)",
                    opt->weights_path, sp_encoder_get_config(srv->enc)->vocab_size,
                    sp_tokenizer_vocab_size(srv->tok));
            return SP_ERR_INVALID;
        }
    } else {
        sp_encoder_config cfg = {(uint32_t)sp_tokenizer_vocab_size(srv->tok), opt->hidden, opt->layers, opt->heads,
                                 opt->ffn, opt->max_len};
        if ((st = sp_encoder_create_seeded(&cfg, opt->seed, &srv->enc, err, errlen)) != SP_OK)
            return st;
    }
    const sp_encoder_config *ec = sp_encoder_get_config(srv->enc);
    srv->seq_len = ec->max_len < opt->max_len ? ec->max_len : opt->max_len;
    if (opt->pad_to && opt->pad_to < srv->seq_len)
        srv->seq_len = opt->pad_to;
    int fits = srv->seq_len >= 2 && !(opt->pad_to && opt->pad_to > ec->max_len);
    for (int i = 0; i < SP_SERVER_MAX_BUCKETS && opt->buckets[i]; i++)
        fits = fits && opt->buckets[i] <= srv->seq_len;
    if (!fits) {
        sp_errf(err, errlen, "the model takes at most %u positions; max-len, pad-to and buckets must fit",
                ec->max_len);
        return SP_ERR_INVALID;
    }
    return SP_OK;
}

/* The batcher's configuration from the options; its max_len is the tokens per input. */
static void batcher_config(const sp_server *srv, sp_batcher_config *bc)
{
    const sp_server_options *opt = &srv->opt;
    memset(bc, 0, sizeof(*bc));
    bc->max_batch = opt->max_batch;
    bc->max_delay_ns = (uint64_t)(opt->max_queue_delay_ms * 1e6 + 0.5);
    bc->capacity = opt->queue_capacity;
    bc->pad_to = opt->pad_to;
    for (int i = 0; i < SP_SERVER_MAX_BUCKETS && i < SP_BATCHER_MAX_BUCKETS; i++)
        bc->buckets[i] = opt->buckets[i];
    bc->max_len = srv->seq_len;
}

/* A server object holding a copy of the options (what it keeps of their strings in its own
 * buffers), its counters and locks initialised; NULL when out of memory. */
static sp_server *server_new(const sp_server_options *opt)
{
    sp_server *srv = calloc(1, sizeof(*srv));
    if (!srv)
        return NULL;
    srv->opt = *opt;
    snprintf(srv->host, sizeof(srv->host), "%s", opt->host ? opt->host : "127.0.0.1");
    snprintf(srv->model_name, sizeof(srv->model_name), "%s", model_name_of(opt));
    srv->opt.host = srv->host;
    srv->opt.model_name = srv->model_name;
    srv->opt.tokenizer_path = srv->opt.weights_path = NULL; /* borrowed: not kept */
    srv->rec = opt->recorder;
    atomic_init(&srv->next_request, 1);
    atomic_init(&srv->next_batch, 1);
    atomic_init(&srv->stopping, 0);
    pthread_mutex_init(&srv->stop_mu, NULL);
    pthread_mutex_init(&srv->live_mu, NULL);
    pthread_cond_init(&srv->live_cv, NULL);
    return srv;
}

sp_status sp_server_start(const sp_server_options *opt, sp_server **out, char *err, size_t errlen)
{
    if (!opt || !out)
        return SP_ERR_INVALID;
    sp_status st = check_options(opt, err, errlen);
    if (st != SP_OK)
        return st;
    sp_server *srv = server_new(opt);
    if (!srv)
        return SP_ERR_NOMEM;
    if (opt->generate) {
        /* the generation service (gen_service.c): its own model, scheduler and engine */
        const char *tpath = opt->tokenizer_path ? opt->tokenizer_path : sp_server_default_tokenizer();
        st = default_tokenizer_hint(opt, tpath, sp_gen_start(srv, opt, tpath, err, errlen), err, errlen);
        if (st != SP_OK || (st = sp_srv_http_start(srv, err, errlen)) != SP_OK)
            goto fail;
        *out = srv;
        return SP_OK;
    }
    if ((st = load_model(srv, opt, err, errlen)) != SP_OK)
        goto fail;
    if ((st = sp_srv_intern_op_names(srv)) != SP_OK)
        goto fail;
    sp_batcher_config bc;
    batcher_config(srv, &bc);
    if ((st = sp_batcher_create(&bc, &srv->batcher)) != SP_OK) {
        sp_errf(err, errlen, "cannot create the batcher: %s", sp_status_str(st));
        goto fail;
    }
    if ((st = sp_srv_device_open(srv, err, errlen)) != SP_OK)
        goto fail;
    if ((st = sp_srv_workers_create(srv, err, errlen)) != SP_OK)
        goto fail;
    sp_srv_device_start_recording(srv);
    sp_srv_record_properties(srv, &bc, sp_encoder_get_config(srv->enc));
    if ((st = sp_srv_workers_start(srv, err, errlen)) != SP_OK)
        goto fail;
    if ((st = sp_srv_http_start(srv, err, errlen)) != SP_OK)
        goto fail;
    *out = srv;
    return SP_OK;
fail:
    sp_server_destroy(srv);
    return st;
}

sp_status sp_server_save_weights(const sp_server_options *opt, const char *path, char *err, size_t errlen)
{
    const char *tpath = opt->tokenizer_path ? opt->tokenizer_path : sp_server_default_tokenizer();
    if (opt->generate)
        return default_tokenizer_hint(opt, tpath, sp_gen_save_weights(opt, tpath, path, err, errlen), err, errlen);
    sp_tokenizer *tok;
    sp_status st = sp_tokenizer_load(tpath, &tok, err, errlen);
    if (st != SP_OK)
        return default_tokenizer_hint(opt, tpath, st, err, errlen);
    sp_encoder_config cfg = {(uint32_t)sp_tokenizer_vocab_size(tok), opt->hidden, opt->layers, opt->heads, opt->ffn,
                             opt->max_len};
    sp_tokenizer_destroy(tok);
    sp_encoder *enc;
    if ((st = sp_encoder_create_seeded(&cfg, opt->seed, &enc, err, errlen)) != SP_OK)
        return st;
    st = sp_encoder_save_safetensors(enc, path, err, errlen);
    sp_encoder_destroy(enc);
    return st;
}

void sp_server_stop(sp_server *srv)
{
    if (!srv)
        return;
    pthread_mutex_lock(&srv->stop_mu);
    if (srv->stopped) {
        pthread_mutex_unlock(&srv->stop_mu);
        return;
    }
    srv->stopped = 1;
    atomic_store_explicit(&srv->stopping, 1, memory_order_relaxed);
    /* no new connections; requests already queued still get their answers */
    sp_gate_stop(srv->gate);
    if (srv->batcher)
        sp_batcher_close(srv->batcher);
    sp_gen_stop(srv);
    sp_srv_workers_join(srv);
    sp_srv_device_stop_recording(srv);
    sp_srv_http_stop(srv);
    pthread_mutex_unlock(&srv->stop_mu);
}

void sp_server_destroy(sp_server *srv)
{
    if (!srv)
        return;
    sp_server_stop(srv);
    sp_gen_destroy(srv);
    sp_srv_workers_free(srv);
    sp_batcher_destroy(srv->batcher);
    sp_encoder_destroy(srv->enc);
    if (srv->cb)
        srv->cb->model_destroy(srv->cmodel);
    sp_tokenizer_destroy(srv->tok);
    free(srv->op_names);
    sp_gate_destroy(srv->gate); /* after the daemon, whose close notifications use it */
    pthread_mutex_destroy(&srv->stop_mu);
    pthread_mutex_destroy(&srv->live_mu);
    pthread_cond_destroy(&srv->live_cv);
    free(srv);
}
