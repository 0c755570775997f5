/* The device the encoder runs on: the CPU (OpenBLAS, one thread per worker; each operation of the
 * forward pass recorded as a kernel), or a CUDA GPU through the backend module (cuda_module.c opens
 * it): the weights uploaded once, a workspace per worker, CUPTI recording the device's kernels and
 * copies into the server's recorder, and the device note the CLI prints. */
#include <stdio.h>
#include <string.h>

#include "common/util_int.h"
#include "serve/blas_int.h"
#include "serve/server_int.h"

sp_status sp_srv_cuda_open(sp_server *srv, char *err, size_t errlen)
{
    const sp_server_options *opt = &srv->opt;
    sp_status st;
    /* the module (and through it cudart, cuBLAS, CUPTI) is opened here and nowhere else */
    char why[1024] = "";
    if ((st = sp_cuda_backend_load(&srv->cb, why, sizeof(why))) != SP_OK) {
        sp_errf(err, errlen, "--device cuda: %s", why);
        return st;
    }
    int ndev = srv->cb->device_count(why, sizeof(why));
    if (ndev == 0 || opt->cuda_device >= (unsigned)ndev) {
        if (ndev > 0)
            snprintf(why, sizeof(why), "CUDA device %u does not exist (%d found)", opt->cuda_device, ndev);
        sp_errf(err, errlen, "--device cuda: %s", why);
        return SP_ERR_UNSUPPORTED;
    }
    if (opt->cuda_graphs && (opt->cuda_graph_cap == 0 || opt->cuda_graph_cap > SP_SERVER_MAX_CUDA_GRAPH_CAP)) {
        sp_errf(err, errlen, "--cuda-graph-cap must be 1..%u", SP_SERVER_MAX_CUDA_GRAPH_CAP);
        return SP_ERR_INVALID;
    }
    srv->cuda = 1;
    return SP_OK;
}

/* The module, a GPU that exists, the graph cap, and the weights on the GPU. */
static sp_status open_cuda(sp_server *srv, char *err, size_t errlen)
{
    sp_status st = sp_srv_cuda_open(srv, err, errlen);
    if (st != SP_OK)
        return st;
    sp_cuda_weights wv;
    if ((st = sp_cuda_weights_view(srv->enc, &wv)) != SP_OK)
        return st;
    st = srv->cb->model_create(&wv, (int)srv->opt.cuda_device, &srv->cmodel, err, errlen);
    sp_cuda_weights_view_free(&wv);
    return st;
}

sp_status sp_srv_device_open(sp_server *srv, char *err, size_t errlen)
{
    const char *dev = srv->opt.device && *srv->opt.device ? srv->opt.device : "cpu";
    int cuda = strcmp(dev, "cuda") == 0;
    if (!cuda && strcmp(dev, "cpu") != 0) {
        sp_errf(err, errlen, "unknown device '%s' (cpu or cuda)", dev);
        return SP_ERR_INVALID;
    }
    if (!cuda)
        snprintf(srv->device_note, sizeof(srv->device_note), "device: cpu (OpenBLAS, one thread per worker)");
    if (cuda) {
        sp_status st = open_cuda(srv, err, errlen);
        if (st != SP_OK)
            return st;
    }
    /* one BLAS thread: each worker runs its own batch, and 2 cores are shared with HTTP */
    sp_blas_set_threads(1);
    return SP_OK;
}

sp_status sp_srv_device_ws_create(sp_server *srv, sp_srv_worker *w, char *err, size_t errlen)
{
    if (!srv->cuda)
        return SP_OK;
    return srv->cb->ws_create(srv->cmodel, w->max_seqs, srv->seq_len,
                              srv->opt.cuda_graphs ? srv->opt.cuda_graph_cap : 0, &w->cws, err, errlen);
}

void sp_srv_device_ws_destroy(sp_server *srv, sp_srv_worker *w)
{
    if (srv->cb)
        srv->cb->ws_destroy(w->cws);
}

/* Starts CUPTI in `mode` (lean or launches) and returns the note on what it records, written into
 * cbuf when it could not start. */
