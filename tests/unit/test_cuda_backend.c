/* The CUDA backend of servprof serve on a real GPU (skips with 77 without one, or in a build without
 * the backend), through the module's table as the service uses it (libservprof-cuda.so of this
 * build, opened by sp_cuda_backend_load): the same seeded weights give the same embeddings on the
 * CPU and the GPU (max abs difference < 1e-3), graph replays give what eager launches give and
 * respect each batch's lengths, the graph cache evicts past its cap, and a short served run records
 * real kernels and host-to-device / device-to-host copies tied to its batches by id, inside their
 * windows: the module's collector records into this process's recorder. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "testlib.h"

#if !defined(SERVPROF_SERVE_ENABLED) || !defined(SERVPROF_HAVE_CUDA_BACKEND)
int main(void)
{
    fprintf(stderr, "test_cuda_backend: SKIP: this build has no CUDA backend\n");
    return 77;
}
#else
#include "model/events_int.h"
#include "serve/serve_int.h"
#include "servprof/serve.h"

static const sp_cuda_backend *cb; /* the module's table */

static uint64_t rng_state = 12345;
static uint32_t rnd(uint32_t n)
{
    rng_state = rng_state * 6364136223846793005ull + 1442695040888963407ull;
    return (uint32_t)((rng_state >> 33) % n);
}

/* Random ids (padding = id 0) for `batch` sequences padded to S with the given lengths. */
static void make_batch(size_t batch, size_t S, const uint32_t *lens, uint32_t vocab, int32_t *ids)
{
    for (size_t b = 0; b < batch; b++)
        for (size_t t = 0; t < S; t++)
            ids[b * S + t] = t < lens[b] ? (int32_t)(1 + rnd(vocab - 1)) : 0;
}

static double max_abs_diff(const float *a, const float *b, size_t n)
{
    double m = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - (double)b[i]);
        if (!(d <= m)) /* NaN counts as a failure */
            m = d == d ? d : INFINITY;
    }
    return m;
}

