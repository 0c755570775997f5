/* A what-if study and its writers on a hand-computable overload: the observed policy (max batch 4)
 * falls behind, a larger max batch keeps up. Checks the simulated p95s against figures worked out
 * below, that a candidate equal to the observed policy is dropped, that the advice names the setting
 * that helped, that rows whose simulated batches are larger than any in the trace are flagged (and
 * only those), and that the table and the JSON say so, in the report's duration units, with
 * columns that line up whatever a policy's text length. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json_mini.h"
#include "servprof/whatif.h"
#include "testlib.h"

#define MS 1000000ull
#define N_REQ 200

/* 200 requests of 32 tokens every 0.25 ms, no pre/postprocess; observed batches of 1..4 requests at
 * 32 tokens lasting 1 ms + 0.05 ms per request (so the fit is exactly a = 1 ms, b = 50 us; the
 * per-token term is size x 32, a multiple of b's column, and is dropped). */
static void fixture(sp_whatif_workload *w, sp_whatif_fit *f)
{
    sp_whatif_request r[N_REQ];
    for (int i = 0; i < N_REQ; i++)
        r[i] = (sp_whatif_request){(uint64_t)i * MS / 4, 0, 0, 32, 0};
    sp_whatif_batch_obs b[4];
    for (uint32_t s = 1; s <= 4; s++)
        b[s - 1] = (sp_whatif_batch_obs){s, 32, MS + 50000ull * s};
    if (sp_whatif_workload_from_arrays(r, N_REQ, b, 4, w) != SP_OK ||
        sp_whatif_fit_batches(w->batches, w->n_batches, 0x7, f, NULL, 0) != SP_OK)
        exit(1);
}

static char *capture(sp_status (*writer)(const sp_whatif_study *, FILE *), const sp_whatif_study *s, size_t *len)
{
    char *buf = NULL;
    FILE *m = open_memstream(&buf, len);
    CHECK(m != NULL);
    CHECK(writer(s, m) == SP_OK);
    fclose(m);
    return buf;
}

/* Column (0-based) just past the end of header `name` in the table's header line. */
static size_t header_end(const char *text, const char *name)
{
    const char *h = strstr(text, "\npolicy ");
    if (!h)
        return 0;
    h++;
    const char *eol = strchr(h, '\n');
    char pat[32];
    snprintf(pat, sizeof pat, " %s", name);
    for (const char *at = strstr(h, pat); at && at < eol; at = strstr(at + 1, pat)) {
        size_t end = (size_t)(at - h) + strlen(pat);
        if (h[end] == ' ' || h[end] == '\n')
            return end;
    }
    return 0;
}

