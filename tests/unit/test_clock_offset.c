/* Client and server clocks (DESIGN 8a): the offset estimator against hand-computed bounds, a recorded
 * run whose client clock is shifted by +5 ms, -5 ms and 0 giving the same report, a conflict reported
 * with its size, every request's stages adding up to the end-to-end shown, requests without a client
 * record, several file pairs, the --clock-offset modes, and duplicate and failed client records. */
#include <stdlib.h>
#include <string.h>

#include "analyze/analyze_int.h"
#include "testlib.h"

/* ---------- the estimator ---------- */

static sp_clock_bounds bounds_of(int64_t lower, int64_t upper)
{
    sp_clock_bounds b = {lower, upper, 1};
    return b;
}

static void test_estimator(void)
{
    sp_clock_bounds b;
    sp_clock_bounds_init(&b);
    /* pair 1: arrival 1000, done 3000, client send 900, client done 3200:
     *   theta <= 1000 - 900 = 100, theta >= 3000 - 3200 = -200
     * pair 2: arrival 5000, done 6000, send 4950, client done 6080: theta <= 50, theta >= -80
     * intersection [-80, 50]: middle floor(-30 / 2) = -15, half-width 130 / 2 = 65 */
    CHECK(sp_clock_bounds_add(&b, 1000, 3000, 900, 3200));
    CHECK(sp_clock_bounds_add(&b, 5000, 6000, 4950, 6080));
    CHECK_EQ_U64(b.n, 2);
    CHECK(b.lower == -80 && b.upper == 50);
    CHECK(sp_clock_bounds_mid(&b) == -15);
    /* unusable pairs add nothing: a missing time, done before arrival, a time past INT64_MAX */
    CHECK(!sp_clock_bounds_add(&b, SP_TIME_NONE, 3000, 900, 3200));
    CHECK(!sp_clock_bounds_add(&b, 3000, 1000, 900, 3200));
    CHECK(!sp_clock_bounds_add(&b, 1000, 3000, 3200, 900));
    CHECK(!sp_clock_bounds_add(&b, 1000, 3000, (uint64_t)INT64_MAX + 1, (uint64_t)INT64_MAX + 2));
    CHECK_EQ_U64(b.n, 2);

    /* the middle rounds down also below zero: [-80, 51] sums to -29, floor(-14.5) = -15 (truncation
     * would give -14, and a client clock shifted by 1 ns would then not shift the middle by 1 ns) */
    sp_clock_bounds c = bounds_of(-80, 51);
    CHECK(sp_clock_bounds_mid(&c) == -15);
    c = bounds_of(-79, 52); /* the same bounds shifted by +1 */
    CHECK(sp_clock_bounds_mid(&c) == -14);
    c = bounds_of(80, 51);  /* crossed bounds: still the middle, floor(131 / 2) = 65 */
    CHECK(sp_clock_bounds_mid(&c) == 65);
    /* no overflow at the ends of int64 */
    c = bounds_of(-INT64_MAX, INT64_MAX);
    CHECK(sp_clock_bounds_mid(&c) == 0);
    c = bounds_of(INT64_MAX - 1, INT64_MAX);
    CHECK(sp_clock_bounds_mid(&c) == INT64_MAX - 1);
    c = bounds_of(INT64_MIN, INT64_MIN + 3);
    CHECK(sp_clock_bounds_mid(&c) == INT64_MIN + 1);

    /* mapping: t + theta, saturated, SP_TIME_NONE kept */
    CHECK_EQ_U64(sp_clock_map(1000, -15), 985);
    CHECK_EQ_U64(sp_clock_map(1000, 15), 1015);
    CHECK_EQ_U64(sp_clock_map(10, -15), 0);
    CHECK_EQ_U64(sp_clock_map(SP_TIME_NONE, 5), SP_TIME_NONE);
    CHECK_EQ_U64(sp_clock_map(SP_TIME_NONE - 3, 100), SP_TIME_NONE - 1);
    CHECK_EQ_U64(sp_clock_map(5, INT64_MIN), 0);
}

