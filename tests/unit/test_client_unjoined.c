/* Client records that match no server request, by what the client saw (docs/analysis.md "Client
 * merge"): the join counts them by the HTTP status they got (2xx; 429 or 503, rejected; any other) and
 * counts the transport errors whose id matches no request either; the text line and the JSON keys
 * say so, and say what it most likely means: a trace that ended uncleanly (kill -9) lost the records
 * of requests the server answered; a trace that ended cleanly and still misses them may not belong
 * with the client's. Reports where every answered record matched read as before. All times, ids and
 * statuses are the test's own; the expected counts are read off the records written below. */
#include <sys/stat.h>

#include "servprof/report.h"
#include "trace_testutil.h"

static unsigned char *read_all(const char *path, size_t *n)
{
    FILE *fp = fopen(path, "rb");
    struct stat sb;
    if (!fp || stat(path, &sb) != 0)
        exit(1);
    *n = (size_t)sb.st_size;
    unsigned char *f = malloc(*n ? *n : 1);
    if (!f || fread(f, 1, *n, fp) != *n)
        exit(1);
    fclose(fp);
    return f;
}

static char *render(const sp_report *r, int json)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    CHECK(f != NULL);
    CHECK((json ? sp_report_write_json(r, f) : sp_report_write_text(r, f)) == SP_OK);
    fclose(f);
    return buf;
}

/* Joins the text report's wrapped lines ("\n  " continues a line) in place. */
static void unwrap(char *t)
{
    char *w = t;
    for (const char *p = t; *p;) {
        if (p[0] == '\n' && p[1] == ' ' && p[2] == ' ') {
            *w++ = ' ';
            p += 3;
        } else {
            *w++ = *p++;
        }
    }
    *w = '\0';
}

/* A server trace holding requests 1 and 2, finished, cut before its end record when `clean` is false
 * (what kill -9 leaves); *n gets its size. */
static unsigned char *server_trace(bool clean, size_t *n)
{
    char path[256];
    tt_path(path, clean ? "client_unjoined_clean" : "client_unjoined_cut");
    sp_recorder *rec;
    CHECK(sp_recorder_open(path, NULL, &rec) == SP_OK);
    sp_record_request(rec, 1, 1000, 5000, 10);
    sp_record_stage(rec, 1, SP_STAGE_PREPROCESS, 1000, 2000);
    sp_record_request(rec, 2, 2000, 6000, 10);
    sp_record_stage(rec, 2, SP_STAGE_PREPROCESS, 2000, 3000);
    CHECK(sp_recorder_flush(rec) == SP_OK);
    unsigned char *f = NULL;
    if (!clean)
        f = read_all(path, n);
    CHECK(sp_recorder_close(rec) == SP_OK);
    if (clean)
        f = read_all(path, n);
    unlink(path);
    return f;
}

static sp_report *analyze(sp_events **ev, bool clean, const char *client)
{
    size_t n;
    unsigned char *srv = server_trace(clean, &n);
    CHECK(sp_events_create(ev) == SP_OK);
    char err[512] = "";
    CHECK(sp_events_load_buffer(*ev, "s.sptrace", srv, n, NULL, err, sizeof err) == SP_OK);
    CHECK(sp_events_load_buffer(*ev, "c.jsonl", client, strlen(client), NULL, err, sizeof err) == SP_OK);
    free(srv);
    sp_report *r = NULL;
    CHECK(sp_analyze(*ev, NULL, &r, err, sizeof err) == SP_OK);
    return r;
}

#define CL(id, status) \
    "{\"ev\":\"client\",\"id\":\"" id "\",\"intended_ns\":900,\"send_ns\":950,\"done_ns\":7000,\"status\":" status "}\n"

