/* Client records of requests the server never finished (docs/analysis.md, "Client merge"): a server
 * trace cut before its recorder closed (what kill -9 leaves) makes in-flight requests unfinished, and
 * the load generator's records for them are counted as such, apart from records whose id no request
 * has at all, and those of them that got an answer (the server's end record lost) apart again; the
 * text, HTML and JSON reports name them so. All times and ids are the test's own. */
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

static char *render(const sp_report *r, const sp_events *ev, int which)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    CHECK(f != NULL);
    sp_status st = which == 0 ? sp_report_write_text(r, f) : which == 1 ? sp_report_write_json(r, f)
                                                                         : sp_report_write_html(r, ev, f);
    CHECK(st == SP_OK);
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

int main(void)
{
    char path[256];
    tt_path(path, "client_unfinished");
    sp_recorder *rec;
    CHECK(sp_recorder_open(path, NULL, &rec) == SP_OK);
    /* request 1 finished [1000, 5000]; 10, 11 and 12 were in flight when the process died */
    sp_record_request(rec, 1, 1000, 5000, 10);
    sp_record_stage(rec, 1, SP_STAGE_PREPROCESS, 1000, 2000);
    sp_record_stage(rec, 10, SP_STAGE_PREPROCESS, 3000, 3200);
    sp_record_stage(rec, 11, SP_STAGE_PREPROCESS, 6500, 6600);
    sp_record_stage(rec, 12, SP_STAGE_PREPROCESS, 7000, 7100);
    CHECK(sp_recorder_flush(rec) == SP_OK);
    size_t n_cut;
    unsigned char *cut = read_all(path, &n_cut); /* no end record */
    CHECK(sp_recorder_close(rec) == SP_OK);
    unlink(path);

    /* the client saw answers for 1, 10 and 11 (the server answered before its last records reached
     * the file) and one for an id the server never had; 12's stream was cut by the server's death
     * (status -3, an I/O error after two tokens: counted with the unfinished, not as a transport fault,
     * before: "1 transport error (no response)"), and "refused" never connected (-1: a transport error) */
    const char *client =
        "{\"ev\":\"client\",\"id\":\"1\",\"intended_ns\":900,\"send_ns\":950,\"done_ns\":5100,\"status\":200}\n"
        "{\"ev\":\"client\",\"id\":\"10\",\"intended_ns\":2900,\"send_ns\":2950,\"done_ns\":8000,\"status\":200}\n"
        "{\"ev\":\"client\",\"id\":\"11\",\"intended_ns\":6400,\"send_ns\":6450,\"done_ns\":9000,\"status\":200}\n"
        "{\"ev\":\"client\",\"id\":\"stray\",\"intended_ns\":1,\"send_ns\":2,\"done_ns\":9,\"status\":200}\n"
        "{\"ev\":\"client\",\"id\":\"12\",\"intended_ns\":6900,\"send_ns\":6950,\"done_ns\":9500,\"status\":-3,"
        "\"max_tokens\":8,\"output_tokens\":2,\"first_token_ns\":8000,\"token_ns\":[8000,8500]}\n"
        "{\"ev\":\"client\",\"id\":\"refused\",\"intended_ns\":7000,\"send_ns\":7000,\"done_ns\":7100,\"status\":-1}\n";
    sp_events *ev;
    CHECK(sp_events_create(&ev) == SP_OK);
    char err[512] = "";
    CHECK(sp_events_load_buffer(ev, "s.sptrace", cut, n_cut, NULL, err, sizeof err) == SP_OK);
    CHECK(sp_events_load_buffer(ev, "c.jsonl", client, strlen(client), NULL, err, sizeof err) == SP_OK);
    sp_report *r = NULL;
    CHECK(sp_analyze(ev, NULL, &r, err, sizeof err) == SP_OK);
    if (r) {
        CHECK_EQ_U64(r->outcomes[SP_OUTCOME_UNFINISHED].count, 3);
        CHECK_EQ_U64(r->requests_with_client, 1);
        CHECK_EQ_U64(r->client_records_unfinished, 3);
        /* 10 and 11 got their answers: the server finished them, the cut trace lost their ends (before:
         * counted with 12 as requests that did not finish, nothing said of the answers) */
        CHECK_EQ_U64(r->client_records_unfinished_answered, 2);
        CHECK_EQ_U64(r->client_records_failed, 1);
        CHECK_EQ_U64(r->client_records_unjoined, 1);
        char *t = render(r, ev, 0);
        unwrap(t);
        CHECK(strstr(t, "client records not used: 3 whose request did not finish in the server trace "
                        "(unfinished; 2 of them got an answer: the server answered, the trace ended before their "
                        "end records), 1 with no matching request, 1 transport error (no response)") != NULL);
        free(t);
        t = render(r, ev, 1);
        CHECK(strstr(t, "\"client_records\":{\"unjoined\":1,\"failed\":1,\"duplicate\":0,\"by_trace_id\":0,"
                        "\"unfinished\":3,\"failed_streams\":0,\"unsent\":0,\"unfinished_answered\":2,"
                        "\"unjoined_seen\":{\"2xx\":1,\"rejected\":0,\"other_status\":0,\"no_response\":1},"
                        "\"unjoined_likely\":\"server_lost_records\"}") != NULL);
        /* "stray" got a 200; "refused" is no request's */
        free(t);
        t = render(r, ev, 2);
        CHECK(strstr(t, "<tr><td>client records whose request did not finish in the server trace (unfinished)"
                        "</td><td>3</td></tr>") != NULL);
        CHECK(strstr(t, "<tr><td>of them, answered (the server answered; the trace ended before their end "
                        "records)</td><td>2</td></tr>") != NULL);
        CHECK(strstr(t, "<tr><td>client records with no matching request</td><td>1</td></tr>") != NULL);
        free(t);
        sp_report_destroy(r);
    }
    sp_events_destroy(ev);
    free(cut);
    return sp_test_done("test_client_unfinished");
}