/* ---------- a recorded run ---------- */

/* A small serving run written as two JSONL files, as `servprof serve --trace` and `servprof load
 * --trace` would: the server's clock reads THETA ns more than the client's (theta = server - client).
 * Per request (server clock): the client sends at send, the request takes `up` ns to arrive, the
 * server holds it [arrival, done] (preprocess 40-59 us, queue, a batch of 4 with one kernel and a
 * 10 us launch gap, postprocess), the answer takes `down` ns back. */
#define RUN_N 40
#define THETA 3141592653LL

typedef struct run_req {
    uint64_t intended, send, arrival, done, cdone; /* server clock */
    uint64_t up, down;
} run_req;

static run_req run[RUN_N];

static void make_run(void)
{
    uint64_t t = 5000000000000ull; /* 5000 s of uptime on the server clock */
    for (int i = 0; i < RUN_N; i++) {
        run_req *q = &run[i];
        q->intended = t + (uint64_t)i * 2500000;                 /* 400 requests/s */
        q->send = q->intended + (uint64_t)((i * 7919) % 30) * 1000; /* 0-29 us late */
        q->up = 80000 + (uint64_t)((i * 37) % 120) * 1000;        /* 80-199 us on the way in */
        q->down = 60000 + (uint64_t)((i * 53) % 240) * 1000;      /* 60-299 us on the way back */
        q->arrival = q->send + q->up;
    }
    /* batches of 4: dispatched 200 us after the last member's preprocess ends, 2-5 ms of compute */
    for (int b = 0; b < RUN_N / 4; b++) {
        uint64_t last_pre_end = 0;
        for (int m = 0; m < 4; m++) {
            const run_req *q = &run[b * 4 + m];
            uint64_t pe = q->arrival + 40000 + (uint64_t)((b * 4 + m) % 20) * 1000;
            last_pre_end = pe > last_pre_end ? pe : last_pre_end;
        }
        uint64_t bs = last_pre_end + 200000, be = bs + 2000000 + (uint64_t)b * 300000;
        for (int m = 0; m < 4; m++) {
            run_req *q = &run[b * 4 + m];
            q->done = be + 150000 + (uint64_t)m * 20000;
            q->cdone = q->done + q->down;
        }
    }
}

/* The server's trace: requests, stage spans, batches with a kernel each. */
static char *server_jsonl(void)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    fprintf(f, "{\"ev\":\"meta\",\"format\":\"servprof.events/1\",\"clock\":\"monotonic\",\"price_per_hour\":2}\n");
    for (int b = 0; b < RUN_N / 4; b++) {
        uint64_t last_pre_end = 0;
        for (int m = 0; m < 4; m++) {
            const run_req *q = &run[b * 4 + m];
            uint64_t pe = q->arrival + 40000 + (uint64_t)((b * 4 + m) % 20) * 1000;
            last_pre_end = pe > last_pre_end ? pe : last_pre_end;
        }
        uint64_t bs = last_pre_end + 200000, be = bs + 2000000 + (uint64_t)b * 300000;
        for (int m = 0; m < 4; m++) {
            int i = b * 4 + m;
            const run_req *q = &run[i];
            uint64_t pe = q->arrival + 40000 + (uint64_t)(i % 20) * 1000;
            fprintf(f, "{\"ev\":\"request\",\"id\":\"c1-%d\",\"arrival_ns\":%llu,\"done_ns\":%llu,\"input_tokens\":%d}\n",
                    i + 1, (unsigned long long)q->arrival, (unsigned long long)q->done, 10 + i % 30);
            fprintf(f, "{\"ev\":\"stage\",\"id\":\"c1-%d\",\"stage\":\"preprocess\",\"start_ns\":%llu,\"end_ns\":%llu}\n",
                    i + 1, (unsigned long long)q->arrival, (unsigned long long)pe);
            fprintf(f, "{\"ev\":\"stage\",\"id\":\"c1-%d\",\"stage\":\"queue\",\"start_ns\":%llu,\"end_ns\":%llu}\n",
                    i + 1, (unsigned long long)pe, (unsigned long long)bs);
            fprintf(f, "{\"ev\":\"stage\",\"id\":\"c1-%d\",\"stage\":\"postprocess\",\"start_ns\":%llu,\"end_ns\":%llu}\n",
                    i + 1, (unsigned long long)be, (unsigned long long)q->done);
        }
        fprintf(f, "{\"ev\":\"batch\",\"batch\":%d,\"requests\":[\"c1-%d\",\"c1-%d\",\"c1-%d\",\"c1-%d\"],"
                   "\"start_ns\":%llu,\"end_ns\":%llu,\"effective_tokens\":%d,\"padded_tokens\":160}\n",
                b + 1, b * 4 + 1, b * 4 + 2, b * 4 + 3, b * 4 + 4, (unsigned long long)bs, (unsigned long long)be,
                100 + b);
        fprintf(f, "{\"ev\":\"kernel\",\"batch\":%d,\"name\":\"encoder\",\"stream\":0,\"start_ns\":%llu,\"end_ns\":%llu}\n",
                b + 1, (unsigned long long)(bs + 10000), (unsigned long long)be);
    }
    fclose(f);
    return buf;
}

