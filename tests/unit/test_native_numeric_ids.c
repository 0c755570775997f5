/* A native trace's requests keep their u64 ids as numbers (events_int.h, sp_ev_request.id_num;
 * src/model/reqid.c), where the model used to intern each id's decimal text. Everything must read as
 * it did with the text:
 *
 * 1. Differential: every trace of analyze_routes_testutil.h, a native server trace merged with a load
 *    generator's JSONL client records (joined by number, by a label's text, duplicated, failed,
 *    unjoined), two native files with the same ids plus those client records, and two native files
 *    whose ids have every length and whose lives and arrivals mostly tie (so the id text decides the
 *    orders), analysed as loaded and after giving every numeric request its interned decimal text
 *    (sp_str_intern_u64, which is what the native reader did before: the old model, exactly). JSON,
 *    text, per-request rows (keep_requests), the Perfetto trace, the HTML report and the OTLP export
 *    must be byte-identical.
 * 2. Known answers (hand-computed from strcmp of the id texts, the rule of DESIGN 8a): requests of one
 *    latency and one arrival rank by id text, "1" < "10" < "100" < "10a" < "9", not by number; a label
 *    renames a numeric request into that order; two files with the same ids tie on the text and are
 *    ordered by file; ids that share their first eight digits are ordered by the rest. A client record
 *    joins the first file's request with its id text, whether that request's id is a number or text.
 *    Messages name numeric requests by their text. No decimal text is interned for a numeric id.
 * 3. The id order from the numbers (sp_ev_id_key_cmp) against strcmp of snprintf's texts, and the
 *    ranking's eight-byte prefix from the number (sp_ev_num_prefix) against the text's bytes. */
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "analyze_routes_testutil.h"
#include "model/events_int.h"
#include "model/events_view.h"

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;

/* The old model: every numeric request gets its decimal text interned, as sp_ev_request_new_u64 did. */
static void texts_as_before(sp_events *ev)
{
    for (size_t i = 0; i < ev->n_requests; i++) {
        sp_ev_request *r = &ev->requests[i];
        if (!r->id_num)
            continue;
        sp_str s;
        CHECK(sp_str_intern_u64(&ev->strings, sp_ev_id_num(r), &s) == SP_OK);
        r->id = s;
        r->id_num = false;
        r->id_hi = 0;
    }
}

static size_t numeric_requests(const sp_events *ev)
{
    size_t n = 0;
    for (size_t i = 0; i < ev->n_requests; i++)
        n += ev->requests[i].id_num;
    return n;
}

/* Everything a set gives: the reports and rows, Perfetto, HTML, OTLP (status and bytes). */
static char *all_outputs(const char *const *paths, int n, int lenient, int as_before, size_t *len, size_t *nums)
{
    sp_events *ev = ar_load(paths, n, lenient);
    if (!ev)
        return NULL;
    *nums = numeric_requests(ev);
    if (as_before)
        texts_as_before(ev);
    char err[512];
    sp_analyze_options o;
    sp_analyze_options_init(&o);
    o.keep_requests = 1;
    o.lenient = lenient;
    sp_report *r = NULL;
    sp_status st = sp_analyze(ev, &o, &r, err, sizeof err);
    if (st != SP_OK) {
        fprintf(stderr, "analyse %s: %s\n", paths[0], err);
        sp_events_destroy(ev);
        return NULL;
    }
    size_t rl = 0;
    char *rep = ar_report_bytes(r, &rl);
    char *buf = NULL;
    FILE *f = open_memstream(&buf, len);
    CHECK(f != NULL && rep != NULL);
    if (f && rep) {
        fwrite(rep, 1, rl, f);
        fprintf(f, "\n-- perfetto %d\n", (int)sp_report_write_perfetto(r, ev, f));
        fprintf(f, "\n-- html %d\n", (int)sp_report_write_html(r, ev, f));
        sp_otlp_options oo;
        sp_otlp_options_init(&oo);
        oo.has_unix_offset = 1;
        oo.unix_offset_ns = 1700000000000000000ll;
        fprintf(f, "\n-- otlp %d\n", (int)sp_report_write_otlp(ev, &oo, f, NULL, err, sizeof err));
    }
    if (f)
        fclose(f);
    free(rep);
    sp_report_destroy(r);
    sp_events_destroy(ev);
    return buf;
}

static int compared, compared_numeric;

