/* Transformer encoder: padding is masked (a sequence's embedding is the same, within 1e-5, alone or
 * batched with longer ones, or padded to a static shape), a hand-checkable degenerate model, seeds,
 * every operation reported in order, and the safetensors round trip with bad files rejected. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "testlib.h"

#ifndef SERVPROF_SERVE_ENABLED
int main(void) { return 77; }
#else
#include "serve/serve_int.h"

static sp_encoder_config small_cfg(void)
{
    sp_encoder_config c = {.vocab_size = 50, .hidden = 32, .layers = 2, .heads = 4, .ffn = 64, .max_len = 32};
    return c;
}

static float max_abs_diff(const float *a, const float *b, size_t n)
{
    float m = 0;
    for (size_t i = 0; i < n; i++) {
        float d = a[i] > b[i] ? a[i] - b[i] : b[i] - a[i];
        m = d > m ? d : m;
    }
    return m;
}

typedef struct op_log {
    size_t count, last;
    uint64_t prev_end;
    int in_order;
} op_log;

static void on_op(void *user, size_t op, uint64_t start, uint64_t end)
{
    op_log *l = user;
    if (op != l->count || start > end || start < l->prev_end)
        l->in_order = 0;
    l->prev_end = end;
    l->last = op;
    l->count++;
}

static void write_bytes(const char *path, const void *data, size_t len)
{
    FILE *f = fopen(path, "wb");
    fwrite(data, 1, len, f);
    fclose(f);
}

static char *read_all(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    fseek(f, 0, SEEK_END);
    *len = (size_t)ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc(*len + 1);
    *len = fread(buf, 1, *len, f);
    fclose(f);
    return buf;
}

/* Writes a file with the given header JSON and `data_len` bytes of zeros after it. */
static void write_st(const char *path, const char *hdr, size_t data_len)
{
    size_t hl = strlen(hdr);
    unsigned char *buf = calloc(1, 8 + hl + data_len);
    for (int i = 0; i < 8; i++)
        buf[i] = (unsigned char)((uint64_t)hl >> (8 * i));
    memcpy(buf + 8, hdr, hl);
    write_bytes(path, buf, 8 + hl + data_len);
    free(buf);
}

static void check_rejected(const char *path, const char *want)
{
    sp_encoder *e = NULL;
    char err[512] = "";
    CHECK(sp_encoder_load_safetensors(path, 4, &e, err, sizeof(err)) != SP_OK);
    CHECK(e == NULL);
    sp_test_checks++;
    if (!strstr(err, want) || !strstr(err, path)) {
        sp_test_failures++;
        fprintf(stderr, "error \"%s\" should name the file and say \"%s\"\n", err, want);
    }
}

