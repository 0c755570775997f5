/* Three routes of the stage rows and request figures against their general ones. The latency
 * ranking's sort by life on 8-byte values (share.c, sp_ana_rank_life_pack = 1: each life
 * below 2^32 packed with a prefix-tie flag and its position, filled in the id-prefix order) and the server-side latency taken from the
 * end-to-end figures when no request has a client record (figures.c, sp_ana_server_copy = 1), against
 * their general routes (0: 16-byte (life, prefix rank, position) records; the column copied and
 * selected again).
 *
 * 1. Known answer: five requests, ids 1..5, lives 300, 100, 300, 200, 100 ns, each request's
 *    preprocess time its id: DESIGN 8a ranks by life, ties by id, so the request rows (in ranking
 *    order) hold ids 2, 5, 4, 1, 3 (worked by hand), by both routes.
 * 2. Whole reports with the request rows (the rows come in ranking order and the share windows sum the
 *    requests the ranking gives) by both routes, of sets of 1 to 3,000 requests: numeric ids (short,
 *    and long ones sharing their first eight digits, so that the prefix ties and the full key
 *    decides), text ids sharing their first eight bytes, both mixed; lives from four values (long runs
 *    that tie on life and prefix) or spread, all equal (no varying bit), one or all past 2^32 ns (the
 *    records' route taken instead); arrivals apart and tied; with client records for some requests
 *    (the server column then copied by both settings); one thread and two.
 * 3. The selection with its first digit counted by the caller (common/sort.c,
 *    sp_select_ranks_u64_counted with sp_select_first_digit's counts) against sp_select_ranks_u64 on
 *    random columns of 1 to 200,000 values (8- and 11-bit first digits), random spans of varying bits,
 *    few distinct values, and the stage rows' ranks; and the stage columns gathered with those counts
 *    (share.c, sp_ana_cols_counted = 1) against the selection's own count (0): every stage row's
 *    figures, the mean bit for bit, the detail's spread (in the whole reports below).
 * 4. The whole reports of analyze_routes_testutil.h's inputs with the three switches on and off. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "analyze/analyze_int.h"
#include "ana_switches_testutil.h"
#include "analyze_routes_testutil.h"
#include "common/sort.h"
#include "ev_build.h"
#include "testlib.h"
#include "xorshift_testutil.h"

static uint64_t rng_state = 0x5851F42D4C957F2Dull;
static uint64_t rin(uint64_t lo, uint64_t hi) { return xs64_in(&rng_state, lo, hi); } /* inclusive */

static void turn(int on)
{
    sp_ana_rank_life_pack = sp_ana_server_copy = sp_ana_cols_counted = on;
}

static sp_report *analyse(sp_events *ev, int on)
{
    sp_analyze_options o;
    sp_analyze_options_init(&o);
    o.keep_requests = 1;
    turn(on);
    sp_report *r = NULL;
    char err[256];
    sp_status st = sp_analyze(ev, &o, &r, err, sizeof err);
    ana_switches_reset();
    if (st != SP_OK) {
        fprintf(stderr, "sp_analyze: %s (%s)\n", err, sp_status_str(st));
        return NULL;
    }
    return r;
}

/* ---- 1. known answer ---- */

static void known_answer(void)
{
    static const uint64_t life[5] = {300, 100, 300, 200, 100};
    static const uint64_t want[5] = {2, 5, 4, 1, 3}; /* by (life, id), worked by hand */
    for (int on = 0; on < 2; on++) {
        sp_events *ev = eb_new();
        for (uint64_t i = 0; i < 5; i++) {
            char id[8];
            snprintf(id, sizeof id, "%llu", (unsigned long long)(i + 1));
            uint64_t t = 1000 + 1000 * i;
            uint32_t q = eb_req(ev, id, t, t + life[i]);
            eb_span(ev, q, "preprocess", t, t + i + 1);
            eb_span(ev, q, "queue", t + i + 1, t + life[i]);
        }
        sp_report *r = analyse(ev, on);
        CHECK(r && r->detail);
        if (r && r->detail) {
            const sp_request_rows *rows = &r->detail->requests;
            CHECK(rows->n == 5 && rows->n_stages > 1);
            for (size_t k = 0; rows->n == 5 && k < 5; k++)
                CHECK(rows->stage_ns[k * rows->n_stages + 1] == want[k]); /* row 1: preprocess */
            CHECK(r->server_latency.p50_ns == 200 && r->server_latency.max_ns == 300);
            CHECK(memcmp(&r->server_latency, &r->latency, sizeof r->latency) == 0);
        }
        sp_report_destroy(r);
        sp_events_destroy(ev);
    }
}

