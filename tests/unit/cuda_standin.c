/* A stand-in for libservprof-cuda.so that needs no GPU (tests only; build/tests/libsp-cuda-standin.so):
 * the same entry point and table (serve/cuda_backend.h), built with the real module's host side
 * (src/serve/cuda/module_host.c) and the collector's core (src/gpu/gpu_core.c), so the service's
 * whole CUDA path runs on any machine: loading, the weights view, workspaces, forward, graph
 * capture and replay counts, the collector's start, batch marks and stop, recording through the host
 * table into the loader's recorder, logging through the loader's callback, teardown.
 * Its one "device" pools token embeddings: out[b] = mean over t < lengths[b] of tok_emb[ids[b][t]]
 * (no layers: a plain function of the weights view a test can compute itself). Each forward made
 * while its collector runs goes through the collector core as CUPTI activity would: one launch
 * (noted, so the core ties the work to the thread's batch by correlation id; recorded unless lean),
 * then an h2d copy, one kernel "standin_pool" and a d2h copy, on the host clock (offset 0).
 * Its decoder (dec_*) gives, for each sequence asking for logits, logits[v] = wte[v] . wte[t] where t
 * is the sequence's last real token (no layers, no cache reads: a function a test can compute), lays
 * each step out with the real module's host-side code (src/serve/cuda/dec_layout.c: checks, input
 * block, decode graph keys, graph cache) and records each step's activity as its forward does.
 * SP_STANDIN_REFUSE set in the environment makes the entry refuse, for the loader's error path. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/util_int.h"
#include "gpu/gpu_int.h"
#include "serve/cuda/dec_layout.h"
#include "serve/cuda/module_host.h"

struct sp_cuda_model {
    uint32_t vocab, hidden, max_len;
    float *tok_emb; /* copied: the view is borrowed for model_create only */
};

typedef struct shape {
    size_t batch, len;
    uint64_t last_use;
} shape;

struct sp_cuda_ws {
    sp_cuda_model *m;
    size_t max_seqs, max_len;
    size_t graph_cap, ngraphs;
    shape *graphs;
    shape pending; /* batch 0: none */
    uint64_t tick;
    sp_cuda_ws_stats stats;
};

static int standin_device_count(char *why, size_t whylen)
{
    (void)why;
    (void)whylen;
    return 1;
}

static void standin_describe(int device, char *buf, size_t buflen)
{
    snprintf(buf, buflen, "stand-in device %d (tests/unit/cuda_standin.c, no GPU)", device);
}

static int inside(const float *blob, size_t blob_floats, const float *p, size_t n)
{
    return p && p >= blob && (size_t)(p - blob) <= blob_floats && n <= blob_floats - (size_t)(p - blob);
}

static sp_status standin_model_create(const sp_cuda_weights *w, int device, sp_cuda_model **out, char *err,
                                      size_t errlen)
{
    if (device != 0) {
        sp_errf(err, errlen, "stand-in: no device %d", device);
        return SP_ERR_INVALID;
    }
    size_t n = (size_t)w->vocab_size * w->hidden;
    if (!w->blob || w->hidden == 0 || !inside(w->blob, w->blob_floats, w->tok_emb, n) || !w->layer) {
        sp_errf(err, errlen, "stand-in: the weights view is inconsistent");
        return SP_ERR_INVALID;
    }
    sp_cuda_model *m = calloc(1, sizeof *m);
    float *emb = malloc(n * sizeof(float));
    if (!m || !emb) {
        free(m);
        free(emb);
        return SP_ERR_NOMEM;
    }
    memcpy(emb, w->tok_emb, n * sizeof(float));
    m->vocab = w->vocab_size;
    m->hidden = w->hidden;
    m->max_len = w->max_len;
    m->tok_emb = emb;
    *out = m;
    return SP_OK;
}

static void standin_model_destroy(sp_cuda_model *m)
{
    if (!m)
        return;
    free(m->tok_emb);
    free(m);
}

