/* The generation service's CUDA path without a GPU, through the stand-in module (unit/cuda_standin.c,
 * whose decoder gives logits[v] = wte[v] . wte[last token]): servprof serve --generate --device cuda
 * with --cuda-graphs, recording, answers three greedy completions one after another with exactly the
 * tokens that rule picks from the same seeded weights (computed here: so the weights view, the KV
 * slots, the step layout and the logits crossed the module intact and in order); the first decode
 * step of one sequence runs eagerly and is captured after it, every later one replays (steps counted
 * by hand below); the trace holds the stand-in's kernel and copies tied to each step by id inside its
 * window, no CPU operation kernels (sampling included: on the device path it is host work, gap), and
 * the device property "cuda". */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "serve_testutil.h"
#include "testlib.h"

#if !defined(SERVPROF_SERVE_ENABLED)
int main(void)
{
    fprintf(stderr, "test_gen_cuda_standin: SKIP: servprof serve is compiled out\n");
    return 77;
}
#else
#include <jansson.h>

#include "post_json.h"
#include "standin_tally_testutil.h"

#include "model/events_int.h"
#include "serve/gen_int.h"
#include "servprof/serve.h"

#define STANDIN SP_BUILD_DIR "/tests/libsp-cuda-standin.so"
#define MAX_TOKENS 6
static const int32_t PROMPT[] = {2, 200, 300, 400, 500};

/* POSTs a whole (not streamed) greedy completion of PROMPT and returns the parsed answer. */
static json_t *complete(unsigned port)
{
    char body[256];
    snprintf(body, sizeof body,
             "{\"prompt\":[2,200,300,400,500],\"max_tokens\":%d,\"temperature\":0,\"ignore_eos\":true}", MAX_TOKENS);
    return sp_test_post_json(port, "/v1/completions", body);
}

/* The text the stand-in's rule gives: greedy over wte[v] . wte[previous], never a banned id ([PAD],
 * [CLS], [MASK], [UNK], and [SEP] since the request ignores EOS), from the seeded decoder the server
 * builds from the same options. */
static int expected_text(const sp_server_options *o, char *out, size_t cap)
{
    char err[512];
    sp_tokenizer *tok;
    if (sp_tokenizer_load(sp_server_default_tokenizer(), &tok, err, sizeof err) != SP_OK)
        return 0;
    sp_decoder_config cfg = {(uint32_t)sp_tokenizer_vocab_size(tok), o->hidden, o->layers, o->heads, o->ffn,
                             o->max_len};
    sp_decoder *dec;
    if (sp_decoder_create_seeded(&cfg, o->seed, &dec, err, sizeof err) != SP_OK) {
        sp_tokenizer_destroy(tok);
        return 0;
    }
    uint8_t *banned = calloc(cfg.vocab_size, 1);
    static const char *const special[] = {"[PAD]", "[CLS]", "[MASK]", "[UNK]", "[SEP]"};
    for (size_t i = 0; i < 5; i++) {
        int32_t id = sp_tokenizer_id(tok, special[i], strlen(special[i]));
        if (id >= 0)
            banned[id] = 1;
    }
    sp_decoder_view v;
    sp_decoder_get_view(dec, &v);
    int32_t prev = PROMPT[4];
    size_t len = 0;
    out[0] = 0;
    for (int t = 0; t < MAX_TOKENS; t++) {
        int32_t best = -1;
        float best_s = 0;
        for (uint32_t id = 0; id < cfg.vocab_size; id++) {
            if (banned[id])
                continue;
            float s = 0;
            for (uint32_t j = 0; j < cfg.hidden; j++)
                s += v.wte[(size_t)id * cfg.hidden + j] * v.wte[(size_t)prev * cfg.hidden + j];
            if (best < 0 || s > best_s) {
                best = (int32_t)id;
                best_s = s;
            }
        }
        len += sp_gen_token_text(tok, best, 0, out + len, cap - len);
        prev = best;
    }
    free(banned);
    sp_decoder_destroy(dec);
    sp_tokenizer_destroy(tok);
    return 1;
}