/* CPU vs CUDA (eager and graphs) for one model size over several shapes. */
static void check_model(const sp_encoder_config *cfg, const char *label)
{
    char err[512] = "";
    sp_encoder *enc;
    if (sp_encoder_create_seeded(cfg, 7, &enc, err, sizeof err) != SP_OK) {
        fprintf(stderr, "%s: %s\n", label, err);
        CHECK(0);
        return;
    }
    const size_t max_seqs = 16, max_len = cfg->max_len, H = cfg->hidden;
    sp_encoder_ws *cpu_ws;
    sp_cuda_model *m = NULL;
    sp_cuda_ws *eager = NULL, *graphs = NULL;
    CHECK(sp_encoder_ws_create(max_seqs * max_len, &cpu_ws) == SP_OK);
    sp_cuda_weights wv;
    sp_status st = sp_cuda_weights_view(enc, &wv);
    if (st == SP_OK) {
        st = cb->model_create(&wv, 0, &m, err, sizeof err);
        sp_cuda_weights_view_free(&wv);
    }
    if (st == SP_OK)
        st = cb->ws_create(m, max_seqs, max_len, 0, &eager, err, sizeof err);
    if (st == SP_OK) /* cap 2, so the third shape below evicts */
        st = cb->ws_create(m, max_seqs, max_len, 2, &graphs, err, sizeof err);
    if (st != SP_OK)
        fprintf(stderr, "%s: %s\n", label, err);
    CHECK(st == SP_OK);
    int32_t *ids = malloc(max_seqs * max_len * sizeof(int32_t));
    uint32_t lens[16];
    float *ref = malloc(max_seqs * H * sizeof(float)), *ge = malloc(max_seqs * H * sizeof(float)),
          *gg = malloc(max_seqs * H * sizeof(float));
    /* shapes (batch, padded length): odd sizes, a single 2-token input, the largest shape; shape
     * A comes back (replay with other lengths), then B and C push the cache past its cap of 2 */
    static const size_t shapes[][2] = {{5, 37}, {1, 2}, {5, 37}, {16, 0}, {3, 8}, {5, 37}, {5, 37}};
    double worst_cpu = 0, worst_graph = 0;
    for (size_t k = 0; st == SP_OK && k < sizeof shapes / sizeof shapes[0]; k++) {
        size_t batch = shapes[k][0], S = shapes[k][1] ? shapes[k][1] : max_len;
        for (size_t b = 0; b < batch; b++)
            lens[b] = b == 0 ? (uint32_t)S : 1 + rnd((uint32_t)S); /* one full row, others random */
        make_batch(batch, S, lens, cfg->vocab_size, ids);
        CHECK(sp_encoder_forward(enc, cpu_ws, ids, lens, batch, S, ref, NULL, NULL) == SP_OK);
        CHECK(cb->forward(eager, ids, lens, batch, S, ge, err, sizeof err) == SP_OK);
        CHECK(cb->forward(graphs, ids, lens, batch, S, gg, err, sizeof err) == SP_OK);
        CHECK(cb->ws_capture_pending(graphs, err, sizeof err) == SP_OK);
        double dc = max_abs_diff(ref, ge, batch * H), dg = max_abs_diff(ge, gg, batch * H);
        worst_cpu = dc > worst_cpu ? dc : worst_cpu;
        worst_graph = dg > worst_graph ? dg : worst_graph;
        /* 1e-3: float32 sums in another order (cuBLAS vs OpenBLAS) over LayerNorm-scaled values of
         * order 1 differ by ~1e-6; 1e-3 leaves room and still catches any wrong index or mask */
        CHECK(dc < 1e-3);
        /* a replayed graph runs the same kernels on the same shape: same results up to the
         * algorithm cuBLAS picks, which does not change between capture and eager here */
        CHECK(dg < 1e-5);
    }
    sp_cuda_ws_stats gs = {0};
    if (graphs)
        cb->ws_get_stats(graphs, &gs);
    printf("%s: max |cpu - cuda| = %.3g, max |eager - graph| = %.3g; graphs: %llu captured, %llu replayed, "
           "%llu evicted\n",
           label, worst_cpu, worst_graph, (unsigned long long)gs.graph_captures, (unsigned long long)gs.graph_replays,
           (unsigned long long)gs.graph_evictions);
    /* the sequence above: A new, B new, A replay, D new (evicts B, the least recent), E new (evicts
     * A), A new again (evicts D), A replay -> 5 captures, 2 replays, 3 evictions (hand-traced) */
    CHECK_EQ_U64(gs.graph_captures, 5);
    CHECK_EQ_U64(gs.graph_replays, 2);
    CHECK_EQ_U64(gs.graph_evictions, 3);
    /* bad input is refused before touching the device */
    lens[0] = 0;
    CHECK(cb->forward(eager, ids, lens, 1, 4, ge, err, sizeof err) == SP_ERR_INVALID);
    lens[0] = 2;
    CHECK(cb->forward(eager, ids, lens, max_seqs + 1, 4, ge, err, sizeof err) == SP_ERR_LIMIT);
    ids[0] = (int32_t)cfg->vocab_size;
    CHECK(cb->forward(eager, ids, lens, 1, 4, ge, err, sizeof err) == SP_ERR_INVALID);
    free(ids);
    free(ref);
    free(ge);
    free(gg);
    cb->ws_destroy(eager);
    cb->ws_destroy(graphs);
    cb->model_destroy(m);
    sp_encoder_ws_destroy(cpu_ws);
    sp_encoder_destroy(enc);
}

/* Sends `n` POSTs at once on separate connections (so the batcher can group them) and reads each
 * answer to EOF; returns how many came back 200. */