/* The client's trace, on the client's clock (server - THETA) moved by `shift` ns more. Requests listed
 * in `skip` (a bitmask of indexes) are left out, as when another client sent them. */
static char *client_jsonl(int64_t shift, uint64_t skip)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    fprintf(f, "{\"ev\":\"meta\",\"format\":\"servprof.events/1\",\"clock\":\"monotonic\",\"source\":\"servprof load\"}\n");
    for (int i = 0; i < RUN_N; i++) {
        if (skip >> i & 1)
            continue;
        const run_req *q = &run[i];
        fprintf(f, "{\"ev\":\"client\",\"id\":\"c1-%d\",\"intended_ns\":%lld,\"send_ns\":%lld,\"done_ns\":%lld,\"status\":200}\n",
                i + 1, (long long)q->intended - THETA + shift, (long long)q->send - THETA + shift,
                (long long)q->cdone - THETA + shift);
    }
    fclose(f);
    return buf;
}

static sp_events *load_texts(const char *const *names, const char *const *texts, size_t n)
{
    sp_events *ev;
    char err[512];
    if (sp_events_create(&ev) != SP_OK)
        exit(1);
    for (size_t i = 0; i < n; i++) {
        if (sp_events_load_buffer(ev, names[i], texts[i], strlen(texts[i]), NULL, err, sizeof err) != SP_OK) {
            fprintf(stderr, "load %s failed: %s\n", names[i], err);
            exit(1);
        }
    }
    return ev;
}

static sp_report *analyze_opt(sp_events *ev, const sp_analyze_options *opt)
{
    sp_report *r;
    char err[512];
    if (sp_analyze(ev, opt, &r, err, sizeof err) != SP_OK) {
        fprintf(stderr, "analyze failed: %s\n", err);
        exit(1);
    }
    return r;
}

/* noinline: inlined, gcc 12 takes the returned text for a pointer to the local `buf` (-Wdangling-pointer) */
__attribute__((noinline)) static char *render(const sp_report *r, int json)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    CHECK((json ? sp_report_write_json(r, f) : sp_report_write_text(r, f)) == SP_OK);
    fclose(f);
    return buf;
}

/* The JSON report without its "clock" line (the only section the offset itself appears in). */
static char *json_without_clock(const sp_report *r)
{
    char *s = render(r, 1);
    char *c = strstr(s, "\n\"clock\":");
    if (c) {
        char *end = strchr(c + 1, '\n');
        memmove(c, end, strlen(end) + 1);
    }
    return s;
}

