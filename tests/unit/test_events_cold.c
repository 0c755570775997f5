/* The requests' side records (src/model/cold.c; docs/analysis.md section 8, "Memory"): a request
 * without one reads every rarely-set field as "none given"; only the requests that set a field (a
 * trace context, output tokens, tokens, a joined client record) get one; a finish after a clock
 * change joins afresh in the side records; a load that fails takes back its side records, tokens and
 * steps, so that the next file's requests, made in the same places, do not inherit them. Every
 * expected value is worked out by hand from the records below. */
#include <stdlib.h>
#include <string.h>

#include "model/events_int.h"
#include "testlib.h"

static sp_status load(sp_events *ev, const char *name, const char *text, char *err, size_t n)
{
    return sp_events_load_buffer(ev, name, text, strlen(text), NULL, err, n);
}

/* request `id` (text) of `file`, or NULL */
static const sp_ev_request *req_of(const sp_events *ev, uint32_t file, const char *id)
{
    for (size_t i = 0; i < ev->n_requests; i++)
        if (ev->requests[i].file == file && strcmp(sp_str_get(&ev->strings, ev->requests[i].id), id) == 0)
            return &ev->requests[i];
    return NULL;
}

static void check_defaults(const sp_ev_request_cold *c)
{
    CHECK_EQ_U64(c->client_intended_ns, SP_TIME_NONE);
    CHECK_EQ_U64(c->client_send_ns, SP_TIME_NONE);
    CHECK_EQ_U64(c->client_done_ns, SP_TIME_NONE);
    CHECK(c->client_offset_ns == 0);
    CHECK_EQ_U64(c->client_first_token_ns, SP_TIME_NONE);
    CHECK(c->output_tokens == -1);
    CHECK_EQ_U64(c->ntokens, 0);
    CHECK_EQ_U64(c->trace, SP_EV_NONE);
    CHECK_EQ_U64(c->client, SP_EV_NONE);
}

static const char server[] =
    "{\"ev\":\"request\",\"id\":\"r1\",\"arrival_ns\":1000,\"done_ns\":9000,"
    "\"trace_id\":\"0af7651916cd43dd8448eb211c80319c\",\"span_id\":\"b7ad6b7169203331\"}\n"
    "{\"ev\":\"request\",\"id\":\"r2\",\"arrival_ns\":2000,\"done_ns\":8000,\"output_tokens\":4}\n"
    "{\"ev\":\"request\",\"id\":\"r3\",\"arrival_ns\":3000,\"done_ns\":7000}\n"
    "{\"ev\":\"token\",\"id\":\"r2\",\"index\":0,\"time_ns\":5000}\n";
static const char client[] =
    "{\"ev\":\"client\",\"id\":\"r1\",\"intended_ns\":400,\"send_ns\":500,\"done_ns\":9500,\"status\":200}\n";

/* Only r1 (trace context, then the client join) and r2 (output tokens, a token) get a side record;
 * r3 reads the defaults. With the clock fixed at theta = 100 ns the client's times are +100 ns on the
 * server clock; fixed at -200 ns, the same side record holds the new ones. */
static void test_who_gets_one(void)
{
    sp_events *ev;
    char err[256];
    CHECK(sp_events_create(&ev) == SP_OK);
    CHECK(load(ev, "server.jsonl", server, err, sizeof err) == SP_OK);
    CHECK(load(ev, "client.jsonl", client, err, sizeof err) == SP_OK);
    CHECK(sp_ev_set_clock(ev, SP_CLOCK_FIXED, 100) == SP_OK);
    CHECK(sp_ev_finish(ev, false, err, sizeof err) == SP_OK);
    const sp_ev_request *r1 = req_of(ev, 0, "r1"), *r2 = req_of(ev, 0, "r2"), *r3 = req_of(ev, 0, "r3");
    CHECK(r1 && r2 && r3);
    if (!r1 || !r2 || !r3)
        goto out;
    CHECK_EQ_U64(ev->n_req_colds, 2);
    CHECK(r3->cold == SP_EV_NONE && sp_ev_cold(ev, r3) == &sp_ev_cold_none);
    check_defaults(sp_ev_cold(ev, r3));
    const sp_ev_request_cold *c1 = sp_ev_cold(ev, r1), *c2 = sp_ev_cold(ev, r2);
    CHECK(c1 != c2 && c1 != &sp_ev_cold_none && c2 != &sp_ev_cold_none);
    CHECK_EQ_U64(c1->trace, 0);
    CHECK_EQ_U64(c1->client, 0);
    CHECK_EQ_U64(c1->client_intended_ns, 500);   /* 400 + 100 */
    CHECK_EQ_U64(c1->client_send_ns, 600);       /* 500 + 100 */
    CHECK_EQ_U64(c1->client_done_ns, 9600);      /* 9500 + 100 */
    CHECK(c1->client_offset_ns == 100);
    CHECK(c1->output_tokens == -1);
    CHECK_EQ_U64(c1->ntokens, 0);
    CHECK(c2->output_tokens == 4);
    CHECK_EQ_U64(c2->ntokens, 1);
    CHECK_EQ_U64(ev->tokens[c2->first_token].time_ns, 5000);
    CHECK_EQ_U64(c2->client, SP_EV_NONE);
    CHECK_EQ_U64(c2->client_send_ns, SP_TIME_NONE);
    /* a clock change joins again at once: the same side record, the new times */
    CHECK(sp_ev_set_clock(ev, SP_CLOCK_FIXED, -200) == SP_OK);
    CHECK(sp_ev_finish(ev, false, err, sizeof err) == SP_OK);
    c1 = sp_ev_cold(ev, r1);
    CHECK_EQ_U64(ev->n_req_colds, 2);
    CHECK_EQ_U64(c1->client_send_ns, 300);       /* 500 - 200 */
    CHECK_EQ_U64(c1->client_done_ns, 9300);      /* 9500 - 200 */
    CHECK(c1->client_offset_ns == -200);
out:
    sp_events_destroy(ev);
}