static sp_status standin_ws_create(sp_cuda_model *m, size_t max_seqs, size_t max_len, size_t graph_cap,
                                   sp_cuda_ws **out, char *err, size_t errlen)
{
    if (!m || max_seqs == 0 || max_len == 0 || max_len > m->max_len) {
        sp_errf(err, errlen, "stand-in: bad workspace shape");
        return SP_ERR_INVALID;
    }
    sp_cuda_ws *ws = calloc(1, sizeof *ws);
    if (!ws || (graph_cap && !(ws->graphs = calloc(graph_cap, sizeof *ws->graphs)))) {
        free(ws);
        return SP_ERR_NOMEM;
    }
    ws->m = m;
    ws->max_seqs = max_seqs;
    ws->max_len = max_len;
    ws->graph_cap = graph_cap;
    *out = ws;
    return SP_OK;
}

static void standin_ws_destroy(sp_cuda_ws *ws)
{
    if (!ws)
        return;
    free(ws->graphs);
    free(ws);
}

/* ---- the collector: the real core (gpu_core.c) fed with stand-in activity ---- */

static struct {
    pthread_mutex_t state_lock;
    atomic_int running;
    int ctx_ready;
    sp_gpu_ctx ctx;
    sp_cupti_options opt;
    sp_name_id launch_name, kernel_name;
    atomic_uint_fast64_t next_correlation;
    sp_cupti_stats last;
} g = {.state_lock = PTHREAD_MUTEX_INITIALIZER};

static void standin_cupti_options_init(sp_cupti_options *opt)
{
    memset(opt, 0, sizeof *opt);
    opt->struct_size = sizeof *opt;
    opt->record_launches = 1;
    opt->record_syncs = 1;
}

static sp_status standin_cupti_start(sp_recorder *rec, const sp_cupti_options *opt)
{
    if (!rec)
        return SP_ERR_INVALID;
    pthread_mutex_lock(&g.state_lock);
    sp_status st = SP_OK;
    if (atomic_load_explicit(&g.running, memory_order_relaxed)) {
        st = SP_ERR_STATE;
    } else {
        if (g.ctx_ready)
            sp_gpu_ctx_free(&g.ctx);
        standin_cupti_options_init(&g.opt);
        if (opt)
            g.opt = *opt;
        sp_gpu_clock clock = {0, 0, 0}; /* the stand-in's "device" times are host times */
        g.ctx_ready = sp_gpu_ctx_init(&g.ctx, rec, &clock, 0) == SP_OK;
        if (!g.ctx_ready) {
            st = SP_ERR_NOMEM;
        } else {
            memset(&g.last, 0, sizeof g.last);
            g.last.api_callbacks = g.opt.api_callbacks;
            g.launch_name = sp_recorder_intern(rec, "standinLaunch");
            g.kernel_name = sp_gpu_kernel_name(&g.ctx, "standin_pool");
            /* release: a forward that sees running == 1 sees the ctx */
            atomic_store_explicit(&g.running, 1, memory_order_release);
            sp_log(SP_LOG_INFO, "stand-in collector: started (api_callbacks %d)", g.opt.api_callbacks);
        }
    }
    pthread_mutex_unlock(&g.state_lock);
    return st;
}

static void fill_counts(sp_cupti_stats *s)
{
    s->kernels = g.ctx.counts.kernels;
    s->copies = g.ctx.counts.copies;
    s->launches = __atomic_load_n(&g.ctx.counts.launches, __ATOMIC_RELAXED);
    s->attributed = g.ctx.counts.attributed;
    s->kernel_ns = g.ctx.counts.kernel_ns;
}

static sp_status standin_cupti_stop(void)
{
    pthread_mutex_lock(&g.state_lock);
    sp_status st = SP_ERR_STATE;
    if (atomic_load_explicit(&g.running, memory_order_relaxed)) {
        atomic_store_explicit(&g.running, 0, memory_order_relaxed);
        pthread_mutex_lock(&g.ctx.lock);
        fill_counts(&g.last);
        pthread_mutex_unlock(&g.ctx.lock);
        sp_log(SP_LOG_INFO, "stand-in collector: stopped; %llu kernels", (unsigned long long)g.last.kernels);
        st = SP_OK;
    }
    pthread_mutex_unlock(&g.state_lock);
    return st;
}

