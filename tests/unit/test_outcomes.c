/* Outcomes (DESIGN 8a) from JSONL traces: every outcome read from request records, counted, with its
 * own latency, the rejection rate and the statuses; percentiles over ok requests by default and over
 * every finished request with SP_SCOPE_FINISHED; an unfinished request without a done time; the
 * verdict's rejection clause at its 1% threshold and the verdict when nothing is ok; a client 503
 * joined to the server's rejected request; malformed outcome fields and unexplained references still
 * refused; the text, JSON and HTML writers. Every expected figure is hand-computed in a comment
 * (nearest rank, DESIGN 4: k = ceil(XX x n / 100)). */
#include <stdlib.h>
#include <string.h>

#include "json_mini.h"
#include "model/events_int.h"
#include "testlib.h"

/* Times in ns. ok: o1..o4 live 10, 20, 30, 40 us; rejected r1 1 us and r2 3 us (503); error e1 2 us
 * (400); cancelled c1 50 us (status 200: answered, but the client was gone); unfinished u1 from
 * 60 us, no done, with a queue span to 70 us, the trace's last time. */
static const char *trace_a =
    "{\"ev\":\"meta\",\"format\":\"servprof.events/1\"}\n"
    "{\"ev\":\"request\",\"id\":\"o1\",\"arrival_ns\":0,\"done_ns\":10000}\n"
    "{\"ev\":\"request\",\"id\":\"o2\",\"arrival_ns\":1000,\"done_ns\":21000,\"outcome\":\"ok\"}\n"
    "{\"ev\":\"request\",\"id\":\"o3\",\"arrival_ns\":2000,\"done_ns\":32000}\n"
    "{\"ev\":\"request\",\"id\":\"o4\",\"arrival_ns\":3000,\"done_ns\":43000}\n"
    "{\"ev\":\"stage\",\"id\":\"o1\",\"stage\":\"queue\",\"start_ns\":0,\"end_ns\":10000}\n"
    "{\"ev\":\"stage\",\"id\":\"o2\",\"stage\":\"queue\",\"start_ns\":1000,\"end_ns\":21000}\n"
    "{\"ev\":\"stage\",\"id\":\"o3\",\"stage\":\"queue\",\"start_ns\":2000,\"end_ns\":32000}\n"
    "{\"ev\":\"stage\",\"id\":\"o4\",\"stage\":\"queue\",\"start_ns\":3000,\"end_ns\":43000}\n"
    "{\"ev\":\"request\",\"id\":\"r1\",\"arrival_ns\":4000,\"done_ns\":5000,\"outcome\":\"rejected\",\"status\":503}\n"
    "{\"ev\":\"stage\",\"id\":\"r1\",\"stage\":\"preprocess\",\"start_ns\":4000,\"end_ns\":5000}\n"
    "{\"ev\":\"request\",\"id\":\"r2\",\"arrival_ns\":4500,\"done_ns\":7500,\"outcome\":\"rejected\",\"status\":503}\n"
    "{\"ev\":\"stage\",\"id\":\"r2\",\"stage\":\"preprocess\",\"start_ns\":4500,\"end_ns\":7500}\n"
    "{\"ev\":\"request\",\"id\":\"e1\",\"arrival_ns\":6000,\"done_ns\":8000,\"outcome\":\"error\",\"status\":400}\n"
    "{\"ev\":\"stage\",\"id\":\"e1\",\"stage\":\"preprocess\",\"start_ns\":6000,\"end_ns\":8000}\n"
    "{\"ev\":\"request\",\"id\":\"c1\",\"arrival_ns\":7000,\"done_ns\":57000,\"outcome\":\"cancelled\",\"status\":200}\n"
    "{\"ev\":\"stage\",\"id\":\"c1\",\"stage\":\"queue\",\"start_ns\":7000,\"end_ns\":57000}\n"
    "{\"ev\":\"request\",\"id\":\"u1\",\"arrival_ns\":60000,\"outcome\":\"unfinished\"}\n"
    "{\"ev\":\"stage\",\"id\":\"u1\",\"stage\":\"queue\",\"start_ns\":60000,\"end_ns\":70000}\n";

