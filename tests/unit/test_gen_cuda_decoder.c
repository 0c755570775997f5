/* The generation service's decoder on a real GPU against the OpenBLAS decoder (skips with 77 without
 * a GPU, or in a build without the CUDA backend), through the module's table as the service uses it
 * (libservprof-cuda.so of this build): the same seeded weights and the same steps (prefills padded to
 * a bucket, a prompt in two chunks, decodes of 4, then 3, then 1 sequences in non-contiguous slots)
 * give the same logits on both, every step, within TOL, and the same greedy tokens, eager and with
 * CUDA graphs; with graphs the decode steps of each new size run eagerly once and replay after
 * (captures, replays and one eviction at cap 2 counted by hand below). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "testlib.h"

#if !defined(SERVPROF_SERVE_ENABLED) || !defined(SERVPROF_HAVE_CUDA_BACKEND)
int main(void)
{
    fprintf(stderr, "test_gen_cuda_decoder: SKIP: this build has no CUDA backend\n");
    return 77;
}
#else
#include "serve/gen_service_int.h"

#define NSEQ 4
#define STEPS 18
#define MAXTOK 64

/* float32 on both sides, in different orders (cuBLAS vs OpenBLAS products, block reductions vs
 * sequential loops): each differs from exact by ~1e-6 relative per operation, so logits of about 0.3
 * after 2 layers agree to ~1e-5. 5e-4 leaves a wide margin and is still far below what a wrong
 * position, mask or cache entry does (test_gen_decoder.c: those move logits by 1e-2). */
#define TOL 5e-4

static const sp_cuda_backend *cb;

typedef struct seq_state {
    int32_t tok[MAXTOK];
    uint32_t len;  /* tokens known (prompt, then outputs) */
    uint32_t done; /* positions in the cache */
} seq_state;

static int32_t argmax(const float *v, uint32_t n, float *gap)
{
    int32_t best = 0;
    float second = -INFINITY;
    for (uint32_t i = 1; i < n; i++) {
        if (v[i] > v[best]) {
            second = v[best];
            best = (int32_t)i;
        } else if (v[i] > second) {
            second = v[i];
        }
    }
    *gap = v[best] - second;
    return best;
}

/* Step s of the script (documented above): fills seqs and returns how many. */
static size_t plan(int s, seq_state *st, sp_dec_seq *seqs)
{
    size_t n = 0;
#define ADD(slot_, count_, rows_, logits_)                                                                   \
    do {                                                                                                    \
        sp_dec_seq d_ = {(slot_), st[slot_].done, (count_), (rows_), st[slot_].tok + st[slot_].done, (logits_)}; \
        seqs[n++] = d_;                                                                                     \
    } while (0)
    if (s == 0) {
        ADD(0, 7, 8, 1); /* a prompt of 7 padded to a bucket of 8 */
        ADD(1, 3, 3, 1);
        ADD(2, 8, 8, 0); /* the first chunk of 12 */
        ADD(3, 1, 1, 1);
    } else if (s == 1) {
        ADD(0, 1, 1, 1);
        ADD(1, 1, 1, 1);
        ADD(3, 1, 1, 1);
        ADD(2, 4, 8, 1); /* the last chunk, padded */
    } else {
        for (uint32_t slot = 0; slot < NSEQ; slot++) {
            if ((slot == 1 && s >= 10) || (slot != 2 && s >= 15))
                continue; /* 4 sequences until step 9, 3 until 14, then 1 */
            ADD(slot, 1, 1, 1);
        }
    }
#undef ADD
    return n;
}