/* The per-request stage matrix of a finished event set: the analyzer's own partition over the ok
 * requests (the report keeps only percentiles and shares). */
static sp_status partition_of(sp_events *ev, sp_ana *a)
{
    memset(a, 0, sizeof *a);
    a->ev = ev;
    sp_analyze_options_init(&a->opt);
    a->st_network = -1;
    char err[256];
    sp_status st = sp_ana_partition(a, err, sizeof err);
    if (st)
        sp_ana_free(a);
    return st;
}

/* Every request's stage times sum to its end-to-end time, which is the client-observed latency
 * (send -> reply) of the run. */
static void check_sums(sp_events *ev)
{
    sp_ana a;
    CHECK(partition_of(ev, &a) == SP_OK);
    CHECK_EQ_U64(a.n_reqs, RUN_N);
    for (size_t i = 0; i < a.n_reqs; i++) {
        uint64_t sum = 0;
        for (size_t s = 0; s < a.n_stages; s++)
            sum += sp_ana_time(&a, i, s);
        CHECK_EQ_U64(sum, a.life[i]);
        int k = atoi(sp_str_get(&ev->strings, ev->requests[a.reqs[i]].id) + 3) - 1;
        if (k >= 0 && k < RUN_N)
            CHECK_EQ_U64(a.life[i], run[k].cdone - run[k].send);
    }
    sp_ana_free(&a);
}

static void test_shifted_client_clock(void)
{
    make_run();
    char *server = server_jsonl();
    uint64_t min_up = UINT64_MAX, min_down = UINT64_MAX, net = 0, e2e_max = 0;
    for (int i = 0; i < RUN_N; i++) {
        min_up = run[i].up < min_up ? run[i].up : min_up;
        min_down = run[i].down < min_down ? run[i].down : min_down;
        net += run[i].up + run[i].down;
        e2e_max = run[i].cdone - run[i].send > e2e_max ? run[i].cdone - run[i].send : e2e_max;
    }
    static const int64_t shifts[3] = {0, 5000000, -5000000};
    char *json[3], *text[3];
    for (int k = 0; k < 3; k++) {
        char *client = client_jsonl(shifts[k], 0);
        const char *names[2] = {"server.jsonl", "client.jsonl"};
        const char *texts[2] = {server, client};
        sp_events *ev = load_texts(names, texts, 2);
        sp_report *r = analyze_opt(ev, NULL);
        /* bounds from the construction: theta <= arrival - send = THETA - shift + up, so the upper
         * bound is THETA - shift + min(up); theta >= done - client done = THETA - shift - down, so the
         * lower bound is THETA - shift - min(down); the middle is their mean, rounded down */
        CHECK_EQ_U64(r->n_clock_offsets, 1);
        const sp_clock_offset *o = &r->clock_offsets[0];
        int64_t lower = THETA - shifts[k] - (int64_t)min_down, upper = THETA - shifts[k] + (int64_t)min_up;
        CHECK(o->source == SP_CLOCK_ESTIMATED);
        CHECK(o->client_file == 1 && o->server_file == 0);
        CHECK(o->lower_ns == lower && o->upper_ns == upper);
        CHECK(o->offset_ns == lower + (upper - lower) / 2);
        CHECK_EQ_U64(o->uncertainty_ns, (uint64_t)(upper - lower) / 2);
        CHECK_EQ_U64(o->pairs, RUN_N);
        CHECK_EQ_U64(o->conflict_ns, 0);
        CHECK_EQ_U64(o->violations, 0);
        /* the stage table: network is the time outside the server, sum of up + down */
        const sp_stage_row *nw = NULL;
        for (size_t s = 0; s < r->n_stages; s++)
            if (!strcmp(r->stages[s].name, "network"))
                nw = &r->stages[s];
        CHECK(nw && nw->total_ns == net);
        CHECK_EQ_U64(r->latency.max_ns, e2e_max);
        CHECK_EQ_U64(r->requests_with_client, RUN_N);
        /* the stage means add up to the end-to-end mean shown in the same table */
        double sum_means = 0;
        for (size_t s = 0; s < r->n_stages; s++)
            sum_means += r->stages[s].q.mean_ns;
        CHECK_NEAR(sum_means, r->latency.mean_ns, 1e-6 * r->latency.mean_ns);
        check_sums(ev);
        json[k] = json_without_clock(r);
        text[k] = render(r, 0);
        sp_report_destroy(r);
        sp_events_destroy(ev);
        free(client);
    }
    /* "within 10 us" (the issue) holds with room to spare: the reports are byte-identical but for
     * the offset itself, because the shifted offset maps every client time to the same server time */
    for (int k = 1; k < 3; k++) {
        CHECK(strcmp(json[0], json[k]) == 0);
        const char *a = strstr(text[0], "\nstage "), *b = strstr(text[k], "\nstage ");
        const char *ae = a ? strstr(a, "\nend-to-end") : NULL, *be = b ? strstr(b, "\nend-to-end") : NULL;
        CHECK(a && b && ae && be && ae - a == be - b && memcmp(a, b, (size_t)(ae - a)) == 0);
    }
    CHECK(strstr(text[0], "clock offset (server - client): +3.142 s +/- ") != NULL);
    for (int k = 0; k < 3; k++) {
        free(json[k]);
        free(text[k]);
    }
    free(server);
}