static void standin_cupti_get_stats(sp_cupti_stats *out)
{
    pthread_mutex_lock(&g.state_lock);
    *out = g.last;
    if (atomic_load_explicit(&g.running, memory_order_relaxed)) {
        out->running = 1;
        pthread_mutex_lock(&g.ctx.lock);
        fill_counts(out);
        pthread_mutex_unlock(&g.ctx.lock);
    }
    pthread_mutex_unlock(&g.state_lock);
}

static void standin_batch_begin(uint64_t batch_id)
{
    sp_gpu_thread_batch_push(batch_id);
}

static void standin_batch_end(void)
{
    (void)sp_gpu_thread_batch_pop();
}

/* An interval of at least 1 ns (the core skips empty ones as invalid). */
static uint64_t after(uint64_t start, uint64_t end)
{
    return end > start ? end : start + 1;
}

/* ---- forward ---- */

/* One forward's activity as CUPTI would report it: a launch (noted, so the core ties what follows to
 * this thread's batch by correlation id; recorded unless lean), then at the end an h2d copy, the
 * kernel "standin_pool" and a d2h copy over the time the work took, on the host clock. */
typedef struct activity {
    int rec;
    uint64_t corr, t0, t1;
} activity;

static void activity_begin(activity *a)
{
    /* acquire: pairs with the release in start (the ctx is initialised) */
    a->rec = atomic_load_explicit(&g.running, memory_order_acquire);
    a->corr = atomic_fetch_add_explicit(&g.next_correlation, 1, memory_order_relaxed) + 1;
    a->t0 = sp_now_ns();
    if (a->rec) {
        sp_gpu_note_launch(&g.ctx, a->corr);
        if (g.opt.record_launches && g.opt.api_callbacks != SP_CUPTI_API_NONE) {
            sp_record_launch(g.ctx.rec, g.launch_name, a->corr, a->t0, after(a->t0, sp_now_ns()));
            __atomic_fetch_add(&g.ctx.counts.launches, 1, __ATOMIC_RELAXED);
        }
    }
    a->t1 = sp_now_ns();
}

static void activity_end(const activity *a, size_t h2d_bytes, size_t d2h_bytes)
{
    uint64_t t0 = a->t0, t1 = a->t1, t2 = sp_now_ns(), t3 = sp_now_ns();
    uint32_t corr = (uint32_t)a->corr;
    if (!a->rec)
        return;
    sp_gpu_copy_act h2d = {0, SP_GPU_MEMCPY_HTOD, h2d_bytes, t0, after(t0, t1), 0, 7, corr};
    sp_gpu_kernel_act k = {"standin_pool", after(t0, t1), after(after(t0, t1), t2), 0, 7, corr};
    sp_gpu_copy_act d2h = {0, SP_GPU_MEMCPY_DTOH, d2h_bytes, after(after(t0, t1), t2),
                           after(after(after(t0, t1), t2), t3), 0, 7, corr};
    pthread_mutex_lock(&g.ctx.lock);
    sp_gpu_emit_copy(&g.ctx, &h2d);
    sp_gpu_emit_kernel(&g.ctx, &k);
    sp_gpu_emit_copy(&g.ctx, &d2h);
    pthread_mutex_unlock(&g.ctx.lock);
}