static void same_as_before(const char *const *paths, int n, int lenient, void *user)
{
    (void)user;
    size_t l1 = 0, l2 = 0, nums = 0, nums2 = 0;
    char *now = all_outputs(paths, n, lenient, 0, &l1, &nums);
    char *before = all_outputs(paths, n, lenient, 1, &l2, &nums2);
    CHECK(now != NULL && before != NULL);
    if (now && before) {
        CHECK(l1 > 0);
        CHECK(l1 == l2 && memcmp(now, before, l1) == 0);
        if (l1 != l2 || memcmp(now, before, l1))
            fprintf(stderr, "outputs differ for %s (%zu vs %zu bytes)\n", paths[0], l1, l2);
        compared++;
        compared_numeric += nums > 0;
    }
    free(now);
    free(before);
}

/* A load generator's client records for the ids r * 7 + 3 of ar_write_native (some labelled "req-ID"
 * by it): by number, by label, a duplicate, failed ones and ids no request has. */
static void write_clients(const char *path, unsigned nreq)
{
    FILE *f = fopen(path, "w");
    CHECK(f != NULL);
    if (!f)
        return;
    for (unsigned r = 0; r < nreq + 40; r++) {
        uint64_t id = (uint64_t)r * 7 + 3, send = 5000000000ull + 200000ull * r + xs64_in(&rng_state, 0, 900);
        int status = xs64_in(&rng_state, 0, 30) ? 200 : xs64_in(&rng_state, 0, 1) ? 503 : -1;
        char idtext[40];
        if (r % 11 == 5)
            snprintf(idtext, sizeof idtext, "req-%" PRIu64, id); /* joins only a labelled request */
        else if (r % 13 == 7)
            snprintf(idtext, sizeof idtext, "0%" PRIu64, id); /* not the canonical text: unjoined */
        else
            snprintf(idtext, sizeof idtext, "%" PRIu64, r % 17 == 3 ? id - 7 : id); /* some twice */
        fprintf(f, "{\"ev\":\"client\",\"id\":\"%s\",\"intended_ns\":%" PRIu64 ",\"send_ns\":%" PRIu64
                   ",\"done_ns\":%" PRIu64 ",\"status\":%d}\n",
                idtext, send - 500, send, send + xs64_in(&rng_state, 2000000, 9000000), status);
    }
    fclose(f);
}

/* Requests whose ids have every length of text, with three lives and four arrivals: the latency
 * ranking and the arrival order are mostly decided by the id text (with two batches for the padding
 * and stage rows). */
static void write_ties(const char *path, unsigned nreq)
{
    sp_recorder_options o;
    sp_recorder_options_init(&o);
    o.thread_buffer_bytes = 16u << 20;
    sp_recorder *rec;
    CHECK(sp_recorder_open(path, &o, &rec) == SP_OK);
    uint64_t members[2][8];
    unsigned nm[2] = {0, 0};
    for (unsigned r = 0; r < nreq; r++) {
        /* distinct (r in the low 18 bits), of 1 to 20 digits */
        uint64_t id = ((xs64_next(&rng_state) >> (r % 64)) & ~(uint64_t)0x3ffff) | r;
        uint64_t arr = 1000000 + 1000 * xs64_in(&rng_state, 0, 3), life = 100000 * xs64_in(&rng_state, 1, 3);
        sp_record_request(rec, id, arr, arr + life, 5);
        sp_record_stage(rec, id, SP_STAGE_PREPROCESS, arr, arr + xs64_in(&rng_state, 1, 90000));
        if (nm[r % 2] < 8)
            members[r % 2][nm[r % 2]++] = id;
    }
    for (int b = 0; b < 2; b++)
        sp_record_batch(rec, (uint64_t)b, members[b], nm[b], 1050000, 1090000, 40, 64);
    CHECK(sp_recorder_close(rec) == SP_OK);
}