int main(void)
{
    /* 1 and 2 join; of the records no request has, 2 got a 200 and 1 a 204 (2xx: 3), one a 503 and
     * one a 429 (rejected: 2), one a 404 (other: 1); "refused" never connected and "late" timed out
     * (-1, -2: transport errors of no request: 2), while 2's second record timed out too but its
     * request is in the trace (a transport error, not unmatched) */
    const char *client = CL("1", "200") CL("2", "200") CL("a", "200") CL("b", "200") CL("c", "204") CL("d", "503")
        CL("e", "429") CL("f", "404") CL("refused", "-1") CL("late", "-2") CL("2", "-2");
    sp_events *ev;
    sp_report *r = analyze(&ev, false, client);
    if (r) {
        CHECK_EQ_U64(r->requests_with_client, 2);
        CHECK_EQ_U64(r->client_records_unjoined, 6);
        CHECK_EQ_U64(r->client_records_unjoined_2xx, 3);
        CHECK_EQ_U64(r->client_records_unjoined_rejected, 2);
        CHECK_EQ_U64(r->client_records_unjoined_other, 1);
        CHECK_EQ_U64(r->client_records_failed, 3);
        CHECK_EQ_U64(r->client_records_failed_unmatched, 2);
        CHECK_EQ_U64(r->client_records_total, 11);
        CHECK_EQ_U64(r->unclean_files, 1);
        char *t = render(r, 0);
        unwrap(t);
        CHECK(strstr(t, "client records not used: 6 with no matching request, 3 transport errors (no response), 0 "
                        "duplicates of a request's joined record; the 6 with no matching request got an answer "
                        "(3 2xx, 2 rejected with 429/503, 1 with another status): the server trace has no end "
                        "record, so they are most likely requests the server answered whose records it lost when "
                        "it died; 2 of the transport errors match no request either\n") != NULL);
        free(t);
        t = render(r, 1);
        CHECK(strstr(t, "\"client_records\":{\"unjoined\":6,\"failed\":3,\"duplicate\":0,\"by_trace_id\":0,"
                        "\"unfinished\":0,\"failed_streams\":0,\"unsent\":0,\"unjoined_seen\":{\"2xx\":3,"
                        "\"rejected\":2,\"other_status\":1,\"no_response\":2},"
                        "\"unjoined_likely\":\"server_lost_records\"},\"trace_context\"") != NULL);
        free(t);
        sp_report_destroy(r);
    }
    sp_events_destroy(ev);

    /* the same records against a trace that ended cleanly: 8 of 11 (6 answered, 2 transport errors)
     * match no request, most of them */
    r = analyze(&ev, true, client);
    if (r) {
        CHECK_EQ_U64(r->unclean_files, 0);
        CHECK_EQ_U64(r->client_records_unjoined, 6);
        char *t = render(r, 0);
        unwrap(t);
        CHECK(strstr(t, "(3 2xx, 2 rejected with 429/503, 1 with another status): most client records (8 of 11) "
                        "match no request and the server trace shows no unclean end: the client and server traces "
                        "may not belong together (a client of another server, or a trace from another run); 2 of "
                        "the transport errors match no request either\n") != NULL);
        free(t);
        t = render(r, 1);
        CHECK(strstr(t, "\"unjoined_likely\":\"traces_mismatch\"}") != NULL);
        free(t);
        sp_report_destroy(r);
    }
    sp_events_destroy(ev);

    /* a clean trace and one stray 500 among five records: not most, the same reading */
    const char *few = CL("1", "200") CL("2", "200") CL("1", "200") CL("2", "200") CL("x", "500");
    r = analyze(&ev, true, few);
    if (r) {
        CHECK_EQ_U64(r->client_records_unjoined, 1);
        CHECK_EQ_U64(r->client_records_unjoined_other, 1);
        CHECK_EQ_U64(r->client_records_failed_unmatched, 0);
        char *t = render(r, 0);
        unwrap(t);
        CHECK(strstr(t, "2 duplicates of a request's joined record; the 1 with no matching request got an answer "
                        "(1 with another status): the server trace shows no unclean end, so the server did not "
                        "record it: the client and server traces may not belong together (a client of another "
                        "server, or a trace from another run)\n") != NULL);
        free(t);
        sp_report_destroy(r);
    }
    sp_events_destroy(ev);

    /* every answered record matched (only a transport error of no request): no new words or keys */
    const char *matched = CL("1", "200") CL("2", "503") CL("gone", "-1");
    r = analyze(&ev, false, matched);
    if (r) {
        CHECK_EQ_U64(r->client_records_unjoined, 0);
        CHECK_EQ_U64(r->client_records_failed_unmatched, 1);
        char *t = render(r, 0);
        unwrap(t);
        CHECK(strstr(t, "client records not used: 0 with no matching request, 1 transport error (no response), 0 "
                        "duplicates of a request's joined record\n") != NULL);
        free(t);
        t = render(r, 1);
        CHECK(strstr(t, "\"unsent\":0},\"trace_context\"") != NULL);
        CHECK(strstr(t, "unjoined_seen") == NULL && strstr(t, "unjoined_likely") == NULL);
        free(t);
        sp_report_destroy(r);
    }
    sp_events_destroy(ev);
    /* a client trace alone: no server request to tell lost records from strays by */
    const char *alone = CL("1", "200") CL("2", "429") CL("gone", "-1");
    CHECK(sp_events_create(&ev) == SP_OK);
    char err[512] = "";
    CHECK(sp_events_load_buffer(ev, "c.jsonl", alone, strlen(alone), NULL, err, sizeof err) == SP_OK);
    r = NULL;
    CHECK(sp_analyze(ev, NULL, &r, err, sizeof err) == SP_OK);
    if (r) {
        CHECK_EQ_U64(r->client_records_unjoined, 2);
        CHECK_EQ_U64(r->client_records_failed_unmatched, 1);
        char *t = render(r, 0);
        unwrap(t);
        CHECK(strstr(t, "; the 2 with no matching request got an answer (1 2xx, 1 rejected with 429/503): no loaded "
                        "trace holds a server request; 1 of the transport errors matches no request either\n") != NULL);
        free(t);
        t = render(r, 1);
        CHECK(strstr(t, "\"unjoined_seen\":{\"2xx\":1,\"rejected\":1,\"other_status\":0,\"no_response\":1},"
                        "\"unjoined_likely\":\"no_server_requests\"}") != NULL);
        free(t);
        sp_report_destroy(r);
    }
    sp_events_destroy(ev);
    return sp_test_done("test_client_unjoined");
}