static sp_report *analyze_text(const char *text, sp_outcome_scope scope, sp_status want, const char *want_err)
{
    sp_events *ev = sp_test_load_jsonl(text);
    sp_analyze_options o;
    sp_analyze_options_init(&o);
    o.outcomes = scope;
    sp_report *r = NULL;
    char err[512] = "";
    sp_status st = sp_analyze(ev, &o, &r, err, sizeof err);
    CHECK(st == want);
    if (want_err && !strstr(err, want_err)) {
        fprintf(stderr, "error \"%s\" lacks \"%s\"\n", err, want_err);
        CHECK(0);
    }
    if (st != SP_OK)
        r = NULL;
    sp_events_destroy(ev);
    return r;
}

static void test_counts_and_latency(void)
{
    sp_report *r = analyze_text(trace_a, SP_SCOPE_OK, SP_OK, NULL);
    if (!r)
        return;
    CHECK_EQ_U64(r->requests_total, 9);
    CHECK_EQ_U64(r->outcomes[SP_OUTCOME_OK].count, 4);
    CHECK_EQ_U64(r->outcomes[SP_OUTCOME_REJECTED].count, 2);
    CHECK_EQ_U64(r->outcomes[SP_OUTCOME_ERROR].count, 1);
    CHECK_EQ_U64(r->outcomes[SP_OUTCOME_CANCELLED].count, 1);
    CHECK_EQ_U64(r->outcomes[SP_OUTCOME_UNFINISHED].count, 1);
    CHECK_NEAR(r->rejection_rate, 2.0 / 9.0, 1e-12);
    /* the served percentiles are over o1..o4 only, {10, 20, 30, 40} us: p50 rank ceil(2) = 2 -> 20 us,
     * p95 rank ceil(3.8) = 4 -> 40 us, mean 25 us */
    CHECK_EQ_U64(r->request_count, 4);
    CHECK_EQ_U64(r->latency.p50_ns, 20000);
    CHECK_EQ_U64(r->latency.p95_ns, 40000);
    CHECK_EQ_U64(r->latency.p99_ns, 40000);
    CHECK_NEAR(r->latency.mean_ns, 25000.0, 1e-9);
    CHECK_EQ_U64(r->outcomes[SP_OUTCOME_OK].latency.p50_ns, 20000);
    /* rejected {1, 3} us: p50 rank 1 -> 1 us, p95 rank 2 -> 3 us, mean 2 us */
    const sp_quantiles *q = &r->outcomes[SP_OUTCOME_REJECTED].latency;
    CHECK_EQ_U64(q->count, 2);
    CHECK_EQ_U64(q->p50_ns, 1000);
    CHECK_EQ_U64(q->p95_ns, 3000);
    CHECK_NEAR(q->mean_ns, 2000.0, 1e-9);
    CHECK_EQ_U64(r->outcomes[SP_OUTCOME_ERROR].latency.max_ns, 2000);
    CHECK_EQ_U64(r->outcomes[SP_OUTCOME_CANCELLED].latency.max_ns, 50000);
    /* unfinished: from its arrival (60 us) to the trace's last time, its own queue span's end (70 us) */
    CHECK_EQ_U64(r->outcomes[SP_OUTCOME_UNFINISHED].latency.count, 1);
    CHECK_EQ_U64(r->outcomes[SP_OUTCOME_UNFINISHED].latency.max_ns, 10000);
    /* statuses of the non-ok requests, ascending: 200 (the cancelled one), 400, 503 x 2 */
    CHECK_EQ_U64(r->n_statuses, 3);
    if (r->n_statuses == 3) {
        CHECK(r->statuses[0].status == 200 && r->statuses[0].count == 1);
        CHECK(r->statuses[1].status == 400 && r->statuses[1].count == 1);
        CHECK(r->statuses[2].status == 503 && r->statuses[2].count == 2);
    }
    CHECK_EQ_U64(r->unclean_files, 0); /* JSONL has no end marker: never unclean */
    CHECK(r->outcome_scope == SP_SCOPE_OK);
    sp_report_destroy(r);
}