/* A server-only trace makes no side record at all. */
static void test_server_only(void)
{
    sp_events *ev;
    char err[256];
    CHECK(sp_events_create(&ev) == SP_OK);
    CHECK(load(ev, "s.jsonl",
               "{\"ev\":\"request\",\"id\":\"a\",\"arrival_ns\":0,\"done_ns\":10,\"input_tokens\":3}\n"
               "{\"ev\":\"request\",\"id\":\"b\",\"arrival_ns\":5,\"done_ns\":20}\n"
               "{\"ev\":\"stage\",\"id\":\"b\",\"stage\":\"queue\",\"start_ns\":5,\"end_ns\":8}\n",
               err, sizeof err) == SP_OK);
    CHECK(sp_ev_finish(ev, false, err, sizeof err) == SP_OK);
    CHECK_EQ_U64(ev->n_requests, 2);
    CHECK_EQ_U64(ev->n_req_colds, 0);
    for (size_t i = 0; i < ev->n_requests; i++) {
        CHECK(ev->requests[i].cold == SP_EV_NONE);
        check_defaults(sp_ev_cold(ev, &ev->requests[i]));
    }
    sp_events_destroy(ev);
}

/* File 1 fails on its last line after giving b1 output tokens, a trace context, a token and a step:
 * all of it goes. File 2's requests then take b1's and b2's places (indexes 3 and 4) and have none of
 * it: without the rollback c1 would inherit b1's token. */
static void test_failed_load(void)
{
    sp_events *ev;
    char err[256];
    CHECK(sp_events_create(&ev) == SP_OK);
    CHECK(load(ev, "server.jsonl", server, err, sizeof err) == SP_OK);
    CHECK(sp_ev_finish(ev, false, err, sizeof err) == SP_OK);
    size_t colds = ev->n_req_colds, tokens = ev->n_tokens, steps = ev->n_steps;
    CHECK_EQ_U64(colds, 2);   /* r1 (trace context), r2 (output tokens, token) */
    CHECK_EQ_U64(tokens, 1);
    CHECK(load(ev, "bad.jsonl",
               "{\"ev\":\"request\",\"id\":\"b1\",\"arrival_ns\":0,\"done_ns\":900,\"output_tokens\":5,"
               "\"trace_id\":\"4bf92f3577b34da6a3ce929d0e0e4736\",\"span_id\":\"00f067aa0ba902b7\"}\n"
               "{\"ev\":\"request\",\"id\":\"b2\",\"arrival_ns\":0,\"done_ns\":900}\n"
               "{\"ev\":\"step\",\"batch\":1,\"requests\":[\"b1\",\"b2\"],\"phases\":[\"prefill\",\"prefill\"],"
               "\"tokens\":[3,4],\"start_ns\":100,\"end_ns\":300}\n"
               "{\"ev\":\"token\",\"id\":\"b1\",\"index\":0,\"time_ns\":400}\n"
               "{\"ev\":\"request\",\"id\":\"b3\",\"arrival_ns\":\"soon\",\"done_ns\":900}\n",
               err, sizeof err) != SP_OK);
    CHECK(strstr(err, "bad.jsonl") != NULL);
    CHECK_EQ_U64(ev->n_requests, 3);
    CHECK_EQ_U64(ev->n_req_colds, colds);
    CHECK_EQ_U64(ev->n_tokens, tokens);
    CHECK_EQ_U64(ev->n_steps, steps);
    CHECK_EQ_U64(ev->n_traces, 1);
    CHECK(load(ev, "good.jsonl",
               "{\"ev\":\"request\",\"id\":\"c1\",\"arrival_ns\":0,\"done_ns\":900}\n"
               "{\"ev\":\"request\",\"id\":\"c2\",\"arrival_ns\":10,\"done_ns\":900}\n",
               err, sizeof err) == SP_OK);
    CHECK(sp_ev_finish(ev, false, err, sizeof err) == SP_OK);
    const sp_ev_request *c1 = req_of(ev, 1, "c1"), *c2 = req_of(ev, 1, "c2"); /* file 1: bad.jsonl went too */
    CHECK(c1 && c2);
    if (c1 && c2) {
        CHECK_EQ_U64(c1 - ev->requests, 3);   /* b1's place */
        check_defaults(sp_ev_cold(ev, c1));
        check_defaults(sp_ev_cold(ev, c2));
    }
    CHECK_EQ_U64(ev->n_req_colds, colds);
    CHECK_EQ_U64(ev->n_tokens, tokens);
    sp_events_destroy(ev);
}

int main(void)
{
    test_who_gets_one();
    test_server_only();
    test_failed_load();
    return sp_test_done("test_events_cold");
}
