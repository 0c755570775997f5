/* servprof.events/1 JSONL importer: known traces read back exactly into the event model arrays
 * (the expected values are the ones written in the input text: DESIGN section 9's example plus the
 * other record kinds), gzip input, inputs spanning many read chunks, and forward compatibility. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "model/events_int.h"
#include "testlib.h"

/* DESIGN section 9's example, lines shuffled (any order is allowed), with r2's request record added
 * so the set finishes cleanly; CRLF on one line, blank lines, an unknown key and no final newline. */
static const char *const g_example =
    "{\"ev\":\"stage\",\"id\":\"r1\",\"stage\":\"queue\",\"start_ns\":51000,\"end_ns\":301000}\n"
    "{\"ev\":\"meta\",\"format\":\"servprof.events/1\",\"clock\":\"monotonic\",\"price_per_hour\":4.0}\r\n"
    "\n"
    "{\"ev\":\"request\",\"id\":\"r1\",\"arrival_ns\":1000,\"done_ns\":905000,\"input_tokens\":37}\n"
    "{\"ev\":\"stage\",\"id\":\"r1\",\"stage\":\"preprocess\",\"start_ns\":1000,\"end_ns\":51000}\n"
    "{\"ev\":\"batch\",\"batch\":7,\"requests\":[\"r1\",\"r2\"],\"start_ns\":301000,\"end_ns\":801000,"
    "\"effective_tokens\":60,\"padded_tokens\":80}\n"
    "   \t \n"
    "{\"ev\":\"copy\",\"batch\":7,\"kind\":\"h2d\",\"bytes\":4096,\"start_ns\":301000,\"end_ns\":321000}\n"
    "{\"ev\":\"kernel\",\"batch\":7,\"name\":\"gemm_f32\",\"stream\":0,\"start_ns\":331000,\"end_ns\":761000,"
    "\"extra\":{\"nested\":[1,{\"x\":null}]}}\n"
    "{\"ev\":\"copy\",\"batch\":7,\"kind\":\"d2h\",\"bytes\":2048,\"start_ns\":771000,\"end_ns\":781000}\n"
    "{\"ev\":\"request\",\"id\":\"r2\",\"arrival_ns\":2000,\"done_ns\":906000}\n"
    "{\"ev\":\"stage\",\"id\":\"r1\",\"stage\":\"postprocess\",\"start_ns\":801000,\"end_ns\":905000}";

static void test_design_example(void)
{
    sp_events *ev = sp_test_load_jsonl(g_example);
    CHECK_EQ_U64(ev->n_files, 1);
    CHECK(ev->files[0].price_per_hour == 4.0);
    CHECK_EQ_U64(ev->files[0].skipped, 0);
    CHECK_EQ_U64(ev->n_requests, 2);
    /* r1 is created by the first stage line (line order), r2 by the batch */
    const sp_ev_request *r1 = &ev->requests[0], *r2 = &ev->requests[1];
    CHECK(strcmp(sp_str_get(&ev->strings, r1->id), "r1") == 0);
    CHECK(strcmp(sp_str_get(&ev->strings, r2->id), "r2") == 0);
    CHECK(r1->has_record && r2->has_record);
    CHECK_EQ_U64(r1->arrival_ns, 1000);
    CHECK_EQ_U64(r1->done_ns, 905000);
    CHECK_EQ_U64(sp_ev_req_input_tokens(ev, r1), 37);
    CHECK_EQ_U64(r2->arrival_ns, 2000);
    CHECK_EQ_U64(r2->done_ns, 906000);
    CHECK(sp_ev_req_input_tokens(ev, r2) == -1);   /* absent: unknown */
    CHECK_EQ_U64(ev->n_spans, 3);    /* in line order before sp_ev_finish */
    const char *names[3] = {"queue", "preprocess", "postprocess"};
    uint64_t starts[3] = {51000, 1000, 801000}, ends[3] = {301000, 51000, 905000};
    for (int i = 0; i < 3; i++) {
        CHECK_EQ_U64(ev->spans[i].req, 0);
        CHECK(strcmp(sp_str_get(&ev->strings, ev->spans[i].stage), names[i]) == 0);
        CHECK_EQ_U64(ev->spans[i].start_ns, starts[i]);
        CHECK_EQ_U64(ev->spans[i].end_ns, ends[i]);
    }
    CHECK_EQ_U64(ev->n_batches, 1);
    const sp_ev_batch *b = &ev->batches[0];
    CHECK(b->id == 7 && b->has_record);
    CHECK_EQ_U64(b->start_ns, 301000);
    CHECK_EQ_U64(b->end_ns, 801000);
    CHECK_EQ_U64(b->effective_tokens, 60);
    CHECK_EQ_U64(b->padded_tokens, 80);
    CHECK_EQ_U64(b->nmembers, 2);
    CHECK_EQ_U64(ev->members[b->first_member], 0);
    CHECK_EQ_U64(ev->members[b->first_member + 1], 1);
    CHECK_EQ_U64(ev->n_acts, 3);
    const sp_ev_activity *a = ev->acts;
    CHECK(a[0].kind == SP_ACT_H2D && sp_ev_act_bytes(&a[0]) == 4096 && a[0].start_ns == 301000 &&
          a[0].end_ns == 321000);
    CHECK(a[0].batch == 0 && sp_ev_act_name(&a[0]) == SP_EV_NONE);
    CHECK(a[1].kind == SP_ACT_KERNEL && sp_ev_act_stream(ev, &a[1]) == 0 && a[1].start_ns == 331000 &&
          a[1].end_ns == 761000);
    CHECK(strcmp(sp_str_get(&ev->strings, sp_ev_act_name(&a[1])), "gemm_f32") == 0 && a[1].batch == 0);
    CHECK(a[2].kind == SP_ACT_D2H && sp_ev_act_bytes(&a[2]) == 2048 && a[2].start_ns == 771000 &&
          a[2].end_ns == 781000);
    char err[256];
    CHECK(sp_ev_finish(ev, false, err, sizeof err) == SP_OK);
    CHECK_EQ_U64(r1->nspans, 3);
    CHECK_EQ_U64(sp_ev_req_nbatches(ev, r1), 1);
    sp_events_destroy(ev);
}

