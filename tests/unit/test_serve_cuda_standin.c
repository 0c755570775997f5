/* The service's CUDA path without a GPU, through the stand-in module (unit/cuda_standin.c, built as
 * build/tests/libsp-cuda-standin.so with the real module's host side): the loader's errors name the
 * module and the reason (no file, no entry point, an entry that refuses), a missing device index is
 * refused; then a served run with --device cuda and graphs on answers with the stand-in's
 * embeddings (the mean of the request's token embeddings: so the weights view, the ids and the
 * lengths reached the module intact), counts graph captures and replays, and the trace holds the
 * stand-in's kernel and copies tied to each batch by id (recorded by the module's collector core
 * through the host table into this process's recorder, one recorder), its launch calls, no CPU
 * stand-in kernels, and the module's log lines reached this process's log callback. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "testlib.h"

#if !defined(SERVPROF_SERVE_ENABLED)
int main(void)
{
    fprintf(stderr, "test_serve_cuda_standin: SKIP: servprof serve is compiled out\n");
    return 77;
}
#else
#include <jansson.h>

#include "post_json.h"
#include "standin_tally_testutil.h"

#include "model/events_int.h"
#include "serve/serve_int.h"
#include "servprof/serve.h"

#define STANDIN SP_BUILD_DIR "/tests/libsp-cuda-standin.so"
#define PAD 16 /* --pad-to: one padded length, so shapes repeat */

static pthread_mutex_t g_log_mu = PTHREAD_MUTEX_INITIALIZER;
static int g_started_lines, g_stopped_lines;

static void capture_log(void *user, sp_log_level level, const char *message)
{
    (void)user;
    (void)level;
    pthread_mutex_lock(&g_log_mu);
    g_started_lines += strstr(message, "stand-in collector: started") != NULL;
    g_stopped_lines += strstr(message, "stand-in collector: stopped") != NULL;
    pthread_mutex_unlock(&g_log_mu);
}

/* Starts a CUDA server with `o`; expects failure with status `want` and `needle` in the message. */
static void expect_refusal(sp_server_options *o, sp_status want, const char *needle)
{
    char err[1024] = "";
    sp_server *srv = NULL;
    sp_status st = sp_server_start(o, &srv, err, sizeof err);
    printf("refused as expected? %s: %s\n", sp_status_str(st), err);
    CHECK(st == want);
    CHECK(strncmp(err, "--device cuda: ", 15) == 0);
    CHECK(strstr(err, needle) != NULL);
    if (st == SP_OK)
        sp_server_destroy(srv);
}

/* POSTs `text` to /v1/embeddings and returns the parsed answer (NULL unless 200 with JSON). */
static json_t *post(unsigned port, const char *text)
{
    char body[512];
    snprintf(body, sizeof body, "{\"input\":\"%s\"}", text);
    return sp_test_post_json(port, "/v1/embeddings", body);
}

/* What the stand-in answers for `text` under the server's default model (seed 1, hidden 128, the
 * default tokenizer) cut to PAD tokens: the mean of the token embeddings, computed here from a
 * model built the same way. Writes `hidden` floats. */
static int expected_embedding(const char *text, float *out, size_t hidden)
{
    char err[512];
    sp_tokenizer *tok;
    if (sp_tokenizer_load(sp_server_default_tokenizer(), &tok, err, sizeof err) != SP_OK)
        return 0;
    sp_server_options d;
    sp_server_options_init(&d);
    sp_encoder_config cfg = {(uint32_t)sp_tokenizer_vocab_size(tok), d.hidden, d.layers, d.heads, d.ffn, d.max_len};
    sp_encoder *enc;
    if (hidden != d.hidden || sp_encoder_create_seeded(&cfg, d.seed, &enc, err, sizeof err) != SP_OK) {
        sp_tokenizer_destroy(tok);
        return 0;
    }
    int32_t ids[PAD];
    size_t n = sp_tokenizer_encode(tok, text, strlen(text), ids, PAD);
    sp_encoder_view v;
    sp_encoder_get_view(enc, &v);
    for (size_t j = 0; j < hidden; j++) {
        double s = 0;
        for (size_t t = 0; t < n; t++)
            s += v.tok_emb[(size_t)ids[t] * hidden + j];
        out[j] = (float)(s / (double)n);
    }
    sp_encoder_destroy(enc);
    sp_tokenizer_destroy(tok);
    return n > 0;
}