static const char *start_cupti(sp_server *srv, int mode, char *cbuf, size_t cbuflen)
{
    sp_cupti_options co;
    srv->cb->cupti_options_init(&co);
    co.record_nvtx_batches = 0;
    if (mode == SP_SERVER_CUPTI_LEAN) {
        co.api_callbacks = SP_CUPTI_API_NONE;
        co.record_launches = 0;
        co.record_syncs = 0;
    }
    sp_status cs = srv->cb->cupti_start(srv->rec, &co);
    if (cs == SP_OK) {
        srv->cupti_started = 1;
        if (mode == SP_SERVER_CUPTI_LEAN && srv->opt.workers > 1)
            return "CUPTI lean (no API callbacks): kernels and copies recorded, tied to batches by "
                   "window; with several workers overlapping windows leave work untied";
        if (mode == SP_SERVER_CUPTI_LEAN)
            return "CUPTI lean (no API callbacks): kernels and copies recorded, tied to batches by "
                   "window (one worker: exact)";
        return "CUPTI with launch callbacks: kernels, copies and launch calls recorded, tied to "
               "batches by correlation id";
    }
    sp_cupti_stats cst;
    srv->cb->cupti_get_stats(&cst);
    if (cst.subscriber_conflict)
        snprintf(cbuf, cbuflen,
                 "CUPTI is held by another subscriber (%s): device activity is NOT recorded, only "
                 "batch windows (their time shows as gap)",
                 cst.conflict_with[0] ? cst.conflict_with : "unknown");
    else
        snprintf(cbuf, cbuflen,
                 "CUPTI could not start (%s): device activity is NOT recorded, only batch windows "
                 "(their time shows as gap)",
                 sp_status_str(cs));
    return cbuf;
}

void sp_srv_device_start_recording(sp_server *srv)
{
    if (!srv->cuda)
        return;
    const sp_server_options *opt = &srv->opt;
    /* started after the weights are up, so the trace's GPU timeline is the serving, not the
     * start-up; the server's own recorder, so kernels and copies join its batches */
    char desc[200], cbuf[256];
    srv->cb->device_describe((int)opt->cuda_device, desc, sizeof(desc));
    const char *rec_note = "device activity not recorded (no trace)";
    int mode = opt->cupti_mode;
    if (mode == SP_SERVER_CUPTI_AUTO)
        /* lean ties work to batches by window, exact only when one thread launches batches */
        mode = opt->workers == 1 ? SP_SERVER_CUPTI_LEAN : SP_SERVER_CUPTI_LAUNCHES;
    if (srv->rec && mode == SP_SERVER_CUPTI_OFF)
        rec_note = "CUPTI off (--no-cupti): batches and stages recorded, device activity NOT recorded "
                   "(batch time shows as gap)";
    else if (srv->rec)
        rec_note = start_cupti(srv, mode, cbuf, sizeof(cbuf));
    const char *graphs = !opt->cuda_graphs ? "eager launches"
                         : opt->generate   ? "CUDA graphs per decode step size (prefill eager)"
                                           : "CUDA graphs per batch shape";
    snprintf(srv->device_note, sizeof(srv->device_note), "device: cuda %u (%s), %s; %s", opt->cuda_device, desc,
             graphs, rec_note);
}

void sp_srv_device_stop_recording(sp_server *srv)
{
    /* the device is idle now: flush CUPTI's buffers into the recorder while it is still open */
    if (srv->cupti_started) {
        srv->cb->cupti_stop();
        srv->cupti_started = 0;
    }
}

/* The CPU encoder's hook after each operation. */
static void on_op(void *user, size_t op, uint64_t start_ns, uint64_t end_ns)
{
    sp_srv_worker *w = user;
    if (!w->srv->rec)
        return;
    /* CPU work stands in for device activity: device 0, stream 0, tied to the batch by id */
    sp_kernel_record k = {w->batch_id, w->srv->op_names[op], 0, 0, 0, start_ns, end_ns};
    sp_record_kernel(w->srv->rec, &k);
}

sp_status sp_srv_device_forward(sp_srv_worker *w, size_t seqs, uint32_t padded)
{
    sp_server *srv = w->srv;
    if (!srv->cuda)
        return sp_encoder_forward(srv->enc, w->ws, w->ids, w->lens, seqs, padded, w->out, on_op, w);
    /* device work launched meanwhile is tied to this batch by CUPTI correlation id, or in lean mode
     * by this window, which ends when the embeddings are in host memory (forward waits), so all of
     * the batch's device work falls inside it */
    srv->cb->cupti_batch_begin(w->batch_id);
    sp_status st = srv->cb->forward(w->cws, w->ids, w->lens, seqs, padded, w->out, NULL, 0);
    srv->cb->cupti_batch_end();
    return st;
}

void sp_srv_device_after_batch(sp_srv_worker *w, sp_status batch_status)
{
    /* a new shape under --cuda-graphs is captured now, after its batch was answered, so the
     * capture's host time lands in no batch window (a failed capture just leaves it eager) */
    if (w->srv->cuda && batch_status == SP_OK)
        (void)w->srv->cb->ws_capture_pending(w->cws, NULL, 0);
}

void sp_srv_device_graph_stats(const sp_server *srv, uint64_t *captures, uint64_t *replays)
{
    *captures = *replays = 0;
    /* read without a lock: plain counters of the workers, good enough for a summary after stop */
    for (unsigned i = 0; srv->cb && srv->workers && i < srv->nworkers; i++) {
        if (!srv->workers[i].cws)
            continue;
        sp_cuda_ws_stats ws;
        srv->cb->ws_get_stats(srv->workers[i].cws, &ws);
        *captures += ws.graph_captures;
        *replays += ws.graph_replays;
    }
}