/* Runs the script on the CPU and on the GPU (graph_cap 0: eager), comparing every step. */
static void run(const sp_decoder *dec, size_t graph_cap, const char *label)
{
    const sp_decoder_config *c = sp_decoder_get_config(dec);
    const uint32_t V = c->vocab_size;
    char err[512] = "";
    sp_decoder_kv *kv = NULL;
    sp_decoder_ws *ws = NULL;
    sp_cuda_dec *gd = NULL;
    CHECK(sp_decoder_kv_create(dec, NSEQ, c->max_len, &kv) == SP_OK);
    CHECK(sp_decoder_ws_create(64, NSEQ, &ws) == SP_OK);
    sp_cuda_dec_weights wv;
    CHECK(sp_gen_dec_weights_view(dec, &wv) == SP_OK);
    sp_cuda_dec_shape shape = {NSEQ, c->max_len, 64, NSEQ, graph_cap};
    sp_status st = cb->dec_create(&wv, 0, &shape, &gd, err, sizeof err);
    sp_gen_dec_weights_view_free(&wv);
    if (st != SP_OK)
        fprintf(stderr, "%s: %s\n", label, err);
    CHECK(st == SP_OK);
    float *cpu = malloc((size_t)NSEQ * V * sizeof(float)), *gpu = malloc((size_t)NSEQ * V * sizeof(float));
    seq_state s[NSEQ];
    static const uint32_t prompt[NSEQ] = {7, 3, 12, 1};
    for (int i = 0; i < NSEQ; i++) {
        s[i].len = prompt[i];
        s[i].done = 0;
        for (uint32_t t = 0; t < prompt[i]; t++)
            s[i].tok[t] = (int32_t)((37u * (unsigned)i + 11u * t + 5u) % V);
    }
    double worst = 0;
    int tokens = 0, same = 0, ties = 0;
    for (int step = 0; gd && step < STEPS; step++) {
        sp_dec_seq seqs[NSEQ];
        size_t n = plan(step, s, seqs);
        CHECK(sp_decoder_forward(dec, kv, ws, seqs, n, cpu, NULL, NULL) == SP_OK);
        st = cb->dec_step(gd, seqs, n, gpu, err, sizeof err);
        if (st != SP_OK) {
            fprintf(stderr, "%s step %d: %s\n", label, step, err);
            CHECK(0);
            break;
        }
        if (graph_cap)
            CHECK(cb->dec_capture_pending(gd, err, sizeof err) == SP_OK);
        size_t m = 0;
        for (size_t i = 0; i < n; i++) {
            seq_state *q = &s[seqs[i].slot];
            q->done += seqs[i].n;
            if (!seqs[i].logits)
                continue;
            const float *a = cpu + m * V, *b = gpu + m * V;
            m++;
            for (uint32_t v = 0; v < V; v++) {
                double d = fabs((double)a[v] - (double)b[v]);
                if (!(d <= worst)) /* NaN counts as a failure */
                    worst = d == d ? d : INFINITY;
            }
            float ga, gb;
            int32_t ta = argmax(a, V, &ga), tb = argmax(b, V, &gb);
            tokens++;
            /* a near tie (top two closer than twice the tolerance) may break either way */
            if (ga < 2 * TOL)
                ties++;
            else
                same += ta == tb;
            q->tok[q->len++] = ta; /* both fed the CPU's token: they stay on one path */
        }
    }
    sp_cuda_ws_stats gs = {0};
    if (gd)
        cb->dec_get_stats(gd, &gs);
    printf("%s: %d tokens, %d greedy tokens equal, %d near ties; max |logit cpu - gpu| = %.3g; forwards %llu, graphs "
           "%llu captured, %llu replayed, %llu evicted\n",
           label, tokens, same, ties, worst, (unsigned long long)gs.forwards, (unsigned long long)gs.graph_captures,
           (unsigned long long)gs.graph_replays, (unsigned long long)gs.graph_evictions);
    CHECK(worst < TOL);
    CHECK_EQ_U64(same + ties, tokens);
    CHECK(tokens > 50);
    CHECK_EQ_U64(gs.forwards, STEPS);
    if (graph_cap) {
        /* decode-only steps: 2..9 of 4 sequences (the first eager, 7 replays), 10..14 of 3 (1 + 4),
         * 15..17 of 1 (1 + 2): 3 captures, 13 replays; at cap 2 the third evicts the size 4 */
        CHECK_EQ_U64(gs.graph_captures, 3);
        CHECK_EQ_U64(gs.graph_replays, 13);
        CHECK_EQ_U64(gs.graph_evictions, graph_cap < 3 ? 1 : 0);
    } else {
        CHECK_EQ_U64(gs.graph_replays, 0);
    }
    cb->dec_destroy(gd);
    sp_decoder_kv_destroy(kv);
    sp_decoder_ws_destroy(ws);
    free(cpu);
    free(gpu);
}

int main(void)
{
    char why[1024] = "";
    setenv(SP_CUDA_MODULE_ENV, SP_BUILD_DIR "/" SP_CUDA_MODULE_FILE, 1);
    if (sp_cuda_backend_load(&cb, why, sizeof why) != SP_OK) {
        fprintf(stderr, "test_gen_cuda_decoder: %s\n", why);
        CHECK(0); /* the build made the module: it must load, GPU or not */
        return sp_test_done("test_gen_cuda_decoder");
    }
    if (cb->device_count(why, sizeof why) == 0) {
        fprintf(stderr, "test_gen_cuda_decoder: SKIP: %s\n", why);
        return 77;
    }
    char desc[200];
    cb->device_describe(0, desc, sizeof desc);
    printf("GPU: %s\n", desc);
    /* two shapes: several heads and layers; one head of width 256 (more than a block's 128 threads:
     * the attention's loops over the head dimension wrap) with a feed-forward no wider than the model */
    static const sp_decoder_config cfgs[] = {{500, 128, 2, 4, 512, 128}, {300, 256, 1, 1, 256, 64}};
    for (size_t i = 0; i < sizeof cfgs / sizeof cfgs[0]; i++) {
        char err[256] = "", label[64];
        sp_decoder *dec;
        if (sp_decoder_create_seeded(&cfgs[i], 11 + i, &dec, err, sizeof err) != SP_OK) {
            fprintf(stderr, "%s\n", err);
            CHECK(0);
            continue;
        }
        snprintf(label, sizeof label, "model %zu eager", i);
        run(dec, 0, label);
        snprintf(label, sizeof label, "model %zu graphs (cap 2)", i);
        run(dec, 2, label);
        snprintf(label, sizeof label, "model %zu graphs (cap 8)", i);
        run(dec, 8, label);
        sp_decoder_destroy(dec);
    }
    return sp_test_done("test_gen_cuda_decoder");
}
#endif