static void served_run(void)
{
    char path[] = "/tmp/servprof-standin-test-XXXXXX";
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
    o.cuda_graphs = 1;
    o.cuda_graph_cap = 8;
    o.cupti_mode = SP_SERVER_CUPTI_LAUNCHES;
    o.pad_to = PAD;
    char err[1024] = "";
    sp_server *srv;
    sp_status st = sp_server_start(&o, &srv, err, sizeof err);
    if (st != SP_OK)
        fprintf(stderr, "served run: %s\n", err);
    CHECK(st == SP_OK);
    if (st != SP_OK) {
        sp_recorder_close(rec);
        unlink(path);
        return;
    }
    const char *note = sp_server_device_note(srv);
    printf("device note: %s\n", note);
    CHECK(strstr(note, "stand-in device 0") != NULL);
    CHECK(strstr(note, "CUPTI with launch callbacks") != NULL);

    static const char *texts[] = {"hello world", "the quick brown fox jumps over the lazy dog", "a",
                                  "profiling inference services end to end"};
    const size_t H = 128;
    float want[128];
    double worst = 0;
    int ok = 0, sent = 0;
    for (int round = 0; round < 8; round++) {
        const char *text = texts[round % 4];
        json_t *j = post(sp_server_port(srv), text);
        sent++;
        json_t *emb = j ? json_object_get(json_array_get(json_object_get(j, "data"), 0), "embedding") : NULL;
        if (emb && json_array_size(emb) == H && expected_embedding(text, want, H)) {
            ok++;
            for (size_t k = 0; k < H; k++) {
                double d = fabs(json_number_value(json_array_get(emb, k)) - (double)want[k]);
                worst = d > worst ? d : worst;
            }
        }
        json_decref(j);
    }
    CHECK_EQ_U64(ok, sent);
    printf("answers: %d of %d, max |answer - expected| = %.3g\n", ok, sent, worst);
    /* %.8g in the answer and float sums in another order: 1e-6 against values of order 0.02 */
    CHECK(worst < 1e-6);

    sp_server_stop(srv);
    sp_server_stats ss;
    sp_server_get_stats(srv, &ss);
    const sp_cuda_backend *cb = NULL;
    CHECK(sp_cuda_backend_load(&cb, err, sizeof err) == SP_OK); /* the server's: loaded once */
    sp_cupti_stats cs = {0};
    if (cb)
        cb->cupti_get_stats(&cs);
    sp_server_destroy(srv);
    CHECK(sp_recorder_close(rec) == SP_OK);
    printf("batches %llu; graphs %llu captured, %llu replayed; collector: %llu kernels, %llu copies, %llu launches, "
           "%llu attributed\n",
           (unsigned long long)ss.batches, (unsigned long long)ss.graph_captures, (unsigned long long)ss.graph_replays,
           (unsigned long long)cs.kernels, (unsigned long long)cs.copies, (unsigned long long)cs.launches,
           (unsigned long long)cs.attributed);
    /* requests one at a time: one batch each (8); its shape (1 x PAD) is new once, then replayed */
    CHECK_EQ_U64(ss.batches, 8);
    CHECK_EQ_U64(ss.graph_captures, 1);
    CHECK_EQ_U64(ss.graph_replays, 7);
    CHECK_EQ_U64(cs.kernels, 8);
    CHECK_EQ_U64(cs.copies, 16);
    CHECK_EQ_U64(cs.launches, 8);
    CHECK_EQ_U64(cs.attributed, 24); /* every kernel and copy tied to its batch */
    CHECK(!cs.running);
    pthread_mutex_lock(&g_log_mu);
    CHECK_EQ_U64(g_started_lines, 1);
    CHECK_EQ_U64(g_stopped_lines, 1);
    pthread_mutex_unlock(&g_log_mu);

    sp_events *ev;
    CHECK(sp_events_create(&ev) == SP_OK);
    st = sp_events_load_file(ev, path, NULL, err, sizeof err);
    if (st != SP_OK)
        fprintf(stderr, "load: %s\n", err);
    CHECK(st == SP_OK);
    size_t nb = ev->n_batches;
    standin_tally t = standin_tally_of(ev);
    printf("trace: %zu batches, %zu kernels, %zu h2d, %zu d2h, %zu untied, %zu outside their batch, %zu launches, "
           "%zu other kernels\n",
           nb, t.kern, t.h2d, t.d2h, t.untied, t.outside, ev->n_launches, t.cpu_ops);
    CHECK_EQ_U64(nb, 8);
    CHECK_EQ_U64(t.kern, 8);
    CHECK_EQ_U64(t.h2d, 8);
    CHECK_EQ_U64(t.d2h, 8);
    CHECK_EQ_U64(t.untied, 0);
    CHECK_EQ_U64(t.outside, 0); /* one host clock: the work lies inside the batch window exactly */
    CHECK_EQ_U64(ev->n_launches, 8);
    CHECK_EQ_U64(t.cpu_ops, 0);
    const char *dev = sp_events_property(ev, 0, "device");
    CHECK(dev && strcmp(dev, "cuda") == 0);
    sp_events_destroy(ev);
    unlink(path);
}

int main(void)
{
    sp_set_log(capture_log, NULL);
    sp_server_options o;
    sp_server_options_init(&o);
    o.port = 0;
    o.device = "cuda";
    /* the loader's errors (a failed load is not kept: each start tries again) */
    setenv(SP_CUDA_MODULE_ENV, "/nonexistent/libservprof-cuda.so", 1);
    expect_refusal(&o, SP_ERR_UNSUPPORTED,
                   "cannot load libservprof-cuda.so (from SERVPROF_CUDA_MODULE): /nonexistent/libservprof-cuda.so: ");
    setenv(SP_CUDA_MODULE_ENV, SP_BUILD_DIR "/libservprof.so", 1); /* a library, not a module */
    expect_refusal(&o, SP_ERR_UNSUPPORTED, "has no entry point sp_cuda_backend_v2");
    setenv(SP_CUDA_MODULE_ENV, STANDIN, 1);
    setenv("SP_STANDIN_REFUSE", "1", 1);
    expect_refusal(&o, SP_ERR_UNSUPPORTED, "refused this servprof: refused on request (SP_STANDIN_REFUSE)");
    unsetenv("SP_STANDIN_REFUSE");
    o.cuda_device = 3;
    expect_refusal(&o, SP_ERR_UNSUPPORTED, "CUDA device 3 does not exist (1 found)");
    served_run();
    return sp_test_done("test_serve_cuda_standin");
}
#endif