int main(void)
{
    setenv(SP_CUDA_MODULE_ENV, STANDIN, 1);
    char path[] = "/tmp/servprof-gen-standin-XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    close(fd);
    sp_recorder *rec;
    CHECK(sp_recorder_open(path, NULL, &rec) == SP_OK);
    sp_server_options o;
    sp_test_small_server(&o, 64);
    o.generate = 1;
    o.max_num_seqs = 4;
    o.max_num_batched_tokens = 64;
    o.recorder = rec;
    o.device = "cuda";
    o.cuda_graphs = 1;
    o.cuda_graph_cap = 8;
    char err[1024] = "";
    sp_server *srv = NULL;
    sp_status st = sp_server_start(&o, &srv, err, sizeof err);
    if (st != SP_OK)
        fprintf(stderr, "start: %s\n", err);
    CHECK(st == SP_OK);
    if (st != SP_OK) {
        sp_recorder_close(rec);
        unlink(path);
        return sp_test_done("test_gen_cuda_standin");
    }
    const char *note = sp_server_device_note(srv);
    printf("device note: %s\n", note);
    CHECK(strstr(note, "stand-in device 0") != NULL);
    CHECK(strstr(note, "CUDA graphs per decode step size") != NULL);

    char want[1024];
    CHECK(expected_text(&o, want, sizeof want));
    int ok = 0;
    for (int i = 0; i < 3; i++) {
        json_t *j = complete(sp_server_port(srv));
        const char *text = json_string_value(json_object_get(json_array_get(json_object_get(j, "choices"), 0), "text"));
        json_t *usage = json_object_get(j, "usage");
        printf("answer %d: '%s' (want '%s')\n", i, text ? text : "(none)", want);
        ok += text && strcmp(text, want) == 0 &&
              json_integer_value(json_object_get(usage, "completion_tokens")) == MAX_TOKENS;
        json_decref(j);
    }
    CHECK_EQ_U64(ok, 3);

    sp_server_stop(srv);
    sp_server_stats ss;
    sp_server_get_stats(srv, &ss);
    sp_server_destroy(srv);
    CHECK(sp_recorder_close(rec) == SP_OK);
    printf("steps %llu, output tokens %llu; graphs %llu captured, %llu replayed\n", (unsigned long long)ss.steps,
           (unsigned long long)ss.generated_tokens, (unsigned long long)ss.graph_captures,
           (unsigned long long)ss.graph_replays);
    /* by hand, requests one at a time: each is a prefill step (its first token) and MAX_TOKENS - 1 = 5
     * decode steps of one sequence; the very first of those runs eagerly and is captured after it,
     * the other 4 + 5 + 5 replay */
    CHECK_EQ_U64(ss.steps, 3 * MAX_TOKENS);
    CHECK_EQ_U64(ss.generated_tokens, 3 * MAX_TOKENS);
    CHECK_EQ_U64(ss.graph_captures, 1);
    CHECK_EQ_U64(ss.graph_replays, 3 * (MAX_TOKENS - 1) - 1);

    sp_events *ev;
    CHECK(sp_events_create(&ev) == SP_OK);
    st = sp_events_load_file(ev, path, NULL, err, sizeof err);
    if (st != SP_OK)
        fprintf(stderr, "load: %s\n", err);
    CHECK(st == SP_OK);
    standin_tally t = {0};
    if (st == SP_OK)
        t = standin_tally_of(ev);
    printf("trace: %zu steps, %zu kernels, %zu h2d, %zu d2h, %zu untied, %zu outside their step, %zu other kernels\n",
           st == SP_OK ? ev->n_batches : 0, t.kern, t.h2d, t.d2h, t.untied, t.outside, t.cpu_ops);
    if (st == SP_OK) {
        CHECK_EQ_U64(ev->n_batches, 3 * MAX_TOKENS);
        const char *dev = sp_events_property(ev, 0, "device");
        CHECK(dev && strcmp(dev, "cuda") == 0);
    }
    CHECK_EQ_U64(t.kern, 3 * MAX_TOKENS);
    CHECK_EQ_U64(t.h2d, 3 * MAX_TOKENS);
    CHECK_EQ_U64(t.d2h, 3 * MAX_TOKENS);
    CHECK_EQ_U64(t.untied, 0);
    CHECK_EQ_U64(t.outside, 0);
    CHECK_EQ_U64(t.cpu_ops, 0);
    sp_events_destroy(ev);
    unlink(path);
    return sp_test_done("test_gen_cuda_standin");
}
#endif