/* ---------- conflicting bounds ---------- */

/* Two requests, client clock C ns ahead of the server's (theta = -C):
 *   r1: arrival 1000, done 2000; client send 900 + C, reply 2100 + C: theta in [-100 - C, 100 - C]
 *   r2: arrival 5000, done 6000; client send 4900 + C, reply 5700 + C (the client saw 800 ns for a
 *       1000 ns server latency): theta in [300 - C, 100 - C]
 * Intersection: lower 300 - C > upper 100 - C: the bounds conflict by 200 ns. The middle 200 - C is
 * applied: r1's send maps to 1100 (after arrival), r2's to 5100 and its reply to 5900 (before done):
 * 2 violations. r1's life is widened to [1000, 2300] (network 300), r2's stays [5000, 6000]. */
static void test_conflict(void)
{
    const char *server = "{\"ev\":\"request\",\"id\":\"r1\",\"arrival_ns\":1000,\"done_ns\":2000}\n"
                         "{\"ev\":\"request\",\"id\":\"r2\",\"arrival_ns\":5000,\"done_ns\":6000}\n";
    const char *client = "{\"ev\":\"client\",\"id\":\"r1\",\"intended_ns\":7000900,\"send_ns\":7000900,\"done_ns\":7002100,\"status\":200}\n"
                         "{\"ev\":\"client\",\"id\":\"r2\",\"intended_ns\":7004900,\"send_ns\":7004900,\"done_ns\":7005700,\"status\":200}\n";
    const char *names[2] = {"s.jsonl", "c.jsonl"};
    const char *texts[2] = {server, client};
    sp_events *ev = load_texts(names, texts, 2);
    sp_report *r = analyze_opt(ev, NULL);
    CHECK_EQ_U64(r->n_clock_offsets, 1);
    const sp_clock_offset *o = &r->clock_offsets[0];
    CHECK(o->lower_ns == 300 - 7000000 && o->upper_ns == 100 - 7000000);
    CHECK_EQ_U64(o->conflict_ns, 200);
    CHECK_EQ_U64(o->uncertainty_ns, 0);
    CHECK(o->offset_ns == 200 - 7000000);
    CHECK_EQ_U64(o->violations, 2);
    /* lives 1300 and 1000; network 300 */
    CHECK_EQ_U64(r->latency.max_ns, 1300);
    CHECK_EQ_U64(r->latency.min_ns, 1000);
    for (size_t s = 0; s < r->n_stages; s++)
        if (!strcmp(r->stages[s].name, "network"))
            CHECK_EQ_U64(r->stages[s].total_ns, 300);
    char *t = render(r, 0);
    CHECK(strstr(t, "conflict by 200 ns") != NULL);
    CHECK(strstr(t, "warning: the clock bounds of c.jsonl on s.jsonl conflict by 200 ns") != NULL);
    CHECK(strstr(t, "warning: 2 client records of c.jsonl on s.jsonl") != NULL);
    free(t);
    char *j = render(r, 1);
    CHECK(strstr(j, "\"conflict\":true,\"conflict_us\":0.200,\"violations\":2") != NULL);
    CHECK(strstr(j, "\"offset_us\":-6999.800,\"lower_us\":-6999.700,\"upper_us\":-6999.900,\"uncertainty_us\":null") != NULL);
    free(j);
    sp_report_destroy(r);
    sp_events_destroy(ev);
}