static void differential(void)
{
    ar_each_trace("numids", &rng_state, same_as_before, NULL);
    CHECK_EQ_U64((uint64_t)compared, AR_TRACES);
    char p[3][256];
    for (int k = 0; k < 3; k++)
        snprintf(p[k], sizeof p[k], "%s/sp_numids_%d_%d", P_tmpdir, (int)getpid(), 10 + k);
    ar_write_native(p[0], 1500, &rng_state);
    ar_write_native(p[1], 700, &rng_state);
    write_clients(p[2], 1500);
    const char *server_client[2] = {p[0], p[2]};
    same_as_before(server_client, 2, 1, NULL);
    const char *two_client[3] = {p[0], p[1], p[2]};
    same_as_before(two_client, 3, 1, NULL);
    const char *client_first[3] = {p[2], p[1], p[0]};
    same_as_before(client_first, 3, 1, NULL);
    write_ties(p[0], 5000);
    write_ties(p[1], 3000);
    const char *ties[2] = {p[0], p[1]};
    same_as_before(ties, 2, 0, NULL);
    fprintf(stderr, "%d comparisons, %d with numeric ids\n", compared, compared_numeric);
    /* the native traces took the numeric route: all of them but perhaps the one cut short, whose
     * surviving two thirds depend on when the recorder's writer ran */
    CHECK(compared_numeric >= 10);
    for (int k = 0; k < 3; k++)
        remove(p[k]);
}

/* ---- known answers ---- */

/* Ids of one life and one arrival; request k (0-based) spends (k + 1) * 100 ns (+ `extra`) in
 * preprocess, which tells the rows apart. Request 7 is labelled "10a". */
static const uint64_t ka_ids[] = {9, 10, 1, 100, 7, 99, 1000, 123456789012ull, 123456789ull, 123456780ull,
                                  18446744073709551615ull};
#define KA_N (sizeof ka_ids / sizeof *ka_ids)

static void write_known(const char *path, uint64_t extra, int bad_times)
{
    sp_recorder_options o;
    sp_recorder_options_init(&o);
    sp_recorder *rec;
    CHECK(sp_recorder_open(path, &o, &rec) == SP_OK);
    for (size_t k = 0; k < KA_N; k++) {
        uint64_t arr = 1000000, done = bad_times && k == 3 ? arr - 1 : arr + 500000;
        sp_record_request(rec, ka_ids[k], arr, done, 10);
        sp_record_stage(rec, ka_ids[k], SP_STAGE_PREPROCESS, arr, arr + (k + 1) * 100 + extra);
        if (ka_ids[k] == 7)
            sp_record_request_label(rec, 7, "10a", 3);
    }
    CHECK(sp_recorder_close(rec) == SP_OK);
}

static const char *ka_text(size_t k, char *buf)
{
    if (ka_ids[k] == 7)
        return "10a";
    snprintf(buf, 32, "%" PRIu64, ka_ids[k]);
    return buf;
}

/* The reference order: the requests' positions sorted by strcmp of their texts (insertion sort). */
static void ka_text_order(size_t *order)
{
    char a[32], b[32];
    for (size_t k = 0; k < KA_N; k++)
        order[k] = k;
    for (size_t i = 1; i < KA_N; i++)
        for (size_t j = i; j > 0 && strcmp(ka_text(order[j - 1], a), ka_text(order[j], b)) > 0; j--) {
            size_t t = order[j];
            order[j] = order[j - 1];
            order[j - 1] = t;
        }
}

static sp_report *ka_analyse(sp_events *ev)
{
    char err[512];
    sp_analyze_options o;
    sp_analyze_options_init(&o);
    o.keep_requests = 1;
    sp_report *r = NULL;
    sp_status st = sp_analyze(ev, &o, &r, err, sizeof err);
    CHECK(st == SP_OK);
    if (st)
        fprintf(stderr, "known: %s\n", err);
    return r;
}

static size_t stage_row(const sp_report *r, const char *name)
{
    for (size_t s = 0; s < r->n_stages; s++)
        if (strcmp(r->stages[s].name, name) == 0)
            return s;
    CHECK(!"stage row");
    return 0;
}