static sp_status standin_forward(sp_cuda_ws *ws, const int32_t *ids, const uint32_t *lengths, size_t batch,
                                 size_t padded_len, float *out, char *err, size_t errlen)
{
    const sp_cuda_model *m = ws->m;
    size_t S = padded_len, H = m->hidden;
    if (batch == 0 || S == 0 || S > m->max_len)
        return SP_ERR_INVALID;
    if (batch > ws->max_seqs || S > ws->max_len)
        return SP_ERR_LIMIT;
    if (!sp_forward_inputs_valid(ids, lengths, batch, S, m->vocab))
        return SP_ERR_INVALID;
    activity a;
    activity_begin(&a);
    for (size_t b = 0; b < batch; b++) {
        float *o = out + b * H;
        memset(o, 0, H * sizeof(float));
        for (size_t t = 0; t < lengths[b]; t++) {
            const float *e = m->tok_emb + (size_t)ids[b * S + t] * H;
            for (size_t j = 0; j < H; j++)
                o[j] += e[j];
        }
        for (size_t j = 0; j < H; j++)
            o[j] /= (float)lengths[b];
    }
    activity_end(&a, (ws->max_seqs + batch * S) * 4, batch * H * 4);
    (void)err;
    (void)errlen;
    ws->stats.forwards++;
    /* graphs: a known shape "replays"; a new one is captured after the batch (capture_pending) */
    for (size_t i = 0; i < ws->ngraphs; i++)
        if (ws->graphs[i].batch == batch && ws->graphs[i].len == S) {
            ws->graphs[i].last_use = ++ws->tick;
            ws->stats.graph_replays++;
            return SP_OK;
        }
    if (ws->graph_cap) {
        ws->pending.batch = batch;
        ws->pending.len = S;
    }
    return SP_OK;
}

static sp_status standin_capture_pending(sp_cuda_ws *ws, char *err, size_t errlen)
{
    (void)err;
    (void)errlen;
    if (!ws->pending.batch)
        return SP_OK;
    size_t slot = ws->ngraphs;
    if (ws->ngraphs == ws->graph_cap) {
        slot = 0;
        for (size_t i = 1; i < ws->ngraphs; i++)
            if (ws->graphs[i].last_use < ws->graphs[slot].last_use)
                slot = i;
        ws->stats.graph_evictions++;
    } else {
        ws->ngraphs++;
    }
    ws->graphs[slot] = ws->pending;
    ws->graphs[slot].last_use = ++ws->tick;
    ws->pending.batch = 0;
    ws->stats.graph_captures++;
    return SP_OK;
}

static void standin_ws_get_stats(const sp_cuda_ws *ws, sp_cuda_ws_stats *out)
{
    *out = ws->stats;
}

/* ---- decoder ---- */

struct sp_cuda_dec {
    uint32_t V, H;
    float *wte; /* copied: the view is borrowed for dec_create only */
    sp_dec_limits lim;
    int32_t *block;
    sp_graph_lru graphs;
    uint32_t pending;
    sp_cuda_ws_stats stats;
};

static void standin_dec_destroy(sp_cuda_dec *d)
{
    if (!d)
        return;
    sp_graph_lru_free(&d->graphs);
    free(d->wte);
    free(d->block);
    free(d);
}

static sp_status standin_dec_create(const sp_cuda_dec_weights *w, int device, const sp_cuda_dec_shape *dshape,
                                    sp_cuda_dec **out, char *err, size_t errlen)
{
    if (device != 0) {
        sp_errf(err, errlen, "stand-in: no device %d", device);
        return SP_ERR_INVALID;
    }
    size_t n = (size_t)w->vocab_size * w->hidden;
    if (!w->blob || w->hidden == 0 || !inside(w->blob, w->blob_floats, w->wte, n) || !dshape || !dshape->slots ||
        !dshape->positions || dshape->positions > w->max_len || !dshape->max_rows || !dshape->max_logits) {
        sp_errf(err, errlen, "stand-in: the decoder's weights view or shape is inconsistent");
        return SP_ERR_INVALID;
    }
    sp_cuda_dec *d = calloc(1, sizeof *d);
    if (!d)
        return SP_ERR_NOMEM;
    d->V = w->vocab_size;
    d->H = w->hidden;
    sp_dec_limits lim = {w->vocab_size, w->max_len, dshape->slots, dshape->positions, dshape->max_rows,
                         dshape->max_logits};
    d->lim = lim;
    d->wte = malloc(n * sizeof(float));
    d->block = malloc((SP_DEC_IN_ARRAYS * dshape->max_rows + dshape->max_logits) * sizeof(int32_t));
    if (!d->wte || !d->block || sp_graph_lru_init(&d->graphs, dshape->graph_cap) != SP_OK) {
        standin_dec_destroy(d);
        return SP_ERR_NOMEM;
    }
    memcpy(d->wte, w->wte, n * sizeof(float));
    *out = d;
    return SP_OK;
}