static int post_many(unsigned port, int n)
{
    int fds[32], ok = 0;
    static const char *texts[] = {"hello world", "the quick brown fox jumps over the lazy dog",
                                  "a", "profiling inference services end to end with servprof"};
    for (int i = 0; i < n; i++) {
        fds[i] = socket(AF_INET, SOCK_STREAM, 0);
        struct sockaddr_in a;
        memset(&a, 0, sizeof a);
        a.sin_family = AF_INET;
        a.sin_port = htons((uint16_t)port);
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        if (fds[i] < 0 || connect(fds[i], (struct sockaddr *)&a, sizeof a) != 0) {
            CHECK(0);
            continue;
        }
        char body[256], req[512];
        int bl = snprintf(body, sizeof body, "{\"input\":\"%s\"}", texts[i % 4]);
        int rl = snprintf(req, sizeof req,
                          "POST /v1/embeddings HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                          "Content-Length: %d\r\nConnection: close\r\n\r\n%s",
                          bl, body);
        CHECK(write(fds[i], req, (size_t)rl) == rl);
    }
    for (int i = 0; i < n; i++) {
        char buf[65536];
        size_t got = 0;
        ssize_t r;
        while (got < sizeof buf - 1 && (r = read(fds[i], buf + got, sizeof buf - 1 - got)) > 0)
            got += (size_t)r;
        buf[got] = 0;
        ok += strncmp(buf, "HTTP/1.1 200", 12) == 0;
        close(fds[i]);
    }
    return ok;
}

/* A served run on the GPU with the collector: every batch has kernels, an h2d and a d2h copy tied
 * to it by id, inside its window; no CPU-side stand-in kernels ("l0.qkv_gemm"...) are recorded.
 * `cupti_mode` AUTO with one worker is the lean mode: no API callbacks, so no launch records, and
 * the collector ties work by the batch window (it writes the batch id into each record, so the same
 * by-id checks apply); LAUNCHES ties by correlation id and records the launch calls. */
static void check_served(int graphs, int cupti_mode)
{
    char path[] = "/tmp/servprof-cuda-test-XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    close(fd);
    sp_recorder *rec;
    CHECK(sp_recorder_open(path, NULL, &rec) == SP_OK);
    sp_server_options o;
    sp_server_options_init(&o);
    o.port = 0;
    o.recorder = rec;
    o.device = "cuda";
    o.cuda_graphs = graphs;
    o.cupti_mode = cupti_mode;
    o.pad_to = 16; /* one padded length, so batch shapes repeat and graphs replay */
    o.max_queue_delay_ms = 5;
    char err[512] = "";
    sp_server *srv;
    sp_status st = sp_server_start(&o, &srv, err, sizeof err);
    if (st != SP_OK) {
        fprintf(stderr, "served run: %s\n", err);
        CHECK(0);
        sp_recorder_close(rec);
        unlink(path);
        return;
    }
    printf("served run (%s, cupti mode %d): %s\n", graphs ? "graphs" : "eager", cupti_mode,
           sp_server_device_note(srv));
    int sent = 0, ok = 0;
    for (int round = 0; round < 6; round++) {
        int n = 1 + round % 4;
        ok += post_many(sp_server_port(srv), n);
        sent += n;
    }
    CHECK_EQ_U64(ok, sent);
    sp_server_stop(srv);
    sp_server_stats ss;
    sp_server_get_stats(srv, &ss);
    sp_cupti_stats cs;
    cb->cupti_get_stats(&cs); /* the collector the server started, inside the module */
    sp_server_destroy(srv);
    CHECK(sp_recorder_close(rec) == SP_OK);
    if (graphs)
        CHECK(ss.graph_replays > 0);
    printf("  batches %llu, CUPTI: %llu kernels, %llu copies, %llu launches, %llu attributed, conflict %d; "
           "by window: %llu tied, %llu ambiguous, %llu unmatched\n",
           (unsigned long long)ss.batches, (unsigned long long)cs.kernels, (unsigned long long)cs.copies,
           (unsigned long long)cs.launches, (unsigned long long)cs.attributed, cs.subscriber_conflict,
           (unsigned long long)cs.window_tied, (unsigned long long)cs.window_ambiguous,
           (unsigned long long)cs.window_unmatched);
    CHECK(!cs.subscriber_conflict);
    CHECK_EQ_U64(cs.window_ambiguous, 0); /* one worker: windows never overlap */
    if (cupti_mode == SP_SERVER_CUPTI_LAUNCHES) {
        CHECK(cs.api_callbacks == SP_CUPTI_API_ALL);
        CHECK(cs.launches > 0);
    } else { /* AUTO, one worker: lean */
        CHECK(cs.api_callbacks == SP_CUPTI_API_NONE);
        CHECK_EQ_U64(cs.launches, 0);
        CHECK(cs.window_tied > 0);
    }

    sp_events *ev;
    CHECK(sp_events_create(&ev) == SP_OK);
    st = sp_events_load_file(ev, path, NULL, err, sizeof err);
    if (st != SP_OK)
        fprintf(stderr, "load: %s\n", err);
    CHECK(st == SP_OK);
    size_t nb = ev->n_batches;
    CHECK(nb > 0 && nb == ss.batches);
    size_t *kern = calloc(nb + 1, sizeof(size_t)), *h2d = calloc(nb + 1, sizeof(size_t)),
           *d2h = calloc(nb + 1, sizeof(size_t));
    size_t outside = 0, fake = 0;
    for (size_t i = 0; i < ev->n_acts; i++) {
        const sp_ev_activity *a = &ev->acts[i];
        if (a->kind == SP_ACT_KERNEL && sp_ev_act_name(a) != SP_EV_NONE) {
            const char *nm = sp_str_get(&ev->strings, sp_ev_act_name(a));
            fake += nm && (strstr(nm, "qkv_gemm") || strcmp(nm, "embed") == 0);
        }
        if (a->batch == SP_EV_NONE)
            continue;
        const sp_ev_batch *b = &ev->batches[a->batch];
        /* 20 us: the collector's clock alignment bound is a few microseconds */
        if (a->start_ns + 20000 < b->start_ns || a->end_ns > b->end_ns + 20000)
            outside++;
        if (a->kind == SP_ACT_KERNEL)
            kern[a->batch]++;
        else if (a->kind == SP_ACT_H2D)
            h2d[a->batch]++;
        else if (a->kind == SP_ACT_D2H)
            d2h[a->batch]++;
    }
    size_t bad = 0;
    /* per batch: embed, 12 per layer (2 layers), pool = 26 kernels at least (cuBLAS may split a
     * product into more); one h2d (ids + lengths) and one d2h (embeddings) */
    for (size_t b = 0; b < nb; b++)
        bad += kern[b] < 26 || h2d[b] != 1 || d2h[b] != 1;
    printf("  trace: %zu batches, %zu activities, %zu batches missing work, %zu outside their window, "
           "%zu CPU stand-ins\n",
           nb, ev->n_acts, bad, outside, fake);
    CHECK_EQ_U64(bad, 0);
    CHECK_EQ_U64(outside, 0);
    CHECK_EQ_U64(fake, 0);
    free(kern);
    free(h2d);
    free(d2h);
    sp_events_destroy(ev);
    unlink(path);
}

