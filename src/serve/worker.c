/* The batch workers: each takes a due batch from the batcher, records its members' queue spans,
 * lays their inputs out padded, runs the batch on the device (device.c), records the batch, and
 * hands every member its answer by resuming its suspended connection. */
#include <stdlib.h>
#include <string.h>

#include "common/util_int.h"
#include "serve/server_int.h"

sp_status sp_srv_workers_create(sp_server *srv, char *err, size_t errlen)
{
    const sp_server_options *opt = &srv->opt;
    const sp_encoder_config *ec = sp_encoder_get_config(srv->enc);
    srv->nworkers = opt->workers;
    srv->workers = calloc(opt->workers, sizeof(sp_srv_worker));
    if (!srv->workers)
        return SP_ERR_NOMEM;
    /* a request's inputs stay together, so a batch may hold max_inputs of them */
    size_t max_seqs = opt->max_batch > opt->max_inputs ? opt->max_batch : opt->max_inputs;
    for (unsigned i = 0; i < opt->workers; i++) {
        sp_srv_worker *w = &srv->workers[i];
        w->srv = srv;
        w->max_seqs = max_seqs;
        w->items = calloc(opt->max_batch, sizeof(*w->items));
        w->members = calloc(opt->max_batch, sizeof(*w->members));
        w->ids = malloc(max_seqs * srv->seq_len * sizeof(int32_t));
        w->lens = malloc(max_seqs * sizeof(uint32_t));
        w->out = malloc(max_seqs * ec->hidden * sizeof(float));
        if (!w->items || !w->members || !w->ids || !w->lens || !w->out ||
            sp_encoder_ws_create(max_seqs * srv->seq_len, &w->ws) != SP_OK)
            return SP_ERR_NOMEM;
        sp_status st = sp_srv_device_ws_create(srv, w, err, errlen);
        if (st != SP_OK)
            return st;
    }
    return SP_OK;
}

void sp_srv_workers_free(sp_server *srv)
{
    for (unsigned i = 0; srv->workers && i < srv->nworkers; i++) {
        sp_srv_worker *w = &srv->workers[i];
        sp_encoder_ws_destroy(w->ws);
        sp_srv_device_ws_destroy(srv, w);
        free(w->items);
        free(w->members);
        free(w->ids);
        free(w->lens);
        free(w->out);
    }
    free(srv->workers);
    srv->workers = NULL;
}

/* Records the n members' queue spans (they end at `dispatch`) and lays their inputs out as rows of
 * `padded` tokens in w->ids, the padding positions holding the [PAD] id. Returns the number of
 * inputs; *effective gets the sum of their lengths. */
static size_t lay_out_batch(sp_srv_worker *w, size_t n, uint32_t padded, uint64_t dispatch, uint64_t *effective)
{
    sp_server *srv = w->srv;
    const int32_t pad_id = sp_tokenizer_pad_id(srv->tok);
    size_t seqs = 0;
    *effective = 0;
    for (size_t i = 0; i < n; i++) {
        sp_srv_req *r = w->items[i].user;
        sp_record_stage(srv->rec, r->id, SP_STAGE_QUEUE, r->enqueue_ns, dispatch);
        w->members[i] = r->id;
        for (uint32_t s = 0; s < r->seqs; s++, seqs++) {
            int32_t *row = w->ids + seqs * padded;
            memcpy(row, r->ids + r->offs[s], r->lens[s] * sizeof(int32_t));
            for (size_t t = r->lens[s]; t < padded; t++)
                row[t] = pad_id;
            w->lens[seqs] = r->lens[s];
            *effective += r->lens[s];
        }
    }
    return seqs;
}

/* Gives each of the n members its answer (its rows of w->out, or the batch's error) and resumes its
 * connection. */
static void answer_batch(sp_srv_worker *w, size_t n, sp_status st, uint64_t end)
{
    sp_server *srv = w->srv;
    const size_t H = sp_encoder_get_config(srv->enc)->hidden;
    size_t at = 0;
    for (size_t i = 0; i < n; i++) {
        sp_srv_req *r = w->items[i].user;
        r->batch_end_ns = end;
        if (st == SP_OK)
            sp_srv_build_response(srv, r, w->out + at * H);
        else
            sp_srv_set_error(r, MHD_HTTP_INTERNAL_SERVER_ERROR, "server_error", sp_status_str(st));
        at += r->seqs;
        r->state = SP_SRV_READY;
        /* last touch: once resumed, the HTTP thread owns the request again */
        MHD_resume_connection(r->conn);
    }
}

static void *worker_main(void *arg)
{
    sp_srv_worker *w = arg;
    sp_server *srv = w->srv;
    for (;;) {
        uint32_t padded = 0;
        size_t n = sp_batcher_next(srv->batcher, w->items, srv->opt.max_batch, &padded);
        if (n == 0)
            break;
        uint64_t dispatch = sp_now_ns();
        w->batch_id = atomic_fetch_add_explicit(&srv->next_batch, 1, memory_order_relaxed);
        uint64_t effective;
        size_t seqs = lay_out_batch(w, n, padded, dispatch, &effective);
        sp_status st = sp_srv_device_forward(w, seqs, padded);
        uint64_t end = sp_now_ns();
        /* DESIGN section 2: effective = sum of member lengths; padded = batch size x padded length */
        sp_record_batch(srv->rec, w->batch_id, w->members, n, dispatch, end, effective, (uint64_t)seqs * padded);
        SP_SRV_STAT_ADD(srv, batches, 1);
        SP_SRV_STAT_ADD(srv, sequences, seqs);
        SP_SRV_STAT_ADD(srv, effective_tokens, effective);
        SP_SRV_STAT_ADD(srv, padded_tokens, (uint64_t)seqs * padded);
        answer_batch(w, n, st, end);
        sp_srv_device_after_batch(w, st);
    }
    return NULL;
}

sp_status sp_srv_workers_start(sp_server *srv, char *err, size_t errlen)
{
    for (unsigned i = 0; i < srv->nworkers; i++) {
        if (pthread_create(&srv->workers[i].thread, NULL, worker_main, &srv->workers[i]) != 0) {
            sp_errf(err, errlen, "cannot start worker threads");
            return SP_ERR_NOMEM;
        }
        srv->workers[i].started = 1;
    }
    return SP_OK;
}

void sp_srv_workers_join(sp_server *srv)
{
    for (unsigned i = 0; srv->workers && i < srv->nworkers; i++)
        if (srv->workers[i].started) {
            pthread_join(srv->workers[i].thread, NULL);
            srv->workers[i].started = 0;
        }
}