/* ---------- requests without a client record ---------- */

/* The run with requests 1, 2 and 3 (indexes 0-2) missing from the client trace: they are analysed
 * with end-to-end = arrival -> done and no network time; the other 37 keep their client view. */
static void test_missing_client_records(void)
{
    make_run();
    char *server = server_jsonl();
    char *client = client_jsonl(0, 0x7);
    const char *names[2] = {"server.jsonl", "client.jsonl"};
    const char *texts[2] = {server, client};
    sp_events *ev = load_texts(names, texts, 2);
    sp_report *r = analyze_opt(ev, NULL);
    CHECK_EQ_U64(r->request_count, RUN_N);
    CHECK_EQ_U64(r->requests_with_client, RUN_N - 3);
    CHECK_EQ_U64(r->clock_offsets[0].pairs, RUN_N - 3);
    uint64_t net = 0;
    for (int i = 3; i < RUN_N; i++)
        net += run[i].up + run[i].down;
    for (size_t s = 0; s < r->n_stages; s++)
        if (!strcmp(r->stages[s].name, "network"))
            CHECK_EQ_U64(r->stages[s].total_ns, net);
    sp_ana a;
    CHECK(partition_of(ev, &a) == SP_OK);
    for (size_t i = 0; i < a.n_reqs; i++) {
        int k = atoi(sp_str_get(&ev->strings, ev->requests[a.reqs[i]].id) + 3) - 1;
        uint64_t want = k < 3 ? run[k].done - run[k].arrival : run[k].cdone - run[k].send;
        CHECK_EQ_U64(a.life[i], want);
        uint64_t sum = 0;
        for (size_t s = 0; s < a.n_stages; s++)
            sum += sp_ana_time(&a, i, s);
        CHECK_EQ_U64(sum, a.life[i]);
        if (k < 3)
            CHECK_EQ_U64(sp_ana_time(&a, i, (size_t)a.st_network), 0);
    }
    sp_ana_free(&a);
    char *t = render(r, 0);
    CHECK(strstr(t, "3 of 40 requests have no client record with a response: their end-to-end is") != NULL);
    free(t);
    char *j = render(r, 1);
    CHECK(strstr(j, "\"with_client_record\":37") != NULL);
    free(j);
    sp_report_destroy(r);
    sp_events_destroy(ev);
    free(server);
    free(client);
}

/* ---------- several file pairs, modes, duplicates ---------- */

/* Two replicas with clocks of their own and one client: replica A (file 0) reads 1000 ns more than
 * the client, replica B (file 1) 50000 ns less. Per request the client took 100 ns each way.
 *   a1: A arrival 1100, done 1500; client send 0, reply 600: theta_A in [1500 - 600, 1100 - 0] =
 *       [900, 1100], middle 1000, half-width 100
 *   b1: B arrival 60000, done 60800; client send 109900, reply 110900: theta_B in
 *       [60800 - 110900, 60000 - 109900] = [-50100, -49900], middle -50000 */