static void test_other_records(void)
{
    const char *text =
        "{\"ev\":\"meta\",\"drops\":{\"buffer_full\":3,\"too_large\":1,\"no_buffer\":0,\"write_failed\":2,"
        "\"reentrant\":5,\"after_close\":7,\"from_the_future\":9}}\n"
        "{\"ev\":\"meta\",\"drops\":{\"buffer_full\":10}}\n"
        "{\"ev\":\"request\",\"id\":42,\"arrival_ns\":9223372036854775807,\"done_ns\":9223372036854775807}\n"
        "{\"ev\":\"request\",\"id\":\"q\\\"\\u00e9\",\"arrival_ns\":0,\"done_ns\":0,\"input_tokens\":0}\n"
        "{\"ev\":\"batch\",\"batch\":-3,\"requests\":[42,\"q\\\"\\u00e9\"],\"start_ns\":5,\"end_ns\":5}\n"
        "{\"ev\":\"kernel\",\"name\":\"k\\n2\",\"stream\":-1,\"device\":3,\"correlation\":99,\"start_ns\":10,\"end_ns\":20}\n"
        "{\"ev\":\"copy\",\"kind\":\"memset\",\"bytes\":0,\"stream\":7,\"device\":1,\"correlation\":5,"
        "\"start_ns\":1,\"end_ns\":1,\"batch\":null}\n"
        "{\"ev\":\"copy\",\"kind\":\"d2d\",\"bytes\":1,\"start_ns\":1,\"end_ns\":2}\n"
        "{\"ev\":\"copy\",\"kind\":\"other\",\"bytes\":1,\"start_ns\":1,\"end_ns\":2}\n"
        "{\"ev\":\"launch\",\"name\":\"cudaLaunchKernel\",\"correlation\":99,\"start_ns\":3,\"end_ns\":8}\n"
        "{\"ev\":\"client\",\"id\":\"42\",\"intended_ns\":100,\"send_ns\":90,\"done_ns\":500,\"status\":-1}\n"
        "{\"ev\":\"gpu_counter\",\"value\":12}\n"
        "{\"ev\":\"request\",\"id\":42,\"arrival_ns\":9223372036854775807,\"done_ns\":9223372036854775807}\n";
    sp_events *ev = sp_test_load_jsonl(text);
    const sp_ev_file *f = &ev->files[0];
    /* drops add up over meta lines: buffer_full 3 + 10; an unknown cause is ignored */
    CHECK_EQ_U64(f->drops[SP_DROP_BUFFER_FULL], 13);
    CHECK_EQ_U64(f->drops[SP_DROP_TOO_LARGE], 1);
    CHECK_EQ_U64(f->drops[SP_DROP_NO_BUFFER], 0);
    CHECK_EQ_U64(f->drops[SP_DROP_WRITE_FAILED], 2);
    CHECK_EQ_U64(f->drops[SP_DROP_REENTRANT], 5);
    CHECK_EQ_U64(f->drops[SP_DROP_AFTER_CLOSE], 7);
    CHECK(f->price_per_hour == 0);   /* never given */
    CHECK_EQ_U64(f->ignored, 1);     /* gpu_counter */
    CHECK_EQ_U64(f->skipped, 0);
    CHECK_EQ_U64(ev->n_requests, 2);   /* the repeated identical request record adds nothing */
    CHECK(strcmp(sp_str_get(&ev->strings, ev->requests[0].id), "42") == 0);
    CHECK_EQ_U64(ev->requests[0].arrival_ns, INT64_MAX);
    CHECK(strcmp(sp_str_get(&ev->strings, ev->requests[1].id), "q\"\xc3\xa9") == 0);
    CHECK(sp_ev_req_input_tokens(ev, &ev->requests[1]) == 0);
    CHECK(ev->n_batches == 1 && ev->batches[0].id == -3 && ev->batches[0].nmembers == 2);
    CHECK(ev->batches[0].effective_tokens == -1 && ev->batches[0].padded_tokens == -1);
    CHECK(ev->members[ev->batches[0].first_member] == 0 && ev->members[ev->batches[0].first_member + 1] == 1);
    CHECK_EQ_U64(ev->n_acts, 4);
    const sp_ev_activity *k = &ev->acts[0];
    CHECK(k->kind == SP_ACT_KERNEL && sp_ev_act_stream(ev, k) == -1 && k->device == 3 && k->correlation == 99);
    CHECK(k->batch == SP_EV_NONE && strcmp(sp_str_get(&ev->strings, sp_ev_act_name(k)), "k\n2") == 0);
    const sp_ev_activity *m = &ev->acts[1];
    CHECK(m->kind == SP_ACT_MEMSET && sp_ev_act_bytes(m) == 0 && sp_ev_act_stream(ev, m) == 7 && m->device == 1 &&
          m->correlation == 5);
    CHECK(m->batch == SP_EV_NONE);
    CHECK(ev->acts[2].kind == SP_ACT_D2D && ev->acts[3].kind == SP_ACT_COPY_OTHER);
    CHECK_EQ_U64(ev->n_launches, 1);
    CHECK(ev->launches[0].correlation == 99 && ev->launches[0].start_ns == 3 && ev->launches[0].end_ns == 8);
    CHECK(strcmp(sp_str_get(&ev->strings, ev->launches[0].name), "cudaLaunchKernel") == 0);
    CHECK_EQ_U64(ev->n_clients, 1);
    const sp_ev_client *c = &ev->clients[0];
    CHECK(c->intended_ns == 100 && c->send_ns == 90 && c->done_ns == 500 && c->status == -1);
    char err[256];
    CHECK(sp_ev_finish(ev, false, err, sizeof err) == SP_OK);
    /* the client record names request "42", but it is a transport error (status -1): no response
     * reached the client, so it is counted and not joined (docs/analysis.md, "Client merge") */
    CHECK_EQ_U64(sp_ev_cold(ev, &ev->requests[0])->client_send_ns, SP_TIME_NONE);
    CHECK_EQ_U64(ev->clients_failed, 1);
    CHECK_EQ_U64(ev->clients_unjoined, 0);
    sp_events_summary s;
    sp_events_summarize(ev, &s);
    CHECK_EQ_U64(s.dropped, 28);
    sp_events_destroy(ev);
}