int main(void)
{
    char why[1024] = "";
    /* this build's module, as the server would open it (the same handle: one module per process) */
    setenv(SP_CUDA_MODULE_ENV, SP_BUILD_DIR "/" SP_CUDA_MODULE_FILE, 1);
    if (sp_cuda_backend_load(&cb, why, sizeof why) != SP_OK) {
        fprintf(stderr, "test_cuda_backend: %s\n", why);
        CHECK(0); /* the build made the module: it must load, GPU or not */
        return sp_test_done("test_cuda_backend");
    }
    if (cb->device_count(why, sizeof why) == 0) {
        fprintf(stderr, "test_cuda_backend: SKIP: %s\n", why);
        return 77;
    }
    char desc[256];
    cb->device_describe(0, desc, sizeof desc);
    printf("GPU: %s\n", desc);
    sp_encoder_config base = {1000, 128, 2, 4, 512, 64};
    check_model(&base, "hidden 128, 4 heads");
    /* widths that are not multiples of a warp or the block size: 3 heads of 20 */
    sp_encoder_config odd = {300, 60, 1, 3, 100, 40};
    check_model(&odd, "hidden 60, 3 heads");
    check_served(0, SP_SERVER_CUPTI_AUTO);
    check_served(1, SP_SERVER_CUPTI_AUTO);
    check_served(0, SP_SERVER_CUPTI_LAUNCHES);
    return sp_test_done("test_cuda_backend");
}
#endif