int main(void)
{
    sp_whatif_workload w;
    sp_whatif_fit f;
    fixture(&w, &f);
    CHECK_NEAR(f.coef[0], 1.0 * MS, 1e-3);
    CHECK_NEAR(f.coef[1], 50000.0, 1e-3);

    sp_whatif_observed obs;
    memset(&obs, 0, sizeof obs);
    sp_whatif_policy_init(&obs.policy);
    obs.policy.max_batch = 4;
    obs.policy.max_delay_ns = 1 * MS;
    obs.file = -1;
    for (int k = 0; k < SP_WHATIF_SET_COUNT; k++)
        obs.origin[k] = SP_WHATIF_FROM_OPTION;

    /* candidates: max batch 4 (the observed policy again), 8 and 16 at 1 ms; the observed policy with
     * a 15-bound bucket list (a long pad text); max batch 16 with 0.5 ms (two settings) */
    sp_whatif_policy cand[5];
    for (int i = 0; i < 5; i++)
        cand[i] = obs.policy;
    cand[1].max_batch = 8;
    cand[2].max_batch = 16;
    char err[256];
    CHECK(sp_whatif_parse_pad("buckets:8,16,24,32,40,48,56,64,72,80,88,96,104,112,120", &cand[3], err, sizeof err) ==
          SP_OK);
    cand[4].max_batch = 16;
    cand[4].max_delay_ns = MS / 2;

    sp_whatif_study_options o;
    sp_whatif_study_options_init(&o);
    o.sim.resample = 0;
    sp_whatif_study s;
    CHECK(sp_whatif_study_run(&w, &f, &obs, cand, 5, &o, &s, err, sizeof err) == SP_OK);
    /* the first candidate equals the observed policy: simulated once */
    CHECK_EQ_U64(s.duplicates, 1);
    CHECK_EQ_U64(s.n_results, 5);
    CHECK(s.price_is_default);
    for (size_t i = 1; i < s.n_results; i++)
        CHECK(!sp_whatif_policy_equal(&s.results[i].policy, &s.results[0].policy));

    /* Observed (max batch 4, 1.2 ms per batch of 4, 4 arrivals per ms): batch k holds requests
     * 4k..4k+3 (arrivals k + 0.25j ms), is ready at k + 0.75 ms but the worker frees at 0.75 + 1.2k,
     * so it is done at 1.95 + 1.2k ms: latency 1.95 + 0.2k - 0.25j ms. Of the 200, p95 is the 190th
     * smallest, the 11th largest: 10.95 ms (k = 45, j = 0). */
    CHECK_EQ_U64(s.results[0].latency.p95_ns, 10950000);
    CHECK_EQ_U64(s.results[0].largest_batch, 4);
    CHECK_EQ_U64(s.results[0].extrapolated_batches, 0);
    /* Max batch 8 or 16 at 1 ms: the head waits its 1 ms, by then 5 requests wait (arrivals at
     * +0, .25, .5, .75, 1 ms), the batch takes 1 + 0.05 x 5 = 1.25 ms, and the next head (arrived
     * at +1.25 ms) reaches its deadline just as the worker frees. Latencies 2.25, 2.0, 1.75, 1.5,
     * 1.25 ms, 40 times: p95 2.25 ms. Batches of 5 are larger than any in the trace: flagged. */
    CHECK_EQ_U64(s.results[1].policy.max_batch, 8);
    CHECK_EQ_U64(s.results[1].latency.p95_ns, 2250000);
    CHECK_EQ_U64(s.results[2].latency.p95_ns, 2250000);
    CHECK_EQ_U64(s.results[1].largest_batch, 5);
    CHECK_EQ_U64(s.results[1].extrapolated_batches, 40);
    /* every row is flagged exactly when its batches leave the sizes seen (1..4; lengths all 32) */
    for (size_t i = 0; i < s.n_results; i++)
        CHECK((s.results[i].extrapolated_batches > 0) == (s.results[i].largest_batch > 4));

    /* the advice: one setting changed (max batch 4 -> 8, the first of the two rows at 2.25 ms) */
    CHECK(s.advice.found);
    CHECK_EQ_U64(s.advice.row, 1);
    CHECK_EQ_U64(s.advice.settings, 1u << SP_WHATIF_SET_MAX_BATCH);
    for (size_t i = 1; i < s.n_results; i++) {
        unsigned d = sp_whatif_policy_diff(&s.results[0].policy, &s.results[i].policy);
        if (d && !(d & (d - 1)))
            CHECK(s.results[i].latency.p95_ns >= s.results[s.advice.row].latency.p95_ns);
    }

    /* ---- the table ---- */
    size_t len;
    char *t = capture(sp_whatif_write_text, &s, &len);
    /* the fixture's 4 batches are fewer than a prediction needs (SP_WHATIF_THIN_BATCHES): said so first,
     * and the advice says it rests on them */
    CHECK(strstr(t, "\nWARNING: this profile is too thin to predict from (200 requests in 4 batches: fewer than "
                    "the 8 batches a prediction needs)") != NULL);
    CHECK(strstr(t, "advice (from a profile too thin to predict from: see the WARNING above): max-batch 4 -> 8 "
                    "lowers predicted p95") != NULL);
    CHECK(strstr(t, "10.95 ms -> 2.25 ms") != NULL);
    CHECK(strstr(t, "1 candidate policy batches like a policy above") != NULL);
    CHECK(strstr(t, "! extrapolated") != NULL);
    CHECK(strstr(t, "sizes 1..4") != NULL);
    CHECK(strstr(t, "given as options: max-batch") != NULL);
    /* durations carry a unit after a space, never glued ("delay=2.10141ms") */
    for (const char *p = t; (p = strstr(p, "ms")) != NULL; p++)
        CHECK(p == t || p[-1] == ' ');
    /* one line per result (observed* first, the rest blank-labelled) and every column's right edge
     * where its header's is, the long bucket list notwithstanding */
    size_t p95_end = header_end(t, "p95"), mark_col = header_end(t, "$/1M req");
    CHECK(p95_end > 0 && mark_col > 0);
    int rows = 0, flagged = 0;
    for (const char *line = strstr(t, "\nobserved*") + 1; *line == ' ' || strncmp(line, "observed*", 9) == 0;
         rows++) {
        const char *eol = strchr(line, '\n');
        CHECK((size_t)(eol - line) > p95_end);
        CHECK(strncmp(line + p95_end - 3, " ms", 3) == 0);
        CHECK(line[p95_end] == ' ');
        flagged += (size_t)(eol - line) > mark_col && line[eol - line - 1] == '!';
        line = eol + 1;
    }
    CHECK_EQ_U64(rows, s.n_results);
    size_t want_flags = 0;
    for (size_t i = 0; i < s.n_results; i++)
        want_flags += s.results[i].extrapolated_batches > 0;
    CHECK_EQ_U64(flagged, want_flags);
    CHECK(want_flags >= 2);
    free(t);

    /* ---- JSON ---- */
    char *js = capture(sp_whatif_write_json, &s, &len);
    jv root;
    const char *why;
    size_t at;
    CHECK(jv_parse(js, len, &root, &why, &at) == 0);
    const jv *pol = jv_get(&root, "policies");
    CHECK(pol && pol->type == JV_ARR && pol->n == s.n_results);
    for (size_t i = 0; pol && i < pol->n; i++) {
        const jv *x = jv_get(&pol->items[i], "extrapolated");
        CHECK(x && x->type == JV_BOOL && x->boolean == (s.results[i].extrapolated_batches > 0));
    }
    const jv *p95 = jv_path(&pol->items[1], "latency_ms.p95");
    CHECK(p95 && p95->type == JV_NUM && fabs(p95->num - 2.25) < 1e-9);
    const jv *adv = jv_path(&root, "advice.choice");
    CHECK(adv && adv->type == JV_NUM && adv->num == 1);
    const jv *set = jv_path(&root, "advice.settings");
    CHECK(set && set->type == JV_ARR && set->n == 1 && strcmp(set->items[0].str, "max-batch") == 0);
    const jv *dup = jv_get(&root, "duplicates_dropped");
    CHECK(dup && dup->num == 1);
    const jv *src = jv_path(&root, "observed.source.max_batch");
    CHECK(src && src->type == JV_STR && strcmp(src->str, "option") == 0);
    const jv *meth = jv_path(&root, "fit.method");
    CHECK(meth && strcmp(meth->str, "nonnegative_least_squares") == 0);
    jv_free(&root);
    free(js);

    /* an SLO only the larger batches meet: the cheapest of them is chosen */
    o.slo_p95_ns = 3 * MS;
    sp_whatif_study s2;
    CHECK(sp_whatif_study_run(&w, &f, &obs, cand, 5, &o, &s2, err, sizeof err) == SP_OK);
    CHECK(s2.slo_met);
    CHECK(s2.results[s2.slo_best].latency.p95_ns <= 3 * MS);
    CHECK(!s2.results[0].meets_slo);
    sp_whatif_study_clear(&s2);

    /* a candidate that cannot be simulated is an error naming it */
    cand[0].instances = 0;
    CHECK(sp_whatif_study_run(&w, &f, &obs, cand, 1, &o, &s2, err, sizeof err) == SP_ERR_INVALID);
    CHECK(strstr(err, "mb=4 delay=1.00 ms pad=longest inst=0") != NULL);

    sp_whatif_study_clear(&s);
    sp_whatif_study_clear(&s);
    sp_whatif_study_clear(NULL);
    sp_whatif_fit_clear(&f);
    sp_whatif_workload_clear(&w);
    return sp_test_done("test_whatif_study");
}