static void test_scope_all(void)
{
    sp_report *r = analyze_text(trace_a, SP_SCOPE_FINISHED, SP_OK, NULL);
    if (!r)
        return;
    /* every finished request: lives {1, 2, 3, 10, 20, 30, 40, 50} us (u1 has no done time): p50 rank
     * 4 -> 10 us, p95 rank ceil(7.6) = 8 -> 50 us, mean 156 / 8 = 19.5 us */
    CHECK_EQ_U64(r->request_count, 8);
    CHECK_EQ_U64(r->latency.p50_ns, 10000);
    CHECK_EQ_U64(r->latency.p95_ns, 50000);
    CHECK_NEAR(r->latency.mean_ns, 19500.0, 1e-9);
    /* the outcome rows do not depend on the scope */
    CHECK_EQ_U64(r->outcomes[SP_OUTCOME_REJECTED].latency.p95_ns, 3000);
    CHECK_EQ_U64(r->requests_total, 9);
    CHECK(r->outcome_scope == SP_SCOPE_FINISHED);
    /* stages: preprocess holds r1, r2 and e1 (6 us of 156 us in all); its p95 over the 8 is rank 8 of
     * {0 x 5, 1, 2, 3} us = 3 us */
    for (size_t i = 0; i < r->n_stages; i++)
        if (!strcmp(r->stages[i].name, "preprocess"))
            CHECK_EQ_U64(r->stages[i].q.p95_ns, 3000);
    sp_report_destroy(r);
}

/* `ok` requests ok-led, then `rejected` rejections, each 1 us with a queue span. */
static char *many(int ok, int rejected)
{
    size_t cap = (size_t)(ok + rejected) * 256 + 64;
    char *s = malloc(cap);
    size_t at = (size_t)snprintf(s, cap, "{\"ev\":\"meta\",\"format\":\"servprof.events/1\"}\n");
    for (int i = 0; i < ok + rejected; i++) {
        at += (size_t)snprintf(s + at, cap - at,
                               "{\"ev\":\"request\",\"id\":\"q%d\",\"arrival_ns\":%d,\"done_ns\":%d%s}\n"
                               "{\"ev\":\"stage\",\"id\":\"q%d\",\"stage\":\"queue\",\"start_ns\":%d,\"end_ns\":%d}\n",
                               i, i * 1000, i * 1000 + 1000,
                               i < ok ? "" : ",\"outcome\":\"rejected\",\"status\":503", i, i * 1000, i * 1000 + 1000);
    }
    return s;
}

static void test_verdict_threshold(void)
{
    /* 99 ok + 1 rejected: 1 of 100 = 1.0%, at the threshold: the verdict says so */
    char *t = many(99, 1);
    sp_report *r = analyze_text(t, SP_SCOPE_OK, SP_OK, NULL);
    free(t);
    if (r) {
        CHECK(r->verdict.sentence && strstr(r->verdict.sentence, "Requests are being rejected: 1.0% of all "
                                                                 "requests (1 of 100) were refused"));
        CHECK(r->verdict.sentence && strstr(r->verdict.sentence, "understates the problem"));
        /* the leader is unchanged: the clause is added, not a new verdict */
        CHECK(r->verdict.stage && !strcmp(r->verdict.stage, "queue"));
        sp_report_destroy(r);
    }
    /* 100 ok + 1 rejected: 1 of 101 = 0.99%, under it: nothing said */
    t = many(100, 1);
    r = analyze_text(t, SP_SCOPE_OK, SP_OK, NULL);
    free(t);
    if (r) {
        CHECK(r->verdict.sentence && !strstr(r->verdict.sentence, "rejected"));
        CHECK_EQ_U64(r->outcomes[SP_OUTCOME_REJECTED].count, 1);
        sp_report_destroy(r);
    }
    /* nothing ok: no latency to attribute, the outcomes and the rejection clause instead */
    t = many(0, 3);
    r = analyze_text(t, SP_SCOPE_OK, SP_OK, NULL);
    free(t);
    if (r) {
        CHECK_EQ_U64(r->request_count, 0);
        CHECK(r->verdict.stage == NULL && r->verdict.group == SP_GROUP_NONE);
        CHECK(r->verdict.sentence && strstr(r->verdict.sentence, "No request to analyse: of 3 requests, 3 rejected; "
                                                                 "there is no latency to attribute. Requests are "
                                                                 "being rejected: 100.0% of all requests (3 of 3)"));
        sp_report_destroy(r);
    }
}

/* A client record that got the 503 joins the server's rejected request: its latency is then what the
 * client saw (send 500 -> reply 2600 on one clock: one file). A transport error is not joined. */