/* ---- 2. sets by both routes ---- */

static int sets_compared, with_client;

enum { LIVES_FEW, LIVES_SPREAD, LIVES_EQUAL, LIVES_ONE_HUGE, LIVES_ALL_HUGE, LIVES_KINDS };

static sp_events *rank_set(size_t n, int ids, int lives, int clients)
{
    sp_events *ev = eb_new();
    for (size_t i = 0; i < n; i++) {
        char id[40];
        size_t k = (i * 7919) % n; /* ids not in arrival order */
        eb_id_of(id, sizeof id, k, ids, 4);
        uint64_t life;
        switch (lives) {
        case LIVES_FEW:
            life = 900 + 100 * rin(0, 3);
            break;
        case LIVES_SPREAD:
            life = rin(600, 5000000);
            break;
        case LIVES_EQUAL:
            life = 900;
            break;
        case LIVES_ONE_HUGE:
            life = i == n / 2 ? ((uint64_t)1 << 32) + 5 : 900 + 100 * rin(0, 3);
            break;
        default:
            life = ((uint64_t)1 << 32) + 100 * rin(0, 3);
            break;
        }
        uint64_t t = 1000000 + 1000 * (rin(0, 3) ? i : i / 2), a = rin(0, 300), b = rin(0, 300);
        uint32_t q = eb_req(ev, id, t, t + life);
        eb_span(ev, q, "preprocess", t, t + a);
        eb_span(ev, q, "queue", t + a, t + a + b);
        eb_span(ev, q, "postprocess", t + a + b, t + life);
        if (clients && i % 3 == 0)
            eb_client(ev, id, t - 50, t - 40, t + life + 30);
    }
    return ev;
}

static void both_routes(void)
{
    static const size_t sizes[] = {1, 2, 3, 50, 500, 3000};
    for (size_t z = 0; z < sizeof sizes / sizeof *sizes; z++)
        for (int ids = 0; ids < EB_IDS_KINDS; ids++)
            for (int lives = 0; lives < LIVES_KINDS; lives++)
                for (int clients = 0; clients < 2; clients++) {
                    if (clients && lives != LIVES_SPREAD && lives != LIVES_FEW)
                        continue;
                    /* two builds of one set: sp_analyze finishes (and may release) what it reads */
                    uint64_t seed = rng_state;
                    char *rep[2] = {NULL, NULL};
                    size_t len[2] = {0, 0};
                    for (int on = 0; on < 2; on++) {
                        rng_state = seed;
                        sp_events *ev = rank_set(sizes[z], ids, lives, clients);
                        if (sizes[z] == 3000 && (ids == EB_IDS_MIXED || ids == EB_IDS_SHORT))
                            sp_ana_two_threads_min = 2; /* the ranking beside the columns */
                        sp_report *r = analyse(ev, on);
                        if (r)
                            rep[on] = ar_report_bytes(r, &len[on]);
                        with_client += r && on && r->has_client;
                        sp_report_destroy(r);
                        sp_events_destroy(ev);
                    }
                    CHECK(rep[0] && rep[1]);
                    if (rep[0] && rep[1] && !ar_same_bytes(rep[0], len[0], rep[1], len[1], "rank lives", 1)) {
                        CHECK(0);
                        fprintf(stderr, "differs: n %zu ids %d lives %d clients %d\n", sizes[z], ids, lives,
                                clients);
                    }
                    free(rep[0]);
                    free(rep[1]);
                    sets_compared++;
                }
}