static void known_answers(void)
{
    char p[4][256];
    for (int k = 0; k < 4; k++)
        snprintf(p[k], sizeof p[k], "%s/sp_numids_%d_%d", P_tmpdir, (int)getpid(), 20 + k);
    write_known(p[0], 0, 0);
    write_known(p[1], 5000, 0);
    size_t order[KA_N];
    ka_text_order(order);
    /* the hand-computed order, which the reference must agree with */
    static const uint64_t hand[KA_N] = {1, 10, 100, 1000, 7 /* "10a" */, 123456780ull, 123456789ull,
                                        123456789012ull, 18446744073709551615ull, 9, 99};
    for (size_t j = 0; j < KA_N; j++)
        CHECK_EQ_U64(ka_ids[order[j]], hand[j]);

    /* one file: latency rank and arrival order both by id text */
    const char *one = p[0];
    sp_events *ev = ar_load(&one, 1, 0);
    CHECK(ev != NULL);
    if (!ev)
        return;
    CHECK_EQ_U64(numeric_requests(ev), KA_N - 1); /* all but the labelled one */
    CHECK(sp_str_find(&ev->strings, "99", 2) == SP_EV_NONE);               /* no text for them */
    CHECK(sp_str_find(&ev->strings, "123456789012", 12) == SP_EV_NONE);
    sp_report *r = ka_analyse(ev);
    if (r) {
        const sp_request_rows *rows = &r->detail->requests;
        size_t pre = stage_row(r, "preprocess");
        CHECK_EQ_U64(rows->n, KA_N);
        for (size_t j = 0; j < KA_N && j < rows->n; j++) {
            CHECK_EQ_U64(rows->stage_ns[j * rows->n_stages + pre], (order[j] + 1) * 100);
            CHECK_EQ_U64(rows->by_arrival[j], j); /* one file, one arrival: by id text too */
        }
        sp_report_destroy(r);
    }
    CHECK(sp_str_find(&ev->strings, "99", 2) == SP_EV_NONE); /* nor after the analysis */
    /* the event view names them by their text, which stays put; a writer makes the texts first
     * (sp_view_ids_ready), and asking again changes nothing */
    CHECK(sp_view_ids_ready(ev) == SP_OK);
    const char *first_text = ev->num_text;
    CHECK(first_text != NULL);
    CHECK(sp_view_ids_ready(ev) == SP_OK);
    CHECK(ev->num_text == first_text);
    sp_view_request vr, vr2;
    for (size_t i = 0; i < ev->n_requests; i++) {
        char a[32];
        sp_view_request_at(ev, i, &vr);
        sp_view_request_at(ev, i, &vr2);
        CHECK(vr.id == vr2.id);
        size_t k = 0;
        while (k < KA_N && (ka_ids[k] == 7 ? strcmp(vr.id, "10a") : strcmp(vr.id, ka_text(k, a))))
            k++;
        CHECK(k < KA_N);
    }
    sp_events_destroy(ev);

    /* two files with the same ids: ties on the text, then by file */
    const char *two[2] = {p[0], p[1]};
    ev = ar_load(two, 2, 0);
    CHECK(ev != NULL);
    if (!ev)
        return;
    r = ka_analyse(ev);
    if (r) {
        const sp_request_rows *rows = &r->detail->requests;
        size_t pre = stage_row(r, "preprocess");
        CHECK_EQ_U64(rows->n, 2 * KA_N);
        for (size_t j = 0; j < 2 * KA_N && j < rows->n; j++)
            CHECK_EQ_U64(rows->stage_ns[j * rows->n_stages + pre], (order[j / 2] + 1) * 100 + (j % 2) * 5000);
        /* arrival order: file 0's requests by text, then file 1's (rank 2k is file 0's k-th) */
        for (size_t j = 0; j < 2 * KA_N && j < rows->n; j++)
            CHECK_EQ_U64(rows->by_arrival[j], j < KA_N ? 2 * j : 2 * (j - KA_N) + 1);
        sp_report_destroy(r);
    }
    sp_events_destroy(ev);

    /* the client join: the first file holding the id text, numeric or text */
    FILE *f = fopen(p[2], "w");
    CHECK(f != NULL);
    if (f) {
        static const char *const ids[] = {"9", "10a", "123456789012", "7", "09", "555"};
        for (int k = 0; k < 6; k++)
            fprintf(f, "{\"ev\":\"client\",\"id\":\"%s\",\"intended_ns\":%d,\"send_ns\":%d,\"done_ns\":%d,"
                       "\"status\":200}\n", ids[k], 100 + k, 200 + k, 900000 + k);
        fclose(f);
    }
    f = fopen(p[3], "w"); /* a JSONL server trace that has a request "9" too */
    CHECK(f != NULL);
    if (f) {
        fputs("{\"ev\":\"request\",\"id\":\"9\",\"arrival_ns\":1000000,\"done_ns\":1600000}\n", f);
        fclose(f);
    }
    char err[512];
    for (int layout = 0; layout < 3; layout++) {
        /* 0: native, native, client; 1: JSONL server, native, client; 2: native, JSONL server, client */
        const char *files[3] = {layout == 1 ? p[3] : p[0], layout == 2 ? p[3] : layout == 1 ? p[0] : p[1], p[2]};
        ev = ar_load(files, 3, 0);
        CHECK(ev != NULL);
        if (!ev)
            return;
        CHECK(sp_ev_finish(ev, false, err, sizeof err) == SP_OK);
        CHECK_EQ_U64(ev->clients_unjoined, 3); /* "7" (renamed "10a"), "09", "555" */
        size_t joined = 0;
        for (size_t i = 0; i < ev->n_requests; i++) {
            const sp_ev_request *q = &ev->requests[i];
            uint32_t c = sp_ev_cold(ev, q)->client;
            if (c == SP_EV_NONE)
                continue;
            joined++;
            char buf[SP_EV_ID_TEXT];
            const char *text = sp_ev_id_text(ev, q, buf, NULL);
            CHECK(strcmp(text, sp_str_get(&ev->strings, ev->clients[c].id)) == 0);
            CHECK_EQ_U64(q->file, strcmp(text, "9") == 0 && layout == 1 ? 0 : layout == 1 ? 1 : 0);
            CHECK_EQ_U64(q->id_num, strcmp(text, "10a") != 0 && !(layout == 1 && strcmp(text, "9") == 0));
        }
        CHECK_EQ_U64(joined, 3);
        sp_events_destroy(ev);
    }

    /* messages name a numeric request by its text: the partition's refusal of [arrival, done] */
    write_known(p[0], 0, 1);
    ev = ar_load(&one, 1, 0);
    CHECK(ev != NULL);
    if (ev) {
        sp_analyze_options o;
        sp_analyze_options_init(&o);
        sp_report *rr = NULL;
        CHECK(sp_analyze(ev, &o, &rr, err, sizeof err) == SP_ERR_PARSE);
        CHECK(strstr(err, "request \"100\" has no valid [arrival, done]") != NULL);
        sp_events_destroy(ev);
    }
    for (int k = 0; k < 4; k++)
        remove(p[k]);
}