/* Writes `text` gzip-compressed to a temporary file; returns its path (caller unlinks). */
static char *write_gz(const char *text, size_t len)
{
    char *path = strdup("/tmp/sp_test_jsonl_XXXXXX");
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    gzFile gz = gzdopen(fd, "wb");
    CHECK(gz != NULL);
    CHECK(gzwrite(gz, text, (unsigned)len) == (int)len);
    CHECK(gzclose(gz) == Z_OK);
    return path;
}

static void test_gzip(void)
{
    char *path = write_gz(g_example, strlen(g_example));
    sp_events *ev;
    char err[256];
    CHECK(sp_events_create(&ev) == SP_OK);
    CHECK(sp_events_load_file(ev, path, NULL, err, sizeof err) == SP_OK);
    CHECK(ev->files[0].format == SP_FORMAT_JSONL);
    CHECK_EQ_U64(ev->n_requests, 2);
    CHECK_EQ_U64(ev->n_spans, 3);
    CHECK_EQ_U64(ev->n_acts, 3);
    CHECK_EQ_U64(ev->requests[0].done_ns, 905000);
    sp_events_destroy(ev);
    unlink(path);
    free(path);
}

/* Builds n requests with a stage each; line 1 is meta. */
static char *big_trace(size_t n, size_t *len_out)
{
    size_t cap = n * 200 + 100, len = 0;
    char *t = malloc(cap);
    len += (size_t)snprintf(t, cap, "{\"ev\":\"meta\",\"format\":\"servprof.events/1\"}\n");
    for (size_t i = 0; i < n; i++) {
        len += (size_t)snprintf(t + len, cap - len,
                                "{\"ev\":\"request\",\"id\":\"req-%zu\",\"arrival_ns\":%zu,\"done_ns\":%zu}\n"
                                "{\"ev\":\"stage\",\"id\":\"req-%zu\",\"stage\":\"queue\",\"start_ns\":%zu,\"end_ns\":%zu}\n",
                                i, i * 1000, i * 1000 + 999, i, i * 1000 + 1, i * 1000 + 2);
    }
    *len_out = len;
    return t;
}