int main(void)
{
    char err[512];
    sp_encoder_config cfg = small_cfg();
    sp_encoder *enc = NULL;
    CHECK(sp_encoder_create_seeded(&cfg, 42, &enc, err, sizeof(err)) == SP_OK);
    sp_encoder_ws *ws;
    CHECK(sp_encoder_ws_create(32 * 32, &ws) == SP_OK);
    const size_t H = cfg.hidden;

    /* sequence A (5 tokens) alone, then batched with B (20 tokens) so A carries 15 padding
     * positions, then padded to the static shape 32 */
    int32_t a[5] = {2, 7, 11, 13, 3};
    int32_t b[20];
    for (int i = 0; i < 20; i++)
        b[i] = (i * 7 + 3) % 50;
    float alone[32], batched[2 * 32], stat[32], b_alone[32];
    uint32_t la = 5;
    CHECK(sp_encoder_forward(enc, ws, a, &la, 1, 5, alone, NULL, NULL) == SP_OK);
    int32_t ids[2 * 20];
    for (int i = 0; i < 20; i++) {
        ids[i] = i < 5 ? a[i] : 0; /* [PAD] ids past the length: any id must give the same answer */
        ids[20 + i] = b[i];
    }
    ids[7] = 49; /* a padding position holding a real token id */
    uint32_t lens[2] = {5, 20};
    op_log log = {0, 0, 0, 1};
    CHECK(sp_encoder_forward(enc, ws, ids, lens, 2, 20, batched, on_op, &log) == SP_OK);
    CHECK(max_abs_diff(alone, batched, H) <= 1e-5f);
    uint32_t lb = 20;
    CHECK(sp_encoder_forward(enc, ws, b, &lb, 1, 20, b_alone, NULL, NULL) == SP_OK);
    CHECK(max_abs_diff(b_alone, batched + H, H) <= 1e-5f);
    int32_t ids32[32] = {0};
    memcpy(ids32, a, sizeof(a));
    CHECK(sp_encoder_forward(enc, ws, ids32, &la, 1, 32, stat, NULL, NULL) == SP_OK);
    CHECK(max_abs_diff(alone, stat, H) <= 1e-5f);
    /* the two sequences differ, and the embedding is not trivially zero */
    CHECK(max_abs_diff(alone, b_alone, H) > 1e-3f);

    /* operations: embed, 8 per layer, pool, reported in order with ordered, non-overlapping times */
    CHECK_EQ_U64(sp_encoder_op_count(enc), 2 + 8 * 2);
    CHECK_EQ_U64(log.count, 18);
    CHECK(log.in_order);
    char nm[64];
    CHECK(strcmp(sp_encoder_op_name(enc, 0, nm, sizeof(nm)), "embed") == 0);
    CHECK(strcmp(sp_encoder_op_name(enc, 1, nm, sizeof(nm)), "l0.qkv_gemm") == 0);
    CHECK(strcmp(sp_encoder_op_name(enc, 2, nm, sizeof(nm)), "l0.attention") == 0);
    CHECK(strcmp(sp_encoder_op_name(enc, 9, nm, sizeof(nm)), "l1.qkv_gemm") == 0);
    CHECK(strcmp(sp_encoder_op_name(enc, 16, nm, sizeof(nm)), "l1.layernorm2") == 0);
    CHECK(strcmp(sp_encoder_op_name(enc, 17, nm, sizeof(nm)), "pool") == 0);

    /* bad shapes and ids are refused, and the workspace cap holds */
    uint32_t zero = 0, big = 6;
    CHECK(sp_encoder_forward(enc, ws, a, &zero, 1, 5, alone, NULL, NULL) == SP_ERR_INVALID);
    CHECK(sp_encoder_forward(enc, ws, a, &big, 1, 5, alone, NULL, NULL) == SP_ERR_INVALID);
    int32_t bad_id[2] = {2, 50};
    uint32_t two = 2;
    CHECK(sp_encoder_forward(enc, ws, bad_id, &two, 1, 2, alone, NULL, NULL) == SP_ERR_INVALID);
    CHECK(sp_encoder_forward(enc, ws, ids32, &la, 1, 33, alone, NULL, NULL) == SP_ERR_INVALID);
    {
        sp_encoder_ws *tiny;
        CHECK(sp_encoder_ws_create(8, &tiny) == SP_OK);
        CHECK(sp_encoder_forward(enc, tiny, ids, lens, 2, 20, batched, NULL, NULL) == SP_ERR_LIMIT);
        sp_encoder_ws_destroy(tiny);
    }

    /* same seed, same weights; another seed, other weights */
    {
        sp_encoder *e2, *e3;
        float o2[32], o3[32];
        CHECK(sp_encoder_create_seeded(&cfg, 42, &e2, err, sizeof(err)) == SP_OK);
        CHECK(sp_encoder_create_seeded(&cfg, 43, &e3, err, sizeof(err)) == SP_OK);
        CHECK(sp_encoder_forward(e2, ws, a, &la, 1, 5, o2, NULL, NULL) == SP_OK);
        CHECK(sp_encoder_forward(e3, ws, a, &la, 1, 5, o3, NULL, NULL) == SP_OK);
        CHECK(memcmp(o2, alone, sizeof(float) * H) == 0);
        CHECK(max_abs_diff(o3, alone, H) > 1e-3f);
        sp_encoder_destroy(e2);
        sp_encoder_destroy(e3);
    }

    /* hand-checkable model: no layers and hidden 2. LayerNorm of a 2-vector (x, y) is
     * ((x-y)/|x-y|, (y-x)/|x-y|) (mean (x+y)/2, variance ((x-y)/2)^2, gain 1, bias 0), i.e. (+1,-1)
     * or (-1,+1); the embedding is the mean of those signs over the real tokens. */
    {
        sp_encoder_config c0 = {.vocab_size = 8, .hidden = 2, .layers = 0, .heads = 1, .ffn = 2, .max_len = 4};
        sp_encoder *e0;
        CHECK(sp_encoder_create_seeded(&c0, 7, &e0, err, sizeof(err)) == SP_OK);
        char path[512];
        snprintf(path, sizeof(path), "%s/tests/enc0_%d.safetensors", SP_BUILD_DIR, (int)getpid());
        CHECK(sp_encoder_save_safetensors(e0, path, err, sizeof(err)) == SP_OK);
        /* read the weights back from the file to work the answer out independently */
        size_t flen;
        char *file = read_all(path, &flen);
        uint64_t hl = 0;
        for (int i = 0; i < 8; i++)
            hl |= (uint64_t)(unsigned char)file[i] << (8 * i);
        /* sorted keys: LayerNorm.bias, LayerNorm.weight, position (4x2), token_type (1x2), word (8x2) */
        float data[30]; /* 2 + 2 + 8 + 2 + 16 floats; copied: the data section need not be aligned */
        memcpy(data, file + 8 + hl, sizeof(data));
        CHECK_EQ_U64(flen, 8 + hl + sizeof(data));
        CHECK_EQ_U64(hl % 8, 0);
        const float *pos = data + 4, *type = data + 12, *word = data + 14;
        int32_t seq[3] = {5, 1, 6};
        float expect[2] = {0, 0};
        for (int t = 0; t < 3; t++) {
            float x = word[seq[t] * 2] + pos[t * 2] + type[0];
            float y = word[seq[t] * 2 + 1] + pos[t * 2 + 1] + type[1];
            expect[0] += (x > y ? 1.0f : -1.0f) / 3.0f;
            expect[1] += (y > x ? 1.0f : -1.0f) / 3.0f;
        }
        float got[2];
        uint32_t l3 = 3;
        CHECK(sp_encoder_forward(e0, ws, seq, &l3, 1, 3, got, NULL, NULL) == SP_OK);
        CHECK_NEAR(got[0], expect[0], 1e-5);
        CHECK_NEAR(got[1], expect[1], 1e-5);
        free(file);
        unlink(path);
        sp_encoder_destroy(e0);
    }

    /* safetensors round trip: save, load, same embeddings bit for bit */
    char path[512];
    snprintf(path, sizeof(path), "%s/tests/enc_%d.safetensors", SP_BUILD_DIR, (int)getpid());
    CHECK(sp_encoder_save_safetensors(enc, path, err, sizeof(err)) == SP_OK);
    {
        sp_encoder *back = NULL;
        sp_status st = sp_encoder_load_safetensors(path, 4, &back, err, sizeof(err));
        CHECK(st == SP_OK);
        if (st == SP_OK) {
            const sp_encoder_config *bc = sp_encoder_get_config(back);
            CHECK(bc->vocab_size == 50 && bc->hidden == 32 && bc->layers == 2 && bc->ffn == 64 && bc->max_len == 32);
            float o[2 * 32];
            CHECK(sp_encoder_forward(back, ws, ids, lens, 2, 20, o, NULL, NULL) == SP_OK);
            CHECK(memcmp(o, batched, sizeof(float) * 2 * H) == 0);
            sp_encoder_destroy(back);
        } else {
            fprintf(stderr, "%s\n", err);
        }
        /* heads must divide hidden */
        CHECK(sp_encoder_load_safetensors(path, 5, &back, err, sizeof(err)) == SP_ERR_INVALID);
    }
    /* bad files: truncated data, header length past the end, garbage header, wrong dtype, wrong
     * shape, offsets past the data */
    {
        size_t flen;
        char *file = read_all(path, &flen);
        char bad[512];
        snprintf(bad, sizeof(bad), "%s/tests/bad_%d.safetensors", SP_BUILD_DIR, (int)getpid());
        write_bytes(bad, file, flen - 4);
        check_rejected(bad, "data_offsets do not fit");
        write_bytes(bad, file, 5);
        check_rejected(bad, "too short");
        unsigned char huge[16] = {0xff, 0xff, 0xff, 0x00, 0, 0, 0, 0, '{', '}'};
        write_bytes(bad, huge, 10);
        check_rejected(bad, "beyond the file");
        write_st(bad, "{not json", 0);
        check_rejected(bad, "header JSON invalid");
        write_st(bad, "{\"embeddings.word_embeddings.weight\":{\"dtype\":\"F16\",\"shape\":[4,2],"
                      "\"data_offsets\":[0,16]}}", 16);
        check_rejected(bad, "only F32");
        write_st(bad, "{\"embeddings.word_embeddings.weight\":{\"dtype\":\"F32\",\"shape\":[4,2],"
                      "\"data_offsets\":[0,32]},\"embeddings.position_embeddings.weight\":{\"dtype\":\"F32\","
                      "\"shape\":[4,3],\"data_offsets\":[32,80]}}", 80);
        check_rejected(bad, "expected [");
        write_st(bad, "{\"embeddings.word_embeddings.weight\":{\"dtype\":\"F32\",\"shape\":[4,2],"
                      "\"data_offsets\":[0,32]}}", 16);
        check_rejected(bad, "data_offsets do not fit");
        write_st(bad, "{\"embeddings.word_embeddings.weight\":{\"dtype\":\"F32\",\"shape\":[4,2],"
                      "\"data_offsets\":[0,32]}}", 32);
        check_rejected(bad, "position_embeddings");
        unlink(bad);
        free(file);
    }
    unlink(path);
    sp_encoder_ws_destroy(ws);
    sp_encoder_destroy(enc);
    sp_encoder_destroy(NULL);
    sp_encoder_ws_destroy(NULL);
    return sp_test_done("test_encoder");
}
#endif