static void test_client_join(void)
{
    const char *t = "{\"ev\":\"request\",\"id\":\"ok\",\"arrival_ns\":1000,\"done_ns\":5000}\n"
                    "{\"ev\":\"client\",\"id\":\"ok\",\"intended_ns\":400,\"send_ns\":500,\"done_ns\":5500,\"status\":200}\n"
                    "{\"ev\":\"request\",\"id\":\"no\",\"arrival_ns\":1000,\"done_ns\":2000,\"outcome\":\"rejected\","
                    "\"status\":503}\n"
                    "{\"ev\":\"client\",\"id\":\"no\",\"intended_ns\":400,\"send_ns\":500,\"done_ns\":2600,\"status\":503}\n"
                    "{\"ev\":\"client\",\"id\":\"lost\",\"intended_ns\":400,\"send_ns\":500,\"done_ns\":9000,\"status\":-1}\n";
    sp_report *r = analyze_text(t, SP_SCOPE_OK, SP_OK, NULL);
    if (!r)
        return;
    CHECK_EQ_U64(r->client_records_unjoined, 0);
    CHECK_EQ_U64(r->client_records_failed, 1);
    /* [min(500, 1000), max(2600, 2000)] = 2100 ns */
    CHECK_EQ_U64(r->outcomes[SP_OUTCOME_REJECTED].latency.max_ns, 2100);
    /* the ok request: [500, 5500] = 5000 ns; the rejected one stays out of it */
    CHECK_EQ_U64(r->request_count, 1);
    CHECK_EQ_U64(r->latency.max_ns, 5000);
    sp_report_destroy(r);
}

static void load_fails(const char *text, const char *want)
{
    sp_events *ev;
    CHECK(sp_events_create(&ev) == SP_OK);
    char err[512] = "";
    CHECK(sp_events_load_buffer(ev, "t.jsonl", text, strlen(text), NULL, err, sizeof err) == SP_ERR_PARSE);
    if (!strstr(err, want)) {
        fprintf(stderr, "error \"%s\" lacks \"%s\"\n", err, want);
        CHECK(0);
    }
    sp_events_destroy(ev);
}

static void test_malformed(void)
{
    const char *meta = "{\"ev\":\"meta\",\"format\":\"servprof.events/1\"}\n";
    char t[512];
    snprintf(t, sizeof t, "%s{\"ev\":\"request\",\"id\":\"a\",\"arrival_ns\":0,\"done_ns\":5,\"outcome\":\"timeout\"}\n",
             meta);
    load_fails(t, "t.jsonl:2: \"outcome\" is \"timeout\" (expected ok, rejected, error, cancelled or unfinished)");
    snprintf(t, sizeof t, "%s{\"ev\":\"request\",\"id\":\"a\",\"arrival_ns\":0,\"done_ns\":5,\"outcome\":3}\n", meta);
    load_fails(t, "t.jsonl:2: \"outcome\" must be a string, not an integer");
    snprintf(t, sizeof t, "%s{\"ev\":\"request\",\"id\":\"a\",\"arrival_ns\":0,\"done_ns\":5,\"outcome\":\"\"}\n", meta);
    load_fails(t, "t.jsonl:2: \"outcome\" is empty");
    /* only an unfinished request may lack done_ns */
    snprintf(t, sizeof t, "%s{\"ev\":\"request\",\"id\":\"a\",\"arrival_ns\":0,\"outcome\":\"rejected\"}\n", meta);
    load_fails(t, "t.jsonl:2: missing \"done_ns\"");
    snprintf(t, sizeof t, "%s{\"ev\":\"request\",\"id\":\"a\",\"arrival_ns\":0,\"done_ns\":5,\"status\":1000}\n", meta);
    load_fails(t, "t.jsonl:2: \"status\" is out of range: 1000");
    snprintf(t, sizeof t,
             "%s{\"ev\":\"request\",\"id\":\"a\",\"arrival_ns\":0,\"done_ns\":5}\n"
             "{\"ev\":\"request\",\"id\":\"a\",\"arrival_ns\":0,\"done_ns\":5,\"outcome\":\"error\"}\n",
             meta);
    load_fails(t, "t.jsonl:3: duplicate request record for id \"a\"");
    /* an exact repeat is harmless, outcome included */
    snprintf(t, sizeof t,
             "%s{\"ev\":\"request\",\"id\":\"a\",\"arrival_ns\":0,\"done_ns\":5,\"outcome\":\"error\",\"status\":500}\n"
             "{\"ev\":\"request\",\"id\":\"a\",\"arrival_ns\":0,\"done_ns\":5,\"outcome\":\"error\",\"status\":500}\n",
             meta);
    sp_report *r = analyze_text(t, SP_SCOPE_OK, SP_OK, NULL);
    if (r) {
        CHECK_EQ_U64(r->outcomes[SP_OUTCOME_ERROR].count, 1);
        sp_report_destroy(r);
    }
    /* a stage naming a request without a record: a JSONL trace never says why, so it stays an error */
    snprintf(t, sizeof t, "%s{\"ev\":\"stage\",\"id\":\"ghost\",\"stage\":\"queue\",\"start_ns\":0,\"end_ns\":5}\n", meta);
    r = analyze_text(t, SP_SCOPE_OK, SP_ERR_PARSE, "request id \"ghost\" is referenced by a stage or batch but has "
                                                   "no request record");
    sp_report_destroy(r);
}