static sp_status standin_dec_step(sp_cuda_dec *d, const sp_cuda_dec_seq *seqs, size_t nseqs, float *logits,
                                  char *err, size_t errlen)
{
    sp_dec_layout lay;
    sp_status st = sp_dec_layout_build(seqs, nseqs, &d->lim, d->block, &lay);
    if (st != SP_OK) {
        sp_errf(err, errlen, "stand-in: decoder step refused");
        return st;
    }
    activity a;
    activity_begin(&a);
    size_t m = 0;
    for (size_t i = 0; i < nseqs; i++) {
        if (!seqs[i].logits)
            continue;
        const float *t = d->wte + (size_t)seqs[i].ids[seqs[i].n - 1] * d->H;
        float *out = logits + m++ * d->V;
        for (uint32_t v = 0; v < d->V; v++) {
            const float *e = d->wte + (size_t)v * d->H;
            float s = 0.0f;
            for (uint32_t j = 0; j < d->H; j++)
                s += e[j] * t[j];
            out[v] = s;
        }
    }
    activity_end(&a, lay.ints * 4, m * d->V * 4);
    d->stats.forwards++;
    if (lay.graph_key && sp_graph_lru_find(&d->graphs, lay.graph_key))
        d->stats.graph_replays++;
    else if (lay.graph_key && d->graphs.cap)
        d->pending = lay.graph_key;
    return SP_OK;
}

static sp_status standin_dec_capture_pending(sp_cuda_dec *d, char *err, size_t errlen)
{
    (void)err;
    (void)errlen;
    uint32_t k = d->pending;
    d->pending = 0;
    if (!k || sp_graph_lru_find(&d->graphs, k))
        return SP_OK;
    /* a "graph" is the decoder itself: nothing to destroy when one is evicted */
    if (sp_graph_lru_put(&d->graphs, k, d))
        d->stats.graph_evictions++;
    d->stats.graph_captures++;
    return SP_OK;
}

static void standin_dec_get_stats(const sp_cuda_dec *d, sp_cuda_ws_stats *out)
{
    *out = d->stats;
}

static const sp_cuda_backend g_backend = {
    .abi = SP_CUDA_BACKEND_ABI,
    .size = (uint32_t)sizeof(sp_cuda_backend),
    .version = SP_VERSION_STRING,
    .device_count = standin_device_count,
    .device_describe = standin_describe,
    .model_create = standin_model_create,
    .model_destroy = standin_model_destroy,
    .ws_create = standin_ws_create,
    .ws_destroy = standin_ws_destroy,
    .forward = standin_forward,
    .ws_capture_pending = standin_capture_pending,
    .ws_get_stats = standin_ws_get_stats,
    .cupti_options_init = standin_cupti_options_init,
    .cupti_start = standin_cupti_start,
    .cupti_stop = standin_cupti_stop,
    .cupti_batch_begin = standin_batch_begin,
    .cupti_batch_end = standin_batch_end,
    .cupti_get_stats = standin_cupti_get_stats,
    .dec_create = standin_dec_create,
    .dec_destroy = standin_dec_destroy,
    .dec_step = standin_dec_step,
    .dec_capture_pending = standin_dec_capture_pending,
    .dec_get_stats = standin_dec_get_stats,
};

__attribute__((visibility("default"))) const sp_cuda_backend *SP_CUDA_BACKEND_ENTRY_SYM(const sp_cuda_host *host,
                                                                                        char *err, size_t errlen);

const sp_cuda_backend *SP_CUDA_BACKEND_ENTRY_SYM(const sp_cuda_host *host, char *err, size_t errlen)
{
    if (getenv("SP_STANDIN_REFUSE")) {
        sp_errf(err, errlen, "refused on request (SP_STANDIN_REFUSE)");
        return NULL;
    }
    if (!sp_cuda_module_attach(host, err, errlen))
        return NULL;
    return &g_backend;
}