/* ~3.5 MB: several 1 MiB reads, so lines straddle read boundaries; every value reads back. */
static void test_many_chunks(void)
{
    size_t n = 30000, len;
    char *text = big_trace(n, &len);
    CHECK(len > 3u * (1u << 20));
    sp_events *ev;
    char err[256];
    CHECK(sp_events_create(&ev) == SP_OK);
    CHECK(sp_events_load_buffer(ev, "big.jsonl", text, len, NULL, err, sizeof err) == SP_OK);
    CHECK_EQ_U64(ev->n_requests, n);
    CHECK_EQ_U64(ev->n_spans, n);
    size_t bad = 0;
    for (size_t i = 0; i < n; i++) {
        char id[32];
        snprintf(id, sizeof id, "req-%zu", i);
        const sp_ev_request *r = &ev->requests[i];
        if (strcmp(sp_str_get(&ev->strings, r->id), id) != 0 || r->arrival_ns != i * 1000 ||
            r->done_ns != i * 1000 + 999 || ev->spans[i].start_ns != i * 1000 + 1 || ev->spans[i].req != i)
            bad++;
    }
    CHECK_EQ_U64(bad, 0);
    sp_events_destroy(ev);

    /* a malformed line deep in the file is reported with its own line number: request i is on
     * line 2 + 2i, so request 25000's line is 50002 */
    char *p = strstr(text, "\"id\":\"req-25000\",\"arrival_ns\":");
    CHECK(p != NULL);
    p[strlen("\"id\":\"req-25000\",\"arrival_ns\":")] = '-';   /* "-5000000...": negative */
    CHECK(sp_events_create(&ev) == SP_OK);
    CHECK(sp_events_load_buffer(ev, "big.jsonl", text, len, NULL, err, sizeof err) == SP_ERR_PARSE);
    CHECK(strncmp(err, "big.jsonl:50002: \"arrival_ns\" is negative", 41) == 0);
    /* a failed load leaves nothing of that file behind */
    CHECK_EQ_U64(ev->n_requests, 0);
    CHECK_EQ_U64(ev->n_files, 0);
    sp_events_destroy(ev);
    free(text);
}

/* Several files: ids are per file; each file's meta applies to its own file. */
static void test_two_files(void)
{
    const char *a = "{\"ev\":\"meta\",\"price_per_hour\":2.5}\n{\"ev\":\"request\",\"id\":\"r\",\"arrival_ns\":1,\"done_ns\":2}\n";
    const char *b = "{\"ev\":\"request\",\"id\":\"r\",\"arrival_ns\":5,\"done_ns\":9}\n";
    sp_events *ev;
    char err[256];
    CHECK(sp_events_create(&ev) == SP_OK);
    CHECK(sp_events_load_buffer(ev, "a.jsonl", a, strlen(a), NULL, err, sizeof err) == SP_OK);
    CHECK(sp_events_load_buffer(ev, "b.jsonl", b, strlen(b), NULL, err, sizeof err) == SP_OK);
    CHECK_EQ_U64(ev->n_requests, 2);
    CHECK(ev->requests[0].file == 0 && ev->requests[1].file == 1);
    CHECK_EQ_U64(ev->requests[1].arrival_ns, 5);
    CHECK(ev->files[0].price_per_hour == 2.5 && ev->files[1].price_per_hour == 0);
    sp_events_destroy(ev);
}

int main(void)
{
    test_design_example();
    test_other_records();
    test_gzip();
    test_many_chunks();
    test_two_files();
    return sp_test_done("test_jsonl_import");
}