/* An all-ok trace reads as before in text; the JSON report always has its outcomes object. */
static void test_writers(void)
{
    char *ok = many(3, 0);
    const char *traces[2] = {trace_a, ok};
    for (int k = 0; k < 2; k++) {
        sp_report *r = analyze_text(traces[k], SP_SCOPE_OK, SP_OK, NULL);
        if (!r)
            continue;
        char *buf = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&buf, &len);
        CHECK(sp_report_write_text(r, f) == SP_OK);
        fclose(f);
        if (k == 0) {
            CHECK(strstr(buf, "outcomes: 9 requests: 4 ok, 2 rejected, 1 error, 1 cancelled, 1 unfinished; "
                              "rejection rate 22.2%") != NULL);
            CHECK(strstr(buf, "HTTP statuses of the others: 200 x 1, 400 x 1, 503 x 2") != NULL);
        } else {
            CHECK(strstr(buf, "outcomes:") == NULL);
        }
        free(buf);
        buf = NULL;
        f = open_memstream(&buf, &len);
        CHECK(sp_report_write_html(r, NULL, f) == SP_OK);
        fclose(f);
        /* the HTML report's outcomes section: only when some request is not ok */
        CHECK((strstr(buf, "<section id=\"outcomes\">") != NULL) == (k == 0));
        if (k == 0)
            CHECK(strstr(buf, "<tr><td>rejected</td><td>2</td><td>1.0 us</td><td>3.0 us</td>") != NULL);
        free(buf);
        buf = NULL;
        f = open_memstream(&buf, &len);
        CHECK(sp_report_write_json(r, f) == SP_OK);
        fclose(f);
        jv root;
        const char *why = NULL;
        size_t at = 0;
        CHECK(jv_parse(buf, len, &root, &why, &at) == 0);
        const jv *o = jv_path(&root, "outcomes");
        CHECK(o && o->type == JV_OBJ);
        const jv *total = jv_path(&root, "outcomes.total"), *rate = jv_path(&root, "outcomes.rejection_rate");
        const jv *rej = jv_path(&root, "outcomes.by_outcome.rejected.count");
        const jv *unf = jv_path(&root, "outcomes.by_outcome.unfinished.latency_us.max");
        const jv *scope = jv_path(&root, "outcomes.scope"), *unb = jv_path(&root, "outcomes.unfinished_batches");
        CHECK(scope && scope->type == JV_STR && !strcmp(scope->str, "ok"));
        CHECK(unb && unb->type == JV_NUM && unb->num == 0);
        if (k == 0) {
            CHECK(total && total->num == 9);
            CHECK(rate && fabs(rate->num - 2.0 / 9.0) < 1e-6);
            CHECK(rej && rej->num == 2);
            CHECK(unf && unf->num == 10.0); /* 10000 ns = 10 us */
            const jv *st = jv_path(&root, "outcomes.statuses");
            CHECK(st && st->type == JV_ARR && st->n == 3);
        } else {
            CHECK(total && total->num == 3);
            CHECK(rate && rate->num == 0);
            CHECK(rej && rej->num == 0);
            /* no unfinished request: its latency is null, never invented */
            CHECK(unf && unf->type == JV_NULL);
        }
        jv_free(&root);
        free(buf);
        sp_report_destroy(r);
    }
    free(ok);
}

int main(void)
{
    test_counts_and_latency();
    test_scope_all();
    test_verdict_threshold();
    test_client_join();
    test_malformed();
    test_writers();
    return sp_test_done("test_outcomes");
}