/* ---- the order from the numbers ---- */

static int sign(int x)
{
    return (x > 0) - (x < 0);
}

static void check_cmp(uint64_t a, uint64_t b)
{
    char ta[32], tb[32];
    snprintf(ta, sizeof ta, "%" PRIu64, a);
    snprintf(tb, sizeof tb, "%" PRIu64, b);
    sp_ev_idkey ka = {NULL, a}, kb = {NULL, b}, xa = {ta, 0}, xb = {tb, 0};
    int want = sign(strcmp(ta, tb));
    uint64_t pre = 0; /* the text's first eight bytes, big-endian, zero-padded */
    for (int i = 0; i < 8; i++)
        pre = pre << 8 | (uint64_t)(unsigned char)(i < (int)strlen(ta) ? ta[i] : 0);
    CHECK_EQ_U64(sp_ev_num_prefix(a), pre);
    CHECK(sign(sp_ev_id_key_cmp(&ka, &kb)) == want);
    CHECK(sign(sp_ev_id_key_cmp(&ka, &xb)) == want); /* number against text */
    CHECK(sign(sp_ev_id_key_cmp(&xa, &kb)) == want);
    CHECK(sign(sp_ev_id_key_cmp(&xa, &xb)) == want);
}

static void key_order(void)
{
    static const uint64_t edge[] = {0, 1, 9, 10, 11, 19, 90, 99, 100, 101, 999, 1000, 12345678, 123456789,
                                    1234567890, 9999999999999999999ull, 10000000000000000000ull,
                                    18446744073709551614ull, 18446744073709551615ull, 1844674407370955161ull,
                                    184467440737095516ull};
    size_t ne = sizeof edge / sizeof *edge;
    for (size_t i = 0; i < ne; i++)
        for (size_t j = 0; j < ne; j++)
            check_cmp(edge[i], edge[j]);
    for (int k = 0; k < 200000; k++) {
        uint64_t a = xs64_next(&rng_state), b = xs64_next(&rng_state);
        unsigned sa = (unsigned)(a & 63), sb = (unsigned)(b & 63);
        a >>= sa; /* all lengths of text */
        b >>= sb;
        if (k & 1) /* one a prefix of the other */
            b = a / (uint64_t)(1 + (k % 5 ? 9 : 99));
        check_cmp(a, b);
    }
    sp_ev_idkey t1 = {"10a", 0}, n1 = {NULL, 10}, n2 = {NULL, 9};
    CHECK(sp_ev_id_key_cmp(&n1, &t1) < 0 && sp_ev_id_key_cmp(&t1, &n2) < 0);
}

int main(void)
{
    key_order();
    known_answers();
    differential();
    return sp_test_done("test_native_numeric_ids");
}