/* ---- 3. the counted selection ---- */

static int selections;

static void counted_selection(void)
{
    static const size_t sizes[] = {1, 2, 5, 33, 100, 1000, 65535, 65536, 200000};
    uint64_t *v = malloc(200000 * sizeof *v), *w = malloc(200000 * sizeof *w);
    uint64_t *t1 = malloc(200000 * sizeof *t1), *t2 = malloc(200000 * sizeof *t2);
    CHECK(v && w && t1 && t2);
    static size_t count[SP_SELECT_DIGITS];
    for (size_t z = 0; v && w && t1 && t2 && z < sizeof sizes / sizeof *sizes; z++)
        for (int shape = 0; shape < 6; shape++) {
            size_t n = sizes[z];
            unsigned lo = (unsigned)rin(0, 40), width = (unsigned)rin(1, 24);
            uint64_t base = rin(0, 1000) << (lo + width), or_k = 0, and_k = ~(uint64_t)0;
            for (size_t i = 0; i < n; i++) {
                uint64_t x;
                if (shape == 0) /* a span of varying bits above constant ones */
                    x = base | rin(0, ((uint64_t)1 << width) - 1) << lo;
                else if (shape == 1) /* few distinct values */
                    x = 1000 + 7 * rin(0, 3);
                else if (shape == 2) /* latencies in ns */
                    x = rin(600, 5000000);
                else if (shape == 3) /* all but one alike */
                    x = i == n / 3 ? 901 : 900;
                else if (shape == 4) /* full 64-bit */
                    x = xs64_next(&rng_state);
                else /* only the lowest bit */
                    x = 4096 | rin(0, 1);
                v[i] = w[i] = x;
                or_k |= x;
                and_k &= x;
            }
            if (or_k == and_k)
                continue; /* the counted route is for columns that vary */
            unsigned shift;
            size_t nd = sp_select_first_digit(or_k ^ and_k, n, &shift);
            CHECK(nd >= 2 && nd <= SP_SELECT_DIGITS && (nd & (nd - 1)) == 0);
            memset(count, 0, nd * sizeof *count);
            for (size_t i = 0; i < n; i++)
                count[(v[i] >> shift) & (nd - 1)]++;
            /* p5, p25, p50, p75, p95, p99 and the ends: the stage rows' ranks */
            static const uint32_t pct[6] = {SP_PCT(5), SP_PCT(25), SP_PCT(50), SP_PCT(75), SP_PCT(95), SP_PCT(99)};
            size_t ks[8];
            ks[0] = 0;
            for (int j = 0; j < 6; j++)
                ks[1 + j] = sp_rank(n, pct[j]) - 1;
            ks[7] = n - 1;
            uint64_t a[8], b[8];
            sp_select_ranks_u64(v, n, t1, or_k ^ and_k, ks, 8, a);
            sp_select_ranks_u64_counted(w, n, t2, or_k ^ and_k, count, ks, 8, b);
            CHECK(memcmp(a, b, sizeof a) == 0);
            selections++;
        }
    free(v);
    free(w);
    free(t1);
    free(t2);
}

int main(void)
{
    known_answer();
    both_routes();
    fprintf(stderr, "%d sets ranked both ways, %d with client records\n", sets_compared, with_client);
    CHECK(with_client > 0);
    CHECK(sets_compared == 6 * EB_IDS_KINDS * (LIVES_KINDS + 2));
    counted_selection();
    fprintf(stderr, "%d counted selections compared\n", selections);
    CHECK(selections > 40);
    CHECK(ana_same_both_ways("rowsroutes", &rng_state, turn) == AR_TRACES);
    return sp_test_done("test_analyze_rows_routes");
}