static void test_pairs_and_modes(void)
{
    const char *a = "{\"ev\":\"request\",\"id\":\"a1\",\"arrival_ns\":1100,\"done_ns\":1500}\n";
    const char *b = "{\"ev\":\"request\",\"id\":\"b1\",\"arrival_ns\":60000,\"done_ns\":60800}\n";
    const char *c = "{\"ev\":\"client\",\"id\":\"a1\",\"intended_ns\":0,\"send_ns\":0,\"done_ns\":600,\"status\":200}\n"
                    "{\"ev\":\"client\",\"id\":\"b1\",\"intended_ns\":109900,\"send_ns\":109900,\"done_ns\":110900,\"status\":200}\n";
    const char *names[3] = {"a.jsonl", "b.jsonl", "c.jsonl"};
    const char *texts[3] = {a, b, c};
    sp_events *ev = load_texts(names, texts, 3);
    sp_report *r = analyze_opt(ev, NULL);
    CHECK_EQ_U64(r->n_clock_offsets, 2);
    if (r->n_clock_offsets == 2) {
        /* sorted by server file */
        CHECK(r->clock_offsets[0].server_file == 0 && r->clock_offsets[0].client_file == 2);
        CHECK(r->clock_offsets[0].offset_ns == 1000 && r->clock_offsets[0].uncertainty_ns == 100);
        CHECK(r->clock_offsets[1].server_file == 1 && r->clock_offsets[1].offset_ns == -50000);
        CHECK(!strcmp(r->clock_offsets[1].server_path, "b.jsonl") && !strcmp(r->clock_offsets[1].client_path, "c.jsonl"));
    }
    /* each request: e2e = its client latency (600 and 1000), network = e2e - server latency */
    CHECK_EQ_U64(r->latency.min_ns, 600);
    CHECK_EQ_U64(r->latency.max_ns, 1000);
    sp_report_destroy(r);

    /* --clock-offset none: offset 0 for both; a1's client interval [0, 600] does not enclose [1100,
     * 1500] and b1's [109900, 110900] not [60000, 60800]: one violation each; lives are the hulls
     * [0, 1500] = 1500 and [60000, 110900] = 50900 */
    sp_analyze_options opt;
    sp_analyze_options_init(&opt);
    opt.clock_mode = SP_CLOCK_NONE;
    r = analyze_opt(ev, &opt);
    CHECK_EQ_U64(r->n_clock_offsets, 2);
    for (size_t k = 0; k < r->n_clock_offsets; k++) {
        CHECK(r->clock_offsets[k].source == SP_CLOCK_ASSUMED && r->clock_offsets[k].offset_ns == 0);
        CHECK_EQ_U64(r->clock_offsets[k].violations, 1);
    }
    CHECK_EQ_U64(r->latency.min_ns, 1500);
    CHECK_EQ_U64(r->latency.max_ns, 50900);
    sp_report_destroy(r);

    /* a given offset of 1000: right for A (no violation), wrong for B */
    opt.clock_mode = SP_CLOCK_FIXED;
    opt.clock_offset_ns = 1000;
    r = analyze_opt(ev, &opt);
    CHECK(r->clock_offsets[0].source == SP_CLOCK_GIVEN && r->clock_offsets[0].offset_ns == 1000);
    CHECK_EQ_U64(r->clock_offsets[0].violations, 0);
    CHECK_EQ_U64(r->clock_offsets[1].violations, 1);
    sp_report_destroy(r);

    /* back to auto on the same event set: the estimate again */
    r = analyze_opt(ev, NULL);
    CHECK(r->clock_offsets[0].source == SP_CLOCK_ESTIMATED && r->clock_offsets[1].offset_ns == -50000);
    CHECK_EQ_U64(r->skipped_records, 0);
    sp_report_destroy(r);

    /* an unknown mode is an invalid argument */
    opt.clock_mode = (sp_clock_mode)7;
    char err[256];
    sp_report *bad = NULL;
    CHECK(sp_analyze(ev, &opt, &bad, err, sizeof err) == SP_ERR_INVALID && bad == NULL);
    CHECK(strstr(err, "clock mode") != NULL);
    sp_events_destroy(ev);
}

