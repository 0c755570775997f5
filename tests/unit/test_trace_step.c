/* The generation records of docs/native-format.md, read back as bytes: `step` (type 14: a scheduler
 * step with its members' phases and tokens and the KV cache occupancy) and `token` (type 15), written
 * by sp_record_step and sp_record_token exactly as the layout says; a step of SP_STEP_MAX_MEMBERS
 * members fits a record and one more member is dropped as too_large; missing member arrays record
 * nothing; and a trace holding them still loads (readers skip types they do not know by size). */
#include "native_records.h"
#include "trace_testutil.h"

#define BIG SP_STEP_MAX_MEMBERS

typedef struct seen {
    int steps, tokens;
    int small_ok, empty_ok, big_ok;
    uint64_t token_words[4][3];
} seen;

static void on_record(void *user, uint32_t type, uint32_t size, uint32_t aux, const unsigned char *r)
{
    seen *s = user;
    if (type == SP_REC_TOKEN) {
        CHECK_EQ_U64(size, 32);
        CHECK_EQ_U64(aux, 0);
        if (s->tokens < 4)
            for (int w = 0; w < 3; w++)
                s->token_words[s->tokens][w] = sp_rd64(r + 8 + 8 * w);
        s->tokens++;
        return;
    }
    if (type != SP_REC_STEP)
        return;
    s->steps++;
    CHECK_EQ_U64(size, 64 + 16 * aux); /* docs/native-format.md: 64 + 16 n */
    uint64_t id = sp_rd64(r + 8);
    if (id == 7) {
        /* the step recorded in main: word offsets 8..56, then (request, phase << 56 | tokens) pairs */
        CHECK_EQ_U64(aux, 3);
        CHECK_EQ_U64(sp_rd64(r + 16), 1000);
        CHECK_EQ_U64(sp_rd64(r + 24), 2500);
        CHECK_EQ_U64(sp_rd64(r + 32), 39);
        CHECK_EQ_U64(sp_rd64(r + 40), 50);
        CHECK_EQ_U64(sp_rd64(r + 48), 300);
        CHECK_EQ_U64(sp_rd64(r + 56), 4096);
        CHECK_EQ_U64(sp_rd64(r + 64), 11);
        CHECK_EQ_U64(sp_rd64(r + 72), (1ull << 56) | 37); /* prefill of 37 tokens */
        CHECK_EQ_U64(sp_rd64(r + 80), 12);
        CHECK_EQ_U64(sp_rd64(r + 88), 1);                 /* decode: phase 0, 1 token */
        CHECK_EQ_U64(sp_rd64(r + 96), 13);
        CHECK_EQ_U64(sp_rd64(r + 104), (2ull << 56) | 1); /* a prefill chunk of 1 token */
        s->small_ok = 1;
    } else if (id == 8) {
        CHECK_EQ_U64(aux, 0);
        CHECK_EQ_U64(sp_rd64(r + 56), 0); /* capacity unknown */
        s->empty_ok = 1;
    } else if (id == 9) {
        CHECK_EQ_U64(aux, BIG);
        CHECK_EQ_U64(size, 65520);
        CHECK_EQ_U64(sp_rd64(r + 64 + 16 * (BIG - 1)), 100 + BIG - 1);
        CHECK_EQ_U64(sp_rd64(r + 72 + 16 * (BIG - 1)), 1);
        s->big_ok = 1;
    } else {
        CHECK(!"unexpected step id");
    }
}

int main(void)
{
    /* a NULL recorder or a NULL record does nothing */
    sp_record_step(NULL, NULL);
    sp_record_token(NULL, 1, 0, 5);

    char path[256];
    tt_path(path, "step");
    sp_recorder *rec;
    CHECK(sp_recorder_open(path, NULL, &rec) == SP_OK);
    /* every request a step names has its record, so a reader that checks references loads this */
    for (uint64_t id = 11; id <= 13; id++)
        sp_record_request(rec, id, 900, 3000, 37);

    uint64_t members[3] = {11, 12, 13};
    uint8_t phases[3] = {SP_PHASE_PREFILL, SP_PHASE_DECODE, SP_PHASE_PREFILL_CHUNK};
    uint32_t tokens[3] = {37, 1, 1};
    sp_step_record s = {7, 1000, 2500, 39, 50, 300, 4096, 3, members, phases, tokens};
    sp_record_step(rec, &s);
    sp_record_step(rec, NULL);

    /* no members; then member arrays missing while the count says 2: nothing recorded */
    sp_step_record empty = {8, 2600, 2700, 0, 0, 0, 0, 0, NULL, NULL, NULL};
    sp_record_step(rec, &empty);
    sp_step_record broken = {99, 1, 2, 2, 2, 0, 0, 2, members, NULL, tokens};
    sp_record_step(rec, &broken);

    /* the most members a record holds, then one more (dropped as too large) */
    uint64_t *bm = malloc((BIG + 1) * sizeof *bm);
    uint8_t *bp = calloc(BIG + 1, 1);
    uint32_t *bt = malloc((BIG + 1) * sizeof *bt);
    for (size_t i = 0; i < BIG + 1; i++) {
        bm[i] = 100 + i;
        bt[i] = 1;
        sp_record_request(rec, bm[i], 2900, 4100, 1);
    }
    sp_step_record big = {9, 3000, 4000, BIG, BIG, 0, 0, BIG, bm, bp, bt};
    sp_record_step(rec, &big);
    big.batch_id = 10;
    big.member_count = BIG + 1;
    sp_record_step(rec, &big);

    sp_record_token(rec, 11, 0, 2600);
    sp_record_token(rec, 11, 1, 2900);
    uint64_t drops[SP_DROP_CAUSE_COUNT];
    sp_recorder_drops(rec, drops);
    CHECK_EQ_U64(drops[SP_DROP_TOO_LARGE], 1);
    CHECK(sp_recorder_close(rec) == SP_OK);

    seen sn = {0};
    CHECK(nr_each(path, on_record, &sn) > 0);
    CHECK_EQ_U64(sn.steps, 3);
    CHECK(sn.small_ok && sn.empty_ok && sn.big_ok);
    CHECK_EQ_U64(sn.tokens, 2);
    CHECK_EQ_U64(sn.token_words[0][0], 11);
    CHECK_EQ_U64(sn.token_words[0][1], 0);
    CHECK_EQ_U64(sn.token_words[0][2], 2600);
    CHECK_EQ_U64(sn.token_words[1][1], 1);
    CHECK_EQ_U64(sn.token_words[1][2], 2900);

    /* a reader that does not know the two types still loads the rest of the trace */
    sp_events *ev = tt_load(path);
    CHECK_EQ_U64(ev->n_requests, 3 + BIG + 1);
    sp_events_destroy(ev);

    free(bm);
    free(bp);
    free(bt);
    unlink(path);
    return sp_test_done("test_trace_step");
}