/* Two client records for one request (a retry under the same id), a transport error and an unknown
 * id: the record sent first is joined whatever the order of the lines; the others are counted. */
static void test_duplicates(void)
{
    const char *server = "{\"ev\":\"request\",\"id\":\"x\",\"arrival_ns\":1000,\"done_ns\":2000}\n";
    const char *early = "{\"ev\":\"client\",\"id\":\"x\",\"intended_ns\":800,\"send_ns\":900,\"done_ns\":2100,\"status\":200}\n";
    const char *late = "{\"ev\":\"client\",\"id\":\"x\",\"intended_ns\":850,\"send_ns\":950,\"done_ns\":2050,\"status\":200}\n";
    const char *other = "{\"ev\":\"client\",\"id\":\"x\",\"intended_ns\":1,\"send_ns\":1,\"done_ns\":9000,\"status\":-2}\n"
                        "{\"ev\":\"client\",\"id\":\"nope\",\"intended_ns\":1,\"send_ns\":1,\"done_ns\":9,\"status\":200}\n";
    for (int order = 0; order < 2; order++) {
        char client[1024];
        snprintf(client, sizeof client, "%s%s%s", order ? late : early, other, order ? early : late);
        const char *names[2] = {"s.jsonl", "c.jsonl"};
        const char *texts[2] = {server, client};
        sp_events *ev = load_texts(names, texts, 2);
        sp_report *r = analyze_opt(ev, NULL);
        /* the joined record is the early one: client latency from intended 800 to 2100 = 1300 */
        CHECK_EQ_U64(r->client_latency.p50_ns, 1300);
        CHECK_EQ_U64(r->client_records_duplicate, 1);
        CHECK_EQ_U64(r->client_records_failed, 1);
        CHECK_EQ_U64(r->client_records_unjoined, 1);
        char *t = render(r, 0);
        CHECK(strstr(t, "client records not used: 1 with no matching request, 1 transport error (no "
                        "response), 1 duplicate") != NULL);
        free(t);
        sp_report_destroy(r);
        sp_events_destroy(ev);
    }
}

/* Client and server records in one file: one trace has one clock (DESIGN 2), so the offset is 0 and
 * said to be so, whatever the mode. */
static void test_same_trace(void)
{
    sp_events *ev = sp_test_load_jsonl("{\"ev\":\"request\",\"id\":\"x\",\"arrival_ns\":1000,\"done_ns\":2000}\n"
                                       "{\"ev\":\"client\",\"id\":\"x\",\"intended_ns\":800,\"send_ns\":900,\"done_ns\":2100,\"status\":200}\n");
    sp_analyze_options opt;
    sp_analyze_options_init(&opt);
    opt.clock_mode = SP_CLOCK_FIXED;
    opt.clock_offset_ns = 123;
    sp_report *r = analyze_opt(ev, &opt);
    CHECK_EQ_U64(r->n_clock_offsets, 1);
    CHECK(r->clock_offsets[0].source == SP_CLOCK_SAME_TRACE && r->clock_offsets[0].offset_ns == 0);
    CHECK(r->clock_offsets[0].lower_ns == -100 && r->clock_offsets[0].upper_ns == 100);
    CHECK_EQ_U64(r->latency.p50_ns, 1200);
    CHECK_EQ_U64(r->server_latency.p50_ns, 1000);
    sp_report_destroy(r);
    sp_events_destroy(ev);
}

int main(void)
{
    test_estimator();
    test_shifted_client_clock();
    test_conflict();
    test_missing_client_records();
    test_pairs_and_modes();
    test_duplicates();
    test_same_trace();
    return sp_test_done("test_clock_offset");
}
